//! The storekeeper's API (`/api/v1/wms/…`): cells, stock, receiving, putaway, moves, picking
//! and counts. Every call needs the `storekeeper` or `admin` role; quantities travel as
//! decimal strings; every changing call carries the handheld's operation `id`.

use super::body::ApiJson;
use super::{ApiError, AppState, Principal};
use crate::app::wms::{CodeQty, WmsFailure};
use crate::config::Role;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;

const WAREHOUSE: &[Role] = &[Role::Storekeeper, Role::Admin];

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/wms/cells/{code}", get(cell))
        .route("/api/v1/wms/stock", get(stock))
        .route("/api/v1/wms/receipts", post(receipt))
        .route("/api/v1/wms/putaway/suggest", get(suggest))
        .route("/api/v1/wms/putaway", post(putaway))
        .route("/api/v1/wms/moves", post(move_goods))
        .route("/api/v1/wms/picks", get(picks))
        .route("/api/v1/wms/picks/{order}", get(pick_plan))
        .route("/api/v1/wms/picks/{order}/scan", post(pick_scan))
        .route("/api/v1/wms/picks/{order}/complete", post(pick_complete))
        .route("/api/v1/wms/counts", post(count))
}

impl From<WmsFailure> for ApiError {
    fn from(e: WmsFailure) -> Self {
        let code = e.code();
        let status = match code {
            "unknown_cell" | "unknown_item" | "unknown_order" | "unknown_expected" => StatusCode::NOT_FOUND,
            "insufficient_stock" | "not_in_cell" | "over_pick" | "order_completed" | "id_reused" => StatusCode::CONFLICT,
            "bad_request" => StatusCode::BAD_REQUEST,
            "storage_error" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "warehouse failure");
        }
        ApiError::new(status, code, e.to_string())
    }
}

/// A quantity as a decimal string, or a whole JSON number for convenience; never a JSON
/// fraction, which would pass through a float.
#[derive(Deserialize)]
#[serde(untagged)]
enum Qty {
    Text(String),
    Whole(u64),
}

impl Qty {
    fn text(self) -> String {
        match self {
            Qty::Text(t) => t,
            Qty::Whole(n) => n.to_string(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    code: String,
    qty: Qty,
}

fn lines(lines: Vec<Line>) -> Vec<CodeQty> {
    lines
        .into_iter()
        .map(|l| CodeQty {
            code: l.code,
            qty: l.qty.text(),
        })
        .collect()
}

/// Read the body as typed fields, keeping the raw JSON as the operation's fingerprint.
fn typed<T: DeserializeOwned>(body: &Value) -> Result<T, ApiError> {
    serde_json::from_value(body.clone()).map_err(|e| ApiError::bad_request(e.to_string()))
}

async fn cell(State(state): State<AppState>, who: Principal, Path(code): Path<String>) -> Result<Response, ApiError> {
    who.require(WAREHOUSE)?;
    Ok(Json(state.inner.warehouse.cell_view(&code)?).into_response())
}

fn query_param<'a>(q: &'a HashMap<String, String>, name: &str) -> Result<&'a str, ApiError> {
    q.get(name)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("the query needs ?{name}=")))
}

async fn stock(State(state): State<AppState>, who: Principal, Query(q): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    who.require(WAREHOUSE)?;
    Ok(Json(state.inner.warehouse.item_stock(query_param(&q, "code")?)?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptBody {
    id: String,
    #[serde(default)]
    expected: Option<String>,
    lines: Vec<Line>,
}

async fn receipt(State(state): State<AppState>, who: Principal, ApiJson(raw): ApiJson<Value>) -> Result<Response, ApiError> {
    who.require(WAREHOUSE)?;
    let body: ReceiptBody = typed(&raw)?;
    let expected = body.expected.as_deref().filter(|e| !e.trim().is_empty());
    let answer = state
        .inner
        .warehouse
        .receive(&who.name, &body.id, expected, &lines(body.lines), &raw)
        .await?;
    Ok(Json(answer).into_response())
}

async fn suggest(State(state): State<AppState>, who: Principal, Query(q): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    who.require(WAREHOUSE)?;
    let qty = q.get("qty").map(String::as_str).unwrap_or("1");
    let s = state.inner.warehouse.suggest(query_param(&q, "code")?, qty)?;
    Ok(Json(s).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutawayBody {
    id: String,
    code: String,
    qty: Qty,
    cell: String,
}

async fn putaway(State(state): State<AppState>, who: Principal, ApiJson(raw): ApiJson<Value>) -> Result<Response, ApiError> {
    who.require(WAREHOUSE)?;
    let b: PutawayBody = typed(&raw)?;
    let answer = state
        .inner
        .warehouse
        .putaway(&who.name, &b.id, &b.code, &b.qty.text(), &b.cell, &raw)
        .await?;
    Ok(Json(answer).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveBody {
    id: String,
    code: String,
    qty: Qty,
    from: String,
    to: String,
}

async fn move_goods(State(state): State<AppState>, who: Principal, ApiJson(raw): ApiJson<Value>) -> Result<Response, ApiError> {
    who.require(WAREHOUSE)?;
    let b: MoveBody = typed(&raw)?;
    let answer = state
        .inner
        .warehouse
        .move_goods(&who.name, &b.id, &b.code, &b.qty.text(), &b.from, &b.to, &raw)
        .await?;
    Ok(Json(answer).into_response())
}

async fn picks(State(state): State<AppState>, who: Principal) -> Result<Response, ApiError> {
    who.require(WAREHOUSE)?;
    Ok(Json(state.inner.warehouse.open_picks()?).into_response())
}

async fn pick_plan(State(state): State<AppState>, who: Principal, Path(order): Path<String>) -> Result<Response, ApiError> {
    who.require(WAREHOUSE)?;
    Ok(Json(state.inner.warehouse.pick_plan(&order)?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PickScanBody {
    id: String,
    cell: String,
    code: String,
    #[serde(default)]
    qty: Option<Qty>,
}

async fn pick_scan(
    State(state): State<AppState>,
    who: Principal,
    Path(order): Path<String>,
    ApiJson(raw): ApiJson<Value>,
) -> Result<Response, ApiError> {
    who.require(WAREHOUSE)?;
    let b: PickScanBody = typed(&raw)?;
    let qty = b.qty.map_or_else(|| "1".to_string(), Qty::text);
    let answer = state
        .inner
        .warehouse
        .pick_scan(&who.name, &order, &b.id, &b.cell, &b.code, &qty, &raw)
        .await?;
    Ok(Json(answer).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CompleteBody {
    #[serde(default)]
    id: Option<String>,
}

async fn pick_complete(
    State(state): State<AppState>,
    who: Principal,
    Path(order): Path<String>,
    super::ApiBytes(body): super::ApiBytes,
) -> Result<Response, ApiError> {
    who.require(WAREHOUSE)?;
    // The body is optional: `{"id": …}` when the handheld sends one.
    let raw = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(e.to_string()))?
    };
    let b: CompleteBody = typed(&raw)?;
    let answer = state
        .inner
        .warehouse
        .pick_complete(&who.name, &order, b.id.as_deref(), &raw)
        .await?;
    Ok(Json(answer).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountBody {
    id: String,
    cell: String,
    lines: Vec<Line>,
}

async fn count(State(state): State<AppState>, who: Principal, ApiJson(raw): ApiJson<Value>) -> Result<Response, ApiError> {
    who.require(WAREHOUSE)?;
    let b: CountBody = typed(&raw)?;
    let answer = state
        .inner
        .warehouse
        .count(&who.name, &b.id, &b.cell, &lines(b.lines), &raw)
        .await?;
    Ok(Json(answer).into_response())
}
