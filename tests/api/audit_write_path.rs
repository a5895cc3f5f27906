//! The audited write path: a change and its audit rows commit together or not at all, no-op
//! updates write nothing, and the database refuses to rewrite audit history.

use portal_admin::db::audit;
use portal_admin::db::models::{UserChanges, users};
use portal_admin::domain::AuditRecordType;
use portal_admin::domain::audit::AuditActor;
use scoped_futures::ScopedFutureExt;

use crate::common::builders::UserBuilder;
use crate::common::{Backend, TestApp};
use crate::on_both_backends;

async fn history_len(app: &TestApp, user_id: i64) -> usize {
    let mut conn = app.app.db.conn().await.expect("conn");
    audit::history(&mut conn, AuditRecordType::User, user_id, None, 100)
        .await
        .expect("history")
        .len()
}

/// Makes every insert into audit_changes fail, behind the application's back.
async fn break_audit_inserts(app: &TestApp) {
    let sql = match app.backend {
        Backend::Sqlite => {
            "CREATE TRIGGER break_audit BEFORE INSERT ON audit_changes \
             BEGIN SELECT RAISE(ABORT, 'audit storage broken'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION break_audit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'audit storage broken'; END; $$; \
             CREATE TRIGGER break_audit BEFORE INSERT ON audit_changes \
             FOR EACH ROW EXECUTE FUNCTION break_audit();"
        }
    };
    app.sql(sql).await.expect("trigger installed");
}

async fn a_change_is_absent_when_its_audit_rows_fail(app: TestApp) {
    let admin = UserBuilder::admin().name("Before").create(&app).await;
    break_audit_inserts(&app).await;

    let changes = UserChanges {
        name: Some("After".into()),
        ..Default::default()
    };
    let result = app
        .app
        .db
        .write(AuditActor::system(), |tx| {
            let changes = changes.clone();
            async move { users::update(tx, admin.id, &changes, None).await }.scope_boxed()
        })
        .await;
    let err = result.expect_err("the update fails with its audit rows");
    assert_eq!(err.code().as_str(), "INTERNAL");

    let mut conn = app.app.db.conn().await.expect("conn");
    let user = users::get(&mut conn, admin.id).await.expect("user");
    assert_eq!(
        user.name, "Before",
        "the change rolled back with the audit insert"
    );
    assert_eq!(user.version, admin.version);

    // Creating a user fails the same way: no user without its CREATE event.
    let created = portal_admin::services::accounts::create_admin(
        &app.app,
        "second@example.com",
        "Second",
        "another long password",
    )
    .await;
    assert!(created.is_err());
    assert!(
        users::find_by_email(&mut conn, "second@example.com")
            .await
            .expect("query")
            .is_none()
    );
}

async fn an_update_writes_one_event_with_field_changes(app: TestApp) {
    let admin = UserBuilder::admin().name("Before").create(&app).await;
    let events_before = history_len(&app, admin.id.0).await;
    let actor = AuditActor {
        actor_id: Some(admin.id),
        request_id: Some("req-1".into()),
        ..Default::default()
    };
    let updated = app
        .app
        .db
        .write(actor, |tx| {
            async move {
                let changes = UserChanges {
                    name: Some("After".into()),
                    ..Default::default()
                };
                users::update(tx, admin.id, &changes, None).await
            }
            .scope_boxed()
        })
        .await
        .expect("updated");
    assert_eq!(updated.name, "After");
    assert_eq!(updated.version, admin.version + 1);
    assert_eq!(history_len(&app, admin.id.0).await, events_before + 1);

    let mut conn = app.app.db.conn().await.expect("conn");
    let events = audit::history(&mut conn, AuditRecordType::User, admin.id.0, None, 1)
        .await
        .expect("history");
    let changes = audit::changes_of(&mut conn, &[events[0].id])
        .await
        .expect("changes");
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].field, "name");
    assert_eq!(changes[0].before_value.as_deref(), Some("Before"));
    assert_eq!(changes[0].after_value.as_deref(), Some("After"));
    assert_eq!(events[0].request_id.as_deref(), Some("req-1"));
}

async fn a_no_op_update_writes_nothing(app: TestApp) {
    let admin = UserBuilder::admin().name("Same").create(&app).await;
    let events_before = history_len(&app, admin.id.0).await;
    let unchanged = app
        .app
        .db
        .write(AuditActor::system(), |tx| {
            async move {
                let changes = UserChanges {
                    name: Some("Same".into()),
                    ..Default::default()
                };
                users::update(tx, admin.id, &changes, None).await
            }
            .scope_boxed()
        })
        .await
        .expect("no-op update");
    assert_eq!(unchanged.version, admin.version);
    assert_eq!(unchanged.updated_at, admin.updated_at);
    assert_eq!(history_len(&app, admin.id.0).await, events_before);
}

async fn a_stale_version_is_a_conflict(app: TestApp) {
    let admin = UserBuilder::admin().name("Start").create(&app).await;
    let update = |name: &'static str, version: i32| {
        let db = app.app.db.clone();
        async move {
            db.write(AuditActor::system(), move |tx| {
                async move {
                    let changes = UserChanges {
                        name: Some(name.into()),
                        ..Default::default()
                    };
                    users::update(tx, admin.id, &changes, Some(version)).await
                }
                .scope_boxed()
            })
            .await
        }
    };
    update("First", admin.version)
        .await
        .expect("first writer wins");
    let err = update("Second", admin.version)
        .await
        .expect_err("second writer had a stale copy");
    assert_eq!(err.code().as_str(), "CONFLICT");
}

async fn audit_rows_cannot_be_updated_or_deleted(app: TestApp) {
    let admin = UserBuilder::admin().create(&app).await;
    assert!(history_len(&app, admin.id.0).await >= 1);
    for sql in [
        "UPDATE audit_events SET reason = 'rewritten'",
        "DELETE FROM audit_events",
        "UPDATE audit_changes SET after_value = 'rewritten'",
        "DELETE FROM audit_changes",
        "UPDATE audit_event_refs SET record_id = 0",
        "DELETE FROM audit_event_refs",
    ] {
        let result = app.sql(sql).await;
        let err = result.expect_err(sql);
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    if app.backend == Backend::Postgres {
        let err = app
            .sql("TRUNCATE audit_changes")
            .await
            .expect_err("truncate refused");
        assert!(err.contains("append-only"), "{err}");
    }
    assert!(history_len(&app, admin.id.0).await >= 1, "history intact");
}

on_both_backends!(
    a_change_is_absent_when_its_audit_rows_fail,
    an_update_writes_one_event_with_field_changes,
    a_no_op_update_writes_nothing,
    a_stale_version_is_a_conflict,
    audit_rows_cannot_be_updated_or_deleted,
);
