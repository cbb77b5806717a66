//! VMConnect's network glue on a Hyper-V host's 2179: the Direct Approach
//! (preconnection PDU → TLS → CredSSP → X.224/MCS → active), then the
//! console as fast-path bitmap updates and keyboard input into it. Every
//! peer-controlled size is bounded by the codecs; any decoding error ends
//! only this connection.

use crate::credssp::{self, TsRequest};
use crate::keys::Keyboard;
use crate::pdu::{self, data_type, Domain, FrameKind, Share};
use crate::{pcb, RdpError};
use fakedc_console::{Consoles, Frame, Key, VmRef};
use fakedc_model::{Model, PowerAction, ServiceKind};
use fakedc_net::{BoxFuture, Conn, ConnInfo, RequestJournal, Services, TcpService};
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::debug;

/// Hyper-V closes a connection whose preconnection PDU has not arrived
/// in 10 s (per IronRDP's VMConnect client notes).
pub const PCB_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the rest of the connection sequence may take.
pub const SEQUENCE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often an active session re-renders the console and sends what
/// changed.
pub const FRAME_INTERVAL: Duration = Duration::from_millis(50);
/// Bitmap updates go out in tiles of this size (64×64 at 32 bpp is 16 KiB,
/// well inside a fast-path PDU's 32 KiB).
pub const TILE: u16 = 64;
/// The largest slow-path or fast-path PDU accepted from a client (a TPKT
/// length is 16 bits anyway).
pub const MAX_PDU: usize = 0xffff;

pub fn register(services: &mut Services, model: &Arc<Model>) {
    services.tcp(
        ServiceKind::VmConnect,
        Arc::new(RdpService {
            model: model.clone(),
            consoles: fakedc_console::consoles(model),
            tls: Mutex::new(HashMap::new()),
        }),
    );
}

/// What `/about` lists.
pub fn operations() -> Vec<String> {
    [
        "preconnection PDU v1/v2 (VM id, EnhancedMode)",
        "enhanced session: closed after CredSSP as for a VM without enhanced-session support",
        "TLS (host certificate)",
        "CredSSP v2-6 (NTLM, public-key binding, client nonce)",
        "X.224 (HYBRID)",
        "MCS/GCC connect",
        "licensing (valid client)",
        "capability exchange",
        "connection finalization",
        "fast-path bitmap updates (RDP 6.0 planar at 32 bpp, uncompressed at 15/16/24 bpp)",
        "system pointer (default)",
        "keyboard input (scancodes, Unicode, slow and fast path)",
        "refresh rect",
        "suppress output",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// What [`Consoles::state_key`] returns: the last frame sent is redrawn
/// only when it changes.
type StateKey = (u8, u128, u64);

type TlsCfg = (Arc<rustls::ServerConfig>, Vec<u8>);

pub struct RdpService {
    model: Arc<Model>,
    consoles: Arc<Consoles>,
    /// The TLS configuration and the leaf's public key (CredSSP binds to
    /// it) per machine and address.
    tls: Mutex<HashMap<String, TlsCfg>>,
}

impl TcpService for RdpService {
    fn serve(self: Arc<Self>, conn: Conn) -> BoxFuture<()> {
        Box::pin(async move { self.run(conn).await })
    }
}

/// How a connection ended, for the journal.
struct Outcome {
    user: Option<String>,
    vm: Option<String>,
    text: String,
}

impl RdpService {
    async fn run(self: Arc<Self>, conn: Conn) {
        let start = self.model.clock.now();
        let info = conn.info.clone();
        let mut out = Outcome {
            user: None,
            vm: None,
            text: String::new(),
        };
        let r = self.session(conn.io, &info, &mut out).await;
        let outcome = match r {
            Ok(()) if out.text.starts_with("refused") => out.text.clone(),
            Ok(()) => format!("ok: {}", out.text),
            Err(e) => {
                debug!(error = %e, "vmconnect connection ended");
                if out.text.is_empty() {
                    format!("error: {e}")
                } else {
                    out.text.clone()
                }
            }
        };
        RequestJournal {
            model: &self.model,
            conn: &info,
            user: out.user.clone(),
            op: match &out.vm {
                Some(vm) => format!("vmconnect {vm}"),
                None => "vmconnect".into(),
            },
            start,
        }
        .record(&outcome);
    }

    fn tls_config(&self, info: &ConnInfo) -> io::Result<TlsCfg> {
        let key = format!("{}|{}", info.dns_name, info.local.ip());
        if let Some(c) = self.tls.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(c);
        }
        let ca = info
            .ca
            .as_ref()
            .ok_or_else(|| io::Error::other("VMConnect needs TLS and no CA is configured"))?;
        let (chain, private) = ca
            .leaf(&info.dns_name, info.local.ip())
            .map_err(io::Error::other)?;
        let leaf = chain
            .first()
            .ok_or_else(|| io::Error::other("empty certificate chain"))?;
        let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
            .map_err(|e| io::Error::other(format!("own certificate: {e}")))?;
        let public_key = cert.public_key().subject_public_key.data.to_vec();
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(io::Error::other)?;
        // RDP runs its own framing inside TLS from the first byte: no
        // ALPN, no tickets after the handshake (as the upgrade config).
        cfg.send_tls13_tickets = 0;
        let c = (Arc::new(cfg), public_key);
        if let Ok(mut m) = self.tls.lock() {
            m.insert(key, c.clone());
        }
        Ok(c)
    }

    async fn session(
        &self,
        mut io: fakedc_net::BoxIo,
        info: &ConnInfo,
        out: &mut Outcome,
    ) -> io::Result<()> {
        // Where the time goes, per phase (RUST_LOG=fakedc_rdp=debug): the
        // first-frame benchmark reads these beside FreeRDP's own log.
        let t0 = self.model.clock.now();
        let phase = |name: &str| {
            debug!(
                ms = self.model.clock.since(t0).as_secs_f64() * 1e3,
                "vmconnect phase: {name}"
            )
        };
        // 1. The preconnection PDU, within Hyper-V's timeout.
        let mut head = [0u8; 4];
        match tokio::time::timeout(PCB_TIMEOUT, io.read_exact(&mut head)).await {
            Err(_) => {
                out.text = "refused: no preconnection PDU in time".into();
                return Ok(());
            }
            Ok(r) => {
                r?;
            }
        }
        if head[0] == 0x03 {
            // A plain RDP client (X.224 first): the VMConnect listener
            // cannot tell which VM it wants and closes.
            out.text = "refused: X.224 without a preconnection PDU".into();
            return Ok(());
        }
        let size = pcb::declared_size(head).map_err(bad)?;
        let mut buf = vec![0u8; size];
        buf[..4].copy_from_slice(&head);
        tokio::time::timeout(PCB_TIMEOUT, io.read_exact(&mut buf[4..]))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "preconnection PDU"))??;
        let pcb = pcb::decode(&buf).map_err(bad)?;
        let vm_id = pcb.vm_id().unwrap_or_default().to_string();
        let enhanced = pcb.enhanced();
        out.vm = Some(vm_id.clone());

        phase("preconnection PDU");
        // 2. TLS with the host's certificate, straight away.
        let (cfg, public_key) = self.tls_config(info)?;
        let tls = fakedc_net::tls::accept(io, cfg).await?;
        phase("TLS");
        let (rd, mut wr) = tokio::io::split(tls);
        let mut rd = Framed::new(rd);

        // 3. CredSSP.
        let auth = tokio::time::timeout(
            SEQUENCE_TIMEOUT,
            self.credssp(&mut rd, &mut wr, info, &public_key, !enhanced, out),
        )
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "CredSSP"))?;
        if !auth? {
            return Ok(());
        }
        phase("CredSSP");
        // Which VM: only an authenticated user learns whether an id names
        // one of this host's VMs (Hyper-V authorizes console access per VM
        // for a known user, so the lookup cannot come before CredSSP).
        let Some(vm) = fakedc_console::vm_of_host(&self.model, info.machine, &vm_id) else {
            out.text = "refused: unknown VM id".into();
            return Ok(());
        };
        out.vm = Some(vm.vm.name.clone());
        if enhanced {
            // An enhanced session is the guest's own Remote Desktop
            // service: from the X.224 Connection Request on, Hyper-V hands
            // the connection to it over VMBus (the host keeps only the
            // PCB, TLS and CredSSP; xrdp's `vmconnect` mode is the Linux
            // guest's side of this). No fakedc guest runs one (its screen
            // is the synthetic video console), so, as Hyper-V for a VM
            // without enhanced-session support, the request has nowhere
            // to go: the host reads it and closes without a Connection
            // Confirm. Clients that check `EnhancedSessionModeState` first
            // (vmconnect.exe) connect in basic mode instead.
            let cr = tokio::time::timeout(SEQUENCE_TIMEOUT, rd.pdu()).await;
            if let Ok(Ok((_, f))) = cr {
                pdu::decode_cr(&f).map_err(bad)?;
            }
            out.text =
                "refused: no enhanced session (the guest has no Remote Desktop service)".into();
            wr.shutdown().await?;
            return Ok(());
        }

        // 4. X.224, MCS, licensing, capabilities, finalization.
        let bpp = tokio::time::timeout(SEQUENCE_TIMEOUT, self.connect(&mut rd, &mut wr, &vm))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connection sequence"))??;
        let Some((bpp, pending, first)) = bpp else {
            out.text = "refused: the client did not ask for HYBRID".into();
            return Ok(());
        };
        phase("connection sequence");

        // 5. Active: the console.
        let now = self.model.clock.now();
        let keys_before = self.consoles.keys_typed(vm.vm.chassis);
        let r = self
            .active(&mut rd, &mut wr, info, &vm, bpp, pending, first)
            .await;
        let typed = self.consoles.keys_typed(vm.vm.chassis) - keys_before;
        out.text = format!(
            "active {} ms at {bpp} bpp, {typed} keys typed",
            self.model.clock.since(now).as_millis()
        );
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// CredSSP: NTLM through fakedc-ntlm, the public-key binding both ways,
    /// then the delegated credentials. `Ok(false)`: refused (journalled).
    async fn credssp<R, W>(
        &self,
        rd: &mut Framed<R>,
        wr: &mut W,
        info: &ConnInfo,
        public_key: &[u8],
        confirm_early: bool,
        out: &mut Outcome,
    ) -> io::Result<bool>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let target = fakedc_net::auth::target_info(&self.model, info);
        let model = self.model.clone();
        let machine = info.machine;
        let password_of = move |u: &str| model.find_user(machine, u).map(|u| u.password);
        let mut acceptor = fakedc_ntlm::http::Acceptor::default();
        let mut version;
        // NEGOTIATE → CHALLENGE.
        let req = TsRequest::decode(&rd.der().await?).map_err(bad)?;
        version = req.version.clamp(2, credssp::VERSION);
        let token = req
            .nego_token
            .ok_or_else(|| bad(RdpError::Protocol("first TSRequest without a token".into())))?;
        match acceptor.accept_token(&token, &target, &password_of) {
            Ok(fakedc_ntlm::http::TokenStep::Challenge(ch)) => {
                let reply = TsRequest {
                    version: credssp::VERSION,
                    nego_token: Some(ch),
                    ..TsRequest::default()
                };
                wr.write_all(&reply.encode()).await?;
            }
            Ok(_) => return Err(bad(RdpError::Protocol("NTLM finished in one leg".into()))),
            Err(e) => return Err(io::Error::other(e.to_string())),
        }
        // AUTHENTICATE + pubKeyAuth.
        let req = TsRequest::decode(&rd.der().await?).map_err(bad)?;
        version = version.min(req.version.max(2));
        let token = req.nego_token.ok_or_else(|| {
            bad(RdpError::Protocol(
                "second TSRequest without a token".into(),
            ))
        })?;
        let (user, mut session) = match acceptor.accept_token(&token, &target, &password_of) {
            Ok(fakedc_ntlm::http::TokenStep::Done { user, session, .. }) => (user, session),
            Ok(_) => return Err(bad(RdpError::Protocol("NTLM did not finish".into()))),
            Err(e) => {
                out.user = None;
                out.text = if e.is_bad_credentials() {
                    "refused: logon failure".into()
                } else {
                    format!("refused: {e}")
                };
                if version >= 3 {
                    let reply = TsRequest {
                        version: credssp::VERSION,
                        error_code: Some(credssp::STATUS_LOGON_FAILURE),
                        ..TsRequest::default()
                    };
                    wr.write_all(&reply.encode()).await?;
                    wr.flush().await?;
                }
                return Ok(false);
            }
        };
        let name = self
            .model
            .find_user(machine, &user)
            .map_or(user, |u| u.name);
        out.user = Some(format!(
            "{}\\{name}",
            info.machine_name.to_ascii_uppercase()
        ));
        let pka = req
            .pub_key_auth
            .ok_or_else(|| bad(RdpError::Protocol("no pubKeyAuth".into())))?;
        if pka.len() < 16 {
            return Err(bad(RdpError::Protocol("pubKeyAuth too short".into())));
        }
        let got = session
            .unwrap(&pka[..16], &pka[16..])
            .map_err(|e| io::Error::other(e.to_string()))?;
        let nonce = req.client_nonce;
        if got != credssp::client_binding(version, nonce.as_ref(), public_key) {
            out.text = "refused: pubKeyAuth does not bind the server's key".into();
            return Ok(false);
        }
        let (sig, sealed) = session.wrap(&credssp::server_binding(
            version,
            nonce.as_ref(),
            public_key,
        ));
        let mut pka = sig.to_vec();
        pka.extend_from_slice(&sealed);
        let reply = TsRequest {
            version: credssp::VERSION,
            pub_key_auth: Some(pka),
            ..TsRequest::default()
        };
        let mut flight = reply.encode();
        // The X.224 Connection Confirm goes out now, with the last CredSSP
        // answer, rather than after the client's Connection Request: in
        // the Direct Approach HYBRID is the only protocol the server can
        // select (MS-RDPBCGR 5.4.2.2), so the answer cannot depend on the
        // request (which `connect` still reads and checks). Why: FreeRDP 2
        // reads once right after each send and sleeps 100 ms when nothing
        // has arrived yet, so every answer not already in its socket costs
        // 100 ms; the client cannot otherwise tell the order apart.
        // (Not for an enhanced session, whose Connection Confirm would be
        // the guest's.)
        if confirm_early {
            flight.extend(pdu::connection_confirm(pdu::PROTOCOL_HYBRID));
        }
        wr.write_all(&flight).await?;
        wr.flush().await?;
        // authInfo: the delegated credentials.
        let req = TsRequest::decode(&rd.der().await?).map_err(bad)?;
        let ai = req
            .auth_info
            .ok_or_else(|| bad(RdpError::Protocol("no authInfo".into())))?;
        if ai.len() < 16 {
            return Err(bad(RdpError::Protocol("authInfo too short".into())));
        }
        let creds = session
            .unwrap(&ai[..16], &ai[16..])
            .map_err(|e| io::Error::other(e.to_string()))?;
        let creds = credssp::decode_credentials(&creds).map_err(bad)?;
        debug!(user = %creds.user, "CredSSP credentials delegated");
        Ok(true)
    }

    /// X.224 through finalization's client half. `Ok(None)`: the client
    /// did not ask for HYBRID. Returns the colour depth, any input that
    /// arrived before the client's Font List, and the first frame being
    /// encoded meanwhile ([`FirstFrame`]).
    ///
    /// Everything the server says between the MCS Connect Initial and the
    /// end of finalization is determined by the Connect Initial (the
    /// channel list and the colour depth): the attach-user and channel-join
    /// confirms (in the order every client joins: its user channel, the
    /// I/O channel, then the static channels in GCC order), the licence,
    /// the Demand Active and the server's finalization PDUs. So they go out
    /// as one write with the Connect Response, and the client's PDUs are
    /// then read and checked without answering each one. Each answer the
    /// client would otherwise wait for costs FreeRDP 2 a 100 ms sleep (see
    /// `credssp`); the bytes on the wire are the same PDUs in the same
    /// order as Windows sends them.
    async fn connect<R, W>(
        &self,
        rd: &mut Framed<R>,
        wr: &mut W,
        vm: &VmRef,
    ) -> io::Result<Option<(u16, Vec<Vec<u8>>, FirstFrame)>>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let (_, f) = rd.pdu().await?;
        let cr = pdu::decode_cr(&f).map_err(bad)?;
        let requested = cr.requested.unwrap_or(0);
        if requested & pdu::PROTOCOL_HYBRID == 0 {
            // The Connection Confirm selecting HYBRID already went out
            // with CredSSP; a client that then asks for something else
            // is not doing the Direct Approach and is closed.
            return Ok(None);
        }
        let (_, f) = rd.pdu().await?;
        let client =
            pdu::decode_connect_initial(pdu::x224_payload(&f).map_err(bad)?).map_err(bad)?;
        let (w, h) = (fakedc_console::WIDTH, fakedc_console::HEIGHT);
        let mut bpp = client.color_depth;
        let joins: Vec<u16> = [pdu::USER_CHANNEL, pdu::IO_CHANNEL]
            .into_iter()
            .chain((0..client.channels.len()).map(pdu::channel_id))
            .collect();
        let mut flight = pdu::connect_response(&client, requested);
        flight.extend(pdu::attach_user_confirm());
        for c in &joins {
            flight.extend(pdu::channel_join_confirm(*c));
        }
        flight.extend(pdu::license_valid_client());
        flight.extend(pdu::demand_active(w, h, bpp));
        flight.extend(pdu::synchronize());
        flight.extend(pdu::control(4));
        flight.extend(pdu::control(2));
        flight.extend(pdu::font_map());
        wr.write_all(&flight).await?;
        wr.flush().await?;
        // The whole console goes out first once the Font List arrives, and
        // nothing about it depends on what the client still has to say
        // (its Confirm Active keeps the depth it asked for, or the frame
        // is encoded again): render and encode it now, off the runtime,
        // while the client reads the flight above and answers (FreeRDP 2
        // sleeps 100 ms after sending the Connect Initial before it reads
        // anything, so this is time the client would make us wait anyway).
        let first = {
            let (model, consoles, vm) = (self.model.clone(), self.consoles.clone(), vm.clone());
            FirstFrame {
                bpp,
                task: tokio::task::spawn_blocking(move || {
                    encode_frame(&model, &consoles, &vm, bpp, None)
                }),
            }
        };
        let mut early = Vec::new();
        loop {
            let (kind, f) = rd.pdu().await?;
            if kind == FrameKind::FastPath {
                early.push(f);
                continue;
            }
            match pdu::decode_domain(pdu::x224_payload(&f).map_err(bad)?).map_err(bad)? {
                Domain::ErectDomain | Domain::AttachUser | Domain::Other(_) => {}
                Domain::ChannelJoin { channel } => {
                    if !joins.contains(&channel) {
                        // Windows would refuse the join; its confirm has
                        // already gone out for every channel offered.
                        debug!(channel, "join for a channel not offered; ignored");
                    }
                }
                Domain::Disconnect => {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                Domain::SendData { channel, data } if channel == pdu::IO_CHANNEL => {
                    if pdu::is_client_info(data) {
                        continue;
                    }
                    match pdu::decode_share(data).map_err(bad)? {
                        Share::ConfirmActive { bpp: b } => {
                            if let Some(b @ (15 | 16 | 24 | 32)) = b {
                                bpp = b;
                            }
                        }
                        Share::Data { kind, body } => match kind {
                            data_type::SYNCHRONIZE => {}
                            data_type::CONTROL => {
                                pdu::control_action(body).map_err(bad)?;
                            }
                            data_type::FONT_LIST => return Ok(Some((bpp, early, first))),
                            data_type::INPUT => early.push(f.clone()),
                            _ => {}
                        },
                        Share::Other(_) => {}
                    }
                }
                Domain::SendData { .. } => {}
            }
        }
    }

    /// The active session: send what changed every frame interval, take
    /// input, end on the client's shutdown or disconnect.
    #[allow(clippy::too_many_arguments)] // one call site; the session's parts
    async fn active<R, W>(
        &self,
        rd: &mut Framed<R>,
        wr: &mut W,
        info: &ConnInfo,
        vm: &VmRef,
        bpp: u16,
        pending: Vec<Vec<u8>>,
        first: FirstFrame,
    ) -> io::Result<()>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut kb = Keyboard::default();
        let mut last: Option<(StateKey, Frame)> = None;
        let mut suppressed = false;
        // The first frame, encoded during the connection sequence at the
        // depth the client asked for in its Connect Initial; sent as it is
        // if that is still the depth (a state that moved since, or keys
        // typed early, go out as the difference right after).
        if first.bpp == bpp {
            if let Ok(Some((key, frame, out))) = first.task.await {
                wr.write_all(&out).await?;
                last = Some((key, frame));
            }
        }
        for f in pending {
            self.input(&f, &mut kb, vm)?;
        }
        self.send_frame(wr, vm, bpp, &mut last).await?;
        // The pointer: the system default arrow, as a console session
        // starts with (no pointer shapes are cached or drawn).
        wr.write_all(&pdu::pointer_system(true)).await?;
        wr.flush().await?;
        debug!("vmconnect phase: first frame sent");
        let mut tick = tokio::time::interval(FRAME_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = info.closing.cancelled() => {
                    wr.write_all(&pdu::disconnect_ultimatum()).await?;
                    return Ok(());
                }
                _ = tick.tick() => {
                    if !suppressed {
                        self.send_frame(wr, vm, bpp, &mut last).await?;
                    }
                }
                f = rd.pdu() => {
                    let (kind, f) = f?;
                    if kind == FrameKind::FastPath {
                        // The next tick draws what the keys changed: a
                        // burst of keys costs one frame, not one each.
                        self.input(&f, &mut kb, vm)?;
                        continue;
                    }
                    let Domain::SendData { channel, data } =
                        pdu::decode_domain(pdu::x224_payload(&f).map_err(bad)?).map_err(bad)?
                    else {
                        if matches!(pdu::decode_domain(pdu::x224_payload(&f).map_err(bad)?), Ok(Domain::Disconnect)) {
                            return Ok(());
                        }
                        continue;
                    };
                    if channel != pdu::IO_CHANNEL {
                        continue; // static virtual channels: nothing is served on them
                    }
                    if let Share::Data { kind, body } = pdu::decode_share(data).map_err(bad)? {
                        match kind {
                            data_type::INPUT => {
                                self.input(&f, &mut kb, vm)?;
                            }
                            data_type::REFRESH_RECT => {
                                last = None;
                                self.send_frame(wr, vm, bpp, &mut last).await?;
                            }
                            data_type::SUPPRESS_OUTPUT => {
                                suppressed = body.first() == Some(&0);
                                if !suppressed {
                                    last = None;
                                }
                            }
                            data_type::SHUTDOWN_REQUEST => {
                                wr.write_all(&pdu::disconnect_ultimatum()).await?;
                                wr.flush().await?;
                                return Ok(());
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
    }

    /// Feeds one input PDU (fast path, or a slow-path TPKT) to the console.
    /// Returns whether a key changed it.
    fn input(&self, frame: &[u8], kb: &mut Keyboard, vm: &VmRef) -> io::Result<bool> {
        let events = if frame.first() == Some(&0x03) {
            let payload = pdu::x224_payload(frame).map_err(bad)?;
            let Domain::SendData { data, .. } = pdu::decode_domain(payload).map_err(bad)? else {
                return Ok(false);
            };
            let Share::Data { body, .. } = pdu::decode_share(data).map_err(bad)? else {
                return Ok(false);
            };
            pdu::decode_slow_path_input(body).map_err(bad)?
        } else {
            pdu::decode_fast_path_input(frame).map_err(bad)?
        };
        let mut changed = false;
        for ev in events {
            if let Some(key) = kb.feed(ev) {
                let now = self.model.clock.now();
                if self.consoles.key(&self.model, vm, key, now) && key == Key::CtrlAltDel {
                    self.model.with_chassis(vm.vm.chassis, now, |c| {
                        c.power_action(PowerAction::Reset, now)
                    });
                }
                changed = true;
            }
        }
        Ok(changed)
    }

    /// Renders the console and sends the tiles that differ from `last`.
    async fn send_frame<W: AsyncWrite + Unpin>(
        &self,
        wr: &mut W,
        vm: &VmRef,
        bpp: u16,
        last: &mut Option<(StateKey, Frame)>,
    ) -> io::Result<()> {
        let Some((key, frame, out)) =
            encode_frame(&self.model, &self.consoles, vm, bpp, last.as_ref())
        else {
            return Ok(());
        };
        if !out.is_empty() {
            wr.write_all(&out).await?;
            wr.flush().await?;
        }
        *last = Some((key, frame));
        Ok(())
    }
}

/// The first frame, being encoded while the connection sequence ends.
pub struct FirstFrame {
    /// The colour depth it is encoded at.
    bpp: u16,
    task: tokio::task::JoinHandle<Option<(StateKey, Frame, Vec<u8>)>>,
}

/// Renders the console and encodes the 64×64 tiles that differ from
/// `last` (all of them without one) as fast-path bitmap updates, one
/// buffer for one write (rustls cuts it into records), not one write and
/// one TCP segment per tile. `None` when the console's state has not
/// moved since `last`.
fn encode_frame(
    model: &Model,
    consoles: &Consoles,
    vm: &VmRef,
    bpp: u16,
    last: Option<&(StateKey, Frame)>,
) -> Option<(StateKey, Frame, Vec<u8>)> {
    let now = model.clock.now();
    let key = consoles.state_key(model, vm, now);
    if last.is_some_and(|(k, _)| *k == key) {
        return None;
    }
    let frame = consoles.render(model, vm, now);
    let (w, h) = (frame.width, frame.height);
    let mut tile = Vec::with_capacity(usize::from(TILE) * usize::from(TILE));
    let mut out = Vec::new();
    for ty in (0..h).step_by(usize::from(TILE)) {
        for tx in (0..w).step_by(usize::from(TILE)) {
            let tw = TILE.min(w - tx);
            let th = TILE.min(h - ty);
            tile.clear();
            let mut same = last.is_some();
            for y in ty..ty + th {
                let row = usize::from(y) * usize::from(w);
                let s = row + usize::from(tx);
                let px = frame.pixels.get(s..s + usize::from(tw)).unwrap_or_default();
                if same {
                    let old = last.and_then(|(_, l)| l.pixels.get(s..s + usize::from(tw)));
                    same = old == Some(px);
                }
                tile.extend_from_slice(px);
            }
            if !same {
                out.extend(pdu::bitmap_update((tx, ty, tw, th), &tile, bpp));
            }
        }
    }
    Some((key, frame, out))
}

fn bad(e: RdpError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Reads whole PDUs (DER TSRequests during CredSSP, then TPKT or
/// fast-path frames) off a stream. Cancel-safe: bytes read stay in the
/// buffer if a `select!` drops the read.
pub struct Framed<R> {
    io: R,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> Framed<R> {
    pub fn new(io: R) -> Self {
        Framed {
            io,
            buf: Vec::with_capacity(8192),
        }
    }

    /// The stream, for writing between reads.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.io
    }

    async fn fill(&mut self) -> io::Result<()> {
        let mut tmp = [0u8; 8192];
        let n = self.io.read(&mut tmp).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(())
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let rest = self.buf.split_off(n);
        std::mem::replace(&mut self.buf, rest)
    }

    /// One DER element (a TSRequest).
    pub async fn der(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(n) = credssp::frame_len(&self.buf).map_err(bad)? {
                if self.buf.len() >= n {
                    return Ok(self.take(n));
                }
            }
            self.fill().await?;
        }
    }

    /// One TPKT or fast-path PDU.
    pub async fn pdu(&mut self) -> io::Result<(FrameKind, Vec<u8>)> {
        loop {
            if let Some((kind, n)) = pdu::frame(&self.buf).map_err(bad)? {
                if n > MAX_PDU {
                    return Err(bad(RdpError::Protocol(format!("PDU of {n} bytes"))));
                }
                if self.buf.len() >= n {
                    return Ok((kind, self.take(n)));
                }
            }
            self.fill().await?;
        }
    }
}
