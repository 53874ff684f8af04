//! Warehouse storage: cells, cell stock, the movement log, pick orders and expected
//! receipts, and the handheld operations that change them.
//!
//! Tables (see `tables`): `cells`, `cell_codes` (`a:ADDRESS` / `b:BARCODE` → id), `cell_stock`,
//! `item_cells` (item id → set of cell ids holding it), `empty_cells` (`zone \0 address` → id,
//! for putaway suggestions), `item_storage` (weight, volume, zone from the item feed),
//! `wms_log` (append-only movements), `wms_ops` (operation id → request and answer, so a retry
//! gets the same answer; `wms_ops_by_time` for retention), `pick_orders`, `expected_receipts`.
//!
//! Every operation is one job of the store's single writer: it reads the balances it needs
//! inside the write transaction, lets the domain decide, and only then writes balances, log,
//! documents and the answer together. Because one writer applies operations one after the
//! other, two handhelds taking the last units of a cell are ordered, never in conflict: the
//! second sees the first's result and is refused — no retries, no lost updates.

use super::engine::Durability;
use super::redo::{Recorded, Txn};
use super::tables::{
    CELL_CODES, CELL_LOCAL, CELL_LOTS, CELLS, EMPTY_CELLS, EXPECTED, ITEM_CELLS, ITEM_STORAGE, META, PICK_ORDERS, WMS_LOG, WMS_OPS,
    WMS_OPS_BY_TIME, joined, meta_key, prefix_range,
};
use super::{Store, StoreError, decode, encode, outbox, tables};
use crate::domain::document::NewDocument;
use crate::domain::feed::Change;
use crate::domain::wms::pick::PickOrder;
use crate::domain::wms::receipt::ExpectedReceipt;
use crate::domain::wms::{Cell, CellStock, Lot, Movement, MovementKind, Storage, WmsError};
use jiff::Timestamp;
use redb::ReadableTable;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Why an operation stopped; nothing changed.
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

impl From<redb::StorageError> for WmsAbort {
    fn from(e: redb::StorageError) -> Self {
        WmsAbort::Store(e.into())
    }
}

/// Turn a domain refusal into an abort (for `?` inside an operation).
pub fn refuse(e: WmsError) -> WmsAbort {
    WmsAbort::Refused(e)
}

fn empty_key(cell: &Cell) -> Vec<u8> {
    joined(cell.zone.as_bytes(), cell.address.as_bytes())
}

fn address_key(address: &str) -> String {
    format!("a:{}", address.trim().to_uppercase())
}

fn barcode_key(barcode: &str) -> String {
    format!("b:{}", barcode.trim())
}

fn get<T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &'static str,
    key: &str,
) -> Result<Option<T>, StoreError> {
    let row = table.get(key)?;
    row.map(|v| decode(name, key, v.value())).transpose()
}

/// A cell's contents from its lot rows (a range of the `(cell, item)` keys) and its `local` mark.
fn read_stock(
    lots: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    local: &impl ReadableTable<&'static str, ()>,
    cell: &str,
) -> Result<CellStock, StoreError> {
    let mut stock = CellStock {
        local: local.get(cell)?.is_some(),
        ..CellStock::default()
    };
    for row in lots.range((cell, "")..)? {
        let (key, lot) = row?;
        let (at, item) = key.value();
        if at != cell {
            break;
        }
        stock
            .lines
            .insert(item.to_string(), decode("cell_lots", format_args!("{cell}/{item}"), lot.value())?);
    }
    Ok(stock)
}

/// The warehouse tables open in one write transaction.
pub(super) struct WmsTables<'tx> {
    meta: Recorded<'tx, &'static str, &'static [u8]>,
    cells: Recorded<'tx, &'static str, &'static [u8]>,
    cell_codes: Recorded<'tx, &'static str, &'static str>,
    cell_lots: Recorded<'tx, (&'static str, &'static str), &'static [u8]>,
    cell_local: Recorded<'tx, &'static str, ()>,
    item_cells: Recorded<'tx, &'static str, &'static [u8]>,
    empty_cells: Recorded<'tx, &'static [u8], &'static str>,
    item_storage: Recorded<'tx, &'static str, &'static [u8]>,
    log: Recorded<'tx, u64, &'static [u8]>,
    ops: Recorded<'tx, &'static str, &'static [u8]>,
    ops_by_time: Recorded<'tx, (i64, &'static str), ()>,
    pick_orders: Recorded<'tx, &'static str, &'static [u8]>,
    expected: Recorded<'tx, &'static str, &'static [u8]>,
}

impl<'tx> WmsTables<'tx> {
    pub(super) fn open(tx: &'tx Txn<'_>) -> Result<Self, StoreError> {
        Ok(WmsTables {
            meta: tx.open_table(META)?,
            cells: tx.open_table(CELLS)?,
            cell_codes: tx.open_table(CELL_CODES)?,
            cell_lots: tx.open_table(CELL_LOTS)?,
            cell_local: tx.open_table(CELL_LOCAL)?,
            item_cells: tx.open_table(ITEM_CELLS)?,
            empty_cells: tx.open_table(EMPTY_CELLS)?,
            item_storage: tx.open_table(ITEM_STORAGE)?,
            log: tx.open_table(WMS_LOG)?,
            ops: tx.open_table(WMS_OPS)?,
            ops_by_time: tx.open_table(WMS_OPS_BY_TIME)?,
            pick_orders: tx.open_table(PICK_ORDERS)?,
            expected: tx.open_table(EXPECTED)?,
        })
    }

    fn cell(&self, id: &str) -> Result<Option<Cell>, StoreError> {
        get(&self.cells, "cells", id)
    }

    fn stock(&self, cell: &str) -> Result<CellStock, StoreError> {
        read_stock(&self.cell_lots, &self.cell_local, cell)
    }

    /// Write what changed in a cell's contents (a row per item) and keep the item→cells and
    /// empty-cell indexes in step.
    fn write_stock(&mut self, cell: &Cell, before: &CellStock, after: &CellStock) -> Result<(), StoreError> {
        let id = cell.id.as_str();
        for (item, lot) in &after.lines {
            if before.lines.get(item) != Some(lot) {
                self.cell_lots.insert((id, item.as_str()), encode(lot).as_slice())?;
            }
        }
        for item in before.lines.keys().filter(|i| !after.lines.contains_key(*i)) {
            self.cell_lots.remove((id, item.as_str()))?;
        }
        if after.local && !before.local {
            self.cell_local.insert(id, ())?;
        } else if before.local && !after.local {
            self.cell_local.remove(id)?;
        }
        let gone = before.lines.keys().filter(|i| !after.lines.contains_key(*i));
        let came = after.lines.keys().filter(|i| !before.lines.contains_key(*i));
        for (item, present) in gone.map(|i| (i, false)).chain(came.map(|i| (i, true))) {
            let mut set: BTreeSet<String> = get(&self.item_cells, "item_cells", item)?.unwrap_or_default();
            if present {
                set.insert(cell.id.clone());
            } else {
                set.remove(&cell.id);
            }
            if set.is_empty() {
                self.item_cells.remove(item.as_str())?;
            } else {
                self.item_cells.insert(item.as_str(), encode(&set).as_slice())?;
            }
        }
        // From the rows, not from `after`: an operation may have read one item's row only.
        let empty = match self.cell_lots.range((id, "")..)?.next() {
            Some(row) => row?.0.value().0 != id,
            None => true,
        };
        if empty {
            self.empty_cells.insert(empty_key(cell).as_slice(), cell.id.as_str())?;
        } else {
            self.empty_cells.remove(empty_key(cell).as_slice())?;
        }
        Ok(())
    }

    fn append_log(&mut self, movements: &[Movement]) -> Result<(), StoreError> {
        if movements.is_empty() {
            return Ok(());
        }
        let mut seq = tables::meta_u64(&self.meta, meta_key::WMS_LOG_SEQ)?;
        for m in movements {
            seq += 1;
            self.log.insert(seq, encode(m).as_slice())?;
        }
        self.meta.insert(meta_key::WMS_LOG_SEQ, seq.to_be_bytes().as_slice())?;
        Ok(())
    }

    fn put_cell(&mut self, cell: &Cell) -> Result<(), StoreError> {
        if let Some(old) = self.cell(&cell.id)? {
            self.cell_codes.remove(address_key(&old.address).as_str())?;
            if let Some(b) = &old.barcode {
                self.cell_codes.remove(barcode_key(b).as_str())?;
            }
            self.empty_cells.remove(empty_key(&old).as_slice())?;
        }
        self.cells.insert(cell.id.as_str(), encode(cell).as_slice())?;
        self.cell_codes.insert(address_key(&cell.address).as_str(), cell.id.as_str())?;
        if let Some(b) = &cell.barcode {
            self.cell_codes.insert(barcode_key(b).as_str(), cell.id.as_str())?;
        }
        if self.stock(&cell.id)?.is_empty() {
            self.empty_cells.insert(empty_key(cell).as_slice(), cell.id.as_str())?;
        }
        Ok(())
    }

    /// Apply one warehouse change of the feed. Returns whether it was one.
    pub(super) fn apply_change(&mut self, change: &Change, now: Timestamp) -> Result<bool, StoreError> {
        match change {
            Change::ItemUpsert(item) => {
                // Storage attributes follow as their own change when the item has them.
                self.item_storage.remove(item.id.as_str())?;
                return Ok(false);
            }
            Change::ItemDelete(id) => {
                self.item_storage.remove(id.as_str())?;
                return Ok(false);
            }
            Change::ItemStorage { item, storage } => {
                self.item_storage.insert(item.as_str(), encode(storage).as_slice())?;
            }
            Change::CellUpsert(cell) => self.put_cell(cell)?,
            Change::CellDelete(id) => {
                // A cell that still holds goods stays: its stock must be moved out first.
                if let Some(old) = self.cell(id)? {
                    if self.stock(id)?.is_empty() {
                        self.cells.remove(id.as_str())?;
                        self.cell_codes.remove(address_key(&old.address).as_str())?;
                        if let Some(b) = &old.barcode {
                            self.cell_codes.remove(barcode_key(b).as_str())?;
                        }
                        self.empty_cells.remove(empty_key(&old).as_slice())?;
                        // Empty: no lot rows are left; only the `local` mark may be.
                        self.cell_local.remove(id.as_str())?;
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
                    self.append_log(&[movement])?;
                }
            }
            Change::PickOrderUpsert(order) => {
                let merged = match get::<PickOrder>(&self.pick_orders, "pick_orders", &order.id)? {
                    Some(mut local) => {
                        local.merge_from_feed(order.clone());
                        local
                    }
                    None => order.clone(),
                };
                self.pick_orders.insert(order.id.as_str(), encode(&merged).as_slice())?;
            }
            Change::PickOrderDelete(id) => {
                self.pick_orders.remove(id.as_str())?;
            }
            Change::ExpectedReceiptUpsert(e) => {
                let mut next = e.clone();
                if let Some(local) = get::<ExpectedReceipt>(&self.expected, "expected_receipts", &e.id)? {
                    next.received = local.received;
                }
                self.expected.insert(e.id.as_str(), encode(&next).as_slice())?;
            }
            Change::ExpectedReceiptDelete(id) => {
                self.expected.remove(id.as_str())?;
            }
            Change::Skipped { .. }
            | Change::ClientUpsert(_)
            | Change::ClientDelete(_)
            | Change::ItemPrices { .. }
            | Change::ItemStock { .. }
            | Change::ItemVariant(_)
            | Change::GroupUpsert(_)
            | Change::ItemDetails { .. }
            | Change::Retail(_) => return Ok(false),
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
pub struct Op {
    pub id: String,
    pub kind: &'static str,
    /// The request as received, to tell a retry from a reused id.
    pub request: serde_json::Value,
    pub now: Timestamp,
    pub by: String,
}

/// What an operation sees while it decides: the store as of this moment (including the
/// operations committed just before it in the same batch), and the changes it made so far.
/// Nothing is written until the operation returns `Ok`.
pub struct OpTx<'a> {
    tables: &'a WmsTables<'a>,
    now: Timestamp,
    by: String,
    op: String,
    stocks: BTreeMap<String, CellState>,
    orders: BTreeMap<String, PickOrder>,
    expected: BTreeMap<String, ExpectedReceipt>,
    movements: Vec<Movement>,
}

/// A cell an operation touched, and as much of its contents as it read. A receiving cell may
/// hold thousands of items; taking one of them reads and writes that item's row only.
struct CellState {
    cell: Cell,
    before: CellStock,
    after: CellStock,
    /// The items read so far (present or not), while not every row is read.
    read: BTreeSet<String>,
    whole: bool,
}

impl OpTx<'_> {
    /// A cell by id.
    pub fn cell(&mut self, id: &str) -> Result<Cell, WmsAbort> {
        Ok(self.state(id)?.cell.clone())
    }

    fn state(&mut self, id: &str) -> Result<&mut CellState, WmsAbort> {
        if !self.stocks.contains_key(id) {
            let cell = self.tables.cell(id)?.ok_or_else(|| refuse(WmsError::UnknownCell(id.to_string())))?;
            let local = self.tables.cell_local.get(id)?.is_some();
            let stock = CellStock {
                local,
                ..CellStock::default()
            };
            let state = CellState {
                cell,
                before: stock.clone(),
                after: stock,
                read: BTreeSet::new(),
                whole: false,
            };
            self.stocks.insert(id.to_string(), state);
        }
        self.stocks.get_mut(id).ok_or_else(|| refuse(WmsError::UnknownCell(id.to_string())))
    }

    /// A cell's whole contents as changed so far in this operation.
    pub fn stock(&mut self, cell: &str) -> Result<&mut CellStock, WmsAbort> {
        let tables = self.tables;
        let state = self.state(cell)?;
        if !state.whole {
            let before = tables.stock(cell)?;
            let mut after = before.clone();
            after.local = state.after.local;
            // The rows read one by one so far carry this operation's changes.
            for item in &state.read {
                match state.after.lines.get(item) {
                    Some(lot) => after.lines.insert(item.clone(), lot.clone()),
                    None => after.lines.remove(item),
                };
            }
            state.before = before;
            state.after = after;
            state.whole = true;
        }
        Ok(&mut state.after)
    }

    /// A cell's contents as far as `item` goes (its lot, as changed so far in this operation):
    /// enough to take or put that item without reading the rest of the cell. Whether the cell
    /// is empty is not known from it.
    pub fn stock_of(&mut self, cell: &str, item: &str) -> Result<&mut CellStock, WmsAbort> {
        let tables = self.tables;
        let state = self.state(cell)?;
        if !state.whole && !state.read.contains(item) {
            if let Some(lot) = tables.cell_lots.get((cell, item))? {
                let lot: Lot = decode("cell_lots", format_args!("{cell}/{item}"), lot.value())?;
                state.before.lines.insert(item.to_string(), lot.clone());
                state.after.lines.insert(item.to_string(), lot);
            }
            state.read.insert(item.to_string());
        }
        Ok(&mut state.after)
    }

    pub fn order(&mut self, id: &str) -> Result<&mut PickOrder, WmsAbort> {
        if !self.orders.contains_key(id) {
            let order: PickOrder =
                get(&self.tables.pick_orders, "pick_orders", id)?.ok_or_else(|| refuse(WmsError::UnknownOrder(id.to_string())))?;
            self.orders.insert(id.to_string(), order);
        }
        self.orders
            .get_mut(id)
            .ok_or_else(|| refuse(WmsError::UnknownOrder(id.to_string())))
    }

    pub fn expected(&mut self, id: &str) -> Result<&mut ExpectedReceipt, WmsAbort> {
        if !self.expected.contains_key(id) {
            let e: ExpectedReceipt =
                get(&self.tables.expected, "expected_receipts", id)?.ok_or_else(|| refuse(WmsError::UnknownExpected(id.to_string())))?;
            self.expected.insert(id.to_string(), e);
        }
        self.expected
            .get_mut(id)
            .ok_or_else(|| refuse(WmsError::UnknownExpected(id.to_string())))
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

    /// An item's storage attributes.
    pub fn storage(&mut self, item: &str) -> Result<Storage, WmsAbort> {
        Ok(get(&self.tables.item_storage, "item_storage", item)?.unwrap_or_default())
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }
}

/// What an operation decided, taken out of its [`OpTx`] to be written.
struct Decided {
    stocks: Vec<CellState>,
    orders: BTreeMap<String, PickOrder>,
    expected: BTreeMap<String, ExpectedReceipt>,
    movements: Vec<Movement>,
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

/// The body of a handheld operation: decides on what it reads, returns the answer and the
/// documents to send.
pub type OpBody = Box<dyn FnOnce(&mut OpTx<'_>) -> Result<(serde_json::Value, Vec<NewDocument>), WmsAbort> + Send>;

/// Run one operation inside the writer's transaction: replay, or decide then write.
fn run_op(tx: &Txn<'_>, op: &Op, apply: OpBody) -> Result<Result<OpAnswer, WmsAbort>, StoreError> {
    let mut w = WmsTables::open(tx)?;
    if let Some(record) = get::<OpRecord>(&w.ops, "wms_ops", &op.id)? {
        if record.kind != op.kind || record.request != op.request {
            return Ok(Err(refuse(WmsError::IdReused(op.id.clone()))));
        }
        return Ok(Ok(OpAnswer {
            answer: record.answer,
            replayed: true,
        }));
    }
    let mut otx = OpTx {
        tables: &w,
        now: op.now,
        by: op.by.clone(),
        op: op.id.clone(),
        stocks: BTreeMap::new(),
        orders: BTreeMap::new(),
        expected: BTreeMap::new(),
        movements: Vec::new(),
    };
    // Everything up to here only read: a refusal leaves the batch untouched.
    let (answer, documents) = match apply(&mut otx) {
        Ok(decided) => decided,
        Err(refused) => return Ok(Err(refused)),
    };
    let decided = Decided {
        stocks: otx.stocks.into_values().collect(),
        orders: otx.orders,
        expected: otx.expected,
        movements: otx.movements,
    };
    if !documents.is_empty() {
        drop(w);
        if let Err(refused) = outbox::may_number(tx)? {
            return Ok(Err(WmsAbort::Store(refused)));
        }
        w = WmsTables::open(tx)?;
    }
    for state in &decided.stocks {
        if state.before != state.after {
            w.write_stock(&state.cell, &state.before, &state.after)?;
        }
    }
    for (id, order) in &decided.orders {
        w.pick_orders.insert(id.as_str(), encode(order).as_slice())?;
    }
    for (id, e) in &decided.expected {
        w.expected.insert(id.as_str(), encode(e).as_slice())?;
    }
    w.append_log(&decided.movements)?;
    let record = OpRecord {
        kind: op.kind.to_string(),
        request: op.request.clone(),
        answer: answer.clone(),
        at: op.now,
    };
    w.ops.insert(op.id.as_str(), encode(&record).as_slice())?;
    w.ops_by_time.insert((op.now.as_millisecond(), op.id.as_str()), ())?;
    drop(w);
    outbox::append(tx, &outbox::prepare(&documents))?;
    Ok(Ok(OpAnswer { answer, replayed: false }))
}

impl Store {
    /// Run a handheld operation: applied once per id, atomically with its movements,
    /// documents and answer, power-loss durable before returning. A retry with the same id
    /// and request gets the first answer; the same id with another request is refused.
    ///
    /// `apply` runs on the store's writer thread inside the write transaction; it reads only
    /// through its [`OpTx`] and must not block.
    pub async fn wms_operation(
        &self,
        op: Op,
        apply: impl FnOnce(&mut OpTx<'_>) -> Result<(serde_json::Value, Vec<NewDocument>), WmsAbort> + Send + 'static,
    ) -> Result<OpAnswer, WmsAbort> {
        let answer = self
            .inner
            .engine
            .write(Durability::PowerLoss, move |tx| run_op(tx, &op, Box::new(apply)))
            .await?;
        if !answer.replayed {
            Store::signal(&self.inner.outbox_changed);
        }
        Ok(answer)
    }

    /// Make sure a cell exists (the receiving area, which the CRM may not send as a cell).
    pub async fn wms_ensure_cell(&self, cell: &Cell) -> Result<(), StoreError> {
        if self.wms_cell(&cell.id)?.is_some() {
            return Ok(());
        }
        let cell = cell.clone();
        self.inner
            .engine
            .write(Durability::PowerLoss, move |tx| {
                let mut w = WmsTables::open(tx)?;
                if w.cell(&cell.id)?.is_none() {
                    w.put_cell(&cell)?;
                }
                Ok(Ok::<_, StoreError>(()))
            })
            .await
    }

    /// A cell by id, address (any letter case) or label barcode.
    pub fn wms_find_cell(&self, text: &str) -> Result<Option<Cell>, StoreError> {
        let text = text.trim();
        let tx = self.read()?;
        let cells = tx.open_table(CELLS)?;
        if let Some(cell) = get(&cells, "cells", text)? {
            return Ok(Some(cell));
        }
        let codes = tx.open_table(CELL_CODES)?;
        let id = match codes.get(address_key(text).as_str())? {
            Some(id) => Some(id.value().to_string()),
            None => codes.get(barcode_key(text).as_str())?.map(|id| id.value().to_string()),
        };
        match id {
            Some(id) => get(&cells, "cells", &id),
            None => Ok(None),
        }
    }

    pub fn wms_cell(&self, id: &str) -> Result<Option<Cell>, StoreError> {
        get(&self.read()?.open_table(CELLS)?, "cells", id)
    }

    pub fn wms_cell_stock(&self, id: &str) -> Result<CellStock, StoreError> {
        let tx = self.read()?;
        read_stock(&tx.open_table(CELL_LOTS)?, &tx.open_table(CELL_LOCAL)?, id)
    }

    /// The cells holding an item, with their contents.
    pub fn wms_cells_holding(&self, item: &str) -> Result<Vec<CellView>, StoreError> {
        let tx = self.read()?;
        let ids: BTreeSet<String> = get(&tx.open_table(ITEM_CELLS)?, "item_cells", item)?.unwrap_or_default();
        let cells = tx.open_table(CELLS)?;
        let (lots, local) = (tx.open_table(CELL_LOTS)?, tx.open_table(CELL_LOCAL)?);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(cell) = get(&cells, "cells", &id)? {
                out.push(CellView {
                    stock: read_stock(&lots, &local, &id)?,
                    cell,
                });
            }
        }
        Ok(out)
    }

    /// Empty cells of a zone (all zones when `None`) by address, at most `limit`, starting
    /// after the cell `after` of a previous page.
    pub fn wms_empty_cells(&self, zone: Option<&str>, after: Option<&Cell>, limit: usize) -> Result<Vec<Cell>, StoreError> {
        let tx = self.read()?;
        let empty = tx.open_table(EMPTY_CELLS)?;
        let cells = tx.open_table(CELLS)?;
        let (start, end) = match zone {
            Some(z) => {
                let (s, e) = prefix_range(z.as_bytes());
                (s, Some(e))
            }
            None => (Vec::new(), None),
        };
        let from = match after {
            Some(cell) => {
                let mut key = empty_key(cell);
                key.push(0);
                key.max(start)
            }
            None => start,
        };
        let range = match &end {
            Some(end) => empty.range(from.as_slice()..end.as_slice())?,
            None => empty.range(from.as_slice()..)?,
        };
        let mut page = Vec::new();
        for entry in range {
            if page.len() >= limit {
                break;
            }
            let (_, id) = entry?;
            if let Some(cell) = get(&cells, "cells", id.value())? {
                page.push(cell);
            }
        }
        Ok(page)
    }

    /// An item's storage attributes; all unknown when the feed sent none.
    pub fn wms_storage(&self, item: &str) -> Result<Storage, StoreError> {
        Ok(get(&self.read()?.open_table(ITEM_STORAGE)?, "item_storage", item)?.unwrap_or_default())
    }

    pub fn wms_pick_order(&self, id: &str) -> Result<Option<PickOrder>, StoreError> {
        get(&self.read()?.open_table(PICK_ORDERS)?, "pick_orders", id)
    }

    pub fn wms_pick_orders(&self) -> Result<Vec<PickOrder>, StoreError> {
        let tx = self.read()?;
        let orders = tx.open_table(PICK_ORDERS)?;
        orders
            .iter()?
            .map(|r| {
                let (k, v) = r?;
                decode("pick_orders", k.value(), v.value())
            })
            .collect()
    }

    pub fn wms_expected(&self, id: &str) -> Result<Option<ExpectedReceipt>, StoreError> {
        get(&self.read()?.open_table(EXPECTED)?, "expected_receipts", id)
    }

    /// The movement log, oldest first.
    pub fn wms_log(&self) -> Result<Vec<Movement>, StoreError> {
        let tx = self.read()?;
        let log = tx.open_table(WMS_LOG)?;
        log.iter()?
            .map(|r| {
                let (k, v) = r?;
                decode("wms_log", k.value(), v.value())
            })
            .collect()
    }

    /// Every cell's contents, for checks against the log.
    pub fn wms_all_stock(&self) -> Result<Vec<(String, CellStock)>, StoreError> {
        let tx = self.read()?;
        let local = tx.open_table(CELL_LOCAL)?;
        let mut cells: BTreeMap<String, CellStock> = BTreeMap::new();
        for row in tx.open_table(CELL_LOTS)?.iter()? {
            let (key, lot) = row?;
            let (cell, item) = key.value();
            let lot = decode("cell_lots", format_args!("{cell}/{item}"), lot.value())?;
            cells.entry(cell.to_string()).or_default().lines.insert(item.to_string(), lot);
        }
        for row in local.iter()? {
            cells.entry(row?.0.value().to_string()).or_default().local = true;
        }
        Ok(cells.into_iter().collect())
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
        let op = Op {
            id: id.to_string(),
            kind: "pick",
            request: serde_json::json!({"id": id, "qty": qty}),
            now: Timestamp::UNIX_EPOCH,
            by: "test".into(),
        };
        let cell_id = format!("CELL-{address}");
        store
            .wms_operation(op, move |tx| {
                let c = tx.cell(&cell_id)?;
                tx.stock(&cell_id)?.take(&c.address, "I-1", qty).map_err(refuse)?;
                tx.log(MovementKind::Pick, "I-1", Some(&cell_id), None, qty);
                Ok((serde_json::json!({"left": tx.stock(&cell_id)?.qty("I-1")}), Vec::new()))
            })
            .await
    }

    /// Take `qty` of `item` reading only that item's row of the cell.
    async fn take_one_row(store: &Store, id: &str, address: &str, item: &'static str, qty: Decimal) -> OpAnswer {
        let op = Op {
            id: id.to_string(),
            kind: "putaway",
            request: serde_json::json!({"id": id}),
            now: Timestamp::UNIX_EPOCH,
            by: "test".into(),
        };
        let cell_id = format!("CELL-{address}");
        store
            .wms_operation(op, move |tx| {
                let c = tx.cell(&cell_id)?;
                tx.stock_of(&cell_id, item)?.take(&c.address, item, qty).map_err(refuse)?;
                Ok((serde_json::json!({"left": tx.stock_of(&cell_id, item)?.qty(item)}), Vec::new()))
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn taking_one_item_of_a_full_cell_touches_only_its_row_and_knows_when_the_cell_empties() {
        let (store, _dir) = temp_store();
        store
            .apply_feed(
                &[
                    Change::CellUpsert(cell("R-1")),
                    stock("I-1", "R-1", dec!(5)),
                    stock("I-2", "R-1", dec!(7)),
                ],
                "c1",
            )
            .await
            .unwrap();
        let empty = |store: &Store| store.wms_empty_cells(Some("A"), None, 10).unwrap().len();
        assert_eq!(take_one_row(&store, "op-1", "R-1", "I-1", dec!(5)).await.answer["left"], "0");
        let left = store.wms_cell_stock("CELL-R-1").unwrap();
        assert_eq!(
            (left.qty("I-1"), left.qty("I-2")),
            (dec!(0), dec!(7)),
            "the other item's row is untouched"
        );
        assert!(left.local);
        assert_eq!(empty(&store), 0, "the cell still holds I-2");
        take_one_row(&store, "op-2", "R-1", "I-2", dec!(7)).await;
        assert!(store.wms_cell_stock("CELL-R-1").unwrap().is_empty());
        assert_eq!(empty(&store), 1, "now it is empty");
        // Mixing both views in one operation: the whole cell reflects the row already taken.
        store
            .apply_feed(
                &[
                    Change::CellUpsert(cell("R-2")),
                    stock("I-1", "R-2", dec!(2)),
                    stock("I-2", "R-2", dec!(3)),
                ],
                "c2",
            )
            .await
            .unwrap();
        let op = Op {
            id: "op-3".into(),
            kind: "move",
            request: serde_json::json!({"id": "op-3"}),
            now: Timestamp::UNIX_EPOCH,
            by: "test".into(),
        };
        let answer = store
            .wms_operation(op, |tx| {
                tx.stock_of("CELL-R-2", "I-1")?.take("R-2", "I-1", dec!(1)).map_err(refuse)?;
                let whole = tx.stock("CELL-R-2")?.clone();
                Ok((serde_json::json!({"i1": whole.qty("I-1"), "i2": whole.qty("I-2")}), Vec::new()))
            })
            .await
            .unwrap();
        assert_eq!((answer.answer["i1"].as_str(), answer.answer["i2"].as_str()), (Some("1"), Some("3")));
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
        let empty: Vec<String> = store
            .wms_empty_cells(Some("A"), None, 10)
            .unwrap()
            .into_iter()
            .map(|c| c.address)
            .collect();
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
