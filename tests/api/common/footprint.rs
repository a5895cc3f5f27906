//! What a refused request must leave as it was: counts of audit events and outbox mail, and one
//! user's credentials (password, 2FA, recovery codes, live reset and email-change links).
//! `assert_eq!(footprint(&app, id).await, before)` after each bad path.

use portal_admin::db::models::{recovery_codes, tokens, users};
use portal_admin::domain::UserId;

use super::{Backend, Gql, TestApp};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footprint {
    pub audit_events: i64,
    pub outbox_mails: i64,
    pub user: UserCredentials,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCredentials {
    pub version: i32,
    pub email: String,
    pub password_hash: Option<String>,
    pub totp_secret: Option<String>,
    pub totp_pending_secret: Option<String>,
    pub totp_last_used_step: Option<i64>,
    pub unused_recovery_codes: i64,
    pub live_password_resets: i64,
    pub live_email_changes: i64,
}

pub async fn footprint(app: &TestApp, user_id: UserId) -> Footprint {
    let mut conn = app.app.db.conn().await.expect("conn");
    let now = app.clock().now();
    let user = users::get(&mut conn, user_id).await.expect("user");
    Footprint {
        audit_events: portal_admin::db::audit::count_events(&mut conn)
            .await
            .expect("events"),
        outbox_mails: portal_admin::db::models::outbox::count_all(&mut conn)
            .await
            .expect("mail"),
        user: UserCredentials {
            version: user.version,
            email: user.email,
            password_hash: user.password_hash,
            totp_secret: user.totp_secret_encrypted,
            totp_pending_secret: user.totp_pending_secret_encrypted,
            totp_last_used_step: user.totp_last_used_step,
            unused_recovery_codes: recovery_codes::count_unused(&mut conn, user_id)
                .await
                .expect("codes"),
            live_password_resets: tokens::password_resets::count_live(&mut conn, user_id, now)
                .await
                .expect("resets"),
            live_email_changes: tokens::email_changes::count_live(&mut conn, user_id, now)
                .await
                .expect("email changes"),
        },
    }
}

/// How many mails with `template` were enqueued to `address` (sent or not: the worker drops a
/// mail's bodies once sent, never the row).
pub async fn outbox_count(app: &TestApp, address: &str, template: &str) -> usize {
    let mut conn = app.app.db.conn().await.expect("conn");
    portal_admin::db::models::outbox::recent(&mut conn, 500)
        .await
        .expect("outbox")
        .into_iter()
        .filter(|m| m.to_address.eq_ignore_ascii_case(address) && m.template == template)
        .count()
}

/// The text of the mails delivered to `address` whose subject contains `subject_part` (waiting
/// for at least one), in delivery order.
pub async fn delivered_texts(app: &TestApp, address: &str, subject_part: &str) -> Vec<String> {
    let (address, subject_part) = (address.to_owned(), subject_part.to_owned());
    app.wait_for_mail(
        move |m| m.is_to(&address) && m.subject.contains(&subject_part),
        std::time::Duration::from_secs(20),
    )
    .await
    .into_iter()
    .map(|m| m.text.unwrap_or_default())
    .collect()
}

/// The token of the `PUBLIC_URL/{path}?token=` link in the one mail delivered to `address` with
/// `subject_part` in its subject.
pub async fn mailed_token(app: &TestApp, address: &str, subject_part: &str, path: &str) -> String {
    let texts = delivered_texts(app, address, subject_part).await;
    assert_eq!(texts.len(), 1, "one {subject_part:?} mail to {address}");
    token_in_text(&texts[0], path)
}

/// The token of the first `PUBLIC_URL/{path}?token=` link in `text`.
pub fn token_in_text(text: &str, path: &str) -> String {
    let marker = format!("http://portal.test/{path}?token=");
    let start = text
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker} link in: {text}"))
        + marker.len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// Another server over the same database and secrets (PostgreSQL: two instances sharing state).
pub async fn second_instance(app: &TestApp) -> TestApp {
    TestApp::spawn_with_config(app.backend, app.app.config.clone(), false).await
}

/// Sends one anonymous `document` `count` times at once, alternating between `app` and a second
/// instance over the same database when the backend is PostgreSQL (SQLite is one process's
/// file), the way an attacker races a single-use credential.
pub async fn burst(
    app: &TestApp,
    count: usize,
    document: &str,
    variables: serde_json::Value,
) -> Vec<Gql> {
    let other = match app.backend {
        Backend::Postgres => Some(second_instance(app).await),
        Backend::Sqlite => None,
    };
    let attempts = (0..count).map(|i| {
        let target = match (&other, i % 2) {
            (Some(other), 1) => other,
            _ => app,
        };
        let variables = variables.clone();
        async move { target.gql(None, document, variables).await }
    });
    futures::future::join_all(attempts).await
}

impl Footprint {
    /// The same footprint plus `n` audit events: what `n` wrong passwords leave (one
    /// SIGN_IN_FAILED each, checked by [`assert_failed_attempts`]), and nothing else.
    pub fn with_failed_attempts(&self, n: i64) -> Footprint {
        Footprint {
            audit_events: self.audit_events + n,
            ..self.clone()
        }
    }
}

/// The newest `n` events of `user_id`'s History are SIGN_IN_FAILED with no actor (whoever typed
/// the password is not known to be the owner), each with a reason.
pub async fn assert_failed_attempts(app: &TestApp, user_id: UserId, n: usize) {
    use portal_admin::domain::{AuditAction, AuditRecordType};
    let history = super::audit_trail::history(app, AuditRecordType::User, user_id.0).await;
    let failed: Vec<_> = history
        .iter()
        .take_while(|e| e.action() == AuditAction::SignInFailed)
        .collect();
    assert_eq!(failed.len(), n, "SIGN_IN_FAILED rows on top of the History");
    for event in failed {
        assert_eq!(event.event.actor_id, None, "no actor on a failed attempt");
        assert!(event.event.reason.as_deref().is_some_and(|r| !r.is_empty()));
    }
}
