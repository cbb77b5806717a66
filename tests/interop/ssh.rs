//! OpenSSH's own clients (sftp, ssh, scp in SFTP and legacy mode, with
//! sshpass for passwords) and paramiko against fakedc's SSH endpoints: SFTP
//! transfers in batch mode with password and key authentication, uploads
//! seen mid-write, scp both ways, the ESXi shell (busybox sh) over exec and
//! a terminal, ESX 3.5's service console, SMASH CLP power and boot changes
//! seen by ipmitool, jail escapes, the quota, and refused logins. A missing
//! client fails these tests; it never skips them.

use crate::common::{wait_until, Temp};
use fakedc::{Datacenter, Query, ServiceKind};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const PASSWORD: &str = "VMware1!";

/// The scenario, with `{KEY}` replaced by the test key's public half.
const SCENARIO: &str = r#"
[defaults]
boot_delay_ms = 200
shutdown_delay_ms = 200
cycle_interval_ms = 200

[[machine]]
name = "esx01"
role = "esx-host"
address = "127.79.0.1"
[machine.options.sftp]
quota_bytes = 3000000
[[machine.user]]
name = "root"
password = "VMware1!"
privilege = "admin"
authorized_keys = ["{KEY}"]

[[machine]]
name = "esx02"
role = "esx-host"
address = "127.79.0.3"
[machine.options.sftp]
quota_bytes = 3000000
atomic_uploads = true
[[machine.user]]
name = "root"
password = "VMware1!"
privilege = "admin"
authorized_keys = ["{KEY}"]

[[machine]]
name = "esxi01"
role = "esxi-host"
address = "127.79.0.2"
bmc = "esxi01-bmc"
[[machine.user]]
name = "root"
password = "VMware1!"
privilege = "admin"
authorized_keys = ["{KEY}"]
[[machine.vm]]
name = "web01"
state = "off"
[[machine.vm]]
name = "db01"
state = "running"

[[machine]]
name = "esxi01-bmc"
role = "bmc"
address = "127.79.1.2"
[machine.services]
bmc-ssh = true
"#;

fn require(cmd: &str, args: &[&str]) {
    let ok = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .is_ok();
    assert!(
        ok,
        "{cmd} is not installed: the SSH interop tests need it (./scripts/test installs it)"
    );
}

/// A key pair made with ssh-keygen; returns (private key path, public line).
fn keygen(dir: &Temp, name: &str) -> (PathBuf, String) {
    require("ssh-keygen", &["-?"]);
    let key = dir.path(name);
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "fakedc-test", "-f"])
        .arg(&key)
        .stdin(Stdio::null())
        .output()
        .expect("run ssh-keygen");
    assert!(o.status.success(), "ssh-keygen failed: {o:?}");
    let public = std::fs::read_to_string(key.with_extension("pub"))
        .expect("public key")
        .trim()
        .to_string();
    (key, public)
}

/// The datacenter, its temp dir, and the test key.
struct Lab {
    dc: Datacenter,
    tmp: Temp,
    key: PathBuf,
}

fn start(name: &str) -> Lab {
    let tmp = Temp::new(name);
    let (key, public) = keygen(&tmp, "id_ed25519");
    let dc = Datacenter::builder()
        .scenario_str(&SCENARIO.replace("{KEY}", &public))
        .ephemeral()
        .start()
        .expect("start");
    Lab { dc, tmp, key }
}

fn common_opts() -> Vec<String> {
    [
        "-F",
        "/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "IdentityAgent=none",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// How a client logs in.
enum Login<'a> {
    Password(&'a str),
    Key(&'a Path),
}

fn auth_opts(login: &Login) -> Vec<String> {
    let mut v = common_opts();
    match login {
        Login::Password(_) => v.extend(
            [
                "-o",
                "BatchMode=no",
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                "NumberOfPasswordPrompts=1",
            ]
            .map(String::from),
        ),
        Login::Key(k) => {
            v.extend(
                [
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "PasswordAuthentication=no",
                    "-o",
                    "KbdInteractiveAuthentication=no",
                    "-o",
                    "IdentitiesOnly=yes",
                    "-i",
                ]
                .map(String::from),
            );
            v.push(k.display().to_string());
        }
    }
    v
}

/// Wraps a client command in sshpass for password logins.
fn client(login: &Login, program: &str) -> Command {
    match login {
        Login::Password(p) => {
            require("sshpass", &["-V"]);
            let mut c = Command::new("sshpass");
            c.env("SSHPASS", p).arg("-e").arg(program);
            c
        }
        Login::Key(_) => Command::new(program),
    }
}

/// `sftp -b batch` against an endpoint, run in `cwd`.
fn sftp(addr: SocketAddr, login: &Login, user: &str, batch: &str, cwd: &Path) -> Output {
    require("sftp", &["-h"]);
    let batch_file = cwd.join(format!("batch-{}", rand_suffix()));
    std::fs::write(&batch_file, batch).expect("batch file");
    let mut c = client(login, "sftp");
    c.args(auth_opts(login))
        .args(["-P", &addr.port().to_string(), "-b"])
        .arg(&batch_file)
        .arg(format!("{user}@{}", addr.ip()))
        .current_dir(cwd)
        .stdin(Stdio::null());
    let o = c.output().expect("run sftp");
    let _ = std::fs::remove_file(&batch_file);
    o
}

/// `ssh user@host command`.
fn ssh(addr: SocketAddr, login: &Login, user: &str, command: &str) -> Output {
    require("ssh", &["-V"]);
    let mut c = client(login, "ssh");
    c.args(auth_opts(login))
        .args(["-p", &addr.port().to_string()])
        .arg(format!("{user}@{}", addr.ip()))
        .arg(command)
        .stdin(Stdio::null());
    c.output().expect("run ssh")
}

/// `scp [extra] from to` (one side `user@host:path`), run in `cwd`.
fn scp(
    addr: SocketAddr,
    login: &Login,
    extra: &[&str],
    from: &str,
    to: &str,
    cwd: &Path,
) -> Output {
    require("scp", &["-h"]);
    let mut c = client(login, "scp");
    c.args(auth_opts(login))
        .args(["-P", &addr.port().to_string()])
        .args(extra)
        .arg(from)
        .arg(to)
        .current_dir(cwd)
        .stdin(Stdio::null());
    c.output().expect("run scp")
}

/// `root@host:path` for scp.
fn remote(addr: SocketAddr, path: &str) -> String {
    format!("root@{}:{path}", addr.ip())
}

fn rand_suffix() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok_out(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({:?}): {}",
        o.status,
        text(&o)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Deterministic pseudo-random bytes (a transfer test must not be fooled by
/// zeros).
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn journal_has(dc: &Datacenter, machine: &str, op: &str, outcome: &str) -> bool {
    dc.journal(&Query {
        machine: Some(machine.into()),
        operation: Some(op.into()),
        ..Default::default()
    })
    .iter()
    .any(|e| e.outcome.contains(outcome))
}

/// The transfer session the issue names: put, get (byte-exact), ls, mkdir,
/// rename, rm, rmdir.
fn transfer_session(lab: &Lab, machine: &str, kind: ServiceKind, login: &Login) {
    let addr = lab.dc.endpoint(machine, kind).expect("endpoint");
    let data = payload(1_200_000, 7);
    std::fs::write(lab.tmp.path("up.bin"), &data).expect("local file");
    let batch = "\
pwd
mkdir vm1
cd vm1
put up.bin disk.tmp
rename disk.tmp disk-flat.vmdk
ls -l
get disk-flat.vmdk down.bin
put up.bin scratch
rm scratch
cd ..
ls
mkdir empty
rmdir empty
";
    let out = ok_out(sftp(addr, login, "root", batch, &lab.tmp.0), "sftp batch");
    assert!(
        out.contains("Remote working directory: /vmfs/volumes/datastore1"),
        "{out}"
    );
    assert!(
        out.contains("disk-flat.vmdk"),
        "ls shows the renamed file: {out}"
    );
    assert!(out.contains("1200000"), "ls -l shows the size: {out}");
    assert_eq!(
        std::fs::read(lab.tmp.path("down.bin")).expect("downloaded"),
        data,
        "get must be byte-exact"
    );
    let share = lab.dc.share(machine).expect("share");
    assert_eq!(
        std::fs::read(share.join("vm1/disk-flat.vmdk")).expect("on the share"),
        data
    );
    let names: Vec<String> = std::fs::read_dir(share.join("vm1"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["disk-flat.vmdk".to_string()],
        "rm, rename, staging"
    );
    assert!(!share.join("empty").exists(), "rmdir");
    let service = kind.name();
    let j = lab.dc.journal(&Query {
        machine: Some(machine.into()),
        service: Some(service.into()),
        ..Default::default()
    });
    let has = |op: &str, outcome: &str| {
        j.iter()
            .any(|e| e.operation.contains(op) && e.outcome.contains(outcome))
    };
    assert!(has("login", "ok ("), "login journaled: {j:#?}");
    assert!(has(
        "write /vmfs/volumes/datastore1/vm1/disk.tmp",
        "1200000 bytes"
    ));
    assert!(has(
        "read /vmfs/volumes/datastore1/vm1/disk-flat.vmdk",
        "1200000 bytes"
    ));
    assert!(has(
        "rename /vmfs/volumes/datastore1/vm1/disk.tmp -> ",
        "ok"
    ));
    assert!(has("mkdir /vmfs/volumes/datastore1/vm1", "ok"));
    assert!(has("rmdir /vmfs/volumes/datastore1/empty", "ok"));
    assert!(has("remove /vmfs/volumes/datastore1/vm1/scratch", "ok"));
    assert!(j.iter().all(|e| e.user.as_deref() != Some(PASSWORD)
        && !e.operation.contains(PASSWORD)
        && !e.outcome.contains(PASSWORD)));
}

#[test]
fn sftp_batch_with_password() {
    let lab = start("sftp-password");
    transfer_session(&lab, "esx01", ServiceKind::Sftp, &Login::Password(PASSWORD));
    assert!(
        journal_has(&lab.dc, "esx01", "login", "ok (keyboard-interactive)")
            || journal_has(&lab.dc, "esx01", "login", "ok (password)")
    );
}

#[test]
fn sftp_batch_with_key() {
    let lab = start("sftp-key");
    transfer_session(&lab, "esxi01", ServiceKind::Ssh, &Login::Key(&lab.key));
    assert!(journal_has(
        &lab.dc,
        "esxi01",
        "login",
        "ok (publickey SHA256:"
    ));
}

#[test]
fn esxi_commands_over_exec_drive_the_model() {
    let lab = start("esxi-exec");
    let dc = &lab.dc;
    let addr = dc.endpoint("esxi01", ServiceKind::Ssh).expect("ssh");
    let login = Login::Password(PASSWORD);
    let run = |cmd: &str| ssh(addr, &login, "root", cmd);

    let v = ok_out(run("esxcli system version get"), "version");
    assert!(v.contains("Product: VMware ESXi"), "{v}");
    assert!(v.contains("Version: 7.0.3"), "{v}");
    let ip = ok_out(run("esxcli network ip interface ipv4 get"), "ipv4");
    assert!(ip.contains("vmk0") && ip.contains("127.79.0.2"), "{ip}");
    let u = ok_out(run("uname -a"), "uname");
    assert!(u.starts_with("VMkernel esxi01 7.0.3"), "{u}");
    // df: the datastore, sized like SFTP's statvfs; used + free = size.
    let df = ok_out(run("df"), "df");
    let row: Vec<&str> = df
        .lines()
        .nth(1)
        .expect("a datastore row")
        .split_whitespace()
        .collect();
    assert_eq!(
        (row[0], row[5]),
        ("VMFS-6", "/vmfs/volumes/datastore1"),
        "{df}"
    );
    let n = |i: usize| row[i].parse::<u64>().expect("bytes");
    assert_eq!(n(2) + n(3), n(1), "{df}");
    let dfh = ok_out(run("df -h"), "df -h");
    assert!(
        dfh.starts_with("Filesystem   Size   Used Available Use% Mounted on\nVMFS-6 "),
        "{dfh}"
    );

    let all = ok_out(run("vim-cmd vmsvc/getallvms"), "getallvms");
    assert!(all.contains("Vmid"), "{all}");
    assert!(all.contains("web01") && all.contains("db01"), "{all}");
    assert!(all.contains("[datastore1] web01/web01.vmx"), "{all}");
    let st = ok_out(run("vim-cmd vmsvc/power.getstate 1"), "getstate");
    assert!(st.contains("Powered off"), "{st}");

    ok_out(run("vim-cmd vmsvc/power.on 1"), "power.on");
    assert!(
        wait_until(Duration::from_secs(10), || dc
            .machine_state("esxi01")
            .map(|m| m.vms[0].state == "on")
            .unwrap_or(false)),
        "web01 powered on through vim-cmd is not running: {:?}",
        dc.machine_state("esxi01").map(|m| m.vms)
    );
    let st = ok_out(run("vim-cmd vmsvc/power.getstate 1"), "getstate");
    assert!(st.contains("Powered on"), "{st}");
    let again = run("vim-cmd vmsvc/power.on 1");
    assert!(!again.status.success());
    assert!(text(&again).contains("InvalidPowerState"));
    ok_out(run("vim-cmd vmsvc/power.off 2"), "power.off");
    assert_eq!(
        dc.machine_state("esxi01").expect("state").vms[1].state,
        "off"
    );
    let bad = run("vim-cmd vmsvc/power.getstate 99");
    assert!(!bad.status.success() && text(&bad).contains("NotFound"));

    // ls of the datastore shows what is in the share.
    let share = dc.share("esxi01").expect("share");
    std::fs::create_dir_all(share.join("web01")).expect("mkdir");
    std::fs::write(share.join("web01/web01.vmx"), b"config.version = \"8\"\n").expect("vmx");
    let ls = ok_out(run("ls /vmfs/volumes/datastore1"), "ls");
    assert_eq!(ls.trim(), "web01");
    let ls = ok_out(run("cd /vmfs/volumes/datastore1/web01 && ls -l"), "ls -l");
    assert!(ls.contains("web01.vmx"), "{ls}");
    let grep = ok_out(run("vim-cmd vmsvc/getallvms | grep db01"), "pipe");
    assert_eq!(grep.lines().count(), 1, "{grep}");

    let unknown = run("frobnicate --now");
    assert_eq!(unknown.status.code(), Some(127), "{}", text(&unknown));
    assert!(text(&unknown).contains("sh: frobnicate: not found"));

    assert!(journal_has(
        dc,
        "esxi01",
        "exec vim-cmd vmsvc/power.on 1",
        "exit 0"
    ));
    assert!(journal_has(
        dc,
        "esxi01",
        "exec frobnicate --now",
        "exit 127"
    ));
}

#[test]
fn esxi_interactive_shell_on_a_terminal() {
    let lab = start("esxi-shell");
    let addr = lab.dc.endpoint("esxi01", ServiceKind::Ssh).expect("ssh");
    let mut c = Command::new("ssh");
    c.args(auth_opts(&Login::Key(&lab.key)))
        .args(["-tt", "-p", &addr.port().to_string()])
        .arg(format!("root@{}", addr.ip()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("run ssh -tt");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"vim-cmd vmsvc/getallvms\rfrob\rexit\r")
        .expect("type");
    let o = child.wait_with_output().expect("ssh output");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("[root@esxi01:~] "), "prompt: {out}");
    assert!(out.contains("db01"), "{out}");
    assert!(out.contains("sh: frob: not found"), "{out}");
    assert!(journal_has(
        &lab.dc,
        "esxi01",
        "shell vim-cmd vmsvc/getallvms",
        "exit 0"
    ));
}

fn ipmitool_power(bmc: SocketAddr) -> String {
    let o = Command::new("ipmitool")
        .args(["-I", "lanplus", "-H", &bmc.ip().to_string(), "-p"])
        .arg(bmc.port().to_string())
        .args(["-U", "admin", "-P", "password", "-N", "1", "-R", "2"])
        .args(["chassis", "power", "status"])
        .stdin(Stdio::null())
        .output()
        .expect("ipmitool is not installed: the interop tests need it");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn smash_clp_power_and_boot_seen_by_ipmitool() {
    let lab = start("clp");
    let dc = &lab.dc;
    let clp = dc
        .endpoint("esxi01-bmc", ServiceKind::BmcSsh)
        .expect("bmc-ssh");
    let ipmi = dc.endpoint("esxi01-bmc", ServiceKind::Ipmi).expect("ipmi");
    let login = Login::Password("password");
    let run = |cmd: &str| ssh(clp, &login, "admin", cmd);

    assert_eq!(ipmitool_power(ipmi), "Chassis Power is on");
    let show = ok_out(run("show /system1"), "show");
    assert!(
        show.starts_with("status=0\nstatus_tag=COMMAND COMPLETED"),
        "{show}"
    );
    assert!(show.contains("name=esxi01") && show.contains("enabledstate=enabled"));

    // A session open on the host when it goes dark is dropped with it.
    let esxi = dc.endpoint("esxi01", ServiceKind::Ssh).expect("ssh");
    let session = dc
        .block_on(async {
            let mut s = connect_russh(esxi).await.expect("connect");
            let key = russh::keys::load_secret_key(&lab.key, None).expect("key");
            let auth = s
                .authenticate_publickey(
                    "root",
                    russh::keys::PrivateKeyWithHashAlg::new(std::sync::Arc::new(key), None),
                )
                .await
                .expect("auth");
            assert!(auth.success());
            // Wrapped: a Handle is itself a future.
            Some(s)
        })
        .expect("runtime")
        .expect("session");
    ok_out(run("stop /system1"), "stop");
    assert!(
        wait_until(Duration::from_secs(10), || ipmitool_power(ipmi)
            == "Chassis Power is off"),
        "ipmitool still sees the host on after CLP stop"
    );
    // The host's own SSH endpoint went dark with it.
    assert!(std::net::TcpStream::connect_timeout(&esxi, Duration::from_secs(2)).is_err());
    assert!(
        wait_until(Duration::from_secs(5), || session.is_closed()),
        "an SSH session survived its host's power-off"
    );

    ok_out(run("start /system1"), "start");
    assert_eq!(ipmitool_power(ipmi), "Chassis Power is on");
    ok_out(run("stop -force /system1"), "stop -force");
    assert_eq!(ipmitool_power(ipmi), "Chassis Power is off");

    ok_out(
        run("set /system1/bootconfig1/bootsource2 bootorder=1"),
        "set bootorder",
    );
    let o = Command::new("ipmitool")
        .args(["-I", "lanplus", "-H", &ipmi.ip().to_string(), "-p"])
        .arg(ipmi.port().to_string())
        .args([
            "-U",
            "admin",
            "-P",
            "password",
            "chassis",
            "bootparam",
            "get",
            "5",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("ipmitool");
    let boot = String::from_utf8_lossy(&o.stdout);
    assert!(boot.contains("Force PXE"), "{boot}");
    let bc = ok_out(run("show /system1/bootconfig1"), "show bootconfig");
    assert!(bc.contains("bootorder=bootsource2,"), "{bc}");

    let bad = run("frobnicate /system1");
    let t = text(&bad);
    assert!(
        t.contains("status=2") && t.contains("error_tag=COMMAND NOT RECOGNIZED"),
        "{t}"
    );
    let user = ssh(clp, &Login::Password("user"), "user", "start /system1");
    assert!(
        text(&user).contains("status=3"),
        "read-only user changed power"
    );
    assert!(journal_has(
        dc,
        "esxi01-bmc",
        "exec stop /system1",
        "exit 0"
    ));
}

#[test]
fn escape_attempts_are_refused() {
    let lab = start("escape");
    let dc = &lab.dc;
    let addr = dc.endpoint("esx01", ServiceKind::Sftp).expect("sftp");
    let login = Login::Key(&lab.key);
    let share = dc.share("esx01").expect("share");
    std::fs::create_dir_all(&share).expect("share");
    // Something outside the share that must stay unread and unwritten.
    let outside = lab.tmp.path("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    std::fs::write(outside.join("secret"), b"outside the share").expect("secret");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/", share.join("planted-root")).expect("symlink");
        std::os::unix::fs::symlink(&outside, share.join("planted-outside")).expect("symlink");
    }
    std::fs::write(lab.tmp.path("local"), b"x").expect("local");
    let stamp = format!("fakedc-escape-{}", std::process::id());
    let attempts = [
        "get ../../etc/passwd got1".to_string(),
        "get ../../../../../../../etc/passwd got2".into(),
        "get /etc/passwd got3".into(),
        "get planted-root/etc/passwd got4".into(),
        "get planted-outside/secret got5".into(),
        "ls planted-root/etc".into(),
        format!("put local /tmp/{stamp}"),
        format!("put local ../../../../tmp/{stamp}"),
        format!("put local planted-root/tmp/{stamp}"),
        "put local planted-outside/new".into(),
        "ln -s / rootlink".into(),
        "ln -s /etc/passwd pw".into(),
        "ln -s ../../../../etc etc".into(),
        "mkdir /vmfs/volumes/other".into(),
        "rename planted-outside/secret stolen".into(),
    ];
    for a in &attempts {
        let o = sftp(addr, &login, "root", &format!("{a}\n"), &lab.tmp.0);
        assert!(!o.status.success(), "'{a}' succeeded: {}", text(&o));
    }
    for got in ["got1", "got2", "got3", "got4", "got5"] {
        assert!(!lab.tmp.path(got).exists(), "{got} was downloaded");
    }
    assert!(
        !Path::new("/tmp").join(&stamp).exists(),
        "wrote outside the share"
    );
    assert_eq!(
        std::fs::read(outside.join("secret")).expect("secret"),
        b"outside the share"
    );
    assert_eq!(std::fs::read_dir(&outside).expect("ls").count(), 1);
    for link in ["rootlink", "pw", "etc", "stolen"] {
        assert!(
            std::fs::symlink_metadata(share.join(link)).is_err(),
            "{link} was created"
        );
    }

    // NUL bytes cannot be typed into OpenSSH's sftp: send them with russh.
    let results = dc
        .block_on(nul_names(addr, lab.key.clone()))
        .expect("runtime");
    for (what, ok) in results {
        assert!(!ok, "{what} was accepted");
    }
    let listing: Vec<String> = std::fs::read_dir(&share)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        listing.iter().all(|n| n.starts_with("planted-")),
        "unexpected files in the share: {listing:?}"
    );
}

/// Opens files whose names contain NUL bytes; returns (what, accepted).
async fn nul_names(addr: SocketAddr, key: PathBuf) -> Vec<(String, bool)> {
    let session = connect_russh(addr).await;
    let mut session = session.expect("connect");
    let key = russh::keys::load_secret_key(&key, None).expect("key");
    let auth = session
        .authenticate_publickey(
            "root",
            russh::keys::PrivateKeyWithHashAlg::new(std::sync::Arc::new(key), None),
        )
        .await
        .expect("auth");
    assert!(auth.success(), "key login");
    let ch = session.channel_open_session().await.expect("channel");
    ch.request_subsystem(true, "sftp").await.expect("subsystem");
    let sftp = russh_sftp::client::SftpSession::new(ch.into_stream())
        .await
        .expect("sftp");
    let mut out = Vec::new();
    for name in ["evil\0name", "x\0/../../../../etc/passwd", "\0"] {
        out.push((format!("create {name:?}"), sftp.create(name).await.is_ok()));
    }
    out.push((
        "open of /etc/passwd after a NUL".into(),
        sftp.open("/vmfs/volumes/datastore1/\0/../../../../etc/passwd")
            .await
            .is_ok(),
    ));
    out.push((
        "mkdir with NUL".into(),
        sftp.create_dir("d\0x").await.is_ok(),
    ));
    out
}

struct AnyHost;

impl russh::client::Handler for AnyHost {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

async fn connect_russh(addr: SocketAddr) -> Result<russh::client::Handle<AnyHost>, russh::Error> {
    let config = std::sync::Arc::new(russh::client::Config::default());
    russh::client::connect(config, addr, AnyHost).await
}

/// A full datastore: an upload beyond the quota fails. By default what was
/// written stays under its name (as sftp-server leaves it on a full disk);
/// with `atomic_uploads` nothing partial is left. Either way an upload that
/// fits then goes through.
#[test]
fn full_quota_fails_the_upload() {
    let lab = start("quota");
    let dc = &lab.dc;
    let login = Login::Key(&lab.key);
    std::fs::write(lab.tmp.path("big.bin"), payload(4_000_000, 1)).expect("big");
    std::fs::write(lab.tmp.path("small.bin"), payload(1_000_000, 2)).expect("small");
    for (machine, atomic) in [("esx01", false), ("esx02", true)] {
        let addr = dc.endpoint(machine, ServiceKind::Sftp).expect("sftp");
        let o = sftp(addr, &login, "root", "put big.bin big.tmp\n", &lab.tmp.0);
        assert!(
            !o.status.success(),
            "{machine}: an upload over the quota succeeded"
        );
        assert!(text(&o).contains("Failure"), "{}", text(&o));
        let share = dc.share(machine).expect("share");
        assert!(journal_has(
            dc,
            machine,
            "write /vmfs/volumes/datastore1/big.tmp",
            "quota"
        ));
        let mut cleanup = "";
        if atomic {
            assert_eq!(
                std::fs::read_dir(&share).expect("ls").count(),
                0,
                "{machine}: a partial upload was left in the share"
            );
        } else {
            let left = std::fs::metadata(share.join("big.tmp")).expect("partial file");
            assert!(left.len() <= 3_000_000, "{machine}: {} bytes", left.len());
            cleanup = "rm big.tmp\n";
        }
        // VMM's way: upload to a temporary name, then rename; it fits now.
        let out = ok_out(
            sftp(
                addr,
                &login,
                "root",
                &format!("{cleanup}put small.bin small.tmp\nrename small.tmp small.vmdk\ndf\n"),
                &lab.tmp.0,
            ),
            "upload within the quota",
        );
        assert!(out.contains("2928"), "df shows the quota's size: {out}");
        assert_eq!(
            std::fs::read(share.join("small.vmdk")).expect("published"),
            payload(1_000_000, 2)
        );
    }
}

#[test]
fn wrong_password_and_unauthorized_key_are_refused() {
    let lab = start("refused");
    let dc = &lab.dc;
    let addr = dc.endpoint("esx01", ServiceKind::Sftp).expect("sftp");
    let o = sftp(addr, &Login::Password("wrong"), "root", "ls\n", &lab.tmp.0);
    assert!(!o.status.success(), "wrong password accepted");
    assert!(
        journal_has(dc, "esx01", "login", "refused (keyboard-interactive)")
            || journal_has(dc, "esx01", "login", "refused (password)")
    );
    let (other, _) = keygen(&lab.tmp, "not_authorized");
    let o = sftp(addr, &Login::Key(&other), "root", "ls\n", &lab.tmp.0);
    assert!(!o.status.success(), "unauthorized key accepted");
    assert!(journal_has(dc, "esx01", "login", "not authorized"));
    let o = ssh(
        dc.endpoint("esxi01", ServiceKind::Ssh).expect("ssh"),
        &Login::Key(&other),
        "root",
        "uname",
    );
    assert!(!o.status.success());
    // The attempt limit (OpenSSH's MaxAuthTries, 6): the sixth failure
    // closes the connection instead of answering.
    let attempts = dc
        .block_on(async {
            let mut s = connect_russh(addr).await.expect("connect");
            let mut n = 0;
            while n < 10 && !s.is_closed() {
                n += 1;
                match s.authenticate_password("root", "nope").await {
                    Ok(r) if !r.success() => {}
                    _ => break,
                }
                // Let the session notice a disconnect before trying again.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            n
        })
        .expect("runtime");
    assert_eq!(
        attempts, 6,
        "attempts until the server closed the connection"
    );
    assert!(journal_has(
        dc,
        "esx01",
        "login",
        "too many authentication failures"
    ));
}

#[test]
fn probe_reports_key_exchange_and_logs_in() {
    use fakedc_ssh::probe::{probe, ProbeVerdict};
    let lab = start("probe");
    let dc = &lab.dc;
    let t = Duration::from_secs(5);
    for (m, kind, user, pass, expect) in [
        (
            "esx01",
            ServiceKind::Sftp,
            "root",
            PASSWORD,
            "SFTP ls /vmfs/volumes/datastore1",
        ),
        (
            "esxi01",
            ServiceKind::Ssh,
            "root",
            PASSWORD,
            "uname: VMkernel",
        ),
        (
            "esxi01-bmc",
            ServiceKind::BmcSsh,
            "admin",
            "password",
            "CLP",
        ),
    ] {
        let addr = dc.endpoint(m, kind).expect("endpoint");
        let r = dc.block_on(probe(addr, kind, None, t)).expect("rt");
        assert_eq!(r.verdict, ProbeVerdict::Verified, "{m}: {}", r.detail);
        assert!(r.detail.contains("ssh-ed25519 SHA256:"), "{}", r.detail);
        let r = dc
            .block_on(probe(addr, kind, Some((user, pass)), t))
            .expect("rt");
        assert_eq!(r.verdict, ProbeVerdict::Verified, "{m}: {}", r.detail);
        assert!(r.detail.contains(expect), "{m}: {}", r.detail);
        let r = dc
            .block_on(probe(addr, kind, Some((user, "bad")), t))
            .expect("rt");
        assert_eq!(r.verdict, ProbeVerdict::AuthFailure, "{m}: {}", r.detail);
    }
    // The banner is the role's OpenSSH id.
    let r = dc
        .block_on(probe(
            dc.endpoint("esxi01-bmc", ServiceKind::BmcSsh).expect("bmc"),
            ServiceKind::BmcSsh,
            None,
            t,
        ))
        .expect("rt");
    assert_eq!(r.fact("server-id"), Some("SSH-2.0-OpenSSH_7.4"));
    // Fault rules apply: a refused endpoint is "refused".
    let esx = dc.endpoint("esx01", ServiceKind::Sftp).expect("sftp");
    let id = dc.add_fault(fakedc::FaultRule {
        id: 0,
        machine: Some("esx01".into()),
        service: Some("sftp".into()),
        kind: fakedc::FaultKind::Refuse,
    });
    assert!(wait_until(Duration::from_secs(5), || {
        dc.block_on(probe(esx, ServiceKind::Sftp, None, t))
            .map(|r| r.verdict == ProbeVerdict::Refused)
            .unwrap_or(false)
    }));
    dc.remove_fault(id);
    assert!(wait_until(Duration::from_secs(5), || {
        dc.block_on(probe(esx, ServiceKind::Sftp, None, t))
            .map(|r| r.verdict == ProbeVerdict::Verified)
            .unwrap_or(false)
    }));
    // Not SSH: an HTTP server's answer is "wrong protocol".
    let http = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let http_addr = http.local_addr().expect("addr");
    let server = std::thread::spawn(move || {
        if let Ok((mut s, _)) = http.accept() {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let r = dc
        .block_on(probe(http_addr, ServiceKind::Ssh, None, t))
        .expect("rt");
    assert_eq!(r.verdict, ProbeVerdict::WrongProtocol, "{}", r.detail);
    let _ = server.join();
}

/// OpenSSH's scp both ways, in SFTP mode (the default since OpenSSH 9) and
/// the legacy protocol (`-O`, `scp -t`/`scp -f` on the host's shell), to
/// ESX and ESXi: exit 0 and byte-exact files, a directory with `-r -p`.
#[test]
fn scp_both_modes_both_ways() {
    let lab = start("scp");
    let login = Login::Key(&lab.key);
    let tree = lab.tmp.path("tree");
    std::fs::create_dir_all(tree.join("sub/deeper")).expect("mkdir");
    let files = [
        ("tree/a.bin", payload(300_000, 11)),
        ("tree/sub/b.txt", b"hello\nworld\n".to_vec()),
        ("tree/sub/deeper/empty", Vec::new()),
        ("tree/sub/deeper/c.bin", payload(70_001, 12)),
    ];
    for (name, data) in &files {
        std::fs::write(lab.tmp.path(name), data).expect("local file");
    }
    let one = payload(700_001, 13);
    std::fs::write(lab.tmp.path("one.bin"), &one).expect("local file");
    for (machine, kind) in [("esx01", ServiceKind::Sftp), ("esxi01", ServiceKind::Ssh)] {
        let addr = lab.dc.endpoint(machine, kind).expect("endpoint");
        let share = lab.dc.share(machine).expect("share");
        for (mode, extra) in [("sftp", &[][..]), ("legacy", &["-O"][..])] {
            let tag = format!("{machine}-{mode}");
            let dir = format!("/vmfs/volumes/datastore1/{tag}");
            // Upload one file to a name, then a tree into a new directory.
            let o = scp(
                addr,
                &login,
                extra,
                "one.bin",
                &remote(addr, &format!("{dir}-one.bin")),
                &lab.tmp.0,
            );
            ok_out(o, &format!("{tag}: scp upload"));
            assert_eq!(
                std::fs::read(share.join(format!("{tag}-one.bin"))).expect("uploaded"),
                one,
                "{tag}"
            );
            let mut rp = extra.to_vec();
            rp.extend(["-r", "-p"]);
            let o = scp(addr, &login, &rp, "tree", &remote(addr, &dir), &lab.tmp.0);
            ok_out(o, &format!("{tag}: scp -r upload"));
            for (name, data) in &files {
                let on_share = share.join(&tag).join(name.trim_start_matches("tree/"));
                assert_eq!(
                    &std::fs::read(&on_share).expect("uploaded"),
                    data,
                    "{tag}: {name}"
                );
            }
            // -p kept the modification time.
            let local_m = std::fs::metadata(lab.tmp.path("tree/a.bin"))
                .expect("md")
                .modified()
                .expect("mtime");
            let remote_m = std::fs::metadata(share.join(&tag).join("a.bin"))
                .expect("md")
                .modified()
                .expect("mtime");
            let secs = |t: std::time::SystemTime| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .expect("epoch")
                    .as_secs()
            };
            assert_eq!(secs(local_m), secs(remote_m), "{tag}: -p");
            // Download them back.
            let back = lab.tmp.path(&format!("back-{tag}"));
            std::fs::create_dir_all(&back).expect("mkdir");
            let o = scp(
                addr,
                &login,
                extra,
                &remote(addr, &format!("{dir}-one.bin")),
                "one.back",
                &back,
            );
            ok_out(o, &format!("{tag}: scp download"));
            assert_eq!(
                std::fs::read(back.join("one.back")).expect("downloaded"),
                one,
                "{tag}"
            );
            let mut r = extra.to_vec();
            r.push("-r");
            let o = scp(addr, &login, &r, &remote(addr, &dir), "copy", &back);
            ok_out(o, &format!("{tag}: scp -r download"));
            for (name, data) in &files {
                let got = back.join("copy").join(name.trim_start_matches("tree/"));
                assert_eq!(
                    &std::fs::read(&got).expect("downloaded"),
                    data,
                    "{tag}: {name}"
                );
            }
        }
        // The legacy transfers went through the shell's jail and journal.
        assert!(journal_has(
            &lab.dc,
            machine,
            &format!("scp write /vmfs/volumes/datastore1/{machine}-legacy/sub/deeper/c.bin"),
            "ok: 70001 bytes"
        ));
        assert!(journal_has(
            &lab.dc,
            machine,
            &format!("scp read /vmfs/volumes/datastore1/{machine}-legacy-one.bin"),
            "ok: 700001 bytes"
        ));
        assert!(journal_has(&lab.dc, machine, "exec scp -r -f", "exit 0"));
    }
    // Nothing outside the datastore: the legacy sink refuses it, exit 1.
    let addr = lab.dc.endpoint("esxi01", ServiceKind::Ssh).expect("ssh");
    // A download far beyond the channel window (the SCP driver keeps
    // draining the channel while it waits for window space).
    let big = payload(24 << 20, 14);
    let share = lab.dc.share("esxi01").expect("share");
    std::fs::write(share.join("big.bin"), &big).expect("big");
    let o = scp(
        addr,
        &login,
        &["-O"],
        &remote(addr, "/vmfs/volumes/datastore1/big.bin"),
        "big.back",
        &lab.tmp.0,
    );
    ok_out(o, "scp -O download of 24 MiB");
    assert!(std::fs::read(lab.tmp.path("big.back")).expect("big") == big);
    let o = scp(
        addr,
        &login,
        &["-O"],
        "big.back",
        &remote(addr, "/vmfs/volumes/datastore1/big.up"),
        &lab.tmp.0,
    );
    ok_out(o, "scp -O upload of 24 MiB");
    assert!(std::fs::read(share.join("big.up")).expect("big") == big);
    let o = scp(
        addr,
        &login,
        &["-O"],
        "one.bin",
        &remote(addr, "/etc/passwd"),
        &lab.tmp.0,
    );
    assert!(!o.status.success(), "{}", text(&o));
}

/// An SFTP upload is visible under its name while it is written (paramiko:
/// stat, list and read from a second session mid-write), as OpenSSH's
/// sftp-server shows it, on ESX and ESXi.
#[test]
fn sftp_upload_is_visible_mid_write() {
    let lab = start("midwrite");
    for (machine, kind) in [("esx01", ServiceKind::Sftp), ("esxi01", ServiceKind::Ssh)] {
        let addr = lab.dc.endpoint(machine, kind).expect("endpoint");
        let out = crate::common::python(
            "paramiko",
            "sftp_midwrite.py",
            &[
                &addr.ip().to_string(),
                &addr.port().to_string(),
                "root",
                PASSWORD,
                "/vmfs/volumes/datastore1",
            ],
        );
        assert_eq!(
            crate::common::line(&out, "midwrite_size"),
            "16384",
            "{machine}: {out}"
        );
        assert_eq!(
            crate::common::line(&out, "midwrite_listed"),
            "True",
            "{machine}: {out}"
        );
        assert_eq!(
            crate::common::line(&out, "midwrite_read_matches"),
            "True",
            "{machine}: {out}"
        );
        assert_eq!(
            crate::common::line(&out, "writer_stat_size"),
            "16384",
            "{machine}: {out}"
        );
        assert_eq!(
            crate::common::line(&out, "final_size"),
            "18484",
            "{machine}: {out}"
        );
        assert_eq!(
            crate::common::line(&out, "final_read_matches"),
            "True",
            "{machine}: {out}"
        );
        let share = lab.dc.share(machine).expect("share");
        assert_eq!(
            std::fs::metadata(share.join("midwrite.bin"))
                .expect("on the share")
                .len(),
            18484
        );
        assert!(journal_has(
            &lab.dc,
            machine,
            "write /vmfs/volumes/datastore1/midwrite.bin",
            "ok: 18484 bytes"
        ));
    }
}

/// The ESXi exec shell is busybox sh: the issue's line, lists, quoting,
/// expansion, redirection into the datastore, and busybox's "not found".
#[test]
fn esxi_exec_shell_is_busybox_sh() {
    let lab = start("esxi-sh");
    let addr = lab.dc.endpoint("esxi01", ServiceKind::Ssh).expect("ssh");
    let login = Login::Key(&lab.key);
    let run = |cmd: &str| ssh(addr, &login, "root", cmd);
    let o = run("( umask 77 && mkdir -p /tmp/x && echo ok )");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "ok\n");
    let o = run("foo");
    assert_eq!(o.status.code(), Some(127), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "sh: foo: not found\n");
    let o = run("test -d /tmp/x && ls -ld /tmp/x; exit 3");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("drwx------ "),
        "{}",
        text(&o)
    );
    let script = "cd /vmfs/volumes/datastore1 && D=\"my vm\" && mkdir -p \"$D\" && \
        echo 'displayName = \"x\"' > \"$D/x.vmx\" && cp -r \"$D\" copy && \
        mv copy/x.vmx copy/y.vmx && cat \"$D\"/x.vmx copy/y.vmx | wc -l && \
        rm -rf \"$D\" && ls; echo \"status $?\" 2>/dev/null; nope 2>&1 | grep -c found";
    let out = ok_out(run(script), "script");
    assert_eq!(out, "2\ncopy\nstatus 0\n1\n");
    let share = lab.dc.share("esxi01").expect("share");
    assert_eq!(
        std::fs::read_to_string(share.join("copy/y.vmx")).expect("copied"),
        "displayName = \"x\"\n"
    );
    let o = run("echo $(hostname)-`uname -n` \"${USER}\" '$HOME'");
    assert_eq!(ok_out(o, "expansion"), "esxi01-esxi01 root $HOME\n");
    let o = run("echo x > /etc/passwd");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(journal_has(
        &lab.dc,
        "esxi01",
        "exec ( umask 77 && mkdir -p /tmp/x && echo ok )",
        "exit 0"
    ));
    assert!(journal_has(&lab.dc, "esxi01", "exec foo", "exit 127"));
}

/// An ESX 3.x host answers as ESX 3.5's service console; ESXi stays ESXi.
#[test]
fn esx_answers_as_esx_35_service_console() {
    let lab = start("esx-identity");
    let login = Login::Key(&lab.key);
    let esx = lab.dc.endpoint("esx01", ServiceKind::Sftp).expect("sftp");
    let u = ok_out(ssh(esx, &login, "root", "uname -a"), "uname");
    assert!(u.starts_with("Linux esx01 2.4.21-57.ELvmnix #1 "), "{u}");
    assert!(u.trim_end().ends_with("i686 i686 i386 GNU/Linux"), "{u}");
    let v = ok_out(ssh(esx, &login, "root", "vmware -v"), "vmware -v");
    assert_eq!(v, "VMware ESX Server 3.5.0 build-207095\n");
    // The identification string is the service console's sshd (RHEL 3's
    // OpenSSH 3.6.1p2), and OpenSSH's client applies its compatibility
    // entry for it, then still runs the command.
    let mut c = client(&login, "ssh");
    c.args(auth_opts(&login))
        .args(["-v", "-p", &esx.port().to_string()])
        .arg(format!("root@{}", esx.ip()))
        .arg("hostname")
        .stdin(Stdio::null());
    let o = c.output().expect("run ssh -v");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        err.contains("remote software version OpenSSH_3.6.1p2"),
        "{err}"
    );
    assert!(err.contains("pat OpenSSH_3.*"), "{err}");
    let o = ssh(esx, &login, "root", "esxcli system version get");
    assert_eq!(o.status.code(), Some(127), "{}", text(&o));
    assert!(
        text(&o).contains("bash: esxcli: command not found"),
        "{}",
        text(&o)
    );
    let esxi = lab.dc.endpoint("esxi01", ServiceKind::Ssh).expect("ssh");
    let v = ok_out(ssh(esxi, &login, "root", "vmware -v"), "vmware -v");
    assert_eq!(v, "VMware ESXi 7.0.3 build-21930508\n");
}
