//! Fault rules: what the network layer and protocol services do wrong on
//! purpose. Rules are data; the network layer applies the generic ones
//! (refuse, blackhole, delay, reset) and protocol services the specific ones
//! (drop, wrong HMAC, busy).

use serde::{Deserialize, Serialize};
use std::sync::RwLock;

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FaultKind {
    /// The port is closed: TCP connects are refused, datagrams are ignored.
    Refuse,
    /// Accept or receive, and never answer.
    Blackhole,
    /// Delay each answer (TCP: each read from the peer) by `ms` plus up to
    /// `jitter_ms` more.
    Delay {
        ms: u64,
        #[serde(default)]
        jitter_ms: u64,
    },
    /// Reset the TCP connection after this many bytes have been sent to the
    /// peer.
    ResetAfter { bytes: u64 },
    /// Drop this fraction (0.0-1.0) of datagrams or requests.
    Drop {
        #[serde(default = "one")]
        probability: f64,
    },
    /// IPMI: sign responses with a wrong integrity code.
    WrongHmac,
    /// IPMI: answer every command with completion code C0h (node busy).
    Busy,
}

fn one() -> f64 {
    1.0
}

/// A rule and where it applies. `None` matches everything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    #[serde(default)]
    pub id: u64,
    #[serde(default)]
    pub machine: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(flatten)]
    pub kind: FaultKind,
}

impl FaultRule {
    pub fn applies(&self, machine: &str, service: &str) -> bool {
        self.machine.as_deref().is_none_or(|m| m == machine)
            && self.service.as_deref().is_none_or(|s| s == service)
    }
}

/// The live rule set.
#[derive(Debug, Default)]
pub struct Faults {
    rules: RwLock<(u64, Vec<FaultRule>)>,
}

impl Faults {
    /// Adds a rule and returns its id.
    pub fn add(&self, mut rule: FaultRule) -> u64 {
        let Ok(mut g) = self.rules.write() else {
            return 0;
        };
        g.0 += 1;
        rule.id = g.0;
        g.1.push(rule);
        g.0
    }

    pub fn remove(&self, id: u64) -> bool {
        let Ok(mut g) = self.rules.write() else {
            return false;
        };
        let before = g.1.len();
        g.1.retain(|r| r.id != id);
        before != g.1.len()
    }

    pub fn clear(&self) {
        if let Ok(mut g) = self.rules.write() {
            g.1.clear();
        }
    }

    pub fn list(&self) -> Vec<FaultRule> {
        self.rules.read().map(|g| g.1.clone()).unwrap_or_default()
    }

    /// The rules that apply to one endpoint, newest last.
    pub fn matching(&self, machine: &str, service: &str) -> Vec<FaultKind> {
        let Ok(g) = self.rules.read() else {
            return Vec::new();
        };
        if g.1.is_empty() {
            return Vec::new();
        }
        g.1.iter()
            .filter(|r| r.applies(machine, service))
            .map(|r| r.kind.clone())
            .collect()
    }

    /// Cheap check used on hot paths before building a list.
    pub fn is_empty(&self) -> bool {
        self.rules.read().map(|g| g.1.is_empty()).unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_from_json_and_match() {
        let r: FaultRule =
            serde_json::from_str(r#"{"machine":"bmc01","kind":"delay","ms":50}"#).unwrap();
        assert_eq!(
            r.kind,
            FaultKind::Delay {
                ms: 50,
                jitter_ms: 0
            }
        );
        let f = Faults::default();
        let id = f.add(r);
        assert_eq!(f.matching("bmc01", "ipmi").len(), 1);
        assert!(f.matching("bmc02", "ipmi").is_empty());
        assert!(f.remove(id));
        assert!(f.is_empty());
    }
}
