//! The virtual printer's ESC/POS interpreter survives any byte stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use storeterm::devices::printer::preview;
use storeterm::devices::profiles::Profiles;

// Parsing every built-in profile per input would be most of each run; do it once.
static PROFILES: OnceLock<Profiles> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let profiles = PROFILES.get_or_init(|| Profiles::load(None).expect("built-in profiles"));
    let profile = profiles.printer("generic-58mm").expect("generic-58mm");
    let _ = preview::render(data, profile);
});
