//! The CRM's change feed (protocol section 1): the page format and its decoding into typed
//! changes. Pure: bytes in, changes out.

use crate::domain::catalog::Item;
use crate::domain::client::Client;
use crate::domain::feed::Change;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One page as the CRM sends it.
#[derive(Debug, Deserialize)]
pub struct FeedPage {
    pub cursor: String,
    #[serde(default)]
    pub more: bool,
    pub changes: Vec<RawChange>,
}

/// One change before its `data` is interpreted.
#[derive(Debug, Deserialize)]
pub struct RawChange {
    pub kind: String,
    pub op: String,
    pub id: String,
    #[serde(default)]
    pub data: Option<serde_json::Value>,
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
}

impl ClientData {
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
    /// Interpret this change. A malformed change of a known kind is an error for that change
    /// alone: the rest of the page still applies, so one bad item in the CRM cannot freeze
    /// every price update of the shop; the rejection is reported on `/admin`.
    pub fn decode(self) -> Result<Change, FeedError> {
        let bad = |reason: String| FeedError::Change {
            kind: self.kind.clone(),
            id: self.id.clone(),
            reason,
        };
        if let Some(change) = super::wms_feed::decode(&self) {
            return change;
        }
        match (self.kind.as_str(), self.op.as_str()) {
            ("item", "upsert") => {
                let data = self.data.clone().ok_or_else(|| bad("upsert without data".into()))?;
                let d: ItemData = serde_json::from_value(data).map_err(|e| bad(e.to_string()))?;
                if let Some(p) = d.prices.values().find(|p| p.is_sign_negative()) {
                    return Err(bad(format!("negative price {p}")));
                }
                Ok(Change::ItemUpsert(Item {
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
                }))
            }
            ("item", "delete") => Ok(Change::ItemDelete(self.id)),
            ("client", "upsert") => {
                let data = self.data.clone().ok_or_else(|| bad("upsert without data".into()))?;
                let d: ClientData = serde_json::from_value(data).map_err(|e| bad(e.to_string()))?;
                Ok(Change::ClientUpsert(d.into_client(self.id)))
            }
            ("client", "delete") => Ok(Change::ClientDelete(self.id)),
            (_, "upsert" | "delete") => Ok(Change::Skipped { kind: self.kind }),
            (_, op) => Err(bad(format!("unknown op \"{op}\""))),
        }
    }
}

/// A page after decoding.
#[derive(Debug)]
pub struct DecodedPage {
    pub cursor: String,
    pub more: bool,
    pub changes: Vec<Change>,
    /// Changes that could not be used, with the reason.
    pub rejected: Vec<FeedError>,
}

impl FeedPage {
    pub fn decode(self) -> DecodedPage {
        let mut changes = Vec::with_capacity(self.changes.len());
        let mut rejected = Vec::new();
        for raw in self.changes {
            let storage = super::wms_feed::item_storage(&raw);
            match raw.decode() {
                Ok(change) => {
                    changes.push(change);
                    changes.extend(storage);
                }
                Err(e) => rejected.push(e),
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
mod tests {
    use super::*;
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

    #[test]
    fn decodes_the_protocol_example() {
        let page = parse_page(PAGE.as_bytes()).unwrap().decode();
        assert_eq!(page.cursor, "c-1");
        assert!(page.more);
        assert!(page.rejected.is_empty());
        let changes = page.changes;
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
        assert_eq!(page.changes.len(), 3, "the rest of the page still applies");
        let err = page.rejected[0].to_string();
        assert!(err.starts_with("item I-1001:"), "{err}");
        let negative = PAGE.replace("\"89.90\"", "\"-1\"");
        assert_eq!(parse_page(negative.as_bytes()).unwrap().decode().rejected.len(), 1);
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
