//! Issue 13, point 5: every end of an impersonation is on the trail, once, with its cause. The
//! request that ends it (stop, sign-out, a new `becomeUser`, a discard, a promotion, a demotion,
//! a revoked session) writes one IMPERSONATION_STOPPED in its own transaction; an end by time
//! (expiry, idle) has no request and is written by the background sweep, once even with two
//! instances sweeping one database. The event is the admin's, like the start: admin as actor,
//! unmarked, the reason, on the user's History and the admin's, with `cause` and `endedAt`.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use portal_admin::config::Config;
use portal_admin::db::DbConn;
use portal_admin::db::schema::sessions;
use portal_admin::domain::{AuditAction, AuditRecordType, UserId};
use portal_admin::services::impersonation::record_timed_out;
use serde_json::{Value, json};

use crate::common::audit_trail::{Event, history};
use crate::common::builders::{Cast, PASSWORD, UserBuilder};
use crate::common::footprint::second_instance;
use crate::common::{Backend, TestApp};

const BECOME: &str =
    "mutation($input: BecomeUserInput!) { becomeUser(input: $input) { token expiresAt } }";
const STOP: &str = "mutation { stopImpersonating { token } }";
const SIGN_OUT: &str = "mutation { signOut }";
const WHO: &str = "{ viewer { user { id } } }";
const UPDATE_USER: &str = "mutation($input: UpdateUserInput!) { updateUser(input: $input) { id } }";
const DISCARD: &str = "mutation($id: ID!) { discardUser(userId: $id) { id } }";
const UNDISCARD: &str = "mutation($id: ID!) { undiscardUser(userId: $id) { id } }";
const SIGN_OUT_SESSION: &str = "mutation($id: ID!) { signOutSession(id: $id) }";
const SIGN_OUT_EVERYWHERE: &str = "mutation($id: ID!) { signOutEverywhere(userId: $id) }";
const REASON: &str = "Ticket 5150: invoices look doubled";

/// Each scenario on SQLite and PostgreSQL, over an app with `adjust` applied to its config.
macro_rules! on_both_backends_adjusted {
    ($($name:ident: $adjust:expr),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = crate::common::TestApp::spawn_adjusted(crate::common::Backend::Sqlite, $adjust)
                    .await
                    .expect("SQLite is always there");
                super::$name(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) =
                    crate::common::TestApp::spawn_adjusted(crate::common::Backend::Postgres, $adjust).await
                else {
                    return;
                };
                super::$name(app).await;
            }
        }
    )*};
}

fn defaults(_: &mut Config) {}

/// Impersonations of 10 minutes (sessions idle out after the default 30).
fn short_impersonations(config: &mut Config) {
    config.impersonation_minutes = 10;
}

/// Sessions that idle out after 5 minutes (impersonations last the default 60).
fn short_idle(config: &mut Config) {
    config.session_idle_minutes = 5;
}

/// Becomes `user_id`; returns the impersonation's token and its end.
async fn become_user(app: &TestApp, admin_token: &str, user_id: UserId) -> (String, DateTime<Utc>) {
    let response = app
        .gql(
            Some(admin_token),
            BECOME,
            json!({ "input": { "userId": user_id.to_string(), "reason": REASON } }),
        )
        .await;
    let payload = &response.data()["becomeUser"];
    (
        payload["token"].as_str().expect("token").to_owned(),
        time(&payload["expiresAt"]),
    )
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a DateTime: {value}"))
}

async fn ok(app: &TestApp, token: &str, document: &str, variables: Value) {
    app.gql(Some(token), document, variables).await.data();
}

async fn works(app: &TestApp, token: &str) -> bool {
    let response = app.gql(Some(token), WHO, json!({})).await;
    if response.body["errors"].is_array() {
        assert_eq!(
            response.error_code(),
            "UNAUTHENTICATED",
            "{}",
            response.body
        );
        false
    } else {
        true
    }
}

/// The IMPERSONATION_STOPPED events on a user's History, oldest first.
async fn ends(app: &TestApp, user: UserId) -> Vec<Event> {
    let mut events: Vec<Event> = history(app, AuditRecordType::User, user.0)
        .await
        .into_iter()
        .filter(|e| e.action() == AuditAction::ImpersonationStopped)
        .collect();
    events.reverse();
    events
}

async fn all_ends(app: &TestApp) -> i64 {
    let mut conn = app.app.db.conn().await.expect("conn");
    let count: i64 = match &mut conn {
        DbConn::Postgres(c) => {
            portal_admin::db::schema::audit_events::table
                .filter(portal_admin::db::schema::audit_events::action.eq("IMPERSONATION_STOPPED"))
                .count()
                .get_result(&mut **c)
                .await
        }
        DbConn::Sqlite(c) => {
            portal_admin::db::schema::audit_events::table
                .filter(portal_admin::db::schema::audit_events::action.eq("IMPERSONATION_STOPPED"))
                .count()
                .get_result(&mut **c)
                .await
        }
    }
    .expect("count");
    count
}

/// The id of the live impersonation `admin` runs.
async fn impersonation_session(app: &TestApp, admin: UserId) -> i64 {
    let mut conn = app.app.db.conn().await.expect("conn");
    let query = sessions::table
        .filter(sessions::impersonator_id.eq(admin))
        .filter(sessions::revoked_at.is_null())
        .order(sessions::id.desc())
        .select(sessions::id);
    match &mut conn {
        DbConn::Postgres(c) => query.first::<i64>(&mut **c).await,
        DbConn::Sqlite(c) => query.first::<i64>(&mut **c).await,
    }
    .expect("a live impersonation")
}

/// Asserts that `user`'s History gained exactly one end since `before` (their count of ends
/// then), with `cause`, and that it is the admin's like the start: admin as actor, unmarked,
/// the reason, also on the admin's History. Returns the event.
async fn one_more_end(
    app: &TestApp,
    user: UserId,
    admin: UserId,
    before: usize,
    cause: &str,
) -> Event {
    let mut events = ends(app, user).await;
    assert_eq!(events.len(), before + 1, "exactly one more end ({cause})");
    let end = events.pop().expect("the end");
    assert_eq!(end.change("cause"), (None, Some(cause)));
    assert_eq!(end.event.actor_id, Some(admin), "{cause}: the admin's act");
    assert_eq!(end.event.impersonator_id, None, "{cause}: unmarked");
    assert_eq!(end.event.reason.as_deref(), Some(REASON));
    assert_eq!(end.fields(), vec!["cause", "endedAt"]);
    let start = history(app, AuditRecordType::User, user.0)
        .await
        .into_iter()
        .find(|e| e.action() == AuditAction::ImpersonationStarted)
        .expect("a start");
    assert_eq!(start.event.actor_id, end.event.actor_id);
    assert_eq!(start.event.impersonator_id, end.event.impersonator_id);
    let on_admin = history(app, AuditRecordType::User, admin.0).await;
    assert!(
        on_admin.iter().any(|e| e.event.id == end.event.id),
        "{cause}: on the admin's History too"
    );
    end
}

/// Equal but for the database's precision (microseconds).
fn assert_near(a: DateTime<Utc>, b: DateTime<Utc>, what: &str) {
    assert!(
        (a - b).abs() < Duration::milliseconds(1),
        "{what}: {a} vs {b}"
    );
}

fn ended_at(end: &Event) -> DateTime<Utc> {
    let (_, at) = end.change("endedAt");
    time(&json!(at.expect("endedAt")))
}

async fn every_request_that_ends_one_writes_its_cause(app: TestApp) {
    let cast = Cast::new(&app).await;
    let (bea, bea_token) = UserBuilder::admin().name("Bea Admin").signed_in(&app).await;
    let admin = cast.admin.id;
    let customer = cast.customer_a.id;
    let role = |id: UserId, role: &str| json!({ "input": { "id": id.to_string(), "role": role } });
    let id = |id: UserId| json!({ "id": id.to_string() });

    // Stopped.
    let n = ends(&app, customer).await.len();
    let (acting, _) = become_user(&app, &cast.admin_token, customer).await;
    let stopped = app.gql(Some(&acting), STOP, json!({})).await;
    let admin_token = stopped.data()["stopImpersonating"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let end = one_more_end(&app, customer, admin, n, "STOPPED").await;
    assert_eq!(end.event.request_id, stopped.request_id);

    // Replaced by a new becomeUser from the same admin session: on the first user.
    let n = ends(&app, customer).await.len();
    let (_, _) = become_user(&app, &admin_token, customer).await;
    let (acting, _) = become_user(&app, &admin_token, cast.supervisor_a.id).await;
    one_more_end(&app, customer, admin, n, "REPLACED").await;

    // Signed out from the impersonation.
    let n = ends(&app, cast.supervisor_a.id).await.len();
    ok(&app, &acting, SIGN_OUT, json!({})).await;
    one_more_end(&app, cast.supervisor_a.id, admin, n, "SIGNED_OUT").await;

    // Signed out from the admin session it hangs off.
    let admin_token = app.sign_in(&cast.admin.email, PASSWORD).await;
    let n = ends(&app, customer).await.len();
    let (acting, _) = become_user(&app, &admin_token, customer).await;
    ok(&app, &admin_token, SIGN_OUT, json!({})).await;
    assert!(!works(&app, &acting).await);
    one_more_end(&app, customer, admin, n, "SIGNED_OUT").await;

    // The admin discarded (by another admin, whose request it carries; the actor stays the
    // impersonating admin, like the start).
    let admin_token = app.sign_in(&cast.admin.email, PASSWORD).await;
    let n = ends(&app, customer).await.len();
    become_user(&app, &admin_token, customer).await;
    let discarded = app.gql(Some(&bea_token), DISCARD, id(admin)).await;
    discarded.data();
    let end = one_more_end(&app, customer, admin, n, "ADMIN_DISCARDED").await;
    assert_eq!(end.event.request_id, discarded.request_id);
    assert_eq!(end.event.client_ip, None, "not the admin's address");
    ok(&app, &bea_token, UNDISCARD, id(admin)).await;

    // The admin demoted.
    let admin_token = app.sign_in(&cast.admin.email, PASSWORD).await;
    let n = ends(&app, customer).await.len();
    become_user(&app, &admin_token, customer).await;
    ok(&app, &bea_token, UPDATE_USER, role(admin, "SUPERVISOR")).await;
    one_more_end(&app, customer, admin, n, "ADMIN_DEMOTED").await;
    ok(&app, &bea_token, UPDATE_USER, role(admin, "ADMIN")).await;

    // The user discarded.
    let admin_token = app.sign_in(&cast.admin.email, PASSWORD).await;
    let n = ends(&app, customer).await.len();
    become_user(&app, &admin_token, customer).await;
    ok(&app, &bea_token, DISCARD, id(customer)).await;
    one_more_end(&app, customer, admin, n, "USER_DISCARDED").await;
    ok(&app, &bea_token, UNDISCARD, id(customer)).await;

    // The session signed out by another admin (from the user's sessions list).
    let n = ends(&app, cast.supervisor_b.id).await.len();
    become_user(&app, &admin_token, cast.supervisor_b.id).await;
    let session = impersonation_session(&app, admin).await;
    ok(
        &app,
        &bea_token,
        SIGN_OUT_SESSION,
        json!({ "id": session.to_string() }),
    )
    .await;
    one_more_end(&app, cast.supervisor_b.id, admin, n, "SESSION_REVOKED").await;

    // Every session of the admin signed out.
    let n = ends(&app, cast.supervisor_b.id).await.len();
    become_user(&app, &admin_token, cast.supervisor_b.id).await;
    ok(&app, &bea_token, SIGN_OUT_EVERYWHERE, id(admin)).await;
    one_more_end(&app, cast.supervisor_b.id, admin, n, "SESSION_REVOKED").await;

    // The user promoted to admin (last: nobody impersonates them after).
    let admin_token = app.sign_in(&cast.admin.email, PASSWORD).await;
    let n = ends(&app, cast.supervisor_a.id).await.len();
    become_user(&app, &admin_token, cast.supervisor_a.id).await;
    ok(
        &app,
        &bea_token,
        UPDATE_USER,
        role(cast.supervisor_a.id, "ADMIN"),
    )
    .await;
    one_more_end(&app, cast.supervisor_a.id, admin, n, "USER_PROMOTED").await;

    // Ten impersonations, ten starts, ten ends; none still open.
    let starts = history(&app, AuditRecordType::User, admin.0)
        .await
        .iter()
        .filter(|e| e.action() == AuditAction::ImpersonationStarted)
        .count();
    assert_eq!(starts, 10);
    assert_eq!(all_ends(&app).await, 10);
    assert_eq!(record_timed_out(&app.app).await.expect("sweep"), 0);
    assert_eq!(all_ends(&app).await, 10);
    // Bea never impersonated: her History has none of it.
    assert!(
        history(&app, AuditRecordType::User, bea.id.0)
            .await
            .iter()
            .all(|e| e.action() != AuditAction::ImpersonationStopped)
    );
}

async fn an_expiry_is_recorded_once_by_two_sweeping_instances(app: TestApp) {
    let cast = Cast::new(&app).await;
    let admin = cast.admin.id;
    let users = [
        cast.customer_a.id,
        cast.supervisor_a.id,
        cast.supervisor_b.id,
    ];
    let mut acting = Vec::new();
    for user in users {
        // One impersonation per admin session.
        let token = app.sign_in(&cast.admin.email, PASSWORD).await;
        let (imp, expires_at) = become_user(&app, &token, user).await;
        acting.push((user, imp, expires_at));
    }
    // Nothing is due yet: the sweep writes nothing.
    assert_eq!(record_timed_out(&app.app).await.expect("sweep"), 0);
    assert_eq!(all_ends(&app).await, 0);

    // PostgreSQL: a second instance over the same database sweeps at the same time. SQLite is
    // one process's file: two sweeps of the one instance race instead.
    let other = match app.backend {
        Backend::Postgres => Some(second_instance(&app).await),
        Backend::Sqlite => None,
    };
    app.clock().advance(Duration::minutes(11));
    if let Some(other) = &other {
        other.clock().advance(Duration::minutes(11));
    }
    let second = other.as_ref().map_or(&app.app, |o| &o.app);
    let (a, b) = tokio::join!(record_timed_out(&app.app), record_timed_out(second));
    let recorded = a.expect("first sweep") + b.expect("second sweep");
    assert_eq!(recorded, 3, "three ends between the two sweeps");
    assert_eq!(all_ends(&app).await, 3);
    for (user, _, expires_at) in &acting {
        let end = one_more_end(&app, *user, admin, 0, "EXPIRED").await;
        assert_near(
            ended_at(&end),
            *expires_at,
            "ended at its expiry, not at the sweep",
        );
        assert_eq!(end.event.request_id, None, "no request: the sweep");
    }

    // Nothing is written twice: another sweep, a stop, a sign-out with the expired token.
    assert_eq!(record_timed_out(&app.app).await.expect("sweep"), 0);
    let (_, token, _) = &acting[0];
    let stop = app.gql(Some(token), STOP, json!({})).await;
    assert_eq!(stop.error_code(), "UNAUTHENTICATED");
    let sign_out = app.gql(Some(token), SIGN_OUT, json!({})).await;
    assert_eq!(sign_out.error_code(), "UNAUTHENTICATED");
    assert_eq!(all_ends(&app).await, 3);
}

async fn an_expiry_seen_first_by_a_request_keeps_its_cause(app: TestApp) {
    let cast = Cast::new(&app).await;
    let admin = cast.admin.id;
    let (_, expires_at) = become_user(&app, &cast.admin_token, cast.customer_a.id).await;
    app.clock().advance(Duration::minutes(11));
    // Before any sweep, the admin starts another from the same session: the first ended by
    // expiry, not by replacement, and at its expiry.
    become_user(&app, &cast.admin_token, cast.supervisor_a.id).await;
    let end = one_more_end(&app, cast.customer_a.id, admin, 0, "EXPIRED").await;
    assert_near(ended_at(&end), expires_at, "ended at its expiry");
    assert_eq!(all_ends(&app).await, 1);
    // The sweep finds nothing left to record; the second is still running.
    assert_eq!(record_timed_out(&app.app).await.expect("sweep"), 0);
    assert_eq!(all_ends(&app).await, 1);
}

async fn an_idle_impersonation_is_recorded_by_the_sweep(app: TestApp) {
    let cast = Cast::new(&app).await;
    let admin = cast.admin.id;
    let started = app.clock().now_utc();
    let (acting, _) = become_user(&app, &cast.admin_token, cast.customer_a.id).await;
    app.clock().advance(Duration::minutes(6));
    assert!(
        !works(&app, &acting).await,
        "idle for longer than the limit"
    );
    assert_eq!(record_timed_out(&app.app).await.expect("sweep"), 1);
    let end = one_more_end(&app, cast.customer_a.id, admin, 0, "IDLE").await;
    let at = ended_at(&end);
    assert!(
        at >= started + Duration::minutes(5) - Duration::seconds(1)
            && at <= started + Duration::minutes(5) + Duration::seconds(5),
        "ended when it idled out, not at the sweep: {at} (started {started})"
    );
    assert_eq!(record_timed_out(&app.app).await.expect("sweep"), 0);
    assert_eq!(all_ends(&app).await, 1);
}

async fn fifty_parallel_stops_write_one_end(app: TestApp) {
    let cast = Cast::new(&app).await;
    let (acting, _) = become_user(&app, &cast.admin_token, cast.customer_a.id).await;
    let other = match app.backend {
        Backend::Postgres => Some(second_instance(&app).await),
        Backend::Sqlite => None,
    };
    let stops = (0..50).map(|i| {
        let target = match (&other, i % 2) {
            (Some(other), 1) => other,
            _ => &app,
        };
        let acting = acting.clone();
        async move { target.gql(Some(&acting), STOP, json!({})).await }
    });
    let answers = futures::future::join_all(stops).await;
    let succeeded = answers
        .iter()
        .filter(|a| a.body["errors"].is_null())
        .count();
    assert_eq!(succeeded, 1, "one stop wins");
    for answer in answers.iter().filter(|a| !a.body["errors"].is_null()) {
        assert_eq!(answer.error_code(), "UNAUTHENTICATED", "{}", answer.body);
    }
    one_more_end(&app, cast.customer_a.id, cast.admin.id, 0, "STOPPED").await;
    assert_eq!(all_ends(&app).await, 1);
}

on_both_backends_adjusted!(
    every_request_that_ends_one_writes_its_cause: super::defaults,
    an_expiry_is_recorded_once_by_two_sweeping_instances: super::short_impersonations,
    an_expiry_seen_first_by_a_request_keeps_its_cause: super::short_impersonations,
    an_idle_impersonation_is_recorded_by_the_sweep: super::short_idle,
    fifty_parallel_stops_write_one_end: super::defaults,
);
