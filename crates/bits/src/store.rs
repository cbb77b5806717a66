//! A machine's share on disk: upload session files, the jail that keeps
//! every URL inside the share, and the commit that makes an upload appear
//! under its final name atomically.
//!
//! Layout, for share `S`:
//! - `S/<url path>`: final files (what downloads serve);
//! - `S/.bits-sessions/<ID>.part`: the bytes received so far; its length
//!   *is* the received count, so nothing else must be kept in step with it;
//! - `S/.bits-sessions/<ID>.json`: who, where to, and the total, written
//!   atomically; with the `.part` it lets a restarted fakedc resume.
//!
//! Every access goes through a [`cap_std::fs::Dir`] opened on the share
//! root, with relative paths of plain components (checked by
//! `proto::normalize_path` before they get here). cap-std resolves each
//! component itself (openat2 `RESOLVE_BENEATH` where the kernel has it)
//! and refuses `..` past the root and symlinks that lead outside it, at
//! the moment of the open: a symlink swapped in after a check cannot lead
//! out, which a canonicalize-then-open check could not promise. Symlinks
//! that stay inside the share still work.
//!
//! Sessions live inside the share so Close-Session's rename stays on one
//! filesystem (rename is atomic only there). Every function here is
//! blocking; the service calls them off the async workers.

use crate::proto::{BitsError, SESSIONS_DIR};
use cap_std::fs::{Dir, File as CapFile, Metadata, OpenOptions};
use fakedc_model::Quota;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::warn;

/// The sidecar of an upload session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionMeta {
    /// The id as handed to the client.
    pub id: String,
    /// Destination path components inside the share.
    pub path: Vec<String>,
    pub owner: String,
    pub created_ms: u64,
    /// Fixed by the first fragment.
    pub total: Option<u64>,
}

/// A session found on disk at load.
#[derive(Debug)]
pub struct Loaded {
    pub meta: SessionMeta,
    pub received: u64,
    pub last_active_ms: u64,
}

/// Largest sidecar we read back (they are a few hundred bytes).
const MAX_META: u64 = 64 * 1024;

/// Milliseconds since the epoch.
pub fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn internal(what: &str, e: io::Error) -> BitsError {
    BitsError::Internal(format!("{what}: {e}"))
}

/// Maps an error of a jailed open: leaving the share (cap-std's refusal,
/// or ELOOP for a symlink chain it would not follow) and permissions are
/// "access denied", a missing name is "not found".
fn jailed(what: &str, e: io::Error) -> BitsError {
    match e.kind() {
        io::ErrorKind::NotFound => BitsError::NotFound,
        io::ErrorKind::PermissionDenied => BitsError::AccessDenied("path leaves the share".into()),
        // Something that is not a usable directory is in the way (what
        // mkdir reports for a symlink out of the share).
        io::ErrorKind::NotADirectory | io::ErrorKind::AlreadyExists => {
            BitsError::AccessDenied("not a directory".into())
        }
        _ if e.raw_os_error() == Some(40) => {
            BitsError::AccessDenied("path leaves the share".into())
        }
        _ => internal(what, e),
    }
}

/// A relative path inside the share from plain components.
fn rel(components: &[String]) -> PathBuf {
    components.iter().collect()
}

/// One machine's share.
#[derive(Debug, Clone)]
pub struct Store {
    share: PathBuf,
    /// The share root as a capability, opened (and the share created) on
    /// first use, so listing a scenario never touches the disk.
    dir: Arc<OnceLock<Dir>>,
    /// The machine's share quota (the one SFTP and SMB count against
    /// too). Session files live in the share, so their bytes count from
    /// the first fragment: a full share refuses the fragment, not the
    /// Close-Session, and the upload never appears.
    quota: Arc<Quota>,
}

impl Store {
    /// A share without a quota.
    pub fn new(share: PathBuf) -> Store {
        Store {
            share,
            dir: Arc::default(),
            quota: Arc::new(Quota::new(None)),
        }
    }

    /// Counts this share's writes against `quota` (the machine's).
    pub fn with_quota(self, quota: Arc<Quota>) -> Store {
        Store { quota, ..self }
    }

    /// Takes `bytes` of the quota before they are written (blocking: the
    /// first call, or one that would not fit, walks the share).
    pub fn reserve(&self, bytes: u64) -> Result<(), BitsError> {
        if self.quota.limit().is_none() {
            return Ok(());
        }
        self.quota
            .reserve(self.root()?, bytes)
            .map_err(BitsError::DiskFull)
    }

    /// Gives back `bytes` reserved and not written, or removed.
    pub fn release(&self, bytes: u64) {
        self.quota.release(bytes)
    }

    pub fn share(&self) -> &Path {
        &self.share
    }

    /// The share root capability. The only ambient path ever opened.
    fn root(&self) -> Result<&Dir, BitsError> {
        if let Some(d) = self.dir.get() {
            return Ok(d);
        }
        std::fs::create_dir_all(&self.share).map_err(|e| internal("creating the share", e))?;
        let d = Dir::open_ambient_dir(&self.share, cap_std::ambient_authority())
            .map_err(|e| internal("opening the share", e))?;
        Ok(self.dir.get_or_init(|| d))
    }

    /// The session file names (ids are checked to be `[0-9A-Za-z{}-]`
    /// before they get here, so they cannot name a path).
    fn part_rel(key: &str) -> PathBuf {
        Path::new(SESSIONS_DIR).join(format!("{key}.part"))
    }

    fn meta_rel(key: &str) -> PathBuf {
        Path::new(SESSIONS_DIR).join(format!("{key}.json"))
    }

    /// Every session on disk, cleaning up what a crash left half-made: a
    /// sidecar without data, data without a sidecar, unreadable sidecars,
    /// temporary files.
    pub fn load_all(&self) -> Vec<Loaded> {
        let Ok(root) = self.root() else {
            return Vec::new();
        };
        let Ok(sessions) = root.open_dir(SESSIONS_DIR) else {
            return Vec::new();
        };
        let Ok(entries) = sessions.entries() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut parts = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(key) = name.strip_suffix(".json") {
                match read_meta(&sessions, &name) {
                    Some(meta) if crate::proto::session_key(&meta.id) == key => {
                        let part = format!("{key}.part");
                        match sessions.metadata(&part) {
                            Ok(pm) => {
                                let mut received = pm.len();
                                if let Some(t) = meta.total {
                                    if received > t {
                                        // Never happens with our writer;
                                        // trim rather than trust it.
                                        let _ = sessions
                                            .open_with(&part, OpenOptions::new().write(true))
                                            .and_then(|f| f.set_len(t));
                                        received = t;
                                    }
                                }
                                let touched = modified_ms(&pm)
                                    .max(e.metadata().ok().map(|m| modified_ms(&m)).unwrap_or(0));
                                out.push(Loaded {
                                    meta,
                                    received,
                                    last_active_ms: touched,
                                });
                            }
                            Err(_) => {
                                // Committed (renamed away) or never made.
                                let _ = sessions.remove_file(&name);
                            }
                        }
                    }
                    _ => {
                        warn!(file = %name, share = %self.share.display(), "unreadable BITS session sidecar; removing");
                        let _ = sessions.remove_file(&name);
                        let _ = sessions.remove_file(format!("{key}.part"));
                    }
                }
            } else if let Some(key) = name.strip_suffix(".part") {
                parts.push(key.to_string());
            } else if name.ends_with(".tmp") {
                let _ = sessions.remove_file(&name);
            }
        }
        for key in parts {
            if sessions.metadata(format!("{key}.json")).is_err() {
                let _ = sessions.remove_file(format!("{key}.part"));
            }
        }
        out
    }

    /// Makes a new session on disk: the sidecar first (atomically), then
    /// an empty data file, returned open for writing.
    pub fn create(&self, key: &str, meta: &SessionMeta) -> Result<File, BitsError> {
        let root = self.root()?;
        root.create_dir_all(SESSIONS_DIR)
            .map_err(|e| internal("creating the sessions directory", e))?;
        self.save_meta(key, meta)?;
        root.open_with(
            Self::part_rel(key),
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true),
        )
        .map(CapFile::into_std)
        .map_err(|e| internal("creating the session file", e))
    }

    /// Re-opens a session's data file (after a restart).
    pub fn open_part(&self, key: &str) -> Result<File, BitsError> {
        self.root()?
            .open_with(
                Self::part_rel(key),
                OpenOptions::new().read(true).write(true),
            )
            .map(CapFile::into_std)
            .map_err(|e| internal("opening the session file", e))
    }

    /// Rewrites the sidecar atomically (write, fsync, rename).
    pub fn save_meta(&self, key: &str, meta: &SessionMeta) -> Result<(), BitsError> {
        let root = self.root()?;
        let tmp = Path::new(SESSIONS_DIR).join(format!("{key}.json.tmp"));
        let json = serde_json::to_vec(meta).map_err(|e| BitsError::Internal(e.to_string()))?;
        let write = || -> io::Result<()> {
            let mut f = root.create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            root.rename(&tmp, root, Self::meta_rel(key))
        };
        write().map_err(|e| internal("writing the session sidecar", e))
    }

    /// Removes a session's files (Cancel-Session, expiry); the data's
    /// bytes go back to the quota.
    pub fn remove(&self, key: &str) {
        if let Ok(root) = self.root() {
            let len = root
                .symlink_metadata(Self::part_rel(key))
                .map(|m| m.len())
                .unwrap_or(0);
            if root.remove_file(Self::part_rel(key)).is_ok() {
                self.quota.release(len);
            }
            let _ = root.remove_file(Self::meta_rel(key));
        }
    }

    /// Checks, without creating anything, that an upload to `path` could
    /// be committed: inside the share, no file where a directory must be,
    /// not a directory, and not an existing file unless overwrites are on.
    pub fn check_upload_target(
        &self,
        path: &[String],
        allow_overwrite: bool,
    ) -> Result<(), BitsError> {
        let root = self.root()?;
        let Some((name, dirs)) = path.split_last() else {
            return Err(BitsError::AccessDenied(
                "cannot upload to the share root".into(),
            ));
        };
        if dirs.is_empty() {
            return check_dest(root, name, allow_overwrite);
        }
        match root.open_dir(rel(dirs)) {
            Ok(dir) => check_dest(&dir, name, allow_overwrite),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(jailed("reading a directory", e)),
        }
    }

    /// Close-Session: fsync the data, create the destination's
    /// directories (inside the share), rename the data file onto the final
    /// name, fsync the directory, drop the sidecar. A crash at any point
    /// leaves either the session (resumable) or the whole file, never a
    /// partial file under the final name.
    pub fn commit(
        &self,
        key: &str,
        file: &File,
        path: &[String],
        allow_overwrite: bool,
    ) -> Result<(), BitsError> {
        file.sync_all()
            .map_err(|e| internal("syncing the session file", e))?;
        let root = self.root()?;
        let Some((name, dirs)) = path.split_last() else {
            return Err(BitsError::AccessDenied(
                "cannot upload to the share root".into(),
            ));
        };
        let dir = if dirs.is_empty() {
            root.try_clone()
                .map_err(|e| internal("opening the share", e))?
        } else {
            match root.open_dir(rel(dirs)) {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    root.create_dir_all(rel(dirs))
                        .map_err(|e| jailed("creating a directory", e))?;
                    root.open_dir(rel(dirs))
                        .map_err(|e| jailed("opening a directory", e))?
                }
                Err(e) => return Err(jailed("opening a directory", e)),
            }
        };
        check_dest(&dir, name, allow_overwrite)?;
        // A file the upload replaces gives its bytes back to the quota
        // (the upload's own were counted as they arrived).
        let replaced = dir
            .symlink_metadata(name)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .unwrap_or(0);
        // The rename replaces a symlink at the destination (the link, not
        // its target), so it cannot write outside either.
        root.rename(Self::part_rel(key), &dir, name)
            .map_err(|e| internal("renaming the upload into place", e))?;
        self.quota.release(replaced);
        if let Ok(d) = dir.try_clone() {
            let _ = d.into_std_file().sync_all();
        }
        let _ = root.remove_file(Self::meta_rel(key));
        Ok(())
    }

    /// Opens a file for download: inside the share (symlinks followed only
    /// while they stay inside), a regular file, not in the sessions
    /// directory.
    pub fn open_download(&self, path: &[String]) -> Result<(File, std::fs::Metadata), BitsError> {
        if path
            .first()
            .is_some_and(|c| c.eq_ignore_ascii_case(SESSIONS_DIR))
        {
            return Err(BitsError::AccessDenied(
                "the sessions directory is private".into(),
            ));
        }
        let root = self.root()?;
        let f = if path.is_empty() {
            return Err(BitsError::AccessDenied(
                "directory listing is denied".into(),
            ));
        } else {
            root.open(rel(path))
                .map_err(|e| jailed("opening the file", e))?
        };
        let f = f.into_std();
        let meta = f.metadata().map_err(|e| internal("reading metadata", e))?;
        if meta.is_dir() {
            return Err(BitsError::AccessDenied(
                "directory listing is denied".into(),
            ));
        }
        if !meta.is_file() {
            return Err(BitsError::NotFound);
        }
        Ok((f, meta))
    }
}

fn modified_ms(m: &Metadata) -> u64 {
    m.modified().ok().map(|t| ms(t.into_std())).unwrap_or(0)
}

fn read_meta(dir: &Dir, name: &str) -> Option<SessionMeta> {
    let f = dir.open(name).ok()?;
    let mut buf = Vec::new();
    f.take(MAX_META).read_to_end(&mut buf).ok()?;
    let meta: SessionMeta = serde_json::from_slice(&buf).ok()?;
    crate::proto::is_valid_session_id(&meta.id).then_some(meta)
}

/// The destination must not be a directory, nor an existing file when
/// overwrites are off. Not following a final symlink: the rename replaces
/// the link itself.
fn check_dest(dir: &Dir, name: &str, allow_overwrite: bool) -> Result<(), BitsError> {
    match dir.symlink_metadata(name) {
        Ok(m) if m.is_dir() => Err(BitsError::AccessDenied(
            "the destination is a directory".into(),
        )),
        Ok(_) if !allow_overwrite => Err(BitsError::FileExists),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("fakedc-bits-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn meta(id: &str, path: &[&str]) -> SessionMeta {
        SessionMeta {
            id: id.into(),
            path: path.iter().map(|s| s.to_string()).collect(),
            owner: "Administrator".into(),
            created_ms: 1,
            total: Some(5),
        }
    }

    #[test]
    fn create_load_commit() {
        let d = tmp("commit");
        let s = Store::new(d.join("share"));
        let key = "{AAAA}";
        let mut f = s.create(key, &meta(key, &["up", "x.bin"])).unwrap();
        f.write_all(b"hel").unwrap();
        let loaded = s.load_all();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].received, 3);
        assert_eq!(loaded[0].meta.path, vec!["up", "x.bin"]);
        f.write_all(b"lo").unwrap();
        assert!(!d.join("share/up/x.bin").exists());
        s.commit(key, &f, &["up".into(), "x.bin".into()], true)
            .unwrap();
        assert_eq!(fs::read(d.join("share/up/x.bin")).unwrap(), b"hello");
        assert!(s.load_all().is_empty());
        // Overwrite refused when off.
        assert_eq!(
            s.check_upload_target(&["up".into(), "x.bin".into()], false),
            Err(BitsError::FileExists)
        );
        let _ = fs::remove_dir_all(&d);
    }

    /// The machine's quota: a reservation past it is ERROR_DISK_FULL (500);
    /// a removed session and a file an upload replaces give their bytes
    /// back.
    #[test]
    fn quota_reserve_remove_and_replace() {
        let d = tmp("quota");
        let share = d.join("share");
        let s = Store::new(share.clone()).with_quota(Arc::new(Quota::new(Some(1000))));
        let key = "{Q1}";
        let mut f = s.create(key, &meta(key, &["x.bin"])).unwrap();
        // The first walk counts the sidecar, which lives in the share too.
        let sidecar = s.quota.used(s.root().unwrap());
        s.reserve(600).unwrap();
        f.write_all(&[1; 600]).unwrap();
        let e = s.reserve(1000 - 600 - sidecar + 1).unwrap_err();
        assert!(matches!(e, BitsError::DiskFull(_)), "{e:?}");
        assert_eq!((e.status(), e.hresult()), (500, Some(0x8007_0070)));
        s.remove(key);
        assert_eq!(s.quota.used(s.root().unwrap()), sidecar);

        fs::write(share.join("y.bin"), [0u8; 400]).unwrap();
        let s = Store::new(share.clone()).with_quota(Arc::new(Quota::new(Some(10_000))));
        let before = s.quota.used(s.root().unwrap());
        let key = "{Q2}";
        let mut f = s.create(key, &meta(key, &["y.bin"])).unwrap();
        s.reserve(300).unwrap();
        f.write_all(&[2; 300]).unwrap();
        s.commit(key, &f, &["y.bin".into()], true).unwrap();
        assert_eq!(s.quota.used(s.root().unwrap()), before + 300 - 400);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn load_cleans_orphans() {
        let d = tmp("orphans");
        let s = Store::new(d.join("share"));
        let sd = d.join("share").join(SESSIONS_DIR);
        fs::create_dir_all(&sd).unwrap();
        fs::write(sd.join("{B}.part"), b"x").unwrap();
        fs::write(sd.join("{C}.json"), b"not json").unwrap();
        s.save_meta("{D}", &meta("{D}", &["d"])).unwrap();
        fs::write(sd.join("{E}.json.tmp"), b"x").unwrap();
        assert!(s.load_all().is_empty());
        assert_eq!(fs::read_dir(&sd).unwrap().count(), 0);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn jail_refuses_symlinks_out() {
        let d = tmp("jail");
        let share = d.join("share");
        let outside = d.join("outside");
        fs::create_dir_all(&share).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(&outside, share.join("out")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), share.join("s")).unwrap();
        fs::create_dir_all(share.join("in")).unwrap();
        fs::write(share.join("in/f"), b"inside").unwrap();
        // Relative links that stay inside are followed; absolute ones are
        // refused even when they point inside (cap-std cannot tell).
        std::os::unix::fs::symlink("in", share.join("alias")).unwrap();
        std::os::unix::fs::symlink(share.join("in"), share.join("abs")).unwrap();
        std::os::unix::fs::symlink("../outside/secret", share.join("rel-out")).unwrap();
        let s = Store::new(share.clone());
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(matches!(
            s.open_download(&p(&["out", "secret"])),
            Err(BitsError::AccessDenied(_))
        ));
        assert!(matches!(
            s.open_download(&p(&["s"])),
            Err(BitsError::AccessDenied(_))
        ));
        assert!(matches!(
            s.check_upload_target(&p(&["out", "new"]), true),
            Err(BitsError::AccessDenied(_))
        ));
        assert_eq!(s.check_upload_target(&p(&["alias", "new"]), true), Ok(()));
        assert_eq!(s.open_download(&p(&["alias", "f"])).unwrap().1.len(), 6);
        assert!(matches!(
            s.open_download(&p(&["rel-out"])),
            Err(BitsError::AccessDenied(_))
        ));
        assert!(matches!(
            s.open_download(&p(&["abs", "f"])),
            Err(BitsError::AccessDenied(_))
        ));
        assert!(matches!(
            s.open_download(&p(&[SESSIONS_DIR, "x"])),
            Err(BitsError::AccessDenied(_))
        ));
        assert_eq!(
            s.open_download(&p(&["nope"])).unwrap_err(),
            BitsError::NotFound
        );
        assert!(matches!(
            s.open_download(&p(&["in"])),
            Err(BitsError::AccessDenied(_))
        ));
        let _ = fs::remove_dir_all(&d);
    }

    /// The race a path check cannot win: the destination directory is
    /// real when the upload is checked and a symlink out of the share when
    /// it is committed. The commit refuses; nothing appears outside.
    #[test]
    fn directory_swapped_for_a_symlink_after_the_check_is_refused() {
        let d = tmp("swap");
        let share = d.join("share");
        let outside = d.join("outside");
        fs::create_dir_all(share.join("up")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        let s = Store::new(share.clone());
        let path = vec!["up".to_string(), "x.bin".to_string()];
        assert_eq!(s.check_upload_target(&path, true), Ok(()));
        let key = "{SWAP}";
        let mut f = s.create(key, &meta(key, &["up", "x.bin"])).unwrap();
        f.write_all(b"hello").unwrap();
        fs::remove_dir(share.join("up")).unwrap();
        std::os::unix::fs::symlink(&outside, share.join("up")).unwrap();
        let r = s.commit(key, &f, &path, true);
        assert!(matches!(r, Err(BitsError::AccessDenied(_))), "{r:?}");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        // The session is intact: still resumable.
        assert_eq!(s.load_all().len(), 1);
        // The same swap before a download: the file outside is not read.
        fs::write(outside.join("secret"), b"s").unwrap();
        assert!(matches!(
            s.open_download(&["up".to_string(), "secret".to_string()]),
            Err(BitsError::AccessDenied(_))
        ));
        let _ = fs::remove_dir_all(&d);
    }
}
