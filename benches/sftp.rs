//! SFTP throughput side by side with the anchor, in one run: a 256 MiB file
//! up and down with OpenSSH's `sftp` client against fakedc's ESX host
//! (in-process, library API) and against OpenSSH's own `sshd` with
//! `internal-sftp` (Debian `openssh-server`), started here on another
//! loopback port with a generated sshd_config, host key and authorized key
//! in a temporary directory, and stopped at the end. Both use the same
//! client, the same cipher (`-c`, chacha20-poly1305 by default; a non-AEAD
//! cipher also pins the MAC to hmac-sha2-256-etm, since fakedc has no umac),
//! key authentication, and write into the same temporary directory. Prints
//! MB/s for both and the ratio (fakedc / sshd).
//!
//! Each figure is the wall time of one `sftp -b` run (login included, a few
//! ms against seconds of transfer); rounds alternate which server goes
//! first and the best round of each is reported.
//!
//! Run: `cargo bench --bench sftp` (256 MiB, 3 rounds) or `cargo bench
//! --bench sftp -- --short` (CI: 8 MiB, one round, seconds). Options:
//! `--mib N`, `--rounds N`, `--cipher NAME`. The target (at least as fast
//! as OpenSSH) is printed, never asserted: the program fails only when
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

/// A directory removed on drop.
struct Tmp(PathBuf);

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// sshd, stopped on drop (also when the benchmark fails half-way).
struct Sshd(Child);

impl Drop for Sshd {
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

fn find_sshd() -> Result<PathBuf> {
    // sshd re-executes itself and insists on an absolute path.
    for p in ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"] {
        if Path::new(p).exists() {
            return Ok(PathBuf::from(p));
        }
    }
    bail!("sshd is not installed (Debian: openssh-server; ./scripts/test installs it)")
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn current_user() -> Result<String> {
    let o = run(Command::new("id").arg("-un"))?;
    Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// Pseudo-random content (compressible data would flatter no one here, but
/// a transfer test should not be fooled by zeros).
fn write_payload(path: &Path, len: u64) -> Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut left = len;
    let mut block = vec![0u8; 1 << 16];
    while left > 0 {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = x.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> Result<bool> {
    use std::io::Read;
    let (ma, mb) = (std::fs::metadata(a)?, std::fs::metadata(b)?);
    if ma.len() != mb.len() {
        return Ok(false);
    }
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// One server as the client sees it.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    user: String,
    /// Where uploads go, as the client names it.
    remote: String,
}

struct Client {
    key: PathBuf,
    cipher: String,
    dir: PathBuf,
}

impl Client {
    /// Runs one `sftp -b` batch; returns its wall time.
    fn batch(&self, t: &Target, batch: &str) -> Result<Duration> {
        let file = self.dir.join("batch");
        std::fs::write(&file, batch)?;
        let mut c = Command::new("sftp");
        c.args(["-F", "/dev/null", "-q"])
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "LogLevel=ERROR"])
            .args(["-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"])
            .args(["-o", "PasswordAuthentication=no"])
            .args(["-c", &self.cipher]);
        if !self.cipher.contains("gcm") && !self.cipher.contains("poly1305") {
            c.args(["-o", "MACs=hmac-sha2-256-etm@openssh.com"]);
        }
        c.arg("-i")
            .arg(&self.key)
            .args(["-P", &t.addr.port().to_string(), "-b"])
            .arg(&file)
            .arg(format!("{}@{}", t.user, t.addr.ip()))
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        let start = Instant::now();
        run(&mut c).with_context(|| format!("sftp against {}", t.name))?;
        Ok(start.elapsed())
    }
}

struct Round {
    up: [Duration; 2],
    down: [Duration; 2],
}

fn bench(size: u64, rounds: usize, cipher: &str) -> Result<()> {
    for tool in ["sftp", "ssh-keygen"] {
        if Command::new(tool)
            .arg("-?")
            .stdin(Stdio::null())
            .output()
            .is_err()
        {
            bail!("{tool} is not installed (Debian: openssh-client)");
        }
    }
    let sshd_bin = find_sshd()?;
    let tmp = Tmp(std::env::temp_dir().join(format!("fakedc-sftp-bench-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&tmp.0);
    std::fs::create_dir_all(&tmp.0)?;
    let dir = tmp.0.clone();
    let key = dir.join("id_ed25519");
    let host_key = dir.join("sshd_host_ed25519");
    for k in [&key, &host_key] {
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(k)
            .stdin(Stdio::null()))?;
    }
    let public = std::fs::read_to_string(key.with_extension("pub"))?
        .trim()
        .to_string();
    std::fs::write(dir.join("authorized_keys"), format!("{public}\n"))?;

    // OpenSSH's sshd: internal-sftp, key auth only, its own loopback port.
    let port = free_port()?;
    let user = current_user()?;
    let cfg = dir.join("sshd_config");
    std::fs::write(
        &cfg,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n\
             Subsystem sftp internal-sftp\nPidFile none\nLogLevel ERROR\n",
            host_key.display(),
            dir.join("authorized_keys").display()
        ),
    )?;
    // Run as root, sshd wants its privilege-separation directory (the
    // Debian service creates it at start).
    let _ = std::fs::create_dir_all("/run/sshd");
    let child = Command::new(&sshd_bin)
        .arg("-D")
        .arg("-f")
        .arg(&cfg)
        .arg("-E")
        .arg(dir.join("sshd.log"))
        .stdin(Stdio::null())
        .spawn()
        .context("cannot start sshd")?;
    let mut sshd = Sshd(child);
    let sshd_addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&sshd_addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = sshd.0.try_wait() {
            bail!(
                "sshd exited ({status}): {}",
                std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
        }
        if Instant::now() > deadline {
            bail!("sshd did not listen on {sshd_addr} within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    // fakedc: one ESX host whose root has the same key.
    let scenario = format!(
        "[[machine]]\nname = \"esx01\"\nrole = \"esx-host\"\naddress = \"127.81.0.1\"\n\
         [[machine.user]]\nname = \"root\"\npassword = \"VMware1!\"\nprivilege = \"admin\"\n\
         authorized_keys = [\"{public}\"]\n"
    );
    let dc = Datacenter::builder()
        .scenario_str(&scenario)
        .ephemeral()
        .data_dir(dir.join("fakedc-data"))
        .start()
        .context("cannot start fakedc")?;
    let fakedc_addr = dc
        .endpoint("esx01", ServiceKind::Sftp)
        .context("fakedc serves no SFTP endpoint")?;

    let local = dir.join("payload.bin");
    write_payload(&local, size)?;
    std::fs::create_dir_all(dir.join("sshd-files"))?;
    let targets = [
        Target {
            name: "fakedc",
            addr: fakedc_addr,
            user: "root".into(),
            remote: "bench.bin".into(),
        },
        Target {
            name: "sshd",
            addr: sshd_addr,
            user,
            remote: dir.join("sshd-files/bench.bin").display().to_string(),
        },
    ];
    let client = Client {
        key,
        cipher: cipher.to_string(),
        dir: dir.clone(),
    };
    let down = dir.join("down.bin");
    let mut results = Vec::new();
    for r in 0..rounds {
        let mut round = Round {
            up: [Duration::ZERO; 2],
            down: [Duration::ZERO; 2],
        };
        let order: [usize; 2] = if r % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let t = &targets[i];
            round.up[i] = client.batch(t, &format!("put payload.bin {}\n", t.remote))?;
            let _ = std::fs::remove_file(&down);
            round.down[i] =
                client.batch(t, &format!("get {} down.bin\nrm {}\n", t.remote, t.remote))?;
            if !same_file(&local, &down)? {
                bail!(
                    "{}: the downloaded file differs from the uploaded one",
                    t.name
                );
            }
        }
        results.push(round);
    }
    drop(sshd);
    drop(dc);

    let mbps = |d: Duration| size as f64 / 1e6 / d.as_secs_f64().max(1e-9);
    let best = |f: &dyn Fn(&Round) -> Duration| {
        results
            .iter()
            .map(f)
            .min()
            .unwrap_or(Duration::from_secs(1))
    };
    let version = Command::new("ssh")
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
        .unwrap_or_default();
    println!(
        "sftp: {} MiB up and down, cipher {cipher}, key auth, best of {rounds} round(s); client {version}",
        size >> 20
    );
    println!(
        "{:<16} {:>12} {:>18} {:>8}",
        "", "fakedc", "OpenSSH sshd", "ratio"
    );
    type Pick = fn(&Round) -> Duration;
    let rows: [(&str, Pick, Pick); 2] = [
        ("upload MB/s", |r| r.up[0], |r| r.up[1]),
        ("download MB/s", |r| r.down[0], |r| r.down[1]),
    ];
    for (name, f, s) in rows {
        let (a, b) = (mbps(best(&f)), mbps(best(&s)));
        let each: Vec<String> = results
            .iter()
            .map(|r| format!("{:.0}/{:.0}", mbps(f(r)), mbps(s(r))))
            .collect();
        println!(
            "{name:<16} {a:>12.1} {b:>18.1} {:>8.2}   (rounds, fakedc/sshd: {})",
            a / b,
            each.join(", ")
        );
    }
    println!("target: ratio >= 1.00 (at least as fast as OpenSSH)");
    Ok(())
}

fn main() -> ExitCode {
    let args = common::Args::from_env();
    let short = args.short();
    let (mib, rounds) = match (args.value::<u64>("--mib"), args.value::<usize>("--rounds")) {
        (Ok(m), Ok(r)) => (
            m.unwrap_or(if short { 8 } else { 256 }),
            r.unwrap_or(if short { 1 } else { 3 }),
        ),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let cipher = args
        .text("--cipher")
        .unwrap_or("chacha20-poly1305@openssh.com")
        .to_string();
    match bench(mib.max(1) << 20, rounds.max(1), &cipher) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
