//! Pick orders from the CRM, the progress of picking them, and the route through the cells.

use super::{Cell, Lot, WmsError, address_order};
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One line of a pick order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickLine {
    pub item: String,
    pub qty: Decimal,
    /// Picked so far at this site.
    #[serde(default)]
    pub picked: Decimal,
}

impl PickLine {
    pub fn remaining(&self) -> Decimal {
        (self.qty - self.picked).max(Decimal::ZERO)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PickStatus {
    Open,
    Completed,
}

/// A customer order to pick (`pick_order` in the feed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickOrder {
    pub id: String,
    /// The number people see (`ЗК-1012`).
    pub number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Timestamp>,
    pub lines: Vec<PickLine>,
    pub status: PickStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
}

impl PickOrder {
    /// Take a new version of the order from the CRM without losing what was picked here.
    pub fn merge_from_feed(&mut self, newer: PickOrder) {
        let mut lines = newer.lines;
        for line in &mut lines {
            if let Some(old) = self.lines.iter().find(|l| l.item == line.item) {
                line.picked = old.picked;
            }
        }
        self.number = newer.number;
        self.client = newer.client;
        self.due = newer.due;
        self.lines = lines;
    }

    /// Record `qty` of `item` as picked; refused for items not on the order and beyond what
    /// is left, so a double scan cannot over-pick.
    pub fn record(&mut self, item: &str, qty: Decimal) -> Result<(), WmsError> {
        if self.status == PickStatus::Completed {
            return Err(WmsError::OrderCompleted(self.number.clone()));
        }
        if qty <= Decimal::ZERO {
            return Err(WmsError::NotPositive);
        }
        let line = self.lines.iter_mut().find(|l| l.item == item && l.remaining() > Decimal::ZERO);
        let Some(line) = line else {
            return Err(if self.lines.iter().any(|l| l.item == item) {
                WmsError::OverPick {
                    order: self.number.clone(),
                    item: item.to_string(),
                    remaining: Decimal::ZERO,
                    wanted: qty,
                }
            } else {
                WmsError::WrongItem {
                    order: self.number.clone(),
                    item: item.to_string(),
                }
            });
        };
        if qty > line.remaining() {
            return Err(WmsError::OverPick {
                order: self.number.clone(),
                item: item.to_string(),
                remaining: line.remaining(),
                wanted: qty,
            });
        }
        line.picked += qty;
        Ok(())
    }

    pub fn is_fully_picked(&self) -> bool {
        self.lines.iter().all(|l| l.remaining().is_zero())
    }

    /// Close the order; what was not picked is reported short by the caller.
    pub fn complete(&mut self, now: Timestamp) {
        self.status = PickStatus::Completed;
        self.completed_at = Some(now);
    }
}

/// A cell holding an item, as a pick source.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    pub cell: &'a Cell,
    pub lot: &'a Lot,
}

/// One stop of the route: take `qty` of `item` from `cell`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stop {
    pub cell: String,
    pub address: String,
    pub item: String,
    pub qty: Decimal,
}

/// Choose cells for `qty` of `item`: oldest placement first (FIFO; the feed carries no
/// expiry dates, so placement order stands in for FEFO), then the smallest lot among equally
/// old ones so small remainders are emptied and cells freed. Returns the stops and what no
/// cell could cover.
pub fn allocate(item: &str, qty: Decimal, sources: &[Source<'_>]) -> (Vec<Stop>, Decimal) {
    let mut sorted: Vec<&Source<'_>> = sources.iter().filter(|s| s.lot.qty > Decimal::ZERO).collect();
    sorted.sort_by(|a, b| {
        a.lot
            .placed_at
            .cmp(&b.lot.placed_at)
            .then(a.lot.qty.cmp(&b.lot.qty))
            .then_with(|| address_order(&a.cell.address, &b.cell.address))
    });
    let mut left = qty;
    let mut stops = Vec::new();
    for s in sorted {
        if left <= Decimal::ZERO {
            break;
        }
        let take = left.min(s.lot.qty);
        stops.push(Stop {
            cell: s.cell.id.clone(),
            address: s.cell.address.clone(),
            item: item.to_string(),
            qty: take,
        });
        left -= take;
    }
    (stops, left)
}

/// All stops of an order in one walk, by address.
pub fn route(mut stops: Vec<Stop>) -> Vec<Stop> {
    stops.sort_by(|a, b| address_order(&a.address, &b.address).then_with(|| a.item.cmp(&b.item)));
    stops
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn cell(address: &str) -> Cell {
        Cell {
            id: format!("CELL-{address}"),
            address: address.into(),
            zone: "A".into(),
            barcode: None,
            max_weight: None,
            max_volume: None,
        }
    }

    fn lot(qty: Decimal, secs: i64) -> Lot {
        Lot {
            qty,
            placed_at: Timestamp::from_second(secs).unwrap(),
        }
    }

    fn order() -> PickOrder {
        PickOrder {
            id: "ZK-1".into(),
            number: "ЗК-1".into(),
            client: None,
            due: None,
            lines: vec![PickLine {
                item: "I-1".into(),
                qty: dec!(10),
                picked: dec!(0),
            }],
            status: PickStatus::Open,
            completed_at: None,
        }
    }

    #[test]
    fn fifo_then_small_remainders_then_route_by_address() {
        let (c1, c2, c3) = (cell("B-01-01-1"), cell("A-01-01-1"), cell("A-05-01-1"));
        let (l1, l2, l3) = (lot(dec!(3), 100), lot(dec!(50), 100), lot(dec!(50), 10));
        let sources = [
            Source { cell: &c1, lot: &l1 },
            Source { cell: &c2, lot: &l2 },
            Source { cell: &c3, lot: &l3 },
        ];
        let (stops, short) = allocate("I-1", dec!(60), &sources);
        assert_eq!(short, dec!(0));
        // Oldest fully, then the small remainder B-01 before the big A-01 lot.
        let taken: Vec<(&str, Decimal)> = stops.iter().map(|s| (s.address.as_str(), s.qty)).collect();
        assert_eq!(taken, vec![("A-05-01-1", dec!(50)), ("B-01-01-1", dec!(3)), ("A-01-01-1", dec!(7))]);
        let walk: Vec<String> = route(stops).into_iter().map(|s| s.address).collect();
        assert_eq!(walk, vec!["A-01-01-1", "A-05-01-1", "B-01-01-1"]);
        let (_, short) = allocate("I-1", dec!(200), &sources);
        assert_eq!(short, dec!(97));
    }

    #[test]
    fn recording_refuses_wrong_items_and_over_picks() {
        let mut o = order();
        assert_eq!(o.record("I-2", dec!(1)).unwrap_err().code(), "wrong_item");
        o.record("I-1", dec!(4)).unwrap();
        assert_eq!(o.record("I-1", dec!(7)).unwrap_err().code(), "over_pick");
        o.record("I-1", dec!(6)).unwrap();
        assert!(o.is_fully_picked());
        assert_eq!(o.record("I-1", dec!(1)).unwrap_err().code(), "over_pick");
        o.complete(Timestamp::UNIX_EPOCH);
        assert_eq!(o.record("I-1", dec!(1)).unwrap_err().code(), "order_completed");
        let mut again = order();
        again.record("I-1", dec!(2)).unwrap();
        let mut newer = order();
        newer.lines[0].qty = dec!(12);
        again.merge_from_feed(newer);
        assert_eq!(again.lines[0].picked, dec!(2));
        assert_eq!(again.lines[0].remaining(), dec!(10));
    }

    proptest! {
        #[test]
        fn allocation_never_takes_more_than_held_or_asked(
            lots in proptest::collection::vec((0u32..40, 0i64..5), 0..8), want in 1u32..200
        ) {
            let cells: Vec<Cell> = (0..lots.len()).map(|i| cell(&format!("A-{i:02}-01-1"))).collect();
            let lots: Vec<Lot> = lots.iter().map(|(q, t)| lot(Decimal::from(*q), *t)).collect();
            let sources: Vec<Source<'_>> = cells.iter().zip(&lots).map(|(cell, lot)| Source { cell, lot }).collect();
            let (stops, short) = allocate("I", Decimal::from(want), &sources);
            let taken: Decimal = stops.iter().map(|s| s.qty).sum();
            prop_assert_eq!(taken + short, Decimal::from(want));
            let held: Decimal = lots.iter().map(|l| l.qty).sum();
            prop_assert!(taken <= held);
            for s in &stops {
                let i = cells.iter().position(|c| c.id == s.cell).unwrap();
                prop_assert!(s.qty > Decimal::ZERO && s.qty <= lots[i].qty);
            }
        }
    }
}
