//! Datastore file transfer (`/folder/<path>?dcPath=&dsName=`) and the
//! datastore browser's search, on the same share SFTP and the ESXi shell
//! serve.
//!
//! Every path is opened relative to a cap-std `Dir` on the share root, so
//! `..`, absolute paths and symlinks out of the share are refused at the
//! open itself (as BITS and SFTP do). Uploads are written under a hidden
//! staging name (`.fakedc-partial-…`, which SFTP and the shell never show)
//! and renamed onto the target when complete: a reader never sees half a
//! file, and a dropped upload leaves nothing behind. Anonymous requests get
//! a 401: the session cookie or Basic is required, unlike vcsim.

use crate::inventory::Kind;
use crate::sdk::Sdk;
use crate::soap::VimFault;
use crate::value::{Data, Value};
use cap_std::fs::Dir;
use fakedc_model::Quota;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Names fakedc keeps for itself in a share (SFTP hides them too).
pub const RESERVED_PREFIX: &str = ".fakedc-";
/// Largest upload accepted.
pub const MAX_UPLOAD: u64 = 8 * 1024 * 1024 * 1024;
/// Longest path accepted (bytes, decoded).
pub const MAX_PATH: usize = 1024;
/// Most entries one datastore search returns.
pub const MAX_ENTRIES: usize = 10_000;

/// Why a `/folder` request failed (mapped to HTTP statuses).
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("bad request: {0}")]
    Bad(String),
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("too large")]
    TooLarge,
    /// The datastore's share quota (the machine's, which SFTP, SMB and
    /// BITS count against too) has no room for the upload.
    #[error("datastore full")]
    Full,
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Decodes `%XX` escapes and `+` (query strings); refuses bad escapes and
/// non-UTF-8.
pub fn percent_decode(s: &str, plus: bool) -> Option<String> {
    String::from_utf8(fakedc_net::url::percent_decode(s, plus)?).ok()
}

/// A query parameter's decoded value.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| percent_decode(v, true)).flatten()
    })
}

/// A datastore-relative path checked lexically: no empty, `.`, `..` or
/// reserved component, no NUL or backslash.
pub fn check_path(p: &str) -> Result<PathBuf, FolderError> {
    if p.len() > MAX_PATH {
        return Err(FolderError::Bad("path too long".into()));
    }
    let mut out = PathBuf::new();
    for c in p.split('/').filter(|c| !c.is_empty()) {
        if c == "." || c == ".." || c.contains('\0') || c.contains('\\') {
            return Err(FolderError::Bad(format!("invalid path component '{c}'")));
        }
        if c.starts_with(RESERVED_PREFIX) {
            return Err(FolderError::NotFound);
        }
        out.push(c);
    }
    Ok(out)
}

impl Sdk {
    /// The share of the datastore named `ds` (and the datacenter given),
    /// as a capability.
    pub fn datastore_dir(&self, dc: Option<&str>, ds: &str) -> Result<Dir, FolderError> {
        self.datastore_share(dc, ds).map(|(dir, _)| dir)
    }

    /// [`Sdk::datastore_dir`] with the share's quota, for writes.
    pub fn datastore_share(
        &self,
        dc: Option<&str>,
        ds: &str,
    ) -> Result<(Dir, Arc<Quota>), FolderError> {
        if let Some(dc) = dc {
            // The datacenter's inventory path: pyvmomi sends its name,
            // govc the path from the root folder (`/ha-datacenter`).
            if dc.strip_prefix('/').unwrap_or(dc) != self.inv.obj(self.inv.datacenter).name {
                return Err(FolderError::NotFound);
            }
        }
        let host = self
            .inv
            .hosts
            .iter()
            .find(|h| self.inv.obj(h.datastore).name == ds)
            .ok_or(FolderError::NotFound)?;
        let root = self
            .model
            .machine(host.machine)
            .share
            .clone()
            .ok_or(FolderError::NotFound)?;
        std::fs::create_dir_all(&root)?;
        Ok((
            Dir::open_ambient_dir(&root, cap_std::ambient_authority())?,
            self.model.share_quota(host.machine),
        ))
    }

    fn datastore_of_path(&self, path: &str) -> Option<(String, String)> {
        // "[datastore1] dir/sub"
        let rest = path.trim().strip_prefix('[')?;
        let (ds, rel) = rest.split_once(']')?;
        Some((ds.to_string(), rel.trim().to_string()))
    }
}

/// A staging name beside the target.
pub fn staging_name() -> String {
    use rand::Rng;
    format!(
        "{RESERVED_PREFIX}partial-{:016x}",
        rand::thread_rng().gen::<u64>()
    )
}

/// Writes `chunks` as they come into a staging file, then renames it onto
/// `rel`; returns whether the file existed before. Each chunk's bytes are
/// reserved from the share's quota before they are written; an upload
/// that ends unpublished gives them back.
pub struct Upload {
    dir: Dir,
    staging: PathBuf,
    target: PathBuf,
    file: Option<cap_std::fs::File>,
    written: u64,
    quota: Arc<Quota>,
}

impl Upload {
    pub fn start(dir: Dir, rel: PathBuf, quota: Arc<Quota>) -> Result<Upload, FolderError> {
        if rel.as_os_str().is_empty() {
            return Err(FolderError::Bad("no file name".into()));
        }
        let parent = rel.parent().map(Path::to_path_buf).unwrap_or_default();
        if !parent.as_os_str().is_empty() && !dir.is_dir(&parent) {
            return Err(FolderError::NotFound);
        }
        if dir.is_dir(&rel) {
            return Err(FolderError::Forbidden);
        }
        let staging = parent.join(staging_name());
        let file = dir.create(&staging)?;
        Ok(Upload {
            dir,
            staging,
            target: rel,
            file: Some(file),
            written: 0,
            quota,
        })
    }

    pub fn write(&mut self, data: &[u8]) -> Result<(), FolderError> {
        if self.written + data.len() as u64 > MAX_UPLOAD {
            return Err(FolderError::TooLarge);
        }
        if self.file.is_some() {
            self.quota
                .reserve(&self.dir, data.len() as u64)
                .map_err(|_| FolderError::Full)?;
        }
        self.written += data.len() as u64;
        match &mut self.file {
            Some(f) => Ok(f.write_all(data)?),
            None => Err(FolderError::NotFound),
        }
    }

    /// Publishes the file; `true` when it replaced one.
    pub fn finish(mut self) -> Result<bool, FolderError> {
        if let Some(f) = self.file.take() {
            f.sync_all()?;
        }
        let replaced = fakedc_model::quota::file_len(&self.dir, &self.target);
        let existed = self.dir.exists(&self.target);
        self.dir.rename(&self.staging, &self.dir, &self.target)?;
        self.quota.release(replaced);
        Ok(existed)
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.file.is_some() {
            self.file = None;
            if self.dir.remove_file(&self.staging).is_ok() {
                self.quota.release(self.written);
            }
        }
    }
}

/// Opens a file for download: the file and its length.
pub fn open_read(dir: &Dir, rel: &Path) -> Result<(std::fs::File, u64), FolderError> {
    if rel.as_os_str().is_empty() {
        return Err(FolderError::NotFound);
    }
    let f = dir.open(rel).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => FolderError::NotFound,
        std::io::ErrorKind::PermissionDenied => FolderError::Forbidden,
        _ => FolderError::Io(e),
    })?;
    let meta = f.metadata()?;
    if meta.is_dir() {
        return Err(FolderError::NotFound);
    }
    Ok((f.into_std(), meta.len()))
}

/// Reads up to `n` bytes.
pub fn read_chunk(f: &mut std::fs::File, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        let r = f.read(&mut buf[got..])?;
        if r == 0 {
            break;
        }
        got += r;
    }
    buf.truncate(got);
    Ok(buf)
}

fn glob(pattern: &str, name: &str) -> bool {
    // `*` and `?` as the datastore browser's matchPattern.
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// `SearchDatastore_Task` / `SearchDatastoreSubFolders_Task`: files under
/// `[ds] path` matching the patterns, as `HostDatastoreBrowserSearchResults`.
pub fn search(
    sdk: &Sdk,
    path: &str,
    patterns: &[String],
    recursive: bool,
) -> Result<Value, VimFault> {
    let not_found =
        || VimFault::new("FileNotFound", format!("File {path} was not found")).with("file", path);
    let (ds, rel) = sdk
        .datastore_of_path(path)
        .ok_or_else(|| VimFault::invalid_argument("datastorePath"))?;
    let dir = sdk.datastore_dir(None, &ds).map_err(|_| not_found())?;
    let rel = check_path(&rel).map_err(|_| not_found())?;
    let ds_mo = sdk
        .inv
        .hosts
        .iter()
        .map(|h| sdk.inv.obj(h.datastore))
        .find(|o| o.name == ds && matches!(o.kind, Kind::Datastore(_)))
        .map(|o| o.mo.clone());
    let mut results = Vec::new();
    let mut queue = vec![rel];
    let mut total = 0usize;
    while let Some(d) = queue.pop() {
        let sub = if d.as_os_str().is_empty() {
            dir.try_clone().map_err(|_| not_found())?
        } else {
            dir.open_dir(&d).map_err(|_| not_found())?
        };
        let mut files = Vec::new();
        let entries = sub.entries().map_err(|_| not_found())?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with(RESERVED_PREFIX) {
                continue;
            }
            total += 1;
            if total > MAX_ENTRIES {
                break;
            }
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() && recursive {
                queue.push(d.join(&name));
            }
            if !patterns.is_empty() && !patterns.iter().any(|p| glob(p, &name)) {
                continue;
            }
            let modified = meta.modified().ok().map(|m| m.into_std());
            let fi = Data::new(if meta.is_dir() {
                "FolderFileInfo"
            } else {
                "FileInfo"
            })
            .with("path", name)
            .with("fileSize", meta.len() as i64)
            .opt("modification", modified);
            files.push(Value::Data(fi));
        }
        files.sort_by(|a, b| {
            let n = |v: &Value| match v.descend("path") {
                Some(Value::Str(s)) => s.clone(),
                _ => String::new(),
            };
            n(a).cmp(&n(b))
        });
        let folder = if d.as_os_str().is_empty() {
            format!("[{ds}]")
        } else {
            format!("[{ds}] {}", d.display())
        };
        results.push(Value::Data(
            Data::new("HostDatastoreBrowserSearchResults")
                .opt("datastore", ds_mo.clone())
                .with("folderPath", folder)
                .with("file", Value::Array(files)),
        ));
        if !recursive {
            break;
        }
    }
    if recursive {
        Ok(Value::Array(results))
    } else {
        results.pop().ok_or_else(not_found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries() {
        assert!(check_path("../etc/passwd").is_err());
        assert!(check_path("a/./b").is_err());
        assert!(check_path(".fakedc-partial-1").is_err());
        assert_eq!(check_path("/a//b").expect("ok"), PathBuf::from("a/b"));
        assert_eq!(
            query_param("dcPath=ha-datacenter&dsName=datastore%201", "dsName").as_deref(),
            Some("datastore 1")
        );
        assert!(percent_decode("%zz", false).is_none());
        assert!(glob("*.vmx", "a.vmx"));
        assert!(!glob("*.vmx", "a.vmdk"));
        assert!(glob("a?c", "abc"));
    }
}
