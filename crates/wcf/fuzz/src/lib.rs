//! Fuzz target bodies for fakedc-wcf: what a net.tcp peer's bytes reach.
//! `nmf`: framing records (a record that decodes re-encodes and decodes to
//! itself; nothing is consumed past the input; every prefix is "need
//! more" or an error, never a different record). `nns`: NegotiateStream
//! handshake messages and data frames, and the server's handshake fed
//! arbitrary tokens (never authenticates). `nbfx`: the binary XML reader
//! with session strings; a tree it reads, written back, reads to itself.

use fakedc_wcf::nbfx::{self, Node, Text};
use fakedc_wcf::{nmf, nns};
use fakedc_xml::Element;

pub fn nmf(data: &[u8]) {
    let limits = nmf::Limits {
        max_via: 512,
        max_content_type: 64,
        max_envelope: 4096,
        max_fault: 256,
    };
    let mut at = 0;
    while at < data.len() {
        match nmf::decode(&data[at..], &limits) {
            Ok(Some((rec, used))) => {
                assert!(used > 0 && at + used <= data.len());
                let mut out = Vec::new();
                nmf::encode(&rec, &mut out);
                let (again, n) = nmf::decode(&out, &limits)
                    .expect("an encoded record decodes")
                    .expect("an encoded record is whole");
                assert_eq!(again, rec);
                assert_eq!(n, out.len());
                if let nmf::Record::Via(v) = &rec {
                    let _ = nmf::via_path(v);
                }
                // A strict prefix is never a record.
                if let Ok(Some((_, m))) = nmf::decode(&data[at..at + used - 1], &limits) {
                    assert!(m < used);
                }
                at += used;
            }
            Ok(None) | Err(_) => break,
        }
    }
}

pub fn nns(data: &[u8]) {
    if let Ok(Some((h, used))) = nns::decode_handshake(data) {
        assert!(used <= data.len());
        let out = nns::encode_handshake(h.id, &h.payload);
        let (again, n) = nns::decode_handshake(&out)
            .expect("decodes")
            .expect("whole");
        assert_eq!(again, h);
        assert_eq!(n, out.len());
    }
    if let Ok(Some((f, used))) = nns::decode_frame(data) {
        assert!(f.len() <= nns::MAX_FRAME && used == f.len() + 4);
    }
    // The server's handshake over the input cut into messages: random
    // tokens never authenticate.
    let target = fakedc_ntlm::TargetInfo {
        nb_domain: "VMM01".into(),
        nb_computer: "VMM01".into(),
        dns_domain: "lab.test".into(),
        dns_computer: "vmm01.lab.test".into(),
        time: 133_000_000_000_000_000,
    };
    let lookup = |u: &str| {
        u.eq_ignore_ascii_case("administrator")
            .then(|| "P@ss".to_string())
    };
    let mut acc = nns::Acceptor::default();
    let mut at = 0;
    while at < data.len() {
        let Ok(Some((h, used))) = nns::decode_handshake(&data[at..]) else {
            break;
        };
        at += used;
        match acc.step(&h, &target, &lookup) {
            nns::Step::Done { .. } => panic!("arbitrary tokens authenticated"),
            nns::Step::Refused { .. } => break,
            nns::Step::Continue(out) => assert!(out.len() <= nns::MAX_TOKEN + 5),
        }
    }
}

/// A read tree as a writable [`Node`]: every element declares its
/// namespace as the default, every namespaced attribute gets a prefix.
fn to_node(e: &Element) -> Node {
    let mut n = Node::new("", &e.name).ns("", &e.ns);
    for (i, (ns, name, v)) in e.attrs.iter().enumerate() {
        if ns.is_empty() {
            n = n.attr("", name, v);
        } else {
            let p = format!("p{i}");
            n = n.ns(&p, ns).attr(&p, name, v);
        }
    }
    if !e.text.is_empty() {
        n = n.text(Text::Str(e.text.clone()));
    }
    for c in &e.children {
        n = n.child(to_node(c));
    }
    n
}

pub fn nbfx(data: &[u8]) {
    let limits = nbfx::Limits {
        max_depth: 32,
        max_elements: 2000,
        max_attributes: 16,
        max_session_strings: 64,
        max_session_bytes: 4096,
    };
    let mut s = nbfx::Session::default();
    // As a message with its string table, and as bare binary XML.
    let with_table = s.read_table(data, &limits).ok();
    for (sess, body) in [
        (s.clone(), with_table),
        (nbfx::Session::default(), Some(data)),
    ] {
        let Some(body) = body else { continue };
        let Ok(e) = nbfx::read(body, &sess, &limits) else {
            continue;
        };
        let mut out = vec![0u8];
        to_node(&e).to_nbfx(&mut out);
        let wide = nbfx::Limits {
            max_attributes: 64,
            ..limits
        };
        let mut s2 = nbfx::Session::default();
        let rest = s2.read_table(&out, &wide).expect("empty table");
        let back = nbfx::read(rest, &s2, &wide).expect("a written tree reads");
        assert_eq!(back, e);
    }
}
