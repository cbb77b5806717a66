//! Virtual paths, sans-IO: what a client names, normalised lexically and
//! placed either in the share (the datastore), in one of the synthetic
//! directories above it (`/`, `/vmfs`, `/vmfs/volumes`), or nowhere.
//!
//! Normalisation is the first wall of the jail: `..` stops at the root, so
//! no sequence of components can name anything above `/`, and a path never
//! reaches the file system as text: it becomes a list of plain components
//! under the share. The second wall is the capability directory in `jail`,
//! which refuses symlinks that lead outside.

use std::path::PathBuf;

/// Longest path accepted (bytes), like Linux's PATH_MAX.
pub const MAX_PATH: usize = 4096;
/// Longest single name accepted (bytes), like Linux's NAME_MAX.
pub const MAX_NAME: usize = 255;
/// Most components a path may have after normalisation.
pub const MAX_DEPTH: usize = 128;

/// Why a client's path is refused before it reaches the file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("file name contains a NUL byte")]
    Nul,
    #[error("path too long")]
    TooLong,
    #[error("file name too long")]
    NameTooLong,
    #[error("path too deep")]
    TooDeep,
}

/// A normalised absolute virtual path: no empty, `.` or `..` components.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VPath(Vec<String>);

impl VPath {
    pub fn root() -> VPath {
        VPath(Vec::new())
    }

    /// From trusted components (configuration, not peers).
    pub fn from_components(parts: &[&str]) -> VPath {
        VPath(parts.iter().map(|s| s.to_string()).collect())
    }

    /// Resolves `input` against `base` lexically. An absolute input ignores
    /// `base`; `..` at the root stays at the root (as the kernel does for
    /// `/..`).
    pub fn parse(base: &VPath, input: &str) -> Result<VPath, PathError> {
        if input.len() > MAX_PATH {
            return Err(PathError::TooLong);
        }
        if input.contains('\0') {
            return Err(PathError::Nul);
        }
        let mut parts = if input.starts_with('/') {
            Vec::new()
        } else {
            base.0.clone()
        };
        for c in input.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                name => {
                    if name.len() > MAX_NAME {
                        return Err(PathError::NameTooLong);
                    }
                    parts.push(name.to_string());
                    if parts.len() > MAX_DEPTH {
                        return Err(PathError::TooDeep);
                    }
                }
            }
        }
        Ok(VPath(parts))
    }

    pub fn components(&self) -> &[String] {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn parent(&self) -> VPath {
        let mut p = self.0.clone();
        p.pop();
        VPath(p)
    }

    pub fn file_name(&self) -> Option<&str> {
        self.0.last().map(|s| s.as_str())
    }

    pub fn join(&self, name: &str) -> VPath {
        let mut p = self.0.clone();
        p.push(name.to_string());
        VPath(p)
    }

    pub fn starts_with(&self, prefix: &VPath) -> bool {
        self.0.len() >= prefix.0.len() && self.0[..prefix.0.len()] == prefix.0[..]
    }
}

impl std::fmt::Display for VPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for c in &self.0 {
            write!(f, "/{c}")?;
        }
        Ok(())
    }
}

/// Where a virtual path lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Inside the share; the relative on-disk path (`.` for the share root).
    Share(PathBuf),
    /// A synthetic directory above the mount points, with its children
    /// (sorted).
    Synthetic { children: Vec<String> },
    /// Not part of the tree.
    Outside,
}

/// The share directory that holds the host's `/tmp` when the layout has
/// one. Its name is reserved in the share (hidden and refused by name), so
/// it is reachable only as `/tmp`.
pub const TMP_SHARE_DIR: &str = ".fakedc-tmp";

/// The tree a host shows: the share mounted at one virtual directory
/// (`/vmfs/volumes/datastore1` on ESX and ESXi), and for the host's shell
/// also `/tmp`, kept in [`TMP_SHARE_DIR`] inside the share.
#[derive(Debug, Clone)]
pub struct Layout {
    mount: VPath,
    tmp: bool,
}

impl Layout {
    /// The ESX/ESXi layout for a datastore name.
    pub fn datastore(name: &str) -> Layout {
        Layout {
            mount: VPath::from_components(&["vmfs", "volumes", name]),
            tmp: false,
        }
    }

    /// The same layout with the host's `/tmp` (the shell's scratch space).
    pub fn with_tmp(mut self) -> Layout {
        self.tmp = true;
        self
    }

    /// Whether `/tmp` is mapped.
    pub fn has_tmp(&self) -> bool {
        self.tmp
    }

    /// The mount point, which is also where sessions start.
    pub fn mount(&self) -> &VPath {
        &self.mount
    }

    /// Whether `p` is a mount point (the datastore or `/tmp`): such a
    /// directory cannot be removed, renamed or replaced.
    pub fn is_mount_point(&self, p: &VPath) -> bool {
        *p == self.mount || (self.tmp && p.0.len() == 1 && p.0[0] == "tmp")
    }

    pub fn place(&self, p: &VPath) -> Place {
        if p.starts_with(&self.mount) {
            let rest = &p.0[self.mount.0.len()..];
            if rest.is_empty() {
                return Place::Share(PathBuf::from("."));
            }
            return Place::Share(rest.iter().collect());
        }
        if self.tmp && p.0.first().is_some_and(|c| c == "tmp") {
            let mut rel = PathBuf::from(TMP_SHARE_DIR);
            rel.extend(&p.0[1..]);
            return Place::Share(rel);
        }
        let mut children = Vec::new();
        if self.mount.starts_with(p) {
            children.push(self.mount.0[p.0.len()].clone());
        }
        if self.tmp && p.is_root() {
            children.push("tmp".to_string());
        }
        if children.is_empty() {
            return Place::Outside;
        }
        children.sort();
        children.dedup();
        Place::Synthetic { children }
    }

    /// The relative symlink target that makes a link at `link` point to
    /// `target`, when both are inside the share; `None` when the target is
    /// outside it (such links are refused). The link itself must be strictly
    /// below the mount point: a link *at* the mount lives in the synthetic
    /// directory above the share, so its text would be resolved from outside
    /// the datastore (`datastore1/x`, one level above the share on disk).
    pub fn relative_target(&self, link: &VPath, target: &VPath) -> Option<String> {
        if link.0.len() <= self.mount.0.len()
            || !link.starts_with(&self.mount)
            || !target.starts_with(&self.mount)
        {
            return None;
        }
        let from = &link.parent().0;
        let to = &target.0;
        let common = from
            .iter()
            .zip(to.iter())
            .take_while(|(a, b)| a == b)
            .count();
        let mut parts: Vec<&str> = vec![".."; from.len() - common];
        parts.extend(to[common..].iter().map(|s| s.as_str()));
        if parts.is_empty() {
            return Some(".".into());
        }
        Some(parts.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(base: &VPath, s: &str) -> VPath {
        VPath::parse(base, s).expect("valid path")
    }

    #[test]
    fn dotdot_stops_at_root() {
        let home = VPath::from_components(&["vmfs", "volumes", "datastore1"]);
        assert_eq!(p(&home, "../../etc/passwd").to_string(), "/vmfs/etc/passwd");
        assert_eq!(
            p(&home, "../../../../../../etc/passwd").to_string(),
            "/etc/passwd"
        );
        assert_eq!(p(&home, "/../..").to_string(), "/");
        assert_eq!(
            p(&home, "a/./b//c/..").to_string(),
            "/vmfs/volumes/datastore1/a/b"
        );
        assert_eq!(p(&home, "").to_string(), "/vmfs/volumes/datastore1");
    }

    #[test]
    fn refuses_nul_and_oversize() {
        let r = VPath::root();
        assert_eq!(VPath::parse(&r, "a\0b"), Err(PathError::Nul));
        assert_eq!(
            VPath::parse(&r, &"x".repeat(MAX_PATH + 1)),
            Err(PathError::TooLong)
        );
        assert_eq!(
            VPath::parse(&r, &"x".repeat(MAX_NAME + 1)),
            Err(PathError::NameTooLong)
        );
        assert_eq!(
            VPath::parse(&r, &"a/".repeat(MAX_DEPTH + 1)),
            Err(PathError::TooDeep)
        );
    }

    #[test]
    fn places() {
        let l = Layout::datastore("datastore1");
        let r = VPath::root();
        assert_eq!(
            l.place(&r),
            Place::Synthetic {
                children: vec!["vmfs".into()]
            }
        );
        assert_eq!(
            l.place(&p(&r, "/vmfs/volumes")),
            Place::Synthetic {
                children: vec!["datastore1".into()]
            }
        );
        assert_eq!(
            l.place(&p(&r, "/vmfs/volumes/datastore1")),
            Place::Share(".".into())
        );
        assert_eq!(
            l.place(&p(&r, "/vmfs/volumes/datastore1/vm/a.vmdk")),
            Place::Share("vm/a.vmdk".into())
        );
        assert_eq!(l.place(&p(&r, "/etc/passwd")), Place::Outside);
        assert_eq!(l.place(&p(&r, "/vmfs/volumes/datastore2")), Place::Outside);
        assert_eq!(l.place(&p(&r, "/tmp/x")), Place::Outside);
        // The shell's layout adds /tmp, kept in a reserved share directory.
        let t = Layout::datastore("datastore1").with_tmp();
        assert_eq!(
            t.place(&r),
            Place::Synthetic {
                children: vec!["tmp".into(), "vmfs".into()]
            }
        );
        assert_eq!(t.place(&p(&r, "/tmp")), Place::Share(TMP_SHARE_DIR.into()));
        assert_eq!(
            t.place(&p(&r, "/tmp/a/b")),
            Place::Share(PathBuf::from(TMP_SHARE_DIR).join("a/b"))
        );
        assert!(t.is_mount_point(&p(&r, "/tmp")));
        assert!(t.is_mount_point(t.mount()));
        assert!(!t.is_mount_point(&p(&r, "/tmp/a")));
        assert!(!l.is_mount_point(&p(&r, "/tmp")));
        assert_eq!(t.place(&p(&r, "/etc")), Place::Outside);
    }

    #[test]
    fn symlink_targets_stay_inside() {
        let l = Layout::datastore("ds");
        let r = VPath::root();
        let link = p(&r, "/vmfs/volumes/ds/b/link");
        assert_eq!(
            l.relative_target(&link, &p(&r, "/vmfs/volumes/ds/a/file")),
            Some("../a/file".into())
        );
        assert_eq!(
            l.relative_target(&link, &p(&r, "/vmfs/volumes/ds/b")),
            Some(".".into())
        );
        assert_eq!(l.relative_target(&link, &r), None);
        assert_eq!(l.relative_target(&link, &p(&r, "/etc")), None);
    }

    /// Found by the `ssh/vfs` fuzz target (input `"\x01/vmfs/volumes/ds/c"`
    /// with the datastore `ds`: a link at the home directory itself): the
    /// link's directory is `/vmfs/volumes`, above the share, and the text
    /// `ds/c` computed from there would be resolved from the share's parent
    /// on disk. SFTP refused the share root as a link name before reaching
    /// this, but the function promised a target inside the share.
    #[test]
    fn no_symlink_target_for_a_link_at_the_mount() {
        let l = Layout::datastore("ds");
        let r = VPath::root();
        let mount = l.mount().clone();
        assert_eq!(
            l.relative_target(&mount, &p(&r, "/vmfs/volumes/ds/c")),
            None
        );
        assert_eq!(l.relative_target(&mount, &mount), None);
        assert_eq!(
            l.relative_target(&p(&r, "/vmfs/volumes/ds/l"), &mount),
            Some(".".into())
        );
    }
}
