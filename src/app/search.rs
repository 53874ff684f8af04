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
        // The word with the fewest postings drives: «ежик классический 537» walks the
        // items with a key starting «537», not every «классический» one.
        let Some(driver) = query.words.iter().map(|w| self.range(w)).min_by_key(|r| r.len()) else {
            return self.ids_of(&found);
        };
        for p in self.postings[driver].iter().take(MAX_VISITED) {
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

    /// The postings whose key starts with `prefix`: contiguous, since they are sorted by key.
    fn range(&self, prefix: &str) -> std::ops::Range<usize> {
        let start = self.postings.partition_point(|p| self.key(*p) < prefix);
        let end = start + self.postings[start..].partition_point(|p| self.key(*p).starts_with(prefix));
        start..end
    }

    fn ids_of(&self, found: &[u32]) -> Vec<&str> {
        found.iter().map(|&i| &*self.ids[i as usize]).collect()
    }
}

/// How long a search waits for a rebuild before it answers from the previous index: a small
/// catalog is rebuilt well within it (the answer is current); a million items take seconds,
/// and a cashier's search must not.
const FRESH_WAIT: std::time::Duration = std::time::Duration::from_millis(300);

#[derive(Default)]
struct Slot {
    /// The index and the catalog generation it was built from.
    current: Option<(u64, Arc<ItemIndex>)>,
    /// The generation a rebuild is running for.
    building: Option<u64>,
    /// Why the last rebuild failed.
    failed: Option<String>,
}

/// The index over the store's catalog, rebuilt on a blocking thread after the catalog
/// changed; one rebuild at a time.
pub struct ItemSearch {
    store: Store,
    slot: Arc<std::sync::Mutex<Slot>>,
    rebuilt: Arc<tokio::sync::Notify>,
}

impl ItemSearch {
    pub fn new(store: Store) -> ItemSearch {
        ItemSearch {
            store,
            slot: Arc::default(),
            rebuilt: Arc::default(),
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start a rebuild for `generation` unless one runs for it already.
    fn rebuild(&self, generation: u64) {
        {
            let mut slot = self.slot();
            if slot.building == Some(generation) {
                return;
            }
            slot.building = Some(generation);
        }
        let (store, slot, rebuilt) = (self.store.clone(), self.slot.clone(), self.rebuilt.clone());
        tokio::task::spawn_blocking(move || {
            let mut index = ItemIndex::default();
            let built = store.each_item(|item| index.add(&item)).map(|()| {
                index.finish();
                index
            });
            let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            match built {
                Ok(index) => {
                    if slot.current.as_ref().is_none_or(|(g, _)| *g < generation) {
                        slot.current = Some((generation, Arc::new(index)));
                    }
                    slot.failed = None;
                }
                Err(e) => {
                    tracing::error!(error = %e, "item search index not built");
                    slot.failed = Some(e.to_string());
                }
            }
            if slot.building == Some(generation) {
                slot.building = None;
            }
            drop(slot);
            rebuilt.notify_waiters();
        });
    }

    /// The index for the catalog as it is now; while a rebuild of a large catalog runs, the
    /// previous index after [`FRESH_WAIT`].
    pub async fn index(&self) -> Result<Arc<ItemIndex>, StoreError> {
        let generation = self.store.catalog_generation();
        let deadline = tokio::time::Instant::now() + FRESH_WAIT;
        let mut waited = false;
        loop {
            let notified = self.rebuilt.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let stale = {
                let slot = self.slot();
                match &slot.current {
                    Some((g, index)) if *g >= generation => return Ok(index.clone()),
                    current => {
                        // The rebuild this search waited for failed: say so (the next search
                        // tries again).
                        if let (None, Some(failed), true) = (current, &slot.failed, waited) {
                            return Err(StoreError::Storage(format!("индекс поиска товаров не построен: {failed}")));
                        }
                        current.as_ref().map(|(_, index)| index.clone())
                    }
                }
            };
            self.rebuild(generation);
            match stale {
                // The first index: wait for it, however long.
                None => {
                    notified.await;
                    waited = true;
                }
                Some(stale) => {
                    if tokio::time::timeout_at(deadline, notified).await.is_err() {
                        return Ok(stale);
                    }
                }
            }
        }
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
