//! A test Asterisk: a loopback TCP server that speaks the manager protocol — banner, `Login`
//! (plain or MD5 challenge), `Ping`, `CoreShowChannels` — and replays a recorded event
//! stream byte for byte, so the framing (CRLF or bare LF) is exactly what the file holds.
//!
//! Stream files (`tests/fixtures/ami/*.ami`) are AMI text. Lines starting with `#` are
//! directives for this server, not sent:
//! - `# wait` — pause the replay until the test calls [`TestPbx::step`];
//! - `# disconnect` — drop the connection here; the next session continues after it;
//! - `# channels` … `# end` — the `CoreShowChannel` events the *next* session's
//!   `CoreShowChannels` answers with (the calls still up after a reconnect).

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};

pub const USER: &str = "storeterm";
pub const SECRET: &str = "ami-secret-1";

#[derive(Debug, Clone)]
enum Part {
    Bytes(Vec<u8>),
    Wait,
    Disconnect,
    Channels(Vec<u8>),
}

fn parse_script(text: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut bytes = Vec::new();
    let mut channels: Option<Vec<u8>> = None;
    for line in text.split_inclusive('\n') {
        let directive = line.trim_end();
        if let Some(d) = directive.strip_prefix("# ") {
            let flush = |bytes: &mut Vec<u8>, parts: &mut Vec<Part>| {
                if !bytes.is_empty() {
                    parts.push(Part::Bytes(std::mem::take(bytes)));
                }
            };
            match d {
                "wait" => {
                    flush(&mut bytes, &mut parts);
                    parts.push(Part::Wait);
                }
                "disconnect" => {
                    flush(&mut bytes, &mut parts);
                    parts.push(Part::Disconnect);
                }
                "channels" => {
                    flush(&mut bytes, &mut parts);
                    channels = Some(Vec::new());
                }
                "end" => parts.push(Part::Channels(channels.take().unwrap_or_default())),
                _ => {}
            }
            continue;
        }
        if directive.starts_with('#') {
            continue;
        }
        match &mut channels {
            Some(c) => c.extend_from_slice(line.as_bytes()),
            None => bytes.extend_from_slice(line.as_bytes()),
        }
    }
    if !bytes.is_empty() {
        parts.push(Part::Bytes(bytes));
    }
    parts
}

/// What the test PBX saw from its client.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub logins: Vec<String>,
    pub actions: Vec<String>,
}

pub struct TestPbx {
    pub addr: std::net::SocketAddr,
    step: Arc<Notify>,
    pub seen: Arc<Mutex<Seen>>,
    sessions: mpsc::UnboundedReceiver<usize>,
}

impl TestPbx {
    /// Serve `script` (a stream file's text); `md5` asks for the challenge login.
    pub async fn start(script: &str, md5: bool) -> TestPbx {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let parts = parse_script(script);
        let step = Arc::new(Notify::new());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (tx, sessions) = mpsc::unbounded_channel();
        let (step2, seen2) = (step.clone(), seen.clone());
        tokio::spawn(async move {
            let mut pos = 0;
            let mut resync: Vec<u8> = Vec::new();
            let mut n = 0;
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                n += 1;
                let _ = tx.send(n);
                pos = session(socket, &parts, pos, &mut resync, md5, &step2, &seen2).await;
                if pos >= parts.len() {
                    // Keep the last session's peer waiting: the stream is over, the PBX is not.
                }
            }
        });
        TestPbx {
            addr,
            step,
            seen,
            sessions,
        }
    }

    /// Let the replay go on past the next `# wait`.
    pub fn step(&self) {
        self.step.notify_one();
    }

    /// Wait for the n-th session to begin.
    pub async fn session_started(&mut self) -> usize {
        tokio::time::timeout(std::time::Duration::from_secs(10), self.sessions.recv())
            .await
            .expect("storeterm connects to the PBX")
            .unwrap()
    }

    /// The `[[telephony]]` entry for this PBX.
    pub fn config(&self, md5: bool) -> String {
        format!(
            "[[telephony]]\nkind = \"ami\"\nid = \"pbx\"\naddress = \"{}\"\nusername = \"{USER}\"\nsecret = \"{SECRET}\"\nauth = \"{}\"\nping_interval = 1\n",
            self.addr,
            if md5 { "md5" } else { "plain" }
        )
    }
}

/// Read one action (CRLF CRLF ended) from the client.
async fn read_action(socket: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<(String, String)>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            return Some(
                text.split("\r\n")
                    .filter_map(|l| l.split_once(": ").map(|(k, v)| (k.to_string(), v.to_string())))
                    .collect(),
            );
        }
        let mut chunk = [0u8; 4096];
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn get<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or("")
}

const CHALLENGE: &str = "847291034";

/// One manager session; returns where the replay stopped.
async fn session(
    mut socket: TcpStream,
    parts: &[Part],
    mut pos: usize,
    resync: &mut Vec<u8>,
    md5: bool,
    step: &Notify,
    seen: &Mutex<Seen>,
) -> usize {
    let mut buf = Vec::new();
    if socket.write_all(b"Asterisk Call Manager/5.0.1\r\n").await.is_err() {
        return pos;
    }
    // Login.
    loop {
        let Some(action) = read_action(&mut socket, &mut buf).await else {
            return pos;
        };
        let id = get(&action, "ActionID").to_string();
        let reply = match get(&action, "Action") {
            "Challenge" => format!("Response: Success\r\nActionID: {id}\r\nChallenge: {CHALLENGE}\r\n\r\n"),
            "Login" => {
                let ok = if md5 {
                    use md5::Digest;
                    let key: String = md5::Md5::digest(format!("{CHALLENGE}{SECRET}").as_bytes())
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    get(&action, "Key") == key && get(&action, "AuthType") == "MD5"
                } else {
                    get(&action, "Secret") == SECRET
                };
                seen.lock()
                    .unwrap()
                    .logins
                    .push(format!("{} events={}", get(&action, "Username"), get(&action, "Events")));
                if ok && get(&action, "Username") == USER {
                    let r = format!("Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n");
                    socket.write_all(r.as_bytes()).await.ok();
                    socket
                        .write_all(b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n")
                        .await
                        .ok();
                    break;
                }
                format!("Response: Error\r\nActionID: {id}\r\nMessage: Authentication failed\r\n\r\n")
            }
            _ => format!("Response: Error\r\nActionID: {id}\r\nMessage: Permission denied\r\n\r\n"),
        };
        if socket.write_all(reply.as_bytes()).await.is_err() {
            return pos;
        }
    }
    // After login: answer actions in a reader task, replay from the main one.
    let (mut rd, wr) = socket.into_split();
    let wr = Arc::new(tokio::sync::Mutex::new(wr));
    let resync_events = std::mem::take(resync);
    let (wr2, seen_actions) = (wr.clone(), Arc::new(Mutex::new(Vec::<String>::new())));
    let seen_actions2 = seen_actions.clone();
    // Signalled once CoreShowChannels has been answered.
    let resynced = Arc::new(Notify::new());
    let resynced2 = resynced.clone();
    let reader = tokio::spawn(async move {
        let mut buf = buf;
        loop {
            let action = loop {
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end + 4);
                    break text;
                }
                let mut chunk = [0u8; 4096];
                match rd.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let fields: Vec<(String, String)> = action
                .split("\r\n")
                .filter_map(|l| l.split_once(": ").map(|(k, v)| (k.to_string(), v.to_string())))
                .collect();
            let id = get(&fields, "ActionID").to_string();
            let name = get(&fields, "Action").to_string();
            seen_actions2.lock().unwrap().push(name.clone());
            let reply = match name.as_str() {
                "Ping" => format!("Response: Success\r\nActionID: {id}\r\nPing: Pong\r\nTimestamp: 1770888635.000000\r\n\r\n").into_bytes(),
                "CoreShowChannels" => {
                    let mut r = format!("Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n")
                        .into_bytes();
                    r.extend_from_slice(&resync_events);
                    r.extend_from_slice(
                        format!("Event: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n")
                            .as_bytes(),
                    );
                    r
                }
                "Logoff" => format!("Response: Goodbye\r\nActionID: {id}\r\nMessage: Thanks for all the fish.\r\n\r\n").into_bytes(),
                _ => format!("Response: Error\r\nActionID: {id}\r\nMessage: Invalid/unknown command\r\n\r\n").into_bytes(),
            };
            if wr2.lock().await.write_all(&reply).await.is_err() {
                return;
            }
            if name == "CoreShowChannels" {
                resynced2.notify_one();
            }
        }
    });
    // Live events only after CoreShowChannels has been asked and answered, as on a real PBX
    // where the resync comes first. storeterm asks right after every login.
    if tokio::time::timeout(std::time::Duration::from_secs(20), resynced.notified())
        .await
        .is_err()
    {
        panic!("storeterm did not ask CoreShowChannels after logging in");
    }
    let result = loop {
        let Some(part) = parts.get(pos) else {
            // Stream over: stay connected until the client leaves.
            let _ = reader.await;
            break pos;
        };
        pos += 1;
        match part {
            Part::Bytes(b) => {
                if wr.lock().await.write_all(b).await.is_err() {
                    break pos;
                }
            }
            Part::Wait => step.notified().await,
            Part::Channels(c) => *resync = c.clone(),
            Part::Disconnect => {
                reader.abort();
                let _ = wr.lock().await.shutdown().await;
                break pos;
            }
        }
    };
    seen.lock().unwrap().actions.extend(seen_actions.lock().unwrap().drain(..));
    result
}
