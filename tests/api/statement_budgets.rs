//! What one request costs the database, pinned: statements (deterministic, so asserted
//! exactly) and pool checkouts, measured around a single HTTP request on both backends.
//! Speeds are not tested here; they belong to `bench/`.

use serde_json::{Value, json};

use crate::common::audit_trail::EVENT_FIELDS;
use crate::common::builders::Cast;
use crate::common::{Gql, TestApp};
use crate::on_both_backends;

/// The cost of one request. PostgreSQL liveness checks (a `SELECT 1` on a pooled connection
/// idle longer than the alive-bypass window) depend on timing, so they are counted apart.
#[derive(Debug)]
struct Cost {
    statements: u64,
    checkouts: u64,
    liveness_checks: u64,
}

impl Cost {
    /// The request's own statements.
    fn request_statements(&self) -> u64 {
        self.statements - self.liveness_checks
    }
}

/// Sends one GraphQL request and measures it. The app's mail worker must be stopped (it polls).
async fn measure(app: &TestApp, token: &str, query: &str, variables: Value) -> (Gql, Cost) {
    let db = &app.app.db;
    let (statements, checkouts, checks) = (
        db.statements_executed(),
        db.checkouts().total,
        db.liveness_checks(),
    );
    let response = app.gql(Some(token), query, variables).await;
    let cost = Cost {
        statements: db.statements_executed() - statements,
        checkouts: db.checkouts().total - checkouts,
        liveness_checks: db.liveness_checks() - checks,
    };
    assert!(
        cost.liveness_checks <= cost.checkouts,
        "at most one check per checkout: {cost:?}"
    );
    (response, cost)
}

/// `auditEvents(filter: {field: "billing*"})`, 20 events with changes and actors.
const AUDIT_EVENTS_PAGE: u64 = 3;

/// `users(first: 50)` with memberships and companies (budget 5; see `users_page_is_pinned`).
const USERS_PAGE: u64 = 4;

async fn quiet_cast(mut app: TestApp) -> (TestApp, Cast) {
    app.stop_mail_worker().await;
    let cast = Cast::new(&app).await;
    (app, cast)
}

/// `viewer` is one statement (session, user and company ids in one read) on one checkout.
async fn viewer_costs_one_statement_and_one_checkout(app: TestApp) {
    let (app, cast) = quiet_cast(app).await;
    for token in [&cast.admin_token, &cast.supervisor_a_token] {
        let (response, cost) = measure(
            &app,
            token,
            "{ viewer { user { id name role } sessionExpiresAt } }",
            json!({}),
        )
        .await;
        response.data();
        assert_eq!(cost.request_statements(), 1, "{cost:?}");
        assert_eq!(cost.checkouts, 1, "{cost:?}");
    }
    // The user row came with the same read.
    let (response, _) = measure(
        &app,
        &cast.supervisor_a_token,
        "{ viewer { user { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        response.data()["viewer"]["user"]["id"],
        cast.supervisor_a.id.to_string()
    );
}

/// One user by id: authentication plus the user, on one checkout.
async fn user_by_id_costs_two_statements(app: TestApp) {
    let (app, cast) = quiet_cast(app).await;
    let (response, cost) = measure(
        &app,
        &cast.admin_token,
        "query($id: ID!) { user(id: $id) { id name email role status } }",
        json!({ "id": cast.customer_a.id.to_string() }),
    )
    .await;
    assert_eq!(response.data()["user"]["name"], "Cleo A");
    assert_eq!(cost.request_statements(), 2, "{cost:?}");
    assert_eq!(cost.checkouts, 1, "{cost:?}");
}

/// A History page and an `auditEvents` page, with their changes and actors, on one checkout,
/// within the budget of 3: History is authentication, the record itself, and the page (its
/// changes and people read in the same statement); `auditEvents` by a field prefix is
/// authentication, the keys of every matching field in one statement, and the page.
async fn history_and_audit_pages_are_pinned(app: TestApp) {
    let (app, cast) = quiet_cast(app).await;
    for rate in [1100, 1200, 1300] {
        app.gql(
            Some(&cast.admin_token),
            "mutation($input: UpdateCompanyInput!) { updateCompany(input: $input) { id } }",
            json!({ "input": { "id": cast.company_a.id.to_string(), "billingRateCents": rate } }),
        )
        .await
        .data();
    }
    let history = format!(
        "query($id: ID!) {{ company(id: $id) {{ history(first: 20) {{ edges {{ node {{ {EVENT_FIELDS} }} }} }} }} }}"
    );
    let (response, cost) = measure(
        &app,
        &cast.admin_token,
        &history,
        json!({ "id": cast.company_a.id.to_string() }),
    )
    .await;
    let edges = response.data()["company"]["history"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(edges.len() >= 3, "{edges:?}");
    assert_eq!(cost.request_statements(), 3, "{cost:?}");
    assert_eq!(cost.checkouts, 1, "{cost:?}");

    let events = format!(
        "query {{ auditEvents(first: 20, filter: {{ field: \"billing*\" }}) {{ edges {{ node {{ {EVENT_FIELDS} }} }} }} }}"
    );
    let (response, cost) = measure(&app, &cast.admin_token, &events, json!({})).await;
    let edges = response.data()["auditEvents"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // The three updates and the two companies' creation (which set the rate).
    assert_eq!(edges.len(), 5, "{edges:?}");
    assert_eq!(cost.request_statements(), AUDIT_EVENTS_PAGE, "{cost:?}");
    assert_eq!(cost.checkouts, 1, "{cost:?}");

    // Without a field filter the page is one statement after authentication.
    let events = format!(
        "query {{ auditEvents(first: 20, filter: {{ recordType: COMPANY }}) {{ edges {{ node {{ {EVENT_FIELDS} }} }} }} }}"
    );
    let (response, cost) = measure(&app, &cast.admin_token, &events, json!({})).await;
    let edges = response.data()["auditEvents"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(edges.len() >= 5, "{edges:?}");
    assert!(
        edges.iter().any(|e| e["node"]["changes"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
            && e["node"]["actor"]["name"]
                .as_str()
                .is_some_and(|n| !n.is_empty())),
        "changes and actors come with the page: {edges:?}"
    );
    assert_eq!(cost.request_statements(), 2, "{cost:?}");
    assert_eq!(cost.checkouts, 1, "{cost:?}");
}

/// An audited single-record update, on one checkout (authentication's connection carries the
/// write transaction): authentication, then BEGIN, SELECT … FOR UPDATE (the row the diff and
/// the version check are made against), one UPDATE … RETURNING that sets the fields and bumps
/// the version, the audit rows, COMMIT. On PostgreSQL the event, its changes and its refs are
/// one statement (5 round trips in the transaction; the budget is 6). On SQLite, where a
/// statement is a call on the connection's own thread with no network between, they are
/// three: the event, its changes (one multi-row INSERT however many fields changed), its refs.
/// A change of several fields costs the same as one.
async fn an_audited_update_is_pinned(app: TestApp) {
    let (app, cast) = quiet_cast(app).await;
    let pinned = match app.backend {
        crate::common::Backend::Postgres => 6,
        crate::common::Backend::Sqlite => 8,
    };
    let update = "mutation($input: UpdateCompanyInput!) { updateCompany(input: $input) { id billingRateCents timezone version } }";
    let (response, cost) = measure(
        &app,
        &cast.admin_token,
        update,
        json!({ "input": { "id": cast.company_a.id.to_string(), "billingRateCents": 4321 } }),
    )
    .await;
    let company = &response.data()["updateCompany"];
    assert_eq!(company["billingRateCents"], 4321);
    let version = company["version"].as_i64().unwrap_or_default();
    assert_eq!(cost.request_statements(), pinned, "{cost:?}");
    assert_eq!(cost.checkouts, 1, "{cost:?}");

    let (response, cost) = measure(
        &app,
        &cast.admin_token,
        update,
        json!({ "input": {
            "id": cast.company_a.id.to_string(),
            "billingRateCents": 4322,
            "timezone": "Europe/Paris",
            "billingPlan": "per-minute-2027",
            "expectedVersion": version,
        } }),
    )
    .await;
    let company = &response.data()["updateCompany"];
    assert_eq!(company["timezone"], "Europe/Paris");
    assert_eq!(company["version"].as_i64(), Some(version + 1));
    assert_eq!(cost.request_statements(), pinned, "three fields: {cost:?}");
    assert_eq!(cost.checkouts, 1, "{cost:?}");

    // The three changes landed on one event, in the record's field order.
    let history = app
        .gql(
            Some(&cast.admin_token),
            "query($id: ID!) { company(id: $id) { history(first: 1) { edges { node { action changes { field before after } } } } } }",
            json!({ "id": cast.company_a.id.to_string() }),
        )
        .await;
    let node = &history.data()["company"]["history"]["edges"][0]["node"];
    assert_eq!(node["action"], "UPDATE");
    let fields: Vec<&str> = node["changes"]
        .as_array()
        .map(|changes| changes.iter().filter_map(|c| c["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        fields,
        ["billingRateCents", "billingPlan", "timezone"],
        "{node}"
    );
    assert_eq!(node["changes"][0]["before"], "4321");
    assert_eq!(node["changes"][0]["after"], "4322");
    assert_eq!(node["changes"][2]["after"], "Europe/Paris");
}

on_both_backends!(
    viewer_costs_one_statement_and_one_checkout,
    user_by_id_costs_two_statements,
    history_and_audit_pages_are_pinned,
    an_audited_update_is_pinned,
    lists_count_only_when_total_count_is_selected,
    users_page_is_pinned,
);

/// The first users page of 50 with memberships and companies, no `totalCount`, on one
/// checkout: 4 statements (the budget of issue 11 is 5): authentication, the page, the company
/// memberships of the page's users and their companies. Teams are read only when selected, and
/// `CompanyMembership.company` uses the companies the page read. With `teams` selected: 6.
async fn users_page_is_pinned(app: TestApp) {
    let (app, cast) = quiet_cast(app).await;
    let query = "{ users(first: 50) { edges { node { id name memberships { role company { id name } } } } } }";
    let (response, cost) = measure(&app, &cast.admin_token, query, json!({})).await;
    let edges = response.data()["users"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(edges.len() > 1, "{edges:?}");
    let sam = edges
        .iter()
        .find(|e| e["node"]["id"] == cast.supervisor_a.id.to_string())
        .expect("the supervisor is on the page");
    assert_eq!(
        sam["node"]["memberships"][0]["company"]["name"],
        cast.company_a.name.as_str(),
        "the membership's company came from the page's read"
    );
    assert_eq!(cost.request_statements(), USERS_PAGE, "{cost:?}");
    assert_eq!(cost.checkouts, 1, "{cost:?}");

    // Teams cost their two reads only when asked for.
    let with_teams = "{ users(first: 50) { edges { node { id teams { id name } memberships { role company { id name } } } } } }";
    let (response, cost) = measure(&app, &cast.admin_token, with_teams, json!({})).await;
    assert!(response.data()["users"]["edges"].is_array());
    assert_eq!(cost.request_statements(), USERS_PAGE + 2, "{cost:?}");
}

/// No `COUNT(*)` unless `totalCount` is selected: every list costs exactly one statement more
/// with it than without, and answers the right total when asked.
async fn lists_count_only_when_total_count_is_selected(app: TestApp) {
    let (app, cast) = quiet_cast(app).await;
    let members = format!(
        "company(id: \"{}\") {{ members(first: 50) {{ TOTAL edges {{ node {{ id role }} }} }} }}",
        cast.company_a.id
    );
    let lists = [
        (
            "users",
            "users(first: 50) { TOTAL edges { node { id name memberships { role company { id name } } } } }",
        ),
        (
            "companies",
            "companies(first: 50) { TOTAL edges { node { id name } } }",
        ),
        (
            "organizations",
            "organizations(first: 50) { TOTAL edges { node { id name } } }",
        ),
        ("members", members.as_str()),
        (
            "auditEvents",
            "auditEvents(first: 20) { TOTAL edges { node { id action } } }",
        ),
    ];
    for (name, selection) in lists {
        let costs: Vec<(u64, Value)> = {
            let mut costs = Vec::new();
            for total in ["", "totalCount"] {
                let query = format!("{{ {} }}", selection.replace("TOTAL", total));
                let (response, cost) = measure(&app, &cast.admin_token, &query, json!({})).await;
                let data = response.data();
                let list = if name == "members" {
                    data["company"]["members"].clone()
                } else {
                    data[name].clone()
                };
                assert!(
                    !list["edges"].as_array().is_none_or(Vec::is_empty),
                    "{name}: {data}"
                );
                assert_eq!(cost.checkouts, 1, "{name}: {cost:?}");
                costs.push((cost.request_statements(), list["totalCount"].clone()));
            }
            costs
        };
        let (without, with) = (&costs[0], &costs[1]);
        assert_eq!(with.0, without.0 + 1, "{name}: {costs:?}");
        assert!(without.1.is_null(), "{name}: {costs:?}");
        assert!(with.1.as_i64().is_some_and(|n| n > 0), "{name}: {costs:?}");
    }
}

/// The database restarts between two requests (every pooled connection is terminated by the
/// server, as a restart or failover does): the pool's liveness check, run on a connection idle
/// longer than the alive-bypass window, finds each one dead and replaces it, so the next
/// request succeeds. Terminates only this test's own database connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_between_two_requests_is_survived() {
    let Some(mut app) = TestApp::spawn_postgres().await else {
        return;
    };
    app.stop_mail_worker().await;
    let cast = Cast::new(&app).await;
    let query = "{ viewer { user { id } } }";
    let (first, _) = measure(&app, &cast.admin_token, query, json!({})).await;
    assert_eq!(
        first.data()["viewer"]["user"]["id"],
        cast.admin.id.to_string()
    );

    let url = app.app.config.database_url.expose();
    let name = url::Url::parse(&url)
        .expect("database url")
        .path()
        .trim_start_matches('/')
        .to_owned();
    let admin_url = crate::common::replace_database(&url, "postgres");
    crate::common::postgres_admin(
        &admin_url,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ),
    )
    .await;
    tokio::time::sleep(
        portal_admin::db::PG_ALIVE_BYPASS_WINDOW + std::time::Duration::from_millis(100),
    )
    .await;

    let (second, cost) = measure(&app, &cast.admin_token, query, json!({})).await;
    assert_eq!(
        second.data()["viewer"]["user"]["id"],
        cast.admin.id.to_string()
    );
    // The dead connection was discarded at checkout (the driver saw its socket close, or the
    // liveness check failed on it) and a fresh one served the whole request.
    assert_eq!(cost.request_statements(), 1, "{cost:?}");
    assert_eq!(cost.checkouts, 1, "{cost:?}");
}
