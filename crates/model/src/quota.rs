//! A machine's share quota: real datastores and library shares fill up
//! (an FSRM hard quota on a Windows share, a full VMFS datastore), and VMM
//! must see each protocol's own "disk full" answer when one does.
//!
//! One `Quota` per machine ([`crate::Model::share_quota`]), shared by every
//! front end that writes into the share (SFTP/SCP/the ESXi shell, SMB,
//! BITS), so bytes put over one protocol leave less room for the others.
//! Usage is counted once by walking the share (on first need), then kept up
//! to date by every write, truncate, remove and replacing rename. Files
//! changed behind fakedc's back make the count drift, so a write that would
//! exceed the quota re-walks the share before it is refused.

use cap_std::fs::Dir;
use std::sync::Mutex;

/// Entries visited at most when walking a share (a hostile or huge share
/// must not stall a connection for minutes).
const MAX_SCAN_ENTRIES: usize = 1_000_000;
/// Directory depth walked at most.
const MAX_SCAN_DEPTH: usize = 64;

/// A write that does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("quota of {limit} bytes exceeded ({used} used, {wanted} more wanted)")]
pub struct QuotaFull {
    pub limit: u64,
    pub used: u64,
    pub wanted: u64,
}

/// The quota of one machine's share.
#[derive(Debug)]
pub struct Quota {
    limit: Option<u64>,
    /// Bytes of regular files in the share; `None` until first walked.
    used: Mutex<Option<u64>>,
}

impl Quota {
    pub fn new(limit: Option<u64>) -> Quota {
        Quota {
            limit,
            used: Mutex::new(None),
        }
    }

    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.used.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes in use (walking the share the first time).
    pub fn used(&self, share: &Dir) -> u64 {
        let mut used = self.lock();
        *used.get_or_insert_with(|| scan(share))
    }

    /// Takes `bytes` more, or refuses when that would pass the limit.
    pub fn reserve(&self, share: &Dir, bytes: u64) -> Result<(), QuotaFull> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        if bytes == 0 {
            return Ok(());
        }
        let mut used = self.lock();
        let mut current = *used.get_or_insert_with(|| scan(share));
        if current.saturating_add(bytes) > limit {
            // Files may have gone behind our back: count again before refusing.
            current = scan(share);
            *used = Some(current);
        }
        if current.saturating_add(bytes) > limit {
            return Err(QuotaFull {
                limit,
                used: current,
                wanted: bytes,
            });
        }
        *used = Some(current + bytes);
        Ok(())
    }

    /// Gives back `bytes` (a file shrank or went away).
    pub fn release(&self, bytes: u64) {
        if self.limit.is_none() || bytes == 0 {
            return;
        }
        let mut used = self.lock();
        if let Some(u) = used.as_mut() {
            *u = u.saturating_sub(bytes);
        }
    }

    /// A file goes from `old` to `new` bytes: reserves the growth or
    /// releases the shrinkage.
    pub fn resize(&self, share: &Dir, old: u64, new: u64) -> Result<(), QuotaFull> {
        if new > old {
            self.reserve(share, new - old)
        } else {
            self.release(old - new);
            Ok(())
        }
    }

    /// (total, free) bytes when a limit is set: what a volume of the
    /// quota's size reports (statvfs, `df`, FileFsFullSizeInformation),
    /// as an FSRM hard quota makes Windows report the share.
    pub fn space(&self, share: &Dir) -> Option<(u64, u64)> {
        let limit = self.limit?;
        Some((limit, limit.saturating_sub(self.used(share))))
    }
}

/// Bytes a regular file under `dir` holds, 0 when it is not there (what a
/// write that replaces or removes it gives back to the quota).
pub fn file_len(dir: &Dir, rel: &std::path::Path) -> u64 {
    dir.metadata(rel)
        .ok()
        .filter(|m| m.is_file())
        .map_or(0, |m| m.len())
}

/// Sums the sizes of regular files under `dir` (symlinks are not followed).
pub fn scan(dir: &Dir) -> u64 {
    let mut budget = MAX_SCAN_ENTRIES;
    walk(dir, 0, &mut budget)
}

fn walk(dir: &Dir, depth: usize, budget: &mut usize) -> u64 {
    let Ok(entries) = dir.entries() else {
        return 0;
    };
    let mut total = 0u64;
    for entry in entries.flatten() {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        let Ok(ft) = entry.file_type() else {
            continue;
        };
        if ft.is_file() {
            if let Ok(md) = entry.metadata() {
                total = total.saturating_add(md.len());
            }
        } else if ft.is_dir() && depth < MAX_SCAN_DEPTH {
            if let Ok(sub) = entry.open_dir() {
                total = total.saturating_add(walk(&sub, depth + 1, budget));
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_release_and_rescan() {
        let path = std::env::temp_dir().join(format!("fakedc-quota-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(path.join("sub")).expect("mkdir");
        std::fs::write(path.join("sub/a"), vec![0u8; 600]).expect("write");
        let dir = Dir::open_ambient_dir(&path, cap_std::ambient_authority()).expect("open");
        let q = Quota::new(Some(1000));
        assert_eq!(q.used(&dir), 600);
        assert!(q.reserve(&dir, 400).is_ok());
        // Reservations are made right before the bytes are written.
        std::fs::write(path.join("b"), vec![0u8; 400]).expect("write");
        assert_eq!(q.reserve(&dir, 1).map_err(|e| e.used), Err(1000));
        // Someone deletes the file behind our back: the refusal re-walks.
        std::fs::remove_file(path.join("sub/a")).expect("rm");
        assert!(q.reserve(&dir, 600).is_ok());
        assert!(Quota::new(None).reserve(&dir, u64::MAX).is_ok());
        assert_eq!(Quota::new(None).space(&dir), None);
        // Shrinking releases, growing reserves; space follows.
        let q = Quota::new(Some(1000));
        assert_eq!(q.space(&dir), Some((1000, 600)));
        assert!(q.resize(&dir, 0, 600).is_ok());
        assert_eq!(q.space(&dir), Some((1000, 0)));
        assert!(q.resize(&dir, 600, 100).is_ok());
        assert_eq!(q.space(&dir), Some((1000, 500)));
        let _ = std::fs::remove_dir_all(&path);
    }
}
