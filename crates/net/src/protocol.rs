//! The protocol registry's vocabulary: what one protocol crate tells the
//! rest of fakedc about itself, so that `about`, `check`, the built-in
//! service set, scenario option validation and the README's table are all
//! derived from one list (`fakedc::protocols()`), and adding a protocol is
//! a crate plus one line there.
//!
//! A protocol is not a listener: it *mounts* on endpoint kinds
//! ([`ServiceKind`], the port table's rows), an HTTP protocol under a path
//! prefix, so several protocols can share one endpoint (BITS and the
//! vSphere SDK on an ESXi host's 443; WinRM and BITS on a Windows host's
//! port 80).

use crate::{BoxFuture, Services};
use fakedc_model::{Machine, Model, ServiceKind};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use crate::probe::ProbeVerdict;

/// Where a protocol is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mount {
    /// HTTP requests whose path starts with `prefix` on endpoints of `kind`
    /// (the longest prefix wins when several protocols share a port), or,
    /// when `prefix` is `GET <path>`, GET and HEAD of exactly that path
    /// (a page at `/` beside a protocol that owns the rest of `/`).
    Http {
        kind: ServiceKind,
        prefix: &'static str,
    },
    /// Whole TCP connections on endpoints of this kind.
    Stream(ServiceKind),
    /// Datagrams on endpoints of this kind.
    Datagram(ServiceKind),
}

impl Mount {
    pub fn kind(self) -> ServiceKind {
        match self {
            Mount::Http { kind, .. } | Mount::Stream(kind) | Mount::Datagram(kind) => kind,
        }
    }
}

/// What a protocol gets when fakedc starts it.
pub struct StartCtx<'a> {
    /// The one state (machines, chassis, users, journal, faults, clock).
    pub model: &'a Arc<Model>,
    /// The certs directory when it is on disk (stable host keys live
    /// there); `None` when keys are in memory.
    pub certs: Option<&'a Path>,
}

/// An invalid `[machine.options.<table>]`, one type for every protocol.
#[derive(Debug, Clone, thiserror::Error)]
#[error("machine '{machine}': options.{table}: {message}")]
pub struct OptionsError {
    pub machine: String,
    pub table: String,
    pub message: String,
}

impl OptionsError {
    pub fn new(machine: &str, table: &str, message: impl Into<String>) -> Self {
        OptionsError {
            machine: machine.to_string(),
            table: table.to_string(),
            message: message.into(),
        }
    }
}

/// Why a protocol could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// Host keys, shares, anything of the environment.
    #[error("{0}")]
    Environment(String),
}

/// What a probe is pointed at.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    pub addr: SocketAddr,
    /// The endpoint kind (a protocol mounted on several kinds may probe
    /// them differently: SFTP vs the ESXi shell vs SMASH CLP).
    pub service: ServiceKind,
    pub tls: bool,
    /// Log in with these, where the protocol has a login.
    pub credentials: Option<(String, String)>,
    pub timeout: Duration,
}

impl ProbeTarget {
    pub fn creds(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }
}

/// What a probe found; one type for every protocol.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    pub verdict: ProbeVerdict,
    /// One line for `check`'s DETAIL column.
    pub detail: String,
    /// Named facts the probe learned (the SSH identification line, the
    /// SMASH profiles), for tests and `--json`.
    pub facts: Vec<(&'static str, String)>,
}

impl ProbeReport {
    pub fn new(verdict: ProbeVerdict, detail: impl Into<String>) -> Self {
        ProbeReport {
            verdict,
            detail: detail.into(),
            facts: Vec::new(),
        }
    }

    pub fn fact(&self, name: &str) -> Option<&str> {
        self.facts
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One protocol family, as the registry sees it. Implemented by a unit
/// struct in each protocol crate (`fakedc_ipmi::PROTOCOL`, ...).
pub trait Protocol: Send + Sync + 'static {
    /// Short name (`ipmi`, `wsman`): `/about`'s key, the per-connection
    /// state key, `Builder::protocols`' argument.
    fn name(&self) -> &'static str;

    /// Where it is served.
    fn mounts(&self) -> &'static [Mount];

    /// The `[machine.options.X]` tables it reads.
    fn option_tables(&self) -> &'static [&'static str] {
        &[]
    }

    /// Checks one machine's option tables; called at scenario load so a
    /// bad table is reported with file, line and column.
    fn validate(&self, _machine: &Machine) -> Result<(), OptionsError> {
        Ok(())
    }

    /// Registers its handlers. Options were validated already; an error
    /// here is a bug or an environment problem.
    fn start(&self, ctx: &StartCtx<'_>, services: &mut Services) -> Result<(), StartError>;

    /// What it implements, for `/about`; derived from its dispatch tables.
    fn operations(&self) -> Vec<String>;

    /// The fault rule kinds it honours beyond the network layer's own
    /// (refuse, blackhole, drop, delay, reset-after apply to every stream).
    fn faults(&self) -> &'static [&'static str] {
        &[]
    }

    /// Its client side for `check`: a real handshake, and a logged-in
    /// operation when credentials are given.
    fn probe(&self, target: ProbeTarget) -> BoxFuture<ProbeReport>;
}
