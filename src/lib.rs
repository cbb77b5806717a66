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

pub use fakedc_net::{Mount, ProbeReport, ProbeTarget, Protocol};

/// Every protocol this build serves: the one list `about`, `check`, the
/// built-in service set, scenario option validation and `fakedc list`
/// are derived from. Adding a protocol is its crate plus one line here.
pub fn protocols() -> &'static [&'static dyn Protocol] {
    PROTOCOLS
}

static PROTOCOLS: &[&dyn Protocol] = &[
    &fakedc_ipmi::PROTOCOL,
    &fakedc_ssh::PROTOCOL,
    &fakedc_wsman::PROTOCOL,
    &fakedc_bits::PROTOCOL,
    &fakedc_smash::PROTOCOL,
    &fakedc_redfish::PROTOCOL,
    &fakedc_tds::PROTOCOL,
    &fakedc_smb::PROTOCOL,
    &fakedc_vsphere::PROTOCOL,
    &fakedc_wcf::PROTOCOL,
    &fakedc_wsus::PROTOCOL,
    &fakedc_smis::PROTOCOL,
    &fakedc_rdp::PROTOCOL,
    &fakedc_lb::PROTOCOL,
    &fakedc_lb::WEB,
];

/// The protocols mounted on an endpoint kind, in registry order (several
/// on one HTTP port: BITS and the vSphere SDK on ESXi's 443).
pub fn protocols_on(kind: ServiceKind) -> impl Iterator<Item = &'static dyn Protocol> {
    protocols()
        .iter()
        .copied()
        .filter(move |p| p.mounts().iter().any(|m| m.kind() == kind))
}

/// Whether this build serves an endpoint kind at all.
pub fn serves(kind: ServiceKind) -> bool {
    protocols_on(kind).next().is_some()
}

/// Scenario parse options that check every protocol's option tables at
/// load (errors with file, line and column).
pub fn parse_options() -> ParseOptions {
    ParseOptions {
        allow_non_loopback: false,
        option_checks: protocols()
            .iter()
            .map(|p| fakedc_scenario::OptionCheck {
                protocol: p.name(),
                tables: p.option_tables(),
                check: std::sync::Arc::new(move |m: &fakedc_model::Machine| {
                    p.validate(m).map_err(|e| (e.table, e.message))
                }),
            })
            .collect(),
    }
}

/// The registry as a Markdown table (`fakedc protocols`; the README's
/// "Protocols" table is this text, checked by a test).
pub fn protocols_table() -> String {
    use std::fmt::Write;
    let mut t = String::from(
        "| protocol | served on (endpoint kind, default port, path) | scenario options | fault rules beyond the network layer's |\n|---|---|---|---|\n",
    );
    for p in protocols() {
        let mounts: Vec<String> = p
            .mounts()
            .iter()
            .map(|m| match m {
                // `GET /` (one page at exactly `/`) reads `443 GET /`.
                Mount::Http { kind, prefix } => format!(
                    "`{}` {} {}{}{prefix}",
                    kind.name(),
                    if kind.tls() { "HTTPS" } else { "HTTP" },
                    kind.default_port(),
                    if prefix.starts_with('/') { "" } else { " " }
                ),
                Mount::Stream(kind) => format!("`{}` TCP {}", kind.name(), kind.default_port()),
                Mount::Datagram(kind) => {
                    format!("`{}` UDP {}", kind.name(), kind.default_port())
                }
            })
            .collect();
        let tables: Vec<String> = p
            .option_tables()
            .iter()
            .map(|t| format!("`[machine.options.{t}]`"))
            .collect();
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} |",
            p.name(),
            mounts.join(", "),
            if tables.is_empty() {
                "-".into()
            } else {
                tables.join(", ")
            },
            if p.faults().is_empty() {
                "-".into()
            } else {
                p.faults().join("; ")
            }
        );
    }
    t
}

/// What each protocol implements and which fault rules it honours, for
/// `/about`. A protocol absent here is not served.
pub fn about() -> Vec<(&'static str, Vec<String>)> {
    protocols()
        .iter()
        .map(|p| {
            let mut ops = p.operations();
            ops.extend(p.faults().iter().map(|f| format!("fault rule: {f}")));
            (p.name(), ops)
        })
        .collect()
}

/// Registers the built-in protocols (all, or those named in `only`).
/// `certs` is the certs directory when it is on disk (services keep stable
/// keys there, e.g. SSH host keys), `None` for in-memory keys.
pub fn builtin_services(
    model: &std::sync::Arc<fakedc_model::Model>,
    certs: Option<&std::path::Path>,
    only: Option<&[String]>,
) -> Result<Services, Error> {
    let mut s = Services::default();
    let ctx = fakedc_net::StartCtx { model, certs };
    for p in protocols() {
        if only.is_some_and(|o| !o.iter().any(|n| n == p.name())) {
            continue;
        }
        p.start(&ctx, &mut s)
            .map_err(|e| Error::Options(e.to_string()))?;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    /// The README's protocol table is the registry's, not a hand-kept copy.
    #[test]
    fn readme_protocol_table_is_the_registry() {
        let readme = include_str!("../README.md");
        let begin = "<!-- protocols:begin -->\n";
        let start = readme.find(begin).map(|i| i + begin.len());
        let end = readme.find("<!-- protocols:end -->");
        let (Some(a), Some(b)) = (start, end) else {
            panic!("README.md has no protocols:begin/end block");
        };
        assert_eq!(
            &readme[a..b],
            super::protocols_table(),
            "README.md's protocol table is stale: paste `fakedc protocols` between the markers"
        );
    }

    /// Every endpoint kind is mounted by at most one stream or datagram
    /// protocol, and HTTP mounts of one kind have distinct paths.
    #[test]
    fn mounts_do_not_clash() {
        use fakedc_net::Mount;
        let mut seen: Vec<(fakedc_model::ServiceKind, Option<&str>)> = Vec::new();
        for p in super::protocols() {
            for m in p.mounts() {
                let key = match m {
                    Mount::Http { kind, prefix } => (*kind, Some(*prefix)),
                    Mount::Stream(k) | Mount::Datagram(k) => (*k, None),
                };
                assert!(!seen.contains(&key), "{} mounts {key:?} again", p.name());
                assert!(
                    !seen
                        .iter()
                        .any(|(k, path)| *k == key.0 && (path.is_none() != key.1.is_none())),
                    "{} mixes HTTP and raw mounts on {:?}",
                    p.name(),
                    key.0
                );
                seen.push(key);
            }
        }
    }
}
