//! TDS packets (MS-TDS 2.2.3): the 8-byte header, splitting a message into
//! packets of the negotiated size, and reassembling a peer's packets into
//! messages with every peer-controlled size bounded.

use crate::TdsError;
use fakedc_wire::{Reader, Writer};

fakedc_wire::code_enum! {
    /// Packet types (MS-TDS 2.2.3.1.1).
    pub enum PacketType: u8 {
        SqlBatch = 0x01,
        PreTds7Login = 0x02,
        Rpc = 0x03,
        TabularResult = 0x04,
        Attention = 0x06,
        BulkLoad = 0x07,
        FedAuthToken = 0x08,
        TransactionManager = 0x0E,
        Login7 = 0x10,
        Sspi = 0x11,
        PreLogin = 0x12,
    }
}

pub const HEADER_LEN: usize = 8;
/// End of message.
pub const STATUS_EOM: u8 = 0x01;
pub const STATUS_IGNORE: u8 = 0x02;
pub const STATUS_RESETCONNECTION: u8 = 0x08;
pub const STATUS_RESETCONNECTION_SKIPTRAN: u8 = 0x10;

/// The packet size before LOGIN7 negotiates one (and the ceiling of a
/// PRELOGIN packet).
pub const DEFAULT_PACKET_SIZE: usize = 4096;
/// The smallest and largest packet sizes SQL Server accepts.
pub const MIN_PACKET_SIZE: usize = 512;
pub const MAX_PACKET_SIZE: usize = 32767;

/// One packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub ty: PacketType,
    pub status: u8,
    /// Length of the packet including this header.
    pub length: u16,
    pub spid: u16,
    pub packet_id: u8,
    pub window: u8,
}

impl Header {
    pub fn parse(buf: &[u8]) -> Result<Header, TdsError> {
        let mut r = Reader::new(buf);
        let h = Header {
            ty: PacketType::from(r.u8()?),
            status: r.u8()?,
            length: r.u16_be()?,
            spid: r.u16_be()?,
            packet_id: r.u8()?,
            window: r.u8()?,
        };
        if usize::from(h.length) < HEADER_LEN {
            return Err(TdsError::Protocol(format!(
                "packet length {} is shorter than its header",
                h.length
            )));
        }
        Ok(h)
    }

    pub fn write(&self, w: &mut Writer) {
        w.u8(self.ty.into())
            .u8(self.status)
            .u16_be(self.length)
            .u16_be(self.spid)
            .u8(self.packet_id)
            .u8(self.window);
    }

    pub fn eom(&self) -> bool {
        self.status & STATUS_EOM != 0
    }
}

/// A whole message: the packets of one request, payloads concatenated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub ty: PacketType,
    /// The first packet's status bits (RESETCONNECTION lives there).
    pub status: u8,
    pub payload: Vec<u8>,
}

/// Splits `payload` into packets of at most `packet_size` bytes (header
/// included), numbered from 1 and wrapping at 255, the last one with EOM.
pub fn packetize(ty: PacketType, payload: &[u8], packet_size: usize, spid: u16) -> Vec<u8> {
    Framer::new(ty, packet_size, spid).frame(payload, true)
}

/// Frames one message sent in parts (a reply streamed as it is made):
/// every part but the last fills whole packets of the negotiated size,
/// packet numbers run on across parts, and the last part ends with EOM.
#[derive(Debug, Clone)]
pub struct Framer {
    ty: PacketType,
    size: usize,
    spid: u16,
    next_id: u8,
}

impl Framer {
    pub fn new(ty: PacketType, packet_size: usize, spid: u16) -> Framer {
        Framer {
            ty,
            size: packet_size.clamp(MIN_PACKET_SIZE, MAX_PACKET_SIZE),
            spid,
            next_id: 1,
        }
    }

    /// Payload bytes one packet carries: a part that is not the last
    /// should be a multiple of this.
    pub fn chunk(&self) -> usize {
        self.size - HEADER_LEN
    }

    /// The packets of one part; `last` marks the message's end (EOM).
    pub fn frame(&mut self, payload: &[u8], last: bool) -> Vec<u8> {
        let chunk = self.chunk();
        let mut w = Writer::with_capacity(payload.len() + HEADER_LEN * (payload.len() / chunk + 1));
        let mut chunks = payload.chunks(chunk).peekable();
        if chunks.peek().is_none() && last {
            self.header(&mut w, HEADER_LEN, true);
        }
        while let Some(c) = chunks.next() {
            let eom = last && chunks.peek().is_none();
            // chunk <= MAX_PACKET_SIZE - 8, so this fits.
            self.header(&mut w, c.len() + HEADER_LEN, eom);
            w.bytes(c);
        }
        if last {
            self.next_id = 1;
        }
        w.into_vec()
    }

    fn header(&mut self, w: &mut Writer, length: usize, eom: bool) {
        Header {
            ty: self.ty,
            status: if eom { STATUS_EOM } else { 0 },
            length: length as u16,
            spid: self.spid,
            packet_id: self.next_id,
            window: 0,
        }
        .write(w);
        self.next_id = self.next_id.wrapping_add(1);
    }
}

/// Reassembles packets from a byte stream into messages.
///
/// Bounds: a packet may not exceed `max_packet` bytes (the negotiated
/// size; SQL Server refuses larger ones), and a message may not exceed
/// `max_message` bytes in total.
#[derive(Debug)]
pub struct Reassembler {
    max_packet: usize,
    max_message: usize,
    buf: Vec<u8>,
    partial: Option<Message>,
}

impl Reassembler {
    pub fn new(max_packet: usize, max_message: usize) -> Reassembler {
        Reassembler {
            max_packet: max_packet.clamp(MIN_PACKET_SIZE, MAX_PACKET_SIZE),
            max_message,
            buf: Vec::new(),
            partial: None,
        }
    }

    /// After LOGIN7: the packet size the server announced.
    pub fn set_max_packet(&mut self, size: usize) {
        self.max_packet = size.clamp(MIN_PACKET_SIZE, MAX_PACKET_SIZE);
    }

    /// Bytes received and not yet part of a returned message.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.partial.as_ref().map_or(0, |m| m.payload.len())
    }

    /// How many more bytes would complete the packet being read (at least
    /// 1), so a caller can read exactly one message and no further.
    pub fn wanted(&self) -> usize {
        match Header::parse(&self.buf) {
            Ok(h) => usize::from(h.length).saturating_sub(self.buf.len()).max(1),
            Err(_) => HEADER_LEN.saturating_sub(self.buf.len()).max(1),
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, `None` when more bytes are needed. An
    /// error leaves the stream unusable: close the connection.
    pub fn next_message(&mut self) -> Result<Option<Message>, TdsError> {
        loop {
            if self.buf.len() < HEADER_LEN {
                return Ok(None);
            }
            let h = Header::parse(&self.buf)?;
            let len = usize::from(h.length);
            if len > self.max_packet {
                return Err(TdsError::Protocol(format!(
                    "packet of {len} bytes exceeds the packet size {}",
                    self.max_packet
                )));
            }
            if self.buf.len() < len {
                return Ok(None);
            }
            let body: Vec<u8> = self.buf.drain(..len).skip(HEADER_LEN).collect();
            if h.ty == PacketType::Attention {
                // A cancel stands alone; it ends whatever was in progress.
                self.partial = None;
                return Ok(Some(Message {
                    ty: h.ty,
                    status: h.status,
                    payload: body,
                }));
            }
            let msg = match self.partial.take() {
                Some(mut m) => {
                    if m.ty != h.ty {
                        return Err(TdsError::Protocol(format!(
                            "packet of type {} inside a message of type {}",
                            h.ty, m.ty
                        )));
                    }
                    m.payload.extend_from_slice(&body);
                    m
                }
                None => Message {
                    ty: h.ty,
                    status: h.status,
                    payload: body,
                },
            };
            if msg.payload.len() > self.max_message {
                return Err(TdsError::Protocol(format!(
                    "message exceeds {} bytes",
                    self.max_message
                )));
            }
            if h.eom() {
                if h.status & STATUS_IGNORE != 0 {
                    // The client cancelled this message itself.
                    continue;
                }
                return Ok(Some(msg));
            }
            self.partial = Some(msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_reassemble_round_trip() {
        let payload: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let wire = packetize(PacketType::SqlBatch, &payload, 512, 7);
        let mut r = Reassembler::new(512, 1 << 20);
        // Feed in awkward pieces.
        for piece in wire.chunks(333) {
            r.push(piece);
        }
        let m = r.next_message().expect("ok").expect("a message");
        assert_eq!(m.ty, PacketType::SqlBatch);
        assert_eq!(m.payload, payload);
        assert_eq!(r.next_message().expect("ok"), None);
    }

    #[test]
    fn lying_and_oversized_lengths_are_refused() {
        let mut r = Reassembler::new(512, 1024);
        r.push(&[0x01, 0x01, 0x00, 0x04, 0, 0, 1, 0]);
        assert!(r.next_message().is_err());
        let mut r = Reassembler::new(512, 1024);
        r.push(&[0x01, 0x01, 0x10, 0x00, 0, 0, 1, 0]);
        assert!(r.next_message().is_err());
        let mut r = Reassembler::new(512, 600);
        r.push(&packetize(PacketType::SqlBatch, &[0u8; 2000], 512, 0));
        assert!(r.next_message().is_err());
    }

    #[test]
    fn mixed_types_inside_a_message_are_refused() {
        let mut r = Reassembler::new(4096, 1 << 20);
        r.push(&[0x01, 0x00, 0x00, 0x09, 0, 0, 1, 0, 0xAA]);
        r.push(&[0x03, 0x01, 0x00, 0x09, 0, 0, 2, 0, 0xBB]);
        assert!(r.next_message().is_err());
    }
}
