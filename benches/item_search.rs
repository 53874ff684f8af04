//! Item search over a 1 000 000-item catalog: the in-memory index's build time, its size,
//! and the latency of typical cashier queries (a prefix of one word, two words, a SKU, a PLU,
//! a one-letter prefix, a miss).
//!
//! Run: `cargo bench --bench item_search` (`-- --items N` for another catalog size,
//! `--queries N` for more samples). The index alone is timed; a search over HTTP adds reading
//! the ≤ 20 items found from the store.

// Wall-clock measurement is the point here.
#![allow(clippy::disallowed_types)]

mod common;

use common::{arg, stats};
use rust_decimal::Decimal;
use std::time::Instant;
use storeterm::app::search::ItemIndex;
use storeterm::domain::catalog::Item;
use storeterm::domain::search::Query;

const NOUNS: [&str; 16] = [
    "Молоко",
    "Кефир",
    "Сыр",
    "Хлеб",
    "Батон",
    "Йогурт",
    "Творог",
    "Сметана",
    "Масло",
    "Ёжик",
    "Кофе",
    "Чай",
    "Сок",
    "Вода",
    "Печенье",
    "Шоколад",
];
const ADJECTIVES: [&str; 12] = [
    "домашний",
    "отборный",
    "классический",
    "лёгкий",
    "фермерский",
    "деревенский",
    "сливочный",
    "зерновой",
    "растворимый",
    "яблочный",
    "горький",
    "молочный",
];
const BRANDS: [&str; 10] = [
    "Простоквашино",
    "Вкуснотеево",
    "Савушкин",
    "Лебедянский",
    "Агуша",
    "Бабаевский",
    "Якобс",
    "Ахмад",
    "Коровка",
    "Шебекинские",
];

fn item(n: usize) -> Item {
    let name = format!(
        "{} {} «{}» {} г арт{}",
        NOUNS[n % NOUNS.len()],
        ADJECTIVES[(n / 16) % ADJECTIVES.len()],
        BRANDS[(n / 192) % BRANDS.len()],
        50 + n % 950,
        n
    );
    let mut item = common::item(n, Decimal::new(8990, 2));
    item.name = name;
    item.plu = (n % 50 == 0).then(|| format!("{:05}", n / 50));
    item
}

/// Makes the `i`-th query of one kind.
type QueryMaker = Box<dyn Fn(usize) -> String>;

fn main() {
    let items: usize = arg("--items", 1_000_000);
    let queries: usize = arg("--queries", 2_000);
    let started = Instant::now();
    let index = ItemIndex::build((0..items).map(item));
    let build = started.elapsed();
    println!("index of {} items built in {:.1} s", index.len(), build.as_secs_f64());

    let kinds: [(&str, QueryMaker); 7] = [
        (
            "one word prefix",
            Box::new(|i| NOUNS[i % NOUNS.len()].chars().take(4).collect::<String>().to_lowercase()),
        ),
        (
            "two words",
            Box::new(|i| {
                format!(
                    "{} {}",
                    NOUNS[i % NOUNS.len()],
                    BRANDS[i % BRANDS.len()].chars().take(5).collect::<String>()
                )
            }),
        ),
        (
            "three words, ё as е",
            Box::new(|i| format!("ежик {} {}", ADJECTIVES[i % ADJECTIVES.len()], 50 + i % 950)),
        ),
        ("sku", Box::new(move |i| format!("sku{}", (i * 7919) % items))),
        ("plu", Box::new(move |i| format!("{:05}", (i * 31) % (items / 50).max(1)))),
        ("one letter", Box::new(|i| ["м", "к", "с", "х"][i % 4].to_string())),
        ("miss", Box::new(|i| format!("несуществующий{i}"))),
    ];
    let mut all = Vec::new();
    for (name, make) in &kinds {
        let mut samples = Vec::with_capacity(queries);
        let mut found = 0usize;
        for i in 0..queries {
            let text = make(i);
            let started = Instant::now();
            let query = Query::parse(&text).expect("a query");
            let hits = index.find(&query, 20);
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
            found += hits.len();
        }
        let s = stats(samples.clone());
        all.extend(samples);
        println!(
            "{name:>22}: p50 {:.3} ms, p99 {:.3} ms, mean {:.3} ms ({} queries, {:.1} hits each)",
            s.p50,
            s.p99,
            s.mean,
            s.n,
            found as f64 / queries as f64
        );
    }
    let s = stats(all);
    println!("{:>22}: p50 {:.3} ms, p99 {:.3} ms over {} queries", "all", s.p50, s.p99, s.n);
}
