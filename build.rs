//! Embeds every device profile in `devices/*.toml` into the binary, so a fresh install knows
//! all supported models without any files beside it.

use std::fmt::Write;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=devices");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("devices");
    let mut profiles: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("devices/ directory")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "toml").then(|| {
                let id = path.file_stem().unwrap().to_string_lossy().into_owned();
                (id, path.display().to_string())
            })
        })
        .collect();
    profiles.sort();
    let mut code = String::from("/// Built-in device profiles: (id, TOML text).\npub static EMBEDDED: &[(&str, &str)] = &[\n");
    for (id, path) in &profiles {
        writeln!(code, "    ({id:?}, include_str!({path:?})),").unwrap();
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("profiles.rs");
    std::fs::write(out, code).unwrap();
}
