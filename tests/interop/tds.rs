//! SQL Server (TDS) on 1433 with real clients: python-tds (pytds) in clear
//! and over full TLS inside PRELOGIN (`tests/python/tds_pytds.py`), FreeTDS
//! `tsql` with login-only encryption and with full encryption; fakedc's own
//! probe; the journal and the busy fault. A missing client fails these
//! tests; it never skips them (`./scripts/test` installs them).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use crate::common::{ca_file, line, lines, python};
use fakedc::{Datacenter, Query, ServiceKind};
use fakedc_model::{FaultKind, FaultRule};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const SCENARIO: &str = r#"
[[machine]]
name = "sql01"
role = "sql-server"
address = "127.83.0.1"
[machine.options.tds]
databases = ["VirtualManagerDB"]
"#;

fn start() -> Datacenter {
    Datacenter::builder()
        .scenario_str(SCENARIO)
        .ephemeral()
        .protocols(&["tds"])
        .start()
        .expect("start")
}

fn pytds(dc: &Datacenter, mode: &str, password: &str, ca: Option<&str>) -> String {
    let a = dc
        .endpoint("sql01", ServiceKind::Tds)
        .expect("tds endpoint");
    let (host, port) = (a.ip().to_string(), a.port().to_string());
    let mut args = vec![host.as_str(), port.as_str(), "sa", password, mode];
    if let Some(ca) = ca {
        args.push(ca);
    }
    python("pytds", "tds_pytds.py", &args)
}

fn check_crud(out: &str) {
    assert!(
        line(out, "version").starts_with("Microsoft SQL Server 2019"),
        "{out}"
    );
    assert_eq!(line(out, "spid").split(' ').nth(1), Some("int"));
    assert_eq!(line(out, "db"), "master");
    assert_eq!(line(out, "who"), "sa");
    assert_eq!(line(out, "server"), "SQL01");
    assert_eq!(line(out, "db-after-use"), "VirtualManagerDB");
    assert_eq!(line(out, "inserted"), "1");
    assert_eq!(line(out, "identity"), "2");
    assert_eq!(
        line(out, "row"),
        "(1, 'hv01', 64, True, Decimal('12.50'), datetime.datetime(2024, 2, 29, 1, 2, 3), 0.25, 'A1')"
            .replace("12.50", "12.5")
            .as_str()
    );
    assert_eq!(
        line(out, "types"),
        "int,str,int,bool,Decimal,datetime,float,str"
    );
    assert_eq!(line(out, "null"), "('hv02', None)");
    assert_eq!(line(out, "updated"), "1");
    // sp_executesql with parameters.
    assert_eq!(line(out, "param"), "8");
    assert_eq!(line(out, "param2"), "['hv01']");
    for (key, number) in [
        ("syntax", "102"),
        ("invalid-object", "208"),
        ("pk", "2627"),
        ("unique", "2627"),
        ("notnull", "515"),
        ("usedb", "911"),
        ("exists", "2714"),
    ] {
        assert!(line(out, key).starts_with(number), "{key}: {out}");
        if key != "exists" {
            // The session stays usable after the error.
            assert_eq!(line(out, &format!("{key}-after")), "2", "{key}");
        }
    }
    assert!(line(out, "syntax").contains("Incorrect syntax near '='."));
    assert!(line(out, "invalid-object").contains("Invalid object name 'nowhere'."));
    assert_eq!(
        line(out, "databases"),
        "master,tempdb,model,msdb,VirtualManagerDB"
    );
    assert_eq!(line(out, "columns"), "id int NO;name nvarchar NO");
    assert_eq!(line(out, "deleted"), "1");
    assert_eq!(line(out, "left"), "1");
    assert_eq!(line(out, "getdate-type"), "datetime");
}

#[test]
fn pytds_crud_in_clear() {
    let dc = start();
    let out = pytds(&dc, "crud", "P@ssw0rd!", None);
    check_crud(&out);
    // Journal: one login, batches with their text, never the password.
    let entries = dc.journal(&Query::default());
    let tds: Vec<_> = entries.iter().filter(|e| e.service == "tds").collect();
    assert!(tds
        .iter()
        .any(|e| e.operation == "login" && e.outcome == "ok"));
    assert!(tds.iter().any(
        |e| e.operation.starts_with("batch: SELECT * FROM nowhere") && e.outcome == "error 208"
    ));
    assert!(tds.iter().any(|e| e.operation.starts_with("rpc: ")));
    let all =
        serde_json::to_string(&entries.iter().map(|e| &e.operation).collect::<Vec<_>>()).unwrap();
    assert!(!all.contains("P@ssw0rd!"));
}

#[test]
fn pytds_crud_over_tls() {
    let dc = start();
    let ca = ca_file(&dc, "tds-pytds");
    let out = pytds(&dc, "crud", "P@ssw0rd!", Some(ca.to_str().unwrap()));
    check_crud(&out);
}

#[test]
fn pytds_wrong_password_and_transactions() {
    let dc = start();
    let out = pytds(&dc, "badpass", "nope", None);
    assert_eq!(
        line(&out, "login-error"),
        "18456 (\"Login failed for user 'sa'.\", None)"
    );
    let failed = dc.journal(&Query::default());
    assert!(failed
        .iter()
        .any(|e| e.service == "tds" && e.operation == "login" && e.outcome == "error 18456"));
    // autocommit=False: Transaction Manager BEGIN/COMMIT requests.
    let out = pytds(&dc, "txn", "P@ssw0rd!", None);
    assert_eq!(line(&out, "txn-select"), "42");
    assert_eq!(line(&out, "txn-commit"), "ok");
}

/// Runs `tsql` with a freetds.conf asking for `encryption`, feeding
/// `script`; returns stdout and stderr together.
fn tsql(dc: &Datacenter, encryption: &str, password: &str, script: &str) -> String {
    tsql_as(dc, "sa", encryption, password, script)
}

/// [`tsql`] as `user` (a `DOMAIN\\user` name makes FreeTDS log in with
/// NTLM: integrated security).
fn tsql_as(dc: &Datacenter, user: &str, encryption: &str, password: &str, script: &str) -> String {
    let a = dc
        .endpoint("sql01", ServiceKind::Tds)
        .expect("tds endpoint");
    let dir = crate::common::Temp::new("tds-tsql");
    let conf = dir.path("freetds.conf");
    std::fs::write(
        &conf,
        format!("[global]\n\ttds version = 7.4\n\tencryption = {encryption}\n"),
    )
    .unwrap();
    let dump = dir.path("dump.log");
    let mut child = Command::new("tsql")
        .args(["-H", &a.ip().to_string(), "-p", &a.port().to_string()])
        .args(["-U", user, "-P", password, "-D", "VirtualManagerDB"])
        .env("FREETDSCONF", &conf)
        .env("TDSDUMP", &dump)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tsql (FreeTDS, Debian freetds-bin) must be installed: ./scripts/test installs it");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let dumped = std::fs::read_to_string(&dump).unwrap_or_default();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    // Whether TLS ran, from FreeTDS's own dump.
    if dumped.contains("handshake") || dumped.contains("GNUTLS") {
        text.push_str("\n[tls-used]\n");
    }
    text
}

const TSQL_SCRIPT: &str = "CREATE TABLE vms (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(40) NOT NULL, mem BIGINT)\ngo\n\
INSERT INTO vms (name, mem) VALUES (N'vm-a', 4096)\nINSERT INTO vms (name, mem) VALUES (N'vm-b', NULL)\ngo\n\
UPDATE vms SET mem = 8192 WHERE name = N'vm-b'\ngo\n\
SELECT id, name, mem FROM [dbo].[vms] ORDER BY id\ngo\n\
SELECT * FROM vms WHERE id = = 1\ngo\n\
DELETE FROM vms WHERE id = 1\ngo\n\
SELECT 'count', COUNT(*) FROM vms\ngo\nexit\n";

fn check_tsql(out: &str) {
    assert!(out.contains("1\tvm-a\t4096"), "{out}");
    assert!(out.contains("2\tvm-b\t8192"), "{out}");
    assert!(out.contains("Msg 102"), "{out}");
    assert!(out.contains("Incorrect syntax near '='."), "{out}");
    // After the error the session goes on: the delete and the count ran.
    assert!(out.contains("count\t1"), "{out}");
    assert!(
        out.contains("[tls-used]"),
        "no TLS in FreeTDS's dump: {out}"
    );
}

#[test]
fn tsql_login_only_encryption() {
    let dc = start();
    // encryption = request: PRELOGIN ENCRYPT_OFF, TLS for LOGIN7 only.
    let out = tsql(&dc, "request", "P@ssw0rd!", TSQL_SCRIPT);
    check_tsql(&out);
}

/// SQL Server goes on with a batch after a statement-terminating error
/// (2627) and stops at a batch-aborting one (245), or at any error under
/// XACT_ABORT ON, which rolls back: what FreeTDS `tsql` prints shows it.
#[test]
fn tsql_batches_go_on_after_statement_errors() {
    let dc = start();
    let script = "CREATE TABLE k (id INT PRIMARY KEY)\nINSERT INTO k VALUES (1)\ngo\n\
INSERT INTO k VALUES (1)\nSELECT 'after-dup', COUNT(*) FROM k\ngo\n\
SELECT CAST('x' AS INT)\nSELECT 'after-cast'\ngo\n\
SET XACT_ABORT ON\nBEGIN TRAN\nINSERT INTO k VALUES (2)\nINSERT INTO k VALUES (2)\nSELECT 'after-xact'\ngo\n\
SELECT 'trancount', @@TRANCOUNT, COUNT(*) FROM k\ngo\nexit\n";
    let out = tsql(&dc, "request", "P@ssw0rd!", script);
    assert!(out.contains("Msg 2627"), "{out}");
    assert!(out.contains("after-dup\t1"), "{out}");
    assert!(out.contains("Msg 245"), "{out}");
    assert!(!out.contains("after-cast\n"), "{out}");
    assert!(!out.contains("after-xact\n"), "{out}");
    assert!(out.contains("trancount\t0\t1"), "{out}");
}

#[test]
fn tsql_full_encryption_and_wrong_password() {
    let dc = start();
    // encryption = require: PRELOGIN ENCRYPT_ON, everything in TLS.
    let out = tsql(&dc, "require", "P@ssw0rd!", TSQL_SCRIPT);
    check_tsql(&out);
    let out = tsql(&dc, "request", "wrong", "SELECT 1\ngo\nexit\n");
    assert!(out.contains("Login failed for user 'sa'."), "{out}");
    assert!(out.contains("18456"), "{out}");
}

#[test]
fn probe_and_busy_fault() {
    let dc = start();
    let a = dc
        .endpoint("sql01", ServiceKind::Tds)
        .expect("tds endpoint");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(fakedc_tds::probe::probe(
        a,
        Some(("sa", "P@ssw0rd!")),
        Duration::from_secs(5),
    ));
    assert_eq!(
        r.verdict,
        fakedc_net::ProbeVerdict::Verified,
        "{}",
        r.detail
    );
    assert!(
        r.detail.starts_with("Microsoft SQL Server 2019"),
        "{}",
        r.detail
    );
    let r = rt.block_on(fakedc_tds::probe::probe(
        a,
        Some(("sa", "bad")),
        Duration::from_secs(5),
    ));
    assert_eq!(
        r.verdict,
        fakedc_net::ProbeVerdict::AuthFailure,
        "{}",
        r.detail
    );
    assert!(r.detail.contains("18456"));
    dc.add_fault(FaultRule {
        id: 0,
        machine: Some("sql01".into()),
        service: Some("tds".into()),
        kind: FaultKind::Busy,
    });
    let out = pytds(&dc, "badpass", "P@ssw0rd!", None);
    // Logins still work; requests get ERROR 8645.
    assert_eq!(line(&out, "login"), "ok");
    let out = tsql(&dc, "request", "P@ssw0rd!", "SELECT 1\ngo\nexit\n");
    assert!(out.contains("Msg 8645"), "{out}");
    let _ = lines(&out, "x");
}

/// Hostile clients (random bytes, a lying packet length, an oversized
/// packet, LOGIN7 offsets outside the packet, a half packet then silence)
/// never disturb other sessions: the probe logs in and queries after each.
#[test]
fn hostile_input_leaves_the_server_serving() {
    use std::io::Read;
    let dc = start();
    let a = dc
        .endpoint("sql01", ServiceKind::Tds)
        .expect("tds endpoint");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut login = fakedc_tds::login7::Login7 {
        tds_version: fakedc_tds::login7::TDS_74,
        username: "sa".into(),
        password: "P@ssw0rd!".into(),
        ..Default::default()
    }
    .write();
    login[40] = 0xF0;
    login[41] = 0x7F;
    let cases: Vec<Vec<u8>> = vec![
        (0..600u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect(),
        vec![0x12, 0x01, 0x00, 0x04, 0, 0, 1, 0],
        vec![0x12, 0x01, 0xFF, 0xFF, 0, 0, 1, 0, 1, 2, 3],
        fakedc_tds::packet::packetize(fakedc_tds::packet::PacketType::Login7, &login, 4096, 0),
        vec![0x12, 0x00, 0x00, 0x40, 0, 0],
    ];
    let mut half_open = Vec::new();
    for case in cases {
        let mut s = std::net::TcpStream::connect(a).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        s.write_all(&case).unwrap();
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf);
        half_open.push(s);
        let r = rt.block_on(fakedc_tds::probe::probe(
            a,
            Some(("sa", "P@ssw0rd!")),
            Duration::from_secs(5),
        ));
        assert_eq!(
            r.verdict,
            fakedc_net::ProbeVerdict::Verified,
            "{}",
            r.detail
        );
    }
}

/// With a data directory, databases are SQLite files under the machine's
/// share (`<share>/mssql/<name>.sqlite`) and survive a restart.
#[test]
fn databases_survive_a_restart() {
    let data = crate::common::Temp::new("tds-data");
    let run = || {
        Datacenter::builder()
            .scenario_str(SCENARIO)
            .ephemeral()
            .data_dir(data.0.clone())
            .protocols(&["tds"])
            .start()
            .expect("start")
    };
    let dc = run();
    let out = tsql(
        &dc,
        "request",
        "P@ssw0rd!",
        "CREATE TABLE kept (id INT PRIMARY KEY, note NVARCHAR(20))\ngo\nINSERT INTO kept VALUES (7, N'still here')\ngo\nexit\n",
    );
    assert!(!out.contains("Msg "), "{out}");
    drop(dc);
    assert!(data
        .path("shares/sql01/mssql/VirtualManagerDB.sqlite")
        .is_file());
    let dc = run();
    let out = tsql(
        &dc,
        "request",
        "P@ssw0rd!",
        "SELECT id, note FROM kept\ngo\nexit\n",
    );
    assert!(out.contains("7\tstill here"), "{out}");
}

/// `force_encryption`: an OFF client gets ENCRYPT_REQ and full TLS
/// (tsql works, all in TLS); a client that cannot encrypt (pytds without
/// a CA sends NOT_SUP) is refused before login.
#[test]
fn force_encryption() {
    let dc = Datacenter::builder()
        .scenario_str(&format!("{SCENARIO}force_encryption = true\n"))
        .ephemeral()
        .protocols(&["tds"])
        .start()
        .expect("start");
    let out = tsql(
        &dc,
        "request",
        "P@ssw0rd!",
        "SELECT 6 * 7 AS answer\ngo\nexit\n",
    );
    assert!(out.contains("answer\n42"), "{out}");
    assert!(out.contains("[tls-used]"), "{out}");
    let out = pytds(&dc, "badpass", "P@ssw0rd!", None);
    assert!(!out.contains("login ok"), "{out}");
    let ca = ca_file(&dc, "tds-force");
    let out = pytds(&dc, "txn", "P@ssw0rd!", Some(ca.to_str().unwrap()));
    assert_eq!(line(&out, "txn-select"), "42");
}

/// Power gating: with the host off, 1433 refuses connections; after it
/// boots, logins work again.
#[test]
fn host_power_gates_1433() {
    let dc = start();
    let a = dc
        .endpoint("sql01", ServiceKind::Tds)
        .expect("tds endpoint");
    dc.power("sql01", fakedc::PowerAction::Off)
        .expect("power off");
    dc.advance(Duration::from_secs(600));
    assert!(crate::common::wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_err()
    }));
    dc.power("sql01", fakedc::PowerAction::On)
        .expect("power on");
    dc.advance(Duration::from_secs(600));
    assert!(crate::common::wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_ok()
    }));
    let out = pytds(&dc, "txn", "P@ssw0rd!", None);
    assert_eq!(line(&out, "txn-select"), "42");
}

fn txn(addr: std::net::SocketAddr, mode: &str) -> String {
    let (host, port) = (addr.ip().to_string(), addr.port().to_string());
    python(
        "pytds",
        "tds_txn.py",
        &[&host, &port, "sa", "P@ssw0rd!", mode],
    )
}

/// Each session has its own transaction: another session does not see
/// uncommitted rows, rollback and commit do what they say (TM requests
/// from pytds with autocommit off, T-SQL BEGIN/COMMIT/ROLLBACK/SAVE TRAN
/// on an autocommit session), @@TRANCOUNT counts, COMMIT without BEGIN is
/// 3902 and the session goes on.
#[test]
fn transactions_are_per_session() {
    let dc = start();
    let a = dc
        .endpoint("sql01", ServiceKind::Tds)
        .expect("tds endpoint");
    let out = txn(a, "isolation");
    for (key, want) in [
        ("a-trancount", "1"),
        ("a-sees", "1"),
        ("b-sees-uncommitted", "0"),
        ("after-rollback", "0"),
        ("after-commit", "1"),
        ("a-sees-new-commit", "2"),
        ("b-trancount-0", "0"),
        ("b-trancount-2", "2"),
        ("b-trancount-1", "1"),
        ("after-tsql-rollback", "2"),
        ("ids", "2,3,5"),
        (
            "commit-without-begin",
            "3902 The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.",
        ),
        ("still-usable", "7"),
    ] {
        assert_eq!(line(&out, key), want, "{key}: {out}");
    }
    let entries = dc.journal(&Query::default());
    assert!(entries
        .iter()
        .any(|e| e.service == "tds" && e.operation == "tm: rollback"));
}

/// `fakedc up` killed with SIGKILL while a session holds an open
/// transaction: after a restart on the same data directory the committed
/// row is there and the uncommitted one is not.
#[test]
fn kill_9_keeps_commits_and_drops_the_open_transaction() {
    let data = crate::common::Temp::new("tds-kill");
    let scenario = data.path("sql.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let eps = data.path("endpoints.json");
    let up = || {
        let _ = std::fs::remove_file(&eps);
        let mut child = Command::new(env!("CARGO_BIN_EXE_fakedc"))
            .args([
                "up",
                scenario.to_str().unwrap(),
                "--ephemeral",
                "--no-control",
            ])
            .args(["--protocols", "tds", "--data-dir", data.0.to_str().unwrap()])
            .args(["--endpoints-file", eps.to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        use std::io::BufRead;
        for l in std::io::BufReader::new(stdout).lines() {
            if l.unwrap().starts_with("ready") {
                break;
            }
        }
        let map: Vec<fakedc::EndpointInfo> =
            serde_json::from_slice(&std::fs::read(&eps).unwrap()).unwrap();
        let e = map
            .iter()
            .find(|e| e.service == ServiceKind::Tds)
            .expect("a TDS endpoint");
        (child, std::net::SocketAddr::new(e.address, e.port))
    };
    let (mut server, addr) = up();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/tds_txn.py");
    let (host, port) = (addr.ip().to_string(), addr.port().to_string());
    let mut client = Command::new("python3")
        .arg(&script)
        .args([host.as_str(), port.as_str(), "sa", "P@ssw0rd!", "open"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(client.stdout.take().unwrap());
    let mut first = String::new();
    use std::io::BufRead;
    out.read_line(&mut first).unwrap();
    assert_eq!(
        first.trim(),
        "open 2",
        "the open transaction sees both rows"
    );
    Command::new("kill")
        .args(["-KILL", &server.id().to_string()])
        .status()
        .unwrap();
    server.wait().unwrap();
    let _ = client.kill();
    let _ = client.wait();
    let (mut server, addr) = up();
    let read = txn(addr, "read");
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    assert_eq!(line(&read, "ids"), "1", "{read}");
}

/// Windows (integrated) logins through FreeTDS: `DOMAIN\\user` makes tsql
/// send NTLMSSP in LOGIN7 and answer the CHALLENGE in an SSPI packet; the
/// session is the machine's account (`SQL01\\Administrator`, whatever case
/// was typed). A wrong password and `sa` (a SQL login, not a Windows
/// account) get 18452.
#[test]
fn tsql_windows_login() {
    let dc = start();
    let script = TSQL_SCRIPT.replace(
        "exit\n",
        "SELECT 'who', SUSER_SNAME(), SYSTEM_USER\ngo\nexit\n",
    );
    let out = tsql_as(&dc, "sql01\\administrator", "request", "P@ssw0rd!", &script);
    check_tsql(&out);
    assert!(
        out.contains("who\tSQL01\\Administrator\tSQL01\\Administrator"),
        "{out}"
    );
    for (user, password) in [
        ("SQL01\\Administrator", "wrong"),
        ("SQL01\\sa", "P@ssw0rd!"),
    ] {
        let out = tsql_as(&dc, user, "request", password, "SELECT 1\ngo\nexit\n");
        assert!(out.contains("Msg 18452"), "{user}: {out}");
        assert!(out.contains("untrusted domain"), "{user}: {out}");
    }
    let entries = dc.journal(&Query::default());
    assert!(entries.iter().any(|e| e.service == "tds"
        && e.operation == "login"
        && e.outcome == "ok"
        && e.user.as_deref() == Some("SQL01\\Administrator")));
}

const IMPACKET_SCRIPT: &str = "USE VirtualManagerDB
CREATE TABLE imp (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(40) NOT NULL, mem BIGINT, ok BIT, at DATETIME)
INSERT INTO imp (name, mem, ok, at) VALUES (N'vm-a', 4096, 1, '2024-02-29 01:02:03')
INSERT INTO imp (name, mem, ok) VALUES (N'vm-b', NULL, 0)
UPDATE imp SET mem = 8192 WHERE name = N'vm-b'
SELECT id, name, mem, ok, at FROM imp ORDER BY id
SELECT * FROM imp WHERE id = = 1
INSERT INTO imp (id, name) VALUES (1, N'dup')
DELETE FROM imp WHERE id = 1
SELECT COUNT(*) AS left_rows FROM imp
SELECT SUSER_SNAME() AS who
";

/// impacket's `mssqlclient.py` (TDS 7.1) with `-file`: `args` before the
/// target.
fn impacket(dc: &Datacenter, args: &[&str], target: &str) -> String {
    let a = dc
        .endpoint("sql01", ServiceKind::Tds)
        .expect("tds endpoint");
    let dir = crate::common::Temp::new("tds-impacket");
    let file = dir.path("script.sql");
    std::fs::write(&file, IMPACKET_SCRIPT).unwrap();
    let out = Command::new("mssqlclient.py")
        .args(args)
        .args([
            "-port",
            &a.port().to_string(),
            "-file",
            file.to_str().unwrap(),
        ])
        .arg(format!("{target}@{}", a.ip()))
        .output()
        .expect("mssqlclient.py (PyPI impacket) must be installed: ./scripts/test installs it");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

fn check_impacket(out: &str, who: &str) {
    assert!(
        out.contains("ACK: Result: 1 - Microsoft SQL Server 2019 RTM (15.0.2000)"),
        "{out}"
    );
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(
        rows.contains(&vec!["1", "vm-a", "4096", "1", "2024-02-29", "01:02:03"]),
        "{out}"
    );
    assert!(
        rows.contains(&vec!["2", "vm-b", "8192", "0", "NULL"]),
        "{out}"
    );
    assert!(
        out.contains("ERROR(SQL01): Line 1: Incorrect syntax near '='."),
        "{out}"
    );
    assert!(out.contains("Violation of PRIMARY KEY constraint"), "{out}");
    // After the errors the session goes on: the delete and the count ran.
    let count = out.rsplit("left_rows").next().unwrap_or_default();
    assert_eq!(count.split_whitespace().nth(1), Some("1"), "{out}");
    let w = out.rsplit("who").next().unwrap_or_default();
    assert_eq!(w.split_whitespace().nth(1), Some(who), "{out}");
}

/// impacket `mssqlclient.py` speaks TDS 7.1: a SQL login and a Windows
/// login (`-windows-auth`, NTLMSSP in LOGIN7) each create, insert, read
/// back, update and delete; a wrong password is refused.
#[test]
fn impacket_sql_and_windows_logins() {
    let dc = start();
    let out = impacket(&dc, &[], "sa:P@ssw0rd!");
    check_impacket(&out, "sa");
    let dc = start();
    let out = impacket(&dc, &["-windows-auth"], "SQL01/Administrator:P@ssw0rd!");
    check_impacket(&out, "SQL01\\Administrator");
    let out = impacket(&dc, &["-windows-auth"], "SQL01/Administrator:nope");
    assert!(out.contains("untrusted domain"), "{out}");
    let out = impacket(&dc, &[], "sa:nope");
    assert!(out.contains("Login failed for user 'sa'."), "{out}");
}

/// Attention: pytds's query timeout sends one while a long query runs;
/// the query is interrupted (not left running), the Attention is
/// acknowledged, and the next statement on the connection answers at once.
#[test]
fn attention_cancels_a_running_query() {
    let dc = start();
    let a = dc
        .endpoint("sql01", ServiceKind::Tds)
        .expect("tds endpoint");
    let out = txn(a, "cancel");
    assert_eq!(line(&out, "cancel"), "timeout TimeoutError", "{out}");
    assert_eq!(line(&out, "after-cancel"), "7", "{out}");
    let secs: u32 = line(&out, "seconds").parse().unwrap();
    assert!(
        secs <= 3,
        "the cancelled query kept the session busy: {out}"
    );
    let entries = dc.journal(&Query::default());
    assert!(entries
        .iter()
        .any(|e| e.service == "tds" && e.operation == "attention" && e.outcome == "cancelled"));
}

/// `tests/python/tds_drivers.py` with `driver` (pymssql or odbc) and, for
/// ODBC, `Encrypt=encrypt`; the scenario CA as OpenSSL's trust store.
fn driver(dc: &Datacenter, driver: &str, encrypt: &str, ca: &std::path::Path) -> String {
    let module = if driver == "odbc" {
        "mssql_python"
    } else {
        "pymssql"
    };
    let has = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has,
        "python3 cannot import {module}: the interop tests need it (./scripts/test installs it)"
    );
    let a = dc
        .endpoint("sql01", ServiceKind::Tds)
        .expect("tds endpoint");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/tds_drivers.py");
    let out = Command::new("python3")
        .arg(script)
        .args([driver, &a.ip().to_string(), &a.port().to_string()])
        .args(["sa", "P@ssw0rd!", encrypt])
        .env("SSL_CERT_FILE", ca)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{driver} {encrypt}: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// What every driver run must read back: the values and the types the
/// driver reports, SQL Server's errors, and the connection going on.
fn check_driver(out: &str, errors: &[(&str, &str)]) {
    assert!(
        line(out, "version").starts_with("Microsoft SQL Server 2019"),
        "{out}"
    );
    assert_eq!(line(out, "inserted"), "1", "{out}");
    assert_eq!(
        line(out, "row"),
        "(1, 'vm-a', 4096, True, Decimal('12.50'), datetime.datetime(2024, 2, 29, 1, 2, 3), 0.25, 'A1')",
        "{out}"
    );
    assert_eq!(
        line(out, "types"),
        "int,str,int,bool,Decimal,datetime,float,str"
    );
    assert_eq!(line(out, "null"), "('vm-b', None)");
    assert_eq!(line(out, "updated"), "1");
    assert_eq!(line(out, "param"), "8192");
    for (key, want) in errors {
        assert!(line(out, key).starts_with(want), "{key}: {out}");
        assert_eq!(line(out, &format!("{key}-after")), "2", "{key}: {out}");
    }
    assert_eq!(line(out, "deleted"), "1");
    assert_eq!(line(out, "left"), "1");
}

/// pymssql (PyPI, bundled FreeTDS: PRELOGIN ENCRYPT_OFF, TLS for the
/// login only): parameters are inlined by the driver; description type
/// codes are DB-API's (1 STRING, 3 NUMBER, 4 DATETIME, 5 DECIMAL).
#[test]
fn pymssql_crud() {
    let dc = start();
    let ca = ca_file(&dc, "tds-pymssql");
    let out = driver(&dc, "pymssql", "no", &ca);
    check_driver(
        &out,
        &[
            ("syntax", "102 Incorrect syntax near '='."),
            ("invalid-object", "208 Invalid object name 'nowhere'."),
            ("unique", "2627 Violation of UNIQUE KEY constraint"),
            ("usedb", "911 Database 'nosuchdb' does not exist."),
        ],
    );
    assert_eq!(line(&out, "described"), "3,1,3,3,5,4,3,1");
}

/// The Microsoft ODBC Driver 18 (libmsodbcsql-18 in the mssql-python
/// wheel) with Encrypt=no (login-only TLS), yes (full TLS inside PRELOGIN,
/// TLS 1.2, certificate validated) and strict (TDS 8.0: TLS 1.3 from the
/// first byte with ALPN tds/8.0, PRELOGIN inside). Parameters go through
/// sp_prepexec/sp_execute or sp_executesql with DATETIME2N values.
#[test]
fn odbc_driver_18_no_yes_strict() {
    let dc = start();
    let ca = ca_file(&dc, "tds-odbc");
    let errors = [
        ("syntax", "Incorrect syntax near '='."),
        ("invalid-object", "Invalid object name 'nowhere'."),
        ("unique", "Violation of UNIQUE KEY constraint"),
        ("usedb", "Database 'nosuchdb' does not exist."),
    ];
    for encrypt in ["no", "yes", "strict"] {
        let out = driver(&dc, "odbc", encrypt, &ca);
        check_driver(&out, &errors);
        assert_eq!(
            line(&out, "described"),
            "int,str,int,bool,Decimal,datetime,float,str"
        );
    }
    let entries = dc.journal(&Query::default());
    let rpcs: Vec<&str> = entries
        .iter()
        .filter(|e| e.service == "tds" && e.operation.starts_with("rpc: "))
        .map(|e| e.operation.as_str())
        .collect();
    assert!(
        rpcs.iter()
            .any(|o| o.starts_with("rpc: sp_prepexec: ") || o.starts_with("rpc: sp_execute: ")),
        "{rpcs:?}"
    );
}

/// T-SQL beyond single statements through pytds: WHILE/IF/BEGIN...END
/// with BREAK/CONTINUE, CONVERT/CAST/TRY_CAST, conversion (245), divide by
/// zero (8134) and the read-only `fakedc` schema (229) each leaving the
/// session usable; `fakedc.machines` follows the model's power (a host
/// powered off shows `off`) and `fakedc.journal` holds this session's login.
#[test]
fn tsql_control_flow_errors_and_the_fakedc_schema() {
    let dc = Datacenter::builder()
        .scenario_str(&format!(
            "{SCENARIO}\n[[machine]]\nname = \"hv01\"\nrole = \"hyperv-host\"\naddress = \"127.83.0.2\"\n"
        ))
        .ephemeral()
        .protocols(&["tds"])
        .start()
        .expect("start");
    dc.power("hv01", fakedc::PowerAction::Off)
        .expect("power off");
    let a = dc
        .endpoint("sql01", ServiceKind::Tds)
        .expect("tds endpoint");
    let out = txn(a, "tsql");
    assert_eq!(line(&out, "loop"), "(12, 'big')", "{out}");
    assert_eq!(line(&out, "convert"), "(42, '7x', None)", "{out}");
    assert_eq!(
        line(&out, "e245"),
        "245 Conversion failed when converting the varchar value 'abc' to data type int."
    );
    assert_eq!(
        line(&out, "e8134"),
        "8134 Divide by zero error encountered."
    );
    assert_eq!(
        line(&out, "e229"),
        "229 The INSERT permission was denied on the object 'machines', database 'VirtualManagerDB', schema 'fakedc'."
    );
    for key in ["e245", "e8134", "e229"] {
        assert_eq!(line(&out, &format!("{key}-after")), "5", "{out}");
    }
    assert_eq!(
        line(&out, "machines"),
        "hv01,hyperv-host,off,0;sql01,sql-server,on,1",
        "{out}"
    );
    assert_eq!(line(&out, "journal-logins"), "1", "{out}");
}

/// Implicit conversions as SQL Server makes them, through pytds: text
/// into int/decimal/float/datetime/bit columns on INSERT and UPDATE, an
/// int out of range, string literals in arithmetic, and assignments to
/// typed variables either convert ('42' is stored as 42) or fail with
/// SQL Server's number and message (245, 8114, 241, 8115); each failure
/// leaves the session usable and stores nothing.
#[test]
fn pytds_implicit_conversions() {
    let dc = start();
    let a = dc
        .endpoint("sql01", ServiceKind::Tds)
        .expect("tds endpoint");
    let out = txn(a, "implicit");
    assert_eq!(
        line(&out, "stored"),
        "(42, Decimal('12.5'), 0.25, datetime.datetime(2024, 2, 29, 1, 2, 3), True, '7')",
        "{out}"
    );
    assert_eq!(line(&out, "converted"), "(42, 3, 6)", "{out}");
    let e245 = |v: &str, ty: &str| {
        format!("245 Conversion failed when converting the varchar value '{v}' to data type {ty}.")
    };
    let e241 = "241 Conversion failed when converting date and/or time from character string.";
    for (key, want) in [
        ("insert-int", e245("abc", "int")),
        (
            "insert-decimal",
            "8114 Error converting data type varchar to numeric.".into(),
        ),
        (
            "insert-float",
            "8114 Error converting data type varchar to float.".into(),
        ),
        ("insert-date", e241.into()),
        (
            "insert-overflow",
            "8115 Arithmetic overflow error converting expression to data type int.".into(),
        ),
        ("update-bit", e245("maybe", "bit")),
        ("arith", e245("abc", "int")),
        (
            "arith-numeric",
            "8114 Error converting data type varchar to numeric.".into(),
        ),
        ("declare", e245("abc", "int")),
        ("set-date", e241.into()),
    ] {
        assert_eq!(line(&out, key), want, "{key}: {out}");
        assert_eq!(line(&out, &format!("{key}-after")), "5", "{key}: {out}");
    }
    assert_eq!(line(&out, "rows"), "1", "{out}");
}

/// Table variables through pytds: `DECLARE @t TABLE (...)` with an
/// IDENTITY column, INSERT/UPDATE/DELETE/SELECT on it in one batch, a
/// join with a real table under IF EXISTS, one inside sp_executesql with
/// a parameter; its scope is the batch (the next batch gets 1087, the
/// name can be declared again), a second DECLARE in one batch is 134,
/// and it is no table of the database's catalog.
#[test]
fn pytds_table_variables() {
    let dc = start();
    let a = dc
        .endpoint("sql01", ServiceKind::Tds)
        .expect("tds endpoint");
    let out = txn(a, "tablevar");
    assert_eq!(line(&out, "rows"), "1,a,1;2,b,20", "{out}");
    assert_eq!(line(&out, "types"), "int,str,int", "{out}");
    assert_eq!(line(&out, "join"), "('hv02', 32)", "{out}");
    assert_eq!(line(&out, "rpc"), "42", "{out}");
    assert_eq!(
        line(&out, "scope"),
        "1087 Must declare the table variable \"@t\".",
        "{out}"
    );
    assert_eq!(line(&out, "scope-after"), "5", "{out}");
    assert_eq!(line(&out, "twice"), "134", "{out}");
    assert_eq!(line(&out, "again"), "(1, 7)", "{out}");
    assert_eq!(line(&out, "catalog"), "0", "{out}");
}

/// tiberius 0.13, the Rust driver, without a TLS backend (its `rustls`
/// feature would bring aws-lc-sys, see ARCHITECTURE): it sends PRELOGIN
/// ENCRYPTION 02 (NOT_SUP), which SQL Server and fakedc answer with 02 and
/// no TLS. SQL login, typed columns, sp_executesql with parameters
/// (`query`/`execute`), SQLBatch (`simple_query`), and error numbers.
mod tiberius_client {
    use super::start;
    use fakedc::ServiceKind;
    use std::net::SocketAddr;
    use tiberius::numeric::Numeric;
    use tiberius::{AuthMethod, Client, ColumnType, Config, EncryptionLevel};
    use tokio::net::TcpStream;
    use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

    type Tib = Client<Compat<TcpStream>>;

    async fn connect(addr: SocketAddr, password: &str, db: Option<&str>) -> tiberius::Result<Tib> {
        let mut config = Config::new();
        config.host(addr.ip().to_string());
        config.port(addr.port());
        config.authentication(AuthMethod::sql_server("sa", password));
        config.encryption(EncryptionLevel::NotSupported);
        if let Some(db) = db {
            config.database(db);
        }
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        Client::connect(config, tcp.compat_write()).await
    }

    fn server_error(r: tiberius::Result<impl std::fmt::Debug>) -> (u32, String) {
        match r {
            Err(tiberius::error::Error::Server(e)) => (e.code(), e.message().to_string()),
            other => panic!("expected a server error, got {other:?}"),
        }
    }

    async fn one_i32(c: &mut Tib, sql: &str) -> i32 {
        let row = c
            .simple_query(sql)
            .await
            .unwrap()
            .into_row()
            .await
            .unwrap()
            .unwrap();
        row.get::<i32, _>(0).unwrap()
    }

    #[test]
    fn tiberius_crud_parameters_and_errors() {
        let dc = start();
        let addr = dc
            .endpoint("sql01", ServiceKind::Tds)
            .expect("tds endpoint");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            // Wrong password: 18456 with SQL Server's text; unknown database: 4060.
            let (n, m) = server_error(connect(addr, "wrong", None).await);
            assert_eq!((n, m.as_str()), (18456, "Login failed for user 'sa'."));
            let (n, m) = server_error(connect(addr, "P@ssw0rd!", Some("nowhere")).await);
            assert_eq!(n, 4060, "{m}");

            let mut c = connect(addr, "P@ssw0rd!", Some("VirtualManagerDB"))
                .await
                .expect("login");
            let version = c
                .simple_query("SELECT @@VERSION")
                .await
                .unwrap()
                .into_row()
                .await
                .unwrap()
                .unwrap();
            assert!(version
                .get::<&str, _>(0)
                .unwrap()
                .starts_with("Microsoft SQL Server 2019"));
            c.simple_query(
                "CREATE TABLE dbo.hosts (id int IDENTITY(1,1) PRIMARY KEY, name nvarchar(50) NOT NULL UNIQUE, \
                 cores smallint, ok bit, price decimal(10,2), seen datetime, ratio float, big bigint)",
            )
            .await
            .unwrap()
            .into_results()
            .await
            .unwrap();
            // sp_executesql with typed parameters.
            let price = Numeric::new_with_scale(1250, 2);
            let sql = "INSERT INTO dbo.hosts (name, cores, ok, price, seen, ratio, big) \
                       VALUES (@P1, @P2, @P3, @P4, '2024-02-29T01:02:03', @P5, @P6)";
            let r = c
                .execute(sql, &[&"hv01", &16i16, &true, &price, &0.25f64, &5_000_000_000i64])
                .await
                .unwrap();
            assert_eq!(r.rows_affected(), &[1]);
            let r = c
                .execute(sql, &[&"hv02", &8i16, &false, &price, &0.5f64, &1i64])
                .await
                .unwrap();
            assert_eq!(r.rows_affected(), &[1]);

            let rows = c
                .query("SELECT * FROM dbo.hosts WHERE name = @P1", &[&"hv01"])
                .await
                .unwrap()
                .into_first_result()
                .await
                .unwrap();
            assert_eq!(rows.len(), 1);
            let row = &rows[0];
            let types: Vec<ColumnType> = row.columns().iter().map(|c| c.column_type()).collect();
            assert_eq!(
                types,
                [
                    ColumnType::Int4,
                    ColumnType::NVarchar,
                    ColumnType::Int2,
                    ColumnType::Bitn,
                    ColumnType::Decimaln,
                    ColumnType::Datetimen,
                    ColumnType::Float8,
                    ColumnType::Int8
                ]
            );
            assert_eq!(row.get::<i32, _>("id"), Some(1));
            assert_eq!(row.get::<&str, _>("name"), Some("hv01"));
            assert_eq!(row.get::<i16, _>("cores"), Some(16));
            assert_eq!(row.get::<bool, _>("ok"), Some(true));
            assert_eq!(row.get::<Numeric, _>("price").unwrap().to_string(), "12.50");
            assert_eq!(row.get::<f64, _>("ratio"), Some(0.25));
            assert_eq!(row.get::<i64, _>("big"), Some(5_000_000_000));
            // 2024-02-29 is day 45349 after 1900-01-01; 01:02:03 is
            // 1,116,900 ticks of 1/300 s.
            let seen = format!("{:?}", row.get_column_data("seen").unwrap());
            assert_eq!(
                seen,
                "DateTime(Some(DateTime { days: 45349, seconds_fragments: 1116900 }))"
            );

            let r = c
                .execute("UPDATE dbo.hosts SET cores = @P1 WHERE name = @P2", &[&32i16, &"hv02"])
                .await
                .unwrap();
            assert_eq!(r.rows_affected(), &[1]);
            let rows = c
                .query("SELECT name, cores FROM dbo.hosts WHERE cores > @P1 ORDER BY id", &[&10i16])
                .await
                .unwrap()
                .into_first_result()
                .await
                .unwrap();
            let got: Vec<(String, i16)> = rows
                .iter()
                .map(|r| (r.get::<&str, _>(0).unwrap().to_string(), r.get::<i16, _>(1).unwrap()))
                .collect();
            assert_eq!(got, [("hv01".to_string(), 16), ("hv02".to_string(), 32)]);

            // Errors by number, and the connection keeps working after each.
            let (n, m) = server_error(c.simple_query("SELECT * FROM nowhere").await);
            assert_eq!((n, m.as_str()), (208, "Invalid object name 'nowhere'."));
            assert_eq!(one_i32(&mut c, "SELECT 2").await, 2);
            let (n, _) = server_error(
                c.execute(sql, &[&"hv01", &1i16, &true, &price, &0.1f64, &1i64])
                    .await,
            );
            assert_eq!(n, 2627);
            let (n, _) = server_error(c.simple_query("SELECT CAST('abc' AS int)").await);
            assert_eq!(n, 245);
            let (n, m) = server_error(c.simple_query("SELECT 1 FROM WHERE").await);
            assert_eq!(n, 156, "{m}");

            // The 7.3 date and time types with their declared scales.
            c.simple_query(
                "CREATE TABLE dbo.times (d date, t time(3), d2 datetime2, dto datetimeoffset(0)); \
                 INSERT INTO dbo.times VALUES ('2024-02-29', '01:02:03.5', '2024-02-29 01:02:03.1234567', '2024-02-29 01:00:00 +02:00')",
            )
            .await
            .unwrap()
            .into_results()
            .await
            .unwrap();
            let rows = c
                .simple_query("SELECT d, t, d2, dto FROM dbo.times")
                .await
                .unwrap()
                .into_first_result()
                .await
                .unwrap();
            let types: Vec<ColumnType> = rows[0].columns().iter().map(|c| c.column_type()).collect();
            assert_eq!(
                types,
                [
                    ColumnType::Daten,
                    ColumnType::Timen,
                    ColumnType::Datetime2,
                    ColumnType::DatetimeOffsetn
                ]
            );
            let cells: Vec<String> = rows[0].cells().map(|(_, v)| format!("{v:?}")).collect();
            // 2024-02-29 is day 738,944 after 0001-01-01; a
            // datetimeoffset travels in UTC (23:00 the day before) with its
            // offset in minutes.
            assert_eq!(
                cells,
                [
                    "Date(Some(Date(738944)))",
                    "Time(Some(Time { increments: 3723500, scale: 3 }))",
                    "DateTime2(Some(DateTime2 { date: Date(738944), time: Time { increments: 37231234567, scale: 7 } }))",
                    "DateTimeOffset(Some(DateTimeOffset { datetime2: DateTime2 { date: Date(738943), time: Time { increments: 82800, scale: 0 } }, offset: 120 }))"
                ]
            );

            let r = c
                .execute("DELETE FROM dbo.hosts WHERE name = @P1", &[&"hv01"])
                .await
                .unwrap();
            assert_eq!(r.rows_affected(), &[1]);
            assert_eq!(one_i32(&mut c, "SELECT COUNT(*) FROM dbo.hosts").await, 1);
        });
    }
}
