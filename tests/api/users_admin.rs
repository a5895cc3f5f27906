//! The admin guide's Users pages: browsing, creating, editing, deactivating, disabling 2FA.

use serde_json::{Value, json};

use crate::common::builders::{Cast, PASSWORD, UserBuilder, team};
use crate::common::{Backend, TestApp};
use crate::on_both_backends;

const USERS: &str = "query($filter: UserFilter, $first: Int, $after: String) { users(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name email role status companies { id name } teams { id name } memberships { role } } } } }";

fn names(response: &Value) -> Vec<String> {
    response["users"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["name"].as_str().expect("name").to_owned())
        .collect()
}

async fn admins_browse_with_filters_and_pages(app: TestApp) {
    let cast = Cast::new(&app).await;
    let sales = team(&app, cast.company_a.id, "Sales").await;
    crate::common::builders::add_team_member(&app, cast.customer_a.id, sales.id).await;

    let all = app.gql(Some(&cast.admin_token), USERS, json!({})).await;
    let data = all.data();
    assert_eq!(data["users"]["totalCount"], 4);
    assert_eq!(
        names(data),
        ["Ada Admin", "Cleo A", "Sam A", "Sid B"],
        "ordered by name"
    );
    let cleo = &data["users"]["edges"][1]["node"];
    assert_eq!(cleo["companies"][0]["name"], "Acme Calls");
    assert_eq!(cleo["teams"][0]["name"], "Sales");
    assert_eq!(cleo["memberships"][0]["role"], "CUSTOMER");

    for (filter, expected) in [
        (json!({ "role": "SUPERVISOR" }), vec!["Sam A", "Sid B"]),
        (
            json!({ "status": "ACTIVE", "companyId": cast.company_a.id.to_string() }),
            vec!["Cleo A", "Sam A"],
        ),
        (json!({ "teamId": sales.id.to_string() }), vec!["Cleo A"]),
        (json!({ "search": "SID" }), vec!["Sid B"]),
        (
            json!({ "search": cast.admin.email.to_uppercase() }),
            vec!["Ada Admin"],
        ),
        (json!({ "status": "INVITED" }), vec![]),
        (json!({ "search": "100%_" }), vec![]),
    ] {
        let response = app
            .gql(Some(&cast.admin_token), USERS, json!({ "filter": filter }))
            .await;
        assert_eq!(names(response.data()), expected, "filter {filter}");
        assert_eq!(
            response.data()["users"]["totalCount"],
            expected.len(),
            "filter {filter}"
        );
    }

    // Keyset pages: no gaps, no repeats.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let response = app
            .gql(
                Some(&cast.admin_token),
                USERS,
                json!({ "first": 3, "after": after }),
            )
            .await;
        let data = response.data();
        seen.extend(names(data));
        if data["users"]["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = data["users"]["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned);
    }
    assert_eq!(seen, ["Ada Admin", "Cleo A", "Sam A", "Sid B"]);

    let too_many = app
        .gql(Some(&cast.admin_token), USERS, json!({ "first": 101 }))
        .await;
    assert_eq!(too_many.error_code(), "BAD_USER_INPUT");
}

async fn supervisors_and_customers_see_their_companies_people(app: TestApp) {
    let cast = Cast::new(&app).await;
    for token in [&cast.supervisor_a_token, &cast.customer_a_token] {
        let response = app.gql(Some(token), USERS, json!({})).await;
        assert_eq!(names(response.data()), ["Cleo A", "Sam A"]);
        assert_eq!(
            response.data()["users"]["totalCount"],
            2,
            "no leaked counts"
        );
    }
    let other = app
        .gql(
            Some(&cast.supervisor_a_token),
            "query($id: ID!) { user(id: $id) { id } }",
            json!({ "id": cast.supervisor_b.id.to_string() }),
        )
        .await;
    assert_eq!(other.error_code(), "NOT_FOUND");
    let other_company = app
        .gql(
            Some(&cast.supervisor_a_token),
            USERS,
            json!({ "filter": { "companyId": cast.company_b.id.to_string() } }),
        )
        .await;
    assert_eq!(other_company.error_code(), "NOT_FOUND");
    let anonymous = app.gql(None, USERS, json!({})).await;
    assert_eq!(anonymous.error_code(), "UNAUTHENTICATED");
}

async fn a_page_costs_the_same_statements_whatever_its_size(mut app: TestApp) {
    app.stop_mail_worker().await;
    let cast = Cast::new(&app).await;
    let company = cast.company_a.id.0;
    let sales = team(&app, cast.company_a.id, "Sales").await;
    let series = match app.backend {
        Backend::Postgres => "SELECT g AS n FROM generate_series(1, 10000) g",
        Backend::Sqlite => {
            "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 10000) SELECT n FROM s"
        }
    };
    app.sql(&format!(
        "INSERT INTO users (name, email, role, activated_at, created_at, updated_at) \
         SELECT 'Seeded ' || n, 'seeded' || n || '@example.com', 'CUSTOMER', '2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00' FROM ({series}) AS seq"
    ))
    .await
    .expect("seed users");
    app.sql(&format!(
        "INSERT INTO company_memberships (user_id, company_id, role, created_at, updated_at) \
         SELECT id, {company}, 'CUSTOMER', '2026-01-01 00:00:00', '2026-01-01 00:00:00' FROM users WHERE email LIKE 'seeded%'"
    ))
    .await
    .expect("seed memberships");
    app.sql(&format!(
        "INSERT INTO team_memberships (user_id, team_id, created_at) \
         SELECT id, {}, '2026-01-01 00:00:00' FROM users WHERE email LIKE 'seeded%'",
        sales.id
    ))
    .await
    .expect("seed teams");

    let mut costs = Vec::new();
    for first in [5, 100] {
        // Liveness checks depend on how long the connection sat idle (the pool's alive-bypass
        // window), not on the page: left out, as statement_budgets.rs does.
        let before = app.app.db.statements_executed() - app.app.db.liveness_checks();
        let response = app
            .gql(
                Some(&cast.admin_token),
                USERS,
                json!({ "first": first, "filter": { "companyId": company.to_string(), "search": "seeded" } }),
            )
            .await;
        let data = response.data();
        assert_eq!(data["users"]["edges"].as_array().map(Vec::len), Some(first));
        assert_eq!(data["users"]["totalCount"], 10_000);
        assert_eq!(
            data["users"]["edges"][0]["node"]["teams"][0]["name"],
            "Sales"
        );
        costs.push(app.app.db.statements_executed() - app.app.db.liveness_checks() - before);
    }
    assert_eq!(
        costs[0], costs[1],
        "statements for 5 rows and for 100 rows: {costs:?}"
    );
    // Session lookup, page, count, memberships, team memberships, companies, teams, and the
    // pool's liveness check on each connection checkout.
    assert!(
        costs[1] <= 16,
        "a page costs a handful of statements, not one per row: {costs:?}"
    );
}

async fn editing_a_user(app: TestApp) {
    let cast = Cast::new(&app).await;
    let update = "mutation($input: UpdateUserInput!) { updateUser(input: $input) { id name email role version } }";
    let cleo = cast.customer_a.id.to_string();

    let renamed = app
        .gql(
            Some(&cast.admin_token),
            update,
            json!({ "input": { "id": cleo, "name": "Cleo Alpha", "role": "SUPERVISOR" } }),
        )
        .await;
    assert_eq!(renamed.data()["updateUser"]["role"], "SUPERVISOR");
    let version = renamed.data()["updateUser"]["version"]
        .as_i64()
        .expect("version");
    // The role change applies on the user's very next request.
    let viewer = app
        .gql(
            Some(&cast.customer_a_token),
            "{ viewer { user { role } } }",
            json!({}),
        )
        .await;
    assert_eq!(viewer.data()["viewer"]["user"]["role"], "SUPERVISOR");

    let stale = app
        .gql(
            Some(&cast.admin_token),
            update,
            json!({ "input": { "id": cleo, "name": "Stale", "expectedVersion": version - 1 } }),
        )
        .await;
    assert_eq!(stale.error_code(), "CONFLICT");

    let own_role = app
        .gql(
            Some(&cast.admin_token),
            update,
            json!({ "input": { "id": cast.admin.id.to_string(), "role": "CUSTOMER" } }),
        )
        .await;
    assert_eq!(own_role.error_code(), "FORBIDDEN");
    let by_supervisor = app
        .gql(
            Some(&cast.supervisor_a_token),
            update,
            json!({ "input": { "id": cleo, "name": "Nope" } }),
        )
        .await;
    assert_eq!(by_supervisor.error_code(), "FORBIDDEN");

    // Own name: fine. Own email: only with the current password.
    let own_name = app
        .gql(
            Some(&cast.supervisor_a_token),
            update,
            json!({ "input": { "id": cast.supervisor_a.id.to_string(), "name": "Sam Alpha" } }),
        )
        .await;
    assert_eq!(own_name.data()["updateUser"]["name"], "Sam Alpha");
    let own_email = app
        .gql(Some(&cast.supervisor_a_token), update, json!({ "input": { "id": cast.supervisor_a.id.to_string(), "email": "sam@new.example.com" } }))
        .await;
    assert_eq!(own_email.error_code(), "BAD_USER_INPUT");
    assert_eq!(own_email.error_field(), Some("currentPassword"));
    let own_email = app
        .gql(
            Some(&cast.supervisor_a_token),
            update,
            json!({ "input": { "id": cast.supervisor_a.id.to_string(), "email": "sam@new.example.com", "currentPassword": PASSWORD } }),
        )
        .await;
    // It applies once the new address confirms (tests/api/email_change.rs).
    assert_eq!(
        own_email.data()["updateUser"]["email"],
        cast.supervisor_a.email
    );

    let taken = app
        .gql(
            Some(&cast.admin_token),
            update,
            json!({ "input": { "id": cleo, "email": cast.supervisor_a.email.to_uppercase() } }),
        )
        .await;
    assert_eq!(
        taken.error_code(),
        "CONFLICT",
        "email unique case-insensitively"
    );
    let invalid = app
        .gql(
            Some(&cast.admin_token),
            update,
            json!({ "input": { "id": cleo, "email": "not-an-email" } }),
        )
        .await;
    assert_eq!(invalid.error_code(), "BAD_USER_INPUT");
}

async fn creating_users_by_role(app: TestApp) {
    let cast = Cast::new(&app).await;
    let create =
        "mutation($input: CreateUserInput!) { createUser(input: $input) { id role status } }";
    let into = |company: &portal_admin::db::models::Company, role: &str| json!([{ "companyId": company.id.to_string(), "role": role }]);

    let ok = app
        .gql(Some(&cast.supervisor_a_token), create, json!({ "input": { "name": "Cust", "email": "cust@example.com", "role": "CUSTOMER", "memberships": into(&cast.company_a, "CUSTOMER") } }))
        .await;
    assert_eq!(ok.data()["createUser"]["status"], "INVITED");
    // Supervisors invite supervisors into their own companies too, never admins.
    let colleague = app
        .gql(Some(&cast.supervisor_a_token), create, json!({ "input": { "name": "Sup", "email": "sup@example.com", "role": "SUPERVISOR", "memberships": into(&cast.company_a, "SUPERVISOR") } }))
        .await;
    assert_eq!(colleague.data()["createUser"]["role"], "SUPERVISOR");
    for (token, input, code) in [
        (
            &cast.supervisor_a_token,
            json!({ "name": "S", "email": "s1@example.com", "role": "ADMIN", "memberships": into(&cast.company_a, "SUPERVISOR") }),
            "FORBIDDEN",
        ),
        (
            &cast.supervisor_a_token,
            json!({ "name": "S", "email": "s7@example.com", "role": "SUPERVISOR", "memberships": into(&cast.company_b, "SUPERVISOR") }),
            "NOT_FOUND",
        ),
        (
            &cast.supervisor_a_token,
            json!({ "name": "S", "email": "s2@example.com", "role": "CUSTOMER", "memberships": into(&cast.company_b, "CUSTOMER") }),
            "NOT_FOUND",
        ),
        (
            &cast.supervisor_a_token,
            json!({ "name": "S", "email": "s3@example.com", "role": "CUSTOMER" }),
            "BAD_USER_INPUT",
        ),
        (
            &cast.customer_a_token,
            json!({ "name": "S", "email": "s4@example.com", "role": "CUSTOMER", "memberships": into(&cast.company_a, "CUSTOMER") }),
            "FORBIDDEN",
        ),
        (
            &cast.admin_token,
            json!({ "name": "S", "email": "CUST@example.com", "role": "CUSTOMER" }),
            "CONFLICT",
        ),
        (
            &cast.admin_token,
            json!({ "name": "", "email": "s5@example.com", "role": "CUSTOMER" }),
            "BAD_USER_INPUT",
        ),
        (
            &cast.admin_token,
            json!({ "name": "S", "email": "s6@example.com", "role": "CUSTOMER", "memberships": into(&cast.company_a, "SUPERVISOR") }),
            "BAD_USER_INPUT",
        ),
    ] {
        let before = app
            .gql(
                Some(&cast.admin_token),
                "{ users { totalCount } }",
                json!({}),
            )
            .await;
        let refused = app
            .gql(Some(token), create, json!({ "input": input }))
            .await;
        assert_eq!(refused.error_code(), code, "{input}");
        let after = app
            .gql(
                Some(&cast.admin_token),
                "{ users { totalCount } }",
                json!({}),
            )
            .await;
        assert_eq!(before.data(), after.data(), "nothing created for {input}");
    }
}

async fn discarding_ends_access_at_once(app: TestApp) {
    let cast = Cast::new(&app).await;
    let id = cast.customer_a.id.to_string();
    let by_supervisor = app
        .gql(
            Some(&cast.supervisor_a_token),
            "mutation($id: ID!) { discardUser(userId: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(by_supervisor.error_code(), "FORBIDDEN");

    let discarded = app
        .gql(
            Some(&cast.admin_token),
            "mutation($id: ID!) { discardUser(userId: $id) { status discardedAt } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(discarded.data()["discardUser"]["status"], "DISCARDED");
    let next = app
        .gql(
            Some(&cast.customer_a_token),
            "{ viewer { user { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(next.error_code(), "UNAUTHENTICATED");
    let sign_in = app
        .gql(None, "mutation($e: String!, $p: String!) { signIn(input: {email: $e, password: $p}) { token } }", json!({ "e": cast.customer_a.email, "p": PASSWORD }))
        .await;
    assert_eq!(sign_in.error_code(), "INVALID_CREDENTIALS");
    // The record and memberships are kept.
    let kept = app
        .gql(
            Some(&cast.admin_token),
            "query($id: ID!) { user(id: $id) { companies { id } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        kept.data()["user"]["companies"][0]["id"],
        cast.company_a.id.to_string()
    );

    let restored = app
        .gql(
            Some(&cast.admin_token),
            "mutation($id: ID!) { undiscardUser(userId: $id) { status } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(restored.data()["undiscardUser"]["status"], "ACTIVE");
    app.sign_in(&cast.customer_a.email, PASSWORD).await;
    let myself = app
        .gql(
            Some(&cast.admin_token),
            "mutation($id: ID!) { discardUser(userId: $id) { id } }",
            json!({ "id": cast.admin.id.to_string() }),
        )
        .await;
    assert_eq!(myself.error_code(), "FORBIDDEN");
}

async fn disabling_two_factor_for_a_locked_out_user(app: TestApp) {
    let cast = Cast::new(&app).await;
    app.enable_two_factor(&cast.customer_a_token).await;
    let disable = "mutation($input: DisableTwoFactorInput!) { disableTwoFactor(input: $input) { twoFactorEnabled } }";
    let id = cast.customer_a.id.to_string();
    let no_reason = app
        .gql(
            Some(&cast.admin_token),
            disable,
            json!({ "input": { "userId": id, "reason": "  " } }),
        )
        .await;
    assert_eq!(no_reason.error_code(), "BAD_USER_INPUT");
    let supervisor = app
        .gql(
            Some(&cast.supervisor_a_token),
            disable,
            json!({ "input": { "userId": id, "reason": "ticket 7" } }),
        )
        .await;
    assert_eq!(supervisor.error_code(), "FORBIDDEN");

    let done = app.gql(Some(&cast.admin_token), disable, json!({ "input": { "userId": id, "reason": "ticket 7: lost phone, identity checked by call-back", "currentPassword": PASSWORD } })).await;
    assert_eq!(done.data()["disableTwoFactor"]["twoFactorEnabled"], false);
    let session = app
        .gql(
            Some(&cast.customer_a_token),
            "{ viewer { user { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        session.error_code(),
        "UNAUTHENTICATED",
        "the user's sessions ended"
    );
    app.sign_in(&cast.customer_a.email, PASSWORD).await;

    let mut conn = app.app.db.conn().await.expect("conn");
    let events = portal_admin::db::audit::history(
        &mut conn,
        portal_admin::domain::AuditRecordType::User,
        cast.customer_a.id.0,
        None,
        10,
    )
    .await
    .expect("history");
    let disabled = events
        .iter()
        .find(|e| e.action.as_str() == "TWO_FACTOR_DISABLED")
        .expect("audited");
    assert_eq!(
        disabled.reason.as_deref(),
        Some("ticket 7: lost phone, identity checked by call-back")
    );
    assert_eq!(disabled.actor_id, Some(cast.admin.id));
    let again = app
        .gql(
            Some(&cast.admin_token),
            disable,
            json!({ "input": { "userId": id, "reason": "again" } }),
        )
        .await;
    assert_eq!(again.error_code(), "CONFLICT");
    let _ = UserBuilder::admin();
}

on_both_backends!(
    admins_browse_with_filters_and_pages,
    supervisors_and_customers_see_their_companies_people,
    a_page_costs_the_same_statements_whatever_its_size,
    editing_a_user,
    creating_users_by_role,
    discarding_ends_access_at_once,
    disabling_two_factor_for_a_locked_out_user,
);
