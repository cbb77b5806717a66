//! Escaping for text and attribute values.
//!
//! Three functions because the two places differ in what a reader changes
//! on the way in: an XML 1.0 reader turns a literal CR (or CR LF) in text
//! into LF, and in an attribute value it also turns tab, CR and LF into
//! spaces. [`escape`] is the five markup characters only, safe in both
//! places, and what every writer used before the others existed;
//! [`escape_text`] and [`escape_attr`] also write the characters a reader
//! would change as character references, so the value comes back as it went
//! out. None of them can make a string that XML 1.0 cannot carry at all
//! (NUL and most C0 controls, even as references) legal: a writer that may
//! meet those must encode them itself (CLIXML's `_x0000_`, base64).
//!
//! Each returns the input borrowed when nothing needs escaping, the common
//! case, so escaping costs a scan and no allocation.

use std::borrow::Cow;

/// `&`, `<`, `>`, `"` and `'` as entity references. Safe in element
/// content and in attribute values quoted either way; whitespace passes
/// through as it is.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_with(s, &MARKUP)
}

/// For element content: `&`, `<` and `>` (the last so `]]>` never
/// appears), and CR as `&#13;` so that CR LF line ends survive a reader's
/// end-of-line normalisation.
pub fn escape_text(s: &str) -> Cow<'_, str> {
    escape_with(s, &TEXT)
}

/// For attribute values in either quote: the five markup characters, and
/// tab, LF and CR as character references, which a reader's
/// attribute-value normalisation leaves alone (literal ones become spaces).
pub fn escape_attr(s: &str) -> Cow<'_, str> {
    escape_with(s, &ATTR)
}

/// Which bytes an escaper replaces, as a table: scanning is the whole cost
/// when nothing needs escaping (namespace URIs, most values), and a table
/// lookup per byte is what makes that scan cheap.
type Table = [bool; 256];

const fn table(bytes: &[u8]) -> Table {
    let mut t = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        t[bytes[i] as usize] = true;
        i += 1;
    }
    t
}

const MARKUP: Table = table(b"&<>\"'");
const TEXT: Table = table(b"&<>\r");
const ATTR: Table = table(b"&<>\"'\t\n\r");

fn replacement(b: u8) -> &'static str {
    match b {
        b'&' => "&amp;",
        b'<' => "&lt;",
        b'>' => "&gt;",
        b'"' => "&quot;",
        b'\'' => "&apos;",
        b'\t' => "&#9;",
        b'\n' => "&#10;",
        _ => "&#13;",
    }
}

/// Replaces each byte `table` marks. Only ASCII bytes are ever marked, and
/// an ASCII byte is never part of a multi-byte UTF-8 sequence, so slicing
/// at them keeps the string valid.
fn escape_with<'a>(s: &'a str, table: &Table) -> Cow<'a, str> {
    let marked = |b: u8| table[usize::from(b)];
    let Some(first) = s.bytes().position(marked) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(&s[..first]);
    let mut start = first;
    for (i, b) in s.bytes().enumerate().skip(first) {
        if marked(b) {
            out.push_str(&s[start..i]);
            out.push_str(replacement(b));
            start = i + 1;
        }
    }
    out.push_str(&s[start..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse, Limits};

    #[test]
    fn nothing_to_escape_borrows() {
        for f in [escape, escape_text, escape_attr] {
            assert!(matches!(f("plain text é ✓"), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn markup() {
        assert_eq!(escape(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape_text("a<b>&\"c'\r\n"), "a&lt;b&gt;&amp;\"c'&#13;\n");
        assert_eq!(
            escape_attr("a<b>&\"c'\t\r\n"),
            "a&lt;b&gt;&amp;&quot;c&apos;&#9;&#13;&#10;"
        );
    }

    /// What goes out through the escapers comes back from the parser
    /// unchanged, CR LF and tabs included.
    #[test]
    fn round_trips_through_the_parser() {
        let nasty = "x & y < z > w \"q\" 'a' ]]> \r\n\tend\r é ✓ &amp;";
        let doc = format!(
            r#"<a v="{}" w='{}'>{}</a>"#,
            escape_attr(nasty),
            escape_attr(nasty),
            escape_text(nasty)
        );
        let e = parse(doc.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(e.text, nasty);
        assert_eq!(e.attr("v"), Some(nasty));
        assert_eq!(e.attr("w"), Some(nasty));
        let plain = "x & y < z \"q\" 'a'";
        let doc = format!(r#"<a v="{0}" w='{0}'>{0}</a>"#, escape(plain));
        let e = parse(doc.as_bytes(), &Limits::default()).unwrap();
        assert_eq!((e.text.as_str(), e.attr("w")), (plain, Some(plain)));
    }
}
