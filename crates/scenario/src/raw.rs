//! The TOML shapes, as written. Fields that validation must point at are
//! `Spanned` so errors carry a line and column.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub scenario: Option<RawScenario>,
    pub defaults: Option<RawDefaults>,
    #[serde(default)]
    pub machine: Vec<RawMachine>,
    #[serde(default)]
    pub fleet: Vec<RawFleet>,
    #[serde(default)]
    pub fault: Vec<Spanned<toml::Table>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: Option<String>,
    pub description: Option<String>,
    /// DNS domain for machine names in certificates.
    pub domain: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    pub boot_delay_ms: Option<u64>,
    pub shutdown_delay_ms: Option<u64>,
    pub cycle_interval_ms: Option<u64>,
    pub journal_capacity: Option<usize>,
}

/// A service override: `false` disables, `true` enables on the default
/// port, a number moves it.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawServiceSetting {
    Enabled(bool),
    Port(i64),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMachine {
    pub name: Spanned<String>,
    pub role: Spanned<String>,
    pub address: Spanned<String>,
    pub bmc: Option<Spanned<String>>,
    /// Initial power: "on" (default) or "off".
    pub power: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub guid: Option<String>,
    pub asset_tag: Option<String>,
    pub part_number: Option<String>,
    /// Processors and memory (default 2 sockets x 16 cores at 2600 MHz,
    /// 256 GiB); on a host or its BMC, like `vendor`.
    pub cpus: Option<Spanned<u64>>,
    pub cores_per_cpu: Option<Spanned<u64>>,
    pub cpu_mhz: Option<Spanned<u64>>,
    pub memory_gib: Option<Spanned<u64>>,
    pub boot_delay_ms: Option<u64>,
    pub shutdown_delay_ms: Option<u64>,
    pub cycle_interval_ms: Option<u64>,
    /// Root directory of the machine's file share.
    pub share: Option<String>,
    /// Bytes the share may hold, whatever protocol writes (SFTP, SMB,
    /// BITS). Default: unlimited.
    pub quota_bytes: Option<u64>,
    #[serde(default)]
    pub services: BTreeMap<String, Spanned<RawServiceSetting>>,
    /// Per-service options, e.g. `[machine.options.ipmi] cipher_suites = [3, 17]`.
    #[serde(default)]
    pub options: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    pub user: Vec<RawUser>,
    #[serde(default)]
    pub sensor: Vec<RawSensor>,
    #[serde(default)]
    pub vm: Vec<RawVm>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    pub id: Option<u8>,
    pub name: String,
    pub password: String,
    pub privilege: Option<Spanned<String>>,
    pub enabled: Option<bool>,
    #[serde(default)]
    pub authorized_keys: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSensor {
    pub name: String,
    pub kind: Spanned<String>,
    pub on: f64,
    pub off: Option<f64>,
    pub lower_critical: Option<f64>,
    pub lower_non_critical: Option<f64>,
    pub upper_non_critical: Option<f64>,
    pub upper_critical: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVm {
    pub name: String,
    pub id: Option<String>,
    /// Name of the vm-guest machine whose endpoints follow this VM.
    pub guest: Option<Spanned<String>>,
    /// "running" (default) or "off".
    pub state: Option<String>,
    /// Virtual processors (default 2).
    pub cpus: Option<Spanned<u64>>,
    /// Memory in MiB (default 4096).
    pub memory_mb: Option<Spanned<u64>>,
}

/// N machines from one entry: `host.name` is a pattern like "hv{n:03}" and
/// `host.address` the first address; with a `bmc` table (its own name
/// pattern and first address) each host gets its own BMC.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFleet {
    pub count: Spanned<u32>,
    /// First value of `{n}` (default 1).
    pub start: Option<u32>,
    pub host: RawMachine,
    pub bmc: Option<RawMachine>,
}
