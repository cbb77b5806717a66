//! Redfish side by side with the anchor, in one run: fakedc's BMC (the real
//! binary, `fakedc up --ephemeral --no-control`, one host and its BMC) and
//! sushy-tools' emulator (`sushy-emulator --fake`, its fake driver, no
//! libvirt), each its own process, driven by the same client (this
//! program: tokio, one keep-alive HTTP/1.1 connection per task, every
//! answer's status checked).
//!
//! Figures, for each server:
//! - `GET /redfish/v1/Systems/{id}` requests/s on 1 and on 8 connections;
//! - `POST …/Actions/ComputerSystem.Reset {"ResetType":"ForceRestart"}`
//!   requests/s on 1 connection;
//! - the server process's CPU time per request (user + system, from
//!   /proc/PID/stat), next to each rate.
//!
//! fakedc answers over HTTPS (its BMCs have no plain-HTTP Redfish) and
//! wants credentials (HTTP Basic, checked per request); sushy-emulator is
//! run as it runs by default, plain HTTP with no authentication: both
//! favour the anchor. sushy-emulator has no SessionService (POST Sessions
//! is 404), so session creation is not compared.
//!
//! Run: `cargo bench --bench redfish` (3 rounds of 3 s per figure, each
//! side's best round) or `cargo bench --bench redfish -- --short` (CI: one
//! round of 500 ms). Options: `--seconds S`, `--rounds N`. The target (at
//! least 20x sushy-tools' rates, from the issue) is printed, never
//! asserted: the program fails only when something is broken
//! (sushy-emulator missing, a server that does not start, a figure with
//! no successful request).
#![allow(clippy::disallowed_methods)] // benchmarks time real peers on the real clock
#![allow(clippy::print_stdout)] // a benchmark prints its figures

mod common;

use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

const SCENARIO: &str = r#"
[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.94.0.1"
bmc = "bmc01"

[[machine]]
name = "bmc01"
role = "bmc"
address = "127.94.1.1"
"#;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One server under test.
struct Target {
    label: &'static str,
    pid: u32,
    addr: SocketAddr,
    tls: bool,
    system: String,
}

/// Kills the child processes on every exit path.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

async fn connect(t: &Target) -> Result<Box<dyn Io>> {
    let tcp = tokio::net::TcpStream::connect(t.addr).await?;
    tcp.set_nodelay(true)?;
    if !t.tls {
        return Ok(Box::new(tcp));
    }
    let cfg = fakedc_net::tls::client_config(&fakedc_net::tls::Trust::AnyCertificate)
        .map_err(|e| anyhow!("{e}"))?;
    let name = rustls::pki_types::ServerName::IpAddress(t.addr.ip().into());
    let s = tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await?;
    Ok(Box::new(s))
}

/// Runs `conns` connections sending `request` back to back for `secs`;
/// returns (successful answers, failures, server CPU seconds).
fn measure(
    rt: &tokio::runtime::Runtime,
    t: &Arc<Target>,
    request: &Arc<Vec<u8>>,
    conns: usize,
    secs: f64,
) -> Result<(u64, u64, f64)> {
    let ok = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let cpu0 = cpu_ticks(t.pid).unwrap_or(0);
    let end = Instant::now() + Duration::from_secs_f64(secs);
    rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let (t, request, ok, bad) = (t.clone(), request.clone(), ok.clone(), bad.clone());
            tasks.push(tokio::spawn(async move {
                let mut io: Option<Box<dyn Io>> = None;
                while Instant::now() < end {
                    if io.is_none() {
                        match connect(&t).await {
                            Ok(s) => io = Some(s),
                            Err(_) => {
                                bad.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            }
                        }
                    }
                    let Some(s) = io.as_mut() else { continue };
                    if s.write_all(&request).await.is_err() {
                        io = None;
                        bad.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    match fakedc_net::client::read_response(s, false, 1 << 20).await {
                        Ok(r) => {
                            if (200..300).contains(&r.status) {
                                ok.fetch_add(1, Ordering::Relaxed);
                            } else {
                                bad.fetch_add(1, Ordering::Relaxed);
                            }
                            if r.header("connection")
                                .is_some_and(|c| c.eq_ignore_ascii_case("close"))
                            {
                                io = None;
                            }
                        }
                        Err(_) => {
                            io = None;
                            bad.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let cpu = cpu_ticks(t.pid).unwrap_or(0).saturating_sub(cpu0) as f64 / ticks_per_sec();
    Ok((ok.load(Ordering::Relaxed), bad.load(Ordering::Relaxed), cpu))
}

fn request(t: &Target, method: &str, path: &str, body: &str) -> Vec<u8> {
    // admin:password, the scenario BMC's default administrator.
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic YWRtaW46cGFzc3dvcmQ=\r\nAccept: application/json\r\n",
        t.addr
    );
    if !body.is_empty() {
        r.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r.into_bytes()
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn start_fakedc(procs: &mut Procs, dir: &std::path::Path) -> Result<Target> {
    let toml = dir.join("redfish.toml");
    let eps = dir.join("redfish-endpoints.json");
    std::fs::write(&toml, SCENARIO)?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_fakedc"))
        .arg("up")
        .arg(&toml)
        .args(["--ephemeral", "--no-control", "--endpoints-file"])
        .arg(&eps)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("spawning fakedc")?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let pid = child.id();
    procs.0.push(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("ready") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(());
                }
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .map_err(|_| anyhow!("fakedc did not print its ready line"))?;
    let list: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(&eps)?)?;
    let e = list
        .iter()
        .find(|e| e["service"] == "redfish" && e["served"] == true)
        .ok_or_else(|| anyhow!("no redfish endpoint in {}", eps.display()))?;
    let addr = SocketAddr::new(
        e["address"].as_str().unwrap_or_default().parse()?,
        e["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .context("port")?,
    );
    Ok(Target {
        label: "fakedc",
        pid,
        addr,
        tls: true,
        system: "/redfish/v1/Systems/1".into(),
    })
}

fn start_sushy(rt: &tokio::runtime::Runtime, procs: &mut Procs) -> Result<Target> {
    let port = free_port()?;
    let child = Command::new("sushy-emulator")
        .args(["--fake", "-i", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("sushy-emulator is not installed (./scripts/test installs sushy-tools)")?;
    let pid = child.id();
    procs.0.push(child);
    let mut t = Target {
        label: "sushy-tools",
        pid,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        tls: false,
        system: String::new(),
    };
    let get = request(&t, "GET", "/redfish/v1/Systems", "");
    let deadline = Instant::now() + Duration::from_secs(60);
    let members = loop {
        let r: Result<fakedc_net::client::Response> = rt.block_on(async {
            let mut s = connect(&t).await?;
            s.write_all(&get).await?;
            Ok(fakedc_net::client::read_response(&mut s, false, 1 << 20).await?)
        });
        match r {
            Ok(r) if r.status == 200 => break r.text(),
            _ if Instant::now() > deadline => bail!("sushy-emulator did not answer in 60 s"),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let v: serde_json::Value = serde_json::from_str(&members)?;
    t.system = v["Members"][0]["@odata.id"]
        .as_str()
        .ok_or_else(|| anyhow!("sushy-emulator lists no system: {members}"))?
        .to_string();
    Ok(t)
}

struct Figure {
    name: &'static str,
    conns: usize,
    path: fn(&Target) -> String,
    method: &'static str,
    body: &'static str,
}

fn run() -> Result<()> {
    let args = common::Args::from_env();
    let short = args.short();
    let secs: f64 = args
        .value("--seconds")?
        .unwrap_or(if short { 0.5 } else { 3.0 });
    let rounds: usize = args.value("--rounds")?.unwrap_or(if short { 1 } else { 3 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = std::env::temp_dir().join(format!("fakedc-bench-redfish-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut procs = Procs(Vec::new());
    let targets = [
        Arc::new(start_fakedc(&mut procs, &dir)?),
        Arc::new(start_sushy(&rt, &mut procs)?),
    ];
    let figures = [
        Figure {
            name: "GET Systems/{id}, 1 connection",
            conns: 1,
            path: |t| t.system.clone(),
            method: "GET",
            body: "",
        },
        Figure {
            name: "GET Systems/{id}, 8 connections",
            conns: 8,
            path: |t| t.system.clone(),
            method: "GET",
            body: "",
        },
        Figure {
            name: "POST ComputerSystem.Reset ForceRestart, 1 connection",
            conns: 1,
            path: |t| format!("{}/Actions/ComputerSystem.Reset", t.system),
            method: "POST",
            body: r#"{"ResetType":"ForceRestart"}"#,
        },
    ];
    println!(
        "Redfish: fakedc (HTTPS, Basic) vs sushy-tools' emulator (--fake, plain HTTP, no auth); best of {rounds} round(s) of {secs} s"
    );
    let mut worst_ratio = f64::INFINITY;
    for f in &figures {
        let mut best: Vec<(f64, u64, f64)> = vec![(0.0, 0, 0.0); targets.len()];
        for _ in 0..rounds {
            for (i, t) in targets.iter().enumerate() {
                let req = Arc::new(request(t, f.method, &(f.path)(t), f.body));
                let (ok, bad, cpu) = measure(&rt, t, &req, f.conns, secs)?;
                let rate = ok as f64 / secs;
                if rate > best[i].0 {
                    best[i] = (rate, bad, if ok > 0 { cpu / ok as f64 } else { 0.0 });
                }
            }
        }
        println!("{}:", f.name);
        for (t, (rate, bad, cpu)) in targets.iter().zip(&best) {
            if *rate == 0.0 {
                bail!("{}: no successful request for '{}'", t.label, f.name);
            }
            println!(
                "  {:<12} {:>9.0} req/s  server CPU {:>8.1} us/request  ({} failed)",
                t.label,
                rate,
                cpu * 1e6,
                bad
            );
        }
        let ratio = best[0].0 / best[1].0;
        worst_ratio = worst_ratio.min(ratio);
        println!("  fakedc / sushy-tools: {ratio:.1}x");
    }
    println!(
        "target: at least 20x sushy-tools on every rate: {} (lowest {worst_ratio:.1}x)",
        if worst_ratio >= 20.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("redfish benchmark: {e:#}");
            ExitCode::FAILURE
        }
    }
}
