//! The IPMI command layer: request bytes of one IPMI message in, completion
//! code, response bytes and a side effect out.
//!
//! This module is sans-IO like the rest of the crate: it never touches a
//! socket or a clock. The service hands it one decoded IPMI request
//! ([`CmdRequest`]) together with the shared [`fakedc_model::Model`], the
//! BMC's [`MachineId`], the per-BMC protocol state this layer owns
//! ([`BmcState`]) and the current [`Instant`]; [`handle`] returns a
//! [`CmdResponse`] whose `cc` and `data` go back on the wire (the wire layer
//! puts `cc` first in the response data) and whose [`Effect`] tells the
//! service what to do to the session layer (close a session, change its
//! privilege, start or stop Serial-over-LAN).
//!
//! # What lives where
//!
//! * Machine state (power, boot override, sensors, event log, hardware
//!   identity, users) is in the model and is read and changed only through
//!   it, so IPMI, SMASH and the control API stay one state.
//! * Protocol state that the model does not hold (boot option parameters
//!   0-4 and 6, SEL/SDR reservation ids, the SEL clock offset, LAN and SOL
//!   configuration parameters, channel access, IPMI-only user flags, the
//!   session snapshot, payload activations, DCMI power limit, the watchdog
//!   timer, PEF configuration, channel security keys) is in [`BmcState`],
//!   one per BMC, owned by the service.
//! * Timers (the watchdog, `watchdog.rs`) are deadlines in [`BmcState`]:
//!   [`handle`] runs whatever fell due before answering, and the service
//!   also wakes at [`BmcState::next_timer`] and calls
//!   [`BmcState::poll_timers`], so an expiring watchdog acts on the chassis
//!   on time. Neither reads a clock: `now` comes from the caller.
//! * Sessions themselves belong to the session layer; the service copies a
//!   snapshot into [`BmcState::sessions`] so Get Session Info can answer, and
//!   applies the [`Effect`]s this layer returns.
//!
//! # Dispatch rules
//!
//! [`handle`] looks the command up first: anything not implemented gets
//! `C1h` (invalid command), never silence: ipmitool's HPM (`2Ch/3Eh`),
//! PICMG (`2Ch/00h 00`) and VSO (`2Ch/00h 03`) probes included, whatever the
//! session's privilege. Requests to a LUN other than 0 get `C2h`. Then
//! outside a session (`session_id == None`) only the commands IPMI allows
//! before a session (Get Channel Authentication Capabilities, Get Channel
//! Cipher Suites, Get System GUID) are answered, every other one gets `D4h`;
//! inside a session the session's current privilege must reach
//! [`required_privilege`] (IPMI v2.0 Appendix G), else `D4h`. Only then does
//! the command run. Netfn `2Ch` with group extension byte `DCh` is DCMI 1.5.
//!
//! Every command checks its request length: too short gives `C7h`, too long
//! `C8h`, a bad field `CCh`, a parameter out of range `C9h` or the
//! command-specific code (`80h` "parameter not supported" and friends).
//! Nothing here panics on request bytes; the tests feed every netfn/command
//! pair random data to check that.
//!
//! # Wiring it to the session layer (for the service)
//!
//! * Build [`BmcConfig`] from the same scenario options as the session
//!   layer's configuration (cipher suites, IPMI 1.5 authentication types,
//!   UDP port), so Get Channel Authentication Capabilities, Get Channel
//!   Cipher Suites and LAN parameters 1, 2, 22-24 agree with what the
//!   session layer really accepts.
//! * Map the session's privilege into [`CmdRequest::privilege`] (OEM counts
//!   as `Admin`); pre-session requests: `Callback` and `session_id: None`.
//! * [`Effect::SetSessionPrivilege`]: apply it to the session; if the
//!   session layer refuses, answer with its completion code instead.
//!   [`Effect::CloseSession`] / [`Effect::CloseAllSessions`]: send the
//!   response first (it needs the session's keys), then close.
//!   [`Effect::ActivateSol`] / [`Effect::DeactivateSol`]: start or stop the
//!   SOL stream after the response; when a session ends by any path, call
//!   [`BmcState::session_closed`] so its SOL instance is released.
//! * Keep [`BmcState::sessions`] current ([`BmcState::set_sessions`]); give
//!   sessions small 1-based handles (the wire field is one byte).
//!
//! # Deviations worth knowing
//!
//! * Write FRU Data answers `D5h` (not supported in present state): the FRU
//!   image is generated from the model's hardware identity and read-only.
//! * Read FRU Data returns at most [`FRU_MAX_READ`] bytes per request and
//!   reports the count it returned (the spec allows a short read; ipmitool
//!   and FreeIPMI continue from the returned count).
//! * Get DCMI Power Limit answers `80h` (no active limit) *with* the full
//!   response data, like real BMCs and OpenBMC: ipmitool parses the data
//!   even then. Limits can be set and activated but nothing enforces them.
//! * Boot option parameters 1-4 and the non-device bits of parameter 5 are
//!   stored and returned, but nothing acts on them; the device, persistence
//!   and EFI bits of parameter 5 are the model's boot override.
//! * LAN configuration writes (IP address, mask, gateways, VLAN, ...) are
//!   stored and read back exactly as written; they do not rebind anything.
//! * The SEL clock ([`BmcState`]'s offset set by Set SEL Time) shifts every
//!   timestamp the SEL reports, including entries logged before it was set.
//! * Sensor readings are the model's value converted to one byte with
//!   linear factors chosen per sensor (see `sdr.rs`), so they are exact to
//!   half a step; threshold status compares raw bytes, like a BMC does.
//!   While the chassis is off, a sensor whose standby reading is at or
//!   below its lower critical threshold (stopped fans, the 12 V rail)
//!   reports "reading unavailable" instead of a critical status.
//! * A soft shutdown request is logged as "Power Button pressed" (sensor
//!   type 14h), which is what an ACPI soft-off request is; see `sel.rs`
//!   for the whole event mapping.
//! * LAN parameter 24 (cipher suite privilege levels) is indexed by cipher
//!   suite id 0-15, as ipmitool and FreeIPMI read it.
//! * PEF configuration (`pef.rs`) is stored and read back but never
//!   evaluated: no filter matches, no alert is sent, no PEF action is taken.
//! * Get Channel Info knows channel 0 (IPMB), the LAN channel, the serial/
//!   modem channel (`serial.rs`: configured and read back, with no line
//!   behind it) and 0Fh (the system interface). Channel and user access
//!   take the LAN and serial channels; every other command that names a
//!   channel accepts only the LAN channel.
//! * Set Channel Security Keys reads and sets K_R and K_G (K_G reaches the
//!   session layer through [`Effect::SetBmcKey`]); the keys cannot be
//!   locked.
//! * Not implemented (C1h): Delete/Partial Add SEL Entry (the model's log
//!   has no delete), SDR repository updates, serial/modem callback and
//!   terminal-mode commands, Alert Immediate and PET Acknowledge, DCMI thermal limits and
//!   configuration parameters.

mod app;
mod chassis;
mod dcmi;
mod fru;
mod pef;
mod sdr;
mod sel;
mod sensor;
mod serial;
mod transport;
mod watchdog;

#[cfg(test)]
mod tests;

use crate::crypto::CipherSuite;
use fakedc_model::{Chassis, ChassisId, MachineId, Model, Privilege};
use std::net::IpAddr;
use std::time::Instant;

pub use chassis::BootParams;
pub use dcmi::DcmiState;
pub use fru::FRU_MAX_READ;
pub use pef::{PefState, Postpone};
pub use sdr::Linear;
pub use serial::{SerialState, SerialUser, SERIAL_CHANNEL};
pub use transport::{AlertDestination, LanConfig, SolConfig, LAN_DESTINATIONS};
pub use watchdog::{Watchdog, WatchdogEvent};

// Completion codes, network functions and authentication-type bits are the
// wire module's: one definition for the session layer and this one.
pub use crate::wire::{auth_type, cc, netfn};

/// The LAN channel number this BMC reports for itself.
pub const LAN_CHANNEL: u8 = 1;

/// One IPMI request, as the service decoded it.
#[derive(Debug, Clone, Copy)]
pub struct CmdRequest<'a> {
    pub netfn: u8,
    pub lun: u8,
    pub cmd: u8,
    /// Request data (after the command byte, without the checksum).
    pub data: &'a [u8],
    /// The session's current privilege. Pre-session requests pass
    /// `Callback` and `session_id: None`.
    pub privilege: Privilege,
    /// The BMC-side session id; `None` outside a session. Only the
    /// pre-session commands are answered without one.
    pub session_id: Option<u32>,
    /// The session's user name (for Set Session Privilege Level).
    pub user: Option<&'a str>,
    /// The channel the request arrived on (1 = LAN).
    pub channel: u8,
}

/// What the service sends back and acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdResponse {
    /// Completion code, first byte of the response data on the wire.
    pub cc: u8,
    /// Response data after the completion code. Normally empty when `cc`
    /// is not zero; DCMI Get Power Limit's `80h` carries data on purpose.
    pub data: Vec<u8>,
    /// What the service must do besides answering.
    pub effect: Effect,
}

impl CmdResponse {
    pub fn ok(data: Vec<u8>) -> Self {
        CmdResponse {
            cc: cc::OK,
            data,
            effect: Effect::None,
        }
    }

    pub fn error(code: u8) -> Self {
        CmdResponse {
            cc: code,
            data: Vec::new(),
            effect: Effect::None,
        }
    }

    fn with_effect(mut self, effect: Effect) -> Self {
        self.effect = effect;
        self
    }
}

/// A side effect for the service to apply after sending the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    /// Close Session: close this BMC session id (after answering).
    CloseSession(u32),
    /// Cold or warm BMC reset: every session goes.
    CloseAllSessions,
    /// Set Session Privilege Level: the session layer applies (or refuses,
    /// replacing the completion code) the new level for the requesting
    /// session.
    SetSessionPrivilege(Privilege),
    /// Activate Payload (SOL) succeeded for the requesting session; the
    /// activation is already recorded in [`BmcState`]. Console output may
    /// start once the response is sent.
    ActivateSol {
        instance: u8,
    },
    /// Deactivate Payload (SOL): stop the SOL stream of this instance
    /// (whichever session owns it). Already released in [`BmcState`].
    DeactivateSol {
        instance: u8,
    },
    /// LAN configuration parameter 2 changed: the IPMI 1.5 authentication
    /// types now enabled per maximum privilege (callback, user, operator,
    /// admin, OEM), which the session layer applies to the next logins.
    SetLanAuthEnables([u8; 5]),
    /// Set Channel Security Keys changed K_G: the session layer uses it
    /// for the next logins (all zero: no BMC key, K_G = K_uid).
    SetBmcKey(Key20),
}

/// A 20-byte channel security key (K_G or K_R). `Debug` never shows it.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Key20(pub [u8; 20]);

impl Key20 {
    /// The key of `bytes`, zero-padded (or cut) to 20 bytes.
    pub fn new(bytes: &[u8]) -> Self {
        let mut k = [0u8; 20];
        for (d, s) in k.iter_mut().zip(bytes) {
            *d = *s;
        }
        Key20(k)
    }

    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|&b| b == 0)
    }
}

impl std::fmt::Debug for Key20 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_zero() {
            "Key20(zero)"
        } else {
            "Key20(set)"
        })
    }
}

/// How the BMC is configured: what the scenario's options say. The service
/// fills it in when it creates the [`BmcState`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BmcConfig {
    /// IPMI 1.5 authentication types enabled on the LAN channel, as
    /// [`auth_type`] bits. Empty means IPMI 1.5 sessions are off.
    pub auth_types: u8,
    /// RMCP+ cipher suite ids offered, in preference order. Ids that
    /// [`crate::crypto::SUPPORTED_SUITES`] lacks are never advertised (the
    /// session layer could not accept them). Empty means IPMI 2.0 sessions
    /// are off.
    pub cipher_suites: Vec<u8>,
    /// Per-message authentication enabled (IPMI 1.5).
    pub per_message_auth: bool,
    /// User-level authentication enabled (IPMI 1.5).
    pub user_level_auth: bool,
    /// Whether a non-zero BMC key (K_G) is set.
    pub kg_nonzero: bool,
    /// The BMC key K_G as configured (zero: none), for Get Channel
    /// Security Keys.
    pub bmc_key: Key20,
    /// IANA enterprise number reported by Get Device ID.
    pub manufacturer_id: u32,
    pub product_id: u16,
    pub device_id: u8,
    /// Device revision (low 4 bits).
    pub device_revision: u8,
    pub aux_firmware: [u8; 4],
    /// Number of user slots reported by Get User Access (at least the
    /// highest slot in use).
    pub max_users: u8,
    /// Session slots reported by Get Session Info.
    pub max_sessions: u8,
    /// The UDP port the BMC's RMCP endpoint listens on (Activate Payload
    /// and LAN/SOL parameters report it).
    pub udp_port: u16,
    /// Largest SOL payload the BMC accepts and sends.
    pub sol_max_payload: u16,
    /// Device GUID; `None` uses the chassis SMBIOS GUID like the system GUID.
    pub device_guid: Option<[u8; 16]>,
}

impl Default for BmcConfig {
    fn default() -> Self {
        BmcConfig {
            auth_types: auth_type::MD5 | auth_type::PASSWORD,
            cipher_suites: vec![3, 17],
            per_message_auth: true,
            user_level_auth: true,
            kg_nonzero: false,
            bmc_key: Key20::default(),
            manufacturer_id: 311,
            product_id: 0x0FDC,
            device_id: 0x20,
            device_revision: 0x01,
            aux_firmware: [0; 4],
            max_users: 16,
            max_sessions: 8,
            udp_port: 623,
            sol_max_payload: 255,
            device_guid: None,
        }
    }
}

impl BmcConfig {
    /// The configured cipher suites this crate implements, in the configured
    /// order: what Get Channel Cipher Suites and LAN parameters 22-24 list.
    pub(crate) fn suites(&self) -> impl Iterator<Item = CipherSuite> + '_ {
        self.cipher_suites
            .iter()
            .filter_map(|&id| CipherSuite::by_id(id))
    }

    /// The IANA enterprise number of a hardware vendor name, for Get Device
    /// ID: well-known server vendors map to their own numbers; anything
    /// else gets Microsoft's (311), which no client has OEM quirks for.
    pub fn manufacturer_for_vendor(vendor: &str) -> u32 {
        let v = vendor.to_ascii_lowercase();
        let table: [(&str, u32); 10] = [
            ("dell", 674),
            ("hewlett", 11),
            ("hpe", 11),
            ("lenovo", 19046),
            ("supermicro", 10876),
            ("super micro", 10876),
            ("intel", 343),
            ("cisco", 9),
            ("fujitsu", 10368),
            ("ibm", 2),
        ];
        table
            .iter()
            .find(|(name, _)| v.contains(name))
            .map(|&(_, id)| id)
            .unwrap_or(311)
    }
}

/// One active session, as the service copies it from the session layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Session handle (1-based, stable while the session lives).
    pub handle: u8,
    /// BMC-side session id.
    pub session_id: u32,
    pub user_id: u8,
    /// Current privilege level.
    pub privilege: Privilege,
    /// RMCP+ (IPMI 2.0) rather than IPMI 1.5.
    pub ipmi20: bool,
    /// Whether the session has a confidentiality algorithm (SOL activation
    /// with encryption needs one).
    pub encrypted: bool,
    pub channel: u8,
    pub console_ip: [u8; 4],
    pub console_mac: [u8; 6],
    pub console_port: u16,
}

/// Channel access settings (Get/Set Channel Access), one copy volatile and
/// one non-volatile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelAccess {
    pub alerting_disabled: bool,
    pub per_message_auth_disabled: bool,
    pub user_level_auth_disabled: bool,
    /// 0 disabled, 1 pre-boot only, 2 always available, 3 shared.
    pub access_mode: u8,
    /// Channel privilege limit (1-5).
    pub privilege_limit: u8,
}

/// IPMI-only per-user flags the model has no place for (Set User Access).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserFlags {
    pub callin_callback: bool,
    pub link_auth: bool,
    pub ipmi_messaging: bool,
    /// Privilege limit set to "no access" (0Fh).
    pub no_access: bool,
    /// Set User Payload Access: may this user activate SOL.
    pub sol_payload: bool,
}

impl Default for UserFlags {
    fn default() -> Self {
        UserFlags {
            callin_callback: false,
            link_auth: false,
            ipmi_messaging: true,
            no_access: false,
            sol_payload: true,
        }
    }
}

/// Per-BMC protocol state that the model doesn't hold. One per BMC, owned
/// by the service and passed to every [`handle`] call.
#[derive(Debug, Clone)]
pub struct BmcState {
    pub config: BmcConfig,
    /// Active sessions on this BMC, kept current by the service.
    pub sessions: Vec<SessionInfo>,
    pub boot: BootParams,
    pub lan: LanConfig,
    pub sol: SolConfig,
    pub dcmi: DcmiState,
    pub channel_volatile: ChannelAccess,
    pub channel_nonvolatile: ChannelAccess,
    /// Set User Access flags per user id.
    pub user_flags: std::collections::BTreeMap<u8, UserFlags>,
    /// The serial/modem channel: its access, users and parameters.
    pub serial: SerialState,
    /// Seconds added to the clock for every SEL timestamp (Set SEL Time).
    pub sel_time_offset: i64,
    /// The datacenter's clock (the service hands in the model's; a fresh
    /// one for a state made alone, as unit tests do).
    pub clock: std::sync::Arc<fakedc_model::Clock>,
    /// Power restore policy: 0 always off, 1 previous, 2 always on.
    pub power_restore_policy: u8,
    /// SOL payload instance 1's owning session, if active.
    pub sol_owner: Option<u32>,
    /// System info parameters 1-7 (Get/Set System Info Parameters) that were
    /// set by a client; unset ones come from the model.
    pub system_info: std::collections::BTreeMap<u8, Vec<u8>>,
    /// The watchdog timer (Set/Get/Reset Watchdog Timer).
    pub watchdog: Watchdog,
    /// Platform event filtering configuration and processed event ids.
    pub pef: PefState,
    /// Channel security keys K_R and K_G of the LAN channel.
    pub kr: Key20,
    pub kg: Key20,
    /// Journal lines for what timers did, until the service takes them.
    timer_events: Vec<(&'static str, String)>,
    sel_reservation: u16,
    sdr_reservation: u16,
    /// Power-on-hours accounting: minutes counted so far and when last seen.
    poh_minutes: f64,
    poh_seen: Option<(Instant, bool)>,
}

impl BmcState {
    pub fn new(config: BmcConfig) -> Self {
        let lan = LanConfig::new(&config);
        let sol = SolConfig::new(&config);
        let kg = config.bmc_key;
        let access = ChannelAccess {
            alerting_disabled: false,
            per_message_auth_disabled: !config.per_message_auth,
            user_level_auth_disabled: !config.user_level_auth,
            access_mode: 2,
            privilege_limit: 4,
        };
        BmcState {
            config,
            sessions: Vec::new(),
            boot: BootParams::default(),
            lan,
            sol,
            dcmi: DcmiState::default(),
            channel_volatile: access,
            channel_nonvolatile: access,
            user_flags: Default::default(),
            serial: SerialState::default(),
            sel_time_offset: 0,
            clock: Default::default(),
            power_restore_policy: 1,
            sol_owner: None,
            system_info: Default::default(),
            watchdog: Watchdog::default(),
            pef: PefState::default(),
            kr: Key20::default(),
            kg,
            timer_events: Vec::new(),
            sel_reservation: 0,
            sdr_reservation: 0,
            poh_minutes: 0.0,
            poh_seen: None,
        }
    }

    /// Replaces the session snapshot (call whenever sessions change).
    pub fn set_sessions(&mut self, sessions: Vec<SessionInfo>) {
        self.sessions = sessions;
    }

    /// The session snapshot, for a caller that wants to know whether it
    /// changed before replacing it.
    pub fn sessions(&self) -> &[SessionInfo] {
        &self.sessions
    }

    /// A session ended: release the payloads it owned. Returns the SOL
    /// instances released.
    pub fn session_closed(&mut self, session_id: u32) -> Vec<u8> {
        self.sessions.retain(|s| s.session_id != session_id);
        if self.sol_owner == Some(session_id) {
            self.sol_owner = None;
            vec![1]
        } else {
            Vec::new()
        }
    }

    /// The session owning SOL instance `instance`, if active.
    pub fn sol_active(&self, instance: u8) -> Option<u32> {
        if instance == 1 {
            self.sol_owner
        } else {
            None
        }
    }

    /// Releases a SOL instance (the service refused or ended it).
    pub fn release_sol(&mut self, instance: u8) {
        if instance == 1 {
            self.sol_owner = None;
        }
    }

    /// A BMC reset: reservations and payload activations go; configuration
    /// stays (it is "non-volatile" here).
    pub fn reset(&mut self) {
        self.sel_reservation = 0;
        self.sdr_reservation = 0;
        self.sol_owner = None;
        self.sessions.clear();
        self.boot.set_in_progress = 0;
        self.lan.set_in_progress = 0;
        self.sol.set_in_progress = 0;
        self.watchdog.bmc_reset();
    }

    /// Current SEL clock (Unix seconds), real time plus the offset.
    pub fn sel_now(&self) -> u32 {
        self.sel_time(self.clock.unix_secs())
    }

    fn sel_time(&self, unix: u64) -> u32 {
        let t = (unix as i64).saturating_add(self.sel_time_offset);
        t.clamp(0, u32::MAX as i64) as u32
    }

    fn next_reservation(current: u16) -> u16 {
        match current.wrapping_add(1) {
            0 => 1,
            n => n,
        }
    }

    fn find_session(&self, session_id: u32) -> Option<&SessionInfo> {
        self.sessions.iter().find(|s| s.session_id == session_id)
    }
}

/// Everything a command handler needs.
pub(crate) struct Ctx<'a, 'r> {
    pub model: &'a Model,
    pub bmc: MachineId,
    pub state: &'a mut BmcState,
    pub req: &'a CmdRequest<'r>,
    pub now: Instant,
}

impl<'r> Ctx<'_, 'r> {
    pub fn data(&self) -> &'r [u8] {
        self.req.data
    }

    pub fn chassis_id(&self) -> ChassisId {
        self.model.machine(self.bmc).chassis
    }

    pub fn with_chassis<R>(&self, f: impl FnOnce(&mut Chassis) -> R) -> R {
        self.model.with_chassis(self.chassis_id(), self.now, f)
    }

    /// The BMC's IPv4 address, if it has one.
    pub fn ipv4(&self) -> Option<[u8; 4]> {
        match self.model.machine(self.bmc).address {
            IpAddr::V4(a) => Some(a.octets()),
            IpAddr::V6(_) => None,
        }
    }

    /// The name of the managed host (or of the BMC when it has none).
    pub fn host_name(&self) -> String {
        let m = self.model.machine(self.bmc);
        match m.host {
            Some(h) if h.0 < self.model.machines().len() => self.model.machine(h).name.clone(),
            _ => m.name.clone(),
        }
    }

    /// Maps a request's channel byte (0Eh = this channel) to a channel number.
    pub fn channel(&self, byte: u8) -> u8 {
        match byte & 0x0F {
            0x0E => self.req.channel,
            c => c,
        }
    }

    /// Validates a channel byte for channel and user access: the LAN
    /// channel or the serial channel.
    pub fn access_channel(&self, byte: u8) -> Result<u8, u8> {
        let c = self.channel(byte);
        if c == LAN_CHANNEL || c == SERIAL_CHANNEL {
            Ok(c)
        } else {
            Err(cc::INVALID_FIELD)
        }
    }

    /// Validates a channel byte: only the LAN channel exists here.
    pub fn lan_channel(&self, byte: u8) -> Result<u8, u8> {
        let c = self.channel(byte);
        if c == LAN_CHANNEL {
            Ok(c)
        } else {
            Err(cc::INVALID_FIELD)
        }
    }
}

/// Result of a command handler: a response, or just a completion code.
pub(crate) type R = Result<CmdResponse, u8>;

/// Checks a request's data length: shorter than `min` gives C7h, longer
/// than `max` C8h.
pub(crate) fn need(data: &[u8], min: usize, max: usize) -> Result<(), u8> {
    if data.len() < min {
        Err(cc::DATA_LENGTH_INVALID)
    } else if data.len() > max {
        Err(cc::DATA_LENGTH_EXCEEDED)
    } else {
        Ok(())
    }
}

pub(crate) fn u16_le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([
        b.get(at).copied().unwrap_or(0),
        b.get(at + 1).copied().unwrap_or(0),
    ])
}

pub(crate) fn u32_le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([
        b.get(at).copied().unwrap_or(0),
        b.get(at + 1).copied().unwrap_or(0),
        b.get(at + 2).copied().unwrap_or(0),
        b.get(at + 3).copied().unwrap_or(0),
    ])
}

/// One implemented command: its name (for the journal), the privilege it
/// needs, whether it may run outside a session, and its handler.
#[derive(Clone, Copy)]
pub(crate) struct Command {
    pub name: &'static str,
    pub privilege: Privilege,
    pub pre_session: bool,
    pub run: fn(&mut Ctx) -> R,
}

impl Command {
    pub const fn new(name: &'static str, privilege: Privilege, run: fn(&mut Ctx) -> R) -> Self {
        Command {
            name,
            privilege,
            pre_session: false,
            run,
        }
    }

    pub const fn pre_session(mut self) -> Self {
        self.pre_session = true;
        self
    }
}

fn lookup(netfn: u8, cmd: u8, data: &[u8]) -> Option<Command> {
    match netfn {
        netfn::CHASSIS => chassis::lookup(cmd),
        netfn::SENSOR_EVENT => sensor::lookup(cmd).or_else(|| pef::lookup(cmd)),
        netfn::APP => app::lookup(cmd).or_else(|| watchdog::lookup(cmd)),
        netfn::STORAGE => match cmd {
            0x10..=0x1F => fru::lookup(cmd),
            0x20..=0x3F => sdr::lookup(cmd),
            _ => sel::lookup(cmd),
        },
        netfn::TRANSPORT => transport::lookup(cmd).or_else(|| serial::lookup(cmd)),
        netfn::GROUP_EXT if data.first() == Some(&dcmi::GROUP_ID) => dcmi::lookup(cmd),
        _ => None,
    }
}

/// The privilege a command needs (IPMI v2.0 Appendix G; DCMI commands as
/// OpenBMC registers them). Commands this layer doesn't implement report
/// `Admin`, the spec's rule for commands missing from the table; [`handle`]
/// answers them `C1h` whatever the privilege. Commands allowed before a
/// session report `Callback`.
pub fn required_privilege(netfn: u8, cmd: u8, data: &[u8]) -> Privilege {
    lookup(netfn, cmd, data)
        .map(|c| c.privilege)
        .unwrap_or(Privilege::Admin)
}

/// The command's name for journals ("Get Device ID", "DCMI Get Power
/// Reading"), or `None` if this layer doesn't implement it.
pub fn command_name(netfn: u8, cmd: u8, data: &[u8]) -> Option<&'static str> {
    lookup(netfn, cmd, data).map(|c| c.name)
}

/// Whether a command is answered outside a session.
pub fn allowed_pre_session(netfn: u8, cmd: u8, data: &[u8]) -> bool {
    lookup(netfn, cmd, data).is_some_and(|c| c.pre_session)
}

/// Handles one IPMI request for the BMC `bmc`. See the module docs for
/// the order of checks.
pub fn handle(
    model: &Model,
    bmc: MachineId,
    state: &mut BmcState,
    req: &CmdRequest,
    now: Instant,
) -> CmdResponse {
    // Timers (the watchdog) are evaluated lazily: whatever fell due since
    // the last request happens before this one is answered.
    state.poll_timers(model, bmc, now);
    let Some(command) = lookup(req.netfn, req.cmd, req.data) else {
        tracing::debug!(
            netfn = req.netfn,
            cmd = req.cmd,
            "IPMI command not implemented"
        );
        return CmdResponse::error(cc::INVALID_COMMAND);
    };
    if req.lun != 0 {
        return CmdResponse::error(cc::INVALID_FOR_LUN);
    }
    if req.session_id.is_none() {
        if !command.pre_session {
            return CmdResponse::error(cc::INSUFFICIENT_PRIVILEGE);
        }
    } else if req.privilege < command.privilege {
        return CmdResponse::error(cc::INSUFFICIENT_PRIVILEGE);
    }
    state.observe_power(model, bmc, now);
    let mut ctx = Ctx {
        model,
        bmc,
        state,
        req,
        now,
    };
    match (command.run)(&mut ctx) {
        Ok(r) => r,
        Err(code) => CmdResponse::error(code),
    }
}

impl BmcState {
    /// Power-on-hours accounting, done on every command: the time since the
    /// last command counts as powered if the chassis was powered then.
    fn observe_power(&mut self, model: &Model, bmc: MachineId, now: Instant) {
        let on = model.with_chassis(model.machine(bmc).chassis, now, |c| c.power.power_on());
        if let Some((seen, was_on)) = self.poh_seen {
            if was_on {
                self.poh_minutes += now.saturating_duration_since(seen).as_secs_f64() / 60.0;
            }
        }
        self.poh_seen = Some((now, on));
    }
}
