//! Whatever is posted to the webhook URL, checking and mapping it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use storeterm::devices::telephony::webhook;

fuzz_target!(|data: &[u8]| {
    let at = jiff::Timestamp::UNIX_EPOCH;
    let zone = jiff::tz::TimeZone::fixed(jiff::tz::offset(3));
    let mut guard = webhook::ReplayGuard::new();
    if let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(data) {
        let _ = webhook::zadarma(&form, form.get("sig").map(String::as_str), "secret", at, &zone);
        // Correctly signed, so the time, event and call-id handling run on arbitrary fields.
        let text = ["caller_id", "called_did", "call_start"].map(|k| form.get(k).map(String::as_str).unwrap_or("")).concat();
        let signature = webhook::zadarma_signature(&text, "secret");
        if let Ok(n) = webhook::zadarma(&form, Some(&signature), "secret", at, &zone) {
            let _ = guard.admit(webhook::request_digest(&[data]), &n, at);
        }
        let _ = webhook::mango(&form, "events/call", "key", "salt", at);
    }
    // A correctly signed Mango event with arbitrary JSON exercises the event mapping itself.
    let json = String::from_utf8_lossy(data).into_owned();
    let sign = webhook::mango_sign("key", &json, "salt");
    let form: HashMap<String, String> =
        [("vpbx_api_key".to_string(), "key".to_string()), ("sign".to_string(), sign), ("json".to_string(), json)].into();
    let _ = webhook::mango(&form, "events/call", "key", "salt", at);
});
