//! fakedc as a library: start a whole fake datacenter from a scenario,
//! find its endpoints, change machine state, inject faults and read the
//! journal. The `fakedc` binary is a thin CLI over this crate; integration
//! test harnesses use it directly.
//!
//! ```no_run
//! use fakedc::{Datacenter, PowerAction};
//! let dc = Datacenter::builder().scenario_name("bmc-lab").ephemeral().start().unwrap();
//! let ipmi = dc.endpoint("srv1-bmc", fakedc::ServiceKind::Ipmi).unwrap();
//! dc.power("srv1", PowerAction::Off).unwrap();
//! // ... drive `ipmi` with the tool under test, then:
//! let ops = dc.journal(&fakedc::Query { machine: Some("srv1-bmc".into()), ..Default::default() });
//! # drop((ipmi, ops));
//! ```
//! Dropping the [`Datacenter`] shuts it down and closes every listener.

pub mod check;
pub mod control;
mod datacenter;

pub use datacenter::{
    Builder, Datacenter, EndpointInfo, Error, MachineState, ScenarioSource, ServiceRegistrar,
};
pub use fakedc_model::{
    BootDevice, BootOverride, Entry, FaultKind, FaultRule, PowerAction, Query, Role, ServiceKind,
};
pub use fakedc_net::Services;
pub use fakedc_scenario::{ParseOptions, Scenario, ScenarioError};

/// What each protocol implements, for `/about` and `fakedc list --about`.
/// A protocol absent here is not served.
pub fn about() -> Vec<(&'static str, Vec<String>)> {
    vec![
        ("ipmi", fakedc_ipmi::operations()),
        ("ssh", fakedc_ssh::operations()),
        ("wsman", fakedc_wsman::operations()),
        ("bits", fakedc_bits::operations()),
        ("smash", fakedc_smash::operations()),
    ]
}

/// Registers every built-in service; the one place that knows which
/// protocols exist. `certs` is the certs directory when it is on disk
/// (services keep stable keys there, e.g. SSH host keys), `None` for
/// in-memory keys.
pub fn builtin_services(
    model: &std::sync::Arc<fakedc_model::Model>,
    certs: Option<&std::path::Path>,
) -> Result<Services, Error> {
    let mut s = Services::default();
    fakedc_ipmi::register(&mut s, model).map_err(|e| Error::Options(e.to_string()))?;
    fakedc_ssh::register(&mut s, model, certs.map(|p| p.to_path_buf()))
        .map_err(|e| Error::Options(e.to_string()))?;
    fakedc_wsman::register(&mut s, model).map_err(|e| Error::Options(e.to_string()))?;
    fakedc_bits::register(&mut s, model).map_err(|e| Error::Options(e.to_string()))?;
    fakedc_smash::register(&mut s, model).map_err(|e| Error::Options(e.to_string()))?;
    Ok(s)
}
