//! HTTP Digest access authentication, server side (RFC 7616), as
//! Intel-AMT-style management clients use it against a BMC: MD5 and
//! SHA-256 (and their `-sess` variants), `qop=auth`, `userhash`, nonces that
//! expire.
//!
//! Sans-IO: the caller passes the clock in (`now_ms`, Unix milliseconds),
//! so expiry is testable without sleeping.
//!
//! Nonces are stateless — `timestamp ‖ random ‖ HMAC(key, timestamp ‖
//! random)` — so a BMC with thousands of clients keeps no table to *issue*
//! them; only the nonce counts seen (replay protection) are remembered, in
//! a bounded map.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use sha2::Sha256;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Longest `Authorization` value parsed; real ones are a few hundred bytes.
pub const MAX_HEADER: usize = 4096;
/// Nonces whose counts are remembered at once (oldest dropped first).
const MAX_TRACKED_NONCES: usize = 8192;

/// The digest algorithms served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    /// The token used in challenges and credentials.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Parses a token, case-insensitively (RFC 7616 §3.3).
    pub fn parse(s: &str) -> Option<Algorithm> {
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.name().eq_ignore_ascii_case(s))
    }

    fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// The hash as lowercase hex, which is what every digest value is.
    pub fn hash(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => hex(&Md5::digest(data)),
            Algorithm::Sha256 | Algorithm::Sha256Sess => hex(&Sha256::digest(data)),
        }
    }
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Why a `Digest` Authorization header was not accepted as well-formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("the Digest header is longer than {MAX_HEADER} bytes")]
    TooLong,
    #[error("malformed Digest header: {0}")]
    Malformed(&'static str),
    #[error("missing Digest parameter {0}")]
    Missing(&'static str),
    #[error("unsupported digest algorithm {0:?}")]
    Algorithm(String),
    #[error("unsupported qop {0:?} (only auth is served)")]
    Qop(String),
}

/// The parameters of an `Authorization: Digest ...` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name, or its hash when `userhash` is true.
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Algorithm,
    pub cnonce: String,
    /// Nonce count as sent (8 hex digits) and its value.
    pub nc_text: String,
    pub nc: u32,
    pub opaque: Option<String>,
    pub userhash: bool,
}

impl std::fmt::Debug for Credentials {
    // The response is a password-derived value: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("realm", &self.realm)
            .field("uri", &self.uri)
            .field("algorithm", &self.algorithm)
            .field("nc", &self.nc)
            .finish_non_exhaustive()
    }
}

/// Splits `k=v, k="quoted, value", ...` (RFC 7235 auth-param list).
fn params(s: &str) -> Result<Vec<(String, String)>, DigestError> {
    let mut it = s.chars().peekable();
    let mut out = Vec::new();
    loop {
        while it.next_if(|c| matches!(c, ' ' | '\t' | ',')).is_some() {}
        if it.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = it.next_if(|c| *c != '=' && *c != ',') {
            key.push(c);
        }
        if it.next() != Some('=') {
            return Err(DigestError::Malformed("a parameter without a value"));
        }
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err(DigestError::Malformed("an empty parameter name"));
        }
        while it.next_if(|c| matches!(c, ' ' | '\t')).is_some() {}
        let mut val = String::new();
        if it.next_if_eq(&'"').is_some() {
            let mut closed = false;
            while let Some(c) = it.next() {
                match c {
                    '\\' => match it.next() {
                        Some(e) => val.push(e),
                        None => break,
                    },
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => val.push(c),
                }
            }
            if !closed {
                return Err(DigestError::Malformed("an unterminated quoted string"));
            }
        } else {
            while let Some(c) = it.next_if(|c| *c != ',') {
                val.push(c);
            }
            val = val.trim().to_string();
        }
        out.push((key, val));
        if out.len() > 32 {
            return Err(DigestError::Malformed("too many parameters"));
        }
    }
    Ok(out)
}

/// Parses the part of an Authorization header after `Digest `.
pub fn parse_credentials(s: &str) -> Result<Credentials, DigestError> {
    if s.len() > MAX_HEADER {
        return Err(DigestError::TooLong);
    }
    let p = params(s)?;
    let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let need = |k: &'static str| get(k).ok_or(DigestError::Missing(k));
    let algorithm = match get("algorithm") {
        None => Algorithm::Md5,
        Some(a) => Algorithm::parse(&a).ok_or(DigestError::Algorithm(a))?,
    };
    let qop = need("qop")?;
    if !qop.eq_ignore_ascii_case("auth") {
        return Err(DigestError::Qop(qop));
    }
    let nc_text = need("nc")?;
    let nc = u32::from_str_radix(&nc_text, 16)
        .ok()
        .filter(|_| nc_text.len() == 8)
        .ok_or(DigestError::Malformed("nc is not 8 hex digits"))?;
    if get("username*").is_some() && get("username").is_none() {
        return Err(DigestError::Malformed(
            "username* (RFC 5987) is not supported; send username or userhash",
        ));
    }
    Ok(Credentials {
        username: need("username")?,
        realm: need("realm")?,
        nonce: need("nonce")?,
        uri: need("uri")?,
        response: need("response")?.to_ascii_lowercase(),
        algorithm,
        cnonce: need("cnonce")?,
        nc_text,
        nc,
        opaque: get("opaque"),
        userhash: get("userhash").is_some_and(|v| v.eq_ignore_ascii_case("true")),
    })
}

/// HA1 (RFC 7616 §3.4.2), including the `-sess` form.
fn ha1(
    alg: Algorithm,
    user: &str,
    realm: &str,
    password: &str,
    nonce: &str,
    cnonce: &str,
) -> String {
    let base = alg.hash(format!("{user}:{realm}:{password}").as_bytes());
    if alg.is_sess() {
        alg.hash(format!("{base}:{nonce}:{cnonce}").as_bytes())
    } else {
        base
    }
}

/// The request-digest a client computes (RFC 7616 §3.4.1, qop=auth).
#[allow(clippy::too_many_arguments)]
pub fn request_digest(
    alg: Algorithm,
    user: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
) -> String {
    let h1 = ha1(alg, user, realm, password, nonce, cnonce);
    let h2 = alg.hash(format!("{method}:{uri}").as_bytes());
    alg.hash(format!("{h1}:{nonce}:{nc}:{cnonce}:auth:{h2}").as_bytes())
}

/// `rspauth` for the Authentication-Info header (RFC 7616 §3.5): the
/// request-digest with an empty method, proving the server knows the
/// password too.
pub fn rspauth(c: &Credentials, user: &str, password: &str) -> String {
    request_digest(
        c.algorithm,
        user,
        &c.realm,
        password,
        "",
        &c.uri,
        &c.nonce,
        &c.nc_text,
        &c.cnonce,
    )
}

/// The `username` value a client sends with `userhash=true` (§3.4.4).
pub fn user_hash(alg: Algorithm, user: &str, realm: &str) -> String {
    alg.hash(format!("{user}:{realm}").as_bytes())
}

/// Whether `c` proves knowledge of `password` for `user` and `method`.
pub fn verify(c: &Credentials, user: &str, password: &str, method: &str) -> bool {
    let expected = request_digest(
        c.algorithm,
        user,
        &c.realm,
        password,
        method,
        &c.uri,
        &c.nonce,
        &c.nc_text,
        &c.cnonce,
    );
    // Constant-time compare: the response is password-derived.
    expected.len() == c.response.len()
        && expected
            .bytes()
            .zip(c.response.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// One `WWW-Authenticate: Digest ...` challenge.
pub fn challenge(realm: &str, nonce: &str, opaque: &str, alg: Algorithm, stale: bool) -> String {
    let mut s = format!(
        r#"Digest realm="{}", qop="auth", algorithm={}, nonce="{nonce}", opaque="{opaque}", userhash=true"#,
        realm.replace(['"', '\\'], ""),
        alg.name()
    );
    if stale {
        s.push_str(", stale=true");
    }
    s
}

/// What a nonce turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceStatus {
    Valid,
    /// Ours, but older than the lifetime: the client should retry with the
    /// fresh nonce of a `stale=true` challenge.
    Stale,
    /// Not a nonce this server issued.
    Invalid,
}

const NONCE_LEN: usize = 8 + 8 + 16;

/// Issues and checks nonces and remembers nonce counts.
pub struct Nonces {
    key: [u8; 32],
    ttl_ms: u64,
    /// nonce → highest nc seen.
    seen: Mutex<HashMap<String, (u32, u64)>>,
}

impl Nonces {
    /// `ttl_ms`: how long a nonce stays valid after it was issued.
    pub fn new(ttl_ms: u64) -> Nonces {
        Nonces {
            key: rand::random(),
            ttl_ms,
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, data: &[u8]) -> [u8; 16] {
        let mut out = [0u8; 16];
        if let Ok(mut m) = Hmac::<Sha256>::new_from_slice(&self.key) {
            m.update(data);
            let tag = m.finalize().into_bytes();
            out.copy_from_slice(&tag[..16]);
        }
        out
    }

    /// A fresh nonce.
    pub fn issue(&self, now_ms: u64) -> String {
        let mut raw = [0u8; NONCE_LEN];
        raw[..8].copy_from_slice(&now_ms.to_be_bytes());
        raw[8..16].copy_from_slice(&rand::random::<[u8; 8]>());
        let tag = self.mac(&raw[..16]);
        raw[16..].copy_from_slice(&tag);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// Checks a nonce's origin and age.
    pub fn check(&self, nonce: &str, now_ms: u64) -> NonceStatus {
        let Ok(raw) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(nonce) else {
            return NonceStatus::Invalid;
        };
        if raw.len() != NONCE_LEN {
            return NonceStatus::Invalid;
        }
        let tag = self.mac(&raw[..16]);
        if tag
            .iter()
            .zip(&raw[16..])
            .fold(0u8, |a, (x, y)| a | (x ^ y))
            != 0
        {
            return NonceStatus::Invalid;
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&raw[..8]);
        let issued = u64::from_be_bytes(ts);
        if now_ms.saturating_sub(issued) > self.ttl_ms {
            NonceStatus::Stale
        } else {
            NonceStatus::Valid
        }
    }

    /// Records a nonce count; false when it is not higher than one already
    /// seen with this nonce (a replay).
    pub fn use_count(&self, nonce: &str, nc: u32, now_ms: u64) -> bool {
        let mut g = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() >= MAX_TRACKED_NONCES && !g.contains_key(nonce) {
            let ttl = self.ttl_ms;
            g.retain(|_, (_, at)| now_ms.saturating_sub(*at) <= ttl);
            if g.len() >= MAX_TRACKED_NONCES {
                if let Some(oldest) = g
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
                {
                    g.remove(&oldest);
                }
            }
        }
        match g.get_mut(nonce) {
            Some((last, at)) => {
                if nc <= *last {
                    return false;
                }
                *last = nc;
                *at = now_ms;
                true
            }
            None => {
                g.insert(nonce.to_string(), (nc, now_ms));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // RFC 7616 §3.9.1.
    const NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    const REALM: &str = "http-auth@example.org";

    #[test]
    fn rfc7616_md5_and_sha256_vectors() {
        for (alg, expected) in [
            (Algorithm::Md5, "8ca523f5e9506fed4657c9700eebdbec"),
            (
                Algorithm::Sha256,
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let r = request_digest(
                alg,
                "Mufasa",
                REALM,
                "Circle of Life",
                "GET",
                "/dir/index.html",
                NONCE,
                "00000001",
                CNONCE,
            );
            assert_eq!(r, expected, "{alg:?}");
        }
    }

    #[test]
    fn rfc7616_header_parses_and_verifies() {
        let h = format!(
            r#"username="Mufasa", realm="{REALM}", uri="/dir/index.html", algorithm=SHA-256, nonce="{NONCE}", nc=00000001, cnonce="{CNONCE}", qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#
        );
        let c = parse_credentials(&h).unwrap();
        assert_eq!(c.algorithm, Algorithm::Sha256);
        assert_eq!(c.nc, 1);
        assert!(verify(&c, "Mufasa", "Circle of Life", "GET"));
        assert!(!verify(&c, "Mufasa", "Circle of life", "GET"));
        assert!(!verify(&c, "Mufasa", "Circle of Life", "POST"));
        // The response never shows in Debug output.
        assert!(!format!("{c:?}").contains("753927"));
    }

    #[test]
    fn sess_and_userhash() {
        let r = request_digest(
            Algorithm::Sha256Sess,
            "u",
            "r",
            "p",
            "POST",
            "/wsman",
            "n",
            "00000001",
            "c",
        );
        let h1 =
            Algorithm::Sha256.hash(format!("{}:n:c", Algorithm::Sha256.hash(b"u:r:p")).as_bytes());
        let h2 = Algorithm::Sha256.hash(b"POST:/wsman");
        assert_eq!(
            r,
            Algorithm::Sha256.hash(format!("{h1}:n:00000001:c:auth:{h2}").as_bytes())
        );
        assert_eq!(
            user_hash(Algorithm::Md5, "u", "r"),
            Algorithm::Md5.hash(b"u:r")
        );
    }

    #[test]
    fn malformed_headers_are_errors_not_panics() {
        for h in [
            "",
            "username",
            "username=\"unterminated",
            "username=\"a\", realm=\"r\"",
            "qop=auth-int, username=a",
            "qop=auth, nc=1, username=a",
            "algorithm=SHA-512-256, qop=auth",
            "=x",
            ",,,,",
            "username=\"\u{e9}\\",
        ] {
            assert!(parse_credentials(h).is_err(), "{h:?}");
        }
        assert_eq!(
            parse_credentials(&"a".repeat(MAX_HEADER + 1)),
            Err(DigestError::TooLong)
        );
        let c = parse_credentials(
            r#"username="caf\"é", realm="r", nonce="n", uri="/wsman", response="AB", qop="auth", nc=0000000a, cnonce="c""#,
        )
        .unwrap();
        assert_eq!(c.username, "caf\"é");
        assert_eq!(c.nc, 10);
        assert_eq!(c.response, "ab");
        assert_eq!(c.algorithm, Algorithm::Md5);
    }

    #[test]
    fn nonces_expire_and_counts_cannot_replay() {
        let n = Nonces::new(1000);
        let nonce = n.issue(5_000);
        assert_eq!(n.check(&nonce, 5_500), NonceStatus::Valid);
        assert_eq!(n.check(&nonce, 6_001), NonceStatus::Stale);
        assert_eq!(n.check("bogus", 5_500), NonceStatus::Invalid);
        let mut forged = nonce.clone().into_bytes();
        forged[3] = if forged[3] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            n.check(&String::from_utf8(forged).unwrap(), 5_500),
            NonceStatus::Invalid
        );
        // Another server's nonce is not ours.
        assert_eq!(Nonces::new(1000).check(&nonce, 5_500), NonceStatus::Invalid);
        assert!(n.use_count(&nonce, 1, 5_000));
        assert!(n.use_count(&nonce, 2, 5_000));
        assert!(!n.use_count(&nonce, 2, 5_000));
        assert!(!n.use_count(&nonce, 1, 5_000));
    }

    #[test]
    fn arbitrary_input_never_panics() {
        // A small xorshift stream over the characters that matter to the
        // parser (the fuzz target in fuzz/ does this properly on nightly).
        let alphabet: Vec<char> = "=\",\\ \tqopncéa1 ".chars().collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..(x % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            let _ = parse_credentials(&s);
            let _ = Nonces::new(10).check(&s, 0);
        }
    }

    #[test]
    fn challenge_shape() {
        let c = challenge("bmc\"1", "N", "O", Algorithm::Sha256, true);
        assert_eq!(
            c,
            r#"Digest realm="bmc1", qop="auth", algorithm=SHA-256, nonce="N", opaque="O", userhash=true, stale=true"#
        );
    }
}
