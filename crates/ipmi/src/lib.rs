//! IPMI over LAN for fakedc: the sans-IO codec ([`wire`]), its cryptography
//! ([`crypto`]) and the BMC-side session state machine ([`session`]).
//!
//! This crate knows nothing about sockets, tokio or clocks: datagrams go in as bytes,
//! replies come out as bytes, and time is passed in as [`std::time::Instant`].

pub mod commands;
pub mod crypto;
pub mod service;
pub mod session;
pub mod sol;
pub mod wire;
pub use service::{operations, register};
pub mod probe;

use fakedc_model::ServiceKind;
use fakedc_net::{
    BoxFuture, Mount, OptionsError, ProbeReport, ProbeTarget, Protocol, Services, StartCtx,
    StartError,
};

/// IPMI in the protocol registry (`fakedc::protocols()`).
pub struct Ipmi;

/// The registry's entry for IPMI.
pub static PROTOCOL: Ipmi = Ipmi;

impl Protocol for Ipmi {
    fn name(&self) -> &'static str {
        "ipmi"
    }

    fn mounts(&self) -> &'static [Mount] {
        &[Mount::Datagram(ServiceKind::Ipmi)]
    }

    fn option_tables(&self) -> &'static [&'static str] {
        &["ipmi"]
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
        &[
            "busy (completion code C0h)",
            "wrong-hmac (RAKP and integrity)",
        ]
    }

    fn probe(&self, t: ProbeTarget) -> BoxFuture<ProbeReport> {
        Box::pin(async move { probe::probe(t.addr, t.creds(), t.timeout).await })
    }
}
