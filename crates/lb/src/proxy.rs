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
/// Copy buffer each way (large: bulk transfers are what a balancer moves).
const BUF: usize = 64 * 1024;
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
}

/// One virtual server's listener.
pub struct VirtualServer {
    pub lb: Arc<Lb>,
    pub full: String,
    /// The pool and members, recomputed only when the configuration's
    /// generation moves (every accepted connection reads it).
    plan: std::sync::Mutex<Option<Arc<Plan>>>,
}

impl VirtualServer {
    pub fn new(lb: Arc<Lb>, full: String) -> VirtualServer {
        VirtualServer {
            lb,
            full,
            plan: std::sync::Mutex::new(None),
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
        let pool = vs.and_then(|v| v.pool);
        let plan = Arc::new(Plan {
            generation,
            persist,
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
    ) -> (Option<String>, Vec<(String, std::net::SocketAddr)>, bool) {
        let Some(plan) = self.plan() else {
            return (None, Vec::new(), false);
        };
        let Some(pool) = plan.pool.clone() else {
            return (None, Vec::new(), false);
        };
        let mode = plan.mode.as_str();
        let members = plan.members.iter();
        let Ok(mut rt) = self.lb.rt.lock() else {
            return (Some(pool), Vec::new(), false);
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
            return (Some(pool), Vec::new(), plan.persist);
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
        (
            Some(pool),
            ok.into_iter().map(|(f, a, _)| (f, a)).collect(),
            plan.persist,
        )
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
        let (pool, candidates, persist) = self.candidates(peer.ip());
        let Some(pool) = pool else {
            record("reset: the virtual server has no pool".into());
            return;
        };
        let mut upstream = None;
        for (full, addr) in candidates.into_iter().take(MAX_TRIES) {
            let target = net.resolve(addr);
            match net
                .connect_from(lb.machine, ServiceKind::LbHttp, target, CONNECT_TIMEOUT)
                .await
            {
                Ok(s) => {
                    upstream = Some((full, s));
                    break;
                }
                Err(e) => {
                    tracing::debug!(member = %full, error = %e, "member refused a connection");
                }
            }
        }
        let Some((member, mut up)) = upstream else {
            record(format!("reset: no member of {pool} available"));
            return;
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
        let mut client = conn.io;
        let r = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut up, BUF, BUF).await;
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
            "member {member} of {pool}: {to_member} bytes to it, {to_client} bytes back{}",
            match r {
                Ok(_) => String::new(),
                Err(e) => format!(" (ended: {e})"),
            }
        ));
    }
}
