//! NTLM tokens from the network must never panic the server side.
#![no_main]

use fakedc_wsman::ntlm::{Server, TargetInfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let target = TargetInfo {
        nb_domain: "D".into(),
        nb_computer: "S".into(),
        dns_domain: "d".into(),
        dns_computer: "s".into(),
    };
    let lookup = |_: &str| Some("pw".to_string());
    let mut s = Server::default();
    // A NEGOTIATE first so AUTHENTICATE parsing is reached too.
    let mut neg = b"NTLMSSP\0\x01\0\0\0".to_vec();
    neg.extend_from_slice(&0xe288_8235u32.to_le_bytes());
    neg.extend_from_slice(&[0u8; 16]);
    let _ = s.accept(&neg, &target, &lookup);
    let _ = s.accept(data, &target, &lookup);
});
