//! The real device read paths, end to end, against devices that umockdev emulates: sysfs
//! enumeration by USB ids, `open(2)` of the node, the hidraw ioctl, `poll(2)` and `read(2)`
//! of input reports — the code a plugged-in scanner runs through, with no scanner plugged in.
//!
//! umockdev (Debian package `umockdev`) works by `LD_PRELOAD`: `umockdev-run` builds a fake
//! `/sys` and `/dev` and runs a program in them. Each test therefore runs twice: outside the
//! testbed it starts this same test binary again under `umockdev-run` with the device
//! description and the recorded traffic, and checks that the inner run passed; inside
//! (`UMOCKDEV_DIR` is set) it does the real work. `.ci/run` installs umockdev; a bare
//! `cargo test` skips these tests.
//!
//! The device description (`tests/fixtures/umockdev/honeywell-hidpos.umockdev`) is written in
//! the format `umockdev-record` prints, after the sysfs layout of a Honeywell 1900 in HID POS
//! mode; the reports it sends are the ones recorded from a Honeywell 1602g
//! (`tests/fixtures/scanners/honeywell-1602g-revinf.hex`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use storeterm::devices::scanner::{self, Frame, ScanEvent, ScannerSetup};
use storeterm::devices::transport;
use tokio::sync::mpsc;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The recorded HID reports as an umockdev script: one `r` (device → program) record per
/// report, 30 ms apart so that each arrives as its own `read(2)`, as hidraw delivers them.
fn hid_script(hex: &str) -> String {
    let mut script = String::new();
    for line in hex.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        script.push_str("r 30 ");
        for byte in line.split_whitespace().map(|b| u8::from_str_radix(b, 16).expect("hex fixture")) {
            // The script format escapes control bytes as `^` + (byte + 64), and `^` as "^`"
            // (its documentation says "<= 32", but a space is written as it is: `^` + 96 is
            // the escape of `^` itself).
            match byte {
                0..32 => {
                    script.push('^');
                    script.push(char::from(byte + 64));
                }
                b'^' => script.push_str("^`"),
                b => script.push(char::from(b)),
            }
        }
        script.push('\n');
    }
    script
}

/// Run `test` of this binary again inside an umockdev testbed made of `args`.
fn rerun_under_umockdev(test: &str, args: &[String]) {
    let exe = std::env::current_exe().expect("test binary path");
    let output = Command::new("umockdev-run")
        .args(args)
        .arg("--")
        .arg(exe)
        .args([test, "--exact", "--include-ignored", "--nocapture", "--test-threads=1"])
        .output()
        .expect("umockdev-run starts (install the Debian package umockdev)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "inside the testbed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the inner run ran the test:\n{stdout}\n{stderr}");
}

fn inside_testbed() -> bool {
    std::env::var_os("UMOCKDEV_DIR").is_some()
}

#[test]
#[ignore = "needs umockdev-run (Debian package umockdev)"]
fn a_hid_pos_scanner_is_found_by_usb_ids_and_its_reports_become_scans() {
    if !inside_testbed() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("reports.script");
        let hex = std::fs::read_to_string(fixtures().join("scanners/honeywell-1602g-revinf.hex")).unwrap();
        std::fs::write(&script, hid_script(&hex)).unwrap();
        let umockdev = fixtures().join("umockdev");
        rerun_under_umockdev(
            "a_hid_pos_scanner_is_found_by_usb_ids_and_its_reports_become_scans",
            &[
                format!("--device={}", umockdev.join("honeywell-hidpos.umockdev").display()),
                format!("--ioctl=/dev/hidraw3={}", umockdev.join("honeywell-hidpos.ioctl").display()),
                format!("--script=/dev/hidraw3={}", script.display()),
            ],
        );
        return;
    }

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        // Found by VID:PID and serial number through sysfs, as a configured `transport = "hid"`
        // scanner is — never by its node name.
        let device = transport::open_hid(0x0c2e, 0x0b87, Some("19110B4521"))
            .await
            .expect("the emulated scanner opens");
        assert!(
            transport::open_hid(0x0c2e, 0x0b87, Some("OTHER-SERIAL")).await.is_err(),
            "a scanner with another serial number is not taken for this one"
        );
        let config = common::parse_config(&common::config_text(
            "127.0.0.1:0",
            Path::new("/tmp/unused"),
            "",
            "[[devices]]\nid = \"hid-1\"\nkind = \"scanner\"\ntransport = \"hid\"\nvid = \"0c2e\"\npid = \"0b87\"\nserial = \"19110B4521\"\n",
        ));
        let setup = ScannerSetup::new(&config.devices[0], None);
        let (sink, mut scans) = mpsc::channel::<ScanEvent>(8);
        let reader = tokio::spawn(async move { scanner::read_hid_reports(&setup, device, &sink).await });
        let mut frames = Vec::new();
        while frames.len() < 2 {
            let scan = tokio::time::timeout(Duration::from_secs(10), scans.recv())
                .await
                .expect("scans arrive from the emulated scanner")
                .expect("reader still running");
            assert_eq!(scan.device, "hid-1");
            frames.push(scan.frame);
        }
        drop(scans);
        let Frame::Code(first) = &frames[0] else { panic!("{frames:?}") };
        // Six reports with the continuation flag on the first five became one scan.
        assert_eq!(first.len(), 3 + 5 * 56 + 9, "{first:?}");
        assert!(first.starts_with("]X0Product Name: Voyager 1602g\r\n"), "{first:?}");
        assert_eq!(frames[1], Frame::Code("]Z6REVINF\u{6}.".into()));
        let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
    });
}

#[test]
#[ignore = "needs umockdev-run (Debian package umockdev)"]
fn storeterm_devices_lists_the_scanner_with_its_profile_and_config() {
    if !inside_testbed() {
        let umockdev = fixtures().join("umockdev");
        rerun_under_umockdev(
            "storeterm_devices_lists_the_scanner_with_its_profile_and_config",
            &[format!("--device={}", umockdev.join("honeywell-hidpos.umockdev").display())],
        );
        return;
    }
    let output = Command::new(env!("CARGO_BIN_EXE_storeterm"))
        .arg("devices")
        .output()
        .expect("storeterm devices runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("/dev/hidraw3 [hidraw, HID POS] 0c2e:0b87"), "{text}");
    assert!(text.contains("transport = \"hid\""), "{text}");
    assert!(text.contains("serial = \"19110B4521\""), "{text}");
}
