//! A net.tcp client (duplex, binary with session dictionary, optionally
//! `application/negotiate`), for `check`, the benchmark and tests: the
//! same preamble and envelope shape as WCF's own client.

use crate::nbfx::{self, Node, Text};
use crate::nmf::{self, Record};
use crate::nns;
use crate::soap::{SOAP12, WSA};
use fakedc_ntlm::Session;
use fakedc_xml::Element;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The server sent a framing fault.
    #[error("framing fault {0}")]
    Framing(String),
    /// NegotiateStream refused the credentials.
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("protocol error: {0}")]
    Protocol(String),
}

pub struct Client {
    s: TcpStream,
    nns: Option<Box<Session>>,
    raw: Vec<u8>,
    plain: Vec<u8>,
    in_session: nbfx::Session,
    via: String,
}

impl Client {
    /// Connects and completes the preamble (with the negotiate upgrade
    /// when `creds` are given).
    pub async fn connect(
        addr: SocketAddr,
        via: &str,
        creds: Option<(&str, &str)>,
    ) -> Result<Client, ClientError> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        let mut c = Client {
            s,
            nns: None,
            raw: Vec::new(),
            plain: Vec::new(),
            in_session: nbfx::Session::default(),
            via: via.to_string(),
        };
        let mut pre = Vec::new();
        for r in [
            Record::Version { major: 1, minor: 0 },
            Record::Mode(nmf::mode::DUPLEX),
            Record::Via(via.to_string()),
            Record::KnownEncoding(nmf::encoding::BINARY_SESSION),
        ] {
            nmf::encode(&r, &mut pre);
        }
        if let Some((user, password)) = creds {
            let (domain, user) = user.split_once('\\').unwrap_or(("", user));
            let mut ini = nns::client::Initiator::new(user, domain, password);
            nmf::encode(
                &Record::UpgradeRequest("application/negotiate".into()),
                &mut pre,
            );
            // As WCF does: the first token follows without waiting for 0A.
            pre.extend_from_slice(&ini.first());
            c.s.write_all(&pre).await?;
            match c.record().await? {
                Record::UpgradeResponse => {}
                Record::Fault(f) => return Err(ClientError::Framing(f)),
                r => return Err(ClientError::Protocol(format!("{r:?}"))),
            }
            let m = c.handshake().await?;
            let ans = ini.answer(&m).map_err(ClientError::Auth)?;
            c.s.write_all(&ans).await?;
            let m = c.handshake().await?;
            if m.id == nns::ERROR {
                return Err(ClientError::Auth(
                    "the server refused the credentials".into(),
                ));
            }
            ini.finish(&m).map_err(ClientError::Auth)?;
            c.nns = ini.session.take();
            let rest = std::mem::take(&mut c.plain);
            c.absorb(&rest)?;
            c.send(&[nmf::rt::PREAMBLE_END]).await?;
        } else {
            pre.push(nmf::rt::PREAMBLE_END);
            c.s.write_all(&pre).await?;
        }
        match c.record().await? {
            Record::PreambleAck => Ok(c),
            Record::Fault(f) => Err(ClientError::Framing(f)),
            r => Err(ClientError::Protocol(format!("{r:?}"))),
        }
    }

    fn absorb(&mut self, got: &[u8]) -> Result<(), ClientError> {
        match self.nns.as_mut() {
            None => self.plain.extend_from_slice(got),
            Some(s) => {
                self.raw.extend_from_slice(got);
                while let Some((f, used)) = nns::decode_frame(&self.raw)
                    .map_err(|e| ClientError::Protocol(e.to_string()))?
                {
                    let p = nns::unseal(s, f).map_err(|e| ClientError::Protocol(e.to_string()))?;
                    self.plain.extend_from_slice(&p);
                    self.raw.drain(..used);
                }
            }
        }
        Ok(())
    }

    async fn read_more(&mut self) -> Result<(), ClientError> {
        let mut b = [0u8; 16 * 1024];
        let n = self.s.read(&mut b).await?;
        if n == 0 {
            return Err(ClientError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        let got = b.get(..n).unwrap_or_default().to_vec();
        self.absorb(&got)
    }

    async fn send(&mut self, b: &[u8]) -> Result<(), ClientError> {
        match self.nns.as_mut() {
            None => self.s.write_all(b).await?,
            Some(s) => {
                let mut out = Vec::new();
                nns::seal(s, b, &mut out);
                self.s.write_all(&out).await?;
            }
        }
        Ok(())
    }

    async fn handshake(&mut self) -> Result<nns::Handshake, ClientError> {
        loop {
            match nns::decode_handshake(&self.plain)
                .map_err(|e| ClientError::Protocol(e.to_string()))?
            {
                Some((m, used)) => {
                    self.plain.drain(..used);
                    return Ok(m);
                }
                None => self.read_more().await?,
            }
        }
    }

    async fn record(&mut self) -> Result<Record, ClientError> {
        let limits = nmf::Limits {
            max_envelope: 16 << 20,
            ..nmf::Limits::default()
        };
        loop {
            match nmf::decode(&self.plain, &limits)
                .map_err(|e| ClientError::Protocol(e.to_string()))?
            {
                Some((r, n)) => {
                    self.plain.drain(..n);
                    return Ok(r);
                }
                None => self.read_more().await?,
            }
        }
    }

    /// Sends one request and returns the reply envelope's root.
    pub async fn call(&mut self, action: &str, body: Option<Node>) -> Result<Element, ClientError> {
        let to = self.via.clone();
        self.call_to(action, body, &to, Vec::new()).await
    }

    /// [`Client::call`] with another `To` and extra header blocks.
    pub async fn call_to(
        &mut self,
        action: &str,
        body: Option<Node>,
        to: &str,
        headers: Vec<Node>,
    ) -> Result<Element, ClientError> {
        let id: [u8; 16] = rand::random();
        let mut b = Node::new("s", "Body");
        if let Some(n) = body {
            b = b.child(n);
        }
        let env = Node::new("s", "Envelope")
            .ns("s", SOAP12)
            .ns("a", WSA)
            .child(
                Node::new("s", "Header")
                    .child(
                        Node::new("a", "Action")
                            .attr("s", "mustUnderstand", "1")
                            .str(action),
                    )
                    .child(Node::new("a", "MessageID").text(Text::UniqueId(id)))
                    .child(
                        Node::new("a", "ReplyTo").child(
                            Node::new("a", "Address")
                                .str("http://www.w3.org/2005/08/addressing/anonymous"),
                        ),
                    )
                    .child(
                        Node::new("a", "To")
                            .attr("s", "mustUnderstand", "1")
                            .str(to),
                    ),
            )
            .child(b);
        let mut env = env;
        if let Some(h) = env.children.first_mut() {
            h.children.extend(headers);
        }
        let mut payload = vec![0u8];
        env.to_nbfx(&mut payload);
        let mut out = Vec::new();
        nmf::encode(&Record::SizedEnvelope(payload), &mut out);
        self.send(&out).await?;
        match self.record().await? {
            Record::SizedEnvelope(m) => {
                let l = nbfx::Limits::default();
                let rest = self
                    .in_session
                    .read_table(&m, &l)
                    .map_err(|e| ClientError::Protocol(e.to_string()))?;
                nbfx::read(rest, &self.in_session, &l)
                    .map_err(|e| ClientError::Protocol(e.to_string()))
            }
            Record::Fault(f) => Err(ClientError::Framing(f)),
            r => Err(ClientError::Protocol(format!("{r:?}"))),
        }
    }

    /// Ends the session: End, then the write side closed, then the
    /// peer's End or close awaited for at most two seconds (Mono's server
    /// answers End by closing only once the client has closed its side).
    pub async fn close(mut self) -> Result<(), ClientError> {
        self.send(&[nmf::rt::END]).await?;
        let _ = self.s.shutdown().await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.record()).await;
        Ok(())
    }
}

/// The body payload of a reply envelope (`None` for an empty Body).
pub fn payload(env: &Element) -> Option<&Element> {
    env.children
        .iter()
        .find(|c| c.name == "Body")
        .and_then(|b| b.children.first())
}
