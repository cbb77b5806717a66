//! A stream wrapper that applies TCP fault rules: delay each read from the
//! peer, and reset the connection after N bytes have been sent.

use crate::ConnState;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Faults that act on the byte stream.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamFaults {
    pub delay: Option<(Duration, Duration)>,
    pub reset_after: Option<u64>,
}

impl StreamFaults {
    pub fn is_none(&self) -> bool {
        self.delay.is_none() && self.reset_after.is_none()
    }
}

/// The connection's state and how to reset the stream (see
/// [`FaultyStream::reset_when`]).
type ResetHook<S> = (Arc<ConnState>, fn(&S));

/// The wrapper. With no faults it is a plain pass-through.
pub struct FaultyStream<S> {
    inner: S,
    faults: StreamFaults,
    /// Runs from the moment a chunk arrived from the peer; the chunk is
    /// handed on when it fires. Timing from arrival (not from when the
    /// service started waiting) is what makes a delay rule add its full
    /// latency to every request, however long the service sat idle first.
    sleep: Option<Pin<Box<Sleep>>>,
    /// A chunk read from the peer and not yet handed on, and how much of it
    /// was handed on already.
    held: Vec<u8>,
    held_pos: usize,
    written: u64,
    /// Resets the socket on drop when the connection's state asks for it
    /// ([`ConnState::reset_on_close`]); a function pointer so that this
    /// wrapper stays generic over the stream.
    reset: Option<ResetHook<S>>,
}

/// The most a delayed read holds back at once.
const HELD_MAX: usize = 64 * 1024;

impl<S> FaultyStream<S> {
    pub fn new(inner: S, faults: StreamFaults) -> Self {
        FaultyStream {
            inner,
            faults,
            sleep: None,
            held: Vec::new(),
            held_pos: 0,
            written: 0,
            reset: None,
        }
    }

    /// Calls `reset` on the stream when this wrapper is dropped if `state`
    /// asked for a reset by then ([`ConnState::reset_on_close`]).
    pub fn reset_when(mut self, state: Arc<ConnState>, reset: fn(&S)) -> Self {
        self.reset = Some((state, reset));
        self
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S> Drop for FaultyStream<S> {
    fn drop(&mut self) {
        if let Some((state, reset)) = &self.reset {
            if state.resets() {
                reset(&self.inner);
            }
        }
    }
}

fn jittered(base: Duration, jitter: Duration) -> Duration {
    if jitter.is_zero() {
        return base;
    }
    let extra = rand::random::<u64>() % (jitter.as_millis() as u64 + 1);
    base + Duration::from_millis(extra)
}

impl<S: AsyncRead + Unpin> AsyncRead for FaultyStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let Some((base, jitter)) = this.faults.delay else {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        };
        if this.held_pos >= this.held.len() {
            // Nothing held: take the next chunk from the peer and start its clock.
            this.held.resize(buf.remaining().clamp(1, HELD_MAX), 0);
            let mut rb = ReadBuf::new(&mut this.held);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Pending => {
                    this.held.clear();
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => {
                    this.held.clear();
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    this.held.truncate(n);
                    this.held_pos = 0;
                    if n == 0 {
                        // End of stream is passed on at once.
                        return Poll::Ready(Ok(()));
                    }
                    this.sleep = Some(Box::pin(tokio::time::sleep(jittered(base, jitter))));
                }
            }
        }
        if let Some(sleep) = this.sleep.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleep = None;
        }
        let n = buf.remaining().min(this.held.len() - this.held_pos);
        buf.put_slice(&this.held[this.held_pos..this.held_pos + n]);
        this.held_pos += n;
        if this.held_pos >= this.held.len() {
            this.held.clear();
            this.held_pos = 0;
        }
        Poll::Ready(Ok(()))
    }
}

use std::future::Future;

/// A write the kernel holds until the next write without it, a shutdown
/// or a close (MSG_MORE), for [`ConnState::last_writes`].
pub trait SendMore {
    /// `None`: the stream cannot hold a write; it is written as usual.
    fn poll_send_more(
        &self,
        _cx: &mut Context<'_>,
        _buf: &[u8],
    ) -> Option<Poll<io::Result<usize>>> {
        None
    }
}

impl SendMore for tokio::net::TcpStream {
    #[cfg(target_os = "linux")]
    fn poll_send_more(&self, cx: &mut Context<'_>, buf: &[u8]) -> Option<Poll<io::Result<usize>>> {
        use nix::sys::socket::{send, MsgFlags};
        use std::os::fd::AsRawFd;
        let flags = MsgFlags::from_bits_retain(nix::libc::MSG_MORE) | MsgFlags::MSG_NOSIGNAL;
        loop {
            match self.poll_write_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Some(Poll::Ready(Err(e))),
                Poll::Pending => return Some(Poll::Pending),
            }
            match self.try_io(tokio::io::Interest::WRITABLE, || {
                send(self.as_raw_fd(), buf, flags).map_err(io::Error::from)
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return Some(Poll::Ready(r)),
            }
        }
    }
}

impl<S: AsyncWrite + SendMore + Unpin> AsyncWrite for FaultyStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let mut allowed = buf.len();
        if let Some(limit) = this.faults.reset_after {
            let left = limit.saturating_sub(this.written);
            if left == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "fault rule: reset after N bytes",
                )));
            }
            allowed = allowed.min(left as usize);
        }
        let held = match &this.reset {
            Some((state, _)) if state.writes_are_last() => {
                this.inner.poll_send_more(cx, &buf[..allowed])
            }
            _ => None,
        };
        let r = match held {
            Some(r) => r,
            None => Pin::new(&mut this.inner).poll_write(cx, &buf[..allowed]),
        };
        if let Poll::Ready(Ok(n)) = r {
            this.written += n as u64;
        }
        r
    }

    /// Passed through when no reset is pending, so hyper can send headers
    /// and body in one `writev` instead of copying the body into its own
    /// buffer first; with `reset_after` the byte budget goes through
    /// `poll_write`, one buffer at a time.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.faults.reset_after.is_some() {
            let buf = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &**b);
            return self.poll_write(cx, buf);
        }
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            this.written += n as u64;
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // fault delays are real time, measured as such
mod tests {
    use super::*;
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    impl SendMore for tokio::io::DuplexStream {}

    /// A delay counts from when the peer's bytes arrive, not from when the
    /// service began waiting: a service that sat idle for longer than the
    /// delay still sees every later chunk held back by the full amount.
    #[tokio::test]
    async fn delay_counts_from_arrival_for_each_chunk() {
        let (mut peer, service) = tokio::io::duplex(1024);
        let mut s = FaultyStream::new(
            service,
            StreamFaults {
                delay: Some((Duration::from_millis(150), Duration::ZERO)),
                reset_after: None,
            },
        );
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let mut seen = Vec::new();
            for _ in 0..2 {
                let n = s.read(&mut buf).await.unwrap();
                seen.push((buf[..n].to_vec(), Instant::now()));
            }
            seen
        });
        // The service is already waiting; the peer writes only later.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let t0 = Instant::now();
        peer.write_all(b"abcd").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let t1 = Instant::now();
        peer.write_all(b"efgh").await.unwrap();
        let seen = reader.await.unwrap();
        assert_eq!(seen[0].0, b"abcd");
        assert_eq!(seen[1].0, b"efgh");
        // Each chunk held for the full delay after it arrived.
        assert!(
            seen[0].1 - t0 >= Duration::from_millis(150),
            "{:?}",
            seen[0].1 - t0
        );
        assert!(
            seen[1].1 - t1 >= Duration::from_millis(150),
            "{:?}",
            seen[1].1 - t1
        );
    }

    #[tokio::test]
    async fn end_of_stream_and_small_buffers_pass_through() {
        let (mut peer, service) = tokio::io::duplex(1024);
        let mut s = FaultyStream::new(
            service,
            StreamFaults {
                delay: Some((Duration::from_millis(1), Duration::ZERO)),
                reset_after: None,
            },
        );
        peer.write_all(b"hello world").await.unwrap();
        drop(peer);
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"hello world");
    }

    /// A connection whose state asks for a reset ends with RST when the
    /// service drops it; one that does not, with a FIN.
    #[tokio::test]
    async fn reset_on_close_sends_rst_and_a_plain_close_a_fin() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        for reset in [true, false] {
            let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (accepted, _) = listener.accept().await.unwrap();
            let state = Arc::new(ConnState::default());
            let s = FaultyStream::new(accepted, StreamFaults::default()).reset_when(
                state.clone(),
                |s: &tokio::net::TcpStream| {
                    let _ = s.set_zero_linger();
                },
            );
            if reset {
                state.reset_on_close();
            }
            drop(s);
            let mut buf = [0u8; 16];
            match client.read(&mut buf).await {
                Err(e) => assert!(
                    reset && e.kind() == io::ErrorKind::ConnectionReset,
                    "reset {reset}: {e}"
                ),
                Ok(n) => assert!(!reset && n == 0, "reset {reset}: read {n} bytes"),
            }
        }
    }

    /// Once the service says its next writes are its last, they are held
    /// by the kernel (MSG_MORE) until the shutdown, which sends them with
    /// the FIN; before, each write goes out at once.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn last_writes_wait_for_the_shutdown() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        accepted.set_nodelay(true).unwrap();
        let state = Arc::new(ConnState::default());
        let mut s = FaultyStream::new(accepted, StreamFaults::default())
            .reset_when(state.clone(), |_: &tokio::net::TcpStream| {});
        let mut buf = [0u8; 16];
        s.write_all(b"first").await.unwrap();
        client.readable().await.unwrap();
        assert_eq!(client.try_read(&mut buf).unwrap(), 5);
        state.last_writes();
        s.write_all(b"last").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            client.try_read(&mut buf).map_err(|e| e.kind()),
            Err(io::ErrorKind::WouldBlock),
            "the last write waits for the shutdown"
        );
        s.shutdown().await.unwrap();
        let mut client = client;
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"last");
    }
}
