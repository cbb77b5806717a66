//! Body of the `digest` fuzz target, kept out of `fuzz_targets/` so that the
//! stable smoke test (`crates/fuzzing/tests/smoke.rs`, which includes this
//! file) runs exactly what libFuzzer runs.

use fakedc_smash::digest::{parse_credentials, verify, Credentials, Nonces, MAX_HEADER};
use std::fmt::Write as _;

/// The password the smoke test's seed headers were computed with, so
/// mutants that keep the hashed fields intact still verify and the
/// "never two passwords" check below has something to bite on.
pub const PASSWORD: &str = "secret";

/// The Digest `Authorization` parser and verifier on arbitrary input: no
/// panic; what parses re-serializes (every value quoted) to the same
/// credentials; and a header never verifies for two different passwords.
pub fn digest(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = parse_credentials(s) else {
        return;
    };
    assert_eq!(c.nc_text.len(), 8);
    assert_eq!(u32::from_str_radix(&c.nc_text, 16).ok(), Some(c.nc));
    let again = header(&c);
    // Escaping can push a header near the limit over it.
    if again.len() <= MAX_HEADER {
        assert_eq!(
            parse_credentials(&again).ok().as_ref(),
            Some(&c),
            "re-serialized header: {again}"
        );
    }
    if verify(&c, &c.username, PASSWORD, "POST") {
        assert!(!verify(&c, &c.username, "not-the-secret", "POST"));
    }
    let n = Nonces::new(1000);
    let _ = n.check(&c.nonce, 0);
    let _ = n.use_count(&c.nonce, c.nc, 0);
}

/// `c` as a client would send it (after `Digest `), every value a quoted
/// string with `\` and `"` escaped (RFC 7230 quoted-pair).
pub fn header(c: &Credentials) -> String {
    fn q(out: &mut String, key: &str, v: &str) {
        let _ = write!(out, "{key}=\"");
        for ch in v.chars() {
            if ch == '"' || ch == '\\' {
                out.push('\\');
            }
            out.push(ch);
        }
        out.push_str("\", ");
    }
    let mut out = String::new();
    q(&mut out, "username", &c.username);
    q(&mut out, "realm", &c.realm);
    q(&mut out, "nonce", &c.nonce);
    q(&mut out, "uri", &c.uri);
    q(&mut out, "response", &c.response);
    q(&mut out, "algorithm", c.algorithm.name());
    q(&mut out, "cnonce", &c.cnonce);
    q(&mut out, "nc", &c.nc_text);
    q(&mut out, "qop", "auth");
    if let Some(o) = &c.opaque {
        q(&mut out, "opaque", o);
    }
    if c.userhash {
        q(&mut out, "userhash", "true");
    }
    out
}
