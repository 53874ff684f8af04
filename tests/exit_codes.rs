//! The binary's exit statuses: a configuration mistake is 78 (`EX_CONFIG`, which systemd does
//! not restart), a start that fails with a good configuration is 69 (`EX_UNAVAILABLE`).

mod common;

use common::config_text;
use std::process::Output;

fn storeterm(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_storeterm"))
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .expect("the binary runs")
}

fn write(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("storeterm.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_configuration_mistake_exits_78_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = config_text(
        "127.0.0.1:0",
        &dir.path().join("data"),
        "[[lanes]]\nid = \"1\"\nscanner = \"scanner-9\"\n",
        "",
    );
    let path = write(dir.path(), &bad);
    for command in ["check-config", "run"] {
        let out = storeterm(&[command, "--config", &path]);
        assert_eq!(out.status.code(), Some(78), "{command}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("lanes[0].scanner"), "{command}: {stderr}");
    }
    let missing = dir.path().join("nope.toml").display().to_string();
    assert_eq!(storeterm(&["run", "--config", &missing]).status.code(), Some(78));
}

#[test]
fn a_good_configuration_that_cannot_start_exits_69() {
    // The address is taken: nothing wrong with the file, a restart may well succeed.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(
        &taken.local_addr().unwrap().to_string(),
        &dir.path().join("data"),
        "[[lanes]]\nid = \"1\"\n",
        "",
    );
    let path = write(dir.path(), &text);
    assert_eq!(storeterm(&["check-config", "--config", &path]).status.code(), Some(0));
    let out = storeterm(&["run", "--config", &path]);
    assert_eq!(out.status.code(), Some(69), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen"), "{out:?}");
}
