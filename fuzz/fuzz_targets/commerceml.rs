//! Whatever 1C (or anything posing as it) uploads, reading it as CommerceML — sniffing the
//! encoding, both import passes, every section — never panics, never yields a batch larger
//! than asked, and the single-pass import accepts exactly the files the two-pass one does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::convert::Infallible;
use storeterm::domain::feed::Change;
use storeterm::sync::commerceml::import::{Batches, resolve, run_single_pass, survey};
use storeterm::sync::commerceml::parse::{Directory, Settings};

fuzz_target!(|data: &[u8]| {
    let settings = Settings::retail("Розничная", Some("Магазин".into()));
    let two_pass_ok = match survey(data, &settings, &mut |_| {})
        .and_then(|checked| resolve(&checked, &Directory::default(), &settings).map(|r| (checked, r)))
    {
        Ok((checked, resolution)) => {
            let batches = Batches::new(data, &settings, resolution, &checked, 3).expect("a checked file opens again");
            for batch in batches {
                match batch {
                    Ok(b) => assert!(b.len() <= 3),
                    // The same bytes read twice must read the same.
                    Err(e) => panic!("the apply pass failed where the check pass passed: {e}"),
                }
            }
            true
        }
        Err(_) => false,
    };
    let single = run_single_pass(
        data,
        &settings,
        &Directory::default(),
        3,
        &mut |_| {},
        &mut |b: Vec<Change>| -> Result<(), Infallible> {
            assert!(b.len() <= 3);
            Ok(())
        },
    );
    assert_eq!(single.is_ok(), two_pass_ok, "{:?}", single.err().map(|e| e.to_string()));
});
