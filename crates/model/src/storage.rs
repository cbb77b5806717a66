//! Block storage: the arrays a scenario declares (`storage-array`
//! machines), their pools, volumes, iSCSI target ports and masking (which
//! host initiators see which volume), and the jobs that change them.
//!
//! One state for two fronts: the array's SMI-S provider (CIM-XML) and the
//! VMM server's Storage Management Service (WMI over WinRM) both read and
//! change these objects, so a volume created through one shows in the
//! other. Identifiers (pool and volume ids, WWNs, target IQNs, host
//! initiator IQNs) are derived from names, so they are the same on every
//! run of a scenario.
//!
//! Scenario shape, on a `storage-array` machine:
//!
//! ```toml
//! [machine.options.storage]
//! target_ports = 2
//! [[machine.options.storage.pool]]
//! name = "Gold"
//! capacity_gib = 1024
//! [[machine.options.storage.volume]]
//! name = "lun01"
//! pool = "Gold"
//! size_gib = 100
//! hosts = ["hv01"]
//! ```
//!
//! and on a `vmm-server`, the arrays registered with its Storage
//! Management Service (all arrays when absent):
//! `[machine.options.storage] arrays = ["array01"]`.

use crate::{MachineId, Role};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const GIB: u64 = 1 << 30;
/// How long a volume-creating job runs before it completes (model time).
pub const JOB_DURATION: Duration = Duration::from_millis(300);
/// Most volumes one array holds (creations beyond it fail).
pub const MAX_VOLUMES: usize = 100_000;
/// Jobs kept per array (the oldest finished ones are dropped).
const MAX_JOBS: usize = 1024;

/// `[machine.options.storage]` on a storage array.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrayConfig {
    /// Number of iSCSI target ports (default 2, at most 64).
    pub target_ports: Option<u32>,
    #[serde(default)]
    pub pool: Vec<PoolConfig>,
    #[serde(default)]
    pub volume: Vec<VolumeConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    pub name: String,
    pub capacity_gib: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeConfig {
    pub name: String,
    pub pool: String,
    pub size_gib: u64,
    /// Hosts (machine names) whose initiators see the volume.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Repeat this volume `count` times (`name` gets `-<n>`), for big labs.
    pub count: Option<u32>,
}

/// `[machine.options.storage]` on a VMM server.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementConfig {
    pub arrays: Option<Vec<String>>,
}

/// A storage pool. The primordial pool (the raw capacity) is implied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// Stable id (`P-<n>`), the SMI-S InstanceID's tail.
    pub id: String,
    pub name: String,
    pub capacity: u64,
}

/// A volume (SMI-S StorageVolume, WMI MSFT_VirtualDisk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Stable device id (hex), the SMI-S DeviceID.
    pub id: String,
    pub name: String,
    /// The pool's id.
    pub pool: String,
    pub size: u64,
    /// NAA 6 world-wide name, 32 hex digits.
    pub wwn: String,
    /// Initiator IQNs that see this volume (masking).
    pub initiators: BTreeSet<String>,
}

/// An iSCSI target port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPort {
    pub id: String,
    pub iqn: String,
}

/// State of a job (CIM_ConcreteJob.JobState values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Running = 4,
    Completed = 7,
    Exception = 10,
}

/// A long operation (volume creation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub name: String,
    pub started: Instant,
    /// Volume created on completion (its id), if the job succeeds.
    pub volume: Option<Volume>,
    /// Why the job fails, once due.
    pub error: Option<String>,
    /// Set once applied.
    pub done: bool,
}

impl Job {
    /// The state at `now` (applied by [`Array::advance`]).
    pub fn state(&self, now: Instant) -> JobState {
        if now.saturating_duration_since(self.started) < JOB_DURATION {
            JobState::Running
        } else if self.error.is_some() {
            JobState::Exception
        } else {
            JobState::Completed
        }
    }

    pub fn percent(&self, now: Instant) -> u16 {
        let e = now.saturating_duration_since(self.started).as_millis();
        let total = JOB_DURATION.as_millis().max(1);
        (e.saturating_mul(100) / total).min(100) as u16
    }
}

/// One array's state.
#[derive(Debug, Clone)]
pub struct Array {
    pub machine: MachineId,
    pub name: String,
    pub vendor: String,
    pub model: String,
    pub serial: String,
    pub pools: Vec<Pool>,
    pub volumes: Vec<Volume>,
    pub ports: Vec<TargetPort>,
    pub jobs: Vec<Job>,
    /// Next number for created volumes and jobs.
    pub next: u64,
    /// Bumped on every change (clients may cache on it).
    pub generation: u64,
}

/// Why a storage change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("no pool '{0}'")]
    NoPool(String),
    #[error("no volume '{0}'")]
    NoVolume(String),
    #[error("the size must be greater than zero")]
    ZeroSize,
    #[error("the array holds its maximum of {MAX_VOLUMES} volumes")]
    TooManyVolumes,
    #[error("volume '{0}' is exposed to initiators; hide it first")]
    InUse(String),
}

/// FNV-1a, for ids derived from names (stable across runs and builds).
fn fnv(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// A GUID-shaped string derived from names (`{xxxxxxxx-xxxx-...}` without braces).
pub fn derived_guid(parts: &[&str]) -> String {
    let a = fnv(parts);
    let b = fnv(&[&a.to_string(), "guid"]);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// The iSCSI initiator name Windows gives a host by default.
pub fn initiator_iqn(dns_name: &str) -> String {
    format!(
        "iqn.1991-05.com.microsoft:{}",
        dns_name.to_ascii_lowercase()
    )
}

impl Array {
    fn wwn(&self, volume_id: &str) -> String {
        let h = fnv(&[&self.name, volume_id]);
        let h2 = fnv(&[&self.serial, volume_id, "wwn"]);
        // NAA 6, a made-up OUI (0x0A0B0C), then 25 hex digits of id.
        format!("60a0b0c{:016x}{:09x}", h, h2 & 0xf_ffff_ffff)
    }

    /// Bytes allocated to volumes in a pool.
    pub fn used(&self, pool_id: &str) -> u64 {
        self.volumes
            .iter()
            .filter(|v| v.pool == pool_id)
            .map(|v| v.size)
            .sum::<u64>()
            + self
                .jobs
                .iter()
                .filter(|j| !j.done)
                .filter_map(|j| j.volume.as_ref())
                .filter(|v| v.pool == pool_id)
                .map(|v| v.size)
                .sum::<u64>()
    }

    pub fn pool(&self, id_or_name: &str) -> Option<&Pool> {
        self.pools
            .iter()
            .find(|p| p.id == id_or_name || p.name.eq_ignore_ascii_case(id_or_name))
    }

    pub fn volume(&self, id: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.id == id)
    }

    /// Applies jobs that are due: a completed job's volume appears.
    pub fn advance(&mut self, now: Instant) {
        let mut changed = false;
        for j in &mut self.jobs {
            if !j.done && j.state(now) != JobState::Running {
                j.done = true;
                if j.error.is_none() {
                    if let Some(v) = j.volume.clone() {
                        self.volumes.push(v);
                    }
                }
                changed = true;
            }
        }
        if changed {
            self.generation += 1;
        }
        if self.jobs.len() > MAX_JOBS {
            let drop = self.jobs.len() - MAX_JOBS;
            let mut n = 0;
            self.jobs.retain(|j| {
                if n < drop && j.done {
                    n += 1;
                    false
                } else {
                    true
                }
            });
        }
    }

    /// Starts creating a volume; returns the job id. A pool without room
    /// for it still starts the job, which ends in an exception (what an
    /// array does when the allocation fails after the job is queued).
    pub fn create_volume(
        &mut self,
        pool: &str,
        name: &str,
        size: u64,
        now: Instant,
    ) -> Result<String, StorageError> {
        if size == 0 {
            return Err(StorageError::ZeroSize);
        }
        if self.volumes.len() >= MAX_VOLUMES {
            return Err(StorageError::TooManyVolumes);
        }
        let p = self
            .pool(pool)
            .ok_or_else(|| StorageError::NoPool(pool.to_string()))?
            .clone();
        self.next += 1;
        let id = format!("{:05X}", 0x10000 + self.next);
        let free = p.capacity.saturating_sub(self.used(&p.id));
        let error = (size > free).then(|| {
            format!(
                "Insufficient free space in pool {}: {} bytes requested, {} bytes free",
                p.name, size, free
            )
        });
        let name = if name.is_empty() {
            format!("Volume_{id}")
        } else {
            name.to_string()
        };
        let volume = Volume {
            wwn: self.wwn(&id),
            id,
            name: name.clone(),
            pool: p.id.clone(),
            size,
            initiators: BTreeSet::new(),
        };
        let job_id = format!("JOB-{}", self.next);
        self.jobs.push(Job {
            id: job_id.clone(),
            name: format!("Create volume {name}"),
            started: now,
            volume: Some(volume),
            error,
            done: false,
        });
        self.generation += 1;
        Ok(job_id)
    }

    /// The volume a job made, once it completed.
    pub fn job_volume(&self, job: &str) -> Option<&Volume> {
        let j = self.jobs.iter().find(|j| j.id == job)?;
        let id = &j.volume.as_ref()?.id;
        if j.done {
            self.volume(id)
        } else {
            None
        }
    }

    /// Deletes a volume (ReturnToStoragePool / DeleteObject).
    pub fn delete_volume(&mut self, id: &str) -> Result<Volume, StorageError> {
        let i = self
            .volumes
            .iter()
            .position(|v| v.id == id)
            .ok_or_else(|| StorageError::NoVolume(id.to_string()))?;
        if !self.volumes[i].initiators.is_empty() {
            return Err(StorageError::InUse(self.volumes[i].name.clone()));
        }
        self.generation += 1;
        Ok(self.volumes.remove(i))
    }

    /// Exposes (or hides) volumes to initiators.
    pub fn set_exposure(
        &mut self,
        volumes: &[String],
        initiators: &[String],
        expose: bool,
    ) -> Result<(), StorageError> {
        for v in volumes {
            if self.volume(v).is_none() {
                return Err(StorageError::NoVolume(v.clone()));
            }
        }
        for v in &mut self.volumes {
            if volumes.contains(&v.id) {
                for i in initiators {
                    if expose {
                        v.initiators.insert(i.to_ascii_lowercase());
                    } else {
                        v.initiators.remove(&i.to_ascii_lowercase());
                    }
                }
            }
        }
        self.generation += 1;
        Ok(())
    }
}

/// Every array of the datacenter, each behind its own lock.
pub struct Storage {
    arrays: Vec<Mutex<Array>>,
    initial: Vec<Array>,
    /// Per VMM server: the arrays registered with it (machine ids).
    managed: Vec<(MachineId, Vec<MachineId>)>,
}

/// Parses a storage array's `[machine.options.storage]`.
pub fn parse_array(v: Option<&serde_json::Value>) -> Result<ArrayConfig, String> {
    let c: ArrayConfig = match v {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| e.to_string())?,
        None => ArrayConfig::default(),
    };
    if c.target_ports.is_some_and(|n| !(1..=64).contains(&n)) {
        return Err("target_ports must be 1..=64".into());
    }
    let mut total = 0u64;
    for p in &c.pool {
        if p.capacity_gib == 0 || p.capacity_gib > (1 << 30) {
            return Err(format!("pool '{}': capacity_gib must be 1..=2^30", p.name));
        }
        if c.pool.iter().filter(|q| q.name == p.name).count() > 1 {
            return Err(format!("pool '{}' declared twice", p.name));
        }
    }
    for v in &c.volume {
        if !c.pool.iter().any(|p| p.name == v.pool) {
            return Err(format!("volume '{}': no pool '{}'", v.name, v.pool));
        }
        if v.size_gib == 0 {
            return Err(format!("volume '{}': size_gib must be at least 1", v.name));
        }
        total += u64::from(v.count.unwrap_or(1));
    }
    if total > MAX_VOLUMES as u64 {
        return Err(format!("more than {MAX_VOLUMES} volumes"));
    }
    Ok(c)
}

impl Storage {
    /// Builds the arrays from the machines' (already validated) options.
    pub fn new(machines: &[crate::Machine]) -> Storage {
        let mut arrays = Vec::new();
        for m in machines.iter().filter(|m| m.role == Role::StorageArray) {
            let c = parse_array(m.options.get("storage")).unwrap_or_default();
            let mut a = Array {
                machine: m.id,
                name: m.name.clone(),
                vendor: "Contoso".into(),
                model: "FakeArray 9000".into(),
                serial: format!("FA{:010}", fnv(&[&m.name]) % 10_000_000_000),
                pools: Vec::new(),
                volumes: Vec::new(),
                ports: Vec::new(),
                jobs: Vec::new(),
                next: 0,
                generation: 0,
            };
            for (i, p) in c.pool.iter().enumerate() {
                a.pools.push(Pool {
                    id: format!("P-{}", i + 1),
                    name: p.name.clone(),
                    capacity: p.capacity_gib.saturating_mul(GIB),
                });
            }
            let domain = m.dns_name.split_once('.').map_or("", |(_, d)| d);
            for i in 0..c.target_ports.unwrap_or(2) {
                a.ports.push(TargetPort {
                    id: format!("TP-{}", i + 1),
                    iqn: format!(
                        "iqn.2026-01.test.fakedc:{}.{}.tp{}",
                        m.name.to_ascii_lowercase(),
                        domain,
                        i + 1
                    ),
                });
            }
            for v in &c.volume {
                let initiators: BTreeSet<String> = v
                    .hosts
                    .iter()
                    .filter_map(|h| machines.iter().find(|x| x.name.eq_ignore_ascii_case(h)))
                    .map(|h| initiator_iqn(&h.dns_name))
                    .collect();
                let Some(pool) = a.pool(&v.pool).map(|p| p.id.clone()) else {
                    continue;
                };
                let n = v.count.unwrap_or(1);
                for k in 1..=n {
                    a.next += 1;
                    let id = format!("{:05X}", 0x10000 + a.next);
                    a.volumes.push(Volume {
                        wwn: a.wwn(&id),
                        id,
                        name: if v.count.is_some() {
                            format!("{}-{k}", v.name)
                        } else {
                            v.name.clone()
                        },
                        pool: pool.clone(),
                        size: v.size_gib.saturating_mul(GIB),
                        initiators: initiators.clone(),
                    });
                }
            }
            arrays.push(a);
        }
        let mut managed = Vec::new();
        for m in machines.iter().filter(|m| m.role == Role::VmmServer) {
            let c: ManagementConfig = m
                .options
                .get("storage")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default();
            let ids = arrays
                .iter()
                .filter(|a| {
                    c.arrays
                        .as_ref()
                        .is_none_or(|l| l.iter().any(|n| n.eq_ignore_ascii_case(&a.name)))
                })
                .map(|a| a.machine)
                .collect();
            managed.push((m.id, ids));
        }
        Storage {
            arrays: arrays.iter().cloned().map(Mutex::new).collect(),
            initial: arrays,
            managed,
        }
    }

    /// The array served by a machine, locked, with due jobs applied.
    pub fn array(&self, machine: MachineId, now: Instant) -> Option<MutexGuard<'_, Array>> {
        let i = self.initial.iter().position(|a| a.machine == machine)?;
        let mut g = self.arrays[i]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        g.advance(now);
        Some(g)
    }

    /// Machine ids of every array.
    pub fn arrays(&self) -> Vec<MachineId> {
        self.initial.iter().map(|a| a.machine).collect()
    }

    /// The arrays registered with a VMM server's Storage Management Service.
    pub fn managed_by(&self, vmm: MachineId) -> &[MachineId] {
        self.managed
            .iter()
            .find(|(m, _)| *m == vmm)
            .map(|(_, l)| l.as_slice())
            .unwrap_or(&[])
    }

    /// Back to the scenario's arrays.
    pub fn reset(&self) {
        for (i, a) in self.initial.iter().enumerate() {
            *self.arrays[i]
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = a.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn array() -> Array {
        Array {
            machine: MachineId(0),
            name: "a".into(),
            vendor: "v".into(),
            model: "m".into(),
            serial: "s".into(),
            pools: vec![Pool {
                id: "P-1".into(),
                name: "Gold".into(),
                capacity: 10 * GIB,
            }],
            volumes: Vec::new(),
            ports: Vec::new(),
            jobs: Vec::new(),
            next: 0,
            generation: 0,
        }
    }

    #[test]
    fn jobs_complete_and_fail_on_a_full_pool() {
        let t0 = crate::Clock::new().now();
        let mut a = array();
        let j = a.create_volume("Gold", "v1", 4 * GIB, t0).unwrap();
        assert!(a.volumes.is_empty());
        // The pending volume already counts against the pool.
        let j2 = a.create_volume("P-1", "v2", 7 * GIB, t0).unwrap();
        a.advance(t0 + JOB_DURATION);
        assert_eq!(a.volumes.len(), 1);
        assert_eq!(a.job_volume(&j).unwrap().name, "v1");
        let failed = a.jobs.iter().find(|x| x.id == j2).unwrap();
        assert_eq!(failed.state(t0 + JOB_DURATION), JobState::Exception);
        assert_eq!(a.volumes[0].wwn.len(), 32);
        let id = a.volumes[0].id.clone();
        a.set_exposure(std::slice::from_ref(&id), &["iqn.x".into()], true)
            .unwrap();
        assert!(matches!(a.delete_volume(&id), Err(StorageError::InUse(_))));
        a.set_exposure(std::slice::from_ref(&id), &["IQN.X".into()], false)
            .unwrap();
        a.delete_volume(&id).unwrap();
        assert_eq!(a.used("P-1"), 0);
    }

    #[test]
    fn derived_ids_are_stable() {
        assert_eq!(derived_guid(&["x"]), derived_guid(&["x"]));
        assert_ne!(derived_guid(&["x"]), derived_guid(&["y"]));
        assert_eq!(derived_guid(&["x"]).len(), 36);
    }
}
