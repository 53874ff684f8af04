//! The warehouse kinds of the change feed: `cell`, `stock`, `pick_order`,
//! `expected_receipt`, and the optional storage attributes of an `item` (`weight`, `volume`,
//! `zone`). Pure: a raw change in, a typed change (or the reason it is unusable) out.

use super::feed::{FeedError, RawChange};
use crate::domain::feed::Change;
use crate::domain::wms::pick::{PickLine, PickOrder, PickStatus};
use crate::domain::wms::receipt::ExpectedReceipt;
use crate::domain::wms::{Cell, Storage, valid_address};
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct CellData {
    address: String,
    #[serde(default)]
    zone: String,
    #[serde(default)]
    barcode: Option<String>,
    #[serde(default)]
    max_weight: Option<Decimal>,
    #[serde(default)]
    max_volume: Option<Decimal>,
}

#[derive(Deserialize)]
struct StockData {
    item: String,
    cell: String,
    qty: Decimal,
}

#[derive(Deserialize)]
struct LineData {
    item: String,
    qty: Decimal,
}

#[derive(Deserialize)]
struct PickOrderData {
    #[serde(default)]
    number: Option<String>,
    #[serde(default)]
    client: Option<String>,
    #[serde(default)]
    due: Option<Timestamp>,
    lines: Vec<LineData>,
}

#[derive(Deserialize)]
struct ExpectedData {
    #[serde(default)]
    number: Option<String>,
    #[serde(default)]
    supplier: Option<String>,
    lines: Vec<LineData>,
}

fn lines(kind: &str, raw: Vec<LineData>) -> Result<BTreeMap<String, Decimal>, String> {
    let mut out = BTreeMap::new();
    for l in raw {
        if l.qty <= Decimal::ZERO {
            return Err(format!("{kind} line {}: quantity {} must be positive", l.item, l.qty));
        }
        *out.entry(l.item).or_insert(Decimal::ZERO) += l.qty;
    }
    Ok(out)
}

/// Decode a change of a warehouse kind; `None` when the kind is not one.
pub(super) fn decode(raw: &RawChange) -> Option<Result<Change, FeedError>> {
    let bad = |reason: String| raw.refused(reason);
    let result = match (raw.kind.as_str(), raw.op.as_str()) {
        ("cell", "upsert") => (|| {
            let d: CellData = raw.data()?;
            if !valid_address(&d.address) {
                return Err(bad(format!(
                    "address \"{}\" is not line-rack-tier-position like A-01-02-3",
                    d.address
                )));
            }
            let negative = [d.max_weight, d.max_volume].into_iter().flatten().any(|v| v <= Decimal::ZERO);
            if negative {
                return Err(bad("max_weight and max_volume must be positive".into()));
            }
            Ok(Change::CellUpsert(Cell {
                id: raw.id.clone(),
                zone: if d.zone.is_empty() {
                    d.address.split('-').next().unwrap_or("").to_string()
                } else {
                    d.zone
                },
                address: d.address,
                barcode: d.barcode.filter(|b| !b.trim().is_empty()),
                max_weight: d.max_weight,
                max_volume: d.max_volume,
            }))
        })(),
        ("cell", "delete") => Ok(Change::CellDelete(raw.id.clone())),
        ("stock", "upsert") => (|| {
            let d: StockData = raw.data()?;
            if d.qty < Decimal::ZERO {
                return Err(bad(format!("negative stock {}", d.qty)));
            }
            Ok(Change::StockUpsert {
                item: d.item,
                cell: d.cell,
                qty: d.qty,
            })
        })(),
        // `item@cell`: the CRM no longer has a balance there.
        ("stock", "delete") => match raw.id.split_once('@') {
            Some((item, cell)) if !item.is_empty() && !cell.is_empty() => Ok(Change::StockUpsert {
                item: item.to_string(),
                cell: cell.to_string(),
                qty: Decimal::ZERO,
            }),
            _ => Err(bad("a stock id is item@cell".into())),
        },
        ("pick_order", "upsert") => (|| {
            let d: PickOrderData = raw.data()?;
            let lines = lines("pick_order", d.lines).map_err(bad)?;
            Ok(Change::PickOrderUpsert(PickOrder {
                id: raw.id.clone(),
                number: d.number.unwrap_or_else(|| raw.id.clone()),
                client: d.client,
                due: d.due,
                lines: lines
                    .into_iter()
                    .map(|(item, qty)| PickLine {
                        item,
                        qty,
                        picked: Decimal::ZERO,
                    })
                    .collect(),
                status: PickStatus::Open,
                completed_at: None,
            }))
        })(),
        ("pick_order", "delete") => Ok(Change::PickOrderDelete(raw.id.clone())),
        ("expected_receipt", "upsert") => (|| {
            let d: ExpectedData = raw.data()?;
            Ok(Change::ExpectedReceiptUpsert(ExpectedReceipt {
                id: raw.id.clone(),
                number: d.number.unwrap_or_else(|| raw.id.clone()),
                supplier: d.supplier,
                lines: lines("expected_receipt", d.lines).map_err(bad)?,
                received: BTreeMap::new(),
            }))
        })(),
        ("expected_receipt", "delete") => Ok(Change::ExpectedReceiptDelete(raw.id.clone())),
        _ => return None,
    };
    Some(result)
}

/// The storage attributes of an item upsert (its `weight`, `volume` and `zone` as sent), when
/// it carries any. Malformed attributes are dropped, all three together (the item itself
/// still sells); the item decoder reports the item's own errors.
pub(super) fn item_storage(item: &str, [weight, volume, zone]: [&Option<Box<RawValue>>; 3]) -> Option<Change> {
    fn read<T: DeserializeOwned>(raw: &Option<Box<RawValue>>) -> Result<Option<T>, serde_json::Error> {
        raw.as_ref().map(|raw| serde_json::from_str(raw.get())).transpose()
    }
    let positive = |v: Option<Decimal>| v.filter(|v| *v > Decimal::ZERO);
    let read_all = || -> Result<Storage, serde_json::Error> {
        Ok(Storage {
            weight: positive(read::<Option<Decimal>>(weight)?.flatten()),
            volume: positive(read::<Option<Decimal>>(volume)?.flatten()),
            zone: read::<Option<String>>(zone)?.flatten().filter(|z| !z.is_empty()),
        })
    };
    let storage = read_all().unwrap_or_default();
    (storage != Storage::default()).then(|| Change::ItemStorage {
        item: item.to_string(),
        storage,
    })
}

#[cfg(test)]
mod tests {
    use super::super::feed::parse_page;
    use super::*;
    use rust_decimal_macros::dec;

    const PAGE: &str = r#"{ "cursor": "c-9", "changes": [
        {"kind": "item", "op": "upsert", "id": "I-1001", "data": {
            "name": "Молоко 3,2% 1 л", "barcodes": ["4601234567893"], "weight": "1.05", "volume": "0.001", "zone": "A"}},
        {"kind": "cell", "op": "upsert", "id": "CELL-A-01-02-3", "data": {
            "address": "A-01-02-3", "zone": "A", "barcode": "2990000012342", "max_weight": "500", "max_volume": "1.2" }},
        {"kind": "stock", "op": "upsert", "id": "I-1001@CELL-A-01-02-3",
            "data": {"item": "I-1001", "cell": "CELL-A-01-02-3", "qty": "48"}},
        {"kind": "pick_order", "op": "upsert", "id": "ZK-1012", "data": {
            "number": "ЗК-1012", "client": "C-77", "due": "2026-11-23T12:00:00Z",
            "lines": [{"item": "I-1001", "qty": "12"}] }},
        {"kind": "expected_receipt", "op": "upsert", "id": "PO-501", "data": {
            "number": "ЗП-501", "supplier": "ООО Поставщик",
            "lines": [{"item": "I-1001", "qty": "120"}] }},
        {"kind": "cell", "op": "upsert", "id": "CELL-BAD", "data": {"address": "A-01"}},
        {"kind": "stock", "op": "upsert", "id": "x", "data": {"item": "I-1", "cell": "C", "qty": "-1"}}
    ]}"#;

    #[test]
    fn decodes_the_protocol_examples() {
        let page = parse_page(PAGE.as_bytes()).unwrap().decode();
        assert_eq!(page.rejected.len(), 2, "{:?}", page.rejected);
        let c = &crate::sync::feed::tests::without_retail(page.changes);
        assert!(matches!(&c[0], Change::ItemUpsert(i) if i.id == "I-1001"));
        assert_eq!(
            c[1],
            Change::ItemStorage {
                item: "I-1001".into(),
                storage: Storage {
                    weight: Some(dec!(1.05)),
                    volume: Some(dec!(0.001)),
                    zone: Some("A".into())
                }
            }
        );
        let Change::CellUpsert(cell) = &c[2] else { panic!("{:?}", c[2]) };
        assert_eq!((cell.address.as_str(), cell.max_weight), ("A-01-02-3", Some(dec!(500))));
        assert_eq!(
            c[3],
            Change::StockUpsert {
                item: "I-1001".into(),
                cell: "CELL-A-01-02-3".into(),
                qty: dec!(48)
            }
        );
        let Change::PickOrderUpsert(order) = &c[4] else { panic!() };
        assert_eq!((order.number.as_str(), order.lines[0].qty), ("ЗК-1012", dec!(12)));
        let Change::ExpectedReceiptUpsert(e) = &c[5] else { panic!() };
        assert_eq!(e.lines["I-1001"], dec!(120));
    }

    proptest::proptest! {
        /// Any data under a warehouse kind decodes or is refused, never panics, and what is
        /// accepted keeps the rules: positive line quantities, valid addresses, no negative stock.
        #[test]
        fn arbitrary_warehouse_changes_never_panic(
            kind in proptest::sample::select(vec!["cell", "stock", "pick_order", "expected_receipt", "item"]),
            op in proptest::sample::select(vec!["upsert", "delete"]),
            address in "[A-Z0-9-]{0,12}",
            qty in "-?[0-9]{0,4}(\\.[0-9]{0,3})?",
            id in "[A-Za-z0-9@-]{0,12}",
        ) {
            let data = serde_json::json!({
                "address": address, "zone": "A", "item": "I-1", "cell": "C", "qty": qty, "name": "x",
                "weight": qty, "lines": [{"item": "I-1", "qty": qty}],
            });
            let data = serde_json::value::to_raw_value(&data).unwrap();
            let _ = item_storage(&id, [&Some(data.clone()), &None, &None]);
            let raw = RawChange { kind: kind.to_string(), op: op.to_string(), id, data: Some(data) };
            match decode(&raw) {
                Some(Ok(Change::CellUpsert(c))) => proptest::prop_assert!(valid_address(&c.address)),
                Some(Ok(Change::StockUpsert { qty, .. })) => proptest::prop_assert!(qty >= Decimal::ZERO),
                Some(Ok(Change::PickOrderUpsert(o))) => proptest::prop_assert!(o.lines.iter().all(|l| l.qty > Decimal::ZERO)),
                Some(Ok(Change::ExpectedReceiptUpsert(e))) => proptest::prop_assert!(e.lines.values().all(|q| *q > Decimal::ZERO)),
                _ => {}
            }
        }
    }
}
