//! Request bodies, bounded in size and in time, and the API's error shape for everything axum
//! answers by itself.
//!
//! Every handler reads its body through [`ApiJson`] or [`ApiBytes`], which read at most
//! [`BodyLimit::bytes`] within [`BodyLimit::time`] (a body announced larger is refused before a
//! byte of it is read). The JSON API's default, [`BodyLimit::API`], is set for the whole router;
//! a route that takes large uploads sets its own limit, which replaces the default for it:
//!
//! ```text
//! .route("/exchange/1c", post(upload).layer(BodyLimit { bytes: 64 << 20, time: Duration::from_secs(300) }.layer()))
//! ```

use super::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::time::Duration;

/// How much of a request body a route reads, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit {
    pub bytes: usize,
    /// The whole body must arrive within this time, however it trickles in.
    pub time: Duration,
}

impl BodyLimit {
    /// The JSON API: its largest honest body (a stock count of a few hundred lines) is tens of
    /// kilobytes; a handheld on poor Wi-Fi sends one in well under a second.
    pub const API: BodyLimit = BodyLimit {
        bytes: 1024 * 1024,
        time: Duration::from_secs(20),
    };

    /// A layer that sets this limit for the routes (or the router) it wraps; the innermost
    /// one wins, so a route's own limit replaces the router's default.
    pub fn layer(self) -> axum::Extension<BodyLimit> {
        axum::Extension(self)
    }
}

fn mib(bytes: usize) -> String {
    if bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0 {
        format!("{} МиБ", bytes / (1024 * 1024))
    } else {
        format!("{bytes} байт")
    }
}

fn too_large(limit: BodyLimit) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("тело запроса больше допустимого ({})", mib(limit.bytes)),
    )
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// Read the whole body of `request` within its route's [`BodyLimit`].
pub async fn read_body(request: Request) -> Result<Bytes, ApiError> {
    let limit = request.extensions().get::<BodyLimit>().copied().unwrap_or(BodyLimit::API);
    if content_length(request.headers()).is_some_and(|len| len > limit.bytes as u64) {
        return Err(too_large(limit));
    }
    let mut chunks = request.into_body().into_data_stream();
    let collect = async {
        let mut body = Vec::new();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| ApiError::bad_request(format!("тело запроса не дочитано: {e}")))?;
            if body.len() + chunk.len() > limit.bytes {
                return Err(too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(body))
    };
    match tokio::time::timeout(limit.time, collect).await {
        Ok(result) => result,
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("тело запроса не пришло целиком за {} с", limit.time.as_secs()),
        )),
    }
}

/// The raw body, read within the route's [`BodyLimit`].
pub struct ApiBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        read_body(request).await.map(ApiBytes)
    }
}

/// A JSON body, read within the route's [`BodyLimit`]; a bad body, wrong fields or a wrong
/// content type come back in the API's error shape instead of axum's plain text.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(ApiError::bad_request("Expected request with `Content-Type: application/json`"));
        }
        let bytes = read_body(request).await?;
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

/// `application/json` or `application/<something>+json`, with or without parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// `405` in the API's shape (axum's own has an empty body); the `Allow` header stays.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "этот адрес не принимает такой метод запроса (см. заголовок Allow)",
    )
}

/// Longest text of axum's own rejection that is carried into the JSON message.
const REJECTION_TEXT: usize = 4096;

/// The last line of defence for the error shape: an error response that is not JSON (axum's
/// rejection of a malformed path parameter or query string, its empty `405`) is rewritten as
/// `{"error": {"code", "message"}}` with the same status and headers.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, REJECTION_TEXT).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal_error",
        _ => "bad_request",
    };
    let mut shaped = ApiError::new(status, code, message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            shaped.headers_mut().append(name, value.clone());
        }
    }
    shaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, v.parse().unwrap());
            h
        };
        assert!(is_json(&with("application/json")));
        assert!(is_json(&with("Application/JSON; charset=utf-8")));
        assert!(is_json(&with("application/problem+json")));
        assert!(!is_json(&with("text/plain")));
        assert!(!is_json(&with("application/x-www-form-urlencoded")));
        assert!(!is_json(&HeaderMap::new()));
    }
}
