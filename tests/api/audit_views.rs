//! The engineers' way in: the migration-made views `audit_log` (one row per field change) and
//! `audit_log_events` (one row per event) answer the guide's example, "every change to billing
//! across the last 30 days", with names joined in, on both backends.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel_async::RunQueryDsl;
use portal_admin::db::DbConn;
use serde_json::json;

use crate::common::TestApp;
use crate::common::builders::{Cast, impersonation_token};
use crate::on_both_backends;

#[derive(Debug, QueryableByName, PartialEq)]
struct LogRow {
    #[diesel(sql_type = Text)]
    action: String,
    #[diesel(sql_type = Text)]
    record_type: String,
    #[diesel(sql_type = Nullable<Text>)]
    record_label: Option<String>,
    #[diesel(sql_type = Text)]
    field: String,
    #[diesel(sql_type = Nullable<Text>)]
    before: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    after: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    actor_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    impersonator_name: Option<String>,
    #[diesel(sql_type = Bool)]
    via_impersonation: bool,
}

#[derive(Debug, QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The README's query over the view (the window is fixed by the test clock's "now").
const BILLING_LAST_30_DAYS: &str = "SELECT action, record_type, record_label, field, \"before\", \"after\", \
     actor_name, impersonator_name, via_impersonation FROM audit_log \
     WHERE field LIKE 'billing%' ORDER BY event_id";

async fn log_rows(app: &TestApp, sql: &str) -> Vec<LogRow> {
    let mut conn = app.app.db.conn().await.expect("conn");
    match &mut conn {
        DbConn::Postgres(c) => diesel::sql_query(sql).load(&mut **c).await,
        DbConn::Sqlite(c) => diesel::sql_query(sql).load(&mut **c).await,
    }
    .expect("the view answers")
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let mut conn = app.app.db.conn().await.expect("conn");
    let rows: Vec<Count> = match &mut conn {
        DbConn::Postgres(c) => diesel::sql_query(sql).load(&mut **c).await,
        DbConn::Sqlite(c) => diesel::sql_query(sql).load(&mut **c).await,
    }
    .expect("the view answers");
    rows.as_slice().first().map(|r| r.n).unwrap_or(-1)
}

async fn the_audit_log_view_answers_every_change_to_billing(app: TestApp) {
    let cast = Cast::new(&app).await;
    let company_id = cast.company_a.id.to_string();
    app.gql(
        Some(&cast.admin_token),
        "mutation($input: UpdateCompanyInput!) { updateCompany(input: $input) { id } }",
        json!({ "input": { "id": company_id, "billingRateCents": 1250, "name": "Acme Renamed" } }),
    )
    .await
    .data();
    let as_supervisor = impersonation_token(&app, &cast.admin_token, &cast.supervisor_a).await;
    app.gql(
        Some(&as_supervisor),
        "mutation($input: UpdateCompanyInput!) { updateCompany(input: $input) { id } }",
        json!({ "input": { "id": company_id, "billingEmail": "pay@acme.test" } }),
    )
    .await;

    let rows = log_rows(&app, BILLING_LAST_30_DAYS).await;
    let direct = rows
        .iter()
        .find(|r| r.field == "billingRateCents" && r.action == "UPDATE")
        .expect("the admin's billing change is in the view");
    assert_eq!(direct.action, "UPDATE");
    assert_eq!(direct.record_type, "COMPANY");
    assert_eq!(direct.record_label.as_deref(), Some("Acme Renamed"));
    assert_eq!(direct.after.as_deref(), Some("1250"));
    assert_eq!(direct.actor_name.as_deref(), Some(cast.admin.name.as_str()));
    assert!(!direct.via_impersonation);
    assert_eq!(direct.impersonator_name, None);
    assert!(
        rows.iter().all(|r| r.field.starts_with("billing")),
        "only billing fields: {rows:?}"
    );
    assert!(
        !rows.iter().any(|r| r.field == "name"),
        "the name change is not a billing change"
    );
    if let Some(via) = rows
        .iter()
        .find(|r| r.field == "billingEmail" && r.via_impersonation)
    {
        assert_eq!(
            via.actor_name.as_deref(),
            Some(cast.supervisor_a.name.as_str())
        );
        assert_eq!(
            via.impersonator_name.as_deref(),
            Some(cast.admin.name.as_str())
        );
    }

    // One row per event in audit_log_events, as many as audit_events holds.
    let events = count(&app, "SELECT COUNT(*) AS n FROM audit_log_events").await;
    let raw = count(&app, "SELECT COUNT(*) AS n FROM audit_events").await;
    assert!(raw > 0);
    assert_eq!(events, raw);
    let changes = count(&app, "SELECT COUNT(*) AS n FROM audit_log").await;
    let raw_changes = count(&app, "SELECT COUNT(*) AS n FROM audit_changes").await;
    assert_eq!(changes, raw_changes);
}

on_both_backends!(the_audit_log_view_answers_every_change_to_billing);

const UPDATE_COMPANY: &str =
    "mutation($input: UpdateCompanyInput!) { updateCompany(input: $input) { id } }";
const UPDATE_USER: &str = "mutation($input: UpdateUserInput!) { updateUser(input: $input) { id } }";

fn portal_admin(app: &TestApp, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_portal-admin"))
        .args(args)
        .env("DATABASE_URL", app.app.config.database_url.expose())
        .env("RUST_LOG", "warn")
        .output()
        .expect("portal-admin runs")
}

/// Runs `portal-admin audit query ARGS --format ndjson` and parses its lines.
fn query_events(app: &TestApp, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["audit", "query"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "ndjson"]);
    let out = portal_admin(app, &all);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON event per line"))
        .collect()
}

fn has_field(event: &serde_json::Value, field: &str) -> bool {
    event["changes"]
        .as_array()
        .is_some_and(|changes| changes.iter().any(|c| c["field"] == field))
}

/// The guide's example from a shell: `portal-admin audit query --field 'billing*' --since 30d`
/// answers every change to billing with names, as a table, CSV and NDJSON; the other filters of
/// `auditEvents` narrow it; bad input is refused with a clear message and exit status.
async fn audit_query_answers_every_change_to_billing_from_a_shell(app: TestApp) {
    let cast = Cast::new(&app).await;
    let company_id = cast.company_a.id.to_string();
    app.gql(
        Some(&cast.admin_token),
        UPDATE_COMPANY,
        json!({ "input": { "id": company_id, "billingRateCents": 1250, "name": "Acme Renamed" } }),
    )
    .await
    .data();
    app.gql(
        Some(&cast.admin_token),
        UPDATE_COMPANY,
        json!({ "input": { "id": cast.company_b.id.to_string(), "timezone": "Europe/Paris" } }),
    )
    .await
    .data();
    let as_supervisor = impersonation_token(&app, &cast.admin_token, &cast.supervisor_a).await;
    app.gql(
        Some(&as_supervisor),
        UPDATE_USER,
        json!({ "input": { "id": cast.supervisor_a.id.to_string(), "name": "Samantha A" } }),
    )
    .await
    .data();

    // NDJSON: the events with a billing change, newest first, names joined in.
    let billing = query_events(&app, &["--field", "billing*", "--since", "30d"]);
    assert!(!billing.is_empty());
    assert!(
        billing.iter().all(|e| e["changes"]
            .as_array()
            .is_some_and(|changes| changes.iter().any(|c| c["field"]
                .as_str()
                .is_some_and(|f| f.starts_with("billing"))))),
        "every event has a billing change: {billing:?}"
    );
    let rate = billing
        .iter()
        .find(|e| has_field(e, "billingRateCents") && e["action"] == "UPDATE")
        .expect("the admin's rate change");
    assert_eq!(rate["recordType"], "COMPANY");
    assert_eq!(rate["recordId"], cast.company_a.id.0);
    assert_eq!(rate["recordLabel"], "Acme Renamed");
    assert_eq!(rate["actorName"], cast.admin.name.as_str());
    assert_eq!(rate["viaImpersonation"], false);
    assert!(
        !billing.iter().any(|e| e["action"] == "UPDATE"
            && e["recordId"] == cast.company_b.id.0
            && has_field(e, "timezone")),
        "the timezone change is not a billing change"
    );
    let ids: Vec<i64> = billing.iter().filter_map(|e| e["id"].as_i64()).collect();
    let mut newest_first = ids.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, newest_first, "newest first");

    // CSV: one row per change, the columns of the audit_log view.
    let csv = portal_admin(
        &app,
        &[
            "audit", "query", "--field", "billing*", "--since", "30d", "--format", "csv",
        ],
    );
    assert!(csv.status.success());
    let csv = String::from_utf8_lossy(&csv.stdout).into_owned();
    assert_eq!(
        csv.lines().next(),
        Some(portal_admin::services::audit_query::CSV_HEADER)
    );
    assert!(
        csv.lines()
            .any(|l| l.contains(",Acme Renamed,billingRateCents,") && l.contains(",1250,")),
        "{csv}"
    );

    // The table reads as sentences do: record name, field, before → after, who.
    let table = portal_admin(
        &app,
        &["audit", "query", "--field", "billing*", "--since", "30d"],
    );
    assert!(table.status.success());
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    let line = table
        .lines()
        .find(|l| l.contains("billingRateCents"))
        .unwrap_or_else(|| panic!("a line for the rate: {table}"));
    assert!(
        line.contains("COMPANY") && line.contains("Acme Renamed"),
        "{line}"
    );
    assert!(line.contains("→ 1250"), "{line}");
    assert!(line.contains(cast.admin.name.as_str()), "{line}");
    assert!(table.starts_with("OCCURRED AT (UTC)"), "{table}");

    // The other filters.
    let one_record = query_events(&app, &["--record", &format!("company:{company_id}")]);
    assert!(!one_record.is_empty());
    assert!(
        one_record
            .iter()
            .all(|e| e["recordType"] == "COMPANY" && e["recordId"] == cast.company_a.id.0)
    );
    let via = query_events(&app, &["--via-impersonation"]);
    assert!(
        via.iter().any(|e| has_field(e, "name")
            && e["actorName"] == "Samantha A"
            && e["impersonatorName"] == cast.admin.name.as_str()),
        "the impersonated rename: {via:?}"
    );
    assert!(via.iter().all(|e| e["viaImpersonation"] == true));
    let direct = query_events(&app, &["--direct", "--field", "billing*"]);
    assert!(direct.iter().any(|e| e["id"] == rate["id"]));
    assert!(direct.iter().all(|e| e["viaImpersonation"] == false));
    let by_admin = query_events(&app, &["--actor", cast.admin.email.as_str()]);
    assert!(by_admin.iter().any(|e| e["id"] == rate["id"]));
    assert!(
        by_admin.iter().all(|e| e["actorId"] == cast.admin.id.0),
        "only the admin's own events"
    );
    let limited = query_events(&app, &["--limit", "2"]);
    assert_eq!(limited.len(), 2);
    let future = query_events(&app, &["--since", "2999-01-01"]);
    assert!(future.is_empty());

    // Bad input: a clear message, a failing status, nothing printed on stdout.
    for (args, expected) in [
        (vec!["--field", "nosuch*"], "No audited field matches"),
        (vec!["--record", "planet:1"], "the record type is one of"),
        (
            vec!["--actor", "nobody@example.test"],
            "No user has the address",
        ),
        (vec!["--since", "last week"], "is not an age"),
        (vec!["--since", "1d", "--until", "2d"], "must be after"),
        (
            vec!["--via-impersonation", "--direct"],
            "cannot be used with",
        ),
    ] {
        let mut all = vec!["audit", "query"];
        all.extend_from_slice(&args);
        let out = portal_admin(&app, &all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed results");
    }
}

on_both_backends!(audit_query_answers_every_change_to_billing_from_a_shell);

/// A role made a reader with `portal-admin audit grant-reader` can SELECT the two views and
/// nothing else: not the users or sessions, not the audit tables, no writes. A role that would
/// still reach more (a superuser; a table granted to PUBLIC) is refused and keeps what it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_reader_reads_the_audit_views_and_nothing_else() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    let cast = Cast::new(&app).await;
    app.gql(
        Some(&cast.admin_token),
        UPDATE_COMPANY,
        json!({ "input": { "id": cast.company_a.id.to_string(), "billingRateCents": 990 } }),
    )
    .await
    .data();
    let role = format!("audit_reader_{}", uuid::Uuid::new_v4().simple());
    let admin_url = app.app.config.database_url.expose().to_owned();
    crate::common::postgres_admin(&admin_url, &format!("CREATE ROLE {role} LOGIN")).await;
    let _dropped = DropRole {
        admin_url: admin_url.clone(),
        role: role.clone(),
    };
    // A grant the reader must lose.
    crate::common::postgres_admin(&admin_url, &format!("GRANT SELECT ON companies TO {role}"))
        .await;

    // Refused while PUBLIC can read a table; nothing changes.
    crate::common::postgres_admin(&admin_url, "GRANT SELECT ON teams TO PUBLIC").await;
    let refused = portal_admin(&app, &["audit", "grant-reader", &role]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("still reaches teams"), "{stderr}");
    let mut url = url::Url::parse(&admin_url).expect("URL");
    url.set_username(&role).expect("user");
    let mut reader = AsyncPgConnection::establish(url.as_str())
        .await
        .expect("the reader signs in");
    reader
        .batch_execute("SELECT 1 FROM companies LIMIT 1")
        .await
        .expect("the refused run kept the direct grant");
    assert!(
        reader
            .batch_execute("SELECT 1 FROM audit_log LIMIT 1")
            .await
            .is_err(),
        "the refused run granted nothing"
    );
    crate::common::postgres_admin(&admin_url, "REVOKE SELECT ON teams FROM PUBLIC").await;

    let granted = portal_admin(&app, &["audit", "grant-reader", &role]);
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );
    assert!(String::from_utf8_lossy(&granted.stdout).contains("audit_log and audit_log_events"));
    // Twice is the same as once.
    assert!(
        portal_admin(&app, &["audit", "grant-reader", &role])
            .status
            .success()
    );

    let rows: Vec<Count> = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM audit_log WHERE field = 'billingRateCents' AND \"after\" = '990'",
    )
    .load(&mut reader)
    .await
    .expect("the reader reads the view");
    assert_eq!(rows.as_slice().first().map(|r| r.n), Some(1));
    reader
        .batch_execute("SELECT 1 FROM audit_log_events LIMIT 1")
        .await
        .expect("and the events view");
    for sql in [
        "SELECT 1 FROM users LIMIT 1",
        "SELECT 1 FROM sessions LIMIT 1",
        "SELECT 1 FROM companies LIMIT 1",
        "SELECT 1 FROM audit_events LIMIT 1",
        "SELECT 1 FROM audit_changes LIMIT 1",
        "UPDATE users SET name = name",
        "DELETE FROM sessions",
        "INSERT INTO audit_events (occurred_at, action, record_type, record_id) VALUES (now(), 'UPDATE', 'USER', 1)",
        "CREATE TABLE reader_scratch (id int)",
    ] {
        let err = reader.batch_execute(sql).await.expect_err(sql);
        assert!(
            err.to_string().contains("permission denied"),
            "{sql}: {err}"
        );
    }
    drop(reader);

    // No such role; a superuser.
    let missing = portal_admin(&app, &["audit", "grant-reader", "no_such_role_here"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("There is no role"));
    let superuser = portal_admin(&app, &["audit", "grant-reader", "postgres"]);
    assert!(!superuser.status.success());
    assert!(String::from_utf8_lossy(&superuser.stderr).contains("cannot be made a reader"));
}

/// Dropped even when the test fails: roles are cluster-wide.
struct DropRole {
    admin_url: String,
    role: String,
}

impl Drop for DropRole {
    fn drop(&mut self) {
        let (url, role) = (self.admin_url.clone(), self.role.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(crate::common::postgres_admin(
                    &url,
                    &format!("DROP OWNED BY {role}; DROP ROLE IF EXISTS {role}"),
                ));
            }
        })
        .join();
    }
}

/// SQLite has no roles: the command says what to do instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_reader_on_sqlite_says_what_to_do_instead() {
    let app = TestApp::spawn(crate::common::Backend::Sqlite).await;
    let out = portal_admin(&app, &["audit", "grant-reader", "anyone"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SQLite has no roles"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
