//! The IPMI service: one task per BMC endpoint (UDP 623 of each BMC's own
//! address) that feeds datagrams to the session layer, runs commands on the
//! shared model, drives Serial over LAN, applies the IPMI fault rules and
//! journals every command with user, privilege and completion code.
//!
//! Everything protocol-shaped is in the sans-IO modules; this file is only
//! the async loop around them.

use crate::commands::{self, BmcConfig, BmcState, CmdRequest, Effect, Key20};
use crate::crypto::CipherSuite;
use crate::session::{
    DropReason, Event, LanAuthTypes, Outcome, Request, SessionConfig, SessionHandle, SessionKind,
    Sessions, UserCred, UserDirectory,
};
use crate::sol::{SacHost, SerialConsole, SolLink};
use crate::wire::{ConfidentialityAlgorithm, Privilege as WirePrivilege};
use fakedc_model::{FaultKind, Machine, MachineId, Model, Privilege, Record, ServiceKind};
use fakedc_net::udp::Drained;
use fakedc_net::{BoxFuture, Services, UdpEndpoint, UdpService};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, info_span};

/// `[machine.options.ipmi]` in a scenario.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpmiOptions {
    /// RMCP+ cipher suites offered (default 3 and 17).
    pub cipher_suites: Option<Vec<u8>>,
    /// IPMI 1.5 authentication types: "none", "md5", "password"
    /// (default md5 and password).
    pub lan_auth: Option<Vec<String>>,
    /// Simultaneous sessions (default 4, like many real BMCs).
    pub max_sessions: Option<usize>,
    /// Idle timeout in seconds (default 60).
    pub idle_timeout_s: Option<u64>,
    /// BMC key Kg as text (default none: Kg = Kuid).
    pub bmc_key: Option<String>,
    /// IANA manufacturer id for Get Device ID (default from the vendor).
    pub manufacturer_id: Option<u32>,
    pub product_id: Option<u16>,
}

pub use fakedc_net::OptionsError;

/// The validated configuration of one BMC.
#[derive(Debug, Clone)]
struct BmcSetup {
    session: SessionConfig,
    bmc: BmcConfig,
}

/// `[machine.options.ipmi]` checked, before anything is built from it.
struct Parsed {
    opts: IpmiOptions,
    suites: Vec<u8>,
    lan: LanAuthTypes,
    max_sessions: usize,
}

/// Parses and checks one machine's `[machine.options.ipmi]` (scenario
/// load calls this through the registry; `setup` again at start).
pub(crate) fn validate(m: &Machine) -> Result<(), OptionsError> {
    parse(m).map(|_| ())
}

fn parse(m: &Machine) -> Result<Parsed, OptionsError> {
    let err = |message: String| OptionsError::new(&m.name, "ipmi", message);
    let opts: IpmiOptions = match m.options.get("ipmi") {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| err(e.to_string()))?,
        None => IpmiOptions::default(),
    };
    let suites = opts.cipher_suites.clone().unwrap_or_else(|| vec![3, 17]);
    for s in &suites {
        if CipherSuite::by_id(*s).is_none() {
            return Err(err(format!(
                "cipher suite {s} is not implemented ({} are)",
                crate::crypto::supported_suite_ids()
            )));
        }
    }
    let mut lan = LanAuthTypes {
        none: false,
        md5: true,
        password: true,
    };
    if let Some(list) = &opts.lan_auth {
        lan = LanAuthTypes {
            none: false,
            md5: false,
            password: false,
        };
        for a in list {
            match a.as_str() {
                "none" => lan.none = true,
                "md5" => lan.md5 = true,
                "password" | "straight" => lan.password = true,
                other => {
                    return Err(err(format!(
                        "unknown lan_auth '{other}' (none, md5, password)"
                    )))
                }
            }
        }
    }
    let max_sessions = opts.max_sessions.unwrap_or(4);
    if !(1..=64).contains(&max_sessions) {
        return Err(err(format!("max_sessions {max_sessions} must be 1..=64")));
    }
    Ok(Parsed {
        opts,
        suites,
        lan,
        max_sessions,
    })
}

fn setup(model: &Model, id: MachineId) -> Result<BmcSetup, OptionsError> {
    let m = model.machine(id);
    let Parsed {
        opts,
        suites,
        lan,
        max_sessions,
    } = parse(m)?;
    let hw = model.chassis(m.chassis, model.clock.now()).hardware;
    let session = SessionConfig {
        suites: suites.clone(),
        lan_auth_types: lan,
        max_sessions,
        idle_timeout: Duration::from_secs(opts.idle_timeout_s.unwrap_or(60).max(1)),
        guid: hw.smbios_guid,
        bmc_key: opts.bmc_key.as_ref().map(|k| k.as_bytes().to_vec()),
        channel_privilege_limit: WirePrivilege::Admin,
    };
    let bmc = BmcConfig {
        auth_types: lan.bits(),
        cipher_suites: suites,
        kg_nonzero: opts
            .bmc_key
            .as_ref()
            .is_some_and(|k| k.bytes().any(|b| b != 0)),
        bmc_key: Key20::new(opts.bmc_key.as_deref().unwrap_or_default().as_bytes()),
        manufacturer_id: opts
            .manufacturer_id
            .unwrap_or_else(|| BmcConfig::manufacturer_for_vendor(&hw.vendor)),
        product_id: opts.product_id.unwrap_or(0x0FDC),
        max_sessions: max_sessions.min(63) as u8,
        ..BmcConfig::default()
    };
    Ok(BmcSetup { session, bmc })
}

/// Registers the IPMI service for every BMC, validating each BMC's options.
pub fn register(services: &mut Services, model: &Arc<Model>) -> Result<(), OptionsError> {
    for m in model.machines() {
        if m.endpoint(ServiceKind::Ipmi).is_some() {
            setup(model, m.id)?;
        }
    }
    services.udp(
        ServiceKind::Ipmi,
        Arc::new(IpmiService {
            model: model.clone(),
        }),
    );
    Ok(())
}

/// What `/about` lists: the session-layer operations and every command the
/// command layer implements.
pub fn operations() -> Vec<String> {
    let mut ops: Vec<String> = [
        "ASF Presence Ping",
        "RMCP+ Open Session (cipher suites 0-3, 6-8, 11-12, 15-17 as configured)",
        "RAKP 1-4",
        "IPMI 1.5 Get Session Challenge / Activate Session (none, MD5, straight password)",
        "Serial over LAN payload (scripted boot log; a Linux login prompt and echo, or Windows EMS/SAC on Windows hosts)",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for netfn in [0x00u8, 0x04, 0x06, 0x0A, 0x0C] {
        for cmd in 0..=255u8 {
            if let Some(name) = commands::command_name(netfn, cmd, &[]) {
                ops.push(name.to_string());
            }
        }
    }
    for cmd in 0..=255u8 {
        if let Some(name) = commands::command_name(0x2C, cmd, &[0xDC]) {
            ops.push(name.to_string());
        }
    }
    ops
}

struct IpmiService {
    model: Arc<Model>,
}

impl UdpService for IpmiService {
    fn run(self: Arc<Self>, ep: UdpEndpoint) -> BoxFuture<()> {
        let model = self.model.clone();
        // The network runs this on a connection thread: receive, command
        // and answer on one thread, with no hand-off between workers.
        Box::pin(async move {
            let setup = match setup(&model, ep.machine) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "IPMI not started");
                    return;
                }
            };
            let mut bmc = Bmc::new(model, ep, setup);
            bmc.run().await;
        })
    }
}

/// The model's user table as the session layer sees it.
struct ModelUsers<'a>(&'a Model, MachineId);

fn to_wire(p: Privilege) -> WirePrivilege {
    match p {
        Privilege::Callback => WirePrivilege::Callback,
        Privilege::User => WirePrivilege::User,
        Privilege::Operator => WirePrivilege::Operator,
        Privilege::Admin => WirePrivilege::Admin,
    }
}

fn from_wire(p: WirePrivilege) -> Privilege {
    match p {
        WirePrivilege::Callback => Privilege::Callback,
        WirePrivilege::User => Privilege::User,
        WirePrivilege::Operator => Privilege::Operator,
        WirePrivilege::Admin | WirePrivilege::Oem => Privilege::Admin,
    }
}

impl UserDirectory for ModelUsers<'_> {
    fn lookup(&self, name: &[u8]) -> Option<UserCred> {
        self.0
            .users(self.1)
            .iter()
            .find(|u| u.name.as_bytes() == name)
            .map(|u| UserCred {
                id: u.id,
                password: u.password.as_bytes().iter().copied().take(20).collect(),
                max_privilege: to_wire(u.privilege),
                enabled: u.enabled,
            })
    }
}

/// The active SOL instance.
struct ActiveSol {
    session: SessionHandle,
    peer: SocketAddr,
    link: SolLink,
}

/// How often an active SOL console looks at the host's power state.
const SOL_POLL: Duration = Duration::from_millis(50);
/// The largest datagram read: RMCP+ with a 255-byte SOL payload, integrity
/// and AES padding fits in well under 1 KiB; 2 KiB leaves room for clients'
/// oversized requests, which are then answered with a completion code.
const MAX_DATAGRAM: usize = fakedc_net::udp::DATAGRAM_MAX;
/// How long a BMC with nothing due sleeps before looking again.
const IDLE_WAKE: Duration = Duration::from_secs(3600);

struct Bmc {
    model: Arc<Model>,
    ep: Arc<UdpEndpoint>,
    /// Answers the socket had no room for, sent (awaited) before the next
    /// receive; empty, and without an allocation, nearly always.
    outbox: Vec<(Vec<u8>, SocketAddr)>,
    id: MachineId,
    sessions: Sessions,
    state: BmcState,
    sol: Option<ActiveSol>,
    console: SerialConsole,
}

impl Bmc {
    fn new(model: Arc<Model>, ep: UdpEndpoint, setup: BmcSetup) -> Bmc {
        let mut bmc_cfg = setup.bmc;
        bmc_cfg.udp_port = ep.local_addr().map(|a| a.port()).unwrap_or(623);
        let m = model.machine(ep.machine);
        // The managed host's serial port: EMS/SAC on a Windows role, a
        // Linux console otherwise (and on a bare BMC).
        let console = match m.host.map(|h| model.machine(h)) {
            Some(h) if h.role.is_windows() => SerialConsole::windows(SacHost {
                name: h.name.clone(),
                guid: model
                    .chassis(h.chassis, model.clock.now())
                    .hardware
                    .guid_string(),
                address: h.address,
                role: h.role,
            }),
            Some(h) => SerialConsole::new(&h.name),
            None => SerialConsole::new(&m.name),
        };
        Bmc {
            id: ep.machine,
            console,
            sessions: Sessions::new(setup.session),
            state: {
                let mut st = BmcState::new(bmc_cfg);
                st.clock = model.clock.clone();
                st
            },
            sol: None,
            model,
            ep: Arc::new(ep),
            outbox: Vec::new(),
        }
    }

    /// When the BMC next has work of its own: idle expiry, SOL retries and
    /// polls, the watchdog (which acts on the chassis when its time comes,
    /// not only at the next request).
    fn deadline(&self, now: Instant) -> Instant {
        [
            self.sessions.next_timeout(),
            self.sol.as_ref().and_then(|s| s.link.next_timeout()),
            self.sol.as_ref().map(|_| now + SOL_POLL),
            self.state.next_timer(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + IDLE_WAKE)
    }

    /// The loop: datagrams as they come, the BMC's own deadlines between.
    /// The shutdown wait and the timer live across iterations, and the timer
    /// is only re-armed when a deadline comes earlier than the one it is
    /// armed for: activity moves idle deadlines later, so a timer that
    /// fires early just finds nothing due and is armed again (a timer armed
    /// and dropped per datagram was a lock on the timer wheel each way).
    async fn run(&mut self) {
        let shutdown = self.ep.shutdown.clone();
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        let sleep = tokio::time::sleep(IDLE_WAKE);
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        loop {
            self.flush().await;
            let now = self.model.clock.now();
            let deadline = self.deadline(now);
            if armed.is_none_or(|a| deadline < a) {
                // Deadlines are on the model's clock; sleep the real
                // duration to them (an advanced clock makes them due).
                armed = Some(deadline);
                sleep
                    .as_mut()
                    .reset(tokio::time::Instant::now() + deadline.saturating_duration_since(now));
            }
            let ep = self.ep.clone();
            tokio::select! {
                biased;
                _ = &mut cancelled => break,
                _ = ep.readable() => self.drain().await,
                _ = &mut sleep => {
                    armed = None;
                    self.tick();
                }
            }
        }
    }

    /// Receives and answers everything queued; datagrams come through the
    /// fault rules' path while rules exist.
    async fn drain(&mut self) {
        let ep = self.ep.clone();
        loop {
            match ep.try_drain(|data, peer| self.datagram(data, peer)) {
                Drained::Empty => return,
                Drained::More => self.flush().await,
                Drained::Faults => match ep.try_recv_admitted::<MAX_DATAGRAM>().await {
                    Err(()) => return,
                    Ok(None) => {}
                    Ok(Some((data, peer))) => {
                        self.datagram(&data, peer);
                        self.flush().await;
                    }
                },
            }
        }
    }

    /// Sends now if the socket has room, else queues for [`Self::flush`].
    fn send(&mut self, datagram: Vec<u8>, peer: SocketAddr) {
        if !self.ep.try_send_to(&datagram, peer) {
            self.outbox.push((datagram, peer));
        }
    }

    /// Sends the queued answers, waiting for room.
    async fn flush(&mut self) {
        if self.outbox.is_empty() {
            return;
        }
        for (d, peer) in std::mem::take(&mut self.outbox) {
            self.ep.send_to(&d, peer).await;
        }
    }

    fn journal(
        &self,
        peer: Option<SocketAddr>,
        user: Option<String>,
        operation: String,
        outcome: String,
        latency: Duration,
    ) {
        self.model.journal.record(Record {
            machine: self.ep.machine_name.clone(),
            service: ServiceKind::Ipmi.name().into(),
            peer,
            user,
            operation,
            outcome,
            latency,
        });
    }

    fn faults(&self) -> Vec<FaultKind> {
        if self.model.faults.is_empty() {
            return Vec::new();
        }
        self.model
            .faults
            .matching(&self.ep.machine_name, ServiceKind::Ipmi.name())
    }

    fn datagram(&mut self, data: &[u8], peer: SocketAddr) {
        let _span = info_span!("datagram", %peer, len = data.len()).entered();
        let t0 = self.model.clock.now();
        let outcome = {
            let users = ModelUsers(&self.model, self.id);
            self.sessions.handle(t0, peer, data, &users)
        };
        match outcome {
            Outcome::Reply { datagram, event } => {
                let (op, user, outcome) = describe_event(&event);
                self.send(datagram, peer);
                self.journal(Some(peer), user, op, outcome, self.model.clock.since(t0));
            }
            Outcome::Request(req) => self.request(req, t0),
            Outcome::Payload {
                session,
                payload_type,
                bytes,
            } => self.payload(session, payload_type, &bytes, t0),
            Outcome::Drop(reason) => {
                debug!(%reason, "datagram dropped");
                let op = match reason {
                    DropReason::Malformed(_) => "malformed datagram",
                    DropReason::Crypto(_) | DropReason::BadAuthCode => "integrity failure",
                    DropReason::Replay(_) | DropReason::SequenceOutOfWindow { .. } => {
                        "sequence rejected"
                    }
                    _ => "datagram dropped",
                };
                self.journal(
                    Some(peer),
                    None,
                    op.into(),
                    reason.to_string(),
                    self.model.clock.since(t0),
                );
            }
        }
        self.sync_closed();
    }

    /// The command layer's view of the established sessions, brought up to
    /// date before a command runs. Compared in place first: it changes only
    /// when a session opens, closes or changes privilege, and rebuilding it
    /// per request was an allocation per request and per session.
    fn sync_sessions(&mut self) {
        let fresh = || self.session_list();
        let current = self.state.sessions();
        if current.len() != fresh().count() || !fresh().zip(current).all(|(a, b)| a == *b) {
            let list = fresh().collect();
            self.state.set_sessions(list);
        }
    }

    fn session_list(&self) -> impl Iterator<Item = commands::SessionInfo> + '_ {
        self.sessions.active_briefs().enumerate().map(|(i, s)| {
            let (ipmi20, encrypted) = match s.kind {
                SessionKind::RmcpPlus { suite } => (
                    true,
                    CipherSuite::by_id(suite)
                        .is_some_and(|c| c.confidentiality != ConfidentialityAlgorithm::None),
                ),
                SessionKind::Lan15 { .. } => (false, false),
            };
            let ip = match s.peer.ip() {
                IpAddr::V4(a) => a.octets(),
                IpAddr::V6(_) => [0; 4],
            };
            commands::SessionInfo {
                handle: (i + 1).min(255) as u8,
                session_id: s.handle.id(),
                user_id: s.user_id,
                privilege: from_wire(s.privilege),
                ipmi20,
                encrypted,
                channel: commands::LAN_CHANNEL,
                console_ip: ip,
                console_mac: [0; 6],
                console_port: s.peer.port(),
            }
        })
    }

    fn request(&mut self, req: Request, t0: Instant) {
        let faults = self.faults();
        let name = commands::command_name(req.netfn, req.cmd, &req.data)
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!(
                    "netfn {:02X}h cmd {:02X}h (not implemented)",
                    req.netfn, req.cmd
                )
            });
        let privilege = req.privilege.map(from_wire);
        let (cc, data, effect) = if faults.iter().any(|f| matches!(f, FaultKind::Busy)) {
            (commands::cc::NODE_BUSY, Vec::new(), Effect::None)
        } else {
            self.sync_sessions();
            let creq = CmdRequest {
                netfn: req.netfn,
                lun: req.lun,
                cmd: req.cmd,
                data: &req.data,
                privilege: privilege.unwrap_or(Privilege::Callback),
                session_id: req.session.map(|h| h.id()),
                user: req.user.as_deref(),
                channel: commands::LAN_CHANNEL,
            };
            let r = commands::handle(&self.model, self.id, &mut self.state, &creq, t0);
            (r.cc, r.data, r.effect)
        };
        let (cc, data) = match (effect, req.session) {
            (Effect::SetSessionPrivilege(p), Some(h)) => {
                match self.sessions.set_privilege(h, to_wire(p).as_u8()) {
                    Ok(granted) => (0, vec![granted.as_u8()]),
                    Err(code) => (code.0, Vec::new()),
                }
            }
            _ => (cc, data),
        };
        if let Some(mut sealed) = self.sessions.seal_response(&req, cc, &data) {
            if faults.iter().any(|f| matches!(f, FaultKind::WrongHmac)) && req.session.is_some() {
                // Corrupt the integrity code: the last byte of the trailer.
                if let Some(b) = sealed.last_mut() {
                    *b ^= 0x5A;
                }
            }
            self.send(sealed, req.peer);
        }
        match effect {
            // `lan set N auth ...` governs the logins that follow.
            Effect::SetLanAuthEnables(enables) => self.sessions.set_lan_auth_enables(enables),
            // Set Channel Security Keys: K_G for the logins that follow.
            Effect::SetBmcKey(key) => self.sessions.set_bmc_key(key.0),
            Effect::CloseSession(id) => {
                self.sessions.close(id);
                self.session_gone(id);
            }
            Effect::CloseAllSessions => {
                self.sessions.close_all();
                self.state.reset();
                self.sol = None;
            }
            Effect::ActivateSol { .. } if cc == 0 => {
                if let Some(session) = req.session {
                    let (interval, retries) =
                        (self.state.sol.retry_interval(), self.state.sol.retries());
                    self.sol = Some(ActiveSol {
                        session,
                        peer: req.peer,
                        link: SolLink::new(interval, retries),
                    });
                    self.console.reset();
                    // The first tick syncs the console with the host's power
                    // and prints the login prompt or the boot log.
                    self.tick();
                }
            }
            Effect::DeactivateSol { .. } => self.sol = None,
            _ => {}
        }
        let who = match privilege {
            Some(Privilege::Callback) => "callback",
            Some(Privilege::User) => "user",
            Some(Privilege::Operator) => "operator",
            Some(Privilege::Admin) => "admin",
            None => "pre-session",
        };
        self.journal(
            Some(req.peer),
            req.user,
            name,
            format!("cc {cc:02X}h as {who}"),
            self.model.clock.since(t0),
        );
        self.journal_timers();
    }

    /// Journals what the BMC's timers (the watchdog) did.
    fn journal_timers(&mut self) {
        for (operation, outcome) in self.state.take_timer_events() {
            self.journal(None, None, operation.into(), outcome, Duration::ZERO);
        }
    }

    fn session_gone(&mut self, id: u32) {
        self.state.session_closed(id);
        if self.sol.as_ref().is_some_and(|s| s.session.id() == id) {
            self.sol = None;
        }
    }

    /// Applies sessions the session layer closed by itself (idle expiry).
    fn sync_closed(&mut self) {
        while let Some((h, reason)) = self.sessions.poll_closed() {
            self.session_gone(h.id());
            self.journal(
                None,
                None,
                "session closed".into(),
                format!("{reason:?}"),
                Duration::ZERO,
            );
        }
    }

    fn payload(&mut self, session: SessionHandle, payload_type: u8, bytes: &[u8], t0: Instant) {
        let Some(sol) = self
            .sol
            .as_mut()
            .filter(|s| s.session == session && payload_type == 0x01)
        else {
            self.journal(
                None,
                None,
                "payload".into(),
                format!("type {payload_type:02X}h not active; dropped"),
                self.model.clock.since(t0),
            );
            return;
        };
        let peer = sol.peer;
        let out = sol.link.receive(t0, bytes);
        let reply = self
            .console
            .input(t0, self.model.clock.unix_millis(), &out.input);
        for p in out.packets {
            self.send_sol(session, &p);
        }
        if !reply.text.is_empty() {
            self.sol_output(&reply.text);
        }
        if let Some(action) = reply.power {
            // The host's OS restarts or powers off its own chassis (SAC
            // `restart`/`shutdown`); the next tick shows the result.
            self.model.power_action(self.id, action, t0);
            self.journal(
                Some(peer),
                None,
                "SOL console".into(),
                format!("host OS power action {action:?}"),
                self.model.clock.since(t0),
            );
        }
    }

    fn send_sol(&mut self, session: SessionHandle, payload: &[u8]) {
        let peer = match &self.sol {
            Some(s) => s.peer,
            None => return,
        };
        if let Some(d) = self.sessions.seal_payload(session, 0x01, payload) {
            self.send(d, peer);
        }
    }

    fn sol_output(&mut self, bytes: &[u8]) {
        let now = self.model.clock.now();
        let Some(sol) = self.sol.as_mut() else { return };
        sol.link.queue(bytes);
        let session = sol.session;
        let out = sol.link.poll(now);
        for p in out.packets {
            self.send_sol(session, &p);
        }
    }

    fn tick(&mut self) {
        let now = self.model.clock.now();
        self.sessions.expire(now);
        self.sync_closed();
        self.state.poll_timers(&self.model, self.id, now);
        self.journal_timers();
        if self.sol.is_some() {
            let c = self.model.machine(self.id).chassis;
            let (power_on, booting, os_up, device) = self.model.with_chassis(c, now, |ch| {
                (
                    ch.power.power_on(),
                    matches!(ch.power, fakedc_model::PowerState::Booting { .. }),
                    ch.os_up(),
                    ch.last_boot_device.label(),
                )
            });
            let text = self.console.sync(now, power_on, booting, os_up, device);
            if !text.is_empty() {
                self.sol_output(&text);
            }
            if let Some(sol) = self.sol.as_mut() {
                let session = sol.session;
                let out = sol.link.poll(now);
                for p in out.packets {
                    self.send_sol(session, &p);
                }
            }
        }
    }
}

fn describe_event(e: &Event) -> (String, Option<String>, String) {
    match e {
        Event::AsfPong => ("ASF Presence Ping".into(), None, "pong".into()),
        Event::OpenSession { status, suite } => (
            "Open Session".into(),
            None,
            match suite {
                Some(s) => format!("{status:?}, cipher suite {s}"),
                None => format!("{status:?}"),
            },
        ),
        Event::Rakp2 { status, user } => (
            "RAKP 1".into(),
            Some(user.clone()),
            format!("RAKP 2 {status:?}"),
        ),
        Event::Rakp4Refused { status, user } => (
            "RAKP 3".into(),
            Some(user.clone()),
            format!("RAKP 4 {status:?}"),
        ),
        Event::Challenge {
            completion_code,
            user,
        } => (
            "Get Session Challenge".into(),
            Some(user.clone()),
            format!("cc {completion_code:02X}h"),
        ),
        Event::ActivateRefused { completion_code } => (
            "Activate Session".into(),
            None,
            format!("cc {completion_code:02X}h"),
        ),
        Event::Established { user, kind, .. } => (
            "session established".into(),
            Some(user.clone()),
            format!("{kind:?}"),
        ),
    }
}
