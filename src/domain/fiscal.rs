//! A sale on a lane with a fiscal register (ККТ): the sale is closed only when the register's
//! fiscal document exists, and the lane holds it "fiscalising" until then.
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
use crate::domain::lane::{Changes, Lane, LaneError, PrintRequest};
use crate::domain::receipt::ClosedReceipt;
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

/// A sale held until the register's document exists (a durable part of the lane's state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiscalPending {
    /// 0 for the first try; the register's task uuid is derived from the sale's id and this.
    pub attempt: u32,
    /// The register's last fiscal document number read just before this attempt was sent.
    pub fd_before: Option<u64>,
    /// When this attempt was stored.
    pub since: Timestamp,
    /// The sale as it closes once the document exists (without its numbers yet).
    pub sale: Box<ClosedReceipt>,
    /// Its print request, handed out with the sale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub print: Option<PrintRequest>,
    pub stage: FiscalStage,
}

impl FiscalPending {
    /// The sale's id: the operation the register's task uuid is derived from.
    pub fn operation(&self) -> Uuid {
        self.sale.receipt.id
    }

    pub fn total(&self) -> Decimal {
        self.sale.total
    }
}

impl Lane {
    /// Refuse a new operation while a sale waits for the register's document.
    pub fn not_fiscalising(&self) -> Result<(), LaneError> {
        match &self.fiscal {
            Some(pending) => Err(LaneError::Fiscalising {
                number: pending.sale.receipt.number,
            }),
            None => Ok(()),
        }
    }

    /// Hold the sale a payment just closed (`changes` from [`Lane::pay_tender`]) until the
    /// register's document exists: the closed receipt, its `sale` document and its print
    /// request leave `changes` and wait in [`Lane::fiscal`]. `fd_before` is the register's
    /// last document number read just before this.
    pub fn hold_for_register(&mut self, changes: &mut Changes, fd_before: Option<u64>, now: Timestamp) -> Result<(), LaneError> {
        self.not_fiscalising()?;
        let sale = changes.closed.take().ok_or(LaneError::NoReceipt)?;
        // The sale document is made again, with the numbers, when the document exists.
        changes.documents.retain(|d| d.kind != DocumentKind::Sale);
        self.fiscal = Some(FiscalPending {
            attempt: 0,
            fd_before,
            since: now,
            sale: Box::new(sale),
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

    /// Record where the held sale stands.
    pub fn set_fiscal_stage(&mut self, stage: FiscalStage) -> Result<(), LaneError> {
        let pending = self.fiscal.as_mut().ok_or(LaneError::NoReceipt)?;
        pending.stage = stage;
        Ok(())
    }

    /// The register's document exists: the held sale closes with its numbers. Returns the
    /// closed receipt and what to commit with it (the receipt, its `sale` document carrying
    /// the numbers, its print request).
    pub fn fiscal_done(&mut self, ctx: &mut Ctx<'_>, numbers: FiscalNumbers) -> Result<(ClosedReceipt, Changes), LaneError> {
        let pending = self.fiscal.take().ok_or(LaneError::NoReceipt)?;
        let mut sale = *pending.sale;
        sale.fiscal = Some(numbers);
        let changes = Changes {
            documents: vec![document::sale(ctx.new_id(), &sale)],
            closed: Some(sale.clone()),
            print: pending.print,
            ..Changes::default()
        };
        Ok((sale, changes))
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
        let mut n = 0u128;
        let mut ids = move || {
            n += 1;
            Uuid::from_u128(n)
        };
        let mut ctx = Ctx::new(Timestamp::UNIX_EPOCH, "Анна", &mut ids);
        let mut lane = Lane::new("1");
        lane.sell(&mut ctx, &milk(), "x", dec!(1)).unwrap();
        let (_, mut changes) = lane.pay(&mut ctx, PaymentMethod::Cash, dec!(100)).unwrap();
        lane.hold_for_register(&mut changes, Some(70), Timestamp::UNIX_EPOCH).unwrap();
        // Nothing of the sale is handed out yet: no closed receipt, no sale document.
        assert!(changes.closed.is_none() && changes.print.is_none());
        assert!(changes.documents.iter().all(|d| d.kind != DocumentKind::Sale));
        // The lane refuses a new receipt and closing the shift while the sale is held.
        assert_eq!(lane.sell(&mut ctx, &milk(), "x", dec!(1)).unwrap_err().code(), "fiscal_pending");
        assert_eq!(lane.close_shift(&mut ctx).unwrap_err().code(), "fiscal_pending");
        assert_eq!(lane.next_fiscal_attempt(Some(70), Timestamp::UNIX_EPOCH).unwrap(), 1);

        let (sale, changes) = lane.fiscal_done(&mut ctx, numbers()).unwrap();
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
    fn a_lane_state_without_the_field_still_reads() {
        let lane = Lane::new("1");
        let mut json = serde_json::to_value(&lane).unwrap();
        json.as_object_mut().unwrap().remove("fiscal");
        let back: Lane = serde_json::from_value(json).unwrap();
        assert_eq!(back, lane);
    }
}
