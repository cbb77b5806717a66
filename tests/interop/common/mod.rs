//! Helpers shared by the integration tests: small test services, a tiny
//! HTTP client for the control API, and waiting with deadlines.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test helpers fail loudly

use fakedc_model::{Model, Record};
use fakedc_net::{
    BoxFuture, Conn, HttpRequest, HttpResponse, HttpService, TcpService, UdpEndpoint, UdpService,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A line echo service: greets with "HELLO <machine> <service>" and echoes
/// each line, journaling it.
pub struct Echo(pub Arc<Model>);

impl TcpService for Echo {
    fn serve(self: Arc<Self>, conn: Conn) -> BoxFuture<()> {
        Box::pin(async move {
            let info = conn.info.clone();
            let (r, mut w) = tokio::io::split(conn.io);
            if w.write_all(format!("HELLO {} {}\r\n", info.machine_name, info.service).as_bytes())
                .await
                .is_err()
            {
                return;
            }
            let mut lines = BufReader::new(r).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                self.0.journal.record(Record {
                    machine: info.machine_name.clone(),
                    service: info.service.name().into(),
                    peer: Some(info.peer),
                    operation: format!("echo {line}"),
                    outcome: "ok".into(),
                    ..Default::default()
                });
                if w.write_all(format!("{line}\r\n").as_bytes()).await.is_err() {
                    return;
                }
            }
        })
    }
}

/// Echoes datagrams.
pub struct UdpEcho;

impl UdpService for UdpEcho {
    fn run(self: Arc<Self>, ep: UdpEndpoint) -> BoxFuture<()> {
        Box::pin(async move {
            let mut buf = vec![0u8; 2048];
            while let Some((n, peer)) = ep.recv(&mut buf).await {
                ep.send_to(&buf[..n], peer).await;
            }
        })
    }
}

/// Answers with its own name and the path.
pub struct Hello(pub &'static str);

impl HttpService for Hello {
    fn call(&self, req: HttpRequest, _conn: Arc<fakedc_net::ConnInfo>) -> BoxFuture<HttpResponse> {
        let body = format!("{} {}", self.0, req.uri().path());
        Box::pin(async move { hyper::Response::new(fakedc_net::full(body)) })
    }
}

pub const SCENARIO: &str = r#"
[defaults]
boot_delay_ms = 400
shutdown_delay_ms = 200
cycle_interval_ms = 100

[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.77.0.1"
bmc = "bmc01"

[[machine]]
name = "bmc01"
role = "bmc"
address = "127.77.1.1"
[machine.services]
bmc-ssh = true

[[machine]]
name = "lb01"
role = "load-balancer"
address = "127.77.0.2"
"#;

/// Polls `f` until it returns true or the deadline passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Connects and reads the greeting line; Err describes what happened.
pub fn greet(addr: SocketAddr, timeout: Duration) -> Result<String, std::io::Error> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match s.read(&mut byte)? {
            0 => break,
            _ => {
                buf.push(byte[0]);
                if byte[0] == b'\n' {
                    break;
                }
            }
        }
    }
    Ok(String::from_utf8_lossy(&buf).trim_end().to_string())
}

/// A minimal HTTP/1.1 request; returns (status, body).
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect control API");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status: u16 = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A datacenter from scenario text with every built-in service, on
/// ephemeral ports: what the interop tests start.
pub fn start(scenario: &str) -> fakedc::Datacenter {
    fakedc::Datacenter::builder()
        .scenario_str(scenario)
        .ephemeral()
        .start()
        .expect("start")
}

/// Writes the scenario CA where clients can be told to trust it; `tag`
/// keeps parallel tests apart.
pub fn ca_file(dc: &fakedc::Datacenter, tag: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("fakedc-ca-{}-{tag}.pem", std::process::id()));
    std::fs::write(&p, dc.ca_pem()).expect("write CA");
    p
}

/// Runs `tests/python/NAME ARGS` and returns its stdout; fails the test,
/// showing both streams, when it exits non-zero. `module` (the real client
/// the script drives) is imported first, so a missing client fails with a
/// clear message rather than a skip: `./scripts/test` installs them.
pub fn python(module: &str, name: &str, args: &[&str]) -> String {
    let has = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has,
        "python3 cannot import {module}: the interop tests need it (./scripts/test installs it)"
    );
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name);
    let out = std::process::Command::new("python3")
        .arg(script)
        .args(args)
        .env_remove("REQUESTS_CA_BUNDLE")
        .env("NO_PROXY", "*")
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} {args:?} failed:\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The values after `key` on the script output lines that start with `key`
/// and a space.
pub fn lines<'a>(out: &'a str, key: &str) -> Vec<&'a str> {
    out.lines()
        .filter_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')))
        .map(str::trim)
        .collect()
}

/// The value of the first `key` line (see [`lines`]); fails the test when
/// there is none.
pub fn line<'a>(out: &'a str, key: &str) -> &'a str {
    lines(out, key)
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no {key} line in:\n{out}"))
}

/// A temporary directory, unique per process and call, removed on drop.
pub struct Temp(pub std::path::PathBuf);

impl Temp {
    pub fn new(name: &str) -> Temp {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("fakedc-test-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        Temp(p)
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
