//! Mail, never lost: mail is enqueued in the transaction of the change that causes it, sent over
//! a real SMTP server (or written to MAIL_DIR) by the background worker, retried through an SMTP
//! outage, and never sent twice, even with two workers on one database.

use std::collections::HashSet;
use std::time::Duration;

use portal_admin::app::{App, AppState};
use portal_admin::db::models::OutboxMail;
use portal_admin::db::models::outbox;
use portal_admin::domain::OutboxMailId;
use portal_admin::domain::audit::AuditActor;
use portal_admin::error::{AppError, AppResult};
use portal_admin::mail::{self, MailMessage};
use scoped_futures::ScopedFutureExt;

use crate::common::TestApp;
use crate::common::smtp::ReceivedMail;
use crate::on_both_backends;

/// Generous: a slow CI machine must not fail these, and no test waits this long when it passes.
const WAIT: Duration = Duration::from_secs(30);

async fn enqueue_committed(app: &App, message: MailMessage) -> OutboxMailId {
    let state = app.clone();
    app.db
        .write(AuditActor::system(), |tx| {
            async move { mail::enqueue(tx, &state, message).await }.scope_boxed()
        })
        .await
        .expect("the transaction commits")
}

async fn outbox_row(app: &App, id: OutboxMailId) -> OutboxMail {
    let mut conn = app.db.conn().await.expect("conn");
    outbox::find(&mut conn, id)
        .await
        .expect("query")
        .expect("the outbox row exists")
}

/// Polls the outbox row until `done` holds.
async fn wait_for_row(
    app: &App,
    id: OutboxMailId,
    done: impl Fn(&OutboxMail) -> bool,
) -> OutboxMail {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let row = outbox_row(app, id).await;
        if done(&row) {
            return row;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "outbox row never reached the expected state: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn password_changed(to: &str) -> MailMessage {
    MailMessage::PasswordChanged {
        to: to.into(),
        name: "Marker".into(),
    }
}

/// Sends a later mail and waits for it: the outbox goes oldest first, so whatever was due before
/// it has been dealt with once it arrives.
async fn flush_with_marker(app: &TestApp, marker: &str) {
    enqueue_committed(&app.app, password_changed(marker)).await;
    app.wait_for_mail(|m| m.is_to(marker), WAIT).await;
}

fn count_to(app: &TestApp, address: &str) -> usize {
    app.smtp
        .as_ref()
        .expect("app with SMTP")
        .received()
        .iter()
        .filter(|m| m.is_to(address))
        .count()
}

async fn committed_mail_arrives_once_over_smtp(app: TestApp) {
    let link = mail::invitation_link(&app.app.config, "tok en/+=");
    assert_eq!(
        link, "http://portal.test/accept-invitation?token=tok+en%2F%2B%3D",
        "built from PUBLIC_URL with the token URL-encoded"
    );
    let expires_at = app.clock().now() + chrono::Duration::hours(168);
    let id = enqueue_committed(
        &app.app,
        MailMessage::Invitation {
            to: "new.user@example.com".into(),
            name: "New <User>".into(),
            inviter_name: Some("Ada Admin".into()),
            link: link.clone(),
            expires_at,
        },
    )
    .await;

    let received = app
        .wait_for_mail(|m| m.is_to("new.user@example.com"), WAIT)
        .await;
    assert_eq!(received.len(), 1);
    let mail: &ReceivedMail = &received[0];
    assert_eq!(mail.subject, "Ada Admin invited you to Portal");
    assert!(mail.from.contains("no-reply@localhost"), "{}", mail.from);
    assert_eq!(mail.envelope_to, ["new.user@example.com"]);
    assert!(
        mail.message_id.contains(&format!("outbox-{id}-")),
        "{}",
        mail.message_id
    );
    let text = mail.text.as_deref().expect("a text/plain part");
    let html = mail.html.as_deref().expect("a text/html part");
    assert!(text.starts_with("Hello New <User>,"), "{text}");
    assert!(
        html.contains("Hello New &lt;User&gt;,"),
        "HTML escapes names"
    );
    assert!(mail.text_links().contains(&link), "{:?}", mail.text_links());
    assert!(mail.html_links().contains(&link), "{:?}", mail.html_links());

    let row = wait_for_row(&app.app, id, |row| row.sent_at.is_some()).await;
    assert_eq!(row.template, "invitation");
    assert_eq!(row.attempts, 1);
    assert!(row.locked_until.is_none() && row.failed_at.is_none() && row.last_error.is_none());
    assert!(
        row.body_text.is_empty() && row.body_html.is_empty(),
        "a sent mail's link does not stay in the database"
    );

    flush_with_marker(&app, "marker@example.com").await;
    assert_eq!(
        count_to(&app, "new.user@example.com"),
        1,
        "sent exactly once"
    );
}

async fn rolled_back_mail_is_never_sent(app: TestApp) {
    let state = app.app.clone();
    let result: AppResult<()> = app
        .app
        .db
        .write(AuditActor::system(), |tx| {
            async move {
                let link = mail::reset_link(&state.config, "never-sent");
                mail::enqueue(
                    tx,
                    &state,
                    MailMessage::PasswordReset {
                        to: "ghost@example.com".into(),
                        name: "Ghost".into(),
                        link,
                        expires_at: state.clock.now() + chrono::Duration::hours(1),
                    },
                )
                .await?;
                Err(AppError::conflict("the change failed after enqueueing"))
            }
            .scope_boxed()
        })
        .await;
    assert!(result.is_err());

    let mut conn = app.app.db.conn().await.expect("conn");
    assert!(
        outbox::recent(&mut conn, 10)
            .await
            .expect("query")
            .is_empty(),
        "the outbox row rolled back with the change"
    );
    drop(conn);

    flush_with_marker(&app, "marker@example.com").await;
    assert_eq!(count_to(&app, "ghost@example.com"), 0);
}

async fn mail_survives_an_smtp_outage(mut app: TestApp) {
    app.smtp.as_mut().expect("smtp").stop().await;
    let link = mail::reset_link(&app.app.config, "outage-token");
    let id = enqueue_committed(
        &app.app,
        MailMessage::PasswordReset {
            to: "outage@example.com".into(),
            name: "Olive".into(),
            link: link.clone(),
            expires_at: app.clock().now() + chrono::Duration::hours(1),
        },
    )
    .await;

    // The worker tried, failed, and scheduled a retry with backoff.
    let failed = wait_for_row(&app.app, id, |row| row.attempts >= 1).await;
    assert!(failed.sent_at.is_none() && failed.failed_at.is_none());
    assert!(failed.locked_until.is_none(), "the claim is released");
    assert!(failed.next_attempt_at > failed.created_at, "backoff");
    let last_error = failed.last_error.as_deref().expect("last_error recorded");
    assert!(!last_error.is_empty());
    assert!(
        !last_error.contains("outage-token"),
        "no secrets in last_error: {last_error}"
    );
    assert!(!failed.body_text.is_empty(), "kept for the retry");
    // Waiting, the mail's single-use link is not readable from the database.
    for body in [&failed.body_text, &failed.body_html] {
        assert!(body.starts_with("v1:"), "encrypted at rest: {body}");
        assert!(!body.contains("outage-token"), "no link in clear: {body}");
    }

    app.smtp.as_mut().expect("smtp").restart().await;
    // The retry is due after the backoff on the app's clock: move the clock instead of waiting.
    app.clock().advance(chrono::Duration::minutes(11));
    app.app.db.outbox_wakeup().notify_one();

    let received = app
        .wait_for_mail(|m| m.is_to("outage@example.com"), WAIT)
        .await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].subject, "Reset your Portal password");
    assert!(received[0].text_links().contains(&link));
    let sent = wait_for_row(&app.app, id, |row| row.sent_at.is_some()).await;
    assert!(sent.attempts >= 2, "{sent:?}");

    flush_with_marker(&app, "marker@example.com").await;
    assert_eq!(count_to(&app, "outage@example.com"), 1, "exactly once");
}

/// A worker that claimed mail and died: its lease keeps others off until it expires, then the
/// mail goes out.
async fn a_dead_workers_claim_expires(mut app: TestApp) {
    app.stop_mail_worker().await;
    let id = enqueue_committed(&app.app, password_changed("orphan@example.com")).await;

    let now = app.clock().now();
    let mut conn = app.app.db.conn().await.expect("conn");
    let claimed = outbox::claim_due(&mut conn, now, now + chrono::Duration::minutes(15), 10)
        .await
        .expect("claim");
    assert_eq!(claimed.iter().map(|m| m.id).collect::<Vec<_>>(), [id]);
    drop(conn);

    let report = mail::deliver_batch(&app.app, 10).await.expect("batch");
    assert_eq!(report.claimed, 0, "the lease holds");

    app.clock().advance(chrono::Duration::minutes(16));
    let report = mail::deliver_batch(&app.app, 10).await.expect("batch");
    assert_eq!((report.claimed, report.sent), (1, 1));
    let received = app
        .wait_for_mail(|m| m.is_to("orphan@example.com"), WAIT)
        .await;
    assert_eq!(received.len(), 1);
    assert_eq!(outbox_row(&app.app, id).await.attempts, 1);
}

/// After MAIL_MAX_ATTEMPTS failures the mail is given up: `failed_at` set, bodies dropped, and it
/// is never tried again.
async fn mail_is_given_up_after_max_attempts(mut app: TestApp) {
    app.stop_mail_worker().await;
    app.smtp.as_mut().expect("smtp").stop().await;
    let mut config = app.app.config.clone();
    config.mail_max_attempts = 2;
    let instance = AppState::new(config, app.clock().clone()).expect("instance");

    let id = enqueue_committed(&app.app, password_changed("bounce@example.com")).await;
    let first = mail::deliver_batch(&instance, 10).await.expect("batch");
    assert_eq!((first.claimed, first.failed), (1, 1));
    let row = outbox_row(&app.app, id).await;
    assert_eq!(row.attempts, 1);
    assert!(
        row.next_attempt_at >= row.created_at + outbox::retry_delay(1),
        "retried after the backoff: {row:?}"
    );

    app.clock().advance(chrono::Duration::seconds(
        outbox::retry_delay(1).num_seconds() + 1,
    ));
    let second = mail::deliver_batch(&instance, 10).await.expect("batch");
    assert_eq!((second.claimed, second.failed), (1, 1));
    let row = outbox_row(&app.app, id).await;
    assert_eq!(row.attempts, 2);
    assert!(row.failed_at.is_some(), "given up: {row:?}");
    assert!(row.body_text.is_empty() && row.body_html.is_empty());
    assert!(row.last_error.is_some());

    app.smtp.as_mut().expect("smtp").restart().await;
    app.clock().advance(chrono::Duration::hours(1));
    assert_eq!(
        mail::deliver_batch(&instance, 10)
            .await
            .expect("batch")
            .claimed,
        0
    );
    let mut conn = app.app.db.conn().await.expect("conn");
    assert_eq!(outbox::count_pending(&mut conn).await.expect("count"), 0);
    instance.db.close();
}

/// Two instances (two pools, one database) claiming at once: each mail is delivered once.
async fn two_workers_never_send_the_same_mail_twice(mut app: TestApp) {
    app.stop_mail_worker().await;
    let other = AppState::new(app.app.config.clone(), app.clock().clone()).expect("instance");

    let state = app.app.clone();
    app.app
        .db
        .write(AuditActor::system(), |tx| {
            async move {
                for i in 0..20 {
                    mail::enqueue(
                        tx,
                        &state,
                        password_changed(&format!("user{i}@example.com")),
                    )
                    .await?;
                }
                Ok(())
            }
            .scope_boxed()
        })
        .await
        .expect("20 mails enqueued");

    let claim_loops: Vec<_> = [app.app.clone(), other.clone()]
        .into_iter()
        .map(|instance| {
            tokio::spawn(async move {
                let mut sent = 0;
                for _ in 0..100 {
                    let report = mail::deliver_batch(&instance, 3).await.expect("batch");
                    sent += report.sent;
                    if report.claimed == 0 {
                        break;
                    }
                }
                sent
            })
        })
        .collect();
    let mut per_worker = Vec::new();
    for claim_loop in claim_loops {
        per_worker.push(claim_loop.await.expect("claim loop"));
    }
    eprintln!("deliveries per worker: {per_worker:?}");
    assert_eq!(per_worker.iter().sum::<usize>(), 20);

    let received = app.smtp.as_ref().expect("smtp").received();
    assert_eq!(received.len(), 20, "exactly 20 deliveries");
    let message_ids: HashSet<&str> = received.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(message_ids.len(), 20, "20 distinct mails");
    let recipients: HashSet<&str> = received.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(recipients.len(), 20);

    let mut conn = app.app.db.conn().await.expect("conn");
    let rows = outbox::recent(&mut conn, 100).await.expect("rows");
    assert_eq!(rows.len(), 20);
    assert!(
        rows.iter()
            .all(|row| row.sent_at.is_some() && row.attempts == 1),
        "{rows:?}"
    );
    other.db.close();
}

/// A second instance on the same database with a short lease (`MAIL_LEASE_SECONDS`).
fn instance_with_lease(app: &TestApp, seconds: u64) -> App {
    let mut config = app.app.config.clone();
    config.mail_lease_seconds = seconds;
    AppState::new(config, app.clock().clone()).expect("instance")
}

/// The lease the tests below run with: short, so they take seconds.
const SHORT_LEASE: u64 = 2;

/// A worker dies after the SMTP server took a mail and before the row was marked sent (the
/// server stores it, then the worker is killed while waiting for the 250): another instance
/// picks the batch up once the lease runs out, within one lease of the crash, and every mail
/// arrives, the one resent carrying the same Message-ID both times.
async fn a_crash_mid_send_resends_the_same_message_within_the_lease(mut app: TestApp) {
    app.stop_mail_worker().await;
    let crashing = instance_with_lease(&app, SHORT_LEASE);
    let survivor = instance_with_lease(&app, SHORT_LEASE);
    let smtp = app.smtp.as_ref().expect("smtp");
    let addresses = [
        "crash1@example.com",
        "crash2@example.com",
        "crash3@example.com",
    ];
    let mut ids = Vec::new();
    for address in addresses {
        ids.push(enqueue_committed(&app.app, password_changed(address)).await);
    }

    smtp.hold_acceptance(true);
    let worker = {
        let crashing = crashing.clone();
        tokio::spawn(async move { mail::deliver_batch(&crashing, 10).await })
    };
    smtp.wait_for_mail(|m| m.is_to(addresses[0]), WAIT).await;
    // The crash: the worker's task is gone mid-send, nothing after the send runs.
    worker.abort();
    assert!(worker.await.is_err_and(|err| err.is_cancelled()));
    crashing.db.close();
    let crashed_at = tokio::time::Instant::now();
    smtp.hold_acceptance(false);

    let report = mail::deliver_batch(&survivor, 10).await.expect("batch");
    assert_eq!(report.claimed, 0, "the dead worker's lease still holds");
    let picked_up = loop {
        let report = mail::deliver_batch(&survivor, 10).await.expect("batch");
        if report.claimed > 0 {
            assert_eq!((report.claimed, report.sent), (3, 3), "{report:?}");
            break crashed_at.elapsed();
        }
        assert!(
            crashed_at.elapsed() < Duration::from_secs(SHORT_LEASE * 5),
            "the crashed worker's mail was never picked up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("picked up {picked_up:?} after the crash (lease {SHORT_LEASE} s)");
    assert!(
        picked_up <= Duration::from_millis(SHORT_LEASE * 1000 + 1500),
        "re-pickup within the lease: {picked_up:?}"
    );

    let received = smtp.received();
    let first: Vec<&ReceivedMail> = received.iter().filter(|m| m.is_to(addresses[0])).collect();
    assert_eq!(
        first.len(),
        2,
        "the mail in flight at the crash is sent again"
    );
    assert_eq!(
        first[0].message_id, first[1].message_id,
        "as the same message"
    );
    assert!(
        first[0]
            .message_id
            .starts_with(&format!("<outbox-{}-", ids[0])),
        "the Message-ID names the outbox row: {}",
        first[0].message_id
    );
    for address in &addresses[1..] {
        assert_eq!(
            count_to(&app, address),
            1,
            "{address}: once, never tried before"
        );
    }
    let message_ids: HashSet<&str> = received.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(
        message_ids.len(),
        3,
        "three distinct messages in four deliveries"
    );
    for id in ids {
        let row = outbox_row(&app.app, id).await;
        assert!(
            row.sent_at.is_some() && row.locked_until.is_none(),
            "{row:?}"
        );
    }
    survivor.db.close();
}

/// A send that takes several leases (the server is slow to accept) keeps its claim: the lease
/// is renewed while the send is in progress, another instance polling all the while claims
/// nothing, and the mail arrives once.
async fn a_slow_send_renews_its_lease(mut app: TestApp) {
    app.stop_mail_worker().await;
    let sender = instance_with_lease(&app, SHORT_LEASE);
    let other = instance_with_lease(&app, SHORT_LEASE);
    let smtp = app.smtp.as_ref().expect("smtp");
    let id = enqueue_committed(&app.app, password_changed("slow@example.com")).await;

    smtp.hold_acceptance(true);
    let worker = {
        let sender = sender.clone();
        tokio::spawn(async move { mail::deliver_batch(&sender, 10).await })
    };
    smtp.wait_for_mail(|m| m.is_to("slow@example.com"), WAIT)
        .await;
    let first_lease = outbox_row(&app.app, id)
        .await
        .locked_until
        .expect("claimed");
    let held = tokio::time::Instant::now();
    while held.elapsed() < Duration::from_secs(SHORT_LEASE * 3) {
        let report = mail::deliver_batch(&other, 10).await.expect("batch");
        assert_eq!(
            report.claimed, 0,
            "the renewed lease keeps the mail in hand"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let renewed = outbox_row(&app.app, id)
        .await
        .locked_until
        .expect("still claimed");
    assert!(
        renewed >= first_lease + chrono::Duration::seconds(SHORT_LEASE as i64),
        "renewed from {first_lease} to {renewed}"
    );
    smtp.hold_acceptance(false);

    let report = worker.await.expect("worker").expect("batch");
    assert_eq!((report.claimed, report.sent), (1, 1));
    assert_eq!(count_to(&app, "slow@example.com"), 1, "exactly once");
    let row = outbox_row(&app.app, id).await;
    assert!(row.sent_at.is_some() && row.locked_until.is_none() && row.attempts == 1);
    sender.db.close();
    other.db.close();
}

on_both_backends!(
    with_smtp: a_crash_mid_send_resends_the_same_message_within_the_lease,
    a_slow_send_renews_its_lease,
);

on_both_backends!(
    with_smtp: committed_mail_arrives_once_over_smtp,
    rolled_back_mail_is_never_sent,
    mail_survives_an_smtp_outage,
    a_dead_workers_claim_expires,
    mail_is_given_up_after_max_attempts,
    two_workers_never_send_the_same_mail_twice,
);

/// Without SMTP_URL, mail is written as `.eml` files under MAIL_DIR (created on first use).
async fn without_smtp_mail_lands_in_mail_dir(app: TestApp) {
    assert!(app.smtp.is_none());
    assert!(!app.mail_dir().exists(), "made on first use only");
    let link = mail::reset_link(&app.app.config, "file-token");
    let id = enqueue_committed(
        &app.app,
        MailMessage::PasswordReset {
            to: "files@example.com".into(),
            name: "Fay".into(),
            link: link.clone(),
            expires_at: app.clock().now() + chrono::Duration::hours(1),
        },
    )
    .await;

    let received = app
        .wait_for_mail(|m| m.is_to("files@example.com"), WAIT)
        .await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].subject, "Reset your Portal password");
    assert!(received[0].text_links().contains(&link));
    assert!(received[0].html_links().contains(&link));
    wait_for_row(&app.app, id, |row| row.sent_at.is_some()).await;
    let files = std::fs::read_dir(app.mail_dir())
        .expect("MAIL_DIR exists")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "eml"))
        .count();
    assert_eq!(files, 1);
}

on_both_backends!(without_smtp_mail_lands_in_mail_dir);
