//! The RDP PDUs fakedc's VMConnect uses (MS-RDPBCGR): TPKT and X.224,
//! the MCS connect PDUs (BER) carrying GCC (PER) and the client/server
//! data blocks, the MCS domain PDUs (PER), share control/data headers,
//! the capability sets of the Demand Active PDU, licensing's "valid
//! client", slow- and fast-path input, and fast-path bitmap updates.
//! Sans-IO: bytes in, values out; values in, bytes out.

use crate::RdpError;
use fakedc_wire::Reader;

/// The MCS channel ids the server hands out.
pub const SERVER_CHANNEL: u16 = 1002;
pub const IO_CHANNEL: u16 = 1003;
pub const USER_CHANNEL: u16 = 1007;
/// The first static virtual channel's id.
const FIRST_VC: u16 = 1004;
/// Largest number of static virtual channels a client may ask for
/// (MS-RDPBCGR 2.2.1.3.4: 31).
pub const MAX_CHANNELS: usize = 31;

/// Protocols of RDP_NEG_REQ/RSP.
pub const PROTOCOL_SSL: u32 = 1;
pub const PROTOCOL_HYBRID: u32 = 2;

fn perr(s: impl Into<String>) -> RdpError {
    RdpError::Protocol(s.into())
}

// ---------------------------------------------------------------- framing

/// What one read off the wire is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// TPKT (slow path): X.224 inside.
    Tpkt,
    /// A fast-path input PDU.
    FastPath,
}

/// Frames one PDU at the start of `buf`: `Ok(None)` when more bytes are
/// needed, else its kind and total length.
pub fn frame(buf: &[u8]) -> Result<Option<(FrameKind, usize)>, RdpError> {
    let Some(&b0) = buf.first() else {
        return Ok(None);
    };
    if b0 == 0x03 {
        if buf.len() < 4 {
            return Ok(None);
        }
        let n = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        if n < 7 {
            return Err(perr(format!("TPKT length {n}")));
        }
        return Ok(Some((FrameKind::Tpkt, n)));
    }
    if b0 & 0x03 != 0 {
        return Err(perr(format!("neither TPKT nor fast-path: {b0:#04x}")));
    }
    let Some(&b1) = buf.get(1) else {
        return Ok(None);
    };
    let n = if b1 & 0x80 != 0 {
        let Some(&b2) = buf.get(2) else {
            return Ok(None);
        };
        (usize::from(b1 & 0x7f) << 8) | usize::from(b2)
    } else {
        usize::from(b1)
    };
    if n < 2 {
        return Err(perr(format!("fast-path length {n}")));
    }
    Ok(Some((FrameKind::FastPath, n)))
}

/// A TPKT around `payload`.
pub fn tpkt(payload: &[u8]) -> Vec<u8> {
    let n = (payload.len() + 4) as u16;
    let mut out = vec![3, 0];
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An X.224 Data TPDU (in a TPKT) around `payload`.
pub fn x224_data(payload: &[u8]) -> Vec<u8> {
    let mut p = vec![2, 0xf0, 0x80];
    p.extend_from_slice(payload);
    tpkt(&p)
}

/// The user data of an X.224 Data TPDU (a whole TPKT frame).
pub fn x224_payload(frame: &[u8]) -> Result<&[u8], RdpError> {
    let mut r = Reader::new(frame);
    r.skip(4)?;
    let li = r.u8()?;
    let code = r.u8()?;
    if li != 2 || code != 0xf0 {
        return Err(perr(format!(
            "X.224 TPDU {code:#04x} where data was expected"
        )));
    }
    r.skip(1)?;
    Ok(r.rest())
}

/// X.224 Connection Request with its RDP negotiation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRequest {
    pub cookie: Option<String>,
    /// RDP_NEG_REQ's requestedProtocols; `None` without RDP_NEG_REQ.
    pub requested: Option<u32>,
}

pub fn decode_cr(frame: &[u8]) -> Result<ConnectionRequest, RdpError> {
    let mut r = Reader::new(frame);
    r.skip(4)?;
    let li = usize::from(r.u8()?);
    let mut t = r.sub(li)?;
    let code = t.u8()?;
    if code & 0xf0 != 0xe0 {
        return Err(perr(format!(
            "X.224 TPDU {code:#04x} where a Connection Request was expected"
        )));
    }
    t.skip(5)?;
    let mut rest = t.rest();
    let mut cookie = None;
    if rest.starts_with(b"Cookie:") || rest.starts_with(b"Cookie: ") {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| perr("cookie without CR LF"))?;
        cookie = Some(String::from_utf8_lossy(&rest[..end]).into_owned());
        rest = &rest[end + 2..];
    }
    let mut requested = None;
    if rest.len() >= 8 && rest[0] == 1 {
        let mut n = Reader::new(rest);
        n.skip(4)?;
        requested = Some(n.u32_le()?);
    }
    Ok(ConnectionRequest { cookie, requested })
}

/// X.224 Connection Confirm selecting `protocol`, with the flags Windows
/// sends (EXTENDED_CLIENT_DATA, DYNVC_GFX, ..., 0x1F).
pub fn connection_confirm(protocol: u32) -> Vec<u8> {
    let mut p = vec![0x0e, 0xd0, 0, 0, 0x12, 0x34, 0, 0x02, 0x1f, 0x08, 0x00];
    p.extend_from_slice(&protocol.to_le_bytes());
    tpkt(&p)
}

/// X.224 Connection Confirm carrying RDP_NEG_FAILURE.
pub fn negotiation_failure(code: u32) -> Vec<u8> {
    let mut p = vec![0x0e, 0xd0, 0, 0, 0x12, 0x34, 0, 0x03, 0x00, 0x08, 0x00];
    p.extend_from_slice(&code.to_le_bytes());
    tpkt(&p)
}

// ---------------------------------------------------------------- BER/PER

fn ber_len(r: &mut Reader<'_>) -> Result<usize, RdpError> {
    let b = r.u8()?;
    if b < 0x80 {
        return Ok(usize::from(b));
    }
    match b & 0x7f {
        1 => Ok(usize::from(r.u8()?)),
        2 => Ok(usize::from(r.u16_be()?)),
        n => Err(perr(format!("BER length of {n} bytes"))),
    }
}

fn ber_tlv<'a>(r: &mut Reader<'a>, tag: u8) -> Result<Reader<'a>, RdpError> {
    let t = r.u8()?;
    if t != tag {
        return Err(perr(format!("BER tag {t:#04x}, wanted {tag:#04x}")));
    }
    let n = ber_len(r)?;
    Ok(r.sub(n)?)
}

fn ber_write(out: &mut Vec<u8>, tag: &[u8], v: &[u8]) {
    out.extend_from_slice(tag);
    let n = v.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(v);
}

fn ber_int(out: &mut Vec<u8>, n: u32) {
    let b = n.to_be_bytes();
    let mut i = 0;
    while i < 3 && b[i] == 0 && b[i + 1] & 0x80 == 0 {
        i += 1;
    }
    ber_write(out, &[0x02], &b[i..]);
}

fn per_len(r: &mut Reader<'_>) -> Result<usize, RdpError> {
    let b = r.u8()?;
    if b & 0x80 == 0 {
        return Ok(usize::from(b));
    }
    if b & 0x40 != 0 {
        return Err(perr("PER fragmented length"));
    }
    Ok((usize::from(b & 0x3f) << 8) | usize::from(r.u8()?))
}

fn per_len_write(out: &mut Vec<u8>, n: usize) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        out.extend([0x80 | (n >> 8) as u8, n as u8]);
    }
}

// ---------------------------------------------------------------- MCS connect

/// What fakedc reads of the client's GCC data blocks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientData {
    pub width: u16,
    pub height: u16,
    pub client_name: String,
    pub keyboard_layout: u32,
    /// Highest colour depth the client takes (32 when it asked for a
    /// 32 bpp session).
    pub color_depth: u16,
    pub server_selected_protocol: u32,
    /// Static virtual channels asked for, by name.
    pub channels: Vec<String>,
}

/// Decodes an MCS Connect Initial (the X.224 payload).
pub fn decode_connect_initial(payload: &[u8]) -> Result<ClientData, RdpError> {
    let mut r = Reader::new(payload);
    if r.u8()? != 0x7f || r.u8()? != 0x65 {
        return Err(perr("not an MCS Connect Initial"));
    }
    let n = ber_len(&mut r)?;
    let mut ci = r.sub(n)?;
    ber_tlv(&mut ci, 0x04)?; // callingDomainSelector
    ber_tlv(&mut ci, 0x04)?; // calledDomainSelector
    ber_tlv(&mut ci, 0x01)?; // upwardFlag
    for _ in 0..3 {
        ber_tlv(&mut ci, 0x30)?; // target, minimum, maximum parameters
    }
    let mut gcc = ber_tlv(&mut ci, 0x04)?;
    // GCC ConnectData: the T.124 key, then ConferenceCreateRequest up to
    // the H.221 key "Duca" and the user data's PER length.
    let head = gcc.peek(gcc.remaining().min(32))?;
    let at = head
        .windows(4)
        .position(|w| w == b"Duca")
        .ok_or_else(|| perr("GCC ConferenceCreateRequest without the Duca key"))?;
    gcc.skip(at + 4)?;
    let n = per_len(&mut gcc)?;
    let mut blocks = gcc.sub(n.min(gcc.remaining()))?;
    let mut out = ClientData::default();
    let mut seen_core = false;
    while blocks.remaining() >= 4 {
        let kind = blocks.u16_le()?;
        let len = usize::from(blocks.u16_le()?);
        if len < 4 {
            return Err(perr(format!(
                "client data block {kind:#06x} of {len} bytes"
            )));
        }
        let mut b = blocks.sub(len - 4)?;
        match kind {
            0xc001 => {
                seen_core = true;
                let _version = b.u32_le()?;
                out.width = b.u16_le()?;
                out.height = b.u16_le()?;
                let _color = b.u16_le()?;
                let _sas = b.u16_le()?;
                out.keyboard_layout = b.u32_le()?;
                let _build = b.u32_le()?;
                out.client_name = b.utf16le_lossy(16)?.trim_end_matches('\0').to_string();
                b.skip(12 + 64)?;
                out.color_depth = 8;
                if b.remaining() >= 2 {
                    let _post_beta = b.u16_le()?;
                }
                if b.remaining() >= 6 {
                    b.skip(6)?; // clientProductId, serialNumber
                }
                if b.remaining() >= 2 {
                    out.color_depth = b.u16_le()?; // highColorDepth
                }
                if b.remaining() >= 2 {
                    let _supported = b.u16_le()?;
                }
                if b.remaining() >= 2 {
                    let early = b.u16_le()?;
                    if early & 0x0002 != 0 {
                        out.color_depth = 32;
                    }
                }
                if b.remaining() >= 64 + 2 + 4 {
                    b.skip(66)?;
                    out.server_selected_protocol = b.u32_le()?;
                }
            }
            0xc003 => {
                let count = b.u32_le()? as usize;
                if count > MAX_CHANNELS {
                    return Err(perr(format!("{count} static channels")));
                }
                for _ in 0..count {
                    let name = b.bytes(8)?;
                    let _options = b.u32_le()?;
                    // Seven ANSI characters and a NUL (MS-RDPBCGR
                    // 2.2.1.3.4.1); anything else is shown as '?'.
                    let end = name.iter().position(|c| *c == 0).unwrap_or(8).min(7);
                    out.channels.push(
                        name[..end]
                            .iter()
                            .map(|b| {
                                if b.is_ascii_graphic() {
                                    char::from(*b)
                                } else {
                                    '?'
                                }
                            })
                            .collect(),
                    );
                }
            }
            _ => {}
        }
    }
    if !seen_core {
        return Err(perr("GCC user data without CS_CORE"));
    }
    match out.color_depth {
        15 | 16 | 24 | 32 => {}
        _ => out.color_depth = 16,
    }
    Ok(out)
}

/// Encodes an MCS Connect Initial with CS_CORE (32 bpp asked for) and
/// CS_NET, as a client sends it (an X.224 Data TPDU in a TPKT): the
/// round-trip tests, the fuzz seeds and hostile-input tests use it.
pub fn encode_connect_initial(client: &ClientData) -> Vec<u8> {
    let mut core = Vec::new();
    core.extend(0x0008_0004u32.to_le_bytes());
    core.extend(client.width.to_le_bytes());
    core.extend(client.height.to_le_bytes());
    core.extend(0xca01u16.to_le_bytes());
    core.extend(0xaa03u16.to_le_bytes());
    core.extend(client.keyboard_layout.to_le_bytes());
    core.extend(2600u32.to_le_bytes());
    let mut name = [0u8; 32];
    for (i, u) in client.client_name.encode_utf16().take(15).enumerate() {
        name[i * 2..i * 2 + 2].copy_from_slice(&u.to_le_bytes());
    }
    core.extend(name);
    core.extend(4u32.to_le_bytes());
    core.extend(0u32.to_le_bytes());
    core.extend(12u32.to_le_bytes());
    core.extend([0u8; 64]);
    core.extend(0xca01u16.to_le_bytes());
    core.extend(1u16.to_le_bytes());
    core.extend(0u32.to_le_bytes());
    core.extend(24u16.to_le_bytes());
    core.extend(0x000fu16.to_le_bytes());
    core.extend(
        if client.color_depth == 32 {
            0x0002u16
        } else {
            0
        }
        .to_le_bytes(),
    );
    core.extend([0u8; 64]);
    core.extend([0u8, 0]);
    core.extend(client.server_selected_protocol.to_le_bytes());
    let mut blocks = Vec::new();
    blocks.extend(0xc001u16.to_le_bytes());
    blocks.extend(((core.len() + 4) as u16).to_le_bytes());
    blocks.extend(core);
    blocks.extend(0xc003u16.to_le_bytes());
    blocks.extend(((8 + 12 * client.channels.len()) as u16).to_le_bytes());
    blocks.extend((client.channels.len() as u32).to_le_bytes());
    for c in &client.channels {
        let mut n = [0u8; 8];
        for (i, b) in c.bytes().take(7).enumerate() {
            n[i] = b;
        }
        blocks.extend(n);
        blocks.extend(0x8000_0000u32.to_le_bytes());
    }
    let mut ccr = vec![0x00, 0x08, 0x00, 0x10, 0x00, 0x01, 0xc0, 0x00];
    ccr.extend_from_slice(b"Duca");
    per_len_write(&mut ccr, blocks.len());
    ccr.extend(blocks);
    let mut gcc = vec![0x00, 0x05, 0x00, 0x14, 0x7c, 0x00, 0x01];
    per_len_write(&mut gcc, ccr.len());
    gcc.extend(ccr);
    let mut body = Vec::new();
    ber_write(&mut body, &[0x04], &[1]);
    ber_write(&mut body, &[0x04], &[1]);
    ber_write(&mut body, &[0x01], &[0xff]);
    for max in [34u32, 1, 65535] {
        let mut dp = Vec::new();
        for v in [max, 2, 0, 1, 0, 1, 65535, 2] {
            ber_int(&mut dp, v);
        }
        ber_write(&mut body, &[0x30], &dp);
    }
    ber_write(&mut body, &[0x04], &gcc);
    let mut out = Vec::new();
    ber_write(&mut out, &[0x7f, 0x65], &body);
    x224_data(&out)
}

/// The channel id a static channel gets (by its index in CS_NET).
pub fn channel_id(index: usize) -> u16 {
    FIRST_VC + index as u16
}

/// MCS Connect Response with the GCC Conference Create Response and the
/// server data blocks (SC_CORE, SC_SECURITY without encryption: TLS does
/// it, SC_NET with the I/O channel and one id per static channel).
pub fn connect_response(client: &ClientData, requested_protocols: u32) -> Vec<u8> {
    let mut sd = Vec::new();
    // SC_CORE: RDP 10.x, the client's requested protocols, no early flags.
    sd.extend(0x0c01u16.to_le_bytes());
    sd.extend(16u16.to_le_bytes());
    sd.extend(0x0008_000cu32.to_le_bytes());
    sd.extend(requested_protocols.to_le_bytes());
    sd.extend(0u32.to_le_bytes());
    // SC_SECURITY: ENCRYPTION_METHOD_NONE, ENCRYPTION_LEVEL_NONE.
    sd.extend(0x0c02u16.to_le_bytes());
    sd.extend(12u16.to_le_bytes());
    sd.extend(0u32.to_le_bytes());
    sd.extend(0u32.to_le_bytes());
    // SC_NET.
    let n = client.channels.len();
    let pad = n % 2;
    sd.extend(0x0c03u16.to_le_bytes());
    sd.extend(((8 + 2 * (n + pad)) as u16).to_le_bytes());
    sd.extend(IO_CHANNEL.to_le_bytes());
    sd.extend((n as u16).to_le_bytes());
    for i in 0..n {
        sd.extend(channel_id(i).to_le_bytes());
    }
    if pad == 1 {
        sd.extend(0u16.to_le_bytes());
    }

    let mut ccr = vec![0x14, 0x76, 0x0a, 0x01, 0x01, 0x00, 0x01, 0xc0, 0x00];
    ccr.extend_from_slice(b"McDn");
    per_len_write(&mut ccr, sd.len());
    ccr.extend_from_slice(&sd);
    let mut gcc = vec![0x00, 0x05, 0x00, 0x14, 0x7c, 0x00, 0x01];
    per_len_write(&mut gcc, ccr.len());
    gcc.extend_from_slice(&ccr);

    let mut body = Vec::new();
    ber_write(&mut body, &[0x0a], &[0]); // result: rt-successful
    ber_int(&mut body, 0); // calledConnectId
    let mut dp = Vec::new();
    for v in [34, 3, 0, 1, 0, 1, 65528, 2] {
        ber_int(&mut dp, v);
    }
    ber_write(&mut body, &[0x30], &dp);
    ber_write(&mut body, &[0x04], &gcc);
    let mut out = Vec::new();
    ber_write(&mut out, &[0x7f, 0x66], &body);
    x224_data(&out)
}

// ---------------------------------------------------------------- MCS domain

/// An MCS domain PDU from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Domain<'a> {
    ErectDomain,
    AttachUser,
    ChannelJoin { channel: u16 },
    SendData { channel: u16, data: &'a [u8] },
    Disconnect,
    Other(u8),
}

pub fn decode_domain(payload: &[u8]) -> Result<Domain<'_>, RdpError> {
    let mut r = Reader::new(payload);
    let t = r.u8()? >> 2;
    Ok(match t {
        1 => Domain::ErectDomain,
        8 => Domain::Disconnect,
        10 => Domain::AttachUser,
        14 => {
            let _initiator = r.u16_be()?;
            Domain::ChannelJoin {
                channel: r.u16_be()?,
            }
        }
        25 => {
            let _initiator = r.u16_be()?;
            let channel = r.u16_be()?;
            let _prio = r.u8()?;
            let n = per_len(&mut r)?;
            Domain::SendData {
                channel,
                data: r.bytes(n)?,
            }
        }
        t => Domain::Other(t),
    })
}

pub fn attach_user_confirm() -> Vec<u8> {
    let mut p = vec![0x2e, 0x00];
    p.extend((USER_CHANNEL - 1001).to_be_bytes());
    x224_data(&p)
}

pub fn channel_join_confirm(channel: u16) -> Vec<u8> {
    let mut p = vec![0x3e, 0x00];
    p.extend((USER_CHANNEL - 1001).to_be_bytes());
    p.extend(channel.to_be_bytes());
    p.extend(channel.to_be_bytes());
    x224_data(&p)
}

/// MCS Disconnect Provider Ultimatum (rn-user-requested).
pub fn disconnect_ultimatum() -> Vec<u8> {
    x224_data(&[0x21, 0x80])
}

/// MCS Send Data Indication from the server on `channel`.
pub fn send_data(channel: u16, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0x68];
    p.extend((SERVER_CHANNEL - 1001).to_be_bytes());
    p.extend(channel.to_be_bytes());
    p.push(0x70);
    per_len_write(&mut p, data.len());
    p.extend_from_slice(data);
    x224_data(&p)
}

// ---------------------------------------------------------------- security, licensing

/// SEC_INFO_PKT: the basic security header of a Client Info PDU.
pub const SEC_INFO_PKT: u16 = 0x0040;
const SEC_LICENSE_PKT: u16 = 0x0080;

/// Whether I/O channel data is a Client Info PDU (the basic security
/// header with SEC_INFO_PKT; Enhanced RDP Security sends that header only
/// with this PDU and licensing).
pub fn is_client_info(data: &[u8]) -> bool {
    data.len() >= 4 + 18 && u16::from_le_bytes([data[0], data[1]]) & SEC_INFO_PKT != 0
}

/// The licensing PDU Windows sends when no licence is needed: an error
/// alert with STATUS_VALID_CLIENT and ST_NO_TRANSITION.
pub fn license_valid_client() -> Vec<u8> {
    let mut d = Vec::new();
    d.extend(SEC_LICENSE_PKT.to_le_bytes());
    d.extend(0u16.to_le_bytes());
    d.extend([0xff, 0x03, 0x10, 0x00]);
    d.extend(7u32.to_le_bytes());
    d.extend(2u32.to_le_bytes());
    d.extend(4u16.to_le_bytes());
    d.extend(0u16.to_le_bytes());
    send_data(IO_CHANNEL, &d)
}

// ---------------------------------------------------------------- share PDUs

pub const SHARE_ID: u32 = 0x0001_03ea;

pub mod pdu_type {
    pub const DEMAND_ACTIVE: u16 = 0x1;
    pub const CONFIRM_ACTIVE: u16 = 0x3;
    pub const DEACTIVATE_ALL: u16 = 0x6;
    pub const DATA: u16 = 0x7;
}

pub mod data_type {
    pub const UPDATE: u8 = 2;
    pub const CONTROL: u8 = 20;
    pub const INPUT: u8 = 28;
    pub const SYNCHRONIZE: u8 = 31;
    pub const REFRESH_RECT: u8 = 33;
    pub const SUPPRESS_OUTPUT: u8 = 35;
    pub const SHUTDOWN_REQUEST: u8 = 36;
    pub const FONT_LIST: u8 = 39;
    pub const FONT_MAP: u8 = 40;
}

/// A share control PDU from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Share<'a> {
    ConfirmActive {
        /// The Bitmap capability set's preferredBitsPerPixel, if sent.
        bpp: Option<u16>,
    },
    Data {
        kind: u8,
        body: &'a [u8],
    },
    /// Flow control PDUs and other types fakedc ignores.
    Other(u16),
}

pub fn decode_share(data: &[u8]) -> Result<Share<'_>, RdpError> {
    let mut r = Reader::new(data);
    let total = r.u16_le()?;
    if total == 0x8000 {
        return Ok(Share::Other(0x8000));
    }
    let kind = r.u16_le()? & 0x0f;
    let _source = r.u16_le()?;
    match kind {
        pdu_type::CONFIRM_ACTIVE => {
            let _share = r.u32_le()?;
            let _originator = r.u16_le()?;
            let len_src = usize::from(r.u16_le()?);
            let _len_caps = r.u16_le()?;
            r.skip(len_src)?;
            let n = r.u16_le()?;
            r.skip(2)?;
            let mut bpp = None;
            for _ in 0..n {
                let t = r.u16_le()?;
                let len = usize::from(r.u16_le()?);
                if len < 4 {
                    return Err(perr("capability set shorter than its header"));
                }
                let mut c = r.sub(len - 4)?;
                if t == 2 {
                    bpp = Some(c.u16_le()?);
                }
            }
            Ok(Share::ConfirmActive { bpp })
        }
        pdu_type::DATA => {
            let _share = r.u32_le()?;
            r.skip(4)?; // pad, streamId, uncompressedLength
            let kind = r.u8()?;
            let compressed = r.u8()?;
            let _len = r.u16_le()?;
            if compressed & 0x20 != 0 {
                return Err(perr("compressed data PDU (no compression was negotiated)"));
            }
            Ok(Share::Data {
                kind,
                body: r.rest(),
            })
        }
        k => Ok(Share::Other(k)),
    }
}

fn share_control(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut d = Vec::with_capacity(body.len() + 6);
    d.extend(((body.len() + 6) as u16).to_le_bytes());
    d.extend((kind | 0x10).to_le_bytes());
    d.extend(SERVER_CHANNEL.to_le_bytes());
    d.extend_from_slice(body);
    send_data(IO_CHANNEL, &d)
}

/// A share data PDU of `kind` on the I/O channel.
pub fn share_data(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut d = Vec::with_capacity(body.len() + 12);
    d.extend(SHARE_ID.to_le_bytes());
    d.push(0);
    d.push(1); // STREAM_LOW
    d.extend(((body.len() + 18) as u16).to_le_bytes());
    d.push(kind);
    d.push(0);
    d.extend(0u16.to_le_bytes());
    d.extend_from_slice(body);
    share_control(pdu_type::DATA, &d)
}

fn cap(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    out.extend(kind.to_le_bytes());
    out.extend(((body.len() + 4) as u16).to_le_bytes());
    out.extend_from_slice(body);
}

/// Server Demand Active PDU with the capability sets a console needs:
/// general (fast-path output), bitmap (the console's size and `bpp`),
/// order (none), pointer, input (scancodes, Unicode, fast-path input),
/// virtual channel, share, font, multifragment update.
pub fn demand_active(width: u16, height: u16, bpp: u16) -> Vec<u8> {
    let mut caps = Vec::new();
    let mut n = 0u16;
    let mut add = |caps: &mut Vec<u8>, kind: u16, body: Vec<u8>| {
        cap(caps, kind, &body);
        n += 1;
    };
    let mut general = Vec::new();
    general.extend(1u16.to_le_bytes()); // OSMAJORTYPE_WINDOWS
    general.extend(3u16.to_le_bytes()); // OSMINORTYPE_WINDOWS_NT
    general.extend(0x0200u16.to_le_bytes());
    general.extend(0u16.to_le_bytes());
    general.extend(0u16.to_le_bytes());
    general.extend(0x0415u16.to_le_bytes()); // FASTPATH_OUTPUT, LONG_CREDENTIALS, NO_BITMAP_COMPRESSION_HDR, SALTED
    general.extend(0u16.to_le_bytes());
    general.extend(0u16.to_le_bytes());
    general.extend(0u16.to_le_bytes());
    general.push(1); // refreshRectSupport
    general.push(1); // suppressOutputSupport
    add(&mut caps, 1, general);

    let mut bitmap = Vec::new();
    for v in [bpp, 1, 1, 1, width, height, 0, 1, 1] {
        bitmap.extend(v.to_le_bytes());
    }
    bitmap.push(0);
    bitmap.push(0);
    bitmap.extend(1u16.to_le_bytes());
    bitmap.extend(0u16.to_le_bytes());
    add(&mut caps, 2, bitmap);

    let mut order = vec![0u8; 16 + 4];
    for v in [1u16, 20, 0, 1, 0, 0x0022] {
        order.extend(v.to_le_bytes());
    }
    order.extend([0u8; 32]);
    order.extend(0u16.to_le_bytes()); // textFlags
    order.extend(0u16.to_le_bytes()); // orderSupportExFlags
    order.extend(0u32.to_le_bytes());
    order.extend((480u32 * 480).to_le_bytes());
    order.extend([0u8; 4]);
    order.extend(0u16.to_le_bytes()); // textANSICodePage
    order.extend(0u16.to_le_bytes());
    add(&mut caps, 3, order);

    let mut pointer = Vec::new();
    for v in [1u16, 25, 25] {
        pointer.extend(v.to_le_bytes());
    }
    add(&mut caps, 8, pointer);

    let mut input = Vec::new();
    input.extend(0x003du16.to_le_bytes()); // SCANCODES, MOUSEX, FASTPATH_INPUT, UNICODE, FASTPATH_INPUT2
    input.extend(0u16.to_le_bytes());
    input.extend(0x0409u32.to_le_bytes());
    input.extend(4u32.to_le_bytes());
    input.extend(0u32.to_le_bytes());
    input.extend(12u32.to_le_bytes());
    input.extend([0u8; 64]);
    add(&mut caps, 13, input);

    let mut vc = Vec::new();
    vc.extend(0u32.to_le_bytes());
    vc.extend(1600u32.to_le_bytes());
    add(&mut caps, 20, vc);

    let mut share = Vec::new();
    share.extend(SERVER_CHANNEL.to_le_bytes());
    share.extend(0u16.to_le_bytes());
    add(&mut caps, 9, share);

    let mut font = Vec::new();
    font.extend(1u16.to_le_bytes());
    font.extend(0u16.to_le_bytes());
    add(&mut caps, 14, font);

    add(&mut caps, 26, (8u32 << 20).to_le_bytes().to_vec());

    let mut d = Vec::new();
    d.extend(SHARE_ID.to_le_bytes());
    d.extend(4u16.to_le_bytes());
    d.extend(((caps.len() + 4) as u16).to_le_bytes());
    d.extend(b"RDP\0");
    d.extend(n.to_le_bytes());
    d.extend(0u16.to_le_bytes());
    d.extend_from_slice(&caps);
    d.extend(0u32.to_le_bytes()); // sessionId
    share_control(pdu_type::DEMAND_ACTIVE, &d)
}

pub fn synchronize() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(1u16.to_le_bytes());
    b.extend(USER_CHANNEL.to_le_bytes());
    share_data(data_type::SYNCHRONIZE, &b)
}

/// Control PDU: COOPERATE (4) or GRANTED_CONTROL (2).
pub fn control(action: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(action.to_le_bytes());
    if action == 2 {
        b.extend(USER_CHANNEL.to_le_bytes());
        b.extend(u32::from(SERVER_CHANNEL).to_le_bytes());
    } else {
        b.extend(0u16.to_le_bytes());
        b.extend(0u32.to_le_bytes());
    }
    share_data(data_type::CONTROL, &b)
}

/// The client's Control PDU action.
pub fn control_action(body: &[u8]) -> Result<u16, RdpError> {
    Ok(Reader::new(body).u16_le()?)
}

pub fn font_map() -> Vec<u8> {
    let mut b = Vec::new();
    for v in [0u16, 0, 3, 4] {
        b.extend(v.to_le_bytes());
    }
    share_data(data_type::FONT_MAP, &b)
}

// ---------------------------------------------------------------- input

/// One input event, slow or fast path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Scancode {
        code: u8,
        extended: bool,
        release: bool,
    },
    Unicode {
        unit: u16,
        release: bool,
    },
    Mouse,
    Sync,
    Other,
}

/// Decodes a fast-path input PDU (one whole frame).
pub fn decode_fast_path_input(frame: &[u8]) -> Result<Vec<Input>, RdpError> {
    let mut r = Reader::new(frame);
    let h = r.u8()?;
    if h >> 6 != 0 {
        return Err(perr(
            "encrypted fast-path input (no RDP encryption was negotiated)",
        ));
    }
    let b1 = r.u8()?;
    if b1 & 0x80 != 0 {
        r.u8()?;
    }
    let mut count = usize::from((h >> 2) & 0x0f);
    if count == 0 {
        count = usize::from(r.u8()?);
    }
    let mut out = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let e = r.u8()?;
        let flags = e & 0x1f;
        out.push(match e >> 5 {
            0 => Input::Scancode {
                code: r.u8()?,
                extended: flags & 0x02 != 0,
                release: flags & 0x01 != 0,
            },
            1 | 2 => {
                r.skip(6)?;
                Input::Mouse
            }
            3 => Input::Sync,
            4 => Input::Unicode {
                unit: r.u16_le()?,
                release: flags & 0x01 != 0,
            },
            5 => {
                r.skip(6)?;
                Input::Mouse
            }
            6 => {
                r.skip(4)?;
                Input::Other
            }
            c => return Err(perr(format!("fast-path input event code {c}"))),
        });
    }
    Ok(out)
}

/// Decodes a slow-path Input PDU's body.
pub fn decode_slow_path_input(body: &[u8]) -> Result<Vec<Input>, RdpError> {
    let mut r = Reader::new(body);
    let n = usize::from(r.u16_le()?);
    r.skip(2)?;
    let mut out = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        r.skip(4)?; // eventTime
        let kind = r.u16_le()?;
        let flags = r.u16_le()?;
        let a = r.u16_le()?;
        let _b = r.u16_le()?;
        out.push(match kind {
            0 => Input::Sync,
            4 => Input::Scancode {
                code: a as u8,
                extended: flags & 0x0100 != 0,
                release: flags & 0x8000 != 0,
            },
            5 => Input::Unicode {
                unit: a,
                release: flags & 0x8000 != 0,
            },
            0x8001 | 0x8002 | 0x8004 => Input::Mouse,
            _ => Input::Other,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------- output

/// A fast-path update PDU holding one bitmap update: `rect` is
/// (left, top, width, height) and `pixels` the rectangle's
/// `0x00RRGGBB` pixels, top row first. At 32 bpp the bitmap is
/// compressed ([`crate::planar`]); at 15, 16 and 24 bpp it goes
/// uncompressed (rows bottom-up, as TS_BITMAP_DATA wants).
pub fn bitmap_update(rect: (u16, u16, u16, u16), pixels: &[u32], bpp: u16) -> Vec<u8> {
    let (x, y, w, h) = rect;
    let (data, flags) = if bpp == 32 {
        // BITMAP_COMPRESSION | NO_BITMAP_COMPRESSION_HDR (the general
        // capability set advertises the latter).
        let data = crate::planar::encode(pixels, usize::from(w), usize::from(h));
        (data, 0x0401)
    } else {
        (uncompressed(pixels, w, h, bpp), 0)
    };
    let mut upd = Vec::with_capacity(data.len() + 22);
    upd.extend(1u16.to_le_bytes()); // UPDATETYPE_BITMAP
    upd.extend(1u16.to_le_bytes());
    for v in [
        x,
        y,
        x + w - 1,
        y + h - 1,
        w,
        h,
        bpp,
        flags,
        data.len() as u16,
    ] {
        upd.extend(v.to_le_bytes());
    }
    upd.extend_from_slice(&data);
    let mut out = Vec::with_capacity(upd.len() + 6);
    out.push(0); // fpOutputHeader: fast path, not encrypted
    let total = upd.len() + 3 + 3;
    out.push(0x80 | (total >> 8) as u8);
    out.push(total as u8);
    out.push(0x01); // FASTPATH_UPDATETYPE_BITMAP, single fragment
    out.extend((upd.len() as u16).to_le_bytes());
    out.extend_from_slice(&upd);
    out
}

/// Fast-path system pointer updates (MS-RDPBCGR 2.2.9.1.2.1.5/6): the
/// default arrow (`visible`) or none.
pub fn pointer_system(visible: bool) -> Vec<u8> {
    // FASTPATH_UPDATETYPE_PTR_DEFAULT (0x6) or _PTR_NULL (0x5), no body.
    let code = if visible { 0x06 } else { 0x05 };
    vec![0, 0x05, code, 0, 0]
}

/// A bitmap's rows bottom-up at `bpp`, each padded to four bytes.
fn uncompressed(pixels: &[u32], w: u16, h: u16, bpp: u16) -> Vec<u8> {
    let bytes_pp = usize::from(bpp.div_ceil(8));
    let stride = (usize::from(w) * bytes_pp).div_ceil(4) * 4;
    let mut data = Vec::with_capacity(stride * usize::from(h));
    for row in (0..usize::from(h)).rev() {
        let start = data.len();
        for col in 0..usize::from(w) {
            let p = pixels.get(row * usize::from(w) + col).copied().unwrap_or(0);
            let (r, g, b) = ((p >> 16) as u8, (p >> 8) as u8, p as u8);
            match bpp {
                32 => data.extend([b, g, r, 0xff]),
                24 => data.extend([b, g, r]),
                15 => {
                    let v =
                        (u16::from(r >> 3) << 10) | (u16::from(g >> 3) << 5) | u16::from(b >> 3);
                    data.extend(v.to_le_bytes());
                }
                _ => {
                    let v =
                        (u16::from(r >> 3) << 11) | (u16::from(g >> 2) << 5) | u16::from(b >> 3);
                    data.extend(v.to_le_bytes());
                }
            }
        }
        data.resize(start + stride, 0);
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirm_selects_hybrid_as_windows() {
        assert_eq!(
            connection_confirm(PROTOCOL_HYBRID),
            [3, 0, 0, 0x13, 0x0e, 0xd0, 0, 0, 0x12, 0x34, 0, 2, 0x1f, 8, 0, 2, 0, 0, 0]
        );
    }

    #[test]
    fn cr_with_cookie_and_neg_req() {
        let mut p = vec![0, 0xe0, 0, 0, 0, 0, 0];
        p.extend(b"Cookie: mstshash=Administrator\r\n");
        p.extend([1, 0, 8, 0, 3, 0, 0, 0]);
        p[0] = (p.len() - 1) as u8;
        let f = tpkt(&p);
        let cr = decode_cr(&f).expect("cr");
        assert_eq!(cr.requested, Some(3));
        assert_eq!(cr.cookie.as_deref(), Some("Cookie: mstshash=Administrator"));
    }

    #[test]
    fn connect_initial_round_trip() {
        let c = ClientData {
            width: 1024,
            height: 768,
            client_name: "ws01".into(),
            keyboard_layout: 0x409,
            color_depth: 32,
            server_selected_protocol: PROTOCOL_HYBRID,
            channels: vec!["cliprdr".into(), "rdpsnd".into()],
        };
        let f = encode_connect_initial(&c);
        let got = decode_connect_initial(x224_payload(&f).expect("x224")).expect("ci");
        assert_eq!(got, c);
        for n in 0..f.len() {
            let _ = x224_payload(&f[..n]).map(decode_connect_initial);
        }
    }

    #[test]
    fn framing() {
        assert_eq!(
            frame(&[3, 0, 0, 19]).ok().flatten(),
            Some((FrameKind::Tpkt, 19))
        );
        assert_eq!(
            frame(&[0x04, 0x81, 0x00]).ok().flatten(),
            Some((FrameKind::FastPath, 256))
        );
        assert!(frame(&[0x01]).is_err());
        assert_eq!(frame(&[0x00]).ok().flatten(), None);
    }

    #[test]
    fn bitmap_update_length_fields_agree() {
        let px: Vec<u32> = (0..64 * 64).map(|i| i * 0x0101).collect();
        let b = bitmap_update((0, 0, 64, 64), &px, 24);
        assert_eq!(
            frame(&b).ok().flatten(),
            Some((FrameKind::FastPath, b.len()))
        );
        // Uncompressed, the first pixel written is the bottom row's: B G R.
        let bottom = px[63 * 64];
        assert_eq!(
            &b[6 + 22..6 + 25],
            &[bottom as u8, (bottom >> 8) as u8, (bottom >> 16) as u8]
        );
        // At 32 bpp: compressed (flags 0x0401) and decodable.
        let b = bitmap_update((0, 0, 64, 64), &px, 32);
        assert_eq!(
            frame(&b).ok().flatten(),
            Some((FrameKind::FastPath, b.len()))
        );
        assert_eq!(&b[6 + 18..6 + 20], &[0x01, 0x04]);
        let n = usize::from(u16::from_le_bytes([b[6 + 20], b[6 + 21]]));
        assert_eq!(n, b.len() - 6 - 22);
        let got = crate::planar::decode(&b[6 + 22..], 64, 64);
        assert_eq!(got.as_deref(), Some(&px[..]));
    }

    #[test]
    fn pointer_update_is_one_whole_fast_path_pdu() {
        for visible in [true, false] {
            let p = pointer_system(visible);
            assert_eq!(
                frame(&p).ok().flatten(),
                Some((FrameKind::FastPath, p.len()))
            );
        }
    }

    #[test]
    fn fast_path_scancodes() {
        // Two events: 'a' down, 'a' up.
        let f = [0x08, 0x06, 0x00, 0x1e, 0x01, 0x1e];
        let ev = decode_fast_path_input(&f).expect("input");
        assert_eq!(
            ev,
            vec![
                Input::Scancode {
                    code: 0x1e,
                    extended: false,
                    release: false
                },
                Input::Scancode {
                    code: 0x1e,
                    extended: false,
                    release: true
                }
            ]
        );
        assert!(decode_fast_path_input(&f[..5]).is_err());
    }
}
