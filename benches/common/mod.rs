//! Helpers the benchmark programs share: their command line and reading a
//! process's resident memory.
#![allow(dead_code)] // each benchmark uses part of it

/// A benchmark's arguments: `--short` (the CI mode) and `--name value`
/// options.
pub struct Args(Vec<String>);

impl Args {
    pub fn from_env() -> Args {
        Args(std::env::args().skip(1).collect())
    }

    /// `--short`: the quick run CI does so the program cannot rot.
    pub fn short(&self) -> bool {
        self.0.iter().any(|a| a == "--short")
    }

    /// The text after `name`, if given.
    pub fn text(&self, name: &str) -> Option<&str> {
        let i = self.0.iter().position(|a| a == name)?;
        self.0.get(i + 1).map(String::as_str)
    }

    /// The value after `name`, parsed; an error when it is missing or does
    /// not parse.
    pub fn value<T: std::str::FromStr>(&self, name: &str) -> anyhow::Result<Option<T>> {
        if !self.0.iter().any(|a| a == name) {
            return Ok(None);
        }
        let v = self
            .text(name)
            .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))?;
        v.parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{name}: not a number: {v}"))
    }
}

/// Resident memory of a process in KiB, from /proc/PID/status.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
