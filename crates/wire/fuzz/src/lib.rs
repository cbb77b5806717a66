//! Body of the `roundtrip` fuzz target, kept out of `fuzz_targets/` so that
//! the stable smoke test (`crates/fuzzing/tests/smoke.rs`, which includes
//! this file) runs exactly what libFuzzer runs.
//!
//! The input is a program and the bytes it reads: the first byte says how
//! many program bytes follow, and each program byte picks a read (low
//! nibble) and a size (high nibble). Every read that succeeds is written
//! back with the matching [`Writer`] call, so at the end the writer must
//! hold exactly the bytes the reader consumed. Along the way: a failed read
//! consumes nothing and says where and by how much it fell short; position
//! plus remaining is always the length; sub-readers and windows see exactly
//! their bytes; code enums give back every byte. Then the consumed bytes
//! are framed behind every kind of length field, patched, and read back.

use fakedc_wire::{code_enum, Error, Reader, Writer};

code_enum! {
    /// A `u8` code with gaps, so known and unknown values both occur.
    pub enum Sample: u8 {
        Zero = 0,
        One = 1,
        Hundred = 100,
        Max = 255,
    }
}

/// Reads `input` as the program says, writing back what it read.
pub fn roundtrip(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (program, input) = rest.split_at(usize::from(n).min(rest.len()));
    let mut r = Reader::new(input);
    let mut w = Writer::new();
    let mut prog = program.iter().copied();
    while let Some(op) = prog.next() {
        let size = usize::from(op >> 4);
        let before = r.position();
        let consumed = |r: &Reader<'_>| input.get(before..r.position()).unwrap_or_default();
        let result: Result<(), Error> = match op & 0x0f {
            0 => r.u8().map(|v| {
                w.u8(v);
            }),
            1 => r.u16_le().map(|v| {
                w.u16_le(v);
            }),
            2 => r.u16_be().map(|v| {
                w.u16_be(v);
            }),
            3 => r.u32_le().map(|v| {
                w.u32_le(v);
            }),
            4 => r.u32_be().map(|v| {
                w.u32_be(v);
            }),
            5 => r.u64_le().map(|v| {
                w.u64_le(v);
            }),
            6 => r.u64_be().map(|v| {
                w.u64_be(v);
            }),
            7 => match size % 7 {
                0 => r.i16_le().map(|v| {
                    w.i16_le(v);
                }),
                1 => r.i16_be().map(|v| {
                    w.i16_be(v);
                }),
                2 => r.i32_le().map(|v| {
                    w.i32_le(v);
                }),
                3 => r.i32_be().map(|v| {
                    w.i32_be(v);
                }),
                4 => r.i64_le().map(|v| {
                    w.i64_le(v);
                }),
                5 => r.i64_be().map(|v| {
                    w.i64_be(v);
                }),
                _ => r.i8().map(|v| {
                    w.i8(v);
                }),
            },
            8 => r.bytes(size).map(|b| {
                w.bytes(b);
            }),
            9 => r.skip(size).map(|()| {
                w.bytes(consumed(&r));
            }),
            10 => r.utf16le(size).map(|s| {
                // Valid UTF-16 re-encodes to the same units.
                assert_eq!(w.utf16le(&s), size, "{s:?}");
            }),
            11 => {
                let strict = r.clone().utf16le(size);
                r.utf16le_lossy(size).map(|s| {
                    if let Ok(strict) = strict {
                        assert_eq!(strict, s);
                    }
                    assert_eq!(r.position() - before, 2 * size);
                    w.bytes(consumed(&r));
                })
            }
            12 => r.align(size).map(|()| {
                if size > 1 {
                    assert_eq!(r.position() % size, 0);
                }
                assert!(r.position() - before < size.max(1));
                w.bytes(consumed(&r));
            }),
            13 => r.sub(size).map(|mut sub| {
                assert_eq!((sub.len(), sub.position()), (size, 0));
                let all = sub.rest();
                assert_eq!(sub.end(), Ok(()));
                w.bytes(all);
            }),
            14 => {
                // Moves nothing, whatever the peer's offset and length.
                let offset = size * 16;
                let len = prog.next().map_or(0, usize::from);
                match (r.window(offset, len), input.get(offset..offset + len)) {
                    (Ok(win), Some(want)) => assert_eq!(win.peek_rest(), want),
                    (Err(Error::OutOfBounds { .. }), None) => {}
                    (got, want) => panic!("window({offset}, {len}): {got:?} vs {want:?}"),
                }
                Ok(())
            }
            _ => r.u8().map(|b| {
                let c = Sample::from(b);
                assert_eq!(u8::from(c), b);
                assert_eq!(c.is_known(), matches!(b, 0 | 1 | 100 | 255));
                assert_eq!(c, Sample::Unknown(b), "equality is by value");
                assert!(!c.to_string().is_empty());
                w.u8(c.into());
            }),
        };
        assert_eq!(r.position() + r.remaining(), input.len());
        if let Err(e) = result {
            assert_eq!(r.position(), before, "a failed read consumed input: {e}");
            match e {
                Error::Truncated {
                    at,
                    needed,
                    remaining,
                } => {
                    assert_eq!((at, remaining), (before, r.remaining()), "{e}");
                    assert!(needed > remaining, "{e}");
                }
                Error::Utf16 { at } => assert_eq!(at, before),
                other => panic!("a read failed with {other:?}"),
            }
        }
        assert_eq!(w.position(), r.position(), "after op {op:#04x}");
    }
    assert_eq!(Some(w.as_slice()), input.get(..r.position()));
    frame(w.as_slice());
}

/// `payload` behind every kind of length field, nested in a frame whose own
/// length counts itself: what fits reads back as the length, what does not
/// is refused and leaves the frame as it was.
fn frame(payload: &[u8]) {
    let mut w = Writer::new();
    let start = w.position();
    let total = w.reserve_u32_be();
    let fields = [
        w.reserve_u8(),
        w.reserve_u16_le(),
        w.reserve_u16_be(),
        w.reserve_u32_le(),
        w.reserve_u64_le(),
        w.reserve_u64_be(),
    ];
    w.bytes(payload).align(8);
    let mut want = Vec::new();
    for f in fields {
        let len = w.position() - f.end();
        let fits = f.width() == 8 || len >> (8 * f.width()) == 0;
        let unchanged = w.clone();
        match w.patch_len(f, f.end()) {
            Ok(()) => assert!(fits),
            Err(Error::FieldOverflow { value, .. }) => {
                assert!(!fits && value == len as u64);
                assert_eq!(w, unchanged);
            }
            Err(e) => panic!("{e}"),
        }
        want.push(if fits { len as u64 } else { 0 });
    }
    assert_eq!(w.patch_len(total, start), Ok(()));
    let mut r = Reader::new(w.as_slice());
    assert_eq!(r.u32_be().map(|v| v as usize), Ok(w.position()));
    let got = [
        r.u8().map(u64::from),
        r.u16_le().map(u64::from),
        r.u16_be().map(u64::from),
        r.u32_le().map(u64::from),
        r.u64_le(),
        r.u64_be(),
    ];
    for (g, e) in got.iter().zip(&want) {
        assert_eq!(g, &Ok(*e));
    }
    assert_eq!(r.bytes(payload.len()), Ok(payload));
    let padding = r.rest();
    assert!(padding.len() < 8 && padding.iter().all(|&b| b == 0));
    assert_eq!(r.position() % 8, 0);
}
