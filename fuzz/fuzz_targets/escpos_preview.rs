//! The virtual printer's ESC/POS interpreter survives any byte stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storeterm::devices::printer::preview;
use storeterm::devices::profiles::Profiles;

fuzz_target!(|data: &[u8]| {
    let profiles = Profiles::load(None).expect("built-in profiles");
    let profile = profiles.printer("generic-58mm").expect("generic-58mm");
    let _ = preview::render(data, profile);
});
