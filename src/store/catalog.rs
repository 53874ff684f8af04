//! The catalog as pulled from the CRM: items, the barcode index and the scale PLU index.

use super::{Store, StoreError, abort, decode, encode, meta_key};
use crate::domain::barcode;
use crate::domain::catalog::Item;
use crate::domain::feed::Change;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionResult, TransactionalTree};
use std::collections::BTreeMap;

/// What applying one page of the change feed did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FeedApplied {
    pub upserted: usize,
    pub deleted: usize,
    /// Changes of kinds this build does not handle, by kind.
    pub skipped: BTreeMap<String, usize>,
}

/// How a scanned code found (or did not find) an item.
pub trait ItemLookup {
    fn item_by_code(&self, catalog_key: &str) -> Result<Option<Item>, StoreError>;
}

impl ItemLookup for Store {
    fn item_by_code(&self, catalog_key: &str) -> Result<Option<Item>, StoreError> {
        let Some(id) = self.trees.barcodes.get(catalog_key.as_bytes())? else {
            return Ok(None);
        };
        self.item(&String::from_utf8_lossy(&id))
    }
}

impl Store {
    /// An item by its CRM id.
    pub fn item(&self, id: &str) -> Result<Option<Item>, StoreError> {
        self.trees
            .items
            .get(id.as_bytes())?
            .map(|v| decode("items", id.as_bytes(), &v))
            .transpose()
    }

    /// An item by its scale PLU.
    pub fn item_by_plu(&self, plu: &str) -> Result<Option<Item>, StoreError> {
        let Some(id) = self.trees.plus.get(plu.as_bytes())? else {
            return Ok(None);
        };
        self.item(&String::from_utf8_lossy(&id))
    }

    pub fn item_count(&self) -> usize {
        self.trees.items.len()
    }

    /// The cursor to continue the change feed from.
    pub fn feed_cursor(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .trees
            .meta
            .get(meta_key::FEED_CURSOR)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Apply one page of the change feed and its cursor atomically, then flush: either the
    /// whole page is in the catalog and the cursor moved past it, or neither.
    pub async fn apply_feed(&self, changes: &[Change], cursor: &str) -> Result<FeedApplied, StoreError> {
        let t = &self.trees;
        let mut trees = vec![&t.meta, &t.items, &t.barcodes, &t.plus, &t.clients, &t.phones];
        trees.extend(t.wms.all());
        let now = jiff::Timestamp::now();
        let applied = trees.as_slice().transaction(|tx| {
            let (meta, items, barcodes, plus) = (&tx[0], &tx[1], &tx[2], &tx[3]);
            let (clients, phones) = (&tx[4], &tx[5]);
            let warehouse = super::wms::Tx::new(&tx[6..]);
            let mut applied = FeedApplied::default();
            for change in changes {
                // Cells, stock, pick orders, expected receipts and item storage attributes.
                if warehouse.apply_change(meta, change, now)? {
                    applied.upserted += 1;
                    continue;
                }
                match change {
                    Change::ItemUpsert(item) => {
                        remove_item(items, barcodes, plus, &item.id)?;
                        items.insert(item.id.as_bytes(), encode(item))?;
                        for code in &item.barcodes {
                            barcodes.insert(barcode::catalog_key(code).as_bytes(), item.id.as_bytes())?;
                        }
                        if let Some(p) = &item.plu {
                            plus.insert(p.as_bytes(), item.id.as_bytes())?;
                        }
                        applied.upserted += 1;
                    }
                    Change::ItemDelete(id) => {
                        if remove_item(items, barcodes, plus, id)? {
                            applied.deleted += 1;
                        }
                    }
                    Change::ClientUpsert(client) => {
                        super::clients::upsert_client(clients, phones, client, self.phone_country)?;
                        applied.upserted += 1;
                    }
                    Change::ClientDelete(id) => {
                        if super::clients::remove_client(clients, phones, id, self.phone_country)? {
                            applied.deleted += 1;
                        }
                    }
                    Change::Skipped { kind } => *applied.skipped.entry(kind.clone()).or_default() += 1,
                    // Handled by the warehouse above.
                    Change::ItemStorage { .. }
                    | Change::CellUpsert(_)
                    | Change::CellDelete(_)
                    | Change::StockUpsert { .. }
                    | Change::PickOrderUpsert(_)
                    | Change::PickOrderDelete(_)
                    | Change::ExpectedReceiptUpsert(_)
                    | Change::ExpectedReceiptDelete(_) => {}
                }
            }
            meta.insert(meta_key::FEED_CURSOR, cursor.as_bytes())?;
            Ok(applied)
        })?;
        self.flush().await?;
        Ok(applied)
    }
}

/// Remove an item and the index entries that still point at it. An index entry that another
/// item has since claimed (a barcode moved between items) is left alone.
fn remove_item(
    items: &TransactionalTree,
    barcodes: &TransactionalTree,
    plus: &TransactionalTree,
    id: &str,
) -> ConflictableTransactionResult<bool, StoreError> {
    let Some(old) = items.remove(id.as_bytes())? else {
        return Ok(false);
    };
    let old: Item = decode("items", id.as_bytes(), &old).map_err(abort)?;
    let keys = old.barcodes.iter().map(|c| (barcodes, barcode::catalog_key(c)));
    for (tree, key) in keys.chain(old.plu.iter().map(|p| (plus, p.clone()))) {
        if tree.get(key.as_bytes())?.as_deref() == Some(id.as_bytes()) {
            tree.remove(key.as_bytes())?;
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temp_store;
    use rust_decimal_macros::dec;

    fn milk(barcodes: &[&str]) -> Item {
        Item {
            id: "I-1001".into(),
            sku: "A-1001".into(),
            name: "Молоко 3,2% 1 л".into(),
            unit: "pcs".into(),
            vat: "20".into(),
            weighted: false,
            marked: false,
            mark_group: None,
            plu: None,
            barcodes: barcodes.iter().map(|s| s.to_string()).collect(),
            prices: [("retail".to_string(), dec!(89.90))].into(),
        }
    }

    #[tokio::test]
    async fn upsert_reindexes_barcodes_and_delete_removes_them() {
        let (store, _dir) = temp_store();
        store
            .apply_feed(&[Change::ItemUpsert(milk(&["4601234567893"]))], "c1")
            .await
            .unwrap();
        assert_eq!(store.item_by_code("04601234567893").unwrap().unwrap().id, "I-1001");

        // The barcode changed: the old one must stop finding the item.
        let applied = store
            .apply_feed(
                &[
                    Change::ItemUpsert(milk(&["036000291452"])),
                    Change::Skipped { kind: "client".into() },
                ],
                "c2",
            )
            .await
            .unwrap();
        assert_eq!(applied.upserted, 1);
        assert_eq!(applied.skipped["client"], 1);
        assert!(store.item_by_code("04601234567893").unwrap().is_none());
        assert!(store.item_by_code("00036000291452").unwrap().is_some());
        assert_eq!(store.feed_cursor().unwrap().as_deref(), Some("c2"));

        store.apply_feed(&[Change::ItemDelete("I-1001".into())], "c3").await.unwrap();
        assert!(store.item_by_code("00036000291452").unwrap().is_none());
        assert!(store.item("I-1001").unwrap().is_none());
    }
}
