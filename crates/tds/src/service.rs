//! The TDS service on 1433: PRELOGIN, TLS carried inside PRELOGIN packets
//! (capped at TLS 1.2), LOGIN7 against the machine's users, then requests
//! to the session; journal per login and per request; the `busy` fault.

use crate::engine::{Engine, SqlError};
use crate::login7::Login7;
use crate::packet::{self, PacketType, Reassembler};
use crate::prelogin::{self, Encryption, PreLogin};
use crate::session::{self, LoginOutcome, Session};
use crate::token;
use fakedc_model::{FaultKind, Machine, MachineId, Model, ServiceKind};
use fakedc_net::{
    BoxFuture, BoxIo, Conn, ConnInfo, OptionsError, RequestJournal, Services, TcpService,
};
use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tracing::debug;

/// A request message larger than this closes the connection.
pub const MAX_MESSAGE: usize = 64 << 20;
/// Statement text kept in the journal.
const JOURNAL_TEXT: usize = 200;

/// `[machine.options.tds]`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TdsOptions {
    /// Databases besides master, tempdb, model and msdb.
    #[serde(default)]
    pub databases: Vec<String>,
    /// SQL Server's "Force Encryption": every connection is TLS.
    #[serde(default)]
    pub force_encryption: bool,
}

pub fn options(machine: &Machine) -> Result<TdsOptions, OptionsError> {
    let o: TdsOptions = match machine.options.get("tds") {
        None => TdsOptions::default(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| OptionsError::new(&machine.name, "tds", e.to_string()))?,
    };
    for d in &o.databases {
        if !crate::engine::valid_name(d) {
            return Err(OptionsError::new(
                &machine.name,
                "tds",
                format!("database name '{d}': letters, digits, '_', '-', '$', at most 128"),
            ));
        }
    }
    Ok(o)
}

struct MachineState {
    engine: Arc<Engine>,
    options: TdsOptions,
}

pub struct TdsService {
    model: Arc<Model>,
    machines: HashMap<MachineId, MachineState>,
    tls: Mutex<HashMap<String, Arc<rustls::ServerConfig>>>,
    next_spid: AtomicU16,
}

/// Registers the service for every machine with a TDS endpoint.
pub fn register(services: &mut Services, model: &Arc<Model>) -> Result<(), fakedc_net::StartError> {
    let mut machines = HashMap::new();
    for m in model.machines() {
        if m.endpoint(ServiceKind::Tds).is_none() {
            continue;
        }
        let options = options(m)?;
        let dir = m.share.clone();
        let engine = Engine::new(dir, &options.databases).map_err(|e| {
            fakedc_net::StartError::Environment(format!("machine '{}': {e}", m.name))
        })?;
        machines.insert(
            m.id,
            MachineState {
                engine: Arc::new(engine),
                options,
            },
        );
    }
    services.tcp(
        ServiceKind::Tds,
        Arc::new(TdsService {
            model: model.clone(),
            machines,
            tls: Mutex::new(HashMap::new()),
            next_spid: AtomicU16::new(51),
        }),
    );
    Ok(())
}

/// What `/about` lists.
pub fn operations() -> Vec<String> {
    [
        "PRELOGIN (TLS inside PRELOGIN, login-only or full, TLS 1.2)",
        "TDS 8.0 strict (TLS 1.2/1.3 first, ALPN tds/8.0, PRELOGIN inside)",
        "LOGIN7 (SQL logins; Windows logins: NTLMSSP or SPNEGO in LOGIN7 and SSPI)",
        "SQLBatch",
        "RPC sp_executesql, sp_prepare, sp_execute, sp_prepexec, sp_unprepare (ProcID or name; RETURNVALUE)",
        "TransactionManager begin/commit/rollback (per-session transactions)",
        "T-SQL BEGIN/COMMIT/ROLLBACK/SAVE TRAN",
        "Attention (cancels the running statement)",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl TcpService for TdsService {
    fn serve(self: Arc<Self>, conn: Conn) -> BoxFuture<()> {
        Box::pin(async move {
            let info = conn.info.clone();
            if let Err(e) = self.run(conn).await {
                debug!(machine = %info.machine_name, "tds connection ended: {e}");
            }
        })
    }
}

/// Reads exactly one message (never past it: TLS may start right after).
async fn read_message<S: AsyncRead + Unpin>(
    io: &mut S,
    rx: &mut Reassembler,
) -> io::Result<packet::Message> {
    let mut buf = [0u8; 8192];
    loop {
        if let Some(m) = rx.next_message().map_err(io::Error::other)? {
            return Ok(m);
        }
        let want = rx.wanted().min(buf.len());
        let n = io.read(&mut buf[..want]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        rx.push(&buf[..n]);
    }
}

async fn send<S: AsyncWrite + Unpin>(
    io: &mut S,
    payload: &[u8],
    size: usize,
    spid: u16,
) -> io::Result<()> {
    io.write_all(&packet::packetize(
        PacketType::TabularResult,
        payload,
        size,
        spid,
    ))
    .await?;
    io.flush().await
}

fn truncate(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() <= JOURNAL_TEXT {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(JOURNAL_TEXT).collect();
        t.push('…');
        t
    }
}

impl TdsService {
    fn tls_config(&self, info: &ConnInfo) -> io::Result<Arc<rustls::ServerConfig>> {
        let key = format!("{}|{}", info.dns_name, info.local.ip());
        if let Some(c) = self.tls.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(c);
        }
        let ca = info
            .ca
            .as_ref()
            .ok_or_else(|| io::Error::other("no CA for TLS"))?;
        let (chain, key_der) = ca
            .leaf(&info.dns_name, info.local.ip())
            .map_err(io::Error::other)?;
        // TLS inside PRELOGIN is capped at 1.2: ODBC Driver 18 sends its
        // TLS 1.3 final flight unwrapped and hangs (tds.md §2).
        let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(io::Error::other)?;
        let cfg = Arc::new(cfg);
        if let Ok(mut m) = self.tls.lock() {
            m.insert(key, cfg.clone());
        }
        Ok(cfg)
    }

    /// Integrated security: LOGIN7 carried an NTLMSSP NEGOTIATE (raw, as
    /// FreeTDS and impacket send it, or inside SPNEGO, as Windows drivers
    /// do); the CHALLENGE goes back in an SSPI token (0xED) and the
    /// AUTHENTICATE arrives in an SSPI packet (0x11), checked by
    /// fakedc-ntlm against the machine's Windows accounts (the model's
    /// rule, so `DOMAIN\user` and `user@domain` forms work). `sa` is a SQL
    /// login, not a Windows account, so it cannot log in this way.
    async fn windows_login<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: &mut S,
        login: &Login7,
        info: &ConnInfo,
        spid: u16,
    ) -> io::Result<session::Identity> {
        let target = fakedc_net::auth::target_info(&self.model, info);
        let model = self.model.clone();
        let machine = info.machine;
        let password_of = move |u: &str| {
            model
                .find_user(machine, u)
                .filter(|u| !u.name.eq_ignore_ascii_case("sa"))
                .map(|u| u.password)
        };
        let v71 = crate::login7::agreed_version(login.tds_version).1;
        let mut acceptor = fakedc_ntlm::http::Acceptor::default();
        let mut token = login.sspi.clone();
        // NEGOTIATE, then AUTHENTICATE: two rounds; a third is a client
        // that keeps going.
        for _ in 0..2 {
            match acceptor.accept_token(&token, &target, &password_of) {
                Ok(fakedc_ntlm::http::TokenStep::Challenge(ch)) => {
                    send(
                        io,
                        &session::sspi_reply(v71, &ch),
                        packet::DEFAULT_PACKET_SIZE,
                        spid,
                    )
                    .await?;
                    let mut rx =
                        Reassembler::new(packet::DEFAULT_PACKET_SIZE, crate::login7::MAX_LOGIN_LEN);
                    let m = read_message(io, &mut rx).await?;
                    if m.ty != PacketType::Sspi {
                        debug!(machine = %info.machine_name, "tds: {} instead of SSPI", m.ty);
                        return Ok(session::Identity::Untrusted);
                    }
                    token = m.payload;
                }
                Ok(fakedc_ntlm::http::TokenStep::Done {
                    user, final_token, ..
                }) => {
                    let name = self
                        .model
                        .find_user(machine, &user)
                        .map_or(user, |u| u.name);
                    return Ok(session::Identity::Windows {
                        name: format!("{}\\{name}", info.machine_name.to_ascii_uppercase()),
                        final_token,
                    });
                }
                Err(e) => {
                    debug!(machine = %info.machine_name, "tds: integrated login {e}");
                    return Ok(session::Identity::Untrusted);
                }
            }
        }
        Ok(session::Identity::Untrusted)
    }

    async fn run(self: Arc<Self>, conn: Conn) -> io::Result<()> {
        let Conn { io, info } = conn;
        let Some(state) = self.machines.get(&info.machine) else {
            return Ok(());
        };
        let spid = self.next_spid.fetch_add(1, Ordering::Relaxed).max(51);
        // TDS 8.0 (strict): the client starts with a TLS ClientHello
        // (record type 0x16) instead of a PRELOGIN packet (0x12).
        let mut io = io;
        let mut b0 = [0u8; 1];
        io.read_exact(&mut b0).await?;
        let io = Rewind {
            prefix: b0.to_vec(),
            inner: io,
        };
        if b0[0] == 0x16 {
            let Some(ca) = info.ca.as_ref() else {
                return Ok(());
            };
            let cfg = self.strict_config(ca, &info)?;
            let mut tls = fakedc_net::tls::accept(io, cfg).await?;
            let mut rx = Reassembler::new(packet::DEFAULT_PACKET_SIZE, session_login_max());
            let m = read_message(&mut tls, &mut rx).await?;
            if m.ty != PacketType::PreLogin {
                return Ok(());
            }
            let pre = PreLogin::parse(&m.payload).map_err(io::Error::other)?;
            // Inside TLS the ENCRYPTION option means nothing (drivers send
            // NOT_SUP); answering NOT_SUP is what they expect.
            let reply = prelogin::reply(&pre, prelogin::ENCRYPT_NOT_SUP).write();
            send(&mut tls, &reply, packet::DEFAULT_PACKET_SIZE, 0).await?;
            let m = read_message(&mut tls, &mut rx).await?;
            return self
                .after_prelogin(state, info, spid, m, Box::new(tls))
                .await;
        }
        let mut io = PreloginTls::new(io);
        let mut rx = Reassembler::new(packet::DEFAULT_PACKET_SIZE, session_login_max());
        let first = read_message(&mut io, &mut rx).await?;
        let (login_msg, io): (packet::Message, BoxIo) = match first.ty {
            PacketType::PreLogin => {
                let pre = PreLogin::parse(&first.payload).map_err(io::Error::other)?;
                let (mut enc, mut mode) =
                    prelogin::negotiate(pre.encryption(), state.options.force_encryption);
                if info.ca.is_none() && mode != Encryption::None {
                    (enc, mode) = (prelogin::ENCRYPT_NOT_SUP, Encryption::None);
                }
                let reply = prelogin::reply(&pre, enc).write();
                send(&mut io, &reply, packet::DEFAULT_PACKET_SIZE, 0).await?;
                match mode {
                    Encryption::Refuse => return Ok(()),
                    Encryption::None => {
                        let m = read_message(&mut io, &mut rx).await?;
                        (m, Box::new(io))
                    }
                    Encryption::LoginOnly | Encryption::Full => {
                        let cfg = self.tls_config(&info)?;
                        io.wrapped = true;
                        let mut tls = fakedc_net::tls::accept(io, cfg).await?;
                        tls.get_mut().0.wrapped = false;
                        let mut trx =
                            Reassembler::new(packet::DEFAULT_PACKET_SIZE, session_login_max());
                        let m = read_message(&mut tls, &mut trx).await?;
                        if mode == Encryption::Full {
                            (m, Box::new(tls))
                        } else {
                            // Login-only: both sides drop TLS after LOGIN7.
                            let (inner, _) = tls.into_inner();
                            (m, Box::new(inner))
                        }
                    }
                }
            }
            // jTDS with ssl=off: LOGIN7 with no PRELOGIN.
            PacketType::Login7 => (first, Box::new(io)),
            _ => return Ok(()),
        };
        self.after_prelogin(state, info, spid, login_msg, io).await
    }

    /// TDS 8.0 strict: TLS 1.2 or 1.3 from the first byte, ALPN `tds/8.0`
    /// (ODBC Driver 18 with `Encrypt=strict` offers it), the machine's
    /// leaf. TLS records go raw on TCP here, so 1.3 and its tickets are fine.
    fn strict_config(
        &self,
        ca: &fakedc_net::tls::CertAuthority,
        info: &ConnInfo,
    ) -> io::Result<Arc<rustls::ServerConfig>> {
        let key = format!("{}|{}|strict", info.dns_name, info.local.ip());
        if let Some(c) = self.tls.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(c);
        }
        let mut cfg = (*ca
            .server_config(&info.dns_name, info.local.ip())
            .map_err(io::Error::other)?)
        .clone();
        cfg.alpn_protocols = vec![b"tds/8.0".to_vec()];
        let cfg = Arc::new(cfg);
        if let Ok(mut m) = self.tls.lock() {
            m.insert(key, cfg.clone());
        }
        Ok(cfg)
    }

    /// LOGIN7 and the session, whichever way the connection got here.
    async fn after_prelogin(
        &self,
        state: &MachineState,
        info: Arc<ConnInfo>,
        spid: u16,
        login_msg: packet::Message,
        io: BoxIo,
    ) -> io::Result<()> {
        let mut io = io;
        if login_msg.ty != PacketType::Login7 {
            return Ok(());
        }
        let t0 = self.model.clock.now();
        let login = Login7::parse(&login_msg.payload).map_err(io::Error::other)?;
        let mut journal = RequestJournal {
            model: &self.model,
            conn: &info,
            user: Some(login.username.clone()),
            op: "login".into(),
            start: t0,
        };
        let server = info.machine_name.to_ascii_uppercase();
        let identity = if login.option_flags2 & crate::login7::OPTION2_INTEGRATED != 0
            && !login.sspi.is_empty()
        {
            self.windows_login(&mut io, &login, &info, spid).await?
        } else {
            session::Identity::Sql
        };
        if let session::Identity::Windows { name, .. } = &identity {
            journal.user = Some(name.clone());
        }
        let model = self.model.clone();
        let machine = info.machine;
        let engine = state.engine.clone();
        // Opening the login's database is SQLite work: off the workers.
        let outcome = tokio::task::spawn_blocking(move || {
            session::login(
                engine,
                &login,
                identity,
                |u, p| model.authenticate(machine, u, p).map(|u| u.name),
                spid,
                &server,
            )
        })
        .await
        .map_err(io::Error::other)?;
        let session: Box<Session> = match outcome {
            LoginOutcome::Failed { reply, number } => {
                journal.record(&format!("error {number}"));
                send(&mut io, &reply, packet::DEFAULT_PACKET_SIZE, spid).await?;
                return Ok(());
            }
            LoginOutcome::Ok(s) => s,
        };
        journal.user = Some(session.ctx.user.clone());
        journal.record("ok");
        let mut session = session;
        let model = self.model.clone();
        session.ctx.live = Some(crate::translate::Live(Arc::new(move |view| {
            live_table(&model, view)
        })));
        let mut session = Held(Some(session));
        let reply = session.get()?.take_pending();
        let (packet_size, v71) = (session.get()?.packet_size, session.get()?.v71);
        send(&mut io, &reply, packet_size, spid).await?;
        // From here on, packets of the negotiated size and large requests.
        let mut rx = Reassembler::new(packet_size, MAX_MESSAGE);
        // A request that arrived while another ran (clients without MARS
        // do not do that; kept rather than dropped).
        let mut queued: Option<packet::Message> = None;
        loop {
            let m = match queued.take() {
                Some(m) => m,
                None => match read_message(&mut io, &mut rx).await {
                    Ok(m) => m,
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                    Err(e) => return Err(e),
                },
            };
            let mut cancel = Cancel {
                io: &mut io,
                rx: &mut rx,
                queued: &mut queued,
                attention: false,
                closed: false,
            };
            let t0 = self.model.clock.now();
            let now = now_text(&self.model);
            // RESETCONNECTION rolls back an open transaction; the SKIPTRAN
            // form keeps it.
            let reset = if m.status & packet::STATUS_RESETCONNECTION != 0 {
                Some(false)
            } else if m.status & packet::STATUS_RESETCONNECTION_SKIPTRAN != 0 {
                Some(true)
            } else {
                None
            };
            let mut journal = RequestJournal {
                model: &self.model,
                conn: &info,
                user: Some(session.get()?.ctx.user.clone()),
                op: String::new(),
                start: t0,
            };
            // A reply streamed while it is made (big results): its parts
            // and, once done, where its whole tokens end.
            let mut parts: Option<Parts> = None;
            let mut streamed: Option<usize> = None;
            let busy = !self.model.faults.is_empty()
                && self
                    .model
                    .faults
                    .matching(&info.machine_name, info.service.name())
                    .iter()
                    .any(|f| matches!(f, FaultKind::Busy));
            let reply = match m.ty {
                PacketType::Attention => {
                    journal.op = "attention".into();
                    journal.record("ok");
                    session.get()?.attention()
                }
                _ if busy => {
                    journal.op = format!("{}", m.ty);
                    journal.record("busy");
                    let e = SqlError::new(
                        8645,
                        6,
                        17,
                        "A timeout occurred while waiting for memory resources to execute the query in resource pool 'default' (2). Rerun the query.",
                    );
                    session.get()?.error_reply(&e, token::DONE)
                }
                PacketType::SqlBatch => {
                    let text = session::batch_text(&m.payload, v71).map_err(io::Error::other)?;
                    journal.op = format!("batch: {}", truncate(&text));
                    // A short read-only SELECT is answered here, without
                    // the two thread hand-offs of the blocking pool.
                    let inline = match reset {
                        None => session.get()?.batch_inline(&text, &now),
                        Some(_) => None,
                    };
                    let (reply, err) = match inline {
                        Some(r) => r,
                        None => {
                            let p = parts.insert(Parts::new(packet_size, spid));
                            let t = p.tokens(v71);
                            let (t, err) = session
                                .cancellable(&mut cancel, Some(p), move |s| {
                                    s.batch_into(t, &text, &now, reset)
                                })
                                .await?;
                            streamed = t.streamed();
                            (t.into_vec(), err)
                        }
                    };
                    journal.record(&outcome_text(err));
                    reply
                }
                PacketType::Rpc => {
                    let p = parts.insert(Parts::new(packet_size, spid));
                    let t = p.tokens(v71);
                    let ran = session
                        .cancellable(&mut cancel, Some(p), move |s| {
                            s.rpc_into(t, &m.payload, &now, reset)
                        })
                        .await?;
                    match ran {
                        Ok((t, err, text)) => {
                            journal.op = format!("rpc: {}", truncate(&text));
                            journal.record(&outcome_text(err));
                            streamed = t.streamed();
                            t.into_vec()
                        }
                        Err(e) => {
                            journal.op = "rpc".into();
                            journal.record(&format!("refused: {e}"));
                            let e = SqlError::new(8009, 1, 16, format!("The incoming tabular data stream (TDS) remote procedure call (RPC) protocol stream is incorrect. {e}"));
                            session.get()?.error_reply(&e, token::DONEPROC)
                        }
                    }
                }
                PacketType::TransactionManager => {
                    match session
                        .cancellable(&mut cancel, None, move |s| s.tm(&m.payload))
                        .await?
                    {
                        Ok((reply, op)) => {
                            journal.op = format!("tm: {op}");
                            journal.record("ok");
                            reply
                        }
                        Err(e) => {
                            journal.op = "tm".into();
                            journal.record(&format!("refused: {e}"));
                            return Ok(());
                        }
                    }
                }
                other => {
                    journal.op = format!("{other}");
                    journal.record("unsupported: closed");
                    return Ok(());
                }
            };
            let (attention, closed) = (cancel.attention, cancel.closed);
            if closed {
                return Ok(());
            }
            let reply = if attention {
                // Cancelled: what the request made is dropped (after the
                // rows already streamed, up to a whole token), and the
                // Attention is acknowledged (DONE with ATTN).
                let j = RequestJournal {
                    model: &self.model,
                    conn: &info,
                    user: Some(session.get()?.ctx.user.clone()),
                    op: "attention".into(),
                    start: t0,
                };
                j.record("cancelled");
                let mut ack = reply
                    .get(..streamed.unwrap_or(0))
                    .unwrap_or_default()
                    .to_vec();
                ack.extend(session.get()?.attention());
                ack
            } else {
                reply
            };
            // The reply's last part (or all of it) ends the message.
            let wire = match parts.as_mut() {
                Some(p) => p.framer.frame(&reply, true),
                None => packet::packetize(PacketType::TabularResult, &reply, packet_size, spid),
            };
            io.write_all(&wire).await?;
            io.flush().await?;
        }
    }
}

/// Where a reply's parts go while the session makes it: a bounded
/// channel from the blocking pool to the connection, offered without
/// waiting (a reader that stops reading must not pin a blocking-pool
/// thread; what it has not taken stays with the session, bounded by the
/// engine's result limits as an unstreamed reply is), and the framing
/// that numbers the packets across parts.
struct Parts {
    framer: packet::Framer,
    tx: Option<tokio::sync::mpsc::Sender<Vec<u8>>>,
    rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
}

/// Parts in flight between the session and the connection.
const PARTS_QUEUED: usize = 4;
/// Packets a part holds (64 KB of 4 KB packets).
const PART_PACKETS: usize = 16;

impl Parts {
    fn new(packet_size: usize, spid: u16) -> Parts {
        let (tx, rx) = tokio::sync::mpsc::channel(PARTS_QUEUED);
        Parts {
            framer: packet::Framer::new(PacketType::TabularResult, packet_size, spid),
            tx: Some(tx),
            rx,
        }
    }

    /// A token stream whose rows go out in parts as they are made.
    fn tokens(&mut self, v71: bool) -> token::Tokens {
        let mut t = token::Tokens::new(v71);
        if let Some(tx) = self.tx.take() {
            let chunk = self.framer.chunk();
            t.stream_to(chunk, chunk * PART_PACKETS, move |part| {
                tx.try_send(part).map_err(|e| e.into_inner())
            });
        }
        t
    }
}

/// The connection while a request runs: an Attention read meanwhile
/// cancels it (`attention`), a dropped connection ends it (`closed`).
struct Cancel<'a, S> {
    io: &'a mut S,
    rx: &'a mut Reassembler,
    queued: &'a mut Option<packet::Message>,
    attention: bool,
    closed: bool,
}

/// The logged-in session between requests. Each request's SQLite work
/// runs on tokio's blocking pool with the session moved there and back,
/// so a slow statement or a lock wait never holds an async worker; when
/// the connection ends, the session (and with it its SQLite connections,
/// rolling back any open transaction) is dropped on the blocking pool too.
struct Held(Option<Box<Session>>);

impl Held {
    fn get(&mut self) -> io::Result<&mut Session> {
        self.0
            .as_deref_mut()
            .ok_or_else(|| io::Error::other("session lost"))
    }

    async fn blocking<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Session) -> T + Send + 'static,
    ) -> io::Result<T> {
        let mut s = self
            .0
            .take()
            .ok_or_else(|| io::Error::other("session lost"))?;
        let (s, r) = tokio::task::spawn_blocking(move || {
            let r = f(&mut s);
            (s, r)
        })
        .await
        .map_err(io::Error::other)?;
        self.0 = Some(s);
        Ok(r)
    }
}

impl Held {
    /// [`Held::blocking`] while reading the connection: an Attention
    /// interrupts the session's SQLite statements (`sqlite3_interrupt`;
    /// the request then ends early with an error its reply will not
    /// carry), EOF interrupts them too and marks the connection closed.
    /// Parts of the reply the request streams meanwhile (`parts`) are
    /// written as they come, whole packets that are not the message's
    /// last (after an Attention too: the client reads to its
    /// acknowledgement); once the connection is gone they are dropped.
    async fn cancellable<T: Send + 'static, S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        c: &mut Cancel<'_, S>,
        parts: Option<&mut Parts>,
        f: impl FnOnce(&mut Session) -> T + Send + 'static,
    ) -> io::Result<T> {
        let handles = self.get()?.interrupt_handles();
        let cancel = self.get()?.cancel.clone();
        cancel.store(false, Ordering::Relaxed);
        let work = self.blocking(f);
        tokio::pin!(work);
        let Cancel {
            io,
            rx,
            queued,
            attention,
            closed,
        } = c;
        let (mut rd, mut wr) = tokio::io::split(&mut **io);
        let mut open = parts.is_some();
        let mut parts = parts;
        let stop = |closed: &mut bool| {
            *closed = true;
            cancel.store(true, Ordering::Relaxed);
            handles.iter().for_each(|h| h.interrupt());
        };
        loop {
            tokio::select! {
                r = &mut work => {
                    // Every part was queued before the work ended.
                    if let Some(p) = parts.as_deref_mut() {
                        while let Ok(part) = p.rx.try_recv() {
                            if !*closed && wr.write_all(&p.framer.frame(&part, false)).await.is_err() {
                                stop(closed);
                            }
                        }
                    }
                    return r;
                }
                part = async {
                    match parts.as_deref_mut() {
                        Some(p) => p.rx.recv().await,
                        None => None,
                    }
                }, if open => {
                    match (part, parts.as_deref_mut()) {
                        (Some(part), Some(p)) => {
                            if !*closed && wr.write_all(&p.framer.frame(&part, false)).await.is_err() {
                                stop(closed);
                            }
                        }
                        _ => open = false,
                    }
                }
                m = read_message(&mut rd, rx), if !*attention && !*closed && queued.is_none() => {
                    match m {
                        Ok(m) if m.ty == PacketType::Attention => {
                            *attention = true;
                            cancel.store(true, Ordering::Relaxed);
                            handles.iter().for_each(|h| h.interrupt());
                        }
                        Ok(m) => **queued = Some(m),
                        Err(_) => stop(closed),
                    }
                }
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            if let Ok(h) = tokio::runtime::Handle::try_current() {
                h.spawn_blocking(move || drop(s));
            }
        }
    }
}

/// How many journal entries `fakedc.journal` shows (the latest).
const LIVE_JOURNAL: usize = 200;

/// The read-only `fakedc` schema: the model as it is now (power read
/// through the chassis, so a BMC's power-off shows at once).
fn live_table(model: &Model, view: &str) -> Option<crate::translate::LiveTable> {
    use crate::token::Value;
    let now = model.clock.now();
    let power = |id| {
        let ch = model.chassis(id, now);
        let text = match (ch.power, ch.suspended) {
            (_, Some(fakedc_model::chassis::Suspension::Saved)) => "saved",
            (_, Some(fakedc_model::chassis::Suspension::Paused)) => "paused",
            (fakedc_model::chassis::PowerState::Off, _) => "off",
            (fakedc_model::chassis::PowerState::On, _) => "on",
            (fakedc_model::chassis::PowerState::Booting { .. }, _) => "booting",
            (fakedc_model::chassis::PowerState::ShuttingDown { .. }, _) => "shutting-down",
            (fakedc_model::chassis::PowerState::Cycling { .. }, _) => "cycling",
        };
        (Value::Text(text.into()), Value::Int(i64::from(ch.os_up())))
    };
    let name_of = |id: Option<MachineId>| match id {
        Some(id) => Value::Text(model.machine(id).name.clone()),
        None => Value::Null,
    };
    let text = |s: &str| Value::Text(s.to_string());
    Some(match view {
        "machines" => crate::translate::LiveTable {
            columns: vec![
                "name",
                "role",
                "address",
                "dns_name",
                "power_state",
                "os_up",
                "bmc",
                "vm_host",
            ],
            rows: model
                .machines()
                .iter()
                .map(|m| {
                    let (p, up) = power(m.chassis);
                    vec![
                        text(&m.name),
                        text(&m.role.to_string()),
                        text(&m.address.to_string()),
                        text(&m.dns_name),
                        p,
                        up,
                        name_of(m.bmc),
                        name_of(m.vm_host),
                    ]
                })
                .collect(),
        },
        "vms" => crate::translate::LiveTable {
            columns: vec!["host", "vm_id", "name", "power_state", "guest"],
            rows: model
                .machines()
                .iter()
                .flat_map(|m| model.vms(m.id).into_iter().map(move |v| (m, v)))
                .map(|(m, v)| {
                    vec![
                        text(&m.name),
                        text(&v.id),
                        text(&v.name),
                        power(v.chassis).0,
                        name_of(v.guest),
                    ]
                })
                .collect(),
        },
        "journal" => crate::translate::LiveTable {
            columns: vec![
                "seq",
                "time",
                "machine",
                "service",
                "user_name",
                "operation",
                "outcome",
            ],
            rows: model
                .journal
                .query(&fakedc_model::journal::Query {
                    limit: Some(LIVE_JOURNAL),
                    ..Default::default()
                })
                .into_iter()
                .map(|e| {
                    let ms = e.time_ms as i64;
                    vec![
                        Value::Int(e.seq as i64),
                        Value::Text(crate::rpc::civil(
                            ms.div_euclid(86_400_000),
                            ms.rem_euclid(86_400_000),
                        )),
                        Value::Text(e.machine),
                        Value::Text(e.service),
                        e.user.map_or(Value::Null, Value::Text),
                        Value::Text(e.operation),
                        Value::Text(e.outcome),
                    ]
                })
                .collect(),
        },
        _ => return None,
    })
}

fn outcome_text(err: i32) -> String {
    if err == 0 {
        "ok".into()
    } else {
        format!("error {err}")
    }
}

fn session_login_max() -> usize {
    crate::login7::MAX_LOGIN_LEN
}

/// GETDATE() from the model's clock, in UTC.
fn now_text(model: &Model) -> String {
    let ms = model.clock.unix_millis() as i64;
    crate::rpc::civil(ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000))
}

/// A stream with bytes already read put back in front (the first byte,
/// read to tell TDS 8.0's ClientHello from a PRELOGIN packet).
struct Rewind<S> {
    prefix: Vec<u8>,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.drain(..n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The framing adapter for TLS inside PRELOGIN: while `wrapped`, reads
/// unwrap TDS packets (any type; MS-TDS says 0x12, pre-7.2 clients 0x04)
/// and writes wrap each TLS flight in one PRELOGIN packet; once the
/// handshake is done the service clears `wrapped` and bytes pass through.
/// It starts as pass-through (PRELOGIN itself is read as packets).
pub struct PreloginTls<S> {
    inner: S,
    pub wrapped: bool,
    hdr: [u8; packet::HEADER_LEN],
    hdr_len: usize,
    remaining: usize,
    out: Vec<u8>,
    out_pos: usize,
}

impl<S> PreloginTls<S> {
    pub fn new(inner: S) -> Self {
        PreloginTls {
            inner,
            wrapped: false,
            hdr: [0; packet::HEADER_LEN],
            hdr_len: 0,
            remaining: 0,
            out: Vec::new(),
            out_pos: 0,
        }
    }
}

impl<S: AsyncWrite + Unpin> PreloginTls<S> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_pos < self.out.len() {
            let rest = self.out.get(self.out_pos..).unwrap_or_default();
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
        self.out.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }

    fn wrap(&mut self, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        let max = packet::DEFAULT_PACKET_SIZE - packet::HEADER_LEN;
        let mut payload = Vec::new();
        for b in bufs {
            let take = (max - payload.len()).min(b.len());
            payload.extend_from_slice(&b[..take]);
            if payload.len() == max {
                break;
            }
        }
        if payload.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.out = packet::packetize(
            PacketType::PreLogin,
            &payload,
            packet::DEFAULT_PACKET_SIZE,
            0,
        );
        self.out_pos = 0;
        if let Poll::Ready(Err(e)) = self.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(payload.len()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for PreloginTls<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.wrapped {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        loop {
            if this.remaining > 0 {
                let mut tmp = [0u8; 4096];
                let n = this.remaining.min(buf.remaining()).min(tmp.len());
                let mut rb = ReadBuf::new(&mut tmp[..n]);
                ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
                let got = rb.filled();
                this.remaining -= got.len();
                buf.put_slice(got);
                return Poll::Ready(Ok(()));
            }
            let hdr_len = this.hdr_len;
            let mut rb = ReadBuf::new(&mut this.hdr[hdr_len..]);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let got = rb.filled().len();
            if got == 0 {
                // End of stream: report it as such.
                return Poll::Ready(Ok(()));
            }
            this.hdr_len += got;
            if this.hdr_len == packet::HEADER_LEN {
                this.hdr_len = 0;
                let h = packet::Header::parse(&this.hdr).map_err(io::Error::other)?;
                this.remaining = usize::from(h.length) - packet::HEADER_LEN;
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for PreloginTls<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.wrapped {
            ready!(this.poll_drain(cx))?;
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        this.wrap(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.wrapped {
            ready!(this.poll_drain(cx))?;
            return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        }
        this.wrap(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
