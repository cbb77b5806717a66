//! PRELOGIN (MS-TDS 2.2.6.5): the option table, SQL Server's answer and the
//! encryption decision (MS-TDS 2.2.6.5 ENCRYPTION, the table in
//! `design/protocols/tds.md` §2).

use crate::TdsError;
use fakedc_wire::{Reader, Writer};

pub const OPT_VERSION: u8 = 0x00;
pub const OPT_ENCRYPTION: u8 = 0x01;
pub const OPT_INSTOPT: u8 = 0x02;
pub const OPT_THREADID: u8 = 0x03;
pub const OPT_MARS: u8 = 0x04;
pub const OPT_TRACEID: u8 = 0x05;
pub const OPT_FEDAUTHREQUIRED: u8 = 0x06;
pub const OPT_NONCE: u8 = 0x07;
const OPT_TERMINATOR: u8 = 0xFF;
/// More options than MS-TDS defines, with room for newer ones.
const MAX_OPTIONS: usize = 32;

pub const ENCRYPT_OFF: u8 = 0x00;
pub const ENCRYPT_ON: u8 = 0x01;
pub const ENCRYPT_NOT_SUP: u8 = 0x02;
pub const ENCRYPT_REQ: u8 = 0x03;

/// SQL Server 2019 RTM: 15.0.2000.0.
pub const SERVER_VERSION: [u8; 6] = [0x0F, 0x00, 0x07, 0xD0, 0x00, 0x00];

/// A PRELOGIN message's options, in the order they came.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreLogin {
    pub options: Vec<(u8, Vec<u8>)>,
}

impl PreLogin {
    pub fn parse(payload: &[u8]) -> Result<PreLogin, TdsError> {
        let whole = Reader::new(payload);
        let mut r = Reader::new(payload);
        let mut options = Vec::new();
        loop {
            let token = r.u8()?;
            if token == OPT_TERMINATOR {
                break;
            }
            if options.len() >= MAX_OPTIONS {
                return Err(TdsError::Protocol("too many PRELOGIN options".into()));
            }
            let offset = usize::from(r.u16_be()?);
            let len = usize::from(r.u16_be()?);
            let data = whole.window(offset, len)?.rest().to_vec();
            options.push((token, data));
        }
        Ok(PreLogin { options })
    }

    pub fn option(&self, token: u8) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|(t, _)| *t == token)
            .map(|(_, d)| d.as_slice())
    }

    /// The client's ENCRYPTION byte.
    pub fn encryption(&self) -> Option<u8> {
        self.option(OPT_ENCRYPTION).and_then(|d| d.first().copied())
    }

    pub fn write(&self) -> Vec<u8> {
        let mut w = Writer::new();
        let table_len = self.options.len() * 5 + 1;
        let mut offset = table_len;
        for (token, data) in &self.options {
            w.u8(*token).u16_be(offset as u16).u16_be(data.len() as u16);
            offset += data.len();
        }
        w.u8(OPT_TERMINATOR);
        for (_, data) in &self.options {
            w.bytes(data);
        }
        w.into_vec()
    }
}

/// What the connection does after PRELOGIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// No TLS at all.
    None,
    /// TLS for the LOGIN7 message only, then clear again.
    LoginOnly,
    /// TLS for the rest of the connection.
    Full,
    /// The client cannot encrypt and the server insists: close.
    Refuse,
}

/// SQL Server's ENCRYPTION answer and what follows, for the client's
/// value and the server's force-encryption setting.
pub fn negotiate(client: Option<u8>, force: bool) -> (u8, Encryption) {
    // 0x80 asks for client-certificate authentication, which no one uses
    // against SQL Server; the low bits decide.
    match (client.map(|c| c & 0x7F), force) {
        (Some(ENCRYPT_ON) | Some(ENCRYPT_REQ), _) => (ENCRYPT_ON, Encryption::Full),
        (Some(ENCRYPT_NOT_SUP), false) => (ENCRYPT_NOT_SUP, Encryption::None),
        (Some(ENCRYPT_NOT_SUP), true) => (ENCRYPT_REQ, Encryption::Refuse),
        (_, false) => (ENCRYPT_OFF, Encryption::LoginOnly),
        (_, true) => (ENCRYPT_REQ, Encryption::Full),
    }
}

/// SQL Server's answer: only options the client sent (VERSION always),
/// in SQL Server's order; nmap's fingerprint depends on exactly this.
pub fn reply(req: &PreLogin, encryption: u8) -> PreLogin {
    let mut options = vec![(OPT_VERSION, SERVER_VERSION.to_vec())];
    options.push((OPT_ENCRYPTION, vec![encryption]));
    if req.option(OPT_INSTOPT).is_some() {
        options.push((OPT_INSTOPT, vec![0]));
    }
    if req.option(OPT_THREADID).is_some() {
        options.push((OPT_THREADID, Vec::new()));
    }
    if req.option(OPT_MARS).is_some() {
        options.push((OPT_MARS, vec![0]));
    }
    PreLogin { options }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// nmap's ms-sql-s probe and the exact 0x25-byte answer its
    /// "Microsoft SQL Server 2019" fingerprint needs (tds.md §10).
    #[test]
    fn nmap_probe_gets_the_fingerprinted_reply() {
        let req = PreLogin {
            options: vec![
                (OPT_VERSION, vec![9, 0, 0, 0, 0, 0]),
                (OPT_ENCRYPTION, vec![0]),
                (OPT_INSTOPT, b"MSSQLServer\0".to_vec()),
                (OPT_THREADID, vec![0, 0, 0x04, 0xD2]),
            ],
        };
        let parsed = PreLogin::parse(&req.write()).expect("parses");
        assert_eq!(parsed, req);
        let (enc, mode) = negotiate(parsed.encryption(), false);
        assert_eq!(mode, Encryption::LoginOnly);
        let body = reply(&parsed, enc).write();
        let wire =
            crate::packet::packetize(crate::packet::PacketType::TabularResult, &body, 4096, 0);
        let expected: &[u8] = &[
            0x04, 0x01, 0x00, 0x25, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x15, 0x00, 0x06, 0x01,
            0x00, 0x1B, 0x00, 0x01, 0x02, 0x00, 0x1C, 0x00, 0x01, 0x03, 0x00, 0x1D, 0x00, 0x00,
            0xFF, 0x0F, 0x00, 0x07, 0xD0, 0x00, 0x00, 0x00, 0x00,
        ];
        assert_eq!(wire, expected);
    }

    #[test]
    fn encryption_table() {
        assert_eq!(negotiate(Some(0), false), (0, Encryption::LoginOnly));
        assert_eq!(negotiate(Some(0), true), (3, Encryption::Full));
        assert_eq!(negotiate(Some(1), false), (1, Encryption::Full));
        assert_eq!(negotiate(Some(2), false), (2, Encryption::None));
        assert_eq!(negotiate(Some(2), true), (3, Encryption::Refuse));
        assert_eq!(negotiate(Some(3), false), (1, Encryption::Full));
    }

    #[test]
    fn offsets_outside_the_message_are_refused() {
        assert!(PreLogin::parse(&[0x00, 0x00, 0x50, 0x00, 0x06, 0xFF]).is_err());
        assert!(PreLogin::parse(&[0x00, 0x00]).is_err());
        assert!(PreLogin::parse(&[]).is_err());
    }
}
