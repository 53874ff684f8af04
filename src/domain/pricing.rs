//! What a receipt's customer actually pays: promotions and manual discounts, decided together
//! and recomputed from scratch on every change of the receipt.
//!
//! # The rule (what a cashier can explain to a customer)
//!
//! 1. **One discount per line.** Each line gets at most one line discount: the single best of
//!    the line promotions that target it, or the cashier's manual discount on that line —
//!    whichever takes more off. Never both, never two promotions on one line. On a tie the
//!    promotion is kept (it costs the shop the same, and the CRM learns which promotion sold).
//! 2. **One discount on the whole receipt, on top.** Then at most one receipt-wide discount:
//!    the best `receipt_percent` promotion whose `min_sum` the receipt reaches (after line
//!    discounts), or the cashier's manual discount on the whole receipt — whichever is larger.
//!    It applies to what is left to pay on every line *except* lines that carry a manual line
//!    discount (the cashier already set that line's price by hand).
//! 3. **Spread in proportion, remainder on the last line.** A receipt-wide discount is split
//!    across its lines in proportion to what each line still costs, each share rounded to
//!    kopecks; the rounding remainder goes to the last of those lines (moving back a line
//!    only if the last line could not take it), so the shares add up to the discount exactly
//!    and no line ever goes below zero.
//!
//! Everything here is a pure function of the lines, the manual discounts and the promotions in
//! force (chosen by time in [`Offers::snapshot`]); the receipt stores the result on its lines so
//! screens, documents and returns see exactly what the customer saw.

use crate::domain::money::{self, AmountError};
use crate::domain::promotion::{Promotion, Rule};
use crate::domain::receipt::Line;
use jiff::Timestamp;
use jiff::civil::DateTime;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The promotions an operation should price with, and the shop's local time they are judged
/// at. Given to the domain through [`crate::domain::Ctx::with_offers`].
#[derive(Debug, Clone, Copy)]
pub struct Offers<'a> {
    pub promotions: &'a [Promotion],
    /// `ctx.now` on the shop's wall clock (weekdays and daily hours are local).
    pub local: DateTime,
}

impl Offers<'_> {
    /// The promotions in force at `now`, kept with the receipt: edits that come without fresh
    /// offers (a quantity change, a void) re-price against the same set.
    pub fn snapshot(&self, now: Timestamp) -> Offer {
        Offer {
            promotions: self.promotions.iter().filter(|p| p.active_at(now, self.local)).cloned().collect(),
            at: now,
            local: self.local,
        }
    }
}

/// The promotions in force when the receipt was last priced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub promotions: Vec<Promotion>,
    pub at: Timestamp,
    pub local: DateTime,
}

/// A manual discount as the cashier enters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum DiscountValue {
    /// Percent off, 0 < p ≤ 100, at most two places.
    Percent(Decimal),
    /// Rubles off.
    Amount(Decimal),
}

impl DiscountValue {
    /// Read `10%` (percent) or `150` / `150,50` (rubles), strictly like any typed amount.
    pub fn parse(text: &str) -> Result<DiscountValue, DiscountError> {
        let t = text.trim();
        match t.strip_suffix('%') {
            Some(p) => {
                let p = money::parse_amount(p).map_err(|_| DiscountError::Percent(t.to_string()))?;
                DiscountValue::Percent(p).checked()
            }
            None => DiscountValue::Amount(money::parse_amount(t)?).checked(),
        }
    }

    /// The value itself in range: a percent in (0, 100], an amount a valid amount of money.
    pub fn checked(self) -> Result<DiscountValue, DiscountError> {
        match self {
            DiscountValue::Percent(p) if p > Decimal::ZERO && p <= Decimal::ONE_HUNDRED && p.normalize().scale() <= 2 => {
                Ok(DiscountValue::Percent(p.normalize()))
            }
            DiscountValue::Percent(p) => Err(DiscountError::Percent(p.to_string())),
            DiscountValue::Amount(a) => Ok(DiscountValue::Amount(money::check_amount(a)?)),
        }
    }
}

/// A manual discount the cashier gave, with the authority it was given under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManualDiscount {
    pub value: DiscountValue,
    /// The largest percent the granting role may give. Kept with the discount so that a later
    /// change (fewer pieces on the line) never lets a ruble discount grow past that share.
    pub max_percent: Decimal,
    /// Who gave it.
    pub by: String,
}

impl ManualDiscount {
    /// Rubles off `base`: the percent of it, or the amount capped at the granting role's share
    /// of it (and at the base itself). `None` on overflow.
    pub fn amount_on(&self, base: Decimal) -> Option<Decimal> {
        let amount = match self.value {
            DiscountValue::Percent(p) => money::percent_of(base, p.min(self.max_percent))?,
            DiscountValue::Amount(a) => a.min(money::percent_of(base, self.max_percent)?),
        };
        Some(money::to_money(amount.min(base).max(Decimal::ZERO)))
    }

    /// Check a discount the cashier asks for on `base` against the role's `max_percent`.
    pub fn grant(value: DiscountValue, max_percent: Decimal, base: Decimal, by: &str) -> Result<ManualDiscount, DiscountError> {
        let value = value.checked()?;
        if base <= Decimal::ZERO {
            return Err(DiscountError::NothingToDiscount);
        }
        let percent = match value {
            DiscountValue::Percent(p) => p,
            DiscountValue::Amount(a) => {
                if a > base {
                    return Err(DiscountError::ExceedsSum { amount: a, sum: base });
                }
                let share = a.checked_mul(Decimal::ONE_HUNDRED).and_then(|v| v.checked_div(base));
                share
                    .map(money::to_money)
                    .ok_or(DiscountError::ExceedsSum { amount: a, sum: base })?
            }
        };
        if percent > max_percent {
            return Err(DiscountError::Limit {
                percent: percent.normalize(),
                max: max_percent.normalize(),
            });
        }
        Ok(ManualDiscount {
            value,
            max_percent,
            by: by.to_string(),
        })
    }
}

/// A promotion as a line remembers it: enough to print and to report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionRef {
    pub id: String,
    pub name: String,
}

/// One discount applied to a line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discount {
    /// Rubles off this line, in kopecks, greater than zero.
    pub amount: Decimal,
    /// The promotion that gave it; `None`: the cashier's manual discount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<PromotionRef>,
    /// This line's share of a discount on the whole receipt.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub receipt_wide: bool,
}

/// Why a manual discount was refused. The receipt is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscountError {
    #[error("процент скидки «{0}» вне пределов: больше 0 и не больше 100, до двух знаков после запятой")]
    Percent(String),
    #[error("{0}")]
    Amount(#[from] AmountError),
    #[error("скидка {percent}% больше разрешённой вам ({max}%)")]
    Limit { percent: Decimal, max: Decimal },
    #[error("скидка {amount} больше суммы {sum}, на которую она даётся")]
    ExceedsSum { amount: Decimal, sum: Decimal },
    #[error("скидку на чек не к чему применить: у всех строк уже есть ручная скидка")]
    NothingToDiscount,
}

impl DiscountError {
    /// The stable error code the API and screens use.
    pub fn code(&self) -> &'static str {
        match self {
            DiscountError::Limit { .. } => "discount_limit",
            _ => "invalid_discount",
        }
    }
}

/// The line-level decision for one line.
struct LineLevel {
    discount: Option<Discount>,
    manual: bool,
}

fn line_levels(lines: &[Line], promotions: &[Promotion]) -> Option<Vec<LineLevel>> {
    lines
        .iter()
        .map(|line| {
            // Best promotion for this line; on equal amounts the smaller id, so the choice
            // never depends on the order the feed delivered them in.
            let mut best: Option<(Decimal, &Promotion)> = None;
            for p in promotions {
                if let Some(amount) = p.line_discount(line) {
                    let better = match best {
                        None => true,
                        Some((b, bp)) => amount > b || (amount == b && p.id < bp.id),
                    };
                    if better {
                        best = Some((amount, p));
                    }
                }
            }
            let manual = match &line.manual {
                Some(m) => m.amount_on(line.sum)?,
                None => Decimal::ZERO,
            };
            let promo_amount = best.map_or(Decimal::ZERO, |(a, _)| a);
            Some(if manual > promo_amount {
                LineLevel {
                    discount: Some(Discount {
                        amount: manual,
                        promotion: None,
                        receipt_wide: false,
                    }),
                    manual: true,
                }
            } else {
                LineLevel {
                    discount: best.map(|(amount, p)| Discount {
                        amount,
                        promotion: Some(PromotionRef {
                            id: p.id.clone(),
                            name: p.name.clone(),
                        }),
                        receipt_wide: false,
                    }),
                    manual: false,
                }
            })
        })
        .collect()
}

/// What a receipt-wide discount would apply to: the sum still due, after line discounts, on
/// lines without a manual line discount. `None` on overflow.
pub fn receipt_base(lines: &[Line], promotions: &[Promotion]) -> Option<Decimal> {
    let levels = line_levels(lines, promotions)?;
    money::checked_sum(
        lines
            .iter()
            .zip(&levels)
            .filter(|(_, level)| !level.manual)
            .map(|(line, level)| line.sum - level.discount.as_ref().map_or(Decimal::ZERO, |d| d.amount)),
    )
}

/// The discounts of every line (same order as `lines`) under the rule in the module header.
/// `None` only if a sum overflows, which the bounds on prices and quantities rule out.
pub fn apply(lines: &[Line], receipt_manual: Option<&ManualDiscount>, promotions: &[Promotion]) -> Option<Vec<Vec<Discount>>> {
    let levels = line_levels(lines, promotions)?;
    let left: Vec<Decimal> = lines
        .iter()
        .zip(&levels)
        .map(|(line, level)| line.sum - level.discount.as_ref().map_or(Decimal::ZERO, |d| d.amount))
        .collect();
    let subtotal = money::checked_sum(left.iter().copied())?;
    let in_base: Vec<bool> = levels
        .iter()
        .zip(&left)
        .map(|(level, left)| !level.manual && *left > Decimal::ZERO)
        .collect();
    let base = money::checked_sum(left.iter().zip(&in_base).filter(|(_, b)| **b).map(|(l, _)| *l))?;

    let mut best: Option<(Decimal, &Promotion)> = None;
    for p in promotions {
        if let Rule::ReceiptPercent { percent, min_sum } = &p.rule {
            if subtotal < *min_sum {
                continue;
            }
            let amount = money::percent_of(base, *percent)?;
            let better = match best {
                None => true,
                Some((b, bp)) => amount > b || (amount == b && p.id < bp.id),
            };
            if amount > Decimal::ZERO && better {
                best = Some((amount, p));
            }
        }
    }
    let manual = match receipt_manual {
        Some(m) => m.amount_on(base)?,
        None => Decimal::ZERO,
    };
    let promo_amount = best.map_or(Decimal::ZERO, |(a, _)| a);
    let wide: Option<(Decimal, Option<PromotionRef>)> = if manual > promo_amount {
        Some((manual, None))
    } else {
        best.map(|(amount, p)| {
            (
                amount,
                Some(PromotionRef {
                    id: p.id.clone(),
                    name: p.name.clone(),
                }),
            )
        })
    };

    let mut result: Vec<Vec<Discount>> = levels.into_iter().map(|l| l.discount.into_iter().collect()).collect();
    if let Some((amount, promotion)) = wide {
        let targets: Vec<usize> = (0..lines.len()).filter(|i| in_base[*i]).collect();
        let weights: Vec<Decimal> = targets.iter().map(|i| left[*i]).collect();
        let shares = spread(amount, &weights)?;
        for (i, share) in targets.into_iter().zip(shares) {
            if share > Decimal::ZERO {
                result[i].push(Discount {
                    amount: share,
                    promotion: promotion.clone(),
                    receipt_wide: true,
                });
            }
        }
    }
    Some(result)
}

/// Split `total` over `weights` in proportion, each share rounded to kopecks, the rounding
/// remainder on the last weight. A share never exceeds its weight and never goes below zero:
/// if the last line cannot take the remainder (or would go negative), the difference walks
/// back over the earlier lines. Expects `0 ≤ total ≤ Σ weights`, weights ≥ 0. `None` on
/// overflow.
pub fn spread(total: Decimal, weights: &[Decimal]) -> Option<Vec<Decimal>> {
    let n = weights.len();
    let base = money::checked_sum(weights.iter().copied())?;
    if n == 0 || base <= Decimal::ZERO {
        return Some(vec![Decimal::ZERO; n]);
    }
    let total = money::to_money(total.min(base).max(Decimal::ZERO));
    let mut shares = Vec::with_capacity(n);
    let mut given = Decimal::ZERO;
    for w in &weights[..n - 1] {
        let share = money::to_money(total.checked_mul(*w)?.checked_div(base)?).min(*w);
        given = given.checked_add(share)?;
        shares.push(share);
    }
    shares.push(total - given);
    let last = n - 1;
    if shares[last] > weights[last] {
        let mut excess = shares[last] - weights[last];
        shares[last] = weights[last];
        for i in (0..last).rev() {
            let add = (weights[i] - shares[i]).min(excess);
            shares[i] += add;
            excess -= add;
        }
    } else if shares[last] < Decimal::ZERO {
        let mut short = -shares[last];
        shares[last] = Decimal::ZERO;
        for i in (0..last).rev() {
            let take = shares[i].min(short);
            shares[i] -= take;
            short -= take;
        }
    }
    Some(shares.into_iter().map(money::to_money).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::promotion::tests::{line, promo};
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn manual(value: DiscountValue, max: Decimal) -> ManualDiscount {
        ManualDiscount {
            value,
            max_percent: max,
            by: "Анна".into(),
        }
    }

    fn amounts(d: &[Vec<Discount>]) -> Vec<Decimal> {
        d.iter().map(|l| l.iter().map(|x| x.amount).sum()).collect()
    }

    #[test]
    fn the_best_line_promotion_wins_and_never_two() {
        let lines = [line("I-1", dec!(100), dec!(3))];
        let promos = [
            promo(
                "A",
                Rule::Percent {
                    percent: dec!(10),
                    min_qty: dec!(1),
                },
                &["I-1"],
            ),
            promo("B", Rule::NForM { n: 3, m: 2 }, &["I-1"]),
            promo(
                "C",
                Rule::Percent {
                    percent: dec!(20),
                    min_qty: dec!(5),
                },
                &["I-1"],
            ),
        ];
        let d = apply(&lines, None, &promos).unwrap();
        assert_eq!(d[0].len(), 1);
        assert_eq!(d[0][0].amount, dec!(100.00));
        assert_eq!(d[0][0].promotion.as_ref().unwrap().id, "B");
    }

    #[test]
    fn manual_line_discount_versus_promotion_the_larger_wins() {
        let mut l = line("I-1", dec!(89.90), dec!(1));
        let promos = [promo(
            "P",
            Rule::Percent {
                percent: dec!(10),
                min_qty: dec!(1),
            },
            &["I-1"],
        )];
        l.manual = Some(manual(DiscountValue::Percent(dec!(5)), dec!(15)));
        let d = apply(std::slice::from_ref(&l), None, &promos).unwrap();
        assert_eq!((d[0][0].amount, d[0][0].promotion.is_some()), (dec!(8.99), true));
        l.manual = Some(manual(DiscountValue::Percent(dec!(15)), dec!(15)));
        let d = apply(std::slice::from_ref(&l), None, &promos).unwrap();
        assert_eq!((d[0][0].amount, d[0][0].promotion.is_some()), (dec!(13.49), false));
        assert_eq!(d[0].len(), 1, "never both");
        // A tie keeps the promotion.
        l.manual = Some(manual(DiscountValue::Amount(dec!(8.99)), dec!(15)));
        let d = apply(std::slice::from_ref(&l), None, &promos).unwrap();
        assert!(d[0][0].promotion.is_some());
    }

    #[test]
    fn receipt_percent_spreads_with_the_remainder_on_the_last_line() {
        // 10 % of 33.33 + 33.33 + 33.34 = 10.00; shares 3.33 + 3.33 + 3.34.
        let lines = [
            line("A", dec!(33.33), dec!(1)),
            line("B", dec!(33.33), dec!(1)),
            line("C", dec!(33.34), dec!(1)),
        ];
        let wide = [promo(
            "R",
            Rule::ReceiptPercent {
                percent: dec!(10),
                min_sum: dec!(100),
            },
            &[],
        )];
        let d = apply(&lines, None, &wide).unwrap();
        assert_eq!(amounts(&d), vec![dec!(3.33), dec!(3.33), dec!(3.34)]);
        assert!(d.iter().all(|l| l[0].receipt_wide));
        // Below min_sum: nothing.
        let d = apply(&lines[..2], None, &wide).unwrap();
        assert!(d.iter().all(|l| l.is_empty()));
        // A manual 1-ruble discount over 3.33 + 3.33 + 3.34: 0.33 + 0.33 and the rest, 0.34.
        let three = [
            line("A", dec!(3.33), dec!(1)),
            line("B", dec!(3.33), dec!(1)),
            line("C", dec!(3.34), dec!(1)),
        ];
        let m = manual(DiscountValue::Amount(dec!(1)), dec!(100));
        let d = apply(&three, Some(&m), &[]).unwrap();
        assert_eq!(amounts(&d), vec![dec!(0.33), dec!(0.33), dec!(0.34)]);
        // Over three equal lines: 0.33 + 0.33, and the remainder 0.34 on the last.
        let equal = [
            line("A", dec!(1), dec!(1)),
            line("B", dec!(1), dec!(1)),
            line("C", dec!(1), dec!(1)),
        ];
        let d = apply(&equal, Some(&m), &[]).unwrap();
        assert_eq!(amounts(&d), vec![dec!(0.33), dec!(0.33), dec!(0.34)]);
    }

    #[test]
    fn receipt_wide_discount_skips_lines_with_a_manual_discount_and_stacks_on_promotions() {
        let mut a = line("A", dec!(100), dec!(1));
        a.manual = Some(manual(DiscountValue::Percent(dec!(10)), dec!(10)));
        let b = line("B", dec!(200), dec!(1));
        let c = line("C", dec!(300), dec!(1));
        let promos = [
            promo(
                "P",
                Rule::Percent {
                    percent: dec!(50),
                    min_qty: dec!(1),
                },
                &["B"],
            ),
            promo(
                "R",
                Rule::ReceiptPercent {
                    percent: dec!(10),
                    min_sum: dec!(0),
                },
                &[],
            ),
        ];
        let d = apply(&[a, b, c], None, &promos).unwrap();
        // A: manual 10 only. B: 100 by promotion, then 10 % of the 100 left. C: 10 % of 300.
        assert_eq!(amounts(&d), vec![dec!(10.00), dec!(110.00), dec!(30.00)]);
        assert_eq!(d[1].len(), 2);
        assert_eq!(d[1][1].promotion.as_ref().unwrap().id, "R");
    }

    #[test]
    fn manual_receipt_discount_versus_receipt_promotion() {
        let lines = [line("A", dec!(1000), dec!(1))];
        let promos = [promo(
            "R",
            Rule::ReceiptPercent {
                percent: dec!(5),
                min_sum: dec!(0),
            },
            &[],
        )];
        let small = manual(DiscountValue::Amount(dec!(30)), dec!(10));
        let d = apply(&lines, Some(&small), &promos).unwrap();
        assert_eq!((d[0][0].amount, d[0][0].promotion.is_some()), (dec!(50.00), true));
        let big = manual(DiscountValue::Percent(dec!(7)), dec!(10));
        let d = apply(&lines, Some(&big), &promos).unwrap();
        assert_eq!((d[0][0].amount, d[0][0].promotion.is_some()), (dec!(70.00), false));
        assert_eq!(d[0].len(), 1);
    }

    #[test]
    fn granting_checks_the_roles_limit() {
        let ok = ManualDiscount::grant(DiscountValue::Percent(dec!(10)), dec!(10), dec!(500), "Анна").unwrap();
        assert_eq!(ok.amount_on(dec!(500)), Some(dec!(50.00)));
        let err = ManualDiscount::grant(DiscountValue::Percent(dec!(10.5)), dec!(10), dec!(500), "Анна").unwrap_err();
        assert_eq!(err.code(), "discount_limit");
        assert_eq!(err.to_string(), "скидка 10.5% больше разрешённой вам (10%)");
        let err = ManualDiscount::grant(DiscountValue::Amount(dec!(60)), dec!(10), dec!(500), "Анна").unwrap_err();
        assert_eq!(
            err,
            DiscountError::Limit {
                percent: dec!(12),
                max: dec!(10)
            }
        );
        let err = ManualDiscount::grant(DiscountValue::Amount(dec!(600)), dec!(100), dec!(500), "Анна").unwrap_err();
        assert_eq!(err.code(), "invalid_discount");
        assert!(ManualDiscount::grant(DiscountValue::Percent(dec!(0)), dec!(10), dec!(500), "Анна").is_err());
        assert!(ManualDiscount::grant(DiscountValue::Amount(dec!(1.001)), dec!(10), dec!(500), "Анна").is_err());
        // A ruble discount never outgrows the granting role's share when the line shrinks.
        let fifty = ManualDiscount::grant(DiscountValue::Amount(dec!(50)), dec!(10), dec!(500), "Анна").unwrap();
        assert_eq!(fifty.amount_on(dec!(100)), Some(dec!(10.00)));
    }

    #[test]
    fn typed_discounts() {
        assert_eq!(DiscountValue::parse("10%").unwrap(), DiscountValue::Percent(dec!(10)));
        assert_eq!(DiscountValue::parse("7,5 %").unwrap(), DiscountValue::Percent(dec!(7.5)));
        assert_eq!(DiscountValue::parse("150").unwrap(), DiscountValue::Amount(dec!(150.00)));
        assert!(DiscountValue::parse("150%").is_err());
        assert!(DiscountValue::parse("-5").is_err());
        assert!(DiscountValue::parse("1e2").is_err());
    }

    proptest! {
        /// Shares add up to the total exactly, and each stays within its line.
        #[test]
        fn spread_is_exact_and_bounded(
            weights in proptest::collection::vec(0i64..100_000, 1..12),
            share in 0u32..=100,
        ) {
            let weights: Vec<Decimal> = weights.into_iter().map(|k| Decimal::new(k, 2)).collect();
            let base: Decimal = weights.iter().sum();
            let total = money::to_money(base * Decimal::from(share) / Decimal::ONE_HUNDRED);
            let shares = spread(total, &weights).unwrap();
            prop_assert_eq!(shares.iter().sum::<Decimal>(), total);
            for (s, w) in shares.iter().zip(&weights) {
                prop_assert!(*s >= Decimal::ZERO && s <= w, "{} of {}", s, w);
            }
        }

        /// Whatever the promotions and manual discounts, no line is discounted below zero and
        /// each line has at most one line-level and one receipt-wide discount.
        #[test]
        fn discounts_stay_within_the_lines(
            prices in proptest::collection::vec((1i64..500_000, 1u32..7), 1..6),
            percent in 1u32..=100,
            manual_pct in proptest::option::of(1u32..=100),
            wide_pct in proptest::option::of(1u32..=100),
        ) {
            let mut lines: Vec<Line> = prices
                .iter()
                .enumerate()
                .map(|(i, (p, q))| line(&format!("I-{i}"), Decimal::new(*p, 2), Decimal::from(*q)))
                .collect();
            if let Some(m) = manual_pct {
                lines[0].manual = Some(manual(DiscountValue::Percent(Decimal::from(m)), dec!(100)));
            }
            let mut promos = vec![
                promo("P", Rule::Percent { percent: Decimal::from(percent), min_qty: dec!(2) }, &["I-1", "I-2"]),
                promo("N", Rule::NForM { n: 3, m: 2 }, &["I-2", "I-3"]),
            ];
            if let Some(w) = wide_pct {
                promos.push(promo("R", Rule::ReceiptPercent { percent: Decimal::from(w), min_sum: dec!(10) }, &[]));
            }
            let d = apply(&lines, None, &promos).unwrap();
            for (line, ds) in lines.iter().zip(&d) {
                let total: Decimal = ds.iter().map(|x| x.amount).sum();
                prop_assert!(total <= line.sum && total >= Decimal::ZERO);
                prop_assert!(ds.iter().filter(|x| !x.receipt_wide).count() <= 1);
                prop_assert!(ds.iter().filter(|x| x.receipt_wide).count() <= 1);
                prop_assert!(ds.iter().all(|x| x.amount > Decimal::ZERO && x.amount.scale() == 2));
            }
        }
    }
}
