//! libFuzzer entry for [`fakedc_redfish_fuzz::request`] (the body lives in
//! `src/lib.rs` so the stable smoke test runs it too).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fakedc_redfish_fuzz::request(data));
