//! Exactly once at the register: what to do about a task that was (maybe) sent, after a crash,
//! a timeout, a dropped connection or a restart of the web server. Pure: the caller brings what
//! it stored and what the web server says now; [`decide`] says what follows.
//!
//! The protocol, in the order the lane follows it:
//!
//! 1. Before sending, store a [`PendingTask`] durably: the operation's id and kind, the attempt
//!    number (the task uuid is derived from these, [`PendingTask::uuid`]), the expected total,
//!    and `fd_before`, the register's last fiscal document number read just before
//!    (`getFnStatus`). Only then `POST` the task.
//! 2. Whenever the outcome is not known — at start-up for every pending task, after a timeout,
//!    after a dropped connection — first `GET` the uuid and call [`decide`] with
//!    [`Observation::Task`] (or [`Observation::UuidUnknown`] on a 404).
//! 3. On [`Decision::CheckLastDocument`], read the register's last document (`getFnStatus`,
//!    `getFnDocument`) and call [`decide`] again with [`Observation::LastDocument`].
//! 4. [`Decision::Resend`] is given only when the evidence proves no document exists: the
//!    register refused before opening the receipt, the task never ran, or the register's
//!    document counter has not moved since `fd_before`. Send again under
//!    [`PendingTask::retry`] (a new attempt, hence a new uuid: the web server refuses a reused
//!    one). [`Decision::NeedsPerson`] is given whenever the evidence allows two readings.
//!
//! Never two documents for one operation: nothing is resent unless the register's own counter
//! proves the first attempt left nothing. Never "done" without ФД and ФП: [`Completion`] holds a
//! [`FiscalDocument`], which cannot exist without them.
//!
//! It relies on one fact of the shop's setup: the register serves storeterm's lane only (no
//! second program prints receipts on it), so the only documents appearing after `fd_before`
//! are the lane's own.

use super::atol::{self, ArchivedDocument, ArchivedKind, FnCounters, RegisterError, TaskReport, TaskStatus};
use super::{FiscalDocument, TaskKind, task_uuid};
use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What the lane stores durably before it sends a task (and keeps until the decision is
/// [`Decision::Done`] or a person has resolved it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTask {
    pub kind: TaskKind,
    /// storeterm's id of the sale, return, cash operation or shift.
    pub operation: Uuid,
    /// 0 for the first try; each [`Decision::Resend`] moves to the next.
    pub attempt: u32,
    /// The receipt's total or the cash operation's sum.
    pub total: Option<Decimal>,
    pub created_at: Timestamp,
    /// The register's last fiscal document number just before this attempt was sent.
    pub fd_before: Option<u64>,
}

impl PendingTask {
    pub fn new(kind: TaskKind, operation: Uuid, total: Option<Decimal>, created_at: Timestamp, fd_before: Option<u64>) -> PendingTask {
        PendingTask {
            kind,
            operation,
            attempt: 0,
            total,
            created_at,
            fd_before,
        }
    }

    /// The web server's uuid of this attempt.
    pub fn uuid(&self) -> Uuid {
        task_uuid(self.kind, self.operation, self.attempt)
    }

    /// The next attempt, after [`Decision::Resend`]: same operation, new uuid, a fresh
    /// `fd_before` read just before it is sent.
    pub fn retry(&self, fd_before: Option<u64>, now: Timestamp) -> PendingTask {
        PendingTask {
            attempt: self.attempt.saturating_add(1),
            created_at: now,
            fd_before,
            ..self.clone()
        }
    }
}

/// What the web server and the register say now.
#[derive(Debug, Clone, Copy)]
pub enum Observation<'a> {
    /// `GET /api/v2/requests/{uuid}` answered; the report of the pending task.
    Task(&'a TaskReport),
    /// `GET /api/v2/requests/{uuid}` answered 404: the web server does not know the uuid (it
    /// never got the request, or it restarted and forgot it).
    UuidUnknown,
    /// The register's counters now and its last document (absent when the ФН has none), plus
    /// the register's current shift number for documents that do not carry theirs.
    LastDocument {
        counters: FnCounters,
        document: Option<&'a ArchivedDocument>,
        shift: Option<u32>,
    },
}

/// What the caller does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The operation is done at the register: record it (a sale becomes paid with its ФД/ФП).
    Done(Completion),
    /// The outcome will be known later: ask about the same uuid again.
    AskAgainLater(Waiting),
    /// The web server cannot tell: read the register's last document and decide again.
    CheckLastDocument,
    /// Provably nothing was registered: send again under [`PendingTask::retry`] — after the
    /// cause is fixed when `refusal` says what the register objected to (paper, shift…).
    Resend { refusal: Option<RegisterError> },
    /// The evidence allows two readings; a person compares the register's journal with the
    /// operation. Nothing is sent again by itself.
    NeedsPerson(Ambiguity),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// A fiscal document exists for the operation.
    Document {
        document: FiscalDocument,
        /// Signed but not printed (paper ran out after signing): print the copy later.
        not_printed: bool,
    },
    /// A cash operation was carried out (no fiscal document exists for these).
    Cash { cash_in_drawer: Option<Decimal> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// Queued behind other tasks.
    Queued,
    /// The register is working on it.
    InProgress,
    /// The web server lost the register mid-task and holds its queue until it finds out.
    Blocked,
}

/// Why a person must look, in words for `/admin` and the cashier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ambiguity {
    #[error("Касса ответила «готово», но без номера ФД и ФП ({why}). Проверьте документ в журнале кассы.")]
    AnswerWithoutDocument { why: String },
    #[error("Касса пробила документ на {found}, а ожидалось {expected}. Сверьте чек с продажей.")]
    TotalMismatch { expected: Decimal, found: Decimal },
    #[error("Веб-сервер ККТ сообщил неизвестное состояние задания «{0}». Проверьте журнал кассы.")]
    UnknownStatus(String),
    #[error("Неизвестно, выполнена ли операция с наличными: веб-сервер ККТ её не помнит. Сверьте сумму в денежном ящике с отчётом кассы.")]
    CashOperationUncertain,
    #[error(
        "Веб-сервер ККТ не помнит задание, а номер последнего документа до отправки не был записан. Сверьте последний чек в журнале кассы с продажей."
    )]
    NoBaseline,
    #[error("Номер последнего документа кассы ({now}) меньше, чем до отправки ({before}): заменён ФН? Проверьте кассу.")]
    CountersWentBack { before: u64, now: u64 },
    #[error("После отправки на кассе появилось {count} документов вместо одного. Сверьте журнал кассы с продажей.")]
    OtherDocuments { count: u64 },
    #[error("Последний документ кассы (ФД {fd}) не похож на ожидаемый: {why}. Сверьте журнал кассы с продажей.")]
    DocumentMismatch { fd: u64, why: String },
}

impl Ambiguity {
    pub fn code(&self) -> &'static str {
        match self {
            Ambiguity::AnswerWithoutDocument { .. } => "fiscal_answer_without_document",
            Ambiguity::TotalMismatch { .. } => "fiscal_total_mismatch",
            Ambiguity::UnknownStatus(_) => "fiscal_unknown_status",
            Ambiguity::CashOperationUncertain => "fiscal_cash_uncertain",
            Ambiguity::NoBaseline => "fiscal_no_baseline",
            Ambiguity::CountersWentBack { .. } => "fiscal_counters_went_back",
            Ambiguity::OtherDocuments { .. } => "fiscal_other_documents",
            Ambiguity::DocumentMismatch { .. } => "fiscal_document_mismatch",
        }
    }
}

/// Decide what follows for `pending` given what is observed now.
pub fn decide(pending: &PendingTask, observation: Observation<'_>) -> Decision {
    match observation {
        Observation::Task(report) => from_report(pending, report),
        Observation::UuidUnknown if pending.kind.makes_fiscal_document() => Decision::CheckLastDocument,
        Observation::UuidUnknown => Decision::NeedsPerson(Ambiguity::CashOperationUncertain),
        Observation::LastDocument { counters, document, shift } => from_last_document(pending, counters, document, shift),
    }
}

fn from_report(pending: &PendingTask, report: &TaskReport) -> Decision {
    match &report.status {
        TaskStatus::Wait => Decision::AskAgainLater(Waiting::Queued),
        TaskStatus::InProgress => Decision::AskAgainLater(Waiting::InProgress),
        TaskStatus::Blocked => Decision::AskAgainLater(Waiting::Blocked),
        // Never started: an earlier task of the request failed, or it was cancelled.
        TaskStatus::Interrupted | TaskStatus::Canceled => Decision::Resend { refusal: None },
        TaskStatus::Other(status) => Decision::NeedsPerson(Ambiguity::UnknownStatus(status.clone())),
        TaskStatus::Ready if !pending.kind.makes_fiscal_document() => Decision::Done(Completion::Cash {
            cash_in_drawer: atol::cash_in_drawer(&report.result),
        }),
        TaskStatus::Ready => match atol::fiscal_document(&report.result) {
            Err(e) => Decision::NeedsPerson(Ambiguity::AnswerWithoutDocument { why: e.to_string() }),
            Ok(document) => {
                if let (true, Some(expected), Some(found)) = (is_receipt(pending.kind), pending.total, document.total) {
                    if expected != found {
                        return Decision::NeedsPerson(Ambiguity::TotalMismatch { expected, found });
                    }
                }
                Decision::Done(Completion::Document {
                    document,
                    not_printed: atol::not_printed(&report.result),
                })
            }
        },
        TaskStatus::Error => match &report.error {
            Some(error) if error.before_document() => Decision::Resend {
                refusal: Some(error.clone()),
            },
            _ if pending.kind.makes_fiscal_document() => Decision::CheckLastDocument,
            _ => Decision::NeedsPerson(Ambiguity::CashOperationUncertain),
        },
    }
}

fn is_receipt(kind: TaskKind) -> bool {
    matches!(kind, TaskKind::Sell | TaskKind::SellReturn)
}

fn from_last_document(pending: &PendingTask, counters: FnCounters, document: Option<&ArchivedDocument>, shift: Option<u32>) -> Decision {
    if !pending.kind.makes_fiscal_document() {
        return Decision::NeedsPerson(Ambiguity::CashOperationUncertain);
    }
    let Some(before) = pending.fd_before else {
        return Decision::NeedsPerson(Ambiguity::NoBaseline);
    };
    let now = counters.last_fd;
    if now < before {
        return Decision::NeedsPerson(Ambiguity::CountersWentBack { before, now });
    }
    if now == before {
        // The register's counter has not moved: no document exists for any attempt.
        return Decision::Resend { refusal: None };
    }
    if now > before + 1 {
        return Decision::NeedsPerson(Ambiguity::OtherDocuments { count: now - before });
    }
    let Some(doc) = document.filter(|d| d.fd == now) else {
        return Decision::NeedsPerson(Ambiguity::DocumentMismatch {
            fd: now,
            why: "документ не прочитан".into(),
        });
    };
    let mismatch = |why: &str| Decision::NeedsPerson(Ambiguity::DocumentMismatch { fd: now, why: why.into() });
    let kind_matches = matches!(
        (pending.kind, doc.kind),
        (TaskKind::Sell, ArchivedKind::Receipt(1))
            | (TaskKind::SellReturn, ArchivedKind::Receipt(2))
            | (TaskKind::OpenShift, ArchivedKind::OpenShift)
            | (TaskKind::CloseShift, ArchivedKind::CloseShift)
    );
    if !kind_matches {
        return mismatch("другой вид документа");
    }
    if is_receipt(pending.kind) {
        if let (Some(expected), Some(found)) = (pending.total, doc.total) {
            if expected != found {
                return mismatch("другая сумма");
            }
        }
    }
    let Some(fp) = doc.fp.clone() else {
        return mismatch("нет ФП");
    };
    let Some(shift) = doc.shift.or(shift) else {
        return mismatch("нет номера смены");
    };
    Decision::Done(Completion::Document {
        document: FiscalDocument {
            fd: doc.fd,
            fp,
            shift,
            receipt_number: doc
                .receipt_number
                .or(if is_receipt(pending.kind) { counters.last_receipt } else { None }),
            fn_number: None,
            registration_number: None,
            at: doc.at,
            total: doc.total,
        },
        not_printed: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::fiscal::atol::register_error;
    use rust_decimal_macros::dec;
    use serde_json::json;

    fn pending(kind: TaskKind, fd_before: Option<u64>) -> PendingTask {
        PendingTask::new(
            kind,
            Uuid::from_u128(7),
            Some(dec!(179.80)),
            "2026-03-02T10:00:00Z".parse().unwrap(),
            fd_before,
        )
    }

    fn report(status: TaskStatus, error: Option<RegisterError>, result: serde_json::Value) -> TaskReport {
        TaskReport { status, error, result }
    }

    /// The driver's answer to a sale; `total` is the JSON number as it sends it.
    fn ready_sell(total: &str) -> TaskReport {
        let total: serde_json::Number = total.parse().expect("a JSON number");
        report(
            TaskStatus::Ready,
            None,
            json!({"fiscalParams": {"fiscalDocumentNumber": 71, "fiscalDocumentSign": "1494325660", "shiftNumber": 12,
                "fiscalReceiptNumber": 3, "total": total}, "warnings": {"notPrinted": false}}),
        )
    }

    fn archived(fd: u64, kind: ArchivedKind, total: Decimal) -> ArchivedDocument {
        ArchivedDocument {
            fd,
            kind,
            fp: Some("2000000001".into()),
            total: Some(total),
            shift: None,
            receipt_number: Some(4),
            at: None,
        }
    }

    fn last(pending: &PendingTask, last_fd: u64, doc: Option<&ArchivedDocument>) -> Decision {
        decide(
            pending,
            Observation::LastDocument {
                counters: FnCounters {
                    last_fd,
                    last_receipt: Some(4),
                },
                document: doc,
                shift: Some(12),
            },
        )
    }

    #[test]
    fn ready_with_document_is_done() {
        let p = pending(TaskKind::Sell, Some(70));
        match decide(&p, Observation::Task(&ready_sell("179.8"))) {
            Decision::Done(Completion::Document { document, not_printed }) => {
                assert_eq!(
                    (document.fd, document.fp.as_str(), document.shift, document.receipt_number),
                    (71, "1494325660", 12, Some(3))
                );
                assert!(!not_printed);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ready_without_fp_or_with_another_total_needs_a_person() {
        let p = pending(TaskKind::Sell, Some(70));
        let no_fp = report(
            TaskStatus::Ready,
            None,
            json!({"fiscalParams": {"fiscalDocumentNumber": 71, "shiftNumber": 1}}),
        );
        assert!(matches!(
            decide(&p, Observation::Task(&no_fp)),
            Decision::NeedsPerson(Ambiguity::AnswerWithoutDocument { .. })
        ));
        assert!(matches!(
            decide(&p, Observation::Task(&ready_sell("180.0"))),
            Decision::NeedsPerson(Ambiguity::TotalMismatch { .. })
        ));
    }

    #[test]
    fn queue_states_ask_again() {
        let p = pending(TaskKind::Sell, Some(70));
        for (status, waiting) in [
            (TaskStatus::Wait, Waiting::Queued),
            (TaskStatus::InProgress, Waiting::InProgress),
            (TaskStatus::Blocked, Waiting::Blocked),
        ] {
            assert_eq!(
                decide(&p, Observation::Task(&report(status, None, json!(null)))),
                Decision::AskAgainLater(waiting)
            );
        }
    }

    #[test]
    fn never_started_tasks_are_resent() {
        let p = pending(TaskKind::Sell, Some(70));
        for status in [TaskStatus::Interrupted, TaskStatus::Canceled] {
            assert_eq!(
                decide(&p, Observation::Task(&report(status, None, json!(null)))),
                Decision::Resend { refusal: None }
            );
        }
        let odd = report(TaskStatus::Other("zzz".into()), None, json!(null));
        assert_eq!(
            decide(&p, Observation::Task(&odd)),
            Decision::NeedsPerson(Ambiguity::UnknownStatus("zzz".into()))
        );
    }

    #[test]
    fn refusals_before_the_document_are_resent_with_their_reason() {
        let p = pending(TaskKind::Sell, Some(70));
        let expired = report(TaskStatus::Error, Some(register_error(68, "Смена превысила 24 часа")), json!(null));
        assert_eq!(
            decide(&p, Observation::Task(&expired)),
            Decision::Resend {
                refusal: Some(RegisterError::ShiftExpired)
            }
        );
    }

    #[test]
    fn errors_that_may_leave_a_document_check_the_register_first() {
        let p = pending(TaskKind::Sell, Some(70));
        for code in [44, 2, 177, 9999] {
            let error = report(TaskStatus::Error, Some(register_error(code, "")), json!(null));
            assert_eq!(decide(&p, Observation::Task(&error)), Decision::CheckLastDocument, "code {code}");
        }
        let no_code = report(TaskStatus::Error, None, json!(null));
        assert_eq!(decide(&p, Observation::Task(&no_code)), Decision::CheckLastDocument);
    }

    #[test]
    fn a_forgotten_uuid_checks_the_register() {
        assert_eq!(
            decide(&pending(TaskKind::Sell, Some(70)), Observation::UuidUnknown),
            Decision::CheckLastDocument
        );
        assert_eq!(
            decide(&pending(TaskKind::CashIn, None), Observation::UuidUnknown),
            Decision::NeedsPerson(Ambiguity::CashOperationUncertain)
        );
    }

    #[test]
    fn cash_operations() {
        let p = pending(TaskKind::CashOut, None);
        let ready = report(TaskStatus::Ready, None, json!({"counters": {"cashSum": 1000.5}}));
        assert_eq!(
            decide(&p, Observation::Task(&ready)),
            Decision::Done(Completion::Cash {
                cash_in_drawer: Some(dec!(1000.5))
            })
        );
        let no_cash = report(TaskStatus::Error, Some(register_error(80, "")), json!(null));
        assert_eq!(
            decide(&p, Observation::Task(&no_cash)),
            Decision::Resend {
                refusal: Some(RegisterError::NoCash)
            }
        );
        let paper = report(TaskStatus::Error, Some(register_error(44, "")), json!(null));
        assert_eq!(
            decide(&p, Observation::Task(&paper)),
            Decision::NeedsPerson(Ambiguity::CashOperationUncertain)
        );
        assert_eq!(last(&p, 5, None), Decision::NeedsPerson(Ambiguity::CashOperationUncertain));
    }

    #[test]
    fn an_unmoved_counter_proves_nothing_was_registered() {
        let p = pending(TaskKind::Sell, Some(70));
        assert_eq!(last(&p, 70, None), Decision::Resend { refusal: None });
    }

    #[test]
    fn exactly_one_matching_new_document_is_ours() {
        let p = pending(TaskKind::Sell, Some(70));
        let doc = archived(71, ArchivedKind::Receipt(1), dec!(179.80));
        match last(&p, 71, Some(&doc)) {
            Decision::Done(Completion::Document { document, .. }) => {
                assert_eq!(
                    (document.fd, document.fp.as_str(), document.shift, document.receipt_number),
                    (71, "2000000001", 12, Some(4))
                );
            }
            other => panic!("{other:?}"),
        }
        let open = pending(TaskKind::OpenShift, Some(70));
        let opened = ArchivedDocument {
            receipt_number: None,
            ..archived(71, ArchivedKind::OpenShift, dec!(0))
        };
        assert!(matches!(last(&open, 71, Some(&opened)), Decision::Done(_)));
    }

    #[test]
    fn anything_else_needs_a_person() {
        let p = pending(TaskKind::Sell, Some(70));
        let doc = archived(71, ArchivedKind::Receipt(1), dec!(179.80));
        assert_eq!(
            last(&p, 72, Some(&doc)),
            Decision::NeedsPerson(Ambiguity::OtherDocuments { count: 2 })
        );
        assert_eq!(
            last(&p, 69, None),
            Decision::NeedsPerson(Ambiguity::CountersWentBack { before: 70, now: 69 })
        );
        assert!(matches!(
            last(&p, 71, None),
            Decision::NeedsPerson(Ambiguity::DocumentMismatch { .. })
        ));
        let other_total = archived(71, ArchivedKind::Receipt(1), dec!(10));
        assert!(matches!(
            last(&p, 71, Some(&other_total)),
            Decision::NeedsPerson(Ambiguity::DocumentMismatch { .. })
        ));
        let a_return = archived(71, ArchivedKind::Receipt(2), dec!(179.80));
        assert!(matches!(
            last(&p, 71, Some(&a_return)),
            Decision::NeedsPerson(Ambiguity::DocumentMismatch { .. })
        ));
        let no_fp = ArchivedDocument { fp: None, ..doc.clone() };
        assert!(matches!(
            last(&p, 71, Some(&no_fp)),
            Decision::NeedsPerson(Ambiguity::DocumentMismatch { .. })
        ));
        let no_shift = decide(
            &p,
            Observation::LastDocument {
                counters: FnCounters {
                    last_fd: 71,
                    last_receipt: None,
                },
                document: Some(&doc),
                shift: None,
            },
        );
        assert!(matches!(no_shift, Decision::NeedsPerson(Ambiguity::DocumentMismatch { .. })));
        assert_eq!(
            last(&pending(TaskKind::Sell, None), 71, Some(&doc)),
            Decision::NeedsPerson(Ambiguity::NoBaseline)
        );
    }

    #[test]
    fn retry_moves_to_a_new_uuid() {
        let p = pending(TaskKind::Sell, Some(70));
        let next = p.retry(Some(70), "2026-03-02T10:05:00Z".parse().unwrap());
        assert_eq!(next.attempt, 1);
        assert_ne!(next.uuid(), p.uuid());
        assert_eq!(next.operation, p.operation);
        assert_eq!(next.uuid(), task_uuid(TaskKind::Sell, p.operation, 1));
    }

    /// A register behind a web server, as far as the decision can tell: a journal of
    /// documents, a queue of tasks that can be forgotten, and errors before or after signing.
    mod model {
        use super::*;
        use std::collections::HashMap;

        #[derive(Debug, Clone, Copy)]
        pub enum Fate {
            /// The request never reached the web server.
            Lost,
            /// Executed: signed and answered `ready`.
            Registered,
            /// Refused before the receipt opened (shift over 24 h).
            RefusedBefore,
            /// Signed, then the paper ran out: `error` 44 although the document exists.
            SignedThenError,
            /// The link to the register broke before anything was signed.
            BrokeBefore,
            /// Queued behind others for a while.
            Slow(u8),
            /// The web server lost the register mid-task, later found it was signed.
            BlockedThenSigned,
        }

        #[derive(Debug)]
        struct Task {
            polls_left: u8,
            outcome: TaskReport,
        }

        #[derive(Default)]
        pub struct World {
            pub journal: Vec<(u64, Uuid, Decimal)>,
            tasks: HashMap<Uuid, Task>,
            pub blocked: bool,
        }

        impl World {
            pub fn last_fd(&self) -> u64 {
                self.journal.last().map(|d| d.0).unwrap_or(100)
            }

            fn sign(&mut self, operation: Uuid, total: Decimal) -> serde_json::Value {
                let fd = self.last_fd() + 1;
                self.journal.push((fd, operation, total));
                json!({"fiscalParams": {"fiscalDocumentNumber": fd, "fiscalDocumentSign": format!("{}", 3_000_000_000u64 + fd),
                    "shiftNumber": 5, "fiscalReceiptNumber": fd - 100, "total": total.to_string()}})
            }

            pub fn send(&mut self, p: &PendingTask, fate: Fate) {
                let total = p.total.unwrap_or_default();
                let (polls_left, outcome) = match fate {
                    Fate::Lost => return,
                    Fate::Registered => (0, report(TaskStatus::Ready, None, self.sign(p.operation, total))),
                    Fate::RefusedBefore => (0, report(TaskStatus::Error, Some(register_error(68, "")), json!(null))),
                    Fate::SignedThenError => {
                        self.sign(p.operation, total);
                        (0, report(TaskStatus::Error, Some(register_error(44, "")), json!(null)))
                    }
                    Fate::BrokeBefore => (0, report(TaskStatus::Error, Some(register_error(2, "")), json!(null))),
                    Fate::Slow(n) => (n, report(TaskStatus::Ready, None, self.sign(p.operation, total))),
                    Fate::BlockedThenSigned => {
                        self.blocked = true;
                        (1, report(TaskStatus::Ready, None, self.sign(p.operation, total)))
                    }
                };
                self.tasks.insert(p.uuid(), Task { polls_left, outcome });
            }

            pub fn forget(&mut self) {
                self.tasks.clear();
                self.blocked = false;
            }

            pub fn ask(&mut self, uuid: Uuid) -> Option<TaskReport> {
                let blocked = self.blocked;
                let task = self.tasks.get_mut(&uuid)?;
                if task.polls_left > 0 {
                    task.polls_left -= 1;
                    let status = if blocked { TaskStatus::Blocked } else { TaskStatus::InProgress };
                    if task.polls_left == 0 {
                        self.blocked = false;
                    }
                    return Some(report(status, None, json!(null)));
                }
                Some(task.outcome.clone())
            }

            pub fn last_document(&self) -> (FnCounters, Option<ArchivedDocument>) {
                let counters = FnCounters {
                    last_fd: self.last_fd(),
                    last_receipt: None,
                };
                let doc = self.journal.last().map(|(fd, _, total)| ArchivedDocument {
                    fd: *fd,
                    kind: ArchivedKind::Receipt(1),
                    fp: Some(format!("{}", 3_000_000_000u64 + fd)),
                    total: Some(*total),
                    shift: Some(5),
                    receipt_number: Some((*fd - 100) as u32),
                    at: None,
                });
                (counters, doc)
            }
        }

        pub fn fate(code: u8) -> Fate {
            match code % 8 {
                0 => Fate::Lost,
                1 | 2 => Fate::Registered,
                3 => Fate::RefusedBefore,
                4 => Fate::SignedThenError,
                5 => Fate::BrokeBefore,
                6 => Fate::Slow(code / 8 % 4 + 1),
                _ => Fate::BlockedThenSigned,
            }
        }
    }

    proptest::proptest! {
        /// Sales go through every mix of lost requests, refusals, errors after signing, slow
        /// queues, a blocked web server and restarts that forget every uuid. Whatever happens,
        /// each sale ends done with exactly one document in the register's journal, and the
        /// ФД storeterm records is that document. The register serves this lane only, so the
        /// decision never needs a person here.
        #[test]
        fn every_sale_is_registered_exactly_once(
            script in proptest::collection::vec((proptest::prelude::any::<u8>(), proptest::prelude::any::<bool>()), 1..40),
            sales in 1usize..4,
        ) {
            let mut world = model::World::default();
            let mut choices = script.iter().cycle();
            let now: Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
            for sale in 0..sales {
                let operation = Uuid::from_u128(1000 + sale as u128);
                let total = Decimal::new(1000 + sale as i64, 2);
                let mut p = PendingTask::new(TaskKind::Sell, operation, Some(total), now, Some(world.last_fd()));
                let &(code, crash) = choices.next().unwrap();
                world.send(&p, model::fate(code));
                let mut done = None;
                for step in 0..200 {
                    let &(code, crash_now) = choices.next().unwrap();
                    if crash && crash_now {
                        world.forget();
                    }
                    let answer = world.ask(p.uuid());
                    let mut decision = match &answer {
                        Some(r) => decide(&p, Observation::Task(r)),
                        None => decide(&p, Observation::UuidUnknown),
                    };
                    if decision == Decision::CheckLastDocument {
                        let (counters, doc) = world.last_document();
                        decision = decide(&p, Observation::LastDocument { counters, document: doc.as_ref(), shift: Some(5) });
                    }
                    match decision {
                        Decision::Done(Completion::Document { document, .. }) => { done = Some(document); break; }
                        Decision::Done(other) => proptest::prop_assert!(false, "not a document: {:?}", other),
                        Decision::AskAgainLater(_) => {}
                        Decision::CheckLastDocument => proptest::prop_assert!(false, "asked twice for the last document"),
                        Decision::Resend { .. } => {
                            p = p.retry(Some(world.last_fd()), now);
                            // Keep the run finite: after many tries the register behaves.
                            let fate = if step > 150 { model::Fate::Registered } else { model::fate(code) };
                            world.send(&p, fate);
                        }
                        Decision::NeedsPerson(why) => proptest::prop_assert!(false, "needs a person: {}", why),
                    }
                }
                let document = done.expect("each sale finishes");
                let ours: Vec<_> = world.journal.iter().filter(|d| d.1 == operation).collect();
                proptest::prop_assert_eq!(ours.len(), 1, "exactly one document for the sale");
                proptest::prop_assert_eq!(ours[0].0, document.fd);
                proptest::prop_assert_eq!(document.fp, format!("{}", 3_000_000_000u64 + document.fd));
            }
        }

        /// Whatever is observed, "done" for a receipt carries a ФД and a ФП, and "resend" after
        /// reading the register only ever follows an unmoved counter.
        #[test]
        fn decisions_keep_their_promises(
            fd_before in proptest::option::of(0u64..10),
            last_fd in 0u64..12,
            kind_code in 0u8..6,
            total_cents in 1i64..5000,
            doc_total_cents in 1i64..5000,
            fp in proptest::option::of("[0-9]{1,10}"),
            with_doc in proptest::prelude::any::<bool>(),
        ) {
            let kinds = [TaskKind::Sell, TaskKind::SellReturn, TaskKind::OpenShift, TaskKind::CloseShift, TaskKind::CashIn, TaskKind::CashOut];
            let p = PendingTask::new(kinds[kind_code as usize], Uuid::from_u128(9), Some(Decimal::new(total_cents, 2)),
                "2026-03-02T10:00:00Z".parse().unwrap(), fd_before);
            let doc = ArchivedDocument { fd: last_fd, kind: ArchivedKind::Receipt(1), fp, total: Some(Decimal::new(doc_total_cents, 2)),
                shift: None, receipt_number: None, at: None };
            let decision = decide(&p, Observation::LastDocument {
                counters: FnCounters { last_fd, last_receipt: None },
                document: with_doc.then_some(&doc),
                shift: Some(1),
            });
            match decision {
                Decision::Resend { .. } => proptest::prop_assert_eq!(fd_before, Some(last_fd)),
                Decision::Done(Completion::Document { document, .. }) => {
                    proptest::prop_assert!(!document.fp.is_empty() && document.fd > 0);
                    proptest::prop_assert_eq!(fd_before.map(|b| b + 1), Some(document.fd));
                    proptest::prop_assert_eq!(p.kind, TaskKind::Sell);
                    proptest::prop_assert_eq!(document.total, p.total);
                }
                Decision::Done(Completion::Cash { .. }) => proptest::prop_assert!(false, "cash from a document"),
                Decision::AskAgainLater(_) | Decision::CheckLastDocument => proptest::prop_assert!(false, "no progress"),
                Decision::NeedsPerson(_) => {}
            }
        }
    }
}
