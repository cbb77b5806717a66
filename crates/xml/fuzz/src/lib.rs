//! Body of the `soap` fuzz target, kept out of `fuzz_targets/` so that the
//! stable smoke test (`crates/fuzzing/tests/smoke.rs`, which includes this
//! file) runs exactly what libFuzzer runs. Any panic is a bug, and so is a
//! broken invariant asserted below.

use fakedc_xml::soap::{self, EnvelopeWriter, Version};
use fakedc_xml::{escape, escape_attr, escape_text, parse, Limits};

/// The tree, the SOAP reader and writer, and the escapers on one input:
/// - a parsed tree written with `Element::to_xml` parses back equal;
/// - a fault read from an envelope, written again in the same version,
///   reads back equal (every field, the detail as a tree);
/// - whatever the envelope reader refuses becomes a fault that is a
///   well-formed envelope in both versions and reads back as itself;
/// - any text, escaped, comes back from the parser unchanged, as element
///   content and as an attribute value.
pub fn soap(data: &[u8]) {
    let limits = Limits::default();
    if let Ok(root) = parse(data, &limits) {
        let out = root.to_xml();
        match parse(out.as_bytes(), &limits) {
            Ok(back) => assert_eq!(back, root, "{out}"),
            Err(e) => panic!("to_xml wrote what does not parse ({e}): {out}"),
        }
    }
    match soap::read(data, &limits) {
        Ok(env) => envelope(&env),
        Err(e) => {
            let fault = e.to_fault();
            for v in [Version::Soap11, Version::Soap12] {
                let out = fault.to_envelope(v);
                let back = soap::read(out.as_bytes(), &limits)
                    .unwrap_or_else(|e| panic!("fault envelope refused ({e}): {out}"));
                assert_eq!(back.version, v);
                // 1.1 spells Sender as Client, which reads back as Sender.
                assert_eq!(back.fault().ok().flatten().as_ref(), Some(&fault), "{out}");
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let doc = format!(
            r#"<a v="{}" w='{}' x="{}">{}</a>"#,
            escape_attr(text),
            escape_attr(text),
            escape(text),
            escape_text(text)
        );
        match parse(doc.as_bytes(), &limits) {
            Ok(e) => {
                assert_eq!(e.text, text, "text");
                assert_eq!(e.attr("v"), Some(text), "attribute");
                assert_eq!(e.attr("w"), Some(text), "single-quoted attribute");
            }
            Err(err) => panic!("escaped text does not parse ({err}): {doc}"),
        }
    }
}

/// A read envelope: the header queries answer, and a fault survives being
/// written again.
fn envelope(env: &soap::Envelope) {
    let ns = env.version.namespace();
    assert!(env.body.is(ns, "Body"));
    let understood = env.not_understood(|_| false);
    for h in &env.headers {
        let listed = understood.iter().any(|u| std::ptr::eq(*u, h));
        assert_eq!(listed, env.must_understand(h) && env.targets_us(h));
    }
    let mut w = EnvelopeWriter::new(env.version);
    for h in &understood {
        w.not_understood(h);
    }
    let Ok(Some(fault)) = env.fault() else {
        let out = w.finish("");
        assert!(
            soap::read(out.as_bytes(), &Limits::default()).is_ok(),
            "{out}"
        );
        return;
    };
    let out = w.finish_fault(&fault);
    let back = soap::read(out.as_bytes(), &Limits::default())
        .unwrap_or_else(|e| panic!("rewritten fault refused ({e}): {out}"));
    assert_eq!(back.fault().ok().flatten().as_ref(), Some(&fault), "{out}");
}
