//! CredSSP (MS-CSSP): the TSRequest, TSCredentials and TSPasswordCreds
//! structures in the DER subset they use, and the public-key binding
//! hashes. The NTLM inside is fakedc-ntlm's.

use crate::RdpError;
use sha2::{Digest, Sha256};

/// The largest TSRequest accepted (NTLM tokens and a sealed key are a few
/// hundred bytes; Kerberos, which is larger, is not served).
pub const MAX_TS_REQUEST: usize = 16 * 1024;
/// The newest TSRequest version served (MS-CSSP 2.2.1: 6 adds the
/// client nonce's use for error codes).
pub const VERSION: u32 = 6;
/// STATUS_LOGON_FAILURE, the errorCode a wrong password gets.
pub const STATUS_LOGON_FAILURE: u32 = 0xC000_006D;

const CLIENT_SERVER_MAGIC: &[u8] = b"CredSSP Client-To-Server Binding Hash\0";
const SERVER_CLIENT_MAGIC: &[u8] = b"CredSSP Server-To-Client Binding Hash\0";

/// A decoded TSRequest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TsRequest {
    pub version: u32,
    pub nego_token: Option<Vec<u8>>,
    pub auth_info: Option<Vec<u8>>,
    pub pub_key_auth: Option<Vec<u8>>,
    pub error_code: Option<u32>,
    pub client_nonce: Option<[u8; 32]>,
}

/// One DER TLV: (tag, value).
fn tlv<'a>(buf: &'a [u8], at: &mut usize) -> Result<(u8, &'a [u8]), RdpError> {
    let bad = || RdpError::Protocol("truncated DER".into());
    let tag = *buf.get(*at).ok_or_else(bad)?;
    let first = *buf.get(*at + 1).ok_or_else(bad)?;
    *at += 2;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 {
            return Err(RdpError::Protocol("DER length form".into()));
        }
        let mut l = 0usize;
        for _ in 0..n {
            l = (l << 8) | usize::from(*buf.get(*at).ok_or_else(bad)?);
            *at += 1;
        }
        l
    };
    let end = at.checked_add(len).ok_or_else(bad)?;
    let v = buf.get(*at..end).ok_or_else(bad)?;
    *at = end;
    Ok((tag, v))
}

/// The contents of `[tag] SEQUENCE`/`OCTET STRING`/... after checking
/// the tag.
fn expect(buf: &[u8], tag: u8) -> Result<&[u8], RdpError> {
    let mut at = 0;
    let (t, v) = tlv(buf, &mut at)?;
    if t != tag {
        return Err(RdpError::Protocol(format!(
            "DER tag {t:#04x}, wanted {tag:#04x}"
        )));
    }
    Ok(v)
}

fn integer(v: &[u8]) -> Result<u32, RdpError> {
    let v = expect(v, 0x02)?;
    if v.is_empty() || v.len() > 5 {
        return Err(RdpError::Protocol("DER INTEGER size".into()));
    }
    // Two's complement, kept as the 32 bits NTSTATUS values are.
    let mut n: u64 = if v[0] & 0x80 != 0 { u64::MAX } else { 0 };
    for b in v {
        n = (n << 8) | u64::from(*b);
    }
    Ok(n as u32)
}

/// How many bytes the DER element at the start of `head` takes in all,
/// once enough of it is there (`None`: read more). For framing TSRequests
/// off the TLS stream.
pub fn frame_len(head: &[u8]) -> Result<Option<usize>, RdpError> {
    if head.len() < 2 {
        return Ok(None);
    }
    if head[0] != 0x30 {
        return Err(RdpError::Protocol(format!(
            "TSRequest starts with {:#04x}",
            head[0]
        )));
    }
    let first = head[1];
    let (hdr, len) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 {
            return Err(RdpError::Protocol("DER length form".into()));
        }
        if head.len() < 2 + n {
            return Ok(None);
        }
        let mut l = 0usize;
        for b in &head[2..2 + n] {
            l = (l << 8) | usize::from(*b);
        }
        (2 + n, l)
    };
    let total = hdr + len;
    if total > MAX_TS_REQUEST {
        return Err(RdpError::Protocol(format!("TSRequest of {total} bytes")));
    }
    Ok(Some(total))
}

impl TsRequest {
    pub fn decode(buf: &[u8]) -> Result<TsRequest, RdpError> {
        let body = expect(buf, 0x30)?;
        let mut out = TsRequest::default();
        let mut at = 0;
        let mut seen_version = false;
        while at < body.len() {
            let (tag, v) = tlv(body, &mut at)?;
            match tag {
                0xa0 => {
                    out.version = integer(v)?;
                    seen_version = true;
                }
                0xa1 => {
                    // NegoData ::= SEQUENCE OF SEQUENCE { negoToken [0] OCTET STRING }
                    let items = expect(v, 0x30)?;
                    let mut i = 0;
                    if i < items.len() {
                        let (t, item) = tlv(items, &mut i)?;
                        if t != 0x30 {
                            return Err(RdpError::Protocol("NegoData item".into()));
                        }
                        let tok = expect(expect(item, 0xa0)?, 0x04)?;
                        out.nego_token = Some(tok.to_vec());
                    }
                }
                0xa2 => out.auth_info = Some(expect(v, 0x04)?.to_vec()),
                0xa3 => out.pub_key_auth = Some(expect(v, 0x04)?.to_vec()),
                0xa4 => out.error_code = Some(integer(v)?),
                0xa5 => {
                    let n = expect(v, 0x04)?;
                    out.client_nonce =
                        Some(n.try_into().map_err(|_| {
                            RdpError::Protocol("clientNonce is not 32 bytes".into())
                        })?);
                }
                t => return Err(RdpError::Protocol(format!("TSRequest field {t:#04x}"))),
            }
        }
        if !seen_version {
            return Err(RdpError::Protocol("TSRequest without a version".into()));
        }
        Ok(out)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(wrap(0xa0, &int(self.version)));
        if let Some(t) = &self.nego_token {
            let item = wrap(0x30, &wrap(0xa0, &wrap(0x04, t)));
            body.extend(wrap(0xa1, &wrap(0x30, &item)));
        }
        if let Some(a) = &self.auth_info {
            body.extend(wrap(0xa2, &wrap(0x04, a)));
        }
        if let Some(p) = &self.pub_key_auth {
            body.extend(wrap(0xa3, &wrap(0x04, p)));
        }
        if let Some(e) = self.error_code {
            body.extend(wrap(0xa4, &int(e)));
        }
        if let Some(n) = &self.client_nonce {
            body.extend(wrap(0xa5, &wrap(0x04, n)));
        }
        wrap(0x30, &body)
    }
}

/// A DER INTEGER holding a u32 as Windows writes NTSTATUS (negative when
/// the top bit is set: four bytes, no sign padding).
fn int(n: u32) -> Vec<u8> {
    let b = n.to_be_bytes();
    let mut i = 0;
    while i < 3 && ((b[i] == 0 && b[i + 1] & 0x80 == 0) || (b[i] == 0xff && b[i + 1] & 0x80 != 0)) {
        i += 1;
    }
    wrap(0x02, &b[i..])
}

fn wrap(tag: u8, v: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = v.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else if n < 0x10000 {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    } else {
        out.extend([0x83, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(v);
    out
}

/// The credentials a client delegates (TSCredentials with
/// TSPasswordCreds, credType 1).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordCreds {
    pub domain: String,
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for PasswordCreds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordCreds")
            .field("domain", &self.domain)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

fn utf16(b: &[u8]) -> Result<String, RdpError> {
    if !b.len().is_multiple_of(2) {
        return Err(RdpError::Protocol("odd UTF-16 length".into()));
    }
    let units: Vec<u16> = b
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).map_err(|_| RdpError::Protocol("bad UTF-16".into()))
}

/// Decodes TSCredentials; only password credentials (credType 1) are
/// served (smart cards and Remote Guard are not).
pub fn decode_credentials(buf: &[u8]) -> Result<PasswordCreds, RdpError> {
    let body = expect(buf, 0x30)?;
    let mut at = 0;
    let (t0, v0) = tlv(body, &mut at)?;
    let (t1, v1) = tlv(body, &mut at)?;
    if t0 != 0xa0 || t1 != 0xa1 {
        return Err(RdpError::Protocol("TSCredentials fields".into()));
    }
    let kind = integer(v0)?;
    if kind != 1 {
        return Err(RdpError::Protocol(format!("TSCredentials credType {kind}")));
    }
    let creds = expect(expect(v1, 0x04)?, 0x30)?;
    let mut at = 0;
    let mut fields = [String::new(), String::new(), String::new()];
    while at < creds.len() {
        let (t, v) = tlv(creds, &mut at)?;
        let i = match t {
            0xa0 => 0,
            0xa1 => 1,
            0xa2 => 2,
            _ => return Err(RdpError::Protocol("TSPasswordCreds field".into())),
        };
        fields[i] = utf16(expect(v, 0x04)?)?;
    }
    let [domain, user, password] = fields;
    Ok(PasswordCreds {
        domain,
        user,
        password,
    })
}

/// Encodes TSCredentials with password credentials (the probe's side).
pub fn encode_credentials(c: &PasswordCreds) -> Vec<u8> {
    let s = |v: &str| -> Vec<u8> { v.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let mut creds = Vec::new();
    creds.extend(wrap(0xa0, &wrap(0x04, &s(&c.domain))));
    creds.extend(wrap(0xa1, &wrap(0x04, &s(&c.user))));
    creds.extend(wrap(0xa2, &wrap(0x04, &s(&c.password))));
    let mut body = wrap(0xa0, &int(1));
    body.extend(wrap(0xa1, &wrap(0x04, &wrap(0x30, &creds))));
    wrap(0x30, &body)
}

/// What the client's pubKeyAuth must seal: the hash with the client nonce
/// from version 5 on, else the key itself.
pub fn client_binding(version: u32, nonce: Option<&[u8; 32]>, public_key: &[u8]) -> Vec<u8> {
    match nonce {
        Some(n) if version >= 5 => Sha256::new()
            .chain_update(CLIENT_SERVER_MAGIC)
            .chain_update(n)
            .chain_update(public_key)
            .finalize()
            .to_vec(),
        _ => public_key.to_vec(),
    }
}

/// What the server's pubKeyAuth seals: the server-to-client hash from
/// version 5 on, else the key with its first byte incremented.
pub fn server_binding(version: u32, nonce: Option<&[u8; 32]>, public_key: &[u8]) -> Vec<u8> {
    match nonce {
        Some(n) if version >= 5 => Sha256::new()
            .chain_update(SERVER_CLIENT_MAGIC)
            .chain_update(n)
            .chain_update(public_key)
            .finalize()
            .to_vec(),
        _ => {
            let mut k = public_key.to_vec();
            if let Some(b) = k.first_mut() {
                *b = b.wrapping_add(1);
            }
            k
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_request_round_trip() {
        let r = TsRequest {
            version: 6,
            nego_token: Some(vec![7; 300]),
            pub_key_auth: Some(vec![1; 48]),
            client_nonce: Some([9; 32]),
            error_code: Some(STATUS_LOGON_FAILURE),
            ..TsRequest::default()
        };
        let b = r.encode();
        assert_eq!(frame_len(&b).ok().flatten(), Some(b.len()));
        assert_eq!(TsRequest::decode(&b).ok(), Some(r));
    }

    #[test]
    fn error_code_is_four_bytes() {
        assert_eq!(int(STATUS_LOGON_FAILURE), vec![2, 4, 0xc0, 0, 0, 0x6d]);
        assert_eq!(int(6), vec![2, 1, 6]);
        assert_eq!(int(0x80), vec![2, 2, 0, 0x80]);
    }

    #[test]
    fn credentials_round_trip() {
        let c = PasswordCreds {
            domain: "HV01".into(),
            user: "Administrator".into(),
            password: "pässword".into(),
        };
        assert_eq!(decode_credentials(&encode_credentials(&c)).ok(), Some(c));
    }

    #[test]
    fn truncated_is_an_error() {
        let b = TsRequest {
            version: 2,
            nego_token: Some(vec![1, 2, 3]),
            ..TsRequest::default()
        }
        .encode();
        for n in 0..b.len() {
            assert!(TsRequest::decode(&b[..n]).is_err());
        }
    }
}
