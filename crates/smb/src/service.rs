//! The SMB service on 445 (Direct TCP) and 139 (NetBIOS session service):
//! frames from the socket to [`Connection`], answers back, one journal
//! entry per session, tree and file operation (never credentials).

use crate::conn::{Accounts, Connection, Server, Share, ShareAcl};
use crate::nbss;
use crate::rpc::{STYPE_DISKTREE, STYPE_IPC, STYPE_SPECIAL};
use cap_std::fs::Dir;
use fakedc_model::{Machine, MachineId, Model, Privilege, Role, ServiceKind};
use fakedc_net::{BoxFuture, Conn, ConnInfo, OptionsError, RequestJournal, Services, TcpService};
use fakedc_ntlm::TargetInfo;
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tracing::debug;

/// Largest transport frame accepted: the biggest WRITE plus headers and a
/// transform.
pub const MAX_FRAME: usize = crate::conn::MAX_IO as usize + 65536;

/// `[machine.options.smb]`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmbOptions {
    /// The server requires signing (RequireSecuritySignature = 1).
    #[serde(default)]
    pub require_signing: bool,
    /// Every session is encrypted (Set-SmbServerConfiguration -EncryptData).
    #[serde(default)]
    pub encrypt_data: bool,
    /// Shares beyond the built-in ones: `shares = [{ name = "VMs", path =
    /// "vms", full = ["Administrators"], read = ["bob"] }]`.
    #[serde(default)]
    pub shares: Vec<ShareDecl>,
}

/// A share a scenario declares (New-SmbShare): a directory inside the
/// machine's share directory, with share permissions. Without any of
/// `full`, `change` and `read`, Everyone may read, as New-SmbShare's
/// default grants.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareDecl {
    pub name: String,
    /// Relative to the machine's share directory; "" is the directory
    /// itself. Created at start.
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub remark: String,
    pub full: Option<Vec<String>>,
    pub change: Option<Vec<String>>,
    pub read: Option<Vec<String>>,
}

/// Shares a machine may declare.
pub const MAX_DECLARED_SHARES: usize = 256;

impl ShareDecl {
    fn acl(&self) -> ShareAcl {
        if self.full.is_none() && self.change.is_none() && self.read.is_none() {
            return ShareAcl {
                read: vec!["Everyone".into()],
                ..ShareAcl::default()
            };
        }
        ShareAcl {
            full: self.full.clone().unwrap_or_default(),
            change: self.change.clone().unwrap_or_default(),
            read: self.read.clone().unwrap_or_default(),
        }
    }

    /// The declared path as a relative path of plain components.
    fn rel_path(&self) -> Result<PathBuf, String> {
        let mut p = PathBuf::new();
        for part in self
            .path
            .split(['/', '\\'])
            .filter(|c| !c.is_empty() && *c != ".")
        {
            if part == ".." || part.contains(':') || part.contains('\0') {
                return Err(format!(
                    "share '{}': path '{}' leaves the machine's share",
                    self.name, self.path
                ));
            }
            p.push(part);
        }
        if self.path.starts_with('/') || self.path.starts_with('\\') {
            return Err(format!(
                "share '{}': path '{}' must be relative to the machine's share",
                self.name, self.path
            ));
        }
        Ok(p)
    }
}

pub fn options(machine: &Machine) -> Result<SmbOptions, OptionsError> {
    let o: SmbOptions = match machine.options.get("smb") {
        None => return Ok(SmbOptions::default()),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| OptionsError::new(&machine.name, "smb", e.to_string()))?,
    };
    let err = |m: String| OptionsError::new(&machine.name, "smb", m);
    if o.shares.len() > MAX_DECLARED_SHARES {
        return Err(err(format!("at most {MAX_DECLARED_SHARES} shares")));
    }
    let mut seen: Vec<String> = ["IPC$", "ADMIN$", "C$", "MSSCVMMLIBRARY"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for d in &o.shares {
        // Windows share names: up to 80 characters, none of these.
        if d.name.is_empty()
            || d.name.chars().count() > 80
            || d.name
                .chars()
                .any(|c| "\\/:*?\"<>|".contains(c) || c.is_control())
        {
            return Err(err(format!(
                "share name '{}' is not a valid share name",
                d.name
            )));
        }
        let upper = d.name.to_uppercase();
        if seen.contains(&upper) {
            return Err(err(format!(
                "share '{}' is declared twice or is built in",
                d.name
            )));
        }
        seen.push(upper);
        d.rel_path().map_err(err)?;
    }
    Ok(o)
}

/// The NetBIOS name of a machine: its first DNS label, upper case, at
/// most 15 characters.
pub fn netbios_name(m: &Machine) -> String {
    let base = m.name.split('.').next().unwrap_or(&m.name);
    base.to_ascii_uppercase().chars().take(15).collect()
}

pub struct SmbService {
    model: Arc<Model>,
    machines: HashMap<MachineId, (Arc<Server>, Bus)>,
    netbios: bool,
}

/// What a connection tells the others of its machine (445 and 139):
/// changes to the shares for CHANGE_NOTIFY, released byte-range locks for
/// waiting LOCKs, oplock breaks and their acknowledgments.
type Bus = tokio::sync::broadcast::Sender<Arc<crate::conn::Notice>>;

fn server_for(m: &Machine, model: &Model) -> Result<Server, fakedc_net::StartError> {
    let o = options(m)?;
    let nb = netbios_name(m);
    let root = match &m.share {
        Some(p) => {
            std::fs::create_dir_all(p).map_err(|e| {
                fakedc_net::StartError::Environment(format!(
                    "machine '{}': share {}: {e}",
                    m.name,
                    p.display()
                ))
            })?;
            Some(Arc::new(
                Dir::open_ambient_dir(p, cap_std::ambient_authority()).map_err(|e| {
                    fakedc_net::StartError::Environment(format!(
                        "machine '{}': share {}: {e}",
                        m.name,
                        p.display()
                    ))
                })?,
            ))
        }
        None => None,
    };
    // The shares Windows Server lists, in srvsvc's order (by name).
    let mut shares = Vec::new();
    if let Some(root) = &root {
        shares.push(Share {
            name: "ADMIN$".into(),
            remark: "Remote Admin".into(),
            share_type: STYPE_SPECIAL | STYPE_DISKTREE,
            root: Some(root.clone()),
            admin_only: true,
            base: PathBuf::new(),
            acl: None,
        });
        shares.push(Share {
            name: "C$".into(),
            remark: "Default share".into(),
            share_type: STYPE_SPECIAL | STYPE_DISKTREE,
            root: Some(root.clone()),
            admin_only: true,
            base: PathBuf::new(),
            acl: None,
        });
    }
    shares.push(Share {
        name: "IPC$".into(),
        remark: "Remote IPC".into(),
        share_type: STYPE_SPECIAL | STYPE_IPC,
        root: None,
        admin_only: false,
        base: PathBuf::new(),
        acl: None,
    });
    if let (Some(root), Role::LibraryServer | Role::VmmServer) = (&root, m.role) {
        shares.push(Share {
            name: "MSSCVMMLibrary".into(),
            remark: String::new(),
            share_type: STYPE_DISKTREE,
            root: Some(root.clone()),
            admin_only: false,
            base: PathBuf::new(),
            acl: None,
        });
    }
    for d in &o.shares {
        let Some(root) = &root else { break };
        let env = |e: String| {
            fakedc_net::StartError::Environment(format!(
                "machine '{}': share '{}': {e}",
                m.name, d.name
            ))
        };
        let rel = d.rel_path().map_err(env)?;
        // Opened through the machine's Dir, so the declared share is
        // jailed inside it as ADMIN$ is.
        let dir = if rel.as_os_str().is_empty() {
            root.try_clone().map_err(|e| env(e.to_string()))?
        } else {
            root.create_dir_all(&rel).map_err(|e| env(e.to_string()))?;
            root.open_dir(&rel).map_err(|e| env(e.to_string()))?
        };
        shares.push(Share {
            name: d.name.clone(),
            remark: d.remark.clone(),
            share_type: STYPE_DISKTREE,
            root: Some(Arc::new(dir)),
            admin_only: false,
            base: rel,
            acl: Some(d.acl()),
        });
    }
    shares.sort_by_key(|s| s.name.to_uppercase());
    let dns_domain = m
        .dns_name
        .split_once('.')
        .map(|(_, d)| d.to_string())
        .unwrap_or_default();
    let mut guid = [0u8; 16];
    let name_bytes = m.name.as_bytes();
    for (i, b) in name_bytes.iter().enumerate() {
        guid[i % 16] ^= *b;
    }
    guid[6] = (guid[6] & 0x0F) | 0x40;
    Ok(Server {
        target: TargetInfo {
            nb_domain: nb.clone(),
            nb_computer: nb,
            dns_domain,
            dns_computer: m.dns_name.clone(),
            time: 0,
        },
        guid,
        shares,
        require_signing: o.require_signing,
        encrypt_data: o.encrypt_data,
        start_time: fakedc_ntlm::filetime(model.clock.wall()),
        locks: Default::default(),
        share_modes: Default::default(),
        oplocks: Default::default(),
        // The machine's one quota, counted over its whole share.
        quota: root
            .filter(|_| model.share_quota(m.id).limit().is_some())
            .map(|root| crate::conn::ShareQuota {
                quota: model.share_quota(m.id),
                root,
            }),
    })
}

/// Registers 445 and 139 for every machine with those endpoints.
pub fn register(services: &mut Services, model: &Arc<Model>) -> Result<(), fakedc_net::StartError> {
    let mut machines = HashMap::new();
    for m in model.machines() {
        if m.endpoint(ServiceKind::Smb).is_none() && m.endpoint(ServiceKind::Netbios).is_none() {
            continue;
        }
        let (bus, _) = tokio::sync::broadcast::channel(256);
        machines.insert(m.id, (Arc::new(server_for(m, model)?), bus));
    }
    let mut epm = HashMap::new();
    for m in model.machines() {
        if m.endpoint(ServiceKind::Rpc).is_some() {
            epm.insert(
                m.id,
                Arc::new(crate::epm::Epm {
                    entries: crate::epm::registrations(&netbios_name(m)),
                    addresses: vec![netbios_name(m), m.address.to_string()],
                }),
            );
        }
    }
    services.tcp(
        ServiceKind::Rpc,
        Arc::new(EpmService {
            model: model.clone(),
            machines: epm,
        }),
    );
    for (kind, netbios) in [(ServiceKind::Smb, false), (ServiceKind::Netbios, true)] {
        services.tcp(
            kind,
            Arc::new(SmbService {
                model: model.clone(),
                machines: machines.clone(),
                netbios,
            }),
        );
    }
    Ok(())
}

/// What `/about` lists.
pub fn operations() -> Vec<String> {
    [
        "NEGOTIATE (2.0.2, 2.1, 3.0, 3.0.2, 3.1.1; SMB1 upgrade to 2.FF)",
        "SESSION_SETUP (SPNEGO/NTLM)",
        "signing (HMAC-SHA256, AES-CMAC, AES-GMAC), encryption (AES-128/256-CCM/GCM)",
        "LOGOFF, TREE_CONNECT, TREE_DISCONNECT (IPC$, ADMIN$, C$, MSSCVMMLibrary)",
        "CREATE, CLOSE, FLUSH, READ, WRITE, QUERY_DIRECTORY, QUERY_INFO, SET_INFO, ECHO",
        "LOCK (waiting locks pend until the range frees, CANCEL ends them), CHANGE_NOTIFY, CANCEL",
        "oplocks (batch, exclusive, level II; broken across connections with OPLOCK_BREAK and acknowledged; leases not granted)",
        "IOCTL (VALIDATE_NEGOTIATE_INFO, PIPE_TRANSCEIVE)",
        "the machine's quota_bytes, shared with SFTP and BITS: WRITE/SET_INFO growth past it STATUS_DISK_FULL; FileFsSizeInformation and FileFsFullSizeInformation report it",
        "srvsvc NetrShareEnum, NetrShareGetInfo; wkssvc NetrWkstaGetInfo (levels 100, 101)",
        "null sessions (IPC$ only; srvsvc and wkssvc refused as NullSessionPipes is empty); Guest disabled",
        "NetBIOS session request (139)",
        "endpoint mapper on 135: bind (NDR20; NDR64 and bind-time features refused as Windows), ept_lookup, ept_map; IObjectExporter ServerAlive, ServerAlive2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

struct ModelAccounts<'a> {
    model: &'a Model,
    machine: MachineId,
}

impl Accounts for ModelAccounts<'_> {
    fn password_of(&self, user: &str) -> Option<String> {
        self.model.find_user(self.machine, user).map(|u| u.password)
    }

    fn is_admin(&self, user: &str) -> bool {
        self.model
            .find_user(self.machine, user)
            .is_some_and(|u| u.privilege == Privilege::Admin)
    }
}

impl TcpService for SmbService {
    fn serve(self: Arc<Self>, conn: Conn) -> BoxFuture<()> {
        Box::pin(async move {
            let info = conn.info.clone();
            if let Err(e) = self.run(conn).await {
                debug!(machine = %info.machine_name, "smb connection ended: {e}");
            }
        })
    }
}

/// Reads until `buf` holds one whole frame; returns it. Reads land in
/// `buf`'s spare room directly (no bounce buffer), sized to the frame so a
/// large WRITE arrives in few reads.
async fn read_frame<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
) -> io::Result<Option<nbss::Frame>> {
    loop {
        let want = match nbss::next_frame(buf, MAX_FRAME).map_err(io::Error::other)? {
            Some(f) if buf.len() >= f.total() => return Ok(Some(f)),
            Some(f) => f.total() - buf.len(),
            None => 4,
        };
        buf.reserve(want.max(65536));
        if io.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

impl SmbService {
    fn journal(&self, info: &ConnInfo, user: Option<String>, op: String, outcome: &str) {
        RequestJournal {
            model: &self.model,
            conn: info,
            user,
            op,
            start: self.model.clock.now(),
        }
        .record(outcome);
    }

    async fn run(&self, conn: Conn) -> io::Result<()> {
        let Conn { mut io, info } = conn;
        let Some((server, bus)) = self.machines.get(&info.machine).cloned() else {
            return Ok(());
        };
        let mut changes = bus.subscribe();
        let mut buf = Vec::with_capacity(65536);
        if self.netbios {
            let Some(f) = read_frame(&mut io, &mut buf).await? else {
                return Ok(());
            };
            let body = buf.get(4..f.total()).unwrap_or_default();
            let names = (f.kind == nbss::SESSION_REQUEST)
                .then(|| nbss::parse_session_request(body))
                .flatten();
            let ours = server.target.nb_computer.clone();
            let answer = match &names {
                Some((called, _))
                    if called.name.eq_ignore_ascii_case(&ours) || called.name == "*SMBSERVER" =>
                {
                    None
                }
                Some(_) => Some(nbss::CALLED_NAME_NOT_PRESENT),
                None => Some(nbss::UNSPECIFIED_ERROR),
            };
            let called = names
                .as_ref()
                .map(|(c, _)| c.name.clone())
                .unwrap_or_default();
            buf.drain(..f.total());
            match answer {
                None => {
                    io.write_all(&nbss::positive_response()).await?;
                    self.journal(
                        &info,
                        None,
                        format!("NetBIOS session request {called}"),
                        "positive",
                    );
                }
                Some(code) => {
                    io.write_all(&nbss::negative_response(code)).await?;
                    io.flush().await?;
                    self.journal(
                        &info,
                        None,
                        format!("NetBIOS session request {called}"),
                        &format!("negative {code:#04x}"),
                    );
                    return Ok(());
                }
            }
        }
        let mut c = Connection::new(server);
        let accounts = ModelAccounts {
            model: &self.model,
            machine: info.machine,
        };
        // Reading the socket, handling requests and writing answers run
        // side by side: the next WRITE arrives while this one goes to the
        // file, and a READ's answer drains to the socket while the next
        // is read from the file. The tasks end with the connection
        // (Aborting guards), also when the host powers off and this future
        // is dropped.
        let (rd, mut wr) = tokio::io::split(io);
        let (in_tx, mut frames) = tokio::sync::mpsc::channel::<io::Result<Vec<u8>>>(IN_FLIGHT);
        let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(IN_FLIGHT);
        // Buffers go round instead of being allocated per frame: handled
        // requests back to the reader, sent answers back to the connection
        // (for READs).
        let pool: Pool = Default::default();
        let (sent_tx, mut sent) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let _reader = Aborting::new(tokio::spawn(read_frames(rd, buf, in_tx, pool.clone())));
        let writer = Aborting::new(tokio::spawn(async move {
            while let Some(wire) = out_rx.recv().await {
                wr.write_all(&wire).await?;
                wr.flush().await?;
                let _ = sent_tx.send(wire);
            }
            io::Result::Ok(())
        }));
        // Oplock breaks nobody acknowledges time out (BREAK_TIMEOUT_SECS).
        let mut ticks = tokio::time::interval(std::time::Duration::from_secs(1));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let result = loop {
            let frame = tokio::select! {
                f = frames.recv() => f,
                _ = ticks.tick() => {
                    let out = c.tick(fakedc_ntlm::filetime(self.model.clock.wall()));
                    if !out.is_empty() && out_tx.send(wire(out)).await.is_err() {
                        break Ok(());
                    }
                    continue;
                }
                ch = changes.recv() => {
                    let ch = match ch {
                        Ok(ch) => ch,
                        // Notices missed (this connection lagged behind):
                        // the waiting LOCKs try again on the next one.
                        Err(_) => continue,
                    };
                    let out = c.on_notice(&ch);
                    if !out.is_empty() && out_tx.send(wire(out)).await.is_err() {
                        break Ok(());
                    }
                    continue;
                }
            };
            let frame = match frame {
                None => break Ok(()),
                Some(Err(e)) => break Err(e),
                Some(Ok(f)) => f,
            };
            let Some(kind) = frame.first().copied() else {
                break Ok(());
            };
            match kind {
                nbss::KEEPALIVE => continue,
                nbss::SESSION_MESSAGE => {}
                _ => break Ok(()),
            }
            while let Ok(b) = sent.try_recv() {
                c.recycle(b);
            }
            let now = fakedc_ntlm::filetime(self.model.clock.wall());
            let mut frame = frame;
            let mut out = c.handle_in_place(
                frame.get_mut(4..).unwrap_or_default(),
                now,
                &accounts,
                rand::random(),
            );
            pool.put(frame);
            for e in std::mem::take(&mut out.events) {
                self.journal(&info, e.user, e.op, &e.outcome);
            }
            for n in out.notices() {
                let _ = bus.send(Arc::new(n));
            }
            if !out.frames.is_empty() && out_tx.send(wire(out.frames)).await.is_err() {
                break Ok(());
            }
            if out.close {
                break Ok(());
            }
        };
        // The connection's locks and oplocks go with it; LOCKs and
        // CREATEs waiting on them (on other connections) go ahead.
        for n in c.release_all() {
            let _ = bus.send(Arc::new(n));
        }
        // What was answered reaches the client before the connection ends.
        drop(out_tx);
        if let Some(handle) = writer.take() {
            let _ = handle.await;
        }
        result
    }
}

/// Requests read ahead of the one being handled, and answers queued for
/// the socket, per connection (each at most a frame of [`MAX_FRAME`]).
const IN_FLIGHT: usize = 2;

/// Large frame buffers handed back to the reader, so a stream of 8 MiB
/// WRITEs reuses a few buffers instead of faulting in fresh pages for
/// each.
#[derive(Clone, Default)]
struct Pool(Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

impl Pool {
    const MAX: usize = IN_FLIGHT + 2;
    const MIN: usize = 1 << 20;

    fn put(&self, mut buf: Vec<u8>) {
        if buf.capacity() < Self::MIN {
            return;
        }
        buf.clear();
        let mut p = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if p.len() < Self::MAX {
            p.push(buf);
        }
    }

    fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }
}

/// A spawned task aborted when the guard is dropped.
struct Aborting<T>(Option<tokio::task::JoinHandle<T>>);

impl<T> Aborting<T> {
    fn new(h: tokio::task::JoinHandle<T>) -> Aborting<T> {
        Aborting(Some(h))
    }

    /// The handle, to await; the guard no longer aborts it.
    fn take(mut self) -> Option<tokio::task::JoinHandle<T>> {
        self.0.take()
    }
}

impl<T> Drop for Aborting<T> {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.abort();
        }
    }
}

/// The frames' transport headers filled in (each frame starts with
/// [`crate::conn::HEADROOM`] bytes for it); small answers are joined into
/// one write (a 4-byte header or a short message written on its own would
/// wait on Nagle and the client's delayed ACK).
fn wire(mut frames: Vec<Vec<u8>>) -> Vec<u8> {
    for f in frames.iter_mut() {
        let len = f.len().saturating_sub(crate::conn::HEADROOM);
        if let Some(h) = f.get_mut(..4) {
            h.copy_from_slice(&nbss::message_header(len));
        }
    }
    if frames.len() == 1 {
        return frames.pop().unwrap_or_default();
    }
    frames.concat()
}

/// Reads whole frames (transport header included) and passes them on;
/// ends at EOF, on an error (passed on) or when the handler is gone.
async fn read_frames<R: AsyncRead + Unpin>(
    mut rd: R,
    mut buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<io::Result<Vec<u8>>>,
    pool: Pool,
) {
    loop {
        match read_frame(&mut rd, &mut buf).await {
            Ok(Some(f)) => {
                // The frame leaves in its own buffer; bytes already read
                // past it (the start of the next) move to the next one.
                let mut next = pool.take().unwrap_or_else(|| Vec::with_capacity(65536));
                next.extend_from_slice(buf.get(f.total()..).unwrap_or_default());
                buf.truncate(f.total());
                let frame = std::mem::replace(&mut buf, next);
                if tx.send(Ok(frame)).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    }
}

/// The endpoint mapper on 135: DCE/RPC PDUs straight on TCP.
pub struct EpmService {
    model: Arc<Model>,
    machines: HashMap<MachineId, Arc<crate::epm::Epm>>,
}

impl TcpService for EpmService {
    fn serve(self: Arc<Self>, conn: Conn) -> BoxFuture<()> {
        Box::pin(async move {
            let info = conn.info.clone();
            if let Err(e) = self.run(conn).await {
                debug!(machine = %info.machine_name, "epm connection ended: {e}");
            }
        })
    }
}

impl EpmService {
    async fn run(&self, conn: Conn) -> io::Result<()> {
        let Conn { mut io, info } = conn;
        let Some(epm) = self.machines.get(&info.machine).cloned() else {
            return Ok(());
        };
        let mut pipe = crate::rpc::PipeRpc::default();
        loop {
            let mut head = [0u8; crate::rpc::HEADER_LEN];
            match io.read_exact(&mut head).await {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
            let call_id = u32::from_le_bytes([head[12], head[13], head[14], head[15]]);
            if head[0] != 5 {
                // Not DCE/RPC 5.x (nmap's SMBProgNeg among others): Windows
                // answers bind_nak "protocol version not supported", 5.0.
                io.write_all(&crate::rpc::bind_nak(call_id, 4)).await?;
                io.flush().await?;
                RequestJournal {
                    model: &self.model,
                    conn: &info,
                    user: None,
                    op: "rpc".into(),
                    start: self.model.clock.now(),
                }
                .record("bind_nak (protocol version)");
                return Ok(());
            }
            let len = usize::from(u16::from_le_bytes([head[8], head[9]]));
            if len < crate::rpc::HEADER_LEN {
                return Ok(());
            }
            let mut pdu = head.to_vec();
            pdu.resize(len, 0);
            io.read_exact(&mut pdu[crate::rpc::HEADER_LEN..]).await?;
            let ptype = pdu[2];
            let opnum = (ptype == crate::rpc::REQUEST)
                .then(|| pdu.get(20..24))
                .flatten()
                .map(|b| {
                    let ctx = u16::from_le_bytes([b[0], b[1]]);
                    (pipe.syntax_of(ctx), u16::from_le_bytes([b[2], b[3]]))
                });
            let reply = match pipe.feed(&pdu, epm.as_ref()) {
                Ok(r) => r,
                Err(_) => crate::rpc::bind_nak(call_id, 4),
            };
            let op = match (ptype, opnum) {
                (crate::rpc::BIND, _) => "bind".to_string(),
                (_, Some((Some(0), 2))) => "ept_lookup".into(),
                (_, Some((Some(0), 3))) => "ept_map".into(),
                (_, Some((Some(1), 3))) => "ServerAlive".into(),
                (_, Some((Some(1), 5))) => "ServerAlive2".into(),
                (_, Some((_, n))) => format!("opnum {n}"),
                (t, None) => format!("ptype {t}"),
            };
            let outcome = match reply.get(2) {
                Some(&crate::rpc::FAULT) => "fault",
                Some(&crate::rpc::BIND_NAK) => "bind_nak",
                _ => "ok",
            };
            RequestJournal {
                model: &self.model,
                conn: &info,
                user: None,
                op,
                start: self.model.clock.now(),
            }
            .record(outcome);
            if !reply.is_empty() {
                io.write_all(&reply).await?;
                io.flush().await?;
            }
        }
    }
}
