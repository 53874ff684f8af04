//! Receiving goods against a supplier delivery announced by the CRM (`expected_receipt`).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A delivery the CRM announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedReceipt {
    pub id: String,
    pub number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    /// Item → quantity announced.
    pub lines: BTreeMap<String, Decimal>,
    /// Item → quantity received against it so far at this site.
    #[serde(default)]
    pub received: BTreeMap<String, Decimal>,
}

/// One item where what arrived differs from what was announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub item: String,
    pub expected: Decimal,
    pub received: Decimal,
    /// received − expected: negative is a shortage, positive a surplus or an item not announced.
    pub diff: Decimal,
}

impl ExpectedReceipt {
    /// Record received quantities; returns every item whose running total differs from the
    /// announcement (items not received yet included, as shortages).
    pub fn receive(&mut self, lines: &BTreeMap<String, Decimal>) -> Vec<Difference> {
        for (item, qty) in lines {
            *self.received.entry(item.clone()).or_default() += *qty;
        }
        self.differences()
    }

    pub fn differences(&self) -> Vec<Difference> {
        let mut items: Vec<&String> = self.lines.keys().collect();
        items.extend(self.received.keys().filter(|k| !self.lines.contains_key(*k)));
        items
            .into_iter()
            .filter_map(|item| {
                let expected = self.lines.get(item).copied().unwrap_or_default();
                let received = self.received.get(item).copied().unwrap_or_default();
                (expected != received).then(|| Difference {
                    item: item.clone(),
                    expected,
                    received,
                    diff: received - expected,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn differences_cover_shortages_surpluses_and_unannounced_items() {
        let mut e = ExpectedReceipt {
            id: "PO-501".into(),
            number: "ЗП-501".into(),
            supplier: None,
            lines: BTreeMap::from([("I-1".into(), dec!(120)), ("I-2".into(), dec!(10))]),
            received: BTreeMap::new(),
        };
        let d = e.receive(&BTreeMap::from([("I-1".into(), dec!(100)), ("I-9".into(), dec!(1))]));
        let by: Vec<(&str, Decimal)> = d.iter().map(|d| (d.item.as_str(), d.diff)).collect();
        assert_eq!(by, vec![("I-1", dec!(-20)), ("I-2", dec!(-10)), ("I-9", dec!(1))]);
        let d = e.receive(&BTreeMap::from([("I-1".into(), dec!(20)), ("I-2".into(), dec!(10))]));
        assert_eq!(d.len(), 1, "only the unannounced item still differs: {d:?}");
    }
}
