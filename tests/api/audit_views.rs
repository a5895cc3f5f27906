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
