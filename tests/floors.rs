//! The floors of the crate point down. A module may name the floors below it, never the ones
//! above: that is what keeps the pure shop rules testable without a runtime, the devices free of
//! persistence, and the store ignorant of who writes into it. This test reads the source, so a
//! forbidden `crate::…` path fails the suite the day it is written, not the day someone notices.

use std::path::{Path, PathBuf};

/// Each floor and the top-level modules it must not name.
/// `ops` (the admin's commands: backup, restore, verify, doctor) sits beside `daemon`, above
/// `http`: nothing below names it, and it does not name the composition root.
const FLOORS: &[(&str, &[&str])] = &[
    ("domain", &["app", "config", "daemon", "devices", "http", "ops", "store", "sync"]),
    ("devices", &["app", "daemon", "http", "ops", "store", "sync"]),
    ("store", &["app", "config", "daemon", "devices", "http", "ops", "sync"]),
    ("sync", &["app", "daemon", "devices", "http", "ops"]),
    ("app", &["daemon", "http", "ops"]),
    ("http", &["daemon", "ops"]),
    ("ops", &["daemon"]),
];

/// The `crate::<module>` paths in `source` that name one of `forbidden`, as `line: text`.
/// Comments are skipped: a doc comment may well say where a thing is built.
fn violations(source: &str, forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (no, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for (at, _) in code.match_indices("crate::") {
            // `crate::{a, b}` names several modules at once.
            let rest = &code[at + "crate::".len()..];
            let names: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group
                    .split(['}', ','])
                    .map(|part| part.trim().split("::").next().unwrap_or(""))
                    .collect(),
                None => vec![rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("")],
            };
            if names.iter().any(|name| forbidden.contains(name)) {
                found.push(format!("{}: {}", no + 1, line.trim()));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_floor_names_only_the_floors_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut report = Vec::new();
    for (floor, forbidden) in FLOORS {
        let mut files = Vec::new();
        rust_files(&src.join(floor), &mut files);
        assert!(!files.is_empty(), "src/{floor} has no Rust files: the floor map is out of date");
        for file in files {
            let source = std::fs::read_to_string(&file).expect("read source");
            for v in violations(&source, forbidden) {
                report.push(format!(
                    "{} (floor `{floor}`) {v}",
                    file.strip_prefix(&src).unwrap_or(&file).display()
                ));
            }
        }
    }
    assert!(report.is_empty(), "imports that point up a floor:\n{}", report.join("\n"));
}

#[test]
fn the_check_sees_every_way_of_naming_a_module() {
    let forbidden = ["store", "http"];
    assert_eq!(violations("use crate::store::Store;", &forbidden).len(), 1);
    assert_eq!(violations("use crate::{domain::lane, store::Store};", &forbidden).len(), 1);
    assert_eq!(violations("    let s: crate::http::AppState = todo;", &forbidden).len(), 1);
    assert_eq!(violations("use crate::domain::lane::Lane;", &forbidden).len(), 0);
    assert_eq!(violations("use crate::storefront::X;", &forbidden).len(), 0);
    assert_eq!(violations("/// built by `crate::http::serve`", &forbidden).len(), 0);
}
