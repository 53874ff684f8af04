//! The tables of the store and the encodings of their keys.
//!
//! Ids chosen by the CRM (items, clients, cells, orders) are `&str` keys. Storeterm's own ids
//! are UUIDv7, stored as `u128` so that numeric order is time order. Sequence numbers are
//! `u64`. Composite keys are byte strings joined by a `0x00` byte, which sorts before every
//! printable character, so a prefix scan finds exactly one owner's entries.

use super::redo::Txn;
use redb::TableDefinition;

/// Counters and markers: big-endian `u64`s and short texts.
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

pub(super) mod meta_key {
    pub const SCHEMA: &str = "schema";
    pub const STORE_ID: &str = "store_id";
    pub const FEED_CURSOR: &str = "feed_cursor";
    /// The last `seq` given to a document.
    pub const OUTBOX_SEQ: &str = "outbox_seq";
    /// The highest `seq` the CRM confirmed.
    pub const DELIVERED_SEQ: &str = "delivered_seq";
    pub const WMS_LOG_SEQ: &str = "wms_log_seq";
    /// Present while a new or restored store waits for the CRM's last `seq`.
    pub const SEQ_BASE_PENDING: &str = "seq_base_pending";
    /// `outbox_seq` when the store was restored from a backup.
    pub const RESTORED_AT_SEQ: &str = "restored_at_seq";
    /// The log sequence number of the last redo record this state contains.
    pub const REDO_LSN: &str = "redo_lsn";
    /// Rows changed in bulk since the file was last compacted.
    pub const CHURN: &str = "churn";
}

/// item id → `Item`.
pub(super) const ITEMS: TableDefinition<&str, &[u8]> = TableDefinition::new("items");
/// Canonical code (GTIN-14 or text) → item id.
pub(super) const BARCODES: TableDefinition<&str, &str> = TableDefinition::new("barcodes");
/// Scale PLU → item id.
pub(super) const PLUS: TableDefinition<&str, &str> = TableDefinition::new("plus");

/// lane id → lane version (u64 BE) ‖ `Lane`.
pub(super) const LANES: TableDefinition<&str, &[u8]> = TableDefinition::new("lanes");
/// receipt UUIDv7 → `ClosedReceipt`.
pub(super) const RECEIPTS: TableDefinition<u128, &[u8]> = TableDefinition::new("receipts");
/// shift UUIDv7 → `Shift`.
pub(super) const SHIFTS: TableDefinition<u128, &[u8]> = TableDefinition::new("shifts");

/// seq → `Document`, waiting for the CRM.
pub(super) const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// seq → `Parked` (the CRM refused it for good).
pub(super) const PARKED: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox_parked");
/// seq → `Dropped`: a parked document an admin gave up on, with the written reason.
pub(super) const DROPPED: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox_dropped");

/// job UUIDv7 → `PrintJob`.
pub(super) const PRINT_JOBS: TableDefinition<u128, &[u8]> = TableDefinition::new("print_jobs");
/// printer id ‖ 0 ‖ job UUID bytes → (): the jobs a printer has not finished.
pub(super) const PRINT_QUEUE: TableDefinition<&[u8], ()> = TableDefinition::new("print_queue");

/// client id → `Client`.
pub(super) const CLIENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("clients");
/// E.164 ‖ 0 ‖ client id → (): every number of every client.
pub(super) const PHONES: TableDefinition<&[u8], ()> = TableDefinition::new("phones");

/// cell id → `Cell`.
pub(super) const CELLS: TableDefinition<&str, &[u8]> = TableDefinition::new("cells");
/// `a:ADDRESS` / `b:BARCODE` → cell id.
pub(super) const CELL_CODES: TableDefinition<&str, &str> = TableDefinition::new("cell_codes");
/// (cell id, item id) → `Lot`: one row per item in a cell, so a putaway from a receiving cell
/// holding thousands of items writes two rows, not the whole cell.
pub(super) const CELL_LOTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("cell_lots");
/// cell id → (): cells storeterm has moved goods in or out of itself (`CellStock::local`).
pub(super) const CELL_LOCAL: TableDefinition<&str, ()> = TableDefinition::new("cell_local");
/// item id → set of cell ids holding it.
pub(super) const ITEM_CELLS: TableDefinition<&str, &[u8]> = TableDefinition::new("item_cells");
/// zone ‖ 0 ‖ address → cell id: cells holding nothing, for putaway.
pub(super) const EMPTY_CELLS: TableDefinition<&[u8], &str> = TableDefinition::new("empty_cells");
/// item id → `Storage` (weight, volume, zone).
pub(super) const ITEM_STORAGE: TableDefinition<&str, &[u8]> = TableDefinition::new("item_storage");
/// seq → `Movement`, append-only.
pub(super) const WMS_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("wms_log");
/// handheld operation id → the request and the answer given.
pub(super) const WMS_OPS: TableDefinition<&str, &[u8]> = TableDefinition::new("wms_ops");
/// (answered at, ms since the epoch; operation id) → (): for retention.
pub(super) const WMS_OPS_BY_TIME: TableDefinition<(i64, &str), ()> = TableDefinition::new("wms_ops_by_time");
/// order id → `PickOrder`.
pub(super) const PICK_ORDERS: TableDefinition<&str, &[u8]> = TableDefinition::new("pick_orders");
/// delivery id → `ExpectedReceipt`.
pub(super) const EXPECTED: TableDefinition<&str, &[u8]> = TableDefinition::new("expected_receipts");

/// promotion id → `Promotion` (protocol v1.1).
pub(super) const PROMOTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("promotions");
/// item id → its group, for promotions on groups.
pub(super) const ITEM_GROUPS: TableDefinition<&str, &str> = TableDefinition::new("item_groups");
/// client id → `ClientAccount` (bonus balance, credit allowed).
pub(super) const CLIENT_ACCOUNTS: TableDefinition<&str, &[u8]> = TableDefinition::new("client_accounts");

/// group id → `ItemGroup` (name, parent): the catalog's group tree from 1C.
pub(super) const CATALOG_GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("catalog_groups");
/// item id → the shop's stock as the head office counts it (decimal text).
pub(super) const ITEM_STOCK: TableDefinition<&str, &str> = TableDefinition::new("item_stock");

/// receipt UUIDv7 → (): sales 1C acknowledged (`type=sale&mode=success`).
pub(super) const ONEC_SENT: TableDefinition<u128, ()> = TableDefinition::new("onec_sent");
/// receipt UUIDv7 → (): what the last `type=sale&mode=query` handed out, not yet acknowledged.
pub(super) const ONEC_HANDED: TableDefinition<u128, ()> = TableDefinition::new("onec_handed");
/// name → bytes the 1C exchange keeps between exchanges (its price-type and warehouse directory).
pub(super) const ONEC_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("onec_state");
/// client id → `ClientLedger`: the CRM's figures and the receipts they do not count yet.
pub(super) const CLIENT_LEDGERS: TableDefinition<&str, &[u8]> = TableDefinition::new("client_ledgers");
/// return UUIDv7 → `ClosedReturn`.
pub(super) const RETURNS: TableDefinition<u128, &[u8]> = TableDefinition::new("returns");
/// (sale receipt UUID, return UUID) → (): the returns made against each sale.
pub(super) const RETURNS_BY_SALE: TableDefinition<(u128, u128), ()> = TableDefinition::new("returns_by_sale");
/// loyalty card number → client id.
pub(super) const LOYALTY_CARDS: TableDefinition<&str, &str> = TableDefinition::new("loyalty_cards");

/// Create every table, so readers never meet a missing one.
pub(super) fn ensure_all(tx: &Txn<'_>) -> Result<(), redb::TableError> {
    tx.open_table(META)?;
    tx.open_table(ITEMS)?;
    tx.open_table(BARCODES)?;
    tx.open_table(PLUS)?;
    tx.open_table(LANES)?;
    tx.open_table(RECEIPTS)?;
    tx.open_table(SHIFTS)?;
    tx.open_table(OUTBOX)?;
    tx.open_table(PARKED)?;
    tx.open_table(DROPPED)?;
    tx.open_table(PRINT_JOBS)?;
    tx.open_table(PRINT_QUEUE)?;
    tx.open_table(CLIENTS)?;
    tx.open_table(PHONES)?;
    tx.open_table(CELLS)?;
    tx.open_table(CELL_CODES)?;
    tx.open_table(CELL_LOTS)?;
    tx.open_table(CELL_LOCAL)?;
    tx.open_table(ITEM_CELLS)?;
    tx.open_table(EMPTY_CELLS)?;
    tx.open_table(ITEM_STORAGE)?;
    tx.open_table(WMS_LOG)?;
    tx.open_table(WMS_OPS)?;
    tx.open_table(WMS_OPS_BY_TIME)?;
    tx.open_table(PICK_ORDERS)?;
    tx.open_table(EXPECTED)?;
    tx.open_table(PROMOTIONS)?;
    tx.open_table(ITEM_GROUPS)?;
    tx.open_table(CLIENT_ACCOUNTS)?;
    tx.open_table(CATALOG_GROUPS)?;
    tx.open_table(ITEM_STOCK)?;
    tx.open_table(ONEC_SENT)?;
    tx.open_table(ONEC_HANDED)?;
    tx.open_table(ONEC_STATE)?;
    tx.open_table(CLIENT_LEDGERS)?;
    tx.open_table(RETURNS)?;
    tx.open_table(RETURNS_BY_SALE)?;
    tx.open_table(LOYALTY_CARDS)?;
    Ok(())
}

/// `a ‖ 0 ‖ b`.
pub(super) fn joined(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(a.len() + 1 + b.len());
    key.extend_from_slice(a);
    key.push(0);
    key.extend_from_slice(b);
    key
}

/// The range of keys starting with `prefix ‖ 0`.
pub(super) fn prefix_range(prefix: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut start = prefix.to_vec();
    start.push(0);
    let mut end = prefix.to_vec();
    end.push(1);
    (start, end)
}

/// Read a `u64` meta counter inside a write transaction.
pub(super) fn meta_u64(meta: &impl redb::ReadableTable<&'static str, &'static [u8]>, key: &str) -> Result<u64, redb::StorageError> {
    Ok(meta.get(key)?.map(|v| super::read_u64(v.value())).unwrap_or(0))
}
