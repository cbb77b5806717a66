//! Body of the `headers` fuzz target, kept out of `fuzz_targets/` so that
//! the stable smoke test (`crates/fuzzing/tests/smoke.rs`, which includes
//! this file) runs exactly what libFuzzer runs.

use fakedc_bits::proto::{self, Conditions, ContentRange, Limits, RangeRequest, Validators};
use std::time::{Duration, UNIX_EPOCH};

/// Arbitrary text into every parser that sees peer-controlled header values
/// or paths (packet type, Content-Range and the fragment rule, Range,
/// conditionals, Basic credentials, session ids, URL paths). Any panic is a
/// bug; so is a parse that does not survive format → parse, a fragment plan
/// that writes outside its fragment, a range outside the entity, and a
/// normalized path that changes when encoded and normalized again (the
/// client encodes exactly what the server will jail).
pub fn headers(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(p) = proto::PacketType::parse(s) {
        assert_eq!(proto::PacketType::parse(p.name()), Some(p));
    }
    if let Ok(cr) = proto::parse_content_range(s) {
        assert!(cr.start <= cr.end && cr.end < cr.total);
        let text = format!("bytes {}-{}/{}", cr.start, cr.end, cr.total);
        assert_eq!(proto::parse_content_range(&text), Ok(cr));
        fragments(&cr);
    }
    for len in [0, 1, 1000, u64::MAX] {
        if let RangeRequest::Partial(ranges) = proto::parse_range(s, len, 32) {
            assert!(!ranges.is_empty() && ranges.len() <= 32);
            for (a, b) in ranges {
                assert!(a <= b && b < len, "range {a}-{b} of {len}");
            }
        }
    }
    let v = Validators::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000), 42);
    let c = Conditions {
        if_match: Some(s),
        if_unmodified_since: Some(s),
        if_none_match: Some(s),
        if_modified_since: Some(s),
        if_range: Some(s),
    };
    let _ = proto::evaluate(&c, &v);
    if let Some((user, password)) = proto::parse_basic(s) {
        let again = proto::basic_header(&user, &password);
        assert_eq!(proto::parse_basic(&again), Some((user, password)));
    }
    if proto::is_valid_session_id(s) {
        let key = proto::session_key(s);
        assert!(proto::is_valid_session_id(&key));
        assert_eq!(proto::session_key(&key), key);
    }
    let _ = proto::supports_protocol(s);
    if let Some(code) = proto::parse_hresult(s) {
        assert_eq!(
            proto::parse_hresult(&proto::format_hresult(code)),
            Some(code)
        );
    }
    if let Ok(p) = proto::normalize_path(s) {
        let joined = proto::join_components(&p);
        let encoded = proto::percent_encode_path(&joined);
        assert_eq!(proto::normalize_path(&encoded).ok(), Some(p), "{encoded}");
    }
    let _ = proto::percent_encode_path(s);
}

/// The fragment rule for `cr` at several received counts: a plan keeps
/// only bytes of this fragment, and what it keeps ends where the fragment
/// ends.
fn fragments(cr: &ContentRange) {
    let limits = Limits {
        max_upload_size: u64::MAX,
        max_fragment_size: u64::MAX,
    };
    for received in [0, cr.start, cr.end, cr.total, u64::MAX] {
        let Ok(plan) = proto::plan_fragment(received, Some(cr.total), cr, &limits) else {
            continue;
        };
        assert_eq!(plan.skip + plan.write_len, cr.len());
        if plan.write_len > 0 {
            assert_eq!(plan.write_at + plan.write_len, cr.end + 1);
        }
        assert_eq!(plan.total, cr.total);
    }
}
