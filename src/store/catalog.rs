//! The catalog as pulled from the CRM: items, the barcode index and the scale PLU index, and
//! the application of a change-feed page to every table it touches.

use super::clients::ClientRow;
use super::engine::Durability;
use super::redo::{Recorded, Txn};
use super::tables::{BARCODES, CATALOG_GROUPS, CLIENTS, ITEM_STOCK, ITEMS, META, PHONES, PLUS, meta_key};
use super::{Store, StoreError, clients, count_churn, encode, records, wms};
use crate::domain::barcode;
use crate::domain::catalog::Item;
use crate::domain::feed::{Change, RetailChange};
use crate::domain::phone::Country;
use redb::{ReadableTable, ReadableTableMetadata};
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
        let tx = self.read()?;
        let Some(id) = tx.open_table(BARCODES)?.get(catalog_key)?.map(|id| id.value().to_string()) else {
            return Ok(None);
        };
        read_item(&tx.open_table(ITEMS)?, &id)
    }
}

fn read_client(
    clients: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> Result<Option<crate::domain::client::Client>, StoreError> {
    let row = clients.get(id)?;
    row.map(|v| records::decode_client(id, v.value())).transpose()
}

fn read_item(items: &impl ReadableTable<&'static str, &'static [u8]>, id: &str) -> Result<Option<Item>, StoreError> {
    let row = items.get(id)?;
    row.map(|v| records::decode_item(id, v.value())).transpose()
}

impl Store {
    /// An item by its CRM id.
    pub fn item(&self, id: &str) -> Result<Option<Item>, StoreError> {
        read_item(&self.read()?.open_table(ITEMS)?, id)
    }

    /// An item by its scale PLU.
    pub fn item_by_plu(&self, plu: &str) -> Result<Option<Item>, StoreError> {
        let tx = self.read()?;
        let Some(id) = tx.open_table(PLUS)?.get(plu)?.map(|id| id.value().to_string()) else {
            return Ok(None);
        };
        read_item(&tx.open_table(ITEMS)?, &id)
    }

    /// The shop's stock of an item as the head office last counted it (1C's `Остатки`).
    pub fn shop_stock(&self, item: &str) -> Result<Option<rust_decimal::Decimal>, StoreError> {
        let tx = self.read()?;
        let table = tx.open_table(ITEM_STOCK)?;
        let row = table.get(item)?;
        row.map(|v| {
            v.value().parse().map_err(|_| StoreError::Corrupt {
                table: "item_stock",
                key: item.to_string(),
                reason: format!("not a number: {}", v.value()),
            })
        })
        .transpose()
    }

    /// Items in the catalog (redb keeps the count; nothing is scanned).
    pub fn item_count(&self) -> Result<u64, StoreError> {
        Ok(self.read()?.open_table(ITEMS)?.len()?)
    }

    /// The cursor to continue the change feed from.
    pub fn feed_cursor(&self) -> Result<Option<String>, StoreError> {
        let tx = self.read()?;
        let meta = tx.open_table(META)?;
        let cursor = meta.get(meta_key::FEED_CURSOR)?;
        Ok(cursor.map(|v| String::from_utf8_lossy(v.value()).into_owned()))
    }

    /// Apply one page of the change feed and its cursor atomically: either the whole page is
    /// in the catalog and the cursor moved past it, or neither. The commit is lazy (no fsync
    /// of its own): a crash rolls back to an earlier page boundary and the feed is pulled
    /// again from the cursor stored with it. Call [`Store::sync`] at the end of a pull.
    pub async fn apply_feed(&self, changes: &[Change], cursor: &str) -> Result<FeedApplied, StoreError> {
        self.submit_feed_page(changes.to_vec(), cursor.to_string()).await
    }

    /// Queue a page (and its cursor) for the writer now, and return the wait for it: the
    /// puller fetches and parses the next page while this one is applied. Pages queued
    /// together are applied in one transaction.
    pub fn submit_feed_page(
        &self,
        changes: Vec<Change>,
        cursor: String,
    ) -> impl Future<Output = Result<FeedApplied, StoreError>> + Send + 'static {
        let country = self.phone_country();
        let now = jiff::Timestamp::now();
        let rows = prepare(changes, country);
        let written = self.inner.engine.submit(Durability::Lazy, move |tx| {
            let applied = apply_page(tx, &rows, country, now)?;
            tx.open_table(META)?.insert(meta_key::FEED_CURSOR, cursor.as_bytes())?;
            count_churn(tx, applied.upserted + applied.deleted)?;
            // The rows go back to be freed by the caller: a page's million small frees are
            // not the writer's time.
            Ok(Ok::<_, StoreError>((applied, rows)))
        });
        let store = self.clone();
        async move {
            let applied = written.await.map(|(applied, _rows)| applied);
            // After the commit, so an index rebuilt for the new generation reads the new items.
            store.catalog_changed();
            applied
        }
    }
}

/// An item upsert made ready on the caller's thread — its row encoded, its barcodes turned
/// into catalog keys — so that the store's one writer, which every sale waits for, only
/// inserts. A first sync is a million of these.
pub(super) struct ItemRow {
    id: String,
    row: Vec<u8>,
    barcode_keys: Vec<String>,
    plu: Option<String>,
}

impl ItemRow {
    fn new(item: Item) -> ItemRow {
        ItemRow {
            row: records::encode_item(&item),
            barcode_keys: item.barcodes.iter().map(|c| barcode::catalog_key(c)).collect(),
            id: item.id,
            plu: item.plu,
        }
    }
}

/// A change of the feed as the writer applies it.
pub(super) enum FeedRow {
    Item(ItemRow),
    Client(ClientRow),
    Other(Change),
}

/// Make a page's changes ready for the writer (see [`ItemRow`] and [`ClientRow`]); `country`
/// reads client phones written without a country code.
pub(super) fn prepare(changes: Vec<Change>, country: Country) -> Vec<FeedRow> {
    changes
        .into_iter()
        .map(|change| match change {
            Change::ItemUpsert(item) => FeedRow::Item(ItemRow::new(item)),
            Change::ClientUpsert(client) => FeedRow::Client(ClientRow::new(client, country)),
            other => FeedRow::Other(other),
        })
        .collect()
}

/// The catalog tables open in one write transaction.
pub(super) struct CatalogTables<'tx> {
    items: Recorded<'tx, &'static str, &'static [u8]>,
    barcodes: Recorded<'tx, &'static str, &'static str>,
    plus: Recorded<'tx, &'static str, &'static str>,
}

impl<'tx> CatalogTables<'tx> {
    fn get(&self, id: &str) -> Result<Option<Item>, StoreError> {
        read_item(&self.items, id)
    }

    fn open(tx: &'tx Txn<'_>) -> Result<Self, StoreError> {
        Ok(CatalogTables {
            items: tx.open_table(ITEMS)?,
            barcodes: tx.open_table(BARCODES)?,
            plus: tx.open_table(PLUS)?,
        })
    }

    /// Write an item and its index entries. The insert hands back the row it replaced, so a
    /// new item (the whole of a first sync) costs one descent of the items tree, not a lookup
    /// for an old row and then the insert.
    fn upsert(&mut self, item: &ItemRow) -> Result<(), StoreError> {
        let id = item.id.as_str();
        let replaced = self.items.insert(id, item.row.as_slice())?;
        let old = replaced.map(|row| records::decode_item(id, row.value())).transpose()?;
        if let Some(old) = old {
            self.unindex(&old, Some(item))?;
        }
        for key in &item.barcode_keys {
            self.barcodes.insert(key.as_str(), id)?;
        }
        if let Some(p) = &item.plu {
            self.plus.insert(p.as_str(), id)?;
        }
        Ok(())
    }

    /// Remove an item and the index entries that still point at it.
    fn remove(&mut self, id: &str) -> Result<bool, StoreError> {
        let old: Item = match self.items.remove(id)? {
            None => return Ok(false),
            Some(row) => records::decode_item(id, row.value())?,
        };
        self.unindex(&old, None)?;
        Ok(true)
    }

    /// Drop the index entries of `old` that `new` (its replacement, if any) no longer has. An
    /// entry another item has since claimed (a barcode moved between items) is left alone.
    fn unindex(&mut self, old: &Item, new: Option<&ItemRow>) -> Result<(), StoreError> {
        let id = old.id.as_str();
        let kept = new.map_or(&[][..], |n| n.barcode_keys.as_slice());
        for code in &old.barcodes {
            let key = barcode::catalog_key(code);
            if !kept.contains(&key) && self.barcodes.get(key.as_str())?.is_some_and(|v| v.value() == id) {
                self.barcodes.remove(key.as_str())?;
            }
        }
        if let Some(plu) = &old.plu {
            let still = new.and_then(|n| n.plu.as_ref()) == Some(plu);
            if !still && self.plus.get(plu.as_str())?.is_some_and(|v| v.value() == id) {
                self.plus.remove(plu.as_str())?;
            }
        }
        Ok(())
    }
}

/// Apply every change of a page inside one transaction, each table opened once.
pub(super) fn apply_page(tx: &Txn<'_>, rows: &[FeedRow], country: Country, now: jiff::Timestamp) -> Result<FeedApplied, StoreError> {
    let mut catalog = CatalogTables::open(tx)?;
    let mut clients_table = tx.open_table(CLIENTS)?;
    let mut phones = tx.open_table(PHONES)?;
    let mut warehouse = wms::WmsTables::open(tx)?;
    let mut retail = super::retail::RetailTables::open(tx)?;
    let mut groups = tx.open_table(CATALOG_GROUPS)?;
    let mut shop_stock = tx.open_table(ITEM_STOCK)?;
    let mut client_index = super::ledger::ClientIndex::open(tx)?;
    let mut applied = FeedApplied::default();
    for row in rows {
        let change = match row {
            FeedRow::Item(item) => {
                catalog.upsert(item)?;
                applied.upserted += 1;
                continue;
            }
            FeedRow::Client(client) => {
                upsert_client(&mut clients_table, &mut phones, &retail, &mut client_index, client, country)?;
                applied.upserted += 1;
                continue;
            }
            FeedRow::Other(change) => change,
        };
        // Cells, stock, pick orders, expected receipts and item storage attributes.
        if warehouse.apply_change(change, now)? {
            applied.upserted += 1;
            continue;
        }
        match change {
            // `prepare` turns these into `FeedRow::Item`; a row built by hand still works.
            Change::ItemUpsert(item) => {
                catalog.upsert(&ItemRow::new(item.clone()))?;
                applied.upserted += 1;
            }
            Change::ItemDelete(id) => {
                retail.forget_item(id)?;
                if catalog.remove(id)? {
                    applied.deleted += 1;
                }
            }
            // `prepare` turns these into `FeedRow::Client`; a row built by hand still works.
            Change::ClientUpsert(client) => {
                let row = ClientRow::new(client.clone(), country);
                upsert_client(&mut clients_table, &mut phones, &retail, &mut client_index, &row, country)?;
                applied.upserted += 1;
            }
            Change::ClientDelete(id) => {
                let old = clients::remove_client(&mut clients_table, &mut phones, id, country)?;
                client_index.client_changed(old.as_ref(), None, None)?;
                retail.forget_client(id)?;
                if old.is_some() {
                    applied.deleted += 1;
                }
            }
            Change::Retail(change) => {
                retail.apply(change)?;
                if let RetailChange::ClientAccount { client, account } = change {
                    // Only a client who ever redeemed points or bought on credit here has a
                    // ledger to bring up to date; the rest need no look at their row.
                    if client_index.has_ledger(client)? {
                        if let Some(known) = read_client(&clients_table, client)? {
                            client_index.refresh_ledger(&known, Some(account))?;
                        }
                    }
                }
                applied.upserted += 1;
            }
            // 1C's catalog: the item without its prices, which keep their stored values.
            Change::ItemDetails { item, groups } => {
                let mut item = item.clone();
                if let Some(stored) = catalog.get(&item.id)? {
                    item.prices = stored.prices;
                }
                let id = item.id.clone();
                catalog.upsert(&ItemRow::new(item))?;
                let group = RetailChange::ItemGroup {
                    item: id,
                    group: groups.first().cloned(),
                };
                retail.apply(&group)?;
                applied.upserted += 1;
            }
            Change::ItemPrices { item, prices } => match catalog.get(item)? {
                Some(mut stored) => {
                    stored.prices.extend(prices.iter().map(|(k, v)| (k.clone(), *v)));
                    catalog.upsert(&ItemRow::new(stored))?;
                    applied.upserted += 1;
                }
                None => *applied.skipped.entry("prices of an unknown item".into()).or_default() += 1,
            },
            Change::ItemStock { item, qty } => {
                shop_stock.insert(item.as_str(), qty.to_string().as_str())?;
                applied.upserted += 1;
            }
            Change::ItemVariant(variant) => match catalog.get(&variant.product)? {
                Some(product) => {
                    let current = catalog.get(&variant.id)?;
                    catalog.upsert(&ItemRow::new(variant.to_item(&product, current.as_ref())))?;
                    applied.upserted += 1;
                }
                None => *applied.skipped.entry("variant of an unknown item".into()).or_default() += 1,
            },
            Change::GroupUpsert(group) => {
                let record = (group.name.as_str(), group.parent.as_deref());
                groups.insert(group.id.as_str(), encode(&record).as_slice())?;
                applied.upserted += 1;
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
    Ok(applied)
}

/// Write a client from the feed, with its phone index entries, loyalty cards and ledger.
fn upsert_client(
    clients_table: &mut Recorded<'_, &'static str, &'static [u8]>,
    phones: &mut Recorded<'_, &'static [u8], ()>,
    retail: &super::retail::RetailTables<'_>,
    client_index: &mut super::ledger::ClientIndex<'_>,
    row: &ClientRow,
    country: Country,
) -> Result<(), StoreError> {
    let old = clients::upsert_client(clients_table, phones, row, country)?;
    let id = row.client.id.as_str();
    let account = if client_index.has_ledger(id)? { retail.account(id)? } else { None };
    client_index.client_changed(old.as_ref(), Some(&row.client), account.as_ref())
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
        assert_eq!(store.item_count().unwrap(), 0);
    }

    #[tokio::test]
    async fn bulk_changes_make_a_compaction_due_and_only_people_count_as_activity() {
        let (store, dir) = temp_store();
        let page = |from: usize| -> Vec<Change> {
            (from..from + 60)
                .map(|n| {
                    let mut item = milk(&[]);
                    item.id = format!("I-{n}");
                    Change::ItemUpsert(item)
                })
                .collect()
        };
        store.apply_feed(&page(0), "c1").await.unwrap();
        assert!(!store.compaction_due().unwrap(), "60 rows are not worth a pause");
        store.apply_feed(&page(60), "c2").await.unwrap();
        assert!(store.compaction_due().unwrap());
        store.close();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.compaction_due().unwrap(), "a restart does not forget it");

        // The feed, a sync and pruning are not people; a document an operator made is.
        assert_eq!(store.activity(), 0);
        store.sync().await.unwrap();
        store
            .prune(jiff::Timestamp::now(), &crate::store::Retention::default())
            .await
            .unwrap();
        assert_eq!(store.activity(), 0);
        let lead = crate::domain::document::NewDocument::new(
            uuid::Uuid::from_u128(1),
            crate::domain::document::DocumentKind::Lead,
            jiff::Timestamp::UNIX_EPOCH,
            serde_json::json!({}),
        );
        store.append_documents(&[lead]).await.unwrap();
        assert_eq!(store.activity(), 1);

        store.compact().await.unwrap();
        assert!(!store.compaction_due().unwrap());
        assert_eq!(store.item_count().unwrap(), 120, "compaction keeps every row");
        store.close();
        assert!(!Store::open(dir.path()).unwrap().compaction_due().unwrap());
    }

    #[tokio::test]
    async fn onec_details_keep_prices_and_prices_merge_and_variants_take_the_product() {
        use crate::domain::feed::ItemVariant;
        let (store, _dir) = temp_store();
        store
            .apply_feed(&[Change::ItemUpsert(milk(&["4601234567893"]))], "c1")
            .await
            .unwrap();
        let mut details = milk(&["4601234567893"]);
        details.name = "Молоко 2,5% 1 л".into();
        details.prices.clear();
        let changes = [
            Change::ItemDetails {
                item: details,
                groups: vec!["G-1".into()],
            },
            Change::ItemPrices {
                item: "I-1001".into(),
                prices: [("wholesale".to_string(), dec!(70))].into(),
            },
            Change::ItemPrices {
                item: "I-404".into(),
                prices: [("retail".to_string(), dec!(1))].into(),
            },
            Change::ItemStock {
                item: "I-1001".into(),
                qty: dec!(12.5),
            },
            Change::ItemVariant(ItemVariant {
                id: "I-1001#blue".into(),
                product: "I-1001".into(),
                name: None,
                characteristics: vec![("Цвет".into(), "синий".into())],
                barcodes: vec!["036000291452".into()],
                sku: None,
            }),
        ];
        let applied = store.apply_feed(&changes, "c2").await.unwrap();
        assert_eq!(applied.skipped["prices of an unknown item"], 1);
        let item = store.item("I-1001").unwrap().unwrap();
        assert_eq!(item.name, "Молоко 2,5% 1 л");
        assert_eq!(item.retail_price(), Some(dec!(89.90)), "details keep the stored prices");
        assert_eq!(item.prices["wholesale"], dec!(70));
        assert_eq!(store.item_group("I-1001").unwrap().as_deref(), Some("G-1"));
        assert_eq!(store.shop_stock("I-1001").unwrap(), Some(dec!(12.5)));
        let variant = store.item_by_code("00036000291452").unwrap().unwrap();
        assert_eq!(
            (variant.id.as_str(), variant.name.as_str()),
            ("I-1001#blue", "Молоко 2,5% 1 л (синий)")
        );
    }
}
