//! The SMB service on 445 (Direct TCP) and 139 (NetBIOS session service):
//! frames from the socket to [`Connection`], answers back, one journal
//! entry per session, tree and file operation (never credentials).

use crate::conn::{Accounts, Connection, Server, Share};
use crate::nbss;
use crate::rpc::{STYPE_DISKTREE, STYPE_IPC, STYPE_SPECIAL};
use cap_std::fs::Dir;
use fakedc_model::{Machine, MachineId, Model, Privilege, Role, ServiceKind};
use fakedc_net::{BoxFuture, Conn, ConnInfo, OptionsError, RequestJournal, Services, TcpService};
use fakedc_ntlm::TargetInfo;
use std::collections::HashMap;
use std::io;
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
}

pub fn options(machine: &Machine) -> Result<SmbOptions, OptionsError> {
    match machine.options.get("smb") {
        None => Ok(SmbOptions::default()),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| OptionsError::new(&machine.name, "smb", e.to_string())),
    }
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

/// Changes to a machine's shares, passed round every SMB connection of
/// that machine (445 and 139) for CHANGE_NOTIFY.
type Bus = tokio::sync::broadcast::Sender<Arc<Vec<crate::conn::Change>>>;

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
        });
        shares.push(Share {
            name: "C$".into(),
            remark: "Default share".into(),
            share_type: STYPE_SPECIAL | STYPE_DISKTREE,
            root: Some(root.clone()),
            admin_only: true,
        });
    }
    shares.push(Share {
        name: "IPC$".into(),
        remark: "Remote IPC".into(),
        share_type: STYPE_SPECIAL | STYPE_IPC,
        root: None,
        admin_only: false,
    });
    if let (Some(root), Role::LibraryServer | Role::VmmServer) = (&root, m.role) {
        shares.push(Share {
            name: "MSSCVMMLibrary".into(),
            remark: String::new(),
            share_type: STYPE_DISKTREE,
            root: Some(root.clone()),
            admin_only: false,
        });
    }
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
        "IOCTL (VALIDATE_NEGOTIATE_INFO, PIPE_TRANSCEIVE)",
        "srvsvc NetrShareEnum, NetrShareGetInfo",
        "NetBIOS session request (139)",
        "endpoint mapper on 135: bind (NDR20; NDR64 and bind-time features refused as Windows), ept_lookup, ept_map",
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
        loop {
            let f = tokio::select! {
                f = read_frame(&mut io, &mut buf) => f?,
                ch = changes.recv() => {
                    let Ok(ch) = ch else { continue };
                    let frames = c.on_change(&ch);
                    let mut wire = Vec::new();
                    for frame in &frames {
                        wire.extend_from_slice(&nbss::message_header(frame.len()));
                        wire.extend_from_slice(frame);
                    }
                    if !wire.is_empty() {
                        io.write_all(&wire).await?;
                        io.flush().await?;
                    }
                    continue;
                }
            };
            let Some(f) = f else {
                return Ok(());
            };
            match f.kind {
                nbss::KEEPALIVE => {
                    buf.drain(..f.total());
                    continue;
                }
                nbss::SESSION_MESSAGE => {}
                _ => return Ok(()),
            }
            let now = fakedc_ntlm::filetime(self.model.clock.wall());
            let out = {
                let frame = buf.get(4..f.total()).unwrap_or_default();
                c.handle(frame, now, &accounts, rand::random())
            };
            buf.drain(..f.total());
            for e in out.events {
                self.journal(&info, e.user, e.op, &e.outcome);
            }
            if !out.changes.is_empty() {
                let _ = bus.send(Arc::new(out.changes));
            }
            // One write per answer: a 4-byte header written on its own
            // would wait on Nagle and the client's delayed ACK.
            let total: usize = out.frames.iter().map(|f| f.len() + 4).sum();
            let mut wire = Vec::with_capacity(total);
            for frame in &out.frames {
                wire.extend_from_slice(&nbss::message_header(frame.len()));
                wire.extend_from_slice(frame);
            }
            if !wire.is_empty() {
                io.write_all(&wire).await?;
                io.flush().await?;
            }
            if out.close {
                return Ok(());
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
                .then(|| pdu.get(22..24).map(|b| u16::from_le_bytes([b[0], b[1]])))
                .flatten();
            let reply = match pipe.feed(&pdu, epm.as_ref()) {
                Ok(r) => r,
                Err(_) => crate::rpc::bind_nak(call_id, 4),
            };
            let op = match (ptype, opnum) {
                (crate::rpc::BIND, _) => "bind".to_string(),
                (_, Some(2)) => "ept_lookup".into(),
                (_, Some(3)) => "ept_map".into(),
                (_, Some(n)) => format!("opnum {n}"),
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
