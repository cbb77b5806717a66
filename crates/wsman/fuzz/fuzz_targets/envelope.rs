//! The envelope parser (XML tree + WS-Man headers) must never panic, and
//! whatever it refuses must turn into a fault envelope that itself parses.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match fakedc_wsman::message::parse_request(data) {
        Ok(req) => {
            let _ = req.selector("ShellId");
            let _ = req.body_first();
        }
        Err(fault) => {
            let xml = fault.to_xml(Some("uuid:x"), "fuzz");
            assert!(fakedc_wsman::xml::parse(xml.as_bytes(), &Default::default()).is_ok());
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = fakedc_wsman::wql::parse(s);
        let _ = fakedc_wsman::message::parse_duration(s);
    }
});
