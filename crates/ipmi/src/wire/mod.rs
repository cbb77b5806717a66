//! Sans-IO codec for IPMI over LAN: RMCP, ASF presence ping/pong, the IPMI 1.5
//! session wrapper, IPMI LAN messages, the RMCP+ (IPMI 2.0) session header and
//! integrity trailer, and the RMCP+ session-establishment payloads.
//!
//! Shape (after smoltcp's `wire`): every structure has a `parse` that validates all
//! length fields against the bytes it was given and returns a typed `Repr` (borrowing
//! the input where it can), and an `emit` that appends the wire bytes to a `Vec<u8>`.
//! Code points are enums with an `Unknown(n)` variant, so unknown values round-trip.
//! Nothing here panics on any input; every failure is an [`Error`]. Nothing here knows
//! keys or session state: integrity checking and decryption live in [`crate::crypto`],
//! sequence windows and the handshake in [`crate::session`].
//!
//! [`parse`] is the entry point for a received datagram; it splits on the RMCP class
//! and, for IPMI, on the authentication-type byte (06h selects RMCP+).
//!
//! [`console`] holds the client (remote console) side: a sans-IO RMCP+ and IPMI 1.5
//! console used by tests, the `check` probe and load generators.

mod asf;
mod codes;
pub mod console;
mod lan15;
mod message;
mod payloads;
mod reader;
mod rmcp;
mod rmcpplus;

pub use asf::{AsfMessage, ASF_IANA};
pub use codes::{
    app_cmd, auth_type, cc, netfn, AsfType, AuthAlgorithm, AuthType, CompletionCode,
    ConfidentialityAlgorithm, IntegrityAlgorithm, MessageClass, PayloadKind, Privilege, RmcpStatus,
};
pub use lan15::{Lan15Header, Lan15Packet, AUTH_CODE_LEN};
pub use message::{checksum, ChecksumField, IpmiMessage, BMC_ADDR, REMOTE_CONSOLE_ADDR};
pub use payloads::{
    AlgorithmProposal, OpenSessionRequest, OpenSessionResponse, Rakp1, Rakp2, Rakp2Body, Rakp3,
    Rakp4, ROLE_NAME_ONLY_LOOKUP, ROLE_PRIVILEGE_MASK,
};
pub use rmcp::{RmcpHeader, RMCP_NO_ACK_SEQUENCE, RMCP_VERSION};
pub use rmcpplus::{
    integrity_pad_len, IntegrityTrailer, OemPayload, PayloadType, RmcpPlusHeader, RmcpPlusPacket,
    NEXT_HEADER,
};

/// Largest datagram accepted or produced: 1472 bytes.
///
/// That is the largest UDP payload in one unfragmented IPv4 datagram on an Ethernet
/// link (1500 MTU - 20 IP - 8 UDP). BMC network stacks do not reassemble fragments,
/// and no IPMI message comes near it: the IPMI 1.5 message length is one byte, and
/// RMCP+ payloads are bounded by the largest IPMI message or SOL packet (a few hundred
/// bytes). Anything longer is hostile or broken, so it is refused before any parsing.
pub const MAX_DATAGRAM: usize = 1472;

/// Why a datagram or payload could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Fewer bytes than the structure (or one of its length fields) requires.
    #[error("{what} truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Which structure.
        what: &'static str,
        /// Bytes required.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// Bytes left over after a structure whose length is fully determined.
    #[error("{extra} unexpected trailing bytes after {what}")]
    Trailing {
        /// Which structure.
        what: &'static str,
        /// How many bytes were left.
        extra: usize,
    },
    /// The datagram is larger than [`MAX_DATAGRAM`].
    #[error("datagram of {0} bytes exceeds the {MAX_DATAGRAM}-byte limit")]
    TooLong(usize),
    /// The RMCP version byte is not 06h (RMCP 1.0).
    #[error("unsupported RMCP version {0:#04x}")]
    BadRmcpVersion(u8),
    /// One of the two IPMI message checksums is wrong.
    #[error("IPMI message {field} checksum mismatch (sum {sum:#04x}, want 00)")]
    Checksum {
        /// Which checksum failed.
        field: ChecksumField,
        /// The 8-bit sum over the covered bytes including the checksum (0 when valid).
        sum: u8,
    },
    /// A field holds a value that the structure cannot carry.
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// Shorthand for results of this module.
pub type Result<T> = core::result::Result<T, Error>;

/// One received datagram, split by RMCP class and session format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// An ASF message (class 06h): presence ping, pong, or another ASF type.
    Asf(AsfMessage<'a>),
    /// IPMI class with the IPMI 1.5 session wrapper (authentication type != 06h).
    Lan15(Lan15Packet<'a>),
    /// IPMI class with the RMCP+ session header (authentication type 06h).
    RmcpPlus(RmcpPlusPacket<'a>),
    /// An RMCP ACK (class bit 7). IPMI never asks for ACKs (sequence FFh); kept
    /// distinct so the caller can ignore it without calling it garbage.
    RmcpAck(RmcpHeader),
    /// A class this codec does not speak (OEM or unknown); the body is ignored.
    OtherClass(RmcpHeader),
}

/// Takes the next outbound session sequence number from `counter` (IPMI 1.5 and
/// RMCP+ alike): the counter starts at 1 and skips 0 when it wraps, because 0 is
/// what pre-session packets carry.
pub(crate) fn next_session_seq(counter: &mut u32) -> u32 {
    let v = *counter;
    *counter = counter.wrapping_add(1);
    if *counter == 0 {
        *counter = 1;
    }
    v
}

/// Parses one received UDP payload.
///
/// Checks the datagram limit, the RMCP version, and every length field inside.
/// It does not check authentication codes or sequence numbers: that needs session state.
pub fn parse(datagram: &[u8]) -> Result<Datagram<'_>> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(Error::TooLong(datagram.len()));
    }
    let (header, body) = RmcpHeader::parse(datagram)?;
    if header.version != RMCP_VERSION {
        return Err(Error::BadRmcpVersion(header.version));
    }
    if header.ack {
        return Ok(Datagram::RmcpAck(header));
    }
    match header.class {
        MessageClass::Asf => Ok(Datagram::Asf(AsfMessage::parse(body)?)),
        MessageClass::Ipmi => match body.first() {
            Some(&0x06) => Ok(Datagram::RmcpPlus(RmcpPlusPacket::parse(body)?)),
            Some(_) => Ok(Datagram::Lan15(Lan15Packet::parse(body)?)),
            None => Err(Error::Truncated {
                what: "IPMI session header",
                need: 1,
                have: 0,
            }),
        },
        _ => Ok(Datagram::OtherClass(header)),
    }
}

/// Hex text → bytes, for the golden captures in the codec's unit tests.
#[cfg(test)]
pub(crate) fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbound_session_seq_skips_zero() {
        let mut c = u32::MAX;
        assert_eq!(next_session_seq(&mut c), u32::MAX);
        assert_eq!(next_session_seq(&mut c), 1);
    }

    #[test]
    fn dispatch_by_class_and_authtype() {
        let ping = [
            0x06, 0x00, 0xff, 0x06, 0x00, 0x00, 0x11, 0xbe, 0x80, 0x07, 0x00, 0x00,
        ];
        assert!(matches!(parse(&ping), Ok(Datagram::Asf(m)) if m.tag == 7));
        let ack = [0x06, 0x00, 0x05, 0x86];
        assert!(matches!(parse(&ack), Ok(Datagram::RmcpAck(_))));
        let oem = [0x06, 0x00, 0xff, 0x08, 1, 2, 3];
        assert!(matches!(parse(&oem), Ok(Datagram::OtherClass(_))));
        assert_eq!(
            parse(&[0x05, 0x00, 0xff, 0x07]),
            Err(Error::BadRmcpVersion(5))
        );
        assert!(matches!(
            parse(&[0x06, 0x00, 0xff, 0x07]),
            Err(Error::Truncated { .. })
        ));
        assert_eq!(
            parse(&[0u8; MAX_DATAGRAM + 1]),
            Err(Error::TooLong(MAX_DATAGRAM + 1))
        );
    }
}
