//! What operators watch besides requests: the outbox and the audit sealer, read for `/metrics`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::models::outbox::{self, OutboxStats};
use super::schema::{audit_events, audit_seals};
use super::{DbConn, dispatch};
use crate::error::AppResult;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OpsStats {
    pub outbox: OutboxStats,
    /// Events committed but not yet in the hash chain (the sealer's backlog).
    pub audit_unsealed_events: i64,
    /// Seconds since the newest seal; `None` before the first.
    pub audit_last_seal_age_seconds: Option<f64>,
}

pub async fn ops_stats(conn: &mut DbConn, now: NaiveDateTime) -> AppResult<OpsStats> {
    let outbox = outbox::stats(conn, now).await?;
    let head: Option<(i64, NaiveDateTime)> = dispatch!(conn, |c| {
        audit_seals::table
            .order(audit_seals::id.desc())
            .select((audit_seals::last_event_id, audit_seals::sealed_at))
            .first(c)
            .await
            .optional()
    })?;
    let sealed_up_to = head.map_or(0, |(last, _)| last);
    // Served by the primary key from the last sealed id on: costs the backlog, not the table.
    let unsealed: i64 = dispatch!(conn, |c| {
        audit_events::table
            .filter(audit_events::id.gt(sealed_up_to))
            .count()
            .get_result(c)
            .await
    })?;
    Ok(OpsStats {
        outbox,
        audit_unsealed_events: unsealed,
        audit_last_seal_age_seconds: head
            .map(|(_, sealed_at)| (now - sealed_at).num_milliseconds().max(0) as f64 / 1000.0),
    })
}
