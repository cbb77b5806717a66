//! Fuzz target body for fakedc-redfish: one request (method, path, auth,
//! `If-Match`, body) through the whole resource dispatcher of one BMC.
//! No panic; every error is a Redfish error body citing the Base registry;
//! nothing but the service root, odata, `$metadata` and a session login
//! succeeds without credentials. A SimpleUpdate's image transfer is
//! reported done (or failed) and its install run to the end.
//!
//! Input: byte 0 picks the method (low 3 bits) and the credentials (bits
//! 3-4: none, Basic admin, Basic wrong password, a bogus token); then the
//! path up to the first `\n` (a query string after `?`), then the body.

use fakedc_redfish::api::{Api, Request};
use std::sync::{Arc, OnceLock};

const SCENARIO: &str = r#"
[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.99.0.1"
bmc = "bmc01"
[[machine]]
name = "bmc01"
role = "bmc"
address = "127.99.1.1"
"#;

struct Fixture {
    model: Arc<fakedc_model::Model>,
    bmc: fakedc_model::MachineId,
    api: Api,
    /// The users as the scenario made them: put back after every input, so
    /// a fuzzed `PATCH Password` cannot lock the next inputs out.
    users: Vec<fakedc_model::User>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let opts = fakedc_scenario::ParseOptions::default();
        let sc = fakedc_scenario::Scenario::parse("fuzz.toml", SCENARIO, &opts)
            .expect("the fuzz scenario parses");
        let model = Arc::new(sc.model());
        let bmc = model.find("bmc01").expect("bmc01").id;
        let users = model.users(bmc).clone();
        Fixture {
            model,
            bmc,
            api: Api::default(),
            users,
        }
    })
}

const METHODS: [&str; 8] = [
    "GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS", "GET",
];

/// One request.
pub fn request(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (path, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let path = String::from_utf8_lossy(path);
    // A query string after `?` goes through the query parser and, when it
    // parses, $expand/$select/$top/$skip over the answer.
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (path.into_owned(), None),
    };
    let method = METHODS[usize::from(sel & 7)];
    let (basic, token) = match (sel >> 3) & 3 {
        0 => (None, None),
        1 => (Some(("admin".to_string(), "password".to_string())), None),
        2 => (Some(("admin".to_string(), "wrong".to_string())), None),
        _ => (None, Some("00000000000000000000000000000000")),
    };
    let authed = basic.as_ref().is_some_and(|b| b.1 == "password");
    let f = fixture();
    let req = Request {
        method,
        path: &path,
        token,
        basic,
        if_match: (sel & 0x20 != 0).then_some("W/\"0\""),
        odata_version: (sel & 0x40 != 0).then_some("4.1"),
        query: query.as_deref().or((sel & 0x80 != 0).then_some("$top=1")),
        body,
    };
    let now = f.model.clock.now();
    let out = f.api.handle(&f.model, f.bmc, now, &req);
    let r = out.reply;
    assert!((200..600).contains(&r.status), "status {}", r.status);
    if method == "HEAD" {
        assert!(r.body.is_empty(), "HEAD answered a body");
    } else if r.status >= 400 {
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("an error body is JSON");
        let id = v["error"]["@Message.ExtendedInfo"][0]["MessageId"]
            .as_str()
            .expect("an error names a message");
        assert!(id.starts_with("Base.1.10."), "{id}");
    } else if !authed {
        let p = path.trim_end_matches('/');
        assert!(
            matches!(
                p,
                "/redfish" | "/redfish/v1" | "/redfish/v1/odata" | "/redfish/v1/$metadata"
            ) || (method == "POST" && p == "/redfish/v1/SessionService/Sessions"),
            "{method} {path} answered {} without credentials",
            r.status
        );
    }
    // Image transfers a fuzzed SimpleUpdate started: report them (the
    // body's length picks success or failure) and run the install to its
    // end, so the next update is not refused as one in progress.
    for fx in f.api.take_fetches() {
        let result = if body.len() % 2 == 0 {
            Ok(body.len())
        } else {
            Err("fuzz".to_string())
        };
        f.api
            .tasks
            .transferred(&f.model, fx.bmc, fx.task, result, now);
        f.api
            .tasks
            .settle(&f.model, fx.bmc, now + std::time::Duration::from_secs(7200));
    }
    f.model.users(f.bmc).clone_from(&f.users);
    // Log out what a fuzzed login opened, so the session table never fills
    // (an account a fuzzed POST created went with the user table above).
    if r.status == 201 {
        if let Some((_, loc)) = r
            .headers
            .iter()
            .find(|h| h.0 == "Location" && h.1.contains("/SessionService/Sessions/"))
        {
            let del = Request {
                method: "DELETE",
                path: loc,
                token: None,
                basic: Some(("admin".into(), "password".into())),
                if_match: None,
                odata_version: None,
                query: None,
                body: &[],
            };
            assert_eq!(f.api.handle(&f.model, f.bmc, now, &del).reply.status, 204);
        }
    }
}
