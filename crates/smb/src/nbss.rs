//! The transport framing SMB2 rides on: Direct TCP on 445 (MS-SMB2 2.1:
//! a zero byte and a 24-bit big-endian length) and the NetBIOS session
//! service on 139 (RFC 1002 4.3: session request, positive and negative
//! responses, keepalives, then the same messages).
//!
//! Sans-IO: [`next_frame`] looks at buffered bytes and says how long the
//! next frame is, refusing lengths over the caller's limit before any of
//! the body has arrived.

/// NetBIOS session packet types (RFC 1002 4.3.1).
pub const SESSION_MESSAGE: u8 = 0x00;
pub const SESSION_REQUEST: u8 = 0x81;
pub const POSITIVE_RESPONSE: u8 = 0x82;
pub const NEGATIVE_RESPONSE: u8 = 0x83;
pub const KEEPALIVE: u8 = 0x85;

/// Negative response codes (RFC 1002 4.3.4).
pub const NOT_LISTENING_ON_CALLED_NAME: u8 = 0x80;
pub const CALLED_NAME_NOT_PRESENT: u8 = 0x82;
pub const UNSPECIFIED_ERROR: u8 = 0x8F;

/// Why the byte stream cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes is over the {max}-byte limit")]
    TooLong { len: usize, max: usize },
    #[error("unknown session packet type {0:#04x}")]
    UnknownType(u8),
}

/// One frame's place in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    /// Bytes of the frame's body (after the 4-byte header).
    pub len: usize,
}

impl Frame {
    /// The whole frame, header included.
    pub fn total(&self) -> usize {
        4 + self.len
    }
}

/// The next frame in `buf`, or `None` while its header is incomplete. The
/// body may still be arriving (`buf.len() < frame.total()`). Lengths are
/// 24 bits for session messages (what Windows and Samba send on both
/// ports) and 17 bits (RFC 1002's E bit) for the other packet types.
pub fn next_frame(buf: &[u8], max: usize) -> Result<Option<Frame>, FrameError> {
    let [kind, a, b, c, ..] = *buf else {
        return Ok(None);
    };
    let len = match kind {
        SESSION_MESSAGE => (usize::from(a) << 16) | (usize::from(b) << 8) | usize::from(c),
        SESSION_REQUEST | POSITIVE_RESPONSE | NEGATIVE_RESPONSE | KEEPALIVE | 0x84 => {
            (usize::from(a & 1) << 16) | (usize::from(b) << 8) | usize::from(c)
        }
        k => return Err(FrameError::UnknownType(k)),
    };
    if len > max {
        return Err(FrameError::TooLong { len, max });
    }
    Ok(Some(Frame { kind, len }))
}

/// The 4-byte header of a session message of `len` bytes (at most 2^24-1;
/// callers never build larger ones).
pub fn message_header(len: usize) -> [u8; 4] {
    let l = u32::try_from(len.min(0x00FF_FFFF)).unwrap_or(0x00FF_FFFF);
    let [_, a, b, c] = l.to_be_bytes();
    [SESSION_MESSAGE, a, b, c]
}

pub fn positive_response() -> [u8; 4] {
    [POSITIVE_RESPONSE, 0, 0, 0]
}

pub fn negative_response(code: u8) -> [u8; 5] {
    [NEGATIVE_RESPONSE, 0, 0, 1, code]
}

/// A NetBIOS name as a session request carries it: the 15 name characters
/// (trailing spaces removed) and the suffix byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbName {
    pub name: String,
    pub suffix: u8,
}

/// The called and calling names of a session request body (RFC 1002
/// 4.3.2): two first-level encoded names, each a length byte of 32, 32
/// half-ASCII bytes and a zero (no scope).
pub fn parse_session_request(body: &[u8]) -> Option<(NbName, NbName)> {
    let (called, rest) = decode_name(body)?;
    let (calling, _) = decode_name(rest)?;
    Some((called, calling))
}

fn decode_name(b: &[u8]) -> Option<(NbName, &[u8])> {
    let (&len, rest) = b.split_first()?;
    if len != 32 {
        return None;
    }
    let enc = rest.get(..32)?;
    let mut raw = [0u8; 16];
    for (i, pair) in enc.chunks_exact(2).enumerate() {
        let hi = pair[0].checked_sub(b'A').filter(|v| *v < 16)?;
        let lo = pair[1].checked_sub(b'A').filter(|v| *v < 16)?;
        raw[i] = (hi << 4) | lo;
    }
    // Scope labels follow until a zero length; none is expected, but skip
    // them rather than refuse.
    let mut rest = rest.get(32..)?;
    loop {
        let (&l, r) = rest.split_first()?;
        if l == 0 {
            rest = r;
            break;
        }
        rest = r.get(usize::from(l)..)?;
    }
    let name: String = raw[..15]
        .iter()
        .map(|&c| char::from(c))
        .collect::<String>()
        .trim_end()
        .to_string();
    Some((
        NbName {
            name,
            suffix: raw[15],
        },
        rest,
    ))
}

/// First-level encoding of a name (for the probe's session request).
pub fn encode_name(name: &str, suffix: u8) -> Vec<u8> {
    let mut raw = [b' '; 16];
    for (i, c) in name.bytes().take(15).enumerate() {
        raw[i] = c.to_ascii_uppercase();
    }
    raw[15] = suffix;
    let mut out = vec![32u8];
    for c in raw {
        out.push(b'A' + (c >> 4));
        out.push(b'A' + (c & 0x0F));
    }
    out.push(0);
    out
}

/// A whole session request for `called`, from `calling`.
pub fn session_request(called: &str, calling: &str) -> Vec<u8> {
    let mut body = encode_name(called, 0x20);
    body.extend(encode_name(calling, 0x00));
    let mut out = vec![SESSION_REQUEST, 0, 0, body.len() as u8];
    out.extend(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_request_round_trip_and_smbclient_bytes() {
        let r = session_request("HV01", "VM");
        let f = next_frame(&r, 1024).unwrap().unwrap();
        assert_eq!((f.kind, f.len), (SESSION_REQUEST, 0x44));
        let (called, calling) = parse_session_request(&r[4..]).unwrap();
        assert_eq!((called.name.as_str(), called.suffix), ("HV01", 0x20));
        assert_eq!(calling.name, "VM");
        // smbclient 4.17 -p 139 to 127.0.0.1 (smb-rpc-rdp.md 2).
        assert_eq!(
            &session_request("127.0.0.1", "VM")[..12],
            &[0x81, 0, 0, 0x44, 0x20, 0x44, 0x42, 0x44, 0x43, 0x44, 0x48, 0x43]
        );
    }

    #[test]
    fn limits_and_garbage() {
        assert_eq!(
            next_frame(&[0, 1, 0, 0], 1024),
            Err(FrameError::TooLong {
                len: 65536,
                max: 1024
            })
        );
        assert!(next_frame(&[0x42, 0, 0, 0], 1024).is_err());
        assert_eq!(next_frame(&[0, 0], 1024), Ok(None));
        for n in 0..70 {
            let _ = parse_session_request(&vec![0x41; n]);
        }
        assert!(parse_session_request(&[32; 80]).is_none());
    }
}
