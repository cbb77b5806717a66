//! libFuzzer entry for [`fakedc_lb_fuzz::rule`] (the body lives in
//! `src/lib.rs` so the stable smoke test runs it too).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fakedc_lb_fuzz::rule(data));
