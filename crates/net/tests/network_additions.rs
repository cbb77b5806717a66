//! The network layer's run-time additions, on loopback only (127.0.0.1 and
//! the scenario's 127.93.x addresses; no traffic leaves the host): TLS
//! started mid-connection, connections dialled from a machine's address,
//! and endpoints bound and released at run time that follow the machine's
//! power like the static ones.

use fakedc_model::{MachineId, Model, PowerAction, Query, ServiceKind};
use fakedc_net::tls::{client_config, Trust};
use fakedc_net::{
    BoxFuture, CertAuthority, Conn, Handler, NetConfig, NetError, Network, Services, TcpService,
    UdpEndpoint, UdpService,
};
use fakedc_scenario::{ParseOptions, Scenario};
use rustls::pki_types::ServerName;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SCENARIO: &str = r#"
[defaults]
boot_delay_ms = 400
shutdown_delay_ms = 200
cycle_interval_ms = 100

[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.93.0.1"

[[machine]]
name = "lb01"
role = "load-balancer"
address = "127.93.0.2"
"#;

const T: Duration = Duration::from_secs(5);

fn model() -> Arc<Model> {
    let s = Scenario::parse("<test>", SCENARIO, &ParseOptions::default()).expect("scenario");
    Arc::new(s.model())
}

/// A network with no static endpoint (nothing registered), an in-memory
/// CA and ephemeral ports: every endpoint in these tests is dynamic.
async fn start() -> (Arc<Model>, Arc<CertAuthority>, Network) {
    let model = model();
    let ca = Arc::new(CertAuthority::generate().expect("CA"));
    let cfg = NetConfig {
        ephemeral: true,
        ca: Some(ca.clone()),
        shutdown_grace: Duration::from_millis(200),
        ..NetConfig::default()
    };
    let net = Network::start(model.clone(), &Services::default(), cfg)
        .await
        .expect("start");
    (model, ca, net)
}

fn id(model: &Model, name: &str) -> MachineId {
    model.find(name).expect("machine").id
}

fn journal(model: &Model, machine: &str, operation: &str) -> Vec<String> {
    model
        .journal
        .query(&Query {
            machine: Some(machine.into()),
            operation: Some(operation.into()),
            ..Query::default()
        })
        .into_iter()
        .map(|e| e.outcome)
        .collect()
}

/// Reads up to and including `\n`, one byte at a time so nothing past the
/// line is consumed (what an upgrading protocol must do).
async fn line<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<String> {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    loop {
        if r.read(&mut b).await? == 0 {
            break;
        }
        out.push(b[0]);
        if b[0] == b'\n' {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&out).trim_end().to_string())
}

/// Plain text `STARTTLS` → `OK`, then TLS with the machine's certificate,
/// then one line echoed with the machine's name.
struct StartTls;

impl TcpService for StartTls {
    fn serve(self: Arc<Self>, conn: Conn) -> BoxFuture<()> {
        Box::pin(async move {
            let Conn { mut io, info } = conn;
            if line(&mut io).await.ok().as_deref() != Some("STARTTLS") {
                return;
            }
            if io.write_all(b"OK\r\n").await.is_err() {
                return;
            }
            let Ok(mut io) = info.tls_upgrade(io).await else {
                return;
            };
            let Ok(l) = line(&mut io).await else { return };
            let _ = io
                .write_all(format!("{} says {l}\n", info.machine_name).as_bytes())
                .await;
            let _ = io.shutdown().await;
        })
    }
}

/// Greets with the machine and service, then holds the connection until
/// the peer closes it.
struct Greeter;

impl TcpService for Greeter {
    fn serve(self: Arc<Self>, conn: Conn) -> BoxFuture<()> {
        Box::pin(async move {
            let Conn { mut io, info } = conn;
            let hello = format!("hello from {} {}\n", info.machine_name, info.service);
            if io.write_all(hello.as_bytes()).await.is_err() {
                return;
            }
            let mut sink = [0u8; 64];
            while matches!(io.read(&mut sink).await, Ok(n) if n > 0) {}
        })
    }
}

/// Echoes datagrams with a prefix.
struct UdpEcho;

impl UdpService for UdpEcho {
    fn run(self: Arc<Self>, ep: UdpEndpoint) -> BoxFuture<()> {
        Box::pin(async move {
            let mut buf = [0u8; 512];
            while let Some((n, peer)) = ep.recv(&mut buf).await {
                let mut out = b"echo ".to_vec();
                out.extend_from_slice(&buf[..n]);
                ep.send_to(&out, peer).await;
            }
        })
    }
}

async fn greet(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = tokio::time::timeout(T, TcpStream::connect(addr)).await??;
    tokio::time::timeout(T, line(&mut s)).await?
}

/// Polls until `f` holds, for up to 5 s of real time (the listener's
/// supervisor reacts to the model's change callback, asynchronously).
async fn eventually<F, Fut>(mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..250 {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn refused(addr: SocketAddr) -> bool {
    matches!(
        TcpStream::connect(addr).await,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_upgrade_after_a_plain_text_preface_presents_the_machine_leaf() {
    let (model, ca, net) = start().await;
    let hv = id(&model, "hv01");
    let dns = model.machine(hv).dns_name.clone();
    let h = net.handle();
    let plain = h
        .bind(
            hv,
            ServiceKind::Tds,
            0,
            Handler::Tcp(Arc::new(StartTls)),
            false,
        )
        .expect("bind upgrade endpoint");
    let tls = h
        .bind(
            hv,
            ServiceKind::Rpc,
            0,
            Handler::Tcp(Arc::new(Greeter)),
            true,
        )
        .expect("bind TLS endpoint");
    let connector =
        tokio_rustls::TlsConnector::from(client_config(&Trust::Roots(vec![ca.der()])).unwrap());
    let name = ServerName::try_from(dns.clone()).unwrap();

    // Plain text first, then a rustls client on the same stream.
    let mut s = TcpStream::connect(plain.addr()).await.unwrap();
    s.write_all(b"STARTTLS\r\n").await.unwrap();
    let mut ok = [0u8; 4];
    s.read_exact(&mut ok).await.unwrap();
    assert_eq!(&ok, b"OK\r\n");
    let mut t = tokio::time::timeout(T, connector.connect(name.clone(), s))
        .await
        .expect("handshake in time")
        .expect("handshake verifies against the scenario CA and the DNS name");
    t.write_all(b"ping\n").await.unwrap();
    assert_eq!(line(&mut t).await.unwrap(), "hv01 says ping");
    let upgraded = t.get_ref().1;
    // No ALPN on an upgrade (TDS/RDP/net.tcp negotiate none).
    assert_eq!(upgraded.alpn_protocol(), None);
    let upgrade_leaf = upgraded.peer_certificates().unwrap()[0].clone();

    // The TLS listener presents the same leaf.
    let s = TcpStream::connect(tls.addr()).await.unwrap();
    let mut t2 = connector.connect(name, s).await.expect("TLS listener");
    assert_eq!(line(&mut t2).await.unwrap(), "hello from hv01 rpc");
    assert_eq!(t2.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(t2.get_ref().1.peer_certificates().unwrap()[0], upgrade_leaf);
    drop(t2);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_from_is_seen_from_the_machine_address_and_refuses_non_loopback() {
    let (model, _ca, net) = start().await;
    let lb = id(&model, "lb01");
    let h = net.handle();
    // A "pool member" on 127.0.0.1.
    let member = fakedc_net::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    let target = member.local_addr().unwrap();

    let s = h
        .connect_from(lb, ServiceKind::LbHttp, target, T)
        .await
        .expect("dial from lb01");
    let (_conn, seen) = member.accept().await.unwrap();
    assert_eq!(seen.ip(), "127.93.0.2".parse::<IpAddr>().unwrap());
    assert_eq!(s.local_addr().unwrap(), seen);
    let dials = journal(&model, "lb01", "dial");
    assert_eq!(dials.len(), 1, "{dials:?}");
    assert!(
        dials[0].starts_with("connected from 127.93.0.2:"),
        "{dials:?}"
    );

    // The free function, from another loopback address.
    let local: IpAddr = "127.93.0.9".parse().unwrap();
    let _s = fakedc_net::connect_from(local, target, T).await.unwrap();
    let (_c, seen) = member.accept().await.unwrap();
    assert_eq!(seen.ip(), local);

    // Off loopback: refused before any socket exists (TEST-NET-1 address).
    let outside: SocketAddr = "192.0.2.1:80".parse().unwrap();
    let e = h
        .connect_from(lb, ServiceKind::LbHttp, outside, T)
        .await
        .expect_err("non-loopback target");
    assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(e.to_string().contains("--allow-non-loopback"), "{e}");
    let e = fakedc_net::connect_from(local, outside, T)
        .await
        .expect_err("non-loopback target");
    assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(!h.allow_non_loopback());
    let dials = journal(&model, "lb01", "dial");
    assert!(dials[1].starts_with("failed: refusing"), "{dials:?}");

    // A dark host dials nothing.
    model.power_action(lb, PowerAction::Off, model.clock.now());
    let e = h
        .connect_from(lb, ServiceKind::LbHttp, target, T)
        .await
        .expect_err("powered-off machine");
    assert_eq!(e.kind(), std::io::ErrorKind::NotConnected);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_endpoint_serves_follows_power_and_is_gone_after_release() {
    let (model, _ca, net) = start().await;
    let hv = id(&model, "hv01");
    let h = net.handle();
    let ep = h
        .bind(
            hv,
            ServiceKind::Rpc,
            0,
            Handler::Tcp(Arc::new(Greeter)),
            false,
        )
        .expect("bind");
    let addr = ep.addr();
    assert_eq!(addr.ip(), "127.93.0.1".parse::<IpAddr>().unwrap());
    assert_ne!(addr.port(), 0);
    assert_eq!(greet(addr).await.unwrap(), "hello from hv01 rpc");
    assert_eq!(net.dynamic_endpoints().len(), 1);
    assert_eq!(net.dynamic_endpoints()[0].addr, addr);

    // A connection open when the host goes dark is dropped with it.
    let mut held = TcpStream::connect(addr).await.unwrap();
    assert_eq!(line(&mut held).await.unwrap(), "hello from hv01 rpc");
    model.power_action(hv, PowerAction::Off, model.clock.now());
    assert!(
        eventually(|| refused(addr)).await,
        "still listening while off"
    );
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(T, held.read(&mut buf))
        .await
        .expect("dropped in time");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert!(journal(&model, "hv01", "listen").contains(&"closed".to_string()));

    // Power on: the OS boots (400 ms on the model's clock), then the
    // listener comes back on the same port.
    model.power_action(hv, PowerAction::On, model.clock.now());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(refused(addr).await, "listening before the OS is up");
    model.advance(Duration::from_millis(500));
    assert!(
        eventually(|| async { greet(addr).await.is_ok() }).await,
        "not back after boot"
    );

    // Released: closed at once, unlisted, journaled.
    ep.release().await;
    assert!(refused(addr).await);
    assert!(net.dynamic_endpoints().is_empty());
    let listen = journal(&model, "hv01", "listen");
    assert_eq!(
        listen,
        ["open", "closed", "open", "closed: released"],
        "{listen:?}"
    );

    // Dropping the guard releases too.
    let ep = h
        .bind(
            hv,
            ServiceKind::Rpc,
            0,
            Handler::Tcp(Arc::new(Greeter)),
            false,
        )
        .unwrap();
    let addr = ep.addr();
    assert!(greet(addr).await.is_ok());
    drop(ep);
    assert!(
        eventually(|| refused(addr)).await,
        "still listening after drop"
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_endpoints_close_at_shutdown_and_udp_ones_release() {
    let (model, _ca, net) = start().await;
    let hv = id(&model, "hv01");
    let lb = id(&model, "lb01");
    let h = net.handle();

    // UDP: served until released.
    let udp = h
        .bind(
            lb,
            ServiceKind::Ipmi,
            0,
            Handler::Udp(Arc::new(UdpEcho)),
            false,
        )
        .unwrap();
    let client = fakedc_net::bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    client.connect(udp.addr()).await.unwrap();
    client.send(b"hi").await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(T, client.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"echo hi");
    let udp_addr = udp.addr();
    udp.release().await;
    assert!(!net.dynamic_endpoints().iter().any(|e| e.addr == udp_addr));
    assert!(matches!(
        h.bind(
            lb,
            ServiceKind::Ipmi,
            0,
            Handler::Udp(Arc::new(UdpEcho)),
            true
        ),
        Err(NetError::Unsupported { .. })
    ));

    // TCP: shutdown closes it and waits for it; binding afterwards fails.
    let ep = h
        .bind(
            hv,
            ServiceKind::Rpc,
            0,
            Handler::Tcp(Arc::new(Greeter)),
            false,
        )
        .unwrap();
    let addr = ep.addr();
    assert!(greet(addr).await.is_ok());
    tokio::time::timeout(T, net.shutdown())
        .await
        .expect("shutdown in time");
    assert!(refused(addr).await);
    tokio::time::timeout(T, ep.release())
        .await
        .expect("release after shutdown returns");
    assert!(matches!(
        h.bind(
            hv,
            ServiceKind::Rpc,
            0,
            Handler::Tcp(Arc::new(Greeter)),
            false
        ),
        Err(NetError::ShuttingDown)
    ));
    assert!(matches!(
        h.bind(
            MachineId(99),
            ServiceKind::Rpc,
            0,
            Handler::Tcp(Arc::new(Greeter)),
            false
        ),
        Err(NetError::ShuttingDown | NetError::UnknownMachine(99))
    ));
}

#[test]
fn dynamic_bind_works_from_outside_the_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (model, _ca, net) = rt.block_on(start());
    let hv = id(&model, "hv01");
    // Not inside the runtime: the handle binds and spawns on the network's.
    let ep = net
        .handle()
        .bind(
            hv,
            ServiceKind::Rpc,
            0,
            Handler::Tcp(Arc::new(Greeter)),
            false,
        )
        .unwrap();
    assert!(matches!(
        net.handle().bind(
            MachineId(99),
            ServiceKind::Rpc,
            0,
            Handler::Tcp(Arc::new(Greeter)),
            false
        ),
        Err(NetError::UnknownMachine(99))
    ));
    let addr = ep.addr();
    assert_eq!(rt.block_on(greet(addr)).unwrap(), "hello from hv01 rpc");
    rt.block_on(ep.release());
    rt.block_on(net.shutdown());
}

/// Answers with the serving thread's name and its /proc task path.
struct WhereAmI;

impl TcpService for WhereAmI {
    fn serve(self: Arc<Self>, conn: Conn) -> BoxFuture<()> {
        Box::pin(async move {
            let Conn { mut io, .. } = conn;
            let name = std::thread::current().name().unwrap_or("?").to_string();
            // The link is relative to /proc: `<pid>/task/<tid>`.
            let task = std::fs::read_link("/proc/thread-self")
                .map(|p| format!("/proc/{}", p.display()))
                .unwrap_or_default();
            let _ = io.write_all(format!("{name} {task}\n").as_bytes()).await;
            let mut sink = [0u8; 64];
            while matches!(io.read(&mut sink).await, Ok(n) if n > 0) {}
        })
    }
}

/// Accepted connections are served on the network's connection threads
/// (named like every fakedc thread, not the main runtime's workers), and
/// those threads end when the network is dropped, taking what they serve
/// with them.
#[test]
fn connections_are_served_on_connection_threads_that_end_with_the_network() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("main-worker")
        .enable_all()
        .build()
        .unwrap();
    let (model, _ca, net) = rt.block_on(start());
    let hv = id(&model, "hv01");
    let ep = net
        .handle()
        .bind(
            hv,
            ServiceKind::Rpc,
            0,
            Handler::Tcp(Arc::new(WhereAmI)),
            false,
        )
        .unwrap();
    let addr = ep.addr();
    let (answer, mut held) = rt.block_on(async {
        let mut s = tokio::time::timeout(T, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        let l = tokio::time::timeout(T, line(&mut s))
            .await
            .unwrap()
            .unwrap();
        (l, s)
    });
    let (name, task) = answer.trim().split_once(' ').expect("name and task");
    assert_eq!(name, fakedc_net::threads::THREAD_NAME, "{answer}");
    assert!(std::path::Path::new(task).exists(), "{answer}");
    drop(ep);
    rt.block_on(net.shutdown());
    drop(net);
    // The thread goes, and the connection it served is closed.
    let mut gone = false;
    for _ in 0..250 {
        if !std::path::Path::new(task).exists() {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(gone, "connection thread {task} still runs");
    let mut buf = [0u8; 8];
    let n = rt.block_on(async { tokio::time::timeout(T, held.read(&mut buf)).await });
    assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "{n:?}");
}
