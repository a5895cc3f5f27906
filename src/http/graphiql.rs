//! GraphiQL at `/graphiql` (development only), served entirely by the binary: the page, its
//! start-up script and the vendored React and GraphiQL builds (`graphiql/vendor/`, pinned
//! versions, see its README) are embedded at compile time, so it works with no network access.
//! The page loads each vendored file with an `integrity` hash; the unit tests below recompute the
//! hash of every embedded file and compare it with the page and with `SHA384SUMS`.

use poem::http::{StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};

/// The page and its own script and style: they change with the code, so revalidated each time.
const NO_CACHE: &str = "no-cache";
/// The vendored files: their paths name their version, so a path never changes content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Everything from this origin; GraphiQL (CodeMirror, its popups) sets `style` attributes and
/// its CSS carries its fonts and icons as `data:` URLs. No `eval`, no inline script.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

struct Asset {
    path: &'static str,
    content_type: &'static str,
    /// The name under `graphiql/vendor/` (and in `SHA384SUMS`) of a vendored file: served with
    /// [`IMMUTABLE`], the others with [`NO_CACHE`].
    vendored: Option<&'static str>,
    body: &'static [u8],
}

macro_rules! vendored {
    ($path:literal, $file:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            vendored: Some($file),
            body: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/graphiql/vendor/",
                $file
            )),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

static ASSETS: &[Asset] = &[
    Asset {
        path: "/graphiql",
        content_type: "text/html; charset=utf-8",
        vendored: None,
        body: include_bytes!("../../graphiql/index.html"),
    },
    Asset {
        path: "/graphiql/init.js",
        content_type: JS,
        vendored: None,
        body: include_bytes!("../../graphiql/init.js"),
    },
    Asset {
        path: "/graphiql/page.css",
        content_type: CSS,
        vendored: None,
        body: include_bytes!("../../graphiql/page.css"),
    },
    vendored!(
        "/graphiql/vendor/graphiql@3.8.3/graphiql.min.js",
        "graphiql.min.js",
        JS
    ),
    vendored!(
        "/graphiql/vendor/graphiql@3.8.3/graphiql.min.css",
        "graphiql.min.css",
        CSS
    ),
    vendored!(
        "/graphiql/vendor/react@18.3.1/react.production.min.js",
        "react.production.min.js",
        JS
    ),
    vendored!(
        "/graphiql/vendor/react-dom@18.3.1/react-dom.production.min.js",
        "react-dom.production.min.js",
        JS
    ),
];

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

/// `GET /graphiql` and `GET /graphiql/*`: the embedded files, 404 for any other path.
pub(super) fn endpoint() -> impl Endpoint<Output = Response> {
    poem::endpoint::make_sync(|req: Request| -> Response {
        let Some(asset) = find(req.uri().path()) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let cache_control = if asset.vendored.is_some() {
            IMMUTABLE
        } else {
            NO_CACHE
        };
        asset
            .body
            .with_content_type(asset.content_type)
            .with_header(header::CACHE_CONTROL, cache_control)
            .with_header("x-content-type-options", "nosniff")
            .with_header("referrer-policy", "no-referrer")
            .with_header("content-security-policy", CONTENT_SECURITY_POLICY)
            .into_response()
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use sha2::Digest as _;

    use super::*;

    fn sri(body: &[u8]) -> String {
        format!(
            "sha384-{}",
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(body))
        )
    }

    fn page() -> &'static str {
        std::str::from_utf8(find("/graphiql").expect("the page").body).expect("UTF-8 page")
    }

    /// Every `src="…"`/`href="…"` of the page with the tag it is in.
    fn references(page: &str) -> Vec<(&str, &str)> {
        page.split('<')
            .filter(|tag| tag.starts_with("script") || tag.starts_with("link"))
            .filter_map(|tag| {
                let attr = if tag.starts_with("script") {
                    "src=\""
                } else {
                    "href=\""
                };
                let start = tag.find(attr)? + attr.len();
                let end = start + tag[start..].find('"')?;
                Some((&tag[start..end], tag))
            })
            .collect()
    }

    fn integrity(tag: &str) -> Option<&str> {
        let start = tag.find("integrity=\"")? + "integrity=\"".len();
        let end = start + tag[start..].find('"')?;
        Some(&tag[start..end])
    }

    #[test]
    fn every_vendored_file_is_loaded_with_its_own_hash() {
        let references = references(page());
        for asset in ASSETS.iter().filter(|asset| asset.vendored.is_some()) {
            let (_, tag) = references
                .iter()
                .find(|(url, _)| *url == asset.path)
                .unwrap_or_else(|| panic!("the page does not load {}", asset.path));
            assert_eq!(
                integrity(tag),
                Some(sri(asset.body).as_str()),
                "integrity of {} in graphiql/index.html",
                asset.path
            );
        }
    }

    #[test]
    fn the_page_loads_only_files_the_binary_serves() {
        let references = references(page());
        assert_eq!(references.len(), 7, "{references:?}");
        for (url, tag) in references {
            if url == "/favicon.svg" {
                continue; // the console's, served by the console's endpoint
            }
            let asset = find(url).unwrap_or_else(|| panic!("{url} is not embedded"));
            if asset.vendored.is_some() {
                assert!(integrity(tag).is_some(), "{url} without integrity");
            }
        }
    }

    #[test]
    fn vendored_files_match_sha384sums() {
        let sums = include_str!("../../graphiql/vendor/SHA384SUMS");
        let vendored: Vec<&Asset> = ASSETS.iter().filter(|a| a.vendored.is_some()).collect();
        assert_eq!(sums.lines().count(), vendored.len(), "{sums}");
        for asset in vendored {
            let file = asset.vendored.expect("vendored");
            let line = sums
                .lines()
                .find(|line| line.ends_with(&format!("  {file}")))
                .unwrap_or_else(|| panic!("{file} is not in SHA384SUMS"));
            assert_eq!(
                &line[..96],
                hex::encode(sha2::Sha384::digest(asset.body)),
                "{file}"
            );
        }
    }

    #[tokio::test]
    async fn files_are_served_with_their_type_and_cache_policy() {
        let endpoint = endpoint();
        let get = |path: &'static str| {
            endpoint.call(
                Request::builder()
                    .uri(poem::http::Uri::from_static(path))
                    .finish(),
            )
        };
        let page = get("/graphiql").await.expect("answered");
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(
            page.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(page.headers()[header::CACHE_CONTROL], NO_CACHE);
        assert_eq!(
            page.headers()["content-security-policy"],
            CONTENT_SECURITY_POLICY
        );

        let script = get("/graphiql/vendor/graphiql@3.8.3/graphiql.min.js")
            .await
            .expect("answered");
        assert_eq!(script.status(), StatusCode::OK);
        assert_eq!(script.headers()[header::CONTENT_TYPE], JS);
        assert_eq!(script.headers()[header::CACHE_CONTROL], IMMUTABLE);
        assert_eq!(script.headers()["x-content-type-options"], "nosniff");
        let body = script.into_body().into_bytes().await.expect("body");
        assert_eq!(sri(&body), sri(ASSETS[3].body));

        let style = get("/graphiql/vendor/graphiql@3.8.3/graphiql.min.css")
            .await
            .expect("answered");
        assert_eq!(style.headers()[header::CONTENT_TYPE], CSS);

        for missing in [
            "/graphiql/vendor/graphiql@3.8.2/graphiql.min.js",
            "/graphiql/vendor/graphiql@3.8.3/graphiql.min.js.map",
            "/graphiql/nothing",
        ] {
            let response = get(missing).await.expect("answered");
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
        }
    }
}
