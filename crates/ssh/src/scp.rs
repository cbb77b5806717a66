//! The legacy SCP protocol (rcp's), as OpenSSH's `scp -t` (sink: the
//! client uploads) and `scp -f` (source: the client downloads) speak it on
//! the remote end, sans-IO over the jail: bytes from the client are fed in,
//! and [`Scp::step`] says what to send, when more input is needed, and when
//! it is done with its exit status. `scp -O` runs it through the host's
//! shell (`sh -c 'scp -t -- /path'`), so the paths are the shell's.
//!
//! Sink: `C<mode> <size> <name>` files, `D<mode> 0 <name>` … `E`
//! directories (with `-r`), `T<mtime> 0 <atime> 0` times (with `-p`); each
//! acknowledged with a NUL, a failure with `\x01scp: <message>\n` (the
//! transfer goes on; the exit status is 1). Writes go through the jail and
//! its quota, under the file's own name from the start, like OpenSSH's
//! sink. Source: the same records the other way, each waiting for the
//! client's acknowledgement, file data read in chunks.
//!
//! Bounded: a control line is at most [`MAX_LINE`] bytes, a recursive walk
//! [`MAX_WALK_DEPTH`] deep and [`MAX_WALK_ENTRIES`] entries.

use crate::jail::{FsError, Jail, Kind, MAX_WALK_DEPTH, MAX_WALK_ENTRIES};
use crate::vfs::VPath;
use cap_std::fs::{
    DirBuilder, DirBuilderExt, FileExt, OpenOptions, OpenOptionsExt, Permissions, PermissionsExt,
};
use std::collections::VecDeque;
use std::sync::Arc;

/// Longest control record accepted (OpenSSH's buffer is 2048 bytes).
pub const MAX_LINE: usize = 4096;
/// Bytes read from a file per data message.
pub const CHUNK: usize = 32 * 1024;

/// What the caller does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes to the client.
    Send(Vec<u8>),
    /// Feed more bytes from the client (or [`Scp::eof`]).
    Read,
    /// Finished: close the channel with this exit status.
    Done(u32),
}

/// `scp`'s remote-end options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScpArgs {
    /// `-t` (sink) rather than `-f` (source).
    pub sink: bool,
    pub recursive: bool,
    pub preserve: bool,
    /// `-d`: the target must be a directory.
    pub dir_target: bool,
    pub paths: Vec<String>,
}

impl ScpArgs {
    /// The arguments after `scp`, as OpenSSH's client sends them
    /// (`-v -r -p -d -t -- target`, `-f -- source...`).
    pub fn parse(args: &[String]) -> Result<ScpArgs, String> {
        let mut a = ScpArgs {
            sink: false,
            recursive: false,
            preserve: false,
            dir_target: false,
            paths: Vec::new(),
        };
        let (mut t, mut f) = (false, false);
        let mut opts = true;
        for arg in args {
            if opts && arg == "--" {
                opts = false;
                continue;
            }
            match arg.strip_prefix('-') {
                Some(flags) if opts && !flags.is_empty() => {
                    for c in flags.chars() {
                        match c {
                            't' => t = true,
                            'f' => f = true,
                            'r' => a.recursive = true,
                            'p' => a.preserve = true,
                            'd' => a.dir_target = true,
                            'v' | 'q' | 'C' | 'B' | 'T' | '1' | '2' | '3' | '4' | '6' => {}
                            other => return Err(format!("unknown option -- {other}")),
                        }
                    }
                }
                _ => a.paths.push(arg.clone()),
            }
        }
        match (t, f) {
            (true, false) if a.paths.len() == 1 => a.sink = true,
            (false, true) if !a.paths.is_empty() => {}
            _ => return Err("usage: scp -t|-f [-rpd] path...".into()),
        }
        Ok(a)
    }
}

/// A completed (or failed) transfer, for the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub operation: String,
    pub outcome: String,
}

/// One `scp -t` or `scp -f` run.
pub struct Scp {
    jail: Arc<Jail>,
    cwd: VPath,
    umask: u32,
    args: ScpArgs,
    input: Vec<u8>,
    eof: bool,
    out: Vec<u8>,
    errors: u32,
    events: Vec<Event>,
    mode: Mode,
}

enum Mode {
    Sink(Sink),
    Source(Source),
    /// Send what is queued, then end with this status.
    Finish(u32),
}

struct Sink {
    state: SinkState,
    /// Directories entered with `D` (innermost last).
    dirs: Vec<SinkDir>,
    /// Whether the top-level target is a directory.
    target_is_dir: bool,
    target: VPath,
    /// From the last `T` record.
    times: Option<(u64, u64)>,
}

struct SinkDir {
    path: VPath,
    times: Option<(u64, u64)>,
    mode: u32,
    set_mode: bool,
}

enum SinkState {
    Start,
    Line,
    Data(Box<Incoming>),
    /// The source's status byte after the data.
    DataEnd(Box<Incoming>),
}

struct Incoming {
    file: cap_std::fs::File,
    path: VPath,
    size: u64,
    received: u64,
    len: u64,
    existed: bool,
    mode: u32,
    times: Option<(u64, u64)>,
    error: Option<String>,
}

struct Source {
    state: SourceState,
    /// Paths still to send at the top level.
    todo: VecDeque<VPath>,
    /// Directories being sent (innermost last), with their entries left.
    dirs: Vec<VecDeque<VPath>>,
    budget: usize,
}

enum SourceState {
    /// Waiting for the sink's first NUL.
    Start,
    Next,
    /// Waiting for the sink's answer, then doing `then`.
    Await(Then),
    Sending(Box<Outgoing>),
}

enum Then {
    /// After `T`: send the `C` or `D` record.
    Record(VPath, Kind),
    /// After `C`: send the data.
    Data(Box<Outgoing>),
    /// After the data's NUL: the file is done.
    FileDone(VPath, u64),
    /// After `D`: walk the directory.
    Enter(VPath),
    /// After `E`.
    Next,
}

struct Outgoing {
    file: cap_std::fs::File,
    path: VPath,
    size: u64,
    sent: u64,
    /// A read failed: the rest is padding.
    failed: bool,
}

/// A response read from the peer.
enum Response {
    Ok,
    /// `\x01…`: a warning (the peer skips this item).
    Warn,
    /// `\x02…` or garbage: the run ends.
    Fatal,
}

impl Scp {
    /// A run with the shell's working directory and umask.
    pub fn new(jail: Arc<Jail>, cwd: VPath, umask: u32, args: ScpArgs) -> Scp {
        let mode = if args.sink {
            let target = VPath::parse(&cwd, &args.paths[0]).unwrap_or_else(|_| cwd.clone());
            Mode::Sink(Sink {
                state: SinkState::Start,
                dirs: Vec::new(),
                target_is_dir: false,
                target,
                times: None,
            })
        } else {
            Mode::Source(Source {
                state: SourceState::Start,
                todo: VecDeque::new(),
                dirs: Vec::new(),
                budget: MAX_WALK_ENTRIES,
            })
        };
        Scp {
            jail,
            cwd,
            umask,
            args,
            input: Vec::new(),
            eof: false,
            out: Vec::new(),
            errors: 0,
            events: Vec::new(),
            mode,
        }
    }

    /// Bytes from the client.
    pub fn feed(&mut self, data: &[u8]) {
        self.input.extend_from_slice(data);
    }

    /// The client sent EOF.
    pub fn eof(&mut self) {
        self.eof = true;
    }

    /// Bytes received but not yet consumed (the caller bounds its reads
    /// with it).
    pub fn buffered(&self) -> usize {
        self.input.len()
    }

    /// Transfers finished since the last call, for the journal.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// What to do next.
    pub fn step(&mut self) -> Step {
        loop {
            if !self.out.is_empty() {
                return Step::Send(std::mem::take(&mut self.out));
            }
            let mode = std::mem::replace(&mut self.mode, Mode::Finish(1));
            let (mode, step) = match mode {
                Mode::Finish(code) => (Mode::Finish(code), Some(Step::Done(code))),
                Mode::Sink(s) => self.sink(s),
                Mode::Source(s) => self.source(s),
            };
            self.mode = mode;
            if let Some(step) = step {
                if step != Step::Read || self.out.is_empty() {
                    return step;
                }
            }
        }
    }

    /// Queues `\x01scp: message\n` (OpenSSH's run_err) and counts an error.
    fn run_err(&mut self, message: &str) {
        self.errors += 1;
        self.out.push(1);
        self.out.extend_from_slice(b"scp: ");
        let m: String = message.chars().filter(|c| *c != '\n').take(1024).collect();
        self.out.extend_from_slice(m.as_bytes());
        self.out.push(b'\n');
    }

    fn event(&mut self, operation: String, outcome: String) {
        self.events.push(Event { operation, outcome });
    }

    fn status(&self) -> u32 {
        u32::from(self.errors > 0)
    }

    /// A complete line of input (without its newline), `Ok(None)` when more
    /// input is needed, `Err` when the line is too long or the input ended.
    fn line(&mut self) -> Result<Option<Vec<u8>>, &'static str> {
        match self.input.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let mut line: Vec<u8> = self.input.drain(..=i).collect();
                line.pop();
                Ok(Some(line))
            }
            None if self.input.len() > MAX_LINE => Err("protocol error: line too long"),
            None if self.eof => Err("lost connection"),
            None => Ok(None),
        }
    }

    /// OpenSSH's response(): `None` when more input is needed.
    fn response(&mut self) -> Option<Response> {
        let first = *self.input.first()?;
        if first == 0 {
            self.input.remove(0);
            return Some(Response::Ok);
        }
        match self.line() {
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(_) => {
                self.input.clear();
                return Some(Response::Fatal);
            }
        }
        self.errors += 1;
        Some(if first == 1 {
            Response::Warn
        } else {
            Response::Fatal
        })
    }

    // ---- sink (scp -t) ----

    fn sink(&mut self, mut s: Sink) -> (Mode, Option<Step>) {
        match std::mem::replace(&mut s.state, SinkState::Line) {
            SinkState::Start => {
                s.target_is_dir = self
                    .jail
                    .stat(&s.target, true)
                    .is_ok_and(|st| st.kind == Kind::Dir);
                if self.args.dir_target && !s.target_is_dir {
                    let t = self.args.paths[0].clone();
                    self.run_err(&format!("{t}: Not a directory"));
                    return (Mode::Finish(1), None);
                }
                self.out.push(0);
                (Mode::Sink(s), None)
            }
            SinkState::Line => {
                let line = match self.line() {
                    Ok(Some(l)) => l,
                    Ok(None) => return (Mode::Sink(s), Some(Step::Read)),
                    // The source closed: the end of the transfer.
                    Err("lost connection") if self.input.is_empty() => {
                        return (Mode::Finish(self.status()), None)
                    }
                    Err(e) => {
                        self.run_err(e);
                        return (Mode::Finish(1), None);
                    }
                };
                self.sink_record(s, &line)
            }
            SinkState::Data(mut inc) => {
                if self.input.is_empty() {
                    if self.eof {
                        self.run_err("lost connection");
                        return (Mode::Finish(1), None);
                    }
                    s.state = SinkState::Data(inc);
                    return (Mode::Sink(s), Some(Step::Read));
                }
                let want = (inc.size - inc.received).min(self.input.len() as u64) as usize;
                let chunk: Vec<u8> = self.input.drain(..want).collect();
                if inc.error.is_none() {
                    let at = inc.received;
                    if let Err(e) = self.jail.write_at(&inc.file, &mut inc.len, at, &chunk) {
                        inc.error = Some(format!("{}: {e}", inc.path));
                    }
                }
                inc.received += want as u64;
                s.state = if inc.received == inc.size {
                    self.finish_file(&mut inc);
                    SinkState::DataEnd(inc)
                } else {
                    SinkState::Data(inc)
                };
                (Mode::Sink(s), None)
            }
            SinkState::DataEnd(inc) => {
                let Some(resp) = self.response() else {
                    if self.eof {
                        self.run_err("lost connection");
                        return (Mode::Finish(1), None);
                    }
                    s.state = SinkState::DataEnd(inc);
                    return (Mode::Sink(s), Some(Step::Read));
                };
                let Incoming {
                    file,
                    path,
                    received,
                    mut error,
                    times,
                    ..
                } = *inc;
                if let (None, Some((m, a)), true) = (&error, times, self.args.preserve) {
                    let t = |s: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
                    let times = std::fs::FileTimes::new()
                        .set_accessed(t(a))
                        .set_modified(t(m));
                    if let Err(e) = file.into_std().set_times(times) {
                        error = Some(format!("{path}: set times: {e}"));
                    }
                }
                match &error {
                    None => self.event(format!("write {path}"), format!("ok: {received} bytes")),
                    Some(e) => self.event(format!("write {path}"), format!("failed: {e}")),
                }
                if matches!(resp, Response::Fatal) {
                    return (Mode::Finish(1), None);
                }
                match error {
                    None => self.out.push(0),
                    Some(e) => self.run_err(&e),
                }
                (Mode::Sink(s), None)
            }
        }
    }

    /// Truncates, sets the mode of a received file (OpenSSH's rules).
    fn finish_file(&mut self, inc: &mut Incoming) {
        if inc.error.is_some() {
            return;
        }
        let size = inc.size;
        if let Err(e) = self.jail.set_len(&inc.file, &mut inc.len, size) {
            inc.error = Some(format!("{}: truncate: {e}", inc.path));
            return;
        }
        if self.args.preserve || !inc.existed {
            let mode = if self.args.preserve {
                inc.mode
            } else {
                inc.mode & !self.umask
            };
            if let Err(e) = inc.file.set_permissions(Permissions::from_mode(mode)) {
                inc.error = Some(format!("{}: set mode: {e}", inc.path));
            }
        }
    }

    /// One control record.
    fn sink_record(&mut self, mut s: Sink, line: &[u8]) -> (Mode, Option<Step>) {
        let Some(&kind) = line.first() else {
            self.run_err("protocol error: unexpected <newline>");
            return (Mode::Finish(1), None);
        };
        match kind {
            1 | 2 => {
                // The source's own error: counted, the transfer goes on.
                self.errors += 1;
                if kind == 2 {
                    return (Mode::Finish(1), None);
                }
                (Mode::Sink(s), None)
            }
            b'E' => {
                let Some(d) = s.dirs.pop() else {
                    // The end of the top level.
                    self.out.push(0);
                    return (Mode::Finish(self.status()), None);
                };
                self.close_dir(&d);
                self.out.push(0);
                (Mode::Sink(s), None)
            }
            b'T' => match parse_times(&line[1..]) {
                Some(t) => {
                    s.times = Some(t);
                    self.out.push(0);
                    (Mode::Sink(s), None)
                }
                None => {
                    self.run_err("protocol error: mtime.sec not delimited");
                    (Mode::Finish(1), None)
                }
            },
            b'C' | b'D' => {
                let Some((mode, size, name)) = parse_record(&line[1..]) else {
                    self.run_err("protocol error: bad mode");
                    return (Mode::Finish(1), None);
                };
                if name.is_empty() || name.contains('/') || name == ".." {
                    self.run_err(&format!("error: unexpected filename: {name}"));
                    return (Mode::Finish(1), None);
                }
                let mode = if self.args.preserve {
                    mode
                } else {
                    mode & !self.umask
                };
                let path = match s.dirs.last() {
                    Some(d) => d.path.join(&name),
                    None if s.target_is_dir => s.target.join(&name),
                    None => s.target.clone(),
                };
                let times = s.times.take();
                if kind == b'D' {
                    if !self.args.recursive {
                        self.run_err("protocol error: received directory without -r");
                        return (Mode::Finish(1), None);
                    }
                    if s.dirs.len() >= MAX_WALK_DEPTH {
                        self.run_err(&format!("{path}: too deep"));
                        return (Mode::Finish(1), None);
                    }
                    match self.enter_dir(&path, mode) {
                        Ok(set_mode) => {
                            s.dirs.push(SinkDir {
                                path,
                                times,
                                mode,
                                set_mode,
                            });
                            self.out.push(0);
                        }
                        Err(e) => self.run_err(&format!("{path}: {e}")),
                    }
                    return (Mode::Sink(s), None);
                }
                match self.open_incoming(&path, mode, size, times) {
                    Ok(inc) => {
                        self.out.push(0);
                        s.state = if size == 0 {
                            let mut inc = Box::new(inc);
                            self.finish_file(&mut inc);
                            SinkState::DataEnd(inc)
                        } else {
                            SinkState::Data(Box::new(inc))
                        };
                    }
                    Err(e) => {
                        self.event(format!("write {path}"), format!("failed: {e}"));
                        self.run_err(&format!("{path}: {e}"));
                    }
                }
                (Mode::Sink(s), None)
            }
            _ => {
                let text = String::from_utf8_lossy(line).into_owned();
                self.run_err(&format!("protocol error: expected control record ({text})"));
                (Mode::Finish(1), None)
            }
        }
    }

    /// `D`: the directory exists or is made; `Ok(true)` when its mode is
    /// to be set at `E`.
    fn enter_dir(&self, path: &VPath, mode: u32) -> Result<bool, FsError> {
        match self.jail.stat(path, true) {
            Ok(st) if st.kind == Kind::Dir => {
                if self.args.preserve {
                    let rel = self.jail.share_path(path)?;
                    self.jail
                        .dir()
                        .set_permissions(&rel, Permissions::from_mode(mode))?;
                }
                Ok(self.args.preserve)
            }
            Ok(_) => Err(FsError::NotDir),
            Err(FsError::NotFound) => {
                let rel = self.jail.writable_path(path)?;
                let mut b = DirBuilder::new();
                b.mode(mode | 0o700);
                self.jail.dir().create_dir_with(&rel, &b)?;
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    /// `E`: the directory's times and mode.
    fn close_dir(&mut self, d: &SinkDir) {
        let Ok(rel) = self.jail.share_path(&d.path) else {
            return;
        };
        if let Some((m, a)) = d.times {
            if let Ok(dir) = self.jail.dir().open_dir(&rel) {
                let t = |s: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
                let times = std::fs::FileTimes::new()
                    .set_accessed(t(a))
                    .set_modified(t(m));
                let _ = dir.into_std_file().set_times(times);
            }
        }
        if d.set_mode {
            let _ = self
                .jail
                .dir()
                .set_permissions(&rel, Permissions::from_mode(d.mode));
        }
    }

    fn open_incoming(
        &self,
        path: &VPath,
        mode: u32,
        size: u64,
        times: Option<(u64, u64)>,
    ) -> Result<Incoming, FsError> {
        let rel = self.jail.writable_path(path)?;
        let existed = match self.jail.stat(path, true) {
            Ok(st) if st.kind == Kind::Dir => return Err(FsError::IsDir),
            Ok(_) => true,
            Err(_) => false,
        };
        let mut o = OpenOptions::new();
        o.write(true).create(true).mode(mode | 0o200);
        let file = self.jail.dir().open_with(&rel, &o)?;
        let len = file.metadata()?.len();
        Ok(Incoming {
            file,
            path: path.clone(),
            size,
            received: 0,
            len,
            existed,
            mode,
            times,
            error: None,
        })
    }

    // ---- source (scp -f) ----

    fn source(&mut self, mut s: Source) -> (Mode, Option<Step>) {
        match std::mem::replace(&mut s.state, SourceState::Next) {
            SourceState::Start => match self.response() {
                None if self.eof => (Mode::Finish(1), None),
                None => {
                    s.state = SourceState::Start;
                    (Mode::Source(s), Some(Step::Read))
                }
                Some(Response::Ok) => {
                    for p in self.args.paths.clone() {
                        let trimmed = if p.len() > 1 {
                            p.trim_end_matches('/')
                        } else {
                            &p
                        };
                        match VPath::parse(&self.cwd, trimmed) {
                            Ok(v) => s.todo.push_back(v),
                            Err(e) => self.run_err(&format!("{p}: {e}")),
                        }
                    }
                    (Mode::Source(s), None)
                }
                Some(_) => (Mode::Finish(1), None),
            },
            SourceState::Next => {
                let next = match s.dirs.last_mut() {
                    Some(entries) => match entries.pop_front() {
                        Some(p) => Some(p),
                        None => {
                            s.dirs.pop();
                            self.out.extend_from_slice(b"E\n");
                            s.state = SourceState::Await(Then::Next);
                            return (Mode::Source(s), None);
                        }
                    },
                    None => s.todo.pop_front(),
                };
                let Some(path) = next else {
                    return (Mode::Finish(self.status()), None);
                };
                self.send_item(&mut s, path);
                (Mode::Source(s), None)
            }
            SourceState::Await(then) => match self.response() {
                None if self.eof => (Mode::Finish(1), None),
                None => {
                    s.state = SourceState::Await(then);
                    (Mode::Source(s), Some(Step::Read))
                }
                Some(Response::Fatal) => (Mode::Finish(1), None),
                Some(Response::Warn) => {
                    if let Then::FileDone(p, n) = &then {
                        self.event(format!("read {p}"), format!("failed after {n} bytes"));
                    }
                    (Mode::Source(s), None)
                }
                Some(Response::Ok) => {
                    match then {
                        Then::Record(path, kind) => self.send_record(&mut s, path, kind),
                        Then::Data(out) => s.state = SourceState::Sending(out),
                        Then::FileDone(p, n) => {
                            self.event(format!("read {p}"), format!("ok: {n} bytes"))
                        }
                        Then::Enter(path) => self.enter_source_dir(&mut s, &path),
                        Then::Next => {}
                    }
                    (Mode::Source(s), None)
                }
            },
            SourceState::Sending(mut o) => {
                let want = (o.size - o.sent).min(CHUNK as u64) as usize;
                let mut buf = vec![0u8; want];
                let mut n = 0;
                while n < want && !o.failed {
                    match o.file.read_at(&mut buf[n..], o.sent + n as u64) {
                        Ok(0) => o.failed = true,
                        Ok(k) => n += k,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => o.failed = true,
                    }
                }
                // A file that shrank or failed under us is padded to the
                // size announced, then reported (as OpenSSH does).
                self.out.extend_from_slice(&buf);
                o.sent += want as u64;
                if o.sent < o.size {
                    s.state = SourceState::Sending(o);
                    return (Mode::Source(s), None);
                }
                if o.failed {
                    self.run_err(&format!("{}: Input/output error", o.path));
                } else {
                    self.out.push(0);
                }
                s.state = SourceState::Await(Then::FileDone(o.path.clone(), o.size));
                (Mode::Source(s), None)
            }
        }
    }

    /// One path to send: a file, or with `-r` a directory.
    fn send_item(&mut self, s: &mut Source, path: VPath) {
        if s.budget == 0 {
            self.run_err(&format!("{path}: too many files"));
            return;
        }
        s.budget -= 1;
        let st = match self.jail.stat(&path, true) {
            Ok(st) => st,
            Err(e) => {
                self.run_err(&format!("{path}: {e}"));
                return;
            }
        };
        match st.kind {
            Kind::File => {}
            Kind::Dir if self.args.recursive => {}
            _ => {
                self.run_err(&format!("{path}: not a regular file"));
                return;
            }
        }
        if self.args.preserve {
            self.out.extend_from_slice(
                format!("T{} 0 {} 0\n", st.mtime.max(0), st.atime.max(0)).as_bytes(),
            );
            s.state = SourceState::Await(Then::Record(path, st.kind));
            return;
        }
        self.send_record(s, path, st.kind);
    }

    /// The `C` (with the file opened) or `D` record.
    fn send_record(&mut self, s: &mut Source, path: VPath, kind: Kind) {
        let name = path.file_name().unwrap_or("/").replace('\n', "\\012");
        let r = (|| {
            let rel = self.jail.share_path(&path)?;
            if kind == Kind::Dir {
                let md = self.jail.dir().metadata(&rel)?;
                return Ok::<_, FsError>((None, md.permissions().mode(), 0));
            }
            let file = self.jail.dir().open(&rel)?;
            let md = file.metadata()?;
            if !md.is_file() {
                return Err(FsError::IsDir);
            }
            Ok((Some(file), md.permissions().mode(), md.len()))
        })();
        match r {
            Err(e) => self.run_err(&format!("{path}: {e}")),
            Ok((None, mode, _)) => {
                self.out
                    .extend_from_slice(format!("D{:04o} 0 {name}\n", mode & 0o7777).as_bytes());
                s.state = SourceState::Await(Then::Enter(path));
            }
            Ok((Some(file), mode, size)) => {
                self.out.extend_from_slice(
                    format!("C{:04o} {size} {name}\n", mode & 0o7777).as_bytes(),
                );
                let o = Box::new(Outgoing {
                    file,
                    path: path.clone(),
                    size,
                    sent: 0,
                    failed: false,
                });
                s.state = SourceState::Await(Then::Data(o));
            }
        }
    }

    /// After a `D` was accepted: its entries are sent next.
    fn enter_source_dir(&mut self, s: &mut Source, path: &VPath) {
        if s.dirs.len() >= MAX_WALK_DEPTH {
            self.run_err(&format!("{path}: too deep"));
            self.out.extend_from_slice(b"E\n");
            s.state = SourceState::Await(Then::Next);
            return;
        }
        let mut names = Vec::new();
        match self.jail.list(path) {
            Ok(mut l) => loop {
                let batch = l.next_batch(256);
                if batch.is_empty() || names.len() >= s.budget {
                    break;
                }
                names.extend(batch.into_iter().map(|(n, _)| n));
            },
            Err(e) => self.run_err(&format!("{path}: {e}")),
        }
        names.truncate(s.budget);
        names.sort();
        s.dirs
            .push(names.into_iter().map(|n| path.join(&n)).collect());
    }
}

/// `<mtime> 0 <atime> 0` (after the `T`).
fn parse_times(rest: &[u8]) -> Option<(u64, u64)> {
    let text = std::str::from_utf8(rest).ok()?;
    let f: Vec<&str> = text.split(' ').collect();
    let [m, mu, a, au] = f.as_slice() else {
        return None;
    };
    let usec = |s: &str| s.parse::<u32>().ok().filter(|&u| u <= 999_999);
    usec(mu)?;
    usec(au)?;
    let secs = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse::<u64>().ok())
            .flatten()
            .filter(|&v| v <= i64::MAX as u64 / 2)
    };
    Some((secs(m)?, secs(a)?))
}

/// `<4 octal digits> <size> <name>` (after the `C` or `D`).
fn parse_record(rest: &[u8]) -> Option<(u32, u64, String)> {
    let digits = rest.get(..4)?;
    if !digits.iter().all(|b| (b'0'..=b'7').contains(b)) || rest.get(4) != Some(&b' ') {
        return None;
    }
    let mode = digits
        .iter()
        .fold(0u32, |m, b| (m << 3) | u32::from(b - b'0'));
    let after = &rest[5..];
    let sp = after.iter().position(|&b| b == b' ')?;
    let size_text = std::str::from_utf8(&after[..sp]).ok()?;
    if size_text.is_empty() || !size_text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let size: u64 = size_text.parse().ok().filter(|&s| s <= i64::MAX as u64)?;
    let name = String::from_utf8_lossy(&after[sp + 1..]).into_owned();
    Some((mode, size, name))
}

#[cfg(test)]
mod tests;
