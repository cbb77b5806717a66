//! The SPNEGO wrapping (RFC 4178, MS-SPNG) of NTLM that `Negotiate` clients
//! send when they wrap instead of sending raw NTLMSSP (pypsrp's default
//! `auth="negotiate"`): NegTokenInit with the NTLM mechanism and its first
//! token, NegTokenResp carrying the next ones and the mechListMIC.
//! Minimal DER: only what these tokens use, every length checked.

/// OID 1.3.6.1.4.1.311.2.2.10 (NTLMSSP), DER-encoded with its tag.
pub const NTLM_OID: &[u8] = &[
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a,
];
const SPNEGO_OID: &[u8] = &[0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpnegoError {
    #[error("malformed SPNEGO token")]
    Malformed,
    #[error("the client does not offer NTLM")]
    NoNtlm,
}

/// One TLV: (tag, content, the whole TLV, rest).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);
/// (tag, content, the whole TLV).
type Child<'a> = (u8, &'a [u8], &'a [u8]);

fn tlv(b: &[u8]) -> Result<Tlv<'_>, SpnegoError> {
    let tag = *b.first().ok_or(SpnegoError::Malformed)?;
    let l0 = *b.get(1).ok_or(SpnegoError::Malformed)? as usize;
    let (len, hdr) = if l0 < 0x80 {
        (l0, 2)
    } else {
        let n = l0 & 0x7f;
        if n == 0 || n > 3 {
            return Err(SpnegoError::Malformed);
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i).ok_or(SpnegoError::Malformed)? as usize;
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len).ok_or(SpnegoError::Malformed)?;
    let content = b.get(hdr..end).ok_or(SpnegoError::Malformed)?;
    Ok((tag, content, &b[..end], &b[end..]))
}

fn children(mut b: &[u8]) -> Result<Vec<Child<'_>>, SpnegoError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (t, c, whole, rest) = tlv(b)?;
        out.push((t, c, whole));
        b = rest;
        if out.len() > 32 {
            return Err(SpnegoError::Malformed);
        }
    }
    Ok(out)
}

fn octets(ctx: &[u8]) -> Result<Vec<u8>, SpnegoError> {
    let (t, c, _, _) = tlv(ctx)?;
    if t != 0x04 {
        return Err(SpnegoError::Malformed);
    }
    Ok(c.to_vec())
}

/// What a client token carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientToken {
    /// The DER `mechTypes` SEQUENCE (NegTokenInit only): signed by the
    /// mechListMIC.
    pub mech_types: Option<Vec<u8>>,
    pub token: Option<Vec<u8>>,
    pub mic: Option<Vec<u8>>,
}

/// Whether a token looks like SPNEGO rather than raw NTLMSSP.
pub fn is_spnego(b: &[u8]) -> bool {
    matches!(b.first(), Some(0x60) | Some(0xa1))
}

pub fn parse(b: &[u8]) -> Result<ClientToken, SpnegoError> {
    let (tag, content, _, _) = tlv(b)?;
    let mut out = ClientToken::default();
    let fields = match tag {
        0x60 => {
            // [APPLICATION 0] { OID spnego, [0] NegTokenInit }
            let (t, _, oid, rest) = tlv(content)?;
            if t != 0x06 || oid != SPNEGO_OID {
                return Err(SpnegoError::Malformed);
            }
            let (t, inner, _, _) = tlv(rest)?;
            if t != 0xa0 {
                return Err(SpnegoError::Malformed);
            }
            let (t, seq, _, _) = tlv(inner)?;
            if t != 0x30 {
                return Err(SpnegoError::Malformed);
            }
            children(seq)?
        }
        0xa1 => {
            let (t, seq, _, _) = tlv(content)?;
            if t != 0x30 {
                return Err(SpnegoError::Malformed);
            }
            children(seq)?
        }
        _ => return Err(SpnegoError::Malformed),
    };
    for (t, c, _) in fields {
        match (tag, t) {
            (0x60, 0xa0) => {
                let (st, list, whole, _) = tlv(c)?;
                if st != 0x30 {
                    return Err(SpnegoError::Malformed);
                }
                if !children(list)?.iter().any(|(_, _, w)| *w == NTLM_OID) {
                    return Err(SpnegoError::NoNtlm);
                }
                out.mech_types = Some(whole.to_vec());
            }
            (0x60, 0xa2) | (0xa1, 0xa2) => out.token = Some(octets(c)?),
            (0x60, 0xa3) | (0xa1, 0xa3) => out.mic = Some(octets(c)?),
            _ => {}
        }
    }
    if tag == 0x60 && out.mech_types.is_none() {
        return Err(SpnegoError::Malformed);
    }
    Ok(out)
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[0x81, n as u8]);
    } else if n < 0x10000 {
        out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    } else {
        out.extend_from_slice(&[0x83, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// negState values.
pub const ACCEPT_COMPLETED: u8 = 0;
pub const ACCEPT_INCOMPLETE: u8 = 1;
pub const REJECT: u8 = 2;

/// A NegTokenResp.
pub fn response(state: u8, with_mech: bool, token: Option<&[u8]>, mic: Option<&[u8]>) -> Vec<u8> {
    let mut seq = der(0xa0, &der(0x0a, &[state]));
    if with_mech {
        seq.extend(der(0xa1, NTLM_OID));
    }
    if let Some(t) = token {
        seq.extend(der(0xa2, &der(0x04, t)));
    }
    if let Some(m) = mic {
        seq.extend(der(0xa3, &der(0x04, m)));
    }
    der(0xa1, &der(0x30, &seq))
}

/// A NegTokenInit offering NTLM (for the client side).
pub fn init(ntlm: &[u8]) -> Vec<u8> {
    let mech_types = der(0x30, NTLM_OID);
    let mut seq = der(0xa0, &mech_types);
    seq.extend(der(0xa2, &der(0x04, ntlm)));
    let mut app = SPNEGO_OID.to_vec();
    app.extend(der(0xa0, &der(0x30, &seq)));
    der(0x60, &app)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let t = parse(&init(b"NTLMSSP\0x")).unwrap();
        assert_eq!(t.token.as_deref(), Some(&b"NTLMSSP\0x"[..]));
        assert_eq!(t.mech_types, Some(der(0x30, NTLM_OID)));
        let big = vec![7u8; 300];
        let r = response(
            ACCEPT_INCOMPLETE,
            true,
            Some(&big),
            Some(b"0123456789abcdef"),
        );
        let p = parse(&r).unwrap();
        assert_eq!(p.token, Some(big));
        assert_eq!(p.mic.as_deref(), Some(&b"0123456789abcdef"[..]));
        for n in 0..r.len() {
            let _ = parse(&r[..n]);
        }
        assert!(parse(&[0x60, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        // Kerberos only: no NTLM.
        let krb = [
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02,
        ];
        let mut seq = der(0xa0, &der(0x30, &krb));
        seq.extend(der(0xa2, &der(0x04, b"x")));
        let mut app = SPNEGO_OID.to_vec();
        app.extend(der(0xa0, &der(0x30, &seq)));
        assert_eq!(parse(&der(0x60, &app)), Err(SpnegoError::NoNtlm));
    }
}
