//! VMConnect for fakedc: RDP on a Hyper-V host's 2179 serving each VM's
//! console, the way Hyper-V does it (MS-RDPBCGR 5.4.2.2, the "Direct
//! Approach"): a preconnection PDU naming the VM ([`pcb`]), TLS with the
//! host's certificate, CredSSP with NTLM through `fakedc-ntlm` against
//! the host's Windows accounts ([`credssp`]), then X.224 with HYBRID
//! selected, MCS/GCC, licensing, capability exchange and finalization
//! ([`pdu`]), then bitmap updates of the console that `fakedc-console`
//! renders from the model, and keyboard input ([`keys`]) typed into it.
//! [`service`] is the network glue, [`probe`] the client side for `check`.

pub mod credssp;
pub mod keys;
pub mod pcb;
pub mod pdu;
pub mod planar;
pub mod probe;
pub mod service;

use fakedc_model::ServiceKind;
use fakedc_net::{
    BoxFuture, Mount, ProbeReport, ProbeTarget, Protocol, Services, StartCtx, StartError,
};

/// Why a PDU could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdpError {
    #[error(transparent)]
    Wire(#[from] fakedc_wire::Error),
    #[error("{0}")]
    Protocol(String),
}

/// VMConnect in the protocol registry (`fakedc::protocols()`).
pub struct Rdp;

/// The registry's entry for VMConnect.
pub static PROTOCOL: Rdp = Rdp;

impl Protocol for Rdp {
    fn name(&self) -> &'static str {
        "rdp"
    }

    fn mounts(&self) -> &'static [Mount] {
        &[Mount::Stream(ServiceKind::VmConnect)]
    }

    fn start(&self, ctx: &StartCtx<'_>, services: &mut Services) -> Result<(), StartError> {
        service::register(services, ctx.model);
        Ok(())
    }

    fn operations(&self) -> Vec<String> {
        service::operations()
    }

    fn probe(&self, t: ProbeTarget) -> BoxFuture<ProbeReport> {
        Box::pin(async move { probe::probe(t.addr, t.creds(), t.timeout).await })
    }
}
