//! Reset and invitation links as an attacker tries them (checklist items 9 and 12): stored only
//! as hashes of 256-bit tokens, empty or forged tokens refused, and 50 parallel uses of one link
//! (over two instances on PostgreSQL) apply it exactly once. `onboarding` covers the single
//! use, expiry and "a newer link voids the older" one request at a time.

use serde_json::json;

use crate::common::builders::{Cast, PASSWORD, UserBuilder};
use crate::common::footprint::{burst, footprint, mailed_token, outbox_count};
use crate::common::{TestApp, audit_trail};
use crate::on_both_backends;
use portal_admin::domain::{AuditAction, AuditRecordType, UserId};

const ACCEPT: &str = "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { token user { role } } }";
const RESET: &str = "mutation($input: ResetPasswordInput!) { resetPassword(input: $input) }";

fn count_of(app_events: &[audit_trail::Event], action: AuditAction) -> usize {
    app_events.iter().filter(|e| e.action() == action).count()
}

async fn invite(app: &TestApp, cast: &Cast, email: &str) -> (UserId, String) {
    let created = app
        .gql(
            Some(&cast.admin_token),
            "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
            json!({ "input": { "name": "Ines Invited", "email": email, "role": "CUSTOMER",
                "memberships": [{ "companyId": cast.company_a.id.to_string(), "role": "CUSTOMER" }] } }),
        )
        .await;
    let id = created.data()["createUser"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("id");
    (
        id,
        mailed_token(app, email, "invited", "accept-invitation").await,
    )
}

async fn tokens_are_long_random_and_stored_hashed(app: TestApp) {
    let cast = Cast::new(&app).await;
    let (_, invitation) = invite(&app, &cast, "ines@example.com").await;
    app.gql(
        Some(&cast.admin_token),
        "mutation($id: ID!) { sendPasswordReset(userId: $id) }",
        json!({ "id": cast.customer_a.id.to_string() }),
    )
    .await
    .data();
    let reset = mailed_token(&app, &cast.customer_a.email, "Reset your", "reset-password").await;
    for token in [&invitation, &reset] {
        // 32 random bytes, base64url without padding.
        assert_eq!(token.len(), 43, "{token}");
        let hash = portal_admin::domain::secrets::hash_token(token);
        let mut conn = app.app.db.conn().await.expect("conn");
        let now = app.clock().now();
        let found = portal_admin::db::models::tokens::invitations::find_live(&mut conn, &hash, now)
            .await
            .expect("lookup")
            .is_some()
            || portal_admin::db::models::tokens::password_resets::find_live(&mut conn, &hash, now)
                .await
                .expect("lookup")
                .is_some();
        assert!(found, "stored by its SHA-256");
        let by_plaintext =
            portal_admin::db::models::tokens::invitations::find_live(&mut conn, token, now)
                .await
                .expect("lookup")
                .is_some()
                || portal_admin::db::models::tokens::password_resets::find_live(
                    &mut conn, token, now,
                )
                .await
                .expect("lookup")
                .is_some();
        assert!(!by_plaintext, "never stored as sent");
    }
    assert!(
        app.app.config.password_reset_ttl_minutes <= 60,
        "reset links live an hour at most"
    );
}

async fn forged_and_empty_tokens_change_nothing(app: TestApp) {
    let cast = Cast::new(&app).await;
    let (ines, invitation) = invite(&app, &cast, "ines@example.com").await;
    let before = footprint(&app, ines).await;
    for input in [
        json!({ "token": "", "password": "a perfectly fine passphrase" }),
        json!({ "token": "   ", "password": "a perfectly fine passphrase" }),
        json!({ "token": format!("{invitation}A"), "password": "a perfectly fine passphrase" }),
        json!({ "token": invitation.to_uppercase(), "password": "a perfectly fine passphrase" }),
    ] {
        let refused = app.gql(None, ACCEPT, json!({ "input": input })).await;
        assert_eq!(refused.error_code(), "INVALID_TOKEN", "{input}");
    }
    // The role and the company come from the invitation: extra fields are refused outright.
    let injected = app
        .gql(None, ACCEPT, json!({ "input": { "token": invitation, "password": "a perfectly fine passphrase", "role": "ADMIN" } }))
        .await;
    assert!(injected.body["errors"].is_array());
    let no_token = app
        .gql(
            None,
            ACCEPT,
            json!({ "input": { "password": "a perfectly fine passphrase" } }),
        )
        .await;
    assert!(no_token.body["errors"].is_array());
    for input in [
        json!({ "token": "", "password": "a perfectly fine passphrase" }),
        json!({ "token": invitation, "password": "a perfectly fine passphrase" }),
    ] {
        let refused = app.gql(None, RESET, json!({ "input": input })).await;
        assert_eq!(
            refused.error_code(),
            "INVALID_TOKEN",
            "an invitation is no reset link"
        );
    }
    assert_eq!(footprint(&app, ines).await, before);

    // There is no way in without an invitation: no sign-up mutation exists.
    let sdl = portal_admin::graphql::sdl();
    for word in ["signUp", "register", "createAccount"] {
        assert!(!sdl.contains(&format!("{word}(")), "{word} in the schema");
    }
    let accepted = app
        .gql(
            None,
            ACCEPT,
            json!({ "input": { "token": invitation, "password": "a perfectly fine passphrase" } }),
        )
        .await;
    assert_eq!(
        accepted.data()["acceptInvitation"]["user"]["role"],
        "CUSTOMER"
    );
}

async fn racing_uses_of_one_reset_link_apply_once(app: TestApp) {
    let (rita, _) = UserBuilder::supervisor().signed_in(&app).await;
    app.gql(
        None,
        "mutation($email: String!) { requestPasswordReset(email: $email) }",
        json!({ "email": rita.email }),
    )
    .await
    .data();
    let token = mailed_token(&app, &rita.email, "Reset your", "reset-password").await;
    let results = burst(
        &app,
        50,
        RESET,
        json!({ "input": { "token": token, "password": "a brand new passphrase" } }),
    )
    .await;
    let applied = results
        .iter()
        .filter(|r| r.body["data"]["resetPassword"] == true)
        .count();
    assert_eq!(applied, 1, "one link, one reset");
    for refused in results
        .iter()
        .filter(|r| r.body["data"]["resetPassword"] != true)
    {
        // A use that finds the password-hashing queue full is refused before any work
        // (RATE_LIMITED, see password_hashing.rs); every other loser finds the link used.
        assert!(
            ["INVALID_TOKEN", "RATE_LIMITED"].contains(&refused.error_code()),
            "{}",
            refused.body
        );
    }
    let events = audit_trail::history(&app, AuditRecordType::User, rita.id.0).await;
    assert_eq!(count_of(&events, AuditAction::PasswordReset), 1);
    assert_eq!(outbox_count(&app, &rita.email, "password_changed").await, 1);
    app.sign_in(&rita.email, "a brand new passphrase").await;
    let old = app
        .gql(
            None,
            "mutation($input: SignInInput!) { signIn(input: $input) { token } }",
            json!({ "input": { "email": rita.email, "password": PASSWORD } }),
        )
        .await;
    assert_eq!(old.error_code(), "INVALID_CREDENTIALS");
}

async fn racing_uses_of_one_invitation_apply_once(app: TestApp) {
    let cast = Cast::new(&app).await;
    let (ines, invitation) = invite(&app, &cast, "ines@example.com").await;
    let results = burst(
        &app,
        50,
        ACCEPT,
        json!({ "input": { "token": invitation, "password": "a perfectly fine passphrase" } }),
    )
    .await;
    let sessions = results
        .iter()
        .filter(|r| r.body["data"]["acceptInvitation"]["token"].is_string())
        .count();
    assert_eq!(sessions, 1, "one invitation, one account, one session");
    for refused in results
        .iter()
        .filter(|r| !r.body["data"]["acceptInvitation"]["token"].is_string())
    {
        // A use that finds the password-hashing queue full is refused before any work
        // (RATE_LIMITED, see password_hashing.rs); every other loser finds the link used.
        assert!(
            ["INVALID_TOKEN", "RATE_LIMITED"].contains(&refused.error_code()),
            "{}",
            refused.body
        );
    }
    let events = audit_trail::history(&app, AuditRecordType::User, ines.0).await;
    assert_eq!(count_of(&events, AuditAction::InvitationAccepted), 1);
    assert_eq!(count_of(&events, AuditAction::SignIn), 1);
}

on_both_backends!(
    tokens_are_long_random_and_stored_hashed,
    forged_and_empty_tokens_change_nothing,
    racing_uses_of_one_reset_link_apply_once,
    racing_uses_of_one_invitation_apply_once,
);
