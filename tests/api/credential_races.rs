//! Credential changes against a parallel attacker: sign-ins racing a reset or a password change
//! keep no session, one password check per request however many aliases ask, reset requests
//! throttled per address with the same answer for known and unknown addresses, and old argon2
//! parameters upgraded at sign-in.

use std::time::Duration as StdDuration;

use portal_admin::config::Config;
use serde_json::{Value, json};

use crate::common::builders::{PASSWORD, UserBuilder};
use crate::common::footprint::{assert_failed_attempts, mailed_token};
use crate::common::{Backend, TestApp};

const SIGN_IN: &str = "mutation($input: SignInInput!) { signIn(input: $input) { token } }";
const VIEWER: &str = "{ viewer { user { id } } }";

fn roomy(config: &mut Config) {
    // Every racing sign-in holds a reservation until it succeeds: room for all of them.
    config.sign_in_max_failures = 1_000;
    config.sign_in_ip_max_failures = 1_000;
}

async fn spawn(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_adjusted(backend, roomy).await
}

/// 40 sign-ins with the old password, sent together with `change`; afterwards none of the
/// tokens they got is live.
async fn race_sign_ins_against(app: &TestApp, email: &str, change: (Option<String>, &str, Value)) {
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let (http, url, email) = (app.http.clone(), app.url("/graphql"), email.to_owned());
        burst.spawn(async move {
            let body: Value = http
                .post(url)
                .json(&json!({ "query": SIGN_IN, "variables": { "input": { "email": email, "password": PASSWORD } } }))
                .send()
                .await
                .expect("sent")
                .json()
                .await
                .expect("JSON");
            body["data"]["signIn"]["token"].as_str().map(str::to_owned)
        });
    }
    let (token, document, variables) = change;
    // The racing sign-ins may fill the password-hashing queue: a change refused RATE_LIMITED
    // before any work is retried (still while the sign-ins race).
    let mut changed = app.gql(token.as_deref(), document, variables.clone()).await;
    for _ in 0..100 {
        if changed.body["errors"].is_null() || changed.error_code() != "RATE_LIMITED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        changed = app.gql(token.as_deref(), document, variables.clone()).await;
    }
    assert!(changed.body["errors"].is_null(), "{}", changed.body);
    let mut tokens = Vec::new();
    while let Some(answer) = burst.join_next().await {
        tokens.extend(answer.expect("task"));
    }
    for token in &tokens {
        let viewer = app.gql(Some(token), VIEWER, json!({})).await;
        assert_eq!(
            viewer.error_code(),
            "UNAUTHENTICATED",
            "a session from the old password outlived the change ({} issued)",
            tokens.len()
        );
    }
    let old = app
        .gql(
            None,
            SIGN_IN,
            json!({ "input": { "email": email, "password": PASSWORD } }),
        )
        .await;
    assert_eq!(old.error_code(), "INVALID_CREDENTIALS");
}

async fn sign_ins_racing_a_reset_keep_no_session(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let rita = UserBuilder::customer().create(&app).await;
    app.gql(
        None,
        "mutation($e: String!) { requestPasswordReset(email: $e) }",
        json!({ "e": rita.email }),
    )
    .await
    .data();
    let token = mailed_token(&app, &rita.email, "Reset your", "reset-password").await;
    race_sign_ins_against(
        &app,
        &rita.email,
        (
            None,
            "mutation($input: ResetPasswordInput!) { resetPassword(input: $input) }",
            json!({ "input": { "token": token, "password": "a brand new passphrase" } }),
        ),
    )
    .await;
}

async fn sign_ins_racing_a_change_keep_no_session(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let (rita, own) = UserBuilder::customer().signed_in(&app).await;
    race_sign_ins_against(
        &app,
        &rita.email,
        (
            Some(own.clone()),
            "mutation($input: ChangePasswordInput!) { changePassword(input: $input) }",
            json!({ "input": { "currentPassword": PASSWORD, "newPassword": "a brand new passphrase" } }),
        ),
    )
    .await;
    // The session that made the change stays.
    let viewer = app.gql(Some(&own), VIEWER, json!({})).await;
    assert_eq!(viewer.data()["viewer"]["user"]["id"], rita.id.0.to_string());
}

/// 100 aliased `updateUser(currentPassword)` in one request: at most one password is hashed and
/// audited; none of them changes anything.
async fn aliased_password_checks_hash_once(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let (cleo, token) = UserBuilder::customer().signed_in(&app).await;
    let fields: String = (0..100)
        .map(|i| {
            format!(
                "a{i}: updateUser(input: {{id: \"{}\", email: \"new{i}@example.com\", currentPassword: \"guess {i} guess\"}}) {{ id }} ",
                cleo.id
            )
        })
        .collect();
    let runs = app.app.passwords.runs();
    let answer = app
        .gql(Some(&token), &format!("mutation {{ {fields} }}"), json!({}))
        .await;
    let hashed = app.app.passwords.runs() - runs;
    assert!(hashed <= 1, "{hashed} hashes for one request");
    let codes: Vec<&str> = answer.body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["extensions"]["code"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let wrong = codes
        .iter()
        .filter(|c| **c == "INVALID_CREDENTIALS")
        .count();
    assert_eq!(wrong as u64, hashed, "{}", answer.body);
    if answer.body.get("data").is_some_and(|d| !d.is_null()) {
        // Executed: one check, the 99 others refused before hashing.
        assert_eq!(hashed, 1);
        assert_eq!(
            codes.iter().filter(|c| **c == "RATE_LIMITED").count(),
            99,
            "{}",
            answer.body
        );
    }
    assert_failed_attempts(&app, cleo.id, wrong).await;
}

/// 30 parallel reset requests for one address: 3 accepted (PASSWORD_RESET_MAX_PER_EMAIL), the
/// rest RATE_LIMITED, and exactly 3 mails reach the SMTP server. An unknown address gets the
/// same answer as a known one.
async fn reset_requests_are_throttled_and_tell_nothing(app: TestApp) {
    let rita = UserBuilder::customer().create(&app).await;
    let request = "mutation($e: String!) { requestPasswordReset(email: $e) }";
    // First, from the same client: a known and an unknown address get the same answer.
    let known = UserBuilder::customer().create(&app).await;
    let for_known = app.gql(None, request, json!({ "e": known.email })).await;
    let for_unknown = app
        .gql(None, request, json!({ "e": "nobody-here@example.com" }))
        .await;
    assert_eq!(for_known.status, for_unknown.status);
    assert_eq!(for_known.body, for_unknown.body);
    assert_eq!(for_known.body["data"]["requestPasswordReset"], true);
    let answers = futures::future::join_all(
        (0..30).map(|_| app.gql(None, request, json!({ "e": rita.email }))),
    )
    .await;
    let accepted = answers
        .iter()
        .filter(|a| a.body["data"]["requestPasswordReset"] == true)
        .count();
    assert_eq!(accepted, 3);
    for refused in answers
        .iter()
        .filter(|a| a.body["data"]["requestPasswordReset"] != true)
    {
        assert_eq!(refused.error_code(), "RATE_LIMITED", "{}", refused.body);
    }
    let address = rita.email.clone();
    let mails = app
        .wait_for_mail(
            move |m| m.is_to(&address) && m.subject.contains("Reset your"),
            StdDuration::from_secs(20),
        )
        .await;
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    let smtp = app.smtp.as_ref().expect("smtp");
    let delivered = smtp
        .received()
        .iter()
        .filter(|m| m.is_to(&rita.email))
        .count();
    assert!(!mails.is_empty());
    assert_eq!(delivered, 3, "one mail per accepted request");
}

/// A hash made with weaker argon2 parameters is replaced at the next successful sign-in by one
/// with today's (m=19456, t=2, p=1), and the password keeps working.
async fn old_hash_parameters_are_upgraded_at_sign_in(app: TestApp) {
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    let rita = UserBuilder::customer().create(&app).await;
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8_192, 1, 1, None).expect("params"),
    )
    .hash_password(
        PASSWORD.as_bytes(),
        &SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").expect("salt"),
    )
    .expect("weak hash")
    .to_string();
    assert!(weak.contains("m=8192,t=1,p=1"), "{weak}");
    app.sql(&format!(
        "UPDATE users SET password_hash = '{weak}' WHERE id = {}",
        rita.id.0
    ))
    .await
    .expect("planted");
    let stored = || async {
        let mut conn = app.app.db.conn().await.expect("conn");
        portal_admin::db::models::users::get(&mut conn, rita.id)
            .await
            .expect("user")
            .password_hash
            .expect("hash")
    };
    let runs = app.app.passwords.runs();
    app.sign_in(&rita.email, PASSWORD).await;
    assert_eq!(
        app.app.passwords.runs() - runs,
        2,
        "a check and the new hash"
    );
    let upgraded = stored().await;
    assert_ne!(upgraded, weak);
    assert!(upgraded.contains("m=19456,t=2,p=1"), "{upgraded}");
    // On the trail: the SIGN_IN event says so; no password change is recorded.
    let sign_ins = || async {
        crate::common::audit_trail::history(
            &app,
            portal_admin::domain::AuditRecordType::User,
            rita.id.0,
        )
        .await
        .into_iter()
        .filter(|e| e.action() == portal_admin::domain::AuditAction::SignIn)
        .collect::<Vec<_>>()
    };
    let first = sign_ins().await;
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].event.reason.as_deref(),
        Some(portal_admin::services::sessions::PASSWORD_REHASHED)
    );
    assert!(first[0].changes.is_empty(), "no field change");
    let runs = app.app.passwords.runs();
    app.sign_in(&rita.email, PASSWORD).await;
    assert_eq!(app.app.passwords.runs() - runs, 1, "current: no rehash");
    assert_eq!(stored().await, upgraded);
    let both = sign_ins().await;
    assert_eq!(both.len(), 2);
    assert!(
        both.iter().filter(|e| e.event.reason.is_some()).count() == 1,
        "only the sign-in that rehashed says so"
    );
}

macro_rules! both {
    ($($name:ident),*) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::common::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(crate::common::Backend::Postgres).await;
            }
        }
    )*};
}

both!(
    sign_ins_racing_a_reset_keep_no_session,
    sign_ins_racing_a_change_keep_no_session,
    aliased_password_checks_hash_once
);
crate::on_both_backends!(with_smtp: reset_requests_are_throttled_and_tell_nothing);
crate::on_both_backends!(old_hash_parameters_are_upgraded_at_sign_in);
