//! The web screens, embedded in the binary: no files to install, no Node build step.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

pub fn routes<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    axum::Router::new()
        .route("/", get(|| async { Redirect::to("/pos") }))
        .route("/pos", get(|| async { Html(include_str!("assets/pos.html")) }))
        .route("/admin", get(|| async { Html(include_str!("assets/admin.html")) }))
        .route("/tsd", get(|| async { Html(include_str!("assets/tsd.html")) }))
        .route("/assets/{file}", get(asset))
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, mime) = match file.as_str() {
        "common.js" => (include_str!("assets/common.js"), "text/javascript; charset=utf-8"),
        "pos.js" => (include_str!("assets/pos.js"), "text/javascript; charset=utf-8"),
        "pos_printer.js" => (include_str!("assets/pos_printer.js"), "text/javascript; charset=utf-8"),
        "pos_fiscal.js" => (include_str!("assets/pos_fiscal.js"), "text/javascript; charset=utf-8"),
        "admin.js" => (include_str!("assets/admin.js"), "text/javascript; charset=utf-8"),
        "style.css" => (include_str!("assets/style.css"), "text/css; charset=utf-8"),
        "tsd.js" => (include_str!("assets/tsd.js"), "text/javascript; charset=utf-8"),
        "tsd.css" => (include_str!("assets/tsd.css"), "text/css; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}
