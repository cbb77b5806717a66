//! NTLM for fakedc's HTTP services, shared by WinRM (with MS-WSMV sealing)
//! and BITS (authentication only).
//!
//! The crate root is the NTLM server side (MS-NLMP): NEGOTIATE →
//! CHALLENGE → AUTHENTICATE, with the NTLMv2 response and MIC checked, and
//! the session security (signing and sealing with extended session security
//! and key exchange) that MS-WSMV message encryption uses; plus a client for
//! probes, benchmarks and `fakedc bits`. [`spnego`] unwraps NTLM from
//! SPNEGO (`Negotiate` clients that wrap); [`http`] is the per-connection
//! `Authorization`/`WWW-Authenticate` exchange both services run.
//!
//! Strings follow the character set the client offers (MS-NLMP 2.2.2.5,
//! 3.2.5.1.1): Unicode when its NEGOTIATE offers Unicode, OEM ([`oem`],
//! code page 437) when it offers only OEM, as wget does; the CHALLENGE
//! settles the set for the AUTHENTICATE. NTLMv1 responses (with or without
//! extended session security) are accepted as a Windows server with its
//! default LmCompatibilityLevel accepts them: wget sends nothing else.
//! Anonymous and LM-only logons are refused. Sans-IO: tokens in, tokens
//! out; the caller owns the connection. Why not a crate: the well-kept one
//! (sspi) drags in Kerberos, smart-card and RSA stacks, and its server needs
//! the password before the user name is known; this protocol subset is a
//! few hundred lines with test vectors. Why its own crate: BITS must not
//! depend on the WS-Man engine to authenticate.

mod des;
pub mod http;
pub mod oem;
pub mod spnego;

use hmac::{Hmac, Mac};
use md4::{Digest, Md4};
use md5::Md5;
use rc4::{consts::U16, KeyInit, Rc4, StreamCipher};

type HmacMd5 = Hmac<Md5>;

pub mod flags {
    pub const UNICODE: u32 = 0x0000_0001;
    pub const OEM: u32 = 0x0000_0002;
    pub const REQUEST_TARGET: u32 = 0x0000_0004;
    pub const SIGN: u32 = 0x0000_0010;
    pub const SEAL: u32 = 0x0000_0020;
    pub const DATAGRAM: u32 = 0x0000_0040;
    pub const NTLM: u32 = 0x0000_0200;
    pub const ANONYMOUS: u32 = 0x0000_0800;
    pub const ALWAYS_SIGN: u32 = 0x0000_8000;
    pub const TARGET_TYPE_SERVER: u32 = 0x0002_0000;
    pub const EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    pub const TARGET_INFO: u32 = 0x0080_0000;
    pub const VERSION: u32 = 0x0200_0000;
    pub const N128: u32 = 0x2000_0000;
    pub const KEY_EXCH: u32 = 0x4000_0000;
    pub const N56: u32 = 0x8000_0000;
}

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NtlmError {
    #[error("malformed NTLM message: {0}")]
    Malformed(&'static str),
    #[error("unexpected NTLM message type {0}")]
    Unexpected(u32),
    #[error("unknown user or wrong password")]
    BadCredentials,
    #[error("anonymous and LM-only logons are not accepted")]
    Unsupported,
    #[error("message integrity check failed")]
    BadMic,
    #[error("message signature does not verify")]
    BadSignature,
}

fn u16_at(b: &[u8], off: usize) -> Result<u16, NtlmError> {
    b.get(off..off + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or(NtlmError::Malformed("truncated"))
}

fn u32_at(b: &[u8], off: usize) -> Result<u32, NtlmError> {
    b.get(off..off + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(NtlmError::Malformed("truncated"))
}

/// A (len, maxlen, offset) field's payload. An empty field's offset is not
/// looked at (wget points its absent session key past the message).
fn field(b: &[u8], off: usize) -> Result<&[u8], NtlmError> {
    let len = u16_at(b, off)? as usize;
    if len == 0 {
        return Ok(&[]);
    }
    let start = u32_at(b, off + 4)? as usize;
    b.get(
        start
            ..start
                .checked_add(len)
                .ok_or(NtlmError::Malformed("field"))?,
    )
    .ok_or(NtlmError::Malformed("field points outside the message"))
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|c| c.to_le_bytes()).collect()
}

fn from_utf16(b: &[u8]) -> Result<String, NtlmError> {
    if !b.len().is_multiple_of(2) {
        return Err(NtlmError::Malformed("odd UTF-16 length"));
    }
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).map_err(|_| NtlmError::Malformed("invalid UTF-16"))
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // HMAC accepts keys of any length.
    let Ok(mut m) = <HmacMd5 as Mac>::new_from_slice(key) else {
        return [0; 16];
    };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Which character set a message's strings are in (MS-NLMP 2.2.2.5, flags
/// A and B).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// UTF-16LE.
    Unicode,
    /// The OEM code page ([`oem`]).
    Oem,
}

impl Charset {
    /// The set `f` selects: Unicode when NTLMSSP_NEGOTIATE_UNICODE is set
    /// (with or without OEM), OEM when only NTLMSSP_NEGOTIATE_OEM is, and
    /// an invalid token (SEC_E_INVALID_TOKEN) when neither is.
    pub fn from_flags(f: u32) -> Result<Charset, NtlmError> {
        if f & flags::UNICODE != 0 {
            Ok(Charset::Unicode)
        } else if f & flags::OEM != 0 {
            Ok(Charset::Oem)
        } else {
            Err(NtlmError::Malformed("neither UNICODE nor OEM negotiated"))
        }
    }

    /// The negotiate flag that names this set.
    pub fn flag(self) -> u32 {
        match self {
            Charset::Unicode => flags::UNICODE,
            Charset::Oem => flags::OEM,
        }
    }

    pub fn encode(self, s: &str) -> Vec<u8> {
        match self {
            Charset::Unicode => utf16(s),
            Charset::Oem => oem::encode(s),
        }
    }

    pub fn decode(self, b: &[u8]) -> Result<String, NtlmError> {
        match self {
            Charset::Unicode => from_utf16(b),
            Charset::Oem => Ok(oem::decode(b)),
        }
    }
}

/// NTOWFv1 (MS-NLMP 3.3.1): MD4 of the UTF-16 password.
pub fn ntowfv1(password: &str) -> [u8; 16] {
    Md4::digest(utf16(password)).into()
}

/// NTOWFv2 (MS-NLMP 3.3.2).
pub fn ntowfv2(password: &str, user: &str, domain: &str) -> [u8; 16] {
    hmac_md5(
        &ntowfv1(password),
        &[&utf16(&user.to_uppercase()), &utf16(domain)],
    )
}

fn rc4(key: &[u8; 16]) -> Rc4<U16> {
    Rc4::new(key.into())
}

/// Who the server says it is in the CHALLENGE.
#[derive(Debug, Clone)]
pub struct TargetInfo {
    pub nb_domain: String,
    pub nb_computer: String,
    pub dns_domain: String,
    pub dns_computer: String,
    /// The server's time as a FILETIME (the CHALLENGE's MsvAvTimestamp):
    /// the caller passes its clock in ([`filetime`]), the codec reads none.
    pub time: u64,
}

/// A time as a Windows FILETIME (100 ns ticks since 1601).
pub fn filetime(t: std::time::SystemTime) -> u64 {
    let unix = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() / 100)
        .unwrap_or(0);
    u64::try_from(unix)
        .unwrap_or(u64::MAX)
        .saturating_add(116_444_736_000_000_000)
}

/// The outcome of one accept step.
pub enum Step {
    /// Send this CHALLENGE token with a 401.
    Challenge(Vec<u8>),
    /// Authenticated.
    Done {
        user: String,
        domain: String,
        /// The client's workstation name (often empty).
        workstation: String,
        session: Box<Session>,
    },
}

/// The server's state for one connection's handshake.
#[derive(Default)]
pub struct Server {
    negotiate: Vec<u8>,
    challenge: Vec<u8>,
    server_challenge: [u8; 8],
    flags: u32,
    /// The CHALLENGE came first (no NEGOTIATE): the AUTHENTICATE picks the
    /// character set and features.
    connectionless: bool,
    /// Accept the anonymous AUTHENTICATE (empty user, empty NT response,
    /// LM response empty or Z(1); MS-NLMP 3.2.5.1.2) as a logon with an
    /// empty user name. Only SMB asks for this: Windows lets a null
    /// session reach IPC$, while HTTP services refuse it.
    pub allow_anonymous: bool,
}

/// Where an AUTHENTICATE's fixed header ends when it carries the session
/// key field and NegotiateFlags (MS-NLMP 2.2.1.3); a payload that starts
/// earlier means a legacy message without them.
const AUTH_HEADER_WITH_FLAGS: usize = 64;

impl Server {
    /// Feeds one client token. `password_of(user)` looks up a user's
    /// password (case-insensitive name), or None.
    pub fn accept(
        &mut self,
        token: &[u8],
        target: &TargetInfo,
        password_of: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Step, NtlmError> {
        if token.get(..8) != Some(SIGNATURE) {
            return Err(NtlmError::Malformed("no NTLMSSP signature"));
        }
        match u32_at(token, 8)? {
            1 => self.on_negotiate(token, target, rand::random(), target.time),
            3 if !self.challenge.is_empty() => self.on_authenticate(token, password_of),
            t => Err(NtlmError::Unexpected(t)),
        }
    }

    /// Connectionless NTLM (MS-NLMP 3.2.5.2.1): the server speaks first, so
    /// its CHALLENGE offers both character sets and always key exchange;
    /// the client's AUTHENTICATE (fed to [`Server::accept`]) then says which
    /// set and features it chose.
    pub fn connectionless_challenge(&mut self, target: &TargetInfo) -> Vec<u8> {
        self.connectionless_with(target, rand::random(), target.time)
    }

    fn connectionless_with(
        &mut self,
        target: &TargetInfo,
        server_challenge: [u8; 8],
        timestamp: u64,
    ) -> Vec<u8> {
        let f = flags::UNICODE
            | flags::OEM
            | flags::REQUEST_TARGET
            | flags::SIGN
            | flags::SEAL
            | flags::DATAGRAM
            | flags::NTLM
            | flags::ALWAYS_SIGN
            | flags::TARGET_TYPE_SERVER
            | flags::EXTENDED_SESSIONSECURITY
            | flags::TARGET_INFO
            | flags::VERSION
            | flags::N128
            | flags::KEY_EXCH
            | flags::N56;
        let m = challenge_message(f, target, server_challenge, timestamp);
        self.negotiate.clear();
        self.challenge = m.clone();
        self.server_challenge = server_challenge;
        self.flags = f;
        self.connectionless = true;
        m
    }

    fn on_negotiate(
        &mut self,
        token: &[u8],
        target: &TargetInfo,
        server_challenge: [u8; 8],
        timestamp: u64,
    ) -> Result<Step, NtlmError> {
        let client = u32_at(token, 12)?;
        // MS-NLMP 3.2.5.1.1 and 2.2.2.5: Unicode when the client offers it
        // (alone or beside OEM), OEM when it offers only OEM (wget), and
        // an invalid token when it offers neither.
        let charset = Charset::from_flags(client)?;
        let offered = flags::SIGN
            | flags::SEAL
            | flags::ALWAYS_SIGN
            | flags::EXTENDED_SESSIONSECURITY
            | flags::N128
            | flags::N56
            | flags::KEY_EXCH
            | flags::VERSION;
        let mut f = (client & offered)
            | charset.flag()
            | flags::NTLM
            | flags::TARGET_INFO
            | flags::REQUEST_TARGET
            | flags::TARGET_TYPE_SERVER;
        // Signing and sealing are implemented with extended session
        // security only, so without it they are not offered (a server
        // returns only what it supports).
        if f & flags::EXTENDED_SESSIONSECURITY == 0 {
            f &= !(flags::SIGN | flags::SEAL);
        }
        let m = challenge_message(f, target, server_challenge, timestamp);
        self.negotiate = token.to_vec();
        self.challenge = m.clone();
        self.server_challenge = server_challenge;
        self.flags = f;
        self.connectionless = false;
        Ok(Step::Challenge(m))
    }

    fn on_authenticate(
        &mut self,
        token: &[u8],
        password_of: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Step, NtlmError> {
        let lm = field(token, 12)?;
        let nt = field(token, 20)?;
        // A payload that starts inside the session-key and flags fields
        // means a message without them (the older 52-byte header).
        let payload_at = [12, 20, 28, 36, 44]
            .iter()
            .filter(|&&f| u16_at(token, f).is_ok_and(|len| len > 0))
            .filter_map(|&f| u32_at(token, f + 4).ok())
            .min()
            .map_or(usize::MAX, |o| o as usize);
        let (enc_key, auth_flags) = if payload_at >= AUTH_HEADER_WITH_FLAGS {
            (field(token, 52)?, Some(u32_at(token, 60)?))
        } else {
            (&[][..], None)
        };
        // Connection-oriented, the CHALLENGE settled the character set and
        // features: strings are "in the negotiated character set" (2.2.1.3)
        // whatever the AUTHENTICATE's own flags claim (wget's claim UNICODE
        // over OEM strings). Connectionless, the AUTHENTICATE's flags are
        // the client's choice within what the CHALLENGE offered (3.2.5.2.2),
        // so its NTLMSSP_NEGOTIATE_UNICODE picks the set.
        let neg = match (self.connectionless, auth_flags) {
            (true, Some(a)) => {
                let charset = Charset::from_flags(a)?;
                (a & self.flags & !(flags::UNICODE | flags::OEM)) | charset.flag()
            }
            (true, None) => return Err(NtlmError::Malformed("no negotiate flags")),
            (false, _) => self.flags,
        };
        let charset = Charset::from_flags(neg)?;
        let domain = charset.decode(field(token, 28)?)?;
        let user = charset.decode(field(token, 36)?)?;
        let workstation = charset.decode(field(token, 44)?)?;
        let anonymous = auth_flags.is_some_and(|a| a & flags::ANONYMOUS != 0);
        if self.allow_anonymous && user.is_empty() && nt.is_empty() && lm.len() <= 1 {
            // The anonymous logon: its session base key is all zeros
            // (MS-NLMP 3.3.1), so the key exchange, when asked for,
            // decrypts with zeros.
            let exported: [u8; 16] = if neg & flags::KEY_EXCH != 0 && enc_key.len() == 16 {
                let mut k: [u8; 16] = enc_key
                    .try_into()
                    .map_err(|_| NtlmError::Malformed("session key length"))?;
                rc4(&[0u8; 16]).apply_keystream(&mut k);
                k
            } else {
                [0u8; 16]
            };
            return Ok(Step::Done {
                user: String::new(),
                domain,
                workstation,
                session: Box::new(Session::new(exported, neg, true)),
            });
        }
        if user.is_empty() || nt.is_empty() || anonymous {
            return Err(NtlmError::Unsupported);
        }
        let password = password_of(&user).ok_or(NtlmError::BadCredentials)?;
        let (key_exchange_key, mic_sent) = match nt.len() {
            24 => (self.ntlmv1(nt, lm, &password, neg)?, false),
            n if n > 24 => self.ntlmv2(nt, &password, &user, &domain)?,
            _ => return Err(NtlmError::Malformed("NT response length")),
        };
        let exported: [u8; 16] = if neg & flags::KEY_EXCH != 0 {
            let mut k: [u8; 16] = enc_key
                .try_into()
                .map_err(|_| NtlmError::Malformed("session key length"))?;
            rc4(&key_exchange_key).apply_keystream(&mut k);
            k
        } else {
            key_exchange_key
        };
        if mic_sent {
            let mic_at = 72;
            let mic = token
                .get(mic_at..mic_at + 16)
                .ok_or(NtlmError::Malformed("no room for the MIC"))?;
            let mut zeroed = token.to_vec();
            zeroed[mic_at..mic_at + 16].fill(0);
            let want = hmac_md5(&exported, &[&self.negotiate, &self.challenge, &zeroed]);
            if want != mic {
                return Err(NtlmError::BadMic);
            }
        }
        Ok(Step::Done {
            user,
            domain,
            workstation,
            session: Box::new(Session::new(exported, neg, true)),
        })
    }

    /// Checks an NTLMv2 response (MS-NLMP 3.3.2): the key exchange key
    /// (the session base key) and whether the client's AV pairs say a MIC
    /// was sent.
    fn ntlmv2(
        &self,
        nt: &[u8],
        password: &str,
        user: &str,
        domain: &str,
    ) -> Result<([u8; 16], bool), NtlmError> {
        let key_nt = ntowfv2(password, user, domain);
        let (proof, blob) = nt.split_at(16);
        let expect = hmac_md5(&key_nt, &[&self.server_challenge, blob]);
        if expect != proof {
            return Err(NtlmError::BadCredentials);
        }
        Ok((hmac_md5(&key_nt, &[proof]), blob_has_mic(blob)))
    }

    /// Checks an NTLMv1 response (MS-NLMP 3.3.1), with extended session
    /// security when it was negotiated (the client challenge then leads
    /// the LM response field); returns the key exchange key (3.4.5.1).
    /// LM_KEY and NON_NT_SESSION_KEY are never negotiated, so the key is
    /// the session base key, or its HMAC with both challenges under ESS.
    fn ntlmv1(
        &self,
        nt: &[u8],
        lm: &[u8],
        password: &str,
        neg: u32,
    ) -> Result<[u8; 16], NtlmError> {
        let key_nt = ntowfv1(password);
        let client_challenge: Option<[u8; 8]> = if neg & flags::EXTENDED_SESSIONSECURITY != 0 {
            let cc = lm
                .get(..8)
                .and_then(|s| s.try_into().ok())
                .ok_or(NtlmError::Malformed("no client challenge"))?;
            Some(cc)
        } else {
            None
        };
        let challenge: [u8; 8] = match client_challenge {
            Some(cc) => {
                let h = md5(&[&self.server_challenge, &cc]);
                let mut c = [0u8; 8];
                c.copy_from_slice(&h[..8]);
                c
            }
            None => self.server_challenge,
        };
        if des::desl(&key_nt, challenge) != nt {
            return Err(NtlmError::BadCredentials);
        }
        let base: [u8; 16] = Md4::digest(key_nt).into();
        Ok(match client_challenge {
            Some(cc) => hmac_md5(&base, &[&self.server_challenge, &cc]),
            None => base,
        })
    }
}

/// A CHALLENGE_MESSAGE: the target name in the character set `f` selects,
/// the AV pairs (always Unicode) with the timestamp.
fn challenge_message(
    f: u32,
    target: &TargetInfo,
    server_challenge: [u8; 8],
    timestamp: u64,
) -> Vec<u8> {
    // `f` always carries a character set flag (both callers set one).
    let charset = Charset::from_flags(f).unwrap_or(Charset::Unicode);
    let name = charset.encode(&target.nb_computer);
    let mut info = Vec::new();
    for (id, v) in [
        (2u16, &target.nb_domain),
        (1, &target.nb_computer),
        (4, &target.dns_domain),
        (3, &target.dns_computer),
    ] {
        let v = utf16(v);
        info.extend_from_slice(&id.to_le_bytes());
        info.extend_from_slice(&(v.len() as u16).to_le_bytes());
        info.extend_from_slice(&v);
    }
    info.extend_from_slice(&7u16.to_le_bytes());
    info.extend_from_slice(&8u16.to_le_bytes());
    info.extend_from_slice(&timestamp.to_le_bytes());
    info.extend_from_slice(&[0, 0, 0, 0]);
    let mut m = Vec::with_capacity(56 + name.len() + info.len());
    m.extend_from_slice(SIGNATURE);
    m.extend_from_slice(&2u32.to_le_bytes());
    m.extend_from_slice(&(name.len() as u16).to_le_bytes());
    m.extend_from_slice(&(name.len() as u16).to_le_bytes());
    m.extend_from_slice(&56u32.to_le_bytes());
    m.extend_from_slice(&f.to_le_bytes());
    m.extend_from_slice(&server_challenge);
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(&(info.len() as u16).to_le_bytes());
    m.extend_from_slice(&(info.len() as u16).to_le_bytes());
    m.extend_from_slice(&((56 + name.len()) as u32).to_le_bytes());
    // Version: Windows Server 2019 (10.0.17763), NTLM revision 15.
    m.extend_from_slice(&[10, 0]);
    m.extend_from_slice(&17763u16.to_le_bytes());
    m.extend_from_slice(&[0, 0, 0, 15]);
    m.extend_from_slice(&name);
    m.extend_from_slice(&info);
    m
}

/// Whether an NTLMv2 blob's AV pairs say a MIC was sent.
fn blob_has_mic(blob: &[u8]) -> bool {
    // blob: RespType, HiRespType, 6 reserved, 8 time, 8 client challenge,
    // 4 reserved, then AV pairs.
    let mut off = 28;
    while let (Ok(id), Ok(len)) = (u16_at(blob, off), u16_at(blob, off + 2)) {
        let len = len as usize;
        if id == 0 {
            return false;
        }
        if id == 6 {
            return u32_at(blob, off + 4).is_ok_and(|f| f & 0x2 != 0);
        }
        off += 4 + len;
    }
    false
}

/// The client's own clock, used only when a CHALLENGE carries no
/// timestamp (the client side is a real client, on real time).
#[allow(clippy::disallowed_methods)]
fn filetime_now() -> u64 {
    filetime(std::time::SystemTime::now())
}

/// Signing and sealing state after authentication. Each direction has its
/// own key, RC4 stream and sequence number.
pub struct Session {
    flags: u32,
    /// The exported session key (MS-NLMP 3.1.5.1): SMB derives its own
    /// signing and encryption keys from it (MS-SMB2 3.3.5.5.3).
    exported: [u8; 16],
    /// HMAC-MD5 keyed with each direction's signing key, kept keyed: a
    /// message's checksum clones it instead of hashing the key's two pads
    /// again (two of the ~50 MD5 blocks a WinRM message costs).
    sign_out: HmacMd5,
    sign_in: HmacMd5,
    seal_out: Rc4<U16>,
    seal_in: Rc4<U16>,
    seal_out_key: [u8; 16],
    seal_in_key: [u8; 16],
    seq_out: u32,
    seq_in: u32,
}

impl Session {
    /// `server` picks which direction's keys are "out".
    pub fn new(exported: [u8; 16], flags: u32, server: bool) -> Session {
        const C2S_SIGN: &[u8] = b"session key to client-to-server signing key magic constant\0";
        const S2C_SIGN: &[u8] = b"session key to server-to-client signing key magic constant\0";
        const C2S_SEAL: &[u8] = b"session key to client-to-server sealing key magic constant\0";
        const S2C_SEAL: &[u8] = b"session key to server-to-client sealing key magic constant\0";
        let seal_base: &[u8] = if flags & flags::N128 != 0 {
            &exported
        } else if flags & flags::N56 != 0 {
            &exported[..7]
        } else {
            &exported[..5]
        };
        let c2s_sign = md5(&[&exported, C2S_SIGN]);
        let s2c_sign = md5(&[&exported, S2C_SIGN]);
        let c2s_seal = md5(&[seal_base, C2S_SEAL]);
        let s2c_seal = md5(&[seal_base, S2C_SEAL]);
        let (sign_out, sign_in, seal_out, seal_in) = if server {
            (s2c_sign, c2s_sign, s2c_seal, c2s_seal)
        } else {
            (c2s_sign, s2c_sign, c2s_seal, s2c_seal)
        };
        // HMAC pads a short key with zeros to the block: the same MAC as
        // the 16-byte key, through the constructor that cannot fail.
        let keyed = |k: &[u8; 16]| {
            let mut block = [0u8; 64];
            block[..16].copy_from_slice(k);
            <HmacMd5 as KeyInit>::new(&block.into())
        };
        Session {
            flags,
            exported,
            sign_out: keyed(&sign_out),
            sign_in: keyed(&sign_in),
            seal_out: rc4(&seal_out),
            seal_in: rc4(&seal_in),
            seal_out_key: seal_out,
            seal_in_key: seal_in,
            seq_out: 0,
            seq_in: 0,
        }
    }

    /// The exported session key, for protocols that key their own
    /// signing from it (SMB2's Session.SessionKey).
    pub fn session_key(&self) -> [u8; 16] {
        self.exported
    }

    /// The negotiated flags (whether the client asked for SEAL, KEY_EXCH...).
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// Signs without sealing (SPNEGO's mechListMIC).
    pub fn sign(&mut self, msg: &[u8]) -> [u8; 16] {
        let sig = Self::checksum(
            &self.sign_out,
            self.seq_out,
            msg,
            &mut self.seal_out,
            self.flags & flags::KEY_EXCH != 0,
        );
        self.seq_out = self.seq_out.wrapping_add(1);
        sig
    }

    /// Verifies a signature made by [`Session::sign`] on the other side.
    pub fn verify(&mut self, msg: &[u8], sig: &[u8]) -> Result<(), NtlmError> {
        let want = Self::checksum(
            &self.sign_in,
            self.seq_in,
            msg,
            &mut self.seal_in,
            self.flags & flags::KEY_EXCH != 0,
        );
        if want != sig {
            return Err(NtlmError::BadSignature);
        }
        self.seq_in = self.seq_in.wrapping_add(1);
        Ok(())
    }

    /// Restarts the RC4 streams (sequence numbers go on): what SPNEGO
    /// requires after each side's mechListMIC (MS-SPNG 3.3.5.1).
    pub fn reset_in(&mut self) {
        self.seal_in = rc4(&self.seal_in_key);
    }

    pub fn reset_out(&mut self) {
        self.seal_out = rc4(&self.seal_out_key);
    }

    fn checksum(key: &HmacMd5, seq: u32, msg: &[u8], rc: &mut Rc4<U16>, exch: bool) -> [u8; 16] {
        let mut m = key.clone();
        m.update(&seq.to_le_bytes());
        m.update(msg);
        let mac = m.finalize().into_bytes();
        let mut ck = [0u8; 8];
        ck.copy_from_slice(&mac[..8]);
        if exch {
            rc.apply_keystream(&mut ck);
        }
        let mut sig = [0u8; 16];
        sig[..4].copy_from_slice(&1u32.to_le_bytes());
        sig[4..12].copy_from_slice(&ck);
        sig[12..].copy_from_slice(&seq.to_le_bytes());
        sig
    }

    /// Seals a message: (16-byte signature, sealed bytes).
    pub fn wrap(&mut self, msg: &[u8]) -> ([u8; 16], Vec<u8>) {
        let mut sealed = Vec::with_capacity(msg.len());
        let sig = self.wrap_into(msg, &mut sealed);
        (sig, sealed)
    }

    /// Seals a message onto the end of `out` and returns its signature:
    /// a framing writer puts the sealed bytes straight where they go.
    pub fn wrap_into(&mut self, msg: &[u8], out: &mut Vec<u8>) -> [u8; 16] {
        let at = out.len();
        out.extend_from_slice(msg);
        self.seal_out.apply_keystream(&mut out[at..]);
        let sig = Self::checksum(
            &self.sign_out,
            self.seq_out,
            msg,
            &mut self.seal_out,
            self.flags & flags::KEY_EXCH != 0,
        );
        self.seq_out = self.seq_out.wrapping_add(1);
        sig
    }

    /// Unseals a message and verifies its signature.
    pub fn unwrap(&mut self, sig: &[u8], sealed: &[u8]) -> Result<Vec<u8>, NtlmError> {
        if sig.len() != 16 {
            return Err(NtlmError::Malformed("signature length"));
        }
        let mut msg = sealed.to_vec();
        self.seal_in.apply_keystream(&mut msg);
        let want = Self::checksum(
            &self.sign_in,
            self.seq_in,
            &msg,
            &mut self.seal_in,
            self.flags & flags::KEY_EXCH != 0,
        );
        if want != sig {
            return Err(NtlmError::BadSignature);
        }
        self.seq_in = self.seq_in.wrapping_add(1);
        Ok(msg)
    }
}

/// The client side, for `fakedc check`, the benchmark and tests: raw
/// NTLMSSP tokens (not SPNEGO-wrapped), NTLMv2 with a MIC and key exchange,
/// the way pyspnego answers a WinRM host.
pub struct Client {
    user: String,
    domain: String,
    password: String,
    negotiate: Vec<u8>,
    oem_only: bool,
}

impl Client {
    pub fn new(user: &str, domain: &str, password: &str) -> Client {
        Client {
            user: user.to_string(),
            domain: domain.to_string(),
            password: password.to_string(),
            negotiate: Vec::new(),
            oem_only: false,
        }
    }

    /// Offers only OEM strings in the NEGOTIATE (as wget does) and writes
    /// the AUTHENTICATE's in OEM whenever the CHALLENGE allows it.
    pub fn oem_only(mut self) -> Client {
        self.oem_only = true;
        self
    }

    fn flags(&self) -> u32 {
        if self.oem_only {
            Self::FLAGS & !flags::UNICODE | flags::OEM
        } else {
            Self::FLAGS
        }
    }

    const FLAGS: u32 = flags::UNICODE
        | flags::REQUEST_TARGET
        | flags::SIGN
        | flags::SEAL
        | flags::NTLM
        | flags::ALWAYS_SIGN
        | flags::EXTENDED_SESSIONSECURITY
        | flags::VERSION
        | flags::N128
        | flags::KEY_EXCH
        | flags::N56;

    /// The NEGOTIATE token.
    pub fn negotiate(&mut self) -> Vec<u8> {
        let mut m = SIGNATURE.to_vec();
        m.extend_from_slice(&1u32.to_le_bytes());
        m.extend_from_slice(&self.flags().to_le_bytes());
        m.extend_from_slice(&[0u8; 16]);
        m.extend_from_slice(&[10, 0, 0x63, 0x45, 0, 0, 0, 15]);
        self.negotiate = m.clone();
        m
    }

    /// Answers a CHALLENGE: the AUTHENTICATE token and the client session.
    /// Its strings are in the character set the CHALLENGE chose (the
    /// client's preference when a connectionless one offers both). Without
    /// a [`Client::negotiate`] first this is connectionless NTLM: the MIC
    /// then covers the CHALLENGE and AUTHENTICATE only.
    pub fn authenticate(&mut self, challenge: &[u8]) -> Result<(Vec<u8>, Session), NtlmError> {
        if challenge.get(..8) != Some(SIGNATURE) || u32_at(challenge, 8)? != 2 {
            return Err(NtlmError::Malformed("not a CHALLENGE"));
        }
        let offered = u32_at(challenge, 20)?;
        let charset = if self.oem_only && offered & flags::OEM != 0 {
            Charset::Oem
        } else {
            Charset::from_flags(offered)?
        };
        let f = (offered & self.flags() & !(flags::UNICODE | flags::OEM))
            | charset.flag()
            | flags::NTLM;
        let server_challenge: [u8; 8] = challenge
            .get(24..32)
            .and_then(|s| s.try_into().ok())
            .ok_or(NtlmError::Malformed("truncated"))?;
        let info = field(challenge, 40)?;
        // AV pairs without EOL; remember the timestamp.
        let mut pairs = Vec::new();
        let mut timestamp = filetime_now().to_le_bytes();
        let mut off = 0;
        while let (Ok(id), Ok(len)) = (u16_at(info, off), u16_at(info, off + 2)) {
            let len = len as usize;
            let v = info
                .get(off + 4..off + 4 + len)
                .ok_or(NtlmError::Malformed("AV pair"))?;
            if id == 0 {
                break;
            }
            if id == 7 && len == 8 {
                timestamp.copy_from_slice(v);
            }
            if id != 6 {
                pairs.extend_from_slice(&info[off..off + 4 + len]);
            }
            off += 4 + len;
        }
        pairs.extend_from_slice(&6u16.to_le_bytes());
        pairs.extend_from_slice(&4u16.to_le_bytes());
        pairs.extend_from_slice(&2u32.to_le_bytes());
        pairs.extend_from_slice(&[0, 0, 0, 0]);
        let client_challenge: [u8; 8] = rand::random();
        let mut temp = vec![1u8, 1, 0, 0, 0, 0, 0, 0];
        temp.extend_from_slice(&timestamp);
        temp.extend_from_slice(&client_challenge);
        temp.extend_from_slice(&[0, 0, 0, 0]);
        temp.extend_from_slice(&pairs);
        temp.extend_from_slice(&[0, 0, 0, 0]);
        let key = ntowfv2(&self.password, &self.user, &self.domain);
        let proof = hmac_md5(&key, &[&server_challenge, &temp]);
        let mut nt = proof.to_vec();
        nt.extend_from_slice(&temp);
        let base = hmac_md5(&key, &[&proof]);
        let exported: [u8; 16] = rand::random();
        let mut enc = exported;
        rc4(&base).apply_keystream(&mut enc);
        let (d, u, w) = (
            charset.encode(&self.domain),
            charset.encode(&self.user),
            charset.encode("FAKEDC"),
        );
        let lm = [0u8; 24];
        let mut payload = Vec::new();
        let mut fields = Vec::new();
        for part in [&lm[..], &nt, &d, &u, &w, &enc] {
            fields.push((part.len() as u16, (88 + payload.len()) as u32));
            payload.extend_from_slice(part);
        }
        let mut m = SIGNATURE.to_vec();
        m.extend_from_slice(&3u32.to_le_bytes());
        for (len, at) in fields {
            m.extend_from_slice(&len.to_le_bytes());
            m.extend_from_slice(&len.to_le_bytes());
            m.extend_from_slice(&at.to_le_bytes());
        }
        m.extend_from_slice(&f.to_le_bytes());
        m.extend_from_slice(&[10, 0, 0x63, 0x45, 0, 0, 0, 15]);
        m.extend_from_slice(&[0u8; 16]);
        m.extend_from_slice(&payload);
        let mic = hmac_md5(&exported, &[&self.negotiate, challenge, &m]);
        m[72..88].copy_from_slice(&mic);
        Ok((m, Session::new(exported, f, false)))
    }
}

#[cfg(test)]
mod tests {
    //! MS-NLMP 4.2.4 (NTLMv2 authentication) test vectors.
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
    const FLAGS: u32 = 0xe288_8233 | flags::N128;

    fn temp() -> Vec<u8> {
        let mut t = hex("0101 0000 0000 0000 0000000000000000 aaaaaaaaaaaaaaaa 00000000");
        t.extend(hex(
            "02000c00 44006f006d00610069006e00 01000c00 5300650072007600650072000000 0000",
        ));
        t.extend([0, 0, 0, 0]);
        t
    }

    #[test]
    fn ntowfv2_and_proof() {
        let k = ntowfv2("Password", "User", "Domain");
        assert_eq!(k.to_vec(), hex("0c868a403bfd7a93a3001ef22ef02e3f"));
        let proof = hmac_md5(&k, &[&SERVER_CHALLENGE, &temp()]);
        assert_eq!(proof.to_vec(), hex("68cd0ab851e51c96aabc927bebef6a1c"));
        let base = hmac_md5(&k, &[&proof]);
        assert_eq!(base.to_vec(), hex("8de40ccadbc14a82f15cb0ad0de95ca3"));
        let mut enc = [0x55u8; 16];
        rc4(&base).apply_keystream(&mut enc);
        assert_eq!(enc.to_vec(), hex("c5dad2544fc9799094ce1ce90bc9d03e"));
    }

    #[test]
    fn seal_vector() {
        let plain = utf16("Plaintext");
        let mut client = Session::new([0x55; 16], FLAGS, false);
        let (sig, sealed) = client.wrap(&plain);
        assert_eq!(sealed, hex("54e50165bf1936dc996020c1811b0f06fb5f"));
        assert_eq!(sig.to_vec(), hex("010000007fb38ec5c55d497600000000"));
        let mut server = Session::new([0x55; 16], FLAGS, true);
        assert_eq!(server.unwrap(&sig, &sealed).unwrap(), plain);
        // Replaying the same message fails (sequence number moved on).
        assert_eq!(server.unwrap(&sig, &sealed), Err(NtlmError::BadSignature));
    }

    fn authenticate(user: &str, domain: &str, nt: &[u8], enc_key: &[u8], f: u32) -> Vec<u8> {
        let (d, u) = (utf16(domain), utf16(user));
        let mut payload = Vec::new();
        let base = 88u32;
        let mut fields = Vec::new();
        for part in [&[0u8; 24][..], nt, &d, &u, &[][..], enc_key] {
            fields.push((part.len() as u16, base + payload.len() as u32));
            payload.extend_from_slice(part);
        }
        let mut m = SIGNATURE.to_vec();
        m.extend(3u32.to_le_bytes());
        for (len, off) in fields {
            m.extend(len.to_le_bytes());
            m.extend(len.to_le_bytes());
            m.extend(off.to_le_bytes());
        }
        m.extend(f.to_le_bytes());
        m.extend([0u8; 8 + 16]);
        m.extend(payload);
        m
    }

    fn target() -> TargetInfo {
        TargetInfo {
            nb_domain: "D".into(),
            nb_computer: "S\u{e9}".into(),
            dns_domain: "d".into(),
            dns_computer: "s".into(),
            time: 133_000_000_000_000_000,
        }
    }

    /// A NEGOTIATE with these flags and nothing else.
    fn negotiate(f: u32) -> Vec<u8> {
        let mut neg = SIGNATURE.to_vec();
        neg.extend(1u32.to_le_bytes());
        neg.extend(f.to_le_bytes());
        neg.extend([0u8; 16]);
        neg
    }

    fn challenge_for(s: &mut Server, f: u32) -> Result<Vec<u8>, NtlmError> {
        match s.on_negotiate(&negotiate(f), &target(), SERVER_CHALLENGE, 0)? {
            Step::Challenge(ch) => Ok(ch),
            Step::Done { .. } => panic!("expected a challenge"),
        }
    }

    #[test]
    fn challenge_charset_follows_the_negotiate() {
        // wget: OEM and NTLM only. curl: OEM, request target, NTLM, NTLM2
        // key, always sign. Windows and pyspnego offer Unicode; Firefox
        // offers both.
        for (client, want) in [
            (0x0000_0202, flags::OEM),
            (0x0008_8206, flags::OEM),
            (FLAGS, flags::UNICODE),
            (0x0008_8207, flags::UNICODE),
        ] {
            let ch = challenge_for(&mut Server::default(), client).unwrap();
            let f = u32_at(&ch, 20).unwrap();
            assert_eq!(f & (flags::UNICODE | flags::OEM), want, "{client:#x}");
            // The target name (NetBIOS computer name) in that set: one
            // byte per character in OEM (é is 0x82 in CP437), UTF-16 else.
            let name = field(&ch, 12).unwrap();
            if want == flags::OEM {
                assert_eq!(name, b"S\x82", "{client:#x}");
            } else {
                assert_eq!(name, utf16("S\u{e9}"), "{client:#x}");
            }
            // The AV pairs are Unicode whatever the set.
            let info = field(&ch, 40).unwrap();
            assert_eq!(&info[..4], [2, 0, 2, 0]);
            assert_eq!(&info[4..6], utf16("D"));
        }
        // curl's: extended session security, no key exchange offered.
        let ch = challenge_for(&mut Server::default(), 0x0008_8206).unwrap();
        let f = u32_at(&ch, 20).unwrap();
        assert_ne!(f & flags::EXTENDED_SESSIONSECURITY, 0);
        assert_eq!(f & flags::KEY_EXCH, 0);
        // Neither set offered: SEC_E_INVALID_TOKEN.
        assert!(matches!(
            challenge_for(&mut Server::default(), 0x0008_8204),
            Err(NtlmError::Malformed(_))
        ));
        // Signing and sealing only with extended session security.
        let f = challenge_for(&mut Server::default(), 0x0000_0233).unwrap();
        assert_eq!(u32_at(&f, 20).unwrap() & (flags::SIGN | flags::SEAL), 0);
    }

    /// LMOWFv1 (MS-NLMP 3.3.1), for the vectors only: the server never
    /// checks LM responses.
    fn lmowfv1(password: &str) -> [u8; 16] {
        let mut pw = [0u8; 14];
        for (d, c) in pw.iter_mut().zip(password.to_uppercase().bytes()) {
            *d = c;
        }
        let mut out = [0u8; 16];
        for (half, chunk) in out.chunks_exact_mut(8).enumerate() {
            let mut k7 = [0u8; 7];
            k7.copy_from_slice(&pw[7 * half..7 * half + 7]);
            chunk.copy_from_slice(&des::encrypt_block(des::key56(&k7), *b"KGS!@#$%"));
        }
        out
    }

    #[test]
    fn ntlmv1_vectors() {
        // MS-NLMP 4.2.2 (NTLMv1) and 4.2.3 (NTLMv1 with client challenge).
        assert_eq!(
            lmowfv1("Password").to_vec(),
            hex("e52cac67419a9a224a3b108f3fa6cb6d")
        );
        let nt = ntowfv1("Password");
        assert_eq!(nt.to_vec(), hex("a4f49c406510bdcab6824ee7c30fd852"));
        assert_eq!(
            des::desl(&nt, SERVER_CHALLENGE).to_vec(),
            hex("67c43011f30298a2ad35ece64f16331c44bdbed927841f94")
        );
        assert_eq!(
            des::desl(&lmowfv1("Password"), SERVER_CHALLENGE).to_vec(),
            hex("98def7b87f88aa5dafe2df779688a172def11c7d5ccdef13")
        );
        let base: [u8; 16] = Md4::digest(nt).into();
        assert_eq!(base.to_vec(), hex("d87262b0cde4b1cb7499becccdf10784"));
        let mut enc = [0x55u8; 16];
        rc4(&base).apply_keystream(&mut enc);
        assert_eq!(enc.to_vec(), hex("518822b1b3f350c8958682ecbb3e3cb7"));
        // 4.2.3: the server verifies, and derives the key exchange key.
        let mut s = Server {
            server_challenge: SERVER_CHALLENGE,
            ..Default::default()
        };
        let lm = hex("aaaaaaaaaaaaaaaa 00000000000000000000000000000000");
        let nt = hex("7537f803ae367128ca458204bde7caf81e97ed2683267232");
        let kx = s
            .ntlmv1(&nt, &lm, "Password", flags::EXTENDED_SESSIONSECURITY)
            .unwrap();
        assert_eq!(kx.to_vec(), hex("eb93429a8bd952f8b89c55b87f475edc"));
        assert_eq!(
            s.ntlmv1(&nt, &lm, "password", flags::EXTENDED_SESSIONSECURITY),
            Err(NtlmError::BadCredentials)
        );
        s.server_challenge = [0; 8];
        assert_eq!(
            s.ntlmv1(&nt, &lm, "Password", flags::EXTENDED_SESSIONSECURITY),
            Err(NtlmError::BadCredentials)
        );
    }

    /// An AUTHENTICATE shaped as wget writes it: LM and NT responses,
    /// strings as given, no session key (its offset past the end), flags
    /// claiming Unicode whatever the strings are; `header` 64, or 52 for a
    /// legacy message without the session key and flags fields.
    fn v1_authenticate(header: usize, domain: &[u8], user: &[u8], ws: &[u8], nt: &[u8]) -> Vec<u8> {
        let lm = [0x11u8; 24];
        let mut payload = Vec::new();
        let mut fields = Vec::new();
        for part in [&lm[..], nt, domain, user, ws] {
            fields.push((part.len() as u16, (header + payload.len()) as u32));
            payload.extend_from_slice(part);
        }
        let mut m = SIGNATURE.to_vec();
        m.extend(3u32.to_le_bytes());
        for (len, off) in fields {
            m.extend(len.to_le_bytes());
            m.extend(len.to_le_bytes());
            m.extend(off.to_le_bytes());
        }
        if header == 64 {
            m.extend(0u16.to_le_bytes());
            m.extend(0u16.to_le_bytes());
            m.extend(0xffffu32.to_le_bytes());
            m.extend(0x0000_8201u32.to_le_bytes());
        }
        assert_eq!(m.len(), header);
        m.extend(payload);
        m
    }

    #[test]
    fn oem_authenticate_is_decoded_and_its_ntlmv1_response_checked() {
        let nt = hex("67c43011f30298a2ad35ece64f16331c44bdbed927841f94");
        let seen = std::cell::RefCell::new(Vec::new());
        let lookup = |u: &str| {
            seen.borrow_mut().push(u.to_string());
            (u == "User" || u == "Jos\u{e9}").then(|| "Password".to_string())
        };
        for header in [64, 52] {
            let mut s = Server::default();
            let ch = challenge_for(&mut s, 0x0000_0202).unwrap();
            assert_eq!(u32_at(&ch, 20).unwrap() & flags::UNICODE, 0);
            // 0x82 is é in CP437; the flags' UNICODE claim is not believed.
            for (user, want) in [(&b"User"[..], "User"), (b"Jos\x82", "Jos\u{e9}")] {
                let auth = v1_authenticate(header, b"Domain", user, b"COMPUTER", &nt);
                match s.on_authenticate(&auth, &lookup) {
                    Ok(Step::Done {
                        user,
                        domain,
                        workstation,
                        ..
                    }) => {
                        assert_eq!(user, want);
                        assert_eq!(domain, "Domain");
                        assert_eq!(workstation, "COMPUTER");
                    }
                    Ok(Step::Challenge(_)) => panic!("unexpected challenge"),
                    Err(e) => panic!("{header} {want}: {e}"),
                }
            }
            let wrong = v1_authenticate(header, b"", b"User", b"", &[0x42; 24]);
            assert_eq!(
                s.on_authenticate(&wrong, &lookup).err(),
                Some(NtlmError::BadCredentials)
            );
            // No NT response (LM only, or anonymous): refused.
            let lm_only = v1_authenticate(header, b"", b"User", b"", b"");
            assert_eq!(
                s.on_authenticate(&lm_only, &lookup).err(),
                Some(NtlmError::Unsupported)
            );
            for n in 0..wrong.len() {
                let _ = s.on_authenticate(&wrong[..n], &lookup);
            }
        }
        assert!(seen.borrow().iter().any(|u| u == "Jos\u{e9}"));
        // After a Unicode CHALLENGE the strings are UTF-16: wget's
        // 13-byte name is what used to be refused.
        let mut s = Server::default();
        challenge_for(&mut s, FLAGS).unwrap();
        let auth = v1_authenticate(64, b"", b"Administrator", b"", &nt);
        assert_eq!(
            s.on_authenticate(&auth, &lookup).err(),
            Some(NtlmError::Malformed("odd UTF-16 length"))
        );
    }

    #[test]
    fn wget_captured_handshake() {
        // GNU Wget 1.21.3 (Debian 12) answering a CHALLENGE whose server
        // challenge is 00 01 .. 07, for Administrator / P@ssw0rd!.
        let neg = hex("4e544c4d53535000010000000202000000000000200000000000000020000000");
        let auth = hex(
            "4e544c4d5353500003000000180018004d000000180018006500000000000000
             400000000d000d0040000000000000004d000000000000007d00000001820000
             41646d696e6973747261746f72d751705c37154896c280020128ede22f71f865
             51aa580e3e2e7d1158ddf8bdff08086f96e56b3df4133755e880fe0bb3",
        );
        let lookup = |u: &str| {
            u.eq_ignore_ascii_case("administrator")
                .then(|| "P@ssw0rd!".to_string())
        };
        let mut s = Server::default();
        let challenge = [0, 1, 2, 3, 4, 5, 6, 7];
        let Step::Challenge(ch) = s.on_negotiate(&neg, &target(), challenge, 0).unwrap() else {
            panic!("expected a challenge")
        };
        assert_eq!(u32_at(&ch, 20).unwrap() & 3, flags::OEM);
        match s.on_authenticate(&auth, &lookup) {
            Ok(Step::Done { user, domain, .. }) => {
                assert_eq!(user, "Administrator");
                assert_eq!(domain, "");
            }
            _ => panic!("wget's AUTHENTICATE refused"),
        }
        let bad = |_: &str| Some("P@ssw0rd".to_string());
        assert_eq!(
            s.on_authenticate(&auth, &bad).err(),
            Some(NtlmError::BadCredentials)
        );
    }

    #[test]
    fn oem_handshake_with_our_client() {
        let lookup = |u: &str| {
            ["administrator", "j\u{f6}rg"]
                .contains(&u.to_lowercase().as_str())
                .then(|| "P@ssw0rd!".to_string())
        };
        // ö is 0x94 in CP437.
        for (user, oem_user) in [
            ("Administrator", &b"Administrator"[..]),
            ("J\u{f6}rg", b"J\x94rg"),
        ] {
            let mut c = Client::new(user, "LAB", "P@ssw0rd!").oem_only();
            let neg = c.negotiate();
            assert_eq!(u32_at(&neg, 12).unwrap() & 3, flags::OEM);
            let mut s = Server::default();
            let Step::Challenge(ch) = s.accept(&neg, &target(), &lookup).unwrap() else {
                panic!("challenge expected")
            };
            assert_eq!(u32_at(&ch, 20).unwrap() & 3, flags::OEM);
            let (auth, mut cs) = c.authenticate(&ch).unwrap();
            assert_eq!(field(&auth, 28).unwrap(), b"LAB");
            assert_eq!(field(&auth, 36).unwrap(), oem_user);
            assert_eq!(u32_at(&auth, 60).unwrap() & 3, flags::OEM);
            let Ok(Step::Done {
                user: got,
                domain,
                workstation,
                session: mut ss,
            }) = s.accept(&auth, &target(), &lookup)
            else {
                panic!("{user}: OEM handshake refused")
            };
            assert_eq!((got.as_str(), domain.as_str()), (user, "LAB"));
            assert_eq!(workstation, "FAKEDC");
            let (sig, sealed) = cs.wrap(b"sealed after OEM");
            assert_eq!(ss.unwrap(&sig, &sealed).unwrap(), b"sealed after OEM");
            let (sig, sealed) = ss.wrap(b"and back");
            assert_eq!(cs.unwrap(&sig, &sealed).unwrap(), b"and back");
        }
        // The MIC still covers the OEM NEGOTIATE and AUTHENTICATE.
        let mut c = Client::new("Administrator", "LAB", "P@ssw0rd!").oem_only();
        let mut s = Server::default();
        let Step::Challenge(ch) = s.accept(&c.negotiate(), &target(), &lookup).unwrap() else {
            panic!("challenge expected")
        };
        let (mut auth, _) = c.authenticate(&ch).unwrap();
        auth[80] ^= 1;
        assert_eq!(
            s.accept(&auth, &target(), &lookup).err(),
            Some(NtlmError::BadMic)
        );
        // Wrong password.
        let mut c = Client::new("Administrator", "LAB", "nope").oem_only();
        let mut s = Server::default();
        let Step::Challenge(ch) = s.accept(&c.negotiate(), &target(), &lookup).unwrap() else {
            panic!("challenge expected")
        };
        let (auth, _) = c.authenticate(&ch).unwrap();
        assert_eq!(
            s.accept(&auth, &target(), &lookup).err(),
            Some(NtlmError::BadCredentials)
        );
    }

    #[test]
    fn connectionless_authenticate_chooses_the_charset() {
        let lookup = |u: &str| (u == "Administrator").then(|| "P@ssw0rd!".to_string());
        for oem in [false, true] {
            let mut s = Server::default();
            let ch = s.connectionless_with(&target(), SERVER_CHALLENGE, 0);
            let f = u32_at(&ch, 20).unwrap();
            assert_eq!(f & 3, flags::UNICODE | flags::OEM);
            assert_ne!(f & flags::KEY_EXCH, 0);
            assert_eq!(field(&ch, 12).unwrap(), utf16("S\u{e9}"));
            let mut c = Client::new("Administrator", "", "P@ssw0rd!");
            if oem {
                c = c.oem_only();
            }
            let (auth, mut cs) = c.authenticate(&ch).unwrap();
            let want = if oem { flags::OEM } else { flags::UNICODE };
            assert_eq!(u32_at(&auth, 60).unwrap() & 3, want);
            let Ok(Step::Done {
                user,
                session: mut ss,
                ..
            }) = s.accept(&auth, &target(), &lookup)
            else {
                panic!("connectionless (oem {oem}) refused")
            };
            assert_eq!(user, "Administrator");
            let (sig, sealed) = cs.wrap(b"x");
            assert_eq!(ss.unwrap(&sig, &sealed).unwrap(), b"x");
            // An AUTHENTICATE naming neither set is an invalid token.
            let mut bad = auth.clone();
            bad[60] &= !3;
            assert!(matches!(
                s.accept(&bad, &target(), &lookup),
                Err(NtlmError::Malformed(_))
            ));
        }
    }

    #[test]
    fn full_handshake_checks_the_password() {
        let target = TargetInfo {
            nb_domain: "Domain".into(),
            nb_computer: "Server".into(),
            dns_domain: "d".into(),
            dns_computer: "s".into(),
            time: 133_000_000_000_000_000,
        };
        let mut neg = SIGNATURE.to_vec();
        neg.extend(1u32.to_le_bytes());
        neg.extend(FLAGS.to_le_bytes());
        neg.extend([0u8; 16]);
        let lookup = |u: &str| (u.eq_ignore_ascii_case("user")).then(|| "Password".to_string());
        let mut s = Server::default();
        let Step::Challenge(ch) = s.on_negotiate(&neg, &target, SERVER_CHALLENGE, 0).unwrap()
        else {
            panic!("expected a challenge")
        };
        assert_eq!(&ch[24..32], &SERVER_CHALLENGE);
        let mut nt = hex("68cd0ab851e51c96aabc927bebef6a1c");
        nt.extend(temp());
        let auth = authenticate(
            "User",
            "Domain",
            &nt,
            &hex("c5dad2544fc9799094ce1ce90bc9d03e"),
            FLAGS,
        );
        match s.on_authenticate(&auth, &lookup).unwrap() {
            Step::Done { user, .. } => assert_eq!(user, "User"),
            Step::Challenge(_) => panic!("expected done"),
        }
        let wrong = |_: &str| Some("nope".to_string());
        assert_eq!(
            s.on_authenticate(&auth, &wrong).err(),
            Some(NtlmError::BadCredentials)
        );
        // Garbage never panics.
        for n in 0..auth.len() {
            let _ = s.accept(&auth[..n], &target, &lookup);
        }
        assert!(s.accept(b"garbage", &target, &lookup).is_err());
    }

    #[test]
    fn client_and_server_agree() {
        let target = TargetInfo {
            nb_domain: "HV01".into(),
            nb_computer: "HV01".into(),
            dns_domain: "contoso.test".into(),
            dns_computer: "hv01.contoso.test".into(),
            time: 133_000_000_000_000_000,
        };
        let lookup = |u: &str| {
            u.eq_ignore_ascii_case("administrator")
                .then(|| "P@ssw0rd!".to_string())
        };
        for (pass, ok) in [("P@ssw0rd!", true), ("wrong", false)] {
            let mut c = Client::new("Administrator", "", pass);
            let mut s = Server::default();
            let Step::Challenge(ch) = s.accept(&c.negotiate(), &target, &lookup).unwrap() else {
                panic!("challenge expected")
            };
            let (auth, mut cs) = c.authenticate(&ch).unwrap();
            match s.accept(&auth, &target, &lookup) {
                Ok(Step::Done {
                    session: mut ss, ..
                }) => {
                    assert!(ok);
                    for msg in [&b"hello"[..], b"second message", b""] {
                        let (sig, sealed) = cs.wrap(msg);
                        assert_eq!(ss.unwrap(&sig, &sealed).unwrap(), msg);
                        let (sig, sealed) = ss.wrap(msg);
                        assert_eq!(cs.unwrap(&sig, &sealed).unwrap(), msg);
                    }
                }
                Ok(Step::Challenge(_)) => panic!("unexpected challenge"),
                Err(e) => {
                    assert!(!ok);
                    assert_eq!(e, NtlmError::BadCredentials);
                }
            }
        }
        // A tampered MIC is refused.
        let mut c = Client::new("Administrator", "", "P@ssw0rd!");
        let mut s = Server::default();
        let Step::Challenge(ch) = s.accept(&c.negotiate(), &target, &lookup).unwrap() else {
            panic!("challenge expected")
        };
        let (mut auth, _) = c.authenticate(&ch).unwrap();
        auth[80] ^= 1;
        assert_eq!(
            s.accept(&auth, &target, &lookup).err(),
            Some(NtlmError::BadMic)
        );
    }
}
