//! The admin's view: devices, the CRM link, the outbox backlog, print jobs and the virtual
//! printer's paper.

use super::{ApiError, AppState, Principal};
use crate::config::Role;
use axum::Json;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/admin/status", get(status))
        .route("/api/v1/admin/parked/{seq}/resend", post(resend))
        .route("/api/v1/admin/parked/{seq}/drop", post(drop_parked))
}

fn no_such_parked(seq: u64) -> ApiError {
    ApiError::not_found(
        "unknown_parked",
        format!("нет отклонённого документа № {seq} (уже отправлен заново или отброшен?)"),
    )
}

/// The CRM side was fixed: send the parked document again, next, under its own id and seq.
async fn resend(State(state): State<AppState>, who: Principal, Path(seq): Path<u64>) -> Result<Json<Value>, ApiError> {
    who.require(&[Role::Admin])?;
    if !state.inner.store.parked_resend(seq).await? {
        return Err(no_such_parked(seq));
    }
    tracing::info!(seq, by = %who.name, "parked document queued again for the CRM");
    Ok(Json(json!({"seq": seq, "state": "queued"})))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DropBody {
    reason: String,
}

/// Give up on a parked document; the admin's written reason is kept with it in the store.
async fn drop_parked(
    State(state): State<AppState>,
    who: Principal,
    Path(seq): Path<u64>,
    super::ApiJson(body): super::ApiJson<DropBody>,
) -> Result<Json<Value>, ApiError> {
    who.require(&[Role::Admin])?;
    let reason = body.reason.trim();
    if reason.chars().count() < 3 || reason.len() > 1000 {
        return Err(ApiError::bad_request(
            "напишите, почему документ не нужно отправлять (от 3 символов до 1000 байт)",
        ));
    }
    if !state
        .inner
        .store
        .parked_drop(seq, reason, &who.name, jiff::Timestamp::now())
        .await?
    {
        return Err(no_such_parked(seq));
    }
    tracing::warn!(seq, by = %who.name, reason, "parked document dropped by the admin");
    Ok(Json(json!({"seq": seq, "state": "dropped"})))
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
            "dropped": s.store.dropped(LISTED)?.into_iter().map(|d| json!({"seq": d.parked.document.seq, "id": d.parked.document.doc.id, "kind": d.parked.document.doc.kind, "crm_reason": d.parked.reason, "reason": d.reason, "by": d.by, "dropped_at": d.dropped_at})).collect::<Vec<Value>>(),
        },
        "print_jobs": s.store.recent_print_jobs(LISTED)?,
        "parts": s.parts.report(),
        "paper": s.paper.all(),
        // Call signals the PBX sent while the call hub was stuck (non-zero means missed cards),
        // and live cards the CRM did not deliver within the budget.
        // 1C's «Обмен с сайтом»: last exchange and import, refused logins and the alarm.
        "onec": s.onec.as_ref().map(|o| o.status()),
        "calls": s.calls.as_ref().map(|c| json!({"dropped_signals": c.hub.dropped_signals(), "late_cards": c.hub.late_cards()})),
    })))
}
