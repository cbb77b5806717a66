//! The BMC side of IPMI-over-LAN sessions, as a deterministic state machine
//! (quinn-proto style): the service feeds each received datagram to
//! [`Sessions::handle`] with the current time and peer address, and acts on the
//! returned [`Outcome`]. Nothing here does I/O or reads a clock.
//!
//! # What the session layer does by itself
//! * ASF presence ping → pong.
//! * RMCP+ establishment: Open Session Request → Response, RAKP1 → RAKP2,
//!   RAKP3 → RAKP4, with all refusals (§13.24 statuses) and the pending-session table.
//! * IPMI 1.5 establishment: Get Session Challenge (06h/39h) and Activate Session
//!   (06h/3Ah), with MD5 and straight-password authcodes.
//! * Per-packet protection on established sessions, in the order the spec requires:
//!   integrity check → decryption → sequence-window check → dispatch. The window only
//!   moves after the integrity check, so forged packets cannot shift it.
//! * Idle expiry (see [`Sessions::expire`], [`Sessions::poll_closed`],
//!   [`Sessions::next_timeout`]).
//!
//! # What it hands to the command layer
//! * [`Outcome::Request`]: an IPMI request, either inside an established session
//!   (with the session's current privilege) or pre-session (`session: None`,
//!   `privilege: None`; e.g. Get Channel Auth Capabilities, Get Channel Cipher Suites).
//!   The command layer decides whether the privilege suffices, runs the command, and
//!   answers with [`Sessions::seal_response`], which frames the response like the
//!   request (IPMI 1.5 or RMCP+, pre-session or protected).
//! * [`Outcome::Payload`]: a non-IPMI payload on an established RMCP+ session
//!   (SOL is type 01h); answer with [`Sessions::seal_payload`].
//! * Set Session Privilege Level (06h/3Bh) → [`Sessions::set_privilege`];
//!   Close Session (06h/3Ch) → seal the response *first*, then [`Sessions::close`]
//!   (the response must still carry the closing session's authcode).
//! * Get Channel Authentication Capabilities and Get Channel Cipher Suites are
//!   answered by the command layer ([`crate::commands`]), from a configuration the
//!   service fills from the same options as [`SessionConfig`], so what they advertise
//!   is what this layer accepts.
//!
//! # Choices worth knowing
//! * A session handle is the BMC session ID (random, never 0), so Close Session and
//!   Get Session Info can name sessions by the ID on the wire.
//! * Sessions are bound to the peer address that opened them; packets for a session
//!   from another address are dropped.
//! * Pending RMCP+ handshakes count against `max_sessions` (as on real BMCs); a full
//!   table refuses Open Session with status 01h "insufficient resources".
//! * A requested role above the user's (or the session's) maximum gets RAKP2 status
//!   0Ah "unauthorized role or privilege level"; a malformed role byte gets 09h
//!   "invalid role"; an unknown or disabled user 0Dh "unauthorized name".
//!   With name+privilege lookup (role bit 4 clear), the requested level must equal the
//!   user's level, else 0Dh (as OpenBMC does).
//! * New sessions start at User privilege (Callback if that is their maximum), per the
//!   Set Session Privilege Level description; the console raises it with 06h/3Bh.
//! * Sequence windows: RMCP+ accepts `[highest-16, highest+15]` and IPMI 1.5
//!   `[highest-8, highest+8]`, and both reject a number already received (a replay).
//!   Authenticated and unauthenticated RMCP+ packets have separate windows and
//!   separate outbound counters; responses and SOL share the outbound counter.
//! * Randomness (session IDs, Rc, challenges, AES IVs) comes from a seedable RNG;
//!   [`Sessions::with_seed`] makes a run fully reproducible.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use crate::crypto::{self, CipherSuite, CryptoError, RakpParams, SessionKeys};
use crate::wire::{
    self, app_cmd, auth_type, cc, netfn, next_session_seq, AsfMessage, AsfType, AuthType, Datagram,
    IpmiMessage, Lan15Header, Lan15Packet, OpenSessionRequest, OpenSessionResponse, PayloadKind,
    PayloadType, Rakp1, Rakp2, Rakp2Body, Rakp3, Rakp4, RmcpPlusPacket, RmcpStatus, ASF_IANA,
    ROLE_NAME_ONLY_LOOKUP, ROLE_PRIVILEGE_MASK,
};
pub use crate::wire::{CompletionCode, Privilege};

/// RMCP+ acceptance window below the highest received sequence number.
const RMCP_WINDOW_BELOW: u32 = 16;
/// RMCP+ acceptance window above the highest received sequence number.
const RMCP_WINDOW_ABOVE: u32 = 15;
/// IPMI 1.5 acceptance window on either side.
const LAN15_WINDOW: u32 = 8;
/// How many outstanding IPMI 1.5 challenges are kept; the oldest is forgotten first.
const MAX_CHALLENGES: usize = 16;
/// Longest user name RAKP1 may carry (§13.20).
const MAX_USERNAME_LEN: usize = 16;

/// Which IPMI 1.5 authentication types the LAN channel accepts for sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LanAuthTypes {
    /// Sessions without authcodes (authtype none).
    pub none: bool,
    /// MD5 authcodes.
    pub md5: bool,
    /// Straight password authcodes.
    pub password: bool,
}

impl LanAuthTypes {
    /// True if sessions of this type may be activated.
    pub fn allows(&self, auth: AuthType) -> bool {
        match auth {
            AuthType::None => self.none,
            AuthType::Md5 => self.md5,
            AuthType::Password => self.password,
            _ => false,
        }
    }

    /// The same set as authentication-type bits ([`wire::auth_type`]), as Get Channel
    /// Auth Capabilities and LAN configuration parameters 1 and 2 carry them.
    pub fn bits(&self) -> u8 {
        let bit = |on: bool, bit: u8| if on { bit } else { 0 };
        bit(self.none, auth_type::NONE)
            | bit(self.md5, auth_type::MD5)
            | bit(self.password, auth_type::PASSWORD)
    }
}

/// Static configuration of one BMC's LAN channel.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Enabled RMCP+ cipher suite IDs (must be among `crypto::SUPPORTED_SUITES` to be usable).
    /// Only these are offered and accepted. Empty disables RMCP+.
    pub suites: Vec<u8>,
    /// Enabled IPMI 1.5 session authentication types.
    pub lan_auth_types: LanAuthTypes,
    /// Maximum simultaneous sessions, pending handshakes included (real BMCs: 4-16).
    pub max_sessions: usize,
    /// A session with no valid packet for this long is closed (spec default 60 s).
    pub idle_timeout: Duration,
    /// System GUID sent in RAKP2 and covered by the RAKP2/RAKP4 HMACs.
    pub guid: [u8; 16],
    /// The BMC key Kg (§13.31); `None` means Kg = Kuid (the common "no Kg" setup).
    pub bmc_key: Option<Vec<u8>>,
    /// Highest privilege any session on this channel may reach.
    pub channel_privilege_limit: Privilege,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            suites: vec![3, 17],
            lan_auth_types: LanAuthTypes {
                none: false,
                md5: true,
                password: true,
            },
            max_sessions: 4,
            idle_timeout: Duration::from_secs(60),
            guid: [0; 16],
            bmc_key: None,
            channel_privilege_limit: Privilege::Admin,
        }
    }
}

/// What the session layer needs to know about a user.
#[derive(Clone, PartialEq, Eq)]
pub struct UserCred {
    /// User ID (slot number, 1-based; 1 is the anonymous/null user on most BMCs).
    pub id: u8,
    /// Password (at most 20 bytes are used; 16 for IPMI 1.5).
    pub password: Vec<u8>,
    /// Highest privilege this user may have on this channel.
    pub max_privilege: Privilege,
    /// Disabled users cannot log in.
    pub enabled: bool,
}

impl core::fmt::Debug for UserCred {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the password.
        f.debug_struct("UserCred")
            .field("id", &self.id)
            .field("max_privilege", &self.max_privilege)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// Where the session layer looks up users (the model owns them).
pub trait UserDirectory {
    /// The user with this exact name (bytes as sent; the null user is `b""`).
    fn lookup(&self, name: &[u8]) -> Option<UserCred>;
}

/// A simple in-memory [`UserDirectory`], for tests, probes and small setups.
#[derive(Debug, Clone, Default)]
pub struct UserTable {
    users: Vec<(Vec<u8>, UserCred)>,
}

impl UserTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) an enabled user and returns the table for chaining.
    pub fn with_user(
        mut self,
        name: &str,
        password: &str,
        id: u8,
        max_privilege: Privilege,
    ) -> Self {
        self.insert(
            name.as_bytes(),
            UserCred {
                id,
                password: password.as_bytes().to_vec(),
                max_privilege,
                enabled: true,
            },
        );
        self
    }

    /// Adds or replaces a user.
    pub fn insert(&mut self, name: &[u8], cred: UserCred) {
        self.users.retain(|(n, _)| n != name);
        self.users.push((name.to_vec(), cred));
    }
}

impl UserDirectory for UserTable {
    fn lookup(&self, name: &[u8]) -> Option<UserCred> {
        self.users
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.clone())
    }
}

/// Names one session: its BMC session ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionHandle(pub u32);

impl SessionHandle {
    /// The BMC session ID on the wire.
    pub fn id(self) -> u32 {
        self.0
    }
}

/// Which protocol a session speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// RMCP+ with this cipher suite.
    RmcpPlus {
        /// Negotiated suite ID.
        suite: u8,
    },
    /// IPMI 1.5 with this authentication type.
    Lan15 {
        /// Per-message authentication type.
        auth_type: AuthType,
    },
}

/// A snapshot of one established session (for Get Session Info and the control API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Handle (= BMC session ID).
    pub handle: SessionHandle,
    /// The console's session ID (RMCP+ only; 0 for IPMI 1.5).
    pub console_session_id: u32,
    /// Peer address the session is bound to.
    pub peer: SocketAddr,
    /// User name (lossy UTF-8).
    pub user: String,
    /// User ID.
    pub user_id: u8,
    /// Current privilege.
    pub privilege: Privilege,
    /// Highest privilege Set Session Privilege Level may grant.
    pub max_privilege: Privilege,
    /// Protocol and protection.
    pub kind: SessionKind,
    /// Time of the last valid packet.
    pub last_activity: Instant,
}

/// The fields of a [`SessionInfo`] that take no allocation: what the
/// service copies into the command layer's session list on every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionBrief {
    /// Handle (= BMC session ID).
    pub handle: SessionHandle,
    /// Peer address the session is bound to.
    pub peer: SocketAddr,
    /// User ID.
    pub user_id: u8,
    /// Current privilege.
    pub privilege: Privilege,
    /// Protocol and protection.
    pub kind: SessionKind,
}

/// An IPMI request for the command layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The session it arrived in; `None` for pre-session requests.
    pub session: Option<SessionHandle>,
    /// The session's user name (lossy UTF-8); `None` pre-session.
    pub user: Option<String>,
    /// The session's user ID; `None` pre-session.
    pub user_id: Option<u8>,
    /// The session's current privilege; `None` pre-session (lower than any level,
    /// since `Option<Privilege>` orders `None` first).
    pub privilege: Option<Privilege>,
    /// Network function (even).
    pub netfn: u8,
    /// Responder LUN (from the netFn byte).
    pub lun: u8,
    /// Command.
    pub cmd: u8,
    /// Requester sequence number (6 bits), echoed in the response.
    pub rq_seq: u8,
    /// Requester address (81h for remote consoles).
    pub rq_addr: u8,
    /// Requester LUN.
    pub rq_lun: u8,
    /// Responder address (20h = BMC).
    pub rs_addr: u8,
    /// Request data.
    pub data: Vec<u8>,
    /// True if it came in IPMI 1.5 framing (the response must use it too).
    pub lan15: bool,
    /// Where it came from.
    pub peer: SocketAddr,
}

/// What happened inside the session layer when it answered by itself (for the journal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Answered an ASF presence ping.
    AsfPong,
    /// Answered an Open Session Request.
    OpenSession {
        /// Status sent.
        status: RmcpStatus,
        /// The accepted suite, on success.
        suite: Option<u8>,
    },
    /// Answered RAKP1 with RAKP2.
    Rakp2 {
        /// Status sent.
        status: RmcpStatus,
        /// The user name asked for (lossy UTF-8).
        user: String,
    },
    /// Answered RAKP3 with a RAKP4 refusal (status 0Fh: wrong password at the console).
    Rakp4Refused {
        /// Status sent.
        status: RmcpStatus,
        /// The user name of the discarded handshake.
        user: String,
    },
    /// Answered Get Session Challenge.
    Challenge {
        /// Completion code sent.
        completion_code: u8,
        /// The user name asked for (lossy UTF-8).
        user: String,
    },
    /// Answered Activate Session with an error completion code.
    ActivateRefused {
        /// Completion code sent.
        completion_code: u8,
    },
    /// A session became established (RAKP4 success or Activate Session success).
    Established {
        /// The new session.
        session: SessionHandle,
        /// Its user.
        user: String,
        /// Protocol.
        kind: SessionKind,
    },
}

/// Why a datagram was dropped without an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    /// Not decodable.
    #[error("malformed datagram: {0}")]
    Malformed(#[from] wire::Error),
    /// An RMCP ACK; IPMI never requests them.
    #[error("RMCP ACK ignored")]
    RmcpAck,
    /// An RMCP class other than ASF or IPMI.
    #[error("RMCP class {0:#04x} not handled")]
    OtherClass(u8),
    /// An ASF message other than a presence ping.
    #[error("ASF message type {0:#04x} not handled")]
    Asf(u8),
    /// No session (or pending handshake, or challenge) has this ID.
    #[error("unknown session ID {0:#010x}")]
    UnknownSession(u32),
    /// The session had been idle too long and is now closed.
    #[error("session {0:#010x} expired")]
    Expired(u32),
    /// The packet came from another address than the one that opened the session.
    #[error("session {0:#010x} belongs to another peer")]
    WrongPeer(u32),
    /// Traffic for a session whose handshake has not finished.
    #[error("session {0:#010x} is not established")]
    NotEstablished(u32),
    /// A handshake message that does not fit the session's state.
    #[error("{0:?} out of order")]
    OutOfOrder(PayloadKind),
    /// A payload kind that a BMC never receives in this context.
    #[error("unexpected payload {0:?}")]
    UnexpectedPayload(PayloadKind),
    /// A response (odd netFn) sent to the BMC.
    #[error("not a request")]
    NotARequest,
    /// Integrity or confidentiality failure on an RMCP+ session.
    #[error("protection check failed: {0}")]
    Crypto(#[from] CryptoError),
    /// The sequence number is outside the acceptance window.
    #[error("sequence number {seq:#010x} outside window (highest {highest:#010x})")]
    SequenceOutOfWindow {
        /// Received number.
        seq: u32,
        /// Highest accepted so far.
        highest: u32,
    },
    /// The sequence number was already accepted once.
    #[error("replayed sequence number {0:#010x}")]
    Replay(u32),
    /// The console reported an error in RAKP3; its pending session is discarded.
    #[error("console aborted the handshake with status {0:?}")]
    ConsoleAborted(RmcpStatus),
    /// IPMI 1.5: the authentication type differs from the session's (or is not enabled).
    #[error("IPMI 1.5 authentication type {0:?} not acceptable here")]
    AuthType(AuthType),
    /// IPMI 1.5: wrong authcode.
    #[error("IPMI 1.5 authcode mismatch")]
    BadAuthCode,
    /// IPMI 1.5 Activate Session with a challenge string we did not issue.
    #[error("challenge string mismatch")]
    BadChallenge,
}

/// Why an established session went away without a Close Session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// No valid packet within the idle timeout.
    IdleTimeout,
}

/// What the service must do with a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send `datagram` back to the peer; handled entirely inside (pong, Open Session
    /// Response, RAKP2/4, challenge, Activate Session response).
    Reply {
        /// Bytes to send.
        datagram: Vec<u8>,
        /// What was done, for the journal.
        event: Event,
    },
    /// An IPMI request for the command layer; answer with [`Sessions::seal_response`].
    Request(Request),
    /// A non-IPMI payload (e.g. SOL, type 01h) on an established RMCP+ session.
    Payload {
        /// The session.
        session: SessionHandle,
        /// Payload type (bits 5:0).
        payload_type: u8,
        /// Clear payload bytes.
        bytes: Vec<u8>,
    },
    /// Silently dropped; the reason is for the journal and logs only.
    Drop(DropReason),
}

/// Sliding sequence-number window with replay detection.
#[derive(Debug, Clone)]
struct SeqWindow {
    highest: u32,
    /// Bit i set: `highest - i` was accepted.
    seen: u32,
    below: u32,
    above: u32,
    /// Unauthenticated windows accept seq 0 ("unsequenced"), since anyone can forge
    /// such packets anyway.
    allow_zero: bool,
}

impl SeqWindow {
    fn new(highest: u32, seen_highest: bool, below: u32, above: u32, allow_zero: bool) -> Self {
        Self {
            highest,
            seen: u32::from(seen_highest),
            below,
            above,
            allow_zero,
        }
    }

    fn check(&self, seq: u32) -> Result<(), DropReason> {
        if seq == 0 && self.allow_zero {
            return Ok(());
        }
        let ahead = seq.wrapping_sub(self.highest);
        let behind = self.highest.wrapping_sub(seq);
        if ahead != 0 && ahead <= self.above {
            Ok(())
        } else if behind <= self.below {
            if (self.seen >> behind) & 1 == 1 {
                Err(DropReason::Replay(seq))
            } else {
                Ok(())
            }
        } else {
            Err(DropReason::SequenceOutOfWindow {
                seq,
                highest: self.highest,
            })
        }
    }

    /// Records `seq`; call only after [`Self::check`] and the integrity check passed.
    fn accept(&mut self, seq: u32) {
        if seq == 0 && self.allow_zero {
            return;
        }
        let ahead = seq.wrapping_sub(self.highest);
        if ahead != 0 && ahead <= self.above {
            self.seen = self.seen.checked_shl(ahead).unwrap_or(0) | 1;
            self.highest = seq;
        } else {
            let behind = self.highest.wrapping_sub(seq);
            if behind < 32 {
                self.seen |= 1 << behind;
            }
        }
    }
}

#[derive(Debug, Clone)]
struct User {
    name: Vec<u8>,
    cred: UserCred,
}

impl User {
    fn display(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

#[derive(Debug, Clone)]
enum RmcpState {
    /// Open Session answered; waiting for RAKP1.
    AwaitRakp1 { tag: u8 },
    /// RAKP2 sent; waiting for RAKP3.
    AwaitRakp3 {
        console_random: [u8; 16],
        bmc_random: [u8; 16],
        role: u8,
        user: User,
        sik: Vec<u8>,
    },
    /// RAKP4 sent; the session carries traffic.
    Active {
        user: User,
        keys: SessionKeys,
        /// RAKP3 auth code and our RAKP4, to answer a retransmitted RAKP3 (lost RAKP4).
        rakp3_code: Vec<u8>,
        rakp4: Vec<u8>,
        privilege: Privilege,
    },
}

#[derive(Debug, Clone)]
struct RmcpSession {
    console_id: u32,
    suite: CipherSuite,
    /// Ceiling from Open Session, lowered to the RAKP1 role on success.
    max_privilege: Privilege,
    state: RmcpState,
    in_auth: SeqWindow,
    in_unauth: SeqWindow,
    out_auth: u32,
    out_unauth: u32,
}

#[derive(Debug, Clone)]
struct Lan15Session {
    auth_type: AuthType,
    user: User,
    max_privilege: Privilege,
    privilege: Privilege,
    inbound: SeqWindow,
    outbound: u32,
}

#[derive(Debug, Clone)]
enum Proto {
    Rmcp(RmcpSession),
    Lan15(Lan15Session),
}

#[derive(Debug, Clone)]
struct Session {
    id: u32,
    peer: SocketAddr,
    last_activity: Instant,
    proto: Proto,
}

impl Session {
    fn established(&self) -> bool {
        match &self.proto {
            Proto::Rmcp(r) => matches!(r.state, RmcpState::Active { .. }),
            Proto::Lan15(_) => true,
        }
    }

    fn brief(&self) -> Option<SessionBrief> {
        let (user_id, privilege, kind) = match &self.proto {
            Proto::Rmcp(r) => match &r.state {
                RmcpState::Active {
                    user, privilege, ..
                } => (
                    user.cred.id,
                    *privilege,
                    SessionKind::RmcpPlus { suite: r.suite.id },
                ),
                _ => return None,
            },
            Proto::Lan15(l) => (
                l.user.cred.id,
                l.privilege,
                SessionKind::Lan15 {
                    auth_type: l.auth_type,
                },
            ),
        };
        Some(SessionBrief {
            handle: SessionHandle(self.id),
            peer: self.peer,
            user_id,
            privilege,
            kind,
        })
    }

    fn info(&self) -> Option<SessionInfo> {
        let (console_session_id, user, privilege, max_privilege, kind) = match &self.proto {
            Proto::Rmcp(r) => match &r.state {
                RmcpState::Active {
                    user, privilege, ..
                } => (
                    r.console_id,
                    user,
                    *privilege,
                    r.max_privilege,
                    SessionKind::RmcpPlus { suite: r.suite.id },
                ),
                _ => return None,
            },
            Proto::Lan15(l) => (
                0,
                &l.user,
                l.privilege,
                l.max_privilege,
                SessionKind::Lan15 {
                    auth_type: l.auth_type,
                },
            ),
        };
        Some(SessionInfo {
            handle: SessionHandle(self.id),
            console_session_id,
            peer: self.peer,
            user: user.display(),
            user_id: user.cred.id,
            privilege,
            max_privilege,
            kind,
            last_activity: self.last_activity,
        })
    }
}

/// An outstanding IPMI 1.5 Get Session Challenge.
#[derive(Debug, Clone)]
struct Challenge {
    temp_id: u32,
    challenge: [u8; 16],
    auth_type: AuthType,
    user: User,
    peer: SocketAddr,
    issued: Instant,
}

/// The session table of one BMC LAN channel.
pub struct Sessions {
    config: SessionConfig,
    rng: StdRng,
    /// Boxed: a B-tree leaf holds eleven values inline, so unboxed, one
    /// session on a BMC would allocate room for eleven (3 KiB; 30 MB across
    /// 10,000 BMCs with a session each).
    sessions: BTreeMap<u32, Box<Session>>,
    challenges: Vec<Challenge>,
    closed: Vec<(SessionHandle, CloseReason)>,
    /// No entry can be stale at or before this instant (a lower bound on every
    /// deadline), so [`Self::expire`] is O(1) on most packets. `None`: sweep next time.
    sweep_after: Option<Instant>,
    /// IPMI 1.5 authentication types enabled per maximum privilege
    /// (callback, user, operator, admin, OEM), as LAN configuration
    /// parameter 2 sets them (`ipmitool lan set N auth LEVEL TYPES`); always
    /// within `config.lan_auth_types`.
    auth_enables: [u8; 5],
}

impl core::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sessions")
            .field("sessions", &self.sessions.len())
            .field("challenges", &self.challenges.len())
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// A session table seeded from the OS RNG.
    pub fn new(config: SessionConfig) -> Self {
        Self::from_rng(config, StdRng::from_entropy())
    }

    /// A session table whose randomness is fully determined by `seed` (tests, replays).
    pub fn with_seed(config: SessionConfig, seed: u64) -> Self {
        Self::from_rng(config, StdRng::seed_from_u64(seed))
    }

    fn from_rng(config: SessionConfig, rng: StdRng) -> Self {
        let t = config.lan_auth_types.bits();
        Self {
            auth_enables: [t, t, t, t, 0],
            config,
            rng,
            sessions: BTreeMap::new(),
            challenges: Vec::new(),
            closed: Vec::new(),
            sweep_after: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Applies LAN configuration parameter 2: which IPMI 1.5 authentication
    /// types new sessions may use at each maximum privilege (callback, user,
    /// operator, admin, OEM). Types the BMC does not support stay off.
    pub fn set_lan_auth_enables(&mut self, enables: [u8; 5]) {
        let supported = self.config.lan_auth_types.bits();
        self.auth_enables = enables.map(|e| e & supported);
    }

    /// Applies a new BMC key K_G (Set Channel Security Keys) to the logins
    /// that follow; an all-zero key means none (K_G = K_uid). Sessions
    /// already open keep the keys they derived.
    pub fn set_bmc_key(&mut self, key: [u8; 20]) {
        self.config.bmc_key = if key.iter().all(|&b| b == 0) {
            None
        } else {
            // HMAC pads a short key with zeros, so the padded form derives
            // the same keys as the configured text.
            let end = key.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            Some(key[..end].to_vec())
        };
    }

    /// Whether IPMI 1.5 sessions of `auth` may be opened at `max` privilege
    /// (`None`: at any privilege, what Get Session Challenge can know).
    fn lan15_enabled(&self, auth: AuthType, max: Option<Privilege>) -> bool {
        if !self.config.lan_auth_types.allows(auth) {
            return false;
        }
        let bit = 1u8 << (u8::from(auth) & 0x07);
        match max {
            Some(p) => self
                .auth_enables
                .get(usize::from(p.as_u8()).wrapping_sub(1))
                .is_some_and(|e| e & bit != 0),
            None => self.auth_enables.iter().any(|e| e & bit != 0),
        }
    }

    /// Feeds one received datagram. Returns what the service must do.
    pub fn handle(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        datagram: &[u8],
        users: &dyn UserDirectory,
    ) -> Outcome {
        self.expire(now);
        let outcome = match wire::parse(datagram) {
            Err(e) => Outcome::Drop(DropReason::Malformed(e)),
            Ok(Datagram::Asf(m)) => self.handle_asf(&m),
            Ok(Datagram::RmcpAck(_)) => Outcome::Drop(DropReason::RmcpAck),
            Ok(Datagram::OtherClass(h)) => Outcome::Drop(DropReason::OtherClass(u8::from(h.class))),
            Ok(Datagram::Lan15(p)) => self.handle_lan15(now, peer, &p, users),
            Ok(Datagram::RmcpPlus(p)) => self.handle_rmcpplus(now, peer, &p, users),
        };
        if let Outcome::Drop(reason) = &outcome {
            tracing::debug!(%peer, %reason, "ipmi datagram dropped");
        }
        outcome
    }

    fn handle_asf(&self, m: &AsfMessage<'_>) -> Outcome {
        if m.message_type == AsfType::Ping && m.iana == ASF_IANA {
            Outcome::Reply {
                datagram: AsfMessage::pong_datagram(m.tag),
                event: Event::AsfPong,
            }
        } else {
            Outcome::Drop(DropReason::Asf(u8::from(m.message_type)))
        }
    }

    // ----------------------------------------------------------------- RMCP+

    fn handle_rmcpplus(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        p: &RmcpPlusPacket<'_>,
        users: &dyn UserDirectory,
    ) -> Outcome {
        let h = &p.header;
        if h.session_id == 0 {
            let pt = h.payload_type;
            if pt.encrypted || pt.authenticated {
                return Outcome::Drop(DropReason::UnknownSession(0));
            }
            return match pt.kind {
                PayloadKind::OpenSessionRequest => self.open_session(now, peer, p.payload),
                PayloadKind::Rakp1 => self.rakp1(now, peer, p.payload, users),
                PayloadKind::Rakp3 => self.rakp3(now, peer, p.payload),
                PayloadKind::Ipmi => match IpmiMessage::parse(p.payload) {
                    Ok(m) if m.is_response() => Outcome::Drop(DropReason::NotARequest),
                    Ok(m) => Outcome::Request(presession_request(&m, false, peer)),
                    Err(e) => Outcome::Drop(e.into()),
                },
                other => Outcome::Drop(DropReason::UnexpectedPayload(other)),
            };
        }
        let id = h.session_id;
        let Some(session) = self.sessions.get_mut(&id) else {
            return Outcome::Drop(self.missing(id));
        };
        if session.peer != peer {
            return Outcome::Drop(DropReason::WrongPeer(id));
        }
        let Proto::Rmcp(rs) = &mut session.proto else {
            return Outcome::Drop(DropReason::UnknownSession(id));
        };
        let RmcpState::Active {
            user,
            keys,
            privilege,
            ..
        } = &rs.state
        else {
            return Outcome::Drop(DropReason::NotEstablished(id));
        };
        // Integrity → decryption; a failure here must not touch the window.
        let clear = match keys.open(p) {
            Ok(c) => c,
            Err(e) => return Outcome::Drop(DropReason::Crypto(e)),
        };
        let window = if h.payload_type.authenticated {
            &mut rs.in_auth
        } else {
            &mut rs.in_unauth
        };
        if let Err(e) = window.check(h.session_seq) {
            return Outcome::Drop(e);
        }
        window.accept(h.session_seq);
        session.last_activity = now;
        match h.payload_type.kind {
            PayloadKind::Ipmi => match IpmiMessage::parse(&clear) {
                Ok(m) if m.is_response() => Outcome::Drop(DropReason::NotARequest),
                Ok(m) => Outcome::Request(Request {
                    session: Some(SessionHandle(id)),
                    user: Some(user.display()),
                    user_id: Some(user.cred.id),
                    privilege: Some(*privilege),
                    ..presession_request(&m, false, peer)
                }),
                Err(e) => Outcome::Drop(e.into()),
            },
            kind @ (PayloadKind::OpenSessionRequest
            | PayloadKind::OpenSessionResponse
            | PayloadKind::Rakp1
            | PayloadKind::Rakp2
            | PayloadKind::Rakp3
            | PayloadKind::Rakp4) => Outcome::Drop(DropReason::UnexpectedPayload(kind)),
            kind => Outcome::Payload {
                session: SessionHandle(id),
                payload_type: u8::from(kind),
                bytes: clear,
            },
        }
    }

    fn open_session(&mut self, now: Instant, peer: SocketAddr, payload: &[u8]) -> Outcome {
        let rq = match OpenSessionRequest::parse(payload) {
            Ok(r) => r,
            Err(e) => return Outcome::Drop(e.into()),
        };
        // A retransmitted request (our response was lost) gets the same answer.
        let existing = self.sessions.values().find_map(|s| match &s.proto {
            Proto::Rmcp(r)
                if s.peer == peer
                    && r.console_id == rq.console_session_id
                    && matches!(r.state, RmcpState::AwaitRakp1 { tag } if tag == rq.tag) =>
            {
                Some((s.id, r.max_privilege, r.suite))
            }
            _ => None,
        });
        let refuse = |status: RmcpStatus| OpenSessionResponse {
            tag: rq.tag,
            status,
            max_privilege: 0,
            console_session_id: rq.console_session_id,
            accepted: None,
        };
        let (response, suite) = if let Some((id, max, suite)) = existing {
            (accept_open(&rq, id, max), Some(suite.id))
        } else {
            match self.new_rmcp_session(now, peer, &rq) {
                Ok((id, max, suite)) => (accept_open(&rq, id, max), Some(suite.id)),
                Err(status) => (refuse(status), None),
            }
        };
        let mut body = Vec::with_capacity(36);
        response.emit(&mut body);
        Outcome::Reply {
            datagram: plain_rmcp(PayloadKind::OpenSessionResponse, &body),
            event: Event::OpenSession {
                status: response.status,
                suite,
            },
        }
    }

    fn new_rmcp_session(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        rq: &OpenSessionRequest,
    ) -> Result<(u32, Privilege, CipherSuite), RmcpStatus> {
        if rq.console_session_id == 0 {
            return Err(RmcpStatus::InvalidSessionId);
        }
        let limit = self.config.channel_privilege_limit;
        let max = match rq.requested_max_privilege {
            0 => limit,
            n => match Privilege::from_u8(n) {
                None => return Err(RmcpStatus::InvalidRole),
                Some(p) if p > limit => return Err(RmcpStatus::UnauthorizedRole),
                Some(p) => p,
            },
        };
        let a = rq.algorithms;
        let enabled: Vec<CipherSuite> = self
            .config
            .suites
            .iter()
            .filter_map(|id| CipherSuite::by_id(*id))
            .collect();
        let Some(suite) =
            CipherSuite::matching(&self.config.suites, a.auth, a.integrity, a.confidentiality)
        else {
            let status = if !enabled.iter().any(|s| s.auth == a.auth) {
                RmcpStatus::InvalidAuthAlgorithm
            } else if !enabled.iter().any(|s| s.integrity == a.integrity) {
                RmcpStatus::InvalidIntegrityAlgorithm
            } else if !enabled
                .iter()
                .any(|s| s.confidentiality == a.confidentiality)
            {
                RmcpStatus::InvalidConfidentialityAlgorithm
            } else {
                RmcpStatus::NoCipherSuiteMatch
            };
            return Err(status);
        };
        if self.sessions.len() >= self.config.max_sessions {
            return Err(RmcpStatus::InsufficientResources);
        }
        let id = self.fresh_id();
        self.sessions.insert(
            id,
            Box::new(Session {
                id,
                peer,
                last_activity: now,
                proto: Proto::Rmcp(RmcpSession {
                    console_id: rq.console_session_id,
                    suite,
                    max_privilege: max,
                    state: RmcpState::AwaitRakp1 { tag: rq.tag },
                    in_auth: SeqWindow::new(0, true, RMCP_WINDOW_BELOW, RMCP_WINDOW_ABOVE, false),
                    in_unauth: SeqWindow::new(0, false, RMCP_WINDOW_BELOW, RMCP_WINDOW_ABOVE, true),
                    out_auth: 1,
                    out_unauth: 1,
                }),
            }),
        );
        Ok((id, max, suite))
    }

    fn rakp1(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        payload: &[u8],
        users: &dyn UserDirectory,
    ) -> Outcome {
        let m = match Rakp1::parse(payload) {
            Ok(m) => m,
            Err(e) => return Outcome::Drop(e.into()),
        };
        let id = m.bmc_session_id;
        let guid = self.config.guid;
        let bmc_key = self.config.bmc_key.clone();
        let mut bmc_random = [0u8; 16];
        self.rng.fill_bytes(&mut bmc_random);
        let Some(session) = self.sessions.get_mut(&id) else {
            return Outcome::Drop(DropReason::UnknownSession(id));
        };
        if session.peer != peer {
            return Outcome::Drop(DropReason::WrongPeer(id));
        }
        let Proto::Rmcp(rs) = &mut session.proto else {
            return Outcome::Drop(DropReason::UnknownSession(id));
        };
        if matches!(rs.state, RmcpState::Active { .. }) {
            return Outcome::Drop(DropReason::OutOfOrder(PayloadKind::Rakp1));
        }
        session.last_activity = now;
        let user_text = String::from_utf8_lossy(m.username).into_owned();
        let console_id = rs.console_id;
        let result = check_rakp1(&m, rs.max_privilege, users);
        let (status, body) = match result {
            Err(status) => (status, None),
            Ok((user, requested)) => {
                let params = RakpParams {
                    console_session_id: console_id,
                    bmc_session_id: id,
                    console_random: &m.console_random,
                    bmc_random: &bmc_random,
                    bmc_guid: &guid,
                    role: m.role,
                    username: m.username,
                };
                let alg = rs.suite.auth;
                let code = params.rakp2_auth_code(alg, &user.cred.password);
                let sik = params.sik(alg, &user.cred.password, bmc_key.as_deref());
                rs.max_privilege = requested;
                rs.state = RmcpState::AwaitRakp3 {
                    console_random: m.console_random,
                    bmc_random,
                    role: m.role,
                    user,
                    sik,
                };
                (RmcpStatus::NoError, Some(code))
            }
        };
        let rsp = Rakp2 {
            tag: m.tag,
            status,
            console_session_id: console_id,
            body: body.as_deref().map(|code| Rakp2Body {
                bmc_random,
                bmc_guid: guid,
                auth_code: code,
            }),
        };
        let mut out = Vec::with_capacity(60);
        rsp.emit(&mut out);
        if status != RmcpStatus::NoError {
            // A refused handshake frees its slot at once.
            self.sessions.remove(&id);
        }
        Outcome::Reply {
            datagram: plain_rmcp(PayloadKind::Rakp2, &out),
            event: Event::Rakp2 {
                status,
                user: user_text,
            },
        }
    }

    fn rakp3(&mut self, now: Instant, peer: SocketAddr, payload: &[u8]) -> Outcome {
        let m = match Rakp3::parse(payload) {
            Ok(m) => m,
            Err(e) => return Outcome::Drop(e.into()),
        };
        let id = m.bmc_session_id;
        let guid = self.config.guid;
        let Some(session) = self.sessions.get_mut(&id) else {
            return Outcome::Drop(DropReason::UnknownSession(id));
        };
        if session.peer != peer {
            return Outcome::Drop(DropReason::WrongPeer(id));
        }
        let Proto::Rmcp(rs) = &mut session.proto else {
            return Outcome::Drop(DropReason::UnknownSession(id));
        };
        match &rs.state {
            RmcpState::AwaitRakp1 { .. } => {
                return Outcome::Drop(DropReason::OutOfOrder(PayloadKind::Rakp3))
            }
            RmcpState::Active {
                rakp3_code,
                rakp4,
                user,
                ..
            } => {
                // Our RAKP4 was lost and the console repeats RAKP3: repeat RAKP4.
                if m.status == RmcpStatus::NoError && crypto::ct_eq(rakp3_code, m.auth_code) {
                    return Outcome::Reply {
                        datagram: rakp4.clone(),
                        event: Event::Established {
                            session: SessionHandle(id),
                            user: user.display(),
                            kind: SessionKind::RmcpPlus { suite: rs.suite.id },
                        },
                    };
                }
                return Outcome::Drop(DropReason::OutOfOrder(PayloadKind::Rakp3));
            }
            RmcpState::AwaitRakp3 { .. } => {}
        }
        let RmcpState::AwaitRakp3 {
            console_random,
            bmc_random,
            role,
            user,
            sik,
        } = std::mem::replace(&mut rs.state, RmcpState::AwaitRakp1 { tag: 0 })
        else {
            return Outcome::Drop(DropReason::OutOfOrder(PayloadKind::Rakp3));
        };
        if m.status != RmcpStatus::NoError {
            self.sessions.remove(&id);
            return Outcome::Drop(DropReason::ConsoleAborted(m.status));
        }
        let params = RakpParams {
            console_session_id: rs.console_id,
            bmc_session_id: id,
            console_random: &console_random,
            bmc_random: &bmc_random,
            bmc_guid: &guid,
            role,
            username: &user.name,
        };
        let alg = rs.suite.auth;
        let expected = params.rakp3_auth_code(alg, &user.cred.password);
        let console_id = rs.console_id;
        if !crypto::ct_eq(&expected, m.auth_code) {
            let rsp = Rakp4 {
                tag: m.tag,
                status: RmcpStatus::InvalidIntegrityCheckValue,
                console_session_id: console_id,
                icv: &[],
            };
            let mut out = Vec::with_capacity(8);
            rsp.emit(&mut out);
            let name = user.display();
            self.sessions.remove(&id);
            return Outcome::Reply {
                datagram: plain_rmcp(PayloadKind::Rakp4, &out),
                event: Event::Rakp4Refused {
                    status: RmcpStatus::InvalidIntegrityCheckValue,
                    user: name,
                },
            };
        }
        let icv = params.rakp4_icv(alg, &sik);
        let rsp = Rakp4 {
            tag: m.tag,
            status: RmcpStatus::NoError,
            console_session_id: console_id,
            icv: &icv,
        };
        let mut out = Vec::with_capacity(24);
        rsp.emit(&mut out);
        let datagram = plain_rmcp(PayloadKind::Rakp4, &out);
        let keys = SessionKeys::derive(rs.suite, &sik, &user.cred.password);
        let privilege = if rs.max_privilege == Privilege::Callback {
            Privilege::Callback
        } else {
            Privilege::User
        };
        let name = user.display();
        rs.state = RmcpState::Active {
            user,
            keys,
            rakp3_code: expected,
            rakp4: datagram.clone(),
            privilege,
        };
        session.last_activity = now;
        Outcome::Reply {
            datagram,
            event: Event::Established {
                session: SessionHandle(id),
                user: name,
                kind: SessionKind::RmcpPlus { suite: rs.suite.id },
            },
        }
    }

    // ------------------------------------------------------------- IPMI 1.5

    fn handle_lan15(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        p: &Lan15Packet<'_>,
        users: &dyn UserDirectory,
    ) -> Outcome {
        let h = &p.header;
        if h.session_id == 0 {
            if h.auth_type != AuthType::None {
                return Outcome::Drop(DropReason::AuthType(h.auth_type));
            }
            let m = match IpmiMessage::parse(p.message) {
                Ok(m) => m,
                Err(e) => return Outcome::Drop(e.into()),
            };
            if m.is_response() {
                return Outcome::Drop(DropReason::NotARequest);
            }
            if m.netfn == netfn::APP && m.cmd == app_cmd::GET_SESSION_CHALLENGE {
                return self.get_session_challenge(now, peer, &m, users);
            }
            return Outcome::Request(presession_request(&m, true, peer));
        }
        if let Some(pos) = self
            .challenges
            .iter()
            .position(|c| c.temp_id == h.session_id)
        {
            return self.activate_session(now, peer, p, pos);
        }
        let id = h.session_id;
        let Some(session) = self.sessions.get_mut(&id) else {
            return Outcome::Drop(self.missing(id));
        };
        if session.peer != peer {
            return Outcome::Drop(DropReason::WrongPeer(id));
        }
        let Proto::Lan15(ls) = &mut session.proto else {
            return Outcome::Drop(DropReason::UnknownSession(id));
        };
        if h.auth_type != ls.auth_type {
            return Outcome::Drop(DropReason::AuthType(h.auth_type));
        }
        if let Err(e) = check_lan15_auth(h, &ls.user.cred.password, p.message) {
            return Outcome::Drop(e);
        }
        if let Err(e) = ls.inbound.check(h.session_seq) {
            return Outcome::Drop(e);
        }
        let m = match IpmiMessage::parse(p.message) {
            Ok(m) => m,
            Err(e) => return Outcome::Drop(e.into()),
        };
        ls.inbound.accept(h.session_seq);
        session.last_activity = now;
        if m.is_response() {
            return Outcome::Drop(DropReason::NotARequest);
        }
        Outcome::Request(Request {
            session: Some(SessionHandle(id)),
            user: Some(ls.user.display()),
            user_id: Some(ls.user.cred.id),
            privilege: Some(ls.privilege),
            ..presession_request(&m, true, peer)
        })
    }

    fn get_session_challenge(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        m: &IpmiMessage<'_>,
        users: &dyn UserDirectory,
    ) -> Outcome {
        let reply = |cc: u8, data: &[u8], user: String| Outcome::Reply {
            datagram: lan15_presession_response(m, cc, data),
            event: Event::Challenge {
                completion_code: cc,
                user,
            },
        };
        let (Some(&auth), Some(name16)) = (m.data.first(), m.data.get(1..17)) else {
            return reply(cc::DATA_LENGTH_INVALID, &[], String::new());
        };
        let name = trim_nul(name16);
        let user_text = String::from_utf8_lossy(name).into_owned();
        let auth_type = AuthType::from(auth & 0x0F);
        if !self.lan15_enabled(auth_type, None) {
            return reply(cc::INVALID_FIELD, &[], user_text);
        }
        let cred = match users.lookup(name) {
            Some(c) if c.enabled => c,
            // 81h invalid user name, 82h null user name (user 1) not enabled.
            _ => return reply(if name.is_empty() { 0x82 } else { 0x81 }, &[], user_text),
        };
        let temp_id = self.fresh_id();
        let mut challenge = [0u8; 16];
        self.rng.fill_bytes(&mut challenge);
        if self.challenges.len() >= MAX_CHALLENGES {
            self.challenges.remove(0);
        }
        self.challenges.push(Challenge {
            temp_id,
            challenge,
            auth_type,
            user: User {
                name: name.to_vec(),
                cred,
            },
            peer,
            issued: now,
        });
        let mut data = Vec::with_capacity(20);
        data.extend_from_slice(&temp_id.to_le_bytes());
        data.extend_from_slice(&challenge);
        reply(0, &data, user_text)
    }

    fn activate_session(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        p: &Lan15Packet<'_>,
        pos: usize,
    ) -> Outcome {
        let Some(ch) = self.challenges.get(pos).cloned() else {
            return Outcome::Drop(DropReason::UnknownSession(p.header.session_id));
        };
        let h = &p.header;
        if ch.peer != peer {
            return Outcome::Drop(DropReason::WrongPeer(ch.temp_id));
        }
        if h.auth_type != ch.auth_type {
            return Outcome::Drop(DropReason::AuthType(h.auth_type));
        }
        // Until the authcode checks out we cannot sign any answer: stay silent.
        if let Err(e) = check_lan15_auth(h, &ch.user.cred.password, p.message) {
            return Outcome::Drop(e);
        }
        let m = match IpmiMessage::parse(p.message) {
            Ok(m) => m,
            Err(e) => return Outcome::Drop(e.into()),
        };
        if m.is_response() || m.netfn != netfn::APP || m.cmd != app_cmd::ACTIVATE_SESSION {
            return Outcome::Drop(DropReason::NotEstablished(ch.temp_id));
        }
        let d = m.data;
        let (Some(&auth), Some(&priv_raw), Some(challenge), Some(seq_bytes)) =
            (d.first(), d.get(1), d.get(2..18), d.get(18..22))
        else {
            return self.activate_refused(&m, &ch, h.session_seq, cc::DATA_LENGTH_INVALID);
        };
        if !crypto::ct_eq(challenge, &ch.challenge) {
            return Outcome::Drop(DropReason::BadChallenge);
        }
        let mut seq4 = [0u8; 4];
        seq4.copy_from_slice(seq_bytes);
        let initial_outbound = u32::from_le_bytes(seq4);
        if AuthType::from(auth & 0x0F) != ch.auth_type {
            return self.activate_refused(&m, &ch, initial_outbound, cc::INVALID_FIELD);
        }
        if initial_outbound == 0 {
            // OpenIPMI answers 85h here too.
            return self.activate_refused(&m, &ch, 1, 0x85);
        }
        let Some(max) = Privilege::from_u8(priv_raw & 0x0F) else {
            return self.activate_refused(&m, &ch, initial_outbound, cc::INVALID_FIELD);
        };
        if max > ch.user.cred.max_privilege || max > self.config.channel_privilege_limit {
            // 86h: requested maximum privilege exceeds user and/or channel limit.
            return self.activate_refused(&m, &ch, initial_outbound, 0x86);
        }
        if !self.lan15_enabled(ch.auth_type, Some(max)) {
            // The authentication type is not enabled at that privilege.
            return self.activate_refused(&m, &ch, initial_outbound, cc::INVALID_FIELD);
        }
        if self.sessions.len() >= self.config.max_sessions {
            // 81h: no session slot available.
            return self.activate_refused(&m, &ch, initial_outbound, 0x81);
        }
        self.challenges.remove(pos);
        let id = self.fresh_id();
        let mut inbound_start = self.rng.next_u32();
        if inbound_start == 0 {
            inbound_start = 1;
        }
        let mut data = Vec::with_capacity(10);
        data.push(u8::from(ch.auth_type));
        data.extend_from_slice(&id.to_le_bytes());
        data.extend_from_slice(&inbound_start.to_le_bytes());
        data.push(max.as_u8());
        // The response still travels under the temporary ID, signed, with the
        // console's requested initial outbound sequence number.
        let datagram = lan15_response(
            &m,
            0,
            &data,
            ch.auth_type,
            &ch.user.cred.password,
            ch.temp_id,
            initial_outbound,
        );
        let mut outbound = initial_outbound;
        next_session_seq(&mut outbound);
        let name = ch.user.display();
        self.sessions.insert(
            id,
            Box::new(Session {
                id,
                peer,
                last_activity: now,
                proto: Proto::Lan15(Lan15Session {
                    auth_type: ch.auth_type,
                    user: ch.user,
                    max_privilege: max,
                    privilege: if max == Privilege::Callback {
                        Privilege::Callback
                    } else {
                        Privilege::User
                    },
                    inbound: SeqWindow::new(
                        inbound_start.wrapping_sub(1),
                        false,
                        LAN15_WINDOW,
                        LAN15_WINDOW,
                        false,
                    ),
                    outbound,
                }),
            }),
        );
        Outcome::Reply {
            datagram,
            event: Event::Established {
                session: SessionHandle(id),
                user: name,
                kind: SessionKind::Lan15 {
                    auth_type: ch.auth_type,
                },
            },
        }
    }

    fn activate_refused(
        &mut self,
        m: &IpmiMessage<'_>,
        ch: &Challenge,
        seq: u32,
        cc: u8,
    ) -> Outcome {
        Outcome::Reply {
            datagram: lan15_response(
                m,
                cc,
                &[],
                ch.auth_type,
                &ch.user.cred.password,
                ch.temp_id,
                seq,
            ),
            event: Event::ActivateRefused {
                completion_code: cc,
            },
        }
    }

    // ------------------------------------------------------------- outbound

    /// Encodes the response to `req` with `completion_code` and `data`, framed like
    /// the request: pre-session requests get a pre-session response (IPMI 1.5 with
    /// authtype none, or RMCP+ payload 00h with session ID 0); session requests get the
    /// session's protection and its next outbound sequence number.
    ///
    /// Returns `None` only if the request's session no longer exists (closed or
    /// expired meanwhile). For Close Session, seal first and close afterwards.
    pub fn seal_response(
        &mut self,
        req: &Request,
        completion_code: u8,
        data: &[u8],
    ) -> Option<Vec<u8>> {
        let mut body = Vec::with_capacity(1 + data.len());
        body.push(completion_code);
        body.extend_from_slice(data);
        let msg = IpmiMessage {
            dst_addr: req.rq_addr,
            netfn: req.netfn | 1,
            dst_lun: req.rq_lun,
            src_addr: req.rs_addr,
            seq: req.rq_seq,
            src_lun: req.lun,
            cmd: req.cmd,
            data: &body,
        }
        .to_vec();
        let Some(handle) = req.session else {
            return Some(if req.lan15 {
                lan15_datagram(AuthType::None, 0, 0, None, &msg)
            } else {
                plain_rmcp(PayloadKind::Ipmi, &msg)
            });
        };
        let session = self.sessions.get_mut(&handle.0)?;
        match &mut session.proto {
            Proto::Lan15(ls) => {
                let seq = next_session_seq(&mut ls.outbound);
                let code = crypto::lan15_auth_code(
                    ls.auth_type,
                    &ls.user.cred.password,
                    handle.0,
                    &msg,
                    seq,
                );
                Some(lan15_datagram(ls.auth_type, seq, handle.0, code, &msg))
            }
            Proto::Rmcp(rs) => seal_rmcp(rs, &mut self.rng, PayloadKind::Ipmi, &msg),
        }
    }

    /// Encodes a non-IPMI payload (SOL is 01h) for an established RMCP+ session, with
    /// the session's protection and the shared outbound sequence counter. `None` if the
    /// session is gone, not established, or IPMI 1.5.
    pub fn seal_payload(
        &mut self,
        session: SessionHandle,
        payload_type: u8,
        payload: &[u8],
    ) -> Option<Vec<u8>> {
        let s = self.sessions.get_mut(&session.0)?;
        match &mut s.proto {
            Proto::Rmcp(rs) => seal_rmcp(
                rs,
                &mut self.rng,
                PayloadKind::from(payload_type & 0x3F),
                payload,
            ),
            Proto::Lan15(_) => None,
        }
    }

    // ------------------------------------------------------------- control

    /// Set Session Privilege Level (06h/3Bh) for `session`. `requested` is the raw
    /// request byte: bits 3:0 = level, 0 = "no change, report the present level".
    /// Errors are the command's completion codes: 81h above the session's maximum
    /// (user, channel and requested limits), CCh not a level. The OEM level is only
    /// granted when it is within the maximum.
    pub fn set_privilege(
        &mut self,
        session: SessionHandle,
        requested: u8,
    ) -> Result<Privilege, CompletionCode> {
        let s = self
            .sessions
            .get_mut(&session.0)
            .ok_or(CompletionCode(cc::UNSPECIFIED))?;
        let (current, max) = match &mut s.proto {
            Proto::Lan15(l) => (&mut l.privilege, l.max_privilege),
            Proto::Rmcp(r) => match &mut r.state {
                RmcpState::Active { privilege, .. } => (privilege, r.max_privilege),
                _ => return Err(CompletionCode(cc::UNSPECIFIED)),
            },
        };
        let level = requested & 0x0F;
        if level == 0 {
            return Ok(*current);
        }
        let Some(p) = Privilege::from_u8(level) else {
            return Err(CompletionCode(cc::INVALID_FIELD));
        };
        if p > max {
            return Err(CompletionCode(0x81));
        }
        *current = p;
        Ok(p)
    }

    /// Closes the session with BMC session ID `id` (Close Session, or the control API).
    /// Returns false if there was none. Not reported through [`Self::poll_closed`].
    pub fn close(&mut self, id: u32) -> bool {
        self.sessions.remove(&id).is_some()
    }

    /// Closes every session and forgets pending challenges (BMC reset, power loss of
    /// the management controller).
    pub fn close_all(&mut self) {
        self.sessions.clear();
        self.challenges.clear();
    }

    /// Closes sessions idle for longer than the idle timeout and forgets stale
    /// challenges. Established sessions closed here are queued for
    /// [`Self::poll_closed`] (so the command layer can release SOL and journal it);
    /// abandoned handshakes vanish silently. [`Self::handle`] calls this first, so a
    /// service that never calls it still never sees an expired session.
    pub fn expire(&mut self, now: Instant) {
        if self.sweep_after.is_some_and(|t| now <= t) {
            return;
        }
        let timeout = self.config.idle_timeout;
        let stale = |last: Instant| now.saturating_duration_since(last) > timeout;
        let expired: Vec<(u32, bool)> = self
            .sessions
            .values()
            .filter(|s| stale(s.last_activity))
            .map(|s| (s.id, s.established()))
            .collect();
        for (id, established) in expired {
            self.sessions.remove(&id);
            if established {
                self.closed
                    .push((SessionHandle(id), CloseReason::IdleTimeout));
            }
        }
        self.challenges.retain(|c| !stale(c.issued));
        // Entries created from now on have deadlines after now + timeout, and activity
        // only moves deadlines later, so the earliest deadline is a safe lower bound.
        self.sweep_after = self.next_timeout().or_else(|| now.checked_add(timeout));
    }

    /// Next session closed by the layer itself (idle timeout), oldest first.
    pub fn poll_closed(&mut self) -> Option<(SessionHandle, CloseReason)> {
        if self.closed.is_empty() {
            None
        } else {
            Some(self.closed.remove(0))
        }
    }

    /// When the next idle expiry is due, if any session or challenge exists: the
    /// service arms a timer for it and calls [`Self::expire`].
    pub fn next_timeout(&self) -> Option<Instant> {
        let timeout = self.config.idle_timeout;
        self.sessions
            .values()
            .map(|s| s.last_activity)
            .chain(self.challenges.iter().map(|c| c.issued))
            .min()
            .and_then(|t| t.checked_add(timeout))
    }

    /// Established sessions, in session-ID order.
    pub fn active(&self) -> impl Iterator<Item = SessionInfo> + '_ {
        self.sessions.values().filter_map(|s| s.info())
    }

    /// [`Self::active`] without what allocates (the user name).
    pub fn active_briefs(&self) -> impl Iterator<Item = SessionBrief> + '_ {
        self.sessions.values().filter_map(|s| s.brief())
    }

    /// One established session.
    pub fn session_info(&self, session: SessionHandle) -> Option<SessionInfo> {
        self.sessions.get(&session.0).and_then(|s| s.info())
    }

    /// Number of table slots in use (established sessions and pending handshakes).
    pub fn slots_in_use(&self) -> usize {
        self.sessions.len()
    }

    /// Why a session ID has no session: recently expired, or never known.
    fn missing(&self, id: u32) -> DropReason {
        if self.closed.iter().any(|(h, _)| h.0 == id) {
            DropReason::Expired(id)
        } else {
            DropReason::UnknownSession(id)
        }
    }

    fn fresh_id(&mut self) -> u32 {
        loop {
            let id = self.rng.next_u32();
            if id != 0
                && !self.sessions.contains_key(&id)
                && !self.challenges.iter().any(|c| c.temp_id == id)
            {
                return id;
            }
        }
    }
}

/// RAKP1 checks in the order real BMCs apply them; returns the user and the requested
/// privilege, or the RAKP2 status to refuse with.
fn check_rakp1(
    m: &Rakp1<'_>,
    session_max: Privilege,
    users: &dyn UserDirectory,
) -> Result<(User, Privilege), RmcpStatus> {
    if m.role & !(ROLE_PRIVILEGE_MASK | ROLE_NAME_ONLY_LOOKUP) != 0 {
        return Err(RmcpStatus::InvalidRole);
    }
    let Some(requested) = Privilege::from_u8(m.role & ROLE_PRIVILEGE_MASK) else {
        return Err(RmcpStatus::InvalidRole);
    };
    if usize::from(m.name_len) > MAX_USERNAME_LEN {
        return Err(RmcpStatus::InvalidNameLength);
    }
    let cred = match users.lookup(m.username) {
        Some(c) if c.enabled => c,
        _ => return Err(RmcpStatus::UnauthorizedName),
    };
    if m.role & ROLE_NAME_ONLY_LOOKUP == 0 && requested != cred.max_privilege {
        return Err(RmcpStatus::UnauthorizedName);
    }
    if requested > cred.max_privilege || requested > session_max {
        return Err(RmcpStatus::UnauthorizedRole);
    }
    Ok((
        User {
            name: m.username.to_vec(),
            cred,
        },
        requested,
    ))
}

fn accept_open(rq: &OpenSessionRequest, bmc_id: u32, max: Privilege) -> OpenSessionResponse {
    OpenSessionResponse {
        tag: rq.tag,
        status: RmcpStatus::NoError,
        max_privilege: max.as_u8(),
        console_session_id: rq.console_session_id,
        accepted: Some((bmc_id, rq.algorithms)),
    }
}

fn seal_rmcp(
    rs: &mut RmcpSession,
    rng: &mut StdRng,
    kind: PayloadKind,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let RmcpState::Active { keys, .. } = &rs.state else {
        return None;
    };
    let seq = if keys.authenticated() {
        next_session_seq(&mut rs.out_auth)
    } else {
        next_session_seq(&mut rs.out_unauth)
    };
    Some(keys.seal(kind, None, rs.console_id, seq, payload, rng))
}

fn check_lan15_auth(h: &Lan15Header, password: &[u8], message: &[u8]) -> Result<(), DropReason> {
    if h.auth_type == AuthType::None {
        return Ok(());
    }
    let expected =
        crypto::lan15_auth_code(h.auth_type, password, h.session_id, message, h.session_seq)
            .ok_or(DropReason::AuthType(h.auth_type))?;
    match &h.auth_code {
        Some(code) if crypto::ct_eq(code, &expected) => Ok(()),
        _ => Err(DropReason::BadAuthCode),
    }
}

fn presession_request(m: &IpmiMessage<'_>, lan15: bool, peer: SocketAddr) -> Request {
    Request {
        session: None,
        user: None,
        user_id: None,
        privilege: None,
        netfn: m.netfn,
        lun: m.dst_lun,
        cmd: m.cmd,
        rq_seq: m.seq,
        rq_addr: m.src_addr,
        rq_lun: m.src_lun,
        rs_addr: m.dst_addr,
        data: m.data.to_vec(),
        lan15,
        peer,
    }
}

fn trim_nul(name: &[u8]) -> &[u8] {
    let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
    &name[..end]
}

fn plain_rmcp(kind: PayloadKind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + payload.len());
    // Payloads built here are a few dozen bytes; the length cannot overflow u16.
    let _ = RmcpPlusPacket::emit_plain(PayloadType::plain(kind), None, 0, 0, payload, &mut out);
    out
}

fn lan15_datagram(
    auth_type: AuthType,
    seq: u32,
    id: u32,
    code: Option<[u8; 16]>,
    msg: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(30 + msg.len());
    // Messages built here stay far below the 255-byte limit of the length byte.
    let _ = Lan15Packet {
        header: Lan15Header {
            auth_type,
            session_seq: seq,
            session_id: id,
            auth_code: code,
        },
        message: msg,
    }
    .emit(&mut out);
    out
}

fn response_message(rq: &IpmiMessage<'_>, cc: u8, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(1 + data.len());
    body.push(cc);
    body.extend_from_slice(data);
    IpmiMessage {
        dst_addr: rq.src_addr,
        netfn: rq.netfn | 1,
        dst_lun: rq.src_lun,
        src_addr: rq.dst_addr,
        seq: rq.seq,
        src_lun: rq.dst_lun,
        cmd: rq.cmd,
        data: &body,
    }
    .to_vec()
}

fn lan15_presession_response(rq: &IpmiMessage<'_>, cc: u8, data: &[u8]) -> Vec<u8> {
    lan15_datagram(AuthType::None, 0, 0, None, &response_message(rq, cc, data))
}

fn lan15_response(
    rq: &IpmiMessage<'_>,
    cc: u8,
    data: &[u8],
    auth_type: AuthType,
    password: &[u8],
    id: u32,
    seq: u32,
) -> Vec<u8> {
    let msg = response_message(rq, cc, data);
    let code = crypto::lan15_auth_code(auth_type, password, id, &msg, seq);
    lan15_datagram(auth_type, seq, id, code, &msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_rmcp() {
        let mut w = SeqWindow::new(0, true, RMCP_WINDOW_BELOW, RMCP_WINDOW_ABOVE, false);
        assert!(w.check(0).is_err());
        assert!(w.check(16).is_err());
        assert!(w.check(15).is_ok());
        w.accept(3);
        assert_eq!(w.check(3), Err(DropReason::Replay(3)));
        assert!(w.check(2).is_ok());
        w.accept(2);
        assert_eq!(w.check(2), Err(DropReason::Replay(2)));
        w.accept(18);
        assert_eq!(
            w.check(2),
            Err(DropReason::Replay(2)),
            "18-16 = 2 is still tracked"
        );
        assert!(w.check(4).is_ok(), "in the window and never seen");
        assert!(w.check(1).is_err());
        assert!(w.check(34).is_err());
        assert!(w.check(33).is_ok());
    }

    #[test]
    fn window_wraps() {
        let mut w = SeqWindow::new(u32::MAX - 2, true, 8, 8, false);
        assert!(w.check(3).is_ok());
        w.accept(3);
        assert_eq!(w.check(3), Err(DropReason::Replay(3)));
        assert!(w.check(u32::MAX).is_ok());
        assert!(w.check(12).is_err());
    }
}
