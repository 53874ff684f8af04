//! Pulling the change feed: page after page until the CRM says there is no more, then again
//! every `pull_interval` seconds.

use super::{CrmClient, CrmError, Link};
use crate::store::{Store, StoreError};
use jiff::Timestamp;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What one catch-up pull did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PullReport {
    pub pages: usize,
    pub upserted: usize,
    pub deleted: usize,
    pub rejected: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Crm(#[from] CrmError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Pages applied by the store while the next ones are fetched and parsed. Pages waiting
/// together are applied in one transaction, which makes a first sync of a large catalog fast.
const PAGES_IN_FLIGHT: usize = 4;

/// Pull pages until the feed is current. Each page and its cursor are applied atomically, so
/// an interruption anywhere resumes from the last whole page; the pull is made durable once
/// it is current.
pub async fn pull_until_current(client: &CrmClient, store: &Store, link: &Link, limit: u32) -> Result<PullReport, PullError> {
    let mut report = PullReport::default();
    let mut in_flight = std::collections::VecDeque::new();
    let mut cursor = store.feed_cursor()?;
    let outcome = loop {
        let page = match client.changes(cursor.as_deref(), limit).await {
            Ok(page) => page.decode(),
            Err(e) => break Err(PullError::from(e)),
        };
        for rejected in &page.rejected {
            tracing::warn!(%rejected, "feed change refused");
            link.rejected(rejected.to_string());
        }
        report.pages += 1;
        report.rejected += page.rejected.len();
        let stalled = cursor.as_deref() == Some(page.cursor.as_str());
        let more = page.more;
        cursor = Some(page.cursor.clone());
        in_flight.push_back(store.submit_feed_page(page.changes, page.cursor));
        if in_flight.len() >= PAGES_IN_FLIGHT {
            if let Some(applying) = in_flight.pop_front() {
                count(&mut report, link, applying.await?);
            }
        }
        if !more {
            break Ok(());
        }
        if stalled {
            // A CRM that says "more" without moving the cursor would keep us here forever.
            tracing::warn!("the CRM said more changes follow but did not advance the cursor; waiting for the next interval");
            break Ok(());
        }
    };
    // Pages already queued are applied whatever happened to the next fetch.
    for applying in in_flight {
        count(&mut report, link, applying.await?);
    }
    outcome?;
    store.sync().await?;
    Ok(report)
}

fn count(report: &mut PullReport, link: &Link, applied: crate::store::FeedApplied) {
    for (kind, n) in &applied.skipped {
        if link.skipped(kind, *n) {
            tracing::info!(kind = %kind, "feed kind not handled by this build; skipping it");
        }
    }
    report.upserted += applied.upserted;
    report.deleted += applied.deleted;
}

/// The puller task: catch up now, then every `interval`, until `shutdown`.
pub async fn run_puller(client: CrmClient, store: Store, link: Arc<Link>, interval: Duration, limit: u32, shutdown: CancellationToken) {
    loop {
        match pull_until_current(&client, &store, &link, limit).await {
            Ok(report) => {
                link.pulled(Timestamp::now());
                if report.upserted + report.deleted > 0 {
                    tracing::info!(
                        pages = report.pages,
                        upserted = report.upserted,
                        deleted = report.deleted,
                        "catalog updated from the CRM"
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "change feed pull failed; working from the local catalog");
                link.pull_failed(e.to_string());
                if matches!(&e, PullError::Crm(crm) if super::is_token_rejected(crm)) {
                    link.set_alarm(super::token_alarm(&e.to_string()));
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
