//! What the CRM's change feed (or 1C's CommerceML exchange) asks the shop to change: the
//! typed form every source of catalog, client and warehouse data is decoded into before the
//! store applies it. Decoding lives with each source (`sync::feed`, `sync::commerceml`); this
//! type is what crosses from the link to the store.

use crate::domain::catalog::Item;
use crate::domain::client::Client;
use crate::domain::wms;
use rust_decimal::Decimal;

/// A change storeterm understands.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    ItemUpsert(Item),
    ItemDelete(String),
    ClientUpsert(Client),
    ClientDelete(String),
    /// An item's storage attributes (weight, volume, zone) for the warehouse.
    ItemStorage {
        item: String,
        storage: wms::Storage,
    },
    CellUpsert(wms::Cell),
    CellDelete(String),
    /// A starting balance of an item in a cell.
    StockUpsert {
        item: String,
        cell: String,
        qty: Decimal,
    },
    PickOrderUpsert(wms::pick::PickOrder),
    PickOrderDelete(String),
    ExpectedReceiptUpsert(wms::receipt::ExpectedReceipt),
    ExpectedReceiptDelete(String),
    /// A kind this build does not handle; counted, never fatal.
    Skipped {
        kind: String,
    },
}
