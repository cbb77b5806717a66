//! SMB 2/3 for fakedc: Windows file sharing on 445 (Direct TCP) and 139
//! (NetBIOS session service) for Hyper-V hosts and library servers, and
//! the RPC endpoint mapper on 135 ([`epm`]).
//!
//! Sans-IO codecs: [`nbss`] (transport framing and the NetBIOS session
//! request), [`proto`] (the SMB2 header and request bodies), [`rpc`]
//! (connection-oriented DCE/RPC and srvsvc), [`crypto`] (KDF, signing,
//! encryption); [`fs`] (the share jail and the information classes);
//! [`conn`] (one connection's state machine); [`service`] and [`probe`]
//! (network glue and the client for `check`).

pub mod conn;
pub mod crypto;
pub mod epm;
pub mod fs;
pub mod nbss;
pub mod probe;
pub mod proto;
pub mod rpc;
pub mod service;

use fakedc_model::ServiceKind;
use fakedc_net::{
    BoxFuture, Mount, OptionsError, ProbeReport, ProbeTarget, Protocol, Services, StartCtx,
    StartError,
};

/// SMB in the protocol registry (`fakedc::protocols()`).
pub struct Smb;

/// The registry's entry for SMB.
pub static PROTOCOL: Smb = Smb;

impl Protocol for Smb {
    fn name(&self) -> &'static str {
        "smb"
    }

    fn mounts(&self) -> &'static [Mount] {
        &[
            Mount::Stream(ServiceKind::Smb),
            Mount::Stream(ServiceKind::Netbios),
            Mount::Stream(ServiceKind::Rpc),
        ]
    }

    fn option_tables(&self) -> &'static [&'static str] {
        &["smb"]
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
        &[]
    }

    fn probe(&self, t: ProbeTarget) -> BoxFuture<ProbeReport> {
        Box::pin(async move {
            if t.service == ServiceKind::Rpc {
                return probe::probe_epm(t.addr, t.timeout).await;
            }
            let netbios = t.service == ServiceKind::Netbios;
            probe::probe(t.addr, netbios, t.creds(), t.timeout).await
        })
    }
}
