//! Changing an email address (checklist item 13): re-authentication, the new address confirms
//! before anything changes, the old address is told, older links die; an admin's change goes
//! through the same confirmation; an invited user's address is corrected at once.

use std::time::Duration as StdDuration;

use chrono::Duration;
use serde_json::{Value, json};

use crate::common::builders::{Cast, PASSWORD, UserBuilder};
use crate::common::footprint::{
    burst, delivered_texts, footprint, mailed_token, outbox_count, token_in_text,
};
use crate::common::{TestApp, audit_trail};
use crate::on_both_backends;
use portal_admin::domain::{AuditAction, AuditRecordType};

const UPDATE: &str = "mutation($input: UpdateUserInput!) { updateUser(input: $input) { id email pendingEmail version } }";
const CONFIRM: &str = "mutation($token: String!) { confirmEmailChange(token: $token) }";
const SIGN_IN: &str = "mutation($input: SignInInput!) { signIn(input: $input) { token } }";

async fn sign_in_code(app: &TestApp, email: &str) -> Value {
    app.gql(
        None,
        SIGN_IN,
        json!({ "input": { "email": email, "password": PASSWORD } }),
    )
    .await
    .body
}

/// The confirmation link mailed to `address`.
async fn confirmation_token(app: &TestApp, address: &str) -> String {
    mailed_token(app, address, "Confirm your new email", "confirm-email").await
}

async fn own_change_waits_for_the_new_address(app: TestApp) {
    let (other, _) = UserBuilder::customer()
        .email("taken@example.com")
        .signed_in(&app)
        .await;
    let (cleo, token) = UserBuilder::customer()
        .email("cleo@old.example.com")
        .signed_in(&app)
        .await;
    let me = cleo.id.to_string();
    // A reset link mailed to the old address before the change.
    app.gql(
        None,
        "mutation { requestPasswordReset(email: \"cleo@old.example.com\") }",
        json!({}),
    )
    .await
    .data();
    let reset_link =
        mailed_token(&app, "cleo@old.example.com", "Reset your", "reset-password").await;

    // Without the password, with a wrong one, or to an address in use: refused, nothing written.
    let before = footprint(&app, cleo.id).await;
    let runs = app.app.passwords.runs();
    let no_password = app
        .gql(
            Some(&token),
            UPDATE,
            json!({ "input": { "id": me, "email": "cleo@new.example.com" } }),
        )
        .await;
    assert_eq!(no_password.error_code(), "BAD_USER_INPUT");
    assert_eq!(no_password.error_field(), Some("currentPassword"));
    assert_eq!(
        app.app.passwords.runs(),
        runs,
        "no hash for a missing password"
    );
    let wrong = app
        .gql(Some(&token), UPDATE, json!({ "input": { "id": me, "email": "cleo@new.example.com", "currentPassword": "not my password at all" } }))
        .await;
    assert_eq!(wrong.error_code(), "INVALID_CREDENTIALS");
    let taken = app
        .gql(Some(&token), UPDATE, json!({ "input": { "id": me, "email": "TAKEN@example.com", "currentPassword": PASSWORD } }))
        .await;
    assert_eq!(taken.error_code(), "CONFLICT");
    // The wrong password leaves one SIGN_IN_FAILED row (no actor), and nothing else changes.
    assert_eq!(
        footprint(&app, cleo.id).await,
        before.with_failed_attempts(1),
        "refusals change nothing"
    );
    assert_eq!(
        footprint(&app, other.id).await.user.email,
        "taken@example.com"
    );

    // With the password: the address waits; the account still answers to the old one.
    let requested = app
        .gql(Some(&token), UPDATE, json!({ "input": { "id": me, "email": "cleo@new.example.com", "currentPassword": PASSWORD } }))
        .await;
    let user = &requested.data()["updateUser"];
    assert_eq!(user["email"], "cleo@old.example.com");
    assert_eq!(user["pendingEmail"], "cleo@new.example.com");
    let event = audit_trail::latest(&app, AuditRecordType::User, cleo.id.0).await;
    assert_eq!(event.action(), AuditAction::EmailChangeRequested);
    assert_eq!(
        event.change("pendingEmail"),
        (None, Some("cleo@new.example.com"))
    );
    assert_eq!(event.event.actor_id, Some(cleo.id));
    assert!(sign_in_code(&app, "cleo@new.example.com").await["errors"].is_array());
    assert!(
        sign_in_code(&app, "cleo@old.example.com").await["data"]["signIn"]["token"].is_string()
    );

    // The link arrives at the new address (over SMTP); nothing is mailed to the old one yet.
    let mails = app
        .wait_for_mail(
            |m| m.is_to("cleo@new.example.com") && m.subject.contains("Confirm your new email"),
            StdDuration::from_secs(20),
        )
        .await;
    assert_eq!(mails.len(), 1);
    let link = token_in_text(mails[0].text.as_deref().expect("text"), "confirm-email");
    assert_eq!(
        outbox_count(&app, "cleo@old.example.com", "email_changed").await,
        0
    );

    // Bad tokens change nothing.
    let before = footprint(&app, cleo.id).await;
    for bad in ["", "not-a-token", &format!("{link}x")] {
        let refused = app.gql(None, CONFIRM, json!({ "token": bad })).await;
        assert_eq!(refused.error_code(), "INVALID_TOKEN", "{bad:?}");
    }
    assert_eq!(footprint(&app, cleo.id).await, before);

    // The link applies it, once; the old address is told; the old reset link is dead.
    let confirmed = app.gql(None, CONFIRM, json!({ "token": link })).await;
    assert_eq!(confirmed.data()["confirmEmailChange"], true);
    let again = app.gql(None, CONFIRM, json!({ "token": link })).await;
    assert_eq!(again.error_code(), "INVALID_TOKEN", "single use");
    let event = audit_trail::latest(&app, AuditRecordType::User, cleo.id.0).await;
    assert_eq!(event.action(), AuditAction::EmailChanged);
    assert_eq!(
        event.change("email"),
        (Some("cleo@old.example.com"), Some("cleo@new.example.com"))
    );
    let notices = app
        .wait_for_mail(
            |m| m.is_to("cleo@old.example.com") && m.subject.contains("was changed"),
            StdDuration::from_secs(20),
        )
        .await;
    assert_eq!(notices.len(), 1);
    assert!(
        notices[0]
            .text
            .as_deref()
            .unwrap_or_default()
            .contains("to cleo@new.example.com")
    );
    let stale_reset = app
        .gql(
            None,
            "mutation($input: ResetPasswordInput!) { resetPassword(input: $input) }",
            json!({ "input": { "token": reset_link, "password": "a brand new passphrase" } }),
        )
        .await;
    assert_eq!(
        stale_reset.error_code(),
        "INVALID_TOKEN",
        "reset links voided"
    );
    assert!(
        sign_in_code(&app, "cleo@new.example.com").await["data"]["signIn"]["token"].is_string()
    );
    assert!(sign_in_code(&app, "cleo@old.example.com").await["errors"].is_array());
    // The session that asked is still valid: the password and 2FA did not change.
    let viewer = app
        .gql(
            Some(&token),
            "{ viewer { user { email pendingEmail } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        viewer.data()["viewer"]["user"]["email"],
        "cleo@new.example.com"
    );
    assert!(viewer.data()["viewer"]["user"]["pendingEmail"].is_null());
}

async fn a_newer_request_voids_the_older_link_and_links_expire(app: TestApp) {
    let (cleo, token) = UserBuilder::customer().signed_in(&app).await;
    let me = cleo.id.to_string();
    for address in ["first@example.com", "second@example.com"] {
        app.gql(
            Some(&token),
            UPDATE,
            json!({ "input": { "id": me, "email": address, "currentPassword": PASSWORD } }),
        )
        .await
        .data();
    }
    let first = confirmation_token(&app, "first@example.com").await;
    let second = confirmation_token(&app, "second@example.com").await;
    let before = footprint(&app, cleo.id).await;
    assert_eq!(
        before.user.live_email_changes, 1,
        "only the newest link lives"
    );
    let stale = app.gql(None, CONFIRM, json!({ "token": first })).await;
    assert_eq!(stale.error_code(), "INVALID_TOKEN");
    assert_eq!(footprint(&app, cleo.id).await, before);

    // Links work EMAIL_CHANGE_TTL_HOURS (24 by default).
    app.clock().advance(Duration::hours(25));
    let expired = app.gql(None, CONFIRM, json!({ "token": second })).await;
    assert_eq!(expired.error_code(), "INVALID_TOKEN");
    assert_eq!(footprint(&app, cleo.id).await.user.email, cleo.email);
}

async fn a_reset_or_a_discard_voids_a_pending_change(app: TestApp) {
    let cast = Cast::new(&app).await;
    let me = cast.customer_a.id.to_string();
    app.gql(Some(&cast.customer_a_token), UPDATE, json!({ "input": { "id": me, "email": "via-discard@example.com", "currentPassword": PASSWORD } }))
        .await
        .data();
    let link = confirmation_token(&app, "via-discard@example.com").await;
    app.gql(
        Some(&cast.admin_token),
        "mutation($id: ID!) { discardUser(userId: $id) { id } }",
        json!({ "id": me }),
    )
    .await
    .data();
    let refused = app.gql(None, CONFIRM, json!({ "token": link })).await;
    assert_eq!(refused.error_code(), "INVALID_TOKEN");

    // A password reset (the account may have been someone else's for a while) voids it too.
    let (sam, token) = UserBuilder::supervisor().signed_in(&app).await;
    app.gql(Some(&token), UPDATE, json!({ "input": { "id": sam.id.to_string(), "email": "via-reset@example.com", "currentPassword": PASSWORD } }))
        .await
        .data();
    let link = confirmation_token(&app, "via-reset@example.com").await;
    app.gql(
        None,
        "mutation($email: String!) { requestPasswordReset(email: $email) }",
        json!({ "email": sam.email }),
    )
    .await
    .data();
    let reset = mailed_token(&app, &sam.email, "Reset your", "reset-password").await;
    app.gql(
        None,
        "mutation($input: ResetPasswordInput!) { resetPassword(input: $input) }",
        json!({ "input": { "token": reset, "password": "a brand new passphrase" } }),
    )
    .await
    .data();
    let refused = app.gql(None, CONFIRM, json!({ "token": link })).await;
    assert_eq!(refused.error_code(), "INVALID_TOKEN");
    assert_eq!(footprint(&app, sam.id).await.user.email, sam.email);
}

async fn an_admin_change_goes_through_the_same_confirmation(app: TestApp) {
    let cast = Cast::new(&app).await;
    let cleo = cast.customer_a.id.to_string();
    // Supervisors cannot change other people's email; no password of the user is needed from an
    // admin, and the request is audited as the admin's.
    let before = footprint(&app, cast.customer_a.id).await;
    let supervisor = app
        .gql(
            Some(&cast.supervisor_a_token),
            UPDATE,
            json!({ "input": { "id": cleo, "email": "cleo@sup.example.com" } }),
        )
        .await;
    assert_eq!(supervisor.error_code(), "FORBIDDEN");
    assert_eq!(footprint(&app, cast.customer_a.id).await, before);
    let requested = app
        .gql(
            Some(&cast.admin_token),
            UPDATE,
            json!({ "input": { "id": cleo, "email": "cleo@admin.example.com" } }),
        )
        .await;
    assert_eq!(
        requested.data()["updateUser"]["email"],
        cast.customer_a.email
    );
    assert_eq!(
        requested.data()["updateUser"]["pendingEmail"],
        "cleo@admin.example.com"
    );
    let event = audit_trail::latest(&app, AuditRecordType::User, cast.customer_a.id.0).await;
    assert_eq!(event.action(), AuditAction::EmailChangeRequested);
    assert_eq!(event.event.actor_id, Some(cast.admin.id));
    let mail = delivered_texts(&app, "cleo@admin.example.com", "Confirm your new email")
        .await
        .remove(0);
    assert!(mail.contains("An administrator asked"), "{mail}");

    // Who sees the pending address: the user and admins, not a supervisor of the user.
    let query = "query($id: ID!) { user(id: $id) { pendingEmail } }";
    for (token, expected) in [
        (&cast.customer_a_token, json!("cleo@admin.example.com")),
        (&cast.admin_token, json!("cleo@admin.example.com")),
        (&cast.supervisor_a_token, Value::Null),
    ] {
        let seen = app.gql(Some(token), query, json!({ "id": cleo })).await;
        assert_eq!(seen.data()["user"]["pendingEmail"], expected);
    }

    let link = token_in_text(&mail, "confirm-email");
    app.gql(None, CONFIRM, json!({ "token": link }))
        .await
        .data();
    assert_eq!(
        footprint(&app, cast.customer_a.id).await.user.email,
        "cleo@admin.example.com"
    );
    assert_eq!(
        outbox_count(&app, &cast.customer_a.email, "email_changed").await,
        1,
        "the old address is told"
    );
}

async fn an_invited_users_address_is_corrected_at_once(app: TestApp) {
    let cast = Cast::new(&app).await;
    let created = app
        .gql(
            Some(&cast.admin_token),
            "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
            json!({ "input": { "name": "Tia Typo", "email": "tia@exmaple.com", "role": "CUSTOMER",
                "memberships": [{ "companyId": cast.company_a.id.to_string(), "role": "CUSTOMER" }] } }),
        )
        .await;
    let tia = created.data()["createUser"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let old_link = mailed_token(&app, "tia@exmaple.com", "invited", "accept-invitation").await;
    let fixed = app
        .gql(
            Some(&cast.admin_token),
            UPDATE,
            json!({ "input": { "id": tia, "email": "tia@example.com" } }),
        )
        .await;
    assert_eq!(fixed.data()["updateUser"]["email"], "tia@example.com");
    assert!(fixed.data()["updateUser"]["pendingEmail"].is_null());
    let new_link = mailed_token(&app, "tia@example.com", "invited", "accept-invitation").await;
    let accept =
        "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { token } }";
    let stale = app
        .gql(
            None,
            accept,
            json!({ "input": { "token": old_link, "password": "tia has a long password" } }),
        )
        .await;
    assert_eq!(
        stale.error_code(),
        "INVALID_TOKEN",
        "the typo's invitation is dead"
    );
    let accepted = app
        .gql(
            None,
            accept,
            json!({ "input": { "token": new_link, "password": "tia has a long password" } }),
        )
        .await;
    assert!(accepted.data()["acceptInvitation"]["token"].is_string());
}

/// 50 parallel uses of one confirmation link (over two instances on PostgreSQL): exactly one
/// applies it; one EMAIL_CHANGED event, one notice.
async fn racing_confirmations_apply_once(app: TestApp) {
    let (cleo, token) = UserBuilder::customer().signed_in(&app).await;
    app.gql(Some(&token), UPDATE, json!({ "input": { "id": cleo.id.to_string(), "email": "race@example.com", "currentPassword": PASSWORD } }))
        .await
        .data();
    let link = confirmation_token(&app, "race@example.com").await;
    let results = burst(&app, 50, CONFIRM, json!({ "token": link })).await;
    let applied = results
        .iter()
        .filter(|r| r.body["data"]["confirmEmailChange"] == true)
        .count();
    assert_eq!(applied, 1, "exactly one confirmation applies");
    for refused in results
        .iter()
        .filter(|r| r.body["data"]["confirmEmailChange"] != true)
    {
        assert_eq!(refused.error_code(), "INVALID_TOKEN", "{}", refused.body);
    }
    let changed = audit_trail::history(&app, AuditRecordType::User, cleo.id.0)
        .await
        .into_iter()
        .filter(|e| e.action() == AuditAction::EmailChanged)
        .count();
    assert_eq!(changed, 1);
    assert_eq!(outbox_count(&app, &cleo.email, "email_changed").await, 1);
}

on_both_backends!(with_smtp: own_change_waits_for_the_new_address);
on_both_backends!(
    a_newer_request_voids_the_older_link_and_links_expire,
    a_reset_or_a_discard_voids_a_pending_change,
    an_admin_change_goes_through_the_same_confirmation,
    an_invited_users_address_is_corrected_at_once,
    racing_confirmations_apply_once,
);
