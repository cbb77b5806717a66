//! Body of the `decode` fuzz target, kept out of `fuzz_targets/` so that the
//! stable smoke test (`crates/fuzzing/tests/smoke.rs`, which includes this
//! file) runs exactly what libFuzzer runs.
//!
//! Arbitrary bytes go into every wire parser, into `Sessions::handle` (with
//! live RMCP+ and IPMI 1.5 sessions, so inputs can reach integrity,
//! decryption and sequence-window code), and into both consoles. Any panic is
//! a bug; so is a parse → emit → parse that does not give back what was
//! parsed, and a BMC reply that our own parser refuses.
//!
//! The input is split on [`SEPARATOR`] into several datagrams fed in order,
//! so the fuzzer can build multi-packet exchanges. All randomness is seeded:
//! session IDs and keys are the same on every run, so a crash reproduces and
//! [`Harness::sealed_requests`] can make in-session seeds.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use fakedc_ipmi::crypto;
use fakedc_ipmi::session::{LanAuthTypes, Outcome, Privilege, SessionConfig, Sessions, UserTable};
use fakedc_ipmi::wire::console::{parse_presession_response, Console, HandshakeStep, Lan15Console};
use fakedc_ipmi::wire::{
    self, AsfMessage, AuthType, Datagram, IpmiMessage, Lan15Packet, OpenSessionRequest,
    OpenSessionResponse, Rakp1, Rakp2, Rakp3, Rakp4, RmcpPlusPacket, MAX_DATAGRAM,
};

/// Splits one fuzz input into datagrams.
pub const SEPARATOR: [u8; 4] = [0xFF, 0x00, 0xFF, 0x00];

/// A BMC with one established session per console: RMCP+ cipher suites 3,
/// 17 and 0, and an IPMI 1.5 MD5 session.
pub struct Harness {
    bmc: Sessions,
    users: UserTable,
    consoles: Vec<Console>,
    lan15: Lan15Console,
    t0: Instant,
    peer: SocketAddr,
}

impl Harness {
    /// Runs the four handshakes; `None` if one fails (a regression the smoke
    /// test reports, since the fuzzer would then only reach the parsers).
    pub fn new() -> Option<Harness> {
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
        let peer = SocketAddr::from((Ipv4Addr::LOCALHOST, 623));
        let t0 = Instant::now();
        let mut consoles = Vec::new();
        for suite in [3u8, 17, 0] {
            let mut c =
                Console::with_seed(b"admin", b"password", suite, Privilege::Admin, 9).ok()?;
            let mut d = c.start();
            loop {
                let Outcome::Reply { datagram, .. } = bmc.handle(t0, peer, &d, &users) else {
                    return None;
                };
                match c.handle(&datagram).ok()? {
                    HandshakeStep::Send(n) => d = n,
                    HandshakeStep::Established => break,
                }
            }
            consoles.push(c);
        }
        let mut lan15 =
            Lan15Console::with_seed(b"admin", b"password", AuthType::Md5, Privilege::Admin, 9)
                .ok()?;
        let mut d = lan15.start();
        loop {
            let Outcome::Reply { datagram, .. } = bmc.handle(t0, peer, &d, &users) else {
                return None;
            };
            match lan15.handle(&datagram).ok()? {
                HandshakeStep::Send(n) => d = n,
                HandshakeStep::Established => break,
            }
        }
        Some(Harness {
            bmc,
            users,
            consoles,
            lan15,
            t0,
            peer,
        })
    }

    /// Valid in-session requests (Get Device ID, then Get Chassis Status)
    /// from each console, each of which a fresh harness accepts: seeds that
    /// start the fuzzer past the integrity and decryption checks.
    pub fn sealed_requests(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for c in &mut self.consoles {
            out.extend(c.request(0x06, 0x01, &[]).ok());
            out.extend(c.request(0x00, 0x01, &[]).ok());
        }
        out.extend(self.lan15.request(0x06, 0x01, &[]).ok());
        out.extend(self.lan15.request(0x00, 0x01, &[]).ok());
        out
    }

    /// Feeds one datagram as the `i`-th of an input, to the parsers, the BMC
    /// and every console. True when the BMC took it as an IPMI request.
    pub fn feed(&mut self, i: usize, d: &[u8]) -> bool {
        parsers(d);
        let now = self.t0 + Duration::from_secs(i as u64);
        let request = match self.bmc.handle(now, self.peer, d, &self.users) {
            Outcome::Request(req) => {
                // A response of realistic size (the command layer's are small).
                let data = &d[..d.len().min(64)];
                if let Some(reply) = self.bmc.seal_response(&req, 0, data) {
                    assert_sendable(&reply);
                }
                true
            }
            Outcome::Reply { datagram, .. } => {
                assert_sendable(&datagram);
                false
            }
            _ => false,
        };
        for c in &self.consoles {
            let _ = c.response(d);
        }
        let _ = self.lan15.response(d);
        request
    }
}

/// What the BMC sends must fit a datagram and parse with our own codec.
fn assert_sendable(d: &[u8]) {
    assert!(d.len() <= MAX_DATAGRAM, "reply of {} bytes", d.len());
    assert!(wire::parse(d).is_ok(), "BMC reply does not parse: {d:02x?}");
}

/// The fuzz target: see the module documentation.
pub fn decode(data: &[u8]) {
    let Some(mut h) = Harness::new() else {
        return;
    };
    for (i, d) in split(data).into_iter().enumerate() {
        h.feed(i, d);
    }
}

/// Splits `data` on [`SEPARATOR`].
pub fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(pos) = rest.windows(4).position(|w| w == SEPARATOR) {
        out.push(&rest[..pos]);
        rest = &rest[pos + 4..];
    }
    out.push(rest);
    out
}

/// Every parser on `d`, asserting that what parses re-encodes to the same
/// structure (byte for byte where the format has one encoding).
pub fn parsers(d: &[u8]) {
    if let Ok(Datagram::RmcpPlus(p)) = wire::parse(d) {
        assert_eq!(p.payload.len(), usize::from(p.header.payload_len));
    }
    if let Ok(m) = AsfMessage::parse(d) {
        let mut out = Vec::new();
        m.emit(&mut out)
            .expect("a parsed ASF message fits its length byte");
        // Not byte for byte: the reserved byte is written as zero.
        assert_eq!(AsfMessage::parse(&out), Ok(m));
    }
    if let Ok(p) = Lan15Packet::parse(d) {
        let mut out = Vec::new();
        p.emit(&mut out)
            .expect("a parsed message fits its length byte");
        // emit() writes the RMCP header and drops a legacy pad byte.
        let body = &out[4..];
        assert!(body == d || (d.len() == body.len() + 1 && d.ends_with(&[0])));
        assert_eq!(Lan15Packet::parse(body), Ok(p));
    }
    if let Ok(m) = IpmiMessage::parse(d) {
        assert_eq!(m.to_vec(), d, "IPMI message round trip");
    }
    if let Ok(p) = RmcpPlusPacket::parse(d) {
        let mut out = Vec::new();
        p.header.emit(&mut out);
        out.extend_from_slice(p.payload);
        out.extend_from_slice(p.trailer);
        assert_eq!(out, d, "RMCP+ round trip");
        for n in [12, 16] {
            if let Ok(t) = p.integrity(n) {
                assert_eq!(t.auth_code.len(), n);
                assert!(t.pad_len <= 3);
                assert_eq!(t.signed.len() + n, d.len());
            }
        }
    }
    if let Ok(m) = OpenSessionRequest::parse(d) {
        let mut out = Vec::new();
        m.emit(&mut out);
        assert_eq!(OpenSessionRequest::parse(&out), Ok(m));
    }
    if let Ok(m) = OpenSessionResponse::parse(d) {
        let mut out = Vec::new();
        m.emit(&mut out);
        assert_eq!(OpenSessionResponse::parse(&out), Ok(m));
    }
    if let Ok(m) = Rakp1::parse(d) {
        let mut out = Vec::new();
        m.emit(&mut out);
        assert_eq!(Rakp1::parse(&out), Ok(m));
    }
    if let Ok(m) = Rakp2::parse(d) {
        let mut out = Vec::new();
        m.emit(&mut out);
        assert_eq!(Rakp2::parse(&out), Ok(m));
    }
    if let Ok(m) = Rakp3::parse(d) {
        let mut out = Vec::new();
        m.emit(&mut out);
        assert_eq!(Rakp3::parse(&out), Ok(m));
    }
    if let Ok(m) = Rakp4::parse(d) {
        let mut out = Vec::new();
        m.emit(&mut out);
        assert_eq!(Rakp4::parse(&out), Ok(m));
    }
    let _ = parse_presession_response(d);
    let _ = crypto::aes_cbc_decrypt(&[3; 20], d);
}
