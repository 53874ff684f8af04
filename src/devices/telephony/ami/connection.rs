//! The AMI connection: banner, `Login` (plain or MD5 challenge) with an `Events:` mask,
//! `ActionID`s, keep-alive `Ping`, reconnect with back-off, and a `CoreShowChannels` resync
//! after every login so calls that started or ended while we were away are right.
//!
//! The reader only parses and forwards: signals go to the call hub without waiting
//! ([`SignalSink`]), so a slow lookup or a slow screen can never make us stop reading — Asterisk
//! disconnects a manager session whose socket buffer fills up. If the hub falls so far behind
//! that signals were dropped, the calls are resynced (`CoreShowChannels`) once it has caught up.

use super::frame::{self, FrameError, Message};
use super::tracker::AmiTracker;
use crate::config::Secret;
use crate::devices::telephony::{Delivery, SignalSink};
use crate::domain::text::{shown, shown_max};
use bytes::BytesMut;
use md5::{Digest, Md5};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// How to reach and log in to one Asterisk.
#[derive(Debug, Clone)]
pub struct AmiSettings {
    pub id: String,
    pub address: String,
    pub username: String,
    pub secret: Secret,
    pub md5: bool,
    pub ping_interval: Duration,
}

/// The event classes storeterm needs: channel events are `call`, queue member events `agent`.
pub const EVENT_MASK: &str = "call,agent";

const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// Why a manager session ended.
#[derive(Debug, thiserror::Error)]
pub enum AmiError {
    #[error("cannot connect to {address}: {source}")]
    Connect { address: String, source: std::io::Error },
    #[error("connection lost: {0}")]
    Io(#[from] std::io::Error),
    #[error("the peer closed the connection")]
    Closed,
    #[error("{0}")]
    Protocol(String),
    #[error("Asterisk refused the login for \"{user}\": {message} (check manager.conf)")]
    LoginRefused { user: String, message: String },
    #[error("no answer to Ping for {0:?}; the connection is dead")]
    Silent(Duration),
}

/// Keep a manager session to Asterisk until `shutdown`, reconnecting with back-off.
#[tracing::instrument(name = "pbx", skip_all, fields(pbx = %settings.id))]
pub async fn run(settings: AmiSettings, signals: SignalSink, shutdown: CancellationToken) {
    let mut tracker = AmiTracker::new(settings.id.clone());
    let mut delay = FIRST_RETRY;
    loop {
        let connected = tokio::select! {
            _ = shutdown.cancelled() => return,
            c = tokio::net::TcpStream::connect(&settings.address) => c,
        };
        let result = match connected {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                let mut session = Session::new(stream, &settings);
                let r = session.run(&mut tracker, &signals, &shutdown).await;
                if session.logged_in {
                    delay = FIRST_RETRY;
                }
                r
            }
            Err(source) => Err(AmiError::Connect {
                address: settings.address.clone(),
                source,
            }),
        };
        match result {
            Ok(()) => return,
            Err(e) => tracing::warn!(pbx = %settings.id, error = %e, retry_in = ?delay, "AMI session ended; reconnecting"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(MAX_RETRY);
    }
}

/// The MD5 login key: `md5(challenge ‖ secret)` in lower-case hex.
pub fn md5_key(challenge: &str, secret: &str) -> String {
    let digest = Md5::new()
        .chain_update(challenge.as_bytes())
        .chain_update(secret.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// One TCP session, generic over the stream so it runs over any transport.
pub struct Session<'a, S> {
    stream: S,
    buf: BytesMut,
    settings: &'a AmiSettings,
    next_action: u64,
    logged_in: bool,
    /// Signals were dropped since the last resync: the call book may be wrong.
    behind: bool,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> Session<'a, S> {
    pub fn new(stream: S, settings: &'a AmiSettings) -> Self {
        Session {
            stream,
            buf: BytesMut::with_capacity(8192),
            settings,
            next_action: 0,
            logged_in: false,
            behind: false,
        }
    }

    fn action_id(&mut self) -> String {
        self.next_action += 1;
        format!("storeterm-{}", self.next_action)
    }

    async fn send(&mut self, fields: Vec<(&str, String)>) -> Result<String, AmiError> {
        let id = self.action_id();
        let mut m = fields;
        m.push(("ActionID", id.clone()));
        self.stream.write_all(&Message::new(m).encode()).await?;
        Ok(id)
    }

    async fn read_more(&mut self) -> Result<(), AmiError> {
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(AmiError::Closed);
        }
        Ok(())
    }

    async fn banner(&mut self) -> Result<String, AmiError> {
        loop {
            match frame::parse_banner(&self.buf) {
                Ok((version, used)) => {
                    let _ = self.buf.split_to(used);
                    return Ok(version);
                }
                Err(FrameError::Incomplete) => self.read_more().await?,
                Err(e) => return Err(AmiError::Protocol(e.to_string())),
            }
        }
    }

    /// The next message, reading as needed; bad bytes are dropped and logged.
    async fn message(&mut self) -> Result<Message, AmiError> {
        loop {
            match frame::parse(&self.buf) {
                Ok((m, used)) => {
                    let _ = self.buf.split_to(used);
                    return Ok(m);
                }
                Err(FrameError::Incomplete) => self.read_more().await?,
                Err(FrameError::Invalid { skip, reason }) => {
                    tracing::warn!(pbx = %self.settings.id, reason, skip, "dropping bytes that are not AMI");
                    let _ = self.buf.split_to(skip);
                }
            }
        }
    }

    /// Wait for the response to `action`, handing events that arrive meanwhile to the tracker.
    async fn response(&mut self, action: &str, tracker: &mut AmiTracker, signals: &SignalSink) -> Result<Message, AmiError> {
        loop {
            let m = self.message().await?;
            if m.response().is_some() && m.get("ActionID") == Some(action) {
                return Ok(m);
            }
            self.behind |= !forward(&m, tracker, signals);
        }
    }

    async fn login(&mut self, tracker: &mut AmiTracker, signals: &SignalSink) -> Result<(), AmiError> {
        let user = self.settings.username.clone();
        let mut fields = vec![("Action", "Login".to_string()), ("Username", user.clone())];
        if self.settings.md5 {
            let id = self.send(vec![("Action", "Challenge".into()), ("AuthType", "MD5".into())]).await?;
            let reply = self.response(&id, tracker, signals).await?;
            let challenge = reply
                .get("Challenge")
                .filter(|_| reply.response() == Some("Success"))
                .ok_or_else(|| AmiError::Protocol(format!("no MD5 challenge in the answer: {}", shown_max(&format!("{reply:?}"), 300))))?
                .to_string();
            fields.push(("AuthType", "MD5".into()));
            fields.push(("Key", md5_key(&challenge, self.settings.secret.expose())));
        } else {
            fields.push(("Secret", self.settings.secret.expose().to_string()));
        }
        fields.push(("Events", EVENT_MASK.into()));
        let id = self.send(fields).await?;
        let reply = self.response(&id, tracker, signals).await?;
        if reply.response() != Some("Success") {
            return Err(AmiError::LoginRefused {
                user,
                message: reply.get("Message").unwrap_or("no reason given").to_string(),
            });
        }
        self.logged_in = true;
        Ok(())
    }

    /// Log in, resync, then read events until an error or `shutdown` (then log off).
    pub async fn run(&mut self, tracker: &mut AmiTracker, signals: &SignalSink, shutdown: &CancellationToken) -> Result<(), AmiError> {
        let version = self.banner().await?;
        self.login(tracker, signals).await?;
        tracing::info!(pbx = %self.settings.id, version = %shown(&version), "AMI logged in");
        tracker.begin_resync();
        self.send(vec![("Action", "CoreShowChannels".into())]).await?;
        let interval = self.settings.ping_interval;
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        let mut outstanding: Option<(String, tokio::time::Instant)> = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = self.send(vec![("Action", "Logoff".into())]).await;
                    return Ok(());
                }
                _ = ping.tick() => {
                    if let Some((_, sent)) = &outstanding {
                        if sent.elapsed() >= interval {
                            return Err(AmiError::Silent(interval));
                        }
                    }
                    let id = self.send(vec![("Action", "Ping".into())]).await?;
                    outstanding.get_or_insert((id, tokio::time::Instant::now()));
                }
                m = self.message() => {
                    let m = m?;
                    // Checked on every message, Ping answers included, so a quiet PBX resyncs too.
                    if self.behind && signals.room() >= RESYNC_ROOM {
                        tracing::warn!(pbx = %self.settings.id, "call signals were dropped; resyncing the calls with the PBX");
                        self.behind = false;
                        tracker.begin_resync();
                        self.send(vec![("Action", "CoreShowChannels".into())]).await?;
                    }
                    if m.response().is_some() {
                        if outstanding.as_ref().is_some_and(|(id, _)| m.get("ActionID") == Some(id)) {
                            outstanding = None;
                        }
                        continue;
                    }
                    self.behind |= !forward(&m, tracker, signals);
                }
            }
        }
    }
}

/// Room the hub must have again before a resync after dropped signals is worth asking for.
const RESYNC_ROOM: usize = crate::devices::telephony::SIGNAL_BACKLOG / 2;

/// Hand the event's signals to the hub; false when one was dropped.
fn forward(m: &Message, tracker: &mut AmiTracker, signals: &SignalSink) -> bool {
    let mut all = true;
    for signal in tracker.event(m, jiff::Timestamp::now()) {
        // `Closed` happens only at shutdown; nothing to do then.
        all &= signals.send(signal) != Delivery::Dropped;
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn settings(md5: bool) -> AmiSettings {
        AmiSettings {
            id: "pbx".into(),
            address: "unused".into(),
            username: "storeterm".into(),
            secret: Secret::new("s3cret"),
            md5,
            // Short, so the keep-alive test runs in real time (tokio's test-util is not enabled).
            ping_interval: Duration::from_millis(200),
        }
    }

    /// Read one CRLF-framed action from the peer side of a duplex pipe.
    async fn action(peer: &mut tokio::io::DuplexStream, buf: &mut Vec<u8>) -> Message {
        loop {
            if let Ok((m, used)) = frame::parse(buf) {
                buf.drain(..used);
                return m;
            }
            let mut chunk = [0u8; 1024];
            // A bound, so a regression fails the test instead of hanging the suite.
            let n = tokio::time::timeout(Duration::from_secs(10), peer.read(&mut chunk))
                .await
                .expect("an action within 10 s")
                .unwrap();
            assert!(n > 0, "storeterm closed the session");
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    #[tokio::test]
    async fn md5_login_then_pings_and_a_silent_peer_ends_the_session() {
        let (ours, mut peer) = tokio::io::duplex(64 * 1024);
        let settings = settings(true);
        let (tx, _rx) = SignalSink::channel(16);
        let shutdown = CancellationToken::new();
        let client = tokio::spawn(async move {
            let mut tracker = AmiTracker::new("pbx");
            Session::new(ours, &settings).run(&mut tracker, &tx, &shutdown).await
        });
        let mut buf = Vec::new();
        peer.write_all(b"Asterisk Call Manager/2.10.4\r\n").await.unwrap();
        let challenge = action(&mut peer, &mut buf).await;
        assert_eq!(
            (challenge.get("Action"), challenge.get("AuthType")),
            (Some("Challenge"), Some("MD5"))
        );
        let id = challenge.get("ActionID").unwrap().to_string();
        peer.write_all(format!("Response: Success\r\nActionID: {id}\r\nChallenge: 12345\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let login = action(&mut peer, &mut buf).await;
        assert_eq!(login.get("Key"), Some(md5_key("12345", "s3cret").as_str()));
        assert_eq!((login.get("Secret"), login.get("Events")), (None, Some(EVENT_MASK)));
        let id = login.get("ActionID").unwrap().to_string();
        peer.write_all(format!("Response: Success\r\nActionID: {id}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        assert_eq!(action(&mut peer, &mut buf).await.get("Action"), Some("CoreShowChannels"));
        // The first Ping after the interval; answered, so the session lives on.
        let ping = action(&mut peer, &mut buf).await;
        assert_eq!(ping.get("Action"), Some("Ping"));
        let id = ping.get("ActionID").unwrap().to_string();
        peer.write_all(format!("Response: Success\r\nActionID: {id}\r\nPing: Pong\r\n\r\n").as_bytes())
            .await
            .unwrap();
        // The next Ping goes unanswered: one interval later the session ends as dead.
        assert_eq!(action(&mut peer, &mut buf).await.get("Action"), Some("Ping"));
        let ended = tokio::time::timeout(Duration::from_secs(10), client)
            .await
            .expect("the session ends")
            .unwrap();
        assert!(matches!(ended, Err(AmiError::Silent(_))), "{ended:?}");
    }

    #[tokio::test]
    async fn a_refused_login_names_the_user() {
        let (ours, mut peer) = tokio::io::duplex(64 * 1024);
        let settings = settings(false);
        let (tx, _rx) = SignalSink::channel(16);
        let client = tokio::spawn(async move {
            let mut tracker = AmiTracker::new("pbx");
            Session::new(ours, &settings)
                .run(&mut tracker, &tx, &CancellationToken::new())
                .await
        });
        let mut buf = Vec::new();
        peer.write_all(b"Asterisk Call Manager/1.1\n").await.unwrap();
        let login = action(&mut peer, &mut buf).await;
        assert_eq!(login.get("Secret"), Some("s3cret"));
        let id = login.get("ActionID").unwrap().to_string();
        peer.write_all(format!("Response: Error\nActionID: {id}\nMessage: Authentication failed\n\n").as_bytes())
            .await
            .unwrap();
        let err = tokio::time::timeout(Duration::from_secs(10), client)
            .await
            .expect("the session ends")
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"storeterm\"") && err.contains("Authentication failed"), "{err}");
    }

    #[test]
    fn md5_key_matches_asterisk() {
        // md5("1234567890" + "mysecret"), as Asterisk's manager.c computes it.
        assert_eq!(
            md5_key("1234567890", "mysecret"),
            format!("{:x}", Md5::digest(b"1234567890mysecret"))
        );
        assert_eq!(md5_key("", ""), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
