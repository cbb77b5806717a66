//! The client side: an async RMCP+ client over the sans-IO [`Console`]
//! (used by `fakedc check`, tests and the benchmark load generator) and
//! the IPMI probe: ASF ping, Get Channel Authentication Capabilities, Get
//! Channel Cipher Suites, and with credentials a full RAKP session.
//! It works against real BMCs as well as fakedc's.

use crate::wire::console::{
    parse_presession_response, presession_request, Console, ConsoleError, HandshakeStep,
};
use crate::wire::{AsfMessage, Datagram, Privilege};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

/// Shared with every other probe (see `fakedc_net::protocol`).
pub use fakedc_net::{ProbeReport, ProbeVerdict};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Console(#[from] ConsoleError),
}

async fn exchange(
    sock: &UdpSocket,
    out: &[u8],
    timeout: Duration,
    tries: u32,
) -> Result<Vec<u8>, ClientError> {
    let mut buf = vec![0u8; 2048];
    for _ in 0..tries.max(1) {
        sock.send(out).await?;
        match tokio::time::timeout(timeout, sock.recv(&mut buf)).await {
            Ok(Ok(n)) => return Ok(buf[..n].to_vec()),
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => continue,
        }
    }
    Err(ClientError::Timeout(timeout))
}

/// An established RMCP+ session.
pub struct Client {
    sock: UdpSocket,
    console: Console,
    timeout: Duration,
}

impl Client {
    /// Opens an RMCP+ session with `suite` and raises it to `privilege`.
    pub async fn connect(
        addr: SocketAddr,
        user: &str,
        password: &str,
        suite: u8,
        privilege: Privilege,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        let bind: SocketAddr = if addr.is_ipv4() {
            "127.0.0.1:0"
        } else {
            "[::1]:0"
        }
        .parse()
        .map_err(|_| std::io::Error::other("bad bind address"))?;
        let sock = UdpSocket::bind(bind).await?;
        sock.connect(addr).await?;
        let mut console = Console::new(user.as_bytes(), password.as_bytes(), suite, privilege)?;
        let mut out = console.start();
        loop {
            let reply = exchange(&sock, &out, timeout, 3).await?;
            match console.handle(&reply)? {
                HandshakeStep::Send(next) => out = next,
                HandshakeStep::Established => break,
            }
        }
        let mut c = Client {
            sock,
            console,
            timeout,
        };
        if privilege > Privilege::User {
            let (cc, _) = c.request(0x06, 0x3B, &[privilege.as_u8()]).await?;
            if cc != 0 {
                return Err(ClientError::Console(ConsoleError::CompletionCode {
                    step: "Set Session Privilege Level",
                    code: cc,
                }));
            }
        }
        Ok(c)
    }

    /// Sends one request and waits for its response: (completion code, data).
    ///
    /// Like ipmitool, a request that gets no answer is sent again (up to three
    /// tries), each time re-sealed with fresh session and requester sequence
    /// numbers; answers to an earlier try are ignored. UDP loses datagrams when
    /// a BMC's receive queue overflows, and real consoles ride that out.
    pub async fn request(
        &mut self,
        netfn: u8,
        cmd: u8,
        data: &[u8],
    ) -> Result<(u8, Vec<u8>), ClientError> {
        const TRIES: u32 = 3;
        let mut buf = vec![0u8; 2048];
        let mut last_err = None;
        for _ in 0..TRIES {
            let out = self.console.request(netfn, cmd, data)?;
            let want = self.console.last_rq_seq();
            self.sock.send(&out).await?;
            let deadline = tokio::time::Instant::now() + self.timeout;
            loop {
                let n = match tokio::time::timeout_at(deadline, self.sock.recv(&mut buf)).await {
                    Err(_) => break,
                    Ok(r) => r?,
                };
                match self.console.response(&buf[..n]) {
                    Ok(r) if r.rq_seq == want && r.cmd == cmd => {
                        return Ok((r.completion_code, r.data));
                    }
                    Ok(_) => {}
                    Err(e) => last_err = Some(e),
                }
            }
        }
        Err(last_err.map_or(ClientError::Timeout(self.timeout), ClientError::Console))
    }

    /// Closes the session (best effort).
    pub async fn close(mut self) {
        if let Ok(out) = self.console.close_request() {
            let _ = exchange(&self.sock, &out, self.timeout, 1).await;
        }
    }
}

/// Probes an IPMI endpoint. With credentials it logs in with the best
/// advertised suite (17, else 3) and reads Get Device ID.
pub async fn probe(
    addr: SocketAddr,
    creds: Option<(&str, &str)>,
    timeout: Duration,
) -> ProbeReport {
    let report = |verdict, detail: String| ProbeReport::new(verdict, detail);
    let bind = if addr.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    };
    let sock = match UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => return report(ProbeVerdict::Refused, e.to_string()),
    };
    if let Err(e) = sock.connect(addr).await {
        return report(ProbeVerdict::Refused, e.to_string());
    }
    // 1. ASF presence ping.
    let pong = match exchange(&sock, &AsfMessage::ping_datagram(0x42), timeout, 2).await {
        Ok(p) => p,
        Err(ClientError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return report(ProbeVerdict::Refused, "ICMP port unreachable".into())
        }
        Err(_) => {
            return report(
                ProbeVerdict::Timeout,
                format!("no ASF pong within {timeout:?}"),
            )
        }
    };
    if !matches!(crate::wire::parse(&pong), Ok(Datagram::Asf(_))) {
        return report(
            ProbeVerdict::WrongProtocol,
            "answer to ASF ping is not an ASF pong".into(),
        );
    }
    // 2. Get Channel Authentication Capabilities (v2.0 extended, admin).
    let caps = match exchange(
        &sock,
        &presession_request(true, 0x06, 0x38, 1, &[0x8E, 0x04]),
        timeout,
        2,
    )
    .await
    {
        Ok(d) => d,
        Err(_) => {
            return report(
                ProbeVerdict::Timeout,
                "pong, but no answer to Get Channel Auth Capabilities".into(),
            )
        }
    };
    let caps = match parse_presession_response(&caps) {
        Ok(r) if r.completion_code == 0 && r.data.len() >= 8 => r.data,
        Ok(r) => {
            return report(
                ProbeVerdict::WrongProtocol,
                format!(
                    "Get Channel Auth Capabilities cc {:02X}h",
                    r.completion_code
                ),
            )
        }
        Err(e) => {
            return report(
                ProbeVerdict::WrongProtocol,
                format!("bad auth capabilities answer: {e}"),
            )
        }
    };
    let ipmi20 = caps[3] & 0x02 != 0;
    let mut auth = Vec::new();
    for (bit, name) in [(0x01u8, "none"), (0x04, "MD5"), (0x10, "password")] {
        if caps[1] & bit != 0 {
            auth.push(name);
        }
    }
    // 3. Cipher suites, page by page.
    let mut suites = Vec::new();
    if ipmi20 {
        let mut records = Vec::new();
        for index in 0..8u8 {
            let req = presession_request(false, 0x06, 0x54, 2 + index, &[0x0E, 0x00, 0x80 | index]);
            let Ok(d) = exchange(&sock, &req, timeout, 2).await else {
                break;
            };
            let Ok(r) = parse_presession_response(&d) else {
                break;
            };
            if r.completion_code != 0 || r.data.is_empty() {
                break;
            }
            records.extend_from_slice(&r.data[1..]);
            if r.data.len() < 17 {
                break;
            }
        }
        let mut i = 0;
        while i + 1 < records.len() {
            if records[i] == 0xC0 {
                suites.push(records[i + 1]);
                i += 2;
            } else {
                i += 1;
            }
        }
    }
    let mut detail = format!(
        "IPMI {}, auth {}, cipher suites {}",
        if ipmi20 { "2.0" } else { "1.5" },
        if auth.is_empty() {
            "-".into()
        } else {
            auth.join("/")
        },
        if suites.is_empty() {
            "-".into()
        } else {
            suites
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(",")
        }
    );
    let Some((user, password)) = creds else {
        return report(ProbeVerdict::Verified, detail);
    };
    // 4. A real session with the best suite.
    let suite = [17u8, 3, 2, 1, 0].into_iter().find(|s| suites.contains(s));
    let Some(suite) = suite else {
        return report(
            ProbeVerdict::AuthFailure,
            format!("{detail}; no usable RMCP+ suite to log in"),
        );
    };
    match Client::connect(addr, user, password, suite, Privilege::User, timeout).await {
        Ok(mut c) => {
            match c.request(0x06, 0x01, &[]).await {
                Ok((0, d)) if d.len() >= 11 => {
                    let mfr = u32::from(d[6]) | u32::from(d[7]) << 8 | u32::from(d[8]) << 16;
                    detail.push_str(&format!(
                        "; session (suite {suite}) ok, firmware {}.{:02x}, manufacturer {mfr}",
                        d[2] & 0x7F,
                        d[3]
                    ));
                }
                Ok((cc, _)) => detail.push_str(&format!("; Get Device ID cc {cc:02X}h")),
                Err(e) => detail.push_str(&format!("; Get Device ID failed: {e}")),
            }
            c.close().await;
            report(ProbeVerdict::Verified, detail)
        }
        Err(ClientError::Timeout(_)) => report(
            ProbeVerdict::Timeout,
            format!("{detail}; handshake timed out"),
        ),
        Err(e) => report(
            ProbeVerdict::AuthFailure,
            format!("{detail}; login as {user} failed: {e}"),
        ),
    }
}
