//! The server's identity across restarts: its id, the key its cookies are
//! sealed with and its configuration's LastChange, kept in the machine's
//! share (`wsus/server.json`) through a cap-std `Dir`, as the load balancer
//! keeps its configuration. A real WSUS keeps all three in its database, so
//! a restart leaves clients' cookies valid; what changes them is a new
//! identity (`ServerChanged`) or new settings (`ConfigChanged`).
//!
//! Without a share (or when it cannot be written) the identity lives for
//! this run only, as before: cookies from before a restart are then
//! `InvalidCookie`.

use crate::server::WsusOptions;
use cap_std::fs::Dir;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::path::Path;

const DIR: &str = "wsus";
const FILE: &str = "wsus/server.json";
const TMP: &str = "wsus/.server.json.tmp";
/// Larger files are not an identity fakedc wrote.
const MAX_FILE: u64 = 4096;

/// What is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub server_id: String,
    /// The cookie key, hex.
    pub key: String,
    pub config_ms: u64,
    /// SHA-256 of the options the configuration was made from (hex).
    pub config_hash: String,
}

impl Identity {
    pub fn key_bytes(&self) -> Option<[u8; 32]> {
        let mut k = [0u8; 32];
        if self.key.len() != 64 {
            return None;
        }
        for (i, b) in k.iter_mut().enumerate() {
            *b = u8::from_str_radix(self.key.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(k)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The hash of what GetConfig and the catalogue depend on (not the id:
/// a new id is a new server, not a new configuration).
fn config_hash(opts: &WsusOptions) -> String {
    let text = format!(
        "{}|{}|{}|{}|{:?}",
        opts.updates, opts.file_size, opts.cookie_minutes, opts.content_cache_mib, opts.groups
    );
    hex(&sha2::Sha256::digest(text.as_bytes()))
}

/// Derives the next identity from the kept one (if any) and the options:
/// the key always survives; the id follows `server_id` when it is set (a
/// new one is a new server), else the kept one, else a new random GUID;
/// the configuration's time changes only with the options. Pure, so the
/// rules are unit-tested.
pub fn next(
    kept: Option<Identity>,
    opts: &WsusOptions,
    now_ms: u64,
    fresh_key: [u8; 32],
    fresh_id: String,
) -> Identity {
    let hash = config_hash(opts);
    let wanted = opts.server_id.as_deref().and_then(crate::msg::guid);
    match kept.filter(|k| k.key_bytes().is_some()) {
        Some(k) => Identity {
            server_id: wanted.unwrap_or(k.server_id),
            config_ms: if k.config_hash == hash {
                k.config_ms
            } else {
                now_ms
            },
            config_hash: hash,
            key: k.key,
        },
        None => Identity {
            server_id: wanted.unwrap_or(fresh_id),
            key: hex(&fresh_key),
            config_ms: now_ms,
            config_hash: hash,
        },
    }
}

/// Loads, updates and stores a machine's identity in its share; `None`
/// share (or an error) gives a fresh identity for this run.
pub fn load(share: Option<&Path>, opts: &WsusOptions, now_ms: u64) -> Identity {
    let fresh_id = {
        let b: [u8; 16] = rand::random();
        let h = hex(&b);
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    };
    let fresh = |kept| next(kept, opts, now_ms, rand::random(), fresh_id.clone());
    let Some(share) = share else {
        return fresh(None);
    };
    let dir = std::fs::create_dir_all(share)
        .and_then(|_| Dir::open_ambient_dir(share, cap_std::ambient_authority()));
    let dir = match dir {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(share = %share.display(), "wsus identity not kept: {e}");
            return fresh(None);
        }
    };
    let kept = dir
        .metadata(FILE)
        .ok()
        .filter(|m| m.is_file() && m.len() <= MAX_FILE)
        .and_then(|_| dir.read(FILE).ok())
        .and_then(|b| serde_json::from_slice::<Identity>(&b).ok());
    let id = fresh(kept.clone());
    if kept.as_ref() != Some(&id) {
        if let Err(e) = store(&dir, &id) {
            tracing::warn!(share = %share.display(), "wsus identity not kept: {e}");
        }
    }
    id
}

/// Written to a temporary name, synced and renamed, so a crash leaves the
/// old identity or the new one, never half of one.
fn store(dir: &Dir, id: &Identity) -> std::io::Result<()> {
    use std::io::Write;
    dir.create_dir_all(DIR)?;
    let bytes = serde_json::to_vec_pretty(id).map_err(std::io::Error::other)?;
    let mut f = dir.create(TMP)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    dir.rename(TMP, dir, FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_survives_the_id_follows_the_option_and_config_the_options() {
        let o = WsusOptions::default();
        let a = next(
            None,
            &o,
            1000,
            [9; 32],
            "11111111-1111-1111-1111-111111111111".into(),
        );
        assert_eq!(a.key_bytes(), Some([9; 32]));
        // A restart with the same options keeps everything.
        let b = next(Some(a.clone()), &o, 5000, [1; 32], "2".into());
        assert_eq!(a, b);
        // New options: a new configuration, same key and id.
        let o2 = WsusOptions {
            updates: 30,
            ..WsusOptions::default()
        };
        let c = next(Some(b.clone()), &o2, 6000, [1; 32], "2".into());
        assert_eq!(
            (c.config_ms, &c.key, &c.server_id),
            (6000, &b.key, &b.server_id)
        );
        // A new id: same key, so old cookies unseal and show the change.
        let o3 = WsusOptions {
            server_id: Some("AAAAAAAA-0000-0000-0000-000000000001".into()),
            ..o2
        };
        let d = next(Some(c.clone()), &o3, 7000, [1; 32], "2".into());
        assert_eq!(d.server_id, "aaaaaaaa-0000-0000-0000-000000000001");
        assert_eq!((d.key.as_str(), d.config_ms), (c.key.as_str(), 6000));
        // A damaged key is replaced.
        let bad = Identity {
            key: "zz".into(),
            ..d
        };
        assert_eq!(
            next(Some(bad), &o3, 8000, [4; 32], "x".into()).key_bytes(),
            Some([4; 32])
        );
    }

    #[test]
    fn stored_in_the_share_and_read_back() {
        let dir = std::env::temp_dir().join(format!("fakedc-wsus-identity-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let o = WsusOptions::default();
        let a = load(Some(&dir), &o, 10);
        let b = load(Some(&dir), &o, 20);
        assert_eq!(a, b);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
