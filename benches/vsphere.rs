//! fakedc's vSphere SDK side by side with govmomi's vcsim (Debian's
//! golang-github-vmware-govmomi-dev 0.24 behind `benches/vcsim/main.go`,
//! built offline into `target/vcsim/` on first run), in one run, driven by
//! one load generator for both: [`Raw`], a keep-alive HTTPS client as
//! light as wrk (one blocking thread per connection, the request bytes
//! serialized once with the session cookie, the response head read, the
//! body taken by Content-Length or chunks and checked only for its status
//! and a marker, so a fault is never counted as an answer). Its own CPU
//! per request is printed too: on 2 cores it shares the machine with the
//! server and its cost compresses the ratio.
//!
//! - the SDK's own CPU per call, in this process (decode, dispatch and the
//!   answer's XML of this build, no HTTP, TLS, runtime or kernel): what of
//!   a request's server CPU is vSphere code rather than the shared front;
//! - `RetrieveServiceContent` per second over 1 connection and 8;
//! - `RetrievePropertiesEx` (name + runtime.powerState of every VM through
//!   a ContainerView, 8 VMs) per second over 1 and 8 logged-in sessions;
//! - the server's CPU time per request during each rate (utime + stime
//!   from `/proc/<pid>/stat`, so the load generator's share is not in it),
//!   and the load generator's (its threads' `/proc/thread-self/schedstat`);
//! - the replay floor beside each rate: fakedc's own answers, recorded
//!   at start, served by a child process that does nothing but TLS and a
//!   lookup (`floor_server`) to the same load generator, so the round
//!   trip that is not fakedc's work (client, TLS, loopback, wake-ups) is
//!   printed. The floor's thread sleeps between requests; fakedc's
//!   connection threads wait briefly for the next one first, so on one
//!   connection fakedc can go under it (`FAKEDC_SPIN_US=0` to compare);
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
//! VMs). Options: `--seconds S`, `--rounds N`; `--fakedc PATH` runs another build of
//! fakedc against the same vcsim (before/after comparisons); `--only rsc` or
//! `--only props` runs that rate alone, without the start-up figures (to
//! profile one call's path: `perf record -p` on the fakedc it spawns). Targets
//! (issue 15): 3× vcsim's rates; 10,000 VMs ready in under 1 s and under
//! 150 MB. Printed, never asserted.
#![allow(clippy::disallowed_methods)] // tests and benchmarks time real peers on the real clock
#![allow(clippy::print_stdout)] // a benchmark prints its figures

mod common;
use common::{cpu_time, rss_kib, Args};

use anyhow::{bail, ensure, Context, Result};
use fakedc_net::tls::{client_config, Trust};
use fakedc_vsphere::client::{envelope, first_text, login, retrieve_service_content};
use rustls::pki_types::ServerName;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Starts `cmd` and reads its standard output up to the line `ready X`
/// (vcsim's and the replay floor's sign that they listen); returns the
/// child and X. A child that ends without it is reaped.
fn spawn_ready(cmd: &mut Command, what: &str) -> Result<(Child, String)> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("spawn {what}"))?;
    let stdout = child.stdout.take().context("stdout")?;
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(|l| l.ok())
        .find_map(|l| l.strip_prefix("ready ").map(str::to_string));
    match ready {
        Some(x) => Ok((child, x)),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} never printed ready")
        }
    }
}

fn vcsim(vms: usize) -> Result<(Server, Instant)> {
    let exe = vcsim_binary()?;
    let t0 = Instant::now();
    let (child, url) = spawn_ready(
        Command::new(exe).args(["-listen", "127.0.0.1:0", "-vms", &vms.to_string()]),
        "vcsim",
    )?;
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

/// A vCenter managing one ESXi host with `vms` VMs, half of them running.
fn scenario(vms: usize) -> String {
    let mut sc = String::from(
        "[[machine]]\nname = \"vc01\"\nrole = \"vcenter\"\naddress = \"127.86.0.10\"\n\n[[machine]]\nname = \"esxi01\"\nrole = \"esxi-host\"\naddress = \"127.86.0.1\"\n",
    );
    for i in 0..vms {
        sc.push_str(&format!(
            "[[machine.vm]]\nname = \"vm{i:05}\"\nstate = \"{}\"\n",
            if i % 2 == 0 { "running" } else { "off" }
        ));
    }
    sc
}

fn fakedc(exe: &Path, vms: usize) -> Result<(Server, Instant)> {
    let dir =
        std::env::temp_dir().join(format!("fakedc-vsphere-bench-{}-{vms}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("scenario.toml");
    std::fs::write(&file, scenario(vms))?;
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

/// The load generator's client: one keep-alive TLS connection read and
/// written with blocking calls. It parses only what a benchmark must: the
/// status, the body's framing (Content-Length or chunked) and, at login,
/// the session cookie; the body is handed back as bytes for a marker check.
struct Raw {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    /// Bytes read and not yet consumed: `buf[..filled]`.
    buf: Vec<u8>,
    filled: usize,
    /// A chunked body put together.
    chunks: Vec<u8>,
    cookie: Option<String>,
}

/// Response heads and bodies larger than this are an error, not a figure.
const MAX_RESPONSE: usize = 64 << 20;

impl Raw {
    fn connect(addr: SocketAddr) -> Result<Raw> {
        let tcp = TcpStream::connect(addr)?;
        tcp.set_nodelay(true)?;
        let cfg = client_config(&Trust::AnyCertificate)?;
        let conn = rustls::ClientConnection::new(cfg, ServerName::IpAddress(addr.ip().into()))?;
        Ok(Raw {
            tls: rustls::StreamOwned::new(conn, tcp),
            buf: vec![0; 64 * 1024],
            filled: 0,
            chunks: Vec::new(),
            cookie: None,
        })
    }

    /// The bytes of one POST to `/sdk` as pyvmomi sends it (with the
    /// session cookie once there is one).
    fn request(&self, body: &str) -> Vec<u8> {
        let mut r = format!(
            "POST /sdk HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: \"urn:vim25/{}\"\r\nContent-Length: {}\r\n",
            fakedc_vsphere::API_VERSION,
            body.len()
        );
        if let Some(c) = &self.cookie {
            r.push_str(&format!("Cookie: vmware_soap_session=\"{c}\"\r\n"));
        }
        r.push_str("\r\n");
        r.push_str(body);
        r.into_bytes()
    }

    /// Reads more bytes into the buffer (growing it when full).
    fn fill(&mut self) -> Result<()> {
        if self.filled == self.buf.len() {
            ensure!(
                self.buf.len() < MAX_RESPONSE,
                "response over {MAX_RESPONSE} bytes"
            );
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = self.tls.read(&mut self.buf[self.filled..])?;
        ensure!(n > 0, "the server closed the connection");
        self.filled += n;
        Ok(())
    }

    /// Makes sure `buf[..n]` is read.
    fn need(&mut self, n: usize) -> Result<()> {
        ensure!(n <= MAX_RESPONSE, "response over {MAX_RESPONSE} bytes");
        while self.filled < n {
            self.fill()?;
        }
        Ok(())
    }

    /// The offset just past the next CRLF at or after `from`.
    fn line_end(&mut self, from: usize) -> Result<usize> {
        let mut at = from;
        loop {
            if let Some(i) = self.buf[at..self.filled]
                .windows(2)
                .position(|w| w == b"\r\n")
            {
                return Ok(at + i + 2);
            }
            at = self.filled.saturating_sub(1).max(from);
            self.fill()?;
        }
    }

    /// Sends prepared request bytes and reads one response: its status and
    /// body (borrowed until the next call).
    fn call(&mut self, req: &[u8]) -> Result<(u16, &[u8])> {
        self.tls.write_all(req)?;
        // The head: up to the empty line.
        let mut head_end = 0;
        let mut at = 0;
        while head_end == 0 {
            if let Some(i) = self.buf[at..self.filled]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
            {
                head_end = at + i + 4;
            } else {
                at = self.filled.saturating_sub(3);
                self.fill()?;
            }
        }
        let head = &self.buf[..head_end];
        let status = head
            .get(9..12)
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse::<u16>().ok())
            .context("no HTTP status")?;
        let (mut length, mut chunked): (Option<usize>, bool) = (None, false);
        for line in head.split(|&b| b == b'\n').skip(1) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
            if name.eq_ignore_ascii_case(b"content-length") {
                length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = value.eq_ignore_ascii_case(b"chunked");
            } else if name.eq_ignore_ascii_case(b"set-cookie") {
                let v = String::from_utf8_lossy(value);
                if let Some(c) = v
                    .split(';')
                    .next()
                    .and_then(|kv| kv.split_once('='))
                    .filter(|(k, _)| k.trim() == "vmware_soap_session")
                {
                    self.cookie = Some(c.1.trim_matches('"').to_string());
                }
            }
        }
        let body_end;
        let chunked_body = if chunked {
            self.chunks.clear();
            let mut at = head_end;
            loop {
                let eol = self.line_end(at)?;
                let size = std::str::from_utf8(&self.buf[at..eol - 2])
                    .ok()
                    .and_then(|l| l.split(';').next())
                    .and_then(|h| usize::from_str_radix(h.trim(), 16).ok())
                    .context("bad chunk size")?;
                ensure!(
                    self.chunks.len() + size <= MAX_RESPONSE,
                    "response over {MAX_RESPONSE} bytes"
                );
                if size == 0 {
                    // No trailers: the last chunk's empty line.
                    self.need(eol + 2)?;
                    body_end = eol + 2;
                    break;
                }
                self.need(eol + size + 2)?;
                self.chunks.extend_from_slice(&self.buf[eol..eol + size]);
                at = eol + size + 2;
            }
            true
        } else {
            let n = length.context("neither Content-Length nor chunked")?;
            body_end = head_end + n;
            self.need(body_end)?;
            false
        };
        // Keep what follows (nothing, for a client that waits for each
        // answer) at the front for the next call.
        let rest = self.filled - body_end;
        let body = if chunked_body {
            self.buf.copy_within(body_end..self.filled, 0);
            self.filled = rest;
            &self.chunks[..]
        } else if rest == 0 {
            self.filled = 0;
            &self.buf[head_end..body_end]
        } else {
            // Rare: copy the body out before moving the rest.
            self.chunks.clear();
            self.chunks.extend_from_slice(&self.buf[head_end..body_end]);
            self.buf.copy_within(body_end..self.filled, 0);
            self.filled = rest;
            &self.chunks[..]
        };
        Ok((status, body))
    }

    /// One SOAP call with a body built now (set-up calls, not timed).
    fn post(&mut self, body: &str) -> Result<(u16, String)> {
        let req = self.request(body);
        let (status, body) = self.call(&req)?;
        Ok((status, String::from_utf8_lossy(body).into_owned()))
    }
}

/// CPU time of the calling thread in ns (`/proc/thread-self/schedstat`'s
/// first field): the load generator's cost, apart from the server's.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// What a logged-in client learned opening a container view of every VM.
struct Opened {
    /// RetrieveServiceContent's, Login's and CreateContainerView's answers.
    sc: String,
    login: String,
    view_xml: String,
    /// The body of a RetrievePropertiesEx (name + power state) over the view.
    props: String,
}

/// Logs `c` in and opens a container view of every VM over it: the calls
/// [`session`] makes before measuring, and [`record_answers`] records.
fn open_view(c: &mut Raw, s: &Server) -> Result<Opened> {
    let (_, sc) = c.post(&retrieve_service_content())?;
    let sm = first_text(&sc, "sessionManager").context("sessionManager")?;
    let vm = first_text(&sc, "viewManager").context("viewManager")?;
    let root = first_text(&sc, "rootFolder").context("rootFolder")?;
    let pc = first_text(&sc, "propertyCollector").context("propertyCollector")?;
    let (status, login) = c.post(&login(sm, s.user, s.password))?;
    if status != 200 || c.cookie.is_none() {
        bail!("login: HTTP {status}: {login}");
    }
    let (_, view_xml) = c.post(&envelope(&format!(
        "<CreateContainerView xmlns=\"urn:vim25\"><_this type=\"ViewManager\">{vm}</_this><container type=\"Folder\">{root}</container><type>VirtualMachine</type><recursive>true</recursive></CreateContainerView>"
    )))?;
    let view = first_text(&view_xml, "returnval").context("view")?;
    let props = envelope(&format!(
        "<RetrievePropertiesEx xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">{pc}</_this><specSet><propSet><type>VirtualMachine</type><pathSet>name</pathSet><pathSet>runtime.powerState</pathSet></propSet><objectSet><obj type=\"ContainerView\">{view}</obj><skip>true</skip><selectSet xsi:type=\"TraversalSpec\"><name>v</name><type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet></specSet><options></options></RetrievePropertiesEx>"
    ));
    Ok(Opened {
        sc,
        login,
        view_xml,
        props,
    })
}

/// A logged-in client and the request bytes of a RetrievePropertiesEx
/// over a new container view of every VM.
fn session(s: &Server) -> Result<(Raw, Vec<u8>)> {
    let mut c = Raw::connect(s.addr)?;
    let opened = open_view(&mut c, s)?;
    let req = c.request(&opened.props);
    Ok((c, req))
}

/// One figure: calls per second, server CPU and client CPU per call (µs).
struct Rate {
    per_s: f64,
    server_us: f64,
    client_us: f64,
}

/// Calls per second of `what` over `conns` connections, each its own
/// thread sending its prepared request as soon as the last answer is in.
fn rate(s: &Server, what: &'static str, conns: usize, d: Duration, vms: usize) -> Result<Rate> {
    let done = AtomicU64::new(0);
    let client_ns = AtomicU64::new(0);
    let mut clients = Vec::new();
    for _ in 0..conns {
        let (c, props) = session(s)?;
        let req = if what == "rsc" {
            c.request(&retrieve_service_content())
        } else {
            props
        };
        clients.push((c, req));
    }
    let (marker, count) = if what == "rsc" {
        ("<rootFolder", 1)
    } else {
        ("runtime.powerState", vms)
    };
    let cpu0 = cpu_time(s.child.id());
    let start = Instant::now();
    let deadline = start + d;
    std::thread::scope(|scope| {
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|(mut c, req)| {
                let (done, client_ns) = (&done, &client_ns);
                scope.spawn(move || -> Result<()> {
                    let t0 = thread_cpu_ns();
                    let mut n = 0;
                    while Instant::now() < deadline {
                        let (status, body) = c.call(&req)?;
                        // A marker, not a parse: every VM's power state,
                        // or the service content's root folder.
                        let seen = std::str::from_utf8(body)
                            .map(|b| b.matches(marker).count())
                            .unwrap_or(0);
                        if status != 200 || seen != count {
                            bail!(
                                "unexpected answer: HTTP {status}: {}",
                                String::from_utf8_lossy(&body[..body.len().min(400)])
                            );
                        }
                        n += 1;
                    }
                    client_ns.fetch_add(thread_cpu_ns().saturating_sub(t0), Ordering::Relaxed);
                    done.fetch_add(n, Ordering::Relaxed);
                    Ok(())
                })
            })
            .collect();
        tasks
            .into_iter()
            .try_for_each(|t| t.join().map_err(|_| anyhow::anyhow!("a client panicked"))?)
    })?;
    let n = done.load(Ordering::Relaxed) as f64;
    let per_s = n / start.elapsed().as_secs_f64();
    let server_us = match (cpu0, cpu_time(s.child.id())) {
        (Some(a), Some(b)) if n > 0.0 => b.saturating_sub(a).as_secs_f64() * 1e6 / n,
        _ => f64::NAN,
    };
    let client_us = client_ns.load(Ordering::Relaxed) as f64 / 1e3 / n;
    Ok(Rate {
        per_s,
        server_us,
        client_us,
    })
}

/// The SDK's own CPU per call, in this process (this build of
/// fakedc-vsphere, whatever `--fakedc` names): the request decoded, the
/// call dispatched and its XML written, without HTTP, TLS, the runtime or
/// the kernel, the part of a request's cost that is the SDK's. Returns
/// (RetrieveServiceContent, RetrievePropertiesEx) in µs of thread CPU.
fn in_process(vms: usize, d: Duration) -> Result<(f64, f64)> {
    use fakedc_vsphere::sdk::{Caller, Sdk};
    use fakedc_vsphere::soap::decode;
    let sc = fakedc_scenario::Scenario::parse(
        "bench.toml",
        &scenario(vms),
        &fakedc_scenario::ParseOptions::default(),
    )
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let model = std::sync::Arc::new(sc.model());
    let vc = model.find("vc01").context("vc01")?.id;
    let sdk = Sdk::new(model, vc, None, Default::default());
    let mut caller = Caller {
        cookie: None,
        ip: std::net::IpAddr::from([127, 0, 0, 1]),
        agent: "bench".into(),
    };
    let call = |body: &str, caller: &Caller| -> Result<fakedc_vsphere::sdk::Answer> {
        let req = decode(body.as_bytes()).map_err(|f| anyhow::anyhow!("{}", f.msg))?;
        let a = sdk.call_now(&req, caller).context("a waiting call")?;
        ensure!(a.fault.is_none(), "fault: {}", a.xml);
        Ok(a)
    };
    let rsc = retrieve_service_content();
    let sc = call(&rsc, &caller)?.xml;
    let sm = first_text(&sc, "sessionManager").context("sessionManager")?;
    let vm = first_text(&sc, "viewManager").context("viewManager")?;
    let root = first_text(&sc, "rootFolder").context("rootFolder")?;
    let pc = first_text(&sc, "propertyCollector").context("propertyCollector")?;
    caller.cookie = call(
        &login(sm, "administrator@vsphere.local", "VMware1!"),
        &caller,
    )?
    .set_cookie;
    let view = call(&envelope(&format!(
        "<CreateContainerView xmlns=\"urn:vim25\"><_this type=\"ViewManager\">{vm}</_this><container type=\"Folder\">{root}</container><type>VirtualMachine</type><recursive>true</recursive></CreateContainerView>"
    )), &caller)?.xml;
    let view = first_text(&view, "returnval").context("view")?;
    let props = envelope(&format!(
        "<RetrievePropertiesEx xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">{pc}</_this><specSet><propSet><type>VirtualMachine</type><pathSet>name</pathSet><pathSet>runtime.powerState</pathSet></propSet><objectSet><obj type=\"ContainerView\">{view}</obj><skip>true</skip><selectSet xsi:type=\"TraversalSpec\"><name>v</name><type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet></specSet><options></options></RetrievePropertiesEx>"
    ));
    let per_call = |body: &str, marker: &str, count: usize| -> Result<f64> {
        let (t0, start) = (thread_cpu_ns(), Instant::now());
        let mut n = 0u64;
        while start.elapsed() < d {
            let a = call(body, &caller)?;
            ensure!(a.xml.matches(marker).count() == count, "{}", a.xml);
            n += 1;
        }
        Ok(thread_cpu_ns().saturating_sub(t0) as f64 / 1e3 / n as f64)
    };
    Ok((
        per_call(&rsc, "<rootFolder", 1)?,
        per_call(&props, "runtime.powerState", vms)?,
    ))
}

/// The answers the replay floor gives, recorded from fakedc: each request
/// kind (the first of these markers its body holds) and the answer's
/// status line, extra head lines and body.
const FLOOR_KINDS: [&str; 4] = [
    "RetrieveServiceContent",
    "Login",
    "CreateContainerView",
    "RetrievePropertiesEx",
];

/// Records fakedc's answers to the calls [`session`] and [`rate`] make,
/// as files `<kind>.http` in `dir` (whole responses: head and body), for
/// the replay floor to serve.
fn record_answers(s: &Server, dir: &Path) -> Result<()> {
    let mut c = Raw::connect(s.addr)?;
    let Opened {
        sc,
        login: login_xml,
        view_xml,
        props,
    } = open_view(&mut c, s)?;
    let cookie = c.cookie.clone().context("no session cookie")?;
    let (_, props_xml) = c.post(&props)?;
    for (kind, body, extra) in [
        (FLOOR_KINDS[0], &sc, String::new()),
        (
            FLOOR_KINDS[1],
            &login_xml,
            format!("Set-Cookie: vmware_soap_session=\"{cookie}\"; Path=/; HttpOnly; Secure; \r\n"),
        ),
        (FLOOR_KINDS[2], &view_xml, String::new()),
        (FLOOR_KINDS[3], &props_xml, String::new()),
    ] {
        // fakedc's head, line for line (the date is fixed: a replay).
        let http = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nCache-Control: no-cache\r\n{extra}Content-Length: {}\r\nDate: Sun, 06 Dec 2026 00:00:00 GMT\r\n\r\n{body}",
            body.len()
        );
        std::fs::write(dir.join(format!("{kind}.http")), http)?;
    }
    Ok(())
}

/// The replay floor (`--floor DIR`, a child process of this benchmark):
/// one current-thread tokio runtime serving TLS on 127.0.0.1 with the
/// same rustls as fakedc, answering each request with the recorded
/// fakedc answer for its kind, whole, in one write. No HTTP library, no
/// SOAP, no SDK: the same client, bytes, TLS and loopback as fakedc and
/// none of fakedc's own work, on a thread that sleeps between requests
/// (fakedc's connection threads first wait briefly for the next one, see
/// `crates/net/src/threads.rs`). Prints `ready ADDR`.
fn floor_server(dir: &Path) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut answers = Vec::new();
    for kind in FLOOR_KINDS {
        answers.push((
            kind.as_bytes(),
            std::fs::read(dir.join(format!("{kind}.http")))?,
        ));
    }
    let answers = std::sync::Arc::new(answers);
    let ca = fakedc_net::tls::CertAuthority::generate()?;
    let cfg = ca.server_config("localhost", [127, 0, 0, 1].into())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("ready {}", l.local_addr()?);
        loop {
            let (tcp, _) = l.accept().await?;
            tcp.set_nodelay(true)?;
            let (cfg, answers) = (cfg.clone(), answers.clone());
            tokio::spawn(async move {
                let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 64 * 1024];
                let mut filled = 0;
                loop {
                    // One request: the head, then Content-Length bytes.
                    let end = loop {
                        if let Some(h) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..h]).to_ascii_lowercase();
                            let len: usize = head
                                .split("content-length:")
                                .nth(1)
                                .and_then(|v| v.lines().next())
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap_or(0);
                            if filled >= h + 4 + len {
                                break h + 4 + len;
                            }
                        }
                        if filled == buf.len() {
                            return;
                        }
                        match tls.read(&mut buf[filled..]).await {
                            Ok(n) if n > 0 => filled += n,
                            _ => return,
                        }
                    };
                    let req = &buf[..end];
                    let Some((_, answer)) = answers
                        .iter()
                        .find(|(k, _)| req.windows(k.len()).any(|w| w == *k))
                    else {
                        return;
                    };
                    if tls.write_all(answer).await.is_err() || tls.flush().await.is_err() {
                        return;
                    }
                    buf.copy_within(end..filled, 0);
                    filled -= end;
                }
            });
        }
        #[allow(unreachable_code)]
        Ok::<(), anyhow::Error>(())
    })
}

/// Starts the replay floor ([`floor_server`]) over answers recorded from
/// `f`.
fn floor(f: &Server) -> Result<Server> {
    let dir = std::env::temp_dir().join(format!("fakedc-vsphere-floor-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    record_answers(f, &dir)?;
    let (child, addr) = spawn_ready(
        Command::new(std::env::current_exe()?)
            .arg("--floor")
            .arg(&dir),
        "the replay floor",
    )?;
    Ok(Server {
        child,
        addr: addr.parse()?,
        user: f.user,
        password: f.password,
        _dir: Some(dir),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Start-up (spawn to the first RetrieveServiceContent answered) and RSS
/// after one read of every VM.
fn startup(s: &Server, t0: Instant, vms: usize) -> Result<(Duration, u64)> {
    let mut c = loop {
        match Raw::connect(s.addr) {
            Ok(c) => break c,
            Err(_) if t0.elapsed() < Duration::from_secs(120) => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => bail!("{e}"),
        }
    };
    let (_, r) = c.post(&retrieve_service_content())?;
    let up = t0.elapsed();
    if !r.contains("<rootFolder") {
        bail!("no service content");
    }
    let (mut c, req) = session(s)?;
    let (_, body) = c.call(&req)?;
    let n = String::from_utf8_lossy(body)
        .matches("runtime.powerState")
        .count();
    if n != vms {
        bail!("read {n} VMs of {vms}");
    }
    Ok((up, rss_kib(s.child.id()).unwrap_or(0)))
}

fn run(args: &Args) -> Result<()> {
    let short = args.short();
    let secs: f64 = args
        .value("--seconds")?
        .unwrap_or(if short { 0.2 } else { 2.0 });
    let d = Duration::from_secs_f64(secs);
    let rounds = args.value("--rounds")?.unwrap_or(if short { 1 } else { 3 });
    let only = args.text("--only");
    if only.is_some_and(|o| o != "rsc" && o != "props") {
        bail!("--only takes rsc or props");
    }
    // `--fakedc PATH`: another build of fakedc (a before/after comparison
    // against the same vcsim in one sitting).
    let exe = PathBuf::from(
        args.text("--fakedc")
            .unwrap_or(env!("CARGO_BIN_EXE_fakedc")),
    );
    let (f, _) = fakedc(&exe, RATE_VMS)?;
    let (v, _) = vcsim(RATE_VMS)?;
    let fl = floor(&f)?;
    println!("vSphere SDK: fakedc (vCenter over 1 ESXi host) vs vcsim 0.24 (VPX, 1 host), {RATE_VMS} VMs, {secs} s per figure, {rounds} round(s), medians");
    println!("fakedc: {} (pid {})", exe.display(), f.child.id());
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
    let (mut rsc, mut props) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (a, b) = in_process(RATE_VMS, d)?;
        rsc.push(a);
        props.push(b);
    }
    println!(
        "{:<44} {:>12}",
        "SDK in process, CPU per RetrieveServiceContent",
        format!("{:.1} us", median(rsc))
    );
    println!(
        "{:<44} {:>12}",
        "SDK in process, CPU per RetrievePropertiesEx",
        format!("{:.1} us", median(props))
    );
    for (what, label) in [
        ("rsc", "RetrieveServiceContent/s"),
        ("props", "RetrievePropertiesEx (view, 2 props)/s"),
    ] {
        if only.is_some_and(|o| o != what) {
            continue;
        }
        for conns in [1, PARALLEL] {
            let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                a.push(rate(&f, what, conns, d, RATE_VMS)?);
                b.push(rate(&v, what, conns, d, RATE_VMS)?);
                c.push(rate(&fl, what, conns, d, RATE_VMS)?);
            }
            let m = |v: &[Rate], f: fn(&Rate) -> f64| median(v.iter().map(f).collect());
            let (ra, rb) = (m(&a, |r| r.per_s), m(&b, |r| r.per_s));
            println!(
                "{:<44} {:>12.0} {:>12.0} {:>7.1}x",
                format!("{label}, {conns} conn"),
                ra,
                rb,
                ra / rb
            );
            let (ca, cb) = (m(&a, |r| r.server_us), m(&b, |r| r.server_us));
            println!(
                "{:<44} {:>12} {:>12} {:>7.1}x",
                "  server CPU per request",
                format!("{ca:.0} us"),
                format!("{cb:.0} us"),
                cb / ca
            );
            let (ca, cb) = (m(&a, |r| r.client_us), m(&b, |r| r.client_us));
            println!(
                "{:<44} {:>12} {:>12}",
                "  load generator CPU per request",
                format!("{ca:.1} us"),
                format!("{cb:.1} us"),
            );
            // fakedc's own answers replayed over the same TLS, without its
            // work (`floor_server`).
            let (rc, cc) = (m(&c, |r| r.per_s), m(&c, |r| r.server_us));
            println!(
                "{:<44} {:>12.0} {:>12} {:>7.1}x",
                "  replay floor (fakedc's answers, TLS only)/s",
                rc,
                "",
                rc / rb
            );
            let rtt = |rate: f64| format!("{:.0} us", 1e6 * conns as f64 / rate);
            println!(
                "{:<44} {:>12} {:>12}",
                "  round trip: fakedc, vcsim",
                rtt(ra),
                rtt(rb),
            );
            println!(
                "{:<44} {:>12} {:>12}",
                "  round trip: replay floor; 3x vcsim needs",
                rtt(rc),
                rtt(3.0 * rb),
            );
            println!(
                "{:<44} {:>12}",
                "  replay floor: server CPU per request",
                format!("{cc:.0} us"),
            );
        }
    }
    drop(fl);
    drop(f);
    drop(v);
    let sizes: &[usize] = match (only, short) {
        (Some(_), _) => &[],
        (None, true) => &[100, 1000],
        (None, false) => &[1000, 10_000],
    };
    for &n in sizes {
        let (f, t0) = fakedc(&exe, n)?;
        let (fu, fr) = startup(&f, t0, n)?;
        drop(f);
        let (v, t0) = vcsim(n)?;
        let (vu, vr) = startup(&v, t0, n)?;
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
    if let Some(dir) = args.text("--floor") {
        return match floor_server(Path::new(dir)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vsphere bench floor: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vsphere bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
