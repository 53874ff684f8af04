//! The writes of a batch, captured as redo records so that one `fdatasync` of a small
//! sequential log can stand in for a durable commit of the B-tree file.
//!
//! A durable redb commit rewrites the leaf-to-root path of every table it touched — a payment
//! writes fourteen to eighteen scattered pages — and waits for all of them. The redo log
//! writes the batch's *effect* instead: for every row, the table, the key and the new value
//! (or its removal), exactly as redb encodes them. Replaying those records onto the last
//! durable state gives back the committed state row for row, with the same `seq`s and the same
//! decisions, because nothing is recomputed.
//!
//! Capture is enforced by the compiler rather than by discipline: store code writes only
//! through [`Txn`] and [`Recorded`], and `Recorded` offers the mutating calls of a redb table
//! only in versions that record what they change. A new write path that forgot the log would
//! not compile.
//!
//! Record payload: a sequence of entries, each
//! `op (u8: 1 put, 2 remove) ‖ table name len (u8) ‖ name ‖ key len (u32 LE) ‖ key ‖
//! [value len (u32 LE) ‖ value]`.

use super::StoreError;
use super::backup;
use super::redo_log;
use super::tables::{self, META, meta_key};
use redb::Database;
use redb::{
    AccessGuard, Key, ReadableTable, ReadableTableMetadata, StorageError, Table, TableDefinition, TableError, TableHandle, Value,
    WriteTransaction,
};
use std::borrow::Borrow;
use std::cell::RefCell;
use std::path::Path;

const PUT: u8 = 1;
const REMOVE: u8 = 2;

/// A write transaction as store code sees it: tables opened through it record their writes
/// when the batch goes through the redo log.
pub(super) struct Txn<'a> {
    tx: &'a WriteTransaction,
    redo: Option<RefCell<Vec<u8>>>,
}

impl<'a> Txn<'a> {
    /// Writes are recorded for the redo log.
    pub(super) fn recording(tx: &'a WriteTransaction) -> Txn<'a> {
        Txn {
            tx,
            redo: Some(RefCell::new(Vec::new())),
        }
    }

    /// Writes are not recorded: the batch ends in a durable commit of the file itself.
    pub(super) fn unrecorded(tx: &'a WriteTransaction) -> Txn<'a> {
        Txn { tx, redo: None }
    }

    pub(super) fn open_table<K: Key + 'static, V: Value + 'static>(
        &self,
        definition: TableDefinition<'static, K, V>,
    ) -> Result<Recorded<'_, K, V>, TableError> {
        Ok(Recorded {
            table: self.tx.open_table(definition)?,
            definition,
            redo: self.redo.as_ref(),
        })
    }

    pub(super) fn stats(&self) -> Result<redb::DatabaseStats, StorageError> {
        self.tx.stats()
    }

    /// The engine's own transaction, for a bulk write that must not pass through the log (a
    /// restore writes the whole store). Refused while writes are being recorded, so that no
    /// write can slip past the log by this door.
    pub(super) fn bulk(&self) -> Result<&'a WriteTransaction, StoreError> {
        match self.redo {
            None => Ok(self.tx),
            Some(_) => Err(StoreError::Storage(
                "a bulk write was queued as a power-loss write; it must be a checkpoint write".into(),
            )),
        }
    }

    /// The recorded entries, empty when nothing was written.
    pub(super) fn into_redo(self) -> Vec<u8> {
        self.redo.map(RefCell::into_inner).unwrap_or_default()
    }
}

/// A table opened through a [`Txn`]. Reads go straight to redb; writes are recorded first.
pub(super) struct Recorded<'tx, K: Key + 'static, V: Value + 'static> {
    table: Table<'tx, K, V>,
    definition: TableDefinition<'static, K, V>,
    redo: Option<&'tx RefCell<Vec<u8>>>,
}

impl<'tx, K: Key + 'static, V: Value + 'static> Recorded<'tx, K, V> {
    pub(super) fn insert<'k, 'v>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
        value: impl Borrow<V::SelfType<'v>>,
    ) -> Result<Option<AccessGuard<'_, V>>, StorageError> {
        if let Some(redo) = self.redo {
            let key = K::as_bytes(key.borrow());
            let value = V::as_bytes(value.borrow());
            entry(
                &mut redo.borrow_mut(),
                PUT,
                self.definition.name(),
                key.as_ref(),
                Some(value.as_ref()),
            );
        }
        self.table.insert(key, value)
    }

    pub(super) fn remove<'k>(&mut self, key: impl Borrow<K::SelfType<'k>>) -> Result<Option<AccessGuard<'_, V>>, StorageError> {
        if let Some(redo) = self.redo {
            entry(
                &mut redo.borrow_mut(),
                REMOVE,
                self.definition.name(),
                K::as_bytes(key.borrow()).as_ref(),
                None,
            );
        }
        self.table.remove(key)
    }

    /// Keep the rows `keep` says yes to; each row removed is recorded.
    pub(super) fn retain<F: for<'f> FnMut(K::SelfType<'f>, V::SelfType<'f>) -> bool>(&mut self, mut keep: F) -> Result<(), StorageError> {
        let (redo, definition) = (self.redo, self.definition);
        self.table.retain(|key, value| {
            let removed_key = redo.map(|_| K::as_bytes(&key).as_ref().to_vec());
            let kept = keep(key, value);
            if let (false, Some(redo), Some(removed_key)) = (kept, redo, removed_key) {
                entry(&mut redo.borrow_mut(), REMOVE, definition.name(), &removed_key, None);
            }
            kept
        })
    }
}

impl<K: Key + 'static, V: Value + 'static> ReadableTableMetadata for Recorded<'_, K, V> {
    fn stats(&self) -> Result<redb::TableStats, StorageError> {
        self.table.stats()
    }

    fn len(&self) -> Result<u64, StorageError> {
        self.table.len()
    }
}

impl<K: Key + 'static, V: Value + 'static> ReadableTable<K, V> for Recorded<'_, K, V> {
    fn get<'a>(&self, key: impl Borrow<K::SelfType<'a>>) -> Result<Option<AccessGuard<'_, V>>, StorageError> {
        self.table.get(key)
    }

    fn range(&self, range: impl redb::KeyRange<K>) -> Result<redb::Range<'_, K, V>, StorageError> {
        self.table.range(range)
    }

    fn first(&self) -> Result<Option<(AccessGuard<'_, K>, AccessGuard<'_, V>)>, StorageError> {
        self.table.first()
    }

    fn last(&self) -> Result<Option<(AccessGuard<'_, K>, AccessGuard<'_, V>)>, StorageError> {
        self.table.last()
    }

    fn lower_bound<'a>(&self, bound: std::ops::Bound<impl Borrow<K::SelfType<'a>>>) -> Result<redb::Cursor<'_, K, V>, StorageError> {
        self.table.lower_bound(bound)
    }

    fn upper_bound<'a>(&self, bound: std::ops::Bound<impl Borrow<K::SelfType<'a>>>) -> Result<redb::Cursor<'_, K, V>, StorageError> {
        self.table.upper_bound(bound)
    }
}

fn entry(out: &mut Vec<u8>, op: u8, table: &str, key: &[u8], value: Option<&[u8]>) {
    out.push(op);
    // Table names are ours and short; a name over 255 bytes would be a bug caught by the
    // round-trip test of every table.
    out.push(table.len().min(255) as u8);
    out.extend_from_slice(&table.as_bytes()[..table.len().min(255)]);
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    if let Some(value) = value {
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
    }
}

/// One entry of a payload.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Entry<'p> {
    pub table: &'p str,
    pub key: &'p [u8],
    /// `None`: the row was removed.
    pub value: Option<&'p [u8]>,
}

/// The entries of a payload, or the reason it is not one.
pub(super) fn entries(payload: &[u8]) -> Result<Vec<Entry<'_>>, String> {
    let mut rest = payload;
    let mut out = Vec::new();
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let (&name_len, tail) = rest.split_first().ok_or("cut before a table name")?;
        let (name, tail) = tail.split_at_checked(name_len as usize).ok_or("cut inside a table name")?;
        let table = std::str::from_utf8(name).map_err(|_| "a table name is not UTF-8")?;
        let (key, tail) = sized(tail).ok_or("cut inside a key")?;
        rest = tail;
        let value = match op {
            PUT => {
                let (value, tail) = sized(rest).ok_or("cut inside a value")?;
                rest = tail;
                Some(value)
            }
            REMOVE => None,
            other => return Err(format!("unknown operation {other}")),
        };
        out.push(Entry { table, key, value });
    }
    Ok(out)
}

fn sized(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_at_checked(4)?;
    let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
    rest.split_at_checked(len)
}

/// The log sequence number of the last batch this transaction's state contains.
pub(super) fn applied_lsn(tx: &WriteTransaction) -> Result<u64, StoreError> {
    let meta = tx.open_table(META)?;
    Ok(tables::meta_u64(&meta, meta_key::REDO_LSN)?)
}

/// Stamp the state with the batch it now contains.
pub(super) fn set_applied_lsn(tx: &WriteTransaction, lsn: u64) -> Result<(), StoreError> {
    tx.open_table(META)?.insert(meta_key::REDO_LSN, lsn.to_be_bytes().as_slice())?;
    Ok(())
}

/// Bring a just-opened database up to date with the log at `log`: apply, in one durable commit,
/// every record it does not hold yet. Returns how many were applied.
pub(super) fn replay(db: &Database, dir: &Path, log: &Path) -> Result<usize, StoreError> {
    let damaged = |detail: String| StoreError::Damaged {
        path: dir.to_path_buf(),
        detail,
    };
    let mut tx = db.begin_write().map_err(StoreError::from_engine)?;
    let applied = applied_lsn(&tx)?;
    let records = redo_log::read(log, applied)
        .map_err(|e| StoreError::Open {
            path: dir.to_path_buf(),
            detail: format!("{}: {e}", log.display()),
        })?
        .map_err(|e| damaged(e.to_string()))?;
    let Some(last) = records.last().map(|r| r.lsn) else {
        return Ok(0);
    };
    for record in &records {
        apply(&tx, &record.payload).map_err(|e| damaged(format!("запись журнала № {} не применяется: {e}", record.lsn)))?;
    }
    set_applied_lsn(&tx, last)?;
    tx.set_durability(redb::Durability::Immediate).map_err(StoreError::from_engine)?;
    tx.commit().map_err(StoreError::from_engine)?;
    tracing::info!(records = records.len(), through = last, "redo log replayed into the store");
    Ok(records.len())
}

/// Apply one record's payload inside `tx`.
pub(super) fn apply(tx: &WriteTransaction, payload: &[u8]) -> Result<(), String> {
    for entry in entries(payload)? {
        backup::redo_entry(tx, entry.table, entry.key, entry.value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_what_was_written() {
        let mut out = Vec::new();
        entry(&mut out, PUT, "lanes", b"1", Some(b"row"));
        entry(&mut out, REMOVE, "outbox", &7u64.to_be_bytes(), None);
        entry(&mut out, PUT, "meta", b"k", Some(b""));
        let read = entries(&out).unwrap();
        assert_eq!(
            read,
            vec![
                Entry {
                    table: "lanes",
                    key: b"1",
                    value: Some(b"row")
                },
                Entry {
                    table: "outbox",
                    key: &7u64.to_be_bytes(),
                    value: None
                },
                Entry {
                    table: "meta",
                    key: b"k",
                    value: Some(b"")
                },
            ]
        );
    }

    #[test]
    fn a_cut_payload_is_refused_at_every_length() {
        let mut out = Vec::new();
        entry(&mut out, PUT, "lanes", b"key", Some(b"value"));
        entry(&mut out, REMOVE, "lanes", b"key", None);
        let whole = entries(&out).unwrap().len();
        for cut in 1..out.len() {
            // A cut at an entry boundary reads as fewer entries; anywhere else it is an error.
            if let Ok(read) = entries(&out[..cut]) {
                assert!(read.len() < whole, "cut at {cut}");
            }
        }
        assert!(entries(&[9, 0, 0, 0, 0, 0]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_payload_reads_without_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = entries(&bytes);
        }
    }
}
