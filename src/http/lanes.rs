//! The cashier's API: shift, receipt, scan, lines, payments and the live event stream.

use super::body::ApiJson;
use super::views::{ClosedView, PaymentView, ReceiptView, ShiftView};
use super::{ApiError, AppState, Principal};
use crate::app::lane::LaneEvent;
use crate::config::Role;
use crate::domain::lane::Paid;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

const TILL: &[Role] = &[Role::Cashier, Role::Admin];

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/lanes", get(list))
        .route("/api/v1/lanes/{lane}/shift/open", post(open_shift))
        .route("/api/v1/lanes/{lane}/shift/close", post(close_shift))
        .route("/api/v1/lanes/{lane}/receipt", get(receipt))
        .route("/api/v1/lanes/{lane}/receipt/cancel", post(cancel))
        .route("/api/v1/lanes/{lane}/receipt/lines/{no}", patch(set_qty).delete(void_line))
        .route("/api/v1/lanes/{lane}/scan", post(scan))
        .route("/api/v1/lanes/{lane}/fiscal", get(fiscal))
        .route("/api/v1/lanes/{lane}/fiscal/retry", post(fiscal_retry))
        .route("/api/v1/lanes/{lane}/events", get(events))
}

async fn list(State(state): State<AppState>, who: Principal) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let mut lanes = Vec::new();
    for config in &state.inner.lane_config {
        let lane = state.lane(&config.id)?.snapshot().await?;
        lanes.push(json!({
            "id": config.id,
            "scanner": config.scanner,
            "printer": config.printer,
            "shift": lane.shift.as_ref().map(ShiftView::new),
            "receipt_open": lane.receipt.is_some(),
            "fiscal": fiscal_json(config, &lane),
        }));
    }
    Ok(Json(lanes).into_response())
}

async fn open_shift(State(state): State<AppState>, who: Principal, Path(lane): Path<String>) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let shift = state.lane(&lane)?.open_shift(who.name).await?;
    Ok(Json(ShiftView::new(&shift)).into_response())
}

async fn close_shift(State(state): State<AppState>, who: Principal, Path(lane): Path<String>) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let shift = state.lane(&lane)?.close_shift(who.name).await?;
    Ok(Json(ShiftView::new(&shift)).into_response())
}

fn receipt_json(lane: &str, receipt: Option<&crate::domain::receipt::Receipt>) -> Response {
    Json(ReceiptView::new(lane, receipt)).into_response()
}

async fn receipt(State(state): State<AppState>, who: Principal, Path(lane): Path<String>) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let snapshot = state.lane(&lane)?.snapshot().await?;
    Ok(receipt_json(&lane, snapshot.receipt.as_ref()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanBody {
    code: String,
}

async fn scan(
    State(state): State<AppState>,
    who: Principal,
    Path(lane): Path<String>,
    ApiJson(body): ApiJson<ScanBody>,
) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let receipt = state.lane(&lane)?.scan(body.code, who.name).await?;
    Ok(receipt_json(&lane, receipt.as_ref()))
}

/// A quantity as a decimal string (`"0.355"`), or a whole JSON number for convenience; never
/// a JSON fraction, which would pass through a float.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum QtyInput {
    Text(String),
    Whole(u64),
}

impl QtyInput {
    pub(super) fn text(&self) -> String {
        match self {
            QtyInput::Text(text) => text.clone(),
            QtyInput::Whole(n) => n.to_string(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QtyBody {
    qty: QtyInput,
}

async fn set_qty(
    State(state): State<AppState>,
    who: Principal,
    Path((lane, no)): Path<(String, u32)>,
    ApiJson(body): ApiJson<QtyBody>,
) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let qty = body.qty.text();
    let receipt = state.lane(&lane)?.set_qty(no, qty).await?;
    Ok(receipt_json(&lane, receipt.as_ref()))
}

async fn void_line(State(state): State<AppState>, who: Principal, Path((lane, no)): Path<(String, u32)>) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let receipt = state.lane(&lane)?.void_line(no).await?;
    Ok(receipt_json(&lane, receipt.as_ref()))
}

async fn cancel(State(state): State<AppState>, who: Principal, Path(lane): Path<String>) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let receipt = state.lane(&lane)?.cancel_receipt().await?;
    Ok(receipt_json(&lane, receipt.as_ref()))
}

/// A lane's register and the sale it holds for it, in words for the screens.
pub(super) fn fiscal_json(config: &crate::config::LaneConfig, lane: &crate::domain::lane::Lane) -> serde_json::Value {
    let pending = lane.fiscal.as_ref().map(|p| {
        let (code, message) = p
            .stage
            .problem()
            .unwrap_or(("fiscal_pending", "Чек отправлен на кассу, ждём ответа."));
        json!({
            "kind": match &p.held {
                crate::domain::fiscal::Held::Sale(_) => "sale",
                crate::domain::fiscal::Held::Return(_) => "return",
                crate::domain::fiscal::Held::Cash(_) => "cash",
            },
            "receipt": p.operation(),
            "number": p.held.number(),
            "what": p.held.label(),
            "total": p.total(),
            "attempt": p.attempt,
            "since": p.since,
            "stage": p.stage,
            "code": code,
            "message": message,
            "retry": format!("/api/v1/lanes/{}/fiscal/retry", config.id),
        })
    });
    json!({
        "register": config.fiscal,
        "mode": if config.fiscal.is_some() { "fiscal" } else { "non_fiscal" },
        "pending": pending,
    })
}

/// `GET …/fiscal`: the lane's register and the sale held for it, if any.
async fn fiscal(State(state): State<AppState>, who: Principal, Path(lane): Path<String>) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let config = state
        .inner
        .lane_config
        .iter()
        .find(|c| c.id == lane)
        .ok_or_else(|| ApiError::not_found("unknown_lane", "no such lane"))?;
    let snapshot = state.lane(&lane)?.snapshot().await?;
    Ok(Json(fiscal_json(config, &snapshot)).into_response())
}

/// `POST …/fiscal/retry`: send the held sale again after the cause was removed; answers like a
/// payment that closed the receipt.
async fn fiscal_retry(State(state): State<AppState>, who: Principal, Path(lane): Path<String>) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let handle = state.lane(&lane)?;
    let answer = match handle.fiscal_retry().await? {
        crate::domain::fiscal::Held::Sale(receipt) => {
            let open = handle.snapshot().await?.receipt;
            json!(PaymentView::new(&lane, &Paid::Closed { receipt }, open.as_ref()))
        }
        crate::domain::fiscal::Held::Return(ret) => json!({"status": "closed", "fiscal": ret.fiscal, "return": ret}),
        crate::domain::fiscal::Held::Cash(movement) => json!({"status": "done", "kkt": movement.kkt, "movement": movement}),
    };
    Ok(Json(answer).into_response())
}

fn event(name: &str, data: impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name))
}

fn lane_event(lane: &str, e: LaneEvent) -> Event {
    match e {
        LaneEvent::Receipt(r) => event("receipt", ReceiptView::new(lane, r.as_ref())),
        LaneEvent::Refused { scan, code, message } => event("refused", json!({"scan": scan, "code": code, "message": message})),
        LaneEvent::Closed(r) => event("closed", ClosedView::new(&r)),
        LaneEvent::Shift(s) => event("shift", ShiftView::new(&s)),
    }
}

/// `GET …/events`: the open receipt now, then every change as it happens.
async fn events(
    State(state): State<AppState>,
    who: Principal,
    Path(lane): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    who.require(TILL)?;
    let handle = state.lane(&lane)?;
    if who.role == Role::Cashier {
        handle.sign_in(who.name.clone()).await;
    }
    // Subscribe before taking the snapshot so no change falls between them.
    let updates = BroadcastStream::new(handle.subscribe());
    let snapshot = handle.snapshot().await?;
    let last_closed = handle.last_closed().await?;
    let first = lane_event(&lane, LaneEvent::Receipt(snapshot.receipt));
    let shift = snapshot.shift.map(|s| lane_event(&lane, LaneEvent::Shift(s)));
    // A payment whose answer the screen never got: its change due, shown again.
    let closed = last_closed.map(|c| lane_event(&lane, LaneEvent::Closed(Box::new(c))));
    let name = lane.clone();
    let live = updates.map(move |update| match update {
        Ok(e) => lane_event(&name, e),
        // The screen fell behind; tell it to fetch the receipt again.
        Err(BroadcastStreamRecvError::Lagged(_)) => Event::default().event("resync").data("{}"),
    });
    let stream = stream::iter(std::iter::once(first).chain(shift).chain(closed))
        .chain(live)
        .map(Ok)
        .take_until(state.inner.shutdown.clone().cancelled_owned());
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
