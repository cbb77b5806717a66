//! RMCP+ session-establishment payloads (§13.17-13.23): Open Session Request and
//! Response, RAKP messages 1-4. Layouts are in `shared/design/protocols/ipmi.md` §6.
//!
//! Conventions: `m` = remote console, `c` = managed system (BMC). Session IDs are
//! little-endian. Refusals (non-zero status) use the short 8-byte form on emit and
//! are accepted in both short and full form on parse (OpenIPMI sends full-length
//! refusals).

use super::reader::Reader;
use super::{
    AuthAlgorithm, ConfidentialityAlgorithm, Error, IntegrityAlgorithm, Result, RmcpStatus,
};

/// RAKP1 role byte bit 4: look the user up by name only (not name + privilege).
pub const ROLE_NAME_ONLY_LOOKUP: u8 = 0x10;
/// RAKP1 role byte bits 3:0: requested maximum privilege.
pub const ROLE_PRIVILEGE_MASK: u8 = 0x0F;

/// The three algorithms an Open Session message proposes or confirms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlgorithmProposal {
    /// Authentication (RAKP) algorithm.
    pub auth: AuthAlgorithm,
    /// Integrity algorithm.
    pub integrity: IntegrityAlgorithm,
    /// Confidentiality algorithm.
    pub confidentiality: ConfidentialityAlgorithm,
}

impl AlgorithmProposal {
    const LEN: usize = 24;

    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self {
            auth: AuthAlgorithm::from(Self::record(r, 0x00)?),
            integrity: IntegrityAlgorithm::from(Self::record(r, 0x01)?),
            confidentiality: ConfidentialityAlgorithm::from(Self::record(r, 0x02)?),
        })
    }

    /// One 8-byte record: `type | 00 00 | length 08h | algorithm | 00 00 00`. The
    /// length byte is not checked (some consoles send 0 for "any"); the type is.
    fn record(r: &mut Reader<'_>, expected_type: u8) -> Result<u8> {
        let rec = r.array::<8>()?;
        if rec[0] != expected_type {
            return Err(Error::Malformed("Open Session algorithm payload type"));
        }
        Ok(rec[4] & 0x3F)
    }

    fn emit(&self, out: &mut Vec<u8>) {
        for (ty, alg) in [
            (0x00, u8::from(self.auth)),
            (0x01, u8::from(self.integrity)),
            (0x02, u8::from(self.confidentiality)),
        ] {
            out.extend_from_slice(&[ty, 0, 0, 0x08, alg & 0x3F, 0, 0, 0]);
        }
    }
}

/// RMCP+ Open Session Request (payload 10h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenSessionRequest {
    /// Message tag, echoed in the response.
    pub tag: u8,
    /// Requested maximum privilege (bits 3:0; 0 = highest the BMC allows).
    pub requested_max_privilege: u8,
    /// The console's session ID (what the BMC must put in packets it sends).
    pub console_session_id: u32,
    /// Proposed algorithms.
    pub algorithms: AlgorithmProposal,
}

impl OpenSessionRequest {
    /// Encoded length.
    pub const LEN: usize = 8 + AlgorithmProposal::LEN;

    /// Parses exactly 32 bytes.
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf, "Open Session Request");
        let tag = r.u8()?;
        let requested_max_privilege = r.u8()? & 0x0F;
        let _reserved = r.bytes(2)?;
        let console_session_id = r.u32_le()?;
        let algorithms = AlgorithmProposal::parse(&mut r)?;
        r.finish()?;
        Ok(Self {
            tag,
            requested_max_privilege,
            console_session_id,
            algorithms,
        })
    }

    /// Appends the 32 payload bytes.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.tag, self.requested_max_privilege & 0x0F, 0, 0]);
        out.extend_from_slice(&self.console_session_id.to_le_bytes());
        self.algorithms.emit(out);
    }
}

/// RMCP+ Open Session Response (payload 11h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenSessionResponse {
    /// Tag echoed from the request.
    pub tag: u8,
    /// Status; anything but `NoError` refuses the session.
    pub status: RmcpStatus,
    /// Maximum privilege the session may reach (a real level, never 0 from us).
    pub max_privilege: u8,
    /// Console session ID echoed from the request.
    pub console_session_id: u32,
    /// On success: the BMC session ID and the chosen algorithms (absent in the short
    /// refusal form).
    pub accepted: Option<(u32, AlgorithmProposal)>,
}

impl OpenSessionResponse {
    /// Parses the full 36-byte form, or the 8-byte form when the status is an
    /// error, or the bare 2-byte `tag | status` refusal OpenIPMI's ipmi_sim
    /// sends (ipmitool accepts it too).
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let mut r = Reader::new(buf, "Open Session Response");
        let tag = r.u8()?;
        let status = RmcpStatus::from(r.u8()?);
        if status != RmcpStatus::NoError && r.remaining() == 0 {
            return Ok(Self {
                tag,
                status,
                max_privilege: 0,
                console_session_id: 0,
                accepted: None,
            });
        }
        let max_privilege = r.u8()? & 0x0F;
        let _reserved = r.u8()?;
        let console_session_id = r.u32_le()?;
        let accepted = if status != RmcpStatus::NoError && r.remaining() == 0 {
            None
        } else {
            let bmc = r.u32_le()?;
            Some((bmc, AlgorithmProposal::parse(&mut r)?))
        };
        r.finish()?;
        Ok(Self {
            tag,
            status,
            max_privilege,
            console_session_id,
            accepted,
        })
    }

    /// Appends the payload (full form when `accepted` is set, else the 8-byte form).
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.tag, u8::from(self.status), self.max_privilege, 0]);
        out.extend_from_slice(&self.console_session_id.to_le_bytes());
        if let Some((bmc, algs)) = &self.accepted {
            out.extend_from_slice(&bmc.to_le_bytes());
            algs.emit(out);
        }
    }
}

/// RAKP Message 1 (payload 12h), console → BMC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rakp1<'a> {
    /// Message tag.
    pub tag: u8,
    /// The BMC's session ID from the Open Session Response.
    pub bmc_session_id: u32,
    /// Rm, the console's random number.
    pub console_random: [u8; 16],
    /// ROLEm: requested maximum privilege (bits 3:0) and the name-only lookup bit (4).
    /// Kept raw because the HMACs cover the raw byte.
    pub role: u8,
    /// User name length byte as sent (may exceed 16; the session layer refuses that).
    pub name_len: u8,
    /// User name (`name_len` bytes).
    pub username: &'a [u8],
}

impl<'a> Rakp1<'a> {
    /// Fixed part before the user name.
    pub const HEADER_LEN: usize = 28;

    /// Parses the payload; the name-length byte must match the remaining bytes exactly.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(buf, "RAKP Message 1");
        let tag = r.u8()?;
        let _reserved = r.bytes(3)?;
        let bmc_session_id = r.u32_le()?;
        let console_random = r.array()?;
        let role = r.u8()?;
        let _reserved = r.bytes(2)?;
        let name_len = r.u8()?;
        let username = r.bytes(usize::from(name_len))?;
        r.finish()?;
        Ok(Self {
            tag,
            bmc_session_id,
            console_random,
            role,
            name_len,
            username,
        })
    }

    /// Appends the payload. `name_len` is written as given (normally `username.len()`).
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.tag, 0, 0, 0]);
        out.extend_from_slice(&self.bmc_session_id.to_le_bytes());
        out.extend_from_slice(&self.console_random);
        out.extend_from_slice(&[self.role, 0, 0, self.name_len]);
        out.extend_from_slice(self.username);
    }
}

/// The success part of RAKP Message 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rakp2Body<'a> {
    /// Rc, the BMC's random number.
    pub bmc_random: [u8; 16],
    /// GUIDc, the BMC's system GUID.
    pub bmc_guid: [u8; 16],
    /// Key exchange authentication code (20 bytes HMAC-SHA1, 32 bytes HMAC-SHA256,
    /// empty for RAKP-none).
    pub auth_code: &'a [u8],
}

/// RAKP Message 2 (payload 13h), BMC → console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rakp2<'a> {
    /// Tag echoed from RAKP1.
    pub tag: u8,
    /// Status (0Dh unknown user, 0Ah role refused, ...).
    pub status: RmcpStatus,
    /// The console's session ID.
    pub console_session_id: u32,
    /// Randoms, GUID and auth code; absent in the short refusal form.
    pub body: Option<Rakp2Body<'a>>,
}

impl<'a> Rakp2<'a> {
    /// Parses the full form, or the 8-byte form when the status is an error.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(buf, "RAKP Message 2");
        let tag = r.u8()?;
        let status = RmcpStatus::from(r.u8()?);
        let _reserved = r.bytes(2)?;
        let console_session_id = r.u32_le()?;
        let body = if status != RmcpStatus::NoError && r.remaining() == 0 {
            None
        } else {
            Some(Rakp2Body {
                bmc_random: r.array()?,
                bmc_guid: r.array()?,
                auth_code: r.rest(),
            })
        };
        Ok(Self {
            tag,
            status,
            console_session_id,
            body,
        })
    }

    /// Appends the payload.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.tag, u8::from(self.status), 0, 0]);
        out.extend_from_slice(&self.console_session_id.to_le_bytes());
        if let Some(b) = &self.body {
            out.extend_from_slice(&b.bmc_random);
            out.extend_from_slice(&b.bmc_guid);
            out.extend_from_slice(b.auth_code);
        }
    }
}

/// RAKP Message 3 (payload 14h), console → BMC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rakp3<'a> {
    /// Message tag.
    pub tag: u8,
    /// Console's status: non-zero means the console gave up (e.g. RAKP2 HMAC mismatch).
    pub status: RmcpStatus,
    /// The BMC's session ID.
    pub bmc_session_id: u32,
    /// Key exchange authentication code (may be empty on error or RAKP-none).
    pub auth_code: &'a [u8],
}

impl<'a> Rakp3<'a> {
    /// Parses the payload (8 fixed bytes, then the auth code).
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(buf, "RAKP Message 3");
        let tag = r.u8()?;
        let status = RmcpStatus::from(r.u8()?);
        let _reserved = r.bytes(2)?;
        let bmc_session_id = r.u32_le()?;
        Ok(Self {
            tag,
            status,
            bmc_session_id,
            auth_code: r.rest(),
        })
    }

    /// Appends the payload.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.tag, u8::from(self.status), 0, 0]);
        out.extend_from_slice(&self.bmc_session_id.to_le_bytes());
        out.extend_from_slice(self.auth_code);
    }
}

/// RAKP Message 4 (payload 15h), BMC → console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rakp4<'a> {
    /// Tag echoed from RAKP3.
    pub tag: u8,
    /// Status (0Fh = the RAKP3 HMAC was wrong).
    pub status: RmcpStatus,
    /// The console's session ID.
    pub console_session_id: u32,
    /// Integrity check value (12 bytes SHA1, 16 bytes SHA256, empty on error).
    pub icv: &'a [u8],
}

impl<'a> Rakp4<'a> {
    /// Parses the payload (8 fixed bytes, then the ICV).
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(buf, "RAKP Message 4");
        let tag = r.u8()?;
        let status = RmcpStatus::from(r.u8()?);
        let _reserved = r.bytes(2)?;
        let console_session_id = r.u32_le()?;
        Ok(Self {
            tag,
            status,
            console_session_id,
            icv: r.rest(),
        })
    }

    /// Appends the payload.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.tag, u8::from(self.status), 0, 0]);
        out.extend_from_slice(&self.console_session_id.to_le_bytes());
        out.extend_from_slice(self.icv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::hex;

    #[test]
    fn open_session_round_trip() {
        // ipmitool -C 3 (tests/captures/lanplus_c3.txt).
        let rq = hex("00000000a4a3a2a0000000080100000001000008010000000200000801000000");
        let p = OpenSessionRequest::parse(&rq).expect("parses");
        assert_eq!(p.requested_max_privilege, 0);
        assert_eq!(p.console_session_id, 0xa0a2a3a4);
        assert_eq!(p.algorithms.auth, AuthAlgorithm::HmacSha1);
        assert_eq!(p.algorithms.integrity, IntegrityAlgorithm::HmacSha1_96);
        assert_eq!(
            p.algorithms.confidentiality,
            ConfidentialityAlgorithm::AesCbc128
        );
        let mut out = Vec::new();
        p.emit(&mut out);
        assert_eq!(out, rq);

        let rsp = hex("00000000a4a3a2a002030000000000080100000001000008010000000200000801000000");
        let r = OpenSessionResponse::parse(&rsp).expect("parses");
        assert_eq!(r.accepted.map(|a| a.0), Some(0x0302));
        let mut out = Vec::new();
        r.emit(&mut out);
        assert_eq!(out, rsp);

        let refusal = OpenSessionResponse {
            tag: 1,
            status: RmcpStatus::NoCipherSuiteMatch,
            max_privilege: 0,
            console_session_id: 5,
            accepted: None,
        };
        let mut out = Vec::new();
        refusal.emit(&mut out);
        assert_eq!(out.len(), 8);
        assert_eq!(OpenSessionResponse::parse(&out).expect("parses"), refusal);
    }

    #[test]
    fn rakp_round_trips() {
        let r1 = hex(
            "0000000002030000 2e888d54caab1993523baefc12f27461 1400000561646d696e"
                .replace(' ', "")
                .as_str(),
        );
        let p = Rakp1::parse(&r1).expect("parses");
        assert_eq!(p.role, 0x14);
        assert_eq!(p.username, b"admin");
        let mut out = Vec::new();
        p.emit(&mut out);
        assert_eq!(out, r1);
        // Name length beyond the payload.
        let mut bad = r1.clone();
        bad[27] = 6;
        assert!(Rakp1::parse(&bad).is_err());

        let r2 = hex("00000000a4a3a2a06e14534bee2ecece179c0efa88f70ef8a123456789abcdefa123456789abcdeff053e53422d500c4382a49fb7ca7d147ab80ac9a");
        let p = Rakp2::parse(&r2).expect("parses");
        assert_eq!(p.body.map(|b| b.auth_code.len()), Some(20));
        let mut out = Vec::new();
        p.emit(&mut out);
        assert_eq!(out, r2);

        let r4 = hex("00000000a4a3a2a0779cea90908cc0be86db5a89");
        let p = Rakp4::parse(&r4).expect("parses");
        assert_eq!(p.icv.len(), 12);
        let mut out = Vec::new();
        p.emit(&mut out);
        assert_eq!(out, r4);

        assert!(Rakp3::parse(&[0; 7]).is_err());
        assert!(Rakp4::parse(&[0; 7]).is_err());
        assert!(Rakp2::parse(&hex("00000000a4a3a2a0")).is_err());
        let short = hex("000d0000a4a3a2a0");
        let short = Rakp2::parse(&short).expect("short refusal");
        assert_eq!(short.body, None);
    }

    #[test]
    fn ipmi_sim_two_byte_open_session_refusal_parses() {
        let r = OpenSessionResponse::parse(&[0x07, 0x04]).unwrap();
        assert_eq!(
            (r.tag, r.status, r.accepted),
            (0x07, RmcpStatus::InvalidAuthAlgorithm, None)
        );
        assert!(
            OpenSessionResponse::parse(&[0x07, 0x00]).is_err(),
            "success needs the full form"
        );
    }
}
