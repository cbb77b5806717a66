//! SMB2 messages (MS-SMB2 2.2): the 64-byte header, command codes,
//! NTSTATUS values as Windows returns them, and the request bodies the
//! server reads, each parsed with its offsets and lengths checked against
//! the message. Response bodies are written by [`crate::conn`] with
//! [`fakedc_wire::Writer`].

use fakedc_wire::Reader;

pub const PROTOCOL_ID: [u8; 4] = [0xFE, b'S', b'M', b'B'];
pub const SMB1_ID: [u8; 4] = [0xFF, b'S', b'M', b'B'];
pub const HEADER_LEN: usize = 64;

/// Header flags.
pub const FLAG_RESPONSE: u32 = 0x1;
pub const FLAG_ASYNC: u32 = 0x2;
pub const FLAG_RELATED: u32 = 0x4;
pub const FLAG_SIGNED: u32 = 0x8;

/// Dialects.
pub const SMB202: u16 = 0x0202;
pub const SMB210: u16 = 0x0210;
pub const SMB300: u16 = 0x0300;
pub const SMB302: u16 = 0x0302;
pub const SMB311: u16 = 0x0311;
pub const SMB2FF: u16 = 0x02FF;

/// Commands (MS-SMB2 2.2.1.2).
pub mod cmd {
    pub const NEGOTIATE: u16 = 0x00;
    pub const SESSION_SETUP: u16 = 0x01;
    pub const LOGOFF: u16 = 0x02;
    pub const TREE_CONNECT: u16 = 0x03;
    pub const TREE_DISCONNECT: u16 = 0x04;
    pub const CREATE: u16 = 0x05;
    pub const CLOSE: u16 = 0x06;
    pub const FLUSH: u16 = 0x07;
    pub const READ: u16 = 0x08;
    pub const WRITE: u16 = 0x09;
    pub const LOCK: u16 = 0x0A;
    pub const IOCTL: u16 = 0x0B;
    pub const CANCEL: u16 = 0x0C;
    pub const ECHO: u16 = 0x0D;
    pub const QUERY_DIRECTORY: u16 = 0x0E;
    pub const CHANGE_NOTIFY: u16 = 0x0F;
    pub const QUERY_INFO: u16 = 0x10;
    pub const SET_INFO: u16 = 0x11;
    pub const OPLOCK_BREAK: u16 = 0x12;

    pub fn name(c: u16) -> &'static str {
        match c {
            NEGOTIATE => "NEGOTIATE",
            SESSION_SETUP => "SESSION_SETUP",
            LOGOFF => "LOGOFF",
            TREE_CONNECT => "TREE_CONNECT",
            TREE_DISCONNECT => "TREE_DISCONNECT",
            CREATE => "CREATE",
            CLOSE => "CLOSE",
            FLUSH => "FLUSH",
            READ => "READ",
            WRITE => "WRITE",
            LOCK => "LOCK",
            IOCTL => "IOCTL",
            CANCEL => "CANCEL",
            ECHO => "ECHO",
            QUERY_DIRECTORY => "QUERY_DIRECTORY",
            CHANGE_NOTIFY => "CHANGE_NOTIFY",
            QUERY_INFO => "QUERY_INFO",
            SET_INFO => "SET_INFO",
            OPLOCK_BREAK => "OPLOCK_BREAK",
            _ => "UNKNOWN",
        }
    }
}

/// NTSTATUS values (MS-ERREF 2.3.1) the server answers with.
pub mod status {
    pub const SUCCESS: u32 = 0x0000_0000;
    pub const PENDING: u32 = 0x0000_0103;
    pub const NO_MORE_FILES: u32 = 0x8000_0006;
    pub const BUFFER_OVERFLOW: u32 = 0x8000_0005;
    pub const INVALID_INFO_CLASS: u32 = 0xC000_0003;
    pub const INFO_LENGTH_MISMATCH: u32 = 0xC000_0004;
    pub const INVALID_HANDLE: u32 = 0xC000_0008;
    pub const INVALID_PARAMETER: u32 = 0xC000_000D;
    pub const NO_SUCH_FILE: u32 = 0xC000_000F;
    pub const INVALID_DEVICE_REQUEST: u32 = 0xC000_0010;
    pub const END_OF_FILE: u32 = 0xC000_0011;
    pub const MORE_PROCESSING_REQUIRED: u32 = 0xC000_0016;
    pub const ACCESS_DENIED: u32 = 0xC000_0022;
    pub const BUFFER_TOO_SMALL: u32 = 0xC000_0023;
    pub const OBJECT_NAME_INVALID: u32 = 0xC000_0033;
    pub const OBJECT_NAME_NOT_FOUND: u32 = 0xC000_0034;
    pub const OBJECT_NAME_COLLISION: u32 = 0xC000_0035;
    pub const OBJECT_PATH_NOT_FOUND: u32 = 0xC000_003A;
    pub const OBJECT_PATH_SYNTAX_BAD: u32 = 0xC000_003B;
    pub const SHARING_VIOLATION: u32 = 0xC000_0043;
    pub const DELETE_PENDING: u32 = 0xC000_0056;
    pub const LOGON_FAILURE: u32 = 0xC000_006D;
    pub const DISK_FULL: u32 = 0xC000_007F;
    pub const FILE_IS_A_DIRECTORY: u32 = 0xC000_00BA;
    pub const NOT_SUPPORTED: u32 = 0xC000_00BB;
    pub const INSUFFICIENT_RESOURCES: u32 = 0xC000_009A;
    pub const LOCK_NOT_GRANTED: u32 = 0xC000_0055;
    pub const FILE_LOCK_CONFLICT: u32 = 0xC000_0054;
    pub const RANGE_NOT_LOCKED: u32 = 0xC000_007E;
    pub const INVALID_LOCK_RANGE: u32 = 0xC000_01A1;
    pub const BAD_NETWORK_NAME: u32 = 0xC000_00CC;
    pub const REQUEST_NOT_ACCEPTED: u32 = 0xC000_00D0;
    pub const INTERNAL_ERROR: u32 = 0xC000_00E5;
    pub const DIRECTORY_NOT_EMPTY: u32 = 0xC000_0101;
    pub const NOT_A_DIRECTORY: u32 = 0xC000_0103;
    pub const CANCELLED: u32 = 0xC000_0120;
    pub const FILE_CLOSED: u32 = 0xC000_0128;
    pub const USER_SESSION_DELETED: u32 = 0xC000_0203;
    pub const NETWORK_NAME_DELETED: u32 = 0xC000_00C9;
    pub const FS_DRIVER_REQUIRED: u32 = 0xC000_019C;
    pub const NOT_FOUND: u32 = 0xC000_0225;
    pub const NETWORK_SESSION_EXPIRED: u32 = 0xC000_035C;
}

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error(transparent)]
    Wire(#[from] fakedc_wire::Error),
    #[error("{0}")]
    Invalid(&'static str),
}

pub type Result<T> = std::result::Result<T, ProtoError>;

/// The SMB2 header (sync or async form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    pub credit_charge: u16,
    /// ChannelSequence/Status: a request's channel sequence, a response's status.
    pub status: u32,
    pub command: u16,
    pub credits: u16,
    pub flags: u32,
    pub next_command: u32,
    pub message_id: u64,
    /// Async id (ASYNC flag) or (TreeId << 32 | Reserved) otherwise.
    pub async_id: u64,
    pub tree_id: u32,
    pub session_id: u64,
    pub signature: [u8; 16],
}

impl Header {
    pub fn parse(r: &mut Reader<'_>) -> Result<Header> {
        if r.array::<4>()? != PROTOCOL_ID {
            return Err(ProtoError::Invalid("not an SMB2 header"));
        }
        if r.u16_le()? != 64 {
            return Err(ProtoError::Invalid("header StructureSize is not 64"));
        }
        let credit_charge = r.u16_le()?;
        let status = r.u32_le()?;
        let command = r.u16_le()?;
        let credits = r.u16_le()?;
        let flags = r.u32_le()?;
        let next_command = r.u32_le()?;
        let message_id = r.u64_le()?;
        let (async_id, tree_id) = if flags & FLAG_ASYNC != 0 {
            (r.u64_le()?, 0)
        } else {
            let _reserved = r.u32_le()?;
            (0, r.u32_le()?)
        };
        let session_id = r.u64_le()?;
        let signature = r.array::<16>()?;
        Ok(Header {
            credit_charge,
            status,
            command,
            credits,
            flags,
            next_command,
            message_id,
            async_id,
            tree_id,
            session_id,
            signature,
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&PROTOCOL_ID);
        out.extend_from_slice(&64u16.to_le_bytes());
        out.extend_from_slice(&self.credit_charge.to_le_bytes());
        out.extend_from_slice(&self.status.to_le_bytes());
        out.extend_from_slice(&self.command.to_le_bytes());
        out.extend_from_slice(&self.credits.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.next_command.to_le_bytes());
        out.extend_from_slice(&self.message_id.to_le_bytes());
        if self.flags & FLAG_ASYNC != 0 {
            out.extend_from_slice(&self.async_id.to_le_bytes());
        } else {
            out.extend_from_slice(&0xFEFFu32.to_le_bytes());
            out.extend_from_slice(&self.tree_id.to_le_bytes());
        }
        out.extend_from_slice(&self.session_id.to_le_bytes());
        out.extend_from_slice(&self.signature);
    }
}

/// A 16-byte file id (persistent, volatile).
pub type FileId = [u8; 16];
/// The "use the previous request's handle" id of related compounds.
pub const FILE_ID_ANY: FileId = [0xFF; 16];

/// A body's variable part: `len` bytes at `offset` from the start of the
/// SMB2 header (every SMB2 offset counts from there). A zero length is an
/// empty buffer whatever the offset says.
pub fn buffer<'a>(msg: &Reader<'a>, offset: usize, len: usize) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if offset < HEADER_LEN {
        return Err(ProtoError::Invalid("buffer offset inside the header"));
    }
    Ok(msg.window(offset, len)?.rest())
}

fn check_size(r: &mut Reader<'_>, want: u16) -> Result<()> {
    if r.u16_le()? != want {
        return Err(ProtoError::Invalid("wrong StructureSize"));
    }
    Ok(())
}

/// NEGOTIATE request (2.2.3).
#[derive(Debug, Clone, Default)]
pub struct Negotiate {
    pub security_mode: u16,
    pub capabilities: u32,
    pub client_guid: [u8; 16],
    pub dialects: Vec<u16>,
    /// (type, data) for 3.1.1.
    pub contexts: Vec<(u16, Vec<u8>)>,
}

/// Most dialects and negotiate contexts a request may carry.
pub const MAX_DIALECTS: usize = 64;
pub const MAX_CONTEXTS: usize = 32;

impl Negotiate {
    /// `msg` is the whole message; `r` stands after the header.
    pub fn parse(msg: &Reader<'_>, r: &mut Reader<'_>) -> Result<Negotiate> {
        check_size(r, 36)?;
        let count = usize::from(r.u16_le()?);
        let security_mode = r.u16_le()?;
        r.skip(2)?;
        let capabilities = r.u32_le()?;
        let client_guid = r.array::<16>()?;
        let ctx_offset = r.u32_le()? as usize;
        let ctx_count = usize::from(r.u16_le()?);
        r.skip(2)?;
        if count == 0 || count > MAX_DIALECTS {
            return Err(ProtoError::Invalid("dialect count"));
        }
        let mut dialects = Vec::with_capacity(count);
        for _ in 0..count {
            dialects.push(r.u16_le()?);
        }
        let mut contexts = Vec::new();
        if dialects.contains(&SMB311) && ctx_count > 0 {
            if ctx_count > MAX_CONTEXTS {
                return Err(ProtoError::Invalid("negotiate context count"));
            }
            let mut at = ctx_offset;
            for i in 0..ctx_count {
                let mut c = msg.window(at, 8)?;
                let ty = c.u16_le()?;
                let len = usize::from(c.u16_le()?);
                let data = msg.window(at + 8, len)?.rest().to_vec();
                contexts.push((ty, data));
                at += 8 + len;
                if i + 1 < ctx_count {
                    at = (at + 7) & !7;
                }
            }
        }
        Ok(Negotiate {
            security_mode,
            capabilities,
            client_guid,
            dialects,
            contexts,
        })
    }
}

/// Negotiate context types.
pub const CTX_PREAUTH: u16 = 1;
pub const CTX_ENCRYPTION: u16 = 2;
pub const CTX_SIGNING: u16 = 8;

/// A u16-counted list of u16 ids (the encryption and signing contexts).
pub fn id_list(data: &[u8]) -> Vec<u16> {
    let mut r = Reader::new(data);
    let Ok(n) = r.u16_le() else { return Vec::new() };
    (0..n).map_while(|_| r.u16_le().ok()).collect()
}

/// The preauth context's hash algorithm ids.
pub fn preauth_algorithms(data: &[u8]) -> Vec<u16> {
    let mut r = Reader::new(data);
    let (Ok(n), Ok(_salt_len)) = (r.u16_le(), r.u16_le()) else {
        return Vec::new();
    };
    (0..n).map_while(|_| r.u16_le().ok()).collect()
}

/// Whether an SMB1 NEGOTIATE (MS-SMB2 3.3.5.3) offers SMB2: the highest
/// SMB2 dialect string it carries ("SMB 2.???" -> 0x02FF, "SMB 2.002" ->
/// 0x0202).
pub fn smb1_negotiate_offer(msg: &[u8]) -> Option<u16> {
    if msg.get(..4)? != SMB1_ID || *msg.get(4)? != 0x72 {
        return None;
    }
    // Header 32 bytes, WordCount (0), ByteCount, then 0x02-prefixed strings.
    let bytes = msg.get(35..)?;
    let mut best = None;
    for s in bytes.split(|b| *b == 0) {
        match s {
            b"\x02SMB 2.???" => best = Some(SMB2FF),
            b"\x02SMB 2.002" if best.is_none() => best = Some(SMB202),
            _ => {}
        }
    }
    best
}

/// SESSION_SETUP request (2.2.5).
#[derive(Debug, Clone)]
pub struct SessionSetup {
    pub flags: u8,
    pub security_mode: u8,
    pub previous_session: u64,
    pub token: Vec<u8>,
}

impl SessionSetup {
    pub fn parse(msg: &Reader<'_>, r: &mut Reader<'_>) -> Result<SessionSetup> {
        check_size(r, 25)?;
        let flags = r.u8()?;
        let security_mode = r.u8()?;
        let _caps = r.u32_le()?;
        let _channel = r.u32_le()?;
        let off = usize::from(r.u16_le()?);
        let len = usize::from(r.u16_le()?);
        let previous_session = r.u64_le()?;
        Ok(SessionSetup {
            flags,
            security_mode,
            previous_session,
            token: buffer(msg, off, len)?.to_vec(),
        })
    }
}

/// A UTF-16LE buffer as a string (names, paths); unpaired surrogates are
/// refused like Windows refuses them in names.
pub fn utf16(b: &[u8]) -> Result<String> {
    if !b.len().is_multiple_of(2) {
        return Err(ProtoError::Invalid("odd-length UTF-16 string"));
    }
    Ok(Reader::new(b).utf16le(b.len() / 2)?)
}

/// TREE_CONNECT request (2.2.9): the `\\server\share` path.
pub fn tree_connect_path(msg: &Reader<'_>, r: &mut Reader<'_>) -> Result<String> {
    check_size(r, 9)?;
    let _flags = r.u16_le()?;
    let off = usize::from(r.u16_le()?);
    let len = usize::from(r.u16_le()?);
    utf16(buffer(msg, off, len)?)
}

/// CREATE request (2.2.13).
#[derive(Debug, Clone)]
pub struct Create {
    pub oplock: u8,
    pub desired_access: u32,
    pub attributes: u32,
    pub share_access: u32,
    pub disposition: u32,
    pub options: u32,
    pub name: String,
}

impl Create {
    pub fn parse(msg: &Reader<'_>, r: &mut Reader<'_>) -> Result<Create> {
        check_size(r, 57)?;
        let _security_flags = r.u8()?;
        let oplock = r.u8()?;
        let _impersonation = r.u32_le()?;
        r.skip(16)?;
        let desired_access = r.u32_le()?;
        let attributes = r.u32_le()?;
        let share_access = r.u32_le()?;
        let disposition = r.u32_le()?;
        let options = r.u32_le()?;
        let off = usize::from(r.u16_le()?);
        let len = usize::from(r.u16_le()?);
        let _ctx_off = r.u32_le()?;
        let _ctx_len = r.u32_le()?;
        if disposition > 5 {
            return Err(ProtoError::Invalid("CreateDisposition"));
        }
        Ok(Create {
            oplock,
            desired_access,
            attributes,
            share_access,
            disposition,
            options,
            name: utf16(buffer(msg, off, len)?)?,
        })
    }
}

/// Create dispositions, options and actions.
pub mod create {
    pub const SUPERSEDE: u32 = 0;
    pub const OPEN: u32 = 1;
    pub const CREATE: u32 = 2;
    pub const OPEN_IF: u32 = 3;
    pub const OVERWRITE: u32 = 4;
    pub const OVERWRITE_IF: u32 = 5;

    pub const DIRECTORY_FILE: u32 = 0x0000_0001;
    pub const NON_DIRECTORY_FILE: u32 = 0x0000_0040;
    pub const DELETE_ON_CLOSE: u32 = 0x0000_1000;

    pub const SUPERSEDED: u32 = 0;
    pub const OPENED: u32 = 1;
    pub const CREATED: u32 = 2;
    pub const OVERWRITTEN: u32 = 3;
}

/// File attributes.
pub const ATTR_READONLY: u32 = 0x01;
pub const ATTR_HIDDEN: u32 = 0x02;
pub const ATTR_DIRECTORY: u32 = 0x10;
pub const ATTR_ARCHIVE: u32 = 0x20;
pub const ATTR_NORMAL: u32 = 0x80;

/// Reads a FileId after the cursor.
pub fn file_id(r: &mut Reader<'_>) -> Result<FileId> {
    Ok(r.array::<16>()?)
}

/// CLOSE request (2.2.15): flags and the handle.
pub fn close(r: &mut Reader<'_>) -> Result<(u16, FileId)> {
    check_size(r, 24)?;
    let flags = r.u16_le()?;
    r.skip(4)?;
    Ok((flags, file_id(r)?))
}

/// FLUSH request (2.2.17).
pub fn flush(r: &mut Reader<'_>) -> Result<FileId> {
    check_size(r, 24)?;
    r.skip(6)?;
    file_id(r)
}

/// READ request (2.2.19).
#[derive(Debug, Clone, Copy)]
pub struct Read {
    pub length: u32,
    pub offset: u64,
    pub file_id: FileId,
    pub minimum: u32,
}

impl Read {
    pub fn parse(r: &mut Reader<'_>) -> Result<Read> {
        check_size(r, 49)?;
        let _padding = r.u8()?;
        let _flags = r.u8()?;
        let length = r.u32_le()?;
        let offset = r.u64_le()?;
        let file_id = file_id(r)?;
        let minimum = r.u32_le()?;
        Ok(Read {
            length,
            offset,
            file_id,
            minimum,
        })
    }
}

/// WRITE request (2.2.21).
#[derive(Debug, Clone)]
pub struct Write<'a> {
    pub offset: u64,
    pub file_id: FileId,
    pub data: &'a [u8],
}

impl<'a> Write<'a> {
    pub fn parse(msg: &Reader<'a>, r: &mut Reader<'_>) -> Result<Write<'a>> {
        check_size(r, 49)?;
        let off = usize::from(r.u16_le()?);
        let len = r.u32_le()? as usize;
        let offset = r.u64_le()?;
        let file_id = file_id(r)?;
        Ok(Write {
            offset,
            file_id,
            data: buffer(msg, off, len)?,
        })
    }
}

/// QUERY_DIRECTORY request (2.2.33).
#[derive(Debug, Clone)]
pub struct QueryDirectory {
    pub class: u8,
    pub flags: u8,
    pub file_id: FileId,
    pub pattern: String,
    pub output_len: u32,
}

pub const QD_RESTART: u8 = 0x01;
pub const QD_SINGLE: u8 = 0x02;
pub const QD_REOPEN: u8 = 0x10;

impl QueryDirectory {
    pub fn parse(msg: &Reader<'_>, r: &mut Reader<'_>) -> Result<QueryDirectory> {
        check_size(r, 33)?;
        let class = r.u8()?;
        let flags = r.u8()?;
        let _index = r.u32_le()?;
        let file_id = file_id(r)?;
        let off = usize::from(r.u16_le()?);
        let len = usize::from(r.u16_le()?);
        let output_len = r.u32_le()?;
        Ok(QueryDirectory {
            class,
            flags,
            file_id,
            pattern: utf16(buffer(msg, off, len)?)?,
            output_len,
        })
    }
}

/// QUERY_INFO request (2.2.37).
#[derive(Debug, Clone)]
pub struct QueryInfo {
    pub info_type: u8,
    pub class: u8,
    pub output_len: u32,
    pub additional: u32,
    pub file_id: FileId,
}

impl QueryInfo {
    pub fn parse(r: &mut Reader<'_>) -> Result<QueryInfo> {
        check_size(r, 41)?;
        let info_type = r.u8()?;
        let class = r.u8()?;
        let output_len = r.u32_le()?;
        let _in_off = r.u16_le()?;
        r.skip(2)?;
        let _in_len = r.u32_le()?;
        let additional = r.u32_le()?;
        let _flags = r.u32_le()?;
        let file_id = file_id(r)?;
        Ok(QueryInfo {
            info_type,
            class,
            output_len,
            additional,
            file_id,
        })
    }
}

/// SET_INFO request (2.2.39).
#[derive(Debug, Clone)]
pub struct SetInfo<'a> {
    pub info_type: u8,
    pub class: u8,
    pub file_id: FileId,
    pub data: &'a [u8],
}

impl<'a> SetInfo<'a> {
    pub fn parse(msg: &Reader<'a>, r: &mut Reader<'_>) -> Result<SetInfo<'a>> {
        check_size(r, 33)?;
        let info_type = r.u8()?;
        let class = r.u8()?;
        let len = r.u32_le()? as usize;
        let off = usize::from(r.u16_le()?);
        r.skip(2)?;
        let _additional = r.u32_le()?;
        let file_id = file_id(r)?;
        Ok(SetInfo {
            info_type,
            class,
            file_id,
            data: buffer(msg, off, len)?,
        })
    }
}

/// IOCTL request (2.2.31).
#[derive(Debug, Clone)]
pub struct Ioctl<'a> {
    pub ctl_code: u32,
    pub file_id: FileId,
    pub input: &'a [u8],
    pub max_output: u32,
    pub flags: u32,
}

pub const FSCTL_VALIDATE_NEGOTIATE_INFO: u32 = 0x0014_0204;
pub const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_C017;
pub const FSCTL_DFS_GET_REFERRALS: u32 = 0x0006_0194;

impl<'a> Ioctl<'a> {
    pub fn parse(msg: &Reader<'a>, r: &mut Reader<'_>) -> Result<Ioctl<'a>> {
        check_size(r, 57)?;
        r.skip(2)?;
        let ctl_code = r.u32_le()?;
        let file_id = file_id(r)?;
        let in_off = r.u32_le()? as usize;
        let in_len = r.u32_le()? as usize;
        let _max_in = r.u32_le()?;
        let _out_off = r.u32_le()?;
        let _out_len = r.u32_le()?;
        let max_output = r.u32_le()?;
        let flags = r.u32_le()?;
        Ok(Ioctl {
            ctl_code,
            file_id,
            input: buffer(msg, in_off, in_len)?,
            max_output,
            flags,
        })
    }
}

/// OPLOCK_BREAK acknowledgment (2.2.24.1): the level acknowledged and
/// the handle. A lease acknowledgment (StructureSize 36) is refused:
/// leases are not granted.
pub fn oplock_break_ack(r: &mut Reader<'_>) -> Result<(u8, FileId)> {
    check_size(r, 24)?;
    let level = r.u8()?;
    r.skip(5)?;
    let fid = file_id(r)?;
    Ok((level, fid))
}

/// One LOCK element (2.2.26.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockElement {
    pub offset: u64,
    pub length: u64,
    pub flags: u32,
}

pub const LOCK_SHARED: u32 = 0x1;
pub const LOCK_EXCLUSIVE: u32 = 0x2;
pub const LOCK_UNLOCK: u32 = 0x4;
pub const LOCK_FAIL_IMMEDIATELY: u32 = 0x10;
/// Elements one LOCK request may carry here (Windows takes 64).
pub const MAX_LOCK_ELEMENTS: usize = 64;

/// LOCK request (2.2.26): the handle and its elements.
pub fn lock(r: &mut Reader<'_>) -> Result<(FileId, Vec<LockElement>)> {
    check_size(r, 48)?;
    let count = usize::from(r.u16_le()?);
    let _sequence = r.u32_le()?;
    let fid = file_id(r)?;
    if count == 0 || count > MAX_LOCK_ELEMENTS {
        return Err(ProtoError::Invalid("LockCount"));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let offset = r.u64_le()?;
        let length = r.u64_le()?;
        let flags = r.u32_le()?;
        r.skip(4)?;
        out.push(LockElement {
            offset,
            length,
            flags,
        });
    }
    Ok((fid, out))
}

/// CHANGE_NOTIFY request (2.2.35).
#[derive(Debug, Clone)]
pub struct ChangeNotify {
    /// SMB2_WATCH_TREE (1).
    pub flags: u16,
    pub output_len: u32,
    pub file_id: FileId,
    pub filter: u32,
}

impl ChangeNotify {
    pub fn parse(r: &mut Reader<'_>) -> Result<ChangeNotify> {
        check_size(r, 32)?;
        let flags = r.u16_le()?;
        let output_len = r.u32_le()?;
        let file_id = file_id(r)?;
        let filter = r.u32_le()?;
        Ok(ChangeNotify {
            flags,
            output_len,
            file_id,
            filter,
        })
    }
}

/// The error response body (2.2.2): StructureSize 9, no error data.
pub const ERROR_BODY: [u8; 9] = [9, 0, 0, 0, 0, 0, 0, 0, 0];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = Header {
            credit_charge: 1,
            status: status::ACCESS_DENIED,
            command: cmd::CREATE,
            credits: 31,
            flags: FLAG_RESPONSE | FLAG_SIGNED,
            next_command: 0,
            message_id: 77,
            async_id: 0,
            tree_id: 5,
            session_id: 0x1122,
            signature: [7; 16],
        };
        let mut out = Vec::new();
        h.write(&mut out);
        assert_eq!(out.len(), HEADER_LEN);
        assert_eq!(Header::parse(&mut Reader::new(&out)).unwrap(), h);
        for n in 0..HEADER_LEN {
            assert!(Header::parse(&mut Reader::new(&out[..n])).is_err());
        }
    }

    #[test]
    fn smb1_offer() {
        let mut m = SMB1_ID.to_vec();
        m.push(0x72);
        m.resize(35, 0);
        m.extend_from_slice(b"\x02NT LM 0.12\0\x02SMB 2.002\0\x02SMB 2.???\0");
        assert_eq!(smb1_negotiate_offer(&m), Some(SMB2FF));
        m.truncate(35 + 24);
        assert_eq!(smb1_negotiate_offer(&m), Some(SMB202));
        assert_eq!(smb1_negotiate_offer(&m[..30]), None);
    }

    #[test]
    fn buffers_are_checked() {
        let msg = vec![0u8; 100];
        let r = Reader::new(&msg);
        assert!(buffer(&r, 90, 20).is_err());
        assert!(buffer(&r, 10, 2).is_err());
        assert!(buffer(&r, usize::MAX, 2).is_err());
        assert_eq!(buffer(&r, 0, 0).unwrap(), b"");
        assert_eq!(buffer(&r, 64, 36).unwrap().len(), 36);
    }
}
