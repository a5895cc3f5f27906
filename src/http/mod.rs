//! The HTTP surface (poem): routes, the per-request middleware, and the server's lifecycle.

use std::time::{Duration, Instant};

use futures::FutureExt;
use poem::http::{HeaderValue, StatusCode, header};
use poem::middleware::CatchPanic;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler};
use tracing::Instrument;

use crate::app::App;
use crate::error::ErrorCode;
use crate::graphql::{ApiSchema, build_schema};

pub mod client_ip;
mod errors;
mod graphiql;
pub mod graphql;
pub mod metrics;
mod playground;
mod server;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// How long `/readyz` gives the database to take a write.
pub const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a scrape waits for the outbox and audit figures before leaving them out.
const METRICS_DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct HttpState {
    pub app: App,
    pub schema: ApiSchema,
}

/// The request id given to a request: the client's `x-request-id` when it is short and plain,
/// else a new UUID. Echoed in the response header and stored on audit rows.
#[derive(Clone)]
struct RequestId(String);

pub trait RequestIdExt {
    fn request_id(&self) -> String;
}

impl RequestIdExt for Request {
    fn request_id(&self) -> String {
        self.extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default()
    }
}

fn incoming_request_id(req: &Request) -> Option<String> {
    let value = req.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let plain = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    plain.then(|| value.to_owned())
}

/// Request id, tracing span, metrics and the request log around every request. A GraphQL
/// request's line also names its operation, viewer, impersonator and error codes.
async fn observe<E: Endpoint>(next: E, mut req: Request, app: App) -> poem::Result<Response> {
    let request_id = incoming_request_id(&req).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let route = metrics::route_label(&path);
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, route);
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let mut response = match result {
        Ok(response) => response.into_response(),
        Err(err) => err.into_response(),
    };
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let metrics = &app.metrics;
    metrics.observe_request(route, &method, status, elapsed.as_secs_f64());
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    match response.extensions().get::<graphql::GraphqlOutcome>() {
        Some(outcome) => {
            let operation = metrics.operation_label(outcome.operation_name.as_deref());
            metrics.observe_graphql(operation, &outcome.error_codes, elapsed.as_secs_f64());
            span.in_scope(|| {
                tracing::info!(
                    status,
                    elapsed_ms,
                    // As sent (bounded by the body limit) for the log; the metric label is bounded.
                    operation = outcome.operation_name.as_deref().unwrap_or(""),
                    viewer_id = outcome.viewer_id.map(|id| id.to_string()),
                    impersonator_id = outcome.impersonator_id.map(|id| id.to_string()),
                    error_codes = %outcome.error_codes.join(","),
                    "request finished"
                );
            });
        }
        None => span.in_scope(|| tracing::info!(status, elapsed_ms, "request finished")),
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}

/// A panic in a resolver answers INTERNAL; the server lives on.
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .content_type("application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(
            serde_json::json!({ "errors": [{ "message": "Something went wrong on our side.",
                "extensions": { "code": ErrorCode::Internal.as_str() } }] })
            .to_string(),
        )
}

#[handler]
fn healthz() -> &'static str {
    "ok"
}

/// `/readyz`: ready when the database takes a write within [`READINESS_TIMEOUT`] (a locked
/// SQLite file or a frozen PostgreSQL fail it, where a read could still pass).
async fn readyz(app: &App) -> Response {
    match app.db.ping_write(READINESS_TIMEOUT).await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database cannot take writes",
        )
            .into_response(),
    }
}

/// Where `/metrics` is served, from `METRICS_TOKEN` and `METRICS_LISTEN_ADDR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MetricsExposure {
    /// On the main listener (with the token when one is set).
    Main,
    /// Only on `METRICS_LISTEN_ADDR`.
    Separate,
    /// Nowhere: production without a token or a separate address.
    Refused,
}

fn metrics_exposure(config: &crate::config::Config) -> MetricsExposure {
    if config.metrics_listen_addr.is_some() {
        MetricsExposure::Separate
    } else if config.metrics_token.is_some() || !config.is_production() {
        MetricsExposure::Main
    } else {
        MetricsExposure::Refused
    }
}

/// `Authorization: Bearer <METRICS_TOKEN>`, compared in constant time.
fn metrics_authorized(app: &App, req: &Request) -> bool {
    let Some(expected) = &app.config.metrics_token else {
        return true;
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .unwrap_or_default();
    let expected = expected.expose();
    use sha2::Digest;
    // Equal-length digests: the comparison time says nothing about the token.
    let (a, b) = (
        sha2::Sha256::digest(presented.as_bytes()),
        sha2::Sha256::digest(expected.as_bytes()),
    );
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

async fn metrics_endpoint(app: &App, req: &Request) -> Response {
    if !metrics_authorized(app, req) {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(header::WWW_AUTHENTICATE, "Bearer")
            .body("metrics need the bearer token");
    }
    let db = &app.db;
    let ops = tokio::time::timeout(METRICS_DATABASE_TIMEOUT, async {
        let mut conn = db.conn().await?;
        crate::db::health::ops_stats(&mut conn, app.clock.now()).await
    })
    .await;
    let ops = match ops {
        Ok(Ok(ops)) => Some(ops),
        Ok(Err(_)) | Err(_) => None,
    };
    let snapshot = metrics::Snapshot {
        pool: db.pool_status(),
        checkouts: db.checkouts(),
        statements: db.statements_executed(),
        ops,
    };
    app.metrics
        .render(snapshot)
        .with_content_type("text/plain; version=0.0.4")
        .with_header(header::CACHE_CONTROL, "no-store")
        .into_response()
}

fn metrics_route(app: &App) -> impl Endpoint<Output = Response> + use<> {
    let app = app.clone();
    poem::endpoint::make(move |req: Request| {
        let app = app.clone();
        async move { metrics_endpoint(&app, &req).await }
    })
}

pub fn routes(app: App) -> impl Endpoint<Output = Response> {
    let schema = build_schema(&app.config);
    routes_with_schema(app, schema)
}

/// [`routes`] serving `schema` (tests: the served schema with a test-only extension).
pub fn routes_with_schema(app: App, schema: ApiSchema) -> impl Endpoint<Output = Response> {
    let state = HttpState {
        app: app.clone(),
        schema,
    };
    let development = !app.config.is_production();

    let graphql_state = state.clone();
    let graphql = move || {
        let state = graphql_state.clone();
        poem::endpoint::make(move |req: Request| {
            let state = state.clone();
            async move { graphql::endpoint(req, &state).await }
        })
    };
    let ready_app = app.clone();
    let ready = poem::endpoint::make(move |_: Request| {
        let app = ready_app.clone();
        async move { readyz(&app).await }
    });

    let mut route = Route::new()
        .at("/graphql", get(graphql()).post(graphql()))
        .at("/healthz", get(healthz))
        .at("/readyz", get(ready));
    match metrics_exposure(&app.config) {
        MetricsExposure::Main => route = route.at("/metrics", get(metrics_route(&app))),
        MetricsExposure::Separate => {}
        MetricsExposure::Refused => tracing::warn!(
            "/metrics is not served: production needs METRICS_TOKEN or METRICS_LISTEN_ADDR"
        ),
    }
    if development {
        route = route
            .at("/graphiql", get(graphiql::endpoint()))
            .at("/graphiql/*path", get(graphiql::endpoint()));
    }
    let route = route.nest("/", playground::endpoint());

    with_middleware(route, app)
}

/// The metrics listener's routes (`METRICS_LISTEN_ADDR`): `/metrics` only.
fn metrics_routes(app: App) -> impl Endpoint<Output = Response> {
    with_middleware(Route::new().at("/metrics", get(metrics_route(&app))), app)
}

/// What every route gets: panics turned into INTERNAL answers, then request ids, tracing and
/// metrics around the whole.
fn with_middleware<E: Endpoint + 'static>(route: E, app: App) -> impl Endpoint<Output = Response> {
    route
        .with(CatchPanic::new().with_handler(panic_response))
        .around(move |next, req| observe(next, req, app.clone()))
}

/// A server bound to its address (and the metrics address, when set), ready to run.
pub struct BoundServer {
    listener: tokio::net::TcpListener,
    metrics_listener: Option<tokio::net::TcpListener>,
    app: App,
}

impl BoundServer {
    pub async fn bind(app: App, addr: std::net::SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let metrics_listener = match app.config.metrics_listen_addr {
            Some(addr) => Some(tokio::net::TcpListener::bind(addr).await?),
            None => None,
        };
        Ok(Self {
            listener,
            metrics_listener,
            app,
        })
    }

    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_listener.as_ref()?.local_addr().ok()
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish (up to 10 s).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let config = &self.app.config;
        let limits = server::Limits {
            header_timeout: Duration::from_secs(config.http_header_timeout_seconds.max(1)),
            max_connections: config.max_connections,
        };
        let shutdown = shutdown.boxed().shared();
        let main = server::serve(
            self.listener,
            routes(self.app.clone()),
            limits,
            shutdown.clone(),
        );
        match self.metrics_listener {
            Some(listener) => {
                let metrics =
                    server::serve(listener, metrics_routes(self.app.clone()), limits, shutdown);
                let (main, metrics) = tokio::join!(main, metrics);
                main.and(metrics)
            }
            None => main.await,
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler that panics answers INTERNAL in JSON, and the endpoint keeps serving.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_answers_internal_and_the_server_lives_on() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = crate::config::Config::from_env().expect("config");
        config.database_url =
            crate::config::DatabaseUrl::Sqlite(dir.path().join("t.db").display().to_string());
        config.totp_encryption_key =
            Some(crate::domain::totp::TotpKey::generate().to_base64().into());
        let app = crate::app::AppState::new(config, crate::clock::Clock::system()).expect("app");
        #[handler]
        fn boom() -> &'static str {
            panic!("resolver bug")
        }
        let endpoint = with_middleware(
            Route::new().at("/boom", get(boom)).at("/ok", get(healthz)),
            app,
        );
        for _ in 0..2 {
            let response = endpoint
                .call(
                    Request::builder()
                        .uri(poem::http::Uri::from_static("/boom"))
                        .finish(),
                )
                .await
                .expect("answered");
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert!(response.headers().contains_key(REQUEST_ID_HEADER));
            let body = response.into_body().into_string().await.expect("body");
            assert!(body.contains("\"code\":\"INTERNAL\""), "{body}");
            assert!(
                !body.contains("resolver bug"),
                "no panic text leaks: {body}"
            );
        }
        let ok = endpoint
            .call(
                Request::builder()
                    .uri(poem::http::Uri::from_static("/ok"))
                    .finish(),
            )
            .await
            .expect("answered");
        assert_eq!(ok.status(), StatusCode::OK);
    }
}
