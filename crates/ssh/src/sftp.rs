//! The SFTP server (protocol version 3 plus the OpenSSH extensions clients
//! use) over a host's jailed datastore.
//!
//! Framing and message types are russh-sftp's codec; the request loop is
//! ours because it must (a) close the session on a packet over the limit
//! instead of reading on out of step, (b) answer malformed requests with
//! their own request id, and (c) keep every file operation on the jail.
//!
//! Uploads are written under their own name from OPEN, as OpenSSH's
//! sftp-server (which ESXi runs) does: a client that stats or reopens the
//! file while writing it sees it, with what has been written so far; a
//! write beyond the quota fails (what a full datastore answers) and leaves
//! what was written, as does a dropped connection.
//!
//! With the scenario option `atomic_uploads`, a file opened for writing
//! with TRUNC, or created, is instead written under a hidden staging name
//! in the same directory and renamed to its final name when the client
//! closes it successfully. Then a name only ever shows a complete file: an
//! upload that fails (quota) or is aborted (connection lost) leaves nothing
//! under the name the client chose.
//!
//! Journal: open failures, each completed transfer at close (path and byte
//! count, not one entry per 255 KiB packet), and every namespace operation
//! (list, mkdir, rmdir, remove, rename, symlink, setstat).

use crate::audit::Audit;
use crate::jail::{FsError, Jail, Kind, Listing, Stat, STAGING_PREFIX};
use crate::vfs::VPath;
use bytes::Bytes;
use cap_std::fs::{FileExt, OpenOptions, OpenOptionsExt, Permissions, PermissionsExt};
use russh_sftp::protocol::{
    Attrs, Data, ExtendedReply, File, FileAttributes, Handle, Name, OpenFlags, Packet, Status,
    StatusCode, Version,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::{debug, trace};

/// Largest request accepted, as OpenSSH's sftp-server (SFTP_MAX_MSG_LENGTH).
pub const MAX_PACKET: u32 = 256 * 1024;
/// Largest read or write payload advertised in limits@openssh.com
/// (OpenSSH's value: the packet limit less room for headers).
pub const MAX_IO: u32 = MAX_PACKET - 1024;
/// Open handles per session.
pub const MAX_HANDLES: usize = 256;
/// Directory entries per READDIR reply.
const READDIR_BATCH: usize = 100;
/// Largest file size a write may produce (16 TiB, ext4's limit).
const MAX_FILE: u64 = 1 << 44;

/// An SFTP error status to send.
#[derive(Debug)]
pub struct Fx {
    pub code: StatusCode,
    pub message: String,
}

impl Fx {
    fn new(code: StatusCode, message: impl Into<String>) -> Fx {
        Fx {
            code,
            message: message.into(),
        }
    }

    fn bad_handle() -> Fx {
        Fx::new(StatusCode::Failure, "invalid handle")
    }
}

impl From<FsError> for Fx {
    fn from(e: FsError) -> Fx {
        let code = match e {
            FsError::NotFound => StatusCode::NoSuchFile,
            FsError::Denied => StatusCode::PermissionDenied,
            _ => StatusCode::Failure,
        };
        Fx::new(code, e.to_string())
    }
}

impl From<std::io::Error> for Fx {
    fn from(e: std::io::Error) -> Fx {
        FsError::from(e).into()
    }
}

/// A file being uploaded under a staging name.
struct Staging {
    /// Share-relative path of the staging file.
    temp: PathBuf,
    /// Opened with EXCL: publishing must not replace an existing file.
    exclusive: bool,
}

struct FileHandle {
    file: cap_std::fs::File,
    /// The name the client used (for the journal).
    vpath: VPath,
    /// Share-relative final path.
    rel: PathBuf,
    staging: Option<Staging>,
    /// Length as far as this handle knows (quota growth is measured from it).
    len: u64,
    readable: bool,
    writable: bool,
    append: bool,
    bytes_read: u64,
    bytes_written: u64,
    /// Set when a write failed for good (quota): later writes fail too, and
    /// a staged upload is discarded at close.
    failed: Option<String>,
}

struct DirHandle {
    vpath: VPath,
    listing: Listing,
    /// "." and ".." are sent first, as OpenSSH's server does.
    dots_sent: bool,
}

enum OpenHandle {
    File(Box<FileHandle>),
    Dir(DirHandle),
}

/// One SFTP session.
pub struct SftpServer {
    audit: Audit,
    jail: Arc<Jail>,
    handles: HashMap<String, OpenHandle>,
    next_handle: u64,
    /// Distinguishes this session's staging names from other sessions'.
    tag: String,
    next_stage: u64,
    initialized: bool,
    /// Uploads go to a staging name and are published by rename at close.
    atomic: bool,
}

impl SftpServer {
    /// A session writing uploads under their own name from OPEN (see
    /// [`SftpServer::atomic_uploads`] for publish-by-rename).
    pub fn new(audit: Audit, jail: Arc<Jail>) -> SftpServer {
        SftpServer {
            audit,
            jail,
            handles: HashMap::new(),
            next_handle: 1,
            tag: format!("{:016x}", rand::random::<u64>()),
            next_stage: 1,
            initialized: false,
            atomic: false,
        }
    }

    /// Whether uploads are written under a hidden staging name and
    /// published by rename at CLOSE (the scenario's `atomic_uploads`).
    pub fn atomic_uploads(mut self, on: bool) -> SftpServer {
        self.atomic = on;
        self
    }

    fn resolve(&self, path: &str) -> Result<VPath, Fx> {
        VPath::parse(self.jail.home(), path)
            .map_err(|e| Fx::new(StatusCode::Failure, format!("{e}")))
    }

    /// The share-relative path of a name being created or changed: outside
    /// the tree is "permission denied" (nothing can be made there), and the
    /// share root itself cannot be removed or renamed.
    fn writable_path(&self, vp: &VPath) -> Result<PathBuf, Fx> {
        Ok(self.jail.writable_path(vp)?)
    }

    fn new_handle(&mut self, h: OpenHandle) -> Result<String, Fx> {
        if self.handles.len() >= MAX_HANDLES {
            return Err(Fx::new(StatusCode::Failure, "too many open handles"));
        }
        let id = self.next_handle.to_string();
        self.next_handle += 1;
        self.handles.insert(id.clone(), h);
        Ok(id)
    }

    fn file(&mut self, handle: &str) -> Result<&mut FileHandle, Fx> {
        match self.handles.get_mut(handle) {
            Some(OpenHandle::File(f)) => Ok(f),
            _ => Err(Fx::bad_handle()),
        }
    }

    /// Handles one request packet (length prefix already removed).
    pub fn handle_packet(&mut self, mut bytes: Bytes) -> Packet {
        // The request id sits right after the type byte; recover it so a
        // request we cannot decode still gets its own status reply.
        let id = match bytes.get(1..5) {
            Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            None => 0,
        };
        match Packet::try_from(&mut bytes) {
            Ok(p) => self.dispatch(p),
            Err(e) => {
                debug!(error = %e, "malformed SFTP request");
                Packet::status(id, StatusCode::BadMessage, "malformed request", "en-US")
            }
        }
    }

    fn dispatch(&mut self, p: Packet) -> Packet {
        let id = p.get_request_id();
        let span = tracing::trace_span!("request", id);
        let _e = span.enter();
        let r: Result<Packet, Fx> = match p {
            Packet::Init(i) => return self.init(i.version),
            Packet::Open(o) => self
                .open(&o.filename, o.pflags, &o.attrs)
                .map(|handle| Packet::Handle(Handle { id, handle })),
            Packet::Close(c) => self.close(&c.handle).map(|()| ok(id)),
            Packet::Read(r) => self
                .read(&r.handle, r.offset, r.len)
                .map(|data| Packet::Data(Data { id, data })),
            Packet::Write(w) => self.write(&w.handle, w.offset, &w.data).map(|()| ok(id)),
            Packet::Lstat(s) => self.stat(&s.path, false).map(|a| attrs_packet(id, a)),
            Packet::Stat(s) => self.stat(&s.path, true).map(|a| attrs_packet(id, a)),
            Packet::Fstat(s) => self.fstat(&s.handle).map(|a| attrs_packet(id, a)),
            Packet::SetStat(s) => self.setstat(&s.path, &s.attrs).map(|()| ok(id)),
            Packet::FSetStat(s) => self.fsetstat(&s.handle, &s.attrs).map(|()| ok(id)),
            Packet::OpenDir(o) => self
                .opendir(&o.path)
                .map(|handle| Packet::Handle(Handle { id, handle })),
            Packet::ReadDir(r) => self
                .readdir(&r.handle)
                .map(|files| Packet::Name(Name { id, files })),
            Packet::Remove(r) => self.remove(&r.filename).map(|()| ok(id)),
            Packet::MkDir(m) => self.mkdir(&m.path, &m.attrs).map(|()| ok(id)),
            Packet::RmDir(r) => self.rmdir(&r.path).map(|()| ok(id)),
            Packet::RealPath(r) => self.realpath(&r.path).map(|name| {
                Packet::Name(Name {
                    id,
                    files: vec![File::dummy(name)],
                })
            }),
            Packet::Rename(r) => self.rename(&r.oldpath, &r.newpath, false).map(|()| ok(id)),
            Packet::ReadLink(r) => self.readlink(&r.path).map(|target| {
                Packet::Name(Name {
                    id,
                    files: vec![File::dummy(target)],
                })
            }),
            // OpenSSH's sftp sends the link target first and the link path
            // second (the reverse of draft-02), and every common client
            // follows OpenSSH; russh-sftp names the fields after the draft.
            Packet::Symlink(s) => self.symlink(&s.linkpath, &s.targetpath).map(|()| ok(id)),
            Packet::Extended(x) => self.extended(id, &x.request, &x.data),
            _ => Err(Fx::new(StatusCode::OpUnsupported, "unsupported request")),
        };
        r.unwrap_or_else(|e| Packet::status(id, e.code, &e.message, "en-US"))
    }

    fn init(&mut self, version: u32) -> Packet {
        if !self.initialized {
            self.initialized = true;
            self.audit
                .record("sftp session", format!("ok (client version {version})"));
        }
        let mut v = Version::new();
        for (k, val) in [
            ("posix-rename@openssh.com", "1"),
            ("statvfs@openssh.com", "2"),
            ("fstatvfs@openssh.com", "2"),
            ("fsync@openssh.com", "1"),
            ("limits@openssh.com", "1"),
        ] {
            v.extensions.insert(k.into(), val.into());
        }
        Packet::Version(v)
    }

    fn open(&mut self, path: &str, flags: OpenFlags, attrs: &FileAttributes) -> Result<String, Fx> {
        let vp = self.resolve(path)?;
        let r = self.open_inner(&vp, flags, attrs);
        if let Err(e) = &r {
            self.audit
                .record(format!("open {vp}"), format!("failed: {}", e.message));
        }
        r
    }

    fn open_inner(
        &mut self,
        vp: &VPath,
        flags: OpenFlags,
        attrs: &FileAttributes,
    ) -> Result<String, Fx> {
        let write = flags.intersects(OpenFlags::WRITE | OpenFlags::APPEND);
        let read = flags.contains(OpenFlags::READ) || !write;
        let create = flags.contains(OpenFlags::CREATE);
        let rel = if write || create {
            self.writable_path(vp)?
        } else {
            self.jail.share_path(vp)?
        };
        let dir = self.jail.dir();
        let existing = match dir.metadata(&rel) {
            Ok(md) => Some(md),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        if existing.as_ref().is_some_and(|m| m.is_dir()) {
            return Err(FsError::IsDir.into());
        }
        if existing.is_some() && create && flags.contains(OpenFlags::EXCLUDE) {
            return Err(FsError::Exists.into());
        }
        if existing.is_none() && !create {
            return Err(FsError::NotFound.into());
        }
        let mode = attrs.permissions.map(|p| p & 0o7777).unwrap_or(0o644);
        let staged =
            self.atomic && write && (flags.contains(OpenFlags::TRUNCATE) || existing.is_none());
        let handle = if staged {
            let name = format!("{STAGING_PREFIX}{}-{}", self.tag, self.next_stage);
            self.next_stage += 1;
            let temp = match rel.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.join(&name),
                _ => PathBuf::from(&name),
            };
            let mut o = OpenOptions::new();
            o.read(read).write(true).create_new(true).mode(mode);
            let file = dir.open_with(&temp, &o)?;
            FileHandle {
                file,
                vpath: vp.clone(),
                rel,
                staging: Some(Staging {
                    temp,
                    exclusive: flags.contains(OpenFlags::EXCLUDE),
                }),
                len: 0,
                readable: read,
                writable: true,
                append: flags.contains(OpenFlags::APPEND),
                bytes_read: 0,
                bytes_written: 0,
                failed: None,
            }
        } else {
            // Under its own name, as sftp-server: created (EXCL: only if
            // new) and truncated here, so it shows from now on.
            let mut o = OpenOptions::new();
            o.read(read).write(write);
            if write && create {
                if flags.contains(OpenFlags::EXCLUDE) {
                    o.create_new(true);
                } else {
                    o.create(true);
                }
                o.mode(mode);
            }
            let file = dir.open_with(&rel, &o)?;
            let mut len = file.metadata().map(|m| m.len()).unwrap_or(0);
            if write && flags.contains(OpenFlags::TRUNCATE) && len > 0 {
                self.jail.set_len(&file, &mut len, 0)?;
            }
            FileHandle {
                file,
                vpath: vp.clone(),
                rel,
                staging: None,
                len,
                readable: read,
                writable: write,
                append: flags.contains(OpenFlags::APPEND),
                bytes_read: 0,
                bytes_written: 0,
                failed: None,
            }
        };
        self.new_handle(OpenHandle::File(Box::new(handle)))
    }

    fn close(&mut self, handle: &str) -> Result<(), Fx> {
        match self.handles.remove(handle) {
            None => Err(Fx::bad_handle()),
            Some(OpenHandle::Dir(_)) => Ok(()),
            Some(OpenHandle::File(fh)) => self.finish(*fh),
        }
    }

    /// Completes a file handle: publishes a staged upload by rename (or
    /// discards it when it failed) and journals the transfer.
    fn finish(&mut self, fh: FileHandle) -> Result<(), Fx> {
        let FileHandle {
            file,
            vpath,
            rel,
            staging,
            len,
            bytes_read,
            bytes_written,
            failed,
            ..
        } = fh;
        drop(file);
        let dir = self.jail.dir();
        let Some(st) = staging else {
            match &failed {
                Some(reason) => self.audit.record(
                    format!("write {vpath}"),
                    format!("failed: {reason}; {bytes_written} bytes written"),
                ),
                None if bytes_written > 0 => self.audit.record(
                    format!("write {vpath}"),
                    format!("ok: {bytes_written} bytes"),
                ),
                None => {}
            }
            if bytes_read > 0 || bytes_written == 0 {
                self.audit
                    .record(format!("read {vpath}"), format!("ok: {bytes_read} bytes"));
            }
            return match failed {
                Some(reason) => Err(Fx::new(StatusCode::Failure, reason)),
                None => Ok(()),
            };
        };
        if let Some(reason) = failed {
            let _ = dir.remove_file(&st.temp);
            self.jail.quota().release(len);
            self.audit.record(
                format!("write {vpath}"),
                format!("failed: {reason}; partial upload discarded ({bytes_written} bytes)"),
            );
            return Err(Fx::new(StatusCode::Failure, reason));
        }
        let published = if st.exclusive {
            // link(2) refuses an existing name atomically: EXCL stays EXCL
            // even against a racing upload of the same name.
            dir.hard_link(&st.temp, dir, &rel).map(|()| {
                let _ = dir.remove_file(&st.temp);
                0
            })
        } else {
            self.replace(&st.temp, &rel)
        };
        match published {
            Ok(replaced) => {
                self.jail.quota().release(replaced);
                self.audit.record(
                    format!("write {vpath}"),
                    format!("ok: {bytes_written} bytes"),
                );
                Ok(())
            }
            Err(e) => {
                let _ = dir.remove_file(&st.temp);
                self.jail.quota().release(len);
                let e = Fx::from(e);
                self.audit.record(
                    format!("write {vpath}"),
                    format!("failed: {}; upload discarded", e.message),
                );
                Err(e)
            }
        }
    }

    /// Renames `temp` over `rel`; returns the size of the file replaced.
    fn replace(&self, temp: &Path, rel: &Path) -> std::io::Result<u64> {
        let dir = self.jail.dir();
        let replaced = match dir.symlink_metadata(rel) {
            Ok(md) if md.is_file() => md.len(),
            Ok(md) if md.is_dir() => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::IsADirectory,
                    "Is a directory",
                ))
            }
            _ => 0,
        };
        dir.rename(temp, dir, rel)?;
        Ok(replaced)
    }

    fn read(&mut self, handle: &str, offset: u64, len: u32) -> Result<Vec<u8>, Fx> {
        let fh = self.file(handle)?;
        if !fh.readable {
            return Err(FsError::Denied.into());
        }
        let want = len.min(MAX_IO) as usize;
        let mut buf = vec![0u8; want];
        let mut n = 0;
        while n < want {
            let Some(at) = offset.checked_add(n as u64) else {
                break;
            };
            match fh.file.read_at(&mut buf[n..], at) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        if n == 0 && want > 0 {
            return Err(Fx::new(StatusCode::Eof, "End of file"));
        }
        buf.truncate(n);
        fh.bytes_read += n as u64;
        Ok(buf)
    }

    fn write(&mut self, handle: &str, offset: u64, data: &[u8]) -> Result<(), Fx> {
        let jail = self.jail.clone();
        let audit = self.audit.clone();
        let fh = self.file(handle)?;
        if !fh.writable {
            return Err(FsError::Denied.into());
        }
        if let Some(reason) = &fh.failed {
            return Err(Fx::new(StatusCode::Failure, reason.clone()));
        }
        let offset = if fh.append { fh.len } else { offset };
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&e| e <= MAX_FILE)
            .ok_or_else(|| Fx::new(StatusCode::Failure, "File too large"))?;
        let growth = end.saturating_sub(fh.len);
        if let Err(full) = jail.quota().reserve(jail.dir(), growth) {
            let reason = FsError::NoSpace.to_string();
            audit.record(format!("write {}", fh.vpath), format!("failed: {full}"));
            fh.failed = Some(reason.clone());
            return Err(Fx::new(StatusCode::Failure, reason));
        }
        if let Err(e) = fh.file.write_all_at(data, offset) {
            jail.quota().release(growth);
            return Err(e.into());
        }
        fh.len = fh.len.max(end);
        fh.bytes_written += data.len() as u64;
        Ok(())
    }

    fn stat(&mut self, path: &str, follow: bool) -> Result<FileAttributes, Fx> {
        let vp = self.resolve(path)?;
        let r = self
            .jail
            .stat(&vp, follow)
            .map(|st| attrs_of(&st))
            .map_err(Fx::from);
        let op = if follow { "stat" } else { "lstat" };
        self.journal_result(
            format!("{op} {vp}"),
            &r.as_ref().map(|_| ()).map_err(|e| e.message.clone()),
        );
        r
    }

    fn fstat(&mut self, handle: &str) -> Result<FileAttributes, Fx> {
        let fh = self.file(handle)?;
        let md = fh.file.metadata()?;
        Ok(attrs_of(&Stat::from_metadata(&md)))
    }

    fn setstat(&mut self, path: &str, attrs: &FileAttributes) -> Result<(), Fx> {
        let vp = self.resolve(path)?;
        let rel = self.writable_path(&vp).or_else(|e| {
            // The share root's own attributes may be set (touch, chmod).
            match self.jail.share_path(&vp) {
                Ok(r) => Ok(r),
                Err(_) => Err(e),
            }
        })?;
        let dir = self.jail.dir();
        let md = dir.metadata(&rel)?;
        if let Some(size) = attrs.size {
            if !md.is_file() {
                return Err(FsError::IsDir.into());
            }
            let f = dir.open_with(&rel, OpenOptions::new().write(true))?;
            self.resize(&f, md.len(), size)?;
        }
        if let Some(p) = attrs.permissions {
            dir.set_permissions(&rel, Permissions::from_mode(p & 0o7777))?;
        }
        if let (Some(a), Some(m)) = (attrs.atime, attrs.mtime) {
            let std = if md.is_dir() {
                dir.open_dir(&rel)?.into_std_file()
            } else {
                dir.open(&rel)?.into_std()
            };
            set_times(&std, a, m)?;
        }
        self.audit.record(format!("setstat {vp}"), "ok");
        Ok(())
    }

    fn fsetstat(&mut self, handle: &str, attrs: &FileAttributes) -> Result<(), Fx> {
        let jail = self.jail.clone();
        let fh = self.file(handle)?;
        if let Some(size) = attrs.size {
            if !fh.writable {
                return Err(FsError::Denied.into());
            }
            resize(&jail, &fh.file, fh.len, size)?;
            fh.len = size;
        }
        if let Some(p) = attrs.permissions {
            fh.file
                .set_permissions(Permissions::from_mode(p & 0o7777))?;
        }
        if let (Some(a), Some(m)) = (attrs.atime, attrs.mtime) {
            let std = fh.file.try_clone()?.into_std();
            set_times(&std, a, m)?;
        }
        Ok(())
    }

    fn resize(&self, f: &cap_std::fs::File, old: u64, new: u64) -> Result<(), Fx> {
        resize(&self.jail, f, old, new)
    }

    fn opendir(&mut self, path: &str) -> Result<String, Fx> {
        let vp = self.resolve(path)?;
        let r = (|| {
            let st = self.jail.stat(&vp, true)?;
            if st.kind != Kind::Dir {
                return Err(FsError::NotDir);
            }
            self.jail.list(&vp)
        })();
        match r {
            Ok(listing) => {
                self.audit.record(format!("list {vp}"), "ok");
                self.new_handle(OpenHandle::Dir(DirHandle {
                    vpath: vp,
                    listing,
                    dots_sent: false,
                }))
            }
            Err(e) => {
                let e = Fx::from(e);
                self.audit
                    .record(format!("list {vp}"), format!("failed: {}", e.message));
                Err(e)
            }
        }
    }

    fn readdir(&mut self, handle: &str) -> Result<Vec<File>, Fx> {
        let jail = self.jail.clone();
        let now = jail.now_secs();
        let Some(OpenHandle::Dir(d)) = self.handles.get_mut(handle) else {
            return Err(Fx::bad_handle());
        };
        let mut files = Vec::new();
        if !d.dots_sent {
            d.dots_sent = true;
            let here = jail.stat(&d.vpath, true).ok();
            let up = jail.stat(&d.vpath.parent(), true).ok().or(here);
            for (name, st) in [(".", here), ("..", up)] {
                if let Some(st) = st {
                    files.push(file_entry(name, &st, now));
                }
            }
        }
        for (name, st) in d.listing.next_batch(READDIR_BATCH) {
            files.push(file_entry(&name, &st, now));
        }
        if files.is_empty() {
            return Err(Fx::new(StatusCode::Eof, "End of file"));
        }
        Ok(files)
    }

    fn remove(&mut self, path: &str) -> Result<(), Fx> {
        let vp = self.resolve(path)?;
        let r = (|| {
            let rel = self.writable_path(&vp)?;
            self.jail.remove_file(&rel)?;
            Ok(())
        })();
        self.journal_result(format!("remove {vp}"), &r);
        r
    }

    fn mkdir(&mut self, path: &str, attrs: &FileAttributes) -> Result<(), Fx> {
        let vp = self.resolve(path)?;
        let r = (|| {
            let rel = self.writable_path(&vp)?;
            let dir = self.jail.dir();
            let mut b = cap_std::fs::DirBuilder::new();
            cap_std::fs::DirBuilderExt::mode(
                &mut b,
                attrs.permissions.map(|p| p & 0o7777).unwrap_or(0o755),
            );
            dir.create_dir_with(&rel, &b)?;
            Ok(())
        })();
        self.journal_result(format!("mkdir {vp}"), &r);
        r
    }

    fn rmdir(&mut self, path: &str) -> Result<(), Fx> {
        let vp = self.resolve(path)?;
        let r = (|| {
            let rel = self.writable_path(&vp)?;
            self.jail.dir().remove_dir(&rel)?;
            Ok(())
        })();
        self.journal_result(format!("rmdir {vp}"), &r);
        r
    }

    fn realpath(&mut self, path: &str) -> Result<String, Fx> {
        let vp = self.resolve(path)?;
        self.audit.record(format!("realpath {vp}"), "ok");
        Ok(vp.to_string())
    }

    fn rename(&mut self, from: &str, to: &str, replace: bool) -> Result<(), Fx> {
        let (a, b) = (self.resolve(from)?, self.resolve(to)?);
        let r = (|| {
            let ra = self.writable_path(&a)?;
            let rb = self.writable_path(&b)?;
            self.jail.rename(&ra, &rb, replace)?;
            Ok(())
        })();
        self.journal_result(format!("rename {a} -> {b}"), &r);
        r
    }

    fn readlink(&mut self, path: &str) -> Result<String, Fx> {
        let vp = self.resolve(path)?;
        let r = (|| {
            let rel = self.jail.share_path(&vp)?;
            let target = self.jail.dir().read_link_contents(&rel)?;
            Ok::<_, Fx>(target.to_string_lossy().into_owned())
        })();
        self.journal_result(
            format!("readlink {vp}"),
            &r.as_ref().map(|_| ()).map_err(|e| e.message.clone()),
        );
        r
    }

    fn symlink(&mut self, target: &str, link: &str) -> Result<(), Fx> {
        let lv = self.resolve(link)?;
        let r = (|| {
            let rel = self.writable_path(&lv)?;
            let tv = VPath::parse(&lv.parent(), target)
                .map_err(|e| Fx::new(StatusCode::Failure, e.to_string()))?;
            let stored = self
                .jail
                .layout()
                .relative_target(&lv, &tv)
                .ok_or_else(|| {
                    Fx::new(
                        StatusCode::PermissionDenied,
                        "symlink target outside the datastore",
                    )
                })?;
            self.jail.dir().symlink(&stored, &rel)?;
            Ok(())
        })();
        self.journal_result(format!("symlink {lv} -> {target}"), &r);
        r
    }

    fn extended(&mut self, id: u32, request: &str, data: &[u8]) -> Result<Packet, Fx> {
        let mut rd = data;
        let bad = || Fx::new(StatusCode::BadMessage, "malformed extended request");
        match request {
            "posix-rename@openssh.com" => {
                let a = take_string(&mut rd).ok_or_else(bad)?;
                let b = take_string(&mut rd).ok_or_else(bad)?;
                self.rename(&a, &b, true).map(|()| ok(id))
            }
            "statvfs@openssh.com" => {
                let p = take_string(&mut rd).ok_or_else(bad)?;
                let vp = self.resolve(&p)?;
                self.jail.stat(&vp, true)?;
                Ok(Packet::ExtendedReply(ExtendedReply {
                    id,
                    data: self.statvfs()?,
                }))
            }
            "fstatvfs@openssh.com" => {
                let h = take_string(&mut rd).ok_or_else(bad)?;
                self.file(&h)?;
                Ok(Packet::ExtendedReply(ExtendedReply {
                    id,
                    data: self.statvfs()?,
                }))
            }
            "fsync@openssh.com" => {
                let h = take_string(&mut rd).ok_or_else(bad)?;
                self.file(&h)?.file.sync_all()?;
                Ok(ok(id))
            }
            "limits@openssh.com" => {
                let mut out = Vec::with_capacity(32);
                for v in [
                    MAX_PACKET as u64,
                    MAX_IO as u64,
                    MAX_IO as u64,
                    MAX_HANDLES as u64,
                ] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                Ok(Packet::ExtendedReply(ExtendedReply { id, data: out }))
            }
            _ => Err(Fx::new(
                StatusCode::OpUnsupported,
                format!("{request} not supported"),
            )),
        }
    }

    /// statvfs@openssh.com: the quota when there is one (what a datastore of
    /// that size would report), else the real file system of the share.
    fn statvfs(&self) -> Result<Vec<u8>, Fx> {
        let sv = rustix::fs::statvfs(self.jail.root())
            .map_err(|e| Fx::new(StatusCode::Failure, e.to_string()))?;
        let mut f = [
            sv.f_bsize,
            sv.f_frsize,
            sv.f_blocks,
            sv.f_bfree,
            sv.f_bavail,
            sv.f_files,
            sv.f_ffree,
            sv.f_favail,
            sv.f_fsid,
            sv.f_flag.bits(),
            sv.f_namemax,
        ];
        if self.jail.quota().limit().is_some() {
            let (size, free) = self
                .jail
                .space()
                .map_err(|e| Fx::new(StatusCode::Failure, e.to_string()))?;
            f[0] = 4096;
            f[1] = 4096;
            f[2] = size / 4096;
            f[3] = free / 4096;
            f[4] = free / 4096;
        }
        let mut out = Vec::with_capacity(88);
        for v in f {
            out.extend_from_slice(&v.to_be_bytes());
        }
        Ok(out)
    }

    fn journal_result<E: JournalError>(&self, op: String, r: &Result<(), E>) {
        match r {
            Ok(()) => self.audit.record(op, "ok"),
            Err(e) => self.audit.record(op, format!("failed: {}", e.text())),
        }
    }
}

/// What a journaled failure says.
trait JournalError {
    fn text(&self) -> &str;
}

impl JournalError for Fx {
    fn text(&self) -> &str {
        &self.message
    }
}

impl JournalError for String {
    fn text(&self) -> &str {
        self
    }
}

impl Drop for SftpServer {
    /// A session that ends with uploads in flight (the client aborted or the
    /// connection dropped): atomic uploads are discarded, so nothing partial
    /// stays behind; direct ones stay as written, as with sftp-server.
    fn drop(&mut self) {
        for (_, h) in self.handles.drain() {
            if let OpenHandle::File(fh) = h {
                if fh.staging.is_none() && fh.bytes_written > 0 {
                    self.audit.record(
                        format!("write {}", fh.vpath),
                        format!("incomplete: session ended after {} bytes", fh.bytes_written),
                    );
                }
                if let Some(st) = &fh.staging {
                    let _ = self.jail.dir().remove_file(&st.temp);
                    self.jail.quota().release(fh.len);
                    self.audit.record(
                        format!("write {}", fh.vpath),
                        format!(
                            "aborted: session ended; partial upload discarded ({} bytes)",
                            fh.bytes_written
                        ),
                    );
                }
            }
        }
    }
}

fn resize(jail: &Jail, f: &cap_std::fs::File, old: u64, new: u64) -> Result<(), Fx> {
    if new > MAX_FILE {
        return Err(Fx::new(StatusCode::Failure, "File too large"));
    }
    if new > old {
        jail.quota()
            .reserve(jail.dir(), new - old)
            .map_err(|_| Fx::from(FsError::NoSpace))?;
    }
    if let Err(e) = f.set_len(new) {
        if new > old {
            jail.quota().release(new - old);
        }
        return Err(e.into());
    }
    if new < old {
        jail.quota().release(old - new);
    }
    Ok(())
}

fn set_times(f: &std::fs::File, atime: u32, mtime: u32) -> Result<(), Fx> {
    let t = |s: u32| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s as u64);
    f.set_times(
        std::fs::FileTimes::new()
            .set_accessed(t(atime))
            .set_modified(t(mtime)),
    )?;
    Ok(())
}

fn ok(id: u32) -> Packet {
    Packet::Status(Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Success".into(),
        language_tag: "en-US".into(),
    })
}

fn attrs_packet(id: u32, attrs: FileAttributes) -> Packet {
    Packet::Attrs(Attrs { id, attrs })
}

fn clamp_time(t: i64) -> u32 {
    t.clamp(0, u32::MAX as i64) as u32
}

/// SFTP attributes as ESXi shows them: root owns everything.
pub fn attrs_of(st: &Stat) -> FileAttributes {
    FileAttributes {
        size: Some(st.size),
        uid: Some(0),
        user: None,
        gid: Some(0),
        group: None,
        permissions: Some(st.mode),
        atime: Some(clamp_time(st.atime)),
        mtime: Some(clamp_time(st.mtime)),
    }
}

fn file_entry(name: &str, st: &Stat, now: i64) -> File {
    File {
        filename: name.to_string(),
        longname: crate::jail::long_line(name, st, now),
        attrs: attrs_of(st),
    }
}

/// An SSH string (u32 length + bytes) from an extended request's data.
fn take_string(rd: &mut &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(rd.get(..4)?.try_into().ok()?) as usize;
    let s = rd.get(4..4usize.checked_add(len)?)?;
    let out = String::from_utf8(s.to_vec()).ok()?;
    *rd = &rd[4 + len..];
    Some(out)
}

/// Request bytes read ahead but not yet handled, at most. OpenSSH keeps 64
/// requests of up to 256 KiB in flight (16 MiB); a client that pushes more
/// without reading its replies is cut off rather than buffered without end.
pub const MAX_PENDING: usize = 64 * 1024 * 1024;

/// Serves SFTP until the client closes the channel.
///
/// Requests are read by one future and handled by another, joined in one
/// task: the reader must keep draining the channel while a reply waits for
/// window space, because russh delivers the client's WINDOW_ADJUST through
/// the same bounded channel queue; a server that stops reading while it
/// writes deadlocks as soon as that queue fills.
pub async fn serve<R, W>(mut reader: R, mut writer: W, mut server: SftpServer)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let pending = std::sync::atomic::AtomicUsize::new(0);
    let audit = server.audit.clone();
    let read = async {
        while let Ok(len) = reader.read_u32().await {
            if len == 0 || len > MAX_PACKET {
                audit.record(
                    "sftp session",
                    format!("closed: request of {len} bytes (limit {MAX_PACKET})"),
                );
                break;
            }
            if pending.load(std::sync::atomic::Ordering::Relaxed) + len as usize > MAX_PENDING {
                audit.record(
                    "sftp session",
                    format!("closed: more than {MAX_PENDING} bytes of requests unanswered"),
                );
                break;
            }
            let mut buf = vec![0u8; len as usize];
            if reader.read_exact(&mut buf).await.is_err() {
                break;
            }
            pending.fetch_add(buf.len(), std::sync::atomic::Ordering::Relaxed);
            if tx.send(Bytes::from(buf)).is_err() {
                break;
            }
        }
        drop(tx);
    };
    let handle = async {
        while let Some(req) = rx.recv().await {
            pending.fetch_sub(req.len(), std::sync::atomic::Ordering::Relaxed);
            let reply = server.handle_packet(req);
            let out = match Bytes::try_from(reply) {
                Ok(b) => b,
                Err(e) => {
                    debug!(error = %e, "cannot encode SFTP reply");
                    break;
                }
            };
            if writer.write_all(&out).await.is_err() {
                break;
            }
            trace!(bytes = out.len(), "reply sent");
        }
        // Dropping the receiver makes the reader stop at its next request.
        drop(rx);
        let _ = writer.shutdown().await;
    };
    tokio::join!(read, handle);
}

#[cfg(test)]
mod tests;
