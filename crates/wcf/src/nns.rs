//! .NET NegotiateStream (MS-NNS), sans-IO: the handshake messages that
//! carry SPNEGO tokens and the length-prefixed data frames that follow.
//! The acceptor drives fakedc-ntlm's SPNEGO/NTLM server
//! ([`fakedc_ntlm::http::Acceptor`], the same handshake WinRM and BITS
//! use) and seals/unseals frames with the session it yields.

use fakedc_ntlm::http::{Acceptor as NtlmAcceptor, HttpAuthError, TokenStep};
use fakedc_ntlm::{Session, TargetInfo};

pub const IN_PROGRESS: u8 = 0x16;
pub const DONE: u8 = 0x14;
pub const ERROR: u8 = 0x15;

/// Largest handshake payload (the length field is 16 bits).
pub const MAX_TOKEN: usize = 0xffff;
/// Largest data frame (MS-NNS 2.2.2: 0xFC30 bytes of payload).
pub const MAX_FRAME: usize = 0xfc30;
/// Plaintext per frame that keeps a sealed frame under [`MAX_FRAME`].
pub const MAX_PLAIN: usize = MAX_FRAME - 16;

/// SEC_E_LOGON_DENIED, the HRESULT a Windows NegotiateStream reports for
/// a wrong password.
pub const SEC_E_LOGON_DENIED: u32 = 0x8009_030c;
/// Authenticated, but the protection level is unacceptable (MS-NNS 2.2.1).
pub const PROTECTION_LEVEL: u32 = 0x0000_06fe;
/// SEC_E_INVALID_TOKEN.
pub const SEC_E_INVALID_TOKEN: u32 = 0x8009_0308;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NnsError {
    #[error("not a handshake message (0x{0:02x})")]
    NotHandshake(u8),
    #[error("unsupported NegotiateStream version {0}.{1}")]
    Version(u8, u8),
    #[error("data frame of {0} bytes (at most {MAX_FRAME})")]
    FrameTooLarge(usize),
    #[error("the peer reported a handshake error")]
    PeerError,
    #[error("frame shorter than its signature")]
    Short,
    #[error("frame signature does not verify")]
    Signature,
}

/// One handshake message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub id: u8,
    pub payload: Vec<u8>,
}

/// Decodes a handshake message from the front of `buf` (`Ok(None)`: more
/// bytes needed).
pub fn decode_handshake(buf: &[u8]) -> Result<Option<(Handshake, usize)>, NnsError> {
    let Some(h) = buf.get(..5) else {
        if let Some(&id) = buf.first() {
            if ![IN_PROGRESS, DONE, ERROR].contains(&id) {
                return Err(NnsError::NotHandshake(id));
            }
        }
        return Ok(None);
    };
    let (id, major, minor) = (h[0], h[1], h[2]);
    if ![IN_PROGRESS, DONE, ERROR].contains(&id) {
        return Err(NnsError::NotHandshake(id));
    }
    if major != 1 || minor != 0 {
        return Err(NnsError::Version(major, minor));
    }
    let n = usize::from(u16::from_be_bytes([h[3], h[4]]));
    let Some(p) = buf.get(5..5 + n) else {
        return Ok(None);
    };
    Ok(Some((
        Handshake {
            id,
            payload: p.to_vec(),
        },
        5 + n,
    )))
}

pub fn encode_handshake(id: u8, payload: &[u8]) -> Vec<u8> {
    let n = payload.len().min(MAX_TOKEN);
    let mut out = vec![id, 1, 0];
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.extend_from_slice(&payload[..n]);
    out
}

/// The HandshakeError message: 4 reserved zero bytes, then the HRESULT.
pub fn error_message(hresult: u32) -> Vec<u8> {
    let mut p = vec![0u8; 4];
    p.extend_from_slice(&hresult.to_be_bytes());
    encode_handshake(ERROR, &p)
}

/// Decodes a data frame (`Ok(None)`: more bytes needed).
pub fn decode_frame(buf: &[u8]) -> Result<Option<(&[u8], usize)>, NnsError> {
    let Some(h) = buf.get(..4) else {
        return Ok(None);
    };
    let n = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    if n > MAX_FRAME {
        return Err(NnsError::FrameTooLarge(n));
    }
    Ok(buf.get(4..4 + n).map(|p| (p, 4 + n)))
}

/// Seals `plain` into frames (signature then sealed bytes, NTLM's
/// GSS_Wrap layout), at most [`MAX_PLAIN`] plaintext bytes each.
pub fn seal(session: &mut Session, plain: &[u8], out: &mut Vec<u8>) {
    for chunk in plain.chunks(MAX_PLAIN) {
        let (sig, sealed) = session.wrap(chunk);
        out.extend_from_slice(&((16 + sealed.len()) as u32).to_le_bytes());
        out.extend_from_slice(&sig);
        out.extend_from_slice(&sealed);
    }
}

/// Unseals one frame's payload.
pub fn unseal(session: &mut Session, frame: &[u8]) -> Result<Vec<u8>, NnsError> {
    if frame.len() < 16 {
        return Err(NnsError::Short);
    }
    session
        .unwrap(&frame[..16], &frame[16..])
        .map_err(|_| NnsError::Signature)
}

/// What the server answers one client handshake message with.
pub enum Step {
    /// Send these bytes (an InProgress message) and wait for the next.
    Continue(Vec<u8>),
    /// Authenticated: send these bytes (Done, with SPNEGO's final token),
    /// then frames.
    Done {
        reply: Vec<u8>,
        user: String,
        session: Box<Session>,
    },
    /// Refused: send these bytes (an Error message) and close.
    Refused {
        reply: Vec<u8>,
        reason: String,
        bad_credentials: bool,
    },
}

/// The server side of one connection's handshake.
#[derive(Default)]
pub struct Acceptor {
    ntlm: NtlmAcceptor,
}

impl Acceptor {
    /// Feeds one client handshake message.
    pub fn step(
        &mut self,
        msg: &Handshake,
        target: &TargetInfo,
        password_of: &dyn Fn(&str) -> Option<String>,
    ) -> Step {
        if msg.id == ERROR {
            return Step::Refused {
                reply: Vec::new(),
                reason: "the client reported a handshake error".into(),
                bad_credentials: false,
            };
        }
        match self.ntlm.accept_token(&msg.payload, target, password_of) {
            Ok(TokenStep::Challenge(t)) => Step::Continue(encode_handshake(IN_PROGRESS, &t)),
            Ok(TokenStep::Done {
                user,
                session,
                final_token,
                ..
            }) => {
                // NetTcpBinding's Windows transport security is
                // EncryptAndSign: a client that did not negotiate sealing
                // is authenticated, then refused with 0x000006FE (MS-NNS
                // 2.2.1: the protection level is unacceptable).
                if session.flags() & fakedc_ntlm::flags::SEAL == 0 {
                    return Step::Refused {
                        reply: error_message(PROTECTION_LEVEL),
                        reason: "the client did not negotiate EncryptAndSign".into(),
                        bad_credentials: false,
                    };
                }
                Step::Done {
                    reply: encode_handshake(DONE, &final_token.unwrap_or_default()),
                    user,
                    session,
                }
            }
            Err(e) => {
                let bad = e.is_bad_credentials();
                let hr = if bad {
                    SEC_E_LOGON_DENIED
                } else {
                    SEC_E_INVALID_TOKEN
                };
                let reason = match &e {
                    HttpAuthError::Ntlm(_) | HttpAuthError::MechListMic => e.to_string(),
                    other => other.to_string(),
                };
                Step::Refused {
                    reply: error_message(hr),
                    reason,
                    bad_credentials: bad,
                }
            }
        }
    }
}

/// The client side, for the probe, the benchmark and tests: NTLM in
/// SPNEGO with mechListMIC, as .NET's NegotiateStream sends it.
pub mod client {
    use super::*;
    use fakedc_ntlm::spnego;

    pub struct Initiator {
        ntlm: fakedc_ntlm::Client,
        mech_types: Vec<u8>,
        pub session: Option<Box<Session>>,
    }

    impl Initiator {
        pub fn new(user: &str, domain: &str, password: &str) -> Initiator {
            Initiator {
                ntlm: fakedc_ntlm::Client::new(user, domain, password),
                mech_types: Vec::new(),
                session: None,
            }
        }

        /// The first handshake message (NegTokenInit with NEGOTIATE).
        pub fn first(&mut self) -> Vec<u8> {
            let neg = self.ntlm.negotiate();
            let init = spnego::init(&neg);
            self.mech_types = spnego::parse(&init)
                .ok()
                .and_then(|t| t.mech_types)
                .unwrap_or_default();
            encode_handshake(IN_PROGRESS, &init)
        }

        /// Answers the server's InProgress (the CHALLENGE).
        pub fn answer(&mut self, msg: &Handshake) -> Result<Vec<u8>, String> {
            if msg.id == ERROR {
                return Err("the server refused the credentials".into());
            }
            let t = spnego::parse(&msg.payload).map_err(|e| e.to_string())?;
            let ch = t.token.ok_or("no NTLM CHALLENGE")?;
            let (auth, mut session) = self.ntlm.authenticate(&ch).map_err(|e| e.to_string())?;
            let mic = session.sign(&self.mech_types);
            session.reset_out();
            let tok = spnego::response(spnego::ACCEPT_INCOMPLETE, false, Some(&auth), Some(&mic));
            self.session = Some(Box::new(session));
            Ok(encode_handshake(IN_PROGRESS, &tok))
        }

        /// Checks the server's Done (its mechListMIC).
        pub fn finish(&mut self, msg: &Handshake) -> Result<(), String> {
            if msg.id != DONE {
                return Err(format!("handshake message 0x{:02x}, not Done", msg.id));
            }
            let t = spnego::parse(&msg.payload).map_err(|e| e.to_string())?;
            let s = self.session.as_mut().ok_or("no session")?;
            if let Some(mic) = t.mic {
                s.verify(&self.mech_types, &mic)
                    .map_err(|_| "server mechListMIC does not verify")?;
                s.reset_in();
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> TargetInfo {
        TargetInfo {
            nb_domain: "VMM01".into(),
            nb_computer: "VMM01".into(),
            dns_domain: "lab.test".into(),
            dns_computer: "vmm01.lab.test".into(),
            time: 133_000_000_000_000_000,
        }
    }

    fn run(password: &str) -> Result<(Box<Session>, Box<Session>), String> {
        let lookup =
            |u: &str| (u.eq_ignore_ascii_case("administrator")).then(|| "P@ss".to_string());
        let mut c = client::Initiator::new("Administrator", "", password);
        let mut s = Acceptor::default();
        let (m, _) = decode_handshake(&c.first()).unwrap().unwrap();
        let Step::Continue(r) = s.step(&m, &target(), &lookup) else {
            return Err("no challenge".into());
        };
        let (m, _) = decode_handshake(&r).unwrap().unwrap();
        let (m, _) = decode_handshake(&c.answer(&m)?).unwrap().unwrap();
        match s.step(&m, &target(), &lookup) {
            Step::Done {
                reply,
                user,
                session,
            } => {
                assert_eq!(user, "Administrator");
                let (m, _) = decode_handshake(&reply).unwrap().unwrap();
                c.finish(&m)?;
                Ok((c.session.take().unwrap(), session))
            }
            Step::Refused {
                reply,
                bad_credentials,
                ..
            } => {
                assert!(bad_credentials);
                assert_eq!(reply[0], ERROR);
                assert_eq!(reply[5..], [0, 0, 0, 0, 0x80, 0x09, 0x03, 0x0c]);
                Err("refused".into())
            }
            Step::Continue(_) => Err("continue".into()),
        }
    }

    #[test]
    fn handshake_and_sealed_frames() {
        let (mut c, mut s) = run("P@ss").unwrap();
        let mut out = Vec::new();
        seal(&mut c, b"\x0c", &mut out);
        let (f, n) = decode_frame(&out).unwrap().unwrap();
        assert_eq!(n, out.len());
        assert_eq!(unseal(&mut s, f).unwrap(), b"\x0c");
        assert!(run("nope").is_err());
        assert_eq!(
            decode_frame(&[0xff, 0xff, 0, 0]),
            Err(NnsError::FrameTooLarge(0xffff))
        );
        assert!(decode_handshake(&[0x16, 2, 0, 0, 0]).is_err());
        assert!(decode_handshake(&[0x17]).is_err());
    }
}
