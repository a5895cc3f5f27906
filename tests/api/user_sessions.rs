//! A user's sessions: the list (device, address, created, last seen, impersonation marker),
//! "Sign out this session" and "Sign out everywhere". Admins manage anyone's, everyone their
//! own; nobody while impersonating; every sign-out is audited on the user.

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::audit_trail::{history, latest};
use crate::common::builders::{Cast, PASSWORD, UserBuilder, impersonation_token};
use crate::common::footprint::second_instance;
use crate::on_both_backends;
use portal_admin::domain::{AuditAction, AuditRecordType};

const SESSIONS: &str = "query($u: ID!) { userSessions(userId: $u) { id device address createdAt lastSeenAt expiresAt current isImpersonation impersonator { id name } } }";
const SIGN_OUT_SESSION: &str = "mutation($id: ID!) { signOutSession(id: $id) }";
const SIGN_OUT_EVERYWHERE: &str = "mutation($u: ID!) { signOutEverywhere(userId: $u) }";
const VIEWER: &str = "{ viewer { user { id } } }";

/// Signs in from a browser that names itself `device`; returns the token.
async fn sign_in_from(app: &TestApp, email: &str, device: &str) -> String {
    let response: Value = app
        .http
        .post(app.url("/graphql"))
        .header("user-agent", device)
        .json(&json!({
            "query": "mutation($input: SignInInput!) { signIn(input: $input) { token } }",
            "variables": { "input": { "email": email, "password": PASSWORD } },
        }))
        .send()
        .await
        .expect("sign-in sent")
        .json()
        .await
        .expect("JSON body");
    response["data"]["signIn"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("signed in: {response}"))
        .to_owned()
}

async fn sessions_of(app: &TestApp, token: &str, user_id: impl ToString) -> Vec<Value> {
    let response = app
        .gql(Some(token), SESSIONS, json!({ "u": user_id.to_string() }))
        .await;
    response.data()["userSessions"]
        .as_array()
        .expect("a list")
        .clone()
}

async fn still_signed_in(app: &TestApp, token: &str) -> bool {
    let response = app.gql(Some(token), VIEWER, json!({})).await;
    match response.body.get("errors").filter(|e| !e.is_null()) {
        None => true,
        Some(_) => {
            assert_eq!(response.error_code(), "UNAUTHENTICATED");
            false
        }
    }
}

async fn audit_event_count(app: &TestApp) -> i64 {
    let mut conn = app.app.db.conn().await.expect("conn");
    portal_admin::db::audit::count_events(&mut conn)
        .await
        .expect("audit events counted")
}

async fn a_user_sees_their_devices_and_which_one_they_are_on(app: TestApp) {
    let (admin, admin_token) = UserBuilder::admin().signed_in(&app).await;
    let carla = UserBuilder::customer().name("Carla").create(&app).await;
    let laptop = sign_in_from(&app, &carla.email, "Firefox on the laptop").await;
    let phone = sign_in_from(&app, &carla.email, "Safari on the phone").await;
    impersonation_token(&app, &admin_token, &carla).await;

    let listed = sessions_of(&app, &laptop, carla.id).await;
    assert_eq!(
        listed.len(),
        3,
        "two own sessions and one impersonation: {listed:?}"
    );
    let devices: Vec<_> = listed.iter().map(|s| s["device"].clone()).collect();
    assert!(
        devices.contains(&json!("Firefox on the laptop")),
        "{devices:?}"
    );
    assert!(
        devices.contains(&json!("Safari on the phone")),
        "{devices:?}"
    );
    let current: Vec<_> = listed.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "exactly one is this session");
    assert_eq!(current[0]["device"], "Firefox on the laptop");
    assert_eq!(current[0]["address"], "127.0.0.1");
    for session in &listed {
        assert!(session["createdAt"].is_string() && session["lastSeenAt"].is_string());
        assert!(session["expiresAt"].is_string());
    }
    let impersonations: Vec<_> = listed
        .iter()
        .filter(|s| s["isImpersonation"] == true)
        .collect();
    assert_eq!(impersonations.len(), 1);
    // Carla shares no company with the admin: she sees that she is being viewed, not by whom.
    assert!(impersonations[0]["impersonator"].is_null());
    assert!(
        listed
            .iter()
            .filter(|s| s["isImpersonation"] == false)
            .all(|s| s["impersonator"].is_null())
    );

    // The admin sees the same list, none of it current for them.
    let seen_by_admin = sessions_of(&app, &admin_token, carla.id).await;
    assert_eq!(seen_by_admin.len(), 3);
    assert!(seen_by_admin.iter().all(|s| s["current"] == false));
    let marked: Vec<_> = seen_by_admin
        .iter()
        .filter(|s| s["isImpersonation"] == true)
        .collect();
    assert_eq!(marked.len(), 1);
    assert_eq!(marked[0]["impersonator"]["id"], admin.id.to_string());
    let marked: Vec<_> = seen_by_admin
        .iter()
        .filter(|s| s["isImpersonation"] == true)
        .collect();
    assert_eq!(marked.len(), 1);
    assert_eq!(marked[0]["impersonator"]["id"], admin.id.to_string());

    // A session that ended is not listed.
    let phone_id = listed
        .iter()
        .find(|s| s["device"] == "Safari on the phone")
        .expect("phone session")["id"]
        .clone();
    app.gql(Some(&phone), "mutation { signOut }", json!({}))
        .await
        .data();
    let after = sessions_of(&app, &laptop, carla.id).await;
    assert_eq!(after.len(), 2);
    assert!(after.iter().all(|s| s["id"] != phone_id));
}

async fn signing_out_one_session_ends_only_that_one_and_shows_on_history(app: TestApp) {
    let carla = UserBuilder::customer().name("Carla").create(&app).await;
    let laptop = sign_in_from(&app, &carla.email, "Firefox on the laptop").await;
    let phone = sign_in_from(&app, &carla.email, "Safari on the phone").await;
    let phone_id = sessions_of(&app, &laptop, carla.id)
        .await
        .into_iter()
        .find(|s| s["device"] == "Safari on the phone")
        .expect("phone session")["id"]
        .clone();

    let response = app
        .gql(Some(&laptop), SIGN_OUT_SESSION, json!({ "id": phone_id }))
        .await;
    assert_eq!(response.data()["signOutSession"], true);
    assert!(
        !still_signed_in(&app, &phone).await,
        "the phone is signed out"
    );
    assert!(still_signed_in(&app, &laptop).await, "the laptop stays");

    let event = latest(&app, AuditRecordType::User, carla.id.0).await;
    assert_eq!(event.action(), AuditAction::SessionSignedOut);
    assert_eq!(event.event.actor_id, Some(carla.id));
    let reason = event.event.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("Safari on the phone") && reason.contains("127.0.0.1"),
        "{reason}"
    );

    // Again: already over, so false and nothing written.
    let before = audit_event_count(&app).await;
    let again = app
        .gql(Some(&laptop), SIGN_OUT_SESSION, json!({ "id": phone_id }))
        .await;
    assert_eq!(again.data()["signOutSession"], false);
    assert_eq!(audit_event_count(&app).await, before);

    // Unknown and malformed ids.
    let unknown = app
        .gql(Some(&laptop), SIGN_OUT_SESSION, json!({ "id": "999999" }))
        .await;
    assert_eq!(unknown.error_code(), "NOT_FOUND");
    let malformed = app
        .gql(Some(&laptop), SIGN_OUT_SESSION, json!({ "id": "phone" }))
        .await;
    assert_eq!(malformed.error_code(), "BAD_USER_INPUT");
    assert_eq!(audit_event_count(&app).await, before);
}

async fn an_admin_signs_a_user_out_everywhere(app: TestApp) {
    let (admin, admin_token) = UserBuilder::admin().signed_in(&app).await;
    let carla = UserBuilder::customer().name("Carla").create(&app).await;
    let mut tokens = Vec::new();
    for device in ["laptop", "phone", "tablet"] {
        tokens.push(sign_in_from(&app, &carla.email, device).await);
    }
    tokens.push(impersonation_token(&app, &admin_token, &carla).await);

    let response = app
        .gql(
            Some(&admin_token),
            SIGN_OUT_EVERYWHERE,
            json!({ "u": carla.id.to_string() }),
        )
        .await;
    assert_eq!(response.data()["signOutEverywhere"], 4);
    for token in &tokens {
        assert!(!still_signed_in(&app, token).await);
    }
    assert!(still_signed_in(&app, &admin_token).await, "the admin stays");
    assert!(sessions_of(&app, &admin_token, carla.id).await.is_empty());

    // The sign-out, and the end of the impersonation it ended (issue 13: every end is recorded).
    let events = history(&app, AuditRecordType::User, carla.id.0).await;
    let event = events
        .iter()
        .find(|e| e.action() == AuditAction::SignedOutEverywhere)
        .expect("SIGNED_OUT_EVERYWHERE on Carla's History");
    assert_eq!(event.event.actor_id, Some(admin.id));
    assert_eq!(event.event.reason.as_deref(), Some("4 sessions ended"));
    let ended: Vec<_> = events
        .iter()
        .filter(|e| e.action() == AuditAction::ImpersonationStopped)
        .collect();
    assert_eq!(ended.len(), 1, "the impersonation's end, once");
    assert_eq!(ended[0].event.actor_id, Some(admin.id));
    assert_eq!(ended[0].change("cause"), (None, Some("SESSION_REVOKED")));

    // Nothing left to end: still the admin's recorded act, 0 ended.
    let again = app
        .gql(
            Some(&admin_token),
            SIGN_OUT_EVERYWHERE,
            json!({ "u": carla.id.to_string() }),
        )
        .await;
    assert_eq!(again.data()["signOutEverywhere"], 0);
}

async fn signing_out_everywhere_on_ones_own_account_keeps_this_session(app: TestApp) {
    let carla = UserBuilder::customer().name("Carla").create(&app).await;
    let here = sign_in_from(&app, &carla.email, "here").await;
    let elsewhere = sign_in_from(&app, &carla.email, "elsewhere").await;
    let response = app
        .gql(
            Some(&here),
            SIGN_OUT_EVERYWHERE,
            json!({ "u": carla.id.to_string() }),
        )
        .await;
    assert_eq!(response.data()["signOutEverywhere"], 1);
    assert!(still_signed_in(&app, &here).await);
    assert!(!still_signed_in(&app, &elsewhere).await);
    let event = latest(&app, AuditRecordType::User, carla.id.0).await;
    assert_eq!(event.action(), AuditAction::SignedOutEverywhere);
    assert_eq!(
        event.event.reason.as_deref(),
        Some("1 session ended; this one kept")
    );
}

/// Supervisors of the same company are refused (FORBIDDEN), those of another company do not
/// see the user (NOT_FOUND), an admin acting as someone is refused; none of it writes or ends
/// anything.
async fn others_are_refused_and_nothing_ends(app: TestApp) {
    let cast = Cast::new(&app).await;
    let customer_session = sessions_of(&app, &cast.customer_a_token, cast.customer_a.id)
        .await
        .into_iter()
        .find(|s| s["current"] == true)
        .expect("current session")["id"]
        .clone();
    let impersonating = impersonation_token(&app, &cast.admin_token, &cast.supervisor_a).await;
    let user = json!({ "u": cast.customer_a.id.to_string() });
    let session = json!({ "id": customer_session });
    let before = audit_event_count(&app).await;
    let cases = [
        (&cast.supervisor_a_token, "FORBIDDEN"),
        (&cast.supervisor_b_token, "NOT_FOUND"),
        (&impersonating, "FORBIDDEN_WHILE_IMPERSONATING"),
    ];
    for (token, code) in cases {
        for (document, variables) in [
            (SESSIONS, &user),
            (SIGN_OUT_EVERYWHERE, &user),
            (SIGN_OUT_SESSION, &session),
        ] {
            let response = app.gql(Some(token), document, variables.clone()).await;
            assert_eq!(
                response.error_code(),
                code,
                "{document}: {:?}",
                response.body
            );
        }
    }
    // The customer may not manage the supervisor's sessions either.
    let theirs = app
        .gql(
            Some(&cast.customer_a_token),
            SIGN_OUT_EVERYWHERE,
            json!({ "u": cast.supervisor_a.id.to_string() }),
        )
        .await;
    assert_eq!(theirs.error_code(), "FORBIDDEN");
    let anonymous = app.gql(None, SIGN_OUT_SESSION, session.clone()).await;
    assert_eq!(anonymous.error_code(), "UNAUTHENTICATED");

    assert_eq!(
        audit_event_count(&app).await,
        before,
        "refusals write nothing"
    );
    assert!(still_signed_in(&app, &cast.customer_a_token).await);
    assert!(still_signed_in(&app, &impersonating).await);
}

/// 100 requests race to sign out the same session (over two instances on PostgreSQL): one
/// ends it, the rest answer false, and the trail has one event.
async fn a_burst_of_sign_outs_ends_the_session_once(app: TestApp) {
    let (_, admin_token) = UserBuilder::admin().signed_in(&app).await;
    let carla = UserBuilder::customer().name("Carla").create(&app).await;
    let target = sign_in_from(&app, &carla.email, "the phone").await;
    let id = sessions_of(&app, &target, carla.id).await[0]["id"].clone();
    let other = match app.backend {
        crate::common::Backend::Postgres => Some(second_instance(&app).await),
        crate::common::Backend::Sqlite => None,
    };
    let before = audit_event_count(&app).await;
    let attempts = (0..100).map(|i| {
        let instance = match (&other, i % 2) {
            (Some(other), 1) => other,
            _ => &app,
        };
        let admin_token = admin_token.clone();
        let variables = json!({ "id": id });
        async move {
            instance
                .gql(Some(&admin_token), SIGN_OUT_SESSION, variables)
                .await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let mut ended = 0;
    for answer in &answers {
        match answer.body.get("errors").filter(|e| !e.is_null()) {
            None => {
                if answer.data()["signOutSession"] == true {
                    ended += 1;
                }
            }
            // A request turned away by a full pool is an accepted refusal, never a second end.
            Some(_) => assert_eq!(answer.error_code(), "UNAVAILABLE", "{:?}", answer.body),
        }
    }
    assert_eq!(ended, 1, "exactly one request ended the session");
    assert_eq!(audit_event_count(&app).await, before + 1);
    assert!(!still_signed_in(&app, &target).await);
}

on_both_backends!(
    a_user_sees_their_devices_and_which_one_they_are_on,
    signing_out_one_session_ends_only_that_one_and_shows_on_history,
    an_admin_signs_a_user_out_everywhere,
    signing_out_everywhere_on_ones_own_account_keeps_this_session,
    others_are_refused_and_nothing_ends,
    a_burst_of_sign_outs_ends_the_session_once,
);
