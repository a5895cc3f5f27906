//! `portal-admin audit export`: events with their changes for engineering, as NDJSON (one
//! event per line) or CSV (one row per change; an event without changes has one row with the
//! change columns empty). Oldest first by (occurredAt, id), read in keyset batches, so memory
//! stays constant whatever the range.

use std::io::Write;

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::db::Database;
use crate::db::audit::seal::{FullEvent, with_details};
use crate::db::audit::{EventKey, events_in_window};
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Ndjson,
    Csv,
}

const BATCH: i64 = 1000;

pub const CSV_HEADER: &str = "event_id,occurred_at,action,record_type,record_id,actor_id,impersonator_id,via_impersonation,reason,request_id,client_ip,field,before,after,redacted";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExportedEvent<'a> {
    id: i64,
    occurred_at: String,
    action: &'a str,
    record_type: &'a str,
    record_id: i64,
    actor_id: Option<i64>,
    impersonator_id: Option<i64>,
    via_impersonation: bool,
    reason: Option<&'a str>,
    request_id: Option<&'a str>,
    client_ip: Option<&'a str>,
    changes: Vec<ExportedChange<'a>>,
}

/// A change as both `audit export` and `audit query` print it in NDJSON.
#[derive(Serialize)]
pub(crate) struct ExportedChange<'a> {
    pub field: &'a str,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
    pub redacted: bool,
}

impl<'a> ExportedChange<'a> {
    pub fn of(changes: &'a [crate::db::audit::AuditChange]) -> Vec<Self> {
        changes
            .iter()
            .map(|c| ExportedChange {
                field: &c.field,
                before: c.before_value.as_deref(),
                after: c.after_value.as_deref(),
                redacted: c.redacted,
            })
            .collect()
    }
}

pub(crate) fn time(at: NaiveDateTime) -> String {
    at.and_utc().to_rfc3339()
}

/// Writes every event in `[since, until)` to `out`; returns how many.
pub async fn export(
    db: &Database,
    since: NaiveDateTime,
    until: Option<NaiveDateTime>,
    format: ExportFormat,
    out: &mut impl Write,
) -> AppResult<u64> {
    let io = |e: std::io::Error| AppError::internal(anyhow::Error::new(e));
    if format == ExportFormat::Csv {
        writeln!(out, "{CSV_HEADER}").map_err(io)?;
    }
    let mut conn = db.conn().await?;
    let mut after: Option<EventKey> = None;
    let mut written = 0u64;
    loop {
        let events = events_in_window(&mut conn, since, until, after, BATCH).await?;
        let Some(last) = events.last() else { break };
        after = Some(last.key());
        for full in with_details(&mut conn, events).await? {
            match format {
                ExportFormat::Ndjson => write_json(out, &full),
                ExportFormat::Csv => write_csv(out, &full),
            }
            .map_err(io)?;
            written += 1;
        }
    }
    out.flush().map_err(io)?;
    Ok(written)
}

fn write_json(out: &mut impl Write, full: &FullEvent) -> std::io::Result<()> {
    let e = &full.event;
    let line = ExportedEvent {
        id: e.id.0,
        occurred_at: time(e.occurred_at),
        action: e.action.as_str(),
        record_type: e.record_type.as_str(),
        record_id: e.record_id,
        actor_id: e.actor_id.map(|id| id.0),
        impersonator_id: e.impersonator_id.map(|id| id.0),
        via_impersonation: e.impersonator_id.is_some(),
        reason: e.reason.as_deref(),
        request_id: e.request_id.as_deref(),
        client_ip: e.client_ip.as_deref(),
        changes: ExportedChange::of(&full.changes),
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")
}

/// RFC 4180: quoted when it holds a comma, quote or line break; quotes doubled. NULL is empty.
pub(crate) fn csv_field(value: Option<&str>) -> String {
    match value {
        None => String::new(),
        Some(v) if v.contains([',', '"', '\n', '\r']) => format!("\"{}\"", v.replace('"', "\"\"")),
        Some(v) => v.to_owned(),
    }
}

fn write_csv(out: &mut impl Write, full: &FullEvent) -> std::io::Result<()> {
    let e = &full.event;
    let event = [
        e.id.to_string(),
        time(e.occurred_at),
        e.action.as_str().to_owned(),
        e.record_type.as_str().to_owned(),
        e.record_id.to_string(),
        e.actor_id.map(|id| id.to_string()).unwrap_or_default(),
        e.impersonator_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        e.impersonator_id.is_some().to_string(),
        csv_field(e.reason.as_deref()),
        csv_field(e.request_id.as_deref()),
        csv_field(e.client_ip.as_deref()),
    ]
    .join(",");
    if full.changes.is_empty() {
        return writeln!(out, "{event},,,,");
    }
    for c in &full.changes {
        writeln!(
            out,
            "{event},{},{},{},{}",
            csv_field(Some(&c.field)),
            csv_field(c.before_value.as_deref()),
            csv_field(c.after_value.as_deref()),
            c.redacted
        )?;
    }
    Ok(())
}

/// `--since`/`--until`: RFC 3339 (`2026-11-01T00:00:00Z`) or a UTC date (`2026-11-01`).
pub fn parse_time(raw: &str) -> Result<NaiveDateTime, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(at.naive_utc());
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .ok_or_else(|| format!("`{raw}` is not an RFC 3339 time or a YYYY-MM-DD date"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_when_needed() {
        assert_eq!(csv_field(None), "");
        assert_eq!(csv_field(Some("plain")), "plain");
        assert_eq!(csv_field(Some("a,b")), "\"a,b\"");
        assert_eq!(csv_field(Some("say \"hi\"")), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field(Some("two\nlines")), "\"two\nlines\"");
    }

    #[test]
    fn times_parse_as_rfc3339_or_date() {
        assert!(parse_time("2026-11-01T10:00:00Z").is_ok());
        assert!(parse_time("2026-11-01").is_ok());
        assert!(parse_time("yesterday").is_err());
    }
}
