//! The fiscal path against a test ATOL web server on loopback (`tests/common/atol.rs`): a sale
//! comes back with its ФД/ФП/shift, `inProgress` turns `ready`, the register's refusals reach
//! the cashier in words, a reused uuid is refused, and after every kind of crash — storeterm
//! killed after sending, the web server forgetting its tasks, the web server down for a
//! while — the recovery finds the one document or proves there is none, and nothing is ever
//! registered twice.

mod common;

use common::atol::{Broken, TestAtol};
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::time::Duration;
use storeterm::devices::fiscal::atol::{self, MarkCheck, MarkValidation, RegisterError, ShiftState, Task, TaskStatus};
use storeterm::devices::fiscal::link::{AtolLink, LinkError, LinkSettings, Polled};
use storeterm::devices::fiscal::recovery::{self, Completion, Decision, Observation, PendingTask};
use storeterm::devices::fiscal::{
    CashDirection, CashOperation, FiscalDocument, FiscalItem, FiscalPayment, FiscalReceipt, MarkedItemStatus, MarkingCode, MeasurementUnit,
    Operator, PaymentKind, PaymentMethod, PaymentObject, ReceiptKind, TaskKind, TaxationType, VatRate,
};
use tokio::time::Instant;
use uuid::Uuid;

fn link(server: &TestAtol) -> AtolLink {
    AtolLink::new(&LinkSettings {
        address: server.address(),
        request_timeout: Duration::from_secs(5),
        poll_every: Duration::from_millis(5),
    })
    .unwrap()
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

fn anna() -> Operator {
    Operator {
        name: "Анна Петрова".into(),
        inn: Some("500100732259".into()),
    }
}

/// A sale of `n` × 89.90 paid by card.
fn sale(n: i64) -> FiscalReceipt {
    let quantity = Decimal::from(n);
    let amount = dec!(89.90) * quantity;
    FiscalReceipt {
        kind: ReceiptKind::Sell,
        operator: anna(),
        taxation: TaxationType::Osn,
        items: vec![FiscalItem {
            name: "Молоко 3,2% 1 л".into(),
            price: dec!(89.90),
            quantity,
            amount,
            vat: VatRate::Vat22,
            payment_method: PaymentMethod::FullPayment,
            payment_object: PaymentObject::Commodity,
            unit: MeasurementUnit::Piece,
            marking: None,
        }],
        payments: vec![FiscalPayment {
            kind: PaymentKind::Electronically,
            sum: amount,
        }],
        client_contact: Some("buyer@example.ru".into()),
        electronically: false,
        total: amount,
    }
}

fn now() -> Timestamp {
    "2026-03-02T06:00:00Z".parse().unwrap()
}

/// What the lane does before sending: read the register's counter, store the pending task.
async fn prepare(link: &AtolLink, receipt: &FiscalReceipt, sale_id: u128) -> PendingTask {
    let counters = link.fd_counter(soon()).await.unwrap();
    PendingTask::new(
        receipt.kind.into(),
        Uuid::from_u128(sale_id),
        Some(receipt.total),
        now(),
        Some(counters.last_fd),
    )
}

/// Send and wait for the final answer, then decide.
async fn send_and_decide(link: &AtolLink, pending: &PendingTask, receipt: &FiscalReceipt) -> Decision {
    link.submit(pending.uuid(), &[Task::Receipt(receipt)]).await.unwrap();
    match link.poll(pending.uuid(), soon()).await.unwrap() {
        Polled::Final(answer) => recovery::decide(pending, Observation::Task(answer.last().unwrap())),
        Polled::Unknown => recovery::decide(pending, Observation::UuidUnknown),
    }
}

fn document(decision: Decision) -> FiscalDocument {
    match decision {
        Decision::Done(Completion::Document { document, .. }) => document,
        other => panic!("expected a fiscal document, got {other:?}"),
    }
}

#[tokio::test]
async fn a_sale_comes_back_with_fd_fp_and_shift() {
    let server = TestAtol::start().await;
    let link = link(&server);
    let receipt = sale(2);
    let pending = prepare(&link, &receipt, 1).await;
    assert_eq!(pending.fd_before, Some(70));
    let doc = document(send_and_decide(&link, &pending, &receipt).await);
    assert_eq!(
        (doc.fd, doc.shift, doc.receipt_number, doc.total),
        (71, 12, Some(1), Some(dec!(179.80)))
    );
    assert_eq!(doc.fp.len(), 10);
    assert_eq!(server.journal()[0].fp, doc.fp);
    assert_eq!(server.journal()[0].uuid, pending.uuid().to_string());
    // What went over the wire, as the server read it.
    let body = server.last_body().unwrap();
    assert_eq!(body["uuid"], pending.uuid().to_string());
    let task = &body["request"][0];
    assert_eq!(task["type"], "sell");
    assert_eq!(task["taxationType"], "osn");
    assert_eq!(
        task["operator"],
        serde_json::json!({"name": "Анна Петрова", "vatin": "500100732259"})
    );
    assert_eq!(task["clientInfo"]["emailOrPhone"], "buyer@example.ru");
    assert_eq!(task["items"][0]["tax"]["type"], "vat22");
    assert_eq!(task["items"][0]["amount"], serde_json::json!(179.8));
    assert_eq!(task["payments"][0], serde_json::json!({"type": "electronically", "sum": 179.8}));
}

#[tokio::test]
async fn in_progress_turns_ready() {
    let server = TestAtol::start().await;
    let link = link(&server);
    server.set_in_progress_polls(3);
    let receipt = sale(1);
    let pending = prepare(&link, &receipt, 2).await;
    let gets_before = server.gets();
    link.submit(pending.uuid(), &[Task::Receipt(&receipt)]).await.unwrap();
    let first = link.result(pending.uuid()).await.unwrap().unwrap();
    assert_eq!(first.last().unwrap().status, TaskStatus::InProgress);
    assert_eq!(
        recovery::decide(&pending, Observation::Task(first.last().unwrap())),
        Decision::AskAgainLater(recovery::Waiting::InProgress)
    );
    let Polled::Final(answer) = link.poll(pending.uuid(), soon()).await.unwrap() else {
        panic!("the task is known")
    };
    assert_eq!(server.gets() - gets_before, 4, "three inProgress, then ready");
    assert_eq!(
        document(recovery::decide(&pending, Observation::Task(answer.last().unwrap()))).fd,
        71
    );
}

#[tokio::test]
async fn paper_out_is_told_in_words_and_the_retry_registers_once() {
    let server = TestAtol::start().await;
    let link = link(&server);
    server.set_paper(false);
    let receipt = sale(1);
    let pending = prepare(&link, &receipt, 3).await;
    link.submit(pending.uuid(), &[Task::Receipt(&receipt)]).await.unwrap();
    let Polled::Final(answer) = link.poll(pending.uuid(), soon()).await.unwrap() else {
        panic!()
    };
    let report = answer.last().unwrap();
    assert_eq!(report.status, TaskStatus::Error);
    let error = report.error.clone().unwrap();
    assert_eq!(error, RegisterError::PaperOut);
    assert_eq!(error.code(), "kkt_paper_out");
    assert_eq!(
        error.to_string(),
        "В кассе закончилась бумага. Вставьте новый рулон, закройте крышку и повторите."
    );
    // Paper can run out after signing, so the register's counter is read before any retry.
    assert_eq!(recovery::decide(&pending, Observation::Task(report)), Decision::CheckLastDocument);
    assert_eq!(link.recover(&pending, soon()).await.unwrap(), Decision::Resend { refusal: None });
    assert!(server.journal().is_empty());

    server.set_paper(true);
    let counters = link.fd_counter(soon()).await.unwrap();
    let retry = pending.retry(Some(counters.last_fd), now());
    let doc = document(send_and_decide(&link, &retry, &receipt).await);
    assert_eq!(doc.fd, 71);
    assert_eq!(server.receipts_of(receipt.total).len(), 1);
}

#[tokio::test]
async fn an_expired_shift_asks_for_the_z_report() {
    let server = TestAtol::start().await;
    let link = link(&server);
    server.advance_clock(SignedDuration::from_hours(25));
    let shift = link.query(&[Task::ShiftStatus], soon()).await.unwrap();
    assert_eq!(
        atol::shift_status(&shift.last().unwrap().result).unwrap().state,
        ShiftState::Expired
    );

    let receipt = sale(3);
    let pending = prepare(&link, &receipt, 4).await;
    let decision = send_and_decide(&link, &pending, &receipt).await;
    let Decision::Resend { refusal: Some(refusal) } = decision else {
        panic!("{decision:?}")
    };
    assert_eq!(refusal, RegisterError::ShiftExpired);
    assert!(refusal.to_string().contains("Закройте смену (Z-отчёт)"), "{refusal}");
    assert_eq!(refusal.code(), "kkt_shift_expired");

    // The Z report and a new shift are fiscal documents too, each exactly once.
    let close = PendingTask::new(TaskKind::CloseShift, Uuid::from_u128(40), None, now(), Some(70));
    link.submit(close.uuid(), &[Task::CloseShift(&anna())]).await.unwrap();
    let Polled::Final(closed) = link.poll(close.uuid(), soon()).await.unwrap() else {
        panic!()
    };
    let z = document(recovery::decide(&close, Observation::Task(closed.last().unwrap())));
    assert_eq!((z.fd, z.shift, z.receipt_number), (71, 12, None));
    let open = PendingTask::new(TaskKind::OpenShift, Uuid::from_u128(41), None, now(), Some(71));
    link.submit(open.uuid(), &[Task::OpenShift(&anna())]).await.unwrap();
    let Polled::Final(opened) = link.poll(open.uuid(), soon()).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        document(recovery::decide(&open, Observation::Task(opened.last().unwrap()))).shift,
        13
    );

    let retry = pending.retry(Some(link.fd_counter(soon()).await.unwrap().last_fd), now());
    let doc = document(send_and_decide(&link, &retry, &receipt).await);
    assert_eq!((doc.fd, doc.shift, doc.receipt_number), (73, 13, Some(1)));
    assert_eq!(server.receipts_of(receipt.total).len(), 1);
}

#[tokio::test]
async fn a_reused_uuid_is_refused_and_registers_nothing() {
    let server = TestAtol::start().await;
    let link = link(&server);
    let receipt = sale(1);
    let pending = prepare(&link, &receipt, 5).await;
    link.submit(pending.uuid(), &[Task::Receipt(&receipt)]).await.unwrap();
    let again = link.submit(pending.uuid(), &[Task::Receipt(&receipt)]).await.unwrap_err();
    assert_eq!(again, LinkError::UuidReused { uuid: pending.uuid() });
    assert_eq!(again.code(), "atol_uuid_reused");
    assert_eq!(server.journal().len(), 1);
    // The first task's answer is still there to read.
    assert_eq!(document(link.recover(&pending, soon()).await.unwrap()).fd, 71);
}

#[tokio::test]
async fn storeterm_killed_after_sending_finds_the_document_by_uuid() {
    let server = TestAtol::start().await;
    let receipt = sale(4);
    let pending = {
        let first_life = link(&server);
        let pending = prepare(&first_life, &receipt, 6).await;
        // The request leaves; storeterm dies before it reads the answer.
        first_life.submit(pending.uuid(), &[Task::Receipt(&receipt)]).await.unwrap();
        pending
    };
    // A new process, with only what was stored durably.
    let stored = serde_json::to_string(&pending).unwrap();
    let pending: PendingTask = serde_json::from_str(&stored).unwrap();
    let second_life = link(&server);
    let doc = document(second_life.recover(&pending, soon()).await.unwrap());
    assert_eq!(doc.fd, 71);
    assert_eq!(server.receipts_of(receipt.total).len(), 1);
    assert_eq!(server.posts(), 2, "the counter query and the sale; nothing sent again");
}

#[tokio::test]
async fn a_web_server_that_forgot_the_uuid_is_answered_by_the_register_journal() {
    let server = TestAtol::start().await;
    let link = link(&server);
    let receipt = sale(5);
    let pending = prepare(&link, &receipt, 7).await;
    link.submit(pending.uuid(), &[Task::Receipt(&receipt)]).await.unwrap();
    server.restart_forgetting().await;
    assert_eq!(link.result(pending.uuid()).await.unwrap(), None);
    let doc = document(link.recover(&pending, soon()).await.unwrap());
    assert_eq!(
        (doc.fd, doc.shift, doc.receipt_number, doc.total),
        (71, 12, Some(1), Some(receipt.total))
    );
    assert_eq!(doc.fp, server.journal()[0].fp);
    assert_eq!(server.receipts_of(receipt.total).len(), 1);
}

#[tokio::test]
async fn a_forgotten_task_that_never_ran_is_sent_again_once() {
    let server = TestAtol::start().await;
    let link = link(&server);
    let receipt = sale(6);
    let pending = prepare(&link, &receipt, 8).await;
    server.hold();
    link.submit(pending.uuid(), &[Task::Receipt(&receipt)]).await.unwrap();
    server.restart_forgetting().await;
    server.release();
    // The web server no longer knows the uuid and the register's counter has not moved.
    assert_eq!(link.recover(&pending, soon()).await.unwrap(), Decision::Resend { refusal: None });
    let retry = pending.retry(Some(link.fd_counter(soon()).await.unwrap().last_fd), now());
    assert_ne!(retry.uuid(), pending.uuid());
    assert_eq!(document(send_and_decide(&link, &retry, &receipt).await).fd, 71);
    assert_eq!(server.receipts_of(receipt.total).len(), 1);
}

#[tokio::test]
async fn the_web_server_down_then_back_registers_nothing_twice() {
    let server = TestAtol::start().await;
    let link = link(&server);

    // A sale sent, then the web server goes down before its answer is read.
    let first = sale(7);
    let sent = prepare(&link, &first, 9).await;
    link.submit(sent.uuid(), &[Task::Receipt(&first)]).await.unwrap();
    server.stop().await;

    // A second sale while it is down: it waits with a clear message.
    let second = sale(8);
    let waiting = PendingTask::new(TaskKind::Sell, Uuid::from_u128(10), Some(second.total), now(), Some(71));
    let refused = link.submit(waiting.uuid(), &[Task::Receipt(&second)]).await.unwrap_err();
    assert_eq!(refused.code(), "atol_unreachable");
    assert!(refused.to_string().contains("веб-сервером драйвера ККТ"), "{refused}");
    assert_eq!(link.recover(&sent, soon()).await.unwrap_err().code(), "atol_unreachable");
    assert_eq!(link.recover(&waiting, soon()).await.unwrap_err().code(), "atol_unreachable");

    server.resume().await;
    // Both are resolved the same way — recovery first: the first by its uuid, the second
    // proven never registered, then sent once.
    assert_eq!(document(link.recover(&sent, soon()).await.unwrap()).fd, 71);
    assert_eq!(link.recover(&waiting, soon()).await.unwrap(), Decision::Resend { refusal: None });
    let retry = waiting.retry(Some(link.fd_counter(soon()).await.unwrap().last_fd), now());
    assert_eq!(document(send_and_decide(&link, &retry, &second).await).fd, 72);
    assert_eq!(server.receipts_of(first.total).len(), 1);
    assert_eq!(server.receipts_of(second.total).len(), 1);
    assert_eq!(server.journal().len(), 2);
}

#[tokio::test]
async fn a_task_still_running_at_the_deadline_is_asked_about_later() {
    let server = TestAtol::start().await;
    let link = link(&server);
    let receipt = sale(9);
    let pending = prepare(&link, &receipt, 11).await;
    server.hold();
    link.submit(pending.uuid(), &[Task::Receipt(&receipt)]).await.unwrap();
    let early = link
        .poll(pending.uuid(), Instant::now() + Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(early, LinkError::StillRunning { uuid: pending.uuid() });
    assert_eq!(
        link.recover(&pending, soon()).await.unwrap(),
        Decision::AskAgainLater(recovery::Waiting::Queued)
    );
    server.release();
    assert_eq!(document(link.recover(&pending, soon()).await.unwrap()).fd, 71);
}

#[tokio::test]
async fn a_broken_web_server_is_named_for_what_it_is() {
    let server = TestAtol::start().await;
    let link = link(&server);
    let uuid = Uuid::from_u128(12);
    server.set_broken(Broken::Html);
    assert_eq!(link.result(uuid).await.unwrap_err().code(), "atol_not_json");
    server.set_broken(Broken::Unavailable);
    let unavailable = link.submit(uuid, &[Task::ShiftStatus]).await.unwrap_err();
    assert!(matches!(unavailable, LinkError::ServerError { status: 503, .. }), "{unavailable:?}");
    server.set_broken(Broken::No);
    // Bad input is refused before anything is sent.
    let mut bad = sale(1);
    bad.total = dec!(1);
    let posts = server.posts();
    assert_eq!(
        link.submit(uuid, &[Task::Receipt(&bad)]).await.unwrap_err().code(),
        "fiscal_total_mismatch"
    );
    assert_eq!(server.posts(), posts);
}

#[tokio::test]
async fn cash_operations_and_status_queries() {
    let server = TestAtol::start().await;
    let link = link(&server);
    let cash = CashOperation {
        direction: CashDirection::Out,
        operator: anna(),
        sum: dec!(1200.50),
    };
    let pending = PendingTask::new(cash.direction.into(), Uuid::from_u128(13), Some(cash.sum), now(), None);
    link.submit(pending.uuid(), &[Task::Cash(&cash)]).await.unwrap();
    let Polled::Final(answer) = link.poll(pending.uuid(), soon()).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        recovery::decide(&pending, Observation::Task(answer.last().unwrap())),
        Decision::Done(Completion::Cash {
            cash_in_drawer: Some(dec!(3799.50))
        })
    );
    assert!(server.journal().is_empty(), "cash operations are not fiscal documents");

    let answer = link
        .query(
            &[Task::ShiftStatus, Task::DeviceStatus, Task::FnInfo, Task::OfdExchangeStatus],
            soon(),
        )
        .await
        .unwrap();
    let results: Vec<_> = answer.results.iter().map(|r| &r.result).collect();
    assert_eq!(atol::shift_status(results[0]).unwrap().number, 12);
    assert!(atol::device_status(results[1]).unwrap().paper_present);
    let fn_info = atol::fn_info(results[2]).unwrap();
    assert_eq!(fn_info.serial, "9999078900000961");
    assert_eq!(fn_info.days_left(now()), Some(363));
    assert_eq!(atol::ofd_backlog(results[3]).unwrap().unsent, 0);
}

#[tokio::test]
async fn a_marking_code_is_checked_before_the_sale() {
    let server = TestAtol::start().await;
    let link = link(&server);
    let check = MarkValidation {
        code: MarkingCode {
            code: "0104607428679090216eKIjoWH54DdU\u{1d}91ffd0\u{1d}92sz6kSPirApfMBftvLboE1dlWC".into(),
            status: MarkedItemStatus::PieceSold,
        },
        measured: None,
    };
    link.query(&[Task::BeginMarkingCodeValidation(&check)], soon()).await.unwrap();
    let status = link.query(&[Task::MarkingCodeValidationStatus], soon()).await.unwrap();
    assert_eq!(atol::mark_check(&status.last().unwrap().result), MarkCheck::Valid);
    let accepted = link.query(&[Task::AcceptMarkingCode], soon()).await.unwrap();
    assert_eq!(accepted.last().unwrap().status, TaskStatus::Ready);
    let body = server.last_body().unwrap();
    assert_eq!(body["request"][0]["type"], "acceptMarkingCode");
}

#[tokio::test]
async fn when_two_readings_are_possible_a_person_decides() {
    let server = TestAtol::start().await;
    let link = link(&server);
    let first = sale(10);
    let forgotten = prepare(&link, &first, 14).await;
    link.submit(forgotten.uuid(), &[Task::Receipt(&first)]).await.unwrap();
    server.restart_forgetting().await;
    // Another sale lands on the register before the first one is recovered.
    let second = sale(11);
    let other = PendingTask::new(TaskKind::Sell, Uuid::from_u128(15), Some(second.total), now(), Some(71));
    document(send_and_decide(&link, &other, &second).await);
    let decision = link.recover(&forgotten, soon()).await.unwrap();
    let Decision::NeedsPerson(why) = decision else {
        panic!("{decision:?}")
    };
    assert_eq!(why.code(), "fiscal_other_documents");
    assert!(why.to_string().contains("Сверьте журнал кассы"), "{why}");
    assert_eq!(server.receipts_of(first.total).len(), 1, "nothing resent");

    // The admin view of the register's last document.
    let last = link.last_document(soon()).await.unwrap();
    assert_eq!(last.counters.last_fd, 72);
    assert_eq!(last.document.unwrap().total, Some(second.total));
}
