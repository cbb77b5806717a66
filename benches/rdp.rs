//! VMConnect side by side with FreeRDP's shadow server, in one run, with
//! the same client (xfreerdp 2.11, `/bpp:32`, on its own Xvfb display):
//!
//! - Connection to first full frame: from spawning xfreerdp until its
//!   window (polled with `xwd`) shows the expected screen: for fakedc the
//!   VM console exactly as `console.png` renders it (`/vmconnect`,
//!   preconnection PDU, TLS, CredSSP/NTLM, connection sequence, bitmap
//!   updates); for the anchor, `freerdp-shadow-cli` (no authentication,
//!   TLS) sharing an Xvfb display with an xterm, ≥ 99% of the window's
//!   pixels equal to that display's own screenshot. The figure includes
//!   the client's own start-up on both sides and is quantised by the poll
//!   (each `xwd` of a 1280x1024 root takes a few ms; polls per second are
//!   printed).
//! - Frames per second of a scrolling screen: fakedc's console scrolled by
//!   numbered lines typed every 5 ms (xdotool) at the login prompt, the anchor's
//!   xterm printing `seq` without pause; counted as distinct window
//!   contents per second seen by the same `xwd` poll (so the poll rate is
//!   a ceiling for both; it is printed too).
//!
//! Run: `cargo bench --bench rdp` (5 connections each, 3 s of scrolling)
//! or `cargo bench --bench rdp -- --short` (CI: one connection, 1 s).
//! Target (issue 13), printed, never asserted: connection to first frame
//! at most half of the anchor's. The program fails only when something is
//! broken (no frame within 30 s, a client that will not start).
#![allow(clippy::disallowed_methods)] // tests and benchmarks time real peers on the real clock
#![allow(clippy::print_stdout)] // a benchmark prints its figures

mod common;

use anyhow::{bail, Context, Result};
use fakedc::Datacenter;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HOST: &str = "127.79.9.1";
const PASSWORD: &str = "P@ssw0rd!";
const SHADOW_PORT: u16 = 33_890;

const SCENARIO: &str = r#"
[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.79.9.1"

[[machine.vm]]
name = "web01"
state = "running"
"#;

/// A directory removed on drop.
struct Tmp(std::path::PathBuf);

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tmp(name: &str) -> Result<Tmp> {
    let p = std::env::temp_dir().join(format!("fakedc-bench-rdp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p)?;
    Ok(Tmp(p))
}

/// A child killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An Xvfb display it picked itself.
struct Xvfb {
    _p: Proc,
    display: String,
}

fn xvfb(size: &str) -> Result<Xvfb> {
    let mut child = Command::new("Xvfb")
        .args(["-displayfd", "1", "-screen", "0", size, "-nolisten", "tcp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("Xvfb (apt-get install xvfb)")?;
    let mut out = child.stdout.take().context("stdout")?;
    let mut n = Vec::new();
    let mut b = [0u8; 1];
    while out.read(&mut b).unwrap_or(0) == 1 && b[0] != b'\n' {
        n.push(b[0]);
    }
    Ok(Xvfb {
        _p: Proc(child),
        display: format!(":{}", String::from_utf8_lossy(&n).trim()),
    })
}

/// The root window as 0x00RRGGBB pixels (width, pixels).
fn screenshot(display: &str) -> Result<(usize, Vec<u32>)> {
    let out = Command::new("xwd")
        .args(["-root", "-silent", "-display", display])
        .output()
        .context("xwd (apt-get install x11-apps)")?;
    let d = &out.stdout;
    if d.len() < 100 {
        bail!("xwd wrote {} bytes", d.len());
    }
    let be = |i: usize| {
        u32::from_be_bytes([d[i * 4], d[i * 4 + 1], d[i * 4 + 2], d[i * 4 + 3]]) as usize
    };
    let (header, width, height, order, bpl, ncolors) = (be(0), be(4), be(5), be(7), be(12), be(19));
    let off = header + ncolors * 12;
    let mut px = Vec::with_capacity(width * height);
    for y in 0..height {
        for x in 0..width {
            let i = off + y * bpl + x * 4;
            let p = d.get(i..i + 4).context("short xwd")?;
            let v = if order == 0 {
                u32::from_le_bytes([p[0], p[1], p[2], p[3]])
            } else {
                u32::from_be_bytes([p[0], p[1], p[2], p[3]])
            };
            px.push(v & 0x00ff_ffff);
        }
    }
    Ok((width, px))
}

/// The share of `want`'s pixels (w × h, top-left) the screenshot has.
fn matching(shot: &(usize, Vec<u32>), want: &[u32], w: usize) -> f64 {
    let h = want.len() / w;
    let mut same = 0usize;
    for y in 0..h {
        for x in 0..w {
            if shot.1.get(y * shot.0 + x) == want.get(y * w + x) {
                same += 1;
            }
        }
    }
    same as f64 / want.len().max(1) as f64
}

fn xfreerdp(display: &str, args: &[String]) -> Result<Proc> {
    Ok(Proc(
        Command::new("xfreerdp")
            .args(args)
            .args([
                "/cert:ignore",
                "/bpp:32",
                "/size:1024x768",
                "-grab-keyboard",
            ])
            .env("DISPLAY", display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("xfreerdp (apt-get install freerdp2-x11)")?,
    ))
}

/// Spawns the client and polls until `want` shows; (elapsed, polls).
fn first_frame(
    display: &str,
    args: &[String],
    want: &dyn Fn() -> Result<Vec<u32>>,
    threshold: f64,
) -> Result<(Duration, Proc, usize)> {
    let start = Instant::now();
    let p = xfreerdp(display, args)?;
    let mut polls = 0;
    loop {
        let shot = screenshot(display)?;
        polls += 1;
        if matching(&shot, &want()?, 1024) >= threshold {
            return Ok((start.elapsed(), p, polls));
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!("no full frame in 30 s ({args:?})");
        }
    }
}

/// Distinct window contents per second, and polls per second.
fn fps(display: &str, secs: f64) -> Result<(f64, f64)> {
    let start = Instant::now();
    let (mut polls, mut changes) = (0usize, 0usize);
    let mut last: Option<Vec<u32>> = None;
    while start.elapsed().as_secs_f64() < secs {
        let (w, px) = screenshot(display)?;
        let window: Vec<u32> = (0..768)
            .flat_map(|y| px[y * w..y * w + 1024].to_vec())
            .collect();
        polls += 1;
        if last.as_ref() != Some(&window) {
            changes += 1;
            last = Some(window);
        }
    }
    let t = start.elapsed().as_secs_f64();
    Ok((changes.saturating_sub(1) as f64 / t, polls as f64 / t))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let args = common::Args::from_env();
    let short = args.short();
    let rounds = if short { 1 } else { 5 };
    let scroll = if short { 1.0 } else { 3.0 };

    // fakedc: hv01's 2179 (xfreerdp /vmconnect always dials 2179).
    let certs = tmp("certs")?;
    let data = tmp("data")?;
    let dc = Datacenter::builder()
        .scenario_str(SCENARIO)
        .certs_dir(certs.0.clone())
        .data_dir(data.0.clone())
        .protocols(&["rdp"])
        .start()?;
    let model = dc.model().clone();
    let vm = fakedc_console::find_vm(&model, "web01").context("web01")?;
    let consoles = fakedc_console::consoles(&model);
    let console =
        || -> Result<Vec<u32>> { Ok(consoles.render(&model, &vm, model.clock.now()).pixels) };
    let fakedc_args = vec![
        format!("/v:{HOST}"),
        "/u:Administrator".into(),
        format!("/p:{PASSWORD}"),
        format!("/vmconnect:{}", vm.vm.id),
    ];
    let client = xvfb("1280x1024x24")?;
    let mut ours = Vec::new();
    let mut polls = 0;
    for _ in 0..rounds {
        let (t, p, n) = first_frame(&client.display, &fakedc_args, &console, 1.0)?;
        ours.push(t);
        polls += n;
        drop(p);
        std::thread::sleep(Duration::from_millis(300));
    }
    // Scrolling: numbered lines typed at the login prompt (a number and
    // Enter every 5 ms; the password prompt and "Login incorrect" follow),
    // so each scroll shows different lines.
    let (_t, session, _) = first_frame(&client.display, &fakedc_args, &console, 1.0)?;
    let lines: String = (1..20_000).map(|n| format!("{n}\r")).collect();
    let typist = Proc(
        Command::new("xdotool")
            .args(["mousemove", "512", "384", "type", "--delay", "5", &lines])
            .env("DISPLAY", &client.display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("xdotool (apt-get install xdotool)")?,
    );
    std::thread::sleep(Duration::from_millis(500));
    let (our_fps, our_polls) = fps(&client.display, scroll)?;
    drop(typist);
    drop(session);

    // The anchor: freerdp-shadow-cli sharing a display with an xterm.
    let desktop = xvfb("1024x768x24")?;
    let xterm = |cmd: &str| -> Result<Proc> {
        Ok(Proc(
            Command::new("xterm")
                .args(["-geometry", "128x48+0+0", "-e", "bash", "-c", cmd])
                .env("DISPLAY", &desktop.display)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("xterm")?,
        ))
    };
    let term = xterm("seq 1 40; sleep 100000")?;
    let shadow = Proc(
        Command::new("freerdp-shadow-cli")
            .args([
                format!("/port:{SHADOW_PORT}").as_str(),
                "/bind-address:127.0.0.1",
                "-auth",
            ])
            .env("DISPLAY", &desktop.display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("freerdp-shadow-cli (apt-get install freerdp2-shadow-x11)")?,
    );
    std::thread::sleep(Duration::from_millis(1500));
    let shadow_args = vec![
        format!("/v:127.0.0.1:{SHADOW_PORT}"),
        "/u:bench".into(),
        "/p:bench".into(),
    ];
    let desk = desktop.display.clone();
    let source = move || -> Result<Vec<u32>> {
        let (w, px) = screenshot(&desk)?;
        Ok((0..768)
            .flat_map(|y| px[y * w..y * w + 1024].to_vec())
            .collect())
    };
    let mut theirs = Vec::new();
    for _ in 0..rounds {
        // The anchor sometimes never shows a full frame in one try (seen
        // once in CI); one retry before the run fails.
        let (t, p, n) = match first_frame(&client.display, &shadow_args, &source, 0.99) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("shadow server: {e}; retrying once");
                std::thread::sleep(Duration::from_millis(500));
                first_frame(&client.display, &shadow_args, &source, 0.99)?
            }
        };
        theirs.push(t);
        polls += n;
        drop(p);
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(term);
    let _scroller = xterm("while :; do seq 1 100000; done")?;
    let (_t, session, _) = first_frame(&client.display, &shadow_args, &|| Ok(vec![]), 0.0)?;
    std::thread::sleep(Duration::from_millis(1500));
    let (their_fps, their_polls) = fps(&client.display, scroll)?;
    drop(session);
    drop(shadow);

    let (a, b) = (median(ours), median(theirs));
    println!("VMConnect (xfreerdp 2.11, 1024x768 at 32 bpp, {rounds} connections each, median):");
    println!(
        "  connection to first full frame  fakedc {:>7.1} ms   freerdp-shadow {:>7.1} ms   ratio {:.2} (target <= 0.50)",
        a.as_secs_f64() * 1e3,
        b.as_secs_f64() * 1e3,
        a.as_secs_f64() / b.as_secs_f64()
    );
    println!(
        "  scrolling, window changes/s     fakedc {our_fps:>7.1}      freerdp-shadow {their_fps:>7.1}      ratio {:.2}",
        our_fps / their_fps.max(f64::MIN_POSITIVE)
    );
    println!(
        "  (xwd polls/s, the ceiling of both: {our_polls:.0} and {their_polls:.0}; {polls} polls while connecting)"
    );
    dc.shutdown();
    Ok(())
}
