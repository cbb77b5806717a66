//! The IPMI LAN message (§13.8, Figure 13-4), the body of both 1.5 packets and RMCP+
//! payload type 00h:
//! `addr1 | netFn<<2 | lun1 | chk1 | addr2 | seq<<2 | lun2 | cmd | data | chk2`.
//!
//! For a request, addr1/lun1 name the responder (rsAddr 20h = BMC) and addr2/lun2 the
//! requester (rqAddr 81h = remote console); a response swaps them. The field names
//! here follow the packet direction (`dst`, `src`) so one type serves both.

use super::reader::Reader;
use super::{Error, Result};

/// Slave address of the BMC (rsAddr in requests to it).
pub const BMC_ADDR: u8 = 0x20;
/// Software ID used by remote consoles (rqAddr); ipmitool and FreeIPMI send 81h.
pub const REMOTE_CONSOLE_ADDR: u8 = 0x81;

/// Which of the two checksums failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumField {
    /// chk1, over the first two bytes.
    Header,
    /// chk2, over addr2 through the end of the data.
    Body,
}

impl core::fmt::Display for ChecksumField {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Header => "header",
            Self::Body => "body",
        })
    }
}

/// The 2's-complement checksum IPMI uses: the byte that makes the sum zero.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |acc, b| acc.wrapping_add(*b))
        .wrapping_neg()
}

/// A parsed IPMI LAN message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpmiMessage<'a> {
    /// Destination address (rsAddr for a request, rqAddr for a response).
    pub dst_addr: u8,
    /// Network function (6 bits). Even = request, odd = response.
    pub netfn: u8,
    /// Destination LUN (2 bits).
    pub dst_lun: u8,
    /// Source address (rqAddr for a request, rsAddr for a response).
    pub src_addr: u8,
    /// Requester's sequence number (6 bits), echoed by the response.
    pub seq: u8,
    /// Source LUN (2 bits).
    pub src_lun: u8,
    /// Command number.
    pub cmd: u8,
    /// Request data, or for a response the completion code followed by data.
    pub data: &'a [u8],
}

impl<'a> IpmiMessage<'a> {
    /// Smallest message: six header bytes and chk2.
    pub const MIN_LEN: usize = 7;

    /// Parses exactly `buf` (the caller has already cut it to the length field) and
    /// verifies both checksums.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(buf, "IPMI message");
        let head = r.bytes(3)?;
        let sum = head.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        if sum != 0 {
            return Err(Error::Checksum {
                field: ChecksumField::Header,
                sum,
            });
        }
        let body_all = r.rest();
        if body_all.len() < 4 {
            return Err(Error::Truncated {
                what: "IPMI message",
                need: Self::MIN_LEN,
                have: buf.len(),
            });
        }
        let sum = body_all.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        if sum != 0 {
            return Err(Error::Checksum {
                field: ChecksumField::Body,
                sum,
            });
        }
        let mut b = Reader::new(body_all, "IPMI message");
        let src_addr = b.u8()?;
        let seq_lun = b.u8()?;
        let cmd = b.u8()?;
        let data = b.bytes(body_all.len().saturating_sub(4))?;
        let (dst_addr, netfn_lun) = match head {
            [a, n, _] => (*a, *n),
            _ => return Err(Error::Malformed("IPMI message header")),
        };
        Ok(Self {
            dst_addr,
            netfn: netfn_lun >> 2,
            dst_lun: netfn_lun & 0x03,
            src_addr,
            seq: seq_lun >> 2,
            src_lun: seq_lun & 0x03,
            cmd,
            data,
        })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        Self::MIN_LEN + self.data.len()
    }

    /// True for responses (odd network function).
    pub fn is_response(&self) -> bool {
        self.netfn & 1 == 1
    }

    /// Appends the message with both checksums.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(self.dst_addr);
        out.push((self.netfn << 2) | (self.dst_lun & 0x03));
        out.push(checksum(&out[start..]));
        let body = out.len();
        out.push(self.src_addr);
        out.push((self.seq << 2) | (self.src_lun & 0x03));
        out.push(self.cmd);
        out.extend_from_slice(self.data);
        out.push(checksum(&out[body..]));
    }

    /// The same message encoded into a fresh vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buffer_len());
        self.emit(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_channel_auth_caps_golden() {
        // ipmitool's request and ipmi_sim's response (tests/captures/lan_md5.txt).
        let rq = [0x20, 0x18, 0xc8, 0x81, 0x04, 0x38, 0x0e, 0x04, 0x31];
        let m = IpmiMessage::parse(&rq).expect("parses");
        assert_eq!((m.dst_addr, m.netfn, m.dst_lun), (0x20, 0x06, 0));
        assert_eq!((m.src_addr, m.seq, m.src_lun, m.cmd), (0x81, 1, 0, 0x38));
        assert_eq!(m.data, [0x0e, 0x04]);
        assert_eq!(m.to_vec(), rq);

        let rsp = [
            0x81, 0x1c, 0x63, 0x20, 0x04, 0x38, 0x00, 0x01, 0x15, 0x06, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x88,
        ];
        let m = IpmiMessage::parse(&rsp).expect("parses");
        assert!(m.is_response());
        assert_eq!(m.to_vec(), rsp);
    }

    #[test]
    fn checksum_errors_are_typed() {
        let mut rq = [0x20, 0x18, 0xc8, 0x81, 0x04, 0x38, 0x0e, 0x04, 0x31];
        rq[2] ^= 1;
        assert!(matches!(
            IpmiMessage::parse(&rq),
            Err(Error::Checksum {
                field: ChecksumField::Header,
                ..
            })
        ));
        rq[2] ^= 1;
        rq[8] ^= 1;
        assert!(matches!(
            IpmiMessage::parse(&rq),
            Err(Error::Checksum {
                field: ChecksumField::Body,
                ..
            })
        ));
        assert!(matches!(
            IpmiMessage::parse(&rq[..5]),
            Err(Error::Truncated { .. })
        ));
        assert!(IpmiMessage::parse(&[]).is_err());
    }
}
