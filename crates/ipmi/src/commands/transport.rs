//! Transport netfn (0Ch): LAN configuration parameters (what `ipmitool lan
//! print` reads) and SOL configuration parameters (what `ipmitool sol info`
//! reads), both parameter revision 11h.
//!
//! LAN parameters default to values derived from the BMC machine (its IPv4
//! address, a MAC made from it, a /24 mask and .1 gateway) and the
//! [`BmcConfig`] (authentication types, cipher suites,
//! port). Writable parameters are stored and read back byte for byte, which
//! ipmitool checks after every `lan set`; nothing is rebound.
//!
//! Every parameter of IPMI v2.0 Table 23-4 that a full `ipmi-config
//! --checkout` (FreeIPMI) or `ipmitool lan print` / `pef policy list` reads
//! is answered: 0-26 (with four LAN alert destinations, parameters 17-19
//! and 25 per set selector) and the IPv6 discovery parameters 50 and 51,
//! which say "IPv4 only" (IPv6 addressing cannot be enabled, so the other
//! IPv6 parameters, optional without IPv6, answer 80h).

use super::{auth_type, cc, need, BmcConfig, CmdResponse, Command, Ctx, Effect, R};
use fakedc_model::Privilege;
use std::collections::BTreeMap;
use std::time::Duration;

/// Parameter revision of LAN and SOL configuration parameters.
const PARAM_REVISION: u8 = 0x11;

/// LAN configuration parameters that differ from the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanConfig {
    /// Parameter 0: 0 set complete, 1 set in progress.
    pub set_in_progress: u8,
    /// Parameter 2: authentication types enabled for callback, user,
    /// operator, admin and OEM level ([`auth_type`](super::auth_type) bits).
    pub auth_enables: [u8; 5],
    /// Other parameters written by clients, exactly as written.
    pub written: BTreeMap<u8, Vec<u8>>,
    /// Parameters 18, 19 and 25 of each LAN alert destination (set
    /// selector 0 is the volatile destination, 1..=[`LAN_DESTINATIONS`]
    /// the non-volatile ones), without the set selector.
    pub destinations: Vec<AlertDestination>,
}

/// LAN alert destinations (parameter 17).
pub const LAN_DESTINATIONS: u8 = 4;

/// One LAN alert destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertDestination {
    /// Parameter 18: destination type (bit 7 acknowledged, bits 2:0 type),
    /// acknowledge timeout / retry interval (s), retries.
    pub kind: [u8; 3],
    /// Parameter 19: address format (0h IPv4), gateway selector, IPv4
    /// address, MAC address.
    pub address: [u8; 12],
    /// Parameter 25: address format (1h: VLAN tag used), VLAN TCI.
    pub vlan: [u8; 3],
}

impl Default for AlertDestination {
    fn default() -> Self {
        AlertDestination {
            kind: [0x00, 0x03, 0x03], // PET trap, unacknowledged
            address: [0; 12],
            vlan: [0; 3],
        }
    }
}

impl LanConfig {
    pub fn new(config: &BmcConfig) -> Self {
        let t = config.auth_types & auth_type::ALL;
        LanConfig {
            set_in_progress: 0,
            auth_enables: [t, t, t, t, 0],
            written: BTreeMap::new(),
            destinations: vec![AlertDestination::default(); usize::from(LAN_DESTINATIONS) + 1],
        }
    }

    /// The 802.1q VLAN id if VLAN tagging is enabled (parameter 20).
    pub fn vlan_id(&self) -> Option<u16> {
        let v = self.written.get(&20)?;
        let (lo, hi) = (*v.first()?, *v.get(1)?);
        (hi & 0x80 != 0).then(|| (u16::from(hi & 0x0F) << 8) | u16::from(lo))
    }
}

/// SOL configuration parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolConfig {
    /// Parameter 0.
    pub set_in_progress: u8,
    /// Parameter 1: SOL payload enabled.
    pub enabled: bool,
    /// Parameter 2: bit 7 force encryption, bit 6 force authentication,
    /// bits 3:0 privilege level needed to activate SOL.
    pub auth: u8,
    /// Parameter 3: character accumulate interval (5 ms units) and
    /// character send threshold.
    pub accumulate_interval: u8,
    pub send_threshold: u8,
    /// Parameter 4: retry count (bits 2:0) and retry interval (10 ms units).
    pub retry_count: u8,
    pub retry_interval: u8,
    /// Parameters 5 and 6: bit rate codes (6 = 9600 ... Ah = 115200).
    pub nv_bit_rate: u8,
    pub volatile_bit_rate: u8,
    /// Parameter 8: SOL payload port (the RMCP port).
    pub port: u16,
}

impl SolConfig {
    pub fn new(config: &BmcConfig) -> Self {
        SolConfig {
            set_in_progress: 0,
            enabled: true,
            auth: 0xC2, // force encryption and authentication, user level
            accumulate_interval: 0x0C,
            send_threshold: 0x60,
            retry_count: 0x07,
            retry_interval: 0x32,
            nv_bit_rate: 0x0A,
            volatile_bit_rate: 0x0A,
            port: config.udp_port,
        }
    }

    /// How long the BMC waits for an ACK before resending a SOL packet.
    pub fn retry_interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.retry_interval) * 10)
    }

    /// How many times the BMC resends an unacknowledged SOL packet.
    pub fn retries(&self) -> u8 {
        self.retry_count & 0x07
    }

    /// How long the BMC gathers console output before sending it.
    pub fn accumulate_interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.accumulate_interval.max(1)) * 5)
    }

    /// The SOL privilege level (parameter 2 bits 3:0).
    pub fn privilege(&self) -> Option<Privilege> {
        Privilege::from_level(self.auth & 0x0F)
    }
}

pub(super) fn lookup(cmd: u8) -> Option<Command> {
    use Privilege::*;
    Some(match cmd {
        0x01 => Command::new("Set LAN Configuration Parameters", Admin, set_lan),
        0x02 => Command::new("Get LAN Configuration Parameters", Operator, get_lan),
        0x21 => Command::new("Set SOL Configuration Parameters", Admin, set_sol),
        0x22 => Command::new("Get SOL Configuration Parameters", User, get_sol),
        _ => return None,
    })
}

/// A MAC address derived from an address: 02:FD (locally administered)
/// followed by the IPv4 octets or a hash of the IPv6 address.
fn mac_for(ip: &std::net::IpAddr) -> [u8; 6] {
    let tail: [u8; 4] = match ip {
        std::net::IpAddr::V4(a) => a.octets(),
        std::net::IpAddr::V6(a) => {
            // FNV-1a over the 16 octets.
            let h = a.octets().iter().fold(0x811C_9DC5u32, |h, &b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            });
            h.to_be_bytes()
        }
    };
    [0x02, 0xFD, tail[0], tail[1], tail[2], tail[3]]
}

/// The alert destination a set selector names (bits 3:0).
fn destination(set: u8) -> Result<usize, u8> {
    let i = usize::from(set & 0x0F);
    if i > usize::from(LAN_DESTINATIONS) {
        Err(cc::PARAM_OUT_OF_RANGE)
    } else {
        Ok(i)
    }
}

/// The value of a per-destination parameter (18, 19, 25) with its set
/// selector first.
fn destination_param(ctx: &Ctx, param: u8, set: u8) -> Result<Vec<u8>, u8> {
    let d = ctx
        .state
        .lan
        .destinations
        .get(destination(set)?)
        .copied()
        .unwrap_or_default();
    let mut v = vec![set & 0x0F];
    match param {
        18 => v.extend_from_slice(&d.kind),
        19 => v.extend_from_slice(&d.address),
        _ => v.extend_from_slice(&d.vlan),
    }
    Ok(v)
}

/// The value of a LAN parameter that nobody wrote; `None` if unsupported.
fn lan_default(ctx: &Ctx, param: u8) -> Option<Vec<u8>> {
    let cfg = &ctx.state.config;
    let ip = ctx.ipv4().unwrap_or([0; 4]);
    let gateway = if ctx.ipv4().is_some() {
        [ip[0], ip[1], ip[2], 1]
    } else {
        [0; 4]
    };
    Some(match param {
        0 => vec![ctx.state.lan.set_in_progress],
        1 => vec![cfg.auth_types & auth_type::ALL],
        2 => ctx.state.lan.auth_enables.to_vec(),
        3 => ip.to_vec(),
        4 => vec![0x01], // static
        5 => mac_for(&ctx.model.machine(ctx.bmc).address).to_vec(),
        6 => vec![255, 255, 255, 0],
        7 => vec![0x40, 0x40, 0x10], // TTL 64, don't fragment, TOS normal
        8 => cfg.udp_port.to_le_bytes().to_vec(),
        9 => 664u16.to_le_bytes().to_vec(),
        10 => vec![0x02], // ARP responses on, gratuitous ARP off
        11 => vec![0x04],
        12 => gateway.to_vec(),
        13 => {
            if ctx.ipv4().is_some() {
                mac_for(&std::net::IpAddr::from(gateway)).to_vec()
            } else {
                vec![0; 6]
            }
        }
        14 => vec![0; 4],
        15 => vec![0; 6],
        16 => {
            let mut c = b"public".to_vec();
            c.resize(18, 0);
            c
        }
        17 => vec![LAN_DESTINATIONS],
        20 => vec![0x00, 0x00],
        21 => vec![0x00],
        22 => vec![cfg.suites().take(16).count() as u8],
        23 => {
            let mut v = vec![0x00];
            v.extend(cfg.suites().take(16).map(|s| s.id));
            v
        }
        24 => {
            // Maximum privilege per cipher suite *id* 0-15 (the nibble index
            // is the suite id, as ipmitool's `cipher_privs` and FreeIPMI's
            // ipmi-config read it): admin for each configured suite, 0
            // (unused) for the rest. Suites 16 and up have no nibble.
            let mut v = vec![0u8; 9];
            for suite in cfg.suites() {
                let id = usize::from(suite.id);
                if id < 16 {
                    v[1 + id / 2] |= 0x04 << (4 * (id % 2));
                }
            }
            v
        }
        26 => vec![0; 6],
        // IPv6/IPv4 support: neither IPv6 only nor dual stack, no IPv6
        // alert destinations; addressing enables: IPv4 only.
        50 => vec![0x00],
        51 => vec![0x00],
        _ => return None,
    })
}

/// Checks a request's channel byte (only the LAN channel has LAN and SOL
/// parameters).
fn check_channel(ctx: &Ctx, byte: u8) -> Result<(), u8> {
    ctx.lan_channel(byte & 0x0F).map(|_| ())
}

/// Get LAN Configuration Parameters: channel (bit 7 = revision only),
/// parameter, set selector, block selector. 80h for unsupported ones.
fn get_lan(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 4, 4)?;
    check_channel(ctx, d[0])?;
    let param = d[1];
    let value = match param {
        18 | 19 | 25 => Some(destination_param(ctx, param, d[2])?),
        0 | 2 => lan_default(ctx, param),
        p => ctx
            .state
            .lan
            .written
            .get(&p)
            .cloned()
            .or_else(|| lan_default(ctx, p)),
    }
    .ok_or(cc::PARAM_NOT_SUPPORTED)?;
    let mut out = vec![PARAM_REVISION];
    if d[0] & 0x80 == 0 {
        out.extend_from_slice(&value);
    }
    Ok(CmdResponse::ok(out))
}

/// The length a writable LAN parameter must have; `Err(82h)` for
/// read-only ones, `Err(80h)` for unsupported ones.
fn lan_write_len(param: u8) -> Result<usize, u8> {
    Ok(match param {
        0 | 4 | 10 | 11 | 21 | 51 => 1,
        2 => 5,
        18 | 25 => 4,
        19 => 13,
        3 | 6 | 12 | 14 => 4,
        5 | 13 | 15 => 6,
        7 => 3,
        16 => 18,
        20 => 2,
        24 => 9,
        26 => 6,
        1 | 8 | 9 | 17 | 22 | 23 | 50 => return Err(0x82),
        _ => return Err(cc::PARAM_NOT_SUPPORTED),
    })
}

/// Set LAN Configuration Parameters: channel, parameter, data.
fn set_lan(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 2, 20)?;
    check_channel(ctx, d[0])?;
    let param = d[1];
    let v = &d[2..];
    let len = lan_write_len(param)?;
    if v.len() < len {
        return Err(cc::DATA_LENGTH_INVALID);
    }
    if v.len() > len {
        return Err(cc::DATA_LENGTH_EXCEEDED);
    }
    let lan = &mut ctx.state.lan;
    match param {
        0 => {
            lan.set_in_progress = match v[0] & 0x03 {
                0 | 2 => 0,
                1 => 1,
                _ => return Err(cc::INVALID_FIELD),
            };
        }
        2 => {
            for (slot, b) in lan.auth_enables.iter_mut().zip(v) {
                *slot = b & auth_type::ALL;
            }
            return Ok(CmdResponse::ok(Vec::new())
                .with_effect(Effect::SetLanAuthEnables(lan.auth_enables)));
        }
        4 if v[0] & 0x0F > 4 => return Err(cc::INVALID_FIELD),
        // IPv6 addressing cannot be enabled (parameter 50 says IPv4 only).
        51 if v[0] != 0 => return Err(cc::INVALID_FIELD),
        18 | 19 | 25 => {
            let i = destination(v[0])?;
            let dest = lan.destinations.get_mut(i).ok_or(cc::PARAM_OUT_OF_RANGE)?;
            match param {
                18 => dest.kind = [v[1] & 0x87, v[2], v[3] & 0x07],
                19 => {
                    // Only the IPv4 address format (no IPv6 destinations).
                    if v[1] & 0xF0 != 0 {
                        return Err(cc::INVALID_FIELD);
                    }
                    dest.address[0] = 0x00;
                    dest.address[1] = v[2] & 0x01;
                    dest.address[2..].copy_from_slice(&v[3..13]);
                }
                _ => {
                    dest.vlan = [v[1] & 0xF0, v[2], v[3]];
                }
            }
        }
        20 if v[1] & 0x70 != 0 => return Err(cc::INVALID_FIELD),
        _ => {
            lan.written.insert(param, v.to_vec());
        }
    }
    Ok(CmdResponse::ok(Vec::new()))
}

/// Get SOL Configuration Parameters: channel (bit 7 = revision only),
/// parameter, set selector, block selector.
fn get_sol(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 4, 4)?;
    check_channel(ctx, d[0])?;
    let s = &ctx.state.sol;
    let value: Vec<u8> = match d[1] {
        0 => vec![s.set_in_progress],
        1 => vec![u8::from(s.enabled)],
        2 => vec![s.auth],
        3 => vec![s.accumulate_interval, s.send_threshold],
        4 => vec![s.retry_count & 0x07, s.retry_interval],
        5 => vec![s.nv_bit_rate],
        6 => vec![s.volatile_bit_rate],
        7 => vec![super::LAN_CHANNEL],
        8 => s.port.to_le_bytes().to_vec(),
        _ => return Err(cc::PARAM_NOT_SUPPORTED),
    };
    let mut out = vec![PARAM_REVISION];
    if d[0] & 0x80 == 0 {
        out.extend_from_slice(&value);
    }
    Ok(CmdResponse::ok(out))
}

fn valid_bit_rate(code: u8) -> bool {
    matches!(code & 0x0F, 0x00 | 0x06..=0x0A)
}

/// Set SOL Configuration Parameters: channel, parameter, data. Parameters
/// 7 and 8 (payload channel and port) are read-only (82h).
fn set_sol(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 3, 4)?;
    check_channel(ctx, d[0])?;
    let v = &d[2..];
    let want = |n: usize| -> Result<(), u8> {
        match v.len() {
            l if l < n => Err(cc::DATA_LENGTH_INVALID),
            l if l > n => Err(cc::DATA_LENGTH_EXCEEDED),
            _ => Ok(()),
        }
    };
    let s = &mut ctx.state.sol;
    match d[1] {
        0 => {
            want(1)?;
            s.set_in_progress = match v[0] & 0x03 {
                0 | 2 => 0,
                1 => 1,
                _ => return Err(cc::INVALID_FIELD),
            };
        }
        1 => {
            want(1)?;
            s.enabled = v[0] & 0x01 != 0;
        }
        2 => {
            want(1)?;
            if !(2..=4).contains(&(v[0] & 0x0F)) {
                return Err(cc::INVALID_FIELD);
            }
            s.auth = v[0] & 0xCF;
        }
        3 => {
            want(2)?;
            if v[0] == 0 {
                return Err(cc::INVALID_FIELD);
            }
            s.accumulate_interval = v[0];
            s.send_threshold = v[1];
        }
        4 => {
            want(2)?;
            s.retry_count = v[0] & 0x07;
            s.retry_interval = v[1];
        }
        5 | 6 => {
            want(1)?;
            if !valid_bit_rate(v[0]) {
                return Err(cc::INVALID_FIELD);
            }
            if d[1] == 5 {
                s.nv_bit_rate = v[0] & 0x0F;
            } else {
                s.volatile_bit_rate = v[0] & 0x0F;
            }
        }
        7 | 8 => return Err(0x82),
        _ => return Err(cc::PARAM_NOT_SUPPORTED),
    }
    Ok(CmdResponse::ok(Vec::new()))
}
