//! `fakedc bits upload|download|ping`: the BITS client on the command line
//! (there is none off Windows). Resumable: a re-run continues where the
//! last one stopped. Exit codes: 0 done, 1 the transfer failed.

use clap::{Args, Subcommand};
use fakedc_bits::client::{ca_from_pem, AuthMode, Client, ClientConfig, Report};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Subcommand)]
pub enum BitsCommand {
    /// Upload FILE to URL with the BITS upload protocol (Create-Session,
    /// Fragments, Close-Session); a re-run resumes the same session.
    Upload {
        file: PathBuf,
        /// https://HOST:PORT/path (the path inside the machine's share).
        url: String,
        #[command(flatten)]
        opts: ClientArgs,
    },
    /// Download URL to FILE with ranged GETs (HEAD first, like BITS); the
    /// file appears only when complete, a re-run resumes FILE.bitspart.
    Download {
        url: String,
        file: PathBuf,
        #[command(flatten)]
        opts: ClientArgs,
    },
    /// Send a BITS Ping.
    Ping {
        url: String,
        #[command(flatten)]
        opts: ClientArgs,
    },
}

#[derive(Args)]
pub struct ClientArgs {
    /// CA certificate to trust (the scenario CA `fakedc certs` prints).
    #[arg(long, default_value = "certs/fakedc-ca.pem")]
    cacert: PathBuf,
    /// Account on the machine (`DOMAIN\\user` works too): Basic over
    /// https://, NTLM over http:// or with --ntlm.
    #[arg(long, default_value = "Administrator")]
    user: String,
    /// Authenticate with NTLM (one handshake per connection) over https://
    /// too, instead of Basic.
    #[arg(long)]
    ntlm: bool,
    /// Its password.
    #[arg(
        long,
        env = "FAKEDC_BITS_PASSWORD",
        default_value = "P@ssw0rd!",
        hide_env_values = true,
        hide_default_value = true
    )]
    password: String,
    /// Upload fragment size in bytes.
    #[arg(long, default_value_t = 64 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    fragment_size: u64,
    /// Consecutive failed attempts (without progress) before giving up.
    #[arg(long, default_value_t = 8)]
    retries: u32,
    /// Where upload resume state lives (default $XDG_CACHE_HOME/fakedc/bits,
    /// ~/.cache/fakedc/bits, or the temporary directory).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Connect and response timeout, seconds.
    #[arg(long, default_value_t = 30)]
    timeout_s: u64,
}

fn state_dir(opts: &ClientArgs) -> PathBuf {
    if let Some(d) = &opts.state_dir {
        return d.clone();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")));
    match cache {
        Some(c) => c.join("fakedc").join("bits"),
        None => std::env::temp_dir().join("fakedc-bits"),
    }
}

fn client(url: &str, opts: &ClientArgs) -> anyhow::Result<Client> {
    let pem = std::fs::read(&opts.cacert).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} (give the scenario CA with --cacert; `fakedc certs` prints its path)",
            opts.cacert.display()
        )
    })?;
    let mut cfg = ClientConfig::new(ca_from_pem(&pem)?);
    cfg.credentials = Some((opts.user.clone(), opts.password.clone()));
    if opts.ntlm {
        cfg.auth = AuthMode::Ntlm;
    }
    cfg.fragment_size = opts.fragment_size;
    cfg.retries = opts.retries;
    cfg.timeout = Duration::from_secs(opts.timeout_s.max(1));
    Ok(Client::new(url, cfg)?)
}

/// A byte progress bar on a terminal, nothing otherwise.
fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(0);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{bytes}/{total_bytes} {wide_bar} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(pb)
}

fn summary(verb: &str, url: &str, r: &Report) -> String {
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    let moved = r.bytes - r.resumed_from;
    let mut s = format!(
        "{verb} {} bytes {url} in {secs:.2} s ({:.1} MB/s)",
        r.bytes,
        moved as f64 / secs / 1e6
    );
    if r.resumed_from > 0 {
        s.push_str(&format!(", resumed at {}", r.resumed_from));
    }
    if r.retries > 0 {
        s.push_str(&format!(", {} retries", r.retries));
    }
    s
}

pub fn run(cmd: BitsCommand, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    // One transfer at a time: a single-threaded runtime (plus the blocking
    // pool for file I/O) avoids cross-thread hand-offs on every chunk.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let bar = progress_bar();
    let pb = bar.clone();
    let progress = move |done: u64, total: u64| {
        if let Some(pb) = &pb {
            pb.set_length(total);
            pb.set_position(done);
        }
    };
    let result = match &cmd {
        BitsCommand::Upload { file, url, opts } => {
            let mut c = client(url, opts)?;
            let dir = state_dir(opts);
            rt.block_on(c.upload(file, &dir, &progress))
                .map(|r| summary("uploaded", &format!("to {url}"), &r))
        }
        BitsCommand::Download { url, file, opts } => {
            let mut c = client(url, opts)?;
            rt.block_on(c.download(file, &progress))
                .map(|r| summary("downloaded", &format!("from {url}"), &r))
        }
        BitsCommand::Ping { url, opts } => {
            let mut c = client(url, opts)?;
            rt.block_on(c.ping()).and_then(|p| {
                if p.acked {
                    Ok(format!(
                        "BITS Ping acked (HTTP {}, Server: {})",
                        p.status,
                        p.server.unwrap_or_default()
                    ))
                } else {
                    Err(fakedc_bits::client::ClientError::Status {
                        status: p.status,
                        bits_error: None,
                    })
                }
            })
        }
    };
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    match result {
        Ok(line) => {
            writeln!(out, "{line}")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("fakedc bits: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
