//! The operator's API: caller lookups, the live caller-card stream, new leads, and the
//! cloud-PBX webhooks; plus the `/operator` screen.

use super::body::ApiJson;
use super::{ApiError, AppState, Principal};
use crate::app::calls::{CallHub, OperatorScreen};
use crate::config::{Role, Secret, WebhookProvider};
use crate::devices::telephony::Delivery;
use crate::devices::telephony::webhook::{self, Admission, WebhookError};
use crate::domain::call_documents::{self, LeadForm};
use crate::domain::client::CallerCard;
use crate::domain::phone::{self, Country, PhoneError};
use crate::domain::text::shown;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::convert::Infallible;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

const OPERATOR: &[Role] = &[Role::Operator, Role::Admin];

/// What the operator's routes need, attached with [`AppState::with_calls`].
#[derive(Clone)]
pub struct CallsState {
    pub hub: CallHub,
    pub country: Country,
    /// Configured webhook providers: secret and (Mango) API key.
    pub webhooks: HashMap<WebhookProvider, (Secret, Option<String>)>,
}

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/operator", get(|| async { Html(include_str!("assets/operator.html")) }))
        .route("/assets/operator.js", get(operator_js))
        .route("/api/v1/clients/lookup", get(lookup))
        .route("/api/v1/operator/events", get(events))
        .route("/api/v1/operator/leads", post(lead))
        .route(
            "/api/v1/telephony/webhook/{provider}",
            post(webhook_root).get(zadarma_echo).layer(WEBHOOK_BODY.layer()),
        )
        .route(
            "/api/v1/telephony/webhook/{provider}/{*event}",
            post(webhook_event).layer(WEBHOOK_BODY.layer()),
        )
}

/// A PBX notification is a form of a few hundred bytes, posted at once.
const WEBHOOK_BODY: super::BodyLimit = super::BodyLimit {
    bytes: 64 * 1024,
    time: std::time::Duration::from_secs(10),
};

async fn operator_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("assets/operator.js"),
    )
        .into_response()
}

fn calls(state: &AppState) -> Result<&CallsState, ApiError> {
    state
        .inner
        .calls
        .as_ref()
        .ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the call hub is not running"))
}

fn phone_error(e: PhoneError) -> ApiError {
    let code = match e {
        PhoneError::Anonymous => "hidden_number",
        _ => "bad_phone",
    };
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, e.to_string())
}

#[derive(Deserialize)]
struct LookupQuery {
    phone: String,
}

/// `GET /api/v1/clients/lookup?phone=…`: every client with that number, best first, with cards.
async fn lookup(State(state): State<AppState>, who: Principal, Query(q): Query<LookupQuery>) -> Result<Response, ApiError> {
    who.require(OPERATOR)?;
    let country = calls(&state)?.country;
    let number = phone::normalize(&q.phone, country).map_err(phone_error)?;
    let matches = state.inner.store.clients_by_phone(&number.e164, number.extension.as_deref())?;
    let matches: Vec<_> = matches
        .iter()
        .map(|m| json!({"client": m.client.id, "matched": m.matched, "exact": m.exact, "card": CallerCard::local(&m.client)}))
        .collect();
    Ok(Json(json!({"phone": {"raw": q.phone, "e164": number.e164, "country": number.country, "extension": number.extension}, "matches": matches})).into_response())
}

/// `GET /api/v1/operator/events`: the caller cards for this token's extensions, live.
async fn events(State(state): State<AppState>, who: Principal) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    who.require(OPERATOR)?;
    let hub = calls(&state)?.hub.clone();
    // Subscribe before the snapshot so no event falls between them; the screen dedups.
    let updates = BroadcastStream::new(hub.subscribe());
    let snapshot = hub.snapshot().await;
    let mut screen = OperatorScreen::new(who.extensions.clone());
    let hello = Event::default()
        .event("hello")
        .json_data(json!({"operator": who.name, "extensions": who.extensions}))
        .unwrap_or_default();
    let first: Vec<Event> = std::iter::once(hello)
        .chain(snapshot.iter().filter_map(|e| screen.apply(e)).map(to_sse))
        .collect();
    let live = updates.filter_map(move |update| {
        let out = match update {
            Ok(e) => screen.apply(&e).map(to_sse),
            Err(BroadcastStreamRecvError::Lagged(_)) => Some(Event::default().event("resync").data("{}")),
        };
        async move { out }
    });
    let stream = stream::iter(first)
        .chain(live)
        .map(Ok)
        .take_until(state.inner.shutdown.clone().cancelled_owned());
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn to_sse(e: crate::app::calls::ScreenEvent) -> Event {
    Event::default().event(e.name).json_data(e.data).unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeadBody {
    phone: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    call: Option<String>,
}

/// `POST /api/v1/operator/leads`: a new lead from the "unknown number" card; `201` once the
/// `lead` document is durable in the outbox.
async fn lead(State(state): State<AppState>, who: Principal, ApiJson(body): ApiJson<LeadBody>) -> Result<Response, ApiError> {
    who.require(OPERATOR)?;
    let country = calls(&state)?.country;
    let phone = phone::normalize(&body.phone, country).map_err(phone_error)?;
    if body.name.chars().count() > 200 || body.comment.chars().count() > 2000 {
        return Err(ApiError::bad_request(
            "имя — не длиннее 200 символов, комментарий — не длиннее 2000",
        ));
    }
    let form = LeadForm {
        phone_raw: body.phone,
        phone,
        name: body.name.trim().to_string(),
        comment: body.comment.trim().to_string(),
        operator: who.name,
        call: body.call,
    };
    let id = uuid::Uuid::now_v7();
    let doc = call_documents::lead(id, &form, jiff::Timestamp::now());
    let seqs = state.inner.store.append_documents(&[doc]).await?;
    // Whether the screen may say "sent": only while the CRM answers; otherwise the lead is
    // saved and waits in the outbox.
    let link = state.inner.link.snapshot();
    let crm = match (link.configured, link.online) {
        (false, _) => "none",
        (true, Some(true)) => "online",
        (true, _) => "offline",
    };
    Ok((
        StatusCode::CREATED,
        Json(json!({"lead": id, "seq": seqs.first(), "e164": form.phone.e164, "crm": crm})),
    )
        .into_response())
}

#[derive(Deserialize)]
struct EchoQuery {
    zd_echo: Option<String>,
}

/// Zadarma checks a webhook URL with `GET ?zd_echo=…` and expects the value back.
async fn zadarma_echo(Path(provider): Path<String>, Query(q): Query<EchoQuery>) -> Result<Response, ApiError> {
    match (provider.as_str(), q.zd_echo) {
        ("zadarma", Some(echo)) if echo.len() <= 64 && echo.chars().all(|c| c.is_ascii_alphanumeric()) => Ok(echo.into_response()),
        _ => Err(ApiError::not_found("not_found", "такой страницы или вызова API нет")),
    }
}

async fn webhook_root(
    state: State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    super::ApiBytes(body): super::ApiBytes,
) -> Result<Response, ApiError> {
    webhook(state, provider, String::new(), headers, body).await
}

async fn webhook_event(
    state: State<AppState>,
    Path((provider, event)): Path<(String, String)>,
    headers: HeaderMap,
    super::ApiBytes(body): super::ApiBytes,
) -> Result<Response, ApiError> {
    webhook(state, provider, event, headers, body).await
}

/// `POST /api/v1/telephony/webhook/{provider}[/{event}]`: authenticated by the provider's
/// signature instead of a bearer token (the PBX cannot send ours), then judged for freshness
/// and replays (`devices::telephony::webhook`, "Replays"). A replay is answered like the first
/// request (`200`) and changes nothing.
async fn webhook(
    State(state): State<AppState>,
    provider: String,
    event: String,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let calls = calls(&state)?;
    let provider = match provider.as_str() {
        "zadarma" => WebhookProvider::Zadarma,
        "mango" => WebhookProvider::Mango,
        other => {
            return Err(ApiError::not_found(
                "unknown_provider",
                format!("no webhook provider \"{}\" (zadarma, mango)", shown(other)),
            ));
        }
    };
    let (secret, key) = calls.webhooks.get(&provider).ok_or_else(|| {
        ApiError::not_found(
            "unknown_provider",
            format!("no [[telephony]] webhook for {} is configured", provider.as_str()),
        )
    })?;
    let form: HashMap<String, String> =
        serde_urlencoded::from_bytes(&body).map_err(|e| ApiError::bad_request(format!("the body is not a form: {e}")))?;
    let now = jiff::Timestamp::now();
    let refused = |e: WebhookError| {
        let (status, code) = match e {
            WebhookError::BadSignature | WebhookError::Unsigned | WebhookError::WrongKey | WebhookError::OtherCall => {
                (StatusCode::UNAUTHORIZED, "bad_webhook")
            }
            WebhookError::Stale { .. } | WebhookError::Future { .. } => (StatusCode::BAD_REQUEST, "stale_webhook"),
            _ => (StatusCode::BAD_REQUEST, "bad_webhook"),
        };
        tracing::warn!(provider = provider.as_str(), error = %e, "webhook refused");
        ApiError::new(status, code, e.to_string())
    };
    let notification = match provider {
        WebhookProvider::Zadarma => {
            let signature = headers.get("Signature").and_then(|v| v.to_str().ok());
            webhook::zadarma(&form, signature, secret.expose(), now, &state.inner.webhook_zone)
        }
        WebhookProvider::Mango => webhook::mango(&form, &event, key.as_deref().unwrap_or(""), secret.expose(), now),
    }
    .map_err(refused)?;
    let request = webhook::request_digest(&[provider.as_str().as_bytes(), event.as_bytes(), &body]);
    let admission = state.replays().admit(request, &notification, now).map_err(refused)?;
    if admission == Admission::Replay {
        tracing::info!(provider = provider.as_str(), call = %shown(&notification.call), "webhook seen before; answered, nothing changed");
        return Ok(Json(json!({"ok": true, "duplicate": true})).into_response());
    }
    let sink = calls.hub.signal_sink();
    for s in notification.signals {
        if sink.send(s) == Delivery::Dropped {
            // Not acted on: let the provider's retry count as new.
            state.replays().forget(request);
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the call hub is behind; send the notification again",
            ));
        }
    }
    Ok(Json(json!({"ok": true})).into_response())
}
