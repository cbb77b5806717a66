//! BITS for fakedc: the Background Intelligent Transfer Service upload
//! protocol (MC-BUP) and ranged HTTPS downloads on every Windows host's 443
//! (and ESXi's), plus a BITS client, since none exists off Windows.
//!
//! - [`proto`] — sans-IO rules (headers, `Content-Range`, the fragment
//!   rule, session ids, path jail, `Range` and conditionals, the virtual
//!   file generator), unit-tested;
//! - [`config`] — `[machine.options.bits]`;
//! - [`store`] — the share on disk: session files, commit by
//!   fsync + rename, resume after a restart;
//! - [`service`] — the hyper-facing service registered with the network
//!   layer;
//! - [`client`] — the resumable client behind `fakedc bits`;
//! - [`probe`] — the `fakedc check` probe (BITS Ping).

pub mod body;
pub mod client;
pub mod config;
pub mod probe;
pub mod proto;
pub mod service;
pub mod store;

pub use config::BitsOptions;
pub use proto::fill_virtual;
pub use service::{operations, register, OptionsError};

use fakedc_net::{
    BoxFuture, Mount, ProbeReport, ProbeTarget, Protocol, Services, StartCtx, StartError,
};

/// BITS in the protocol registry (`fakedc::protocols()`).
pub struct Bits;

/// The registry's entry for BITS.
pub static PROTOCOL: Bits = Bits;

impl Protocol for Bits {
    fn name(&self) -> &'static str {
        "bits"
    }

    /// Under "/" everywhere: on ESXi's 443 the vSphere SDK takes "/sdk"
    /// and datastore transfer "/folder" (the longest prefix wins); on a
    /// Windows host's 80 WinRM keeps "/wsman".
    fn mounts(&self) -> &'static [Mount] {
        use fakedc_model::ServiceKind::*;
        &[
            Mount::Http {
                kind: Bits,
                prefix: "/",
            },
            Mount::Http {
                kind: EsxiHttps,
                prefix: "/",
            },
            Mount::Http {
                kind: BitsHttp,
                prefix: "/",
            },
        ]
    }

    fn option_tables(&self) -> &'static [&'static str] {
        &["bits"]
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
        &["reset-after (counts upload fragment bytes)"]
    }

    fn probe(&self, t: ProbeTarget) -> BoxFuture<ProbeReport> {
        Box::pin(async move { probe::probe(t.addr, t.tls, t.creds(), t.timeout).await })
    }
}
