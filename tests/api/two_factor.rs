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
            "mutation($p: String!) { startTwoFactorEnrollment(currentPassword: $p) { secret otpauthUri } }",
            json!({ "p": PASSWORD }),
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
            "mutation($p: String!) { startTwoFactorEnrollment(currentPassword: $p) { secret } }",
            json!({ "p": PASSWORD }),
        )
        .await;
    assert_eq!(anonymous.error_code(), "UNAUTHENTICATED");
    let (_, token) = UserBuilder::admin().signed_in(&app).await;
    app.enable_two_factor(&token).await;
    let again = app
        .gql(
            Some(&token),
            "mutation($p: String!) { startTwoFactorEnrollment(currentPassword: $p) { secret } }",
            json!({ "p": PASSWORD }),
        )
        .await;
    assert_eq!(again.error_code(), "CONFLICT");
}

/// RFC 6238 drift: a code of the step before the current one still works, one of two steps
/// before does not (checklist item 5).
async fn one_step_of_drift_is_allowed_two_are_not(app: TestApp) {
    let (admin, token) = UserBuilder::admin().signed_in(&app).await;
    let (secret, _) = app.enable_two_factor(&token).await;
    // The seed is stored encrypted, and no field of the schema returns it after enrolment.
    let stored = crate::common::footprint::footprint(&app, admin.id)
        .await
        .user
        .totp_secret
        .expect("secret stored");
    assert!(
        stored.starts_with("v1:") && !stored.contains(&secret),
        "{stored}"
    );
    let sdl = async_graphql::parser::parse_schema(portal_admin::graphql::sdl()).expect("SDL");
    for definition in sdl.definitions {
        if let async_graphql::parser::types::TypeSystemDefinition::Type(ty) = definition
            && let async_graphql::parser::types::TypeKind::Object(object) = &ty.node.kind
            && ty.node.name.node.as_str() != "TwoFactorEnrollment"
        {
            for field in &object.fields {
                let name = field.node.name.node.to_lowercase();
                assert!(
                    !name.contains("secret") && !name.contains("totp"),
                    "{}.{name} could return the seed",
                    ty.node.name.node
                );
            }
        }
    }
    // Well past the step the enrolment used, and just after a step begins, so both sign-ins below
    // fall in the step the codes were computed for (a boundary in between would turn T-1 into T-2).
    app.clock().advance(Duration::seconds(120));
    let step = portal_admin::domain::totp::STEP_SECONDS;
    let into_step = u64::try_from(app.clock().now_utc().timestamp()).expect("after 1970") % step;
    app.clock().advance(Duration::seconds(
        i64::try_from(step - into_step).expect("small"),
    ));
    let bytes = totp_rs::Secret::Encoded(secret).to_bytes().expect("base32");
    let now = u64::try_from(app.clock().now_utc().timestamp()).expect("after 1970");
    let at = |steps_back: u64| {
        portal_admin::domain::totp::code_at(&bytes, now - steps_back * step).expect("code")
    };
    let (two_back, one_back) = (at(2), at(1));
    assert_ne!(two_back, one_back);
    let stale = app
        .gql(
            None,
            SIGN_IN,
            sign_in_input(&admin.email, json!({ "totpCode": two_back })),
        )
        .await;
    assert_eq!(stale.error_code(), "INVALID_CREDENTIALS", "T-2 fails");
    let drifted = app
        .gql(
            None,
            SIGN_IN,
            sign_in_input(&admin.email, json!({ "totpCode": one_back })),
        )
        .await;
    assert!(drifted.data()["signIn"]["token"].is_string(), "T-1 passes");
}

/// Recovery codes are stored under the server's keyed hash (never the bare digest of the code),
/// and 10 parallel redemptions of one code (over two instances on PostgreSQL) give exactly one
/// session (checklist item 8).
async fn a_recovery_code_is_stored_keyed_and_redeemed_once(app: TestApp) {
    use portal_admin::db::models::recovery_codes;
    let (admin, token) = UserBuilder::admin().signed_in(&app).await;
    let (_, codes) = app.enable_two_factor(&token).await;
    let mut conn = app.app.db.conn().await.expect("conn");
    let stored = recovery_codes::batch_after(&mut conn, 0, 100)
        .await
        .expect("codes");
    drop(conn);
    assert_eq!(stored.len(), 10);
    let bare_digests: Vec<String> = codes
        .iter()
        .map(|c| portal_admin::domain::secrets::hash_token(&c.replace('-', "")))
        .collect();
    for row in &stored {
        assert!(row.code_hash.starts_with("hmac1:"), "{}", row.code_hash);
        assert!(
            !bare_digests
                .iter()
                .any(|d| row.code_hash.contains(d.as_str()))
        );
    }

    // Over two instances on PostgreSQL.
    let results = crate::common::footprint::burst(
        &app,
        10,
        SIGN_IN,
        sign_in_input(&admin.email, json!({ "recoveryCode": codes[5] })),
    )
    .await;
    let sessions = results
        .iter()
        .filter(|r| r.body["data"]["signIn"]["token"].is_string())
        .count();
    assert_eq!(sessions, 1, "one code, one session");
    for refused in results
        .iter()
        .filter(|r| !r.body["data"]["signIn"]["token"].is_string())
    {
        assert!(
            ["INVALID_CREDENTIALS", "RATE_LIMITED"].contains(&refused.error_code()),
            "{}",
            refused.body
        );
    }
    let used = crate::common::audit_trail::history(
        &app,
        portal_admin::domain::AuditRecordType::User,
        admin.id.0,
    )
    .await
    .into_iter()
    .filter(|e| e.action() == portal_admin::domain::AuditAction::RecoveryCodeUsed)
    .count();
    assert_eq!(used, 1);
}

/// Codes stored by the first version (a bare SHA-256) are rewritten under the key at start-up,
/// keep working once, and no bare digest is left.
async fn legacy_recovery_codes_are_upgraded_in_place(app: TestApp) {
    use portal_admin::db::models::recovery_codes;
    use portal_admin::services::two_factor::upgrade_legacy_recovery_codes;
    let (admin, token) = UserBuilder::admin().signed_in(&app).await;
    app.enable_two_factor(&token).await;
    // What the first version wrote for the code `abcd-efgh-jkmn-pqrs`.
    let legacy = portal_admin::domain::secrets::hash_token("abcdefghjkmnpqrs");
    app.sql(&format!(
        "DELETE FROM recovery_codes; INSERT INTO recovery_codes (user_id, code_hash, created_at) \
         VALUES ({}, '{legacy}', CURRENT_TIMESTAMP)",
        admin.id
    ))
    .await
    .expect("legacy row");
    assert_eq!(
        upgrade_legacy_recovery_codes(&app.app)
            .await
            .expect("upgrade"),
        1
    );
    assert_eq!(
        upgrade_legacy_recovery_codes(&app.app)
            .await
            .expect("again"),
        0,
        "idempotent"
    );
    let mut conn = app.app.db.conn().await.expect("conn");
    let rows = recovery_codes::batch_after(&mut conn, 0, 10)
        .await
        .expect("codes");
    drop(conn);
    assert_eq!(rows.len(), 1);
    assert!(rows[0].code_hash.starts_with("hmac1:"));
    assert!(!rows[0].code_hash.contains(&legacy));

    let redeem = || {
        app.gql(
            None,
            SIGN_IN,
            sign_in_input(
                &admin.email,
                json!({ "recoveryCode": "ABCD EFGH JKMN PQRS" }),
            ),
        )
    };
    assert!(redeem().await.data()["signIn"]["token"].is_string());
    assert_eq!(redeem().await.error_code(), "INVALID_CREDENTIALS");
}

on_both_backends!(
    one_step_of_drift_is_allowed_two_are_not,
    a_recovery_code_is_stored_keyed_and_redeemed_once,
    legacy_recovery_codes_are_upgraded_in_place,
    enrolment_then_sign_in_demands_a_code,
    twenty_concurrent_submissions_of_one_code_give_one_session,
    a_recovery_code_works_once,
    regenerating_recovery_codes_voids_the_old_set,
    enrolment_needs_a_session_and_cannot_repeat,
);
