//! Where goods should be put away: a cell of the item's zone that already holds it and has
//! room, else an empty cell of that zone, never one over capacity.

use super::{Cell, CellStock, Storage, WmsError, check_capacity};
use rust_decimal::Decimal;
use serde::Serialize;

/// A suggested cell and why it was chosen (shown to the storekeeper).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    pub cell: String,
    pub address: String,
    pub zone: String,
    pub reason: String,
}

/// A cell to consider, with what it holds now.
pub struct Candidate<'a> {
    pub cell: &'a Cell,
    pub stock: &'a CellStock,
}

/// How capacity was judged for this item, in words for the reason.
fn capacity_note(storage: &Storage, cell: &Cell) -> String {
    let mut unknown = Vec::new();
    if cell.max_weight.is_some() && storage.weight.is_none() {
        unknown.push("weight");
    }
    if cell.max_volume.is_some() && storage.volume.is_none() {
        unknown.push("volume");
    }
    if cell.max_weight.is_none() && cell.max_volume.is_none() {
        "the cell has no weight or volume limit".into()
    } else if unknown.is_empty() {
        "fits the cell's weight and volume limits".into()
    } else {
        format!(
            "capacity checked without the item's {}: the catalog has none for it",
            unknown.join(" and ")
        )
    }
}

/// Does `qty` more of `item` fit in the candidate?
fn fits(item: &str, qty: Decimal, c: &Candidate<'_>, storage: &impl Fn(&str) -> Storage) -> bool {
    let mut after = c.stock.clone();
    after.put(item, qty, jiff::Timestamp::UNIX_EPOCH).is_ok() && check_capacity(c.cell, &after, storage).is_ok()
}

/// Pick the first fitting cell among those holding the item (`holding`), then among empty
/// cells (`empty`, in the order given — by address). Candidates of another zone than the
/// item's are skipped.
pub fn suggest<'a>(
    item: &str,
    qty: Decimal,
    storage_of: impl Fn(&str) -> Storage,
    holding: impl IntoIterator<Item = Candidate<'a>>,
    empty: impl IntoIterator<Item = Candidate<'a>>,
) -> Result<Suggestion, WmsError> {
    if qty <= Decimal::ZERO {
        return Err(WmsError::NotPositive);
    }
    let storage = storage_of(item);
    let zone_ok = |c: &Candidate<'_>| storage.zone.as_ref().is_none_or(|z| *z == c.cell.zone);
    let zone_words = match &storage.zone {
        Some(z) => format!("zone {z}"),
        None => "any zone (the item has no zone in the catalog)".to_string(),
    };
    for c in holding {
        if zone_ok(&c) && fits(item, qty, &c, &storage_of) {
            return Ok(Suggestion {
                cell: c.cell.id.clone(),
                address: c.cell.address.clone(),
                zone: c.cell.zone.clone(),
                reason: format!(
                    "already holds {} of this item in {zone_words}; {}",
                    c.stock.qty(item),
                    capacity_note(&storage, c.cell)
                ),
            });
        }
    }
    for c in empty {
        if c.stock.is_empty() && zone_ok(&c) && fits(item, qty, &c, &storage_of) {
            return Ok(Suggestion {
                cell: c.cell.id.clone(),
                address: c.cell.address.clone(),
                zone: c.cell.zone.clone(),
                reason: format!("empty cell in {zone_words}; {}", capacity_note(&storage, c.cell)),
            });
        }
    }
    Err(WmsError::NoRoom {
        item: item.to_string(),
        zone: storage.zone.unwrap_or_else(|| "any".into()),
        qty,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn cell(address: &str, zone: &str, max_weight: Option<Decimal>) -> Cell {
        Cell {
            id: format!("CELL-{address}"),
            address: address.into(),
            zone: zone.into(),
            barcode: None,
            max_weight,
            max_volume: None,
        }
    }

    #[test]
    fn holding_cell_with_room_first_then_empty_never_over_capacity() {
        let storage = |_: &str| Storage {
            weight: Some(dec!(10)),
            volume: None,
            zone: Some("A".into()),
        };
        let (full, other_zone, roomy, empty_small, empty_big) = (
            cell("A-01-01-1", "A", Some(dec!(100))),
            cell("B-01-01-1", "B", None),
            cell("A-02-01-1", "A", Some(dec!(500))),
            cell("A-03-01-1", "A", Some(dec!(20))),
            cell("A-04-01-1", "A", Some(dec!(500))),
        );
        let mut held = CellStock::default();
        held.put("I-1", dec!(9), jiff::Timestamp::UNIX_EPOCH).unwrap();
        let none = CellStock::default();
        let s = suggest(
            "I-1",
            dec!(5),
            storage,
            [
                Candidate { cell: &full, stock: &held },
                Candidate {
                    cell: &other_zone,
                    stock: &held,
                },
                Candidate {
                    cell: &roomy,
                    stock: &held,
                },
            ],
            [],
        )
        .unwrap();
        assert_eq!(s.address, "A-02-01-1");
        assert!(s.reason.starts_with("already holds 9"), "{}", s.reason);
        let s = suggest(
            "I-1",
            dec!(5),
            storage,
            [Candidate { cell: &full, stock: &held }],
            [
                Candidate {
                    cell: &empty_small,
                    stock: &none,
                },
                Candidate {
                    cell: &empty_big,
                    stock: &none,
                },
            ],
        )
        .unwrap();
        assert_eq!(s.address, "A-04-01-1");
        assert!(s.reason.contains("empty cell in zone A"), "{}", s.reason);
        let err = suggest(
            "I-1",
            dec!(100),
            storage,
            [],
            [Candidate {
                cell: &empty_big,
                stock: &none,
            }],
        )
        .unwrap_err();
        assert_eq!(err.code(), "no_room");
    }

    #[test]
    fn the_reason_says_when_capacity_could_not_be_judged() {
        let c = cell("A-01-01-1", "A", Some(dec!(1)));
        let none = CellStock::default();
        let s = suggest(
            "I-1",
            dec!(1000),
            |_| Storage::default(),
            [],
            [Candidate { cell: &c, stock: &none }],
        )
        .unwrap();
        assert!(s.reason.contains("without the item's weight"), "{}", s.reason);
        assert!(s.reason.contains("any zone"), "{}", s.reason);
    }
}
