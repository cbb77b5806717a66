//! The client side `check` runs: (NetBIOS session request on 139, then)
//! SMB2 NEGOTIATE, and with credentials SESSION_SETUP over SPNEGO/NTLM and
//! TREE_CONNECT to IPC$.

use crate::nbss;
use crate::proto::{self, cmd, status, Header};
use fakedc_net::{ProbeReport, ProbeVerdict};
use fakedc_ntlm::{spnego, Client};
use fakedc_wire::Reader;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub async fn probe(
    addr: SocketAddr,
    netbios: bool,
    creds: Option<(&str, &str)>,
    timeout: Duration,
) -> ProbeReport {
    match tokio::time::timeout(timeout, run(addr, netbios, creds)).await {
        Ok(r) => r,
        Err(_) => ProbeReport::new(
            ProbeVerdict::Timeout,
            format!("no SMB answer in {timeout:?}"),
        ),
    }
}

async fn recv(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await?;
    let f = nbss::next_frame(&head, 1 << 20)
        .map_err(std::io::Error::other)?
        .ok_or_else(|| std::io::Error::other("short header"))?;
    let mut body = vec![0u8; f.len];
    s.read_exact(&mut body).await?;
    Ok(body)
}

async fn call(s: &mut TcpStream, h: Header, body: &[u8]) -> std::io::Result<(Header, Vec<u8>)> {
    let mut m = Vec::new();
    h.write(&mut m);
    m.extend_from_slice(body);
    s.write_all(&nbss::message_header(m.len())).await?;
    s.write_all(&m).await?;
    let r = recv(s).await?;
    let rh = Header::parse(&mut Reader::new(&r)).map_err(std::io::Error::other)?;
    Ok((rh, r))
}

fn setup_body(token: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&25u16.to_le_bytes());
    b.push(0);
    b.push(1);
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&88u16.to_le_bytes());
    b.extend_from_slice(&(token.len() as u16).to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(token);
    b
}

fn security_buffer(msg: &[u8]) -> Option<Vec<u8>> {
    let r = Reader::new(msg);
    let mut b = r.window(64, msg.len().checked_sub(64)?).ok()?;
    b.skip(4).ok()?;
    let off = usize::from(b.u16_le().ok()?);
    let len = usize::from(b.u16_le().ok()?);
    Some(proto::buffer(&r, off, len).ok()?.to_vec())
}

async fn run(addr: SocketAddr, netbios: bool, creds: Option<(&str, &str)>) -> ProbeReport {
    let mut s = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return ProbeReport::new(ProbeVerdict::Refused, e.to_string()),
    };
    if netbios {
        if s.write_all(&nbss::session_request("*SMBSERVER", "FAKEDC-CHECK"))
            .await
            .is_err()
        {
            return ProbeReport::new(ProbeVerdict::WrongProtocol, "session request not sent");
        }
        let mut r = [0u8; 4];
        if s.read_exact(&mut r).await.is_err() || r[0] != nbss::POSITIVE_RESPONSE {
            return ProbeReport::new(ProbeVerdict::WrongProtocol, "no positive session response");
        }
    }
    let mut neg = Vec::new();
    neg.extend_from_slice(&36u16.to_le_bytes());
    neg.extend_from_slice(&3u16.to_le_bytes());
    neg.extend_from_slice(&1u16.to_le_bytes());
    neg.extend_from_slice(&0u16.to_le_bytes());
    neg.extend_from_slice(&0u32.to_le_bytes());
    neg.extend_from_slice(&[0x42; 16]);
    neg.extend_from_slice(&0u64.to_le_bytes());
    for d in [proto::SMB202, proto::SMB210, proto::SMB300] {
        neg.extend_from_slice(&d.to_le_bytes());
    }
    let mut h = Header {
        command: cmd::NEGOTIATE,
        credits: 31,
        ..Header::default()
    };
    let (rh, r) = match call(&mut s, h, &neg).await {
        Ok(x) => x,
        Err(e) => return ProbeReport::new(ProbeVerdict::WrongProtocol, format!("NEGOTIATE: {e}")),
    };
    let dialect = r
        .get(68..70)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .unwrap_or(0);
    if rh.status != status::SUCCESS || dialect == 0 {
        return ProbeReport::new(ProbeVerdict::WrongProtocol, "NEGOTIATE refused");
    }
    let d = format!(
        "{}.{}.{}",
        dialect >> 8,
        (dialect >> 4) & 0xF,
        dialect & 0xF
    );
    let mut report = ProbeReport::new(ProbeVerdict::Verified, format!("SMB {d}"));
    report.facts.push(("dialect", d));
    let Some((user, password)) = creds else {
        return report;
    };
    let mut client = Client::new(user, "", password);
    h.command = cmd::SESSION_SETUP;
    h.message_id = 1;
    let (rh, r) = match call(&mut s, h, &setup_body(&spnego::init(&client.negotiate()))).await {
        Ok(x) => x,
        Err(e) => {
            return ProbeReport::new(ProbeVerdict::WrongProtocol, format!("SESSION_SETUP: {e}"))
        }
    };
    let challenge = security_buffer(&r)
        .and_then(|t| spnego::parse(&t).ok())
        .and_then(|t| t.token);
    let (Some(challenge), status::MORE_PROCESSING_REQUIRED) = (challenge, rh.status) else {
        return ProbeReport::new(ProbeVerdict::WrongProtocol, "no NTLM challenge");
    };
    let Ok((auth, _)) = client.authenticate(&challenge) else {
        return ProbeReport::new(ProbeVerdict::WrongProtocol, "bad NTLM challenge");
    };
    h.message_id = 2;
    h.session_id = rh.session_id;
    let tok = spnego::response(spnego::ACCEPT_INCOMPLETE, false, Some(&auth), None);
    let (rh, _) = match call(&mut s, h, &setup_body(&tok)).await {
        Ok(x) => x,
        Err(e) => {
            return ProbeReport::new(ProbeVerdict::WrongProtocol, format!("SESSION_SETUP: {e}"))
        }
    };
    if rh.status == status::LOGON_FAILURE {
        return ProbeReport::new(ProbeVerdict::AuthFailure, "STATUS_LOGON_FAILURE");
    }
    if rh.status != status::SUCCESS {
        return ProbeReport::new(
            ProbeVerdict::WrongProtocol,
            format!("SESSION_SETUP {:#010x}", rh.status),
        );
    }
    let path: Vec<u8> = format!("\\\\{}\\IPC$", addr.ip())
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let mut tc = Vec::new();
    tc.extend_from_slice(&9u16.to_le_bytes());
    tc.extend_from_slice(&0u16.to_le_bytes());
    tc.extend_from_slice(&72u16.to_le_bytes());
    tc.extend_from_slice(&(path.len() as u16).to_le_bytes());
    tc.extend_from_slice(&path);
    h.command = cmd::TREE_CONNECT;
    h.message_id = 3;
    match call(&mut s, h, &tc).await {
        Ok((rh, _)) if rh.status == status::SUCCESS => {
            report.detail = format!("{}; {user} logged in, IPC$ connected", report.detail);
            report
        }
        Ok((rh, _)) => ProbeReport::new(
            ProbeVerdict::WrongProtocol,
            format!("TREE_CONNECT IPC$ {:#010x}", rh.status),
        ),
        Err(e) => ProbeReport::new(ProbeVerdict::WrongProtocol, format!("TREE_CONNECT: {e}")),
    }
}

/// The endpoint mapper: bind to EPM v3 with NDR20, then `ept_lookup` of
/// everything; Verified when the bind is accepted and the lookup answers.
pub async fn probe_epm(addr: SocketAddr, timeout: Duration) -> ProbeReport {
    match tokio::time::timeout(timeout, epm(addr)).await {
        Ok(r) => r,
        Err(_) => ProbeReport::new(
            ProbeVerdict::Timeout,
            format!("no RPC answer in {timeout:?}"),
        ),
    }
}

async fn read_pdu(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 16];
    s.read_exact(&mut head).await?;
    let len = usize::from(u16::from_le_bytes([head[8], head[9]])).max(16);
    let mut pdu = head.to_vec();
    pdu.resize(len, 0);
    s.read_exact(&mut pdu[16..]).await?;
    Ok(pdu)
}

async fn epm(addr: SocketAddr) -> ProbeReport {
    use crate::rpc;
    let mut s = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return ProbeReport::new(ProbeVerdict::Refused, e.to_string()),
    };
    let mut bind = vec![5, 0, rpc::BIND, 3, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
    bind.extend_from_slice(&[0xb8, 0x10, 0xb8, 0x10, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0]);
    bind.extend_from_slice(&crate::epm::EPM.0);
    bind.extend_from_slice(&crate::epm::EPM.1.to_le_bytes());
    bind.extend_from_slice(&rpc::NDR20.0);
    bind.extend_from_slice(&rpc::NDR20.1.to_le_bytes());
    let n = bind.len() as u16;
    bind[8..10].copy_from_slice(&n.to_le_bytes());
    if s.write_all(&bind).await.is_err() {
        return ProbeReport::new(ProbeVerdict::WrongProtocol, "bind not sent");
    }
    let ack = match read_pdu(&mut s).await {
        Ok(p) => p,
        Err(e) => return ProbeReport::new(ProbeVerdict::WrongProtocol, format!("bind: {e}")),
    };
    if ack.get(2) != Some(&rpc::BIND_ACK) {
        return ProbeReport::new(ProbeVerdict::WrongProtocol, "no bind_ack");
    }
    let mut stub = Vec::new();
    for v in [0u32, 0, 0, 1] {
        stub.extend_from_slice(&v.to_le_bytes());
    }
    stub.extend_from_slice(&[0; 20]);
    stub.extend_from_slice(&500u32.to_le_bytes());
    let mut req = vec![5, 0, rpc::REQUEST, 3, 0x10, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0];
    req.extend_from_slice(&(stub.len() as u32).to_le_bytes());
    req.extend_from_slice(&[0, 0, 2, 0]);
    req.extend_from_slice(&stub);
    let n = req.len() as u16;
    req[8..10].copy_from_slice(&n.to_le_bytes());
    if s.write_all(&req).await.is_err() {
        return ProbeReport::new(ProbeVerdict::WrongProtocol, "ept_lookup not sent");
    }
    match read_pdu(&mut s).await {
        Ok(p) if p.get(2) == Some(&rpc::RESPONSE) => {
            let count = p
                .get(44..48)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .unwrap_or(0);
            let mut r = ProbeReport::new(
                ProbeVerdict::Verified,
                format!("endpoint mapper: {count} endpoints"),
            );
            r.facts.push(("endpoints", count.to_string()));
            r
        }
        Ok(_) => ProbeReport::new(ProbeVerdict::WrongProtocol, "ept_lookup: no response"),
        Err(e) => ProbeReport::new(ProbeVerdict::WrongProtocol, format!("ept_lookup: {e}")),
    }
}
