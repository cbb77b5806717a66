//! Streaming helpers shared by the server and the client: a body fed by a
//! producer task through a small channel, read buffers taken back from
//! hyper once it has sent them, body frames written to a file as they came
//! (vectored writes of at most 64 KiB, no gathering copy), and a file writer
//! that keeps one write in flight while the next megabyte arrives.

use bytes::{Bytes, BytesMut};
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
        let mut bufs = ReadBufs::new(chunk, ahead + 2);
        let mut pos = off;
        let end = off + len;
        while pos < end {
            let n = ((end - pos) as usize).min(chunk);
            let f = file.clone();
            let r = read_blocking(&mut bufs, n, move |b| f.read_exact_at(b, pos)).await;
            let failed = r.is_err();
            if tx.send(r).await.is_err() || failed {
                return;
            }
            pos += n as u64;
        }
    });
    ChannelBody::new(rx, len).boxed()
}

/// Fills `n` bytes of a buffer from `bufs` with `fill` on the blocking
/// pool and lends them out as `Bytes`.
pub async fn read_blocking(
    bufs: &mut ReadBufs,
    n: usize,
    fill: impl FnOnce(&mut [u8]) -> io::Result<()> + Send + 'static,
) -> io::Result<Bytes> {
    let mut buf = bufs.take(n);
    let (buf, r) = tokio::task::spawn_blocking(move || {
        let r = fill(&mut buf[..n]);
        (buf, r)
    })
    .await
    .map_err(|e| io::Error::other(e.to_string()))?;
    r.map(|()| bufs.lend(buf, n))
}

/// Read buffers for a streamed body, lent to hyper as `Bytes` and taken
/// back once hyper has written and dropped them. A fresh zeroed buffer per
/// chunk cost a memset and page faults for every byte sent (the largest
/// entries of the download profile after the copies); a buffer taken back
/// is already initialised, so it is read into as it is. At most `keep`
/// buffers are remembered: when every one is still out (a slow socket), a
/// new one is made and not kept, so memory stays bounded by what the body's
/// channel lets through.
pub struct ReadBufs {
    /// Whole buffers (length `size`), shared with the slices lent out.
    lent: Vec<Bytes>,
    size: usize,
    keep: usize,
}

impl ReadBufs {
    pub fn new(size: usize, keep: usize) -> ReadBufs {
        ReadBufs {
            lent: Vec::with_capacity(keep),
            size,
            keep,
        }
    }

    /// A buffer of at least `n` bytes, initialised (contents arbitrary).
    pub fn take(&mut self, n: usize) -> BytesMut {
        if n <= self.size {
            if let Some(i) = self.lent.iter().position(Bytes::is_unique) {
                if let Ok(b) = self.lent.swap_remove(i).try_into_mut() {
                    return b;
                }
            }
        }
        BytesMut::zeroed(n.max(self.size))
    }

    /// Its first `n` bytes as `Bytes`; the whole buffer is kept to be
    /// taken back when the slice is dropped.
    pub fn lend(&mut self, buf: BytesMut, n: usize) -> Bytes {
        let whole = buf.freeze();
        let out = whole.slice(..n.min(whole.len()));
        if whole.len() == self.size && self.lent.len() < self.keep {
            self.lent.push(whole);
        }
        out
    }
}

/// Most pieces one `pwritev` takes (Linux's `IOV_MAX`).
const MAX_IOV: usize = 1024;

/// Body frames gathered for one write, as hyper handed them: writing them
/// with `pwritev` spares the copy into a megabyte buffer (7% of the
/// server's CPU on an upload); each call takes at most [`WRITE_PIECE`]
/// bytes (see there why not the whole megabyte). Bounded in pieces as
/// well as bytes, so a peer sending tiny TLS records cannot grow the list.
#[derive(Default)]
pub struct Frames {
    frames: Vec<Bytes>,
    len: usize,
}

impl Frames {
    pub fn with_capacity(n: usize) -> Frames {
        Frames {
            frames: Vec::with_capacity(n.min(MAX_IOV)),
            len: 0,
        }
    }

    pub fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.len += b.len();
            self.frames.push(b);
        }
    }

    /// Bytes gathered.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a write is due: a megabyte, or as many pieces as one
    /// `pwritev` takes.
    pub fn full(&self) -> bool {
        self.len >= WRITE_CHUNK || self.frames.len() >= MAX_IOV
    }

    /// Drops the frames (back to hyper's buffers), keeping the list.
    pub fn clear(&mut self) {
        self.frames.clear();
        self.len = 0;
    }

    /// Writes every frame at `at`, in order (blocking), at most
    /// [`WRITE_PIECE`] bytes per `pwritev`.
    pub fn write_at(&self, file: &File, mut at: u64) -> io::Result<()> {
        let mut slices: Vec<io::IoSlice<'_>> = Vec::with_capacity(16);
        // Where the next write starts: a frame and an offset in it.
        let (mut frame, mut inner) = (0usize, 0usize);
        loop {
            slices.clear();
            let (mut f, mut i, mut n) = (frame, inner, 0usize);
            while n < WRITE_PIECE && slices.len() < MAX_IOV {
                let Some(b) = self.frames.get(f) else { break };
                let b = &b[i..];
                let take = b.len().min(WRITE_PIECE - n);
                slices.push(io::IoSlice::new(&b[..take]));
                n += take;
                if take == b.len() {
                    (f, i) = (f + 1, 0);
                } else {
                    i += take;
                }
            }
            if n == 0 {
                return Ok(());
            }
            match rustix::io::pwritev(file, &slices, at) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(mut w) => {
                    at += w as u64;
                    while w > 0 {
                        let left = self.frames[frame].len() - inner;
                        if w < left {
                            inner += w;
                            w = 0;
                        } else {
                            w -= left;
                            (frame, inner) = (frame + 1, 0);
                        }
                    }
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Bytes gathered before one write.
pub const WRITE_CHUNK: usize = 1 << 20;

/// Most bytes one `pwritev` writes. The page cache sizes the folios of a
/// buffered write by the write's length (ext4 uses large folios on recent
/// kernels; this machine runs 6.18), so a megabyte per call asks for megabyte folios; on a VM whose
/// free memory is handed back to the host (virtio-balloon free page
/// reporting, at 2 MiB), those come from blocks the host must fault in
/// again, and the copy into them cost 5-10x a small write's: 1 GiB in
/// 1 MiB writes took 0.9-1.9 s of system time here, in 64 KiB writes
/// 0.35-0.6 s (`python3` pwrite loops, alternated). Curl writes 16 KiB at a
/// time and never paid it; this client's download did (52% of its CPU in
/// `copy_folio_from_iter_atomic`). Sixteen calls per megabyte cost little
/// next to that.
pub const WRITE_PIECE: usize = 64 << 10;

/// Appends to a file at increasing offsets with one `pwrite` in flight on
/// the blocking pool while the caller keeps receiving. The frames are
/// written as they came ([`Frames`]); two frame lists are reused for the
/// whole transfer.
pub struct PipeWriter {
    file: Arc<File>,
    /// Offset of `buf[0]`.
    buf_at: u64,
    buf: Frames,
    /// The other list, back from the last write.
    spare: Option<Frames>,
    inflight: Option<tokio::task::JoinHandle<(Frames, io::Result<u64>)>>,
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
            buf: Frames::default(),
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

    pub async fn push(&mut self, data: Bytes) -> io::Result<()> {
        self.buf.push(data);
        if self.buf.full() {
            self.wait().await?;
            self.spawn();
        }
        Ok(())
    }

    fn spawn(&mut self) {
        let next = self.spare.take().unwrap_or_default();
        let mut chunk = std::mem::replace(&mut self.buf, next);
        let at = self.buf_at;
        self.buf_at += chunk.len() as u64;
        let f = self.file.clone();
        self.inflight = Some(tokio::task::spawn_blocking(move || {
            let r = chunk.write_at(&f, at).map(|()| at + chunk.len() as u64);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_buffers_come_back_once_the_slice_is_dropped() {
        let mut bufs = ReadBufs::new(8, 2);
        let mut b = bufs.take(8);
        b[..3].copy_from_slice(b"abc");
        let first = bufs.lend(b, 3);
        assert_eq!(&first[..], b"abc");
        let at = first.as_ptr();
        // Still out: a second buffer is made.
        let second = bufs.take(8);
        assert_ne!(second.as_ptr(), at);
        drop(first);
        // Back: the same memory, whole and initialised.
        let again = bufs.take(8);
        assert_eq!(again.as_ptr(), at);
        assert_eq!(again.len(), 8);
        assert_eq!(&again[..3], b"abc");
        // Larger than the pool's size: a buffer of its own.
        assert_eq!(bufs.take(20).len(), 20);
    }

    #[test]
    fn frames_are_written_in_order_at_the_offset() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("fakedc-bits-frames-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("f");
        let file = File::options()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)?;
        let mut f = Frames::with_capacity(4);
        let body = Bytes::from_static(b"hello, frames");
        f.push(body.slice(..5));
        f.push(Bytes::new());
        f.push(body.slice(5..));
        assert_eq!(f.len(), 13);
        // More pieces than one pwritev takes.
        let mut many = Frames::default();
        for _ in 0..(MAX_IOV + 10) {
            many.push(Bytes::from_static(b"x"));
        }
        assert!(many.full());
        f.write_at(&file, 3)?;
        many.write_at(&file, 16)?;
        let mut got = vec![0u8; 16 + MAX_IOV + 10];
        file.read_exact_at(&mut got, 0)?;
        assert_eq!(&got[3..16], b"hello, frames");
        assert!(got[16..].iter().all(|b| *b == b'x'));
        // Frames larger than one write's piece, and pieces that end inside
        // a frame: every byte lands once, in order.
        let big: Vec<u8> = (0..(WRITE_PIECE * 2 + 777))
            .map(|i| (i % 251) as u8)
            .collect();
        let big = Bytes::from(big);
        let mut split = Frames::default();
        split.push(big.slice(..100));
        split.push(big.slice(100..WRITE_PIECE + 5));
        split.push(big.slice(WRITE_PIECE + 5..));
        split.write_at(&file, 1000)?;
        let mut back = vec![0u8; big.len()];
        file.read_exact_at(&mut back, 1000)?;
        assert!(back == big[..]);
        f.clear();
        assert!(f.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
