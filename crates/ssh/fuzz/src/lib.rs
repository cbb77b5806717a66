//! Bodies of the `vfs`, `clp`, `esxi` and `terminal` fuzz targets, kept out
//! of `fuzz_targets/` so that the stable smoke test
//! (`crates/fuzzing/tests/smoke.rs`, which includes this file) runs exactly
//! what libFuzzer runs. Any panic is a bug, and so is a broken invariant
//! asserted below.
//!
//! Inputs that carry several fields (a path and a symlink target, a session
//! of command lines) separate them with [`SEP`] or newlines.

use fakedc_model::{Model, Privilege, Quota};
use fakedc_scenario::{ParseOptions, Scenario};
use fakedc_ssh::clp::{Clp, Status};
use fakedc_ssh::esxi::{self, EsxiInfo, EsxiShell};
use fakedc_ssh::jail::Jail;
use fakedc_ssh::terminal::{self, Input, LineEditor, MAX_LINE};
use fakedc_ssh::vfs::{Layout, Place, VPath, MAX_DEPTH, MAX_NAME};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// Separates the fields of a `vfs` input (a path, then a symlink target).
pub const SEP: char = '\u{1}';
/// The datastore the fuzzed hosts mount at `/vmfs/volumes/<name>`.
pub const DATASTORE: &str = "datastore1";
/// Command lines run per input at most (a session, not a script of
/// thousands: each line may print a directory listing).
pub const MAX_LINES: usize = 16;

/// A path component as the jail needs it: a plain name.
fn assert_plain(p: &VPath) {
    assert!(p.components().len() <= MAX_DEPTH, "{p}: too deep");
    for c in p.components() {
        assert!(
            !c.is_empty() && c != "." && c != ".." && !c.contains('/') && !c.contains('\0'),
            "{p}: component {c:?} survived normalisation"
        );
        assert!(c.len() <= MAX_NAME, "{p}: component over NAME_MAX");
    }
}

/// SFTP and shell paths (`vfs`): a path as a client names it, resolved
/// from `/` and from the session's home (the datastore), then optionally a
/// symlink target for a link at that path (SFTP `symlink`).
///
/// Invariants: no empty, `.` or `..` component survives; printing and
/// parsing again gives the same path from any base (idempotent); a relative
/// path resolves like the base's text joined with it; a path placed in the
/// share is under the mount and its on-disk relative path is plain names
/// only (or `.` for the mount itself); and a stored symlink target, walked
/// from the directory the link is in, never leaves the datastore and ends
/// on the target the client named.
pub fn vfs(data: &[u8]) {
    // russh-sftp hands paths over as UTF-8 strings.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, target) = match text.split_once(SEP) {
        Some((p, t)) => (p, Some(t)),
        None => (text, None),
    };
    let layout = Layout::datastore(DATASTORE);
    let home = layout.mount().clone();
    let root = VPath::root();
    for base in [&root, &home] {
        let Ok(p) = VPath::parse(base, path) else {
            continue;
        };
        assert_plain(&p);
        let shown = p.to_string();
        for b in [&root, &home, &p] {
            assert_eq!(
                VPath::parse(b, &shown).as_ref(),
                Ok(&p),
                "{shown:?} is not a fixed point"
            );
        }
        if !path.starts_with('/') {
            if let Ok(q) = VPath::parse(&root, &format!("{base}/{path}")) {
                assert_eq!(q, p, "{path:?} from {base}");
            }
        }
        match layout.place(&p) {
            Place::Share(rel) => {
                assert!(p.starts_with(&home), "{p} placed in the share");
                let below = &p.components()[home.components().len()..];
                if below.is_empty() {
                    assert_eq!(rel, Path::new("."));
                } else {
                    let names: Vec<&str> = rel
                        .components()
                        .map(|c| match c {
                            Component::Normal(n) => n.to_str().unwrap_or("\u{fffd}"),
                            other => panic!("{p} → {rel:?}: component {other:?}"),
                        })
                        .collect();
                    assert_eq!(names, below, "{p} → {rel:?}");
                }
            }
            Place::Synthetic { children } => {
                assert!(home.starts_with(&p) && home != p, "{p} synthetic");
                assert_eq!(children, [home.components()[p.components().len()].clone()]);
            }
            Place::Outside => {
                assert!(
                    !p.starts_with(&home) && !home.starts_with(&p),
                    "{p} outside"
                );
            }
        }
        let Some(target) = target else {
            continue;
        };
        // As SFTP `symlink` resolves a target: relative to the link's directory.
        let Ok(tv) = VPath::parse(&p.parent(), target) else {
            continue;
        };
        assert_plain(&tv);
        let Some(stored) = layout.relative_target(&p, &tv) else {
            continue;
        };
        assert!(!stored.starts_with('/'), "absolute link text {stored:?}");
        let mut at = p.parent();
        assert!(
            at.starts_with(&home),
            "link {p} → {tv}: its directory {at} is outside the datastore"
        );
        for c in stored.split('/') {
            at = VPath::parse(&at, c).unwrap_or_else(|e| panic!("{stored:?}: {e}"));
            assert!(
                at.starts_with(&home),
                "link {p} → {stored:?} leaves the datastore at {at}"
            );
        }
        assert_eq!(at, tv, "link {p} → {stored:?}");
    }
}

/// One ESXi host with two VMs and one BMC'd Hyper-V host, no boot or
/// shutdown delays (power changes are immediate, so every input sees the
/// same states at the same instant).
const SCENARIO: &str = r#"
[defaults]
boot_delay_ms = 0
shutdown_delay_ms = 0

[[machine]]
name = "srv1"
role = "hyperv-host"
address = "127.0.0.1"
bmc = "srv1-bmc"

[[machine]]
name = "srv1-bmc"
role = "bmc"
address = "127.0.0.2"

[[machine]]
name = "esxi01"
role = "esxi-host"
address = "127.0.0.3"

[[machine.vm]]
name = "vm01"
state = "running"

[[machine.vm]]
name = "vm02"
state = "off"
"#;

/// The scenario, parsed once; each input gets a fresh model from it, so
/// one input's power changes never leak into the next (a crash reproduces
/// from its input alone).
pub fn scenario() -> &'static Scenario {
    static S: OnceLock<Scenario> = OnceLock::new();
    S.get_or_init(|| {
        Scenario::parse("fuzz.toml", SCENARIO, &ParseOptions::default())
            .unwrap_or_else(|e| panic!("fuzz scenario: {e}"))
    })
}

fn fresh_model() -> Arc<Model> {
    Arc::new(scenario().model())
}

/// A SMASH CLP session on a BMC (`clp`): the input's lines, one command
/// each, first as an operator, then as a user.
///
/// Invariants: every command line that is not blank and not `exit` gets a
/// DSP0214 response whose text starts with its `status=`/`status_tag=`
/// keywords, with `error=`/`error_tag=` exactly when processing failed; and
/// a user-privilege session never changes the chassis (power or boot).
pub fn clp(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for privilege in [Privilege::Operator, Privilege::User] {
        let model = fresh_model();
        let now = model.clock.now();
        let Some(bmc) = model.find("srv1-bmc").map(|m| m.id) else {
            panic!("the scenario's BMC is missing");
        };
        let chassis = model.machine(bmc).chassis;
        let before = model.chassis(chassis, now);
        let mut session = Clp::new(model.clone(), bmc, privilege);
        for line in text.lines().take(MAX_LINES) {
            let o = session.run(line, now);
            if o.exit {
                break;
            }
            if esxi::words(line).is_ok_and(|w| w.is_empty()) {
                assert!(o.text.is_empty() && o.status == Status::Completed);
                continue;
            }
            let head = format!("status={}\nstatus_tag=", o.status as u8);
            assert!(o.text.starts_with(&head), "{line:?} → {:?}", o.text);
            assert_eq!(
                o.error.is_some(),
                o.status == Status::ProcessingFailed,
                "{line:?} → {:?}",
                o.text
            );
            if let Some(e) = o.error {
                let keywords = format!("error={}\nerror_tag={}\n", e as u8, e.tag());
                assert!(o.text.contains(&keywords), "{line:?} → {:?}", o.text);
            }
        }
        if privilege < Privilege::Operator {
            let after = model.chassis(chassis, now);
            assert_eq!(before.power, after.power, "a user changed the power");
            assert_eq!(before.boot, after.boot, "a user changed the boot order");
        }
    }
}

/// In every name and in every byte the fixture keeps outside the share or
/// in staging files: whenever an output holds it and the input did not, the
/// shell showed something it must not (a file outside the datastore, a
/// partial upload, the share's real path).
pub const MARKER: &str = "\u{1F512}";

/// The datastore the `esxi` target's shell sees: a VM directory, a legit
/// symlink, symlinks planted to lead outside (relative, absolute, to `/`),
/// an in-flight upload, and a secret next to the share. All of it carries
/// [`MARKER`] except what the shell may show.
pub struct Fixture {
    pub jail: Arc<Jail>,
}

/// Writes `bytes` at `path` unless it is there already, through a rename
/// (several fuzzing processes share the fixture); `tmp` is the name to
/// write first.
fn put(path: &Path, tmp: &Path, bytes: &[u8]) {
    if path.exists() {
        return;
    }
    std::fs::write(tmp, bytes).unwrap_or_else(|e| panic!("{}: {e}", tmp.display()));
    std::fs::rename(tmp, path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn link(target: &Path, at: &Path) {
    match std::os::unix::fs::symlink(target, at) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => panic!("{}: {e}", at.display()),
    }
}

/// Plants the fixture tree under `top` (the share at `top/DATASTORE`),
/// idempotently; `tag` keeps concurrent writers' temporary names apart.
fn plant(top: &Path, tag: &str) -> PathBuf {
    let share = top.join(DATASTORE);
    let mkdir =
        |p: &Path| std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    mkdir(&share.join("vm01"));
    mkdir(&share.join("iso"));
    let secret = top.join(format!("{MARKER}secret.txt"));
    put(
        &secret,
        &top.join(format!(".tmp-{tag}")),
        format!("{MARKER} outside the datastore\n").as_bytes(),
    );
    let staging = |n: &str| share.join(format!("{}{n}", fakedc_ssh::jail::STAGING_PREFIX));
    put(
        &staging(MARKER),
        &staging(&format!("tmp-{tag}")),
        format!("{MARKER} partial upload\n").as_bytes(),
    );
    let inside = |n: &str| share.join(format!("{}tmp-{tag}-{n}", fakedc_ssh::jail::STAGING_PREFIX));
    put(
        &share.join("vm01/vm01.vmx"),
        &inside("vmx"),
        b".encoding = \"UTF-8\"\ndisplayName = \"vm01\"\nguestOS = \"otherGuest64\"\n",
    );
    put(&share.join("vm01/vm01.vmdk"), &inside("vmdk"), &[0u8; 512]);
    put(
        &share.join("iso/readme.txt"),
        &inside("txt"),
        b"one\ntwo\nthree\n",
    );
    link(Path::new("vm01/vm01.vmx"), &share.join("current.vmx"));
    link(Path::new("/"), &share.join("escape"));
    link(
        Path::new(&format!("../{MARKER}secret.txt")),
        &share.join("up"),
    );
    link(&secret, &share.join("abs"));
    link(Path::new(".."), &share.join("parent"));
    share
}

/// The fixture directory, created once per process under the temp dir (at
/// the same path every time, idempotently, so runs leave one small tree
/// behind, not one per process). Read-only use: the `esxi` target writes
/// into [`Scratch`] instead.
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let top: PathBuf = std::env::temp_dir().join(format!("fakedc-ssh-fuzz-{MARKER}"));
        let share = plant(&top, &std::process::id().to_string());
        let jail = Jail::open(
            &share,
            Layout::datastore(DATASTORE),
            Arc::new(Quota::new(None)),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", share.display()));
        Fixture {
            jail: Arc::new(jail),
        }
    })
}

/// Bytes the `esxi` target's datastore may hold (its writes are bounded).
pub const SCRATCH_QUOTA: u64 = 1 << 20;

/// The `esxi` target's own copy of the fixture, per process (the shell
/// writes: `mkdir`, `rm -r`, `cp`, `>`), rebuilt whenever an input changed
/// it, so every input starts from the same tree. Trees of processes that
/// are gone are removed when the next process starts.
pub struct Scratch {
    top: PathBuf,
    share: PathBuf,
    jail: Arc<Jail>,
    /// The tree as planted, for the "nothing changed" check.
    pristine: Vec<String>,
}

impl Scratch {
    fn new() -> Scratch {
        let base = std::env::temp_dir().join(format!("fakedc-ssh-fuzz-{MARKER}-scratch"));
        if let Ok(entries) = std::fs::read_dir(&base) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name
                    .parse::<u32>()
                    .is_ok_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
                {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let top = base.join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&top);
        let (share, jail) = Scratch::build(&top);
        let pristine = snapshot(&top);
        Scratch {
            top,
            share,
            jail,
            pristine,
        }
    }

    fn build(top: &Path) -> (PathBuf, Arc<Jail>) {
        let share = plant(top, "scratch");
        let jail = Jail::open(
            &share,
            Layout::datastore(DATASTORE).with_tmp(),
            Arc::new(Quota::new(Some(SCRATCH_QUOTA))),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", share.display()));
        (share, Arc::new(jail))
    }

    /// After an input: anything outside the datastore that changed is an
    /// escape; a changed datastore is planted again.
    fn check_and_reset(&mut self, input: &str) {
        let now = snapshot(&self.top);
        if now == self.pristine {
            return;
        }
        let outside = |v: &[String]| -> Vec<String> {
            v.iter()
                .filter(|e| {
                    !e.starts_with(&format!("{DATASTORE}/"))
                        && !e.starts_with(&format!("{DATASTORE} "))
                })
                .cloned()
                .collect()
        };
        assert_eq!(
            outside(&now),
            outside(&self.pristine),
            "{input:?} changed something outside the datastore"
        );
        let _ = std::fs::remove_dir_all(&self.share);
        let (share, jail) = Scratch::build(&self.top);
        self.share = share;
        self.jail = jail;
        assert_eq!(
            snapshot(&self.top),
            self.pristine,
            "the scratch tree did not reset"
        );
    }
}

/// Every entry under `top` (not following symlinks): path, type, size,
/// mode, link target; sorted. Files' contents are summed, so a changed
/// secret shows.
fn snapshot(top: &Path) -> Vec<String> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<String>, depth: usize) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            if out.len() > 10_000 {
                return;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            let rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let Ok(md) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            use std::os::unix::fs::PermissionsExt;
            let mode = md.permissions().mode();
            if md.is_symlink() {
                let t = std::fs::read_link(&path).unwrap_or_default();
                out.push(format!("{rel} link {}", t.display()));
            } else if md.is_dir() {
                out.push(format!("{rel} dir {mode:o}"));
                if depth < 16 {
                    walk(&path, &rel, out, depth + 1);
                }
            } else {
                let sum: u64 = std::fs::read(&path)
                    .map(|b| b.iter().map(|&x| u64::from(x)).sum())
                    .unwrap_or(0);
                out.push(format!("{rel} file {mode:o} {} {sum}", md.len()));
            }
        }
    }
    let mut out = Vec::new();
    walk(top, "", &mut out, 0);
    out.sort();
    out
}

fn scratch() -> std::sync::MutexGuard<'static, Scratch> {
    static S: OnceLock<std::sync::Mutex<Scratch>> = OnceLock::new();
    S.get_or_init(|| std::sync::Mutex::new(Scratch::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// The forms each line is also run in, so every seed reaches the shell's
/// syntax (subshells, substitution, redirection into the jail, lists,
/// negation, `sh -c`) whatever the mutator makes of it.
fn wrapped(line: &str, i: usize) -> String {
    match i % 5 {
        0 => format!("( {line} )"),
        1 => format!("X=$({line}); echo \"$X\" | head -n 3"),
        2 => format!("{{ {line} ; }} > /tmp/o 2>&1; cat /tmp/o; rm -f /tmp/o"),
        3 => format!("{line} && echo ok || echo \"failed $?\""),
        _ => format!("! {line}; echo $?; sh -c \"$X\""),
    }
}

/// The ESXi shell (`esxi`): the input's lines, one command line each, in
/// one session (so `cd` and variables carry over) on a fresh model, over a
/// writable copy of the fixture datastore ([`Scratch`], quota
/// [`SCRATCH_QUOTA`]); each line is run as typed and once more wrapped in
/// one of the sh forms ([`wrapped`]).
///
/// Invariants: nothing may panic; no output shows [`MARKER`] unless the
/// input holds it (no file outside the datastore, no staging file, no real
/// path of the share); output stays within the shell's limit; and nothing
/// outside the datastore changes (the secret next to it, the tree around
/// it), whatever the shell wrote.
pub fn esxi(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut scratch = scratch();
    let model = fresh_model();
    let Some(host) = model.find("esxi01").map(|m| m.id) else {
        panic!("the scenario's ESXi host is missing");
    };
    let info = EsxiInfo {
        version: "7.0.3".into(),
        build: "21930508".into(),
        datastore: DATASTORE.into(),
    };
    let now = model.clock.now();
    let mut shell = EsxiShell::new(model, host, Some(scratch.jail.clone()), info, "root");
    let may_show = text.contains(MARKER);
    'lines: for (i, line) in text.lines().take(MAX_LINES).enumerate() {
        for l in [line.to_string(), wrapped(line, i)] {
            let o = shell.run(&l, now);
            let prompt = shell.prompt();
            assert!(
                o.stdout.len() <= esxi::MAX_OUTPUT + 4096
                    && o.stderr.len() <= esxi::MAX_OUTPUT + 4096,
                "{l:?}: {} + {} bytes of output",
                o.stdout.len(),
                o.stderr.len()
            );
            if !may_show {
                for (what, s) in [
                    ("stdout", &o.stdout),
                    ("stderr", &o.stderr),
                    ("prompt", &prompt),
                ] {
                    assert!(!s.contains(MARKER), "{l:?}: {what} shows {s:?}");
                }
            }
            if o.exit {
                break 'lines;
            }
        }
    }
    drop(shell);
    scratch.check_and_reset(text);
}

/// The interactive line discipline (`terminal`): the input as the bytes a
/// client types, with and without a pty.
///
/// Invariants: the inputs and echo do not depend on how the bytes are cut
/// into SSH packets (all at once or one per packet); a line holds no control
/// characters and at most [`MAX_LINE`] characters; without a pty nothing is
/// echoed, with one the echo holds no escape or control bytes other than
/// CR, LF, backspace and bell (typed escape sequences never reach the
/// client's terminal); and output conversion only adds a CR before bare LFs.
pub fn terminal(data: &[u8]) {
    for pty in [false, true] {
        let mut whole = LineEditor::new(pty);
        let mut echo_whole = Vec::new();
        let got_whole = whole.feed(data, &mut echo_whole);

        let mut split = LineEditor::new(pty);
        let mut echo_split = Vec::new();
        let mut got_split = Vec::new();
        for b in data {
            let got = split.feed(std::slice::from_ref(b), &mut echo_split);
            let eof = got.contains(&Input::Eof);
            got_split.extend(got);
            if eof {
                break;
            }
        }
        assert_eq!(got_whole, got_split, "pty={pty}: packet boundaries matter");
        assert_eq!(
            echo_whole, echo_split,
            "pty={pty}: packet boundaries matter"
        );
        let mut lines: Vec<String> = got_whole
            .into_iter()
            .filter_map(|i| match i {
                Input::Line(l) => Some(l),
                _ => None,
            })
            .collect();
        // After ^D both stopped on an empty line; otherwise both saw everything.
        let partial = whole.take_partial();
        assert_eq!(
            partial,
            split.take_partial(),
            "pty={pty}: partial lines differ"
        );
        lines.extend(partial);
        for l in &lines {
            assert!(
                l.chars().count() <= MAX_LINE,
                "line of {} chars",
                l.chars().count()
            );
            assert!(
                !l.chars().any(|c| (c as u32) < 0x20),
                "control character in line {l:?}"
            );
        }
        if pty {
            for &b in &echo_whole {
                assert!(
                    b >= 0x20 || matches!(b, b'\r' | b'\n' | 0x08 | 0x07),
                    "echo byte {b:#04x} in {echo_whole:?}"
                );
            }
        } else {
            assert!(echo_whole.is_empty(), "echo without a pty");
        }
        let text = String::from_utf8_lossy(data);
        let out = terminal::for_terminal(&text, pty);
        if pty {
            let bare = text
                .as_bytes()
                .iter()
                .enumerate()
                .filter(|&(i, &b)| b == b'\n' && (i == 0 || text.as_bytes()[i - 1] != b'\r'))
                .count();
            assert_eq!(out.len(), text.len() + bare);
            for (i, &b) in out.iter().enumerate() {
                if b == b'\n' {
                    assert!(i > 0 && out[i - 1] == b'\r', "bare LF at {i}");
                }
            }
        } else {
            assert_eq!(out, text.as_bytes());
        }
    }
}
