//! DES encryption of single blocks (FIPS 46-3), for the NTLMv1 responses
//! only: `DESL` (MS-NLMP 6) and LMOWFv1. Written bit by bit from the
//! standard's tables rather than fast: a handshake runs it three times.
//! Checked against the FIPS worked example and the MS-NLMP 4.2.2 vectors.

/// Initial permutation (bit numbers count from 1 at the most significant bit).
const IP: [u8; 64] = [
    58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, //
    62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8, //
    57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, //
    61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
];

/// Final permutation, the inverse of [`IP`].
const FP: [u8; 64] = [
    40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, //
    38, 6, 46, 14, 54, 22, 62, 30, 37, 5, 45, 13, 53, 21, 61, 29, //
    36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27, //
    34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25,
];

/// Expansion of the 32-bit half block to 48 bits.
const E: [u8; 48] = [
    32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, //
    8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17, //
    16, 17, 18, 19, 20, 21, 20, 21, 22, 23, 24, 25, //
    24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1,
];

/// Permutation of the S-boxes' output.
const P: [u8; 32] = [
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, //
    2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
];

/// Permuted choice 1: the 56 key bits (parity bits dropped).
const PC1: [u8; 56] = [
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, //
    10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36, //
    63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, //
    14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
];

/// Permuted choice 2: a round's 48-bit subkey from C and D.
const PC2: [u8; 48] = [
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, //
    23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, //
    41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, //
    44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];

/// Left rotations of C and D before each round.
const SHIFTS: [u32; 16] = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];

/// The eight S-boxes, each four rows of sixteen.
const S: [[u8; 64]; 8] = [
    [
        14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, //
        0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8, //
        4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, //
        15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13,
    ],
    [
        15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, //
        3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5, //
        0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, //
        13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9,
    ],
    [
        10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, //
        13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1, //
        13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, //
        1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12,
    ],
    [
        7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, //
        13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9, //
        10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, //
        3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14,
    ],
    [
        2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, //
        14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6, //
        4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, //
        11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3,
    ],
    [
        12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, //
        10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8, //
        9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, //
        4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13,
    ],
    [
        4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, //
        13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6, //
        1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, //
        6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12,
    ],
    [
        13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, //
        1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2, //
        7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, //
        2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11,
    ],
];

/// Output bit `i` (from the most significant of `table.len()` bits) is
/// input bit `table[i]` (from 1 at the most significant of `width` bits).
fn permute(input: u64, width: u32, table: &[u8]) -> u64 {
    table.iter().fold(0u64, |out, &bit| {
        (out << 1) | ((input >> (width - u32::from(bit))) & 1)
    })
}

/// The cipher function f(R, K).
fn feistel(r: u32, subkey: u64) -> u32 {
    let x = permute(u64::from(r), 32, &E) ^ subkey;
    let mut out = 0u32;
    for (i, sbox) in S.iter().enumerate() {
        let six = ((x >> (42 - 6 * i)) & 0x3f) as usize;
        let row = ((six >> 4) & 2) | (six & 1);
        let col = (six >> 1) & 0xf;
        out = (out << 4) | u32::from(sbox[row * 16 + col]);
    }
    permute(u64::from(out), 32, &P) as u32
}

/// Encrypts one block with a 64-bit key (its parity bits are ignored).
pub fn encrypt_block(key: [u8; 8], block: [u8; 8]) -> [u8; 8] {
    let cd = permute(u64::from_be_bytes(key), 64, &PC1);
    let (mut c, mut d) = ((cd >> 28) as u32, (cd & 0x0fff_ffff) as u32);
    let rot = |v: u32, n: u32| ((v << n) | (v >> (28 - n))) & 0x0fff_ffff;
    let lr = permute(u64::from_be_bytes(block), 64, &IP);
    let (mut l, mut r) = ((lr >> 32) as u32, lr as u32);
    for shift in SHIFTS {
        c = rot(c, shift);
        d = rot(d, shift);
        let subkey = permute((u64::from(c) << 28) | u64::from(d), 56, &PC2);
        (l, r) = (r, l ^ feistel(r, subkey));
    }
    // The halves swap once more before the final permutation.
    permute((u64::from(r) << 32) | u64::from(l), 64, &FP).to_be_bytes()
}

/// A 7-byte (56-bit) key spread over eight bytes, seven bits each, with
/// the low (parity) bit left clear: how NTLM turns hash pieces into keys.
pub fn key56(k: &[u8; 7]) -> [u8; 8] {
    let mut v = 0u64;
    for b in k {
        v = (v << 8) | u64::from(*b);
    }
    let mut out = [0u8; 8];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (((v >> (49 - 7 * i)) & 0x7f) as u8) << 1;
    }
    out
}

/// `DESL(K, D)` (MS-NLMP 6): the 16-byte key padded with five zeros to 21
/// bytes, each 7-byte third a DES key encrypting the same 8-byte block.
pub fn desl(key: &[u8; 16], data: [u8; 8]) -> [u8; 24] {
    let mut k21 = [0u8; 21];
    k21[..16].copy_from_slice(key);
    let mut out = [0u8; 24];
    for (third, chunk) in out.chunks_exact_mut(8).enumerate() {
        let mut k7 = [0u8; 7];
        k7.copy_from_slice(&k21[7 * third..7 * third + 7]);
        chunk.copy_from_slice(&encrypt_block(key56(&k7), data));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fips_worked_example() {
        // The textbook example: key 133457799BBCDFF1, block 0123456789ABCDEF.
        let c = encrypt_block(
            0x1334_5779_9bbc_dff1u64.to_be_bytes(),
            0x0123_4567_89ab_cdefu64.to_be_bytes(),
        );
        assert_eq!(u64::from_be_bytes(c), 0x85e8_1354_0f0a_b405);
    }

    #[test]
    fn key56_spreads_seven_bits_per_byte() {
        assert_eq!(key56(&[0xff; 7]), [0xfe; 8]);
        assert_eq!(
            key56(&[0x80, 0, 0, 0, 0, 0, 1]),
            [0x80, 0, 0, 0, 0, 0, 0, 0x02]
        );
    }
}
