//! Virtual servers: each one's listener (bound at run time on the LB's
//! address) proxies every accepted TCP connection to one enabled, healthy
//! member of its pool, dialled from the LB's own address, round robin or
//! least connections; connection counts and bytes feed `stats` and the
//! journal.

use crate::rest::{MemberStatus, Status};
use crate::service::Lb;
use fakedc_model::{Record, ServiceKind};
use fakedc_net::{BoxFuture, Conn, TcpService};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long dialling one member may take before the next is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Members tried per client connection before it is refused.
const MAX_TRIES: usize = 4;
/// Copy buffer towards the member: HAProxy's `tune.bufsize` (16 KiB);
/// requests are small. Both buffers are allocated and zeroed for every
/// connection, so their size is paid by every short request.
const BUF_TO_MEMBER: usize = 16 * 1024;
/// Copy buffer towards the client: larger, as bulk downloads are what a
/// balancer moves (fewer read/write pairs per MiB). benches/lb.rs on the
/// shared machine cannot rank 16 against 64 KiB on MB/s (HAProxy's own
/// figure moved 500-870 MB/s between runs); its CPU per request can.
const BUF_TO_CLIENT: usize = 64 * 1024;
/// BIG-IP's `source_addr` persistence timeout.
const PERSIST_TIMEOUT: Duration = Duration::from_secs(180);
/// Persistence records kept; beyond this the table starts afresh.
const MAX_PERSIST: usize = 65_536;

/// A member's run-time record.
#[derive(Debug, Clone, Default)]
pub struct MemberRt {
    pub status: MemberStatus,
    /// Model-clock times of the health checks.
    pub last_ok: Option<Instant>,
    pub first_probe: Option<Instant>,
    pub next_due: Option<Instant>,
    pub in_flight: bool,
}

/// Run-time state of one load balancer (not configuration: lost at
/// restart, as on a real device).
#[derive(Debug, Default)]
pub struct Runtime {
    pub members: HashMap<(String, String), MemberRt>,
    /// Virtual server → (current, total, bytes in, bytes out).
    pub virtuals: HashMap<String, (u64, u64, u64, u64)>,
    /// Pool → round-robin cursor.
    pub cursor: HashMap<String, usize>,
    /// Source-address persistence: (virtual server, client address) →
    /// (member, when last used, model clock).
    pub persist: HashMap<(String, std::net::IpAddr), (String, Instant)>,
}

/// A copy of the counters an API answer shows.
#[derive(Debug, Default)]
pub struct Snapshot {
    members: HashMap<(String, String), MemberStatus>,
    virtuals: HashMap<String, (u64, u64, u64, u64)>,
}

impl Runtime {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            members: self
                .members
                .iter()
                .map(|(k, v)| (k.clone(), v.status))
                .collect(),
            virtuals: self.virtuals.clone(),
        }
    }
}

impl Status for Snapshot {
    fn member(&self, pool: &str, member: &str) -> MemberStatus {
        self.members
            .get(&(pool.to_string(), member.to_string()))
            .copied()
            .unwrap_or_default()
    }
    fn virtual_server(&self, full: &str) -> (u64, u64, u64, u64) {
        self.virtuals.get(full).copied().unwrap_or_default()
    }
}

/// What a virtual server balances over, as of one configuration
/// generation.
#[derive(Debug, Default)]
struct Plan {
    generation: u64,
    persist: bool,
    pool: Option<String>,
    mode: String,
    members: Vec<crate::rest::MemberDef>,
    /// A client-ssl profile: terminate TLS with the LB's certificate.
    client_ssl: bool,
    /// A server-ssl profile: TLS to the member, with this SNI if set.
    server_ssl: Option<Option<String>>,
    /// SNAT translation addresses; empty: the LB's own address.
    snat: Vec<std::net::IpAddr>,
}

/// One virtual server's listener.
pub struct VirtualServer {
    pub lb: Arc<Lb>,
    pub full: String,
    /// The pool and members, recomputed only when the configuration's
    /// generation moves (every accepted connection reads it).
    plan: std::sync::Mutex<Option<Arc<Plan>>>,
    /// Round-robin cursor over the SNAT pool's addresses.
    snat_next: std::sync::atomic::AtomicUsize,
}

impl VirtualServer {
    pub fn new(lb: Arc<Lb>, full: String) -> VirtualServer {
        VirtualServer {
            lb,
            full,
            plan: std::sync::Mutex::new(None),
            snat_next: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn plan(&self) -> Option<Arc<Plan>> {
        let api = self.lb.api.lock().ok()?;
        let generation = api.config.generation;
        let mut cached = self.plan.lock().ok()?;
        if let Some(p) = cached.as_ref().filter(|p| p.generation == generation) {
            return Some(p.clone());
        }
        let vs = api.virtuals().into_iter().find(|v| v.full == self.full);
        let persist = vs.as_ref().is_some_and(|v| v.persist);
        let client_ssl = vs.as_ref().is_some_and(|v| v.client_ssl);
        let server_ssl = vs.as_ref().and_then(|v| v.server_ssl.clone());
        let snat = vs.as_ref().map(|v| v.snat.clone()).unwrap_or_default();
        let pool = vs.and_then(|v| v.pool);
        let plan = Arc::new(Plan {
            generation,
            persist,
            client_ssl,
            server_ssl,
            snat,
            mode: pool.as_deref().map(|p| api.lb_mode(p)).unwrap_or_default(),
            members: pool
                .as_deref()
                .map(|p| api.pool_members(p))
                .unwrap_or_default(),
            pool,
        });
        *cached = Some(plan.clone());
        Some(plan)
    }
}

impl TcpService for VirtualServer {
    fn serve(self: Arc<Self>, conn: Conn) -> BoxFuture<()> {
        Box::pin(async move { self.proxy(conn).await })
    }
}

impl VirtualServer {
    /// The members to try, best first: enabled and up (or unmonitored),
    /// ordered by the pool's mode.
    fn candidates(
        &self,
        client: std::net::IpAddr,
    ) -> (Option<Arc<Plan>>, Vec<(String, std::net::SocketAddr)>) {
        let Some(plan) = self.plan() else {
            return (None, Vec::new());
        };
        let Some(pool) = plan.pool.clone() else {
            return (Some(plan), Vec::new());
        };
        let mode = plan.mode.as_str();
        let members = plan.members.iter();
        let Ok(mut rt) = self.lb.rt.lock() else {
            return (Some(plan), Vec::new());
        };
        let mut ok: Vec<(String, std::net::SocketAddr, u64)> = members
            .filter(|m| m.enabled)
            .filter_map(|m| {
                let st = rt
                    .members
                    .get(&(pool.clone(), m.full.clone()))
                    .map(|r| r.status)
                    .unwrap_or_default();
                let healthy = m.monitors.is_empty() || st.up == Some(true);
                healthy.then(|| (m.full.clone(), m.addr, st.cur_conns))
            })
            .collect();
        if ok.is_empty() {
            return (Some(plan), Vec::new());
        }
        let cur = rt.cursor.entry(pool.clone()).or_insert(0);
        let start = *cur % ok.len();
        *cur = cur.wrapping_add(1);
        ok.rotate_left(start);
        if mode.starts_with("least-connections") {
            // Stable: ties keep the round-robin order.
            ok.sort_by_key(|m| m.2);
        }
        if plan.persist {
            // The member this client last used, if it is still eligible
            // and the record is younger than BIG-IP's 180 s default.
            let now = self.lb.model.clock.now();
            if let Some((m, at)) = rt.persist.get(&(self.full.clone(), client)) {
                if now.saturating_duration_since(*at) < PERSIST_TIMEOUT {
                    if let Some(i) = ok.iter().position(|x| &x.0 == m) {
                        let x = ok.remove(i);
                        ok.insert(0, x);
                    }
                }
            }
        }
        let list = ok.into_iter().map(|(f, a, _)| (f, a)).collect();
        (Some(plan), list)
    }

    async fn proxy(&self, conn: Conn) {
        let lb = &self.lb;
        let peer = conn.info.peer;
        let record = |outcome: String| {
            lb.model.journal.record(Record {
                machine: lb.name.clone(),
                service: ServiceKind::LbHttp.name().into(),
                peer: Some(peer),
                operation: format!("balance {}", self.full),
                outcome,
                ..Default::default()
            })
        };
        let Ok(net) = conn.info.net() else {
            record("refused: no network handle".into());
            return;
        };
        let (plan, candidates) = self.candidates(peer.ip());
        let Some((plan, pool)) = plan.and_then(|p| p.pool.clone().map(|pool| (p, pool))) else {
            record("reset: the virtual server has no pool".into());
            return;
        };
        let persist = plan.persist;
        // TLS termination first: a client that fails the handshake costs
        // no member a connection.
        let client: fakedc_net::BoxIo = if plan.client_ssl {
            match conn.info.tls_upgrade(conn.io).await {
                Ok(io) => io,
                Err(e) => {
                    record(format!("reset: client TLS handshake failed: {e}"));
                    return;
                }
            }
        } else {
            conn.io
        };
        // The source: the next SNAT pool address, or the LB's own.
        let snat = (!plan.snat.is_empty()).then(|| {
            let i = self
                .snat_next
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            plan.snat[i % plan.snat.len()]
        });
        let mut upstream = None;
        for (full, addr) in candidates.into_iter().take(MAX_TRIES) {
            let target = net.resolve(addr);
            let dialled = match snat {
                // A translation address is not the machine's own, so the
                // platform's `connect_from` (which dials from it) does not
                // apply; the loopback-only dial does, journaled here.
                Some(src) => fakedc_net::connect_from(src, target, CONNECT_TIMEOUT).await,
                None => {
                    net.connect_from(lb.machine, ServiceKind::LbHttp, target, CONNECT_TIMEOUT)
                        .await
                }
            };
            match dialled {
                Ok(s) => {
                    upstream = Some((full, s));
                    break;
                }
                Err(e) => {
                    tracing::debug!(member = %full, error = %e, "member refused a connection");
                }
            }
        }
        let Some((member, up)) = upstream else {
            record(format!("reset: no member of {pool} available"));
            return;
        };
        let from = snat
            .map(|a| format!(" from SNAT address {a}"))
            .unwrap_or_default();
        let mut up: fakedc_net::BoxIo = match &plan.server_ssl {
            None => Box::new(up),
            Some(sni) => match server_tls(up, sni.as_deref()).await {
                Ok(s) => Box::new(s),
                Err(e) => {
                    record(format!(
                        "reset: TLS to member {member} of {pool} failed: {e}"
                    ));
                    return;
                }
            },
        };
        let key = (pool.clone(), member.clone());
        if let Ok(mut rt) = lb.rt.lock() {
            if persist {
                if rt.persist.len() >= MAX_PERSIST {
                    rt.persist.clear();
                }
                let now = lb.model.clock.now();
                rt.persist
                    .insert((self.full.clone(), peer.ip()), (member.clone(), now));
            }
            let m = rt.members.entry(key.clone()).or_default();
            m.status.cur_conns += 1;
            m.status.tot_conns += 1;
            let v = rt.virtuals.entry(self.full.clone()).or_default();
            v.0 += 1;
            v.1 += 1;
        }
        let mut client = client;
        let r = tokio::io::copy_bidirectional_with_sizes(
            &mut client,
            &mut up,
            BUF_TO_MEMBER,
            BUF_TO_CLIENT,
        )
        .await;
        let (to_member, to_client) = match &r {
            Ok((a, b)) => (*a, *b),
            Err(_) => (0, 0),
        };
        if let Ok(mut rt) = lb.rt.lock() {
            let m = rt.members.entry(key).or_default();
            m.status.cur_conns = m.status.cur_conns.saturating_sub(1);
            m.status.bytes_in += to_client;
            m.status.bytes_out += to_member;
            let v = rt.virtuals.entry(self.full.clone()).or_default();
            v.0 = v.0.saturating_sub(1);
            v.2 += to_member;
            v.3 += to_client;
        }
        record(format!(
            "member {member} of {pool}{from}{}: {to_member} bytes to it, {to_client} bytes back{}",
            match (plan.client_ssl, plan.server_ssl.is_some()) {
                (true, true) => " (TLS both sides)",
                (true, false) => " (client TLS terminated)",
                (false, true) => " (TLS to member)",
                (false, false) => "",
            },
            match r {
                Ok(_) => String::new(),
                Err(e) => format!(" (ended: {e})"),
            }
        ));
    }
}

/// TLS to a member (a server-ssl profile): BIG-IP's default `serverssl`
/// does not verify the member's certificate (`peerCertMode ignore`), and
/// sends SNI only when the profile names a server.
async fn server_tls(
    tcp: tokio::net::TcpStream,
    sni: Option<&str>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use rustls::pki_types::ServerName;
    let cfg = fakedc_net::tls::client_config(&fakedc_net::tls::Trust::AnyCertificate)
        .map_err(std::io::Error::other)?;
    let name = match sni {
        Some(n) => ServerName::try_from(n.to_string()).map_err(std::io::Error::other)?,
        // Without SNI rustls still needs a name; an IP address is not sent
        // as SNI.
        None => ServerName::IpAddress(tcp.peer_addr()?.ip().into()),
    };
    tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
}
