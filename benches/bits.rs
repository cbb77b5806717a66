//! BITS throughput side by side with the anchor, in one run: 1 GiB up and
//! down over HTTPS on loopback with `fakedc bits upload|download` (the real
//! binary) against a fakedc library server, and with curl uploading (PUT,
//! WebDAV) to and downloading from nginx over TLS. Prints MB/s for both and
//! the ratio (fakedc / nginx), and the server's CPU time per GiB (utime +
//! stime from /proc: this process for fakedc's library server, nginx's
//! master and workers for the anchor), which survives a busy machine
//! better than a rate does. A third row has curl download from fakedc as
//! well, so one row compares the servers with the same client, and the
//! clients' own CPU per GiB is printed too (what a waiting server is
//! waiting for).
//!
//! fakedc's upload includes what nginx does not do: the BITS fragment
//! round trips and the fsync before Close-Session's rename (nothing is ever
//! lost). Both servers write into a temporary directory on the same disk.
//!
//! Run: `cargo bench --bench bits` (1 GiB) or `cargo bench --bench bits --
//! --short` (CI: 16 MiB, one round, seconds). `--mib N` picks another
//! size, `--rounds N` the number of rounds (default 3; each round runs both,
//! alternating which goes first; the best is reported: on a VM, first-touch
//! page faults and writeback make single runs vary by 2x; CPU per GiB is
//! the median of the rounds). The targets (from the issue: at least 1.2x
//! nginx's rate, at most 0.8x its CPU per GiB) are printed, never asserted: the
//! program fails only when something is broken (a tool missing, a server
//! that does not start, a transfer that does not arrive intact).
#![allow(clippy::disallowed_methods)] // tests and benchmarks time real peers on the real clock
#![allow(clippy::print_stdout)] // a benchmark prints its figures

mod common;

use anyhow::{bail, Context, Result};
use fakedc::{Datacenter, ServiceKind};
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const SCENARIO: &str = r#"
[[machine]]
name = "lib01"
role = "library-server"
address = "127.84.0.1"
"#;

/// A directory removed on drop.
struct Tmp(PathBuf);

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// nginx, stopped on drop.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its workers (SIGKILL would orphan them).
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn need(tool: &str, arg: &str) -> Result<()> {
    let ok = Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        bail!("{tool} is not installed (./scripts/test installs it)");
    }
    Ok(())
}

/// One transfer: wall time, the CPU time the server's processes used
/// meanwhile, and the client's own CPU time.
#[derive(Clone, Copy)]
struct Measure {
    wall: Duration,
    cpu: Duration,
    client_cpu: Duration,
}

/// CPU time used so far by `pids` (processes gone since count as zero).
fn cpu_of(pids: &[u32]) -> Duration {
    pids.iter().filter_map(|p| common::cpu_time(*p)).sum()
}

/// Runs `cmd` to completion, timing it and the CPU of `server` (the
/// server's process ids, read before and after).
fn run(cmd: &mut Command, what: &str, server: &[u32]) -> Result<Measure> {
    let cpu0 = cpu_of(server);
    let client0 = common::waited_children_cpu().unwrap_or_default();
    let t = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {what}"))?;
    let elapsed = t.elapsed();
    let cpu = cpu_of(server).saturating_sub(cpu0);
    let client_cpu = common::waited_children_cpu()
        .unwrap_or_default()
        .saturating_sub(client0);
    if !out.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(Measure {
        wall: elapsed,
        cpu,
        client_cpu,
    })
}

/// Writes `size` bytes of deterministic, incompressible data.
fn make_source(path: &Path, size: u64) -> Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut buf = vec![0u8; 4 << 20];
    let mut off = 0u64;
    while off < size {
        let n = (size - off).min(buf.len() as u64) as usize;
        fakedc_bits::fill_virtual(42, off, &mut buf[..n]);
        f.write_all(&buf[..n])?;
        off += n as u64;
    }
    f.flush()?;
    Ok(())
}

/// Compares two files chunk by chunk.
fn same(a: &Path, b: &Path) -> Result<bool> {
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
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

/// Writes back everything dirty before a measurement, so no transfer pays
/// for the writeback of an earlier one (or of the source file).
fn settle() {
    let _ = Command::new("sync").status();
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// PEM text of DER bytes.
fn pem(label: &str, der: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for c in der.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                b64.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Starts nginx with TLS on a free loopback port, its certificate signed
/// by the same scenario CA the fakedc run used (so curl trusts one CA).
fn start_nginx(dir: &Path, leaf: (Vec<u8>, Vec<u8>)) -> Result<(Nginx, u16)> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, pem("CERTIFICATE", &leaf.0))?;
    std::fs::write(&key, pem("PRIVATE KEY", &leaf.1))?;
    for d in ["www/up", "body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    let port = free_port()?;
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let p = dir.display();
    let conf = format!(
        r#"{user}
worker_processes auto;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {p}/body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        root {p}/www;
        client_max_body_size 0;
        location /up/ {{
            dav_methods PUT;
            create_full_put_path on;
        }}
    }}
}}
"#,
        user = if root { "user root;" } else { "" },
        cert = cert.display(),
        key = key.display(),
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let child = Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf_path)
        .args(["-e", "stderr", "-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nginx")?;
    let nginx = Nginx(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!(
                "nginx did not listen on {port}: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((nginx, port))
}

fn nginx_version() -> String {
    Command::new("nginx")
        .arg("-v")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stderr)
                .trim()
                .trim_start_matches("nginx version: ")
                .to_string()
        })
        .unwrap_or_else(|_| "nginx".into())
}

fn mbps(size: u64, d: Duration) -> f64 {
    size as f64 / d.as_secs_f64().max(1e-9) / 1e6
}

/// The five measurements of one round.
#[derive(Clone, Copy)]
struct Round {
    fakedc_up: Measure,
    fakedc_down: Measure,
    /// curl downloading from fakedc: the same client on both sides, so
    /// this row compares the servers alone.
    curl_fakedc_down: Measure,
    nginx_up: Measure,
    nginx_down: Measure,
}

type Pick = fn(&Round) -> Measure;

fn bench(size: u64, rounds: usize) -> Result<()> {
    need("curl", "--version")?;
    need("nginx", "-v")?;
    let dir = std::env::temp_dir().join(format!("fakedc-bench-bits-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let tmp = Tmp(dir.clone());
    let src = tmp.0.join("src.bin");
    make_source(&src, size)?;
    let src_s = src.to_str().context("path")?;

    // fakedc: the library server; the real `fakedc bits` client binary.
    let dc = Datacenter::builder()
        .scenario_str(SCENARIO)
        .ephemeral()
        .data_dir(tmp.0.join("fakedc-data"))
        .start()
        .context("starting fakedc")?;
    let addr = dc
        .endpoint("lib01", ServiceKind::Bits)
        .context("no BITS endpoint")?;
    let ca = tmp.0.join("ca.pem");
    std::fs::write(&ca, dc.ca_pem())?;
    let url = format!("https://{addr}/upload/bench.bin");
    let stored = dc.share("lib01").context("share")?.join("upload/bench.bin");
    let bin = env!("CARGO_BIN_EXE_fakedc");
    let client = |args: &[&str]| {
        let mut c = Command::new(bin);
        c.arg("bits")
            .args(args)
            .arg("--cacert")
            .arg(&ca)
            .arg("--state-dir")
            .arg(tmp.0.join("state"));
        c
    };

    // The anchor: curl against nginx over TLS, its certificate from the
    // same CA.
    let (chain, key) = dc
        .ca()
        .leaf("localhost", std::net::Ipv4Addr::LOCALHOST.into())
        .context("signing nginx's certificate")?;
    let leaf = (
        chain.first().context("no certificate")?.as_ref().to_vec(),
        key.secret_der().to_vec(),
    );
    let ng_dir = tmp.0.join("nginx");
    std::fs::create_dir_all(&ng_dir)?;
    let (nginx, port) = start_nginx(&ng_dir, leaf)?;
    let ng_url = format!("https://127.0.0.1:{port}/up/bench.bin");
    let ng_stored = ng_dir.join("www/up/bench.bin");
    // The servers' processes: fakedc's library server runs in this one
    // (the client is a separate process); nginx's master and its workers.
    let me = [std::process::id()];
    // The master listens before it forks the workers: wait for them.
    let ng_pids: Vec<u32> = {
        let master = nginx.0.id();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut workers = common::children(master);
        while workers.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            workers = common::children(master);
        }
        if workers.is_empty() {
            bail!("nginx started no worker process");
        }
        std::iter::once(master).chain(workers).collect()
    };

    let dst = tmp.0.join("dst.bin");
    let dst_s = dst.to_str().context("path")?;
    let fakedc_pair = || -> Result<(Measure, Measure, Measure)> {
        settle();
        let up = run(
            &mut client(&["upload", src_s, &url]),
            "fakedc bits upload",
            &me,
        )?;
        if !same(&src, &stored)? {
            bail!("fakedc: the uploaded file differs from the source");
        }
        settle();
        let down = run(
            &mut client(&["download", &url, dst_s]),
            "fakedc bits download",
            &me,
        )?;
        if !same(&src, &dst)? {
            bail!("fakedc: the downloaded file differs from the source");
        }
        std::fs::remove_file(&dst)?;
        settle();
        // BITS downloads are plain ranged GETs: curl is a client of them
        // too (Basic, the scenario's default account).
        let curl_down = run(
            Command::new("curl")
                .args(["-sS", "--fail", "-u", "Administrator:P@ssw0rd!", "--cacert"])
                .arg(&ca)
                .args(["-o", dst_s, &url]),
            "curl GET from fakedc",
            &me,
        )?;
        if !same(&src, &dst)? {
            bail!("fakedc: the file curl downloaded differs from the source");
        }
        std::fs::remove_file(&dst)?;
        std::fs::remove_file(&stored)?;
        Ok((up, down, curl_down))
    };
    let nginx_pair = || -> Result<(Measure, Measure)> {
        settle();
        let up = run(
            Command::new("curl")
                .args(["-sS", "--fail", "--cacert"])
                .arg(&ca)
                .args(["-T", src_s, "-o", "/dev/null", &ng_url]),
            "curl PUT to nginx",
            &ng_pids,
        )?;
        if !same(&src, &ng_stored)? {
            bail!("nginx: the uploaded file differs from the source");
        }
        settle();
        let down = run(
            Command::new("curl")
                .args(["-sS", "--fail", "--cacert"])
                .arg(&ca)
                .args(["-o", dst_s, &ng_url]),
            "curl GET from nginx",
            &ng_pids,
        )?;
        if !same(&src, &dst)? {
            bail!("nginx: the downloaded file differs from the source");
        }
        std::fs::remove_file(&dst)?;
        std::fs::remove_file(&ng_stored)?;
        Ok((up, down))
    };
    // Rounds alternate which server goes first, so neither always gets the
    // page cache the other just freed; the best of the rounds is reported.
    let mut results = Vec::new();
    for r in 0..rounds {
        let (f, n) = if r % 2 == 0 {
            let f = fakedc_pair()?;
            (f, nginx_pair()?)
        } else {
            let n = nginx_pair()?;
            (fakedc_pair()?, n)
        };
        results.push(Round {
            fakedc_up: f.0,
            fakedc_down: f.1,
            curl_fakedc_down: f.2,
            nginx_up: n.0,
            nginx_down: n.1,
        });
    }
    drop(nginx);
    drop(dc);

    let best = |pick: Pick| {
        results
            .iter()
            .map(|r| pick(r).wall)
            .min()
            .unwrap_or(Duration::from_secs(1))
    };
    let gib = size as f64 / (1u64 << 30) as f64;
    // CPU seconds per GiB (the server's, or the client's), median of the
    // rounds.
    let per_gib = |pick: Pick, client: bool| {
        let mut v: Vec<f64> = results
            .iter()
            .map(|r| {
                let m = pick(r);
                if client { m.client_cpu } else { m.cpu }.as_secs_f64() / gib
            })
            .collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let mib = size >> 20;
    println!(
        "BITS over HTTPS on loopback, {mib} MiB each way, {} cores, best of {rounds} round{}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if rounds == 1 { "" } else { "s" }
    );
    println!(
        "{:<30} {:>14} {:>22} {:>8}",
        "",
        "fakedc",
        format!("curl + {}", nginx_version()),
        "ratio"
    );
    // The first two rows are the issue's targets (fakedc's own client
    // against curl); the third has curl on both sides, so it compares the
    // servers alone.
    let rows: [(&str, Pick, Pick); 3] = [
        ("upload", |r| r.fakedc_up, |r| r.nginx_up),
        ("download", |r| r.fakedc_down, |r| r.nginx_down),
        (
            "download, curl both",
            |r| r.curl_fakedc_down,
            |r| r.nginx_down,
        ),
    ];
    for (name, f, n) in rows {
        let (a, b) = (mbps(size, best(f)), mbps(size, best(n)));
        let each: Vec<String> = results
            .iter()
            .map(|r| format!("{:.0}/{:.0}", mbps(size, f(r).wall), mbps(size, n(r).wall)))
            .collect();
        println!(
            "{:<30} {a:>14.1} {b:>22.1} {:>8.2}   (rounds, fakedc/nginx: {})",
            format!("{name} MB/s"),
            a / b,
            each.join(", ")
        );
    }
    for client in [false, true] {
        for (name, f, n) in rows {
            if client && name == "download, curl both" {
                continue; // curl's CPU against each server: not a figure of fakedc's
            }
            let (a, b) = (per_gib(f, client), per_gib(n, client));
            let each: Vec<String> = results
                .iter()
                .map(|r| {
                    let cpu = |m: Measure| if client { m.client_cpu } else { m.cpu };
                    format!(
                        "{:.2}/{:.2}",
                        cpu(f(r)).as_secs_f64() / gib,
                        cpu(n(r)).as_secs_f64() / gib
                    )
                })
                .collect();
            println!(
                "{:<30} {a:>14.2} {b:>22.2} {:>8}   ({} only, median; rounds: {})",
                format!("{name} {}CPU s/GiB", if client { "client " } else { "" }),
                // /proc counts whole clock ticks: a short run can show none.
                if b > 0.0 {
                    format!("{:.2}", a / b)
                } else {
                    "-".into()
                },
                if client { "client" } else { "server" },
                each.join(", ")
            );
        }
    }
    println!(
        "load average: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!("target: rate ratio >= 1.20 both ways, server CPU per GiB <= 0.80x nginx's");
    Ok(())
}

fn main() -> ExitCode {
    let args = common::Args::from_env();
    let short = args.short();
    let (mib, rounds) = match (args.value::<u64>("--mib"), args.value::<usize>("--rounds")) {
        (Ok(m), Ok(r)) => (
            m.unwrap_or(if short { 16 } else { 1024 }),
            r.unwrap_or(if short { 1 } else { 3 }),
        ),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match bench(mib.max(1) << 20, rounds.max(1)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
