//! The load balancer's running state and its iControl REST endpoint (HTTPS
//! `/mgmt` on the LB's 443): authentication (tokens and Basic), the body
//! limit, the journal, the busy fault, persistence, and keeping the
//! virtual servers' listeners in step with the configuration.

use crate::proxy::{self, Runtime};
use crate::rest::{self, Api, ApiError, Config, Ctx, Request};
use crate::tokens::{self, Tokens};
use bytes::Bytes;
use cap_std::fs::Dir;
use fakedc_model::{FaultKind, MachineId, Model, Record, Role, ServiceKind};
use fakedc_net::{
    full, BoxFuture, ConnInfo, DynamicEndpoint, Handler, HttpRequest, HttpResponse, HttpService,
    NetHandle, Services,
};
use http_body_util::{BodyExt, Limited};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tracing::warn;

/// Where the configuration lives inside the LB machine's share.
const CONFIG_DIR: &str = "config";
const CONFIG_FILE: &str = "config/bigip.json";
const CONFIG_TMP: &str = "config/.bigip.json.tmp";

/// `[machine.options.lb]`.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LbOptions {
    /// Loopback addresses the LB may use as SNAT translation addresses
    /// (members of `ltm snatpool`), besides its own.
    #[serde(default)]
    pub snat_addresses: Vec<IpAddr>,
}

/// Most SNAT addresses a scenario may give one LB.
pub const MAX_SNAT_ADDRESSES: usize = 64;

/// Checks one machine's `[machine.options.lb]`: SNAT addresses must be
/// loopback (fakedc never binds anything else) and not the LB's own.
pub fn validate(m: &fakedc_model::Machine) -> Result<LbOptions, fakedc_net::OptionsError> {
    let err = |message: String| fakedc_net::OptionsError::new(&m.name, "lb", message);
    let opts: LbOptions = match m.options.get("lb") {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| err(e.to_string()))?,
        None => LbOptions::default(),
    };
    if opts.snat_addresses.len() > MAX_SNAT_ADDRESSES {
        return Err(err(format!(
            "snat_addresses: at most {MAX_SNAT_ADDRESSES} addresses"
        )));
    }
    for a in &opts.snat_addresses {
        if !a.is_loopback() {
            return Err(err(format!(
                "snat_addresses: {a} is not a loopback address"
            )));
        }
        if *a == m.address {
            return Err(err(format!(
                "snat_addresses: {a} is the machine's own address"
            )));
        }
    }
    Ok(opts)
}

/// One load balancer machine.
pub struct Lb {
    pub model: Arc<Model>,
    pub machine: MachineId,
    pub name: String,
    pub hostname: String,
    pub addr: IpAddr,
    /// SNAT translation addresses the scenario gives this LB.
    pub snat_addresses: Vec<IpAddr>,
    pub api: Mutex<Api>,
    tokens: Mutex<Tokens>,
    /// The share, through a capability: the configuration file cannot be
    /// redirected outside it.
    store: Option<Dir>,
    pub rt: Mutex<Runtime>,
    pub net: OnceLock<NetHandle>,
    listeners: Mutex<HashMap<String, (SocketAddr, DynamicEndpoint)>>,
    /// The configuration changed since it was last written.
    dirty: AtomicBool,
}

impl Drop for Lb {
    /// A change not yet written (the writer waits a moment to coalesce a
    /// burst of calls) is written when the device goes away.
    fn drop(&mut self) {
        self.flush();
    }
}

impl Lb {
    fn open(model: &Arc<Model>, machine: MachineId) -> Result<Lb, String> {
        let m = model.machine(machine);
        let store = match &m.share {
            Some(share) => {
                std::fs::create_dir_all(share)
                    .map_err(|e| format!("share {}: {e}", share.display()))?;
                let d = Dir::open_ambient_dir(share, cap_std::ambient_authority())
                    .map_err(|e| format!("share {}: {e}", share.display()))?;
                Some(d)
            }
            None => None,
        };
        let config = match &store {
            Some(d) => match d.read(CONFIG_FILE) {
                Ok(bytes) => serde_json::from_slice::<Config>(&bytes)
                    .map_err(|e| format!("{}: {CONFIG_FILE} in the share: {e}", m.name))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
                Err(e) => return Err(format!("{}: {CONFIG_FILE}: {e}", m.name)),
            },
            None => Config::default(),
        };
        let opts = validate(m).map_err(|e| e.to_string())?;
        Ok(Lb {
            model: model.clone(),
            machine,
            name: m.name.clone(),
            hostname: m.dns_name.clone(),
            addr: m.address,
            snat_addresses: opts.snat_addresses,
            api: Mutex::new(Api::new(config)),
            tokens: Mutex::new(Tokens::default()),
            store,
            rt: Mutex::new(Runtime::default()),
            net: OnceLock::new(),
            listeners: Mutex::new(HashMap::new()),
            dirty: AtomicBool::new(false),
        })
    }

    /// Writes the configuration: a temporary file in the share, then a
    /// rename over the old one, so a crash leaves the old or the new.
    fn persist(&self, config: &Config) {
        let Some(d) = &self.store else { return };
        let r = (|| -> std::io::Result<()> {
            d.create_dir_all(CONFIG_DIR)?;
            let bytes = serde_json::to_vec_pretty(config).map_err(std::io::Error::other)?;
            let mut f = d.create(CONFIG_TMP)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            d.rename(CONFIG_TMP, d, CONFIG_FILE)
        })();
        if let Err(e) = r {
            warn!(machine = %self.name, error = %e, "cannot save the load balancer configuration");
        }
    }

    /// Schedules a write of the configuration. Why not at once: a client
    /// creating thousands of objects would rewrite a growing file on every
    /// call; a burst is written once, 50 ms after its first change, and
    /// shutdown (or dropping the device) writes what is still pending.
    fn mark_dirty(self: &Arc<Self>) {
        if !self.dirty.swap(true, Ordering::SeqCst) {
            let lb = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                lb.flush();
            });
        }
    }

    /// Writes the configuration if it changed.
    pub fn flush(&self) {
        if self.dirty.swap(false, Ordering::SeqCst) {
            let config = match self.api.lock() {
                Ok(a) => a.config.clone(),
                Err(_) => return,
            };
            self.persist(&config);
        }
    }

    fn now_us(&self) -> u64 {
        self.model.clock.unix_millis().saturating_mul(1000)
    }

    /// Binds the listener of every enabled virtual server that has none
    /// (or whose destination changed) and releases the rest.
    pub fn reconcile(self: &Arc<Self>) {
        let Some(net) = self.net.get() else { return };
        let wanted: Vec<rest::VirtualDef> = match self.api.lock() {
            Ok(a) => a.virtuals().into_iter().filter(|v| v.enabled).collect(),
            Err(_) => return,
        };
        let Ok(mut ls) = self.listeners.lock() else {
            return;
        };
        ls.retain(|full, (dest, _)| {
            wanted
                .iter()
                .any(|v| &v.full == full && v.destination == *dest)
        });
        for v in wanted {
            if ls.contains_key(&v.full) {
                continue;
            }
            let svc = Arc::new(proxy::VirtualServer::new(self.clone(), v.full.clone()));
            match net.bind(
                self.machine,
                ServiceKind::LbHttp,
                v.destination.port(),
                Handler::Tcp(svc),
                false,
            ) {
                Ok(ep) => {
                    self.journal(
                        None,
                        &format!("virtual {}", v.full),
                        &format!("listening on {}", ep.addr()),
                        None,
                    );
                    ls.insert(v.full.clone(), (v.destination, ep));
                }
                Err(e) => {
                    warn!(machine = %self.name, virtual_server = %v.full, error = %e, "cannot bind");
                    self.journal(
                        None,
                        &format!("virtual {}", v.full),
                        &format!("bind failed: {e}"),
                        None,
                    );
                }
            }
        }
    }

    /// Where a virtual server really listens (tests, the bench).
    pub fn listening(&self, full: &str) -> Option<SocketAddr> {
        self.listeners
            .lock()
            .ok()
            .and_then(|l| l.get(full).map(|(_, e)| e.addr()))
    }

    pub fn journal(&self, user: Option<String>, op: &str, outcome: &str, peer: Option<SocketAddr>) {
        self.model.journal.record(Record {
            machine: self.name.clone(),
            service: ServiceKind::LbHttps.name().into(),
            peer,
            user,
            operation: op.into(),
            outcome: outcome.into(),
            ..Default::default()
        });
    }
}

/// Every load balancer of the model, by machine.
#[derive(Clone, Default)]
pub struct Lbs(pub Arc<HashMap<MachineId, Arc<Lb>>>);

/// Registers iControl REST on every load balancer's 443 and the start
/// hook that binds persisted virtual servers and starts the monitors.
pub fn register(services: &mut Services, model: &Arc<Model>) -> Result<Lbs, String> {
    let mut map = HashMap::new();
    for m in model.machines() {
        if m.role == Role::LoadBalancer
            && m.endpoints
                .iter()
                .any(|e| e.service == ServiceKind::LbHttps)
        {
            map.insert(m.id, Arc::new(Lb::open(model, m.id)?));
        }
    }
    let lbs = Lbs(Arc::new(map));
    services.http(
        ServiceKind::LbHttps,
        "/mgmt",
        Arc::new(Mgmt { lbs: lbs.clone() }),
    );
    let hook = lbs.clone();
    services.on_start(Arc::new(move |net: NetHandle| {
        for lb in hook.0.values() {
            let _ = lb.net.set(net.clone());
            lb.reconcile();
            crate::monitor::spawn(lb.clone(), net.clone());
        }
    }));
    Ok(lbs)
}

/// The `/mgmt` HTTP service.
struct Mgmt {
    lbs: Lbs,
}

impl HttpService for Mgmt {
    fn call(&self, req: HttpRequest, conn: Arc<ConnInfo>) -> BoxFuture<HttpResponse> {
        let lb = self.lbs.0.get(&conn.machine).cloned();
        Box::pin(async move {
            match lb {
                Some(lb) => handle(lb, req, conn).await,
                None => fakedc_net::http::error_page(&conn, hyper::StatusCode::NOT_FOUND),
            }
        })
    }
}

fn reply(status: u16, body: &Value) -> HttpResponse {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(body).unwrap_or_default()
    };
    let mut r = hyper::Response::new(full(bytes));
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    r
}

fn error(e: &ApiError) -> HttpResponse {
    reply(e.code, &e.body())
}

fn busy(model: &Model, conn: &ConnInfo) -> bool {
    !model.faults.is_empty()
        && model
            .faults
            .matching(&conn.machine_name, conn.service.name())
            .iter()
            .any(|f| matches!(f, FaultKind::Busy))
}

async fn body(req: HttpRequest) -> Result<Bytes, ApiError> {
    let too_big = || {
        ApiError::new(
            413,
            format!("Request body is larger than {} bytes.", rest::MAX_BODY),
        )
    };
    if let Some(n) = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if n > rest::MAX_BODY as u64 {
            return Err(too_big());
        }
    }
    match Limited::new(req.into_body(), rest::MAX_BODY)
        .collect()
        .await
    {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_big()),
        Err(e) => Err(ApiError::new(
            400,
            format!("Cannot read the request body: {e}"),
        )),
    }
}

async fn handle(lb: Arc<Lb>, req: HttpRequest, conn: Arc<ConnInfo>) -> HttpResponse {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let op = format!("{method} {}", path.chars().take(200).collect::<String>());
    let journal = |user: Option<String>, outcome: &str| {
        lb.model.journal.record(Record {
            machine: conn.machine_name.clone(),
            service: conn.service.name().into(),
            peer: Some(conn.peer),
            user,
            operation: op.clone(),
            outcome: outcome.into(),
            ..Default::default()
        });
    };
    if busy(&lb.model, &conn) {
        journal(None, "503 busy (fault rule)");
        return error(&ApiError::new(
            503,
            "The device is busy (configuration utility restarting); try again later.",
        ));
    }
    let token_hdr = req
        .headers()
        .get("x-f5-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let coordination = req
        .headers()
        .get("x-f5-rest-coordination-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(32).collect::<String>());
    let authorization = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match body(req).await {
        Ok(b) => b,
        Err(e) => {
            journal(None, &format!("{} body refused", e.code));
            return error(&e);
        }
    };
    let now = lb.now_us();

    if path.trim_end_matches('/') == "/mgmt/shared/authn/login" {
        if method != "POST" {
            journal(None, "405");
            return error(&ApiError::new(
                405,
                "Method not allowed on /mgmt/shared/authn/login.",
            ));
        }
        let b = match rest::parse_body(&body) {
            Ok(b) => b,
            Err(e) => {
                journal(None, &format!("{} malformed login", e.code));
                return error(&e);
            }
        };
        let user = b.get("username").and_then(Value::as_str).unwrap_or("");
        let pass = b.get("password").and_then(Value::as_str).unwrap_or("");
        let provider = b
            .get("loginProviderName")
            .and_then(Value::as_str)
            .unwrap_or("tmos");
        let Some(u) = lb.model.authenticate(lb.machine, user, pass) else {
            journal(Some(user.chars().take(64).collect()), "401 login refused");
            let mut e = ApiError::new(401, "Authentication failed.");
            e.api_error = 1;
            let mut v = e.body();
            v["kind"] = ":resterrorresponse".into();
            return reply(401, &v);
        };
        let value = token_value();
        let tj = {
            let Ok(mut t) = lb.tokens.lock() else {
                return error(&ApiError::new(500, "token table unavailable"));
            };
            let tok = t.issue(&u.name, now, value.clone()).clone();
            tokens::token_json(&value, &tok)
        };
        journal(Some(u.name.clone()), "200 token issued");
        return reply(
            200,
            &json!({
                "username": u.name,
                "loginReference": {"link": "https://localhost/mgmt/cm/system/authn/providers/tmos/1f44a60e-11a7-3c51-a49f-82983026b41b/login"},
                "loginProviderName": provider,
                "token": tj,
                "generation": 0,
                "lastUpdateMicros": 0,
            }),
        );
    }

    // Everything else needs a live token or Basic credentials.
    let user = if let Some(t) = token_hdr.as_deref() {
        let checked = lb
            .tokens
            .lock()
            .ok()
            .map(|tk| tk.check(t, now).map(|t| t.user.clone()));
        match checked {
            Some(Ok(u)) => u,
            Some(Err(e)) => {
                journal(None, &format!("401 {}", e.message()));
                return unauthorized(e.message());
            }
            None => return error(&ApiError::new(500, "token table unavailable")),
        }
    } else if let Some(a) = authorization.as_deref() {
        match fakedc_net::auth::parse_basic(a)
            .and_then(|(u, p)| lb.model.authenticate(lb.machine, &u, &p).map(|u| (u, p)))
        {
            Some((u, _)) => u.name,
            None => {
                journal(None, "401 bad Basic credentials");
                let mut r = unauthorized("Authentication required!");
                r.headers_mut().insert(
                    hyper::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"Enterprise Manager\""),
                );
                return r;
            }
        }
    } else {
        journal(None, "401 no credentials");
        return unauthorized(&format!(
            "Authorization failed: no user authentication header or token detected. Uri:http://localhost:8100{} Referrer:{} Sender:{}",
            path.chars().take(200).collect::<String>(),
            conn.peer.ip(),
            conn.peer.ip()
        ));
    };

    if let Some(t) = path.strip_prefix("/mgmt/shared/authz/tokens/") {
        let t = t.trim_end_matches('/');
        let Ok(mut tk) = lb.tokens.lock() else {
            return error(&ApiError::new(500, "token table unavailable"));
        };
        let not_found = || {
            ApiError::new(
                404,
                format!(
                    "Object not found - https://localhost/mgmt/shared/authz/tokens/{}",
                    t.chars().take(64).collect::<String>()
                ),
            )
        };
        let r = match method.as_str() {
            "GET" => match tk.check(t, now) {
                Ok(tok) => Ok(tokens::token_json(t, tok)),
                Err(_) => Err(not_found()),
            },
            "PATCH" => match rest::parse_body(&body) {
                Err(e) => Err(e),
                Ok(b) => match b.get("timeout").and_then(Value::as_u64) {
                    Some(n) if n <= tokens::MAX_TIMEOUT => match tk.set_timeout(t, n, now) {
                        Some(tok) => Ok(tokens::token_json(t, tok)),
                        None => Err(not_found()),
                    },
                    Some(_) => Err(ApiError::new(
                        400,
                        format!(
                            "Invalid timeout value. Max value is {}",
                            tokens::MAX_TIMEOUT
                        ),
                    )),
                    None => Err(ApiError::new(
                        400,
                        "\"timeout\" must be a number of seconds.",
                    )),
                },
            },
            "DELETE" => match tk.remove(t) {
                Some(tok) => Ok(tokens::token_json(t, &tok)),
                None => Err(not_found()),
            },
            _ => Err(ApiError::new(405, "Method not allowed on a token.")),
        };
        drop(tk);
        return match r {
            Ok(v) => {
                journal(Some(user), "200");
                reply(200, &v)
            }
            Err(e) => {
                journal(Some(user), &format!("{} {}", e.code, e.message));
                error(&e)
            }
        };
    }

    let resp = {
        let Ok(mut api) = lb.api.lock() else {
            return error(&ApiError::new(500, "configuration unavailable"));
        };
        let rt = lb.rt.lock().map(|r| r.snapshot()).unwrap_or_default();
        let ctx = Ctx {
            lb_addr: lb.addr,
            hostname: &lb.hostname,
            status: &rt,
            now_us: now,
            snat_addresses: &lb.snat_addresses,
        };
        api.handle(
            Request {
                method: &method,
                path: &path,
                query: &query,
                body: &body,
                coordination: coordination.as_deref(),
            },
            &ctx,
        )
    };
    if resp.changed {
        lb.mark_dirty();
        lb.reconcile();
    }
    let outcome = match resp.body.get("message").and_then(Value::as_str) {
        Some(m) if resp.status >= 400 => format!(
            "{} {}",
            resp.status,
            m.chars().take(200).collect::<String>()
        ),
        _ => resp.status.to_string(),
    };
    journal(Some(user), &outcome);
    reply(resp.status, &resp.body)
}

fn unauthorized(message: &str) -> HttpResponse {
    let mut e = ApiError::new(401, message);
    e.api_error = 1;
    reply(401, &e.body())
}

/// A BIG-IP-shaped token: 26 upper-case letters and digits.
fn token_value() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::thread_rng();
    (0..26)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}
