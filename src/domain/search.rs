//! Finding an item by what a cashier types: part of its name, its SKU or its scale PLU.
//!
//! The store indexes each item under the keys [`item_keys`] gives and answers a [`Query`] by
//! looking up its words; both sides go through the same [`normalize`], so «Ёжик», «ежик» and
//! «ЕЖИК» are one word, and «Молоко 3,2% 1 л» is found by «мол 3».
//!
//! Matching rule: every word of the query must be the beginning of some key of the item
//! (prefix matching for each word, in any order). A query that is all digits also matches a
//! PLU exactly, with or without the scale's leading zeros.

use crate::domain::catalog::Item;

/// The longest query kept, in characters; the rest is ignored.
pub const MAX_QUERY_CHARS: usize = 64;
/// The most words of a query that count.
pub const MAX_QUERY_WORDS: usize = 8;

/// Text as the index compares it: lower case (any script), `ё` as `е`, every run of
/// characters that are neither letters nor digits (spaces, punctuation, `%`, `-`) as one
/// space, no leading or trailing space.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            // `İ` lowercases to `i` and a combining dot, which is no letter: keeping it would
            // make a normalized text normalize differently again (found by the fuzzer).
            for lower in c.to_lowercase().filter(|l| l.is_alphanumeric()) {
                out.push(if lower == 'ё' { 'е' } else { lower });
            }
        } else {
            gap = true;
        }
    }
    out
}

/// The words of `text` after [`normalize`].
pub fn tokens(text: &str) -> Vec<String> {
    normalize(text).split(' ').filter(|w| !w.is_empty()).map(str::to_string).collect()
}

/// The keys the store indexes `item` under: the words of its name, its SKU whole (without
/// separators) and in words, its PLU with and without leading zeros. Sorted, no repeats.
pub fn item_keys(item: &Item) -> Vec<String> {
    let mut keys = tokens(&item.name);
    let sku = tokens(&item.sku);
    if sku.len() > 1 {
        keys.push(sku.concat());
    }
    keys.extend(sku);
    if let Some(plu) = &item.plu {
        let plu = normalize(plu).replace(' ', "");
        let bare = plu.trim_start_matches('0');
        if !bare.is_empty() && bare != plu {
            keys.push(bare.to_string());
        }
        if !plu.is_empty() {
            keys.push(plu);
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// A parsed search query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Normalized words, each to be the beginning of some key.
    pub words: Vec<String>,
    /// All digits typed without separators: a PLU (or SKU) to match exactly, leading zeros
    /// dropped.
    pub number: Option<String>,
}

impl Query {
    /// Parse what the cashier typed; `None` when nothing searchable is left. Bounded: at most
    /// [`MAX_QUERY_CHARS`] characters and [`MAX_QUERY_WORDS`] words count.
    pub fn parse(text: &str) -> Option<Query> {
        let text: String = text.chars().take(MAX_QUERY_CHARS).collect();
        let mut words = tokens(&text);
        words.truncate(MAX_QUERY_WORDS);
        if words.is_empty() {
            return None;
        }
        let trimmed = text.trim();
        let number = (!trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit())).then(|| {
            let bare = trimmed.trim_start_matches('0');
            if bare.is_empty() { "0".to_string() } else { bare.to_string() }
        });
        Some(Query { words, number })
    }

    /// Whether an item with these `keys` (from [`item_keys`]) answers the query.
    pub fn matches(&self, keys: &[String]) -> bool {
        if let Some(number) = &self.number {
            if keys.iter().any(|k| k == number) {
                return true;
            }
        }
        self.words.iter().all(|w| keys.iter().any(|k| k.starts_with(w.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizing_is_idempotent_even_for_letters_that_lowercase_to_two_chars() {
        let once = normalize("İSTANBUL 0");
        assert_eq!(once, "istanbul 0");
        assert_eq!(normalize(&once), once);
    }
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn item(name: &str, sku: &str, plu: Option<&str>) -> Item {
        Item {
            id: "I-1".into(),
            sku: sku.into(),
            name: name.into(),
            unit: "pcs".into(),
            vat: "20".into(),
            weighted: plu.is_some(),
            marked: false,
            mark_group: None,
            plu: plu.map(str::to_string),
            barcodes: vec![],
            prices: BTreeMap::new(),
        }
    }

    #[test]
    fn normalization() {
        assert_eq!(normalize("  Молоко 3,2% 1 л "), "молоко 3 2 1 л");
        assert_eq!(normalize("ЁЖИК в тумане"), "ежик в тумане");
        assert_eq!(normalize("Кофе «Арабика» — 95 г."), "кофе арабика 95 г");
        assert_eq!(normalize("Құрт ӘҒ"), "құрт әғ");
        assert_eq!(normalize("A-1001/B"), "a 1001 b");
        assert_eq!(normalize("!!!"), "");
    }

    #[test]
    fn keys_and_queries() {
        let milk = item("Молоко 3,2% 1 л", "A-1001", None);
        let keys = item_keys(&milk);
        assert_eq!(keys, vec!["1", "1001", "2", "3", "a", "a1001", "л", "молоко"]);
        let found = |q: &str| Query::parse(q).is_some_and(|q| q.matches(&keys));
        assert!(found("мол"));
        assert!(found("МОЛ 3"));
        assert!(found("3,2 молоко"));
        assert!(found("a-1001"));
        assert!(found("A1001"));
        assert!(!found("кефир"));
        assert!(!found("мол кеф"));
        let cheese = item("Сыр Российский, вес.", "W-2002", Some("00042"));
        let keys = item_keys(&cheese);
        assert!(keys.contains(&"00042".to_string()) && keys.contains(&"42".to_string()));
        assert!(Query::parse("42").unwrap().matches(&keys));
        assert!(Query::parse("0042").unwrap().matches(&keys));
        assert!(Query::parse("рос сыр").unwrap().matches(&keys));
        let hedgehog = item("Ёжик в тумане", "E-1", None);
        assert!(Query::parse("ежик").unwrap().matches(&item_keys(&hedgehog)));
        assert_eq!(Query::parse(" -- "), None);
        assert_eq!(Query::parse("a b c d e f g h i j").unwrap().words.len(), MAX_QUERY_WORDS);
    }

    proptest! {
        /// Any text parses without panicking, and an item is always found by its own name.
        #[test]
        fn an_item_is_found_by_its_own_name(name in "[а-яА-ЯёЁa-z0-9 ,.%-]{1,40}") {
            let it = item(&name, "S-1", None);
            if let Some(q) = Query::parse(&name) {
                let fits = name.chars().count() <= MAX_QUERY_CHARS;
                prop_assert!(!fits || q.matches(&item_keys(&it)));
            }
        }
    }
}
