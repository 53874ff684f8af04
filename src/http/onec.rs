//! `/1c/exchange`: 1C's «Обмен с сайтом» (GET and POST, `?type=catalog|sale&mode=…`). The
//! dialogue lives in [`crate::sync::onec`]; this only carries the query, the `Authorization`
//! and `Cookie` headers and the body there and the answer back.
//!
//! Every answer is `200` with `text/plain` (or the sales XML): 1C reads the first line
//! (`success`, `progress`, `failure`), not the status code, and shows the rest in its log.

use super::AppState;
use super::body::{BodyLimit, read_body};
use crate::sync::commerceml::exchange::{Answer, CONTENT_TYPE};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::time::Duration;

/// The path 1C is given as «Адрес сайта».
pub const PATH: &str = "/1c/exchange";

/// How long one `mode=file` chunk may take to arrive: `file_limit` bytes over a slow VPN.
const CHUNK_TIME: Duration = Duration::from_secs(300);

/// The route, with a body limit of `file_limit` (the largest chunk 1C was told it may send).
pub fn routes(file_limit: Option<u64>) -> axum::Router<AppState> {
    let limit = BodyLimit {
        bytes: file_limit.map_or(BodyLimit::API.bytes, |l| usize::try_from(l).unwrap_or(usize::MAX)),
        time: CHUNK_TIME,
    };
    axum::Router::new().route(PATH, get(exchange).post(exchange).layer(limit.layer()))
}

fn text(answer: &Answer) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], answer.body()).into_response()
}

/// A header's values joined with `; ` (a client may split its cookies over several headers).
fn header_text(headers: &axum::http::HeaderMap, name: header::HeaderName) -> Option<String> {
    let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
    (!values.is_empty()).then(|| values.join("; "))
}

async fn exchange(State(state): State<AppState>, request: Request) -> Response {
    let Some(onec) = state.inner.onec.clone() else {
        return text(&Answer::Failure(
            "обмен с 1С на этой кассе не настроен: добавьте раздел [onec] в storeterm.toml".into(),
        ));
    };
    let query = request.uri().query().unwrap_or("").to_string();
    let headers = request.headers();
    let authorization = header_text(headers, header::AUTHORIZATION);
    let cookie = header_text(headers, header::COOKIE);
    let agent = header_text(headers, header::USER_AGENT);
    let body = match read_body(request).await {
        Ok(body) => body,
        Err(e) => return text(&Answer::Failure(format!("{} (file_limit = {} байт)", e.message, onec.file_limit()))),
    };
    let reply = onec
        .handle(crate::sync::onec::Call {
            query: &query,
            authorization: authorization.as_deref(),
            cookie: cookie.as_deref(),
            body: &body,
            peer: agent,
        })
        .await;
    let mut response = ([(header::CONTENT_TYPE, reply.content_type)], reply.body).into_response();
    if let Some((name, value)) = reply.cookie {
        if let Ok(v) = HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly")) {
            response.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    response
}
