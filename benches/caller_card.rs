//! Ring → caller card latency with 1 000 000 clients, and phone lookups per second, against a
//! bare redb `get` of the same numbers measured in the same run.
//!
//! Run: `cargo bench --bench caller_card` (add `-- --calls 2000` for a longer run, `--clients N`
//! for another store size).
//!
//! The ring path is the real one: a loopback TCP peer speaking AMI writes `Newstate` (Ringing)
//! for `PJSIP/101-…`; storeterm's AMI reader parses it, the call hub looks the caller up in the
//! phone index and builds the card, and the operator's SSE stream delivers `ringing`. The clock
//! starts just before the event's bytes are written and stops when the SSE event is read.

// Wall-clock measurement is the point here; paused tokio time would measure nothing.
#![allow(clippy::disallowed_types)]

mod common;

use common::{arg, stats};

use std::path::Path;
use std::time::Instant;
use storeterm::config::Config;
use storeterm::domain::client::Client;
use storeterm::domain::feed::Change;
use storeterm::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "bench-operator-token";

/// Client `n`'s number, typed the way CRM users do.
fn typed(n: usize) -> String {
    let d = format!("{n:09}");
    format!("8 (9{}) {}-{}-{}", &d[..2], &d[2..5], &d[5..7], &d[7..])
}

fn e164(n: usize) -> String {
    format!("+79{n:09}")
}

async fn load(store: &Store, clients: usize) {
    const PAGE: usize = 20_000;
    for start in (0..clients).step_by(PAGE) {
        let changes: Vec<Change> = (start..(start + PAGE).min(clients))
            .map(|n| {
                Change::ClientUpsert(Client {
                    id: format!("C-{n}"),
                    name: format!("Клиент №{n}"),
                    phones: vec![typed(n)],
                    debt: Some(rust_decimal::Decimal::new((n % 100_000) as i64 * 100, 2)),
                    overdue: None,
                    credit_limit: Some(rust_decimal::Decimal::new(50_000, 0)),
                    stop_list: n % 97 == 0,
                    segment: Some("retail".into()),
                    manager: Some("Иванов И.".into()),
                    loyalty_cards: vec![],
                    last_activity: None,
                })
            })
            .collect();
        store.apply_feed(&changes, &format!("c{start}")).await.expect("feed page");
    }
}

fn picks(count: usize, clients: usize) -> Vec<usize> {
    let mut rng = fastrand::Rng::with_seed(7);
    (0..count).map(|_| rng.usize(..clients)).collect()
}

fn config(data: &Path, ami: std::net::SocketAddr) -> Config {
    let text = format!(
        "[http]\nlisten = \"127.0.0.1:0\"\n[store]\npath = \"{}\"\n[[tokens]]\ntoken = \"{TOKEN}\"\nrole = \"operator\"\nname = \"Ольга\"\nextension = \"101\"\n\
[[telephony]]\nkind = \"ami\"\naddress = \"{ami}\"\nusername = \"bench\"\nsecret = \"bench-secret\"\nping_interval = 30\n",
        data.display()
    );
    Config::parse(&text, Path::new("bench.toml"), Path::new("/")).expect("bench config")
}

/// Read SSE blocks until one named `name`.
async fn next_event(response: &mut reqwest::Response, buffer: &mut String, name: &str) {
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.lines().any(|l| l.strip_prefix("event:").map(str::trim) == Some(name)) {
                return;
            }
        }
        let chunk = response.chunk().await.expect("stream").expect("stream open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

fn ringing_events(i: usize, caller: &str) -> (String, String, String) {
    let linked = format!("1770000000.{}", i * 2);
    let device = format!("1770000000.{}", i * 2 + 1);
    let setup = format!(
        "Event: Newchannel\r\nChannel: PJSIP/trunk-{i:08x}\r\nChannelState: 0\r\nCallerIDNum: {caller}\r\nExten: 74951112233\r\nUniqueid: {linked}\r\nLinkedid: {linked}\r\n\r\n\
Event: Newchannel\r\nChannel: PJSIP/101-{i:08x}\r\nChannelState: 0\r\nCallerIDNum: 101\r\nUniqueid: {device}\r\nLinkedid: {linked}\r\n\r\n"
    );
    let ring = format!(
        "Event: Newstate\r\nChannel: PJSIP/101-{i:08x}\r\nChannelState: 5\r\nChannelStateDesc: Ringing\r\nCallerIDNum: 101\r\nConnectedLineNum: {caller}\r\nUniqueid: {device}\r\nLinkedid: {linked}\r\n\r\n"
    );
    let hangup = format!(
        "Event: Hangup\r\nChannel: PJSIP/101-{i:08x}\r\nUniqueid: {device}\r\nLinkedid: {linked}\r\nCause: 16\r\n\r\n\
Event: Hangup\r\nChannel: PJSIP/trunk-{i:08x}\r\nUniqueid: {linked}\r\nLinkedid: {linked}\r\nCause: 16\r\n\r\n"
    );
    (setup, ring, hangup)
}

#[tokio::main]
async fn main() {
    let clients = arg("--clients", 1_000_000);
    let calls = arg("--calls", 1000);
    let lookups = arg("--lookups", 200_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("store");
    let store = Store::open(&data).expect("store");
    let started = Instant::now();
    load(&store, clients).await;
    println!(
        "clients: {} loaded (phone index built) in {:.1} s",
        store.client_count().expect("count"),
        started.elapsed().as_secs_f64()
    );

    // Baseline: a bare redb get of the same E.164 keys in a table holding as many keys.
    let raw_dir = tempfile::tempdir().expect("temp dir");
    let raw = common::BareTable::fill(raw_dir.path(), (0..clients).map(|n| (e164(n), format!("C-{n}"))));
    let keys: Vec<String> = picks(lookups, clients).into_iter().map(e164).collect();
    let t = Instant::now();
    for key in &keys {
        std::hint::black_box(raw.get(key).expect("present"));
    }
    let bare_per_s = lookups as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for key in &keys {
        let found = store.clients_by_phone(key, None).expect("lookup");
        assert_eq!(found.len(), 1);
        std::hint::black_box(found);
    }
    let lookup_per_s = lookups as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for n in picks(lookups, clients) {
        let number = storeterm::domain::phone::normalize(&typed(n), Default::default()).expect("number");
        std::hint::black_box(store.clients_by_phone(&number.e164, None).expect("lookup"));
    }
    let typed_per_s = lookups as f64 / t.elapsed().as_secs_f64();

    // The ring path through a loopback AMI peer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let ami = listener.local_addr().expect("addr");
    let running = storeterm::daemon::start_with_store(config(&data, ami), store)
        .await
        .expect("storeterm");
    let (mut pbx, _) = listener.accept().await.expect("storeterm connects");
    pbx.set_nodelay(true).expect("nodelay");
    pbx.write_all(b"Asterisk Call Manager/5.0.1\r\n").await.expect("banner");
    let mut buf = vec![0u8; 4096];
    let mut got = String::new();
    while !got.contains("\r\n\r\n") {
        let n = pbx.read(&mut buf).await.expect("login");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let id = got.lines().find_map(|l| l.strip_prefix("ActionID: ")).unwrap_or("").to_string();
    pbx.write_all(format!("Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n").as_bytes())
        .await
        .expect("login reply");
    // Answer CoreShowChannels (and anything else) in the background.
    let (mut rd, mut wr) = pbx.into_split();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                return;
            }
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            for id in text.lines().filter_map(|l| l.strip_prefix("ActionID: ")) {
                let _ = tx.send(format!("Response: Success\r\nActionID: {id}\r\n\r\nEvent: CoreShowChannelsComplete\r\nActionID: {id}\r\nListItems: 0\r\n\r\n").into_bytes());
            }
        }
    });

    let http = reqwest::Client::new();
    let mut sse = http
        .get(format!("http://{}/api/v1/operator/events", running.addr))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("sse");
    let mut sse_buf = String::new();
    next_event(&mut sse, &mut sse_buf, "hello").await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    while let Ok(reply) = rx.try_recv() {
        wr.write_all(&reply).await.expect("reply");
    }

    let mut samples = Vec::with_capacity(calls);
    for (i, n) in picks(calls, clients).into_iter().enumerate() {
        let (setup, ring, hangup) = ringing_events(i, &typed(n).replace(['(', ')', ' ', '-'], ""));
        wr.write_all(setup.as_bytes()).await.expect("setup");
        let t = Instant::now();
        wr.write_all(ring.as_bytes()).await.expect("ring");
        next_event(&mut sse, &mut sse_buf, "ringing").await;
        samples.push(t.elapsed().as_secs_f64() * 1e3);
        wr.write_all(hangup.as_bytes()).await.expect("hangup");
        next_event(&mut sse, &mut sse_buf, "stopped").await;
        while let Ok(reply) = rx.try_recv() {
            wr.write_all(&reply).await.expect("reply");
        }
    }
    let ring = stats(samples);
    running.stop().await;

    println!("{calls} rings of random clients among {clients}: AMI Newstate(Ringing) written -> SSE `ringing` with the card read (ms)");
    println!("  p50 {:.3}  p99 {:.3}  mean {:.3}", ring.p50, ring.p99, ring.mean);
    println!("{lookups} phone lookups among {clients} clients (per second)");
    println!("  {:<44} {:>12.0}", "bare redb get of the E.164 key (baseline)", bare_per_s);
    println!(
        "  {:<44} {:>12.0}   {:.2}x of baseline",
        "clients_by_phone (index scan + client decode)",
        lookup_per_s,
        lookup_per_s / bare_per_s
    );
    println!(
        "  {:<44} {:>12.0}   {:.2}x of baseline",
        "normalize typed number + clients_by_phone",
        typed_per_s,
        typed_per_s / bare_per_s
    );
}
