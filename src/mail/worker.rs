//! The background worker that empties the outbox.
//!
//! Every second, and at once when a transaction that enqueued mail commits, it claims a batch of
//! due mails (a lease, so other instances skip them), sends them one by one and marks each sent
//! right after the server accepted it. Failures are recorded with a backoff; a database or SMTP
//! outage only delays mail, it never fails a request.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::transport::DeliveryError;
use crate::app::{App, AppState};
use crate::db::models::OutboxMail;
use crate::db::models::outbox::{self, FailureOutcome};
use crate::error::AppResult;

/// How often the outbox is polled when nothing wakes the worker.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Mails claimed at once.
pub const BATCH_SIZE: i64 = 10;
/// One send, connecting included. Longer and it counts as a failed attempt.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// A claim outlives the slowest batch (every send timing out) with room to spare, so no other
/// worker takes a mail while it is being sent.
const LEASE_MINUTES: i64 = 15;
/// Tries to mark a sent mail (the database may blip right after SMTP accepted it).
const MARK_SENT_TRIES: u32 = 5;

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchReport {
    pub claimed: usize,
    pub sent: usize,
    pub failed: usize,
    /// Claimed but given back untried because the worker is stopping.
    pub released: usize,
}

/// Starts the worker for `app`. When `shutdown` resolves it finishes the mail in hand (a send is
/// never cut off half-way), gives back the rest of its batch, and the task ends.
pub fn spawn_worker<S>(app: App, shutdown: S) -> JoinHandle<()>
where
    S: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut work = pin!(run(app, stop_rx));
        tokio::select! {
            () = &mut work => return,
            () = shutdown => {}
        }
        let _ = stop_tx.send(true);
        work.await;
    })
}

async fn run(app: App, mut stop: watch::Receiver<bool>) {
    tracing::info!(transport = app.mailer.kind(), "mail worker started");
    let wakeup = app.db.outbox_wakeup().clone();
    let mut healthy = true;
    'poll: loop {
        // Batch after batch while batches come back full: a backlog drains without waiting.
        loop {
            if *stop.borrow() {
                break 'poll;
            }
            match deliver(&app, BATCH_SIZE, Some(&stop)).await {
                Ok(report) => {
                    if !healthy {
                        tracing::info!("mail worker reaches the database again");
                        healthy = true;
                    }
                    if report.claimed < BATCH_SIZE as usize || report.released > 0 {
                        break;
                    }
                }
                Err(err) => {
                    // Said once per outage, not once per poll.
                    if healthy {
                        tracing::warn!(error = ?err, "mail worker cannot read the outbox; retrying");
                        healthy = false;
                    }
                    break;
                }
            }
        }
        tokio::select! {
            changed = stop.changed() => if changed.is_err() { break },
            () = wakeup.notified() => {}
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
    tracing::info!("mail worker stopped");
}

/// Claims up to `limit` due mails and delivers them, for callers that drive delivery themselves
/// (tests, an operator's one-off run). Safe to run alongside workers of this and other
/// instances: each mail is claimed by one of them.
pub async fn deliver_batch(app: &AppState, limit: i64) -> AppResult<BatchReport> {
    deliver(app, limit, None).await
}

async fn deliver(
    app: &AppState,
    limit: i64,
    stop: Option<&watch::Receiver<bool>>,
) -> AppResult<BatchReport> {
    // Reset requests first (they become mail here: the request itself only recorded them).
    crate::services::accounts::process_password_reset_requests(app, limit).await?;
    let now = app.clock.now();
    let claimed = {
        let mut conn = app.db.conn().await?;
        outbox::claim_due(
            &mut conn,
            now,
            now + chrono::Duration::minutes(LEASE_MINUTES),
            limit,
        )
        .await?
    };
    let mut report = BatchReport {
        claimed: claimed.len(),
        ..BatchReport::default()
    };
    for (index, mail) in claimed.iter().enumerate() {
        if stop.is_some_and(|stop| *stop.borrow()) {
            let rest: Vec<_> = claimed[index..].iter().map(|mail| mail.id).collect();
            report.released = rest.len();
            let mut conn = app.db.conn().await?;
            outbox::release(&mut conn, &rest).await?;
            break;
        }
        if deliver_one(app, mail).await {
            report.sent += 1;
        } else {
            report.failed += 1;
        }
    }
    Ok(report)
}

/// Sends one claimed mail and records the outcome. True when it was sent.
async fn deliver_one(app: &AppState, mail: &OutboxMail) -> bool {
    let sent = match app.mailer.build_message(mail) {
        Ok(message) => tokio::time::timeout(SEND_TIMEOUT, app.mailer.send(message))
            .await
            .unwrap_or_else(|_| {
                Err(DeliveryError {
                    message: format!("timed out after {} s", SEND_TIMEOUT.as_secs()),
                    permanent: false,
                })
            }),
        Err(err) => Err(err),
    };
    match sent {
        Ok(()) => {
            mark_sent(app, mail).await;
            true
        }
        Err(err) => {
            record_failure(app, mail, &err).await;
            false
        }
    }
}

/// Marks the mail sent, retrying briefly: until it is marked, its lease is all that keeps it from
/// being sent again.
async fn mark_sent(app: &AppState, mail: &OutboxMail) {
    let mut delay = Duration::from_millis(500);
    for attempt in 1..=MARK_SENT_TRIES {
        let result = async {
            let mut conn = app.db.conn().await?;
            outbox::mark_sent(&mut conn, mail.id, app.clock.now()).await
        }
        .await;
        match result {
            Ok(true) => {
                tracing::info!(outbox_id = %mail.id, template = %mail.template, attempts = mail.attempts + 1, "mail sent");
                return;
            }
            Ok(false) => {
                tracing::warn!(outbox_id = %mail.id, template = %mail.template,
                    "mail sent, but another worker had already finished it (its lease had expired)");
                return;
            }
            Err(err) if attempt < MARK_SENT_TRIES => {
                tracing::warn!(outbox_id = %mail.id, error = ?err, "cannot mark mail sent yet; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(err) => {
                tracing::error!(outbox_id = %mail.id, template = %mail.template, error = ?err,
                    "mail sent but not marked: it will be sent again when its lease expires");
            }
        }
    }
}

async fn record_failure(app: &AppState, mail: &OutboxMail, err: &DeliveryError) {
    let result = async {
        let mut conn = app.db.conn().await?;
        outbox::record_failure(
            &mut conn,
            mail,
            app.clock.now(),
            &err.message,
            app.config.mail_max_attempts,
            err.permanent,
        )
        .await
    }
    .await;
    let attempt = mail.attempts + 1;
    match result {
        Ok(FailureOutcome::RetryAt(at)) => tracing::warn!(
            outbox_id = %mail.id, template = %mail.template, attempt, retry_at = %at,
            error = %err.message, "mail delivery failed; will retry"
        ),
        Ok(FailureOutcome::GaveUp) => tracing::error!(
            outbox_id = %mail.id, template = %mail.template, attempt,
            error = %err.message, "mail delivery failed; giving up on this mail"
        ),
        Err(db_err) => tracing::warn!(
            outbox_id = %mail.id, template = %mail.template, attempt, error = %err.message,
            db_error = ?db_err, "mail delivery failed and could not be recorded; retried when its lease expires"
        ),
    }
}
