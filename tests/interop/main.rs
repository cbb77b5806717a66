//! The integration and interop suite as one test binary: one module per
//! protocol (real clients against fakedc) plus the foundation and CLI
//! tests, sharing `common`. One binary links fakedc once, so adding a
//! protocol adds a module, not a link step.
#![allow(clippy::disallowed_methods)] // tests and benchmarks time real peers on the real clock
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

mod bits;
mod cli;
mod foundation;
mod identity;
mod inventory;
mod ipmi;
mod lb;
mod psrp;
mod pwsh;
mod rdp;
mod redfish;
mod smash;
mod smb;
mod smis;
mod ssh;
mod tds;
mod vsphere;
mod wcf;
mod winrm;
mod winrm_hostile;
mod wsus;
