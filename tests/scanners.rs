//! Scanners for real, end to end: the daemon started from a config, scans arriving through
//! real pseudo-terminals (serial framing, hot-plug) and through the API (a keyboard wedge
//! typing into the cashier's page), every kind of code a shop scans, and what reaches the CRM.

mod common;

use common::crm::TestCrm;
use common::{ADMIN, Api, CASHIER, config_text, eventually, parse_config, wait_device};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use storeterm::devices::DeviceState;
use storeterm::devices::pty::Pty;
use tokio::io::AsyncWriteExt;

const CRYPTO44: &str = "MDEGCCqGSM49AwEHA0IABFm4HA6dbsR5mIkb6dTzpEk=";

fn item(id: &str, name: &str, data: Value) -> Value {
    let mut d = json!({"sku": id, "name": name, "unit": "pcs", "vat": "20", "weighted": false, "marked": false,
        "barcodes": [], "prices": {"retail": "100.00"}});
    for (k, v) in data.as_object().unwrap() {
        d[k] = v.clone();
    }
    json!({"kind": "item", "op": "upsert", "id": id, "data": d})
}

fn catalog() -> Vec<Value> {
    vec![
        item(
            "I-1001",
            "Молоко 3,2% 1 л",
            json!({"barcodes": ["4601234567893"], "prices": {"retail": "89.90"}}),
        ),
        item(
            "I-1009",
            "Кофе растворимый 95 г",
            json!({"barcodes": ["0036000291452"], "prices": {"retail": "429.00"}}),
        ),
        item(
            "I-2001",
            "Сыр Российский",
            json!({"unit": "kg", "weighted": true, "plu": "123", "prices": {"retail": "899.00"}}),
        ),
        item(
            "I-3001",
            "Кроссовки беговые",
            json!({"marked": true, "mark_group": "shoes", "barcodes": ["4607000000014"], "prices": {"retail": "4990.00"}}),
        ),
        item(
            "I-3002",
            "Вода питьевая 0,5 л",
            json!({"marked": true, "mark_group": "water", "barcodes": ["4607000000021"], "prices": {"retail": "45.00"}}),
        ),
    ]
}

fn shoe_mark(serial: &str) -> String {
    format!("010460700000001421{serial}\u{1d}91EE06\u{1d}92{CRYPTO44}")
}

/// Text as a keyboard-wedge scanner types it on a desktop whose layout is ЙЦУКЕН: each US key
/// position produces the Russian character on it (xkb `ru` layout, main block).
fn through_russian_layout(text: &str) -> String {
    const US: &str = "`qwertyuiop[]asdfghjkl;'zxcvbnm,./~QWERTYUIOP{}ASDFGHJKL:\"ZXCVBNM<>?@#$^&|";
    const RU: &str = "ёйцукенгшщзхъфывапролджэячсмитьбю.ЁЙЦУКЕНГШЩЗХЪФЫВАПРОЛДЖЭЯЧСМИТЬБЮ,\"№;:?/";
    text.chars()
        .map(|c| US.chars().position(|u| u == c).map_or(c, |i| RU.chars().nth(i).unwrap()))
        .collect()
}

struct Till {
    running: storeterm::daemon::Running,
    cashier: Api,
    admin: Api,
    _dir: tempfile::TempDir,
}

async fn start_till(lane: &str, extra: &str) -> Till {
    let dir = tempfile::tempdir().unwrap();
    let text = config_text("127.0.0.1:0", &dir.path().join("data"), lane, extra);
    let running = storeterm::daemon::start(parse_config(&text)).await.expect("storeterm starts");
    let base = format!("http://{}", running.addr);
    Till {
        cashier: Api::new(&base, CASHIER),
        admin: Api::new(&base, ADMIN),
        running,
        _dir: dir,
    }
}

async fn wait_catalog(admin: &Api, items: u64) {
    eventually("catalog pulled from the CRM", Duration::from_secs(10), || async {
        let (_, status) = admin.get("/api/v1/admin/status").await;
        (status["catalog"]["items"] == items).then_some(())
    })
    .await;
}

const SCANNING: &str = "[scanning]\ncell_prefixes = [\"C-\"]\nloyalty_prefixes = [\"277\"]\n";

#[tokio::test]
async fn weighed_marked_upc_and_russian_layout_codes_are_sold_and_reported() {
    let crm = TestCrm::start().await;
    crm.add_page(catalog());
    let till = start_till("[[lanes]]\nid = \"1\"\n", &format!("{SCANNING}{}", crm.config(30))).await;
    let (cashier, admin) = (&till.cashier, &till.admin);
    wait_catalog(admin, 5).await;

    // A marked item: its plain EAN is refused, its marking code sells one pack.
    let (status, body) = cashier.scan("1", "4607000000014").await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("mark_required")), "{body}");
    let (status, body) = cashier.scan("1", &shoe_mark("5abcDEF+12/=")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lines"][0]["item"], "I-3001");
    assert_eq!(body["lines"][0]["mark"]["serial"], "5abcDEF+12/=");
    // The same pack again: refused, nothing changes.
    let (status, body) = cashier.scan("1", &shoe_mark("5abcDEF+12/=")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("duplicate_mark")), "{body}");
    // A second pack, typed by a wedge scanner through the Russian layout: recovered.
    let mangled = through_russian_layout(&shoe_mark("G+mgsHw<DiLN_"));
    assert!(mangled.contains("П+ьпыРц"), "{mangled}");
    let (status, body) = cashier.scan("1", &mangled).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lines"][1]["mark"]["serial"], "G+mgsHw<DiLN_");
    // A short-form (93) mark of packaged water.
    let (status, body) = cashier.scan("1", "]d2010460700000002121aB3cDe5fGh7iJ\u{1d}93Zx9+").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lines"][2]["mark"]["serial"], "aB3cDe5fGh7iJ");

    // A scale label: PLU 00123 finds the cheese by its PLU "123"; 1250 g is 1.250 kg.
    let (status, body) = cashier.scan("1", "2200123012500").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lines"][3]["item"], "I-2001");
    assert_eq!(body["lines"][3]["qty"], "1.250");
    assert_eq!(body["lines"][3]["sum"], "1123.75");
    let (status, body) = cashier.scan("1", "2299999012509").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("unknown_item")), "{body}");

    // UPC-A finds the item the CRM stored as EAN-13.
    let (status, body) = cashier.scan("1", "036000291452").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lines"][4]["item"], "I-1009");

    // A cell label at a till is refused; a loyalty card attaches to the receipt.
    let (status, body) = cashier.scan("1", "C-01-02-3").await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("not_an_item")), "{body}");
    let (status, body) = cashier.scan("1", "2770000001236").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["loyalty_card"], "2770000001236");
    assert_eq!(body["lines"].as_array().unwrap().len(), 5);

    // A broken mark is refused with its reason.
    let (status, body) = cashier.scan("1", "0104607000000014215abc\u{1d}91EE06").await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_barcode")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("92"), "{body}");

    let total = cashier.receipt("1").await["total"].as_str().unwrap().to_string();
    assert_eq!(total, "11577.75");
    let (status, body) = cashier.pay("1", "card", &total).await;
    assert_eq!(status, 200, "{body}");

    let sale = eventually("the sale at the CRM", Duration::from_secs(10), || async {
        crm.stored_of("sale").first().cloned()
    })
    .await;
    let data = &sale.body["data"];
    assert_eq!(data["loyalty_card"], "2770000001236");
    assert_eq!(data["lines"][0]["mark"]["code"], shoe_mark("5abcDEF+12/="));
    assert_eq!(data["lines"][0]["mark"]["gtin"], "04607000000014");
    assert_eq!(data["lines"][1]["mark"]["code"], shoe_mark("G+mgsHw<DiLN_"));
    assert_eq!(data["lines"][2]["mark"]["code"], "010460700000002121aB3cDe5fGh7iJ\u{1d}93Zx9+");
    assert_eq!(data["lines"][3]["qty"], "1.250");
    assert!(data["lines"][4].get("mark").is_none());
    till.running.stop().await;
}

fn serial_scanner(path: &Path, extra: &str) -> String {
    format!(
        "[[devices]]\nid = \"scanner-1\"\nkind = \"scanner\"\ntransport = \"serial\"\npath = \"{}\"\n{extra}",
        path.display()
    )
}

const BOUND_LANE: &str = "[[lanes]]\nid = \"1\"\nscanner = \"scanner-1\"\n";

/// Item names on the open receipt, in line order.
async fn names(api: &Api) -> Vec<String> {
    let receipt = api.receipt("1").await;
    receipt["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| format!("{}×{}", l["item"].as_str().unwrap(), l["qty"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn serial_framing_stx_prefix_tab_suffix_and_a_mark_with_gs() {
    let crm = TestCrm::start().await;
    crm.add_page(catalog());
    let mut pty = Pty::open().unwrap();
    let devices = serial_scanner(&pty.slave_path, "prefix = \"\\u0002\"\nsuffix = \"tab\"\n");
    let till = start_till(BOUND_LANE, &format!("{devices}{}", crm.config(30))).await;
    wait_catalog(&till.admin, 5).await;
    wait_device(&till.running, "scanner-1", DeviceState::Connected).await;
    let mut events = till.cashier.events("/api/v1/lanes/1/events").await;
    events.next_named("receipt").await;

    // Two scans in one write and one scan written in three pieces; the mark keeps its GS.
    // (Whether the pieces arrive in one read or three is up to the kernel; the framer's own
    // tests split every stream at every byte.)
    pty.master.write_all(b"\x024601234567893\t\x02]E00036000291452\t").await.unwrap();
    let mark = shoe_mark("5abcDEF+12/=");
    let bytes = format!("\u{2}]d2{mark}\t").into_bytes();
    for chunk in bytes.chunks(20) {
        pty.master.write_all(chunk).await.unwrap();
    }
    let receipt = eventually("three scans rung up", Duration::from_secs(10), || async {
        let r = till.cashier.receipt("1").await;
        (r["lines"].as_array().unwrap().len() == 3).then_some(r)
    })
    .await;
    assert_eq!(receipt["lines"][2]["mark"]["code"], mark);
    assert_eq!(names(&till.cashier).await, ["I-1001×1", "I-1009×1", "I-3001×1"]);
    till.running.stop().await;
}

#[tokio::test]
async fn serial_without_suffix_ends_each_scan_at_the_gap() {
    let crm = TestCrm::start().await;
    crm.add_page(catalog());
    let mut pty = Pty::open().unwrap();
    let devices = serial_scanner(&pty.slave_path, "suffix = \"none\"\ngap_ms = 40\n");
    let till = start_till(BOUND_LANE, &format!("{devices}{}", crm.config(30))).await;
    wait_catalog(&till.admin, 5).await;
    wait_device(&till.running, "scanner-1", DeviceState::Connected).await;
    // Without a suffix only the pause ends a scan: the first is rung up once the scanner has
    // been quiet for the gap, and only then comes the second (in one write, so no pause of
    // ours can cut it in two).
    let mut events = till.cashier.events("/api/v1/lanes/1/events").await;
    events.next_named("receipt").await;
    pty.master.write_all(b"4601234567893").await.unwrap();
    assert_eq!(events.next_named("receipt").await["lines"][0]["item"], "I-1001");
    pty.master.write_all(b"036000291452").await.unwrap();
    events.next_named("receipt").await;
    assert_eq!(names(&till.cashier).await, ["I-1001×1", "I-1009×1"]);
    till.running.stop().await;
}

/// A USB-COM scanner unplugged and plugged back: its stable name (here a symlink, as udev
/// makes `/dev/serial/by-id/…`) points at a new node. The device shows "disconnected", is
/// reopened within a second after it reappears, and every scan is rung up exactly once.
#[tokio::test]
async fn an_unplugged_serial_scanner_comes_back_with_no_lost_or_doubled_scan() {
    let crm = TestCrm::start().await;
    crm.add_page(catalog());
    let links = tempfile::tempdir().unwrap();
    let by_id = links.path().join("usb-Honeywell_Imaging___Mobility_1450g_17123B4567-if00");
    let plug = |pty: &Pty| {
        let tmp = links.path().join("new-link");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&pty.slave_path, &tmp).unwrap();
        std::fs::rename(&tmp, &by_id).unwrap();
    };
    let mut first = Pty::open().unwrap();
    plug(&first);
    let till = start_till(BOUND_LANE, &format!("{}{}", serial_scanner(&by_id, ""), crm.config(30))).await;
    wait_catalog(&till.admin, 5).await;
    wait_device(&till.running, "scanner-1", DeviceState::Connected).await;
    first.master.write_all(b"4601234567893\r").await.unwrap();
    eventually("the first scan", Duration::from_secs(5), || async {
        (names(&till.cashier).await == ["I-1001×1"]).then_some(())
    })
    .await;

    // Unplug: half a scan is on the wire when the cable goes; it must not be sold. (Bytes
    // written before the master closes are still read by the other end before its hang-up.)
    first.master.write_all(b"00360002").await.unwrap();
    drop(first);
    std::fs::remove_file(&by_id).unwrap();
    wait_device(&till.running, "scanner-1", DeviceState::Disconnected).await;

    // Plug back in (a new pty, as a new ttyACM node would be). How soon the supervisor tries
    // again (never more than half a second apart) is proven on paused time in
    // `devices::supervisor`; here, that it comes back at all.
    let mut second = Pty::open().unwrap();
    plug(&second);
    wait_device(&till.running, "scanner-1", DeviceState::Connected).await;
    second.master.write_all(b"036000291452\r4601234567893\r").await.unwrap();
    eventually("the scans after the replug", Duration::from_secs(10), || async {
        (names(&till.cashier).await == ["I-1001×2", "I-1009×1"]).then_some(())
    })
    .await;
    // Nothing else trickles in afterwards: scans are rung up in order, so once one more scan
    // is on the receipt, anything left over from before would be there too.
    second.master.write_all(b"4601234567893\r").await.unwrap();
    eventually("one more scan", Duration::from_secs(10), || async {
        (names(&till.cashier).await != ["I-1001×2", "I-1009×1"]).then_some(())
    })
    .await;
    assert_eq!(names(&till.cashier).await, ["I-1001×3", "I-1009×1"]);
    till.running.stop().await;
}

/// The claim model: a scanner bound to lane 2 never adds lines to lane 1, and an unbound
/// scanner is not even opened.
#[tokio::test]
async fn a_scan_goes_only_to_the_lane_its_scanner_is_bound_to() {
    let crm = TestCrm::start().await;
    crm.add_page(catalog());
    let mut pty = Pty::open().unwrap();
    let spare = Pty::open().unwrap();
    let lanes = "[[lanes]]\nid = \"1\"\n[[lanes]]\nid = \"2\"\nscanner = \"scanner-1\"\n";
    let devices = format!(
        "{}[[devices]]\nid = \"spare\"\nkind = \"scanner\"\ntransport = \"serial\"\npath = \"{}\"\n",
        serial_scanner(&pty.slave_path, ""),
        spare.slave_path.display()
    );
    let till = start_till(lanes, &format!("{devices}{}", crm.config(30))).await;
    wait_catalog(&till.admin, 5).await;
    wait_device(&till.running, "scanner-1", DeviceState::Connected).await;
    wait_device(&till.running, "spare", DeviceState::Disconnected).await;
    pty.master.write_all(b"4601234567893\r").await.unwrap();
    eventually("the scan on lane 2", Duration::from_secs(5), || async {
        let r = till.cashier.receipt("2").await;
        (r["lines"].as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    assert_eq!(till.cashier.receipt("1").await["lines"], json!([]));
    till.running.stop().await;
}
