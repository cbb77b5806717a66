//! WS-Management for fakedc: the SOAP engine (typed messages, Windows-shaped
//! faults, enumeration, filters, envelope limits), the WinRM cmd shell, a
//! resource-provider interface for CIM/WMI classes, MS-WSMV message
//! encryption over NTLMv2 (NTLM itself is the `fakedc-ntlm` crate), the
//! HTTP service for WinRM's 5985/5986/80 and the probe `fakedc check` uses.
//!
//! Sans-IO layers (`message`, `fault`, `wql`, `shell`, `engine`; `xml` is
//! the `fakedc-xml` crate) know nothing about sockets; `service` is the
//! thin async glue.

pub mod engine;
pub mod fault;
pub mod message;
pub mod powershell;
pub mod provider;
pub mod psrp;
pub mod shell;
pub mod wql;

/// The XML tree, escaping and SOAP envelopes live in their own crate
/// (vSphere, WSUS and WCF use them too); `fakedc_wsman::xml` keeps existing
/// users compiling.
pub use fakedc_xml as xml;

/// NTLM and SPNEGO live in their own crate (BITS uses them too); these
/// paths keep existing users (the fuzz target, the client) compiling.
pub use fakedc_ntlm as ntlm;
pub use fakedc_ntlm::spnego;

pub use engine::Engine;
pub use fault::Fault;
pub use provider::{
    Association, Ctx, EndpointRef, Instance, MethodOutput, ResourceProvider, Value,
};
pub mod service;
pub mod storage;
pub mod wmi;

pub use service::{operations, register, OptionsError};
pub mod client;
pub mod probe;

use fakedc_net::{
    BoxFuture, Mount, ProbeReport, ProbeTarget, Protocol, Services, StartCtx, StartError,
};

/// WinRM in the protocol registry (`fakedc::protocols()`).
pub struct Winrm;

/// The registry's entry for WinRM / WS-Management.
pub static PROTOCOL: Winrm = Winrm;

impl Protocol for Winrm {
    fn name(&self) -> &'static str {
        "wsman"
    }

    fn mounts(&self) -> &'static [Mount] {
        use fakedc_model::ServiceKind::*;
        &[
            Mount::Http {
                kind: WinrmHttp,
                prefix: "/wsman",
            },
            Mount::Http {
                kind: WinrmHttps,
                prefix: "/wsman",
            },
            Mount::Http {
                kind: WinrmHttp80,
                prefix: "/wsman",
            },
        ]
    }

    fn option_tables(&self) -> &'static [&'static str] {
        &["winrm"]
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
        Box::pin(async move { probe::probe(t.addr, t.tls, t.creds(), t.timeout).await })
    }
}
