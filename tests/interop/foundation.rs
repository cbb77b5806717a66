//! The house every protocol lives in: power gating of OS endpoints, fault
//! rules, the journal, the control API, side-by-side datacenters and
//! shutdown, exercised with small test services.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use crate::common::*;
use fakedc::{Datacenter, FaultKind, FaultRule, PowerAction, Query, ServiceKind};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(3);

fn start() -> Datacenter {
    Datacenter::builder()
        .scenario_str(SCENARIO)
        .ephemeral()
        .without_builtins()
        .control("127.0.0.1:0".parse().unwrap())
        .service(|s, model| {
            s.tcp(ServiceKind::VmConnect, Arc::new(Echo(model.clone())));
            s.tcp(ServiceKind::BmcSsh, Arc::new(Echo(model.clone())));
            s.udp(ServiceKind::Ipmi, Arc::new(UdpEcho));
            s.http(ServiceKind::LbHttp, "/", Arc::new(Hello("root")));
            s.http(ServiceKind::LbHttp, "/api", Arc::new(Hello("api")));
            s.http(ServiceKind::LbHttps, "/", Arc::new(Hello("tls")));
        })
        .start()
        .expect("datacenter starts")
}

fn udp_roundtrip(addr: SocketAddr, payload: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    s.send_to(payload, addr).unwrap();
    let mut buf = [0u8; 2048];
    s.recv_from(&mut buf).ok().map(|(n, _)| buf[..n].to_vec())
}

fn refused(addr: SocketAddr) -> bool {
    matches!(TcpStream::connect_timeout(&addr, T), Err(e) if e.kind() == ErrorKind::ConnectionRefused)
}

#[test]
fn only_registered_services_are_bound_and_the_rest_say_not_served() {
    let dc = start();
    let served: Vec<_> = dc
        .endpoints()
        .iter()
        .filter(|e| e.served)
        .map(|e| (e.machine.as_str(), e.service))
        .collect();
    assert!(served.contains(&("hv01", ServiceKind::VmConnect)));
    assert!(served.contains(&("bmc01", ServiceKind::Ipmi)));
    assert!(dc
        .endpoints()
        .iter()
        .any(|e| e.machine == "hv01" && e.service == ServiceKind::Smb && !e.served));
    assert!(dc.endpoint("hv01", ServiceKind::Smb).is_none());
    let rdp = dc.endpoint("hv01", ServiceKind::VmConnect).unwrap();
    assert_eq!(
        rdp.ip().to_string(),
        "127.77.0.1",
        "each machine listens on its own address"
    );
    assert_eq!(greet(rdp, T).unwrap(), "HELLO hv01 vmconnect");
}

#[test]
fn power_off_darkens_os_endpoints_and_power_on_brings_them_back_after_boot_delay() {
    let dc = start();
    let rdp = dc.endpoint("hv01", ServiceKind::VmConnect).unwrap();
    let ipmi = dc.endpoint("bmc01", ServiceKind::Ipmi).unwrap();
    let smash = dc.endpoint("bmc01", ServiceKind::BmcSsh).unwrap();
    assert!(greet(rdp, T).is_ok());

    // Power off through the control API.
    let ctl = dc.control_addr().unwrap();
    let (status, body) = http(
        ctl,
        "POST",
        "/machines/hv01/power",
        Some(r#"{"action":"off"}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"power\": \"off\""), "{body}");
    assert!(
        wait_until(T, || refused(rdp)),
        "host endpoint still answers after power off"
    );
    // The BMC runs on standby power.
    assert_eq!(
        udp_roundtrip(ipmi, b"ping", T).as_deref(),
        Some(&b"ping"[..])
    );
    assert_eq!(greet(smash, T).unwrap(), "HELLO bmc01 bmc-ssh");

    // Power on: booting first (still dark), then up after the boot delay.
    let t0 = Instant::now();
    dc.power("hv01", PowerAction::On).unwrap();
    assert!(refused(rdp), "OS endpoint answered before the OS booted");
    assert_eq!(dc.machine_state("hv01").unwrap().power, "booting");
    assert!(
        wait_until(T, || greet(rdp, Duration::from_millis(300)).is_ok()),
        "host did not come back"
    );
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "came back after {took:?}, before the 400 ms boot delay"
    );
    assert_eq!(dc.machine_state("hv01").unwrap().power, "on");

    // A BMC power action goes to the host it manages.
    dc.power("bmc01", PowerAction::Soft).unwrap();
    assert!(
        wait_until(T, || refused(rdp)),
        "a soft shutdown stops the OS at once"
    );
    assert_eq!(dc.machine_state("hv01").unwrap().power, "shutting-down");
    assert!(wait_until(T, || dc.machine_state("hv01").unwrap().power == "off"));
}

#[test]
fn refuse_and_blackhole_rules() {
    let dc = start();
    let rdp = dc.endpoint("hv01", ServiceKind::VmConnect).unwrap();
    let id = dc.add_fault(FaultRule {
        id: 0,
        machine: Some("hv01".into()),
        service: Some("vmconnect".into()),
        kind: FaultKind::Refuse,
    });
    assert!(wait_until(T, || refused(rdp)));
    assert!(dc.remove_fault(id));
    assert!(wait_until(T, || greet(rdp, T).is_ok()));

    dc.add_fault(FaultRule {
        id: 0,
        machine: Some("hv01".into()),
        service: None,
        kind: FaultKind::Blackhole,
    });
    let err = greet(rdp, Duration::from_millis(300)).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err}"
    );

    let ipmi = dc.endpoint("bmc01", ServiceKind::Ipmi).unwrap();
    dc.add_fault(FaultRule {
        id: 0,
        machine: Some("bmc01".into()),
        service: Some("ipmi".into()),
        kind: FaultKind::Blackhole,
    });
    assert_eq!(udp_roundtrip(ipmi, b"x", Duration::from_millis(300)), None);
}

#[test]
fn delay_and_reset_rules() {
    let dc = start();
    let rdp = dc.endpoint("hv01", ServiceKind::VmConnect).unwrap();
    dc.add_fault(FaultRule {
        id: 0,
        machine: Some("hv01".into()),
        service: None,
        kind: FaultKind::Delay {
            ms: 250,
            jitter_ms: 0,
        },
    });
    let mut s = TcpStream::connect(rdp).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HELLO"));
    let t0 = Instant::now();
    s.write_all(b"one\r\n").unwrap();
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"one\r\n");
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "echo came back after {:?}",
        t0.elapsed()
    );

    let ipmi = dc.endpoint("bmc01", ServiceKind::Ipmi).unwrap();
    dc.add_fault(FaultRule {
        id: 0,
        machine: Some("bmc01".into()),
        service: None,
        kind: FaultKind::Delay {
            ms: 200,
            jitter_ms: 0,
        },
    });
    let t0 = Instant::now();
    assert!(udp_roundtrip(ipmi, b"d", T).is_some());
    assert!(t0.elapsed() >= Duration::from_millis(200));

    let smash = dc.endpoint("bmc01", ServiceKind::BmcSsh).unwrap();
    dc.add_fault(FaultRule {
        id: 0,
        machine: Some("bmc01".into()),
        service: Some("bmc-ssh".into()),
        kind: FaultKind::ResetAfter { bytes: 3 },
    });
    let mut s = TcpStream::connect(smash).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let mut got = Vec::new();
    let err = loop {
        match s.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break Some(e),
        }
    };
    assert_eq!(got, b"HEL", "exactly N bytes reach the peer");
    assert_eq!(
        err.map(|e| e.kind()),
        Some(ErrorKind::ConnectionReset),
        "then a reset, not a clean close"
    );
}

#[test]
fn journal_records_connections_and_operations() {
    let dc = start();
    let rdp = dc.endpoint("hv01", ServiceKind::VmConnect).unwrap();
    let mut s = TcpStream::connect(rdp).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(b"journal me\r\n").unwrap();
    let mut buf = [0u8; 128];
    let mut got = String::new();
    while !got.contains("journal me") {
        let n = s.read(&mut buf).unwrap();
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let q = Query {
        machine: Some("hv01".into()),
        service: Some("vmconnect".into()),
        ..Default::default()
    };
    let entries = dc.journal(&q);
    assert!(entries
        .iter()
        .any(|e| e.operation == "connect" && e.outcome == "accepted"));
    let op = entries
        .iter()
        .find(|e| e.operation == "echo journal me")
        .expect("operation journaled");
    assert_eq!(op.peer, Some(s.local_addr().unwrap()));
    // The same through the control API.
    let (status, body) = http(
        dc.control_addr().unwrap(),
        "GET",
        "/journal?machine=hv01&operation=echo%20journal",
        None,
    );
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{body}");
}

#[test]
fn http_services_share_a_port_by_path() {
    let dc = start();
    let lb = dc.endpoint("lb01", ServiceKind::LbHttp).unwrap();
    assert_eq!(http(lb, "GET", "/api/x", None), (200, "api /api/x".into()));
    assert_eq!(http(lb, "GET", "/other", None), (200, "root /other".into()));
    // TLS endpoints present a leaf for the machine signed by the scenario CA.
    let lbs = dc.endpoint("lb01", ServiceKind::LbHttps).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(fakedc::check::generic_probe(lbs, true, T));
    assert_eq!(r.verdict, fakedc::check::Verdict::Open, "{}", r.detail);
    assert!(r.detail.contains("CN=lb01.fakedc.test"), "{}", r.detail);
}

#[test]
fn control_api_faults_reset_and_about() {
    let dc = start();
    let ctl = dc.control_addr().unwrap();
    assert_eq!(http(ctl, "GET", "/health", None).0, 200);
    let (s, body) = http(
        ctl,
        "POST",
        "/faults",
        Some(r#"{"machine":"hv01","service":"vmconnect","kind":"refuse"}"#),
    );
    assert_eq!(s, 201, "{body}");
    let rdp = dc.endpoint("hv01", ServiceKind::VmConnect).unwrap();
    assert!(wait_until(T, || refused(rdp)));
    let (_, list) = http(ctl, "GET", "/faults", None);
    assert!(list.contains("refuse"));
    assert_eq!(
        http(
            ctl,
            "POST",
            "/faults",
            Some(r#"{"machine":"nope","kind":"refuse"}"#)
        )
        .0,
        400
    );
    assert_eq!(http(ctl, "POST", "/faults", Some("{not json")).0, 400);

    // Boot override and power, then reset puts everything back.
    let (s, body) = http(
        ctl,
        "PUT",
        "/machines/hv01/boot",
        Some(r#"{"device":"pxe","persistent":true,"efi":false}"#),
    );
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        dc.machine_state("hv01").unwrap().boot.device,
        fakedc::BootDevice::Pxe
    );
    assert_eq!(http(ctl, "POST", "/machines/hv01/power/off", None).0, 200);
    assert_eq!(
        http(ctl, "POST", "/machines/hv01/power/explode", None).0,
        400
    );
    assert_eq!(http(ctl, "GET", "/machines/zz", None).0, 404);
    assert_eq!(http(ctl, "POST", "/reset", None).0, 200);
    let st = dc.machine_state("hv01").unwrap();
    assert_eq!(
        (st.power.as_str(), st.boot.device),
        ("on", fakedc::BootDevice::None)
    );
    assert!(dc.faults().is_empty());
    assert!(wait_until(T, || greet(rdp, T).is_ok()));

    let (_, eps) = http(ctl, "GET", "/endpoints", None);
    let eps: Vec<fakedc::EndpointInfo> = serde_json::from_str(&eps).unwrap();
    assert_eq!(eps.len(), dc.endpoints().len());
    assert_eq!(http(ctl, "GET", "/about", None).0, 200);
}

#[test]
fn two_datacenters_side_by_side_and_shutdown_leaves_nothing() {
    let a = start();
    let b = start();
    let ra = a.endpoint("hv01", ServiceKind::VmConnect).unwrap();
    let rb = b.endpoint("hv01", ServiceKind::VmConnect).unwrap();
    assert_ne!(ra, rb);
    a.power("hv01", PowerAction::Off).unwrap();
    assert!(wait_until(T, || refused(ra)));
    assert!(greet(rb, T).is_ok(), "the other datacenter is independent");
    let ctl = b.control_addr().unwrap();
    drop(b);
    assert!(refused(rb), "listener left behind after shutdown");
    assert!(refused(ctl), "control API left behind after shutdown");
}
