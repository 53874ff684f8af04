//! The warehouse service behind the handheld API: it turns scanned codes into items and
//! cells (the same barcode grammar as the till), lets the domain decide and runs every
//! movement as one store operation (balances + log + document + answer, flushed).
//!
//! There is no lock here: each operation is a serializable store transaction that reads the
//! balances it changes, so concurrent handhelds are ordered by the store, and a handheld's
//! retry is answered from the operation's stored result.

use crate::config::WmsConfig;
use crate::domain::barcode::{self, BarcodeError, Code, ScanRules};
use crate::domain::catalog::Item;
use crate::domain::document::DocumentKind;
use crate::domain::money::{self, QtyError};
use crate::domain::wms::document::{self as doc, Against, CountLine, Header, ItemRef, OrderRef, PickedLine, ReceiptLine};
use crate::domain::wms::pick::{self, PickOrder, PickStatus, Source};
use crate::domain::wms::putaway::{self, Candidate, Suggestion};
use crate::domain::wms::{self, Cell, CellStock, MovementKind, Storage, WmsError, count};
use crate::store::{ItemLookup, Op, OpTx, Store, StoreError, WmsAbort, refuse};
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Why a warehouse request failed; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum WmsFailure {
    #[error(transparent)]
    Refused(#[from] WmsError),
    #[error("invalid barcode: {0}")]
    Barcode(#[from] BarcodeError),
    #[error("{0}")]
    Qty(#[from] QtyError),
    #[error("{0}")]
    Storage(#[from] StoreError),
}

impl WmsFailure {
    pub fn code(&self) -> &'static str {
        match self {
            WmsFailure::Refused(e) => e.code(),
            WmsFailure::Barcode(_) => "invalid_barcode",
            WmsFailure::Qty(_) => "invalid_qty",
            WmsFailure::Storage(_) => "storage_error",
        }
    }
}

impl From<WmsAbort> for WmsFailure {
    fn from(e: WmsAbort) -> Self {
        match e {
            WmsAbort::Refused(e) => WmsFailure::Refused(e),
            WmsAbort::Store(e) => WmsFailure::Storage(e),
        }
    }
}

/// A line as the handheld sends it: a scanned code and a quantity typed or defaulted.
#[derive(Debug, Clone)]
pub struct CodeQty {
    pub code: String,
    pub qty: String,
}

/// The warehouse of this site. Cheap to clone.
#[derive(Clone)]
pub struct Warehouse {
    store: Store,
    rules: ScanRules,
    receiving: String,
}

/// Check a handheld's operation id: it is the idempotency key of everything the operation does.
fn op_id(id: &str) -> Result<&str, WmsFailure> {
    let id = id.trim();
    if id.is_empty() || id.len() > 100 || id.chars().any(char::is_control) {
        return Err(WmsError::Invalid("the operation id must be 1 to 100 printable characters (a UUID from the handheld)".into()).into());
    }
    Ok(id)
}

#[derive(Serialize)]
struct StockLine {
    item: String,
    name: String,
    qty: Decimal,
}

impl Warehouse {
    /// The warehouse over `store`, with the shop's barcode rules and `[wms]` settings.
    pub fn new(store: Store, rules: ScanRules, config: &WmsConfig) -> Warehouse {
        Warehouse {
            store,
            rules,
            receiving: config.receiving_cell.clone(),
        }
    }

    /// Make sure the receiving cell exists (the CRM need not send it as a cell).
    pub async fn ensure_receiving(&self) -> Result<(), StoreError> {
        let r = &self.receiving;
        self.store
            .wms_ensure_cell(&Cell {
                id: r.clone(),
                address: r.clone(),
                zone: r.clone(),
                barcode: None,
                max_weight: None,
                max_volume: None,
            })
            .await
    }

    pub fn receiving_cell(&self) -> &str {
        &self.receiving
    }

    /// The item a scanned code stands for: a barcode, a scale label's PLU, or the item id typed.
    /// A cell's label scanned where an item was asked for is named as such.
    pub fn item(&self, text: &str) -> Result<Item, WmsFailure> {
        match self.find_item(text) {
            Ok(item) => Ok(item),
            Err(e) => match self.store.wms_find_cell(text)? {
                Some(cell) => Err(WmsError::CellNotItem(cell.address).into()),
                None => Err(e),
            },
        }
    }

    fn find_item(&self, text: &str) -> Result<Item, WmsFailure> {
        let unknown = || WmsFailure::Refused(WmsError::UnknownItem(text.trim().to_string()));
        let code = match barcode::parse_with(text, &self.rules) {
            Ok(code) => code,
            // A typed item id ("I-1001") is no barcode but still names an item.
            Err(e) => return self.store.item(text.trim())?.ok_or(WmsFailure::Barcode(e)),
        };
        match &code {
            Code::Cell(label) => return Err(WmsError::CellNotItem(label.clone()).into()),
            Code::Embedded(label) => {
                if let Some(item) = self.store.item_by_code(&code.catalog_key())? {
                    return Ok(item);
                }
                let bare = label.plu.trim_start_matches('0');
                return match self.store.item_by_plu(&label.plu)? {
                    Some(item) => Ok(item),
                    None if !bare.is_empty() => self.store.item_by_plu(bare)?.ok_or_else(unknown),
                    None => Err(unknown()),
                };
            }
            _ => {}
        }
        if let Some(item) = self.store.item_by_code(&code.catalog_key())? {
            return Ok(item);
        }
        self.store.item(text.trim())?.ok_or_else(unknown)
    }

    /// A cell by its label barcode, its address (any case) or its id.
    pub fn cell(&self, text: &str) -> Result<Cell, WmsFailure> {
        if let Some(cell) = self.store.wms_find_cell(text)? {
            return Ok(cell);
        }
        // The label may carry an AIM prefix or match the configured cell prefixes.
        if let Ok(Code::Cell(label) | Code::Other(label)) = barcode::parse_with(text, &self.rules) {
            if let Some(cell) = self.store.wms_find_cell(&label)? {
                return Ok(cell);
            }
        }
        Err(WmsError::UnknownCell(text.trim().to_string()).into())
    }

    fn qty(&self, text: &str, item: &Item) -> Result<Decimal, WmsFailure> {
        Ok(money::parse_qty(text, item.weighted)?)
    }

    fn name(&self, item: &str) -> String {
        self.store.item(item).ok().flatten().map(|i| i.name).unwrap_or_default()
    }

    fn stock_lines(&self, stock: &CellStock) -> Vec<StockLine> {
        stock
            .lines
            .iter()
            .map(|(item, lot)| StockLine {
                item: item.clone(),
                name: self.name(item),
                qty: lot.qty,
            })
            .collect()
    }

    fn cell_json(&self, cell: &Cell, stock: &CellStock) -> Value {
        json!({
            "id": cell.id, "address": cell.address, "zone": cell.zone, "barcode": cell.barcode,
            "max_weight": cell.max_weight, "max_volume": cell.max_volume,
            "stock": self.stock_lines(stock),
        })
    }

    /// `GET /wms/cells/{code}`: a cell and what it holds.
    pub fn cell_view(&self, text: &str) -> Result<Value, WmsFailure> {
        let cell = self.cell(text)?;
        let stock = self.store.wms_cell_stock(&cell.id)?;
        Ok(self.cell_json(&cell, &stock))
    }

    /// `GET /wms/stock?code=`: the cells holding an item, by address.
    pub fn item_stock(&self, code: &str) -> Result<Value, WmsFailure> {
        let item = self.item(code)?;
        let mut cells = self.store.wms_cells_holding(&item.id)?;
        cells.sort_by(|a, b| wms::address_order(&a.cell.address, &b.cell.address));
        let total: Decimal = cells.iter().map(|c| c.stock.qty(&item.id)).sum();
        let rows: Vec<Value> = cells
            .iter()
            .map(|c| json!({"cell": c.cell.id, "address": c.cell.address, "zone": c.cell.zone, "qty": c.stock.qty(&item.id)}))
            .collect();
        Ok(json!({"item": item.id, "name": item.name, "total": total, "cells": rows}))
    }

    /// `GET /wms/putaway/suggest`: where `qty` of the item should go.
    pub fn suggest(&self, code: &str, qty: &str) -> Result<Suggestion, WmsFailure> {
        let item = self.item(code)?;
        let qty = self.qty(qty, &item)?;
        let storage = self.store.wms_storage(&item.id)?;
        let mut storages: BTreeMap<String, Storage> = BTreeMap::new();
        storages.insert(item.id.clone(), storage.clone());
        let holding: Vec<_> = self
            .store
            .wms_cells_holding(&item.id)?
            .into_iter()
            .filter(|c| c.cell.id != self.receiving)
            .collect();
        for c in &holding {
            for other in c.stock.lines.keys() {
                if !storages.contains_key(other) {
                    storages.insert(other.clone(), self.store.wms_storage(other)?);
                }
            }
        }
        let mut holding = holding;
        holding.sort_by(|a, b| wms::address_order(&a.cell.address, &b.cell.address));
        let storage_of = |i: &str| storages.get(i).cloned().unwrap_or_default();
        let none = CellStock::default();
        let first = putaway::suggest(
            &item.id,
            qty,
            storage_of,
            holding.iter().map(|c| Candidate {
                cell: &c.cell,
                stock: &c.stock,
            }),
            [],
        );
        if let Ok(s) = first {
            return Ok(s);
        }
        // Empty cells in address order, a page at a time, so a full warehouse is not read at once.
        let mut after: Option<Cell> = None;
        loop {
            let page = self.store.wms_empty_cells(storage.zone.as_deref(), after.as_ref(), 256)?;
            after = page.last().cloned();
            let page: Vec<Cell> = page.into_iter().filter(|c| c.id != self.receiving).collect();
            if after.is_none() {
                return Err(WmsError::NoRoom {
                    item: item.name.clone(),
                    zone: storage.zone.clone().unwrap_or_else(|| "any".into()),
                    qty,
                }
                .into());
            }
            let found = putaway::suggest(
                &item.id,
                qty,
                storage_of,
                [],
                page.iter().map(|cell| Candidate { cell, stock: &none }),
            );
            if let Ok(s) = found {
                return Ok(s);
            }
        }
    }

    /// `POST /wms/receipts`: goods arrive in the receiving cell, optionally against an
    /// expected receipt whose differences are reported.
    pub async fn receive(
        &self,
        by: &str,
        id: &str,
        expected: Option<&str>,
        lines: &[CodeQty],
        request: &Value,
    ) -> Result<Value, WmsFailure> {
        let id = op_id(id)?;
        if lines.is_empty() {
            return Err(WmsError::Invalid("a receipt needs at least one line".into()).into());
        }
        let mut resolved = Vec::with_capacity(lines.len());
        for l in lines {
            let item = self.item(&l.code)?;
            let qty = self.qty(&l.qty, &item)?;
            resolved.push((item, l.code.trim().to_string(), qty));
        }
        // Names for the answer, read now: plain store reads must not run inside the operation's
        // transaction (sled would wait on itself).
        let mut names: BTreeMap<String, String> = resolved.iter().map(|(i, _, _)| (i.id.clone(), i.name.clone())).collect();
        if let Some(e) = expected {
            for item in self.store.wms_expected(e)?.map(|e| e.lines).unwrap_or_default().keys() {
                if !names.contains_key(item) {
                    names.insert(item.clone(), self.name(item));
                }
            }
        }
        let document = Uuid::now_v7();
        let receiving = self.receiving.clone();
        let op = Op {
            id: id.to_string(),
            kind: "receipt",
            request: request.clone(),
            now: Timestamp::now(),
            by: by.to_string(),
        };
        let (id, by, expected) = (id.to_string(), by.to_string(), expected.map(str::to_string));
        let answer = self
            .store
            .wms_operation(op, move |tx| {
                let cell = tx.cell(&receiving)?;
                let now = tx.now();
                let mut totals: BTreeMap<String, Decimal> = BTreeMap::new();
                for (item, _, qty) in &resolved {
                    tx.stock(&receiving)?.put(&item.id, *qty, now).map_err(refuse)?;
                    tx.log(MovementKind::Receipt, &item.id, None, Some(&receiving), *qty);
                    *totals.entry(item.id.clone()).or_default() += *qty;
                }
                let (against, differences) = match &expected {
                    Some(e) => {
                        let e = tx.expected(e)?;
                        let diffs = e.receive(&totals);
                        (Some((e.id.clone(), e.number.clone(), e.supplier.clone())), diffs)
                    }
                    None => (None, Vec::new()),
                };
                let doc_lines: Vec<ReceiptLine> = resolved
                    .iter()
                    .map(|(item, code, qty)| ReceiptLine {
                        item: ItemRef::new(item),
                        code: code.clone(),
                        qty: *qty,
                    })
                    .collect();
                let header = Header {
                    document,
                    op: &id,
                    storekeeper: &by,
                    at: now,
                };
                let d = doc::receipt(
                    &header,
                    &cell,
                    against.as_ref().map(|(id, number, supplier)| Against {
                        id,
                        number,
                        supplier: supplier.as_deref(),
                    }),
                    &doc_lines,
                    &differences,
                );
                let answer = json!({
                    "id": &id, "document": document, "cell": cell.id,
                    "expected": against.as_ref().map(|a| &a.0),
                    "lines": doc_lines.iter().map(|l| json!({"item": l.item.item, "name": l.item.name, "qty": l.qty})).collect::<Vec<_>>(),
                    "differences": differences.iter().map(|d| json!({
                        "item": d.item, "name": names.get(&d.item).cloned().unwrap_or_default(),
                        "expected": d.expected, "received": d.received, "diff": d.diff,
                    })).collect::<Vec<_>>(),
                });
                Ok((answer, vec![d]))
            })
            .await?;
        Ok(answer.answer)
    }

    /// `POST /wms/putaway`: from the receiving cell to a storage cell.
    pub async fn putaway(&self, by: &str, id: &str, code: &str, qty: &str, to: &str, request: &Value) -> Result<Value, WmsFailure> {
        let receiving = self.receiving.clone();
        self.transfer(DocumentKind::WmsPutaway, by, id, code, qty, &receiving, to, request)
            .await
    }

    /// `POST /wms/moves`: from one cell to another.
    #[allow(clippy::too_many_arguments)]
    pub async fn move_goods(
        &self,
        by: &str,
        id: &str,
        code: &str,
        qty: &str,
        from: &str,
        to: &str,
        request: &Value,
    ) -> Result<Value, WmsFailure> {
        self.transfer(DocumentKind::WmsMove, by, id, code, qty, from, to, request).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn transfer(
        &self,
        kind: DocumentKind,
        by: &str,
        id: &str,
        code: &str,
        qty: &str,
        from: &str,
        to: &str,
        request: &Value,
    ) -> Result<Value, WmsFailure> {
        let id = op_id(id)?;
        let item = self.item(code)?;
        let qty = self.qty(qty, &item)?;
        let from = self.cell(from)?;
        let to = self.cell(to)?;
        if from.id == to.id {
            return Err(WmsError::SameCell(to.address).into());
        }
        let storage = self.store.wms_storage(&item.id)?;
        if to.id != self.receiving {
            wms::check_zone(&item.name, &storage, &to)?;
        }
        let document = Uuid::now_v7();
        let (op_kind, movement) = match kind {
            DocumentKind::WmsPutaway => ("putaway", MovementKind::Putaway),
            _ => ("move", MovementKind::Move),
        };
        let op = Op {
            id: id.to_string(),
            kind: op_kind,
            request: request.clone(),
            now: Timestamp::now(),
            by: by.to_string(),
        };
        let (id, by) = (id.to_string(), by.to_string());
        let answer = self
            .store
            .wms_operation(op, move |tx| {
                let now = tx.now();
                // Only the item's row of the source: a receiving cell holds thousands.
                tx.stock_of(&from.id, &item.id)?
                    .take(&from.address, &item.id, qty)
                    .map_err(refuse)?;
                tx.stock(&to.id)?.put(&item.id, qty, now).map_err(refuse)?;
                let after = tx.stock(&to.id)?.clone();
                check_capacity(tx, &to, &after)?;
                tx.log(movement, &item.id, Some(&from.id), Some(&to.id), qty);
                let header = Header {
                    document,
                    op: &id,
                    storekeeper: &by,
                    at: now,
                };
                let d = doc::transfer(kind, &header, &item, qty, &from, &to);
                let left = tx.stock_of(&from.id, &item.id)?.qty(&item.id);
                let answer = json!({
                    "id": &id, "document": document, "item": item.id, "name": item.name, "qty": qty,
                    "from": {"cell": from.id, "address": from.address, "left": left},
                    "to": {"cell": to.id, "address": to.address, "now": after.qty(&item.id)},
                });
                Ok((answer, vec![d]))
            })
            .await?;
        Ok(answer.answer)
    }

    /// `GET /wms/picks`: open pick orders, soonest due first.
    pub fn open_picks(&self) -> Result<Value, WmsFailure> {
        let mut orders: Vec<PickOrder> = self
            .store
            .wms_pick_orders()?
            .into_iter()
            .filter(|o| o.status == PickStatus::Open)
            .collect();
        orders.sort_by(|a, b| (a.due.is_none(), a.due, &a.number).cmp(&(b.due.is_none(), b.due, &b.number)));
        Ok(Value::Array(
            orders
                .iter()
                .map(|o| {
                    json!({
                        "order": o.id, "number": o.number, "client": o.client, "due": o.due,
                        "lines": o.lines.len(),
                        "qty": o.lines.iter().map(|l| l.qty).sum::<Decimal>(),
                        "picked": o.lines.iter().map(|l| l.picked).sum::<Decimal>(),
                    })
                })
                .collect(),
        ))
    }

    /// `GET /wms/picks/{order}`: lines with the cells to take from, and the walking route.
    pub fn pick_plan(&self, order: &str) -> Result<Value, WmsFailure> {
        let order = self
            .store
            .wms_pick_order(order)?
            .ok_or_else(|| WmsError::UnknownOrder(order.to_string()))?;
        let mut lines = Vec::new();
        let mut stops = Vec::new();
        for line in &order.lines {
            let holding: Vec<_> = self
                .store
                .wms_cells_holding(&line.item)?
                .into_iter()
                .filter(|c| c.cell.id != self.receiving)
                .collect();
            let sources: Vec<Source<'_>> = holding
                .iter()
                .filter_map(|c| c.stock.lines.get(&line.item).map(|lot| Source { cell: &c.cell, lot }))
                .collect();
            let (take, short) = pick::allocate(&line.item, line.remaining(), &sources);
            lines.push(json!({
                "item": line.item, "name": self.name(&line.item), "qty": line.qty, "picked": line.picked,
                "remaining": line.remaining(), "short": short,
                "take": take.iter().map(|s| json!({"cell": s.cell, "address": s.address, "qty": s.qty})).collect::<Vec<_>>(),
            }));
            stops.extend(take);
        }
        let route: Vec<Value> = pick::route(stops)
            .into_iter()
            .map(|s| json!({"cell": s.cell, "address": s.address, "item": s.item, "name": self.name(&s.item), "qty": s.qty}))
            .collect();
        Ok(json!({
            "order": order.id, "number": order.number, "client": order.client, "due": order.due,
            "status": order.status, "lines": lines, "route": route,
        }))
    }

    /// `POST /wms/picks/{order}/scan`: goods taken from a cell for the order.
    #[allow(clippy::too_many_arguments)]
    pub async fn pick_scan(
        &self,
        by: &str,
        order: &str,
        id: &str,
        cell: &str,
        code: &str,
        qty: &str,
        request: &Value,
    ) -> Result<Value, WmsFailure> {
        let id = op_id(id)?;
        let cell = self.cell(cell)?;
        let item = self.item(code)?;
        let qty = self.qty(qty, &item)?;
        let document = Uuid::now_v7();
        let op = Op {
            id: id.to_string(),
            kind: "pick",
            request: request.clone(),
            now: Timestamp::now(),
            by: by.to_string(),
        };
        let (id, by, order) = (id.to_string(), by.to_string(), order.to_string());
        let answer = self
            .store
            .wms_operation(op, move |tx| {
                let now = tx.now();
                let o = tx.order(&order)?;
                o.record(&item.id, qty).map_err(refuse)?;
                let o = o.clone();
                tx.stock(&cell.id)?.take(&cell.address, &item.id, qty).map_err(refuse)?;
                tx.log(MovementKind::Pick, &item.id, Some(&cell.id), None, qty);
                let header = Header {
                    document,
                    op: &id,
                    storekeeper: &by,
                    at: now,
                };
                let r = OrderRef {
                    id: &o.id,
                    number: &o.number,
                    client: o.client.as_deref(),
                };
                let d = doc::pick_scan(&header, &r, &item, qty, &cell);
                let line = o.lines.iter().find(|l| l.item == item.id);
                let answer = json!({
                    "id": &id, "document": document, "order": o.id, "number": o.number,
                    "item": item.id, "name": item.name, "qty": qty, "cell": cell.id, "address": cell.address,
                    "line": line.map(|l| json!({"qty": l.qty, "picked": l.picked, "remaining": l.remaining()})),
                    "remaining": o.lines.iter().map(|l| l.remaining()).sum::<Decimal>(),
                    "done": o.is_fully_picked(),
                    "left_in_cell": tx.stock(&cell.id)?.qty(&item.id),
                });
                Ok((answer, vec![d]))
            })
            .await?;
        Ok(answer.answer)
    }

    /// `POST /wms/picks/{order}/complete`: close the order (short lines are reported).
    pub async fn pick_complete(&self, by: &str, order: &str, id: Option<&str>, request: &Value) -> Result<Value, WmsFailure> {
        // Without an id from the handheld, completing an order is idempotent by itself.
        let derived = format!("complete:{order}");
        let id = op_id(id.unwrap_or(&derived))?;
        let names: BTreeMap<String, String> = match self.store.wms_pick_order(order)? {
            Some(o) => o.lines.iter().map(|l| (l.item.clone(), self.name(&l.item))).collect(),
            None => BTreeMap::new(),
        };
        let document = Uuid::now_v7();
        let op = Op {
            id: id.to_string(),
            kind: "pick_complete",
            request: request.clone(),
            now: Timestamp::now(),
            by: by.to_string(),
        };
        let (id, by, order) = (id.to_string(), by.to_string(), order.to_string());
        let answer = self
            .store
            .wms_operation(op, move |tx| {
                let now = tx.now();
                let o = tx.order(&order)?;
                if o.status == PickStatus::Completed {
                    return Err(refuse(WmsError::OrderCompleted(o.number.clone())));
                }
                o.complete(now);
                let o = o.clone();
                let lines: Vec<PickedLine> = o
                    .lines
                    .iter()
                    .map(|l| PickedLine {
                        item: l.item.clone(),
                        name: names.get(&l.item).cloned().unwrap_or_default(),
                        qty: l.qty,
                        picked: l.picked,
                        short: l.remaining(),
                    })
                    .collect();
                let header = Header {
                    document,
                    op: &id,
                    storekeeper: &by,
                    at: now,
                };
                let r = OrderRef {
                    id: &o.id,
                    number: &o.number,
                    client: o.client.as_deref(),
                };
                let d = doc::pick_complete(&header, &r, &lines);
                let answer = json!({
                    "id": &id, "document": document, "order": o.id, "number": o.number, "status": o.status,
                    "complete": o.is_fully_picked(), "lines": lines,
                });
                Ok((answer, vec![d]))
            })
            .await?;
        Ok(answer.answer)
    }

    /// `POST /wms/counts`: set a cell to what was counted.
    pub async fn count(&self, by: &str, id: &str, cell: &str, lines: &[CodeQty], request: &Value) -> Result<Value, WmsFailure> {
        let id = op_id(id)?;
        let cell = self.cell(cell)?;
        let mut counted: BTreeMap<String, Decimal> = BTreeMap::new();
        let mut items: BTreeMap<String, Item> = BTreeMap::new();
        for l in lines {
            let item = self.item(&l.code)?;
            let qty = l.qty.trim().replace(',', ".");
            let qty: Decimal = match qty.parse::<Decimal>() {
                Ok(q) if q.is_zero() => q,
                _ => self.qty(&l.qty, &item)?,
            };
            *counted.entry(item.id.clone()).or_default() += qty;
            items.insert(item.id.clone(), item);
        }
        // Items the system has in the cell but the count did not list: named in the document too.
        for item in self.store.wms_cell_stock(&cell.id)?.lines.keys() {
            if !items.contains_key(item) {
                if let Some(i) = self.store.item(item)? {
                    items.insert(item.clone(), i);
                }
            }
        }
        let document = Uuid::now_v7();
        let op = Op {
            id: id.to_string(),
            kind: "count",
            request: request.clone(),
            now: Timestamp::now(),
            by: by.to_string(),
        };
        let (id, by) = (id.to_string(), by.to_string());
        let answer = self
            .store
            .wms_operation(op, move |tx| {
                let now = tx.now();
                let diffs = count::apply(tx.stock(&cell.id)?, &counted, now);
                for d in &diffs {
                    if d.diff > Decimal::ZERO {
                        tx.log(MovementKind::Count, &d.item, None, Some(&cell.id), d.diff);
                    } else if d.diff < Decimal::ZERO {
                        tx.log(MovementKind::Count, &d.item, Some(&cell.id), None, -d.diff);
                    }
                }
                let lines: Vec<CountLine> = diffs
                    .iter()
                    .map(|d| CountLine {
                        item: items.get(&d.item).map(ItemRef::new).unwrap_or_else(|| ItemRef {
                            item: d.item.clone(),
                            sku: String::new(),
                            name: String::new(),
                            unit: String::new(),
                        }),
                        counted: d.clone(),
                    })
                    .collect();
                let header = Header {
                    document,
                    op: &id,
                    storekeeper: &by,
                    at: now,
                };
                let d = doc::count(&header, &cell, &lines);
                let answer = json!({
                    "id": &id, "document": document, "cell": cell.id, "address": cell.address,
                    "lines": lines.iter().map(|l| json!({
                        "item": l.item.item, "name": l.item.name, "system": l.counted.system,
                        "counted": l.counted.counted, "diff": l.counted.diff,
                    })).collect::<Vec<_>>(),
                    "differences": diffs.iter().filter(|d| !d.diff.is_zero()).count(),
                });
                Ok((answer, vec![d]))
            })
            .await?;
        Ok(answer.answer)
    }
}

/// Check a cell's contents after a change against its limits, with the storage data of
/// every item in it read inside the transaction.
fn check_capacity(tx: &mut OpTx<'_>, cell: &Cell, after: &CellStock) -> Result<(), WmsAbort> {
    let mut storages = BTreeMap::new();
    for item in after.lines.keys() {
        storages.insert(item.clone(), tx.storage(item)?);
    }
    wms::check_capacity(cell, after, |i| storages.get(i).cloned().unwrap_or_default()).map_err(refuse)?;
    Ok(())
}
