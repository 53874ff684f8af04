//! The ATOL driver 10 («ДТО 10») JSON task API as its web server serves it: request bodies
//! out, answers in. Pure: no I/O, no clock; bytes in, bytes out.
//!
//! Sources for the names below (nothing here is copied from them):
//! - ATOL, «Драйвер ККТ v.10. Руководство программиста», section «Работа с JSON-заданиями»
//!   (task types, FFD 1.2 position fields, `imcParams`), and «Веб-сервер ДТО 10»
//!   (`POST /api/v2/requests` with `{"uuid", "request": [task, …]}`, `GET
//!   /api/v2/requests/{uuid}` answering `{"results": [{"status", "errorCode",
//!   "errorDescription", "result"}]}`, the statuses `wait`, `inProgress`, `ready`, `error`,
//!   `interrupted`, `blocked`, `canceled`).
//! - The public TypeScript typings of the same tasks in `pbardov/node-atol-rpc`
//!   (`src/types/*.ts`: `TaxType` incl. `vat5`/`vat7`/`vat22`/`vat105`/`vat107`/`vat122`,
//!   `PaymentMethod`, `PaymentObject` incl. `commodityWithMarking` = 33, `FiscalParams`,
//!   `FnInfo`, `OfdExchangeStatus`, `GetMarkingCodeValidationStatusTaskResult`).
//! - The driver's error constants as published in its Java/C# bindings (`LIBFPTR_ERROR_*`:
//!   44 no paper, 45 cover open, 68 shift over 24 h, 139 unsent documents, …).
//!
//! Money goes out as JSON numbers, as the driver expects, but never through `f64`: bodies are
//! written by the small JSON writer at the bottom of this file, which prints a `Decimal`'s
//! own normalized text (`179.80` → `179.8`). Numbers in answers are read by `serde_json` (its
//! `arbitrary_precision` feature is off, so as `f64`) and turned into a `Decimal` through
//! their shortest round-trip text, which is exact for every amount with up to 15 significant
//! digits — kopecks up to ten trillion rubles.

use super::{
    CashDirection, CashOperation, FiscalDocument, FiscalInputError, FiscalReceipt, MarkedItemStatus, MarkingCode, MeasurementUnit,
    Operator, PaymentKind, PaymentMethod, PaymentObject, ReceiptKind, TaxationType, VatRate,
};
use base64::Engine;
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde_json::Value;
use std::str::FromStr;
use uuid::Uuid;

/// The web server's default address (ДТО 10 web server settings, «порт 16732»).
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:16732";

/// Largest answer the parser reads; a real answer is a few kilobytes.
pub const MAX_ANSWER: usize = 1 << 20;

/// One JSON task for the register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task<'a> {
    /// `sell` / `sellReturn`.
    Receipt(&'a FiscalReceipt),
    /// `cashIn` / `cashOut`.
    Cash(&'a CashOperation),
    /// `openShift`: opens the register's shift (a fiscal document).
    OpenShift(&'a Operator),
    /// `closeShift`: the Z report (a fiscal document).
    CloseShift(&'a Operator),
    /// `reportX`: the X report (not fiscal).
    ReportX(&'a Operator),
    /// `getShiftStatus`.
    ShiftStatus,
    /// `getDeviceStatus`: paper, cover, shift, ФН present.
    DeviceStatus,
    /// `getFnInfo`: the ФН's serial, validity date and warnings.
    FnInfo,
    /// `getFnStatus`: the last fiscal document and receipt numbers.
    FnStatus,
    /// `ofdExchangeStatus`: documents not yet sent to the ОФД.
    OfdExchangeStatus,
    /// `getFnDocument`: one document from the ФН's archive by its number.
    FnDocument(u64),
    /// `beginMarkingCodeValidation`: start checking a marking code (ФН + Честный ЗНАК).
    BeginMarkingCodeValidation(&'a MarkValidation),
    /// `getMarkingCodeValidationStatus`: ask whether the check is done and what it said.
    MarkingCodeValidationStatus,
    /// `acceptMarkingCode`: keep the checked code for the receipt about to be made.
    AcceptMarkingCode,
    /// `declineMarkingCode`: drop the checked code (the pack will not be sold).
    DeclineMarkingCode,
    /// `cancelMarkingCodeValidation`: abandon a check in progress.
    CancelMarkingCodeValidation,
}

/// A marking code to check before the sale (ФФД 1.2: the register asks the ФН and Честный
/// ЗНАК through the ОИСМ before the code may go on a receipt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkValidation {
    pub code: MarkingCode,
    /// For weighed marked goods: the quantity and its unit; `None` for a piece.
    pub measured: Option<(Decimal, MeasurementUnit)>,
}

/// The body of `POST /api/v2/requests`: `{"uuid": …, "request": [task, …]}`.
///
/// Receipts and cash operations are validated first; bad input changes nothing.
pub fn request_body(uuid: Uuid, tasks: &[Task<'_>]) -> Result<Vec<u8>, FiscalInputError> {
    let mut list = Vec::with_capacity(tasks.len());
    for task in tasks {
        list.push(task_json(task)?);
    }
    let body = J::obj(vec![("uuid", J::str(uuid.hyphenated().to_string())), ("request", J::Arr(list))]);
    let mut out = String::new();
    body.write(&mut out);
    Ok(out.into_bytes())
}

fn operator_json(operator: &Operator) -> J {
    let mut fields = vec![("name", J::str(operator.name.trim()))];
    if let Some(inn) = &operator.inn {
        fields.push(("vatin", J::str(inn)));
    }
    J::obj(fields)
}

fn task_json(task: &Task<'_>) -> Result<J, FiscalInputError> {
    let simple = |kind: &'static str| J::obj(vec![("type", J::str(kind))]);
    Ok(match task {
        Task::Receipt(receipt) => receipt_json(receipt)?,
        Task::Cash(cash) => {
            cash.validate()?;
            let kind = match cash.direction {
                CashDirection::In => "cashIn",
                CashDirection::Out => "cashOut",
            };
            J::obj(vec![
                ("type", J::str(kind)),
                ("operator", operator_json(&cash.operator)),
                ("cashSum", J::Num(cash.sum)),
            ])
        }
        Task::OpenShift(operator) | Task::CloseShift(operator) | Task::ReportX(operator) => {
            if operator.name.trim().is_empty() {
                return Err(FiscalInputError::NoOperator);
            }
            let kind = match task {
                Task::OpenShift(_) => "openShift",
                Task::CloseShift(_) => "closeShift",
                _ => "reportX",
            };
            J::obj(vec![("type", J::str(kind)), ("operator", operator_json(operator))])
        }
        Task::ShiftStatus => simple("getShiftStatus"),
        Task::DeviceStatus => simple("getDeviceStatus"),
        Task::FnInfo => simple("getFnInfo"),
        Task::FnStatus => simple("getFnStatus"),
        Task::OfdExchangeStatus => simple("ofdExchangeStatus"),
        Task::FnDocument(number) => J::obj(vec![("type", J::str("getFnDocument")), ("fiscalDocumentNumber", J::Int(*number))]),
        Task::BeginMarkingCodeValidation(check) => {
            let mut params = imc_fields(&check.code);
            if let Some((quantity, unit)) = check.measured {
                params.push(("itemQuantity", J::Num(quantity)));
                params.push(("itemUnits", J::str(unit_name(unit))));
            }
            J::obj(vec![("type", J::str("beginMarkingCodeValidation")), ("params", J::obj(params))])
        }
        Task::MarkingCodeValidationStatus => simple("getMarkingCodeValidationStatus"),
        Task::AcceptMarkingCode => simple("acceptMarkingCode"),
        Task::DeclineMarkingCode => simple("declineMarkingCode"),
        Task::CancelMarkingCodeValidation => simple("cancelMarkingCodeValidation"),
    })
}

/// `imcParams` of a marked position: the code as base64 (the driver's JSON carries the raw
/// code bytes, GS separators included, base64-encoded), `imcType: auto` (let the ФН recognise
/// the code's kind), the planned status, and processing mode 0 (ordinary sale).
fn imc_fields(code: &MarkingCode) -> Vec<(&'static str, J)> {
    let status = match code.status {
        MarkedItemStatus::PieceSold => "itemPieceSold",
        MarkedItemStatus::PieceReturned => "itemPieceReturn",
        MarkedItemStatus::MeasuredSold => "itemDrySold",
        MarkedItemStatus::MeasuredReturned => "itemDryReturn",
    };
    vec![
        ("imcType", J::str("auto")),
        (
            "imc",
            J::str(base64::engine::general_purpose::STANDARD.encode(code.code.as_bytes())),
        ),
        ("itemEstimatedStatus", J::str(status)),
        ("imcModeProcessing", J::Int(0)),
    ]
}

fn receipt_json(receipt: &FiscalReceipt) -> Result<J, FiscalInputError> {
    receipt.validate()?;
    let kind = match receipt.kind {
        ReceiptKind::Sell => "sell",
        ReceiptKind::SellReturn => "sellReturn",
    };
    let mut fields = vec![
        ("type", J::str(kind)),
        ("taxationType", J::str(taxation_name(receipt.taxation))),
        ("electronically", J::Bool(receipt.electronically)),
        ("operator", operator_json(&receipt.operator)),
    ];
    if let Some(contact) = &receipt.client_contact {
        fields.push(("clientInfo", J::obj(vec![("emailOrPhone", J::str(contact.trim()))])));
    }
    let items = receipt
        .items
        .iter()
        .map(|item| {
            let mut position = vec![
                ("type", J::str("position")),
                ("name", J::str(item.name.trim())),
                ("price", J::Num(item.price)),
                ("quantity", J::Num(item.quantity)),
                ("amount", J::Num(item.amount)),
                ("measurementUnit", J::str(unit_name(item.unit))),
                ("paymentMethod", J::str(payment_method_name(item.payment_method))),
                ("paymentObject", J::str(payment_object_name(item.payment_object))),
                ("tax", J::obj(vec![("type", J::str(vat_name(item.vat)))])),
            ];
            if let Some(code) = &item.marking {
                position.push(("imcParams", J::obj(imc_fields(code))));
            }
            J::obj(position)
        })
        .collect();
    fields.push(("items", J::Arr(items)));
    let payments = receipt
        .payments
        .iter()
        .map(|p| J::obj(vec![("type", J::str(payment_kind_name(p.kind))), ("sum", J::Num(p.sum))]))
        .collect();
    fields.push(("payments", J::Arr(payments)));
    fields.push(("total", J::Num(receipt.total)));
    Ok(J::obj(fields))
}

fn taxation_name(t: TaxationType) -> &'static str {
    match t {
        TaxationType::Osn => "osn",
        TaxationType::UsnIncome => "usnIncome",
        TaxationType::UsnIncomeOutcome => "usnIncomeOutcome",
        TaxationType::Esn => "esn",
        TaxationType::Patent => "patent",
    }
}

fn vat_name(v: VatRate) -> &'static str {
    match v {
        VatRate::None => "none",
        VatRate::Vat0 => "vat0",
        VatRate::Vat5 => "vat5",
        VatRate::Vat7 => "vat7",
        VatRate::Vat10 => "vat10",
        VatRate::Vat20 => "vat20",
        VatRate::Vat22 => "vat22",
        VatRate::Vat105 => "vat105",
        VatRate::Vat107 => "vat107",
        VatRate::Vat110 => "vat110",
        VatRate::Vat120 => "vat120",
        VatRate::Vat122 => "vat122",
    }
}

fn payment_method_name(m: PaymentMethod) -> &'static str {
    match m {
        PaymentMethod::FullPrepayment => "fullPrepayment",
        PaymentMethod::Prepayment => "prepayment",
        PaymentMethod::Advance => "advance",
        PaymentMethod::FullPayment => "fullPayment",
        PaymentMethod::PartialPayment => "partialPayment",
        PaymentMethod::Credit => "credit",
        PaymentMethod::CreditPayment => "creditPayment",
    }
}

fn payment_object_name(o: PaymentObject) -> &'static str {
    match o {
        PaymentObject::Commodity => "commodity",
        PaymentObject::Excise => "excise",
        PaymentObject::Job => "job",
        PaymentObject::Service => "service",
        PaymentObject::Payment => "payment",
        PaymentObject::Another => "another",
        PaymentObject::CommodityWithMarking => "commodityWithMarking",
        PaymentObject::CommodityWithoutMarking => "commodityWithoutMarking",
        PaymentObject::ExciseWithMarking => "exciseWithMarking",
        PaymentObject::ExciseWithoutMarking => "exciseWithoutMarking",
    }
}

fn unit_name(u: MeasurementUnit) -> &'static str {
    match u {
        MeasurementUnit::Piece => "piece",
        MeasurementUnit::Gram => "gram",
        MeasurementUnit::Kilogram => "kilogram",
        MeasurementUnit::Ton => "ton",
        MeasurementUnit::Centimeter => "centimeter",
        MeasurementUnit::Meter => "meter",
        MeasurementUnit::SquareMeter => "squareMeter",
        MeasurementUnit::Milliliter => "milliliter",
        MeasurementUnit::Liter => "liter",
        MeasurementUnit::CubicMeter => "cubicMeter",
        MeasurementUnit::OtherUnits => "otherUnits",
    }
}

fn payment_kind_name(k: PaymentKind) -> &'static str {
    match k {
        PaymentKind::Cash => "cash",
        PaymentKind::Electronically => "electronically",
        PaymentKind::Prepaid => "prepaid",
        PaymentKind::Credit => "credit",
        PaymentKind::Other => "other",
    }
}

// ---------------------------------------------------------------------------------------------
// Answers

/// Where a task is in the web server's queue («Веб-сервер ДТО 10», task statuses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskStatus {
    /// Queued behind other tasks.
    Wait,
    /// Being executed by the register now.
    InProgress,
    /// Done; `result` holds the answer.
    Ready,
    /// The register or the driver refused; `errorCode` says why.
    Error,
    /// Not executed because an earlier task of the same request failed.
    Interrupted,
    /// The web server lost the register in the middle of a task and holds the queue until it
    /// can find out what became of it: the outcome is not known yet.
    Blocked,
    /// Cancelled (`DELETE`) before it started.
    Canceled,
    /// A status this codec does not know (a newer web server).
    Other(String),
}

impl TaskStatus {
    fn parse(text: &str) -> TaskStatus {
        match text {
            "wait" => TaskStatus::Wait,
            "inProgress" => TaskStatus::InProgress,
            "ready" => TaskStatus::Ready,
            "error" => TaskStatus::Error,
            "interrupted" => TaskStatus::Interrupted,
            "blocked" => TaskStatus::Blocked,
            "canceled" | "cancelled" => TaskStatus::Canceled,
            other => TaskStatus::Other(other.chars().take(40).collect()),
        }
    }

    /// Will the status still change by itself?
    pub fn is_final(&self) -> bool {
        !matches!(self, TaskStatus::Wait | TaskStatus::InProgress | TaskStatus::Blocked)
    }
}

/// One element of `results[]`: the fate of one task of the request.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskReport {
    pub status: TaskStatus,
    /// The register's or driver's error, when `errorCode` is not 0.
    pub error: Option<RegisterError>,
    /// The task's `result` object (`Null` until ready).
    pub result: Value,
}

/// The answer to `GET /api/v2/requests/{uuid}`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskAnswer {
    pub results: Vec<TaskReport>,
}

impl TaskAnswer {
    /// Has every task reached a status that will not change by itself?
    pub fn is_final(&self) -> bool {
        self.results.iter().all(|r| r.status.is_final())
    }

    /// The report of the last task — the one that matters in a one-task fiscal request.
    pub fn last(&self) -> Option<&TaskReport> {
        self.results.last()
    }
}

/// Why an answer from the web server could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("the answer is {0} bytes, more than the {MAX_ANSWER} read")]
    TooLarge(usize),
    #[error("the answer is not JSON: {0}")]
    NotJson(String),
    #[error("the answer has no `{0}`")]
    Missing(&'static str),
    #[error("the answer's `{field}` is not {expected}")]
    Wrong { field: &'static str, expected: &'static str },
}

impl AnswerError {
    pub fn code(&self) -> &'static str {
        match self {
            AnswerError::TooLarge(_) => "atol_answer_too_large",
            AnswerError::NotJson(_) => "atol_answer_not_json",
            AnswerError::Missing(_) => "atol_answer_missing_field",
            AnswerError::Wrong { .. } => "atol_answer_wrong_field",
        }
    }
}

/// Parse the answer to `GET /api/v2/requests/{uuid}`. Never panics, whatever the bytes.
pub fn parse_answer(bytes: &[u8]) -> Result<TaskAnswer, AnswerError> {
    if bytes.len() > MAX_ANSWER {
        return Err(AnswerError::TooLarge(bytes.len()));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| AnswerError::NotJson(e.to_string()))?;
    let results = value
        .get("results")
        .ok_or(AnswerError::Missing("results"))?
        .as_array()
        .ok_or(AnswerError::Wrong {
            field: "results",
            expected: "an array",
        })?;
    let mut reports = Vec::with_capacity(results.len());
    for entry in results {
        let status = entry
            .get("status")
            .ok_or(AnswerError::Missing("status"))?
            .as_str()
            .ok_or(AnswerError::Wrong {
                field: "status",
                expected: "a string",
            })?;
        let code = match entry.get("errorCode") {
            None | Some(Value::Null) => 0,
            Some(v) => v.as_u64().ok_or(AnswerError::Wrong {
                field: "errorCode",
                expected: "a whole number",
            })?,
        };
        let description = entry.get("errorDescription").and_then(Value::as_str).unwrap_or("");
        let error = (code != 0).then(|| register_error(code, description));
        reports.push(TaskReport {
            status: TaskStatus::parse(status),
            error,
            result: entry.get("result").cloned().unwrap_or(Value::Null),
        });
    }
    Ok(TaskAnswer { results: reports })
}

/// The body of a refusal from the web server itself (400, 409, …): its `error.description`
/// or a short quote of the text. Never panics.
pub fn refusal_text(bytes: &[u8]) -> String {
    let quoted = |s: &str| {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(200)
            .collect::<String>()
    };
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => match v.pointer("/error/description").and_then(Value::as_str) {
            Some(d) => quoted(d),
            None => quoted(&v.to_string()),
        },
        Err(_) => quoted(&String::from_utf8_lossy(bytes)).trim().to_string(),
    }
}

fn decimal_of(v: &Value) -> Option<Decimal> {
    match v {
        Value::String(s) => Decimal::from_str(s.trim()).ok(),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Some(Decimal::from(u))
            } else if let Some(i) = n.as_i64() {
                Some(Decimal::from(i))
            } else {
                // Shortest round-trip text of the f64, e.g. 390.75 → "390.75".
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .and_then(|f| Decimal::from_str(&f.to_string()).ok())
            }
        }
        _ => None,
    }
}

fn u64_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn u32_of(v: &Value) -> Option<u32> {
    u64_of(v).and_then(|n| u32::try_from(n).ok())
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => n.as_u64().map(|u| u.to_string()),
        _ => None,
    }
}

fn time_of(v: &Value) -> Option<Timestamp> {
    v.as_str().and_then(|s| s.trim().parse::<Timestamp>().ok())
}

/// The fiscal document of a `ready` `sell`, `sellReturn`, `openShift` or `closeShift`:
/// `result.fiscalParams`. Fails unless both the ФД number and the ФП are there.
pub fn fiscal_document(result: &Value) -> Result<FiscalDocument, AnswerError> {
    let params = result.get("fiscalParams").ok_or(AnswerError::Missing("fiscalParams"))?;
    let fd = params
        .get("fiscalDocumentNumber")
        .and_then(u64_of)
        .filter(|n| *n > 0)
        .ok_or(AnswerError::Missing("fiscalParams.fiscalDocumentNumber"))?;
    let fp = params
        .get("fiscalDocumentSign")
        .and_then(text_of)
        .filter(|s| s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(AnswerError::Missing("fiscalParams.fiscalDocumentSign"))?;
    let shift = params
        .get("shiftNumber")
        .and_then(u32_of)
        .ok_or(AnswerError::Missing("fiscalParams.shiftNumber"))?;
    Ok(FiscalDocument {
        fd,
        fp,
        shift,
        receipt_number: params.get("fiscalReceiptNumber").and_then(u32_of),
        fn_number: params.get("fnNumber").and_then(text_of),
        registration_number: params.get("registrationNumber").and_then(text_of),
        at: params.get("fiscalDocumentDateTime").and_then(time_of),
        total: params.get("total").and_then(decimal_of),
    })
}

/// Did the register sign the document but fail to print it (`warnings.notPrinted`)? The
/// document exists; only the paper copy is missing (print it with `continuePrint` later).
pub fn not_printed(result: &Value) -> bool {
    result.pointer("/warnings/notPrinted").and_then(Value::as_bool).unwrap_or(false)
}

/// The cash in the drawer after `cashIn` / `cashOut` (`result.counters.cashSum`).
pub fn cash_in_drawer(result: &Value) -> Option<Decimal> {
    result.pointer("/counters/cashSum").and_then(decimal_of)
}

/// The register's shift as `getShiftStatus` / `getDeviceStatus` tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShiftState {
    Closed,
    Opened,
    /// Open for more than 24 hours: nothing but the Z report is allowed.
    Expired,
}

fn shift_state(v: Option<&Value>) -> Result<ShiftState, AnswerError> {
    match v.and_then(Value::as_str) {
        Some("closed") => Ok(ShiftState::Closed),
        Some("opened") => Ok(ShiftState::Opened),
        Some("expired") => Ok(ShiftState::Expired),
        Some(_) => Err(AnswerError::Wrong {
            field: "state",
            expected: "closed, opened or expired",
        }),
        None => Err(AnswerError::Missing("state")),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftStatus {
    pub state: ShiftState,
    pub number: u32,
    /// When the open shift turns 24 hours old.
    pub expires_at: Option<Timestamp>,
}

/// `getShiftStatus` → `result.shiftStatus`.
pub fn shift_status(result: &Value) -> Result<ShiftStatus, AnswerError> {
    let status = result.get("shiftStatus").ok_or(AnswerError::Missing("shiftStatus"))?;
    Ok(ShiftStatus {
        state: shift_state(status.get("state"))?,
        number: status
            .get("number")
            .and_then(u32_of)
            .ok_or(AnswerError::Missing("shiftStatus.number"))?,
        expires_at: status.get("expiredTime").and_then(time_of),
    })
}

/// What the register says about itself (`getDeviceStatus` → `result.deviceStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStatus {
    pub shift: ShiftState,
    pub paper_present: bool,
    pub cover_opened: bool,
    pub fn_present: bool,
    /// Registered (fiscalised) register.
    pub fiscal: bool,
    pub blocked: bool,
    pub clock: Option<Timestamp>,
}

pub fn device_status(result: &Value) -> Result<DeviceStatus, AnswerError> {
    let status = result.get("deviceStatus").ok_or(AnswerError::Missing("deviceStatus"))?;
    let flag = |name: &'static str| status.get(name).and_then(Value::as_bool).ok_or(AnswerError::Missing(name));
    Ok(DeviceStatus {
        shift: shift_state(status.get("shift"))?,
        paper_present: flag("paperPresent")?,
        cover_opened: flag("coverOpened")?,
        fn_present: flag("fnPresent")?,
        fiscal: flag("fiscal")?,
        blocked: flag("blocked").unwrap_or(false),
        clock: status.get("currentDateTime").and_then(time_of),
    })
}

/// The ФН's own warnings (`getFnInfo` → `fnInfo.warnings`): each one means a service visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FnWarnings {
    /// Memory more than 90 % full.
    pub memory_overflow: bool,
    /// Replace the ФН soon (less than 30 days of validity left).
    pub need_replacement: bool,
    /// Documents waited too long for the ОФД.
    pub ofd_timeout: bool,
    /// Less than 3 days of validity left.
    pub resource_exhausted: bool,
    pub critical_error: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FnInfo {
    pub serial: String,
    /// The last day the ФН signs documents.
    pub valid_until: Option<Timestamp>,
    pub registrations_remaining: Option<u32>,
    pub warnings: FnWarnings,
}

impl FnInfo {
    /// Whole days of validity left at `now` (negative once expired).
    pub fn days_left(&self, now: Timestamp) -> Option<i64> {
        self.valid_until
            .map(|until| (until.as_second() - now.as_second()).div_euclid(86_400))
    }
}

pub fn fn_info(result: &Value) -> Result<FnInfo, AnswerError> {
    let info = result.get("fnInfo").ok_or(AnswerError::Missing("fnInfo"))?;
    let warn = |name: &str| {
        info.get("warnings")
            .and_then(|w| w.get(name))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    Ok(FnInfo {
        serial: info.get("serial").and_then(text_of).ok_or(AnswerError::Missing("fnInfo.serial"))?,
        valid_until: info.get("validityDate").and_then(time_of),
        registrations_remaining: info.get("registrationsRemaining").and_then(u32_of),
        warnings: FnWarnings {
            memory_overflow: warn("memoryOverflow"),
            need_replacement: warn("needReplacement"),
            ofd_timeout: warn("ofdTimeout"),
            resource_exhausted: warn("resourceExhausted"),
            critical_error: warn("criticalError"),
        },
    })
}

/// Documents the ФН still has to send to the ОФД (`ofdExchangeStatus` → `result.status`).
/// After 30 days unsent the ФН stops signing (the ФН's own rule under 54-ФЗ): the shop
/// cannot sell until the backlog reaches the ОФД.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfdBacklog {
    pub unsent: u64,
    pub first_unsent_number: Option<u64>,
    pub first_unsent_at: Option<Timestamp>,
}

impl OfdBacklog {
    /// Whole days the oldest unsent document has waited at `now`.
    pub fn days_waiting(&self, now: Timestamp) -> Option<i64> {
        if self.unsent == 0 {
            return None;
        }
        self.first_unsent_at.map(|at| (now.as_second() - at.as_second()).div_euclid(86_400))
    }
}

pub fn ofd_backlog(result: &Value) -> Result<OfdBacklog, AnswerError> {
    let status = result.get("status").ok_or(AnswerError::Missing("status"))?;
    Ok(OfdBacklog {
        unsent: status
            .get("notSentCount")
            .and_then(u64_of)
            .ok_or(AnswerError::Missing("status.notSentCount"))?,
        first_unsent_number: status.get("notSentFirstDocNumber").and_then(u64_of).filter(|n| *n > 0),
        first_unsent_at: status.get("notSentFirstDocDateTime").and_then(time_of),
    })
}

/// The numbers of the last fiscal document and receipt (`getFnStatus` → `result.fnStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FnCounters {
    pub last_fd: u64,
    pub last_receipt: Option<u32>,
}

pub fn fn_counters(result: &Value) -> Result<FnCounters, AnswerError> {
    let status = result.get("fnStatus").ok_or(AnswerError::Missing("fnStatus"))?;
    Ok(FnCounters {
        last_fd: status
            .get("fiscalDocumentNumber")
            .and_then(u64_of)
            .ok_or(AnswerError::Missing("fnStatus.fiscalDocumentNumber"))?,
        last_receipt: status.get("fiscalReceiptNumber").and_then(u32_of),
    })
}

/// What a fiscal document in the ФН's archive is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchivedKind {
    /// A receipt with its operation (ФФД tag 1054: 1 приход, 2 возврат прихода, 3 расход,
    /// 4 возврат расхода).
    Receipt(u8),
    OpenShift,
    CloseShift,
    /// Registration, correction, ОФД status report, …
    Other,
}

/// One document read back from the ФН (`getFnDocument`), for comparing with what storeterm
/// expected after the web server forgot a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedDocument {
    pub fd: u64,
    pub kind: ArchivedKind,
    pub fp: Option<String>,
    pub total: Option<Decimal>,
    pub shift: Option<u32>,
    pub receipt_number: Option<u32>,
    pub at: Option<Timestamp>,
}

/// Parse `getFnDocument` → `result.documentTLV`. The receipt's fields come from the FNS QR
/// string (`t=…&s=…&fn=…&i=…&fp=…&n=…`, the QR code every Russian receipt prints for the
/// ФНС check service) and, where present, from the numbered ФФД tags (1040 ФД, 1077 ФП,
/// 1020 total, 1038 shift, 1042 receipt number, 1054 operation).
pub fn archived_document(result: &Value, asked_fd: u64) -> Result<ArchivedDocument, AnswerError> {
    let tlv = result.get("documentTLV").ok_or(AnswerError::Missing("documentTLV"))?;
    let qr = tlv.get("qr").and_then(Value::as_str).map(parse_qr).unwrap_or_default();
    let tag = |n: &str| tlv.get(n);
    let fd = tag("1040").and_then(u64_of).or(qr.fd).unwrap_or(asked_fd);
    let operation = tag("1054").and_then(u64_of).or(qr.operation).and_then(|n| u8::try_from(n).ok());
    let kind = match (tlv.get("fiscalDocumentType").and_then(Value::as_str), operation) {
        (Some("openShift"), _) => ArchivedKind::OpenShift,
        (Some("closeShift"), _) => ArchivedKind::CloseShift,
        (Some("receipt") | None, Some(op)) => ArchivedKind::Receipt(op),
        _ => ArchivedKind::Other,
    };
    Ok(ArchivedDocument {
        fd,
        kind,
        fp: tag("1077").and_then(text_of).or(qr.fp),
        total: tag("1020").and_then(decimal_of).or(qr.total),
        shift: tag("1038").and_then(u32_of),
        receipt_number: tag("1042").and_then(u32_of),
        at: qr.at,
    })
}

#[derive(Debug, Default)]
struct Qr {
    fd: Option<u64>,
    fp: Option<String>,
    total: Option<Decimal>,
    operation: Option<u64>,
    at: Option<Timestamp>,
}

fn parse_qr(text: &str) -> Qr {
    let mut qr = Qr::default();
    for pair in text.split('&') {
        let Some((key, value)) = pair.split_once('=') else { continue };
        match key {
            "i" => qr.fd = value.parse().ok(),
            "fp" => qr.fp = Some(value.to_string()).filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())),
            "s" => qr.total = Decimal::from_str(value).ok(),
            "n" => qr.operation = value.parse().ok(),
            // `t=YYYYMMDDTHHMM[SS]` in the register's local time; without a zone it can only
            // be compared loosely, so it is read as UTC and used with a wide margin.
            "t" => qr.at = parse_qr_time(value),
            _ => {}
        }
    }
    qr
}

fn parse_qr_time(value: &str) -> Option<Timestamp> {
    let (date, time) = value.split_once('T')?;
    if date.len() != 8 || !(time.len() == 4 || time.len() == 6) || !value.bytes().all(|b| b.is_ascii_digit() || b == b'T') {
        return None;
    }
    let num = |s: &str| s.parse::<i16>().ok();
    let dt = jiff::civil::DateTime::new(
        num(&date[..4])?,
        num(&date[4..6])? as i8,
        num(&date[6..8])? as i8,
        num(&time[..2])? as i8,
        num(&time[2..4])? as i8,
        if time.len() == 6 { num(&time[4..6])? as i8 } else { 0 },
        0,
    )
    .ok()?;
    dt.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp())
}

/// What checking a marking code found (`getMarkingCodeValidationStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkCheck {
    /// Still asking Честный ЗНАК; ask again.
    Pending,
    /// Честный ЗНАК confirmed the code and the planned status: accept it and sell.
    Valid,
    /// Честный ЗНАК refused: the pack must not be sold (decline the code).
    Invalid { reason: String },
    /// No answer from Честный ЗНАК (offline, timeout): the code was only checked by the ФН.
    /// Whether to sell is the shop's rule for that category (the lane decides).
    Unconfirmed { reason: String },
}

pub fn mark_check(result: &Value) -> MarkCheck {
    if !result.get("ready").and_then(Value::as_bool).unwrap_or(false) {
        return MarkCheck::Pending;
    }
    let Some(online) = result.get("onlineValidation").filter(|v| v.is_object()) else {
        let reason = result
            .pointer("/driverError/description")
            .and_then(Value::as_str)
            .unwrap_or("нет ответа от Честного ЗНАКа")
            .chars()
            .take(200)
            .collect();
        return MarkCheck::Unconfirmed { reason };
    };
    let status = online.get("markOperatorItemStatus").and_then(Value::as_str);
    let response = online.get("markOperatorResponseResult").and_then(Value::as_str);
    match (status, response) {
        (Some("itemEstimatedStatusCorrect"), Some("correct")) => MarkCheck::Valid,
        (Some("itemSaleStopped"), _) => MarkCheck::Invalid {
            reason: "продажа этого товара остановлена Честным ЗНАКом".into(),
        },
        (Some("itemEstimatedStatusIncorrect"), _) | (_, Some("incorrect")) => MarkCheck::Invalid {
            reason: "код маркировки не прошёл проверку (пачка выбыла из оборота или код чужой)".into(),
        },
        _ => MarkCheck::Unconfirmed {
            reason: "ответ Честного ЗНАКа не распознан".into(),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// The register's errors

/// An error the register (or its driver) reported for a task, in words a cashier can act on.
/// The numbers are the driver's `LIBFPTR_ERROR_*` codes that the web server passes through as
/// `errorCode`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("Смена на кассе длится больше 24 часов. Закройте смену (Z-отчёт) и откройте новую, затем повторите.")]
    ShiftExpired,
    #[error("Смена на кассе закрыта. Откройте смену и повторите.")]
    ShiftClosed,
    #[error("Смена на кассе уже открыта.")]
    ShiftAlreadyOpen,
    #[error("В кассе закончилась бумага. Вставьте новый рулон, закройте крышку и повторите.")]
    PaperOut,
    #[error("Открыта крышка кассы. Закройте крышку и повторите.")]
    CoverOpen,
    #[error("Неисправность печатающего механизма кассы ({description}). Проверьте бумагу и механизм, перезапустите кассу.")]
    PrinterFault { description: String },
    #[error("Память фискального накопителя (ФН) заполнена. Касса не может пробивать чеки до замены ФН — обратитесь в сервисный центр.")]
    FnFull,
    #[error("Срок действия фискального накопителя (ФН) истёк. Касса не может пробивать чеки до замены ФН — обратитесь в сервисный центр.")]
    FnExpired,
    #[error("Касса не видит фискальный накопитель (ФН). Обратитесь в сервисный центр.")]
    FnMissing,
    #[error(
        "Фискальный накопитель заблокирован: документы слишком долго не передавались в ОФД. Проверьте интернет на кассе и договор с ОФД, дождитесь отправки документов."
    )]
    OfdBacklog,
    #[error("Касса не принимает ставку НДС ({description}). Проверьте ставку НДС товара и систему налогообложения.")]
    WrongVat { description: String },
    #[error("Система налогообложения чека не совпадает с зарегистрированной в кассе. Проверьте СНО в настройках кассы storeterm.")]
    WrongTaxation,
    #[error("В кассе нет столько наличных для выплаты. Уменьшите сумму.")]
    NoCash,
    #[error("Касса занята предыдущей операцией. Подождите несколько секунд и повторите.")]
    Busy,
    #[error("Нет связи с кассой ({description}). Проверьте питание и кабель кассы и подключение в веб-сервере драйвера ККТ.")]
    NotConnected { description: String },
    #[error("Операция на кассе прервалась ({description}). storeterm проверит, пробит ли документ, прежде чем пробивать его снова.")]
    Interrupted { description: String },
    #[error("Касса отказала: {description} (код {code}). Проверьте данные чека.")]
    Rejected { code: u64, description: String },
    #[error("Ошибка кассы: {description} (код {code}).")]
    Other { code: u64, description: String },
}

impl RegisterError {
    /// The stable code the API and screens use.
    pub fn code(&self) -> &'static str {
        match self {
            RegisterError::ShiftExpired => "kkt_shift_expired",
            RegisterError::ShiftClosed => "kkt_shift_closed",
            RegisterError::ShiftAlreadyOpen => "kkt_shift_already_open",
            RegisterError::PaperOut => "kkt_paper_out",
            RegisterError::CoverOpen => "kkt_cover_open",
            RegisterError::PrinterFault { .. } => "kkt_printer_fault",
            RegisterError::FnFull => "kkt_fn_full",
            RegisterError::FnExpired => "kkt_fn_expired",
            RegisterError::FnMissing => "kkt_fn_missing",
            RegisterError::OfdBacklog => "kkt_ofd_backlog",
            RegisterError::WrongVat { .. } => "kkt_wrong_vat",
            RegisterError::WrongTaxation => "kkt_wrong_taxation",
            RegisterError::NoCash => "kkt_no_cash",
            RegisterError::Busy => "kkt_busy",
            RegisterError::NotConnected { .. } => "kkt_not_connected",
            RegisterError::Interrupted { .. } => "kkt_interrupted",
            RegisterError::Rejected { .. } => "kkt_rejected",
            RegisterError::Other { .. } => "kkt_error",
        }
    }

    /// Is it certain that the register refused before any document could exist? These are
    /// checks the register makes when a receipt is opened (shift, ФН, VAT, sums): a new
    /// attempt after the fix is safe. Anything else — paper running out mid-receipt, a lost
    /// link, an interrupted close — may have left a signed document behind, so the register's
    /// last document is compared before anything is sent again.
    pub fn before_document(&self) -> bool {
        !matches!(
            self,
            RegisterError::PaperOut
                | RegisterError::CoverOpen
                | RegisterError::PrinterFault { .. }
                | RegisterError::NotConnected { .. }
                | RegisterError::Interrupted { .. }
                | RegisterError::Other { .. }
        )
    }
}

/// Map the driver's error code to what it means for the shop.
pub fn register_error(code: u64, description: &str) -> RegisterError {
    let description: String = description.chars().filter(|c| !c.is_control()).take(200).collect();
    match code {
        // CONNECTION_DISABLED, NO_CONNECTION, PORT_BUSY, PORT_NOT_AVAILABLE, NOT_CONFIGURED
        1..=4 | 10 => RegisterError::NotConnected { description },
        // INCORRECT_DATA, INTERNAL, UNKNOWN: the exchange itself failed mid-way.
        5 | 6 | 15 => RegisterError::Interrupted { description },
        44 => RegisterError::PaperOut,
        45 => RegisterError::CoverOpen,
        // PRINTER_FAULT, MECHANICAL_FAULT, PRINTER_OVERHEAT, CUTTER_FAULT
        46 | 47 | 114 | 150 => RegisterError::PrinterFault { description },
        55 => RegisterError::Busy,
        // SHIFT_EXPIRED (the register's clock), FN_SHIFT_EXPIRED (the ФН's)
        68 | 141 => RegisterError::ShiftExpired,
        73 => RegisterError::ShiftClosed,
        83 => RegisterError::ShiftAlreadyOpen,
        80 => RegisterError::NoCash,
        // FISCAL_MEMORY_OVERFLOW, FN_OVERFLOW
        70 | 121 => RegisterError::FnFull,
        // FN_EXPIRED, FN_CRYPTO_HAS_EXPIRED, FN_RESOURCE_HAS_EXPIRED
        120 | 136 | 137 => RegisterError::FnExpired,
        166 => RegisterError::FnMissing,
        // FN_HAS_NOT_SEND_DOCUMENTS, FN_TIMEOUT (waiting for the ОФД's receipt)
        139 | 140 => RegisterError::OfdBacklog,
        143 => RegisterError::WrongTaxation,
        // INVALID_TAX_TYPE, VAT18_VAT20_IN_RECEIPT
        144 | 219 => RegisterError::WrongVat { description },
        // CLOSE_RECEIPT_INTERRUPTED, FN_QUERY_INTERRUPTED, NEED_CANCEL_DOCUMENT
        177 | 178 | 203 => RegisterError::Interrupted { description },
        // Refusals of the receipt's content: sums, quantities, payments, required fields.
        16 | 17 | 52 | 53 | 54 | 60 | 61 | 63 | 66 | 145 | 161 | 195 | 215 | 216 | 217 => RegisterError::Rejected { code, description },
        _ => RegisterError::Other { code, description },
    }
}

// ---------------------------------------------------------------------------------------------
// A small JSON writer: deterministic key order and exact decimal text.

#[derive(Debug, Clone, PartialEq, Eq)]
enum J {
    Str(String),
    Num(Decimal),
    Int(u64),
    Bool(bool),
    Arr(Vec<J>),
    Obj(Vec<(&'static str, J)>),
}

impl J {
    fn str(s: impl Into<String>) -> J {
        J::Str(s.into())
    }

    fn obj(fields: Vec<(&'static str, J)>) -> J {
        J::Obj(fields)
    }

    fn write(&self, out: &mut String) {
        match self {
            J::Str(s) => write_string(s, out),
            // `normalize` drops trailing zeros; `Decimal`'s text never has an exponent, so it
            // is always a valid JSON number.
            J::Num(d) => out.push_str(&d.normalize().to_string()),
            J::Int(n) => out.push_str(&n.to_string()),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(key, out);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// RFC 8259 §7: quote, backslash and control characters escaped; everything else (Cyrillic
/// included) as UTF-8.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::super::tests::{anna, milk, sale};
    use super::super::*;
    use super::*;
    use rust_decimal_macros::dec;

    const UUID: Uuid = Uuid::from_u128(0x6f1c_2a3b_4c5d_4e6f_8a7b_9c0d_1e2f_3a4b);

    fn body(tasks: &[Task<'_>]) -> String {
        String::from_utf8(request_body(UUID, tasks).unwrap()).unwrap()
    }

    #[test]
    fn a_sale_goes_out_byte_exact() {
        let mut receipt = sale();
        receipt.client_contact = Some("+79001234567".into());
        assert_eq!(
            body(&[Task::Receipt(&receipt)]),
            concat!(
                r#"{"uuid":"6f1c2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b","request":[{"type":"sell","taxationType":"osn","#,
                r#""electronically":false,"operator":{"name":"Анна Петрова","vatin":"500100732259"},"#,
                r#""clientInfo":{"emailOrPhone":"+79001234567"},"#,
                r#""items":[{"type":"position","name":"Молоко 3,2% 1 л","price":89.9,"quantity":2,"amount":179.8,"#,
                r#""measurementUnit":"piece","paymentMethod":"fullPayment","paymentObject":"commodity","tax":{"type":"vat10"}}],"#,
                r#""payments":[{"type":"cash","sum":200}],"total":179.8}]}"#
            )
        );
    }

    #[test]
    fn a_marked_return_with_2026_vat_and_card_payment() {
        let code = "0104607428679090216eKIjoWH54DdU\u{1d}91ffd0\u{1d}92sz6k";
        let receipt = FiscalReceipt {
            kind: ReceiptKind::SellReturn,
            operator: Operator {
                name: "Анна".into(),
                inn: None,
            },
            taxation: TaxationType::Osn,
            items: vec![FiscalItem {
                name: "Кроссовки \"Бег\"".into(),
                price: dec!(4990.00),
                quantity: dec!(1),
                amount: dec!(4990.00),
                vat: VatRate::Vat22,
                payment_method: PaymentMethod::FullPayment,
                payment_object: PaymentObject::CommodityWithMarking,
                unit: MeasurementUnit::Piece,
                marking: Some(MarkingCode {
                    code: code.into(),
                    status: MarkedItemStatus::PieceReturned,
                }),
            }],
            payments: vec![FiscalPayment {
                kind: PaymentKind::Electronically,
                sum: dec!(4990.00),
            }],
            client_contact: None,
            electronically: false,
            total: dec!(4990.00),
        };
        let text = body(&[Task::Receipt(&receipt)]);
        let imc = base64::engine::general_purpose::STANDARD.encode(code);
        assert!(text.contains(r#""type":"sellReturn""#), "{text}");
        assert!(text.contains(r#""name":"Кроссовки \"Бег\"""#), "{text}");
        assert!(
            text.contains(r#""paymentObject":"commodityWithMarking","tax":{"type":"vat22"}"#),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                r#""imcParams":{{"imcType":"auto","imc":"{imc}","itemEstimatedStatus":"itemPieceReturn","imcModeProcessing":0}}"#
            )),
            "{text}"
        );
        assert!(text.contains(r#""payments":[{"type":"electronically","sum":4990}]"#), "{text}");
        // The body is valid JSON and says what we meant.
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["request"][0]["items"][0]["price"], serde_json::json!(4990));
    }

    #[test]
    fn shift_cash_report_and_status_tasks() {
        let cash = CashOperation {
            direction: CashDirection::Out,
            operator: anna(),
            sum: dec!(1500.50),
        };
        assert_eq!(
            body(&[Task::Cash(&cash)]),
            r#"{"uuid":"6f1c2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b","request":[{"type":"cashOut","operator":{"name":"Анна Петрова","vatin":"500100732259"},"cashSum":1500.5}]}"#
        );
        assert_eq!(
            body(&[Task::OpenShift(&anna())]),
            r#"{"uuid":"6f1c2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b","request":[{"type":"openShift","operator":{"name":"Анна Петрова","vatin":"500100732259"}}]}"#
        );
        assert_eq!(
            body(&[
                Task::FnStatus,
                Task::ShiftStatus,
                Task::FnDocument(42),
                Task::OfdExchangeStatus,
                Task::FnInfo,
                Task::DeviceStatus
            ]),
            concat!(
                r#"{"uuid":"6f1c2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b","request":[{"type":"getFnStatus"},{"type":"getShiftStatus"},"#,
                r#"{"type":"getFnDocument","fiscalDocumentNumber":42},{"type":"ofdExchangeStatus"},{"type":"getFnInfo"},{"type":"getDeviceStatus"}]}"#
            )
        );
        let closing = Operator {
            name: "  ".into(),
            inn: None,
        };
        assert_eq!(request_body(UUID, &[Task::CloseShift(&closing)]), Err(FiscalInputError::NoOperator));
    }

    #[test]
    fn marking_validation_tasks() {
        let check = MarkValidation {
            code: MarkingCode {
                code: "010460\u{1d}91ab".into(),
                status: MarkedItemStatus::MeasuredSold,
            },
            measured: Some((dec!(0.250), MeasurementUnit::Kilogram)),
        };
        assert_eq!(
            body(&[Task::BeginMarkingCodeValidation(&check)]),
            concat!(
                r#"{"uuid":"6f1c2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b","request":[{"type":"beginMarkingCodeValidation","params":{"#,
                r#""imcType":"auto","imc":"MDEwNDYwHTkxYWI=","itemEstimatedStatus":"itemDrySold","imcModeProcessing":0,"#,
                r#""itemQuantity":0.25,"itemUnits":"kilogram"}}]}"#
            )
        );
        assert!(body(&[Task::AcceptMarkingCode]).contains(r#"{"type":"acceptMarkingCode"}"#));
        assert!(body(&[Task::DeclineMarkingCode]).contains(r#"{"type":"declineMarkingCode"}"#));
        assert!(body(&[Task::MarkingCodeValidationStatus]).contains(r#"{"type":"getMarkingCodeValidationStatus"}"#));
    }

    #[test]
    fn bad_input_builds_nothing() {
        let mut receipt = sale();
        receipt.items[0].vat = VatRate::Vat7;
        assert_eq!(
            request_body(UUID, &[Task::Receipt(&receipt)]).unwrap_err().code(),
            "fiscal_wrong_vat"
        );
        let cash = CashOperation {
            direction: CashDirection::In,
            operator: anna(),
            sum: dec!(0),
        };
        assert_eq!(request_body(UUID, &[Task::Cash(&cash)]), Err(FiscalInputError::CashNotPositive));
    }

    #[test]
    fn control_characters_in_names_are_escaped() {
        let mut receipt = sale();
        receipt.items = vec![FiscalItem {
            name: "a\\b\u{1}c\td".into(),
            ..milk(dec!(2))
        }];
        let text = body(&[Task::Receipt(&receipt)]);
        assert!(text.contains(r#""name":"a\\b\u0001c\td""#), "{text}");
        assert!(serde_json::from_str::<Value>(&text).is_ok());
    }

    const READY_SELL: &str = r#"{"results":[{"errorCode":0,"errorDescription":"Ошибок нет","status":"ready","result":{
        "fiscalParams":{"fiscalDocumentDateTime":"2026-03-02T13:52:00+03:00","fiscalDocumentNumber":71,
        "fiscalDocumentSign":"1494325660","fiscalReceiptNumber":1,"fnNumber":"9999078900000961",
        "registrationNumber":"0000000001002292","shiftNumber":12,"total":390.75,"fnsUrl":"www.nalog.gov.ru"},
        "warnings":null}}]}"#;

    #[test]
    fn a_ready_sale_gives_its_fiscal_document() {
        let answer = parse_answer(READY_SELL.as_bytes()).unwrap();
        assert!(answer.is_final());
        let report = answer.last().unwrap();
        assert_eq!(report.status, TaskStatus::Ready);
        assert_eq!(report.error, None);
        let doc = fiscal_document(&report.result).unwrap();
        assert_eq!(
            doc,
            FiscalDocument {
                fd: 71,
                fp: "1494325660".into(),
                shift: 12,
                receipt_number: Some(1),
                fn_number: Some("9999078900000961".into()),
                registration_number: Some("0000000001002292".into()),
                at: Some("2026-03-02T10:52:00Z".parse().unwrap()),
                total: Some(dec!(390.75)),
            }
        );
        assert!(!not_printed(&report.result));
    }

    #[test]
    fn no_document_without_fd_and_fp() {
        let missing_fp = serde_json::json!({"fiscalParams": {"fiscalDocumentNumber": 71, "shiftNumber": 1}});
        assert_eq!(
            fiscal_document(&missing_fp),
            Err(AnswerError::Missing("fiscalParams.fiscalDocumentSign"))
        );
        let zero_fd = serde_json::json!({"fiscalParams": {"fiscalDocumentNumber": 0, "fiscalDocumentSign": "1", "shiftNumber": 1}});
        assert_eq!(
            fiscal_document(&zero_fd),
            Err(AnswerError::Missing("fiscalParams.fiscalDocumentNumber"))
        );
        let letters = serde_json::json!({"fiscalParams": {"fiscalDocumentNumber": 3, "fiscalDocumentSign": "12ab", "shiftNumber": 1}});
        assert!(fiscal_document(&letters).is_err());
        // A numeric ФП (some firmware) is kept as its digits.
        let numeric =
            serde_json::json!({"fiscalParams": {"fiscalDocumentNumber": 3, "fiscalDocumentSign": 4021117931u64, "shiftNumber": 1}});
        assert_eq!(fiscal_document(&numeric).unwrap().fp, "4021117931");
    }

    #[test]
    fn queue_statuses_and_errors() {
        let answer = parse_answer(
            br#"{"results":[{"status":"inProgress","errorCode":0,"errorDescription":"","result":null},
                             {"status":"wait"},{"status":"blocked"},{"status":"canceled"},{"status":"interrupted"},
                             {"status":"somethingNew","errorCode":0}]}"#,
        )
        .unwrap();
        let statuses: Vec<_> = answer.results.iter().map(|r| r.status.clone()).collect();
        assert_eq!(
            statuses,
            vec![
                TaskStatus::InProgress,
                TaskStatus::Wait,
                TaskStatus::Blocked,
                TaskStatus::Canceled,
                TaskStatus::Interrupted,
                TaskStatus::Other("somethingNew".into())
            ]
        );
        assert!(!answer.is_final());
        let paper =
            parse_answer(r#"{"results":[{"status":"error","errorCode":44,"errorDescription":"Нет бумаги","result":null}]}"#.as_bytes())
                .unwrap();
        let error = paper.last().unwrap().error.clone().unwrap();
        assert_eq!(error, RegisterError::PaperOut);
        assert_eq!(error.code(), "kkt_paper_out");
        assert_eq!(
            error.to_string(),
            "В кассе закончилась бумага. Вставьте новый рулон, закройте крышку и повторите."
        );
        assert!(!error.before_document());
    }

    #[test]
    fn error_codes_map_to_what_the_shop_must_do() {
        let cases: &[(u64, &str, bool)] = &[
            (68, "kkt_shift_expired", true),
            (141, "kkt_shift_expired", true),
            (73, "kkt_shift_closed", true),
            (44, "kkt_paper_out", false),
            (45, "kkt_cover_open", false),
            (150, "kkt_printer_fault", false),
            (121, "kkt_fn_full", true),
            (120, "kkt_fn_expired", true),
            (137, "kkt_fn_expired", true),
            (139, "kkt_ofd_backlog", true),
            (144, "kkt_wrong_vat", true),
            (143, "kkt_wrong_taxation", true),
            (2, "kkt_not_connected", false),
            (177, "kkt_interrupted", false),
            (80, "kkt_no_cash", true),
            (52, "kkt_rejected", true),
            (9999, "kkt_error", false),
        ];
        for (code, expected, before) in cases {
            let error = register_error(*code, "описание\u{7}");
            assert_eq!(error.code(), *expected, "code {code}");
            assert_eq!(error.before_document(), *before, "code {code}");
            assert!(!error.to_string().contains('\u{7}'));
        }
        assert!(register_error(68, "").to_string().contains("Z-отчёт"));
        assert!(register_error(139, "").to_string().contains("ОФД"));
    }

    #[test]
    fn malformed_answers_are_errors_not_panics() {
        assert_eq!(parse_answer(b"<html>502</html>").unwrap_err().code(), "atol_answer_not_json");
        assert_eq!(parse_answer(b"{}"), Err(AnswerError::Missing("results")));
        assert_eq!(parse_answer(br#"{"results":{}}"#).unwrap_err().code(), "atol_answer_wrong_field");
        assert_eq!(parse_answer(br#"{"results":[{}]}"#), Err(AnswerError::Missing("status")));
        assert_eq!(
            parse_answer(br#"{"results":[{"status":"ready","errorCode":-1}]}"#)
                .unwrap_err()
                .code(),
            "atol_answer_wrong_field"
        );
        assert_eq!(
            parse_answer(&vec![b' '; MAX_ANSWER + 1]),
            Err(AnswerError::TooLarge(MAX_ANSWER + 1))
        );
        assert_eq!(refusal_text(br#"{"error":{"code":409,"description":"exists"}}"#), "exists");
        assert_eq!(refusal_text(b"\x00oops\n"), "oops");
    }

    #[test]
    fn status_queries() {
        let shift = shift_status(&serde_json::json!({"shiftStatus": {"state": "expired", "number": 12, "expiredTime": "2026-03-03T09:00:00+03:00", "documentsCount": 5}})).unwrap();
        assert_eq!(shift.state, ShiftState::Expired);
        assert_eq!(shift.number, 12);
        assert_eq!(shift.expires_at, Some("2026-03-03T06:00:00Z".parse().unwrap()));
        let device = device_status(&serde_json::json!({"deviceStatus": {"currentDateTime": "2026-03-02T10:00:00+03:00", "shift": "opened",
            "blocked": false, "coverOpened": false, "paperPresent": false, "fiscal": true, "fnFiscal": true, "fnPresent": true, "cashDrawerOpened": false}}))
        .unwrap();
        assert!(!device.paper_present && device.fiscal && device.shift == ShiftState::Opened);
        let info = fn_info(
            &serde_json::json!({"fnInfo": {"serial": "9999078900000961", "validityDate": "2026-04-01T00:00:00+03:00",
            "registrationsRemaining": 11, "warnings": {"needReplacement": true, "memoryOverflow": false}}}),
        )
        .unwrap();
        assert!(info.warnings.need_replacement && !info.warnings.resource_exhausted);
        assert_eq!(info.days_left("2026-03-02T21:00:00Z".parse().unwrap()), Some(29));
        let ofd = ofd_backlog(&serde_json::json!({"status": {"notSentCount": 3, "notSentFirstDocNumber": 60,
            "notSentFirstDocDateTime": "2026-02-01T12:00:00+03:00"}}))
        .unwrap();
        assert_eq!(ofd.days_waiting("2026-03-02T09:00:00Z".parse().unwrap()), Some(29));
        let counters = fn_counters(&serde_json::json!({"fnStatus": {"fiscalDocumentNumber": 71, "fiscalReceiptNumber": 5}})).unwrap();
        assert_eq!(
            counters,
            FnCounters {
                last_fd: 71,
                last_receipt: Some(5)
            }
        );
        assert_eq!(
            cash_in_drawer(&serde_json::json!({"counters": {"cashSum": 1345.1}})),
            Some(dec!(1345.1))
        );
        assert!(shift_status(&serde_json::json!({"shiftStatus": {"state": "weird", "number": 1}})).is_err());
    }

    #[test]
    fn an_archived_receipt_is_read_from_its_qr_and_tags() {
        let doc = archived_document(
            &serde_json::json!({"documentTLV": {"fiscalDocumentType": "receipt",
                "qr": "t=20260302T1352&s=390.75&fn=9999078900000961&i=71&fp=1494325660&n=1", "1038": 12, "1042": 1}}),
            71,
        )
        .unwrap();
        assert_eq!(doc.fd, 71);
        assert_eq!(doc.kind, ArchivedKind::Receipt(1));
        assert_eq!(doc.fp.as_deref(), Some("1494325660"));
        assert_eq!(doc.total, Some(dec!(390.75)));
        assert_eq!(doc.shift, Some(12));
        assert_eq!(doc.at, Some("2026-03-02T13:52:00Z".parse().unwrap()));
        let close = archived_document(
            &serde_json::json!({"documentTLV": {"fiscalDocumentType": "closeShift", "1040": 72, "1077": "2222"}}),
            72,
        )
        .unwrap();
        assert_eq!(close.kind, ArchivedKind::CloseShift);
        assert_eq!(close.fp.as_deref(), Some("2222"));
        assert!(archived_document(&serde_json::json!({}), 1).is_err());
        assert_eq!(parse_qr_time("2026x302T1352"), None);
    }

    #[test]
    fn marking_code_check_results() {
        assert_eq!(mark_check(&serde_json::json!({"ready": false})), MarkCheck::Pending);
        let ok = serde_json::json!({"ready": true, "onlineValidation": {"markOperatorItemStatus": "itemEstimatedStatusCorrect",
            "markOperatorResponseResult": "correct", "markOperatorResponse": {"responseStatus": true, "itemStatusCheck": true}}});
        assert_eq!(mark_check(&ok), MarkCheck::Valid);
        let stopped = serde_json::json!({"ready": true, "onlineValidation": {"markOperatorItemStatus": "itemSaleStopped", "markOperatorResponseResult": "correct"}});
        assert!(matches!(mark_check(&stopped), MarkCheck::Invalid { .. }));
        let offline = serde_json::json!({"ready": true, "driverError": {"code": 401, "description": "Нет связи с ОИСМ"}});
        assert_eq!(
            mark_check(&offline),
            MarkCheck::Unconfirmed {
                reason: "Нет связи с ОИСМ".into()
            }
        );
    }

    proptest::proptest! {
        /// Any decimal goes out as a JSON number that reads back as the same decimal.
        #[test]
        fn decimals_are_written_exactly(mantissa in -10_000_000_000_000i64..10_000_000_000_000i64, scale in 0u32..6) {
            let d = Decimal::new(mantissa, scale);
            let mut out = String::new();
            J::Num(d).write(&mut out);
            let parsed: Value = serde_json::from_str(&out).unwrap();
            proptest::prop_assert!(parsed.is_number());
            proptest::prop_assert_eq!(Decimal::from_str(&out).unwrap(), d);
        }

        /// Any text survives the string writer as valid JSON.
        #[test]
        fn strings_round_trip(s in "\\PC*|[\\x00-\\x1f\"\\\\]*") {
            let mut out = String::new();
            write_string(&s, &mut out);
            let back: String = serde_json::from_str(&out).unwrap();
            proptest::prop_assert_eq!(back, s);
        }

        /// Arbitrary bytes never panic the parser, and neither do the typed readers on
        /// whatever JSON it accepts.
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            if let Ok(answer) = parse_answer(&bytes) {
                for report in &answer.results {
                    let _ = fiscal_document(&report.result);
                    let _ = archived_document(&report.result, 1);
                    let _ = mark_check(&report.result);
                }
            }
            let _ = refusal_text(&bytes);
        }

        /// Structured but hostile results: typed readers return errors, never panic.
        #[test]
        fn typed_readers_never_panic(n in proptest::prelude::any::<i64>(), f in proptest::prelude::any::<f64>(), s in "\\PC{0,20}") {
            let value = serde_json::json!({
                "fiscalParams": {"fiscalDocumentNumber": n, "fiscalDocumentSign": s, "shiftNumber": f, "total": f},
                "documentTLV": {"qr": s, "1040": n, "1020": f},
                "shiftStatus": {"state": s, "number": n},
                "fnStatus": {"fiscalDocumentNumber": f},
                "counters": {"cashSum": f},
            });
            let _ = fiscal_document(&value);
            let _ = archived_document(&value, 1);
            let _ = shift_status(&value);
            let _ = fn_counters(&value);
            let _ = cash_in_drawer(&value);
        }
    }
}
