//! A stream wrapper that applies TCP fault rules: delay each read from the
//! peer, and reset the connection after N bytes have been sent.

use std::io;
use std::pin::Pin;
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

/// The wrapper. With no faults it is a plain pass-through.
pub struct FaultyStream<S> {
    inner: S,
    faults: StreamFaults,
    sleep: Option<Pin<Box<Sleep>>>,
    /// Set after the delay for the current read has elapsed.
    delayed: bool,
    written: u64,
}

impl<S> FaultyStream<S> {
    pub fn new(inner: S, faults: StreamFaults) -> Self {
        FaultyStream {
            inner,
            faults,
            sleep: None,
            delayed: false,
            written: 0,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
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
        if let Some((base, jitter)) = this.faults.delay {
            if !this.delayed {
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(jittered(base, jitter))));
                match sleep.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(()) => {
                        this.sleep = None;
                        this.delayed = true;
                    }
                }
            }
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            // The next chunk from the peer waits again.
            this.delayed = false;
        }
        r
    }
}

use std::future::Future;

impl<S: AsyncWrite + Unpin> AsyncWrite for FaultyStream<S> {
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
        let r = Pin::new(&mut this.inner).poll_write(cx, &buf[..allowed]);
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
