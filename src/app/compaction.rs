//! Compacting the store file when nobody is using the shop.
//!
//! A first sync of a large catalog, a full price update or a retention pass leaves the file
//! with room it no longer needs; [`Store::compact`] gives it back. While it runs the store
//! answers nothing — seconds, with a million items — so it must not fall on a cashier's scan
//! or a storekeeper's putaway. It therefore waits until the store says it is due *and* nobody
//! has written anything for [`QUIET_BEFORE_COMPACTION`]: a closed shop at night, a lull
//! between customers.

use crate::store::Store;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long nobody may have written (no receipt edit, sale, warehouse operation or call)
/// before the store is compacted.
pub const QUIET_BEFORE_COMPACTION: Duration = Duration::from_secs(120);

/// How often the task looks at the store.
const LOOK_EVERY: Duration = Duration::from_secs(10);

/// Compact the store whenever it is due and the shop has been quiet long enough; ends on
/// shutdown. A failed compaction is logged and waits for the next quiet spell.
pub async fn compact_when_quiet(store: Store, shutdown: CancellationToken) {
    let mut quiet = Quiet::new(store.activity(), Instant::now());
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(LOOK_EVERY) => {}
        }
        let still = quiet.observe(store.activity(), Instant::now());
        if still < QUIET_BEFORE_COMPACTION || !store.compaction_due().unwrap_or(false) {
            continue;
        }
        if let Err(e) = store.compact().await {
            tracing::warn!(error = %e, "compacting the store failed; trying again in the next quiet spell");
        }
        // Whatever happened, the next attempt needs a quiet spell of its own.
        quiet = Quiet::new(store.activity(), Instant::now());
    }
}

/// How long a counter of activity has stood still.
#[derive(Debug)]
struct Quiet {
    seen: u64,
    since: Instant,
}

impl Quiet {
    fn new(activity: u64, now: Instant) -> Quiet {
        Quiet {
            seen: activity,
            since: now,
        }
    }

    /// The counter read at `now`; returns how long it has not moved.
    fn observe(&mut self, activity: u64, now: Instant) -> Duration {
        if activity != self.seen {
            *self = Quiet::new(activity, now);
        }
        now.saturating_duration_since(self.since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_is_the_time_since_the_counter_last_moved() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut quiet = Quiet::new(7, start);
        assert_eq!(quiet.observe(7, at(10)), Duration::from_secs(10));
        assert_eq!(quiet.observe(7, at(100)), Duration::from_secs(100));
        // One sale restarts the wait.
        assert_eq!(quiet.observe(8, at(110)), Duration::ZERO);
        assert_eq!(quiet.observe(8, at(229)), Duration::from_secs(119));
        assert!(quiet.observe(8, at(230)) >= QUIET_BEFORE_COMPACTION);
    }
}
