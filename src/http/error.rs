//! The API's error shape: `{"error": {"code": "unknown_item", "message": "…"}}` with a 4xx
//! status (5xx only for failures of storeterm itself).

use crate::app::lane::LaneFailure;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

/// Longest error message sent. Ours are a sentence; a longer one quotes outside input at length.
const MESSAGE_CHARS: usize = 500;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Messages quote what the client sent (a scan, a path, a field a parser did not know);
        // whatever the layer that wrote the message, nothing raw reaches a screen.
        let message = crate::domain::text::shown_max(&self.message, MESSAGE_CHARS).to_string();
        let body = Json(json!({"error": {"code": self.code, "message": message}}));
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        // The rest of a body that was too big or too slow is still on the wire: the connection
        // cannot carry another request.
        if matches!(self.status, StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT) {
            response
                .headers_mut()
                .insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
        }
        response
    }
}

impl From<LaneFailure> for ApiError {
    fn from(e: LaneFailure) -> Self {
        let code = e.code();
        let status = match code {
            "unknown_item" | "unknown_line" => StatusCode::NOT_FOUND,
            "no_receipt" | "receipt_open" | "payment_started" | "shift_closed" | "card_paid" | "fiscal_pending" => StatusCode::CONFLICT,
            // The fiscal register's driver is not reachable or the outcome is not known yet.
            c if c.starts_with("atol_") => StatusCode::SERVICE_UNAVAILABLE,
            "storage_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "unavailable" | "disk_full" | "storage_unavailable" | "awaiting_crm_numbering" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "lane failure");
        }
        ApiError::new(status, code, e.to_string())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        tracing::error!(error = %e, "store failure");
        let (status, code) = match &e {
            StoreError::DiskFull => (StatusCode::SERVICE_UNAVAILABLE, "disk_full"),
            StoreError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable"),
            StoreError::AwaitingSeqBase => (StatusCode::SERVICE_UNAVAILABLE, "awaiting_crm_numbering"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "storage_error"),
        };
        ApiError::new(status, code, e.to_string())
    }
}
