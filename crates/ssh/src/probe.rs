//! The client side, for `fakedc check` (and tests): read the server's
//! identification line, complete a key exchange and report the host key's
//! fingerprint; with credentials, log in and run the endpoint's own
//! operation (an SFTP directory listing on ESX, `uname -a` on ESXi, `show
//! /system1` on a BMC). Only a completed key exchange is "verified": an SSH
//! banner alone proves nothing about the rest.
//!
//! Works against real hosts too: nothing here knows about fakedc.

use crate::hostkey::fingerprint;
use fakedc_model::ServiceKind;
use russh::client;
use russh::keys::PublicKeyOrCertificate;
use russh::ChannelMsg;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Shared with every other probe (see `fakedc_net::protocol`). Facts:
/// `server-id` (the identification line) and `host-key`
/// (`ssh-ed25519 SHA256:...`).
pub use fakedc_net::{ProbeReport, ProbeVerdict};

/// Longest identification line read (RFC 4253: 255 bytes).
const MAX_ID_LINE: usize = 255;
/// Lines a server may send before its identification (RFC 4253 §4.2).
const MAX_PRE_LINES: usize = 8;
/// Output kept from the probe's command.
const MAX_OUTPUT: usize = 64 * 1024;

/// Probes an SSH endpoint; `timeout` bounds each stage (connect, banner,
/// key exchange, login and operation).
pub async fn probe(
    addr: SocketAddr,
    kind: ServiceKind,
    creds: Option<(&str, &str)>,
    timeout: Duration,
) -> ProbeReport {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => {
            return ProbeReport::new(
                ProbeVerdict::Timeout,
                format!("no TCP answer within {timeout:?}"),
            )
        }
        Ok(Err(e)) => return ProbeReport::new(ProbeVerdict::Refused, e.to_string()),
        Ok(Ok(s)) => s,
    };
    let _ = stream.set_nodelay(true);
    let (prefix, server_id, stream) = match tokio::time::timeout(timeout, read_banner(stream)).await
    {
        Err(_) => return ProbeReport::new(ProbeVerdict::Timeout, "no SSH identification"),
        Ok(Err(detail)) => return ProbeReport::new(ProbeVerdict::WrongProtocol, detail),
        Ok(Ok(x)) => x,
    };
    let host_key = Arc::new(Mutex::new(None::<String>));
    let config = Arc::new(client::Config {
        inactivity_timeout: Some(timeout.max(Duration::from_secs(1)) * 4),
        ..Default::default()
    });
    let handler = ProbeClient {
        host_key: host_key.clone(),
    };
    let rewound = Rewind {
        prefix,
        pos: 0,
        inner: stream,
    };
    let mut report = ProbeReport::new(ProbeVerdict::Verified, String::new());
    report.facts.push(("server-id", server_id.clone()));
    let session =
        match tokio::time::timeout(timeout, client::connect_stream(config, rewound, handler)).await
        {
            Err(_) => {
                report.verdict = ProbeVerdict::Timeout;
                report.detail = format!("{server_id}, key exchange timed out");
                return report;
            }
            Ok(Err(e)) => {
                report.verdict = ProbeVerdict::WrongProtocol;
                report.detail = format!("{server_id}, key exchange failed: {e}");
                return report;
            }
            Ok(Ok(s)) => s,
        };
    let key = host_key
        .lock()
        .map(|k| k.clone())
        .unwrap_or_default()
        .unwrap_or_else(|| "unknown host key".into());
    report.facts.push(("host-key", key.clone()));
    report.detail = format!("{server_id}, {key}");
    if let Some((user, password)) = creds {
        match tokio::time::timeout(timeout, login_and_operate(session, kind, user, password)).await
        {
            Err(_) => {
                report.verdict = ProbeVerdict::Timeout;
                report.detail.push_str(", login or operation timed out");
            }
            Ok(Err((verdict, detail))) => {
                report.verdict = verdict;
                report.detail.push_str(&format!(", {detail}"));
            }
            Ok(Ok(detail)) => report.detail.push_str(&format!(", {detail}")),
        }
    } else {
        let _ = session
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
    report
}

/// Reads up to and including the `SSH-` line; returns the bytes read (to
/// replay to russh), the line, and the stream.
async fn read_banner(mut s: TcpStream) -> Result<(Vec<u8>, String, TcpStream), String> {
    let mut all = Vec::new();
    for _ in 0..=MAX_PRE_LINES {
        let mut line = Vec::new();
        loop {
            let mut b = [0u8; 1];
            match s.read(&mut b).await {
                Ok(0) => {
                    return Err(if all.is_empty() && line.is_empty() {
                        "connection closed without a banner".into()
                    } else {
                        format!("not SSH: {}", printable(&[&all[..], &line[..]].concat()))
                    })
                }
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
            line.push(b[0]);
            if b[0] == b'\n' {
                break;
            }
            if line.len() > MAX_ID_LINE {
                return Err(format!("not SSH: {}", printable(&line)));
            }
        }
        all.extend_from_slice(&line);
        if line.starts_with(b"SSH-") {
            let id = String::from_utf8_lossy(&line).trim_end().to_string();
            if !id.starts_with("SSH-2.0-") && !id.starts_with("SSH-1.99-") {
                return Err(format!("unsupported SSH version: {id}"));
            }
            return Ok((all, id, s));
        }
    }
    Err(format!("not SSH: {}", printable(&all)))
}

fn printable(b: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(b)
        .chars()
        .take(60)
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    format!("'{s}'")
}

async fn login_and_operate(
    mut session: client::Handle<ProbeClient>,
    kind: ServiceKind,
    user: &str,
    password: &str,
) -> Result<String, (ProbeVerdict, String)> {
    let proto = |e: russh::Error| (ProbeVerdict::WrongProtocol, e.to_string());
    let mut ok = session
        .authenticate_password(user, password)
        .await
        .map_err(proto)?
        .success();
    if !ok {
        // ESXi-like servers may offer only keyboard-interactive.
        let mut r = session
            .authenticate_keyboard_interactive_start(user, None)
            .await
            .map_err(proto)?;
        for _ in 0..3 {
            match r {
                client::KeyboardInteractiveAuthResponse::Success => {
                    ok = true;
                    break;
                }
                client::KeyboardInteractiveAuthResponse::Failure { .. } => break,
                client::KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                    let answers = prompts.iter().map(|_| password.to_string()).collect();
                    r = session
                        .authenticate_keyboard_interactive_respond(answers)
                        .await
                        .map_err(proto)?;
                }
            }
        }
    }
    if !ok {
        return Err((
            ProbeVerdict::AuthFailure,
            format!("login as '{user}' refused"),
        ));
    }
    let result = match kind {
        ServiceKind::Sftp => sftp_ls(&session).await,
        ServiceKind::BmcSsh => {
            let (out, _) = run(&session, "show /system1").await?;
            if out.contains("status=0") {
                Ok("logged in, CLP 'show /system1' completed".to_string())
            } else {
                Err((
                    ProbeVerdict::WrongProtocol,
                    format!("CLP answer without status=0: {}", printable(out.as_bytes())),
                ))
            }
        }
        _ => {
            let (out, code) = run(&session, "uname -a").await?;
            if code == Some(0) {
                Ok(format!("logged in, uname: {}", out.trim()))
            } else {
                Err((
                    ProbeVerdict::WrongProtocol,
                    format!("'uname -a' exited with {code:?}"),
                ))
            }
        }
    };
    let _ = session
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    result
}

async fn sftp_ls(session: &client::Handle<ProbeClient>) -> Result<String, (ProbeVerdict, String)> {
    let proto = |e: String| (ProbeVerdict::WrongProtocol, e);
    let ch = session
        .channel_open_session()
        .await
        .map_err(|e| proto(e.to_string()))?;
    ch.request_subsystem(true, "sftp")
        .await
        .map_err(|e| proto(e.to_string()))?;
    let sftp = russh_sftp::client::SftpSession::new(ch.into_stream())
        .await
        .map_err(|e| proto(format!("SFTP: {e}")))?;
    let home = sftp
        .canonicalize(".")
        .await
        .map_err(|e| proto(format!("SFTP realpath: {e}")))?;
    let n = sftp
        .read_dir(home.clone())
        .await
        .map_err(|e| proto(format!("SFTP ls {home}: {e}")))?
        .count();
    let _ = sftp.close().await;
    Ok(format!("logged in, SFTP ls {home}: {n} entries"))
}

/// Runs a command; returns its output and exit status.
pub async fn run<H: client::Handler>(
    session: &client::Handle<H>,
    command: &str,
) -> Result<(String, Option<u32>), (ProbeVerdict, String)> {
    let proto = |e: russh::Error| (ProbeVerdict::WrongProtocol, e.to_string());
    let mut ch = session.channel_open_session().await.map_err(proto)?;
    ch.exec(true, command).await.map_err(proto)?;
    let mut out = Vec::new();
    let mut code = None;
    while let Some(msg) = ch.wait().await {
        match msg {
            ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. }
                if out.len() < MAX_OUTPUT =>
            {
                out.extend_from_slice(&data);
            }
            ChannelMsg::ExitStatus { exit_status } => code = Some(exit_status),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    Ok((String::from_utf8_lossy(&out).into_owned(), code))
}

/// Records the server's host key; the check reports keys, it does not
/// judge trust.
struct ProbeClient {
    host_key: Arc<Mutex<Option<String>>>,
}

impl client::Handler for ProbeClient {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let text = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                format!("{} {}", key.algorithm().as_str(), fingerprint(key))
            }
            PublicKeyOrCertificate::Certificate(c) => {
                format!("certificate {}", c.algorithm().as_str())
            }
        };
        if let Ok(mut k) = self.host_key.lock() {
            *k = Some(text);
        }
        Ok(true)
    }
}

/// A stream that first replays bytes already read from it.
struct Rewind {
    prefix: Vec<u8>,
    pos: usize,
    inner: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.pos < self.prefix.len() {
            let rest = &self.prefix[self.pos..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            self.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
