//! The admin console under `playground/`, embedded at compile time so the binary serves it
//! with no files beside it.

use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Request, Response};

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! assets {
    ($($path:literal => $ty:literal),* $(,)?) => {
        &[$(Asset {
            path: $path,
            content_type: $ty,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/playground/", $path)),
        }),*]
    };
}

const ASSETS: &[Asset] = assets!(
    "index.html" => "text/html; charset=utf-8",
);

fn find(path: &str) -> Option<&'static Asset> {
    let path = path.trim_start_matches('/');
    ASSETS.iter().find(|asset| asset.path == path)
}

/// Serves a known asset, or `index.html` for any other GET (the console routes in the browser,
/// so `/accept-invitation?token=…` loads the console).
pub fn endpoint() -> impl Endpoint {
    poem::endpoint::make_sync(|req: Request| -> Response {
        let asset = find(req.uri().path()).or_else(|| find("index.html"));
        match asset {
            Some(asset) => asset
                .body
                .with_content_type(asset.content_type)
                .with_header("cache-control", "no-cache")
                .into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        }
    })
}
