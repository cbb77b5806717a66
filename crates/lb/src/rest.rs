//! Sans-IO iControl REST: one request (method, path, query, body) in, one
//! status and JSON body out, over the device's configuration ([`Config`]).
//!
//! Why sans-IO: the request parsing and object rules are where hostile
//! input lands (ids with path tricks, malformed JSON, thousands of
//! objects), so they are a plain function a fuzz target can drive, and the
//! HTTP glue (`service.rs`) only authenticates, limits the body and
//! journals. Run-time state (member health, connection counts) is not
//! configuration: it comes in through [`Status`] when an answer shows it.
//!
//! Shapes follow BIG-IP 17.1 as bigrest, f5-sdk and Ansible's f5_modules
//! read them: every object and collection carries `kind` and a `selfLink`
//! ending in `?ver=17.1.0` (clients parse the TMOS version from it), ids in
//! paths are `~Partition~name`, and every failure is F5's error body
//! (`{"code","message","errorStack":[],"apiError"}`) with F5's message
//! numbers where they are known.

use crate::irule;
use crate::transaction::{Transactions, TxState};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// The TMOS version the device reports (`?ver=` of every selfLink).
pub const VERSION: &str = "17.1.0";
/// Largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;
/// Objects per collection (nodes, pools, ...; members per pool).
pub const MAX_OBJECTS: usize = 4096;
/// Longest object name.
pub const MAX_NAME: usize = 255;
/// Longest request path.
pub const MAX_PATH: usize = 2048;
/// Deepest JSON nesting accepted in a body.
pub const MAX_DEPTH: usize = 32;
/// The only partition this device has.
pub const PARTITION: &str = "Common";
/// Most iRules one virtual server may name.
pub const MAX_RULES_PER_VIRTUAL: usize = 32;

/// An F5 error: status code, message (with F5's message number where one
/// is known) and `apiError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    pub message: String,
    pub api_error: u32,
}

impl ApiError {
    pub fn new(code: u16, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            api_error: if code == 404 || code == 409 || code == 400 {
                3
            } else {
                1
            },
        }
    }

    pub fn body(&self) -> Value {
        json!({
            "code": self.code,
            "message": self.message,
            "errorStack": [],
            "apiError": self.api_error,
        })
    }

    fn bad(message: impl Into<String>) -> Self {
        ApiError::new(400, message)
    }

    fn not_registered(path: &str) -> Self {
        ApiError {
            code: 404,
            message: format!(
                "URI path {path} not registered.  Please try again with a valid path."
            ),
            api_error: 1,
        }
    }

    fn not_found(label: &str, full: &str) -> Self {
        ApiError::new(
            404,
            format!("01020036:3: The requested {label} ({full}) was not found."),
        )
    }
}

/// A request as the HTTP glue hands it over.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path without the query, as sent (not percent-decoded).
    pub path: &'a str,
    pub query: &'a str,
    pub body: &'a [u8],
    /// `X-F5-REST-Coordination-Id`: the transaction a change joins.
    pub coordination: Option<&'a str>,
}

/// An answer: status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: Value,
    /// Whether the configuration changed (persist it, re-bind virtuals).
    pub changed: bool,
}

impl From<ApiError> for Response {
    fn from(e: ApiError) -> Self {
        Response {
            status: e.code,
            body: e.body(),
            changed: false,
        }
    }
}

/// A member's run-time state as the monitors and the proxy see it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberStatus {
    /// `None`: no monitor has answered yet (or none applies).
    pub up: Option<bool>,
    pub monitored: bool,
    pub cur_conns: u64,
    pub tot_conns: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Run-time state the answers show (stats, member `state`).
pub trait Status {
    fn member(&self, pool: &str, member: &str) -> MemberStatus;
    /// A virtual server's (current, total) connections and bytes in/out.
    fn virtual_server(&self, full: &str) -> (u64, u64, u64, u64);
}

/// No run-time state (tests, fuzzing).
pub struct NoStatus;
impl Status for NoStatus {
    fn member(&self, _: &str, _: &str) -> MemberStatus {
        MemberStatus::default()
    }
    fn virtual_server(&self, _: &str) -> (u64, u64, u64, u64) {
        (0, 0, 0, 0)
    }
}

/// What an answer may depend on besides the configuration.
pub struct Ctx<'a> {
    /// The load balancer's own address: the only virtual address it can
    /// listen on (fakedc binds a machine's address only).
    pub lb_addr: IpAddr,
    pub hostname: &'a str,
    pub status: &'a dyn Status,
    /// Model-clock microseconds since the epoch (transaction timeouts).
    pub now_us: u64,
    /// Addresses the scenario gives the LB for SNAT pools
    /// (`[machine.options.lb] snat_addresses`).
    pub snat_addresses: &'a [IpAddr],
}

/// The device's configuration: what persists in the data directory.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Config {
    pub generation: u64,
    /// Collection key (`ltm/pool`) → full path → the object's properties
    /// (name, partition, fullPath, generation and the settable ones).
    pub objects: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
    /// Pool full path → member full path → properties.
    pub members: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
}

/// One configurable collection.
struct Spec {
    key: &'static str,
    kind: &'static str,
    label: &'static str,
    /// Settable properties beyond name/partition, with their defaults
    /// (`Value::Null`: absent unless set).
    props: &'static [(&'static str, DefaultValue)],
}

#[derive(Clone, Copy)]
enum DefaultValue {
    Str(&'static str),
    Int(i64),
    None,
    True,
}

impl DefaultValue {
    fn value(self) -> Option<Value> {
        match self {
            DefaultValue::Str(s) => Some(Value::from(s)),
            DefaultValue::Int(i) => Some(Value::from(i)),
            DefaultValue::True => Some(Value::Bool(true)),
            DefaultValue::None => None,
        }
    }
}

use DefaultValue::{Int, None as Unset, Str, True};

const COMMON_MONITOR: &[(&str, DefaultValue)] = &[
    ("defaultsFrom", Unset),
    ("description", Unset),
    ("destination", Str("*:*")),
    ("interval", Int(5)),
    ("ipDscp", Int(0)),
    ("manualResume", Str("disabled")),
    ("recv", Unset),
    ("recvDisable", Unset),
    ("reverse", Str("disabled")),
    ("send", Unset),
    ("timeUntilUp", Int(0)),
    ("timeout", Int(16)),
    ("transparent", Str("disabled")),
    ("upInterval", Int(0)),
    ("username", Unset),
    ("password", Unset),
    ("adaptive", Str("disabled")),
    ("cipherlist", Unset),
    ("compatibility", Unset),
    ("cert", Unset),
    ("key", Unset),
    ("sslProfile", Unset),
];

static SPECS: &[Spec] = &[
    Spec {
        key: "ltm/node",
        kind: "tm:ltm:node:nodestate",
        label: "Node",
        props: &[
            ("address", Unset),
            ("connectionLimit", Int(0)),
            ("description", Unset),
            ("dynamicRatio", Int(1)),
            ("ephemeral", Str("false")),
            ("fqdn", Unset),
            ("logging", Str("disabled")),
            ("monitor", Str("default")),
            ("rateLimit", Str("disabled")),
            ("ratio", Int(1)),
            ("session", Str("user-enabled")),
            ("state", Str("unchecked")),
        ],
    },
    Spec {
        key: "ltm/pool",
        kind: "tm:ltm:pool:poolstate",
        label: "Pool",
        props: &[
            ("allowNat", Str("yes")),
            ("allowSnat", Str("yes")),
            ("description", Unset),
            ("ignorePersistedWeight", Str("disabled")),
            ("ipTosToClient", Str("pass-through")),
            ("ipTosToServer", Str("pass-through")),
            ("linkQosToClient", Str("pass-through")),
            ("linkQosToServer", Str("pass-through")),
            ("loadBalancingMode", Str("round-robin")),
            ("minActiveMembers", Int(0)),
            ("minUpMembers", Int(0)),
            ("minUpMembersAction", Str("failover")),
            ("minUpMembersChecking", Str("disabled")),
            ("monitor", Unset),
            ("queueDepthLimit", Int(0)),
            ("queueOnConnectionLimit", Str("disabled")),
            ("queueTimeLimit", Int(0)),
            ("reselectTries", Int(0)),
            ("serviceDownAction", Str("none")),
            ("slowRampTime", Int(10)),
        ],
    },
    Spec {
        key: "ltm/virtual",
        kind: "tm:ltm:virtual:virtualstate",
        label: "Virtual Server",
        props: &[
            ("addressStatus", Str("yes")),
            ("autoLasthop", Str("default")),
            ("cmpEnabled", Str("yes")),
            ("connectionLimit", Int(0)),
            ("description", Unset),
            ("destination", Unset),
            ("enabled", True),
            ("disabled", Unset),
            ("evictionProtected", Str("disabled")),
            ("ipProtocol", Str("tcp")),
            ("mask", Str("255.255.255.255")),
            ("mirror", Str("disabled")),
            ("mobileAppTunnel", Str("disabled")),
            ("nat64", Str("disabled")),
            ("persist", Unset),
            ("pool", Unset),
            ("profiles", Unset),
            ("rateLimit", Str("disabled")),
            ("rules", Unset),
            ("source", Str("0.0.0.0/0")),
            ("sourceAddressTranslation", Unset),
            ("sourcePort", Str("preserve")),
            ("translateAddress", Str("enabled")),
            ("translatePort", Str("enabled")),
            ("vlansDisabled", True),
        ],
    },
    Spec {
        key: "ltm/virtual-address",
        kind: "tm:ltm:virtual-address:virtual-addressstate",
        label: "Virtual Address",
        props: &[
            ("address", Unset),
            ("arp", Str("enabled")),
            ("autoDelete", Str("true")),
            ("connectionLimit", Int(0)),
            ("description", Unset),
            ("enabled", Str("yes")),
            ("floating", Str("enabled")),
            ("icmpEcho", Str("enabled")),
            ("inheritedTrafficGroup", Str("false")),
            ("mask", Str("255.255.255.255")),
            ("routeAdvertisement", Str("disabled")),
            ("spanning", Str("disabled")),
            ("trafficGroup", Str("/Common/traffic-group-1")),
        ],
    },
    Spec {
        key: "ltm/monitor/http",
        kind: "tm:ltm:monitor:http:httpstate",
        label: "Monitor",
        props: COMMON_MONITOR,
    },
    Spec {
        key: "ltm/monitor/https",
        kind: "tm:ltm:monitor:https:httpsstate",
        label: "Monitor",
        props: COMMON_MONITOR,
    },
    Spec {
        key: "ltm/monitor/tcp",
        kind: "tm:ltm:monitor:tcp:tcpstate",
        label: "Monitor",
        props: COMMON_MONITOR,
    },
    // Profiles: only what the proxy honours is accepted with a value other
    // than BIG-IP's default (`check_prop`); the rest of a profile's many
    // options are not settable here.
    Spec {
        key: "ltm/profile/http",
        kind: "tm:ltm:profile:http:httpstate",
        label: "Profile",
        props: &[
            ("defaultsFrom", Str("/Common/http")),
            ("description", Unset),
            ("acceptXff", Str("disabled")),
            ("insertXforwardedFor", Str("disabled")),
            ("redirectRewrite", Str("none")),
            ("serverAgentName", Str("BigIP")),
        ],
    },
    Spec {
        key: "ltm/profile/tcp",
        kind: "tm:ltm:profile:tcp:tcpstate",
        label: "Profile",
        props: &[
            ("defaultsFrom", Str("/Common/tcp")),
            ("description", Unset),
            ("idleTimeout", Int(300)),
            ("nagle", Str("auto")),
        ],
    },
    Spec {
        key: "ltm/profile/client-ssl",
        kind: "tm:ltm:profile:client-ssl:client-sslstate",
        label: "Profile",
        props: &[
            ("defaultsFrom", Str("/Common/clientssl")),
            ("description", Unset),
            ("cert", Str("/Common/default.crt")),
            ("key", Str("/Common/default.key")),
            ("chain", Str("none")),
            ("certKeyChain", Unset),
            ("ciphers", Str("DEFAULT")),
            ("serverName", Str("none")),
            ("sniDefault", Str("false")),
        ],
    },
    Spec {
        key: "ltm/profile/server-ssl",
        kind: "tm:ltm:profile:server-ssl:server-sslstate",
        label: "Profile",
        props: &[
            ("defaultsFrom", Str("/Common/serverssl")),
            ("description", Unset),
            ("ciphers", Str("DEFAULT")),
            ("peerCertMode", Str("ignore")),
            ("serverName", Str("none")),
        ],
    },
    // iRules: the TCL text is `apiAnonymous`, validated by `irule::compile`.
    Spec {
        key: "ltm/rule",
        kind: "tm:ltm:rule:rulestate",
        label: "Rule",
        props: &[("apiAnonymous", Str("")), ("description", Unset)],
    },
    Spec {
        key: "ltm/snatpool",
        kind: "tm:ltm:snatpool:snatpoolstate",
        label: "SNAT Pool",
        props: &[("description", Unset), ("members", Unset)],
    },
];

/// The profile collections a virtual server's `profiles` may name.
const PROFILE_KEYS: [&str; 4] = [
    "ltm/profile/http",
    "ltm/profile/tcp",
    "ltm/profile/client-ssl",
    "ltm/profile/server-ssl",
];

/// The certificate and key every BIG-IP has: here the LB's own leaf from
/// the scenario CA (the one its management port presents).
pub const DEFAULT_CERT: &str = "/Common/default.crt";
pub const DEFAULT_KEY: &str = "/Common/default.key";

const MEMBER_PROPS: &[(&str, DefaultValue)] = &[
    ("address", Unset),
    ("connectionLimit", Int(0)),
    ("description", Unset),
    ("dynamicRatio", Int(1)),
    ("ephemeral", Str("false")),
    ("fqdn", Unset),
    ("inheritProfile", Str("enabled")),
    ("logging", Str("disabled")),
    ("monitor", Str("default")),
    ("priorityGroup", Int(0)),
    ("rateLimit", Str("disabled")),
    ("ratio", Int(1)),
    ("session", Str("user-enabled")),
    ("state", Str("user-up")),
];

/// Properties the device computes; a client may send them back (a GET's
/// body PUT again) and they are ignored.
const READ_ONLY: &[&str] = &[
    "kind",
    "selfLink",
    "generation",
    "fullPath",
    "membersReference",
    "poolReference",
    "profilesReference",
    "policiesReference",
    "nameReference",
];

/// The built-in monitors and profiles every BIG-IP has (read-only).
fn builtins(key: &str) -> Vec<Map<String, Value>> {
    let mk = |name: &str, send: Option<&str>, recv: Option<&str>| {
        let mut m = Map::new();
        m.insert("name".into(), name.into());
        m.insert("partition".into(), PARTITION.into());
        m.insert("fullPath".into(), format!("/{PARTITION}/{name}").into());
        m.insert("generation".into(), 0.into());
        m.insert("interval".into(), 5.into());
        m.insert("timeout".into(), 16.into());
        m.insert("destination".into(), "*:*".into());
        if let Some(s) = send {
            m.insert("send".into(), s.into());
        }
        if let Some(r) = recv {
            m.insert("recv".into(), r.into());
        }
        m
    };
    let profile = |name: &str| {
        let mut m = Map::new();
        m.insert("name".into(), name.into());
        m.insert("partition".into(), PARTITION.into());
        m.insert("fullPath".into(), format!("/{PARTITION}/{name}").into());
        m.insert("generation".into(), 0.into());
        for (k, d) in spec(key).map_or(&[][..], |s| s.props) {
            if let Some(v) = d.value() {
                m.insert((*k).into(), v);
            }
        }
        m.remove("defaultsFrom");
        m
    };
    match key {
        "ltm/profile/http" => vec![profile("http")],
        "ltm/profile/tcp" => vec![profile("tcp")],
        "ltm/profile/client-ssl" => vec![profile("clientssl")],
        "ltm/profile/server-ssl" => vec![profile("serverssl")],
        "ltm/monitor/http" => vec![mk("http", Some("GET /\\r\\n"), None)],
        "ltm/monitor/https" => vec![mk("https", Some("GET /\\r\\n"), None)],
        "ltm/monitor/tcp" => vec![mk("tcp", None, None)],
        _ => Vec::new(),
    }
}

fn spec(key: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.key == key)
}

/// A monitor a pool or member names, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorDef {
    pub full: String,
    /// `http`, `https` or `tcp`.
    pub kind: &'static str,
    pub interval_s: u64,
    pub timeout_s: u64,
    /// The send string with F5's escapes (`\r`, `\n`) applied.
    pub send: Option<String>,
    pub recv: Option<String>,
    /// `*:*` or an `address:port` alias.
    pub destination: String,
}

/// A member as the proxy and the monitors need it.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberDef {
    pub full: String,
    pub addr: SocketAddr,
    /// Neither `user-disabled` nor `user-down`.
    pub enabled: bool,
    pub monitors: Vec<MonitorDef>,
}

/// A virtual server as the proxy needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualDef {
    pub full: String,
    pub destination: SocketAddr,
    pub pool: Option<String>,
    pub enabled: bool,
    /// Source-address persistence (`persist: [{"name":"source_addr"}]`).
    pub persist: bool,
    /// A client-ssl profile: TLS is terminated with the LB's certificate.
    pub client_ssl: bool,
    /// A server-ssl profile: members are spoken to over TLS; the name sent
    /// as SNI, if the profile sets one.
    pub server_ssl: Option<Option<String>>,
    /// Translation addresses (a SNAT pool's members); empty: the LB's own.
    pub snat: Vec<IpAddr>,
    /// The iRules attached, in order: (full path, TCL text).
    pub rules: Vec<(String, String)>,
}

/// Splits `~Partition~name` (or a bare `name`) into a full path. Refuses
/// folders, other partitions, dot segments, separators and anything
/// outside F5's name alphabet, so an id can never name a path elsewhere.
pub fn parse_id(seg: &str) -> Result<String, ApiError> {
    let (partition, name) = match seg.strip_prefix('~') {
        Some(rest) => match rest.split_once('~') {
            Some((p, n)) => (p, n),
            None => {
                return Err(ApiError::bad(format!(
                    "01070022:3: The requested object name ({seg}) is invalid."
                )))
            }
        },
        None => (PARTITION, seg),
    };
    if partition != PARTITION {
        return Err(ApiError::new(
            404,
            format!(
                "01020036:3: The requested folder (/{}) was not found.",
                clip(partition)
            ),
        ));
    }
    check_name(name)?;
    Ok(format!("/{PARTITION}/{name}"))
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// F5's object-name alphabet (letters, digits, `.`, `_`, `-`, `:`), not
/// empty, not a dot segment, at most [`MAX_NAME`].
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(format!(
            "01070022:3: The requested object name ({}) is invalid.",
            clip(name)
        )))
    }
}

/// A full path (`/Common/x`) or bare name to a full path in Common.
/// A name as written (`web_pool`, `/Common/web_pool`) as a full path.
pub fn full_path(v: &str) -> Result<String, ApiError> {
    let name = match v.strip_prefix('/') {
        Some(rest) => match rest.split_once('/') {
            Some((p, n)) if p == PARTITION => n,
            _ => {
                return Err(ApiError::bad(format!(
                    "01070022:3: The requested object name ({}) is invalid.",
                    clip(v)
                )))
            }
        },
        None => v,
    };
    check_name(name)?;
    Ok(format!("/{PARTITION}/{name}"))
}

fn name_of(full: &str) -> &str {
    full.rsplit('/').next().unwrap_or(full)
}

/// `https://localhost/mgmt/tm/<path>?ver=17.1.0`.
pub(crate) fn link(path: &str) -> String {
    format!("https://localhost/mgmt/tm/{path}?ver={VERSION}")
}

fn tilde(full: &str) -> String {
    full.replace('/', "~")
}

/// Parses `address:port` (IPv4) or `address.port` (F5's IPv6 form).
pub fn parse_addr_port(s: &str) -> Option<SocketAddr> {
    if let Some((a, p)) = s.rsplit_once(':') {
        if let (Ok(ip), Ok(port)) = (a.parse::<std::net::Ipv4Addr>(), p.parse::<u16>()) {
            return Some(SocketAddr::new(IpAddr::V4(ip), port));
        }
    }
    if let Some((a, p)) = s.rsplit_once('.') {
        if let (Ok(ip), Ok(port)) = (a.parse::<std::net::Ipv6Addr>(), p.parse::<u16>()) {
            return Some(SocketAddr::new(IpAddr::V6(ip), port));
        }
    }
    None
}

/// Interprets F5's escapes in a monitor's send string (`\r`, `\n`, `\\`).
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

fn depth(v: &Value) -> usize {
    // Iterative: a hostile body cannot overflow the stack here (serde_json
    // itself stops at 128 levels).
    let mut max = 0;
    let mut stack = vec![(v, 1usize)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    max
}

/// Parses a request body as a JSON object, with F5's error for anything
/// else.
pub fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.len() > MAX_BODY {
        return Err(ApiError::new(
            413,
            format!(
                "Request body of {} bytes is larger than {MAX_BODY} bytes.",
                body.len()
            ),
        ));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad(format!(
            "Unexpected character at line {} column {}: {}",
            e.line(),
            e.column(),
            match e.classify() {
                serde_json::error::Category::Eof => "unexpected end of input",
                _ => "malformed JSON",
            }
        ))
    })?;
    if depth(&v) > MAX_DEPTH {
        return Err(ApiError::bad("Request body nests too deeply."));
    }
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad(
            "Found invalid JSON body in the request: expected an object.",
        )),
    }
}

/// The parsed route of a `/mgmt/tm/...` path.
#[derive(Debug, Clone, PartialEq)]
enum Route {
    Collection(&'static str),
    Object(&'static str, String),
    Stats(&'static str, String),
    Members(String),
    Member(String, String),
    MembersStats(String),
    MemberStats(String, String),
    /// A virtual server's `profiles` subcollection.
    Profiles(String),
}

/// A query's options the collections honour.
#[derive(Debug, Default)]
struct Query {
    select: Option<Vec<String>>,
    top: Option<usize>,
    skip: usize,
    filter_partition: Option<String>,
    expand: bool,
}

fn parse_query(q: &str) -> Result<Query, ApiError> {
    let mut out = Query::default();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = fakedc_net::url::percent_decode_lossy(k, true);
        let v = fakedc_net::url::percent_decode_lossy(v, true);
        match k.as_str() {
            "ver" | "options" => {}
            "$select" => {
                out.select = Some(
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .take(64)
                        .collect(),
                )
            }
            "$top" => {
                out.top = Some(v.parse().map_err(|_| {
                    ApiError::bad(format!(
                        "Query parameter $top must be a number: {}",
                        clip(&v)
                    ))
                })?)
            }
            "$skip" => {
                out.skip = v.parse().map_err(|_| {
                    ApiError::bad(format!(
                        "Query parameter $skip must be a number: {}",
                        clip(&v)
                    ))
                })?
            }
            "$filter" => {
                let parts: Vec<&str> = v.split_whitespace().collect();
                match parts.as_slice() {
                    ["partition", "eq", p] => out.filter_partition = Some(p.to_string()),
                    _ => {
                        return Err(ApiError::new(
                            501,
                            format!(
                            "fakedc: $filter '{}' is not implemented (only 'partition eq NAME').",
                            clip(&v)
                        ),
                        ))
                    }
                }
            }
            "expandSubcollections" => out.expand = v == "true",
            _ => {}
        }
    }
    Ok(out)
}

fn route(rest: &str, full: &str) -> Result<Route, ApiError> {
    let trimmed = rest.trim_end_matches('/');
    let segs: Vec<&str> = trimmed.split('/').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return Err(ApiError::not_registered(full));
    }
    // The longest collection key that prefixes the path.
    let mut best: Option<(&'static Spec, usize)> = None;
    for s in SPECS {
        let n = s.key.split('/').count();
        if segs.len() >= n
            && s.key.split('/').zip(&segs).all(|(a, b)| a == *b)
            && best.is_none_or(|(_, m)| n > m)
        {
            best = Some((s, n));
        }
    }
    let Some((spec, n)) = best else {
        return Err(ApiError::not_registered(full));
    };
    let tail = &segs[n..];
    Ok(match (spec.key, tail) {
        (k, []) => Route::Collection(k),
        (k, [id]) => Route::Object(k, parse_id(id)?),
        (k, [id, "stats"]) if k == "ltm/pool" || k == "ltm/virtual" || k == "ltm/node" => {
            Route::Stats(k, parse_id(id)?)
        }
        ("ltm/pool", [id, "members"]) => Route::Members(parse_id(id)?),
        ("ltm/virtual", [id, "profiles"]) => Route::Profiles(parse_id(id)?),
        ("ltm/pool", [id, "members", "stats"]) => Route::MembersStats(parse_id(id)?),
        ("ltm/pool", [id, "members", m]) => Route::Member(parse_id(id)?, parse_id(m)?),
        ("ltm/pool", [id, "members", m, "stats"]) => {
            Route::MemberStats(parse_id(id)?, parse_id(m)?)
        }
        _ => return Err(ApiError::not_registered(full)),
    })
}

/// The iControl REST device.
pub struct Api {
    pub config: Config,
    /// Open and finished transactions (run-time state, not persisted).
    pub tx: Transactions,
}

/// What is not built, answered with 501 naming the request.
fn unimplemented(rest: &str, req: Request<'_>) -> Option<ApiError> {
    let r = rest.trim_end_matches('/');
    let not_built = r.starts_with("ltm/persistence")
        || r.starts_with("ltm/profile/")
            && spec(r.trim_end_matches('/')).is_none()
            && !SPECS.iter().any(|s| r.starts_with(&format!("{}/", s.key)))
        || r.starts_with("ltm/monitor/")
            && spec(r).is_none()
            && !SPECS.iter().any(|s| r.starts_with(&format!("{}/", s.key)));
    not_built.then(|| {
        ApiError::new(
            501,
            format!(
                "fakedc: {} {} is not implemented by this load balancer.",
                req.method,
                clip(req.path)
            ),
        )
    })
}

impl Api {
    pub fn new(config: Config) -> Api {
        Api {
            config,
            tx: Transactions::default(),
        }
    }

    /// Answers one `/mgmt/tm/...` (or `/mgmt/shared/identified-devices`)
    /// request. Authentication and tokens are the caller's.
    pub fn handle(&mut self, req: Request<'_>, ctx: &Ctx<'_>) -> Response {
        if req.path.len() > MAX_PATH {
            return ApiError::bad("URI is too long.").into();
        }
        let r = match req.coordination {
            Some(id) if req.method != "GET" && !is_transaction_path(req.path) => {
                self.queue(id, req, ctx)
            }
            _ => self.dispatch(req, ctx),
        };
        match r {
            Ok(r) => r,
            Err(e) => e.into(),
        }
    }

    /// A change sent under a coordination id: checked for its route and
    /// JSON now, run at commit.
    fn queue(&mut self, id: &str, req: Request<'_>, ctx: &Ctx<'_>) -> Result<Response, ApiError> {
        let Some(rest) = req.path.strip_prefix("/mgmt/tm/") else {
            return Err(ApiError::not_registered(req.path));
        };
        if let Some(e) = unimplemented(rest, req) {
            return Err(e);
        }
        parse_query(req.query)?;
        let route = route(rest, req.path)?;
        let allowed = matches!(
            (req.method, &route),
            ("POST", Route::Collection(_) | Route::Members(_))
                | (
                    "PUT" | "PATCH" | "DELETE",
                    Route::Object(..) | Route::Member(..)
                )
        );
        if !allowed {
            return Err(ApiError::new(
                405,
                format!(
                    "Method {} is not supported on {}.",
                    clip(req.method),
                    clip(req.path)
                ),
            ));
        }
        if req.method != "DELETE" {
            parse_body(req.body)?;
        }
        let body = self
            .tx
            .queue(id, req.method, req.path, req.query, req.body, ctx.now_us)?;
        Ok(Response {
            status: 200,
            body,
            changed: false,
        })
    }

    /// `/mgmt/tm/transaction[/<id>[/commands[/<n>]]]`.
    fn transaction(
        &mut self,
        tail: &[&str],
        req: Request<'_>,
        ctx: &Ctx<'_>,
    ) -> Result<Response, ApiError> {
        let ok = |body: Value| Response {
            status: 200,
            body,
            changed: false,
        };
        let now = ctx.now_us;
        match (req.method, tail) {
            ("GET", []) => Ok(ok(self.tx.collection(now))),
            ("POST", []) => {
                let b = if req.body.iter().all(u8::is_ascii_whitespace) {
                    Map::new()
                } else {
                    parse_body(req.body)?
                };
                Ok(ok(self.tx.create(&b, now)?))
            }
            ("GET", [id]) => Ok(ok(self.tx.get(id, now)?.json())),
            ("DELETE", [id]) => {
                self.tx.remove(id, now)?;
                Ok(ok(Value::Null))
            }
            ("PATCH", [id]) => {
                let b = parse_body(req.body)?;
                self.commit(id, &b, ctx)
            }
            (m, [id, "commands"]) => Ok(ok(self.tx.commands(id, None, m, None, now)?)),
            (m, [id, "commands", n]) => {
                let b = if m == "PATCH" {
                    Some(parse_body(req.body)?)
                } else {
                    None
                };
                Ok(ok(self.tx.commands(id, Some(n), m, b.as_ref(), now)?))
            }
            (_, [] | [_]) => Err(ApiError::new(
                405,
                format!(
                    "Method {} is not supported on {}.",
                    clip(req.method),
                    clip(req.path)
                ),
            )),
            _ => Err(ApiError::not_registered(req.path)),
        }
    }

    /// `PATCH /mgmt/tm/transaction/<id> {"state":"VALIDATING"}`: runs the
    /// commands in order, all or nothing.
    fn commit(
        &mut self,
        id: &str,
        body: &Map<String, Value>,
        ctx: &Ctx<'_>,
    ) -> Result<Response, ApiError> {
        let mut state = None;
        let mut validate_only = false;
        for (k, v) in body {
            match k.as_str() {
                "state" => state = v.as_str().map(str::to_string),
                "validateOnly" => {
                    validate_only = v
                        .as_bool()
                        .ok_or_else(|| ApiError::bad("\"validateOnly\" must be true or false."))?
                }
                // A GET's body sent back.
                "transId" | "kind" | "selfLink" | "timeoutSeconds" | "asyncExecution"
                | "executionTimeout" | "executionTime" | "failureReason" => {}
                _ => {
                    return Err(ApiError::bad(format!(
                        "Found unexpected json pair at configuration item /transaction/: '{}'",
                        clip(k)
                    )))
                }
            }
        }
        let t = self.tx.get(id, ctx.now_us)?;
        match state.as_deref() {
            Some("VALIDATING") => {}
            Some(s) => {
                return Err(ApiError::bad(format!(
                    "Invalid transaction state '{}': only VALIDATING may be set.",
                    clip(s)
                )))
            }
            None => {
                return Err(ApiError::bad(
                    "\"state\":\"VALIDATING\" is required to run a transaction.",
                ))
            }
        }
        if t.state != TxState::Started {
            return Err(ApiError::bad(format!(
                "Transaction {} has already run.",
                t.id
            )));
        }
        let tid = t.id;
        let commands = t.ordered();
        if commands.is_empty() {
            return Err(ApiError::bad(format!(
                "transaction failed:Transaction {tid} has no commands."
            )));
        }
        let saved = self.config.clone();
        let mut changed = false;
        let mut failure = None;
        for c in &commands {
            let r = self.dispatch(
                Request {
                    method: &c.method,
                    path: &c.path,
                    query: &c.query,
                    body: &c.body,
                    coordination: None,
                },
                ctx,
            );
            match r {
                Ok(resp) => changed |= resp.changed,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if failure.is_some() || validate_only {
            self.config = saved;
            changed = false;
        }
        let t = self.tx.get(id, ctx.now_us)?;
        t.validate_only = validate_only;
        if let Some(e) = failure {
            let message = format!("transaction failed:{}", e.message);
            if !validate_only {
                t.state = TxState::Failed;
                t.failure = message.clone();
            }
            return Err(ApiError {
                code: 400,
                message,
                api_error: e.api_error,
            });
        }
        if !validate_only {
            t.state = TxState::Completed;
        }
        Ok(Response {
            status: 200,
            body: t.json(),
            changed,
        })
    }

    fn dispatch(&mut self, req: Request<'_>, ctx: &Ctx<'_>) -> Result<Response, ApiError> {
        let ok = |body: Value| Response {
            status: 200,
            body,
            changed: false,
        };
        if req.path == "/mgmt/shared/identified-devices/config/device-info" {
            only_get(req, "device-info")?;
            return Ok(ok(device_info(ctx)));
        }
        if req.path == "/mgmt/shared/echo-query" {
            only_get(req, "echo-query")?;
            return Ok(ok(json!({
                "kind": "shared:echo-query:echoqueryrequeststate",
                "selfLink": "https://localhost/mgmt/shared/echo-query",
                "generation": 0,
                "lastUpdateMicros": 0,
            })));
        }
        let Some(rest) = req.path.strip_prefix("/mgmt/tm/") else {
            return Err(ApiError::not_registered(req.path));
        };
        if is_transaction_path(req.path) {
            let segs: Vec<&str> = rest.trim_end_matches('/').split('/').skip(1).collect();
            return self.transaction(&segs, req, ctx);
        }
        if let Some(e) = unimplemented(rest, req) {
            return Err(e);
        }
        match rest.trim_end_matches('/') {
            "sys" => {
                only_get(req, "sys")?;
                return Ok(ok(sys_collection()));
            }
            "sys/version" => {
                only_get(req, "sys/version")?;
                return Ok(ok(sys_version()));
            }
            "sys/provision" => {
                only_get(req, "sys/provision")?;
                return Ok(ok(sys_provision()));
            }
            "cm/device" => {
                only_get(req, "cm/device")?;
                return Ok(ok(cm_device(ctx)));
            }
            "ltm" => {
                only_get(req, "ltm")?;
                return Ok(ok(ltm_collection()));
            }
            "ltm/profile" => {
                only_get(req, "ltm/profile")?;
                let items: Vec<Value> = PROFILE_KEYS
                    .iter()
                    .map(|k| json!({"reference": {"link": link(k)}}))
                    .collect();
                return Ok(ok(
                    json!({"kind": "tm:ltm:profile:profilecollectionstate", "selfLink": link("ltm/profile"), "items": items}),
                ));
            }
            _ => {}
        }
        let q = parse_query(req.query)?;
        let r = route(rest, req.path)?;
        match (req.method, r) {
            ("GET", Route::Collection(k)) => Ok(ok(self.collection(k, &q, ctx))),
            ("GET", Route::Object(k, full)) => {
                let o = self.get(k, &full).ok_or_else(|| not_found(k, &full))?;
                Ok(ok(select(self.render(k, &full, &o, &q, ctx), &q)))
            }
            ("POST", Route::Collection(k)) => {
                let body = parse_body(req.body)?;
                let full = self.create(k, body, ctx)?;
                let o = self.get(k, &full).unwrap_or_default();
                Ok(Response {
                    status: 200,
                    body: self.render(k, &full, &o, &Query::default(), ctx),
                    changed: true,
                })
            }
            ("PUT" | "PATCH", Route::Object(k, full)) => {
                let body = parse_body(req.body)?;
                self.modify(k, &full, body, req.method == "PUT", ctx)?;
                let o = self.get(k, &full).unwrap_or_default();
                Ok(Response {
                    status: 200,
                    body: self.render(k, &full, &o, &Query::default(), ctx),
                    changed: true,
                })
            }
            ("DELETE", Route::Object(k, full)) => {
                self.delete(k, &full)?;
                Ok(Response {
                    status: 200,
                    body: Value::Null,
                    changed: true,
                })
            }
            ("GET", Route::Stats(k, full)) => {
                let o = self.get(k, &full).ok_or_else(|| not_found(k, &full))?;
                drop(o);
                Ok(ok(self.stats(k, &full, ctx)))
            }
            ("GET", Route::Members(pool)) => {
                self.pool_exists(&pool)?;
                Ok(ok(self.members_collection(&pool, &q, ctx)))
            }
            ("POST", Route::Members(pool)) => {
                self.pool_exists(&pool)?;
                let body = parse_body(req.body)?;
                let m = self.add_member(&pool, body)?;
                self.bump();
                Ok(Response {
                    status: 200,
                    body: self.render_member(&pool, &m, &Query::default(), ctx),
                    changed: true,
                })
            }
            ("GET", Route::Member(pool, m)) => {
                self.member(&pool, &m)?;
                Ok(ok(select(self.render_member(&pool, &m, &q, ctx), &q)))
            }
            ("PUT" | "PATCH", Route::Member(pool, m)) => {
                self.member(&pool, &m)?;
                let body = parse_body(req.body)?;
                self.modify_member(&pool, &m, body, req.method == "PUT")?;
                self.bump();
                Ok(Response {
                    status: 200,
                    body: self.render_member(&pool, &m, &Query::default(), ctx),
                    changed: true,
                })
            }
            ("DELETE", Route::Member(pool, m)) => {
                self.member(&pool, &m)?;
                if let Some(ms) = self.config.members.get_mut(&pool) {
                    ms.remove(&m);
                }
                self.bump();
                Ok(Response {
                    status: 200,
                    body: Value::Null,
                    changed: true,
                })
            }
            ("GET", Route::Profiles(v)) => {
                let o = self
                    .get("ltm/virtual", &v)
                    .ok_or_else(|| not_found("ltm/virtual", &v))?;
                let base = format!("ltm/virtual/{}/profiles", tilde(&v));
                let items: Vec<Value> = o
                    .get("profiles")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        let mut p = p.as_object().cloned().unwrap_or_default();
                        let f = p.get("fullPath").and_then(Value::as_str).unwrap_or("");
                        let own = link(&format!("{base}/{}", tilde(f)));
                        p.insert(
                            "kind".into(),
                            "tm:ltm:virtual:profiles:profilesstate".into(),
                        );
                        p.insert("selfLink".into(), own.into());
                        Value::Object(p)
                    })
                    .collect();
                Ok(ok(json!({
                    "kind": "tm:ltm:virtual:profiles:profilescollectionstate",
                    "selfLink": link(&base),
                    "items": items,
                })))
            }
            ("GET", Route::MembersStats(pool)) => {
                self.pool_exists(&pool)?;
                Ok(ok(self.members_stats(&pool, ctx)))
            }
            ("GET", Route::MemberStats(pool, m)) => {
                self.member(&pool, &m)?;
                Ok(ok(self.member_stats(&pool, &m, ctx)))
            }
            (method, _) => Err(ApiError::new(
                405,
                format!(
                    "Method {} is not supported on {}.",
                    clip(method),
                    clip(req.path)
                ),
            )),
        }
    }

    fn bump(&mut self) -> u64 {
        self.config.generation += 1;
        self.config.generation
    }

    /// An object's stored properties (built-in monitors included).
    fn get(&self, key: &str, full: &str) -> Option<Map<String, Value>> {
        if let Some(o) = self.config.objects.get(key).and_then(|c| c.get(full)) {
            return Some(o.clone());
        }
        builtins(key)
            .into_iter()
            .find(|m| m.get("fullPath").and_then(Value::as_str) == Some(full))
    }

    fn all(&self, key: &str) -> Vec<(String, Map<String, Value>)> {
        let mut v: Vec<(String, Map<String, Value>)> = builtins(key)
            .into_iter()
            .map(|m| {
                (
                    m.get("fullPath")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    m,
                )
            })
            .collect();
        if let Some(c) = self.config.objects.get(key) {
            v.extend(c.iter().map(|(k, o)| (k.clone(), o.clone())));
        }
        v
    }

    fn pool_exists(&self, pool: &str) -> Result<(), ApiError> {
        self.get("ltm/pool", pool)
            .map(|_| ())
            .ok_or_else(|| not_found("ltm/pool", pool))
    }

    fn member(&self, pool: &str, m: &str) -> Result<Map<String, Value>, ApiError> {
        self.pool_exists(pool)?;
        self.config
            .members
            .get(pool)
            .and_then(|ms| ms.get(m))
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    format!(
                        "01020036:3: The requested Pool Member ({pool} {}) was not found.",
                        m.replacen(':', " ", 1)
                    ),
                )
            })
    }

    fn create(
        &mut self,
        key: &'static str,
        mut body: Map<String, Value>,
        ctx: &Ctx<'_>,
    ) -> Result<String, ApiError> {
        let sp = spec(key).ok_or_else(|| ApiError::not_registered(key))?;
        let name = body
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad(format!("\"name\" is required for a {}.", sp.label)))?
            .to_string();
        if let Some(p) = body.get("partition") {
            if p.as_str() != Some(PARTITION) {
                return Err(ApiError::new(
                    404,
                    format!(
                        "01020036:3: The requested folder (/{}) was not found.",
                        clip(p.as_str().unwrap_or("?"))
                    ),
                ));
            }
        }
        let full = full_path(&name)?;
        let name = name_of(&full).to_string();
        if self.get(key, &full).is_some() {
            return Err(ApiError::new(
                409,
                format!(
                    "01020066:3: The requested {} ({full}) already exists in partition {PARTITION}.",
                    sp.label
                ),
            ));
        }
        if self.config.objects.get(key).map_or(0, BTreeMap::len) >= MAX_OBJECTS {
            return Err(ApiError::bad(format!(
                "01070711:3: Too many objects in {key}: at most {MAX_OBJECTS}."
            )));
        }
        let inline_members = if key == "ltm/pool" {
            body.remove("members")
        } else {
            None
        };
        let mut obj = Map::new();
        obj.insert("name".into(), name.into());
        obj.insert("partition".into(), PARTITION.into());
        obj.insert("fullPath".into(), full.clone().into());
        for (k, d) in sp.props {
            if let Some(v) = d.value() {
                obj.insert((*k).into(), v);
            }
        }
        if key.starts_with("ltm/monitor/") {
            let t = key.rsplit('/').next().unwrap_or("tcp");
            obj.insert("defaultsFrom".into(), format!("/{PARTITION}/{t}").into());
            if t != "tcp" {
                obj.insert("send".into(), "GET /\\r\\n".into());
            }
        }
        self.apply(sp, &full, &mut obj, body, ctx)?;
        if let Some(ms) = inline_members {
            let Value::Array(items) = ms else {
                return Err(ApiError::bad("\"members\" must be an array."));
            };
            if items.len() > MAX_OBJECTS {
                return Err(ApiError::bad("Too many members."));
            }
            // Validate every member before anything is stored.
            let saved = self.config.clone();
            self.config
                .objects
                .entry(key.into())
                .or_default()
                .insert(full.clone(), obj.clone());
            for it in items {
                let m = match it {
                    Value::Object(m) => m,
                    Value::String(s) => {
                        let mut m = Map::new();
                        m.insert("name".into(), s.into());
                        m
                    }
                    _ => {
                        self.config = saved;
                        return Err(ApiError::bad("A pool member must be an object."));
                    }
                };
                if let Err(e) = self.add_member(&full, m) {
                    self.config = saved;
                    return Err(e);
                }
            }
        }
        if key == "ltm/virtual" {
            self.ensure_virtual_address(&obj)?;
        }
        let g = self.bump();
        obj.insert("generation".into(), g.into());
        self.config
            .objects
            .entry(key.into())
            .or_default()
            .insert(full.clone(), obj);
        Ok(full)
    }

    fn ensure_virtual_address(&mut self, v: &Map<String, Value>) -> Result<(), ApiError> {
        let Some(dest) = v
            .get("destination")
            .and_then(Value::as_str)
            .and_then(|d| d.rsplit('/').next())
            .and_then(parse_addr_port)
        else {
            return Ok(());
        };
        let ip = dest.ip().to_string();
        let full = format!("/{PARTITION}/{ip}");
        if self.get("ltm/virtual-address", &full).is_none() {
            let mut a = Map::new();
            a.insert("name".into(), ip.clone().into());
            a.insert("partition".into(), PARTITION.into());
            a.insert("fullPath".into(), full.clone().into());
            for (k, d) in spec("ltm/virtual-address").map_or(&[][..], |s| s.props) {
                if let Some(v) = d.value() {
                    a.insert((*k).into(), v);
                }
            }
            a.insert("address".into(), ip.into());
            a.insert("generation".into(), self.config.generation.into());
            self.config
                .objects
                .entry("ltm/virtual-address".into())
                .or_default()
                .insert(full, a);
        }
        Ok(())
    }

    /// Checks and stores the settable properties of `body` on `obj`.
    fn apply(
        &self,
        sp: &Spec,
        full: &str,
        obj: &mut Map<String, Value>,
        body: Map<String, Value>,
        ctx: &Ctx<'_>,
    ) -> Result<(), ApiError> {
        for (k, v) in body {
            if k == "name" || k == "partition" {
                continue;
            }
            if READ_ONLY.contains(&k.as_str()) {
                continue;
            }
            if !sp.props.iter().any(|(p, _)| *p == k) && sp.key.starts_with("ltm/profile/") {
                return Err(ApiError::new(
                    501,
                    format!(
                        "fakedc: property '{}' of {} is not implemented.",
                        clip(&k),
                        sp.key
                    ),
                ));
            }
            if !sp.props.iter().any(|(p, _)| *p == k) {
                return Err(ApiError::bad(format!(
                    "Found unexpected json pair at configuration item /{}/: '{}':{}",
                    sp.key,
                    clip(&k),
                    clip(&v.to_string())
                )));
            }
            let v = self.check_prop(sp.key, full, &k, v, ctx)?;
            match v {
                Value::Null => {
                    obj.remove(&k);
                }
                v => {
                    obj.insert(k, v);
                }
            }
        }
        if sp.key == "ltm/node" && !obj.contains_key("address") && !obj.contains_key("fqdn") {
            return Err(ApiError::bad(format!(
                "01070734:3: Configuration error: Node {full} needs an address."
            )));
        }
        if sp.key == "ltm/virtual" {
            if !obj.contains_key("destination") {
                return Err(ApiError::bad(format!(
                    "01070734:3: Configuration error: Virtual Server {full} needs a destination."
                )));
            }
            let mut kinds = Vec::new();
            for p in obj
                .get("profiles")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let f = p.get("fullPath").and_then(Value::as_str).unwrap_or("");
                if let Some((k, _)) = self.find_profile(f) {
                    if kinds.contains(&k) {
                        return Err(ApiError::bad(format!(
                            "01070097:3: Virtual Server {full} has more than one {} profile.",
                            k.rsplit('/').next().unwrap_or(k)
                        )));
                    }
                    kinds.push(k);
                }
            }
            // BIG-IP's check: HTTP events need an HTTP profile.
            if !kinds.contains(&"ltm/profile/http") {
                for r in self.virtual_rules(obj) {
                    let text = self
                        .get("ltm/rule", &r)
                        .and_then(|o| {
                            o.get("apiAnonymous")
                                .and_then(Value::as_str)
                                .map(str::to_string)
                        })
                        .unwrap_or_default();
                    let http = irule::compile(&text, |_| true)
                        .is_ok_and(|c| c.has(irule::Event::HttpRequest));
                    if http {
                        return Err(http_profile_needed(&r, full));
                    }
                }
            }
            // `enabled`/`disabled` are a pair.
            if obj.get("disabled") == Some(&Value::Bool(true)) {
                obj.remove("enabled");
            } else {
                obj.remove("disabled");
                obj.insert("enabled".into(), Value::Bool(true));
            }
        }
        Ok(())
    }

    fn check_prop(
        &self,
        key: &str,
        full: &str,
        k: &str,
        v: Value,
        ctx: &Ctx<'_>,
    ) -> Result<Value, ApiError> {
        let bad_type = |what: &str| {
            ApiError::bad(format!(
                "01070734:3: Configuration error: invalid value for '{k}' of {full}: {what}."
            ))
        };
        let s = |v: &Value| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad_type("expected a string"))
        };
        match (key, k) {
            (_, "interval" | "timeout" | "timeUntilUp" | "upInterval") => {
                let n = as_u64(&v).ok_or_else(|| bad_type("expected a number of seconds"))?;
                if k == "interval" && !(1..=86_400).contains(&n) {
                    return Err(bad_type("interval must be 1 to 86400"));
                }
                if k == "timeout" && n > 86_400 {
                    return Err(bad_type("timeout must be at most 86400"));
                }
                Ok(Value::from(n))
            }
            ("ltm/node", "address") | ("ltm/virtual-address", "address") => {
                let a = s(&v)?;
                a.parse::<IpAddr>()
                    .map_err(|_| bad_type("not an IP address"))?;
                Ok(a.into())
            }
            ("ltm/pool", "loadBalancingMode") => {
                let m = s(&v)?;
                if matches!(
                    m.as_str(),
                    "round-robin" | "least-connections-member" | "least-connections-node"
                ) {
                    Ok(m.into())
                } else {
                    Err(ApiError::new(
                        501,
                        format!("fakedc: loadBalancingMode '{}' is not implemented (round-robin, least-connections-member, least-connections-node).", clip(&m)),
                    ))
                }
            }
            ("ltm/pool" | "ltm/node", "monitor") => {
                let m = s(&v)?;
                if m.is_empty() || m == "none" || (key == "ltm/node" && m == "default") {
                    return Ok(m.into());
                }
                for name in monitor_names(&m) {
                    let f = full_path(name)?;
                    if self.find_monitor(&f).is_none() {
                        return Err(ApiError::bad(format!(
                            "01020036:3: The requested monitor ({f}) was not found."
                        )));
                    }
                }
                Ok(m.into())
            }
            ("ltm/virtual", "destination") => {
                let d = s(&v)?;
                let last = d.rsplit('/').next().unwrap_or(&d);
                let addr =
                    parse_addr_port(last).ok_or_else(|| bad_type("expected address:port"))?;
                if addr.port() == 0 {
                    return Err(ApiError::new(
                        501,
                        "fakedc: wildcard-port virtual servers (port 0) are not implemented.",
                    ));
                }
                if addr.ip() != ctx.lb_addr {
                    return Err(ApiError::bad(format!(
                        "01070333:3: Virtual Server {full} destination {addr}: this device only owns the address {} (its virtual addresses are that address).",
                        ctx.lb_addr
                    )));
                }
                let norm = format!("/{PARTITION}/{addr}");
                for (other, o) in self.all("ltm/virtual") {
                    if other != full && o.get("destination").and_then(Value::as_str) == Some(&norm)
                    {
                        return Err(ApiError::new(409, format!("01070333:3: Virtual Server {full} illegally shares both address and vlan with Virtual Server {other}.")));
                    }
                }
                Ok(norm.into())
            }
            ("ltm/virtual", "pool") => {
                let p = s(&v)?;
                if p.is_empty() || p == "none" {
                    return Ok(Value::Null);
                }
                let f = full_path(&p)?;
                if self.get("ltm/pool", &f).is_none() {
                    return Err(ApiError::bad(format!(
                        "01070226:3: Pool {f} does not exist."
                    )));
                }
                Ok(f.into())
            }
            ("ltm/virtual", "enabled" | "disabled") => match v {
                Value::Bool(_) => Ok(v),
                _ => Err(bad_type("expected true or false")),
            },
            ("ltm/virtual", "persist") => match &v {
                Value::Array(a) if a.is_empty() => Ok(v),
                Value::Null => Ok(v),
                // Source-address affinity, BIG-IP's `source_addr` profile.
                Value::Array(a)
                    if a.len() == 1
                        && a[0]
                            .get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|n| n == "source_addr" || n == "/Common/source_addr") =>
                {
                    Ok(json!([{"name": "source_addr", "partition": PARTITION, "tmDefault": "yes"}]))
                }
                _ => Err(ApiError::new(
                    501,
                    "fakedc: persistence profiles other than source_addr are not implemented.",
                )),
            },
            ("ltm/virtual", "rules") => {
                let items = match &v {
                    Value::Null => return Ok(Value::Null),
                    Value::Array(a) => a,
                    _ => return Err(bad_type("expected an array of rule names")),
                };
                if items.len() > MAX_RULES_PER_VIRTUAL {
                    return Err(bad_type("at most 32 rules"));
                }
                let mut out: Vec<Value> = Vec::new();
                for it in items {
                    let f = full_path(it.as_str().ok_or_else(|| bad_type("a rule is a name"))?)?;
                    if self.get("ltm/rule", &f).is_none() {
                        return Err(ApiError::bad(format!(
                            "01070151:3: Rule [{f}] error: the rule was not found."
                        )));
                    }
                    if !out.iter().any(|x| x.as_str() == Some(f.as_str())) {
                        out.push(f.into());
                    }
                }
                Ok(if out.is_empty() {
                    Value::Null
                } else {
                    Value::Array(out)
                })
            }
            ("ltm/rule", "apiAnonymous") => {
                let text = s(&v)?;
                let rule = irule::compile(&text, |p| {
                    full_path(p).is_ok_and(|f| self.get("ltm/pool", &f).is_some())
                })
                .map_err(|e| ApiError::bad(e.message(full)))?;
                if rule.has(irule::Event::HttpRequest) {
                    for (vs, o) in self.all("ltm/virtual") {
                        if self.virtual_rules(&o).iter().any(|r| r == full)
                            && self.virtual_profile(&o, "ltm/profile/http").is_none()
                        {
                            return Err(http_profile_needed(full, &vs));
                        }
                    }
                }
                Ok(text.into())
            }
            ("ltm/virtual", "profiles") => {
                let Value::Array(items) = v else {
                    return Err(bad_type("expected an array of profiles"));
                };
                if items.len() > 16 {
                    return Err(bad_type("at most 16 profiles"));
                }
                let mut out = Vec::new();
                for it in items {
                    let (name, context) = match &it {
                        Value::String(n) => (n.clone(), "all".to_string()),
                        Value::Object(o) => (
                            o.get("fullPath")
                                .or_else(|| o.get("name"))
                                .and_then(Value::as_str)
                                .ok_or_else(|| bad_type("a profile needs a name"))?
                                .to_string(),
                            o.get("context")
                                .and_then(Value::as_str)
                                .unwrap_or("all")
                                .to_string(),
                        ),
                        _ => return Err(bad_type("a profile is a name or an object")),
                    };
                    if !matches!(context.as_str(), "all" | "clientside" | "serverside") {
                        return Err(bad_type("context is all, clientside or serverside"));
                    }
                    let f = full_path(&name)?;
                    if self.find_profile(&f).is_none() {
                        // A kind fakedc does not build is not "missing".
                        let known = ["fastL4", "fasthttp", "oneconnect", "udp", "http2"];
                        if known.contains(&name_of(&f)) {
                            return Err(ApiError::new(
                                501,
                                format!("fakedc: profile {f} is not implemented (http, tcp, client-ssl and server-ssl profiles are)."),
                            ));
                        }
                        return Err(ApiError::bad(format!(
                            "01020036:3: The requested profile ({f}) was not found."
                        )));
                    }
                    out.push(json!({
                        "name": name_of(&f),
                        "partition": PARTITION,
                        "fullPath": f,
                        "context": context,
                    }));
                }
                Ok(Value::Array(out))
            }
            ("ltm/virtual", "sourceAddressTranslation") => {
                let Value::Object(o) = v else {
                    return Err(bad_type("expected an object with a type"));
                };
                match o.get("type").and_then(Value::as_str) {
                    Some(t @ ("none" | "automap")) => Ok(json!({"type": t})),
                    Some("snat") => {
                        let p = o
                            .get("pool")
                            .and_then(Value::as_str)
                            .ok_or_else(|| bad_type("type snat needs a pool"))?;
                        let f = full_path(p)?;
                        if self.get("ltm/snatpool", &f).is_none() {
                            return Err(ApiError::bad(format!(
                                "01020036:3: The requested SNAT Pool ({f}) was not found."
                            )));
                        }
                        Ok(json!({"type": "snat", "pool": f}))
                    }
                    Some(t) => Err(ApiError::new(
                        501,
                        format!(
                            "fakedc: sourceAddressTranslation type '{}' is not implemented (none, automap, snat).",
                            clip(t)
                        ),
                    )),
                    None => Err(bad_type("expected an object with a type")),
                }
            }
            ("ltm/snatpool", "members") => {
                let Value::Array(items) = v else {
                    return Err(bad_type("expected an array of addresses"));
                };
                if items.is_empty() || items.len() > 64 {
                    return Err(bad_type("a SNAT pool has 1 to 64 members"));
                }
                let mut out: Vec<Value> = Vec::new();
                for it in items {
                    let a = it
                        .as_str()
                        .or_else(|| it.get("name").and_then(Value::as_str))
                        .ok_or_else(|| bad_type("a member is an address"))?;
                    let ip: IpAddr = name_of(a)
                        .parse()
                        .map_err(|_| bad_type("a member is an address"))?;
                    if !ctx.snat_addresses.contains(&ip) {
                        return Err(ApiError::bad(format!(
                            "01070333:3: SNAT Pool {full} member {ip}: this device owns no such translation address (the scenario's snat_addresses: {}).",
                            ctx.snat_addresses
                                .iter()
                                .map(IpAddr::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                    let m = Value::from(format!("/{PARTITION}/{ip}"));
                    if !out.contains(&m) {
                        out.push(m);
                    }
                }
                Ok(Value::Array(out))
            }
            (k, "defaultsFrom") if k.starts_with("ltm/profile/") => {
                let d = full_path(&s(&v)?)?;
                if self.get(k, &d).is_none() {
                    return Err(ApiError::bad(format!(
                        "01020036:3: The requested parent profile ({d}) was not found."
                    )));
                }
                Ok(d.into())
            }
            ("ltm/profile/http", "acceptXff" | "insertXforwardedFor")
            | ("ltm/profile/tcp", "nagle")
            | ("ltm/profile/http", "redirectRewrite")
            | ("ltm/profile/tcp", "idleTimeout")
            | ("ltm/profile/client-ssl" | "ltm/profile/server-ssl", "ciphers")
            | ("ltm/profile/server-ssl", "peerCertMode") => {
                // What the proxy does is BIG-IP's default for these: a byte
                // stream (no header rewriting), Nagle off, the idle timeout
                // not enforced, rustls' cipher suites, no verification of
                // the member's certificate. Other values would change
                // traffic; they are not built.
                let default = spec(key)
                    .and_then(|sp| sp.props.iter().find(|(p, _)| *p == k))
                    .and_then(|(_, d)| d.value());
                let ok = Some(&v) == default.as_ref()
                    || (k == "nagle" && v.as_str() == Some("disabled"))
                    || (k == "idleTimeout" && as_u64(&v) == Some(300));
                if ok {
                    Ok(v)
                } else {
                    Err(ApiError::new(
                        501,
                        format!(
                            "fakedc: {k} {} on {key} is not implemented.",
                            clip(&v.to_string())
                        ),
                    ))
                }
            }
            ("ltm/profile/client-ssl", "cert" | "key" | "chain") => {
                let f = s(&v)?;
                let want = match k {
                    "cert" => Some(DEFAULT_CERT),
                    "key" => Some(DEFAULT_KEY),
                    _ => None,
                };
                if f == "none" && k == "chain"
                    || Some(full_path(&f).unwrap_or_default().as_str()) == want
                {
                    Ok(want.map_or(Value::from("none"), Value::from))
                } else {
                    Err(ApiError::bad(format!(
                        "01020036:3: The requested {} File ({}) was not found.",
                        if k == "key" { "Key" } else { "Certificate" },
                        clip(&f)
                    )))
                }
            }
            ("ltm/profile/client-ssl", "certKeyChain") => {
                let Value::Array(items) = v else {
                    return Err(bad_type("expected an array"));
                };
                if items.len() > 4 {
                    return Err(bad_type("at most 4 certificate chains"));
                }
                let mut out = Vec::new();
                for it in items {
                    let name = it.get("name").and_then(Value::as_str).unwrap_or("default");
                    check_name(name)?;
                    for (field, want) in [("cert", DEFAULT_CERT), ("key", DEFAULT_KEY)] {
                        let f = it.get(field).and_then(Value::as_str).unwrap_or(want);
                        if full_path(f).ok().as_deref() != Some(want) {
                            return Err(ApiError::bad(format!(
                                "01020036:3: The requested {} File ({}) was not found.",
                                if field == "key" { "Key" } else { "Certificate" },
                                clip(f)
                            )));
                        }
                    }
                    out.push(json!({"name": name, "cert": DEFAULT_CERT, "key": DEFAULT_KEY, "chain": "none"}));
                }
                Ok(Value::Array(out))
            }
            ("ltm/virtual", "ipProtocol") => {
                let p = s(&v)?;
                if p == "tcp" {
                    Ok(p.into())
                } else {
                    Err(ApiError::new(
                        501,
                        format!(
                            "fakedc: ipProtocol '{}' is not implemented (tcp).",
                            clip(&p)
                        ),
                    ))
                }
            }
            (_, _) => {
                if depth(&v) > 8 || v.to_string().len() > 16 * 1024 {
                    return Err(bad_type("value too large"));
                }
                Ok(v)
            }
        }
    }

    fn find_monitor(&self, full: &str) -> Option<(&'static str, Map<String, Value>)> {
        for (key, kind) in [
            ("ltm/monitor/http", "http"),
            ("ltm/monitor/https", "https"),
            ("ltm/monitor/tcp", "tcp"),
        ] {
            if let Some(o) = self.get(key, full) {
                return Some((kind, o));
            }
        }
        None
    }

    fn modify(
        &mut self,
        key: &'static str,
        full: &str,
        body: Map<String, Value>,
        replace: bool,
        ctx: &Ctx<'_>,
    ) -> Result<(), ApiError> {
        let sp = spec(key).ok_or_else(|| ApiError::not_registered(key))?;
        let Some(old) = self
            .config
            .objects
            .get(key)
            .and_then(|c| c.get(full))
            .cloned()
        else {
            if self.get(key, full).is_some() {
                return Err(ApiError::bad(format!(
                    "01070083:3: {} {full} is a default object and cannot be modified.",
                    sp.label
                )));
            }
            return Err(not_found(key, full));
        };
        for k in ["name", "partition"] {
            if let Some(v) = body.get(k) {
                if v != old.get(k).unwrap_or(&Value::Null) {
                    return Err(ApiError::bad(format!(
                        "01070734:3: Configuration error: the {k} of {full} cannot be changed."
                    )));
                }
            }
        }
        let mut obj = if replace {
            let mut o = Map::new();
            for k in ["name", "partition", "fullPath"] {
                if let Some(v) = old.get(k) {
                    o.insert(k.into(), v.clone());
                }
            }
            for (k, d) in sp.props {
                if let Some(v) = d.value() {
                    o.insert((*k).into(), v);
                }
            }
            if key == "ltm/virtual" {
                if let Some(d) = old.get("destination") {
                    o.insert("destination".into(), d.clone());
                }
            }
            o
        } else {
            old.clone()
        };
        if key == "ltm/virtual" && body.contains_key("enabled") {
            obj.remove("disabled");
        }
        if key == "ltm/virtual" && body.contains_key("disabled") {
            obj.remove("enabled");
        }
        self.apply(sp, full, &mut obj, body, ctx)?;
        if key == "ltm/virtual" {
            self.ensure_virtual_address(&obj)?;
        }
        let g = self.bump();
        obj.insert("generation".into(), g.into());
        self.config
            .objects
            .entry(key.into())
            .or_default()
            .insert(full.to_string(), obj);
        Ok(())
    }

    fn delete(&mut self, key: &'static str, full: &str) -> Result<(), ApiError> {
        let sp = spec(key).ok_or_else(|| ApiError::not_registered(key))?;
        if !self
            .config
            .objects
            .get(key)
            .is_some_and(|c| c.contains_key(full))
        {
            if self.get(key, full).is_some() {
                return Err(ApiError::bad(format!(
                    "01070083:3: {} {full} is a default object and cannot be deleted.",
                    sp.label
                )));
            }
            return Err(not_found(key, full));
        }
        match key {
            "ltm/pool" => {
                for (v, o) in self.all("ltm/virtual") {
                    if o.get("pool").and_then(Value::as_str) == Some(full) {
                        return Err(ApiError::bad(format!("01070265:3: The Pool ({full}) cannot be deleted because it is in use by a Virtual Server ({v}).")));
                    }
                }
                self.config.members.remove(full);
            }
            "ltm/rule" => {
                for (v, o) in self.all("ltm/virtual") {
                    if self.virtual_rules(&o).iter().any(|r| r == full) {
                        return Err(ApiError::bad(format!("01070621:3: Rule {full} cannot be deleted because it is in use by Virtual Server {v}.")));
                    }
                }
            }
            "ltm/node" => {
                for (pool, ms) in &self.config.members {
                    for m in ms.keys() {
                        let node = m.rsplit_once(':').map_or(m.as_str(), |(n, _)| n);
                        if node == full {
                            return Err(ApiError::bad(format!("01070110:3: Node address '{full}' is referenced by a member of pool '{pool}'.")));
                        }
                    }
                }
            }
            "ltm/virtual-address" => {
                let ip = name_of(full);
                for (v, o) in self.all("ltm/virtual") {
                    let d = o.get("destination").and_then(Value::as_str).unwrap_or("");
                    if d.rsplit('/')
                        .next()
                        .and_then(parse_addr_port)
                        .map(|a| a.ip().to_string())
                        == Some(ip.to_string())
                    {
                        return Err(ApiError::bad(format!("01070339:3: Cannot delete referenced virtual address {full} (used by {v}).")));
                    }
                }
            }
            k if k.starts_with("ltm/profile/") => {
                for (v, o) in self.all("ltm/virtual") {
                    let uses = o
                        .get("profiles")
                        .and_then(Value::as_array)
                        .is_some_and(|ps| {
                            ps.iter()
                                .any(|p| p.get("fullPath").and_then(Value::as_str) == Some(full))
                        });
                    if uses {
                        return Err(ApiError::bad(format!(
                            "01070083:3: Profile {full} is in use by Virtual Server {v}."
                        )));
                    }
                }
                for pk in PROFILE_KEYS {
                    for (p, o) in self.all(pk) {
                        if o.get("defaultsFrom").and_then(Value::as_str) == Some(full) {
                            return Err(ApiError::bad(format!(
                                "01070083:3: Profile {full} is the parent of profile {p}."
                            )));
                        }
                    }
                }
            }
            "ltm/snatpool" => {
                for (v, o) in self.all("ltm/virtual") {
                    let uses = o
                        .get("sourceAddressTranslation")
                        .and_then(|s| s.get("pool"))
                        .and_then(Value::as_str)
                        == Some(full);
                    if uses {
                        return Err(ApiError::bad(format!(
                            "01070083:3: SNAT Pool {full} is in use by Virtual Server {v}."
                        )));
                    }
                }
            }
            k if k.starts_with("ltm/monitor/") => {
                let uses = |m: Option<&Value>| {
                    m.and_then(Value::as_str).is_some_and(|s| {
                        monitor_names(s).any(|n| full_path(n).ok().as_deref() == Some(full))
                    })
                };
                for (p, o) in self.all("ltm/pool") {
                    if uses(o.get("monitor")) {
                        return Err(ApiError::bad(format!(
                            "01070083:3: Monitor {full} is in use by pool {p}."
                        )));
                    }
                }
                for ms in self.config.members.values() {
                    for (m, o) in ms {
                        if uses(o.get("monitor")) {
                            return Err(ApiError::bad(format!(
                                "01070083:3: Monitor {full} is in use by pool member {m}."
                            )));
                        }
                    }
                }
            }
            _ => {}
        }
        if let Some(c) = self.config.objects.get_mut(key) {
            c.remove(full);
        }
        self.bump();
        Ok(())
    }

    fn add_member(&mut self, pool: &str, body: Map<String, Value>) -> Result<String, ApiError> {
        let name = body
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad("\"name\" is required for a Pool Member."))?
            .to_string();
        if let Some(p) = body.get("partition") {
            if p.as_str() != Some(PARTITION) {
                return Err(ApiError::new(
                    404,
                    format!(
                        "01020036:3: The requested folder (/{}) was not found.",
                        clip(p.as_str().unwrap_or("?"))
                    ),
                ));
            }
        }
        let full = full_path(&name)?;
        let short = name_of(&full).to_string();
        let Some((node, port)) = short.rsplit_once(':').or_else(|| short.rsplit_once('.')) else {
            return Err(ApiError::bad(format!(
                "01070587:3: The requested pool member ({}) has no port; use node:port.",
                clip(&short)
            )));
        };
        let port: u16 = port.parse().map_err(|_| {
            ApiError::bad(format!(
                "01070587:3: Invalid port in pool member {}.",
                clip(&short)
            ))
        })?;
        if port == 0 {
            return Err(ApiError::new(
                501,
                "fakedc: wildcard-port pool members are not implemented.",
            ));
        }
        let node_full = format!("/{PARTITION}/{node}");
        let address = match body.get("address").and_then(Value::as_str) {
            Some(a) => {
                a.parse::<IpAddr>().map_err(|_| {
                    ApiError::bad(format!(
                        "01070734:3: Configuration error: invalid address '{}'.",
                        clip(a)
                    ))
                })?;
                a.to_string()
            }
            None => match node.parse::<IpAddr>() {
                Ok(ip) => ip.to_string(),
                Err(_) => match self
                    .get("ltm/node", &node_full)
                    .and_then(|n| n.get("address").and_then(Value::as_str).map(str::to_string))
                {
                    Some(a) => a,
                    None => return Err(ApiError::not_found("Node", &node_full)),
                },
            },
        };
        if self
            .config
            .members
            .get(pool)
            .is_some_and(|ms| ms.contains_key(&full))
        {
            return Err(ApiError::new(
                409,
                format!(
                    "01020066:3: The requested Pool Member ({pool} {node_full} {port}) already exists in partition {PARTITION}."
                ),
            ));
        }
        if self.config.members.get(pool).map_or(0, BTreeMap::len) >= MAX_OBJECTS {
            return Err(ApiError::bad(format!(
                "Too many members in {pool}: at most {MAX_OBJECTS}."
            )));
        }
        if self.config.objects.get("ltm/node").map_or(0, BTreeMap::len) >= MAX_OBJECTS
            && self.get("ltm/node", &node_full).is_none()
        {
            return Err(ApiError::bad(format!(
                "01070711:3: Too many objects in ltm/node: at most {MAX_OBJECTS}."
            )));
        }
        // A member of a new address creates its node, as BIG-IP does.
        match self.get("ltm/node", &node_full) {
            Some(n) => {
                if n.get("address").and_then(Value::as_str) != Some(address.as_str()) {
                    return Err(ApiError::bad(format!(
                        "01070734:3: Configuration error: node {node_full} has another address."
                    )));
                }
            }
            None => {
                let mut n = Map::new();
                n.insert("name".into(), node.into());
                n.insert("partition".into(), PARTITION.into());
                n.insert("fullPath".into(), node_full.clone().into());
                for (k, d) in spec("ltm/node").map_or(&[][..], |s| s.props) {
                    if let Some(v) = d.value() {
                        n.insert((*k).into(), v);
                    }
                }
                n.insert("address".into(), address.clone().into());
                n.insert("generation".into(), self.config.generation.into());
                self.config
                    .objects
                    .entry("ltm/node".into())
                    .or_default()
                    .insert(node_full, n);
            }
        }
        let mut m = Map::new();
        m.insert("name".into(), short.into());
        m.insert("partition".into(), PARTITION.into());
        m.insert("fullPath".into(), full.clone().into());
        for (k, d) in MEMBER_PROPS {
            if let Some(v) = d.value() {
                m.insert((*k).into(), v);
            }
        }
        m.insert("address".into(), address.into());
        self.member_props(&full, &mut m, body)?;
        m.insert("generation".into(), (self.config.generation + 1).into());
        self.config
            .members
            .entry(pool.to_string())
            .or_default()
            .insert(full.clone(), m);
        Ok(full)
    }

    fn member_props(
        &self,
        full: &str,
        m: &mut Map<String, Value>,
        body: Map<String, Value>,
    ) -> Result<(), ApiError> {
        for (k, v) in body {
            if matches!(k.as_str(), "name" | "partition" | "address")
                || READ_ONLY.contains(&k.as_str())
            {
                continue;
            }
            if !MEMBER_PROPS.iter().any(|(p, _)| *p == k) {
                return Err(ApiError::bad(format!(
                    "Found unexpected json pair at configuration item /ltm/pool/members/: '{}':{}",
                    clip(&k),
                    clip(&v.to_string())
                )));
            }
            let bad = || {
                ApiError::bad(format!(
                    "01070734:3: Configuration error: invalid value for '{k}' of pool member {full}."
                ))
            };
            match k.as_str() {
                "session" => match v.as_str() {
                    Some("user-enabled" | "user-disabled" | "monitor-enabled") => {
                        let s = if v.as_str() == Some("monitor-enabled") {
                            "user-enabled"
                        } else {
                            v.as_str().unwrap_or("user-enabled")
                        };
                        m.insert(k, s.into());
                    }
                    _ => return Err(bad()),
                },
                "state" => match v.as_str() {
                    Some("user-up" | "user-down") => {
                        m.insert(k, v);
                    }
                    // A GET's body sent back carries the computed state.
                    Some("up" | "down" | "unchecked" | "checking") => {}
                    _ => return Err(bad()),
                },
                "monitor" => {
                    let s = v.as_str().ok_or_else(bad)?;
                    if !(s.is_empty() || s == "default" || s == "none") {
                        for name in monitor_names(s) {
                            let f = full_path(name)?;
                            if self.find_monitor(&f).is_none() {
                                return Err(ApiError::bad(format!(
                                    "01020036:3: The requested monitor ({f}) was not found."
                                )));
                            }
                        }
                    }
                    m.insert(k, v);
                }
                _ => {
                    if depth(&v) > 8 || v.to_string().len() > 16 * 1024 {
                        return Err(bad());
                    }
                    m.insert(k, v);
                }
            }
        }
        Ok(())
    }

    fn modify_member(
        &mut self,
        pool: &str,
        full: &str,
        body: Map<String, Value>,
        replace: bool,
    ) -> Result<(), ApiError> {
        let old = self.member(pool, full)?;
        if let Some(a) = body.get("address") {
            if Some(a) != old.get("address") {
                return Err(ApiError::bad(format!(
                    "01070734:3: Configuration error: the address of pool member {full} cannot be changed."
                )));
            }
        }
        let mut m = if replace {
            let mut o = Map::new();
            for k in ["name", "partition", "fullPath", "address"] {
                if let Some(v) = old.get(k) {
                    o.insert(k.into(), v.clone());
                }
            }
            for (k, d) in MEMBER_PROPS {
                if let (Some(v), false) = (d.value(), o.contains_key(*k)) {
                    o.insert((*k).into(), v);
                }
            }
            o
        } else {
            old
        };
        self.member_props(full, &mut m, body)?;
        m.insert("generation".into(), (self.config.generation + 1).into());
        if let Some(ms) = self.config.members.get_mut(pool) {
            ms.insert(full.to_string(), m);
        }
        Ok(())
    }

    fn render(
        &self,
        key: &str,
        full: &str,
        o: &Map<String, Value>,
        q: &Query,
        ctx: &Ctx<'_>,
    ) -> Value {
        let kind = spec(key).map_or("", |s| s.kind);
        let mut out = Map::new();
        out.insert("kind".into(), kind.into());
        for (k, v) in o {
            out.insert(k.clone(), v.clone());
        }
        let path = format!("{key}/{}", tilde(full));
        out.insert("selfLink".into(), link(&path).into());
        if !out.contains_key("generation") {
            out.insert("generation".into(), 0.into());
        }
        match key {
            "ltm/pool" => {
                let mut r = Map::new();
                r.insert("link".into(), link(&format!("{path}/members")).into());
                r.insert("isSubcollection".into(), true.into());
                if q.expand {
                    let items: Vec<Value> = self
                        .config
                        .members
                        .get(full)
                        .map(|ms| {
                            ms.keys()
                                .map(|m| self.render_member(full, m, &Query::default(), ctx))
                                .collect()
                        })
                        .unwrap_or_default();
                    r.insert("items".into(), items.into());
                }
                out.insert("membersReference".into(), r.into());
            }
            "ltm/virtual" => {
                if let Some(p) = o.get("pool").and_then(Value::as_str) {
                    out.insert(
                        "poolReference".into(),
                        json!({"link": link(&format!("ltm/pool/{}", tilde(p)))}),
                    );
                }
                out.insert(
                    "profilesReference".into(),
                    json!({"link": link(&format!("{path}/profiles")), "isSubcollection": true}),
                );
            }
            _ => {}
        }
        Value::Object(out)
    }

    fn render_member(&self, pool: &str, m: &str, q: &Query, ctx: &Ctx<'_>) -> Value {
        let Some(o) = self.config.members.get(pool).and_then(|ms| ms.get(m)) else {
            return Value::Null;
        };
        let st = ctx.status.member(pool, m);
        let mut out = Map::new();
        out.insert("kind".into(), "tm:ltm:pool:members:membersstate".into());
        for (k, v) in o {
            out.insert(k.clone(), v.clone());
        }
        let user_down = o.get("state").and_then(Value::as_str) == Some("user-down");
        let user_disabled = o.get("session").and_then(Value::as_str) == Some("user-disabled");
        let state = if user_down {
            "user-down"
        } else {
            match (st.monitored, st.up) {
                (false, _) => "unchecked",
                (true, Some(true)) => "up",
                (true, Some(false)) => "down",
                (true, None) => "checking",
            }
        };
        out.insert("state".into(), state.into());
        let session = if user_disabled {
            "user-disabled"
        } else if st.monitored {
            "monitor-enabled"
        } else {
            "user-enabled"
        };
        out.insert("session".into(), session.into());
        out.insert(
            "selfLink".into(),
            link(&format!("ltm/pool/{}/members/{}", tilde(pool), tilde(m))).into(),
        );
        select(Value::Object(out), q)
    }

    fn collection(&self, key: &str, q: &Query, ctx: &Ctx<'_>) -> Value {
        let kind = spec(key).map_or(String::new(), |s| {
            s.kind.replace("state", "collectionstate")
        });
        let items: Vec<Value> = self
            .all(key)
            .into_iter()
            .filter(|(_, o)| {
                q.filter_partition
                    .as_deref()
                    .is_none_or(|p| o.get("partition").and_then(Value::as_str) == Some(p))
            })
            .skip(q.skip)
            .take(q.top.unwrap_or(usize::MAX))
            .map(|(full, o)| select(self.render(key, &full, &o, q, ctx), q))
            .collect();
        json!({"kind": kind, "selfLink": link(key), "items": items})
    }

    fn members_collection(&self, pool: &str, q: &Query, ctx: &Ctx<'_>) -> Value {
        let items: Vec<Value> = self
            .config
            .members
            .get(pool)
            .map(|ms| {
                ms.keys()
                    .skip(q.skip)
                    .take(q.top.unwrap_or(usize::MAX))
                    .map(|m| self.render_member(pool, m, q, ctx))
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "kind": "tm:ltm:pool:members:memberscollectionstate",
            "selfLink": link(&format!("ltm/pool/{}/members", tilde(pool))),
            "items": items,
        })
    }

    fn member_entries(&self, pool: &str, m: &str, ctx: &Ctx<'_>) -> Value {
        let o = self
            .config
            .members
            .get(pool)
            .and_then(|ms| ms.get(m))
            .cloned()
            .unwrap_or_default();
        let st = ctx.status.member(pool, m);
        let user_down = o.get("state").and_then(Value::as_str) == Some("user-down");
        let user_disabled = o.get("session").and_then(Value::as_str) == Some("user-disabled");
        let (monitor, avail, reason) = if user_down {
            ("user-down", "offline", "Forced down")
        } else {
            match (st.monitored, st.up) {
                (false, _) => (
                    "unchecked",
                    "unknown",
                    "Pool member does not have service checking enabled",
                ),
                (true, Some(true)) => ("up", "available", "Pool member is available"),
                (true, Some(false)) => (
                    "down",
                    "offline",
                    "Pool member has been marked down by a monitor",
                ),
                (true, None) => ("checking", "unknown", "Pool member is being checked"),
            }
        };
        let short = name_of(m);
        let port = short.rsplit_once(':').map_or("0", |(_, p)| p);
        let node = short.rsplit_once(':').map_or(short, |(n, _)| n);
        json!({"nestedStats": {"entries": {
            "addr": {"description": o.get("address").and_then(Value::as_str).unwrap_or("")},
            "port": {"value": port.parse::<u64>().unwrap_or(0)},
            "nodeName": {"description": format!("/{PARTITION}/{node}")},
            "poolName": {"description": pool},
            "monitorStatus": {"description": monitor},
            "monitorRule": {"description": if st.monitored { "monitored" } else { "none" }},
            "status.availabilityState": {"description": avail},
            "status.enabledState": {"description": if user_disabled { "disabled" } else { "enabled" }},
            "status.statusReason": {"description": reason},
            "serverside.curConns": {"value": st.cur_conns},
            "serverside.totConns": {"value": st.tot_conns},
            "serverside.bitsIn": {"value": st.bytes_in.saturating_mul(8)},
            "serverside.bitsOut": {"value": st.bytes_out.saturating_mul(8)},
            "curSessions": {"value": st.cur_conns},
            "totRequests": {"value": st.tot_conns},
            "sessionStatus": {"description": if user_disabled { "user-disabled" } else { "enabled" }},
        }}})
    }

    fn member_stats(&self, pool: &str, m: &str, ctx: &Ctx<'_>) -> Value {
        let path = format!("ltm/pool/{}/members/{}", tilde(pool), tilde(m));
        let mut entries = Map::new();
        entries.insert(
            format!("https://localhost/mgmt/tm/{path}/stats"),
            self.member_entries(pool, m, ctx),
        );
        json!({
            "kind": "tm:ltm:pool:members:membersstats",
            "selfLink": link(&format!("{path}/stats")),
            "entries": entries,
        })
    }

    fn members_stats(&self, pool: &str, ctx: &Ctx<'_>) -> Value {
        let base = format!("ltm/pool/{}/members", tilde(pool));
        let mut entries = Map::new();
        for m in self
            .config
            .members
            .get(pool)
            .map(|ms| ms.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            entries.insert(
                format!("https://localhost/mgmt/tm/{base}/{}/stats", tilde(&m)),
                self.member_entries(pool, &m, ctx),
            );
        }
        json!({
            "kind": "tm:ltm:pool:members:memberscollectionstats",
            "selfLink": link(&format!("{base}/stats")),
            "entries": entries,
        })
    }

    fn stats(&self, key: &str, full: &str, ctx: &Ctx<'_>) -> Value {
        let path = format!("{key}/{}", tilde(full));
        let inner = match key {
            "ltm/pool" => {
                let ms: Vec<String> = self
                    .config
                    .members
                    .get(full)
                    .map(|ms| ms.keys().cloned().collect())
                    .unwrap_or_default();
                let sts: Vec<MemberStatus> =
                    ms.iter().map(|m| ctx.status.member(full, m)).collect();
                let active = sts
                    .iter()
                    .filter(|s| !s.monitored || s.up == Some(true))
                    .count();
                let (cur, tot, bi, bo) = sts.iter().fold((0, 0, 0, 0), |a, s| {
                    (
                        a.0 + s.cur_conns,
                        a.1 + s.tot_conns,
                        a.2 + s.bytes_in,
                        a.3 + s.bytes_out,
                    )
                });
                let monitored = sts.iter().any(|s| s.monitored);
                let (avail, reason) = if ms.is_empty() {
                    ("unknown", "The children pool member(s) either don't have service checking enabled, or service check results are not available yet")
                } else if active > 0 && monitored {
                    ("available", "The pool is available")
                } else if monitored {
                    ("offline", "The children pool member(s) are down")
                } else {
                    ("unknown", "The children pool member(s) either don't have service checking enabled, or service check results are not available yet")
                };
                json!({
                    "activeMemberCnt": {"value": active},
                    "memberCnt": {"value": ms.len()},
                    "availableMemberCnt": {"value": active},
                    "serverside.curConns": {"value": cur},
                    "serverside.totConns": {"value": tot},
                    "serverside.bitsIn": {"value": bi.saturating_mul(8)},
                    "serverside.bitsOut": {"value": bo.saturating_mul(8)},
                    "status.availabilityState": {"description": avail},
                    "status.enabledState": {"description": "enabled"},
                    "status.statusReason": {"description": reason},
                    "tmName": {"description": full},
                })
            }
            "ltm/virtual" => {
                let (cur, tot, bi, bo) = ctx.status.virtual_server(full);
                let o = self.get(key, full).unwrap_or_default();
                let enabled = o.get("disabled") != Some(&Value::Bool(true));
                json!({
                    "clientside.curConns": {"value": cur},
                    "clientside.totConns": {"value": tot},
                    "clientside.bitsIn": {"value": bi.saturating_mul(8)},
                    "clientside.bitsOut": {"value": bo.saturating_mul(8)},
                    "destination": {"description": o.get("destination").and_then(Value::as_str).unwrap_or("")},
                    "status.availabilityState": {"description": if enabled { "available" } else { "offline" }},
                    "status.enabledState": {"description": if enabled { "enabled" } else { "disabled" }},
                    "tmName": {"description": full},
                })
            }
            _ => json!({"tmName": {"description": full}}),
        };
        let mut entries = Map::new();
        entries.insert(
            format!("https://localhost/mgmt/tm/{path}/{}/stats", tilde(full)),
            json!({"nestedStats": {"entries": inner}}),
        );
        let kind = spec(key).map_or(String::new(), |s| s.kind.replace("state", "stats"));
        json!({"kind": kind, "selfLink": link(&format!("{path}/stats")), "entries": entries})
    }

    /// The virtual servers to listen for.
    pub fn virtuals(&self) -> Vec<VirtualDef> {
        self.all("ltm/virtual")
            .into_iter()
            .filter_map(|(full, o)| {
                let d = o.get("destination").and_then(Value::as_str)?;
                let destination = parse_addr_port(d.rsplit('/').next()?)?;
                Some(VirtualDef {
                    full,
                    destination,
                    pool: o.get("pool").and_then(Value::as_str).map(str::to_string),
                    enabled: o.get("disabled") != Some(&Value::Bool(true)),
                    persist: o
                        .get("persist")
                        .and_then(Value::as_array)
                        .is_some_and(|a| !a.is_empty()),
                    client_ssl: self.virtual_profile(&o, "ltm/profile/client-ssl").is_some(),
                    server_ssl: self.virtual_profile(&o, "ltm/profile/server-ssl").map(|p| {
                        p.get("serverName")
                            .and_then(Value::as_str)
                            .filter(|n| *n != "none" && !n.is_empty())
                            .map(str::to_string)
                    }),
                    snat: self.snat_of(&o),
                    rules: self
                        .virtual_rules(&o)
                        .into_iter()
                        .filter_map(|r| {
                            let text = self.get("ltm/rule", &r)?;
                            let text = text.get("apiAnonymous")?.as_str()?.to_string();
                            Some((r, text))
                        })
                        .collect(),
                })
            })
            .collect()
    }

    /// The rules (full paths) a virtual server's `rules` names, in order.
    fn virtual_rules(&self, v: &Map<String, Value>) -> Vec<String> {
        v.get("rules")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The profile of collection `key` a virtual server's `profiles` names.
    fn virtual_profile(&self, v: &Map<String, Value>, key: &str) -> Option<Map<String, Value>> {
        v.get("profiles")?
            .as_array()?
            .iter()
            .filter_map(|p| p.get("fullPath").and_then(Value::as_str))
            .find_map(|f| self.get(key, f))
    }

    /// A virtual server's translation addresses: its SNAT pool's members.
    fn snat_of(&self, v: &Map<String, Value>) -> Vec<IpAddr> {
        let Some(sat) = v.get("sourceAddressTranslation") else {
            return Vec::new();
        };
        if sat.get("type").and_then(Value::as_str) != Some("snat") {
            return Vec::new();
        }
        sat.get("pool")
            .and_then(Value::as_str)
            .and_then(|p| self.get("ltm/snatpool", p))
            .and_then(|o| o.get("members").cloned())
            .and_then(|m| m.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|m| name_of(m).parse().ok())
            .collect()
    }

    /// A profile of any kind by full path: (collection, properties).
    fn find_profile(&self, full: &str) -> Option<(&'static str, Map<String, Value>)> {
        PROFILE_KEYS
            .iter()
            .find_map(|k| self.get(k, full).map(|o| (*k, o)))
    }

    /// A pool's load-balancing mode.
    pub fn lb_mode(&self, pool: &str) -> String {
        self.get("ltm/pool", pool)
            .and_then(|p| {
                p.get("loadBalancingMode")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "round-robin".into())
    }

    /// A pool's members with their monitors resolved (member's own, else
    /// the pool's).
    pub fn pool_members(&self, pool: &str) -> Vec<MemberDef> {
        let pool_mon = self
            .get("ltm/pool", pool)
            .and_then(|p| p.get("monitor").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        let Some(ms) = self.config.members.get(pool) else {
            return Vec::new();
        };
        ms.iter()
            .filter_map(|(full, o)| {
                let ip: IpAddr = o.get("address")?.as_str()?.parse().ok()?;
                let port: u16 = name_of(full).rsplit_once(':')?.1.parse().ok()?;
                let own = o
                    .get("monitor")
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                let spec = if own.is_empty() || own == "default" {
                    pool_mon.as_str()
                } else {
                    own
                };
                let monitors = if spec.is_empty() || spec == "none" {
                    Vec::new()
                } else {
                    monitor_names(spec)
                        .filter_map(|n| {
                            let f = full_path(n).ok()?;
                            let (kind, m) = self.find_monitor(&f)?;
                            Some(MonitorDef {
                                full: f,
                                kind,
                                interval_s: m.get("interval").and_then(as_u64).unwrap_or(5).max(1),
                                timeout_s: m.get("timeout").and_then(as_u64).unwrap_or(16),
                                send: m.get("send").and_then(Value::as_str).map(unescape),
                                recv: m
                                    .get("recv")
                                    .and_then(Value::as_str)
                                    .filter(|s| !s.is_empty())
                                    .map(str::to_string),
                                destination: m
                                    .get("destination")
                                    .and_then(Value::as_str)
                                    .unwrap_or("*:*")
                                    .to_string(),
                            })
                        })
                        .collect()
                };
                Some(MemberDef {
                    full: full.clone(),
                    addr: SocketAddr::new(ip, port),
                    enabled: o.get("state").and_then(Value::as_str) != Some("user-down")
                        && o.get("session").and_then(Value::as_str) != Some("user-disabled"),
                    monitors,
                })
            })
            .collect()
    }

    /// Every pool's full path.
    pub fn pools(&self) -> Vec<String> {
        self.all("ltm/pool").into_iter().map(|(f, _)| f).collect()
    }
}

/// `/mgmt/tm/transaction` and below.
fn is_transaction_path(path: &str) -> bool {
    let p = path.trim_end_matches('/');
    p == "/mgmt/tm/transaction" || p.starts_with("/mgmt/tm/transaction/")
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The monitor names in a pool's `monitor` rule (`/Common/http`,
/// `/Common/a and /Common/b`, `min 1 of { /Common/a /Common/b }`).
fn monitor_names(rule: &str) -> impl Iterator<Item = &str> {
    rule.split_whitespace()
        .filter(|w| !matches!(*w, "and" | "min" | "of" | "{" | "}") && w.parse::<u64>().is_err())
        .take(16)
}

/// BIG-IP's refusal of an HTTP event without an HTTP profile.
fn http_profile_needed(rule: &str, virtual_server: &str) -> ApiError {
    ApiError::bad(format!(
        "01070394:3: HTTP_REQUEST event in rule ({rule}) requires an associated HTTP or FASTHTTP profile on the virtual-server ({virtual_server})."
    ))
}

fn not_found(key: &str, full: &str) -> ApiError {
    let label = if key.starts_with("ltm/monitor/") {
        "monitor"
    } else {
        spec(key).map_or("object", |s| s.label)
    };
    ApiError::not_found(label, full)
}

fn only_get(req: Request<'_>, what: &str) -> Result<(), ApiError> {
    if req.method == "GET" {
        Ok(())
    } else {
        Err(ApiError::new(
            405,
            format!("Method {} is not supported on {what}.", clip(req.method)),
        ))
    }
}

fn select(v: Value, q: &Query) -> Value {
    let (Some(sel), Value::Object(o)) = (&q.select, &v) else {
        return v;
    };
    let mut out = Map::new();
    for k in sel {
        if let Some(x) = o.get(k) {
            out.insert(k.clone(), x.clone());
        }
    }
    Value::Object(out)
}

fn sys_collection() -> Value {
    let items: Vec<Value> = ["version", "provision", "global-settings", "db"]
        .iter()
        .map(|n| json!({"reference": {"link": link(&format!("sys/{n}"))}}))
        .collect();
    json!({"kind": "tm:sys:syscollectionstate", "selfLink": link("sys"), "items": items})
}

fn ltm_collection() -> Value {
    let items: Vec<Value> = [
        "node",
        "pool",
        "virtual",
        "virtual-address",
        "monitor",
        "profile",
        "snatpool",
        "rule",
    ]
    .iter()
    .map(|n| json!({"reference": {"link": link(&format!("ltm/{n}"))}}))
    .collect();
    json!({"kind": "tm:ltm:ltmcollectionstate", "selfLink": link("ltm"), "items": items})
}

fn sys_version() -> Value {
    json!({
        "kind": "tm:sys:version:versionstats",
        "selfLink": link("sys/version"),
        "entries": {
            "https://localhost/mgmt/tm/sys/version/0": {"nestedStats": {"entries": {
                "Build": {"description": "0.0.6"},
                "Date": {"description": "Fri Feb 17 10:15:18 PST 2023"},
                "Edition": {"description": "Final"},
                "Product": {"description": "BIG-IP"},
                "Title": {"description": "Main Package"},
                "Version": {"description": VERSION},
            }}}
        }
    })
}

fn sys_provision() -> Value {
    let items: Vec<Value> = [
        "afm", "am", "apm", "asm", "avr", "dos", "fps", "gtm", "ilx", "lc", "ltm", "pem", "swg",
        "urldb",
    ]
    .iter()
    .map(|n| {
        json!({
            "kind": "tm:sys:provision:provisionstate",
            "name": n,
            "fullPath": n,
            "generation": 1,
            "selfLink": link(&format!("sys/provision/{n}")),
            "cpuRatio": 0, "diskRatio": 0, "memoryRatio": 0,
            "level": if *n == "ltm" { "nominal" } else { "none" },
        })
    })
    .collect();
    json!({"kind": "tm:sys:provision:provisioncollectionstate", "selfLink": link("sys/provision"), "items": items})
}

fn cm_device(ctx: &Ctx<'_>) -> Value {
    json!({
        "kind": "tm:cm:device:devicecollectionstate",
        "selfLink": link("cm/device"),
        "items": [{
            "kind": "tm:cm:device:devicestate",
            "name": ctx.hostname,
            "partition": PARTITION,
            "fullPath": format!("/{PARTITION}/{}", ctx.hostname),
            "generation": 1,
            "selfLink": link(&format!("cm/device/~{PARTITION}~{}", ctx.hostname)),
            "hostname": ctx.hostname,
            "managementIp": ctx.lb_addr.to_string(),
            "product": "BIG-IP",
            "version": VERSION,
            "build": "0.0.6",
            "edition": "Final",
            "failoverState": "active",
            "platformId": "Z100",
            "marketingName": "BIG-IP Virtual Edition",
            "selfDevice": "true",
        }]
    })
}

fn device_info(ctx: &Ctx<'_>) -> Value {
    json!({
        "kind": "shared:resolver:device-groups:deviceinfostate",
        "selfLink": "https://localhost/mgmt/shared/identified-devices/config/device-info",
        "hostname": ctx.hostname,
        "machineId": "fakedc-lb",
        "address": ctx.lb_addr.to_string(),
        "product": "BIG-IP",
        "platform": "Z100",
        "edition": "Final",
        "version": VERSION,
        "build": "0.0.6",
        "restFrameworkVersion": format!("{VERSION}-0.0.6"),
        "isClustered": false,
        "isVirtual": true,
        "generation": 0,
        "lastUpdateMicros": 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNAT: [IpAddr; 1] = [IpAddr::V4(std::net::Ipv4Addr::new(127, 10, 0, 43))];

    fn ctx() -> Ctx<'static> {
        Ctx {
            lb_addr: "127.10.0.42"
                .parse()
                .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
            hostname: "lb01.contoso.test",
            status: &NoStatus,
            now_us: 1_700_000_000_000_000,
            snat_addresses: &SNAT,
        }
    }

    fn call(api: &mut Api, method: &str, path: &str, body: &str) -> Response {
        let (p, q) = path.split_once('?').unwrap_or((path, ""));
        api.handle(
            Request {
                method,
                path: p,
                query: q,
                body: body.as_bytes(),
                coordination: None,
            },
            &ctx(),
        )
    }

    #[test]
    fn pool_members_virtual_round_trip() {
        let mut api = Api::new(Config::default());
        let r = call(
            &mut api,
            "POST",
            "/mgmt/tm/ltm/pool",
            r#"{"name":"web_pool","monitor":"/Common/http","partition":"Common"}"#,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["kind"], "tm:ltm:pool:poolstate");
        assert_eq!(
            r.body["selfLink"],
            "https://localhost/mgmt/tm/ltm/pool/~Common~web_pool?ver=17.1.0"
        );
        let r = call(
            &mut api,
            "POST",
            "/mgmt/tm/ltm/pool/~Common~web_pool/members",
            r#"{"name":"127.10.0.21:80"}"#,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["address"], "127.10.0.21");
        let r = call(&mut api, "GET", "/mgmt/tm/ltm/node/~Common~127.10.0.21", "");
        assert_eq!(r.status, 200, "node made with the member: {}", r.body);
        let r = call(
            &mut api,
            "POST",
            "/mgmt/tm/ltm/virtual",
            r#"{"name":"vs","destination":"/Common/127.10.0.42:80","pool":"web_pool"}"#,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(api.virtuals().len(), 1);
        let ms = api.pool_members("/Common/web_pool");
        assert_eq!(ms.len(), 1);
        assert_eq!(ms[0].monitors[0].send.as_deref(), Some("GET /\r\n"));
        let r = call(&mut api, "DELETE", "/mgmt/tm/ltm/pool/~Common~web_pool", "");
        assert_eq!(r.status, 400, "in use: {}", r.body);
        let r = call(&mut api, "GET", "/mgmt/tm/ltm/pool/~Common~nope", "");
        assert_eq!(r.status, 404);
        assert_eq!(
            r.body["message"],
            "01020036:3: The requested Pool (/Common/nope) was not found."
        );
        assert_eq!(r.body["errorStack"], json!([]));
    }

    #[test]
    fn hostile_ids_and_bodies() {
        let mut api = Api::new(Config::default());
        for p in [
            "/mgmt/tm/ltm/pool/~Common~..",
            "/mgmt/tm/ltm/pool/~Common~a%2f..",
            "/mgmt/tm/ltm/pool/~Other~x",
            "/mgmt/tm/ltm/pool//x",
            "/mgmt/tm/ltm/../sys",
        ] {
            let r = call(&mut api, "GET", p, "");
            assert!(r.status == 400 || r.status == 404, "{p}: {}", r.body);
            assert!(r.body["message"].is_string());
        }
        for b in [
            "{",
            "[]",
            "{\"name\":1}",
            "{\"name\":\"../x\"}",
            "{\"name\":\"a\",\"bogus\":1}",
        ] {
            let r = call(&mut api, "POST", "/mgmt/tm/ltm/pool", b);
            assert_eq!(r.status, 400, "{b}: {}", r.body);
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        let r = call(
            &mut api,
            "POST",
            "/mgmt/tm/ltm/pool",
            &format!("{{\"name\":\"a\",\"description\":{deep}}}"),
        );
        assert_eq!(r.status, 400);
    }

    fn in_tx(api: &mut Api, tx: &str, method: &str, path: &str, body: &str) -> Response {
        api.handle(
            Request {
                method,
                path,
                query: "",
                body: body.as_bytes(),
                coordination: Some(tx),
            },
            &ctx(),
        )
    }

    #[test]
    fn transaction_runs_all_or_nothing() {
        let mut api = Api::new(Config::default());
        let t = call(&mut api, "POST", "/mgmt/tm/transaction", "{}");
        assert_eq!(t.status, 200, "{}", t.body);
        assert_eq!(t.body["kind"], "tm:transactionstate");
        assert_eq!(t.body["state"], "STARTED");
        let id = t.body["transId"].as_u64().unwrap_or_default().to_string();
        // The virtual server names a pool a later command creates: runs
        // fine once reordered.
        let v = in_tx(
            &mut api,
            &id,
            "POST",
            "/mgmt/tm/ltm/virtual",
            r#"{"name":"vs","destination":"/Common/127.10.0.42:80","pool":"/Common/tp"}"#,
        );
        assert_eq!(v.status, 200, "{}", v.body);
        assert_eq!(v.body["kind"], "tm:transaction:commandsstate");
        assert_eq!(v.body["name"], "vs");
        let p = in_tx(
            &mut api,
            &id,
            "POST",
            "/mgmt/tm/ltm/pool",
            r#"{"name":"tp","members":["127.10.0.21:80"]}"#,
        );
        assert_eq!(p.body["commandId"], 2);
        // Queued, not applied.
        assert_eq!(
            call(&mut api, "GET", "/mgmt/tm/ltm/pool/~Common~tp", "").status,
            404
        );
        // In this order the virtual server fails: nothing is applied.
        let tx = format!("/mgmt/tm/transaction/{id}");
        let r = call(
            &mut api,
            "PATCH",
            &tx,
            r#"{"state":"VALIDATING","validateOnly":true}"#,
        );
        assert_eq!(r.status, 400, "{}", r.body);
        let msg = r.body["message"].as_str().unwrap_or_default();
        assert!(
            msg.starts_with("transaction failed:01070226:3: Pool /Common/tp"),
            "{msg}"
        );
        assert_eq!(
            call(&mut api, "GET", "/mgmt/tm/ltm/pool/~Common~tp", "").status,
            404
        );
        assert_eq!(call(&mut api, "GET", &tx, "").body["state"], "STARTED");
        // Move the pool first, then commit.
        let m = call(
            &mut api,
            "PATCH",
            &format!("{tx}/commands/2"),
            r#"{"evalOrder":1}"#,
        );
        assert_eq!(m.status, 200, "{}", m.body);
        let list = call(&mut api, "GET", &format!("{tx}/commands"), "");
        assert_eq!(list.body["items"][0]["commandId"], 2, "{}", list.body);
        assert_eq!(list.body["items"][0]["method"], "POST");
        let r = call(&mut api, "PATCH", &tx, r#"{"state":"VALIDATING"}"#);
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.changed);
        assert_eq!(r.body["state"], "COMPLETED");
        assert_eq!(
            call(&mut api, "GET", "/mgmt/tm/ltm/virtual/~Common~vs", "").status,
            200
        );
        // A finished transaction takes no more commands.
        let late = in_tx(
            &mut api,
            &id,
            "DELETE",
            "/mgmt/tm/ltm/virtual/~Common~vs",
            "",
        );
        assert_eq!(late.status, 400, "{}", late.body);
        // Unknown ids, bad bodies and routes are F5 errors at queue time.
        assert_eq!(
            in_tx(&mut api, "999", "POST", "/mgmt/tm/ltm/pool", "{}").status,
            404
        );
        let t2 = call(&mut api, "POST", "/mgmt/tm/transaction", "{}");
        let id2 = t2.body["transId"].as_u64().unwrap_or_default().to_string();
        assert_eq!(
            in_tx(&mut api, &id2, "POST", "/mgmt/tm/ltm/pool", "{").status,
            400
        );
        assert_eq!(
            in_tx(&mut api, &id2, "POST", "/mgmt/tm/ltm/bogus", "{}").status,
            404
        );
        assert_eq!(
            in_tx(
                &mut api,
                &id2,
                "POST",
                "/mgmt/tm/ltm/persistence/cookie",
                "{}"
            )
            .status,
            501
        );
        // An empty transaction does not run.
        let r = call(
            &mut api,
            "PATCH",
            &format!("/mgmt/tm/transaction/{id2}"),
            r#"{"state":"VALIDATING"}"#,
        );
        assert_eq!(r.status, 400);
        assert_eq!(
            call(
                &mut api,
                "DELETE",
                &format!("/mgmt/tm/transaction/{id2}"),
                ""
            )
            .status,
            200
        );
        assert_eq!(
            call(&mut api, "GET", &format!("/mgmt/tm/transaction/{id2}"), "").status,
            404
        );
    }

    #[test]
    fn rules_are_validated_stored_attached_and_guarded() {
        let mut api = Api::new(Config::default());
        let ok = |r: Response| {
            assert_eq!(r.status, 200, "{}", r.body);
            r.body
        };
        ok(call(
            &mut api,
            "POST",
            "/mgmt/tm/ltm/pool",
            r#"{"name":"p"}"#,
        ));
        let text = "when HTTP_REQUEST {\n  if { [HTTP::uri] starts_with \"/a\" } { pool p }\n}";
        let body = json!({"name": "r", "apiAnonymous": text}).to_string();
        let r = ok(call(&mut api, "POST", "/mgmt/tm/ltm/rule", &body));
        assert_eq!(r["kind"], "tm:ltm:rule:rulestate");
        assert_eq!(r["apiAnonymous"], text);
        let list = ok(call(&mut api, "GET", "/mgmt/tm/ltm/rule", ""));
        assert_eq!(list["kind"], "tm:ltm:rule:rulecollectionstate");
        // Outside the subset: refused, naming the command and line.
        let bad = json!({"name": "b", "apiAnonymous": "when HTTP_REQUEST {\n  TCP::collect\n}"});
        let r = call(&mut api, "POST", "/mgmt/tm/ltm/rule", &bad.to_string());
        assert_eq!(r.status, 400);
        assert_eq!(
            r.body["message"],
            "01070151:3: Rule [/Common/b] error: /Common/b:2: error: [command not implemented by fakedc: TCP::collect][TCP::collect]"
        );
        assert_eq!(
            call(&mut api, "GET", "/mgmt/tm/ltm/rule/~Common~b", "").status,
            404
        );
        // HTTP_REQUEST needs an HTTP profile on the virtual server.
        let vs = r#"{"name":"v","destination":"/Common/127.10.0.42:80","pool":"/Common/p","rules":["r"]}"#;
        let r = call(&mut api, "POST", "/mgmt/tm/ltm/virtual", vs);
        assert_eq!(r.status, 400);
        assert!(
            r.body["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("01070394:3:"),
            "{}",
            r.body
        );
        let vs = r#"{"name":"v","destination":"/Common/127.10.0.42:80","pool":"/Common/p","rules":["r"],"profiles":["/Common/http"]}"#;
        let r = ok(call(&mut api, "POST", "/mgmt/tm/ltm/virtual", vs));
        assert_eq!(r["rules"], json!(["/Common/r"]));
        assert_eq!(
            api.virtuals()[0].rules,
            vec![("/Common/r".to_string(), text.to_string())]
        );
        // Unknown rule names, deleting a rule or pool in use.
        let r = call(
            &mut api,
            "PATCH",
            "/mgmt/tm/ltm/virtual/~Common~v",
            r#"{"rules":["nope"]}"#,
        );
        assert_eq!(r.status, 400);
        assert_eq!(
            call(&mut api, "DELETE", "/mgmt/tm/ltm/rule/~Common~r", "").status,
            400
        );
        ok(call(
            &mut api,
            "PATCH",
            "/mgmt/tm/ltm/virtual/~Common~v",
            r#"{"rules":[]}"#,
        ));
        ok(call(&mut api, "DELETE", "/mgmt/tm/ltm/rule/~Common~r", ""));
    }

    #[test]
    fn profiles_and_snat_pools() {
        let mut api = Api::new(Config::default());
        let ok = |r: Response| {
            assert_eq!(r.status, 200, "{}", r.body);
            r.body
        };
        // Built-ins are there and cannot be deleted.
        let b = ok(call(
            &mut api,
            "GET",
            "/mgmt/tm/ltm/profile/client-ssl/~Common~clientssl",
            "",
        ));
        assert_eq!(b["cert"], DEFAULT_CERT);
        assert_eq!(
            call(
                &mut api,
                "DELETE",
                "/mgmt/tm/ltm/profile/http/~Common~http",
                ""
            )
            .status,
            400
        );
        let c = ok(call(
            &mut api,
            "POST",
            "/mgmt/tm/ltm/profile/client-ssl",
            r#"{"name":"vip_ssl","defaultsFrom":"/Common/clientssl","cert":"/Common/default.crt","key":"/Common/default.key"}"#,
        ));
        assert_eq!(c["kind"], "tm:ltm:profile:client-ssl:client-sslstate");
        // Certificates other than the device's own are not there.
        let r = call(
            &mut api,
            "POST",
            "/mgmt/tm/ltm/profile/client-ssl",
            r#"{"name":"x","cert":"/Common/other.crt"}"#,
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Certificate File"));
        // What would change traffic and is not built: 501 naming it.
        let r = call(
            &mut api,
            "POST",
            "/mgmt/tm/ltm/profile/http",
            r#"{"name":"h","insertXforwardedFor":"enabled"}"#,
        );
        assert_eq!(r.status, 501, "{}", r.body);
        let r = call(
            &mut api,
            "POST",
            "/mgmt/tm/ltm/profile/http",
            r#"{"name":"h","fallbackHost":"x"}"#,
        );
        assert_eq!(r.status, 501, "{}", r.body);
        assert_eq!(
            call(&mut api, "GET", "/mgmt/tm/ltm/profile/fastl4", "").status,
            501
        );
        // SNAT pools take only the scenario's addresses.
        let r = call(
            &mut api,
            "POST",
            "/mgmt/tm/ltm/snatpool",
            r#"{"name":"sp","members":["127.10.0.99"]}"#,
        );
        assert_eq!(r.status, 400, "{}", r.body);
        let sp = ok(call(
            &mut api,
            "POST",
            "/mgmt/tm/ltm/snatpool",
            r#"{"name":"sp","members":["127.10.0.43"]}"#,
        ));
        assert_eq!(sp["members"][0], "/Common/127.10.0.43");
        ok(call(
            &mut api,
            "POST",
            "/mgmt/tm/ltm/pool",
            r#"{"name":"p","members":["127.10.0.21:80"]}"#,
        ));
        let v = ok(call(
            &mut api,
            "POST",
            "/mgmt/tm/ltm/virtual",
            r#"{"name":"vs","destination":"127.10.0.42:443","pool":"p","profiles":["tcp",{"name":"vip_ssl","context":"clientside"},"serverssl"],"sourceAddressTranslation":{"type":"snat","pool":"/Common/sp"}}"#,
        ));
        assert_eq!(v["profiles"][1]["fullPath"], "/Common/vip_ssl");
        let defs = api.virtuals();
        assert!(defs[0].client_ssl);
        assert_eq!(defs[0].server_ssl, Some(None));
        assert_eq!(defs[0].snat, vec![SNAT[0]]);
        let sub = ok(call(
            &mut api,
            "GET",
            "/mgmt/tm/ltm/virtual/~Common~vs/profiles",
            "",
        ));
        assert_eq!(sub["items"].as_array().map(Vec::len), Some(3));
        // Two client-ssl profiles, unknown profiles: refused.
        let r = call(
            &mut api,
            "PATCH",
            "/mgmt/tm/ltm/virtual/~Common~vs",
            r#"{"profiles":["clientssl","vip_ssl"]}"#,
        );
        assert_eq!(r.status, 400, "{}", r.body);
        let r = call(
            &mut api,
            "PATCH",
            "/mgmt/tm/ltm/virtual/~Common~vs",
            r#"{"profiles":["nope"]}"#,
        );
        assert_eq!(r.status, 400, "{}", r.body);
        // In use: neither the profile nor the SNAT pool can go.
        assert_eq!(
            call(
                &mut api,
                "DELETE",
                "/mgmt/tm/ltm/profile/client-ssl/~Common~vip_ssl",
                ""
            )
            .status,
            400
        );
        assert_eq!(
            call(&mut api, "DELETE", "/mgmt/tm/ltm/snatpool/~Common~sp", "").status,
            400
        );
        ok(call(
            &mut api,
            "PATCH",
            "/mgmt/tm/ltm/virtual/~Common~vs",
            r#"{"profiles":["tcp"],"sourceAddressTranslation":{"type":"automap"}}"#,
        ));
        let defs = api.virtuals();
        assert!(!defs[0].client_ssl && defs[0].snat.is_empty());
        ok(call(
            &mut api,
            "DELETE",
            "/mgmt/tm/ltm/snatpool/~Common~sp",
            "",
        ));
    }
}
