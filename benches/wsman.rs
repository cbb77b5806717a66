//! fakedc's WinRM side by side with a bare hyper server returning a fixed
//! body, in one run, driven by one load generator (fakedc_wsman's keep-alive
//! client on tokio) — the same code for both:
//!
//! 1. anonymous Identify requests per second (bare hyper: the same POST,
//!    answered with a fixed IdentifyResponse), 1 connection and 8 in
//!    parallel;
//! 2. authenticated Enumerate of Win32_OperatingSystem per second (Basic
//!    over HTTP with AllowUnencrypted; and NTLM-sealed over HTTP), 1 and 8
//!    connections; the bare server answers with the very bytes fakedc sends
//!    (captured once at start), so both move the same data;
//! 3. pywinrm `run_cmd` round trips per second (Create, Command, Receive,
//!    Signal, Delete each), over Basic, one session.
//!
//! Run: `cargo bench --bench wsman` (3 s per figure in 5 interleaved rounds,
//! medians reported, 200 run_cmd) or
//! `cargo bench --bench wsman -- --short` (CI: 200 ms per measurement,
//! 10 run_cmd). Options: `--seconds S`, `--runs N`, `--only K` (one
//! figure per connection count, for a profiler: 0 bare Identify, 1
//! Identify, 2 bare Enumerate, 3 Enumerate Basic, 4 NTLM-sealed; the
//! others then print as 0).
//!
//! Targets (issue 20): Enumerate with Basic at least 0.7x the bare hyper
//! rate on one connection and 0.6x on eight; NTLM-sealed 0.4x on eight.
//! Each server has its own 2-thread runtime and the load generator a third;
//! on a 2-core machine the 8-connection figures are CPU-bound, so they
//! compare total CPU per request (generator included), while the
//! 1-connection figures compare latency.
//! Each figure also prints the server's CPU time per request (its runtime's
//! threads, by name, from /proc: "fakedc" and "bare-hyper"), which does not
//! depend on how much CPU the load generator took, and the ratio of the two
//! (bare / fakedc, so 1.0 means as cheap as bare hyper).
//! Before the rates, the WS-Man code's own CPU per Enumerate in this
//! process (the envelope parsed, the engine's answer written, and for the
//! sealed figure MS-WSMV's unseal and seal with an NTLM session), without
//! HTTP, authentication, the journal, the runtime or the kernel: the part
//! of a request's server CPU that is this crate's rather than the shared
//! HTTP front's (`--only 5` runs only this, for a profiler).
//! Printed next to the results, never asserted: the program fails only when
//! something is broken (a server that does not answer, pywinrm missing).
#![allow(clippy::disallowed_methods)] // tests and benchmarks time real peers on the real clock

mod common;

use anyhow::{anyhow, bail, Context, Result};
use fakedc_wsman::client::{enumerate_body, identify_request, request, Auth, Client};
use fakedc_wsman::message::action;
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SCENARIO: &str = r#"
[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.81.0.1"
[machine.options.winrm]
allow_unencrypted = true
"#;
const OS: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem";
const CT: &str = "application/soap+xml;charset=UTF-8";
const PARALLEL: usize = 8;
/// Thread names of the two servers' runtimes (the Datacenter names its own).
const FAKEDC_THREADS: &str = "fakedc";
const BARE_THREADS: &str = "bare-hyper";

struct Settings {
    short: bool,
    /// Total time per figure, split over `rounds` interleaved rounds.
    measure: Duration,
    rounds: usize,
    runs: usize,
    /// `--only N`: measure only figure N of each connection count (0 bare
    /// Identify, 1 Identify, 2 bare Enumerate, 3 Enumerate Basic, 4
    /// NTLM-sealed; 5 the in-process figures alone), so a profiler sees
    /// one path alone.
    only: Option<usize>,
}

fn settings() -> Result<Settings> {
    let args = common::Args::from_env();
    let short = args.short();
    let seconds = args
        .value::<f64>("--seconds")?
        .unwrap_or(if short { 0.2 } else { 3.0 });
    let runs = args
        .value::<usize>("--runs")?
        .unwrap_or(if short { 10 } else { 200 });
    Ok(Settings {
        short,
        measure: Duration::from_secs_f64(seconds),
        rounds: if short { 1 } else { 5 },
        runs,
        only: args.value::<usize>("--only")?,
    })
}

/// A bare hyper server answering every request with the same body.
async fn bare_hyper(body: &'static str) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        // Read the request body like a real server would.
                        let _ = req.into_body().collect().await;
                        let mut r = hyper::Response::new(http_body_util::Full::new(
                            bytes::Bytes::from_static(body.as_bytes()),
                        ));
                        r.headers_mut().insert(
                            hyper::header::CONTENT_TYPE,
                            hyper::header::HeaderValue::from_static(CT),
                        );
                        Ok::<_, std::convert::Infallible>(r)
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(addr)
}

#[derive(Clone, Copy)]
enum Op {
    Identify,
    Enumerate,
}

/// Requests per second over `conns` keep-alive connections, and the CPU
/// time per request (µs) of the server's threads named `server`.
#[allow(clippy::too_many_arguments)]
async fn rate(
    server: &str,
    addr: SocketAddr,
    auth: Auth,
    encrypt: bool,
    op: Op,
    conns: usize,
    d: Duration,
) -> Result<(f64, f64)> {
    let done = Arc::new(AtomicU64::new(0));
    let cpu0 = common::threads_cpu(server);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let done = done.clone();
        let auth = auth.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr, None, Duration::from_secs(5)).await?;
            c.login(&auth).await?;
            c.encrypt = encrypt;
            let env = match op {
                Op::Identify => identify_request(),
                Op::Enumerate => request(action::ENUMERATE, OS, &[], &enumerate_body(10)),
            };
            while start.elapsed() < d {
                let (status, body) = match op {
                    Op::Identify => {
                        let r = c.post(&[], CT, env.as_bytes()).await?;
                        (r.status, r.text())
                    }
                    Op::Enumerate => c.soap(&env).await?,
                };
                if status != 200 || !body.contains("Response") {
                    bail!(
                        "unexpected answer: HTTP {status}: {}",
                        &body[..body.len().min(200)]
                    );
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let n = done.load(Ordering::Relaxed);
    if n == 0 {
        bail!("no request completed");
    }
    let cpu = common::threads_cpu(server).saturating_sub(cpu0);
    Ok((
        n as f64 / start.elapsed().as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / n as f64,
    ))
}

/// This thread's CPU time in ns (/proc's schedstat: nanoseconds, not the
/// clock ticks of `stat`, so a short loop still measures).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The WS-Man code's own CPU per Enumerate, in this process: the request
/// envelope parsed and the engine's answer written (µs of thread CPU), and
/// the same with MS-WSMV's unseal of the request and seal of the answer
/// through an NTLM session, as a sealed request does. No HTTP, no
/// authentication, no journal, no runtime: the part of a request's server
/// CPU that is fakedc-wsman's.
fn in_process(dc: &fakedc::Datacenter, d: Duration) -> Result<(f64, f64)> {
    use fakedc_wsman::engine::{Call, ShellConfig};
    use fakedc_wsman::message::parse_request;
    use fakedc_wsman::ntlm;
    use fakedc_wsman::provider::Ctx;
    use fakedc_wsman::service::{decrypt, encrypt, windows_providers};
    let model = dc.model();
    let machine = model.find("hv01").context("hv01")?.id;
    let engine = fakedc_wsman::Engine::new(windows_providers(model));
    let shell = ShellConfig::default();
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let env = request(action::ENUMERATE, OS, &[], &enumerate_body(10));
    let answer = |plain: &[u8]| -> Result<String> {
        let r = parse_request(plain).map_err(|f| anyhow!("fault {}", f.subcode))?;
        let call = Call {
            ctx: Ctx {
                model,
                machine,
                user: "Administrator",
                privilege: fakedc_model::Privilege::Admin,
                now: model.clock.now(),
            },
            machine_name: "hv01",
            shell: &shell,
            allow_unencrypted: true,
        };
        rt.block_on(engine.handle(&call, &r))
            .map_err(|f| anyhow!("fault {}", f.subcode))
    };
    let flags = 0xe288_8235 | ntlm::flags::N128;
    let (mut client, mut server) = (
        ntlm::Session::new([7; 16], flags, false),
        ntlm::Session::new([7; 16], flags, true),
    );
    let mut per_call = |sealed: bool| -> Result<f64> {
        let start = Instant::now();
        let (mut cpu, mut n) = (0u64, 0u64);
        while start.elapsed() < d {
            // The client's sealing is not the server's cost: a batch of
            // requests is sealed (in sequence order) before the clock runs.
            let batch: Vec<Vec<u8>> = (0..64)
                .map(|_| match sealed {
                    true => encrypt(&mut client, env.as_bytes()),
                    false => env.clone().into_bytes(),
                })
                .collect();
            let t0 = thread_cpu_ns();
            for body in &batch {
                let (xml, out) = if sealed {
                    let plain = decrypt(&mut server, body).map_err(|e| anyhow!(e))?;
                    let xml = answer(&plain)?;
                    let out = encrypt(&mut server, xml.as_bytes());
                    (xml, out)
                } else {
                    (answer(body)?, Vec::new())
                };
                if !xml.contains("<p:Win32_OperatingSystem ") || (sealed && out.len() < xml.len()) {
                    bail!("unexpected answer: {}", &xml[..xml.len().min(200)]);
                }
            }
            cpu += thread_cpu_ns().saturating_sub(t0);
            n += batch.len() as u64;
        }
        Ok(cpu as f64 / 1e3 / n as f64)
    };
    Ok((per_call(false)?, per_call(true)?))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn pywinrm_rate(endpoint: &str, runs: usize) -> Result<(f64, usize)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/winrm_bench.py");
    let out = Command::new("python3")
        .args([script, endpoint, &runs.to_string()])
        .output()
        .context("python3")?;
    if !out.status.success() {
        bail!(
            "pywinrm benchmark failed (pip install pywinrm): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let secs: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("ELAPSED "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow!("no ELAPSED line in {text}"))?;
    Ok((runs as f64 / secs, runs))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsman benchmark failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)]
fn run() -> Result<()> {
    let s = settings()?;
    let dc = fakedc::Datacenter::builder()
        .scenario_str(SCENARIO)
        .ephemeral()
        .start()
        .map_err(|e| anyhow!("start fakedc: {e}"))?;
    let fake = dc
        .endpoint("hv01", fakedc::ServiceKind::WinrmHttp)
        .ok_or_else(|| anyhow!("no WinRM endpoint"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let fixed: &'static str =
        Box::leak(fakedc_wsman::Engine::identify_anonymous().into_boxed_str());
    // The bare server gets its own 2-thread runtime, like the Datacenter,
    // so neither server shares threads with the load generator.
    let bare_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(BARE_THREADS)
        .enable_all()
        .build()?;
    let bare = bare_rt.block_on(bare_hyper(fixed))?;
    let basic = Auth::Basic {
        user: "Administrator".into(),
        password: "P@ssw0rd!".into(),
    };
    let ntlm = Auth::Ntlm {
        user: "Administrator".into(),
        password: "P@ssw0rd!".into(),
    };
    // The bare server for Enumerate returns the very bytes fakedc answers,
    // so both sides move (and the client reads) the same amount of data.
    let enum_body: &'static str = {
        let env = request(action::ENUMERATE, OS, &[], &enumerate_body(10));
        let body = rt.block_on(async {
            let mut c = Client::connect(fake, None, Duration::from_secs(5)).await?;
            c.login(&basic).await?;
            c.soap(&env).await
        })?;
        Box::leak(body.1.into_boxed_str())
    };
    let bare_enum = bare_rt.block_on(bare_hyper(enum_body))?;
    println!(
        "fakedc WinRM benchmark ({} mode, {:?} per figure in {} interleaved round(s), medians; keep-alive connections, loopback)\n",
        if s.short { "short" } else { "full" },
        s.measure,
        s.rounds
    );
    println!(
        "{:<46} {:>14} {:>14} {:>8} {:>14} {:>8}",
        "figure", "fakedc req/s", "bare hyper/s", "ratio", "CPU us/req f/b", "CPU b/f"
    );
    let (plain_us, sealed_us) = in_process(&dc, s.measure / 3)?;
    println!(
        "{:<46} {:>14}",
        "WS-Man in process, CPU per Enumerate",
        format!("{plain_us:.1} us")
    );
    println!(
        "{:<46} {:>14}",
        "  the same, unsealed and sealed (NTLM)",
        format!("{sealed_us:.1} us")
    );
    if s.only == Some(5) {
        return Ok(());
    }
    let mut enumerate_ratio = Vec::new();
    let mut sealed_ratio = 0.0;
    for conns in [1, PARALLEL] {
        // Interleaved rounds, medians: the five figures are measured close
        // together in time, so background load hits them alike.
        let mut rounds: [Vec<f64>; 5] = Default::default();
        let mut cpus: [Vec<f64>; 5] = Default::default();
        for _ in 0..s.rounds {
            let d = s.measure / s.rounds as u32;
            let figures = [
                (BARE_THREADS, bare, Auth::None, false, Op::Identify),
                (FAKEDC_THREADS, fake, Auth::None, false, Op::Identify),
                (BARE_THREADS, bare_enum, Auth::None, false, Op::Enumerate),
                (FAKEDC_THREADS, fake, basic.clone(), false, Op::Enumerate),
                (FAKEDC_THREADS, fake, ntlm.clone(), true, Op::Enumerate),
            ];
            for (k, (server, addr, auth, enc, op)) in figures.into_iter().enumerate() {
                if s.only.is_some_and(|o| o != k) {
                    continue;
                }
                let (r, cpu) = rt.block_on(rate(server, addr, auth, enc, op, conns, d))?;
                rounds[k].push(r);
                cpus[k].push(cpu);
            }
        }
        let [b, i, be, e, en] = rounds.map(median);
        let [cb, ci, cbe, ce, cen] = cpus.map(median);
        // /proc counts whole clock ticks: a short run can show none.
        let cpu_cols = |f: f64, b: f64| {
            format!(
                "{:>14} {:>8}",
                format!("{f:.1}/{b:.1}"),
                if f > 0.0 {
                    format!("{:.2}x", b / f)
                } else {
                    "-".into()
                }
            )
        };
        enumerate_ratio.push(e / be);
        sealed_ratio = en / be;
        println!(
            "{:<46} {:>14.0} {:>14.0} {:>7.2}x {}",
            format!("Identify, anonymous, {conns} conn"),
            i,
            b,
            i / b,
            cpu_cols(ci, cb)
        );
        println!(
            "{:<46} {:>14.0} {:>14.0} {:>7.2}x {}",
            format!("Enumerate Win32_OperatingSystem, Basic, {conns} conn"),
            e,
            be,
            e / be,
            cpu_cols(ce, cbe)
        );
        println!(
            "{:<46} {:>14.0} {:>14.0} {:>7.2}x {}",
            format!("Enumerate, NTLM-sealed, {conns} conn"),
            en,
            be,
            en / be,
            cpu_cols(cen, cbe)
        );
    }
    let endpoint = format!("http://{}:{}/wsman", fake.ip(), fake.port());
    let (runs_per_s, runs) = pywinrm_rate(&endpoint, s.runs)?;
    println!(
        "{:<46} {:>14.1}   ({runs} runs, one pywinrm session, Basic over HTTP)\n",
        "pywinrm run_cmd('hostname') round trips/s", runs_per_s
    );
    // Issue 20's targets: Basic >= 0.7x on one connection and >= 0.6x on
    // eight; NTLM-sealed >= 0.4x on eight.
    let targets = [
        ("Basic, 1 conn", enumerate_ratio[0], 0.7),
        ("Basic, 8 conn", enumerate_ratio[1], 0.6),
        ("NTLM-sealed, 8 conn", sealed_ratio, 0.4),
    ];
    for (what, r, want) in targets {
        // With --only a side may not have run: no ratio, no verdict.
        if !r.is_finite() || r == 0.0 {
            println!("target: Enumerate ({what}) >= {want:.2}x the bare hyper rate: not measured");
            continue;
        }
        println!(
            "target: Enumerate ({what}) >= {want:.2}x the bare hyper rate: {r:.2}x — {}",
            if r >= want { "met" } else { "NOT met" }
        );
    }
    drop(dc);
    Ok(())
}
