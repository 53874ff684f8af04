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

/// How long the page waits for a lane's own state.
const LANE_ANSWER: std::time::Duration = std::time::Duration::from_millis(500);

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
    // Each lane's register: its state from the device registry, and the sale it holds.
    let mut lanes = Vec::new();
    for config in &s.lane_config {
        let Some(handle) = s.lanes.get(&config.id) else { continue };
        // A lane waiting for its register's answer takes no command until it has it (up to
        // half a minute): the page shows the register's state without the lane's word then.
        let fiscal = match tokio::time::timeout(LANE_ANSWER, handle.snapshot()).await {
            Ok(lane) => super::lanes::fiscal_json(config, &lane?),
            Err(_) => json!({"register": config.fiscal, "busy": "касса ждёт ответа ККТ"}),
        };
        let register = config.fiscal.as_deref().and_then(|id| s.registry.get(id));
        let words = match (&config.fiscal, &register) {
            (None, _) => "без ККТ — нефискальные чеки".to_string(),
            (Some(id), Some(status)) => {
                let state = match status.state {
                    crate::devices::DeviceState::Connected => "на связи",
                    crate::devices::DeviceState::Connecting => "ещё не опрашивалась",
                    crate::devices::DeviceState::Disconnected => "нет связи",
                };
                match &status.detail {
                    Some(detail) => format!("ККТ {id}: {state}; {detail}"),
                    None => format!("ККТ {id}: {state}"),
                }
            }
            (Some(id), None) => format!("ККТ {id}"),
        };
        lanes.push(json!({"id": config.id, "register": config.fiscal, "register_state": words, "fiscal": fiscal}));
    }
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "lanes": lanes,
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
