//! Fuzz target: arbitrary bytes into every wire parser, into `Sessions::handle` (with
//! live RMCP+ and IPMI 1.5 sessions, so inputs can reach integrity, decryption and
//! sequence-window code), and into both consoles. Any panic is a bug.
//!
//! The input is split on the byte sequence `FF 00 FF 00` into several datagrams that
//! are fed in order, so the fuzzer can build multi-packet exchanges. All randomness is
//! seeded, so session IDs and keys are the same on every run and a crash reproduces.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fakedc_ipmi::crypto;
use fakedc_ipmi::session::{LanAuthTypes, Outcome, Privilege, SessionConfig, Sessions, UserTable};
use fakedc_ipmi::wire::console::{parse_presession_response, Console, HandshakeStep, Lan15Console};
use fakedc_ipmi::wire::{
    self, AsfMessage, AuthType, IpmiMessage, Lan15Packet, OpenSessionRequest, OpenSessionResponse,
    Rakp1, Rakp2, Rakp3, Rakp4, RmcpPlusPacket,
};
use libfuzzer_sys::fuzz_target;

fn parsers(d: &[u8]) {
    let _ = wire::parse(d);
    let _ = AsfMessage::parse(d);
    let _ = Lan15Packet::parse(d);
    let _ = IpmiMessage::parse(d);
    if let Ok(p) = RmcpPlusPacket::parse(d) {
        let _ = p.integrity(12);
        let _ = p.integrity(16);
    }
    let _ = OpenSessionRequest::parse(d);
    let _ = OpenSessionResponse::parse(d);
    let _ = Rakp1::parse(d);
    let _ = Rakp2::parse(d);
    let _ = Rakp3::parse(d);
    let _ = Rakp4::parse(d);
    let _ = parse_presession_response(d);
    let _ = crypto::aes_cbc_decrypt(&[3; 20], d);
}

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(pos) = rest.windows(4).position(|w| w == [0xFF, 0x00, 0xFF, 0x00]) {
        out.push(&rest[..pos]);
        rest = &rest[pos + 4..];
    }
    out.push(rest);
    out
}

fuzz_target!(|data: &[u8]| {
    let cfg = SessionConfig {
        suites: vec![0, 1, 2, 3, 17],
        lan_auth_types: LanAuthTypes {
            none: true,
            md5: true,
            password: true,
        },
        ..SessionConfig::default()
    };
    let users = UserTable::new().with_user("admin", "password", 2, Privilege::Admin);
    let mut bmc = Sessions::with_seed(cfg, 1);
    let peer: SocketAddr = "127.0.0.1:623".parse().expect("addr");
    let t0 = Instant::now();

    let mut consoles = Vec::new();
    for suite in [3u8, 17, 0] {
        let Ok(mut c) = Console::with_seed(b"admin", b"password", suite, Privilege::Admin, 9)
        else {
            return;
        };
        let mut d = c.start();
        loop {
            let Outcome::Reply { datagram, .. } = bmc.handle(t0, peer, &d, &users) else {
                return;
            };
            match c.handle(&datagram) {
                Ok(HandshakeStep::Send(n)) => d = n,
                Ok(HandshakeStep::Established) => break,
                Err(_) => return,
            }
        }
        consoles.push(c);
    }
    let Ok(mut l15) =
        Lan15Console::with_seed(b"admin", b"password", AuthType::Md5, Privilege::Admin, 9)
    else {
        return;
    };
    let mut d = l15.start();
    loop {
        let Outcome::Reply { datagram, .. } = bmc.handle(t0, peer, &d, &users) else {
            return;
        };
        match l15.handle(&datagram) {
            Ok(HandshakeStep::Send(n)) => d = n,
            Ok(HandshakeStep::Established) => break,
            Err(_) => return,
        }
    }

    for (i, d) in split(data).into_iter().enumerate() {
        parsers(d);
        let now = t0 + Duration::from_secs(i as u64);
        if let Outcome::Request(req) = bmc.handle(now, peer, d, &users) {
            let _ = bmc.seal_response(&req, 0, d);
        }
        for c in &consoles {
            let _ = c.response(d);
        }
        let _ = l15.response(d);
    }
});
