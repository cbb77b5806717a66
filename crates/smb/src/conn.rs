//! One SMB2 connection's state machine: bytes of one transport frame in,
//! response frames and journal events out. Negotiate (2.0.2-3.1.1 and the
//! SMB1 upgrade), sessions through `fakedc-ntlm`'s SPNEGO acceptor,
//! signing and encryption, credits, compounds, trees and opens over the
//! machine's shares. File access goes through [`crate::fs`]'s jail; the
//! time comes in as an argument.

use crate::crypto::{self, Cipher, SignAlgo};
use crate::fs::{self, Entry, Info};
use crate::proto::{self, cmd, create, status, FileId, Header, ProtoError};
use crate::rpc::{self, PipeRpc, ShareInfo, Srvsvc, Wkssvc};
use cap_std::fs::{Dir, FileExt, OpenOptions};
use fakedc_ntlm::http::{Acceptor, TokenStep};
use fakedc_ntlm::TargetInfo;
use fakedc_wire::Reader;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

/// Largest READ/WRITE/transact with LARGE_MTU (Windows Server's 8 MiB).
pub const MAX_IO: u32 = 8 << 20;
/// Without LARGE_MTU (2.0.2).
pub const MAX_IO_202: u32 = 65536;
/// Credits a client may hold at once.
pub const MAX_CREDITS: u64 = 8192;
/// Sessions, trees per session and opens per session a connection may hold.
pub const MAX_SESSIONS: usize = 64;
pub const MAX_TREES: usize = 256;
pub const MAX_OPENS: usize = 4096;
/// Entries one directory listing snapshot holds.
pub const MAX_DIR_ENTRIES: usize = 100_000;
/// Bytes waiting in a pipe for the client to read.
pub const MAX_PIPE_OUT: usize = 4 << 20;

/// A share as a machine serves it.
#[derive(Clone)]
pub struct Share {
    pub name: String,
    pub remark: String,
    /// STYPE_* as srvsvc lists it.
    pub share_type: u32,
    /// `None` for IPC$.
    pub root: Option<Arc<Dir>>,
    /// Administrators only (ADMIN$, C$).
    pub admin_only: bool,
    /// Where the share's root lies inside the machine's share directory:
    /// one file opened through ADMIN$ and through a declared share meets
    /// itself in the machine's share-mode table under one key.
    pub base: PathBuf,
    /// Share permissions; `None` gives every user who may connect full
    /// control (the built-in shares, guarded by `admin_only`).
    pub acl: Option<ShareAcl>,
}

/// A share's permissions (Grant-SmbShareAccess): accounts with full
/// control, change and read. `Everyone` names every authenticated user
/// (not null sessions), `Administrators` every administrator.
#[derive(Debug, Clone, Default)]
pub struct ShareAcl {
    pub full: Vec<String>,
    pub change: Vec<String>,
    pub read: Vec<String>,
}

/// What a user may do on a share, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rights {
    None,
    Read,
    Change,
    Full,
}

impl Rights {
    /// The tree connect's MaximalAccess for these rights (the masks
    /// Windows grants for Read, Change and Full Control).
    fn maximal_access(self) -> u32 {
        match self {
            Rights::None => 0,
            Rights::Read => 0x0012_00A9,
            Rights::Change => 0x0013_01BF,
            Rights::Full => 0x001F_01FF,
        }
    }
}

impl ShareAcl {
    /// The strongest right any entry gives `user`.
    pub fn rights(&self, user: &str, admin: bool) -> Rights {
        let names = |list: &[String]| {
            list.iter().any(|n| {
                n.eq_ignore_ascii_case("Everyone")
                    || (admin && n.eq_ignore_ascii_case("Administrators"))
                    || n.eq_ignore_ascii_case(user)
            })
        };
        if names(&self.full) {
            Rights::Full
        } else if names(&self.change) {
            Rights::Change
        } else if names(&self.read) {
            Rights::Read
        } else {
            Rights::None
        }
    }
}

/// The access bits that take part in sharing checks (MS-FSA 2.1.5.1.2):
/// FILE_READ_DATA, FILE_WRITE_DATA, FILE_APPEND_DATA, FILE_EXECUTE, DELETE.
const READ_DATA: u32 = 0x1;
const WRITE_DATA: u32 = 0x2;
const APPEND_DATA: u32 = 0x4;
const EXECUTE: u32 = 0x20;
const DELETE: u32 = 0x0001_0000;
const SHARE_READ: u32 = 0x1;
const SHARE_WRITE: u32 = 0x2;
const SHARE_DELETE: u32 = 0x4;

/// DesiredAccess with the generic rights and MAXIMUM_ALLOWED mapped to
/// the file rights they grant (MS-SMB2 3.3.5.9; the maximum is what the
/// tree allows).
fn file_access(desired: u32, rights: Rights) -> u32 {
    let mut a = desired & 0x01FF_FFFF & !0x0100_0000;
    if desired & 0x8000_0000 != 0 {
        a |= READ_DATA | 0x8 | 0x80 | 0x0002_0000 | 0x0010_0000;
    }
    if desired & 0x4000_0000 != 0 {
        a |= WRITE_DATA | APPEND_DATA | 0x10 | 0x100 | 0x0002_0000 | 0x0010_0000;
    }
    if desired & 0x2000_0000 != 0 {
        a |= EXECUTE | 0x80 | 0x0002_0000 | 0x0010_0000;
    }
    if desired & 0x1000_0000 != 0 || desired & 0x0200_0000 != 0 {
        a |= rights.maximal_access();
    }
    a & !0x0200_0000
}

/// One open's part in the sharing checks.
#[derive(Debug, Clone, Copy)]
struct ShareMode {
    owner: (u64, u64),
    access: u32,
    share: u32,
}

/// The machine's share-mode table: every open file or directory of every
/// connection (445 and 139), by path in the machine's share.
#[derive(Debug, Default)]
pub struct ShareModes {
    table: std::sync::Mutex<HashMap<PathBuf, Vec<ShareMode>>>,
}

impl ShareModes {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Vec<ShareMode>>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an open unless it conflicts with one already there
    /// (STATUS_SHARING_VIOLATION): an open that touches no data (only
    /// attributes or the security descriptor) neither conflicts nor
    /// constrains.
    fn acquire(&self, key: &std::path::Path, owner: (u64, u64), access: u32, share: u32) -> bool {
        let data = READ_DATA | WRITE_DATA | APPEND_DATA | EXECUTE | DELETE;
        if access & data == 0 {
            return true;
        }
        let mut t = self.table();
        let held = t.entry(key.to_path_buf()).or_default();
        let conflict = held.iter().any(|e| {
            let refuses = |acc: u32, sh: u32| {
                (acc & (READ_DATA | EXECUTE) != 0 && sh & SHARE_READ == 0)
                    || (acc & (WRITE_DATA | APPEND_DATA) != 0 && sh & SHARE_WRITE == 0)
                    || (acc & DELETE != 0 && sh & SHARE_DELETE == 0)
            };
            refuses(e.access, share) || refuses(access, e.share)
        });
        if conflict {
            if held.is_empty() {
                t.remove(key);
            }
            return false;
        }
        if held.len() >= MAX_OPENS_PER_FILE {
            return false;
        }
        held.push(ShareMode {
            owner,
            access,
            share,
        });
        true
    }

    fn release(&self, owner: (u64, u64)) {
        self.table().retain(|_, v| {
            v.retain(|e| e.owner != owner);
            !v.is_empty()
        });
    }

    fn release_conn(&self, conn: u64) {
        self.table().retain(|_, v| {
            v.retain(|e| e.owner.0 != conn);
            !v.is_empty()
        });
    }

    /// Moves the entries of a renamed file or directory (and below it).
    fn rename(&self, from: &std::path::Path, to: &std::path::Path) {
        let mut t = self.table();
        let keys: Vec<PathBuf> = t.keys().filter(|k| k.starts_with(from)).cloned().collect();
        for k in keys {
            if let (Some(v), Ok(rest)) = (t.remove(&k), k.strip_prefix(from)) {
                t.entry(to.join(rest)).or_default().extend(v);
            }
        }
    }
}

/// Opens of one file the share-mode table keeps at most.
pub const MAX_OPENS_PER_FILE: usize = 4096;

/// Who the server is and what it serves: built once per machine.
pub struct Server {
    pub target: TargetInfo,
    pub guid: [u8; 16],
    pub shares: Vec<Share>,
    /// RequireSecuritySignature.
    pub require_signing: bool,
    /// Encrypt every session (the server's EncryptData).
    pub encrypt_data: bool,
    pub start_time: u64,
    /// Byte-range locks of every connection, by file.
    pub locks: Locks,
    /// Share modes of every open, by file.
    pub share_modes: ShareModes,
    /// Oplocks granted, by file.
    pub oplocks: Oplocks,
    /// The machine's share quota, when it has a share and a limit.
    pub quota: Option<ShareQuota>,
}

/// The machine's share quota (`fakedc_model::Quota`, the one SFTP and
/// BITS count against too) with the machine's share root it counts: a
/// declared share is a directory of that root, and every byte in the root
/// counts. Past it, writes get STATUS_DISK_FULL, what a Windows share
/// under an FSRM hard quota answers; the file-system size classes report
/// the quota as the volume.
pub struct ShareQuota {
    pub quota: Arc<fakedc_model::Quota>,
    pub root: Arc<Dir>,
}

impl ShareQuota {
    /// A file goes from `old` to `new` bytes: the growth is reserved (or
    /// STATUS_DISK_FULL), a shrinkage released.
    fn resize(&self, old: u64, new: u64) -> Result<(), u32> {
        self.quota
            .resize(&self.root, old, new)
            .map_err(|_| status::DISK_FULL)
    }

    fn release(&self, bytes: u64) {
        self.quota.release(bytes)
    }

    /// (total, free) bytes.
    fn space(&self) -> Option<(u64, u64)> {
        self.quota.space(&self.root)
    }
}

/// Oplock levels (MS-SMB2 2.2.13 RequestedOplockLevel).
pub mod oplock {
    pub const NONE: u8 = 0x00;
    pub const LEVEL_II: u8 = 0x01;
    pub const EXCLUSIVE: u8 = 0x08;
    pub const BATCH: u8 = 0x09;
    pub const LEASE: u8 = 0xFF;
}

/// How long a break waits for the holder's acknowledgment before the
/// open that caused it goes ahead (Windows' OplockBreakWait, 35 s).
pub const BREAK_TIMEOUT_SECS: u64 = 35;

/// An oplock held by one open.
#[derive(Debug, Clone, Copy)]
struct Grant {
    owner: (u64, u64),
    level: u8,
    /// The level a break sent to the holder goes to, and when (FILETIME).
    breaking: Option<(u8, u64)>,
}

/// The machine's oplock table (every connection on 445 and 139): who
/// holds what on which file, so an open from another connection breaks
/// an exclusive or batch oplock first, as Windows does.
#[derive(Debug, Default)]
pub struct Oplocks {
    table: std::sync::Mutex<HashMap<PathBuf, Vec<Grant>>>,
}

impl Oplocks {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Vec<Grant>>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops what `gone` matches; returns the files that lost an oplock.
    fn release_where(&self, gone: impl Fn(&Grant) -> bool) -> Vec<PathBuf> {
        let mut freed = Vec::new();
        self.table().retain(|k, v| {
            let before = v.len();
            v.retain(|g| !gone(g));
            if v.len() != before {
                freed.push(k.clone());
            }
            !v.is_empty()
        });
        freed
    }

    fn rename(&self, from: &std::path::Path, to: &std::path::Path) {
        let mut t = self.table();
        let keys: Vec<PathBuf> = t.keys().filter(|k| k.starts_with(from)).cloned().collect();
        for k in keys {
            if let (Some(v), Ok(rest)) = (t.remove(&k), k.strip_prefix(from)) {
                t.entry(to.join(rest)).or_default().extend(v);
            }
        }
    }
}

/// A held byte-range lock: its range, whether exclusive, and its owner
/// (connection and handle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    offset: u64,
    length: u64,
    exclusive: bool,
    owner: (u64, u64),
}

impl Held {
    fn overlaps(&self, offset: u64, length: u64) -> bool {
        length != 0
            && self.length != 0
            && offset < self.offset.saturating_add(self.length)
            && self.offset < offset.saturating_add(length)
    }
}

/// The machine's lock table (shared by its connections on 445 and 139).
#[derive(Debug, Default)]
pub struct Locks {
    table: std::sync::Mutex<HashMap<PathBuf, Vec<Held>>>,
    next_conn: std::sync::atomic::AtomicU64,
}

/// Locks held on one file at most.
pub const MAX_LOCKS_PER_FILE: usize = 4096;

impl Locks {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Vec<Held>>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `owner` may read (`write` false) or write the range: not
    /// while another owner holds an overlapping exclusive lock, nor write
    /// over another owner's shared one.
    fn allows(
        &self,
        path: &std::path::Path,
        owner: (u64, u64),
        offset: u64,
        length: u64,
        write: bool,
    ) -> bool {
        let t = self.table();
        t.get(path).is_none_or(|v| {
            !v.iter()
                .any(|h| h.owner != owner && h.overlaps(offset, length) && (h.exclusive || write))
        })
    }

    /// Releases what `owner` holds; returns the files whose locks went,
    /// so the locks waiting on them are tried again.
    fn release(&self, owner: (u64, u64)) -> Vec<PathBuf> {
        self.release_where(|h| h.owner == owner)
    }

    fn release_conn(&self, conn: u64) -> Vec<PathBuf> {
        self.release_where(|h| h.owner.0 == conn)
    }

    fn release_where(&self, gone: impl Fn(&Held) -> bool) -> Vec<PathBuf> {
        let mut freed = Vec::new();
        let mut t = self.table();
        t.retain(|k, v| {
            let before = v.len();
            v.retain(|h| !gone(h));
            if v.len() != before {
                freed.push(k.clone());
            }
            !v.is_empty()
        });
        freed
    }
}

/// What a connection tells the machine's other connections (and itself)
/// through the service: changes for CHANGE_NOTIFY, and files whose
/// byte-range locks were released, for the LOCKs waiting on them.
#[derive(Debug, Clone)]
pub enum Notice {
    Changes(Vec<Change>),
    Unlocked(Vec<PathBuf>),
    /// Break the oplock of open `vol` on connection `conn` to `level`.
    Break {
        conn: u64,
        vol: u64,
        level: u8,
    },
    /// Oplocks on these files were acknowledged down or released: the
    /// opens waiting on them go ahead.
    OplockReleased(Vec<PathBuf>),
}

impl Server {
    pub fn share_infos(&self) -> Vec<ShareInfo> {
        self.shares
            .iter()
            .map(|s| ShareInfo {
                name: s.name.clone(),
                share_type: s.share_type,
                remark: s.remark.clone(),
            })
            .collect()
    }
}

/// Accounts, from the model (the service implements it).
pub trait Accounts {
    /// The user's password under the machine's account rule, or None.
    fn password_of(&self, user: &str) -> Option<String>;
    fn is_admin(&self, user: &str) -> bool;
}

/// One journal entry to record.
#[derive(Debug, Clone)]
pub struct Event {
    pub user: Option<String>,
    pub op: String,
    pub outcome: String,
}

/// Bytes at the start of every frame [`Output::frames`] and
/// [`Connection::on_change`] return, left for the transport header (Direct
/// TCP or NetBIOS, 4 bytes) so the service sends a frame without copying
/// it: an 8 MiB READ's data is read from the file into the buffer that
/// goes to the socket.
pub const HEADROOM: usize = 4;

/// What one frame produced.
#[derive(Default)]
pub struct Output {
    /// Frames to send (SMB2 messages or transforms), each after
    /// [`HEADROOM`] bytes for the transport header.
    pub frames: Vec<Vec<u8>>,
    pub events: Vec<Event>,
    /// Close the connection after sending.
    pub close: bool,
    /// Changes this frame made to the share, for every connection's
    /// pending CHANGE_NOTIFY (the service passes them round).
    pub changes: Vec<Change>,
    /// Files whose byte-range locks this frame released (unlock, close,
    /// logoff), for every connection's waiting LOCKs.
    pub unlocked: Vec<PathBuf>,
    /// Oplock breaks this frame started: (connection, open, new level).
    pub breaks: Vec<(u64, u64, u8)>,
    /// Files whose oplocks this frame acknowledged down or released.
    pub oplocks_released: Vec<PathBuf>,
}

impl Output {
    /// What the service passes round to the machine's connections.
    pub fn notices(&mut self) -> Vec<Notice> {
        let mut n = Vec::new();
        if !self.changes.is_empty() {
            n.push(Notice::Changes(std::mem::take(&mut self.changes)));
        }
        if !self.unlocked.is_empty() {
            n.push(Notice::Unlocked(std::mem::take(&mut self.unlocked)));
        }
        for (conn, vol, level) in self.breaks.drain(..) {
            n.push(Notice::Break { conn, vol, level });
        }
        if !self.oplocks_released.is_empty() {
            n.push(Notice::OplockReleased(std::mem::take(
                &mut self.oplocks_released,
            )));
        }
        n
    }
}

/// One change to a share's tree (paths relative to the share root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// FILE_ACTION_*: 1 added, 2 removed, 3 modified, 4 renamed (old
    /// name), 5 renamed (new name).
    pub action: u32,
    pub path: PathBuf,
}

/// A CHANGE_NOTIFY waiting for a change, a CANCEL or its handle's CLOSE.
struct Pending {
    async_id: u64,
    message_id: u64,
    session: u64,
    vol: u64,
    dir: PathBuf,
    tree: bool,
    filter: u32,
    output_len: u32,
    sign: bool,
    encrypted: bool,
}

/// A CREATE waiting for an oplock break to be acknowledged (or to time
/// out): the request is kept whole and run again.
struct PendingCreate {
    async_id: u64,
    h: Header,
    msg: Vec<u8>,
    key: PathBuf,
    sign: bool,
    encrypted: bool,
}

/// How a pending request's final answer goes out.
struct PendingForm {
    session: u64,
    sign: bool,
    encrypted: bool,
}

/// A LOCK waiting for a range another handle holds (no
/// FAIL_IMMEDIATELY): answered STATUS_PENDING at once, completed when the
/// range frees, by CANCEL, or when its handle closes.
struct PendingLock {
    async_id: u64,
    message_id: u64,
    session: u64,
    vol: u64,
    key: PathBuf,
    elements: Vec<proto::LockElement>,
    sign: bool,
    encrypted: bool,
}

/// What a watched directory handle saw while no CHANGE_NOTIFY waited.
struct Watch {
    dir: PathBuf,
    tree: bool,
    filter: u32,
    /// Buffering starts after the first notification completes.
    armed: bool,
    buffered: Vec<(u32, String)>,
    overflow: bool,
}

/// The named pipes IPC$ serves.
const PIPES: [&str; 2] = ["srvsvc", "wkssvc"];

/// SESSION_SETUP response SessionFlags: a null session.
const SESSION_FLAG_IS_NULL: u16 = 0x0002;

/// Changes one handle buffers at most; beyond, NOTIFY_ENUM_DIR.
const MAX_BUFFERED: usize = 1024;

const STATUS_NOTIFY_CLEANUP: u32 = 0x0000_010B;
const STATUS_NOTIFY_ENUM_DIR: u32 = 0x0000_010C;
/// Bytes of a CREATE request kept while it waits for an oplock break (a
/// real one is a few hundred; [`MAX_PENDING`] of them are kept at most).
const MAX_PENDING_CREATE: usize = 64 << 10;

/// An OPLOCK_BREAK acknowledgment for an open that has no break under
/// way.
const STATUS_INVALID_OPLOCK_PROTOCOL: u32 = 0xC000_00E3;

/// Requests waiting at once for their final answer on one connection,
/// whatever they wait for (CHANGE_NOTIFY, a LOCK on a held range, a
/// CREATE on an oplock break): one more gets STATUS_INSUFFICIENT_RESOURCES
/// (MS-SMB2 3.3.4.2, a server whose resources for asynchronous processing
/// are constrained), through `Connection::begin_async`.
pub const MAX_PENDING: usize = 256;

enum OpenKind {
    File(cap_std::fs::File),
    Dir {
        listing: Option<Vec<Entry>>,
        cursor: usize,
        pattern: String,
    },
    Pipe {
        rpc: PipeRpc,
        input: Vec<u8>,
        output: Vec<u8>,
    },
}

struct Open {
    session: u64,
    tree: u32,
    /// The share's root (None for IPC$).
    root: Option<Arc<Dir>>,
    path: PathBuf,
    /// The path in the machine's share (the share's base joined): the key
    /// of the share-mode and lock tables.
    key: PathBuf,
    kind: OpenKind,
    delete_on_close: bool,
    write: bool,
    /// Opened in an encrypted session: its oplock break goes sealed.
    encrypted: bool,
    /// Bytes read and written through this open (journaled at CLOSE).
    read_bytes: u64,
    written_bytes: u64,
}

struct Tree {
    share: usize,
    rights: Rights,
}

struct Session {
    acceptor: Acceptor,
    valid: bool,
    user: Option<String>,
    admin: bool,
    /// A null session (the anonymous NTLM logon): IPC$ only, no keys.
    anonymous: bool,
    preauth: [u8; 64],
    sign_key: Vec<u8>,
    sign_algo: SignAlgo,
    enc_key: Vec<u8>,
    dec_key: Vec<u8>,
    signing_required: bool,
    trees: HashMap<u32, Tree>,
    next_tree: u32,
}

/// One connection.
pub struct Connection {
    server: Arc<Server>,
    dialect: Option<u16>,
    client_guid: [u8; 16],
    client_caps: u32,
    client_security_mode: u16,
    client_dialects: Vec<u16>,
    server_caps: u32,
    preauth: [u8; 64],
    cipher: Option<Cipher>,
    sign_algo_311: SignAlgo,
    sessions: HashMap<u64, Session>,
    opens: HashMap<u64, Open>,
    next_open: u64,
    /// Message ids below `seq_low` are spent; `seq_high` is one past the
    /// highest granted; `seq_used` holds spent ids at or above `seq_low`.
    seq_low: u64,
    seq_high: u64,
    seq_used: BTreeSet<u64>,
    /// Sessions logged off by the request being answered: removed once
    /// the LOGOFF response is signed with their key.
    logoffs: Vec<u64>,
    pending: Vec<Pending>,
    pending_locks: Vec<PendingLock>,
    pending_creates: Vec<PendingCreate>,
    watches: HashMap<u64, Watch>,
    next_async: u64,
    /// This connection's id in the machine's lock table.
    conn_id: u64,
    /// Changes made while handling the current frame.
    changes: Vec<Change>,
    /// Files whose locks the current frame released.
    unlocked: Vec<PathBuf>,
    /// Oplock breaks the current frame started, and files whose oplocks
    /// it acknowledged down or released.
    breaks: Vec<(u64, u64, u8)>,
    oplocks_released: Vec<PathBuf>,
    /// The time of the latest frame or tick (FILETIME).
    now: u64,
    /// The request being handled is one of a compound chain.
    chained: bool,
    /// Room in front of the answer being built: the transport header,
    /// and the transform header when the request came encrypted (the
    /// answer is sealed where it lies).
    room: usize,
    /// Async completions produced while handling the current frame.
    completions: Vec<Vec<u8>>,
    /// Sent buffers handed back by the service ([`Connection::recycle`]),
    /// reused for READ answers: an 8 MiB READ then neither allocates nor
    /// zeroes (fresh large allocations fault in and zero every page).
    spare: Vec<Vec<u8>>,
}

/// Sent buffers a connection keeps for reuse, and the smallest worth
/// keeping.
const MAX_SPARE: usize = 4;
const MIN_SPARE: usize = 1 << 20;

/// A reply to one request of a compound.
struct Reply {
    status: u32,
    body: Vec<u8>,
    /// Sign with this session's key.
    sign: Option<u64>,
    /// The session id to put in the header (set by SESSION_SETUP).
    session_id: Option<u64>,
    tree_id: Option<u32>,
    /// Do not send (CANCEL).
    silent: bool,
    /// An interim STATUS_PENDING answer in the async header form.
    async_id: Option<u64>,
    /// `body` starts with [`Connection::read_headroom`] bytes of room for the
    /// transport and SMB2 headers (READ's data is read straight into the
    /// buffer that is sent).
    headroom: bool,
}

impl Reply {
    fn ok(body: Vec<u8>) -> Reply {
        Reply {
            status: status::SUCCESS,
            body,
            sign: None,
            session_id: None,
            tree_id: None,
            silent: false,
            async_id: None,
            headroom: false,
        }
    }

    fn err(status: u32) -> Reply {
        Reply {
            status,
            body: proto::ERROR_BODY.to_vec(),
            ..Reply::ok(Vec::new())
        }
    }

    fn with(status: u32, body: Vec<u8>) -> Reply {
        Reply {
            status,
            ..Reply::ok(body)
        }
    }
}

/// Context of the request being handled.
struct Req<'a> {
    h: Header,
    msg: &'a [u8],
    now: u64,
    /// Came in a transform (answers go back encrypted).
    encrypted: bool,
}

fn le16(v: u16) -> [u8; 2] {
    v.to_le_bytes()
}
fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}
fn le64(v: u64) -> [u8; 8] {
    v.to_le_bytes()
}

/// The SPNEGO NegTokenInit the NEGOTIATE response carries: NTLM offered.
fn neg_token_init() -> Vec<u8> {
    fn der(tag: u8, c: &[u8]) -> Vec<u8> {
        let mut o = vec![tag];
        if c.len() < 0x80 {
            o.push(c.len() as u8);
        } else {
            o.extend_from_slice(&[0x81, c.len() as u8]);
        }
        o.extend_from_slice(c);
        o
    }
    let mech_types = der(0x30, fakedc_ntlm::spnego::NTLM_OID);
    let seq = der(0x30, &der(0xa0, &mech_types));
    let mut app = vec![0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
    app.extend(der(0xa0, &seq));
    der(0x60, &app)
}

impl Connection {
    pub fn new(server: Arc<Server>) -> Connection {
        let conn_id = server
            .locks
            .next_conn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Connection {
            server,
            dialect: None,
            client_guid: [0; 16],
            client_caps: 0,
            client_security_mode: 0,
            client_dialects: Vec::new(),
            server_caps: 0,
            preauth: [0; 64],
            cipher: None,
            sign_algo_311: SignAlgo::AesCmac,
            sessions: HashMap::new(),
            opens: HashMap::new(),
            next_open: 1,
            seq_low: 0,
            seq_high: 1,
            seq_used: BTreeSet::new(),
            logoffs: Vec::new(),
            pending: Vec::new(),
            pending_locks: Vec::new(),
            pending_creates: Vec::new(),
            watches: HashMap::new(),
            next_async: 1,
            conn_id,
            changes: Vec::new(),
            unlocked: Vec::new(),
            breaks: Vec::new(),
            oplocks_released: Vec::new(),
            now: 0,
            chained: false,
            room: HEADROOM,
            completions: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// Hands back a frame that has been sent, for reuse by a later READ.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if buf.capacity() >= MIN_SPARE && self.spare.len() < MAX_SPARE {
            self.spare.push(buf);
        }
    }

    /// The negotiated dialect, once there is one.
    pub fn dialect(&self) -> Option<u16> {
        self.dialect
    }

    /// Room in front of a READ response body: the transport header (and
    /// the transform header when encrypted), then the SMB2 header.
    fn read_headroom(&self) -> usize {
        self.room + proto::HEADER_LEN
    }

    fn max_io(&self) -> u32 {
        if self.dialect.is_some_and(|d| d != proto::SMB202) {
            MAX_IO
        } else {
            MAX_IO_202
        }
    }

    /// Handles one transport frame's payload ([`Connection::handle_in_place`]
    /// on a copy).
    pub fn handle(
        &mut self,
        frame: &[u8],
        now: u64,
        accounts: &dyn Accounts,
        nonce: [u8; 16],
    ) -> Output {
        self.handle_in_place(&mut frame.to_vec(), now, accounts, nonce)
    }

    /// Handles one transport frame's payload; a transform is decrypted in
    /// the frame's own buffer.
    pub fn handle_in_place(
        &mut self,
        frame: &mut [u8],
        now: u64,
        accounts: &dyn Accounts,
        nonce: [u8; 16],
    ) -> Output {
        let mut out = Output::default();
        self.now = now;
        match frame.get(..4) {
            Some(id) if id == crypto::TRANSFORM_ID => {
                let Some(sid) = crypto::transform_session(frame) else {
                    tracing::debug!("smb: closing: transform without a session id");
                    out.close = true;
                    return out;
                };
                let (Some(cipher), Some(s)) = (self.cipher, self.sessions.get(&sid)) else {
                    tracing::debug!("smb: closing: transform for an unknown session or no cipher");
                    out.close = true;
                    return out;
                };
                // The key is taken now: a LOGOFF in this frame removes the
                // session before its response is sealed.
                let key = s.enc_key.clone();
                let dec_key = s.dec_key.clone();
                match crypto::decrypt_in_place(cipher, &dec_key, frame) {
                    Ok(()) => {
                        let plain = frame.get(crypto::TRANSFORM_LEN..).unwrap_or_default();
                        // The answer is built behind room for the transform
                        // header and sealed in place.
                        self.room = HEADROOM + crypto::TRANSFORM_LEN;
                        let mut resp = self.compound(plain, now, accounts, true, &mut out);
                        self.room = HEADROOM;
                        if resp.len() > HEADROOM + crypto::TRANSFORM_LEN {
                            crypto::encrypt_in_place(cipher, &key, sid, nonce, &mut resp, HEADROOM);
                            out.frames.push(resp);
                        }
                    }
                    Err(_) => {
                        tracing::debug!("smb: closing: transform does not decrypt");
                        out.close = true;
                    }
                }
            }
            Some(id) if id == proto::SMB1_ID => {
                match (self.dialect, proto::smb1_negotiate_offer(frame)) {
                    (None, Some(d)) => {
                        let body = self.negotiate_body(d, now, &[]);
                        if d == proto::SMB202 {
                            self.dialect = Some(d);
                        }
                        // The SMB1 request was message 0; its answer grants
                        // one credit, so the client's next message is 1.
                        self.seq_low = 1;
                        self.seq_high = 2;
                        let h = Header {
                            command: cmd::NEGOTIATE,
                            credits: 1,
                            flags: proto::FLAG_RESPONSE,
                            ..Header::default()
                        };
                        let mut m = vec![0; HEADROOM];
                        h.write(&mut m);
                        m.extend(body);
                        out.frames.push(m);
                        out.events.push(Event {
                            user: None,
                            op: "NEGOTIATE (SMB1)".into(),
                            outcome: format!("dialect {d:#06x}"),
                        });
                    }
                    _ => {
                        tracing::debug!("smb: closing: SMB1 message that does not offer SMB2");
                        out.close = true;
                    }
                }
            }
            Some(id) if id == proto::PROTOCOL_ID => {
                let resp = self.compound(frame, now, accounts, false, &mut out);
                if resp.len() > HEADROOM {
                    out.frames.push(resp);
                }
            }
            _ => {
                tracing::debug!("smb: closing: not an SMB2 message");
                out.close = true;
            }
        }
        out.frames.append(&mut self.completions);
        out.changes.append(&mut self.changes);
        out.unlocked.append(&mut self.unlocked);
        out.breaks.append(&mut self.breaks);
        out.oplocks_released.append(&mut self.oplocks_released);
        out
    }

    /// What another connection (or this one) told the machine's
    /// connections: completes the CHANGE_NOTIFYs and waiting LOCKs it
    /// concerns; returns the frames to send.
    pub fn on_notice(&mut self, notice: &Notice) -> Vec<Vec<u8>> {
        match notice {
            Notice::Changes(ch) => self.on_change(ch),
            Notice::Unlocked(keys) => self.retry_locks(keys),
            Notice::Break { conn, vol, level } if *conn == self.conn_id => {
                self.break_notification(*vol, *level).into_iter().collect()
            }
            Notice::Break { .. } => Vec::new(),
            Notice::OplockReleased(keys) => self.retry_creates(Some(keys), self.now),
        }
    }

    /// Called about once a second: CREATEs waiting on a break that has
    /// not been acknowledged within [`BREAK_TIMEOUT_SECS`] go ahead.
    /// Waiting LOCKs are tried again too: a holder whose connection was
    /// dropped without a word (its host powered off) released its locks
    /// and oplocks without telling anyone.
    pub fn tick(&mut self, now: u64) -> Vec<Vec<u8>> {
        self.now = now;
        let mut out = Vec::new();
        if !self.pending_creates.is_empty() {
            out = self.retry_creates(None, now);
        }
        if !self.pending_locks.is_empty() {
            let keys: Vec<PathBuf> = self.pending_locks.iter().map(|p| p.key.clone()).collect();
            out.extend(self.retry_locks(&keys));
        }
        out
    }

    /// The OPLOCK_BREAK notification (MS-SMB2 2.2.23.1, 3.3.4.6) for one
    /// of this connection's opens: MessageId all ones, unsigned, sealed
    /// when the open was made in an encrypted session.
    fn break_notification(&self, vol: u64, level: u8) -> Option<Vec<u8>> {
        let o = self.opens.get(&vol)?;
        let h = Header {
            command: cmd::OPLOCK_BREAK,
            flags: proto::FLAG_RESPONSE,
            message_id: u64::MAX,
            ..Header::default()
        };
        let mut m = vec![0; HEADROOM];
        h.write(&mut m);
        m.extend_from_slice(&le16(24));
        m.push(level);
        m.push(0);
        m.extend_from_slice(&le32(0));
        m.extend_from_slice(&le64(vol));
        m.extend_from_slice(&le64(vol));
        if o.encrypted {
            let s = self.sessions.get(&o.session)?;
            return Some(crypto::encrypt_with_headroom(
                self.cipher?,
                &s.enc_key,
                o.session,
                rand::random(),
                &m[HEADROOM..],
                HEADROOM,
            ));
        }
        Some(m)
    }

    /// Runs the CREATEs waiting on `keys` (None: all, for the timeout)
    /// again; those no longer held up complete.
    fn retry_creates(&mut self, keys: Option<&[PathBuf]>, now: u64) -> Vec<Vec<u8>> {
        let mut done = Vec::new();
        let waiting = std::mem::take(&mut self.pending_creates);
        let mut keep = Vec::new();
        for p in waiting {
            if keys.is_some_and(|k| !k.contains(&p.key)) {
                keep.push(p);
                continue;
            }
            if self.break_pending(&p.key, now) {
                keep.push(p);
                continue;
            }
            let req = Req {
                h: p.h,
                msg: &p.msg,
                now,
                encrypted: p.encrypted,
            };
            let msg = Reader::new(&p.msg);
            let mut body = msg
                .window(
                    proto::HEADER_LEN,
                    p.msg.len().saturating_sub(proto::HEADER_LEN),
                )
                .unwrap_or(Reader::new(&[]));
            let reply = match proto::Create::parse(&msg, &mut body) {
                Ok(c) => self.create_file(&req, &c, Some(p.async_id)),
                Err(_) => Reply::err(status::INVALID_PARAMETER),
            };
            if reply.silent {
                // Held up again (another holder to break): pending anew.
                continue;
            }
            let body = if reply.status == status::SUCCESS {
                &reply.body[..]
            } else {
                &[][..]
            };
            if let Some(f) = self.complete_async(
                cmd::CREATE,
                p.h.message_id,
                p.async_id,
                p.h.session_id,
                p.sign,
                p.encrypted,
                reply.status,
                body,
            ) {
                done.push(f);
            }
        }
        keep.append(&mut self.pending_creates);
        self.pending_creates = keep;
        done
    }

    /// Whether an oplock on `key` is still being broken (and the break
    /// has not timed out: with `now` past the timeout, the holder is
    /// taken to the level the break named).
    fn break_pending(&self, key: &std::path::Path, now: u64) -> bool {
        let mut t = self.server.oplocks.table();
        let Some(grants) = t.get_mut(key) else {
            return false;
        };
        let mut pending = false;
        for g in grants.iter_mut() {
            if let Some((level, since)) = g.breaking {
                if now.saturating_sub(since) >= BREAK_TIMEOUT_SECS * 10_000_000 {
                    g.level = level;
                    g.breaking = None;
                } else {
                    pending = true;
                }
            }
        }
        grants.retain(|g| g.level != oplock::NONE);
        if grants.is_empty() {
            t.remove(key);
        }
        pending
    }

    /// Tries the LOCKs waiting on `keys` again, oldest first; those
    /// granted (or failing otherwise) complete.
    fn retry_locks(&mut self, keys: &[PathBuf]) -> Vec<Vec<u8>> {
        let mut done = Vec::new();
        let mut i = 0;
        while i < self.pending_locks.len() {
            let p = &self.pending_locks[i];
            if !keys.contains(&p.key) {
                i += 1;
                continue;
            }
            let owner = (self.conn_id, p.vol);
            match self.try_lock(&p.key, owner, &p.elements) {
                Err(status::LOCK_NOT_GRANTED) => i += 1,
                res => {
                    let p = self.pending_locks.remove(i);
                    let st = res.err().unwrap_or(status::SUCCESS);
                    let body: &[u8] = if st == status::SUCCESS {
                        &[4, 0, 0, 0]
                    } else {
                        &[]
                    };
                    if let Some(f) = self.complete_async(
                        cmd::LOCK,
                        p.message_id,
                        p.async_id,
                        p.session,
                        p.sign,
                        p.encrypted,
                        st,
                        body,
                    ) {
                        done.push(f);
                    }
                }
            }
        }
        done
    }

    /// Releases this connection's byte-range locks and oplocks (it is
    /// going away); returns what the service passes round, so LOCKs and
    /// CREATEs waiting on them (on other connections) go ahead.
    pub fn release_all(&mut self) -> Vec<Notice> {
        self.pending_locks.clear();
        self.pending_creates.clear();
        let conn = self.conn_id;
        let mut n = Vec::new();
        let locks = self.server.locks.release_conn(conn);
        if !locks.is_empty() {
            n.push(Notice::Unlocked(locks));
        }
        let oplocks = self.server.oplocks.release_where(|g| g.owner.0 == conn);
        if !oplocks.is_empty() {
            n.push(Notice::OplockReleased(oplocks));
        }
        n
    }

    /// A change somewhere in the machine's shares (from this connection or
    /// another, or another protocol): completes the CHANGE_NOTIFYs it
    /// matches.
    pub fn on_change(&mut self, changes: &[Change]) -> Vec<Vec<u8>> {
        let mut done = Vec::new();
        let mut keep = Vec::new();
        for p in std::mem::take(&mut self.pending) {
            let hits: Vec<(u32, String)> = changes
                .iter()
                .filter_map(|c| notify_hit(&p.dir, p.tree, p.filter, c))
                .collect();
            if hits.is_empty() {
                keep.push(p);
                continue;
            }
            let (st, body) = notify_body(&hits, false, p.output_len);
            if let Some(f) = self.complete(&p, st, &body) {
                done.push(f);
            }
            // Changes from now until the client posts again are kept.
            if let Some(w) = self.watches.get_mut(&p.vol) {
                w.armed = true;
            }
        }
        self.pending = keep;
        // Handles watched before and not waiting now keep what happens
        // for their next CHANGE_NOTIFY, as Windows buffers them.
        let waiting: Vec<u64> = self.pending.iter().map(|p| p.vol).collect();
        for (vol, w) in self.watches.iter_mut() {
            if waiting.contains(vol) || !w.armed {
                continue;
            }
            for c in changes {
                if let Some(hit) = notify_hit(&w.dir, w.tree, w.filter, c) {
                    if w.buffered.len() >= MAX_BUFFERED {
                        w.overflow = true;
                    } else {
                        w.buffered.push(hit);
                    }
                }
            }
        }
        done
    }

    /// The final async response of a pending CHANGE_NOTIFY.
    fn complete(&self, p: &Pending, st: u32, body: &[u8]) -> Option<Vec<u8>> {
        self.complete_async(
            cmd::CHANGE_NOTIFY,
            p.message_id,
            p.async_id,
            p.session,
            p.sign,
            p.encrypted,
            st,
            body,
        )
    }

    /// The final async response of a request answered STATUS_PENDING
    /// (signed or sealed as the request was); None once its session is
    /// gone.
    #[allow(clippy::too_many_arguments)]
    fn complete_async(
        &self,
        command: u16,
        message_id: u64,
        async_id: u64,
        session: u64,
        sign: bool,
        encrypted: bool,
        st: u32,
        body: &[u8],
    ) -> Option<Vec<u8>> {
        let p = PendingForm {
            session,
            sign,
            encrypted,
        };
        let s = self.sessions.get(&p.session)?;
        let mut h = Header {
            status: st,
            command,
            flags: proto::FLAG_RESPONSE | proto::FLAG_ASYNC,
            message_id,
            async_id,
            session_id: p.session,
            ..Header::default()
        };
        if p.sign && !p.encrypted {
            h.flags |= proto::FLAG_SIGNED;
        }
        let mut m = vec![0; HEADROOM];
        h.write(&mut m);
        if st == status::SUCCESS {
            m.extend_from_slice(body);
        } else {
            m.extend_from_slice(&proto::ERROR_BODY);
        }
        if p.encrypted {
            let cipher = self.cipher?;
            return Some(crypto::encrypt_with_headroom(
                cipher,
                &s.enc_key,
                p.session,
                rand::random(),
                &m[HEADROOM..],
                HEADROOM,
            ));
        }
        if p.sign {
            crypto::sign(s.sign_algo, &s.sign_key, &mut m[HEADROOM..]);
        }
        Some(m)
    }

    /// Requests waiting for their final answer: CHANGE_NOTIFYs, LOCKs on
    /// a held range, CREATEs on an oplock break.
    fn pending_count(&self) -> usize {
        self.pending.len() + self.pending_locks.len() + self.pending_creates.len()
    }

    /// The one way a request goes async (MS-SMB2 3.3.4.2): a fresh async
    /// id for its interim STATUS_PENDING answer, or, when [`MAX_PENDING`]
    /// requests of any kind already wait on this connection,
    /// STATUS_INSUFFICIENT_RESOURCES, what 3.3.4.2 lets a server answer
    /// when it cannot take on more asynchronous work (and what Windows
    /// answers; clients retry it).
    fn begin_async(&mut self) -> Result<u64, Reply> {
        self.async_room()?;
        let id = self.next_async;
        self.next_async += 1;
        Ok(id)
    }

    /// Room for one more pending request, or the refusal
    /// [`Connection::begin_async`] gives.
    fn async_room(&self) -> Result<(), Reply> {
        if self.pending_count() >= MAX_PENDING {
            return Err(Reply::err(status::INSUFFICIENT_RESOURCES));
        }
        Ok(())
    }

    /// Whether a pending request's final answer is signed: the session
    /// requires it, or the request came signed.
    fn signs_final(&self, r: &Req<'_>) -> bool {
        self.sessions
            .get(&r.h.session_id)
            .is_some_and(|s| s.signing_required || r.h.flags & proto::FLAG_SIGNED != 0)
    }

    /// LOCK (MS-SMB2 3.3.5.14): all elements or none. A conflicting lock
    /// with FAIL_IMMEDIATELY is refused at once (LOCK_NOT_GRANTED); one
    /// without waits, as on Windows: STATUS_PENDING now, the final answer
    /// when the range frees (another handle unlocks or closes, its
    /// connection goes), on CANCEL (STATUS_CANCELLED) or when this handle
    /// closes (STATUS_RANGE_NOT_LOCKED).
    fn lock(&mut self, r: &Req<'_>, fid: FileId, elements: &[proto::LockElement]) -> Reply {
        let vol = u64::from_le_bytes(fid[8..16].try_into().unwrap_or([0; 8]));
        let key = match self.open_of(r, fid) {
            Ok(o) if matches!(o.kind, OpenKind::File(_)) => o.key.clone(),
            Ok(_) => return Reply::err(status::INVALID_PARAMETER),
            Err(e) => return e,
        };
        let owner = (self.conn_id, vol);
        if elements[0].flags & proto::LOCK_UNLOCK != 0 {
            return match self.unlock(&key, owner, elements) {
                Ok(()) => {
                    self.unlocked.push(key);
                    Reply::ok(vec![4, 0, 0, 0])
                }
                Err(st) => Reply::err(st),
            };
        }
        match self.try_lock(&key, owner, elements) {
            Ok(()) => Reply::ok(vec![4, 0, 0, 0]),
            Err(status::LOCK_NOT_GRANTED)
                if elements
                    .iter()
                    .any(|e| e.flags & proto::LOCK_FAIL_IMMEDIATELY == 0) =>
            {
                let async_id = match self.begin_async() {
                    Ok(id) => id,
                    Err(e) => return e,
                };
                let sign = self.signs_final(r);
                self.pending_locks.push(PendingLock {
                    async_id,
                    message_id: r.h.message_id,
                    session: r.h.session_id,
                    vol,
                    key,
                    elements: elements.to_vec(),
                    sign,
                    encrypted: r.encrypted,
                });
                Reply {
                    async_id: Some(async_id),
                    ..Reply::err(status::PENDING)
                }
            }
            Err(st) => Reply::err(st),
        }
    }

    /// Unlocks every element (each must be a range this handle locked).
    fn unlock(
        &self,
        key: &std::path::Path,
        owner: (u64, u64),
        elements: &[proto::LockElement],
    ) -> Result<(), u32> {
        if elements.iter().any(|e| e.flags != proto::LOCK_UNLOCK) {
            return Err(status::INVALID_PARAMETER);
        }
        let mut t = self.server.locks.table();
        let Some(held) = t.get_mut(key) else {
            return Err(status::RANGE_NOT_LOCKED);
        };
        for e in elements {
            match held
                .iter()
                .position(|h| h.owner == owner && h.offset == e.offset && h.length == e.length)
            {
                Some(i) => {
                    held.remove(i);
                }
                None => return Err(status::RANGE_NOT_LOCKED),
            }
        }
        if held.is_empty() {
            t.remove(key);
        }
        Ok(())
    }

    /// Takes every element's lock, or none: LOCK_NOT_GRANTED when one
    /// conflicts with a lock held (by any handle, this one included, as
    /// Windows counts them) or with an earlier element.
    fn try_lock(
        &self,
        key: &std::path::Path,
        owner: (u64, u64),
        elements: &[proto::LockElement],
    ) -> Result<(), u32> {
        let mut t = self.server.locks.table();
        let held = t.get(key).map(Vec::as_slice).unwrap_or_default();
        let mut new = Vec::new();
        for e in elements {
            let kind = e.flags & !proto::LOCK_FAIL_IMMEDIATELY;
            let exclusive = match kind {
                proto::LOCK_SHARED => false,
                proto::LOCK_EXCLUSIVE => true,
                _ => return Err(status::INVALID_PARAMETER),
            };
            if e.length != 0 && e.offset.checked_add(e.length - 1).is_none() {
                return Err(status::INVALID_LOCK_RANGE);
            }
            let conflict = held
                .iter()
                .chain(new.iter())
                .any(|h: &Held| h.overlaps(e.offset, e.length) && (h.exclusive || exclusive));
            if conflict {
                return Err(status::LOCK_NOT_GRANTED);
            }
            new.push(Held {
                offset: e.offset,
                length: e.length,
                exclusive,
                owner,
            });
        }
        if held.len() + new.len() > MAX_LOCKS_PER_FILE {
            return Err(status::INSUFFICIENT_RESOURCES);
        }
        t.entry(key.to_path_buf()).or_default().extend(new);
        Ok(())
    }

    fn change_notify(&mut self, r: &Req<'_>, n: &proto::ChangeNotify) -> Reply {
        let vol = u64::from_le_bytes(n.file_id[8..16].try_into().unwrap_or([0; 8]));
        let dir = match self.open_of(r, n.file_id) {
            Ok(o) => match o.kind {
                OpenKind::Dir { .. } => o.path.clone(),
                _ => return Reply::err(status::INVALID_PARAMETER),
            },
            Err(e) => return e,
        };
        let w = self.watches.entry(vol).or_insert_with(|| Watch {
            dir: dir.clone(),
            tree: n.flags & 1 != 0,
            filter: n.filter,
            armed: false,
            buffered: Vec::new(),
            overflow: false,
        });
        w.tree = n.flags & 1 != 0;
        w.filter = n.filter;
        if w.overflow || !w.buffered.is_empty() {
            let hits = std::mem::take(&mut w.buffered);
            let overflow = std::mem::take(&mut w.overflow);
            let (st, body) = notify_body(&hits, overflow, n.output_len.min(self.max_io()));
            return if st == status::SUCCESS {
                Reply::ok(body)
            } else {
                Reply::err(st)
            };
        }
        let async_id = match self.begin_async() {
            Ok(id) => id,
            Err(e) => return e,
        };
        let sign = self.signs_final(r);
        self.pending.push(Pending {
            async_id,
            message_id: r.h.message_id,
            session: r.h.session_id,
            vol,
            dir,
            tree: n.flags & 1 != 0,
            filter: n.filter,
            output_len: n.output_len.min(self.max_io()),
            sign,
            encrypted: r.encrypted,
        });
        Reply {
            async_id: Some(async_id),
            ..Reply::err(status::PENDING)
        }
    }

    /// CANCEL of a pending CHANGE_NOTIFY (by async id, or message id for a
    /// sync-form CANCEL): its final answer is STATUS_CANCELLED.
    fn cancel(&mut self, r: &Req<'_>, out: &mut Output) {
        let by_async = r.h.flags & proto::FLAG_ASYNC != 0;
        if let Some(i) = self.pending_creates.iter().position(|p| {
            p.h.session_id == r.h.session_id
                && if by_async {
                    p.async_id == r.h.async_id
                } else {
                    p.h.message_id == r.h.message_id
                }
        }) {
            let p = self.pending_creates.remove(i);
            if let Some(f) = self.complete_async(
                cmd::CREATE,
                p.h.message_id,
                p.async_id,
                p.h.session_id,
                p.sign,
                p.encrypted,
                status::CANCELLED,
                &[],
            ) {
                self.completions.push(f);
            }
            out.events.push(Event {
                user: self
                    .sessions
                    .get(&p.h.session_id)
                    .and_then(|s| s.user.clone()),
                op: "CANCEL CREATE".into(),
                outcome: "STATUS_CANCELLED".into(),
            });
            return;
        }
        if let Some(i) = self.pending_locks.iter().position(|p| {
            p.session == r.h.session_id
                && if by_async {
                    p.async_id == r.h.async_id
                } else {
                    p.message_id == r.h.message_id
                }
        }) {
            let p = self.pending_locks.remove(i);
            if let Some(f) = self.complete_async(
                cmd::LOCK,
                p.message_id,
                p.async_id,
                p.session,
                p.sign,
                p.encrypted,
                status::CANCELLED,
                &[],
            ) {
                self.completions.push(f);
            }
            out.events.push(Event {
                user: self.sessions.get(&p.session).and_then(|s| s.user.clone()),
                op: "CANCEL LOCK".into(),
                outcome: "STATUS_CANCELLED".into(),
            });
            return;
        }
        let Some(i) = self.pending.iter().position(|p| {
            p.session == r.h.session_id
                && if by_async {
                    p.async_id == r.h.async_id
                } else {
                    p.message_id == r.h.message_id
                }
        }) else {
            return;
        };
        let p = self.pending.remove(i);
        if let Some(f) = self.complete(&p, status::CANCELLED, &[]) {
            self.completions.push(f);
        }
        out.events.push(Event {
            user: self.sessions.get(&p.session).and_then(|s| s.user.clone()),
            op: "CANCEL CHANGE_NOTIFY".into(),
            outcome: "STATUS_CANCELLED".into(),
        });
    }

    /// Waiting LOCKs whose handle (or tree, or session) goes end with
    /// STATUS_RANGE_NOT_LOCKED, as Windows answers them.
    fn drop_pending_locks(&mut self, gone: impl Fn(&PendingLock) -> bool) {
        let (gone, keep): (Vec<PendingLock>, Vec<PendingLock>) =
            std::mem::take(&mut self.pending_locks)
                .into_iter()
                .partition(|p| gone(p));
        self.pending_locks = keep;
        for p in gone {
            if let Some(f) = self.complete_async(
                cmd::LOCK,
                p.message_id,
                p.async_id,
                p.session,
                p.sign,
                p.encrypted,
                status::RANGE_NOT_LOCKED,
                &[],
            ) {
                self.completions.push(f);
            }
        }
    }

    /// Pending notifications on a handle that closes end with
    /// STATUS_NOTIFY_CLEANUP.
    fn cleanup_notifies(&mut self, vol: u64) {
        self.watches.remove(&vol);
        let (gone, keep): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.vol == vol);
        self.pending = keep;
        for p in gone {
            if let Some(f) = self.complete(&p, STATUS_NOTIFY_CLEANUP, &[]) {
                self.completions.push(f);
            }
        }
    }

    /// Consumes the message ids a request uses; false when they were not
    /// granted or were already used (the server then drops the connection,
    /// as Windows does).
    fn take_credits(&mut self, h: &Header) -> bool {
        if h.command == cmd::CANCEL {
            return true;
        }
        let charge = if self.dialect.is_some_and(|d| d != proto::SMB202) {
            u64::from(h.credit_charge.max(1))
        } else {
            1
        };
        let Some(end) = h.message_id.checked_add(charge) else {
            return false;
        };
        if h.message_id < self.seq_low || end > self.seq_high {
            return false;
        }
        for id in h.message_id..end {
            if !self.seq_used.insert(id) {
                return false;
            }
        }
        while self.seq_used.remove(&self.seq_low) {
            self.seq_low += 1;
        }
        true
    }

    fn grant(&mut self, h: &Header) -> u16 {
        let outstanding = self
            .seq_high
            .saturating_sub(self.seq_low + self.seq_used.len() as u64);
        let want = u64::from(h.credits.max(1)).max(u64::from(h.credit_charge.max(1)));
        let room = MAX_CREDITS.saturating_sub(outstanding);
        let g = want
            .min(room)
            .min(512)
            .max(if outstanding == 0 { 1 } else { 0 });
        self.seq_high += g;
        u16::try_from(g).unwrap_or(0)
    }

    fn compound(
        &mut self,
        msg: &[u8],
        now: u64,
        accounts: &dyn Accounts,
        encrypted: bool,
        out: &mut Output,
    ) -> Vec<u8> {
        let mut at = 0usize;
        let mut chain: Vec<(Header, Reply)> = Vec::new();
        let mut prev: Option<(u64, u32, Option<FileId>, u32)> = None;
        loop {
            let rest = match msg.get(at..) {
                Some(r) if r.len() >= proto::HEADER_LEN => r,
                _ => {
                    tracing::debug!("smb: closing: message shorter than a header");
                    out.close = true;
                    break;
                }
            };
            let Ok(h) = Header::parse(&mut Reader::new(rest)) else {
                tracing::debug!("smb: closing: header does not parse");
                out.close = true;
                break;
            };
            let next = h.next_command as usize;
            let this = if next == 0 {
                rest
            } else if !next.is_multiple_of(8) || next < proto::HEADER_LEN || next > rest.len() {
                tracing::debug!("smb: closing: NextCommand misaligned or out of the frame");
                out.close = true;
                break;
            } else {
                &rest[..next]
            };
            if h.flags & proto::FLAG_RESPONSE != 0 || !self.take_credits(&h) {
                tracing::debug!(
                    "smb: closing: a response, or a message id outside the credit window"
                );
                out.close = true;
                break;
            }
            let mut hh = h;
            let related = h.flags & proto::FLAG_RELATED != 0 && !chain.is_empty();
            if related {
                if let Some((sid, tid, _, _)) = prev {
                    hh.session_id = sid;
                    hh.tree_id = tid;
                }
            }
            self.chained = next != 0 || at != 0;
            let reply = if let (true, Some((_, _, _, st))) = (related, prev) {
                if st != status::SUCCESS {
                    Reply::err(st)
                } else {
                    self.request(
                        &Req {
                            h: hh,
                            msg: this,
                            now,
                            encrypted,
                        },
                        prev.and_then(|p| p.2),
                        accounts,
                        out,
                    )
                }
            } else {
                self.request(
                    &Req {
                        h: hh,
                        msg: this,
                        now,
                        encrypted,
                    },
                    None,
                    accounts,
                    out,
                )
            };
            if reply.silent {
                if next == 0 {
                    break;
                }
                at += next;
                continue;
            }
            let sid = reply.session_id.unwrap_or(hh.session_id);
            let tid = reply.tree_id.unwrap_or(hh.tree_id);
            let fid = if h.command == cmd::CREATE && reply.status == status::SUCCESS {
                reply.body.get(64..80).and_then(|b| b.try_into().ok())
            } else {
                prev.and_then(|p| p.2)
            };
            prev = Some((sid, tid, fid, reply.status));
            let mut rh = Header {
                credit_charge: h.credit_charge,
                status: reply.status,
                command: h.command,
                credits: 0,
                flags: proto::FLAG_RESPONSE | (h.flags & proto::FLAG_RELATED),
                next_command: 0,
                message_id: h.message_id,
                async_id: 0,
                tree_id: tid,
                session_id: sid,
                signature: [0; 16],
            };
            rh.credits = self.grant(&h);
            chain.push((rh, reply));
            if next == 0 {
                break;
            }
            at += next;
        }
        // Assemble: each but the last padded to 8 with NextCommand set,
        // each signed on its own (MS-SMB2 3.3.4.1.3).
        let n = chain.len();
        let room = self.room;
        let mut whole = vec![0; room];
        for (i, (mut rh, reply)) in chain.into_iter().enumerate() {
            let sign = reply.sign.filter(|_| !encrypted);
            if sign.is_some() {
                rh.flags |= proto::FLAG_SIGNED;
            }
            if let Some(id) = reply.async_id {
                rh.flags |= proto::FLAG_ASYNC;
                rh.async_id = id;
            }
            if n == 1 && reply.headroom {
                // A lone READ: its body was read into a buffer with room
                // for the transport and SMB2 headers in front.
                let mut m = reply.body;
                let mut hdr = Vec::with_capacity(proto::HEADER_LEN);
                rh.write(&mut hdr);
                if let Some(at) = m.get_mut(room..room + proto::HEADER_LEN) {
                    at.copy_from_slice(&hdr);
                }
                if let Some(s) = sign.and_then(|sid| self.sessions.get(&sid)) {
                    if let Some(msg) = m.get_mut(room..) {
                        crypto::sign(s.sign_algo, &s.sign_key, msg);
                    }
                }
                whole = m;
                break;
            }
            let body = if reply.headroom {
                reply
                    .body
                    .get(room + proto::HEADER_LEN..)
                    .unwrap_or_default()
            } else {
                &reply.body[..]
            };
            let mut m = Vec::with_capacity(proto::HEADER_LEN + body.len() + 8);
            rh.write(&mut m);
            m.extend_from_slice(body);
            if i + 1 < n {
                while m.len() % 8 != 0 {
                    m.push(0);
                }
                let nc = u32::try_from(m.len()).unwrap_or(0);
                m[20..24].copy_from_slice(&nc.to_le_bytes());
            }
            if let Some(s) = sign.and_then(|sid| self.sessions.get(&sid)) {
                crypto::sign(s.sign_algo, &s.sign_key, &mut m);
            }
            if rh.command == cmd::SESSION_SETUP && rh.status == status::MORE_PROCESSING_REQUIRED {
                if let Some(s) = self.sessions.get_mut(&rh.session_id) {
                    if self.dialect == Some(proto::SMB311) {
                        s.preauth = crypto::preauth(&s.preauth, &m);
                    }
                }
            }
            if rh.command == cmd::NEGOTIATE && self.dialect == Some(proto::SMB311) {
                self.preauth = crypto::preauth(&self.preauth, &m);
            }
            whole.extend(m);
        }
        for sid in std::mem::take(&mut self.logoffs) {
            self.close_session(sid);
        }
        whole
    }

    /// Session checks shared by every command after SESSION_SETUP; returns
    /// the session id to sign with, or the error reply.
    fn session_for(&mut self, r: &Req<'_>) -> Result<Option<u64>, Reply> {
        let sid = r.h.session_id;
        let Some(s) = self.sessions.get(&sid) else {
            return Err(Reply::err(status::USER_SESSION_DELETED));
        };
        if !s.valid {
            return Err(Reply::err(status::USER_SESSION_DELETED));
        }
        if r.encrypted {
            return Ok(None);
        }
        if self.server.encrypt_data {
            // EncryptData with RejectUnencryptedAccess (MS-SMB2 3.3.5.2.9).
            return Err(Reply::err(status::ACCESS_DENIED));
        }
        let signed = r.h.flags & proto::FLAG_SIGNED != 0;
        if signed {
            if !crypto::verify(s.sign_algo, &s.sign_key, r.msg) {
                return Err(Reply::err(status::ACCESS_DENIED));
            }
        } else if s.signing_required {
            return Err(Reply::err(status::ACCESS_DENIED));
        }
        Ok((signed || s.signing_required).then_some(sid))
    }

    fn request(
        &mut self,
        r: &Req<'_>,
        prev_fid: Option<FileId>,
        accounts: &dyn Accounts,
        out: &mut Output,
    ) -> Reply {
        let c = r.h.command;
        if c == cmd::NEGOTIATE {
            return self.negotiate(r, out);
        }
        if self.dialect.is_none() || self.dialect == Some(proto::SMB2FF) {
            return Reply::err(status::INVALID_PARAMETER);
        }
        if c == cmd::SESSION_SETUP {
            return self.session_setup(r, accounts, out);
        }
        if c == cmd::CANCEL {
            self.cancel(r, out);
            return Reply {
                silent: true,
                ..Reply::ok(Vec::new())
            };
        }
        if c == cmd::ECHO && r.h.session_id == 0 {
            return Reply::ok(vec![4, 0, 0, 0]);
        }
        let sign = match self.session_for(r) {
            Ok(s) => s,
            Err(e) => {
                out.events.push(Event {
                    user: None,
                    op: cmd::name(c).into(),
                    outcome: format!("{:#010x}", e.status),
                });
                return e;
            }
        };
        let mut reply = self.session_request(r, prev_fid, out);
        reply.sign = sign;
        reply
    }

    fn session_request(
        &mut self,
        r: &Req<'_>,
        prev_fid: Option<FileId>,
        out: &mut Output,
    ) -> Reply {
        let msg = Reader::new(r.msg);
        let mut body = msg
            .window(proto::HEADER_LEN, r.msg.len() - proto::HEADER_LEN)
            .unwrap_or(Reader::new(&[]));
        let user = self
            .sessions
            .get(&r.h.session_id)
            .and_then(|s| s.user.clone());
        let mut ev = |op: String, outcome: String| {
            out.events.push(Event {
                user: user.clone(),
                op,
                outcome,
            })
        };
        let res: Result<Reply, ProtoError> = (|| {
            Ok(match r.h.command {
                cmd::ECHO => Reply::ok(vec![4, 0, 0, 0]),
                cmd::LOGOFF => {
                    self.logoffs.push(r.h.session_id);
                    ev("LOGOFF".into(), "ok".into());
                    Reply::ok(vec![4, 0, 0, 0])
                }
                cmd::TREE_CONNECT => {
                    let path = proto::tree_connect_path(&msg, &mut body)?;
                    let rep = self.tree_connect(r.h.session_id, &path);
                    ev(format!("TREE_CONNECT {path}"), outcome(rep.status));
                    rep
                }
                cmd::TREE_DISCONNECT => {
                    let rep = self.tree_disconnect(r.h.session_id, r.h.tree_id);
                    ev("TREE_DISCONNECT".into(), outcome(rep.status));
                    rep
                }
                cmd::CREATE => {
                    let c = proto::Create::parse(&msg, &mut body)?;
                    let rep = self.create(r, &c);
                    ev(format!("CREATE {}", c.name), outcome(rep.status));
                    rep
                }
                cmd::CLOSE => {
                    let (flags, fid) = proto::close(&mut body)?;
                    let fid = self.resolve(fid, prev_fid);
                    let (rep, name) = self.close(r, flags, fid);
                    ev(format!("CLOSE {name}"), outcome(rep.status));
                    rep
                }
                cmd::FLUSH => {
                    let fid = self.resolve(proto::flush(&mut body)?, prev_fid);
                    match self.open_of(r, fid) {
                        Ok(o) => {
                            if let OpenKind::File(f) = &o.kind {
                                let _ = f.sync_data();
                            }
                            Reply::ok(vec![4, 0, 0, 0])
                        }
                        Err(e) => e,
                    }
                }
                cmd::READ => {
                    let mut rd = proto::Read::parse(&mut body)?;
                    rd.file_id = self.resolve(rd.file_id, prev_fid);
                    self.read(r, &rd)
                }
                cmd::WRITE => {
                    let mut w = proto::Write::parse(&msg, &mut body)?;
                    w.file_id = self.resolve(w.file_id, prev_fid);
                    self.write(r, &w)
                }
                cmd::QUERY_DIRECTORY => {
                    let mut q = proto::QueryDirectory::parse(&msg, &mut body)?;
                    q.file_id = self.resolve(q.file_id, prev_fid);
                    self.query_directory(r, &q)
                }
                cmd::QUERY_INFO => {
                    let mut q = proto::QueryInfo::parse(&mut body)?;
                    q.file_id = self.resolve(q.file_id, prev_fid);
                    self.query_info(r, &q)
                }
                cmd::SET_INFO => {
                    let mut s = proto::SetInfo::parse(&msg, &mut body)?;
                    s.file_id = self.resolve(s.file_id, prev_fid);
                    let (rep, what) = self.set_info(r, &s);
                    ev(format!("SET_INFO {what}"), outcome(rep.status));
                    rep
                }
                cmd::LOCK => {
                    let (fid, elements) = proto::lock(&mut body)?;
                    let fid = self.resolve(fid, prev_fid);
                    let rep = self.lock(r, fid, &elements);
                    ev(
                        format!("LOCK ({} ranges)", elements.len()),
                        outcome(rep.status),
                    );
                    rep
                }
                cmd::OPLOCK_BREAK => {
                    let (level, fid) = proto::oplock_break_ack(&mut body)?;
                    let fid = self.resolve(fid, prev_fid);
                    let rep = self.oplock_ack(r, level, fid);
                    ev(
                        format!("OPLOCK_BREAK acknowledged (level {level:#04x})"),
                        outcome(rep.status),
                    );
                    rep
                }
                cmd::CHANGE_NOTIFY => {
                    let mut n = proto::ChangeNotify::parse(&mut body)?;
                    n.file_id = self.resolve(n.file_id, prev_fid);
                    let rep = self.change_notify(r, &n);
                    let what = match rep.status {
                        status::PENDING => "pending".to_string(),
                        st => outcome(st),
                    };
                    ev("CHANGE_NOTIFY".into(), what);
                    rep
                }
                cmd::IOCTL => {
                    let mut i = proto::Ioctl::parse(&msg, &mut body)?;
                    i.file_id = self.resolve(i.file_id, prev_fid);
                    self.ioctl(r, &i)
                }
                c => {
                    ev(
                        format!("{} (not implemented)", cmd::name(c)),
                        "STATUS_NOT_SUPPORTED".into(),
                    );
                    Reply::err(status::NOT_SUPPORTED)
                }
            })
        })();
        match res {
            Ok(rep) => {
                if rep.status == 0xFFFF_FFFF {
                    tracing::debug!("smb: closing: request answered by dropping the connection");
                    out.close = true;
                    return Reply::err(status::ACCESS_DENIED);
                }
                rep
            }
            Err(_) => Reply::err(status::INVALID_PARAMETER),
        }
    }

    fn negotiate_body(&mut self, dialect: u16, now: u64, contexts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut caps = 0u32;
        if dialect >= proto::SMB210 && dialect != proto::SMB2FF {
            caps |= 0x4; // LARGE_MTU
        }
        if matches!(dialect, proto::SMB300 | proto::SMB302) && self.client_caps & 0x40 != 0 {
            caps |= 0x40; // ENCRYPTION
            self.cipher = Some(Cipher::Aes128Ccm);
        }
        self.server_caps = caps;
        let mode: u16 = if self.server.require_signing { 3 } else { 1 };
        let token = neg_token_init();
        let max = if caps & 4 != 0 { MAX_IO } else { MAX_IO_202 };
        let mut b = Vec::new();
        b.extend_from_slice(&le16(65));
        b.extend_from_slice(&le16(mode));
        b.extend_from_slice(&le16(dialect));
        b.extend_from_slice(&le16(u16::try_from(contexts.len()).unwrap_or(0)));
        b.extend_from_slice(&self.server.guid);
        b.extend_from_slice(&le32(caps));
        for _ in 0..3 {
            b.extend_from_slice(&le32(max));
        }
        b.extend_from_slice(&le64(now));
        b.extend_from_slice(&le64(0));
        b.extend_from_slice(&le16(128));
        b.extend_from_slice(&le16(u16::try_from(token.len()).unwrap_or(0)));
        let ctx_off_at = b.len();
        b.extend_from_slice(&le32(0));
        b.extend_from_slice(&token);
        if !contexts.is_empty() {
            while (64 + b.len()) % 8 != 0 {
                b.push(0);
            }
            let off = u32::try_from(64 + b.len()).unwrap_or(0);
            b[ctx_off_at..ctx_off_at + 4].copy_from_slice(&le32(off));
            for (i, (ty, data)) in contexts.iter().enumerate() {
                b.extend_from_slice(&le16(*ty));
                b.extend_from_slice(&le16(u16::try_from(data.len()).unwrap_or(0)));
                b.extend_from_slice(&le32(0));
                b.extend_from_slice(data);
                if i + 1 < contexts.len() {
                    while (64 + b.len()) % 8 != 0 {
                        b.push(0);
                    }
                }
            }
        }
        b
    }

    fn negotiate(&mut self, r: &Req<'_>, out: &mut Output) -> Reply {
        if self.dialect.is_some() && self.dialect != Some(proto::SMB2FF) {
            // A second NEGOTIATE on a connection: Windows disconnects.
            tracing::debug!("smb: closing: second NEGOTIATE");
            out.close = true;
            return Reply::err(status::INVALID_PARAMETER);
        }
        let msg = Reader::new(r.msg);
        let mut body = msg
            .window(proto::HEADER_LEN, r.msg.len() - proto::HEADER_LEN)
            .unwrap_or(Reader::new(&[]));
        let n = match proto::Negotiate::parse(&msg, &mut body) {
            Ok(n) => n,
            Err(_) => return Reply::err(status::INVALID_PARAMETER),
        };
        let dialect = [
            proto::SMB311,
            proto::SMB302,
            proto::SMB300,
            proto::SMB210,
            proto::SMB202,
        ]
        .into_iter()
        .find(|d| n.dialects.contains(d));
        let Some(dialect) = dialect else {
            out.events.push(Event {
                user: None,
                op: "NEGOTIATE".into(),
                outcome: "no common dialect".into(),
            });
            return Reply::err(status::NOT_SUPPORTED);
        };
        self.client_guid = n.client_guid;
        self.client_caps = n.capabilities;
        self.client_security_mode = n.security_mode;
        self.client_dialects = n.dialects.clone();
        let mut contexts = Vec::new();
        if dialect == proto::SMB311 {
            let Some((_, pre)) = n.contexts.iter().find(|c| c.0 == proto::CTX_PREAUTH) else {
                return Reply::err(status::INVALID_PARAMETER);
            };
            if !proto::preauth_algorithms(pre).contains(&1) {
                return Reply::err(status::INVALID_PARAMETER);
            }
            let mut p = Vec::new();
            p.extend_from_slice(&le16(1));
            p.extend_from_slice(&le16(32));
            p.extend_from_slice(&le16(1));
            p.extend_from_slice(&rand::random::<[u8; 32]>());
            contexts.push((proto::CTX_PREAUTH, p));
            if let Some((_, enc)) = n.contexts.iter().find(|c| c.0 == proto::CTX_ENCRYPTION) {
                let offered = proto::id_list(enc);
                // Windows Server 2022's order of preference.
                let pick = [2u16, 1, 4, 3].into_iter().find(|c| offered.contains(c));
                self.cipher = pick.and_then(Cipher::from_id);
                let mut e = Vec::new();
                e.extend_from_slice(&le16(1));
                e.extend_from_slice(&le16(pick.unwrap_or(0)));
                contexts.push((proto::CTX_ENCRYPTION, e));
            }
            if let Some((_, sig)) = n.contexts.iter().find(|c| c.0 == proto::CTX_SIGNING) {
                let offered = proto::id_list(sig);
                let pick = [2u16, 1, 0]
                    .into_iter()
                    .find(|c| offered.contains(c))
                    .unwrap_or(1);
                self.sign_algo_311 = SignAlgo::from_id(pick).unwrap_or(SignAlgo::AesCmac);
                let mut s = Vec::new();
                s.extend_from_slice(&le16(1));
                s.extend_from_slice(&le16(pick));
                contexts.push((proto::CTX_SIGNING, s));
            }
            self.preauth = crypto::preauth(&[0; 64], r.msg);
        }
        let body = self.negotiate_body(dialect, r.now, &contexts);
        self.dialect = Some(dialect);
        out.events.push(Event {
            user: None,
            op: "NEGOTIATE".into(),
            outcome: format!(
                "dialect {}.{}.{}",
                dialect >> 8,
                (dialect >> 4) & 0xF,
                dialect & 0xF
            ),
        });
        Reply::ok(body)
    }

    fn session_setup(&mut self, r: &Req<'_>, accounts: &dyn Accounts, out: &mut Output) -> Reply {
        let msg = Reader::new(r.msg);
        let mut body = msg
            .window(proto::HEADER_LEN, r.msg.len() - proto::HEADER_LEN)
            .unwrap_or(Reader::new(&[]));
        let Ok(ss) = proto::SessionSetup::parse(&msg, &mut body) else {
            return Reply::err(status::INVALID_PARAMETER);
        };
        let dialect = self.dialect.unwrap_or(proto::SMB202);
        let mut sid = r.h.session_id;
        if sid == 0 {
            if self.sessions.len() >= MAX_SESSIONS {
                return Reply::err(status::REQUEST_NOT_ACCEPTED);
            }
            sid = loop {
                let id: u64 = rand::random::<u64>() & 0x0000_FFFF_FFFF_FFFF;
                if id != 0 && !self.sessions.contains_key(&id) {
                    break id;
                }
            };
            self.sessions.insert(
                sid,
                Session {
                    acceptor: Acceptor::with_anonymous(),
                    valid: false,
                    user: None,
                    admin: false,
                    anonymous: false,
                    preauth: self.preauth,
                    sign_key: Vec::new(),
                    sign_algo: SignAlgo::HmacSha256,
                    enc_key: Vec::new(),
                    dec_key: Vec::new(),
                    signing_required: false,
                    trees: HashMap::new(),
                    next_tree: 1,
                },
            );
        }
        let Some(s) = self.sessions.get_mut(&sid) else {
            return Reply::err(status::USER_SESSION_DELETED);
        };
        if s.valid {
            // Re-authentication is not offered: Windows answers a setup on
            // a live session of another dialect family the same way.
            return Reply::err(status::REQUEST_NOT_ACCEPTED);
        }
        if dialect == proto::SMB311 {
            s.preauth = crypto::preauth(&s.preauth, r.msg);
        }
        let lookup = |u: &str| accounts.password_of(u);
        let step = s
            .acceptor
            .accept_token(&ss.token, &self.server.target, &lookup);
        let mk = |status: u32, token: &[u8], flags: u16| {
            let mut b = Vec::new();
            b.extend_from_slice(&le16(9));
            b.extend_from_slice(&le16(flags));
            b.extend_from_slice(&le16(72));
            b.extend_from_slice(&le16(u16::try_from(token.len()).unwrap_or(0)));
            b.extend_from_slice(token);
            Reply {
                session_id: Some(sid),
                ..Reply::with(status, b)
            }
        };
        match step {
            Ok(TokenStep::Challenge(tok)) => mk(status::MORE_PROCESSING_REQUIRED, &tok, 0),
            Ok(TokenStep::Done {
                user, final_token, ..
            }) if user.is_empty() => {
                // The null session (MS-SMB2 3.3.5.5.3): no keys, so neither
                // signed nor encrypted; SMB2_SESSION_FLAG_IS_NULL. A server
                // that encrypts every session refuses it, as it refuses a
                // client that cannot encrypt.
                if self.server.encrypt_data {
                    self.sessions.remove(&sid);
                    out.events.push(Event {
                        user: None,
                        op: "SESSION_SETUP (anonymous)".into(),
                        outcome: "STATUS_ACCESS_DENIED (encryption required)".into(),
                    });
                    return Reply {
                        session_id: Some(sid),
                        ..Reply::err(status::ACCESS_DENIED)
                    };
                }
                s.anonymous = true;
                s.valid = true;
                out.events.push(Event {
                    user: None,
                    op: "SESSION_SETUP (anonymous)".into(),
                    outcome: "ok (null session)".into(),
                });
                mk(
                    status::SUCCESS,
                    final_token.as_deref().unwrap_or(&[]),
                    SESSION_FLAG_IS_NULL,
                )
            }
            Ok(TokenStep::Done {
                user,
                session,
                final_token,
                ..
            }) => {
                let sk = session.session_key();
                let admin = accounts.is_admin(&user);
                s.user = Some(user.clone());
                s.admin = admin;
                s.valid = true;
                match dialect {
                    proto::SMB202 | proto::SMB210 => {
                        s.sign_key = sk.to_vec();
                        s.sign_algo = SignAlgo::HmacSha256;
                    }
                    proto::SMB300 | proto::SMB302 => {
                        s.sign_key = crypto::kdf(&sk, b"SMB2AESCMAC\0", b"SmbSign\0", 128);
                        s.sign_algo = SignAlgo::AesCmac;
                        s.enc_key = crypto::kdf(&sk, b"SMB2AESCCM\0", b"ServerOut\0", 128);
                        s.dec_key = crypto::kdf(&sk, b"SMB2AESCCM\0", b"ServerIn \0", 128);
                    }
                    _ => {
                        let ctx = s.preauth;
                        s.sign_key = crypto::kdf(&sk, b"SMBSigningKey\0", &ctx, 128);
                        s.sign_algo = self.sign_algo_311;
                        let bits = self.cipher.map_or(128, Cipher::key_bits);
                        s.enc_key = crypto::kdf(&sk, b"SMBS2CCipherKey\0", &ctx, bits);
                        s.dec_key = crypto::kdf(&sk, b"SMBC2SCipherKey\0", &ctx, bits);
                    }
                }
                s.signing_required = self.server.require_signing || ss.security_mode & 2 != 0;
                if self.server.encrypt_data && self.cipher.is_none() {
                    // A client that cannot encrypt is refused when the
                    // server encrypts every session (RejectUnencryptedAccess).
                    self.sessions.remove(&sid);
                    out.events.push(Event {
                        user: Some(user),
                        op: "SESSION_SETUP".into(),
                        outcome: "STATUS_ACCESS_DENIED (encryption required)".into(),
                    });
                    return Reply {
                        session_id: Some(sid),
                        ..Reply::err(status::ACCESS_DENIED)
                    };
                }
                let flags = if self.server.encrypt_data && self.cipher.is_some() {
                    4
                } else {
                    0
                };
                out.events.push(Event {
                    user: Some(user),
                    op: "SESSION_SETUP".into(),
                    outcome: if admin {
                        "ok (administrator)".into()
                    } else {
                        "ok".into()
                    },
                });
                let mut rep = mk(
                    status::SUCCESS,
                    final_token.as_deref().unwrap_or(&[]),
                    flags,
                );
                rep.sign = Some(sid);
                rep
            }
            Err(e) => {
                self.sessions.remove(&sid);
                out.events.push(Event {
                    user: None,
                    op: "SESSION_SETUP".into(),
                    outcome: format!("STATUS_LOGON_FAILURE ({e})"),
                });
                Reply {
                    session_id: Some(sid),
                    ..Reply::err(status::LOGON_FAILURE)
                }
            }
        }
    }

    fn close_session(&mut self, sid: u64) {
        self.pending.retain(|p| p.session != sid);
        self.pending_locks.retain(|p| p.session != sid);
        self.pending_creates.retain(|p| p.h.session_id != sid);
        self.sessions.remove(&sid);
        let ids: Vec<u64> = self
            .opens
            .iter()
            .filter(|(_, o)| o.session == sid)
            .map(|(k, _)| *k)
            .collect();
        for id in ids {
            if let Some(o) = self.opens.remove(&id) {
                let freed = self.server.locks.release((self.conn_id, id));
                self.unlocked.extend(freed);
                self.release_oplock(id);
                self.server.share_modes.release((self.conn_id, id));
                let ch = finish(o, self.server.quota.as_ref());
                self.changes.extend(ch);
            }
        }
    }

    fn tree_connect(&mut self, sid: u64, path: &str) -> Reply {
        let name = path.rsplit('\\').next().unwrap_or("");
        let server = self.server.clone();
        let Some(idx) = server
            .shares
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(name))
        else {
            return Reply::err(status::BAD_NETWORK_NAME);
        };
        let Some(s) = self.sessions.get_mut(&sid) else {
            return Reply::err(status::USER_SESSION_DELETED);
        };
        let share = &server.shares[idx];
        if share.admin_only && !s.admin {
            return Reply::err(status::ACCESS_DENIED);
        }
        // RestrictNullSessAccess = 1 with NullSessionShares empty (Windows
        // Server's default): a null session reaches IPC$ and nothing else.
        if s.anonymous && share.root.is_some() {
            return Reply::err(status::ACCESS_DENIED);
        }
        let rights = match &share.acl {
            Some(acl) => acl.rights(s.user.as_deref().unwrap_or(""), s.admin),
            None => Rights::Full,
        };
        if rights == Rights::None {
            return Reply::err(status::ACCESS_DENIED);
        }
        if s.trees.len() >= MAX_TREES {
            return Reply::err(status::REQUEST_NOT_ACCEPTED);
        }
        let tid = s.next_tree;
        s.next_tree += 1;
        s.trees.insert(tid, Tree { share: idx, rights });
        let ipc = share.root.is_none();
        let mut b = Vec::new();
        b.extend_from_slice(&le16(16));
        b.push(if ipc { 2 } else { 1 });
        b.push(0);
        b.extend_from_slice(&le32(if ipc { 0x30 } else { 0 }));
        b.extend_from_slice(&le32(0));
        b.extend_from_slice(&le32(rights.maximal_access()));
        Reply {
            tree_id: Some(tid),
            ..Reply::ok(b)
        }
    }

    fn tree_disconnect(&mut self, sid: u64, tid: u32) -> Reply {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return Reply::err(status::USER_SESSION_DELETED);
        };
        if s.trees.remove(&tid).is_none() {
            return Reply::err(status::NETWORK_NAME_DELETED);
        }
        let ids: Vec<u64> = self
            .opens
            .iter()
            .filter(|(_, o)| o.tree == tid && o.session == sid)
            .map(|(k, _)| *k)
            .collect();
        for id in ids {
            if let Some(o) = self.opens.remove(&id) {
                let freed = self.server.locks.release((self.conn_id, id));
                self.unlocked.extend(freed);
                self.release_oplock(id);
                self.drop_pending_locks(|p| p.vol == id);
                self.server.share_modes.release((self.conn_id, id));
                let ch = finish(o, self.server.quota.as_ref());
                self.cleanup_notifies(id);
                self.changes.extend(ch);
            }
        }
        Reply::ok(vec![4, 0, 0, 0])
    }

    fn tree_of(&self, r: &Req<'_>) -> Result<(usize, Share), Reply> {
        let s = self
            .sessions
            .get(&r.h.session_id)
            .ok_or_else(|| Reply::err(status::USER_SESSION_DELETED))?;
        let t = s
            .trees
            .get(&r.h.tree_id)
            .ok_or_else(|| Reply::err(status::NETWORK_NAME_DELETED))?;
        let share = self
            .server
            .shares
            .get(t.share)
            .cloned()
            .ok_or_else(|| Reply::err(status::NETWORK_NAME_DELETED))?;
        Ok((t.share, share))
    }

    fn resolve(&self, fid: FileId, prev: Option<FileId>) -> FileId {
        if fid == proto::FILE_ID_ANY {
            prev.unwrap_or(fid)
        } else {
            fid
        }
    }

    /// Whether the request's session is an administrator's.
    fn is_admin(&self, r: &Req<'_>) -> bool {
        self.sessions.get(&r.h.session_id).is_some_and(|s| s.admin)
    }

    /// The request's tree's rights (None without a tree).
    fn tree_rights(&self, r: &Req<'_>) -> Rights {
        self.sessions
            .get(&r.h.session_id)
            .and_then(|s| s.trees.get(&r.h.tree_id))
            .map_or(Rights::None, |t| t.rights)
    }

    fn open_of(&mut self, r: &Req<'_>, fid: FileId) -> Result<&mut Open, Reply> {
        let vol = u64::from_le_bytes(fid[8..16].try_into().unwrap_or([0; 8]));
        match self.opens.get_mut(&vol) {
            Some(o) if o.session == r.h.session_id && o.tree == r.h.tree_id => Ok(o),
            _ => Err(Reply::err(status::FILE_CLOSED)),
        }
    }

    fn create(&mut self, r: &Req<'_>, c: &proto::Create) -> Reply {
        self.create_file(r, c, None)
    }

    /// CREATE; `waited` is the async id of a CREATE that was pending on
    /// an oplock break and runs again.
    fn create_file(&mut self, r: &Req<'_>, c: &proto::Create, waited: Option<u64>) -> Reply {
        let (_, share) = match self.tree_of(r) {
            Ok(t) => t,
            Err(e) => return e,
        };
        if self.opens.len() >= MAX_OPENS {
            return Reply::err(status::REQUEST_NOT_ACCEPTED);
        }
        let Some(root) = share.root.clone() else {
            // IPC$: named pipes.
            let pipe = c.name.trim_start_matches('\\').to_ascii_lowercase();
            let pipe = pipe.strip_prefix("pipe\\").unwrap_or(&pipe);
            let Some(pipe) = PIPES.iter().find(|p| **p == pipe) else {
                return Reply::err(status::OBJECT_NAME_NOT_FOUND);
            };
            // NullSessionPipes is empty on a Windows Server member
            // (RestrictNullSessAccess = 1): a null session opens no pipe.
            if self
                .sessions
                .get(&r.h.session_id)
                .is_some_and(|s| s.anonymous)
            {
                return Reply::err(status::ACCESS_DENIED);
            }
            let open = Open {
                session: r.h.session_id,
                tree: r.h.tree_id,
                root: None,
                path: PathBuf::from(pipe),
                key: PathBuf::from("\\PIPE").join(pipe),
                kind: OpenKind::Pipe {
                    rpc: PipeRpc::default(),
                    input: Vec::new(),
                    output: Vec::new(),
                },
                delete_on_close: false,
                write: true,
                encrypted: r.encrypted,
                read_bytes: 0,
                written_bytes: 0,
            };
            let info = Info {
                attributes: proto::ATTR_NORMAL,
                alloc: 4096,
                ..Info::default()
            };
            return self.add_open(r, open, create::OPENED, &info, oplock::NONE);
        };
        let path = match fs::share_path(&c.name) {
            Ok(p) => p,
            Err(st) => return Reply::err(st),
        };
        let is_root = path.as_os_str().is_empty();
        let meta = if is_root {
            root.dir_metadata()
        } else {
            root.metadata(&path)
        };
        let want_dir = c.options & create::DIRECTORY_FILE != 0;
        let want_file = c.options & create::NON_DIRECTORY_FILE != 0;
        let rights = self.tree_rights(r);
        let access = file_access(c.desired_access, rights);
        // Rights the share's permissions do not give, asked for by name,
        // are refused (MAXIMUM_ALLOWED gets what the share gives).
        let asked = c.desired_access & !0x0200_0000;
        let changes_data = file_access(asked, Rights::Full)
            & (WRITE_DATA | APPEND_DATA | 0x10 | 0x100 | DELETE | 0x0004_0000 | 0x0008_0000)
            != 0;
        let delete_on_close = c.options & create::DELETE_ON_CLOSE != 0;
        if rights < Rights::Change && (changes_data || delete_on_close) {
            return Reply::err(status::ACCESS_DENIED);
        }
        let write_access = access & (WRITE_DATA | APPEND_DATA | 0x100) != 0;
        let key = share.base.join(&path);
        let owner = (self.conn_id, self.next_open);
        let exists = meta.is_ok();
        let data = READ_DATA | WRITE_DATA | APPEND_DATA | EXECUTE | DELETE;
        // An open that touches data breaks another open's exclusive or
        // batch oplock first, and waits for the holder to acknowledge
        // (an open for attributes only breaks nothing, as in MS-FSA).
        if meta.as_ref().is_ok_and(|m| m.is_file()) && access & data != 0 {
            if let Some(rep) = self.break_oplocks(r, &key, c.disposition, waited) {
                return rep;
            }
        }
        if exists
            && !self
                .server
                .share_modes
                .acquire(&key, owner, access, c.share_access)
        {
            return Reply::err(status::SHARING_VIOLATION);
        }
        let creates = |disposition: u32| {
            rights >= Rights::Change
                || !matches!(
                    disposition,
                    create::CREATE | create::OPEN_IF | create::OVERWRITE_IF | create::SUPERSEDE
                )
        };
        // An overwrite's truncation gives the old bytes back to the quota.
        let old_len = meta
            .as_ref()
            .map(|m| if m.is_file() { m.len() } else { 0 })
            .unwrap_or(0);
        let opened = (|| -> Result<(OpenKind, u32), Reply> {
            Ok(match meta {
                Ok(m) if m.is_dir() => {
                    if want_file {
                        return Err(Reply::err(status::FILE_IS_A_DIRECTORY));
                    }
                    match c.disposition {
                        create::CREATE => return Err(Reply::err(status::OBJECT_NAME_COLLISION)),
                        create::OPEN | create::OPEN_IF => {}
                        _ => return Err(Reply::err(status::INVALID_PARAMETER)),
                    }
                    (
                        OpenKind::Dir {
                            listing: None,
                            cursor: 0,
                            pattern: String::new(),
                        },
                        create::OPENED,
                    )
                }
                Ok(_) => {
                    if want_dir {
                        return Err(Reply::err(status::NOT_A_DIRECTORY));
                    }
                    let (truncate, action) = match c.disposition {
                        create::CREATE => return Err(Reply::err(status::OBJECT_NAME_COLLISION)),
                        create::OPEN | create::OPEN_IF => (false, create::OPENED),
                        create::OVERWRITE | create::OVERWRITE_IF => (true, create::OVERWRITTEN),
                        _ => (true, create::SUPERSEDED),
                    };
                    if truncate && rights < Rights::Change {
                        return Err(Reply::err(status::ACCESS_DENIED));
                    }
                    let mut o = OpenOptions::new();
                    o.read(true)
                        .write(write_access || truncate)
                        .truncate(truncate);
                    let f = match root.open_with(&path, &o) {
                        Ok(f) => f,
                        Err(e) if write_access => match root.open(&path) {
                            Ok(f) if c.desired_access & 0x0200_0000 != 0 => f,
                            _ => return Err(Reply::err(fs::io_status(&e))),
                        },
                        Err(e) => return Err(Reply::err(fs::io_status(&e))),
                    };
                    (OpenKind::File(f), action)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if matches!(c.disposition, create::OPEN | create::OVERWRITE) {
                        return Err(Reply::err(fs::missing_status(&root, &path)));
                    }
                    if is_root || !creates(c.disposition) {
                        return Err(Reply::err(status::ACCESS_DENIED));
                    }
                    if want_dir {
                        if let Err(e) = root.create_dir(&path) {
                            return Err(Reply::err(if e.kind() == std::io::ErrorKind::NotFound {
                                status::OBJECT_PATH_NOT_FOUND
                            } else {
                                fs::io_status(&e)
                            }));
                        }
                        (
                            OpenKind::Dir {
                                listing: None,
                                cursor: 0,
                                pattern: String::new(),
                            },
                            create::CREATED,
                        )
                    } else {
                        let mut o = OpenOptions::new();
                        o.read(true).write(true).create_new(true);
                        match root.open_with(&path, &o) {
                            Ok(f) => (OpenKind::File(f), create::CREATED),
                            Err(e) => {
                                return Err(Reply::err(
                                    if e.kind() == std::io::ErrorKind::NotFound {
                                        status::OBJECT_PATH_NOT_FOUND
                                    } else {
                                        fs::io_status(&e)
                                    },
                                ))
                            }
                        }
                    }
                }
                Err(e) => return Err(Reply::err(fs::io_status(&e))),
            })
        })();
        let (kind, action) = match opened {
            Ok(k) => k,
            Err(e) => {
                if exists {
                    self.server.share_modes.release(owner);
                }
                return e;
            }
        };
        if let (create::OVERWRITTEN | create::SUPERSEDED, Some(q)) = (action, &self.server.quota) {
            q.release(old_len);
        }
        if !exists {
            // Just created: nobody else can hold it yet.
            self.server
                .share_modes
                .acquire(&key, owner, access, c.share_access);
        }
        match action {
            create::CREATED => self.changes.push(Change {
                action: 1,
                path: path.clone(),
            }),
            create::OVERWRITTEN | create::SUPERSEDED => self.changes.push(Change {
                action: 3,
                path: path.clone(),
            }),
            _ => {}
        }
        let meta = if is_root {
            root.dir_metadata()
        } else {
            root.metadata(&path)
        };
        let info = meta
            .map(|m| Info::from_meta(&m, &c.name))
            .unwrap_or_default();
        let level = if matches!(kind, OpenKind::File(_)) && access & data != 0 {
            self.grant_oplock(c.oplock, &key, owner)
        } else {
            oplock::NONE
        };
        let open = Open {
            session: r.h.session_id,
            tree: r.h.tree_id,
            root: Some(root.clone()),
            path,
            key,
            kind,
            delete_on_close,
            write: write_access,
            encrypted: r.encrypted,
            read_bytes: 0,
            written_bytes: 0,
        };
        self.add_open(r, open, action, &info, level)
    }

    /// Starts the breaks an open of `key` needs (MS-FSA 2.1.5.17.2):
    /// another open's exclusive or batch oplock goes to level II (to none
    /// when the file is overwritten) and the holder must acknowledge, so
    /// this CREATE pends (STATUS_PENDING) until it does, the holder
    /// closes, or [`BREAK_TIMEOUT_SECS`] pass; level II oplocks go to none
    /// on an overwrite, without acknowledgment. None when nothing holds
    /// the open up.
    fn break_oplocks(
        &mut self,
        r: &Req<'_>,
        key: &std::path::Path,
        disposition: u32,
        waited: Option<u64>,
    ) -> Option<Reply> {
        let overwrite = matches!(
            disposition,
            create::SUPERSEDE | create::OVERWRITE | create::OVERWRITE_IF
        );
        let now = r.now;
        let mut wait = false;
        // A CREATE inside a compound goes ahead once the break is sent:
        // the requests chained to it would otherwise need answers before
        // it has one (Windows answers only a chain's last request async).
        // So does one too large to keep while it waits.
        let may_pend = waited.is_none() && !self.chained && r.msg.len() <= MAX_PENDING_CREATE;
        {
            let mut t = self.server.oplocks.table();
            let grants = t.get_mut(key)?;
            // One that would wait with no room to: refused before any
            // break starts, so the holder keeps its oplock.
            if may_pend
                && grants.iter().any(|g| {
                    g.breaking.is_some() || matches!(g.level, oplock::EXCLUSIVE | oplock::BATCH)
                })
            {
                if let Err(e) = self.async_room() {
                    return Some(e);
                }
            }
            for g in grants.iter_mut() {
                if g.breaking.is_some() {
                    wait = true;
                    continue;
                }
                match g.level {
                    oplock::EXCLUSIVE | oplock::BATCH => {
                        let to = if overwrite {
                            oplock::NONE
                        } else {
                            oplock::LEVEL_II
                        };
                        g.breaking = Some((to, now));
                        self.breaks.push((g.owner.0, g.owner.1, to));
                        wait = true;
                    }
                    oplock::LEVEL_II if overwrite => {
                        self.breaks.push((g.owner.0, g.owner.1, oplock::NONE));
                        g.level = oplock::NONE;
                    }
                    _ => {}
                }
            }
            grants.retain(|g| g.level != oplock::NONE || g.breaking.is_some());
            if grants.is_empty() {
                t.remove(key);
            }
        }
        if !wait || (waited.is_none() && !may_pend) {
            return None;
        }
        if let Some(async_id) = waited {
            self.pend_create(r, key, async_id);
            return Some(Reply {
                silent: true,
                ..Reply::ok(Vec::new())
            });
        }
        let async_id = match self.begin_async() {
            Ok(id) => id,
            Err(e) => return Some(e),
        };
        self.pend_create(r, key, async_id);
        Some(Reply {
            async_id: Some(async_id),
            ..Reply::err(status::PENDING)
        })
    }

    fn pend_create(&mut self, r: &Req<'_>, key: &std::path::Path, async_id: u64) {
        let sign = self.signs_final(r);
        self.pending_creates.push(PendingCreate {
            async_id,
            h: r.h,
            msg: r.msg.to_vec(),
            key: key.to_path_buf(),
            sign,
            encrypted: r.encrypted,
        });
    }

    /// The oplock Windows grants a new open of a file: exclusive or batch
    /// as asked when no other open has the file, else level II; level II
    /// as asked. Leases are not granted (LEASING is not offered at
    /// NEGOTIATE), so a lease request gets no oplock.
    fn grant_oplock(&mut self, requested: u8, key: &std::path::Path, owner: (u64, u64)) -> u8 {
        let alone = self
            .server
            .share_modes
            .table()
            .get(key)
            .is_none_or(|v| v.iter().all(|e| e.owner == owner));
        let mut t = self.server.oplocks.table();
        let grants = t.entry(key.to_path_buf()).or_default();
        let level = match requested {
            oplock::EXCLUSIVE | oplock::BATCH if alone && grants.is_empty() => requested,
            oplock::EXCLUSIVE | oplock::BATCH | oplock::LEVEL_II
                if grants
                    .iter()
                    .all(|g| matches!(g.level, oplock::LEVEL_II) && g.breaking.is_none()) =>
            {
                oplock::LEVEL_II
            }
            _ => oplock::NONE,
        };
        if level != oplock::NONE && grants.len() < MAX_OPENS_PER_FILE {
            grants.push(Grant {
                owner,
                level,
                breaking: None,
            });
        } else if grants.is_empty() {
            t.remove(key);
            return oplock::NONE;
        }
        level
    }

    /// OPLOCK_BREAK acknowledgment (MS-SMB2 3.3.5.22.1): the holder of a
    /// breaking oplock goes to the level acknowledged (at most the one
    /// the break named); the opens waiting on it go ahead.
    fn oplock_ack(&mut self, r: &Req<'_>, level: u8, fid: FileId) -> Reply {
        let vol = u64::from_le_bytes(fid[8..16].try_into().unwrap_or([0; 8]));
        let key = match self.open_of(r, fid) {
            Ok(o) => o.key.clone(),
            Err(e) => return e,
        };
        let owner = (self.conn_id, vol);
        let granted = {
            let mut t = self.server.oplocks.table();
            let Some(grants) = t.get_mut(&key) else {
                return Reply::err(STATUS_INVALID_OPLOCK_PROTOCOL);
            };
            let Some(g) = grants.iter_mut().find(|g| g.owner == owner) else {
                return Reply::err(STATUS_INVALID_OPLOCK_PROTOCOL);
            };
            let Some((to, _)) = g.breaking else {
                return Reply::err(STATUS_INVALID_OPLOCK_PROTOCOL);
            };
            let new = if level == oplock::LEVEL_II && to == oplock::LEVEL_II {
                oplock::LEVEL_II
            } else {
                oplock::NONE
            };
            g.level = new;
            g.breaking = None;
            grants.retain(|g| g.level != oplock::NONE);
            if grants.is_empty() {
                t.remove(&key);
            }
            new
        };
        self.oplocks_released.push(key);
        let mut b = Vec::with_capacity(24);
        b.extend_from_slice(&le16(24));
        b.push(granted);
        b.push(0);
        b.extend_from_slice(&le32(0));
        b.extend_from_slice(&fid);
        Reply::ok(b)
    }

    /// A write through one open breaks every other open's level II oplock
    /// to none (MS-FSA 2.1.5.3), without waiting for acknowledgment.
    fn break_level_ii(&mut self, key: &std::path::Path, writer: (u64, u64)) {
        let srv = self.server.clone();
        let mut t = srv.oplocks.table();
        let Some(grants) = t.get_mut(key) else {
            return;
        };
        grants.retain(|g| {
            let goes = g.owner != writer && g.level == oplock::LEVEL_II && g.breaking.is_none();
            if goes {
                self.breaks.push((g.owner.0, g.owner.1, oplock::NONE));
            }
            !goes
        });
        if grants.is_empty() {
            t.remove(key);
        }
    }

    /// Releases the oplock of one of this connection's opens.
    fn release_oplock(&mut self, vol: u64) {
        let owner = (self.conn_id, vol);
        let freed = self.server.oplocks.release_where(|g| g.owner == owner);
        self.oplocks_released.extend(freed);
    }

    fn add_open(&mut self, r: &Req<'_>, open: Open, action: u32, info: &Info, level: u8) -> Reply {
        let _ = r;
        let vol = self.next_open;
        self.next_open += 1;
        self.opens.insert(vol, open);
        let mut b = Vec::with_capacity(88);
        b.extend_from_slice(&le16(89));
        b.push(level);
        b.push(0);
        b.extend_from_slice(&le32(action));
        for t in [
            info.creation,
            info.access,
            info.write,
            info.change,
            info.alloc,
            info.size,
        ] {
            b.extend_from_slice(&le64(t));
        }
        b.extend_from_slice(&le32(info.attributes));
        b.extend_from_slice(&le32(0));
        b.extend_from_slice(&le64(vol));
        b.extend_from_slice(&le64(vol));
        b.extend_from_slice(&le32(0));
        b.extend_from_slice(&le32(0));
        Reply::ok(b)
    }

    fn info_of(&self, o: &Open) -> Info {
        let Some(root) = &o.root else {
            return Info {
                attributes: proto::ATTR_NORMAL,
                alloc: 4096,
                ..Info::default()
            };
        };
        let name = o
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let m = if o.path.as_os_str().is_empty() {
            root.dir_metadata()
        } else {
            root.metadata(&o.path)
        };
        m.map(|m| Info::from_meta(&m, &name)).unwrap_or_default()
    }

    fn close(&mut self, r: &Req<'_>, flags: u16, fid: FileId) -> (Reply, String) {
        let vol = match self.open_of(r, fid) {
            Ok(_) => u64::from_le_bytes(fid[8..16].try_into().unwrap_or([0; 8])),
            Err(e) => return (e, String::new()),
        };
        let Some(o) = self.opens.remove(&vol) else {
            return (Reply::err(status::FILE_CLOSED), String::new());
        };
        let name = format!(
            "{} (read {} bytes, wrote {} bytes{})",
            o.path.to_string_lossy().replace('/', "\\"),
            o.read_bytes,
            o.written_bytes,
            if o.delete_on_close { ", deleted" } else { "" }
        );
        let info = if flags & 1 != 0 {
            Some(self.info_of(&o))
        } else {
            None
        };
        let freed = self.server.locks.release((self.conn_id, vol));
        self.unlocked.extend(freed);
        self.drop_pending_locks(|p| p.vol == vol);
        self.release_oplock(vol);
        self.server.share_modes.release((self.conn_id, vol));
        let ch = finish(o, self.server.quota.as_ref());
        self.changes.extend(ch);
        self.cleanup_notifies(vol);
        let mut b = Vec::with_capacity(60);
        b.extend_from_slice(&le16(60));
        b.extend_from_slice(&le16(flags & 1));
        b.extend_from_slice(&le32(0));
        match info {
            Some(i) => {
                for t in [i.creation, i.access, i.write, i.change, i.alloc, i.size] {
                    b.extend_from_slice(&le64(t));
                }
                b.extend_from_slice(&le32(i.attributes));
            }
            None => b.extend_from_slice(&[0; 52]),
        }
        (Reply::ok(b), name)
    }

    fn read(&mut self, r: &Req<'_>, rd: &proto::Read) -> Reply {
        let max = self.max_io();
        let charge = u32::from(r.h.credit_charge.max(1));
        if rd.length > max
            || (self.dialect != Some(proto::SMB202) && rd.length > charge.saturating_mul(65536))
        {
            return Reply::err(status::INVALID_PARAMETER);
        }
        let (srv, conn_id) = (self.server.clone(), self.conn_id);
        let spare = self.spare.pop();
        let hr = self.read_headroom();
        let o = match self.open_of(r, rd.file_id) {
            Ok(o) => o,
            Err(e) => return e,
        };
        let vol = u64::from_le_bytes(rd.file_id[8..16].try_into().unwrap_or([0; 8]));
        if matches!(o.kind, OpenKind::File(_))
            && !srv.locks.allows(
                &o.key,
                (conn_id, vol),
                rd.offset,
                u64::from(rd.length),
                false,
            )
        {
            return Reply::err(status::FILE_LOCK_CONFLICT);
        }
        match &mut o.kind {
            OpenKind::File(f) => {
                // The data goes straight into the buffer that is sent:
                // headers' room, READ's 16-byte body, then the bytes.
                let at = hr + 16;
                let len = rd.length as usize;
                // A spare buffer keeps its old bytes (all overwritten or
                // cut below): only growth is zeroed.
                let mut buf = spare
                    .filter(|b| b.capacity() >= at + len)
                    .unwrap_or_else(|| Vec::with_capacity(at + len));
                buf.truncate(at + len);
                buf.resize(at + len, 0);
                buf[hr..at].copy_from_slice(&read_body(&[]));
                let mut got = 0;
                while got < len {
                    match f.read_at(&mut buf[at + got..], rd.offset + got as u64) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Reply::err(fs::io_status(&e)),
                    }
                }
                buf.truncate(at + got);
                o.read_bytes += got as u64;
                if (got == 0 && rd.length > 0) || (got as u32) < rd.minimum {
                    return Reply::err(status::END_OF_FILE);
                }
                // DataLength (the body's bytes 4..8).
                let n = u32::try_from(got).unwrap_or(0).to_le_bytes();
                buf[hr + 4..hr + 8].copy_from_slice(&n);
                Reply {
                    headroom: true,
                    ..Reply::ok(buf)
                }
            }
            OpenKind::Dir { .. } => Reply::err(status::INVALID_DEVICE_REQUEST),
            OpenKind::Pipe { output, .. } => {
                if output.is_empty() {
                    return Reply::err(0xC000_00D9); // STATUS_PIPE_EMPTY
                }
                let n = output.len().min(rd.length as usize);
                let data: Vec<u8> = output.drain(..n).collect();
                let st = if output.is_empty() {
                    status::SUCCESS
                } else {
                    status::BUFFER_OVERFLOW
                };
                Reply::with(st, read_body(&data))
            }
        }
    }

    fn write(&mut self, r: &Req<'_>, w: &proto::Write<'_>) -> Reply {
        let max = self.max_io();
        if w.data.len() > max as usize {
            return Reply::err(status::INVALID_PARAMETER);
        }
        let srv = self.server.clone();
        let admin = self.is_admin(r);
        let conn_id = self.conn_id;
        let o = match self.open_of(r, w.file_id) {
            Ok(o) => o,
            Err(e) => return e,
        };
        let vol = u64::from_le_bytes(w.file_id[8..16].try_into().unwrap_or([0; 8]));
        if matches!(o.kind, OpenKind::File(_))
            && !srv
                .locks
                .allows(&o.key, (conn_id, vol), w.offset, w.data.len() as u64, true)
        {
            return Reply::err(status::FILE_LOCK_CONFLICT);
        }
        match &mut o.kind {
            OpenKind::File(f) => {
                if !o.write {
                    return Reply::err(status::ACCESS_DENIED);
                }
                // Growth past the end is reserved first: a write that does
                // not fit writes nothing.
                let mut grown = None;
                if let Some(q) = &srv.quota {
                    let old = match f.metadata() {
                        Ok(m) => m.len(),
                        Err(e) => return Reply::err(fs::io_status(&e)),
                    };
                    let end = w.offset.saturating_add(w.data.len() as u64);
                    if end > old {
                        if let Err(st) = q.resize(old, end) {
                            return Reply::err(st);
                        }
                        grown = Some(end - old);
                    }
                }
                if let Err(e) = f.write_all_at(w.data, w.offset) {
                    if let (Some(q), Some(n)) = (&srv.quota, grown) {
                        q.release(n);
                    }
                    return Reply::err(fs::io_status(&e));
                }
                o.written_bytes += w.data.len() as u64;
                let key = o.key.clone();
                self.break_level_ii(&key, (conn_id, vol));
            }
            OpenKind::Dir { .. } => return Reply::err(status::INVALID_DEVICE_REQUEST),
            OpenKind::Pipe { rpc, input, output } => {
                if let Err(st) = pipe_write(rpc, input, output, w.data, &srv, admin, &o.path) {
                    return Reply::err(st);
                }
            }
        }
        let mut b = Vec::with_capacity(16);
        b.extend_from_slice(&le16(17));
        b.extend_from_slice(&le16(0));
        b.extend_from_slice(&le32(u32::try_from(w.data.len()).unwrap_or(0)));
        b.extend_from_slice(&le32(0));
        b.extend_from_slice(&le16(0));
        b.extend_from_slice(&le16(0));
        Reply::ok(b)
    }

    fn query_directory(&mut self, r: &Req<'_>, q: &proto::QueryDirectory) -> Reply {
        let (_, share) = match self.tree_of(r) {
            Ok(t) => t,
            Err(e) => return e,
        };
        let Some(root) = share.root else {
            return Reply::err(status::INVALID_DEVICE_REQUEST);
        };
        if !matches!(q.class, 1 | 2 | 3 | 12 | 37 | 38) {
            return Reply::err(status::INVALID_INFO_CLASS);
        }
        let max_out = (q.output_len.min(self.max_io())) as usize;
        let self_info = {
            let o = match self.open_of(r, q.file_id) {
                Ok(o) => o,
                Err(e) => return e,
            };
            let m = if o.path.as_os_str().is_empty() {
                root.dir_metadata()
            } else {
                root.metadata(&o.path)
            };
            m.map(|m| Info::from_meta(&m, ".")).unwrap_or_default()
        };
        let o = match self.open_of(r, q.file_id) {
            Ok(o) => o,
            Err(e) => return e,
        };
        let path = o.path.clone();
        let OpenKind::Dir {
            listing,
            cursor,
            pattern,
        } = &mut o.kind
        else {
            return Reply::err(status::INVALID_PARAMETER);
        };
        let first = listing.is_none();
        if first || q.flags & (proto::QD_RESTART | proto::QD_REOPEN) != 0 {
            match fs::list(&root, &path, self_info, MAX_DIR_ENTRIES) {
                Ok(l) => *listing = Some(l),
                Err(e) => return Reply::err(fs::io_status(&e)),
            }
            *cursor = 0;
            *pattern = q.pattern.clone();
        }
        let entries = listing.as_deref().unwrap_or(&[]);
        let mut buf: Vec<u8> = Vec::new();
        let mut last_at: Option<usize> = None;
        let mut matched = false;
        while *cursor < entries.len() {
            let e = &entries[*cursor];
            if !fs::matches(pattern, &e.name) {
                *cursor += 1;
                continue;
            }
            let Some(ent) = fs::dir_entry(q.class, e) else {
                return Reply::err(status::INVALID_INFO_CLASS);
            };
            let start = (buf.len() + 7) & !7;
            if start + ent.len() > max_out {
                if last_at.is_none() {
                    return Reply::err(status::BUFFER_TOO_SMALL);
                }
                break;
            }
            if let Some(prev) = last_at {
                let off = u32::try_from(start - prev).unwrap_or(0);
                buf[prev..prev + 4].copy_from_slice(&le32(off));
            }
            buf.resize(start, 0);
            buf.extend_from_slice(&ent);
            last_at = Some(start);
            matched = true;
            *cursor += 1;
            if q.flags & proto::QD_SINGLE != 0 {
                break;
            }
        }
        if !matched {
            return Reply::err(if first {
                status::NO_SUCH_FILE
            } else {
                status::NO_MORE_FILES
            });
        }
        let mut b = Vec::with_capacity(8 + buf.len());
        b.extend_from_slice(&le16(9));
        b.extend_from_slice(&le16(72));
        b.extend_from_slice(&le32(u32::try_from(buf.len()).unwrap_or(0)));
        b.extend(buf);
        Reply::ok(b)
    }

    fn query_info(&mut self, r: &Req<'_>, q: &proto::QueryInfo) -> Reply {
        let info = {
            let o = match self.open_of(r, q.file_id) {
                Ok(o) => o,
                Err(e) => return e,
            };
            let pipe = matches!(o.kind, OpenKind::Pipe { .. });
            let delete = o.delete_on_close;
            let name = format!("\\{}", o.path.to_string_lossy().replace('/', "\\"));
            let path_empty = o.path.as_os_str().is_empty();
            let _ = path_empty;
            (pipe, delete, name)
        };
        let (pipe, delete, name) = info;
        let o_info = {
            let o = match self.opens.get(&u64::from_le_bytes(
                q.file_id[8..16].try_into().unwrap_or([0; 8]),
            )) {
                Some(o) => o,
                None => return Reply::err(status::FILE_CLOSED),
            };
            self.info_of(o)
        };
        let data = match q.info_type {
            1 => {
                let i = if pipe {
                    Info {
                        attributes: proto::ATTR_NORMAL,
                        alloc: 4096,
                        ..Info::default()
                    }
                } else {
                    o_info
                };
                if q.class == 21 {
                    // FileAlternateNameInformation: a name that is already
                    // 8.3 is its own short name; no others are made (as on
                    // a volume with 8dot3name creation disabled).
                    let last = name.rsplit('\\').next().unwrap_or("");
                    let Some(short) = fs::short_name(last) else {
                        return Reply::err(status::OBJECT_NAME_NOT_FOUND);
                    };
                    let n: Vec<u8> = short.encode_utf16().flat_map(u16::to_le_bytes).collect();
                    let mut d = le32(u32::try_from(n.len()).unwrap_or(0)).to_vec();
                    d.extend(n);
                    d
                } else {
                    match fs::file_info(q.class, &i, &name, delete) {
                        Some(d) => d,
                        None => return Reply::err(status::INVALID_INFO_CLASS),
                    }
                }
            }
            2 => {
                let serial = u32::from_le_bytes(self.server.guid[..4].try_into().unwrap_or([0; 4]));
                // The quota is the volume when there is one (as an FSRM
                // hard quota makes Windows report a share); else a fixed
                // 256 GiB volume, half free.
                let (total, free) = self
                    .server
                    .quota
                    .as_ref()
                    .and_then(ShareQuota::space)
                    .unwrap_or((256 << 30, 128 << 30));
                match fs::fs_info(q.class, total, free, serial, self.server.start_time) {
                    Some(d) => d,
                    None => return Reply::err(status::INVALID_INFO_CLASS),
                }
            }
            3 => security_descriptor(q.additional),
            _ => return Reply::err(status::NOT_SUPPORTED),
        };
        let fixed = if q.info_type == 3 {
            20
        } else {
            fs::fixed_len(q.class, q.info_type == 2)
        };
        let max = q.output_len as usize;
        if max < fixed {
            return Reply::err(if q.info_type == 3 {
                status::BUFFER_TOO_SMALL
            } else {
                status::INFO_LENGTH_MISMATCH
            });
        }
        let (st, data) = if data.len() > max {
            (status::BUFFER_OVERFLOW, data[..max].to_vec())
        } else {
            (status::SUCCESS, data)
        };
        let mut b = Vec::with_capacity(8 + data.len());
        b.extend_from_slice(&le16(9));
        b.extend_from_slice(&le16(72));
        b.extend_from_slice(&le32(u32::try_from(data.len()).unwrap_or(0)));
        b.extend(data);
        Reply::with(st, b)
    }

    fn set_info(&mut self, r: &Req<'_>, s: &proto::SetInfo<'_>) -> (Reply, String) {
        let (_, share) = match self.tree_of(r) {
            Ok(t) => t,
            Err(e) => return (e, String::new()),
        };
        let Some(root) = share.root else {
            return (Reply::err(status::NOT_SUPPORTED), String::new());
        };
        let ok = || Reply::ok(vec![2, 0]);
        let read_only = self.tree_rights(r) < Rights::Change;
        let srv = self.server.clone();
        let base = share.base.clone();
        let o = match self.open_of(r, s.file_id) {
            Ok(o) => o,
            Err(e) => return (e, String::new()),
        };
        let shown = o.path.to_string_lossy().replace('/', "\\");
        // A share's Read permission covers no change to names, sizes,
        // times or the delete disposition.
        if read_only && matches!(s.class, 4 | 10 | 13 | 19 | 20 | 64 | 65) {
            return (Reply::err(status::ACCESS_DENIED), shown);
        }
        if s.info_type != 1 {
            return (
                Reply::err(status::NOT_SUPPORTED),
                format!("{shown} (info type {} not implemented)", s.info_type),
            );
        }
        let mut d = Reader::new(s.data);
        match s.class {
            4 => {
                // FileBasicInformation: the last write time is kept; the
                // other times and attributes are accepted as Windows
                // accepts them from a client without the privilege to
                // change them on this file system.
                let (Ok(_c), Ok(_a), Ok(w)) = (d.u64_le(), d.u64_le(), d.u64_le()) else {
                    return (Reply::err(status::INFO_LENGTH_MISMATCH), shown);
                };
                if let (OpenKind::File(f), true) = (&o.kind, w != 0 && w != u64::MAX) {
                    let unix = w.saturating_sub(116_444_736_000_000_000);
                    let t = std::time::UNIX_EPOCH
                        + std::time::Duration::from_nanos(unix.saturating_mul(100));
                    if let Ok(std_f) = f.try_clone().map(|f| f.into_std()) {
                        let _ = std_f.set_modified(t);
                    }
                }
                (ok(), format!("{shown} basic"))
            }
            13 | 64 => {
                let Ok(flag) = (if s.class == 13 {
                    d.u8().map(u32::from)
                } else {
                    d.u32_le()
                }) else {
                    return (Reply::err(status::INFO_LENGTH_MISMATCH), shown);
                };
                let del = flag & 1 != 0;
                if del {
                    if o.path.as_os_str().is_empty() {
                        return (Reply::err(status::ACCESS_DENIED), shown);
                    }
                    if let OpenKind::Dir { .. } = o.kind {
                        let non_empty = root
                            .read_dir(&o.path)
                            .map(|mut it| it.any(|e| e.is_ok()))
                            .unwrap_or(false);
                        if non_empty {
                            return (
                                Reply::err(status::DIRECTORY_NOT_EMPTY),
                                format!("{shown} delete"),
                            );
                        }
                    }
                }
                o.delete_on_close = del;
                (ok(), format!("{shown} delete"))
            }
            10 => {
                let (Ok(replace), Ok(_), Ok(_root_dir), Ok(len)) =
                    (d.u8(), d.skip(7), d.u64_le(), d.u32_le())
                else {
                    return (Reply::err(status::INFO_LENGTH_MISMATCH), shown);
                };
                let Ok(raw) = d.bytes(len as usize) else {
                    return (Reply::err(status::INFO_LENGTH_MISMATCH), shown);
                };
                let Ok(target) = proto::utf16(raw) else {
                    return (Reply::err(status::OBJECT_NAME_INVALID), shown);
                };
                let to = match fs::share_path(target.trim_start_matches('\\')) {
                    Ok(p) if !p.as_os_str().is_empty() => p,
                    Ok(_) => return (Reply::err(status::OBJECT_NAME_INVALID), shown),
                    Err(st) => return (Reply::err(st), format!("{shown} rename to {target}")),
                };
                let what = format!("{shown} rename to {target}");
                if o.path.as_os_str().is_empty() {
                    return (Reply::err(status::ACCESS_DENIED), what);
                }
                // The bytes of a file the rename replaces go back to the
                // quota.
                let mut replaced = 0;
                if let Ok(m) = root.metadata(&to) {
                    if to != o.path {
                        if replace == 0 {
                            return (Reply::err(status::OBJECT_NAME_COLLISION), what);
                        }
                        if m.is_dir() {
                            return (Reply::err(status::ACCESS_DENIED), what);
                        }
                        replaced = m.len();
                    }
                }
                if let Err(e) = root.rename(&o.path, &root, &to) {
                    let st = if e.kind() == std::io::ErrorKind::NotFound {
                        status::OBJECT_PATH_NOT_FOUND
                    } else {
                        fs::io_status(&e)
                    };
                    return (Reply::err(st), what);
                }
                if let Some(q) = &srv.quota {
                    q.release(replaced);
                }
                let from = std::mem::replace(&mut o.path, to.clone());
                let new_key = base.join(&to);
                srv.share_modes.rename(&o.key, &new_key);
                srv.oplocks.rename(&o.key, &new_key);
                o.key = new_key;
                self.changes.push(Change {
                    action: 4,
                    path: from,
                });
                self.changes.push(Change {
                    action: 5,
                    path: to,
                });
                (ok(), what)
            }
            20 | 19 => {
                let Ok(v) = d.u64_le() else {
                    return (Reply::err(status::INFO_LENGTH_MISMATCH), shown);
                };
                let OpenKind::File(f) = &o.kind else {
                    return (Reply::err(status::INVALID_PARAMETER), shown);
                };
                if s.class == 20 {
                    if !o.write {
                        return (Reply::err(status::ACCESS_DENIED), shown);
                    }
                    let what = format!("{shown} end of file {v}");
                    let old = match (&srv.quota, f.metadata()) {
                        (None, _) => None,
                        (Some(_), Ok(m)) => Some(m.len()),
                        (Some(_), Err(e)) => return (Reply::err(fs::io_status(&e)), what),
                    };
                    if let (Some(q), Some(old)) = (&srv.quota, old) {
                        if let Err(st) = q.resize(old, v) {
                            return (Reply::err(st), what);
                        }
                    }
                    if let Err(e) = f.set_len(v) {
                        if let (Some(q), Some(old)) = (&srv.quota, old) {
                            // Undo: give back the growth, take back the
                            // shrinkage.
                            let _ = q.resize(v, old);
                        }
                        return (Reply::err(fs::io_status(&e)), what);
                    }
                    return (ok(), format!("{shown} end of file {v}"));
                }
                (ok(), format!("{shown} allocation {v}"))
            }
            14 | 16 => (ok(), format!("{shown} class {}", s.class)),
            c => (
                Reply::err(status::INVALID_INFO_CLASS),
                format!("{shown} class {c} (not implemented)"),
            ),
        }
    }

    fn ioctl(&mut self, r: &Req<'_>, i: &proto::Ioctl<'_>) -> Reply {
        let out_body = |fid: FileId, ctl: u32, data: &[u8], st: u32| {
            let mut b = Vec::with_capacity(48 + data.len());
            b.extend_from_slice(&le16(49));
            b.extend_from_slice(&le16(0));
            b.extend_from_slice(&le32(ctl));
            b.extend_from_slice(&fid);
            b.extend_from_slice(&le32(112));
            b.extend_from_slice(&le32(0));
            b.extend_from_slice(&le32(112));
            b.extend_from_slice(&le32(u32::try_from(data.len()).unwrap_or(0)));
            b.extend_from_slice(&le32(0));
            b.extend_from_slice(&le32(0));
            b.extend_from_slice(data);
            Reply::with(st, b)
        };
        match i.ctl_code {
            proto::FSCTL_VALIDATE_NEGOTIATE_INFO => {
                let Some(d) = self.dialect else {
                    return Reply::err(status::INVALID_PARAMETER);
                };
                if d == proto::SMB311 {
                    // 3.1.1 clients do not send it; Windows drops one that does.
                    return Reply {
                        status: 0xFFFF_FFFF,
                        ..Reply::err(0)
                    };
                }
                let mut rd = Reader::new(i.input);
                let parsed = (|| -> Option<(u32, [u8; 16], u16, Vec<u16>)> {
                    let caps = rd.u32_le().ok()?;
                    let guid = rd.array::<16>().ok()?;
                    let mode = rd.u16_le().ok()?;
                    let n = rd.u16_le().ok()?;
                    let ds = (0..n)
                        .map(|_| rd.u16_le().ok())
                        .collect::<Option<Vec<u16>>>()?;
                    Some((caps, guid, mode, ds))
                })();
                let Some((caps, guid, mode, ds)) = parsed else {
                    return Reply {
                        status: 0xFFFF_FFFF,
                        ..Reply::err(0)
                    };
                };
                if caps != self.client_caps
                    || guid != self.client_guid
                    || mode != self.client_security_mode
                    || ds != self.client_dialects
                {
                    return Reply {
                        status: 0xFFFF_FFFF,
                        ..Reply::err(0)
                    };
                }
                if i.max_output < 24 {
                    return Reply::err(status::INVALID_PARAMETER);
                }
                let mut o = Vec::with_capacity(24);
                o.extend_from_slice(&le32(self.server_caps));
                o.extend_from_slice(&self.server.guid);
                o.extend_from_slice(&le16(if self.server.require_signing { 3 } else { 1 }));
                o.extend_from_slice(&le16(d));
                out_body(proto::FILE_ID_ANY, i.ctl_code, &o, status::SUCCESS)
            }
            proto::FSCTL_PIPE_TRANSCEIVE => {
                let srv = self.server.clone();
                let admin = self.is_admin(r);
                let o = match self.open_of(r, i.file_id) {
                    Ok(o) => o,
                    Err(e) => return e,
                };
                let OpenKind::Pipe { rpc, input, output } = &mut o.kind else {
                    return Reply::err(status::INVALID_DEVICE_REQUEST);
                };
                if let Err(st) = pipe_write(rpc, input, output, i.input, &srv, admin, &o.path) {
                    return Reply::err(st);
                }
                let n = output.len().min(i.max_output as usize);
                let data: Vec<u8> = output.drain(..n).collect();
                let st = if output.is_empty() {
                    status::SUCCESS
                } else {
                    status::BUFFER_OVERFLOW
                };
                out_body(i.file_id, i.ctl_code, &data, st)
            }
            proto::FSCTL_DFS_GET_REFERRALS | 0x0006_01B0 => Reply::err(status::FS_DRIVER_REQUIRED),
            _ => Reply::err(status::NOT_SUPPORTED),
        }
    }
}

impl Drop for Connection {
    /// A dropped connection (client gone, host powered off) releases its
    /// byte-range locks, as Windows does when the handles go.
    fn drop(&mut self) {
        self.server.locks.release_conn(self.conn_id);
        self.server.share_modes.release_conn(self.conn_id);
        let conn = self.conn_id;
        self.server.oplocks.release_where(|g| g.owner.0 == conn);
    }
}

/// A change as one FILE_NOTIFY_INFORMATION entry for a watch on `dir`,
/// if it is one.
fn notify_hit(dir: &std::path::Path, tree: bool, filter: u32, c: &Change) -> Option<(u32, String)> {
    if !notify_filter_matches(filter, c.action) {
        return None;
    }
    let rel = c.path.strip_prefix(dir).ok()?;
    let n = rel.components().count();
    if n == 0 || (n > 1 && !tree) {
        return None;
    }
    Some((c.action, rel.to_string_lossy().replace('/', "\\")))
}

/// A CHANGE_NOTIFY response body for these entries, or NOTIFY_ENUM_DIR
/// when they do not fit (or were too many to keep).
fn notify_body(hits: &[(u32, String)], overflow: bool, output_len: u32) -> (u32, Vec<u8>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut last: Option<usize> = None;
    for (action, name) in hits {
        let at = (buf.len() + 3) & !3;
        buf.resize(at, 0);
        if let Some(prev) = last {
            let off = u32::try_from(at - prev).unwrap_or(0);
            buf[prev..prev + 4].copy_from_slice(&le32(off));
        }
        let n: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
        buf.extend_from_slice(&le32(0));
        buf.extend_from_slice(&le32(*action));
        buf.extend_from_slice(&le32(u32::try_from(n.len()).unwrap_or(0)));
        buf.extend_from_slice(&n);
        last = Some(at);
    }
    let (st, data) = if overflow || buf.len() > output_len as usize {
        (STATUS_NOTIFY_ENUM_DIR, Vec::new())
    } else {
        (status::SUCCESS, buf)
    };
    let mut body = Vec::with_capacity(8 + data.len());
    body.extend_from_slice(&le16(9));
    body.extend_from_slice(&le16(72));
    body.extend_from_slice(&le32(u32::try_from(data.len()).unwrap_or(0)));
    body.extend(data);
    (st, body)
}

/// Whether a CompletionFilter (MS-SMB2 2.2.35) asks for an action: names
/// for additions, removals and renames; size, times or attributes for
/// modifications.
fn notify_filter_matches(filter: u32, action: u32) -> bool {
    match action {
        3 => filter & (0x04 | 0x08 | 0x10 | 0x20 | 0x40) != 0,
        _ => filter & (0x01 | 0x02) != 0,
    }
}

/// Applies delete-on-close when an open goes away; the changes it made.
fn finish(o: Open, quota: Option<&ShareQuota>) -> Vec<Change> {
    let mut changes = Vec::new();
    if o.written_bytes > 0 {
        changes.push(Change {
            action: 3,
            path: o.path.clone(),
        });
    }
    if !o.delete_on_close {
        return changes;
    }
    let Some(root) = o.root else { return changes };
    let removed = match o.kind {
        OpenKind::File(f) => {
            // A deleted file's bytes go back to the quota.
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            drop(f);
            let r = root.remove_file(&o.path);
            if let (Ok(()), Some(q)) = (&r, quota) {
                q.release(len);
            }
            r
        }
        OpenKind::Dir { .. } => root.remove_dir(&o.path),
        OpenKind::Pipe { .. } => return changes,
    };
    if removed.is_ok() {
        changes.push(Change {
            action: 2,
            path: o.path,
        });
    }
    changes
}

fn outcome(st: u32) -> String {
    match st {
        status::SUCCESS => "ok".into(),
        s => format!("{s:#010x}"),
    }
}

fn read_body(data: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + data.len());
    b.extend_from_slice(&le16(17));
    b.push(0x50);
    b.push(0);
    b.extend_from_slice(&le32(u32::try_from(data.len()).unwrap_or(0)));
    b.extend_from_slice(&le32(0));
    b.extend_from_slice(&le32(0));
    b.extend_from_slice(data);
    b
}

/// Feeds bytes written to a pipe: complete PDUs go to the RPC state,
/// answers queue for READ/TRANSCEIVE.
fn pipe_write(
    rpc: &mut PipeRpc,
    input: &mut Vec<u8>,
    output: &mut Vec<u8>,
    data: &[u8],
    server: &Server,
    admin: bool,
    pipe: &std::path::Path,
) -> Result<(), u32> {
    if input.len() + data.len() > rpc::MAX_STUB + 4096 {
        input.clear();
        return Err(status::INVALID_PARAMETER);
    }
    input.extend_from_slice(data);
    let shares = server.share_infos();
    let srvsvc = Srvsvc { shares: &shares };
    let wkssvc = Wkssvc {
        computer: &server.target.nb_computer,
        domain: &server.target.nb_domain,
        admin,
    };
    let iface: &dyn rpc::Interface = if pipe == std::path::Path::new("wkssvc") {
        &wkssvc
    } else {
        &srvsvc
    };
    while let Some(n) = rpc::pdu_len(input) {
        if n < rpc::HEADER_LEN {
            input.clear();
            return Err(status::INVALID_PARAMETER);
        }
        if input.len() < n {
            break;
        }
        let pdu: Vec<u8> = input.drain(..n).collect();
        match rpc.feed(&pdu, iface) {
            Ok(reply) => {
                if output.len() + reply.len() > MAX_PIPE_OUT {
                    return Err(status::INVALID_PARAMETER);
                }
                output.extend(reply);
            }
            Err(_) => {
                let call_id = pdu
                    .get(12..16)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .unwrap_or(0);
                output.extend(rpc::bind_nak(call_id, 4));
            }
        }
    }
    Ok(())
}

/// A self-relative security descriptor: owner and group BUILTIN\
/// Administrators, a DACL granting Everyone full access; only the parts
/// `additional` asks for.
fn security_descriptor(additional: u32) -> Vec<u8> {
    let admins: [u8; 16] = [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0];
    let everyone: [u8; 12] = [1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    let mut ace = vec![0u8, 0];
    ace.extend_from_slice(&le16(8 + everyone.len() as u16));
    ace.extend_from_slice(&le32(0x001F_01FF));
    ace.extend_from_slice(&everyone);
    let mut acl = vec![2u8, 0];
    acl.extend_from_slice(&le16(8 + ace.len() as u16));
    acl.extend_from_slice(&le16(1));
    acl.extend_from_slice(&le16(0));
    acl.extend_from_slice(&ace);
    let mut body = Vec::new();
    let (mut owner, mut group, mut dacl) = (0u32, 0u32, 0u32);
    let mut control: u16 = 0x8000; // self-relative
    if additional & 1 != 0 {
        owner = 20 + body.len() as u32;
        body.extend_from_slice(&admins);
    }
    if additional & 2 != 0 {
        group = 20 + body.len() as u32;
        body.extend_from_slice(&admins);
    }
    if additional & 4 != 0 {
        dacl = 20 + body.len() as u32;
        body.extend_from_slice(&acl);
        control |= 0x0004; // DACL present
    }
    let mut sd = vec![1u8, 0];
    sd.extend_from_slice(&le16(control));
    sd.extend_from_slice(&le32(owner));
    sd.extend_from_slice(&le32(group));
    sd.extend_from_slice(&le32(0));
    sd.extend_from_slice(&le32(dacl));
    sd.extend(body);
    sd
}
