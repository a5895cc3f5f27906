//! The security checklist's rows that held in the code but had no test of their own (README,
//! "The 40-point security checklist"): each scenario here is the test that row names, over the
//! real HTTP endpoint on both backends.

use std::time::Duration as StdDuration;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use portal_admin::config::{Config, Environment};
use portal_admin::db::DbConn;
use portal_admin::domain::UserId;
use portal_admin::domain::secrets::hash_token;
use serde_json::{Value, json};

use crate::common::builders::{Cast, PASSWORD, UserBuilder};
use crate::common::footprint::footprint;
use crate::common::{Backend, Gql, TestApp};
use crate::on_both_backends;

const VIEWER: &str = "{ viewer { user { id role } } }";
const UPDATE_USER: &str =
    "mutation($input: UpdateUserInput!) { updateUser(input: $input) { id role version } }";
const DISCARD: &str = "mutation($id: ID!) { discardUser(userId: $id) { status } }";
const UNDISCARD: &str = "mutation($id: ID!) { undiscardUser(userId: $id) { status } }";
const BECOME: &str = "mutation($input: BecomeUserInput!) { becomeUser(input: $input) { token } }";
const SIGN_IN: &str = "mutation($input: SignInInput!) { signIn(input: $input) { token } }";
/// An admin-only query.
const AUDIT_EVENTS: &str = "{ auditEvents(first: 1) { totalCount } }";
/// Every forged host the tests send; none may reach a mail.
const FORGED_HOST: &str = "evil.test";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// `SELECT COUNT(*) AS n …` behind the application's back.
async fn count(app: &TestApp, sql: &str) -> i64 {
    let mut conn = app.app.db.conn().await.expect("conn");
    let rows: Vec<Count> = match &mut conn {
        DbConn::Postgres(c) => diesel::sql_query(sql).load(&mut **c).await,
        DbConn::Sqlite(c) => diesel::sql_query(sql).load(&mut **c).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.as_slice().first().map(|r| r.n).expect("one count row")
}

/// Unrevoked session rows of `user_id`, as the user or as the impersonating admin.
async fn unrevoked_sessions_involving(app: &TestApp, user_id: UserId) -> i64 {
    count(
        app,
        &format!(
            "SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL \
             AND (user_id = {id} OR impersonator_id = {id})",
            id = user_id.0
        ),
    )
    .await
}

async fn session_rows_of(app: &TestApp, user_id: UserId) -> i64 {
    count(
        app,
        &format!(
            "SELECT COUNT(*) AS n FROM sessions WHERE user_id = {}",
            user_id.0
        ),
    )
    .await
}

/// What a request with the token answers: true when it is let in, false for UNAUTHENTICATED.
async fn token_works(app: &TestApp, token: &str) -> bool {
    let response = app.gql(Some(token), VIEWER, json!({})).await;
    if response.body["errors"].is_array() {
        assert_eq!(
            response.error_code(),
            "UNAUTHENTICATED",
            "{}",
            response.body
        );
        false
    } else {
        true
    }
}

/// POSTs a GraphQL operation with a forged `Host` and every forwarded-host header a proxy might
/// pass on, the way a password-reset poisoning attack sends it.
async fn gql_from_forged_host(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let mut request = app
        .http
        .post(app.url("/graphql"))
        .header("host", FORGED_HOST)
        .header("x-forwarded-host", FORGED_HOST)
        .header("x-forwarded-proto", "https")
        .header("x-host", FORGED_HOST)
        .header("x-original-host", FORGED_HOST)
        .header("forwarded", format!("host={FORGED_HOST};proto=https"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request sent");
    assert_eq!(
        response.status(),
        200,
        "a forged Host is not refused by routing"
    );
    response.json().await.expect("JSON body")
}

/// Every link of the one mail to `address` with `subject_part` in its subject starts with
/// PUBLIC_URL, and the forged host appears nowhere in it.
async fn assert_links_use_public_url(app: &TestApp, address: &str, subject_part: &str) {
    let (to, subject) = (address.to_owned(), subject_part.to_owned());
    let mails = app
        .wait_for_mail(
            move |m| m.is_to(&to) && m.subject.contains(&subject),
            StdDuration::from_secs(20),
        )
        .await;
    assert_eq!(mails.len(), 1, "one {subject_part:?} mail to {address}");
    let mail = &mails[0];
    let public_url = app.app.config.public_url();
    assert_eq!(public_url, "http://portal.test");
    let mut links = mail.text_links();
    assert!(
        links.iter().any(|l| l.contains("?token=")),
        "a link with its token in the text part: {:?}",
        mail.text
    );
    links.extend(mail.html_links());
    for link in &links {
        assert!(
            *link == public_url || link.starts_with(&format!("{public_url}/")),
            "{link} is not under {public_url}"
        );
    }
    for part in [
        mail.text.as_deref().unwrap_or_default(),
        mail.html.as_deref().unwrap_or_default(),
        &String::from_utf8_lossy(&mail.raw),
    ] {
        assert!(
            !part.contains(FORGED_HOST),
            "forged host in the mail: {part}"
        );
    }
}

/// Item 10: a request with forged `Host` and `X-Forwarded-Host` headers that makes the service
/// mail a link (an invitation, a password reset) gets links built from PUBLIC_URL only.
async fn mailed_links_ignore_forged_host_headers(app: TestApp) {
    let cast = Cast::new(&app).await;
    let invited = gql_from_forged_host(
        &app,
        Some(&cast.admin_token),
        "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
        json!({ "input": { "name": "Ines Invited", "email": "ines@example.com", "role": "CUSTOMER",
            "memberships": [{ "companyId": cast.company_a.id.to_string(), "role": "CUSTOMER" }] } }),
    )
    .await;
    assert!(invited["data"]["createUser"]["id"].is_string(), "{invited}");
    assert_links_use_public_url(&app, "ines@example.com", "invited").await;

    let reset = gql_from_forged_host(
        &app,
        None,
        "mutation($e: String!) { requestPasswordReset(email: $e) }",
        json!({ "e": cast.customer_a.email }),
    )
    .await;
    assert_eq!(reset["data"]["requestPasswordReset"], true, "{reset}");
    assert_links_use_public_url(&app, &cast.customer_a.email, "Reset your").await;
}

/// Item 17: discarding a user leaves no unrevoked session of theirs in the database, neither
/// their own nor an impersonation they run, and restoring them brings no old token back.
async fn discarding_leaves_no_live_session(app: TestApp) {
    let cast = Cast::new(&app).await;
    // Bea, an admin, signed in twice and impersonating the customer from one of them.
    let (bea, bea_token) = UserBuilder::admin().name("Bea Admin").signed_in(&app).await;
    let bea_second = app.sign_in(&bea.email, PASSWORD).await;
    let acting = app
        .gql(
            Some(&bea_token),
            BECOME,
            json!({ "input": { "userId": cast.supervisor_a.id.to_string(), "reason": "Ticket 17" } }),
        )
        .await;
    let acting = acting.data()["becomeUser"]["token"]
        .as_str()
        .expect("impersonation token")
        .to_owned();
    // The customer, signed in twice.
    let customer_second = app.sign_in(&cast.customer_a.email, PASSWORD).await;

    assert_eq!(unrevoked_sessions_involving(&app, bea.id).await, 3);
    assert_eq!(
        unrevoked_sessions_involving(&app, cast.customer_a.id).await,
        2
    );
    for (user, tokens) in [
        (&bea, vec![&bea_token, &bea_second, &acting]),
        (
            &cast.customer_a,
            vec![&cast.customer_a_token, &customer_second],
        ),
    ] {
        let id = json!({ "id": user.id.to_string() });
        let discarded = app.gql(Some(&cast.admin_token), DISCARD, id.clone()).await;
        assert_eq!(discarded.data()["discardUser"]["status"], "DISCARDED");
        assert_eq!(
            unrevoked_sessions_involving(&app, user.id).await,
            0,
            "{}: every session ended in the database",
            user.name
        );
        let restored = app.gql(Some(&cast.admin_token), UNDISCARD, id).await;
        assert_eq!(restored.data()["undiscardUser"]["status"], "ACTIVE");
        for token in tokens {
            assert!(
                !token_works(&app, token).await,
                "{}: an old token is dead after undiscardUser",
                user.name
            );
        }
        assert_eq!(unrevoked_sessions_involving(&app, user.id).await, 0);
    }
    // Nobody else lost a session: the admin who discarded and the impersonated supervisor's own.
    assert!(token_works(&app, &cast.admin_token).await);
    assert!(token_works(&app, &cast.supervisor_a_token).await);
    // A fresh sign-in is a new session, the only live one.
    let fresh = app.sign_in(&cast.customer_a.email, PASSWORD).await;
    assert!(token_works(&app, &fresh).await);
    assert_eq!(
        unrevoked_sessions_involving(&app, cast.customer_a.id).await,
        1
    );
}

/// Item 20: nobody changes their own role (a supervisor or a customer asking for ADMIN gets
/// FORBIDDEN and nothing is written), and an admin demoted by another admin is refused admin
/// work on the very next request with the same token.
async fn own_role_is_out_of_reach_and_demotion_applies_at_once(app: TestApp) {
    let cast = Cast::new(&app).await;
    for (user, token, roles) in [
        (
            &cast.supervisor_a,
            &cast.supervisor_a_token,
            ["ADMIN", "CUSTOMER"],
        ),
        (
            &cast.customer_a,
            &cast.customer_a_token,
            ["ADMIN", "SUPERVISOR"],
        ),
    ] {
        let before = footprint(&app, user.id).await;
        let role_before = user.role.to_string();
        for role in roles {
            let refused = app
                .gql(
                    Some(token),
                    UPDATE_USER,
                    json!({ "input": { "id": user.id.to_string(), "role": role } }),
                )
                .await;
            assert_eq!(
                refused.error_code(),
                "FORBIDDEN",
                "{} asking for {role}: {}",
                user.name,
                refused.body
            );
            assert!(refused.body["data"]["updateUser"].is_null());
        }
        assert_eq!(footprint(&app, user.id).await, before, "nothing written");
        let viewer = app.gql(Some(token), VIEWER, json!({})).await;
        assert_eq!(viewer.data()["viewer"]["user"]["role"], role_before);
        let admin_only = app.gql(Some(token), AUDIT_EVENTS, json!({})).await;
        assert_eq!(admin_only.error_code(), "FORBIDDEN", "{}", user.name);
    }

    // Bea demotes Ada; Ada's very next admin-only request, same token, is refused.
    let (_, bea_token) = UserBuilder::admin().name("Bea Admin").signed_in(&app).await;
    let as_admin = app
        .gql(Some(&cast.admin_token), AUDIT_EVENTS, json!({}))
        .await;
    assert!(as_admin.data()["auditEvents"]["totalCount"].is_number());
    let demoted = app
        .gql(
            Some(&bea_token),
            UPDATE_USER,
            json!({ "input": { "id": cast.admin.id.to_string(), "role": "SUPERVISOR" } }),
        )
        .await;
    assert_eq!(demoted.data()["updateUser"]["role"], "SUPERVISOR");
    let next = app
        .gql(Some(&cast.admin_token), AUDIT_EVENTS, json!({}))
        .await;
    assert_eq!(next.error_code(), "FORBIDDEN", "{}", next.body);
    assert!(next.body["data"]["auditEvents"].is_null());
    let viewer = app.gql(Some(&cast.admin_token), VIEWER, json!({})).await;
    assert_eq!(viewer.data()["viewer"]["user"]["role"], "SUPERVISOR");
    // Nor can the demoted admin put their role back.
    let back = app
        .gql(
            Some(&cast.admin_token),
            UPDATE_USER,
            json!({ "input": { "id": cast.admin.id.to_string(), "role": "ADMIN" } }),
        )
        .await;
    assert_eq!(back.error_code(), "FORBIDDEN");
}

/// Sends one request and counts the SQL statements it ran (liveness checks of pooled connections
/// depend on timing and are left out, as statement_budgets.rs does).
async fn statements_of(app: &TestApp, token: &str, query: &str) -> (Gql, u64) {
    let db = &app.app.db;
    let before = db.statements_executed() - db.liveness_checks();
    let response = app.gql(Some(token), query, json!({})).await;
    (
        response,
        db.statements_executed() - db.liveness_checks() - before,
    )
}

/// Item 26: a document refused for its depth or its complexity runs no SQL at all, not even
/// the session lookup of the signed-in caller who sent it.
async fn refused_documents_run_no_sql(mut app: TestApp) {
    app.stop_mail_worker().await;
    let cast = Cast::new(&app).await;
    let token = cast.customer_a_token.as_str();
    // The same caller's ordinary request costs statements: the counter sees them.
    let (ordinary, cost) = statements_of(&app, token, VIEWER).await;
    ordinary.data();
    assert!(cost >= 1, "an ordinary request runs SQL: {cost}");

    let mut deep = "id".to_owned();
    // Four levels a turn, each of them a database read were it to run.
    for _ in 0..5 {
        deep = format!("companies {{ members(first: 1) {{ nodes {{ user {{ {deep} }} }} }} }}");
    }
    let deep = format!("{{ viewer {{ user {{ {deep} }} }} }}");
    let (response, cost) = statements_of(&app, token, &deep).await;
    assert!(
        response.error_message().contains("nested too deep"),
        "refused for depth: {}",
        response.body
    );
    assert!(response.body["data"].is_null());
    assert_eq!(cost, 0, "statements run for a document refused for depth");

    let fields = "id name email role status createdAt";
    let history = "history(first: 100) { edges { node { id action occurredAt } } }";
    let complex: String = (0..30)
        .map(|i| {
            format!(" u{i}: users(first: 100) {{ edges {{ node {{ {fields} {history} }} }} }}")
        })
        .collect();
    let complex = format!("query Large {{{complex} }}");
    let (response, cost) = statements_of(&app, token, &complex).await;
    assert_eq!(response.error_code(), "BAD_USER_INPUT", "{}", response.body);
    assert!(
        response.error_message().contains("complex"),
        "refused for complexity: {}",
        response.body
    );
    assert!(response.body.get("data").is_none_or(Value::is_null));
    assert_eq!(
        cost, 0,
        "statements run for a document refused for complexity"
    );
}

/// The error of a refused document: no `data`, at least one error message, returned.
fn refusal_message(response: &Gql) -> String {
    assert!(
        response.body.get("data").is_none_or(Value::is_null),
        "nothing executed: {}",
        response.body
    );
    let message = response.error_message().to_owned();
    assert!(!message.is_empty(), "an error message: {}", response.body);
    message
}

/// Item 29: a document with 10,000 directives, or nested 10,000 deep (selections or list
/// values), is refused with a clear error, and the server goes on answering.
async fn pathological_documents_are_refused_and_the_server_lives_on(app: TestApp) {
    let (admin, token) = UserBuilder::admin().signed_in(&app).await;

    let directives = "@include(if: true) ".repeat(10_000);
    let query = format!("{{ viewer {directives} {{ user {{ id }} }} }}");
    let response = app.gql(Some(&token), &query, json!({})).await;
    let message = refusal_message(&response);
    assert!(message.contains("directives"), "{message}");
    assert_eq!(response.error_code(), "BAD_USER_INPUT", "{}", response.body);

    let depth = 10_000;
    let query = format!(
        "{{ {}id{} }}",
        "viewer { ".repeat(depth),
        " }".repeat(depth)
    );
    let response = app.gql(Some(&token), &query, json!({})).await;
    let message = refusal_message(&response);
    assert!(
        message.contains("nested too deep") || message.contains("stack limit"),
        "refused for nesting: {message}"
    );
    assert_eq!(response.error_code(), "BAD_USER_INPUT", "{}", response.body);

    let query = format!(
        "{{ user(id: {}1{}) {{ id }} }}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let response = app.gql(Some(&token), &query, json!({})).await;
    let message = refusal_message(&response);
    assert!(
        message.contains("nested too deep") || message.contains("stack limit"),
        "refused for nesting: {message}"
    );
    assert_eq!(response.error_code(), "BAD_USER_INPUT", "{}", response.body);

    let health = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status(), 200);
    let normal = app.gql(Some(&token), VIEWER, json!({})).await;
    assert_eq!(normal.data()["viewer"]["user"]["id"], admin.id.to_string());
}

/// Item 32: a database error in the middle of a mutation answers INTERNAL with the generic
/// message and the request id, and nothing of the cause: no SQL, no table, no driver text.
async fn a_database_error_answers_a_generic_internal_error(app: TestApp) {
    let cast = Cast::new(&app).await;
    let cause = "storage exploded in table audit_changes";
    let sql = match app.backend {
        Backend::Sqlite => format!(
            "CREATE TRIGGER break_audit BEFORE INSERT ON audit_changes \
             BEGIN SELECT RAISE(ABORT, '{cause}'); END;"
        ),
        Backend::Postgres => format!(
            "CREATE FUNCTION break_audit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION '{cause}'; END; $$; \
             CREATE TRIGGER break_audit BEFORE INSERT ON audit_changes \
             FOR EACH ROW EXECUTE FUNCTION break_audit();"
        ),
    };
    app.sql(&sql).await.expect("trigger installed");
    let before = footprint(&app, cast.customer_a.id).await;

    let response = app
        .gql(
            Some(&cast.admin_token),
            "mutation($input: UpdateUserInput!) { updateUser(input: $input) { id name } }",
            json!({ "input": { "id": cast.customer_a.id.to_string(), "name": "Renamed" } }),
        )
        .await;
    assert_eq!(response.error_code(), "INTERNAL", "{}", response.body);
    assert_eq!(
        response.error_message(),
        "Something went wrong on our side."
    );
    assert_eq!(
        response.body["errors"].as_array().map(Vec::len),
        Some(1),
        "{}",
        response.body
    );
    let request_id = response
        .request_id
        .as_deref()
        .expect("an x-request-id header");
    assert!(!request_id.is_empty());
    let body = response.body.to_string().to_lowercase();
    for leak in [
        "storage exploded",
        "audit_changes",
        "insert",
        "trigger",
        "raise",
        "sqlite",
        "postgres",
        "diesel",
        "database",
        "users",
    ] {
        assert!(!body.contains(leak), "{leak:?} in the answer: {body}");
    }
    assert_eq!(
        footprint(&app, cast.customer_a.id).await,
        before,
        "the change rolled back"
    );
    // The server goes on answering.
    assert!(token_works(&app, &cast.customer_a_token).await);
}

/// Item 7: the sign-in that answers TWO_FACTOR_REQUIRED (or a wrong code) leaves no session row.
async fn a_sign_in_waiting_for_its_code_creates_no_session(app: TestApp) {
    let (user, token) = UserBuilder::customer().signed_in(&app).await;
    let (secret, _) = app.enable_two_factor(&token).await;
    let rows = session_rows_of(&app, user.id).await;
    assert!(rows >= 1);
    let input = |extra: Value| {
        let mut input = json!({ "email": user.email, "password": PASSWORD });
        if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
            input.extend(extra.clone());
        }
        json!({ "input": input })
    };
    let required = app.gql(None, SIGN_IN, input(json!({}))).await;
    assert_eq!(required.error_code(), "TWO_FACTOR_REQUIRED");
    assert!(required.body["data"]["signIn"].is_null());
    let wrong = app
        .gql(None, SIGN_IN, input(json!({ "totpCode": "000000" })))
        .await;
    assert_eq!(wrong.error_code(), "INVALID_CREDENTIALS");
    assert_eq!(
        session_rows_of(&app, user.id).await,
        rows,
        "no session row, not even a half-authenticated one"
    );
    // The code completes it, with exactly one new row.
    let code = app.totp_code(&secret);
    let done = app
        .gql(None, SIGN_IN, input(json!({ "totpCode": code })))
        .await;
    assert!(done.data()["signIn"]["token"].is_string());
    assert_eq!(session_rows_of(&app, user.id).await, rows + 1);
}

/// Item 14: the database keeps only the hash of a session token, never the token the client got.
async fn session_tokens_are_stored_only_hashed(app: TestApp) {
    let (user, token) = UserBuilder::customer().signed_in(&app).await;
    assert!(token_works(&app, &token).await);
    let rows = |condition: String| {
        let app = &app;
        async move {
            count(
                app,
                &format!("SELECT COUNT(*) AS n FROM sessions WHERE {condition}"),
            )
            .await
        }
    };
    assert_eq!(
        rows(format!("token_hash = '{}'", hash_token(&token))).await,
        1,
        "the row is found by the token's SHA-256"
    );
    let escaped = token.replace('\'', "''");
    assert_eq!(
        rows(format!(
            "token_hash = '{escaped}' OR token_hash LIKE '%{escaped}%' \
             OR COALESCE(user_agent, '') LIKE '%{escaped}%' \
             OR COALESCE(impersonation_reason, '') LIKE '%{escaped}%' \
             OR COALESCE(client_ip, '') LIKE '%{escaped}%'"
        ))
        .await,
        0,
        "the token itself is stored nowhere in the sessions table"
    );
    assert_eq!(session_rows_of(&app, user.id).await, 1);
}

on_both_backends!(with_smtp: mailed_links_ignore_forged_host_headers);
on_both_backends!(
    discarding_leaves_no_live_session,
    own_role_is_out_of_reach_and_demotion_applies_at_once,
    refused_documents_run_no_sql,
    pathological_documents_are_refused_and_the_server_lives_on,
    a_database_error_answers_a_generic_internal_error,
    a_sign_in_waiting_for_its_code_creates_no_session,
    session_tokens_are_stored_only_hashed,
    suggestions_appear_in_development,
);

/// Item 30, development: an unknown field gets a "Did you mean" suggestion (so that the
/// production half, below, proves it is turned off there and not missing everywhere).
async fn suggestions_appear_in_development(app: TestApp) {
    assert_eq!(app.app.config.environment, Environment::Development);
    let response = app.gql(None, "{ usr }", json!({})).await;
    assert!(
        response.error_message().contains("Did you mean"),
        "{}",
        response.body
    );
}

fn production(config: &mut Config) {
    config.environment = Environment::Production;
}

/// Item 30, production (PORTAL_ENV=production): the same typo answers an error that suggests
/// nothing, and introspection stays off.
async fn production_suggests_no_field_names(app: TestApp) {
    let response = app.gql(None, "{ usr }", json!({})).await;
    let body = response.body.to_string();
    assert!(response.body["errors"].is_array(), "{body}");
    assert!(!body.contains("Did you mean"), "{body}");
    assert!(
        !body.contains("\\\"user\\\""),
        "no field name offered: {body}"
    );
    let response = app
        .gql(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert!(
        response.body["data"]["__schema"].is_null(),
        "{}",
        response.body
    );
}

mod production_suggests_no_field_names {
    use crate::common::{Backend, TestApp};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = TestApp::spawn_adjusted(Backend::Sqlite, super::production)
            .await
            .expect("SQLite is always there");
        super::production_suggests_no_field_names(app).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(app) = TestApp::spawn_adjusted(Backend::Postgres, super::production).await else {
            return;
        };
        super::production_suggests_no_field_names(app).await;
    }
}
