//! Online backups: a consistent snapshot of every table from **one** read transaction (redb's
//! MVCC keeps that view fixed while the writer goes on committing sales), streamed into a
//! compressed file; its verification; and its restore into an empty store directory.
//!
//! The file (`*.stbak`):
//!
//! ```text
//! "STERMBAK"            8 bytes, magic
//! format                u16 BE (1)
//! header length         u32 BE
//! header                JSON (BackupHeader): schema, store id, time, counters, storeterm version
//! zlib stream           the body:
//!   per table:  'T' name-len:u8 name  { 'E' key-len:u32 key value-len:u32 value }  'Z' count:u64
//!   end:        'X' tables:u32 sha256:32
//! ```
//!
//! Keys and values are redb's own encodings of each table's types, so a backup restores only
//! into the same store schema (the header says which). The SHA-256 at the end covers the header
//! and every body byte before it: a truncated, altered or half-written file is refused, by
//! `verify` and before `restore` writes anything. zlib comes from `flate2` over `zlib-rs`
//! (pure Rust, already built for 1C's zip uploads).
//!
//! Not in a backup: the lane journal (edits of receipts still open when it was taken; the
//! restored till shows each lane as it was at its last durable commit) and the `STORE` identity
//! file (written anew).
//!
//! After a restore the store is marked restored ([`Store::mark_restored`]): it numbers no
//! document until the CRM says which `seq` it holds last, drops what the CRM already has and
//! continues after it — so documents delivered after the backup are never sent twice.

use super::tables::{self, META, meta_key};
use super::{SCHEMA_VERSION, Store, StoreError, StoreSettings};
use redb::{ReadTransaction, ReadableTable, TableDefinition, TableHandle, WriteTransaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"STERMBAK";
const FORMAT: u16 = 1;
/// A header is a few hundred bytes; anything larger is not ours.
const MAX_HEADER: u32 = 64 * 1024;
/// redb keeps values below 3 GiB; a length above this is damage, not data.
const MAX_RECORD: u32 = 1 << 30;

/// What a backup file says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupHeader {
    pub schema: u64,
    pub store_id: String,
    pub created_at: jiff::Timestamp,
    /// The last `seq` given to a document when the snapshot was taken.
    pub outbox_seq: u64,
    /// The highest `seq` the CRM had confirmed then.
    pub delivered_seq: u64,
    pub storeterm: String,
}

/// What a backup holds, once written, verified or restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupSummary {
    pub header: BackupHeader,
    pub tables: u32,
    pub entries: u64,
}

/// Why a backup could not be written, read or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("ошибка ввода-вывода при записи копии: {0}")]
    Write(std::io::Error),
    #[error("это не резервная копия storeterm (нет подписи STERMBAK в начале файла)")]
    NotABackup,
    #[error("формат копии {0} не знаком этой версии storeterm (знает {FORMAT}); обновите storeterm")]
    UnknownFormat(u16),
    #[error(
        "копия снята с хранилища формата {found}, эта версия storeterm знает формат {known}: восстановите её той версией storeterm, которой она снята"
    )]
    Schema { found: u64, known: u64 },
    #[error("копия повреждена или обрезана: {0}; возьмите другую копию")]
    Damaged(String),
    #[error("контрольная сумма копии не сходится: файл изменён или записан не до конца; возьмите другую копию")]
    Checksum,
    #[error("в копии таблица «{0}», которой эта версия storeterm не знает")]
    UnknownTable(String),
    #[error(
        "каталог хранилища {0} не пуст: восстановление пишет только в пустой каталог (переименуйте старый, например в .broken, и повторите)"
    )]
    NotEmpty(PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<redb::StorageError> for BackupError {
    fn from(e: redb::StorageError) -> Self {
        BackupError::Store(e.into())
    }
}

impl From<redb::TableError> for BackupError {
    fn from(e: redb::TableError) -> Self {
        BackupError::Store(e.into())
    }
}

/// A key and a value, in redb's encoding of their table's types.
type Entry = (Vec<u8>, Vec<u8>);

/// One table, dumped and loaded through its own key and value types.
trait TableIo: Sync {
    fn name(&self) -> &str;
    /// Write every entry; returns how many.
    fn dump(&self, tx: &ReadTransaction, out: &mut BodyWriter<'_>) -> Result<u64, BackupError>;
    /// Insert the entries `next` yields until it says the table ended; returns how many.
    fn load(&self, tx: &WriteTransaction, next: &mut dyn FnMut() -> Result<Option<Entry>, BackupError>) -> Result<u64, BackupError>;
    /// Every entry, for tests that compare two stores.
    #[cfg(test)]
    fn entries(&self, tx: &ReadTransaction) -> Result<Vec<Entry>, BackupError>;
    /// Put (`Some`) or remove (`None`) one row given in redb's encoding: a redo record's entry.
    fn redo(&self, tx: &WriteTransaction, key: &[u8], value: Option<&[u8]>) -> Result<(), redb::Error>;
}

struct Table<K: redb::Key + 'static, V: redb::Value + 'static>(TableDefinition<'static, K, V>);

impl<K, V> TableIo for Table<K, V>
where
    K: redb::Key + 'static + Sync,
    V: redb::Value + 'static + Sync,
{
    fn name(&self) -> &str {
        self.0.name()
    }

    fn dump(&self, tx: &ReadTransaction, out: &mut BodyWriter<'_>) -> Result<u64, BackupError> {
        let table = tx.open_table(self.0)?;
        let mut n = 0;
        for entry in table.iter()? {
            let (k, v) = entry?;
            let (k, v) = (k.value(), v.value());
            out.entry(K::as_bytes(&k).as_ref(), V::as_bytes(&v).as_ref())?;
            n += 1;
        }
        Ok(n)
    }

    fn load(&self, tx: &WriteTransaction, next: &mut dyn FnMut() -> Result<Option<Entry>, BackupError>) -> Result<u64, BackupError> {
        let mut table = tx.open_table(self.0)?;
        let mut n = 0;
        while let Some((k, v)) = next()? {
            table.insert(K::from_bytes(&k), V::from_bytes(&v))?;
            n += 1;
        }
        Ok(n)
    }

    #[cfg(test)]
    fn entries(&self, tx: &ReadTransaction) -> Result<Vec<Entry>, BackupError> {
        let table = tx.open_table(self.0)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            let (k, v) = (k.value(), v.value());
            out.push((K::as_bytes(&k).as_ref().to_vec(), V::as_bytes(&v).as_ref().to_vec()));
        }
        Ok(out)
    }

    fn redo(&self, tx: &WriteTransaction, key: &[u8], value: Option<&[u8]>) -> Result<(), redb::Error> {
        let mut table = tx.open_table(self.0)?;
        match value {
            Some(value) => drop(table.insert(K::from_bytes(key), V::from_bytes(value))?),
            None => drop(table.remove(K::from_bytes(key))?),
        }
        Ok(())
    }
}

/// Every table of the store (a test checks none is missing).
static TABLES: &[&dyn TableIo] = &[
    &Table(tables::META),
    &Table(tables::ITEMS),
    &Table(tables::BARCODES),
    &Table(tables::PLUS),
    &Table(tables::LANES),
    &Table(tables::RECEIPTS),
    &Table(tables::SHIFTS),
    &Table(tables::OUTBOX),
    &Table(tables::PARKED),
    &Table(tables::DROPPED),
    &Table(tables::PRINT_JOBS),
    &Table(tables::PRINT_QUEUE),
    &Table(tables::CLIENTS),
    &Table(tables::PHONES),
    &Table(tables::CELLS),
    &Table(tables::CELL_CODES),
    &Table(tables::CELL_LOTS),
    &Table(tables::CELL_LOCAL),
    &Table(tables::ITEM_CELLS),
    &Table(tables::EMPTY_CELLS),
    &Table(tables::ITEM_STORAGE),
    &Table(tables::WMS_LOG),
    &Table(tables::WMS_OPS),
    &Table(tables::WMS_OPS_BY_TIME),
    &Table(tables::PICK_ORDERS),
    &Table(tables::EXPECTED),
    &Table(tables::PROMOTIONS),
    &Table(tables::ITEM_GROUPS),
    &Table(tables::CLIENT_ACCOUNTS),
    &Table(tables::CATALOG_GROUPS),
    &Table(tables::ITEM_STOCK),
    &Table(tables::ONEC_SENT),
    &Table(tables::ONEC_HANDED),
    &Table(tables::ONEC_STATE),
    &Table(tables::CLIENT_LEDGERS),
    &Table(tables::RETURNS),
    &Table(tables::RETURNS_BY_SALE),
    &Table(tables::LOYALTY_CARDS),
];

/// Every table's entries, in table order: for tests that compare two stores row for row.
#[cfg(test)]
pub(crate) fn contents(store: &Store) -> Vec<(String, Vec<Entry>)> {
    let tx = store.read().expect("read transaction");
    TABLES
        .iter()
        .map(|t| (t.name().to_string(), t.entries(&tx).expect("table entries")))
        .collect()
}

/// Put or remove one row of the table named `table`, given in redb's encoding: an entry of a
/// redo record being replayed.
pub(super) fn redo_entry(tx: &WriteTransaction, table_name: &str, key: &[u8], value: Option<&[u8]>) -> Result<(), String> {
    let table = table(table_name).ok_or_else(|| format!("unknown table {table_name}"))?;
    table.redo(tx, key, value).map_err(|e| e.to_string())
}

fn table(name: &str) -> Option<&'static dyn TableIo> {
    TABLES.iter().copied().find(|t| t.name() == name)
}

/// The compressed body, hashed as it is written.
struct BodyWriter<'a> {
    zlib: flate2::write::ZlibEncoder<&'a mut dyn Write>,
    hash: Sha256,
}

impl BodyWriter<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), BackupError> {
        self.hash.update(bytes);
        self.zlib.write_all(bytes).map_err(BackupError::Write)
    }

    fn entry(&mut self, key: &[u8], value: &[u8]) -> Result<(), BackupError> {
        self.put(b"E")?;
        self.put(&len32(key)?.to_be_bytes())?;
        self.put(key)?;
        self.put(&len32(value)?.to_be_bytes())?;
        self.put(value)
    }
}

fn len32(bytes: &[u8]) -> Result<u32, BackupError> {
    u32::try_from(bytes.len())
        .ok()
        .filter(|n| *n <= MAX_RECORD)
        .ok_or_else(|| BackupError::Damaged("запись в хранилище больше 1 ГиБ".into()))
}

impl Store {
    /// Write a consistent snapshot of the whole store to `out`. Blocking (reads every table):
    /// call it from a blocking thread. Writers go on meanwhile; the snapshot is the state of
    /// the last commit before it began.
    pub fn backup_to(&self, out: &mut dyn Write) -> Result<BackupSummary, BackupError> {
        let tx = self.read()?;
        let header = {
            let meta = tx.open_table(META)?;
            let text = |key: &str| -> Result<String, BackupError> {
                Ok(meta
                    .get(key)?
                    .map(|v| String::from_utf8_lossy(v.value()).into_owned())
                    .unwrap_or_default())
            };
            BackupHeader {
                schema: tables::meta_u64(&meta, meta_key::SCHEMA)?,
                store_id: text(meta_key::STORE_ID)?,
                created_at: jiff::Timestamp::now(),
                outbox_seq: tables::meta_u64(&meta, meta_key::OUTBOX_SEQ)?,
                delivered_seq: tables::meta_u64(&meta, meta_key::DELIVERED_SEQ)?,
                storeterm: env!("CARGO_PKG_VERSION").to_string(),
            }
        };
        let header_json = serde_json::to_vec(&header).map_err(|e| BackupError::Write(e.into()))?;
        let mut hash = Sha256::new();
        let mut prefix = Vec::with_capacity(14 + header_json.len());
        prefix.extend_from_slice(MAGIC);
        prefix.extend_from_slice(&FORMAT.to_be_bytes());
        prefix.extend_from_slice(&(header_json.len() as u32).to_be_bytes());
        prefix.extend_from_slice(&header_json);
        hash.update(&prefix);
        out.write_all(&prefix).map_err(BackupError::Write)?;
        let mut body = BodyWriter {
            zlib: flate2::write::ZlibEncoder::new(out, flate2::Compression::fast()),
            hash,
        };
        let mut entries = 0;
        for t in TABLES {
            let name = t.name().as_bytes();
            body.put(b"T")?;
            body.put(&[name.len() as u8])?;
            body.put(name)?;
            let n = t.dump(&tx, &mut body)?;
            body.put(b"Z")?;
            body.put(&n.to_be_bytes())?;
            entries += n;
        }
        body.put(b"X")?;
        body.put(&(TABLES.len() as u32).to_be_bytes())?;
        let digest = body.hash.clone().finalize();
        body.zlib.write_all(&digest).map_err(BackupError::Write)?;
        let out = body.zlib.finish().map_err(BackupError::Write)?;
        out.flush().map_err(BackupError::Write)?;
        Ok(BackupSummary {
            header,
            tables: TABLES.len() as u32,
            entries,
        })
    }

    /// Write a snapshot to `path` durably: a temporary file beside it, synced, then renamed,
    /// so a crash or a full disk never leaves a half file under the final name.
    pub fn backup_to_file(&self, path: &Path) -> Result<BackupSummary, BackupError> {
        write_file_atomically(path, |file| self.backup_to(file))
    }
}

/// Write `path` through `fill` via a synced temporary file and a rename.
pub fn write_file_atomically<T>(path: &Path, fill: impl FnOnce(&mut dyn Write) -> Result<T, BackupError>) -> Result<T, BackupError> {
    let io = |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("partial");
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(io)?;
        let mut buffered = std::io::BufWriter::with_capacity(1 << 16, file);
        let value = fill(&mut buffered)?;
        let file = buffered.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(value)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Reads a backup's body, hashing what it consumes.
struct BodyReader<R: BufRead> {
    zlib: flate2::bufread::ZlibDecoder<R>,
    hash: Sha256,
}

fn damaged(e: std::io::Error) -> BackupError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => BackupError::Damaged("файл кончается раньше, чем копия".into()),
        _ => BackupError::Damaged(e.to_string()),
    }
}

impl<R: BufRead> BodyReader<R> {
    fn take(&mut self, n: usize) -> Result<Vec<u8>, BackupError> {
        let mut buf = vec![0; n];
        self.zlib.read_exact(&mut buf).map_err(damaged)?;
        self.hash.update(&buf);
        Ok(buf)
    }

    fn byte(&mut self) -> Result<u8, BackupError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, BackupError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, BackupError> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
    }

    fn record(&mut self) -> Result<Vec<u8>, BackupError> {
        let n = self.u32()?;
        if n > MAX_RECORD {
            return Err(BackupError::Damaged(format!("длина записи {n} байт невозможна")));
        }
        self.take(n as usize)
    }

    /// The next entry of the current table, or `None` at its end (checking the count).
    fn entry(&mut self, seen: &mut u64) -> Result<Option<Entry>, BackupError> {
        match self.byte()? {
            b'E' => {
                let key = self.record()?;
                let value = self.record()?;
                *seen += 1;
                Ok(Some((key, value)))
            }
            b'Z' => {
                let count = self.u64()?;
                if count != *seen {
                    return Err(BackupError::Damaged(format!("в таблице {seen} записей, а заявлено {count}")));
                }
                Ok(None)
            }
            other => Err(BackupError::Damaged(format!("неожиданный байт 0x{other:02x} в теле копии"))),
        }
    }
}

/// Read a backup from `input`: the header first, then each table through `table_fn` (which
/// must consume the table's entries through the callback it is given), then the checksum.
fn read_backup<R: Read>(
    input: R,
    mut on_table: impl FnMut(&'static dyn TableIo, &mut dyn FnMut() -> Result<Option<Entry>, BackupError>) -> Result<u64, BackupError>,
) -> Result<BackupSummary, BackupError> {
    let mut input = BufReader::with_capacity(1 << 16, input);
    let mut magic = [0u8; 8];
    input.read_exact(&mut magic).map_err(|_| BackupError::NotABackup)?;
    if &magic != MAGIC {
        return Err(BackupError::NotABackup);
    }
    let mut fixed = [0u8; 6];
    input.read_exact(&mut fixed).map_err(damaged)?;
    let format = u16::from_be_bytes([fixed[0], fixed[1]]);
    if format != FORMAT {
        return Err(BackupError::UnknownFormat(format));
    }
    let header_len = u32::from_be_bytes([fixed[2], fixed[3], fixed[4], fixed[5]]);
    if header_len > MAX_HEADER {
        return Err(BackupError::Damaged(format!("заголовок в {header_len} байт")));
    }
    let mut header_json = vec![0u8; header_len as usize];
    input.read_exact(&mut header_json).map_err(damaged)?;
    let header: BackupHeader =
        serde_json::from_slice(&header_json).map_err(|e| BackupError::Damaged(format!("заголовок не читается: {e}")))?;
    if header.schema != SCHEMA_VERSION {
        return Err(BackupError::Schema {
            found: header.schema,
            known: SCHEMA_VERSION,
        });
    }
    let mut hash = Sha256::new();
    hash.update(MAGIC);
    hash.update(fixed);
    hash.update(&header_json);
    let mut body = BodyReader {
        zlib: flate2::bufread::ZlibDecoder::new(input),
        hash,
    };
    let mut tables = 0u32;
    let mut entries = 0u64;
    loop {
        match body.byte()? {
            b'T' => {
                let len = body.byte()? as usize;
                let name = String::from_utf8_lossy(&body.take(len)?).into_owned();
                let t = table(&name).ok_or(BackupError::UnknownTable(name))?;
                let mut seen = 0u64;
                let mut next = || body.entry(&mut seen);
                let n = on_table(t, &mut next)?;
                // A consumer may stop early only by failing; make sure the table was read out.
                if n != seen {
                    return Err(BackupError::Damaged(format!("таблица {} прочитана не до конца", t.name())));
                }
                tables += 1;
                entries += n;
            }
            b'X' => {
                let count = body.u32()?;
                if count != tables {
                    return Err(BackupError::Damaged(format!("таблиц {tables}, а заявлено {count}")));
                }
                break;
            }
            other => return Err(BackupError::Damaged(format!("неожиданный байт 0x{other:02x} в теле копии"))),
        }
    }
    let expected = body.hash.clone().finalize();
    let mut digest = [0u8; 32];
    body.zlib.read_exact(&mut digest).map_err(damaged)?;
    if digest[..] != expected[..] {
        return Err(BackupError::Checksum);
    }
    let mut rest = [0u8; 1];
    if body.zlib.read(&mut rest).map_err(damaged)? != 0 {
        return Err(BackupError::Damaged("после контрольной суммы есть ещё данные".into()));
    }
    let mut input = body.zlib.into_inner();
    if !input.fill_buf().map_err(damaged)?.is_empty() {
        return Err(BackupError::Damaged("после конца копии в файле есть ещё данные".into()));
    }
    Ok(BackupSummary { header, tables, entries })
}

/// Read a whole backup and check its structure and checksum, writing nothing.
pub fn verify(input: impl Read) -> Result<BackupSummary, BackupError> {
    read_backup(input, |_, next| {
        let mut n = 0;
        while next()?.is_some() {
            n += 1;
        }
        Ok(n)
    })
}

/// Verify the backup file at `path`.
pub fn verify_file(path: &Path) -> Result<BackupSummary, BackupError> {
    let file = std::fs::File::open(path).map_err(|source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    verify(file)
}

/// A store directory restore may write into: missing, or empty.
fn check_empty(dir: &Path) -> Result<(), BackupError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupError::NotEmpty(dir.to_path_buf()));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(BackupError::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Restore the backup at `from` into the empty store directory `dir`: verify it whole first,
/// then write every table in one durable transaction, then — when a CRM numbers this site's
/// documents (`settings.numbered_by_crm`) — mark the store restored (see the module doc). The store is closed again when this returns.
pub async fn restore(dir: &Path, settings: &StoreSettings, from: &Path) -> Result<BackupSummary, BackupError> {
    check_empty(dir)?;
    let checked = {
        let from = from.to_path_buf();
        tokio::task::spawn_blocking(move || verify_file(&from))
            .await
            .map_err(|e| BackupError::Damaged(e.to_string()))??
    };
    let store = Store::open_with(dir, settings)?;
    let from = from.to_path_buf();
    let loaded = store
        .inner
        .engine
        .write(super::engine::Durability::Checkpoint, move |tx| {
            // The new store's own marks (its id, a pending number base) give way to the copy's:
            // the restored store is the copy, then marked restored below.
            tx.open_table(META)?.retain(|_, _| false)?;
            let file = std::fs::File::open(&from).map_err(|e| StoreError::Storage(format!("{}: {e}", from.display())))?;
            let bulk = tx.bulk()?;
            // A failure here returns the outer error, which rolls the whole restore back.
            let summary = read_backup(file, |t, next| t.load(bulk, next)).map_err(|e| StoreError::Storage(e.to_string()))?;
            Ok(Ok::<_, StoreError>(summary))
        })
        .await;
    let result = match loaded {
        // Without a CRM nobody holds numbers this store does not know: it goes on from its own.
        Ok(summary) if summary == checked && !settings.numbered_by_crm => Ok(summary),
        Ok(summary) if summary == checked => store.mark_restored().await.map(|()| summary).map_err(BackupError::from),
        Ok(_) => Err(BackupError::Damaged("файл копии изменился во время восстановления".into())),
        Err(e) => Err(e.into()),
    };
    store.close();
    if result.is_err() {
        // Leave the directory as empty as it was, so the admin can simply try again.
        clear_dir(dir);
    }
    result
}

/// Remove everything inside `dir` (not `dir` itself: it may be a mount point).
fn clear_dir(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let _ = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::document::{DocumentKind, NewDocument};
    use redb::ReadableDatabase;

    fn doc(n: u128) -> NewDocument {
        NewDocument::new(
            uuid::Uuid::from_u128(n),
            DocumentKind::Lead,
            jiff::Timestamp::UNIX_EPOCH,
            serde_json::json!({"n": n as u64}),
        )
    }

    #[test]
    fn every_table_of_the_store_is_in_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.close();
        let db = redb::Database::open(dir.path().join(super::super::DB_FILE)).unwrap();
        let tx = db.begin_read().unwrap();
        let mut names: Vec<String> = tx.list_tables().unwrap().map(|t| t.name().to_string()).collect();
        names.sort();
        let mut ours: Vec<String> = TABLES.iter().map(|t| t.name().to_string()).collect();
        ours.sort();
        assert_eq!(names, ours);
    }

    #[tokio::test]
    async fn a_backup_restores_to_an_equal_store_marked_restored() {
        let src = tempfile::tempdir().unwrap();
        let store = Store::open(src.path()).unwrap();
        store.append_documents(&[doc(1), doc(2), doc(3)]).await.unwrap();
        let mut bytes = Vec::new();
        let written = store.backup_to(&mut bytes).unwrap();
        assert_eq!(written.header.outbox_seq, 3);
        // Written after the snapshot: not in it.
        store.append_documents(&[doc(4)]).await.unwrap();
        let checked = verify(bytes.as_slice()).unwrap();
        assert_eq!(checked, written);

        let file = src.path().join("b.stbak");
        std::fs::write(&file, &bytes).unwrap();
        let dst = tempfile::tempdir().unwrap();
        let target = dst.path().join("store");
        let settings = StoreSettings {
            numbered_by_crm: true,
            ..StoreSettings::default()
        };
        let restored = restore(&target, &settings, &file).await.unwrap();
        assert_eq!(restored, written);
        let back = Store::open(&target).unwrap();
        assert!(back.seq_base_pending().unwrap());
        let pending: Vec<u64> = back.outbox_pending(10).unwrap().iter().map(|d| d.seq).collect();
        assert_eq!(pending, vec![1, 2, 3]);
        // Refuses to write over a store.
        back.close();
        // A copy that is damaged half-way is refused before anything is written, and a
        // restore that fails leaves the directory empty for the next try.
        let cut = src.path().join("cut.stbak");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let fresh = dst.path().join("fresh");
        assert!(restore(&fresh, &settings, &cut).await.is_err());
        assert!(!fresh.exists() || std::fs::read_dir(&fresh).unwrap().next().is_none());
        assert!(matches!(
            restore(&target, &StoreSettings::default(), &file).await,
            Err(BackupError::NotEmpty(_))
        ));
    }

    #[tokio::test]
    async fn damage_anywhere_is_refused() {
        let (store, _dir) = crate::store::test_support::temp_store();
        store.append_documents(&[doc(1), doc(2)]).await.unwrap();
        let mut bytes = Vec::new();
        store.backup_to(&mut bytes).unwrap();
        assert!(matches!(verify(&b"hello world, not a backup"[..]), Err(BackupError::NotABackup)));
        for cut in [10, bytes.len() / 2, bytes.len() - 1] {
            assert!(verify(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(verify(longer.as_slice()).is_err());
        // A flipped byte in the header (the store id) breaks the checksum.
        let mut flipped = bytes.clone();
        let at = flipped.windows(8).position(|w| w == b"store_id").unwrap() + 12;
        flipped[at] ^= 0x01;
        assert!(
            matches!(verify(flipped.as_slice()), Err(BackupError::Checksum)),
            "{:?}",
            verify(flipped.as_slice())
        );
        // A flipped byte anywhere in the body is caught, unless it falls on bits deflate does
        // not read (then what the file holds is unchanged).
        let body_start = 14 + u32::from_be_bytes(bytes[10..14].try_into().unwrap()) as usize;
        let inflate = |b: &[u8]| {
            let mut out = Vec::new();
            let _ = flate2::read::ZlibDecoder::new(&b[body_start..]).read_to_end(&mut out);
            out
        };
        let original = inflate(&bytes);
        let mut caught = 0;
        for at in body_start..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x40;
            match verify(bad.as_slice()) {
                Err(_) => caught += 1,
                Ok(_) => assert_eq!(inflate(&bad), original, "flip at {at} changed the content unseen"),
            }
        }
        assert!(caught > (bytes.len() - body_start) * 9 / 10, "only {caught} flips caught");
    }

    /// Documents keep arriving while the snapshot is read: the copy is one moment — its
    /// outbox is exactly `1..=outbox_seq` from its own header, with nothing half-written.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backup_under_load_is_one_moment() {
        let src = tempfile::tempdir().unwrap();
        let store = Store::open(src.path()).unwrap();
        for chunk in 0..20u128 {
            let docs: Vec<_> = (0..50).map(|i| doc(chunk * 50 + i + 1)).collect();
            store.append_documents(&docs).await.unwrap();
        }
        let writer = store.clone();
        let stop = tokio_util::sync::CancellationToken::new();
        let stopped = stop.clone();
        let load = tokio::spawn(async move {
            let mut n = 10_000u128;
            while !stopped.is_cancelled() {
                writer.append_documents(&[doc(n)]).await.unwrap();
                n += 1;
            }
            n - 10_000
        });
        // Let the load get going: wait until it has written something.
        let before = store.outbox_len().unwrap();
        while store.outbox_len().unwrap() < before + 5 {
            tokio::task::yield_now().await;
        }
        let snap = store.clone();
        let bytes = tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::new();
            let summary = snap.backup_to(&mut bytes).unwrap();
            (bytes, summary)
        })
        .await
        .unwrap();
        stop.cancel();
        let written_during = load.await.unwrap();
        let (bytes, summary) = bytes;
        assert!(written_during > 5);
        assert!(summary.header.outbox_seq > 1000);

        let file = src.path().join("b.stbak");
        std::fs::write(&file, &bytes).unwrap();
        let dst = tempfile::tempdir().unwrap();
        restore(&dst.path().join("s"), &StoreSettings::default(), &file).await.unwrap();
        let back = Store::open(&dst.path().join("s")).unwrap();
        let seqs: Vec<u64> = back.outbox_pending(1_000_000).unwrap().iter().map(|d| d.seq).collect();
        assert_eq!(seqs, (1..=summary.header.outbox_seq).collect::<Vec<_>>());
        assert_eq!(back.append_documents(&[doc(1)]).await.unwrap(), vec![summary.header.outbox_seq + 1]);
    }
}
