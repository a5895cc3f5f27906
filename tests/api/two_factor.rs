//! Two-factor authentication: enrolment, sign-in with a code or a recovery code, replay refused.

use chrono::Duration;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::builders::{PASSWORD, UserBuilder};
use crate::on_both_backends;

const SIGN_IN: &str =
    "mutation($input: SignInInput!) { signIn(input: $input) { token user { twoFactorEnabled } } }";

fn sign_in_input(email: &str, extra: Value) -> Value {
    let mut input = json!({ "email": email, "password": PASSWORD });
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        input.extend(extra.clone());
    }
    json!({ "input": input })
}

async fn enrolment_then_sign_in_demands_a_code(app: TestApp) {
    let (admin, token) = UserBuilder::admin().signed_in(&app).await;
    let started = app
        .gql(
            Some(&token),
            "mutation { startTwoFactorEnrollment { secret otpauthUri } }",
            json!({}),
        )
        .await;
    let enrollment = &started.data()["startTwoFactorEnrollment"];
    let secret = enrollment["secret"].as_str().expect("secret");
    let uri = enrollment["otpauthUri"].as_str().expect("uri");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");

    // A wrong code does not turn it on.
    let wrong = app
        .gql(
            Some(&token),
            "mutation { confirmTwoFactorEnrollment(code: \"000000\") { codes } }",
            json!({}),
        )
        .await;
    assert_eq!(wrong.error_code(), "BAD_USER_INPUT");

    let confirmed = app
        .gql(
            Some(&token),
            "mutation($code: String!) { confirmTwoFactorEnrollment(code: $code) { codes } }",
            json!({ "code": app.totp_code(secret) }),
        )
        .await;
    let codes = confirmed.data()["confirmTwoFactorEnrollment"]["codes"]
        .as_array()
        .expect("codes")
        .clone();
    assert_eq!(codes.len(), 10);

    let required = app
        .gql(None, SIGN_IN, sign_in_input(&admin.email, json!({})))
        .await;
    assert_eq!(required.error_code(), "TWO_FACTOR_REQUIRED");
    let bad_code = app
        .gql(
            None,
            SIGN_IN,
            sign_in_input(&admin.email, json!({ "totpCode": "123456" })),
        )
        .await;
    assert_eq!(bad_code.error_code(), "INVALID_CREDENTIALS");

    // The code that confirmed enrolment was used; the next step's code works once.
    app.clock().advance(Duration::seconds(30));
    let code = app.totp_code(secret);
    let ok = app
        .gql(
            None,
            SIGN_IN,
            sign_in_input(&admin.email, json!({ "totpCode": code })),
        )
        .await;
    assert_eq!(ok.data()["signIn"]["user"]["twoFactorEnabled"], true);
    let replay = app
        .gql(
            None,
            SIGN_IN,
            sign_in_input(&admin.email, json!({ "totpCode": code })),
        )
        .await;
    assert_eq!(
        replay.error_code(),
        "INVALID_CREDENTIALS",
        "a code is accepted once"
    );
}

async fn twenty_concurrent_submissions_of_one_code_give_one_session(app: TestApp) {
    let (admin, token) = UserBuilder::admin().signed_in(&app).await;
    let (secret, _) = app.enable_two_factor(&token).await;
    let code = app.totp_code(&secret);
    let attempts = (0..20).map(|_| {
        let input = sign_in_input(&admin.email, json!({ "totpCode": code }));
        let app = &app;
        async move { app.gql(None, SIGN_IN, input).await }
    });
    let results = futures::future::join_all(attempts).await;
    let successes = results
        .iter()
        .filter(|r| r.body["data"]["signIn"]["token"].is_string())
        .count();
    assert_eq!(
        successes, 1,
        "exactly one of 20 concurrent submissions wins"
    );
    for failed in results
        .iter()
        .filter(|r| !r.body["data"]["signIn"]["token"].is_string())
    {
        assert!(
            ["INVALID_CREDENTIALS", "RATE_LIMITED"].contains(&failed.error_code()),
            "{}",
            failed.body
        );
    }
}

async fn a_recovery_code_works_once(app: TestApp) {
    let (admin, token) = UserBuilder::admin().signed_in(&app).await;
    let (_, codes) = app.enable_two_factor(&token).await;
    let code = codes[3].to_uppercase();
    let first = app
        .gql(
            None,
            SIGN_IN,
            sign_in_input(&admin.email, json!({ "recoveryCode": code })),
        )
        .await;
    assert!(first.data()["signIn"]["token"].is_string());
    let again = app
        .gql(
            None,
            SIGN_IN,
            sign_in_input(&admin.email, json!({ "recoveryCode": code })),
        )
        .await;
    assert_eq!(again.error_code(), "INVALID_CREDENTIALS");
    let other = app
        .gql(
            None,
            SIGN_IN,
            sign_in_input(&admin.email, json!({ "recoveryCode": codes[4] })),
        )
        .await;
    assert!(
        other.data()["signIn"]["token"].is_string(),
        "the other codes still work"
    );
}

async fn regenerating_recovery_codes_voids_the_old_set(app: TestApp) {
    let (admin, token) = UserBuilder::admin().signed_in(&app).await;
    let (secret, old_codes) = app.enable_two_factor(&token).await;
    let regenerated = app
        .gql(
            Some(&token),
            "mutation($code: String!) { regenerateRecoveryCodes(code: $code) { codes } }",
            json!({ "code": app.totp_code(&secret) }),
        )
        .await;
    let new_codes = regenerated.data()["regenerateRecoveryCodes"]["codes"]
        .as_array()
        .expect("codes")
        .clone();
    assert_eq!(new_codes.len(), 10);
    let old = app
        .gql(
            None,
            SIGN_IN,
            sign_in_input(&admin.email, json!({ "recoveryCode": old_codes[0] })),
        )
        .await;
    assert_eq!(old.error_code(), "INVALID_CREDENTIALS");
    let new = app
        .gql(
            None,
            SIGN_IN,
            sign_in_input(&admin.email, json!({ "recoveryCode": new_codes[0] })),
        )
        .await;
    assert!(new.data()["signIn"]["token"].is_string());
}

async fn enrolment_needs_a_session_and_cannot_repeat(app: TestApp) {
    let anonymous = app
        .gql(
            None,
            "mutation { startTwoFactorEnrollment { secret } }",
            json!({}),
        )
        .await;
    assert_eq!(anonymous.error_code(), "UNAUTHENTICATED");
    let (_, token) = UserBuilder::admin().signed_in(&app).await;
    app.enable_two_factor(&token).await;
    let again = app
        .gql(
            Some(&token),
            "mutation { startTwoFactorEnrollment { secret } }",
            json!({}),
        )
        .await;
    assert_eq!(again.error_code(), "CONFLICT");
}

on_both_backends!(
    enrolment_then_sign_in_demands_a_code,
    twenty_concurrent_submissions_of_one_code_give_one_session,
    a_recovery_code_works_once,
    regenerating_recovery_codes_voids_the_old_set,
    enrolment_needs_a_session_and_cannot_repeat,
);
