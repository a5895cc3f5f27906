//! Step-up: starting 2FA enrolment needs the password again, and an admin turning off someone's
//! 2FA proves it is them with their own password or TOTP code (checklist items 5 and 25).
//! Every refusal is checked to have changed nothing.

use std::time::Duration as StdDuration;

use serde_json::json;

use crate::common::builders::{Cast, PASSWORD, UserBuilder};
use crate::common::footprint::{assert_failed_attempts, footprint, outbox_count};
use crate::common::{TestApp, audit_trail};
use crate::on_both_backends;
use portal_admin::domain::{AuditAction, AuditRecordType};

const START: &str =
    "mutation($p: String!) { startTwoFactorEnrollment(currentPassword: $p) { secret } }";
const CONFIRM: &str =
    "mutation($code: String!) { confirmTwoFactorEnrollment(code: $code) { codes } }";
const DISABLE: &str = "mutation($input: DisableTwoFactorInput!) { disableTwoFactor(input: $input) { twoFactorEnabled } }";
const SIGN_IN: &str = "mutation($input: SignInInput!) { signIn(input: $input) { token } }";

async fn starting_enrolment_needs_the_password(app: TestApp) {
    let (cleo, token) = UserBuilder::customer().signed_in(&app).await;
    let before = footprint(&app, cleo.id).await;
    let missing = app
        .gql(
            Some(&token),
            "mutation { startTwoFactorEnrollment { secret } }",
            json!({}),
        )
        .await;
    assert!(missing.body["errors"].is_array(), "{}", missing.body);
    let empty = app.gql(Some(&token), START, json!({ "p": "" })).await;
    assert_eq!(empty.error_code(), "BAD_USER_INPUT");
    assert_eq!(empty.error_field(), Some("currentPassword"));
    let wrong = app
        .gql(
            Some(&token),
            START,
            json!({ "p": "not the password at all" }),
        )
        .await;
    assert_eq!(wrong.error_code(), "INVALID_CREDENTIALS");
    // Nothing to confirm: no pending secret was made.
    let confirm = app
        .gql(Some(&token), CONFIRM, json!({ "code": "123456" }))
        .await;
    assert_eq!(confirm.error_code(), "BAD_USER_INPUT");
    assert_eq!(
        footprint(&app, cleo.id).await,
        before.with_failed_attempts(1),
        "refusals change nothing but the failed attempt's audit row"
    );
    assert_failed_attempts(&app, cleo.id, 1).await;

    // With the password: enrolment runs, and the user is told by mail once it is on.
    let started = app.gql(Some(&token), START, json!({ "p": PASSWORD })).await;
    let secret = started.data()["startTwoFactorEnrollment"]["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let confirmed = app
        .gql(
            Some(&token),
            CONFIRM,
            json!({ "code": app.totp_code(&secret) }),
        )
        .await;
    assert_eq!(
        confirmed.data()["confirmTwoFactorEnrollment"]["codes"]
            .as_array()
            .map(Vec::len),
        Some(10)
    );
    assert_eq!(
        outbox_count(&app, &cleo.email, "two_factor_enabled").await,
        1
    );
}

/// 50 parallel wrong passwords against enrolment: none starts it, each is counted by the
/// account's limiter, and nothing is written but the counters.
async fn a_burst_of_wrong_passwords_starts_nothing(app: TestApp) {
    let (cleo, token) = UserBuilder::customer().signed_in(&app).await;
    let before = footprint(&app, cleo.id).await;
    let runs = app.app.passwords.runs();
    let attempts = (0..50).map(|i| {
        let (app, token) = (&app, token.clone());
        async move {
            app.gql(
                Some(&token),
                START,
                json!({ "p": format!("wrong guess number {i}") }),
            )
            .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    for result in &results {
        assert!(
            ["INVALID_CREDENTIALS", "RATE_LIMITED"].contains(&result.error_code()),
            "{}",
            result.body
        );
    }
    // Each attempt is reserved before its hash: at most the free attempts are checked.
    let wrong = results
        .iter()
        .filter(|r| r.error_code() == "INVALID_CREDENTIALS")
        .count();
    assert_eq!(
        app.app.passwords.runs() - runs,
        wrong as u64,
        "a hash for each answered check only"
    );
    assert!(
        (1..=5).contains(&wrong),
        "{wrong} checked, SIGN_IN_MAX_FAILURES is 5"
    );
    // The failures counted against the account: now even the right password waits.
    let throttled = app.gql(Some(&token), START, json!({ "p": PASSWORD })).await;
    assert_eq!(throttled.error_code(), "RATE_LIMITED");
    assert_eq!(
        footprint(&app, cleo.id).await,
        before.with_failed_attempts(wrong as i64)
    );
    assert_failed_attempts(&app, cleo.id, wrong).await;
}

async fn disabling_someones_two_factor_needs_the_admins_proof(app: TestApp) {
    let cast = Cast::new(&app).await;
    let (_, codes) = app.enable_two_factor(&cast.customer_a_token).await;
    let cleo = cast.customer_a.id.to_string();
    let input = |extra: serde_json::Value| {
        let mut input = json!({ "userId": cleo, "reason": "ticket 9: phone lost, called back" });
        if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
            input.extend(extra.clone());
        }
        json!({ "input": input })
    };

    let before = footprint(&app, cast.customer_a.id).await;
    let no_proof = app
        .gql(Some(&cast.admin_token), DISABLE, input(json!({})))
        .await;
    assert_eq!(no_proof.error_code(), "BAD_USER_INPUT");
    assert_eq!(no_proof.error_field(), Some("currentPassword"));
    let wrong_password = app
        .gql(
            Some(&cast.admin_token),
            DISABLE,
            input(json!({ "currentPassword": "not the admin's password" })),
        )
        .await;
    assert_eq!(wrong_password.error_code(), "INVALID_CREDENTIALS");
    // The admin has no 2FA: no code proves anything.
    let code_without_2fa = app
        .gql(
            Some(&cast.admin_token),
            DISABLE,
            input(json!({ "totpCode": "123456" })),
        )
        .await;
    assert_eq!(code_without_2fa.error_code(), "INVALID_CREDENTIALS");
    // The user's own password is not the admin's.
    let supervisor = app
        .gql(
            Some(&cast.supervisor_a_token),
            DISABLE,
            input(json!({ "currentPassword": PASSWORD })),
        )
        .await;
    assert_eq!(supervisor.error_code(), "FORBIDDEN");
    // The admin's wrong password is audited on the admin, not on the user.
    assert_eq!(
        footprint(&app, cast.customer_a.id).await,
        before.with_failed_attempts(1)
    );
    assert_failed_attempts(&app, cast.admin.id, 1).await;
    let still_in = app
        .gql(
            Some(&cast.customer_a_token),
            "{ viewer { user { twoFactorEnabled } } }",
            json!({}),
        )
        .await;
    assert_eq!(still_in.data()["viewer"]["user"]["twoFactorEnabled"], true);

    let done = app
        .gql(
            Some(&cast.admin_token),
            DISABLE,
            input(json!({ "currentPassword": PASSWORD })),
        )
        .await;
    assert_eq!(done.data()["disableTwoFactor"]["twoFactorEnabled"], false);
    let after = footprint(&app, cast.customer_a.id).await;
    assert_eq!(after.user.unused_recovery_codes, 0, "recovery codes voided");
    assert!(after.user.totp_secret.is_none() && after.user.totp_pending_secret.is_none());
    let event = audit_trail::latest(&app, AuditRecordType::User, cast.customer_a.id.0).await;
    assert_eq!(event.action(), AuditAction::TwoFactorDisabled);
    assert_eq!(event.event.actor_id, Some(cast.admin.id));
    assert_eq!(
        event.event.reason.as_deref(),
        Some("ticket 9: phone lost, called back")
    );
    let mails = app
        .wait_for_mail(
            |m| m.is_to(&cast.customer_a.email) && m.subject.contains("turned off"),
            StdDuration::from_secs(20),
        )
        .await;
    assert_eq!(mails.len(), 1, "the user is told");
    let ended = app
        .gql(
            Some(&cast.customer_a_token),
            "{ viewer { user { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        ended.error_code(),
        "UNAUTHENTICATED",
        "the user's sessions end"
    );

    // Turned on again later, the old recovery codes are gone for good.
    let token = app.sign_in(&cast.customer_a.email, PASSWORD).await;
    app.enable_two_factor(&token).await;
    let old_code = app
        .gql(
            None,
            SIGN_IN,
            json!({ "input": { "email": cast.customer_a.email, "password": PASSWORD, "recoveryCode": codes[0] } }),
        )
        .await;
    assert_eq!(old_code.error_code(), "INVALID_CREDENTIALS");
}

/// An admin's TOTP code proves it once: the same code sent with 20 parallel disables (of 20
/// different users) turns off exactly one; the others change nothing.
async fn an_admins_totp_code_proves_once(app: TestApp) {
    let (admin, admin_token) = UserBuilder::admin().signed_in(&app).await;
    let (secret, _) = app.enable_two_factor(&admin_token).await;
    let mut targets = Vec::new();
    for i in 0..20 {
        let user = UserBuilder::customer()
            .name(&format!("Locked Out {i}"))
            .create(&app)
            .await;
        app.sql(&format!(
            "UPDATE users SET totp_pending_secret_encrypted = 'sealed' WHERE id = {}",
            user.id
        ))
        .await
        .expect("enrolment begun");
        targets.push(user);
    }
    let code = app.totp_code(&secret);
    let attempts = targets.iter().map(|user| {
        let (app, token, code) = (&app, admin_token.clone(), code.clone());
        let id = user.id.to_string();
        async move {
            app.gql(
                Some(&token),
                DISABLE,
                json!({ "input": { "userId": id, "reason": "ticket 11", "totpCode": code } }),
            )
            .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let succeeded = results
        .iter()
        .filter(|r| r.body["data"]["disableTwoFactor"]["twoFactorEnabled"] == false)
        .count();
    assert_eq!(succeeded, 1, "one code, one disable");
    for refused in results
        .iter()
        .filter(|r| r.body["data"]["disableTwoFactor"].is_null())
    {
        assert!(
            ["INVALID_CREDENTIALS", "RATE_LIMITED"].contains(&refused.error_code()),
            "{}",
            refused.body
        );
    }
    let mut still_pending = 0;
    for user in &targets {
        if footprint(&app, user.id)
            .await
            .user
            .totp_pending_secret
            .is_some()
        {
            still_pending += 1;
        }
    }
    assert_eq!(still_pending, 19);
    let _ = admin;
}

on_both_backends!(with_smtp: disabling_someones_two_factor_needs_the_admins_proof);
on_both_backends!(
    starting_enrolment_needs_the_password,
    a_burst_of_wrong_passwords_starts_nothing,
    an_admins_totp_code_proves_once,
);
