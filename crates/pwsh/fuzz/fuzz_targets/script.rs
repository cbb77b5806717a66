//! libFuzzer entry for [`fakedc_pwsh_fuzz::script`] (the body lives in
//! `src/lib.rs` so the stable smoke test runs it too).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fakedc_pwsh_fuzz::script(data));
