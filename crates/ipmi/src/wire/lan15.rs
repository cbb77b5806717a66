//! The IPMI 1.5 session wrapper (Table 13-8), used for pre-session traffic such as
//! Get Channel Authentication Capabilities and for whole `ipmitool -I lan` sessions:
//! `authtype | session seq(4) | session id(4) | [authcode(16) if authtype != 0] | msg len | message`.

use super::reader::Reader;
use super::{AuthType, Error, Result, RmcpHeader};

/// Length of the IPMI 1.5 authcode field.
pub const AUTH_CODE_LEN: usize = 16;

/// The session fields of an IPMI 1.5 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lan15Header {
    /// Authentication type of this packet; [`AuthType::None`] means no authcode field.
    pub auth_type: AuthType,
    /// Session sequence number (0 outside a session).
    pub session_seq: u32,
    /// Session ID (0 outside a session; the temporary ID during Activate Session).
    pub session_id: u32,
    /// The 16-byte authcode, present exactly when `auth_type` is not `None`.
    pub auth_code: Option<[u8; AUTH_CODE_LEN]>,
}

/// An IPMI 1.5 packet: session header plus the raw IPMI message bytes.
///
/// The message stays raw because the MD5 authcode covers its exact bytes; parse it
/// with [`super::IpmiMessage::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lan15Packet<'a> {
    /// Session fields.
    pub header: Lan15Header,
    /// The IPMI message (`msg len` bytes, rsAddr through chk2).
    pub message: &'a [u8],
}

impl<'a> Lan15Packet<'a> {
    /// Parses the bytes after the RMCP header.
    ///
    /// The message-length byte must fit within the datagram. One trailing zero byte is
    /// tolerated: IPMI 1.5 senders may append a "legacy pad" byte so that certain
    /// total lengths are avoided on the wire (§13.6); anything else after the message
    /// is refused.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(buf, "IPMI 1.5 session header");
        let auth_type = AuthType::from(r.u8()?);
        let session_seq = r.u32_le()?;
        let session_id = r.u32_le()?;
        let auth_code = match auth_type {
            AuthType::None => None,
            _ => Some(r.array::<AUTH_CODE_LEN>()?),
        };
        let len = r.u8()?;
        let message = r.bytes(usize::from(len))?;
        match r.rest() {
            [] | [0x00] => {}
            extra => {
                return Err(Error::Trailing {
                    what: "IPMI 1.5 message",
                    extra: extra.len(),
                })
            }
        }
        Ok(Self {
            header: Lan15Header {
                auth_type,
                session_seq,
                session_id,
                auth_code,
            },
            message,
        })
    }

    /// Appends a whole datagram (RMCP header included).
    ///
    /// The authcode field is written when `auth_type` is not `None` (zeros if the
    /// header carries none); messages over 255 bytes do not fit the length byte.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        let len = u8::try_from(self.message.len())
            .map_err(|_| Error::Malformed("IPMI 1.5 message length"))?;
        RmcpHeader::ipmi().emit(out);
        let h = &self.header;
        out.push(u8::from(h.auth_type));
        out.extend_from_slice(&h.session_seq.to_le_bytes());
        out.extend_from_slice(&h.session_id.to_le_bytes());
        if h.auth_type != AuthType::None {
            out.extend_from_slice(&h.auth_code.unwrap_or([0; AUTH_CODE_LEN]));
        }
        out.push(len);
        out.extend_from_slice(self.message);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::hex;

    #[test]
    fn presession_round_trip() {
        // Get Channel Auth Capabilities from ipmitool (tests/captures/lan_md5.txt).
        let d = hex("0600ff07000000000000000000092018c88104380e0431");
        let p = Lan15Packet::parse(&d[4..]).expect("parses");
        assert_eq!(p.header.auth_type, AuthType::None);
        assert_eq!(p.header.session_id, 0);
        assert_eq!(p.message.len(), 9);
        let mut out = Vec::new();
        p.emit(&mut out).expect("emit");
        assert_eq!(out, d);
    }

    #[test]
    fn authenticated_round_trip() {
        let d = hex("0600ff0702d298dca3820300004cd9de2708e5c87f5b24d67271670887082018c881103b0430");
        let p = Lan15Packet::parse(&d[4..]).expect("parses");
        assert_eq!(p.header.auth_type, AuthType::Md5);
        assert_eq!(p.header.session_seq, 0xa3dc98d2);
        assert_eq!(p.header.session_id, 0x382);
        let mut out = Vec::new();
        p.emit(&mut out).expect("emit");
        assert_eq!(out, d);
    }

    #[test]
    fn length_checks() {
        let d = hex("000000000000000000092018c88104380e04");
        assert!(matches!(
            Lan15Packet::parse(&d),
            Err(Error::Truncated { .. })
        ));
        let d = hex("000000000000000000012000");
        assert!(Lan15Packet::parse(&d).is_ok());
        let d = hex("00000000000000000001200001");
        assert!(matches!(
            Lan15Packet::parse(&d),
            Err(Error::Trailing { .. })
        ));
        assert!(Lan15Packet::parse(&hex("02000000000000000000")).is_err());
    }
}
