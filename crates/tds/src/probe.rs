//! The client side for `check`: PRELOGIN, and with credentials LOGIN7 (no
//! encryption offered) and `SELECT @@VERSION`.

use crate::login7::{Login7, TDS_74};
use crate::packet::{self, PacketType, Reassembler};
use crate::prelogin::{self, PreLogin};
use crate::token;
use fakedc_net::{ProbeReport, ProbeVerdict};
use fakedc_wire::{Reader, Writer};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub async fn probe(
    addr: SocketAddr,
    creds: Option<(&str, &str)>,
    timeout: Duration,
) -> ProbeReport {
    match tokio::time::timeout(timeout, run(addr, creds)).await {
        Ok(r) => r,
        Err(_) => ProbeReport::new(
            ProbeVerdict::Timeout,
            format!("no TDS answer in {timeout:?}"),
        ),
    }
}

async fn exchange(s: &mut TcpStream, ty: PacketType, payload: &[u8]) -> std::io::Result<Vec<u8>> {
    s.write_all(&packet::packetize(
        ty,
        payload,
        packet::DEFAULT_PACKET_SIZE,
        0,
    ))
    .await?;
    let mut rx = Reassembler::new(packet::MAX_PACKET_SIZE, 16 << 20);
    let mut buf = vec![0u8; 8192];
    loop {
        if let Some(m) = rx.next_message().map_err(std::io::Error::other)? {
            return Ok(m.payload);
        }
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        rx.push(buf.get(..n).unwrap_or_default());
    }
}

/// The first ERROR token's number and text in a token stream, scanning
/// only length-prefixed tokens before it.
pub fn first_error(tokens: &[u8]) -> Option<(i32, String)> {
    let mut r = Reader::new(tokens);
    while let Ok(t) = r.u8() {
        match t {
            token::ERROR => {
                let len = usize::from(r.u16_le().ok()?);
                let mut b = r.sub(len).ok()?;
                let number = b.i32_le().ok()?;
                b.skip(2).ok()?;
                let n = usize::from(b.u16_le().ok()?);
                return Some((number, b.utf16le_lossy(n).ok()?));
            }
            token::INFO | token::ENVCHANGE | token::LOGINACK => {
                let len = usize::from(r.u16_le().ok()?);
                r.skip(len).ok()?;
            }
            _ => return None,
        }
    }
    None
}

async fn run(addr: SocketAddr, creds: Option<(&str, &str)>) -> ProbeReport {
    let mut s = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return ProbeReport::new(ProbeVerdict::Refused, "connection refused")
        }
        Err(e) => return ProbeReport::new(ProbeVerdict::Refused, e.to_string()),
    };
    let pre = PreLogin {
        options: vec![
            (prelogin::OPT_VERSION, vec![0, 0, 0, 0, 0, 0]),
            (prelogin::OPT_ENCRYPTION, vec![prelogin::ENCRYPT_NOT_SUP]),
        ],
    };
    let reply = match exchange(&mut s, PacketType::PreLogin, &pre.write()).await {
        Ok(r) => r,
        Err(e) => return ProbeReport::new(ProbeVerdict::WrongProtocol, format!("PRELOGIN: {e}")),
    };
    let Ok(answer) = PreLogin::parse(&reply) else {
        return ProbeReport::new(ProbeVerdict::WrongProtocol, "not a PRELOGIN answer");
    };
    let version = answer
        .option(prelogin::OPT_VERSION)
        .filter(|v| v.len() >= 4)
        .map(|v| format!("{}.{}.{}", v[0], v[1], u16::from_be_bytes([v[2], v[3]])))
        .unwrap_or_default();
    let enc = answer.encryption().unwrap_or(0xFF);
    let mut report = ProbeReport::new(
        ProbeVerdict::Verified,
        format!("SQL Server {version}, PRELOGIN encryption {enc:02X}"),
    );
    report.facts.push(("version", version.clone()));
    let Some((user, password)) = creds else {
        return report;
    };
    if enc != prelogin::ENCRYPT_NOT_SUP {
        // Force encryption: this probe does not speak TLS inside PRELOGIN.
        report
            .detail
            .push_str(" (encryption forced; login not tried)");
        return report;
    }
    let login = Login7 {
        tds_version: TDS_74,
        packet_size: 4096,
        hostname: "fakedc-check".into(),
        username: user.into(),
        password: password.into(),
        app_name: "fakedc check".into(),
        library: "fakedc".into(),
        ..Login7::default()
    };
    let reply = match exchange(&mut s, PacketType::Login7, &login.write()).await {
        Ok(r) => r,
        Err(e) => return ProbeReport::new(ProbeVerdict::WrongProtocol, format!("LOGIN7: {e}")),
    };
    if let Some((n, text)) = first_error(&reply) {
        return ProbeReport::new(ProbeVerdict::AuthFailure, format!("error {n}: {text}"));
    }
    let mut w = Writer::new();
    w.u32_le(22).u32_le(18).u16_le(2).u64_le(0).u32_le(1);
    w.utf16le("SELECT @@VERSION");
    let reply = match exchange(&mut s, PacketType::SqlBatch, w.as_slice()).await {
        Ok(r) => r,
        Err(e) => return ProbeReport::new(ProbeVerdict::WrongProtocol, format!("SQLBatch: {e}")),
    };
    let mut needle = Writer::new();
    needle.utf16le("Microsoft SQL Server");
    let needle = needle.into_vec();
    let Some(at) = reply
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
    else {
        return ProbeReport::new(
            ProbeVerdict::WrongProtocol,
            "SELECT @@VERSION: no version row",
        );
    };
    let rest = reply.get(at..).unwrap_or_default();
    let units: Vec<u16> = rest
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != u16::from(b'\n') && u != 0)
        .take(200)
        .collect();
    let line = String::from_utf16_lossy(&units).trim().to_string();
    report.detail = format!("{line}; logged in as {user}");
    report.facts.push(("@@version", line));
    report
}
