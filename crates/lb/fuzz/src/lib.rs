//! Fuzz target body for fakedc-lb: iControl REST requests (method, path,
//! query, JSON body) against a device that already has a monitor, a pool
//! with two members and a virtual server. No panic; every answer is JSON
//! with F5's error shape when it fails (`code` equal to the status, a
//! message, `errorStack`); the configuration stays within its limits and
//! every stored name stays inside the one partition. Requests may join
//! the last transaction opened (`X-F5-REST-Coordination-Id`), so queued
//! commands and commits are fuzzed too: a failed commit changes nothing.

use fakedc_lb::rest::{Api, Config, Ctx, NoStatus, Request, MAX_NAME, MAX_OBJECTS};
use std::net::{IpAddr, Ipv4Addr};

const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

fn seeded(ctx: &Ctx<'_>) -> Api {
    let mut api = Api::new(Config::default());
    for (m, p, b) in [
        (
            "POST",
            "/mgmt/tm/ltm/monitor/http",
            r#"{"name":"m","interval":1,"recv":"200"}"#,
        ),
        (
            "POST",
            "/mgmt/tm/ltm/pool",
            r#"{"name":"p","monitor":"/Common/m","members":[{"name":"127.0.0.21:80"}]}"#,
        ),
        (
            "POST",
            "/mgmt/tm/ltm/pool/~Common~p/members",
            r#"{"name":"127.0.0.22:80"}"#,
        ),
        (
            "POST",
            "/mgmt/tm/ltm/virtual",
            r#"{"name":"v","destination":"/Common/127.0.0.42:80","pool":"/Common/p"}"#,
        ),
    ] {
        let r = api.handle(
            Request {
                method: m,
                path: p,
                query: "",
                body: b.as_bytes(),
                coordination: None,
            },
            ctx,
        );
        assert_eq!(r.status, 200, "seed {p}: {}", r.body);
    }
    api
}

/// Requests separated by 0xFF; each is a method byte (its high bit: send
/// the last transaction's id as `X-F5-REST-Coordination-Id`), then the
/// path (`{tx}` stands for that id) and the query (each ended by a
/// newline), then the body.
pub fn request(data: &[u8]) {
    let ctx = Ctx {
        lb_addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 42)),
        hostname: "lb01.contoso.test",
        status: &NoStatus,
        now_us: 1_700_000_000_000_000,
        snat_addresses: &[IpAddr::V4(Ipv4Addr::new(127, 0, 0, 43))],
    };
    let mut api = seeded(&ctx);
    let mut tx = String::from("1");
    for part in data.split(|b| *b == 0xff).take(16) {
        let Some((&m, rest)) = part.split_first() else {
            continue;
        };
        let method = METHODS[usize::from(m) % METHODS.len()];
        let mut fields = rest.splitn(3, |b| *b == b'\n');
        let path = String::from_utf8_lossy(fields.next().unwrap_or_default());
        let query = String::from_utf8_lossy(fields.next().unwrap_or_default());
        let body = fields.next().unwrap_or_default();
        let path = if path.starts_with('/') {
            path.into_owned()
        } else {
            format!("/mgmt/tm/{path}")
        };
        // `{tx}` names the last transaction opened.
        let path = path.replace("{tx}", &tx);
        let r = api.handle(
            Request {
                method,
                path: &path,
                query: &query,
                body,
                // The method byte's high bit: join the last transaction.
                coordination: (m & 0x80 != 0).then_some(tx.as_str()),
            },
            &ctx,
        );
        if let Some(id) = r.body.get("transId").and_then(|v| v.as_u64()) {
            tx = id.to_string();
        }
        assert!((200..600).contains(&r.status), "status {}", r.status);
        if r.status >= 400 {
            assert_eq!(r.body["code"], r.status, "error body code: {}", r.body);
            assert!(r.body["message"].is_string(), "error message: {}", r.body);
            assert!(r.body["errorStack"].is_array(), "errorStack: {}", r.body);
            assert!(!r.changed, "a refused request changes nothing");
        }
        let text = serde_json::to_string(&r.body).unwrap_or_default();
        assert!(text.len() <= 64 * 1024 * 1024, "answer bounded");
        for (coll, objs) in &api.config.objects {
            assert!(objs.len() <= MAX_OBJECTS + 1, "{coll} bounded");
            for full in objs.keys() {
                let name = full
                    .strip_prefix("/Common/")
                    .unwrap_or_else(|| panic!("outside Common: {full}"));
                assert!(!name.is_empty() && name.len() <= MAX_NAME, "{full}");
                assert!(!name.contains('/') && name != ".." && name != ".", "{full}");
            }
        }
        for (pool, ms) in &api.config.members {
            assert!(ms.len() <= MAX_OBJECTS, "{pool} members bounded");
        }
    }
    // What is stored survives a save and reload.
    let saved = serde_json::to_vec(&api.config).unwrap_or_default();
    let back: Config = serde_json::from_slice(&saved).unwrap_or_default();
    assert_eq!(back, api.config);
}

/// iRules (`lb/rule`): the rule text, then 0xFF, then an HTTP request
/// head. The text is parsed and validated (`irule::compile`, every pool
/// name taken as existing unless it starts with `missing`); a rule that
/// compiles runs at CLIENT_ACCEPTED and, on the head if it parses, at
/// HTTP_REQUEST. No panic, no unbounded work; a refusal names a line of
/// the text and carries F5's message shape; what a rule leaves in the
/// request (headers, URI) stays a valid head: no line breaks injected.
/// The head's bytes are also read as a member's response head, which
/// must relay (serialize) to a head that parses back the same.
pub fn rule(data: &[u8]) {
    use fakedc_lb::irule::{compile, Action, Env, Event};
    use fakedc_lb::proxy::{parse_request_head, parse_response_head, serialize_response_head};
    let (text, head) = match data.iter().position(|b| *b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let text = String::from_utf8_lossy(text);
    let rule = match compile(&text, |p| !p.starts_with("missing")) {
        Ok(r) => r,
        Err(e) => {
            let lines = text.split('\n').count();
            assert!(e.line >= 1 && e.line <= lines, "line {} of {lines}", e.line);
            let m = e.message("/Common/r");
            assert!(
                m.starts_with("01070151:3: Rule [/Common/r] error: /Common/r:"),
                "{m}"
            );
            return;
        }
    };
    // The same bytes as a member's response head: what is relayed parses
    // back to the same status and headers.
    if let Ok(r) = parse_response_head(head) {
        let out = serialize_response_head(&r);
        let again = parse_response_head(&out).expect("a relayed head parses");
        assert_eq!((again.status, &again.headers), (r.status, &r.headers));
        assert!((100..600).contains(&r.status));
    }
    let client = "127.0.0.1:50000".parse().expect("address");
    let local = "127.0.0.42:80".parse().expect("address");
    let mut env = Env::new(client, local, None);
    rule.run(Event::ClientAccepted, &mut env);
    if let Ok(mut req) = parse_request_head(head) {
        let mut env = Env::new(client, local, Some(&mut req));
        rule.run(Event::HttpRequest, &mut env);
        if let Action::Respond {
            status, headers, ..
        } = &env.action
        {
            assert!((100..=599).contains(status));
            for (k, v) in headers {
                assert!(!k.is_empty() && !v.contains(['\r', '\n']), "{k}: {v:?}");
            }
        }
        drop(env);
        assert!(!req.uri.is_empty() && !req.uri.contains([' ', '\r', '\n']));
        for (k, v) in &req.headers {
            assert!(
                !k.contains([':', '\r', '\n', ' ']) && !v.contains(['\r', '\n']),
                "{k}: {v:?}"
            );
        }
    }
}
