//! `fakedc check`: probe every row of the port table with that protocol's
//! own probe and report a verdict per row. Works against a running fakedc
//! (its endpoint map) and against real hosts (`--host ADDR --role R`).
//!
//! A service without a protocol probe can at best be "open" (TCP or TLS
//! answered), never "verified": an open port is not a handshake.

use crate::datacenter::EndpointInfo;
use fakedc_model::table::{TableRow, ROWS, TABLES};
use fakedc_model::{Role, ServiceKind, Transport};
use fakedc_net::ProbeTarget;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// The verdict for one row and endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The protocol's own handshake completed.
    Verified,
    /// TCP (and TLS) answered, but fakedc has no protocol probe for this
    /// service yet; not counted as verified.
    Open,
    Refused,
    Timeout,
    WrongProtocol,
    TlsFailure,
    AuthFailure,
    /// This build of fakedc does not implement the service.
    NotServed,
    /// The row has no network port (the Storage Management Service's WMI).
    NoPort,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Verified => "verified",
            Verdict::Open => "open (no protocol probe)",
            Verdict::Refused => "refused",
            Verdict::Timeout => "timeout",
            Verdict::WrongProtocol => "wrong protocol",
            Verdict::TlsFailure => "TLS failure",
            Verdict::AuthFailure => "auth failure",
            Verdict::NotServed => "not served",
            Verdict::NoPort => "n/a",
        }
    }

    /// Whether the row counts against the exit code.
    pub fn ok(self) -> bool {
        matches!(self, Verdict::Verified | Verdict::NoPort)
    }
}

/// What a probe found.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub verdict: Verdict,
    pub detail: String,
}

impl ProbeResult {
    pub fn new(verdict: Verdict, detail: impl Into<String>) -> Self {
        ProbeResult {
            verdict,
            detail: detail.into(),
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct RowResult {
    pub table: &'static str,
    pub peer: &'static str,
    pub ports: &'static str,
    pub protocols: &'static str,
    pub machine: Option<String>,
    pub service: Option<ServiceKind>,
    pub address: Option<SocketAddr>,
    pub verdict: Verdict,
    pub latency_ms: f64,
    pub detail: String,
}

/// Probe settings.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub timeout: Duration,
    /// Credentials for every probe that can log in (IPMI RAKP, WinRM, SSH,
    /// BITS, SMASH); they win over `machine_credentials`.
    pub credentials: Option<(String, String)>,
    /// Credentials per machine name: what `check` takes from the scenario
    /// (see [`scenario_credentials`]) so that each row logs in as its own
    /// machine's administrator.
    pub machine_credentials: HashMap<String, (String, String)>,
    pub concurrency: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            timeout: Duration::from_secs(3),
            credentials: None,
            machine_credentials: HashMap::new(),
            concurrency: 64,
        }
    }
}

/// For each machine of a scenario, the account a probe logs in with: the
/// enabled, named user with the highest privilege (the first of equals), so a
/// BMC row logs in as its BMC administrator and a Windows row as its
/// Administrator, whatever each is called in the scenario.
pub fn scenario_credentials(s: &fakedc_scenario::Scenario) -> HashMap<String, (String, String)> {
    s.machines
        .iter()
        .zip(&s.users)
        .filter_map(|(m, users)| {
            let best = users
                .iter()
                .filter(|u| u.enabled && !u.name.is_empty())
                .fold(None::<&fakedc_model::User>, |best, u| match best {
                    Some(b) if b.privilege >= u.privilege => Some(b),
                    _ => Some(u),
                })?;
            Some((m.name.clone(), (best.name.clone(), best.password.clone())))
        })
        .collect()
}

/// Endpoints for a real host: the role's default services at `addr`.
pub fn host_endpoints(addr: std::net::IpAddr, role: Role, name: &str) -> Vec<EndpointInfo> {
    role.default_services()
        .iter()
        .map(|&s| EndpointInfo {
            machine: name.to_string(),
            role,
            service: s,
            protocol: s.protocol().to_string(),
            transport: s.transport(),
            address: addr,
            port: s.default_port(),
            tls: s.tls(),
            served: true,
        })
        .collect()
}

/// The heading of endpoints no table row covers: services a scenario
/// enables beyond the table (`bits-http`, `bmc-ssh`) and roles no row
/// targets. They are probed like the rest, so "enabled" is never
/// "unchecked".
pub const EXTRA_TABLE: &str = "Enabled by the scenario, not in the port table";

/// The pseudo-row of [`EXTRA_TABLE`] endpoints (its texts come from the
/// service itself).
const EXTRA_ROW: TableRow = TableRow {
    table: usize::MAX,
    peer: "",
    ports: "",
    protocols: "",
    change: "",
    target: None,
    services: &[],
};

/// Probes every row against `endpoints`, then every endpoint no row
/// covers; `progress(done, total)` is called as probes finish.
pub async fn run(
    endpoints: &[EndpointInfo],
    opts: &CheckOptions,
    progress: impl Fn(usize, usize) + Send + Sync + 'static,
) -> Vec<RowResult> {
    struct Job {
        row: &'static TableRow,
        ep: Option<EndpointInfo>,
    }
    let mut jobs = Vec::new();
    for row in ROWS {
        let Some(role) = row.target else {
            jobs.push(Job { row, ep: None });
            continue;
        };
        for ep in endpoints
            .iter()
            .filter(|e| e.role == role && row.services.contains(&e.service))
        {
            jobs.push(Job {
                row,
                ep: Some(ep.clone()),
            });
        }
    }
    for ep in endpoints {
        let covered = ROWS
            .iter()
            .any(|r| r.target == Some(ep.role) && r.services.contains(&ep.service));
        if !covered {
            jobs.push(Job {
                row: &EXTRA_ROW,
                ep: Some(ep.clone()),
            });
        }
    }
    let total = jobs.len();
    let progress = Arc::new(progress);
    let sem = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut handles = Vec::with_capacity(total);
    for job in jobs {
        let sem = sem.clone();
        let opts = opts.clone();
        let progress = progress.clone();
        let done = done.clone();
        handles.push(tokio::spawn(async move {
            let _permit = sem.acquire().await;
            #[allow(clippy::disallowed_methods)] // a client timing real answers
            let start = Instant::now();
            let (result, addr) = match &job.ep {
                None => (ProbeResult::new(Verdict::NoPort, "no network port"), None),
                Some(ep) if !ep.served => (
                    ProbeResult::new(
                        Verdict::NotServed,
                        format!("{} is not implemented in this build", ep.service),
                    ),
                    Some(SocketAddr::new(ep.address, ep.port)),
                ),
                Some(ep) => {
                    let addr = SocketAddr::new(ep.address, ep.port);
                    (probe(ep, addr, &opts).await, Some(addr))
                }
            };
            #[allow(clippy::disallowed_methods)]
            let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(n, total);
            let extra = job.ep.as_ref().filter(|_| job.row.table == usize::MAX);
            RowResult {
                table: TABLES.get(job.row.table).copied().unwrap_or(EXTRA_TABLE),
                peer: extra.map(|e| e.service.protocol()).unwrap_or(job.row.peer),
                ports: job.row.ports,
                protocols: extra
                    .map(|e| e.service.protocol())
                    .unwrap_or(job.row.protocols),
                machine: job.ep.as_ref().map(|e| e.machine.clone()),
                service: job.ep.as_ref().map(|e| e.service),
                address: addr,
                verdict: result.verdict,
                latency_ms: if job.ep.as_ref().is_some_and(|e| e.served) {
                    latency_ms
                } else {
                    0.0
                },
                detail: result.detail,
            }
        }));
    }
    let mut out = Vec::with_capacity(total);
    for h in handles {
        if let Ok(r) = h.await {
            out.push(r);
        }
    }
    out
}

impl From<fakedc_net::ProbeVerdict> for Verdict {
    fn from(v: fakedc_net::ProbeVerdict) -> Verdict {
        use fakedc_net::ProbeVerdict as P;
        match v {
            P::Verified => Verdict::Verified,
            P::Refused => Verdict::Refused,
            P::Timeout => Verdict::Timeout,
            P::WrongProtocol => Verdict::WrongProtocol,
            P::TlsFailure => Verdict::TlsFailure,
            P::AuthFailure => Verdict::AuthFailure,
        }
    }
}

/// The probes of every protocol mounted on the endpoint (from the
/// registry); a TCP/TLS probe where none is. With several protocols on one
/// port (an HTTP listener shared by path) each is probed and the first
/// failure is the row's verdict.
async fn probe(ep: &EndpointInfo, addr: SocketAddr, opts: &CheckOptions) -> ProbeResult {
    let credentials = opts
        .credentials
        .as_ref()
        .or_else(|| opts.machine_credentials.get(&ep.machine))
        .cloned();
    let protocols: Vec<_> = crate::protocols_on(ep.service).collect();
    if protocols.is_empty() {
        if ep.transport == Transport::Udp {
            return ProbeResult::new(Verdict::Open, "no probe for this UDP service");
        }
        return generic_probe(addr, ep.tls, opts.timeout).await;
    }
    let mut verdict = Verdict::Verified;
    let mut details = Vec::with_capacity(protocols.len());
    for p in &protocols {
        let r = p
            .probe(ProbeTarget {
                addr,
                service: ep.service,
                tls: ep.tls,
                credentials: credentials.clone(),
                timeout: opts.timeout,
            })
            .await;
        if verdict == Verdict::Verified {
            verdict = r.verdict.into();
        }
        details.push(if protocols.len() > 1 {
            format!("{}: {}", p.name(), r.detail)
        } else {
            r.detail
        });
    }
    ProbeResult::new(verdict, details.join("; "))
}

/// TCP connect, then a TLS handshake where the service uses TLS. At best
/// "open": it proves a listener, not a protocol.
pub async fn generic_probe(addr: SocketAddr, tls: bool, timeout: Duration) -> ProbeResult {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => {
            return ProbeResult::new(
                Verdict::Timeout,
                format!("no TCP answer within {timeout:?}"),
            )
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return ProbeResult::new(Verdict::Refused, "connection refused")
        }
        Ok(Err(e)) => return ProbeResult::new(Verdict::Refused, e.to_string()),
        Ok(Ok(s)) => s,
    };
    if !tls {
        return ProbeResult::new(Verdict::Open, "TCP connected");
    }
    match tokio::time::timeout(timeout, tls_handshake(stream, addr)).await {
        Err(_) => ProbeResult::new(Verdict::Timeout, "TLS handshake timed out"),
        Ok(Err(e)) => ProbeResult::new(Verdict::TlsFailure, e),
        Ok(Ok(detail)) => ProbeResult::new(Verdict::Open, detail),
    }
}

async fn tls_handshake(stream: TcpStream, addr: SocketAddr) -> Result<String, String> {
    let cfg = fakedc_net::tls::client_config(&fakedc_net::tls::Trust::AnyCertificate)
        .map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(cfg);
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let tls = connector
        .connect(name, stream)
        .await
        .map_err(|e| e.to_string())?;
    let (_, conn) = tls.get_ref();
    let version = conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    let subject = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| describe_cert(c.as_ref()))
        .unwrap_or_else(|| "no certificate".into());
    Ok(format!("{version}, {subject}"))
}

fn describe_cert(der: &[u8]) -> String {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => format!(
            "subject {}, expires {}",
            cert.subject(),
            cert.validity().not_after.to_datetime().date()
        ),
        Err(_) => "unparseable certificate".into(),
    }
}

/// Renders the report as a text table grouped like the seed's tables.
pub fn render(results: &[RowResult]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for title in TABLES.iter().chain([&EXTRA_TABLE]) {
        let rows: Vec<_> = results.iter().filter(|r| r.table == *title).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n== {title} ==");
        let _ = writeln!(
            out,
            "{:<44} {:<19} {:<11} {:<22} {:<24} {:>9}  DETAIL",
            "CONNECTION", "SERVICE", "MACHINE", "ADDRESS", "VERDICT", "LATENCY"
        );
        for r in rows {
            let _ = writeln!(
                out,
                "{:<44} {:<19} {:<11} {:<22} {:<24} {:>7.1}ms  {}",
                truncate(r.peer, 44),
                r.service.map(|s| s.name()).unwrap_or("-"),
                r.machine.as_deref().unwrap_or("-"),
                r.address
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| r.ports.to_string()),
                r.verdict.label(),
                r.latency_ms,
                r.detail
            );
        }
    }
    let mut counts: Vec<(Verdict, usize)> = Vec::new();
    for r in results {
        match counts.iter_mut().find(|(v, _)| *v == r.verdict) {
            Some((_, n)) => *n += 1,
            None => counts.push((r.verdict, 1)),
        }
    }
    let summary: Vec<String> = counts
        .iter()
        .map(|(v, n)| format!("{n} {}", v.label()))
        .collect();
    let _ = writeln!(out, "\n{} rows: {}", results.len(), summary.join(", "));
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
