//! SQL Server on 1433 for fakedc: a sans-IO TDS codec ([`packet`],
//! [`prelogin`], [`login7`], [`token`]), a T-SQL translation layer
//! ([`translate`]) onto SQLite ([`engine`]), the per-connection state
//! machine ([`session`]), and the network glue ([`service`], [`probe`]).

pub mod engine;
pub mod login7;
pub mod packet;
pub mod prelogin;
pub mod rpc;
pub mod session;
pub mod token;
pub mod translate;

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TdsError {
    #[error(transparent)]
    Wire(#[from] fakedc_wire::Error),
    #[error("{0}")]
    Protocol(String),
}

pub use fakedc_wire::Reader;

pub mod probe;
pub mod service;

use fakedc_model::ServiceKind;
use fakedc_net::{
    BoxFuture, Mount, OptionsError, ProbeReport, ProbeTarget, Protocol, Services, StartCtx,
    StartError,
};

/// SQL Server in the protocol registry (`fakedc::protocols()`).
pub struct Tds;

/// The registry's entry for TDS.
pub static PROTOCOL: Tds = Tds;

impl Protocol for Tds {
    fn name(&self) -> &'static str {
        "tds"
    }

    fn mounts(&self) -> &'static [Mount] {
        &[Mount::Stream(ServiceKind::Tds)]
    }

    fn option_tables(&self) -> &'static [&'static str] {
        &["tds"]
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
        &["busy (ERROR 8645 to every request)"]
    }

    fn probe(&self, t: ProbeTarget) -> BoxFuture<ProbeReport> {
        Box::pin(async move { probe::probe(t.addr, t.creds(), t.timeout).await })
    }
}
