//! The link to the central CRM: pulling the change feed down and pushing the outbox up.
//!
//! Both directions run as their own tasks and survive the CRM being down for days: the puller
//! keeps the last good catalog and tries again at the next interval; the pusher keeps every
//! document in the outbox and retries it with back-off until the CRM confirms it.

pub mod client;
pub mod commerceml;
pub mod feed;
pub mod onec;
mod puller;
mod pusher;
mod wms_feed;

pub use client::{CrmClient, CrmError, PushOutcome};
pub use puller::{PullReport, pull_until_current, run_puller};
pub use pusher::{retry_delay, run_pusher};

use jiff::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The CRM link as `/admin` and the screens show it.
#[derive(Debug, Default, Clone, Serialize)]
pub struct LinkState {
    pub configured: bool,
    /// `None` until the first exchange.
    pub online: Option<bool>,
    pub last_pull: Option<Timestamp>,
    pub last_push: Option<Timestamp>,
    /// Why the last change-feed pull failed, until one succeeds.
    pub pull_error: Option<String>,
    /// Why the last document push failed, until one succeeds.
    pub push_error: Option<String>,
    /// Feed changes refused lately, with the reason (newest last, at most [`KEEP_REJECTED`]).
    pub feed_rejected: Vec<String>,
    /// Feed changes of kinds this build does not handle, by kind.
    pub feed_skipped: BTreeMap<String, u64>,
    /// Something only a person can fix (the CRM rejects our token), in words for `/admin`;
    /// cleared by the next exchange that works.
    pub alarm: Option<String>,
}

/// Whether a CRM error is the CRM refusing our token (`401`/`403`).
pub fn is_token_rejected(e: &CrmError) -> bool {
    matches!(
        e,
        CrmError::Status { status: 401 | 403, .. } | CrmError::NotJson { status: 401 | 403, .. }
    )
}

/// The alarm shown while the CRM refuses our token.
pub fn token_alarm(reason: &str) -> String {
    format!(
        "CRM отклоняет токен storeterm ({reason}). Документы не теряются и не откладываются: они ждут в очереди и уйдут, \
         как только в [crm] token будет действующий токен (или CRM снова его примет)"
    )
}

const KEEP_REJECTED: usize = 20;

/// Shared, lock-protected [`LinkState`]. The lock is held only to copy or update a few fields.
#[derive(Debug, Default)]
pub struct Link {
    state: Mutex<LinkState>,
}

impl Link {
    pub fn new(configured: bool) -> Link {
        Link {
            state: Mutex::new(LinkState {
                configured,
                ..LinkState::default()
            }),
        }
    }

    pub fn snapshot(&self) -> LinkState {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LinkState> {
        // A panic elsewhere while holding this lock leaves plain status data behind; using it
        // is harmless.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pulled(&self, now: Timestamp) {
        let mut s = self.lock();
        s.online = Some(true);
        s.last_pull = Some(now);
        s.pull_error = None;
        s.alarm = None;
    }

    fn pull_failed(&self, error: String) {
        let mut s = self.lock();
        s.online = Some(false);
        s.pull_error = Some(error);
    }

    fn pushed(&self, now: Timestamp) {
        let mut s = self.lock();
        s.online = Some(true);
        s.last_push = Some(now);
        s.push_error = None;
        s.alarm = None;
    }

    fn set_alarm(&self, alarm: String) {
        self.lock().alarm = Some(alarm);
    }

    /// The CRM refuses our token: the link is down until someone fixes it, and says so.
    fn token_rejected(&self, reason: String) {
        let mut s = self.lock();
        s.online = Some(false);
        s.alarm = Some(token_alarm(&reason));
        s.push_error = Some(reason);
    }

    fn push_failed(&self, error: String) {
        let mut s = self.lock();
        s.online = Some(false);
        s.push_error = Some(error);
    }

    fn rejected(&self, reason: String) {
        let mut s = self.lock();
        if s.feed_rejected.len() == KEEP_REJECTED {
            s.feed_rejected.remove(0);
        }
        s.feed_rejected.push(reason);
    }

    /// Count skipped kinds; returns true the first time a kind is seen, so it is logged once.
    fn skipped(&self, kind: &str, count: usize) -> bool {
        let mut s = self.lock();
        let entry = s.feed_skipped.entry(kind.to_string()).or_default();
        let first = *entry == 0;
        *entry += count as u64;
        first
    }
}
