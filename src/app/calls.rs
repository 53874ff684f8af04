//! The call hub: one actor that owns the call book, looks callers up, builds their cards and
//! tells the operator screens; and [`OperatorScreen`], the pure rule for what one operator's
//! screen shows.
//!
//! ```text
//! AMI / modem / webhook ──Signal──▶ hub (CallBook) ──▶ phone index (sled) ──▶ HubEvent (broadcast)
//!                                     │        └──▶ CRM card within the budget ──▶ HubEvent::Card
//!                                     └──▶ `call` document (outbox) when the call ends
//! ```
//!
//! Sources send signals into a bounded channel ([`SignalSink`]) and never wait; the hub does the
//! lookups. A hub [`SIGNAL_BACKLOG`] signals behind is stuck, not busy: sources then drop
//! signals (logged, counted in [`CallHub::dropped_signals`]) rather than stop reading their PBX.
//! A lookup is a prefix scan of the `phones` tree (microseconds even with a million clients),
//! so the local card goes out at once; the CRM's live card is fetched in a separate task and
//! arrives as an update only if it came within the budget.

use super::supervisor::{Importance, Supervisor};
use crate::devices::telephony::calls::{CallBook, CallEvent, Signal};
use crate::devices::telephony::{SIGNAL_BACKLOG, SignalSink};
use crate::domain::call::Direction;
use crate::domain::call_documents;
use crate::domain::client::CallerCard;
use crate::domain::phone::{self, Country, PhoneNumber};
use crate::store::Store;
use crate::sync::{CrmClient, CrmError};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Most clients shown on one card (a number shared by a whole holding company).
const MAX_CARDS: usize = 5;

/// What the hub tells the operator screens.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum HubEvent {
    Ringing {
        call: String,
        extension: String,
        direction: Direction,
        caller: Option<String>,
        caller_name: Option<String>,
        e164: Option<String>,
        cards: Vec<CallerCard>,
    },
    /// Cards for a call replaced by richer ones (the CRM's live card arrived).
    Card {
        call: String,
        cards: Vec<CallerCard>,
    },
    /// `operator`: the name of the operator whose extension answered, when it is one of ours.
    Answered {
        call: String,
        extension: String,
        operator: Option<String>,
    },
    StoppedRinging {
        call: String,
        extension: String,
    },
    Ended {
        call: String,
        missed: bool,
        answered_by: Option<String>,
    },
}

impl HubEvent {
    pub fn name(&self) -> &'static str {
        match self {
            HubEvent::Ringing { .. } => "ringing",
            HubEvent::Card { .. } => "card",
            HubEvent::Answered { .. } => "answered",
            HubEvent::StoppedRinging { .. } => "stopped",
            HubEvent::Ended { .. } => "ended",
        }
    }
}

struct ActiveCall {
    caller: Option<String>,
    caller_name: Option<String>,
    direction: Direction,
    number: Option<PhoneNumber>,
    cards: Vec<CallerCard>,
    ringing: BTreeSet<String>,
    answered_by: Option<String>,
}

/// How to reach the hub.
#[derive(Clone)]
pub struct CallHub {
    signals: SignalSink,
    /// Calls whose live cards the CRM did not deliver in time.
    late_cards: Arc<AtomicU64>,
    events: broadcast::Sender<HubEvent>,
    snapshots: mpsc::Sender<oneshot::Sender<Vec<HubEvent>>>,
}

impl CallHub {
    /// Where sources send their signals.
    pub fn signal_sink(&self) -> SignalSink {
        self.signals.clone()
    }

    /// Signals dropped because the hub was [`SIGNAL_BACKLOG`] behind (for `/admin`).
    pub fn dropped_signals(&self) -> u64 {
        self.signals.dropped()
    }

    /// Calls whose live cards the CRM did not deliver within `card_budget` or its own timeout
    /// (for `/admin`): many mean the budget is too short for this CRM, or the CRM struggles.
    pub fn late_cards(&self) -> u64 {
        self.late_cards.load(Ordering::Relaxed)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HubEvent> {
        self.events.subscribe()
    }

    /// The calls going on now, as events a screen that just connected replays.
    pub async fn snapshot(&self) -> Vec<HubEvent> {
        let (tx, rx) = oneshot::channel();
        if self.snapshots.send(tx).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }
}

/// What the hub needs besides signals.
pub struct HubSetup {
    pub store: Store,
    pub crm: Option<CrmClient>,
    pub country: Country,
    pub card_budget: Duration,
    /// Extension → the operator (token name) it belongs to, for the `call` document.
    pub operators: BTreeMap<String, String>,
}

/// Start the hub actor.
/// Start the hub under `supervisor`. A restarted hub keeps its inbox (what the PBX links sent
/// meanwhile waits there) but starts with an empty call book: calls in progress reappear with
/// their next event.
pub fn spawn(setup: HubSetup, supervisor: &mut Supervisor) -> CallHub {
    let (signals, signal_rx) = SignalSink::channel(SIGNAL_BACKLOG);
    let (events, _) = broadcast::channel(1024);
    let (snapshots, snapshot_rx) = mpsc::channel(16);
    let late_cards = Arc::new(AtomicU64::new(0));
    let hub = CallHub {
        signals,
        late_cards: late_cards.clone(),
        events: events.clone(),
        snapshots,
    };
    let setup = Arc::new(setup);
    let inbox = Arc::new(tokio::sync::Mutex::new((signal_rx, snapshot_rx)));
    let shutdown = supervisor.shutdown_token();
    supervisor.spawn("call hub", Importance::Degrades, move || {
        let actor = Actor {
            late_cards: late_cards.clone(),
            setup: setup.clone(),
            book: CallBook::new(),
            active: HashMap::new(),
            events: events.clone(),
        };
        let (inbox, shutdown) = (inbox.clone(), shutdown.clone());
        async move {
            let mut inbox = inbox.lock().await;
            let (signals, snapshots) = &mut *inbox;
            actor.run(signals, snapshots, shutdown).await
        }
    });
    hub
}

struct Actor {
    late_cards: Arc<AtomicU64>,
    setup: Arc<HubSetup>,
    book: CallBook,
    active: HashMap<String, ActiveCall>,
    events: broadcast::Sender<HubEvent>,
}

impl Actor {
    async fn run(
        mut self,
        signals: &mut mpsc::Receiver<Signal>,
        snapshots: &mut mpsc::Receiver<oneshot::Sender<Vec<HubEvent>>>,
        shutdown: CancellationToken,
    ) {
        let (cards_tx, mut cards_rx) = mpsc::unbounded_channel::<(String, Vec<CallerCard>)>();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                Some(signal) = signals.recv() => {
                    for event in self.book.apply(signal) {
                        self.on_call_event(event, &cards_tx);
                    }
                }
                Some((call, cards)) = cards_rx.recv() => {
                    if let Some(active) = self.active.get_mut(&call) {
                        active.cards = cards.clone();
                        let _ = self.events.send(HubEvent::Card { call, cards });
                    }
                }
                Some(reply) = snapshots.recv() => {
                    let _ = reply.send(self.snapshot());
                }
            }
        }
    }

    fn snapshot(&self) -> Vec<HubEvent> {
        let mut out = Vec::new();
        let mut calls: Vec<_> = self.active.iter().collect();
        calls.sort_by(|a, b| a.0.cmp(b.0));
        for (call, a) in calls {
            let exts = a.ringing.iter().chain(a.answered_by.iter());
            for ext in exts {
                out.push(ringing(call, ext, a));
            }
            if let Some(by) = &a.answered_by {
                out.push(HubEvent::Answered {
                    call: call.clone(),
                    extension: by.clone(),
                    operator: self.setup.operators.get(by).cloned(),
                });
            }
        }
        out
    }

    fn on_call_event(&mut self, event: CallEvent, cards_tx: &mpsc::UnboundedSender<(String, Vec<CallerCard>)>) {
        match event {
            CallEvent::Ringing {
                call,
                extension,
                caller,
                caller_name,
                direction,
                ..
            } => {
                if !self.active.contains_key(&call) {
                    let number = caller.as_deref().and_then(|c| phone::normalize(c, self.setup.country).ok());
                    let cards = self.cards(number.as_ref());
                    self.enrich(&call, &cards, cards_tx);
                    self.active.insert(
                        call.clone(),
                        ActiveCall {
                            caller,
                            caller_name,
                            direction,
                            number,
                            cards,
                            ringing: BTreeSet::new(),
                            answered_by: None,
                        },
                    );
                }
                let active = self.active.get_mut(&call).expect("inserted above");
                active.ringing.insert(extension.clone());
                let _ = self.events.send(ringing(&call, &extension, active));
            }
            CallEvent::Answered { call, extension, .. } => {
                if let Some(a) = self.active.get_mut(&call) {
                    a.ringing.clear();
                    a.answered_by = Some(extension.clone());
                }
                let operator = self.setup.operators.get(&extension).cloned();
                let _ = self.events.send(HubEvent::Answered { call, extension, operator });
            }
            CallEvent::StoppedRinging { call, extension } => {
                if let Some(a) = self.active.get_mut(&call) {
                    a.ringing.remove(&extension);
                }
                let _ = self.events.send(HubEvent::StoppedRinging { call, extension });
            }
            CallEvent::Ended(record) => {
                let active = self.active.remove(&record.call);
                let number = match &active {
                    Some(a) => a.number.clone(),
                    None => record.caller.as_deref().and_then(|c| phone::normalize(c, self.setup.country).ok()),
                };
                let clients: Vec<String> = match &active {
                    Some(a) => a.cards.iter().map(|c| c.client.clone()).collect(),
                    None => self.cards(number.as_ref()).into_iter().map(|c| c.client).collect(),
                };
                let operator = record.answered_by.as_ref().and_then(|e| self.setup.operators.get(e)).cloned();
                let doc = call_documents::call(uuid::Uuid::now_v7(), &record, number.as_ref(), &clients, operator.as_deref());
                let store = self.setup.store.clone();
                // The write and its flush run beside the hub so the next call's card is not
                // held up by an fsync.
                tokio::spawn(async move {
                    if let Err(e) = store.append_documents(&[doc]).await {
                        tracing::error!(error = %e, "cannot record a call document");
                    }
                });
                let _ = self.events.send(HubEvent::Ended {
                    call: record.call,
                    missed: record.missed,
                    answered_by: record.answered_by,
                });
            }
        }
    }

    fn cards(&self, number: Option<&PhoneNumber>) -> Vec<CallerCard> {
        let Some(n) = number else { return Vec::new() };
        match self.setup.store.clients_by_phone(&n.e164, n.extension.as_deref()) {
            Ok(matches) => matches.iter().take(MAX_CARDS).map(|m| CallerCard::local(&m.client)).collect(),
            Err(e) => {
                tracing::error!(error = %e, "phone lookup failed");
                Vec::new()
            }
        }
    }

    /// Ask the CRM for the live cards; send them back only if all came within the budget.
    fn enrich(&self, call: &str, cards: &[CallerCard], tx: &mpsc::UnboundedSender<(String, Vec<CallerCard>)>) {
        let Some(crm) = self.setup.crm.clone() else { return };
        if cards.is_empty() {
            return;
        }
        let (call, mut cards, tx, budget) = (call.to_string(), cards.to_vec(), tx.clone(), self.setup.card_budget);
        let late_cards = self.late_cards.clone();
        tokio::spawn(async move {
            let fetch = futures_util::future::join_all(cards.iter().map(|c| crm.client_card(&c.client)));
            match tokio::time::timeout(budget, fetch).await {
                Ok(results) => {
                    let (mut any, mut timed_out) = (false, false);
                    for (card, live) in cards.iter_mut().zip(results) {
                        match live {
                            Ok(live) => {
                                card.enrich(live);
                                any = true;
                            }
                            // The CRM client's own timeout came before the budget: just as late.
                            Err(CrmError::TimedOut) => timed_out = true,
                            Err(e) => tracing::debug!(client = %card.client, error = %e, "no live card"),
                        }
                    }
                    if timed_out {
                        late_cards.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%call, "a live card from the CRM came too late");
                    }
                    if any {
                        let _ = tx.send((call, cards));
                    }
                }
                Err(_) => {
                    late_cards.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%call, ?budget, "the CRM's live card came too late");
                }
            }
        });
    }
}

fn ringing(call: &str, extension: &str, a: &ActiveCall) -> HubEvent {
    HubEvent::Ringing {
        call: call.to_string(),
        extension: extension.to_string(),
        direction: a.direction,
        caller: a.caller.clone(),
        caller_name: a.caller_name.clone(),
        e164: a.number.as_ref().map(|n| n.e164.clone()),
        cards: a.cards.clone(),
    }
}

/// What one operator's screen shows: one card per call however many of the operator's
/// extensions or devices ring, closed when the call is answered elsewhere, stops ringing for
/// all of them, or ends. Pure.
#[derive(Debug)]
pub struct OperatorScreen {
    extensions: BTreeSet<String>,
    /// Calls with a card open → the operator's extensions ringing for it.
    open: HashMap<String, BTreeSet<String>>,
}

/// One event for the screen: its SSE name and data.
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenEvent {
    pub name: &'static str,
    pub data: serde_json::Value,
}

impl OperatorScreen {
    pub fn new(extensions: impl IntoIterator<Item = String>) -> OperatorScreen {
        OperatorScreen {
            extensions: extensions.into_iter().collect(),
            open: HashMap::new(),
        }
    }

    pub fn apply(&mut self, event: &HubEvent) -> Option<ScreenEvent> {
        let data = || serde_json::to_value(event).unwrap_or_default();
        match event {
            HubEvent::Ringing { call, extension, .. } => {
                if !self.extensions.contains(extension) {
                    return None;
                }
                let exts = self.open.entry(call.clone()).or_default();
                let first = exts.is_empty();
                exts.insert(extension.clone());
                first.then(|| ScreenEvent {
                    name: "ringing",
                    data: data(),
                })
            }
            HubEvent::Card { call, .. } => self.open.contains_key(call).then(|| ScreenEvent {
                name: "card",
                data: data(),
            }),
            HubEvent::Answered { call, extension, .. } => {
                if !self.open.contains_key(call) {
                    return None;
                }
                let mine = self.extensions.contains(extension);
                if !mine {
                    self.open.remove(call);
                }
                let mut d = data();
                d["mine"] = serde_json::Value::Bool(mine);
                Some(ScreenEvent { name: "answered", data: d })
            }
            HubEvent::StoppedRinging { call, extension } => {
                let exts = self.open.get_mut(call)?;
                exts.remove(extension);
                if !exts.is_empty() {
                    return None;
                }
                self.open.remove(call);
                Some(ScreenEvent {
                    name: "stopped",
                    data: data(),
                })
            }
            HubEvent::Ended { call, .. } => {
                self.open.remove(call)?;
                Some(ScreenEvent {
                    name: "ended",
                    data: data(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(call: &str, ext: &str) -> HubEvent {
        HubEvent::Ringing {
            call: call.into(),
            extension: ext.into(),
            direction: Direction::Inbound,
            caller: Some("89161234567".into()),
            caller_name: None,
            e164: Some("+79161234567".into()),
            cards: vec![],
        }
    }

    #[test]
    fn one_card_per_call_and_it_closes_on_answer_elsewhere() {
        let mut olga = OperatorScreen::new(["101".to_string(), "102".to_string()]);
        let mut ivan = OperatorScreen::new(["103".to_string()]);
        let names = |screen: &mut OperatorScreen, e: &HubEvent| screen.apply(e).map(|s| s.name);
        assert_eq!(names(&mut olga, &ring("c1", "101")), Some("ringing"));
        assert_eq!(names(&mut olga, &ring("c1", "102")), None, "both of Olga's phones ring: one card");
        assert_eq!(names(&mut ivan, &ring("c1", "101")), None, "not Ivan's extension");
        assert_eq!(names(&mut ivan, &ring("c1", "103")), Some("ringing"));
        let answered = HubEvent::Answered {
            call: "c1".into(),
            extension: "103".into(),
            operator: Some("Иван".into()),
        };
        let for_olga = olga.apply(&answered).unwrap();
        assert_eq!((for_olga.name, &for_olga.data["mine"]), ("answered", &serde_json::json!(false)));
        let for_ivan = ivan.apply(&answered).unwrap();
        assert_eq!(for_ivan.data["mine"], serde_json::json!(true));
        let ended = HubEvent::Ended {
            call: "c1".into(),
            missed: false,
            answered_by: Some("103".into()),
        };
        assert_eq!(names(&mut olga, &ended), None, "Olga's card already closed");
        assert_eq!(names(&mut ivan, &ended), Some("ended"));
    }

    #[test]
    fn stopped_only_when_the_last_extension_stops() {
        let mut olga = OperatorScreen::new(["101".to_string(), "102".to_string()]);
        olga.apply(&ring("c2", "101"));
        olga.apply(&ring("c2", "102"));
        let stop = |e: &str| HubEvent::StoppedRinging {
            call: "c2".into(),
            extension: e.into(),
        };
        assert_eq!(olga.apply(&stop("101")), None);
        assert_eq!(olga.apply(&stop("102")).map(|s| s.name), Some("stopped"));
    }
}
