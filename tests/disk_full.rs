//! A full disk: the sale that does not fit is refused cleanly (nothing acknowledged is lost),
//! `/healthz` says the store cannot write, and once space is freed storeterm writes again by
//! itself — no restart.
//!
//! The store lives on a small tmpfs mounted for the test, so the disk really fills: redb,
//! the lane journal and the kernel all see ENOSPC. Mounting needs root (CI runs as root).

mod common;

use common::crm::{Mode, TestCrm};
use common::{ADMIN, Api, CASHIER, config_text, eventually, parse_config};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A tmpfs of `mb` MiB, unmounted on drop.
struct SmallDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mb: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a tmpfs needs root (run this test as root, as CI does)");
        SmallDisk {
            path: dir.path().to_path_buf(),
            _dir: dir,
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fill the file system up to a few KiB with one file.
fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let free = nix_free(dir);
    let data = vec![0u8; 64 * 1024];
    let mut file = std::fs::File::create(&filler).unwrap();
    let mut written = 0u64;
    while written + 64 * 1024 < free {
        use std::io::Write;
        if file.write_all(&data).is_err() {
            break;
        }
        written += data.len() as u64;
    }
    let _ = file.sync_all();
    filler
}

fn nix_free(dir: &Path) -> u64 {
    let out = Command::new("df").arg("-B1").arg("--output=avail").arg(dir).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap()
}

#[tokio::test]
#[ignore = "needs root: mounts a small tmpfs"]
async fn a_full_disk_refuses_cleanly_and_recovers_when_space_is_back() {
    let disk = SmallDisk::mount(24);
    let data = disk.path.join("store");
    let crm = TestCrm::start().await;
    crm.add_page(vec![json!({"kind": "item", "op": "upsert", "id": "I-1001", "data": {
        "sku": "I-1001", "name": "Молоко 3,2% 1 л", "unit": "pcs", "vat": "10",
        "barcodes": ["4601234567893"], "prices": {"retail": "89.90"}}})]);
    let text = config_text("127.0.0.1:0", &data, "[[lanes]]\nid = \"1\"", &crm.config(3600));
    let running = storeterm::daemon::start(parse_config(&text)).await.expect("storeterm");
    let api = Api::new(format!("http://{}", running.addr), CASHIER);
    let admin = Api::new(format!("http://{}", running.addr), ADMIN);
    eventually("catalog pulled", Duration::from_secs(10), || async {
        let (_, status) = admin.get("/api/v1/admin/status").await;
        (status["catalog"]["items"] == 1).then_some(())
    })
    .await;
    // Keep every sale in the outbox, to count them at the end.
    crm.set_mode(Mode::Unavailable);
    let mut acknowledged = 0u64;
    // One sale: a scan, then the card pays what the receipt still wants (a receipt left
    // open by a refused payment is finished, never doubled).
    let sell = |api: Api| async move {
        let (status, body) = api.get("/api/v1/lanes/1/receipt").await;
        let open = status == 200 && body["lines"].as_array().is_some_and(|l| !l.is_empty());
        if !open {
            let (status, body) = api.scan("1", "4601234567893").await;
            if status != 200 {
                return (status, body);
            }
        }
        let (_, receipt) = api.get("/api/v1/lanes/1/receipt").await;
        let due = receipt["remaining"].as_str().unwrap_or("89.90").to_string();
        let (status, body) = api.post("/api/v1/lanes/1/payments", json!({"method": "card", "amount": due})).await;
        if status == 200 && body["status"] != "closed" {
            return (500, body);
        }
        (status, body)
    };
    for _ in 0..5 {
        let (status, body) = sell(api.clone()).await;
        assert_eq!(status, 200, "{body}");
        acknowledged += 1;
    }

    let filler = fill(&disk.path);
    // Sales until the disk refuses one: every acknowledged one counts.
    let refused = loop {
        let (status, body) = sell(api.clone()).await;
        if status == 200 {
            acknowledged += 1;
            assert!(acknowledged < 10_000, "the disk never filled");
            continue;
        }
        break (status, body);
    };
    assert_eq!(refused.0, 503, "a full disk is a clean 503: {}", refused.1);
    assert_eq!(refused.1["error"]["code"], "disk_full", "{}", refused.1);
    let (status, health) = api.get("/healthz").await;
    assert_eq!(status, 503, "/healthz reports the store while it cannot write: {health}");

    std::fs::remove_file(filler).unwrap();
    let sold_meanwhile = std::sync::atomic::AtomicU64::new(0);
    eventually("the store writes again by itself", Duration::from_secs(20), || async {
        let (sold, _) = sell(api.clone()).await;
        if sold == 200 {
            sold_meanwhile.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let (status, _) = api.get("/healthz").await;
        (status == 200 && sold == 200).then_some(())
    })
    .await;
    acknowledged += sold_meanwhile.into_inner();
    for _ in 0..30 {
        let (status, body) = sell(api.clone()).await;
        assert_eq!(status, 200, "after space is back every sale works: {body}");
        acknowledged += 1;
    }
    running.stop().await;

    // Every acknowledged sale is in the outbox (the CRM took none), with its shift's opening.
    let store = storeterm::store::Store::open(&data).unwrap();
    let sales = store
        .outbox_pending(100_000)
        .unwrap()
        .into_iter()
        .filter(|d| d.doc.kind == storeterm::domain::document::DocumentKind::Sale)
        .count() as u64;
    assert_eq!(sales, acknowledged, "no acknowledged sale was lost");
}
