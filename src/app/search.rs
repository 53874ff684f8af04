//! Finding items by what a cashier types (name, SKU, PLU): an in-memory index over the
//! catalog, built once and rebuilt when a feed page changes the catalog.
//!
//! The index is a sorted list of postings `(item, key)` over the keys
//! [`search::item_keys`] gives; a query's most selective word (its longest) finds its
//! postings by binary search on the prefix, and every other word is checked against the
//! candidate's keys. Each item's keys are kept once, as one space-joined string, and a posting
//! is an item number and a byte offset into it — 8 bytes a key rather than a string each, so
//! a million items fit in tens of megabytes.

use crate::domain::catalog::Item;
use crate::domain::search::{self, Query};
use crate::store::{Store, StoreError};
use std::sync::Arc;

/// The most postings one query looks at: a one-letter query over a million items must not
/// walk them all; the first `limit` matches in key order are as good as any.
const MAX_VISITED: usize = 200_000;

/// The built index.
#[derive(Default)]
pub struct ItemIndex {
    ids: Vec<Box<str>>,
    /// Each item's keys, space-joined (keys never contain spaces: see [`search::normalize`]).
    keys: Vec<Box<str>>,
    /// `(item, byte offset of a key in keys[item])`, sorted by that key.
    postings: Vec<(u32, u32)>,
}

impl ItemIndex {
    /// Index `items`.
    pub fn build(items: impl IntoIterator<Item = Item>) -> ItemIndex {
        let mut index = ItemIndex::default();
        for item in items {
            index.add(&item);
        }
        index.finish();
        index
    }

    fn add(&mut self, item: &Item) {
        let Ok(n) = u32::try_from(self.ids.len()) else { return };
        let keys = search::item_keys(item).join(" ");
        let mut offset = 0u32;
        for key in keys.split(' ').filter(|k| !k.is_empty()) {
            self.postings.push((n, offset));
            offset += key.len() as u32 + 1;
        }
        self.ids.push(item.id.as_str().into());
        self.keys.push(keys.into());
    }

    fn finish(&mut self) {
        let mut postings = std::mem::take(&mut self.postings);
        postings.sort_unstable_by(|a, b| self.key(*a).cmp(self.key(*b)).then(a.0.cmp(&b.0)));
        self.postings = postings;
    }

    fn key(&self, (item, offset): (u32, u32)) -> &str {
        let keys = &self.keys[item as usize];
        let rest = &keys[offset as usize..];
        rest.split(' ').next().unwrap_or("")
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Ids of up to `limit` items answering `query`: an exact number match (PLU, SKU) first,
    /// then prefix matches in key order.
    pub fn find(&self, query: &Query, limit: usize) -> Vec<&str> {
        let mut found: Vec<u32> = Vec::new();
        let push = |found: &mut Vec<u32>, item: u32| {
            if !found.contains(&item) {
                found.push(item);
            }
        };
        if let Some(number) = &query.number {
            let start = self.postings.partition_point(|p| self.key(*p) < number.as_str());
            for p in self.postings[start..].iter().take_while(|p| self.key(**p) == number) {
                if found.len() >= limit {
                    break;
                }
                push(&mut found, p.0);
            }
        }
        let Some(driver) = query.words.iter().max_by_key(|w| w.chars().count()) else {
            return self.ids_of(&found);
        };
        let start = self.postings.partition_point(|p| self.key(*p) < driver.as_str());
        for p in self.postings[start..]
            .iter()
            .take_while(|p| self.key(**p).starts_with(driver.as_str()))
            .take(MAX_VISITED)
        {
            if found.len() >= limit {
                break;
            }
            let keys = &self.keys[p.0 as usize];
            if query.words.iter().all(|w| keys.split(' ').any(|k| k.starts_with(w.as_str()))) {
                push(&mut found, p.0);
            }
        }
        self.ids_of(&found)
    }

    fn ids_of(&self, found: &[u32]) -> Vec<&str> {
        found.iter().map(|&i| &*self.ids[i as usize]).collect()
    }
}

/// The index over the store's catalog, rebuilt after the catalog changed.
pub struct ItemSearch {
    store: Store,
    /// The index and the catalog generation it was built from. The lock is held while a
    /// rebuild runs, so concurrent searches wait for one rebuild instead of starting many.
    index: tokio::sync::Mutex<Option<(u64, Arc<ItemIndex>)>>,
}

impl ItemSearch {
    pub fn new(store: Store) -> ItemSearch {
        ItemSearch {
            store,
            index: tokio::sync::Mutex::new(None),
        }
    }

    /// The index for the catalog as it is now, built on a blocking thread when missing or stale.
    pub async fn index(&self) -> Result<Arc<ItemIndex>, StoreError> {
        let mut slot = self.index.lock().await;
        let generation = self.store.catalog_generation();
        if let Some((built, index)) = slot.as_ref() {
            if *built == generation {
                return Ok(index.clone());
            }
        }
        let store = self.store.clone();
        let built = tokio::task::spawn_blocking(move || -> Result<ItemIndex, StoreError> {
            let mut index = ItemIndex::default();
            store.each_item(|item| index.add(&item))?;
            index.finish();
            Ok(index)
        })
        .await
        .map_err(|e| StoreError::Storage(format!("индекс поиска товаров не построен: {e}")))??;
        let built = Arc::new(built);
        *slot = Some((generation, built.clone()));
        Ok(built)
    }

    /// Items answering `text`, at most `limit`, as the store has them now.
    pub async fn search(&self, text: &str, limit: usize) -> Result<Vec<Item>, StoreError> {
        let Some(query) = Query::parse(text) else {
            return Ok(Vec::new());
        };
        let index = self.index().await?;
        let mut items = Vec::new();
        for id in index.find(&query, limit) {
            if let Some(item) = self.store.item(id)? {
                items.push(item);
            }
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn item(id: &str, name: &str, sku: &str, plu: Option<&str>) -> Item {
        Item {
            id: id.into(),
            sku: sku.into(),
            name: name.into(),
            unit: "pcs".into(),
            vat: "20".into(),
            weighted: false,
            marked: false,
            mark_group: None,
            plu: plu.map(str::to_string),
            barcodes: vec![],
            prices: [("retail".to_string(), dec!(10))].into(),
        }
    }

    fn find(index: &ItemIndex, q: &str) -> Vec<String> {
        let mut ids: Vec<String> = index.find(&Query::parse(q).unwrap(), 20).into_iter().map(str::to_string).collect();
        ids.sort();
        ids
    }

    #[test]
    fn cyrillic_case_yo_prefix_and_words() {
        let index = ItemIndex::build([
            item("1", "Молоко 3,2% 1 л", "A-100", None),
            item("2", "Ёжик в тумане, мармелад", "B-200", Some("00042")),
            item("3", "Кефир 1%", "A-101", None),
        ]);
        assert_eq!(find(&index, "мол"), ["1"]);
        assert_eq!(find(&index, "МОЛОКО"), ["1"]);
        assert_eq!(find(&index, "ежик"), ["2"]);
        assert_eq!(find(&index, "ЁЖ мар"), ["2"]);
        assert_eq!(find(&index, "тум ёж"), ["2"]);
        assert_eq!(find(&index, "мол кеф"), Vec::<String>::new());
        assert_eq!(find(&index, "42"), ["2"]);
        assert_eq!(find(&index, "a100"), ["1"]);
        assert_eq!(find(&index, "a"), ["1", "3"]);
        assert!(find(&index, "хлеб").is_empty());
    }

    #[test]
    fn the_index_agrees_with_the_matching_rule() {
        let names = [
            "Сыр Российский",
            "Сырок глазированный",
            "Сок яблочный",
            "Соль",
            "Ёлка",
            "елка новогодняя",
        ];
        let items: Vec<Item> = names
            .iter()
            .enumerate()
            .map(|(i, n)| item(&i.to_string(), n, &format!("S-{i}"), None))
            .collect();
        let index = ItemIndex::build(items.clone());
        for q in ["с", "сы", "сыр", "со", "ел", "ёлка нов", "s", "s 3", "глаз сыр"] {
            let query = Query::parse(q).unwrap();
            let mut expected: Vec<String> = items
                .iter()
                .filter(|i| query.matches(&search::item_keys(i)))
                .map(|i| i.id.clone())
                .collect();
            expected.sort();
            assert_eq!(find(&index, q), expected, "query {q}");
        }
    }
}
