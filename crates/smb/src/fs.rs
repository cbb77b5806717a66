//! A disk share on the machine's share directory, through the same kind
//! of capability handle as BITS and SFTP (`cap_std::fs::Dir` on the share
//! root): every path an SMB client names is checked here (no `..`, no
//! NUL, no characters Windows refuses, none of fakedc's own reserved
//! names) and then opened relative to the `Dir`, which refuses symlinks
//! that lead out of it. Also the FILE_*_INFORMATION encoders the info
//! and directory queries share.

use crate::proto::{status, ATTR_ARCHIVE, ATTR_DIRECTORY, ATTR_HIDDEN, ATTR_READONLY};
use cap_std::fs::{Dir, Metadata};
use std::io;
use std::path::PathBuf;

/// Names fakedc keeps for itself in a share (SFTP's staging files and
/// shell `/tmp`, BITS's upload sessions): never listed, never opened.
pub fn is_reserved(name: &str) -> bool {
    name.starts_with(".fakedc-") || name.eq_ignore_ascii_case(".bits-sessions")
}

/// Longest path a client may name, in characters (Windows' own limit
/// for a path without the `\\?\` prefix is far below this).
pub const MAX_PATH_CHARS: usize = 32_767;
/// Longest single component (NTFS's 255).
pub const MAX_COMPONENT: usize = 255;

/// A CREATE or rename name as a relative path under the share root, or
/// the NTSTATUS Windows answers for it. The empty name is the root.
pub fn share_path(name: &str) -> Result<PathBuf, u32> {
    if name.chars().count() > MAX_PATH_CHARS {
        return Err(status::OBJECT_NAME_INVALID);
    }
    if name.starts_with('\\') {
        return Err(status::INVALID_PARAMETER);
    }
    let mut out = PathBuf::new();
    for comp in name.split('\\') {
        match comp {
            "" | "." => continue,
            ".." => return Err(status::OBJECT_PATH_SYNTAX_BAD),
            c => {
                if c.chars().count() > MAX_COMPONENT
                    || c.chars().any(|ch| {
                        (ch as u32) < 0x20
                            || matches!(ch, '"' | '*' | '/' | ':' | '<' | '>' | '?' | '|')
                    })
                {
                    return Err(status::OBJECT_NAME_INVALID);
                }
                if is_reserved(c) {
                    return Err(status::OBJECT_NAME_NOT_FOUND);
                }
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// What the info classes report about a file or directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct Info {
    pub creation: u64,
    pub access: u64,
    pub write: u64,
    pub change: u64,
    pub size: u64,
    pub alloc: u64,
    pub attributes: u32,
    pub index: u64,
    pub is_dir: bool,
}

fn filetime(t: io::Result<cap_std::time::SystemTime>) -> Option<u64> {
    t.ok().map(|t| fakedc_ntlm::filetime(t.into_std()))
}

impl Info {
    pub fn from_meta(m: &Metadata, name: &str) -> Info {
        use cap_std::fs::MetadataExt;
        let write = filetime(m.modified()).unwrap_or(0);
        let access = filetime(m.accessed()).unwrap_or(write);
        let creation = filetime(m.created()).unwrap_or(write);
        let is_dir = m.is_dir();
        let size = if is_dir { 0 } else { m.len() };
        let mut attributes = if is_dir { ATTR_DIRECTORY } else { ATTR_ARCHIVE };
        if m.permissions().readonly() {
            attributes |= ATTR_READONLY;
        }
        if name.starts_with('.') && name != "." && name != ".." {
            attributes |= ATTR_HIDDEN;
        }
        Info {
            creation,
            access,
            write,
            change: write,
            size,
            alloc: size.div_ceil(4096) * 4096,
            attributes,
            index: m.ino(),
            is_dir,
        }
    }
}

/// The NTSTATUS for a file-system error.
pub fn io_status(e: &io::Error) -> u32 {
    use io::ErrorKind as K;
    match e.kind() {
        K::NotFound => status::OBJECT_NAME_NOT_FOUND,
        K::PermissionDenied => status::ACCESS_DENIED,
        K::AlreadyExists => status::OBJECT_NAME_COLLISION,
        K::NotADirectory => status::OBJECT_PATH_NOT_FOUND,
        K::IsADirectory => status::FILE_IS_A_DIRECTORY,
        K::DirectoryNotEmpty => status::DIRECTORY_NOT_EMPTY,
        K::StorageFull | K::QuotaExceeded | K::FileTooLarge => status::DISK_FULL,
        K::InvalidInput | K::InvalidFilename => status::OBJECT_NAME_INVALID,
        _ => match e.raw_os_error() {
            // ELOOP/EXDEV: cap-std refused a symlink out of the share.
            Some(40) | Some(18) => status::ACCESS_DENIED,
            _ => status::INTERNAL_ERROR,
        },
    }
}

/// Whether a missing name's parent is missing too (PATH_NOT_FOUND rather
/// than NAME_NOT_FOUND, as Windows distinguishes them).
pub fn missing_status(root: &Dir, path: &std::path::Path) -> u32 {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => match root.metadata(p) {
            Ok(m) if m.is_dir() => status::OBJECT_NAME_NOT_FOUND,
            _ => status::OBJECT_PATH_NOT_FOUND,
        },
        _ => status::OBJECT_NAME_NOT_FOUND,
    }
}

/// The name in upper case when it is a valid 8.3 name (at most eight
/// characters, a dot and three, from the short-name alphabet).
pub fn short_name(name: &str) -> Option<String> {
    let (base, ext) = name.split_once('.').unwrap_or((name, ""));
    let ok = |p: &str, max: usize| {
        p.len() <= max
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "$%'-_@~`!(){}^#&".contains(c))
    };
    (!base.is_empty() && ok(base, 8) && ok(ext, 3) && !ext.contains('.'))
        .then(|| name.to_ascii_uppercase())
}

/// One directory entry for QUERY_DIRECTORY.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub info: Info,
}

/// The entries of `path` (the root when empty), "." and ".." first,
/// reserved names left out; at most `max`.
pub fn list(
    root: &Dir,
    path: &std::path::Path,
    self_info: Info,
    max: usize,
) -> io::Result<Vec<Entry>> {
    let iter = if path.as_os_str().is_empty() {
        root.entries()?
    } else {
        root.read_dir(path)?
    };
    let mut out = vec![
        Entry {
            name: ".".into(),
            info: self_info,
        },
        Entry {
            name: "..".into(),
            info: self_info,
        },
    ];
    for e in iter {
        let Ok(e) = e else { continue };
        let name = e.file_name().to_string_lossy().into_owned();
        if is_reserved(&name) {
            continue;
        }
        let Ok(m) = e.metadata() else { continue };
        out.push(Entry {
            info: Info::from_meta(&m, &name),
            name,
        });
        if out.len() >= max {
            break;
        }
    }
    Ok(out)
}

/// Windows wildcard match (`*`, `?`, and the DOS forms `<`, `>`, `"`
/// treated as their plain equivalents), case-insensitive.
pub fn matches(pattern: &str, name: &str) -> bool {
    if pattern.is_empty() || pattern == "*" || pattern == "*.*" {
        return true;
    }
    let p: Vec<char> = pattern
        .chars()
        .map(|c| match c {
            '<' => '*',
            '>' => '?',
            '"' => '.',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect();
    let n: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
    // Iterative glob with one backtrack point (linear in practice).
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
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

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// One entry of a QUERY_DIRECTORY class (MS-FSCC 2.4), without its
/// NextEntryOffset patched; None for a class not served.
pub fn dir_entry(class: u8, e: &Entry) -> Option<Vec<u8>> {
    let name = utf16(&e.name);
    let i = &e.info;
    let mut out = Vec::with_capacity(104 + name.len());
    out.extend_from_slice(&0u32.to_le_bytes()); // NextEntryOffset
    out.extend_from_slice(&0u32.to_le_bytes()); // FileIndex
    if class == 12 {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(&name);
        return Some(out);
    }
    for t in [i.creation, i.access, i.write, i.change, i.size, i.alloc] {
        out.extend_from_slice(&t.to_le_bytes());
    }
    out.extend_from_slice(&i.attributes.to_le_bytes());
    out.extend_from_slice(&(name.len() as u32).to_le_bytes());
    match class {
        1 => {}
        2 => out.extend_from_slice(&0u32.to_le_bytes()),
        3 => {
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&[0; 24]);
        }
        37 => {
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&[0; 24]);
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&i.index.to_le_bytes());
        }
        38 => {
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&i.index.to_le_bytes());
        }
        _ => return None,
    }
    out.extend_from_slice(&name);
    Some(out)
}

/// FILE_*_INFORMATION for QUERY_INFO (MS-FSCC 2.4); `name` is the path
/// from the share root as Windows reports it (`\dir\file`).
pub fn file_info(class: u8, i: &Info, name: &str, delete_pending: bool) -> Option<Vec<u8>> {
    let basic = |o: &mut Vec<u8>| {
        for t in [i.creation, i.access, i.write, i.change] {
            o.extend_from_slice(&t.to_le_bytes());
        }
        o.extend_from_slice(&i.attributes.to_le_bytes());
        o.extend_from_slice(&0u32.to_le_bytes());
    };
    let standard = |o: &mut Vec<u8>| {
        o.extend_from_slice(&i.alloc.to_le_bytes());
        o.extend_from_slice(&i.size.to_le_bytes());
        o.extend_from_slice(&1u32.to_le_bytes());
        o.push(u8::from(delete_pending));
        o.push(u8::from(i.is_dir));
        o.extend_from_slice(&[0, 0]);
    };
    let mut o = Vec::new();
    match class {
        4 => basic(&mut o),
        5 => standard(&mut o),
        6 => o.extend_from_slice(&i.index.to_le_bytes()),
        7 => o.extend_from_slice(&0u32.to_le_bytes()),
        8 => o.extend_from_slice(&0x001F_01FFu32.to_le_bytes()),
        14 => o.extend_from_slice(&0u64.to_le_bytes()),
        16 => o.extend_from_slice(&0u32.to_le_bytes()),
        17 => o.extend_from_slice(&0u32.to_le_bytes()),
        18 => {
            basic(&mut o);
            standard(&mut o);
            o.extend_from_slice(&i.index.to_le_bytes());
            o.extend_from_slice(&0u32.to_le_bytes()); // Ea
            o.extend_from_slice(&0x001F_01FFu32.to_le_bytes()); // Access
            o.extend_from_slice(&0u64.to_le_bytes()); // Position
            o.extend_from_slice(&0u32.to_le_bytes()); // Mode
            o.extend_from_slice(&0u32.to_le_bytes()); // Alignment
            let n = utf16(name);
            o.extend_from_slice(&(n.len() as u32).to_le_bytes());
            o.extend_from_slice(&n);
        }
        22 => {
            // FileStreamInformation: the one unnamed data stream of a file.
            if !i.is_dir {
                let n = utf16("::$DATA");
                o.extend_from_slice(&0u32.to_le_bytes());
                o.extend_from_slice(&(n.len() as u32).to_le_bytes());
                o.extend_from_slice(&i.size.to_le_bytes());
                o.extend_from_slice(&i.alloc.to_le_bytes());
                o.extend_from_slice(&n);
            }
        }
        28 => {
            o.extend_from_slice(&i.size.to_le_bytes());
            o.extend_from_slice(&[0; 8]);
        }
        34 => {
            for t in [i.creation, i.access, i.write, i.change, i.alloc, i.size] {
                o.extend_from_slice(&t.to_le_bytes());
            }
            o.extend_from_slice(&i.attributes.to_le_bytes());
            o.extend_from_slice(&0u32.to_le_bytes());
        }
        35 => {
            o.extend_from_slice(&i.attributes.to_le_bytes());
            o.extend_from_slice(&0u32.to_le_bytes());
        }
        _ => return None,
    }
    Some(o)
}

/// The fixed part of a class: an output buffer shorter than this gets
/// INFO_LENGTH_MISMATCH; longer but short of the whole gets the truncated
/// data with BUFFER_OVERFLOW.
pub fn fixed_len(class: u8, fs: bool) -> usize {
    match (fs, class) {
        (false, 4) => 40,
        (false, 5) => 24,
        (false, 18) => 100,
        (false, 22) => 0,
        (false, 34) => 56,
        (false, 28) => 16,
        (false, 6 | 14 | 35) => 8,
        (false, _) => 4,
        (true, 1) => 18,
        (true, 3) => 24,
        (true, 4) => 8,
        (true, 5) => 12,
        (true, 7) => 32,
        (true, _) => 0,
    }
}

/// FILE_FS_*_INFORMATION (MS-FSCC 2.5) for a share of `total`/`free` bytes.
pub fn fs_info(class: u8, total: u64, free: u64, serial: u32, created: u64) -> Option<Vec<u8>> {
    let unit = 4096u64;
    let mut o = Vec::new();
    match class {
        1 => {
            o.extend_from_slice(&created.to_le_bytes());
            o.extend_from_slice(&serial.to_le_bytes());
            o.extend_from_slice(&0u32.to_le_bytes());
            o.push(0);
            o.push(0);
        }
        3 => {
            o.extend_from_slice(&(total / unit).to_le_bytes());
            o.extend_from_slice(&(free / unit).to_le_bytes());
            o.extend_from_slice(&8u32.to_le_bytes());
            o.extend_from_slice(&512u32.to_le_bytes());
        }
        4 => {
            o.extend_from_slice(&7u32.to_le_bytes()); // FILE_DEVICE_DISK
            o.extend_from_slice(&0x20u32.to_le_bytes()); // FILE_DEVICE_IS_MOUNTED
        }
        5 => {
            let n = utf16("NTFS");
            // case-preserved, case-sensitive search, Unicode, ACLs,
            // sparse, reparse points, object ids, named streams
            o.extend_from_slice(&0x0005_00EFu32.to_le_bytes());
            o.extend_from_slice(&255u32.to_le_bytes());
            o.extend_from_slice(&(n.len() as u32).to_le_bytes());
            o.extend_from_slice(&n);
        }
        7 => {
            o.extend_from_slice(&(total / unit).to_le_bytes());
            o.extend_from_slice(&(free / unit).to_le_bytes());
            o.extend_from_slice(&(free / unit).to_le_bytes());
            o.extend_from_slice(&8u32.to_le_bytes());
            o.extend_from_slice(&512u32.to_le_bytes());
        }
        8 => o.extend_from_slice(&[0; 64]),
        11 => {
            for v in [512u32, 512, 512, 512, 0x0B, 0, 0] {
                o.extend_from_slice(&v.to_le_bytes());
            }
        }
        _ => return None,
    }
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(share_path(""), Ok(PathBuf::new()));
        assert_eq!(share_path("a\\b\\c.txt"), Ok(PathBuf::from("a/b/c.txt")));
        assert_eq!(
            share_path("a\\..\\..\\etc"),
            Err(status::OBJECT_PATH_SYNTAX_BAD)
        );
        assert_eq!(share_path("a/b"), Err(status::OBJECT_NAME_INVALID));
        assert_eq!(share_path("a\0b"), Err(status::OBJECT_NAME_INVALID));
        assert_eq!(share_path("x:stream"), Err(status::OBJECT_NAME_INVALID));
        assert_eq!(
            share_path(".fakedc-tmp\\x"),
            Err(status::OBJECT_NAME_NOT_FOUND)
        );
        assert_eq!(share_path("\\x"), Err(status::INVALID_PARAMETER));
    }

    #[test]
    fn wildcards() {
        for (p, n, want) in [
            ("*", "anything", true),
            ("*.txt", "A.TXT", true),
            ("*.txt", "a.txt.bak", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("agent.msi", "Agent.MSI", true),
            ("*a*b*", "xxaxxbxx", true),
        ] {
            assert_eq!(matches(p, n), want, "{p} {n}");
        }
    }
}
