//! VMware vSphere Web Services for fakedc: vim25 SOAP on `/sdk` of every
//! vCenter (`apiType` VirtualCenter) and ESXi host (`apiType` HostAgent),
//! and datastore file transfer on `/folder`, over the shared model.
//!
//! - [`types`] — the vim25 type description (pyvmomi's, as JSON data);
//! - [`value`] — values and their XML (`xsi:type` from the description);
//! - [`soap`] — sans-IO request decoding, responses and vSphere faults;
//! - [`inventory`] — the managed-object tree built from the scenario;
//! - [`props`] — property getters over the model;
//! - [`pc`] — the PropertyCollector (specs, traversal, updates);
//! - [`sdk`] — sessions, views, filters, tasks, events, dispatch;
//! - [`folder`] — `/folder` and the datastore browser, jailed by cap-std;
//! - [`service`] — the HTTP glue; [`client`] + [`probe`] for `check`.

pub mod client;
pub mod folder;
pub mod inventory;
pub mod pc;
pub mod probe;
pub mod props;
pub mod sdk;
pub mod service;
pub mod soap;
pub mod types;
pub mod value;

use fakedc_net::{
    BoxFuture, Mount, OptionsError, ProbeReport, ProbeTarget, Protocol, Services, StartCtx,
    StartError,
};

/// The API version answered (vSphere 8.0U3).
pub const API_VERSION: &str = "8.0.3.0";
/// Older versions clients may ask for (pyvmomi picks the newest it knows).
pub const PRIOR_VERSIONS: &[&str] = &[
    "8.0.2.0", "8.0.1.0", "8.0.0.2", "8.0.0.1", "8.0.0.0", "7.0.3.2", "7.0.3.1", "7.0.3.0",
    "7.0.2.1", "7.0.2.0", "7.0.1.1", "7.0.1.0", "7.0.0.2", "7.0.0.1", "7.0.0.0", "6.9.1", "6.8.7",
    "6.7.3", "6.7.2", "6.7.1", "6.7", "6.5", "6.0", "5.5", "5.1", "5.0", "4.1", "4.0",
];

/// The vSphere SDK in the protocol registry.
pub struct Vsphere;

pub static PROTOCOL: Vsphere = Vsphere;

/// What `/about` lists: every implemented method, by managed type.
pub fn operations() -> Vec<String> {
    let mut out: Vec<String> = sdk::METHODS
        .iter()
        .map(|(ty, ms)| format!("{ty}: {}", ms.join(", ")))
        .collect();
    out.push("GET /sdk/vimServiceVersions.xml, /sdk/vimService.wsdl".into());
    out.push(
        "GET/PUT/HEAD/DELETE /folder/<path>?dcPath=&dsName= (session cookie or Basic; uploads published by rename)"
            .into(),
    );
    out.push(
        "GET/HEAD / (the welcome page: ESXi's redirect to /ui, vCenter's getting started)".into(),
    );
    out.push("any other method: MethodNotFound naming it".into());
    out
}

impl Protocol for Vsphere {
    fn name(&self) -> &'static str {
        "vsphere"
    }

    /// `/sdk` and `/folder` beside BITS on ESXi's 443 (the longest prefix
    /// wins), and on vCenter's 443; the welcome page on `GET /`.
    fn mounts(&self) -> &'static [Mount] {
        use fakedc_model::ServiceKind::*;
        &[
            Mount::Http {
                kind: EsxiHttps,
                prefix: "/sdk",
            },
            Mount::Http {
                kind: EsxiHttps,
                prefix: "/folder",
            },
            Mount::Http {
                kind: VmwareWebServices,
                prefix: "/sdk",
            },
            Mount::Http {
                kind: VmwareWebServices,
                prefix: "/folder",
            },
            // The welcome page: GET/HEAD of `/` only (BITS keeps the rest).
            Mount::Http {
                kind: EsxiHttps,
                prefix: "GET /",
            },
            Mount::Http {
                kind: VmwareWebServices,
                prefix: "GET /",
            },
        ]
    }

    fn option_tables(&self) -> &'static [&'static str] {
        &["vsphere"]
    }

    fn validate(&self, machine: &fakedc_model::Machine) -> Result<(), OptionsError> {
        // Host names in `manages` are checked against the model at start.
        service::validate(&[], machine).map(|_| ())
    }

    fn start(&self, ctx: &StartCtx<'_>, services: &mut Services) -> Result<(), StartError> {
        Ok(service::register(services, ctx.model)?)
    }

    fn operations(&self) -> Vec<String> {
        operations()
    }

    fn probe(&self, t: ProbeTarget) -> BoxFuture<ProbeReport> {
        Box::pin(async move { probe::probe(t.addr, t.tls, t.creds(), t.timeout).await })
    }
}
