//! The web console: a page and its script and style, embedded in the binary and served at `/`
//! without a key. They hold no data: every screen reads the API with the key the user signs in
//! with, so the API's own checks decide what each role sees. Nothing is loaded from another
//! host (the Content-Security-Policy says so to the browser too): it works air-gapped.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

const INDEX: &str = include_str!("../console/index.html");
/// `(file name, media type, content)` of the assets under `/console/`.
const ASSETS: [(&str, &str, &str); 3] = [
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/app.js"),
    ),
    (
        "i18n.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/i18n.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../console/app.css"),
    ),
];

/// Only this server, for every kind of resource; no framing by other sites.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Whether `path` is the console's (open: the assets carry no user data).
pub(crate) fn is_console_path(path: &str) -> bool {
    path == "/" || path.starts_with("/console/")
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/console/{file}", get(asset))
}

async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX)
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, media_type, content)) => page(media_type, content),
        None => ApiError::not_found(format!("the console has no file `{file}`"), "unknown_route")
            .into_response(),
    }
}

fn page(media_type: &'static str, content: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, media_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            // A new binary brings new assets: the browser asks again each time.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        content,
    )
        .into_response()
}
