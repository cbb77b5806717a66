//! The machine's `C:` drive: Windows paths mapped onto the share through
//! its cap-std `Dir` (the jail SMB, BITS and SFTP use, so `C:\x.txt` here
//! is `\\host\C$\x.txt` over SMB). Names match case-insensitively, as on
//! NTFS, by looking a component up in its directory when the exact name
//! is not there.

use crate::{ErrorCategory, ErrorRecord};
use cap_std::fs::Dir;
use std::io;
use std::path::PathBuf;

/// A path inside the share: its components, and the Windows path for
/// messages (`C:\Users\x`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SharePath {
    pub parts: Vec<String>,
}

impl SharePath {
    pub(crate) fn windows(&self) -> String {
        if self.parts.is_empty() {
            return "C:\\".into();
        }
        format!("C:\\{}", self.parts.join("\\"))
    }

    pub(crate) fn rel(&self) -> PathBuf {
        if self.parts.is_empty() {
            return PathBuf::from(".");
        }
        self.parts.iter().collect()
    }

    pub(crate) fn name(&self) -> String {
        self.parts.last().cloned().unwrap_or_default()
    }

    pub(crate) fn parent(&self) -> SharePath {
        let mut p = self.parts.clone();
        p.pop();
        SharePath { parts: p }
    }

    pub(crate) fn join(&self, name: &str) -> SharePath {
        let mut p = self.parts.clone();
        p.push(name.to_string());
        SharePath { parts: p }
    }
}

pub(crate) fn not_found(path: &str) -> ErrorRecord {
    ErrorRecord::new(
        "System.Management.Automation.ItemNotFoundException",
        format!("Cannot find path '{path}' because it does not exist."),
        "PathNotFound",
        ErrorCategory::ObjectNotFound,
    )
    .with_target(path, "String")
}

/// Windows path → share path, relative paths from `location`.
pub(crate) fn resolve(location: &str, path: &str) -> Result<SharePath, ErrorRecord> {
    let mut p = path.trim().trim_matches('"').replace('/', "\\");
    for prefix in ["Microsoft.PowerShell.Core\\FileSystem::", "FileSystem::"] {
        if p.len() >= prefix.len() && p[..prefix.len()].eq_ignore_ascii_case(prefix) {
            p = p[prefix.len()..].to_string();
        }
    }
    let abs = if p.len() >= 2 && p.as_bytes()[1] == b':' {
        let drive = p.as_bytes()[0].to_ascii_uppercase();
        if drive != b'C' {
            let d = (drive as char).to_string();
            return Err(ErrorRecord::new(
                "System.Management.Automation.DriveNotFoundException",
                format!("Cannot find drive. A drive with the name '{d}' does not exist."),
                "DriveNotFound",
                ErrorCategory::ObjectNotFound,
            )
            .with_target(&d, "String"));
        }
        p[2..].to_string()
    } else if p.starts_with("\\\\") {
        return Err(ErrorRecord::not_implemented(&format!("UNC paths ({p})")));
    } else if p.starts_with('\\') {
        p.clone()
    } else {
        let loc = location.get(2..).unwrap_or("");
        format!("{loc}\\{p}")
    };
    let mut parts: Vec<String> = Vec::new();
    for c in abs.split('\\') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => {
                if c.contains(['*', '?', '<', '>', '|', '\0']) {
                    return Err(ErrorRecord::new(
                        "System.ArgumentException",
                        "Illegal characters in path.",
                        "System.ArgumentException",
                        ErrorCategory::InvalidArgument,
                    ));
                }
                // Trailing dots and spaces are dropped by Windows.
                let t = c.trim_end_matches([' ', '.']);
                if !t.is_empty() {
                    parts.push(t.to_string());
                }
            }
        }
    }
    Ok(SharePath { parts })
}

/// The share path with each component's on-disk spelling (case-insensitive
/// match); components that do not exist keep their spelling.
pub(crate) fn canonical(dir: &Dir, p: &SharePath) -> SharePath {
    let mut out: Vec<String> = Vec::new();
    let mut exists = true;
    for c in &p.parts {
        if exists {
            let parent = SharePath { parts: out.clone() };
            let cand = parent.join(c);
            if dir.symlink_metadata(cand.rel()).is_ok() {
                out.push(c.clone());
                continue;
            }
            let found = dir.read_dir(parent.rel()).ok().and_then(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .find(|n| n.eq_ignore_ascii_case(c))
            });
            match found {
                Some(n) => {
                    out.push(n);
                    continue;
                }
                None => exists = false,
            }
        }
        out.push(c.clone());
    }
    SharePath { parts: out }
}

/// An I/O error as PowerShell words it for this path.
pub(crate) fn io_error(e: &io::Error, path: &str, write: bool) -> ErrorRecord {
    match e.kind() {
        io::ErrorKind::NotFound => not_found(path),
        io::ErrorKind::PermissionDenied => ErrorRecord::new(
            "System.UnauthorizedAccessException",
            format!("Access to the path '{path}' is denied."),
            "System.UnauthorizedAccessException",
            ErrorCategory::PermissionDenied,
        )
        .with_target(path, "String"),
        _ => ErrorRecord::new(
            "System.IO.IOException",
            format!("The process cannot access the file '{path}': {e}"),
            "System.IO.IOException",
            if write {
                ErrorCategory::WriteError
            } else {
                ErrorCategory::ReadError
            },
        )
        .with_target(path, "String"),
    }
}

/// Moves the machine's share quota (the one SMB, BITS and SFTP count
/// against) from `old` to `new` bytes before a write changes a file's size:
/// a write that does not fit fails whole, with nothing written, as NTFS
/// under an FSRM hard quota refuses it with ERROR_DISK_FULL.
pub(crate) fn resize(
    ctx: &crate::HostContext,
    dir: &Dir,
    old: u64,
    new: u64,
    path: &str,
) -> Result<(), ErrorRecord> {
    ctx.model
        .share_quota(ctx.machine)
        .resize(dir, old, new)
        .map_err(|_| disk_full(path))
}

/// Gives `bytes` back to the machine's share quota (a file went away).
pub(crate) fn release(ctx: &crate::HostContext, bytes: u64) {
    ctx.model.share_quota(ctx.machine).release(bytes);
}

pub(crate) use fakedc_model::quota::file_len;

/// ERROR_DISK_FULL (0x80070070) as .NET words it.
pub(crate) fn disk_full(path: &str) -> ErrorRecord {
    ErrorRecord::new(
        "System.IO.IOException",
        "There is not enough space on the disk.\r\n",
        "System.IO.IOException",
        ErrorCategory::WriteError,
    )
    .with_target(path, "String")
}

/// The share, or PowerShell's error for a machine without one.
pub(crate) fn share<'a>(
    d: &'a Option<std::sync::Arc<Dir>>,
    path: &str,
) -> Result<&'a Dir, ErrorRecord> {
    d.as_deref().ok_or_else(|| {
        ErrorRecord::new(
            "System.IO.DirectoryNotFoundException",
            format!("Could not find a part of the path '{path}': this machine has no share configured in the scenario."),
            "DirectoryNotFound",
            ErrorCategory::ObjectNotFound,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_paths_map_into_the_share() {
        let loc = "C:\\Users\\Administrator\\Documents";
        assert_eq!(
            resolve(loc, "C:\\temp\\a.txt").map(|p| p.parts),
            Ok(vec!["temp".to_string(), "a.txt".to_string()])
        );
        assert_eq!(
            resolve(loc, "..\\x").map(|p| p.windows()),
            Ok("C:\\Users\\Administrator\\x".to_string())
        );
        assert_eq!(
            resolve(loc, "C:\\..\\..\\etc\\passwd").map(|p| p.windows()),
            Ok("C:\\etc\\passwd".to_string())
        );
        assert!(resolve(loc, "D:\\x").is_err());
        assert!(resolve(loc, "\\\\srv\\share").is_err());
    }
}
