//! The RMCP+ (IPMI v2.0) session header and integrity trailer (Table 13-8):
//! `06 | ptype | [OEM IANA(4) + OEM payload ID(2)] | session id(4) | session seq(4) |
//! payload len(2) | payload | [FFh pad | pad len | next header 07h | AuthCode]`.
//!
//! The AuthCode length depends on the session's integrity algorithm, which the codec
//! cannot know, so parsing is two-step: [`RmcpPlusPacket::parse`] validates the header
//! and payload length, and [`RmcpPlusPacket::integrity`] splits the trailer once the
//! caller knows how long the AuthCode must be.

use super::reader::Reader;
use super::{AuthType, Error, PayloadKind, Result, RmcpHeader};

/// The "next header" byte that ends the integrity pad (§13.28.4): always 07h.
pub const NEXT_HEADER: u8 = 0x07;

/// The payload-type byte: encryption and authentication flags plus the payload kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadType {
    /// Bit 7: the payload is encrypted.
    pub encrypted: bool,
    /// Bit 6: the packet carries an integrity trailer.
    pub authenticated: bool,
    /// Bits 5:0.
    pub kind: PayloadKind,
}

impl PayloadType {
    /// A clear, unauthenticated payload of `kind` (pre-session and handshake packets).
    pub fn plain(kind: PayloadKind) -> Self {
        Self {
            encrypted: false,
            authenticated: false,
            kind,
        }
    }
}

impl From<u8> for PayloadType {
    fn from(value: u8) -> Self {
        Self {
            encrypted: value & 0x80 != 0,
            authenticated: value & 0x40 != 0,
            kind: PayloadKind::from(value & 0x3F),
        }
    }
}

impl From<PayloadType> for u8 {
    fn from(value: PayloadType) -> u8 {
        (u8::from(value.kind) & 0x3F)
            | if value.encrypted { 0x80 } else { 0 }
            | if value.authenticated { 0x40 } else { 0 }
    }
}

/// OEM payload identification, present when the payload kind is OEM explicit (02h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OemPayload {
    /// OEM IANA enterprise number (4 bytes, little-endian, top byte reserved).
    pub iana: u32,
    /// OEM payload ID.
    pub payload_id: u16,
}

/// The RMCP+ session header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RmcpPlusHeader {
    /// Payload type byte.
    pub payload_type: PayloadType,
    /// OEM fields, present exactly when `payload_type.kind` is [`PayloadKind::Oem`].
    pub oem: Option<OemPayload>,
    /// The *receiver's* session ID (0 before a session exists).
    pub session_id: u32,
    /// Session sequence number (0 outside a session).
    pub session_seq: u32,
    /// Payload length in bytes (the encrypted length when encrypted).
    pub payload_len: u16,
}

impl RmcpPlusHeader {
    /// Encoded length (without the RMCP header).
    pub fn buffer_len(&self) -> usize {
        12 + if self.oem.is_some() { 6 } else { 0 }
    }

    /// Appends the session header (no RMCP header). An OEM kind without OEM fields
    /// gets zeros, so the length always matches what [`RmcpPlusPacket::parse`] expects.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(u8::from(AuthType::RmcpPlus));
        out.push(u8::from(self.payload_type));
        if self.payload_type.kind == PayloadKind::Oem {
            let oem = self.oem.unwrap_or(OemPayload {
                iana: 0,
                payload_id: 0,
            });
            out.extend_from_slice(&oem.iana.to_le_bytes());
            out.extend_from_slice(&oem.payload_id.to_le_bytes());
        }
        out.extend_from_slice(&self.session_id.to_le_bytes());
        out.extend_from_slice(&self.session_seq.to_le_bytes());
        out.extend_from_slice(&self.payload_len.to_le_bytes());
    }
}

/// A parsed RMCP+ packet whose trailer has not yet been interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RmcpPlusPacket<'a> {
    /// Session header.
    pub header: RmcpPlusHeader,
    /// The payload as sent (ciphertext with IV when encrypted).
    pub payload: &'a [u8],
    /// Everything after the payload: empty unless authenticated.
    pub trailer: &'a [u8],
    /// The packet from the authentication-type byte to the end (what the AuthCode covers a prefix of).
    raw: &'a [u8],
}

/// The integrity trailer, split for a known AuthCode length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntegrityTrailer<'a> {
    /// Number of FFh pad bytes.
    pub pad_len: u8,
    /// The AuthCode as received.
    pub auth_code: &'a [u8],
    /// The bytes the AuthCode is computed over: authentication type through next header.
    pub signed: &'a [u8],
}

/// Pad bytes needed so that `unpadded` (authtype .. payload, plus pad-length and
/// next-header bytes) becomes a multiple of 4, as §13.28.4 requires.
pub fn integrity_pad_len(session_header_and_payload: usize) -> usize {
    (4 - (session_header_and_payload + 2) % 4) % 4
}

impl<'a> RmcpPlusPacket<'a> {
    /// Parses the bytes after the RMCP header. The payload length must fit; trailing
    /// bytes are allowed only when the authenticated bit announces a trailer.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(buf, "RMCP+ session header");
        if AuthType::from(r.u8()?) != AuthType::RmcpPlus {
            return Err(Error::Malformed("RMCP+ authentication type"));
        }
        let payload_type = PayloadType::from(r.u8()?);
        let oem = if payload_type.kind == PayloadKind::Oem {
            Some(OemPayload {
                iana: r.u32_le()?,
                payload_id: r.u16_le()?,
            })
        } else {
            None
        };
        let session_id = r.u32_le()?;
        let session_seq = r.u32_le()?;
        let payload_len = r.u16_le()?;
        let payload = r.bytes(usize::from(payload_len))?;
        let trailer = r.rest();
        if !payload_type.authenticated && !trailer.is_empty() {
            return Err(Error::Trailing {
                what: "unauthenticated RMCP+ payload",
                extra: trailer.len(),
            });
        }
        if payload_type.authenticated && trailer.len() < 2 {
            return Err(Error::Truncated {
                what: "RMCP+ integrity trailer",
                need: buf.len() - trailer.len() + 2,
                have: buf.len(),
            });
        }
        Ok(Self {
            header: RmcpPlusHeader {
                payload_type,
                oem,
                session_id,
                session_seq,
                payload_len,
            },
            payload,
            trailer,
            raw: buf,
        })
    }

    /// Splits the trailer for an AuthCode of `auth_code_len` bytes and checks its
    /// framing: at most 3 pad bytes, all FFh, the pad-length byte agreeing, and the
    /// next-header byte 07h.
    pub fn integrity(&self, auth_code_len: usize) -> Result<IntegrityTrailer<'a>> {
        let need = auth_code_len + 2;
        let t = self.trailer;
        if t.len() < need {
            return Err(Error::Truncated {
                what: "RMCP+ integrity trailer",
                need,
                have: t.len(),
            });
        }
        let pad = t.len() - need;
        let (pad_bytes, rest) = t.split_at(pad);
        let (fixed, auth_code) = rest.split_at(2);
        if pad > 3 || pad_bytes.iter().any(|b| *b != 0xFF) {
            return Err(Error::Malformed("RMCP+ integrity pad"));
        }
        match fixed {
            [len, next] if usize::from(*len) == pad && *next == NEXT_HEADER => {}
            _ => return Err(Error::Malformed("RMCP+ pad length or next header")),
        }
        let signed_len = self.raw.len() - auth_code_len;
        let signed = self
            .raw
            .get(..signed_len)
            .ok_or(Error::Malformed("RMCP+ integrity trailer"))?;
        Ok(IntegrityTrailer {
            pad_len: pad as u8,
            auth_code,
            signed,
        })
    }

    /// Appends a whole datagram (RMCP header, session header with `payload_len` set
    /// from `payload`, payload) without a trailer. Used for pre-session, handshake and
    /// unauthenticated packets; authenticated ones are built by
    /// [`crate::crypto::SessionKeys::seal`].
    pub fn emit_plain(
        payload_type: PayloadType,
        oem: Option<OemPayload>,
        session_id: u32,
        session_seq: u32,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let payload_len =
            u16::try_from(payload.len()).map_err(|_| Error::Malformed("RMCP+ payload length"))?;
        RmcpHeader::ipmi().emit(out);
        RmcpPlusHeader {
            payload_type,
            oem,
            session_id,
            session_seq,
            payload_len,
        }
        .emit(out);
        out.extend_from_slice(payload);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::hex;

    #[test]
    fn encrypted_request_splits() {
        // Set Session Privilege from ipmitool -C 3 (tests/captures/lanplus_c3.txt).
        let d = hex("0600ff0706c002030000030000002000c0e36ff65d4a57d4aa1c17613bb7e2afbadcfa68927113c18a1e4e9de773721cffff02079f7e2c17222e186adc30f80b");
        let p = RmcpPlusPacket::parse(&d[4..]).expect("parses");
        assert!(p.header.payload_type.encrypted && p.header.payload_type.authenticated);
        assert_eq!(p.header.payload_type.kind, PayloadKind::Ipmi);
        assert_eq!(p.header.session_id, 0x0302);
        assert_eq!(p.header.session_seq, 3);
        assert_eq!(p.payload.len(), 32);
        let t = p.integrity(12).expect("trailer");
        assert_eq!(t.pad_len, 2);
        assert_eq!(t.signed.len(), 12 + 32 + 4);
        assert_eq!(t.auth_code, &d[d.len() - 12..]);
        // Wrong AuthCode length: the framing no longer lines up.
        assert!(p.integrity(16).is_err());
        // Header re-emits identically.
        let mut out = Vec::new();
        RmcpHeader::ipmi().emit(&mut out);
        p.header.emit(&mut out);
        assert_eq!(out, &d[..16]);
    }

    #[test]
    fn oem_header_round_trip() {
        let h = RmcpPlusHeader {
            payload_type: PayloadType::plain(PayloadKind::Oem),
            oem: Some(OemPayload {
                iana: 0x0001_2345,
                payload_id: 7,
            }),
            session_id: 9,
            session_seq: 1,
            payload_len: 1,
        };
        let mut out = Vec::new();
        h.emit(&mut out);
        out.push(0xAA);
        assert_eq!(out.len(), h.buffer_len() + 1);
        let p = RmcpPlusPacket::parse(&out).expect("parses");
        assert_eq!(p.header, h);
        assert_eq!(p.payload, [0xAA]);
    }

    #[test]
    fn length_and_trailer_checks() {
        let d = hex("06000000000000000000000a00");
        assert!(matches!(
            RmcpPlusPacket::parse(&d),
            Err(Error::Truncated { .. })
        ));
        let d = hex("0600000000000000000000000055");
        assert!(matches!(
            RmcpPlusPacket::parse(&d),
            Err(Error::Trailing { .. })
        ));
        let d = hex("064000000000000000000000");
        assert!(matches!(
            RmcpPlusPacket::parse(&d),
            Err(Error::Truncated { .. })
        ));
        assert_eq!(integrity_pad_len(12 + 8), 2);
        assert_eq!(integrity_pad_len(12 + 9), 1);
        assert_eq!(integrity_pad_len(12 + 10), 0);
        assert_eq!(integrity_pad_len(12 + 11), 3);
    }
}
