//! The lane's fiscal register (ККТ): a sale on a lane with a register is paid only when the
//! register's fiscal document exists, exactly once, through crashes, timeouts and a register
//! that is out of paper.
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
    FiscalDocument, FiscalItem, FiscalPayment, FiscalReceipt, MarkedItemStatus, MarkingCode, MeasurementUnit, Operator, PaymentKind,
    PaymentMethod as KktPaymentMethod, PaymentObject, ReceiptKind, TaskKind, TaxationType, VatRate,
};
use crate::devices::{DeviceRegistry, DeviceState};
use crate::domain::Ctx;
use crate::domain::fiscal::{FiscalNumbers, FiscalPending, FiscalStage};
use crate::domain::lane::{Changes, Lane, LaneError, Paid};
use crate::domain::money;
use crate::domain::receipt::{ClosedReceipt, PaymentMethod};
use jiff::Timestamp;
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

    /// The register's receipt for a closing sale, checked before anything is stored or sent.
    fn receipt_for(&self, sale: &ClosedReceipt) -> Result<FiscalReceipt, LaneFailure> {
        let mut items = Vec::new();
        for line in &sale.receipt.lines {
            let marking = line.mark.as_ref().map(|m| MarkingCode {
                code: m.code.clone(),
                status: if line.weighted {
                    MarkedItemStatus::MeasuredSold
                } else {
                    MarkedItemStatus::PieceSold
                },
            });
            items.push(FiscalItem {
                name: line.name.clone(),
                price: line.price,
                quantity: line.qty,
                amount: money::to_money(line.to_pay()),
                vat: vat_rate(&line.name, &line.vat)?,
                payment_method: KktPaymentMethod::FullPayment,
                payment_object: if marking.is_some() {
                    PaymentObject::CommodityWithMarking
                } else {
                    PaymentObject::Commodity
                },
                unit: unit_of(&line.unit, line.weighted),
                marking,
            });
        }
        let mut payments: Vec<FiscalPayment> = Vec::new();
        for payment in &sale.receipt.payments {
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
        let receipt = FiscalReceipt {
            kind: ReceiptKind::Sell,
            operator: self.operator(&sale.receipt.cashier),
            taxation: self.taxation,
            items,
            payments,
            client_contact: None,
            electronically: false,
            total: sale.total,
        };
        receipt.validate().map_err(|e| LaneFailure::Fiscal {
            code: e.code(),
            message: e.to_string(),
        })?;
        Ok(receipt)
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
            kind: TaskKind::Sell,
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
    pub(super) async fn pay_fiscal(
        &mut self,
        register: Register,
        mut next: Lane,
        mut changes: Changes,
        cashier: &str,
    ) -> Result<Paid, LaneFailure> {
        let sale = changes.closed.as_ref().ok_or(LaneFailure::Lane(LaneError::NoReceipt))?;
        let receipt = register.receipt_for(sale)?;
        let deadline = Instant::now() + ANSWER_WITHIN;
        let fd_before = register.ready_for_sale(cashier, deadline).await.map_err(|e| register.failure(e))?;
        register.check_marks(&receipt, deadline).await?;
        next.hold_for_register(&mut changes, Some(fd_before), Timestamp::now())?;
        // Power-loss durable before the task leaves: after a crash the held sale is found and
        // recovered, never sent blind.
        self.commit_as(next, changes, true).await?;
        let _ = self.events.send(LaneEvent::Receipt(None));
        self.settle(true, false).await
    }

    /// The cashier removed the cause (paper, cover, shift) and asks again.
    pub(super) async fn fiscal_retry(&mut self) -> Result<Paid, LaneFailure> {
        if self.lane.fiscal.is_none() {
            return Err(LaneFailure::Fiscal {
                code: "fiscal_nothing_pending",
                message: "На этой кассе нет чека, который ждёт ККТ.".into(),
            });
        }
        self.settle(false, true).await
    }

    /// At start-up, before the lane takes its first command: the register's health for
    /// `/admin`, then the recovery of a sale held when storeterm stopped.
    pub(super) async fn fiscal_start(&mut self) {
        if let Some(register) = &self.register {
            register.probe().await;
        }
        self.fiscal_recheck().await;
    }

    /// When the background recheck is due: find out what became of a held sale before
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
            Ok(_) => tracing::info!(lane = %self.lane.id, "held sale fiscalised after recovery"),
            Err(e) => tracing::warn!(lane = %self.lane.id, error = %e, "held sale still waits for the register"),
        }
    }

    /// Drive the held sale to its document, a refusal the cashier must fix, a wait, or a
    /// person. `unsent`: the current attempt is known not to have left yet. `retry`: the
    /// cashier asked to try again after a refusal.
    async fn settle(&mut self, mut unsent: bool, retry: bool) -> Result<Paid, LaneFailure> {
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
                let receipt = register.receipt_for(&pending.sale)?;
                // A new attempt's marked packs are checked again (the first attempt's were
                // checked before the sale was held).
                if pending.attempt > 0 {
                    if let Err(e) = register.check_marks(&receipt, deadline).await {
                        return self
                            .held(FiscalStage::Refused {
                                code: e.code().into(),
                                message: e.to_string(),
                            })
                            .await;
                    }
                }
                tracing::info!(lane = %self.lane.id, sale = %task.operation, attempt = task.attempt, uuid = %task.uuid(), "sending the sale to the register");
                match register.link.submit(task.uuid(), &[Task::Receipt(&receipt)]).await {
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
            match decision {
                Ok(Decision::Done(Completion::Document { document, not_printed })) => {
                    if not_printed {
                        tracing::warn!(lane = %self.lane.id, fd = document.fd, "the register signed the receipt but did not print it");
                    }
                    return self.fiscalised(&register, document).await;
                }
                Ok(Decision::Done(Completion::Cash { .. })) => {
                    let e = recovery::Ambiguity::AnswerWithoutDocument {
                        why: "ответ как на операцию с наличными".into(),
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
                    let fd_before = match register.ready_for_sale(&pending.sale.receipt.cashier, deadline).await {
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
                    tracing::error!(lane = %self.lane.id, sale = %task.operation, reason = %ambiguity, "a held sale needs a person");
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
    async fn link_trouble(&mut self, register: &Register, e: LinkError) -> Result<Paid, LaneFailure> {
        register.trouble(&e);
        let stage = match &e {
            // A register refusal met before the task (shift over 24 h while re-preparing).
            LinkError::Register(r) if r.before_document() => FiscalStage::Refused {
                code: e.code().into(),
                message: e.to_string(),
            },
            _ => {
                self.fiscal_wake = Some(Instant::now() + RECHECK_EVERY);
                FiscalStage::Waiting {
                    code: e.code().into(),
                    message: format!("{e} Чек № {} ждёт ответа кассы; продажа не потеряна.", self.held_number()),
                }
            }
        };
        self.held(stage).await
    }

    fn held_number(&self) -> u32 {
        self.lane.fiscal.as_ref().map_or(0, |p| p.sale.receipt.number)
    }

    /// Record where the held sale stands and answer the payment with it.
    async fn held(&mut self, stage: FiscalStage) -> Result<Paid, LaneFailure> {
        let (code, message) = match stage.problem() {
            Some((code, message)) => (code.to_string(), message.to_string()),
            None => (
                "fiscal_pending".to_string(),
                LaneError::Fiscalising {
                    number: self.held_number(),
                }
                .to_string(),
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

    /// The register's document exists: the sale closes with its numbers, durably, and only
    /// then is the payment answered.
    async fn fiscalised(&mut self, register: &Register, document: FiscalDocument) -> Result<Paid, LaneFailure> {
        let numbers = numbers(document);
        register.online(format!("смена ККТ № {} открыта; последний ФД {}", numbers.shift, numbers.fd));
        let mut next = self.lane.clone();
        let cashier = self
            .lane
            .fiscal
            .as_ref()
            .map(|p| p.sale.receipt.cashier.clone())
            .unwrap_or_default();
        let mut ids = new_id;
        let (sale, changes) = next.fiscal_done(&mut Ctx::new(Timestamp::now(), &cashier, &mut ids), numbers)?;
        self.commit(next, changes).await?;
        tracing::info!(lane = %self.lane.id, sale = %sale.receipt.id, fd = sale.fiscal.as_ref().map(|f| f.fd), "sale fiscalised");
        let sale = Box::new(sale);
        let _ = self.events.send(LaneEvent::Closed(sale.clone()));
        let _ = self.events.send(LaneEvent::Receipt(self.lane.receipt.clone()));
        Ok(Paid::Closed { receipt: sale })
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
