//! Checklist item 33 on PostgreSQL: the role the service runs as keeps only INSERT and SELECT on
//! the audit tables, even when it owns them, so an UPDATE, DELETE or TRUNCATE through it fails
//! on privileges before the append-only triggers are reached (`audit_write_path` tests those;
//! on SQLite they are the whole guard). The one exception, UPDATE of `id` on the two tables that
//! foreign keys reference (PostgreSQL's key-share lock needs it), is refused by the triggers.
//! No GraphQL mutation touches audit rows (`authorization_matrix` enumerates the schema).

use crate::common::builders::UserBuilder;
use crate::common::{Backend, TestApp, postgres_admin, replace_database, test_config};

/// Each audit table with a column an UPDATE can name.
const AUDIT_TABLES: [(&str, &str); 5] = [
    ("audit_events", "reason"),
    ("audit_changes", "after_value"),
    ("audit_event_refs", "record_id"),
    ("audit_seals", "hash"),
    ("audit_event_digests", "digest"),
];

/// A login role of its own that owns a fresh database, dropped (with it) at the end.
struct OwnRole {
    admin_url: String,
    role: String,
    database: String,
}

impl OwnRole {
    async fn create() -> Option<(Self, String)> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            if std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set");
            }
            eprintln!("TEST_DATABASE_URL not set: PostgreSQL test skipped");
            return None;
        };
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let role = format!("portal_app_{suffix}");
        let database = format!("portal_admin_test_{suffix}");
        postgres_admin(&admin_url, &format!("CREATE ROLE {role} LOGIN")).await;
        postgres_admin(
            &admin_url,
            &format!("CREATE DATABASE {database} OWNER {role}"),
        )
        .await;
        let mut url = url::Url::parse(&replace_database(&admin_url, &database)).expect("URL");
        url.set_username(&role).expect("user in URL");
        url.set_password(None).expect("no password (trust)");
        let url = url.to_string();
        Some((
            Self {
                admin_url,
                role,
                database,
            },
            url,
        ))
    }
}

/// Dropped even when the test fails: the role is cluster-wide. Drop runs inside the test's
/// runtime, so the statements run on a runtime of their own on a plain thread.
impl Drop for OwnRole {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let statements = [
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
            format!("DROP ROLE IF EXISTS {}", self.role),
        ];
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                for sql in &statements {
                    rt.block_on(postgres_admin(&admin_url, sql));
                }
            }
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_role_can_only_insert_and_select_audit_rows() {
    let Some((_own, url)) = OwnRole::create().await else {
        return;
    };
    {
        // Migrations and the server both run as the owning, non-superuser role.
        let app = TestApp::spawn_with_config(Backend::Postgres, test_config(&url), true).await;
        let (admin, _) = UserBuilder::admin().signed_in(&app).await;
        app.sql("SELECT 1 FROM audit_events LIMIT 1")
            .await
            .expect("reads");
        assert!(
            crate::common::audit_trail::history(
                &app,
                portal_admin::domain::AuditRecordType::User,
                admin.id.0
            )
            .await
            .len()
                >= 2,
            "the service wrote its audit rows (create, sign-in)"
        );
        for (table, column) in AUDIT_TABLES {
            for sql in [
                format!("UPDATE {table} SET {column} = {column}"),
                format!("DELETE FROM {table}"),
                format!("TRUNCATE {table}"),
            ] {
                let err = app.sql(&sql).await.expect_err(&sql);
                assert!(err.contains("permission denied"), "{sql}: {err}");
            }
            app.sql(&format!(
                "DO $$ BEGIN \
                   IF NOT has_table_privilege('{table}', 'INSERT') \
                      OR NOT has_table_privilege('{table}', 'SELECT') THEN \
                     RAISE EXCEPTION '{table}: INSERT and SELECT expected'; \
                   END IF; \
                 END $$"
            ))
            .await
            .expect("INSERT and SELECT kept");
        }
        // The rows are there, so the row trigger fires (audit_seals is empty here).
        let err = app
            .sql("UPDATE audit_events SET id = id")
            .await
            .expect_err("refused");
        assert!(err.contains("append-only"), "{err}");
    }
}
