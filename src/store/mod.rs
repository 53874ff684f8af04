//! The embedded store: every durable fact storeterm keeps, in one redb database file written
//! by one thread.
//!
//! Rules every function here follows:
//! - A state change and the outbox documents it produces are written in **one** transaction.
//! - Nothing is acknowledged before its commit is durable to the class it needs
//!   ([`engine::Durability`]): a sale, a payment, a shift, a cash operation, a warehouse
//!   operation, a call document and a delivery mark survive a power cut (a real fsync) before
//!   the caller hears "done"; edits of an open receipt survive `kill -9` through the lane
//!   journal ([`journal`]) without waiting for an fsync.
//! - All writes go through the writer thread ([`engine`]), which group-commits: concurrent
//!   callers share one fsync.
//! - Values start with a format version byte followed by JSON, so a future layout can be
//!   migrated on start and a human can still read a dump.
//! - Keys are ordered: big-endian integers and time-ordered UUIDv7s, so range scans walk the
//!   outbox by sequence number and journals by time.
//! - A damaged file is never opened silently: every page's checksum is verified on open, and
//!   a store that fails it is refused with what to do ([`StoreError::Damaged`]).
//!
//! redb is used nowhere else in the crate; the engine stays this module's business. The store
//! imports only `domain`.

pub mod backup;
mod catalog;
mod clients;
mod engine;
mod journal;
mod lanes;
mod ledger;
mod numbering;
mod onec;
mod outbox;
mod print_jobs;
mod records;
mod redo;
mod redo_log;
mod retail;
mod retention;
mod tables;
mod wms;

pub use catalog::{FeedApplied, ItemLookup};
pub use clients::PhoneMatch;
pub use engine::{Durability, StoreHealth};
pub use lanes::LaneCommit;
pub use numbering::SeqBase;
pub use outbox::{Dropped, Parked};
pub use retention::{Pruned, Retention};
pub use wms::{CellView, Op, OpAnswer, OpTx, WmsAbort, refuse};

use crate::domain::phone::Country;
use engine::Engine;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tables::{META, meta_key};
use tokio::sync::watch;

/// Version byte written in front of every value.
const FORMAT_V1: u8 = 1;

/// Layout version of the whole store; bumped when tables or keys change meaning. Version 2 is
/// the first redb layout (version 1 was sled's, which this build does not read).
const SCHEMA_VERSION: u64 = 3;

/// The database file inside the store directory.
pub const DB_FILE: &str = "storeterm.redb";

/// The redo log beside it (see `redo_log`): part of the store; never delete one without the other.
pub const REDO_LOG_FILE: &str = "storeterm.redo";

/// Written once when a store is created; its presence next to a missing or empty database
/// file tells "the store was lost" from "this is a new store".
const IDENTITY_FILE: &str = "STORE";

/// Why the store could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error(
        "хранилище {path} повреждено: {detail}. storeterm не работает с повреждённым хранилищем, чтобы не потерять и не задвоить документы: восстановите последнюю резервную копию (`storeterm restore --from …`) в пустой каталог хранилища; номера документов продолжатся после последнего, полученного CRM"
    )]
    Damaged { path: PathBuf, detail: String },
    #[error(
        "хранилище {path} записано более новой версией storeterm (формат {found}, эта версия знает {known}); обновите storeterm или восстановите резервную копию"
    )]
    NewerSchema { path: PathBuf, found: u64, known: u64 },
    #[error(
        "хранилище {path} создано старой версией storeterm (формат {found}); эта версия его не читает: начните с пустого каталога хранилища (каталог и клиенты придут из CRM заново)"
    )]
    OlderSchema { path: PathBuf, found: u64 },
    #[error("хранилище {path} уже открыто другим процессом storeterm")]
    Locked { path: PathBuf },
    #[error("нельзя открыть хранилище {path}: {detail}")]
    Open { path: PathBuf, detail: String },
    #[error("на диске нет места: запись в хранилище не удалась (ничего не подтверждено); освободите место — storeterm продолжит сам")]
    DiskFull,
    #[error("ошибка хранилища: {0}")]
    Storage(String),
    #[error("хранилище недоступно: {0}")]
    Unavailable(String),
    #[error("запись {table}/{key} в хранилище не читается: {reason}")]
    Corrupt { table: &'static str, key: String, reason: String },
    #[error(
        "хранилище новое или восстановлено из копии: документы не нумеруются, пока CRM не сообщит номер своего последнего документа (проверьте связь с CRM)"
    )]
    AwaitingSeqBase,
    /// A bonus or credit hold the client's ledger no longer covers (another lane spent the
    /// points first); nothing was written.
    #[error(transparent)]
    Ledger(#[from] crate::domain::loyalty::LoyaltyError),
    /// A return another lane's return of the same sale made too large; nothing was written.
    #[error(transparent)]
    Return(#[from] crate::domain::returns::ReturnError),
}

impl StoreError {
    /// Turn any redb error into ours, keeping "disk full" recognisable.
    fn from_engine(e: impl Into<redb::Error>) -> StoreError {
        let e: redb::Error = e.into();
        match &e {
            redb::Error::Io(io) if is_disk_full(io) => StoreError::DiskFull,
            redb::Error::Corrupted(detail) => StoreError::Storage(format!("повреждённые данные: {detail}")),
            _ => StoreError::Storage(e.to_string()),
        }
    }

    /// After this error redb writes nothing more until the database is reopened.
    fn needs_reopen(&self) -> bool {
        matches!(self, StoreError::DiskFull | StoreError::Storage(_))
    }
}

fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull || e.kind() == std::io::ErrorKind::QuotaExceeded
}

/// How the store is opened (`[store]` in the config).
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// The engine's page cache, in MiB: the main part of storeterm's memory.
    pub cache_mb: usize,
    /// A CRM is configured: a new or restored store asks it for the last document number
    /// before numbering documents itself.
    pub numbered_by_crm: bool,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            cache_mb: 64,
            numbered_by_crm: false,
        }
    }
}

/// How the database file is used (see [`Store::usage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StoreUsage {
    pub file_bytes: u64,
    /// Pages in use by tables.
    pub allocated_bytes: u64,
    /// Keys and values themselves.
    pub stored_bytes: u64,
    /// Free room inside pages and free pages.
    pub fragmented_bytes: u64,
}

/// The open store. Cheap to clone; all clones share one database and one writer.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    dir: PathBuf,
    journals: journal::Journals,
    /// The version of each lane's last state, durable or journaled.
    lane_versions: std::sync::Mutex<std::collections::HashMap<String, u64>>,
    outbox_changed: watch::Sender<u64>,
    print_queue_changed: watch::Sender<u64>,
    /// How the phone index reads numbers written without `+` (`[calls] default_country`).
    phone_country: RwLock<Country>,
    /// See [`Store::shift_floor`]; kept here because every lane command asks for it.
    shift_floor: std::sync::atomic::AtomicU32,
    /// How long opening took, checksum verification and crash repair included.
    opened_in: std::time::Duration,
    /// Redo records applied at open.
    replayed: usize,
    /// Bumped after every committed feed page: in-memory views of the catalog (the item
    /// search index) rebuild when it moved.
    catalog_generation: std::sync::atomic::AtomicU64,
}

/// Add `rows` to the bulk-change count in `meta`, inside the bulk write's own transaction, so
/// a restart does not forget a compaction that is due.
fn count_churn(tx: &redo::Txn<'_>, rows: usize) -> Result<(), StoreError> {
    if rows == 0 {
        return Ok(());
    }
    let mut meta = tx.open_table(META)?;
    let churn = tables::meta_u64(&meta, meta_key::CHURN)? + rows as u64;
    meta.insert(meta_key::CHURN, churn.to_be_bytes().as_slice())?;
    Ok(())
}

/// Bulk-changed rows after which compacting the file is worth a pause: a first sync or a full
/// price update leaves the file with room it no longer needs.
#[cfg(not(test))]
const COMPACT_AFTER_ROWS: u64 = 50_000;
#[cfg(test)]
const COMPACT_AFTER_ROWS: u64 = 100;

impl Store {
    /// Open (or create) the store in a directory with default settings.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(dir, &StoreSettings::default())
    }

    /// Open (or create) the store in a directory. A damaged store — a database file that is
    /// empty, missing next to its identity file, truncated or with a bad page checksum — is
    /// refused with [`StoreError::Damaged`].
    pub fn open_with(dir: &Path, settings: &StoreSettings) -> Result<Store, StoreError> {
        let started = tokio::time::Instant::now();
        let open_err = |detail: String| StoreError::Open {
            path: dir.to_path_buf(),
            detail,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        let file = dir.join(DB_FILE);
        let damaged = |detail: &str| StoreError::Damaged {
            path: dir.to_path_buf(),
            detail: detail.to_string(),
        };
        let cache = settings.cache_mb.max(1) << 20;
        let created = match std::fs::metadata(&file) {
            Ok(meta) if meta.len() == 0 => return Err(damaged("файл базы пуст (0 байт)")),
            Ok(_) => false,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if dir.join(IDENTITY_FILE).exists() {
                    return Err(damaged("файл базы пропал, хотя хранилище здесь было"));
                }
                true
            }
            Err(e) => return Err(open_err(e.to_string())),
        };
        let db = if created {
            redb::Builder::new()
                .set_cache_size(cache)
                .create(&file)
                .map_err(|e| open_err(e.to_string()))?
        } else {
            open_existing(dir, &file, cache)?
        };
        let log_file = dir.join(REDO_LOG_FILE);
        if created {
            // A log without its database belongs to no store.
            match std::fs::remove_file(&log_file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(open_err(e.to_string())),
                _ => {}
            }
        }
        prepare(&db, dir, created, settings)?;
        let replayed = redo::replay(&db, dir, &log_file)?;
        let log = redo_log::RedoLog::open(&log_file).map_err(|e| open_err(format!("{}: {e}", log_file.display())))?;
        let opener: engine::Opener = Box::new(move |path: &Path| {
            let dir = path.parent().unwrap_or(path).to_path_buf();
            let db = open_existing(&dir, path, cache)?;
            redo::replay(&db, &dir, &dir.join(REDO_LOG_FILE))?;
            Ok(db)
        });
        let engine = Engine::start(db, &file, opener, log)?;
        let journals = journal::Journals::open(&dir.join("journal")).map_err(|e| open_err(e.to_string()))?;
        if created {
            write_identity(dir).map_err(|e| open_err(e.to_string()))?;
        }
        let store = Store {
            inner: Arc::new(Inner {
                engine,
                dir: dir.to_path_buf(),
                journals,
                lane_versions: Default::default(),
                outbox_changed: watch::channel(0).0,
                print_queue_changed: watch::channel(0).0,
                catalog_generation: std::sync::atomic::AtomicU64::new(0),
                phone_country: RwLock::new(Country::default()),
                shift_floor: Default::default(),
                opened_in: started.elapsed(),
                replayed,
            }),
        };
        store.load_shift_floor()?;
        Ok(store)
    }

    /// Read client phones written without `+` by this country's conventions. Set before the
    /// first feed page is applied; the index keeps the reading it was built with.
    pub fn set_phone_country(&self, country: Country) {
        *self.inner.phone_country.write().unwrap_or_else(|e| e.into_inner()) = country;
    }

    /// The country a number without a country code is read in.
    pub fn phone_country(&self) -> Country {
        *self.inner.phone_country.read().unwrap_or_else(|e| e.into_inner())
    }

    /// How long opening the store took (verifying every page, repairing after a crash).
    pub fn opened_in(&self) -> std::time::Duration {
        self.inner.opened_in
    }

    /// How many redo records opening the store applied: batches acknowledged after the last
    /// checkpoint before the store was last closed — by a crash, if this is not zero.
    pub fn replayed_at_open(&self) -> usize {
        self.inner.replayed
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Whether the store can take writes right now; changes are signalled.
    pub fn health(&self) -> watch::Receiver<StoreHealth> {
        self.inner.engine.health()
    }

    /// Whether the one writer thread still runs (see `/healthz` and the systemd watchdog).
    pub fn writer_alive(&self) -> bool {
        self.inner.engine.writer_alive()
    }

    /// Wakes when documents are added to the outbox (after they are durable).
    pub fn watch_outbox(&self) -> watch::Receiver<u64> {
        self.inner.outbox_changed.subscribe()
    }

    /// Wakes when print jobs are queued (after they are durable).
    pub fn watch_print_queue(&self) -> watch::Receiver<u64> {
        self.inner.print_queue_changed.subscribe()
    }

    fn signal(sender: &watch::Sender<u64>) {
        sender.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Size of the database file in bytes.
    pub fn file_size(&self) -> u64 {
        std::fs::metadata(self.inner.dir.join(DB_FILE)).map(|m| m.len()).unwrap_or(0)
    }

    /// How the database file is used: what the data takes, what is free inside the file. It
    /// walks every page of every table on the writer thread (about as long as the checksum
    /// check at open), so it is for diagnosis, not for a status page polled every second.
    pub async fn usage(&self) -> Result<StoreUsage, StoreError> {
        let file = self.file_size();
        self.inner
            .engine
            .write(engine::Durability::Lazy, move |tx| {
                let stats = tx.stats()?;
                let page = stats.page_size() as u64;
                Ok(Ok::<_, StoreError>(StoreUsage {
                    file_bytes: file,
                    allocated_bytes: stats.allocated_pages() * page,
                    stored_bytes: stats.stored_bytes(),
                    fragmented_bytes: stats.fragmented_bytes(),
                }))
            })
            .await
    }

    /// Wait until every write queued so far is committed and durable. Writes are durable when
    /// they return already; this is for a caller that needs lazy commits (feed pages) synced.
    pub async fn sync(&self) -> Result<(), StoreError> {
        self.inner
            .engine
            .write(engine::Durability::Checkpoint, |_tx| Ok(Ok::<_, StoreError>(())))
            .await
    }

    /// Give the file's free space back to the disk, after a large sync or a retention pass
    /// left much of it empty. The store answers nothing while this runs (seconds for a large
    /// store), so it is for quiet moments: see [`Store::compaction_due`] and
    /// [`Store::activity`]. Returns whether anything was moved.
    pub async fn compact(&self) -> Result<bool, StoreError> {
        let before = self.file_size();
        let churn = self.churn()?;
        let compacted = self
            .inner
            .engine
            .alone(|db| {
                db.compact(redb::CompactionMode::Balanced)
                    .map_err(|e| StoreError::Storage(format!("сжатие хранилища не удалось: {e}")))
            })
            .await?;
        tracing::info!(before, after = self.file_size(), "store file compacted");
        // Rows changed while the compaction waited its turn still count toward the next one.
        // Lazy: a crash before the next checkpoint only makes the compaction due again.
        self.inner
            .engine
            .write(engine::Durability::Lazy, move |tx| {
                let mut meta = tx.open_table(META)?;
                let left = tables::meta_u64(&meta, meta_key::CHURN)?.saturating_sub(churn);
                meta.insert(meta_key::CHURN, left.to_be_bytes().as_slice())?;
                Ok(Ok::<_, StoreError>(()))
            })
            .await?;
        Ok(compacted)
    }

    /// Whether enough rows were changed in bulk since the last compaction to make one worth
    /// its pause.
    pub fn compaction_due(&self) -> Result<bool, StoreError> {
        Ok(self.churn()? >= COMPACT_AFTER_ROWS)
    }

    /// Rows changed in bulk since the last compaction, as [`count_churn`] counted them.
    fn churn(&self) -> Result<u64, StoreError> {
        Ok(self.meta_u64(meta_key::CHURN)?.unwrap_or(0))
    }

    /// A counter that moves with every write a person causes — a receipt edit, a sale, a
    /// warehouse operation, a call record — and with the power-loss writes that follow them
    /// (the outbox's delivery marks). Feed pages, pruning and checkpoints do not move it, so
    /// while it stands still nobody is using the shop.
    pub fn activity(&self) -> u64 {
        self.inner.engine.activity()
    }

    /// Close the store: finish queued writes, sync, release the file. Further use fails.
    pub fn close(&self) {
        self.inner.engine.close();
    }

    fn read(&self) -> Result<redb::ReadTransaction, StoreError> {
        self.inner.engine.read()
    }

    fn meta_u64(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let tx = self.read()?;
        let meta = tx.open_table(META)?;
        Ok(meta.get(key)?.map(|v| read_u64(v.value())))
    }

    /// Entries in a table, from redb's own count (no scan).
    fn table_len<K: redb::Key + 'static, V: redb::Value + 'static>(&self, table: redb::TableDefinition<K, V>) -> Result<u64, StoreError> {
        Ok(self.read()?.open_table(table)?.len()?)
    }
}

/// Before the writer starts: check the layout of an existing store (refusing one this build
/// does not know), stamp a new one, and make sure every table exists so readers never meet a
/// missing one.
fn prepare(db: &redb::Database, dir: &Path, created: bool, settings: &StoreSettings) -> Result<(), StoreError> {
    let path = dir.to_path_buf();
    let found = {
        let tx = db.begin_read().map_err(StoreError::from_engine)?;
        match tx.open_table(META) {
            Ok(meta) => meta
                .get(meta_key::SCHEMA)
                .map_err(StoreError::from_engine)?
                .map(|v| read_u64(v.value())),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(StoreError::from_engine(e)),
        }
    };
    match found {
        None if !created => {
            return Err(StoreError::Damaged {
                path,
                detail: "в базе нет отметки формата (служебная таблица пуста)".into(),
            });
        }
        Some(found) if found > SCHEMA_VERSION => {
            return Err(StoreError::NewerSchema {
                path,
                found,
                known: SCHEMA_VERSION,
            });
        }
        Some(found) if found < SCHEMA_VERSION => return Err(StoreError::OlderSchema { path, found }),
        _ => {}
    }
    let tx = db.begin_write().map_err(StoreError::from_engine)?;
    tables::ensure_all(&redo::Txn::unrecorded(&tx))?;
    if found.is_none() {
        let mut meta = tx.open_table(META)?;
        meta.insert(meta_key::SCHEMA, SCHEMA_VERSION.to_be_bytes().as_slice())?;
        meta.insert(meta_key::STORE_ID, uuid::Uuid::new_v4().to_string().as_bytes())?;
        if settings.numbered_by_crm {
            meta.insert(meta_key::SEQ_BASE_PENDING, [1u8].as_slice())?;
        }
    }
    tx.commit().map_err(StoreError::from_engine)
}

/// Open an existing database file with every page checksum verified. redb reports a file
/// altered outside it as corrupted in this mode, where a plain open may panic; a panic is
/// caught all the same, because a damaged till must say so, not crash-loop.
fn open_existing(dir: &Path, file: &Path, cache: usize) -> Result<redb::Database, StoreError> {
    let damaged = |detail: String| StoreError::Damaged {
        path: dir.to_path_buf(),
        detail,
    };
    let opened = std::panic::catch_unwind(|| {
        redb::Builder::new()
            .set_cache_size(cache)
            .set_check_integrity_on_open(true)
            .open(file)
    });
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(redb::DatabaseError::DatabaseAlreadyOpen)) => Err(StoreError::Locked { path: dir.to_path_buf() }),
        Ok(Err(redb::DatabaseError::Storage(redb::StorageError::Io(e)))) if !is_disk_full(&e) => Err(StoreError::Open {
            path: dir.to_path_buf(),
            detail: e.to_string(),
        }),
        Ok(Err(redb::DatabaseError::Storage(redb::StorageError::Io(_)))) => Err(StoreError::DiskFull),
        Ok(Err(e)) => Err(damaged(format!("проверка контрольных сумм не прошла ({e})"))),
        Err(_) => Err(damaged("движок базы не смог прочитать файл".into())),
    }
}

/// Record that a store lives in `dir`, durably (file and directory entry).
fn write_identity(dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let path = dir.join(IDENTITY_FILE);
    let mut file = std::fs::File::create(&path)?;
    writeln!(
        file,
        "storeterm store, schema {SCHEMA_VERSION}, created {}\nThe database is {DB_FILE}; do not delete it without a backup.",
        jiff::Timestamp::now()
    )?;
    file.sync_all()?;
    std::fs::File::open(dir)?.sync_all()
}

fn read_u64(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

/// Serialise a value with its format version byte.
fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![FORMAT_V1];
    // Writing our own derive(Serialize) types to a Vec cannot fail.
    serde_json::to_writer(&mut out, value).expect("serialising a storeterm record");
    out
}

/// Read a value written by [`encode`].
fn decode<T: DeserializeOwned>(table: &'static str, key: impl std::fmt::Display, bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        table,
        key: key.to_string(),
        reason,
    };
    match bytes.split_first() {
        Some((&FORMAT_V1, json)) => serde_json::from_slice(json).map_err(|e| corrupt(e.to_string())),
        Some((version, _)) => Err(corrupt(format!("unknown format version {version}"))),
        None => Err(corrupt("empty value".into())),
    }
}

/// redb's errors inside a write job become storage failures of the batch.
impl From<redb::StorageError> for StoreError {
    fn from(e: redb::StorageError) -> Self {
        StoreError::from_engine(e)
    }
}

impl From<redb::TableError> for StoreError {
    fn from(e: redb::TableError) -> Self {
        StoreError::from_engine(e)
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::Store;

    /// A store in a fresh temporary directory, removed when the guard drops.
    pub fn temp_store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open store");
        (store, dir)
    }
}
