//! WSUS under a fleet's sync cycle, and its content downloads side by side
//! with nginx, in one run:
//!
//! 1. a 10,000-update catalogue (`[machine.options.wsus] updates`); 100
//!    updates approved for All Computers through the admin service (NTLM),
//!    each with a prerequisite update, so a cycle takes the agent's
//!    four software passes plus the driver pass;
//! 2. 1,000 computers, 8 concurrent clients: each computer gets an
//!    authorization cookie and a cookie, registers and syncs to
//!    convergence. Prints SyncUpdates calls/s, computer cycles/s, p50/p99
//!    SyncUpdates latency and the process's RSS (server and clients share
//!    the process);
//! 3. the same content files served by fakedc (`/Content/XX/<SHA1>.cab` on
//!    8530, generated) and by nginx (written to disk), downloaded by the
//!    same keep-alive client: MB/s for both and the ratio.
//!
//! Run: `cargo bench --bench wsus` or `cargo bench --bench wsus -- --short`
//! (CI: 1,000 updates, 100 computers, small files). `--computers N`,
//! `--updates N`, `--clients N`. Targets (p99 under 50 ms, content at
//! least as fast as nginx) are printed, never asserted.
#![allow(clippy::disallowed_methods)] // tests and benchmarks time real peers on the real clock
#![allow(clippy::print_stdout)] // a benchmark prints its figures

mod common;

use anyhow::{bail, Context, Result};
use fakedc::{Datacenter, ServiceKind};
use fakedc_wsus::catalog::Catalog;
use fakedc_wsus::msg::Service;
use fakedc_wsus::probe::{between, Client};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const ALL: &str = "a0a08746-4dbe-4a37-9adf-9e7652c0b421";
const T: Duration = Duration::from_secs(60);

struct Tmp(PathBuf);

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// nginx, stopped on drop.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn start_nginx(dir: &Path) -> Result<(Nginx, u16)> {
    for d in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    let port = free_port()?;
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let p = dir.display();
    let conf = format!(
        r#"{user}
worker_processes auto;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    client_body_temp_path {p}/body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {p}/www;
    }}
}}
"#,
        user = if root { "user root;" } else { "" },
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let child = Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf_path)
        .args(["-e", "stderr", "-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nginx (./scripts/test installs it)")?;
    let nginx = Nginx(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!(
                "nginx did not listen on {port}: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((nginx, port))
}

/// Revision ids in a SyncUpdates answer: (id, is_leaf).
fn new_updates(xml: &str) -> Vec<(i32, bool)> {
    let mut out = Vec::new();
    for part in xml.split("<UpdateInfo><ID>").skip(1) {
        let id = part.split('<').next().and_then(|s| s.parse().ok());
        let leaf = part.contains("<IsLeaf>true</IsLeaf>");
        if let Some(id) = id {
            out.push((id, leaf));
        }
    }
    out
}

fn cookie_xml(data: &str) -> String {
    format!("<cookie><Expiration>2030-01-01T00:00:00Z</Expiration><EncryptedData>{data}</EncryptedData></cookie>")
}

fn ints(v: &[i32]) -> String {
    let mut s = String::with_capacity(v.len() * 18);
    for i in v {
        s.push_str("<int>");
        s.push_str(&i.to_string());
        s.push_str("</int>");
    }
    s
}

/// GetConfig's LastChange (what the agent caches and sends to GetCookie).
async fn last_change(c: &mut Client) -> Result<String> {
    let r = c
        .soap(
            Service::Client,
            "GetConfig",
            "<protocolVersion>1.8</protocolVersion>",
            &[],
        )
        .await?;
    let text = r.text();
    Ok(between(&text, "LastChange")
        .context("no LastChange")?
        .to_string())
}

/// One computer's cycle; returns each SyncUpdates latency.
async fn cycle(c: &mut Client, name: &str, last: &str) -> Result<Vec<Duration>> {
    let r = c
        .soap(
            Service::SimpleAuth,
            "GetAuthorizationCookie",
            &format!("<clientId>{name}</clientId><targetGroupName></targetGroupName><dnsName>{name}</dnsName>"),
            &[],
        )
        .await?;
    let text = r.text();
    let data = between(&text, "CookieData")
        .context("no CookieData")?
        .to_string();
    let r = c
        .soap(
            Service::Client,
            "GetCookie",
            &format!("<authCookies><AuthorizationCookie><PlugInId>SimpleTargeting</PlugInId><CookieData>{data}</CookieData></AuthorizationCookie></authCookies><lastChange>{last}</lastChange><currentTime>{last}</currentTime><protocolVersion>1.8</protocolVersion>"),
            &[],
        )
        .await?;
    let text = r.text();
    let mut cookie = between(&text, "EncryptedData")
        .context("no cookie")?
        .to_string();
    let r = c
        .soap(
            Service::Client,
            "RegisterComputer",
            &format!("{}<computerInfo><DnsName>{name}</DnsName><OSMajorVersion>10</OSMajorVersion><OSMinorVersion>0</OSMinorVersion><OSBuildNumber>17763</OSBuildNumber></computerInfo>", cookie_xml(&cookie)),
            &[],
        )
        .await?;
    if r.status != 200 {
        bail!("RegisterComputer: HTTP {}", r.status);
    }
    let (mut nonleaf, mut cached) = (Vec::new(), Vec::new());
    let mut lat = Vec::new();
    for pass in 0.. {
        if pass > 20 {
            bail!("SyncUpdates never converged");
        }
        let skip = false;
        let body = format!(
            "{}<parameters><ExpressQuery>false</ExpressQuery><InstalledNonLeafUpdateIDs>{}</InstalledNonLeafUpdateIDs><OtherCachedUpdateIDs>{}</OtherCachedUpdateIDs><SkipSoftwareSync>{skip}</SkipSoftwareSync></parameters>",
            cookie_xml(&cookie),
            ints(&nonleaf),
            ints(&cached)
        );
        let t = Instant::now();
        let r = c.soap(Service::Client, "SyncUpdates", &body, &[]).await?;
        lat.push(t.elapsed());
        if r.status != 200 {
            bail!("SyncUpdates: HTTP {}: {}", r.status, r.text());
        }
        let text = r.text();
        if let Some(nc) = text.split("<NewCookie>").nth(1) {
            if let Some(d) = between(nc, "EncryptedData") {
                cookie = d.to_string();
            }
        }
        let new = new_updates(&text);
        if new.is_empty() {
            break;
        }
        for (id, leaf) in new {
            if leaf {
                cached.push(id);
            } else {
                nonleaf.push(id);
            }
        }
    }
    let body = format!(
        "{}<parameters><ExpressQuery>false</ExpressQuery><InstalledNonLeafUpdateIDs>{}</InstalledNonLeafUpdateIDs><OtherCachedUpdateIDs>{}</OtherCachedUpdateIDs><SkipSoftwareSync>true</SkipSoftwareSync></parameters>",
        cookie_xml(&cookie),
        ints(&nonleaf),
        ints(&cached)
    );
    let t = Instant::now();
    let r = c.soap(Service::Client, "SyncUpdates", &body, &[]).await?;
    lat.push(t.elapsed());
    if r.status != 200 {
        bail!("driver SyncUpdates: HTTP {}", r.status);
    }
    if cached.len() != 200 {
        bail!("{name} was offered {} updates, not 200", cached.len());
    }
    Ok(lat)
}

/// Publishes the first `n` updates' files the agent's way (a cookie, then
/// GetExtendedUpdateInfo with FileUrl) and returns their URL paths.
async fn publish(addr: SocketAddr, n: usize) -> Result<Vec<String>> {
    let mut c = Client::connect(addr, false, T).await?;
    let last = last_change(&mut c).await?;
    let r = c
        .soap(
            Service::SimpleAuth,
            "GetAuthorizationCookie",
            "<clientId>bench-content</clientId>",
            &[],
        )
        .await?;
    let text = r.text();
    let data = between(&text, "CookieData")
        .context("no CookieData")?
        .to_string();
    let r = c
        .soap(
            Service::Client,
            "GetCookie",
            &format!("<authCookies><AuthorizationCookie><PlugInId>SimpleTargeting</PlugInId><CookieData>{data}</CookieData></AuthorizationCookie></authCookies><lastChange>{last}</lastChange><currentTime>{last}</currentTime>"),
            &[],
        )
        .await?;
    let text = r.text();
    let cookie = between(&text, "EncryptedData")
        .context("no cookie")?
        .to_string();
    let ids: Vec<i32> = (0..n as i32)
        .map(|i| fakedc_wsus::catalog::UPDATE_REVISION_BASE + i)
        .collect();
    let body = format!(
        "{}<revisionIDs>{}</revisionIDs><infoTypes><XmlUpdateFragmentType>FileUrl</XmlUpdateFragmentType></infoTypes>",
        cookie_xml(&cookie),
        ints(&ids)
    );
    let r = c
        .soap(Service::Client, "GetExtendedUpdateInfo", &body, &[])
        .await?;
    let text = r.text();
    let mut urls = Vec::new();
    for part in text.split("<Url>").skip(1) {
        let url = part.split('<').next().unwrap_or("");
        let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}"));
        urls.push(path.context("URL without a path")?);
    }
    Ok(urls)
}

async fn download_all(addr: SocketAddr, paths: &[(String, u64)]) -> Result<Duration> {
    let mut c = Client::connect(addr, false, T).await?;
    let t = Instant::now();
    for (p, size) in paths {
        let r = c.request("GET", p, &[], b"").await?;
        if r.status != 200 || r.body.len() as u64 != *size {
            bail!("GET {p}: HTTP {} with {} bytes", r.status, r.body.len());
        }
    }
    Ok(t.elapsed())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsus benchmark failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args = common::Args::from_env();
    let short = args.short();
    let updates: u32 = args
        .value("--updates")?
        .unwrap_or(if short { 1000 } else { 10_000 });
    let computers: usize = args
        .value("--computers")?
        .unwrap_or(if short { 100 } else { 1000 });
    let clients: usize = args.value("--clients")?.unwrap_or(8);
    let file_size: u64 = if short { 256 << 10 } else { 4 << 20 };
    let files: usize = if short { 8 } else { 32 };
    let scenario = format!(
        "[[machine]]\nname = \"wsus01\"\nrole = \"wsus\"\naddress = \"127.87.0.40\"\n[machine.options.wsus]\nupdates = {updates}\nfile_size = {file_size}\ncookie_minutes = 600\n"
    );
    let dc = Datacenter::builder()
        .scenario_str(&scenario)
        .ephemeral()
        .protocols(&["wsus"])
        .start()?;
    let addr = dc
        .endpoint("wsus01", ServiceKind::WsusControlHttp)
        .context("no 8530")?;
    let m = dc.model().find("wsus01").context("wsus01")?;
    let password = dc
        .model()
        .find_user(m.id, "Administrator")
        .context("administrator")?
        .password;
    // The catalogue the server generated (the same ids from the same count).
    let catalog = Catalog::generate(updates, file_size);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    // 1. Approvals through the admin service: 100 updates with a
    //    prerequisite (index 100k+9 needs 100k+8).
    let approve: Vec<usize> = (0..100)
        .map(|k| (k * (updates as usize / 100)) / 10 * 10 + 9)
        .collect();
    rt.block_on(async {
        let mut c = Client::connect(addr, false, T).await?;
        if !c.ntlm_login("Administrator", &password).await? {
            bail!("admin login refused");
        }
        for &u in &approve {
            let upd = &catalog.updates[u];
            let body = format!(
                "<updateId><UpdateId>{}</UpdateId><RevisionNumber>{}</RevisionNumber></updateId><deploymentAction>0</deploymentAction><targetGroupId>{ALL}</targetGroupId><deadline>9999-12-31T00:00:00Z</deadline><adminName>bench</adminName><isAssigned>true</isAssigned>",
                upd.id, upd.revision_number
            );
            let r = c
                .soap(Service::Admin, "ExecuteSPDeployUpdate1", &body, &[])
                .await?;
            if r.status != 200 {
                bail!("approve: HTTP {}: {}", r.status, r.text());
            }
        }
        Ok(())
    })?;

    // 2. The fleet's sync cycle.
    let t = Instant::now();
    let lat: Vec<Duration> = rt.block_on(async {
        let mut tasks = Vec::new();
        for k in 0..clients {
            tasks.push(tokio::spawn(async move {
                let mut all = Vec::new();
                let mut c = Client::connect(addr, false, T).await?;
                let last = last_change(&mut c).await?;
                let mut i = k;
                while i < computers {
                    all.extend(cycle(&mut c, &format!("host{i:05}"), &last).await?);
                    i += clients;
                }
                anyhow::Ok(all)
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await??);
        }
        anyhow::Ok(all)
    })?;
    let wall = t.elapsed();
    let mut sorted = lat.clone();
    sorted.sort();
    let pct = |p: f64| sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)];
    let rss = common::rss_kib(std::process::id()).unwrap_or(0);
    println!(
        "wsus sync: {computers} computers, {clients} clients, {updates}-update catalogue, 100 approved (+100 prerequisites)"
    );
    println!(
        "  {} SyncUpdates in {:.2}s: {:.0} syncs/s, {:.0} computer cycles/s; p50 {:.2} ms, p99 {:.2} ms (target: p99 < 50 ms); RSS {} MiB",
        lat.len(),
        wall.as_secs_f64(),
        lat.len() as f64 / wall.as_secs_f64(),
        computers as f64 / wall.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        rss / 1024
    );

    // 3. Content: the same files from fakedc and from nginx.
    let dir = Tmp(std::env::temp_dir().join(format!("fakedc-wsus-bench-{}", std::process::id())));
    let mut paths = Vec::new();
    let mut total = 0u64;
    let published = rt.block_on(publish(addr, files.min(catalog.updates.len())))?;
    for u in 0..files.min(catalog.updates.len()) {
        let d = catalog.digests(u, 0).context("digest")?;
        let f = catalog.file(u, 0).context("file")?;
        let url = fakedc_wsus::server::Server::content_url("", &d.sha1);
        if published.get(u) != Some(&url) {
            bail!(
                "file {u}: the server published {:?}, not {url}",
                published.get(u)
            );
        }
        let on_disk = dir.0.join("www").join(url.trim_start_matches('/'));
        std::fs::create_dir_all(on_disk.parent().context("parent")?)?;
        let mut bytes = vec![0u8; f.size as usize];
        fakedc_bits::fill_virtual(f.seed, 0, &mut bytes);
        std::fs::write(&on_disk, &bytes)?;
        total += f.size;
        paths.push((url, f.size));
    }
    let (_nginx, port) = start_nginx(&dir.0)?;
    let nginx_addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let rounds = if short { 1 } else { 3 };
    let (mut best_f, mut best_n) = (Duration::MAX, Duration::MAX);
    for _ in 0..rounds {
        best_f = best_f.min(rt.block_on(download_all(addr, &paths))?);
        best_n = best_n.min(rt.block_on(download_all(nginx_addr, &paths))?);
    }
    let mbs = |d: Duration| total as f64 / (1 << 20) as f64 / d.as_secs_f64();
    println!(
        "wsus content: {files} files, {:.1} MiB, best of {rounds}: fakedc {:.0} MB/s, nginx {:.0} MB/s, ratio {:.2} (target: >= 1); RSS after {} MiB (content cache included)",
        total as f64 / (1 << 20) as f64,
        mbs(best_f),
        mbs(best_n),
        best_n.as_secs_f64() / best_f.as_secs_f64(),
        common::rss_kib(std::process::id()).unwrap_or(0) / 1024
    );
    drop(dc);
    Ok(())
}
