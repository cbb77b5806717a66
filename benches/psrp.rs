//! PowerShell on fakedc, three figures (issue 22's Done-when):
//!
//! 1. pypsrp's `PowerShell.invoke()` round trips on one runspace pool
//!    (Command with CREATE_PIPELINE, Receive to PIPELINE_STATE, Signal
//!    terminate per pipeline), over Basic on HTTP (AllowUnencrypted) and
//!    over NTLM with MS-WSMV sealing;
//! 2. pywinrm's `run_ps` per second (a cmd shell per call: Create, Command
//!    `powershell -encodedcommand`, Receive, Signal, Delete, the script run
//!    by the evaluator in a fresh runspace);
//! 3. the evaluator's statements per second on a loop-heavy script (a `for`
//!    loop with arithmetic, string building and an `if`), in-process.
//!
//! No Windows PowerShell runs on a Linux machine, so there is no PowerShell
//! anchor, and the output says so. Beside 1 and 2 runs pywinrm's `run_cmd`
//! on the same host's cmd shell, the nearest WinRM round trip; beside 3,
//! bash runs the same loop, the nearest interpreter of a shell language
//! (a reference point, not the same language).
//!
//! Run: `cargo bench --bench psrp` (200 round trips per figure, 200,000
//! loop iterations, 3 rounds of the loop) or `cargo bench --bench psrp --
//! --short` (CI: 10 round trips, 20,000 iterations, one round). `--runs N`,
//! `--iterations N`. Figures are printed, never asserted; the program fails
//! only when a client fails or a script's answer is wrong (pypsrp or
//! pywinrm missing, a pool that does not open, a wrong loop result).
#![allow(clippy::disallowed_methods)] // tests and benchmarks time real peers on the real clock
#![allow(clippy::print_stdout)] // a benchmark prints its figures

mod common;

use anyhow::{anyhow, bail, Context, Result};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Instant;

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
        "fakedc PowerShell benchmark ({} mode, {runs} round trips per figure, one client, loopback; load {})\n",
        if args.short() { "short" } else { "full" },
        load()
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
    let out = python("run_ps_bench.py", &[&url, &n])?;
    let secs: f64 = value(&out, "ELAPSED")?.trim().parse()?;
    let run_ps = runs as f64 / secs;
    println!(
        "  pywinrm run_ps (basic):             {run_ps:8.1} /s   (output {})",
        value(&out, "OUTPUT")?.trim()
    );
    let out = python("winrm_bench.py", &[&url, &n])?;
    let secs: f64 = value(&out, "ELAPSED")?.trim().parse()?;
    let run_cmd = runs as f64 / secs;
    println!("  pywinrm run_cmd (basic), cmd shell: {run_cmd:8.1} /s   (nearest WinRM round trip)");
    println!(
        "  run_ps / run_cmd:                   {:8.2}",
        run_ps / run_cmd
    );
    println!("  anchor: none; no Windows PowerShell or WinRM server runs on this machine\n");
    drop(dc);

    let iterations: u32 =
        args.value("--iterations")?
            .unwrap_or(if args.short() { 20_000 } else { 200_000 });
    let rounds = if args.short() { 1 } else { 3 };
    let expect = Loop::expected(iterations);
    println!(
        "evaluator, loop-heavy script ({iterations} iterations, {} statements per round; load {})",
        expect.statements,
        load()
    );
    for round in 1..=rounds {
        let pwsh = evaluator_round(iterations, &expect)?;
        let bash = bash_round(iterations, &expect)?;
        println!(
            "  round {round}: fakedc-pwsh {:10.0} statements/s   bash (reference, not PowerShell) {:10.0} statements/s   ratio {:.3}",
            pwsh,
            bash,
            pwsh / bash
        );
    }
    println!("  anchor: none; no PowerShell runtime is installable here (bash is another shell's interpreter)");
    Ok(())
}

/// The loop both interpreters run: `sum += i*3 % 7`, `s += "$i,"`, and `s`
/// emptied past 200 characters, then `"$sum $($s.Length)"`.
struct Loop {
    /// What the script prints.
    answer: String,
    /// Loop-body statements executed: three per iteration (the addition,
    /// the string append, the `if`) plus each reset inside the `if`.
    statements: u64,
}

impl Loop {
    fn expected(n: u32) -> Loop {
        let (mut sum, mut s, mut resets) = (0u64, String::new(), 0u64);
        for i in 0..n {
            sum += u64::from(i) * 3 % 7;
            s.push_str(&format!("{i},"));
            if s.len() > 200 {
                s.clear();
                resets += 1;
            }
        }
        Loop {
            answer: format!("{sum} {}", s.len()),
            statements: 3 * u64::from(n) + resets,
        }
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// One run of the loop on fakedc's evaluator, in-process; statements/s.
fn evaluator_round(n: u32, expect: &Loop) -> Result<f64> {
    let model = Arc::new(fakedc_scenario::Scenario::default_scenario().model());
    let machine = model
        .find("hv01")
        .map(|m| m.id)
        .ok_or_else(|| anyhow!("no hv01 in the default scenario"))?;
    let mut rs = fakedc_pwsh::Runspace::new(fakedc_pwsh::HostContext {
        model,
        machine,
        user: "Administrator".into(),
        share: None,
        host: Arc::new(fakedc_pwsh::NoHost),
        // The step budget is the only limit a long loop meets; the figure
        // is the evaluator's speed, so it is raised past the loop.
        limits: fakedc_pwsh::Limits {
            max_steps: u64::MAX,
            ..Default::default()
        },
        service: "bench".into(),
    });
    let script = format!(
        "$sum = 0; $s = ''\nfor ($i = 0; $i -lt {n}; $i++) {{\n  $sum += $i * 3 % 7\n  $s += \"$i,\"\n  if ($s.Length -gt 200) {{ $s = '' }}\n}}\n\"$sum $($s.Length)\""
    );
    let start = Instant::now();
    let inv = rs.invoke(&fakedc_pwsh::Pipeline::Script(script), Vec::new());
    let secs = start.elapsed().as_secs_f64();
    let got: Vec<String> = inv.output.iter().map(|v| v.to_string()).collect();
    if got != [expect.answer.clone()] || inv.had_errors {
        bail!(
            "the evaluator's loop answered {got:?} (errors {:?}), expected {}",
            inv.errors,
            expect.answer
        );
    }
    Ok(expect.statements as f64 / secs)
}

/// The same loop in bash; statements/s.
fn bash_round(n: u32, expect: &Loop) -> Result<f64> {
    let script = format!(
        "sum=0; s=''\nfor ((i = 0; i < {n}; i++)); do\n  sum=$((sum + i * 3 % 7))\n  s+=\"$i,\"\n  if (( ${{#s}} > 200 )); then s=''; fi\ndone\necho \"$sum ${{#s}}\""
    );
    let start = Instant::now();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .context("run bash")?;
    let secs = start.elapsed().as_secs_f64();
    let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if got != expect.answer {
        bail!("bash's loop answered {got:?}, expected {}", expect.answer);
    }
    Ok(expect.statements as f64 / secs)
}
