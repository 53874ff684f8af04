//! Pushing the outbox: the oldest document first, each until the CRM confirms it.

use super::{CrmClient, Link, PushOutcome};
use crate::store::Store;
use jiff::Timestamp;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// First retry delay; it doubles per failure up to the configured cap.
const FIRST_RETRY: Duration = Duration::from_millis(500);

/// How long to wait after `failures` failed attempts in a row: exponential, capped, with
/// jitter (between half and all of it) so many tills coming back together do not hit the CRM
/// in lockstep.
pub fn retry_delay(failures: u32, cap: Duration, jitter: f64) -> Duration {
    let exp = FIRST_RETRY.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let full = exp.min(cap);
    full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// The pusher task. Documents go strictly in `seq` order; a document the CRM refuses with a
/// 4xx is parked so it cannot block the shop, anything else is retried.
pub async fn run_pusher(client: CrmClient, store: Store, link: Arc<Link>, retry_cap: Duration, shutdown: CancellationToken) {
    if !establish_seq_base(&client, &store, &link, retry_cap, &shutdown).await {
        return;
    }
    let mut wake = store.watch_outbox();
    let mut failures = 0u32;
    loop {
        let document = match store.outbox_front() {
            Ok(Some(document)) => document,
            Ok(None) => {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = wake.changed() => {}
                    // Also look now and then, in case a wake-up was missed.
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                failures += 1;
                if !pause(failures, retry_cap, &shutdown).await {
                    return;
                }
                continue;
            }
        };
        // Every document in the outbox is power-loss durable already (it was appended in a
        // commit that fsync'd before anyone was told), so it may leave at once: a document
        // sent and then lost in a crash would be redone under a new id and counted twice.
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => return,
            outcome = client.push(&document) => outcome,
        };
        let seq = document.seq;
        let kind = document.doc.kind;
        let id = document.doc.id;
        let result = match outcome {
            PushOutcome::Stored | PushOutcome::Duplicate => {
                tracing::debug!(seq, document = %id, ?kind, "document delivered");
                link.pushed(Timestamp::now());
                failures = 0;
                store.outbox_delivered(seq).await
            }
            PushOutcome::Rejected(reason) => {
                tracing::warn!(seq, document = %id, ?kind, %reason, "CRM refused the document; parked for the admin");
                link.pushed(Timestamp::now());
                failures = 0;
                store.outbox_park(seq, &reason, Timestamp::now()).await
            }
            PushOutcome::TokenRejected(reason) => {
                tracing::error!(seq, ?kind, %reason, "the CRM rejects storeterm's token; documents wait in the outbox");
                link.token_rejected(reason);
                failures += 1;
                Ok(())
            }
            PushOutcome::Retry(reason) => {
                tracing::warn!(seq, document = %id, ?kind, %reason, "document not delivered; will retry");
                link.push_failed(reason);
                failures += 1;
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, seq, "cannot record the delivery");
            failures += 1;
        }
        if failures > 0 && !pause(failures, retry_cap, &shutdown).await {
            return;
        }
    }
}

/// A new or restored store numbers nothing until the CRM said which `seq` it holds last (see
/// `store::numbering`): ask until it answers. False when shutdown came first.
async fn establish_seq_base(client: &CrmClient, store: &Store, link: &Link, retry_cap: Duration, shutdown: &CancellationToken) -> bool {
    let mut failures = 0u32;
    loop {
        match store.seq_base_pending() {
            Ok(false) => return true,
            Ok(true) => {}
            Err(e) => tracing::error!(error = %e, "cannot read the store's numbering state"),
        }
        match client.last_document().await {
            Ok(base) => match store.confirm_seq_base(base).await {
                Ok(dropped) => {
                    tracing::info!(
                        ?base,
                        already_at_crm = dropped,
                        "document numbering continues after the CRM's last document"
                    );
                    link.pushed(Timestamp::now());
                    return true;
                }
                Err(e) => tracing::error!(error = %e, "cannot record the CRM's last document number"),
            },
            Err(e) => {
                tracing::warn!(error = %e, "the CRM did not say its last document number; documents wait");
                link.push_failed(format!("номер последнего документа в CRM неизвестен: {e}"));
            }
        }
        failures += 1;
        if !pause(failures, retry_cap, shutdown).await {
            return false;
        }
    }
}

/// Wait out the back-off; false when shutdown came first.
async fn pause(failures: u32, cap: Duration, shutdown: &CancellationToken) -> bool {
    let delay = retry_delay(failures, cap, fastrand::f64());
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_then_caps_with_jitter_inside_bounds() {
        let cap = Duration::from_secs(60);
        assert_eq!(retry_delay(1, cap, 1.0), Duration::from_millis(500));
        assert_eq!(retry_delay(2, cap, 1.0), Duration::from_secs(1));
        assert_eq!(retry_delay(4, cap, 1.0), Duration::from_secs(4));
        assert_eq!(retry_delay(30, cap, 1.0), cap);
        assert_eq!(retry_delay(30, cap, 0.0), cap / 2);
        assert_eq!(retry_delay(u32::MAX, cap, 0.5), cap.mul_f64(0.75));
    }
}
