//! The lane's fiscal register (ККТ): a sale on a lane with a register is paid only when the
//! register's fiscal document exists, exactly once, through crashes, timeouts and a register
//! that is out of paper. A return (`sellReturn`) and cash in/out (`cashIn` / `cashOut`) take the
//! same path through the same hold ([`crate::domain::fiscal::Held`]); the X report is asked
//! for directly (not a fiscal document).
//!
//! The order of a fiscalised payment (the why is in `docs/fiscal-atol.md`, "Exactly once"):
//!
//! 1. Before anything is stored: build the register's receipt from the closing sale and check
//!    it (VAT, sums), ask the register for its shift and last document number (opening the
//!    register's shift on the first sale of a shift). A failure here changes nothing: the
//!    payment is refused and the receipt stays open.
//! 2. The lane with the sale held for the register ([`crate::domain::fiscal`]) is committed
//!    power-loss durably: the attempt number and the register's last document number before
//!    it are on disk; the task's uuid is derived from the sale's id and the attempt.
//! 3. The task goes to the driver's web server; its answer is polled; the pure recovery
//!    decision (`devices::fiscal::recovery`) says what it means.
//! 4. With the document: the sale, its `sale` document (carrying ФД, ФП, shift) and its print
//!    request are committed power-loss durably — only then does the payment answer OK.
//!
//! Whenever the outcome is not known (a timeout, a dropped connection, storeterm killed, the
//! web server restarted) nothing is sent before the recovery has asked for the attempt's uuid
//! and, if the web server forgot it, compared the register's last document with the sale. A
//! new attempt (a new uuid) is stored durably before it is sent, and only when the register's
//! own counter proves the earlier one left no document.

use super::{LaneActor, LaneEvent, LaneFailure, new_id};
use crate::config::{DeviceConfig, FiscalDriver, Taxation};
use crate::devices::fiscal::atol::{self, MarkCheck, MarkValidation, RegisterError, ShiftState, Task};
use crate::devices::fiscal::link::{AtolLink, LinkError, LinkSettings, Polled};
use crate::devices::fiscal::recovery::{self, Completion, Decision, Observation, PendingTask};
use crate::devices::fiscal::{
    CashDirection as KktCashDirection, CashOperation, FiscalDocument, FiscalItem, FiscalPayment, FiscalReceipt, MarkedItemStatus,
    MarkingCode, MeasurementUnit, Operator, PaymentKind, PaymentMethod as KktPaymentMethod, PaymentObject, ReceiptKind, TaskKind,
    TaxationType, VatRate,
};
use crate::devices::{DeviceRegistry, DeviceState};
use crate::domain::Ctx;
use crate::domain::drawer::{CashAtRegister, CashDirection};
use crate::domain::fiscal::{FiscalNumbers, FiscalPending, FiscalStage, Held, Registered};
use crate::domain::lane::{Changes, Lane, LaneError, Paid};
use crate::domain::money;
use crate::domain::receipt::{ClosedReceipt, LineMark, Payment, PaymentMethod};
use crate::domain::returns::ClosedReturn;
use jiff::Timestamp;
use rust_decimal::Decimal;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// How long a payment waits for the register's answer before the cashier is told to wait
/// (the sale stays held and storeterm keeps asking).
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// How often a held sale whose outcome is unknown is asked about again in the background.
const RECHECK_EVERY: Duration = Duration::from_secs(5);

/// Pause between two questions about a marking code's check.
const MARK_POLL: Duration = Duration::from_millis(250);

/// Attempts at most in one go (a resend after a proven "nothing registered" is one).
const MAX_STEPS: usize = 4;

/// A lane's fiscal register: how to reach it and what to tell it about the shop.
#[derive(Clone)]
pub struct Register {
    /// The register's device id (`[[devices]] id`).
    pub device: String,
    link: AtolLink,
    taxation: TaxationType,
    operator_inn: Option<String>,
    registry: DeviceRegistry,
    /// What the last health probe said about the ФН and the ОФД, kept beside every later note.
    health: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Register {
    /// The register of a `kind = "fiscal"` device.
    pub fn from_config(device: &DeviceConfig, registry: &DeviceRegistry) -> Result<Register, String> {
        let fiscal = device
            .fiscal
            .as_ref()
            .ok_or_else(|| format!("device {} is not a fiscal register", device.id))?;
        let FiscalDriver::AtolWeb { address } = &fiscal.driver;
        let link = AtolLink::new(&LinkSettings {
            address: address.clone(),
            ..LinkSettings::default()
        })
        .map_err(|e| e.to_string())?;
        Ok(Register {
            device: device.id.clone(),
            link,
            taxation: match fiscal.taxation {
                Taxation::Osn => TaxationType::Osn,
                Taxation::UsnIncome => TaxationType::UsnIncome,
                Taxation::UsnIncomeOutcome => TaxationType::UsnIncomeOutcome,
                Taxation::Esn => TaxationType::Esn,
                Taxation::Patent => TaxationType::Patent,
            },
            operator_inn: fiscal.operator_inn.clone(),
            registry: registry.clone(),
            health: Default::default(),
        })
    }

    /// The endpoint `/admin` shows for the register.
    pub fn endpoint(device: &DeviceConfig) -> String {
        match device.fiscal.as_ref().map(|f| &f.driver) {
            Some(FiscalDriver::AtolWeb { address }) => format!("atol-web {address}"),
            None => "fiscal".to_string(),
        }
    }

    fn operator(&self, name: &str) -> Operator {
        Operator {
            name: name.to_string(),
            inn: self.operator_inn.clone(),
        }
    }

    fn online(&self, detail: String) {
        let health = self.health.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let detail = if health.is_empty() { detail } else { format!("{detail}; {health}") };
        self.registry.set(&self.device, DeviceState::Connected, Some(detail));
    }

    /// Ask the register how it is (shift, paper, cover, the ФН's life, the ОФД backlog) for
    /// `/admin`. Status queries only: nothing is registered.
    pub(super) async fn probe(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let results = match self
            .ask(&[Task::DeviceStatus, Task::FnInfo, Task::OfdExchangeStatus], deadline)
            .await
        {
            Ok(results) => results,
            Err(e) => return self.trouble(&e),
        };
        let (device, info) = match (atol::device_status(&results[0]), atol::fn_info(&results[1])) {
            (Ok(device), Ok(info)) => (device, info),
            (Err(e), _) | (_, Err(e)) => return self.trouble(&e.into()),
        };
        let backlog = atol::ofd_backlog(&results[2]).ok();
        let (shift, health) = health_words(&device, &info, backlog.as_ref(), Timestamp::now());
        *self.health.lock().unwrap_or_else(|e| e.into_inner()) = health;
        self.online(shift);
    }

    fn trouble(&self, e: &LinkError) {
        let state = match e {
            LinkError::Register(_) | LinkError::Input(_) => DeviceState::Connected,
            _ => DeviceState::Disconnected,
        };
        self.registry.set(&self.device, state, Some(e.to_string()));
    }

    /// What goes to the register for a held operation, checked before anything is stored or
    /// sent.
    fn prepare(&self, held: &Held) -> Result<Prepared, LaneFailure> {
        match held {
            Held::Sale(sale) => self.receipt_for(sale).map(Prepared::Receipt),
            Held::Return(ret) => self.return_receipt(ret).map(Prepared::Receipt),
            Held::Cash(movement) => Ok(Prepared::Cash(CashOperation {
                direction: match movement.direction {
                    CashDirection::In => KktCashDirection::In,
                    CashDirection::Out => KktCashDirection::Out,
                },
                operator: self.operator(&movement.cashier),
                sum: movement.amount,
            })),
        }
    }

    /// The register's return receipt (возврат прихода) for a customer's return: as on the
    /// sale, each line's unit price and its sum after its share of the discounts; its refunds
    /// by method.
    fn return_receipt(&self, ret: &ClosedReturn) -> Result<FiscalReceipt, LaneFailure> {
        let lines = ret.lines.iter().map(|line| LineOut {
            name: &line.name,
            price: line.price,
            qty: line.qty,
            amount: line.sum,
            vat: &line.vat,
            unit: &line.unit,
            weighted: line.weighted,
            mark: line.mark.as_ref(),
        });
        self.receipt(ReceiptKind::SellReturn, &ret.cashier, lines, &ret.refunds, ret.total)
    }

    /// A receipt for the register, checked before anything is stored or sent.
    fn receipt<'a>(
        &self,
        kind: ReceiptKind,
        cashier: &str,
        lines: impl Iterator<Item = LineOut<'a>>,
        paid: &[Payment],
        total: Decimal,
    ) -> Result<FiscalReceipt, LaneFailure> {
        let mut items = Vec::new();
        for line in lines {
            let marking = line.mark.map(|m| MarkingCode {
                code: m.code.clone(),
                status: match (kind, line.weighted) {
                    (ReceiptKind::Sell, false) => MarkedItemStatus::PieceSold,
                    (ReceiptKind::Sell, true) => MarkedItemStatus::MeasuredSold,
                    (ReceiptKind::SellReturn, false) => MarkedItemStatus::PieceReturned,
                    (ReceiptKind::SellReturn, true) => MarkedItemStatus::MeasuredReturned,
                },
            });
            items.push(FiscalItem {
                name: line.name.to_string(),
                price: line.price,
                quantity: line.qty,
                amount: line.amount,
                vat: vat_rate(line.name, line.vat)?,
                payment_method: KktPaymentMethod::FullPayment,
                payment_object: if marking.is_some() {
                    PaymentObject::CommodityWithMarking
                } else {
                    PaymentObject::Commodity
                },
                unit: unit_of(line.unit, line.weighted),
                marking,
            });
        }
        let receipt = FiscalReceipt {
            kind,
            operator: self.operator(cashier),
            taxation: self.taxation,
            items,
            payments: payments_of(paid),
            client_contact: None,
            electronically: false,
            total,
        };
        receipt.validate().map_err(|e| LaneFailure::Fiscal {
            code: e.code(),
            message: e.to_string(),
        })?;
        Ok(receipt)
    }

    /// The register's X report (not a fiscal document: asked again after a failure without
    /// harm).
    pub(super) async fn report_x(&self, cashier: &str) -> Result<(), LaneFailure> {
        let deadline = Instant::now() + ANSWER_WITHIN;
        let operator = self.operator(cashier);
        self.ask(&[Task::ReportX(&operator)], deadline)
            .await
            .map(|_| ())
            .map_err(|e| self.failure(e))
    }

    /// The register's receipt for a closing sale, checked before anything is stored or sent.
    fn receipt_for(&self, sale: &ClosedReceipt) -> Result<FiscalReceipt, LaneFailure> {
        let lines = sale.receipt.lines.iter().map(|line| LineOut {
            name: &line.name,
            price: line.price,
            qty: line.qty,
            amount: money::to_money(line.to_pay()),
            vat: &line.vat,
            unit: &line.unit,
            weighted: line.weighted,
            mark: line.mark.as_ref(),
        });
        self.receipt(ReceiptKind::Sell, &sale.receipt.cashier, lines, &sale.receipt.payments, sale.total)
    }

    /// Run status tasks (which may safely be asked twice) and return their results, failing on
    /// the first register error.
    async fn ask(&self, tasks: &[Task<'_>], deadline: Instant) -> Result<Vec<serde_json::Value>, LinkError> {
        let answer = self.link.query(tasks, deadline).await?;
        if answer.results.len() != tasks.len() {
            return Err(atol::AnswerError::Missing("results").into());
        }
        answer
            .results
            .into_iter()
            .map(|r| match r.error {
                Some(e) => Err(LinkError::Register(e)),
                None => Ok(r.result),
            })
            .collect()
    }

    /// Check every marked pack of the receipt with the register (its ФН and Честный ЗНАК)
    /// before the sale, as ФФД 1.2 requires: accept a confirmed code, decline a refused one
    /// (the payment is refused, the pack must leave the receipt). A code Честный ЗНАК did not
    /// answer for (offline) is accepted on the ФН's check, as the register's offline mode
    /// allows. Status tasks only: nothing here makes a fiscal document.
    async fn check_marks(&self, receipt: &FiscalReceipt, deadline: Instant) -> Result<(), LaneFailure> {
        for item in &receipt.items {
            let Some(code) = &item.marking else { continue };
            let measured = matches!(code.status, MarkedItemStatus::MeasuredSold | MarkedItemStatus::MeasuredReturned);
            let check = MarkValidation {
                code: code.clone(),
                measured: measured.then_some((item.quantity, item.unit)),
            };
            self.ask(&[Task::BeginMarkingCodeValidation(&check)], deadline)
                .await
                .map_err(|e| self.failure(e))?;
            let verdict = loop {
                let results = self
                    .ask(&[Task::MarkingCodeValidationStatus], deadline)
                    .await
                    .map_err(|e| self.failure(e))?;
                match atol::mark_check(&results[0]) {
                    MarkCheck::Pending if Instant::now() + MARK_POLL < deadline => tokio::time::sleep(MARK_POLL).await,
                    MarkCheck::Pending => {
                        let _ = self.ask(&[Task::CancelMarkingCodeValidation], deadline).await;
                        return Err(LaneFailure::Fiscal {
                            code: "mark_check_timeout",
                            message: format!("«{}»: касса не успела проверить код маркировки. Повторите оплату.", item.name),
                        });
                    }
                    other => break other,
                }
            };
            match verdict {
                MarkCheck::Invalid { reason } => {
                    let _ = self.ask(&[Task::DeclineMarkingCode], deadline).await;
                    return Err(LaneFailure::Fiscal {
                        code: "mark_invalid",
                        message: format!("«{}»: {reason}. Уберите эту пачку из чека.", item.name),
                    });
                }
                MarkCheck::Unconfirmed { reason } => {
                    tracing::warn!(device = %self.device, item = %item.name, %reason, "marking code accepted on the ФН's check only");
                    self.ask(&[Task::AcceptMarkingCode], deadline).await.map_err(|e| self.failure(e))?;
                }
                MarkCheck::Valid | MarkCheck::Pending => {
                    self.ask(&[Task::AcceptMarkingCode], deadline).await.map_err(|e| self.failure(e))?;
                }
            }
        }
        Ok(())
    }

    /// Run one shift task (`openShift` / `closeShift`) under a fresh uuid and wait for it.
    /// A shift task needs no stored uuid: the register's shift state is its own proof — it
    /// refuses `openShift` on an open shift (83) and `closeShift` on a closed one (73), so a
    /// repeat after a crash can never make a second document.
    async fn shift_task(&self, task: Task<'_>, deadline: Instant) -> Result<Option<FiscalDocument>, LinkError> {
        let answer = self.link.query(&[task], deadline).await?;
        let report = answer.last().ok_or(atol::AnswerError::Missing("results"))?;
        match (&report.error, atol::fiscal_document(&report.result)) {
            (Some(RegisterError::ShiftAlreadyOpen | RegisterError::ShiftClosed), _) => Ok(None),
            (Some(e), _) => Err(LinkError::Register(e.clone())),
            (None, Ok(document)) => Ok(Some(document)),
            (None, Err(e)) => Err(e.into()),
        }
    }

    /// Make the register ready for a sale: its shift open (opened here on the first sale of a
    /// shift), and its last fiscal document number, which the held sale stores.
    async fn ready_for_sale(&self, cashier: &str, deadline: Instant) -> Result<u64, LinkError> {
        let results = self.ask(&[Task::ShiftStatus, Task::FnStatus], deadline).await?;
        let shift = atol::shift_status(&results[0])?;
        let mut counters = atol::fn_counters(&results[1])?;
        match shift.state {
            ShiftState::Opened => {}
            ShiftState::Expired => return Err(LinkError::Register(RegisterError::ShiftExpired)),
            ShiftState::Closed => {
                let operator = self.operator(cashier);
                let opened = self.shift_task(Task::OpenShift(&operator), deadline).await?;
                tracing::info!(device = %self.device, fd = opened.as_ref().map(|d| d.fd), "register shift opened");
                counters = self.link.fd_counter(deadline).await?;
            }
        }
        self.online(format!("смена ККТ открыта; последний ФД {}", counters.last_fd));
        Ok(counters.last_fd)
    }

    /// Open the register's shift with storeterm's (nothing to do when it is open already).
    pub(super) async fn open_shift(&self, cashier: &str) -> Result<(), LaneFailure> {
        let deadline = Instant::now() + ANSWER_WITHIN;
        self.ready_for_sale(cashier, deadline)
            .await
            .map(|_| ())
            .map_err(|e| self.failure(e))
    }

    /// Close the register's shift with the Z report (nothing to do when it is closed already).
    pub(super) async fn close_shift(&self, cashier: &str) -> Result<Option<FiscalDocument>, LaneFailure> {
        let deadline = Instant::now() + ANSWER_WITHIN;
        let operator = self.operator(cashier);
        let closed = self
            .shift_task(Task::CloseShift(&operator), deadline)
            .await
            .map_err(|e| self.failure(e))?;
        self.online(match &closed {
            Some(z) => format!("смена ККТ № {} закрыта (Z-отчёт, ФД {})", z.shift, z.fd),
            None => "смена ККТ закрыта".to_string(),
        });
        Ok(closed)
    }

    fn failure(&self, e: LinkError) -> LaneFailure {
        self.trouble(&e);
        LaneFailure::Fiscal {
            code: e.code(),
            message: e.to_string(),
        }
    }

    fn pending_task(&self, pending: &FiscalPending) -> PendingTask {
        PendingTask {
            kind: match &pending.held {
                Held::Sale(_) => TaskKind::Sell,
                Held::Return(_) => TaskKind::SellReturn,
                Held::Cash(m) if m.direction == CashDirection::In => TaskKind::CashIn,
                Held::Cash(_) => TaskKind::CashOut,
            },
            operation: pending.operation(),
            attempt: pending.attempt,
            total: Some(pending.total()),
            created_at: pending.since,
            fd_before: pending.fd_before,
        }
    }

    /// Wait for a sent task's final answer and decide; the register's refusal, if any, is kept
    /// for the cashier's message.
    async fn poll_decide(&self, task: &PendingTask, deadline: Instant, refusal: &mut Option<RegisterError>) -> Result<Decision, LinkError> {
        let decision = match self.link.poll(task.uuid(), deadline).await? {
            Polled::Final(answer) => {
                let report = answer.last().ok_or(atol::AnswerError::Missing("results"))?;
                if report.error.is_some() {
                    refusal.clone_from(&report.error);
                }
                recovery::decide(task, Observation::Task(report))
            }
            Polled::Unknown => recovery::decide(task, Observation::UuidUnknown),
        };
        match decision {
            Decision::CheckLastDocument => self.link.recover(task, deadline).await,
            other => Ok(other),
        }
    }
}

/// Payments (or refunds) by the register's payment types.
fn payments_of(paid: &[Payment]) -> Vec<FiscalPayment> {
    let mut payments: Vec<FiscalPayment> = Vec::new();
    for payment in paid {
        let kind = match payment.method {
            PaymentMethod::Cash => PaymentKind::Cash,
            PaymentMethod::Card => PaymentKind::Electronically,
            // Points are «встречное предоставление» in the register's terms.
            PaymentMethod::Bonus => PaymentKind::Other,
            PaymentMethod::Credit => PaymentKind::Credit,
        };
        match payments.iter_mut().find(|p| p.kind == kind) {
            Some(p) => p.sum = p.sum.saturating_add(payment.amount),
            None => payments.push(FiscalPayment { kind, sum: payment.amount }),
        }
    }
    payments
}

/// One line of a sale or a return as the register's receipt carries it.
struct LineOut<'a> {
    name: &'a str,
    price: Decimal,
    qty: Decimal,
    amount: Decimal,
    vat: &'a str,
    unit: &'a str,
    weighted: bool,
    mark: Option<&'a LineMark>,
}

/// What goes to the register for a held operation.
enum Prepared {
    /// `sell` / `sellReturn`.
    Receipt(FiscalReceipt),
    /// `cashIn` / `cashOut`.
    Cash(CashOperation),
}

impl Prepared {
    fn task(&self) -> Task<'_> {
        match self {
            Prepared::Receipt(receipt) => Task::Receipt(receipt),
            Prepared::Cash(cash) => Task::Cash(cash),
        }
    }
}

/// The register's state in words for `/admin`: the shift and paper now, and the lasting part
/// (the ФН's life, its warnings, the ОФД backlog) kept beside later notes.
fn health_words(device: &atol::DeviceStatus, info: &atol::FnInfo, backlog: Option<&atol::OfdBacklog>, now: Timestamp) -> (String, String) {
    let mut now_words = vec![
        match device.shift {
            ShiftState::Opened => "смена ККТ открыта",
            ShiftState::Closed => "смена ККТ закрыта",
            ShiftState::Expired => "смена ККТ длится больше 24 часов: закройте смену",
        }
        .to_string(),
    ];
    if !device.paper_present {
        now_words.push("нет бумаги".into());
    }
    if device.cover_opened {
        now_words.push("открыта крышка".into());
    }
    if !device.fn_present {
        now_words.push("касса не видит ФН".into());
    }
    let mut lasting = Vec::new();
    match (info.valid_until, info.days_left(now)) {
        (Some(until), Some(days)) if days < 0 => lasting.push(format!("ФН {} истёк {}", info.serial, local_date(until))),
        (Some(until), Some(days)) => lasting.push(format!("ФН {} до {} (осталось {days} дн.)", info.serial, local_date(until))),
        _ => lasting.push(format!("ФН {}", info.serial)),
    }
    let w = info.warnings;
    if w.need_replacement || w.resource_exhausted {
        lasting.push("ФН пора заменить: обратитесь в сервисный центр".into());
    }
    if w.memory_overflow {
        lasting.push("память ФН почти заполнена".into());
    }
    if w.critical_error {
        lasting.push("критическая ошибка ФН: обратитесь в сервисный центр".into());
    }
    if let Some(backlog) = backlog.filter(|b| b.unsent > 0) {
        match backlog.days_waiting(now) {
            Some(days) if days > 0 => lasting.push(format!(
                "в ОФД не отправлено документов: {}, старейший ждёт {days} дн.",
                backlog.unsent
            )),
            _ => lasting.push(format!("в ОФД не отправлено документов: {}", backlog.unsent)),
        }
    }
    (now_words.join(", "), lasting.join("; "))
}

/// A date as the till's clock shows it (the register states its dates in its local time).
fn local_date(at: Timestamp) -> String {
    at.to_zoned(jiff::tz::TimeZone::system()).strftime("%d.%m.%Y").to_string()
}

/// The register's VAT rate for an item's `vat` from the CRM ("22", "10", "0", "none", …).
fn vat_rate(name: &str, vat: &str) -> Result<VatRate, LaneFailure> {
    let text: String = vat
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '%')
        .collect::<String>()
        .to_lowercase();
    Ok(match text.as_str() {
        "22" => VatRate::Vat22,
        "20" => VatRate::Vat20,
        "10" => VatRate::Vat10,
        "7" => VatRate::Vat7,
        "5" => VatRate::Vat5,
        "0" => VatRate::Vat0,
        "22/122" => VatRate::Vat122,
        "20/120" => VatRate::Vat120,
        "10/110" => VatRate::Vat110,
        "7/107" => VatRate::Vat107,
        "5/105" => VatRate::Vat105,
        "none" | "" | "-" | "безндс" | "no" => VatRate::None,
        _ => {
            return Err(LaneFailure::Fiscal {
                code: "fiscal_unknown_vat",
                message: format!(
                    "У товара «{name}» ставка НДС «{vat}», которой нет у кассы: исправьте ставку в CRM (22, 20, 10, 7, 5, 0 или none)."
                ),
            });
        }
    })
}

fn unit_of(unit: &str, weighted: bool) -> MeasurementUnit {
    match unit.to_lowercase().as_str() {
        "kg" | "кг" => MeasurementUnit::Kilogram,
        "g" | "г" => MeasurementUnit::Gram,
        "l" | "л" => MeasurementUnit::Liter,
        "ml" | "мл" => MeasurementUnit::Milliliter,
        "m" | "м" => MeasurementUnit::Meter,
        _ if weighted => MeasurementUnit::Kilogram,
        _ => MeasurementUnit::Piece,
    }
}

fn numbers(document: FiscalDocument) -> FiscalNumbers {
    FiscalNumbers {
        fd: document.fd,
        fp: document.fp,
        shift: document.shift,
        receipt_number: document.receipt_number,
        fn_number: document.fn_number,
        registration_number: document.registration_number,
        at: document.at,
    }
}

/// Sleep until `at`, or forever without one (a `select!` branch that is off).
pub(super) async fn wake_at(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl LaneActor {
    /// A payment closed the receipt on a lane with a register: hold the sale, send it, and
    /// answer only when its fiscal document exists.
    pub(super) async fn pay_fiscal(&mut self, register: Register, next: Lane, changes: Changes) -> Result<Paid, LaneFailure> {
        match self.hold_and_register(register, next, changes).await? {
            Held::Sale(sale) => Ok(Paid::Closed { receipt: sale }),
            _ => Err(LaneFailure::Lane(LaneError::NoReceipt)),
        }
    }

    /// An operation that must exist exactly once at the register (a sale, a return, cash in or
    /// out) was made in `next` with `changes`: hold it, store it durably, send it, and answer
    /// only when the register registered it and that is stored durably. Before anything is
    /// stored the register is asked whether it can (shift, marking codes): a refusal there
    /// changes nothing.
    pub(super) async fn hold_and_register(
        &mut self,
        register: Register,
        mut next: Lane,
        mut changes: Changes,
    ) -> Result<Held, LaneFailure> {
        self.lane.not_fiscalising()?;
        let now = Timestamp::now();
        next.hold_for_register(&mut changes, None, now)?;
        let held = next
            .fiscal
            .as_ref()
            .map(|p| p.held.clone())
            .ok_or(LaneFailure::Lane(LaneError::NoReceipt))?;
        let prepared = register.prepare(&held)?;
        let deadline = Instant::now() + ANSWER_WITHIN;
        let fd_before = register
            .ready_for_sale(held.cashier(), deadline)
            .await
            .map_err(|e| register.failure(e))?;
        if let Prepared::Receipt(receipt) = &prepared {
            register.check_marks(receipt, deadline).await?;
        }
        if let Some(pending) = next.fiscal.as_mut() {
            pending.fd_before = Some(fd_before);
        }
        // Power-loss durable before the task leaves: after a crash the held operation is found
        // and recovered, never sent blind.
        self.commit_as(next, changes, true).await?;
        if matches!(held, Held::Sale(_)) {
            let _ = self.events.send(LaneEvent::Receipt(None));
        }
        self.settle(true, false).await
    }

    /// The cashier removed the cause (paper, cover, shift) and asks again.
    pub(super) async fn fiscal_retry(&mut self) -> Result<Held, LaneFailure> {
        if self.lane.fiscal.is_none() {
            return Err(LaneFailure::Fiscal {
                code: "fiscal_nothing_pending",
                message: "На этой кассе нет чека, который ждёт ККТ.".into(),
            });
        }
        self.settle(false, true).await
    }

    /// At start-up, before the lane takes its first command: the register's health for
    /// `/admin`, then the recovery of an operation held when storeterm stopped.
    pub(super) async fn fiscal_start(&mut self) {
        if let Some(register) = &self.register {
            register.probe().await;
        }
        self.fiscal_recheck().await;
    }

    /// When the background recheck is due: find out what became of a held operation before
    /// anything new is sent.
    pub(super) async fn fiscal_recheck(&mut self) {
        self.fiscal_wake = None;
        let waiting = self
            .lane
            .fiscal
            .as_ref()
            .is_some_and(|p| matches!(p.stage, FiscalStage::Sending | FiscalStage::Waiting { .. }));
        if !waiting || self.register.is_none() {
            return;
        }
        match self.settle(false, false).await {
            Ok(held) => tracing::info!(lane = %self.lane.id, what = %held.label(), "held operation registered after recovery"),
            Err(e) => tracing::warn!(lane = %self.lane.id, error = %e, "held operation still waits for the register"),
        }
    }

    /// Drive the held operation to its document, a refusal the cashier must fix, a wait, or a
    /// person. `unsent`: the current attempt is known not to have left yet. `retry`: the
    /// cashier asked to try again after a refusal.
    async fn settle(&mut self, mut unsent: bool, retry: bool) -> Result<Held, LaneFailure> {
        let Some(register) = self.register.clone() else {
            return Err(LaneFailure::Fiscal {
                code: "fiscal_no_register",
                message:
                    "Чек ждёт ККТ, но у кассы в настройках больше нет ККТ: верните `fiscal` в настройки кассы и перезапустите storeterm."
                        .into(),
            });
        };
        let deadline = Instant::now() + ANSWER_WITHIN;
        let mut sent = false;
        let mut refusal: Option<RegisterError> = None;
        for _ in 0..MAX_STEPS {
            let pending = self.lane.fiscal.clone().ok_or(LaneFailure::Lane(LaneError::NoReceipt))?;
            let task = register.pending_task(&pending);
            let decision = if std::mem::take(&mut unsent) {
                let prepared = register.prepare(&pending.held)?;
                // A new attempt's marked packs are checked again (the first attempt's were
                // checked before the operation was held).
                if let (Prepared::Receipt(receipt), true) = (&prepared, pending.attempt > 0) {
                    if let Err(e) = register.check_marks(receipt, deadline).await {
                        return self
                            .held(FiscalStage::Refused {
                                code: e.code().into(),
                                message: e.to_string(),
                            })
                            .await;
                    }
                }
                tracing::info!(lane = %self.lane.id, operation = %task.operation, kind = ?task.kind, attempt = task.attempt, uuid = %task.uuid(), "sending to the register");
                match register.link.submit(task.uuid(), &[prepared.task()]).await {
                    Ok(()) => {
                        sent = true;
                        register.poll_decide(&task, deadline, &mut refusal).await
                    }
                    // Nothing reached the web server (not running) or the input was refused
                    // before sending: the attempt stays unsent; recovery asks first next time.
                    Err(e @ (LinkError::Refused { .. } | LinkError::Input(_))) => Err(e),
                    // The request may have arrived: find out before anything else.
                    Err(_) => {
                        sent = true;
                        register.link.recover(&task, deadline).await
                    }
                }
            } else {
                match register.link.recover(&task, deadline).await {
                    Ok(Decision::AskAgainLater(_)) => register.poll_decide(&task, deadline, &mut refusal).await,
                    other => other,
                }
            };
            let cash = matches!(pending.held, Held::Cash(_));
            match decision {
                Ok(Decision::Done(Completion::Document { document, not_printed })) if !cash => {
                    if not_printed {
                        tracing::warn!(lane = %self.lane.id, fd = document.fd, "the register signed the document but did not print it");
                    }
                    register.online(format!("смена ККТ № {} открыта; последний ФД {}", document.shift, document.fd));
                    return self.fiscalised(Registered::Document(numbers(document))).await;
                }
                Ok(Decision::Done(Completion::Cash { cash_in_drawer })) if cash => {
                    return self
                        .fiscalised(Registered::Cash(CashAtRegister {
                            register: register.device.clone(),
                            cash_in_register: cash_in_drawer,
                        }))
                        .await;
                }
                Ok(Decision::Done(_)) => {
                    let e = recovery::Ambiguity::AnswerWithoutDocument {
                        why: if cash {
                            "на операцию с наличными касса ответила документом".into()
                        } else {
                            "ответ как на операцию с наличными".into()
                        },
                    };
                    return self
                        .held(FiscalStage::NeedsPerson {
                            code: e.code().into(),
                            message: e.to_string(),
                        })
                        .await;
                }
                Ok(Decision::Resend { refusal: why }) => {
                    let why = why.or(refusal.take());
                    // A refusal the cashier must fix first, or a refusal of what was just
                    // sent: stop and say why. Sending again is the cashier's «Повторить».
                    if sent || (why.is_some() && !retry) {
                        let e = why
                            .map(LinkError::Register)
                            .unwrap_or(LinkError::StillRunning { uuid: task.uuid() });
                        register.trouble(&e);
                        return self
                            .held(FiscalStage::Refused {
                                code: e.code().into(),
                                message: e.to_string(),
                            })
                            .await;
                    }
                    // Provably nothing registered: the next attempt (a new uuid) is stored
                    // durably with the register's counter before it is sent.
                    let fd_before = match register.ready_for_sale(pending.held.cashier(), deadline).await {
                        Ok(fd) => fd,
                        Err(e) => return self.link_trouble(&register, e).await,
                    };
                    let mut next = self.lane.clone();
                    next.next_fiscal_attempt(Some(fd_before), Timestamp::now())?;
                    self.commit_as(next, Changes::default(), true).await?;
                    unsent = true;
                }
                Ok(Decision::AskAgainLater(_) | Decision::CheckLastDocument) => {
                    return self.link_trouble(&register, LinkError::StillRunning { uuid: task.uuid() }).await;
                }
                Ok(Decision::NeedsPerson(ambiguity)) => {
                    tracing::error!(lane = %self.lane.id, operation = %task.operation, reason = %ambiguity, "a held operation needs a person");
                    return self
                        .held(FiscalStage::NeedsPerson {
                            code: ambiguity.code().into(),
                            message: ambiguity.to_string(),
                        })
                        .await;
                }
                Err(e) => return self.link_trouble(&register, e).await,
            }
        }
        self.link_trouble(&register, LinkError::StillRunning { uuid: Uuid::nil() }).await
    }

    /// The outcome is not known: say so, and ask again in the background.
    async fn link_trouble(&mut self, register: &Register, e: LinkError) -> Result<Held, LaneFailure> {
        register.trouble(&e);
        let stage = match &e {
            // A register refusal met before the task (shift over 24 h while re-preparing).
            LinkError::Register(r) if r.before_document() => FiscalStage::Refused {
                code: e.code().into(),
                message: e.to_string(),
            },
            _ => {
                self.fiscal_wake = Some(Instant::now() + RECHECK_EVERY);
                let what = self.held_label();
                FiscalStage::Waiting {
                    code: e.code().into(),
                    message: format!("{e} {} ждёт ответа кассы; операция не потеряна.", capitalised(&what)),
                }
            }
        };
        self.held(stage).await
    }

    fn held_label(&self) -> String {
        self.lane.fiscal.as_ref().map_or_else(String::new, |p| p.held.label())
    }

    /// Record where the held operation stands and answer with it.
    async fn held(&mut self, stage: FiscalStage) -> Result<Held, LaneFailure> {
        let (code, message) = match stage.problem() {
            Some((code, message)) => (code.to_string(), message.to_string()),
            None => (
                "fiscal_pending".to_string(),
                LaneError::Fiscalising { what: self.held_label() }.to_string(),
            ),
        };
        let mut next = self.lane.clone();
        next.set_fiscal_stage(stage)?;
        // Only words for the screens change: the lane journal (kill -9 durable) is enough.
        self.commit(next, Changes::default()).await?;
        Err(LaneFailure::Fiscal {
            code: known_code(&code),
            message,
        })
    }

    /// The register registered the held operation: it is done with the register's numbers,
    /// power-loss durably, and only then answered.
    async fn fiscalised(&mut self, registered: Registered) -> Result<Held, LaneFailure> {
        let mut next = self.lane.clone();
        let cashier = self.lane.fiscal.as_ref().map(|p| p.held.cashier().to_string()).unwrap_or_default();
        let mut ids = new_id;
        let (held, changes) = next.fiscal_done(&mut Ctx::new(Timestamp::now(), &cashier, &mut ids), registered)?;
        self.commit_as(next, changes, true).await?;
        match &held {
            Held::Sale(sale) => {
                tracing::info!(lane = %self.lane.id, sale = %sale.receipt.id, fd = sale.fiscal.as_ref().map(|f| f.fd), "sale fiscalised");
                let _ = self.events.send(LaneEvent::Closed(sale.clone()));
                let _ = self.events.send(LaneEvent::Receipt(self.lane.receipt.clone()));
            }
            Held::Return(ret) => {
                tracing::info!(lane = %self.lane.id, ret = %ret.id, fd = ret.fiscal.as_ref().map(|f| f.fd), "return fiscalised");
            }
            Held::Cash(movement) => {
                tracing::info!(lane = %self.lane.id, movement = %movement.id, "cash movement done at the register");
            }
        }
        if let (Held::Return(_) | Held::Cash(_), Some(shift)) = (&held, &self.lane.shift) {
            let _ = self.events.send(LaneEvent::Shift(shift.clone()));
        }
        Ok(held)
    }
}

/// «возврат № 1» → «Возврат № 1».
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The error codes carry `&'static str`: map a stored code back to its static form.
fn known_code(code: &str) -> &'static str {
    const CODES: &[&str] = &[
        "kkt_shift_expired",
        "kkt_shift_closed",
        "kkt_shift_already_open",
        "kkt_paper_out",
        "kkt_cover_open",
        "kkt_printer_fault",
        "kkt_fn_full",
        "kkt_fn_expired",
        "kkt_fn_missing",
        "kkt_ofd_backlog",
        "kkt_wrong_vat",
        "kkt_wrong_taxation",
        "kkt_no_cash",
        "kkt_busy",
        "kkt_not_connected",
        "kkt_interrupted",
        "kkt_rejected",
        "kkt_error",
        "atol_unreachable",
        "atol_timeout",
        "atol_dropped",
        "atol_server_error",
        "atol_not_json",
        "atol_uuid_reused",
        "atol_rejected",
        "atol_still_running",
        "atol_forgotten",
        "fiscal_answer_without_document",
        "fiscal_total_mismatch",
        "fiscal_unknown_status",
        "fiscal_cash_uncertain",
        "fiscal_no_baseline",
        "fiscal_counters_went_back",
        "fiscal_other_documents",
        "fiscal_document_mismatch",
        "fiscal_pending",
        "mark_invalid",
        "mark_check_timeout",
    ];
    CODES.iter().find(|c| **c == code).copied().unwrap_or("fiscal_error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vat_rates_from_the_crm_and_refusal_of_unknown_ones() {
        assert_eq!(vat_rate("x", "22").unwrap(), VatRate::Vat22);
        assert_eq!(vat_rate("x", "10%").unwrap(), VatRate::Vat10);
        assert_eq!(vat_rate("x", "none").unwrap(), VatRate::None);
        assert_eq!(vat_rate("x", "22/122").unwrap(), VatRate::Vat122);
        let e = vat_rate("Молоко", "18").unwrap_err();
        assert_eq!(e.code(), "fiscal_unknown_vat");
        assert!(e.to_string().contains("Молоко"));
    }

    #[test]
    fn the_registers_health_in_words() {
        let device = atol::DeviceStatus {
            shift: ShiftState::Expired,
            paper_present: false,
            cover_opened: false,
            fn_present: true,
            fiscal: true,
            blocked: false,
            clock: None,
        };
        let info = atol::FnInfo {
            serial: "9999078900000961".into(),
            valid_until: Some("2026-03-31T12:00:00Z".parse().unwrap()),
            registrations_remaining: None,
            warnings: atol::FnWarnings {
                need_replacement: true,
                ..Default::default()
            },
        };
        let backlog = atol::OfdBacklog {
            unsent: 3,
            first_unsent_number: Some(70),
            first_unsent_at: Some("2026-02-27T00:00:00Z".parse().unwrap()),
        };
        let (now, lasting) = health_words(&device, &info, Some(&backlog), "2026-03-02T12:00:00Z".parse().unwrap());
        assert_eq!(now, "смена ККТ длится больше 24 часов: закройте смену, нет бумаги");
        assert_eq!(
            lasting,
            "ФН 9999078900000961 до 31.03.2026 (осталось 29 дн.); ФН пора заменить: обратитесь в сервисный центр; в ОФД не отправлено документов: 3, старейший ждёт 3 дн."
        );
    }

    #[test]
    fn stored_codes_map_back_to_their_static_form() {
        for e in [RegisterError::PaperOut, RegisterError::ShiftExpired, RegisterError::FnFull] {
            assert_eq!(known_code(e.code()), e.code());
        }
        assert_eq!(known_code("atol_unreachable"), "atol_unreachable");
        assert_eq!(known_code("something else"), "fiscal_error");
    }
}
