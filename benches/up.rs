//! How long `fakedc up` takes to bind every listener, and its resident
//! memory, for the default scenario and the 500 hosts + 500 BMCs fleet.
//!
//! Run: `cargo bench --bench up` (add `-- --short` for one run each, as CI
//! does). Targets (issue 2): under 1 s and under 200 MB for the fleet.
#![allow(clippy::disallowed_methods)] // tests and benchmarks time real peers on the real clock
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)] // a benchmark prints its figures and fails loudly

mod common;
use common::rss_kib;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `fakedc up`, waits for the `ready` line, reads RSS, stops it.
fn measure(scenario: &str) -> (Duration, Duration, u64, String) {
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fakedc"))
        .args(["up", scenario, "--ephemeral", "--no-control"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn fakedc");
    let stdout = child.stdout.take().expect("stdout");
    let mut ready_line = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read");
        if line.starts_with("ready") {
            ready_line = line;
            break;
        }
    }
    let wall = t0.elapsed();
    assert!(!ready_line.is_empty(), "fakedc up never printed ready");
    // Internal bind time is printed in the ready line ("... in N ms").
    let inner_ms: f64 = ready_line
        .split(" in ")
        .nth(1)
        .and_then(|s| s.trim_end_matches(" ms").parse().ok())
        .unwrap_or(f64::NAN);
    let rss = rss_kib(child.id()).unwrap_or(0);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    (
        wall,
        Duration::from_secs_f64(inner_ms / 1000.0),
        rss,
        ready_line,
    )
}

fn main() {
    let short = std::env::args().any(|a| a == "--short");
    let runs = if short { 1 } else { 5 };
    println!(
        "{:<12} {:>12} {:>12} {:>10}  ready line",
        "scenario", "up (wall)", "bind", "RSS"
    );
    for scenario in ["vmm-default", "bmc-lab", "fleet-500"] {
        let mut best: Option<(Duration, Duration, u64, String)> = None;
        for _ in 0..runs {
            let m = measure(scenario);
            if best.as_ref().is_none_or(|b| m.0 < b.0) {
                best = Some(m);
            }
        }
        if let Some((wall, bind, rss, line)) = best {
            println!(
                "{:<12} {:>9.0} ms {:>9.1} ms {:>7.1} MB  {}",
                scenario,
                wall.as_secs_f64() * 1000.0,
                bind.as_secs_f64() * 1000.0,
                rss as f64 / 1024.0,
                line
            );
        }
    }
    println!("targets for fleet-500: up < 1000 ms, RSS < 200 MB");
}
