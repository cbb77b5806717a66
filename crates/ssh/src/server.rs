//! russh glue: the TCP service the network layer hands connections to, and
//! the per-connection handler (authentication against the model, channels,
//! and dispatch to SFTP, the ESXi shell or the CLP).
//!
//! russh's handler defaults are permissive where it matters
//! (`auth_publickey_offered` accepts every key), so every auth callback is
//! written out here and rejects unless the model says yes.

use crate::audit::Audit;
use crate::clp::Clp;
use crate::esxi::{EsxiInfo, EsxiShell, Flavor};
use crate::jail::Jail;
use crate::options::SshOptions;
use crate::scp::{Scp, ScpArgs, Step};
use crate::sftp::{self, SftpServer};
use crate::terminal::{for_terminal, Input, LineEditor};
use crate::vfs::Layout;
use crate::{hostkey, SshError};
use fakedc_model::{MachineId, Model, Privilege, ServiceKind};
use fakedc_net::{BoxFuture, Conn, Services, TcpService};
use russh::keys::ssh_key::PublicKey;
use russh::keys::PrivateKey;
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, ChannelMsg, MethodKind, MethodSet, SshId};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tracing::{debug, info_span, warn, Instrument};

/// The service kinds this crate serves.
pub const KINDS: [ServiceKind; 3] = [ServiceKind::Sftp, ServiceKind::Ssh, ServiceKind::BmcSsh];

/// Ciphers offered: russh's defaults plus aes128-gcm, which ESXi and
/// OpenSSH both offer (the client's order decides which is used).
const CIPHERS: &[russh::cipher::Name] = &[
    russh::cipher::CHACHA20_POLY1305,
    russh::cipher::AES_256_GCM,
    russh::cipher::AES_128_GCM,
    russh::cipher::AES_256_CTR,
    russh::cipher::AES_192_CTR,
    russh::cipher::AES_128_CTR,
];

/// Longest exec command accepted (OpenSSH clients send far less).
const MAX_COMMAND: usize = 64 * 1024;
/// How long a client may take to authenticate (OpenSSH's LoginGraceTime).
const LOGIN_GRACE: Duration = Duration::from_secs(120);
/// How long the peer may take to send its identification line.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// Registers SFTP (ESX), SSH (ESXi) and BMC SSH (SMASH CLP), validating
/// every machine's options first. `certs` is the certs directory when it
/// lives on disk (host keys are kept there), `None` for ephemeral keys.
pub fn register(
    services: &mut Services,
    model: &Arc<Model>,
    certs: Option<PathBuf>,
) -> Result<(), SshError> {
    for m in model.machines() {
        for kind in KINDS {
            if m.endpoint(kind).is_some() {
                SshOptions::for_machine(m, kind)?;
            }
        }
    }
    let shared = Arc::new(Shared {
        model: model.clone(),
        certs,
        endpoints: Mutex::new(HashMap::new()),
        keys: Mutex::new(HashMap::new()),
    });
    for kind in KINDS {
        services.tcp(
            kind,
            Arc::new(SshService {
                shared: shared.clone(),
                kind,
            }),
        );
    }
    Ok(())
}

/// State shared by every SSH endpoint of a datacenter.
struct Shared {
    model: Arc<Model>,
    certs: Option<PathBuf>,
    /// Made on a machine's first connection (key load or generation).
    endpoints: Mutex<HashMap<(MachineId, ServiceKind), Arc<Endpoint>>>,
    /// One host key per machine, whatever service asks.
    keys: Mutex<HashMap<MachineId, PrivateKey>>,
}

/// One endpoint's ready-made configuration.
struct Endpoint {
    opts: SshOptions,
    config: Arc<russh::server::Config>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn endpoint(&self, machine: MachineId, kind: ServiceKind) -> Result<Arc<Endpoint>, SshError> {
        if let Some(e) = lock(&self.endpoints).get(&(machine, kind)) {
            return Ok(e.clone());
        }
        let m = self.model.machine(machine);
        let opts = SshOptions::for_machine(m, kind)?;
        let key = {
            let mut keys = lock(&self.keys);
            match keys.get(&machine) {
                Some(k) => k.clone(),
                None => {
                    let k = hostkey::load_or_create(self.certs.as_deref(), &m.name)?;
                    keys.insert(machine, k.clone());
                    k
                }
            }
        };
        let mut methods = Vec::new();
        if opts.publickey {
            methods.push(MethodKind::PublicKey);
        }
        if opts.keyboard_interactive {
            methods.push(MethodKind::KeyboardInteractive);
        }
        if opts.password {
            methods.push(MethodKind::Password);
        }
        let config = russh::server::Config {
            server_id: SshId::Standard(Cow::Owned(opts.server_id.clone())),
            methods: MethodSet::from(&methods[..]),
            auth_rejection_time: Duration::from_millis(opts.auth_rejection_ms),
            // OpenSSH clients start with a "none" request to learn the
            // methods; answering it at once is what real servers do.
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: vec![key],
            // russh counts the initial "none" rejection too.
            max_auth_attempts: opts.max_auth_attempts + 1,
            inactivity_timeout: Some(Duration::from_secs(opts.idle_timeout_s)),
            nodelay: true,
            preferred: russh::Preferred {
                cipher: Cow::Borrowed(CIPHERS),
                ..Default::default()
            },
            ..Default::default()
        };
        let ep = Arc::new(Endpoint {
            opts,
            config: Arc::new(config),
        });
        lock(&self.endpoints).insert((machine, kind), ep.clone());
        Ok(ep)
    }

    /// The machine's datastore, opened (and created) on demand; `shell`
    /// adds the host's `/tmp` (the shell's and SCP's view, not SFTP's).
    fn jail(
        &self,
        machine: MachineId,
        opts: &SshOptions,
        shell: bool,
    ) -> Result<Arc<Jail>, SshError> {
        let m = self.model.machine(machine);
        let root = m.share.clone().ok_or_else(|| SshError::Share {
            path: "(none)".into(),
            source: std::io::Error::other("the machine has no share"),
        })?;
        // The machine's one quota, which SMB and BITS count against too.
        let quota = self.model.share_quota(machine);
        let layout = Layout::datastore(&opts.datastore);
        let layout = if shell { layout.with_tmp() } else { layout };
        Jail::open(&root, layout, quota)
            .map(|j| Arc::new(j.with_clock(self.model.clock.clone())))
            .map_err(|source| SshError::Share {
                path: root.display().to_string(),
                source,
            })
    }
}

struct SshService {
    shared: Arc<Shared>,
    kind: ServiceKind,
}

impl TcpService for SshService {
    fn serve(self: Arc<Self>, conn: Conn) -> BoxFuture<()> {
        Box::pin(async move {
            let info = conn.info.clone();
            let ep = match self.shared.endpoint(info.machine, self.kind) {
                Ok(e) => e,
                Err(e) => {
                    warn!(error = %e, "SSH endpoint not usable; closing");
                    return;
                }
            };
            let span = info_span!(
                "ssh",
                service = self.kind.name(),
                machine = %info.machine_name,
                peer = %info.peer
            );
            let authenticated = Arc::new(AtomicBool::new(false));
            let handler = Handler {
                shared: self.shared.clone(),
                ep: ep.clone(),
                kind: self.kind,
                machine: info.machine,
                audit: Audit {
                    model: self.shared.model.clone(),
                    machine: info.machine_name.clone(),
                    service: self.kind.name(),
                    peer: Some(info.peer),
                    user: None,
                },
                user: None,
                failures: 0,
                channels: HashMap::new(),
                open: HashSet::new(),
                ptys: HashSet::new(),
                authenticated: authenticated.clone(),
                span: span.clone(),
            };
            async move {
                let started = tokio::time::timeout(
                    HELLO_TIMEOUT,
                    russh::server::run_stream(ep.config.clone(), conn.io, handler),
                )
                .await;
                let running = match started {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => {
                        debug!(error = %e, "SSH session did not start");
                        return;
                    }
                    Err(_) => {
                        debug!("no SSH identification from the peer");
                        return;
                    }
                };
                let handle = running.handle();
                // The session runs in a task of its own: when the network
                // layer drops this future (the host went dark, a fault
                // rule), the guard ends the session too.
                let _guard = SessionGuard(Some(handle.clone()));
                let grace = async {
                    tokio::time::sleep(LOGIN_GRACE).await;
                    if authenticated.load(Ordering::Relaxed) {
                        std::future::pending::<()>().await;
                    }
                };
                tokio::select! {
                    r = running => {
                        if let Err(e) = r {
                            debug!(error = %e, "SSH session ended with an error");
                        }
                    }
                    _ = info.closing.cancelled() => {
                        let _ = handle
                            .disconnect(russh::Disconnect::ByApplication, "fakedc is shutting down".into(), "en".into())
                            .await;
                    }
                    _ = grace => {
                        let _ = handle
                            .disconnect(russh::Disconnect::ByApplication, "login grace time exceeded".into(), "en".into())
                            .await;
                    }
                }
            }
            .instrument(span)
            .await
        })
    }
}

/// Disconnects a russh session when dropped.
struct SessionGuard(Option<russh::server::Handle>);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let Some(h) = self.0.take() else { return };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = h
                    .disconnect(
                        russh::Disconnect::ByApplication,
                        "connection closed".into(),
                        "en".into(),
                    )
                    .await;
            });
        }
    }
}

/// One SSH connection.
struct Handler {
    shared: Arc<Shared>,
    ep: Arc<Endpoint>,
    kind: ServiceKind,
    machine: MachineId,
    audit: Audit,
    /// The authenticated user and privilege.
    user: Option<(String, Privilege)>,
    failures: usize,
    /// Session channels not yet handed to a task.
    channels: HashMap<ChannelId, Channel<Msg>>,
    /// Every open session channel (handed to a task or not), for the
    /// per-connection limit.
    open: HashSet<ChannelId>,
    ptys: HashSet<ChannelId>,
    authenticated: Arc<AtomicBool>,
    /// The connection's span: tasks spawned for its channels are its
    /// children, so their logs carry machine and peer.
    span: tracing::Span,
}

impl Handler {
    /// Journals a login attempt. The attempt that reaches the limit closes
    /// the connection instead of being answered, as OpenSSH's MaxAuthTries.
    fn login_record(
        &mut self,
        user: &str,
        method: &str,
        result: Result<Privilege, &str>,
    ) -> Result<Auth, russh::Error> {
        let mut audit = self.audit.clone();
        audit.user = Some(user.to_string());
        match result {
            Ok(p) => {
                audit.record("login", format!("ok ({method})"));
                self.user = Some((user.to_string(), p));
                Ok(Auth::Accept)
            }
            Err(why) => {
                self.failures += 1;
                let last = self.failures >= self.ep.opts.max_auth_attempts;
                audit.record(
                    "login",
                    if last {
                        format!("refused ({method}): {why}; too many authentication failures")
                    } else {
                        format!("refused ({method}): {why}")
                    },
                );
                if last {
                    return Err(russh::Error::Disconnect);
                }
                Ok(Auth::reject())
            }
        }
    }

    fn check_password(
        &mut self,
        user: &str,
        password: &str,
        method: &str,
    ) -> Result<Auth, russh::Error> {
        let r = self
            .shared
            .model
            .authenticate(self.machine, user, password)
            .map(|u| u.privilege)
            .ok_or("wrong user name or password");
        self.login_record(user, method, r)
    }

    /// Whether `key` is in the user's authorized keys.
    fn key_authorized(&self, user: &str, key: &PublicKey) -> Option<Privilege> {
        let users = self.shared.model.users(self.machine);
        let u = users.iter().find(|u| u.enabled && u.name == user)?;
        u.authorized_keys
            .iter()
            .any(|line| parse_authorized_key(line).is_some_and(|k| k.key_data() == key.key_data()))
            .then_some(u.privilege)
    }

    fn esxi_info(&self) -> EsxiInfo {
        EsxiInfo {
            version: self.ep.opts.esxi_version.clone(),
            build: self.ep.opts.esxi_build.clone(),
            datastore: self.ep.opts.datastore.clone(),
        }
    }

    /// The interpreter for this endpoint's shell.
    fn interpreter(&self) -> Interp {
        let (name, privilege) = self
            .user
            .clone()
            .unwrap_or_else(|| ("?".into(), Privilege::User));
        match self.kind {
            ServiceKind::BmcSsh => {
                Interp::Clp(Clp::new(self.shared.model.clone(), self.machine, privilege))
            }
            _ => {
                let jail = self.shared.jail(self.machine, &self.ep.opts, true).ok();
                Interp::Esxi(EsxiShell::new(
                    self.shared.model.clone(),
                    self.machine,
                    jail,
                    self.esxi_info(),
                    &name,
                ))
            }
        }
    }

    fn user_audit(&self) -> Audit {
        let mut a = self.audit.clone();
        a.user = self.user.as_ref().map(|u| u.0.clone());
        a
    }
}

/// An OpenSSH authorized_keys line: optional options, then `type base64
/// [comment]`.
fn parse_authorized_key(line: &str) -> Option<PublicKey> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    if let Ok(k) = PublicKey::from_openssh(line) {
        return Some(k);
    }
    // Skip leading options (`from="..." ssh-ed25519 AAAA...`).
    let start = line.match_indices(' ').map(|(i, _)| i + 1).find(|&i| {
        let rest = &line[i..];
        rest.starts_with("ssh-") || rest.starts_with("ecdsa-") || rest.starts_with("sk-")
    })?;
    PublicKey::from_openssh(&line[start..]).ok()
}

impl russh::server::Handler for Handler {
    type Error = russh::Error;

    async fn authentication_banner(&mut self) -> Result<Option<String>, Self::Error> {
        Ok(self.ep.opts.banner.clone())
    }

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(Auth::reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if !self.ep.opts.password {
            return Ok(Auth::reject());
        }
        self.check_password(user, password, "password")
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        if !self.ep.opts.keyboard_interactive {
            return Ok(Auth::reject());
        }
        match response {
            // First round: ask for the password, as ESXi's PAM does.
            None => Ok(Auth::Partial {
                name: Cow::Borrowed(""),
                instructions: Cow::Borrowed(""),
                prompts: Cow::Owned(vec![(Cow::Borrowed("Password: "), false)]),
            }),
            Some(mut answers) => {
                let password = answers
                    .next()
                    .and_then(|b| String::from_utf8(b.to_vec()).ok())
                    .unwrap_or_default();
                self.check_password(user, &password, "keyboard-interactive")
            }
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.ep.opts.publickey && self.key_authorized(user, offer.public_key).is_some() {
            return Ok(Auth::Accept);
        }
        // A refused offer is not an attempt (clients offer every key they
        // have), but it is journaled: tests assert unauthorized keys fail.
        let mut audit = self.audit.clone();
        audit.user = Some(user.to_string());
        audit.record(
            "login",
            format!(
                "refused (publickey): key {} not authorized",
                hostkey::fingerprint(offer.public_key)
            ),
        );
        Ok(Auth::reject())
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let r = if self.ep.opts.publickey {
            self.key_authorized(user, key.public_key)
                .ok_or("key not authorized")
        } else {
            Err("publickey authentication disabled")
        };
        let method = format!("publickey {}", hostkey::fingerprint(key.public_key));
        self.login_record(user, &method, r)
    }

    async fn auth_succeeded(&mut self, _session: &mut Session) -> Result<(), Self::Error> {
        self.authenticated.store(true, Ordering::Relaxed);
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.user.is_none() || self.open.len() >= self.ep.opts.max_sessions {
            // Dropping the handle rejects the channel.
            return Ok(());
        }
        self.open.insert(channel.id());
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.remove(&channel);
        self.open.remove(&channel);
        self.ptys.remove(&channel);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.channels.contains_key(&channel) {
            self.ptys.insert(channel);
            session.channel_success(channel)?;
        } else {
            session.channel_failure(channel)?;
        }
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Accepted and ignored (LANG and friends).
        session.channel_success(channel)?;
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(ch) = self.channels.remove(&channel) else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        session.channel_success(channel)?;
        let pty = self.ptys.contains(&channel);
        let interp = self.interpreter();
        let audit = self.user_audit();
        tokio::spawn(
            interactive(ch, interp, pty, audit)
                .instrument(info_span!(parent: &self.span, "shell", pty)),
        );
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if data.len() > MAX_COMMAND {
            session.channel_failure(channel)?;
            return Ok(());
        }
        let Some(ch) = self.channels.remove(&channel) else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        session.channel_success(channel)?;
        let command = String::from_utf8_lossy(data).into_owned();
        let interp = self.interpreter();
        let audit = self.user_audit();
        tokio::spawn(
            exec(ch, interp, command, audit).instrument(info_span!(parent: &self.span, "exec")),
        );
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let audit = self.user_audit();
        if name != "sftp" || self.kind == ServiceKind::BmcSsh {
            audit.record(format!("subsystem {name}"), "refused: not available");
            session.channel_failure(channel)?;
            return Ok(());
        }
        let Some(ch) = self.channels.remove(&channel) else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        let jail = match self.shared.jail(self.machine, &self.ep.opts, false) {
            Ok(j) => j,
            Err(e) => {
                warn!(error = %e, "cannot open the share");
                audit.record("sftp session", format!("refused: {e}"));
                session.channel_failure(channel)?;
                return Ok(());
            }
        };
        session.channel_success(channel)?;
        let server = SftpServer::new(audit, jail).atomic_uploads(self.ep.opts.atomic_uploads);
        let (mut rh, wh) = ch.split();
        tokio::spawn(
            async move {
                let reader = rh.make_reader();
                sftp::serve(reader, wh.make_writer(), server).await;
                // `serve` ends with EOF (the writer's shutdown); then, as
                // sshd does when sftp-server exits, its exit status and
                // CLOSE. OpenSSH's scp (SFTP mode) exits 1 without it.
                let _ = wh.exit_status(0).await;
                let _ = wh.close().await;
            }
            .instrument(info_span!(parent: &self.span, "sftp")),
        );
        Ok(())
    }
}

/// The command interpreter of a shell or exec channel.
enum Interp {
    Esxi(EsxiShell),
    Clp(Clp),
}

/// What one command line produced, whichever interpreter ran it.
struct Ran {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    code: u32,
    exit: bool,
}

impl Interp {
    fn run(&mut self, line: &str, now: Instant) -> Ran {
        match self {
            Interp::Esxi(sh) => {
                let o = sh.run_bytes(line, now);
                Ran {
                    stdout: o.stdout,
                    stderr: o.stderr,
                    code: o.code,
                    exit: o.exit,
                }
            }
            Interp::Clp(clp) => {
                let o = clp.run(line, now);
                Ran {
                    stdout: o.text.into_bytes(),
                    stderr: Vec::new(),
                    code: if o.status == crate::clp::Status::Completed {
                        0
                    } else {
                        1
                    },
                    exit: o.exit,
                }
            }
        }
    }

    /// Runs a line at `now` (the model's clock) off the async threads
    /// (file commands may copy a lot).
    async fn run_blocking(self, line: String, now: Instant) -> Option<(Interp, Ran)> {
        tokio::task::spawn_blocking(move || {
            let mut me = self;
            let r = me.run(&line, now);
            (me, r)
        })
        .await
        .ok()
    }

    /// The prompt, or `None` where the real thing prints none (ESXi's sh
    /// without a terminal).
    fn prompt(&self, pty: bool) -> Option<String> {
        match self {
            Interp::Esxi(sh) => pty.then(|| sh.prompt()),
            Interp::Clp(clp) => Some(clp.prompt().to_string()),
        }
    }

    fn greeting(&self) -> Option<&'static str> {
        match self {
            Interp::Esxi(sh) if sh.flavor() == Flavor::Esxi => Some(
                "The time and date of this login have been sent to the system logs.\n\nWARNING:\n   All commands run on the ESXi shell are logged and may be included in\n   support bundles. Do not provide passwords directly on the command line.\n   Most tools can prompt for secrets or accept them from standard input.\n\nVMware offers supported, powerful system administration tools.  Please\nsee www.vmware.com/go/sysadmintools for details.\n\nThe ESXi Shell can be disabled by an administrative user. See the\nvSphere Security documentation for more information.\n",
            ),
            _ => None,
        }
    }
}

fn journal_command(audit: &Audit, mode: &str, line: &str, r: &Ran) {
    audit.record(format!("{mode} {line}"), format!("exit {}", r.code));
}

/// Runs one exec command and closes the channel with its exit status (and
/// EOF), as sshd does when the command exits. `scp -t`/`scp -f` (OpenSSH's
/// legacy protocol, `scp -O`) streams over the channel instead.
async fn exec(ch: Channel<Msg>, interp: Interp, command: String, audit: Audit) {
    if let Interp::Esxi(sh) = &interp {
        if let Some(args) = sh.scp_command(&command) {
            let code = match (ScpArgs::parse(&args), sh.jail()) {
                (Ok(a), Some(jail)) => {
                    let scp = Scp::new(jail.clone(), sh.cwd().clone(), sh.umask(), a);
                    scp_session(ch, scp, &audit).await
                }
                (Err(msg), _) => {
                    let _ = ch
                        .extended_data_bytes(1, format!("scp: {msg}\n").into_bytes())
                        .await;
                    finish(&ch, 1).await;
                    1
                }
                (Ok(_), None) => {
                    let _ = ch
                        .extended_data_bytes(1, b"scp: Permission denied\n".to_vec())
                        .await;
                    finish(&ch, 1).await;
                    1
                }
            };
            audit.record(format!("exec {command}"), format!("exit {code}"));
            return;
        }
    }
    let now = audit.model.clock.now();
    let Some((_, r)) = interp.run_blocking(command.clone(), now).await else {
        finish(&ch, 1).await;
        return;
    };
    journal_command(&audit, "exec", &command, &r);
    if !r.stdout.is_empty() && ch.data_bytes(r.stdout).await.is_err() {
        return;
    }
    if !r.stderr.is_empty() && ch.extended_data_bytes(1, r.stderr).await.is_err() {
        return;
    }
    finish(&ch, r.code).await;
}

/// exit-status, EOF, CLOSE.
async fn finish(ch: &Channel<Msg>, code: u32) {
    let _ = ch.exit_status(code).await;
    let _ = ch.eof().await;
    let _ = ch.close().await;
}

/// Client bytes of an SCP run buffered but not yet consumed, at most (a
/// client cannot push more than this ahead of the disk).
const MAX_SCP_PENDING: usize = 64 * 1024 * 1024;

/// Drives an SCP run over the channel: one future drains the channel
/// (so WINDOW_ADJUST keeps arriving while data waits for window space,
/// see the SFTP loop), the other runs the protocol. Returns the exit status
/// sent.
async fn scp_session(ch: Channel<Msg>, mut scp: Scp, audit: &Audit) -> u32 {
    let (mut rh, wh) = ch.split();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<bytes::Bytes>();
    let pending = std::sync::atomic::AtomicUsize::new(0);
    let reader = async {
        while let Some(msg) = rh.wait().await {
            match msg {
                ChannelMsg::Data { data } => {
                    let n = pending.fetch_add(data.len(), Ordering::Relaxed) + data.len();
                    if n > MAX_SCP_PENDING || tx.send(data).is_err() {
                        break;
                    }
                }
                ChannelMsg::Eof | ChannelMsg::Close => break,
                _ => {}
            }
        }
        drop(tx);
    };
    let mut writer = wh.make_writer();
    let driver = async {
        loop {
            match scp.step() {
                Step::Send(bytes) => {
                    if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                        break 1;
                    }
                }
                Step::Read => match rx.recv().await {
                    Some(d) => {
                        pending.fetch_sub(d.len(), Ordering::Relaxed);
                        scp.feed(&d);
                    }
                    None => scp.eof(),
                },
                Step::Done(code) => break code,
            }
        }
    };
    let code = {
        tokio::pin!(reader, driver);
        let mut reader_done = false;
        loop {
            tokio::select! {
                code = &mut driver => break code,
                _ = &mut reader, if !reader_done => reader_done = true,
            }
        }
    };
    for e in scp.take_events() {
        audit.record(format!("scp {}", e.operation), e.outcome);
    }
    let _ = wh.exit_status(code).await;
    let _ = wh.eof().await;
    let _ = wh.close().await;
    code
}

/// An interactive shell: line editing, prompt, commands until exit/EOF.
async fn interactive(mut ch: Channel<Msg>, mut interp: Interp, pty: bool, audit: Audit) {
    let mut editor = LineEditor::new(pty);
    let mut greeting = String::new();
    if pty {
        if let Some(g) = interp.greeting() {
            greeting.push_str(g);
        }
    }
    if let Some(p) = interp.prompt(pty) {
        greeting.push_str(&p);
    }
    if !greeting.is_empty() && ch.data_bytes(for_terminal(&greeting, pty)).await.is_err() {
        return;
    }
    let mut code = 0;
    'session: while let Some(msg) = ch.wait().await {
        let mut lines = Vec::new();
        let mut echo = Vec::new();
        let ended = match msg {
            ChannelMsg::Data { data } => {
                lines = editor.feed(&data, &mut echo);
                false
            }
            ChannelMsg::Eof | ChannelMsg::Close => {
                if let Some(l) = editor.take_partial() {
                    lines.push(Input::Line(l));
                }
                true
            }
            _ => false,
        };
        if !echo.is_empty() && ch.data_bytes(echo).await.is_err() {
            return;
        }
        for input in lines {
            let mut out = String::new();
            match input {
                Input::Line(line) => {
                    let now = audit.model.clock.now();
                    let Some((back, r)) = interp.run_blocking(line.clone(), now).await else {
                        return;
                    };
                    interp = back;
                    journal_command(&audit, "shell", &line, &r);
                    out.push_str(&String::from_utf8_lossy(&r.stdout));
                    out.push_str(&String::from_utf8_lossy(&r.stderr));
                    code = r.code;
                    if r.exit {
                        if !out.is_empty() {
                            let _ = ch.data_bytes(for_terminal(&out, pty)).await;
                        }
                        break 'session;
                    }
                }
                Input::Interrupt => code = 130,
                Input::Eof => break 'session,
            }
            if !ended {
                if let Some(p) = interp.prompt(pty) {
                    out.push_str(&p);
                }
            }
            if !out.is_empty() && ch.data_bytes(for_terminal(&out, pty)).await.is_err() {
                return;
            }
        }
        if ended {
            break;
        }
    }
    let _ = ch.exit_status(code).await;
    let _ = ch.eof().await;
    let _ = ch.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorized_key_lines() {
        let k = hostkey::generate();
        let line = k.public_key().to_openssh().expect("encode");
        assert!(parse_authorized_key(&line).is_some());
        assert!(parse_authorized_key(&format!("{line} comment")).is_some());
        assert!(parse_authorized_key(&format!("from=\"127.0.0.1\",no-pty {line}")).is_some());
        assert!(parse_authorized_key("# comment").is_none());
        assert!(parse_authorized_key("ssh-ed25519 not-base64").is_none());
    }
}
