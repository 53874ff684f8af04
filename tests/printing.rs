//! Printing through real transports: a serial printer behind a pseudo-terminal that runs out
//! of paper, and a network printer whose connection drops mid-job.

mod common;

use common::crm::TestCrm;
use common::printer::{Condition, PtyPrinter, TestPrinter};
use common::{ADMIN, Api, CASHIER, config_text, cp866, eventually, parse_config};
use serde_json::{Value, json};
use std::time::Duration;

/// Guard for waiting on the printer worker's idle status rounds (every 10 s; two are needed).
const WORKER_PASS: Duration = Duration::from_secs(60);

fn catalog() -> Vec<Value> {
    vec![json!({"kind": "item", "op": "upsert", "id": "I-1001", "data": {
        "sku": "I-1001", "name": "Молоко 3,2% 1 л", "unit": "pcs", "vat": "10", "weighted": false,
        "marked": false, "barcodes": ["4601234567893"], "prices": {"retail": "89.90"}}})]
}

struct Till {
    running: storeterm::daemon::Running,
    cashier: Api,
    _crm: TestCrm,
    _dir: tempfile::TempDir,
}

async fn start_till(printer: &str) -> Till {
    let crm = TestCrm::start().await;
    crm.add_page(catalog());
    let dir = tempfile::tempdir().unwrap();
    let lane = "[[lanes]]\nid = \"1\"\nprinter = \"printer-1\"\n";
    let extra = format!("[[devices]]\nid = \"printer-1\"\nkind = \"printer\"\n{printer}\n{}", crm.config(30));
    let text = config_text("127.0.0.1:0", &dir.path().join("data"), lane, &extra);
    let running = storeterm::daemon::start(parse_config(&text)).await.expect("storeterm starts");
    let base = format!("http://{}", running.addr);
    let admin = Api::new(&base, ADMIN);
    eventually("catalog pulled", Duration::from_secs(10), || async {
        let (_, status) = admin.get("/api/v1/admin/status").await;
        (status["catalog"]["items"] == 1).then_some(())
    })
    .await;
    Till {
        running,
        cashier: Api::new(&base, CASHIER),
        _crm: crm,
        _dir: dir,
    }
}

/// Sell one milk for cash (the drawer is to open with the receipt).
async fn sell(cashier: &Api) {
    let (status, body) = cashier.scan("1", "4601234567893").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = cashier.pay("1", "cash", "100").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("closed")), "{body}");
}

async fn printer_view(cashier: &Api) -> Value {
    let (status, body) = cashier.get("/api/v1/lanes/1/printer").await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn out_of_paper_keeps_the_receipt_queued_and_prints_it_once_when_loaded() {
    let printer = PtyPrinter::start();
    printer.set_condition(Condition::PaperOut);
    let till = start_till(&format!(
        "transport = \"serial\"\npath = \"{}\"\nbaud = 115200\nflow_control = \"none\"\nprofile = \"generic-80mm\"",
        printer.path.display()
    ))
    .await;
    sell(&till.cashier).await;

    // The printer says "paper end"; nothing is sent, the cashier sees why, the job waits. (The
    // printer's status reaches the screen a moment before the job's reason is saved: wait for
    // both.)
    let view = eventually(
        "the cashier sees the paper is out and why the job waits",
        Duration::from_secs(10),
        || async {
            let view = printer_view(&till.cashier).await;
            let out = view["status"].as_str().is_some_and(|s| s.contains("нет бумаги"));
            let why = view["queued"][0]["error"].as_str().is_some_and(|e| e.contains("нет бумаги"));
            (out && why).then_some(view)
        },
    )
    .await;
    assert_eq!(view["queued"].as_array().unwrap().len(), 1, "{view}");
    assert_eq!(view["queued"][0]["state"], "queued");
    // Four more status rounds, and still nothing on paper: at each the worker asked again and
    // decided again not to send. They are at least two seconds apart (the worker's retry), so
    // by the last the sale is older than the drawer's five-second freshness.
    let asked = printer.status_requests();
    printer
        .wait_until("four more status rounds", |p| (p.status_requests() >= asked + 4 * 4).then_some(()))
        .await;
    assert_eq!(printer.paper(), Vec::<u8>::new(), "nothing may reach a printer without paper");

    // Paper is loaded: the receipt prints exactly once.
    printer.set_condition(Condition::Ready);
    printer.wait_until("the receipt printed", |p| (p.cuts() == 1).then_some(())).await;
    let view = eventually("the queue is empty", Duration::from_secs(10), || async {
        let view = printer_view(&till.cashier).await;
        view["queued"].as_array().unwrap().is_empty().then_some(view)
    })
    .await;
    assert_eq!(view["decisions"], json!([]));
    assert_eq!(view["status"], "готов");
    // Not again. After the receipt the worker asks for the status on the same connection (4
    // requests), later once more as an idle printer (4), and passes over its queue again
    // before its next idle round: the first request of that round proves the pass was made.
    // Idle rounds are ten seconds apart, so this takes ten to twenty.
    let at_cut = printer.requests_before_cuts()[0];
    printer
        .wait_until_within("a later pass of the worker", WORKER_PASS, |p| {
            (p.status_requests() > at_cut + 8).then_some(())
        })
        .await;
    let paper = printer.paper();
    assert_eq!(printer.cuts(), 1, "printed once, not again");
    assert_eq!(paper.windows(2).filter(|w| w == &[0x1B, 0x40]).count(), 1);
    let milk = cp866("Молоко 3,2% 1 л");
    assert!(paper.windows(milk.len()).any(|w| w == milk.as_slice()));
    // The sale was minutes ago by the printer's clock: the drawer does not spring open now.
    assert!(!paper.windows(2).any(|w| w == [0x1B, 0x70]), "a stale drawer kick must be dropped");
    till.running.stop().await;
}

#[tokio::test]
async fn a_connection_dropped_mid_job_leaves_it_unknown_until_a_person_decides() {
    let printer = TestPrinter::start().await;
    printer.drop_next_job_after(40);
    let till = start_till(&format!("transport = \"tcp\"\naddress = \"{}\"", printer.addr)).await;
    let cashier = &till.cashier;
    sell(cashier).await;

    let view = eventually("the job is unknown", Duration::from_secs(15), || async {
        let view = printer_view(cashier).await;
        (view["decisions"].as_array().unwrap().len() == 1).then_some(view)
    })
    .await;
    let job = &view["decisions"][0];
    assert_eq!(job["state"], "unknown", "{view}");
    assert_eq!(job["needs_decision"], true);
    let id = job["id"].as_str().unwrap().to_string();
    // Not re-sent on its own. After the broken job the worker asks for the idle printer's
    // status on a connection of its own, and passes over its queue again before its next idle
    // round: the second connection after the job's proves the pass was made. Idle rounds are
    // ten seconds apart, so this takes ten to twenty.
    let job_connection = printer.job_connections()[0];
    printer
        .wait_until_within("a later pass of the worker", WORKER_PASS, |p| {
            (p.accepted_connections() >= job_connection + 2).then_some(())
        })
        .await;
    assert_eq!(printer.jobs().len(), 1, "only the broken-off attempt reached the printer");
    assert_eq!(printer.jobs()[0].len(), 40);

    // The cashier asks for a reprint: a copy marked КОПИЯ, without the drawer.
    let (status, copy) = cashier.post(&format!("/api/v1/print-jobs/{id}/reprint"), json!({})).await;
    assert_eq!(status, 200, "{copy}");
    assert_eq!((copy["copy"].as_bool(), copy["state"].as_str()), (Some(true), Some("queued")));
    let jobs = printer
        .wait_until("the copy printed", |p| {
            let jobs = p.jobs();
            (jobs.len() == 2).then_some(jobs)
        })
        .await;
    let mark = cp866("КОПИЯ");
    assert!(jobs[1].windows(mark.len()).any(|w| w == mark.as_slice()));
    assert!(!jobs[1].windows(2).any(|w| w == [0x1B, 0x70]));
    assert!(jobs[1].ends_with(&[0x0A, 0x1D, 0x56, 66, 4]));

    // A second tap makes no third print; nothing waits for a decision any more.
    let (status, body) = cashier.post(&format!("/api/v1/print-jobs/{id}/reprint"), json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("already_reprinted")), "{body}");
    let (status, body) = cashier.post("/api/v1/print-jobs/not-an-id/reprint", json!({})).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = cashier
        .post(&format!("/api/v1/print-jobs/{}/confirm", uuid_zero()), json!({}))
        .await;
    assert_eq!(status, 404);
    eventually("no decisions left", Duration::from_secs(5), || async {
        printer_view(cashier).await["decisions"]
            .as_array()
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
    let (status, _) = Api::new(format!("http://{}", till.running.addr), "wrong")
        .get("/api/v1/lanes/1/printer")
        .await;
    assert_eq!(status, 401);
    till.running.stop().await;
}

fn uuid_zero() -> &'static str {
    "00000000-0000-0000-0000-000000000000"
}

#[tokio::test]
async fn print_test_sends_a_page_only_to_a_ready_printer() {
    use storeterm::devices::printer::direct::{PrintTestError, TestPage, print_test};
    let printer = TestPrinter::start().await;
    let dir = tempfile::tempdir().unwrap();
    let devices = format!(
        "[[devices]]\nid = \"printer-1\"\nkind = \"printer\"\ntransport = \"tcp\"\naddress = \"{}\"\nprofile = \"epson-tm-t20iii\"\n",
        printer.addr
    );
    let config = parse_config(&config_text("127.0.0.1:0", &dir.path().join("data"), "", &devices));
    let report = print_test(&config, "printer-1", TestPage::Codepages).await.unwrap();
    assert!(report.status.is_known() && !report.status.blocks_printing());
    assert!(
        report.preview.iter().any(|l| l.contains("Қазақша: ә ғ қ ң ө ұ ү һ")),
        "{:?}",
        report.preview
    );
    let page = printer.wait_until("the page arrived", |p| p.jobs().first().cloned()).await;
    assert_eq!(page.len(), report.bytes);
    assert_eq!(report.firmware.as_deref(), Some("1.02 TEST"));
    printer.set_condition(Condition::PaperOut);
    let err = print_test(&config, "printer-1", TestPage::Status).await.unwrap_err();
    assert!(matches!(err, PrintTestError::NotReady { .. }), "{err}");
    assert!(err.to_string().contains("нет бумаги"), "{err}");
    assert!(print_test(&config, "nope", TestPage::Status).await.is_err());
    // Both connections are over (the second one only asked for the status).
    printer
        .wait_until("both test connections closed", |p| (p.closed_connections() >= 2).then_some(()))
        .await;
    assert_eq!(printer.jobs().len(), 1, "nothing sent to a printer without paper");
}

#[tokio::test]
async fn the_virtual_printer_runs_out_of_paper_on_request() {
    let till = start_till("transport = \"virtual\"").await;
    let admin = Api::new(format!("http://{}", till.running.addr), ADMIN);
    let (status, body) = admin.post("/api/v1/admin/printers/printer-1/paper", json!({"loaded": false})).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = till
        .cashier
        .post("/api/v1/admin/printers/printer-1/paper", json!({"loaded": true}))
        .await;
    assert_eq!(status, 403, "only the admin plays with the paper");
    sell(&till.cashier).await;
    let view = eventually("paper out on the till", Duration::from_secs(10), || async {
        let view = printer_view(&till.cashier).await;
        (view["queued"].as_array().unwrap().len() == 1 && view["status"].as_str().is_some_and(|s| s.contains("нет бумаги"))).then_some(view)
    })
    .await;
    assert_eq!(view["queued"][0]["state"], "queued");
    admin.post("/api/v1/admin/printers/printer-1/paper", json!({"loaded": true})).await;
    eventually("printed once the paper is back", Duration::from_secs(10), || async {
        let (_, s) = admin.get("/api/v1/admin/status").await;
        (s["paper"].as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    assert_eq!(printer_view(&till.cashier).await["status"], "готов");
    till.running.stop().await;
}

#[tokio::test]
async fn a_usb_printer_that_is_not_plugged_in_keeps_the_receipt_queued() {
    let till = start_till("transport = \"usb\"\nvid = \"ffff\"\npid = \"fffe\"\nprofile = \"epson-tm-t20iii\"").await;
    sell(&till.cashier).await;
    let view = eventually("the job waits with the reason", Duration::from_secs(10), || async {
        let view = printer_view(&till.cashier).await;
        view["queued"][0]["error"].is_string().then_some(view)
    })
    .await;
    assert_eq!(view["queued"][0]["state"], "queued", "{view}");
    assert_eq!(view["state"], "disconnected", "{view}");
    let reason = view["queued"][0]["error"].as_str().unwrap();
    assert!(reason.contains("ffff:fffe") || reason.contains("USB"), "{reason}");
    till.running.stop().await;
}

#[tokio::test]
async fn closing_the_shift_prints_its_z_report() {
    let till = start_till("transport = \"virtual\"").await;
    let admin = Api::new(format!("http://{}", till.running.addr), ADMIN);
    sell(&till.cashier).await;
    let (status, shift) = till.cashier.post("/api/v1/lanes/1/shift/close", json!({})).await;
    assert_eq!(status, 200, "{shift}");
    let paper = eventually("the Z report printed", Duration::from_secs(10), || async {
        let (_, s) = admin.get("/api/v1/admin/status").await;
        let papers = s["paper"].as_array().unwrap().clone();
        (papers.len() == 2).then_some(papers)
    })
    .await;
    let lines: Vec<String> = paper[1]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().trim().to_string())
        .collect();
    assert!(lines.iter().any(|l| l.contains("ОТЧЁТ О ЗАКРЫТИИ СМЕНЫ (Z)")), "{lines:?}");
    let row = |label: &str| lines.iter().find(|l| l.starts_with(label)).cloned().unwrap_or_default();
    assert!(row("Чеков продажи").ends_with(" 1"), "{lines:?}");
    assert!(row("Продажи").ends_with("89.90"), "{lines:?}");
    assert!(row("Наличными").ends_with("100.00"), "{lines:?}");
    assert!(row("Сдача выдана").ends_with("10.10"), "{lines:?}");
    assert!(row("Наличных в кассе").ends_with("89.90"), "{lines:?}");
    assert!(row("В т.ч. НДС 10%").ends_with("8.17"), "{lines:?}");
    till.running.stop().await;
}
