//! SMB throughput side by side with the anchor, in one run: Samba's
//! `smbclient` puts and gets a 256 MiB file, and puts and gets 1,000 files
//! of 4 KiB, against fakedc's Hyper-V host (in-process, library API,
//! `require_signing`) and against Samba's own `smbd` (Debian `samba`),
//! started here on a free loopback port with a generated smb.conf
//! (standalone server, `server signing = mandatory`, a tdbsam with one
//! user) in a temporary directory and stopped at the end. Both are driven
//! by the same client with the same options (`--client-protection=sign`,
//! the highest dialect both offer), write into temporary directories on
//! the same file system, and every transfer is checked byte for byte.
//! Prints MB/s and files/s for both and the ratios (fakedc / smbd).
//!
//! Each figure is the wall time of one `smbclient -c` run (login included,
//! a few ms); rounds alternate which server goes first and the best round
//! of each is reported. Beside the wall time, the server's CPU time for
//! each transfer (user + system, from /proc: this process for fakedc, the
//! smbd daemon and its reaped per-connection children for smbd) is printed
//! per GiB: on a loaded machine wall times swing with the neighbours,
//! while CPU per GiB says which server does more work. The load average
//! is printed before and after.
//!
//! Run: `cargo bench --bench smb` (256 MiB and 1,000 files, 3 rounds) or
//! `cargo bench --bench smb -- --short` (CI: 8 MiB, 100 files, one round).
//! Options: `--mib N`, `--files N`, `--rounds N`, `--encrypt` (both
//! servers driven with `--client-protection=encrypt` instead of `sign`:
//! SMB 3.1.1 with AES-GCM). The target (at least as
//! fast as smbd) is printed, never asserted: the program fails only when
//! something is broken (a tool missing, a server that does not start, a
//! transfer that does not arrive intact).
#![allow(clippy::disallowed_methods)] // tests and benchmarks time real peers on the real clock
#![allow(clippy::print_stdout)] // a benchmark prints its figures

mod common;

use anyhow::{bail, Context, Result};
use fakedc::{Datacenter, ServiceKind};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "P@ssw0rd!";

/// A directory removed on drop.
struct Tmp(PathBuf);

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Clock ticks per second of /proc's times (USER_HZ).
fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU time (user + system, and with `children` the reaped children's)
/// of a process, from /proc/PID/stat.
fn cpu_of(pid: &str, children: bool) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let ticks = f.iter().take(if children { 4 } else { 2 }).sum::<u64>();
    Ok(Duration::from_secs_f64(ticks as f64 / clk_tck()))
}

/// The 1-minute load average.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// smbd, stopped on drop (also when the benchmark fails half-way).
struct Smbd(Child);

impl Drop for Smbd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(cmd: &mut Command) -> Result<std::process::Output> {
    let o = cmd
        .output()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    if !o.status.success() {
        bail!(
            "{:?} failed ({}): {}{}",
            cmd.get_program(),
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(o)
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn write_payload(path: &Path, len: u64, mut x: u64) -> Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut left = len;
    let mut block = vec![0u8; 1 << 16];
    while left > 0 {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    Ok(())
}

fn same(a: &Path, b: &Path) -> Result<bool> {
    Ok(std::fs::read(a)? == std::fs::read(b)?)
}

/// One server as the client sees it.
struct Target {
    name: &'static str,
    /// Whose CPU time is the server's: this process (fakedc) or the smbd
    /// daemon with its children.
    pid: String,
    addr: SocketAddr,
    user: String,
    share: String,
    /// The share's directory on disk (to check what arrived, and clean up).
    root: PathBuf,
    /// smbclient's `--client-protection`: sign or encrypt.
    protection: &'static str,
}

/// Runs one `smbclient -c` batch in `dir`; returns its wall time and the
/// server's CPU time.
fn batch(t: &Target, dir: &Path, cmds: &str) -> Result<(Duration, Duration)> {
    let children = t.pid != "self";
    let helpers = child_count(&t.pid);
    let before = cpu_of(&t.pid, children)?;
    let wall = batch_wall(t, dir, cmds)?;
    // smbd's per-connection child is counted once the daemon has reaped
    // it: wait (up to 5 s) until only its standing helpers are left.
    if children {
        for _ in 0..50 {
            if child_count(&t.pid) <= helpers {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let after = cpu_of(&t.pid, children)?;
    Ok((wall, after.saturating_sub(before)))
}

/// How many children a process has (/proc/PID/task/PID/children).
fn child_count(pid: &str) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|c| c.split_whitespace().count())
        .unwrap_or(0)
}

fn batch_wall(t: &Target, dir: &Path, cmds: &str) -> Result<Duration> {
    let mut c = Command::new("smbclient");
    c.arg(format!("//{}/{}", t.addr.ip(), t.share))
        .args(["-p", &t.addr.port().to_string()])
        .args(["-U", &format!("{}%{PASSWORD}", t.user)])
        .arg(format!("--client-protection={}", t.protection))
        .args(["-c", cmds])
        .current_dir(dir)
        .stdin(Stdio::null());
    let start = Instant::now();
    let o = run(&mut c).with_context(|| format!("smbclient against {}", t.name))?;
    let elapsed = start.elapsed();
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    if text.contains("NT_STATUS_") {
        bail!("smbclient against {}: {text}", t.name);
    }
    Ok(elapsed)
}

fn start_smbd(dir: &Path, protection: &'static str) -> Result<(Smbd, Target)> {
    let smbd = ["/usr/sbin/smbd", "/usr/local/sbin/smbd"]
        .iter()
        .find(|p| Path::new(p).exists())
        .context("smbd is not installed (Debian: samba; ./scripts/test installs it)")?;
    let port = free_port()?;
    let share = dir.join("share");
    for d in [
        "private", "lock", "state", "cache", "pid", "ncalrpc", "log", "share",
    ] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    let conf = dir.join("smb.conf");
    let d = dir.display();
    std::fs::write(
        &conf,
        format!(
            "[global]\n  server role = standalone server\n  smb ports = {port}\n  interfaces = lo\n  \
             bind interfaces only = yes\n  private dir = {d}/private\n  lock directory = {d}/lock\n  \
             state directory = {d}/state\n  cache directory = {d}/cache\n  pid directory = {d}/pid\n  \
             ncalrpc dir = {d}/ncalrpc\n  log file = {d}/log/log.%m\n  \
             passdb backend = tdbsam:{d}/private/passdb.tdb\n  server signing = mandatory\n  \
             load printers = no\n  printing = bsd\n  printcap name = /dev/null\n  disable spoolss = yes\n  \
             disable netbios = yes\n[share]\n  path = {}\n  read only = no\n",
            share.display()
        ),
    )?;
    let user = String::from_utf8_lossy(&run(Command::new("id").arg("-un"))?.stdout)
        .trim()
        .to_string();
    let mut add = Command::new("smbpasswd")
        .arg("-c")
        .arg(&conf)
        .args(["-s", "-a", &user])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("smbpasswd (Debian: samba)")?;
    {
        use std::io::Write;
        let mut stdin = add.stdin.take().context("smbpasswd stdin")?;
        writeln!(stdin, "{PASSWORD}\n{PASSWORD}")?;
    }
    if !add.wait()?.success() {
        bail!("smbpasswd -a {user} failed (smbd needs a Unix user of that name)");
    }
    let child = Command::new(smbd)
        .arg("-s")
        .arg(&conf)
        .args(["--foreground", "--no-process-group"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start smbd")?;
    let pid = child.id().to_string();
    let guard = Smbd(child);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            bail!("smbd did not start listening on {addr} (log in {d}/log)");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((
        guard,
        Target {
            name: "smbd",
            pid,
            addr,
            user,
            share: "share".into(),
            root: share,
            protection,
        },
    ))
}

#[derive(Clone, Copy)]
struct Figures {
    put: Duration,
    get: Duration,
    mput: Duration,
    mget: Duration,
    /// Server CPU time of the best round's big put and get.
    put_cpu: Duration,
    get_cpu: Duration,
}

fn round(t: &Target, dir: &Path, big: &Path, small: &Path, files: usize) -> Result<Figures> {
    let down = dir.join(format!("down-{}", t.name));
    let _ = std::fs::remove_dir_all(&down);
    std::fs::create_dir_all(&down)?;
    let _ = std::fs::remove_file(t.root.join("big.bin"));
    let _ = std::fs::remove_dir_all(t.root.join("small"));
    let (put, put_cpu) = batch(t, dir, &format!("put {} big.bin", big.display()))?;
    if !same(big, &t.root.join("big.bin"))? {
        bail!("{}: the uploaded file differs", t.name);
    }
    let (get, get_cpu) = batch(t, &down, "get big.bin big.bin")?;
    if !same(big, &down.join("big.bin"))? {
        bail!("{}: the downloaded file differs", t.name);
    }
    let (mput, _) = batch(t, small, "mkdir small; cd small; prompt off; mput *")?;
    let (mget, _) = batch(t, &down, "cd small; prompt off; mget *")?;
    let got = std::fs::read_dir(&down)?.count() - 1;
    if got != files || !same(&small.join("f0007.bin"), &down.join("f0007.bin"))? {
        bail!("{}: {got} of {files} small files came back", t.name);
    }
    Ok(Figures {
        put,
        get,
        mput,
        mget,
        put_cpu,
        get_cpu,
    })
}

fn bench(mib: u64, files: usize, rounds: usize, protection: &'static str) -> Result<()> {
    if Command::new("smbclient").arg("--version").output().is_err() {
        bail!("smbclient is not installed (Debian: smbclient; ./scripts/test installs it)");
    }
    let tmp = Tmp(std::env::temp_dir().join(format!("fakedc-smb-bench-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&tmp.0);
    std::fs::create_dir_all(&tmp.0)?;
    let dir = tmp.0.clone();
    let big = dir.join("big.bin");
    write_payload(&big, mib << 20, 0x9E37_79B9_7F4A_7C15)?;
    let small = dir.join("small");
    std::fs::create_dir_all(&small)?;
    for i in 0..files {
        write_payload(&small.join(format!("f{i:04}.bin")), 4096, 0x1234 + i as u64)?;
    }
    let (_smbd, samba) = start_smbd(&dir.join("smbd"), protection)?;
    let dc = Datacenter::builder()
        .scenario_str(
            "[[machine]]\nname = \"hv01\"\nrole = \"hyperv-host\"\naddress = \"127.86.0.1\"\n\
             [machine.options.smb]\nrequire_signing = true\n",
        )
        .ephemeral()
        .data_dir(dir.join("fakedc"))
        .protocols(&["smb"])
        .start()?;
    let fake = Target {
        name: "fakedc",
        pid: "self".into(),
        addr: dc
            .endpoint("hv01", ServiceKind::Smb)
            .context("no smb endpoint")?,
        user: "Administrator".into(),
        share: "C$".into(),
        root: dc.share("hv01").context("no share")?,
        protection,
    };
    let load_before = loadavg();
    let mut best: [Option<Figures>; 2] = [None, None];
    for r in 0..rounds {
        let order: [usize; 2] = if r % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let t = if i == 0 { &fake } else { &samba };
            let f = round(t, &dir, &big, &small, files)?;
            best[i] = Some(match best[i] {
                None => f,
                Some(b) => Figures {
                    put: b.put.min(f.put),
                    get: b.get.min(f.get),
                    mput: b.mput.min(f.mput),
                    mget: b.mget.min(f.mget),
                    put_cpu: b.put_cpu.min(f.put_cpu),
                    get_cpu: b.get_cpu.min(f.get_cpu),
                },
            });
        }
    }
    let (Some(f), Some(s)) = (best[0], best[1]) else {
        bail!("no rounds");
    };
    let mbs = |d: Duration| (mib as f64 * 1.048_576) / d.as_secs_f64();
    let fps = |d: Duration| files as f64 / d.as_secs_f64();
    println!(
        "smb: smbclient --client-protection={protection}, {mib} MiB file and {files} files of 4 KiB, best of {rounds}"
    );
    println!("{:<22} {:>12} {:>12} {:>8}", "", "fakedc", "smbd", "ratio");
    for (what, a, b, unit) in [
        ("put (MB/s)", mbs(f.put), mbs(s.put), ""),
        ("get (MB/s)", mbs(f.get), mbs(s.get), ""),
        ("put small (files/s)", fps(f.mput), fps(s.mput), ""),
        ("get small (files/s)", fps(f.mget), fps(s.mget), ""),
    ] {
        println!("{what:<22} {a:>12.1} {b:>12.1} {:>8.2}{unit}", a / b);
    }
    let gib = mib as f64 / 1024.0;
    let per_gib = |d: Duration| d.as_secs_f64() / gib;
    for (what, a, b) in [
        ("put CPU (s/GiB)", per_gib(f.put_cpu), per_gib(s.put_cpu)),
        ("get CPU (s/GiB)", per_gib(f.get_cpu), per_gib(s.get_cpu)),
    ] {
        // Less CPU is better: the ratio is smbd's over fakedc's.
        println!("{what:<22} {a:>12.3} {b:>12.3} {:>8.2}", b / a.max(1e-9));
    }
    for (what, a, b) in [
        ("put wall (s)", f.put, s.put),
        ("get wall (s)", f.get, s.get),
    ] {
        println!(
            "{what:<22} {:>12.3} {:>12.3}",
            a.as_secs_f64(),
            b.as_secs_f64()
        );
    }
    println!(
        "load average (1 min): {load_before} before, {} after",
        loadavg()
    );
    println!("target: ratio >= 1.00 on each (at least as fast as smbd; CPU: as frugal)");
    Ok(())
}

fn main() -> ExitCode {
    let args = common::Args::from_env();
    let short = args.short();
    let parsed = (|| -> Result<(u64, usize, usize)> {
        Ok((
            args.value("--mib")?.unwrap_or(if short { 8 } else { 256 }),
            args.value("--files")?
                .unwrap_or(if short { 100 } else { 1000 }),
            args.value("--rounds")?.unwrap_or(if short { 1 } else { 3 }),
        ))
    })();
    let protection = if std::env::args().any(|a| a == "--encrypt") {
        "encrypt"
    } else {
        "sign"
    };
    match parsed.and_then(|(m, f, r)| bench(m, f, r, protection)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smb benchmark: {e:#}");
            ExitCode::FAILURE
        }
    }
}
