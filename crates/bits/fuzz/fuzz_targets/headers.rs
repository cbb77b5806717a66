//! libFuzzer entry for [`fakedc_bits_fuzz::headers`] (the body lives in
//! `src/lib.rs` so the stable smoke test runs it too).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fakedc_bits_fuzz::headers(data));
