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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": {"code": self.code, "message": self.message}}));
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<LaneFailure> for ApiError {
    fn from(e: LaneFailure) -> Self {
        let code = e.code();
        let status = match code {
            "unknown_item" | "unknown_line" => StatusCode::NOT_FOUND,
            "no_receipt" | "receipt_open" | "payment_started" | "shift_closed" | "card_paid" => StatusCode::CONFLICT,
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

/// A JSON body whose rejection (bad JSON, wrong fields, wrong content type) comes back in the
/// API's error shape instead of axum's plain text.
pub struct ApiJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}
