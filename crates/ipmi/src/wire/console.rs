//! The remote-console (client) side of IPMI over LAN, sans-IO: it builds the datagrams
//! a console sends and checks the ones a BMC answers, so that tests, the `fakedc check`
//! probe and load generators can drive any BMC (ours or a real one) over any socket.
//!
//! * [`Console`]: an RMCP+ session. `start()` gives the Open Session Request; feed each
//!   reply to `handle()`, which gives the next datagram (RAKP1, RAKP3) until it reports
//!   [`HandshakeStep::Established`]. Then `request()` seals an IPMI request and
//!   `response()` opens and checks the answer. It verifies the BMC's RAKP2 HMAC (a wrong
//!   password shows up there) and RAKP4 ICV, and that the BMC echoed the proposed suite.
//! * [`Lan15Console`]: an IPMI 1.5 session (Get Session Challenge, Activate Session,
//!   then MD5 / straight-password / none authcodes on every message).
//! * [`presession_request`] and [`parse_presession_response`]: the unauthenticated
//!   requests sent before any session (Get Channel Auth Capabilities, Get Channel
//!   Cipher Suites), in either framing.
//!
//! The console does not enforce a window on the BMC's sequence numbers: a probe talks
//! request/response, and checking the integrity code already proves the sender.

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use super::{
    app_cmd, netfn as nf, next_session_seq, AlgorithmProposal, AuthType, Datagram, IpmiMessage,
    Lan15Header, Lan15Packet, OpenSessionRequest, OpenSessionResponse, PayloadKind, PayloadType,
    Privilege, Rakp1, Rakp2, Rakp3, Rakp4, RmcpPlusPacket, RmcpStatus, BMC_ADDR,
    REMOTE_CONSOLE_ADDR, ROLE_NAME_ONLY_LOOKUP,
};
use crate::crypto::{self, CipherSuite, CryptoError, RakpParams, SessionKeys};

/// Why the console could not go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsoleError {
    /// The BMC's datagram does not decode.
    #[error("malformed datagram from BMC: {0}")]
    Wire(#[from] super::Error),
    /// Integrity or decryption failure on a session packet.
    #[error("session protection failed: {0}")]
    Crypto(#[from] CryptoError),
    /// The suite ID is not one this crate implements.
    #[error("cipher suite {0} not supported")]
    UnsupportedSuite(u8),
    /// User name longer than 16 bytes or password longer than 20 (16 for IPMI 1.5).
    #[error("user name or password too long")]
    CredentialTooLong,
    /// The BMC refused a handshake step with an RMCP+ status.
    #[error("BMC refused {step} with status {status:?}")]
    Refused {
        /// Which step.
        step: &'static str,
        /// The status code.
        status: RmcpStatus,
    },
    /// The BMC refused an IPMI 1.5 handshake command with a completion code.
    #[error("BMC refused {step} with completion code {code:#04x}")]
    CompletionCode {
        /// Which step.
        step: &'static str,
        /// Completion code.
        code: u8,
    },
    /// The BMC accepted different algorithms than proposed (a suite substitution).
    #[error("BMC answered with algorithms other than proposed")]
    SuiteMismatch,
    /// RAKP2 key exchange auth code mismatch: almost always a wrong password.
    #[error("RAKP2 HMAC mismatch (wrong password?)")]
    Rakp2Mismatch,
    /// RAKP4 integrity check value mismatch.
    #[error("RAKP4 integrity check value mismatch")]
    Rakp4Mismatch,
    /// IPMI 1.5 authcode on the BMC's packet does not verify.
    #[error("BMC authcode mismatch")]
    BadAuthCode,
    /// A datagram that does not belong in the current step.
    #[error("unexpected datagram: {0}")]
    Unexpected(&'static str),
    /// `request`/`response` before the session is established, or after a failure.
    #[error("session not established")]
    NotEstablished,
}

/// What to do after feeding a handshake reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeStep {
    /// Send this datagram and wait for the next reply.
    Send(Vec<u8>),
    /// The session is up; use `request` / `response`.
    Established,
}

/// A decoded IPMI response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleResponse {
    /// Network function (odd).
    pub netfn: u8,
    /// Command.
    pub cmd: u8,
    /// The requester sequence number it answers.
    pub rq_seq: u8,
    /// Completion code.
    pub completion_code: u8,
    /// Data after the completion code.
    pub data: Vec<u8>,
}

impl ConsoleResponse {
    fn from_message(m: &IpmiMessage<'_>) -> Result<Self, ConsoleError> {
        if !m.is_response() {
            return Err(ConsoleError::Unexpected(
                "a request where a response was expected",
            ));
        }
        let (&cc, data) = m
            .data
            .split_first()
            .ok_or(ConsoleError::Unexpected("response without completion code"))?;
        Ok(Self {
            netfn: m.netfn,
            cmd: m.cmd,
            rq_seq: m.seq,
            completion_code: cc,
            data: data.to_vec(),
        })
    }
}

fn request_message(netfn: u8, cmd: u8, rq_seq: u8, data: &[u8]) -> Vec<u8> {
    IpmiMessage {
        dst_addr: BMC_ADDR,
        netfn,
        dst_lun: 0,
        src_addr: REMOTE_CONSOLE_ADDR,
        seq: rq_seq & 0x3F,
        src_lun: 0,
        cmd,
        data,
    }
    .to_vec()
}

/// An unauthenticated pre-session request, in IPMI 1.5 framing (`lan15`, as ipmitool
/// sends Get Channel Auth Capabilities) or RMCP+ payload 00h with session ID 0 (as it
/// sends Get Channel Cipher Suites).
pub fn presession_request(lan15: bool, netfn: u8, cmd: u8, rq_seq: u8, data: &[u8]) -> Vec<u8> {
    let msg = request_message(netfn, cmd, rq_seq, data);
    let mut out = Vec::with_capacity(30 + msg.len());
    // Request messages from a console are small; neither length field can overflow.
    let _ = if lan15 {
        Lan15Packet {
            header: Lan15Header {
                auth_type: AuthType::None,
                session_seq: 0,
                session_id: 0,
                auth_code: None,
            },
            message: &msg,
        }
        .emit(&mut out)
    } else {
        RmcpPlusPacket::emit_plain(
            PayloadType::plain(PayloadKind::Ipmi),
            None,
            0,
            0,
            &msg,
            &mut out,
        )
    };
    out
}

/// Decodes an unauthenticated (pre-session) response in either framing.
pub fn parse_presession_response(datagram: &[u8]) -> Result<ConsoleResponse, ConsoleError> {
    match super::parse(datagram)? {
        Datagram::Lan15(p) if p.header.auth_type == AuthType::None => {
            ConsoleResponse::from_message(&IpmiMessage::parse(p.message)?)
        }
        Datagram::RmcpPlus(p) if p.header.payload_type == PayloadType::plain(PayloadKind::Ipmi) => {
            ConsoleResponse::from_message(&IpmiMessage::parse(p.payload)?)
        }
        _ => Err(ConsoleError::Unexpected(
            "not an unauthenticated IPMI response",
        )),
    }
}

fn next_rq_seq(seq: &mut u8) -> u8 {
    let v = *seq;
    *seq = (*seq + 1) & 0x3F;
    v
}

#[derive(Debug, Clone)]
enum ConsoleState {
    Start,
    AwaitOpenSession,
    AwaitRakp2,
    AwaitRakp4 { sik: Vec<u8> },
    Established,
    Failed,
}

/// A sans-IO RMCP+ remote console.
pub struct Console {
    username: Vec<u8>,
    password: Vec<u8>,
    bmc_key: Option<Vec<u8>>,
    suite: CipherSuite,
    privilege: Privilege,
    name_only: bool,
    rng: StdRng,
    tag: u8,
    console_id: u32,
    bmc_id: u32,
    granted_max: u8,
    console_random: [u8; 16],
    bmc_random: [u8; 16],
    bmc_guid: [u8; 16],
    state: ConsoleState,
    keys: Option<SessionKeys>,
    out_seq: u32,
    rq_seq: u8,
}

impl core::fmt::Debug for Console {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Console")
            .field("suite", &self.suite.id)
            .field("state", &self.state_name())
            .field("console_id", &self.console_id)
            .field("bmc_id", &self.bmc_id)
            .finish_non_exhaustive()
    }
}

impl Console {
    /// A console for `username`/`password` proposing `suite_id` and asking for
    /// `privilege` (sent as the RAKP1 role, with the name-only lookup bit set as
    /// ipmitool and FreeIPMI do).
    pub fn new(
        username: &[u8],
        password: &[u8],
        suite_id: u8,
        privilege: Privilege,
    ) -> Result<Self, ConsoleError> {
        Self::with_rng(
            username,
            password,
            suite_id,
            privilege,
            StdRng::from_entropy(),
        )
    }

    /// Like [`Self::new`] with deterministic randomness (tests, reproducible load).
    pub fn with_seed(
        username: &[u8],
        password: &[u8],
        suite_id: u8,
        privilege: Privilege,
        seed: u64,
    ) -> Result<Self, ConsoleError> {
        Self::with_rng(
            username,
            password,
            suite_id,
            privilege,
            StdRng::seed_from_u64(seed),
        )
    }

    fn with_rng(
        username: &[u8],
        password: &[u8],
        suite_id: u8,
        privilege: Privilege,
        mut rng: StdRng,
    ) -> Result<Self, ConsoleError> {
        let suite = CipherSuite::by_id(suite_id).ok_or(ConsoleError::UnsupportedSuite(suite_id))?;
        if username.len() > 16 || password.len() > crypto::MAX_PASSWORD_LEN {
            return Err(ConsoleError::CredentialTooLong);
        }
        let mut console_id = rng.next_u32();
        if console_id == 0 {
            console_id = 1;
        }
        Ok(Self {
            username: username.to_vec(),
            password: password.to_vec(),
            bmc_key: None,
            suite,
            privilege,
            name_only: true,
            rng,
            tag: 0,
            console_id,
            bmc_id: 0,
            granted_max: 0,
            console_random: [0; 16],
            bmc_random: [0; 16],
            bmc_guid: [0; 16],
            state: ConsoleState::Start,
            keys: None,
            out_seq: 1,
            rq_seq: 1,
        })
    }

    /// Uses username+privilege lookup (role bit 4 clear) instead of name-only lookup.
    pub fn set_name_only_lookup(&mut self, name_only: bool) {
        self.name_only = name_only;
    }

    /// Sets the BMC key Kg for BMCs configured with one.
    pub fn set_bmc_key(&mut self, key: Option<Vec<u8>>) {
        self.bmc_key = key;
    }

    /// The suite being negotiated.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// Our session ID (what the BMC puts in its packets).
    pub fn console_session_id(&self) -> u32 {
        self.console_id
    }

    /// The BMC's session ID (0 until the Open Session Response).
    pub fn bmc_session_id(&self) -> u32 {
        self.bmc_id
    }

    /// The maximum privilege the BMC granted in its Open Session Response.
    pub fn granted_max_privilege(&self) -> u8 {
        self.granted_max
    }

    /// The session keys once established.
    pub fn keys(&self) -> Option<&SessionKeys> {
        self.keys.as_ref()
    }

    /// True once RAKP4 verified.
    pub fn is_established(&self) -> bool {
        matches!(self.state, ConsoleState::Established)
    }

    fn state_name(&self) -> &'static str {
        match self.state {
            ConsoleState::Start => "start",
            ConsoleState::AwaitOpenSession => "await-open-session",
            ConsoleState::AwaitRakp2 => "await-rakp2",
            ConsoleState::AwaitRakp4 { .. } => "await-rakp4",
            ConsoleState::Established => "established",
            ConsoleState::Failed => "failed",
        }
    }

    fn role(&self) -> u8 {
        self.privilege.as_u8()
            | if self.name_only {
                ROLE_NAME_ONLY_LOOKUP
            } else {
                0
            }
    }

    /// The Open Session Request datagram. Calling it again restarts the handshake.
    pub fn start(&mut self) -> Vec<u8> {
        let rq = OpenSessionRequest {
            tag: self.tag,
            requested_max_privilege: 0,
            console_session_id: self.console_id,
            algorithms: AlgorithmProposal {
                auth: self.suite.auth,
                integrity: self.suite.integrity,
                confidentiality: self.suite.confidentiality,
            },
        };
        let mut body = Vec::with_capacity(OpenSessionRequest::LEN);
        rq.emit(&mut body);
        self.state = ConsoleState::AwaitOpenSession;
        plain(PayloadKind::OpenSessionRequest, &body)
    }

    fn fail(&mut self, e: ConsoleError) -> ConsoleError {
        self.state = ConsoleState::Failed;
        e
    }

    /// Feeds one handshake reply from the BMC; returns the next datagram to send or
    /// `Established`. Any error leaves the console failed (call `start` to retry).
    pub fn handle(&mut self, datagram: &[u8]) -> Result<HandshakeStep, ConsoleError> {
        let r = self.handle_inner(datagram);
        r.map_err(|e| self.fail(e))
    }

    fn handle_inner(&mut self, datagram: &[u8]) -> Result<HandshakeStep, ConsoleError> {
        let Datagram::RmcpPlus(p) = super::parse(datagram)? else {
            return Err(ConsoleError::Unexpected("not an RMCP+ datagram"));
        };
        let kind = p.header.payload_type.kind;
        match (&self.state, kind) {
            (ConsoleState::AwaitOpenSession, PayloadKind::OpenSessionResponse) => {
                let r = OpenSessionResponse::parse(p.payload)?;
                if r.status != RmcpStatus::NoError {
                    return Err(ConsoleError::Refused {
                        step: "Open Session",
                        status: r.status,
                    });
                }
                if r.console_session_id != self.console_id {
                    return Err(ConsoleError::Unexpected(
                        "Open Session Response for another console ID",
                    ));
                }
                let (bmc_id, algs) = r
                    .accepted
                    .ok_or(ConsoleError::Unexpected("short Open Session Response"))?;
                if algs.auth != self.suite.auth
                    || algs.integrity != self.suite.integrity
                    || algs.confidentiality != self.suite.confidentiality
                {
                    return Err(ConsoleError::SuiteMismatch);
                }
                self.bmc_id = bmc_id;
                self.granted_max = r.max_privilege;
                self.rng.fill_bytes(&mut self.console_random);
                let m = Rakp1 {
                    tag: self.tag,
                    bmc_session_id: bmc_id,
                    console_random: self.console_random,
                    role: self.role(),
                    name_len: self.username.len() as u8,
                    username: &self.username,
                };
                let mut body = Vec::with_capacity(Rakp1::HEADER_LEN + self.username.len());
                m.emit(&mut body);
                self.state = ConsoleState::AwaitRakp2;
                Ok(HandshakeStep::Send(plain(PayloadKind::Rakp1, &body)))
            }
            (ConsoleState::AwaitRakp2, PayloadKind::Rakp2) => {
                let r = Rakp2::parse(p.payload)?;
                if r.status != RmcpStatus::NoError {
                    return Err(ConsoleError::Refused {
                        step: "RAKP1",
                        status: r.status,
                    });
                }
                let b = r.body.ok_or(ConsoleError::Unexpected("short RAKP2"))?;
                self.bmc_random = b.bmc_random;
                self.bmc_guid = b.bmc_guid;
                let params = self.params();
                let expected = params.rakp2_auth_code(self.suite.auth, &self.password);
                if !crypto::ct_eq(&expected, b.auth_code) {
                    return Err(ConsoleError::Rakp2Mismatch);
                }
                let code = params.rakp3_auth_code(self.suite.auth, &self.password);
                let sik = params.sik(self.suite.auth, &self.password, self.bmc_key.as_deref());
                let m = Rakp3 {
                    tag: self.tag,
                    status: RmcpStatus::NoError,
                    bmc_session_id: self.bmc_id,
                    auth_code: &code,
                };
                let mut body = Vec::with_capacity(8 + code.len());
                m.emit(&mut body);
                self.state = ConsoleState::AwaitRakp4 { sik };
                Ok(HandshakeStep::Send(plain(PayloadKind::Rakp3, &body)))
            }
            (ConsoleState::AwaitRakp4 { sik }, PayloadKind::Rakp4) => {
                let r = Rakp4::parse(p.payload)?;
                if r.status != RmcpStatus::NoError {
                    return Err(ConsoleError::Refused {
                        step: "RAKP3",
                        status: r.status,
                    });
                }
                let expected = self.params().rakp4_icv(self.suite.auth, sik);
                if !crypto::ct_eq(&expected, r.icv) {
                    return Err(ConsoleError::Rakp4Mismatch);
                }
                self.keys = Some(SessionKeys::derive(self.suite, sik, &self.password));
                self.state = ConsoleState::Established;
                Ok(HandshakeStep::Established)
            }
            _ => Err(ConsoleError::Unexpected("handshake message out of order")),
        }
    }

    /// A RAKP3 carrying an error status (what a console sends after a RAKP2 mismatch)
    /// or, with `corrupt_hmac`, a deliberately wrong auth code. For refusal tests.
    pub fn rakp3_variant(&self, status: RmcpStatus, corrupt_hmac: bool) -> Vec<u8> {
        let mut code = self
            .params()
            .rakp3_auth_code(self.suite.auth, &self.password);
        if corrupt_hmac {
            if let Some(b) = code.first_mut() {
                *b ^= 0xFF;
            }
        }
        let m = Rakp3 {
            tag: self.tag,
            status,
            bmc_session_id: self.bmc_id,
            auth_code: if status == RmcpStatus::NoError {
                &code
            } else {
                &[]
            },
        };
        let mut body = Vec::new();
        m.emit(&mut body);
        plain(PayloadKind::Rakp3, &body)
    }

    fn params(&self) -> RakpParams<'_> {
        RakpParams {
            console_session_id: self.console_id,
            bmc_session_id: self.bmc_id,
            console_random: &self.console_random,
            bmc_random: &self.bmc_random,
            bmc_guid: &self.bmc_guid,
            role: self.role(),
            username: &self.username,
        }
    }

    /// Seals an IPMI request (rsAddr 20h, rqAddr 81h) for the established session and
    /// returns the datagram. The requester sequence number advances each call; the
    /// response's `rq_seq` echoes it.
    pub fn request(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, ConsoleError> {
        let msg = request_message(netfn, cmd, next_rq_seq(&mut self.rq_seq), data);
        self.seal_payload(PayloadKind::Ipmi, &msg)
    }

    /// The requester sequence number the last [`Console::request`] used, which its
    /// response echoes; a retransmission gets a new one, so a late answer to an
    /// earlier try can be told apart.
    pub fn last_rq_seq(&self) -> u8 {
        self.rq_seq.wrapping_sub(1) & 0x3F
    }

    /// Seals any payload (e.g. SOL, [`PayloadKind::Sol`]) for the established session.
    pub fn seal_payload(
        &mut self,
        kind: PayloadKind,
        payload: &[u8],
    ) -> Result<Vec<u8>, ConsoleError> {
        let keys = self.keys.as_ref().ok_or(ConsoleError::NotEstablished)?;
        let seq = next_session_seq(&mut self.out_seq);
        Ok(keys.seal(kind, None, self.bmc_id, seq, payload, &mut self.rng))
    }

    /// Opens a datagram from the BMC on this session: checks the session ID, integrity
    /// and decryption; returns the payload kind and clear bytes.
    pub fn open(&self, datagram: &[u8]) -> Result<(PayloadKind, Vec<u8>), ConsoleError> {
        let keys = self.keys.as_ref().ok_or(ConsoleError::NotEstablished)?;
        let Datagram::RmcpPlus(p) = super::parse(datagram)? else {
            return Err(ConsoleError::Unexpected("not an RMCP+ datagram"));
        };
        if p.header.session_id != self.console_id {
            return Err(ConsoleError::Unexpected("packet for another session"));
        }
        let clear = keys.open(&p)?;
        Ok((p.header.payload_type.kind, clear))
    }

    /// Opens and decodes an IPMI response.
    pub fn response(&self, datagram: &[u8]) -> Result<ConsoleResponse, ConsoleError> {
        let (kind, clear) = self.open(datagram)?;
        if kind != PayloadKind::Ipmi {
            return Err(ConsoleError::Unexpected("non-IPMI payload"));
        }
        ConsoleResponse::from_message(&IpmiMessage::parse(&clear)?)
    }

    /// Close Session (06h/3Ch) for this session, sealed.
    pub fn close_request(&mut self) -> Result<Vec<u8>, ConsoleError> {
        let id = self.bmc_id.to_le_bytes();
        self.request(nf::APP, app_cmd::CLOSE_SESSION, &id)
    }
}

fn plain(kind: PayloadKind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + payload.len());
    // Handshake payloads are at most a few dozen bytes.
    let _ = RmcpPlusPacket::emit_plain(PayloadType::plain(kind), None, 0, 0, payload, &mut out);
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lan15State {
    Start,
    AwaitChallenge,
    AwaitActivate,
    Established,
    Failed,
}

/// A sans-IO IPMI 1.5 remote console (what `ipmitool -I lan` does).
pub struct Lan15Console {
    username: Vec<u8>,
    password: Vec<u8>,
    auth_type: AuthType,
    privilege: Privilege,
    rng: StdRng,
    state: Lan15State,
    /// Temporary ID during activation, then the session ID.
    session_id: u32,
    out_seq: u32,
    rq_seq: u8,
}

impl core::fmt::Debug for Lan15Console {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Lan15Console")
            .field("auth_type", &self.auth_type)
            .field("state", &self.state)
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl Lan15Console {
    /// A console that activates a session of `auth_type` (MD5, straight password or
    /// none) with maximum privilege `privilege`.
    pub fn new(
        username: &[u8],
        password: &[u8],
        auth_type: AuthType,
        privilege: Privilege,
    ) -> Result<Self, ConsoleError> {
        Self::with_rng(
            username,
            password,
            auth_type,
            privilege,
            StdRng::from_entropy(),
        )
    }

    /// Like [`Self::new`] with deterministic randomness.
    pub fn with_seed(
        username: &[u8],
        password: &[u8],
        auth_type: AuthType,
        privilege: Privilege,
        seed: u64,
    ) -> Result<Self, ConsoleError> {
        Self::with_rng(
            username,
            password,
            auth_type,
            privilege,
            StdRng::seed_from_u64(seed),
        )
    }

    fn with_rng(
        username: &[u8],
        password: &[u8],
        auth_type: AuthType,
        privilege: Privilege,
        rng: StdRng,
    ) -> Result<Self, ConsoleError> {
        if username.len() > 16 || password.len() > 16 {
            return Err(ConsoleError::CredentialTooLong);
        }
        Ok(Self {
            username: username.to_vec(),
            password: password.to_vec(),
            auth_type,
            privilege,
            rng,
            state: Lan15State::Start,
            session_id: 0,
            out_seq: 0,
            rq_seq: 1,
        })
    }

    /// The session ID (temporary until established).
    pub fn session_id(&self) -> u32 {
        self.session_id
    }

    /// True once Activate Session succeeded.
    pub fn is_established(&self) -> bool {
        self.state == Lan15State::Established
    }

    /// The Get Session Challenge request (pre-session, authtype none).
    pub fn start(&mut self) -> Vec<u8> {
        let mut data = [0u8; 17];
        data[0] = u8::from(self.auth_type);
        data[1..1 + self.username.len()].copy_from_slice(&self.username);
        self.state = Lan15State::AwaitChallenge;
        presession_request(
            true,
            nf::APP,
            app_cmd::GET_SESSION_CHALLENGE,
            next_rq_seq(&mut self.rq_seq),
            &data,
        )
    }

    /// Feeds a handshake reply; returns the Activate Session request, then `Established`.
    pub fn handle(&mut self, datagram: &[u8]) -> Result<HandshakeStep, ConsoleError> {
        let r = self.handle_inner(datagram);
        if r.is_err() {
            self.state = Lan15State::Failed;
        }
        r
    }

    fn handle_inner(&mut self, datagram: &[u8]) -> Result<HandshakeStep, ConsoleError> {
        match self.state {
            Lan15State::AwaitChallenge => {
                let r = parse_presession_response(datagram)?;
                if r.cmd != app_cmd::GET_SESSION_CHALLENGE {
                    return Err(ConsoleError::Unexpected(
                        "not a Get Session Challenge response",
                    ));
                }
                if r.completion_code != 0 {
                    return Err(ConsoleError::CompletionCode {
                        step: "Get Session Challenge",
                        code: r.completion_code,
                    });
                }
                let (Some(id), Some(challenge)) = (r.data.get(0..4), r.data.get(4..20)) else {
                    return Err(ConsoleError::Unexpected("short challenge response"));
                };
                let mut id4 = [0u8; 4];
                id4.copy_from_slice(id);
                self.session_id = u32::from_le_bytes(id4);
                let mut initial = self.rng.next_u32();
                if initial == 0 {
                    initial = 1;
                }
                let mut data = Vec::with_capacity(22);
                data.push(u8::from(self.auth_type));
                data.push(self.privilege.as_u8());
                data.extend_from_slice(challenge);
                data.extend_from_slice(&initial.to_le_bytes());
                let msg = request_message(
                    nf::APP,
                    app_cmd::ACTIVATE_SESSION,
                    next_rq_seq(&mut self.rq_seq),
                    &data,
                );
                self.state = Lan15State::AwaitActivate;
                Ok(HandshakeStep::Send(self.frame(0, &msg)))
            }
            Lan15State::AwaitActivate => {
                let r = self.open(datagram)?;
                if r.cmd != app_cmd::ACTIVATE_SESSION {
                    return Err(ConsoleError::Unexpected("not an Activate Session response"));
                }
                if r.completion_code != 0 {
                    return Err(ConsoleError::CompletionCode {
                        step: "Activate Session",
                        code: r.completion_code,
                    });
                }
                let (Some(id), Some(seq)) = (r.data.get(1..5), r.data.get(5..9)) else {
                    return Err(ConsoleError::Unexpected("short Activate Session response"));
                };
                let mut b = [0u8; 4];
                b.copy_from_slice(id);
                self.session_id = u32::from_le_bytes(b);
                b.copy_from_slice(seq);
                self.out_seq = u32::from_le_bytes(b);
                self.state = Lan15State::Established;
                Ok(HandshakeStep::Established)
            }
            _ => Err(ConsoleError::Unexpected("handshake message out of order")),
        }
    }

    fn frame(&self, seq: u32, msg: &[u8]) -> Vec<u8> {
        let code =
            crypto::lan15_auth_code(self.auth_type, &self.password, self.session_id, msg, seq);
        let mut out = Vec::with_capacity(30 + msg.len());
        // Console requests are far below the 255-byte message limit.
        let _ = Lan15Packet {
            header: Lan15Header {
                auth_type: self.auth_type,
                session_seq: seq,
                session_id: self.session_id,
                auth_code: code,
            },
            message: msg,
        }
        .emit(&mut out);
        out
    }

    /// Builds an authenticated request in the established session.
    pub fn request(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, ConsoleError> {
        if self.state != Lan15State::Established {
            return Err(ConsoleError::NotEstablished);
        }
        let msg = request_message(netfn, cmd, next_rq_seq(&mut self.rq_seq), data);
        let seq = next_session_seq(&mut self.out_seq);
        Ok(self.frame(seq, &msg))
    }

    /// Checks the authcode of a BMC packet for this session and decodes the response.
    pub fn response(&self, datagram: &[u8]) -> Result<ConsoleResponse, ConsoleError> {
        self.open(datagram)
    }

    fn open(&self, datagram: &[u8]) -> Result<ConsoleResponse, ConsoleError> {
        let Datagram::Lan15(p) = super::parse(datagram)? else {
            return Err(ConsoleError::Unexpected("not an IPMI 1.5 datagram"));
        };
        let h = p.header;
        if h.session_id != self.session_id || h.auth_type != self.auth_type {
            return Err(ConsoleError::Unexpected(
                "packet for another session or auth type",
            ));
        }
        if let Some(expected) = crypto::lan15_auth_code(
            h.auth_type,
            &self.password,
            h.session_id,
            p.message,
            h.session_seq,
        ) {
            match h.auth_code {
                Some(code) if crypto::ct_eq(&code, &expected) => {}
                _ => return Err(ConsoleError::BadAuthCode),
            }
        }
        ConsoleResponse::from_message(&IpmiMessage::parse(p.message)?)
    }
}
