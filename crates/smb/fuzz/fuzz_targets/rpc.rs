//! libFuzzer entry for [`fakedc_smb_fuzz::rpc`] (the body lives in
//! `src/lib.rs` so the stable smoke test runs it too).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fakedc_smb_fuzz::rpc(data));
