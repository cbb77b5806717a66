//! `[machine.options.bits]`: per-machine limits and virtual files, parsed
//! and validated once at registration so a bad scenario fails at start.

use crate::proto::{join_components, normalize_path, Limits};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 100 GiB: a 40 GB VHDX fits twice; a runaway client does not fill the disk.
pub const DEFAULT_MAX_UPLOAD: u64 = 100 << 30;
/// 256 MiB: fragments stream to disk, so the size costs no memory; the
/// limit only bounds what one request can carry.
pub const DEFAULT_MAX_FRAGMENT: u64 = 256 << 20;
/// One day without a fragment and a session (and its file) is discarded.
/// IIS defaults to 14 days; a test datacenter should not hoard partial files.
pub const DEFAULT_IDLE_S: u64 = 24 * 3600;
pub const DEFAULT_MAX_SESSIONS: usize = 64;
/// How long a fragment's body may stall before the request is dropped
/// (which also releases the session for a resumed request).
pub const DEFAULT_READ_TIMEOUT_S: u64 = 60;

/// As written in a scenario.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitsOptions {
    /// Largest upload (the fragments' total), bytes.
    pub max_upload_size: Option<u64>,
    /// Largest single fragment, bytes.
    pub max_fragment_size: Option<u64>,
    /// Idle seconds after which an upload session expires.
    pub session_idle_timeout_s: Option<u64>,
    /// Open upload sessions per machine.
    pub max_sessions: Option<usize>,
    /// URL prefixes uploads may target (default: the whole share).
    pub upload_paths: Option<Vec<String>>,
    /// Whether Close-Session may replace an existing file (IIS's
    /// BITSAllowOverwrites). Default true, so re-running a test works.
    pub allow_overwrite: Option<bool>,
    /// Answer Ping without credentials (so `fakedc check` verifies BITS
    /// without a password). Wrong credentials are still refused.
    pub anonymous_ping: Option<bool>,
    /// Seconds a fragment body may stall.
    pub read_timeout_s: Option<u64>,
    /// Accept Basic on the plain-HTTP endpoint (`bits-http`), where it
    /// would send the password in clear. Default false, like WinRM's
    /// AllowUnencrypted: over HTTP only NTLM/Negotiate is offered.
    pub allow_basic_over_http: Option<bool>,
    /// The `Server` header (default: the machine's web server, IIS 10 on
    /// Windows, none on ESXi; see `fakedc_model::WebServer`).
    pub server: Option<String>,
    /// Large read-only files served from a generator, without disk.
    #[serde(default)]
    pub virtual_files: Vec<VirtualFileSpec>,
}

/// `{ path = "/library/win2022.vhdx", size = 42949672960, seed = 7 }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualFileSpec {
    pub path: String,
    pub size: u64,
    #[serde(default)]
    pub seed: u64,
    /// Unix seconds of Last-Modified (default 2025-01-01T00:00:00Z), fixed
    /// so validators stay stable across restarts.
    pub modified: Option<u64>,
}

/// A virtual file after validation.
#[derive(Debug, Clone)]
pub struct VirtualFile {
    pub path: String,
    pub size: u64,
    pub seed: u64,
    pub modified: SystemTime,
}

/// A machine's validated BITS configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub limits: Limits,
    pub idle: Duration,
    pub max_sessions: usize,
    /// Normalised prefixes (component lists).
    pub upload_paths: Vec<Vec<String>>,
    pub allow_overwrite: bool,
    pub anonymous_ping: bool,
    pub allow_basic_over_http: bool,
    pub read_timeout: Duration,
    /// An explicit `Server` header; `None`: the network front stamps the
    /// machine's own.
    pub server: Option<String>,
    /// By normalised path.
    pub virtual_files: HashMap<String, VirtualFile>,
}

impl Config {
    /// Whether uploads may target `path` (components).
    pub fn upload_allowed(&self, path: &[String]) -> bool {
        self.upload_paths.iter().any(|p| path.starts_with(p))
    }
}

/// 2025-01-01T00:00:00Z.
const DEFAULT_VIRTUAL_MTIME: u64 = 1_735_689_600;

impl BitsOptions {
    pub fn validate(self) -> Result<Config, String> {
        let max_upload = self.max_upload_size.unwrap_or(DEFAULT_MAX_UPLOAD);
        let max_fragment = self.max_fragment_size.unwrap_or(DEFAULT_MAX_FRAGMENT);
        if max_upload == 0 || max_fragment == 0 {
            return Err("max_upload_size and max_fragment_size must be positive".into());
        }
        let max_sessions = self.max_sessions.unwrap_or(DEFAULT_MAX_SESSIONS);
        if !(1..=100_000).contains(&max_sessions) {
            return Err(format!("max_sessions {max_sessions} must be 1..=100000"));
        }
        let idle = self.session_idle_timeout_s.unwrap_or(DEFAULT_IDLE_S);
        if idle == 0 {
            return Err("session_idle_timeout_s must be positive".into());
        }
        let mut upload_paths = Vec::new();
        for p in self.upload_paths.unwrap_or_else(|| vec!["/".into()]) {
            upload_paths.push(normalize_path(&p).map_err(|e| format!("upload_paths: {e}"))?);
        }
        let server = self.server;
        if server.as_ref().is_some_and(|server| {
            server.is_empty()
                || server.len() > 200
                || !server.bytes().all(|b| (0x20..0x7f).contains(&b))
        }) {
            return Err("server must be 1-200 printable ASCII characters".into());
        }
        let mut virtual_files = HashMap::new();
        for v in self.virtual_files {
            let comps = normalize_path(&v.path).map_err(|e| format!("virtual_files: {e}"))?;
            if comps.is_empty() {
                return Err(format!("virtual_files: '{}' names no file", v.path));
            }
            let key = join_components(&comps);
            let file = VirtualFile {
                path: key.clone(),
                size: v.size,
                seed: v.seed,
                modified: UNIX_EPOCH
                    + Duration::from_secs(v.modified.unwrap_or(DEFAULT_VIRTUAL_MTIME)),
            };
            if virtual_files.insert(key.clone(), file).is_some() {
                return Err(format!("virtual_files: '{key}' is declared twice"));
            }
        }
        Ok(Config {
            limits: Limits {
                max_upload_size: max_upload,
                max_fragment_size: max_fragment,
            },
            idle: Duration::from_secs(idle),
            max_sessions,
            upload_paths,
            allow_overwrite: self.allow_overwrite.unwrap_or(true),
            anonymous_ping: self.anonymous_ping.unwrap_or(true),
            allow_basic_over_http: self.allow_basic_over_http.unwrap_or(false),
            read_timeout: Duration::from_secs(
                self.read_timeout_s.unwrap_or(DEFAULT_READ_TIMEOUT_S).max(1),
            ),
            server,
            virtual_files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Config, String> {
        let o: BitsOptions = serde_json::from_str(json).map_err(|e| e.to_string())?;
        o.validate()
    }

    #[test]
    fn defaults_and_virtual_files() {
        let c = parse("{}").unwrap();
        assert_eq!(c.limits.max_upload_size, 100 << 30);
        assert!(!c.allow_basic_over_http);
        assert!(c.upload_allowed(&["x".into()]));
        let c = parse(
            r#"{"virtual_files":[{"path":"/library/win2022.vhdx","size":42949672960,"seed":7}],
                "upload_paths":["/upload"]}"#,
        )
        .unwrap();
        assert_eq!(
            c.virtual_files["/library/win2022.vhdx"].size,
            42_949_672_960
        );
        assert!(c.upload_allowed(&["upload".into(), "a".into()]));
        assert!(!c.upload_allowed(&["library".into()]));
    }

    #[test]
    fn rejects_bad_options() {
        assert!(parse(r#"{"bogus":1}"#).is_err());
        assert!(parse(r#"{"max_sessions":0}"#).is_err());
        assert!(parse(r#"{"virtual_files":[{"path":"/../x","size":1}]}"#).is_err());
        assert!(parse(r#"{"virtual_files":[{"path":"/","size":1}]}"#).is_err());
        assert!(
            parse(r#"{"virtual_files":[{"path":"/a","size":1},{"path":"a","size":2}]}"#).is_err()
        );
        assert!(parse(r#"{"server":"x\ny"}"#).is_err());
    }
}
