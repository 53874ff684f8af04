//! Warehouse storage: cells, cell stock, the movement log, pick orders and expected
//! receipts, and the handheld operations that change them.
//!
//! Trees:
//! - `cells` (id → [`Cell`]), `cell_codes` (`a:ADDRESS` / `b:BARCODE` → id),
//! - `cell_stock` (cell id → [`CellStock`]), `item_cells` (item id → set of cell ids holding it),
//! - `empty_cells` (`zone \0 address` → id, cells holding nothing, for putaway suggestions),
//! - `item_storage` (item id → [`Storage`]: weight, volume, zone from the item feed),
//! - `wms_log` (big-endian seq → [`Movement`], append-only),
//! - `wms_ops` (operation id → the request and the answer given, so a retry gets the same),
//! - `pick_orders`, `expected_receipts` (id → record).
//!
//! Every operation runs as one sled transaction over these trees, the `meta` counter and the
//! outbox: it reads the balances it needs, lets the domain decide, and writes balances, log,
//! documents and the answer together. sled transactions are serializable, so two handhelds
//! taking the last units of a cell cannot both commit: the one that loses re-runs on the new
//! balance and is refused.

use super::{Store, StoreError, decode, encode, outbox, read_u64};
use crate::domain::document::NewDocument;
use crate::domain::feed::Change;
use crate::domain::wms::pick::PickOrder;
use crate::domain::wms::receipt::ExpectedReceipt;
use crate::domain::wms::{Cell, CellStock, Movement, MovementKind, Storage, WmsError};
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError};
use std::collections::{BTreeMap, BTreeSet};

const LOG_SEQ: &[u8] = b"wms_log_seq";

/// The warehouse trees, in the order transactions take them.
#[derive(Clone)]
pub(super) struct WmsTrees {
    cells: sled::Tree,
    cell_codes: sled::Tree,
    cell_stock: sled::Tree,
    item_cells: sled::Tree,
    empty_cells: sled::Tree,
    item_storage: sled::Tree,
    log: sled::Tree,
    ops: sled::Tree,
    pick_orders: sled::Tree,
    expected: sled::Tree,
}

impl WmsTrees {
    pub(super) fn open(db: &sled::Db) -> Result<WmsTrees, sled::Error> {
        Ok(WmsTrees {
            cells: db.open_tree("cells")?,
            cell_codes: db.open_tree("cell_codes")?,
            cell_stock: db.open_tree("cell_stock")?,
            item_cells: db.open_tree("item_cells")?,
            empty_cells: db.open_tree("empty_cells")?,
            item_storage: db.open_tree("item_storage")?,
            log: db.open_tree("wms_log")?,
            ops: db.open_tree("wms_ops")?,
            pick_orders: db.open_tree("pick_orders")?,
            expected: db.open_tree("expected_receipts")?,
        })
    }

    /// The trees in transaction order (see [`Tx::new`]).
    pub(super) fn all(&self) -> [&sled::Tree; 10] {
        [
            &self.cells,
            &self.cell_codes,
            &self.cell_stock,
            &self.item_cells,
            &self.empty_cells,
            &self.item_storage,
            &self.log,
            &self.ops,
            &self.pick_orders,
            &self.expected,
        ]
    }
}

/// Why an operation's transaction stopped.
#[derive(Debug)]
pub enum WmsAbort {
    Refused(WmsError),
    Store(StoreError),
}

impl From<StoreError> for WmsAbort {
    fn from(e: StoreError) -> Self {
        WmsAbort::Store(e)
    }
}

impl From<TransactionError<WmsAbort>> for WmsAbort {
    fn from(e: TransactionError<WmsAbort>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => WmsAbort::Store(StoreError::Engine(e)),
        }
    }
}

/// Inside a transaction, an error is either the transaction's (conflict, storage) or ours.
pub type TxResult<T, E = WmsAbort> = Result<T, ConflictableTransactionError<E>>;

/// Re-type a transaction error whose abort value converts.
fn lift<A, B: From<A>>(e: ConflictableTransactionError<A>) -> ConflictableTransactionError<B> {
    match e {
        ConflictableTransactionError::Abort(a) => ConflictableTransactionError::Abort(B::from(a)),
        ConflictableTransactionError::Conflict => ConflictableTransactionError::Conflict,
        ConflictableTransactionError::Storage(s) => ConflictableTransactionError::Storage(s),
    }
}

fn un<E>(e: UnabortableTransactionError) -> ConflictableTransactionError<E> {
    e.into()
}

fn empty_key(cell: &Cell) -> Vec<u8> {
    let mut key = cell.zone.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(cell.address.as_bytes());
    key
}

fn address_key(address: &str) -> String {
    format!("a:{}", address.trim().to_uppercase())
}

fn barcode_key(barcode: &str) -> String {
    format!("b:{}", barcode.trim())
}

/// The warehouse trees inside one transaction.
pub(super) struct Tx<'a> {
    cells: &'a TransactionalTree,
    cell_codes: &'a TransactionalTree,
    cell_stock: &'a TransactionalTree,
    item_cells: &'a TransactionalTree,
    empty_cells: &'a TransactionalTree,
    item_storage: &'a TransactionalTree,
    log: &'a TransactionalTree,
    ops: &'a TransactionalTree,
    pick_orders: &'a TransactionalTree,
    expected: &'a TransactionalTree,
}

impl<'a> Tx<'a> {
    /// `trees` in the order of [`WmsTrees::all`].
    pub(super) fn new(trees: &'a [TransactionalTree]) -> Tx<'a> {
        Tx {
            cells: &trees[0],
            cell_codes: &trees[1],
            cell_stock: &trees[2],
            item_cells: &trees[3],
            empty_cells: &trees[4],
            item_storage: &trees[5],
            log: &trees[6],
            ops: &trees[7],
            pick_orders: &trees[8],
            expected: &trees[9],
        }
    }

    fn get<T: serde::de::DeserializeOwned>(tree: &TransactionalTree, name: &'static str, key: &[u8]) -> TxResult<Option<T>, StoreError> {
        match tree.get(key).map_err(un)? {
            None => Ok(None),
            Some(v) => decode(name, key, &v).map(Some).map_err(ConflictableTransactionError::Abort),
        }
    }

    fn cell(&self, id: &str) -> TxResult<Option<Cell>, StoreError> {
        Tx::get(self.cells, "cells", id.as_bytes())
    }

    fn stock(&self, cell: &str) -> TxResult<CellStock, StoreError> {
        Ok(Tx::get(self.cell_stock, "cell_stock", cell.as_bytes())?.unwrap_or_default())
    }

    /// Write a cell's new contents and keep the item→cells and empty-cell indexes in step.
    fn write_stock(&self, cell: &Cell, before: &CellStock, after: &CellStock) -> TxResult<(), StoreError> {
        self.cell_stock.insert(cell.id.as_bytes(), encode(after)).map_err(un)?;
        let gone = before.lines.keys().filter(|i| !after.lines.contains_key(*i));
        let came = after.lines.keys().filter(|i| !before.lines.contains_key(*i));
        for (item, present) in gone.map(|i| (i, false)).chain(came.map(|i| (i, true))) {
            let mut set: BTreeSet<String> = Tx::get(self.item_cells, "item_cells", item.as_bytes())?.unwrap_or_default();
            if present {
                set.insert(cell.id.clone());
            } else {
                set.remove(&cell.id);
            }
            if set.is_empty() {
                self.item_cells.remove(item.as_bytes()).map_err(un)?;
            } else {
                self.item_cells.insert(item.as_bytes(), encode(&set)).map_err(un)?;
            }
        }
        if after.is_empty() {
            self.empty_cells.insert(empty_key(cell), cell.id.as_bytes()).map_err(un)?;
        } else {
            self.empty_cells.remove(empty_key(cell)).map_err(un)?;
        }
        Ok(())
    }

    fn append_log(&self, meta: &TransactionalTree, movements: &[Movement]) -> TxResult<(), StoreError> {
        if movements.is_empty() {
            return Ok(());
        }
        let mut seq = meta.get(LOG_SEQ).map_err(un)?.map(|v| read_u64(&v)).unwrap_or(0);
        for m in movements {
            seq += 1;
            self.log.insert(&seq.to_be_bytes(), encode(m)).map_err(un)?;
        }
        meta.insert(LOG_SEQ, &seq.to_be_bytes()).map_err(un)?;
        Ok(())
    }

    fn put_cell(&self, cell: &Cell) -> TxResult<(), StoreError> {
        if let Some(old) = self.cell(&cell.id)? {
            self.cell_codes.remove(address_key(&old.address).as_bytes()).map_err(un)?;
            if let Some(b) = &old.barcode {
                self.cell_codes.remove(barcode_key(b).as_bytes()).map_err(un)?;
            }
            self.empty_cells.remove(empty_key(&old)).map_err(un)?;
        }
        self.cells.insert(cell.id.as_bytes(), encode(cell)).map_err(un)?;
        self.cell_codes
            .insert(address_key(&cell.address).as_bytes(), cell.id.as_bytes())
            .map_err(un)?;
        if let Some(b) = &cell.barcode {
            self.cell_codes.insert(barcode_key(b).as_bytes(), cell.id.as_bytes()).map_err(un)?;
        }
        if self.stock(&cell.id)?.is_empty() {
            self.empty_cells.insert(empty_key(cell), cell.id.as_bytes()).map_err(un)?;
        }
        Ok(())
    }

    /// Apply one warehouse change of the feed. Returns whether it was one.
    pub(super) fn apply_change(&self, meta: &TransactionalTree, change: &Change, now: Timestamp) -> TxResult<bool, StoreError> {
        match change {
            Change::ItemUpsert(item) => {
                // Storage attributes follow as their own change when the item has them.
                self.item_storage.remove(item.id.as_bytes()).map_err(un)?;
                return Ok(false);
            }
            Change::ItemDelete(id) => {
                self.item_storage.remove(id.as_bytes()).map_err(un)?;
                return Ok(false);
            }
            Change::ItemStorage { item, storage } => {
                self.item_storage.insert(item.as_bytes(), encode(storage)).map_err(un)?;
            }
            Change::CellUpsert(cell) => self.put_cell(cell)?,
            Change::CellDelete(id) => {
                // A cell that still holds goods stays: its stock must be moved out first.
                if let Some(old) = self.cell(id)? {
                    if self.stock(id)?.is_empty() {
                        self.cells.remove(id.as_bytes()).map_err(un)?;
                        self.cell_codes.remove(address_key(&old.address).as_bytes()).map_err(un)?;
                        if let Some(b) = &old.barcode {
                            self.cell_codes.remove(barcode_key(b).as_bytes()).map_err(un)?;
                        }
                        self.empty_cells.remove(empty_key(&old)).map_err(un)?;
                        self.cell_stock.remove(id.as_bytes()).map_err(un)?;
                    } else {
                        tracing::warn!(cell = %id, "the CRM deleted a cell that still holds goods here; keeping it");
                    }
                }
            }
            Change::StockUpsert { item, cell, qty } => {
                let Some(c) = self.cell(cell)? else {
                    tracing::warn!(%cell, %item, "stock row for a cell the feed has not sent; ignored");
                    return Ok(true);
                };
                let before = self.stock(cell)?;
                // Once this site moved goods in or out of the cell, it owns the balance.
                if before.local {
                    return Ok(true);
                }
                let had = before.qty(item);
                let mut after = before.clone();
                after.set(item, *qty, now);
                after.local = false;
                self.write_stock(&c, &before, &after)?;
                let diff = *qty - had;
                if !diff.is_zero() {
                    let (from, to) = if diff > Decimal::ZERO {
                        (None, Some(cell.clone()))
                    } else {
                        (Some(cell.clone()), None)
                    };
                    let movement = Movement {
                        op: format!("feed:{item}@{cell}"),
                        kind: MovementKind::Opening,
                        item: item.clone(),
                        from,
                        to,
                        qty: diff.abs(),
                        at: now,
                        by: "crm".into(),
                    };
                    self.append_log(meta, &[movement])?;
                }
            }
            Change::PickOrderUpsert(order) => {
                let key = order.id.as_bytes();
                let merged = match Tx::get::<PickOrder>(self.pick_orders, "pick_orders", key)? {
                    Some(mut local) => {
                        local.merge_from_feed(order.clone());
                        local
                    }
                    None => order.clone(),
                };
                self.pick_orders.insert(key, encode(&merged)).map_err(un)?;
            }
            Change::PickOrderDelete(id) => {
                self.pick_orders.remove(id.as_bytes()).map_err(un)?;
            }
            Change::ExpectedReceiptUpsert(e) => {
                let key = e.id.as_bytes();
                let mut next = e.clone();
                if let Some(local) = Tx::get::<ExpectedReceipt>(self.expected, "expected_receipts", key)? {
                    next.received = local.received;
                }
                self.expected.insert(key, encode(&next)).map_err(un)?;
            }
            Change::ExpectedReceiptDelete(id) => {
                self.expected.remove(id.as_bytes()).map_err(un)?;
            }
            Change::Skipped { .. } | Change::ClientUpsert(_) | Change::ClientDelete(_) => return Ok(false),
        }
        Ok(true)
    }
}

/// The answer stored for an operation id.
#[derive(Serialize, Deserialize)]
struct OpRecord {
    kind: String,
    request: serde_json::Value,
    answer: serde_json::Value,
    at: Timestamp,
}

/// One handheld operation, identified by the id the handheld chose.
pub struct Op<'a> {
    pub id: &'a str,
    pub kind: &'static str,
    /// The request as received, to tell a retry from a reused id.
    pub request: &'a serde_json::Value,
    pub now: Timestamp,
    pub by: &'a str,
}

/// What an operation does inside its transaction: read what it needs through here, change
/// stock, orders and receipts, log movements. Everything is written when the closure returns.
pub struct OpTx<'a> {
    tx: Tx<'a>,
    now: Timestamp,
    by: String,
    op: String,
    stocks: BTreeMap<String, (Cell, CellStock, CellStock)>,
    orders: BTreeMap<String, PickOrder>,
    expected: BTreeMap<String, ExpectedReceipt>,
    movements: Vec<Movement>,
}

impl OpTx<'_> {
    /// A cell by id.
    pub fn cell(&mut self, id: &str) -> TxResult<Cell> {
        if let Some((cell, _, _)) = self.stocks.get(id) {
            return Ok(cell.clone());
        }
        let cell = self
            .tx
            .cell(id)
            .map_err(lift)?
            .ok_or_else(|| refuse(WmsError::UnknownCell(id.to_string())))?;
        let stock = self.tx.stock(id).map_err(lift)?;
        self.stocks.insert(id.to_string(), (cell.clone(), stock.clone(), stock));
        Ok(cell)
    }

    /// A cell's contents as changed so far in this operation.
    pub fn stock(&mut self, cell: &str) -> TxResult<&mut CellStock> {
        self.cell(cell)?;
        Ok(&mut self.stocks.get_mut(cell).expect("loaded above").2)
    }

    pub fn order(&mut self, id: &str) -> TxResult<&mut PickOrder> {
        if !self.orders.contains_key(id) {
            let order: PickOrder = Tx::get(self.tx.pick_orders, "pick_orders", id.as_bytes())
                .map_err(lift)?
                .ok_or_else(|| refuse(WmsError::UnknownOrder(id.to_string())))?;
            self.orders.insert(id.to_string(), order);
        }
        Ok(self.orders.get_mut(id).expect("loaded above"))
    }

    pub fn expected(&mut self, id: &str) -> TxResult<&mut ExpectedReceipt> {
        if !self.expected.contains_key(id) {
            let e: ExpectedReceipt = Tx::get(self.tx.expected, "expected_receipts", id.as_bytes())
                .map_err(lift)?
                .ok_or_else(|| refuse(WmsError::UnknownExpected(id.to_string())))?;
            self.expected.insert(id.to_string(), e);
        }
        Ok(self.expected.get_mut(id).expect("loaded above"))
    }

    /// Record a movement of this operation in the log.
    pub fn log(&mut self, kind: MovementKind, item: &str, from: Option<&str>, to: Option<&str>, qty: Decimal) {
        self.movements.push(Movement {
            op: self.op.clone(),
            kind,
            item: item.to_string(),
            from: from.map(str::to_string),
            to: to.map(str::to_string),
            qty,
            at: self.now,
            by: self.by.clone(),
        });
    }

    /// An item's storage attributes, read inside the transaction.
    pub fn storage(&mut self, item: &str) -> TxResult<Storage> {
        Ok(Tx::get(self.tx.item_storage, "item_storage", item.as_bytes())
            .map_err(lift)?
            .unwrap_or_default())
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }
}

/// Turn a domain refusal into a transaction abort (for `?` inside an operation).
pub fn refuse(e: WmsError) -> ConflictableTransactionError<WmsAbort> {
    ConflictableTransactionError::Abort(WmsAbort::Refused(e))
}

/// An operation's result: the answer, and whether it was given before (a retry).
#[derive(Debug)]
pub struct OpAnswer {
    pub answer: serde_json::Value,
    pub replayed: bool,
}

/// A cell and what it holds.
#[derive(Debug, Clone)]
pub struct CellView {
    pub cell: Cell,
    pub stock: CellStock,
}

impl Store {
    /// Run a handheld operation: applied once per id, atomically with its movements,
    /// documents and answer, and flushed before returning. A retry with the same id and
    /// request gets the first answer; the same id with another request is refused.
    ///
    /// `apply` may run more than once (sled re-runs a transaction after a conflict) and must
    /// read the store only through its [`OpTx`]: a plain sled read inside the transaction
    /// waits for the transaction itself and never returns.
    pub async fn wms_operation(
        &self,
        op: Op<'_>,
        apply: impl Fn(&mut OpTx<'_>) -> TxResult<(serde_json::Value, Vec<NewDocument>)>,
    ) -> Result<OpAnswer, WmsAbort> {
        let t = &self.trees;
        let mut trees = vec![&t.meta, &t.outbox];
        trees.extend(t.wms.all());
        let result = trees.as_slice().transaction(|tx| {
            let (meta, outbox_tree) = (&tx[0], &tx[1]);
            let w = Tx::new(&tx[2..]);
            if let Some(record) = Tx::get::<OpRecord>(w.ops, "wms_ops", op.id.as_bytes()).map_err(lift)? {
                if record.kind != op.kind || record.request != *op.request {
                    return Err(refuse(WmsError::IdReused(op.id.to_string())));
                }
                return Ok(OpAnswer {
                    answer: record.answer,
                    replayed: true,
                });
            }
            let mut otx = OpTx {
                tx: Tx::new(&tx[2..]),
                now: op.now,
                by: op.by.to_string(),
                op: op.id.to_string(),
                stocks: BTreeMap::new(),
                orders: BTreeMap::new(),
                expected: BTreeMap::new(),
                movements: Vec::new(),
            };
            let (answer, documents) = apply(&mut otx)?;
            for (cell, before, after) in otx.stocks.values() {
                if before != after {
                    w.write_stock(cell, before, after).map_err(lift)?;
                }
            }
            for (id, order) in &otx.orders {
                w.pick_orders.insert(id.as_bytes(), encode(order)).map_err(un)?;
            }
            for (id, e) in &otx.expected {
                w.expected.insert(id.as_bytes(), encode(e)).map_err(un)?;
            }
            w.append_log(meta, &otx.movements).map_err(lift)?;
            outbox::append(meta, outbox_tree, &documents).map_err(lift)?;
            let record = OpRecord {
                kind: op.kind.to_string(),
                request: op.request.clone(),
                answer: answer.clone(),
                at: op.now,
            };
            w.ops.insert(op.id.as_bytes(), encode(&record)).map_err(un)?;
            Ok(OpAnswer { answer, replayed: false })
        });
        let answer = result.map_err(WmsAbort::from)?;
        if !answer.replayed {
            self.flush().await?;
            Store::signal(&self.outbox_changed);
        }
        Ok(answer)
    }

    /// Make sure a cell exists (the receiving area, which the CRM may not send as a cell).
    pub async fn wms_ensure_cell(&self, cell: &Cell) -> Result<(), StoreError> {
        if self.trees.wms.cells.contains_key(cell.id.as_bytes())? {
            return Ok(());
        }
        let t = &self.trees;
        let mut trees = vec![&t.meta];
        trees.extend(t.wms.all());
        trees.as_slice().transaction(|tx| Tx::new(&tx[1..]).put_cell(cell))?;
        self.flush().await
    }

    /// A cell by id, address (any letter case) or label barcode.
    pub fn wms_find_cell(&self, text: &str) -> Result<Option<Cell>, StoreError> {
        let w = &self.trees.wms;
        let text = text.trim();
        let id = match w.cells.get(text.as_bytes())? {
            Some(_) => Some(text.as_bytes().to_vec()),
            None => match w.cell_codes.get(address_key(text).as_bytes())? {
                Some(id) => Some(id.to_vec()),
                None => w.cell_codes.get(barcode_key(text).as_bytes())?.map(|id| id.to_vec()),
            },
        };
        let Some(id) = id else { return Ok(None) };
        w.cells.get(&id)?.map(|v| decode("cells", &id, &v)).transpose()
    }

    pub fn wms_cell(&self, id: &str) -> Result<Option<Cell>, StoreError> {
        let w = &self.trees.wms;
        w.cells.get(id.as_bytes())?.map(|v| decode("cells", id.as_bytes(), &v)).transpose()
    }

    pub fn wms_cell_stock(&self, id: &str) -> Result<CellStock, StoreError> {
        let w = &self.trees.wms;
        Ok(w.cell_stock
            .get(id.as_bytes())?
            .map(|v| decode("cell_stock", id.as_bytes(), &v))
            .transpose()?
            .unwrap_or_default())
    }

    /// The cells holding an item, with their contents.
    pub fn wms_cells_holding(&self, item: &str) -> Result<Vec<CellView>, StoreError> {
        let w = &self.trees.wms;
        let ids: BTreeSet<String> = w
            .item_cells
            .get(item.as_bytes())?
            .map(|v| decode("item_cells", item.as_bytes(), &v))
            .transpose()?
            .unwrap_or_default();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(cell) = self.wms_cell(&id)? {
                out.push(CellView {
                    stock: self.wms_cell_stock(&id)?,
                    cell,
                });
            }
        }
        Ok(out)
    }

    /// Empty cells of a zone (all zones when `None`), by address, lazily.
    pub fn wms_empty_cells(&self, zone: Option<&str>) -> impl Iterator<Item = Result<Cell, StoreError>> + '_ {
        let w = &self.trees.wms;
        let iter = match zone {
            Some(z) => {
                let mut prefix = z.as_bytes().to_vec();
                prefix.push(0);
                w.empty_cells.scan_prefix(prefix)
            }
            None => w.empty_cells.iter(),
        };
        iter.filter_map(move |r| match r {
            Err(e) => Some(Err(StoreError::from(e))),
            Ok((_, id)) => self.wms_cell(&String::from_utf8_lossy(&id)).transpose(),
        })
    }

    /// An item's storage attributes; all unknown when the feed sent none.
    pub fn wms_storage(&self, item: &str) -> Result<Storage, StoreError> {
        let w = &self.trees.wms;
        Ok(w.item_storage
            .get(item.as_bytes())?
            .map(|v| decode("item_storage", item.as_bytes(), &v))
            .transpose()?
            .unwrap_or_default())
    }

    pub fn wms_pick_order(&self, id: &str) -> Result<Option<PickOrder>, StoreError> {
        let w = &self.trees.wms;
        w.pick_orders
            .get(id.as_bytes())?
            .map(|v| decode("pick_orders", id.as_bytes(), &v))
            .transpose()
    }

    pub fn wms_pick_orders(&self) -> Result<Vec<PickOrder>, StoreError> {
        self.trees
            .wms
            .pick_orders
            .iter()
            .map(|r| {
                let (k, v) = r?;
                decode("pick_orders", &k, &v)
            })
            .collect()
    }

    pub fn wms_expected(&self, id: &str) -> Result<Option<ExpectedReceipt>, StoreError> {
        let w = &self.trees.wms;
        w.expected
            .get(id.as_bytes())?
            .map(|v| decode("expected_receipts", id.as_bytes(), &v))
            .transpose()
    }

    /// The movement log, oldest first.
    pub fn wms_log(&self) -> Result<Vec<Movement>, StoreError> {
        self.trees
            .wms
            .log
            .iter()
            .map(|r| {
                let (k, v) = r?;
                decode("wms_log", &k, &v)
            })
            .collect()
    }

    /// Every cell's contents, for checks against the log.
    pub fn wms_all_stock(&self) -> Result<Vec<(String, CellStock)>, StoreError> {
        self.trees
            .wms
            .cell_stock
            .iter()
            .map(|r| {
                let (k, v) = r?;
                Ok((String::from_utf8_lossy(&k).into_owned(), decode("cell_stock", &k, &v)?))
            })
            .collect()
    }

    pub fn wms_cell_count(&self) -> usize {
        self.trees.wms.cells.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::wms::replay;
    use crate::store::test_support::temp_store;
    use rust_decimal_macros::dec;

    fn cell(address: &str) -> Cell {
        Cell {
            id: format!("CELL-{address}"),
            address: address.into(),
            zone: "A".into(),
            barcode: Some(format!("B{address}")),
            max_weight: None,
            max_volume: None,
        }
    }

    fn stock(item: &str, address: &str, qty: Decimal) -> Change {
        Change::StockUpsert {
            item: item.into(),
            cell: format!("CELL-{address}"),
            qty,
        }
    }

    async fn take(store: &Store, id: &str, address: &str, qty: Decimal) -> Result<OpAnswer, WmsAbort> {
        let request = serde_json::json!({"id": id, "qty": qty});
        let op = Op {
            id,
            kind: "pick",
            request: &request,
            now: Timestamp::UNIX_EPOCH,
            by: "test",
        };
        let cell_id = format!("CELL-{address}");
        store
            .wms_operation(op, |tx| {
                let c = tx.cell(&cell_id)?;
                tx.stock(&cell_id)?.take(&c.address, "I-1", qty).map_err(refuse)?;
                tx.log(MovementKind::Pick, "I-1", Some(&cell_id), None, qty);
                Ok((serde_json::json!({"left": tx.stock(&cell_id)?.qty("I-1")}), Vec::new()))
            })
            .await
    }

    #[tokio::test]
    async fn feed_stock_is_a_starting_balance_and_the_log_adds_up() {
        let (store, _dir) = temp_store();
        store
            .apply_feed(
                &[
                    Change::CellUpsert(cell("A-01-01-1")),
                    Change::CellUpsert(cell("A-01-01-2")),
                    stock("I-1", "A-01-01-1", dec!(10)),
                    stock("I-1", "A-01-01-2", dec!(4)),
                ],
                "c1",
            )
            .await
            .unwrap();
        assert_eq!(store.wms_find_cell("a-01-01-1").unwrap().unwrap().id, "CELL-A-01-01-1");
        assert_eq!(store.wms_find_cell("BA-01-01-2").unwrap().unwrap().id, "CELL-A-01-01-2");
        assert_eq!(store.wms_cells_holding("I-1").unwrap().len(), 2);

        let first = take(&store, "op-1", "A-01-01-1", dec!(3)).await.unwrap();
        assert_eq!(first.answer["left"], "7");
        let again = take(&store, "op-1", "A-01-01-1", dec!(3)).await.unwrap();
        assert!(again.replayed);
        assert_eq!(again.answer, first.answer);
        assert!(matches!(
            take(&store, "op-2", "A-01-01-1", dec!(8)).await,
            Err(WmsAbort::Refused(WmsError::InsufficientStock { .. }))
        ));
        take(&store, "op-3", "A-01-01-2", dec!(4)).await.unwrap();
        assert_eq!(store.wms_cells_holding("I-1").unwrap().len(), 1, "an emptied cell leaves the index");
        let empty: Vec<String> = store.wms_empty_cells(Some("A")).map(|c| c.unwrap().address).collect();
        assert_eq!(empty, vec!["A-01-01-2"]);

        // The cell was worked here: a later stock row from the CRM no longer overrides it.
        store.apply_feed(&[stock("I-1", "A-01-01-1", dec!(100))], "c2").await.unwrap();
        assert_eq!(store.wms_cell_stock("CELL-A-01-01-1").unwrap().qty("I-1"), dec!(7));

        let replayed = replay(&store.wms_log().unwrap());
        let mut balances = BTreeMap::new();
        for (cell, s) in store.wms_all_stock().unwrap() {
            for (item, lot) in s.lines {
                balances.insert((cell.clone(), item), lot.qty);
            }
        }
        assert_eq!(replayed, balances, "balances are what the movement log adds up to");
    }
}
