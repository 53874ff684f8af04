//! What the CRM's change feed (or 1C's CommerceML exchange) asks the shop to change: the
//! typed form every source of catalog, client and warehouse data is decoded into before the
//! store applies it. Decoding lives with each source (`sync::feed`, `sync::commerceml`); this
//! type is what crosses from the link to the store.

use crate::domain::catalog::Item;
use crate::domain::client::{Client, ClientAccount};
use crate::domain::promotion::Promotion;
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
    /// A retail change of protocol v1.1 (promotions, an item's group, a client's account).
    Retail(RetailChange),
    /// A kind this build does not handle; counted, never fatal.
    Skipped {
        kind: String,
    },
}

/// A retail change of protocol v1.1: promotions, an item's group, a client's loyalty balance
/// and credit permission.
#[derive(Debug, Clone, PartialEq)]
pub enum RetailChange {
    PromotionUpsert(Promotion),
    PromotionDelete(String),
    /// The item's group for promotions on groups (`None`: the item has none any more).
    ItemGroup {
        item: String,
        group: Option<String>,
    },
    /// A client's v1.1 fields, sent with every client upsert.
    ClientAccount {
        client: String,
        account: ClientAccount,
    },
}

impl RetailChange {
    /// The feed kind this change came from, for counting and logging.
    pub fn kind(&self) -> &'static str {
        match self {
            RetailChange::PromotionUpsert(_) | RetailChange::PromotionDelete(_) => "promotion",
            RetailChange::ItemGroup { .. } => "item.group",
            RetailChange::ClientAccount { .. } => "client.bonus_balance",
        }
    }
}
