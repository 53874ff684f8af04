//! `storeterm backup | restore | verify`.
//!
//! `backup` asks the running daemon first (`GET /api/v1/admin/backup` on its loopback API with
//! the config's admin token): redb lets only one process open the store, and the daemon holds
//! it. When no daemon answers, the command opens the store itself. Either way the copy lands in
//! `FILE.partial`, is verified whole, synced and only then renamed to `FILE`.

use crate::config::Config;
use crate::store::backup::{self, BackupError, BackupSummary};
use crate::store::{DB_FILE, Store, StoreError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the snapshot came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The running daemon streamed it.
    Daemon,
    /// No daemon answered; the store was opened directly.
    Store,
}

/// Why a backup command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error("в {0} нет хранилища storeterm: проверьте [store] path в конфигурации")]
    NoStore(PathBuf),
    #[error(
        "хранилище открыто работающим storeterm, а в конфигурации нет токена с ролью admin, чтобы попросить копию у него: добавьте [[tokens]] с role = \"admin\""
    )]
    NoAdminToken,
    #[error("работающий storeterm на {url} не отдал копию: {reason}")]
    Daemon { url: String, reason: String },
}

impl CommandError {
    /// The file is not a good backup (as opposed to: the job could not be done).
    pub fn is_bad_backup(&self) -> bool {
        matches!(
            self,
            CommandError::Backup(
                BackupError::NotABackup
                    | BackupError::Checksum
                    | BackupError::Damaged(_)
                    | BackupError::UnknownFormat(_)
                    | BackupError::Schema { .. }
                    | BackupError::UnknownTable(_)
            )
        )
    }
}

/// `storeterm backup --config FILE --to OUT`.
pub async fn backup(config: &Config, to: &Path) -> Result<(BackupSummary, Source), CommandError> {
    if let Some(token) = super::admin_token(config) {
        match from_daemon(config, token, to).await {
            Ok(summary) => return Ok((summary, Source::Daemon)),
            Err(Reach::NoDaemon) => {}
            Err(Reach::Failed(e)) => return Err(e),
        }
    }
    let dir = config.store.path.clone();
    if !dir.join(DB_FILE).exists() {
        return Err(CommandError::NoStore(dir));
    }
    let settings = crate::app::store_settings(config);
    let to = to.to_path_buf();
    let token = super::admin_token(config).is_some();
    tokio::task::spawn_blocking(move || {
        let store = match Store::open_with(&dir, &settings) {
            Ok(store) => store,
            Err(StoreError::Locked { .. }) if !token => return Err(CommandError::NoAdminToken),
            Err(e) => return Err(BackupError::from(e).into()),
        };
        let result = store.backup_to_file(&to);
        store.close();
        Ok((result?, Source::Store))
    })
    .await
    .map_err(|e| CommandError::Backup(BackupError::Damaged(e.to_string())))?
}

enum Reach {
    NoDaemon,
    Failed(CommandError),
}

async fn from_daemon(config: &Config, token: &str, to: &Path) -> Result<BackupSummary, Reach> {
    let url = format!("{}/api/v1/admin/backup", super::local_api(config));
    let failed = |reason: String| Reach::Failed(CommandError::Daemon { url: url.clone(), reason });
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let mut response = match client.get(&url).bearer_auth(token).send().await {
        Ok(r) => r,
        Err(e) if e.is_connect() => return Err(Reach::NoDaemon),
        Err(e) => return Err(failed(e.to_string())),
    };
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        return Err(failed(format!("HTTP {status}: {}", body.chars().take(300).collect::<String>())));
    }
    let partial = to.with_extension("partial");
    let io = |source| {
        Reach::Failed(CommandError::Backup(BackupError::Io {
            path: partial.clone(),
            source,
        }))
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(&partial).map_err(io)?);
    let streamed = async {
        while let Some(chunk) = response.chunk().await.map_err(|e| failed(format!("передача оборвалась: {e}")))? {
            file.write_all(&chunk).map_err(io)?;
        }
        let file = file.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        let summary = backup::verify_file(&partial).map_err(|e| Reach::Failed(e.into()))?;
        std::fs::rename(&partial, to).map_err(io)?;
        Ok(summary)
    }
    .await;
    if streamed.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    streamed
}

/// `storeterm restore --config FILE --from OUT`: into the config's store directory, which
/// must be empty (or missing).
pub async fn restore(config: &Config, from: &Path) -> Result<BackupSummary, CommandError> {
    Ok(backup::restore(&config.store.path, &crate::app::store_settings(config), from).await?)
}

/// `storeterm verify FILE`.
pub async fn verify(file: &Path) -> Result<BackupSummary, CommandError> {
    let file = file.to_path_buf();
    tokio::task::spawn_blocking(move || backup::verify_file(&file))
        .await
        .map_err(|e| CommandError::Backup(BackupError::Damaged(e.to_string())))?
        .map_err(CommandError::from)
}

/// One line about a backup, for the terminal.
pub fn describe(summary: &BackupSummary, file: &Path) -> String {
    let bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    format!(
        "{}: копия от {}, хранилище {}, {} таблиц, {} записей, документов выдано до № {}, CRM получила до № {}, {} байт",
        file.display(),
        summary.header.created_at,
        summary.header.store_id,
        summary.tables,
        summary.entries,
        summary.header.outbox_seq,
        summary.header.delivered_seq,
        bytes
    )
}
