//! The busybox file commands over the jail: `ls`, `cat`, `mkdir`, `rmdir`,
//! `rm`, `mv`, `cp`, `chmod`, `touch`, and the stat behind `test`. Every
//! path goes through the jail (created and changed names through
//! [`Jail::writable_path`], growth through the quota), so the shell reaches
//! nothing the SFTP server could not.

use super::{EsxiShell, Out, Text, MAX_CAT, MAX_LS};
use crate::jail::{
    is_reserved_name, long_line, FsError, Jail, Kind, Stat, MAX_WALK_DEPTH, MAX_WALK_ENTRIES,
};
use crate::vfs::VPath;
use cap_std::fs::{
    DirBuilder, DirBuilderExt, OpenOptions, OpenOptionsExt, Permissions, PermissionsExt,
};
use std::fmt::Write;
use std::path::Path;

/// Bytes copied per read/write in `cp`.
const COPY_CHUNK: usize = 64 * 1024;

/// Flags and operands of a busybox command line: `-abc` sets each letter
/// that is in `known`; `--` ends options. An unknown letter is returned.
fn flags<'a>(args: &[&'a str], known: &str) -> Result<(Vec<char>, Vec<&'a str>), char> {
    let mut set = Vec::new();
    let mut rest = Vec::new();
    let mut opts = true;
    for a in args {
        if opts && *a == "--" {
            opts = false;
            continue;
        }
        match a.strip_prefix('-') {
            Some(f) if opts && !f.is_empty() => {
                for c in f.chars() {
                    if !known.contains(c) {
                        return Err(c);
                    }
                    set.push(c);
                }
            }
            _ => rest.push(*a),
        }
    }
    Ok((set, rest))
}

impl EsxiShell {
    fn jail_or(&self, cmd: &str) -> Result<&Jail, Out> {
        self.jail
            .as_deref()
            .ok_or_else(|| Out::fail(format!("{cmd}: Permission denied\n"), 1))
    }

    /// Attributes for `test` (`follow`: stat, else lstat).
    pub(super) fn stat_for_test(&self, p: &str, follow: bool) -> Option<Stat> {
        let jail = self.jail.as_deref()?;
        let vp = self.resolve(p).ok()?;
        jail.stat(&vp, follow).ok()
    }

    pub(super) fn ls(&self, args: &[&str], room: usize) -> Out {
        let (f, mut paths) = match flags(args, "laAdh1FtrsSe") {
            Ok(v) => v,
            Err(c) => return Out::fail(format!("ls: unrecognized option: {c}\n"), 1),
        };
        let long = f.contains(&'l');
        let all = f.iter().any(|c| *c == 'a' || *c == 'A');
        let dirs_as_files = f.contains(&'d');
        if paths.is_empty() {
            paths.push(".");
        }
        let jail = match self.jail_or("ls: can't open '.'") {
            Ok(j) => j,
            Err(o) => return o,
        };
        let mut out = Out::default();
        let many = paths.len() > 1;
        let now = jail.now_secs();
        let line = |out: &mut Out, name: &str, st: &Stat| {
            if long {
                let _ = writeln!(Text(&mut out.out), "{}", long_line(name, st, now));
            } else {
                let _ = writeln!(Text(&mut out.out), "{name}");
            }
        };
        for (i, p) in paths.iter().enumerate() {
            if out.out.len() > room {
                break;
            }
            let st = match self
                .resolve(p)
                .and_then(|vp| jail.stat(&vp, true).map(|s| (vp, s)))
            {
                Ok(s) => s,
                Err(e) => {
                    let _ = writeln!(Text(&mut out.err), "ls: {p}: {e}");
                    out.code = 1;
                    continue;
                }
            };
            let (vp, st) = st;
            if st.kind != Kind::Dir || dirs_as_files {
                line(&mut out, p, &st);
                continue;
            }
            let mut listing = match jail.list(&vp) {
                Ok(l) => l,
                Err(e) => {
                    let _ = writeln!(Text(&mut out.err), "ls: can't open '{p}': {e}");
                    out.code = 1;
                    continue;
                }
            };
            let mut entries = Vec::new();
            loop {
                let batch = listing.next_batch(256);
                if batch.is_empty() || entries.len() >= MAX_LS {
                    break;
                }
                entries.extend(batch);
            }
            entries.truncate(MAX_LS);
            entries.retain(|(n, _)| all || !n.starts_with('.'));
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            if many {
                if i > 0 {
                    out.out.push(b'\n');
                }
                let _ = writeln!(Text(&mut out.out), "{p}:");
            }
            if long {
                let _ = writeln!(Text(&mut out.out), "total {}", entries.len());
            }
            for (name, st) in entries {
                line(&mut out, &name, &st);
            }
        }
        out
    }

    pub(super) fn cat(&self, args: &[&str], stdin: &[u8], room: usize) -> Out {
        let (_, files) = match flags(args, "uvetAn") {
            Ok(v) => v,
            Err(c) => return Out::fail(format!("cat: invalid option -- '{c}'\n"), 1),
        };
        if files.is_empty() {
            return Out::ok(stdin.to_vec());
        }
        let mut out = Out::default();
        for p in files {
            if p == "-" {
                out.out.extend_from_slice(stdin);
                continue;
            }
            if p == "/dev/null" {
                continue;
            }
            let r = (|| {
                let jail = self.jail.as_deref().ok_or(FsError::Denied)?;
                let vp = self.resolve(p)?;
                let st = jail.stat(&vp, true)?;
                if st.kind == Kind::Dir {
                    return Err(FsError::IsDir);
                }
                if st.size > MAX_CAT || out.out.len() as u64 + st.size > room as u64 {
                    return Err(FsError::Io(std::io::Error::other(
                        "file too large to print",
                    )));
                }
                let rel = jail.share_path(&vp)?;
                Ok(jail.dir().read(&rel)?)
            })();
            match r {
                Ok(bytes) => out.out.extend_from_slice(&bytes),
                Err(FsError::IsDir) => {
                    let _ = writeln!(Text(&mut out.err), "cat: read error: Is a directory");
                    out.code = 1;
                }
                Err(e) => {
                    let _ = writeln!(Text(&mut out.err), "cat: can't open '{p}': {e}");
                    out.code = 1;
                }
            }
        }
        out
    }

    /// Creates one directory with exactly `mode`.
    fn make_dir(&self, jail: &Jail, vp: &VPath, mode: u32) -> Result<(), FsError> {
        let rel = jail.writable_path(vp)?;
        let mut b = DirBuilder::new();
        b.mode(mode);
        jail.dir().create_dir_with(&rel, &b)?;
        jail.dir()
            .set_permissions(&rel, Permissions::from_mode(mode))?;
        Ok(())
    }

    pub(super) fn mkdir(&self, args: &[&str]) -> Out {
        let mut parents = false;
        let mut mode = None;
        let mut dirs = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match *a {
                "-p" | "--parents" => parents = true,
                "-m" => match it.next().and_then(|m| parse_mode(m, 0o777)) {
                    Some(m) => mode = Some(m),
                    None => return Out::fail("mkdir: invalid mode\n", 1),
                },
                a if a.starts_with("-m") => match parse_mode(&a[2..], 0o777) {
                    Some(m) => mode = Some(m),
                    None => return Out::fail(format!("mkdir: invalid mode '{}'\n", &a[2..]), 1),
                },
                "-pv" | "-vp" | "-v" => parents |= a.contains('p'),
                a if a.starts_with('-') && a.len() > 1 => {
                    return Out::fail(format!("mkdir: unrecognized option '{a}'\n"), 1)
                }
                a => dirs.push(a),
            }
        }
        if dirs.is_empty() {
            return Out::fail(
                "BusyBox v1.36.1 multi-call binary.\n\nUsage: mkdir [-m MODE] [-p] DIRECTORY...\n",
                1,
            );
        }
        let jail = match self.jail_or("mkdir") {
            Ok(j) => j,
            Err(o) => return o,
        };
        let umask = self.st.umask;
        let mode = mode.unwrap_or(0o777 & !umask);
        let mut out = Out::default();
        for d in dirs {
            let r = (|| {
                let vp = self.resolve(d)?;
                if !parents {
                    return self.make_dir(jail, &vp, mode);
                }
                let parts = vp.components();
                for n in 1..=parts.len() {
                    let pre = VPath::from_components(
                        &parts[..n].iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                    );
                    match jail.stat(&pre, true) {
                        Ok(st) if st.kind == Kind::Dir => continue,
                        Ok(_) => return Err(FsError::NotDir),
                        Err(FsError::NotFound) => {
                            let m = if n == parts.len() {
                                mode
                            } else {
                                (0o777 & !umask) | 0o300
                            };
                            match self.make_dir(jail, &pre, m) {
                                Ok(()) | Err(FsError::Exists) => {}
                                Err(e) => return Err(e),
                            }
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            })();
            if let Err(e) = r {
                let _ = writeln!(
                    Text(&mut out.err),
                    "mkdir: can't create directory '{d}': {e}"
                );
                out.code = 1;
            }
        }
        out
    }

    pub(super) fn rmdir(&self, args: &[&str]) -> Out {
        let (_, dirs) = match flags(args, "p") {
            Ok(v) => v,
            Err(c) => return Out::fail(format!("rmdir: invalid option -- '{c}'\n"), 1),
        };
        let jail = match self.jail_or("rmdir") {
            Ok(j) => j,
            Err(o) => return o,
        };
        let mut out = Out::default();
        for d in dirs {
            let r = self
                .resolve(d)
                .and_then(|vp| jail.writable_path(&vp))
                .and_then(|rel| Ok(jail.dir().remove_dir(&rel)?));
            if let Err(e) = r {
                let _ = writeln!(Text(&mut out.err), "rmdir: '{d}': {e}");
                out.code = 1;
            }
        }
        out
    }

    pub(super) fn rm(&self, args: &[&str]) -> Out {
        let (f, paths) = match flags(args, "frRiv") {
            Ok(v) => v,
            Err(c) => return Out::fail(format!("rm: invalid option -- '{c}'\n"), 1),
        };
        let force = f.contains(&'f');
        let recursive = f.contains(&'r') || f.contains(&'R');
        if paths.is_empty() && !force {
            return Out::fail(
                "BusyBox v1.36.1 multi-call binary.\n\nUsage: rm [-irf] FILE...\n",
                1,
            );
        }
        let jail = match self.jail_or("rm") {
            Ok(j) => j,
            Err(o) => return o,
        };
        let mut out = Out::default();
        for p in paths {
            let r = (|| {
                let vp = self.resolve(p)?;
                let st = jail.stat(&vp, false)?;
                let rel = jail.writable_path(&vp)?;
                if st.kind == Kind::Dir {
                    if !recursive {
                        return Err(FsError::IsDir);
                    }
                    return jail.remove_tree(&rel);
                }
                jail.remove_file(&rel)
            })();
            match r {
                Ok(()) => {}
                Err(FsError::NotFound) if force => {}
                Err(e) => {
                    let _ = writeln!(Text(&mut out.err), "rm: can't remove '{p}': {e}");
                    out.code = 1;
                }
            }
        }
        out
    }

    pub(super) fn mv(&self, args: &[&str]) -> Out {
        let (_, paths) = match flags(args, "fin") {
            Ok(v) => v,
            Err(c) => return Out::fail(format!("mv: invalid option -- '{c}'\n"), 1),
        };
        let Some((dst, srcs)) = paths.split_last().filter(|(_, s)| !s.is_empty()) else {
            return Out::fail("BusyBox v1.36.1 multi-call binary.\n\nUsage: mv [-fin] SOURCE DEST\nor: mv [-fin] SOURCE... DIRECTORY\n", 1);
        };
        let jail = match self.jail_or("mv") {
            Ok(j) => j,
            Err(o) => return o,
        };
        let dst_vp = match self.resolve(dst) {
            Ok(v) => v,
            Err(e) => return Out::fail(format!("mv: can't rename '{dst}': {e}\n"), 1),
        };
        let into = jail.stat(&dst_vp, true).is_ok_and(|s| s.kind == Kind::Dir);
        if srcs.len() > 1 && !into {
            return Out::fail(format!("mv: '{dst}' is not a directory\n"), 1);
        }
        let mut out = Out::default();
        for s in srcs {
            let r = (|| {
                let vp = self.resolve(s)?;
                let target = match (into, vp.file_name()) {
                    (true, Some(n)) => dst_vp.join(n),
                    _ => dst_vp.clone(),
                };
                let ra = jail.writable_path(&vp)?;
                let rb = jail.writable_path(&target)?;
                if ra == rb {
                    return Ok(());
                }
                jail.rename(&ra, &rb, true)
            })();
            if let Err(e) = r {
                let _ = writeln!(Text(&mut out.err), "mv: can't rename '{s}': {e}");
                out.code = 1;
            }
        }
        out
    }

    pub(super) fn cp(&self, args: &[&str]) -> Out {
        let (f, paths) = match flags(args, "rRapfdPLHv") {
            Ok(v) => v,
            Err(c) => return Out::fail(format!("cp: invalid option -- '{c}'\n"), 1),
        };
        let recursive = f.iter().any(|c| matches!(c, 'r' | 'R' | 'a'));
        let preserve = f.iter().any(|c| matches!(c, 'p' | 'a'));
        let Some((dst, srcs)) = paths.split_last().filter(|(_, s)| !s.is_empty()) else {
            return Out::fail("BusyBox v1.36.1 multi-call binary.\n\nUsage: cp [-arPLHpfinlsTu] SOURCE DEST\nor: cp [-arPLHpfinlsu] SOURCE... { -t DIRECTORY | DIRECTORY }\n", 1);
        };
        let jail = match self.jail_or("cp") {
            Ok(j) => j,
            Err(o) => return o,
        };
        let dst_vp = match self.resolve(dst) {
            Ok(v) => v,
            Err(e) => return Out::fail(format!("cp: can't create '{dst}': {e}\n"), 1),
        };
        let into = jail.stat(&dst_vp, true).is_ok_and(|s| s.kind == Kind::Dir);
        if srcs.len() > 1 && !into {
            return Out::fail(format!("cp: '{dst}' is not a directory\n"), 1);
        }
        let mut out = Out::default();
        let mut budget = MAX_WALK_ENTRIES;
        for s in srcs {
            let r = (|| {
                let vp = self.resolve(s)?;
                let st = jail.stat(&vp, true)?;
                let target = match (into, vp.file_name()) {
                    (true, Some(n)) => dst_vp.join(n),
                    _ => dst_vp.clone(),
                };
                let from = jail.share_path(&vp)?;
                let to = jail.writable_path(&target)?;
                if st.kind == Kind::Dir {
                    if !recursive {
                        return Err(CpError::Omit);
                    }
                    if target.starts_with(&vp) {
                        return Err(CpError::Into);
                    }
                    return self.copy_tree(jail, &from, &to, preserve, 0, &mut budget);
                }
                if from == to {
                    return Err(CpError::Same);
                }
                self.copy_file(jail, &from, &to, preserve)
            })();
            match r {
                Ok(()) => {}
                Err(CpError::Omit) => {
                    let _ = writeln!(Text(&mut out.err), "cp: omitting directory '{s}'");
                    out.code = 1;
                }
                Err(CpError::Into) => {
                    let _ = writeln!(
                        Text(&mut out.err),
                        "cp: cannot copy a directory, '{s}', into itself, '{dst}'"
                    );
                    out.code = 1;
                }
                Err(CpError::Same) => {
                    let _ = writeln!(
                        Text(&mut out.err),
                        "cp: '{s}' and '{dst}' are the same file"
                    );
                    out.code = 1;
                }
                Err(CpError::Fs(e)) => {
                    let _ = writeln!(Text(&mut out.err), "cp: can't copy '{s}': {e}");
                    out.code = 1;
                }
            }
        }
        out
    }

    /// Copies one file's bytes (and, with `preserve`, mode and times).
    fn copy_file(
        &self,
        jail: &Jail,
        from: &Path,
        to: &Path,
        preserve: bool,
    ) -> Result<(), CpError> {
        let src = jail.dir().open(from).map_err(FsError::from)?;
        let md = src.metadata().map_err(FsError::from)?;
        if md.is_dir() {
            return Err(CpError::Fs(FsError::IsDir));
        }
        let mode = if preserve {
            md.permissions().mode() & 0o7777
        } else {
            md.permissions().mode() & 0o777 & !self.st.umask
        };
        let mut o = OpenOptions::new();
        o.write(true).create(true).mode(mode);
        let dst = jail.dir().open_with(to, &o).map_err(FsError::from)?;
        let mut len = dst.metadata().map_err(FsError::from)?.len();
        let mut buf = vec![0u8; COPY_CHUNK];
        let mut at = 0u64;
        loop {
            let n = cap_std::fs::FileExt::read_at(&src, &mut buf, at).map_err(FsError::from)?;
            if n == 0 {
                break;
            }
            jail.write_at(&dst, &mut len, at, &buf[..n])?;
            at += n as u64;
        }
        jail.set_len(&dst, &mut len, at)?;
        if preserve {
            dst.set_permissions(Permissions::from_mode(mode))
                .map_err(FsError::from)?;
            let times = std::fs::FileTimes::new();
            let times = match md.accessed() {
                Ok(t) => times.set_accessed(t.into_std()),
                Err(_) => times,
            };
            let times = match md.modified() {
                Ok(t) => times.set_modified(t.into_std()),
                Err(_) => times,
            };
            let _ = dst.into_std().set_times(times);
        }
        Ok(())
    }

    /// Copies a directory tree; symlinks inside are copied as the file
    /// they lead to (never walked into), so no loop can form.
    fn copy_tree(
        &self,
        jail: &Jail,
        from: &Path,
        to: &Path,
        preserve: bool,
        depth: usize,
        budget: &mut usize,
    ) -> Result<(), CpError> {
        if depth > MAX_WALK_DEPTH || *budget == 0 {
            return Err(CpError::Fs(FsError::Io(std::io::Error::other(
                "too many files",
            ))));
        }
        *budget -= 1;
        let md = jail.dir().metadata(from).map_err(FsError::from)?;
        let mode = md.permissions().mode() & 0o7777;
        match jail.dir().metadata(to) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(CpError::Fs(FsError::NotDir)),
            Err(_) => {
                let mut b = DirBuilder::new();
                b.mode(0o700);
                jail.dir().create_dir_with(to, &b).map_err(FsError::from)?;
            }
        }
        let names: Vec<String> = jail
            .dir()
            .read_dir(from)
            .map_err(FsError::from)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !is_reserved_name(n))
            .take(MAX_WALK_ENTRIES)
            .collect();
        for n in names {
            let (a, b) = (from.join(&n), to.join(&n));
            let lmd = jail.dir().symlink_metadata(&a).map_err(FsError::from)?;
            if lmd.is_dir() {
                self.copy_tree(jail, &a, &b, preserve, depth + 1, budget)?;
            } else {
                if *budget == 0 {
                    return Err(CpError::Fs(FsError::Io(std::io::Error::other(
                        "too many files",
                    ))));
                }
                *budget -= 1;
                self.copy_file(jail, &a, &b, preserve)?;
            }
        }
        let m = if preserve {
            mode
        } else {
            mode & !self.st.umask
        };
        jail.dir()
            .set_permissions(to, Permissions::from_mode(m))
            .map_err(FsError::from)?;
        Ok(())
    }

    pub(super) fn chmod(&self, args: &[&str]) -> Out {
        let mut recursive = false;
        let mut rest = Vec::new();
        for a in args {
            match *a {
                "-R" => recursive = true,
                "-v" | "-c" | "-f" => {}
                a => rest.push(a),
            }
        }
        let Some((spec, files)) = rest.split_first().filter(|(_, f)| !f.is_empty()) else {
            return Out::fail("BusyBox v1.36.1 multi-call binary.\n\nUsage: chmod [-Rcvf] MODE[,MODE]... FILE...\n", 1);
        };
        if parse_mode(spec, 0).is_none() {
            return Out::fail(format!("chmod: invalid mode '{spec}'\n"), 1);
        }
        let jail = match self.jail_or("chmod") {
            Ok(j) => j,
            Err(o) => return o,
        };
        let mut out = Out::default();
        for f in files {
            let r = (|| {
                let vp = self.resolve(f)?;
                let st = jail.stat(&vp, true)?;
                let rel = jail.writable_path(&vp).or_else(|e| {
                    // The mount points' own modes may be set.
                    jail.share_path(&vp).map_err(|_| e)
                })?;
                let mut budget = MAX_WALK_ENTRIES;
                chmod_at(
                    jail,
                    &rel,
                    spec,
                    st.kind == Kind::Dir && recursive,
                    0,
                    &mut budget,
                )
            })();
            if let Err(e) = r {
                let _ = writeln!(Text(&mut out.err), "chmod: {f}: {e}");
                out.code = 1;
            }
        }
        out
    }

    pub(super) fn touch(&self, args: &[&str]) -> Out {
        let (f, files) = match flags(args, "cham") {
            Ok(v) => v,
            Err(c) => return Out::fail(format!("touch: invalid option -- '{c}'\n"), 1),
        };
        let no_create = f.contains(&'c');
        let jail = match self.jail_or("touch") {
            Ok(j) => j,
            Err(o) => return o,
        };
        let mut out = Out::default();
        for p in files {
            let r = (|| {
                let vp = self.resolve(p)?;
                let exists = jail.stat(&vp, true).is_ok();
                if !exists && no_create {
                    return Ok(());
                }
                let rel = if exists {
                    jail.share_path(&vp)?
                } else {
                    jail.writable_path(&vp)?
                };
                if !exists {
                    let mut o = OpenOptions::new();
                    o.write(true).create(true).mode(0o666 & !self.st.umask);
                    jail.dir().open_with(&rel, &o)?;
                    return Ok(());
                }
                match jail.dir().open(&rel) {
                    Ok(f) => touch_now(&f),
                    Err(_) => touch_now(&jail.dir().open_dir(&rel)?),
                }
            })();
            if let Err(e) = r {
                let _ = writeln!(Text(&mut out.err), "touch: {p}: {e}");
                out.code = 1;
            }
        }
        out
    }
}

/// Sets a file's times to the kernel's clock (UTIME_NOW): no clock read of
/// ours.
fn touch_now(fd: &impl std::os::fd::AsFd) -> Result<(), FsError> {
    let now = rustix::fs::Timespec {
        tv_sec: 0,
        tv_nsec: rustix::fs::UTIME_NOW,
    };
    rustix::fs::futimens(
        fd,
        &rustix::fs::Timestamps {
            last_access: now,
            last_modification: now,
        },
    )
    .map_err(|e| FsError::from(std::io::Error::from(e)))
}

/// Why `cp` failed.
enum CpError {
    Omit,
    Into,
    Same,
    Fs(FsError),
}

impl From<FsError> for CpError {
    fn from(e: FsError) -> CpError {
        CpError::Fs(e)
    }
}

fn chmod_at(
    jail: &Jail,
    rel: &Path,
    spec: &str,
    recurse: bool,
    depth: usize,
    budget: &mut usize,
) -> Result<(), FsError> {
    if depth > MAX_WALK_DEPTH || *budget == 0 {
        return Err(FsError::Io(std::io::Error::other("too many files")));
    }
    *budget -= 1;
    let md = jail.dir().metadata(rel)?;
    let old = md.permissions().mode() & 0o7777;
    let new = parse_mode_from(spec, old, md.is_dir()).ok_or(FsError::Denied)?;
    jail.dir()
        .set_permissions(rel, Permissions::from_mode(new))?;
    if recurse && md.is_dir() {
        let names: Vec<_> = jail
            .dir()
            .read_dir(rel)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .filter(|n| !is_reserved_name(&n.to_string_lossy()))
            .take(MAX_WALK_ENTRIES)
            .collect();
        for n in names {
            let p = rel.join(n);
            if jail.dir().symlink_metadata(&p)?.is_symlink() {
                continue;
            }
            chmod_at(jail, &p, spec, true, depth + 1, budget)?;
        }
    }
    Ok(())
}

/// A mode for `mkdir -m`/`chmod`: octal, or symbolic relative to `old`.
pub(super) fn parse_mode(spec: &str, old: u32) -> Option<u32> {
    parse_mode_from(spec, old, true)
}

/// `chmod`'s modes: octal (`755`), or symbolic clauses (`u+x,go-w`,
/// `a=rX`, `+t`) applied to `old`.
fn parse_mode_from(spec: &str, old: u32, is_dir: bool) -> Option<u32> {
    if spec.is_empty() {
        return None;
    }
    if spec.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return (spec.len() <= 4)
            .then(|| u32::from_str_radix(spec, 8).ok())
            .flatten();
    }
    let mut mode = old;
    for clause in spec.split(',') {
        let who_end = clause
            .find(|c: char| !"ugoa".contains(c))
            .unwrap_or(clause.len());
        let who = &clause[..who_end];
        let mut mask = 0u32;
        for c in who.chars() {
            mask |= match c {
                'u' => 0o4700,
                'g' => 0o2070,
                'o' => 0o1007,
                _ => 0o7777,
            };
        }
        if who.is_empty() {
            mask = 0o7777;
        }
        let mut rest = &clause[who_end..];
        if rest.is_empty() {
            return None;
        }
        while !rest.is_empty() {
            let op = rest.chars().next()?;
            if !"+-=".contains(op) {
                return None;
            }
            rest = &rest[1..];
            let perm_end = rest.find(['+', '-', '=']).unwrap_or(rest.len());
            let mut bits = 0u32;
            for c in rest[..perm_end].chars() {
                bits |= match c {
                    'r' => 0o444,
                    'w' => 0o222,
                    'x' => 0o111,
                    'X' if is_dir || mode & 0o111 != 0 => 0o111,
                    'X' => 0,
                    's' => 0o6000,
                    't' => 0o1000,
                    _ => return None,
                };
            }
            rest = &rest[perm_end..];
            let bits = bits & mask;
            mode = match op {
                '+' => mode | bits,
                '-' => mode & !bits,
                _ => (mode & !mask) | bits,
            };
        }
    }
    Some(mode & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_mode("755", 0), Some(0o755));
        assert_eq!(parse_mode("0700", 0), Some(0o700));
        assert_eq!(parse_mode("8", 0), None);
        assert_eq!(parse_mode("77777", 0), None);
        assert_eq!(parse_mode_from("u+x", 0o644, false), Some(0o744));
        assert_eq!(parse_mode_from("go-w", 0o666, false), Some(0o644));
        assert_eq!(parse_mode_from("a=r", 0o777, false), Some(0o444));
        assert_eq!(parse_mode_from("+x", 0o600, false), Some(0o711));
        assert_eq!(parse_mode_from("u=rwx,g=rx,o=", 0, false), Some(0o750));
        assert_eq!(parse_mode_from("a+X", 0o600, false), Some(0o600));
        assert_eq!(parse_mode_from("a+X", 0o600, true), Some(0o711));
        assert_eq!(parse_mode_from("+t", 0o777, true), Some(0o1777));
        assert_eq!(parse_mode_from("u", 0o600, false), None);
        assert_eq!(parse_mode_from("u+q", 0o600, false), None);
    }

    #[test]
    fn flag_parsing() {
        assert_eq!(
            flags(&["-rf", "a", "--", "-x"], "rf"),
            Ok((vec!['r', 'f'], vec!["a", "-x"]))
        );
        assert_eq!(flags(&["-z"], "rf"), Err('z'));
        assert_eq!(flags(&["-"], "rf"), Ok((vec![], vec!["-"])));
    }
}
