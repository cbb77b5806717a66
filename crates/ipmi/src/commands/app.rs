//! Application netfn (06h): device identity, BMC resets, GUIDs, the
//! session-related commands (authentication capabilities, cipher suites,
//! privilege, close, session info), channels, users, payloads (SOL) and
//! system info parameters.

use super::{
    auth_type, cc, need, u32_le, CmdResponse, Command, Ctx, Effect, Key20, SessionInfo, R,
    SERIAL_CHANNEL,
};
use crate::crypto;
use fakedc_model::{Privilege, User};

pub(super) fn lookup(cmd: u8) -> Option<Command> {
    use Privilege::*;
    Some(match cmd {
        0x01 => Command::new("Get Device ID", User, get_device_id),
        0x02 => Command::new("Cold Reset", Admin, bmc_reset),
        0x03 => Command::new("Warm Reset", Admin, bmc_reset),
        0x04 => Command::new("Get Self Test Results", User, get_self_test),
        0x07 => Command::new("Get ACPI Power State", User, get_acpi_power_state),
        0x08 => Command::new("Get Device GUID", User, get_device_guid),
        0x2F => Command::new("Get BMC Global Enables", User, get_global_enables),
        0x37 => Command::new("Get System GUID", Callback, get_system_guid).pre_session(),
        0x38 => Command::new(
            "Get Channel Authentication Capabilities",
            Callback,
            get_auth_caps,
        )
        .pre_session(),
        0x3B => Command::new("Set Session Privilege Level", User, set_session_privilege),
        0x3C => Command::new("Close Session", Callback, close_session),
        0x3D => Command::new("Get Session Info", User, get_session_info),
        0x40 => Command::new("Set Channel Access", Admin, set_channel_access),
        0x41 => Command::new("Get Channel Access", User, get_channel_access),
        0x42 => Command::new("Get Channel Info", User, get_channel_info),
        0x43 => Command::new("Set User Access", Admin, set_user_access),
        0x44 => Command::new("Get User Access", Operator, get_user_access),
        0x45 => Command::new("Set User Name", Admin, set_user_name),
        0x46 => Command::new("Get User Name", Operator, get_user_name),
        0x47 => Command::new("Set User Password", Admin, set_user_password),
        0x48 => Command::new("Activate Payload", Callback, activate_payload),
        0x49 => Command::new("Deactivate Payload", Callback, deactivate_payload),
        0x4A => Command::new("Get Payload Activation Status", User, get_payload_status),
        0x4B => Command::new("Get Payload Instance Info", User, get_payload_instance),
        0x4C => Command::new("Set User Payload Access", Admin, set_user_payload_access),
        0x4D => Command::new("Get User Payload Access", Operator, get_user_payload_access),
        0x4E => Command::new("Get Channel Payload Support", User, get_payload_support),
        0x4F => Command::new("Get Channel Payload Version", User, get_payload_version),
        0x54 => {
            Command::new("Get Channel Cipher Suites", Callback, get_cipher_suites).pre_session()
        }
        0x56 => Command::new("Set Channel Security Keys", Admin, channel_security_keys),
        0x58 => Command::new("Set System Info Parameters", Admin, set_system_info),
        0x59 => Command::new("Get System Info Parameters", User, get_system_info),
        _ => return None,
    })
}

/// Firmware revision bytes of a version string "major.minor[...]": major
/// in binary (7 bits), minor as two BCD digits.
pub(crate) fn firmware_revision(version: &str) -> (u8, u8) {
    let mut parts = version
        .trim()
        .trim_start_matches(['v', 'V'])
        .split(['.', '-', ' ']);
    let num = |s: Option<&str>| -> u32 {
        s.map(|p| {
            p.chars()
                .take_while(|c| c.is_ascii_digit())
                .collect::<String>()
        })
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
    };
    let major = num(parts.next()).min(127) as u8;
    let minor = num(parts.next()).min(99) as u8;
    (major, ((minor / 10) << 4) | (minor % 10))
}

/// Get Device ID: 15 bytes; IPMI version 02h (2.0); no device SDRs (the
/// SDR repository is used); sensor, SDR repository, SEL, FRU, event
/// receiver and chassis device support.
fn get_device_id(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    let (major, minor) = ctx.with_chassis(|c| firmware_revision(&c.hardware.bmc_firmware));
    let cfg = &ctx.state.config;
    let m = cfg.manufacturer_id & 0x000F_FFFF;
    let mut out = vec![
        cfg.device_id,
        cfg.device_revision & 0x0F,
        major & 0x7F,
        minor,
        0x02,
        0x9F,
        (m & 0xFF) as u8,
        ((m >> 8) & 0xFF) as u8,
        ((m >> 16) & 0x0F) as u8,
    ];
    out.extend_from_slice(&cfg.product_id.to_le_bytes());
    out.extend_from_slice(&cfg.aux_firmware);
    Ok(CmdResponse::ok(out))
}

/// Cold and Warm Reset: the BMC "restarts": sessions close, reservations
/// and payloads go. The host is not affected.
fn bmc_reset(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    ctx.state.reset();
    Ok(CmdResponse::ok(Vec::new()).with_effect(Effect::CloseAllSessions))
}

fn get_self_test(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    Ok(CmdResponse::ok(vec![0x55, 0x00]))
}

fn get_acpi_power_state(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    let on = ctx.with_chassis(|c| c.power.power_on());
    // S0/G0 working or S5/G2 soft-off; device D0.
    Ok(CmdResponse::ok(vec![if on { 0x00 } else { 0x05 }, 0x00]))
}

fn get_device_guid(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    let guid = match ctx.state.config.device_guid {
        Some(g) => g,
        None => ctx.with_chassis(|c| c.hardware.smbios_guid),
    };
    Ok(CmdResponse::ok(guid.to_vec()))
}

fn get_system_guid(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    let guid = ctx.with_chassis(|c| c.hardware.smbios_guid);
    Ok(CmdResponse::ok(guid.to_vec()))
}

fn get_global_enables(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    // System event logging enabled.
    Ok(CmdResponse::ok(vec![0x08]))
}

/// Get Channel Authentication Capabilities (pre-session): channel (bit 7 =
/// return IPMI v2.0 data), requested maximum privilege (§22.13).
///
/// Byte 2 is the LAN parameter 2 authentication-type enables for the
/// requested level, bit 7 set when v2.0 data was asked for. Byte 3 bits 2:0
/// (Table 22-15, and ipmitool's `non_null_usernames`, `null_usernames`,
/// `anon_login_enabled`): an enabled user with a name; an enabled null-named
/// user with a non-null password; an enabled null-named user with a null
/// password. Byte 4 (v2.0 data only): b1 RMCP+ offered, b0 IPMI 1.5 offered.
fn get_auth_caps(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 2, 2)?;
    let v2 = d[0] & 0x80 != 0;
    if d[0] & 0x70 != 0 {
        return Err(cc::INVALID_FIELD);
    }
    let channel = ctx.lan_channel(d[0])?;
    let level = d[1] & 0x0F;
    if !(1..=5).contains(&level) || d[1] & 0xF0 != 0 {
        return Err(cc::INVALID_FIELD);
    }
    let cfg = &ctx.state.config;
    let enabled =
        ctx.state.lan.auth_enables[usize::from(level - 1)] & cfg.auth_types & auth_type::ALL;
    let (mut non_null, mut null, mut anonymous) = (false, false, false);
    for u in ctx.model.users(ctx.bmc).iter().filter(|u| u.enabled) {
        if !u.name.is_empty() {
            non_null = true;
        } else if u.password.bytes().all(|b| b == 0) {
            // A null password is empty or all zero bytes on the wire.
            anonymous = true;
        } else {
            null = true;
        }
    }
    let access = &ctx.state.channel_volatile;
    let status = (u8::from(cfg.kg_nonzero) << 5)
        | (u8::from(access.per_message_auth_disabled) << 4)
        | (u8::from(access.user_level_auth_disabled) << 3)
        | (u8::from(non_null) << 2)
        | (u8::from(null) << 1)
        | u8::from(anonymous);
    let ext = if v2 {
        (u8::from(cfg.suites().next().is_some()) << 1) | u8::from(cfg.auth_types != 0)
    } else {
        0
    };
    Ok(CmdResponse::ok(vec![
        channel,
        (u8::from(v2) << 7) | enabled,
        status,
        ext,
        0x00,
        0x00,
        0x00,
        0x00,
    ]))
}

/// Get Channel Cipher Suites (pre-session): channel, payload type, list
/// index (bit 7 = by cipher suite). Answers the channel and 16 bytes of
/// the list per index; a page shorter than 16 bytes ends the list. Only
/// suites the session layer implements are listed: ipmitool picks the best
/// listed suite, so listing one we do not implement would break it
/// (ipmitool issue #363).
fn get_cipher_suites(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 3, 3)?;
    let channel = ctx.lan_channel(d[0])?;
    if d[1] & 0x3F > 1 {
        return Err(cc::INVALID_FIELD);
    }
    let cfg = &ctx.state.config;
    let data = if d[2] & 0x80 != 0 {
        crypto::cipher_suite_records(&cfg.cipher_suites)
    } else {
        // List of supported algorithms: the tagged algorithm bytes of the
        // records, each once.
        let mut algs: Vec<u8> = Vec::new();
        for suite in cfg.suites() {
            for &tagged in &suite.record()[2..] {
                if !algs.contains(&tagged) {
                    algs.push(tagged);
                }
            }
        }
        algs
    };
    let index = usize::from(d[2] & 0x3F);
    let start = (index * 16).min(data.len());
    let end = (start + 16).min(data.len());
    let mut out = vec![channel];
    out.extend_from_slice(&data[start..end]);
    Ok(CmdResponse::ok(out))
}

/// Set Session Privilege Level: 0 = report the current level. A level above
/// the user's or the channel's limit gets 81h; otherwise the session layer
/// applies it ([`Effect::SetSessionPrivilege`]).
fn set_session_privilege(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 1, 1)?;
    let level = d[0] & 0x0F;
    if d[0] & 0xF0 != 0 || level > 5 {
        return Err(cc::INVALID_FIELD);
    }
    if level == 0 {
        return Ok(CmdResponse::ok(vec![ctx.req.privilege as u8]));
    }
    let wanted = Privilege::from_level(level).ok_or(0x81u8)?;
    if level > ctx.state.channel_volatile.privilege_limit {
        return Err(0x81);
    }
    if let Some(name) = ctx.req.user {
        let user = ctx
            .model
            .users(ctx.bmc)
            .iter()
            .find(|u| u.enabled && u.name == name)
            .cloned();
        if let Some(u) = user {
            let no_access = ctx.state.user_flags.get(&u.id).is_some_and(|f| f.no_access);
            if u.privilege < wanted || no_access {
                return Err(0x81);
            }
        }
    }
    Ok(CmdResponse::ok(vec![level]).with_effect(Effect::SetSessionPrivilege(wanted)))
}

/// Close Session: session id (LE), or 0 and a session handle. A session
/// may close itself; closing another takes Admin. Unknown id 87h, unknown
/// handle 88h.
fn close_session(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 4, 5)?;
    let id = u32_le(d, 0);
    let target = if id == 0 {
        let handle = *d.get(4).ok_or(cc::DATA_LENGTH_INVALID)?;
        ctx.state
            .sessions
            .iter()
            .find(|s| s.handle == handle)
            .map(|s| s.session_id)
            .ok_or(0x88u8)?
    } else {
        if ctx.req.session_id != Some(id) && ctx.state.find_session(id).is_none() {
            return Err(0x87);
        }
        id
    };
    if ctx.req.session_id != Some(target) && ctx.req.privilege < Privilege::Admin {
        return Err(cc::INSUFFICIENT_PRIVILEGE);
    }
    ctx.state.session_closed(target);
    Ok(CmdResponse::ok(Vec::new()).with_effect(Effect::CloseSession(target)))
}

fn session_bytes(ctx: &Ctx, s: &SessionInfo) -> Vec<u8> {
    let cfg = &ctx.state.config;
    let mut out = vec![
        s.handle,
        cfg.max_sessions & 0x3F,
        (ctx.state.sessions.len().min(63)) as u8,
        s.user_id & 0x3F,
        s.privilege as u8,
        (u8::from(s.ipmi20) << 4) | (s.channel & 0x0F),
    ];
    out.extend_from_slice(&s.console_ip);
    out.extend_from_slice(&s.console_mac);
    out.extend_from_slice(&s.console_port.to_le_bytes());
    out
}

/// Get Session Info: 00h current session, N the Nth active session, FEh by
/// handle, FFh by session id.
fn get_session_info(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 1, 5)?;
    let found: Option<SessionInfo> = match d[0] {
        0x00 => {
            need(d, 1, 1)?;
            let own = ctx
                .req
                .session_id
                .and_then(|id| ctx.state.find_session(id).cloned());
            own.or_else(|| {
                // No snapshot yet: describe the requesting session.
                let user_id = ctx
                    .req
                    .user
                    .and_then(|n| {
                        ctx.model
                            .users(ctx.bmc)
                            .iter()
                            .find(|u| u.name == n)
                            .map(|u| u.id)
                    })
                    .unwrap_or(0);
                Some(SessionInfo {
                    handle: 1,
                    session_id: ctx.req.session_id.unwrap_or(0),
                    user_id,
                    privilege: ctx.req.privilege,
                    ipmi20: true,
                    encrypted: false,
                    channel: ctx.req.channel,
                    console_ip: [0; 4],
                    console_mac: [0; 6],
                    console_port: 0,
                })
            })
        }
        0xFE => {
            need(d, 2, 2)?;
            Some(
                ctx.state
                    .sessions
                    .iter()
                    .find(|s| s.handle == d[1])
                    .cloned()
                    .ok_or(cc::NOT_PRESENT)?,
            )
        }
        0xFF => {
            need(d, 5, 5)?;
            let id = u32_le(d, 1);
            Some(ctx.state.find_session(id).cloned().ok_or(cc::NOT_PRESENT)?)
        }
        n => {
            need(d, 1, 1)?;
            ctx.state.sessions.get(usize::from(n) - 1).cloned()
        }
    };
    match found {
        Some(s) => Ok(CmdResponse::ok(session_bytes(ctx, &s))),
        None => Ok(CmdResponse::ok(vec![
            0x00,
            ctx.state.config.max_sessions & 0x3F,
            (ctx.state.sessions.len().min(63)) as u8,
        ])),
    }
}

fn access_byte(a: &super::ChannelAccess) -> u8 {
    (u8::from(a.alerting_disabled) << 5)
        | (u8::from(a.per_message_auth_disabled) << 4)
        | (u8::from(a.user_level_auth_disabled) << 3)
        | (a.access_mode & 0x07)
}

/// Get Channel Access: channel, 40h non-volatile / 80h volatile.
fn get_channel_access(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 2, 2)?;
    let channel = ctx.access_channel(d[0])?;
    let (volatile, nonvolatile) = if channel == SERIAL_CHANNEL {
        (ctx.state.serial.volatile, ctx.state.serial.nonvolatile)
    } else {
        (ctx.state.channel_volatile, ctx.state.channel_nonvolatile)
    };
    let a = match d[1] >> 6 {
        1 => nonvolatile,
        2 => volatile,
        _ => return Err(cc::INVALID_FIELD),
    };
    Ok(CmdResponse::ok(vec![
        access_byte(&a),
        a.privilege_limit & 0x0F,
    ]))
}

/// Set Channel Access: channel, access byte (bits 7:6 which copy: 01b
/// non-volatile, 10b volatile; 00b don't set), privilege byte (bits 7:6
/// likewise, bits 3:0 limit).
fn set_channel_access(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 3, 3)?;
    let channel = ctx.access_channel(d[0])?;
    let access_target = d[1] >> 6;
    let priv_target = d[2] >> 6;
    let limit = d[2] & 0x0F;
    if priv_target != 0 && !(1..=5).contains(&limit) {
        return Err(cc::INVALID_FIELD);
    }
    if access_target == 3 || priv_target == 3 {
        return Err(cc::INVALID_FIELD);
    }
    let state = &mut *ctx.state;
    let (nonvolatile, volatile) = if channel == SERIAL_CHANNEL {
        (&mut state.serial.nonvolatile, &mut state.serial.volatile)
    } else {
        (&mut state.channel_nonvolatile, &mut state.channel_volatile)
    };
    for (which, copy) in [(1u8, nonvolatile), (2u8, volatile)] {
        if access_target == which {
            copy.alerting_disabled = d[1] & 0x20 != 0;
            copy.per_message_auth_disabled = d[1] & 0x10 != 0;
            copy.user_level_auth_disabled = d[1] & 0x08 != 0;
            copy.access_mode = d[1] & 0x07;
        }
        if priv_target == which {
            copy.privilege_limit = limit;
        }
    }
    Ok(CmdResponse::ok(Vec::new()))
}

/// Get Channel Info: channel 0 is the primary IPMB (session-less), 1 the
/// 802.3 LAN (IPMB-1.0 protocol, multi-session), 2 the RS-232 serial/modem
/// channel (IPMB-1.0 protocol, single-session) and 0Fh the system
/// interface (KCS, session-less, no interrupts); 0Eh means the channel the
/// request came on. Other channels do not exist (CCh).
fn get_channel_info(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 1, 1)?;
    if d[0] & 0xF0 != 0 {
        return Err(cc::INVALID_FIELD);
    }
    let channel = ctx.channel(d[0]);
    let active = ctx.state.sessions.len().min(63) as u8;
    // Medium, protocol, session support, then the IPMI Forum IANA (7154).
    let (medium, protocol, sessions, aux) = match channel {
        0 => (0x01, 0x01, 0x00, [0x00, 0x00]),
        super::LAN_CHANNEL => (0x04, 0x01, 0x80 | active, [0x00, 0x00]),
        SERIAL_CHANNEL => (0x05, 0x01, 0x40, [0x00, 0x00]),
        0x0F => (0x0C, 0x05, 0x00, [0xFF, 0xFF]),
        _ => return Err(cc::INVALID_FIELD),
    };
    Ok(CmdResponse::ok(vec![
        channel, medium, protocol, sessions, 0xF2, 0x1B, 0x00, aux[0], aux[1],
    ]))
}

/// Set Channel Security Keys (§22.25): channel, operation (0 read, 1 set,
/// 2 lock), key id (0 K_R, 1 K_G), and for a set the 20-byte key. Answers
/// the lock status (00h: the keys are not lockable) and, for a read, the
/// key. A short or long key gets 81h/82h, a lock CCh. A new K_G applies
/// to the logins that follow.
fn channel_security_keys(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 3, 23)?;
    ctx.lan_channel(d[0])?;
    let kg = match d[2] {
        0 => false,
        1 => true,
        _ => return Err(cc::INVALID_FIELD),
    };
    match d[1] & 0x03 {
        0 => {
            need(d, 3, 3)?;
            let key = if kg { ctx.state.kg } else { ctx.state.kr };
            let mut out = vec![0x00];
            out.extend_from_slice(&key.0);
            Ok(CmdResponse::ok(out))
        }
        1 => {
            let key = &d[3..];
            if key.len() < 20 {
                return Err(0x81);
            }
            if key.len() > 20 {
                return Err(0x82);
            }
            let key = Key20::new(key);
            if !kg {
                ctx.state.kr = key;
                return Ok(CmdResponse::ok(vec![0x00]));
            }
            ctx.state.kg = key;
            ctx.state.config.kg_nonzero = !key.is_zero();
            Ok(CmdResponse::ok(vec![0x00]).with_effect(Effect::SetBmcKey(key)))
        }
        _ => Err(cc::INVALID_FIELD),
    }
}

/// The number of user slots: the configured count, at least the highest
/// slot in use.
fn max_users(ctx: &Ctx, users: &[User]) -> u8 {
    let highest = users.iter().map(|u| u.id).max().unwrap_or(0);
    ctx.state.config.max_users.max(highest).clamp(1, 63)
}

fn user_id(ctx: &Ctx, byte: u8, users: &[User]) -> Result<u8, u8> {
    let id = byte & 0x3F;
    if id == 0 || id > max_users(ctx, users) {
        Err(cc::INVALID_FIELD)
    } else {
        Ok(id)
    }
}

/// Get User Access: channel, user id. Answers max ids, enabled count,
/// fixed-name count and this user's channel access and privilege limit.
fn get_user_access(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 2, 2)?;
    let channel = ctx.access_channel(d[0])?;
    let users = ctx.model.users(ctx.bmc).clone();
    let id = user_id(ctx, d[1], &users)?;
    let max = max_users(ctx, &users);
    let enabled = users.iter().filter(|u| u.enabled).count().min(63) as u8;
    let user = users.iter().find(|u| u.id == id);
    let flags = ctx.state.user_flags.get(&id).copied().unwrap_or_default();
    let status = match user {
        Some(u) if u.enabled => 0x40,
        Some(_) => 0x80,
        None => 0x00,
    };
    let serial = ctx.state.serial.users.get(&id).copied().unwrap_or_default();
    let access = match user {
        Some(_) if channel == SERIAL_CHANNEL => {
            (u8::from(serial.callin_callback) << 6)
                | (u8::from(serial.link_auth) << 5)
                | (u8::from(serial.ipmi_messaging) << 4)
                | serial.limit
        }
        Some(u) => {
            let limit = if flags.no_access {
                0x0F
            } else {
                u.privilege as u8
            };
            (u8::from(flags.callin_callback) << 6)
                | (u8::from(flags.link_auth) << 5)
                | (u8::from(flags.ipmi_messaging) << 4)
                | limit
        }
        None => 0x0F,
    };
    Ok(CmdResponse::ok(vec![max, status | enabled, 0x01, access]))
}

/// Applies `f` to the user in slot `id`, creating an empty, disabled slot
/// first if there is none.
fn with_slot<T>(ctx: &Ctx, id: u8, f: impl FnOnce(&mut User) -> T) -> T {
    let mut users = ctx.model.users(ctx.bmc);
    let index = match users.iter().position(|u| u.id == id) {
        Some(i) => i,
        None => {
            users.push(User {
                id,
                name: String::new(),
                password: String::new(),
                privilege: Privilege::User,
                enabled: false,
                authorized_keys: Vec::new(),
            });
            users.len() - 1
        }
    };
    let result = f(&mut users[index]);
    users.sort_by_key(|u| u.id);
    result
}

/// Set User Access: flags and channel, user id, privilege limit (1-4, or
/// 0Fh no access), optional session limit.
fn set_user_access(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 3, 4)?;
    let channel = ctx.access_channel(d[0])?;
    let users = ctx.model.users(ctx.bmc).clone();
    let id = user_id(ctx, d[1], &users)?;
    let limit = d[2] & 0x0F;
    let privilege = match limit {
        0x0F => None,
        l => Some(Privilege::from_level(l).ok_or(cc::INVALID_FIELD)?),
    };
    if channel == SERIAL_CHANNEL {
        // The serial channel's access is its own; the model's privilege
        // (the LAN channel's) is untouched.
        let u = ctx.state.serial.users.entry(id).or_default();
        if d[0] & 0x80 != 0 {
            u.callin_callback = d[0] & 0x40 != 0;
            u.link_auth = d[0] & 0x20 != 0;
            u.ipmi_messaging = d[0] & 0x10 != 0;
        }
        u.limit = limit;
        return Ok(CmdResponse::ok(Vec::new()));
    }
    let flags = ctx.state.user_flags.entry(id).or_default();
    if d[0] & 0x80 != 0 {
        flags.callin_callback = d[0] & 0x40 != 0;
        flags.link_auth = d[0] & 0x20 != 0;
        flags.ipmi_messaging = d[0] & 0x10 != 0;
    }
    flags.no_access = privilege.is_none();
    if let Some(p) = privilege {
        with_slot(ctx, id, |u| u.privilege = p);
    }
    Ok(CmdResponse::ok(Vec::new()))
}

/// Bytes up to the first NUL as printable ASCII, or CCh.
fn ascii_field(bytes: &[u8]) -> Result<String, u8> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let s = &bytes[..end];
    if s.iter().all(|b| (0x20..0x7F).contains(b)) {
        Ok(String::from_utf8_lossy(s).into_owned())
    } else {
        Err(cc::INVALID_FIELD)
    }
}

fn get_user_name(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 1, 1)?;
    let users = ctx.model.users(ctx.bmc).clone();
    let id = user_id(ctx, d[0], &users)?;
    let mut out = [0u8; 16];
    if let Some(u) = users.iter().find(|u| u.id == id) {
        let b = u.name.as_bytes();
        let n = b.len().min(16);
        out[..n].copy_from_slice(&b[..n]);
    }
    Ok(CmdResponse::ok(out.to_vec()))
}

/// Set User Name: user id, 16 bytes (NUL padded). Slot 1 (the null user)
/// has a fixed name; a name another slot uses is refused (CCh).
fn set_user_name(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 17, 17)?;
    let users = ctx.model.users(ctx.bmc).clone();
    let id = user_id(ctx, d[0], &users)?;
    if id == 1 {
        return Err(cc::INVALID_FIELD);
    }
    let name = ascii_field(&d[1..17])?;
    if !name.is_empty() && users.iter().any(|u| u.id != id && u.name == name) {
        return Err(cc::INVALID_FIELD);
    }
    with_slot(ctx, id, |u| u.name = name);
    Ok(CmdResponse::ok(Vec::new()))
}

/// Set User Password: user id (bit 7 = 20-byte form), operation (0
/// disable, 1 enable, 2 set password, 3 test password), password. Test
/// failures: 80h wrong password, 81h wrong password size.
fn set_user_password(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 2, 22)?;
    let twenty = d[0] & 0x80 != 0;
    let users = ctx.model.users(ctx.bmc).clone();
    let id = user_id(ctx, d[0], &users)?;
    let op = d[1] & 0x03;
    let size = if twenty { 20 } else { 16 };
    let password = if op >= 2 {
        if d.len() < 2 + size {
            return Err(cc::DATA_LENGTH_INVALID);
        }
        if d.len() > 2 + size {
            return Err(cc::DATA_LENGTH_EXCEEDED);
        }
        Some(ascii_field(&d[2..2 + size])?)
    } else {
        if d.len() != 2 && d.len() != 18 && d.len() != 22 {
            return Err(cc::DATA_LENGTH_INVALID);
        }
        None
    };
    match (op, password) {
        (0, _) => with_slot(ctx, id, |u| u.enabled = false),
        (1, _) => with_slot(ctx, id, |u| u.enabled = true),
        (2, Some(p)) => with_slot(ctx, id, |u| u.password = p),
        (3, Some(p)) => {
            let stored = users
                .iter()
                .find(|u| u.id == id)
                .map(|u| u.password.clone())
                .unwrap_or_default();
            if !twenty && stored.len() > 16 {
                return Err(0x81);
            }
            if stored != p {
                return Err(0x80);
            }
        }
        _ => return Err(cc::INVALID_FIELD),
    }
    Ok(CmdResponse::ok(Vec::new()))
}

/// Whether the requesting session has a confidentiality algorithm
/// (unknown sessions are assumed to).
fn session_encrypted(ctx: &Ctx) -> bool {
    ctx.req
        .session_id
        .and_then(|id| ctx.state.find_session(id))
        .map(|s| s.encrypted)
        .unwrap_or(true)
}

/// Activate Payload: type (01h SOL), instance (1), auxiliary data (bit 7
/// encrypt, bit 6 authenticate). Answers exactly 12 bytes: auxiliary data,
/// inbound and outbound payload size, UDP port, VLAN (FFFFh = none).
/// 80h already active, 81h SOL disabled, 83h can't encrypt on this session,
/// 84h SOL requires encryption; the SOL privilege (parameter 2) applies.
fn activate_payload(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 6, 6)?;
    if d[0] & 0x3F != 0x01 || d[1] != 1 {
        return Err(cc::INVALID_FIELD);
    }
    let sol = &ctx.state.sol;
    if !sol.enabled {
        return Err(0x81);
    }
    if (ctx.req.privilege as u8) < (sol.auth & 0x0F) {
        return Err(cc::INSUFFICIENT_PRIVILEGE);
    }
    let user_allowed = ctx
        .req
        .user
        .and_then(|n| {
            ctx.model
                .users(ctx.bmc)
                .iter()
                .find(|u| u.name == n)
                .map(|u| u.id)
        })
        .and_then(|id| ctx.state.user_flags.get(&id))
        .is_none_or(|f| f.sol_payload);
    if !user_allowed {
        return Err(cc::INSUFFICIENT_PRIVILEGE);
    }
    if ctx.state.sol_owner.is_some() {
        return Err(0x80);
    }
    let want_encryption = d[2] & 0x80 != 0;
    if want_encryption && !session_encrypted(ctx) {
        return Err(0x83);
    }
    if sol.auth & 0x80 != 0 && !want_encryption {
        return Err(0x84);
    }
    let session = ctx.req.session_id.ok_or(cc::INSUFFICIENT_PRIVILEGE)?;
    ctx.state.sol_owner = Some(session);
    let cfg = &ctx.state.config;
    let vlan = ctx.state.lan.vlan_id().unwrap_or(0xFFFF);
    let mut out = vec![0x00, 0x00, 0x00, 0x00];
    out.extend_from_slice(&cfg.sol_max_payload.to_le_bytes());
    out.extend_from_slice(&cfg.sol_max_payload.to_le_bytes());
    out.extend_from_slice(&cfg.udp_port.to_le_bytes());
    out.extend_from_slice(&vlan.to_le_bytes());
    Ok(CmdResponse::ok(out).with_effect(Effect::ActivateSol { instance: 1 }))
}

/// Deactivate Payload: type, instance, auxiliary data. 80h if not active.
/// The owning session or an Admin session may deactivate.
fn deactivate_payload(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 6, 6)?;
    if d[0] & 0x3F != 0x01 || d[1] != 1 {
        return Err(cc::INVALID_FIELD);
    }
    let owner = ctx.state.sol_owner.ok_or(0x80u8)?;
    if ctx.req.session_id != Some(owner) && ctx.req.privilege < Privilege::Admin {
        return Err(cc::INSUFFICIENT_PRIVILEGE);
    }
    ctx.state.sol_owner = None;
    Ok(CmdResponse::ok(Vec::new()).with_effect(Effect::DeactivateSol { instance: 1 }))
}

fn get_payload_status(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 1, 1)?;
    if d[0] & 0x3F != 0x01 {
        return Err(cc::INVALID_FIELD);
    }
    let active = u8::from(ctx.state.sol_owner.is_some());
    Ok(CmdResponse::ok(vec![0x01, active, 0x00]))
}

fn get_payload_instance(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 2, 2)?;
    if d[0] & 0x3F != 0x01 || d[1] != 1 {
        return Err(cc::INVALID_FIELD);
    }
    let mut out = ctx.state.sol_owner.unwrap_or(0).to_le_bytes().to_vec();
    out.extend_from_slice(&[0u8; 8]);
    Ok(CmdResponse::ok(out))
}

/// Get User Payload Access: channel, user id. Answers the standard payload
/// enables (bit 1 = SOL) and the OEM ones (none).
fn get_user_payload_access(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 2, 2)?;
    ctx.lan_channel(d[0])?;
    let users = ctx.model.users(ctx.bmc).clone();
    let id = user_id(ctx, d[1], &users)?;
    let exists = users.iter().any(|u| u.id == id);
    let sol = exists && ctx.state.user_flags.get(&id).is_none_or(|f| f.sol_payload);
    Ok(CmdResponse::ok(vec![u8::from(sol) << 1, 0x00, 0x00, 0x00]))
}

/// Set User Payload Access: channel, user id (bits 7:6: 00b enable, 01b
/// disable the payloads named), standard and OEM payload masks.
fn set_user_payload_access(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 6, 6)?;
    ctx.lan_channel(d[0])?;
    let users = ctx.model.users(ctx.bmc).clone();
    let id = user_id(ctx, d[1], &users)?;
    let enable = match d[1] >> 6 {
        0 => true,
        1 => false,
        _ => return Err(cc::INVALID_FIELD),
    };
    if d[2] & 0x02 != 0 {
        ctx.state.user_flags.entry(id).or_default().sol_payload = enable;
    }
    Ok(CmdResponse::ok(Vec::new()))
}

/// Get Channel Payload Support: IPMI and SOL; all session setup payloads.
fn get_payload_support(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 1, 1)?;
    ctx.lan_channel(d[0])?;
    Ok(CmdResponse::ok(vec![
        0x03, 0x00, 0x3F, 0x00, 0x00, 0x00, 0x00, 0x00,
    ]))
}

fn get_payload_version(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 2, 2)?;
    ctx.lan_channel(d[0])?;
    match d[1] {
        0x00 | 0x01 | 0x10..=0x15 => Ok(CmdResponse::ok(vec![0x10])),
        _ => Err(0x80),
    }
}

/// The stored bytes (encoding, length, string) of system info parameter
/// `param` (1-7).
fn system_info_bytes(ctx: &Ctx, param: u8) -> Vec<u8> {
    if let Some(b) = ctx.state.system_info.get(&param) {
        return b.clone();
    }
    let text = match param {
        1 => ctx.with_chassis(|c| c.hardware.bios_version.clone()),
        2 => ctx.host_name(),
        6 => match ctx.ipv4() {
            Some([a, b, c, d]) => format!("https://{a}.{b}.{c}.{d}/"),
            None => String::new(),
        },
        _ => String::new(),
    };
    let mut out = vec![0x00, text.len().min(254) as u8];
    out.extend(text.bytes().take(254));
    out
}

/// Get System Info Parameters: revision-only bit, parameter, set selector,
/// block selector. Parameter 0 is set-in-progress; 1-7 are strings
/// (firmware version, system name, OS names, OS version, BMC URL,
/// hypervisor URL) in 16-byte sets.
fn get_system_info(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 4, 4)?;
    let mut out = vec![0x11];
    if d[0] & 0x80 != 0 {
        return Ok(CmdResponse::ok(out));
    }
    match d[1] {
        0 => out.push(0x00),
        p @ 1..=7 => {
            let set = usize::from(d[2]);
            if set >= 16 {
                return Err(cc::PARAM_OUT_OF_RANGE);
            }
            let bytes = system_info_bytes(ctx, p);
            let mut block = [0u8; 16];
            for (i, b) in block.iter_mut().enumerate() {
                *b = bytes.get(set * 16 + i).copied().unwrap_or(0);
            }
            out.push(d[2]);
            out.extend_from_slice(&block);
        }
        _ => return Err(cc::PARAM_NOT_SUPPORTED),
    }
    Ok(CmdResponse::ok(out))
}

/// Set System Info Parameters: parameter, then for parameter 0 one byte,
/// for 1-7 a set selector and 16 bytes.
fn set_system_info(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 2, 18)?;
    match d[0] {
        0 => {
            need(d, 2, 2)?;
            Ok(CmdResponse::ok(Vec::new()))
        }
        p @ 1..=7 => {
            need(d, 18, 18)?;
            let set = usize::from(d[1]);
            if set >= 16 {
                return Err(cc::PARAM_OUT_OF_RANGE);
            }
            let mut bytes = system_info_bytes(ctx, p);
            if bytes.len() < (set + 1) * 16 {
                bytes.resize((set + 1) * 16, 0);
            }
            bytes[set * 16..(set + 1) * 16].copy_from_slice(&d[2..18]);
            ctx.state.system_info.insert(p, bytes);
            Ok(CmdResponse::ok(Vec::new()))
        }
        _ => Err(cc::PARAM_NOT_SUPPORTED),
    }
}
