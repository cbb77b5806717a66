//! The connection threads: a few current-thread runtimes, one OS thread
//! each, owned by the [`crate::Network`], on which every accepted TCP
//! connection is served.
//!
//! Why: on the multi-thread runtime a lone keep-alive connection's task
//! is woken by whichever worker polled the reactor, and the other worker
//! is woken to look for work, so every request paid futex and eventfd
//! wake-ups and a thread hand-off (measured: IPMI spent a third of its
//! server CPU per request on context switches). On a connection thread
//! the socket's readiness, the service's work and the answer stay on one
//! thread. Connections are spread over the threads in turn; what they
//! give up is work stealing: a long request delays the other
//! connections of its thread (blocking work already goes to the blocking
//! pool).
//!
//! The threads live as long as the network: dropping [`ConnThreads`]
//! stops them, and a stopped thread drops its runtime with every task
//! still on it, as the main runtime's shutdown does for its own.

use fakedc_model::ServiceKind;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Whether connections of `kind` move to a connection thread. Not the
/// load balancer's virtual servers and the web sites behind them: their
/// clients open a connection per request or few (curl, health monitors,
/// the proxy's member connections), and the move costs a new connection a
/// reactor hand-over and a wake-up of the other thread, measured at
/// +30 us of fakedc's CPU per balanced connection (`cargo bench --bench
/// lb`), more than the thread saves on its few requests.
pub(crate) fn moves(kind: ServiceKind) -> bool {
    !matches!(
        kind,
        ServiceKind::LbHttp | ServiceKind::LbHttps | ServiceKind::Web
    )
}

/// Most connection threads, whatever the core count.
const MAX_THREADS: usize = 4;

/// Handles of the connection threads' runtimes, for spawning.
pub(crate) struct ConnPool {
    handles: Vec<Handle>,
    next: AtomicUsize,
}

impl ConnPool {
    /// The next thread's runtime in turn; `None` when there are none (the
    /// caller then serves on its own runtime).
    pub(crate) fn next(&self) -> Option<&Handle> {
        if self.handles.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        self.handles.get(i)
    }
}

/// The threads themselves: dropping this stops them.
pub(crate) struct ConnThreads {
    stop: CancellationToken,
}

impl Drop for ConnThreads {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The name of every thread fakedc runs on: the main runtime's workers
/// and blocking threads (`Datacenter` names them), the connection threads
/// and their blocking threads. One name, so per-thread CPU accounting (the
/// benchmarks read /proc by thread name) counts all of fakedc's work.
pub const THREAD_NAME: &str = "fakedc";

/// Starts one connection thread per core (at most [`MAX_THREADS`]).
pub(crate) fn start() -> (ConnPool, ConnThreads) {
    let stop = CancellationToken::new();
    let n = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS));
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .thread_name(THREAD_NAME)
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                warn!(error = %e, "no connection runtime; serving on the main one");
                break;
            }
        };
        let handle = rt.handle().clone();
        let stop = stop.clone();
        let spawned = std::thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || {
                rt.block_on(stop.cancelled());
                // Dropping the runtime here drops every task left on it.
                drop(rt);
            });
        match spawned {
            Ok(_) => handles.push(handle),
            Err(e) => {
                warn!(error = %e, "no connection thread; serving on the main one");
                break;
            }
        }
    }
    (
        ConnPool {
            handles,
            next: AtomicUsize::new(0),
        },
        ConnThreads { stop },
    )
}
