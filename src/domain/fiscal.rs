//! A sale, a return or a cash movement on a lane with a fiscal register (ККТ): it is done only
//! when the register registered it (for a sale or a return: its fiscal document exists), and
//! the lane holds it "fiscalising" until then ([`Held`]). The order below is the sale's; a
//! return or a cash movement follows it with its own document (`return`, `cash_in`/`cash_out`).
//!
//! The order, which the lane's actor follows (see `app::lane::fiscal`):
//!
//! 1. The payment that covers the receipt closes it in the domain as on any lane, but on a lane
//!    with a register [`Lane::hold_for_register`] keeps the closed receipt, its print request
//!    and the attempt (number, the register's last document number before it) in
//!    [`Lane::fiscal`] instead of handing them out as a closed receipt and a `sale` document.
//!    The lane with this hold is committed power-loss durably *before* the task goes out.
//! 2. While the hold exists the lane refuses every new operation with `fiscal_pending`
//!    ([`Lane::not_fiscalising`]): no second sale can begin, the shift cannot close.
//! 3. When the register's document is known, [`Lane::fiscal_done`] puts its numbers into the
//!    closed receipt and hands out the closed receipt, the `sale` document (which carries them)
//!    and the print request — the sale is paid now, and only now.
//!
//! Nothing here talks to a register: the task's uuid, the recovery decision and the I/O are
//! the devices' and the app's business. The domain only keeps the state and its rules.

use crate::domain::Ctx;
use crate::domain::document::{self, DocumentKind};
use crate::domain::drawer::{CashAtRegister, CashDirection, CashMovement};
use crate::domain::lane::{Changes, Lane, LaneError, PrintContent, PrintRequest};
use crate::domain::receipt::ClosedReceipt;
use crate::domain::returns::ClosedReturn;
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the register's fiscal document says: the receipt record and the `sale` document carry
/// it as `"fiscal": {"fd", "fp", "shift", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiscalNumbers {
    /// ФД: the fiscal document's number (tag 1040).
    pub fd: u64,
    /// ФП: its fiscal sign (tag 1077), as printed.
    pub fp: String,
    /// The register's shift number (tag 1038).
    pub shift: u32,
    /// The receipt's number within the register's shift (tag 1042).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_number: Option<u32>,
    /// The ФН's serial (tag 1041).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fn_number: Option<String>,
    /// The register's registration number (tag 1037).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_number: Option<String>,
    /// The document's time by the register's clock (tag 1012).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
}

/// Where a sale held for the register stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum FiscalStage {
    /// The attempt is stored; it is being sent or its answer awaited.
    Sending,
    /// The register refused and provably registered nothing (paper out, shift over 24 h, ФН
    /// full…): the cashier removes the cause and retries.
    Refused { code: String, message: String },
    /// The outcome is not known yet (the driver's web server is down, the register is still
    /// working): storeterm asks again by itself and never sends anything new before it knows.
    Waiting { code: String, message: String },
    /// The evidence allows two readings: a person compares the register's journal with the
    /// sale. Nothing is sent by itself.
    NeedsPerson { code: String, message: String },
}

impl FiscalStage {
    /// The code and the words the cashier sees, if anything went wrong.
    pub fn problem(&self) -> Option<(&str, &str)> {
        match self {
            FiscalStage::Sending => None,
            FiscalStage::Refused { code, message }
            | FiscalStage::Waiting { code, message }
            | FiscalStage::NeedsPerson { code, message } => Some((code, message)),
        }
    }
}

/// What the register must register exactly once: the lane holds it until the document exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Held {
    /// A sale (`sell`), as it closes once the document exists (without its numbers yet).
    Sale(Box<ClosedReceipt>),
    /// A customer's return (`sellReturn`), as it is made once the document exists.
    Return(Box<ClosedReturn>),
    /// Cash put in or taken out (`cashIn` / `cashOut`).
    Cash(CashMovement),
}

impl Held {
    /// The operation's id: the register's task uuid is derived from it.
    pub fn operation(&self) -> Uuid {
        match self {
            Held::Sale(sale) => sale.receipt.id,
            Held::Return(ret) => ret.id,
            Held::Cash(movement) => movement.id,
        }
    }

    /// The sum the register's document must carry.
    pub fn total(&self) -> Decimal {
        match self {
            Held::Sale(sale) => sale.total,
            Held::Return(ret) => ret.total,
            Held::Cash(movement) => movement.amount,
        }
    }

    /// Who made it: the register's operator.
    pub fn cashier(&self) -> &str {
        match self {
            Held::Sale(sale) => &sale.receipt.cashier,
            Held::Return(ret) => &ret.cashier,
            Held::Cash(movement) => &movement.cashier,
        }
    }

    /// Its number for the cashier (the receipt's or the return's; 0 for cash).
    pub fn number(&self) -> u32 {
        match self {
            Held::Sale(sale) => sale.receipt.number,
            Held::Return(ret) => ret.number,
            Held::Cash(_) => 0,
        }
    }

    /// The operation in the cashier's words: «чек № 7», «возврат № 1», «внесение 500.00».
    pub fn label(&self) -> String {
        match self {
            Held::Sale(sale) => format!("чек № {}", sale.receipt.number),
            Held::Return(ret) => format!("возврат № {}", ret.number),
            Held::Cash(m) if m.direction == CashDirection::In => format!("внесение {}", m.amount),
            Held::Cash(m) => format!("выплата {}", m.amount),
        }
    }
}

/// How the register answered a held operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Registered {
    /// A sale or a return: its fiscal document.
    Document(FiscalNumbers),
    /// A cash movement: carried out (no fiscal document exists for these).
    Cash(CashAtRegister),
}

/// An operation held until the register's document exists (a durable part of the lane's state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiscalPending {
    /// 0 for the first try; the register's task uuid is derived from the operation's id and this.
    pub attempt: u32,
    /// The register's last fiscal document number read just before this attempt was sent.
    pub fd_before: Option<u64>,
    /// When this attempt was stored.
    pub since: Timestamp,
    /// The operation (`"sale"`, `"return"` or `"cash"` in the stored state).
    #[serde(flatten)]
    pub held: Held,
    /// Its print request, handed out with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub print: Option<PrintRequest>,
    pub stage: FiscalStage,
}

impl FiscalPending {
    /// The operation's id: the register's task uuid is derived from it.
    pub fn operation(&self) -> Uuid {
        self.held.operation()
    }

    pub fn total(&self) -> Decimal {
        self.held.total()
    }
}

impl Lane {
    /// Refuse a new operation while one waits for the register's document.
    pub fn not_fiscalising(&self) -> Result<(), LaneError> {
        match &self.fiscal {
            Some(pending) => Err(LaneError::Fiscalising {
                what: pending.held.label(),
            }),
            None => Ok(()),
        }
    }

    /// Hold what an operation just made (`changes` from [`Lane::pay_tender`],
    /// [`Lane::return_sale`], [`Lane::return_without_receipt`], [`Lane::cash_in`],
    /// [`Lane::cash_out`]) until the register's document exists: the closed receipt, the return
    /// or the cash movement, its document and its print request leave `changes` and wait in
    /// [`Lane::fiscal`]. `fd_before` is the register's last document number read just before.
    pub fn hold_for_register(&mut self, changes: &mut Changes, fd_before: Option<u64>, now: Timestamp) -> Result<(), LaneError> {
        self.not_fiscalising()?;
        // The document is made again, with the numbers, when the register's document exists.
        let held = if let Some(ret) = changes.returned.take() {
            changes.documents.retain(|d| d.kind != DocumentKind::Return);
            Held::Return(Box::new(ret))
        } else if let Some(movement) = changes.cash.take() {
            changes
                .documents
                .retain(|d| !matches!(d.kind, DocumentKind::CashIn | DocumentKind::CashOut));
            Held::Cash(movement)
        } else {
            let sale = changes.closed.take().ok_or(LaneError::NoReceipt)?;
            changes.documents.retain(|d| d.kind != DocumentKind::Sale);
            Held::Sale(Box::new(sale))
        };
        self.fiscal = Some(FiscalPending {
            attempt: 0,
            fd_before,
            since: now,
            held,
            print: changes.print.take(),
            stage: FiscalStage::Sending,
        });
        Ok(())
    }

    /// The next attempt at the register, after the previous one provably registered nothing.
    pub fn next_fiscal_attempt(&mut self, fd_before: Option<u64>, now: Timestamp) -> Result<u32, LaneError> {
        let pending = self.fiscal.as_mut().ok_or(LaneError::NoReceipt)?;
        pending.attempt = pending.attempt.saturating_add(1);
        pending.fd_before = fd_before;
        pending.since = now;
        pending.stage = FiscalStage::Sending;
        Ok(pending.attempt)
    }

    /// Record where the held operation stands.
    pub fn set_fiscal_stage(&mut self, stage: FiscalStage) -> Result<(), LaneError> {
        let pending = self.fiscal.as_mut().ok_or(LaneError::NoReceipt)?;
        pending.stage = stage;
        Ok(())
    }

    /// The register registered the held operation: it is done with what the register said.
    /// Returns it and what to commit with it (the closed receipt and its `sale` document, the
    /// return for the journal and its `return` document, or the `cash_in` / `cash_out`
    /// document — each carrying the register's numbers — and the print request). A sale or a
    /// return answered as a cash movement, or the reverse, is refused and stays held.
    pub fn fiscal_done(&mut self, ctx: &mut Ctx<'_>, registered: Registered) -> Result<(Held, Changes), LaneError> {
        let pending = self.fiscal.as_ref().ok_or(LaneError::NoReceipt)?;
        let held = match (pending.held.clone(), registered) {
            (Held::Sale(mut sale), Registered::Document(numbers)) => {
                sale.fiscal = Some(numbers);
                Held::Sale(sale)
            }
            (Held::Return(mut ret), Registered::Document(numbers)) => {
                ret.fiscal = Some(numbers);
                Held::Return(ret)
            }
            (Held::Cash(mut movement), Registered::Cash(kkt)) => {
                movement.kkt = Some(kkt);
                Held::Cash(movement)
            }
            _ => return Err(LaneError::NoReceipt),
        };
        let mut changes = Changes::default();
        match &held {
            Held::Sale(sale) => {
                changes.documents.push(document::sale(ctx.new_id(), sale));
                changes.closed = Some((**sale).clone());
            }
            Held::Return(ret) => {
                changes.documents.push(document::return_doc(ctx.new_id(), ret));
                changes.returned = Some((**ret).clone());
            }
            Held::Cash(movement) => {
                changes.documents.push(document::cash_movement(ctx.new_id(), movement));
                changes.cash = Some(movement.clone());
            }
        }
        let mut print = pending.print.clone();
        // The slip shows what the register said.
        if let Some(content) = print.as_mut().and_then(|p| p.content.as_mut()) {
            match (content, &held) {
                (PrintContent::Return(r), Held::Return(ret)) => r.clone_from(ret),
                (PrintContent::CashSlip(m), Held::Cash(movement)) => m.clone_from(movement),
                _ => {}
            }
        }
        changes.print = print;
        self.fiscal = None;
        Ok((held, changes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::Item;
    use crate::domain::receipt::PaymentMethod;
    use rust_decimal_macros::dec;

    fn milk() -> Item {
        Item {
            id: "I-1".into(),
            sku: "A-1".into(),
            name: "Молоко".into(),
            unit: "pcs".into(),
            vat: "10".into(),
            weighted: false,
            marked: false,
            mark_group: None,
            plu: None,
            barcodes: vec![],
            prices: [("retail".to_string(), dec!(89.90))].into(),
        }
    }

    /// Ids 1, 2, 3…
    fn counter() -> impl FnMut() -> Uuid {
        let mut n = 0u128;
        move || {
            n += 1;
            Uuid::from_u128(n)
        }
    }

    fn numbers() -> FiscalNumbers {
        FiscalNumbers {
            fd: 71,
            fp: "1494325660".into(),
            shift: 12,
            receipt_number: Some(1),
            fn_number: None,
            registration_number: None,
            at: None,
        }
    }

    #[test]
    fn a_held_sale_blocks_the_lane_and_closes_only_with_its_numbers() {
        let mut ids = counter();
        let mut ctx = Ctx::new(Timestamp::UNIX_EPOCH, "Анна", &mut ids);
        let mut lane = Lane::new("1");
        lane.sell(&mut ctx, &milk(), "x", dec!(1)).unwrap();
        let (_, mut changes) = lane.pay(&mut ctx, PaymentMethod::Cash, dec!(100)).unwrap();
        lane.hold_for_register(&mut changes, Some(70), Timestamp::UNIX_EPOCH).unwrap();
        // Stored as before returns and cash were held too (`"sale": {…}`), and read back.
        let json = serde_json::to_value(&lane).unwrap();
        assert_eq!(json["fiscal"]["sale"]["total"], "89.90", "{json}");
        assert_eq!(serde_json::from_value::<Lane>(json).unwrap(), lane);
        // Nothing of the sale is handed out yet: no closed receipt, no sale document.
        assert!(changes.closed.is_none() && changes.print.is_none());
        assert!(changes.documents.iter().all(|d| d.kind != DocumentKind::Sale));
        // The lane refuses a new receipt and closing the shift while the sale is held.
        assert_eq!(lane.sell(&mut ctx, &milk(), "x", dec!(1)).unwrap_err().code(), "fiscal_pending");
        assert_eq!(lane.close_shift(&mut ctx).unwrap_err().code(), "fiscal_pending");
        assert_eq!(lane.next_fiscal_attempt(Some(70), Timestamp::UNIX_EPOCH).unwrap(), 1);

        let (held, changes) = lane.fiscal_done(&mut ctx, Registered::Document(numbers())).unwrap();
        let Held::Sale(sale) = held else { panic!("a sale was held") };
        assert_eq!(sale.fiscal, Some(numbers()));
        assert_eq!(changes.closed.as_ref().unwrap().fiscal, Some(numbers()));
        assert_eq!(changes.documents.len(), 1);
        assert_eq!(changes.documents[0].data["fiscal"]["fd"], 71);
        assert_eq!(changes.documents[0].data["fiscal"]["fp"], "1494325660");
        assert!(changes.print.is_some());
        assert!(lane.fiscal.is_none());
        lane.sell(&mut ctx, &milk(), "x", dec!(1)).unwrap();
    }

    #[test]
    fn a_cash_movement_is_held_until_the_register_did_it_and_its_document_says_so() {
        let mut ids = counter();
        let mut ctx = Ctx::new(Timestamp::UNIX_EPOCH, "Анна", &mut ids);
        let mut lane = Lane::new("1");
        lane.open_shift(&mut ctx);
        let (movement, mut changes) = lane.cash_in(&mut ctx, dec!(500), "размен").unwrap();
        lane.hold_for_register(&mut changes, Some(70), Timestamp::UNIX_EPOCH).unwrap();
        assert!(changes.documents.is_empty() && changes.print.is_none() && changes.cash.is_none());
        let e = lane.cash_out(&mut ctx, dec!(100), "инкассация").unwrap_err();
        assert_eq!(e.code(), "fiscal_pending");
        assert!(e.to_string().starts_with("внесение 500.00 "), "{e}");
        let pending = lane.fiscal.clone().unwrap();
        assert_eq!((pending.operation(), pending.total()), (movement.id, dec!(500.00)));
        let back: Lane = serde_json::from_value(serde_json::to_value(&lane).unwrap()).unwrap();
        assert_eq!(back, lane);
        // A document where a cash movement was expected is refused, and the hold stays.
        assert!(lane.fiscal_done(&mut ctx, Registered::Document(numbers())).is_err());
        assert!(lane.fiscal.is_some());

        let kkt = CashAtRegister {
            register: "kkt-1".into(),
            cash_in_register: Some(dec!(5500)),
        };
        let (held, changes) = lane.fiscal_done(&mut ctx, Registered::Cash(kkt.clone())).unwrap();
        let Held::Cash(done) = held else { panic!("cash was held") };
        assert_eq!(done.kkt.as_ref(), Some(&kkt));
        assert_eq!(changes.documents.len(), 1);
        assert_eq!(changes.documents[0].kind, DocumentKind::CashIn);
        assert_eq!(changes.documents[0].data["kkt"]["register"], "kkt-1");
        let Some(PrintContent::CashSlip(slip)) = changes.print.and_then(|p| p.content) else {
            panic!("the slip is printed")
        };
        assert_eq!(slip.kkt, Some(kkt));
        assert!(lane.fiscal.is_none());
    }

    #[test]
    fn a_lane_state_without_the_field_still_reads() {
        let lane = Lane::new("1");
        let mut json = serde_json::to_value(&lane).unwrap();
        json.as_object_mut().unwrap().remove("fiscal");
        let back: Lane = serde_json::from_value(json).unwrap();
        assert_eq!(back, lane);
    }
}
