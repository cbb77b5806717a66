//! SMI-S on storage arrays: the array's CIM object manager, CIM-XML over
//! HTTP 5988 and HTTPS 5989 (DMTF DSP0200/DSP0201), serving the SNIA
//! Server, Array, Block Services, Masking and Mapping and Job Control
//! profiles over the shared storage model (`fakedc_model::storage`). The
//! VMM server's Storage Management Service (WMI, `fakedc-wsman`) reads the
//! same arrays, so a volume made here is a virtual disk there.
//!
//! Sans-IO: [`cimxml`] (request decoder, response writers), [`cim`] (the
//! schema and instances), [`ops`] (the operations). [`service`] is the
//! HTTP glue, [`probe`] the client for `check`.

pub mod cim;
pub mod cimxml;
pub mod ops;
pub mod probe;
pub mod service;

use fakedc_model::ServiceKind;
use fakedc_net::{
    BoxFuture, Mount, OptionsError, ProbeReport, ProbeTarget, Protocol, Services, StartCtx,
    StartError,
};

/// SMI-S in the protocol registry (`fakedc::protocols()`).
pub struct Smis;

/// The registry's entry for the SMI-S provider.
pub static PROTOCOL: Smis = Smis;

impl Protocol for Smis {
    fn name(&self) -> &'static str {
        "smis"
    }

    fn mounts(&self) -> &'static [Mount] {
        &[
            Mount::Http {
                kind: ServiceKind::SmisHttp,
                prefix: service::PATH,
            },
            Mount::Http {
                kind: ServiceKind::SmisHttps,
                prefix: service::PATH,
            },
        ]
    }

    fn option_tables(&self) -> &'static [&'static str] {
        &["storage"]
    }

    fn validate(&self, machine: &fakedc_model::Machine) -> Result<(), OptionsError> {
        service::validate(machine)
    }

    fn start(&self, ctx: &StartCtx<'_>, services: &mut Services) -> Result<(), StartError> {
        Ok(service::register(services, ctx.model)?)
    }

    fn operations(&self) -> Vec<String> {
        service::operations()
    }

    fn faults(&self) -> &'static [&'static str] {
        &["busy (HTTP 503)"]
    }

    fn probe(&self, t: ProbeTarget) -> BoxFuture<ProbeReport> {
        Box::pin(async move { probe::probe(t.addr, t.tls, t.creds(), t.timeout).await })
    }
}
