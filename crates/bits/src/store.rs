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
//! Sessions live inside the share so Close-Session's rename stays on one
//! filesystem (rename is atomic only there). Every function here is
//! blocking; the service calls them off the async workers.

use crate::proto::{BitsError, SESSIONS_DIR};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
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

/// One machine's share.
#[derive(Debug, Clone)]
pub struct Store {
    share: PathBuf,
}

impl Store {
    pub fn new(share: PathBuf) -> Store {
        Store { share }
    }

    pub fn share(&self) -> &Path {
        &self.share
    }

    fn sessions_dir(&self) -> PathBuf {
        self.share.join(SESSIONS_DIR)
    }

    /// The file names of a session (ids are checked to be `[0-9A-Za-z{}-]`
    /// before they get here, so they cannot name a path).
    pub fn part_path(&self, key: &str) -> PathBuf {
        self.sessions_dir().join(format!("{key}.part"))
    }

    fn meta_path(&self, key: &str) -> PathBuf {
        self.sessions_dir().join(format!("{key}.json"))
    }

    /// The share's real path, created if missing.
    fn root(&self) -> Result<PathBuf, BitsError> {
        fs::create_dir_all(&self.share).map_err(|e| internal("creating the share", e))?;
        self.share
            .canonicalize()
            .map_err(|e| internal("resolving the share", e))
    }

    /// Every session on disk, cleaning up what a crash left half-made: a
    /// sidecar without data, data without a sidecar, unreadable sidecars,
    /// temporary files.
    pub fn load_all(&self) -> Vec<Loaded> {
        let dir = self.sessions_dir();
        let Ok(entries) = fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut parts = Vec::new();
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(key) = name.strip_suffix(".json") {
                match read_meta(&p) {
                    Some(meta) if crate::proto::session_key(&meta.id) == key => {
                        let part = self.part_path(key);
                        match fs::metadata(&part) {
                            Ok(pm) => {
                                let mut received = pm.len();
                                if let Some(t) = meta.total {
                                    if received > t {
                                        // Never happens with our writer;
                                        // trim rather than trust it.
                                        let _ = OpenOptions::new()
                                            .write(true)
                                            .open(&part)
                                            .and_then(|f| f.set_len(t));
                                        received = t;
                                    }
                                }
                                let touched = pm.modified().ok().map(ms).unwrap_or(0).max(
                                    e.metadata()
                                        .ok()
                                        .and_then(|m| m.modified().ok())
                                        .map(ms)
                                        .unwrap_or(0),
                                );
                                out.push(Loaded {
                                    meta,
                                    received,
                                    last_active_ms: touched,
                                });
                            }
                            Err(_) => {
                                // Committed (renamed away) or never made.
                                let _ = fs::remove_file(&p);
                            }
                        }
                    }
                    _ => {
                        warn!(file = %p.display(), "unreadable BITS session sidecar; removing");
                        let _ = fs::remove_file(&p);
                        let _ = fs::remove_file(self.part_path(key));
                    }
                }
            } else if let Some(key) = name.strip_suffix(".part") {
                parts.push((key.to_string(), p));
            } else if name.ends_with(".tmp") {
                let _ = fs::remove_file(&p);
            }
        }
        for (key, p) in parts {
            if !self.meta_path(&key).exists() {
                let _ = fs::remove_file(&p);
            }
        }
        out
    }

    /// Makes a new session on disk: the sidecar first (atomically), then
    /// an empty data file, returned open for writing.
    pub fn create(&self, key: &str, meta: &SessionMeta) -> Result<File, BitsError> {
        self.root()?;
        let dir = self.sessions_dir();
        fs::create_dir_all(&dir).map_err(|e| internal("creating the sessions directory", e))?;
        self.save_meta(key, meta)?;
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.part_path(key))
            .map_err(|e| internal("creating the session file", e))
    }

    /// Re-opens a session's data file (after a restart).
    pub fn open_part(&self, key: &str) -> Result<File, BitsError> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.part_path(key))
            .map_err(|e| internal("opening the session file", e))
    }

    /// Rewrites the sidecar atomically (write, fsync, rename).
    pub fn save_meta(&self, key: &str, meta: &SessionMeta) -> Result<(), BitsError> {
        let path = self.meta_path(key);
        let tmp = self.sessions_dir().join(format!("{key}.json.tmp"));
        let json = serde_json::to_vec(meta).map_err(|e| BitsError::Internal(e.to_string()))?;
        let write = || -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|e| internal("writing the session sidecar", e))
    }

    /// Removes a session's files (Cancel-Session, expiry).
    pub fn remove(&self, key: &str) {
        let _ = fs::remove_file(self.part_path(key));
        let _ = fs::remove_file(self.meta_path(key));
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
        match walk_dirs(&root, dirs, false)? {
            Some(dir) => check_dest(&dir.join(name), allow_overwrite),
            None => Ok(()),
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
    ) -> Result<PathBuf, BitsError> {
        file.sync_all()
            .map_err(|e| internal("syncing the session file", e))?;
        let root = self.root()?;
        let Some((name, dirs)) = path.split_last() else {
            return Err(BitsError::AccessDenied(
                "cannot upload to the share root".into(),
            ));
        };
        let dir = walk_dirs(&root, dirs, true)?
            .ok_or_else(|| BitsError::Internal("destination directory vanished".into()))?;
        let dest = dir.join(name);
        check_dest(&dest, allow_overwrite)?;
        fs::rename(self.part_path(key), &dest)
            .map_err(|e| internal("renaming the upload into place", e))?;
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        let _ = fs::remove_file(self.meta_path(key));
        Ok(dest)
    }

    /// Opens a file for download: inside the share after resolving
    /// symlinks, a regular file, not in the sessions directory.
    pub fn open_download(&self, path: &[String]) -> Result<(File, fs::Metadata), BitsError> {
        let root = self.root()?;
        let mut p = root.clone();
        for c in path {
            p.push(c);
        }
        let real = match p.canonicalize() {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BitsError::NotFound),
            Err(e) => return Err(internal("resolving the path", e)),
        };
        if !real.starts_with(&root) || real.starts_with(root.join(SESSIONS_DIR)) {
            return Err(BitsError::AccessDenied("path leaves the share".into()));
        }
        let meta = fs::metadata(&real).map_err(|e| internal("reading metadata", e))?;
        if meta.is_dir() {
            return Err(BitsError::AccessDenied(
                "directory listing is denied".into(),
            ));
        }
        if !meta.is_file() {
            return Err(BitsError::NotFound);
        }
        let f = File::open(&real).map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => BitsError::AccessDenied("permission denied".into()),
            _ => internal("opening the file", e),
        })?;
        Ok((f, meta))
    }
}

fn read_meta(p: &Path) -> Option<SessionMeta> {
    let f = File::open(p).ok()?;
    let mut buf = Vec::new();
    f.take(MAX_META).read_to_end(&mut buf).ok()?;
    let meta: SessionMeta = serde_json::from_slice(&buf).ok()?;
    crate::proto::is_valid_session_id(&meta.id).then_some(meta)
}

/// The destination must not be a directory, nor an existing file when
/// overwrites are off. A symlink there is replaced by the rename (the
/// link, not its target), so it cannot lead outside.
fn check_dest(dest: &Path, allow_overwrite: bool) -> Result<(), BitsError> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => Err(BitsError::AccessDenied(
            "the destination is a directory".into(),
        )),
        Ok(_) if !allow_overwrite => Err(BitsError::FileExists),
        _ => Ok(()),
    }
}

/// Walks `dirs` below `root` one component at a time, so no symlink can
/// lead outside the share: a symlinked directory is followed only if its
/// real path is inside `root`. Missing directories are created when
/// `create`, else the walk stops with `None`.
fn walk_dirs(root: &Path, dirs: &[String], create: bool) -> Result<Option<PathBuf>, BitsError> {
    let mut cur = root.to_path_buf();
    for c in dirs {
        let next = cur.join(c);
        match fs::symlink_metadata(&next) {
            Ok(m) if m.file_type().is_symlink() => {
                let real = next
                    .canonicalize()
                    .map_err(|_| BitsError::AccessDenied(format!("'{c}' is a dangling link")))?;
                if !real.starts_with(root) {
                    return Err(BitsError::AccessDenied("path leaves the share".into()));
                }
                if !real.is_dir() {
                    return Err(BitsError::AccessDenied(format!("'{c}' is not a directory")));
                }
                cur = real;
            }
            Ok(m) if m.is_dir() => cur = next,
            Ok(_) => {
                return Err(BitsError::AccessDenied(format!("'{c}' is not a directory")));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !create {
                    return Ok(None);
                }
                match fs::create_dir(&next) {
                    Ok(()) => cur = next,
                    // Made concurrently: walk it like an existing one.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        return walk_dirs(root, dirs, create);
                    }
                    Err(e) => return Err(internal("creating a directory", e)),
                }
            }
            Err(e) => return Err(internal("reading a directory", e)),
        }
    }
    Ok(Some(cur))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let dest = s
            .commit(key, &f, &["up".into(), "x.bin".into()], true)
            .unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"hello");
        assert!(s.load_all().is_empty());
        // Overwrite refused when off.
        assert_eq!(
            s.check_upload_target(&["up".into(), "x.bin".into()], false),
            Err(BitsError::FileExists)
        );
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
        std::os::unix::fs::symlink(share.join("in"), share.join("alias")).unwrap();
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
}
