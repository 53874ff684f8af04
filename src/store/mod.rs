//! The embedded store: every durable fact storeterm keeps, in sled trees.
//!
//! Rules every function here follows:
//! - A state change and the outbox documents it produces are written in **one** transaction.
//! - Nothing is acknowledged before [`Store::flush`] returned: sled writes are in memory until
//!   flushed, and a `kill -9` loses whatever was not.
//! - Values start with a format version byte followed by JSON, so a future layout can be
//!   migrated on start and a human can still read a dump.
//! - Keys are ordered: big-endian integers and time-ordered UUIDv7 bytes, so range scans walk
//!   the outbox by sequence number and journals by time.
//!
//! sled is used nowhere else in the crate; the engine stays this module's business.

mod catalog;
mod clients;
mod lanes;
mod outbox;
mod print_jobs;
mod wms;

pub use catalog::{FeedApplied, ItemLookup};
pub use clients::PhoneMatch;
pub use lanes::LaneCommit;
pub use outbox::Parked;
pub use wms::{CellView, Op, OpAnswer, OpTx, TxResult, WmsAbort, refuse};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::path::{Path, PathBuf};
use tokio::sync::watch;

/// Version byte written in front of every value.
const FORMAT_V1: u8 = 1;

/// Layout version of the whole store; bumped when trees or keys change meaning.
const SCHEMA_VERSION: u64 = 1;

/// Keys of the `meta` tree.
mod meta_key {
    pub const SCHEMA: &[u8] = b"schema";
    pub const FEED_CURSOR: &[u8] = b"feed_cursor";
    pub const OUTBOX_SEQ: &[u8] = b"outbox_seq";
    pub const DELIVERED_SEQ: &[u8] = b"delivered_seq";
}

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source}")]
    Open { path: PathBuf, source: sled::Error },
    #[error(
        "the store at {path} was written by a newer storeterm (layout {found}, this build knows {known}); upgrade storeterm or restore a backup"
    )]
    NewerSchema { path: PathBuf, found: u64, known: u64 },
    #[error("storage failure: {0}")]
    Engine(#[from] sled::Error),
    #[error("stored record {tree}/{key} is unreadable: {reason}")]
    Corrupt { tree: &'static str, key: String, reason: String },
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Engine(e),
        }
    }
}

/// Abort a transaction with a store error.
fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

/// The open store. Cheap to clone; all clones share one database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
    trees: Trees,
    outbox_changed: watch::Sender<u64>,
    print_queue_changed: watch::Sender<u64>,
    /// How the phone index reads numbers written without `+` (`[calls] default_country`).
    phone_country: crate::domain::phone::Country,
}

#[derive(Clone)]
struct Trees {
    meta: sled::Tree,
    items: sled::Tree,
    barcodes: sled::Tree,
    plus: sled::Tree,
    lanes: sled::Tree,
    receipts: sled::Tree,
    shifts: sled::Tree,
    outbox: sled::Tree,
    parked: sled::Tree,
    print_jobs: sled::Tree,
    print_queue: sled::Tree,
    clients: sled::Tree,
    phones: sled::Tree,
    wms: wms::WmsTrees,
}

impl Store {
    /// Open (or create) the store in a directory.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let db = open_db(path).map_err(open_err)?;
        let tree = |name: &str| db.open_tree(name).map_err(open_err);
        let trees = Trees {
            meta: tree("meta")?,
            items: tree("items")?,
            barcodes: tree("barcodes")?,
            plus: tree("plus")?,
            lanes: tree("lanes")?,
            receipts: tree("receipts")?,
            shifts: tree("shifts")?,
            outbox: tree("outbox")?,
            parked: tree("outbox_parked")?,
            print_jobs: tree("print_jobs")?,
            print_queue: tree("print_queue")?,
            clients: tree("clients")?,
            phones: tree("phones")?,
            wms: wms::WmsTrees::open(&db).map_err(open_err)?,
        };
        let store = Store {
            db,
            path: path.to_path_buf(),
            trees,
            outbox_changed: watch::channel(0).0,
            print_queue_changed: watch::channel(0).0,
            phone_country: Default::default(),
        };
        store.check_schema()?;
        Ok(store)
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        match self.trees.meta.get(meta_key::SCHEMA)? {
            None => {
                self.trees.meta.insert(meta_key::SCHEMA, &SCHEMA_VERSION.to_be_bytes())?;
                self.db.flush()?;
                Ok(())
            }
            Some(bytes) => {
                let found = read_u64(&bytes);
                if found > SCHEMA_VERSION {
                    return Err(StoreError::NewerSchema {
                        path: self.path.clone(),
                        found,
                        known: SCHEMA_VERSION,
                    });
                }
                Ok(())
            }
        }
    }

    /// Make every write so far durable. Call before telling anyone "done", and before any
    /// outside effect (a CRM request, a print) that depends on something just written.
    ///
    /// sled 0.34's `flush_async` deadlocks under concurrent load (spacejam/sled#1308, fixed
    /// only on its unreleased main branch): the flushing futures occupy sled's I/O pool while
    /// they wait for buffer writes that need that same pool, and every transaction then waits
    /// on them. Seen here as hung tests and a hung 40-handheld benchmark. The blocking
    /// `flush`, run on tokio's blocking pool, waits outside sled's pool and does not deadlock.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || db.flush()).await {
            Ok(flushed) => {
                flushed?;
                Ok(())
            }
            Err(e) => Err(StoreError::Engine(sled::Error::ReportableBug(format!(
                "the flush task failed: {e}"
            )))),
        }
    }

    /// Read client phones written without `+` by this country's conventions. Set before the
    /// first feed page is applied; the index keeps the reading it was built with.
    pub fn set_phone_country(&mut self, country: crate::domain::phone::Country) {
        self.phone_country = country;
    }

    /// Wakes when documents are added to the outbox (after they are flushed).
    pub fn watch_outbox(&self) -> watch::Receiver<u64> {
        self.outbox_changed.subscribe()
    }

    /// Wakes when print jobs are queued (after they are flushed).
    pub fn watch_print_queue(&self) -> watch::Receiver<u64> {
        self.print_queue_changed.subscribe()
    }

    fn signal(sender: &watch::Sender<u64>) {
        sender.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Open sled's database, waiting briefly for its file lock. A store that was just closed in
/// this process (a restart inside one test, an in-process reload) keeps the lock until sled's
/// background flusher lets go of it, some milliseconds later; another live process holding it
/// is still refused after the wait. sled reports a held lock only as an `io::Error` of kind
/// `Other` with this text, so the text is what is matched.
fn open_db(path: &Path) -> Result<sled::Db, sled::Error> {
    let config = sled::Config::new()
        .path(path)
        // sled's own background flush is a safety net; correctness relies on explicit
        // flushes before every acknowledgement.
        .flush_every_ms(Some(500));
    let mut attempts = 0;
    loop {
        match config.open() {
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") && attempts < 40 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
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
fn decode<T: DeserializeOwned>(tree: &'static str, key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        tree,
        key: String::from_utf8_lossy(key).into_owned(),
        reason,
    };
    match bytes.split_first() {
        Some((&FORMAT_V1, json)) => serde_json::from_slice(json).map_err(|e| corrupt(e.to_string())),
        Some((version, _)) => Err(corrupt(format!("unknown format version {version}"))),
        None => Err(corrupt("empty value".into())),
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
