//! Hostile input: truncated, mutated, spliced and random datagrams fed to
//! `Sessions::handle` (with live sessions, so mutated packets reach the crypto and
//! window code), to every wire parser and to both consoles. The test passes if nothing
//! panics and the genuine sessions still work afterwards. Deterministic (seeded), so a
//! failure reproduces; the cargo-fuzz target in `fuzz/` explores further.
#![allow(clippy::disallowed_methods)] // tests and benchmarks time real peers on the real clock

mod common;

use std::net::SocketAddr;
use std::time::Instant;

use fakedc_ipmi::crypto;
use fakedc_ipmi::session::{LanAuthTypes, Outcome, Privilege, SessionConfig, Sessions, UserTable};
use fakedc_ipmi::wire::console::{parse_presession_response, Console, HandshakeStep, Lan15Console};
use fakedc_ipmi::wire::{
    self, AsfMessage, AuthType, IpmiMessage, Lan15Packet, OpenSessionRequest, OpenSessionResponse,
    PayloadKind, Rakp1, Rakp2, Rakp3, Rakp4, RmcpHeader, RmcpPlusPacket,
};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

const ITERATIONS: usize = 40_000;

fn handshake(
    bmc: &mut Sessions,
    users: &UserTable,
    peer: SocketAddr,
    c: &mut Console,
    corpus: &mut Vec<Vec<u8>>,
) {
    let mut d = c.start();
    loop {
        corpus.push(d.clone());
        let Outcome::Reply { datagram, .. } = bmc.handle(Instant::now(), peer, &d, users) else {
            panic!("handshake reply")
        };
        corpus.push(datagram.clone());
        match c.handle(&datagram).expect("handshake") {
            HandshakeStep::Send(n) => d = n,
            HandshakeStep::Established => return,
        }
    }
}

fn every_parser(d: &[u8]) {
    let _ = wire::parse(d);
    let _ = RmcpHeader::parse(d);
    let _ = AsfMessage::parse(d);
    let _ = Lan15Packet::parse(d);
    let _ = IpmiMessage::parse(d);
    if let Ok(p) = RmcpPlusPacket::parse(d) {
        for len in [0, 12, 16, 20, 255] {
            let _ = p.integrity(len);
        }
    }
    let _ = OpenSessionRequest::parse(d);
    let _ = OpenSessionResponse::parse(d);
    let _ = Rakp1::parse(d);
    let _ = Rakp2::parse(d);
    let _ = Rakp3::parse(d);
    let _ = Rakp4::parse(d);
    let _ = parse_presession_response(d);
    let _ = crypto::aes_cbc_decrypt(&[1; 20], d);
}

fn mutate(rng: &mut StdRng, base: &[u8]) -> Vec<u8> {
    let mut d = base.to_vec();
    match rng.gen_range(0..6) {
        0 => {
            // Flip a few bits.
            for _ in 0..rng.gen_range(1..4) {
                if !d.is_empty() {
                    let i = rng.gen_range(0..d.len());
                    d[i] ^= 1 << rng.gen_range(0..8);
                }
            }
        }
        1 => d.truncate(rng.gen_range(0..=d.len())),
        2 => {
            let n = rng.gen_range(1..64);
            d.extend((0..n).map(|_| rng.gen::<u8>()));
        }
        3 => {
            // Overwrite a length-ish byte with an extreme value.
            if !d.is_empty() {
                let i = rng.gen_range(0..d.len());
                d[i] = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF][rng.gen_range(0..6)];
            }
        }
        4 => {
            // Random tail after a valid prefix.
            let keep = rng.gen_range(0..=d.len());
            d.truncate(keep);
            let n = rng.gen_range(0..80);
            d.extend((0..n).map(|_| rng.gen::<u8>()));
        }
        _ => {
            // Pure noise behind an IPMI or ASF RMCP header.
            let n = rng.gen_range(0..120);
            d = vec![0x06, 0x00, 0xFF, if rng.gen() { 0x07 } else { 0x06 }];
            if rng.gen() {
                d.push(if rng.gen() { 0x06 } else { 0x02 });
                d.push(rng.gen());
            }
            let mut tail = vec![0u8; n];
            rng.fill_bytes(&mut tail);
            d.extend(tail);
        }
    }
    d
}

#[test]
fn hostile_datagrams_never_panic() {
    let cfg = SessionConfig {
        suites: vec![0, 1, 2, 3, 17],
        lan_auth_types: LanAuthTypes {
            none: true,
            md5: true,
            password: true,
        },
        max_sessions: 64,
        ..SessionConfig::default()
    };
    let users = UserTable::new().with_user("admin", "password", 2, Privilege::Admin);
    let mut bmc = Sessions::with_seed(cfg, 7);
    let peer: SocketAddr = "127.0.0.1:40001".parse().expect("addr");
    let other: SocketAddr = "127.0.0.1:40002".parse().expect("addr");

    let mut corpus: Vec<Vec<u8>> = common::CAPTURES
        .iter()
        .flat_map(|n| common::capture(n).into_iter().map(|(_, d)| d))
        .collect();
    let mut consoles = Vec::new();
    for suite in [3, 17, 0, 2] {
        let mut c = Console::with_seed(
            b"admin",
            b"password",
            suite,
            Privilege::Admin,
            100 + u64::from(suite),
        )
        .expect("console");
        handshake(&mut bmc, &users, peer, &mut c, &mut corpus);
        for _ in 0..3 {
            corpus.push(c.request(0x06, 0x01, &[1, 2, 3]).expect("rq"));
            corpus.push(
                c.seal_payload(PayloadKind::Sol, &[1, 0, 0, 0, 9])
                    .expect("sol"),
            );
        }
        consoles.push(c);
    }
    let mut l15 =
        Lan15Console::with_seed(b"admin", b"password", AuthType::Md5, Privilege::Admin, 9)
            .expect("lan15");
    let mut d = l15.start();
    loop {
        corpus.push(d.clone());
        let Outcome::Reply { datagram, .. } = bmc.handle(Instant::now(), peer, &d, &users) else {
            panic!("lan15 reply")
        };
        corpus.push(datagram.clone());
        match l15.handle(&datagram).expect("lan15 handshake") {
            HandshakeStep::Send(n) => d = n,
            HandshakeStep::Established => break,
        }
    }
    corpus.push(l15.request(0x06, 0x01, &[]).expect("rq"));

    let mut rng = StdRng::seed_from_u64(0x1dea);
    let mut spare = Console::with_seed(b"admin", b"password", 3, Privilege::Admin, 1).expect("c");
    let mut outcomes = [0usize; 4];
    for i in 0..ITERATIONS {
        let base = &corpus[rng.gen_range(0..corpus.len())];
        let d = mutate(&mut rng, base);
        let from = if i % 5 == 0 { other } else { peer };
        let o = bmc.handle(Instant::now(), from, &d, &users);
        outcomes[match o {
            Outcome::Reply { .. } => 0,
            Outcome::Request(_) => 1,
            Outcome::Payload { .. } => 2,
            Outcome::Drop(_) => 3,
        }] += 1;
        // Answering whatever got through must not panic either.
        if let Outcome::Request(req) = &o {
            let _ = bmc.seal_response(req, 0xC1, &[]);
        }
        every_parser(&d);
        if d.len() > 4 {
            every_parser(&d[4..]);
        }
        // Consoles fed garbage (they reset on error; restart keeps them usable).
        if spare.handle(&d).is_err() {
            let _ = spare.start();
        }
        let _ = consoles[i % consoles.len()].response(&d);
        let _ = l15.response(&d);
    }
    eprintln!("outcomes (reply, request, payload, drop): {outcomes:?}");
    assert!(
        outcomes[3] > ITERATIONS / 2,
        "most garbage is dropped: {outcomes:?}"
    );

    // The integrity-protected sessions survived the barrage.
    for c in consoles.iter_mut().take(2) {
        let rq = c.request(0x06, 0x01, &[]).expect("rq");
        let Outcome::Request(req) = bmc.handle(Instant::now(), peer, &rq, &users) else {
            panic!("session broken by garbage")
        };
        let rsp = bmc.seal_response(&req, 0, &[7]).expect("rsp");
        assert_eq!(c.response(&rsp).expect("rsp").data, [7]);
    }
}

#[test]
fn every_prefix_of_every_capture_is_handled() {
    let users = UserTable::new().with_user("admin", "password", 2, Privilege::Admin);
    let mut bmc = Sessions::with_seed(SessionConfig::default(), 3);
    let peer: SocketAddr = "127.0.0.1:40001".parse().expect("addr");
    for name in common::CAPTURES {
        for (_, d) in common::capture(name) {
            for end in 0..=d.len() {
                let _ = bmc.handle(Instant::now(), peer, &d[..end], &users);
                every_parser(&d[..end]);
            }
        }
    }
}
