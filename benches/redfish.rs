//! Redfish side by side with the anchor, in one run: fakedc's BMC (the real
//! binary, `fakedc up --ephemeral --no-control`, one host and its BMC) and
//! sushy-tools' emulator (`sushy-emulator --fake`, its fake driver, no
//! libvirt), each its own process, driven by the same client (this
//! program: tokio, one keep-alive HTTP/1.1 connection per task, every
//! answer's status checked).
//!
//! Figures, for each server:
//! - `GET /redfish/v1/Systems/{id}` requests/s on 1 and on 8 connections;
//! - session creation on 1 and on 8 connections: `POST
//!   /redfish/v1/SessionService/Sessions` (201, `X-Auth-Token`), then
//!   `DELETE` of its `Location` with that token (a BMC keeps 64 sessions
//!   at most, as real ones keep a few), counted as one login per pair;
//! - `POST …/Actions/ComputerSystem.Reset {"ResetType":"ForceRestart"}`
//!   requests/s on 1 connection;
//! - the server process's CPU time per request (user + system, from
//!   /proc/PID/stat), next to each rate;
//! - resident memory of one fakedc process with 1,000 bare BMCs (IPMI,
//!   SMASH + Redfish on 443, SSH: their default services), at ready and
//!   after BMCs answered a `GET Systems/1` over a fresh TLS connection
//!   each (every BMC in full mode, 100 in `--short`), next to one
//!   sushy-emulator process's (sushy serves one process per emulator).
//!
//! A third server gives the floor: hyper + rustls (fakedc's front and TLS
//! provider) on its own 2-thread runtime in this process, answering with
//! fakedc's own captured bytes and nothing else (no authentication,
//! routing, model, journal). `fakedc / bare floor` is the share of the
//! possible rate fakedc reaches; `floor / sushy-tools` is the highest
//! ratio any Rust HTTPS server could show against sushy with this client
//! on this machine, so a target above it cannot be met by fakedc's code.
//!
//! Both answer over HTTPS, as a BMC serves Redfish (fakedc's BMCs have no
//! plain-HTTP Redfish; sushy-emulator gets `--ssl-certificate` and
//! `--ssl-key`, a self-signed P-256 leaf made with `openssl`). fakedc wants
//! credentials (HTTP Basic, checked per request); sushy-emulator runs with
//! no authentication, which favours the anchor. sushy-emulator has no SessionService: for session
//! creation its figure is how fast it answers the same POST with 404, an
//! upper bound of what a login could cost it (fakedc's figure includes
//! the logout as well: two requests, one TLS round trip each, against
//! sushy's one). That figure therefore compares a login+logout pair with
//! one 404, and the floor line says how far any server could go. (Until
//! stop 27 sushy ran on plain HTTP; the figures below from before then
//! say "plain-HTTP 404".)
//!
//! Quiet machine at stop 27 (release, no arguments, load 0.2-1.8, sushy
//! over HTTPS with the client resuming TLS sessions): GET Systems/1 143x
//! / 132x sushy on 1 / 8 connections, login+logout 76.5x / 38.5x, Reset
//! 23.4x (the floor's ratio there: 31.9x); 1,000 BMCs 41.0 MB at ready,
//! 63.9 MB after each answered over TLS.
//!
//! Run: `cargo bench --bench redfish` (3 rounds of 3 s per figure, each
//! side's best round) or `cargo bench --bench redfish -- --short` (CI: one
//! round of 500 ms). Options: `--seconds S`, `--rounds N`, `--bmcs N`
//! (the memory figure's fleet), `--fakedc PATH` (another fakedc binary,
//! to compare builds in one sitting). The targets (at least 20x
//! sushy-tools' rates, 1,000 BMCs under 100 MB, from the issue) are
//! printed, never asserted: the program fails only when something is
//! broken (sushy-emulator missing, a server that does not start, a figure
//! with no successful request).
//!
//! Measured (release, `--seconds 1 --rounds 2`, load average 12-15 on 2
//! CPUs, sushy-tools 2.2.0), before and after one serialization per
//! answer and reads that do not copy the chassis: GET Systems/1 on 1
//! connection 10,057/s (60x sushy) then 11,011/s (87x), server CPU 43.8
//! then 31.8 us per request; on 8 connections 12,464/s (58x) then 13,352/s
//! (77x); login+logout pairs 7,863/s and 7,609/s (12.7x, 10.2x) then
//! 8,684/s and 11,546/s (11.9x, 19.5x: each pair is two requests against
//! sushy's one 404); Reset 6,441/s then 8,846/s (43x, 82x). 1,000 BMCs:
//! 43.6 MB at ready, 66.6 MB after every one answered over its own TLS
//! connection; one sushy-emulator process is 82.8 MB.
//!
//! With the floor (release, `--seconds 2 --rounds 2 --bmcs 10`, load
//! average 7-9 on 2 CPUs, before/after in one sitting through `--fakedc`):
//! GET Systems/1 on 1 connection 12,434/s, 61x sushy, 0.38-0.56x the floor
//! (fakedc 28 us of server CPU per request, the floor 11 us; perf puts 30%
//! of fakedc's samples in building the JSON tree, serializing it and
//! hashing the ETag, 35% in the socket write); login+logout pairs on 1
//! connection 10,384/s, 18.2x sushy's 404, 0.97x the floor, and the floor
//! itself is only 16.8-18.6x sushy there (24x on 8 connections): a pair is
//! two HTTPS round trips against one plain-HTTP 404, so 20x on that figure
//! is out of reach of any server with this client on this machine. Reset
//! ForceRestart on 1 connection 6,353/s then 13,817/s (47x then 76x sushy;
//! 78 then 44 us of CPU each) once the event watcher stopped formatting
//! the whole SEL on every model change and keeping a timer per reset; the
//! rest of the gap to the floor (0.38x) is the model's change
//! notifications waking other threads (eventfd writes in `Model::notify`).
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
    /// Whether it has a SessionService (sushy-emulator has none: its
    /// session figure is the 404 it answers the same POST with).
    sessions: bool,
    system: String,
    /// An in-process server's runtime threads (the bare floor): its CPU is
    /// those threads', not this process's (which runs the client too).
    threads: Option<&'static str>,
}

/// Server CPU seconds used so far by `t`.
fn server_cpu(t: &Target) -> f64 {
    match t.threads {
        Some(name) => common::threads_cpu(name).as_secs_f64(),
        None => cpu_ticks(t.pid).unwrap_or(0) as f64 / ticks_per_sec(),
    }
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
    // One client configuration for every connection, so its session cache
    // resumes TLS sessions as curl does: sushy-emulator closes the
    // connection after every answer, and a full handshake per request
    // would charge it for the client's forgetfulness.
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    let cfg = match CONFIG.get() {
        Some(c) => c.clone(),
        None => {
            let c = fakedc_net::tls::client_config(&fakedc_net::tls::Trust::AnyCertificate)
                .map_err(|e| anyhow!("{e}"))?;
            CONFIG.get_or_init(|| c).clone()
        }
    };
    let name = rustls::pki_types::ServerName::IpAddress(t.addr.ip().into());
    let s = tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await?;
    Ok(Box::new(s))
}

/// What one connection repeats.
#[derive(Clone)]
enum Work {
    /// One request; an answer counts when its status passes `expect`.
    Fixed {
        request: Arc<Vec<u8>>,
        expect: fn(u16) -> bool,
    },
    /// A session login (201 with `X-Auth-Token` and `Location`), then its
    /// logout (`DELETE` with the token, 204): one count per pair.
    Login { request: Arc<Vec<u8>>, host: String },
}

/// Sends one request on `s` and reads its answer.
async fn exchange(s: &mut Box<dyn Io>, request: &[u8]) -> Result<fakedc_net::client::Response> {
    s.write_all(request).await?;
    Ok(fakedc_net::client::read_response(s, false, 1 << 20).await?)
}

/// One repetition of `work`: (whether it counts, whether the connection
/// stays open); Err is a failure that drops the connection.
async fn once(s: &mut Box<dyn Io>, work: &Work) -> Result<(bool, bool)> {
    match work {
        Work::Fixed { request, expect } => {
            let r = exchange(s, request).await?;
            Ok((expect(r.status), !closes(&r)))
        }
        Work::Login { request, host } => {
            let r = exchange(s, request).await?;
            if r.status != 201 || closes(&r) {
                return Ok((false, !closes(&r)));
            }
            let (Some(token), Some(loc)) = (r.header("x-auth-token"), r.header("location")) else {
                return Ok((false, true));
            };
            let path = loc
                .split_once("://")
                .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
                .unwrap_or(loc);
            let del = format!(
                "DELETE {path} HTTP/1.1\r\nHost: {host}\r\nX-Auth-Token: {token}\r\nContent-Length: 0\r\n\r\n"
            );
            let r = exchange(s, del.as_bytes()).await?;
            Ok((r.status == 204, !closes(&r)))
        }
    }
}

fn closes(r: &fakedc_net::client::Response) -> bool {
    r.header("connection")
        .is_some_and(|c| c.eq_ignore_ascii_case("close"))
}

/// Runs `conns` connections repeating `work` back to back for `secs`;
/// returns (successful repetitions, failures, server CPU seconds).
fn measure(
    rt: &tokio::runtime::Runtime,
    t: &Arc<Target>,
    work: &Work,
    conns: usize,
    secs: f64,
) -> Result<(u64, u64, f64)> {
    let ok = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let cpu0 = server_cpu(t);
    let end = Instant::now() + Duration::from_secs_f64(secs);
    rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let (t, work, ok, bad) = (t.clone(), work.clone(), ok.clone(), bad.clone());
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
                    match once(s, &work).await {
                        Ok((counted, keep)) => {
                            if counted {
                                ok.fetch_add(1, Ordering::Relaxed);
                            } else {
                                bad.fetch_add(1, Ordering::Relaxed);
                            }
                            if !keep {
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
    let cpu = (server_cpu(t) - cpu0).max(0.0);
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

/// Starts `fakedc up SCENARIO --ephemeral --no-control` and returns its
/// pid and every Redfish endpoint it serves.
fn spawn_fakedc(
    procs: &mut Procs,
    bin: &std::path::Path,
    dir: &std::path::Path,
    label: &str,
    scenario: &str,
) -> Result<(u32, Vec<SocketAddr>)> {
    let toml = dir.join(format!("{label}.toml"));
    let eps = dir.join(format!("{label}-endpoints.json"));
    std::fs::write(&toml, scenario)?;
    let mut child = Command::new(bin)
        .arg("up")
        .arg(&toml)
        .args(["--ephemeral", "--no-control", "--endpoints-file"])
        .arg(&eps)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))?;
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
    rx.recv_timeout(Duration::from_secs(300))
        .map_err(|_| anyhow!("fakedc ({label}) did not print its ready line"))?;
    let list: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(&eps)?)?;
    let mut addrs = Vec::new();
    for e in list
        .iter()
        .filter(|e| e["service"] == "redfish" && e["served"] == true)
    {
        addrs.push(SocketAddr::new(
            e["address"].as_str().unwrap_or_default().parse()?,
            e["port"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .context("port")?,
        ));
    }
    if addrs.is_empty() {
        bail!("no redfish endpoint in {}", eps.display());
    }
    Ok((pid, addrs))
}

fn start_fakedc(procs: &mut Procs, bin: &std::path::Path, dir: &std::path::Path) -> Result<Target> {
    let (pid, addrs) = spawn_fakedc(procs, bin, dir, "redfish", SCENARIO)?;
    Ok(Target {
        label: "fakedc",
        pid,
        addr: addrs[0],
        tls: true,
        sessions: true,
        system: "/redfish/v1/Systems/1".into(),
        threads: None,
    })
}

/// `count` bare BMCs with their default services (IPMI, SMASH and
/// Redfish on 443, SSH).
fn fleet_scenario(count: usize) -> String {
    use std::fmt::Write;
    let mut s = format!(
        "[scenario]\nname = \"bench-redfish-fleet\"\ndescription = \"{count} bare BMCs generated by benches/redfish.rs\"\ndomain = \"bench.test\"\n"
    );
    for i in 0..count {
        let _ = write!(
            s,
            "\n[[machine]]\nname = \"bmc{i:05}\"\nrole = \"bmc\"\naddress = \"127.95.{}.{}\"\n",
            i / 200,
            i % 200 + 1
        );
    }
    s
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Resident memory of fakedc with `count` BMCs: at ready, then after the
/// first `touch` BMCs each answered a `GET Systems/1` over its own fresh
/// TLS connection (8 at a time), which makes each one's TLS leaf and
/// per-BMC state.
fn fleet_memory(
    rt: &tokio::runtime::Runtime,
    procs: &mut Procs,
    bin: &std::path::Path,
    dir: &std::path::Path,
    count: usize,
    touch: usize,
) -> Result<(u64, u64, usize, f64)> {
    if let Err(e) = rlimit::increase_nofile_limit((count * 4 + 256) as u64) {
        println!("note: could not raise the open-file limit: {e}");
    }
    let t0 = Instant::now();
    let (pid, addrs) = spawn_fakedc(procs, bin, dir, "fleet", &fleet_scenario(count))?;
    let startup = t0.elapsed().as_secs_f64();
    if addrs.len() != count {
        bail!(
            "fakedc served {} Redfish endpoints, expected {count}",
            addrs.len()
        );
    }
    let at_ready = common::rss_kib(pid).unwrap_or(0);
    let targets: Vec<Arc<Target>> = addrs
        .iter()
        .take(touch)
        .map(|a| {
            Arc::new(Target {
                label: "fakedc",
                pid,
                addr: *a,
                tls: true,
                sessions: true,
                system: "/redfish/v1/Systems/1".into(),
                threads: None,
            })
        })
        .collect();
    let served = rt.block_on(async {
        let sem = Arc::new(tokio::sync::Semaphore::new(8));
        let mut tasks = Vec::new();
        for t in targets {
            let sem = sem.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = sem.acquire_owned().await.ok()?;
                let mut s = connect(&t).await.ok()?;
                let r = exchange(&mut s, &request(&t, "GET", &t.system, ""))
                    .await
                    .ok()?;
                (r.status == 200).then_some(())
            }));
        }
        let mut n = 0;
        for t in tasks {
            if let Ok(Some(())) = t.await {
                n += 1;
            }
        }
        n
    });
    let after = common::rss_kib(pid).unwrap_or(0);
    Ok((at_ready, after, served, startup))
}

fn start_sushy(rt: &tokio::runtime::Runtime, procs: &mut Procs) -> Result<Target> {
    let port = free_port()?;
    // HTTPS, as a BMC serves Redfish (DSP0266 requires it; fakedc's BMCs
    // have nothing else): a self-signed P-256 leaf, the key type fakedc's
    // leaves use, for werkzeug's TLS.
    let dir = std::env::temp_dir().join(format!("fakedc-bench-sushy-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("openssl is not installed (./scripts/test installs it)")?;
    if !made.success() {
        bail!("openssl could not make sushy-emulator's certificate");
    }
    let child = Command::new("sushy-emulator")
        .args(["--fake", "-i", "127.0.0.1", "-p", &port.to_string()])
        .arg("--ssl-certificate")
        .arg(&cert)
        .arg("--ssl-key")
        .arg(&key)
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
        tls: true,
        sessions: false,
        system: String::new(),
        threads: None,
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
    // werkzeug has read them; nothing is left behind.
    let _ = std::fs::remove_dir_all(&dir);
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
    /// A session login and logout on fakedc; the anchor's answer to the
    /// same POST on sushy-tools (it has no SessionService: 404).
    login: bool,
}

const LOGIN: &str = r#"{"UserName":"admin","Password":"password"}"#;

/// The floor's runtime threads.
const BARE_THREADS: &str = "bare-tls";

/// What the floor answers: fakedc's own answers, captured once.
struct Canned {
    system: bytes::Bytes,
    login: bytes::Bytes,
    token: String,
    location: String,
}

/// Captures fakedc's answers to GET Systems/1 and to a login (logged out
/// again), for the floor to repeat byte for byte.
fn capture(rt: &tokio::runtime::Runtime, t: &Target) -> Result<Canned> {
    rt.block_on(async {
        let mut s = connect(t).await?;
        let sys = exchange(&mut s, &request(t, "GET", &t.system, "")).await?;
        let path = "/redfish/v1/SessionService/Sessions";
        let login = exchange(&mut s, &request(t, "POST", path, LOGIN)).await?;
        let (Some(token), Some(location)) = (login.header("x-auth-token"), login.header("location"))
        else {
            bail!("fakedc's login answered {} without a token", login.status);
        };
        let (token, location) = (token.to_string(), location.to_string());
        let del = format!(
            "DELETE {location} HTTP/1.1\r\nHost: {}\r\nX-Auth-Token: {token}\r\nContent-Length: 0\r\n\r\n",
            t.addr
        );
        exchange(&mut s, del.as_bytes()).await?;
        Ok(Canned {
            system: sys.body.into(),
            login: login.body.into(),
            token,
            location,
        })
    })
}

/// The per-request floor: hyper (HTTP/1.1, as fakedc's front) over rustls
/// with the same provider and a leaf from fakedc's own CA code, on its own
/// 2-thread runtime (as fakedc's), answering with fakedc's captured bytes:
/// no authentication, routing, model or journal. What it costs is what any
/// Rust HTTPS server pays per request on this machine with this client;
/// fakedc cannot go below it.
fn start_bare(bare_rt: &tokio::runtime::Runtime, canned: Canned) -> Result<Target> {
    let ca = fakedc_net::tls::CertAuthority::generate().map_err(|e| anyhow!("{e}"))?;
    let cfg = ca
        .server_config("bare.bench.test", std::net::Ipv4Addr::LOCALHOST.into())
        .map_err(|e| anyhow!("{e}"))?;
    let listener = bare_rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let canned = Arc::new(canned);
    bare_rt.spawn(async move {
        let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            let (acceptor, canned) = (acceptor.clone(), canned.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let canned = canned.clone();
                        async move {
                            use http_body_util::BodyExt;
                            use hyper::header::HeaderValue;
                            let method = req.method().clone();
                            let login = req.uri().path().ends_with("/Sessions");
                            // Read the request body like a real server would.
                            let _ = req.into_body().collect().await;
                            let (status, body) = match method.as_str() {
                                "GET" => (hyper::StatusCode::OK, canned.system.clone()),
                                "POST" if login => {
                                    (hyper::StatusCode::CREATED, canned.login.clone())
                                }
                                _ => (hyper::StatusCode::NO_CONTENT, bytes::Bytes::new()),
                            };
                            let mut r = hyper::Response::new(http_body_util::Full::new(body));
                            *r.status_mut() = status;
                            let h = r.headers_mut();
                            h.insert(
                                "content-type",
                                HeaderValue::from_static("application/json;charset=utf-8"),
                            );
                            h.insert("odata-version", HeaderValue::from_static("4.0"));
                            if status == hyper::StatusCode::CREATED {
                                if let (Ok(t), Ok(l)) = (
                                    HeaderValue::from_str(&canned.token),
                                    HeaderValue::from_str(&canned.location),
                                ) {
                                    h.insert("x-auth-token", t);
                                    h.insert("location", l);
                                }
                            }
                            Ok::<_, std::convert::Infallible>(r)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    Ok(Target {
        label: "bare floor",
        pid: std::process::id(),
        addr,
        tls: true,
        sessions: true,
        system: "/redfish/v1/Systems/1".into(),
        threads: Some(BARE_THREADS),
    })
}

fn work(f: &Figure, t: &Target) -> Work {
    let request = Arc::new(request(t, f.method, &(f.path)(t), f.body));
    match (f.login, t.sessions) {
        (true, true) => Work::Login {
            request,
            host: t.addr.to_string(),
        },
        (true, false) => Work::Fixed {
            request,
            expect: |s| s == 404,
        },
        (false, _) => Work::Fixed {
            request,
            expect: |s| (200..300).contains(&s),
        },
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn run() -> Result<()> {
    let args = common::Args::from_env();
    let short = args.short();
    let secs: f64 = args
        .value("--seconds")?
        .unwrap_or(if short { 0.5 } else { 3.0 });
    let rounds: usize = args.value("--rounds")?.unwrap_or(if short { 1 } else { 3 });
    let bmcs: usize = args
        .value::<usize>("--bmcs")?
        .unwrap_or(1_000)
        .clamp(1, 4_000);
    let bin = std::path::PathBuf::from(
        args.text("--fakedc")
            .unwrap_or(env!("CARGO_BIN_EXE_fakedc")),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = std::env::temp_dir().join(format!("fakedc-bench-redfish-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut procs = Procs(Vec::new());
    let fakedc = start_fakedc(&mut procs, &bin, &dir)?;
    // The floor gets its own 2-thread runtime, like fakedc's, so it shares
    // no thread with the load generator.
    let bare_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(BARE_THREADS)
        .enable_all()
        .build()?;
    let bare = start_bare(&bare_rt, capture(&rt, &fakedc)?)?;
    let targets = [
        Arc::new(fakedc),
        Arc::new(start_sushy(&rt, &mut procs)?),
        Arc::new(bare),
    ];
    let sessions = |_: &Target| "/redfish/v1/SessionService/Sessions".to_string();
    let figures = [
        Figure {
            name: "GET Systems/{id}, 1 connection",
            conns: 1,
            path: |t| t.system.clone(),
            method: "GET",
            body: "",
            login: false,
        },
        Figure {
            name: "GET Systems/{id}, 8 connections",
            conns: 8,
            path: |t| t.system.clone(),
            method: "GET",
            body: "",
            login: false,
        },
        Figure {
            name: "session login+logout (sushy: POST Sessions answered 404), 1 connection",
            conns: 1,
            path: sessions,
            method: "POST",
            body: LOGIN,
            login: true,
        },
        Figure {
            name: "session login+logout (sushy: POST Sessions answered 404), 8 connections",
            conns: 8,
            path: sessions,
            method: "POST",
            body: LOGIN,
            login: true,
        },
        Figure {
            name: "POST ComputerSystem.Reset ForceRestart, 1 connection",
            conns: 1,
            path: |t| format!("{}/Actions/ComputerSystem.Reset", t.system),
            method: "POST",
            body: r#"{"ResetType":"ForceRestart"}"#,
            login: false,
        },
    ];
    println!(
        "Redfish: fakedc ({}; HTTPS, Basic) vs sushy-tools' emulator (--fake, HTTPS, no auth); best of {rounds} round(s) of {secs} s; load average {}",
        bin.display(),
        load()
    );
    let mut worst_ratio = f64::INFINITY;
    for f in &figures {
        let mut best: Vec<(f64, u64, f64)> = vec![(0.0, 0, 0.0); targets.len()];
        for _ in 0..rounds {
            for (i, t) in targets.iter().enumerate() {
                let (ok, bad, cpu) = measure(&rt, t, &work(f, t), f.conns, secs)?;
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
                "  {:<12} {:>9.0} /s  server CPU {:>8.1} us each  ({} failed)",
                t.label,
                rate,
                cpu * 1e6,
                bad
            );
        }
        let ratio = best[0].0 / best[1].0;
        worst_ratio = worst_ratio.min(ratio);
        println!(
            "  fakedc / sushy-tools: {ratio:.1}x   fakedc / bare floor: {:.2}x   floor / sushy-tools: {:.1}x (the most any server could show here)   (load average {})",
            best[0].0 / best[2].0,
            best[2].0 / best[1].0,
            load()
        );
    }
    println!(
        "target: at least 20x sushy-tools on every rate: {} (lowest {worst_ratio:.1}x)",
        if worst_ratio >= 20.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    let sushy_rss = common::rss_kib(targets[1].pid).unwrap_or(0);
    drop(procs);
    drop(bare_rt);
    let mut procs = Procs(Vec::new());
    let touch = if short { bmcs.min(100) } else { bmcs };
    let (ready, after, served, startup) = fleet_memory(&rt, &mut procs, &bin, &dir, bmcs, touch)?;
    drop(procs);
    if served != touch {
        bail!("only {served} of {touch} BMCs answered GET Systems/1");
    }
    println!(
        "memory, {bmcs} BMCs in one fakedc (ready in {startup:.1} s): {:.1} MB at ready, {:.1} MB after {served} of them answered GET Systems/1 on a fresh TLS connection; sushy-emulator: {:.1} MB for one emulator process (one per BMC: {:.0} MB for {bmcs})",
        mib(ready),
        mib(after),
        mib(sushy_rss),
        mib(sushy_rss) * bmcs as f64,
    );
    println!(
        "target: {bmcs} BMCs with Redfish under 100 MB: {}",
        if bmcs < 1_000 {
            "not measured (fewer than 1,000 BMCs)"
        } else if served == bmcs && mib(after) < 100.0 {
            "met"
        } else if served == bmcs {
            "NOT met"
        } else {
            "not measured with every BMC served (short mode); see the figure"
        }
    );
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
