//! fakedc's vSphere SDK side by side with govmomi's vcsim (Debian's
//! golang-github-vmware-govmomi-dev 0.24 behind `benches/vcsim/main.go`,
//! built offline into `target/vcsim/` on first run), in one run, driven by
//! one load generator (fakedc_vsphere's keep-alive HTTPS client: the same
//! envelopes, `SOAPAction` and session cookie for both):
//!
//! - `RetrieveServiceContent` per second over 1 connection and 8;
//! - `RetrievePropertiesEx` (name + runtime.powerState of every VM through
//!   a ContainerView, 8 VMs) per second over 1 and 8 logged-in sessions;
//! - the server's CPU time per request during each rate (utime + stime
//!   from `/proc/<pid>/stat`, so the load generator's share is not in it);
//! - start-up time (spawn to the first answered RetrieveServiceContent)
//!   and resident memory after one read of every VM's name and power
//!   state, for 1,000 and 10,000 VMs.
//!
//! Both run as separate processes (`fakedc up` with only the vsphere
//! protocol; a vCenter managing one ESXi host with N VMs, vcsim's VPX
//! model with one standalone host with N VMs).
//!
//! Run: `cargo bench --bench vsphere` (2 s per rate in 3 interleaved
//! rounds, medians) or `-- --short` (CI: 200 ms, 1 round, 100 and 1,000
//! VMs). Options: `--seconds S`; `--fakedc PATH` runs another build of
//! fakedc against the same vcsim (before/after comparisons). Targets
//! (issue 15): 3× vcsim's rates; 10,000 VMs ready in under 1 s and under
//! 150 MB. Printed, never asserted.
#![allow(clippy::disallowed_methods)] // tests and benchmarks time real peers on the real clock
#![allow(clippy::print_stdout)] // a benchmark prints its figures

mod common;
use common::{rss_kib, Args};

use anyhow::{bail, Context, Result};
use fakedc_vsphere::client::{envelope, first_text, login, retrieve_service_content, Client};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PARALLEL: usize = 8;
const RATE_VMS: usize = 8;

/// A server under test: its process, its SDK address and credentials.
struct Server {
    child: Child,
    addr: SocketAddr,
    user: &'static str,
    password: &'static str,
    _dir: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        if let Some(d) = &self._dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn vcsim_binary() -> Result<PathBuf> {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/vcsim");
    let exe = target.join("vcsim");
    if exe.exists() {
        return Ok(exe);
    }
    std::fs::create_dir_all(&target)?;
    println!("building vcsim from Debian's govmomi (once)...");
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&exe)
        .arg(".")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/vcsim"))
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", target.join("gocache"))
        .output()
        .context("go (apt-get install golang-go golang-github-vmware-govmomi-dev)")?;
    if !out.status.success() {
        bail!(
            "building vcsim failed (apt-get install golang-go golang-github-vmware-govmomi-dev):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(exe)
}

fn vcsim(vms: usize) -> Result<(Server, Instant)> {
    let exe = vcsim_binary()?;
    let t0 = Instant::now();
    let mut child = Command::new(exe)
        .args(["-listen", "127.0.0.1:0", "-vms", &vms.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("spawn vcsim")?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut url = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(u) = line.strip_prefix("ready ") {
            url = Some(u.to_string());
            break;
        }
    }
    let url = url.context("vcsim never printed ready")?;
    let host = url
        .split('@')
        .nth(1)
        .and_then(|h| h.split('/').next())
        .context("vcsim url")?;
    Ok((
        Server {
            child,
            addr: host.parse()?,
            user: "user",
            password: "pass",
            _dir: None,
        },
        t0,
    ))
}

fn fakedc(exe: &Path, vms: usize) -> Result<(Server, Instant)> {
    let dir =
        std::env::temp_dir().join(format!("fakedc-vsphere-bench-{}-{vms}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut sc = String::from(
        "[[machine]]\nname = \"vc01\"\nrole = \"vcenter\"\naddress = \"127.86.0.10\"\n\n[[machine]]\nname = \"esxi01\"\nrole = \"esxi-host\"\naddress = \"127.86.0.1\"\n",
    );
    for i in 0..vms {
        sc.push_str(&format!(
            "[[machine.vm]]\nname = \"vm{i:05}\"\nstate = \"{}\"\n",
            if i % 2 == 0 { "running" } else { "off" }
        ));
    }
    let file = dir.join("scenario.toml");
    std::fs::write(&file, sc)?;
    let eps = dir.join("endpoints.json");
    let t0 = Instant::now();
    let mut child = Command::new(exe)
        .arg("up")
        .arg(&file)
        .args([
            "--ephemeral",
            "--no-control",
            "--protocols",
            "vsphere",
            "--endpoints-file",
        ])
        .arg(&eps)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("spawn fakedc")?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut ready = false;
    for line in BufReader::new(stdout).lines() {
        if line?.starts_with("ready") {
            ready = true;
            break;
        }
    }
    if !ready {
        bail!("fakedc up never printed ready");
    }
    let list: serde_json::Value = serde_json::from_slice(&std::fs::read(&eps)?)?;
    let ep = list
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|e| e["machine"] == "vc01" && e["service"] == "vmware-web-services")
        })
        .context("vc01's SDK endpoint")?;
    let addr = SocketAddr::new(
        ep["address"].as_str().context("address")?.parse()?,
        ep["port"].as_u64().context("port")? as u16,
    );
    Ok((
        Server {
            child,
            addr,
            user: "administrator@vsphere.local",
            password: "VMware1!",
            _dir: Some(dir),
        },
        t0,
    ))
}

/// A logged-in client and the body of a RetrievePropertiesEx over a new
/// container view of every VM.
async fn session(s: &Server) -> Result<(Client, String)> {
    let mut c = Client::connect(s.addr, true).await?;
    let sc = c.post(retrieve_service_content()).await?;
    let sm = first_text(&sc.body, "sessionManager")
        .context("sessionManager")?
        .to_string();
    let vm = first_text(&sc.body, "viewManager")
        .context("viewManager")?
        .to_string();
    let root = first_text(&sc.body, "rootFolder")
        .context("rootFolder")?
        .to_string();
    let pc = first_text(&sc.body, "propertyCollector")
        .context("propertyCollector")?
        .to_string();
    let r = c.post(login(&sm, s.user, s.password)).await?;
    if r.status != 200 {
        bail!("login: HTTP {}: {}", r.status, r.body);
    }
    let r = c
        .post(envelope(&format!(
            "<CreateContainerView xmlns=\"urn:vim25\"><_this type=\"ViewManager\">{vm}</_this><container type=\"Folder\">{root}</container><type>VirtualMachine</type><recursive>true</recursive></CreateContainerView>"
        )))
        .await?;
    let view = first_text(&r.body, "returnval")
        .context("view")?
        .to_string();
    let body = envelope(&format!(
        "<RetrievePropertiesEx xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">{pc}</_this><specSet><propSet><type>VirtualMachine</type><pathSet>name</pathSet><pathSet>runtime.powerState</pathSet></propSet><objectSet><obj type=\"ContainerView\">{view}</obj><skip>true</skip><selectSet xsi:type=\"TraversalSpec\"><name>v</name><type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet></specSet><options></options></RetrievePropertiesEx>"
    ));
    Ok((c, body))
}

/// Calls per second of `what` over `conns` connections.
async fn rate(
    s: &Server,
    what: &'static str,
    conns: usize,
    d: Duration,
    vms: usize,
) -> Result<(f64, f64)> {
    let done = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for _ in 0..conns {
        clients.push(session(s).await?);
    }
    let cpu0 = cpu_time(s.child.id());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (mut c, props) in clients {
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            while start.elapsed() < d {
                let body = if what == "rsc" {
                    retrieve_service_content()
                } else {
                    props.clone()
                };
                let r = c.post(body).await?;
                let ok = if what == "rsc" {
                    r.body.contains("<rootFolder")
                } else {
                    r.body.matches("runtime.powerState").count() == vms
                };
                if r.status != 200 || !ok {
                    bail!(
                        "unexpected answer: HTTP {}: {}",
                        r.status,
                        &r.body[..r.body.len().min(400)]
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
    let n = done.load(Ordering::Relaxed) as f64;
    let per_s = n / start.elapsed().as_secs_f64();
    let cpu = match (cpu0, cpu_time(s.child.id())) {
        (Some(a), Some(b)) if n > 0.0 => b.saturating_sub(a).as_secs_f64() * 1e6 / n,
        _ => f64::NAN,
    };
    Ok((per_s, cpu))
}

/// A process's user + system CPU time so far (`/proc/<pid>/stat` fields
/// 14 and 15, in clock ticks of 1/100 s on Linux).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields start after its ')'.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Start-up (spawn to the first RetrieveServiceContent answered) and RSS
/// after one read of every VM.
async fn startup(s: &Server, t0: Instant, vms: usize) -> Result<(Duration, u64)> {
    let mut c = loop {
        match Client::connect(s.addr, true).await {
            Ok(c) => break c,
            Err(_) if t0.elapsed() < Duration::from_secs(120) => {
                tokio::time::sleep(Duration::from_millis(5)).await
            }
            Err(e) => bail!("{e}"),
        }
    };
    let r = c.post(retrieve_service_content()).await?;
    let up = t0.elapsed();
    if !r.body.contains("<rootFolder") {
        bail!("no service content");
    }
    let (mut c, body) = session(s).await?;
    let r = c.post(body).await?;
    let n = r.body.matches("runtime.powerState").count();
    if n != vms {
        bail!("read {n} VMs of {vms}");
    }
    Ok((up, rss_kib(s.child.id()).unwrap_or(0)))
}

async fn run(args: &Args) -> Result<()> {
    let short = args.short();
    let secs: f64 = args
        .value("--seconds")?
        .unwrap_or(if short { 0.2 } else { 2.0 });
    let d = Duration::from_secs_f64(secs);
    let rounds = if short { 1 } else { 3 };
    // `--fakedc PATH`: another build of fakedc (a before/after comparison
    // against the same vcsim in one sitting).
    let exe = PathBuf::from(
        args.text("--fakedc")
            .unwrap_or(env!("CARGO_BIN_EXE_fakedc")),
    );
    let (f, _) = fakedc(&exe, RATE_VMS)?;
    let (v, _) = vcsim(RATE_VMS)?;
    println!("vSphere SDK: fakedc (vCenter over 1 ESXi host) vs vcsim 0.24 (VPX, 1 host), {RATE_VMS} VMs, {secs} s per figure, {rounds} round(s), medians");
    println!("fakedc: {}", exe.display());
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    println!("load average before: {}", load());
    println!(
        "{:<44} {:>12} {:>12} {:>8}",
        "figure", "fakedc", "vcsim", "ratio"
    );
    for (what, label) in [
        ("rsc", "RetrieveServiceContent/s"),
        ("props", "RetrievePropertiesEx (view, 2 props)/s"),
    ] {
        for conns in [1, PARALLEL] {
            let (mut a, mut b, mut ca, mut cb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                let (r, c) = rate(&f, what, conns, d, RATE_VMS).await?;
                a.push(r);
                ca.push(c);
                let (r, c) = rate(&v, what, conns, d, RATE_VMS).await?;
                b.push(r);
                cb.push(c);
            }
            let (a, b) = (median(a), median(b));
            println!(
                "{:<44} {:>12.0} {:>12.0} {:>7.1}x",
                format!("{label}, {conns} conn"),
                a,
                b,
                a / b
            );
            let (ca, cb) = (median(ca), median(cb));
            println!(
                "{:<44} {:>12} {:>12} {:>7.1}x",
                "  server CPU per request",
                format!("{ca:.0} us"),
                format!("{cb:.0} us"),
                cb / ca
            );
        }
    }
    drop(f);
    drop(v);
    let sizes: &[usize] = if short { &[100, 1000] } else { &[1000, 10_000] };
    for &n in sizes {
        let (f, t0) = fakedc(&exe, n)?;
        let (fu, fr) = startup(&f, t0, n).await?;
        drop(f);
        let (v, t0) = vcsim(n)?;
        let (vu, vr) = startup(&v, t0, n).await?;
        drop(v);
        println!(
            "{:<44} {:>12} {:>12}",
            format!("{n} VMs: ready after"),
            format!("{:.0} ms", fu.as_secs_f64() * 1000.0),
            format!("{:.0} ms", vu.as_secs_f64() * 1000.0)
        );
        println!(
            "{:<44} {:>12} {:>12}",
            format!("{n} VMs: RSS after reading every VM"),
            format!("{:.1} MB", fr as f64 / 1024.0),
            format!("{:.1} MB", vr as f64 / 1024.0)
        );
    }
    println!("load average after: {}", load());
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::from_env();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vsphere bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
