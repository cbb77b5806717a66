//! SMASH over WS-Management: the BMC row "443 HTTPS (SMASH over
//! WS-Management)". The DMTF server profiles (Profile Registration, Base
//! Server, Power State Management, Boot Control, Physical Asset, Software
//! Inventory, CPU, System Memory, Sensors, Record Log) are CIM classes over
//! the shared model, served by the WS-Management engine of `fakedc-wsman`.
//!
//! A BMC shares its host's chassis, so what SMASH changes is what IPMI,
//! the control API and the host's OS endpoints see, and the other way round.
//!
//! Sans-IO: `digest` (RFC 7616), `cim` (classes over a chassis snapshot).
//! `service` is the HTTP glue, `probe` the client for `check`.

pub mod cim;
/// RFC 7616 Digest, now part of the one HTTP front (`fakedc_net::auth`).
pub use fakedc_net::auth::digest;
pub mod probe;
pub mod service;

pub use service::{operations, register, OptionsError, SmashOptions};

use fakedc_net::{
    BoxFuture, Mount, ProbeReport, ProbeTarget, Protocol, Services, StartCtx, StartError,
};

/// SMASH in the protocol registry (`fakedc::protocols()`).
pub struct Smash;

/// The registry's entry for SMASH over WS-Management.
pub static PROTOCOL: Smash = Smash;

impl Protocol for Smash {
    fn name(&self) -> &'static str {
        "smash"
    }

    /// `/wsman` on the BMC's 443, leaving `/redfish` to Redfish.
    fn mounts(&self) -> &'static [Mount] {
        &[Mount::Http {
            kind: fakedc_model::ServiceKind::Smash,
            prefix: "/wsman",
        }]
    }

    fn option_tables(&self) -> &'static [&'static str] {
        &["smash"]
    }

    fn validate(&self, machine: &fakedc_model::Machine) -> Result<(), OptionsError> {
        service::validate(machine)
    }

    fn start(&self, ctx: &StartCtx<'_>, services: &mut Services) -> Result<(), StartError> {
        Ok(register(services, ctx.model)?)
    }

    fn operations(&self) -> Vec<String> {
        operations()
    }

    fn faults(&self) -> &'static [&'static str] {
        &["busy (HTTP 503)"]
    }

    fn probe(&self, t: ProbeTarget) -> BoxFuture<ProbeReport> {
        Box::pin(async move { probe::probe(t.addr, t.creds(), t.timeout).await })
    }
}
