//! The bounds-checked reader.

use crate::{Error, Result};

/// A cursor over a borrowed packet.
///
/// Every read checks the length first and either returns the value and
/// advances, or returns an [`Error`] and leaves the position where it was.
/// Positions ([`Reader::position`], [`Reader::align`]) count from this
/// reader's start, which is what protocols align to and measure offsets
/// from (an SMB2 offset is from the SMB2 header, so parse the message from
/// a [`Reader::sub`] that starts there); error offsets count from the
/// outermost reader's start, which is what a person debugging wants.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Where `buf` starts in the outermost reader (for error offsets).
    base: usize,
}

/// One read method per integer type and byte order, so a codec names the
/// width and order at the call site (`r.u32_le()`) as the spec does.
macro_rules! ints {
    ($($(#[$doc:meta])* $name:ident: $t:ty = $from:ident;)+) => {
        $(
            $(#[$doc])*
            pub fn $name(&mut self) -> Result<$t> {
                self.array().map(<$t>::$from)
            }
        )+
    };
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            base: 0,
        }
    }

    /// Bytes read so far (from this reader's start).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// This reader's whole buffer, read or not.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// The unread bytes, without consuming them.
    pub fn peek_rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    fn truncated(&self, needed: usize) -> Error {
        Error::Truncated {
            at: self.base + self.pos,
            needed,
            remaining: self.remaining(),
        }
    }

    /// The next `n` bytes without consuming them.
    pub fn peek(&self, n: usize) -> Result<&'a [u8]> {
        match self.peek_rest().split_at_checked(n) {
            Some((head, _)) => Ok(head),
            None => Err(self.truncated(n)),
        }
    }

    pub fn peek_u8(&self) -> Result<u8> {
        self.peek(1).map(|b| b.first().copied().unwrap_or_default())
    }

    /// The next `n` bytes, borrowed from the input.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let head = self.peek(n)?;
        self.pos += n;
        Ok(head)
    }

    /// The next `N` bytes as an array (GUIDs, signatures, fixed fields).
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let head = self.peek(N)?;
        let arr = <[u8; N]>::try_from(head).map_err(|_| self.truncated(N))?;
        self.pos += N;
        Ok(arr)
    }

    /// Everything left, consumed.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = self.peek_rest();
        self.pos = self.buf.len();
        rest
    }

    /// Skips `n` bytes (reserved fields, padding the spec says to ignore).
    pub fn skip(&mut self, n: usize) -> Result<()> {
        self.bytes(n).map(|_| ())
    }

    /// A reader over the next `n` bytes, which this one skips: a length-
    /// prefixed structure parsed by its own reader cannot read past its
    /// length into the next one, and its positions start at 0.
    pub fn sub(&mut self, n: usize) -> Result<Reader<'a>> {
        let at = self.base + self.pos;
        let buf = self.bytes(n)?;
        Ok(Reader {
            buf,
            pos: 0,
            base: at,
        })
    }

    /// A reader over `len` bytes at `offset` from this reader's start,
    /// wherever this one stands, which does not move: SMB2 and RDP point at
    /// variable parts with offset/length pairs the peer chooses, so both
    /// are checked against the buffer before anything is read.
    pub fn window(&self, offset: usize, len: usize) -> Result<Reader<'a>> {
        let out = Error::OutOfBounds {
            offset,
            len,
            size: self.buf.len(),
        };
        let end = offset.checked_add(len).ok_or(out)?;
        let buf = self.buf.get(offset..end).ok_or(out)?;
        Ok(Reader {
            buf,
            pos: 0,
            base: self.base + offset,
        })
    }

    /// Skips to the next multiple of `n` from this reader's start (NDR and
    /// SMB2 align structures to 2, 4 or 8). `n` of 0 or 1 does nothing.
    /// Truncated when the padding runs past the end: a structure that
    /// needs aligning is always followed by something.
    pub fn align(&mut self, n: usize) -> Result<()> {
        match n {
            0 | 1 => Ok(()),
            n => self.skip((n - self.pos % n) % n),
        }
    }

    /// Fails unless everything has been read: for structures whose length
    /// is known and whose every byte the codec must account for.
    pub fn end(&self) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(Error::Trailing {
                at: self.base + self.pos,
                count,
            }),
        }
    }

    /// `units` UTF-16LE code units (2 bytes each) as a string, as TDS,
    /// SMB2 and RDP carry names: counted in units, not characters, and not
    /// terminated. An unpaired surrogate is an error (and nothing is
    /// consumed); see [`Reader::utf16le_lossy`] for display text.
    pub fn utf16le(&mut self, units: usize) -> Result<String> {
        let at = self.base + self.pos;
        let raw = self.peek(units.saturating_mul(2))?;
        let s = char::decode_utf16(utf16_units(raw))
            .collect::<core::result::Result<String, _>>()
            .map_err(|_| Error::Utf16 { at })?;
        self.pos += raw.len();
        Ok(s)
    }

    /// [`Reader::utf16le`], with unpaired surrogates as U+FFFD: for text
    /// only shown or logged, where Windows itself would not refuse it.
    pub fn utf16le_lossy(&mut self, units: usize) -> Result<String> {
        let raw = self.bytes(units.saturating_mul(2))?;
        Ok(char::decode_utf16(utf16_units(raw))
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect())
    }

    pub fn u8(&mut self) -> Result<u8> {
        self.array::<1>().map(|[b]| b)
    }

    pub fn i8(&mut self) -> Result<i8> {
        self.array::<1>().map(i8::from_le_bytes)
    }

    ints! {
        u16_le: u16 = from_le_bytes;
        u16_be: u16 = from_be_bytes;
        u32_le: u32 = from_le_bytes;
        u32_be: u32 = from_be_bytes;
        u64_le: u64 = from_le_bytes;
        u64_be: u64 = from_be_bytes;
        i16_le: i16 = from_le_bytes;
        i16_be: i16 = from_be_bytes;
        i32_le: i32 = from_le_bytes;
        i32_be: i32 = from_be_bytes;
        i64_le: i64 = from_le_bytes;
        i64_be: i64 = from_be_bytes;
    }
}

fn utf16_units(raw: &[u8]) -> impl Iterator<Item = u16> + '_ {
    raw.chunks_exact(2).map(|p| match p {
        [lo, hi] => u16::from_le_bytes([*lo, *hi]),
        _ => 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_in_both_orders() {
        let data = [
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xff, 0xfe, 0x80,
        ];
        let mut r = Reader::new(&data);
        assert_eq!(r.u16_le(), Ok(0x0201));
        assert_eq!(r.u16_be(), Ok(0x0304));
        assert_eq!(r.u32_le(), Ok(0x0807_0605));
        assert_eq!(r.i8(), Ok(-1));
        assert_eq!(r.i16_be(), Ok(-384));
        assert!(r.is_empty());
        assert_eq!(r.position(), 11);
        let mut r = Reader::new(&data);
        assert_eq!(r.u64_be(), Ok(0x0102_0304_0506_0708));
        let mut r = Reader::new(&data);
        assert_eq!(r.u64_le(), Ok(0x0807_0605_0403_0201));
        assert_eq!(r.i16_le(), Ok(-257));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(r.i32_be(), Ok(-2));
    }

    /// Every read, cut short at every length, fails with how much was
    /// missing, consumes nothing, and the reader still works.
    #[test]
    fn truncation_at_every_length() {
        type Read = fn(&mut Reader<'_>) -> Result<()>;
        let reads: [(&str, usize, Read); 19] = [
            ("u8", 1, |r| r.u8().map(drop)),
            ("i8", 1, |r| r.i8().map(drop)),
            ("u16_le", 2, |r| r.u16_le().map(drop)),
            ("u16_be", 2, |r| r.u16_be().map(drop)),
            ("i16_le", 2, |r| r.i16_le().map(drop)),
            ("i16_be", 2, |r| r.i16_be().map(drop)),
            ("u32_le", 4, |r| r.u32_le().map(drop)),
            ("u32_be", 4, |r| r.u32_be().map(drop)),
            ("i32_le", 4, |r| r.i32_le().map(drop)),
            ("i32_be", 4, |r| r.i32_be().map(drop)),
            ("u64_le", 8, |r| r.u64_le().map(drop)),
            ("u64_be", 8, |r| r.u64_be().map(drop)),
            ("i64_le", 8, |r| r.i64_le().map(drop)),
            ("i64_be", 8, |r| r.i64_be().map(drop)),
            ("bytes(5)", 5, |r| r.bytes(5).map(drop)),
            ("array::<16>", 16, |r| r.array::<16>().map(drop)),
            ("skip(3)", 3, |r| r.skip(3)),
            ("sub(7)", 7, |r| r.sub(7).map(drop)),
            ("utf16le(3)", 6, |r| r.utf16le(3).map(drop)),
        ];
        let mut data = [9u8; 32];
        data[..8].copy_from_slice(b"a\0b\0c\0d\0");
        for (name, width, read) in reads {
            for have in 0..width {
                // Behind a 2-byte prefix, so the error offset is checked too.
                let mut outer = Reader::new(&data);
                outer.skip(2).unwrap();
                let mut r = outer.sub(have).unwrap();
                assert_eq!(
                    read(&mut r),
                    Err(Error::Truncated {
                        at: 2,
                        needed: width,
                        remaining: have
                    }),
                    "{name} with {have} bytes"
                );
                assert_eq!((r.position(), r.remaining()), (0, have), "{name}");
                // The reader is still usable: what is there can be read.
                assert_eq!(r.bytes(have).map(<[u8]>::len), Ok(have));
            }
            let mut r = Reader::new(&data[..width]);
            assert_eq!(read(&mut r), Ok(()), "{name}");
            assert!(r.is_empty(), "{name}");
        }
    }

    #[test]
    fn sub_readers_and_windows_stay_inside() {
        let data: Vec<u8> = (0..32).collect();
        let mut r = Reader::new(&data);
        r.skip(4).unwrap();
        let mut sub = r.sub(8).unwrap();
        assert_eq!(r.position(), 12);
        assert_eq!(sub.len(), 8);
        assert_eq!(sub.u8(), Ok(4));
        assert_eq!(sub.rest(), &[5, 6, 7, 8, 9, 10, 11]);
        assert_eq!(
            sub.u8(),
            Err(Error::Truncated {
                at: 12,
                needed: 1,
                remaining: 0
            })
        );
        // Windows are relative to their reader and do not move it.
        let w = r.window(30, 2).unwrap();
        assert_eq!(w.peek_rest(), &[30, 31]);
        assert_eq!(r.position(), 12);
        for (offset, len) in [(31, 2), (33, 0), (usize::MAX, 2), (1, usize::MAX)] {
            assert_eq!(
                r.window(offset, len).map(|w| w.len()),
                Err(Error::OutOfBounds {
                    offset,
                    len,
                    size: 32
                })
            );
        }
        assert_eq!(r.window(32, 0).map(|w| w.len()), Ok(0));
        let mut w = r.window(20, 4).unwrap();
        w.skip(4).unwrap();
        assert_eq!(
            w.u8(),
            Err(Error::Truncated {
                at: 24,
                needed: 1,
                remaining: 0
            })
        );
        assert_eq!(r.end(), Err(Error::Trailing { at: 12, count: 20 }));
        r.rest();
        assert_eq!(r.end(), Ok(()));
    }

    #[test]
    fn alignment_counts_from_the_readers_start() {
        let data = [0u8; 16];
        let mut r = Reader::new(&data);
        r.skip(1).unwrap();
        r.align(4).unwrap();
        assert_eq!(r.position(), 4);
        r.align(4).unwrap();
        assert_eq!(r.position(), 4);
        r.align(0).unwrap();
        r.align(1).unwrap();
        r.skip(1).unwrap();
        let mut sub = r.sub(9).unwrap();
        sub.skip(3).unwrap();
        sub.align(8).unwrap();
        assert_eq!(sub.position(), 8);
        sub.skip(1).unwrap();
        assert_eq!(
            sub.align(2),
            Err(Error::Truncated {
                at: 14,
                needed: 1,
                remaining: 0
            })
        );
        assert_eq!(sub.position(), 9);
    }

    #[test]
    fn utf16_strings() {
        // "Aé𝄞" (a surrogate pair) then an unpaired high surrogate.
        let data = [
            0x41, 0, 0xe9, 0, 0x34, 0xd8, 0x1e, 0xdd, 0x00, 0xd8, 0x42, 0,
        ];
        let mut r = Reader::new(&data);
        assert_eq!(r.utf16le(4).as_deref(), Ok("Aé𝄞"));
        assert_eq!(r.utf16le(2), Err(Error::Utf16 { at: 8 }));
        assert_eq!(r.position(), 8);
        assert_eq!(r.clone().utf16le_lossy(2).as_deref(), Ok("\u{fffd}B"));
        assert_eq!(r.utf16le(0).as_deref(), Ok(""));
        // A unit count whose byte count overflows is just truncation.
        assert!(matches!(
            r.utf16le(usize::MAX),
            Err(Error::Truncated {
                needed: usize::MAX,
                ..
            })
        ));
    }

    #[test]
    fn peeking_does_not_consume() {
        let mut r = Reader::new(&[7, 8]);
        assert_eq!(r.peek_u8(), Ok(7));
        assert_eq!(r.peek(2), Ok(&[7u8, 8][..]));
        assert!(r.peek(3).is_err());
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.peek_rest(), &[8]);
    }
}
