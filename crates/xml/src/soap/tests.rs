use super::*;
use crate::parse;

fn rd(s: &str) -> Result<Envelope, SoapError> {
    read(s.as_bytes(), &Limits::default())
}

const WSA: &str = crate::ns::WSA;

#[test]
fn reads_both_versions() {
    let e = rd(concat!(
        r#"<?xml version="1.0"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">"#,
        r#"<env:Header><a:Action env:mustUnderstand="true">urn:do</a:Action><a:MessageID>urn:1</a:MessageID></env:Header>"#,
        r#"<env:Body><m:Do xmlns:m="urn:m">x</m:Do></env:Body></env:Envelope>"#
    ))
    .unwrap();
    assert_eq!(e.version, Version::Soap12);
    assert_eq!(e.headers.len(), 2);
    assert_eq!(e.header(WSA, "Action").unwrap().text, "urn:do");
    assert!(e.must_understand(e.header(WSA, "Action").unwrap()));
    assert!(!e.must_understand(e.header(WSA, "MessageID").unwrap()));
    assert!(e.payload().unwrap().is("urn:m", "Do"));
    assert!(!e.is_fault());
    assert_eq!(e.fault(), Ok(None));

    // SOAP 1.1 without a Header, with an element after the Body (1.1
    // allows it).
    let e = rd(concat!(
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">"#,
        r#"<soapenv:Body><RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent></soapenv:Body>"#,
        r#"<x:Trailer xmlns:x="urn:x"/></soapenv:Envelope>"#
    ))
    .unwrap();
    assert_eq!(e.version, Version::Soap11);
    assert!(e.headers.is_empty());
    let p = e.payload().unwrap();
    assert!(p.is("urn:vim25", "RetrieveServiceContent"));
    assert_eq!(
        p.child("urn:vim25", "_this").unwrap().attr("type"),
        Some("ServiceInstance")
    );
}

#[test]
fn structure_is_checked() {
    let s12 = r#"xmlns:s="http://www.w3.org/2003/05/soap-envelope""#;
    let s11 = r#"xmlns:s="http://schemas.xmlsoap.org/soap/envelope/""#;
    assert_eq!(rd(&format!("<s:Envelope {s12}/>")), Err(SoapError::NoBody));
    assert_eq!(
        rd(&format!("<s:Envelope {s12}><s:Header/></s:Envelope>")),
        Err(SoapError::NoBody)
    );
    for bad in [
        format!("<s:Envelope {s12}><s:Header/><s:Header/><s:Body/></s:Envelope>"),
        format!("<s:Envelope {s12}><s:Body/><s:Header/></s:Envelope>"),
        format!("<s:Envelope {s12}><x/><s:Body/></s:Envelope>"),
        format!("<s:Envelope {s11}><s:Body/><s:Body/></s:Envelope>").replace(s11, s12),
    ] {
        assert!(matches!(rd(&bad), Err(SoapError::Structure(_))), "{bad}");
    }
    // SOAP 1.1 allows trailing elements; a second Body is one of them.
    assert!(rd(&format!(
        "<s:Envelope {s11}><s:Body/><s:Body/></s:Envelope>"
    ))
    .is_ok());

    let not = rd(r#"<s:Body xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>"#).unwrap_err();
    assert!(matches!(not, SoapError::NotEnvelope { .. }), "{not:?}");
    let other =
        rd(r#"<Envelope xmlns="http://example.com/soap-envelope"><Body/></Envelope>"#).unwrap_err();
    assert_eq!(
        other,
        SoapError::UnknownVersion("http://example.com/soap-envelope".into())
    );
    assert_eq!(other.to_fault().code, FaultCode::VersionMismatch);
    assert_eq!(not.to_fault().code, FaultCode::VersionMismatch);
    assert_eq!(SoapError::NoBody.to_fault().code, FaultCode::Sender);
}

#[test]
fn must_understand_follows_roles() {
    let e = rd(concat!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:h="urn:h"><s:Header>"#,
        r#"<h:Known s:mustUnderstand="true"/>"#,
        r#"<h:Unknown s:mustUnderstand="1"/>"#,
        r#"<h:Next s:mustUnderstand="true" s:role="http://www.w3.org/2003/05/soap-envelope/role/next"/>"#,
        r#"<h:Ultimate s:mustUnderstand="true" s:role="http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver"/>"#,
        r#"<h:None s:mustUnderstand="true" s:role="http://www.w3.org/2003/05/soap-envelope/role/none"/>"#,
        r#"<h:Other s:mustUnderstand="true" s:role="urn:some-gateway"/>"#,
        r#"<h:Optional s:mustUnderstand="false"/>"#,
        r#"<h:WrongNs mustUnderstand="true"/>"#,
        r#"</s:Header><s:Body/></s:Envelope>"#
    ))
    .unwrap();
    let names = |v: Vec<&Element>| v.iter().map(|e| e.name.to_string()).collect::<Vec<_>>();
    assert_eq!(
        names(e.not_understood(|h| h.is("urn:h", "Known"))),
        ["Unknown", "Next", "Ultimate"]
    );
    assert!(e.not_understood(|_| true).is_empty());

    let e = rd(concat!(
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:h="urn:h"><s:Header>"#,
        r#"<h:Mine s:mustUnderstand="1"/>"#,
        r#"<h:Next s:mustUnderstand="1" s:actor="http://schemas.xmlsoap.org/soap/actor/next"/>"#,
        r#"<h:Other s:mustUnderstand="1" s:actor="urn:gateway"/>"#,
        r#"<h:Optional s:mustUnderstand="0"/>"#,
        r#"</s:Header><s:Body/></s:Envelope>"#
    ))
    .unwrap();
    assert_eq!(names(e.not_understood(|_| false)), ["Mine", "Next"]);
}

/// The MustUnderstand answer: a fault plus (1.2) a NotUnderstood block
/// naming the header by namespace, which a reader resolves.
#[test]
fn not_understood_answer() {
    let req = rd(concat!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>"#,
        r#"<t:Transaction xmlns:t="urn:tx" s:mustUnderstand="true">5</t:Transaction>"#,
        r#"</s:Header><s:Body/></s:Envelope>"#
    ))
    .unwrap();
    let bad = req.not_understood(|_| false);
    let mut w = EnvelopeWriter::new(Version::Soap12);
    for b in &bad {
        w.not_understood(b);
    }
    let out = w.finish_fault(&Fault::new(
        FaultCode::MustUnderstand,
        "One or more mandatory SOAP header blocks not understood",
    ));
    let answer = rd(&out).unwrap();
    let nu = answer.header(crate::ns::SOAP12, "NotUnderstood").unwrap();
    assert_eq!(nu.attr("qname"), Some("nu:Transaction"));
    assert!(out.contains(r#"xmlns:nu="urn:tx""#), "{out}");
    assert_eq!(
        answer.fault().unwrap().unwrap().code,
        FaultCode::MustUnderstand
    );

    // SOAP 1.1 has no NotUnderstood block: only the fault.
    let mut w = EnvelopeWriter::new(Version::Soap11);
    w.not_understood(bad[0]);
    let out = w.finish_fault(&Fault::new(FaultCode::MustUnderstand, "no"));
    assert!(!out.contains("Header"), "{out}");
    assert!(
        out.contains("<faultcode>s:MustUnderstand</faultcode>"),
        "{out}"
    );
}

#[test]
fn writer_frames_headers_and_body() {
    let mut w = EnvelopeWriter::with(
        Version::Soap12,
        "env",
        &[("xmlns:a", WSA), ("xml:lang", "en-US")],
    );
    w.header_text("a:Action", "urn:x&y", true)
        .header_text("a:RelatesTo", "urn:<1>", false);
    w.header().push_str("<h:Raw xmlns:h=\"urn:h\"/>");
    let out = w.finish("<m:R xmlns:m=\"urn:m\">ok</m:R>");
    assert!(out.starts_with(
        r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing" xml:lang="en-US"><env:Header><a:Action env:mustUnderstand="true">urn:x&amp;y</a:Action>"#
    ), "{out}");
    let e = rd(&out).unwrap();
    assert_eq!(e.headers.len(), 3);
    assert!(e.must_understand(e.header(WSA, "Action").unwrap()));
    assert_eq!(e.header(WSA, "Action").unwrap().text, "urn:x&y");
    assert_eq!(e.header(WSA, "RelatesTo").unwrap().text, "urn:<1>");
    assert_eq!(e.payload().unwrap().text, "ok");

    let mut w = EnvelopeWriter::new(Version::Soap11);
    w.header_text("h:Session", "1", true);
    let out = w.finish("");
    assert!(out.contains(r#"s:mustUnderstand="1""#), "{out}");
    // The prefix is undeclared on purpose: the caller declares what it uses.
    assert!(matches!(
        rd(&out),
        Err(SoapError::Xml(crate::XmlError::UnknownPrefix(_)))
    ));
    // No header written: no Header element.
    let out = EnvelopeWriter::new(Version::Soap11).finish_with(|o| o.push_str("<x/>"));
    assert_eq!(
        out,
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x/></s:Body></s:Envelope>"#
    );
}

/// Every field of a SOAP 1.2 fault comes back as it was written, markup
/// and line ends in the reason included.
#[test]
fn soap12_fault_round_trip() {
    let detail = r#"<FaultDetail xmlns="urn:detail">urn:x</FaultDetail><WSManFault xmlns="urn:f" Code="2150858793"><Message>a &lt; b</Message></WSManFault>"#;
    let fault = Fault {
        code: FaultCode::Receiver,
        subcodes: vec!["w:TimedOut".into(), "w:Inner".into()],
        code_11: None,
        reason: "It took too long & <longer>\r\nthan allowed".into(),
        lang: "en-US".into(),
        node: Some("http://hv01:5985/wsman".into()),
        role: Some(ROLE_ULTIMATE_RECEIVER.into()),
        detail: Some(detail.into()),
    };
    let out =
        EnvelopeWriter::with(Version::Soap12, "s", &[("xmlns:w", "urn:w")]).finish_fault(&fault);
    let env = rd(&out).unwrap();
    assert!(env.is_fault());
    assert_eq!(env.fault().unwrap().unwrap(), fault);
    // The nesting is the spec's: Subcode inside Subcode.
    let code = env
        .payload()
        .unwrap()
        .child(crate::ns::SOAP12, "Code")
        .unwrap();
    let inner = code
        .child(crate::ns::SOAP12, "Subcode")
        .and_then(|s| s.child(crate::ns::SOAP12, "Subcode"))
        .and_then(|s| s.child(crate::ns::SOAP12, "Value"));
    assert_eq!(inner.unwrap().text, "w:Inner");

    // The smallest fault: no subcode, node, role or detail.
    let bare = Fault::sender("bad");
    assert_eq!(
        rd(&bare.to_envelope(Version::Soap12)).unwrap().fault(),
        Ok(Some(bare))
    );
}

/// SOAP 1.1: code, faultstring with its language, faultactor and detail
/// come back; a service's own faultcode is kept as written.
#[test]
fn soap11_fault_round_trip() {
    for fault in [
        Fault {
            code: FaultCode::Sender,
            subcodes: vec![],
            code_11: None,
            reason: "bad \"input\" <here> & there\r\n".into(),
            lang: "de-DE".into(),
            node: None,
            role: Some("urn:gateway".into()),
            detail: Some(r#"<InvalidArgument xmlns="urn:vim25"><invalidProperty>name</invalidProperty></InvalidArgument>"#.into()),
        },
        Fault::receiver("down"),
        Fault::new(FaultCode::VersionMismatch, "1.3?"),
        Fault::receiver("Cannot complete login").with_code_11("ServerFaultCode"),
        Fault::sender("nope").with_code_11("s:Client.Authentication"),
        Fault::receiver("x").with_detail(""),
    ] {
        let out = fault.to_envelope(Version::Soap11);
        let env = rd(&out).unwrap();
        assert_eq!(env.version, Version::Soap11);
        assert_eq!(env.fault().unwrap().as_ref(), Some(&fault), "{out}");
    }
    // Subcodes have no place in 1.1 and are dropped; 1.2's
    // DataEncodingUnknown is a Client fault there.
    let f = Fault::new(FaultCode::DataEncodingUnknown, "enc").with_subcode("w:X");
    let out = f.to_envelope(Version::Soap11);
    assert!(out.contains("<faultcode>s:Client</faultcode>"), "{out}");
    let back = rd(&out).unwrap().fault().unwrap().unwrap();
    assert_eq!((back.code, back.subcodes.len()), (FaultCode::Sender, 0));
}

/// Faults as other stacks write them read as they mean.
#[test]
fn reads_vim25_and_wcf_faults() {
    let vim = rd(concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        "\n",
        r#"<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">"#,
        "\n<soapenv:Body>\n<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Cannot complete login due to an incorrect user name or password.</faultstring><detail><InvalidLoginFault xmlns=\"urn:vim25\" xsi:type=\"InvalidLogin\"></InvalidLoginFault></detail></soapenv:Fault>\n</soapenv:Body>\n</soapenv:Envelope>"
    ))
    .unwrap();
    let f = vim.fault().unwrap().unwrap();
    assert_eq!(f.code, FaultCode::Receiver);
    assert_eq!(f.code_11.as_deref(), Some("ServerFaultCode"));
    assert!(f.reason.starts_with("Cannot complete login"));
    let detail = parse(f.detail.unwrap().as_bytes(), &Limits::default()).unwrap();
    assert!(detail.is("urn:vim25", "InvalidLoginFault"));
    assert_eq!(detail.attrs[0].0, crate::ns::XSI);
    assert_eq!(detail.attr("type"), Some("InvalidLogin"));

    let wcf = rd(concat!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">"#,
        r#"<s:Header><a:Action s:mustUnderstand="1">http://www.w3.org/2005/08/addressing/soap/fault</a:Action></s:Header>"#,
        r#"<s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>a:ActionNotSupported</s:Value></s:Subcode></s:Code>"#,
        r#"<s:Reason><s:Text xml:lang="en-US">The message with Action 'urn:x' cannot be processed at the receiver, due to a ContractFilter mismatch at the EndpointDispatcher.</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"#
    ))
    .unwrap();
    let f = wcf.fault().unwrap().unwrap();
    assert_eq!(f.code, FaultCode::Sender);
    assert_eq!(f.subcodes, ["a:ActionNotSupported"]);
    assert_eq!(f.lang, "en-US");
    assert_eq!(f.detail, None);

    // A 1.1 code name in a 1.2 fault, or no Code at all, is malformed.
    let s12 = r#"xmlns:s="http://www.w3.org/2003/05/soap-envelope""#;
    for body in [
        "<s:Fault><s:Code><s:Value>s:Client</s:Value></s:Code></s:Fault>",
        "<s:Fault><s:Reason/></s:Fault>",
        "<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode/></s:Code></s:Fault>",
    ] {
        let env = rd(&format!(
            "<s:Envelope {s12}><s:Body>{body}</s:Body></s:Envelope>"
        ))
        .unwrap();
        assert!(
            matches!(env.fault(), Err(SoapError::Structure(_))),
            "{body}"
        );
    }
}

/// Billion laughs and external entities: the DTD is refused before
/// anything is declared, let alone expanded; an entity reference without
/// a DTD is refused by name. Both are the sender's fault.
#[test]
fn entity_attacks_are_refused() {
    let laughs = concat!(
        r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">"#,
        r#"<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">"#,
        r#"<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">"#,
        r#"<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>"#,
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x>&lol9;</x></s:Body></s:Envelope>"#
    );
    let xxe = concat!(
        r#"<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>"#,
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x>&xxe;</x></s:Body></s:Envelope>"#
    );
    let external_dtd = concat!(
        r#"<!DOCTYPE s:Envelope SYSTEM "http://127.0.0.1:1/evil.dtd">"#,
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>"#
    );
    let parameter = r#"<!DOCTYPE a [<!ENTITY % p SYSTEM "http://127.0.0.1:1/p">%p;]><a/>"#;
    for doc in [laughs, xxe, external_dtd, parameter] {
        let err = rd(doc).unwrap_err();
        assert_eq!(err, SoapError::Xml(crate::XmlError::Doctype), "{doc}");
        assert_eq!(err.to_fault().code, FaultCode::Sender);
    }
    for undeclared in [
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x>&xxe;</x></s:Body></s:Envelope>"#,
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x y="&lol9;"/></s:Body></s:Envelope>"#,
    ] {
        assert!(
            matches!(
                rd(undeclared),
                Err(SoapError::Xml(crate::XmlError::Entity(_)))
            ),
            "{undeclared}"
        );
    }
    // The refusal's text, echoed into a fault, is itself a well-formed
    // envelope (what a service sends back).
    let answer = rd(laughs)
        .unwrap_err()
        .to_fault()
        .to_envelope(Version::Soap12);
    assert_eq!(
        rd(&answer).unwrap().fault().unwrap().unwrap().reason,
        crate::XmlError::Doctype.to_string()
    );
    assert!(!answer.contains("lol"), "{answer}");
}
