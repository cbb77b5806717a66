//! The load balancer (issue 17) with real clients: bigrest and f5-sdk
//! configure a pool of two VM guests' IIS sites, an http monitor and a
//! virtual server over iControl REST; curl through the virtual server
//! alternates between the guests; powering a guest off turns its member
//! `down` in f5-sdk's stats and sends every connection to the other;
//! deleting the virtual server closes its listener. Errors are F5's
//! bodies, hostile input is refused and the device keeps serving.
//! Transactions (bigrest and f5-sdk) apply all or nothing; a client-ssl
//! profile terminates TLS that curl verifies against the scenario CA, and
//! a SNAT pool makes the guests see its address.
//! A missing client fails these tests; it never skips them
//! (`./scripts/test` installs them).

use crate::common::{line, lines, python, wait_until, Temp};
use fakedc::{Datacenter, PowerAction, Query, ServiceKind};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

const PASSWORD: &str = "P@ssw0rd!";

fn scenario(net: u8) -> String {
    format!(
        r#"
[defaults]
boot_delay_ms = 0
shutdown_delay_ms = 0

[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.{net}.0.20"

[[machine.vm]]
name = "web01"
guest = "guest01"
state = "running"

[[machine.vm]]
name = "web02"
guest = "guest02"
state = "running"

[[machine]]
name = "guest01"
role = "vm-guest"
address = "127.{net}.0.21"

[machine.services]
web = true

[[machine]]
name = "guest02"
role = "vm-guest"
address = "127.{net}.0.22"

[machine.services]
web = true

[[machine]]
name = "lb01"
role = "load-balancer"
address = "127.{net}.0.42"

[machine.options.lb]
snat_addresses = ["127.{net}.0.43"]
"#
    )
}

fn start(net: u8) -> Datacenter {
    Datacenter::builder()
        .scenario_str(&scenario(net))
        .ephemeral()
        .protocols(&["lb", "web"])
        .start()
        .expect("start")
}

fn api(dc: &Datacenter) -> String {
    dc.endpoint("lb01", ServiceKind::LbHttps)
        .expect("lb01 443")
        .to_string()
}

fn f5(mode: &str, dc: &Datacenter, args: &[&str]) -> String {
    let device = api(dc);
    let mut a = vec![mode, device.as_str(), "Administrator", PASSWORD];
    a.extend_from_slice(args);
    let module = if mode.starts_with("f5sdk") {
        "f5"
    } else {
        "bigrest"
    };
    python(module, "lb_f5.py", &a)
}

/// Where the virtual server listens in this (ephemeral) run: the load
/// balancer journals it when it binds.
fn vip(dc: &Datacenter, full: &str) -> Option<SocketAddr> {
    dc.journal(&Query {
        machine: Some("lb01".into()),
        ..Default::default()
    })
    .iter()
    .rev()
    .find(|e| e.operation == format!("virtual {full}"))
    .and_then(|e| e.outcome.strip_prefix("listening on "))
    .and_then(|a| a.parse().ok())
}

/// Whether the monitor last reported `member` in `state`.
fn member_state(dc: &Datacenter, member: &str, state: &str) -> bool {
    dc.journal(&Query {
        machine: Some("lb01".into()),
        ..Default::default()
    })
    .iter()
    .rev()
    .find(|e| e.operation.starts_with("monitor /Common/web_pool") && e.operation.ends_with(member))
    .is_some_and(|e| e.outcome == format!("member is {state}"))
}

/// `curl` through the virtual server: the `<h1>` of the page, i.e. which
/// guest answered.
fn curl_page(addr: SocketAddr) -> String {
    let out = Command::new("curl")
        .args(["-s", "-m", "5", "-i", &format!("http://{addr}/")])
        .output()
        .expect("curl is needed (./scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("Server: Microsoft-IIS/10.0"),
        "IIS answers through the VIP:\n{text}"
    );
    text.split("<h1>")
        .nth(1)
        .and_then(|s| s.split("</h1>").next())
        .unwrap_or("")
        .to_string()
}

#[test]
fn bigrest_and_f5sdk_balance_two_guests_and_follow_power() {
    let dc = start(87);
    // bigrest: monitor, pool, two members, virtual server; read back.
    let out = f5(
        "bigrest-setup",
        &dc,
        &["127.87.0.42:80", "127.87.0.21:80", "127.87.0.22:80"],
    );
    assert_eq!(
        line(&out, "monitor"),
        "/Common/web_mon tm:ltm:monitor:http:httpstate"
    );
    assert_eq!(
        line(&out, "pool"),
        "/Common/web_pool https://localhost/mgmt/tm/ltm/pool/~Common~web_pool?ver=17.1.0"
    );
    assert_eq!(lines(&out, "member").len(), 2, "{out}");
    assert_eq!(
        line(&out, "virtual"),
        "/Common/web_vs /Common/127.87.0.42:80"
    );
    assert_eq!(line(&out, "exists-pool"), "True");
    assert_eq!(line(&out, "exists-missing"), "False");
    assert_eq!(line(&out, "saved-pool"), "balanced by fakedc");

    let vs = vip(&dc, "/Common/web_vs").expect("the virtual server listens");
    assert_eq!(vs.ip().to_string(), "127.87.0.42", "on the LB's address");
    assert!(
        wait_until(Duration::from_secs(10), || {
            member_state(&dc, "127.87.0.21:80", "up") && member_state(&dc, "127.87.0.22:80", "up")
        }),
        "the http monitor marks both members up"
    );

    // f5-sdk reads what bigrest made.
    let out = f5("f5sdk-read", &dc, &[]);
    assert_eq!(line(&out, "tmos-version"), "17.1.0");
    assert_eq!(line(&out, "pool-exists"), "True");
    assert_eq!(line(&out, "nope-exists"), "False");
    assert_eq!(
        line(&out, "pool"),
        "/Common/web_pool round-robin /Common/web_mon"
    );
    assert_eq!(
        lines(&out, "member"),
        [
            "127.87.0.21:80 127.87.0.21 up",
            "127.87.0.22:80 127.87.0.22 up"
        ]
    );
    assert_eq!(
        line(&out, "virtual"),
        "/Common/127.87.0.42:80 /Common/web_pool"
    );

    // Round robin: consecutive connections alternate.
    let seen: Vec<String> = (0..4).map(|_| curl_page(vs)).collect();
    assert!(
        seen.iter().all(|s| s == "guest01" || s == "guest02"),
        "{seen:?}"
    );
    for w in seen.windows(2) {
        assert_ne!(w[0], w[1], "round robin alternates: {seen:?}");
    }
    // A balanced connection is journaled when it ends (with its byte
    // counts), which can be just after curl has its page.
    let balanced = || {
        dc.journal(&Query {
            machine: Some("lb01".into()),
            operation: Some("balance /Common/web_vs".into()),
            ..Default::default()
        })
    };
    wait_until(Duration::from_secs(5), || balanced().len() >= 4);
    let j = balanced();
    assert!(
        j.len() >= 4,
        "one journal entry per balanced connection: {j:?}"
    );
    assert!(
        j[0].outcome.starts_with("member /Common/127.87.0.2"),
        "{j:?}"
    );

    // Power guest02 off: down within the monitor's timeout, all traffic to guest01.
    dc.power("guest02", PowerAction::Off).expect("power off");
    dc.advance(Duration::from_secs(4));
    assert!(
        wait_until(Duration::from_secs(10), || member_state(
            &dc,
            "127.87.0.22:80",
            "down"
        )),
        "the monitor marks the powered-off member down"
    );
    let out = f5("f5sdk-stats", &dc, &[]);
    let stats = lines(&out, "stat");
    assert!(stats[0].starts_with("127.87.0.21:80 up available"), "{out}");
    assert!(stats[1].starts_with("127.87.0.22:80 down offline"), "{out}");
    assert!(stats[1].ends_with(" down"), "member state is down: {out}");
    for _ in 0..4 {
        assert_eq!(
            curl_page(vs),
            "guest01",
            "every connection goes to the live member"
        );
    }

    // Power it back on: up again and back in rotation.
    dc.power("guest02", PowerAction::On).expect("power on");
    dc.advance(Duration::from_secs(2));
    assert!(
        wait_until(Duration::from_secs(10), || member_state(
            &dc,
            "127.87.0.22:80",
            "up"
        )),
        "the member comes back up"
    );
    let seen: Vec<String> = (0..4).map(|_| curl_page(vs)).collect();
    assert!(seen.iter().any(|s| s == "guest02"), "{seen:?}");

    // Deleting the virtual server closes its listener.
    let out = f5("bigrest-delete-vs", &dc, &[]);
    assert_eq!(line(&out, "deleted"), "True");
    assert!(
        wait_until(Duration::from_secs(5), || TcpStream::connect_timeout(
            &vs,
            Duration::from_millis(500)
        )
        .is_err()),
        "the VIP stops listening"
    );
}

/// The F5 error bodies bigrest and requests see.
#[test]
fn bad_tokens_unknown_objects_and_duplicates_get_f5_errors() {
    let dc = start(88);
    f5(
        "bigrest-setup",
        &dc,
        &["127.88.0.42:8080", "127.88.0.21:80", "127.88.0.22:80"],
    );
    let out = f5("errors", &dc, &[]);
    assert_eq!(
        line(&out, "bad-token"),
        "401 401 X-F5-Auth-Token does not exist."
    );
    assert_eq!(
        line(&out, "unknown"),
        "404 404 3 01020036:3: The requested Pool (/Common/nope) was not found."
    );
    assert_eq!(
        line(&out, "duplicate"),
        "409 01020066:3: The requested Pool (/Common/web_pool) already exists in partition Common."
    );
}

/// curl with Basic credentials: (status, body).
fn curl_api(dc: &Datacenter, method: &str, path: &str, body: Option<&[u8]>) -> (u16, String) {
    let tmp = std::env::temp_dir().join(format!(
        "fakedc-lb-body-{}-{}",
        std::process::id(),
        path.len() + body.map_or(0, <[u8]>::len)
    ));
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sk",
        "-m",
        "20",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "-u",
        &format!("Administrator:{PASSWORD}"),
        "-X",
        method,
        "-H",
        "Content-Type: application/json",
    ]);
    if let Some(b) = body {
        std::fs::write(&tmp, b).expect("body file");
        cmd.arg("--data-binary").arg(format!("@{}", tmp.display()));
    }
    cmd.arg(format!("https://{}{path}", api(dc)));
    let out = cmd.output().expect("curl");
    let _ = std::fs::remove_file(&tmp);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn hostile_input_gets_f5_errors_and_the_device_keeps_serving() {
    let dc = start(89);
    let json =
        |b: &str| serde_json::from_str::<serde_json::Value>(b).expect("F5 error body is JSON");
    // Malformed JSON.
    let (s, b) = curl_api(&dc, "POST", "/mgmt/tm/ltm/pool", Some(b"{\"name\": \"p\""));
    assert_eq!(s, 400, "{b}");
    assert_eq!(json(&b)["code"], 400);
    assert_eq!(json(&b)["errorStack"], serde_json::json!([]));
    // A body over the 1 MiB limit.
    let huge = format!(
        "{{\"name\":\"p\",\"description\":\"{}\"}}",
        "x".repeat(2 << 20)
    );
    let (s, b) = curl_api(&dc, "POST", "/mgmt/tm/ltm/pool", Some(huge.as_bytes()));
    assert_eq!(s, 413, "{b}");
    assert_eq!(json(&b)["code"], 413);
    // Ids with path tricks never name anything.
    for p in [
        "/mgmt/tm/ltm/pool/~Common~..",
        "/mgmt/tm/ltm/pool/~Common~a%2F..%2F..%2Fetc",
        "/mgmt/tm/ltm/pool/~..~x",
        "/mgmt/tm/ltm/pool/..%2F..%2Fsys",
        "/mgmt/tm/ltm/pool/~Common~web/members/~Common~..%00",
    ] {
        let (s, b) = curl_api(&dc, "GET", p, None);
        assert!(s == 400 || s == 404, "{p}: {s} {b}");
        assert!(json(&b)["message"].is_string(), "{p}: {b}");
    }
    // A name with a path in it is refused at creation.
    let (s, b) = curl_api(
        &dc,
        "POST",
        "/mgmt/tm/ltm/node",
        Some(br#"{"name":"../../x","address":"127.89.0.21"}"#),
    );
    assert_eq!(s, 400, "{b}");
    // Unknown paths: F5's "not registered".
    let (s, b) = curl_api(&dc, "GET", "/mgmt/tm/ltm/frobnicate", None);
    assert_eq!(s, 404);
    assert!(
        json(&b)["message"]
            .as_str()
            .unwrap_or("")
            .contains("not registered"),
        "{b}"
    );
    // Not built: 501 naming the operation (cookie persistence).
    let (s, b) = curl_api(&dc, "GET", "/mgmt/tm/ltm/persistence/cookie", None);
    assert_eq!(s, 501);
    assert!(
        json(&b)["message"]
            .as_str()
            .unwrap_or("")
            .contains("GET /mgmt/tm/ltm/persistence/cookie"),
        "{b}"
    );
    // Thousands of objects: the collection limit answers with an F5 error.
    let out = python(
        "requests",
        "lb_flood.py",
        &[&api(&dc), "Administrator", PASSWORD, "4200"],
    );
    assert_eq!(line(&out, "created"), "4096", "{out}");
    assert!(line(&out, "refused").starts_with("400 01070711:3"), "{out}");
    // And the device still answers.
    let (s, b) = curl_api(&dc, "GET", "/mgmt/tm/sys/version", None);
    assert_eq!(s, 200, "{b}");
    // Wrong Basic password.
    let out = Command::new("curl")
        .args([
            "-sk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-u",
            "Administrator:wrong",
        ])
        .arg(format!("https://{}/mgmt/tm/sys/version", api(&dc)))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
}

/// The configuration survives a restart on the same data directory, and
/// the persisted virtual server listens again at once.
#[test]
fn configuration_persists_across_restarts() {
    let data = crate::common::Temp::new("lb-persist");
    let run = |f: &dyn Fn(&Datacenter)| {
        let dc = Datacenter::builder()
            .scenario_str(&scenario(90))
            .ephemeral()
            .data_dir(data.0.clone())
            .protocols(&["lb", "web"])
            .start()
            .expect("start");
        f(&dc);
    };
    run(&|dc| {
        f5(
            "bigrest-setup",
            dc,
            &["127.90.0.42:80", "127.90.0.21:80", "127.90.0.22:80"],
        );
    });
    run(&|dc| {
        let vs = vip(dc, "/Common/web_vs").expect("the persisted virtual server listens at start");
        let out = f5("f5sdk-read", dc, &[]);
        assert_eq!(
            line(&out, "pool"),
            "/Common/web_pool round-robin /Common/web_mon"
        );
        assert!(
            wait_until(Duration::from_secs(10), || member_state(
                dc,
                "127.90.0.21:80",
                "up"
            )),
            "monitors run after a restart"
        );
        let page = curl_page(vs);
        assert!(page == "guest01" || page == "guest02", "{page}");
        // Source-address persistence: this client sticks to one member.
        let (s, b) = curl_api(
            dc,
            "PATCH",
            "/mgmt/tm/ltm/virtual/~Common~web_vs",
            Some(br#"{"persist":[{"name":"source_addr"}]}"#),
        );
        assert_eq!(s, 200, "{b}");
        assert!(b.contains("source_addr"), "{b}");
        let seen: Vec<String> = (0..4).map(|_| curl_page(vs)).collect();
        assert!(
            seen.iter().all(|p| p == &seen[0]),
            "persistence keeps one member: {seen:?}"
        );
        let (s, b) = curl_api(
            dc,
            "PATCH",
            "/mgmt/tm/ltm/virtual/~Common~web_vs",
            Some(br#"{"persist":[{"name":"cookie"}]}"#),
        );
        assert_eq!(s, 501, "{b}");
    });
}

/// One curl call with the token header: (status, body).
fn curl_token(
    dc: &Datacenter,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sk", "-m", "10", "-w", "\n%{http_code}", "-X", method])
        .args(["-H", &format!("X-F5-Auth-Token: {token}")]);
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data-binary", b]);
    }
    cmd.arg(format!("https://{}{path}", api(dc)));
    let out = cmd.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Tokens expire on the model's clock, a PATCH extends one, DELETE logs
/// out; the busy fault answers 503; `check`'s probe logs in.
#[test]
fn tokens_expire_extend_and_log_out_busy_fault_and_probe() {
    let dc = start(91);
    let login = |dc: &Datacenter| -> String {
        let (s, b) = curl_api(
            dc,
            "POST",
            "/mgmt/shared/authn/login",
            Some(format!(r#"{{"username":"Administrator","password":"{PASSWORD}","loginProviderName":"tmos"}}"#).as_bytes()),
        );
        assert_eq!(s, 200, "{b}");
        let v: serde_json::Value = serde_json::from_str(&b).expect("json");
        assert!(
            v["token"]["expirationMicros"].as_u64().unwrap_or(0)
                > v["token"]["lastUpdateMicros"].as_u64().unwrap_or(u64::MAX)
        );
        assert_eq!(v["token"]["timeout"], 1200);
        v["token"]["token"].as_str().expect("token").to_string()
    };
    // Wrong password at login.
    let (s, b) = curl_api(
        &dc,
        "POST",
        "/mgmt/shared/authn/login",
        Some(br#"{"username":"Administrator","password":"nope"}"#),
    );
    assert_eq!(s, 401, "{b}");
    // Expiry: 1200 s of model time.
    let t = login(&dc);
    assert_eq!(curl_token(&dc, "GET", "/mgmt/tm/ltm/pool", &t, None).0, 200);
    dc.advance(Duration::from_secs(1201));
    let (s, b) = curl_token(&dc, "GET", "/mgmt/tm/ltm/pool", &t, None);
    assert_eq!(s, 401, "{b}");
    assert!(b.contains("X-F5-Auth-Token has expired."), "{b}");
    // PATCH extends (from the token's start), DELETE logs out.
    let t = login(&dc);
    let (s, b) = curl_token(
        &dc,
        "PATCH",
        &format!("/mgmt/shared/authz/tokens/{t}"),
        &t,
        Some(r#"{"timeout":3600}"#),
    );
    assert_eq!(s, 200, "{b}");
    dc.advance(Duration::from_secs(2000));
    assert_eq!(
        curl_token(&dc, "GET", "/mgmt/tm/sys/version", &t, None).0,
        200,
        "extended"
    );
    let (s, _) = curl_token(
        &dc,
        "PATCH",
        &format!("/mgmt/shared/authz/tokens/{t}"),
        &t,
        Some(r#"{"timeout":99999}"#),
    );
    assert_eq!(s, 400, "above BIG-IP's 36000 s");
    assert_eq!(
        curl_token(
            &dc,
            "DELETE",
            &format!("/mgmt/shared/authz/tokens/{t}"),
            &t,
            None
        )
        .0,
        200
    );
    let (s, b) = curl_token(&dc, "GET", "/mgmt/tm/sys/version", &t, None);
    assert_eq!(s, 401, "logged out: {b}");
    // Busy fault.
    let id = dc.add_fault(fakedc::FaultRule {
        id: 0,
        machine: Some("lb01".into()),
        service: Some("lb-https".into()),
        kind: fakedc::FaultKind::Busy,
    });
    let (s, b) = curl_api(&dc, "GET", "/mgmt/tm/sys/version", None);
    assert_eq!(s, 503, "{b}");
    assert!(b.contains("\"code\":503"), "{b}");
    dc.remove_fault(id);
    // check's probe: login + sys/version.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(fakedc_net::Protocol::probe(
        &fakedc_lb::PROTOCOL,
        fakedc_net::ProbeTarget {
            addr: dc.endpoint("lb01", ServiceKind::LbHttps).expect("443"),
            service: ServiceKind::LbHttps,
            tls: true,
            credentials: Some(("Administrator".into(), PASSWORD.into())),
            timeout: Duration::from_secs(5),
        },
    ));
    assert_eq!(
        r.verdict,
        fakedc_net::ProbeVerdict::Verified,
        "{}",
        r.detail
    );
    assert_eq!(r.fact("version"), Some("17.1.0"));
    let r = rt.block_on(fakedc_net::Protocol::probe(
        &fakedc_lb::WEB,
        fakedc_net::ProbeTarget {
            addr: dc.endpoint("guest01", ServiceKind::Web).expect("web"),
            service: ServiceKind::Web,
            tls: false,
            credentials: None,
            timeout: Duration::from_secs(5),
        },
    ));
    assert_eq!(
        r.verdict,
        fakedc_net::ProbeVerdict::Verified,
        "{}",
        r.detail
    );
    assert!(r.detail.contains("Microsoft-IIS/10.0"), "{}", r.detail);
}

#[test]
fn transactions_with_bigrest_and_f5sdk_apply_all_or_nothing() {
    let dc = start(94);
    let out = f5("bigrest-tx", &dc, &["127.94.0.42:81", "127.94.0.21:80"]);
    assert_eq!(line(&out, "queued"), "tm:transaction:commandsstate 1");
    let failed = line(&out, "commit-failed");
    assert!(
        failed.starts_with("400 transaction failed:01070226:3: Pool /Common/tx_missing"),
        "{failed}"
    );
    assert_eq!(line(&out, "exists-bad-vs"), "False", "nothing applied");
    assert_eq!(
        line(&out, "exists-tx-pool"),
        "True",
        "the with-block commits"
    );
    assert_eq!(line(&out, "tx-state"), "STARTED tm:transactionstate");
    assert_eq!(line(&out, "before-commit"), "False", "queued, not applied");
    assert_eq!(line(&out, "committed"), "COMPLETED");
    assert_eq!(
        line(&out, "tx-vs"),
        "/Common/127.94.0.42:81 /Common/tx_pool2"
    );
    // The committed virtual server really listens.
    assert!(
        wait_until(Duration::from_secs(5), || vip(&dc, "/Common/tx_vs")
            .is_some()),
        "tx_vs binds"
    );

    let out = f5(
        "f5sdk-tx",
        &dc,
        &["127.94.0.42:82", "127.94.0.21:80", "127.94.0.22:80"],
    );
    assert_eq!(line(&out, "queued"), "tm:transaction:commandsstate");
    assert_eq!(line(&out, "sdk-pool-exists"), "True");
    assert_eq!(
        line(&out, "sdk-vs"),
        "/Common/127.94.0.42:82 /Common/sdk_pool"
    );
    let vs = vip(&dc, "/Common/sdk_vs").expect("sdk_vs listens");
    // No monitor: members are unchecked and get traffic.
    let seen: Vec<String> = (0..2).map(|_| curl_page(vs)).collect();
    assert_ne!(seen[0], seen[1], "both members answer: {seen:?}");
}

#[test]
fn client_ssl_profile_terminates_tls_and_snat_pool_translates() {
    let dc = start(95);
    f5(
        "bigrest-setup",
        &dc,
        &["127.95.0.42:80", "127.95.0.21:80", "127.95.0.22:80"],
    );
    assert!(
        wait_until(Duration::from_secs(10), || {
            member_state(&dc, "127.95.0.21:80", "up") && member_state(&dc, "127.95.0.22:80", "up")
        }),
        "the http monitor marks both members up"
    );
    let out = f5("f5sdk-tls", &dc, &["127.95.0.42:8443", "127.95.0.43"]);
    assert_eq!(
        line(&out, "profile"),
        "/Common/vip_ssl tm:ltm:profile:client-ssl:client-sslstate"
    );
    assert_eq!(
        line(&out, "snatpool"),
        "/Common/vip_snat ['/Common/127.95.0.43']"
    );
    assert_eq!(line(&out, "virtual"), "/Common/127.95.0.42:8443 snat");
    assert_eq!(lines(&out, "vs-profile"), ["tcp all", "vip_ssl clientside"]);
    let vs = vip(&dc, "/Common/tls_vs").expect("tls_vs listens");

    // curl verifies the LB's certificate against the scenario CA.
    let tmp = Temp::new("lb-tls");
    let ca = tmp.path("ca.pem");
    std::fs::write(&ca, dc.ca_pem()).expect("write CA");
    let mut seen = Vec::new();
    for _ in 0..2 {
        let out = Command::new("curl")
            .args(["-sS", "-m", "5", "-i", "--cacert"])
            .arg(&ca)
            .arg(format!("https://{vs}/"))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && text.contains("Server: Microsoft-IIS/10.0"),
            "IIS over TLS through the VIP:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        seen.push(
            text.split("<h1>")
                .nth(1)
                .and_then(|s| s.split("</h1>").next())
                .unwrap_or("")
                .to_string(),
        );
    }
    assert_ne!(seen[0], seen[1], "round robin over TLS: {seen:?}");
    // Plain HTTP to a TLS virtual server is not served.
    let plain = Command::new("curl")
        .args(["-s", "-m", "5", &format!("http://{vs}/")])
        .output()
        .expect("curl");
    assert!(
        !plain.status.success(),
        "plain HTTP fails on a client-ssl VIP"
    );

    // The guests saw the SNAT address, not the LB's own.
    let guest_peers: Vec<String> = dc
        .journal(&Query {
            machine: Some("guest01".into()),
            ..Default::default()
        })
        .iter()
        .chain(
            dc.journal(&Query {
                machine: Some("guest02".into()),
                ..Default::default()
            })
            .iter(),
        )
        .filter(|e| e.operation.starts_with("GET /"))
        .filter_map(|e| e.peer.map(|p| p.ip().to_string()))
        .collect();
    assert!(
        guest_peers.iter().filter(|p| *p == "127.95.0.43").count() >= 2,
        "requests through tls_vs come from the SNAT address: {guest_peers:?}"
    );
    assert!(
        wait_until(Duration::from_secs(5), || {
            dc.journal(&Query {
                machine: Some("lb01".into()),
                ..Default::default()
            })
            .iter()
            .filter(|e| e.operation == "balance /Common/tls_vs")
            .filter(|e| {
                e.outcome
                    .contains("from SNAT address 127.95.0.43 (client TLS terminated)")
            })
            .count()
                >= 2
        }),
        "the balance journal names the SNAT address and the TLS"
    );
}

/// `curl -si` through a virtual server: (exit code, the response).
fn curl_raw(url: &str) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-s", "-i", "-m", "5", url])
        .output()
        .expect("curl is needed (./scripts/test installs it)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn irules_created_with_f5sdk_steer_redirect_answer_and_reject() {
    let dc = start(96);
    f5(
        "bigrest-setup",
        &dc,
        &["127.96.0.42:80", "127.96.0.21:80", "127.96.0.22:80"],
    );
    assert!(
        wait_until(Duration::from_secs(10), || {
            member_state(&dc, "127.96.0.21:80", "up") && member_state(&dc, "127.96.0.22:80", "up")
        }),
        "the http monitor marks both members up"
    );
    let out = f5(
        "f5sdk-irule",
        &dc,
        &["127.96.0.42:8080", "127.96.0.42:8081", "127.96.0.21:80"],
    );
    assert_eq!(line(&out, "rule"), "/Common/steer tm:ltm:rule:rulestate");
    assert_eq!(line(&out, "rule-text-same"), "True");
    // Outside the subset, undefined, a missing pool, no HTTP profile: F5's
    // validation errors naming the command, nothing stored.
    let refused = lines(&out, "refused");
    assert!(
        refused[0].starts_with("switch 400 01070151:3: Rule [/Common/bad_switch] error: /Common/bad_switch:2: error: [command not implemented by fakedc: switch]"),
        "{refused:?}"
    );
    assert!(
        refused[1].starts_with("undefined 400 01070151:3: Rule [/Common/bad_proc] error: /Common/bad_proc:2: error: [undefined procedure: frobnicate][frobnicate now]"),
        "{refused:?}"
    );
    assert!(
        refused[2].starts_with("nopool 400 01070151:3: Rule [/Common/bad_pool] error: /Common/bad_pool:2: error: [Unable to find pool (missing_pool) referenced][pool missing_pool]"),
        "{refused:?}"
    );
    assert!(
        refused[3].starts_with("no-http-profile 400 01070394:3: HTTP_REQUEST event in rule (/Common/steer) requires an associated HTTP or FASTHTTP profile"),
        "{refused:?}"
    );
    assert!(
        refused[4].starts_with("in-use 400 01070621:3: Rule /Common/steer cannot be deleted"),
        "{refused:?}"
    );
    assert_eq!(line(&out, "virtual-rules"), "['/Common/steer']");
    assert_eq!(line(&out, "gate-rules"), "['/Common/gate']");
    let vs = vip(&dc, "/Common/rule_vs").expect("rule_vs listens");

    // HTTP::redirect, as BIG-IP answers it.
    let (_, r) = curl_raw(&format!("http://{vs}/old/page?x=1"));
    assert!(r.starts_with("HTTP/1.0 302 Found\r\n"), "{r}");
    assert!(
        r.contains(&format!("Location: http://{vs}/new/old/page\r\n")),
        "{r}"
    );
    assert!(r.contains("Server: BigIP\r\n"), "{r}");
    // HTTP::respond with the client's address and the method.
    let (_, r) = curl_raw(&format!("http://{vs}/hello"));
    assert!(r.starts_with("HTTP/1.0 200 OK\r\n"), "{r}");
    assert!(r.contains("Content-Type: text/plain\r\n"), "{r}");
    assert!(r.ends_with("\r\n\r\nhello 127.0.0.1 get"), "{r}");
    // No rule action: the default pool, round robin, through the rule.
    let mut pages = Vec::new();
    for _ in 0..4 {
        let (code, r) = curl_raw(&format!("http://{vs}/"));
        assert_eq!(code, 0, "{r}");
        assert!(r.contains("Server: Microsoft-IIS/10.0"), "{r}");
        pages.push(
            r.split("<h1>")
                .nth(1)
                .and_then(|s| s.split("</h1>").next())
                .unwrap_or("")
                .to_string(),
        );
    }
    assert!(
        pages.iter().any(|p| p == "guest01") && pages.iter().any(|p| p == "guest02"),
        "both guests answer through the rule: {pages:?}"
    );
    // `pool one_pool` (guest01 only) with the URI rewritten to `/`.
    for _ in 0..3 {
        let (_, r) = curl_raw(&format!("http://{vs}/one/x"));
        assert!(r.contains("HTTP/1.1 200 OK"), "{r}");
        let h1 = r.split("<h1>").nth(1).unwrap_or("");
        assert!(h1.starts_with("guest01<"), "one_pool is guest01: {r}");
    }
    // Keep-alive through the rules: curl sends three requests on one
    // connection, each meets the rules (a member, a local answer, a
    // member again).
    let out = Command::new("curl")
        .args(["-s", "-v", "-m", "5"])
        .arg(format!("http://{vs}/one/a"))
        .arg(format!("http://{vs}/hello"))
        .arg(format!("http://{vs}/one/b"))
        .output()
        .expect("curl");
    let (body, trace) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(out.status.code(), Some(0), "{trace}");
    assert_eq!(
        trace.matches("Re-using existing connection").count(),
        2,
        "one connection for the three requests: {trace}"
    );
    assert_eq!(body.matches("<h1>guest01</h1>").count(), 2, "{body}");
    assert!(body.contains("hello 127.0.0.1 get"), "{body}");
    // Pipelined: three requests in one write, three answers in order.
    let mut s = std::net::TcpStream::connect(vs).expect("connect to rule_vs");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    std::io::Write::write_all(
        &mut s,
        b"GET /one/a HTTP/1.1\r\nHost: vs\r\n\r\nGET /hello HTTP/1.1\r\nHost: vs\r\n\r\nGET /one/b HTTP/1.1\r\nHost: vs\r\nConnection: close\r\n\r\n",
    )
    .expect("pipelined requests");
    let mut all = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut all).expect("three answers, then close");
    let all = String::from_utf8_lossy(&all);
    let starts: Vec<usize> = all.match_indices("HTTP/1.").map(|(i, _)| i).collect();
    assert_eq!(starts.len(), 3, "three answers: {all}");
    assert!(
        all[starts[0]..starts[1]].contains("<h1>guest01</h1>"),
        "{all}"
    );
    assert!(
        all[starts[1]..starts[2]].ends_with("hello 127.0.0.1 get"),
        "{all}"
    );
    assert!(all[starts[2]..].contains("<h1>guest01</h1>"), "{all}");
    let journal = dc.journal(&Query {
        machine: Some("lb01".into()),
        ..Default::default()
    });
    assert!(
        journal.iter().any(|e| e.operation == "rule /Common/steer"
            && e.outcome == format!("log: steered {vs} to one_pool")),
        "log local0. lands in the journal"
    );
    assert!(journal
        .iter()
        .any(|e| e.operation == "balance /Common/rule_vs"
            && e.outcome
                .starts_with("iRule /Common/steer: GET /old/page?x=1 redirected to")));

    // CLIENT_ACCEPTED: the gate rejects 127.0.0.1 before any member.
    let gate = vip(&dc, "/Common/gate_vs").expect("gate_vs listens");
    let (code, r) = curl_raw(&format!("http://{gate}/"));
    // `reject` resets: curl reports 7 (the reset came while it was still
    // checking its connect), 55 (while sending) or 56 (while receiving);
    // a close would be 52 (empty reply).
    assert!(
        [7, 55, 56].contains(&code),
        "the gate resets curl's connection: curl exit {code}: {r}"
    );
    assert!(r.is_empty(), "no HTTP answer: {r}");
    assert!(
        wait_until(Duration::from_secs(5), || dc
            .journal(&Query {
                machine: Some("lb01".into()),
                ..Default::default()
            })
            .iter()
            .any(|e| e.operation == "balance /Common/gate_vs"
                && e.outcome
                    == "rejected by iRule /Common/gate at CLIENT_ACCEPTED")),
        "the rejection is journaled"
    );
}
