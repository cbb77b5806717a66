//! The serial/modem channel (IPMI v2.0 §14, §25): channel 2, an RS-232
//! port the BMC owns, as most server BMCs have beside their LAN channel.
//!
//! There is no serial line behind it: nothing connects, dials or pages.
//! What a client can do is what configuration tools do with a real one —
//! read and write its channel access, its per-user access and its
//! Serial/Modem Configuration Parameters (connection mode, messaging comm
//! settings, page blackout and call retry intervals, ...) — and read back
//! what it wrote. FreeIPMI's `ipmi-config --checkout` reads all of them.
//! Out of the box the channel is disabled and no user may use it, the
//! factory state of the BMCs that ship one.

use super::{cc, need, ChannelAccess, CmdResponse, Ctx, R};
use fakedc_model::Privilege;
use std::collections::BTreeMap;

/// The serial/modem channel's number.
pub const SERIAL_CHANNEL: u8 = 2;

/// Parameter revision (§25.1): 1.1.
const PARAM_REVISION: u8 = 0x11;

/// One user's access on the serial channel (Get/Set User Access there):
/// kept apart from the LAN channel's, as a BMC keeps them per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialUser {
    pub callin_callback: bool,
    pub link_auth: bool,
    pub ipmi_messaging: bool,
    /// Privilege limit 1-4, or 0Fh for no access.
    pub limit: u8,
}

impl Default for SerialUser {
    fn default() -> Self {
        SerialUser {
            callin_callback: false,
            link_auth: false,
            ipmi_messaging: false,
            limit: 0x0F,
        }
    }
}

/// The serial channel's state.
#[derive(Debug, Clone)]
pub struct SerialState {
    pub volatile: ChannelAccess,
    pub nonvolatile: ChannelAccess,
    pub users: BTreeMap<u8, SerialUser>,
    /// Parameters written by a client; the rest read as [`default_param`].
    params: BTreeMap<u8, Vec<u8>>,
}

impl Default for SerialState {
    fn default() -> Self {
        let access = ChannelAccess {
            alerting_disabled: true,
            per_message_auth_disabled: false,
            user_level_auth_disabled: false,
            access_mode: 0,
            privilege_limit: Privilege::Admin as u8,
        };
        SerialState {
            volatile: access,
            nonvolatile: access,
            users: BTreeMap::new(),
            params: BTreeMap::new(),
        }
    }
}

/// Factory values of the parameters this channel has (§25.1, Table 25-4);
/// `None` for the ones it does not (80h).
fn default_param(param: u8) -> Option<Vec<u8>> {
    Some(match param {
        // Set in progress: set complete.
        0 => vec![0x00],
        // Authentication type support: MD5 and straight password.
        1 => vec![0x14],
        // Authentication type enables per privilege (callback..OEM).
        2 => vec![0x14, 0x14, 0x14, 0x14, 0x00],
        // Connection mode: basic mode, direct connect.
        3 => vec![0x01],
        // Session inactivity timeout (30 s units): none.
        4 => vec![0x00],
        // Channel callback control: callback disabled, no destinations.
        5 => vec![0x00, 0x00, 0xFF, 0xFF, 0xFF],
        // Session termination: close on DCD loss.
        6 => vec![0x01],
        // IPMI messaging comm settings: RTS/CTS flow control, 115.2 kbit/s.
        7 => vec![0x40, 0x0A],
        // Mux switch control: no request, mux not supported.
        8 => vec![0x00, 0x00],
        // Page blackout interval (minutes).
        14 => vec![0x00],
        // Call retry interval (seconds).
        18 => vec![0x00],
        _ => return None,
    })
}

/// The length a writable parameter takes; 82h for read-only ones, 80h for
/// those the channel does not have.
fn write_len(param: u8) -> Result<usize, u8> {
    Ok(match param {
        0 | 3 | 4 | 6 | 14 | 18 => 1,
        7 | 8 => 2,
        2 | 5 => 5,
        1 => return Err(0x82),
        _ => return Err(cc::PARAM_NOT_SUPPORTED),
    })
}

pub(super) fn lookup(cmd: u8) -> Option<super::Command> {
    use Privilege::*;
    Some(match cmd {
        0x10 => super::Command::new("Set Serial/Modem Configuration", Admin, set_config),
        0x11 => super::Command::new("Get Serial/Modem Configuration", Operator, get_config),
        _ => return None,
    })
}

/// The channel a Serial/Modem Configuration request names must be this
/// one (CCh otherwise, as for a LAN parameter on a non-LAN channel).
fn check_channel(ctx: &Ctx, byte: u8) -> Result<(), u8> {
    if ctx.channel(byte & 0x0F) == SERIAL_CHANNEL {
        Ok(())
    } else {
        Err(cc::INVALID_FIELD)
    }
}

/// Get Serial/Modem Configuration: channel (bit 7: revision only),
/// parameter, set selector, block selector.
fn get_config(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 4, 4)?;
    check_channel(ctx, d[0])?;
    let param = d[1];
    let value = ctx
        .state
        .serial
        .params
        .get(&param)
        .cloned()
        .or_else(|| default_param(param))
        .ok_or(cc::PARAM_NOT_SUPPORTED)?;
    let mut out = vec![PARAM_REVISION];
    if d[0] & 0x80 == 0 {
        out.extend_from_slice(&value);
    }
    Ok(CmdResponse::ok(out))
}

/// Set Serial/Modem Configuration: channel, parameter, data. Stored and
/// read back; reserved bits are cleared as a BMC clears them.
fn set_config(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 2, 7)?;
    check_channel(ctx, d[0])?;
    let param = d[1];
    let v = &d[2..];
    let len = write_len(param)?;
    if v.len() < len {
        return Err(cc::DATA_LENGTH_INVALID);
    }
    if v.len() > len {
        return Err(cc::DATA_LENGTH_EXCEEDED);
    }
    let value = match param {
        0 => match v[0] & 0x03 {
            0 | 2 => vec![0x00],
            1 => vec![0x01],
            _ => return Err(cc::INVALID_FIELD),
        },
        2 => v.iter().map(|b| b & 0x37).collect(),
        3 => vec![v[0] & 0x87],
        7 => {
            // Bit rates 6h-Ah (9.6-115.2 kbit/s) are the ones defined.
            if !(0x06..=0x0A).contains(&(v[1] & 0x0F)) {
                return Err(cc::INVALID_FIELD);
            }
            vec![v[0] & 0xE0, v[1] & 0x0F]
        }
        _ => v.to_vec(),
    };
    ctx.state.serial.params.insert(param, value);
    Ok(CmdResponse::ok(Vec::new()))
}
