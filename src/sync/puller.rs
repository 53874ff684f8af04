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

/// Pull pages until the feed is current. Each page and its cursor are applied atomically, so
/// an interruption anywhere resumes from the last whole page.
pub async fn pull_until_current(client: &CrmClient, store: &Store, link: &Link, limit: u32) -> Result<PullReport, PullError> {
    let mut report = PullReport::default();
    loop {
        let cursor = store.feed_cursor()?;
        let page = client.changes(cursor.as_deref(), limit).await?.decode();
        for rejected in &page.rejected {
            tracing::warn!(%rejected, "feed change refused");
            link.rejected(rejected.to_string());
        }
        let applied = store.apply_feed(&page.changes, &page.cursor).await?;
        // The v1.1 retail changes are decoded (and their errors reported) but this build's
        // store does not keep them yet: counted as skipped kinds, like any kind it lacks.
        let mut retail: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for change in &page.retail {
            *retail.entry(change.kind()).or_default() += 1;
        }
        for (kind, count) in retail.iter().map(|(k, c)| (k.to_string(), *c)).chain(applied.skipped.clone()) {
            let (kind, count) = (&kind, &count);
            if link.skipped(kind, *count) {
                tracing::info!(kind = %kind, "feed kind not handled by this build; skipping it");
            }
        }
        report.pages += 1;
        report.upserted += applied.upserted;
        report.deleted += applied.deleted;
        report.rejected += page.rejected.len();
        if !page.more {
            return Ok(report);
        }
        if cursor.as_deref() == Some(page.cursor.as_str()) {
            // A CRM that says "more" without moving the cursor would keep us here forever.
            tracing::warn!("the CRM said more changes follow but did not advance the cursor; waiting for the next interval");
            return Ok(report);
        }
    }
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
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
