//! The `fakedc` command line. Exit codes: 0 success; 1 `check` found a row
//! that is not verified; 2 usage error; 3 invalid scenario; 4 could not
//! start (bind, certificates, limits).

mod bits_cli;

use anyhow::Context;
use clap::{Parser, Subcommand};
use fakedc::check::{self, CheckOptions};
use fakedc::{Datacenter, EndpointInfo, Error, ParseOptions, Role, Scenario};
use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "fakedc",
    version,
    about = "A fake System Center VMM datacenter in one process: every machine and port of the VMM port table on loopback, speaking real protocols"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by every command that starts or addresses a datacenter.
#[derive(clap::Args, Clone)]
struct Addressing {
    /// Shift every port by N (run without root: --port-offset 10000).
    #[arg(long, default_value_t = 0)]
    port_offset: u16,
    /// Bind port 0 everywhere and keep the CA in memory.
    #[arg(long)]
    ephemeral: bool,
    /// Accept machine addresses outside 127.0.0.0/8 and ::1.
    #[arg(long)]
    allow_non_loopback: bool,
    /// Directory of the scenario CA.
    #[arg(long, default_value = "certs")]
    certs: PathBuf,
    /// Directory for machines' file shares and protocol state
    /// (default ./fakedc-data; a temporary one with --ephemeral).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Serve only these protocols (comma-separated registry names, as
    /// `fakedc protocols` lists them); the other endpoints are "not served".
    #[arg(long, value_delimiter = ',')]
    protocols: Option<Vec<String>>,
}

#[derive(Subcommand)]
enum Command {
    /// Start a datacenter and serve until Ctrl-C or SIGTERM.
    Up {
        /// A shipped scenario name (vmm-default, bmc-lab, fleet-500) or a file; the embedded default when omitted.
        scenario: Option<String>,
        #[command(flatten)]
        addr: Addressing,
        /// Control API address.
        #[arg(long, default_value = "127.0.0.1:7623")]
        control: SocketAddr,
        /// Do not serve the control API.
        #[arg(long)]
        no_control: bool,
        /// Append every journal entry as a JSON line to FILE.
        #[arg(long)]
        journal: Option<PathBuf>,
        /// Write the endpoint map as JSON to FILE once ready.
        #[arg(long)]
        endpoints_file: Option<PathBuf>,
        /// Maximum concurrent connections per endpoint.
        #[arg(long, default_value_t = 256)]
        max_connections: usize,
    },
    /// Print the protocols this build serves, where each mounts, its
    /// scenario option tables and the fault rules it honours (the README's
    /// table is this output).
    Protocols,
    /// Print the port table with the addresses a scenario assigns.
    List {
        scenario: Option<String>,
        #[arg(long, default_value_t = 0)]
        port_offset: u16,
    },
    /// Probe every row of the port table with its protocol's own handshake.
    Check {
        scenario: Option<String>,
        #[command(flatten)]
        addr: Addressing,
        /// Probe the endpoints a running `fakedc up --endpoints-file` wrote.
        #[arg(long)]
        endpoints_file: Option<PathBuf>,
        /// Start the datacenter in this process (ephemeral ports) and check it.
        #[arg(long)]
        start: bool,
        /// Probe a real host instead of a scenario.
        #[arg(long, requires = "role")]
        host: Option<IpAddr>,
        /// Role of --host (hyperv-host, bmc, ...).
        #[arg(long)]
        role: Option<String>,
        /// Log every probe in as this user (default: each machine's own
        /// administrator from the scenario; none for --host or a bare
        /// --endpoints-file).
        #[arg(long, conflicts_with = "anonymous")]
        user: Option<String>,
        #[arg(long, requires = "user")]
        password: Option<String>,
        /// Probe without logging in: only what a stranger sees (banners,
        /// anonymous Identify, ASF ping, auth capabilities).
        #[arg(long)]
        anonymous: bool,
        /// Per-probe timeout in milliseconds.
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create (or show) the scenario CA and print the path clients should trust.
    Certs {
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
    },
    /// Scenario tools.
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
    /// BITS client: resumable uploads and ranged downloads over HTTPS.
    Bits {
        #[command(subcommand)]
        command: bits_cli::BitsCommand,
    },
}

#[derive(Subcommand)]
enum ScenarioCommand {
    /// Validate a scenario file (or shipped name).
    Validate { file: String },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FAKEDC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            // `fakedc list | head`: the reader left; not an error.
            ExitCode::SUCCESS
        }
        Err(e) => {
            let code = match e.downcast_ref::<Error>() {
                Some(Error::Scenario(_) | Error::Options(_)) => 3,
                _ => 4,
            };
            eprintln!("fakedc: {e:#}");
            ExitCode::from(code)
        }
    }
}

fn scenario_builder(scenario: &Option<String>, addr: &Addressing) -> fakedc::Builder {
    let mut b = Datacenter::builder()
        .port_offset(addr.port_offset)
        .allow_non_loopback(addr.allow_non_loopback)
        .certs_dir(addr.certs.clone());
    if let Some(s) = scenario {
        b = b.scenario_name(s);
    }
    if addr.ephemeral {
        b = b.ephemeral();
    }
    if let Some(d) = &addr.data_dir {
        b = b.data_dir(d.clone());
    }
    if let Some(p) = &addr.protocols {
        let names: Vec<&str> = p.iter().map(|s| s.as_str()).collect();
        b = b.protocols(&names);
    }
    b
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Up {
            scenario,
            addr,
            control,
            no_control,
            journal,
            endpoints_file,
            max_connections,
        } => {
            let mut b = scenario_builder(&scenario, &addr).max_connections(max_connections);
            if !no_control {
                let control = if addr.ephemeral && control.port() == 7623 {
                    SocketAddr::new(control.ip(), 0)
                } else {
                    control
                };
                b = b.control(control);
            }
            if let Some(j) = journal {
                b = b.journal_file(j);
            }
            let dc = b.start()?;
            writeln!(
                out,
                "fakedc: scenario '{}' — {} machines",
                dc.scenario().name,
                dc.scenario().machines.len()
            )?;
            write_endpoint_table(&mut out, dc.endpoints())?;
            if let Some(f) = &endpoints_file {
                let json = serde_json::to_vec_pretty(dc.endpoints())?;
                fakedc_net::tls::write_atomic(f, &json)
                    .with_context(|| format!("writing {}", f.display()))?;
            }
            if let Some(c) = dc.control_addr() {
                writeln!(out, "control API: http://{c}/")?;
            }
            if let Some(dir) = dc.ca().dir.as_ref() {
                writeln!(
                    out,
                    "trust this CA: {}",
                    dir.join(fakedc_net::tls::CA_CERT_FILE).display()
                )?;
            }
            let served = dc.endpoints().iter().filter(|e| e.served).count();
            writeln!(
                out,
                "ready: {served} listeners bound in {:.0} ms",
                dc.startup_time().as_secs_f64() * 1000.0
            )?;
            out.flush()?;
            drop(out);
            dc.run_until_signal()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Protocols => {
            write!(out, "{}", fakedc::protocols_table())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::List {
            scenario,
            port_offset,
        } => {
            let s = load(&scenario)?;
            write_list(&mut out, &s, port_offset)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            scenario,
            addr,
            endpoints_file,
            start,
            host,
            role,
            user,
            password,
            anonymous,
            timeout_ms,
            json,
        } => {
            let mut opts = CheckOptions {
                timeout: Duration::from_millis(timeout_ms),
                credentials: user.map(|u| (u, password.unwrap_or_default())),
                ..Default::default()
            };
            // The scenario knows every machine's accounts: log each row in
            // as its own machine's administrator. An endpoints file alone
            // says nothing of the scenario behind it.
            let scenario_known = host.is_none() && (endpoints_file.is_none() || scenario.is_some());
            if !anonymous && opts.credentials.is_none() && scenario_known {
                opts.machine_credentials = check::scenario_credentials(&load(&scenario)?);
            }
            let mut _dc = None;
            let endpoints: Vec<EndpointInfo> = if let Some(h) = host {
                let role: Role = role
                    .unwrap_or_default()
                    .parse()
                    .map_err(anyhow::Error::msg)?;
                let mut eps = check::host_endpoints(h, role, &h.to_string());
                for e in &mut eps {
                    e.port = e.port.saturating_add(addr.port_offset);
                }
                eps
            } else if let Some(f) = endpoints_file {
                let text = std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?;
                serde_json::from_slice(&text).with_context(|| format!("parsing {}", f.display()))?
            } else if start {
                let mut a = addr.clone();
                a.ephemeral = true;
                let dc = scenario_builder(&scenario, &a).start()?;
                let eps = dc.endpoints().to_vec();
                _dc = Some(dc);
                eps
            } else {
                let s = load(&scenario)?;
                planned_endpoints(&s, addr.port_offset)
            };
            let results = check_with_progress(&endpoints, &opts)?;
            if json {
                serde_json::to_writer_pretty(&mut out, &results)?;
                writeln!(out)?;
            } else {
                write!(out, "{}", check::render(&results))?;
            }
            let ok = results.iter().all(|r| r.verdict.ok());
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Certs { dir } => {
            let (ca, created) = fakedc_net::CertAuthority::load_or_create(&dir)?;
            let path = dir.join(fakedc_net::tls::CA_CERT_FILE);
            let path = std::fs::canonicalize(&path).unwrap_or(path);
            writeln!(
                out,
                "{} CA: {}",
                if created { "created" } else { "existing" },
                path.display()
            )?;
            writeln!(
                out,
                "trust it with e.g. `curl --cacert {}` or `export REQUESTS_CA_BUNDLE={}`",
                path.display(),
                path.display()
            )?;
            let _ = ca;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bits { command } => bits_cli::run(command, &mut out),
        Command::Scenario {
            command: ScenarioCommand::Validate { file },
        } => {
            let s = Scenario::load(&file, &fakedc::parse_options()).map_err(Error::from)?;
            writeln!(
                out,
                "{file}: valid — scenario '{}', {} machines, {} endpoints",
                s.name,
                s.machines.len(),
                s.endpoint_count()
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load(scenario: &Option<String>) -> Result<Scenario, Error> {
    Ok(Scenario::load(
        scenario.as_deref().unwrap_or(fakedc_scenario::DEFAULT),
        &ParseOptions {
            allow_non_loopback: true,
            ..fakedc::parse_options()
        },
    )?)
}

/// The endpoints a scenario would bind with this build's services.
fn planned_endpoints(s: &Scenario, offset: u16) -> Vec<EndpointInfo> {
    s.machines
        .iter()
        .flat_map(|m| {
            m.endpoints.iter().map(move |ep| EndpointInfo {
                machine: m.name.clone(),
                role: m.role,
                service: ep.service,
                protocol: ep.service.protocol().to_string(),
                transport: ep.service.transport(),
                address: m.address,
                port: ep.port.saturating_add(offset),
                tls: ep.service.tls(),
                served: fakedc::serves(ep.service),
            })
        })
        .collect()
}

fn check_with_progress(
    endpoints: &[EndpointInfo],
    opts: &CheckOptions,
) -> anyhow::Result<Vec<check::RowResult>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let bar = if std::io::stderr().is_terminal() {
        let pb = indicatif::ProgressBar::new(0);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{spinner} probing {pos}/{len} {wide_bar}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(pb)
    } else {
        None
    };
    let pb = bar.clone();
    let results = rt.block_on(check::run(endpoints, opts, move |done, total| {
        if let Some(pb) = &pb {
            pb.set_length(total as u64);
            pb.set_position(done as u64);
        }
    }));
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    Ok(results)
}

fn write_endpoint_table(out: &mut impl Write, endpoints: &[EndpointInfo]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<12} {:<15} {:<20} {:<4} {:<22} STATUS",
        "MACHINE", "ROLE", "SERVICE", "", "ADDRESS"
    )?;
    for e in endpoints {
        let t = match e.transport {
            fakedc_model::Transport::Tcp => {
                if e.tls {
                    "tls"
                } else {
                    "tcp"
                }
            }
            fakedc_model::Transport::Udp => "udp",
        };
        writeln!(
            out,
            "{:<12} {:<15} {:<20} {:<4} {:<22} {}",
            e.machine,
            e.role.as_str(),
            e.service.name(),
            t,
            SocketAddr::new(e.address, e.port),
            if e.served { "listening" } else { "not served" }
        )?;
    }
    Ok(())
}

fn write_list(out: &mut impl Write, s: &Scenario, offset: u16) -> std::io::Result<()> {
    use fakedc_model::table::{ROWS, TABLES};
    writeln!(out, "Scenario '{}': {}", s.name, s.description)?;
    for (ti, title) in TABLES.iter().enumerate() {
        writeln!(out, "\n== {title} ==")?;
        writeln!(
            out,
            "{:<48} {:<16} {:<34} {:<26} ENDPOINTS",
            "CONNECTION", "DEFAULT PORTS", "PROTOCOLS", "WHERE TO CHANGE"
        )?;
        for row in ROWS.iter().filter(|r| r.table == ti) {
            let mut eps = Vec::new();
            if let Some(role) = row.target {
                for m in s.machines.iter().filter(|m| m.role == role) {
                    for svc in row.services {
                        if let Some(ep) = m.endpoint(*svc) {
                            eps.push(format!(
                                "{} {}",
                                m.name,
                                SocketAddr::new(m.address, ep.port.saturating_add(offset))
                            ));
                        }
                    }
                }
            }
            let shown = if eps.len() > 4 {
                format!("{} … ({} endpoints)", eps[..4].join(", "), eps.len())
            } else if eps.is_empty() {
                if row.target.is_none() {
                    "n/a (no network port)".into()
                } else {
                    "none in this scenario".into()
                }
            } else {
                eps.join(", ")
            };
            writeln!(
                out,
                "{:<48} {:<16} {:<34} {:<26} {}",
                row.peer, row.ports, row.protocols, row.change, shown
            )?;
        }
    }
    Ok(())
}
