//! The admin console under `playground/`, embedded at compile time so the binary serves it
//! with no files beside it. `build.rs` lists the files; see `playground/README.md` for the
//! console itself.

use std::sync::LazyLock;

use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Request, Response};

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/playground_assets.rs"));

/// The console loads only from its own origin; nothing inline, nothing from a CDN.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// `GET /operations/index.json`: the operation documents the console may use, i.e. those the
/// server validates and serves (`playground/operations/*.graphql`).
const OPERATIONS_INDEX: &str = "operations/index.json";

static OPERATION_FILES: LazyLock<String> = LazyLock::new(|| {
    let files: Vec<&str> = ASSETS
        .iter()
        .map(|asset| asset.path)
        .filter(|path| path.starts_with("operations/") && path.ends_with(".graphql"))
        .collect();
    serde_json::to_string(&files).unwrap_or_else(|_| "[]".into())
});

/// The names of the operations the console sends (the metrics give each its own label).
pub(super) fn operation_names() -> Vec<String> {
    ASSETS
        .iter()
        .filter(|asset| asset.path.starts_with("operations/") && asset.path.ends_with(".graphql"))
        .filter_map(|asset| std::str::from_utf8(asset.body).ok())
        .filter_map(|text| async_graphql::parser::parse_query(text).ok())
        .flat_map(|document| {
            document
                .operations
                .iter()
                .filter_map(|(name, _)| name.map(|n| n.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

/// A path naming a file (`/js/app.js`, `/favicon.svg`) rather than a console route.
fn looks_like_file(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
}

fn respond(body: &'static [u8], content_type: &'static str) -> Response {
    body.with_content_type(content_type)
        .with_header("cache-control", "no-cache")
        .with_header("x-content-type-options", "nosniff")
        .with_header("referrer-policy", "no-referrer")
        .with_header("content-security-policy", CONTENT_SECURITY_POLICY)
        .into_response()
}

/// Serves a known asset, or `index.html` for any other GET that is not a file name (the console
/// routes in the browser, so `/accept-invitation?token=…` loads the console). An unknown file
/// answers 404, so a missing script shows as such rather than as HTML.
pub fn endpoint() -> impl Endpoint {
    poem::endpoint::make_sync(|req: Request| -> Response {
        let path = req.uri().path().trim_start_matches('/');
        if path == OPERATIONS_INDEX {
            return respond(OPERATION_FILES.as_bytes(), "application/json");
        }
        if let Some(asset) = find(path) {
            return respond(asset.body, asset.content_type);
        }
        if looks_like_file(path) {
            return StatusCode::NOT_FOUND.into_response();
        }
        match find("index.html") {
            Some(index) => respond(index.body, index.content_type),
            None => StatusCode::NOT_FOUND.into_response(),
        }
    })
}
