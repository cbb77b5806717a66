//! iControl REST authentication tokens (`POST /mgmt/shared/authn/login`,
//! `X-F5-Auth-Token`, `PATCH`/`DELETE /mgmt/shared/authz/tokens/T`).
//!
//! Sans-IO: time comes in as microseconds since the epoch from the
//! model's clock, so a test that advances the clock expires a token
//! without sleeping. f5-sdk refuses a login answer without
//! `lastUpdateMicros` and `expirationMicros`.

use serde_json::{json, Value};
use std::collections::HashMap;

/// BIG-IP's default token lifetime (seconds).
pub const DEFAULT_TIMEOUT: u64 = 1200;
/// The longest lifetime a PATCH may set (BIG-IP's limit).
pub const MAX_TIMEOUT: u64 = 36_000;
/// Live tokens kept; the oldest goes first beyond this (BIG-IP keeps 100
/// per user; a flood of logins must not grow memory without bound).
pub const MAX_TOKENS: usize = 1024;

#[derive(Debug, Clone)]
pub struct Token {
    pub user: String,
    pub timeout_s: u64,
    pub start_us: u64,
    pub last_update_us: u64,
}

impl Token {
    pub fn expiration_us(&self) -> u64 {
        self.start_us
            .saturating_add(self.timeout_s.saturating_mul(1_000_000))
    }
}

/// Why a token was refused (the 401's message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    Unknown,
    Expired,
}

impl TokenError {
    pub fn message(&self) -> &'static str {
        match self {
            TokenError::Unknown => "X-F5-Auth-Token does not exist.",
            TokenError::Expired => "X-F5-Auth-Token has expired.",
        }
    }
}

#[derive(Debug, Default)]
pub struct Tokens {
    map: HashMap<String, Token>,
}

impl Tokens {
    /// Issues a token for `user` (authenticated by the caller).
    pub fn issue(&mut self, user: &str, now_us: u64, value: String) -> &Token {
        self.purge(now_us);
        if self.map.len() >= MAX_TOKENS {
            if let Some(oldest) = self
                .map
                .iter()
                .min_by_key(|(_, t)| t.start_us)
                .map(|(k, _)| k.clone())
            {
                self.map.remove(&oldest);
            }
        }
        self.map.entry(value).or_insert(Token {
            user: user.to_string(),
            timeout_s: DEFAULT_TIMEOUT,
            start_us: now_us,
            last_update_us: now_us,
        })
    }

    fn purge(&mut self, now_us: u64) {
        self.map.retain(|_, t| t.expiration_us() > now_us);
    }

    /// The user a token belongs to, if it is live.
    pub fn check(&self, value: &str, now_us: u64) -> Result<&Token, TokenError> {
        match self.map.get(value) {
            None => Err(TokenError::Unknown),
            Some(t) if t.expiration_us() <= now_us => Err(TokenError::Expired),
            Some(t) => Ok(t),
        }
    }

    /// PATCH `{"timeout": N}`: sets the lifetime (from its start, as BIG-IP
    /// counts it).
    pub fn set_timeout(&mut self, value: &str, timeout_s: u64, now_us: u64) -> Option<&Token> {
        let t = self.map.get_mut(value)?;
        if t.expiration_us() <= now_us {
            return None;
        }
        t.timeout_s = timeout_s;
        t.last_update_us = now_us;
        Some(t)
    }

    pub fn remove(&mut self, value: &str) -> Option<Token> {
        self.map.remove(value)
    }
}

/// A token as BIG-IP shows it.
pub fn token_json(value: &str, t: &Token) -> Value {
    json!({
        "token": value,
        "name": value,
        "userName": t.user,
        "user": {"link": format!("https://localhost/mgmt/shared/authz/users/{}", t.user)},
        "timeout": t.timeout_s,
        "startTime": iso8601(t.start_us),
        "address": "",
        "partition": "[All]",
        "generation": 1,
        "lastUpdateMicros": t.last_update_us,
        "expirationMicros": t.expiration_us(),
        "kind": "shared:authz:tokens:authtokenitemstate",
        "selfLink": format!("https://localhost/mgmt/shared/authz/tokens/{value}"),
    })
}

/// `2026-12-06T07:12:00.123-0000`-style time, from the Unix epoch.
fn iso8601(us: u64) -> String {
    let secs = i64::try_from(us / 1_000_000).unwrap_or(i64::MAX);
    let ms = (us / 1000) % 1000;
    format!(
        "{}.{ms:03}-0000",
        fakedc_model::timefmt::utc_date_time_or_epoch(secs)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_and_patch() {
        let mut t = Tokens::default();
        t.issue("admin", 1_000_000, "T".into());
        assert!(t.check("T", 2_000_000).is_ok());
        assert_eq!(
            t.check("T", 1_000_000 + DEFAULT_TIMEOUT * 1_000_000).err(),
            Some(TokenError::Expired)
        );
        assert!(t.set_timeout("T", 3600, 2_000_000).is_some());
        assert!(t.check("T", 1_000_000 + 3000 * 1_000_000).is_ok());
        assert_eq!(t.check("X", 0).err(), Some(TokenError::Unknown));
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000-0000");
    }
}
