//! The `wms_*` documents: every movement goes up to the CRM with what it needs to post it
//! (items with sku/name/unit, cells with address and zone, the storekeeper, the handheld's
//! operation id). Field reference: `docs/crm-protocol.md`.

use super::Cell;
use super::count::Counted;
use super::receipt::Difference;
use crate::domain::catalog::Item;
use crate::domain::document::{DocumentKind, NewDocument};
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

/// An item as documents name it.
#[derive(Debug, Clone, Serialize)]
pub struct ItemRef {
    pub item: String,
    pub sku: String,
    pub name: String,
    pub unit: String,
}

impl ItemRef {
    pub fn new(item: &Item) -> ItemRef {
        ItemRef {
            item: item.id.clone(),
            sku: item.sku.clone(),
            name: item.name.clone(),
            unit: item.unit.clone(),
        }
    }
}

/// A cell as documents name it.
#[derive(Debug, Clone, Serialize)]
pub struct CellRef {
    pub id: String,
    pub address: String,
    pub zone: String,
}

impl CellRef {
    pub fn new(cell: &Cell) -> CellRef {
        CellRef {
            id: cell.id.clone(),
            address: cell.address.clone(),
            zone: cell.zone.clone(),
        }
    }
}

/// Who did it and when, common to every WMS document.
pub struct Header<'a> {
    pub document: Uuid,
    /// The handheld's operation id.
    pub op: &'a str,
    pub storekeeper: &'a str,
    pub at: Timestamp,
}

#[derive(Serialize)]
pub struct ReceiptLine {
    #[serde(flatten)]
    pub item: ItemRef,
    pub code: String,
    pub qty: Decimal,
}

#[derive(Serialize)]
struct ReceiptData<'a> {
    op: &'a str,
    storekeeper: &'a str,
    at: Timestamp,
    cell: CellRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier: Option<&'a str>,
    lines: &'a [ReceiptLine],
    differences: &'a [Difference],
}

/// What an expected receipt contributes to a `wms_receipt` document.
pub struct Against<'a> {
    pub id: &'a str,
    pub number: &'a str,
    pub supplier: Option<&'a str>,
}

/// `wms_receipt`: goods arrived in the receiving cell.
pub fn receipt(
    h: &Header<'_>,
    cell: &Cell,
    against: Option<Against<'_>>,
    lines: &[ReceiptLine],
    differences: &[Difference],
) -> NewDocument {
    let data = ReceiptData {
        op: h.op,
        storekeeper: h.storekeeper,
        at: h.at,
        cell: CellRef::new(cell),
        expected: against.as_ref().map(|a| a.id),
        expected_number: against.as_ref().map(|a| a.number),
        supplier: against.as_ref().and_then(|a| a.supplier),
        lines,
        differences,
    };
    NewDocument::new(h.document, DocumentKind::WmsReceipt, h.at, data)
}

#[derive(Serialize)]
struct TransferData<'a> {
    op: &'a str,
    storekeeper: &'a str,
    at: Timestamp,
    #[serde(flatten)]
    item: ItemRef,
    qty: Decimal,
    from: CellRef,
    to: CellRef,
}

/// `wms_putaway` (receiving → cell) or `wms_move` (cell → cell).
pub fn transfer(kind: DocumentKind, h: &Header<'_>, item: &Item, qty: Decimal, from: &Cell, to: &Cell) -> NewDocument {
    let data = TransferData {
        op: h.op,
        storekeeper: h.storekeeper,
        at: h.at,
        item: ItemRef::new(item),
        qty,
        from: CellRef::new(from),
        to: CellRef::new(to),
    };
    NewDocument::new(h.document, kind, h.at, data)
}

/// The order a pick document belongs to.
pub struct OrderRef<'a> {
    pub id: &'a str,
    pub number: &'a str,
    pub client: Option<&'a str>,
}

#[derive(Serialize)]
struct PickScanData<'a> {
    op: &'a str,
    event: &'static str,
    storekeeper: &'a str,
    at: Timestamp,
    order: &'a str,
    number: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a str>,
    #[serde(flatten)]
    item: ItemRef,
    qty: Decimal,
    cell: CellRef,
}

/// `wms_pick` with `"event": "scan"`: goods taken from a cell for an order.
pub fn pick_scan(h: &Header<'_>, order: &OrderRef<'_>, item: &Item, qty: Decimal, cell: &Cell) -> NewDocument {
    let data = PickScanData {
        op: h.op,
        event: "scan",
        storekeeper: h.storekeeper,
        at: h.at,
        order: order.id,
        number: order.number,
        client: order.client,
        item: ItemRef::new(item),
        qty,
        cell: CellRef::new(cell),
    };
    NewDocument::new(h.document, DocumentKind::WmsPick, h.at, data)
}

/// One line of a completed order.
#[derive(Debug, Clone, Serialize)]
pub struct PickedLine {
    pub item: String,
    pub name: String,
    pub qty: Decimal,
    pub picked: Decimal,
    /// qty − picked, when the order was closed short.
    pub short: Decimal,
}

#[derive(Serialize)]
struct PickCompleteData<'a> {
    op: &'a str,
    event: &'static str,
    storekeeper: &'a str,
    at: Timestamp,
    order: &'a str,
    number: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a str>,
    lines: &'a [PickedLine],
}

/// `wms_pick` with `"event": "complete"`: the order is picked (or closed short).
pub fn pick_complete(h: &Header<'_>, order: &OrderRef<'_>, lines: &[PickedLine]) -> NewDocument {
    let data = PickCompleteData {
        op: h.op,
        event: "complete",
        storekeeper: h.storekeeper,
        at: h.at,
        order: order.id,
        number: order.number,
        client: order.client,
        lines,
    };
    NewDocument::new(h.document, DocumentKind::WmsPick, h.at, data)
}

#[derive(Serialize)]
pub struct CountLine {
    #[serde(flatten)]
    pub item: ItemRef,
    #[serde(flatten)]
    pub counted: Counted,
}

#[derive(Serialize)]
struct CountData<'a> {
    op: &'a str,
    storekeeper: &'a str,
    at: Timestamp,
    cell: CellRef,
    lines: &'a [CountLine],
}

/// `wms_count`: a cell counted; every line has the system's and the counted quantity.
pub fn count(h: &Header<'_>, cell: &Cell, lines: &[CountLine]) -> NewDocument {
    let data = CountData {
        op: h.op,
        storekeeper: h.storekeeper,
        at: h.at,
        cell: CellRef::new(cell),
        lines,
    };
    NewDocument::new(h.document, DocumentKind::WmsCount, h.at, data)
}
