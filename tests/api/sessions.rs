//! Signing in and out, and which tokens open the door.

use chrono::Duration;
use serde_json::json;

use crate::common::TestApp;
use crate::common::builders::{PASSWORD, UserBuilder};
use crate::on_both_backends;

const VIEWER: &str =
    "{ viewer { user { id email lastSignInAt } impersonator { id } impersonation { reason } } }";

async fn admin_signs_in_and_reads_viewer(app: TestApp) {
    let admin = UserBuilder::admin()
        .email("Ada@Example.com")
        .create(&app)
        .await;
    // Email is matched case-insensitively.
    let response = app
        .gql(
            None,
            "mutation($input: SignInInput!) { signIn(input: $input) { token expiresAt user { id role status lastSignInAt } } }",
            json!({ "input": { "email": "ada@EXAMPLE.com", "password": PASSWORD } }),
        )
        .await;
    let payload = &response.data()["signIn"];
    assert_eq!(payload["user"]["id"], admin.id.to_string());
    assert_eq!(payload["user"]["role"], "ADMIN");
    assert_eq!(payload["user"]["status"], "ACTIVE");
    assert!(payload["user"]["lastSignInAt"].is_string());
    let token = payload["token"].as_str().expect("token");
    assert!(token.len() >= 43, "256-bit token");

    let viewer = app.gql(Some(token), VIEWER, json!({})).await;
    let viewer = &viewer.data()["viewer"];
    assert_eq!(viewer["user"]["email"], "Ada@Example.com");
    assert!(viewer["impersonator"].is_null());
    assert!(viewer["impersonation"].is_null());
}

async fn wrong_password_and_unknown_email_look_the_same(app: TestApp) {
    let admin = UserBuilder::admin().create(&app).await;
    let query = "mutation($input: SignInInput!) { signIn(input: $input) { token } }";
    let wrong = app
        .gql(
            None,
            query,
            json!({ "input": { "email": admin.email, "password": "not the password" } }),
        )
        .await;
    let unknown = app
        .gql(
            None,
            query,
            json!({ "input": { "email": "nobody@example.com", "password": "not the password" } }),
        )
        .await;
    assert_eq!(wrong.error_code(), "INVALID_CREDENTIALS");
    assert_eq!(unknown.error_code(), "INVALID_CREDENTIALS");
    assert_eq!(wrong.error_message(), unknown.error_message());
}

async fn a_wrong_token_is_unauthenticated(app: TestApp) {
    UserBuilder::admin().signed_in(&app).await;
    for token in ["nonsense", "", "a".repeat(43).as_str()] {
        let response = app.gql(Some(token), VIEWER, json!({})).await;
        assert_eq!(response.error_code(), "UNAUTHENTICATED", "token {token:?}");
    }
    let response = app.gql(None, VIEWER, json!({})).await;
    assert_eq!(response.error_code(), "UNAUTHENTICATED");
}

async fn a_revoked_token_is_unauthenticated(app: TestApp) {
    let (_, token) = UserBuilder::admin().signed_in(&app).await;
    let (_, other_token) = UserBuilder::admin().signed_in(&app).await;
    let signed_out = app
        .gql(Some(&token), "mutation { signOut }", json!({}))
        .await;
    assert_eq!(signed_out.data()["signOut"], true);
    let response = app.gql(Some(&token), VIEWER, json!({})).await;
    assert_eq!(response.error_code(), "UNAUTHENTICATED");
    // Signing out ends that session only.
    app.gql(Some(&other_token), VIEWER, json!({})).await.data();
}

async fn an_expired_token_is_unauthenticated(app: TestApp) {
    let (_, token) = UserBuilder::admin().signed_in(&app).await;
    // Active use keeps the session alive past the idle limit…
    for _ in 0..3 {
        app.clock().advance(Duration::minutes(20));
        app.gql(Some(&token), VIEWER, json!({})).await.data();
    }
    // …until the absolute limit (12 hours by default).
    for _ in 0..35 {
        app.clock().advance(Duration::minutes(20));
        app.gql(Some(&token), VIEWER, json!({})).await;
    }
    let response = app.gql(Some(&token), VIEWER, json!({})).await;
    assert_eq!(response.error_code(), "UNAUTHENTICATED", "absolute expiry");

    // Idle expiry: 30 minutes without a request.
    let (_, token) = UserBuilder::admin().signed_in(&app).await;
    app.clock().advance(Duration::minutes(31));
    let response = app.gql(Some(&token), VIEWER, json!({})).await;
    assert_eq!(response.error_code(), "UNAUTHENTICATED", "idle expiry");
}

async fn sign_in_and_out_are_audited_with_the_request_id(app: TestApp) {
    let admin = UserBuilder::admin().create(&app).await;
    let token = app.sign_in(&admin.email, PASSWORD).await;
    let response = app
        .gql(Some(&token), "mutation { signOut }", json!({}))
        .await;
    response.data();
    let mut conn = app.app.db.conn().await.expect("conn");
    let events = portal_admin::db::audit::history(
        &mut conn,
        portal_admin::domain::AuditRecordType::User,
        admin.id.0,
        None,
        10,
    )
    .await
    .expect("history");
    let actions: Vec<_> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["SIGN_OUT", "SIGN_IN", "CREATE"]);
    assert_eq!(
        events[0].request_id, response.request_id,
        "request id stored on the audit row"
    );
    assert_eq!(events[0].actor_id, Some(admin.id));
    assert_eq!(events[0].client_ip.as_deref(), Some("127.0.0.1"));
}

on_both_backends!(
    admin_signs_in_and_reads_viewer,
    wrong_password_and_unknown_email_look_the_same,
    a_wrong_token_is_unauthenticated,
    a_revoked_token_is_unauthenticated,
    an_expired_token_is_unauthenticated,
    sign_in_and_out_are_audited_with_the_request_id,
);
