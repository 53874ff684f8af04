//! The cashier's printer: what it reports (in words), the receipts whose fate is unknown, and
//! the two answers a person gives — "reprint" (a copy marked «КОПИЯ») or "it did print".

use super::{ApiError, AppState, Principal};
use crate::config::Role;
use crate::domain::print_job::{JobError, PrintJob};
use crate::domain::text::shown;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};
use uuid::Uuid;

const TILL: &[Role] = &[Role::Cashier, Role::Admin];
/// How far back the till looks for jobs that wait for a decision.
const LOOKBACK: usize = 200;

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/lanes/{lane}/printer", get(lane_printer))
        .route("/api/v1/print-jobs/{id}/reprint", post(reprint))
        .route("/api/v1/print-jobs/{id}/confirm", post(confirm))
        .route("/api/v1/admin/printers/{id}/paper", post(virtual_paper))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PaperBody {
    loaded: bool,
}

/// Demo and training: take the roll out of a virtual printer (`{"loaded": false}`) or put it
/// back, to see what the cashier sees when the paper runs out.
async fn virtual_paper(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    super::body::ApiJson(body): super::body::ApiJson<PaperBody>,
) -> Result<Json<Value>, ApiError> {
    who.require(&[Role::Admin])?;
    let s = &state.inner;
    let Some(device) = s.registry.get(&id) else {
        return Err(ApiError::not_found(
            "unknown_device",
            format!("there is no device \"{}\"", shown(&id)),
        ));
    };
    if device.endpoint != "virtual" || device.kind != crate::config::DeviceKind::Printer {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_a_virtual_printer",
            format!("\"{}\" is not a virtual printer; load real paper into a real one", shown(&id)),
        ));
    }
    s.paper.set_out_of_paper(&id, !body.loaded);
    // Wake the worker so a waiting receipt prints as soon as the paper is back.
    s.store.nudge_print_queue();
    Ok(Json(json!({"printer": id, "loaded": body.loaded})))
}

fn job_view(job: &PrintJob) -> Value {
    json!({
        "id": job.id,
        "receipt": job.receipt,
        "printer": job.printer,
        "state": job.state.as_str(),
        "copy": job.copy,
        "error": job.error,
        "requested_at": job.requested_at,
        "reprinted_as": job.reprinted_as,
        "needs_decision": job.needs_decision(),
    })
}

/// The lane's printer: status words, queued jobs, and jobs waiting for "reprint?".
async fn lane_printer(State(state): State<AppState>, who: Principal, Path(lane): Path<String>) -> Result<Json<Value>, ApiError> {
    who.require(TILL)?;
    let s = &state.inner;
    let config = s
        .lane_config
        .iter()
        .find(|l| l.id == lane)
        .ok_or_else(|| ApiError::not_found("unknown_lane", format!("кассы «{}» нет", shown(&lane))))?;
    let Some(printer) = config.printer.as_deref() else {
        return Ok(Json(json!({"printer": null, "queued": [], "decisions": []})));
    };
    let device = s.registry.get(printer);
    let queued: Vec<Value> = s.store.open_print_jobs(printer)?.iter().map(job_view).collect();
    let decisions: Vec<Value> = s
        .store
        .recent_print_jobs(LOOKBACK)?
        .iter()
        .filter(|j| j.printer == printer && j.needs_decision())
        .map(job_view)
        .collect();
    Ok(Json(json!({
        "printer": printer,
        "state": device.as_ref().map(|d| d.state),
        "status": device.and_then(|d| d.detail),
        "queued": queued,
        "decisions": decisions,
    })))
}

fn job_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::bad_request(format!("\"{}\" is not a print job id", shown(raw))))
}

fn decided(outcome: Option<Result<PrintJob, JobError>>, id: Uuid) -> Result<Json<Value>, ApiError> {
    match outcome {
        None => Err(ApiError::not_found("unknown_print_job", format!("there is no print job {id}"))),
        Some(Err(e)) => {
            let code = match e {
                JobError::StillOpen(..) => "print_job_open",
                JobError::AlreadyReprinted(..) => "already_reprinted",
                JobError::NotUnknown(..) => "print_job_not_unknown",
            };
            Err(ApiError::new(StatusCode::CONFLICT, code, e.to_string()))
        }
        Some(Ok(job)) => Ok(Json(job_view(&job))),
    }
}

/// Print the receipt of job `id` again, as a copy. Answers with the new job.
async fn reprint(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    who.require(TILL)?;
    let id = job_id(&id)?;
    let outcome = state
        .inner
        .store
        .reprint_print_job(id, Uuid::now_v7(), jiff::Timestamp::now())
        .await?;
    if let Some(Ok(copy)) = &outcome {
        tracing::info!(job = %id, copy = %copy.id, who = %who.name, "reprint requested");
    }
    decided(outcome, id)
}

/// The receipt of `unknown` job `id` is on paper after all: no reprint.
async fn confirm(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    who.require(TILL)?;
    let id = job_id(&id)?;
    let outcome = state.inner.store.confirm_print_job(id).await?;
    decided(outcome, id)
}
