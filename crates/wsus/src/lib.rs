//! WSUS for fakedc: the update server VMM patches its fabric from, on
//! 8530/8531 (common port) and 80/443 (content port).
//!
//! - [`msg`] — sans-IO SOAP: which operation a request names, typed
//!   pieces, the response envelope and WSUS's faults;
//! - [`catalog`] — the updates a scenario declares by count: categories,
//!   revisions, prerequisites, supersedence, generated content with
//!   digests that match its bytes;
//! - [`server`] — one machine's state (cookies, computers, groups,
//!   approvals, events) and the MS-WUSP operations over it;
//! - [`admin`] — the ApiRemoting30 subset approvals need, and its WSDL;
//! - [`service`] — the HTTP glue (anonymous client services and content,
//!   Windows authentication for the admin service, journal, faults);
//! - [`probe`] — the `fakedc check` probe and a small client.

pub mod admin;
pub mod catalog;
pub mod identity;
pub mod msg;
pub mod probe;
pub mod server;
pub mod service;

pub use server::WsusOptions;
pub use service::{operations, register, OptionsError};

use fakedc_net::{
    BoxFuture, Mount, ProbeReport, ProbeTarget, Protocol, Services, StartCtx, StartError,
};

/// WSUS in the protocol registry (`fakedc::protocols()`).
pub struct Wsus;

/// The registry's entry for WSUS.
pub static PROTOCOL: Wsus = Wsus;

impl Protocol for Wsus {
    fn name(&self) -> &'static str {
        "wsus"
    }

    /// Every path on all four ports: WSUS 3.0+ serves the web services
    /// and `/Content` on the common port, and `/Content` (and, for old
    /// clients, the services) on 80/443.
    fn mounts(&self) -> &'static [Mount] {
        use fakedc_model::ServiceKind::*;
        &[
            Mount::Http {
                kind: WsusControlHttp,
                prefix: "/",
            },
            Mount::Http {
                kind: WsusControlHttps,
                prefix: "/",
            },
            Mount::Http {
                kind: WsusHttp,
                prefix: "/",
            },
            Mount::Http {
                kind: WsusHttps,
                prefix: "/",
            },
        ]
    }

    fn option_tables(&self) -> &'static [&'static str] {
        &["wsus"]
    }

    fn validate(&self, machine: &fakedc_model::Machine) -> Result<(), OptionsError> {
        service::validate(machine).map(|_| ())
    }

    fn start(&self, ctx: &StartCtx<'_>, services: &mut Services) -> Result<(), StartError> {
        Ok(register(services, ctx.model)?)
    }

    fn operations(&self) -> Vec<String> {
        operations()
    }

    fn faults(&self) -> &'static [&'static str] {
        &["busy (client services: ServerBusy fault; admin and content: HTTP 503)"]
    }

    fn probe(&self, t: ProbeTarget) -> BoxFuture<ProbeReport> {
        Box::pin(async move { probe::probe(t.addr, t.tls, t.creds(), t.timeout).await })
    }
}
