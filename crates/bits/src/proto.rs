//! BITS upload protocol (MC-BUP) and HTTP byte-range semantics as pure
//! functions: header parsing, `Content-Range`, the fragment rule (gap → 416,
//! overlap → only the new tail), session ids, URL-path normalisation,
//! `Range`/conditional-request evaluation, Basic credentials, and the
//! deterministic generator behind virtual files.
//!
//! Nothing here touches sockets, files or the clock (time is passed in), so
//! every rule the interop tests rely on is also pinned by unit tests and
//! can never panic on what a peer sends.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The only upload protocol BITS clients offer: "BITS 1.5 upload".
pub const PROTOCOL_BITS_1_5: &str = "{7df0354d-249b-430f-820d-3d2a9bef4931}";

/// The BITS request method.
pub const BITS_POST: &str = "BITS_POST";

/// BITS header names (HTTP header names compare case-insensitively; these
/// are the spellings Windows sends).
pub mod header {
    pub const PACKET_TYPE: &str = "BITS-Packet-Type";
    pub const SUPPORTED_PROTOCOLS: &str = "BITS-Supported-Protocols";
    pub const PROTOCOL: &str = "BITS-Protocol";
    pub const SESSION_ID: &str = "BITS-Session-Id";
    pub const RECEIVED_CONTENT_RANGE: &str = "BITS-Received-Content-Range";
    pub const ERROR_CODE: &str = "BITS-Error-Code";
    pub const ERROR_CONTEXT: &str = "BITS-Error-Context";
}

/// `BG_ERROR_CONTEXT_REMOTE_FILE`: every server-side error is about the
/// remote file.
pub const ERROR_CONTEXT_REMOTE_FILE: u32 = 0x5;

/// HRESULTs a BITS server reports in `BITS-Error-Code`.
pub mod hresult {
    /// BG_E_SESSION_NOT_FOUND.
    pub const SESSION_NOT_FOUND: u32 = 0x8020_001F;
    /// BG_E_TOO_LARGE.
    pub const TOO_LARGE: u32 = 0x8020_0020;
    /// E_ACCESSDENIED.
    pub const ACCESS_DENIED: u32 = 0x8007_0005;
    /// E_INVALIDARG.
    pub const INVALID_ARG: u32 = 0x8007_0057;
    /// HRESULT_FROM_WIN32(ERROR_FILE_EXISTS).
    pub const FILE_EXISTS: u32 = 0x8007_0050;
    /// HRESULT_FROM_WIN32(ERROR_TOO_MANY_SESS).
    pub const TOO_MANY_SESSIONS: u32 = 0x8007_0045;
    /// HRESULT_FROM_WIN32(ERROR_DISK_FULL): the share's quota is spent.
    pub const DISK_FULL: u32 = 0x8007_0070;
    /// E_FAIL.
    pub const FAIL: u32 = 0x8000_4005;
}

/// `0x8020001F` as BITS writes it.
pub fn format_hresult(code: u32) -> String {
    format!("0x{code:08X}")
}

/// Parses `0x8020001F` (or decimal) from a `BITS-Error-Code` header.
pub fn parse_hresult(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `BITS-Packet-Type` of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    Ping,
    CreateSession,
    Fragment,
    CloseSession,
    CancelSession,
}

impl PacketType {
    /// Case-insensitive, as Windows compares it.
    pub fn parse(s: &str) -> Option<PacketType> {
        let s = s.trim();
        [
            PacketType::Ping,
            PacketType::CreateSession,
            PacketType::Fragment,
            PacketType::CloseSession,
            PacketType::CancelSession,
        ]
        .into_iter()
        .find(|p| p.name().eq_ignore_ascii_case(s))
    }

    pub fn name(self) -> &'static str {
        match self {
            PacketType::Ping => "Ping",
            PacketType::CreateSession => "Create-Session",
            PacketType::Fragment => "Fragment",
            PacketType::CloseSession => "Close-Session",
            PacketType::CancelSession => "Cancel-Session",
        }
    }
}

/// Everything a BITS request can fail with, mapped in one place
/// ([`BitsError::status`], [`BitsError::hresult`]) to what IIS answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BitsError {
    #[error("session not found")]
    SessionNotFound,
    #[error("access denied: {0}")]
    AccessDenied(String),
    #[error("too large: {0}")]
    TooLarge(String),
    #[error("invalid request: {0}")]
    InvalidArg(String),
    #[error("the file exists and overwrites are not allowed")]
    FileExists,
    #[error("too many upload sessions ({0})")]
    TooManySessions(usize),
    /// The machine's share quota has no room for the fragment.
    #[error("{0}")]
    DiskFull(fakedc_model::QuotaFull),
    /// A fragment starts past the data received so far; the client resumes
    /// from `received`.
    #[error("fragment starts at {start} but only {received} bytes were received")]
    Gap { start: u64, received: u64 },
    #[error("not found")]
    NotFound,
    #[error("server error: {0}")]
    Internal(String),
}

impl BitsError {
    /// The HTTP status IIS answers with.
    pub fn status(&self) -> u16 {
        match self {
            BitsError::SessionNotFound | BitsError::Internal(_) | BitsError::DiskFull(_) => 500,
            BitsError::AccessDenied(_) => 403,
            BitsError::TooLarge(_) => 413,
            BitsError::InvalidArg(_) => 400,
            BitsError::FileExists => 409,
            BitsError::TooManySessions(_) => 503,
            BitsError::Gap { .. } => 416,
            BitsError::NotFound => 404,
        }
    }

    /// The `BITS-Error-Code`, if the answer carries one (a 416 carries
    /// `BITS-Received-Content-Range` instead).
    pub fn hresult(&self) -> Option<u32> {
        Some(match self {
            BitsError::SessionNotFound => hresult::SESSION_NOT_FOUND,
            BitsError::AccessDenied(_) => hresult::ACCESS_DENIED,
            BitsError::TooLarge(_) => hresult::TOO_LARGE,
            BitsError::InvalidArg(_) => hresult::INVALID_ARG,
            BitsError::FileExists => hresult::FILE_EXISTS,
            BitsError::TooManySessions(_) => hresult::TOO_MANY_SESSIONS,
            BitsError::DiskFull(_) => hresult::DISK_FULL,
            BitsError::NotFound => 0x8019_0194, // BG_E_HTTP_ERROR_404
            BitsError::Internal(_) => hresult::FAIL,
            BitsError::Gap { .. } => return None,
        })
    }
}

/// `Content-Range: bytes a-b/total` of a fragment (inclusive `end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub start: u64,
    pub end: u64,
    pub total: u64,
}

impl ContentRange {
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Parses a fragment's `Content-Range`. BITS always sends a complete
/// range with the total (`bytes 0-65535/200000`); `Bytes` is accepted too.
pub fn parse_content_range(s: &str) -> Result<ContentRange, BitsError> {
    let bad = || BitsError::InvalidArg(format!("bad Content-Range '{}'", truncate(s, 80)));
    let s = s.trim();
    let rest = s
        .get(..5)
        .filter(|u| u.eq_ignore_ascii_case("bytes"))
        .and_then(|_| s.get(5..))
        .ok_or_else(bad)?;
    let rest = rest.trim_start_matches([' ', '=']);
    let (range, total) = rest.split_once('/').ok_or_else(bad)?;
    let (a, b) = range.trim().split_once('-').ok_or_else(bad)?;
    let start = parse_u64(a).ok_or_else(bad)?;
    let end = parse_u64(b).ok_or_else(bad)?;
    let total = parse_u64(total).ok_or_else(bad)?;
    if start > end || end >= total {
        return Err(bad());
    }
    Ok(ContentRange { start, end, total })
}

/// Digits only (no sign, no spaces inside), overflow-checked.
fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Whether `BITS-Supported-Protocols` (a space-separated GUID list, most
/// preferred first) offers BITS 1.5 upload.
pub fn supports_protocol(list: &str) -> bool {
    list.split([' ', ',', '\t'])
        .any(|g| g.trim().eq_ignore_ascii_case(PROTOCOL_BITS_1_5))
}

/// Upper bound MC-BUP puts on a session id.
pub const MAX_SESSION_ID_LEN: usize = 100;

/// Session ids we accept back: what we hand out (a braced GUID) and, more
/// loosely, any id of up to 100 characters from a safe alphabet, so a
/// session id can never name a path.
pub fn is_valid_session_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SESSION_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'{' | b'}' | b'-'))
}

/// A braced, upper-case GUID from 16 random bytes (version 4 layout), the
/// form IIS hands out.
pub fn new_session_id(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = |r: std::ops::Range<usize>| -> String {
        b[r].iter().map(|x| format!("{x:02X}")).collect::<String>()
    };
    format!(
        "{{{}-{}-{}-{}-{}}}",
        h(0..4),
        h(4..6),
        h(6..8),
        h(8..10),
        h(10..16)
    )
}

/// The canonical form used as a map key (ids compare case-insensitively).
pub fn session_key(s: &str) -> String {
    s.trim().to_ascii_uppercase()
}

/// Upload limits a fragment is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_upload_size: u64,
    pub max_fragment_size: u64,
}

/// What to do with one fragment's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentPlan {
    /// Body bytes to discard first (already received: the overlap).
    pub skip: u64,
    /// Where the first kept byte goes in the session file.
    pub write_at: u64,
    /// How many bytes to keep after `skip` (0: nothing new).
    pub write_len: u64,
    /// The session's total, fixed by its first fragment.
    pub total: u64,
}

/// The fragment rule of MC-BUP: a fragment may start anywhere up to the
/// received length; bytes already received are not rewritten (only the new
/// tail is applied); a fragment starting past it is a gap (416); every
/// fragment names the same total; sizes respect the limits.
pub fn plan_fragment(
    received: u64,
    session_total: Option<u64>,
    cr: &ContentRange,
    limits: &Limits,
) -> Result<FragmentPlan, BitsError> {
    if cr.total > limits.max_upload_size {
        return Err(BitsError::TooLarge(format!(
            "upload of {} bytes exceeds the maximum of {} bytes",
            cr.total, limits.max_upload_size
        )));
    }
    if cr.len() > limits.max_fragment_size {
        return Err(BitsError::TooLarge(format!(
            "fragment of {} bytes exceeds the maximum of {} bytes",
            cr.len(),
            limits.max_fragment_size
        )));
    }
    if let Some(t) = session_total {
        if t != cr.total {
            return Err(BitsError::InvalidArg(format!(
                "fragment total {} differs from the session's total {t}",
                cr.total
            )));
        }
    }
    if cr.start > received {
        return Err(BitsError::Gap {
            start: cr.start,
            received,
        });
    }
    let skip = received - cr.start;
    let write_len = cr.len().saturating_sub(skip);
    Ok(FragmentPlan {
        skip: skip.min(cr.len()),
        write_at: received.max(cr.start),
        write_len,
        total: cr.total,
    })
}

/// Whether an idle session has expired (`last_active_ms` and `now_ms` are
/// milliseconds since the epoch, passed in).
pub fn is_expired(last_active_ms: u64, now_ms: u64, idle: Duration) -> bool {
    now_ms.saturating_sub(last_active_ms) > idle.as_millis() as u64
}

/// Name of the directory inside each share that holds upload sessions. It
/// lives in the share so that Close-Session's rename never crosses a
/// filesystem (and so stays atomic); URLs can never name it.
pub const SESSIONS_DIR: &str = ".bits-sessions";

/// Longest URL path accepted (IIS's default `maxUrl` is 4096).
pub const MAX_PATH_LEN: usize = 4096;

/// Turns a URL path into the components of a path inside the share.
/// Percent-decodes, drops empty and `.` components, and refuses (access
/// denied) `..`, control characters, backslashes, encoded slashes and the
/// sessions directory, so a URL can name only files inside the share.
pub fn normalize_path(raw: &str) -> Result<Vec<String>, BitsError> {
    let deny = |why: &str| BitsError::AccessDenied(format!("{why}: '{}'", truncate(raw, 120)));
    if raw.len() > MAX_PATH_LEN {
        return Err(deny("path too long"));
    }
    let path = raw.split(['?', '#']).next().unwrap_or("");
    let mut out = Vec::new();
    for seg in path.split('/') {
        let bytes = fakedc_net::url::percent_decode(seg, false)
            .ok_or_else(|| deny("bad percent-encoding"))?;
        let s = String::from_utf8(bytes).map_err(|_| deny("path is not UTF-8"))?;
        if s.is_empty() || s == "." {
            continue;
        }
        if s == ".." {
            return Err(deny("'..' in path"));
        }
        if s.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
            return Err(deny("forbidden character in path"));
        }
        if s.eq_ignore_ascii_case(SESSIONS_DIR) {
            return Err(deny("reserved name in path"));
        }
        out.push(s);
    }
    Ok(out)
}

/// `/a/b` from components (the canonical key of virtual files and the
/// journal's spelling).
pub fn join_components(c: &[String]) -> String {
    if c.is_empty() {
        return "/".into();
    }
    let mut s = String::new();
    for p in c {
        s.push('/');
        s.push_str(p);
    }
    s
}

/// Percent-encodes a path for a request line (the client side).
pub fn percent_encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `Authorization: Basic ...` → (user, password): the HTTP front's one
/// parser.
pub use fakedc_net::auth::{basic_header, parse_basic};

/// A download's `Range` header, evaluated against the entity length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable `Range`: send the whole entity (200).
    Full,
    /// Inclusive byte ranges to send (206).
    Partial(Vec<(u64, u64)>),
    /// Valid syntax, but no range overlaps the entity (416).
    Unsatisfiable,
}

/// Parses `Range: bytes=...` (RFC 9110 §14.1.2). Invalid syntax and more
/// than `max_ranges` ranges are ignored (whole entity), as RFC 9110 allows;
/// ranges starting past the end are dropped; none left → unsatisfiable.
pub fn parse_range(value: &str, len: u64, max_ranges: usize) -> RangeRequest {
    let v = value.trim();
    let Some(spec) = v
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("bytes="))
        .and_then(|_| v.get(6..))
    else {
        return RangeRequest::Full;
    };
    let mut out = Vec::new();
    let mut count = 0;
    for part in spec.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        count += 1;
        if count > max_ranges {
            return RangeRequest::Full;
        }
        let Some((a, b)) = part.split_once('-') else {
            return RangeRequest::Full;
        };
        let (a, b) = (a.trim(), b.trim());
        if a.is_empty() {
            // Suffix: the last n bytes.
            let Some(n) = parse_u64(b) else {
                return RangeRequest::Full;
            };
            if n > 0 && len > 0 {
                out.push((len.saturating_sub(n), len - 1));
            }
            continue;
        }
        let Some(start) = parse_u64(a) else {
            return RangeRequest::Full;
        };
        let end = if b.is_empty() {
            u64::MAX
        } else {
            match parse_u64(b) {
                Some(e) if e >= start => e,
                _ => return RangeRequest::Full,
            }
        };
        if start < len {
            out.push((start, end.min(len - 1)));
        }
    }
    if count == 0 {
        return RangeRequest::Full;
    }
    if out.is_empty() {
        RangeRequest::Unsatisfiable
    } else {
        RangeRequest::Partial(out)
    }
}

/// Parses an HTTP-date (all three RFC 9110 formats).
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

pub fn fmt_http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// Truncates to whole seconds: HTTP dates have no finer resolution, so
/// comparisons must not see sub-second differences.
pub fn whole_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What a download's validators are.
#[derive(Debug, Clone)]
pub struct Validators {
    pub last_modified: SystemTime,
    /// A strong entity tag, quotes included.
    pub etag: String,
}

impl Validators {
    /// An IIS-shaped strong ETag: FILETIME of the modification in hex, and
    /// a change counter (here the length) after a colon.
    pub fn new(modified: SystemTime, len: u64) -> Validators {
        let since_epoch = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
        // FILETIME: 100 ns ticks since 1601-01-01.
        let filetime = since_epoch.as_nanos() as u64 / 100 + 116_444_736_000_000_000;
        Validators {
            last_modified: modified,
            etag: format!("\"{filetime:x}:{len:x}\""),
        }
    }
}

/// The request headers that make a download conditional.
#[derive(Debug, Clone, Default)]
pub struct Conditions<'a> {
    pub if_match: Option<&'a str>,
    pub if_unmodified_since: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    pub if_modified_since: Option<&'a str>,
    pub if_range: Option<&'a str>,
}

/// The outcome of evaluating the preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Serve; `honor_range` is false when `If-Range` did not match.
    Proceed { honor_range: bool },
    /// 304.
    NotModified,
    /// 412.
    Failed,
}

fn etag_list_matches(list: &str, etag: &str, weak: bool) -> bool {
    let strip = |t: &str| -> String {
        let t = t.trim();
        if weak {
            t.strip_prefix("W/").unwrap_or(t).to_string()
        } else {
            t.to_string()
        }
    };
    let ours = strip(etag);
    list.split(',').any(|t| {
        let t = t.trim();
        t == "*" || ((weak || !t.starts_with("W/")) && strip(t) == ours)
    })
}

/// RFC 9110 §13.2.2 evaluation order for GET and HEAD.
pub fn evaluate(c: &Conditions<'_>, v: &Validators) -> Precondition {
    let modified = whole_seconds(v.last_modified);
    if let Some(im) = c.if_match {
        if !etag_list_matches(im, &v.etag, false) {
            return Precondition::Failed;
        }
    } else if let Some(d) = c.if_unmodified_since.and_then(parse_http_date) {
        if modified > whole_seconds(d) {
            return Precondition::Failed;
        }
    }
    if let Some(inm) = c.if_none_match {
        if etag_list_matches(inm, &v.etag, true) {
            return Precondition::NotModified;
        }
    } else if let Some(d) = c.if_modified_since.and_then(parse_http_date) {
        if modified <= whole_seconds(d) {
            return Precondition::NotModified;
        }
    }
    let honor_range = match c.if_range.map(str::trim) {
        None => true,
        Some(t) if t.starts_with('"') => t == v.etag,
        Some(t) if t.starts_with("W/") => false,
        Some(t) => parse_http_date(t).is_some_and(|d| whole_seconds(d) == modified),
    };
    Precondition::Proceed { honor_range }
}

/// One part header of a `multipart/byteranges` body.
pub fn multipart_part_header(boundary: &str, start: u64, end: u64, len: u64) -> String {
    format!(
        "\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {start}-{end}/{len}\r\n\r\n"
    )
}

/// The closing delimiter of a `multipart/byteranges` body.
pub fn multipart_end(boundary: &str) -> String {
    format!("\r\n--{boundary}--\r\n")
}

/// The total length of a `multipart/byteranges` body (Content-Length is
/// sent up front).
pub fn multipart_len(boundary: &str, ranges: &[(u64, u64)], len: u64) -> u64 {
    let mut n = multipart_end(boundary).len() as u64;
    for &(a, b) in ranges {
        n += multipart_part_header(boundary, a, b, len).len() as u64 + (b - a + 1);
    }
    n
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn virtual_word(seed: u64, index: u64) -> [u8; 8] {
    splitmix64(seed.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ index).to_le_bytes()
}

/// The content of a virtual file: byte `o` depends only on `(seed, o)`, so
/// any range of a 40 GB file is produced in O(range) without disk, and a
/// test can compute the same bytes to check a download.
pub fn fill_virtual(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut pos = offset;
    let mut i = 0;
    // Unaligned head.
    while i < buf.len() && !pos.is_multiple_of(8) {
        buf[i] = virtual_word(seed, pos / 8)[(pos % 8) as usize];
        i += 1;
        pos += 1;
    }
    let rest = &mut buf[i..];
    let mut chunks = rest.chunks_exact_mut(8);
    for c in &mut chunks {
        c.copy_from_slice(&virtual_word(seed, pos / 8));
        pos += 8;
    }
    for (j, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b = virtual_word(seed, pos / 8)[j];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_upload_size: 1000,
        max_fragment_size: 100,
    };

    #[test]
    fn packet_types_are_case_insensitive() {
        assert_eq!(PacketType::parse("ping"), Some(PacketType::Ping));
        assert_eq!(
            PacketType::parse("CREATE-SESSION"),
            Some(PacketType::CreateSession)
        );
        assert_eq!(PacketType::parse(" Fragment "), Some(PacketType::Fragment));
        assert_eq!(
            PacketType::parse("close-Session"),
            Some(PacketType::CloseSession)
        );
        assert_eq!(
            PacketType::parse("Cancel-Session"),
            Some(PacketType::CancelSession)
        );
        assert_eq!(PacketType::parse("Ack"), None);
        assert_eq!(PacketType::parse(""), None);
    }

    #[test]
    fn content_range_parses_and_rejects() {
        assert_eq!(
            parse_content_range("bytes 0-65535/200000"),
            Ok(ContentRange {
                start: 0,
                end: 65535,
                total: 200000
            })
        );
        assert_eq!(
            parse_content_range("Bytes 10-10/11").map(|c| c.len()),
            Ok(1)
        );
        for bad in [
            "",
            "bytes",
            "bytes 5-4/10",
            "bytes 0-10/10",
            "bytes 0-1",
            "bytes -1-2/3",
            "bytes 0-99999999999999999999999/1",
            "items 0-1/2",
            "bytes a-b/c",
            "bytes */10",
            "é",
            "bytes 0-1/1\u{0}",
        ] {
            assert!(parse_content_range(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fragment_rule_gap_overlap_and_limits() {
        let cr = |s, e, t| ContentRange {
            start: s,
            end: e,
            total: t,
        };
        // First fragment.
        assert_eq!(
            plan_fragment(0, None, &cr(0, 49, 200), &LIMITS),
            Ok(FragmentPlan {
                skip: 0,
                write_at: 0,
                write_len: 50,
                total: 200
            })
        );
        // Gap → 416 with the received length.
        assert_eq!(
            plan_fragment(50, Some(200), &cr(60, 99, 200), &LIMITS),
            Err(BitsError::Gap {
                start: 60,
                received: 50
            })
        );
        // Overlap: only the new tail.
        assert_eq!(
            plan_fragment(50, Some(200), &cr(40, 89, 200), &LIMITS),
            Ok(FragmentPlan {
                skip: 10,
                write_at: 50,
                write_len: 40,
                total: 200
            })
        );
        // Entirely old: nothing written.
        assert_eq!(
            plan_fragment(80, Some(200), &cr(0, 49, 200), &LIMITS),
            Ok(FragmentPlan {
                skip: 50,
                write_at: 80,
                write_len: 0,
                total: 200
            })
        );
        // Total must not change.
        assert!(matches!(
            plan_fragment(0, Some(200), &cr(0, 9, 300), &LIMITS),
            Err(BitsError::InvalidArg(_))
        ));
        // Limits.
        let e = plan_fragment(0, None, &cr(0, 9, 1001), &LIMITS).unwrap_err();
        assert_eq!((e.status(), e.hresult()), (413, Some(0x8020_0020)));
        assert!(matches!(
            plan_fragment(0, None, &cr(0, 100, 500), &LIMITS),
            Err(BitsError::TooLarge(_))
        ));
    }

    #[test]
    fn error_mapping() {
        let e = BitsError::SessionNotFound;
        assert_eq!((e.status(), e.hresult()), (500, Some(0x8020_001F)));
        assert_eq!(format_hresult(0x8020_001F), "0x8020001F");
        assert_eq!(parse_hresult("0x8020001f"), Some(0x8020_001F));
        let e = BitsError::AccessDenied("x".into());
        assert_eq!((e.status(), e.hresult()), (403, Some(0x8007_0005)));
        let e = BitsError::Gap {
            start: 1,
            received: 0,
        };
        assert_eq!((e.status(), e.hresult()), (416, None));
    }

    #[test]
    fn session_ids() {
        let id = new_session_id([0xAB; 16]);
        assert_eq!(id.len(), 38);
        assert!(id.starts_with('{') && id.ends_with('}'));
        assert!(is_valid_session_id(&id));
        assert!(!is_valid_session_id(""));
        assert!(!is_valid_session_id("../../etc/passwd"));
        assert!(!is_valid_session_id(&"A".repeat(101)));
        assert!(is_valid_session_id(&"A".repeat(100)));
        assert_eq!(session_key(" {ab-cd} "), "{AB-CD}");
        assert!(supports_protocol(
            "{11111111-0000-0000-0000-000000000000} {7DF0354D-249B-430F-820D-3D2A9BEF4931}"
        ));
        assert!(!supports_protocol("{11111111-0000-0000-0000-000000000000}"));
    }

    #[test]
    fn paths_are_jailed() {
        assert_eq!(
            normalize_path("/upload/dir/file.vhdx").unwrap(),
            vec!["upload", "dir", "file.vhdx"]
        );
        assert_eq!(normalize_path("//a/./b%20c?x=1").unwrap(), vec!["a", "b c"]);
        assert_eq!(normalize_path("/").unwrap(), Vec::<String>::new());
        for bad in [
            "/a/../b",
            "/..",
            "/a/%2e%2e/b",
            "/a%2fb",
            "/a%5cb",
            "/a\\b",
            "/a%00b",
            "/%zz",
            "/%",
            "/.bits-sessions/x",
            "/a/.BITS-SESSIONS",
            "/%ff%fe",
        ] {
            let e = normalize_path(bad).unwrap_err();
            assert_eq!(e.status(), 403, "{bad}");
        }
        assert!(normalize_path(&"a/".repeat(3000)).is_err());
        assert_eq!(join_components(&["a".into(), "b c".into()]), "/a/b c");
        assert_eq!(percent_encode_path("/a/b c%"), "/a/b%20c%25");
        let p = percent_encode_path("/dir/ü x.bin");
        assert_eq!(normalize_path(&p).unwrap(), vec!["dir", "ü x.bin"]);
    }

    #[test]
    fn basic_credentials() {
        let h = basic_header("HV01\\Administrator", "P@ss:word!");
        let (u, p) = parse_basic(&h).unwrap();
        assert_eq!(
            (u.as_str(), p.as_str()),
            ("HV01\\Administrator", "P@ss:word!")
        );
        assert!(parse_basic("Bearer abc").is_none());
        assert!(parse_basic("Basic !!!").is_none());
        assert!(parse_basic("Basic").is_none());
        assert!(parse_basic("basic dXNlcg==").is_none()); // no colon
    }

    #[test]
    fn ranges() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-99", 1000, 8), Partial(vec![(0, 99)]));
        assert_eq!(
            parse_range("bytes=900-", 1000, 8),
            Partial(vec![(900, 999)])
        );
        assert_eq!(
            parse_range("bytes=-100", 1000, 8),
            Partial(vec![(900, 999)])
        );
        assert_eq!(parse_range("bytes=-5000", 1000, 8), Partial(vec![(0, 999)]));
        assert_eq!(
            parse_range("bytes=990-2000", 1000, 8),
            Partial(vec![(990, 999)])
        );
        assert_eq!(
            parse_range("bytes=0-9, 20-29", 1000, 8),
            Partial(vec![(0, 9), (20, 29)])
        );
        assert_eq!(parse_range("bytes=1000-", 1000, 8), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 1000, 8), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0, 8), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 1000, 8), Full);
        assert_eq!(parse_range("items=0-1", 1000, 8), Full);
        assert_eq!(parse_range("bytes=x-1", 1000, 8), Full);
        assert_eq!(parse_range("bytes=", 1000, 8), Full);
        assert_eq!(parse_range("bytes=0-1,2-3,4-5", 1000, 2), Full);
        assert_eq!(
            parse_range("BYTES=0-0,1000-1001", 1000, 8),
            Partial(vec![(0, 0)])
        );
    }

    #[test]
    fn preconditions() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let v = Validators::new(t + Duration::from_millis(300), 42);
        let date = fmt_http_date(t);
        let older = fmt_http_date(t - Duration::from_secs(10));
        let c = |c: Conditions<'_>| evaluate(&c, &v);
        let d = Conditions::default;
        let go = Precondition::Proceed { honor_range: true };
        let no_range = Precondition::Proceed { honor_range: false };
        assert_eq!(c(d()), go);
        let ir = |s| Conditions {
            if_range: Some(s),
            ..d()
        };
        assert_eq!(c(ir(&date)), go);
        assert_eq!(c(ir(&older)), no_range);
        assert_eq!(c(ir(&v.etag)), go);
        assert_eq!(c(ir("\"other\"")), no_range);
        assert_eq!(c(ir("W/\"x\"")), no_range);
        let ius = |s| Conditions {
            if_unmodified_since: Some(s),
            ..d()
        };
        assert_eq!(c(ius(&older)), Precondition::Failed);
        assert_eq!(c(ius(&date)), go);
        assert_eq!(c(ius("garbage")), go);
        let ims = |s| Conditions {
            if_modified_since: Some(s),
            ..d()
        };
        assert_eq!(c(ims(&date)), Precondition::NotModified);
        assert_eq!(c(ims(&older)), go);
        let im = |s| Conditions {
            if_match: Some(s),
            ..d()
        };
        assert_eq!(c(im("\"nope\"")), Precondition::Failed);
        assert_eq!(c(im("*")), go);
        let inm = |s| Conditions {
            if_none_match: Some(s),
            ..d()
        };
        assert_eq!(c(inm(&v.etag)), Precondition::NotModified);
        assert_eq!(c(inm("\"other\"")), go);
    }

    #[test]
    fn multipart_length_matches_the_parts() {
        let ranges = [(0u64, 9u64), (20, 29)];
        let mut body = String::new();
        for &(a, b) in &ranges {
            body.push_str(&multipart_part_header("B", a, b, 100));
            body.push_str(&"x".repeat((b - a + 1) as usize));
        }
        body.push_str(&multipart_end("B"));
        assert_eq!(multipart_len("B", &ranges, 100), body.len() as u64);
    }

    #[test]
    fn virtual_content_is_a_function_of_the_offset() {
        let mut whole = vec![0u8; 1000];
        fill_virtual(7, 0, &mut whole);
        for (off, len) in [
            (0usize, 1000usize),
            (3, 17),
            (8, 8),
            (999, 1),
            (13, 0),
            (5, 994),
        ] {
            let mut part = vec![0u8; len];
            fill_virtual(7, off as u64, &mut part);
            assert_eq!(part, whole[off..off + len], "{off}+{len}");
        }
        let mut other = vec![0u8; 1000];
        fill_virtual(8, 0, &mut other);
        assert_ne!(whole, other);
        // Far offsets work (a 40 GB file).
        let mut far = [0u8; 16];
        fill_virtual(7, 42_949_672_960 - 16, &mut far);
        assert!(far.iter().any(|&b| b != 0));
    }

    /// A poor man's fuzz run in every `cargo test` (the libFuzzer target
    /// is `crates/bits/fuzz`): random and mutated header values never panic.
    #[test]
    fn parsers_never_panic_on_random_input() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let seeds = [
            "bytes 0-65535/200000",
            "bytes=0-9,20-29,-5",
            "/upload/%2e%2e/a%20b",
            "Basic QWRtaW5pc3RyYXRvcjpQQHNzdzByZCE=",
            "Mon, 01 Jan 2001 00:00:00 GMT",
            "\"1d9:2a\"",
        ];
        let alphabet = b"bytes=-/0123456789 ,%.\\:\"W*BasicxyzFF\x00\xc3\xa9";
        let limits = Limits {
            max_upload_size: u64::MAX,
            max_fragment_size: u64::MAX,
        };
        let v = Validators::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000), 42);
        for i in 0..20_000 {
            let mut b: Vec<u8> = seeds[i % seeds.len()].as_bytes().to_vec();
            for _ in 0..rng.gen_range(0..6) {
                let pos = rng.gen_range(0..=b.len());
                match rng.gen_range(0..3) {
                    0 => b.insert(pos, alphabet[rng.gen_range(0..alphabet.len())]),
                    1 if pos < b.len() => {
                        b.remove(pos);
                    }
                    _ => b.truncate(pos),
                }
            }
            let s = String::from_utf8_lossy(&b);
            let _ = PacketType::parse(&s);
            if let Ok(cr) = parse_content_range(&s) {
                for r in [0, cr.start, cr.end, cr.total, u64::MAX] {
                    let _ = plan_fragment(r, Some(cr.total), &cr, &limits);
                }
            }
            for len in [0, 1, 100, u64::MAX] {
                let _ = parse_range(&s, len, 32);
            }
            let c = Conditions {
                if_match: Some(&s),
                if_unmodified_since: Some(&s),
                if_none_match: Some(&s),
                if_modified_since: Some(&s),
                if_range: Some(&s),
            };
            let _ = evaluate(&c, &v);
            let _ = parse_basic(&s);
            let _ = normalize_path(&s);
            let _ = parse_hresult(&s);
        }
    }

    #[test]
    fn expiry() {
        assert!(!is_expired(1000, 1500, Duration::from_secs(1)));
        assert!(is_expired(1000, 2001, Duration::from_secs(1)));
        assert!(!is_expired(5000, 1000, Duration::from_secs(1)));
    }
}
