//! Redfish (DMTF DSP0266) on a BMC's HTTPS 443, beside SMASH's `/wsman`
//! on the same front (lighttpd's identity, `fakedc_model::WebServer`).
//!
//! A BMC shares its host's chassis, so a Redfish `ComputerSystem.Reset`
//! is what `ipmitool chassis power status` then reports, and a boot
//! override set here is what `ipmitool chassis bootparam get 5` shows.
//! Accounts are the BMC's user table, the one IPMI logs in with.
//!
//! Sans-IO: `api` turns one decoded request into one reply over the model.
//! `service` is the HTTP glue (body limit, headers, journal), `probe` the
//! client for `fakedc check`.

pub mod accounts;
pub mod api;
pub mod environment;
pub mod events;
pub mod inventory;
pub mod logs;
pub mod media;
pub mod probe;
pub mod query;
pub mod service;
pub mod tasks;
pub mod update;

pub use service::{operations, register};

use fakedc_net::{
    BoxFuture, Mount, ProbeReport, ProbeTarget, Protocol, Services, StartCtx, StartError,
};

/// Redfish in the protocol registry (`fakedc::protocols()`).
pub struct Redfish;

/// The registry's entry for Redfish.
pub static PROTOCOL: Redfish = Redfish;

impl Protocol for Redfish {
    fn name(&self) -> &'static str {
        "redfish"
    }

    /// `/redfish` on the BMC's 443: the same listener as SMASH's `/wsman`
    /// (a real BMC has one web server), under its own endpoint kind so the
    /// journal and fault rules say "redfish".
    fn mounts(&self) -> &'static [Mount] {
        &[Mount::Http {
            kind: fakedc_model::ServiceKind::Redfish,
            prefix: "/redfish",
        }]
    }

    /// Inventory the model does not carry: NICs and disks (CPUs and
    /// memory are the model's `Compute`).
    fn option_tables(&self) -> &'static [&'static str] {
        &["redfish"]
    }

    fn validate(&self, machine: &fakedc_model::Machine) -> Result<(), fakedc_net::OptionsError> {
        inventory::Inventory::of(machine, &fakedc_model::Compute::SERVER).map(|_| ())
    }

    fn start(&self, ctx: &StartCtx<'_>, services: &mut Services) -> Result<(), StartError> {
        register(services, ctx.model);
        Ok(())
    }

    fn operations(&self) -> Vec<String> {
        operations()
    }

    fn probe(&self, t: ProbeTarget) -> BoxFuture<ProbeReport> {
        Box::pin(async move { probe::probe(t.addr, t.creds(), t.timeout).await })
    }
}
