//! Scheduled backups (`[backup] dir, every, keep`): a snapshot of the store every `every`,
//! written beside the others as `storeterm-<UTC time>.stbak`, the oldest deleted beyond `keep`.
//!
//! The snapshot is a read transaction on a blocking thread: the writer thread (and so every
//! till) goes on committing while it runs. What the schedule did last is kept in the backup
//! directory itself — the files, and a `LAST_ERROR` file while the last attempt failed — so
//! `storeterm doctor` and `/admin` read the same truth, even from another process.

use crate::config::BackupConfig;
use crate::store::Store;
use crate::store::backup::{BackupError, BackupSummary};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const PREFIX: &str = "storeterm-";
const SUFFIX: &str = ".stbak";
/// Present in the backup directory while the last scheduled backup failed; holds why.
pub const LAST_ERROR: &str = "LAST_ERROR";

/// One backup file in the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupFile {
    pub path: PathBuf,
    pub taken_at: jiff::Timestamp,
    pub bytes: u64,
}

/// What the backup directory says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupState {
    /// Newest first.
    pub files: Vec<BackupFile>,
    /// Why the last scheduled backup failed, while it did.
    pub last_error: Option<String>,
}

impl BackupState {
    pub fn newest(&self) -> Option<&BackupFile> {
        self.files.first()
    }
}

/// The file name of a backup taken at `at`.
pub fn file_name(at: jiff::Timestamp) -> String {
    format!("{PREFIX}{}{SUFFIX}", at.strftime("%Y%m%dT%H%M%SZ"))
}

fn taken_at(name: &str) -> Option<jiff::Timestamp> {
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let civil = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", stamp).ok()?;
    civil.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp())
}

/// Read the backup directory (a missing one has no backups).
pub fn state(dir: &Path) -> std::io::Result<BackupState> {
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => Some(entries),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    for entry in entries.into_iter().flatten() {
        let entry = entry?;
        let name = entry.file_name();
        let Some(at) = name.to_str().and_then(taken_at) else { continue };
        files.push(BackupFile {
            path: entry.path(),
            taken_at: at,
            bytes: entry.metadata()?.len(),
        });
    }
    files.sort_by_key(|f| std::cmp::Reverse(f.taken_at));
    let last_error = std::fs::read_to_string(dir.join(LAST_ERROR)).ok().map(|s| s.trim().to_string());
    Ok(BackupState { files, last_error })
}

/// Take one backup into `dir` now and delete the oldest beyond `keep`.
pub fn take(store: &Store, dir: &Path, keep: usize, now: jiff::Timestamp) -> Result<(PathBuf, BackupSummary), BackupError> {
    let io = |source| BackupError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let path = dir.join(file_name(now));
    let summary = store.backup_to_file(&path)?;
    let state = state(dir).map_err(io)?;
    for old in state.files.iter().skip(keep.max(1)) {
        std::fs::remove_file(&old.path).map_err(io)?;
    }
    Ok((path, summary))
}

/// When the next backup is due: `every` after the newest one, or now.
fn next_due(dir: &Path, every: Duration, now: jiff::Timestamp) -> Duration {
    let newest = state(dir).ok().and_then(|s| s.newest().map(|f| f.taken_at));
    match newest {
        Some(at) => {
            let age = now.duration_since(at).unsigned_abs();
            every.saturating_sub(age)
        }
        None => Duration::ZERO,
    }
}

/// The daemon's backup schedule; ends on shutdown. A failed backup is logged, written to
/// `LAST_ERROR` and tried again at the next turn (or in a tenth of `every`, at most an hour).
pub async fn run_schedule(store: Store, config: BackupConfig, shutdown: CancellationToken) {
    let retry = (config.every / 10).min(Duration::from_secs(3600));
    let mut wait = next_due(&config.dir, config.every, jiff::Timestamp::now());
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let (s, dir, keep) = (store.clone(), config.dir.clone(), config.keep);
        let started = tokio::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || take(&s, &dir, keep, jiff::Timestamp::now()))
            .await
            .unwrap_or_else(|e| Err(BackupError::Damaged(format!("поток резервной копии упал: {e}"))));
        let error_file = config.dir.join(LAST_ERROR);
        wait = match result {
            Ok((path, summary)) => {
                let _ = std::fs::remove_file(&error_file);
                tracing::info!(
                    path = %path.display(),
                    entries = summary.entries,
                    took_ms = started.elapsed().as_millis() as u64,
                    "backup written"
                );
                config.every
            }
            Err(e) => {
                tracing::error!(error = %e, dir = %config.dir.display(), "scheduled backup failed");
                let _ = std::fs::write(&error_file, format!("{} {e}\n", jiff::Timestamp::now()));
                retry
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_and_read_back() {
        let at: jiff::Timestamp = "2026-12-06T09:15:00Z".parse().unwrap();
        let name = file_name(at);
        assert_eq!(name, "storeterm-20261206T091500Z.stbak");
        assert_eq!(taken_at(&name), Some(at));
        assert_eq!(taken_at("storeterm-junk.stbak"), None);
        assert_eq!(taken_at("notes.txt"), None);
    }

    #[tokio::test]
    async fn rotation_keeps_the_newest() {
        let store_dir = tempfile::tempdir().unwrap();
        let store = Store::open(store_dir.path()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let backups = dir.path().join("backups");
        std::fs::create_dir_all(&backups).unwrap();
        std::fs::write(backups.join("unrelated.txt"), "keep me").unwrap();
        let t0: jiff::Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        for day in 0..5 {
            let at = t0 + jiff::SignedDuration::from_hours(24 * day);
            take(&store, &backups, 3, at).unwrap();
        }
        let s = state(&backups).unwrap();
        let names: Vec<String> = s
            .files
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "storeterm-20261205T000000Z.stbak",
                "storeterm-20261204T000000Z.stbak",
                "storeterm-20261203T000000Z.stbak"
            ]
        );
        assert!(backups.join("unrelated.txt").exists());
        for f in &s.files {
            crate::store::backup::verify_file(&f.path).unwrap();
        }
        // Due again a day after the newest.
        let now = t0 + jiff::SignedDuration::from_hours(24 * 4 + 6);
        assert_eq!(next_due(&backups, Duration::from_secs(86400), now), Duration::from_secs(18 * 3600));
        assert_eq!(next_due(&dir.path().join("none"), Duration::from_secs(86400), now), Duration::ZERO);
    }
}
