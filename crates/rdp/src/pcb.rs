//! RDP_PRECONNECTION_PDU (MS-RDPEPS 2.2.1): what VMConnect sends first,
//! naming the VM. v1 carries only an id; v2 adds a UTF-16LE blob, the
//! VM's GUID as `Msvm_ComputerSystem.Name` reports it, optionally followed
//! by `;EnhancedMode=1`.

use crate::RdpError;
use fakedc_wire::Reader;

/// The largest PCB accepted: a GUID and a few options are 100 bytes; a
/// peer-controlled cbSize must not make the server buffer megabytes.
pub const MAX_PCB: usize = 1024;
/// The smallest: cbSize, Flags, Version and Id.
pub const MIN_PCB: usize = 16;

/// A decoded preconnection PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preconnection {
    pub version: u32,
    pub id: u32,
    /// The v2 blob without its terminating NULs (`None` for v1).
    pub blob: Option<String>,
}

impl Preconnection {
    /// The VM id the blob names (the part before any `;option`).
    pub fn vm_id(&self) -> Option<&str> {
        let b = self.blob.as_deref()?;
        let id = b.split(';').next().unwrap_or(b).trim();
        let id = id.trim_start_matches('{').trim_end_matches('}');
        (!id.is_empty()).then_some(id)
    }

    /// Whether the client asked for an enhanced session.
    pub fn enhanced(&self) -> bool {
        self.blob.as_deref().is_some_and(|b| {
            b.split(';')
                .skip(1)
                .any(|o| o.eq_ignore_ascii_case("EnhancedMode=1"))
        })
    }
}

/// How many bytes the PDU starting with `head` (its first 4 bytes) says it
/// has, checked against the limits.
pub fn declared_size(head: [u8; 4]) -> Result<usize, RdpError> {
    let n = u32::from_le_bytes(head) as usize;
    if !(MIN_PCB..=MAX_PCB).contains(&n) {
        return Err(RdpError::Protocol(format!(
            "preconnection PDU cbSize {n} outside {MIN_PCB}..={MAX_PCB}"
        )));
    }
    Ok(n)
}

/// Decodes a whole PDU (`cbSize` bytes).
pub fn decode(buf: &[u8]) -> Result<Preconnection, RdpError> {
    let mut r = Reader::new(buf);
    let size = r.u32_le()? as usize;
    if size != buf.len() {
        return Err(RdpError::Protocol(
            "preconnection PDU cbSize mismatch".into(),
        ));
    }
    let _flags = r.u32_le()?;
    let version = r.u32_le()?;
    let id = r.u32_le()?;
    let blob = match version {
        1 => None,
        2 => {
            let cch = usize::from(r.u16_le()?);
            let s = r.utf16le(cch)?;
            Some(s.trim_end_matches('\0').to_string())
        }
        v => return Err(RdpError::Protocol(format!("preconnection PDU version {v}"))),
    };
    Ok(Preconnection { version, id, blob })
}

/// Encodes a v2 PDU (the probe and tests send it as xfreerdp does).
pub fn encode_v2(blob: &str) -> Vec<u8> {
    let units: Vec<u16> = blob.encode_utf16().chain([0u16]).collect();
    let size = 18 + units.len() * 2;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(size as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(units.len() as u16).to_le_bytes());
    for u in units {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes xfreerdp 2.11 sends for `/vmconnect:C824F53E-...`.
    #[test]
    fn decodes_xfreerdp_v2() {
        let id = "C824F53E-95D2-46C6-9A18-23A5BB403532";
        let mut b = vec![0x5e, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0x26, 0];
        for u in id.encode_utf16() {
            b.extend_from_slice(&u.to_le_bytes());
        }
        b.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(b.len(), 94);
        let p = decode(&b).expect("pcb");
        assert_eq!(p.vm_id(), Some(id));
        assert!(!p.enhanced());
        assert_eq!(declared_size([0x5e, 0, 0, 0]).ok(), Some(94));
    }

    #[test]
    fn enhanced_and_round_trip() {
        let b = encode_v2("abc;EnhancedMode=1");
        let p = decode(&b).expect("pcb");
        assert_eq!(p.vm_id(), Some("abc"));
        assert!(p.enhanced());
    }

    #[test]
    fn refuses_lies() {
        assert!(declared_size([3, 0, 0, 19]).is_err());
        assert!(declared_size([0xff, 0xff, 0, 0]).is_err());
        let mut b = encode_v2("abc");
        b[16] = 0xff;
        assert!(decode(&b).is_err());
        assert!(decode(&b[..10]).is_err());
    }
}
