//! Percent-decoding (RFC 3986 §2.1) for request targets and query strings:
//! the one decoder every HTTP-speaking protocol uses, so that an escape means
//! the same thing on every port. Two policies, because real servers differ:
//! a path names a file and a bad escape must be refused (`percent_decode`),
//! while a query value is handed to its own parser, which reports a malformed
//! value in the protocol's own words (`percent_decode_lossy`).

/// The value of one hex digit, `None` for anything else (`+` and `-`
/// included, which `u8::from_str_radix` would accept as a sign).
fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes, and `+` as a space when `plus_is_space` (HTML
/// forms' query strings). `None` for a `%` not followed by two hex digits.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<Vec<u8>> {
    decode(s, plus_is_space, true)
}

/// Decodes like [`percent_decode`], but a malformed escape is kept
/// literally and bytes that are not UTF-8 become U+FFFD.
pub fn percent_decode_lossy(s: &str, plus_is_space: bool) -> String {
    // The lenient pass never refuses, so the default is never taken.
    let b = decode(s, plus_is_space, false).unwrap_or_default();
    String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn decode(s: &str, plus_is_space: bool, strict: bool) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let v = match (
                    b.get(i + 1).copied().and_then(hex),
                    b.get(i + 2).copied().and_then(hex),
                ) {
                    (Some(hi), Some(lo)) => Some(hi << 4 | lo),
                    _ => None,
                };
                match v {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None if strict => return None,
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_and_lossy() {
        assert_eq!(
            percent_decode("a%20b+c", false).as_deref(),
            Some(&b"a b+c"[..])
        );
        assert_eq!(
            percent_decode("a%20b+c", true).as_deref(),
            Some(&b"a b c"[..])
        );
        assert_eq!(percent_decode("%zz", false), None);
        assert_eq!(percent_decode("%4", false), None);
        assert_eq!(percent_decode("%+f", false), None);
        assert_eq!(percent_decode("%ff", false).as_deref(), Some(&[0xff][..]));
        assert_eq!(percent_decode_lossy("50%+off%2", true), "50% off%2");
        assert_eq!(percent_decode_lossy("%E2%82%AC%ff", false), "€\u{fffd}");
        assert_eq!(percent_decode_lossy("", true), "");
    }
}
