//! Promotions as the CRM's feed defines them (protocol v1.1, change kind `promotion`): what a
//! promotion gives, to which items or groups, and when it is in force.
//!
//! This module answers two questions and nothing else: *is this promotion in force at this
//! moment* ([`Promotion::active_at`]) and *how much would it take off this line*
//! ([`Promotion::line_discount`]). Which of several promotions a receipt actually gets, and how
//! they combine with a cashier's manual discount, is decided in [`crate::domain::pricing`].

use crate::domain::money::{self, MAX_MONEY, MAX_QTY};
use crate::domain::receipt::Line;
use jiff::Timestamp;
use jiff::civil::DateTime;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What a promotion gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    /// `percent` % off each matching line that has at least `min_qty`.
    Percent { percent: Decimal, min_qty: Decimal },
    /// Each unit at `price` once the line reaches `min_qty` (a "from 3 pieces" price).
    QtyPrice { price: Decimal, min_qty: Decimal },
    /// `n` units for the price of `m` (3 for 2): of every `n` whole units, `n − m` are free.
    NForM { n: u32, m: u32 },
    /// `percent` % off the whole receipt once it reaches `min_sum` (after line discounts).
    ReceiptPercent { percent: Decimal, min_sum: Decimal },
}

impl Rule {
    /// A rule on the whole receipt rather than on lines.
    pub fn is_receipt_wide(&self) -> bool {
        matches!(self, Rule::ReceiptPercent { .. })
    }
}

/// A daily window in minutes since midnight, `from` inclusive, `to` exclusive. A window whose
/// end is before its start runs over midnight (`22:00`–`02:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hours {
    pub from: u16,
    pub to: u16,
}

impl Hours {
    /// The whole day, `00:00`–`24:00`.
    pub const ALL_DAY: Hours = Hours { from: 0, to: 24 * 60 };

    /// Whether `minute` (since midnight) is inside the window.
    pub fn contains(self, minute: u16) -> bool {
        if self.from < self.to {
            (self.from..self.to).contains(&minute)
        } else {
            minute >= self.from || minute < self.to
        }
    }
}

/// Read `HH:MM` (`24:00` allowed as an end) into minutes since midnight.
pub fn parse_hhmm(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(24 * 60),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// A promotion from the CRM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    /// The CRM's id (`PR-7`); sale and return documents name it.
    pub id: String,
    /// Printed on the receipt under the line it discounts.
    pub name: String,
    #[serde(flatten)]
    pub rule: Rule,
    /// Item ids the promotion applies to.
    #[serde(default)]
    pub items: Vec<String>,
    /// Item groups it applies to (an item's `group` in the feed).
    #[serde(default)]
    pub groups: Vec<String>,
    /// In force from this moment (inclusive); `None`: since ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    /// In force until this moment (inclusive, as the CRM writes `23:59:59`); `None`: no end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Timestamp>,
    /// ISO weekdays (1 = Monday … 7 = Sunday) of the shop's local date; empty: every day.
    #[serde(default)]
    pub weekdays: Vec<u8>,
    /// The daily window in the shop's local time.
    #[serde(default = "all_day")]
    pub hours: Hours,
}

fn all_day() -> Hours {
    Hours::ALL_DAY
}

/// Why a promotion from the feed cannot be used. The feed refuses that change alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromotionError {
    #[error("у акции нет названия")]
    NoName,
    #[error("процент {0} вне пределов: нужен больше 0 и не больше 100")]
    Percent(Decimal),
    #[error("цена {0} вне пределов: от 0 до {MAX_MONEY}, не больше двух знаков после запятой")]
    Price(Decimal),
    #[error("минимальное количество {0} вне пределов: больше 0 и не больше {MAX_QTY}")]
    MinQty(Decimal),
    #[error("минимальная сумма {0} вне пределов: от 0 до {MAX_MONEY}")]
    MinSum(Decimal),
    #[error("«{n} по цене {m}»: нужно n > m ≥ 1 и n не больше 1000")]
    NForM { n: u32, m: u32 },
    #[error("акция на строки без товаров и групп ни к чему не применяется")]
    NoTarget,
    #[error("день недели {0}: нужны числа от 1 (понедельник) до 7 (воскресенье)")]
    Weekday(u8),
    #[error("часы действия пусты: начало и конец совпадают")]
    EmptyHours,
    #[error("акция заканчивается ({to}) раньше, чем начинается ({from})")]
    Period { from: Timestamp, to: Timestamp },
}

impl PromotionError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        "invalid_promotion"
    }
}

fn valid_percent(p: Decimal) -> bool {
    p > Decimal::ZERO && p <= Decimal::ONE_HUNDRED && p.normalize().scale() <= 2
}

impl Promotion {
    /// Check what the feed sent: every number in range, a target for line rules, a period and
    /// a daily window that are not empty.
    pub fn validate(&self) -> Result<(), PromotionError> {
        if self.name.trim().is_empty() {
            return Err(PromotionError::NoName);
        }
        let min_qty_ok = |q: Decimal| q > Decimal::ZERO && q <= MAX_QTY;
        match &self.rule {
            Rule::Percent { percent, min_qty } => {
                if !valid_percent(*percent) {
                    return Err(PromotionError::Percent(*percent));
                }
                if !min_qty_ok(*min_qty) {
                    return Err(PromotionError::MinQty(*min_qty));
                }
            }
            Rule::QtyPrice { price, min_qty } => {
                if price.is_sign_negative() || *price > MAX_MONEY || price.normalize().scale() > 2 {
                    return Err(PromotionError::Price(*price));
                }
                if !min_qty_ok(*min_qty) {
                    return Err(PromotionError::MinQty(*min_qty));
                }
            }
            Rule::NForM { n, m } => {
                if !(*m >= 1 && n > m && *n <= 1000) {
                    return Err(PromotionError::NForM { n: *n, m: *m });
                }
            }
            Rule::ReceiptPercent { percent, min_sum } => {
                if !valid_percent(*percent) {
                    return Err(PromotionError::Percent(*percent));
                }
                if min_sum.is_sign_negative() || *min_sum > MAX_MONEY {
                    return Err(PromotionError::MinSum(*min_sum));
                }
            }
        }
        // A line rule without targets would apply to nothing; a storewide discount is a
        // receipt_percent, never a line rule that forgot its items.
        if !self.rule.is_receipt_wide() && self.items.is_empty() && self.groups.is_empty() {
            return Err(PromotionError::NoTarget);
        }
        if let Some(day) = self.weekdays.iter().find(|d| !(1..=7).contains(*d)) {
            return Err(PromotionError::Weekday(*day));
        }
        if self.hours.from == self.hours.to || self.hours.from >= 24 * 60 || self.hours.to > 24 * 60 {
            return Err(PromotionError::EmptyHours);
        }
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if to < from {
                return Err(PromotionError::Period { from, to });
            }
        }
        Ok(())
    }

    /// Whether the promotion is in force at `now`, which is `local` on the shop's clock:
    /// inside its period, on one of its weekdays and inside its daily window.
    pub fn active_at(&self, now: Timestamp, local: DateTime) -> bool {
        if self.from.is_some_and(|from| now < from) || self.to.is_some_and(|to| now > to) {
            return false;
        }
        let weekday = local.weekday().to_monday_one_offset();
        if !self.weekdays.is_empty() && !self.weekdays.iter().any(|d| i16::from(*d) == i16::from(weekday)) {
            return false;
        }
        let minute = u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute())).unwrap_or(0);
        self.hours.contains(minute)
    }

    /// Whether a line rule of this promotion targets the line's item or its group.
    pub fn targets(&self, line: &Line) -> bool {
        !self.rule.is_receipt_wide() && (self.items.contains(&line.item) || line.group.as_ref().is_some_and(|g| self.groups.contains(g)))
    }

    /// What this promotion takes off `line`, in kopecks, when it targets the line and the
    /// line meets its condition; `None` otherwise (and for receipt-wide rules). Never more
    /// than the line's sum.
    pub fn line_discount(&self, line: &Line) -> Option<Decimal> {
        if !self.targets(line) {
            return None;
        }
        let discount = match &self.rule {
            Rule::Percent { percent, min_qty } => {
                if line.qty < *min_qty {
                    return None;
                }
                money::percent_of(line.sum, *percent)?
            }
            Rule::QtyPrice { price, min_qty } => {
                if line.qty < *min_qty || *price >= line.price {
                    return None;
                }
                line.sum.checked_sub(money::line_sum(*price, line.qty)?)?
            }
            Rule::NForM { n, m } => {
                // Whole units only: "3 for 2" has no meaning for 0.7 kg.
                if line.weighted || line.qty.fract() != Decimal::ZERO {
                    return None;
                }
                let sets = (line.qty / Decimal::from(*n)).floor();
                let free = sets.checked_mul(Decimal::from(n - m))?;
                money::line_sum(line.price, free)?
            }
            Rule::ReceiptPercent { .. } => return None,
        };
        let discount = money::to_money(discount.min(line.sum));
        (discount > Decimal::ZERO).then_some(discount)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    pub(crate) fn promo(id: &str, rule: Rule, items: &[&str]) -> Promotion {
        Promotion {
            id: id.into(),
            name: format!("Акция {id}"),
            rule,
            items: items.iter().map(|s| s.to_string()).collect(),
            groups: vec![],
            from: None,
            to: None,
            weekdays: vec![],
            hours: Hours::ALL_DAY,
        }
    }

    pub(crate) fn line(item: &str, price: Decimal, qty: Decimal) -> Line {
        Line {
            no: 1,
            item: item.into(),
            sku: item.into(),
            name: format!("Товар {item}"),
            unit: "pcs".into(),
            vat: "20".into(),
            weighted: false,
            code: "x".into(),
            qty,
            price,
            sum: money::line_sum(price, qty).unwrap(),
            mark: None,
            group: None,
            manual: None,
            discount: Decimal::ZERO,
            discounts: vec![],
        }
    }

    fn local(text: &str) -> DateTime {
        text.parse().unwrap()
    }

    #[test]
    fn line_rules() {
        let milk = line("I-1", dec!(89.90), dec!(3));
        let percent = promo(
            "P",
            Rule::Percent {
                percent: dec!(10),
                min_qty: dec!(1),
            },
            &["I-1"],
        );
        assert_eq!(percent.line_discount(&milk), Some(dec!(26.97)));
        let from_three = promo(
            "Q",
            Rule::QtyPrice {
                price: dec!(79.90),
                min_qty: dec!(3),
            },
            &["I-1"],
        );
        assert_eq!(from_three.line_discount(&milk), Some(dec!(30.00)));
        assert_eq!(from_three.line_discount(&line("I-1", dec!(89.90), dec!(2))), None);
        let three_for_two = promo("N", Rule::NForM { n: 3, m: 2 }, &["I-1"]);
        assert_eq!(three_for_two.line_discount(&milk), Some(dec!(89.90)));
        assert_eq!(three_for_two.line_discount(&line("I-1", dec!(89.90), dec!(7))), Some(dec!(179.80)));
        assert_eq!(three_for_two.line_discount(&line("I-1", dec!(89.90), dec!(2))), None);
        let mut cheese = line("I-1", dec!(899), dec!(3));
        cheese.weighted = true;
        assert_eq!(three_for_two.line_discount(&cheese), None, "not for weighed goods");
        assert_eq!(percent.line_discount(&line("I-2", dec!(10), dec!(1))), None, "another item");
        // A price above the shelf price is no promotion.
        let dearer = promo(
            "D",
            Rule::QtyPrice {
                price: dec!(99),
                min_qty: dec!(1),
            },
            &["I-1"],
        );
        assert_eq!(dearer.line_discount(&milk), None);
    }

    #[test]
    fn groups_are_targets_too() {
        let mut p = promo(
            "G",
            Rule::Percent {
                percent: dec!(5),
                min_qty: dec!(1),
            },
            &[],
        );
        p.groups = vec!["G-12".into()];
        let mut l = line("I-9", dec!(100), dec!(1));
        assert_eq!(p.line_discount(&l), None);
        l.group = Some("G-12".into());
        assert_eq!(p.line_discount(&l), Some(dec!(5.00)));
    }

    #[test]
    fn schedule() {
        let mut p = promo(
            "S",
            Rule::Percent {
                percent: dec!(10),
                min_qty: dec!(1),
            },
            &["I-1"],
        );
        p.from = Some("2026-12-01T00:00:00+03:00".parse().unwrap());
        p.to = Some("2026-12-31T23:59:59+03:00".parse().unwrap());
        p.weekdays = vec![6, 7];
        p.hours = Hours {
            from: parse_hhmm("22:00").unwrap(),
            to: parse_hhmm("02:00").unwrap(),
        };
        p.validate().unwrap();
        // Saturday 2026-12-05, 23:30 Moscow = 20:30 UTC.
        let now: Timestamp = "2026-12-05T20:30:00Z".parse().unwrap();
        assert!(p.active_at(now, local("2026-12-05T23:30")));
        assert!(!p.active_at(now, local("2026-12-05T21:59")), "before the window");
        assert!(p.active_at(now, local("2026-12-06T01:59")), "over midnight, Sunday");
        assert!(!p.active_at(now, local("2026-12-07T01:00")), "Monday");
        let before: Timestamp = "2026-11-30T20:59:59Z".parse().unwrap();
        assert!(!p.active_at(before, local("2026-11-30T23:59")));
        let after: Timestamp = "2026-12-31T21:00:00Z".parse().unwrap();
        assert!(!p.active_at(after, local("2027-01-01T00:00")));
    }

    #[test]
    fn hours_parse_and_bad_promotions_are_refused() {
        assert_eq!(parse_hhmm("00:00"), Some(0));
        assert_eq!(parse_hhmm("24:00"), Some(1440));
        assert_eq!(parse_hhmm("9:05"), Some(545));
        for bad in ["24:01", "12:60", "12", "-1:00", "ab:cd", "1:2", "123:00"] {
            assert_eq!(parse_hhmm(bad), None, "{bad}");
        }
        let ok = promo(
            "P",
            Rule::Percent {
                percent: dec!(10),
                min_qty: dec!(1),
            },
            &["I-1"],
        );
        ok.validate().unwrap();
        let cases = [
            (
                Rule::Percent {
                    percent: dec!(0),
                    min_qty: dec!(1),
                },
                "P",
            ),
            (
                Rule::Percent {
                    percent: dec!(100.5),
                    min_qty: dec!(1),
                },
                "P",
            ),
            (
                Rule::QtyPrice {
                    price: dec!(-1),
                    min_qty: dec!(1),
                },
                "Pr",
            ),
            (
                Rule::QtyPrice {
                    price: dec!(1.001),
                    min_qty: dec!(1),
                },
                "Pr",
            ),
            (
                Rule::Percent {
                    percent: dec!(5),
                    min_qty: dec!(0),
                },
                "M",
            ),
            (Rule::NForM { n: 2, m: 2 }, "N"),
            (Rule::NForM { n: 2, m: 0 }, "N"),
            (
                Rule::ReceiptPercent {
                    percent: dec!(5),
                    min_sum: dec!(-1),
                },
                "S",
            ),
        ];
        for (rule, what) in cases {
            let p = Promotion { rule, ..ok.clone() };
            assert!(p.validate().is_err(), "{what}: {p:?}");
        }
        let no_target = Promotion {
            items: vec![],
            ..ok.clone()
        };
        assert_eq!(no_target.validate(), Err(PromotionError::NoTarget));
        let storewide = Promotion {
            rule: Rule::ReceiptPercent {
                percent: dec!(5),
                min_sum: dec!(1000),
            },
            items: vec![],
            ..ok.clone()
        };
        storewide.validate().unwrap();
        let bad_day = Promotion {
            weekdays: vec![0],
            ..ok.clone()
        };
        assert_eq!(bad_day.validate(), Err(PromotionError::Weekday(0)));
        let empty_hours = Promotion {
            hours: Hours { from: 600, to: 600 },
            ..ok.clone()
        };
        assert_eq!(empty_hours.validate(), Err(PromotionError::EmptyHours));
        let unnamed = Promotion { name: " ".into(), ..ok };
        assert_eq!(unnamed.validate().unwrap_err().code(), "invalid_promotion");
    }
}
