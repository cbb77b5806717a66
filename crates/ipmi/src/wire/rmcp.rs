//! The 4-byte RMCP header (§13.1.3) that starts every datagram on UDP 623.

use super::reader::Reader;
use super::{MessageClass, Result};

/// RMCP version 1.0, the only version IPMI uses.
pub const RMCP_VERSION: u8 = 0x06;
/// Sequence number FFh means "do not send an RMCP ACK"; IPMI always uses it.
pub const RMCP_NO_ACK_SEQUENCE: u8 = 0xFF;

/// Parsed RMCP header: `version | reserved | sequence | class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RmcpHeader {
    /// RMCP version (06h); [`super::parse`] refuses anything else.
    pub version: u8,
    /// RMCP sequence number (FFh = no ACK wanted).
    pub sequence: u8,
    /// Message class (bits 4:0 of the class byte).
    pub class: MessageClass,
    /// Bit 7 of the class byte: this is an RMCP ACK.
    pub ack: bool,
}

impl RmcpHeader {
    /// Encoded length.
    pub const LEN: usize = 4;

    /// The header every IPMI datagram carries: `06 00 FF 07`.
    pub fn ipmi() -> Self {
        Self {
            version: RMCP_VERSION,
            sequence: RMCP_NO_ACK_SEQUENCE,
            class: MessageClass::Ipmi,
            ack: false,
        }
    }

    /// The header of an ASF message: `06 00 FF 06`.
    pub fn asf() -> Self {
        Self {
            class: MessageClass::Asf,
            ..Self::ipmi()
        }
    }

    /// Parses the header and returns it with the rest of the datagram.
    ///
    /// The reserved byte is ignored, as RMCP requires of receivers.
    pub fn parse(buf: &[u8]) -> Result<(Self, &[u8])> {
        let mut r = Reader::new(buf, "RMCP header");
        let version = r.u8()?;
        let _reserved = r.u8()?;
        let sequence = r.u8()?;
        let class = r.u8()?;
        Ok((
            Self {
                version,
                sequence,
                class: MessageClass::from(class & 0x1F),
                ack: class & 0x80 != 0,
            },
            r.rest(),
        ))
    }

    /// Appends the 4 header bytes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let class = (u8::from(self.class) & 0x1F) | if self.ack { 0x80 } else { 0 };
        out.extend_from_slice(&[self.version, 0x00, self.sequence, class]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipmi_header_bytes() {
        let mut out = Vec::new();
        RmcpHeader::ipmi().emit(&mut out);
        assert_eq!(out, [0x06, 0x00, 0xff, 0x07]);
        let (h, rest) = RmcpHeader::parse(&[0x06, 0x00, 0xff, 0x07, 0xaa]).expect("parses");
        assert_eq!(h, RmcpHeader::ipmi());
        assert_eq!(rest, [0xaa]);
    }

    #[test]
    fn ack_bit_and_unknown_class_round_trip() {
        let (h, _) = RmcpHeader::parse(&[0x06, 0x00, 0x03, 0x93]).expect("parses");
        assert!(h.ack);
        assert_eq!(h.class, MessageClass::Unknown(0x13));
        let mut out = Vec::new();
        h.emit(&mut out);
        assert_eq!(out, [0x06, 0x00, 0x03, 0x93]);
    }
}
