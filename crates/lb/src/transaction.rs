//! iControl REST transactions (`/mgmt/tm/transaction`), sans-IO.
//!
//! As BIG-IP does them: `POST /mgmt/tm/transaction {}` opens one
//! (`transId`, state `STARTED`); a change sent with
//! `X-F5-REST-Coordination-Id: <transId>` is not applied but queued as a
//! command (answered with its body, `transId`, `commandId`, `evalOrder`,
//! kind `tm:transaction:commandsstate`, which f5-sdk accepts in place of
//! the object's own kind); `PATCH /mgmt/tm/transaction/<id>
//! {"state":"VALIDATING"}` runs the commands in `evalOrder` on the
//! configuration, all or nothing: the first failure restores the
//! configuration as it was and answers 400 `transaction failed:` with that
//! command's message. `validateOnly: true` runs them on a copy and leaves
//! the transaction `STARTED`, so it can still be committed (bigrest's
//! `transaction_validate` then re-sends the header to keep adding).
//!
//! Why queued commands are checked only for their route and JSON: BIG-IP
//! validates a command's object rules when the transaction runs (the point
//! of a transaction is that a virtual server may name a pool created by an
//! earlier command). Reads (`GET`) are not queued: they see the committed
//! configuration.
//!
//! Transactions are run-time state, not configuration: lost at restart. A
//! `STARTED` transaction not touched for `timeoutSeconds` (120 s, on the
//! model clock) is dropped silently, as BIG-IP drops it.

use crate::rest::ApiError;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Open or finished transactions kept per device.
pub const MAX_TRANSACTIONS: usize = 64;
/// Commands per transaction.
pub const MAX_COMMANDS: usize = 4096;
/// Bytes of queued command bodies per transaction.
pub const MAX_QUEUED_BYTES: usize = 8 << 20;
/// BIG-IP's default `timeoutSeconds`.
pub const DEFAULT_TIMEOUT_S: u64 = 120;
/// The longest `timeoutSeconds` accepted.
pub const MAX_TIMEOUT_S: u64 = 3600;

/// A transaction's state as BIG-IP names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxState {
    Started,
    Completed,
    Failed,
}

impl TxState {
    fn name(self) -> &'static str {
        match self {
            TxState::Started => "STARTED",
            TxState::Completed => "COMPLETED",
            TxState::Failed => "FAILED",
        }
    }
}

/// One queued change.
#[derive(Debug, Clone)]
pub struct Command {
    pub id: u64,
    pub eval_order: u64,
    pub method: String,
    /// Path (`/mgmt/tm/ltm/pool`) and query, as sent.
    pub path: String,
    pub query: String,
    pub body: Vec<u8>,
}

/// One transaction.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub id: u64,
    pub state: TxState,
    pub timeout_s: u64,
    /// Model-clock microseconds of the last change (creation, a command).
    pub touched_us: u64,
    pub commands: Vec<Command>,
    next_command: u64,
    queued_bytes: usize,
    pub validate_only: bool,
    pub failure: String,
}

/// The device's transactions.
#[derive(Debug, Default)]
pub struct Transactions {
    map: BTreeMap<u64, Transaction>,
    last_id: u64,
}

fn link(path: &str) -> String {
    crate::rest::link(path)
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        404,
        format!(
            "Transaction {} not found.",
            id.chars().take(32).collect::<String>()
        ),
    )
}

impl Transaction {
    pub fn json(&self) -> Value {
        json!({
            "transId": self.id,
            "state": self.state.name(),
            "timeoutSeconds": self.timeout_s,
            "asyncExecution": false,
            "validateOnly": self.validate_only,
            "executionTimeout": 300,
            "executionTime": 0,
            "failureReason": self.failure,
            "kind": "tm:transactionstate",
            "selfLink": link(&format!("transaction/{}", self.id)),
        })
    }

    fn command_json(&self, c: &Command) -> Value {
        let uri = if c.query.is_empty() {
            format!("https://localhost{}", c.path)
        } else {
            format!("https://localhost{}?{}", c.path, c.query)
        };
        let body: Value = serde_json::from_slice(&c.body).unwrap_or(Value::Null);
        json!({
            "method": c.method,
            "uri": uri,
            "body": body,
            "evalOrder": c.eval_order,
            "commandId": c.id,
            "kind": "tm:transaction:commandsstate",
            "selfLink": link(&format!("transaction/{}/commands/{}", self.id, c.id)),
        })
    }

    /// Commands in the order they run.
    pub fn ordered(&self) -> Vec<Command> {
        let mut v = self.commands.clone();
        v.sort_by_key(|c| (c.eval_order, c.id));
        v
    }
}

impl Transactions {
    /// Drops `STARTED` transactions idle past their timeout.
    fn expire(&mut self, now_us: u64) {
        self.map.retain(|_, t| {
            t.state != TxState::Started
                || now_us.saturating_sub(t.touched_us) < t.timeout_s.saturating_mul(1_000_000)
        });
    }

    /// `POST /mgmt/tm/transaction`.
    pub fn create(&mut self, body: &Map<String, Value>, now_us: u64) -> Result<Value, ApiError> {
        self.expire(now_us);
        let mut timeout_s = DEFAULT_TIMEOUT_S;
        for (k, v) in body {
            match k.as_str() {
                "timeoutSeconds" => {
                    timeout_s = v
                        .as_u64()
                        .filter(|n| (1..=MAX_TIMEOUT_S).contains(n))
                        .ok_or_else(|| {
                            ApiError::new(
                                400,
                                format!("timeoutSeconds must be 1 to {MAX_TIMEOUT_S}."),
                            )
                        })?;
                }
                "kind" | "selfLink" => {}
                _ => {
                    return Err(ApiError::new(
                        400,
                        format!(
                            "Found unexpected json pair at configuration item /transaction/: '{}'",
                            k.chars().take(64).collect::<String>()
                        ),
                    ))
                }
            }
        }
        if self.map.len() >= MAX_TRANSACTIONS {
            // Finished ones go first; open ones are the client's work.
            let done: Vec<u64> = self
                .map
                .iter()
                .filter(|(_, t)| t.state != TxState::Started)
                .map(|(k, _)| *k)
                .collect();
            match done.first() {
                Some(k) => {
                    self.map.remove(k);
                }
                None => {
                    return Err(ApiError::new(
                        400,
                        format!("Too many open transactions: at most {MAX_TRANSACTIONS}."),
                    ))
                }
            }
        }
        // BIG-IP's ids are clock-derived numbers; these are the model
        // clock's milliseconds, kept increasing.
        let id = (now_us / 1000).max(self.last_id + 1);
        self.last_id = id;
        let t = Transaction {
            id,
            state: TxState::Started,
            timeout_s,
            touched_us: now_us,
            commands: Vec::new(),
            next_command: 1,
            queued_bytes: 0,
            validate_only: false,
            failure: String::new(),
        };
        let v = t.json();
        self.map.insert(id, t);
        Ok(v)
    }

    /// The transaction a coordination header or path names.
    pub fn get(&mut self, id: &str, now_us: u64) -> Result<&mut Transaction, ApiError> {
        self.expire(now_us);
        let n: u64 = id.trim().parse().map_err(|_| not_found(id))?;
        self.map.get_mut(&n).ok_or_else(|| not_found(id))
    }

    pub fn remove(&mut self, id: &str, now_us: u64) -> Result<(), ApiError> {
        let n = self.get(id, now_us)?.id;
        self.map.remove(&n);
        Ok(())
    }

    pub fn collection(&mut self, now_us: u64) -> Value {
        self.expire(now_us);
        let items: Vec<Value> = self.map.values().map(Transaction::json).collect();
        json!({
            "kind": "tm:transactioncollectionstate",
            "selfLink": link("transaction"),
            "items": items,
        })
    }

    /// Queues a change under a coordination id; the answer is the queued
    /// command as BIG-IP shows it.
    pub fn queue(
        &mut self,
        id: &str,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
        now_us: u64,
    ) -> Result<Value, ApiError> {
        let t = self.get(id, now_us)?;
        if t.state != TxState::Started {
            return Err(ApiError::new(
                400,
                format!(
                    "Transaction {} is {}: commands can only be added to a STARTED transaction.",
                    t.id,
                    t.state.name()
                ),
            ));
        }
        if t.commands.len() >= MAX_COMMANDS || t.queued_bytes + body.len() > MAX_QUEUED_BYTES {
            return Err(ApiError::new(
                400,
                format!(
                    "Transaction {} is full: at most {MAX_COMMANDS} commands.",
                    t.id
                ),
            ));
        }
        let c = Command {
            id: t.next_command,
            eval_order: t.next_command,
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            body: body.to_vec(),
        };
        t.next_command += 1;
        t.queued_bytes += body.len();
        t.touched_us = now_us;
        // The answer: the request's own fields, then the command's.
        let mut out = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        out.insert("transId".into(), t.id.into());
        out.insert("commandId".into(), c.id.into());
        out.insert("evalOrder".into(), c.eval_order.into());
        out.insert("kind".into(), "tm:transaction:commandsstate".into());
        out.insert(
            "selfLink".into(),
            link(&format!("transaction/{}/commands/{}", t.id, c.id)).into(),
        );
        t.commands.push(c);
        Ok(Value::Object(out))
    }

    /// `GET .../commands`, `GET|DELETE|PATCH .../commands/<n>`.
    pub fn commands(
        &mut self,
        id: &str,
        command: Option<&str>,
        method: &str,
        body: Option<&Map<String, Value>>,
        now_us: u64,
    ) -> Result<Value, ApiError> {
        let t = self.get(id, now_us)?;
        let Some(cid) = command else {
            if method != "GET" {
                return Err(ApiError::new(
                    405,
                    "Method not allowed on a transaction's commands.",
                ));
            }
            let items: Vec<Value> = t.ordered().iter().map(|c| t.command_json(c)).collect();
            return Ok(json!({
                "kind": "tm:transaction:commandscollectionstate",
                "selfLink": link(&format!("transaction/{}/commands", t.id)),
                "items": items,
            }));
        };
        let missing = || {
            ApiError::new(
                404,
                format!(
                    "Command {} not found in transaction {}.",
                    cid.chars().take(32).collect::<String>(),
                    t.id
                ),
            )
        };
        let n: u64 = cid.parse().map_err(|_| missing())?;
        let Some(i) = t.commands.iter().position(|c| c.id == n) else {
            return Err(missing());
        };
        match method {
            "GET" => Ok(t.command_json(&t.commands[i])),
            "DELETE" if t.state == TxState::Started => {
                let c = t.commands.remove(i);
                t.queued_bytes = t.queued_bytes.saturating_sub(c.body.len());
                t.touched_us = now_us;
                Ok(Value::Null)
            }
            // Re-sequencing: `{"evalOrder": n}` moves the command to run
            // n-th; the others keep their relative order.
            "PATCH" if t.state == TxState::Started => {
                let order = body
                    .and_then(|b| b.get("evalOrder"))
                    .and_then(Value::as_u64)
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        ApiError::new(400, "\"evalOrder\" must be a positive number.")
                    })?;
                let mut seq = t.ordered();
                let pos = seq.iter().position(|c| c.id == n).unwrap_or(0);
                let c = seq.remove(pos);
                let at = usize::try_from(order - 1)
                    .unwrap_or(usize::MAX)
                    .min(seq.len());
                seq.insert(at, c);
                for (k, c) in seq.iter_mut().enumerate() {
                    c.eval_order = k as u64 + 1;
                }
                t.commands = seq;
                t.touched_us = now_us;
                let i = t.commands.iter().position(|c| c.id == n).unwrap_or(0);
                Ok(t.command_json(&t.commands[i]))
            }
            "DELETE" | "PATCH" => Err(ApiError::new(
                400,
                format!(
                    "Transaction {} is {}: its commands can no longer change.",
                    t.id,
                    t.state.name()
                ),
            )),
            _ => Err(ApiError::new(405, "Method not allowed on a command.")),
        }
    }
}
