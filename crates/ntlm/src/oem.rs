//! The OEM character set of NTLM messages (MS-NLMP 2.2.2.5, flag B) for a
//! client that does not offer Unicode (wget): Windows reads such strings in
//! the system's OEM code page, which on an en-US Windows (the hosts fakedc
//! plays) is code page 437. Bytes below 0x80 are ASCII; the upper half is
//! CP437's letters, symbols and box drawing. Encoding replaces what CP437
//! cannot show with `?`, as Windows' default character does.

/// CP437 bytes 0x80..=0xFF (the Unicode mapping Windows uses).
const HIGH: [char; 128] = [
    '\u{00c7}', '\u{00fc}', '\u{00e9}', '\u{00e2}', '\u{00e4}', '\u{00e0}', '\u{00e5}', '\u{00e7}',
    '\u{00ea}', '\u{00eb}', '\u{00e8}', '\u{00ef}', '\u{00ee}', '\u{00ec}', '\u{00c4}', '\u{00c5}',
    '\u{00c9}', '\u{00e6}', '\u{00c6}', '\u{00f4}', '\u{00f6}', '\u{00f2}', '\u{00fb}', '\u{00f9}',
    '\u{00ff}', '\u{00d6}', '\u{00dc}', '\u{00a2}', '\u{00a3}', '\u{00a5}', '\u{20a7}', '\u{0192}',
    '\u{00e1}', '\u{00ed}', '\u{00f3}', '\u{00fa}', '\u{00f1}', '\u{00d1}', '\u{00aa}', '\u{00ba}',
    '\u{00bf}', '\u{2310}', '\u{00ac}', '\u{00bd}', '\u{00bc}', '\u{00a1}', '\u{00ab}', '\u{00bb}',
    '\u{2591}', '\u{2592}', '\u{2593}', '\u{2502}', '\u{2524}', '\u{2561}', '\u{2562}', '\u{2556}',
    '\u{2555}', '\u{2563}', '\u{2551}', '\u{2557}', '\u{255d}', '\u{255c}', '\u{255b}', '\u{2510}',
    '\u{2514}', '\u{2534}', '\u{252c}', '\u{251c}', '\u{2500}', '\u{253c}', '\u{255e}', '\u{255f}',
    '\u{255a}', '\u{2554}', '\u{2569}', '\u{2566}', '\u{2560}', '\u{2550}', '\u{256c}', '\u{2567}',
    '\u{2568}', '\u{2564}', '\u{2565}', '\u{2559}', '\u{2558}', '\u{2552}', '\u{2553}', '\u{256b}',
    '\u{256a}', '\u{2518}', '\u{250c}', '\u{2588}', '\u{2584}', '\u{258c}', '\u{2590}', '\u{2580}',
    '\u{03b1}', '\u{00df}', '\u{0393}', '\u{03c0}', '\u{03a3}', '\u{03c3}', '\u{00b5}', '\u{03c4}',
    '\u{03a6}', '\u{0398}', '\u{03a9}', '\u{03b4}', '\u{221e}', '\u{03c6}', '\u{03b5}', '\u{2229}',
    '\u{2261}', '\u{00b1}', '\u{2265}', '\u{2264}', '\u{2320}', '\u{2321}', '\u{00f7}', '\u{2248}',
    '\u{00b0}', '\u{2219}', '\u{00b7}', '\u{221a}', '\u{207f}', '\u{00b2}', '\u{25a0}', '\u{00a0}',
];

/// An OEM string as Unicode. Every byte maps to one character, so this
/// never fails.
pub fn decode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b.checked_sub(0x80) {
            None => char::from(b),
            Some(i) => HIGH[usize::from(i)],
        })
        .collect()
}

/// A string in CP437, `?` for characters outside it.
pub fn encode(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| {
            if c.is_ascii() {
                c as u8
            } else {
                HIGH.iter()
                    .position(|&h| h == c)
                    .map_or(b'?', |i| 0x80 + i as u8)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_cp437_round_trip() {
        assert_eq!(decode(b"Administrator"), "Administrator");
        // 0x82 é, 0x81 ü, 0x99 Ö, 0xE1 ß, 0xFF no-break space.
        assert_eq!(decode(&[b'J', b'o', b's', 0x82]), "Jos\u{e9}");
        assert_eq!(
            decode(&[0x81, 0x99, 0xe1, 0xff]),
            "\u{fc}\u{d6}\u{df}\u{a0}"
        );
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(encode(&decode(&all)), all);
        assert_eq!(encode("Jos\u{e9}"), [b'J', b'o', b's', 0x82]);
        // Outside CP437: the default character.
        assert_eq!(encode("\u{141}\u{f3}d\u{17a}"), [b'?', 0xa2, b'd', b'?']);
    }
}
