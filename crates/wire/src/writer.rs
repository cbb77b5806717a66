//! The writer, with length fields patched after the fact.

use crate::{Error, Result};

/// A growing packet. Writes cannot fail (the `Vec` grows); only patching a
/// reserved [`Field`] can, when the value does not fit its width.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Writer {
    buf: Vec<u8>,
}

/// A length (or count, or offset) field written as zeros by one of the
/// `reserve_*` methods and filled in by [`Writer::patch`] or
/// [`Writer::patch_len`] once the bytes it describes are written: every
/// one of these protocols puts a structure's size before the structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    at: usize,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    U8,
    U16Le,
    U16Be,
    U32Le,
    U32Be,
    U64Le,
    U64Be,
}

impl Kind {
    fn width(self) -> usize {
        match self {
            Kind::U8 => 1,
            Kind::U16Le | Kind::U16Be => 2,
            Kind::U32Le | Kind::U32Be => 4,
            Kind::U64Le | Kind::U64Be => 8,
        }
    }
}

impl Field {
    /// Where the field starts.
    pub fn at(&self) -> usize {
        self.at
    }

    /// Where the field ends: `patch_len(f, f.end())` writes the length of
    /// what follows it (the NetBIOS session header before SMB2),
    /// `patch_len(f, start)` the length of a structure the field sits
    /// inside (TDS packet header, DCE/RPC `frag_length`).
    pub fn end(&self) -> usize {
        self.at + self.kind.width()
    }

    pub fn width(&self) -> usize {
        self.kind.width()
    }
}

macro_rules! ints {
    ($($(#[$doc:meta])* $name:ident, $reserve:ident: $t:ty = $to:ident, $kind:ident;)+) => {
        $(
            $(#[$doc])*
            pub fn $name(&mut self, v: $t) -> &mut Self {
                self.buf.extend_from_slice(&v.$to());
                self
            }

            /// Reserves a field of this type, written as zeros until patched.
            pub fn $reserve(&mut self) -> Field {
                self.reserve(Kind::$kind)
            }
        )+
    };
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    pub fn with_capacity(n: usize) -> Writer {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }

    /// Appends to bytes already there (positions count from their start).
    pub fn from_vec(buf: Vec<u8>) -> Writer {
        Writer { buf }
    }

    /// Bytes written so far.
    pub fn position(&self) -> usize {
        self.buf.len()
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    pub fn i8(&mut self, v: i8) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    ints! {
        u16_le, reserve_u16_le: u16 = to_le_bytes, U16Le;
        u16_be, reserve_u16_be: u16 = to_be_bytes, U16Be;
        u32_le, reserve_u32_le: u32 = to_le_bytes, U32Le;
        u32_be, reserve_u32_be: u32 = to_be_bytes, U32Be;
        u64_le, reserve_u64_le: u64 = to_le_bytes, U64Le;
        u64_be, reserve_u64_be: u64 = to_be_bytes, U64Be;
    }

    pub fn i16_le(&mut self, v: i16) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    pub fn i16_be(&mut self, v: i16) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }

    pub fn i32_le(&mut self, v: i32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    pub fn i32_be(&mut self, v: i32) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }

    pub fn i64_le(&mut self, v: i64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }

    pub fn i64_be(&mut self, v: i64) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }

    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }

    /// `n` zero bytes (reserved fields, padding).
    pub fn zeros(&mut self, n: usize) -> &mut Self {
        self.buf.resize(self.buf.len() + n, 0);
        self
    }

    /// `s` as UTF-16LE code units, not terminated; returns how many units
    /// were written, which is what these protocols' length fields count
    /// (or twice it, in bytes), and which differs from `s.chars().count()`
    /// for characters outside the BMP.
    pub fn utf16le(&mut self, s: &str) -> usize {
        let before = self.buf.len();
        for unit in s.encode_utf16() {
            self.buf.extend_from_slice(&unit.to_le_bytes());
        }
        (self.buf.len() - before) / 2
    }

    /// Zero padding to the next multiple of `n` from the writer's start
    /// (the reader's [`crate::Reader::align`] in reverse); 0 and 1 do
    /// nothing.
    pub fn align(&mut self, n: usize) -> &mut Self {
        self.align_from(0, n)
    }

    /// Zero padding to the next multiple of `n` counted from `base` (an
    /// SMB2 message after its 4-byte NetBIOS header aligns from the SMB2
    /// header, not from the start of the buffer). A `base` past the end
    /// counts as the end.
    pub fn align_from(&mut self, base: usize, n: usize) -> &mut Self {
        if n > 1 {
            let rel = self.buf.len().saturating_sub(base);
            self.zeros((n - rel % n) % n);
        }
        self
    }

    pub fn reserve_u8(&mut self) -> Field {
        self.reserve(Kind::U8)
    }

    fn reserve(&mut self, kind: Kind) -> Field {
        let at = self.buf.len();
        self.zeros(kind.width());
        Field { at, kind }
    }

    /// Writes `value` into a reserved field. Refused, with the buffer
    /// unchanged, when it does not fit the field's width (a frame that
    /// grew past what its length field can say must not go out with a
    /// wrapped length) or when the field is not inside this writer.
    pub fn patch(&mut self, field: Field, value: u64) -> Result<()> {
        let overflow = Error::FieldOverflow {
            at: field.at,
            width: field.width(),
            value,
        };
        let width = field.width();
        if width < 8 && value >> (8 * width) != 0 {
            return Err(overflow);
        }
        let (le, be) = (value.to_le_bytes(), value.to_be_bytes());
        let bytes = match field.kind {
            Kind::U8 | Kind::U16Le | Kind::U32Le | Kind::U64Le => le.get(..width),
            Kind::U16Be | Kind::U32Be | Kind::U64Be => be.get(8 - width..),
        }
        .unwrap_or_default();
        let size = self.buf.len();
        let slot = self
            .buf
            .get_mut(field.at..field.end())
            .ok_or(Error::OutOfBounds {
                offset: field.at,
                len: field.width(),
                size,
            })?;
        // Same width on both sides; a zip rather than copy_from_slice so
        // that not even a length mismatch can panic.
        for (d, s) in slot.iter_mut().zip(bytes) {
            *d = *s;
        }
        Ok(())
    }

    /// Patches `field` with the number of bytes written since `from` (a
    /// position taken earlier, or `field.at()`/`field.end()`; see
    /// [`Field::end`]).
    pub fn patch_len(&mut self, field: Field, from: usize) -> Result<()> {
        let len = self.buf.len().checked_sub(from).ok_or(Error::OutOfBounds {
            offset: from,
            len: 0,
            size: self.buf.len(),
        })?;
        self.patch(field, len as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reader;

    /// Every write reads back as what was written, in both byte orders.
    #[test]
    fn writes_read_back() {
        let mut w = Writer::new();
        w.u8(0xab)
            .i8(-2)
            .u16_le(0x1234)
            .u16_be(0x1234)
            .u32_le(0xdead_beef)
            .u32_be(0xdead_beef)
            .u64_le(u64::MAX - 1)
            .u64_be(0x0102_0304_0506_0708)
            .i16_le(-3)
            .i16_be(-4)
            .i32_le(i32::MIN)
            .i32_be(-6)
            .i64_le(i64::MIN)
            .i64_be(-8)
            .bytes(b"xyz")
            .zeros(2);
        let units = w.utf16le("Aé𝄞");
        assert_eq!(units, 4);
        let mut r = Reader::new(w.as_slice());
        assert_eq!(r.u8(), Ok(0xab));
        assert_eq!(r.i8(), Ok(-2));
        assert_eq!(r.u16_le(), Ok(0x1234));
        assert_eq!(r.u16_be(), Ok(0x1234));
        assert_eq!(r.u32_le(), Ok(0xdead_beef));
        assert_eq!(r.u32_be(), Ok(0xdead_beef));
        assert_eq!(r.u64_le(), Ok(u64::MAX - 1));
        assert_eq!(r.u64_be(), Ok(0x0102_0304_0506_0708));
        assert_eq!(r.i16_le(), Ok(-3));
        assert_eq!(r.i16_be(), Ok(-4));
        assert_eq!(r.i32_le(), Ok(i32::MIN));
        assert_eq!(r.i32_be(), Ok(-6));
        assert_eq!(r.i64_le(), Ok(i64::MIN));
        assert_eq!(r.i64_be(), Ok(-8));
        assert_eq!(r.bytes(3), Ok(&b"xyz"[..]));
        assert_eq!(r.array(), Ok([0u8, 0]));
        assert_eq!(r.utf16le(units).as_deref(), Ok("Aé𝄞"));
        assert_eq!(r.end(), Ok(()));
        // Byte order on the wire, spelled out once.
        let mut w = Writer::new();
        w.u32_le(0x0102_0304).u32_be(0x0102_0304);
        assert_eq!(w.as_slice(), [4, 3, 2, 1, 1, 2, 3, 4]);
    }

    /// The three length conventions: of what follows the field (NetBIOS),
    /// of the structure the field is inside (TDS), and nested frames.
    #[test]
    fn length_patching() {
        // Direct-TCP SMB2: a zero type byte and a 24-bit big-endian length
        // of what follows, which is a u32_be below 2^24.
        let mut w = Writer::new();
        let nb = w.reserve_u32_be();
        w.bytes(b"\xfeSMB").zeros(60);
        w.patch_len(nb, nb.end()).unwrap();
        assert_eq!(&w.as_slice()[..4], [0, 0, 0, 64]);

        // TDS header: type, status, length (BE, of the whole packet,
        // header included), spid, packet id, window.
        let mut w = Writer::new();
        let start = w.position();
        w.u8(0x12).u8(0x01);
        let len = w.reserve_u16_be();
        w.u16_be(0).u8(1).u8(0).bytes(&[0xff; 9]);
        w.patch_len(len, start).unwrap();
        let mut r = Reader::new(w.as_slice());
        r.skip(2).unwrap();
        assert_eq!(r.u16_be(), Ok(17));

        // A frame inside a frame, each patched when closed; every field
        // kind once.
        let mut w = Writer::from_vec(vec![0xaa]);
        let outer = w.reserve_u32_le();
        let inner_start = w.position();
        let kinds = [
            w.reserve_u8(),
            w.reserve_u16_le(),
            w.reserve_u16_be(),
            w.reserve_u32_be(),
            w.reserve_u64_le(),
            w.reserve_u64_be(),
        ];
        w.bytes(&[1; 100]);
        for k in kinds {
            w.patch_len(k, k.end()).unwrap();
        }
        w.patch_len(outer, inner_start).unwrap();
        let mut r = Reader::new(w.as_slice());
        assert_eq!(r.u8(), Ok(0xaa));
        assert_eq!(r.u32_le(), Ok(125));
        assert_eq!(r.u8(), Ok(124));
        assert_eq!(r.u16_le(), Ok(122));
        assert_eq!(r.u16_be(), Ok(120));
        assert_eq!(r.u32_be(), Ok(116));
        assert_eq!(r.u64_le(), Ok(108));
        assert_eq!(r.u64_be(), Ok(100));
    }

    #[test]
    fn patches_that_do_not_fit_are_refused() {
        let mut w = Writer::new();
        let small = w.reserve_u8();
        let short = w.reserve_u16_le();
        w.zeros(70_000);
        let before = w.clone();
        assert_eq!(
            w.patch_len(small, small.end()),
            Err(Error::FieldOverflow {
                at: 0,
                width: 1,
                value: 70_002
            })
        );
        assert_eq!(
            w.patch(short, 65_536),
            Err(Error::FieldOverflow {
                at: 1,
                width: 2,
                value: 65_536
            })
        );
        assert_eq!(w, before, "a refused patch changes nothing");
        assert_eq!(w.patch(short, 65_535), Ok(()));
        assert_eq!(w.patch(small, 255), Ok(()));
        assert_eq!(&w.as_slice()[..3], [255, 255, 255]);
        // A field from another writer, and a start after the end.
        let mut other = Writer::new();
        assert_eq!(
            other.patch(short, 1),
            Err(Error::OutOfBounds {
                offset: 1,
                len: 2,
                size: 0
            })
        );
        assert!(matches!(
            w.patch_len(short, 1_000_000),
            Err(Error::OutOfBounds { .. })
        ));
    }

    #[test]
    fn alignment_pads_with_zeros() {
        let mut w = Writer::new();
        w.u8(1).align(4);
        assert_eq!(w.as_slice(), [1, 0, 0, 0]);
        w.align(4).align(0).align(1);
        assert_eq!(w.position(), 4);
        w.u8(2).align_from(4, 8);
        assert_eq!(w.position(), 12);
        w.u8(3).align_from(100, 8);
        assert_eq!(w.position(), 13, "a base past the end counts as the end");
        // What the writer pads, the reader skips.
        let mut w = Writer::new();
        w.u8(9).align(8).u16_le(7);
        let mut r = Reader::new(w.as_slice());
        r.u8().unwrap();
        r.align(8).unwrap();
        assert_eq!(r.u16_le(), Ok(7));
    }
}
