//! The till's retail operations over HTTP: payments with strict amounts, discounts within the
//! role's limit, the receipt's client, returns, cash in and out, the X report, parked
//! receipts, the last closed receipt and the item search.
//!
//! Every operation that moves money or produces a document answers only after the lane
//! actor's commit is durable (see `app::lane`); this module only reads requests and shapes
//! answers.

use super::body::ApiJson;
use super::views::{ClosedView, PaymentView, ReceiptView, ShiftView};
use super::{ApiError, AppState, Principal};
use crate::app::lane::{ClientKey, ReturnOf};
use crate::config::Role;
use crate::domain::drawer::CashDirection;
use crate::domain::money;
use crate::domain::pricing::DiscountValue;
use crate::domain::receipt::{PaymentMethod, Tender};
use crate::domain::returns::{RefundTo, ReturnRequest};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

const TILL: &[Role] = &[Role::Cashier, Role::Admin];

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/lanes/{lane}/payments", post(pay))
        .route("/api/v1/lanes/{lane}/receipt/discount", post(discount))
        .route("/api/v1/lanes/{lane}/receipt/client", post(attach_client).delete(detach_client))
        .route("/api/v1/lanes/{lane}/receipt/park", post(park))
        .route("/api/v1/lanes/{lane}/parked", get(parked))
        .route("/api/v1/lanes/{lane}/parked/{id}/resume", post(resume))
        .route("/api/v1/lanes/{lane}/returns", post(return_goods))
        .route("/api/v1/lanes/{lane}/cash", post(cash))
        .route("/api/v1/lanes/{lane}/x-report", post(x_report))
        .route("/api/v1/lanes/{lane}/last-closed", get(last_closed))
        .route("/api/v1/items/search", get(search))
}

/// An amount of money as a request carries it: a decimal string (`"500.50"`) or a whole JSON
/// number (`500`). A JSON fraction or exponent (`10.5`, `1e2`) is refused: it passed through
/// a float on its way, and `1e10` must never close a 10-ruble receipt.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum AmountInput {
    Text(String),
    Number(serde_json::Number),
}

impl AmountInput {
    pub fn parse(&self, field: &str) -> Result<Decimal, ApiError> {
        let text = match self {
            AmountInput::Text(text) => text.clone(),
            AmountInput::Number(n) if n.is_u64() => n.to_string(),
            AmountInput::Number(n) => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_amount",
                    format!("«{field}»: сумму {n} передайте строкой с точкой или запятой, например \"10.50\""),
                ));
            }
        };
        money::parse_amount(&text).map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentBody {
    method: PaymentMethod,
    amount: AmountInput,
    /// The card payment's RRN from the terminal's slip.
    #[serde(default)]
    rrn: Option<String>,
    /// The cashier confirmed an unusually large cash amount.
    #[serde(default)]
    confirmed: bool,
}

async fn pay(
    State(state): State<AppState>,
    who: Principal,
    Path(lane): Path<String>,
    ApiJson(body): ApiJson<PaymentBody>,
) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let handle = state.lane(&lane)?;
    let tender = Tender {
        method: body.method,
        amount: body.amount.parse("amount")?,
        rrn: body.rrn.filter(|r| !r.trim().is_empty()),
        confirmed: body.confirmed,
    };
    let paid = handle.pay_tender(tender, who.name).await?;
    let open = handle.snapshot().await?.receipt;
    Ok(Json(PaymentView::new(&lane, &paid, open.as_ref())).into_response())
}

/// A percent as the cashier types it: `"10"`, `"2,5"`.
fn parse_percent(text: &str) -> Result<Decimal, ApiError> {
    let refused = || {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_discount",
            format!("«{}» — не процент скидки: число от 0,01 до 100", crate::domain::text::shown(text)),
        )
    };
    let value = money::parse_amount(text).map_err(|_| refused())?;
    if value > Decimal::ONE_HUNDRED {
        return Err(refused());
    }
    Ok(value)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscountBody {
    #[serde(default)]
    percent: Option<AmountInput>,
    #[serde(default)]
    amount: Option<AmountInput>,
    /// A line number; without it the discount is on the whole receipt.
    #[serde(default)]
    line: Option<u32>,
}

/// `POST …/receipt/discount`: `{"percent"}` or `{"amount"}`, optionally on one `"line"`;
/// neither removes the discount. A cashier's token gives at most `[discounts]
/// cashier_max_percent`; an admin's token any.
async fn discount(
    State(state): State<AppState>,
    who: Principal,
    Path(lane): Path<String>,
    ApiJson(body): ApiJson<DiscountBody>,
) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let value = match (&body.percent, &body.amount) {
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_discount",
                "укажите скидку либо в процентах, либо суммой, не обоими",
            ));
        }
        (Some(AmountInput::Text(p)), None) => Some(DiscountValue::Percent(parse_percent(p)?)),
        (Some(p @ AmountInput::Number(_)), None) => Some(DiscountValue::Percent(parse_percent(&p.parse("percent")?.to_string())?)),
        (None, Some(a)) => Some(DiscountValue::Amount(a.parse("amount")?)),
        (None, None) => None,
    };
    let max_percent = match who.role {
        Role::Admin => Decimal::ONE_HUNDRED,
        _ => state.inner.retail.cashier_max_percent,
    };
    let handle = state.lane(&lane)?;
    let receipt = handle.discount(body.line, value, max_percent, who.name).await?;
    Ok(Json(ReceiptView::new(&lane, receipt.as_ref())).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientBody {
    #[serde(default)]
    card: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

async fn attach_client(
    State(state): State<AppState>,
    who: Principal,
    Path(lane): Path<String>,
    ApiJson(body): ApiJson<ClientBody>,
) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let key = match (body.card, body.phone) {
        (Some(card), None) if !card.trim().is_empty() => ClientKey::Card(card.trim().to_string()),
        (None, Some(phone)) if !phone.trim().is_empty() => ClientKey::Phone(phone.trim().to_string()),
        _ => {
            return Err(ApiError::bad_request(
                "укажите карту лояльности (\"card\") или телефон клиента (\"phone\") — что-то одно",
            ));
        }
    };
    let receipt = state.lane(&lane)?.attach_client(Some(key), who.name).await?;
    Ok(Json(ReceiptView::new(&lane, receipt.as_ref())).into_response())
}

async fn detach_client(State(state): State<AppState>, who: Principal, Path(lane): Path<String>) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let receipt = state.lane(&lane)?.attach_client(None, who.name).await?;
    Ok(Json(ReceiptView::new(&lane, receipt.as_ref())).into_response())
}

async fn park(State(state): State<AppState>, who: Principal, Path(lane): Path<String>) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let parked = state.lane(&lane)?.park(who.name).await?;
    Ok(Json(json!({"status": "parked", "parked": parked})).into_response())
}

async fn parked(State(state): State<AppState>, who: Principal, Path(lane): Path<String>) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let snapshot = state.lane(&lane)?.snapshot().await?;
    Ok(Json(snapshot.parked()).into_response())
}

async fn resume(State(state): State<AppState>, who: Principal, Path((lane, id)): Path<(String, String)>) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let id = Uuid::parse_str(id.trim()).map_err(|_| {
        ApiError::not_found(
            "unknown_parked",
            format!("отложенного чека «{}» нет", crate::domain::text::shown(&id)),
        )
    })?;
    let receipt = state.lane(&lane)?.resume(id, who.name).await?;
    Ok(Json(ReceiptView::new(&lane, receipt.as_ref())).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReturnLineBody {
    no: u32,
    qty: super::lanes::QtyInput,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReturnItemBody {
    code: String,
    qty: super::lanes::QtyInput,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReturnBody {
    /// The sale's id (the code on its receipt) or its number in the open shift.
    #[serde(default)]
    receipt: Option<String>,
    #[serde(default)]
    lines: Vec<ReturnLineBody>,
    /// Goods returned without a receipt (admin only).
    #[serde(default)]
    items: Vec<ReturnItemBody>,
    method: PaymentMethod,
    #[serde(default)]
    rrn: Option<String>,
}

async fn return_goods(
    State(state): State<AppState>,
    who: Principal,
    Path(lane): Path<String>,
    ApiJson(body): ApiJson<ReturnBody>,
) -> Result<Response, ApiError> {
    who.require(TILL)?;
    // Quantities are parsed as entered; whether a fraction is allowed is the item's business,
    // which the domain judges against the sale's line.
    let qty = |q: &super::lanes::QtyInput| -> Result<Decimal, ApiError> {
        money::parse_qty(&q.text(), true).map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()))
    };
    let what = match body.receipt {
        Some(receipt) => {
            if !body.items.is_empty() {
                return Err(ApiError::bad_request(
                    "возврат по чеку перечисляет строки чека (\"lines\"), а не товары",
                ));
            }
            let lines = body
                .lines
                .iter()
                .map(|l| {
                    Ok(ReturnRequest {
                        no: l.no,
                        qty: qty(&l.qty)?,
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            ReturnOf::Sale { receipt, lines }
        }
        None => {
            let items = body
                .items
                .iter()
                .map(|i| Ok((i.code.clone(), qty(&i.qty)?)))
                .collect::<Result<Vec<_>, ApiError>>()?;
            ReturnOf::NoReceipt {
                items,
                allowed: who.role == Role::Admin,
            }
        }
    };
    let refund = RefundTo {
        method: body.method,
        rrn: body.rrn.filter(|r| !r.trim().is_empty()),
    };
    let ret = state.lane(&lane)?.return_goods(what, refund, who.name).await?;
    Ok(Json(json!({"status": "closed", "fiscal": ret.fiscal, "return": ret})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CashBody {
    direction: CashDirection,
    amount: AmountInput,
    reason: String,
}

async fn cash(
    State(state): State<AppState>,
    who: Principal,
    Path(lane): Path<String>,
    ApiJson(body): ApiJson<CashBody>,
) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let amount = body.amount.parse("amount")?;
    let movement = state.lane(&lane)?.cash(body.direction, amount, body.reason, who.name).await?;
    Ok(Json(json!({"status": "done", "kkt": movement.kkt, "movement": movement})).into_response())
}

async fn x_report(State(state): State<AppState>, who: Principal, Path(lane): Path<String>) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let shift = state.lane(&lane)?.x_report(who.name).await?;
    Ok(Json(ShiftView::new(&shift)).into_response())
}

/// `GET …/last-closed`: the receipt closed last, while no new one is started — so a screen
/// that lost the payment's answer still shows the change due.
async fn last_closed(State(state): State<AppState>, who: Principal, Path(lane): Path<String>) -> Result<Response, ApiError> {
    who.require(TILL)?;
    let closed = state.lane(&lane)?.last_closed().await?;
    Ok(Json(closed.as_ref().map(ClosedView::new)).into_response())
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /api/v1/items/search?q=`: items by name, SKU or PLU, with their retail price (a price
/// check without selling).
async fn search(State(state): State<AppState>, who: Principal, Query(query): Query<SearchQuery>) -> Result<Response, ApiError> {
    who.require(&[Role::Cashier, Role::Admin, Role::Storekeeper])?;
    let limit = query.limit.unwrap_or(20).clamp(1, 50);
    let found = state.inner.search.search(&query.q, limit).await?;
    let items: Vec<_> = found
        .iter()
        .map(|item| {
            json!({
                "id": item.id,
                "sku": item.sku,
                "name": item.name,
                "unit": item.unit,
                "weighted": item.weighted,
                "plu": item.plu,
                "barcode": item.barcodes.first(),
                "price": item.prices.get("retail"),
            })
        })
        .collect();
    Ok(Json(json!({"query": query.q, "items": items})).into_response())
}
