//! What the CRM's change feed (or 1C's CommerceML exchange) asks the shop to change: the
//! typed form every source of catalog, client and warehouse data is decoded into before the
//! store applies it. Decoding lives with each source (`sync::feed`, `sync::commerceml`); this
//! type is what crosses from the link to the store.

use crate::domain::catalog::Item;
use crate::domain::client::{Client, ClientAccount};
use crate::domain::promotion::Promotion;
use crate::domain::wms;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A change storeterm understands. Serializable so an import can spool the changes of a
/// file it is still checking (`sync::commerceml::import`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// New prices of an item the catalog already holds (1C's offers carry prices apart from the
    /// goods they price). The store merges them into the item: each price type named here is
    /// set, the others keep their value. An item the store does not know is skipped and counted:
    /// 1C sends goods before their prices, so it means the item was refused or deleted.
    ItemPrices {
        item: String,
        /// Price per price type (`retail`, …), the same keys as [`Item::prices`].
        prices: BTreeMap<String, Decimal>,
    },
    /// The shop's stock of an item as the head office counts it (1C's `Остатки`): the amount in
    /// the warehouse the shop is configured for, or the total. It replaces the previous figure;
    /// it is not a cell balance (that is [`Change::StockUpsert`]).
    ItemStock {
        item: String,
        qty: Decimal,
    },
    /// A characteristic of a product (size, colour…) sold as an item of its own, with its own
    /// id (1C's `товар#характеристика`), name and barcodes. The store builds the item from the
    /// product's with [`ItemVariant::to_item`]: unit, VAT and marking come from the product.
    ItemVariant(ItemVariant),
    /// A node of the catalog's group tree (1C's `Классификатор/Группы`).
    GroupUpsert(ItemGroup),
    /// An item as 1C's catalog (`import.xml`) describes it: every field but the prices, which
    /// 1C sends apart (in the offers, often in a later exchange — a changes-only exchange may
    /// resend a product whose price did not change). The store upserts the item **keeping its
    /// stored prices**; `item.prices` is empty. `groups` are the item's catalog groups (1C's
    /// `Товар/Группы`), replacing the previous list.
    ItemDetails {
        item: Item,
        groups: Vec<String>,
    },
}

/// A catalog group; `parent` is `None` at the top of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemGroup {
    pub id: String,
    pub name: String,
    pub parent: Option<String>,
}

/// A sellable characteristic of a product, as 1C's offers describe it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemVariant {
    /// The variant's own id, `product#characteristic`.
    pub id: String,
    /// The product it is a characteristic of.
    pub product: String,
    /// The name 1C composed for the offer, when it sent one.
    pub name: Option<String>,
    /// The characteristic's values in 1C's order (`Размер` = `40`, `Цвет` = `Коричневый`).
    pub characteristics: Vec<(String, String)>,
    pub barcodes: Vec<String>,
    /// The variant's own article, when it has one.
    pub sku: Option<String>,
}

impl ItemVariant {
    /// The variant's name: 1C's own when it sent one, else the product's name with the
    /// characteristic's values in brackets ("Ботфорты (40, Коричневый)").
    pub fn name_for(&self, product_name: &str) -> String {
        if let Some(name) = self.name.as_deref().filter(|n| !n.trim().is_empty()) {
            return name.to_string();
        }
        let values: Vec<&str> = self
            .characteristics
            .iter()
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            product_name.to_string()
        } else {
            format!("{product_name} ({})", values.join(", "))
        }
    }

    /// The item a till sells for this variant. Unit, VAT, weighing and marking are the
    /// product's (1C keeps them on the product, not on the characteristic); prices are the
    /// variant's own as already stored (`current`), because 1C prices each characteristic
    /// separately and the product's price is not the variant's.
    pub fn to_item(&self, product: &Item, current: Option<&Item>) -> Item {
        Item {
            id: self.id.clone(),
            sku: self.sku.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| product.sku.clone()),
            name: self.name_for(&product.name),
            unit: product.unit.clone(),
            vat: product.vat.clone(),
            weighted: product.weighted,
            marked: product.marked,
            mark_group: product.mark_group.clone(),
            plu: None,
            barcodes: self.barcodes.clone(),
            prices: current.map(|c| c.prices.clone()).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn boots() -> Item {
        Item {
            id: "P1".into(),
            sku: "Б-130001".into(),
            name: "Ботфорты женские".into(),
            unit: "pair".into(),
            vat: "20".into(),
            weighted: false,
            marked: true,
            mark_group: Some("shoes".into()),
            plu: None,
            barcodes: vec!["2000018987155".into()],
            prices: BTreeMap::from([("retail".to_string(), dec!(1500.00))]),
        }
    }

    fn size_40() -> ItemVariant {
        ItemVariant {
            id: "P1#C40".into(),
            product: "P1".into(),
            name: None,
            characteristics: vec![("Размер".into(), "40".into()), ("Цвет".into(), "Коричневый".into())],
            barcodes: vec!["2000018987162".into()],
            sku: None,
        }
    }

    #[test]
    fn a_variant_takes_the_products_unit_vat_and_marking_but_its_own_codes_and_prices() {
        let current = Item {
            prices: BTreeMap::from([("retail".to_string(), dec!(1719.00))]),
            ..boots()
        };
        let item = size_40().to_item(&boots(), Some(&current));
        assert_eq!(item.id, "P1#C40");
        assert_eq!(item.name, "Ботфорты женские (40, Коричневый)");
        assert_eq!(item.sku, "Б-130001");
        assert_eq!((item.unit.as_str(), item.vat.as_str(), item.marked), ("pair", "20", true));
        assert_eq!(item.mark_group.as_deref(), Some("shoes"));
        assert_eq!(item.barcodes, vec!["2000018987162".to_string()]);
        assert_eq!(item.prices.get("retail"), Some(&dec!(1719.00)));
        // A new variant has no price until 1C's prices arrive: it cannot be sold at the
        // product's price by mistake.
        assert!(size_40().to_item(&boots(), None).prices.is_empty());
    }

    #[test]
    fn one_c_s_own_offer_name_wins() {
        let v = ItemVariant {
            name: Some("Ботфорты женские (40)".into()),
            ..size_40()
        };
        assert_eq!(v.name_for("Ботфорты женские"), "Ботфорты женские (40)");
        let bare = ItemVariant {
            characteristics: vec![],
            ..size_40()
        };
        assert_eq!(bare.name_for("Ботфорты женские"), "Ботфорты женские");
    }
}

/// A retail change of protocol v1.1: promotions, an item's group, a client's loyalty balance
/// and credit permission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
