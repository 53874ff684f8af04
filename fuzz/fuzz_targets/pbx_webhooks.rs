//! Whatever is posted to the webhook URL, checking and mapping it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use storeterm::devices::telephony::webhook;

fuzz_target!(|data: &[u8]| {
    let at = jiff::Timestamp::UNIX_EPOCH;
    if let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(data) {
        let _ = webhook::zadarma(&form, form.get("sig").map(String::as_str), "secret", at);
        let _ = webhook::mango(&form, "events/call", "key", "salt", at);
    }
    // A correctly signed Mango event with arbitrary JSON exercises the event mapping itself.
    let json = String::from_utf8_lossy(data).into_owned();
    let sign = webhook::mango_sign("key", &json, "salt");
    let form: HashMap<String, String> =
        [("vpbx_api_key".to_string(), "key".to_string()), ("sign".to_string(), sign), ("json".to_string(), json)].into();
    let _ = webhook::mango(&form, "events/call", "key", "salt", at);
});
