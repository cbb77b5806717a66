//! The load balancer for fakedc (issue 17): an F5 BIG-IP iControl REST
//! subset on the LB's HTTPS 443 (`/mgmt`) whose virtual servers really
//! balance TCP connections over machines of the datacenter, and the `web`
//! site those machines serve.
//!
//! - [`rest`] — sans-IO iControl REST: routes, `~Partition~name` ids,
//!   objects and collections with `kind`/`selfLink`, stats, F5's errors;
//! - [`tokens`] — login tokens (sans-IO, time from the model's clock);
//! - [`service`] — the HTTP glue (auth, limits, journal, busy fault),
//!   persistence in the LB's share, virtual-server listeners kept in step;
//! - [`irule`] — iRules: a TCL-ish parser and the subset run at
//!   `CLIENT_ACCEPTED` and `HTTP_REQUEST`, refused at save time beyond it;
//! - [`proxy`] — a virtual server's listener: pick a member, dial it from
//!   the LB's address, copy both ways, count;
//! - [`monitor`] — health monitors (tcp, http, https) on their interval;
//! - [`web`] — the IIS-like site on `web` (HTTP 80) of guests and hosts;
//! - [`probe`] — `check`'s probes (login + sys/version; GET /).

pub mod irule;
pub mod monitor;
pub mod probe;
pub mod proxy;
pub mod rest;
pub mod service;
pub mod tokens;
pub mod transaction;
pub mod web;

use fakedc_model::ServiceKind;
use fakedc_net::{
    BoxFuture, Mount, ProbeReport, ProbeTarget, Protocol, Services, StartCtx, StartError,
};

/// iControl REST and the virtual servers, in the protocol registry.
pub struct LoadBalancer;

/// The registry's entry for the load balancer.
pub static PROTOCOL: LoadBalancer = LoadBalancer;

impl Protocol for LoadBalancer {
    fn name(&self) -> &'static str {
        "lb"
    }

    /// The management API on 443 only: the LB's port 80 is left to virtual
    /// servers (bound at run time as `lb-http`), as a device's traffic
    /// ports are not its management port.
    fn mounts(&self) -> &'static [Mount] {
        &[Mount::Http {
            kind: ServiceKind::LbHttps,
            prefix: "/mgmt",
        }]
    }

    fn option_tables(&self) -> &'static [&'static str] {
        &["lb"]
    }

    fn validate(&self, machine: &fakedc_model::Machine) -> Result<(), fakedc_net::OptionsError> {
        service::validate(machine).map(|_| ())
    }

    fn start(&self, ctx: &StartCtx<'_>, services: &mut Services) -> Result<(), StartError> {
        service::register(services, ctx.model).map_err(StartError::Environment)?;
        Ok(())
    }

    fn operations(&self) -> Vec<String> {
        [
            "POST /mgmt/shared/authn/login",
            "GET|PATCH|DELETE /mgmt/shared/authz/tokens/{token}",
            "GET /mgmt/shared/identified-devices/config/device-info",
            "GET /mgmt/tm/sys/",
            "GET /mgmt/tm/sys/version",
            "GET /mgmt/tm/sys/provision",
            "GET /mgmt/tm/cm/device",
            "GET|POST /mgmt/tm/ltm/{node,pool,virtual,virtual-address,monitor/http,monitor/https,monitor/tcp}",
            "GET|PUT|PATCH|DELETE /mgmt/tm/ltm/{...}/~Common~{name}",
            "GET|POST /mgmt/tm/ltm/pool/{id}/members",
            "GET|PUT|PATCH|DELETE /mgmt/tm/ltm/pool/{id}/members/{id}",
            "GET /mgmt/tm/ltm/{pool,virtual,node}/{id}/stats, pool/{id}/members[/{id}]/stats",
            "GET|POST /mgmt/tm/ltm/{profile/http,profile/tcp,profile/client-ssl,profile/server-ssl,snatpool}",
            "GET /mgmt/tm/ltm/virtual/{id}/profiles",
            "GET|POST /mgmt/tm/transaction, GET|PATCH(state VALIDATING)|DELETE /mgmt/tm/transaction/{id}",
            "GET /mgmt/tm/transaction/{id}/commands, GET|PATCH(evalOrder)|DELETE .../commands/{n}",
            "X-F5-REST-Coordination-Id: changes queued in a transaction",
            "virtual servers: TCP proxy, round-robin / least-connections",
            "virtual servers: TLS termination (client-ssl), TLS to members (server-ssl)",
            "virtual servers: source address translation none/automap/snat (SNAT pools)",
            "monitors: tcp, http, https",
            "GET|POST /mgmt/tm/ltm/rule, GET|PUT|PATCH|DELETE /mgmt/tm/ltm/rule/~Common~{name} (apiAnonymous TCL text)",
            "iRules on virtual servers: CLIENT_ACCEPTED, HTTP_REQUEST (if/elseif/else, set, return, pool, reject, drop, log, HTTP::redirect, HTTP::respond, HTTP::header insert|remove|replace, HTTP::uri; HTTP::uri|path|host|method|query|header, IP::client_addr, string tolower|toupper|length)",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn faults(&self) -> &'static [&'static str] {
        &["busy (HTTP 503 with F5's error body)"]
    }

    fn probe(&self, target: ProbeTarget) -> BoxFuture<ProbeReport> {
        Box::pin(probe::probe(target))
    }
}

/// The `web` site, in the protocol registry.
pub struct Web;

/// The registry's entry for the web site.
pub static WEB: Web = Web;

impl Protocol for Web {
    fn name(&self) -> &'static str {
        "web"
    }

    fn mounts(&self) -> &'static [Mount] {
        &[Mount::Http {
            kind: ServiceKind::Web,
            prefix: "/",
        }]
    }

    fn start(&self, ctx: &StartCtx<'_>, services: &mut Services) -> Result<(), StartError> {
        web::register(services, ctx.model);
        Ok(())
    }

    fn operations(&self) -> Vec<String> {
        vec![
            "GET|HEAD / (default page naming the machine)".into(),
            "GET|HEAD /{file} (static files from the share's wwwroot)".into(),
        ]
    }

    fn probe(&self, target: ProbeTarget) -> BoxFuture<ProbeReport> {
        Box::pin(probe::probe_web(target))
    }
}
