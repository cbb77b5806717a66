//! The client side of HTTP/1.1 that probes and benchmark clients share:
//! reading one response (status line, headers, a `Content-Length` body)
//! off a stream, with limits, so each protocol's client keeps only its own
//! requests and error wording.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Longest response head read.
const MAX_HEAD: usize = 64 * 1024;

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why a response could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// Not an HTTP answer, or one over the limits.
    #[error("{0}")]
    Protocol(String),
}

/// Reads one response. `head_only` (the answer to a HEAD) reads no body;
/// a body longer than `max_body` is refused.
pub async fn read_response<S: AsyncRead + Unpin + ?Sized>(
    io: &mut S,
    head_only: bool,
    max_body: usize,
) -> Result<Response, ReadError> {
    let protocol = |s: &str| ReadError::Protocol(s.to_string());
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 64 << 10];
    let header_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        if buf.len() > MAX_HEAD {
            return Err(protocol("headers too long"));
        }
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Err(protocol("connection closed"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|s| s.get(2..5))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ReadError::Protocol(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = if head_only {
        0
    } else {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    };
    if len > max_body {
        return Err(protocol("response too large"));
    }
    let mut body = buf[header_end + 4..].to_vec();
    while body.len() < len {
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Err(protocol("connection closed mid-body"));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    Ok(Response {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_head_and_body_and_enforces_limits() {
        let raw: &[u8] = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM\r\nContent-Length: 3\r\n\r\nabcEXTRA";
        let r = read_response(&mut &raw[..], false, 10)
            .await
            .expect("response");
        assert_eq!(r.status, 401);
        assert_eq!(r.header("www-authenticate"), Some("NTLM"));
        assert_eq!(r.body, b"abc");
        let r = read_response(&mut &raw[..], true, 10).await.expect("head");
        assert!(r.body.is_empty());
        assert!(read_response(&mut &raw[..], false, 2).await.is_err());
        assert!(read_response(&mut &b"SSH-2.0-x\r\n\r\n"[..], false, 10)
            .await
            .is_err());
    }
}
