//! NTLM over HTTP (MS-NTHT): `Authorization: NTLM <base64>` and
//! `Authorization: Negotiate <base64>` carrying raw NTLMSSP or NTLM inside
//! SPNEGO, answered with `WWW-Authenticate` tokens.
//!
//! The handshake is connection-based: the NEGOTIATE and AUTHENTICATE
//! messages must arrive on the same TCP connection, and a successful
//! AUTHENTICATE authenticates the connection, not one request. Each HTTP
//! service therefore keeps one [`Acceptor`] per connection (WinRM and BITS
//! both do, in `ConnInfo::state`). Sans-IO: header text in, header text out.

use crate::spnego::{self, SpnegoError};
use crate::{NtlmError, Server, Session, Step, TargetInfo};
use base64::Engine as _;

/// Largest `Authorization` credential accepted (NTLM messages are a few
/// hundred bytes; Kerberos tickets, which are larger, are not served).
pub const MAX_TOKEN: usize = 16 * 1024;

/// Why an `Authorization: NTLM|Negotiate` header was refused. The display
/// text is what services write to the journal (it never contains a
/// credential).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpAuthError {
    #[error("refused: undecodable token")]
    Undecodable,
    #[error("refused: {0}")]
    Spnego(#[from] SpnegoError),
    #[error("refused: SPNEGO token without an NTLM token")]
    NoNtlmToken,
    #[error("auth failure: {0}")]
    Ntlm(#[from] NtlmError),
    #[error("auth failure: SPNEGO mechListMIC does not verify")]
    MechListMic,
}

impl HttpAuthError {
    /// Whether the credentials were wrong (as opposed to a malformed or
    /// unsupported token).
    pub fn is_bad_credentials(&self) -> bool {
        matches!(
            self,
            HttpAuthError::Ntlm(NtlmError::BadCredentials | NtlmError::BadMic)
                | HttpAuthError::MechListMic
        )
    }
}

/// The outcome of one `Authorization` header.
pub enum HttpStep {
    /// Answer 401 with this `WWW-Authenticate` value (the scheme the client
    /// used and the CHALLENGE, wrapped like the client's token).
    Challenge(String),
    /// The connection is authenticated.
    Done {
        user: String,
        domain: String,
        session: Box<Session>,
        /// SPNEGO's final token (accept-completed with the server's
        /// mechListMIC), to send as `WWW-Authenticate` on the answer;
        /// `None` for raw NTLM.
        final_header: Option<String>,
    },
}

/// The outcome of one binary token ([`Acceptor::accept_token`]).
pub enum TokenStep {
    /// Send this token back (CHALLENGE, wrapped like the client's token).
    Challenge(Vec<u8>),
    Done {
        user: String,
        domain: String,
        session: Box<Session>,
        /// SPNEGO's accept-completed with the server's mechListMIC; `None`
        /// for raw NTLM.
        final_token: Option<Vec<u8>>,
    },
}

/// Whether `scheme` is one this module handles.
pub fn is_ntlm_scheme(scheme: &str) -> bool {
    scheme.eq_ignore_ascii_case("NTLM") || scheme.eq_ignore_ascii_case("Negotiate")
}

/// One connection's handshake state.
#[derive(Default)]
pub struct Acceptor {
    handshake: Option<Server>,
    /// SPNEGO's mechTypes from the NegTokenInit, signed by the mechListMIC.
    mech_types: Option<Vec<u8>>,
    /// Accept anonymous logons (kept across restarts of the handshake).
    anonymous: bool,
}

impl Acceptor {
    /// An acceptor that also accepts the anonymous logon (user name empty
    /// in [`TokenStep::Done`]); SMB's null session.
    pub fn with_anonymous() -> Acceptor {
        Acceptor {
            anonymous: true,
            ..Acceptor::default()
        }
    }

    /// Starts the handshake over, keeping what the acceptor allows.
    fn reset(&mut self) {
        *self = Acceptor {
            anonymous: self.anonymous,
            ..Acceptor::default()
        };
    }

    /// Feeds one header's scheme (`NTLM` or `Negotiate`) and credentials
    /// (base64). On any error the handshake starts over, as a client whose
    /// AUTHENTICATE was refused starts again with a NEGOTIATE.
    pub fn accept(
        &mut self,
        scheme: &str,
        credentials: &str,
        target: &TargetInfo,
        password_of: &dyn Fn(&str) -> Option<String>,
    ) -> Result<HttpStep, HttpAuthError> {
        let r = self.step(scheme, credentials, target, password_of);
        if !matches!(r, Ok(HttpStep::Challenge(_))) {
            self.reset();
        }
        r
    }

    fn step(
        &mut self,
        scheme: &str,
        credentials: &str,
        target: &TargetInfo,
        password_of: &dyn Fn(&str) -> Option<String>,
    ) -> Result<HttpStep, HttpAuthError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        if credentials.len() > MAX_TOKEN {
            return Err(HttpAuthError::Undecodable);
        }
        let token = b64
            .decode(credentials.trim())
            .map_err(|_| HttpAuthError::Undecodable)?;
        Ok(match self.token_step(&token, target, password_of)? {
            TokenStep::Challenge(out) => {
                HttpStep::Challenge(format!("{scheme} {}", b64.encode(out)))
            }
            TokenStep::Done {
                user,
                domain,
                session,
                final_token,
            } => HttpStep::Done {
                user,
                domain,
                session,
                final_header: final_token.map(|t| format!("{scheme} {}", b64.encode(t))),
            },
        })
    }

    /// One binary token (SMB2's SESSION_SETUP security buffer, or a
    /// decoded header): raw NTLMSSP or SPNEGO-wrapped, answered in kind.
    /// On any error the handshake starts over.
    pub fn accept_token(
        &mut self,
        token: &[u8],
        target: &TargetInfo,
        password_of: &dyn Fn(&str) -> Option<String>,
    ) -> Result<TokenStep, HttpAuthError> {
        if token.len() > MAX_TOKEN {
            self.reset();
            return Err(HttpAuthError::Undecodable);
        }
        let r = self.token_step(token, target, password_of);
        if !matches!(r, Ok(TokenStep::Challenge(_))) {
            self.reset();
        }
        r
    }

    fn token_step(
        &mut self,
        token: &[u8],
        target: &TargetInfo,
        password_of: &dyn Fn(&str) -> Option<String>,
    ) -> Result<TokenStep, HttpAuthError> {
        let token = token.to_vec();
        // SPNEGO-wrapped NTLM (Negotiate clients that wrap), or raw.
        let wrapped = spnego::is_spnego(&token);
        let (inner, client_mic) = if wrapped {
            let t = spnego::parse(&token)?;
            if t.mech_types.is_some() {
                self.mech_types = t.mech_types;
            }
            (t.token, t.mic)
        } else {
            (Some(token), None)
        };
        let inner = inner.ok_or(HttpAuthError::NoNtlmToken)?;
        let anonymous = self.anonymous;
        let server = self.handshake.get_or_insert_with(|| Server {
            allow_anonymous: anonymous,
            ..Server::default()
        });
        match server.accept(&inner, target, password_of)? {
            Step::Challenge(ch) => {
                let out = if wrapped {
                    spnego::response(spnego::ACCEPT_INCOMPLETE, true, Some(&ch), None)
                } else {
                    ch
                };
                Ok(TokenStep::Challenge(out))
            }
            Step::Done {
                user,
                domain,
                mut session,
                ..
            } => {
                let mut final_token = None;
                if wrapped {
                    // mechListMIC both ways, each followed by an RC4 reset
                    // (MS-SPNG 3.3.5.1).
                    let mech_types = self.mech_types.take().unwrap_or_default();
                    let mut mic_out = None;
                    if let Some(m) = client_mic {
                        session
                            .verify(&mech_types, &m)
                            .map_err(|_| HttpAuthError::MechListMic)?;
                        session.reset_in();
                        let sig = session.sign(&mech_types);
                        session.reset_out();
                        mic_out = Some(sig);
                    }
                    let done = spnego::response(
                        spnego::ACCEPT_COMPLETED,
                        false,
                        None,
                        mic_out.as_ref().map(|m| &m[..]),
                    );
                    final_token = Some(done);
                }
                Ok(TokenStep::Done {
                    user,
                    domain,
                    session,
                    final_token,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Client;

    fn target() -> TargetInfo {
        TargetInfo {
            nb_domain: "LIB01".into(),
            nb_computer: "LIB01".into(),
            dns_domain: "lab.test".into(),
            dns_computer: "lib01.lab.test".into(),
            time: 133_000_000_000_000_000,
        }
    }

    fn lookup(u: &str) -> Option<String> {
        (u == "Administrator").then(|| "P@ssw0rd!".to_string())
    }

    fn run(scheme: &str, wrap: bool, password: &str) -> Result<HttpStep, HttpAuthError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut c = Client::new("Administrator", "", password);
        let mut a = Acceptor::default();
        let neg = c.negotiate();
        let neg = if wrap { spnego::init(&neg) } else { neg };
        let HttpStep::Challenge(h) = a.accept(scheme, &b64.encode(neg), &target(), &lookup)? else {
            panic!("challenge expected")
        };
        let (sch, tok) = h.split_once(' ').unwrap();
        assert_eq!(sch, scheme);
        let tok = b64.decode(tok).unwrap();
        let ch = if wrap {
            spnego::parse(&tok).unwrap().token.unwrap()
        } else {
            tok
        };
        let (auth, _) = c.authenticate(&ch).unwrap();
        let auth = if wrap {
            spnego::response(spnego::ACCEPT_INCOMPLETE, false, Some(&auth), None)
        } else {
            auth
        };
        a.accept(scheme, &b64.encode(auth), &target(), &lookup)
    }

    #[test]
    fn raw_and_wrapped_handshakes() {
        for (scheme, wrap) in [("NTLM", false), ("Negotiate", false), ("Negotiate", true)] {
            match run(scheme, wrap, "P@ssw0rd!") {
                Ok(HttpStep::Done {
                    user, final_header, ..
                }) => {
                    assert_eq!(user, "Administrator");
                    assert_eq!(final_header.is_some(), wrap);
                }
                _ => panic!("{scheme} {wrap}: expected success"),
            }
            let e = run(scheme, wrap, "wrong").err().unwrap();
            assert!(e.is_bad_credentials(), "{e}");
        }
    }

    /// An OEM-only client (wget's NEGOTIATE) through the acceptor WinRM
    /// and BITS both run: the CHALLENGE comes back OEM, the AUTHENTICATE's
    /// OEM names authenticate the connection.
    #[test]
    fn oem_only_client_through_the_acceptor() {
        let b64 = base64::engine::general_purpose::STANDARD;
        for scheme in ["NTLM", "Negotiate"] {
            let mut c = Client::new("Administrator", "LIB01", "P@ssw0rd!").oem_only();
            let mut a = Acceptor::default();
            let neg = b64.encode(c.negotiate());
            let Ok(HttpStep::Challenge(h)) = a.accept(scheme, &neg, &target(), &lookup) else {
                panic!("challenge expected")
            };
            let (_, tok) = h.split_once(' ').unwrap();
            let ch = b64.decode(tok).unwrap();
            assert_eq!(ch[20] & 3, crate::flags::OEM as u8);
            let (auth, _) = c.authenticate(&ch).unwrap();
            match a.accept(scheme, &b64.encode(auth), &target(), &lookup) {
                Ok(HttpStep::Done { user, domain, .. }) => {
                    assert_eq!((user.as_str(), domain.as_str()), ("Administrator", "LIB01"));
                }
                _ => panic!("{scheme}: OEM AUTHENTICATE refused"),
            }
        }
    }

    #[test]
    fn garbage_is_refused_and_resets() {
        let mut a = Acceptor::default();
        for c in [
            "",
            "!!!",
            "AAAA",
            "TlRMTVNTUAADAAAA",
            &"A".repeat(MAX_TOKEN + 4),
        ] {
            assert!(a.accept("NTLM", c, &target(), &lookup).is_err(), "{c}");
        }
        assert_eq!(
            a.accept("Negotiate", "oQMwAQ==", &target(), &lookup).err(),
            Some(HttpAuthError::Spnego(SpnegoError::Malformed))
        );
    }
}
