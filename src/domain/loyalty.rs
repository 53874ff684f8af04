//! Loyalty points and credit: the rules of the `[loyalty]` program, and the provisional ledger
//! that keeps one client's points from being spent twice by two lanes (and its credit from
//! being taken twice) while the CRM has not yet counted the sales.
//!
//! # The provisional ledger
//!
//! The CRM owns a client's balance and debt; storeterm learns them from the feed. Between a
//! sale and the CRM's next balance, the feed's figures are stale. So the store keeps, per
//! client, a [`ClientLedger`]: the feed's figures plus one entry per receipt that redeemed
//! points or took credit here and that the CRM's figures do not include yet.
//!
//! - A bonus or credit payment on an open receipt *holds* the amount ([`LedgerOp::Hold`]);
//!   the store applies the hold with [`ClientLedger::apply`] in the same transaction as the
//!   lane's new state, and the apply refuses a hold the balance no longer covers — so of two
//!   lanes spending the same last points, exactly one succeeds.
//! - A cancelled receipt releases its hold ([`LedgerOp::Release`]); a closed sale keeps it and
//!   records the points it earned ([`LedgerOp::Close`]).
//! - When the sale document is delivered ([`ClientLedger::delivered`]), the entry waits for the
//!   CRM's next figures for that client; the feed update that brings them
//!   ([`ClientLedger::feed_update`]) drops delivered entries, because the CRM stores a
//!   document before it sends balances that count it.
//!
//! Points earned are not spendable until the CRM's balance includes them, and money a return
//! gives back (points or credit) is not spendable before that either: the ledger only ever
//! errs on the side of the shop.

use crate::domain::client::{Client, ClientAccount, ReceiptClient};
use crate::domain::money::{self, MAX_MONEY};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The `[loyalty]` program: how many points a purchase earns and how much of a receipt points
/// may pay. 1 point = 1 ruble.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoyaltyRules {
    /// Points earned, as a percent of what the customer paid other than with points.
    pub accrual_percent: Decimal,
    /// The largest share of a receipt's total points may pay, in percent.
    pub max_redeem_percent: Decimal,
}

impl Default for LoyaltyRules {
    /// No program: nothing accrues, points pay nothing.
    fn default() -> Self {
        LoyaltyRules::NONE
    }
}

impl LoyaltyRules {
    /// No program.
    pub const NONE: LoyaltyRules = LoyaltyRules {
        accrual_percent: Decimal::ZERO,
        max_redeem_percent: Decimal::ZERO,
    };

    /// Rules from the configuration, each percent in 0..=100.
    pub fn new(accrual_percent: Decimal, max_redeem_percent: Decimal) -> Result<LoyaltyRules, LoyaltyError> {
        for (name, p) in [("accrual_percent", accrual_percent), ("max_redeem_percent", max_redeem_percent)] {
            if p < Decimal::ZERO || p > Decimal::ONE_HUNDRED {
                return Err(LoyaltyError::Rules {
                    name,
                    value: p.to_string(),
                });
            }
        }
        Ok(LoyaltyRules {
            accrual_percent,
            max_redeem_percent,
        })
    }

    /// Points earned on `paid` rubles, in kopecks (rounded half away from zero like money).
    pub fn accrual(&self, paid: Decimal) -> Decimal {
        money::percent_of(paid.max(Decimal::ZERO), self.accrual_percent).unwrap_or(Decimal::ZERO)
    }

    /// The most points may pay of a receipt whose total is `total`.
    pub fn max_redeem(&self, total: Decimal) -> Decimal {
        money::percent_of(total, self.max_redeem_percent).unwrap_or(Decimal::ZERO)
    }
}

/// What happened to a receipt's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// The receipt is still open.
    Open,
    /// The sale closed; its document is on its way to the CRM.
    Closed,
    /// The CRM has the sale; the entry goes with the CRM's next figures for the client.
    Delivered,
}

/// One receipt's effect on a client's ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub receipt: Uuid,
    /// Points redeemed (held while the receipt is open).
    pub bonus: Decimal,
    /// Credit taken.
    pub credit: Decimal,
    /// Points earned (not spendable until the CRM counts them).
    pub accrued: Decimal,
    pub state: EntryState,
}

/// One client's balances as storeterm must judge them: the CRM's figures and the receipts
/// they do not include yet. The store keeps one per client that has ever redeemed points or
/// taken credit here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientLedger {
    pub client: String,
    pub name: String,
    /// Points as the feed last sent them.
    pub bonus_balance: Decimal,
    /// Debt as the feed last sent it.
    pub debt: Decimal,
    pub credit_limit: Option<Decimal>,
    pub allow_credit: bool,
    pub stop_list: bool,
    #[serde(default)]
    pub entries: Vec<LedgerEntry>,
}

/// A change to a client's ledger, produced by a lane operation and applied by the store in the
/// same transaction as the lane's new state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LedgerOp {
    /// A bonus and/or credit payment taken on an open receipt.
    Hold {
        client: String,
        receipt: Uuid,
        bonus: Decimal,
        credit: Decimal,
    },
    /// The open receipt was cancelled: its holds are void.
    Release { client: String, receipt: Uuid },
    /// The sale closed and earned `accrued` points.
    Close { client: String, receipt: Uuid, accrued: Decimal },
}

impl LedgerOp {
    /// Whose ledger this changes.
    pub fn client(&self) -> &str {
        match self {
            LedgerOp::Hold { client, .. } | LedgerOp::Release { client, .. } | LedgerOp::Close { client, .. } => client,
        }
    }
}

/// Why a bonus or credit payment (or a ledger change) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoyaltyError {
    #[error("к чеку не привязан клиент: покажите карту клиента или найдите его по телефону")]
    NoClient,
    #[error("бонусами можно оплатить не больше {max} этого чека")]
    BonusLimit { max: Decimal },
    #[error("у клиента доступно только {available} бонусов")]
    InsufficientBonus { available: Decimal },
    #[error("клиент «{name}» в стоп-листе: продажа в кредит невозможна")]
    StopList { name: String },
    #[error("клиенту «{name}» покупка в кредит не разрешена")]
    CreditNotAllowed { name: String },
    #[error("кредитный лимит клиента «{name}» исчерпан: доступно {available}")]
    CreditLimit { name: String, available: Decimal },
    #[error("настройка лояльности {name} = {value}: нужен процент от 0 до 100")]
    Rules { name: &'static str, value: String },
    #[error("операция для клиента {op} применена к счёту клиента {ledger}")]
    WrongClient { op: String, ledger: String },
}

impl LoyaltyError {
    /// The stable error code the API and screens use.
    pub fn code(&self) -> &'static str {
        match self {
            LoyaltyError::NoClient => "no_client",
            LoyaltyError::BonusLimit { .. } => "bonus_limit",
            LoyaltyError::InsufficientBonus { .. } => "insufficient_bonus",
            LoyaltyError::StopList { .. } => "stop_list",
            LoyaltyError::CreditNotAllowed { .. } => "credit_not_allowed",
            LoyaltyError::CreditLimit { .. } => "credit_limit",
            LoyaltyError::Rules { .. } => "invalid_loyalty_rules",
            LoyaltyError::WrongClient { .. } => "ledger_mismatch",
        }
    }
}

impl ClientLedger {
    /// A fresh ledger from the feed's figures.
    pub fn new(client: &Client, account: &ClientAccount) -> ClientLedger {
        ClientLedger::from_receipt_client(&ReceiptClient::new(client, account))
    }

    /// A ledger with no entries from what the receipt knew of its client when attached: what
    /// the lane judges with when the caller has no ledger at hand (the store still applies the
    /// hold against the real one).
    pub fn from_receipt_client(c: &ReceiptClient) -> ClientLedger {
        ClientLedger {
            client: c.id.clone(),
            name: c.name.clone(),
            bonus_balance: c.bonus_balance,
            debt: c.debt,
            credit_limit: c.credit_limit,
            allow_credit: c.allow_credit,
            stop_list: c.stop_list,
            entries: Vec::new(),
        }
    }

    /// New figures from the feed. Entries of sales the CRM already has are dropped: the new
    /// figures count them.
    pub fn feed_update(&mut self, client: &Client, account: &ClientAccount) {
        self.name = client.name.clone();
        self.bonus_balance = account.bonus_balance;
        self.debt = client.debt.unwrap_or(Decimal::ZERO);
        self.credit_limit = client.credit_limit;
        self.allow_credit = account.allow_credit;
        self.stop_list = client.stop_list;
        self.entries.retain(|e| e.state != EntryState::Delivered);
    }

    /// The sale of `receipt` reached the CRM.
    pub fn delivered(&mut self, receipt: Uuid) {
        for e in self.entries.iter_mut().filter(|e| e.receipt == receipt) {
            e.state = EntryState::Delivered;
        }
    }

    /// Points that may still be redeemed: the feed's balance minus every redemption the CRM
    /// has not counted yet.
    pub fn bonus_available(&self) -> Decimal {
        let held = self
            .entries
            .iter()
            .map(|e| e.bonus)
            .try_fold(Decimal::ZERO, |a, b| a.checked_add(b));
        match held {
            Some(held) => money::to_money((self.bonus_balance - held).max(Decimal::ZERO)),
            None => Decimal::ZERO,
        }
    }

    /// Credit still available: limit − debt − credit taken here and not yet counted.
    pub fn credit_available(&self) -> Decimal {
        let taken = self.entries.iter().map(|e| e.credit).try_fold(self.debt, |a, b| a.checked_add(b));
        match (self.credit_limit, taken) {
            (Some(limit), Some(taken)) => money::to_money((limit - taken).max(Decimal::ZERO)),
            _ => Decimal::ZERO,
        }
    }

    /// Whether `amount` more points may be redeemed.
    pub fn check_bonus(&self, amount: Decimal) -> Result<(), LoyaltyError> {
        let available = self.bonus_available();
        if amount > available {
            return Err(LoyaltyError::InsufficientBonus { available });
        }
        Ok(())
    }

    /// Whether `amount` more may be sold on credit: never to a stop-listed client, only to one
    /// the CRM allows credit, and within the limit.
    pub fn check_credit(&self, amount: Decimal) -> Result<(), LoyaltyError> {
        if self.stop_list {
            return Err(LoyaltyError::StopList { name: self.name.clone() });
        }
        if !self.allow_credit {
            return Err(LoyaltyError::CreditNotAllowed { name: self.name.clone() });
        }
        let available = self.credit_available();
        if amount > available {
            return Err(LoyaltyError::CreditLimit {
                name: self.name.clone(),
                available,
            });
        }
        Ok(())
    }

    /// Apply a lane's change, checking it against the balances as they are now (another lane
    /// may have spent points since the lane looked). On error the ledger is unchanged.
    pub fn apply(&mut self, op: &LedgerOp) -> Result<(), LoyaltyError> {
        if op.client() != self.client {
            return Err(LoyaltyError::WrongClient {
                op: op.client().to_string(),
                ledger: self.client.clone(),
            });
        }
        match op {
            LedgerOp::Hold {
                receipt, bonus, credit, ..
            } => {
                if *bonus > Decimal::ZERO {
                    self.check_bonus(*bonus)?;
                }
                if *credit > Decimal::ZERO {
                    self.check_credit(*credit)?;
                }
                let bounded = |v: Decimal| v.min(MAX_MONEY);
                match self.entries.iter_mut().find(|e| e.receipt == *receipt) {
                    Some(e) => {
                        e.bonus = money::to_money(bounded(e.bonus + bonus));
                        e.credit = money::to_money(bounded(e.credit + credit));
                    }
                    None => self.entries.push(LedgerEntry {
                        receipt: *receipt,
                        bonus: money::to_money(*bonus),
                        credit: money::to_money(*credit),
                        accrued: Decimal::ZERO,
                        state: EntryState::Open,
                    }),
                }
            }
            LedgerOp::Release { receipt, .. } => self.entries.retain(|e| e.receipt != *receipt),
            LedgerOp::Close { receipt, accrued, .. } => match self.entries.iter_mut().find(|e| e.receipt == *receipt) {
                Some(e) => {
                    e.accrued = *accrued;
                    e.state = EntryState::Closed;
                }
                None => self.entries.push(LedgerEntry {
                    receipt: *receipt,
                    bonus: Decimal::ZERO,
                    credit: Decimal::ZERO,
                    accrued: *accrued,
                    state: EntryState::Closed,
                }),
            },
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    pub(crate) fn client(stop_list: bool, limit: Option<Decimal>, debt: Decimal) -> Client {
        Client {
            id: "C-77".into(),
            name: "ООО Ромашка".into(),
            phones: vec![],
            debt: Some(debt),
            overdue: None,
            credit_limit: limit,
            stop_list,
            segment: None,
            manager: None,
            loyalty_cards: vec!["2775000000017".into()],
            last_activity: None,
        }
    }

    fn account(bonus: Decimal, credit: bool) -> ClientAccount {
        ClientAccount {
            bonus_balance: bonus,
            allow_credit: credit,
        }
    }

    fn hold(receipt: u128, bonus: Decimal, credit: Decimal) -> LedgerOp {
        LedgerOp::Hold {
            client: "C-77".into(),
            receipt: Uuid::from_u128(receipt),
            bonus,
            credit,
        }
    }

    #[test]
    fn the_same_points_are_never_redeemed_twice() {
        let mut ledger = ClientLedger::new(&client(false, None, dec!(0)), &account(dec!(350), false));
        // Two lanes each saw 350 points; the first hold takes 300, the second is refused.
        ledger.apply(&hold(1, dec!(300), dec!(0))).unwrap();
        let before = ledger.clone();
        let err = ledger.apply(&hold(2, dec!(300), dec!(0))).unwrap_err();
        assert_eq!(err, LoyaltyError::InsufficientBonus { available: dec!(50.00) });
        assert_eq!(err.code(), "insufficient_bonus");
        assert_eq!(ledger, before, "a refused hold changes nothing");
        // The sale closes and reaches the CRM; a stale feed balance does not free the points
        // until the CRM's figures arrive after delivery.
        let close = LedgerOp::Close {
            client: "C-77".into(),
            receipt: Uuid::from_u128(1),
            accrued: dec!(12.00),
        };
        ledger.apply(&close).unwrap();
        assert_eq!(ledger.bonus_available(), dec!(50.00));
        ledger.delivered(Uuid::from_u128(1));
        assert_eq!(ledger.bonus_available(), dec!(50.00), "delivered, not yet in the feed");
        ledger.feed_update(&client(false, None, dec!(0)), &account(dec!(62), false));
        assert_eq!(ledger.bonus_available(), dec!(62.00));
        assert!(ledger.entries.is_empty());
    }

    #[test]
    fn a_feed_update_before_delivery_keeps_the_hold() {
        let mut ledger = ClientLedger::new(&client(false, None, dec!(0)), &account(dec!(100), false));
        ledger.apply(&hold(1, dec!(80), dec!(0))).unwrap();
        ledger.feed_update(&client(false, None, dec!(0)), &account(dec!(100), false));
        assert_eq!(ledger.bonus_available(), dec!(20.00));
        ledger
            .apply(&LedgerOp::Release {
                client: "C-77".into(),
                receipt: Uuid::from_u128(1),
            })
            .unwrap();
        assert_eq!(ledger.bonus_available(), dec!(100.00));
    }

    #[test]
    fn credit_limits_and_the_stop_list() {
        let ledger = ClientLedger::new(&client(true, Some(dec!(50000)), dec!(15200)), &account(dec!(0), true));
        let err = ledger.check_credit(dec!(1)).unwrap_err();
        assert_eq!(err.code(), "stop_list");
        assert!(err.to_string().contains("стоп-листе"), "{err}");
        let ledger = ClientLedger::new(&client(false, Some(dec!(50000)), dec!(15200)), &account(dec!(0), false));
        assert_eq!(ledger.check_credit(dec!(1)).unwrap_err().code(), "credit_not_allowed");
        let mut ledger = ClientLedger::new(&client(false, Some(dec!(50000)), dec!(15200)), &account(dec!(0), true));
        assert_eq!(ledger.credit_available(), dec!(34800.00));
        ledger.apply(&hold(1, dec!(0), dec!(34000))).unwrap();
        let err = ledger.apply(&hold(2, dec!(0), dec!(801))).unwrap_err();
        assert_eq!(
            err,
            LoyaltyError::CreditLimit {
                name: "ООО Ромашка".into(),
                available: dec!(800.00)
            }
        );
        ledger.apply(&hold(2, dec!(0), dec!(800))).unwrap();
        // No limit at all means no credit.
        let none = ClientLedger::new(&client(false, None, dec!(0)), &account(dec!(0), true));
        assert_eq!(none.check_credit(dec!(1)).unwrap_err().code(), "credit_limit");
        let mut other = none.clone();
        other.client = "C-1".into();
        assert_eq!(other.apply(&hold(3, dec!(0), dec!(0))).unwrap_err().code(), "ledger_mismatch");
    }

    #[test]
    fn rules() {
        let rules = LoyaltyRules::new(dec!(5), dec!(30)).unwrap();
        assert_eq!(rules.accrual(dec!(1104.60)), dec!(55.23));
        assert_eq!(rules.max_redeem(dec!(1104.60)), dec!(331.38));
        assert_eq!(LoyaltyRules::default().max_redeem(dec!(100)), dec!(0.00));
        assert_eq!(LoyaltyRules::new(dec!(101), dec!(0)).unwrap_err().code(), "invalid_loyalty_rules");
    }

    proptest! {
        /// However holds, releases and closes interleave, points held never exceed the feed's
        /// balance, and credit taken never exceeds the limit.
        #[test]
        fn holds_never_overdraw(ops in proptest::collection::vec((0u8..3, 1u128..6, 0i64..20_000, 0i64..20_000), 0..40)) {
            let mut ledger = ClientLedger::new(&client(false, Some(dec!(500)), dec!(100)), &account(dec!(300), true));
            for (kind, receipt, bonus, credit) in ops {
                let op = match kind {
                    0 => hold(receipt, Decimal::new(bonus, 2), Decimal::new(credit, 2)),
                    1 => LedgerOp::Release { client: "C-77".into(), receipt: Uuid::from_u128(receipt) },
                    _ => LedgerOp::Close { client: "C-77".into(), receipt: Uuid::from_u128(receipt), accrued: dec!(1) },
                };
                let before = ledger.clone();
                if ledger.apply(&op).is_err() {
                    prop_assert_eq!(&ledger, &before);
                }
                let held: Decimal = ledger.entries.iter().map(|e| e.bonus).sum();
                let taken: Decimal = ledger.entries.iter().map(|e| e.credit).sum();
                prop_assert!(held <= dec!(300));
                prop_assert!(dec!(100) + taken <= dec!(500));
            }
        }
    }
}
