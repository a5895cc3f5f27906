//! Tamper evidence: committed audit events, in id order, chained into SHA-256 batches.
//!
//! Each event has a canonical form ([`canonical_bytes`]: the event, its changes and the records
//! it shows on, as JSON with a fixed field order) and a digest, SHA-256 of that form. A seal
//! covers the events after the previous seal up to a horizon; its hash is SHA-256 over the
//! previous seal's hash and the digests of its events, in id order, so the newest seal's hash
//! (the chain head) commits to every sealed event. The digests are kept per event
//! (`audit_event_digests`) so `audit verify` can name the first event that no longer matches.
//!
//! Sealing never holds up writers: it reads committed rows and writes only its own tables. What
//! it must not do is seal past an id that a transaction still in flight holds, or that event
//! would later commit below the chain head and look inserted. The horizon:
//!
//! - PostgreSQL: ids come from a sequence, handed out before commit and committed in any order.
//!   Every audited write transaction takes its transaction id before it allocates an event id
//!   (`WriteTx::audit`). The sealer reads the highest visible id `M` and the snapshot's `xmax`
//!   in one statement, then waits until `pg_snapshot_xmin` of a fresh snapshot reaches that
//!   `xmax`: every transaction that had an id then (so every one that could hold an id <= `M`)
//!   has committed or rolled back. Ids <= `M` are then final and are sealed.
//! - SQLite: one writer at a time (BEGIN IMMEDIATE behind the pool's writer lock), ids allocated
//!   by that writer above every committed id, and readers see only committed rows. So every id
//!   up to the highest committed one is final as soon as it is visible.
//!
//! Not covered: events newer than the last seal (sealed on the next run), and the removal of the
//! newest seals together with their events; record the chain head elsewhere (`auditChainHead`,
//! `portal-admin audit seal` prints it) to catch that.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use scoped_futures::ScopedFutureExt;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{AuditChange, AuditEvent, AuditRef, changes_of, events_after_id, refs_of};
use crate::db::schema::{audit_event_digests, audit_events, audit_seals};
use crate::db::{Backend, Database, DbConn, dispatch};
use crate::domain::AuditEventId;
use crate::domain::audit::AuditActor;
use crate::error::{AppError, AppResult};

/// The chain's start: the previous hash of the first seal.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Events per seal (and per read while verifying).
pub const BATCH: i64 = 1000;

/// Advisory lock key of the sealer on PostgreSQL, so instances take turns.
const SEAL_LOCK_KEY: i64 = 0x6175_6469_7473;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_seals)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Seal {
    pub id: i64,
    pub first_event_id: AuditEventId,
    pub last_event_id: AuditEventId,
    pub event_count: i64,
    pub previous_hash: String,
    pub hash: String,
    pub sealed_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = audit_seals)]
struct NewSeal<'a> {
    first_event_id: AuditEventId,
    last_event_id: AuditEventId,
    event_count: i64,
    previous_hash: &'a str,
    hash: &'a str,
    sealed_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = audit_event_digests)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct EventDigest {
    pub event_id: AuditEventId,
    pub seal_id: i64,
    pub digest: String,
}

/// An event with everything it says, as sealed, verified and exported.
#[derive(Debug, Clone)]
pub struct FullEvent {
    pub event: AuditEvent,
    pub changes: Vec<AuditChange>,
    pub refs: Vec<AuditRef>,
}

/// Loads the changes and refs of `events` (two queries), keeping the events' order.
pub async fn with_details(conn: &mut DbConn, events: Vec<AuditEvent>) -> AppResult<Vec<FullEvent>> {
    let ids: Vec<AuditEventId> = events.iter().map(|e| e.id).collect();
    let (changes, refs) = if ids.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        (changes_of(conn, &ids).await?, refs_of(conn, &ids).await?)
    };
    let mut changes_by: std::collections::HashMap<AuditEventId, Vec<AuditChange>> =
        std::collections::HashMap::new();
    for change in changes {
        changes_by.entry(change.event_id).or_default().push(change);
    }
    let mut refs_by: std::collections::HashMap<AuditEventId, Vec<AuditRef>> =
        std::collections::HashMap::new();
    for r in refs {
        refs_by.entry(r.event_id).or_default().push(r);
    }
    Ok(events
        .into_iter()
        .map(|event| FullEvent {
            changes: changes_by.remove(&event.id).unwrap_or_default(),
            refs: refs_by.remove(&event.id).unwrap_or_default(),
            event,
        })
        .collect())
}

fn timestamp(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[derive(Serialize)]
struct CanonicalEvent<'a> {
    id: i64,
    occurred_at: String,
    action: &'a str,
    record_type: &'a str,
    record_id: i64,
    actor_id: Option<i64>,
    impersonator_id: Option<i64>,
    request_id: Option<&'a str>,
    client_ip: Option<&'a str>,
    reason: Option<&'a str>,
    changes: Vec<CanonicalChange<'a>>,
    refs: Vec<(&'a str, i64)>,
}

#[derive(Serialize)]
struct CanonicalChange<'a> {
    id: i64,
    record_type: &'a str,
    field: &'a str,
    before: Option<&'a str>,
    after: Option<&'a str>,
    redacted: bool,
    occurred_at: String,
}

/// The bytes a digest is taken of: every stored column of the event, its changes (in id order)
/// and its refs (sorted), as compact JSON in a fixed field order.
pub fn canonical_bytes(full: &FullEvent) -> Vec<u8> {
    let e = &full.event;
    let canonical = CanonicalEvent {
        id: e.id.0,
        occurred_at: timestamp(e.occurred_at),
        action: e.action.as_str(),
        record_type: e.record_type.as_str(),
        record_id: e.record_id,
        actor_id: e.actor_id.map(|id| id.0),
        impersonator_id: e.impersonator_id.map(|id| id.0),
        request_id: e.request_id.as_deref(),
        client_ip: e.client_ip.as_deref(),
        reason: e.reason.as_deref(),
        changes: full
            .changes
            .iter()
            .map(|c| CanonicalChange {
                id: c.id,
                record_type: c.record_type.as_str(),
                field: &c.field,
                before: c.before_value.as_deref(),
                after: c.after_value.as_deref(),
                redacted: c.redacted,
                occurred_at: timestamp(c.occurred_at),
            })
            .collect(),
        refs: full
            .refs
            .iter()
            .map(|r| (r.record_type.as_str(), r.record_id))
            .collect(),
    };
    // Serialising plain strings and numbers cannot fail.
    serde_json::to_vec(&canonical).unwrap_or_default()
}

pub fn digest(full: &FullEvent) -> String {
    hex::encode(Sha256::digest(canonical_bytes(full)))
}

/// A seal's hash: SHA-256 over the previous hash and each digest, one per line.
pub fn seal_hash<'a>(previous: &str, digests: impl IntoIterator<Item = &'a str>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(previous.as_bytes());
    for digest in digests {
        hasher.update(b"\n");
        hasher.update(digest.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The newest seal, if any.
pub async fn head(conn: &mut DbConn) -> AppResult<Option<Seal>> {
    let seal = dispatch!(conn, |c| {
        audit_seals::table
            .order(audit_seals::id.desc())
            .select(Seal::as_select())
            .first(c)
            .await
            .optional()
    })?;
    Ok(seal)
}

#[derive(QueryableByName)]
struct Frontier {
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    max_id: Option<i64>,
    #[diesel(sql_type = BigInt)]
    xmax: i64,
}

#[derive(QueryableByName)]
struct Xmin {
    #[diesel(sql_type = BigInt)]
    xmin: i64,
}

/// The highest event id below which no transaction can still commit (see the module doc);
/// `None` when there are no events, or PostgreSQL transactions did not finish within `wait`.
pub async fn horizon(db: &Database, wait: Duration) -> AppResult<Option<AuditEventId>> {
    let mut conn = db.conn().await?;
    match &mut conn {
        DbConn::Sqlite(c) => {
            let max: Option<AuditEventId> = audit_events::table
                .select(diesel::dsl::max(audit_events::id))
                .get_result(&mut **c)
                .await?;
            Ok(max)
        }
        DbConn::Postgres(c) => {
            let frontier: Frontier = diesel::sql_query(
                "SELECT (SELECT max(id) FROM audit_events) AS max_id, \
                 pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax",
            )
            .get_result(&mut **c)
            .await?;
            let Some(max_id) = frontier.max_id else {
                return Ok(None);
            };
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                let now: Xmin = diesel::sql_query(
                    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin",
                )
                .get_result(&mut **c)
                .await?;
                if now.xmin >= frontier.xmax {
                    return Ok(Some(AuditEventId(max_id)));
                }
                if tokio::time::Instant::now() >= deadline {
                    return Ok(None);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// What a sealing run did.
#[derive(Debug, Clone, Default)]
pub struct SealRun {
    pub events: u64,
    pub seals: u64,
    pub head: Option<Seal>,
}

/// Seals every final event not sealed yet, in batches of [`BATCH`]. Safe to run from several
/// instances at once: they take turns (advisory lock on PostgreSQL, the writer lock on SQLite),
/// and a seal is only written on top of the head it was computed from.
pub async fn seal_pending(db: &Database, wait: Duration) -> AppResult<SealRun> {
    let mut run = SealRun::default();
    let Some(horizon) = horizon(db, wait).await? else {
        let mut conn = db.conn().await?;
        run.head = head(&mut conn).await?;
        return Ok(run);
    };
    loop {
        let backend = db.backend();
        let written = db
            .write(AuditActor::system(), |tx| {
                async move {
                    let now = tx.now();
                    let conn = tx.conn()?;
                    if backend == Backend::Postgres {
                        dispatch!(conn, |c| {
                            diesel::sql_query(format!(
                                "SELECT pg_advisory_xact_lock({SEAL_LOCK_KEY})"
                            ))
                            .execute(c)
                            .await
                        })?;
                    }
                    let previous = head(conn).await?;
                    let after = previous
                        .as_ref()
                        .map_or(AuditEventId(0), |s| s.last_event_id);
                    if after >= horizon {
                        return Ok((0, previous));
                    }
                    let events = events_after_id(conn, after, horizon, BATCH).await?;
                    let (Some(first), Some(last)) =
                        (events.as_slice().first(), events.as_slice().last())
                    else {
                        return Ok((0, previous));
                    };
                    let (first, last) = (first.id, last.id);
                    let full = with_details(conn, events).await?;
                    let digests: Vec<String> = full.iter().map(digest).collect();
                    let previous_hash = previous.as_ref().map_or(GENESIS, |s| s.hash.as_str());
                    let hash = seal_hash(previous_hash, digests.iter().map(String::as_str));
                    let count = full.len() as i64;
                    let new_seal = NewSeal {
                        first_event_id: first,
                        last_event_id: last,
                        event_count: count,
                        previous_hash,
                        hash: &hash,
                        sealed_at: now,
                    };
                    let conn = tx.conn()?;
                    let seal: Seal = dispatch!(conn, |c| {
                        diesel::insert_into(audit_seals::table)
                            .values(&new_seal)
                            .returning(Seal::as_returning())
                            .get_result(c)
                            .await
                    })?;
                    let rows: Vec<EventDigest> = full
                        .iter()
                        .zip(digests)
                        .map(|(f, digest)| EventDigest {
                            event_id: f.event.id,
                            seal_id: seal.id,
                            digest,
                        })
                        .collect();
                    insert_all!(conn, audit_event_digests::table, rows);
                    Ok((count as u64, Some(seal)))
                }
                .scope_boxed()
            })
            .await?;
        let (count, seal) = written;
        run.head = seal;
        if count == 0 {
            return Ok(run);
        }
        run.events += count;
        run.seals += 1;
    }
}

/// What `audit verify` found first, in id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tamper {
    /// The event's content no longer matches its digest.
    Altered(AuditEventId),
    /// A sealed event is gone.
    Deleted(AuditEventId),
    /// An event sits inside the sealed range without having been sealed.
    Inserted(AuditEventId),
    /// A seal's hash does not follow from the previous hash and its digests (the digests or the
    /// seal were rewritten); the id is the seal's first event.
    BrokenSeal {
        seal_id: i64,
        first_event_id: AuditEventId,
    },
}

impl std::fmt::Display for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tamper::Altered(id) => write!(f, "audit event {id} was altered"),
            Tamper::Deleted(id) => write!(f, "audit event {id} was deleted"),
            Tamper::Inserted(id) => write!(f, "audit event {id} was inserted out of band"),
            Tamper::BrokenSeal {
                seal_id,
                first_event_id,
            } => write!(
                f,
                "seal {seal_id} (from audit event {first_event_id}) does not match its chain"
            ),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Verified {
    pub events: u64,
    pub seals: u64,
    pub head: Option<Seal>,
}

/// Recomputes the whole chain, one seal at a time (memory bounded by a seal).
pub async fn verify(db: &Database) -> AppResult<Result<Verified, Tamper>> {
    let mut conn = db.conn().await?;
    let mut verified = Verified::default();
    let mut running = GENESIS.to_owned();
    let mut covered = AuditEventId(0);
    let mut after_seal = 0i64;
    loop {
        let seal: Option<Seal> = dispatch!(&mut conn, |c| {
            audit_seals::table
                .filter(audit_seals::id.gt(after_seal))
                .order(audit_seals::id.asc())
                .select(Seal::as_select())
                .first(c)
                .await
                .optional()
        })?;
        let Some(seal) = seal else {
            return Ok(Ok(verified));
        };
        after_seal = seal.id;
        let broken = Tamper::BrokenSeal {
            seal_id: seal.id,
            first_event_id: seal.first_event_id,
        };
        let digests: Vec<EventDigest> = dispatch!(&mut conn, |c| {
            audit_event_digests::table
                .filter(audit_event_digests::seal_id.eq(seal.id))
                .order(audit_event_digests::event_id.asc())
                .select(EventDigest::as_select())
                .load(c)
                .await
        })?;
        // Every event between the previous seal and this one's last: sealed or inserted.
        let mut events = Vec::new();
        let mut cursor = covered;
        loop {
            let batch = events_after_id(&mut conn, cursor, seal.last_event_id, BATCH).await?;
            let Some(last) = batch.last() else { break };
            cursor = last.id;
            events.extend(with_details(&mut conn, batch).await?);
        }
        let mut stored = digests.iter().peekable();
        let mut found = events.iter().peekable();
        loop {
            match (stored.peek(), found.peek()) {
                (None, None) => break,
                (Some(d), Some(e)) if d.event_id == e.event.id => {
                    if digest(e) != d.digest {
                        return Ok(Err(Tamper::Altered(e.event.id)));
                    }
                    stored.next();
                    found.next();
                }
                (Some(d), Some(e)) if d.event_id < e.event.id => {
                    return Ok(Err(Tamper::Deleted(d.event_id)));
                }
                (Some(d), None) => return Ok(Err(Tamper::Deleted(d.event_id))),
                (_, Some(e)) => return Ok(Err(Tamper::Inserted(e.event.id))),
            }
        }
        let recomputed = seal_hash(&running, digests.iter().map(|d| d.digest.as_str()));
        if seal.previous_hash != running
            || recomputed != seal.hash
            || seal.event_count != digests.len() as i64
            || digests.as_slice().first().map(|d| d.event_id) != Some(seal.first_event_id)
            || digests.as_slice().last().map(|d| d.event_id) != Some(seal.last_event_id)
        {
            return Ok(Err(broken));
        }
        running = seal.hash.clone();
        covered = seal.last_event_id;
        verified.events += digests.len() as u64;
        verified.seals += 1;
        verified.head = Some(seal);
    }
}

/// Seals every `interval` until `stop` resolves (the background task of `serve`).
pub fn spawn_sealer(
    db: Database,
    interval: Duration,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(interval) => {}
            }
            match seal_pending(&db, Duration::from_secs(10)).await {
                Ok(run) if run.events > 0 => {
                    tracing::info!(
                        events = run.events,
                        seals = run.seals,
                        "audit events sealed"
                    );
                }
                Ok(_) => {}
                Err(AppError::Conflict(_)) => {
                    tracing::debug!("another instance sealed first");
                }
                Err(err) => tracing::warn!(error = ?err, "audit sealing failed"),
            }
        }
    })
}

/// Verifies the whole chain every `interval` until `stop` resolves (the background task of
/// `serve`): a finding is logged at `error` naming the event, and `report` receives whether
/// the chain was intact (`/metrics`: `portal_admin_audit_chain_tampered`). The first run comes
/// one interval after start. Read-only: several instances may each verify.
pub fn spawn_verifier(
    db: Database,
    interval: Duration,
    report: impl Fn(bool) + Send + 'static,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(interval) => {}
            }
            let outcome = tokio::select! {
                _ = &mut stop => return,
                outcome = verify(&db) => outcome,
            };
            match outcome {
                Ok(Ok(verified)) => {
                    tracing::info!(
                        events = verified.events,
                        seals = verified.seals,
                        "audit chain verified"
                    );
                    report(true);
                }
                Ok(Err(tamper)) => {
                    tracing::error!(finding = %tamper, "audit chain verification failed");
                    report(false);
                }
                Err(err) => tracing::warn!(error = ?err, "audit chain verification could not run"),
            }
        }
    })
}
