//! PowerShell remoting round trips: pypsrp's `PowerShell.invoke()` on one
//! runspace pool (Command with CREATE_PIPELINE, Receive to PIPELINE_STATE,
//! Signal terminate per pipeline), over Basic on HTTP (AllowUnencrypted)
//! and over NTLM with MS-WSMV sealing, side by side with pywinrm's
//! `run_cmd` on the same host's cmd shell (Create, Command, Receive,
//! Signal, Delete), the nearest anchor a Linux machine has: no Windows
//! PowerShell endpoint runs here.
//!
//! Run: `cargo bench --bench psrp` (200 invokes per figure) or
//! `cargo bench --bench psrp -- --short` (CI: 10). `--runs N`.
//! Figures are printed, never asserted; the program fails only when a
//! client fails (pypsrp or pywinrm missing, a pool that does not open).
#![allow(clippy::disallowed_methods)] // tests and benchmarks time real peers on the real clock
#![allow(clippy::print_stdout)] // a benchmark prints its figures

mod common;

use anyhow::{anyhow, bail, Context, Result};
use std::process::{Command, ExitCode};

const SCENARIO: &str = r#"
[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.83.0.1"
[machine.options.winrm]
allow_unencrypted = true
"#;

fn python(script: &str, args: &[&str]) -> Result<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let out = Command::new("python3")
        .arg(&path)
        .args(args)
        .env("NO_PROXY", "*")
        .output()
        .with_context(|| format!("run python3 {script}"))?;
    if !out.status.success() {
        bail!(
            "{script} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn value<'a>(out: &'a str, key: &str) -> Result<&'a str> {
    out.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')))
        .ok_or_else(|| anyhow!("no {key} in {out}"))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("psrp benchmark failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args = common::Args::from_env();
    let runs: usize = args
        .value("--runs")?
        .unwrap_or(if args.short() { 10 } else { 200 });
    let dc = fakedc::Datacenter::builder()
        .scenario_str(SCENARIO)
        .ephemeral()
        .start()
        .map_err(|e| anyhow!("start fakedc: {e}"))?;
    let ep = dc
        .endpoint("hv01", fakedc::ServiceKind::WinrmHttp)
        .ok_or_else(|| anyhow!("no WinRM endpoint"))?;
    let (host, port) = (ep.ip().to_string(), ep.port().to_string());
    println!(
        "fakedc PSRP benchmark ({} mode, {runs} round trips per figure, one client, loopback)\n",
        if args.short() { "short" } else { "full" }
    );
    let n = runs.to_string();
    for auth in ["basic", "ntlm"] {
        let out = python("psrp_bench.py", &[&host, &port, auth, &n])?;
        let secs: f64 = value(&out, "ELAPSED")?.trim().parse()?;
        println!(
            "  pypsrp PowerShell.invoke() ({auth:5}): {:8.1} /s   (last pipeline state {}, output {})",
            runs as f64 / secs,
            value(&out, "STATE")?.trim(),
            value(&out, "OUTPUT")?.trim()
        );
    }
    let url = format!("http://{host}:{port}/wsman");
    let out = python("winrm_bench.py", &[&url, &n])?;
    let secs: f64 = value(&out, "ELAPSED")?.trim().parse()?;
    println!(
        "  pywinrm run_cmd (basic), anchor:    {:8.1} /s",
        runs as f64 / secs
    );
    Ok(())
}
