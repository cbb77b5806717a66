//! WCF on the VMM server (8100–8103) for fakedc: .NET Message Framing
//! ([`nmf`]), NegotiateStream ([`nns`]), binary XML with the SOAP
//! dictionaries ([`nbfx`], [`dict`]), SOAP envelopes and faults as WCF
//! writes them ([`soap`]), the invented VMM-shaped contracts and their
//! WSDL ([`contract`]), the operations over the model ([`services`]), the
//! network glue ([`service`]) and a client for `check`, benchmarks and
//! tests ([`client`], [`probe`]).

pub mod client;
pub mod contract;
pub mod dict;
pub mod golden;
pub mod nbfx;
pub mod nmf;
pub mod nns;
pub mod probe;
pub mod service;
pub mod services;
pub mod soap;

use fakedc_model::ServiceKind;
use fakedc_net::{
    BoxFuture, Mount, OptionsError, ProbeReport, ProbeTarget, Protocol, Services, StartCtx,
    StartError,
};

/// WCF in the protocol registry (`fakedc::protocols()`).
pub struct Wcf;

/// The registry's entry for WCF.
pub static PROTOCOL: Wcf = Wcf;

impl Protocol for Wcf {
    fn name(&self) -> &'static str {
        "wcf"
    }

    fn mounts(&self) -> &'static [Mount] {
        &[
            Mount::Stream(ServiceKind::WcfTcp8100),
            Mount::Http {
                kind: ServiceKind::WcfHttps8101,
                prefix: "/VirtualManager/",
            },
            Mount::Stream(ServiceKind::WcfNetTcp8102),
            Mount::Http {
                kind: ServiceKind::WcfHttp8103,
                prefix: "/VirtualManager/",
            },
        ]
    }

    fn option_tables(&self) -> &'static [&'static str] {
        &["wcf"]
    }

    fn validate(&self, machine: &fakedc_model::Machine) -> Result<(), OptionsError> {
        service::options(machine).map(|_| ())
    }

    fn start(&self, ctx: &StartCtx<'_>, services: &mut Services) -> Result<(), StartError> {
        service::register(services, ctx.model)
    }

    fn operations(&self) -> Vec<String> {
        service::operations()
    }

    fn faults(&self) -> &'static [&'static str] {
        &["busy (net.tcp: the ServerTooBusy framing fault; HTTP: 503)"]
    }

    fn probe(&self, t: ProbeTarget) -> BoxFuture<ProbeReport> {
        Box::pin(async move { probe::probe(t).await })
    }
}
