//! Every list's order is served by an index (migration `2026-12-03-000500_list_order_indexes`),
//! proved on the planner's own plan of the exact SQL diesel generates for the page (the
//! `explain_*` functions wrap the same query builder as the page functions, binds included):
//! PostgreSQL `EXPLAIN (FORMAT JSON)` after seeding thousands of rows and `ANALYZE` (no
//! `enable_seqscan` override), SQLite `EXPLAIN QUERY PLAN`. Deterministic: no timing.

use portal_admin::db::explain::QueryPlan;
use portal_admin::db::models::users::{UserKey, UserOrder, UserQuery};
use portal_admin::db::models::{CompanyScope, companies, memberships, users};
use portal_admin::domain::{CompanyId, OrganizationId, UserId, UserSortField};
use serde_json::Value;

use crate::common::{Backend, TestApp};
use crate::on_both_backends;

const TS: &str = "'2026-01-01 00:00:00'";

/// Rows numbered `from..=to` of a recursive CTE (set-based, the same SQL on both backends).
fn numbers(from: i64, to: i64) -> String {
    format!("WITH RECURSIVE s(n) AS (SELECT {from} UNION ALL SELECT n + 1 FROM s WHERE n < {to}) ")
}

/// 10 organizations and 2,000 companies (200 per organization).
async fn seed_companies(app: &TestApp) {
    let sql = format!(
        "{orgs}INSERT INTO organizations (name, created_at, updated_at) \
           SELECT 'Org ' || n, {TS}, {TS} FROM s;\n\
         {companies}INSERT INTO companies (organization_id, name, created_at, updated_at) \
           SELECT (SELECT min(id) FROM organizations) + n % 10, 'Company ' || n, {TS}, {TS} FROM s;",
        orgs = numbers(1, 10),
        companies = numbers(1, 2000),
    );
    app.sql(&sql).await.expect("seed companies");
}

/// Users numbered `from..=to` (names in mixed case, so the order is case-insensitive work),
/// each a member of one of the first 50 companies (200 members each at 10,000 users, 2 % of
/// the memberships). Then `ANALYZE` on PostgreSQL, as autovacuum would.
async fn seed_users(app: &TestApp, from: i64, to: i64) {
    let sql = format!(
        "{users}INSERT INTO users (name, email, role, created_at, updated_at) \
           SELECT CASE WHEN n % 2 = 0 THEN 'user ' ELSE 'User ' END || n, \
                  'seed' || n || '@example.test', 'CUSTOMER', {TS}, {TS} FROM s;\n\
         UPDATE users SET last_sign_in_at = {TS} WHERE email LIKE 'seed%' AND id % 3 <> 0;\n\
         INSERT INTO company_memberships (user_id, company_id, role, created_at, updated_at) \
           SELECT u.id, (SELECT min(id) FROM companies) + u.id % 50, \
                  'CUSTOMER', {TS}, {TS} \
           FROM users u WHERE u.email LIKE 'seed%' \
             AND NOT EXISTS (SELECT 1 FROM company_memberships m WHERE m.user_id = u.id);",
        users = numbers(from, to),
    );
    app.sql(&sql).await.expect("seed users");
    if app.backend == Backend::Postgres {
        app.sql("ANALYZE").await.expect("analyze");
    }
}

/// One plan node: its type and, for index scans, the index and its condition.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    node_type: String,
    index: Option<String>,
    relation: Option<String>,
    has_index_cond: bool,
}

fn pg_nodes(plan: &Value, out: &mut Vec<Node>) {
    let text = |k: &str| plan.get(k).and_then(Value::as_str).map(str::to_owned);
    out.push(Node {
        node_type: text("Node Type").unwrap_or_default(),
        index: text("Index Name"),
        relation: text("Relation Name"),
        has_index_cond: plan.get("Index Cond").is_some(),
    });
    for child in plan
        .get("Plans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        pg_nodes(child, out);
    }
}

/// The plan's nodes, top down (PostgreSQL).
fn nodes(plan: &QueryPlan) -> Vec<Node> {
    let doc: Value = serde_json::from_str(&plan.plan)
        .unwrap_or_else(|e| panic!("EXPLAIN JSON: {e}: {}", plan.plan));
    let mut out = Vec::new();
    pg_nodes(&doc[0]["Plan"], &mut out);
    out
}

/// The page is read in order from `index` with no sort and no sequential scan of `table`;
/// with `ranged`, the index scan starts from an index condition (the cursor), not the start.
fn assert_served_by(app: &TestApp, plan: &QueryPlan, table: &str, index: &str, ranged: bool) {
    match app.backend {
        Backend::Postgres => {
            let nodes = nodes(plan);
            // `a|b`: either index serves the order (the planner picks by its statistics).
            let scan = nodes
                .iter()
                .find(|n| {
                    n.index
                        .as_deref()
                        .is_some_and(|i| index.split('|').any(|x| x == i))
                })
                .unwrap_or_else(|| panic!("no scan of {index}: {nodes:?}\n{}", plan.sql));
            assert!(
                matches!(scan.node_type.as_str(), "Index Scan" | "Index Only Scan"),
                "{index} read in order: {nodes:?}"
            );
            assert!(
                !ranged || scan.has_index_cond,
                "{index} scanned from the cursor: {nodes:?}\n{}",
                plan.sql
            );
            assert!(
                !nodes
                    .iter()
                    .any(|n| n.node_type.contains("Sort") || n.node_type.contains("Bitmap")),
                "no sort: {nodes:?}\n{}",
                plan.sql
            );
            assert!(
                !nodes
                    .iter()
                    .any(|n| n.node_type == "Seq Scan" && n.relation.as_deref() == Some(table)),
                "no sequential scan of {table}: {nodes:?}"
            );
        }
        Backend::Sqlite => {
            let index = index.split('|').next().unwrap_or(index);
            assert!(
                plan.plan.contains(&format!("USING INDEX {index}"))
                    || plan.plan.contains(&format!("USING COVERING INDEX {index}")),
                "{index}: {}\n{}",
                plan.plan,
                plan.sql
            );
            assert!(
                !plan.plan.contains("TEMP B-TREE"),
                "no sort: {}\n{}",
                plan.plan,
                plan.sql
            );
            assert!(
                !ranged
                    || plan.plan.lines().any(
                        |l| l.starts_with("SEARCH ") && l.contains(&format!("INDEX {index} ("))
                    ),
                "{index} searched from the cursor: {}",
                plan.plan
            );
        }
    }
}

async fn users_page_plan(app: &TestApp, after: Option<UserKey>) -> QueryPlan {
    let mut plans = users_page_plans(app, UserOrder::default(), after).await;
    assert_eq!(plans.len(), 1, "the name order is one statement");
    plans.remove(0)
}

async fn users_page_plans(
    app: &TestApp,
    order: UserOrder,
    after: Option<UserKey>,
) -> Vec<QueryPlan> {
    let mut conn = app.app.db.conn().await.expect("conn");
    users::explain_page(&mut conn, &UserQuery::default(), order, after, 51)
        .await
        .expect("explain users page")
}

/// A page after the cursor of user 5,001 (deep in the list).
fn deep_cursor() -> Option<UserKey> {
    Some(UserKey::Name("user 5001".to_owned(), UserId(5001)))
}

/// The users page (first page and a page after a cursor), a company's members and companies
/// (all, and within an organization) are each read in order from their index, with no sort.
async fn list_pages_are_served_by_their_indexes(app: TestApp) {
    seed_companies(&app).await;
    seed_users(&app, 1, 10_000).await;

    let plan = users_page_plan(&app, None).await;
    assert!(
        plan.sql.contains("ORDER BY lower(") && plan.sql.contains("LIMIT"),
        "{}",
        plan.sql
    );
    assert_served_by(&app, &plan, "users", "users_lower_name_id_idx", false);
    let plan = users_page_plan(&app, deep_cursor()).await;
    assert_served_by(&app, &plan, "users", "users_lower_name_id_idx", true);

    let mut conn = app.app.db.conn().await.expect("conn");
    let first_company: i64 = 1;
    let plan = memberships::explain_company_page(&mut conn, CompanyId(first_company), None, 51)
        .await
        .expect("explain members");
    assert_served_by(
        &app,
        &plan,
        "company_memberships",
        // PostgreSQL may walk the primary key instead (filtering on the company) when the
        // company is a large share of the table: also in id order, with no sort.
        "company_memberships_company_id_idx|company_memberships_pkey",
        true,
    );

    let filter = companies::CompanyFilter {
        organization_id: Some(OrganizationId(1)),
        search: None,
    };
    let plan = companies::explain_page(&mut conn, CompanyScope::All, filter, None, 51)
        .await
        .expect("explain companies");
    assert_served_by(
        &app,
        &plan,
        "companies",
        // As above: 10 % of the companies, so PostgreSQL may walk the primary key instead.
        "companies_organization_id_idx|companies_pkey",
        true,
    );
    // All companies, by id: the primary key (SQLite: the table itself, in rowid order).
    let plan = companies::explain_page(
        &mut conn,
        CompanyScope::All,
        companies::CompanyFilter::default(),
        Some(CompanyId(1000)),
        51,
    )
    .await
    .expect("explain companies");
    match app.backend {
        Backend::Postgres => assert_served_by(&app, &plan, "companies", "companies_pkey", true),
        Backend::Sqlite => {
            assert!(
                plan.plan.contains("USING INTEGER PRIMARY KEY")
                    && !plan.plan.contains("TEMP B-TREE"),
                "{}",
                plan.plan
            );
        }
    }
}

on_both_backends!(list_pages_are_served_by_their_indexes);

/// Every sort order of the users list, both directions, first page and deep page, is read in
/// order from its index with no sort. The last-sign-in order is two statements where a page
/// crosses from the users who signed in to those who never did (or back): each is served.
async fn every_users_sort_order_is_served_by_an_index(app: TestApp) {
    seed_companies(&app).await;
    seed_users(&app, 1, 10_000).await;
    let at = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("date");
    let cases: [(UserSortField, &str, UserKey); 4] = [
        (
            UserSortField::Name,
            "users_lower_name_id_idx",
            UserKey::Name("user 5001".to_owned(), UserId(5001)),
        ),
        (
            UserSortField::Email,
            "users_email_lower_key",
            UserKey::Email("seed5001@example.test".to_owned(), UserId(5001)),
        ),
        (
            UserSortField::CreatedAt,
            "users_created_at_id_idx",
            UserKey::CreatedAt(at, UserId(5001)),
        ),
        (
            UserSortField::LastSignIn,
            "users_last_sign_in_at_id_idx",
            UserKey::LastSignIn(Some(at), UserId(5001)),
        ),
    ];
    for (field, index, deep) in cases {
        for descending in [false, true] {
            let order = UserOrder { field, descending };
            for after in [None, Some(deep.clone())] {
                let plans = users_page_plans(&app, order, after.clone()).await;
                let expected = match (field, descending, after.is_some()) {
                    (UserSortField::LastSignIn, false, true) => 1,
                    (UserSortField::LastSignIn, _, _) => 2,
                    _ => 1,
                };
                assert_eq!(plans.len(), expected, "{order:?} after {after:?}");
                for (i, plan) in plans.iter().enumerate() {
                    // The first statement starts from the cursor; a second one from the start
                    // of its part (the IS NULL / IS NOT NULL range of the same index).
                    let ranged = (after.is_some() && i == 0)
                        || (field == UserSortField::LastSignIn && app.backend == Backend::Postgres);
                    assert_served_by(&app, plan, "users", index, ranged);
                }
            }
        }
    }
    // A cursor among the users who never signed in: one statement, from that cursor.
    for descending in [false, true] {
        let order = UserOrder {
            field: UserSortField::LastSignIn,
            descending,
        };
        let plans =
            users_page_plans(&app, order, Some(UserKey::LastSignIn(None, UserId(5001)))).await;
        assert_eq!(plans.len(), if descending { 1 } else { 2 }, "{order:?}");
        assert_served_by(
            &app,
            &plans[0],
            "users",
            "users_last_sign_in_at_id_idx",
            true,
        );
    }
}

on_both_backends!(every_users_sort_order_is_served_by_an_index);

/// The shape of the users pages' plans (node types and indexes, top down).
async fn users_plan_shapes(app: &TestApp) -> Vec<Vec<(String, Option<String>)>> {
    let mut shapes = Vec::new();
    for after in [None, deep_cursor()] {
        let plan = users_page_plan(app, after.clone()).await;
        assert_served_by(
            app,
            &plan,
            "users",
            "users_lower_name_id_idx",
            after.is_some(),
        );
        shapes.push(
            nodes(&plan)
                .into_iter()
                .map(|n| (n.node_type, n.index))
                .collect(),
        );
    }
    shapes
}

/// PostgreSQL at 10,000 users, then at 100,000 (re-analyzed): the users pages' plans are the
/// same shape, an index scan of `users_lower_name_id_idx` under the LIMIT with no sort, so a
/// page reads its 51 rows whatever the size of the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_page_plan_is_the_same_at_10k_and_100k_users() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    seed_companies(&app).await;
    seed_users(&app, 1, 10_000).await;
    let at_10k = users_plan_shapes(&app).await;
    seed_users(&app, 10_001, 100_000).await;
    let at_100k = users_plan_shapes(&app).await;
    assert_eq!(at_10k, at_100k);
    assert_eq!(
        at_10k[0],
        [
            ("Limit".to_owned(), None),
            (
                "Index Scan".to_owned(),
                Some("users_lower_name_id_idx".to_owned())
            ),
        ],
        "{at_10k:?}"
    );
}
