//! `[machine.options.sftp]`, `[machine.options.ssh]` and
//! `[machine.options.bmc-ssh]`: what a scenario may change per machine.
//! Validated once at registration so a bad scenario fails at start, not on
//! the first connection.

use fakedc_model::{Machine, Role, ServiceKind};
use serde::Deserialize;

/// The raw options table (every field optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOptions {
    /// The identification string sent first (`SSH-2.0-...`). Real hosts show
    /// their OpenSSH version; nmap and inventory scripts key on it.
    pub server_id: Option<String>,
    /// Failed authentication attempts (password, keyboard-interactive,
    /// signed public key) before the server disconnects. OpenSSH's
    /// MaxAuthTries default is 6.
    pub max_auth_attempts: Option<usize>,
    /// Delay before a rejection is sent (constant-time rejection), in ms.
    pub auth_rejection_ms: Option<u64>,
    /// Methods offered: any of "password", "keyboard-interactive",
    /// "publickey" (default: all three; ESXi offers keyboard-interactive).
    pub auth_methods: Option<Vec<String>>,
    /// Pre-authentication banner.
    pub banner: Option<String>,
    /// The older spelling of the machine's `quota_bytes` (the share's one
    /// quota, which SMB and BITS count against too): the scenario crate
    /// reads it from here when the machine has none of its own. Kept so
    /// existing scenarios load; a write beyond the quota fails with the
    /// SFTP failure status (a full datastore).
    pub quota_bytes: Option<u64>,
    /// Datastore name under /vmfs/volumes (default "datastore1").
    pub datastore: Option<String>,
    /// Version shown by `esxcli system version get`, `uname`, `vmware -v`
    /// (default: 7.0.3 on ESXi, 3.5.0 on an ESX host).
    pub esxi_version: Option<String>,
    /// Build number (default: 21930508 on ESXi, 207095 on ESX).
    pub esxi_build: Option<String>,
    /// Seconds without traffic before the connection is closed (default 600).
    pub idle_timeout_s: Option<u64>,
    /// Sessions (channels) open at once per connection (default 10, like
    /// OpenSSH's MaxSessions).
    pub max_sessions: Option<usize>,
    /// SFTP uploads are written under a hidden staging name and published
    /// by rename at CLOSE, so a name only ever shows a complete file
    /// (default false: written under their own name from OPEN, as
    /// OpenSSH's sftp-server does).
    pub atomic_uploads: Option<bool>,
}

/// Validated options of one SSH endpoint.
#[derive(Debug, Clone)]
pub struct SshOptions {
    pub server_id: String,
    pub max_auth_attempts: usize,
    pub auth_rejection_ms: u64,
    pub password: bool,
    pub keyboard_interactive: bool,
    pub publickey: bool,
    pub banner: Option<String>,
    pub datastore: String,
    pub esxi_version: String,
    pub esxi_build: String,
    pub idle_timeout_s: u64,
    pub max_sessions: usize,
    pub atomic_uploads: bool,
}

pub use fakedc_net::OptionsError;

/// The identification string a real host of this role shows: ESXi 7.0 U3
/// ships OpenSSH 8.8; many BMCs (iDRAC 9, XCC) run OpenSSH 7.4; ESX 3.5's
/// service console is Red Hat Enterprise Linux 3, whose sshd is OpenSSH
/// 3.6.1p2. The string is what `nmap -sV` and OpenSSH's compatibility
/// table key on; the algorithms stay modern so today's clients connect
/// without legacy options (recorded in ARCHITECTURE.md).
pub fn default_server_id(role: Role) -> &'static str {
    match role {
        Role::Bmc => "SSH-2.0-OpenSSH_7.4",
        Role::EsxHost => "SSH-2.0-OpenSSH_3.6.1p2",
        _ => "SSH-2.0-OpenSSH_8.8",
    }
}

/// The product version and build a host of this role reports: an ESX
/// host is ESX 3.5 Update 5 (its service console), any other ESXi 7.0 U3.
pub fn default_version(role: Role) -> (&'static str, &'static str) {
    match role {
        Role::EsxHost => ("3.5.0", "207095"),
        _ => ("7.0.3", "21930508"),
    }
}

impl SshOptions {
    /// Parses and validates the options of `machine` for `kind`.
    pub fn for_machine(m: &Machine, kind: ServiceKind) -> Result<SshOptions, OptionsError> {
        let err = |message: String| OptionsError::new(&m.name, kind.name(), message);
        let raw: RawOptions = match m.options.get(kind.name()) {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| err(e.to_string()))?,
            None => RawOptions::default(),
        };
        let server_id = raw
            .server_id
            .unwrap_or_else(|| default_server_id(m.role).to_string());
        // RFC 4253 §4.2: at most 255 characters including CR LF, printable
        // US-ASCII, and it must start with the protocol version.
        if !server_id.starts_with("SSH-2.0-")
            || server_id.len() > 253
            || !server_id.bytes().all(|b| (0x20..0x7f).contains(&b))
        {
            return Err(err(format!(
                "server_id '{server_id}' must start with 'SSH-2.0-', be printable ASCII and at most 253 characters"
            )));
        }
        let max_auth_attempts = raw.max_auth_attempts.unwrap_or(6);
        if !(1..=100).contains(&max_auth_attempts) {
            return Err(err(format!(
                "max_auth_attempts {max_auth_attempts} must be 1..=100"
            )));
        }
        let auth_rejection_ms = raw.auth_rejection_ms.unwrap_or(200);
        if auth_rejection_ms > 10_000 {
            return Err(err("auth_rejection_ms must be at most 10000".into()));
        }
        let (mut password, mut kbd, mut publickey) = (true, true, true);
        if let Some(list) = &raw.auth_methods {
            (password, kbd, publickey) = (false, false, false);
            for a in list {
                match a.as_str() {
                    "password" => password = true,
                    "keyboard-interactive" => kbd = true,
                    "publickey" => publickey = true,
                    other => {
                        return Err(err(format!(
                        "unknown auth method '{other}' (password, keyboard-interactive, publickey)"
                    )))
                    }
                }
            }
            if !(password || kbd || publickey) {
                return Err(err("auth_methods must name at least one method".into()));
            }
        }
        if let Some(b) = &raw.banner {
            if b.len() > 4096 {
                return Err(err("banner must be at most 4096 bytes".into()));
            }
        }
        let datastore = raw.datastore.unwrap_or_else(|| "datastore1".into());
        if datastore.is_empty()
            || datastore.len() > 64
            || !datastore
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            || datastore.starts_with('.')
        {
            return Err(err(format!(
                "datastore '{datastore}' must be 1-64 characters of letters, digits, '-', '_', '.'"
            )));
        }
        if matches!(kind, ServiceKind::BmcSsh) && raw.quota_bytes.is_some() {
            return Err(err(
                "quota_bytes applies to sftp and ssh, not bmc-ssh".into()
            ));
        }
        if matches!(kind, ServiceKind::BmcSsh) && raw.atomic_uploads.is_some() {
            return Err(err(
                "atomic_uploads applies to sftp and ssh, not bmc-ssh".into()
            ));
        }
        let max_sessions = raw.max_sessions.unwrap_or(10);
        if !(1..=64).contains(&max_sessions) {
            return Err(err(format!("max_sessions {max_sessions} must be 1..=64")));
        }
        let clean = |s: String, what: &str| -> Result<String, OptionsError> {
            if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_graphic()) {
                Err(err(format!(
                    "{what} '{s}' must be 1-32 printable characters"
                )))
            } else {
                Ok(s)
            }
        };
        Ok(SshOptions {
            server_id,
            max_auth_attempts,
            auth_rejection_ms,
            password,
            keyboard_interactive: kbd,
            publickey,
            banner: raw.banner,
            datastore,
            esxi_version: clean(
                raw.esxi_version
                    .unwrap_or_else(|| default_version(m.role).0.into()),
                "esxi_version",
            )?,
            esxi_build: clean(
                raw.esxi_build
                    .unwrap_or_else(|| default_version(m.role).1.into()),
                "esxi_build",
            )?,
            idle_timeout_s: raw.idle_timeout_s.unwrap_or(600).clamp(1, 86_400),
            max_sessions,
            atomic_uploads: raw.atomic_uploads.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fakedc_model::{ChassisId, MachineId};
    use std::collections::BTreeMap;

    fn machine(role: Role, opts: serde_json::Value, kind: ServiceKind) -> Machine {
        let mut options = BTreeMap::new();
        options.insert(kind.name().to_string(), opts);
        Machine {
            id: MachineId(0),
            name: "m".into(),
            role,
            address: "127.0.0.1".parse().expect("addr"),
            dns_name: "m.test".into(),
            chassis: ChassisId(0),
            bmc: None,
            host: None,
            vm_host: None,
            endpoints: vec![],
            options,
            share: None,
            vms: vec![],
        }
    }

    #[test]
    fn defaults_per_role() {
        let m = machine(Role::EsxiHost, serde_json::json!({}), ServiceKind::Ssh);
        let o = SshOptions::for_machine(&m, ServiceKind::Ssh).expect("valid");
        assert_eq!(o.server_id, "SSH-2.0-OpenSSH_8.8");
        assert_eq!(o.datastore, "datastore1");
        assert_eq!(
            (o.esxi_version.as_str(), o.esxi_build.as_str()),
            ("7.0.3", "21930508")
        );
        let esx = machine(Role::EsxHost, serde_json::json!({}), ServiceKind::Sftp);
        let o = SshOptions::for_machine(&esx, ServiceKind::Sftp).expect("valid");
        assert_eq!(
            (o.esxi_version.as_str(), o.esxi_build.as_str()),
            ("3.5.0", "207095")
        );
        assert_eq!(o.server_id, "SSH-2.0-OpenSSH_3.6.1p2");
        assert!(o.password && o.keyboard_interactive && o.publickey);
        assert!(
            !o.atomic_uploads,
            "uploads show under their name by default"
        );
        let m = machine(
            Role::EsxHost,
            serde_json::json!({"atomic_uploads": true}),
            ServiceKind::Sftp,
        );
        assert!(
            SshOptions::for_machine(&m, ServiceKind::Sftp)
                .expect("valid")
                .atomic_uploads
        );
        let b = machine(Role::Bmc, serde_json::json!({}), ServiceKind::BmcSsh);
        let o = SshOptions::for_machine(&b, ServiceKind::BmcSsh).expect("valid");
        assert_eq!(o.server_id, "SSH-2.0-OpenSSH_7.4");
    }

    #[test]
    fn rejects_bad_values() {
        for bad in [
            serde_json::json!({"server_id": "OpenSSH"}),
            serde_json::json!({"server_id": "SSH-2.0-x\r\n"}),
            serde_json::json!({"max_auth_attempts": 0}),
            serde_json::json!({"auth_methods": ["telepathy"]}),
            serde_json::json!({"datastore": "../x"}),
            serde_json::json!({"unknown": 1}),
        ] {
            let m = machine(Role::EsxHost, bad.clone(), ServiceKind::Sftp);
            assert!(
                SshOptions::for_machine(&m, ServiceKind::Sftp).is_err(),
                "{bad} accepted"
            );
        }
        for bad in [
            serde_json::json!({"quota_bytes": 5}),
            serde_json::json!({"atomic_uploads": true}),
        ] {
            let b = machine(Role::Bmc, bad, ServiceKind::BmcSsh);
            assert!(SshOptions::for_machine(&b, ServiceKind::BmcSsh).is_err());
        }
        let m = machine(
            Role::EsxHost,
            serde_json::json!({"atomic_uploads": "yes"}),
            ServiceKind::Sftp,
        );
        assert!(SshOptions::for_machine(&m, ServiceKind::Sftp).is_err());
    }
}
