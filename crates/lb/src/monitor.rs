//! Health monitors: every member with a monitor is probed on the
//! monitor's interval (model-clock time, so `advance` hurries them), from
//! the LB's own address: `tcp` connects, `http`/`https` send the monitor's
//! send string and look for its receive string (a substring; BIG-IP takes a
//! regular expression) in what comes back. A member is `up` after a
//! successful probe and `down` once no probe has succeeded for the
//! monitor's timeout, as on BIG-IP; with several monitors all must pass.

use crate::rest::{MemberDef, MonitorDef};
use crate::service::Lb;
use fakedc_model::ServiceKind;
use fakedc_net::NetHandle;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How often the scheduler looks for due probes (real time).
const TICK: Duration = Duration::from_millis(100);
/// Longest a single probe may take (real time), whatever the timeout.
const PROBE_CAP: Duration = Duration::from_secs(3);
/// Most bytes of a monitor's answer read.
const MAX_ANSWER: usize = 64 * 1024;

/// Starts the scheduler of one load balancer; it ends at shutdown.
pub fn spawn(lb: Arc<Lb>, net: NetHandle) {
    let stop = net.shutdown_token();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    lb.flush();
                    return;
                }
                _ = tokio::time::sleep(TICK) => {}
            }
            tick(&lb, &net);
        }
    });
}

fn tick(lb: &Arc<Lb>, net: &NetHandle) {
    let plan: Vec<(String, MemberDef)> = match lb.api.lock() {
        Ok(api) => api
            .pools()
            .into_iter()
            .flat_map(|p| {
                api.pool_members(&p)
                    .into_iter()
                    .map(move |m| (p.clone(), m))
            })
            .collect(),
        Err(_) => return,
    };
    let now = lb.model.clock.now();
    let Ok(mut rt) = lb.rt.lock() else { return };
    rt.members
        .retain(|(p, m), _| plan.iter().any(|(pp, mm)| pp == p && &mm.full == m));
    for (pool, m) in plan {
        let e = rt
            .members
            .entry((pool.clone(), m.full.clone()))
            .or_default();
        if m.monitors.is_empty() {
            e.status.monitored = false;
            e.status.up = None;
            continue;
        }
        e.status.monitored = true;
        if e.in_flight || e.next_due.is_some_and(|d| now < d) {
            continue;
        }
        let interval = m.monitors.iter().map(|x| x.interval_s).min().unwrap_or(5);
        e.in_flight = true;
        e.next_due = Some(now + Duration::from_secs(interval));
        e.first_probe.get_or_insert(now);
        let (lb, net) = (lb.clone(), net.clone());
        tokio::spawn(async move {
            let mut ok = true;
            for mon in &m.monitors {
                if !probe(&lb, &net, mon, m.addr).await {
                    ok = false;
                    break;
                }
            }
            let timeout = m.monitors.iter().map(|x| x.timeout_s).max().unwrap_or(16);
            let now = lb.model.clock.now();
            let Ok(mut rt) = lb.rt.lock() else { return };
            let Some(e) = rt.members.get_mut(&(pool.clone(), m.full.clone())) else {
                return;
            };
            e.in_flight = false;
            let before = e.status.up;
            if ok {
                e.last_ok = Some(now);
                e.status.up = Some(true);
            } else {
                let since = e.last_ok.or(e.first_probe).unwrap_or(now);
                if now.saturating_duration_since(since) >= Duration::from_secs(timeout) {
                    e.status.up = Some(false);
                }
            }
            if before != e.status.up {
                let state = match e.status.up {
                    Some(true) => "up",
                    Some(false) => "down",
                    None => "checking",
                };
                drop(rt);
                lb.journal(
                    None,
                    &format!("monitor {pool} {}", m.full),
                    &format!("member is {state}"),
                    None,
                );
            }
        });
    }
}

/// One probe of one monitor against one member.
async fn probe(lb: &Lb, net: &NetHandle, mon: &MonitorDef, member: SocketAddr) -> bool {
    let target = match mon.destination.as_str() {
        "*:*" | "" => member,
        d => match d.strip_prefix("*:") {
            Some(p) => match p.parse::<u16>() {
                Ok(port) => SocketAddr::new(member.ip(), port),
                Err(_) => member,
            },
            None => crate::rest::parse_addr_port(d).unwrap_or(member),
        },
    };
    let target = net.resolve(target);
    let limit = Duration::from_secs(mon.timeout_s.max(1)).min(PROBE_CAP);
    let fut = async {
        let stream = net
            .connect_from(lb.machine, ServiceKind::LbHttp, target, limit)
            .await
            .ok()?;
        match mon.kind {
            "tcp" => Some(true),
            "http" => Some(exchange(stream, mon).await),
            _ => {
                let tls = tls_connect(stream).await?;
                Some(exchange(tls, mon).await)
            }
        }
    };
    matches!(tokio::time::timeout(limit, fut).await, Ok(Some(true)))
}

/// Sends the monitor's send string and checks the answer for its receive
/// string (any answer when it has none).
async fn exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    mon: &MonitorDef,
) -> bool {
    if let Some(send) = &mon.send {
        if s.write_all(send.as_bytes()).await.is_err() {
            return false;
        }
        let _ = s.flush().await;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                got.extend_from_slice(buf.get(..n).unwrap_or_default());
                if let Some(r) = &mon.recv {
                    if contains(&got, r.as_bytes()) {
                        return true;
                    }
                }
                if got.len() >= MAX_ANSWER {
                    break;
                }
            }
        }
    }
    match &mon.recv {
        Some(r) => contains(&got, r.as_bytes()),
        None => !got.is_empty(),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// A TLS client that accepts any certificate, as BIG-IP's https monitor
/// does (it checks the service, not its identity).
async fn tls_connect(
    stream: tokio::net::TcpStream,
) -> Option<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let cfg = fakedc_net::tls::client_config(&fakedc_net::tls::Trust::AnyCertificate).ok()?;
    let name = rustls::pki_types::ServerName::try_from("member.invalid").ok()?;
    tokio_rustls::TlsConnector::from(cfg)
        .connect(name, stream)
        .await
        .ok()
}
