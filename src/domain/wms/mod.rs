//! Address storage in a warehouse: cells, the stock they hold and the rules every movement
//! obeys. Pure: the store loads the records, these functions decide, the store writes.
//!
//! - [`Cell`]: an addressed place (`A-01-02-3`: line-rack-tier-position) with a zone, a label
//!   barcode and optional weight/volume limits.
//! - [`CellStock`]: what one cell holds, per item, with the time each lot was first placed
//!   (FIFO picking needs it). Stock never goes negative: [`CellStock::take`] refuses.
//! - [`Movement`]: one line of the append-only movement log; balances are what the log adds up
//!   to, and [`replay`] proves it.
//! - [`pick`]: pick orders and the walking route; [`putaway`]: where goods should go;
//!   [`count`]: setting a cell to what was counted; [`document`]: the `wms_*` documents.

pub mod count;
pub mod document;
pub mod pick;
pub mod putaway;
pub mod receipt;

use crate::domain::text::shown;
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// An addressed storage place, as the CRM's `cell` feed describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// The CRM's id (`CELL-A-01-02-3`).
    pub id: String,
    /// `line-rack-tier-position`, e.g. `A-01-02-3`; what a storekeeper reads on the label.
    pub address: String,
    pub zone: String,
    /// The label's barcode, when it has one besides the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barcode: Option<String>,
    /// Kilograms the cell may carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_weight: Option<Decimal>,
    /// Cubic metres the cell holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_volume: Option<Decimal>,
}

/// How an item is stored: per-unit weight (kg) and volume (m³), and the zone it belongs in.
/// Optional in the item feed; without them capacity cannot be judged for that item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

/// One item's quantity in one cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lot {
    pub qty: Decimal,
    /// When this item last arrived in an empty slot of the cell: older lots are picked first.
    pub placed_at: Timestamp,
}

/// What one cell holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellStock {
    /// Item id → lot. Items at zero are removed, so an empty map is an empty cell.
    pub lines: BTreeMap<String, Lot>,
    /// storeterm has moved goods in or out of this cell itself: from then on the CRM's `stock`
    /// rows for it are history, not the truth.
    #[serde(default)]
    pub local: bool,
}

/// Why a warehouse operation was refused. Nothing changed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WmsError {
    #[error("cell {} is unknown: scan the cell's label or type its address like A-01-02-3", shown(.0))]
    UnknownCell(String),
    #[error("unknown item {}: no such barcode in the catalog", shown(.0))]
    UnknownItem(String),
    #[error("{} is a cell label, not an item: scan the item", shown(.0))]
    CellNotItem(String),
    #[error("the quantity must be greater than zero")]
    NotPositive,
    #[error("cell {cell} holds {have} of {item}, {wanted} were asked for")]
    InsufficientStock {
        cell: String,
        item: String,
        have: Decimal,
        wanted: Decimal,
    },
    #[error("cell {cell} does not hold {item}")]
    NotInCell { cell: String, item: String },
    #[error("cell {cell} would carry {would} kg, more than its {max} kg")]
    OverWeight { cell: String, would: Decimal, max: Decimal },
    #[error("cell {cell} would hold {would} m³, more than its {max} m³")]
    OverVolume { cell: String, would: Decimal, max: Decimal },
    #[error("{item} belongs in zone {item_zone}; cell {cell} is in zone {cell_zone}")]
    WrongZone {
        item: String,
        item_zone: String,
        cell: String,
        cell_zone: String,
    },
    #[error("from and to are the same cell {0}")]
    SameCell(String),
    #[error("no cell in zone {zone} has room for {qty} of {item}")]
    NoRoom { item: String, zone: String, qty: Decimal },
    #[error("pick order {0} is unknown")]
    UnknownOrder(String),
    #[error("pick order {0} is already completed")]
    OrderCompleted(String),
    #[error("{item} is not on pick order {order}")]
    WrongItem { order: String, item: String },
    #[error("{item}: {remaining} left to pick on order {order}, {wanted} scanned")]
    OverPick {
        order: String,
        item: String,
        remaining: Decimal,
        wanted: Decimal,
    },
    #[error("expected receipt {0} is unknown")]
    UnknownExpected(String),
    #[error("operation id {0} was already used for a different request")]
    IdReused(String),
    #[error("{0}")]
    Invalid(String),
}

impl WmsError {
    /// The stable error code for the API and the handheld screen.
    pub fn code(&self) -> &'static str {
        match self {
            WmsError::UnknownCell(_) => "unknown_cell",
            WmsError::UnknownItem(_) => "unknown_item",
            WmsError::CellNotItem(_) => "not_an_item",
            WmsError::NotPositive => "invalid_qty",
            WmsError::InsufficientStock { .. } => "insufficient_stock",
            WmsError::NotInCell { .. } => "not_in_cell",
            WmsError::OverWeight { .. } | WmsError::OverVolume { .. } => "over_capacity",
            WmsError::WrongZone { .. } => "wrong_zone",
            WmsError::SameCell(_) => "same_cell",
            WmsError::NoRoom { .. } => "no_room",
            WmsError::UnknownOrder(_) => "unknown_order",
            WmsError::OrderCompleted(_) => "order_completed",
            WmsError::WrongItem { .. } => "wrong_item",
            WmsError::OverPick { .. } => "over_pick",
            WmsError::UnknownExpected(_) => "unknown_expected",
            WmsError::IdReused(_) => "id_reused",
            WmsError::Invalid(_) => "bad_request",
        }
    }
}

impl CellStock {
    pub fn qty(&self, item: &str) -> Decimal {
        self.lines.get(item).map_or(Decimal::ZERO, |l| l.qty)
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Add goods. A lot that arrives in an empty slot starts a new placement time.
    pub fn put(&mut self, item: &str, qty: Decimal, now: Timestamp) -> Result<(), WmsError> {
        if qty <= Decimal::ZERO {
            return Err(WmsError::NotPositive);
        }
        self.local = true;
        let lot = self.lines.entry(item.to_string()).or_insert(Lot {
            qty: Decimal::ZERO,
            placed_at: now,
        });
        lot.qty += qty;
        Ok(())
    }

    /// Take goods out; refused when the cell holds fewer, so stock never goes negative.
    pub fn take(&mut self, cell: &str, item: &str, qty: Decimal) -> Result<(), WmsError> {
        if qty <= Decimal::ZERO {
            return Err(WmsError::NotPositive);
        }
        let Some(lot) = self.lines.get_mut(item) else {
            return Err(WmsError::NotInCell {
                cell: cell.to_string(),
                item: item.to_string(),
            });
        };
        if lot.qty < qty {
            return Err(WmsError::InsufficientStock {
                cell: cell.to_string(),
                item: item.to_string(),
                have: lot.qty,
                wanted: qty,
            });
        }
        lot.qty -= qty;
        if lot.qty.is_zero() {
            self.lines.remove(item);
        }
        self.local = true;
        Ok(())
    }

    /// Set an item to an absolute quantity (a count). Zero removes it.
    pub fn set(&mut self, item: &str, qty: Decimal, now: Timestamp) {
        self.local = true;
        if qty <= Decimal::ZERO {
            self.lines.remove(item);
        } else {
            self.lines
                .entry(item.to_string())
                .or_insert(Lot {
                    qty: Decimal::ZERO,
                    placed_at: now,
                })
                .qty = qty;
        }
    }
}

/// How much of a cell's capacity its contents use, as far as it can be told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Load {
    pub weight: Decimal,
    pub volume: Decimal,
    /// Items in the cell without a weight / a volume in the catalog: their share is unknown.
    pub weight_unknown: bool,
    pub volume_unknown: bool,
}

/// The load of `stock` in a cell, with per-item storage data from `storage`.
pub fn load(stock: &CellStock, storage: impl Fn(&str) -> Storage) -> Load {
    let mut load = Load::default();
    for (item, lot) in &stock.lines {
        let s = storage(item);
        match s.weight {
            Some(w) => load.weight += w * lot.qty,
            None => load.weight_unknown = true,
        }
        match s.volume {
            Some(v) => load.volume += v * lot.qty,
            None => load.volume_unknown = true,
        }
    }
    load
}

/// Check that `stock` (a cell's contents after a change) fits the cell. Items without a
/// weight or volume count as zero for that limit: an unknown can't be refused, and the
/// putaway suggestion says so in its reason.
pub fn check_capacity(cell: &Cell, stock: &CellStock, storage: impl Fn(&str) -> Storage) -> Result<Load, WmsError> {
    let load = load(stock, storage);
    if let Some(max) = cell.max_weight {
        if load.weight > max {
            return Err(WmsError::OverWeight {
                cell: cell.address.clone(),
                would: load.weight,
                max,
            });
        }
    }
    if let Some(max) = cell.max_volume {
        if load.volume > max {
            return Err(WmsError::OverVolume {
                cell: cell.address.clone(),
                would: load.volume,
                max,
            });
        }
    }
    Ok(load)
}

/// Refuse to place an item of one zone in a cell of another. Items without a zone go
/// anywhere.
pub fn check_zone(item: &str, storage: &Storage, cell: &Cell) -> Result<(), WmsError> {
    match &storage.zone {
        Some(zone) if *zone != cell.zone => Err(WmsError::WrongZone {
            item: item.to_string(),
            item_zone: zone.clone(),
            cell: cell.address.clone(),
            cell_zone: cell.zone.clone(),
        }),
        _ => Ok(()),
    }
}

/// What a movement was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    /// The starting balance from the CRM's `stock` row.
    Opening,
    Receipt,
    Putaway,
    Pick,
    Move,
    /// A count's difference: into the cell when more was found, out when less.
    Count,
}

/// One line of the movement log. `from`/`to` are cell ids; `None` is outside the warehouse
/// (a supplier, a customer, a count difference).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    /// The handheld's operation id this movement belongs to.
    pub op: String,
    pub kind: MovementKind,
    pub item: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub qty: Decimal,
    pub at: Timestamp,
    pub by: String,
}

/// Replay a movement log into balances per (cell, item). The store keeps balances
/// incrementally; this is the definition they must agree with.
pub fn replay<'a>(log: impl IntoIterator<Item = &'a Movement>) -> BTreeMap<(String, String), Decimal> {
    let mut balances: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for m in log {
        if let Some(from) = &m.from {
            *balances.entry((from.clone(), m.item.clone())).or_default() -= m.qty;
        }
        if let Some(to) = &m.to {
            *balances.entry((to.clone(), m.item.clone())).or_default() += m.qty;
        }
    }
    balances.retain(|_, q| !q.is_zero());
    balances
}

/// Compare two cell addresses in walking order: part by part, numbers as numbers
/// (`A-2-…` before `A-10-…`), so a route visits line A, rack 1, tier 1, 2, … then rack 2.
pub fn address_order(a: &str, b: &str) -> Ordering {
    let mut left = a.split(['-', '.', '/']);
    let mut right = b.split(['-', '.', '/']);
    loop {
        match (left.next(), right.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    _ => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// Check a cell address from the feed: `line-rack-tier-position`, each part letters or
/// digits, e.g. `A-01-02-3`. Other shapes (a receiving area `RECEIVING`) are allowed as
/// a single part, since not every place is a rack.
pub fn valid_address(address: &str) -> bool {
    let parts: Vec<&str> = address.split('-').collect();
    !address.is_empty()
        && address.len() <= 64
        && (parts.len() == 1 || parts.len() == 4)
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_scan_is_echoed_escaped_and_shortened() {
        let hostile = format!("\u{202e}{}\n", "9".repeat(500));
        let message = WmsError::UnknownItem(hostile).to_string();
        assert!(!message.contains('\u{202e}') && !message.contains('\n'), "{message}");
        assert!(message.chars().count() < 120, "{message}");
    }

    fn t0() -> Timestamp {
        Timestamp::UNIX_EPOCH
    }

    #[test]
    fn take_refuses_more_than_held_and_removes_empty_lines() {
        let mut s = CellStock::default();
        s.put("I-1", dec!(10), t0()).unwrap();
        let err = s.take("A-01-01-1", "I-1", dec!(11)).unwrap_err();
        assert_eq!(err.code(), "insufficient_stock");
        assert_eq!(s.qty("I-1"), dec!(10));
        s.take("A-01-01-1", "I-1", dec!(10)).unwrap();
        assert!(s.is_empty());
        assert_eq!(s.take("A-01-01-1", "I-1", dec!(1)).unwrap_err().code(), "not_in_cell");
        assert_eq!(s.put("I-1", dec!(0), t0()).unwrap_err(), WmsError::NotPositive);
    }

    #[test]
    fn capacity_counts_known_weights_and_volumes() {
        let cell = Cell {
            id: "C".into(),
            address: "A-01-01-1".into(),
            zone: "A".into(),
            barcode: None,
            max_weight: Some(dec!(100)),
            max_volume: Some(dec!(1)),
        };
        let mut s = CellStock::default();
        s.put("heavy", dec!(11), t0()).unwrap();
        s.put("unknown", dec!(1000), t0()).unwrap();
        let storage = |item: &str| match item {
            "heavy" => Storage {
                weight: Some(dec!(10)),
                volume: Some(dec!(0.05)),
                zone: None,
            },
            _ => Storage::default(),
        };
        assert_eq!(check_capacity(&cell, &s, storage).unwrap_err().code(), "over_capacity");
        s.take("A", "heavy", dec!(1)).unwrap();
        let load = check_capacity(&cell, &s, storage).unwrap();
        assert_eq!(load.weight, dec!(100));
        assert!(load.weight_unknown);
    }

    #[test]
    fn addresses_sort_in_walking_order() {
        let mut a = vec!["A-10-01-1", "A-2-01-1", "B-01-01-1", "A-02-01-2", "A-02-01-10"];
        a.sort_by(|x, y| address_order(x, y));
        assert_eq!(a, vec!["A-2-01-1", "A-02-01-2", "A-02-01-10", "A-10-01-1", "B-01-01-1"]);
        assert!(valid_address("A-01-02-3"));
        assert!(valid_address("RECEIVING"));
        assert!(!valid_address("A-01-02"));
        assert!(!valid_address("A--02-3"));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Put(usize, usize, u32),
        Take(usize, usize, u32),
        Move(usize, usize, usize, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..3usize, 0..3usize, 1..20u32).prop_map(|(c, i, q)| Op::Put(c, i, q)),
            (0..3usize, 0..3usize, 1..20u32).prop_map(|(c, i, q)| Op::Take(c, i, q)),
            (0..3usize, 0..3usize, 0..3usize, 1..20u32).prop_map(|(f, t, i, q)| Op::Move(f, t, i, q)),
        ]
    }

    proptest! {
        /// Whatever sequence of operations is tried, no balance goes negative, refused
        /// operations change nothing, and the balances equal the replayed movement log.
        #[test]
        fn balances_never_negative_and_equal_the_log(ops in proptest::collection::vec(op(), 0..60)) {
            let cells = ["c0", "c1", "c2"];
            let items = ["i0", "i1", "i2"];
            let mut stock: Vec<CellStock> = vec![CellStock::default(); 3];
            let mut log = Vec::new();
            let mv = |kind, item: &str, from: Option<&str>, to: Option<&str>, qty| Movement {
                op: "p".into(), kind, item: item.into(), from: from.map(Into::into), to: to.map(Into::into),
                qty, at: t0(), by: "t".into(),
            };
            for op in ops {
                match op {
                    Op::Put(c, i, q) => {
                        stock[c].put(items[i], Decimal::from(q), t0()).unwrap();
                        log.push(mv(MovementKind::Receipt, items[i], None, Some(cells[c]), Decimal::from(q)));
                    }
                    Op::Take(c, i, q) => {
                        let before = stock[c].clone();
                        match stock[c].take(cells[c], items[i], Decimal::from(q)) {
                            Ok(()) => log.push(mv(MovementKind::Pick, items[i], Some(cells[c]), None, Decimal::from(q))),
                            Err(_) => prop_assert_eq!(&stock[c], &before),
                        }
                    }
                    Op::Move(f, t, i, q) => {
                        if f == t { continue; }
                        if stock[f].take(cells[f], items[i], Decimal::from(q)).is_ok() {
                            stock[t].put(items[i], Decimal::from(q), t0()).unwrap();
                            log.push(mv(MovementKind::Move, items[i], Some(cells[f]), Some(cells[t]), Decimal::from(q)));
                        }
                    }
                }
            }
            let replayed = replay(&log);
            for (c, s) in stock.iter().enumerate() {
                for (item, lot) in &s.lines {
                    prop_assert!(lot.qty > Decimal::ZERO);
                    prop_assert_eq!(replayed.get(&(cells[c].to_string(), item.clone())), Some(&lot.qty));
                }
            }
            prop_assert!(replayed.values().all(|q| *q > Decimal::ZERO));
            let total: usize = stock.iter().map(|s| s.lines.len()).sum();
            prop_assert_eq!(total, replayed.len());
        }

        #[test]
        fn address_order_is_a_total_order(a in "[A-C0-9-]{0,12}", b in "[A-C0-9-]{0,12}") {
            prop_assert_eq!(address_order(&a, &b), address_order(&b, &a).reverse());
            let _ = valid_address(&a);
        }
    }
}
