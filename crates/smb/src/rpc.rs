//! Connection-oriented DCE/RPC (C706 12.6, MS-RPCE 2.2.2) as the named
//! pipes on IPC$ carry it: bind/bind_ack with NDR20 accepted, NDR64 and
//! bind-time feature negotiation answered as Windows does, requests
//! reassembled from fragments (bounded) and responses fragmented to the
//! client's max_recv_frag; and the `srvsvc` interface's NetrShareEnum
//! (opnum 15) and NetrShareGetInfo (opnum 16) in NDR20 (MS-SRVS 3.1.4).

use fakedc_wire::Reader;

pub const BIND: u8 = 11;
pub const BIND_ACK: u8 = 12;
pub const BIND_NAK: u8 = 13;
pub const ALTER_CONTEXT: u8 = 14;
pub const ALTER_CONTEXT_RESP: u8 = 15;
pub const REQUEST: u8 = 0;
pub const RESPONSE: u8 = 2;
pub const FAULT: u8 = 3;

pub const PFC_FIRST: u8 = 0x01;
pub const PFC_LAST: u8 = 0x02;
pub const PFC_OBJECT_UUID: u8 = 0x80;

/// nca_op_rng_error: the interface has no such operation.
pub const FAULT_OP_RNG: u32 = 0x1C01_0002;
/// nca_s_fault_ndr (a stub that does not decode).
pub const FAULT_NDR: u32 = 0x0000_06F7;
/// nca_proto_error.
pub const FAULT_PROTO: u32 = 0x1C01_000B;
/// nca_unk_if: no context for that presentation id.
pub const FAULT_UNK_IF: u32 = 0x1C01_0003;

/// wkssvc 6bffd098-a112-3610-9833-46c3f87e345a v1.0 (MS-WKST).
pub const WKSSVC: ([u8; 16], u32) = (uuid("6bffd098-a112-3610-9833-46c3f87e345a"), 1);

/// A request's stub larger than this is refused (fault), whatever the
/// fragments say.
pub const MAX_STUB: usize = 1 << 20;

/// NDR 2.0 transfer syntax.
pub const NDR20: ([u8; 16], u32) = (uuid("8a885d04-1ceb-11c9-9fe8-08002b104860"), 2);
/// SRVSVC interface 4b324fc8-1670-01d3-1278-5a47bf6ee188 v3.0.
pub const SRVSVC: ([u8; 16], u32) = (uuid("4b324fc8-1670-01d3-1278-5a47bf6ee188"), 3);

/// A UUID in its wire form (first three fields little-endian), from the
/// usual text; used on constants only, so a bad literal fails the build.
pub const fn uuid(s: &str) -> [u8; 16] {
    let b = s.as_bytes();
    let mut raw = [0u8; 16];
    let mut i = 0;
    let mut n = 0;
    while i < b.len() {
        if b[i] != b'-' {
            let hi = hex(b[i]);
            let lo = hex(b[i + 1]);
            raw[n] = (hi << 4) | lo;
            n += 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    [
        raw[3], raw[2], raw[1], raw[0], raw[5], raw[4], raw[7], raw[6], raw[8], raw[9], raw[10],
        raw[11], raw[12], raw[13], raw[14], raw[15],
    ]
}

const fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("bad hex digit in a UUID constant"),
    }
}

/// A PDU's common header (C706 12.6.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PduHeader {
    pub ptype: u8,
    pub flags: u8,
    pub drep: [u8; 4],
    pub frag_len: u16,
    pub auth_len: u16,
    pub call_id: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    #[error(transparent)]
    Wire(#[from] fakedc_wire::Error),
    #[error("RPC version {0}.{1}")]
    Version(u8, u8),
    #[error("{0}")]
    Invalid(&'static str),
}

pub const HEADER_LEN: usize = 16;

impl PduHeader {
    pub fn parse(r: &mut Reader<'_>) -> Result<PduHeader, RpcError> {
        let vers = r.u8()?;
        let minor = r.u8()?;
        let ptype = r.u8()?;
        let flags = r.u8()?;
        let drep = r.array::<4>()?;
        let frag_len = r.u16_le()?;
        let auth_len = r.u16_le()?;
        let call_id = r.u32_le()?;
        if vers != 5 || minor > 1 {
            return Err(RpcError::Version(vers, minor));
        }
        if drep[0] & 0xF0 != 0x10 {
            return Err(RpcError::Invalid("big-endian data representation"));
        }
        if usize::from(frag_len) < HEADER_LEN {
            return Err(RpcError::Invalid("frag_length below the header"));
        }
        Ok(PduHeader {
            ptype,
            flags,
            drep,
            frag_len,
            auth_len,
            call_id,
        })
    }
}

fn header(out: &mut Vec<u8>, ptype: u8, flags: u8, call_id: u32) {
    out.extend_from_slice(&[5, 0, ptype, flags, 0x10, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&call_id.to_le_bytes());
}

fn patch_len(out: &mut [u8]) {
    let n = u16::try_from(out.len()).unwrap_or(u16::MAX);
    if let Some(f) = out.get_mut(8..10) {
        f.copy_from_slice(&n.to_le_bytes());
    }
}

/// One presentation context of a bind.
#[derive(Debug, Clone)]
pub struct Context {
    pub id: u16,
    pub abstract_syntax: ([u8; 16], u32),
    pub transfer: Vec<([u8; 16], u32)>,
}

/// A bind or alter_context body.
#[derive(Debug, Clone)]
pub struct Bind {
    pub max_xmit: u16,
    pub max_recv: u16,
    pub assoc_group: u32,
    pub contexts: Vec<Context>,
}

impl Bind {
    pub fn parse(r: &mut Reader<'_>) -> Result<Bind, RpcError> {
        let max_xmit = r.u16_le()?;
        let max_recv = r.u16_le()?;
        let assoc_group = r.u32_le()?;
        let n = r.u8()?;
        r.skip(3)?;
        let mut contexts = Vec::new();
        for _ in 0..n {
            let id = r.u16_le()?;
            let nt = r.u8()?;
            r.skip(1)?;
            let abstract_syntax = (r.array::<16>()?, r.u32_le()?);
            let mut transfer = Vec::new();
            for _ in 0..nt {
                transfer.push((r.array::<16>()?, r.u32_le()?));
            }
            contexts.push(Context {
                id,
                abstract_syntax,
                transfer,
            });
        }
        Ok(Bind {
            max_xmit,
            max_recv,
            assoc_group,
            contexts,
        })
    }
}

/// The bind-time feature negotiation syntax prefix (MS-RPCE 3.3.1.5.3).
const BTFN_PREFIX: [u8; 8] = [0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45];

/// The result of one context: (result, reason, transfer syntax).
pub fn context_result(ctx: &Context, known: &[([u8; 16], u32)]) -> (u16, u16, [u8; 16], u32) {
    if !known.contains(&ctx.abstract_syntax) {
        // provider rejection, abstract syntax not supported
        return (2, 1, [0; 16], 0);
    }
    if let Some(t) = ctx.transfer.iter().find(|t| **t == NDR20) {
        return (0, 0, t.0, t.1);
    }
    if ctx.transfer.iter().any(|t| t.0[..8] == BTFN_PREFIX) {
        // negotiate_ack: no features (security context multiplexing and
        // keep-orphan are not offered).
        return (3, 0, [0; 16], 0);
    }
    // provider rejection, proposed transfer syntaxes not supported
    (2, 2, [0; 16], 0)
}

/// bind_ack (or alter_context_resp) for `bind`, with `sec_addr` (the pipe
/// name or port) and the accepted contexts.
pub fn bind_ack(
    ptype: u8,
    call_id: u32,
    bind: &Bind,
    assoc_group: u32,
    sec_addr: &str,
    known: &[([u8; 16], u32)],
) -> Vec<u8> {
    let mut out = Vec::new();
    header(&mut out, ptype, PFC_FIRST | PFC_LAST, call_id);
    out.extend_from_slice(&bind.max_xmit.min(4280).to_le_bytes());
    out.extend_from_slice(&bind.max_recv.min(4280).to_le_bytes());
    out.extend_from_slice(&assoc_group.to_le_bytes());
    if ptype == BIND_ACK {
        let addr: Vec<u8> = sec_addr.bytes().chain([0]).collect();
        out.extend_from_slice(&u16::try_from(addr.len()).unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&addr);
    } else {
        out.extend_from_slice(&0u16.to_le_bytes());
    }
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    out.push(u8::try_from(bind.contexts.len()).unwrap_or(0));
    out.extend_from_slice(&[0, 0, 0]);
    for c in &bind.contexts {
        let (result, reason, syntax, ver) = context_result(c, known);
        out.extend_from_slice(&result.to_le_bytes());
        out.extend_from_slice(&reason.to_le_bytes());
        out.extend_from_slice(&syntax);
        out.extend_from_slice(&ver.to_le_bytes());
    }
    patch_len(&mut out);
    out
}

/// bind_nak with a reason; `versions` lists 5.0 as Windows does for an
/// unsupported protocol version (reason 4).
pub fn bind_nak(call_id: u32, reason: u16) -> Vec<u8> {
    let mut out = Vec::new();
    header(&mut out, BIND_NAK, PFC_FIRST | PFC_LAST, call_id);
    out.extend_from_slice(&reason.to_le_bytes());
    out.extend_from_slice(&[1, 5, 0]);
    out.extend_from_slice(&[0, 0, 0]);
    patch_len(&mut out);
    out
}

/// A request PDU's body.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub alloc_hint: u32,
    pub context_id: u16,
    pub opnum: u16,
    pub stub: &'a [u8],
}

impl<'a> Request<'a> {
    /// `r` stands after the common header and holds exactly the PDU.
    pub fn parse(h: &PduHeader, r: &mut Reader<'a>) -> Result<Request<'a>, RpcError> {
        let alloc_hint = r.u32_le()?;
        let context_id = r.u16_le()?;
        let opnum = r.u16_le()?;
        if h.flags & PFC_OBJECT_UUID != 0 {
            r.skip(16)?;
        }
        let auth = usize::from(h.auth_len);
        let rest = r.rest();
        let stub = if auth > 0 {
            rest.get(..rest.len().saturating_sub(auth + 8))
                .ok_or(RpcError::Invalid("auth_length past the PDU"))?
        } else {
            rest
        };
        Ok(Request {
            alloc_hint,
            context_id,
            opnum,
            stub,
        })
    }
}

/// Response PDUs carrying `stub`, fragmented to `max_frag` bytes each.
pub fn response(call_id: u32, context_id: u16, stub: &[u8], max_frag: u16) -> Vec<u8> {
    let room = usize::from(max_frag.max(64)) - 24;
    let mut out = Vec::new();
    let chunks: Vec<&[u8]> = if stub.is_empty() {
        vec![&[][..]]
    } else {
        stub.chunks(room).collect()
    };
    let last = chunks.len() - 1;
    let mut left = stub.len();
    for (i, c) in chunks.iter().enumerate() {
        let mut f = Vec::with_capacity(24 + c.len());
        let mut flags = 0;
        if i == 0 {
            flags |= PFC_FIRST;
        }
        if i == last {
            flags |= PFC_LAST;
        }
        header(&mut f, RESPONSE, flags, call_id);
        f.extend_from_slice(&u32::try_from(left).unwrap_or(u32::MAX).to_le_bytes());
        f.extend_from_slice(&context_id.to_le_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(c);
        patch_len(&mut f);
        out.extend(f);
        left -= c.len();
    }
    out
}

/// A fault PDU.
pub fn fault(call_id: u32, context_id: u16, status: u32) -> Vec<u8> {
    let mut out = Vec::new();
    header(&mut out, FAULT, PFC_FIRST | PFC_LAST | 0x20, call_id);
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&context_id.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    patch_len(&mut out);
    out
}

/// One share as srvsvc lists it.
#[derive(Debug, Clone)]
pub struct ShareInfo {
    pub name: String,
    pub share_type: u32,
    pub remark: String,
}

/// STYPE_* values.
pub const STYPE_DISKTREE: u32 = 0;
pub const STYPE_IPC: u32 = 3;
pub const STYPE_SPECIAL: u32 = 0x8000_0000;

/// Win32 errors returned in the stubs.
pub const ERROR_INVALID_LEVEL: u32 = 124;
pub const NERR_NET_NAME_NOT_FOUND: u32 = 2310;

/// NDR20 writer helpers: a conformant varying wide string with its
/// terminating NUL, aligned to 4 afterwards.
fn ndr_wstr(out: &mut Vec<u8>, s: &str) {
    let units: Vec<u16> = s.encode_utf16().chain([0]).collect();
    let n = u32::try_from(units.len()).unwrap_or(0);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    for u in units {
        out.extend_from_slice(&u.to_le_bytes());
    }
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// Reads a conformant varying wide string (the referent already read).
fn read_wstr(r: &mut Reader<'_>) -> Result<String, RpcError> {
    r.align(4)?;
    let _max = r.u32_le()?;
    let offset = r.u32_le()?;
    let actual = r.u32_le()? as usize;
    if offset != 0 || actual > 4096 {
        return Err(RpcError::Invalid("string bounds"));
    }
    let s = r.utf16le_lossy(actual)?;
    r.align(4)?;
    Ok(s.trim_end_matches('\0').to_string())
}

/// NetrShareEnum's reply stub for the request `stub`.
pub fn netr_share_enum(stub: &[u8], shares: &[ShareInfo]) -> Result<Vec<u8>, RpcError> {
    let mut r = Reader::new(stub);
    // ServerName: [in, string, unique] wchar_t*
    if r.u32_le()? != 0 {
        read_wstr(&mut r)?;
    }
    let level = r.u32_le()?;
    let _switch = r.u32_le()?;
    let mut out = Vec::new();
    out.extend_from_slice(&level.to_le_bytes());
    out.extend_from_slice(&level.to_le_bytes());
    let n = u32::try_from(shares.len()).unwrap_or(0);
    match level {
        0 | 1 => {
            out.extend_from_slice(&0x0002_0000u32.to_le_bytes());
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(&0x0002_0004u32.to_le_bytes());
            out.extend_from_slice(&n.to_le_bytes());
            let mut referent = 0x0002_0008u32;
            for s in shares {
                out.extend_from_slice(&referent.to_le_bytes());
                referent += 4;
                if level == 1 {
                    out.extend_from_slice(&s.share_type.to_le_bytes());
                    out.extend_from_slice(&referent.to_le_bytes());
                    referent += 4;
                }
            }
            for s in shares {
                ndr_wstr(&mut out, &s.name);
                if level == 1 {
                    ndr_wstr(&mut out, &s.remark);
                }
            }
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
        }
        _ => {
            // An empty union arm and ERROR_INVALID_LEVEL, as Windows.
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&ERROR_INVALID_LEVEL.to_le_bytes());
            return Ok(out);
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    Ok(out)
}

/// NetrShareGetInfo's reply stub (levels 0 and 1).
pub fn netr_share_get_info(stub: &[u8], shares: &[ShareInfo]) -> Result<Vec<u8>, RpcError> {
    let mut r = Reader::new(stub);
    if r.u32_le()? != 0 {
        read_wstr(&mut r)?;
    }
    let name = read_wstr(&mut r)?;
    let level = r.u32_le()?;
    let mut out = Vec::new();
    out.extend_from_slice(&level.to_le_bytes());
    let Some(s) = shares.iter().find(|s| s.name.eq_ignore_ascii_case(&name)) else {
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&NERR_NET_NAME_NOT_FOUND.to_le_bytes());
        return Ok(out);
    };
    match level {
        0 | 1 => {
            out.extend_from_slice(&0x0002_0000u32.to_le_bytes());
            out.extend_from_slice(&0x0002_0004u32.to_le_bytes());
            if level == 1 {
                out.extend_from_slice(&s.share_type.to_le_bytes());
                out.extend_from_slice(&0x0002_0008u32.to_le_bytes());
            }
            ndr_wstr(&mut out, &s.name);
            if level == 1 {
                ndr_wstr(&mut out, &s.remark);
            }
            out.extend_from_slice(&0u32.to_le_bytes());
        }
        _ => {
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&ERROR_INVALID_LEVEL.to_le_bytes());
        }
    }
    Ok(out)
}

/// One pipe's RPC state: the bound contexts and a request being
/// reassembled.
#[derive(Debug, Default)]
pub struct PipeRpc {
    /// Bound presentation contexts: (id, index into the interface's
    /// syntaxes).
    contexts: Vec<(u16, usize)>,
    max_xmit: u16,
    partial: Vec<u8>,
    partial_call: Option<(u32, u16, u16)>,
}

/// What the pipe's (or port's) interfaces answer.
pub trait Interface {
    /// The (uuid, version) pairs served: one per named pipe, several on
    /// 135 (the endpoint mapper and the DCOM object exporter).
    fn syntaxes(&self) -> Vec<([u8; 16], u32)>;
    /// The bind_ack's secondary address (`\PIPE\srvsvc`).
    fn sec_addr(&self) -> &str;
    /// The reply stub for one call on `syntaxes()[syntax]`, or a fault
    /// status.
    fn call(&self, syntax: usize, opnum: u16, stub: &[u8]) -> Result<Vec<u8>, u32>;
}

impl PipeRpc {
    /// Which of the interface's syntaxes a bound context id names.
    pub fn syntax_of(&self, context_id: u16) -> Option<usize> {
        self.contexts
            .iter()
            .find(|(id, _)| *id == context_id)
            .map(|(_, i)| *i)
    }

    /// Feeds one PDU written to the pipe; returns what the pipe answers
    /// (possibly nothing, for a non-final fragment).
    pub fn feed(&mut self, pdu: &[u8], iface: &dyn Interface) -> Result<Vec<u8>, RpcError> {
        let mut r = Reader::new(pdu);
        let h = PduHeader::parse(&mut r)?;
        let body_len = usize::from(h.frag_len)
            .checked_sub(HEADER_LEN)
            .ok_or(RpcError::Invalid("frag_length"))?;
        let mut body = r.sub(body_len)?;
        match h.ptype {
            BIND | ALTER_CONTEXT => {
                let b = Bind::parse(&mut body)?;
                self.max_xmit = b.max_recv.clamp(64, 4280);
                let known = iface.syntaxes();
                for c in &b.contexts {
                    let Some(i) = known.iter().position(|k| *k == c.abstract_syntax) else {
                        continue;
                    };
                    if context_result(c, &known).0 == 0
                        && !self.contexts.iter().any(|(id, _)| *id == c.id)
                    {
                        self.contexts.push((c.id, i));
                    }
                }
                let ptype = if h.ptype == BIND {
                    BIND_ACK
                } else {
                    ALTER_CONTEXT_RESP
                };
                let group = if b.assoc_group == 0 {
                    0x0001_2345
                } else {
                    b.assoc_group
                };
                Ok(bind_ack(
                    ptype,
                    h.call_id,
                    &b,
                    group,
                    iface.sec_addr(),
                    &known,
                ))
            }
            REQUEST => {
                let req = Request::parse(&h, &mut body)?;
                let Some(&(_, syntax)) = self.contexts.iter().find(|(id, _)| *id == req.context_id)
                else {
                    return Ok(fault(h.call_id, req.context_id, FAULT_UNK_IF));
                };
                if h.flags & PFC_FIRST != 0 {
                    self.partial.clear();
                    self.partial_call = Some((h.call_id, req.context_id, req.opnum));
                }
                if self.partial_call.map(|c| c.0) != Some(h.call_id) {
                    return Ok(fault(h.call_id, req.context_id, FAULT_PROTO));
                }
                if self.partial.len() + req.stub.len() > MAX_STUB {
                    self.partial.clear();
                    self.partial_call = None;
                    return Ok(fault(h.call_id, req.context_id, FAULT_PROTO));
                }
                self.partial.extend_from_slice(req.stub);
                if h.flags & PFC_LAST == 0 {
                    return Ok(Vec::new());
                }
                let stub = std::mem::take(&mut self.partial);
                self.partial_call = None;
                Ok(match iface.call(syntax, req.opnum, &stub) {
                    Ok(reply) => response(h.call_id, req.context_id, &reply, self.max_xmit),
                    Err(status) => fault(h.call_id, req.context_id, status),
                })
            }
            _ => Ok(fault(h.call_id, 0, FAULT_PROTO)),
        }
    }
}

/// `srvsvc` over the machine's share list.
pub struct Srvsvc<'a> {
    pub shares: &'a [ShareInfo],
}

impl Interface for Srvsvc<'_> {
    fn syntaxes(&self) -> Vec<([u8; 16], u32)> {
        vec![SRVSVC]
    }

    fn sec_addr(&self) -> &str {
        "\\PIPE\\srvsvc"
    }

    fn call(&self, _syntax: usize, opnum: u16, stub: &[u8]) -> Result<Vec<u8>, u32> {
        match opnum {
            15 => netr_share_enum(stub, self.shares).map_err(|_| FAULT_NDR),
            16 => netr_share_get_info(stub, self.shares).map_err(|_| FAULT_NDR),
            _ => Err(FAULT_OP_RNG),
        }
    }
}

/// `wkssvc` (MS-WKST) over the machine's names: NetrWkstaGetInfo
/// (opnum 0) at levels 100 and 101. Level 502 (administrators only on
/// Windows) is not built: ERROR_NOT_SUPPORTED for administrators,
/// ERROR_ACCESS_DENIED for others. Other operations fault
/// nca_op_rng_error; `/about` lists what is built.
pub struct Wkssvc<'a> {
    /// The computer's NetBIOS name.
    pub computer: &'a str,
    /// Its domain or workgroup (NetBIOS).
    pub domain: &'a str,
    /// The caller is an administrator.
    pub admin: bool,
}

/// Win32 errors of wkssvc.
pub const ERROR_ACCESS_DENIED: u32 = 5;
pub const ERROR_NOT_SUPPORTED: u32 = 50;

/// PLATFORM_ID_NT, and the version Windows Server 2016-2022 report (10.0).
const PLATFORM_ID_NT: u32 = 500;
const VERSION: (u32, u32) = (10, 0);

/// NetrWkstaGetInfo's reply stub.
pub fn netr_wksta_get_info(stub: &[u8], w: &Wkssvc<'_>) -> Result<Vec<u8>, RpcError> {
    let mut r = Reader::new(stub);
    if r.u32_le()? != 0 {
        read_wstr(&mut r)?;
    }
    let level = r.u32_le()?;
    let mut out = Vec::new();
    out.extend_from_slice(&level.to_le_bytes());
    let error = match level {
        100 | 101 => {
            out.extend_from_slice(&0x0002_0000u32.to_le_bytes());
            out.extend_from_slice(&PLATFORM_ID_NT.to_le_bytes());
            out.extend_from_slice(&0x0002_0004u32.to_le_bytes());
            out.extend_from_slice(&0x0002_0008u32.to_le_bytes());
            out.extend_from_slice(&VERSION.0.to_le_bytes());
            out.extend_from_slice(&VERSION.1.to_le_bytes());
            if level == 101 {
                // wki101_lanroot: Windows has no LAN Manager root.
                out.extend_from_slice(&0u32.to_le_bytes());
            }
            ndr_wstr(&mut out, w.computer);
            ndr_wstr(&mut out, w.domain);
            out.extend_from_slice(&0u32.to_le_bytes());
            return Ok(out);
        }
        502 if w.admin => ERROR_NOT_SUPPORTED,
        502 => ERROR_ACCESS_DENIED,
        _ => ERROR_INVALID_LEVEL,
    };
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&error.to_le_bytes());
    Ok(out)
}

impl Interface for Wkssvc<'_> {
    fn syntaxes(&self) -> Vec<([u8; 16], u32)> {
        vec![WKSSVC]
    }

    fn sec_addr(&self) -> &str {
        "\\PIPE\\wkssvc"
    }

    fn call(&self, _syntax: usize, opnum: u16, stub: &[u8]) -> Result<Vec<u8>, u32> {
        match opnum {
            0 => netr_wksta_get_info(stub, self).map_err(|_| FAULT_NDR),
            _ => Err(FAULT_OP_RNG),
        }
    }
}

/// The length of the PDU at the start of `buf`, if its header is there.
pub fn pdu_len(buf: &[u8]) -> Option<usize> {
    let b = buf.get(8..10)?;
    Some(usize::from(u16::from_le_bytes([b[0], b[1]])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind_pdu(syntax: ([u8; 16], u32), transfer: ([u8; 16], u32)) -> Vec<u8> {
        let mut out = Vec::new();
        header(&mut out, BIND, 3, 1);
        out.extend_from_slice(&4280u16.to_le_bytes());
        out.extend_from_slice(&4280u16.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&[1, 0, 0, 0]);
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&syntax.0);
        out.extend_from_slice(&syntax.1.to_le_bytes());
        out.extend_from_slice(&transfer.0);
        out.extend_from_slice(&transfer.1.to_le_bytes());
        patch_len(&mut out);
        out
    }

    fn shares() -> Vec<ShareInfo> {
        vec![
            ShareInfo {
                name: "ADMIN$".into(),
                share_type: STYPE_SPECIAL,
                remark: "Remote Admin".into(),
            },
            ShareInfo {
                name: "IPC$".into(),
                share_type: STYPE_SPECIAL | STYPE_IPC,
                remark: "Remote IPC".into(),
            },
        ]
    }

    #[test]
    fn uuid_wire_form() {
        assert_eq!(
            NDR20.0,
            [
                0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10,
                0x48, 0x60
            ]
        );
    }

    #[test]
    fn bind_then_share_enum() {
        let shares = shares();
        let iface = Srvsvc { shares: &shares };
        let mut p = PipeRpc::default();
        let ack = p.feed(&bind_pdu(SRVSVC, NDR20), &iface).unwrap();
        assert_eq!(ack[2], BIND_ACK);
        assert_eq!(pdu_len(&ack), Some(ack.len()));
        // result 0 for the one context
        let n = ack.len();
        assert_eq!(&ack[n - 24..n - 20], &[0, 0, 0, 0]);
        // NetrShareEnum level 1, null server name
        let mut stub = Vec::new();
        for v in [0u32, 1, 1, 0x20000, 0, 0, 0xFFFF_FFFF, 0] {
            stub.extend_from_slice(&v.to_le_bytes());
        }
        let mut req = Vec::new();
        header(&mut req, REQUEST, 3, 2);
        req.extend_from_slice(&(stub.len() as u32).to_le_bytes());
        req.extend_from_slice(&0u16.to_le_bytes());
        req.extend_from_slice(&15u16.to_le_bytes());
        req.extend_from_slice(&stub);
        patch_len(&mut req);
        let resp = p.feed(&req, &iface).unwrap();
        assert_eq!(resp[2], RESPONSE);
        let text = String::from_utf16_lossy(
            &resp
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect::<Vec<_>>(),
        );
        let _ = text;
        // WERROR 0 at the end
        assert_eq!(&resp[resp.len() - 4..], &[0, 0, 0, 0]);
        // unknown opnum -> fault
        req[22] = 99;
        assert_eq!(p.feed(&req, &iface).unwrap()[2], FAULT);
    }

    #[test]
    fn ndr64_only_and_other_interfaces_are_rejected() {
        let shares = shares();
        let iface = Srvsvc { shares: &shares };
        let ndr64 = (uuid("71710533-beba-4937-8319-b5dbef9ccc36"), 1);
        let ack = PipeRpc::default()
            .feed(&bind_pdu(SRVSVC, ndr64), &iface)
            .unwrap();
        let n = ack.len();
        assert_eq!(&ack[n - 24..n - 20], &[2, 0, 2, 0]);
        let other = (uuid("12345678-1234-abcd-ef00-0123456789ab"), 1);
        let ack = PipeRpc::default()
            .feed(&bind_pdu(other, NDR20), &iface)
            .unwrap();
        let n = ack.len();
        assert_eq!(&ack[n - 24..n - 20], &[2, 0, 1, 0]);
    }

    #[test]
    fn garbage_never_panics() {
        let shares = shares();
        let iface = Srvsvc { shares: &shares };
        let good = bind_pdu(SRVSVC, NDR20);
        for n in 0..good.len() {
            let _ = PipeRpc::default().feed(&good[..n], &iface);
        }
        let _ = netr_share_enum(&[0xFF; 40], &shares);
        let _ = netr_share_get_info(&[1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF], &shares);
    }
}
