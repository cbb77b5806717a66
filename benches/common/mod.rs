//! Helpers the benchmark programs share: their command line and reading a
//! process's resident memory and CPU time.
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

/// Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 on
/// every Linux this runs on when getconf is missing).
fn clk_tck() -> f64 {
    static TCK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// User + system CPU time a process has used so far, from /proc/PID/stat
/// (fields 14 and 15), so a benchmark can print server CPU per operation,
/// a figure that survives a busy machine better than a rate does.
pub fn cpu_time(pid: u32) -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields start after its ')'.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(std::time::Duration::from_secs_f64(ticks as f64 / clk_tck()))
}

/// User + system CPU time of this process's children that have been
/// waited for (/proc/self/stat fields 16 and 17): the CPU of a client run
/// to completion with `Command::output`, read before and after.
pub fn waited_children_cpu() -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(13)?.parse::<u64>().ok()? + f.get(14)?.parse::<u64>().ok()?;
    Some(std::time::Duration::from_secs_f64(ticks as f64 / clk_tck()))
}

/// The live children of a process (from /proc/PID/task/PID/children), e.g.
/// a server's worker processes.
pub fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// User + system CPU time used so far by this process's threads named
/// `name` (a runtime's `thread_name`), from /proc/self/task/*/stat: the
/// CPU of one in-process server, apart from the load generator's.
pub fn threads_cpu(name: &str) -> std::time::Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return std::time::Duration::ZERO;
    };
    let mut ticks = 0u64;
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        if head.split_once('(').map(|(_, c)| c) != Some(name) {
            continue;
        }
        let f: Vec<&str> = rest.split_whitespace().collect();
        let t = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        ticks += t(11) + t(12);
    }
    std::time::Duration::from_secs_f64(ticks as f64 / clk_tck())
}
