//! The one HTTP authenticator every HTTP protocol uses (WinRM, BITS,
//! SMASH, and the services to come): Basic, Digest (RFC 7616) and
//! NTLM/Negotiate with the handshake kept per connection and per protocol,
//! users matched by the model's one rule for the kind of machine
//! ([`fakedc_model::Model::find_user`]).
//!
//! Why one: the three copies this replaces disagreed (one Windows host
//! let `administrator` into WinRM but not into BITS; ESXi offered NTLM).
//! What differs between protocols is policy, not mechanism: which schemes
//! a request may use ([`Policy`]), and how a service words its 401 and its
//! journal entries, which stay with the service. NTLM is accepted only
//! where the machine's web server offers it ([`WebServer::offers_ntlm`]):
//! Windows, never ESXi or a BMC.

pub mod digest;

use crate::ConnInfo;
use base64::Engine as _;
use fakedc_model::{Model, User, WebServer};
use fakedc_ntlm::http::{Acceptor, HttpStep};
use fakedc_ntlm::{Session, TargetInfo};

/// Longest Basic credential decoded (base64 of `user:password`).
const MAX_BASIC: usize = 4096;

/// Which NTLM schemes a 401 offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NtlmOffer {
    Off,
    /// `Negotiate` only (WinRM's listener); `NTLM` tokens are still
    /// accepted, as HTTP.sys does.
    Negotiate,
    /// `Negotiate` and `NTLM` (IIS with Windows authentication).
    NegotiateAndNtlm,
}

/// Digest as one endpoint offers it.
pub struct DigestOffer<'a> {
    pub nonces: &'a digest::Nonces,
    pub realm: &'a str,
    pub opaque: &'a str,
    /// Offered algorithms, preferred first; empty: Digest is off.
    pub algorithms: &'a [digest::Algorithm],
}

/// What one request may authenticate with (the service decides, e.g.
/// Basic only over TLS unless a scenario allows plain HTTP).
pub struct Policy<'a> {
    /// Basic accepted on this request.
    pub basic: bool,
    /// The Basic realm of a 401.
    pub basic_realm: &'a str,
    pub ntlm: NtlmOffer,
    pub digest: Option<DigestOffer<'a>>,
}

/// How a login was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Basic,
    Digest,
    Ntlm,
}

/// A proven user: the account as the model holds it (its own spelling).
#[derive(Debug, Clone)]
pub struct Login {
    pub user: User,
    pub scheme: Scheme,
}

/// The outcome of one request's authentication.
#[derive(Debug)]
pub enum Outcome {
    /// This request's `Authorization` proved a user. `reply_header` is a
    /// header value to send back: SPNEGO's last token (`WWW-Authenticate`)
    /// or Digest's `Authentication-Info`.
    Authenticated {
        login: Login,
        reply_header: Option<String>,
    },
    /// No `Authorization`, but this connection completed an NTLM handshake
    /// for this protocol earlier (NTLM authenticates the connection).
    Connection(Login),
    /// No credentials at all.
    Anonymous,
    /// An NTLM handshake step: send this `WWW-Authenticate` with a 401.
    Challenge(String),
    /// Credentials refused. `user` is the name the client claimed (for the
    /// journal), `stale` a Digest nonce that only expired.
    Refused {
        reason: String,
        user: Option<String>,
        stale: bool,
    },
    /// A malformed Digest `Authorization` (RFC 7616: 400).
    Malformed(String),
}

/// One connection's NTLM state for one protocol, kept in
/// [`ConnInfo::state`] under the protocol's key.
#[derive(Default)]
pub struct NtlmConn {
    acceptor: Acceptor,
    /// The account the completed handshake proved.
    pub user: Option<User>,
    /// Signing and sealing keys (WinRM's MS-WSMV encryption uses them).
    pub session: Option<Box<Session>>,
    /// The last Basic `Authorization` value on this connection and the
    /// name and password it decodes to: a client sends the same value with
    /// every request, so it is decoded once per connection. Only the
    /// decoding is kept: the name and password are checked against the
    /// model's users on every request.
    basic: Option<BasicCache>,
}

/// See [`NtlmConn::basic`]. No `Debug`: it holds a password.
struct BasicCache {
    header: String,
    name: String,
    password: String,
}

/// Who the machine says it is in an NTLM CHALLENGE, at the model's time.
pub fn target_info(model: &Model, conn: &ConnInfo) -> TargetInfo {
    let m = model.machine(conn.machine);
    let domain = m.dns_name.split_once('.').map(|(_, d)| d).unwrap_or("");
    TargetInfo {
        nb_domain: m.name.to_ascii_uppercase(),
        nb_computer: m.name.to_ascii_uppercase(),
        dns_domain: domain.to_string(),
        dns_computer: m.dns_name.clone(),
        time: fakedc_ntlm::filetime(model.clock.wall()),
    }
}

/// `Basic <base64(user:password)>`: the `Authorization` value every client
/// and probe here sends (the inverse of [`parse_basic`]).
pub fn basic_header(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Decodes `Basic <base64(user:password)>`.
pub fn parse_basic(authorization: &str) -> Option<(String, String)> {
    let (scheme, rest) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") || rest.len() > MAX_BASIC {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

pub use fakedc_ntlm::http::is_ntlm_scheme;

/// Authenticates one request against the machine's users under `policy`,
/// with `st` the connection's NTLM state for this protocol (take it from
/// `conn.state` under the protocol's key and put it back afterwards; see
/// [`with_ntlm`]). `method` and `path` are what Digest signs.
pub fn authenticate(
    model: &Model,
    conn: &ConnInfo,
    st: &mut NtlmConn,
    policy: &Policy<'_>,
    authorization: Option<&str>,
    method: &str,
    path: &str,
) -> Outcome {
    let Some(auth) = authorization.map(str::trim) else {
        return match &st.user {
            Some(u) => Outcome::Connection(Login {
                user: u.clone(),
                scheme: Scheme::Ntlm,
            }),
            None => Outcome::Anonymous,
        };
    };
    let (scheme, cred) = auth.split_once(' ').unwrap_or((auth, ""));
    let refused = |reason: &str, user: Option<String>| Outcome::Refused {
        reason: reason.to_string(),
        user,
        stale: false,
    };
    if scheme.eq_ignore_ascii_case("Basic") {
        if !policy.basic {
            return refused("Basic is not allowed here", None);
        }
        let b = match st.basic.take() {
            Some(b) if b.header == auth => b,
            _ => match parse_basic(auth) {
                Some((name, password)) => BasicCache {
                    header: auth.to_string(),
                    name,
                    password,
                },
                None => return refused("malformed Basic credentials", None),
            },
        };
        let (name, password) = (&b.name, &b.password);
        let outcome = match model.authenticate(conn.machine, name, password) {
            Some(user) => Outcome::Authenticated {
                login: Login {
                    user,
                    scheme: Scheme::Basic,
                },
                reply_header: None,
            },
            None => refused("wrong user or password", Some(name.clone())),
        };
        st.basic = Some(b);
        return outcome;
    }
    if is_ntlm_scheme(scheme) {
        let web = WebServer::of(conn.role, conn.service);
        if policy.ntlm == NtlmOffer::Off || !web.offers_ntlm() {
            return refused(&format!("{scheme} is not offered here"), None);
        }
        let target = target_info(model, conn);
        let lookup = |n: &str| model.find_user(conn.machine, n).map(|u| u.password);
        return match st.acceptor.accept(scheme, cred, &target, &lookup) {
            Ok(HttpStep::Challenge(h)) => {
                st.user = None;
                st.session = None;
                Outcome::Challenge(h)
            }
            Ok(HttpStep::Done {
                user,
                session,
                final_header,
                ..
            }) => match model.find_user(conn.machine, &user) {
                Some(u) => {
                    st.user = Some(u.clone());
                    st.session = Some(session);
                    Outcome::Authenticated {
                        login: Login {
                            user: u,
                            scheme: Scheme::Ntlm,
                        },
                        reply_header: final_header,
                    }
                }
                // Proven against a password the model no longer has.
                None => {
                    *st = NtlmConn::default();
                    refused("unknown user", Some(user))
                }
            },
            Err(e) => {
                *st = NtlmConn::default();
                refused(&e.to_string(), None)
            }
        };
    }
    if scheme.eq_ignore_ascii_case("Digest") {
        return match &policy.digest {
            Some(d) if !d.algorithms.is_empty() => digest_step(model, conn, d, cred, method, path),
            _ => refused("Digest is not offered here", None),
        };
    }
    refused("unsupported authentication scheme", None)
}

fn digest_step(
    model: &Model,
    conn: &ConnInfo,
    d: &DigestOffer<'_>,
    cred: &str,
    method: &str,
    path: &str,
) -> Outcome {
    use digest::NonceStatus;
    let c = match digest::parse_credentials(cred) {
        Ok(c) => c,
        Err(e) => return Outcome::Malformed(e.to_string()),
    };
    // RFC 7616 §3.4: `uri` is the request-target; some clients send the
    // absolute form.
    let uri_path = c
        .uri
        .strip_prefix("https://")
        .or_else(|| c.uri.strip_prefix("http://"))
        .map(|rest| rest.find('/').map_or("/", |i| &rest[i..]))
        .unwrap_or(&c.uri);
    if uri_path != path {
        return Outcome::Malformed("Digest uri does not match the request target".into());
    }
    let refused = |reason: &str, user: Option<String>, stale: bool| Outcome::Refused {
        reason: reason.to_string(),
        user,
        stale,
    };
    if c.realm != d.realm
        || !d.algorithms.contains(&c.algorithm)
        || c.opaque.as_deref().is_some_and(|o| o != d.opaque)
    {
        return refused("realm, algorithm or opaque not offered", None, false);
    }
    let user = if c.userhash {
        model
            .users(conn.machine)
            .iter()
            .find(|u| {
                u.enabled
                    && digest::user_hash(c.algorithm, &u.name, &c.realm)
                        .eq_ignore_ascii_case(&c.username)
            })
            .cloned()
    } else {
        model.find_user(conn.machine, &c.username)
    };
    let claimed = (!c.userhash).then(|| c.username.clone());
    let Some(user) = user else {
        return refused("wrong user or password", claimed, false);
    };
    if !digest::verify(&c, &user.name, &user.password, method) {
        return refused("wrong user or password", Some(user.name), false);
    }
    let now = model.clock.unix_millis();
    match d.nonces.check(&c.nonce, now) {
        NonceStatus::Valid => {}
        NonceStatus::Stale => return refused("stale nonce", Some(user.name), true),
        NonceStatus::Invalid => {
            return refused("nonce not issued by this server", Some(user.name), false)
        }
    }
    if !d.nonces.use_count(&c.nonce, c.nc, now) {
        return refused("replayed nonce count", Some(user.name), true);
    }
    let info = format!(
        r#"qop=auth, rspauth="{}", cnonce="{}", nc={}"#,
        digest::rspauth(&c, &user.name, &user.password),
        c.cnonce.replace(['"', '\\'], ""),
        c.nc_text
    );
    Outcome::Authenticated {
        login: Login {
            user,
            scheme: Scheme::Digest,
        },
        reply_header: Some(info),
    }
}

/// The `WWW-Authenticate` values of a 401 under `policy`, in the order the
/// product sends them (Digest, then Negotiate/NTLM, then Basic). `stale`
/// marks Digest challenges after an expired nonce.
pub fn challenges(model: &Model, conn: &ConnInfo, policy: &Policy<'_>, stale: bool) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(d) = &policy.digest {
        let nonce = d.nonces.issue(model.clock.unix_millis());
        for alg in d.algorithms {
            v.push(digest::challenge(d.realm, &nonce, d.opaque, *alg, stale));
        }
    }
    if WebServer::of(conn.role, conn.service).offers_ntlm() {
        match policy.ntlm {
            NtlmOffer::Off => {}
            NtlmOffer::Negotiate => v.push("Negotiate".into()),
            NtlmOffer::NegotiateAndNtlm => {
                v.push("Negotiate".into());
                v.push("NTLM".into());
            }
        }
    }
    if policy.basic {
        v.push(format!("Basic realm=\"{}\"", policy.basic_realm));
    }
    v
}

/// Runs `f` on this connection's NTLM state for the protocol `key` (taken
/// out of the connection's state and put back, so `f` may not await).
pub fn with_ntlm<R>(conn: &ConnInfo, key: &'static str, f: impl FnOnce(&mut NtlmConn) -> R) -> R {
    conn.state.with::<NtlmConn, R>(key, f)
}

/// Takes this connection's NTLM state for `key` out (for services that
/// hold it across awaits, as WinRM does to seal its answer); give it back
/// with [`put_ntlm`].
pub fn take_ntlm(conn: &ConnInfo, key: &'static str) -> Box<NtlmConn> {
    conn.state.take::<NtlmConn>(key)
}

/// Puts the state [`take_ntlm`] took back.
pub fn put_ntlm(conn: &ConnInfo, key: &'static str, st: Box<NtlmConn>) {
    conn.state.put(key, st);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials() {
        let h = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("HV01\\Administrator:P@ss:word!")
        );
        assert_eq!(
            parse_basic(&h),
            Some(("HV01\\Administrator".into(), "P@ss:word!".into()))
        );
        assert!(parse_basic("Bearer abc").is_none());
        assert!(parse_basic("Basic !!!").is_none());
        assert!(parse_basic("Basic").is_none());
        assert!(parse_basic("basic dXNlcg==").is_none()); // no colon
        assert!(is_ntlm_scheme("negotiate") && is_ntlm_scheme("NTLM"));
        assert!(!is_ntlm_scheme("Kerberos"));
    }
}
