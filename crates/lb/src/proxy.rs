//! Virtual servers: each one's listener (bound at run time on the LB's
//! address) proxies every accepted TCP connection to one enabled, healthy
//! member of its pool, dialled from the LB's own address, round robin or
//! least connections; connection counts and bytes feed `stats` and the
//! journal.

use crate::irule::{self, Action, Event};
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
    /// The default pool.
    pool: Option<Arc<PoolPlan>>,
    /// A client-ssl profile: terminate TLS with the LB's certificate.
    client_ssl: bool,
    /// A server-ssl profile: TLS to the member, with this SNI if set.
    server_ssl: Option<Option<String>>,
    /// SNAT translation addresses; empty: the LB's own address.
    snat: Vec<std::net::IpAddr>,
    /// The iRules attached, compiled, in order.
    rules: Vec<(String, Arc<irule::Rule>)>,
    /// Some rule runs at CLIENT_ACCEPTED / HTTP_REQUEST.
    accept_rules: bool,
    http_rules: bool,
    /// Pools the rules name literally (full paths), resolved with the
    /// configuration generation like the default pool.
    rule_pools: HashMap<String, Arc<PoolPlan>>,
}

/// One pool as the proxy balances over it.
#[derive(Debug, Default)]
struct PoolPlan {
    name: String,
    mode: String,
    members: Vec<crate::rest::MemberDef>,
}

impl PoolPlan {
    fn of(api: &crate::rest::Api, pool: &str) -> PoolPlan {
        PoolPlan {
            name: pool.to_string(),
            mode: api.lb_mode(pool),
            members: api.pool_members(pool),
        }
    }
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
        let mut rules = Vec::new();
        for (name, text) in vs.as_ref().map(|v| v.rules.as_slice()).unwrap_or_default() {
            // Validated when saved; a rule that no longer compiles (a pool
            // it names was deleted since) is left out, and said so.
            match irule::compile(text, |p| {
                crate::rest::full_path(p).is_ok_and(|f| api.pools().contains(&f))
            }) {
                Ok(r) => rules.push((name.clone(), Arc::new(r))),
                Err(e) => {
                    tracing::warn!(rule = %name, error = %e.message(name), "iRule not run")
                }
            }
        }
        let mut rule_pools = HashMap::new();
        for (_, r) in &rules {
            for p in &r.pools {
                if let Ok(f) = crate::rest::full_path(p) {
                    rule_pools
                        .entry(f.clone())
                        .or_insert_with(|| Arc::new(PoolPlan::of(&api, &f)));
                }
            }
        }
        let pool = vs.and_then(|v| v.pool);
        let plan = Arc::new(Plan {
            generation,
            persist,
            client_ssl,
            server_ssl,
            snat,
            accept_rules: rules.iter().any(|(_, r)| r.has(Event::ClientAccepted)),
            http_rules: rules.iter().any(|(_, r)| r.has(Event::HttpRequest)),
            rules,
            rule_pools,
            pool: pool.as_deref().map(|p| Arc::new(PoolPlan::of(&api, p))),
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
    /// The members of `pool` to try, best first: enabled and up (or
    /// unmonitored), ordered by the pool's mode, the persisted one first.
    fn candidates(
        &self,
        plan: &Plan,
        pool: &PoolPlan,
        client: std::net::IpAddr,
    ) -> Vec<(String, std::net::SocketAddr)> {
        let Ok(mut rt) = self.lb.rt.lock() else {
            return Vec::new();
        };
        let mut key = (pool.name.clone(), String::new());
        let mut ok: Vec<(&str, std::net::SocketAddr, u64)> = Vec::with_capacity(pool.members.len());
        for m in pool.members.iter().filter(|m| m.enabled) {
            // The lookup key reuses one buffer: no allocation per member.
            key.1.clear();
            key.1.push_str(&m.full);
            let st = rt.members.get(&key).map(|r| r.status).unwrap_or_default();
            if m.monitors.is_empty() || st.up == Some(true) {
                ok.push((m.full.as_str(), m.addr, st.cur_conns));
            }
        }
        if ok.is_empty() {
            return Vec::new();
        }
        let start = match rt.cursor.get_mut(&pool.name) {
            Some(cur) => {
                let s = *cur % ok.len();
                *cur = cur.wrapping_add(1);
                s
            }
            None => {
                rt.cursor.insert(pool.name.clone(), 1);
                0
            }
        };
        ok.rotate_left(start);
        if pool.mode.starts_with("least-connections") {
            // Stable: ties keep the round-robin order.
            ok.sort_by_key(|m| m.2);
        }
        if plan.persist {
            // The member this client last used, if it is still eligible
            // and the record is younger than BIG-IP's 180 s default.
            let now = self.lb.model.clock.now();
            if let Some((m, at)) = rt.persist.get(&(self.full.clone(), client)) {
                if now.saturating_duration_since(*at) < PERSIST_TIMEOUT {
                    if let Some(i) = ok.iter().position(|x| x.0 == m) {
                        let x = ok.remove(i);
                        ok.insert(0, x);
                    }
                }
            }
        }
        ok.into_iter()
            .take(MAX_TRIES)
            .map(|(f, a, _)| (f.to_string(), a))
            .collect()
    }

    /// A pool an iRule names: resolved with the plan when named literally,
    /// else looked up now.
    fn rule_pool(&self, plan: &Plan, name: &str) -> Option<Arc<PoolPlan>> {
        let full = crate::rest::full_path(name).ok()?;
        if let Some(p) = plan.pool.as_ref().filter(|p| p.name == full) {
            return Some(p.clone());
        }
        if let Some(p) = plan.rule_pools.get(&full) {
            return Some(p.clone());
        }
        let api = self.lb.api.lock().ok()?;
        api.pools()
            .contains(&full)
            .then(|| Arc::new(PoolPlan::of(&api, &full)))
    }

    /// Journals what a rule logged (`log local0.`), as BIG-IP writes it to
    /// /var/log/ltm.
    fn rule_logs(&self, rule: &str, logs: &[String]) {
        for m in logs {
            tracing::info!(machine = %self.lb.name, rule = %rule, "{m}");
            self.lb.model.journal.record(Record {
                machine: self.lb.name.clone(),
                service: ServiceKind::LbHttp.name().into(),
                operation: format!("rule {rule}"),
                outcome: format!("log: {}", m.chars().take(512).collect::<String>()),
                ..Default::default()
            });
        }
    }

    /// Runs every attached rule's `event` in order; the first that ends
    /// the event with an action wins. Returns the action, the rule that
    /// took it, and the pool the rules chose (if any).
    fn run_rules(
        &self,
        plan: &Plan,
        event: Event,
        peer: std::net::SocketAddr,
        local: std::net::SocketAddr,
        mut http: Option<&mut irule::HttpRequest>,
    ) -> (Action, String, Option<String>) {
        let mut pool = None;
        for (name, rule) in plan.rules.iter().filter(|(_, r)| r.has(event)) {
            let mut env = irule::Env::new(peer, local, http.as_deref_mut());
            rule.run(event, &mut env);
            self.rule_logs(name, &env.logs);
            if env.pool.is_some() {
                pool = env.pool;
            }
            if env.action != Action::Continue {
                return (env.action, name.clone(), pool);
            }
        }
        (Action::Continue, String::new(), pool)
    }

    async fn proxy(&self, conn: Conn) {
        let lb = &self.lb;
        let peer = conn.info.peer;
        let local = conn.info.local;
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
        let Some(plan) = self.plan() else {
            record("reset: configuration unavailable".into());
            return;
        };
        let mut pool = plan.pool.clone();
        if plan.accept_rules {
            let (action, rule, chosen) =
                self.run_rules(&plan, Event::ClientAccepted, peer, local, None);
            match action {
                Action::Reject | Action::Drop => {
                    let what = if action == Action::Reject {
                        // BIG-IP's `reject` resets the connection.
                        conn.info.state.reset_on_close();
                        "rejected"
                    } else {
                        "dropped"
                    };
                    record(format!("{what} by iRule {rule} at CLIENT_ACCEPTED"));
                    return;
                }
                _ => {}
            }
            if let Some(name) = chosen {
                match self.rule_pool(&plan, &name) {
                    Some(p) => pool = Some(p),
                    None => {
                        record(format!(
                            "reset: pool {name} named by an iRule does not exist"
                        ));
                        return;
                    }
                }
            }
        }
        if pool.is_none() && !plan.http_rules {
            record("reset: the virtual server has no pool".into());
            return;
        }
        // TLS termination first: a client that fails the handshake costs
        // no member a connection.
        let mut client: fakedc_net::BoxIo = if plan.client_ssl {
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
        if plan.http_rules {
            self.http_requests(&plan, pool, client, &conn.info, net)
                .await;
            return;
        }
        let Some(pool) = pool else {
            record("reset: the virtual server has no pool".into());
            return;
        };
        let mut m = match self.open_member(&plan, &pool, peer, net, true).await {
            Ok(m) => m,
            Err(e) => {
                record(e);
                return;
            }
        };
        let r = splice(
            &mut client,
            &mut m.io,
            !plan.client_ssl,
            plan.server_ssl.is_none(),
            &conn.info.state,
        )
        .await;
        let (to_member, to_client) = match &r {
            Ok((a, b)) => (*a, *b),
            Err(_) => (0, 0),
        };
        record(self.close_member(&plan, m, to_member, to_client, r.err()));
    }

    /// Dials a member of `pool` (from the LB's address or the next SNAT
    /// address), with TLS for a server-ssl profile, and counts the
    /// connection in the member's stats (and the virtual server's when
    /// `count_virtual`: once per client connection). The error is the
    /// journal's outcome.
    async fn open_member(
        &self,
        plan: &Plan,
        pool: &Arc<PoolPlan>,
        peer: std::net::SocketAddr,
        net: &fakedc_net::NetHandle,
        count_virtual: bool,
    ) -> Result<Member, String> {
        let lb = &self.lb;
        let pool_name = pool.name.as_str();
        // The source: the next SNAT pool address, or the LB's own.
        let snat = (!plan.snat.is_empty()).then(|| {
            let i = self
                .snat_next
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            plan.snat[i % plan.snat.len()]
        });
        let mut upstream = None;
        for (full, addr) in self.candidates(plan, pool, peer.ip()) {
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
            return Err(format!("reset: no member of {pool_name} available"));
        };
        let io: fakedc_net::BoxIo = match &plan.server_ssl {
            None => Box::new(up),
            Some(sni) => match server_tls(up, sni.as_deref()).await {
                Ok(s) => Box::new(s),
                Err(e) => {
                    return Err(format!(
                        "reset: TLS to member {member} of {pool_name} failed: {e}"
                    ))
                }
            },
        };
        if let Ok(mut rt) = lb.rt.lock() {
            if plan.persist {
                if rt.persist.len() >= MAX_PERSIST {
                    rt.persist.clear();
                }
                let now = lb.model.clock.now();
                rt.persist
                    .insert((self.full.clone(), peer.ip()), (member.clone(), now));
            }
            let m = rt
                .members
                .entry((pool_name.to_string(), member.clone()))
                .or_default();
            m.status.cur_conns += 1;
            m.status.tot_conns += 1;
            if count_virtual {
                let v = rt.virtuals.entry(self.full.clone()).or_default();
                v.0 += 1;
                v.1 += 1;
            }
        }
        Ok(Member {
            pool: pool.clone(),
            member,
            snat,
            io,
            count_virtual,
        })
    }

    /// Ends a member connection's accounting: its stats and the journal
    /// outcome naming the member and the bytes each way.
    fn close_member(
        &self,
        plan: &Plan,
        m: Member,
        to_member: u64,
        to_client: u64,
        error: Option<std::io::Error>,
    ) -> String {
        if let Ok(mut rt) = self.lb.rt.lock() {
            let s = rt
                .members
                .entry((m.pool.name.clone(), m.member.clone()))
                .or_default();
            s.status.cur_conns = s.status.cur_conns.saturating_sub(1);
            s.status.bytes_in += to_client;
            s.status.bytes_out += to_member;
            let v = rt.virtuals.entry(self.full.clone()).or_default();
            if m.count_virtual {
                v.0 = v.0.saturating_sub(1);
            }
            v.2 += to_member;
            v.3 += to_client;
        }
        format!(
            "member {} of {}{}{}: {to_member} bytes to it, {to_client} bytes back{}",
            m.member,
            m.pool.name,
            m.snat
                .map(|a| format!(" from SNAT address {a}"))
                .unwrap_or_default(),
            match (plan.client_ssl, plan.server_ssl.is_some()) {
                (true, true) => " (TLS both sides)",
                (true, false) => " (client TLS terminated)",
                (false, true) => " (TLS to member)",
                (false, false) => "",
            },
            match error {
                None => String::new(),
                Some(e) => format!(" (ended: {e})"),
            }
        )
    }

    /// A virtual server with HTTP_REQUEST rules: each request head is read
    /// and run through the rules, then answered locally or forwarded to
    /// the member chosen for it, on a member connection of its own
    /// (`Connection: close` towards the member), so that the next request
    /// on a kept-alive client connection meets the rules again and may go
    /// to another pool. The client's connection stays open when it asked
    /// for keep-alive, its request's body has a length, and the member's
    /// answer is delimited (a length, chunked, or none by its status);
    /// otherwise the rest of the connection is spliced to the member as a
    /// plain virtual server would.
    async fn http_requests(
        &self,
        plan: &Plan,
        mut pool: Option<Arc<PoolPlan>>,
        mut client: fakedc_net::BoxIo,
        info: &fakedc_net::ConnInfo,
        net: &fakedc_net::NetHandle,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (peer, local) = (info.peer, info.local);
        let record = |outcome: String| {
            self.lb.model.journal.record(Record {
                machine: self.lb.name.clone(),
                service: ServiceKind::LbHttp.name().into(),
                peer: Some(peer),
                operation: format!("balance {}", self.full),
                outcome,
                ..Default::default()
            })
        };
        let mut buf: Vec<u8> = Vec::new();
        let mut first = true;
        loop {
            let (mut req, used) = match read_head(&mut client, &mut buf).await {
                Ok(Some(x)) => x,
                Ok(None) => {
                    if first {
                        record("closed by the client before a request".into());
                    }
                    return;
                }
                Err(e) => {
                    record(format!("reset: {e}"));
                    return;
                }
            };
            let mut rest = buf.split_off(used);
            buf.clear();
            let (action, rule, chosen) =
                self.run_rules(plan, Event::HttpRequest, peer, local, Some(&mut req));
            let close = !keep_alive(&req) || has_body(&req);
            let answer = match action {
                Action::Continue => {
                    if let Some(name) = chosen {
                        match self.rule_pool(plan, &name) {
                            Some(p) => pool = Some(p),
                            None => {
                                record(format!(
                                    "reset: pool {name} named by an iRule does not exist"
                                ));
                                return;
                            }
                        }
                    }
                    let Some(p) = pool.clone() else {
                        record("reset: the virtual server has no pool".into());
                        return;
                    };
                    // The request's body: a length, or chunked / unknown
                    // (then this request is the connection's last).
                    let body_len = match (
                        req.header("transfer-encoding"),
                        req.header("content-length"),
                    ) {
                        (None, None) => Some(0u64),
                        (None, Some(v)) => v.trim().parse::<u64>().ok(),
                        _ => None,
                    };
                    let expects = req
                        .header("expect")
                        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
                    let keep = keep_alive(&req) && body_len.is_some();
                    set_header(&mut req, "Connection", "close");
                    let head_req = req.method.clone();
                    let version = req.version.clone();
                    if expects && body_len.is_some_and(|n| n > 0) {
                        // Answered here, as the body goes on to the member
                        // as it comes: the member's own 100 is not waited
                        // for (nor forwarded).
                        req.headers
                            .retain(|(k, _)| !k.eq_ignore_ascii_case("expect"));
                        if client
                            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    let head = serialize_head(&req);
                    let mut m = match self.open_member(plan, &p, peer, net, first).await {
                        Ok(m) => m,
                        Err(e) => {
                            record(e);
                            return;
                        }
                    };
                    first = false;
                    let Some(body_len) = body_len.filter(|_| keep) else {
                        // The rest of the connection goes to this member.
                        let mut out = head;
                        out.extend_from_slice(&rest);
                        let sent = out.len() as u64;
                        let r = match m.io.write_all(&out).await {
                            Ok(()) => {
                                splice(
                                    &mut client,
                                    &mut m.io,
                                    !plan.client_ssl,
                                    plan.server_ssl.is_none(),
                                    &info.state,
                                )
                                .await
                            }
                            Err(e) => Err(e),
                        };
                        let (a, b) = match &r {
                            Ok((a, b)) => (*a + sent, *b),
                            Err(_) => (0, 0),
                        };
                        record(self.close_member(plan, m, a, b, r.err()));
                        return;
                    };
                    // Head and body to the member; what follows the body
                    // is the client's next request.
                    let in_buf = (body_len.min(rest.len() as u64)) as usize;
                    buf = rest.split_off(in_buf);
                    let mut out = head;
                    out.extend_from_slice(&rest);
                    let mut to_member = out.len() as u64;
                    let left = body_len - in_buf as u64;
                    let sent = async {
                        m.io.write_all(&out).await?;
                        if left > 0 {
                            let n =
                                tokio::io::copy(&mut (&mut client).take(left), &mut m.io).await?;
                            if n < left {
                                return Err(std::io::Error::new(
                                    std::io::ErrorKind::UnexpectedEof,
                                    "the client closed in the middle of a request body",
                                ));
                            }
                            to_member += n;
                        }
                        m.io.flush().await
                    }
                    .await;
                    if let Err(e) = sent {
                        record(self.close_member(plan, m, to_member, 0, Some(e)));
                        return;
                    }
                    let answered =
                        relay_response(&mut m.io, &mut client, head_req == "HEAD", &version).await;
                    let (to_client, kept, err) = match answered {
                        Ok((n, kept)) => (n, kept, None),
                        Err((n, e)) => (n, false, Some(e)),
                    };
                    record(self.close_member(plan, m, to_member, to_client, err));
                    if !kept {
                        let _ = client.shutdown().await;
                        return;
                    }
                    continue;
                }
                Action::Reject | Action::Drop => {
                    if action == Action::Reject {
                        info.state.reset_on_close();
                    }
                    record(format!(
                        "{} by iRule {rule} at HTTP_REQUEST ({} {})",
                        if action == Action::Reject {
                            "rejected"
                        } else {
                            "dropped"
                        },
                        req.method,
                        clip(&req.uri)
                    ));
                    return;
                }
                Action::Redirect(url) => {
                    record(format!(
                        "iRule {rule}: {} {} redirected to {}",
                        req.method,
                        clip(&req.uri),
                        clip(&url)
                    ));
                    local_response(302, &[("Location".into(), one_line(&url))], "", close)
                }
                Action::Respond {
                    status,
                    body,
                    headers,
                } => {
                    record(format!(
                        "iRule {rule}: {} {} answered {status}",
                        req.method,
                        clip(&req.uri)
                    ));
                    local_response(status, &headers, &body, close)
                }
            };
            first = false;
            if client.write_all(&answer).await.is_err() || close {
                let _ = client.shutdown().await;
                return;
            }
            buf = rest;
        }
    }
}

/// A member connection of one client connection.
struct Member {
    pool: Arc<PoolPlan>,
    member: String,
    snat: Option<std::net::IpAddr>,
    io: fakedc_net::BoxIo,
    /// It counted the client connection in the virtual server's stats.
    count_virtual: bool,
}

/// The largest response head read from a member (the HTTP profile's
/// default response header limit is 32 KiB; twice that).
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// Relays one response from `up` (a member asked to close after it) to
/// `client`: (bytes to the client, whether the client's connection can
/// stay open). It can when the answer is delimited: a length, chunked
/// (relayed as is up to the member's close), or no body by its status or
/// the request's method. The member's `Connection: close` is taken out
/// then (an HTTP/1.0 client is told `keep-alive`). Interim 1xx answers
/// are relayed ahead of the final one; 101 hands the connection over.
/// On error: the bytes relayed so far and the error.
async fn relay_response(
    up: &mut fakedc_net::BoxIo,
    client: &mut fakedc_net::BoxIo,
    head_request: bool,
    client_version: &str,
) -> Result<(u64, bool), (u64, std::io::Error)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf: Vec<u8> = Vec::new();
    let mut sent = 0u64;
    let mut chunk = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(end) = find_head_end(&buf) {
                break end;
            }
            if buf.len() > MAX_RESPONSE_HEAD {
                return Err((
                    sent,
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("the member's response head exceeds {MAX_RESPONSE_HEAD} bytes"),
                    ),
                ));
            }
            let n = up.read(&mut chunk).await.map_err(|e| (sent, e))?;
            if n == 0 {
                return Err((
                    sent,
                    std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the member closed before a response",
                    ),
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let rest = buf.split_off(end);
        let head = std::mem::replace(&mut buf, rest);
        let resp = parse_response_head(&head).map_err(|e| {
            (
                sent,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        if (100..200).contains(&resp.status) && resp.status != 101 {
            client.write_all(&head).await.map_err(|e| (sent, e))?;
            sent += head.len() as u64;
            continue;
        }
        let chunked = resp.header("transfer-encoding").is_some();
        let length = resp
            .header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        let no_body = head_request || resp.status == 204 || resp.status == 304;
        let kept = resp.status != 101 && (no_body || chunked || length.is_some());
        let out = if kept {
            let mut r = resp;
            r.headers
                .retain(|(k, _)| !k.eq_ignore_ascii_case("connection"));
            if client_version == "HTTP/1.0" {
                r.headers.push(("Connection".into(), "keep-alive".into()));
            }
            serialize_response_head(&r)
        } else {
            head
        };
        client.write_all(&out).await.map_err(|e| (sent, e))?;
        sent += out.len() as u64;
        // The body: exactly its length when known, else up to the close.
        let left = if no_body {
            Some(0)
        } else if chunked {
            None
        } else {
            length
        };
        let first = match left {
            Some(n) => buf.len().min(n as usize),
            None => buf.len(),
        };
        client
            .write_all(&buf[..first])
            .await
            .map_err(|e| (sent, e))?;
        sent += first as u64;
        match left.map(|n| n - first as u64) {
            Some(0) => {}
            Some(n) => {
                let got = tokio::io::copy(&mut (&mut *up).take(n), &mut *client)
                    .await
                    .map_err(|e| (sent, e))?;
                sent += got;
                if got < n {
                    return Err((
                        sent,
                        std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the member closed in the middle of a response body",
                        ),
                    ));
                }
            }
            None => {
                let got = tokio::io::copy(&mut *up, &mut *client)
                    .await
                    .map_err(|e| (sent, e))?;
                sent += got;
            }
        }
        client.flush().await.map_err(|e| (sent, e))?;
        return Ok((sent, kept));
    }
}

/// A response head from a member.
#[derive(Debug)]
pub struct ResponseHead {
    /// The status line as the member sent it.
    pub line: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses an HTTP/1.x response head (through its blank line): a member's
/// answer, read by the HTTP_REQUEST rules' relay (peer input, fuzzed in
/// `lb/rule`).
pub fn parse_response_head(head: &[u8]) -> Result<ResponseHead, String> {
    let text = std::str::from_utf8(head).map_err(|_| "response head is not UTF-8".to_string())?;
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let mut parts = line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(format!("malformed status line: {}", clip(line)));
    };
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|s| (100..600).contains(s) && version.starts_with("HTTP/1."))
        .ok_or_else(|| format!("malformed status line: {}", clip(line)))?;
    let mut headers = Vec::new();
    for l in lines {
        if l.is_empty() {
            continue;
        }
        let Some((k, v)) = l.split_once(':') else {
            return Err(format!("malformed header line: {}", clip(l)));
        };
        if headers.len() >= MAX_HEADERS {
            return Err(format!("more than {MAX_HEADERS} header lines"));
        }
        headers.push((k.to_string(), v.trim().to_string()));
    }
    Ok(ResponseHead {
        line: line.to_string(),
        status,
        headers,
    })
}

/// The head as relayed to the client.
pub fn serialize_response_head(r: &ResponseHead) -> Vec<u8> {
    head_bytes(r.line.clone(), &r.headers)
}

/// A start line and its header lines, as they go on the wire.
fn head_bytes(mut out: String, headers: &[(String, String)]) -> Vec<u8> {
    out.push_str("\r\n");
    for (k, v) in headers {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// Copies both ways until both sides are done (each side's end of stream
/// passed on as a write shutdown, like `tokio::io::copy_bidirectional`):
/// (bytes to the member, bytes to the client). `client_tcp`/`up_tcp`: that
/// side is plain TCP (no TLS layer).
///
/// Why not `copy_bidirectional_with_sizes`: it allocates and zeroes its
/// two buffers (80 KiB here) for every connection, and a new-connection
/// load is mostly connections that carry one small request each. These
/// buffers come from a per-thread free list and go back to it as soon as
/// their direction ends.
///
/// The direction that ends last does not shut its plain TCP side down:
/// both sockets are closed right after, and the close sends the same FIN
/// (nothing is left unread on a side whose end of stream was read), so
/// the `shutdown` call would be one more syscall per connection for
/// nothing. A TLS side is always shut down: that sends its close_notify.
///
/// A member's last bytes read together with its end of stream (a
/// `Connection: close` answer) go to a plain TCP client as the client
/// stream's last writes ([`fakedc_net::ConnState::last_writes`]), so they
/// leave with the FIN in one segment.
async fn splice(
    client: &mut fakedc_net::BoxIo,
    up: &mut fakedc_net::BoxIo,
    client_tcp: bool,
    up_tcp: bool,
    client_state: &fakedc_net::ConnState,
) -> std::io::Result<(u64, u64)> {
    use std::task::Poll;
    let mut to_member = Pump::new(BUF_TO_MEMBER, None);
    let mut to_client = Pump::new(BUF_TO_CLIENT, client_tcp.then_some(client_state));
    std::future::poll_fn(|cx| {
        let a = to_member.poll(cx, &mut **client, &mut **up, up_tcp && to_client.done)?;
        let b = to_client.poll(cx, &mut **up, &mut **client, client_tcp && to_member.done)?;
        if a.is_ready() && b.is_ready() {
            Poll::Ready(Ok((to_member.amt, to_client.amt)))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Buffers kept per thread for each size.
const POOLED: usize = 32;

thread_local! {
    static FREE: std::cell::RefCell<Vec<Box<[u8]>>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn take_buf(size: usize) -> Box<[u8]> {
    FREE.with(|f| {
        let mut f = f.borrow_mut();
        f.iter()
            .position(|b| b.len() == size)
            .map(|i| f.swap_remove(i))
    })
    .unwrap_or_else(|| vec![0; size].into_boxed_slice())
}

fn give_buf(b: Box<[u8]>) {
    FREE.with(|f| {
        let mut f = f.borrow_mut();
        if f.len() < 2 * POOLED {
            f.push(b);
        }
    })
}

/// One direction of [`splice`].
struct Pump<'a> {
    size: usize,
    /// The writer's connection state, when the writer is the accepted
    /// plain TCP stream: a chunk read with its end of stream is written as
    /// its last writes.
    last_writes: Option<&'a fakedc_net::ConnState>,
    /// An error met while looking for the end of stream past a chunk,
    /// returned once that chunk is written.
    read_err: Option<std::io::Error>,
    buf: Option<Box<[u8]>>,
    pos: usize,
    cap: usize,
    eof: bool,
    need_flush: bool,
    done: bool,
    amt: u64,
}

impl Drop for Pump<'_> {
    fn drop(&mut self) {
        if let Some(b) = self.buf.take() {
            give_buf(b);
        }
    }
}

impl<'a> Pump<'a> {
    fn new(size: usize, last_writes: Option<&'a fakedc_net::ConnState>) -> Pump<'a> {
        Pump {
            size,
            last_writes,
            read_err: None,
            buf: None,
            pos: 0,
            cap: 0,
            eof: false,
            need_flush: false,
            done: false,
            amt: 0,
        }
    }

    /// Moves what `r` sends to `w`; at `r`'s end of stream, shuts `w`'s
    /// sending side down unless `last` (the caller closes `w` next).
    fn poll(
        &mut self,
        cx: &mut std::task::Context<'_>,
        r: &mut dyn fakedc_net::Io,
        w: &mut dyn fakedc_net::Io,
        last: bool,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::pin::Pin;
        use std::task::Poll;
        if self.done {
            return Poll::Ready(Ok(()));
        }
        loop {
            if self.pos == self.cap && !self.eof {
                if let Some(e) = self.read_err.take() {
                    return Poll::Ready(Err(e));
                }
                let size = self.size;
                let buf = self.buf.get_or_insert_with(|| take_buf(size));
                let mut rb = tokio::io::ReadBuf::new(buf);
                match Pin::new(&mut *r).poll_read(cx, &mut rb) {
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        if n == 0 {
                            self.eof = true;
                        } else {
                            self.pos = 0;
                            self.cap = n;
                            if let Some(state) = self.last_writes.filter(|_| n < size) {
                                // A short read drained the socket: unless
                                // its end of stream is already here, this
                                // finds nothing without a system call
                                // (the runtime cleared its readiness).
                                let mut rest = tokio::io::ReadBuf::new(&mut buf[n..]);
                                match Pin::new(&mut *r).poll_read(cx, &mut rest) {
                                    Poll::Ready(Ok(())) if rest.filled().is_empty() => {
                                        self.eof = true;
                                        state.last_writes();
                                    }
                                    Poll::Ready(Ok(())) => self.cap += rest.filled().len(),
                                    Poll::Ready(Err(e)) => self.read_err = Some(e),
                                    Poll::Pending => {}
                                }
                            }
                        }
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        // Nothing to read now: what was written must not
                        // sit in a TLS layer's buffer meanwhile.
                        if self.need_flush {
                            match Pin::new(&mut *w).poll_flush(cx) {
                                Poll::Ready(Ok(())) => self.need_flush = false,
                                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                                Poll::Pending => {}
                            }
                        }
                        return Poll::Pending;
                    }
                }
            }
            while self.pos < self.cap {
                let Some(buf) = self.buf.as_deref() else {
                    break;
                };
                match Pin::new(&mut *w).poll_write(cx, &buf[self.pos..self.cap]) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err(std::io::Error::new(
                            std::io::ErrorKind::WriteZero,
                            "the peer accepts no more data",
                        )))
                    }
                    Poll::Ready(Ok(n)) => {
                        self.pos += n;
                        self.amt += n as u64;
                        self.need_flush = true;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
            if self.eof && self.pos == self.cap {
                if let Some(b) = self.buf.take() {
                    give_buf(b);
                }
                if last {
                    self.done = true;
                    return Poll::Ready(Ok(()));
                }
                match Pin::new(&mut *w).poll_shutdown(cx) {
                    Poll::Ready(Ok(())) => {
                        self.done = true;
                        return Poll::Ready(Ok(()));
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
        }
    }
}

/// BIG-IP's default largest HTTP request head (the HTTP profile's
/// `maxHeaderSize`).
pub const MAX_HEAD: usize = 32 * 1024;
/// Most header lines in a request head.
const MAX_HEADERS: usize = 256;

fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

fn one_line(s: &str) -> String {
    s.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

/// Reads one request head into `buf` (which may already hold bytes):
/// `None` if the client closed first; the parsed head and its length.
async fn read_head(
    io: &mut fakedc_net::BoxIo,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<(irule::HttpRequest, usize)>> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find_head_end(buf) {
            return parse_request_head(&buf[..end])
                .map(|r| Some((r, end)))
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e));
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("HTTP header exceeds maximum allowed size of {MAX_HEAD}"),
            ));
        }
        let n = tokio::io::AsyncReadExt::read(io, &mut chunk).await?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the client closed in the middle of a request head",
                ))
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Where a head ends (past its blank line), if it is complete.
fn find_head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Parses an HTTP/1.x request head (through its blank line).
pub fn parse_request_head(head: &[u8]) -> Result<irule::HttpRequest, String> {
    if head.len() > MAX_HEAD + 4 {
        return Err("request head too large".into());
    }
    let text = std::str::from_utf8(head).map_err(|_| "request head is not UTF-8".to_string())?;
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("malformed request line: {}", clip(line)));
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    if !token(method)
        || uri.is_empty()
        || uri.bytes().any(|b| b <= b' ' || b == 0x7f)
        || !(version == "HTTP/1.1" || version == "HTTP/1.0")
    {
        return Err(format!("malformed request line: {}", clip(line)));
    }
    let mut headers = Vec::new();
    for l in lines {
        if l.is_empty() {
            continue;
        }
        let Some((k, v)) = l.split_once(':') else {
            return Err(format!("malformed header line: {}", clip(l)));
        };
        if !token(k) || v.bytes().any(|b| b == 0 || b == b'\r' || b == b'\n') {
            return Err(format!("malformed header line: {}", clip(l)));
        }
        if headers.len() >= MAX_HEADERS {
            return Err(format!("more than {MAX_HEADERS} header lines"));
        }
        headers.push((k.to_string(), v.trim().to_string()));
    }
    Ok(irule::HttpRequest {
        method: method.to_string(),
        uri: uri.to_string(),
        version: version.to_string(),
        headers,
    })
}

/// The head as sent to the member.
fn serialize_head(r: &irule::HttpRequest) -> Vec<u8> {
    head_bytes(format!("{} {} {}", r.method, r.uri, r.version), &r.headers)
}

fn set_header(r: &mut irule::HttpRequest, name: &str, value: &str) {
    r.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    r.headers.push((name.to_string(), value.to_string()));
}

/// Whether the client wants the connection kept after this request.
fn keep_alive(r: &irule::HttpRequest) -> bool {
    let conn = r.header("connection").unwrap_or("").to_ascii_lowercase();
    if r.version == "HTTP/1.0" {
        conn.contains("keep-alive")
    } else {
        !conn.contains("close")
    }
}

/// A request with a body: after a local answer the connection is closed
/// rather than the body skipped.
fn has_body(r: &irule::HttpRequest) -> bool {
    r.header("transfer-encoding").is_some()
        || r.header("content-length").is_some_and(|v| v.trim() != "0")
}

/// A response the device makes itself (`HTTP::redirect`,
/// `HTTP::respond`), shaped as BIG-IP's: HTTP/1.0, `Server: BigIP`.
fn local_response(status: u16, headers: &[(String, String)], body: &str, close: bool) -> Vec<u8> {
    let reason = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    let mut out = format!("HTTP/1.0 {status} {reason}\r\n");
    let mut server = true;
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("connection") {
            continue;
        }
        server &= !k.eq_ignore_ascii_case("server");
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if server {
        out.push_str("Server: BigIP\r\n");
    }
    out.push_str(if close {
        "Connection: close\r\n"
    } else {
        "Connection: Keep-Alive\r\n"
    });
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    out.push_str(body);
    out.into_bytes()
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
