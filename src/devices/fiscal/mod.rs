//! Fiscal registers (ККТ, 54-ФЗ): the register's tasks, their answers, and how a fiscal
//! document comes to exist exactly once per sale, return and cash operation.
//!
//! In Russia a retail sale is registered by a registered cash register whose fiscal drive (ФН)
//! signs each fiscal document (ФД) and reports it to an ОФД; the tax office sees every one. A
//! document printed twice for one sale is money declared twice; a sale marked paid without its
//! document is a sale the law does not see. So this path is built like the outbox:
//!
//! ```text
//! app builds FiscalReceipt (from its own records) ─▶ atol::receipt_request (pure JSON bytes)
//!   PendingTask { operation id, kind, attempt, total, fd_before } stored durably  ◀── app/store
//!   link::AtolLink::submit ─▶ POST /api/v2/requests (ATOL ДТО 10 web server)
//!   link::AtolLink::wait_ready ─▶ GET /api/v2/requests/{uuid} ─▶ atol::parse_answer
//!   after a crash / timeout: link::AtolLink::recover ─▶ recovery::decide (pure) ─▶ Decision
//! ```
//!
//! - [`atol`]: the pure codec of the ATOL driver 10 JSON task API as its web server serves it.
//! - [`recovery`]: the pure "exactly once" decision after a crash, a timeout or a restart.
//! - [`link`]: the HTTP client of the web server (the only I/O here).
//!
//! The types in this file are the codec's input: the caller (the lane, in `app`) builds them
//! from its own receipts and shifts. `devices` knows nothing of the store or the domain, so the
//! same codec serves a test, a benchmark and the daemon.

pub mod atol;
pub mod link;
pub mod recovery;

use jiff::Timestamp;
use rust_decimal::Decimal;
use uuid::Uuid;

/// Which fiscal operation a receipt is (ФФД tag 1054, «признак расчёта»).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptKind {
    /// Приход: a sale.
    Sell,
    /// Возврат прихода: a customer's return of a sale.
    SellReturn,
}

/// The cashier who signs the document (ФФД tags 1021 name, 1203 INN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub name: String,
    /// 12 digits for a person; optional in law when the register is used by a legal entity's
    /// employees, required when the shop wants it printed.
    pub inn: Option<String>,
}

/// The shop's taxation system (ФФД tag 1055, «применяемая система налогообложения»).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaxationType {
    /// ОСН: general.
    Osn,
    /// УСН «доходы».
    UsnIncome,
    /// УСН «доходы минус расходы».
    UsnIncomeOutcome,
    /// ЕСХН: agricultural tax.
    Esn,
    /// ПСН: patent.
    Patent,
}

/// The VAT rate of one position (ФФД 1.2 tag 1199).
///
/// The base rate became 22 % on 2026-01-01 (the 2025 amendment of Tax Code art. 164 p. 3);
/// 5 % and 7 % exist since 2025 for УСН taxpayers past the income threshold (art. 164 p. 8,
/// added by 176-ФЗ of 12.07.2024). The "/1xx" rates are the computed ones (the tax
/// inside a price that already includes it, e.g. prepayments): 22/122, 20/120, 10/110,
/// 7/107, 5/105. 20 % and 20/120 stay for returns and corrections of sales made before 2026.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VatRate {
    /// Без НДС.
    None,
    Vat0,
    Vat5,
    Vat7,
    Vat10,
    Vat20,
    Vat22,
    Vat105,
    Vat107,
    Vat110,
    Vat120,
    Vat122,
}

impl VatRate {
    /// The special УСН rates: only a УСН taxpayer may charge them (Tax Code art. 164 p. 8).
    pub fn usn_only(self) -> bool {
        matches!(self, VatRate::Vat5 | VatRate::Vat7 | VatRate::Vat105 | VatRate::Vat107)
    }
}

/// «Признак способа расчёта» (ФФД tag 1214): how this position is being paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentMethod {
    FullPrepayment,
    Prepayment,
    Advance,
    /// Полный расчёт: goods handed over and paid now — every ordinary shop sale.
    FullPayment,
    PartialPayment,
    Credit,
    CreditPayment,
}

/// «Признак предмета расчёта» (ФФД 1.2 tag 1212): what is being sold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentObject {
    /// Товар without a marking code.
    Commodity,
    Excise,
    Job,
    Service,
    Payment,
    Another,
    /// ФФД 1.2 value 33, «товар, подлежащий маркировке, имеющий код маркировки» (Честный ЗНАК).
    CommodityWithMarking,
    /// ФФД 1.2 value 32, a marked-goods category sold without a code (allowed only by rules).
    CommodityWithoutMarking,
    /// ФФД 1.2 value 31: excisable and marked (e.g. tobacco, alcohol).
    ExciseWithMarking,
    ExciseWithoutMarking,
}

/// «Мера количества предмета расчёта» (ФФД 1.2 tag 2108).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasurementUnit {
    Piece,
    Gram,
    Kilogram,
    Ton,
    Centimeter,
    Meter,
    SquareMeter,
    Milliliter,
    Liter,
    CubicMeter,
    OtherUnits,
}

/// What the marking code says about the pack being sold (ФФД 1.2 tag 2003, «планируемый
/// статус товара»).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkedItemStatus {
    /// A piece sold.
    PieceSold,
    /// A piece returned.
    PieceReturned,
    /// A weighed (measured) part sold.
    MeasuredSold,
    /// A weighed (measured) part returned.
    MeasuredReturned,
}

/// The marking code of one pack of a Честный ЗНАК good, as scanned (GS1 DataMatrix text with
/// its GS separators, `\u{1d}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkingCode {
    pub code: String,
    pub status: MarkedItemStatus,
}

/// One position of a fiscal receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiscalItem {
    pub name: String,
    /// Price of one unit, rubles.
    pub price: Decimal,
    pub quantity: Decimal,
    /// What the customer pays for the position after discounts, rubles (≤ price × quantity).
    pub amount: Decimal,
    pub vat: VatRate,
    pub payment_method: PaymentMethod,
    pub payment_object: PaymentObject,
    pub unit: MeasurementUnit,
    pub marking: Option<MarkingCode>,
}

/// How the customer paid (ФФД tags 1031, 1081, 1215, 1216, 1217).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentKind {
    Cash,
    /// Card, SBP: «безналичными».
    Electronically,
    /// An earlier prepayment (зачёт аванса).
    Prepaid,
    /// Postpayment (credit).
    Credit,
    /// «Встречное предоставление» (gift cards and the like).
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FiscalPayment {
    pub kind: PaymentKind,
    pub sum: Decimal,
}

/// A receipt for the register: a sale or a return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiscalReceipt {
    pub kind: ReceiptKind,
    pub operator: Operator,
    pub taxation: TaxationType,
    pub items: Vec<FiscalItem>,
    pub payments: Vec<FiscalPayment>,
    /// Where to send the electronic receipt (ФФД tag 1008): an e-mail or a +7… phone.
    pub client_contact: Option<String>,
    /// `true` sends the receipt only electronically (nothing printed; the contact is required).
    pub electronically: bool,
    /// The receipt's total, which must equal the sum of the positions' amounts.
    pub total: Decimal,
}

/// Money in or out of the drawer without a sale (внесение / выплата). These are register
/// operations, not fiscal documents: the ФН signs nothing for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashOperation {
    pub direction: CashDirection,
    pub operator: Operator,
    pub sum: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CashDirection {
    In,
    Out,
}

/// Every operation that must happen exactly once at the register, and whose task uuid is
/// therefore derived from storeterm's own id for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    Sell,
    SellReturn,
    CashIn,
    CashOut,
    OpenShift,
    CloseShift,
}

impl TaskKind {
    /// Does the ФН sign a fiscal document for it (so that a ФД and ФП must come back)?
    pub fn makes_fiscal_document(self) -> bool {
        !matches!(self, TaskKind::CashIn | TaskKind::CashOut)
    }

    fn as_str(self) -> &'static str {
        match self {
            TaskKind::Sell => "sell",
            TaskKind::SellReturn => "sell_return",
            TaskKind::CashIn => "cash_in",
            TaskKind::CashOut => "cash_out",
            TaskKind::OpenShift => "open_shift",
            TaskKind::CloseShift => "close_shift",
        }
    }
}

impl From<ReceiptKind> for TaskKind {
    fn from(kind: ReceiptKind) -> TaskKind {
        match kind {
            ReceiptKind::Sell => TaskKind::Sell,
            ReceiptKind::SellReturn => TaskKind::SellReturn,
        }
    }
}

impl From<CashDirection> for TaskKind {
    fn from(direction: CashDirection) -> TaskKind {
        match direction {
            CashDirection::In => TaskKind::CashIn,
            CashDirection::Out => TaskKind::CashOut,
        }
    }
}

/// The namespace of storeterm's fiscal task uuids (a fixed random UUID; changing it would
/// change every uuid and break recovery of tasks pending during an upgrade).
const TASK_NAMESPACE: Uuid = Uuid::from_u128(0x5b0f_6c1e_2d4a_4e8b_9a37_c1d2_e3f4_a5b6);

/// The web server's task uuid for an operation: a UUID v5 (RFC 9562 §5.5) of the kind, the
/// operation's id and the attempt number, so the same operation always maps to the same uuid
/// and a crash-restarted storeterm asks about the very task it sent.
///
/// The attempt is part of the name because the web server refuses a uuid it has seen
/// (409): after the register refused a sale (paper out), the next try needs a new uuid.
pub fn task_uuid(kind: TaskKind, operation: Uuid, attempt: u32) -> Uuid {
    use sha1::{Digest, Sha1};
    let mut hash = Sha1::new();
    hash.update(TASK_NAMESPACE.as_bytes());
    hash.update(format!("{}:{}:{}", kind.as_str(), operation.hyphenated(), attempt).as_bytes());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
}

/// A fiscal document the register made: what the sale's record, the printed receipt record
/// and the `sale` document to the CRM carry as `"fiscal": {"fd", "fp", "shift"}`.
///
/// It exists only with both the ФД number and the ФП: nothing in this module builds one
/// without them, so "paid" can never be recorded without the document's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiscalDocument {
    /// ФД: the fiscal document number (ФФД tag 1040), sequential per ФН.
    pub fd: u64,
    /// ФП (ФПД): the fiscal sign (tag 1077), up to 10 digits, kept as printed.
    pub fp: String,
    /// The register's shift number (tag 1038).
    pub shift: u32,
    /// The receipt's number within the shift (tag 1042); none for shift reports.
    pub receipt_number: Option<u32>,
    /// The ФН's serial (tag 1041).
    pub fn_number: Option<String>,
    /// The register's registration number (РН ККТ, tag 1037).
    pub registration_number: Option<String>,
    /// The document's time by the register's clock (tag 1012).
    pub at: Option<Timestamp>,
    /// The receipt's total as the register computed it (tag 1020).
    pub total: Option<Decimal>,
}

/// Why the codec refused to build a task: bad input, caught before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FiscalInputError {
    #[error("в чеке нет ни одной позиции")]
    NoItems,
    #[error("в чеке нет оплаты")]
    NoPayments,
    #[error("позиция «{name}»: цена, количество и сумма должны быть больше нуля")]
    NotPositive { name: String },
    #[error("позиция «{name}»: сумма {amount} больше, чем цена × количество ({max})")]
    AmountAbovePrice { name: String, amount: Decimal, max: Decimal },
    #[error("позиция «{name}»: в сумме больше двух знаков после запятой")]
    SubKopeck { name: String },
    #[error("позиция без названия")]
    EmptyName,
    #[error("итог чека {total} не равен сумме позиций {sum}")]
    TotalMismatch { total: Decimal, sum: Decimal },
    #[error("оплачено {paid}, а итог чека {total}: оплаты не хватает")]
    Underpaid { paid: Decimal, total: Decimal },
    #[error("безналичных оплат {non_cash} больше итога {total}: сдачу можно дать только с наличных")]
    NonCashAboveTotal { non_cash: Decimal, total: Decimal },
    #[error("оплата должна быть больше нуля")]
    PaymentNotPositive,
    #[error("ставка НДС позиции «{name}» не применяется при системе налогообложения чека: исправьте ставку товара или СНО кассы")]
    WrongVat { name: String },
    #[error("позиция «{name}»: товар с кодом маркировки должен иметь признак предмета расчёта «маркированный товар»")]
    MarkingObjectMismatch { name: String },
    #[error("позиция «{name}»: штучный маркированный товар продаётся по одной пачке в строке")]
    MarkedQuantity { name: String },
    #[error("чек только в электронном виде требует e-mail или телефон покупателя")]
    NoContact,
    #[error("сумма операции должна быть больше нуля")]
    CashNotPositive,
    #[error("имя кассира не указано")]
    NoOperator,
    #[error("ИНН кассира должен состоять из 12 цифр")]
    BadOperatorInn,
}

impl FiscalInputError {
    /// The stable code the API and screens use.
    pub fn code(&self) -> &'static str {
        match self {
            FiscalInputError::NoItems => "fiscal_no_items",
            FiscalInputError::NoPayments => "fiscal_no_payments",
            FiscalInputError::NotPositive { .. } => "fiscal_not_positive",
            FiscalInputError::AmountAbovePrice { .. } => "fiscal_amount_above_price",
            FiscalInputError::SubKopeck { .. } => "fiscal_sub_kopeck",
            FiscalInputError::EmptyName => "fiscal_empty_name",
            FiscalInputError::TotalMismatch { .. } => "fiscal_total_mismatch",
            FiscalInputError::Underpaid { .. } => "fiscal_underpaid",
            FiscalInputError::NonCashAboveTotal { .. } => "fiscal_non_cash_above_total",
            FiscalInputError::PaymentNotPositive => "fiscal_payment_not_positive",
            FiscalInputError::WrongVat { .. } => "fiscal_wrong_vat",
            FiscalInputError::MarkingObjectMismatch { .. } => "fiscal_marking_object",
            FiscalInputError::MarkedQuantity { .. } => "fiscal_marked_quantity",
            FiscalInputError::NoContact => "fiscal_no_contact",
            FiscalInputError::CashNotPositive => "fiscal_cash_not_positive",
            FiscalInputError::NoOperator => "fiscal_no_operator",
            FiscalInputError::BadOperatorInn => "fiscal_bad_operator_inn",
        }
    }
}

fn check_operator(operator: &Operator) -> Result<(), FiscalInputError> {
    if operator.name.trim().is_empty() {
        return Err(FiscalInputError::NoOperator);
    }
    if let Some(inn) = &operator.inn {
        if inn.len() != 12 || !inn.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FiscalInputError::BadOperatorInn);
        }
    }
    Ok(())
}

impl FiscalReceipt {
    /// Check what the register would refuse (or, worse, accept wrongly) before anything is
    /// sent: sums add up, payments cover the total, VAT fits the taxation system, marked
    /// goods carry their code. The register checks too; this catches it with a clear message
    /// and without spending a task uuid.
    pub fn validate(&self) -> Result<(), FiscalInputError> {
        check_operator(&self.operator)?;
        if self.items.is_empty() {
            return Err(FiscalInputError::NoItems);
        }
        if self.payments.is_empty() {
            return Err(FiscalInputError::NoPayments);
        }
        let mut sum = Decimal::ZERO;
        for item in &self.items {
            let name = item.name.clone();
            if item.name.trim().is_empty() {
                return Err(FiscalInputError::EmptyName);
            }
            if item.price <= Decimal::ZERO || item.quantity <= Decimal::ZERO || item.amount <= Decimal::ZERO {
                return Err(FiscalInputError::NotPositive { name });
            }
            if item.amount.normalize().scale() > 2 {
                return Err(FiscalInputError::SubKopeck { name });
            }
            let max = item
                .price
                .checked_mul(item.quantity)
                .map(|m| m.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero))
                .ok_or(FiscalInputError::NotPositive { name: name.clone() })?;
            if item.amount > max {
                return Err(FiscalInputError::AmountAbovePrice {
                    name,
                    amount: item.amount,
                    max,
                });
            }
            if item.vat.usn_only() && !matches!(self.taxation, TaxationType::UsnIncome | TaxationType::UsnIncomeOutcome) {
                return Err(FiscalInputError::WrongVat { name });
            }
            // ПСН activity is outside VAT (Tax Code art. 346.43 p. 11): only "без НДС".
            if self.taxation == TaxationType::Patent && item.vat != VatRate::None {
                return Err(FiscalInputError::WrongVat { name });
            }
            if let Some(marking) = &item.marking {
                if !matches!(
                    item.payment_object,
                    PaymentObject::CommodityWithMarking | PaymentObject::ExciseWithMarking
                ) {
                    return Err(FiscalInputError::MarkingObjectMismatch { name });
                }
                let piece = matches!(marking.status, MarkedItemStatus::PieceSold | MarkedItemStatus::PieceReturned);
                if piece && item.quantity != Decimal::ONE {
                    return Err(FiscalInputError::MarkedQuantity { name });
                }
            }
            sum = sum.checked_add(item.amount).ok_or(FiscalInputError::NotPositive { name })?;
        }
        if sum != self.total {
            return Err(FiscalInputError::TotalMismatch { total: self.total, sum });
        }
        let mut paid = Decimal::ZERO;
        let mut non_cash = Decimal::ZERO;
        for payment in &self.payments {
            if payment.sum <= Decimal::ZERO {
                return Err(FiscalInputError::PaymentNotPositive);
            }
            paid = paid.checked_add(payment.sum).ok_or(FiscalInputError::PaymentNotPositive)?;
            if payment.kind != PaymentKind::Cash {
                non_cash = non_cash.checked_add(payment.sum).ok_or(FiscalInputError::PaymentNotPositive)?;
            }
        }
        if paid < self.total {
            return Err(FiscalInputError::Underpaid { paid, total: self.total });
        }
        // Change is given from cash only; the register refuses otherwise (driver error 52,
        // «Сумма не наличных платежей превышает сумму чека»).
        if non_cash > self.total {
            return Err(FiscalInputError::NonCashAboveTotal {
                non_cash,
                total: self.total,
            });
        }
        if self.electronically && self.client_contact.as_deref().is_none_or(|c| c.trim().is_empty()) {
            return Err(FiscalInputError::NoContact);
        }
        Ok(())
    }
}

impl CashOperation {
    pub fn validate(&self) -> Result<(), FiscalInputError> {
        check_operator(&self.operator)?;
        if self.sum <= Decimal::ZERO {
            return Err(FiscalInputError::CashNotPositive);
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    pub(crate) fn anna() -> Operator {
        Operator {
            name: "Анна Петрова".into(),
            inn: Some("500100732259".into()),
        }
    }

    pub(crate) fn milk(quantity: Decimal) -> FiscalItem {
        FiscalItem {
            name: "Молоко 3,2% 1 л".into(),
            price: dec!(89.90),
            quantity,
            amount: (dec!(89.90) * quantity).round_dp(2),
            vat: VatRate::Vat10,
            payment_method: PaymentMethod::FullPayment,
            payment_object: PaymentObject::Commodity,
            unit: MeasurementUnit::Piece,
            marking: None,
        }
    }

    pub(crate) fn sale() -> FiscalReceipt {
        FiscalReceipt {
            kind: ReceiptKind::Sell,
            operator: anna(),
            taxation: TaxationType::Osn,
            items: vec![milk(dec!(2))],
            payments: vec![FiscalPayment {
                kind: PaymentKind::Cash,
                sum: dec!(200),
            }],
            client_contact: None,
            electronically: false,
            total: dec!(179.80),
        }
    }

    #[test]
    fn a_plain_sale_is_valid() {
        assert_eq!(sale().validate(), Ok(()));
    }

    #[test]
    fn sums_must_add_up() {
        let mut r = sale();
        r.total = dec!(179.81);
        assert_eq!(r.validate().unwrap_err().code(), "fiscal_total_mismatch");
        let mut r = sale();
        r.items[0].amount = dec!(179.81);
        r.total = dec!(179.81);
        assert_eq!(r.validate().unwrap_err().code(), "fiscal_amount_above_price");
        let mut r = sale();
        r.payments[0].sum = dec!(100);
        assert_eq!(r.validate().unwrap_err().code(), "fiscal_underpaid");
        let mut r = sale();
        r.payments[0].kind = PaymentKind::Electronically;
        assert_eq!(r.validate().unwrap_err().code(), "fiscal_non_cash_above_total");
    }

    #[test]
    fn a_discounted_amount_below_price_times_quantity_is_allowed() {
        let mut r = sale();
        r.items[0].amount = dec!(170.00);
        r.total = dec!(170.00);
        assert_eq!(r.validate(), Ok(()));
    }

    #[test]
    fn vat_must_fit_the_taxation_system() {
        let mut r = sale();
        r.items[0].vat = VatRate::Vat5;
        assert_eq!(r.validate().unwrap_err().code(), "fiscal_wrong_vat");
        r.taxation = TaxationType::UsnIncome;
        assert_eq!(r.validate(), Ok(()));
        r.taxation = TaxationType::Patent;
        assert_eq!(r.validate().unwrap_err().code(), "fiscal_wrong_vat");
        r.items[0].vat = VatRate::None;
        assert_eq!(r.validate(), Ok(()));
    }

    #[test]
    fn marked_goods_need_the_marked_payment_object_and_one_pack_per_line() {
        let mut r = sale();
        r.items[0].marking = Some(MarkingCode {
            code: "0104607428679090216eKIjoWH54DdU\u{1d}91ffd0\u{1d}92sz6kSPirApfMBftvLboE1dlWC".into(),
            status: MarkedItemStatus::PieceSold,
        });
        assert_eq!(r.validate().unwrap_err().code(), "fiscal_marking_object");
        r.items[0].payment_object = PaymentObject::CommodityWithMarking;
        assert_eq!(r.validate().unwrap_err().code(), "fiscal_marked_quantity");
        r.items = vec![FiscalItem {
            marking: r.items[0].marking.clone(),
            payment_object: PaymentObject::CommodityWithMarking,
            ..milk(dec!(1))
        }];
        r.total = dec!(89.90);
        assert_eq!(r.validate(), Ok(()));
    }

    #[test]
    fn electronic_only_needs_a_contact_and_operator_inn_is_checked() {
        let mut r = sale();
        r.electronically = true;
        assert_eq!(r.validate().unwrap_err().code(), "fiscal_no_contact");
        r.client_contact = Some("buyer@example.ru".into());
        assert_eq!(r.validate(), Ok(()));
        r.operator.inn = Some("12345".into());
        assert_eq!(r.validate().unwrap_err().code(), "fiscal_bad_operator_inn");
    }

    #[test]
    fn task_uuids_are_stable_and_differ_by_kind_and_attempt() {
        let sale_id = Uuid::from_u128(0x0192_0000_0000_7000_8000_0000_0000_0001);
        let first = task_uuid(TaskKind::Sell, sale_id, 0);
        assert_eq!(first, task_uuid(TaskKind::Sell, sale_id, 0));
        assert_eq!(first.get_version_num(), 5);
        assert_ne!(first, task_uuid(TaskKind::Sell, sale_id, 1));
        assert_ne!(first, task_uuid(TaskKind::SellReturn, sale_id, 0));
        // Pinned (computed independently with Python's `uuid.uuid5`): a change here would
        // orphan the tasks pending during an upgrade.
        assert_eq!(first.to_string(), "d0cbf618-70d3-52cb-8bbd-27db5b00809c");
    }
}
