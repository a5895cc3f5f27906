//! The HTTP surface (poem): routes, the per-request middleware, and the server's lifecycle.

use std::time::{Duration, Instant};

use poem::http::{HeaderValue, StatusCode};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::middleware::CatchPanic;
use poem::web::Html;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, Server, get, handler};
use tracing::Instrument;

use crate::app::App;
use crate::error::ErrorCode;
use crate::graphql::{ApiSchema, build_schema};

pub mod graphql;
pub mod metrics;
mod playground;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

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

/// Request id, tracing span, metrics and access log around every request.
async fn observe<E: Endpoint>(
    next: E,
    mut req: Request,
    state: HttpState,
) -> poem::Result<Response> {
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
    state
        .app
        .metrics
        .observe_request(route, &method, status, elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            status,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    });
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

pub fn routes(app: App) -> impl Endpoint {
    let schema = build_schema(&app.config);
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
    let ready_state = state.clone();
    let readyz = poem::endpoint::make(move |_: Request| {
        let app = ready_state.app.clone();
        async move {
            match app.db.ping().await {
                Ok(()) => (StatusCode::OK, "ready").into_response(),
                Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response(),
            }
        }
    });
    let metrics_state = state.clone();
    let metrics = poem::endpoint::make_sync(move |_: Request| {
        let app = &metrics_state.app;
        app.metrics
            .render(app.db.pool_status())
            .with_content_type("text/plain; version=0.0.4")
    });

    let mut route = Route::new()
        .at("/graphql", get(graphql()).post(graphql()))
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/metrics", get(metrics));
    if development {
        route = route.at(
            "/graphiql",
            get(poem::endpoint::make_sync(|_| {
                Html(
                    async_graphql::http::GraphiQLSource::build()
                        .endpoint("/graphql")
                        .finish(),
                )
            })),
        );
    }
    let route = route.nest("/", playground::endpoint());

    with_middleware(route, state)
}

/// What every route gets: panics turned into INTERNAL answers, then request ids, tracing and
/// metrics around the whole.
fn with_middleware<E: Endpoint + 'static>(
    route: E,
    state: HttpState,
) -> impl Endpoint<Output = Response> {
    route
        .with(CatchPanic::new().with_handler(panic_response))
        .around(move |next, req| observe(next, req, state.clone()))
}

/// A server bound to its address, ready to run.
pub struct BoundServer {
    acceptor: poem::listener::TcpAcceptor,
    app: App,
}

impl BoundServer {
    pub async fn bind(app: App, addr: std::net::SocketAddr) -> std::io::Result<Self> {
        let acceptor = TcpListener::bind(addr).into_acceptor().await?;
        Ok(Self { acceptor, app })
    }

    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.acceptor
            .local_addr()
            .into_iter()
            .find_map(|addr| addr.as_socket_addr().copied())
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish (up to 10 s).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let endpoint = routes(self.app.clone());
        Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(endpoint, shutdown, Some(Duration::from_secs(10)))
            .await
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
        config.database_url = format!("sqlite://{}", dir.path().join("t.db").display());
        config.totp_encryption_key = Some(crate::domain::totp::TotpKey::generate().to_base64());
        let app = crate::app::AppState::new(config, crate::clock::Clock::system()).expect("app");
        let state = HttpState {
            schema: build_schema(&app.config),
            app,
        };
        #[handler]
        fn boom() -> &'static str {
            panic!("resolver bug")
        }
        let endpoint = with_middleware(
            Route::new().at("/boom", get(boom)).at("/ok", get(healthz)),
            state,
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
