//! Helpers shared by the integration tests: hex decoding and the capture-file loader.
#![allow(dead_code)]

use std::path::PathBuf;

/// Direction of a captured datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Remote console → BMC (`C>` lines).
    ToBmc,
    /// BMC → remote console (`B<` lines).
    ToConsole,
}

/// Decodes a hex string (whitespace ignored).
pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Loads `tests/captures/<name>.txt`: `#` comments, then `C> hex` / `B< hex` lines.
pub fn capture(name: &str) -> Vec<(Dir, Vec<u8>)> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "captures",
        &format!("{name}.txt"),
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (dir, bytes) = l.split_once(' ').expect("direction and hex");
            let dir = match dir {
                "C>" => Dir::ToBmc,
                "B<" => Dir::ToConsole,
                other => panic!("bad direction {other}"),
            };
            (dir, hex(bytes))
        })
        .collect()
}

/// All capture files.
pub const CAPTURES: &[&str] = &[
    "lanplus_c3",
    "lanplus_c2",
    "lanplus_c1",
    "lanplus_c17",
    "lanplus_auto",
    "lanplus_auto_fakedc",
    "lanplus_unknown_user",
    "lanplus_wrong_password",
    "lan_md5",
    "lan_password",
];

/// The password every capture was made with.
pub const PASSWORD: &[u8] = b"password";
