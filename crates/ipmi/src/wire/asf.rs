//! ASF messages carried in RMCP class 06h (§13.2.3, ASF 2.0 §3.2.4): the presence
//! ping that `ipmitool -I lan` and discovery tools send, and our pong.

use super::reader::Reader;
use super::{AsfType, Error, Result, RmcpHeader};

/// The ASF IANA enterprise number (4542), sent big-endian in ASF messages.
pub const ASF_IANA: u32 = 4542;

/// Pong data byte 8: bit 7 = IPMI supported, bits 3:0 = ASF version 1.0.
const SUPPORTED_ENTITIES_IPMI: u8 = 0x81;

/// An ASF message: `IANA(4, BE) | type | tag | reserved | data length | data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsfMessage<'a> {
    /// Enterprise number (4542 for standard ASF messages).
    pub iana: u32,
    /// Message type.
    pub message_type: AsfType,
    /// Message tag; a pong echoes the ping's tag so the sender can match them.
    pub tag: u8,
    /// Message data (`data length` bytes).
    pub data: &'a [u8],
}

impl<'a> AsfMessage<'a> {
    /// Fixed part before the data.
    pub const HEADER_LEN: usize = 8;

    /// Parses the ASF body (the bytes after the RMCP header). The data-length byte
    /// must fit in the datagram; bytes after the data are refused.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(buf, "ASF message");
        let iana = r.u32_be()?;
        let message_type = AsfType::from(r.u8()?);
        let tag = r.u8()?;
        let _reserved = r.u8()?;
        let len = r.u8()?;
        let data = r.bytes(usize::from(len))?;
        r.finish()?;
        Ok(Self {
            iana,
            message_type,
            tag,
            data,
        })
    }

    /// Appends the ASF body (no RMCP header). Data longer than 255 bytes cannot be
    /// described by the length byte and is refused.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        let len = u8::try_from(self.data.len()).map_err(|_| Error::Malformed("ASF data length"))?;
        out.extend_from_slice(&self.iana.to_be_bytes());
        out.extend_from_slice(&[u8::from(self.message_type), self.tag, 0x00, len]);
        out.extend_from_slice(self.data);
        Ok(())
    }

    /// A whole presence-ping datagram (console side): `06 00 FF 06 | 00 00 11 BE | 80 tag 00 00`.
    pub fn ping_datagram(tag: u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(12);
        RmcpHeader::asf().emit(&mut out);
        out.extend_from_slice(&ASF_IANA.to_be_bytes());
        out.extend_from_slice(&[u8::from(AsfType::Ping), tag, 0x00, 0x00]);
        out
    }

    /// A whole presence-pong datagram answering a ping with `tag` (28 bytes):
    /// OEM IANA 4542, OEM-defined 0, supported entities 81h (IPMI, ASF 1.0),
    /// no supported interactions, 6 reserved bytes. Byte-identical to OpenIPMI's.
    pub fn pong_datagram(tag: u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(28);
        RmcpHeader::asf().emit(&mut out);
        out.extend_from_slice(&ASF_IANA.to_be_bytes());
        out.extend_from_slice(&[u8::from(AsfType::Pong), tag, 0x00, 0x10]);
        out.extend_from_slice(&ASF_IANA.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, SUPPORTED_ENTITIES_IPMI, 0x00]);
        out.extend_from_slice(&[0; 6]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_pong_golden() {
        assert_eq!(
            AsfMessage::ping_datagram(0),
            [0x06, 0x00, 0xff, 0x06, 0x00, 0x00, 0x11, 0xbe, 0x80, 0x00, 0x00, 0x00]
        );
        // Bytes ipmi_sim sent in tests/captures/lan_md5.txt.
        let pong = [
            0x06, 0x00, 0xff, 0x06, 0x00, 0x00, 0x11, 0xbe, 0x40, 0x00, 0x00, 0x10, 0x00, 0x00,
            0x11, 0xbe, 0x00, 0x00, 0x00, 0x00, 0x81, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        assert_eq!(AsfMessage::pong_datagram(0), pong);
        let (_, body) = RmcpHeader::parse(&pong).expect("rmcp");
        let m = AsfMessage::parse(body).expect("asf");
        assert_eq!(m.message_type, AsfType::Pong);
        assert_eq!(m.data.len(), 16);
        let mut again = Vec::new();
        m.emit(&mut again).expect("emit");
        assert_eq!(again, body);
    }

    #[test]
    fn length_byte_checked() {
        let body = [0x00, 0x00, 0x11, 0xbe, 0x80, 0x01, 0x00, 0x05, 0xaa];
        assert!(matches!(
            AsfMessage::parse(&body),
            Err(Error::Truncated { .. })
        ));
        let body = [0x00, 0x00, 0x11, 0xbe, 0x80, 0x01, 0x00, 0x00, 0xaa];
        assert!(matches!(
            AsfMessage::parse(&body),
            Err(Error::Trailing { .. })
        ));
    }
}
