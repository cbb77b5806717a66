//! The physical (or virtual) box: power, boot override, identify, sensors,
//! event log and inventory. A BMC and the host it manages share one chassis,
//! so IPMI, SMASH, the control API and the host's OS endpoints all see one
//! state.
//!
//! Time is passed in (`now`) and transitions are applied lazily by
//! [`Chassis::advance`]: the model needs no timers, stays deterministic in
//! tests and can answer "when does the next transition happen" for the
//! network layer that opens and closes the host's listeners.

use crate::log::{EventKind, EventLog};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Power state of a chassis. Transitional states carry the instant at which
/// they end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerState {
    Off,
    /// Power is on, the OS is booting; OS endpoints come up at `until`.
    Booting {
        until: Instant,
    },
    On,
    /// A soft (ACPI) shutdown is in progress; power goes off at `until`.
    ShuttingDown {
        until: Instant,
    },
    /// Power cycle: power is off and comes back at `until`.
    Cycling {
        until: Instant,
    },
}

impl PowerState {
    /// Whether the chassis has main power (what `chassis power status` says).
    pub fn power_on(self) -> bool {
        matches!(
            self,
            PowerState::Booting { .. } | PowerState::On | PowerState::ShuttingDown { .. }
        )
    }

    /// A short label for tables and JSON.
    pub fn label(self) -> &'static str {
        match self {
            PowerState::Off => "off",
            PowerState::Booting { .. } => "booting",
            PowerState::On => "on",
            PowerState::ShuttingDown { .. } => "shutting-down",
            PowerState::Cycling { .. } => "cycling",
        }
    }
}

/// Power actions every front end can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerAction {
    On,
    /// Hard power off.
    Off,
    /// ACPI soft shutdown: the OS shuts down, then power goes off.
    Soft,
    /// Power off, wait the cycle interval, power on.
    Cycle,
    /// Hard reset: the OS reboots without power going off.
    Reset,
    /// Diagnostic interrupt: logged; the host stays as it is.
    Nmi,
}

impl std::str::FromStr for PowerAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "on" => PowerAction::On,
            "off" => PowerAction::Off,
            "soft" => PowerAction::Soft,
            "cycle" => PowerAction::Cycle,
            "reset" => PowerAction::Reset,
            "nmi" => PowerAction::Nmi,
            other => {
                return Err(format!(
                    "unknown power action '{other}' (on, off, soft, cycle, reset, nmi)"
                ))
            }
        })
    }
}

/// Boot device override (IPMI boot flags, CIM boot source, control API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BootDevice {
    #[default]
    None,
    Pxe,
    Disk,
    Cdrom,
    Bios,
    Floppy,
    Safe,
    Diag,
}

impl BootDevice {
    pub fn label(self) -> &'static str {
        match self {
            BootDevice::None => "none",
            BootDevice::Pxe => "pxe",
            BootDevice::Disk => "disk",
            BootDevice::Cdrom => "cdrom",
            BootDevice::Bios => "bios",
            BootDevice::Floppy => "floppy",
            BootDevice::Safe => "safe",
            BootDevice::Diag => "diag",
        }
    }
}

/// The boot override: which device the next (or every) boot uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BootOverride {
    pub device: BootDevice,
    /// Applies to every boot, not only the next one.
    pub persistent: bool,
    /// EFI rather than legacy boot.
    pub efi: bool,
}

/// Sensor kinds, each with the unit its readings are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SensorKind {
    /// Degrees Celsius.
    Temperature,
    /// RPM.
    Fan,
    /// Volts.
    Voltage,
    /// Amperes.
    Current,
    /// Watts.
    Power,
}

/// A sensor whose reading follows the power state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sensor {
    pub name: String,
    pub kind: SensorKind,
    /// Reading while the chassis has main power.
    pub on_value: f64,
    /// Reading on standby power.
    pub off_value: f64,
    pub lower_critical: Option<f64>,
    pub lower_non_critical: Option<f64>,
    pub upper_non_critical: Option<f64>,
    pub upper_critical: Option<f64>,
}

impl Sensor {
    pub fn reading(&self, power_on: bool) -> f64 {
        if power_on {
            self.on_value
        } else {
            self.off_value
        }
    }

    /// Whether the sensor has a reading now. A sensor on the main power
    /// domain (one whose standby reading is at or below its lower critical
    /// threshold: a stopped fan, a dead 12 V rail) has none while the
    /// chassis is off, as BMCs report it ("reading unavailable"), instead
    /// of a critical failure. IPMI and Redfish both ask this, so they agree.
    pub fn available(&self, power_on: bool) -> bool {
        power_on || self.lower_critical.is_none_or(|lc| self.off_value > lc)
    }

    /// [`Sensor::reading`] when [`Sensor::available`], else none.
    pub fn current(&self, power_on: bool) -> Option<f64> {
        self.available(power_on).then(|| self.reading(power_on))
    }

    /// A sensible default set for a two-socket server.
    pub fn default_set() -> Vec<Sensor> {
        let s = |name: &str, kind, on, off, lc, lnc, unc, uc| Sensor {
            name: name.to_string(),
            kind,
            on_value: on,
            off_value: off,
            lower_critical: lc,
            lower_non_critical: lnc,
            upper_non_critical: unc,
            upper_critical: uc,
        };
        use SensorKind::*;
        vec![
            s(
                "Inlet Temp",
                Temperature,
                24.0,
                22.0,
                None,
                None,
                Some(42.0),
                Some(47.0),
            ),
            s(
                "CPU1 Temp",
                Temperature,
                48.0,
                22.0,
                None,
                None,
                Some(85.0),
                Some(95.0),
            ),
            s(
                "CPU2 Temp",
                Temperature,
                46.0,
                22.0,
                None,
                None,
                Some(85.0),
                Some(95.0),
            ),
            s(
                "Fan1",
                Fan,
                7200.0,
                0.0,
                Some(600.0),
                Some(1200.0),
                None,
                None,
            ),
            s(
                "Fan2",
                Fan,
                7080.0,
                0.0,
                Some(600.0),
                Some(1200.0),
                None,
                None,
            ),
            s(
                "12V",
                Voltage,
                12.1,
                0.0,
                Some(10.8),
                Some(11.4),
                Some(12.6),
                Some(13.2),
            ),
            s(
                "3.3V Standby",
                Voltage,
                3.3,
                3.3,
                Some(2.97),
                Some(3.1),
                Some(3.5),
                Some(3.63),
            ),
            s(
                "PSU1 Current",
                Current,
                1.4,
                0.1,
                None,
                None,
                Some(10.0),
                Some(12.0),
            ),
            s(
                "System Power",
                Power,
                286.0,
                12.0,
                None,
                None,
                Some(900.0),
                Some(1000.0),
            ),
        ]
    }
}

/// Hardware identity: what SMBIOS, FRU and CIM report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hardware {
    pub vendor: String,
    pub model: String,
    pub serial: String,
    /// SMBIOS system UUID in the byte order SMBIOS stores it (the first three
    /// fields little-endian), which is what IPMI Get System GUID returns.
    pub smbios_guid: [u8; 16],
    pub asset_tag: String,
    pub part_number: String,
    pub bios_version: String,
    pub bmc_firmware: String,
}

impl Hardware {
    /// The GUID in its canonical text form (RFC 4122 field order), as
    /// `ipmitool mc guid` and CIM PlatformGUID print it.
    pub fn guid_string(&self) -> String {
        let g = &self.smbios_guid;
        format!(
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]
        )
    }
}

/// What a machine computes with: sockets, cores, hardware threads, clock
/// and memory. Every front that reports them reads this one value (WMI's
/// `Win32_ComputerSystem` and `Win32_OperatingSystem`, PowerShell's
/// `Get-ComputerInfo`, `Get-VMHost` and `Get-VM`, SMASH's `CIM_Processor`
/// and `CIM_Memory`, Redfish's Processors and Memory, vSphere's host
/// hardware and a VM's `config.hardware`), so a tool that reads a host
/// over WMI and its BMC over SMASH, as VMM does, sees one machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compute {
    /// Processor sockets (a VM: one).
    pub cpus: u32,
    pub cores_per_cpu: u32,
    /// Hardware threads per core: 2 on a server (hyper-threading on, as
    /// servers ship), 1 for a VM's virtual processors.
    pub threads_per_core: u32,
    pub cpu_mhz: u32,
    /// Installed memory in MiB.
    pub memory_mib: u64,
}

impl Compute {
    /// A two-socket server: 2 x 16 cores at 2600 MHz, 256 GiB.
    pub const SERVER: Compute = Compute {
        cpus: 2,
        cores_per_cpu: 16,
        threads_per_core: 2,
        cpu_mhz: 2600,
        memory_mib: 256 * 1024,
    };

    /// A VM with `vcpus` virtual processors (one socket) at the host's
    /// clock and `memory_mib` of memory.
    pub fn vm(vcpus: u32, cpu_mhz: u32, memory_mib: u64) -> Compute {
        Compute {
            cpus: 1,
            cores_per_cpu: vcpus,
            threads_per_core: 1,
            cpu_mhz,
            memory_mib,
        }
    }

    /// Physical cores (a VM: its virtual processors).
    pub fn cores(&self) -> u32 {
        self.cpus.saturating_mul(self.cores_per_cpu)
    }

    /// The processor's brand string, as CPUID gives it to every OS and
    /// BMC that shows it (Redfish `Model`, vSphere `cpuModel`).
    pub fn cpu_model(&self) -> String {
        format!(
            "Intel(R) Xeon(R) CPU {}C @ {}.{:02}GHz",
            self.cores_per_cpu,
            self.cpu_mhz / 1000,
            self.cpu_mhz % 1000 / 10
        )
    }

    /// Logical processors, what Windows counts and schedules on.
    pub fn logical_processors(&self) -> u32 {
        self.cores().saturating_mul(self.threads_per_core)
    }

    pub fn memory_bytes(&self) -> u64 {
        self.memory_mib.saturating_mul(1 << 20)
    }

    /// The memory Windows sees (`Win32_ComputerSystem.TotalPhysicalMemory`,
    /// `Get-VMHost`'s `MemoryCapacity`): what is installed less what the
    /// firmware keeps, which is why Windows never shows a round number.
    pub fn visible_memory_bytes(&self) -> u64 {
        self.memory_bytes().saturating_sub(FIRMWARE_RESERVED)
    }

    /// Free memory as Windows reports it (`FreePhysicalMemory`): a
    /// steady three quarters of the visible memory.
    pub fn free_memory_bytes(&self) -> u64 {
        self.visible_memory_bytes() / 4 * 3
    }
}

/// Memory the firmware reserves below what is installed (512 KiB).
const FIRMWARE_RESERVED: u64 = 512 * 1024;

/// Timing of transitions; scenarios set them (tests use short ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// From power-on (or reset) until the OS endpoints answer.
    pub boot_delay: Duration,
    /// From a soft shutdown request until power goes off.
    pub shutdown_delay: Duration,
    /// How long power stays off during a power cycle.
    pub cycle_interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            boot_delay: Duration::from_secs(3),
            shutdown_delay: Duration::from_secs(2),
            cycle_interval: Duration::from_secs(1),
        }
    }
}

/// Mutable state of one chassis.
#[derive(Debug, Clone)]
pub struct Chassis {
    pub power: PowerState,
    pub boot: BootOverride,
    /// The device the last boot used (reported by SMASH and the control API).
    pub last_boot_device: BootDevice,
    pub timing: Timing,
    pub sensors: Vec<Sensor>,
    pub log: EventLog,
    pub hardware: Hardware,
    /// Processors and memory (the scenario's, or [`Compute::SERVER`]).
    pub compute: Compute,
    /// Chassis identify LED: on until this instant, or forced on.
    pub identify_until: Option<Instant>,
    pub identify_forced: bool,
    /// Why the chassis last powered on/off, for chassis status.
    pub last_power_event: Option<PowerAction>,
    /// Counts every state change, so observers can tell something happened.
    pub generation: u64,
    /// A VM's saved or paused state (Hyper-V). `None` for physical chassis
    /// and for VMs that are simply on or off; any power action clears it.
    pub suspended: Option<Suspension>,
    /// A host in maintenance mode (vSphere `EnterMaintenanceMode_Task`):
    /// it refuses to power VMs on until it leaves it. Kept here, not in
    /// the SDK, so every front that reports or acts on the host agrees.
    pub maintenance: bool,
    /// A VM that was destroyed (vSphere `Destroy_Task`): it is no longer
    /// registered on its host, so every front lists it no more
    /// ([`crate::Model::vms`]) and it can never be powered on again. The
    /// machine table is immutable, so removal is this flag rather than a
    /// deletion; `Model::reset` brings the VM back with the scenario.
    pub removed: bool,
    /// The image a BMC's virtual CD/DVD has mounted (Redfish
    /// `VirtualMedia.InsertMedia`), if any.
    pub virtual_media: Option<VirtualMedia>,
    /// The virtual media image the last boot came from: set when a boot
    /// uses the CD override while an image is inserted, `None` otherwise.
    pub booted_media: Option<String>,
    /// A Hyper-V VM's checkpoints (PowerShell's `Checkpoint-VM`), oldest
    /// first. Kept on the chassis so every front that lists them agrees
    /// and `Model::reset` drops them with the rest of the state.
    pub checkpoints: Vec<Checkpoint>,
}

/// One Hyper-V checkpoint of a VM: its identity and place in the tree.
/// No disk or memory contents exist to copy: applying one sets the VM off
/// (a production checkpoint, Windows Server 2019's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// GUID text, lower case.
    pub id: String,
    pub name: String,
    /// When it was taken, Unix milliseconds on the model's wall clock.
    pub created_unix_ms: i64,
    /// The checkpoint the VM was on when this one was taken.
    pub parent: Option<String>,
}

/// A virtual CD/DVD image mounted by the BMC. The image is recorded, not
/// fetched: a real BMC streams it only as the host reads sectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualMedia {
    /// The image's URL as the client gave it.
    pub image: String,
    pub write_protected: bool,
    /// `Inserted` false keeps the image attached but the drive empty.
    pub inserted: bool,
}

/// How a virtual machine is suspended. Saved: power is off but the VM
/// resumes where it was; paused: power stays on, the guest does not run.
/// Either way the guest's OS endpoints do not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Suspension {
    Saved,
    Paused,
}

impl Chassis {
    pub fn new(hardware: Hardware, timing: Timing, powered_on: bool) -> Self {
        Chassis {
            power: if powered_on {
                PowerState::On
            } else {
                PowerState::Off
            },
            boot: BootOverride::default(),
            last_boot_device: BootDevice::Disk,
            timing,
            sensors: Sensor::default_set(),
            log: EventLog::default(),
            hardware,
            compute: Compute::SERVER,
            identify_until: None,
            identify_forced: false,
            last_power_event: None,
            generation: 0,
            suspended: None,
            maintenance: false,
            removed: false,
            virtual_media: None,
            booted_media: None,
            checkpoints: Vec::new(),
        }
    }

    /// Applies every transition whose time has come, logging events.
    pub fn advance(&mut self, now: Instant) {
        // A few iterations at most: cycling -> booting -> on.
        for _ in 0..4 {
            match self.power {
                PowerState::Booting { until } if until <= now => {
                    self.power = PowerState::On;
                    self.log.push(EventKind::OsBooted);
                    self.generation += 1;
                }
                PowerState::ShuttingDown { until } if until <= now => {
                    self.power = PowerState::Off;
                    self.log.push(EventKind::PowerOff { soft: true });
                    self.generation += 1;
                }
                PowerState::Cycling { until } if until <= now => {
                    self.start_boot(until);
                    self.generation += 1;
                }
                _ => return,
            }
        }
    }

    /// When the next transition is due, if one is pending.
    pub fn next_transition(&self) -> Option<Instant> {
        match self.power {
            PowerState::Booting { until }
            | PowerState::ShuttingDown { until }
            | PowerState::Cycling { until } => Some(until),
            PowerState::Off | PowerState::On => None,
        }
    }

    /// Whether the OS is up (its endpoints answer).
    pub fn os_up(&self) -> bool {
        self.power == PowerState::On && self.suspended.is_none()
    }

    /// Saves a running VM (Hyper-V "Save"): power goes off and the guest
    /// stops answering; a later power-on resumes it after the boot delay.
    /// Ignored unless the chassis has power.
    pub fn save(&mut self, now: Instant) {
        self.advance(now);
        if self.power.power_on() {
            self.power = PowerState::Off;
            self.suspended = Some(Suspension::Saved);
            self.generation += 1;
        }
    }

    /// Pauses a VM: power stays on, the guest stops answering until
    /// [`Chassis::resume`]. Ignored unless the chassis has power.
    pub fn pause(&mut self, now: Instant) {
        self.advance(now);
        if self.power.power_on() && self.suspended.is_none() {
            self.suspended = Some(Suspension::Paused);
            self.generation += 1;
        }
    }

    /// Resumes a paused VM at once; a saved VM is powered on (it answers
    /// after the boot delay).
    pub fn resume(&mut self, now: Instant) {
        match self.suspended {
            Some(Suspension::Paused) => {
                self.advance(now);
                self.suspended = None;
                self.generation += 1;
            }
            Some(Suspension::Saved) => self.power_action(PowerAction::On, now),
            None => {}
        }
    }

    fn start_boot(&mut self, at: Instant) {
        let device = if self.boot.device == BootDevice::None {
            BootDevice::Disk
        } else {
            self.boot.device
        };
        self.last_boot_device = device;
        self.booted_media = self.media_for(device);
        self.log.push(EventKind::PowerOn);
        self.log.push(EventKind::BootStarted { device });
        if !self.boot.persistent {
            self.boot.device = BootDevice::None;
        }
        self.power = PowerState::Booting {
            until: at + self.timing.boot_delay,
        };
    }

    /// Performs a power action. Actions that make no sense in the current
    /// state (soft shutdown of a chassis that is off) are accepted and do
    /// nothing, as BMCs do.
    pub fn power_action(&mut self, action: PowerAction, now: Instant) {
        self.advance(now);
        if self.removed {
            // A destroyed VM has no power to change (its chassis stays off).
            return;
        }
        self.last_power_event = Some(action);
        self.generation += 1;
        if action != PowerAction::Nmi {
            self.suspended = None;
        }
        match action {
            PowerAction::On => {
                if !self.power.power_on() {
                    self.start_boot(now);
                }
            }
            PowerAction::Off => {
                if self.power.power_on() || matches!(self.power, PowerState::Cycling { .. }) {
                    self.power = PowerState::Off;
                    self.log.push(EventKind::PowerOff { soft: false });
                }
            }
            PowerAction::Soft => {
                if matches!(self.power, PowerState::On | PowerState::Booting { .. }) {
                    self.log.push(EventKind::SoftShutdownRequested);
                    self.power = PowerState::ShuttingDown {
                        until: now + self.timing.shutdown_delay,
                    };
                }
            }
            PowerAction::Cycle => {
                if self.power.power_on() {
                    self.log.push(EventKind::PowerOff { soft: false });
                    self.power = PowerState::Cycling {
                        until: now + self.timing.cycle_interval,
                    };
                } else {
                    // IPMI: cycle on a chassis that is off powers it on.
                    self.start_boot(now);
                }
            }
            PowerAction::Reset => {
                if self.power.power_on() {
                    self.log.push(EventKind::Reset);
                    let device = if self.boot.device == BootDevice::None {
                        BootDevice::Disk
                    } else {
                        self.boot.device
                    };
                    self.last_boot_device = device;
                    self.booted_media = self.media_for(device);
                    self.log.push(EventKind::BootStarted { device });
                    if !self.boot.persistent {
                        self.boot.device = BootDevice::None;
                    }
                    self.power = PowerState::Booting {
                        until: now + self.timing.boot_delay,
                    };
                }
            }
            PowerAction::Nmi => {
                self.log.push(EventKind::Nmi);
            }
        }
    }

    /// The virtual media a boot from `device` reads: the inserted image
    /// when the boot is from CD.
    fn media_for(&self, device: BootDevice) -> Option<String> {
        if device != BootDevice::Cdrom {
            return None;
        }
        self.virtual_media
            .as_ref()
            .filter(|m| m.inserted)
            .map(|m| m.image.clone())
    }

    /// Mounts (`Some`) or ejects (`None`) the BMC's virtual CD/DVD.
    pub fn set_virtual_media(&mut self, media: Option<VirtualMedia>) {
        self.virtual_media = media;
        self.generation += 1;
    }

    pub fn set_boot(&mut self, boot: BootOverride) {
        self.boot = boot;
        self.generation += 1;
    }

    pub fn identify_on(&self, now: Instant) -> bool {
        self.identify_forced || self.identify_until.is_some_and(|t| t > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hw() -> Hardware {
        Hardware {
            vendor: "Contoso".into(),
            model: "R1".into(),
            serial: "S1".into(),
            smbios_guid: [
                0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
                0xee, 0xff,
            ],
            asset_tag: String::new(),
            part_number: String::new(),
            bios_version: "1.0".into(),
            bmc_firmware: "1.0".into(),
        }
    }

    #[test]
    fn guid_text_uses_rfc4122_order() {
        assert_eq!(hw().guid_string(), "00112233-4455-6677-8899-aabbccddeeff");
    }

    #[test]
    fn boot_takes_the_boot_delay_and_logs() {
        let t0 = crate::Clock::new().now();
        let mut c = Chassis::new(hw(), Timing::default(), false);
        c.boot = BootOverride {
            device: BootDevice::Pxe,
            persistent: false,
            efi: false,
        };
        c.power_action(PowerAction::On, t0);
        assert!(c.power.power_on());
        assert!(!c.os_up());
        assert_eq!(c.last_boot_device, BootDevice::Pxe);
        assert_eq!(
            c.boot.device,
            BootDevice::None,
            "next-boot override is used up"
        );
        c.advance(t0 + Duration::from_secs(2));
        assert!(!c.os_up());
        c.advance(t0 + Duration::from_secs(3));
        assert!(c.os_up());
        let kinds: Vec<_> = c.log.entries().iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![
                EventKind::PowerOn,
                EventKind::BootStarted {
                    device: BootDevice::Pxe
                },
                EventKind::OsBooted
            ]
        );
    }

    #[test]
    fn cycle_goes_off_then_boots() {
        let t0 = crate::Clock::new().now();
        let mut c = Chassis::new(hw(), Timing::default(), true);
        c.power_action(PowerAction::Cycle, t0);
        assert!(!c.power.power_on());
        c.advance(t0 + Duration::from_millis(1000));
        assert!(matches!(c.power, PowerState::Booting { .. }));
        c.advance(t0 + Duration::from_millis(4000));
        assert_eq!(c.power, PowerState::On);
    }

    #[test]
    fn soft_shutdown_waits_then_powers_off() {
        let t0 = crate::Clock::new().now();
        let mut c = Chassis::new(hw(), Timing::default(), true);
        c.power_action(PowerAction::Soft, t0);
        assert!(c.power.power_on());
        assert!(!c.os_up());
        c.advance(t0 + Duration::from_secs(2));
        assert_eq!(c.power, PowerState::Off);
        c.power_action(PowerAction::Soft, t0);
        assert_eq!(c.power, PowerState::Off);
    }

    #[test]
    fn save_pause_resume() {
        let t0 = crate::Clock::new().now();
        let mut c = Chassis::new(hw(), Timing::default(), true);
        c.pause(t0);
        assert_eq!(c.suspended, Some(Suspension::Paused));
        assert!(c.power.power_on() && !c.os_up());
        c.resume(t0);
        assert!(c.os_up());
        c.save(t0);
        assert_eq!(c.power, PowerState::Off);
        assert_eq!(c.suspended, Some(Suspension::Saved));
        c.resume(t0);
        assert_eq!(c.suspended, None);
        assert!(matches!(c.power, PowerState::Booting { .. }));
        c.advance(t0 + Duration::from_secs(3));
        assert!(c.os_up());
        // A hard power-off clears a pause.
        c.pause(t0);
        c.power_action(PowerAction::Off, t0);
        assert_eq!((c.power, c.suspended), (PowerState::Off, None));
        // Saving or pausing a chassis that is off does nothing.
        c.save(t0);
        c.pause(t0);
        assert_eq!(c.suspended, None);
    }

    #[test]
    fn persistent_override_survives_boot() {
        let t0 = crate::Clock::new().now();
        let mut c = Chassis::new(hw(), Timing::default(), false);
        c.set_boot(BootOverride {
            device: BootDevice::Cdrom,
            persistent: true,
            efi: true,
        });
        c.power_action(PowerAction::On, t0);
        assert_eq!(c.boot.device, BootDevice::Cdrom);
        c.power_action(PowerAction::Reset, t0);
        assert_eq!(c.last_boot_device, BootDevice::Cdrom);
    }
}
