//! Smoke runs of the cargo-fuzz targets on the stable toolchain.
//!
//! Every protocol codec has a libFuzzer target under `crates/<crate>/fuzz/`.
//! Those need sanitizer coverage and only run in `scripts/fuzz`; a target
//! that nobody builds rots (an API change breaks it, or its harness stops
//! reaching the code it was written for). So each target's body is a plain
//! function in `crates/<crate>/fuzz/src/lib.rs`, which the libFuzzer binary
//! calls and which `tests/smoke.rs` here includes and runs under `cargo test`
//! over the seeds the crates' own tests use plus a few thousand
//! deterministic mutations of them ([`Mutator`], [`run`]).
//!
//! Mutations come from a fixed-seed [`SplitMix64`] rather than `rand`, whose
//! `StdRng` may change its stream between versions: a failure must
//! reproduce from the test name alone.

use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and its stream is
/// fixed by its definition, so a seed names the same mutations forever.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` (the modulo bias is irrelevant here); 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }
}

/// Values that sit on boundaries parsers get wrong (sign bits, all-ones, zero).
const INTERESTING: [u8; 8] = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, 0x10, 0x40];

/// Structure-blind mutations of the kinds libFuzzer's default mutator makes,
/// plus length-field bumps, which matter for binary codecs whose every
/// structure is prefixed by a length.
#[derive(Debug, Clone)]
pub struct Mutator {
    rng: SplitMix64,
    dict: Vec<Vec<u8>>,
}

impl Mutator {
    /// `dict`: tokens worth inserting for this format (delimiters, keywords,
    /// huge numbers), like a libFuzzer dictionary.
    pub fn new(seed: u64, dict: &[&[u8]]) -> Mutator {
        Mutator {
            rng: SplitMix64::new(seed),
            dict: dict.iter().map(|t| t.to_vec()).collect(),
        }
    }

    /// One to four stacked mutations of `input`; `pool` supplies splice partners.
    pub fn mutate(&mut self, input: &[u8], pool: &[Vec<u8>]) -> Vec<u8> {
        let mut m = input.to_vec();
        let rounds = 1 + self.rng.below(4);
        for _ in 0..rounds {
            self.once(&mut m, pool);
        }
        m
    }

    fn once(&mut self, m: &mut Vec<u8>, pool: &[Vec<u8>]) {
        let r = &mut self.rng;
        let len = m.len();
        match r.below(10) {
            // Flip one bit.
            0 if len > 0 => {
                let at = r.below(len);
                m[at] ^= 1 << r.below(8);
            }
            // Overwrite one byte with a boundary value or a random one.
            1 if len > 0 => {
                let at = r.below(len);
                m[at] = if r.below(2) == 0 {
                    INTERESTING[r.below(INTERESTING.len())]
                } else {
                    r.byte()
                };
            }
            // Truncate.
            2 => m.truncate(r.below(len + 1)),
            // Bump a little-endian length field of 1, 2 or 4 bytes by a small
            // amount either way, or set it to its maximum.
            3 if len > 0 => {
                let width = [1usize, 2, 4][r.below(3)].min(len);
                let at = r.below(len - width + 1);
                let mut v: u64 = 0;
                for (i, b) in m[at..at + width].iter().enumerate() {
                    v |= u64::from(*b) << (8 * i);
                }
                let delta = [1u64, 2, 4, 16][r.below(4)];
                v = match r.below(3) {
                    0 => v.wrapping_add(delta),
                    1 => v.wrapping_sub(delta),
                    _ => u64::MAX,
                };
                for (i, b) in m[at..at + width].iter_mut().enumerate() {
                    *b = (v >> (8 * i)) as u8;
                }
            }
            // Delete a run.
            4 if len > 0 => {
                let at = r.below(len);
                let n = 1 + r.below((len - at).min(16));
                m.drain(at..at + n);
            }
            // Insert random bytes.
            5 => {
                let at = r.below(len + 1);
                let n = 1 + r.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| r.byte()).collect();
                m.splice(at..at, bytes);
            }
            // Duplicate a run elsewhere (repeated headers, repeated fields).
            6 if len > 0 => {
                let from = r.below(len);
                let n = 1 + r.below((len - from).min(32));
                let chunk = m[from..from + n].to_vec();
                let at = r.below(len + 1);
                m.splice(at..at, chunk);
            }
            // Splice: our prefix, another seed's suffix.
            7 if !pool.is_empty() => {
                let other = &pool[r.below(pool.len())];
                let cut = r.below(len + 1);
                let from = r.below(other.len() + 1);
                m.truncate(cut);
                m.extend_from_slice(&other[from..]);
            }
            // Insert or overwrite with a dictionary token.
            8 | 9 if !self.dict.is_empty() => {
                let tok = self.dict[r.below(self.dict.len())].clone();
                let at = r.below(len + 1);
                if r.below(2) == 0 || at + tok.len() > len {
                    m.splice(at..at, tok);
                } else {
                    m.splice(at..at + tok.len(), tok);
                }
            }
            _ => {
                if len > 0 {
                    let at = r.below(len);
                    m[at] = m[at].wrapping_add(1);
                }
            }
        }
    }
}

/// One smoke run of a fuzz target.
#[derive(Debug, Clone)]
pub struct Smoke<'a> {
    /// `<crate>/<target>`, e.g. `ipmi/decode`: names the failure file and the
    /// cargo-fuzz directory in the reproduction hint.
    pub target: &'a str,
    /// Inputs run as they are, and the material mutations start from.
    pub seeds: Vec<Vec<u8>>,
    /// How many mutated inputs to run after the seeds.
    pub mutations: usize,
    /// Seeds the mutator; change it and the run explores other inputs.
    pub rng_seed: u64,
    /// Format tokens for the mutator.
    pub dict: &'a [&'a [u8]],
    /// Where a failing input is written.
    pub failures: PathBuf,
}

/// What a successful run did.
#[derive(Debug, Clone, Copy)]
pub struct Ran {
    pub inputs: usize,
    pub elapsed: Duration,
}

/// Environment variable naming a directory to copy every seed into, as
/// `<dir>/<crate>-<target>/seed-NNNN`: `scripts/fuzz` hands those to
/// libFuzzer as its starting corpus, so both runs start from one seed list.
pub const EXPORT_SEEDS_ENV: &str = "FAKEDC_FUZZ_SEEDS";

/// Runs `body` over the seeds, then over `mutations` mutants. A panic
/// (including a failed invariant assertion inside `body`) stops the run:
/// the input is written under `failures` and this panics with its path and
/// the command that replays it under libFuzzer.
pub fn run(smoke: &Smoke<'_>, body: impl Fn(&[u8])) -> Ran {
    assert!(!smoke.seeds.is_empty(), "{}: no seeds", smoke.target);
    if let Some(dir) = std::env::var_os(EXPORT_SEEDS_ENV) {
        export_seeds(Path::new(&dir), smoke);
    }
    #[allow(clippy::disallowed_methods)] // the runner reports its own wall time
    let start = Instant::now();
    let mut mutator = Mutator::new(smoke.rng_seed, smoke.dict);
    let mut inputs = 0;
    let total = smoke.seeds.len() + smoke.mutations;
    for i in 0..total {
        let input = match smoke.seeds.get(i) {
            Some(seed) => seed.clone(),
            None => {
                let base = &smoke.seeds[i % smoke.seeds.len()];
                mutator.mutate(base, &smoke.seeds)
            }
        };
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| body(&input)));
        if let Err(cause) = outcome {
            fail(smoke, i, &input, cause.as_ref());
        }
        inputs += 1;
    }
    Ran {
        inputs,
        #[allow(clippy::disallowed_methods)]
        elapsed: start.elapsed(),
    }
}

fn flat_name(target: &str) -> String {
    target.replace('/', "-")
}

fn export_seeds(dir: &Path, smoke: &Smoke<'_>) {
    let dir = dir.join(flat_name(smoke.target));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for (i, seed) in smoke.seeds.iter().enumerate() {
        let path = dir.join(format!("seed-{i:04}"));
        std::fs::write(&path, seed).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

fn fail(smoke: &Smoke<'_>, index: usize, input: &[u8], cause: &(dyn std::any::Any + Send)) -> ! {
    let why = cause
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| cause.downcast_ref::<&str>().copied())
        .unwrap_or("(non-string panic)");
    let kind = if index < smoke.seeds.len() {
        "seed"
    } else {
        "mutant"
    };
    let path = smoke
        .failures
        .join(format!("{}-{index}.bin", flat_name(smoke.target)));
    let saved = std::fs::create_dir_all(&smoke.failures)
        .and_then(|()| std::fs::write(&path, input))
        .map(|()| path.display().to_string())
        .unwrap_or_else(|e| format!("(could not save: {e})"));
    let (krate, target) = smoke.target.split_once('/').unwrap_or(("?", smoke.target));
    panic!(
        "fuzz target {} panicked on {kind} #{index} ({} bytes): {why}\n  input: {saved}\n  hex: {}\n  replay under libFuzzer: cd crates/{krate}/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run {target} {saved}",
        smoke.target,
        input.len(),
        hex_prefix(input, 256),
    );
}

fn hex_prefix(b: &[u8], max: usize) -> String {
    let mut s = String::with_capacity(2 * max.min(b.len()) + 3);
    for x in b.iter().take(max) {
        let _ = write!(s, "{x:02x}");
    }
    if b.len() > max {
        s.push_str("...");
    }
    s
}

/// Decodes hex, ignoring whitespace; `None` on an odd length or a non-hex digit.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|p| {
            let hi = char::from(p[0]).to_digit(16)?;
            let lo = char::from(p[1]).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_the_published_stream() {
        // First outputs for seed 1234567 from the reference C implementation.
        let mut r = SplitMix64::new(1_234_567);
        assert_eq!(r.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(r.next_u64(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn mutations_are_deterministic_and_vary() {
        let seeds = vec![b"bytes 0-9/10".to_vec(), vec![0, 1, 2, 3, 4, 5]];
        let mut a = Mutator::new(7, &[b"/"]);
        let mut b = Mutator::new(7, &[b"/"]);
        let ma: Vec<_> = (0..200).map(|i| a.mutate(&seeds[i % 2], &seeds)).collect();
        let mb: Vec<_> = (0..200).map(|i| b.mutate(&seeds[i % 2], &seeds)).collect();
        assert_eq!(ma, mb);
        let distinct: std::collections::BTreeSet<_> = ma.iter().collect();
        assert!(
            distinct.len() > 150,
            "only {} distinct mutants",
            distinct.len()
        );
        assert!(ma.iter().any(|m| m.is_empty() || m.len() < 6));
    }

    #[test]
    fn a_panicking_body_names_the_input_and_saves_it() {
        let dir = std::env::temp_dir().join(format!("fakedc-fuzzing-{}", std::process::id()));
        let smoke = Smoke {
            target: "demo/boom",
            seeds: vec![b"ok".to_vec()],
            mutations: 100,
            rng_seed: 1,
            dict: &[b"!"],
            failures: dir.clone(),
        };
        let err = panic::catch_unwind(|| {
            run(&smoke, |d| assert!(!d.contains(&b'!'), "bang"));
        })
        .expect_err("the body panics on '!'");
        let msg = err.downcast_ref::<String>().expect("formatted message");
        assert!(msg.contains("demo/boom") && msg.contains("bang"), "{msg}");
        assert!(msg.contains("cargo fuzz run boom"), "{msg}");
        let saved = std::fs::read_dir(&dir).expect("failure dir").count();
        assert_eq!(saved, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn hex() {
        assert_eq!(from_hex("06 00\nff"), Some(vec![6, 0, 0xff]));
        assert_eq!(from_hex("0"), None);
        assert_eq!(from_hex("zz"), None);
    }
}
