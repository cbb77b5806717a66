//! Server tokens (MS-TDS 2.2.7) and the column types fakedc sends, encoded
//! for the version agreed in LOGINACK (TDS 7.1 differs from 7.2+: DONE row
//! counts, INFO/ERROR line numbers, COLMETADATA user types, no MAX types).

use fakedc_wire::Writer;

pub const LOGINACK: u8 = 0xAD;
pub const ENVCHANGE: u8 = 0xE3;
pub const INFO: u8 = 0xAB;
pub const ERROR: u8 = 0xAA;
pub const COLMETADATA: u8 = 0x81;
pub const ROW: u8 = 0xD1;
pub const NBCROW: u8 = 0xD2;
pub const DONE: u8 = 0xFD;
pub const SSPI: u8 = 0xED;
pub const RETURNVALUE: u8 = 0xAC;
pub const DONEPROC: u8 = 0xFE;
pub const DONEINPROC: u8 = 0xFF;
pub const RETURNSTATUS: u8 = 0x79;
pub const FEATUREEXTACK: u8 = 0xAE;

pub const DONE_FINAL: u16 = 0x00;
pub const DONE_MORE: u16 = 0x01;
pub const DONE_ERROR: u16 = 0x02;
pub const DONE_INXACT: u16 = 0x04;
pub const DONE_COUNT: u16 = 0x10;
pub const DONE_ATTN: u16 = 0x20;
pub const DONE_SRVERROR: u16 = 0x100;

pub const CMD_SELECT: u16 = 0xC1;
pub const CMD_INSERT: u16 = 0xC3;
pub const CMD_DELETE: u16 = 0xC4;
pub const CMD_UPDATE: u16 = 0xC5;

pub const ENV_DATABASE: u8 = 1;
pub const ENV_LANGUAGE: u8 = 2;
pub const ENV_PACKET_SIZE: u8 = 4;
pub const ENV_COLLATION: u8 = 7;
pub const ENV_BEGIN_TRAN: u8 = 8;
pub const ENV_COMMIT_TRAN: u8 = 9;
pub const ENV_ROLLBACK_TRAN: u8 = 10;

/// SQL_Latin1_General_CP1_CI_AS (LCID 0x0409, sort id 52).
pub const COLLATION: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 0x34];

/// The server's product name in LOGINACK and its version (15.0.2000).
pub const PROG_NAME: &str = "Microsoft SQL Server";
pub const PROG_VERSION: [u8; 4] = [0x0F, 0x00, 0x07, 0xD0];

/// Writes a token stream for one agreed version.
pub struct Tokens {
    pub w: Writer,
    /// TDS 7.1 encodings.
    pub v71: bool,
    /// Where the last DONE (0xFD) starts.
    last_done: Option<usize>,
    /// Where the made part goes while rows are still being made.
    spill: Option<Spill>,
}

/// Takes a part of a streamed reply, or hands it back when it cannot
/// take it now.
pub type PartSink = dyn FnMut(Vec<u8>) -> Result<(), Vec<u8>> + Send;

/// A reply sent in parts as it grows ([`Tokens::stream_to`]).
struct Spill {
    /// Parts are whole multiples of this (a packet's payload).
    chunk: usize,
    /// Bytes held before a part is offered, and after one is refused.
    step: usize,
    /// Bytes held before the next part is offered.
    at: usize,
    out: Box<PartSink>,
    /// Bytes of the buffer that end on a row's end (after a part went):
    /// what precedes them in the stream is whole tokens.
    boundary: Option<usize>,
}

fn b_varchar(w: &mut Writer, s: &str) {
    let s: String = s.chars().take(255).collect();
    let len = w.reserve_u8();
    let units = w.utf16le(&s);
    // Truncated to 255 characters; a surrogate pair counts two units.
    let _ = w.patch(len, units.min(255) as u64);
}

fn us_varchar(w: &mut Writer, s: &str) {
    let s: String = s.chars().take(4000).collect();
    let len = w.reserve_u16_le();
    let units = w.utf16le(&s);
    let _ = w.patch(len, units as u64);
}

impl Tokens {
    pub fn new(v71: bool) -> Tokens {
        Tokens {
            w: Writer::new(),
            v71,
            last_done: None,
            spill: None,
        }
    }

    /// Rows beyond `at` bytes are offered to `out` in parts (multiples of
    /// `chunk`, a packet's payload) as they are made, so a big result
    /// goes out while the engine still steps. `out` never waits: it hands
    /// a part back when the connection has not taken the ones before
    /// (a slow or stalled reader), and the rows then stay here, as a
    /// reply that is not streamed does, to be offered again `at` bytes
    /// later; so a reader that stops reading holds no engine thread.
    pub fn stream_to(
        &mut self,
        chunk: usize,
        at: usize,
        out: impl FnMut(Vec<u8>) -> Result<(), Vec<u8>> + Send + 'static,
    ) {
        let chunk = chunk.max(1);
        let at = at.max(chunk);
        self.spill = Some(Spill {
            chunk,
            step: at,
            at,
            out: Box::new(out),
            boundary: None,
        });
    }

    /// After a row: hands the whole packets made so far to the stream
    /// ([`Tokens::stream_to`]), if any.
    pub fn row_done(&mut self) {
        let Some(sp) = self.spill.as_mut() else {
            return;
        };
        let pos = self.w.position();
        if pos < sp.at {
            return;
        }
        let n = pos - pos % sp.chunk;
        let mut part = std::mem::take(&mut self.w).into_vec();
        let rest = part.split_off(n);
        match (sp.out)(part) {
            Ok(()) => {
                self.w = Writer::from_vec(rest);
                self.last_done = self.last_done.and_then(|d| d.checked_sub(n));
                sp.boundary = Some(pos - n);
                sp.at = sp.step;
            }
            Err(mut part) => {
                // Not taken: kept whole, offered again later.
                part.extend_from_slice(&rest);
                self.w = Writer::from_vec(part);
                sp.at = pos.saturating_add(sp.step);
            }
        }
    }

    /// After parts went out: the length of the leading bytes of what is
    /// left that complete whole tokens (ending on a row's end). A reply
    /// cut short (Attention) ends there.
    pub fn streamed(&self) -> Option<usize> {
        self.spill.as_ref().and_then(|s| s.boundary)
    }

    /// Ends a batch: the last DONE loses its MORE bit (statements under
    /// IF/WHILE do not know they are last). `false` when there was none.
    pub fn end_batch(&mut self) -> bool {
        let Some(at) = self.last_done else {
            return false;
        };
        let mut v = std::mem::take(&mut self.w).into_vec();
        if let Some(b) = v.get_mut(at + 1) {
            *b &= !(DONE_MORE as u8);
        }
        self.w = Writer::from_vec(v);
        true
    }

    pub fn is_empty(&self) -> bool {
        self.w.position() == 0
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.w.into_vec()
    }

    /// A token whose body is prefixed by a u16 length.
    fn sized(&mut self, token: u8, body: impl FnOnce(&mut Writer)) {
        self.w.u8(token);
        let len = self.w.reserve_u16_le();
        let start = self.w.position();
        body(&mut self.w);
        // Bodies here are far below 64 KiB (messages capped at 4000 chars).
        let _ = self.w.patch_len(len, start);
    }

    /// SSPI (0xED): an NTLM CHALLENGE, or SPNEGO's final token.
    pub fn sspi(&mut self, token: &[u8]) {
        self.sized(SSPI, |w| {
            w.bytes(token);
        });
    }

    pub fn loginack(&mut self, version_be: u32) {
        self.sized(LOGINACK, |w| {
            w.u8(1).u32_be(version_be);
            b_varchar(w, PROG_NAME);
            w.bytes(&PROG_VERSION);
        });
    }

    pub fn env_string(&mut self, ty: u8, new: &str, old: &str) {
        self.sized(ENVCHANGE, |w| {
            w.u8(ty);
            b_varchar(w, new);
            b_varchar(w, old);
        });
    }

    pub fn env_bytes(&mut self, ty: u8, new: &[u8], old: &[u8]) {
        self.sized(ENVCHANGE, |w| {
            w.u8(ty).u8(new.len() as u8).bytes(new);
            w.u8(old.len() as u8).bytes(old);
        });
    }

    fn message(&mut self, token: u8, m: &Message<'_>) {
        let v71 = self.v71;
        self.sized(token, |w| {
            w.i32_le(m.number).u8(m.state).u8(m.class);
            us_varchar(w, m.text);
            b_varchar(w, m.server);
            b_varchar(w, m.proc_name);
            if v71 {
                w.u16_le(m.line as u16);
            } else {
                w.u32_le(m.line);
            }
        });
    }

    pub fn info(&mut self, m: &Message<'_>) {
        self.message(INFO, m)
    }

    pub fn error(&mut self, m: &Message<'_>) {
        self.message(ERROR, m)
    }

    pub fn done(&mut self, token: u8, status: u16, cmd: u16, rows: u64) {
        if token == DONE {
            self.last_done = Some(self.w.position());
        }
        self.w.u8(token).u16_le(status).u16_le(cmd);
        if self.v71 {
            self.w.u32_le(rows.min(u64::from(u32::MAX)) as u32);
        } else {
            self.w.u64_le(rows);
        }
    }

    /// RETURNVALUE (0xAC): an OUTPUT parameter's value (the handle of
    /// sp_prepare/sp_prepexec, sp_executesql's OUTPUT variables), by its
    /// ordinal and name in the request.
    pub fn return_value(&mut self, ordinal: u16, name: &str, ty: SqlType, v: &Value) {
        self.w.u8(RETURNVALUE).u16_le(ordinal);
        b_varchar(&mut self.w, name);
        self.w.u8(0x01);
        if self.v71 {
            self.w.u16_le(0);
        } else {
            self.w.u32_le(0);
        }
        // Flags: nullable.
        self.w.u16_le(0x0001);
        ty.type_info(&mut self.w);
        ty.value(&mut self.w, v.cell());
    }

    /// FEATUREEXTACK acknowledging nothing.
    pub fn feature_ext_ack_none(&mut self) {
        self.w.u8(FEATUREEXTACK).u8(0xFF);
    }

    pub fn colmetadata(&mut self, cols: &[Column]) {
        self.w.u8(COLMETADATA).u16_le(cols.len() as u16);
        for c in cols {
            if self.v71 {
                self.w.u16_le(0);
            } else {
                self.w.u32_le(0);
            }
            let mut flags = 0u16;
            if c.nullable {
                flags |= 0x0001;
            }
            if c.identity {
                flags |= 0x0010;
            }
            self.w.u16_le(flags);
            c.ty.type_info(&mut self.w);
            b_varchar(&mut self.w, &c.name);
        }
    }

    /// One row; NBCROW when it saves bytes (7.3+ clients all read it; 7.1
    /// gets ROW).
    pub fn row(&mut self, cols: &[Column], values: &[Value]) {
        let cells: Vec<Cell<'_>> = values.iter().map(Value::cell).collect();
        self.row_cells(cols, &cells);
    }

    /// One row from borrowed cells (the engine's row as it steps, with no
    /// copy of its text).
    pub fn row_cells(&mut self, cols: &[Column], values: &[Cell<'_>]) {
        let nulls = values.iter().filter(|v| matches!(v, Cell::Null)).count();
        let nbc = !self.v71 && nulls > 1;
        if nbc {
            self.w.u8(NBCROW);
            let mut bitmap = [0u8; 8];
            let mut big = Vec::new();
            let len = cols.len().div_ceil(8);
            let map: &mut [u8] = if len <= bitmap.len() {
                &mut bitmap[..len]
            } else {
                big.resize(len, 0);
                &mut big
            };
            for (i, v) in values.iter().enumerate() {
                if matches!(v, Cell::Null) {
                    if let Some(b) = map.get_mut(i / 8) {
                        *b |= 1 << (i % 8);
                    }
                }
            }
            self.w.bytes(map);
        } else {
            self.w.u8(ROW);
        }
        for (c, v) in cols.iter().zip(values) {
            if nbc && matches!(v, Cell::Null) {
                continue;
            }
            c.ty.value(&mut self.w, *v);
        }
    }
}

/// An INFO or ERROR message.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub number: i32,
    pub state: u8,
    pub class: u8,
    pub text: &'a str,
    pub server: &'a str,
    pub proc_name: &'a str,
    pub line: u32,
}

/// A result column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: SqlType,
    pub nullable: bool,
    pub identity: bool,
}

/// The SQL Server types fakedc sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Bit,
    Float,
    Real,
    /// precision, scale
    Decimal(u8, u8),
    DateTime,
    /// `date` (DATEN, 7.3+).
    Date,
    /// `time(scale)` (TIMEN, 7.3+).
    Time(u8),
    /// `datetime2(scale)` (DATETIME2N, 7.3+).
    DateTime2(u8),
    /// `datetimeoffset(scale)` (DATETIMEOFFSETN, 7.3+).
    DateTimeOffset(u8),
    /// max characters; `None` = MAX
    NVarChar(Option<u16>),
    VarChar(Option<u16>),
    VarBinary(Option<u16>),
}

/// A value as the engine returns it, before encoding for a column type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
}

/// A value borrowed for encoding: a [`Value`]'s, or one read straight
/// from the engine's current row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    Float(f64),
    Text(&'a str),
    Bytes(&'a [u8]),
}

impl Value {
    pub fn cell(&self) -> Cell<'_> {
        match self {
            Value::Null => Cell::Null,
            Value::Int(n) => Cell::Int(*n),
            Value::Float(f) => Cell::Float(*f),
            Value::Text(t) => Cell::Text(t),
            Value::Bytes(b) => Cell::Bytes(b),
        }
    }
}

const PLP_NULL: u64 = u64::MAX;

impl SqlType {
    fn type_info(&self, w: &mut Writer) {
        match *self {
            SqlType::TinyInt => w.u8(0x26).u8(1),
            SqlType::SmallInt => w.u8(0x26).u8(2),
            SqlType::Int => w.u8(0x26).u8(4),
            SqlType::BigInt => w.u8(0x26).u8(8),
            SqlType::Bit => w.u8(0x68).u8(1),
            SqlType::Float => w.u8(0x6D).u8(8),
            SqlType::Real => w.u8(0x6D).u8(4),
            SqlType::Decimal(p, s) => w.u8(0x6A).u8(decimal_len(p)).u8(p).u8(s),
            SqlType::DateTime => w.u8(0x6F).u8(8),
            SqlType::Date => w.u8(0x28),
            SqlType::Time(s) => w.u8(0x29).u8(s),
            SqlType::DateTime2(s) => w.u8(0x2A).u8(s),
            SqlType::DateTimeOffset(s) => w.u8(0x2B).u8(s),
            SqlType::NVarChar(n) => w
                .u8(0xE7)
                .u16_le(n.map_or(0xFFFF, |n| n.saturating_mul(2)))
                .bytes(&COLLATION),
            SqlType::VarChar(n) => w.u8(0xA7).u16_le(n.unwrap_or(0xFFFF)).bytes(&COLLATION),
            SqlType::VarBinary(n) => w.u8(0xA5).u16_le(n.unwrap_or(0xFFFF)),
        };
    }

    fn value(&self, w: &mut Writer, v: Cell<'_>) {
        match *self {
            SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt => {
                let n = match v {
                    Cell::Null => None,
                    other => Some(as_i64(other)),
                };
                let width = match self {
                    SqlType::TinyInt => 1,
                    SqlType::SmallInt => 2,
                    SqlType::Int => 4,
                    _ => 8,
                };
                match n {
                    None => {
                        w.u8(0);
                    }
                    Some(n) => {
                        w.u8(width);
                        w.bytes(&n.to_le_bytes()[..usize::from(width)]);
                    }
                }
            }
            SqlType::Bit => match v {
                Cell::Null => {
                    w.u8(0);
                }
                other => {
                    w.u8(1).u8(u8::from(as_i64(other) != 0));
                }
            },
            SqlType::Float | SqlType::Real => match v {
                Cell::Null => {
                    w.u8(0);
                }
                other => {
                    let f = as_f64(other);
                    if *self == SqlType::Real {
                        w.u8(4).bytes(&(f as f32).to_le_bytes());
                    } else {
                        w.u8(8).bytes(&f.to_le_bytes());
                    }
                }
            },
            SqlType::Decimal(p, s) => match v {
                Cell::Null => {
                    w.u8(0);
                }
                other => {
                    let scaled = decimal_scaled(other, s);
                    let len = decimal_len(p);
                    w.u8(len).u8(u8::from(scaled >= 0));
                    let mag = scaled.unsigned_abs().to_le_bytes();
                    w.bytes(&mag[..usize::from(len - 1)]);
                }
            },
            SqlType::DateTime => match v {
                Cell::Null => {
                    w.u8(0);
                }
                other => {
                    let (days, ticks) = datetime_parts(&text_of(other)).unwrap_or((0, 0));
                    w.u8(8).i32_le(days).u32_le(ticks);
                }
            },
            SqlType::Date
            | SqlType::Time(_)
            | SqlType::DateTime2(_)
            | SqlType::DateTimeOffset(_) => {
                if v == Cell::Null {
                    w.u8(0);
                    return;
                }
                // Text that does not parse (SQLite stores what it is
                // given) goes out as 0001-01-01 00:00, as datetime's does.
                let p = DateTime2Parts::parse(&text_of(v)).unwrap_or_default();
                let scale = match *self {
                    SqlType::Time(s) | SqlType::DateTime2(s) | SqlType::DateTimeOffset(s) => {
                        s.min(7)
                    }
                    _ => 0,
                };
                let tlen = time_len(scale);
                let units = p.nanos / 10u64.pow(9 - u32::from(scale));
                match *self {
                    SqlType::Date => {
                        w.u8(3).bytes(&p.days.to_le_bytes()[..3]);
                    }
                    SqlType::Time(_) => {
                        w.u8(tlen).bytes(&units.to_le_bytes()[..usize::from(tlen)]);
                    }
                    SqlType::DateTime2(_) => {
                        w.u8(tlen + 3)
                            .bytes(&units.to_le_bytes()[..usize::from(tlen)])
                            .bytes(&p.days.to_le_bytes()[..3]);
                    }
                    _ => {
                        // Date and time are sent in UTC, then the offset.
                        let day_units = 86_400 * 10u64.pow(u32::from(scale));
                        let shift = i64::from(p.offset) * 60 * 10i64.pow(u32::from(scale));
                        let total = i128::from(p.days) * i128::from(day_units) + i128::from(units)
                            - i128::from(shift);
                        let total = total.max(0);
                        let days = u32::try_from(total / i128::from(day_units)).unwrap_or(0);
                        let units = u64::try_from(total % i128::from(day_units)).unwrap_or(0);
                        w.u8(tlen + 5)
                            .bytes(&units.to_le_bytes()[..usize::from(tlen)])
                            .bytes(&days.to_le_bytes()[..3])
                            .i16_le(p.offset);
                    }
                }
            }
            SqlType::NVarChar(n) => {
                let text = match v {
                    Cell::Null => return short_or_plp(w, n.is_none(), None),
                    other => text_of(other),
                };
                // Rows are most of a big reply: UTF-16 straight into it
                // when the text fits one chunk (no copy, no allocation).
                let ascii = text.is_ascii();
                let len = if ascii {
                    text.len() * 2
                } else {
                    text.encode_utf16().count() * 2
                };
                if len <= 8000 {
                    if n.is_none() {
                        w.u64_le(len as u64).u32_le(len as u32);
                        put_utf16(w, &text, ascii);
                        if len > 0 {
                            w.u32_le(0);
                        }
                    } else {
                        w.u16_le(len as u16);
                        put_utf16(w, &text, ascii);
                    }
                    return;
                }
                let mut t = Writer::new();
                t.utf16le(&text);
                short_or_plp(w, n.is_none(), Some(&t.into_vec()));
            }
            SqlType::VarChar(n) => {
                let bytes = match v {
                    Cell::Null => None,
                    other => Some(
                        text_of(other)
                            .chars()
                            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                            .collect::<Vec<u8>>(),
                    ),
                };
                short_or_plp(w, n.is_none(), bytes.as_deref());
            }
            SqlType::VarBinary(n) => {
                let bytes = match v {
                    Cell::Null => None,
                    Cell::Bytes(b) => Some(std::borrow::Cow::Borrowed(b)),
                    other => Some(std::borrow::Cow::Owned(
                        text_of(other).into_owned().into_bytes(),
                    )),
                };
                short_or_plp(w, n.is_none(), bytes.as_deref());
            }
        }
    }
}

/// Text as UTF-16LE; ASCII (most of what tables hold) a block at a time.
fn put_utf16(w: &mut Writer, text: &str, ascii: bool) {
    if !ascii {
        w.utf16le(text);
        return;
    }
    let mut buf = [0u8; 512];
    for chunk in text.as_bytes().chunks(buf.len() / 2) {
        for (k, b) in chunk.iter().enumerate() {
            buf[2 * k] = *b;
            buf[2 * k + 1] = 0;
        }
        w.bytes(&buf[..chunk.len() * 2]);
    }
}

fn short_or_plp(w: &mut Writer, plp: bool, bytes: Option<&[u8]>) {
    if plp {
        match bytes {
            None => {
                w.u64_le(PLP_NULL);
            }
            Some(b) => {
                w.u64_le(b.len() as u64);
                for chunk in b.chunks(8000) {
                    w.u32_le(chunk.len() as u32).bytes(chunk);
                }
                w.u32_le(0);
            }
        }
    } else {
        match bytes {
            None => {
                w.u16_le(0xFFFF);
            }
            Some(b) => {
                let b = &b[..b.len().min(8000)];
                w.u16_le(b.len() as u16).bytes(b);
            }
        }
    }
}

/// Bytes of a TIMEN value (and of the time part of DATETIME2N and
/// DATETIMEOFFSETN) at a scale (MS-TDS 2.2.5.4.2).
fn time_len(scale: u8) -> u8 {
    match scale {
        0..=2 => 3,
        3..=4 => 4,
        _ => 5,
    }
}

/// A date/time text as the 7.3 types carry it: days since 0001-01-01,
/// nanoseconds into the day, and the offset from UTC in minutes.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct DateTime2Parts {
    pub days: u32,
    pub nanos: u64,
    pub offset: i16,
}

impl DateTime2Parts {
    /// `YYYY-MM-DD`, `HH:MM[:SS[.fffffff]]`, or both (space or `T`
    /// between), optionally followed by `Z` or `+HH:MM`/`-HH:MM`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (mut date, mut rest) = if s.len() >= 10 && s.as_bytes().get(4) == Some(&b'-') {
            (Some(&s[..10]), s[10..].trim_start_matches(['T', ' ']))
        } else {
            (None, s)
        };
        let mut offset = 0i16;
        if let Some(r) = rest.strip_suffix('Z') {
            rest = r.trim_end();
        } else if let Some(at) = rest.rfind(['+', '-']) {
            let (t, o) = rest.split_at(at);
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (h, m) = o[1..].split_once(':')?;
            let (h, m): (i16, i16) = (h.trim().parse().ok()?, m.trim().parse().ok()?);
            if h > 14 || m > 59 {
                return None;
            }
            offset = sign * (h * 60 + m);
            rest = t.trim_end();
        }
        let days = match date.take() {
            None => 0,
            Some(d) => {
                let mut it = d.split('-');
                let y: i64 = it.next()?.parse().ok()?;
                let m: i64 = it.next()?.parse().ok()?;
                let day: i64 = it.next()?.parse().ok()?;
                if !(1..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
                    return None;
                }
                u32::try_from(days_from_civil(y, m, day) - days_from_civil(1, 1, 1)).ok()?
            }
        };
        let nanos = if rest.is_empty() {
            0
        } else {
            let mut it = rest.split(':');
            let h: u64 = it.next()?.parse().ok()?;
            let m: u64 = it.next()?.parse().ok()?;
            let (sec, frac) = match it.next() {
                None => ("0", ""),
                Some(x) => x.split_once('.').unwrap_or((x, "")),
            };
            let sec: u64 = sec.parse().ok()?;
            if h > 23
                || m > 59
                || sec > 59
                || frac.len() > 9
                || !frac.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            let mut f: u64 = 0;
            for k in 0..9 {
                f = f * 10 + frac.as_bytes().get(k).map_or(0, |b| u64::from(b - b'0'));
            }
            ((h * 60 + m) * 60 + sec) * 1_000_000_000 + f
        };
        Some(DateTime2Parts {
            days,
            nanos,
            offset,
        })
    }
}

fn decimal_len(p: u8) -> u8 {
    match p {
        0..=9 => 5,
        10..=19 => 9,
        20..=28 => 13,
        _ => 17,
    }
}

fn as_i64(v: Cell<'_>) -> i64 {
    match v {
        Cell::Null => 0,
        Cell::Int(n) => n,
        Cell::Float(f) => f as i64,
        Cell::Text(t) => t.trim().parse().unwrap_or(0),
        Cell::Bytes(_) => 0,
    }
}

fn as_f64(v: Cell<'_>) -> f64 {
    match v {
        Cell::Null | Cell::Bytes(_) => 0.0,
        Cell::Int(n) => n as f64,
        Cell::Float(f) => f,
        Cell::Text(t) => t.trim().parse().unwrap_or(0.0),
    }
}

/// A value as text (borrowed when it is text already).
fn text_of(v: Cell<'_>) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    match v {
        Cell::Null => Cow::Borrowed(""),
        Cell::Int(n) => Cow::Owned(n.to_string()),
        Cell::Float(f) => Cow::Owned(f.to_string()),
        Cell::Text(t) => Cow::Borrowed(t),
        Cell::Bytes(b) => String::from_utf8_lossy(b),
    }
}

pub fn as_text(v: &Value) -> String {
    text_of(v.cell()).into_owned()
}

/// A decimal value times 10^scale, from an integer, a float or decimal text.
fn decimal_scaled(v: Cell<'_>, scale: u8) -> i128 {
    let scale = u32::from(scale.min(38));
    let text = match v {
        Cell::Int(n) => return i128::from(n).saturating_mul(10i128.saturating_pow(scale)),
        Cell::Float(f) => std::borrow::Cow::Owned(format!("{f:.*}", scale as usize)),
        other => text_of(other),
    };
    let text = text.trim();
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let mut n: i128 = 0;
    for c in int.chars().chain(
        frac.chars()
            .chain(std::iter::repeat('0'))
            .take(scale as usize),
    ) {
        let Some(d) = c.to_digit(10) else {
            return 0;
        };
        n = n.saturating_mul(10).saturating_add(i128::from(d));
    }
    if neg {
        -n
    } else {
        n
    }
}

/// `YYYY-MM-DD[ HH:MM:SS[.fff]]` → days since 1900-01-01 and 1/300 s.
pub fn datetime_parts(s: &str) -> Option<(i32, u32)> {
    let s = s.trim();
    let (date, time) = match s.split_once([' ', 'T']) {
        Some((d, t)) => (d, t),
        None => (s, "00:00:00"),
    };
    let mut d = date.split('-');
    let y: i64 = d.next()?.parse().ok()?;
    let m: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || !(1753..=9999).contains(&y) {
        return None;
    }
    let days = days_from_civil(y, m, day) - days_from_civil(1900, 1, 1);
    let mut t = time.split(':');
    let hh: f64 = t.next()?.parse().ok()?;
    let mm: f64 = t.next().unwrap_or("0").parse().ok()?;
    let ss: f64 = t.next().unwrap_or("0").parse().ok()?;
    let secs = hh * 3600.0 + mm * 60.0 + ss;
    let ticks = (secs * 300.0).round() as u32;
    Some((i32::try_from(days).ok()?, ticks))
}

/// Days since 1970-01-01 of a proleptic Gregorian date, through
/// fakedc_model's one algorithm. Callers pass fields they have range-checked
/// (month 1–12, day 1–31); anything else is clamped into range.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    fakedc_model::timefmt::days_from_civil(y, m.clamp(1, 12) as u32, d.clamp(0, 31) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_encoding() {
        assert_eq!(datetime_parts("1900-01-01 00:00:00"), Some((0, 0)));
        assert_eq!(datetime_parts("1900-01-02 00:00:01.000"), Some((1, 300)));
        assert_eq!(datetime_parts("2024-02-29"), Some((45349, 0)));
        assert_eq!(datetime_parts("garbage"), None);
    }

    #[test]
    fn datetime2_family_encoding() {
        let enc = |ty: SqlType, v: &str| {
            let mut w = Writer::new();
            ty.type_info(&mut w);
            ty.value(&mut w, Cell::Text(v));
            w.into_vec()
        };
        // 2024-02-29 is day 738,944 after 0001-01-01 (0x0B4680).
        assert_eq!(
            enc(SqlType::Date, "2024-02-29"),
            [0x28, 3, 0x80, 0x46, 0x0B]
        );
        // 01:02:03.5 at scale 1: 37,235 tenths of a second.
        assert_eq!(
            enc(SqlType::Time(1), "01:02:03.5"),
            [0x29, 1, 3, 0x73, 0x91, 0x00]
        );
        let dt2 = enc(SqlType::DateTime2(7), "2024-02-29 01:02:03.1234567");
        let units: u64 = 37_231_234_567;
        let mut want = vec![0x2A, 7, 8];
        want.extend(&units.to_le_bytes()[..5]);
        want.extend([0x80, 0x46, 0x0B]);
        assert_eq!(dt2, want);
        // +02:00 local 01:00 is 23:00 UTC the day before.
        let dto = enc(SqlType::DateTimeOffset(0), "2024-02-29 01:00:00 +02:00");
        let mut want = vec![0x2B, 0, 8];
        want.extend(&(23u64 * 3600).to_le_bytes()[..3]);
        want.extend([0x7F, 0x46, 0x0B]);
        want.extend(120i16.to_le_bytes());
        assert_eq!(dto, want);
        assert_eq!(DateTime2Parts::parse("junk"), None);
        assert_eq!(
            DateTime2Parts::parse("2024-02-29T00:00:00Z").map(|p| p.offset),
            Some(0)
        );
    }

    #[test]
    fn decimals_scale() {
        assert_eq!(decimal_scaled(Cell::Text("12.5"), 2), 1250);
        assert_eq!(decimal_scaled(Cell::Float(-1.25), 2), -125);
        assert_eq!(decimal_scaled(Cell::Int(3), 2), 300);
    }

    #[test]
    fn done_widths_follow_the_version() {
        let mut t = Tokens::new(true);
        t.done(DONE, DONE_COUNT, CMD_SELECT, 3);
        assert_eq!(t.into_vec().len(), 9);
        let mut t = Tokens::new(false);
        t.done(DONE, DONE_COUNT, CMD_SELECT, 3);
        assert_eq!(t.into_vec().len(), 13);
    }

    #[test]
    fn streamed_rows_are_the_same_stream_in_whole_packets() {
        use std::sync::{Arc, Mutex};
        let cols = vec![
            Column {
                name: "id".into(),
                ty: SqlType::Int,
                nullable: true,
                identity: false,
            },
            Column {
                name: "name".into(),
                ty: SqlType::NVarChar(Some(40)),
                nullable: true,
                identity: false,
            },
        ];
        let make = |t: &mut Tokens| {
            t.done(DONE, DONE_MORE, 0, 0);
            t.colmetadata(&cols);
            for k in 0..500 {
                t.row(&cols, &[Value::Int(k), Value::Text(format!("row-{k}"))]);
                t.row_done();
            }
            t.done(DONE, DONE_MORE | DONE_COUNT, CMD_SELECT, 500);
            assert!(t.end_batch());
        };
        let mut whole = Tokens::new(false);
        make(&mut whole);
        let whole = whole.into_vec();
        let parts = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
        let mut t = Tokens::new(false);
        let sink = parts.clone();
        // Every third part is refused (a reader that has not caught up).
        let mut offers = 0;
        t.stream_to(100, 1000, move |p| {
            offers += 1;
            if offers % 3 == 0 {
                return Err(p);
            }
            sink.lock().unwrap().push(p);
            Ok(())
        });
        make(&mut t);
        let boundary = t.streamed().expect("parts went out");
        let rest = t.into_vec();
        let parts = parts.lock().unwrap();
        assert!(parts.len() > 5);
        assert!(parts.iter().all(|p| p.len() % 100 == 0 && p.len() >= 1000));
        let mut joined: Vec<u8> = parts.concat();
        let cut = joined.len() + boundary;
        joined.extend(&rest);
        // The same bytes, the final DONE's MORE bit cleared in both.
        assert_eq!(joined, whole);
        // The boundary ends on a row's end: a ROW token or the DONE follows.
        assert!(matches!(whole.get(cut), Some(&ROW) | Some(&DONE)));
    }
}
