//! GraphQL over HTTP: media types, status codes, a contract code on every error, response cap,
//! `Cache-Control`, and the GraphQL metrics. (The spec's whole audit runs in CI against the
//! binary: `tests/graphql-http/run.sh`.)

use serde_json::{Value, json};

use crate::common::builders::UserBuilder;
use crate::common::{Backend, TestApp, TestDatabase, test_config};
use crate::on_both_backends;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

struct Raw {
    status: u16,
    content_type: String,
    cache_control: String,
    body: Value,
}

async fn post(app: &TestApp, accept: Option<&str>, token: Option<&str>, body: Value) -> Raw {
    let mut request = app
        .http
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    raw(request.send().await.expect("sent")).await
}

async fn raw(response: reqwest::Response) -> Raw {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let content_type = header("content-type");
    let cache_control = header("cache-control");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Raw {
        status,
        content_type,
        cache_control,
        body,
    }
}

async fn accept_header_chooses_the_media_type(app: TestApp) {
    let query = json!({ "query": "{ __typename }" });
    for (accept, expected) in [
        (Some(GRAPHQL_RESPONSE), GRAPHQL_RESPONSE),
        (Some("application/json"), "application/json"),
        (Some("*/*"), "application/json"),
        (None, "application/json"),
        (
            Some("application/json;q=0.5, application/graphql-response+json"),
            GRAPHQL_RESPONSE,
        ),
        (
            Some("application/graphql-response+json;q=0.1, application/json"),
            "application/json",
        ),
    ] {
        let answer = post(&app, accept, None, query.clone()).await;
        assert_eq!(answer.status, 200, "{accept:?}");
        assert!(
            answer.content_type.starts_with(expected),
            "{accept:?} gave {}",
            answer.content_type
        );
        assert_eq!(answer.body["data"]["__typename"], "Query");
        assert_eq!(answer.cache_control, "no-store");
    }
    let refused = post(&app, Some("text/html"), None, query).await;
    assert_eq!(refused.status, 406);
    assert_eq!(
        refused.body["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
}

/// Requests that do not run: 400 without `data` for graphql-response+json, 200 for the legacy
/// application/json; each with BAD_USER_INPUT and a sentence for people.
async fn request_errors_have_the_spec_status_and_a_code(app: TestApp) {
    let (_, token) = UserBuilder::admin().signed_in(&app).await;
    let mut deep = "name".to_owned();
    for _ in 0..20 {
        deep = format!("ofType {{ {deep} }}");
    }
    // Pages of pages: 100 users times 100 events each is past the complexity limit.
    let wide = "users(first: 100) { edges { node { history(first: 100) { edges { node { id action } } } } } }";
    let cases: Vec<(&str, Value, &str)> = vec![
        ("syntax error", json!({ "query": "{" }), "line 1, column 2"),
        (
            "unknown field",
            json!({ "query": "{ nothingHere }" }),
            "nothingHere",
        ),
        (
            "missing variable",
            json!({ "query": "query($n: Int!) { users(first: $n) { totalCount } }" }),
            "$n",
        ),
        (
            "variable of the wrong type",
            json!({ "query": "query($n: Int!) { users(first: $n) { totalCount } }", "variables": { "n": "ten" } }),
            "first",
        ),
        (
            "depth limit",
            json!({ "query": format!("{{ __type(name: \"User\") {{ {deep} }} }}") }),
            "nested too deep",
        ),
        (
            "complexity limit",
            json!({ "query": format!("{{ {wide} }}") }),
            "",
        ),
        (
            "unknown operation",
            json!({ "query": "query A { __typename }", "operationName": "B" }),
            "B",
        ),
    ];
    for (case, body, names) in cases {
        let strict = post(&app, Some(GRAPHQL_RESPONSE), Some(&token), body.clone()).await;
        assert_eq!(strict.status, 400, "{case}: {}", strict.body);
        assert!(strict.body.get("data").is_none(), "{case}: no data entry");
        let error = &strict.body["errors"][0];
        assert_eq!(
            error["extensions"]["code"], "BAD_USER_INPUT",
            "{case}: {error}"
        );
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains(names), "{case}: {message}");
        assert!(
            !message.contains("-->"),
            "{case}: no parser drawing: {message}"
        );
        assert_eq!(strict.cache_control, "no-store", "{case}");

        let legacy = post(&app, Some("application/json"), Some(&token), body).await;
        assert_eq!(legacy.status, 200, "{case}: legacy");
        assert_eq!(
            legacy.body["errors"][0]["extensions"]["code"],
            "BAD_USER_INPUT"
        );
    }
}

/// A literal argument that does not coerce: BAD_USER_INPUT with the argument named. Most are
/// coerced while the field runs (a field error, 200); a page's `first` is read during
/// validation, since the complexity limit counts it, so it is a request error (400), as the
/// GraphQL-over-HTTP spec has it for a validation failure.
async fn argument_coercion_names_the_argument(app: TestApp) {
    let (_, token) = UserBuilder::admin().signed_in(&app).await;
    for (query, argument, field) in [
        (
            "{ auditEvents(filter: {from: \"not-a-date\"}) { totalCount } }",
            "filter",
            "auditEvents",
        ),
        (
            "{ users(first: 2147483648) { totalCount } }",
            "first",
            "users",
        ),
    ] {
        let answer = post(
            &app,
            Some(GRAPHQL_RESPONSE),
            Some(&token),
            json!({ "query": query }),
        )
        .await;
        let status = if argument == "first" { 400 } else { 200 };
        assert_eq!(answer.status, status, "{}", answer.body);
        let error = &answer.body["errors"][0];
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
        assert_eq!(error["extensions"]["field"], argument);
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("\"{argument}\" of \"{field}\"")),
            "{message}"
        );
    }
}

/// HTTP-level refusals keep their status with either media type.
async fn malformed_requests_answer_400(app: TestApp) {
    for body in [
        "{ \"not json",
        "{\"notquery\": \"{ __typename }\"}",
        "{\"query\": {\"obj\": 1}}",
        "{\"query\": \"{ __typename }\", \"variables\": \"{}\"}",
        "{\"query\": \"{ __typename }\", \"extensions\": [1]}",
        "{\"query\": \"{ __typename }\", \"operationName\": 0}",
    ] {
        for accept in [GRAPHQL_RESPONSE, "application/json"] {
            let response = app
                .http
                .post(app.url("/graphql"))
                .header("content-type", "application/json")
                .header("accept", accept)
                .body(body)
                .send()
                .await
                .expect("sent");
            let answer = raw(response).await;
            assert_eq!(answer.status, 400, "{body} ({accept})");
            assert_eq!(
                answer.body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
                "{body}"
            );
        }
    }
    let no_type = app
        .http
        .post(app.url("/graphql"))
        .body("{\"query\": \"{ __typename }\"}")
        .send()
        .await
        .expect("sent");
    assert_eq!(no_type.status(), 415);
}

async fn get_takes_variables_as_json(app: TestApp) {
    let response = app
        .http
        .get(app.url("/graphql"))
        .query(&[
            (
                "query",
                "query Type($name: String!) { __type(name: $name) { name } }",
            ),
            ("variables", "{\"name\": \"User\"}"),
        ])
        .header("accept", GRAPHQL_RESPONSE)
        .send()
        .await
        .expect("sent");
    let answer = raw(response).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["data"]["__type"]["name"], "User");
    assert_eq!(answer.cache_control, "no-store");
}

/// Responses over `MAX_RESPONSE_BYTES` answer a coded error instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_over_the_cap_are_refused() {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("db");
    let mut config = test_config(database.url());
    config.max_response_bytes = 4096;
    let app = TestApp::spawn_with_config(Backend::Sqlite, config, true).await;
    let (_, token) = UserBuilder::admin().signed_in(&app).await;
    let small = post(
        &app,
        Some(GRAPHQL_RESPONSE),
        Some(&token),
        json!({ "query": "{ viewer { user { id } } }" }),
    )
    .await;
    assert_eq!(small.status, 200, "{}", small.body);
    let large = post(
        &app,
        Some(GRAPHQL_RESPONSE),
        Some(&token),
        json!({ "query": "{ __schema { types { name description fields { name description } } } }" }),
    )
    .await;
    assert_eq!(large.status, 400, "{}", large.body);
    assert!(large.body.get("data").is_none());
    let error = &large.body["errors"][0];
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT");
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("larger than"),
        "{error}"
    );
    drop(database);
}

/// `/metrics` counts GraphQL outcomes by operation (unknown names collapse) and code, and
/// carries the pool, statement, process, outbox and audit figures.
async fn metrics_count_outcomes_by_operation_and_code(app: TestApp) {
    let (_, token) = UserBuilder::admin().signed_in(&app).await;
    app.gql(
        Some(&token),
        "query Viewer { viewer { user { id } } }",
        json!({}),
    )
    .await;
    app.gql(
        None,
        "query MadeUp123 { viewer { user { id } } }",
        json!({}),
    )
    .await;
    app.gql(None, "{ nothingHere }", json!({})).await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    for line in [
        "portal_admin_graphql_requests_total{code=\"OK\",operation=\"Viewer\"} 1",
        "portal_admin_graphql_requests_total{code=\"UNAUTHENTICATED\",operation=\"other\"} 1",
        "portal_admin_graphql_requests_total{code=\"BAD_USER_INPUT\",operation=\"anonymous\"} 1",
        "portal_admin_metrics_database_up 1",
        "portal_admin_mail_outbox_pending 0",
        "portal_admin_mail_outbox_failed_total 0",
        "portal_admin_mail_outbox_oldest_due_age_seconds 0",
    ] {
        assert!(text.contains(line), "missing {line}:\n{text}");
    }
    assert!(!text.contains("MadeUp123"), "unknown names collapse");
    for name in [
        "portal_admin_graphql_request_duration_seconds_bucket",
        "portal_admin_db_pool_checkouts_total",
        "portal_admin_db_pool_checkout_wait_seconds_total",
        "portal_admin_db_statements_total",
        "portal_admin_audit_unsealed_events",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
    ] {
        assert!(text.contains(name), "missing {name}:\n{text}");
    }
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    assert!(value("portal_admin_db_pool_checkouts_total") >= 3.0);
    assert!(value("portal_admin_db_statements_total") >= 3.0);
    // The sign-in wrote events; nothing has sealed them yet in this test.
    assert!(value("portal_admin_audit_unsealed_events") >= 1.0);
}

on_both_backends!(
    accept_header_chooses_the_media_type,
    request_errors_have_the_spec_status_and_a_code,
    argument_coercion_names_the_argument,
    malformed_requests_answer_400,
    get_takes_variables_as_json,
    metrics_count_outcomes_by_operation_and_code,
);

/// `METRICS_TOKEN`: `/metrics` answers 401 without the bearer token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_token_is_required_when_set() {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("db");
    let mut config = test_config(database.url());
    config.metrics_token = Some("scrape-secret-1234".into());
    let app = TestApp::spawn_with_config(Backend::Sqlite, config, true).await;
    for token in [None, Some("wrong"), Some("scrape-secret-123")] {
        let mut request = app.http.get(app.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("sent");
        assert_eq!(response.status(), 401, "{token:?}");
        assert!(
            !response
                .text()
                .await
                .expect("text")
                .contains("portal_admin_"),
            "no figures without the token"
        );
    }
    let response = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth("scrape-secret-1234")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .expect("text")
            .contains("portal_admin_http_requests_total")
    );
    drop(database);
}

/// `METRICS_LISTEN_ADDR`: `/metrics` moves to its own listener; production without either
/// protection does not serve it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_listener_and_production_refusal() {
    let database = TestDatabase::create(Backend::Sqlite).await.expect("db");
    portal_admin::db::run_migrations(database.url())
        .await
        .expect("migrations");
    let metrics_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        probe.local_addr().expect("addr").port()
    };
    let mut config = test_config(database.url());
    config.metrics_listen_addr = Some(format!("127.0.0.1:{metrics_port}").parse().expect("addr"));
    let app = TestApp::spawn_with_config(Backend::Sqlite, config, false).await;
    // (The console answers unknown paths with its page: what matters is that no figures leak.)
    let main = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent");
    assert!(
        !main.text().await.expect("text").contains("portal_admin_"),
        "no figures on the main listener"
    );
    let separate = app
        .http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .expect("sent");
    assert_eq!(separate.status(), 200);
    assert!(
        separate
            .text()
            .await
            .expect("text")
            .contains("portal_admin_db_pool_connections")
    );
    drop(app);

    let mut production = test_config(database.url());
    production.environment = portal_admin::config::Environment::Production;
    let app = TestApp::spawn_with_config(Backend::Sqlite, production, false).await;
    let refused = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent");
    assert!(
        !refused
            .text()
            .await
            .expect("text")
            .contains("portal_admin_")
    );
    drop(database);
}

/// Checklist item 15: no cookie is ever set, and mutations run only from a JSON POST (a form or
/// `text/plain` POST, which a cross-site page can send without a preflight, is refused).
async fn no_cookies_and_json_only_posts(app: TestApp) {
    let admin = UserBuilder::admin().create(&app).await;
    let sign_in = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({
            "query": "mutation($input: SignInInput!) { signIn(input: $input) { token } }",
            "variables": { "input": { "email": admin.email, "password": crate::common::builders::PASSWORD } },
        }))
        .send()
        .await
        .expect("sent");
    assert!(sign_in.headers().get("set-cookie").is_none());
    let token = sign_in.json::<Value>().await.expect("json")["data"]["signIn"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    for content_type in [
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
    ] {
        let response = app
            .http
            .post(app.url("/graphql"))
            .header("content-type", content_type)
            .bearer_auth(&token)
            .body("{\"query\": \"mutation { signOut }\"}")
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 415, "{content_type}");
    }
    // The session survived: none of those ran.
    let viewer = app
        .gql(Some(&token), "{ viewer { user { id } } }", json!({}))
        .await;
    assert_eq!(viewer.data()["viewer"]["user"]["id"], admin.id.to_string());
}

on_both_backends!(no_cookies_and_json_only_posts);

/// Captures log lines that mention `marker` (the process-wide subscriber sees every test's
/// logs; only the lines of this test's request are kept).
#[derive(Clone)]
struct CapturedLog {
    marker: &'static str,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl std::io::Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        if text.contains(self.marker) {
            self.lines
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(text.into_owned());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The request log line names the operation, the viewer and the impersonator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_log_names_operation_viewer_and_impersonator() {
    const MARKER: &str = "log-check-7f3a";
    let log = CapturedLog {
        marker: MARKER,
        lines: Default::default(),
    };
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        panic!("no other test installs a global subscriber");
    }

    let app = TestApp::spawn(Backend::Sqlite).await;
    let (admin, admin_token) = UserBuilder::admin().signed_in(&app).await;
    let customer = UserBuilder::customer().create(&app).await;
    let token = crate::common::builders::impersonation_token(&app, &admin_token, &customer).await;
    let response = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&token)
        .header("x-request-id", MARKER)
        .json(&json!({ "query": "query Viewer { viewer { user { id } } }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let lines = log.lines.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let finished: Value = lines
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .find(|line| line["fields"]["message"] == "request finished")
        .unwrap_or_else(|| panic!("no request line in {lines:?}"));
    let fields = &finished["fields"];
    assert_eq!(fields["operation"], "Viewer", "{finished}");
    assert_eq!(fields["viewer_id"], customer.id.to_string(), "{finished}");
    assert_eq!(
        fields["impersonator_id"],
        admin.id.to_string(),
        "{finished}"
    );
    assert_eq!(fields["status"], 200);
    assert!(fields["elapsed_ms"].as_f64().is_some(), "{finished}");
}
