//! The WS-Management dispatcher: one parsed [`Request`] in, one response
//! envelope (or a [`Fault`]) out. It resolves the ResourceURI to the shell,
//! the config resource or a provider class, checks headers, applies
//! filters, keeps enumeration contexts and fits answers into
//! MaxEnvelopeSize. Authentication and transport are the caller's.

use crate::fault::Fault;
use crate::message::{action, identify_response, new_uuid, ns, response_writer, Request};
use crate::provider::{Ctx, EndpointRef, Instance, ResourceProvider};
use crate::shell::{self, CommandRule, HostFacts, Received, ShellLimits, Shells};
use crate::wql;
use crate::xml::soap::EnvelopeWriter;
use crate::xml::{escape, Element};
use base64::Engine as _;
use fakedc_model::MachineId;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const CONFIG_URI: &str = "http://schemas.microsoft.com/wbem/wsman/1/config";
pub const WQL_DIALECT: &str = "http://schemas.microsoft.com/wbem/wsman/1/WQL";
pub const SELECTOR_DIALECT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter";
pub const ASSOCIATION_DIALECT: &str =
    "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter";

/// Windows' default MaxEnvelopeSizekb (500) in bytes, used when a request
/// does not say.
pub const DEFAULT_MAX_ENVELOPE: usize = 512_000;
/// Pending enumeration contexts kept at once (oldest dropped first).
const MAX_ENUM_CONTEXTS: usize = 1024;
const ENUM_CONTEXT_TTL: Duration = Duration::from_secs(600);
/// The longest a Receive waits when the client asks for more.
const MAX_OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// Per-machine shell settings.
#[derive(Debug, Clone, Default)]
pub struct ShellConfig {
    pub rules: Vec<CommandRule>,
    pub limits: ShellLimits,
    pub facts: HostFacts,
    /// PSRP configurations served besides `Microsoft.PowerShell`
    /// (`[machine.options.winrm] psrp_configurations`).
    pub psrp_configurations: Vec<String>,
}

/// Everything about one call the engine needs besides the request.
pub struct Call<'a> {
    pub ctx: Ctx<'a>,
    pub machine_name: &'a str,
    pub shell: &'a ShellConfig,
    /// AllowUnencrypted, reported by the config resource.
    pub allow_unencrypted: bool,
}

struct EnumContext {
    machine: MachineId,
    owner: String,
    items: VecDeque<String>,
    created: Instant,
}

/// The engine: providers plus protocol bookkeeping (shells, enumerations).
pub struct Engine {
    providers: Vec<Arc<dyn ResourceProvider>>,
    pub shells: Shells,
    /// PowerShell remoting's runspace pools (`crate::psrp`).
    pub psrp: crate::psrp::Pools,
    enums: Mutex<HashMap<String, EnumContext>>,
    /// (ProductVendor, ProductVersion) for authenticated Identify.
    pub product: (String, String),
}

impl Engine {
    pub fn new(providers: Vec<Arc<dyn ResourceProvider>>) -> Engine {
        Engine {
            providers,
            shells: Shells::default(),
            psrp: crate::psrp::Pools::default(),
            enums: Mutex::new(HashMap::new()),
            product: (
                "Microsoft Corporation".into(),
                "OS: 10.0.17763 SP: 0.0 Stack: 3.0".into(),
            ),
        }
    }

    /// Anonymous Identify: what Windows tells a caller it does not know.
    pub fn identify_anonymous() -> String {
        identify_response("Microsoft Corporation", "OS: 0.0.0 SP: 0.0 Stack: 3.0")
    }

    /// Handles an authenticated request. A short name of the operation is
    /// returned with the answer for the journal.
    pub async fn handle(&self, call: &Call<'_>, req: &Request) -> Result<String, Fault> {
        if req.identify {
            return Ok(identify_response(&self.product.0, &self.product.1));
        }
        let act = req
            .action
            .as_deref()
            .ok_or_else(|| Fault::missing_header("Action"))?;
        let uri = req
            .resource_uri
            .as_deref()
            .ok_or_else(|| Fault::missing_header("ResourceURI"))?;
        let max_env = req
            .max_envelope_size
            .unwrap_or(DEFAULT_MAX_ENVELOPE)
            .clamp(8192, DEFAULT_MAX_ENVELOPE * 4);
        let out = if crate::psrp::is_psrp(uri) {
            let hook = crate::psrp::Hook {
                pools: &self.psrp,
                providers: &self.providers,
                configurations: &call.shell.psrp_configurations,
            };
            let body = hook.handle(call, req, act, uri, max_env).await?;
            response_to(act, req, body.len()).finish(&body)
        } else if uri.eq_ignore_ascii_case(shell::SHELL_URI) {
            let body = self.shell_op(call, req, act, max_env).await?;
            response_to(act, req, body.len()).finish(&body)
        } else if uri.starts_with(CONFIG_URI) {
            if act != action::GET {
                return Err(Fault::action_not_supported(act));
            }
            let body = config_xml(call);
            response_to(act, req, body.len()).finish(&body)
        } else {
            // Instances are written straight into the envelope rather than
            // into a body that is then copied into it.
            let mut result = Ok(());
            let out = response_to(act, req, 0)
                .finish_with(|out| result = self.class_op(call, req, act, uri, max_env, out));
            result?;
            out
        };
        if out.len() > max_env {
            return Err(Fault::max_envelope_exceeded(max_env));
        }
        Ok(out)
    }

    async fn shell_op(
        &self,
        call: &Call<'_>,
        req: &Request,
        act: &str,
        max_env: usize,
    ) -> Result<String, Fault> {
        let m = call.ctx.machine;
        let user = call.ctx.user;
        let lim = &call.shell.limits;
        let clock = &call.ctx.model.clock;
        let now = call.ctx.now;
        if act == action::CREATE {
            let id = self.shells.create(m, user, now, lim)?;
            return Ok(format!(
                concat!(
                    "<x:ResourceCreated><a:Address>http://{host}:5985/wsman</a:Address><a:ReferenceParameters>",
                    "<w:ResourceURI>{uri}</w:ResourceURI><w:SelectorSet><w:Selector Name=\"ShellId\">{id}</w:Selector></w:SelectorSet>",
                    "</a:ReferenceParameters></x:ResourceCreated>",
                    "<rsp:Shell><rsp:ShellId>{id}</rsp:ShellId><rsp:ResourceUri>{uri}</rsp:ResourceUri>",
                    "<rsp:Owner>{owner}</rsp:Owner><rsp:ClientIP>127.0.0.1</rsp:ClientIP>",
                    "<rsp:IdleTimeOut>PT{idle}.000S</rsp:IdleTimeOut><rsp:InputStreams>stdin</rsp:InputStreams>",
                    "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams><rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime>",
                    "<rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>"
                ),
                host = escape(call.machine_name),
                uri = shell::SHELL_URI,
                id = id,
                owner = escape(user),
                idle = lim.idle_timeout.as_secs()
            ));
        }
        if ![
            action::COMMAND,
            action::RECEIVE,
            action::SEND,
            action::SIGNAL,
            action::DELETE,
        ]
        .contains(&act)
        {
            return Err(Fault::action_not_supported(act));
        }
        let shell_id = req
            .selector("ShellId")
            .ok_or_else(|| Fault::invalid_selectors("The ShellId selector is missing."))?;
        match act {
            action::COMMAND => {
                let line = req
                    .body
                    .find(ns::RSP, "CommandLine")
                    .ok_or_else(|| Fault::schema("rsp:CommandLine is missing"))?;
                let command = line
                    .child(ns::RSP, "Command")
                    .map(|c| c.text.as_str())
                    .unwrap_or_default();
                let args: Vec<&str> = line
                    .children_named(ns::RSP, "Arguments")
                    .map(|a| a.text.as_str())
                    .collect();
                // `whoami`, %USERNAME% and $env:USERNAME name the account
                // that authenticated, without its domain.
                let account = user.rsplit('\\').next().unwrap_or(user);
                let account = account.split('@').next().unwrap_or(account);
                let facts = shell::HostFacts {
                    user: account.to_string(),
                    ..call.shell.facts.clone()
                };
                // A `powershell` line runs fakedc-pwsh, which may take a
                // while (Start-Sleep, Stop-VM's shutdown): on the blocking
                // pool, never on the async worker.
                let env = crate::powershell::PsEnv {
                    model: call.ctx.model.clone(),
                    machine: m,
                    user: account.to_string(),
                    rules: call.shell.rules.clone(),
                    facts: facts.clone(),
                    providers: self.providers.clone(),
                };
                let (command, args) = (command.to_string(), args.join(" "));
                let out = tokio::task::spawn_blocking(move || {
                    let ps =
                        |inv: &crate::powershell::Invocation| crate::powershell::run(&env, inv);
                    shell::run_in(Some(&ps), &env.rules, &env.facts, &command, &args)
                })
                .await
                .map_err(|_| Fault::invalid_parameter("The command's worker failed."))?;
                let id = self.shells.command(m, user, shell_id, out, now, lim)?;
                Ok(format!(
                    "<rsp:CommandResponse><rsp:CommandId>{id}</rsp:CommandId></rsp:CommandResponse>"
                ))
            }
            action::RECEIVE => {
                let ds = req
                    .body
                    .find(ns::RSP, "DesiredStream")
                    .ok_or_else(|| Fault::schema("rsp:DesiredStream is missing"))?;
                let cmd = ds
                    .attr("CommandId")
                    .ok_or_else(|| Fault::schema("DesiredStream has no CommandId"))?;
                let timeout = req
                    .operation_timeout
                    .unwrap_or(Duration::from_secs(60))
                    .min(MAX_OPERATION_TIMEOUT);
                let deadline = clock.now() + timeout;
                // Raw bytes that fit once base64-encoded, with room for the
                // envelope around them.
                let budget = max_env.saturating_sub(4096) / 4 * 3;
                loop {
                    let now = clock.now();
                    match self
                        .shells
                        .receive(m, user, shell_id, cmd, budget, now, lim)?
                    {
                        Received::Pending(at) => {
                            // Deadlines are on the model's clock; sleep the
                            // real time left to them.
                            if at > deadline {
                                tokio::time::sleep(deadline.saturating_duration_since(now)).await;
                                return Err(Fault::timed_out());
                            }
                            tokio::time::sleep(at.saturating_duration_since(now)).await;
                        }
                        Received::Output {
                            stdout,
                            stderr,
                            done,
                        } => return Ok(receive_xml(cmd, &stdout, &stderr, done)),
                    }
                }
            }
            action::SEND => {
                let mut total = 0usize;
                let mut cmd = None;
                for s in req
                    .body
                    .find(ns::RSP, "Send")
                    .map(|s| s.children_named(ns::RSP, "Stream").collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    cmd = cmd.or(s.attr("CommandId"));
                    total += base64::engine::general_purpose::STANDARD
                        .decode(s.text_trim())
                        .map(|b| b.len())
                        .map_err(|_| Fault::schema("rsp:Stream is not base64"))?;
                }
                let cmd = cmd.ok_or_else(|| Fault::schema("rsp:Stream has no CommandId"))?;
                self.shells.send(m, user, shell_id, cmd, total, now, lim)?;
                Ok("<rsp:SendResponse/>".into())
            }
            action::SIGNAL => {
                let sig = req
                    .body
                    .find(ns::RSP, "Signal")
                    .ok_or_else(|| Fault::schema("rsp:Signal is missing"))?;
                let cmd = sig.attr("CommandId").unwrap_or_default();
                self.shells.signal(m, user, shell_id, cmd, now, lim)?;
                Ok("<rsp:SignalResponse/>".into())
            }
            action::DELETE => {
                self.shells.delete(m, user, shell_id, now, lim)?;
                Ok(String::new())
            }
            other => Err(Fault::action_not_supported(other)),
        }
    }

    /// Finds the provider and class a ResourceURI names (`*` = the class
    /// named by the request's WQL filter).
    fn resolve<'p>(
        &'p self,
        uri: &str,
        req: &Request,
    ) -> Result<(&'p Arc<dyn ResourceProvider>, String), Fault> {
        let ns_sel = req.selector("__cimnamespace");
        for p in &self.providers {
            let Some(rest) = strip_prefix_ci(uri, p.uri_prefix()) else {
                continue;
            };
            if ns_sel.is_some_and(|n| !n.eq_ignore_ascii_case(p.cim_namespace())) {
                continue;
            }
            let class = if rest == "*" {
                match wql_filter(req)? {
                    Some(q) => q.class,
                    None => {
                        return Err(Fault::invalid_resource_uri(uri)
                            .with_message("A wildcard ResourceURI needs a WQL filter."))
                    }
                }
            } else {
                rest.to_string()
            };
            if let Some(c) = p.classes().iter().find(|c| c.eq_ignore_ascii_case(&class)) {
                return Ok((p, c.to_string()));
            }
        }
        Err(Fault::invalid_resource_uri(uri))
    }

    /// A Get, Put, Enumerate, Pull, Release or method of a provider's
    /// class, its answer's body appended to `out`.
    fn class_op(
        &self,
        call: &Call<'_>,
        req: &Request,
        act: &str,
        uri: &str,
        max_env: usize,
        out: &mut String,
    ) -> Result<(), Fault> {
        let ctx = &call.ctx;
        match act {
            action::PULL => return self.pull(call, req, max_env, out),
            action::RELEASE => {
                let id = enum_context(&req.body)?;
                let mut g = self.enums.lock().unwrap_or_else(|p| p.into_inner());
                if g.remove(&id).is_none() {
                    return Err(Fault::invalid_enumeration_context());
                }
                return Ok(());
            }
            _ => {}
        }
        // Association-filter Enumerate may name the "all classes"
        // ResourceURI (`http://schemas.dmtf.org/wbem/wscim/1/*`, DSP0227
        // §8.2; what SMASH clients send): b:Object says where to start.
        if act == action::ENUMERATE && uri.ends_with("/*") && is_association_enumerate(req) {
            if let Some(p) = self.providers.first() {
                return self.enumerate(call, req, p, "*", max_env, out);
            }
        }
        let (p, class) = self.resolve(uri, req)?;
        let selectors: Vec<(String, String)> = req
            .selectors
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("__cimnamespace"))
            .cloned()
            .collect();
        match act {
            action::GET => {
                find_one(p.instances(ctx, &class)?, &selectors)?.write_xml(out);
                Ok(())
            }
            action::PUT => {
                let target = find_one(p.instances(ctx, &class)?, &selectors)?;
                p.put(ctx, &class, &target, &req.body)?.write_xml(out);
                Ok(())
            }
            action::ENUMERATE => self.enumerate(call, req, p, &class, max_env, out),
            _ => {
                let method = act
                    .rsplit_once('/')
                    .filter(|(base, _)| {
                        base.eq_ignore_ascii_case(uri)
                            || base
                                .rsplit('/')
                                .next()
                                .is_some_and(|c| c.eq_ignore_ascii_case(&class))
                    })
                    .map(|(_, m)| m)
                    .ok_or_else(|| Fault::action_not_supported(act))?;
                let target = if selectors.is_empty() {
                    None
                } else {
                    Some(find_one(p.instances(ctx, &class)?, &selectors)?)
                };
                let empty = Element::default();
                let input = req.body.children.first().unwrap_or(&empty);
                let result = p.invoke(ctx, &class, method, target.as_ref(), input)?;
                let class_uri = format!("{}{}", p.uri_prefix(), class);
                let _ = write!(
                    out,
                    r#"<p:{method}_OUTPUT xmlns:p="{}">"#,
                    escape(&class_uri)
                );
                crate::provider::write_props(out, &result.params);
                let _ = write!(
                    out,
                    "<p:ReturnValue>{}</p:ReturnValue></p:{method}_OUTPUT>",
                    result.return_value
                );
                Ok(())
            }
        }
    }

    fn enumerate(
        &self,
        call: &Call<'_>,
        req: &Request,
        p: &Arc<dyn ResourceProvider>,
        class: &str,
        max_env: usize,
        out: &mut String,
    ) -> Result<(), Fault> {
        let ctx = &call.ctx;
        let en = req.body.child(ns::N, "Enumerate");
        let w = |name: &str| en.and_then(|e| e.child(ns::W, name));
        let optimize = w("OptimizeEnumeration").is_some();
        let max_elements = w("MaxElements")
            .and_then(|e| e.text_trim().parse::<usize>().ok())
            .unwrap_or(1)
            .clamp(1, 32_000);
        let epr_mode = w("EnumerationMode").map(|e| e.text_trim().to_string());
        let mut instances: Vec<Instance> = match w("Filter") {
            Some(f) if f.attr("Dialect") == Some(ASSOCIATION_DIALECT) => self.associated(ctx, f)?,
            _ => p.instances(ctx, class)?,
        };
        if let Some(q) = wql_filter(req)? {
            if !q.class.eq_ignore_ascii_case(class) {
                return Err(Fault::cannot_process_filter(format!(
                    "The WQL query names {}, not {class}.",
                    q.class
                )));
            }
            instances.retain(|i| q.matches(i));
        }
        if let Some(f) = w("Filter").filter(|f| f.attr("Dialect") == Some(SELECTOR_DIALECT)) {
            let sel: Vec<(String, String)> = f
                .find(ns::W, "SelectorSet")
                .map(|s| {
                    s.children_named(ns::W, "Selector")
                        .map(|x| {
                            (
                                x.attr("Name").unwrap_or_default().to_string(),
                                x.text_trim().to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            instances.retain(|i| i.matches(&sel));
        }
        let write_item = |x: &mut String, i: &Instance| match epr_mode.as_deref() {
            Some("EnumerateEPR") => {
                x.push_str("<a:EndpointReference>");
                i.epr().write_xml(x);
                x.push_str("</a:EndpointReference>");
            }
            Some("EnumerateObjectAndEPR") => {
                x.push_str("<w:Item>");
                i.write_xml(x);
                x.push_str("<a:EndpointReference>");
                i.epr().write_xml(x);
                x.push_str("</a:EndpointReference></w:Item>");
            }
            _ => i.write_xml(x),
        };
        let item = |i: &Instance| {
            let mut x = String::with_capacity(256 + i.props.len() * 64);
            write_item(&mut x, i);
            x
        };
        let context = |items: VecDeque<String>| EnumContext {
            machine: ctx.machine,
            owner: ctx.user.to_string(),
            items,
            created: ctx.now,
        };
        if !optimize {
            let id = self.store(context(instances.iter().map(item).collect()));
            out.push_str("<n:EnumerateResponse><n:EnumerationContext>");
            out.push_str(&id);
            out.push_str("</n:EnumerationContext></n:EnumerateResponse>");
            return Ok(());
        }
        // The first batch is written straight into the envelope; what does
        // not fit (MaxElements, or the envelope's room as `batch_len`
        // counts it) is kept for Pull, and the context, which comes before
        // the items, is slipped in ahead of them only then.
        let budget = items_budget(max_env);
        out.push_str("<n:EnumerateResponse>");
        let context_at = out.len();
        out.push_str("<w:Items>");
        let items_at = out.len();
        let mut rest = VecDeque::new();
        let mut n = 0;
        for i in &instances {
            if !rest.is_empty() || n == max_elements {
                rest.push_back(item(i));
                continue;
            }
            let at = out.len();
            write_item(out, i);
            if out.len() - items_at > budget {
                if n == 0 {
                    return Err(Fault::max_envelope_exceeded(max_env));
                }
                rest.push_back(out[at..].to_string());
                out.truncate(at);
                continue;
            }
            n += 1;
        }
        if rest.is_empty() {
            out.push_str("</w:Items><w:EndOfSequence/>");
        } else {
            let id = self.store(context(rest));
            out.insert_str(
                context_at,
                &format!("<n:EnumerationContext>{id}</n:EnumerationContext>"),
            );
            out.push_str("</w:Items>");
        }
        out.push_str("</n:EnumerateResponse>");
        Ok(())
    }

    fn store(&self, c: EnumContext) -> String {
        let id = format!("uuid:{}", new_uuid());
        let mut g = self.enums.lock().unwrap_or_else(|p| p.into_inner());
        let now = c.created;
        g.retain(|_, e| now.saturating_duration_since(e.created) < ENUM_CONTEXT_TTL);
        if g.len() >= MAX_ENUM_CONTEXTS {
            if let Some(oldest) = g
                .iter()
                .min_by_key(|(_, e)| e.created)
                .map(|(k, _)| k.clone())
            {
                g.remove(&oldest);
            }
        }
        g.insert(id.clone(), c);
        id
    }

    fn pull(
        &self,
        call: &Call<'_>,
        req: &Request,
        max_env: usize,
        out: &mut String,
    ) -> Result<(), Fault> {
        let id = enum_context(&req.body)?;
        let max_elements = req
            .body
            .find(ns::N, "MaxElements")
            .and_then(|e| e.text_trim().parse::<usize>().ok())
            .unwrap_or(1)
            .clamp(1, 32_000);
        let mut g = self.enums.lock().unwrap_or_else(|p| p.into_inner());
        let Some(mut c) = g.remove(&id) else {
            return Err(Fault::invalid_enumeration_context());
        };
        if c.machine != call.ctx.machine || !c.owner.eq_ignore_ascii_case(call.ctx.user) {
            return Err(Fault::invalid_enumeration_context());
        }
        let n = batch_len(&c.items, max_elements, max_env)?;
        out.push_str("<n:PullResponse>");
        if n == c.items.len() {
            out.push_str("<n:Items>");
            c.items.iter().for_each(|i| out.push_str(i));
            out.push_str("</n:Items><n:EndOfSequence/>");
        } else {
            out.push_str("<n:EnumerationContext>");
            out.push_str(&id);
            out.push_str("</n:EnumerationContext><n:Items>");
            c.items.drain(..n).for_each(|i| out.push_str(&i));
            out.push_str("</n:Items>");
            g.insert(id, c);
        }
        out.push_str("</n:PullResponse>");
        Ok(())
    }

    /// Association filter (`b:AssociatedInstances` / `b:AssociationInstances`).
    fn associated(&self, ctx: &Ctx<'_>, filter: &Element) -> Result<Vec<Instance>, Fault> {
        let (assoc_mode, spec) = match (
            filter.find(ns::B, "AssociatedInstances"),
            filter.find(ns::B, "AssociationInstances"),
        ) {
            (Some(s), _) => (false, s),
            (None, Some(s)) => (true, s),
            _ => return Err(Fault::cannot_process_filter("no b:AssociatedInstances")),
        };
        let object = spec
            .child(ns::B, "Object")
            .and_then(EndpointRef::from_element)
            .ok_or_else(|| Fault::cannot_process_filter("b:Object is missing"))?;
        let text = |n: &str| spec.child(ns::B, n).map(|e| e.text_trim().to_string());
        let (assoc_class, result_class, role, result_role) = (
            text("AssociationClassName"),
            text("ResultClassName"),
            text("Role"),
            text("ResultRole"),
        );
        let same = |a: &EndpointRef, b: &EndpointRef| {
            a.class_name().eq_ignore_ascii_case(b.class_name())
                && b.selectors.iter().all(|(k, v)| {
                    k.eq_ignore_ascii_case("__cimnamespace")
                        || a.selectors.iter().any(|(k2, v2)| {
                            k2.eq_ignore_ascii_case(k) && v2.eq_ignore_ascii_case(v)
                        })
                })
        };
        let ci = |a: &Option<String>, b: &str| a.as_ref().is_none_or(|x| x.eq_ignore_ascii_case(b));
        // Class filters match the class or any subclass of it.
        let is_a = |p: &Arc<dyn ResourceProvider>, filter: &Option<String>, class: &str| {
            filter.as_ref().is_none_or(|f| p.is_a(class, f))
        };
        let mut out = Vec::new();
        let mut assoc_cache: HashMap<String, Vec<Instance>> = HashMap::new();
        for p in &self.providers {
            for a in p.associations(ctx) {
                if !is_a(p, &assoc_class, &a.class) {
                    continue;
                }
                for (mine, other) in [(&a.left, &a.right), (&a.right, &a.left)] {
                    if !same(&mine.1, &object) || !ci(&role, &mine.0) || !ci(&result_role, &other.0)
                    {
                        continue;
                    }
                    if assoc_mode {
                        // References: ResultClassName names the association
                        // class (DSP0227 §8.3); the provider's own instance
                        // of it carries its properties (PlatformGUID, IsNext).
                        if !is_a(p, &result_class, &a.class) {
                            continue;
                        }
                        if let Some(i) = association_instance(p, ctx, &a, &mut assoc_cache) {
                            out.push(i);
                            continue;
                        }
                        out.push(
                            Instance::new(&a.resource_uri, &a.class, &[])
                                .with(
                                    a.left.0.clone(),
                                    crate::provider::Value::Ref(a.left.1.clone()),
                                )
                                .with(
                                    a.right.0.clone(),
                                    crate::provider::Value::Ref(a.right.1.clone()),
                                ),
                        );
                    } else if is_a(p, &result_class, other.1.class_name()) {
                        if let Some(i) = self.resolve_epr(ctx, &other.1) {
                            out.push(i);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    fn resolve_epr(&self, ctx: &Ctx<'_>, r: &EndpointRef) -> Option<Instance> {
        let ns_sel = r
            .selectors
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("__cimnamespace"))
            .map(|(_, v)| v.as_str());
        for p in &self.providers {
            let Some(class) = strip_prefix_ci(&r.resource_uri, p.uri_prefix()) else {
                continue;
            };
            if ns_sel.is_some_and(|n| !n.eq_ignore_ascii_case(p.cim_namespace())) {
                continue;
            }
            if let Ok(list) = p.instances(ctx, class) {
                if let Some(i) = list.into_iter().find(|i| i.matches(&r.selectors)) {
                    return Some(i);
                }
            }
        }
        None
    }
}

/// Whether an Enumerate carries an association filter.
fn is_association_enumerate(req: &Request) -> bool {
    req.body
        .find(ns::N, "Enumerate")
        .and_then(|e| e.child(ns::W, "Filter"))
        .is_some_and(|f| f.attr("Dialect") == Some(ASSOCIATION_DIALECT))
}

/// The provider's instance of an association (both ends equal), if it
/// serves the association class; instances are listed once per class.
fn association_instance(
    p: &Arc<dyn ResourceProvider>,
    ctx: &Ctx<'_>,
    a: &crate::provider::Association,
    cache: &mut HashMap<String, Vec<Instance>>,
) -> Option<Instance> {
    use crate::provider::Value;
    let key = format!("{}|{}|{}", p.uri_prefix(), p.cim_namespace(), a.class);
    let list = cache
        .entry(key)
        .or_insert_with(|| p.instances(ctx, &a.class).unwrap_or_default());
    list.iter()
        .find(|i| {
            i.get(&a.left.0) == Some(&Value::Ref(a.left.1.clone()))
                && i.get(&a.right.0) == Some(&Value::Ref(a.right.1.clone()))
        })
        .cloned()
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix))
    .then(|| &s[prefix.len()..])
}

fn find_one(list: Vec<Instance>, selectors: &[(String, String)]) -> Result<Instance, Fault> {
    let mut matching = list.into_iter().filter(|i| i.matches(selectors));
    match (matching.next(), matching.next()) {
        (Some(i), None) => Ok(i),
        (Some(_), Some(_)) => Err(Fault::invalid_selectors(
            "The selectors do not name exactly one instance of the resource.",
        )),
        (None, _) => Err(Fault::invalid_selectors(
            "No instance of the resource matches the selectors.",
        )),
    }
}

fn wql_filter(req: &Request) -> Result<Option<wql::Query>, Fault> {
    let Some(f) = req.body.find(ns::W, "Filter") else {
        return Ok(None);
    };
    if f.attr("Dialect") != Some(WQL_DIALECT) {
        return Ok(None);
    }
    wql::parse(f.text_trim())
        .map(Some)
        .map_err(Fault::cannot_process_filter)
}

fn enum_context(body: &Element) -> Result<String, Fault> {
    body.find(ns::N, "EnumerationContext")
        .map(|e| e.text_trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(Fault::invalid_enumeration_context)
}

/// Room for a batch's items in an envelope of `max_env` bytes: what the
/// headers and the response's own elements leave.
fn items_budget(max_env: usize) -> usize {
    max_env.saturating_sub(2048)
}

/// How many of the first items (at most `max`) fit in the envelope
/// together; one item that alone is too big is an EncodingLimit fault.
fn batch_len(items: &VecDeque<String>, max: usize, max_env: usize) -> Result<usize, Fault> {
    let budget = items_budget(max_env);
    let (mut n, mut len) = (0, 0);
    for item in items.iter().take(max) {
        if len + item.len() > budget {
            if n == 0 {
                return Err(Fault::max_envelope_exceeded(max_env));
            }
            break;
        }
        len += item.len();
        n += 1;
    }
    Ok(n)
}

/// The response envelope to `req` (action `act`) up to its Body, with
/// room for `capacity` bytes of Body.
fn response_to(act: &str, req: &Request, capacity: usize) -> EnvelopeWriter {
    response_writer(act, "Response", req.message_id.as_deref(), capacity)
}

fn receive_xml(cmd: &str, stdout: &[u8], stderr: &[u8], done: Option<i32>) -> String {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let cmd = escape(cmd);
    let mut x = String::from("<rsp:ReceiveResponse>");
    let end = if done.is_some() { r#" End="true""# } else { "" };
    if !stdout.is_empty() {
        let _ = write!(
            x,
            r#"<rsp:Stream Name="stdout" CommandId="{cmd}">{}</rsp:Stream>"#,
            b64.encode(stdout)
        );
    }
    if !stderr.is_empty() {
        let _ = write!(
            x,
            r#"<rsp:Stream Name="stderr" CommandId="{cmd}">{}</rsp:Stream>"#,
            b64.encode(stderr)
        );
    }
    if done.is_some() {
        let _ = write!(
            x,
            r#"<rsp:Stream Name="stdout" CommandId="{cmd}"{end}></rsp:Stream><rsp:Stream Name="stderr" CommandId="{cmd}"{end}></rsp:Stream>"#
        );
    }
    match done {
        Some(code) => {
            let _ = write!(
                x,
                r#"<rsp:CommandState CommandId="{cmd}" State="{}"><rsp:ExitCode>{code}</rsp:ExitCode></rsp:CommandState>"#,
                shell::STATE_DONE
            );
        }
        None => {
            let _ = write!(
                x,
                r#"<rsp:CommandState CommandId="{cmd}" State="{}"/>"#,
                shell::STATE_RUNNING
            );
        }
    }
    x.push_str("</rsp:ReceiveResponse>");
    x
}

fn config_xml(call: &Call<'_>) -> String {
    let lim = &call.shell.limits;
    format!(
        concat!(
            r#"<cfg:Config xmlns:cfg="{cfg}" xml:lang="en-US">"#,
            "<cfg:MaxEnvelopeSizekb>500</cfg:MaxEnvelopeSizekb><cfg:MaxTimeoutms>60000</cfg:MaxTimeoutms>",
            "<cfg:MaxBatchItems>32000</cfg:MaxBatchItems><cfg:MaxProviderRequests>4294967295</cfg:MaxProviderRequests>",
            "<cfg:Service><cfg:RootSDDL>O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;IU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)</cfg:RootSDDL>",
            "<cfg:MaxConcurrentOperations>4294967295</cfg:MaxConcurrentOperations><cfg:MaxConcurrentOperationsPerUser>1500</cfg:MaxConcurrentOperationsPerUser>",
            "<cfg:EnumerationTimeoutms>240000</cfg:EnumerationTimeoutms><cfg:MaxConnections>300</cfg:MaxConnections>",
            "<cfg:MaxPacketRetrievalTimeSeconds>120</cfg:MaxPacketRetrievalTimeSeconds>",
            "<cfg:AllowUnencrypted>{unenc}</cfg:AllowUnencrypted>",
            "<cfg:Auth><cfg:Basic>true</cfg:Basic><cfg:Kerberos>false</cfg:Kerberos><cfg:Negotiate>true</cfg:Negotiate>",
            "<cfg:Certificate>false</cfg:Certificate><cfg:CredSSP>false</cfg:CredSSP><cfg:CbtHardeningLevel>Relaxed</cfg:CbtHardeningLevel></cfg:Auth>",
            "<cfg:DefaultPorts><cfg:HTTP>5985</cfg:HTTP><cfg:HTTPS>5986</cfg:HTTPS></cfg:DefaultPorts>",
            "</cfg:Service><cfg:Winrs><cfg:AllowRemoteShellAccess>true</cfg:AllowRemoteShellAccess>",
            "<cfg:IdleTimeout>{idle}</cfg:IdleTimeout><cfg:MaxConcurrentUsers>2147483647</cfg:MaxConcurrentUsers>",
            "<cfg:MaxProcessesPerShell>2147483647</cfg:MaxProcessesPerShell><cfg:MaxMemoryPerShellMB>2147483647</cfg:MaxMemoryPerShellMB>",
            "<cfg:MaxShellsPerUser>{shells}</cfg:MaxShellsPerUser></cfg:Winrs></cfg:Config>"
        ),
        cfg = ns::CFG,
        unenc = call.allow_unencrypted,
        idle = lim.idle_timeout.as_millis(),
        shells = lim.max_shells_per_user
    )
}
