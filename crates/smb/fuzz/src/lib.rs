//! Fuzz target bodies for fakedc-smb: everything a client's bytes reach.
//!
//! - `decode`: the transport framing (445 and 139), the NetBIOS session
//!   request, every SMB2 request-body parser, the SMB1 upgrade check, the
//!   transform opener, and a whole connection state machine (IPC$ only, so
//!   no file system) fed the input as frames. No panic; a frame never
//!   exceeds its limit; the server's answers stay bounded by its own
//!   limits, never by what the peer claims.
//! - `rpc`: DCE/RPC PDUs through a bound srvsvc pipe and the NDR stubs of
//!   NetrShareEnum/NetrShareGetInfo, ept_lookup and ept_map. No panic;
//!   every answer is a whole PDU whose frag_length is its length.

use fakedc_smb::conn::{Accounts, Connection, Server, Share};
use fakedc_smb::crypto::{self, Cipher};
use fakedc_smb::rpc::{self, PipeRpc, ShareInfo, Srvsvc};
use fakedc_smb::{nbss, proto};
use fakedc_wire::Reader;
use std::sync::Arc;

const MAX_FRAME: usize = 1 << 20;

struct NoOne;

impl Accounts for NoOne {
    fn password_of(&self, user: &str) -> Option<String> {
        (user.eq_ignore_ascii_case("Administrator")).then(|| "P@ssw0rd!".to_string())
    }
    fn is_admin(&self, _user: &str) -> bool {
        true
    }
}

fn server() -> Arc<Server> {
    Arc::new(Server {
        target: fakedc_ntlm::TargetInfo {
            nb_domain: "HV01".into(),
            nb_computer: "HV01".into(),
            dns_domain: "lab.test".into(),
            dns_computer: "hv01.lab.test".into(),
            time: 133_000_000_000_000_000,
        },
        guid: [7; 16],
        shares: vec![Share {
            name: "IPC$".into(),
            remark: "Remote IPC".into(),
            share_type: rpc::STYPE_SPECIAL | rpc::STYPE_IPC,
            root: None,
            admin_only: false,
            base: Default::default(),
            acl: None,
        }],
        require_signing: false,
        encrypt_data: false,
        start_time: 133_000_000_000_000_000,
        locks: Default::default(),
        share_modes: Default::default(),
        oplocks: Default::default(),
        quota: None,
    })
}

fn parsers(msg: &[u8]) {
    let r = Reader::new(msg);
    let mut h = Reader::new(msg);
    let _ = proto::Header::parse(&mut h);
    let body = || {
        r.window(
            proto::HEADER_LEN,
            msg.len().saturating_sub(proto::HEADER_LEN),
        )
        .unwrap_or(Reader::new(&[]))
    };
    let _ = proto::Negotiate::parse(&r, &mut body());
    let _ = proto::SessionSetup::parse(&r, &mut body());
    let _ = proto::tree_connect_path(&r, &mut body());
    let _ = proto::Create::parse(&r, &mut body());
    let _ = proto::close(&mut body());
    let _ = proto::oplock_break_ack(&mut body());
    let _ = proto::flush(&mut body());
    let _ = proto::Read::parse(&mut body());
    if let Ok(w) = proto::Write::parse(&r, &mut body()) {
        assert!(w.data.len() <= msg.len());
    }
    let _ = proto::QueryDirectory::parse(&r, &mut body());
    let _ = proto::QueryInfo::parse(&mut body());
    let _ = proto::SetInfo::parse(&r, &mut body());
    let _ = proto::Ioctl::parse(&r, &mut body());
    let _ = proto::ChangeNotify::parse(&mut body());
    let _ = proto::lock(&mut body());
    let _ = proto::smb1_negotiate_offer(msg);
    let _ = proto::id_list(msg);
    let _ = proto::preauth_algorithms(msg);
    for c in [
        Cipher::Aes128Ccm,
        Cipher::Aes128Gcm,
        Cipher::Aes256Ccm,
        Cipher::Aes256Gcm,
    ] {
        // Not the seeds' key: nothing in the input can know this one.
        let key = vec![0xA5u8; c.key_bits() as usize / 8];
        assert!(
            crypto::decrypt(c, &key, msg).is_err(),
            "a forged transform opened"
        );
    }
}

pub fn decode(data: &[u8]) {
    let _ = nbss::parse_session_request(data);
    parsers(data);
    // The input as a byte stream: frames as the service cuts them, each
    // handed to one connection.
    let mut c = Connection::new(server());
    let mut at = 0;
    while let Ok(Some(f)) = nbss::next_frame(&data[at..], MAX_FRAME) {
        assert!(f.len <= MAX_FRAME);
        let Some(frame) = data.get(at + 4..at + f.total()) else {
            break;
        };
        parsers(frame);
        if f.kind == nbss::SESSION_MESSAGE {
            let out = c.handle(frame, 133_000_000_000_000_000, &NoOne, [3; 16]);
            for o in &out.frames {
                assert!(
                    o.len() <= 2 * MAX_FRAME + 4096,
                    "answer of {} bytes",
                    o.len()
                );
            }
            if out.close {
                break;
            }
        }
        at += f.total();
    }
    // A change for whatever notifications the input left pending.
    let _ = c.on_change(&[fakedc_smb::conn::Change {
        action: 1,
        path: "a".into(),
    }]);
    // And the whole input as one frame.
    let _ = Connection::new(server()).handle(data, 0, &NoOne, [0; 16]);
}

pub fn rpc(data: &[u8]) {
    let shares = vec![
        ShareInfo {
            name: "ADMIN$".into(),
            share_type: rpc::STYPE_SPECIAL,
            remark: "Remote Admin".into(),
        },
        ShareInfo {
            name: "IPC$".into(),
            share_type: rpc::STYPE_SPECIAL | rpc::STYPE_IPC,
            remark: "Remote IPC".into(),
        },
    ];
    let iface = Srvsvc { shares: &shares };
    let _ = rpc::netr_share_enum(data, &shares);
    let _ = rpc::netr_share_get_info(data, &shares);
    let mut pipe = PipeRpc::default();
    let mut at = 0;
    while let Some(n) = rpc::pdu_len(&data[at..]) {
        if n < rpc::HEADER_LEN || at + n > data.len() {
            break;
        }
        if let Ok(out) = pipe.feed(&data[at..at + n], &iface) {
            // Every answer is whole PDUs, each as long as its frag_length.
            let mut o = 0;
            while o < out.len() {
                let len = rpc::pdu_len(&out[o..]).expect("PDU header");
                assert!(len >= rpc::HEADER_LEN && o + len <= out.len());
                o += len;
            }
        }
        at += n;
    }
    let _ = PipeRpc::default().feed(data, &iface);
    // The endpoint mapper's stubs and PDUs (135).
    let epm = fakedc_smb::epm::Epm {
        entries: fakedc_smb::epm::registrations("HV01"),
        addresses: vec!["HV01".into(), "127.0.0.1".into()],
    };
    let _ = rpc::Interface::call(&epm, 0, 2, data);
    let _ = rpc::Interface::call(&epm, 0, 3, data);
    let _ = rpc::Interface::call(&epm, 1, 5, data);
    // wkssvc's NetrWkstaGetInfo stub.
    let wks = rpc::Wkssvc {
        computer: "HV01",
        domain: "HV01",
        admin: false,
    };
    let _ = rpc::Interface::call(&wks, 0, 0, data);
    let _ = PipeRpc::default().feed(data, &wks);
    let _ = PipeRpc::default().feed(data, &epm);
}
