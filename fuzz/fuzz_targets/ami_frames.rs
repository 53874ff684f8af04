//! Whatever a PBX (or something that is not one) sends on the manager port, framing it and
//! tracking calls from it never panics and always makes progress.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storeterm::devices::telephony::ami::{AmiTracker, FrameError, frame};
use storeterm::devices::telephony::calls::CallBook;

fuzz_target!(|data: &[u8]| {
    let _ = frame::parse_banner(data);
    let mut tracker = AmiTracker::new("fuzz");
    let mut book = CallBook::new();
    let mut rest = data;
    loop {
        match frame::parse(rest) {
            Ok((message, used)) => {
                assert!(used > 0 && used <= rest.len());
                rest = &rest[used..];
                for signal in tracker.event(&message, jiff::Timestamp::UNIX_EPOCH) {
                    let _ = book.apply(signal);
                }
            }
            Err(FrameError::Invalid { skip, .. }) => {
                assert!(skip > 0 && skip <= rest.len());
                rest = &rest[skip..];
            }
            Err(FrameError::Incomplete) => break,
        }
    }
});
