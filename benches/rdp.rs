//! VMConnect side by side with FreeRDP's shadow server, in one run, with
//! the same client (xfreerdp 2.11, `/bpp:32`, on its own Xvfb display):
//!
//! - Connection to first full frame: until the client's window (polled
//!   with `xwd`) shows the expected screen, counted from the client's TCP
//!   connect (the issue's figure) and from spawning xfreerdp (its own
//!   start-up, ~300 ms of which is its primitives benchmark, included).
//!   The connect moment is the "connecting to peer" line of xfreerdp's
//!   `/log-level:DEBUG` log, whose stamps are *not* wall-clock time: WinPR
//!   prints `time()`'s seconds beside `GetTickCount() % 1000`, the
//!   milliseconds of CLOCK_MONOTONIC_RAW, so a stamp is off by that
//!   clock's fixed offset from the wall clock's milliseconds (770 ms on
//!   one boot: a figure came out 230 ms too long, or, for a connect in
//!   the first 230 ms of a second, 770 ms too short, a day when negative).
//!   The offset is measured on fakedc's side, where the server's accept
//!   (the journal's `connect` entry, wall clock) happens within a
//!   millisecond of that log line, and removed from both sides' stamps.
//!   For fakedc the
//!   VM console exactly as `console.png` renders it (`/vmconnect`,
//!   preconnection PDU, TLS, CredSSP/NTLM, connection sequence, bitmap
//!   updates); for the anchor, `freerdp-shadow-cli` (no authentication,
//!   TLS) sharing an Xvfb display with an xterm, ≥ 99% of the window's
//!   pixels equal to that display's own screenshot. Both figures are
//!   quantised by the poll (polls per second are printed).
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
//! broken on fakedc's side (no frame within 30 s, a client that will not
//! start); with `--short` an anchor that fails is reported and left out.
//!
//! Figures (release, four runs at load average 3-6 on 2 shared CPUs,
//! 2026-12-06): from TCP connect fakedc 346/336/157/354 ms against
//! freerdp-shadow 611/721/805/1108 ms, ratios 0.57/0.47/0.20/0.32; the
//! poll (40-60 xwd/s) and the load make single runs swing by 200 ms.
//! Where fakedc's time goes (strace of xfreerdp): FreeRDP 2 sleeps
//! 100 ms (`clock_nanosleep`) whenever an answer is not already in its
//! socket when it reads right after sending, which no server can avoid
//! for the NTLM CHALLENGE and the MCS Connect Response (both answer what
//! the client just sent), and sometimes for the pubKeyAuth answer; every
//! other answer goes out ahead in the same flight. The shadow server
//! answers PDU by PDU, so it pays that sleep at each step.
#![allow(clippy::disallowed_methods)] // tests and benchmarks time real peers on the real clock
#![allow(clippy::print_stdout)] // a benchmark prints its figures

mod common;

use anyhow::{bail, Context, Result};
use fakedc::Datacenter;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// The console area of the client's window (top left of the root,
/// [`W`]×[`H`]) as 0x00RRGGBB pixels. Only that area is converted, row
/// slice by row slice, so a poll stays cheap in the dev profile (the
/// poll rate bounds what both sides can show).
fn screenshot(display: &str) -> Result<Vec<u32>> {
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
    if width < W || height < H {
        bail!("root window {width}x{height} smaller than {W}x{H}");
    }
    let off = header + ncolors * 12;
    let mut px = Vec::with_capacity(W * H);
    for y in 0..H {
        let row = d
            .get(off + y * bpl..off + y * bpl + W * 4)
            .context("short xwd")?;
        if order == 0 {
            px.extend(
                row.chunks_exact(4)
                    .map(|p| u32::from_le_bytes([p[0], p[1], p[2], 0])),
            );
        } else {
            px.extend(
                row.chunks_exact(4)
                    .map(|p| u32::from_be_bytes([0, p[1], p[2], p[3]])),
            );
        }
    }
    Ok(px)
}

const W: usize = 1024;
const H: usize = 768;

/// The share of `want`'s pixels the screenshot has.
fn matching(shot: &[u32], want: &[u32]) -> f64 {
    let same = shot.iter().zip(want).filter(|(a, b)| a == b).count();
    same as f64 / want.len().max(1) as f64
}

/// xfreerdp with the flags both sides share; its log (`/log-level:DEBUG`,
/// UTC timestamps) goes to `log`, where [`connected_at`] finds the moment
/// it connected.
fn xfreerdp(display: &str, args: &[String], log: &std::path::Path) -> Result<Proc> {
    Ok(Proc(
        Command::new("xfreerdp")
            .args(args)
            .args([
                "/cert:ignore",
                "/bpp:32",
                "/size:1024x768",
                "-grab-keyboard",
                "/log-level:DEBUG",
            ])
            .env("DISPLAY", display)
            .env("TZ", "UTC")
            .stdout(std::fs::File::create(log)?)
            .stderr(Stdio::null())
            .spawn()
            .context("xfreerdp (apt-get install freerdp2-x11)")?,
    ))
}

/// Milliseconds since UTC midnight.
fn ms_of_day(t: SystemTime) -> u64 {
    let ms = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    (ms % 86_400_000) as u64
}

/// The stamp of xfreerdp's "connecting to peer" line (its TCP connect),
/// `[HH:MM:SS:mmm]`: seconds since UTC midnight (wall clock) and the
/// millisecond field (CLOCK_MONOTONIC_RAW's; see the module's note).
fn connected_stamp(log: &std::path::Path) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text.lines().find(|l| l.contains("connecting to peer"))?;
    let stamp = line.strip_prefix('[')?.get(..12)?;
    let f: Vec<u64> = stamp.split(':').filter_map(|p| p.parse().ok()).collect();
    match f[..] {
        [h, m, s, ms] if ms < 1000 => Some(((h * 60 + m) * 60 + s, ms)),
        _ => None,
    }
}

/// A stamp as milliseconds since UTC midnight, given `offset`: how far
/// the log's millisecond field runs ahead of the wall clock's (mod 1000).
fn stamp_ms((secs, ms): (u64, u64), offset: u64) -> u64 {
    secs * 1000 + (ms + 1000 - offset % 1000) % 1000
}

/// One connection's figures.
struct Connection {
    /// From spawning the client (its own start-up included).
    spawn: Duration,
    /// From the client's TCP connect, once [`Connection::settle`] knows
    /// the log's clock offset.
    connect: Option<Duration>,
    /// The log's raw stamp of the TCP connect ([`connected_stamp`]).
    stamp: Option<(u64, u64)>,
    /// When the window showed the frame, ms since UTC midnight.
    seen: u64,
    polls: usize,
}

impl Connection {
    /// Fills in `connect` from the stamp, the log clock's offset known.
    fn settle(&mut self, offset: u64) {
        self.connect = self.stamp.map(|st| {
            Duration::from_millis((self.seen + 86_400_000 - stamp_ms(st, offset)) % 86_400_000)
        });
    }
}

/// Spawns the client and polls until `want` shows; the figures and the
/// client, still connected.
fn first_frame(
    display: &str,
    args: &[String],
    want: &mut dyn FnMut() -> Result<Vec<u32>>,
    threshold: f64,
    log: &std::path::Path,
) -> Result<(Connection, Proc)> {
    let start = Instant::now();
    let client = xfreerdp(display, args, log)?;
    let mut polls = 0;
    loop {
        let shot = screenshot(display)?;
        polls += 1;
        if matching(&shot, &want()?) >= threshold {
            let (spawn, seen) = (start.elapsed(), ms_of_day(SystemTime::now()));
            return Ok((
                Connection {
                    spawn,
                    connect: None,
                    stamp: connected_stamp(log),
                    seen,
                    polls,
                },
                client,
            ));
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
        let window = screenshot(display)?;
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
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// One side's figures.
struct Side {
    spawn: Duration,
    connect: Option<Duration>,
    fps: f64,
    fps_polls: f64,
    polls: usize,
}

impl Side {
    fn from(conns: Vec<Connection>, fps: f64, fps_polls: f64) -> Side {
        let polls = conns.iter().map(|c| c.polls).sum();
        let connect: Option<Vec<Duration>> = conns.iter().map(|c| c.connect).collect();
        Side {
            spawn: median(conns.iter().map(|c| c.spawn).collect()),
            connect: connect.map(median),
            fps,
            fps_polls,
            polls,
        }
    }
}

fn main() -> Result<()> {
    let args = common::Args::from_env();
    let short = args.short();
    let rounds = if short { 1 } else { 5 };
    let scroll = if short { 1.0 } else { 3.0 };
    let logs = tmp("logs")?;
    let log = logs.0.join("xfreerdp.log");

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
    // The console as console.png would show it, rendered again only when
    // its state changes.
    let mut cache: Option<((u8, u128, u64), Vec<u32>)> = None;
    let mut console = || -> Result<Vec<u32>> {
        let now = model.clock.now();
        let key = consoles.state_key(&model, &vm, now);
        match &cache {
            Some((k, px)) if *k == key => Ok(px.clone()),
            _ => {
                let px = consoles.render(&model, &vm, now).pixels;
                cache = Some((key, px.clone()));
                Ok(px)
            }
        }
    };
    let fakedc_args = vec![
        format!("/v:{HOST}"),
        "/u:Administrator".into(),
        format!("/p:{PASSWORD}"),
        format!("/vmconnect:{}", vm.vm.id),
    ];
    let client = xvfb("1280x1024x24")?;
    let mut conns = Vec::new();
    // How far the log's millisecond field runs ahead of the wall clock's,
    // from each connection: the log's connect stamp against the server's
    // accept (the journal's wall-clock `connect` entry, <= 1 ms later).
    let mut offsets = Vec::new();
    for _ in 0..rounds {
        let after = dc.journal(&Default::default()).last().map_or(0, |e| e.seq);
        let (c, p) = first_frame(&client.display, &fakedc_args, &mut console, 1.0, &log)?;
        drop(p);
        let accepted = dc
            .journal(&fakedc::Query {
                service: Some("vmconnect".into()),
                operation: Some("connect".into()),
                after: Some(after),
                ..Default::default()
            })
            .into_iter()
            .find(|e| e.operation == "connect")
            .context("no journal entry for the client's connect")?;
        let (_, ms) = c
            .stamp
            .context("no \"connecting to peer\" line in xfreerdp's log")?;
        offsets.push((ms + 1000 - accepted.time_ms % 1000) % 1000);
        conns.push(c);
        std::thread::sleep(Duration::from_millis(300));
    }
    // The offsets agree to a millisecond or two; their median, taken
    // relative to the first so values either side of 0/999 do not split.
    let base = offsets.first().copied().unwrap_or(0);
    let mut rel: Vec<i64> = offsets
        .iter()
        .map(|o| ((o + 1500 - base) % 1000) as i64 - 500)
        .collect();
    rel.sort_unstable();
    let offset = (base as i64 + rel.get(rel.len() / 2).copied().unwrap_or(0) + 1000) as u64 % 1000;
    for c in &mut conns {
        c.settle(offset);
    }
    // Scrolling: numbered lines typed at the login prompt (a number and
    // Enter every 5 ms; the password prompt and "Login incorrect" follow),
    // so each scroll shows different lines.
    let (_, session) = first_frame(&client.display, &fakedc_args, &mut console, 1.0, &log)?;
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
    let ours = Side::from(conns, our_fps, our_polls);

    // The anchor. In --short (CI) mode its failure is reported, never
    // fatal: it is someone else's server, and a fresh-clone CI run once
    // saw it show no full frame in 30 s; fakedc's side above must succeed.
    let theirs = match anchor(&client.display, rounds, scroll, &log, offset) {
        Ok(side) => Some(side),
        Err(e) if short => {
            println!("anchor (freerdp-shadow-cli) failed, not counted in --short: {e:#}");
            None
        }
        Err(e) => return Err(e.context("anchor (freerdp-shadow-cli)")),
    };

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("VMConnect (xfreerdp 2.11, 1024x768 at 32 bpp, {rounds} connections each, median):");
    let row = |what: &str, a: Option<Duration>, b: Option<Duration>, target: &str| {
        let a_s = a.map_or("      -".into(), |a| format!("{:>7.1}", ms(a)));
        let b_s = b.map_or("      -".into(), |b| format!("{:>7.1}", ms(b)));
        let ratio = match (a, b) {
            (Some(a), Some(b)) => format!("{:.2}", a.as_secs_f64() / b.as_secs_f64()),
            _ => "-".into(),
        };
        println!(
            "  first full frame, {what:<22} fakedc {a_s} ms   freerdp-shadow {b_s} ms   ratio {ratio}{target}"
        );
    };
    row(
        "from TCP connect",
        ours.connect,
        theirs.as_ref().and_then(|t| t.connect),
        " (target <= 0.50)",
    );
    row(
        "from spawning client",
        Some(ours.spawn),
        theirs.as_ref().map(|t| t.spawn),
        "",
    );
    let their_fps = theirs.as_ref().map(|t| t.fps);
    println!(
        "  scrolling, window changes/s     fakedc {:>7.1}      freerdp-shadow {}      ratio {}",
        ours.fps,
        their_fps.map_or("      -".into(), |f| format!("{f:>7.1}")),
        their_fps.map_or("-".into(), |f| format!(
            "{:.2}",
            ours.fps / f.max(f64::MIN_POSITIVE)
        )),
    );
    println!(
        "  (xfreerdp's log stamps run {offset} ms ahead of the wall clock, removed; load average {})",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "  (xwd polls/s, the ceiling of both: {:.0} and {}; {} and {} polls while connecting)",
        ours.fps_polls,
        theirs
            .as_ref()
            .map_or("-".into(), |t| format!("{:.0}", t.fps_polls)),
        ours.polls,
        theirs.as_ref().map_or("-".into(), |t| t.polls.to_string()),
    );
    dc.shutdown();
    Ok(())
}

/// FreeRDP's shadow server sharing a display with an xterm: connection
/// to first frame (`rounds` times, one retry each) and scrolling.
fn anchor(
    display: &str,
    rounds: usize,
    scroll: f64,
    log: &std::path::Path,
    offset: u64,
) -> Result<Side> {
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
    // The desktop as the shadow server shows it, captured again every
    // few polls (it is static while the xterm waits).
    let desk = desktop.display.clone();
    let mut n = 0usize;
    let mut current = Vec::new();
    let mut source = move || -> Result<Vec<u32>> {
        if n.is_multiple_of(8) {
            current = screenshot(&desk)?;
        }
        n += 1;
        Ok(current.clone())
    };
    let mut conns = Vec::new();
    for _ in 0..rounds {
        let (mut c, p) = match first_frame(display, &shadow_args, &mut source, 0.99, log) {
            Ok(v) => v,
            Err(e) => {
                println!("shadow server: {e}; retrying once");
                std::thread::sleep(Duration::from_millis(500));
                first_frame(display, &shadow_args, &mut source, 0.99, log)?
            }
        };
        drop(p);
        c.settle(offset);
        conns.push(c);
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(term);
    let _scroller = xterm("while :; do seq 1 100000; done")?;
    let (_, session) = first_frame(display, &shadow_args, &mut || Ok(vec![]), 0.0, log)?;
    std::thread::sleep(Duration::from_millis(1500));
    let (fps_, polls) = fps(display, scroll)?;
    drop(session);
    drop(shadow);
    Ok(Side::from(conns, fps_, polls))
}
