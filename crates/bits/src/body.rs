//! Streaming helpers shared by the server and the client: a body fed by a
//! producer task through a small channel, and a file writer that keeps one
//! write in flight while the next megabyte arrives.

use bytes::Bytes;
use fakedc_net::Body;
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A body whose chunks arrive through a channel; `remaining` is the exact
/// length still to come, so hyper can frame it with Content-Length and a
/// producer that stops early is reported as an error, not a short body.
pub struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    remaining: u64,
}

impl ChannelBody {
    pub fn new(rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>, len: u64) -> ChannelBody {
        ChannelBody { rx, remaining: len }
    }
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(b))) => {
                self.remaining = self.remaining.saturating_sub(b.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) if self.remaining > 0 => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "body source ended early",
            )))),
            Poll::Ready(None) => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// A body of `len` bytes of `file` from `off`, read `chunk` bytes at a
/// time on the blocking pool, `ahead` chunks ahead of the socket.
pub fn file_body(file: Arc<File>, off: u64, len: u64, chunk: usize, ahead: usize) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(ahead.max(1));
    tokio::spawn(async move {
        let mut pos = off;
        let end = off + len;
        while pos < end {
            let n = ((end - pos) as usize).min(chunk);
            let f = file.clone();
            let r = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; n];
                f.read_exact_at(&mut buf, pos).map(|()| Bytes::from(buf))
            })
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
            let failed = r.is_err();
            if tx.send(r).await.is_err() || failed {
                return;
            }
            pos += n as u64;
        }
    });
    ChannelBody::new(rx, len).boxed()
}

/// Bytes gathered before one write.
pub const WRITE_CHUNK: usize = 1 << 20;
/// Capacity of a write buffer: a chunk plus one more read's worth, so
/// pushing never reallocates.
const WRITE_CAP: usize = WRITE_CHUNK + (256 << 10);

/// Appends to a file at increasing offsets with one `pwrite` in flight on
/// the blocking pool while the caller keeps receiving. Two buffers are
/// reused for the whole transfer: fresh memory for every megabyte would
/// cost page faults (and, in a VM, first-touch faults on the host) that
/// show up as a third of the CPU time.
pub struct PipeWriter {
    file: Arc<File>,
    /// Offset of `buf[0]`.
    buf_at: u64,
    buf: Vec<u8>,
    /// The other buffer, back from the last write.
    spare: Option<Vec<u8>>,
    inflight: Option<tokio::task::JoinHandle<(Vec<u8>, io::Result<u64>)>>,
    /// End of the data known to be written.
    written: u64,
    /// Flush-behind: past this offset a background `fdatasync` starts, so
    /// the final fsync (the file is renamed into place only when durable)
    /// has little left to wait for.
    next_sync: u64,
    syncing: Arc<std::sync::atomic::AtomicBool>,
}

/// Bytes between background `fdatasync`s.
pub const SYNC_EVERY: u64 = 64 << 20;

impl PipeWriter {
    pub fn new(file: Arc<File>, at: u64) -> PipeWriter {
        PipeWriter {
            file,
            buf_at: at,
            buf: Vec::with_capacity(WRITE_CAP),
            spare: None,
            inflight: None,
            written: at,
            next_sync: at + SYNC_EVERY,
            syncing: Arc::default(),
        }
    }

    /// End of the data known to be on disk (page cache).
    pub fn written(&self) -> u64 {
        self.written
    }

    async fn wait(&mut self) -> io::Result<()> {
        if let Some(h) = self.inflight.take() {
            let (buf, r) = h.await.map_err(|e| io::Error::other(e.to_string()))?;
            self.spare = Some(buf);
            self.written = r?;
            self.flush_behind();
        }
        Ok(())
    }

    fn flush_behind(&mut self) {
        use std::sync::atomic::Ordering;
        if self.written < self.next_sync || self.syncing.swap(true, Ordering::AcqRel) {
            return;
        }
        self.next_sync = self.written + SYNC_EVERY;
        let (f, flag) = (self.file.clone(), self.syncing.clone());
        tokio::task::spawn_blocking(move || {
            let _ = f.sync_data();
            flag.store(false, Ordering::Release);
        });
    }

    pub async fn push(&mut self, data: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= WRITE_CHUNK {
            self.wait().await?;
            self.spawn();
        }
        Ok(())
    }

    fn spawn(&mut self) {
        let next = self
            .spare
            .take()
            .unwrap_or_else(|| Vec::with_capacity(WRITE_CAP));
        let mut chunk = std::mem::replace(&mut self.buf, next);
        let at = self.buf_at;
        self.buf_at += chunk.len() as u64;
        let f = self.file.clone();
        self.inflight = Some(tokio::task::spawn_blocking(move || {
            let r = f.write_all_at(&chunk, at).map(|()| at + chunk.len() as u64);
            chunk.clear();
            (chunk, r)
        }));
    }

    /// Writes everything buffered; returns the end offset written.
    pub async fn finish(&mut self) -> io::Result<u64> {
        self.wait().await?;
        if !self.buf.is_empty() {
            self.spawn();
            self.wait().await?;
        }
        Ok(self.written)
    }
}
