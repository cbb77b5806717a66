//! The share as a jailed tree: the virtual layout of `vfs` over a cap-std
//! directory capability.
//!
//! Every file operation goes through [`cap_std::fs::Dir`] opened on the share
//! root, with a relative path made of plain components (never text from the
//! peer). cap-std resolves each component itself and refuses `..` past its
//! root and symlinks that lead outside it (absolute targets included), so a
//! symlink planted in the share by someone else cannot be followed out of it
//! either. The peer can only name what `vfs` lets through.

use crate::vfs::{Layout, PathError, Place, VPath, TMP_SHARE_DIR};
use cap_std::fs::{Dir, File, FileExt, Metadata, MetadataExt};
use fakedc_model::Clock;
use fakedc_model::Quota;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Prefix of the names fakedc keeps for itself in a share: hidden from
/// listings and refused as names, so no client can see or reach them by
/// name (the shell's `/tmp` directory, in-flight atomic uploads).
pub const RESERVED_PREFIX: &str = ".fakedc-";

/// Name prefix of in-flight atomic uploads (SFTP's opt-in
/// `atomic_uploads`): a partial upload never shows under any name a client
/// can see; only the rename at close publishes it.
pub const STAGING_PREFIX: &str = ".fakedc-partial-";

/// Whether a name is reserved (see [`RESERVED_PREFIX`]).
pub fn is_reserved_name(name: &str) -> bool {
    name.starts_with(RESERVED_PREFIX)
}

/// Entries a recursive walk (`rm -r`, `cp -r`, `scp -r`) visits at most.
pub const MAX_WALK_ENTRIES: usize = 100_000;
/// Directory depth a recursive walk descends at most.
pub const MAX_WALK_DEPTH: usize = 64;

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
    /// Dates listings (`ls -l`, SFTP longnames) and the synthetic
    /// directories.
    clock: Arc<Clock>,
    /// Shown as the time of the synthetic directories.
    started: i64,
}

impl Jail {
    /// Opens (creating if needed) the share at `root`, and the directory
    /// behind `/tmp` when the layout has one.
    pub fn open(root: &Path, layout: Layout, quota: Arc<Quota>) -> io::Result<Jail> {
        std::fs::create_dir_all(root)?;
        let dir = Dir::open_ambient_dir(root, cap_std::ambient_authority())?;
        let clock = Arc::new(Clock::new());
        if layout.has_tmp() {
            match dir.create_dir(TMP_SHARE_DIR) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
        }
        let started = clock.unix_secs() as i64;
        Ok(Jail {
            dir,
            layout,
            quota,
            root: root.to_path_buf(),
            clock,
            started,
        })
    }

    /// The same jail on the datacenter's clock (the model's).
    pub fn with_clock(mut self, clock: Arc<Clock>) -> Jail {
        self.started = clock.unix_secs() as i64;
        self.clock = clock;
        self
    }

    /// Seconds since the Unix epoch on the jail's clock.
    pub fn now_secs(&self) -> i64 {
        self.clock.unix_secs() as i64
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
        if let Some(space) = self.quota.space(&self.dir) {
            return Ok(space);
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

    /// The share-relative path of `p`, or the reason it has none. Reserved
    /// names are refused here, so no operation can reach one by name.
    pub fn share_path(&self, p: &VPath) -> Result<PathBuf, FsError> {
        if p.components().iter().any(|c| is_reserved_name(c)) {
            return Err(FsError::Denied);
        }
        match self.place(p) {
            Place::Share(rel) => Ok(rel),
            Place::Synthetic { .. } => Err(FsError::Denied),
            Place::Outside => Err(FsError::NotFound),
        }
    }

    /// The share-relative path of a name being created, changed or
    /// removed: outside the tree is "permission denied" (nothing can be made
    /// there), and neither a synthetic directory nor a mount point (the
    /// datastore, `/tmp`) can be removed, renamed or replaced.
    pub fn writable_path(&self, p: &VPath) -> Result<PathBuf, FsError> {
        if matches!(self.place(p), Place::Outside) || self.layout.is_mount_point(p) {
            return Err(FsError::Denied);
        }
        self.share_path(p)
    }

    /// Takes `bytes` of the quota (a file grows), or "No space left".
    pub fn reserve(&self, bytes: u64) -> Result<(), FsError> {
        self.quota
            .reserve(&self.dir, bytes)
            .map_err(|_| FsError::NoSpace)
    }

    /// Gives `bytes` back to the quota (a file shrank or went away).
    pub fn release(&self, bytes: u64) {
        self.quota.release(bytes)
    }

    /// Writes `data` at `offset` of `file`, whose length is `*len`,
    /// reserving the growth first; `*len` follows.
    pub fn write_at(
        &self,
        file: &File,
        len: &mut u64,
        offset: u64,
        data: &[u8],
    ) -> Result<(), FsError> {
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(FsError::NoSpace)?;
        let growth = end.saturating_sub(*len);
        self.reserve(growth)?;
        if let Err(e) = file.write_all_at(data, offset) {
            self.release(growth);
            return Err(e.into());
        }
        *len = (*len).max(end);
        Ok(())
    }

    /// Sets the length of `file` (currently `*len`), within the quota.
    pub fn set_len(&self, file: &File, len: &mut u64, new: u64) -> Result<(), FsError> {
        if new > *len {
            self.reserve(new - *len)?;
        }
        if let Err(e) = file.set_len(new) {
            if new > *len {
                self.release(new - *len);
            }
            return Err(e.into());
        }
        if new < *len {
            self.release(*len - new);
        }
        *len = new;
        Ok(())
    }

    /// Removes the file (or symlink) at `rel`, giving its bytes back.
    pub fn remove_file(&self, rel: &Path) -> Result<(), FsError> {
        let md = self.dir.symlink_metadata(rel)?;
        if md.is_dir() {
            return Err(FsError::IsDir);
        }
        self.dir.remove_file(rel)?;
        if md.is_file() {
            self.release(md.len());
        }
        Ok(())
    }

    /// Removes `rel` and everything under it (symlinks are removed, not
    /// followed), within [`MAX_WALK_ENTRIES`] and [`MAX_WALK_DEPTH`].
    pub fn remove_tree(&self, rel: &Path) -> Result<(), FsError> {
        let mut budget = MAX_WALK_ENTRIES;
        self.remove_tree_in(rel, 0, &mut budget)
    }

    fn remove_tree_in(&self, rel: &Path, depth: usize, budget: &mut usize) -> Result<(), FsError> {
        if *budget == 0 || depth > MAX_WALK_DEPTH {
            return Err(FsError::Io(io::Error::other("too many files")));
        }
        *budget -= 1;
        let md = self.dir.symlink_metadata(rel)?;
        if !md.is_dir() {
            return self.remove_file(rel);
        }
        let names: Vec<_> = self
            .dir
            .read_dir(rel)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .take(MAX_WALK_ENTRIES)
            .collect();
        for n in names {
            self.remove_tree_in(&rel.join(n), depth + 1, budget)?;
        }
        self.dir.remove_dir(rel)?;
        Ok(())
    }

    /// Renames `from` to `to` (both share-relative); `replace` allows an
    /// existing file at `to` to go (its bytes are given back).
    pub fn rename(&self, from: &Path, to: &Path, replace: bool) -> Result<(), FsError> {
        self.dir.symlink_metadata(from)?;
        let replaced = match self.dir.symlink_metadata(to) {
            Ok(_) if !replace => return Err(FsError::Exists),
            Ok(md) if md.is_file() => md.len(),
            _ => 0,
        };
        self.dir.rename(from, &self.dir, to)?;
        self.release(replaced);
        Ok(())
    }

    /// Attributes of `p`; `follow` follows a final symlink (stat vs lstat).
    pub fn stat(&self, p: &VPath, follow: bool) -> Result<Stat, FsError> {
        if p.components().iter().any(|c| is_reserved_name(c)) {
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
            Place::Synthetic { children } => Ok(Listing::Synthetic {
                children,
                time: self.started,
            }),
            Place::Outside => Err(FsError::NotFound),
            Place::Share(rel) => {
                if p.components().iter().any(|c| is_reserved_name(c)) {
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
        /// Not yet listed.
        children: Vec<String>,
        time: i64,
    },
    Share {
        dir: Dir,
        iter: cap_std::fs::ReadDir,
    },
}

impl Listing {
    /// Up to `max` more entries (name and lstat); empty at the end.
    /// Reserved names are skipped.
    pub fn next_batch(&mut self, max: usize) -> Vec<(String, Stat)> {
        let mut out = Vec::new();
        match self {
            Listing::Synthetic { children, time } => {
                for c in children.drain(..) {
                    out.push((c, Stat::synthetic_dir(*time)));
                }
            }
            Listing::Share { dir, iter } => {
                for entry in iter.by_ref() {
                    let Ok(entry) = entry else { continue };
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if is_reserved_name(&name) {
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
/// `longname` (ESXi's files are root's); `now` (Unix seconds) decides
/// between a time and a year.
pub fn long_line(name: &str, st: &Stat, now: i64) -> String {
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
        ls_date(st.mtime, now)
    )
}

/// `Jan 02 15:04` (or `Jan 02  2006` for files over six months from
/// `now`), like ls.
pub fn ls_date(t: i64, now: i64) -> String {
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
        assert_eq!(ls_date(0, 1_700_000_000), "Jan  1  1970");
        assert_eq!(ls_date(1_700_000_000, 1_700_000_100), "Nov 14 22:13");
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
