//! One WSUS machine's state and the MS-WUSP operations over it: cookies,
//! computers, target groups, approvals, reported events, and the answers
//! of SimpleAuth, Client and Reporting. The admin service
//! ([`crate::admin`]) reads and changes the same state, so an approval
//! changes what the next `SyncUpdates` offers and a `ReportEventBatch`
//! changes what the admin service reports.
//!
//! Sans-IO: time comes in as Unix milliseconds from the model's clock, the
//! request as a parsed element, the answer goes out as XML text.
//!
//! Cookies are sealed, not stored: `EncryptedData` is the client id, its
//! target group, the expiry, the configuration's time and the server's id,
//! with an HMAC-SHA256 tag under the server's key (kept in the share by
//! [`crate::identity`]), so a flood of `GetCookie` calls costs no memory, a
//! cookie survives a restart, and one sealed by a former identity of this
//! server is `ServerChanged`.

use crate::catalog::{Catalog, Revision};
use crate::msg::{self, child, text, ErrorCode, WsusFault};
use fakedc_xml::{escape_attr, escape_text, Element};
use hmac::{Hmac, Mac};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::sync::Mutex;

/// "All Computers" and "Unassigned Computers" as every WSUS names them.
pub const ALL_COMPUTERS: &str = "a0a08746-4dbe-4a37-9adf-9e7652c0b421";
pub const UNASSIGNED: &str = "b73ca6ed-5727-47f3-84de-015e03f6a88a";
/// What GetConfig's `MaxExtendedUpdatesPerRequest` says, and enforces.
pub const MAX_EXTENDED: usize = 50;
/// Most NewUpdates in one SyncUpdates answer (`Truncated` says more wait).
pub const MAX_SYNC: usize = 200;
/// Most computers one server registers.
pub const MAX_COMPUTERS: usize = 100_000;
/// Most target groups.
pub const MAX_GROUPS: usize = 1_000;
/// Events kept per computer (the oldest go first).
pub const MAX_EVENTS: usize = 1_000;
/// Most approvals kept (one per update and group).
pub const MAX_APPROVALS: usize = 200_000;
/// Longest client id, DNS name or group name accepted.
pub const MAX_NAME: usize = 256;

/// `[machine.options.wsus]`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WsusOptions {
    /// Updates generated (stable ids from the index).
    pub updates: u32,
    /// Typical content file size in bytes (each file is between half and
    /// one and a half times this).
    pub file_size: u64,
    /// Cookie lifetime.
    pub cookie_minutes: u64,
    /// Generated content kept in memory (MiB; 0: none). Files up to an
    /// eighth of it are generated once and served as slices, as IIS's
    /// kernel cache serves them; larger ones are generated per request.
    pub content_cache_mib: u64,
    /// Computer target groups that exist from the start (under All
    /// Computers), for client-side targeting.
    pub groups: Vec<String>,
    /// The server's identity (a GUID). Kept in the share across restarts;
    /// setting a different one is a new server to the clients: their
    /// cookies get `ServerChanged`.
    pub server_id: Option<String>,
}

impl Default for WsusOptions {
    fn default() -> Self {
        WsusOptions {
            updates: 12,
            file_size: 64 << 10,
            cookie_minutes: 60,
            content_cache_mib: 128,
            groups: Vec::new(),
            server_id: None,
        }
    }
}

impl WsusOptions {
    pub fn validate(&self) -> Result<(), String> {
        if self.updates > crate::catalog::MAX_UPDATES {
            return Err(format!("updates: at most {}", crate::catalog::MAX_UPDATES));
        }
        if self.file_size == 0 || self.file_size > 1 << 30 {
            return Err("file_size: between 1 byte and 1 GiB".into());
        }
        if self.content_cache_mib > 4096 {
            return Err("content_cache_mib: at most 4096".into());
        }
        if self.cookie_minutes == 0 {
            return Err("cookie_minutes: at least 1".into());
        }
        if let Some(id) = &self.server_id {
            if msg::guid(id).is_none() {
                return Err(format!("server_id: {id:?} is not a GUID"));
            }
        }
        if self.groups.len() > MAX_GROUPS {
            return Err(format!("groups: at most {MAX_GROUPS}"));
        }
        for g in &self.groups {
            if g.is_empty() || g.len() > MAX_NAME || g.chars().any(char::is_control) {
                return Err(format!("groups: bad group name {g:?}"));
            }
        }
        Ok(())
    }
}

/// A computer target group.
#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub parent: Option<String>,
}

/// One reported event (MS-WUSP ReportingEvent's BasicData).
#[derive(Debug, Clone)]
pub struct Event {
    pub event_id: i32,
    pub update_id: Option<String>,
    pub revision_number: i32,
    pub hresult: i32,
    pub time_at_target: String,
}

/// A registered computer.
#[derive(Debug, Clone)]
pub struct Computer {
    pub id: String,
    pub dns_name: String,
    pub os: String,
    pub groups: Vec<String>,
    pub registered_ms: u64,
    pub last_sync_ms: Option<u64>,
    pub last_report_ms: Option<u64>,
    pub events: VecDeque<Event>,
}

/// An approval of one update for one group.
#[derive(Debug, Clone)]
pub struct Approval {
    pub deployment_id: i32,
    pub update: usize,
    pub group: String,
    /// 0 Install, 1 Uninstall (the admin API's `deploymentAction`).
    pub action: i32,
    pub admin: String,
    pub at_ms: u64,
}

#[derive(Debug, Default)]
struct State {
    groups: Vec<Group>,
    computers: HashMap<String, Computer>,
    approvals: Vec<Approval>,
    declined: HashSet<usize>,
    next_deployment: i32,
    /// Bumped by every approval change (the admin's "HasApprovalsChanged").
    approvals_changed_ms: u64,
}

/// Generated files kept whole, oldest out first.
#[derive(Default)]
struct ContentCache {
    files: HashMap<(usize, usize), bytes::Bytes>,
    order: VecDeque<(usize, usize)>,
    bytes: u64,
}

/// One WSUS machine.
pub struct Server {
    pub catalog: Catalog,
    cache: Mutex<ContentCache>,
    cache_cap: u64,
    key: [u8; 32],
    cookie_ms: u64,
    /// The configuration's LastChange (first start, or the last start with
    /// different options).
    pub config_ms: u64,
    /// The server's identity, sealed into every cookie: a cookie from
    /// another identity (same key, kept in the share) is `ServerChanged`.
    pub server_id: String,
    state: Mutex<State>,
}

/// What an operation needs from the request around it.
pub struct Cx<'a> {
    pub now_ms: u64,
    /// `http://host:port` the client reached (URLs in answers use it).
    pub base_url: &'a str,
}

/// A successful answer: the body XML and the computer it concerned.
pub struct Answer {
    pub xml: String,
    pub computer: Option<String>,
}

type R = Result<Answer, (WsusFault, Option<String>)>;

fn fault(code: ErrorCode) -> (WsusFault, Option<String>) {
    (WsusFault::new(code), None)
}

fn bad(param: &str) -> (WsusFault, Option<String>) {
    (WsusFault::param(param), None)
}

impl Server {
    pub fn new(opts: &WsusOptions, now_ms: u64, key: [u8; 32]) -> Server {
        let mut groups = vec![
            Group {
                id: ALL_COMPUTERS.into(),
                name: "All Computers".into(),
                parent: None,
            },
            Group {
                id: UNASSIGNED.into(),
                name: "Unassigned Computers".into(),
                parent: Some(ALL_COMPUTERS.into()),
            },
        ];
        for g in &opts.groups {
            groups.push(Group {
                id: crate::catalog::derived_guid(&format!("group:{g}")),
                name: g.clone(),
                parent: Some(ALL_COMPUTERS.into()),
            });
        }
        Server {
            catalog: Catalog::generate(opts.updates, opts.file_size),
            cache: Mutex::new(ContentCache::default()),
            cache_cap: opts.content_cache_mib << 20,
            key,
            cookie_ms: opts.cookie_minutes * 60_000,
            config_ms: now_ms,
            server_id: opts.server_id.clone().unwrap_or_default(),
            state: Mutex::new(State {
                groups,
                next_deployment: 30_000,
                ..State::default()
            }),
        }
    }

    /// The identity kept across restarts ([`crate::identity`]).
    pub fn with_identity(mut self, server_id: String, config_ms: u64) -> Server {
        self.server_id = server_id;
        self.config_ms = config_ms;
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ----- sealing -----

    fn seal(&self, kind: &str, fields: &[&str]) -> Vec<u8> {
        let mut payload = kind.to_string();
        for f in fields {
            payload.push('\n');
            payload.push_str(f);
        }
        let mut out = payload.into_bytes();
        let tag = self.tag(&out);
        out.extend_from_slice(&tag);
        out
    }

    fn tag(&self, payload: &[u8]) -> [u8; 16] {
        let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(payload);
        let full = m.finalize().into_bytes();
        let mut t = [0u8; 16];
        t.copy_from_slice(&full[..16]);
        t
    }

    fn unseal(&self, kind: &str, data: &[u8]) -> Option<Vec<String>> {
        if data.len() < 16 || data.len() > 4096 {
            return None;
        }
        let (payload, tag) = data.split_at(data.len() - 16);
        let want = self.tag(payload);
        // Constant time is not needed against a loopback fake, but costs
        // nothing.
        if want.iter().zip(tag).fold(0u8, |a, (x, y)| a | (x ^ y)) != 0 {
            return None;
        }
        let s = std::str::from_utf8(payload).ok()?;
        let mut it = s.split('\n');
        if it.next()? != kind {
            return None;
        }
        Some(it.map(str::to_string).collect())
    }

    /// The client id a request's cookie proves, or the fault.
    fn cookie(
        &self,
        body: &Element,
        name: &str,
        now_ms: u64,
    ) -> Result<(String, String), (WsusFault, Option<String>)> {
        let data = msg::cookie_data(body, name).map_err(|f| (f, None))?;
        let fields = self
            .unseal("C", &data)
            .ok_or_else(|| fault(ErrorCode::InvalidCookie))?;
        let [cid, group, expires, config, server] = fields.as_slice() else {
            return Err(fault(ErrorCode::InvalidCookie));
        };
        // Sealed under our key but by another identity of this server (its
        // id changed since): the client must start over with this one.
        if *server != self.server_id {
            return Err((WsusFault::new(ErrorCode::ServerChanged), Some(cid.clone())));
        }
        let expires: u64 = expires
            .parse()
            .map_err(|_| fault(ErrorCode::InvalidCookie))?;
        if now_ms >= expires {
            return Err((
                WsusFault::with(ErrorCode::InvalidCookie, "cookie expired"),
                Some(cid.clone()),
            ));
        }
        if config.parse::<u64>().ok() != Some(self.config_ms) {
            return Err((WsusFault::new(ErrorCode::ConfigChanged), Some(cid.clone())));
        }
        Ok((cid.clone(), group.clone()))
    }

    fn new_cookie(&self, cid: &str, group: &str, now_ms: u64) -> String {
        let expires = now_ms + self.cookie_ms;
        let data = self.seal(
            "C",
            &[
                cid,
                group,
                &expires.to_string(),
                &self.config_ms.to_string(),
                &self.server_id,
            ],
        );
        format!(
            "<Expiration>{}</Expiration><EncryptedData>{}</EncryptedData>",
            msg::datetime(expires),
            msg::b64(&data)
        )
    }

    // ----- SimpleAuth -----

    pub fn get_authorization_cookie(&self, body: &Element) -> R {
        let cid = text(body, "clientId").unwrap_or("");
        if !valid_name(cid) {
            return Err(bad("clientId"));
        }
        let group = text(body, "targetGroupName").unwrap_or("");
        if group.len() > MAX_NAME || group.contains('\n') {
            return Err(bad("targetGroupName"));
        }
        let data = self.seal("A", &[cid, group]);
        Ok(Answer {
            xml: format!(
                "<GetAuthorizationCookieResponse xmlns=\"{}\"><GetAuthorizationCookieResult><PlugInId>SimpleTargeting</PlugInId><CookieData>{}</CookieData></GetAuthorizationCookieResult></GetAuthorizationCookieResponse>",
                msg::NS_AUTH,
                msg::b64(&data)
            ),
            computer: Some(cid.to_string()),
        })
    }

    // ----- Client -----

    pub fn get_config(&self, cx: &Cx<'_>) -> R {
        let mut x = format!(
            "<GetConfigResponse xmlns=\"{}\"><GetConfigResult><LastChange>{}</LastChange><IsRegistrationRequired>true</IsRegistrationRequired><AuthInfo><AuthPlugInInfo><PlugInID>SimpleTargeting</PlugInID><ServiceUrl>SimpleAuthWebService/SimpleAuth.asmx</ServiceUrl><Parameter /></AuthPlugInInfo></AuthInfo><AllowedEventIds>",
            msg::NS_CLIENT,
            msg::datetime(self.config_ms)
        );
        for id in ALLOWED_EVENT_IDS {
            let _ = write!(x, "<int>{id}</int>");
        }
        x.push_str("</AllowedEventIds><Properties>");
        for (n, v) in [
            ("MaxExtendedUpdatesPerRequest", MAX_EXTENDED.to_string()),
            ("PackageServerShare", String::new()),
            ("ProtocolVersion", "3.2".into()),
            ("IsInventoryRequired", "0".into()),
            ("ClientReportingLevel", "2".into()),
        ] {
            if n == "PackageServerShare" {
                continue;
            }
            let _ = write!(
                x,
                "<ConfigurationProperty><Name>{n}</Name><Value>{v}</Value></ConfigurationProperty>"
            );
        }
        x.push_str("</Properties></GetConfigResult></GetConfigResponse>");
        let _ = cx;
        Ok(Answer {
            xml: x,
            computer: None,
        })
    }

    pub fn get_cookie(&self, body: &Element, cx: &Cx<'_>) -> R {
        let auth = child(body, "authCookies").ok_or_else(|| bad("authCookies"))?;
        let mut found = None;
        for a in auth.children.iter().take(16) {
            if text(a, "PlugInId") != Some("SimpleTargeting") {
                continue;
            }
            let data = msg::unb64(text(a, "CookieData").unwrap_or(""))
                .ok_or_else(|| fault(ErrorCode::InvalidAuthorizationCookie))?;
            let f = self
                .unseal("A", &data)
                .ok_or_else(|| fault(ErrorCode::InvalidAuthorizationCookie))?;
            let [cid, group] = f.as_slice() else {
                return Err(fault(ErrorCode::InvalidAuthorizationCookie));
            };
            found = Some((cid.clone(), group.clone()));
        }
        let (cid, group) = found.ok_or_else(|| fault(ErrorCode::InvalidAuthorizationCookie))?;
        // A client whose configuration predates ours (cached before a
        // restart) must fetch it again: ConfigChanged. Milliseconds are
        // compared to the second, as some clients drop them.
        let last = text(body, "lastChange")
            .ok_or_else(|| (WsusFault::param("lastChange"), Some(cid.clone())))?;
        let last = msg::parse_datetime(last)
            .ok_or_else(|| (WsusFault::param("lastChange"), Some(cid.clone())))?;
        if last / 1000 < self.config_ms / 1000 {
            return Err((WsusFault::new(ErrorCode::ConfigChanged), Some(cid)));
        }
        let cookie = self.new_cookie(&cid, &group, cx.now_ms);
        Ok(Answer {
            xml: format!(
                "<GetCookieResponse xmlns=\"{}\"><GetCookieResult>{cookie}</GetCookieResult></GetCookieResponse>",
                msg::NS_CLIENT
            ),
            computer: Some(cid),
        })
    }

    pub fn register_computer(&self, body: &Element, cx: &Cx<'_>) -> R {
        let (cid, group) = self.cookie(body, "cookie", cx.now_ms)?;
        let info = child(body, "computerInfo").ok_or_else(|| bad("computerInfo"))?;
        let dns = text(info, "DnsName").unwrap_or("");
        if dns.len() > MAX_NAME {
            return Err(bad("computerInfo"));
        }
        let os = format!(
            "{}.{}.{}",
            text(info, "OSMajorVersion").unwrap_or("0"),
            text(info, "OSMinorVersion").unwrap_or("0"),
            text(info, "OSBuildNumber").unwrap_or("0")
        );
        let mut st = self.state();
        if !st.computers.contains_key(&cid) && st.computers.len() >= MAX_COMPUTERS {
            return Err((WsusFault::new(ErrorCode::ServerBusy), Some(cid)));
        }
        let target = st
            .groups
            .iter()
            .find(|g| {
                !group.is_empty() && g.name.eq_ignore_ascii_case(&group) && g.id != ALL_COMPUTERS
            })
            .map(|g| g.id.clone())
            .unwrap_or_else(|| UNASSIGNED.to_string());
        let c = st.computers.entry(cid.clone()).or_insert_with(|| Computer {
            id: cid.clone(),
            dns_name: String::new(),
            os: String::new(),
            groups: vec![target.clone()],
            registered_ms: cx.now_ms,
            last_sync_ms: None,
            last_report_ms: None,
            events: VecDeque::new(),
        });
        c.dns_name = dns.to_string();
        c.os = os;
        Ok(Answer {
            xml: format!("<RegisterComputerResponse xmlns=\"{}\" />", msg::NS_CLIENT),
            computer: Some(cid),
        })
    }

    /// The update indices in scope for a computer (approved for one of its
    /// groups or All Computers, not declined), with their deployment, plus
    /// the prerequisite updates they pull in (deployed as `Evaluate`).
    fn scope(&self, st: &State, groups: &[String]) -> HashMap<usize, (i32, &'static str)> {
        let mut scope: HashMap<usize, (i32, &'static str)> = HashMap::new();
        for a in &st.approvals {
            if st.declined.contains(&a.update) {
                continue;
            }
            if a.group == ALL_COMPUTERS || groups.contains(&a.group) {
                let action = if a.action == 1 {
                    "Uninstall"
                } else {
                    "Install"
                };
                scope.insert(a.update, (a.deployment_id, action));
            }
        }
        let mut work: Vec<usize> = scope.keys().copied().collect();
        while let Some(u) = work.pop() {
            for p in &self.catalog.updates[u].prerequisites {
                if let Some(Revision::Update(d)) = self.catalog.revision(*p) {
                    if let std::collections::hash_map::Entry::Vacant(e) = scope.entry(d) {
                        e.insert((20_000, "Evaluate"));
                        work.push(d);
                    }
                }
            }
        }
        scope
    }

    pub fn sync_updates(&self, body: &Element, cx: &Cx<'_>) -> R {
        let (cid, _) = self.cookie(body, "cookie", cx.now_ms)?;
        let p = child(body, "parameters").ok_or_else(|| bad("parameters"))?;
        let installed: HashSet<i32> = msg::int_array(p, "InstalledNonLeafUpdateIDs")
            .map_err(|f| (f, Some(cid.clone())))?
            .into_iter()
            .collect();
        let cached: HashSet<i32> = msg::int_array(p, "OtherCachedUpdateIDs")
            .map_err(|f| (f, Some(cid.clone())))?
            .into_iter()
            .collect();
        msg::int_array(p, "CachedDriverIDs").map_err(|f| (f, Some(cid.clone())))?;
        let skip_software =
            msg::boolean(p, "SkipSoftwareSync").map_err(|f| (f, Some(cid.clone())))?;
        let mut st = self.state();
        let Some(groups) = st.computers.get(&cid).map(|c| c.groups.clone()) else {
            return Err((WsusFault::new(ErrorCode::RegistrationRequired), Some(cid)));
        };
        let mut x = format!(
            "<SyncUpdatesResponse xmlns=\"{}\"><SyncUpdatesResult>",
            msg::NS_CLIENT
        );
        let mut truncated = false;
        if skip_software {
            // The driver pass: this catalogue has no drivers.
            x.push_str("<NewUpdates /><Truncated>false</Truncated>");
        } else {
            let scope = self.scope(&st, &groups);
            let known = |r: i32| installed.contains(&r) || cached.contains(&r);
            let mut new = Vec::new();
            for (i, c) in self.catalog.categories.iter().enumerate() {
                if !known(c.revision_id) {
                    new.push((Revision::Category(i), 20_000, "Evaluate"));
                }
            }
            let mut ids: Vec<usize> = scope.keys().copied().collect();
            ids.sort_unstable();
            for u in ids {
                let upd = &self.catalog.updates[u];
                if known(upd.revision_id) {
                    continue;
                }
                let ready = upd
                    .prerequisites
                    .iter()
                    .all(|p| match self.catalog.revision(*p) {
                        Some(Revision::Category(_)) => installed.contains(p),
                        _ => known(*p),
                    });
                if ready {
                    let (dep, action) = scope[&u];
                    new.push((Revision::Update(u), dep, action));
                }
            }
            if new.len() > MAX_SYNC {
                new.truncate(MAX_SYNC);
                truncated = true;
            }
            if new.is_empty() {
                x.push_str("<NewUpdates />");
            } else {
                x.push_str("<NewUpdates>");
                for (r, dep, action) in new {
                    self.update_info(&mut x, r, dep, action);
                }
                x.push_str("</NewUpdates>");
            }
            // Revisions the client holds that are no longer in scope.
            let mut out: Vec<i32> = installed
                .iter()
                .chain(cached.iter())
                .copied()
                .filter(|r| match self.catalog.revision(*r) {
                    Some(Revision::Category(_)) => false,
                    Some(Revision::Update(u)) => !scope.contains_key(&u),
                    None => true,
                })
                .collect();
            out.sort_unstable();
            out.dedup();
            if !out.is_empty() {
                x.push_str("<OutOfScopeRevisionIDs>");
                for r in out {
                    let _ = write!(x, "<int>{r}</int>");
                }
                x.push_str("</OutOfScopeRevisionIDs>");
            }
            let _ = write!(x, "<Truncated>{truncated}</Truncated>");
        }
        let _ = write!(
            x,
            "<NewCookie>{}</NewCookie>",
            self.new_cookie(&cid, "", cx.now_ms)
        );
        if skip_software {
            x.push_str("<DriverSyncNotNeeded>true</DriverSyncNotNeeded>");
        }
        x.push_str("</SyncUpdatesResult></SyncUpdatesResponse>");
        if let Some(c) = st.computers.get_mut(&cid) {
            c.last_sync_ms = Some(cx.now_ms);
        }
        Ok(Answer {
            xml: x,
            computer: Some(cid),
        })
    }

    fn update_info(&self, x: &mut String, r: Revision, dep: i32, action: &str) {
        let (rev, leaf, core) = match r {
            Revision::Category(i) => (
                self.catalog.categories[i].revision_id,
                false,
                self.core_xml(r),
            ),
            Revision::Update(u) => (self.catalog.updates[u].revision_id, true, self.core_xml(r)),
        };
        let _ = write!(
            x,
            "<UpdateInfo><ID>{rev}</ID><Deployment><ID>{dep}</ID><Action>{action}</Action><IsAssigned>true</IsAssigned><LastChangeTime>{}</LastChangeTime><AutoSelect>0</AutoSelect><AutoDownload>0</AutoDownload><SupersedenceBehavior>0</SupersedenceBehavior></Deployment><IsLeaf>{leaf}</IsLeaf><Xml>{}</Xml></UpdateInfo>",
            &msg::datetime(self.config_ms)[..10],
            escape_text(&core)
        );
    }

    /// The core fragment (MS-WUSP §4's shape: identity, properties,
    /// relationships, applicability).
    fn core_xml(&self, r: Revision) -> String {
        match r {
            Revision::Category(i) => {
                let c = &self.catalog.categories[i];
                let kind = match c.kind {
                    crate::catalog::CategoryKind::Classification => "UpdateClassification",
                    crate::catalog::CategoryKind::Product => "Product",
                };
                format!(
                    "<UpdateIdentity UpdateID=\"{}\" RevisionNumber=\"{}\" /><Properties UpdateType=\"Category\" /><HandlerSpecificData type=\"cat:Category\"><CategoryInformation CategoryType=\"{kind}\" ProhibitsSubcategories=\"true\" ProhibitsUpdates=\"false\" /></HandlerSpecificData>",
                    c.id, c.revision_number
                )
            }
            Revision::Update(u) => {
                let upd = &self.catalog.updates[u];
                let mut s = format!(
                    "<UpdateIdentity UpdateID=\"{}\" RevisionNumber=\"{}\" /><Properties UpdateType=\"Software\" ExplicitlyDeployable=\"true\" AutoSelectOnWebSites=\"true\" /><Relationships><Prerequisites>",
                    upd.id, upd.revision_number
                );
                for p in &upd.prerequisites {
                    let id = match self.catalog.revision(*p) {
                        Some(Revision::Category(c)) => &self.catalog.categories[c].id,
                        Some(Revision::Update(d)) => &self.catalog.updates[d].id,
                        None => continue,
                    };
                    let _ = write!(s, "<UpdateIdentity UpdateID=\"{id}\" />");
                }
                s.push_str("</Prerequisites>");
                if !upd.supersedes.is_empty() {
                    s.push_str("<SupersededUpdates>");
                    for id in &upd.supersedes {
                        let _ = write!(s, "<UpdateIdentity UpdateID=\"{id}\" />");
                    }
                    s.push_str("</SupersededUpdates>");
                }
                s.push_str("</Relationships><ApplicabilityRules><IsInstalled><False /></IsInstalled><IsInstallable><True /></IsInstallable></ApplicabilityRules>");
                s
            }
        }
    }

    fn extended_xml(&self, u: usize) -> String {
        let upd = &self.catalog.updates[u];
        let size: u64 = upd.files.iter().map(|f| f.size).sum();
        let mut s = format!(
            "<ExtendedProperties DefaultPropertiesLanguage=\"en\" Handler=\"http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/Cbs\" CreationDate=\"{}\" IsPublic=\"false\" MaxDownloadSize=\"{size}\" MinDownloadSize=\"0\" PublicationState=\"Published\"><InstallationBehavior RebootBehavior=\"CanRequestReboot\" /><KBArticleID>{}</KBArticleID></ExtendedProperties><Files>",
            msg::datetime(self.config_ms),
            upd.kb
        );
        for (fi, f) in upd.files.iter().enumerate() {
            let Some(d) = self.catalog.digests(u, fi) else {
                continue;
            };
            let _ = write!(
                s,
                "<File Digest=\"{}\" DigestAlgorithm=\"SHA1\" FileName=\"{}\" Size=\"{}\" Modified=\"{}\"><AdditionalDigest Algorithm=\"SHA256\">{}</AdditionalDigest></File>",
                msg::b64(&d.sha1),
                escape_attr(&f.name),
                f.size,
                msg::datetime(self.config_ms),
                msg::b64(&d.sha256)
            );
        }
        s.push_str("</Files><HandlerSpecificData type=\"cbs:Cbs\" />");
        s
    }

    fn localized_xml(&self, u: usize) -> String {
        let upd = &self.catalog.updates[u];
        format!(
            "<LocalizedProperties><Language>en</Language><Title>{}</Title><Description>Install this update to resolve issues in Windows. (KB{})</Description><MoreInfoUrl>https://support.microsoft.com/help/{}</MoreInfoUrl></LocalizedProperties>",
            escape_text(&upd.title),
            upd.kb,
            upd.kb
        )
    }

    /// The URL a file is served at (`/Content/XX/<SHA1>.cab`, XX its last
    /// byte, as WSUS lays out its content directory).
    pub fn content_url(base: &str, sha1: &[u8; 20]) -> String {
        let h = crate::catalog::hex(sha1).to_ascii_uppercase();
        format!("{base}/Content/{}/{h}.cab", &h[38..])
    }

    fn file_location(&self, x: &mut String, base: &str, sha1: &[u8; 20]) {
        let _ = write!(
            x,
            "<FileLocation><FileDigest>{}</FileDigest><Url>{}</Url></FileLocation>",
            msg::b64(sha1),
            escape_text(&Self::content_url(base, sha1))
        );
    }

    pub fn get_extended_update_info(&self, body: &Element, cx: &Cx<'_>) -> R {
        let (cid, _) = self.cookie(body, "cookie", cx.now_ms)?;
        let err = |f: WsusFault| (f, Some(cid.clone()));
        let revs = msg::int_array(body, "revisionIDs").map_err(err)?;
        if revs.is_empty() || revs.len() > MAX_EXTENDED {
            return Err(err(WsusFault::param("revisionIDs")));
        }
        let types: Vec<&str> = child(body, "infoTypes")
            .map(|t| t.children.iter().take(16).map(|c| c.text_trim()).collect())
            .unwrap_or_default();
        let mut updates = String::new();
        let mut files = String::new();
        let mut out = Vec::new();
        for r in revs {
            let Some(Revision::Update(u)) = self.catalog.revision(r) else {
                if let Some(Revision::Category(c)) = self.catalog.revision(r) {
                    if types.contains(&"LocalizedProperties") {
                        let _ = write!(
                            updates,
                            "<Update><ID>{r}</ID><Xml>{}</Xml></Update>",
                            escape_text(&format!(
                                "<LocalizedProperties><Language>en</Language><Title>{}</Title></LocalizedProperties>",
                                escape_text(&self.catalog.categories[c].title)
                            ))
                        );
                    }
                    continue;
                }
                out.push(r);
                continue;
            };
            for t in &types {
                let frag = match *t {
                    "Extended" => self.extended_xml(u),
                    "LocalizedProperties" => self.localized_xml(u),
                    "Core" => self.core_xml(Revision::Update(u)),
                    "FileUrl" => {
                        for fi in 0..self.catalog.updates[u].files.len() {
                            if let Some(d) = self.catalog.digests(u, fi) {
                                self.file_location(&mut files, cx.base_url, &d.sha1);
                            }
                        }
                        continue;
                    }
                    "Published" | "VerificationRule" | "Eula" | "FileDecryption" => continue,
                    _ => return Err(err(WsusFault::param("infoTypes"))),
                };
                let _ = write!(
                    updates,
                    "<Update><ID>{r}</ID><Xml>{}</Xml></Update>",
                    escape_text(&frag)
                );
            }
        }
        let mut x = format!(
            "<GetExtendedUpdateInfoResponse xmlns=\"{}\"><GetExtendedUpdateInfoResult>",
            msg::NS_CLIENT
        );
        let _ = write!(x, "<Updates>{updates}</Updates>");
        if !files.is_empty() {
            let _ = write!(x, "<FileLocations>{files}</FileLocations>");
        }
        if !out.is_empty() {
            x.push_str("<OutOfScopeRevisionIDs>");
            for r in out {
                let _ = write!(x, "<int>{r}</int>");
            }
            x.push_str("</OutOfScopeRevisionIDs>");
        }
        x.push_str("</GetExtendedUpdateInfoResult></GetExtendedUpdateInfoResponse>");
        Ok(Answer {
            xml: x,
            computer: Some(cid),
        })
    }

    pub fn get_file_locations(&self, body: &Element, cx: &Cx<'_>) -> R {
        let (cid, _) = self.cookie(body, "cookie", cx.now_ms)?;
        let digests = child(body, "fileDigests")
            .ok_or_else(|| (WsusFault::param("fileDigests"), Some(cid.clone())))?;
        if digests.children.len() > MAX_EXTENDED * 16 {
            return Err((WsusFault::param("fileDigests"), Some(cid)));
        }
        let mut files = String::new();
        for d in &digests.children {
            let Some(b) = msg::unb64(d.text_trim()) else {
                return Err((WsusFault::param("fileDigests"), Some(cid)));
            };
            let Ok(sha1) = <[u8; 20]>::try_from(b.as_slice()) else {
                continue;
            };
            if self.catalog.file_by_sha1(&sha1).is_some() {
                self.file_location(&mut files, cx.base_url, &sha1);
            }
        }
        Ok(Answer {
            xml: format!(
                "<GetFileLocationsResponse xmlns=\"{}\"><GetFileLocationsResult><FileLocations>{files}</FileLocations></GetFileLocationsResult></GetFileLocationsResponse>",
                msg::NS_CLIENT
            ),
            computer: Some(cid),
        })
    }

    pub fn refresh_cache(&self, body: &Element, cx: &Cx<'_>) -> R {
        let (cid, _) = self.cookie(body, "cookie", cx.now_ms)?;
        let ids = child(body, "globalIDs")
            .ok_or_else(|| (WsusFault::param("globalIDs"), Some(cid.clone())))?;
        if ids.children.len() > msg::MAX_IDS {
            return Err((WsusFault::param("globalIDs"), Some(cid)));
        }
        let st = self.state();
        let groups = st
            .computers
            .get(&cid)
            .map(|c| c.groups.clone())
            .unwrap_or_default();
        let scope = self.scope(&st, &groups);
        let mut x = format!(
            "<RefreshCacheResponse xmlns=\"{}\"><RefreshCacheResult>",
            msg::NS_CLIENT
        );
        for g in &ids.children {
            let id = text(g, "UpdateID")
                .and_then(msg::guid)
                .ok_or_else(|| (WsusFault::param("globalIDs"), Some(cid.clone())))?;
            let (rev, num, leaf, dep) = if let Some(u) = self.catalog.update_by_id(&id) {
                let upd = &self.catalog.updates[u];
                (
                    upd.revision_id,
                    upd.revision_number,
                    true,
                    scope.get(&u).copied(),
                )
            } else if let Some(c) = self.catalog.category_by_id(&id) {
                let c = &self.catalog.categories[c];
                (
                    c.revision_id,
                    c.revision_number,
                    false,
                    Some((20_000, "Evaluate")),
                )
            } else {
                continue;
            };
            let _ = write!(
                x,
                "<RefreshCacheResult><RevisionID>{rev}</RevisionID><GlobalID><UpdateID>{id}</UpdateID><RevisionNumber>{num}</RevisionNumber></GlobalID><IsLeaf>{leaf}</IsLeaf>"
            );
            if let Some((d, a)) = dep {
                let _ = write!(
                    x,
                    "<Deployment><ID>{d}</ID><Action>{a}</Action><IsAssigned>true</IsAssigned><LastChangeTime>{}</LastChangeTime></Deployment>",
                    &msg::datetime(self.config_ms)[..10]
                );
            }
            x.push_str("</RefreshCacheResult>");
        }
        x.push_str("</RefreshCacheResult></RefreshCacheResponse>");
        Ok(Answer {
            xml: x,
            computer: Some(cid),
        })
    }

    // ----- Reporting -----

    pub fn report_event_batch(&self, body: &Element, cx: &Cx<'_>, second: bool) -> R {
        let cid = if second {
            let c = text(body, "computerId").unwrap_or("");
            if !valid_name(c) {
                return Err(bad("computerId"));
            }
            c.to_string()
        } else {
            self.cookie(body, "cookie", cx.now_ms)?.0
        };
        let batch = child(body, "eventBatch")
            .ok_or_else(|| (WsusFault::param("eventBatch"), Some(cid.clone())))?;
        if batch.children.len() > MAX_EVENTS {
            return Err((WsusFault::param("eventBatch"), Some(cid)));
        }
        let mut events = Vec::with_capacity(batch.children.len());
        for e in &batch.children {
            let b = child(e, "BasicData")
                .ok_or_else(|| (WsusFault::param("eventBatch"), Some(cid.clone())))?;
            let num = |n: &str| text(b, n).and_then(|v| v.parse::<i32>().ok());
            let upd = child(b, "UpdateID");
            events.push(Event {
                event_id: num("EventID")
                    .ok_or_else(|| (WsusFault::param("EventID"), Some(cid.clone())))?,
                update_id: upd.and_then(|u| text(u, "UpdateID")).and_then(msg::guid),
                revision_number: upd
                    .and_then(|u| text(u, "RevisionNumber"))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                hresult: num("Win32HResult").unwrap_or(0),
                time_at_target: text(b, "TimeAtTarget")
                    .unwrap_or("")
                    .chars()
                    .take(40)
                    .collect(),
            });
        }
        let mut st = self.state();
        let Some(c) = st.computers.get_mut(&cid) else {
            return Err((WsusFault::new(ErrorCode::RegistrationRequired), Some(cid)));
        };
        for e in events {
            if c.events.len() >= MAX_EVENTS {
                c.events.pop_front();
            }
            c.events.push_back(e);
        }
        c.last_report_ms = Some(cx.now_ms);
        let op = if second {
            "ReportEventBatch2"
        } else {
            "ReportEventBatch"
        };
        Ok(Answer {
            xml: format!(
                "<{op}Response xmlns=\"{}\"><{op}Result>true</{op}Result></{op}Response>",
                msg::NS_REPORTING
            ),
            computer: Some(cid),
        })
    }

    // ----- content -----

    /// A cached file's bytes, if it is cached.
    pub fn cached_content(&self, update: usize, file: usize) -> Option<bytes::Bytes> {
        let c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        c.files.get(&(update, file)).cloned()
    }

    /// Generates a file whole and caches it, when it is small enough to
    /// cache (an eighth of the cache at most); blocking. `None`: serve it
    /// generated per request.
    pub fn cache_content(&self, update: usize, file: usize) -> Option<bytes::Bytes> {
        let f = self.catalog.file(update, file)?;
        if self.cache_cap == 0 || f.size > self.cache_cap / 8 {
            return None;
        }
        let mut buf = vec![0u8; usize::try_from(f.size).ok()?];
        fakedc_bits::fill_virtual(f.seed, 0, &mut buf);
        let b = bytes::Bytes::from(buf);
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = c.files.get(&(update, file)) {
            return Some(hit.clone());
        }
        while c.bytes + f.size > self.cache_cap {
            let Some(old) = c.order.pop_front() else {
                break;
            };
            if let Some(o) = c.files.remove(&old) {
                c.bytes -= o.len() as u64;
            }
        }
        c.files.insert((update, file), b.clone());
        c.order.push_back((update, file));
        c.bytes += f.size;
        Some(b)
    }

    // ----- for the admin service -----

    pub fn groups(&self) -> Vec<Group> {
        self.state().groups.clone()
    }

    pub fn computers(&self) -> Vec<Computer> {
        let mut v: Vec<Computer> = self.state().computers.values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    pub fn computer(&self, id: &str) -> Option<Computer> {
        self.state().computers.get(id).cloned()
    }

    pub fn approvals(&self) -> Vec<Approval> {
        self.state().approvals.clone()
    }

    pub fn declined(&self, u: usize) -> bool {
        self.state().declined.contains(&u)
    }

    pub fn create_group(
        &self,
        name: &str,
        parent: &str,
        id: Option<String>,
    ) -> Result<Group, String> {
        let mut st = self.state();
        if !valid_name(name) {
            return Err("bad group name".into());
        }
        if st.groups.len() >= MAX_GROUPS {
            return Err("too many groups".into());
        }
        if !st.groups.iter().any(|g| g.id == parent) {
            return Err(format!("no target group {parent}"));
        }
        if st.groups.iter().any(|g| g.name.eq_ignore_ascii_case(name)) {
            return Err(format!("a target group named {name} already exists"));
        }
        let id = id.unwrap_or_else(|| {
            crate::catalog::derived_guid(&format!("group:{name}:{}", st.groups.len()))
        });
        let g = Group {
            id,
            name: name.to_string(),
            parent: Some(parent.to_string()),
        };
        st.groups.push(g.clone());
        Ok(g)
    }

    pub fn add_computer_to_group(&self, group: &str, computer: &str) -> Result<(), String> {
        let mut st = self.state();
        if !st.groups.iter().any(|g| g.id == group) || group == ALL_COMPUTERS {
            return Err(format!("no target group {group}"));
        }
        let c = st
            .computers
            .get_mut(computer)
            .ok_or_else(|| format!("no computer {computer}"))?;
        c.groups.retain(|g| g != UNASSIGNED);
        if !c.groups.iter().any(|g| g == group) {
            c.groups.push(group.to_string());
        }
        Ok(())
    }

    pub fn approve(
        &self,
        update: usize,
        group: &str,
        action: i32,
        admin: &str,
        now_ms: u64,
    ) -> Result<Approval, String> {
        let mut st = self.state();
        if !st.groups.iter().any(|g| g.id == group) {
            return Err(format!("no target group {group}"));
        }
        if !(0..=1).contains(&action) {
            return Err(format!("deploymentAction {action} is not supported"));
        }
        st.approvals
            .retain(|a| !(a.update == update && a.group == group));
        if st.approvals.len() >= MAX_APPROVALS {
            return Err(format!("at most {MAX_APPROVALS} approvals"));
        }
        st.declined.remove(&update);
        st.next_deployment += 1;
        let a = Approval {
            deployment_id: st.next_deployment,
            update,
            group: group.to_string(),
            action,
            admin: admin.chars().take(MAX_NAME).collect(),
            at_ms: now_ms,
        };
        st.approvals.push(a.clone());
        st.approvals_changed_ms = now_ms;
        Ok(a)
    }

    pub fn decline(&self, update: usize, now_ms: u64) {
        let mut st = self.state();
        st.approvals.retain(|a| a.update != update);
        st.declined.insert(update);
        st.approvals_changed_ms = now_ms;
    }
}

/// WUA's reporting event ids a server lets through (install, download,
/// detection and self-update events).
const ALLOWED_EVENT_IDS: [i32; 16] = [
    147, 148, 149, 150, 151, 156, 161, 162, 163, 164, 166, 172, 181, 182, 183, 190,
];

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_NAME && !s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Server {
        Server::new(&WsusOptions::default(), 1_000_000, [7; 32])
    }

    fn el(xml: &str) -> Element {
        fakedc_xml::parse(xml.as_bytes(), &msg::LIMITS).unwrap()
    }

    #[test]
    fn cookies_seal_and_expire() {
        let s = server();
        let cx = Cx {
            now_ms: 1_000_000,
            base_url: "http://x",
        };
        let a = s
            .get_authorization_cookie(&el(
                "<a><clientId>c1</clientId><targetGroupName></targetGroupName></a>",
            ))
            .unwrap();
        let data = a
            .xml
            .split("<CookieData>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap();
        let c = s
            .get_cookie(&el(&format!("<g><authCookies><AuthorizationCookie><PlugInId>SimpleTargeting</PlugInId><CookieData>{data}</CookieData></AuthorizationCookie></authCookies><lastChange>{}</lastChange></g>", msg::datetime(s.config_ms))), &cx)
            .unwrap();
        let enc = c
            .xml
            .split("<EncryptedData>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap();
        let body = el(&format!(
            "<r><cookie><EncryptedData>{enc}</EncryptedData></cookie></r>"
        ));
        assert_eq!(s.cookie(&body, "cookie", 1_000_001).unwrap().0, "c1");
        let late = s
            .cookie(&body, "cookie", 1_000_000 + 3_600_000)
            .unwrap_err();
        assert_eq!(late.0.code, ErrorCode::InvalidCookie);
        let mut forged = msg::unb64(enc).unwrap();
        forged[0] ^= 1;
        let body = el(&format!(
            "<r><cookie><EncryptedData>{}</EncryptedData></cookie></r>",
            msg::b64(&forged)
        ));
        assert_eq!(
            s.cookie(&body, "cookie", 1_000_001).unwrap_err().0.code,
            ErrorCode::InvalidCookie
        );
    }

    #[test]
    fn content_cache_is_bounded_and_exact() {
        let o = WsusOptions {
            updates: 40,
            file_size: 100_000,
            content_cache_mib: 1,
            ..WsusOptions::default()
        };
        let s = Server::new(&o, 0, [1; 32]);
        for u in 0..40 {
            let b = s.cache_content(u, 0).unwrap();
            let f = s.catalog.file(u, 0).unwrap();
            let mut want = vec![0u8; f.size as usize];
            fakedc_bits::fill_virtual(f.seed, 0, &mut want);
            assert_eq!(&b[..], &want[..]);
            assert!(s.cache.lock().unwrap().bytes <= 1 << 20);
        }
        assert!(s.cached_content(0, 0).is_none());
        assert!(s.cached_content(39, 0).is_some());
    }

    #[test]
    fn approval_scope_pulls_prerequisites() {
        let s = server();
        s.approve(9, ALL_COMPUTERS, 0, "admin", 1).unwrap();
        let st = s.state();
        let scope = s.scope(&st, &[UNASSIGNED.to_string()]);
        assert_eq!(scope.get(&9).map(|d| d.1), Some("Install"));
        assert_eq!(scope.get(&8).map(|d| d.1), Some("Evaluate"));
        assert_eq!(scope.len(), 2);
    }
}
