//! fakedc's net.tcp WCF side by side with the same contract self-hosted by
//! Mono's WCF (`tests/mono/wcf_vmm.cs serve`, NetTcpBinding with
//! SecurityMode.None) on the same machine, in one run, driven by one load
//! generator (fakedc_wcf's net.tcp client on tokio: the same preamble,
//! binary envelopes and session for both):
//!
//! - `GetServerInfo` request/reply calls per second, security off, over 1
//!   connection and 8 in parallel, fakedc and Mono, and the ratio;
//! - the same over `application/negotiate` (NTLM, EncryptAndSign) against
//!   fakedc; Mono has no anchor there (its NetTcpBinding sends no upgrade
//!   request with Transport security, wcf.md §8), so it prints `n/a`;
//! - Mono's own WCF client (`wcf_vmm.exe bench`, one session) against
//!   each server. Measured here: Mono spends about 50 ms per call on one
//!   session, client and server alike (18–19 calls/s whichever server its
//!   client calls, and with fakedc's client against the Mono server), so
//!   the 1-connection ratio mostly measures that latency, and with Mono's
//!   client both servers look the same.
//!
//! Run: `cargo bench --bench wcf` (2 s per figure in 3 interleaved rounds,
//! medians) or `cargo bench --bench wcf -- --short` (CI: 200 ms, 1 round).
//! Options: `--seconds S`. Target (from the issue): at least 5× Mono.
//! Printed, never asserted: the program fails only when something is
//! broken (mcs/mono missing, a server that does not answer).
#![allow(clippy::disallowed_methods)] // tests and benchmarks time real peers on the real clock
#![allow(clippy::print_stdout)] // a benchmark prints its figures

mod common;

use anyhow::{bail, Context, Result};
use fakedc_wcf::client::{payload, Client};
use fakedc_wcf::contract::{MANAGEMENT, NS};
use fakedc_wcf::nbfx::Node;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SCENARIO: &str = r#"
[[machine]]
name = "vmm01"
role = "vmm-server"
address = "127.85.0.1"

[[machine]]
name = "vmm02"
role = "vmm-server"
address = "127.85.0.2"
[machine.options.wcf]
net_tcp_security = "none"
"#;
const PARALLEL: usize = 8;

/// Calls per second over `conns` sessions.
async fn rate(
    addr: SocketAddr,
    creds: Option<(String, String)>,
    conns: usize,
    d: Duration,
) -> Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let via = format!("net.tcp://{addr}{}", MANAGEMENT.path());
    let op = &MANAGEMENT.ops[0];
    let action = MANAGEMENT.action(op);
    let mut tasks = Vec::new();
    // Sessions are opened before the clock starts: the figure is calls.
    let mut clients = Vec::new();
    for _ in 0..conns {
        let c = Client::connect(
            addr,
            &via,
            creds.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
        )
        .await
        .with_context(|| format!("connect {via}"))?;
        clients.push(c);
    }
    let start = Instant::now();
    for mut c in clients {
        let done = done.clone();
        let action = action.clone();
        tasks.push(tokio::spawn(async move {
            while start.elapsed() < d {
                let env = c
                    .call(&action, Some(Node::new("", op.name).ns("", NS)))
                    .await?;
                match payload(&env) {
                    Some(p) if p.name == "GetServerInfoResponse" => {}
                    other => bail!("unexpected answer: {other:?}"),
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(c)
        }));
    }
    let mut open = Vec::new();
    for t in tasks {
        open.push(t.await??);
    }
    let elapsed = start.elapsed();
    // Sessions end outside the measured time.
    for c in open {
        let _ = c.close().await;
    }
    let n = done.load(Ordering::Relaxed);
    if n == 0 {
        bail!("no call completed");
    }
    Ok(n as f64 / elapsed.as_secs_f64())
}

/// How long past a round's end a server may go without finishing it.
const STALL: Duration = Duration::from_secs(30);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Mono's ServiceHost with the same contract, listening on a free port.
struct MonoServer {
    child: std::process::Child,
    addr: SocketAddr,
    exe: std::path::PathBuf,
    _dir: std::path::PathBuf,
}

impl Drop for MonoServer {
    fn drop(&mut self) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = stdin.write_all(b"\n");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

fn mono_server() -> Result<MonoServer> {
    let dir = std::env::temp_dir().join(format!("fakedc-wcf-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mono/wcf_vmm.cs");
    let exe = dir.join("wcf_vmm.exe");
    let out = Command::new("mcs")
        .args([
            "-optimize+",
            "-r:System.ServiceModel",
            "-r:System.Runtime.Serialization",
            &format!("-out:{}", exe.display()),
            src,
        ])
        .output()
        .context("mcs (apt-get install mono-mcs)")?;
    if !out.status.success() {
        bail!("mcs failed: {}", String::from_utf8_lossy(&out.stdout));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let mut child = Command::new("mono")
        .arg(&exe)
        .args(["serve", &format!("net.tcp://{addr}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("mono (apt-get install mono-runtime)")?;
    let stdout = child.stdout.take().context("mono stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    if line.trim() != "listening" {
        let _ = child.kill();
        bail!("the Mono server did not start: {line:?}");
    }
    Ok(MonoServer {
        child,
        addr,
        exe,
        _dir: dir,
    })
}

fn run() -> Result<()> {
    let args = common::Args::from_env();
    let short = args.short();
    let seconds = args
        .value::<f64>("--seconds")?
        .unwrap_or(if short { 0.2 } else { 2.0 });
    let rounds = if short { 1 } else { 3 };
    let d = Duration::from_secs_f64(seconds);

    let dc = fakedc::Datacenter::builder()
        .scenario_str(SCENARIO)
        .ephemeral()
        .protocols(&["wcf"])
        .start()?;
    let secure = dc
        .endpoint("vmm01", fakedc::ServiceKind::WcfTcp8100)
        .context("vmm01 8100")?;
    let open = dc
        .endpoint("vmm02", fakedc::ServiceKind::WcfTcp8100)
        .context("vmm02 8100")?;
    let m = dc.model().find("vmm01").context("vmm01")?;
    let pw = dc
        .model()
        .find_user(m.id, "Administrator")
        .context("administrator")?
        .password;
    let creds = Some(("Administrator".to_string(), pw));
    let mono = mono_server()?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // Warm-up: both servers answer (and Mono JIT-compiles its path).
    rt.block_on(rate(mono.addr, None, 1, Duration::from_millis(300)))?;
    rt.block_on(rate(open, None, 1, Duration::from_millis(100)))?;

    // Every round is bounded: fakedc not answering within STALL of its
    // end is a failure; the Mono server stalling (seen once in CI: eight
    // sessions open, no answer) only loses that anchor round, said so.
    let bounded = |addr: SocketAddr, creds: Option<(String, String)>, conns: usize| {
        rt.block_on(async { tokio::time::timeout(d + STALL, rate(addr, creds, conns, d)).await })
    };
    let mut stalls = 0;
    let mut rows: Vec<(String, Vec<f64>, Vec<f64>)> = Vec::new();
    for conns in [1, PARALLEL] {
        let (mut f, mut mo, mut neg) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            f.push(bounded(open, None, conns).context("fakedc stopped answering")??);
            match bounded(mono.addr, None, conns) {
                Ok(r) => mo.push(r?),
                Err(_) => {
                    stalls += 1;
                    println!("Mono server: no answer within {STALL:?} of a {conns}-connection round's end; round left out");
                }
            }
            neg.push(bounded(secure, creds.clone(), conns).context("fakedc stopped answering")??);
        }
        rows.push((format!("security None, {conns} conn"), f, mo));
        rows.push((
            format!("negotiate (NTLM sealed), {conns} conn"),
            neg,
            Vec::new(),
        ));
    }
    println!("net.tcp GetServerInfo calls/s ({seconds} s x {rounds} rounds, medians)");
    println!(
        "{:<36} {:>12} {:>12} {:>8}",
        "", "fakedc", "Mono WCF", "ratio"
    );
    for (name, f, mo) in rows {
        let f = median(f);
        if mo.is_empty() {
            let why = if name.starts_with("security None") && stalls > 0 {
                "stalled"
            } else {
                "n/a"
            };
            println!("{name:<36} {f:>12.0} {why:>12} {:>8}", "n/a");
        } else {
            let mo = median(mo);
            println!("{name:<36} {f:>12.0} {mo:>12.0} {:>7.1}x", f / mo);
        }
    }
    println!("target: fakedc at least 5x Mono (security None rows)");
    // The same calls from Mono's own WCF client, one session, to each
    // server: what a .NET-style client sees.
    let mono_client = |addr: SocketAddr| -> Result<f64> {
        // timeout(1) bounds the Mono client as STALL bounds the rounds.
        let out = Command::new("timeout")
            .arg(format!("{}", (seconds + STALL.as_secs_f64()).ceil()))
            .arg("mono")
            .arg(&mono.exe)
            .args(["bench", &format!("net.tcp://{addr}"), &seconds.to_string()])
            .output()
            .context("mono")?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("rate "))
            .and_then(|v| v.trim().parse().ok())
            .with_context(|| format!("no rate from the Mono client: {text}"))
    };
    let (f, mo) = (mono_client(open)?, mono_client(mono.addr)?);
    println!(
        "{:<36} {f:>12.0} {mo:>12.0} {:>7.1}x",
        "Mono client, None, 1 conn",
        f / mo
    );
    drop(mono);
    dc.shutdown();
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wcf benchmark failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
