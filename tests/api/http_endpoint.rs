//! The HTTP surface: GraphQL over HTTP rules, limits, health, metrics, outages.

use serde_json::json;

use crate::common::builders::UserBuilder;
use crate::common::{Backend, TestApp, test_config};
use crate::on_both_backends;

async fn batches_are_refused(app: TestApp) {
    let response = app
        .http
        .post(app.url("/graphql"))
        .json(&json!([{ "query": "{ viewer { user { id } } }" }, { "query": "{ viewer { user { id } } }" }]))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert!(body.get("data").is_none(), "nothing executed: {body}");
}

async fn oversized_bodies_are_refused(app: TestApp) {
    let padding = "x".repeat(1024 * 1024 + 1);
    let body = json!({ "query": "{ viewer { user { id } } }", "variables": { "pad": padding } });
    let response = app
        .http
        .post(app.url("/graphql"))
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 413);

    // Without a Content-Length (chunked), the limit holds while reading. The server may answer
    // and close before the client has sent everything, which the client reports as an error;
    // a few tries get the 413 itself.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(body.to_string().into_bytes())];
        let sent = app
            .http
            .post(app.url("/graphql"))
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .send()
            .await;
        if let Ok(response) = sent {
            statuses.push(response.status().as_u16());
            break;
        }
    }
    assert_eq!(statuses, [413]);
}

async fn over_deep_queries_are_refused(app: TestApp) {
    let (_, token) = UserBuilder::admin().signed_in(&app).await;
    // Each `__type { ofType { … } }` level adds depth: 20 levels is past the limit.
    let mut selection = "name".to_owned();
    for _ in 0..20 {
        selection = format!("ofType {{ {selection} }}");
    }
    let query = format!("{{ __type(name: \"User\") {{ {selection} }} }}");
    let response = app.gql(Some(&token), &query, json!({})).await;
    let message = response.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("nested too deep"),
        "refused for depth: {}",
        response.body
    );
    assert!(response.body["data"].is_null());
}

async fn too_many_directives_are_refused(app: TestApp) {
    let directives = "@include(if: true) ".repeat(10);
    let query = format!("{{ viewer {directives} {{ user {{ id }} }} }}");
    let response = app.gql(None, &query, json!({})).await;
    assert!(
        response.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("directives"),
        "refused for directives: {}",
        response.body
    );
}

async fn get_runs_queries_but_never_mutations(app: TestApp) {
    let (admin, token) = UserBuilder::admin().signed_in(&app).await;
    let response = app
        .http
        .get(app.url("/graphql"))
        .query(&[("query", "{ viewer { user { email } } }")])
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(
        body["data"]["viewer"]["user"]["email"],
        admin.email.as_str()
    );

    let response = app
        .http
        .get(app.url("/graphql"))
        .query(&[("query", "mutation { signOut }")])
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 405);
    // The session is still alive: the mutation did not run.
    let viewer = app
        .gql(Some(&token), "{ viewer { user { id } } }", json!({}))
        .await;
    assert_eq!(viewer.data()["viewer"]["user"]["id"], admin.id.to_string());
}

async fn health_readiness_and_metrics(app: TestApp) {
    let health = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status(), 200);
    let ready = app.http.get(app.url("/readyz")).send().await.expect("sent");
    assert_eq!(ready.status(), 200);
    app.gql(None, "{ viewer { user { id } } }", json!({})).await;
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("text");
    assert!(
        text.contains(
            "portal_admin_http_requests_total{method=\"POST\",route=\"/graphql\",status=\"200\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("portal_admin_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("portal_admin_db_pool_connections{state=\"max\"} 5"),
        "{text}"
    );
}

async fn request_ids_are_echoed(app: TestApp) {
    let response = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "support-ticket-42")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.headers()["x-request-id"], "support-ticket-42");
    let response = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "not acceptable; has spaces")
        .send()
        .await
        .expect("sent");
    let generated = response.headers()["x-request-id"].to_str().expect("ascii");
    assert_eq!(generated.len(), 36, "a fresh UUID replaces an unusable id");
}

async fn playground_is_served_at_root(app: TestApp) {
    for path in ["/", "/accept-invitation?token=abc", "/users"] {
        let response = app.http.get(app.url(path)).send().await.expect("sent");
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap_or_default()
                .starts_with("text/html")
        );
    }
    let graphiql = app
        .http
        .get(app.url("/graphiql"))
        .send()
        .await
        .expect("sent");
    assert_eq!(graphiql.status(), 200);
    assert!(
        graphiql.headers()["content-security-policy"]
            .to_str()
            .unwrap_or_default()
            .contains("script-src 'self';"),
        "{:?}",
        graphiql.headers()
    );
    let page = graphiql.text().await.expect("text");
    assert!(
        !page.contains("//unpkg") && !page.contains("https://"),
        "{page}"
    );
    // Every file the page loads is served by the binary, the vendored ones for a year.
    for (path, content_type, cache_control) in [
        (
            "/graphiql/vendor/graphiql@3.8.3/graphiql.min.js",
            "text/javascript; charset=utf-8",
            "public, max-age=31536000, immutable",
        ),
        (
            "/graphiql/vendor/graphiql@3.8.3/graphiql.min.css",
            "text/css; charset=utf-8",
            "public, max-age=31536000, immutable",
        ),
        (
            "/graphiql/vendor/react@18.3.1/react.production.min.js",
            "text/javascript; charset=utf-8",
            "public, max-age=31536000, immutable",
        ),
        (
            "/graphiql/vendor/react-dom@18.3.1/react-dom.production.min.js",
            "text/javascript; charset=utf-8",
            "public, max-age=31536000, immutable",
        ),
        (
            "/graphiql/init.js",
            "text/javascript; charset=utf-8",
            "no-cache",
        ),
        ("/graphiql/page.css", "text/css; charset=utf-8", "no-cache"),
    ] {
        assert!(
            page.contains(&format!("\"{path}\"")),
            "{path} not in {page}"
        );
        let response = app.http.get(app.url(path)).send().await.expect("sent");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
        assert_eq!(response.headers()["cache-control"], cache_control, "{path}");
        assert!(!response.bytes().await.expect("body").is_empty(), "{path}");
    }
    let missing = app
        .http
        .get(app.url("/graphiql/vendor/graphiql@3.8.3/graphiql.min.js.map"))
        .send()
        .await
        .expect("sent");
    assert_eq!(missing.status(), 404);
}

on_both_backends!(
    batches_are_refused,
    oversized_bodies_are_refused,
    over_deep_queries_are_refused,
    too_many_directives_are_refused,
    get_runs_queries_but_never_mutations,
    health_readiness_and_metrics,
    request_ids_are_echoed,
    playground_is_served_at_root,
);

/// A database that does not answer: requests get UNAVAILABLE quickly, `/readyz` says so, and the
/// process keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_answers_unavailable_fast() {
    // Nothing listens on port 1; connections are refused at once.
    let mut config = test_config("postgres://portal@127.0.0.1:1/none");
    config.database_timeout_seconds = 2;
    let app = TestApp::spawn_with_config(Backend::Postgres, config, false).await;

    let started = std::time::Instant::now();
    let response = app
        .gql(None, "mutation { signIn(input: {email: \"a@b.co\", password: \"whatever-it-is\"}) { token } }", json!({}))
        .await;
    assert_eq!(response.error_code(), "UNAVAILABLE");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    let ready = app.http.get(app.url("/readyz")).send().await.expect("sent");
    assert_eq!(ready.status(), 503);
    let health = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status(), 200, "the process lives on");
}

/// Production turns off GraphiQL and introspection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_hides_graphiql_and_introspection() {
    let database = crate::common::TestDatabase::create(Backend::Sqlite)
        .await
        .expect("db");
    let mut config = test_config(database.url());
    config.environment = portal_admin::config::Environment::Production;
    config.totp_encryption_key = Some("MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=".into());
    let app = TestApp::spawn_with_config(Backend::Sqlite, config, true).await;
    let graphiql = app
        .http
        .get(app.url("/graphiql"))
        .send()
        .await
        .expect("sent");
    assert!(
        !graphiql
            .text()
            .await
            .expect("text")
            .contains("graphiql.min.js")
    );
    let script = app
        .http
        .get(app.url("/graphiql/vendor/graphiql@3.8.3/graphiql.min.js"))
        .send()
        .await
        .expect("sent");
    assert_eq!(script.status(), 404, "no GraphiQL files in production");
    let response = app
        .gql(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert!(
        response.body["data"]["__schema"].is_null(),
        "introspection off: {}",
        response.body
    );
    drop(database);
}

/// A resolver that panics (a test-only schema extension on the served schema, panicking once
/// inside the resolution of `viewer`; the SDL is unchanged) answers INTERNAL through the real
/// `/graphql` route and executor, without the panic's text, and the same query works next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_resolver_answers_internal_and_the_next_request_works() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_graphql::extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
    };
    use poem::Endpoint;

    struct PanicOnce(Arc<AtomicBool>);
    impl ExtensionFactory for PanicOnce {
        fn create(&self) -> Arc<dyn Extension> {
            Arc::new(PanicOnce(self.0.clone()))
        }
    }
    #[async_trait::async_trait]
    impl Extension for PanicOnce {
        async fn resolve(
            &self,
            ctx: &ExtensionContext<'_>,
            info: ResolveInfo<'_>,
            next: NextResolve<'_>,
        ) -> async_graphql::ServerResult<Option<async_graphql::Value>> {
            if info.name == "viewer" && !self.0.swap(true, Ordering::SeqCst) {
                panic!("resolver bug: secret detail");
            }
            next.run(ctx, info).await
        }
    }

    let database = crate::common::TestDatabase::create(Backend::Sqlite)
        .await
        .expect("db");
    let app = TestApp::spawn_with_config(Backend::Sqlite, test_config(database.url()), true).await;
    let (_, token) = UserBuilder::admin().signed_in(&app).await;
    let schema = portal_admin::graphql::schema_builder(&app.app.config)
        .extension(PanicOnce(Arc::new(AtomicBool::new(false))))
        .finish();
    assert_eq!(schema.sdl(), portal_admin::graphql::sdl(), "SDL unchanged");
    let endpoint = portal_admin::http::routes_with_schema(app.app.clone(), schema);
    let ask = || {
        poem::Request::builder()
            .method(poem::http::Method::POST)
            .uri(poem::http::Uri::from_static("/graphql"))
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(json!({ "query": "{ viewer { user { id } } }" }).to_string())
    };
    let panicked = endpoint.call(ask()).await.expect("answered");
    let body = panicked.into_body().into_string().await.expect("body");
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "INTERNAL",
        "{body}"
    );
    assert!(
        !body.to_string().contains("secret detail"),
        "no panic text: {body}"
    );
    assert!(!body.to_string().contains("panic"), "no panic text: {body}");

    let next = endpoint.call(ask()).await.expect("answered");
    let body = next.into_body().into_string().await.expect("body");
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert!(body.get("errors").is_none(), "{body}");
    assert!(body["data"]["viewer"]["user"]["id"].is_string(), "{body}");
    // And the served app lives on.
    app.gql(Some(&token), "{ viewer { user { id } } }", json!({}))
        .await
        .data();
    drop(app);
    drop(database);
}
