//! The admin guide's "Impersonation — becoming another user": an admin becomes a user to see the
//! portal exactly as they see it, every action is recorded as the user's with a marker naming
//! the admin, account security and admin powers stay out of reach, and the admin comes back
//! to their own session.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use portal_admin::db::DbConn;
use portal_admin::db::models::User;
use portal_admin::db::schema::{audit_events, mail_outbox, sessions, users};
use portal_admin::domain::{AuditAction, AuditRecordType};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::audit_trail::{history, latest};
use crate::common::builders::{Cast, PASSWORD, UserBuilder};
use crate::on_both_backends;

const BECOME: &str = "mutation($input: BecomeUserInput!) { becomeUser(input: $input) {
    token expiresAt
    viewer { user { id name role } impersonator { id name } impersonation { reason startedAt expiresAt } sessionExpiresAt } } }";
const STOP: &str = "mutation { stopImpersonating { token expiresAt
    viewer { user { id name role } impersonator { id } impersonation { reason } sessionExpiresAt } } }";
const WHO: &str = "{ viewer { user { id } impersonator { id } impersonation { reason startedAt expiresAt } sessionExpiresAt } }";
const SIGN_OUT: &str = "mutation { signOut }";
const UPDATE_USER: &str =
    "mutation($input: UpdateUserInput!) { updateUser(input: $input) { id name email role } }";
const USER_SIGNED_IN_AT: &str = "query($id: ID!) { user(id: $id) { lastSignInAt } }";

const REASON: &str = "Ticket 4711: numbers list looks wrong";

/// Becomes `user_id` with the admin's token; returns the impersonation token.
async fn become_user(app: &TestApp, admin_token: &str, user_id: impl ToString) -> String {
    let response = app
        .gql(
            Some(admin_token),
            BECOME,
            json!({ "input": { "userId": user_id.to_string(), "reason": REASON } }),
        )
        .await;
    response.data()["becomeUser"]["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

fn become_vars(user_id: impl ToString, reason: &str) -> Value {
    json!({ "input": { "userId": user_id.to_string(), "reason": reason } })
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a DateTime: {value}"))
}

/// Whether the token opens a session (`viewer` answers), or UNAUTHENTICATED.
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

/// What a refused operation must leave as it was: every user row, every session (but its
/// activity time), the audit trail and the mail outbox.
#[derive(Debug, PartialEq)]
struct Rows {
    users: Vec<String>,
    sessions: Vec<(i64, Option<NaiveDateTime>, NaiveDateTime, i64)>,
    audit_events: i64,
    mail: i64,
}

async fn rows(app: &TestApp) -> Rows {
    let mut conn = app.app.db.conn().await.expect("conn");
    macro_rules! run {
        (|$c:ident| $body:expr) => {
            match &mut conn {
                DbConn::Postgres(pooled) => {
                    let $c = &mut **pooled;
                    $body
                }
                DbConn::Sqlite(pooled) => {
                    let $c = &mut **pooled;
                    $body
                }
            }
        };
    }
    let all_users: Vec<User> = run!(|c| users::table
        .order(users::id)
        .select(User::as_select())
        .load(c)
        .await)
    .expect("users");
    let all_sessions: Vec<(i64, Option<NaiveDateTime>, NaiveDateTime, i64)> = run!(|c| {
        sessions::table
            .order(sessions::id)
            .select((
                sessions::id,
                sessions::revoked_at,
                sessions::expires_at,
                sessions::user_id,
            ))
            .load(c)
            .await
    })
    .expect("sessions");
    let audit_events: i64 =
        run!(|c| audit_events::table.count().get_result(c).await).expect("audit count");
    let mail: i64 = run!(|c| mail_outbox::table.count().get_result(c).await).expect("mail count");
    Rows {
        users: all_users.iter().map(|u| format!("{u:?}")).collect(),
        sessions: all_sessions,
        audit_events,
        mail,
    }
}

async fn last_sign_in(app: &TestApp, admin_token: &str, user_id: impl ToString) -> Value {
    let response = app
        .gql(
            Some(admin_token),
            USER_SIGNED_IN_AT,
            json!({ "id": user_id.to_string() }),
        )
        .await;
    response.data()["user"]["lastSignInAt"].clone()
}

async fn becoming_a_user_shows_exactly_their_view(app: TestApp) {
    let cast = Cast::new(&app).await;
    let signed_in_at = last_sign_in(&app, &cast.admin_token, cast.supervisor_a.id).await;
    let before = app.clock().now_utc();

    // The reason is kept trimmed; the banner reads it from the server.
    let response = app
        .gql(
            Some(&cast.admin_token),
            BECOME,
            become_vars(cast.supervisor_a.id, &format!("  {REASON}  ")),
        )
        .await;
    let payload = &response.data()["becomeUser"];
    let acting = payload["token"].as_str().expect("token").to_owned();
    assert_ne!(acting, cast.admin_token);
    assert_ne!(acting, cast.supervisor_a_token);
    let viewer = &payload["viewer"];
    assert_eq!(viewer["user"]["id"], cast.supervisor_a.id.to_string());
    assert_eq!(viewer["user"]["role"], "SUPERVISOR");
    assert_eq!(viewer["impersonator"]["id"], cast.admin.id.to_string());
    assert_eq!(viewer["impersonation"]["reason"], REASON);
    let started = time(&viewer["impersonation"]["startedAt"]);
    let expires = time(&payload["expiresAt"]);
    assert!(started >= before - Duration::seconds(1));
    // IMPERSONATION_MINUTES, 60 by default.
    assert_eq!(expires - started, Duration::minutes(60));
    assert_eq!(time(&viewer["impersonation"]["expiresAt"]), expires);
    assert_eq!(time(&viewer["sessionExpiresAt"]), expires);

    // The same answer from the token's own viewer query.
    let who = app.gql(Some(&acting), WHO, json!({})).await;
    assert_eq!(
        who.data()["viewer"]["impersonator"]["id"],
        cast.admin.id.to_string()
    );
    assert_eq!(who.data()["viewer"]["impersonation"]["reason"], REASON);

    // The user's own view and the view through the impersonation are the same, record for
    // record and refusal for refusal.
    let user_fields = "id name email role status lastSignInAt twoFactorEnabled discardedAt companies { id name } teams { id name } memberships { role company { id } }";
    let queries = [
        (
            format!("{{ viewer {{ user {{ {user_fields} }} }} }}"),
            json!({}),
        ),
        (
            format!("{{ users(first: 100) {{ totalCount edges {{ cursor node {{ {user_fields} }} }} }} }}"),
            json!({}),
        ),
        (
            format!("query($id: ID!) {{ user(id: $id) {{ {user_fields} }} }}"),
            json!({ "id": cast.customer_a.id.to_string() }),
        ),
        (
            format!("query($id: ID!) {{ user(id: $id) {{ {user_fields} }} }}"),
            json!({ "id": cast.supervisor_b.id.to_string() }),
        ),
        (
            format!("query($id: ID!) {{ user(id: $id) {{ {user_fields} }} }}"),
            json!({ "id": cast.admin.id.to_string() }),
        ),
        (
            "{ companies(first: 100) { totalCount edges { node { id name billingRateCents status organization { id name } teams { id } inboundNumbers { id } } } } }".to_owned(),
            json!({}),
        ),
        (
            "query($id: ID!) { company(id: $id) { id name billingEmail billingPlan timezone members { totalCount edges { node { role user { id } } } } } }".to_owned(),
            json!({ "id": cast.company_a.id.to_string() }),
        ),
        (
            "query($id: ID!) { company(id: $id) { id name } }".to_owned(),
            json!({ "id": cast.company_b.id.to_string() }),
        ),
        (
            "{ organizations(first: 100) { totalCount edges { node { id name } } } }".to_owned(),
            json!({}),
        ),
    ];
    for (query, variables) in &queries {
        let own = app
            .gql(Some(&cast.supervisor_a_token), query, variables.clone())
            .await;
        let impersonated = app.gql(Some(&acting), query, variables.clone()).await;
        assert_eq!(
            own.body, impersonated.body,
            "{query} {variables} differs through the impersonation"
        );
    }
    // Not the admin's view: the admin sees both companies, the user only theirs.
    let companies = app
        .gql(
            Some(&acting),
            "{ companies { totalCount } users { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(companies.data()["companies"]["totalCount"], 1);
    assert_eq!(companies.data()["users"]["totalCount"], 2);

    // Impersonation is not a sign-in of the user.
    assert_eq!(
        last_sign_in(&app, &cast.admin_token, cast.supervisor_a.id).await,
        signed_in_at
    );

    // The start is on the user's History (and the admin's): the admin's own act, with the reason.
    let started = latest(&app, AuditRecordType::User, cast.supervisor_a.id.0).await;
    assert_eq!(started.action(), AuditAction::ImpersonationStarted);
    assert_eq!(started.event.actor_id, Some(cast.admin.id));
    assert_eq!(started.event.impersonator_id, None);
    assert_eq!(started.event.reason.as_deref(), Some(REASON));
    let on_admin = latest(&app, AuditRecordType::User, cast.admin.id.0).await;
    assert_eq!(on_admin.event.id, started.event.id);
}

async fn refusals_change_nothing(app: TestApp) {
    let cast = Cast::new(&app).await;
    let (other_admin, _) = UserBuilder::admin().name("Bea Admin").signed_in(&app).await;
    let gone = UserBuilder::customer()
        .name("Gone Customer")
        .member_of(cast.company_a.id)
        .create(&app)
        .await;
    app.gql(
        Some(&cast.admin_token),
        "mutation($id: ID!) { discardUser(userId: $id) { id } }",
        json!({ "id": gone.id.to_string() }),
    )
    .await
    .data();
    let invited = app
        .gql(
            Some(&cast.admin_token),
            "mutation($input: CreateUserInput!) { createUser(input: $input) { id status } }",
            json!({ "input": { "name": "Ivy Invited", "email": "ivy@example.com", "role": "CUSTOMER",
                "memberships": [{ "companyId": cast.company_a.id.to_string(), "role": "CUSTOMER" }] } }),
        )
        .await;
    let invited_id = invited.data()["createUser"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(invited.data()["createUser"]["status"], "INVITED");
    let acting = become_user(&app, &cast.admin_token, cast.customer_a.id).await;

    let too_long = "x".repeat(501);
    let target = cast.supervisor_a.id.to_string();
    let refusals: Vec<(&str, Option<&str>, Value, &str)> = vec![
        (
            "anonymous",
            None,
            become_vars(&target, REASON),
            "UNAUTHENTICATED",
        ),
        (
            "a supervisor",
            Some(&cast.supervisor_a_token),
            become_vars(cast.customer_a.id, REASON),
            "FORBIDDEN",
        ),
        (
            "a customer",
            Some(&cast.customer_a_token),
            become_vars(&target, REASON),
            "FORBIDDEN",
        ),
        (
            "yourself",
            Some(&cast.admin_token),
            become_vars(cast.admin.id, REASON),
            "FORBIDDEN",
        ),
        (
            "another admin",
            Some(&cast.admin_token),
            become_vars(other_admin.id, REASON),
            "FORBIDDEN",
        ),
        (
            "a deactivated user",
            Some(&cast.admin_token),
            become_vars(gone.id, REASON),
            "CONFLICT",
        ),
        (
            "a user who never accepted the invitation",
            Some(&cast.admin_token),
            become_vars(&invited_id, REASON),
            "CONFLICT",
        ),
        (
            "nobody",
            Some(&cast.admin_token),
            become_vars(999_999, REASON),
            "NOT_FOUND",
        ),
        (
            "a malformed id",
            Some(&cast.admin_token),
            become_vars("not-an-id", REASON),
            "BAD_USER_INPUT",
        ),
        (
            "an empty reason",
            Some(&cast.admin_token),
            become_vars(&target, ""),
            "BAD_USER_INPUT",
        ),
        (
            "a blank reason",
            Some(&cast.admin_token),
            become_vars(&target, " \n\t "),
            "BAD_USER_INPUT",
        ),
        (
            "a reason over 500 characters",
            Some(&cast.admin_token),
            become_vars(&target, &too_long),
            "BAD_USER_INPUT",
        ),
        (
            "a chain (while impersonating)",
            Some(&acting),
            become_vars(&target, REASON),
            "FORBIDDEN_WHILE_IMPERSONATING",
        ),
    ];
    for (who, token, variables, code) in refusals {
        let before = rows(&app).await;
        let response = app.gql(token, BECOME, variables).await;
        assert_eq!(response.error_code(), code, "{who}: {}", response.body);
        assert!(response.body["data"].is_null(), "{who}");
        if code == "BAD_USER_INPUT" && who.contains("reason") {
            assert_eq!(response.error_field(), Some("reason"), "{who}");
        }
        assert_eq!(rows(&app).await, before, "{who} changed rows");
    }
    // A missing reason does not pass the schema.
    let missing = app
        .gql(
            Some(&cast.admin_token),
            BECOME,
            json!({ "input": { "userId": target } }),
        )
        .await;
    assert!(missing.body["errors"].is_array());
    // 500 characters is the cap, not past it.
    let at_cap = app
        .gql(
            Some(&cast.admin_token),
            BECOME,
            become_vars(&target, &"x".repeat(500)),
        )
        .await;
    assert_eq!(
        at_cap.data()["becomeUser"]["viewer"]["impersonation"]["reason"]
            .as_str()
            .map(str::len),
        Some(500)
    );
}

async fn changes_while_impersonating_are_the_users_marked_with_the_admin(app: TestApp) {
    let cast = Cast::new(&app).await;
    let acting = become_user(&app, &cast.admin_token, cast.supervisor_a.id).await;

    // The user's own name, as the user.
    let renamed = app
        .gql(
            Some(&acting),
            UPDATE_USER,
            json!({ "input": { "id": cast.supervisor_a.id.to_string(), "name": "Samantha A" } }),
        )
        .await;
    assert_eq!(renamed.data()["updateUser"]["name"], "Samantha A");
    let event = latest(&app, AuditRecordType::User, cast.supervisor_a.id.0).await;
    assert_eq!(event.action(), AuditAction::Update);
    assert_eq!(event.change("name"), (Some("Sam A"), Some("Samantha A")));
    assert_eq!(event.event.actor_id, Some(cast.supervisor_a.id));
    assert_eq!(event.event.impersonator_id, Some(cast.admin.id));
    assert_eq!(event.event.request_id, renamed.request_id);

    // A supervisor's power over their own company, as the supervisor.
    let team = app
        .gql(
            Some(&acting),
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { id } }",
            json!({ "input": { "companyId": cast.company_a.id.to_string(), "name": "Night shift" } }),
        )
        .await;
    let team_id: i64 = team.data()["createTeam"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("team id");
    let renamed_team = app
        .gql(
            Some(&acting),
            "mutation($input: UpdateTeamInput!) { updateTeam(input: $input) { name } }",
            json!({ "input": { "id": team_id.to_string(), "name": "Late shift" } }),
        )
        .await;
    assert_eq!(renamed_team.data()["updateTeam"]["name"], "Late shift");
    let team_history = history(&app, AuditRecordType::Team, team_id).await;
    assert_eq!(team_history.len(), 2, "create and rename");
    for event in &team_history {
        assert_eq!(event.event.actor_id, Some(cast.supervisor_a.id));
        assert_eq!(event.event.impersonator_id, Some(cast.admin.id));
    }

    // Stopping is on the user's History too, with the reason, as the admin's own act.
    let stopped = app.gql(Some(&acting), STOP, json!({})).await;
    let admin_token = stopped.data()["stopImpersonating"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let user_history = history(&app, AuditRecordType::User, cast.supervisor_a.id.0).await;
    let stop = &user_history[0];
    assert_eq!(stop.action(), AuditAction::ImpersonationStopped);
    assert_eq!(stop.event.actor_id, Some(cast.admin.id));
    assert_eq!(stop.event.impersonator_id, None);
    assert_eq!(stop.event.reason.as_deref(), Some(REASON));
    let start = user_history
        .iter()
        .find(|e| e.action() == AuditAction::ImpersonationStarted)
        .expect("start event");
    assert_eq!(start.event.reason.as_deref(), Some(REASON));
    assert!(start.event.id < stop.event.id);

    // Back as the admin, changes are the admin's and unmarked.
    let direct = app
        .gql(
            Some(&admin_token),
            UPDATE_USER,
            json!({ "input": { "id": cast.supervisor_a.id.to_string(), "name": "Sam A" } }),
        )
        .await;
    direct.data();
    let event = latest(&app, AuditRecordType::User, cast.supervisor_a.id.0).await;
    assert_eq!(event.event.actor_id, Some(cast.admin.id));
    assert_eq!(event.event.impersonator_id, None);
}

async fn stopping_returns_a_fresh_admin_session(app: TestApp) {
    let cast = Cast::new(&app).await;
    let admin_view = app.gql(Some(&cast.admin_token), WHO, json!({})).await;
    let admin_session_ends = time(&admin_view.data()["viewer"]["sessionExpiresAt"]);
    let acting = become_user(&app, &cast.admin_token, cast.customer_a.id).await;

    let stopped = app.gql(Some(&acting), STOP, json!({})).await;
    let payload = &stopped.data()["stopImpersonating"];
    let fresh = payload["token"].as_str().expect("token").to_owned();
    assert_ne!(fresh, cast.admin_token);
    assert_ne!(fresh, acting);
    assert_eq!(payload["viewer"]["user"]["id"], cast.admin.id.to_string());
    assert_eq!(payload["viewer"]["user"]["role"], "ADMIN");
    assert!(payload["viewer"]["impersonator"].is_null());
    assert!(payload["viewer"]["impersonation"].is_null());
    // The replacement never outlives the admin session it replaces.
    assert_eq!(time(&payload["expiresAt"]), admin_session_ends);
    assert_eq!(
        time(&payload["viewer"]["sessionExpiresAt"]),
        admin_session_ends
    );

    // The fresh admin token works as the admin; the impersonation token and the admin token it
    // hung off are dead.
    let back = app.gql(Some(&fresh), WHO, json!({})).await;
    assert_eq!(
        back.data()["viewer"]["user"]["id"],
        cast.admin.id.to_string()
    );
    assert!(back.data()["viewer"]["impersonation"].is_null());
    let admin_powers = app
        .gql(Some(&fresh), "{ companies { totalCount } }", json!({}))
        .await;
    assert_eq!(admin_powers.data()["companies"]["totalCount"], 2);
    assert!(
        !works(&app, &acting).await,
        "impersonation token after stop"
    );
    assert!(
        !works(&app, &cast.admin_token).await,
        "replaced admin token"
    );
    let again = app
        .gql(
            Some(&acting),
            UPDATE_USER,
            json!({ "input": { "id": cast.customer_a.id.to_string(), "name": "Too late" } }),
        )
        .await;
    assert_eq!(again.error_code(), "UNAUTHENTICATED");

    // Stopping twice gains nothing; stopping from the admin's own session neither.
    let before = rows(&app).await;
    let twice = app.gql(Some(&acting), STOP, json!({})).await;
    assert_eq!(twice.error_code(), "UNAUTHENTICATED");
    let not_impersonating = app.gql(Some(&fresh), STOP, json!({})).await;
    assert_eq!(not_impersonating.error_code(), "CONFLICT");
    let anonymous = app.gql(None, STOP, json!({})).await;
    assert_eq!(anonymous.error_code(), "UNAUTHENTICATED");
    assert_eq!(rows(&app).await, before);

    // Becoming again from the fresh session works; a second become from the same admin session
    // ends the first impersonation (one at a time).
    let first = become_user(&app, &fresh, cast.customer_a.id).await;
    let second = become_user(&app, &fresh, cast.supervisor_a.id).await;
    assert!(!works(&app, &first).await, "earlier impersonation");
    assert!(works(&app, &second).await);
    assert!(works(&app, &fresh).await);
}

async fn a_user_signed_in_on_their_own_gains_nothing_from_stop(app: TestApp) {
    let cast = Cast::new(&app).await;
    let acting = become_user(&app, &cast.admin_token, cast.supervisor_a.id).await;
    let before = rows(&app).await;
    let response = app
        .gql(Some(&cast.supervisor_a_token), STOP, json!({}))
        .await;
    assert_eq!(response.error_code(), "CONFLICT");
    assert!(response.body["data"].is_null());
    assert_eq!(rows(&app).await, before);
    // Still just themselves; the impersonation and the admin are untouched.
    let own = app
        .gql(Some(&cast.supervisor_a_token), WHO, json!({}))
        .await;
    assert_eq!(
        own.data()["viewer"]["user"]["id"],
        cast.supervisor_a.id.to_string()
    );
    assert!(own.data()["viewer"]["impersonator"].is_null());
    assert!(works(&app, &acting).await);
    assert!(works(&app, &cast.admin_token).await);
}

async fn the_hard_limit_is_never_extended(app: TestApp) {
    let cast = Cast::new(&app).await;
    let response = app
        .gql(
            Some(&cast.admin_token),
            BECOME,
            become_vars(cast.customer_a.id, REASON),
        )
        .await;
    let acting = response.data()["becomeUser"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let expires = time(&response.data()["becomeUser"]["expiresAt"]);

    // Active all along (within the idle limit): the end does not move.
    for _ in 0..3 {
        app.clock().advance(Duration::minutes(19));
        let who = app.gql(Some(&acting), WHO, json!({})).await;
        assert_eq!(
            time(&who.data()["viewer"]["impersonation"]["expiresAt"]),
            expires
        );
    }
    // 57 minutes in; past the hour it is over, however busy it was.
    app.clock()
        .advance(Duration::minutes(3) + Duration::seconds(1));
    assert!(app.clock().now_utc() > expires);
    assert!(!works(&app, &acting).await, "impersonation past its limit");
    let stop = app.gql(Some(&acting), STOP, json!({})).await;
    assert_eq!(stop.error_code(), "UNAUTHENTICATED");
    // The admin's own session was kept alive by the impersonation's activity and goes on.
    assert!(works(&app, &cast.admin_token).await);

    // An idle impersonation also ends, and the clock past the limit ends any.
    let idle = become_user(&app, &cast.admin_token, cast.customer_a.id).await;
    app.clock().advance(Duration::minutes(61));
    assert!(
        !works(&app, &idle).await,
        "impersonation past its limit, idle"
    );
}

async fn an_impersonation_never_outlives_the_admin_session(app: TestApp) {
    let cast = Cast::new(&app).await;
    // Keep the admin's session busy until 20 minutes of its 12 hours are left.
    for _ in 0..28 {
        app.clock().advance(Duration::minutes(25));
        assert!(works(&app, &cast.admin_token).await);
    }
    let admin_view = app.gql(Some(&cast.admin_token), WHO, json!({})).await;
    let admin_session_ends = time(&admin_view.data()["viewer"]["sessionExpiresAt"]);
    let left = admin_session_ends - app.clock().now_utc();
    assert!(
        left > Duration::minutes(19) && left <= Duration::minutes(20),
        "{left}"
    );
    let response = app
        .gql(
            Some(&cast.admin_token),
            BECOME,
            become_vars(cast.customer_a.id, REASON),
        )
        .await;
    let payload = &response.data()["becomeUser"];
    assert_eq!(time(&payload["expiresAt"]), admin_session_ends);
    assert_eq!(
        time(&payload["viewer"]["impersonation"]["expiresAt"]),
        admin_session_ends
    );
    let acting = payload["token"].as_str().expect("token").to_owned();
    app.clock().advance(Duration::minutes(20));
    assert!(!works(&app, &acting).await);
    assert!(!works(&app, &cast.admin_token).await);
}

async fn the_impersonation_dies_with_either_side(app: TestApp) {
    let cast = Cast::new(&app).await;
    let (bea, bea_token) = UserBuilder::admin().name("Bea Admin").signed_in(&app).await;
    let set_role = |id: String, role: &'static str| json!({ "input": { "id": id, "role": role } });

    // The admin signs out of their own session.
    let acting = become_user(&app, &cast.admin_token, cast.customer_a.id).await;
    app.gql(Some(&cast.admin_token), SIGN_OUT, json!({}))
        .await
        .data();
    assert!(!works(&app, &acting).await, "after the admin's sign-out");

    // The admin is discarded; coming back does not revive it.
    let admin_token = app.sign_in(&cast.admin.email, PASSWORD).await;
    let acting = become_user(&app, &admin_token, cast.customer_a.id).await;
    let id = json!({ "id": cast.admin.id.to_string() });
    app.gql(
        Some(&bea_token),
        "mutation($id: ID!) { discardUser(userId: $id) { id } }",
        id.clone(),
    )
    .await
    .data();
    assert!(!works(&app, &acting).await, "after discarding the admin");
    app.gql(
        Some(&bea_token),
        "mutation($id: ID!) { undiscardUser(userId: $id) { id } }",
        id,
    )
    .await
    .data();
    assert!(!works(&app, &acting).await, "after restoring the admin");

    // The admin is demoted; promoting them again does not revive it.
    let admin_token = app.sign_in(&cast.admin.email, PASSWORD).await;
    let acting = become_user(&app, &admin_token, cast.customer_a.id).await;
    app.gql(
        Some(&bea_token),
        UPDATE_USER,
        set_role(cast.admin.id.to_string(), "SUPERVISOR"),
    )
    .await
    .data();
    assert!(!works(&app, &acting).await, "after demoting the admin");
    app.gql(
        Some(&bea_token),
        UPDATE_USER,
        set_role(cast.admin.id.to_string(), "ADMIN"),
    )
    .await
    .data();
    assert!(
        !works(&app, &acting).await,
        "after promoting the admin again"
    );
    assert!(
        works(&app, &admin_token).await,
        "the admin's own session stays"
    );

    // The user is discarded; restoring them does not revive it.
    let acting = become_user(&app, &admin_token, cast.customer_a.id).await;
    let id = json!({ "id": cast.customer_a.id.to_string() });
    app.gql(
        Some(&bea_token),
        "mutation($id: ID!) { discardUser(userId: $id) { id } }",
        id.clone(),
    )
    .await
    .data();
    assert!(!works(&app, &acting).await, "after discarding the user");
    app.gql(
        Some(&bea_token),
        "mutation($id: ID!) { undiscardUser(userId: $id) { id } }",
        id,
    )
    .await
    .data();
    assert!(!works(&app, &acting).await, "after restoring the user");
    assert!(works(&app, &admin_token).await);

    // The user becomes an admin: nobody sees through an admin's eyes.
    let acting = become_user(&app, &admin_token, cast.supervisor_a.id).await;
    app.gql(
        Some(&bea_token),
        UPDATE_USER,
        set_role(cast.supervisor_a.id.to_string(), "ADMIN"),
    )
    .await
    .data();
    assert!(!works(&app, &acting).await, "after promoting the user");

    // Signing out while impersonating ends both sessions, as the admin's own act.
    let acting = become_user(&app, &bea_token, cast.supervisor_b.id).await;
    app.gql(Some(&acting), SIGN_OUT, json!({})).await.data();
    assert!(!works(&app, &acting).await);
    assert!(!works(&app, &bea_token).await, "the admin's session too");
    let stopped = latest(&app, AuditRecordType::User, cast.supervisor_b.id.0).await;
    assert_eq!(stopped.action(), AuditAction::ImpersonationStopped);
    assert_eq!(stopped.event.actor_id, Some(bea.id));
    assert_eq!(stopped.event.impersonator_id, None);
    assert_eq!(stopped.event.reason.as_deref(), Some(REASON));
    let signed_out = latest(&app, AuditRecordType::User, bea.id.0).await;
    assert_eq!(signed_out.action(), AuditAction::SignOut);
    assert_eq!(signed_out.event.actor_id, Some(bea.id));
    assert_eq!(signed_out.event.impersonator_id, None);
}

async fn account_security_and_admin_powers_are_out_of_reach(app: TestApp) {
    let cast = Cast::new(&app).await;
    let number = app
        .gql(
            Some(&cast.admin_token),
            "mutation($input: CreateInboundNumberInput!) { createInboundNumber(input: $input) { id } }",
            json!({ "input": { "companyId": cast.company_a.id.to_string(), "number": "+14155550100" } }),
        )
        .await;
    let number_id = number.data()["createInboundNumber"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let signed_in_at = last_sign_in(&app, &cast.admin_token, cast.supervisor_a.id).await;
    let acting = become_user(&app, &cast.admin_token, cast.supervisor_a.id).await;
    let me = cast.supervisor_a.id.to_string();
    let them = cast.customer_a.id.to_string();
    let company = cast.company_a.id.to_string();
    let org = cast.company_a.organization_id.to_string();

    let guarded: Vec<(&str, Value)> = vec![
        (
            "mutation($input: ChangePasswordInput!) { changePassword(input: $input) }",
            json!({ "input": { "currentPassword": PASSWORD, "newPassword": "a brand new passphrase" } }),
        ),
        (
            "mutation($p: String!) { startTwoFactorEnrollment(currentPassword: $p) { secret } }",
            json!({ "p": PASSWORD }),
        ),
        (
            "mutation($code: String!) { confirmTwoFactorEnrollment(code: $code) { codes } }",
            json!({ "code": "123456" }),
        ),
        (
            "mutation($code: String!) { regenerateRecoveryCodes(code: $code) { codes } }",
            json!({ "code": "123456" }),
        ),
        (
            UPDATE_USER,
            json!({ "input": { "id": me, "email": "sam.new@example.com", "currentPassword": PASSWORD } }),
        ),
        (
            UPDATE_USER,
            json!({ "input": { "id": them, "name": "Renamed" } }),
        ),
        (
            UPDATE_USER,
            json!({ "input": { "id": them, "role": "SUPERVISOR" } }),
        ),
        (
            "mutation($id: ID!) { sendPasswordReset(userId: $id) }",
            json!({ "id": them }),
        ),
        (
            "mutation($input: DisableTwoFactorInput!) { disableTwoFactor(input: $input) { id } }",
            json!({ "input": { "userId": them, "reason": "ticket", "currentPassword": PASSWORD } }),
        ),
        (
            "mutation($id: ID!) { discardUser(userId: $id) { id } }",
            json!({ "id": them }),
        ),
        (
            "mutation($id: ID!) { undiscardUser(userId: $id) { id } }",
            json!({ "id": them }),
        ),
        (
            "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
            json!({ "input": { "name": "New Admin", "email": "new.admin@example.com", "role": "ADMIN" } }),
        ),
        (
            "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { id } }",
            json!({ "input": { "name": "Sneaky" } }),
        ),
        (
            "mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { id } }",
            json!({ "input": { "id": org, "name": "Mine" } }),
        ),
        (
            "mutation($input: CreateCompanyInput!) { createCompany(input: $input) { id } }",
            json!({ "input": { "organizationId": org, "name": "Side business" } }),
        ),
        (
            "mutation($input: UpdateCompanyInput!) { updateCompany(input: $input) { id } }",
            json!({ "input": { "id": company, "billingRateCents": 1 } }),
        ),
        (
            "mutation($input: UpdateCompanyInput!) { updateCompany(input: $input) { id } }",
            json!({ "input": { "id": cast.company_b.id.to_string(), "billingRateCents": 1 } }),
        ),
        (
            "mutation($input: CreateInboundNumberInput!) { createInboundNumber(input: $input) { id } }",
            json!({ "input": { "companyId": company, "number": "+14155550199" } }),
        ),
        (
            "mutation($input: UpdateInboundNumberInput!) { updateInboundNumber(input: $input) { id } }",
            json!({ "input": { "id": number_id, "label": "Mine now" } }),
        ),
        (
            "mutation($input: DeactivateInboundNumberInput!) { deactivateInboundNumber(input: $input) { id } }",
            json!({ "input": { "id": number_id } }),
        ),
        (
            "mutation($input: CreateCallRecordingInput!) { createCallRecording(input: $input) { id } }",
            json!({ "input": { "companyId": company, "callerNumber": "+14155550111",
                "startedAt": "2026-11-30T10:00:00Z", "durationSeconds": 60, "storageKey": "calls/1.wav" } }),
        ),
        (BECOME, become_vars(&them, REASON)),
    ];
    for (query, variables) in guarded {
        let before = rows(&app).await;
        let response = app.gql(Some(&acting), query, variables.clone()).await;
        assert_eq!(
            response.error_code(),
            "FORBIDDEN_WHILE_IMPERSONATING",
            "{query} {variables}: {}",
            response.body
        );
        assert_eq!(rows(&app).await, before, "{query} {variables} changed rows");
    }
    // The same operations still work for the admin in their own session (the refusals are the
    // impersonation's, not missing rights): one of them, as a witness.
    let own = app
        .gql(
            Some(&cast.admin_token),
            "mutation($input: UpdateCompanyInput!) { updateCompany(input: $input) { billingRateCents } }",
            json!({ "input": { "id": company, "billingRateCents": 1 } }),
        )
        .await;
    assert_eq!(own.data()["updateCompany"]["billingRateCents"], 1);
    // Nothing above signed the user in.
    assert_eq!(
        last_sign_in(&app, &cast.admin_token, cast.supervisor_a.id).await,
        signed_in_at
    );
    assert!(works(&app, &acting).await);
}

/// The console's own operations (`playground/operations/impersonation.graphql`, with the
/// `ViewerFields` fragment of `session.graphql`), sent by name as the console sends them.
async fn console_operation(app: &TestApp, token: &str, operation: &str, variables: Value) -> Value {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playground/operations");
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let document = format!(
        "{}\n{}",
        read(&dir.join("session.graphql")),
        read(&dir.join("impersonation.graphql"))
    );
    let response = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": document, "operationName": operation, "variables": variables }))
        .send()
        .await
        .expect("request sent");
    let body: Value = response.json().await.expect("JSON body");
    assert!(body["errors"].is_null(), "{operation}: {body}");
    body["data"].clone()
}

async fn the_console_operations_are_served(app: TestApp) {
    let cast = Cast::new(&app).await;
    let became = console_operation(
        &app,
        &cast.admin_token,
        "BecomeUser",
        become_vars(cast.customer_a.id, REASON),
    )
    .await;
    let viewer = &became["becomeUser"]["viewer"];
    assert_eq!(viewer["user"]["name"], "Cleo A");
    assert_eq!(viewer["impersonator"]["name"], "Ada Admin");
    assert_eq!(viewer["impersonation"]["reason"], REASON);
    let acting = became["becomeUser"]["token"].as_str().expect("token");
    let stopped = console_operation(&app, acting, "StopImpersonating", json!({})).await;
    assert_eq!(
        stopped["stopImpersonating"]["viewer"]["user"]["name"],
        "Ada Admin"
    );
    assert!(stopped["stopImpersonating"]["viewer"]["impersonation"].is_null());
}

on_both_backends!(
    the_console_operations_are_served,
    becoming_a_user_shows_exactly_their_view,
    refusals_change_nothing,
    changes_while_impersonating_are_the_users_marked_with_the_admin,
    stopping_returns_a_fresh_admin_session,
    a_user_signed_in_on_their_own_gains_nothing_from_stop,
    the_hard_limit_is_never_extended,
    an_impersonation_never_outlives_the_admin_session,
    the_impersonation_dies_with_either_side,
    account_security_and_admin_powers_are_out_of_reach,
);
