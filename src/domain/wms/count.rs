//! Counting a cell: the counted absolute quantities replace the system's, and the
//! differences are what the count document reports.

use super::CellStock;
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// One item of a count: what the system had, what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counted {
    pub item: String,
    pub system: Decimal,
    pub counted: Decimal,
    /// counted − system: positive is a surplus, negative a shortage.
    pub diff: Decimal,
}

/// Set the cell to `counted` (item → absolute quantity). Items the system had but the count
/// did not list were not found: they count as zero. Applying the same count twice changes
/// nothing the second time, because it sets quantities instead of adding differences.
pub fn apply(stock: &mut CellStock, counted: &BTreeMap<String, Decimal>, now: Timestamp) -> Vec<Counted> {
    let mut items: Vec<String> = stock.lines.keys().cloned().collect();
    items.extend(counted.keys().filter(|k| !stock.lines.contains_key(*k)).cloned());
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let system = stock.qty(&item);
        let found = counted.get(&item).copied().unwrap_or(Decimal::ZERO);
        stock.set(&item, found, now);
        out.push(Counted {
            diff: found - system,
            item,
            system,
            counted: found,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_count_sets_absolute_quantities_and_is_idempotent() {
        let t = Timestamp::UNIX_EPOCH;
        let mut s = CellStock::default();
        s.put("I-1", dec!(10), t).unwrap();
        s.put("I-2", dec!(3), t).unwrap();
        let counted = BTreeMap::from([("I-1".to_string(), dec!(8)), ("I-3".to_string(), dec!(2))]);
        let diffs = apply(&mut s, &counted, t);
        let by: BTreeMap<_, _> = diffs.iter().map(|d| (d.item.as_str(), d.diff)).collect();
        assert_eq!(by, BTreeMap::from([("I-1", dec!(-2)), ("I-2", dec!(-3)), ("I-3", dec!(2))]));
        assert_eq!(s.qty("I-1"), dec!(8));
        assert_eq!(s.qty("I-2"), dec!(0));
        let again = apply(&mut s, &counted, t);
        assert!(again.iter().all(|d| d.diff.is_zero()), "{again:?}");
        assert_eq!(s.qty("I-3"), dec!(2));
    }
}
