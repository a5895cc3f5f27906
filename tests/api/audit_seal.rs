//! Tamper evidence and export, through the `portal-admin` binary against the test database:
//! `audit seal` chains committed events, `audit verify` names the first event altered, deleted
//! or inserted behind the application's back, `audit export` streams the log event by event.

use std::process::{Command, Output};
use std::time::Duration;

use portal_admin::db::audit::seal;
use portal_admin::db::audit::{EventKey, events_in_window};
use portal_admin::domain::audit::{AuditActor, AuditEntry, AuditValue, FieldChange, RecordRef};
use portal_admin::domain::{AuditAction, AuditRecordType};
use serde_json::{Value, json};

use crate::common::audit_trail::write_event;
use crate::common::builders::Cast;
use crate::common::{Backend, TestApp};
use crate::on_both_backends;

fn portal_admin(app: &TestApp, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portal-admin"))
        .args(args)
        .env("DATABASE_URL", app.app.config.database_url.expose())
        .env("RUST_LOG", "warn")
        .output()
        .expect("portal-admin runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn seal_ok(app: &TestApp) -> String {
    let sealed = portal_admin(app, &["audit", "seal"]);
    assert!(sealed.status.success(), "seal failed: {}", stderr(&sealed));
    stdout(&sealed)
}

fn verify_ok(app: &TestApp) -> String {
    let verified = portal_admin(app, &["audit", "verify"]);
    assert!(
        verified.status.success(),
        "verify failed: {}{}",
        stdout(&verified),
        stderr(&verified)
    );
    stdout(&verified)
}

/// `audit verify` fails, naming `expected` (e.g. "audit event 7 was altered").
fn verify_reports(app: &TestApp, expected: &str) {
    let verified = portal_admin(app, &["audit", "verify"]);
    assert!(
        !verified.status.success(),
        "verify passed: {}",
        stdout(&verified)
    );
    assert_eq!(verified.status.code(), Some(1));
    assert!(
        stderr(&verified).contains(expected),
        "expected `{expected}` in: {}",
        stderr(&verified)
    );
}

async fn rename(app: &TestApp, company: portal_admin::domain::CompanyId, name: &str) -> i64 {
    let entry = AuditEntry::new(
        AuditAction::Update,
        RecordRef::new(AuditRecordType::Company, company),
    )
    .with_changes(vec![FieldChange::new(
        "name",
        AuditValue::text("before"),
        AuditValue::text(name),
    )]);
    write_event(app, AuditActor::system(), entry).await.0
}

/// Runs `sql` with the append-only triggers out of the way (a superuser session setting on
/// PostgreSQL; on SQLite the triggers are dropped, the database is this test's own).
async fn behind_the_back(app: &TestApp, sql: &str) {
    let wrapped = match app.backend {
        Backend::Postgres => {
            format!(
                "SET session_replication_role = replica; {sql}; SET session_replication_role = origin;"
            )
        }
        Backend::Sqlite => format!(
            "DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete; \
             DROP TRIGGER IF EXISTS audit_changes_no_update; DROP TRIGGER IF EXISTS audit_changes_no_delete; \
             DROP TRIGGER IF EXISTS audit_event_refs_no_delete; DROP TRIGGER IF EXISTS audit_event_digests_no_update; {sql};"
        ),
    };
    app.sql(&wrapped).await.expect("tampering statement");
}

async fn head_over_graphql(app: &TestApp, token: &str) -> Value {
    let response = app
        .gql(
            Some(token),
            "{ auditChainHead { lastEventId hash sealedAt } }",
            json!({}),
        )
        .await;
    response.data()["auditChainHead"].clone()
}

async fn sealed_chain_verifies_and_its_head_is_readable(app: TestApp) {
    let cast = Cast::new(&app).await;
    assert!(head_over_graphql(&app, &cast.admin_token).await.is_null());
    let nothing_yet = verify_ok(&app);
    assert!(nothing_yet.contains("ok: 0 event(s)"), "{nothing_yet}");

    let out = seal_ok(&app);
    let mut conn = app.app.db.conn().await.expect("conn");
    let head = seal::head(&mut conn).await.expect("head").expect("a seal");
    assert!(out.contains(&head.hash), "{out}");
    let graphql = head_over_graphql(&app, &cast.admin_token).await;
    assert_eq!(graphql["hash"], head.hash);
    assert_eq!(graphql["lastEventId"], head.last_event_id.to_string());
    assert_eq!(head.previous_hash, seal::GENESIS);

    // New events: the next seal chains onto the last.
    let newest = rename(&app, cast.company_a.id, "Acme II").await;
    seal_ok(&app);
    let next = seal::head(&mut conn).await.expect("head").expect("a seal");
    assert_eq!(next.previous_hash, head.hash);
    assert_eq!(next.last_event_id.0, newest);
    let verified = verify_ok(&app);
    assert!(verified.contains(&next.hash), "{verified}");
    // Sealing again with nothing new changes nothing.
    let again = seal_ok(&app);
    assert!(again.contains("sealed 0 event(s)"), "{again}");
}

async fn altering_an_event_is_reported_with_its_id(app: TestApp) {
    let cast = Cast::new(&app).await;
    let target = rename(&app, cast.company_a.id, "Acme Renamed").await;
    rename(&app, cast.company_b.id, "Bravo Renamed").await;
    seal_ok(&app);
    verify_ok(&app);
    behind_the_back(
        &app,
        &format!("UPDATE audit_changes SET after_value = 'Acme Forged' WHERE event_id = {target}"),
    )
    .await;
    verify_reports(&app, &format!("audit event {target} was altered"));
}

async fn altering_an_event_row_itself_is_reported(app: TestApp) {
    let cast = Cast::new(&app).await;
    let target = rename(&app, cast.company_a.id, "Acme Renamed").await;
    seal_ok(&app);
    behind_the_back(
        &app,
        &format!(
            "UPDATE audit_events SET actor_id = {} WHERE id = {target}",
            cast.admin.id
        ),
    )
    .await;
    verify_reports(&app, &format!("audit event {target} was altered"));
}

async fn deleting_an_event_is_reported_with_its_id(app: TestApp) {
    let cast = Cast::new(&app).await;
    let target = rename(&app, cast.company_a.id, "Acme Renamed").await;
    rename(&app, cast.company_b.id, "Bravo Renamed").await;
    seal_ok(&app);
    behind_the_back(
        &app,
        &format!(
            "DELETE FROM audit_changes WHERE event_id = {target}; \
             DELETE FROM audit_event_refs WHERE event_id = {target}; \
             DELETE FROM audit_events WHERE id = {target}"
        ),
    )
    .await;
    verify_reports(&app, &format!("audit event {target} was deleted"));
}

async fn inserting_an_event_is_reported_with_its_id(app: TestApp) {
    let cast = Cast::new(&app).await;
    let before = rename(&app, cast.company_a.id, "Acme Renamed").await;
    // Leave a gap in the ids (as a rolled-back transaction does on PostgreSQL).
    let skip = match app.backend {
        Backend::Postgres => format!(
            "SELECT setval(pg_get_serial_sequence('audit_events', 'id'), {})",
            before + 3
        ),
        Backend::Sqlite => format!(
            "UPDATE sqlite_sequence SET seq = {} WHERE name = 'audit_events'",
            before + 3
        ),
    };
    app.sql(&skip).await.expect("gap");
    let after = rename(&app, cast.company_b.id, "Bravo Renamed").await;
    assert_eq!(after, before + 4);
    seal_ok(&app);
    verify_ok(&app);
    let forged = before + 2;
    behind_the_back(
        &app,
        &format!(
            "INSERT INTO audit_events (id, occurred_at, action, record_type, record_id, actor_id) \
             VALUES ({forged}, '2026-11-01 10:00:00', 'UPDATE', 'COMPANY', {}, {}); \
             INSERT INTO audit_changes (event_id, record_type, field, before_value, after_value, redacted, occurred_at) \
             VALUES ({forged}, 'COMPANY', 'billingRateCents', '100', '1', FALSE, '2026-11-01 10:00:00')",
            cast.company_a.id, cast.customer_a.id
        ),
    )
    .await;
    verify_reports(
        &app,
        &format!("audit event {forged} was inserted out of band"),
    );
}

async fn a_sealer_never_skips_an_event_still_in_flight(app: TestApp) {
    let cast = Cast::new(&app).await;
    seal_ok(&app);
    if app.backend == Backend::Postgres {
        // A transaction takes an event id and stays open while a later one commits.
        let (hold, held) = tokio::sync::oneshot::channel::<()>();
        let (taken, id_taken) = tokio::sync::oneshot::channel::<i64>();
        let db = app.app.db.clone();
        let company = cast.company_a.id;
        let slow = tokio::spawn(async move {
            use scoped_futures::ScopedFutureExt;
            db.write(AuditActor::system(), |tx| {
                async move {
                    let id = tx
                        .audit(AuditEntry::new(
                            AuditAction::Update,
                            RecordRef::new(AuditRecordType::Company, company),
                        ))
                        .await?;
                    let _ = taken.send(id.0);
                    let _ = held.await;
                    Ok(id.0)
                }
                .scope_boxed()
            })
            .await
        });
        let slow_id = id_taken.await.expect("slow transaction took an id");
        let later = rename(&app, cast.company_b.id, "Bravo Later").await;
        assert!(later > slow_id);
        // While the slow transaction is open, nothing past it is sealed.
        let run = seal::seal_pending(&app.app.db, Duration::from_millis(300))
            .await
            .expect("seal run");
        assert_eq!(run.events, 0, "sealed past an open transaction");
        hold.send(()).expect("release");
        slow.await.expect("join").expect("slow commit");
        let run = seal::seal_pending(&app.app.db, Duration::from_secs(5))
            .await
            .expect("seal run");
        assert_eq!(run.events, 2);
        assert_eq!(run.head.expect("head").last_event_id.0, later);
    } else {
        // SQLite: one writer at a time; what is visible is final.
        rename(&app, cast.company_b.id, "Bravo Later").await;
        let run = seal::seal_pending(&app.app.db, Duration::from_secs(1))
            .await
            .expect("seal run");
        assert_eq!(run.events, 1);
    }
    verify_ok(&app);
}

async fn the_background_sealer_seals_new_events(app: TestApp) {
    let cast = Cast::new(&app).await;
    let newest = rename(&app, cast.company_a.id, "Acme Sealed").await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sealer = seal::spawn_sealer(app.app.db.clone(), Duration::from_millis(50), async {
        let _ = stopped.await;
    });
    let mut sealed = None;
    for _ in 0..100 {
        let mut conn = app.app.db.conn().await.expect("conn");
        if let Some(head) = seal::head(&mut conn).await.expect("head")
            && head.last_event_id.0 >= newest
        {
            sealed = Some(head);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    sealer.await.expect("sealer stops");
    assert!(sealed.is_some(), "the background task sealed the events");
    verify_ok(&app);
}

/// `serve`'s scheduled verifier: intact, then a sealed event altered behind the application's
/// back is found on the next run, and `/metrics` says so.
async fn the_scheduled_verifier_flags_a_tampered_chain(app: TestApp) {
    let cast = Cast::new(&app).await;
    let target = rename(&app, cast.company_a.id, "Acme Verified").await;
    seal_ok(&app);
    let (found, mut findings) = tokio::sync::mpsc::unbounded_channel();
    let reporter = app.app.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let verifier = seal::spawn_verifier(
        app.app.db.clone(),
        Duration::from_millis(50),
        move |intact| {
            reporter.metrics.audit_chain_verified(intact);
            let _ = found.send(intact);
        },
        async {
            let _ = stopped.await;
        },
    );
    let metrics = || async {
        app.http
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("sent")
            .text()
            .await
            .expect("text")
    };
    assert_eq!(findings.recv().await, Some(true), "an intact chain first");
    assert!(
        metrics()
            .await
            .contains("\nportal_admin_audit_chain_tampered 0\n")
    );

    behind_the_back(
        &app,
        &format!("UPDATE audit_changes SET after_value = 'Acme Forged' WHERE event_id = {target}"),
    )
    .await;
    let mut flagged = false;
    for _ in 0..100 {
        if findings.recv().await == Some(false) {
            flagged = true;
            break;
        }
    }
    let _ = stop.send(());
    verifier.await.expect("verifier stops");
    assert!(flagged, "the scheduled run found the altered event");
    let text = metrics().await;
    assert!(
        text.contains("\nportal_admin_audit_chain_tampered 1\n"),
        "{text}"
    );
    assert!(
        !text.contains("\nportal_admin_audit_last_verify_timestamp_seconds 0\n"),
        "{text}"
    );
    verify_reports(&app, &format!("audit event {target} was altered"));
}

async fn export_of_a_seeded_log_matches_it_event_by_event(app: TestApp) {
    let seeded = portal_admin(&app, &["seed-audit", "--events", "300", "--days", "30"]);
    assert!(seeded.status.success(), "seed failed: {}", stderr(&seeded));

    // What the database holds, oldest first.
    let mut conn = app.app.db.conn().await.expect("conn");
    let since = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("date");
    let mut stored = Vec::new();
    let mut after: Option<EventKey> = None;
    loop {
        let batch = events_in_window(&mut conn, since, None, after, 128)
            .await
            .expect("events");
        let Some(last) = batch.last() else { break };
        after = Some(last.key());
        stored.extend(seal::with_details(&mut conn, batch).await.expect("details"));
    }
    assert_eq!(stored.len(), 300);

    let ndjson = portal_admin(&app, &["audit", "export", "--since", "2000-01-01"]);
    assert!(ndjson.status.success(), "{}", stderr(&ndjson));
    let lines: Vec<Value> = stdout(&ndjson)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON event per line"))
        .collect();
    assert_eq!(lines.len(), stored.len());
    for (line, full) in lines.iter().zip(&stored) {
        let e = &full.event;
        assert_eq!(line["id"], e.id.0);
        assert_eq!(line["occurredAt"], e.occurred_at.and_utc().to_rfc3339());
        assert_eq!(line["action"], e.action.as_str());
        assert_eq!(line["recordType"], e.record_type.as_str());
        assert_eq!(line["recordId"], e.record_id);
        assert_eq!(line["actorId"], json!(e.actor_id.map(|id| id.0)));
        assert_eq!(
            line["impersonatorId"],
            json!(e.impersonator_id.map(|id| id.0))
        );
        assert_eq!(line["viaImpersonation"], e.impersonator_id.is_some());
        assert_eq!(line["requestId"], json!(e.request_id));
        let changes: Vec<Value> = full
            .changes
            .iter()
            .map(|c| json!({ "field": c.field, "before": c.before_value, "after": c.after_value, "redacted": c.redacted }))
            .collect();
        assert_eq!(line["changes"], json!(changes));
    }
    assert!(lines.iter().any(|l| l["viaImpersonation"] == true));

    let csv = portal_admin(
        &app,
        &[
            "audit",
            "export",
            "--since",
            "2000-01-01",
            "--format",
            "csv",
        ],
    );
    assert!(csv.status.success(), "{}", stderr(&csv));
    let text = stdout(&csv);
    let mut rows = text.lines();
    assert_eq!(
        rows.next(),
        Some(portal_admin::services::audit_export::CSV_HEADER)
    );
    let rows: Vec<Vec<&str>> = rows.map(|r| r.split(',').collect()).collect();
    let expected: Vec<Vec<String>> = stored
        .iter()
        .flat_map(|full| {
            let e = &full.event;
            let event = vec![
                e.id.to_string(),
                e.occurred_at.and_utc().to_rfc3339(),
                e.action.as_str().to_owned(),
                e.record_type.as_str().to_owned(),
                e.record_id.to_string(),
                e.actor_id.map(|id| id.to_string()).unwrap_or_default(),
                e.impersonator_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                e.impersonator_id.is_some().to_string(),
                e.reason.clone().unwrap_or_default(),
                e.request_id.clone().unwrap_or_default(),
                e.client_ip.clone().unwrap_or_default(),
            ];
            if full.changes.is_empty() {
                vec![[event, vec![String::new(); 4]].concat()]
            } else {
                full.changes
                    .iter()
                    .map(|c| {
                        let change = vec![
                            c.field.clone(),
                            c.before_value.clone().unwrap_or_default(),
                            c.after_value.clone().unwrap_or_default(),
                            c.redacted.to_string(),
                        ];
                        [event.clone(), change].concat()
                    })
                    .collect()
            }
        })
        .collect();
    assert_eq!(rows.len(), expected.len());
    for (row, want) in rows.iter().zip(&expected) {
        assert_eq!(row, want);
    }

    // --until bounds the range (exclusive).
    let cut = stored[150].event.occurred_at.and_utc().to_rfc3339();
    let until = portal_admin(
        &app,
        &["audit", "export", "--since", "2000-01-01", "--until", &cut],
    );
    let ids: Vec<i64> = stdout(&until)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("json")["id"]
                .as_i64()
                .expect("id")
        })
        .collect();
    let want: Vec<i64> = stored
        .iter()
        .filter(|f| f.event.occurred_at < stored[150].event.occurred_at)
        .map(|f| f.event.id.0)
        .collect();
    assert_eq!(ids, want);
    let bad = portal_admin(&app, &["audit", "export", "--since", "last week"]);
    assert!(!bad.status.success());

    // The seeded log seals and verifies like any other.
    seal_ok(&app);
    assert!(verify_ok(&app).contains("ok: 300 event(s)"));
}

on_both_backends!(
    sealed_chain_verifies_and_its_head_is_readable,
    the_scheduled_verifier_flags_a_tampered_chain,
    altering_an_event_is_reported_with_its_id,
    altering_an_event_row_itself_is_reported,
    deleting_an_event_is_reported_with_its_id,
    inserting_an_event_is_reported_with_its_id,
    a_sealer_never_skips_an_event_still_in_flight,
    the_background_sealer_seals_new_events,
    export_of_a_seeded_log_matches_it_event_by_event,
);
