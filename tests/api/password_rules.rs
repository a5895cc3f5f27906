//! Choosing a password (checklist item 2): at least 15 characters, long ones kept whole, no
//! composition rules, the 1-million-entry common-password list, input capped near 1 KB before any
//! hashing. The same rules wherever a password is chosen: invitation, reset, change.

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::builders::{Cast, PASSWORD, UserBuilder};
use crate::common::footprint::{footprint, mailed_token};
use crate::on_both_backends;

const ACCEPT: &str =
    "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { token } }";
const RESET: &str = "mutation($input: ResetPasswordInput!) { resetPassword(input: $input) }";
const CHANGE: &str = "mutation($input: ChangePasswordInput!) { changePassword(input: $input) }";

/// Passwords every form refuses, and why.
fn refused() -> Vec<(String, &'static str)> {
    vec![
        ("Password1!".into(), "common (and short)"),
        ("passwordpassword".into(), "common, 16 characters"),
        ("QWERTYUIOPASDFGH".into(), "common, any case"),
        ("fourteen chars".into(), "14 characters"),
        ("x".repeat(2000), "over the 1 KB cap"),
    ]
}

fn input(pairs: &[(&str, &str)]) -> Value {
    let map: serde_json::Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    json!({ "input": map })
}

async fn every_form_refuses_weak_passwords_and_changes_nothing(app: TestApp) {
    let cast = Cast::new(&app).await;
    // An invitation to accept.
    let created = app
        .gql(
            Some(&cast.admin_token),
            "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
            json!({ "input": { "name": "Ivy Invited", "email": "ivy@example.com", "role": "CUSTOMER",
                "memberships": [{ "companyId": cast.company_a.id.to_string(), "role": "CUSTOMER" }] } }),
        )
        .await;
    let ivy: portal_admin::domain::UserId = created.data()["createUser"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("id");
    let invitation = mailed_token(&app, "ivy@example.com", "invited", "accept-invitation").await;
    // A reset link to use.
    app.gql(
        Some(&cast.admin_token),
        "mutation($id: ID!) { sendPasswordReset(userId: $id) }",
        json!({ "id": cast.customer_a.id.to_string() }),
    )
    .await
    .data();
    let reset = mailed_token(&app, &cast.customer_a.email, "Reset your", "reset-password").await;

    for (password, why) in refused() {
        let before = (
            footprint(&app, ivy).await,
            footprint(&app, cast.customer_a.id).await,
            footprint(&app, cast.supervisor_a.id).await,
        );
        let runs = app.app.passwords.runs();
        let accepted = app
            .gql(
                None,
                ACCEPT,
                input(&[("token", &invitation), ("password", &password)]),
            )
            .await;
        let reset_done = app
            .gql(
                None,
                RESET,
                input(&[("token", &reset), ("password", &password)]),
            )
            .await;
        let changed = app
            .gql(
                Some(&cast.supervisor_a_token),
                CHANGE,
                input(&[("currentPassword", PASSWORD), ("newPassword", &password)]),
            )
            .await;
        assert_eq!(
            app.app.passwords.runs(),
            runs,
            "{why}: refused before any hashing"
        );
        for (response, field) in [
            (&accepted, "password"),
            (&reset_done, "password"),
            (&changed, "newPassword"),
        ] {
            assert_eq!(
                response.error_code(),
                "BAD_USER_INPUT",
                "{why}: {}",
                response.body
            );
            assert_eq!(response.error_field(), Some(field), "{why}");
        }
        let after = (
            footprint(&app, ivy).await,
            footprint(&app, cast.customer_a.id).await,
            footprint(&app, cast.supervisor_a.id).await,
        );
        assert_eq!(after, before, "{why}: nothing changed");
    }

    // Both links still work, with a long password: no composition rules, and 64+ characters
    // kept whole (the last character counts).
    let long = format!("{}!", "a sentence is a fine password ".repeat(3).trim_end());
    assert!(long.chars().count() >= 64);
    app.gql(
        None,
        ACCEPT,
        input(&[("token", &invitation), ("password", &long)]),
    )
    .await
    .data();
    let last_changed = format!("{}?", &long[..long.len() - 1]);
    let sign_in = |password: String| {
        app.gql(
            None,
            "mutation($input: SignInInput!) { signIn(input: $input) { token } }",
            json!({ "input": { "email": "ivy@example.com", "password": password } }),
        )
    };
    assert_eq!(
        sign_in(last_changed).await.error_code(),
        "INVALID_CREDENTIALS"
    );
    assert!(sign_in(long).await.data()["signIn"]["token"].is_string());
    app.gql(
        None,
        RESET,
        input(&[
            ("token", &reset),
            ("password", "all lowercase and no digits"),
        ]),
    )
    .await
    .data();
}

/// A one-megabyte password (still inside the 1 MiB body cap) is refused without hashing, at
/// sign-in too.
async fn a_huge_password_costs_no_hash(app: TestApp) {
    let (user, _) = UserBuilder::customer().signed_in(&app).await;
    let runs = app.app.passwords.runs();
    let huge = "p".repeat(1_000_000);
    let response = app
        .gql(
            None,
            "mutation($input: SignInInput!) { signIn(input: $input) { token } }",
            json!({ "input": { "email": user.email, "password": huge } }),
        )
        .await;
    assert_eq!(response.status, 200, "a GraphQL error, not an HTTP one");
    assert_eq!(
        response.error_code(),
        "INVALID_CREDENTIALS",
        "answered as any wrong password"
    );
    assert!(response.body["data"]["signIn"].is_null());
    assert_eq!(app.app.passwords.runs(), runs, "no argon2 for it");
}

on_both_backends!(
    every_form_refuses_weak_passwords_and_changes_nothing,
    a_huge_password_costs_no_hash,
);
