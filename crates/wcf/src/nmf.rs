//! .NET Message Framing (MC-NMF) records, sans-IO: bytes in, one record
//! out (or "need more"); records in, bytes out. Every size a peer sends is
//! checked against [`Limits`] before anything is buffered, and each
//! refusal names the framing fault a .NET service sends for it
//! ([`NmfError::fault`]), so the service answers as WCF would.

use fakedc_wire::Reader;

/// The namespace of every framing fault (MC-NMF 2.2.3.7).
pub const FAULT_NS: &str = "http://schemas.microsoft.com/ws/2006/05/framing/faults/";

/// Record type bytes (MC-NMF 2.2.3).
pub mod rt {
    pub const VERSION: u8 = 0x00;
    pub const MODE: u8 = 0x01;
    pub const VIA: u8 = 0x02;
    pub const KNOWN_ENCODING: u8 = 0x03;
    pub const EXTENSIBLE_ENCODING: u8 = 0x04;
    pub const UNSIZED_ENVELOPE: u8 = 0x05;
    pub const SIZED_ENVELOPE: u8 = 0x06;
    pub const END: u8 = 0x07;
    pub const FAULT: u8 = 0x08;
    pub const UPGRADE_REQUEST: u8 = 0x09;
    pub const UPGRADE_RESPONSE: u8 = 0x0A;
    pub const PREAMBLE_ACK: u8 = 0x0B;
    pub const PREAMBLE_END: u8 = 0x0C;
}

/// Modes (MC-NMF 2.2.3.2).
pub mod mode {
    pub const SINGLETON_UNSIZED: u8 = 1;
    pub const DUPLEX: u8 = 2;
    pub const SIMPLEX: u8 = 3;
    pub const SINGLETON_SIZED: u8 = 4;
}

/// Known encodings (MC-NMF 2.2.3.4.1).
pub mod encoding {
    pub const SOAP11_UTF8: u8 = 0;
    pub const SOAP12_UTF8: u8 = 3;
    pub const MTOM: u8 = 6;
    /// MC-NBFS binary, no in-band dictionary.
    pub const BINARY: u8 = 7;
    /// MC-NBFSE: binary with an in-band session dictionary (NetTcpBinding).
    pub const BINARY_SESSION: u8 = 8;
}

/// The framing faults a .NET receiver sends (MC-NMF 2.2.3.7), by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    ContentTypeInvalid,
    ContentTypeTooLong,
    EndpointNotFound,
    EndpointAccessDenied,
    InvalidRecordSequence,
    MaxMessageSizeExceeded,
    ServerTooBusy,
    UnsupportedMode,
    UnsupportedVersion,
    UpgradeInvalid,
    ViaTooLong,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::ContentTypeInvalid => "ContentTypeInvalid",
            Fault::ContentTypeTooLong => "ContentTypeTooLong",
            Fault::EndpointNotFound => "EndpointNotFound",
            Fault::EndpointAccessDenied => "EndpointAccessDenied",
            Fault::InvalidRecordSequence => "InvalidRecordSequence",
            Fault::MaxMessageSizeExceeded => "MaxMessageSizeExceededFault",
            Fault::ServerTooBusy => "ServerTooBusy",
            Fault::UnsupportedMode => "UnsupportedMode",
            Fault::UnsupportedVersion => "UnsupportedVersion",
            Fault::UpgradeInvalid => "UpgradeInvalid",
            Fault::ViaTooLong => "ViaTooLong",
        }
    }

    pub fn uri(self) -> String {
        format!("{FAULT_NS}{}", self.name())
    }
}

/// What a peer may make the decoder buffer.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest Via URI (WCF: 2048 characters, then ViaTooLong).
    pub max_via: usize,
    /// Longest content type or upgrade protocol name (WCF: 256).
    pub max_content_type: usize,
    /// Largest envelope (WCF's MaxReceivedMessageSize, default 65,536).
    pub max_envelope: usize,
    /// Longest fault URI accepted from a peer (the client side).
    pub max_fault: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_via: 2048,
            max_content_type: 256,
            max_envelope: 65_536,
            max_fault: 1024,
        }
    }
}

/// One framing record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Version {
        major: u8,
        minor: u8,
    },
    Mode(u8),
    Via(String),
    KnownEncoding(u8),
    ExtensibleEncoding(String),
    /// An unsized envelope's chunks, joined.
    UnsizedEnvelope(Vec<u8>),
    SizedEnvelope(Vec<u8>),
    End,
    Fault(String),
    UpgradeRequest(String),
    UpgradeResponse,
    PreambleAck,
    PreambleEnd,
}

/// Why bytes are not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NmfError {
    #[error("unknown record type 0x{0:02x}")]
    UnknownRecord(u8),
    #[error("malformed size (MultiByteInt31)")]
    BadSize,
    #[error("Via longer than {0} bytes")]
    ViaTooLong(usize),
    #[error("content type longer than {0} bytes")]
    ContentTypeTooLong(usize),
    #[error("envelope larger than {0} bytes")]
    TooLarge(usize),
    #[error("string is not UTF-8")]
    Utf8,
    #[error(transparent)]
    Wire(#[from] fakedc_wire::Error),
}

impl NmfError {
    /// The fault a .NET service sends before closing.
    pub fn fault(&self) -> Fault {
        match self {
            NmfError::ViaTooLong(_) => Fault::ViaTooLong,
            NmfError::ContentTypeTooLong(_) => Fault::ContentTypeTooLong,
            NmfError::TooLarge(_) => Fault::MaxMessageSizeExceeded,
            _ => Fault::InvalidRecordSequence,
        }
    }
}

/// Decodes a MultiByteInt31 (MC-NMF 2.2.2): 7 bits a byte, low group
/// first, at most 5 bytes, value below 2^31. `Ok(None)`: need more bytes.
pub fn read_mbi31(buf: &[u8]) -> Result<Option<(u32, usize)>, NmfError> {
    let mut v: u32 = 0;
    for i in 0..5 {
        let Some(&b) = buf.get(i) else {
            return Ok(None);
        };
        let bits = u32::from(b & 0x7f);
        if i == 4 && bits > 0x07 {
            return Err(NmfError::BadSize);
        }
        v |= bits << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((v, i + 1)));
        }
    }
    Err(NmfError::BadSize)
}

/// Encodes a MultiByteInt31 (values above 2^31-1 are clamped).
pub fn write_mbi31(out: &mut Vec<u8>, v: usize) {
    let mut v = v.min(0x7fff_ffff) as u32;
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Decodes one record from the front of `buf`: `Ok(None)` when `buf`
/// holds only part of it (nothing is consumed; call again with more).
/// Sizes are checked against `limits` as soon as they are read, before
/// the body arrives.
pub fn decode(buf: &[u8], limits: &Limits) -> Result<Option<(Record, usize)>, NmfError> {
    let Some(&ty) = buf.first() else {
        return Ok(None);
    };
    let rest = buf.get(1..).unwrap_or_default();
    let fixed = |n: usize| -> Option<&[u8]> { rest.get(..n) };
    let rec = match ty {
        rt::VERSION => fixed(2).map(|b| {
            (
                Record::Version {
                    major: b[0],
                    minor: b[1],
                },
                3,
            )
        }),
        rt::MODE => fixed(1).map(|b| (Record::Mode(b[0]), 2)),
        rt::KNOWN_ENCODING => fixed(1).map(|b| (Record::KnownEncoding(b[0]), 2)),
        rt::END => Some((Record::End, 1)),
        rt::UPGRADE_RESPONSE => Some((Record::UpgradeResponse, 1)),
        rt::PREAMBLE_ACK => Some((Record::PreambleAck, 1)),
        rt::PREAMBLE_END => Some((Record::PreambleEnd, 1)),
        rt::VIA | rt::EXTENSIBLE_ENCODING | rt::FAULT | rt::UPGRADE_REQUEST => {
            let max = match ty {
                rt::VIA => limits.max_via,
                rt::FAULT => limits.max_fault,
                _ => limits.max_content_type,
            };
            let Some((n, used)) = read_mbi31(rest)? else {
                return Ok(None);
            };
            let n = n as usize;
            if n > max {
                return Err(match ty {
                    rt::VIA => NmfError::ViaTooLong(max),
                    rt::FAULT => NmfError::TooLarge(max),
                    _ => NmfError::ContentTypeTooLong(max),
                });
            }
            let mut r = Reader::new(rest);
            r.skip(used)?;
            if r.remaining() < n {
                return Ok(None);
            }
            let s = std::str::from_utf8(r.bytes(n)?)
                .map_err(|_| NmfError::Utf8)?
                .to_string();
            let rec = match ty {
                rt::VIA => Record::Via(s),
                rt::EXTENSIBLE_ENCODING => Record::ExtensibleEncoding(s),
                rt::FAULT => Record::Fault(s),
                _ => Record::UpgradeRequest(s),
            };
            Some((rec, 1 + used + n))
        }
        rt::SIZED_ENVELOPE => {
            let Some((n, used)) = read_mbi31(rest)? else {
                return Ok(None);
            };
            let n = n as usize;
            if n > limits.max_envelope {
                return Err(NmfError::TooLarge(limits.max_envelope));
            }
            let mut r = Reader::new(rest);
            r.skip(used)?;
            if r.remaining() < n {
                return Ok(None);
            }
            Some((Record::SizedEnvelope(r.bytes(n)?.to_vec()), 1 + used + n))
        }
        rt::UNSIZED_ENVELOPE => {
            // Chunks until a zero size; the whole record must be buffered.
            // Scanned first without copying, so a record arriving in many
            // reads costs one pass over the chunk headers per read.
            let mut at = 0usize;
            let mut total = 0usize;
            let mut chunks = Vec::new();
            loop {
                let Some((n, used)) = read_mbi31(rest.get(at..).unwrap_or_default())? else {
                    return Ok(None);
                };
                at += used;
                if n == 0 {
                    break;
                }
                let n = n as usize;
                total += n;
                if total > limits.max_envelope {
                    return Err(NmfError::TooLarge(limits.max_envelope));
                }
                if rest.len() < at + n {
                    return Ok(None);
                }
                chunks.push(at..at + n);
                at += n;
            }
            let mut body = Vec::with_capacity(total);
            for c in chunks {
                body.extend_from_slice(rest.get(c).unwrap_or_default());
            }
            Some((Record::UnsizedEnvelope(body), 1 + at))
        }
        other => return Err(NmfError::UnknownRecord(other)),
    };
    Ok(rec)
}

/// Encodes one record.
pub fn encode(rec: &Record, out: &mut Vec<u8>) {
    let string = |out: &mut Vec<u8>, ty: u8, s: &str| {
        out.push(ty);
        write_mbi31(out, s.len());
        out.extend_from_slice(s.as_bytes());
    };
    match rec {
        Record::Version { major, minor } => out.extend_from_slice(&[rt::VERSION, *major, *minor]),
        Record::Mode(m) => out.extend_from_slice(&[rt::MODE, *m]),
        Record::Via(s) => string(out, rt::VIA, s),
        Record::KnownEncoding(e) => out.extend_from_slice(&[rt::KNOWN_ENCODING, *e]),
        Record::ExtensibleEncoding(s) => string(out, rt::EXTENSIBLE_ENCODING, s),
        Record::UnsizedEnvelope(b) => {
            out.push(rt::UNSIZED_ENVELOPE);
            if !b.is_empty() {
                write_mbi31(out, b.len());
                out.extend_from_slice(b);
            }
            out.push(0);
        }
        Record::SizedEnvelope(b) => {
            out.push(rt::SIZED_ENVELOPE);
            write_mbi31(out, b.len());
            out.extend_from_slice(b);
        }
        Record::End => out.push(rt::END),
        Record::Fault(s) => string(out, rt::FAULT, s),
        Record::UpgradeRequest(s) => string(out, rt::UPGRADE_REQUEST, s),
        Record::UpgradeResponse => out.push(rt::UPGRADE_RESPONSE),
        Record::PreambleAck => out.push(rt::PREAMBLE_ACK),
        Record::PreambleEnd => out.push(rt::PREAMBLE_END),
    }
}

/// A framing fault record's bytes.
pub fn fault_bytes(f: Fault) -> Vec<u8> {
    let mut out = Vec::new();
    encode(&Record::Fault(f.uri()), &mut out);
    out
}

/// The path of a Via, without scheme, authority, query or fragment
/// (MS-NMFTB: a Windows receiver ignores the query and fragment).
pub fn via_path(via: &str) -> Option<&str> {
    let rest = via
        .strip_prefix("net.tcp://")
        .or_else(|| via.strip_prefix("NET.TCP://"))?;
    let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn mbi31() {
        assert_eq!(read_mbi31(&[0xb7, 0x02]).unwrap(), Some((311, 2)));
        assert_eq!(read_mbi31(&[0xb7]).unwrap(), None);
        assert!(read_mbi31(&[0xff, 0xff, 0xff, 0xff, 0x7f]).is_err());
        assert_eq!(
            read_mbi31(&[0xff, 0xff, 0xff, 0xff, 0x07]).unwrap(),
            Some((0x7fff_ffff, 5))
        );
        let mut o = Vec::new();
        write_mbi31(&mut o, 311);
        assert_eq!(o, [0xb7, 0x02]);
    }

    /// The captured Mono preamble decodes record by record and re-encodes
    /// to the same bytes.
    #[test]
    fn mono_preamble_round_trip() {
        let b = hex("000100010202316e65742e7463703a2f2f3132372e302e302e313a31383130322f5669727475616c4d616e616765722f54696d6553796e6303080c");
        let l = Limits::default();
        let mut at = 0;
        let mut recs = Vec::new();
        while at < b.len() {
            let (r, n) = decode(&b[at..], &l).unwrap().unwrap();
            recs.push(r);
            at += n;
        }
        assert_eq!(
            recs,
            vec![
                Record::Version { major: 1, minor: 0 },
                Record::Mode(2),
                Record::Via("net.tcp://127.0.0.1:18102/VirtualManager/TimeSync".into()),
                Record::KnownEncoding(8),
                Record::PreambleEnd,
            ]
        );
        let mut out = Vec::new();
        for r in &recs {
            encode(r, &mut out);
        }
        assert_eq!(out, b);
        // Every prefix is "need more", never an error.
        for i in 0..b.len() {
            let _ = decode(&b[..i], &l).unwrap();
        }
    }

    #[test]
    fn limits_and_faults() {
        let l = Limits::default();
        let mut big = vec![rt::VIA];
        write_mbi31(&mut big, 5000);
        assert_eq!(decode(&big, &l).unwrap_err().fault(), Fault::ViaTooLong);
        let mut env = vec![rt::SIZED_ENVELOPE];
        write_mbi31(&mut env, 70_000);
        assert_eq!(
            decode(&env, &l).unwrap_err().fault(),
            Fault::MaxMessageSizeExceeded
        );
        assert_eq!(
            fault_bytes(Fault::UnsupportedVersion)[..2],
            [0x08, 0x49],
            "nmap's match: \\x08I then the URI"
        );
        let mut u = Vec::new();
        encode(&Record::UnsizedEnvelope(b"abc".to_vec()), &mut u);
        assert_eq!(
            decode(&u, &l).unwrap().unwrap(),
            (Record::UnsizedEnvelope(b"abc".to_vec()), u.len())
        );
        assert_eq!(via_path("net.tcp://h:1/A/B?x#y"), Some("/A/B"));
    }
}
