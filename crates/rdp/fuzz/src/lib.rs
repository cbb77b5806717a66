//! Fuzz target body for fakedc-rdp: every decoder a VMConnect client's
//! bytes reach (the preconnection PDU, TSRequest and TSCredentials, TPKT
//! and fast-path framing, X.224 Connection Request, MCS Connect Initial
//! with GCC, MCS domain PDUs, share control/data PDUs, slow- and fast-path
//! input). No panic; what parses re-encodes and parses again to the same
//! thing; framed lengths stay inside the limits.

use fakedc_rdp::credssp::{self, TsRequest};
use fakedc_rdp::{pcb, pdu};

pub fn decode(data: &[u8]) {
    // Preconnection PDU.
    if let Some(head) = data.get(..4) {
        let head: [u8; 4] = [head[0], head[1], head[2], head[3]];
        if let Ok(n) = pcb::declared_size(head) {
            assert!((pcb::MIN_PCB..=pcb::MAX_PCB).contains(&n));
        }
    }
    if let Ok(p) = pcb::decode(data) {
        if let Some(id) = p.vm_id() {
            // One UTF-16 unit per character at most (surrogate pairs: two).
            assert!(id.chars().count() <= data.len() / 2);
        }
    }
    // CredSSP.
    if let Ok(Some(n)) = credssp::frame_len(data) {
        assert!(n <= credssp::MAX_TS_REQUEST);
    }
    if let Ok(r) = TsRequest::decode(data) {
        let again = TsRequest::decode(&r.encode()).expect("a decoded TSRequest re-encodes");
        assert_eq!(again, r);
    }
    if let Ok(c) = credssp::decode_credentials(data) {
        let again = credssp::decode_credentials(&credssp::encode_credentials(&c))
            .expect("decoded credentials re-encode");
        assert_eq!(again, c);
    }
    // RDP framing and PDUs.
    if let Ok(Some((_, n))) = pdu::frame(data) {
        assert!(n >= 2);
    }
    let _ = pdu::decode_cr(data);
    if let Ok(payload) = pdu::x224_payload(data) {
        if let Ok(c) = pdu::decode_connect_initial(payload) {
            assert!(c.channels.len() <= pdu::MAX_CHANNELS);
            let f = pdu::encode_connect_initial(&c);
            let again = pdu::x224_payload(&f)
                .and_then(pdu::decode_connect_initial)
                .expect("a decoded Connect Initial re-encodes");
            assert_eq!(again.channels, c.channels);
            assert_eq!((again.width, again.height), (c.width, c.height));
        }
        if let Ok(pdu::Domain::SendData { data: d, .. }) = pdu::decode_domain(payload) {
            if let Ok(pdu::Share::Data { body, .. }) = pdu::decode_share(d) {
                let _ = pdu::decode_slow_path_input(body);
            }
            let _ = pdu::is_client_info(d);
        }
    }
    let _ = pdu::decode_connect_initial(data);
    let _ = pdu::decode_domain(data);
    let _ = pdu::decode_share(data);
    let _ = pdu::decode_slow_path_input(data);
    if let Ok(ev) = pdu::decode_fast_path_input(data) {
        assert!(ev.len() <= 255);
    }
}
