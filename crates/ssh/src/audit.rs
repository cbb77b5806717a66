//! Journaling for every SSH front (login, SFTP, shell, CLP): one place that
//! stamps machine, service, peer and user on each record.

use fakedc_model::{Model, Record};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Longest operation text journaled (commands can be long; the journal is
/// bounded in entries, not bytes).
const MAX_OP: usize = 512;

/// Who is doing what, for the journal.
#[derive(Clone)]
pub struct Audit {
    pub model: Arc<Model>,
    pub machine: String,
    pub service: &'static str,
    pub peer: Option<SocketAddr>,
    pub user: Option<String>,
}

impl Audit {
    pub fn record(&self, operation: impl Into<String>, outcome: impl Into<String>) {
        self.record_timed(operation, outcome, Duration::ZERO);
    }

    pub fn record_timed(
        &self,
        operation: impl Into<String>,
        outcome: impl Into<String>,
        latency: Duration,
    ) {
        let mut operation = operation.into();
        if operation.len() > MAX_OP {
            let mut cut = MAX_OP;
            while !operation.is_char_boundary(cut) {
                cut -= 1;
            }
            operation.truncate(cut);
            operation.push('…');
        }
        self.model.journal.record(Record {
            machine: self.machine.clone(),
            service: self.service.into(),
            peer: self.peer,
            user: self.user.clone(),
            operation,
            outcome: outcome.into(),
            latency,
        });
    }
}
