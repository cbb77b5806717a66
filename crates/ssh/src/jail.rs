//! The share as a jailed tree: the virtual layout of `vfs` over a cap-std
//! directory capability.
//!
//! Every file operation goes through [`cap_std::fs::Dir`] opened on the share
//! root, with a relative path made of plain components (never text from the
//! peer). cap-std resolves each component itself and refuses `..` past its
//! root and symlinks that lead outside it (absolute targets included), so a
//! symlink planted in the share by someone else cannot be followed out of it
//! either. The peer can only name what `vfs` lets through.

use crate::quota::Quota;
use crate::vfs::{Layout, PathError, Place, VPath};
use cap_std::fs::{Dir, Metadata, MetadataExt};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Name prefix of in-flight uploads. Such files are hidden from listings and
/// refused as names, so a partial upload never shows under any name a client
/// can see; only the rename at close publishes it.
pub const STAGING_PREFIX: &str = ".fakedc-partial-";

/// Whether a name is reserved for in-flight uploads.
pub fn is_staging_name(name: &str) -> bool {
    name.starts_with(STAGING_PREFIX)
}

/// A file-system error as the protocols report it.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("No such file or directory")]
    NotFound,
    /// Outside the tree, a synthetic directory, a staging name, or a symlink
    /// that leads out of the share.
    #[error("Permission denied")]
    Denied,
    #[error("File exists")]
    Exists,
    #[error("Not a directory")]
    NotDir,
    #[error("Is a directory")]
    IsDir,
    #[error("Directory not empty")]
    NotEmpty,
    #[error("No space left on device")]
    NoSpace,
    #[error("{0}")]
    Io(io::Error),
}

impl From<io::Error> for FsError {
    fn from(e: io::Error) -> FsError {
        use io::ErrorKind as K;
        match e.kind() {
            K::NotFound => FsError::NotFound,
            K::PermissionDenied => FsError::Denied,
            K::AlreadyExists => FsError::Exists,
            K::NotADirectory => FsError::NotDir,
            K::IsADirectory => FsError::IsDir,
            K::DirectoryNotEmpty => FsError::NotEmpty,
            K::StorageFull | K::QuotaExceeded | K::FileTooLarge => FsError::NoSpace,
            _ => match e.raw_os_error() {
                // ELOOP: a symlink chain cap-std refused to follow.
                Some(40) => FsError::Denied,
                _ => FsError::Io(e),
            },
        }
    }
}

/// What kind of thing a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

/// The attributes both SFTP and the shell show.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    pub kind: Kind,
    pub size: u64,
    /// Full `st_mode` (type and permission bits).
    pub mode: u32,
    pub nlink: u64,
    pub atime: i64,
    pub mtime: i64,
}

impl Stat {
    pub fn from_metadata(md: &Metadata) -> Stat {
        let ft = md.file_type();
        let kind = if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File
        } else {
            Kind::Other
        };
        Stat {
            kind,
            size: md.len(),
            mode: md.mode(),
            nlink: md.nlink(),
            atime: md.atime(),
            mtime: md.mtime(),
        }
    }

    /// A synthetic directory (`/`, `/vmfs`, `/vmfs/volumes`): read-only.
    pub fn synthetic_dir(time: i64) -> Stat {
        Stat {
            kind: Kind::Dir,
            size: 512,
            mode: 0o040555,
            nlink: 3,
            atime: time,
            mtime: time,
        }
    }
}

/// One machine's share, opened as a capability.
pub struct Jail {
    dir: Dir,
    layout: Layout,
    quota: Arc<Quota>,
    root: PathBuf,
    /// Shown as the time of the synthetic directories.
    started: i64,
}

impl Jail {
    /// Opens (creating if needed) the share at `root`.
    pub fn open(root: &Path, layout: Layout, quota: Arc<Quota>) -> io::Result<Jail> {
        std::fs::create_dir_all(root)?;
        let dir = Dir::open_ambient_dir(root, cap_std::ambient_authority())?;
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Ok(Jail {
            dir,
            layout,
            quota,
            root: root.to_path_buf(),
            started,
        })
    }

    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn quota(&self) -> &Quota {
        &self.quota
    }

    /// (size, free) of the datastore in bytes: the quota when there is one
    /// (what a datastore of that size reports), else the file system the
    /// share lives on. SFTP's statvfs and the ESXi shell's `df` agree.
    pub fn space(&self) -> io::Result<(u64, u64)> {
        if let Some(limit) = self.quota.limit() {
            let used = self.quota.used(&self.dir);
            return Ok((limit, limit.saturating_sub(used)));
        }
        let sv = rustix::fs::statvfs(&self.root)?;
        Ok((
            sv.f_blocks.saturating_mul(sv.f_frsize),
            sv.f_bavail.saturating_mul(sv.f_frsize),
        ))
    }

    /// The share's real path (for statvfs only; never opened by path).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where sessions start: the datastore.
    pub fn home(&self) -> &VPath {
        self.layout.mount()
    }

    pub fn place(&self, p: &VPath) -> Place {
        self.layout.place(p)
    }

    /// The share-relative path of `p`, or the reason it has none. Staging
    /// names are refused here, so no operation can reach one by name.
    pub fn share_path(&self, p: &VPath) -> Result<PathBuf, FsError> {
        if p.components().iter().any(|c| is_staging_name(c)) {
            return Err(FsError::Denied);
        }
        match self.place(p) {
            Place::Share(rel) => Ok(rel),
            Place::Synthetic { .. } => Err(FsError::Denied),
            Place::Outside => Err(FsError::NotFound),
        }
    }

    /// Attributes of `p`; `follow` follows a final symlink (stat vs lstat).
    pub fn stat(&self, p: &VPath, follow: bool) -> Result<Stat, FsError> {
        if p.components().iter().any(|c| is_staging_name(c)) {
            return Err(FsError::NotFound);
        }
        match self.place(p) {
            Place::Synthetic { .. } => Ok(Stat::synthetic_dir(self.started)),
            Place::Outside => Err(FsError::NotFound),
            Place::Share(rel) => {
                let md = if follow {
                    self.dir.metadata(&rel)?
                } else {
                    self.dir.symlink_metadata(&rel)?
                };
                Ok(Stat::from_metadata(&md))
            }
        }
    }

    /// Opens a directory for listing.
    pub fn list(&self, p: &VPath) -> Result<Listing, FsError> {
        match self.place(p) {
            Place::Synthetic { child } => Ok(Listing::Synthetic {
                child: Some(child),
                time: self.started,
            }),
            Place::Outside => Err(FsError::NotFound),
            Place::Share(rel) => {
                if p.components().iter().any(|c| is_staging_name(c)) {
                    return Err(FsError::NotFound);
                }
                let sub = self.dir.open_dir(&rel)?;
                let iter = sub.entries()?;
                Ok(Listing::Share { dir: sub, iter })
            }
        }
    }
}

/// A directory being listed.
pub enum Listing {
    Synthetic {
        child: Option<String>,
        time: i64,
    },
    Share {
        dir: Dir,
        iter: cap_std::fs::ReadDir,
    },
}

impl Listing {
    /// Up to `max` more entries (name and lstat); empty at the end. Staging
    /// files are skipped.
    pub fn next_batch(&mut self, max: usize) -> Vec<(String, Stat)> {
        let mut out = Vec::new();
        match self {
            Listing::Synthetic { child, time } => {
                if let Some(c) = child.take() {
                    out.push((c, Stat::synthetic_dir(*time)));
                }
            }
            Listing::Share { dir, iter } => {
                for entry in iter.by_ref() {
                    let Ok(entry) = entry else { continue };
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if is_staging_name(&name) {
                        continue;
                    }
                    let st = match dir.symlink_metadata(&name) {
                        Ok(md) => Stat::from_metadata(&md),
                        Err(_) => continue,
                    };
                    out.push((name, st));
                    if out.len() >= max {
                        break;
                    }
                }
            }
        }
        out
    }
}

/// `ls -l` style line for a name, as OpenSSH's sftp-server sends it in
/// `longname` (ESXi's files are root's).
pub fn long_line(name: &str, st: &Stat) -> String {
    let t = match st.kind {
        Kind::Dir => 'd',
        Kind::Symlink => 'l',
        Kind::File => '-',
        Kind::Other => '?',
    };
    let mut perms = String::with_capacity(9);
    for shift in [6u32, 3, 0] {
        let bits = (st.mode >> shift) & 7;
        perms.push(if bits & 4 != 0 { 'r' } else { '-' });
        perms.push(if bits & 2 != 0 { 'w' } else { '-' });
        perms.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    format!(
        "{t}{perms} {:>4} root     root     {:>12} {} {name}",
        st.nlink.min(9999),
        st.size,
        ls_date(st.mtime)
    )
}

/// `Jan 02 15:04` (or `Jan 02  2006` for old files), like ls.
pub fn ls_date(t: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let dt =
        time::OffsetDateTime::from_unix_timestamp(t).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let month = &dt.month().to_string()[..3];
    if (now - t).abs() > 182 * 86_400 {
        format!("{month} {:>2}  {:>4}", dt.day(), dt.year())
    } else {
        format!(
            "{month} {:>2} {:02}:{:02}",
            dt.day(),
            dt.hour(),
            dt.minute()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(ls_date(0), "Jan  1  1970");
    }

    #[test]
    fn jail_refuses_planted_symlinks() {
        let root = std::env::temp_dir().join(format!("fakedc-jail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("mkdir");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/", root.join("escape")).expect("symlink");
            std::os::unix::fs::symlink("../../../../etc", root.join("up")).expect("symlink");
        }
        let jail = Jail::open(
            &root,
            Layout::datastore("datastore1"),
            Arc::new(Quota::new(None)),
        )
        .expect("open");
        let home = jail.home().clone();
        for bad in ["escape/etc/passwd", "up/passwd"] {
            let p = VPath::parse(&home, bad).expect("path");
            let rel = jail.share_path(&p).expect("inside lexically");
            assert!(
                jail.dir().open(&rel).is_err(),
                "{bad} was opened through a symlink"
            );
        }
        let out = VPath::parse(&home, "../../../etc/passwd").expect("path");
        assert!(matches!(jail.share_path(&out), Err(FsError::NotFound)));
        let staging = VPath::parse(&home, ".fakedc-partial-1").expect("path");
        assert!(matches!(jail.share_path(&staging), Err(FsError::Denied)));
        let _ = std::fs::remove_dir_all(&root);
    }
}
