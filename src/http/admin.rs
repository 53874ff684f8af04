//! The admin's view: devices, the CRM link, the outbox backlog, print jobs and the virtual
//! printer's paper.

use super::{ApiError, AppState, Principal};
use crate::config::Role;
use axum::Json;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/api/v1/admin/status", get(status))
}

/// How many recent print jobs and pending documents the page lists.
const LISTED: usize = 20;

async fn status(State(state): State<AppState>, who: Principal) -> Result<Json<Value>, ApiError> {
    who.require(&[Role::Admin])?;
    let s = &state.inner;
    let pending: Vec<Value> = s
        .store
        .outbox_pending(LISTED)?
        .into_iter()
        .map(|d| json!({"seq": d.seq, "id": d.doc.id, "kind": d.doc.kind, "created_at": d.doc.created_at}))
        .collect();
    let parked: Vec<Value> = s
        .store
        .parked()?
        .into_iter()
        .map(|p| json!({"seq": p.document.seq, "id": p.document.doc.id, "kind": p.document.doc.kind, "reason": p.reason, "parked_at": p.parked_at}))
        .collect();
    let backups = match &s.backup_dir {
        None => Value::Null,
        Some(dir) => {
            let dir = dir.clone();
            let listed = tokio::task::spawn_blocking(move || crate::app::backup::state(&dir)).await;
            match listed {
                Ok(Ok(b)) => json!({
                    "dir": s.backup_dir,
                    "count": b.files.len(),
                    "newest": b.newest(),
                    "last_error": b.last_error,
                }),
                Ok(Err(e)) => json!({"dir": s.backup_dir, "last_error": e.to_string()}),
                Err(e) => json!({"dir": s.backup_dir, "last_error": e.to_string()}),
            }
        }
    };
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "backups": backups,
        "devices": s.registry.all(),
        "crm": s.link.snapshot(),
        "catalog": {"items": s.store.item_count()?, "clients": s.store.client_count()?},
        "store": {"file_bytes": s.store.file_size()},
        "outbox": {
            "waiting": s.store.outbox_len()?,
            "delivered_seq": s.store.delivered_seq()?,
            "pending": pending,
            "parked": parked,
        },
        "print_jobs": s.store.recent_print_jobs(LISTED)?,
        "parts": s.parts.report(),
        "paper": s.paper.all(),
        // Call signals the PBX sent while the call hub was stuck (non-zero means missed cards),
        // and live cards the CRM did not deliver within the budget.
        "calls": s.calls.as_ref().map(|c| json!({"dropped_signals": c.hub.dropped_signals(), "late_cards": c.hub.late_cards()})),
    })))
}
