//! In-memory sessions: the crate's own [`Console`] / [`Lan15Console`] against
//! [`Sessions`], covering every supported suite, IPMI 1.5 authentication types, and
//! the refusal and drop paths; pre-session requests go on to the command layer as in
//! the service.
#![allow(clippy::disallowed_methods)] // tests and benchmarks time real peers on the real clock

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fakedc_ipmi::commands::{auth_type, cc, BmcConfig, BmcState};
use fakedc_ipmi::crypto::CryptoError;
use fakedc_ipmi::session::{
    CloseReason, CompletionCode, DropReason, Event, LanAuthTypes, Outcome, Privilege, Request,
    SessionConfig, SessionHandle, SessionKind, Sessions, UserCred, UserTable,
};
use fakedc_ipmi::wire::console::{
    parse_presession_response, presession_request, Console, ConsoleError, ConsoleResponse,
    HandshakeStep, Lan15Console,
};
use fakedc_ipmi::wire::{
    self, AuthAlgorithm, AuthType, ConfidentialityAlgorithm, Datagram, IntegrityAlgorithm,
    OpenSessionRequest, OpenSessionResponse, PayloadKind, RmcpPlusPacket, RmcpStatus,
};
use fakedc_model::{Model, Privilege as ModelPrivilege};

struct Bench {
    bmc: Sessions,
    users: UserTable,
    /// The same users in a model, for the command layer behind pre-session requests.
    model: Model,
    peer: SocketAddr,
    now: Instant,
}

impl Bench {
    fn new(config: SessionConfig) -> Self {
        let users = vec![
            common::user(2, "admin", "password", ModelPrivilege::Admin),
            common::user(3, "operator", "op-pass", ModelPrivilege::Operator),
            common::user(4, "longpass", "01234567890123456789", ModelPrivilege::Admin),
        ];
        Self {
            bmc: Sessions::with_seed(config, 42),
            users: common::user_table(&users),
            model: common::bmc_model(users),
            peer: "127.0.0.1:50000".parse().expect("addr"),
            now: Instant::now(),
        }
    }

    fn default() -> Self {
        Self::new(SessionConfig {
            suites: vec![0, 1, 2, 3, 17],
            lan_auth_types: LanAuthTypes {
                none: true,
                md5: true,
                password: true,
            },
            guid: *b"0123456789abcdef",
            ..SessionConfig::default()
        })
    }

    fn send(&mut self, d: &[u8]) -> Outcome {
        self.bmc.handle(self.now, self.peer, d, &self.users)
    }

    fn reply(&mut self, d: &[u8]) -> Vec<u8> {
        match self.send(d) {
            Outcome::Reply { datagram, .. } => datagram,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    fn request(&mut self, d: &[u8]) -> Request {
        match self.send(d) {
            Outcome::Request(r) => r,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    /// Sends a pre-session request (`lan15`: IPMI 1.5 framing, else RMCP+) and answers
    /// it as the service does, with the command layer and `state`; returns what the
    /// console reads from the sealed response.
    fn presession(
        &mut self,
        state: &mut BmcState,
        lan15: bool,
        cmd: u8,
        rq_seq: u8,
        data: &[u8],
    ) -> ConsoleResponse {
        let req = self.request(&presession_request(lan15, 0x06, cmd, rq_seq, data));
        assert_eq!(req.session, None);
        assert_eq!(req.privilege, None);
        assert_eq!(req.lan15, lan15);
        let r = common::presession_command(&self.model, state, &req);
        let sealed = self.bmc.seal_response(&req, r.cc, &r.data).expect("sealed");
        match wire::parse(&sealed) {
            Ok(Datagram::Lan15(p)) => assert!(lan15 && p.header.session_id == 0),
            Ok(Datagram::RmcpPlus(p)) => assert!(!lan15 && p.header.session_id == 0),
            other => panic!("not a pre-session response: {other:?}"),
        }
        let rsp = parse_presession_response(&sealed).expect("parse");
        assert_eq!((rsp.netfn, rsp.cmd, rsp.rq_seq), (0x07, cmd, rq_seq));
        assert_eq!((rsp.completion_code, &rsp.data), (r.cc, &r.data));
        rsp
    }

    fn dropped(&mut self, d: &[u8]) -> DropReason {
        match self.send(d) {
            Outcome::Drop(r) => r,
            other => panic!("expected a drop, got {other:?}"),
        }
    }

    fn establish(&mut self, c: &mut Console) -> Result<SessionHandle, ConsoleError> {
        let mut d = c.start();
        loop {
            let r = self.reply(&d);
            match c.handle(&r)? {
                HandshakeStep::Send(next) => d = next,
                HandshakeStep::Established => return Ok(SessionHandle(c.bmc_session_id())),
            }
        }
    }

    fn establish15(&mut self, c: &mut Lan15Console) -> Result<SessionHandle, ConsoleError> {
        let mut d = c.start();
        loop {
            let r = self.reply(&d);
            match c.handle(&r)? {
                HandshakeStep::Send(next) => d = next,
                HandshakeStep::Established => return Ok(SessionHandle(c.session_id())),
            }
        }
    }
}

fn console(suite: u8) -> Console {
    Console::with_seed(
        b"admin",
        b"password",
        suite,
        Privilege::Admin,
        u64::from(suite) + 7,
    )
    .expect("console")
}

/// Handshake, a request at User privilege, raise to Admin, a second request, for `suite`.
fn full_session(suite: u8) {
    let mut b = Bench::default();
    let mut c = console(suite);
    let h = b.establish(&mut c).expect("handshake");
    assert_eq!(c.granted_max_privilege(), 4);
    let info = b.bmc.session_info(h).expect("info");
    assert_eq!(info.kind, SessionKind::RmcpPlus { suite });
    assert_eq!(info.privilege, Privilege::User, "sessions start at User");
    assert_eq!(info.user, "admin");

    let rq = c.request(0x06, 0x3B, &[0x04]).expect("request");
    let req = b.request(&rq);
    assert_eq!(
        (req.netfn, req.cmd, req.data.as_slice()),
        (0x06, 0x3B, &[0x04][..])
    );
    assert_eq!(req.session, Some(h));
    assert_eq!(req.privilege, Some(Privilege::User));
    assert!(!req.lan15);
    let p = b.bmc.set_privilege(h, req.data[0]).expect("raise");
    assert_eq!(p, Privilege::Admin);
    let rsp = b.bmc.seal_response(&req, 0, &[p.as_u8()]).expect("sealed");
    let r = c.response(&rsp).expect("response");
    assert_eq!(
        (r.netfn, r.cmd, r.completion_code, r.data),
        (0x07, 0x3B, 0, vec![4])
    );

    let rq = c.request(0x06, 0x01, &[]).expect("request");
    let req = b.request(&rq);
    assert_eq!(req.privilege, Some(Privilege::Admin));
    let rsp = b
        .bmc
        .seal_response(&req, 0, &[0x20, 1, 2, 3])
        .expect("sealed");
    let r = c.response(&rsp).expect("response");
    assert_eq!(r.rq_seq, req.rq_seq);
    assert_eq!(r.data, [0x20, 1, 2, 3]);

    // Wire protection matches the suite.
    let Ok(Datagram::RmcpPlus(p)) = wire::parse(&rq) else {
        panic!("rmcp+")
    };
    let keys = c.keys().expect("keys");
    assert_eq!(p.header.payload_type.encrypted, keys.encrypted());
    assert_eq!(p.header.payload_type.authenticated, keys.authenticated());
}

#[test]
fn suite3_session_with_encrypted_requests() {
    full_session(3);
}

#[test]
fn suite17_session_with_encrypted_requests() {
    full_session(17);
}

#[test]
fn suites_0_1_2_sessions() {
    full_session(0);
    full_session(1);
    full_session(2);
}

#[test]
fn twenty_byte_password_works() {
    let mut b = Bench::default();
    let mut c = Console::with_seed(
        b"longpass",
        b"01234567890123456789",
        17,
        Privilege::Admin,
        3,
    )
    .expect("console");
    b.establish(&mut c).expect("handshake");
}

#[test]
fn unknown_suite_is_refused_never_substituted() {
    // Only suite 3 enabled: the console's suite 17 must be refused, not downgraded.
    let mut b = Bench::new(SessionConfig {
        suites: vec![3],
        ..SessionConfig::default()
    });
    let mut c = console(17);
    let err = b.establish(&mut c).expect_err("refused");
    assert_eq!(
        err,
        ConsoleError::Refused {
            step: "Open Session",
            status: RmcpStatus::InvalidAuthAlgorithm
        }
    );
    assert_eq!(b.bmc.slots_in_use(), 0);

    let propose = |b: &mut Bench, auth, integrity, confidentiality| {
        let rq = OpenSessionRequest {
            tag: 9,
            requested_max_privilege: 0,
            console_session_id: 0x1234,
            algorithms: wire::AlgorithmProposal {
                auth,
                integrity,
                confidentiality,
            },
        };
        let mut body = Vec::new();
        rq.emit(&mut body);
        let mut d = Vec::new();
        RmcpPlusPacket::emit_plain(
            wire::PayloadType::plain(PayloadKind::OpenSessionRequest),
            None,
            0,
            0,
            &body,
            &mut d,
        )
        .expect("emit");
        let r = b.reply(&d);
        let Ok(Datagram::RmcpPlus(p)) = wire::parse(&r) else {
            panic!("rmcp+")
        };
        let rsp = OpenSessionResponse::parse(p.payload).expect("rsp");
        assert_eq!(rsp.tag, 9);
        assert_eq!(rsp.console_session_id, 0x1234);
        rsp.status
    };
    let mut b = Bench::new(SessionConfig {
        suites: vec![3, 17],
        ..SessionConfig::default()
    });
    use AuthAlgorithm as A;
    use ConfidentialityAlgorithm as C;
    use IntegrityAlgorithm as I;
    // Each algorithm is offered by some suite, but not this triple.
    assert_eq!(
        propose(&mut b, A::HmacSha1, I::HmacSha256_128, C::AesCbc128),
        RmcpStatus::NoCipherSuiteMatch
    );
    assert_eq!(
        propose(&mut b, A::HmacMd5, I::HmacSha1_96, C::AesCbc128),
        RmcpStatus::InvalidAuthAlgorithm
    );
    assert_eq!(
        propose(&mut b, A::HmacSha1, I::Md5_128, C::AesCbc128),
        RmcpStatus::InvalidIntegrityAlgorithm
    );
    // Suite 2 exists in the table but is not enabled here.
    assert_eq!(
        propose(&mut b, A::HmacSha1, I::HmacSha1_96, C::None),
        RmcpStatus::InvalidConfidentialityAlgorithm
    );
    assert_eq!(b.bmc.slots_in_use(), 0);
    assert_eq!(
        propose(&mut b, A::HmacSha256, I::HmacSha256_128, C::AesCbc128),
        RmcpStatus::NoError
    );
}

#[test]
fn unknown_user_gets_rakp2_status_0d() {
    let mut b = Bench::default();
    let mut c =
        Console::with_seed(b"nobody", b"password", 3, Privilege::Admin, 1).expect("console");
    let err = b.establish(&mut c).expect_err("refused");
    assert_eq!(
        err,
        ConsoleError::Refused {
            step: "RAKP1",
            status: RmcpStatus::UnauthorizedName
        }
    );
    assert_eq!(b.bmc.slots_in_use(), 0, "refused handshake frees its slot");
}

#[test]
fn disabled_user_gets_rakp2_status_0d() {
    let mut b = Bench::default();
    b.users.insert(
        b"admin",
        UserCred {
            id: 2,
            password: b"password".to_vec(),
            max_privilege: Privilege::Admin,
            enabled: false,
        },
    );
    let err = b.establish(&mut console(3)).expect_err("refused");
    assert!(matches!(
        err,
        ConsoleError::Refused {
            status: RmcpStatus::UnauthorizedName,
            ..
        }
    ));
}

#[test]
fn role_above_user_maximum_gets_rakp2_status_0a() {
    let mut b = Bench::default();
    let mut c =
        Console::with_seed(b"operator", b"op-pass", 3, Privilege::Admin, 1).expect("console");
    let err = b.establish(&mut c).expect_err("refused");
    assert_eq!(
        err,
        ConsoleError::Refused {
            step: "RAKP1",
            status: RmcpStatus::UnauthorizedRole
        }
    );
    let mut c =
        Console::with_seed(b"operator", b"op-pass", 3, Privilege::Operator, 1).expect("console");
    let h = b.establish(&mut c).expect("operator may ask for operator");
    assert_eq!(b.bmc.set_privilege(h, 4), Err(CompletionCode(0x81)));
    assert_eq!(b.bmc.set_privilege(h, 3), Ok(Privilege::Operator));
    assert_eq!(
        b.bmc.set_privilege(h, 0),
        Ok(Privilege::Operator),
        "0 reports the level"
    );
    assert_eq!(
        b.bmc.set_privilege(h, 9),
        Err(CompletionCode(cc::INVALID_FIELD))
    );
}

#[test]
fn name_and_privilege_lookup() {
    let mut b = Bench::default();
    let mut c =
        Console::with_seed(b"admin", b"password", 3, Privilege::Operator, 1).expect("console");
    c.set_name_only_lookup(false);
    let err = b
        .establish(&mut c)
        .expect_err("no admin entry at operator level");
    assert!(matches!(
        err,
        ConsoleError::Refused {
            status: RmcpStatus::UnauthorizedName,
            ..
        }
    ));
    let mut c = Console::with_seed(b"admin", b"password", 3, Privilege::Admin, 1).expect("console");
    c.set_name_only_lookup(false);
    b.establish(&mut c).expect("exact level matches");
}

#[test]
fn wrong_password_fails_at_console_and_abort_frees_slot() {
    let mut b = Bench::default();
    let mut c = Console::with_seed(b"admin", b"wrong", 3, Privilege::Admin, 1).expect("console");
    let err = b.establish(&mut c).expect_err("mismatch");
    assert_eq!(err, ConsoleError::Rakp2Mismatch);
    assert_eq!(b.bmc.slots_in_use(), 1, "BMC still waits for RAKP3");
    // What ipmitool-like consoles send after the mismatch.
    let abort = c.rakp3_variant(RmcpStatus::InvalidIntegrityCheckValue, false);
    assert_eq!(
        b.dropped(&abort),
        DropReason::ConsoleAborted(RmcpStatus::InvalidIntegrityCheckValue)
    );
    assert_eq!(b.bmc.slots_in_use(), 0);
}

#[test]
fn bad_rakp3_hmac_gets_rakp4_status_0f_and_session_discarded() {
    let mut b = Bench::default();
    let mut c = console(3);
    let r = b.reply(&c.start());
    let HandshakeStep::Send(rakp1) = c.handle(&r).expect("rakp1") else {
        panic!()
    };
    let r = b.reply(&rakp1);
    let HandshakeStep::Send(good_rakp3) = c.handle(&r).expect("rakp3") else {
        panic!()
    };
    let bad = c.rakp3_variant(RmcpStatus::NoError, true);
    let Outcome::Reply { datagram, event } = b.send(&bad) else {
        panic!("expected RAKP4")
    };
    assert!(matches!(
        event,
        Event::Rakp4Refused {
            status: RmcpStatus::InvalidIntegrityCheckValue,
            ..
        }
    ));
    assert_eq!(
        c.handle(&datagram),
        Err(ConsoleError::Refused {
            step: "RAKP3",
            status: RmcpStatus::InvalidIntegrityCheckValue
        })
    );
    assert_eq!(b.bmc.slots_in_use(), 0);
    assert_eq!(
        b.dropped(&good_rakp3),
        DropReason::UnknownSession(c.bmc_session_id())
    );
}

#[test]
fn session_limit_gives_open_session_status_01() {
    let mut b = Bench::new(SessionConfig {
        max_sessions: 2,
        ..SessionConfig::default()
    });
    let h1 = b.establish(&mut console(3)).expect("first");
    let mut pending = console(17);
    let _ = b.reply(&pending.start());
    let err = b.establish(&mut console(3)).expect_err("full");
    assert_eq!(
        err,
        ConsoleError::Refused {
            step: "Open Session",
            status: RmcpStatus::InsufficientResources
        }
    );
    assert!(b.bmc.close(h1.id()));
    b.establish(&mut console(3)).expect("slot freed");
}

#[test]
fn replayed_and_out_of_window_packets_are_dropped() {
    let mut b = Bench::default();
    let mut c = console(3);
    b.establish(&mut c).expect("handshake");
    let first = c.request(0x06, 0x01, &[]).expect("rq");
    b.request(&first);
    assert_eq!(b.dropped(&first), DropReason::Replay(1));

    // 20 requests built, only the last sent: seq 21 > highest (1) + 15.
    let mut queued: Vec<Vec<u8>> = (0..20)
        .map(|_| c.request(0x06, 0x01, &[]).expect("rq"))
        .collect();
    let last = queued.pop().expect("last");
    assert!(matches!(
        b.dropped(&last),
        DropReason::SequenceOutOfWindow {
            seq: 21,
            highest: 1
        }
    ));
    // In-window ones still work, in any order; the window then slides.
    b.request(&queued[14]); // seq 16
    b.request(&queued[3]); // seq 5 (late but new)
    assert_eq!(b.dropped(&queued[3]), DropReason::Replay(5));
    b.request(&last); // 21 is now within 16 + 15
                      // seq 2..=4 are now at or beyond 21-16 = 5: 4 is outside.
    assert!(matches!(
        b.dropped(&queued[2]),
        DropReason::SequenceOutOfWindow { seq: 4, .. }
    ));
}

#[test]
fn bad_integrity_is_dropped_without_moving_the_window() {
    let mut b = Bench::default();
    let mut c = console(17);
    b.establish(&mut c).expect("handshake");
    let rq = c.request(0x06, 0x01, &[]).expect("rq");
    let mut forged = rq.clone();
    let last = forged.len() - 1;
    forged[last] ^= 0x80;
    assert_eq!(
        b.dropped(&forged),
        DropReason::Crypto(CryptoError::BadAuthCode)
    );
    // Forged packet with a far-ahead sequence number: the window must not follow it.
    let mut ahead = rq.clone();
    ahead[10] = 0x40; // seq byte 0 → 0x40
    assert_eq!(
        b.dropped(&ahead),
        DropReason::Crypto(CryptoError::BadAuthCode)
    );
    b.request(&rq);

    // A clear, unauthenticated packet for an integrity-protected session.
    let mut plain = Vec::new();
    RmcpPlusPacket::emit_plain(
        wire::PayloadType::plain(PayloadKind::Ipmi),
        None,
        c.bmc_session_id(),
        2,
        &[0x20, 0x18, 0xc8, 0x81, 0x04, 0x01, 0x7a],
        &mut plain,
    )
    .expect("emit");
    assert_eq!(
        b.dropped(&plain),
        DropReason::Crypto(CryptoError::IntegrityMissing)
    );
}

#[test]
fn traffic_from_another_peer_is_dropped() {
    let mut b = Bench::default();
    let mut c = console(3);
    b.establish(&mut c).expect("handshake");
    let rq = c.request(0x06, 0x01, &[]).expect("rq");
    b.peer = "127.0.0.1:50001".parse().expect("addr");
    assert_eq!(b.dropped(&rq), DropReason::WrongPeer(c.bmc_session_id()));
}

#[test]
fn idle_sessions_expire() {
    let mut b = Bench::default();
    let mut c = console(3);
    let h = b.establish(&mut c).expect("handshake");
    assert_eq!(b.bmc.next_timeout(), Some(b.now + Duration::from_secs(60)));
    b.now += Duration::from_secs(59);
    let rq = c.request(0x06, 0x01, &[]).expect("rq");
    b.request(&rq); // activity resets the timer
    b.now += Duration::from_secs(61);
    let rq = c.request(0x06, 0x01, &[]).expect("rq");
    assert_eq!(b.dropped(&rq), DropReason::Expired(h.id()));
    assert_eq!(b.bmc.poll_closed(), Some((h, CloseReason::IdleTimeout)));
    assert_eq!(b.bmc.poll_closed(), None);
    assert_eq!(b.bmc.active().count(), 0);
    assert_eq!(b.bmc.next_timeout(), None);

    // A handshake abandoned half-way expires silently.
    let mut p = console(17);
    let _ = b.reply(&p.start());
    assert_eq!(b.bmc.slots_in_use(), 1);
    b.now += Duration::from_secs(61);
    b.bmc.expire(b.now);
    assert_eq!(b.bmc.slots_in_use(), 0);
    assert_eq!(b.bmc.poll_closed(), None);
}

#[test]
fn retransmitted_handshake_messages_get_the_same_answer() {
    let mut b = Bench::default();
    let mut c = console(3);
    let open = c.start();
    let r1 = b.reply(&open);
    let r1_again = b.reply(&open);
    assert_eq!(
        r1, r1_again,
        "lost Open Session Response: same BMC session ID"
    );
    assert_eq!(b.bmc.slots_in_use(), 1);
    let HandshakeStep::Send(rakp1) = c.handle(&r1).expect("rakp1") else {
        panic!()
    };
    let rakp2 = b.reply(&rakp1);
    let HandshakeStep::Send(rakp3) = c.handle(&rakp2).expect("rakp3") else {
        panic!()
    };
    let rakp4 = b.reply(&rakp3);
    assert_eq!(b.reply(&rakp3), rakp4, "lost RAKP4: repeated");
    assert_eq!(c.handle(&rakp4), Ok(HandshakeStep::Established));
}

#[test]
fn sol_payloads_and_shared_outbound_sequence() {
    let mut b = Bench::default();
    let mut c = console(3);
    let h = b.establish(&mut c).expect("handshake");
    let sol = c
        .seal_payload(PayloadKind::Sol, &[1, 0, 0, 0, b'h', b'i'])
        .expect("sol");
    match b.send(&sol) {
        Outcome::Payload {
            session,
            payload_type,
            bytes,
        } => {
            assert_eq!(session, h);
            assert_eq!(payload_type, 0x01);
            assert_eq!(bytes, [1, 0, 0, 0, b'h', b'i']);
        }
        other => panic!("{other:?}"),
    }
    let seq_of = |d: &[u8]| match wire::parse(d) {
        Ok(Datagram::RmcpPlus(p)) => p.header.session_seq,
        _ => panic!("rmcp+"),
    };
    let out1 = b.bmc.seal_payload(h, 0x01, &[0, 1, 6, 0]).expect("sol out");
    let req = b.request(&c.request(0x06, 0x01, &[]).expect("rq"));
    let out2 = b.bmc.seal_response(&req, 0, &[]).expect("rsp");
    let out3 = b
        .bmc
        .seal_payload(h, 0x01, &[2, 0, 0, 0, b'x'])
        .expect("sol out");
    assert_eq!((seq_of(&out1), seq_of(&out2), seq_of(&out3)), (1, 2, 3));
    assert_eq!(
        c.open(&out3).expect("open"),
        (PayloadKind::Sol, vec![2, 0, 0, 0, b'x'])
    );
}

#[test]
fn close_session_response_is_sealed_before_close() {
    let mut b = Bench::default();
    let mut c = console(17);
    let h = b.establish(&mut c).expect("handshake");
    let req = b.request(&c.close_request().expect("close rq"));
    assert_eq!(req.cmd, 0x3C);
    assert_eq!(req.data, h.id().to_le_bytes());
    let rsp = b.bmc.seal_response(&req, 0, &[]).expect("sealed");
    assert!(b.bmc.close(h.id()));
    assert!(!b.bmc.close(h.id()));
    assert_eq!(c.response(&rsp).expect("rsp").completion_code, 0);
    assert_eq!(b.bmc.seal_response(&req, 0, &[]), None, "session is gone");
    let rq = c.request(0x06, 0x01, &[]).expect("rq");
    assert_eq!(b.dropped(&rq), DropReason::UnknownSession(h.id()));
}

#[test]
fn presession_requests_reach_the_command_layer() {
    let mut b = Bench::default();
    let mut state = BmcState::new(BmcConfig {
        auth_types: auth_type::NONE | auth_type::MD5 | auth_type::PASSWORD,
        cipher_suites: vec![0, 1, 2, 3, 17],
        ..BmcConfig::default()
    });
    // Get Channel Auth Capabilities in IPMI 1.5 framing (ipmitool step 1).
    let rsp = b.presession(&mut state, true, 0x38, 3, &[0x8E, 0x04]);
    assert_eq!(rsp.completion_code, 0);
    assert_eq!(rsp.data, [0x01, 0x95, 0x04, 0x03, 0, 0, 0, 0]);
    let rsp = b.presession(&mut state, true, 0x38, 4, &[0x8E]);
    assert_eq!(rsp.completion_code, cc::DATA_LENGTH_INVALID);
    let rsp = b.presession(&mut state, true, 0x38, 5, &[0x85, 0x04]);
    assert_eq!(rsp.completion_code, cc::INVALID_FIELD);

    // Get Channel Cipher Suites in RMCP+ framing (ipmitool step 0).
    let mut b = Bench::new(SessionConfig::default()); // suites 3 and 17
    let mut state = BmcState::new(BmcConfig::default()); // the same
    let rsp = b.presession(&mut state, false, 0x54, 1, &[0x0E, 0x00, 0x80]);
    assert_eq!(rsp.completion_code, 0);
    assert_eq!(
        rsp.data,
        [0x01, 0xC0, 0x03, 0x01, 0x41, 0x81, 0xC0, 0x11, 0x03, 0x44, 0x81]
    );
    // Next page is empty: the list ended.
    let rsp = b.presession(&mut state, false, 0x54, 2, &[0x0E, 0x00, 0x81]);
    assert_eq!(rsp.data, [0x01]);
    // "List algorithms" mode.
    let rsp = b.presession(&mut state, false, 0x54, 3, &[0x0E, 0x00, 0x00]);
    assert_eq!(rsp.data, [0x01, 0x01, 0x41, 0x81, 0x03, 0x44]);
}

#[test]
fn asf_ping_gets_pong() {
    let mut b = Bench::default();
    let d = b.reply(&wire::AsfMessage::ping_datagram(0x5A));
    assert_eq!(d, wire::AsfMessage::pong_datagram(0x5A));
    assert_eq!(d[9], 0x5A);
}

fn lan15_session(auth: AuthType) {
    let mut b = Bench::default();
    let mut c =
        Lan15Console::with_seed(b"admin", b"password", auth, Privilege::Admin, 5).expect("console");
    let h = b.establish15(&mut c).expect("activated");
    let info = b.bmc.session_info(h).expect("info");
    assert_eq!(info.kind, SessionKind::Lan15 { auth_type: auth });
    assert_eq!(info.privilege, Privilege::User);
    assert_eq!(info.max_privilege, Privilege::Admin);
    let req = b.request(&c.request(0x06, 0x3B, &[0x04]).expect("rq"));
    assert!(req.lan15);
    assert_eq!(req.privilege, Some(Privilege::User));
    let p = b.bmc.set_privilege(h, 4).expect("raise");
    let rsp = b.bmc.seal_response(&req, 0, &[p.as_u8()]).expect("sealed");
    assert_eq!(c.response(&rsp).expect("rsp").data, [4]);
    let req = b.request(&c.request(0x00, 0x01, &[]).expect("rq"));
    assert_eq!(req.privilege, Some(Privilege::Admin));
    let rsp = b.bmc.seal_response(&req, 0, &[1, 0, 0, 0]).expect("sealed");
    assert_eq!(c.response(&rsp).expect("rsp").data, [1, 0, 0, 0]);
}

#[test]
fn lan15_md5_session() {
    lan15_session(AuthType::Md5);
}

#[test]
fn lan15_straight_password_and_none_sessions() {
    lan15_session(AuthType::Password);
    lan15_session(AuthType::None);
}

#[test]
fn lan15_refusals_and_drops() {
    let mut b = Bench::default();
    // Unknown user: 81h; null user not configured: 82h.
    let mut c =
        Lan15Console::with_seed(b"nobody", b"x", AuthType::Md5, Privilege::Admin, 1).expect("c");
    assert_eq!(
        b.establish15(&mut c),
        Err(ConsoleError::CompletionCode {
            step: "Get Session Challenge",
            code: 0x81
        })
    );
    let mut c = Lan15Console::with_seed(b"", b"", AuthType::Md5, Privilege::Admin, 1).expect("c");
    assert!(matches!(
        b.establish15(&mut c),
        Err(ConsoleError::CompletionCode { code: 0x82, .. })
    ));
    // Privilege above the user's limit: 86h.
    let mut c =
        Lan15Console::with_seed(b"operator", b"op-pass", AuthType::Md5, Privilege::Admin, 1)
            .expect("c");
    assert!(matches!(
        b.establish15(&mut c),
        Err(ConsoleError::CompletionCode { code: 0x86, .. })
    ));
    // Wrong password: the Activate Session authcode fails; the BMC stays silent.
    let mut c =
        Lan15Console::with_seed(b"admin", b"wrong", AuthType::Md5, Privilege::Admin, 1).expect("c");
    let r = b.reply(&c.start());
    let HandshakeStep::Send(activate) = c.handle(&r).expect("activate") else {
        panic!()
    };
    assert_eq!(b.dropped(&activate), DropReason::BadAuthCode);
    // Auth type not enabled on the channel: CCh at the challenge.
    let mut strict = Bench::new(SessionConfig::default()); // none disabled
    let mut c = Lan15Console::with_seed(b"admin", b"password", AuthType::None, Privilege::Admin, 1)
        .expect("c");
    assert!(matches!(
        strict.establish15(&mut c),
        Err(ConsoleError::CompletionCode { code: 0xCC, .. })
    ));

    // Replay, tampering and out-of-window inside a session.
    let mut c = Lan15Console::with_seed(b"admin", b"password", AuthType::Md5, Privilege::Admin, 2)
        .expect("c");
    b.establish15(&mut c).expect("activated");
    let rq = c.request(0x06, 0x01, &[]).expect("rq");
    b.request(&rq);
    assert!(matches!(b.dropped(&rq), DropReason::Replay(_)));
    let mut bad = c.request(0x06, 0x01, &[]).expect("rq");
    bad[20] ^= 1;
    assert_eq!(b.dropped(&bad), DropReason::BadAuthCode);
    let far: Vec<Vec<u8>> = (0..10)
        .map(|_| c.request(0x06, 0x01, &[]).expect("rq"))
        .collect();
    assert!(matches!(
        b.dropped(&far[9]),
        DropReason::SequenceOutOfWindow { .. }
    ));
    b.request(&far[0]);
    // Wrong auth type for the session.
    let mut none = c.request(0x06, 0x01, &[]).expect("rq");
    none[4] = 0x04;
    assert_eq!(b.dropped(&none), DropReason::AuthType(AuthType::Password));
}

/// LAN configuration parameter 2 (`ipmitool lan set 1 auth ADMIN MD5`)
/// governs which IPMI 1.5 authentication types may open a session at each
/// maximum privilege: enforced at Activate Session (CCh), and at the
/// challenge when no privilege allows the type at all.
#[test]
fn lan15_auth_type_enables_per_privilege() {
    let mut b = Bench::default();
    // Callback, user, operator: MD5 and password; admin: MD5 only.
    b.bmc.set_lan_auth_enables([0x14, 0x14, 0x14, 0x04, 0]);
    let console = |auth, privilege| {
        Lan15Console::with_seed(b"admin", b"password", auth, privilege, 3).expect("c")
    };
    assert!(matches!(
        b.establish15(&mut console(AuthType::Password, Privilege::Admin)),
        Err(ConsoleError::CompletionCode {
            step: "Activate Session",
            code: 0xCC
        })
    ));
    b.establish15(&mut console(AuthType::Password, Privilege::User))
        .expect("password is still enabled for user level");
    b.establish15(&mut console(AuthType::Md5, Privilege::Admin))
        .expect("md5 at admin");
    // Password nowhere: refused at the challenge already.
    b.bmc.set_lan_auth_enables([0x04; 5]);
    assert!(matches!(
        b.establish15(&mut console(AuthType::Password, Privilege::User)),
        Err(ConsoleError::CompletionCode {
            step: "Get Session Challenge",
            code: 0xCC
        })
    ));
    // A type the BMC does not support cannot be switched on.
    let mut strict = Bench::new(SessionConfig::default()); // none disabled
    strict.bmc.set_lan_auth_enables([0x15; 5]);
    assert!(matches!(
        strict.establish15(&mut console(AuthType::None, Privilege::User)),
        Err(ConsoleError::CompletionCode { code: 0xCC, .. })
    ));
}

#[test]
fn lan15_session_limit_gives_81() {
    let mut b = Bench::new(SessionConfig {
        max_sessions: 1,
        ..SessionConfig::default()
    });
    b.establish(&mut console(3))
        .expect("rmcp+ takes the only slot");
    let mut c = Lan15Console::with_seed(b"admin", b"password", AuthType::Md5, Privilege::Admin, 1)
        .expect("c");
    assert!(matches!(
        b.establish15(&mut c),
        Err(ConsoleError::CompletionCode { code: 0x81, .. })
    ));
}

#[test]
fn close_all_and_active_listing() {
    let mut b = Bench::default();
    b.establish(&mut console(3)).expect("one");
    let mut c = Lan15Console::with_seed(b"admin", b"password", AuthType::Md5, Privilege::Admin, 1)
        .expect("c");
    b.establish15(&mut c).expect("two");
    let _pending = b.reply(&console(17).start());
    assert_eq!(b.bmc.slots_in_use(), 3);
    let active: Vec<_> = b.bmc.active().collect();
    assert_eq!(active.len(), 2, "pending handshakes are not listed");
    b.bmc.close_all();
    assert_eq!(b.bmc.slots_in_use(), 0);
}

#[test]
fn session_table_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<Sessions>();
    assert_send::<Console>();
    assert_send::<Lan15Console>();
}
