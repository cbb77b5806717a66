//! The SSH endpoints of fakedc, on port 22 of:
//!
//! - every ESX host (`sftp`, the "file transfer" row VMM uses to move VM
//!   files) and every ESXi host (`ssh`): SFTP over the host's datastore
//!   (`/vmfs/volumes/datastore1/...`, rooted in the machine's file share and
//!   jailed there) and the ESXi shell (`esxcli`, `vim-cmd`, `uname`, `ls`)
//!   over exec and interactive sessions;
//! - every BMC whose scenario enables `bmc-ssh`: the SMASH CLP (DMTF DSP0214)
//!   command line, acting on the same chassis IPMI and the control API use.
//!
//! The SSH transport is russh; SFTP framing is russh-sftp's codec. What is
//! ours: authentication against the model's users and authorized keys, the
//! jail (lexical normalisation, then every file operation through a cap-std
//! directory capability), the machine's share quota (`fakedc_model::Quota`,
//! shared with SMB and BITS), uploads under their name from OPEN
//! (or, opted in, published by rename), the legacy SCP protocol, the two
//! command interpreters (plain functions of a line and the model, testable
//! without sockets), journaling, and the probe that `fakedc check` uses.
//!
//! Module map: `options` (per-service scenario options), `hostkey` (stable
//! host keys under the certs directory), `vfs` (virtual paths, sans-IO),
//! `jail` (the share through cap-std), `sftp` (the SFTP server),
//! `scp` (scp -t/-f, sans-IO), `sh` (busybox sh syntax, sans-IO), `esxi`
//! and `clp` (interpreters), `terminal` (line discipline for interactive
//! sessions), `server` (russh glue, the only async part besides `sftp`'s
//! loop and the SCP driver) and `probe` (client side).

mod audit;
pub mod clp;
pub mod esxi;
pub mod hostkey;
pub mod jail;
pub mod options;
pub mod probe;
pub mod scp;
mod server;
pub mod sftp;
pub mod sh;
pub mod terminal;
pub mod vfs;

pub use options::{OptionsError, SshOptions};
pub use server::register;

/// Errors of the SSH service outside a single connection.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error("host key {path}: {message}")]
    HostKey { path: String, message: String },
    #[error("share {path}: {source}")]
    Share {
        path: String,
        source: std::io::Error,
    },
}

/// What `/about` lists for SSH: the transport features, SFTP operations,
/// ESXi shell commands and SMASH CLP verbs implemented.
pub fn operations() -> Vec<String> {
    let mut ops: Vec<String> = [
        "SSH-2.0 transport (russh): curve25519/ecdh/dh kex, ssh-ed25519 host key (stable under the certs directory)",
        "auth: password, keyboard-interactive, publickey (authorized_keys), attempt limit",
        "SFTP v3: open/read/write/close, stat/lstat/fstat/setstat/fsetstat, opendir/readdir, mkdir/rmdir, remove, rename, realpath, symlink/readlink",
        "SFTP extensions: posix-rename@openssh.com, statvfs@openssh.com, fstatvfs@openssh.com, fsync@openssh.com, limits@openssh.com",
        "SFTP jail: datastore /vmfs/volumes/<datastore> mapped to the share, quota, uploads under their name from OPEN (publish-by-rename with atomic_uploads)",
        "SCP (legacy protocol, scp -O): scp -t / scp -f on the host's exec channel, -r -p -d, over the same jail and quota",
        "exec/subsystem channels end with exit-status, EOF, CLOSE",
        "ESX 3.x hosts: ESX 3.5's service console (bash, Linux 2.4.21-57.ELvmnix, VMware ESX Server 3.5.0)",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    ops.extend(esxi::COMMANDS.iter().map(|c| format!("ESXi shell: {c}")));
    ops.extend(clp::VERBS.iter().map(|v| format!("SMASH CLP: {v}")));
    ops
}

use fakedc_model::ServiceKind;
use fakedc_net::{
    BoxFuture, Mount, ProbeReport, ProbeTarget, Protocol, Services, StartCtx, StartError,
};

/// SSH in the protocol registry (`fakedc::protocols()`): SFTP on ESX, the
/// ESXi shell and SFTP on ESXi, SMASH CLP on BMCs.
pub struct Ssh;

/// The registry's entry for SSH.
pub static PROTOCOL: Ssh = Ssh;

impl Protocol for Ssh {
    fn name(&self) -> &'static str {
        "ssh"
    }

    fn mounts(&self) -> &'static [Mount] {
        &[
            Mount::Stream(ServiceKind::Sftp),
            Mount::Stream(ServiceKind::Ssh),
            Mount::Stream(ServiceKind::BmcSsh),
        ]
    }

    /// One table per endpoint kind (`sftp`, `ssh`, `bmc-ssh`).
    fn option_tables(&self) -> &'static [&'static str] {
        &["sftp", "ssh", "bmc-ssh"]
    }

    fn validate(&self, machine: &fakedc_model::Machine) -> Result<(), OptionsError> {
        for kind in [ServiceKind::Sftp, ServiceKind::Ssh, ServiceKind::BmcSsh] {
            if machine.endpoint(kind).is_some() || machine.options.contains_key(kind.name()) {
                SshOptions::for_machine(machine, kind)?;
            }
        }
        Ok(())
    }

    fn start(&self, ctx: &StartCtx<'_>, services: &mut Services) -> Result<(), StartError> {
        register(services, ctx.model, ctx.certs.map(|p| p.to_path_buf())).map_err(|e| match e {
            SshError::Options(o) => StartError::Options(o),
            e => StartError::Environment(e.to_string()),
        })
    }

    fn operations(&self) -> Vec<String> {
        operations()
    }

    fn probe(&self, t: ProbeTarget) -> BoxFuture<ProbeReport> {
        Box::pin(async move { probe::probe(t.addr, t.service, t.creds(), t.timeout).await })
    }
}
