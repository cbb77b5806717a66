//! RDP 6.0 bitmap compression ("planar", MS-RDPEGDI 2.2.2.5.1 and
//! 3.1.9) for 32 bpp bitmap updates: the tile split into red, green and
//! blue planes (no alpha plane: FormatHeader NA, the client fills 0xFF),
//! each scanline after the first replaced by its difference from the one
//! before, and every scanline run-length encoded.
//!
//! Why planar and not interleaved RLE: at 32 bpp FreeRDP 2 (and mstsc)
//! decode compressed bitmap updates with the planar decoder only
//! (interleaved RLE stops at 24 bpp), it is the simpler of the two to get
//! exactly right, and it is lossless without colour-loss reduction or
//! chroma subsampling (CLL 0, CS off), so the window stays pixel-exact.
//! A console is mostly flat background and repeated rows, which this
//! shrinks to a few bytes per scanline.

/// FormatHeader: RLE (0x10) | NA, no alpha plane (0x20); CLL 0, CS off.
pub const FORMAT_RLE_NO_ALPHA: u8 = 0x30;

/// Encodes `pixels` (`0x00RRGGBB`, `width`×`height`, top row first) as a
/// planar bitmap whose scanlines run bottom-up, as TS_BITMAP_DATA's do.
pub fn encode(pixels: &[u32], width: usize, height: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 3 * height * (width / 4 + 2));
    out.push(FORMAT_RLE_NO_ALPHA);
    // Whole rows as slices (no per-pixel index arithmetic): a full frame
    // is 192 tiles, encoded in the dev profile too.
    let mut plane = vec![0u8; width * height];
    let mut line = vec![0u8; width];
    for shift in [16u32, 8, 0] {
        for (p, v) in plane.iter_mut().zip(pixels) {
            *p = (v >> shift) as u8;
        }
        // Scanline 0 is the bottom row; each later one is a row higher,
        // stored as its difference from the row below it.
        for i in 0..height {
            let y = height - 1 - i;
            let row = &plane[y * width..(y + 1) * width];
            if i == 0 {
                rle_scanline(row, &mut out);
                continue;
            }
            let below = &plane[(y + 1) * width..(y + 2) * width];
            for ((l, a), b) in line.iter_mut().zip(row).zip(below) {
                *l = delta_byte(a.wrapping_sub(*b) as i8);
            }
            rle_scanline(&line, &mut out);
        }
    }
    out
}

/// A difference as the spec stores it: 2·d for d ≥ 0, 2·|d| − 1 below.
fn delta_byte(d: i8) -> u8 {
    if d >= 0 {
        (d as u8) << 1
    } else {
        ((-(i16::from(d)) as u16) * 2 - 1) as u8
    }
}

/// One scanline's segments: a control byte (raw count in the high
/// nibble, run length in the low one; a low nibble of 1 or 2 means a pure
/// run of 16+ or 32+ the high nibble) with its raw bytes, where a run
/// repeats the last raw byte (0 at the start of a scanline).
fn rle_scanline(b: &[u8], out: &mut Vec<u8>) {
    let run_of = |from: usize, v: u8| b[from..].iter().take_while(|&&x| x == v).count();
    let mut last = 0u8;
    let mut i = 0;
    while i < b.len() {
        let run = run_of(i, last);
        if run >= 3 {
            let mut r = run;
            while r >= 3 {
                let take = r.min(47);
                out.push(match take {
                    32.. => (((take - 32) as u8) << 4) | 2,
                    16.. => (((take - 16) as u8) << 4) | 1,
                    _ => take as u8,
                });
                r -= take;
                i += take;
            }
            continue;
        }
        // Raw bytes, up to 15, ending early where a run of the latest
        // one starts.
        let start = i;
        let mut raw = 0;
        while i < b.len() && raw < 15 {
            last = b[i];
            i += 1;
            raw += 1;
            if run_of(i, last) >= 3 {
                break;
            }
        }
        let follow = run_of(i, last);
        let run = if follow >= 3 { follow.min(15) } else { 0 };
        out.push(((raw as u8) << 4) | run as u8);
        out.extend_from_slice(&b[start..start + raw]);
        i += run;
    }
}

/// Decodes what [`encode`] writes (FormatHeader 0x30 only), mirroring
/// FreeRDP's planar decoder; for tests. `None` on any inconsistency.
#[cfg(test)]
pub(crate) fn decode(data: &[u8], width: usize, height: usize) -> Option<Vec<u32>> {
    let (&header, mut rest) = data.split_first()?;
    if header != FORMAT_RLE_NO_ALPHA {
        return None;
    }
    let mut px = vec![0u32; width * height];
    for shift in [16u32, 8, 0] {
        let mut prev: Option<Vec<u8>> = None;
        for i in 0..height {
            let mut line = Vec::with_capacity(width);
            let mut pixel: i16 = 0;
            while line.len() < width {
                let (&c, r) = rest.split_first()?;
                rest = r;
                let (mut raw, mut run) = (usize::from(c >> 4), usize::from(c & 0x0f));
                match run {
                    1 => (run, raw) = (raw + 16, 0),
                    2 => (run, raw) = (raw + 32, 0),
                    _ => {}
                }
                if line.len() + raw + run > width {
                    return None;
                }
                for _ in 0..raw {
                    let (&v, r) = rest.split_first()?;
                    rest = r;
                    pixel = match &prev {
                        None => i16::from(v),
                        Some(_) if v & 1 == 1 => -(i16::from(v >> 1) + 1),
                        Some(_) => i16::from(v >> 1),
                    };
                    line.push(value(&prev, line.len(), pixel));
                }
                for _ in 0..run {
                    line.push(value(&prev, line.len(), pixel));
                }
            }
            let y = height - 1 - i;
            for (x, v) in line.iter().enumerate() {
                px[y * width + x] |= u32::from(*v) << shift;
            }
            prev = Some(line);
        }
    }
    rest.is_empty().then_some(px)
}

#[cfg(test)]
fn value(prev: &Option<Vec<u8>>, x: usize, pixel: i16) -> u8 {
    match prev {
        None => pixel as u8,
        Some(p) => (i16::from(p[x]) + pixel) as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(px: &[u32], w: usize, h: usize) -> usize {
        let enc = encode(px, w, h);
        assert_eq!(decode(&enc, w, h).as_deref(), Some(px), "{w}x{h}");
        enc.len()
    }

    #[test]
    fn flat_tile_is_a_few_bytes_per_scanline() {
        let px = vec![0x0010_2030; 64 * 64];
        let n = round_trip(&px, 64, 64);
        assert!(n < 3 * 64 * 3 + 16, "{n} bytes");
    }

    #[test]
    fn every_delta_and_run_length() {
        // Pseudo-random noise, stripes and runs of every length up to 64.
        let mut seed = 0x1234_5678u32;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for (w, h) in [(64, 64), (1, 1), (17, 3), (63, 5), (50, 2)] {
            let noise: Vec<u32> = (0..w * h).map(|_| rnd() & 0xff_ffff).collect();
            round_trip(&noise, w, h);
            let runs: Vec<u32> = (0..w * h)
                .map(|i| {
                    if (i / (1 + i % 7)) % 3 == 0 {
                        0
                    } else {
                        0xff_00ff
                    }
                })
                .collect();
            round_trip(&runs, w, h);
        }
        for run in 0..64 {
            let mut px = vec![0x00ab_cdefu32; 64];
            for p in px.iter_mut().take(run) {
                *p = 0;
            }
            round_trip(&px, 64, 1);
            round_trip(&px, 8, 8);
        }
    }

    #[test]
    fn deltas_cover_the_whole_byte_range() {
        for d in i8::MIN..=i8::MAX {
            let b = delta_byte(d);
            let back = if b & 1 == 1 {
                -(i16::from(b >> 1) + 1)
            } else {
                i16::from(b >> 1)
            };
            assert_eq!(back, i16::from(d));
        }
    }
}
