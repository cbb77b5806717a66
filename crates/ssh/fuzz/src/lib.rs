//! Bodies of the `vfs`, `clp`, `esxi` and `terminal` fuzz targets, kept out
//! of `fuzz_targets/` so that the stable smoke test
//! (`crates/fuzzing/tests/smoke.rs`, which includes this file) runs exactly
//! what libFuzzer runs. Any panic is a bug, and so is a broken invariant
//! asserted below.
//!
//! Inputs that carry several fields (a path and a symlink target, a session
//! of command lines) separate them with [`SEP`] or newlines.

use fakedc_model::{Model, Privilege};
use fakedc_scenario::{ParseOptions, Scenario};
use fakedc_ssh::clp::{Clp, Status};
use fakedc_ssh::esxi::{self, EsxiInfo, EsxiShell};
use fakedc_ssh::jail::Jail;
use fakedc_ssh::quota::Quota;
use fakedc_ssh::terminal::{self, Input, LineEditor, MAX_LINE};
use fakedc_ssh::vfs::{Layout, Place, VPath, MAX_DEPTH, MAX_NAME};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

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
    let now = Instant::now();
    for privilege in [Privilege::Operator, Privilege::User] {
        let model = fresh_model();
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

/// The fixture directory, created once per process under the temp dir (at
/// the same path every time, idempotently, so runs leave one small tree
/// behind, not one per process).
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let top: PathBuf = std::env::temp_dir().join(format!("fakedc-ssh-fuzz-{MARKER}"));
        let share = top.join(DATASTORE);
        let pid = std::process::id();
        let mkdir = |p: &Path| {
            std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        };
        mkdir(&share.join("vm01"));
        mkdir(&share.join("iso"));
        let secret = top.join(format!("{MARKER}secret.txt"));
        put(
            &secret,
            &top.join(format!(".tmp-{pid}")),
            format!("{MARKER} outside the datastore\n").as_bytes(),
        );
        let staging = |n: &str| share.join(format!("{}{n}", fakedc_ssh::jail::STAGING_PREFIX));
        put(
            &staging(MARKER),
            &staging(&format!("tmp-{pid}")),
            format!("{MARKER} partial upload\n").as_bytes(),
        );
        let inside =
            |n: &str| share.join(format!("{}tmp-{pid}-{n}", fakedc_ssh::jail::STAGING_PREFIX));
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

/// The ESXi shell (`esxi`): the input's lines, one command line each, in
/// one session (so `cd` carries over) on a fresh model, over the fixture
/// datastore ([`fixture`]).
///
/// Invariant: nothing may panic, and no output shows [`MARKER`] unless the
/// input holds it (no file outside the datastore, no staging file, no real
/// path of the share).
pub fn esxi(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fixture = fixture();
    let model = fresh_model();
    let Some(host) = model.find("esxi01").map(|m| m.id) else {
        panic!("the scenario's ESXi host is missing");
    };
    let info = EsxiInfo {
        version: "7.0.3".into(),
        build: "21930508".into(),
        datastore: DATASTORE.into(),
    };
    let mut shell = EsxiShell::new(model, host, Some(fixture.jail.clone()), info, "root");
    let may_show = text.contains(MARKER);
    let now = Instant::now();
    for line in text.lines().take(MAX_LINES) {
        let o = shell.run(line, now);
        let prompt = shell.prompt();
        if !may_show {
            for (what, s) in [
                ("stdout", &o.stdout),
                ("stderr", &o.stderr),
                ("prompt", &prompt),
            ] {
                assert!(!s.contains(MARKER), "{line:?}: {what} shows {s:?}");
            }
        }
        if o.exit {
            break;
        }
    }
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
