//! Sign-in throttling per account and per client, and one sensitive mutation per request.

use chrono::Duration;
use serde_json::json;

use crate::common::TestApp;
use crate::common::builders::{PASSWORD, UserBuilder};
use crate::on_both_backends;

const SIGN_IN: &str = "mutation($input: SignInInput!) { signIn(input: $input) { token } }";

async fn too_many_failures_lock_the_account_for_the_window(app: TestApp) {
    let admin = UserBuilder::admin().create(&app).await;
    for _ in 0..5 {
        let wrong = app
            .gql(
                None,
                SIGN_IN,
                json!({ "input": { "email": admin.email, "password": "wrong password!" } }),
            )
            .await;
        assert_eq!(wrong.error_code(), "INVALID_CREDENTIALS");
    }
    // Even the right password is refused now, before any hashing.
    let limited = app
        .gql(
            None,
            SIGN_IN,
            json!({ "input": { "email": admin.email, "password": PASSWORD } }),
        )
        .await;
    assert_eq!(limited.error_code(), "RATE_LIMITED");
    assert!(
        limited.body["errors"][0]["extensions"]["retryAfterSeconds"]
            .as_i64()
            .unwrap_or(0)
            > 0
    );

    app.clock().advance(Duration::minutes(16));
    let token = app.sign_in(&admin.email, PASSWORD).await;
    assert!(!token.is_empty(), "the window passed");

    // A success resets the account's counter.
    for _ in 0..4 {
        app.gql(
            None,
            SIGN_IN,
            json!({ "input": { "email": admin.email, "password": "wrong password!" } }),
        )
        .await;
    }
    app.sign_in(&admin.email, PASSWORD).await;
    for _ in 0..4 {
        app.gql(
            None,
            SIGN_IN,
            json!({ "input": { "email": admin.email, "password": "wrong password!" } }),
        )
        .await;
    }
    app.sign_in(&admin.email, PASSWORD).await;
}

async fn unknown_accounts_are_throttled_alike(app: TestApp) {
    for _ in 0..5 {
        app.gql(
            None,
            SIGN_IN,
            json!({ "input": { "email": "ghost@example.com", "password": "guess guess" } }),
        )
        .await;
    }
    let limited = app
        .gql(
            None,
            SIGN_IN,
            json!({ "input": { "email": "GHOST@example.com", "password": "guess guess" } }),
        )
        .await;
    assert_eq!(limited.error_code(), "RATE_LIMITED");
}

async fn aliases_cannot_multiply_attempts(app: TestApp) {
    let admin = UserBuilder::admin().create(&app).await;
    let aliased = format!(
        "mutation {{ a: signIn(input: {{email: \"{e}\", password: \"guess one!\"}}) {{ token }} \
                     b: signIn(input: {{email: \"{e}\", password: \"guess two!\"}}) {{ token }} }}",
        e = admin.email
    );
    let runs = app.app.passwords.runs();
    let refused = app.gql(None, &aliased, json!({})).await;
    // Refused before anything ran (a request error: no `data`; 200 under the legacy
    // application/json media type, 400 under application/graphql-response+json).
    assert!(refused.body.get("data").is_none(), "{}", refused.body);
    assert_eq!(refused.error_code(), "BAD_USER_INPUT");

    let through_fragments = format!(
        "mutation {{ ...A ...B }} \
         fragment A on Mutation {{ signIn(input: {{email: \"{e}\", password: \"guess one!\"}}) {{ token }} }} \
         fragment B on Mutation {{ resetPassword(input: {{token: \"x\", password: \"guess two!\"}}) }}",
        e = admin.email
    );
    let refused = app.gql(None, &through_fragments, json!({})).await;
    // Refused before anything ran, likewise.
    assert!(refused.body.get("data").is_none(), "{}", refused.body);
    assert_eq!(app.app.passwords.runs(), runs, "no password was hashed");

    // Nothing ran: no failure was counted, so five more wrong attempts are still allowed.
    for _ in 0..5 {
        let wrong = app
            .gql(
                None,
                SIGN_IN,
                json!({ "input": { "email": admin.email, "password": "wrong password!" } }),
            )
            .await;
        assert_eq!(wrong.error_code(), "INVALID_CREDENTIALS");
    }
}

on_both_backends!(
    too_many_failures_lock_the_account_for_the_window,
    unknown_accounts_are_throttled_alike,
    aliases_cannot_multiply_attempts,
);
