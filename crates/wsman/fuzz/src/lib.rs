//! Bodies of the `envelope`, `ntlm`, `ntlm_http` and `shell` fuzz targets, kept out of
//! `fuzz_targets/` so that the stable smoke test
//! (`crates/fuzzing/tests/smoke.rs`, which includes this file) runs exactly
//! what libFuzzer runs. Any panic is a bug, and so is a broken invariant
//! asserted below.

use fakedc_wsman::message::{self, parse_request};
use fakedc_wsman::ntlm::{self, Client, Server, Session, TargetInfo};
use fakedc_wsman::{service, spnego, wql, xml};

/// The envelope parser (XML tree + WS-Man headers): whatever it refuses must
/// turn into a fault envelope that itself parses, and a request's MessageID
/// echoed into a response's RelatesTo (what every answer does) must come
/// back unchanged from a well-formed envelope.
pub fn envelope(data: &[u8]) {
    match parse_request(data) {
        Ok(req) => {
            let _ = req.selector("ShellId");
            let _ = req.body_first();
            if let Some(id) = &req.message_id {
                let action = req.action.as_deref().unwrap_or("");
                let out = message::response(action, Some(id), "", "");
                let root = xml::parse(out.as_bytes(), &Default::default())
                    .unwrap_or_else(|e| panic!("response echoing {id:?} is not XML: {e}"));
                let echoed = root
                    .find(message::ns::A, "RelatesTo")
                    .map(|e| e.text_trim().to_string());
                assert_eq!(echoed.as_deref(), Some(id.as_str()), "RelatesTo echo");
            }
        }
        Err(fault) => {
            let xml = fault.to_xml(Some("uuid:x"), "fuzz");
            assert!(xml::parse(xml.as_bytes(), &Default::default()).is_ok());
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = wql::parse(s);
        let _ = message::parse_duration(s);
    }
}

/// Key and flags of the signing/sealing sessions below (flags as pywinrm
/// negotiates them, 128-bit keys with key exchange).
pub const SESSION_KEY: [u8; 16] = [7; 16];
/// See [`SESSION_KEY`].
pub const SESSION_FLAGS: u32 = 0xe288_8235 | ntlm::flags::N128;

/// Who the fuzzed server claims to be.
pub fn target_info() -> TargetInfo {
    TargetInfo {
        nb_domain: "D".into(),
        nb_computer: "S".into(),
        dns_domain: "d".into(),
        dns_computer: "s".into(),
        time: 133_000_000_000_000_000,
    }
}

/// NTLM, SPNEGO and MS-WSMV message sealing on tokens from the network:
/// the server's NEGOTIATE/AUTHENTICATE handling, the client's CHALLENGE
/// parser (a peer answers `fakedc check`), the SPNEGO parser, and the
/// encrypted-body unwrapper. Sealing then unsealing the input with a
/// matching pair of sessions must give it back.
pub fn ntlm(data: &[u8]) {
    let target = target_info();
    let lookup = |_: &str| Some("pw".to_string());
    let mut s = Server::default();
    // A NEGOTIATE first so AUTHENTICATE parsing is reached too.
    let mut neg = b"NTLMSSP\0\x01\0\0\0".to_vec();
    neg.extend_from_slice(&0xe288_8235u32.to_le_bytes());
    neg.extend_from_slice(&[0u8; 16]);
    let _ = s.accept(&neg, &target, &lookup);
    let _ = s.accept(data, &target, &lookup);

    let mut client = Client::new("u", "D", "pw");
    let _ = client.negotiate();
    let _ = client.authenticate(data);

    let _ = spnego::is_spnego(data);
    let _ = spnego::parse(data);

    let mut server = Session::new(SESSION_KEY, SESSION_FLAGS, true);
    let _ = service::decrypt(&mut server, data);
    let mut server = Session::new(SESSION_KEY, SESSION_FLAGS, true);
    let (sig, sealed) = data.split_at(data.len().min(16));
    let _ = server.unwrap(sig, sealed);

    let mut client = Session::new(SESSION_KEY, SESSION_FLAGS, false);
    let mut server = Session::new(SESSION_KEY, SESSION_FLAGS, true);
    if data.len() <= message::MAX_REQUEST {
        let wire = service::encrypt(&mut client, data);
        assert_eq!(service::decrypt(&mut server, &wire).as_deref(), Ok(data));
    }
    let (sig, sealed) = client.wrap(data);
    assert_eq!(server.unwrap(&sig, &sealed).ok().as_deref(), Some(data));
}

/// `Authorization` headers per `ntlm_http` input at most (one connection's
/// exchange; clients send two or three).
pub const MAX_HEADERS: usize = 16;

/// The HTTP `Authorization: NTLM|Negotiate <base64>` acceptor (MS-NTHT, what
/// WinRM and BITS run per connection): the input's lines are one
/// connection's headers, each `<scheme> <credentials>`, fed to one
/// [`ntlm::http::Acceptor`] whose user directory knows every name (so a
/// guessed user never fails for being unknown).
///
/// Invariants: nothing panics; no header sequence authenticates (the
/// fuzzer never learns the random server challenge, so any `Done` is a
/// forged login); and every challenge is `WWW-Authenticate` text in the
/// client's scheme with base64 credentials.
pub fn ntlm_http(data: &[u8]) {
    use base64::Engine as _;
    use ntlm::http::{Acceptor, HttpStep};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let target = target_info();
    let lookup = |_: &str| Some("pw".to_string());
    let mut conn = Acceptor::default();
    for header in text.lines().take(MAX_HEADERS) {
        let (scheme, credentials) = header.split_once(' ').unwrap_or((header, ""));
        match conn.accept(scheme, credentials, &target, &lookup) {
            Ok(HttpStep::Challenge(h)) => {
                let (s, token) = h
                    .split_once(' ')
                    .unwrap_or_else(|| panic!("challenge {h:?} has no token"));
                assert_eq!(s, scheme, "challenge in another scheme");
                assert!(
                    base64::engine::general_purpose::STANDARD
                        .decode(token)
                        .is_ok(),
                    "challenge token {token:?} is not base64"
                );
            }
            Ok(HttpStep::Done { user, domain, .. }) => {
                panic!("{header:?} authenticated {domain}\\{user} without the password")
            }
            Err(e) => {
                let _ = e.is_bad_credentials();
                let _ = e.to_string();
            }
        }
    }
}

/// The WinRM shell's command lines (`rsp:Command` + `rsp:Arguments` text, a
/// peer's input): cmd.exe built-ins, `%VAR%` expansion and powershell.exe
/// invocations with decoded scripts. Nothing may panic, output stays within
/// a bound of the input (no amplification past cmd's environment), and a
/// line over cmd.exe's limit is refused whatever it says.
pub fn shell(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let facts = fakedc_wsman::shell::HostFacts {
        hostname: "HV01".into(),
        domain: "contoso.test".into(),
        user: "Administrator".into(),
        ip: "127.0.0.5".into(),
        ..Default::default()
    };
    let rules = [fakedc_wsman::shell::CommandRule {
        pattern: "powershell Get-VM*".into(),
        stdout: "db01\n".into(),
        stderr: "warn".into(),
        ..Default::default()
    }];
    let (command, args) = line.split_once('\u{1}').unwrap_or((line, ""));
    let out = fakedc_wsman::shell::run(&rules, &facts, command, args);
    // `set` and `systeminfo` print a few KiB whatever the input; anything
    // else is at most the longest variable per character of input.
    let bound = 16 * 1024 + 400 * line.len();
    assert!(
        out.stdout.len() + out.stderr.len() <= bound,
        "{} bytes out for {} in",
        out.stdout.len() + out.stderr.len(),
        line.len()
    );
    if command.trim().chars().count() + args.trim().chars().count()
        > fakedc_wsman::shell::MAX_COMMAND_LINE
    {
        assert_eq!(out.exit_code, 1);
    }
    // powershell.exe command lines; the scripts themselves are fuzzed by
    // fakedc-pwsh's own target (pwsh/script).
    let _ = fakedc_wsman::powershell::parse_invocation(line);
}
