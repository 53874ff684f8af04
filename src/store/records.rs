//! Compact records for the store's largest tables: items and clients.
//!
//! A first sync brings a million of each. As JSON they would cost twice their size on disk and
//! in the cache, and their field names would be parsed a million times; as postcard (a compact
//! binary serde format) a record is half the bytes and decodes several times faster. The id is
//! the table's key, so it is not stored again.
//!
//! The layout of these records is the store's, not the domain's: the domain types may change
//! their serde attributes freely. Each record is written by a borrowing struct and read back
//! by an owning twin with the same fields in the same order; the round-trip tests keep the two
//! in step. The version byte in front tells this format (`2`) from JSON (`1`).

use super::StoreError;
use crate::domain::catalog::Item;
use crate::domain::client::Client;
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Version byte of a postcard record.
const FORMAT_POSTCARD: u8 = 2;

#[derive(Serialize)]
struct ItemOut<'a> {
    sku: &'a str,
    name: &'a str,
    unit: &'a str,
    vat: &'a str,
    weighted: bool,
    marked: bool,
    mark_group: Option<&'a str>,
    plu: Option<&'a str>,
    barcodes: &'a [String],
    prices: Vec<(&'a str, Dec)>,
}

#[derive(Deserialize)]
struct ItemIn {
    sku: String,
    name: String,
    unit: String,
    vat: String,
    weighted: bool,
    marked: bool,
    mark_group: Option<String>,
    plu: Option<String>,
    barcodes: Vec<String>,
    prices: Vec<(String, Dec)>,
}

#[derive(Serialize)]
struct ClientOut<'a> {
    name: &'a str,
    phones: &'a [String],
    debt: Option<Dec>,
    overdue: Option<Dec>,
    credit_limit: Option<Dec>,
    stop_list: bool,
    segment: Option<&'a str>,
    manager: Option<&'a str>,
    loyalty_cards: &'a [String],
    last_activity: Option<Time>,
}

#[derive(Deserialize)]
struct ClientIn {
    name: String,
    phones: Vec<String>,
    debt: Option<Dec>,
    overdue: Option<Dec>,
    credit_limit: Option<Dec>,
    stop_list: bool,
    segment: Option<String>,
    manager: Option<String>,
    loyalty_cards: Vec<String>,
    last_activity: Option<Time>,
}

/// A decimal as its 16 raw bytes: rust_decimal's string form needs a self-describing format.
type Dec = [u8; 16];

fn dec(d: Decimal) -> Dec {
    d.serialize()
}

fn undec(d: Dec) -> Decimal {
    Decimal::deserialize(d)
}

/// A timestamp as (seconds, nanoseconds) since the epoch.
type Time = (i64, i32);

fn time(t: Timestamp) -> Time {
    (t.as_second(), t.subsec_nanosecond())
}

fn untime(table: &'static str, key: &str, (s, n): Time) -> Result<Timestamp, StoreError> {
    Timestamp::new(s, n).map_err(|e| StoreError::Corrupt {
        table,
        key: key.to_string(),
        reason: e.to_string(),
    })
}

fn write<T: Serialize>(record: &T) -> Vec<u8> {
    let mut out = vec![FORMAT_POSTCARD];
    // Our own plain structs always serialise.
    out.extend(postcard::to_allocvec(record).expect("serialising a store record"));
    out
}

fn read<T: serde::de::DeserializeOwned>(table: &'static str, key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        table,
        key: key.to_string(),
        reason,
    };
    match bytes.split_first() {
        Some((&FORMAT_POSTCARD, body)) => postcard::from_bytes(body).map_err(|e| corrupt(e.to_string())),
        Some((version, _)) => Err(corrupt(format!("unknown format version {version}"))),
        None => Err(corrupt("empty value".into())),
    }
}

pub(super) fn encode_item(item: &Item) -> Vec<u8> {
    write(&ItemOut {
        sku: &item.sku,
        name: &item.name,
        unit: &item.unit,
        vat: &item.vat,
        weighted: item.weighted,
        marked: item.marked,
        mark_group: item.mark_group.as_deref(),
        plu: item.plu.as_deref(),
        barcodes: &item.barcodes,
        prices: item.prices.iter().map(|(k, v)| (k.as_str(), dec(*v))).collect(),
    })
}

pub(super) fn decode_item(id: &str, bytes: &[u8]) -> Result<Item, StoreError> {
    let r: ItemIn = read("items", id, bytes)?;
    Ok(Item {
        id: id.to_string(),
        sku: r.sku,
        name: r.name,
        unit: r.unit,
        vat: r.vat,
        weighted: r.weighted,
        marked: r.marked,
        mark_group: r.mark_group,
        plu: r.plu,
        barcodes: r.barcodes,
        prices: r.prices.into_iter().map(|(k, v)| (k, undec(v))).collect(),
    })
}

pub(super) fn encode_client(client: &Client) -> Vec<u8> {
    write(&ClientOut {
        name: &client.name,
        phones: &client.phones,
        debt: client.debt.map(dec),
        overdue: client.overdue.map(dec),
        credit_limit: client.credit_limit.map(dec),
        stop_list: client.stop_list,
        segment: client.segment.as_deref(),
        manager: client.manager.as_deref(),
        loyalty_cards: &client.loyalty_cards,
        last_activity: client.last_activity.map(time),
    })
}

pub(super) fn decode_client(id: &str, bytes: &[u8]) -> Result<Client, StoreError> {
    let r: ClientIn = read("clients", id, bytes)?;
    Ok(Client {
        id: id.to_string(),
        name: r.name,
        phones: r.phones,
        debt: r.debt.map(undec),
        overdue: r.overdue.map(undec),
        credit_limit: r.credit_limit.map(undec),
        stop_list: r.stop_list,
        segment: r.segment,
        manager: r.manager,
        loyalty_cards: r.loyalty_cards,
        last_activity: r.last_activity.map(|t| untime("clients", id, t)).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn records_round_trip_and_are_smaller_than_json() {
        let item = Item {
            id: "I-1001".into(),
            sku: "A-1001".into(),
            name: "Молоко 3,2% 1 л".into(),
            unit: "pcs".into(),
            vat: "20".into(),
            weighted: false,
            marked: true,
            mark_group: Some("milk".into()),
            plu: None,
            barcodes: vec!["4601234567893".into()],
            prices: [("retail".to_string(), dec!(89.90)), ("wholesale".to_string(), dec!(80))].into(),
        };
        let bytes = encode_item(&item);
        assert_eq!(decode_item("I-1001", &bytes).unwrap(), item);
        assert!(
            bytes.len() * 2 < serde_json::to_vec(&item).unwrap().len() + 40,
            "{} bytes",
            bytes.len()
        );

        let client = Client {
            id: "C-77".into(),
            name: "ООО Ромашка".into(),
            phones: vec!["+7 (495) 123-45-67".into()],
            debt: Some(dec!(15200.00)),
            overdue: None,
            credit_limit: Some(dec!(50000)),
            stop_list: true,
            segment: Some("wholesale".into()),
            manager: None,
            loyalty_cards: vec!["2775000000017".into()],
            last_activity: Some("2026-11-22T10:15:00Z".parse().unwrap()),
        };
        assert_eq!(decode_client("C-77", &encode_client(&client)).unwrap(), client);
    }

    proptest! {
        #[test]
        fn damaged_records_are_errors_not_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_item("x", &bytes);
            let _ = decode_client("x", &bytes);
        }
    }
}
