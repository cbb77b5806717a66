//! Host keys: one Ed25519 key per machine. With a certs directory the key is
//! kept at `<certs>/ssh/<machine>_ed25519` (OpenSSH format, mode 0600, with a
//! `.pub` beside it) so a restarted fakedc shows the same key and clients'
//! known_hosts keep working; without one (ephemeral runs) it lives in memory.
//!
//! Keys are made on a machine's first connection, not at start: a 1,000-host
//! fleet should not write 1,000 files before it is ready.

use crate::SshError;
use russh::keys::ssh_key::{private::Ed25519Keypair, HashAlg, LineEnding, PrivateKey};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where a machine's host key lives in the certs directory.
pub fn key_path(certs: &Path, machine: &str) -> PathBuf {
    certs.join("ssh").join(format!("{machine}_ed25519"))
}

/// A fresh Ed25519 key from the OS's random source.
pub fn generate() -> PrivateKey {
    let seed: [u8; 32] = rand::random();
    PrivateKey::from(Ed25519Keypair::from_seed(&seed))
}

/// Loads the machine's key from the certs directory, creating it when
/// absent; generates an in-memory key when there is no certs directory.
pub fn load_or_create(certs: Option<&Path>, machine: &str) -> Result<PrivateKey, SshError> {
    let Some(certs) = certs else {
        return Ok(generate());
    };
    let path = key_path(certs, machine);
    let fail = |message: String| SshError::HostKey {
        path: path.display().to_string(),
        message,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => return PrivateKey::from_openssh(text.trim()).map_err(|e| fail(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e.to_string())),
    }
    let key = generate();
    let pem = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| fail(e.to_string()))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    }
    write_private(&path, pem.as_bytes()).map_err(|e| fail(e.to_string()))?;
    let mut pub_path = path.clone().into_os_string();
    pub_path.push(".pub");
    std::fs::write(&pub_path, format!("{public} fakedc-{machine}\n"))
        .map_err(|e| fail(e.to_string()))?;
    Ok(key)
}

/// Writes a private key with mode 0600 through a temporary file and a
/// rename, so a crash never leaves half a key that later fails to load.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.to_path_buf().into_os_string();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let mut f = o.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// The OpenSSH-style fingerprint (`SHA256:...`) of a key, as `ssh` prints it.
pub fn fingerprint(key: &russh::keys::PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_across_loads_and_private() {
        let dir = std::env::temp_dir().join(format!("fakedc-hostkey-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = load_or_create(Some(&dir), "esx01").expect("create");
        let b = load_or_create(Some(&dir), "esx01").expect("load");
        assert_eq!(
            fingerprint(a.public_key()),
            fingerprint(b.public_key()),
            "the key must survive a restart"
        );
        let c = load_or_create(Some(&dir), "esx02").expect("other");
        assert_ne!(fingerprint(a.public_key()), fingerprint(c.public_key()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_path(&dir, "esx01"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "private key readable by others");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ephemeral_keys_differ() {
        let a = load_or_create(None, "x").expect("gen");
        let b = load_or_create(None, "x").expect("gen");
        assert_ne!(fingerprint(a.public_key()), fingerprint(b.public_key()));
    }
}
