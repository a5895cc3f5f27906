//! Sign-in limits as an attacker meets them: parallel guesses hashed at most up to the limit (on
//! one instance and on two over one PostgreSQL), back-off instead of a lock, the owner's known
//! client unaffected by someone else's guessing, the client taken from `X-Forwarded-For` only
//! behind a trusted proxy, and admins seeing and clearing an account's back-off.

use chrono::Duration;
use portal_admin::config::Config;
use portal_admin::domain::{AuditAction, AuditRecordType};
use serde_json::{Value, json};

use crate::common::builders::{Cast, PASSWORD, UserBuilder};
use crate::common::footprint::{assert_failed_attempts, footprint, second_instance};
use crate::common::{Gql, TestApp, audit_trail};

const SIGN_IN: &str = "mutation($input: SignInInput!) { signIn(input: $input) { token } }";
const THROTTLE: &str =
    "query($id: ID!) { user(id: $id) { signInThrottle { failures lockedUntil } } }";
const CLEAR: &str = "mutation($id: ID!) { clearSignInThrottle(userId: $id) { id } }";

/// Runs `scenario` on both backends with `adjust` applied to the configuration.
macro_rules! both_adjusted {
    ($name:ident, $adjust:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app =
                    crate::common::TestApp::spawn_adjusted(crate::common::Backend::Sqlite, $adjust)
                        .await
                        .expect("sqlite");
                super::$name(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) = crate::common::TestApp::spawn_adjusted(
                    crate::common::Backend::Postgres,
                    $adjust,
                )
                .await
                else {
                    return;
                };
                super::$name(app).await;
            }
        }
    };
}

fn behind_proxy(config: &mut Config) {
    config.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")];
}

/// POSTs `query` to `app` as if from `client` (an `X-Forwarded-For` the local proxy adds).
async fn gql_from(
    app: &TestApp,
    client: Option<&str>,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Gql {
    let mut request = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(client) = client {
        request = request.header("x-forwarded-for", client);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON");
    Gql {
        status,
        body,
        request_id: None,
    }
}

fn sign_in_vars(email: &str, password: &str) -> Value {
    json!({ "input": { "email": email, "password": password } })
}

/// `count` parallel wrong guesses on `email`, spread over `apps`; the answers.
async fn guess_burst(apps: &[&TestApp], email: &str, count: usize) -> Vec<Value> {
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..count {
        let app = apps[i % apps.len()];
        let (http, url) = (app.http.clone(), app.url("/graphql"));
        let variables = sign_in_vars(email, &format!("guess number {i} of many"));
        burst.spawn(async move {
            let response = http
                .post(url)
                .json(&json!({ "query": SIGN_IN, "variables": variables }))
                .send()
                .await
                .expect("sent");
            response.json::<Value>().await.expect("JSON")
        });
    }
    let mut answers = Vec::new();
    while let Some(answer) = burst.join_next().await {
        answers.push(answer.expect("task"));
    }
    answers
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

/// 120 parallel wrong guesses on one account: at most SIGN_IN_MAX_FAILURES (5) are hashed, each
/// of those writes one SIGN_IN_FAILED with no actor, every other one is RATE_LIMITED before any
/// hashing, and the account then backs off (even the right password from this client waits).
async fn a_burst_of_guesses_is_hashed_at_most_the_limit(app: TestApp) {
    let admin = UserBuilder::admin().create(&app).await;
    let before = footprint(&app, admin.id).await;
    let runs = app.app.passwords.runs();
    let answers = guess_burst(&[&app], &admin.email, 120).await;
    let checked = answers
        .iter()
        .filter(|a| code(a) == "INVALID_CREDENTIALS")
        .count();
    let limited = answers.iter().filter(|a| code(a) == "RATE_LIMITED").count();
    assert_eq!(checked + limited, 120, "{answers:?}");
    assert!((1..=5).contains(&checked), "{checked} guesses evaluated");
    assert_eq!(
        app.app.passwords.runs() - runs,
        checked as u64,
        "one hash each"
    );
    assert_eq!(
        footprint(&app, admin.id).await,
        before.with_failed_attempts(checked as i64)
    );
    assert_failed_attempts(&app, admin.id, checked).await;
    let right = app
        .gql(None, SIGN_IN, sign_in_vars(&admin.email, PASSWORD))
        .await;
    assert_eq!(right.error_code(), "RATE_LIMITED", "{}", right.body);
    assert_eq!(app.app.passwords.runs() - runs, checked as u64);
}

/// The same burst over two instances on one PostgreSQL: the limit is in the database, so the
/// two together still hash at most 5 guesses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_limit() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    let other = second_instance(&app).await;
    let admin = UserBuilder::admin().create(&app).await;
    let runs = app.app.passwords.runs() + other.app.passwords.runs();
    let answers = guess_burst(&[&app, &other], &admin.email, 200).await;
    let checked = answers
        .iter()
        .filter(|a| code(a) == "INVALID_CREDENTIALS")
        .count();
    assert_eq!(
        checked + answers.iter().filter(|a| code(a) == "RATE_LIMITED").count(),
        200
    );
    assert!((1..=5).contains(&checked), "{checked} guesses evaluated");
    assert_eq!(
        app.app.passwords.runs() + other.app.passwords.runs() - runs,
        checked as u64
    );
    assert_failed_attempts(&app, admin.id, checked).await;
}

/// No lock: past the free attempts the wait doubles (30 s, 60 s, …), and after the wait the
/// right password gets in and starts the account afresh.
async fn failures_back_off_instead_of_locking(app: TestApp) {
    let admin = UserBuilder::admin().create(&app).await;
    for _ in 0..5 {
        let wrong = app
            .gql(None, SIGN_IN, sign_in_vars(&admin.email, "wrong password!"))
            .await;
        assert_eq!(wrong.error_code(), "INVALID_CREDENTIALS");
    }
    let waits = |g: &Gql| g.body["errors"][0]["extensions"]["retryAfterSeconds"].as_i64();
    let limited = app
        .gql(None, SIGN_IN, sign_in_vars(&admin.email, PASSWORD))
        .await;
    assert_eq!(limited.error_code(), "RATE_LIMITED");
    assert_eq!(waits(&limited), Some(30));
    app.clock().advance(Duration::seconds(31));
    let sixth = app
        .gql(None, SIGN_IN, sign_in_vars(&admin.email, "wrong password!"))
        .await;
    assert_eq!(sixth.error_code(), "INVALID_CREDENTIALS");
    let limited = app
        .gql(None, SIGN_IN, sign_in_vars(&admin.email, PASSWORD))
        .await;
    assert_eq!(waits(&limited), Some(60), "doubled");
    app.clock().advance(Duration::seconds(61));
    app.sign_in(&admin.email, PASSWORD).await;
    // Afresh: five free attempts again.
    for _ in 0..5 {
        let wrong = app
            .gql(None, SIGN_IN, sign_in_vars(&admin.email, "wrong password!"))
            .await;
        assert_eq!(wrong.error_code(), "INVALID_CREDENTIALS");
    }
}

/// Someone guessing from another client backs the account off, but the owner, from the client
/// they signed in from before, still gets in with the right password; a third client with the
/// right password waits like the attacker.
async fn the_owners_known_client_is_not_blocked_by_others(app: TestApp) {
    let owner = UserBuilder::admin().create(&app).await;
    let home = "198.51.100.7";
    let signed_in = gql_from(
        &app,
        Some(home),
        None,
        SIGN_IN,
        sign_in_vars(&owner.email, PASSWORD),
    )
    .await;
    assert!(
        signed_in.body["data"]["signIn"]["token"].is_string(),
        "{}",
        signed_in.body
    );
    for _ in 0..8 {
        gql_from(
            &app,
            Some("203.0.113.66"),
            None,
            SIGN_IN,
            sign_in_vars(&owner.email, "a wrong guess"),
        )
        .await;
    }
    let elsewhere = gql_from(
        &app,
        Some("192.0.2.1"),
        None,
        SIGN_IN,
        sign_in_vars(&owner.email, PASSWORD),
    )
    .await;
    assert_eq!(elsewhere.error_code(), "RATE_LIMITED", "{}", elsewhere.body);
    let at_home = gql_from(
        &app,
        Some(home),
        None,
        SIGN_IN,
        sign_in_vars(&owner.email, PASSWORD),
    )
    .await;
    assert!(
        at_home.body["data"]["signIn"]["token"].is_string(),
        "{}",
        at_home.body
    );
    // The audit rows name the client the proxy saw.
    let latest = audit_trail::latest(&app, AuditRecordType::User, owner.id.0).await;
    assert_eq!(latest.action(), AuditAction::SignIn);
    assert_eq!(latest.event.client_ip.as_deref(), Some(home));
}

/// Without TRUSTED_PROXIES, `X-Forwarded-For` is ignored: a client that varies it is still one
/// client, limited after SIGN_IN_IP_MAX_FAILURES failures over any accounts, and audited with
/// its peer address.
async fn forwarded_for_is_ignored_from_an_untrusted_peer(app: TestApp) {
    for i in 0..3 {
        let wrong = gql_from(
            &app,
            Some(&format!("203.0.113.{i}")),
            None,
            SIGN_IN,
            sign_in_vars(&format!("nobody{i}@example.com"), "a wrong guess"),
        )
        .await;
        assert_eq!(wrong.error_code(), "INVALID_CREDENTIALS");
    }
    let limited = gql_from(
        &app,
        Some("203.0.113.99"),
        None,
        SIGN_IN,
        sign_in_vars("someone@example.com", "a wrong guess"),
    )
    .await;
    assert_eq!(limited.error_code(), "RATE_LIMITED", "{}", limited.body);
    let admin = UserBuilder::admin().create(&app).await;
    let wrong = gql_from(
        &app,
        Some("203.0.113.5"),
        None,
        SIGN_IN,
        sign_in_vars(&admin.email, "x"),
    )
    .await;
    assert_eq!(wrong.error_code(), "RATE_LIMITED");
}

/// Behind a trusted proxy each forwarded client has its own limit.
async fn forwarded_for_names_the_client_behind_a_trusted_proxy(app: TestApp) {
    for i in 0..6 {
        let wrong = gql_from(
            &app,
            Some(&format!("203.0.113.{i}")),
            None,
            SIGN_IN,
            sign_in_vars(&format!("nobody{i}@example.com"), "a wrong guess"),
        )
        .await;
        assert_eq!(wrong.error_code(), "INVALID_CREDENTIALS", "client {i}");
    }
    let admin = UserBuilder::admin().create(&app).await;
    let wrong = gql_from(
        &app,
        Some("203.0.113.50"),
        None,
        SIGN_IN,
        sign_in_vars(&admin.email, "a wrong guess"),
    )
    .await;
    assert_eq!(wrong.error_code(), "INVALID_CREDENTIALS");
    let latest = audit_trail::latest(&app, AuditRecordType::User, admin.id.0).await;
    assert_eq!(latest.action(), AuditAction::SignInFailed);
    assert_eq!(latest.event.client_ip.as_deref(), Some("203.0.113.50"));
    assert_eq!(latest.event.actor_id, None);
}

/// Admins see an account's back-off and clear it (audited); supervisors and customers see
/// nothing and cannot clear it, and their refusals change nothing.
async fn admins_see_and_clear_an_accounts_back_off(app: TestApp) {
    let cast = Cast::new(&app).await;
    let cleo = &cast.customer_a;
    let id = cleo.id.to_string();
    for _ in 0..5 {
        gql_from(
            &app,
            Some("203.0.113.9"),
            None,
            SIGN_IN,
            sign_in_vars(&cleo.email, "a wrong guess"),
        )
        .await;
    }
    let seen = app
        .gql(Some(&cast.admin_token), THROTTLE, json!({ "id": id }))
        .await;
    let throttle = &seen.data()["user"]["signInThrottle"];
    assert_eq!(throttle["failures"], 5, "{}", seen.body);
    assert!(throttle["lockedUntil"].is_string(), "{}", seen.body);
    let by_supervisor = app
        .gql(
            Some(&cast.supervisor_a_token),
            THROTTLE,
            json!({ "id": id }),
        )
        .await;
    assert_eq!(by_supervisor.data()["user"]["signInThrottle"], Value::Null);

    let before = footprint(&app, cleo.id).await;
    for token in [
        &cast.supervisor_a_token,
        &cast.customer_a_token,
        &cast.supervisor_b_token,
    ] {
        let refused = app.gql(Some(token), CLEAR, json!({ "id": id })).await;
        assert!(
            ["FORBIDDEN", "NOT_FOUND"].contains(&refused.error_code()),
            "{}",
            refused.body
        );
    }
    assert_eq!(
        footprint(&app, cleo.id).await,
        before,
        "refusals change nothing"
    );
    let still = gql_from(
        &app,
        Some("192.0.2.44"),
        None,
        SIGN_IN,
        sign_in_vars(&cleo.email, PASSWORD),
    )
    .await;
    assert_eq!(still.error_code(), "RATE_LIMITED");

    let cleared = app
        .gql(Some(&cast.admin_token), CLEAR, json!({ "id": id }))
        .await;
    assert_eq!(cleared.data()["clearSignInThrottle"]["id"], id);
    let event = audit_trail::latest(&app, AuditRecordType::User, cleo.id.0).await;
    assert_eq!(event.action(), AuditAction::SignInThrottleCleared);
    assert_eq!(event.event.actor_id, Some(cast.admin.id));
    let seen = app
        .gql(Some(&cast.admin_token), THROTTLE, json!({ "id": id }))
        .await;
    assert_eq!(seen.data()["user"]["signInThrottle"], Value::Null);
    let back = gql_from(
        &app,
        Some("192.0.2.44"),
        None,
        SIGN_IN,
        sign_in_vars(&cleo.email, PASSWORD),
    )
    .await;
    assert!(
        back.body["data"]["signIn"]["token"].is_string(),
        "{}",
        back.body
    );
}

crate::on_both_backends!(
    a_burst_of_guesses_is_hashed_at_most_the_limit,
    failures_back_off_instead_of_locking,
);
both_adjusted!(
    the_owners_known_client_is_not_blocked_by_others,
    behind_proxy
);
both_adjusted!(
    forwarded_for_is_ignored_from_an_untrusted_peer,
    |c: &mut Config| {
        c.sign_in_ip_max_failures = 3;
    }
);
both_adjusted!(
    forwarded_for_names_the_client_behind_a_trusted_proxy,
    |c: &mut Config| {
        behind_proxy(c);
        c.sign_in_ip_max_failures = 3;
    }
);
both_adjusted!(admins_see_and_clear_an_accounts_back_off, behind_proxy);
