//! The shell run line by line over a temporary datastore: syntax, state,
//! redirections, the file commands, identities and limits.

use super::*;
use crate::vfs::Layout;
use fakedc_model::Quota;

const SCENARIO: &str = r#"
[[machine]]
name = "esxi01"
role = "esxi-host"
address = "127.0.0.1"
[[machine.vm]]
name = "vm01"
state = "off"

[[machine]]
name = "esx01"
role = "esx-host"
address = "127.0.0.2"
"#;

struct Fixture {
    root: std::path::PathBuf,
    model: Arc<Model>,
    jail: Arc<Jail>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn fixture(name: &str, quota: Option<u64>) -> Fixture {
    let root = std::env::temp_dir().join(format!("fakedc-esxi-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let scenario = fakedc_scenario::Scenario::parse(
        "test",
        SCENARIO,
        &fakedc_scenario::ParseOptions::default(),
    )
    .expect("scenario");
    let model = Arc::new(scenario.model());
    let jail = Arc::new(
        Jail::open(
            &root,
            Layout::datastore("datastore1").with_tmp(),
            Arc::new(Quota::new(quota)),
        )
        .expect("jail"),
    );
    Fixture { root, model, jail }
}

fn shell(f: &Fixture, host: &str) -> EsxiShell {
    let id = f.model.find(host).expect("host").id;
    let info = EsxiInfo {
        version: "7.0.3".into(),
        build: "21930508".into(),
        datastore: "datastore1".into(),
    };
    EsxiShell::new(f.model.clone(), id, Some(f.jail.clone()), info, "root")
}

fn run(sh: &mut EsxiShell, line: &str) -> Outcome {
    let now = sh.model.clock.now();
    sh.run(line, now)
}

#[test]
fn the_issue_line_and_not_found() {
    let f = fixture("issue", None);
    let mut sh = shell(&f, "esxi01");
    let o = run(&mut sh, "( umask 77 && mkdir -p /tmp/x && echo ok )");
    assert_eq!(
        (o.stdout.as_str(), o.stderr.as_str(), o.code),
        ("ok\n", "", 0)
    );
    let md = std::fs::metadata(f.root.join(".fakedc-tmp/x")).expect("made in the share's tmp");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(md.permissions().mode() & 0o777, 0o700);
    // The subshell's umask stayed in the subshell.
    assert_eq!(run(&mut sh, "umask").stdout, "0022\n");
    let o = run(&mut sh, "foo bar");
    assert_eq!((o.stderr.as_str(), o.code), ("sh: foo: not found\n", 127));
    assert_eq!(run(&mut sh, "echo $?").stdout, "127\n");
    let o = run(&mut sh, "/bin/nope");
    assert_eq!(o.stderr, "sh: /bin/nope: not found\n");
    assert_eq!(run(&mut sh, "/bin/echo hi").stdout, "hi\n");
}

#[test]
fn lists_subshells_and_status() {
    let f = fixture("lists", None);
    let mut sh = shell(&f, "esxi01");
    assert_eq!(
        run(&mut sh, "false && echo a || echo b; echo c").stdout,
        "b\nc\n"
    );
    assert_eq!(
        run(&mut sh, "true || echo no; ! false && echo yes").stdout,
        "yes\n"
    );
    let o = run(&mut sh, "(exit 3); echo $?");
    assert_eq!((o.stdout.as_str(), o.exit), ("3\n", false));
    let o = run(&mut sh, "{ echo in; exit 4; }; echo never");
    assert_eq!((o.stdout.as_str(), o.code, o.exit), ("in\n", 4, true));
    let mut sh = shell(&f, "esxi01");
    run(&mut sh, "cd /tmp && X=1");
    assert_eq!(run(&mut sh, "pwd; echo $X").stdout, "/tmp\n1\n");
    assert_eq!(
        run(&mut sh, "(cd /; Y=2); pwd; echo \"[$Y]\"").stdout,
        "/tmp\n[]\n"
    );
    assert_eq!(run(&mut sh, "exit 300").code, 44);
    let o = run(&mut sh, "echo (");
    assert_eq!(
        (o.stderr.as_str(), o.code),
        ("sh: syntax error: unexpected \"(\"\n", 2)
    );
    assert_eq!(
        run(&mut sh, "vim-cmd vmsvc/getallvms | grep vm01 | wc -l").stdout,
        "1\n"
    );
    // `cd` in a pipeline stage is a subshell's.
    assert_eq!(run(&mut sh, "cd / | true; pwd").stdout, "/tmp\n");
    assert_eq!(run(&mut sh, "echo a & echo b").stdout, "a\nb\n");
}

#[test]
fn quoting_and_expansion() {
    let f = fixture("expand", None);
    let mut sh = shell(&f, "esxi01");
    assert_eq!(
        run(&mut sh, r#"echo 'a  b' "c  $HOME" d\ \ e"#).stdout,
        "a  b c  / d  e\n"
    );
    run(&mut sh, "V='x   y'");
    assert_eq!(run(&mut sh, "printf '[%s]' $V; echo").stdout, "[x][y]\n");
    assert_eq!(
        run(&mut sh, "printf '[%s]' \"$V\"; echo").stdout,
        "[x   y]\n"
    );
    assert_eq!(
        run(&mut sh, "printf '[%s]' ${V}z; echo").stdout,
        "[x][yz]\n"
    );
    assert_eq!(
        run(&mut sh, "printf '[%s]' $NOPE \"\"; echo").stdout,
        "[]\n"
    );
    assert_eq!(
        run(&mut sh, "echo $(echo a; echo b) `hostname`").stdout,
        "a b esxi01\n"
    );
    assert_eq!(run(&mut sh, "echo \"$(printf 'a\\n\\n')\"x").stdout, "ax\n");
    assert_eq!(run(&mut sh, "X=$(false); echo $?").stdout, "1\n");
    assert_eq!(run(&mut sh, "echo ~ ~/a '~'").stdout, "/ //a ~\n");
    assert_eq!(
        run(&mut sh, "echo $USER@$HOSTNAME $0").stdout,
        "root@esxi01 sh\n"
    );
    assert_eq!(run(&mut sh, "export A=1 B; echo $A").stdout, "1\n");
    assert_eq!(run(&mut sh, "unset A; echo \"[$A]\"").stdout, "[]\n");
    assert_eq!(
        run(&mut sh, "sh -c 'echo $1 in; exit 5'; echo $?").stdout,
        "in\n5\n"
    );
}

#[test]
fn redirections_into_the_jail() {
    let f = fixture("redir", None);
    let mut sh = shell(&f, "esxi01");
    let ds = "/vmfs/volumes/datastore1";
    let o = run(
        &mut sh,
        &format!("cd {ds} && echo one > f && echo two >> f && cat f"),
    );
    assert_eq!(o.stdout, "one\ntwo\n");
    assert_eq!(std::fs::read(f.root.join("f")).expect("f"), b"one\ntwo\n");
    assert_eq!(run(&mut sh, "echo x > f; cat < f").stdout, "x\n");
    let o = run(&mut sh, "nope 2>/dev/null; echo $?");
    assert_eq!((o.stdout.as_str(), o.stderr.as_str()), ("127\n", ""));
    run(&mut sh, "{ echo out; nope; } > both 2>&1");
    assert_eq!(
        std::fs::read_to_string(f.root.join("both")).expect("both"),
        "out\nsh: nope: not found\n"
    );
    let o = run(&mut sh, "echo e 1>&2");
    assert_eq!((o.stdout.as_str(), o.stderr.as_str()), ("", "e\n"));
    let o = run(&mut sh, "echo x > /etc/passwd; echo $?");
    assert_eq!(o.stdout, "1\n");
    assert_eq!(
        o.stderr,
        "sh: can't create /etc/passwd: Permission denied\n"
    );
    let o = run(&mut sh, "echo x > nodir/f");
    assert_eq!(
        o.stderr,
        "sh: can't create nodir/f: nonexistent directory\n"
    );
    let o = run(&mut sh, "cat < nope");
    assert!(o.stderr.starts_with("sh: can't open 'nope'"), "{o:?}");
    // The redirection happens even when the command is not found.
    run(&mut sh, "nope > made");
    assert!(f.root.join("made").exists());
    let o = run(&mut sh, "echo > .fakedc-tmp/x");
    assert_eq!(o.code, 1, "reserved names are refused: {o:?}");
}

#[test]
fn file_commands() {
    let f = fixture("files", None);
    let mut sh = shell(&f, "esxi01");
    let script = "cd /vmfs/volumes/datastore1 && mkdir -p a/b/c && echo hi > a/b/c/f && \
        cp -r a a2 && mv a2 a3 && chmod 600 a3/b/c/f && ls a3/b/c && cat a3/b/c/f && \
        rm -r a && test -d a3 && [ ! -e a ] && touch t && ls";
    let o = run(&mut sh, script);
    assert_eq!(
        (o.stdout.as_str(), o.stderr.as_str()),
        ("f\nhi\na3\nt\n", "")
    );
    use std::os::unix::fs::PermissionsExt;
    let md = std::fs::metadata(f.root.join("a3/b/c/f")).expect("copied");
    assert_eq!(md.permissions().mode() & 0o777, 0o600);
    let o = run(&mut sh, "rm a3");
    assert_eq!(o.stderr, "rm: can't remove 'a3': Is a directory\n");
    let o = run(&mut sh, "rm nope; rm -f nope; echo $?");
    assert_eq!(
        o.stderr,
        "rm: can't remove 'nope': No such file or directory\n"
    );
    assert_eq!(o.stdout, "0\n");
    let o = run(&mut sh, "mkdir a3");
    assert_eq!(
        o.stderr,
        "mkdir: can't create directory 'a3': File exists\n"
    );
    let o = run(&mut sh, "cp a3 x");
    assert_eq!(o.stderr, "cp: omitting directory 'a3'\n");
    let o = run(&mut sh, "cp -r a3 a3/in");
    assert_eq!(o.code, 1);
    for bad in [
        "rm -rf /",
        "rm -rf /vmfs/volumes/datastore1",
        "rm -rf /tmp",
        "mv /tmp /vmfs/volumes/datastore1/t2",
        "mkdir /etc",
        "rmdir /vmfs",
    ] {
        let o = run(&mut sh, bad);
        assert_ne!(o.code, 0, "{bad}: {o:?}");
    }
    assert!(f.root.join("a3").exists() && f.root.join(".fakedc-tmp").exists());
    let o = run(&mut sh, "ls -a /; ls /vmfs/volumes/datastore1");
    assert_eq!(o.stdout, "tmp\nvmfs\na3\nt\n");
    let o = run(&mut sh, "chmod u+x t && test -x t && echo x; chmod 9 t");
    assert_eq!(o.stdout, "x\n");
    assert_eq!(o.stderr, "chmod: invalid mode '9'\n");
    let o = run(&mut sh, "mv t a3/ && ls a3 && mv a3/t a3/u t2");
    assert_eq!(o.stdout, "b\nt\n");
    assert_eq!(o.stderr, "mv: 't2' is not a directory\n");
}

#[test]
fn writes_keep_the_quota() {
    let f = fixture("quota", Some(1000));
    let mut sh = shell(&f, "esxi01");
    run(&mut sh, "cd /vmfs/volumes/datastore1");
    let big = "x".repeat(600);
    assert_eq!(run(&mut sh, &format!("echo {big} > a")).code, 0);
    let o = run(&mut sh, "cp a b");
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("No space left on device"), "{o:?}");
    let o = run(&mut sh, &format!("echo {big} >> a"));
    assert!(o.stderr.contains("No space left on device"), "{o:?}");
    run(&mut sh, "rm -f a b");
    assert_eq!(run(&mut sh, "cp /dev/null c; echo $?").stdout, "1\n");
    assert_eq!(run(&mut sh, &format!("echo {big} > a && cp a b")).code, 1);
}

#[test]
fn esx_is_the_service_console() {
    let f = fixture("esx", None);
    let mut sh = shell(&f, "esx01");
    assert_eq!(sh.flavor(), Flavor::Esx);
    let u = run(&mut sh, "uname -a").stdout;
    assert_eq!(
        u,
        "Linux esx01 2.4.21-57.ELvmnix #1 Tue Aug 12 17:28:03 PDT 2008 i686 i686 i386 GNU/Linux\n"
    );
    assert_eq!(run(&mut sh, "uname -r").stdout, "2.4.21-57.ELvmnix\n");
    assert!(run(&mut sh, "vmware -v")
        .stdout
        .starts_with("VMware ESX Server 7.0.3 build-"));
    let o = run(&mut sh, "esxcli system version get");
    assert_eq!(
        (o.stderr.as_str(), o.code),
        ("bash: esxcli: command not found\n", 127)
    );
    assert_eq!(sh.prompt(), "[root@esx01 ~]# ");
    let mut i = shell(&f, "esxi01");
    assert_eq!(i.flavor(), Flavor::Esxi);
    assert!(run(&mut i, "uname -a")
        .stdout
        .starts_with("VMkernel esxi01 7.0.3 #1 SMP Release build-21930508"));
    assert_eq!(
        run(&mut i, "vmware -v").stdout,
        "VMware ESXi 7.0.3 build-21930508\n"
    );
    assert_eq!(i.prompt(), "[root@esxi01:~] ");
}

#[test]
fn limits_hold() {
    let f = fixture("limits", None);
    let mut sh = shell(&f, "esxi01");
    // Doubling a variable stops at its limit.
    run(&mut sh, &format!("A={}", "x".repeat(1024)));
    let mut last = Outcome::default();
    for _ in 0..10 {
        last = run(&mut sh, "A=$A$A");
    }
    assert_eq!(last.code, 1);
    assert!(last.stderr.contains("value too long"), "{last:?}");
    // Recursion through sh -c stops.
    let o = run(&mut sh, "a='sh -c \"$a\"'; sh -c \"$a\"");
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("nesting too deep"), "{o:?}");
    let o = run(&mut sh, "a='sh -c \"$a\"; sh -c \"$a\"'; sh -c \"$a\"");
    assert_eq!(o.code, 1, "{o:?}");
    // Output is bounded.
    run(&mut sh, &format!("B={}", "y".repeat(60_000)));
    let o = run(&mut sh, &"echo $B $B $B $B;".repeat(40));
    assert_eq!(o.code, 1);
    assert!(o.stdout.len() <= MAX_OUTPUT);
    assert!(o.stderr.contains("output limit exceeded"), "{}", &o.stderr);
}

#[test]
fn scp_commands_are_recognised() {
    let f = fixture("scp", None);
    let sh = shell(&f, "esxi01");
    assert_eq!(
        sh.scp_command("scp -t /vmfs/volumes/datastore1/x"),
        Some(vec![
            "-t".to_string(),
            "/vmfs/volumes/datastore1/x".to_string()
        ])
    );
    assert_eq!(
        sh.scp_command("scp -r -p -f -- 'a b'"),
        Some(
            vec!["-r", "-p", "-f", "--", "a b"]
                .into_iter()
                .map(String::from)
                .collect()
        )
    );
    assert!(sh.scp_command("/bin/scp -v -d -t /tmp").is_some());
    assert!(sh.scp_command("scp a b").is_none());
    assert!(sh.scp_command("scp -t x; echo").is_none());
    assert!(sh.scp_command("scp -t $(echo x)").is_none());
    assert!(sh.scp_command("echo scp -t").is_none());
}

#[test]
fn splits_words() {
    assert_eq!(
        words(r#"vim-cmd  'a b' "c\"d" e\ f"#).expect("ok"),
        vec!["vim-cmd", "a b", "c\"d", "e f"]
    );
    assert!(words("echo 'x").is_err());
    assert!(words("   ").expect("ok").is_empty());
}

#[test]
fn human_sizes_like_busybox() {
    assert_eq!(human_size(512), "512");
    assert_eq!(human_size(1536), "1.5K");
    assert_eq!(human_size(3_000_000), "2.9M");
    assert_eq!(human_size(1_000_000_000_000), "931.3G");
}

#[test]
fn tables_align() {
    let t = table(&[
        ["Vmid".to_string(), "Name".to_string()],
        ["1".to_string(), "web01".to_string()],
    ]);
    assert_eq!(t, "Vmid  Name\n----  -----\n1     web01\n");
}

/// Random command lines built from the shell's tokens (a deterministic
/// generator): no panic, output within the limit, nothing written outside
/// the datastore and /tmp.
#[test]
fn random_lines_stay_inside_the_limits() {
    let f = fixture("random", Some(1 << 20));
    std::fs::create_dir_all(f.root.join("d")).expect("mkdir");
    std::fs::write(f.root.join("d/f"), b"data\n").expect("seed");
    let mut sh = shell(&f, "esxi01");
    const TOKENS: &[&str] = &[
        "echo",
        "cat",
        "ls",
        "-l",
        "-la",
        "mkdir",
        "-p",
        "rm",
        "-rf",
        "cp",
        "-r",
        "mv",
        "chmod",
        "755",
        "u+x",
        "touch",
        "test",
        "[",
        "]",
        "-d",
        "-f",
        "!",
        "=",
        "umask",
        "77",
        "cd",
        "..",
        "/",
        "/tmp",
        "/tmp/x",
        "/vmfs/volumes/datastore1",
        "d",
        "d/f",
        "e",
        "$X",
        "${X}",
        "$?",
        "\"$X\"",
        "'a b'",
        "X=1",
        "X=$(ls)",
        "$(echo d)",
        "`pwd`",
        "(",
        ")",
        "{",
        "}",
        ";",
        "&&",
        "||",
        "|",
        "&",
        ">",
        ">>",
        "<",
        "2>&1",
        "2>/dev/null",
        ">/dev/null",
        "grep",
        "a",
        "head",
        "-n",
        "1",
        "wc",
        "sort",
        "exit",
        "3",
        "sh",
        "-c",
        "'echo in'",
        "printf",
        "%s\\n",
        "\\",
        "\"",
        "'",
        "#",
        "vim-cmd",
        "vmsvc/getallvms",
        "uname",
        "-a",
        "hostname",
        "df",
        "nope",
        "/bin/ls",
        "~",
        "\n",
        "\\\n",
        "$",
        "basename",
        "dirname",
        "export",
        "unset",
        "true",
        "false",
        ":",
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..3000 {
        let n = 1 + (next() % 12) as usize;
        let line: Vec<&str> = (0..n)
            .map(|_| TOKENS[(next() % TOKENS.len() as u64) as usize])
            .collect();
        let line = line.join(" ");
        let o = sh.run(&line, f.model.clock.now());
        assert!(
            o.stdout.len() + o.stderr.len() <= MAX_OUTPUT + 4096,
            "{line:?}"
        );
        if o.exit {
            sh = shell(&f, "esxi01");
        }
    }
    let outside: Vec<_> = std::fs::read_dir(f.root.parent().expect("parent"))
        .expect("ls")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("fakedc-esxi-random-{}", std::process::id()))
        })
        .collect();
    assert_eq!(outside.len(), 1, "only the share itself");
}

/// The deepest nesting the limits allow runs on a 2 MiB thread (tokio's
/// blocking threads, test threads) in a debug build.
#[test]
fn deepest_nesting_fits_a_small_stack() {
    let f = fixture("deep", None);
    let t = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let mut sh = shell(&f, "esxi01");
            let inner = format!(
                "{}echo $(echo deep){}",
                "( ".repeat(sh::MAX_DEPTH - 2),
                " )".repeat(sh::MAX_DEPTH - 2)
            );
            run(&mut sh, &format!("X='{inner}'"));
            // Each level nests MAX_DEPTH more, until MAX_NEST stops it (the
            // output of the levels it cut is dropped with them).
            let o = run(&mut sh, "a='sh -c \"$X; $a\"'; sh -c \"$X; $a\"");
            o.stderr
        })
        .expect("thread");
    let err = t.join().expect("no stack overflow");
    assert!(err.contains("nesting too deep"), "{err}");
}
