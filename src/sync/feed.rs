//! The CRM's change feed (protocol section 1 and the v1.1 retail additions of section 5): the
//! page format and its decoding into typed changes. Pure: bytes in, changes out.
//!
//! Money in the feed is bounded: a price or balance that is negative (where that means
//! nothing), above [`MAX_MONEY`] or with more than two decimal places refuses its change with
//! a reason naming the field — one absurd price must never reach a receipt, where its sums
//! could overflow.

use crate::domain::catalog::Item;
use crate::domain::client::{Client, ClientAccount};
use crate::domain::feed::{Change, RetailChange};
use crate::domain::money::MAX_MONEY;
use crate::domain::promotion::{self, Hours, Promotion, Rule};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// One page as the CRM sends it.
#[derive(Debug, Deserialize)]
pub struct FeedPage {
    pub cursor: String,
    #[serde(default)]
    pub more: bool,
    pub changes: Vec<RawChange>,
}

/// One change before its `data` is interpreted. `data` stays raw JSON text until its kind is
/// known, then is read once, straight into that kind's own type: building a generic JSON tree
/// of every change first would cost as much again as parsing the page.
#[derive(Debug, Deserialize)]
pub struct RawChange {
    pub kind: String,
    pub op: String,
    pub id: String,
    #[serde(default)]
    pub data: Option<Box<RawValue>>,
}

/// Why a page or a change in it is unusable.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("the change feed page is not valid: {0}")]
    Page(#[from] serde_json::Error),
    #[error("{kind} {id}: {reason}")]
    Change { kind: String, id: String, reason: String },
}

/// Parse a page body.
pub fn parse_page(body: &[u8]) -> Result<FeedPage, FeedError> {
    Ok(serde_json::from_slice(body)?)
}

#[derive(Deserialize)]
struct ItemData {
    #[serde(default)]
    sku: String,
    name: String,
    #[serde(default = "default_unit")]
    unit: String,
    #[serde(default = "default_vat")]
    vat: String,
    #[serde(default)]
    weighted: bool,
    #[serde(default)]
    marked: bool,
    #[serde(default)]
    mark_group: Option<String>,
    #[serde(default)]
    plu: Option<String>,
    #[serde(default)]
    barcodes: Vec<String>,
    #[serde(default)]
    prices: BTreeMap<String, Decimal>,
    /// v1.1: the item's group, for promotions on groups.
    #[serde(default)]
    group: Option<String>,
    /// The warehouse's storage attributes, read by [`super::wms_feed::item_storage`]. Kept
    /// raw because a malformed one is dropped while the item still sells.
    #[serde(default)]
    weight: Option<Box<RawValue>>,
    #[serde(default)]
    volume: Option<Box<RawValue>>,
    #[serde(default)]
    zone: Option<Box<RawValue>>,
}

fn default_unit() -> String {
    "pcs".into()
}

fn default_vat() -> String {
    "none".into()
}

/// `data` of a `client` change (protocol section 1).
#[derive(Deserialize)]
struct ClientData {
    name: String,
    #[serde(default)]
    phones: Vec<String>,
    #[serde(default)]
    debt: Option<Decimal>,
    #[serde(default)]
    overdue: Option<Decimal>,
    #[serde(default)]
    credit_limit: Option<Decimal>,
    #[serde(default)]
    stop_list: bool,
    #[serde(default)]
    segment: Option<String>,
    #[serde(default)]
    manager: Option<String>,
    #[serde(default)]
    loyalty_cards: Vec<String>,
    #[serde(default)]
    last_activity: Option<jiff::Timestamp>,
    /// v1.1: loyalty points.
    #[serde(default)]
    bonus_balance: Option<Decimal>,
    /// v1.1: the client may buy on credit.
    #[serde(default)]
    allow_credit: bool,
}

/// Check an amount of money from the feed: at most [`MAX_MONEY`] either way, at most two
/// decimal places, and not negative unless `signed`.
fn check_money(field: &str, value: Decimal, signed: bool) -> Result<(), String> {
    if !signed && value.is_sign_negative() && !value.is_zero() {
        return Err(format!("{field} {value}: отрицательная сумма"));
    }
    if value.abs() > MAX_MONEY {
        return Err(format!("{field} {value}: больше допустимых {MAX_MONEY}"));
    }
    if value.normalize().scale() > 2 {
        return Err(format!("{field} {value}: больше двух знаков после запятой"));
    }
    Ok(())
}

impl ItemData {
    fn check(&self) -> Result<(), String> {
        for (kind, price) in &self.prices {
            check_money(&format!("prices.{kind}"), *price, false)?;
        }
        Ok(())
    }
}

impl ClientData {
    fn check(&self) -> Result<(), String> {
        let fields = [
            ("debt", self.debt, true),
            ("overdue", self.overdue, true),
            ("credit_limit", self.credit_limit, false),
            ("bonus_balance", self.bonus_balance, false),
        ];
        for (field, value, signed) in fields {
            if let Some(value) = value {
                check_money(field, value, signed)?;
            }
        }
        Ok(())
    }

    fn into_client(self, id: String) -> Client {
        Client {
            id,
            name: self.name,
            phones: self.phones,
            debt: self.debt,
            overdue: self.overdue,
            credit_limit: self.credit_limit,
            stop_list: self.stop_list,
            segment: self.segment,
            manager: self.manager,
            loyalty_cards: self.loyalty_cards,
            last_activity: self.last_activity,
        }
    }
}

impl RawChange {
    /// `data` read as `T`. Its absence, or a shape `T` does not accept, refuses the change.
    pub(super) fn data<T: DeserializeOwned>(&self) -> Result<T, FeedError> {
        let raw = self.data.as_ref().ok_or_else(|| self.refused("upsert without data".into()))?;
        serde_json::from_str(raw.get()).map_err(|e| self.refused(e.to_string()))
    }

    /// This change refused, for `reason`.
    pub(super) fn refused(&self, reason: String) -> FeedError {
        FeedError::Change {
            kind: self.kind.clone(),
            id: self.id.clone(),
            reason,
        }
    }

    /// Interpret this change into `out`: the change itself, then what travels with it (an
    /// item's storage attributes and group, a client's account). A malformed change of a
    /// known kind is an error for that change alone and adds nothing: the rest of the page
    /// still applies, so one bad item in the CRM cannot freeze every price update of the shop;
    /// the rejection is reported on `/admin`.
    fn decode_into(self, out: &mut Vec<Change>) -> Result<(), FeedError> {
        if let Some(promotion) = self.decode_promotion() {
            out.push(Change::Retail(promotion?));
            return Ok(());
        }
        if let Some(change) = super::wms_feed::decode(&self) {
            out.push(change?);
            return Ok(());
        }
        match (self.kind.as_str(), self.op.as_str()) {
            ("item", "upsert") => {
                let d: ItemData = self.data()?;
                d.check().map_err(|reason| self.refused(reason))?;
                let storage = super::wms_feed::item_storage(&self.id, [&d.weight, &d.volume, &d.zone]);
                let group = RetailChange::ItemGroup {
                    item: self.id.clone(),
                    group: d.group.filter(|g| !g.trim().is_empty()),
                };
                out.push(Change::ItemUpsert(Item {
                    id: self.id,
                    sku: d.sku,
                    name: d.name,
                    unit: d.unit,
                    vat: d.vat,
                    weighted: d.weighted,
                    marked: d.marked,
                    mark_group: d.mark_group,
                    plu: d.plu,
                    barcodes: d.barcodes,
                    prices: d.prices,
                }));
                out.extend(storage);
                out.push(Change::Retail(group));
            }
            ("item", "delete") => out.push(Change::ItemDelete(self.id)),
            ("client", "upsert") => {
                let d: ClientData = self.data()?;
                d.check().map_err(|reason| self.refused(reason))?;
                let account = ClientAccount {
                    bonus_balance: d.bonus_balance.unwrap_or(Decimal::ZERO),
                    allow_credit: d.allow_credit,
                };
                let client = self.id.clone();
                out.push(Change::ClientUpsert(d.into_client(self.id)));
                out.push(Change::Retail(RetailChange::ClientAccount { client, account }));
            }
            ("client", "delete") => out.push(Change::ClientDelete(self.id)),
            (_, "upsert" | "delete") => out.push(Change::Skipped { kind: self.kind }),
            (_, op) => return Err(self.refused(format!("unknown op \"{op}\""))),
        }
        Ok(())
    }
}

/// `data` of a `promotion` change (protocol section 5). Fields a rule does not use may be
/// absent; unknown fields are ignored.
#[derive(Deserialize)]
struct PromotionData {
    name: String,
    rule: String,
    #[serde(default)]
    percent: Option<Decimal>,
    #[serde(default)]
    price: Option<Decimal>,
    #[serde(default)]
    min_qty: Option<Decimal>,
    #[serde(default)]
    min_sum: Option<Decimal>,
    #[serde(default)]
    n: Option<serde_json::Value>,
    #[serde(default)]
    m: Option<serde_json::Value>,
    #[serde(default)]
    items: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    from: Option<jiff::Timestamp>,
    #[serde(default)]
    to: Option<jiff::Timestamp>,
    #[serde(default)]
    weekdays: Vec<u8>,
    #[serde(default)]
    hours: Option<Vec<String>>,
}

/// A count given as a JSON number or a decimal string (`3` or `"3"`).
fn count(field: &str, value: Option<&serde_json::Value>) -> Result<u32, String> {
    let parsed = match value {
        Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => return Err(format!("нет поля {field}")),
    };
    parsed.ok_or_else(|| format!("{field}: нужно целое число"))
}

impl PromotionData {
    fn into_promotion(self, id: String) -> Result<Promotion, String> {
        let need = |field: &str, v: Option<Decimal>| v.ok_or_else(|| format!("нет поля {field}"));
        let min_qty = self.min_qty.unwrap_or(Decimal::ONE);
        let rule = match self.rule.as_str() {
            "percent" => Rule::Percent {
                percent: need("percent", self.percent)?,
                min_qty,
            },
            "qty_price" => {
                let price = need("price", self.price)?;
                check_money("price", price, false)?;
                Rule::QtyPrice {
                    price,
                    min_qty: need("min_qty", self.min_qty)?,
                }
            }
            "n_for_m" => Rule::NForM {
                n: count("n", self.n.as_ref())?,
                m: count("m", self.m.as_ref())?,
            },
            "receipt_percent" => {
                let min_sum = self.min_sum.unwrap_or(Decimal::ZERO);
                check_money("min_sum", min_sum, false)?;
                Rule::ReceiptPercent {
                    percent: need("percent", self.percent)?,
                    min_sum,
                }
            }
            other => return Err(format!("неизвестное правило «{other}»")),
        };
        let hours = match self.hours.as_deref() {
            None => Hours::ALL_DAY,
            Some([from, to]) => {
                let parse = |t: &str| promotion::parse_hhmm(t).ok_or_else(|| format!("hours: «{t}» — не время ЧЧ:ММ"));
                Hours {
                    from: parse(from)?,
                    to: parse(to)?,
                }
            }
            Some(_) => return Err("hours: нужны два времени, начало и конец".into()),
        };
        let promotion = Promotion {
            id,
            name: self.name,
            rule,
            items: self.items,
            groups: self.groups,
            from: self.from,
            to: self.to,
            weekdays: self.weekdays,
            hours,
        };
        promotion.validate().map_err(|e| e.to_string())?;
        Ok(promotion)
    }
}

impl RawChange {
    /// A `promotion` change (protocol v1.1); `None` for every other kind. A malformed
    /// promotion is refused alone, like any change.
    fn decode_promotion(&self) -> Option<Result<RetailChange, FeedError>> {
        if self.kind != "promotion" {
            return None;
        }
        Some(match self.op.as_str() {
            "upsert" => self.data::<PromotionData>().and_then(|d| {
                let promotion = d.into_promotion(self.id.clone()).map_err(|reason| self.refused(reason))?;
                Ok(RetailChange::PromotionUpsert(promotion))
            }),
            "delete" => Ok(RetailChange::PromotionDelete(self.id.clone())),
            op => Err(self.refused(format!("unknown op \"{op}\""))),
        })
    }
}

/// A page after decoding.
#[derive(Debug)]
pub struct DecodedPage {
    pub cursor: String,
    pub more: bool,
    /// Every usable change in feed order, the v1.1 retail ones (promotions, item groups,
    /// client accounts) as [`Change::Retail`] right after what they belong to.
    pub changes: Vec<Change>,
    /// Changes that could not be used, with the reason.
    pub rejected: Vec<FeedError>,
}

impl FeedPage {
    pub fn decode(self) -> DecodedPage {
        let mut changes = Vec::with_capacity(self.changes.len());
        let mut rejected = Vec::new();
        for raw in self.changes {
            if let Err(e) = raw.decode_into(&mut changes) {
                rejected.push(e);
            }
        }
        DecodedPage {
            cursor: self.cursor,
            more: self.more,
            changes,
            rejected,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::promotion::{Hours, Rule};
    use rust_decimal_macros::dec;

    const PAGE: &str = r#"{ "cursor": "c-1", "more": true, "changes": [
        {"kind": "item", "op": "upsert", "id": "I-1001", "data": {
            "sku": "A-1001", "name": "Молоко 3,2% 1 л", "unit": "pcs", "vat": "20",
            "weighted": false, "marked": false, "barcodes": ["4601234567893"],
            "prices": {"retail": "89.90"} }},
        {"kind": "item", "op": "delete", "id": "I-0999"},
        {"kind": "client", "op": "upsert", "id": "C-77", "data": {"name": "ООО Ромашка"}},
        {"kind": "hologram", "op": "upsert", "id": "H-1", "data": {}}
    ]}"#;

    /// The changes of protocol 1.0, without the v1.1 retail ones that travel beside them.
    pub(crate) fn without_retail(changes: Vec<Change>) -> Vec<Change> {
        changes.into_iter().filter(|c| !matches!(c, Change::Retail(_))).collect()
    }

    #[test]
    fn decodes_the_protocol_example() {
        let page = parse_page(PAGE.as_bytes()).unwrap().decode();
        assert_eq!(page.cursor, "c-1");
        assert!(page.more);
        assert!(page.rejected.is_empty());
        let changes = without_retail(page.changes);
        let Change::ItemUpsert(item) = &changes[0] else { panic!() };
        assert_eq!(item.name, "Молоко 3,2% 1 л");
        assert_eq!(item.retail_price(), Some(dec!(89.90)));
        assert_eq!(changes[1], Change::ItemDelete("I-0999".into()));
        assert_eq!(changes[3], Change::Skipped { kind: "hologram".into() });
    }

    #[test]
    fn bad_pages_and_changes_are_errors() {
        assert!(parse_page(b"<html>502 Bad Gateway</html>").is_err());
        assert!(parse_page(br#"{"cursor": 5, "changes": []}"#).is_err());
        let bad_price = PAGE.replace("\"89.90\"", "\"восемьдесят\"");
        let page = parse_page(bad_price.as_bytes()).unwrap().decode();
        assert_eq!(without_retail(page.changes).len(), 3, "the rest of the page still applies");
        let err = page.rejected[0].to_string();
        assert!(err.starts_with("item I-1001:"), "{err}");
        let negative = PAGE.replace("\"89.90\"", "\"-1\"");
        assert_eq!(parse_page(negative.as_bytes()).unwrap().decode().rejected.len(), 1);
    }

    #[test]
    fn absurd_money_is_refused_with_the_field_named() {
        for (price, why) in [
            ("\"-0.01\"", "отрицательная"),
            ("\"100000000\"", "больше допустимых"),
            ("\"79228162514264337593543950335\"", "больше допустимых"),
            ("\"89.901\"", "двух знаков"),
        ] {
            let page = PAGE.replace("\"89.90\"", price);
            let page = parse_page(page.as_bytes()).unwrap().decode();
            assert_eq!(page.rejected.len(), 1, "{price}");
            let err = page.rejected[0].to_string();
            assert!(err.starts_with("item I-1001: prices.retail"), "{err}");
            assert!(err.contains(why), "{err}");
            assert_eq!(without_retail(page.changes).len(), 3, "the rest of the page applies");
        }
        let page = PAGE.replace(r#"{"name": "ООО Ромашка"}"#, r#"{"name": "ООО Ромашка", "credit_limit": "-5"}"#);
        let page = parse_page(page.as_bytes()).unwrap().decode();
        assert!(
            page.rejected[0].to_string().starts_with("client C-77: credit_limit"),
            "{:?}",
            page.rejected
        );
        let page = PAGE.replace(r#"{"name": "ООО Ромашка"}"#, r#"{"name": "ООО Ромашка", "debt": "-1500.00"}"#);
        assert!(
            parse_page(page.as_bytes()).unwrap().decode().rejected.is_empty(),
            "a negative debt is a prepayment"
        );
    }

    const RETAIL: &str = r#"{ "cursor": "c-2", "changes": [
        {"kind": "promotion", "op": "upsert", "id": "PR-7", "data": {
            "name": "Молочная неделя −10 %", "rule": "percent", "percent": "10",
            "items": ["I-1001"], "groups": [], "min_qty": "1",
            "from": "2026-12-01T00:00:00+03:00", "to": "2026-12-31T23:59:59+03:00",
            "weekdays": [1, 2, 3, 4, 5, 6, 7], "hours": ["00:00", "24:00"], "future": true }},
        {"kind": "promotion", "op": "upsert", "id": "PR-8", "data": {
            "name": "3 по цене 2", "rule": "n_for_m", "n": 3, "m": "2", "groups": ["G-12"] }},
        {"kind": "promotion", "op": "upsert", "id": "PR-9", "data": {
            "name": "От 3 штук", "rule": "qty_price", "price": "79.90", "min_qty": "3", "items": ["I-1001"],
            "hours": ["22:00", "02:00"] }},
        {"kind": "promotion", "op": "upsert", "id": "PR-10", "data": {
            "name": "−5 % от 3000", "rule": "receipt_percent", "percent": "5", "min_sum": "3000" }},
        {"kind": "promotion", "op": "upsert", "id": "PR-BAD1", "data": {"name": "x", "rule": "bogo"}},
        {"kind": "promotion", "op": "upsert", "id": "PR-BAD2", "data": {"name": "x", "rule": "percent", "percent": "150", "items": ["I-1"]}},
        {"kind": "promotion", "op": "upsert", "id": "PR-BAD3", "data": {"name": "x", "rule": "percent", "percent": "5"}},
        {"kind": "promotion", "op": "upsert", "id": "PR-BAD4", "data": {"name": "x", "rule": "qty_price", "price": "-1", "min_qty": "2", "items": ["I-1"]}},
        {"kind": "promotion", "op": "upsert", "id": "PR-BAD5", "data": {"name": "x", "rule": "percent", "percent": "5", "items": ["I-1"], "hours": ["25:00", "26:00"]}},
        {"kind": "promotion", "op": "delete", "id": "PR-1"},
        {"kind": "item", "op": "upsert", "id": "I-1001", "data": {
            "name": "Молоко", "group": "G-12", "prices": {"retail": "89.90"} }},
        {"kind": "client", "op": "upsert", "id": "C-77", "data": {
            "name": "ООО Ромашка", "bonus_balance": "350", "allow_credit": true }}
    ]}"#;

    #[test]
    fn decodes_the_v1_1_retail_changes() {
        let page = parse_page(RETAIL.as_bytes()).unwrap().decode();
        let retail: Vec<RetailChange> = page
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::Retail(r) => Some(r.clone()),
                _ => None,
            })
            .collect();
        let rejected: Vec<String> = page.rejected.iter().map(|e| e.to_string()).collect();
        assert_eq!(rejected.len(), 5, "{rejected:?}");
        assert!(rejected.iter().all(|e| e.starts_with("promotion PR-BAD")), "{rejected:?}");
        assert!(rejected[0].contains("неизвестное правило «bogo»"), "{rejected:?}");
        let RetailChange::PromotionUpsert(pr7) = &retail[0] else {
            panic!("{retail:?}")
        };
        assert_eq!(
            pr7.rule,
            Rule::Percent {
                percent: dec!(10),
                min_qty: dec!(1)
            }
        );
        assert_eq!(pr7.items, vec!["I-1001".to_string()]);
        assert_eq!(pr7.hours, Hours::ALL_DAY);
        assert_eq!(pr7.weekdays.len(), 7);
        let RetailChange::PromotionUpsert(pr8) = &retail[1] else { panic!() };
        assert_eq!(pr8.rule, Rule::NForM { n: 3, m: 2 });
        let RetailChange::PromotionUpsert(pr9) = &retail[2] else { panic!() };
        assert_eq!(pr9.hours, Hours { from: 22 * 60, to: 2 * 60 });
        let RetailChange::PromotionUpsert(pr10) = &retail[3] else {
            panic!()
        };
        assert!(pr10.rule.is_receipt_wide());
        assert_eq!(retail[4], RetailChange::PromotionDelete("PR-1".into()));
        assert_eq!(
            retail[5],
            RetailChange::ItemGroup {
                item: "I-1001".into(),
                group: Some("G-12".into())
            }
        );
        assert_eq!(
            retail[6],
            RetailChange::ClientAccount {
                client: "C-77".into(),
                account: ClientAccount {
                    bonus_balance: dec!(350),
                    allow_credit: true
                }
            }
        );
        assert_eq!(retail[6].kind(), "client.bonus_balance");
        // The item and the client themselves still come through as before.
        assert_eq!(page.changes.len() - retail.len(), 2);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            if let Ok(page) = parse_page(&bytes) {
                let _ = page.decode();
            }
        }
    }
}
