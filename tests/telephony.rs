//! The operator's path end to end: a loopback Asterisk replaying recorded-style AMI streams
//! (tests/fixtures/ami), a loopback CRM with clients in its feed and live cards, storeterm's
//! operator event stream, lookups, leads and the `call` documents that reach the CRM.

mod common;

use common::ami::TestPbx;
use common::crm::TestCrm;
use common::office::{fixture, office};
use common::{ADMIN, Api, CASHIER, EventReader, eventually};
use serde_json::{Value, json};
use std::time::Duration;

async fn screen(api: &Api) -> EventReader {
    let mut events = api.events("/api/v1/operator/events").await;
    let (name, hello) = events.next().await;
    assert_eq!(name, "hello");
    let _ = hello;
    events
}

/// The next event, which must be `name`.
async fn expect(events: &mut EventReader, name: &str) -> Value {
    let (got, data) = events.next().await;
    assert_eq!(got, name, "expected {name}, got {got}: {data}");
    data
}

async fn call_documents(crm: &TestCrm, n: usize) -> Vec<Value> {
    eventually("call documents at the CRM", Duration::from_secs(10), || async {
        let docs = crm.stored_of("call");
        (docs.len() >= n).then(|| docs.into_iter().map(|d| d.body).collect::<Vec<_>>())
    })
    .await
}

#[tokio::test]
async fn trunk_call_to_one_extension_answered() {
    let mut pbx = TestPbx::start(&fixture("trunk-answered.ami"), true).await;
    let office = office(&pbx.config(true)).await;
    pbx.session_started().await;
    let mut olga = screen(&office.olga).await;
    let mut ivan = screen(&office.ivan).await;

    pbx.step();
    let ringing = expect(&mut olga, "ringing").await;
    assert_eq!(ringing["extension"], "101");
    assert_eq!(ringing["caller"], "89161234567");
    assert_eq!(ringing["e164"], "+79161234567");
    let cards = ringing["cards"].as_array().unwrap();
    assert_eq!(cards.len(), 2, "both clients on this number: {cards:?}");
    assert_eq!(cards[0]["client"], "C-77", "the most recently active first");
    assert_eq!(cards[0]["manager"], "Иванов И.");
    assert_eq!(cards[0]["debt"], "15200.00");
    assert_eq!(cards[0]["enriched"], false, "the local card comes first, at once");
    assert_eq!(cards[1]["client"], "C-90");

    let card = expect(&mut olga, "card").await;
    assert_eq!(card["cards"][0]["enriched"], true);
    assert_eq!(card["cards"][0]["overdue"], "3000.00");
    assert_eq!(card["cards"][0]["orders"][0]["number"], "ЗК-1012");

    pbx.step();
    let answered = expect(&mut olga, "answered").await;
    assert_eq!(
        (answered["extension"].as_str(), answered["mine"].as_bool()),
        (Some("101"), Some(true))
    );
    pbx.step();
    expect(&mut olga, "ended").await;

    let docs = call_documents(&office.crm, 1).await;
    let data = &docs[0]["data"];
    assert_eq!(data["direction"], "inbound");
    assert_eq!(
        data["caller"],
        json!({"raw": "89161234567", "e164": "+79161234567", "country": "RU"})
    );
    assert_eq!(data["clients"], json!(["C-77", "C-90"]));
    assert_eq!(data["rang"], json!(["101"]));
    assert_eq!(data["answered_by"], "101");
    assert_eq!(data["operator"], "Ольга");
    assert_eq!(data["missed"], false);
    assert!(data["ring_seconds"].as_i64().unwrap() >= 0 && data["talk_seconds"].as_i64().unwrap() >= 0);

    // Ivan's extensions never rang: his screen saw nothing of this call.
    let stray = tokio::time::timeout(Duration::from_millis(300), ivan.next()).await;
    assert!(stray.is_err(), "Ivan got {stray:?}");
    let seen = pbx.seen.lock().unwrap().clone();
    assert_eq!(seen.logins, ["storeterm events=call,agent"], "MD5 login with the event mask");
    assert!(seen.actions.is_empty() || seen.actions.contains(&"CoreShowChannels".to_string()));
    office.running.stop().await;
}

#[tokio::test]
async fn ring_group_one_answers_and_the_card_closes_for_the_others() {
    let mut pbx = TestPbx::start(&fixture("ring-group.ami"), false).await;
    let office = office(&pbx.config(false)).await;
    pbx.session_started().await;
    let mut olga = screen(&office.olga).await;
    let mut ivan = screen(&office.ivan).await;

    pbx.step();
    // 101 rings on two devices and Ivan's 102 and 103 ring: one card each.
    let for_olga = expect(&mut olga, "ringing").await;
    assert_eq!(for_olga["e164"], "+79161234567");
    assert_eq!(
        for_olga["caller"], "+7 (916) 123-45-67",
        "from ConnectedLineNum, not the ringing leg's own number"
    );
    let for_ivan = expect(&mut ivan, "ringing").await;
    assert_eq!(for_ivan["call"], for_olga["call"]);
    expect(&mut olga, "card").await;
    expect(&mut ivan, "card").await;

    pbx.step();
    let answered = expect(&mut olga, "answered").await;
    assert_eq!(
        (answered["extension"].as_str(), answered["mine"].as_bool()),
        (Some("102"), Some(false))
    );
    assert_eq!(answered["operator"], "Иван", "who answered, by name");
    let answered = expect(&mut ivan, "answered").await;
    assert_eq!(answered["mine"], true);
    pbx.step();
    expect(&mut ivan, "ended").await;
    let stray = tokio::time::timeout(Duration::from_millis(300), olga.next()).await;
    assert!(stray.is_err(), "Olga's card was closed; she got {stray:?}");

    let docs = call_documents(&office.crm, 1).await;
    let data = &docs[0]["data"];
    assert_eq!(data["rang"], json!(["101", "102", "103"]));
    assert_eq!(
        (data["answered_by"].as_str(), data["operator"].as_str()),
        (Some("102"), Some("Иван"))
    );
    office.running.stop().await;
}

#[tokio::test]
async fn caller_hangs_up_while_ringing_then_a_lead() {
    let mut pbx = TestPbx::start(&fixture("caller-hangup.ami"), false).await;
    let office = office(&pbx.config(false)).await;
    pbx.session_started().await;
    let mut olga = screen(&office.olga).await;
    pbx.step();
    let ringing = expect(&mut olga, "ringing").await;
    assert_eq!(ringing["e164"], "+74991234567");
    assert_eq!(ringing["cards"], json!([]), "an unknown number");
    pbx.step();
    let stopped = expect(&mut olga, "stopped").await;
    assert_eq!(stopped["call"], ringing["call"]);

    let docs = call_documents(&office.crm, 1).await;
    let data = &docs[0]["data"];
    assert_eq!((data["missed"].as_bool(), data["answered_by"].is_null()), (Some(true), true));
    assert_eq!(data["clients"], json!([]));

    // The operator calls back and files a lead from the card's form.
    let (status, lead) = office
        .olga
        .post(
            "/api/v1/operator/leads",
            json!({"phone": ringing["caller"], "name": "Сергей", "comment": "перезвонить про опт", "call": ringing["call"]}),
        )
        .await;
    assert_eq!(status, 201, "{lead}");
    let lead_docs = eventually("the lead at the CRM", Duration::from_secs(10), || async {
        let docs = office.crm.stored_of("lead");
        (!docs.is_empty()).then_some(docs)
    })
    .await;
    let data = &lead_docs[0].body["data"];
    assert_eq!(data["phone"]["e164"], "+74991234567");
    assert_eq!((data["name"].as_str(), data["operator"].as_str()), (Some("Сергей"), Some("Ольга")));
    assert_eq!(data["call"], ringing["call"]);
    assert_eq!(lead_docs[0].key, lead["lead"].as_str().unwrap());

    // Bad input changes nothing.
    let (status, body) = office.olga.post("/api/v1/operator/leads", json!({"phone": "<unknown>"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("hidden_number")));
    let base = office.olga.base.clone();
    let (status, _) = Api::new(&base, CASHIER)
        .post("/api/v1/operator/leads", json!({"phone": "89161234567"}))
        .await;
    assert_eq!(status, 403);
    office.running.stop().await;
}

#[tokio::test]
async fn queue_call_through_local_channels() {
    let mut pbx = TestPbx::start(&fixture("queue.ami"), false).await;
    let office = office(&pbx.config(false)).await;
    pbx.session_started().await;
    let mut olga = screen(&office.olga).await;
    pbx.step();
    let ringing = expect(&mut olga, "ringing").await;
    assert_eq!(
        (ringing["extension"].as_str(), ringing["e164"].as_str()),
        (Some("101"), Some("+79031234567"))
    );
    pbx.step();
    assert_eq!(expect(&mut olga, "answered").await["mine"], true);
    pbx.step();
    expect(&mut olga, "ended").await;
    let docs = call_documents(&office.crm, 1).await;
    assert_eq!(docs[0]["data"]["answered_by"], "101");
    office.running.stop().await;
}

#[tokio::test]
async fn asterisk_11_legacy_call() {
    let mut pbx = TestPbx::start(&fixture("legacy-asterisk11.ami"), false).await;
    let office = office(&pbx.config(false)).await;
    pbx.session_started().await;
    let mut olga = screen(&office.olga).await;
    pbx.step();
    let ringing = expect(&mut olga, "ringing").await;
    // St Petersburg, the number the phonenumber crate gets wrong; a stop-listed debtor.
    assert_eq!(ringing["e164"], "+78121234567");
    assert_eq!(ringing["cards"][0]["client"], "C-12");
    assert_eq!(ringing["cards"][0]["stop_list"], true);
    assert_eq!(ringing["cards"][0]["over_limit"], true);
    pbx.step();
    assert_eq!(expect(&mut olga, "answered").await["extension"], "101");
    pbx.step();
    expect(&mut olga, "ended").await;
    let docs = call_documents(&office.crm, 1).await;
    assert_eq!(docs[0]["data"]["clients"], json!(["C-12"]));
    office.running.stop().await;
}

#[tokio::test]
async fn reconnect_in_the_middle_of_a_call_resyncs_with_core_show_channels() {
    let mut pbx = TestPbx::start(&fixture("reconnect.ami"), false).await;
    let office = office(&pbx.config(false)).await;
    assert_eq!(pbx.session_started().await, 1);
    let mut olga = screen(&office.olga).await;
    pbx.step();
    let ringing = expect(&mut olga, "ringing").await;
    expect(&mut olga, "card").await;
    // The PBX drops the connection; 101 picks up while storeterm is away.
    assert_eq!(pbx.session_started().await, 2, "storeterm reconnects");
    let answered = expect(&mut olga, "answered").await;
    assert_eq!(
        (answered["call"].clone(), answered["mine"].as_bool()),
        (ringing["call"].clone(), Some(true))
    );
    pbx.step();
    expect(&mut olga, "ended").await;
    let docs = call_documents(&office.crm, 1).await;
    assert_eq!(docs[0]["data"]["answered_by"], "101");
    assert_eq!(pbx.seen.lock().unwrap().logins.len(), 2);
    office.running.stop().await;
}

#[tokio::test]
async fn lookup_api_ranks_matches_and_refuses_hidden_numbers() {
    let pbx = TestPbx::start("", false).await;
    let office = office(&pbx.config(false)).await;
    let (status, body) = office.olga.get("/api/v1/clients/lookup?phone=8%20(916)%20123-45-67").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["phone"]["e164"], "+79161234567");
    let ids: Vec<&str> = body["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["client"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["C-77", "C-90"]);
    assert_eq!(body["matches"][0]["card"]["name"], "ООО Ромашка");
    let (status, body) = office.olga.get("/api/v1/clients/lookup?phone=%3Cunknown%3E").await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("hidden_number")));
    let (status, body) = office.olga.get("/api/v1/clients/lookup?phone=12").await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("bad_phone")));
    let base = office.olga.base.clone();
    assert_eq!(
        Api::new(&base, CASHIER).get("/api/v1/clients/lookup?phone=89161234567").await.0,
        403
    );
    assert_eq!(Api::new(&base, ADMIN).get("/api/v1/clients/lookup?phone=89161234567").await.0, 200);
    assert_eq!(
        Api::new(&base, "no-such-token")
            .get("/api/v1/clients/lookup?phone=89161234567")
            .await
            .0,
        401
    );
    office.running.stop().await;
}

fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap()
}

async fn post_form(url: &str, body: String, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

const WEBHOOKS: &str = "[[telephony]]\nkind = \"webhook\"\nprovider = \"zadarma\"\nsecret = \"zadarma-api-secret\"\n\
[[telephony]]\nkind = \"webhook\"\nprovider = \"mango\"\nkey = \"mango-vpbx-key\"\nsecret = \"mango-salt\"\n";

/// Zadarma's `call_start`: local time of the account, which is the shop's zone (UTC in tests).
fn zadarma_time(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

#[tokio::test]
async fn zadarma_webhooks_ring_answer_and_end_and_bad_signatures_change_nothing() {
    use storeterm::devices::telephony::webhook::zadarma_signature;
    let office = office(WEBHOOKS).await;
    let url = format!("{}/api/v1/telephony/webhook/zadarma", office.olga.base);
    let mut olga = screen(&office.olga).await;
    let start = zadarma_time(jiff::Timestamp::now());
    let sign = |text: &str| zadarma_signature(text, "zadarma-api-secret");
    let notification = |event: &str, call: &str, start: &str, more: &[(&str, &str)]| {
        let mut pairs: Vec<(&str, &str)> = vec![
            ("event", event),
            ("call_start", start),
            ("pbx_call_id", call),
            ("caller_id", "79161234567"),
            ("called_did", "74951112233"),
        ];
        pairs.extend_from_slice(more);
        form(&pairs)
    };
    let with = |event: &str, more: &[(&str, &str)]| notification(event, "in_7f3a", &start, more);
    let signature = sign(&format!("79161234567{}{start}", "74951112233"));

    // A forged or unsigned request is refused and shows nothing: the first event on the
    // screen is the genuine call's.
    let (status, body) = post_form(&url, with("NOTIFY_START", &[]), &[("Signature", "Zm9yZ2Vk")]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("bad_webhook")));
    let (status, _) = post_form(&url, with("NOTIFY_INTERNAL", &[("internal", "101")]), &[]).await;
    assert_eq!(status, 401);

    assert_eq!(
        post_form(&url, with("NOTIFY_START", &[]), &[("Signature", &signature)]).await.0,
        200
    );
    let ring = with("NOTIFY_INTERNAL", &[("internal", "101")]);
    assert_eq!(post_form(&url, ring.clone(), &[("Signature", &signature)]).await.0, 200);
    let ringing = expect(&mut olga, "ringing").await;
    assert_eq!(
        (ringing["call"].as_str(), ringing["e164"].as_str()),
        (Some("zadarma:in_7f3a"), Some("+79161234567"))
    );
    assert_eq!(ringing["cards"][0]["client"], "C-77");
    expect(&mut olga, "card").await;

    let answer = form(&[
        ("event", "NOTIFY_ANSWER"),
        ("call_start", &start),
        ("pbx_call_id", "in_7f3a"),
        ("caller_id", "79161234567"),
        ("destination", "101"),
        ("internal", "101"),
    ]);
    let answer_sig = sign(&format!("79161234567101{start}"));
    assert_eq!(post_form(&url, answer, &[("Signature", &answer_sig)]).await.0, 200);
    assert_eq!(expect(&mut olga, "answered").await["mine"], true);
    let end = with(
        "NOTIFY_END",
        &[("internal", "101"), ("duration", "42"), ("disposition", "answered")],
    );
    assert_eq!(post_form(&url, end, &[("Signature", &signature)]).await.0, 200);
    expect(&mut olga, "ended").await;
    let docs = call_documents(&office.crm, 1).await;
    assert_eq!(docs[0]["data"]["call"], "zadarma:in_7f3a");
    assert_eq!(docs[0]["data"]["answered_by"], "101");

    // Replayed, the ring is answered as Zadarma expects and changes nothing.
    let (status, body) = post_form(&url, ring, &[("Signature", &signature)]).await;
    assert_eq!((status, body["duplicate"].as_bool()), (200, Some(true)), "{body}");
    // The signature does not cover the call id, but it belongs to the call it came with.
    let forged = notification("NOTIFY_INTERNAL", "in_forged", &start, &[("internal", "101")]);
    let (status, body) = post_form(&url, forged, &[("Signature", &signature)]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("bad_webhook")), "{body}");
    // A genuine notification of an hour ago is refused as stale.
    let old = zadarma_time(jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1));
    let old_sig = sign(&format!("79161234567{}{old}", "74951112233"));
    let stale = notification("NOTIFY_INTERNAL", "in_old", &old, &[("internal", "101")]);
    let (status, body) = post_form(&url, stale, &[("Signature", &old_sig)]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("stale_webhook")), "{body}");
    // None of them reached the screen: the next event is the next genuine call's (which
    // starts a second later: the same caller, number and second would be the first call's).
    let later = zadarma_time(jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1));
    let later_sig = sign(&format!("79161234567{}{later}", "74951112233"));
    let next = notification("NOTIFY_INTERNAL", "in_8b4c", &later, &[("internal", "101")]);
    assert_eq!(post_form(&url, next, &[("Signature", &later_sig)]).await.0, 200);
    let ringing = expect(&mut olga, "ringing").await;
    assert_eq!(ringing["call"], "zadarma:in_8b4c");
    assert_eq!(office.crm.stored_of("call").len(), 1, "no second call document from the replays");

    // Zadarma's URL check.
    let echo = reqwest::get(format!("{url}?zd_echo=abc123")).await.unwrap().text().await.unwrap();
    assert_eq!(echo, "abc123");
    office.running.stop().await;
}

#[tokio::test]
async fn mango_webhooks_with_valid_and_invalid_signs() {
    use storeterm::devices::telephony::webhook::mango_sign;
    let office = office(WEBHOOKS).await;
    let url = format!("{}/api/v1/telephony/webhook/mango", office.olga.base);
    let mut ivan = screen(&office.ivan).await;
    let now = jiff::Timestamp::now().as_second();
    let event = |state: &str, ext: &str| {
        json!({"entry_id": "MToxMDE3MTIyNjoxMDE6NDk0", "call_id": format!("leg-{ext}"), "timestamp": now,
               "seq": 1, "call_state": state, "location": "abonent",
               "from": {"number": "74951234567"}, "to": {"extension": ext, "number": format!("sip:{ext}@shop.mangosip.ru")}})
        .to_string()
    };
    let post = |path: &'static str, json: String, salt: &'static str| {
        let sign = mango_sign("mango-vpbx-key", &json, salt);
        let body = form(&[("vpbx_api_key", "mango-vpbx-key"), ("sign", &sign), ("json", &json)]);
        let url = format!("{url}{path}");
        async move { post_form(&url, body, &[]).await.0 }
    };
    assert_eq!(post("/events/call", event("Appeared", "102"), "wrong-salt").await, 401);
    assert_eq!(post("/events/call", event("Appeared", "102"), "mango-salt").await, 200);
    assert_eq!(post("/events/call", event("Appeared", "103"), "mango-salt").await, 200);
    let ringing = expect(&mut ivan, "ringing").await;
    assert_eq!(ringing["e164"], "+74951234567");
    assert_eq!(ringing["cards"][0]["client"], "C-77");
    expect(&mut ivan, "card").await;
    assert_eq!(post("/events/call", event("Connected", "103"), "mango-salt").await, 200);
    assert_eq!(expect(&mut ivan, "answered").await["extension"], "103");
    // A replayed ring after the answer changes nothing: the next event is the call's end.
    assert_eq!(post("/events/call", event("Appeared", "103"), "mango-salt").await, 200);
    let summary = json!({"entry_id": "MToxMDE3MTIyNjoxMDE6NDk0", "call_direction": 1, "from": {"number": "74951234567"},
                         "create_time": now - 65, "forward_time": now - 63, "talk_time": now - 60, "end_time": now,
                         "entry_result": 1, "disconnect_reason": 1110})
    .to_string();
    assert_eq!(post("/events/summary", summary, "mango-salt").await, 200);
    expect(&mut ivan, "ended").await;
    let docs = call_documents(&office.crm, 1).await;
    assert_eq!(docs[0]["data"]["rang"], json!(["102", "103"]));
    assert_eq!(docs[0]["data"]["operator"], "Иван");
    office.running.stop().await;
}

#[tokio::test]
async fn caller_id_modem_on_a_pty_shows_the_card_on_its_extension() {
    use storeterm::devices::pty::Pty;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pty = Pty::open().unwrap();
    let modem = format!(
        "[[telephony]]\nkind = \"modem\"\nid = \"cid\"\npath = \"{}\"\nbaud = 9600\nextension = \"101\"\n",
        pty.slave_path.display()
    );
    let office = office(&modem).await;
    let mut olga = screen(&office.olga).await;
    let Pty { mut master, slave, .. } = pty;
    // storeterm initialises the modem first.
    let mut got = Vec::new();
    let mut chunk = [0u8; 64];
    while !String::from_utf8_lossy(&got).contains("AT+VCID=1\r") {
        let n = tokio::time::timeout(Duration::from_secs(10), master.read(&mut chunk))
            .await
            .expect("modem init")
            .unwrap();
        got.extend_from_slice(&chunk[..n]);
    }
    master
        .write_all(b"OK\r\n\r\nRING\r\n\r\nDATE = 1201\r\nTIME = 0930\r\nNMBR = 84951234567\r\nNAME = ROMASHKA\r\n\r\nRING\r\n")
        .await
        .unwrap();
    let ringing = expect(&mut olga, "ringing").await;
    assert_eq!(
        (ringing["extension"].as_str(), ringing["e164"].as_str()),
        (Some("101"), Some("+74951234567"))
    );
    assert_eq!(ringing["caller_name"], "ROMASHKA");
    assert_eq!(ringing["cards"][0]["client"], "C-77");
    drop(slave);
    office.running.stop().await;
}

#[tokio::test]
async fn a_live_card_later_than_the_budget_is_dropped() {
    let mut pbx = TestPbx::start(&fixture("trunk-answered.ami"), false).await;
    let office = office(&pbx.config(false)).await;
    // The CRM holds its live cards until the hub's budget (1000 ms in the office) is over.
    office.crm.set_card("C-77", json!({"id": "C-77", "orders": []}));
    office.crm.hold_cards(true);
    pbx.session_started().await;
    let mut olga = screen(&office.olga).await;
    pbx.step();
    let ringing = expect(&mut olga, "ringing").await;
    assert_eq!(ringing["cards"][0]["enriched"], false);
    // The hub gives up at the budget and counts the card as late (on /admin)…
    let admin = Api::new(&office.olga.base, ADMIN);
    eventually("the hub gave up on the live card", Duration::from_secs(10), || async {
        let (_, status) = admin.get("/api/v1/admin/status").await;
        (status["calls"]["late_cards"] == 1).then_some(())
    })
    .await;
    // …so when the CRM does answer, nothing reaches the screen: the next event is the answer.
    office.crm.hold_cards(false);
    pbx.step();
    expect(&mut olga, "answered").await;
    office.running.stop().await;
}
