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
            .on_thread_park(spin::before_park)
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
                spin::start();
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

/// Waiting for a connection's next request before a connection thread
/// sleeps.
///
/// Why: on one keep-alive connection a request's latency is set less by
/// fakedc's work than by waking its thread from idle: a sleeping thread
/// is woken by an interrupt, and on a virtual machine the idle CPU's
/// halt and wake-up cost more than the request (measured: 46 us of
/// server CPU per RetrieveServiceContent on an idle machine against 17 us
/// on a busy one). So before it sleeps a connection thread watches its
/// sockets for a short while, as Go's scheduler spins before parking and
/// Linux's busy polling does for network devices (loopback has none).
/// Bounded: at most [`spin::budget`] per sleep (and none once work woken
/// from another thread is queued), and a thread whose waits keep
/// missing (an idle connection, a slow client) stops spinning but for
/// one wait in 16, so idle connections cost no CPU.
pub(crate) mod spin {
    use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
    use std::cell::RefCell;
    use std::os::fd::AsFd;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    /// Longest spin before sleeping.
    pub(crate) fn budget() -> Duration {
        static B: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
        *B.get_or_init(|| {
            Duration::from_micros(
                std::env::var("FAKEDC_SPIN_US")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(50),
            )
        })
    }
    /// Most sockets a thread watches and still spins: the spin is for a
    /// lone client's next request. With more, the thread is rarely idle
    /// for long, and its spin takes CPU the clients need (measured: vSphere
    /// RetrievePropertiesEx on 8 connections, 4 per thread, 10-20% slower
    /// with every thread spinning).
    const MAX_SOCKETS: usize = 2;
    /// Threads spinning at once: one, so a spinning thread leaves the other
    /// cores to the clients and the other connection threads.
    static SPINNING: AtomicBool = AtomicBool::new(false);
    /// Consecutive misses after which the thread mostly stops spinning.
    const MISSES: u32 = 4;
    /// Then one wait in this many still spins, to notice traffic again.
    const PROBE: u32 = 16;

    /// A thread's own epoll set, watching its connections' sockets for
    /// readability (edge-triggered: every arrival is one event) next to
    /// the runtime's reactor, which still does the real waiting.
    struct Watch {
        epoll: Epoll,
        /// Sockets watched now (their [`Watched`] guards alive).
        live: usize,
        misses: u32,
        parks: u32,
    }

    thread_local! {
        static WATCH: RefCell<Option<Watch>> = const { RefCell::new(None) };
    }

    /// The calling thread's consecutive misses (tests).
    #[cfg(test)]
    fn misses() -> Option<u32> {
        WATCH.with(|w| w.borrow().as_ref().map(|w| w.misses))
    }

    /// Makes the calling thread a spinning one.
    pub(super) fn start() {
        if let Ok(epoll) = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC) {
            WATCH.with(|w| {
                *w.borrow_mut() = Some(Watch {
                    epoll,
                    live: 0,
                    misses: 0,
                    parks: 0,
                })
            });
        }
    }

    /// Watches `fd` when called on a spinning thread (a no-op elsewhere)
    /// while the guard lives; keep it as long as the socket is served, and
    /// drop it on the same thread (a connection's task does). A closed
    /// socket leaves the epoll set by itself.
    pub(crate) fn watch(fd: impl AsFd) -> Watched {
        add(fd, true)
    }

    /// Watches a datagram socket as [`watch`] does, without counting it
    /// against [`MAX_SOCKETS`]: a thread serves many BMCs' sockets (50
    /// each with 100 BMCs on two threads), nearly all idle, and a lone
    /// console's four-round-trip RMCP+ handshake or one session's requests
    /// wait on the thread's wake-up as a lone TCP client's did. Busy
    /// datagram sockets cost nothing to spin for (the spin ends at the
    /// first arrival), idle ones make the thread back off after
    /// [`MISSES`].
    pub(crate) fn watch_uncounted(fd: impl AsFd) -> Watched {
        add(fd, false)
    }

    /// Adds `fd` to the thread's epoll set, and to [`Watch::live`] when
    /// `count`.
    fn add(fd: impl AsFd, count: bool) -> Watched {
        WATCH.with(|w| {
            let mut w = w.borrow_mut();
            let Some(w) = w.as_mut() else {
                return Watched { counted: false };
            };
            let ev = EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLET, 0);
            let counted = w.epoll.add(fd, ev).is_ok() && count;
            if counted {
                w.live += 1;
            }
            Watched { counted }
        })
    }

    /// A watched socket, counted in its thread's [`Watch::live`].
    pub(crate) struct Watched {
        counted: bool,
    }

    impl Drop for Watched {
        fn drop(&mut self) {
            if self.counted {
                // try_with: a guard dropped while the thread exits.
                let _ = WATCH.try_with(|w| {
                    if let Ok(mut w) = w.try_borrow_mut() {
                        if let Some(w) = w.as_mut() {
                            w.live = w.live.saturating_sub(1);
                        }
                    }
                });
            }
        }
    }

    /// The runtime's hook before it sleeps: spins until a watched socket
    /// becomes readable or the budget is spent.
    // The budget is the CPU's real time, not the model's clock (which a
    // test may pause or run fast).
    #[allow(clippy::disallowed_methods)]
    pub(super) fn before_park() {
        let budget = budget();
        if budget.is_zero() {
            return;
        }
        WATCH.with(|w| {
            let mut w = w.borrow_mut();
            let Some(w) = w.as_mut() else { return };
            w.parks = w.parks.wrapping_add(1);
            if w.live > MAX_SOCKETS || (w.misses >= MISSES && w.parks % PROBE != 0) {
                return;
            }
            if SPINNING
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                return;
            }
            let _spinning = Release;
            // Work woken from another thread (the blocking pool's answer,
            // a channel) waits in the runtime's queue: stop spinning for it.
            let metrics = tokio::runtime::Handle::try_current()
                .ok()
                .map(|h| h.metrics());
            let queued = || metrics.as_ref().is_some_and(|m| m.global_queue_depth() > 0);
            let mut events = [EpollEvent::empty(); 8];
            let start = Instant::now();
            loop {
                if queued() {
                    return;
                }
                if matches!(w.epoll.wait(&mut events, EpollTimeout::ZERO), Ok(n) if n > 0) {
                    w.misses = 0;
                    return;
                }
                if start.elapsed() >= budget {
                    w.misses = w.misses.saturating_add(1);
                    return;
                }
                // Yield rather than spin on the CPU: on a busy machine the
                // client this thread waits for may need this very core.
                std::thread::yield_now();
            }
        });
    }

    /// Clears [`SPINNING`] however the spin ends.
    struct Release;

    impl Drop for Release {
        fn drop(&mut self) {
            SPINNING.store(false, Ordering::Release);
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::net::UdpSocket;

        /// A watched socket with data ends the spin as a hit; an empty one
        /// spends the budget and counts a miss; after MISSES misses only
        /// one wait in PROBE spins; a hit makes the thread spin again.
        #[test]
        fn spins_until_a_watched_socket_is_readable_and_backs_off_when_idle() {
            std::thread::spawn(|| {
                start();
                let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
                let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
                // Waits until `done` (at most `n` of them): another test's
                // connection thread may hold SPINNING for a moment, and
                // then a wait neither spins nor counts.
                let park_until = |n: u32, done: &dyn Fn() -> bool| {
                    (0..n).any(|_| {
                        before_park();
                        done()
                    })
                };
                let watched = watch(&rx);
                park_until(10_000, &|| misses() >= Some(MISSES));
                assert_eq!(misses(), Some(MISSES));
                // Backed off: the next wait returns without spinning, so it
                // counts no further miss.
                before_park();
                assert_eq!(misses(), Some(MISSES));
                tx.send_to(b"next request", rx.local_addr().expect("addr"))
                    .expect("send");
                // A probe wait spins, sees the datagram and resets the count.
                let hit = park_until(100 * PROBE, &|| misses() == Some(0));
                assert!(hit, "no probe saw the datagram");
                // A thread watching more than MAX_SOCKETS does not spin.
                let others: Vec<UdpSocket> = (0..MAX_SOCKETS)
                    .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind"))
                    .collect();
                let guards: Vec<Watched> = others.iter().map(watch).collect();
                let before = misses();
                for _ in 0..PROBE {
                    before_park();
                }
                assert_eq!(misses(), before, "spun with {} sockets", MAX_SOCKETS + 1);
                drop(guards);
                // Datagram sockets do not count: with more than MAX_SOCKETS
                // of them watched uncounted the thread still spins (an
                // empty wait misses), and sees a datagram on any of them.
                let idle: Vec<UdpSocket> = (0..4 * MAX_SOCKETS)
                    .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind"))
                    .collect();
                let uncounted: Vec<Watched> = idle.iter().map(watch_uncounted).collect();
                park_until(10_000, &|| misses() != Some(0));
                assert_eq!(
                    misses(),
                    Some(1),
                    "no spin with {} datagram sockets",
                    idle.len()
                );
                let target = idle.last().expect("sockets");
                tx.send_to(b"next request", target.local_addr().expect("addr"))
                    .expect("send");
                let seen = park_until(100 * PROBE, &|| misses() == Some(0));
                assert!(seen, "the spin missed a datagram on an uncounted socket");
                drop(uncounted);
                drop(watched);
            })
            .join()
            .expect("the spinning thread");
        }
    }
}
