//! The services: one actor per lane, the warehouse, the call hub, the print spooler and the
//! store's housekeeping. `app` knows nothing of HTTP; the composition root (`daemon`) builds
//! these from the configuration and hands them to `http`.

pub mod backup;
pub mod calls;
pub mod compaction;
pub mod lane;
pub mod search;
pub mod spooler;
pub mod supervisor;
pub mod wms;

use crate::config::Config;
use crate::devices::DeviceRegistry;
use crate::devices::printer::VirtualPaper;
use crate::store::{Retention, Store, StoreSettings};
use crate::sync::Link;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The running services, as the composition root hands them to the HTTP layer.
pub struct Services {
    pub lanes: BTreeMap<String, lane::LaneHandle>,
    pub store: Store,
    pub registry: DeviceRegistry,
    pub link: Arc<Link>,
    pub paper: VirtualPaper,
    pub warehouse: wms::Warehouse,
    pub parts: supervisor::Parts,
}

/// How the store is opened for `config`.
pub fn store_settings(config: &Config) -> StoreSettings {
    StoreSettings {
        cache_mb: config.store.cache_mb,
        numbered_by_crm: config.crm.is_some(),
    }
}

/// How long the store keeps what, for `config`.
pub fn retention(config: &Config) -> Retention {
    let s = &config.store;
    Retention {
        receipts_days: s.keep_receipts_days,
        print_jobs_days: s.keep_print_jobs_days,
        wms_answers_days: s.keep_wms_answers_days,
        wms_log_days: s.keep_wms_log_days,
    }
}

/// How often the store's old records are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Remove what the retention policy says is old, now and then every [`PRUNE_EVERY`], a chunk at
/// a time so sales never wait behind it for long.
pub async fn prune_regularly(store: Store, policy: Retention, shutdown: CancellationToken) {
    loop {
        loop {
            match store.prune(jiff::Timestamp::now(), &policy).await {
                Ok(pruned) if pruned.total() == 0 => break,
                Ok(pruned) => tracing::info!(?pruned, "old records removed from the store"),
                Err(e) => {
                    tracing::warn!(error = %e, "pruning the store failed; trying again later");
                    break;
                }
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
        }
    }
}
