//! Fuzz target: arbitrary text into every parser that sees peer-controlled
//! header values or paths (packet type, Content-Range and the fragment rule,
//! Range, conditionals, Basic credentials, session ids, URL paths). Any panic
//! is a bug.
#![no_main]

use fakedc_bits::proto::{self, Conditions, Limits, Validators};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, UNIX_EPOCH};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = proto::PacketType::parse(s);
    if let Ok(cr) = proto::parse_content_range(s) {
        let limits = Limits {
            max_upload_size: u64::MAX,
            max_fragment_size: u64::MAX,
        };
        for received in [0, cr.start, cr.end, cr.total, u64::MAX] {
            let _ = proto::plan_fragment(received, Some(cr.total), &cr, &limits);
        }
    }
    for len in [0, 1, 1000, u64::MAX] {
        let _ = proto::parse_range(s, len, 32);
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
    let _ = proto::parse_basic(s);
    let _ = proto::is_valid_session_id(s);
    let _ = proto::supports_protocol(s);
    let _ = proto::parse_hresult(s);
    if let Ok(p) = proto::normalize_path(s) {
        let _ = proto::join_components(&p);
    }
    let _ = proto::percent_encode_path(s);
});
