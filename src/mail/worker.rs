//! The background worker that empties the outbox.
//!
//! Every second, and at once when a transaction that enqueued mail commits, it claims a batch of
//! due mails (a short lease, `MAIL_LEASE_SECONDS`, so other instances skip them), sends them one
//! by one and marks each sent right after the server accepted it. While the batch is in hand the
//! lease is renewed every third of its length, a send in progress included: a live worker keeps
//! its mail however slow the server, and a crashed worker's mail is due again within one lease.
//! Each mail carries a Message-ID derived from its outbox row alone (see
//! `Mailer::build_message`), so the one resend a crash can cause is recognisably the same
//! message. Failures are recorded with a backoff; a database or SMTP
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
/// The shortest lease `MAIL_LEASE_SECONDS` may ask for: renewals must have time to land.
const MIN_LEASE: Duration = Duration::from_secs(1);
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

/// The lease from the configuration, never shorter than [`MIN_LEASE`].
fn lease_of(app: &AppState) -> Duration {
    Duration::from_secs(app.config.mail_lease_seconds).max(MIN_LEASE)
}

async fn deliver(
    app: &AppState,
    limit: i64,
    stop: Option<&watch::Receiver<bool>>,
) -> AppResult<BatchReport> {
    // Reset requests first (they become mail here: the request itself only recorded them).
    crate::services::accounts::process_password_reset_requests(app, limit).await?;
    let lease = lease_of(app);
    let lease_chrono = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    let now = app.clock.now();
    let mut held_until = now + lease_chrono;
    let claimed = {
        let mut conn = app.db.conn().await?;
        outbox::claim_due(&mut conn, now, held_until, limit).await?
    };
    let mut report = BatchReport {
        claimed: claimed.len(),
        ..BatchReport::default()
    };
    let renew_every = lease / 3;
    let mut renewal =
        tokio::time::interval_at(tokio::time::Instant::now() + renew_every, renew_every);
    renewal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for (index, mail) in claimed.iter().enumerate() {
        if stop.is_some_and(|stop| *stop.borrow()) {
            let rest: Vec<_> = claimed[index..].iter().map(|mail| mail.id).collect();
            report.released = rest.len();
            let mut conn = app.db.conn().await?;
            outbox::release(&mut conn, &rest).await?;
            break;
        }
        let mut send = pin!(deliver_one(app, mail));
        let sent = loop {
            tokio::select! {
                sent = &mut send => break sent,
                _ = renewal.tick() => {
                    held_until = renew(app, &claimed[index..], held_until, lease_chrono).await;
                }
            }
        };
        if sent {
            report.sent += 1;
        } else {
            report.failed += 1;
        }
    }
    Ok(report)
}

/// Extends the lease on the mails of the batch not finished yet; returns the lease now held (the
/// old one when the database could not be reached: the next tick tries again).
async fn renew(
    app: &AppState,
    mails: &[OutboxMail],
    held_until: chrono::NaiveDateTime,
    lease: chrono::Duration,
) -> chrono::NaiveDateTime {
    let ids: Vec<_> = mails.iter().map(|mail| mail.id).collect();
    let until = app.clock.now() + lease;
    let result = async {
        let mut conn = app.db.conn().await?;
        outbox::renew(&mut conn, &ids, held_until, until).await
    }
    .await;
    match result {
        Ok(renewed) => {
            tracing::debug!(renewed, until = %until, "mail lease renewed");
            until
        }
        Err(err) => {
            tracing::warn!(error = ?err, "cannot renew the mail lease; retrying");
            held_until
        }
    }
}

/// Sends one claimed mail and records the outcome. True when it was sent.
async fn deliver_one(app: &AppState, mail: &OutboxMail) -> bool {
    let sent = match opened(app, mail).and_then(|mail| app.mailer.build_message(&mail)) {
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

/// The mail with its bodies decrypted (see [`super::enqueue`]). A body that does not open (the
/// key was rotated, or the row was altered) is a permanent failure: retrying cannot help.
/// Bodies written before they were encrypted are sent as they are.
fn opened(app: &AppState, mail: &OutboxMail) -> Result<OutboxMail, DeliveryError> {
    let key = app.totp_key.outbox_key();
    let context = super::body_context(&mail.template, &mail.to_address);
    let open = |body: &str| {
        if !body.starts_with("v1:") {
            return Ok(body.to_owned());
        }
        key.open_text(&context, body).ok_or_else(|| DeliveryError {
            message:
                "the mail does not decrypt (TOTP_ENCRYPTION_KEY changed, or the row was altered)"
                    .to_owned(),
            permanent: true,
        })
    };
    Ok(OutboxMail {
        body_text: open(&mail.body_text)?,
        body_html: open(&mail.body_html)?,
        ..mail.clone()
    })
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
