//! `portal-admin audit query`: the audit log from a shell, with the filters of `auditEvents`
//! (the same [`event_filter`] checks and the same page query, so the same indexes), newest first,
//! with names: a readable table, CSV (one row per change, the columns of the `audit_log` view)
//! or NDJSON (one event per line). Reads are logged like the API's.

use std::io::Write;

use chrono::{Duration, NaiveDateTime};
use serde::Serialize;

use super::audit::{AuditEventQuery, event_filter};
use super::audit_export::{ExportedChange, csv_field, parse_time, time};
use crate::db::Database;
use crate::db::audit::{self, EventKey, PageEvent};
use crate::db::models::users;
use crate::domain::{AuditRecordType, UserId};
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryFormat {
    Table,
    Csv,
    Ndjson,
}

/// Events read per statement.
const BATCH: u64 = 500;

/// The CSV header: the columns of the `audit_log` view, in its order.
pub const CSV_HEADER: &str = "event_id,occurred_at,action,record_type,record_id,record_label,field,before,after,redacted,actor_id,actor_name,impersonator_id,impersonator_name,via_impersonation,reason,request_id";

/// `--since`/`--until`: an age (`30d`, `12h`, `90m`, `2w`), an RFC 3339 time or a UTC date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeArg {
    At(NaiveDateTime),
    Ago(Duration),
}

impl TimeArg {
    pub fn resolve(self, now: NaiveDateTime) -> NaiveDateTime {
        match self {
            TimeArg::At(at) => at,
            TimeArg::Ago(age) => now - age,
        }
    }
}

pub fn parse_time_arg(raw: &str) -> Result<TimeArg, String> {
    let raw = raw.trim();
    let unit = raw.chars().last().unwrap_or(' ');
    let digits = &raw[..raw.len() - unit.len_utf8().min(raw.len())];
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        let n: i64 = digits
            .parse()
            .map_err(|_| format!("`{raw}` is too large"))?;
        let age = match unit {
            'w' => Duration::try_weeks(n),
            'd' => Duration::try_days(n),
            'h' => Duration::try_hours(n),
            'm' => Duration::try_minutes(n),
            _ => None,
        };
        if let Some(age) = age {
            return Ok(TimeArg::Ago(age));
        }
    }
    parse_time(raw).map(TimeArg::At).map_err(|_| {
        format!("`{raw}` is not an age (30d, 12h, 90m, 2w), an RFC 3339 time or a YYYY-MM-DD date")
    })
}

/// `--record COMPANY:42` or `--record company` (every record of the type).
pub fn parse_record(raw: &str) -> Result<(AuditRecordType, Option<i64>), String> {
    let (kind, id) = match raw.split_once(':') {
        Some((kind, id)) => (kind, Some(id)),
        None => (raw, None),
    };
    let kind = kind.trim().to_uppercase().replace('-', "_");
    let record_type: AuditRecordType = kind.parse().map_err(|_| {
        let known: Vec<&str> = AuditRecordType::ALL.iter().map(|t| t.as_str()).collect();
        format!(
            "`{raw}`: the record type is one of {} (e.g. COMPANY:42)",
            known.join(", ")
        )
    })?;
    let id = id
        .map(|id| {
            id.trim()
                .parse::<i64>()
                .map_err(|_| format!("`{raw}`: the id after `:` is a number"))
        })
        .transpose()?;
    Ok((record_type, id))
}

/// A person as the command line names them: an id or an email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonArg {
    Id(UserId),
    Email(String),
}

pub fn parse_person(raw: &str) -> Result<PersonArg, String> {
    let raw = raw.trim();
    if let Ok(id) = raw.parse::<i64>() {
        return Ok(PersonArg::Id(UserId(id)));
    }
    if raw.contains('@') {
        return Ok(PersonArg::Email(raw.to_owned()));
    }
    Err(format!("`{raw}` is neither a user id nor an email address"))
}

async fn person_id(db: &Database, field: &'static str, person: PersonArg) -> AppResult<UserId> {
    match person {
        PersonArg::Id(id) => Ok(id),
        PersonArg::Email(email) => {
            let mut conn = db.conn().await?;
            users::find_by_email(&mut conn, &email)
                .await?
                .map(|user| user.id)
                .ok_or_else(|| {
                    AppError::bad_input(field, format!("No user has the address `{email}`."))
                })
        }
    }
}

/// What `audit query` was asked, before people are looked up and times resolved.
#[derive(Debug, Clone, Default)]
pub struct QueryArgs {
    pub record: Option<(AuditRecordType, Option<i64>)>,
    pub actor: Option<PersonArg>,
    pub impersonator: Option<PersonArg>,
    pub via_impersonation: Option<bool>,
    pub field: Option<String>,
    pub action: Option<crate::domain::AuditAction>,
    pub since: Option<TimeArg>,
    pub until: Option<TimeArg>,
}

impl QueryArgs {
    /// The `auditEvents` filter these arguments name (people looked up, ages resolved).
    pub async fn resolve(self, db: &Database, now: NaiveDateTime) -> AppResult<AuditEventQuery> {
        let actor_id = match self.actor {
            Some(person) => Some(person_id(db, "actor", person).await?),
            None => None,
        };
        let impersonator_id = match self.impersonator {
            Some(person) => Some(person_id(db, "impersonator", person).await?),
            None => None,
        };
        Ok(AuditEventQuery {
            record_type: self.record.map(|(t, _)| t),
            record_id: self.record.and_then(|(_, id)| id),
            actor_id,
            impersonator_id,
            via_impersonation: self.via_impersonation,
            field: self.field,
            action: self.action,
            from: self.since.map(|t| t.resolve(now)),
            to: self.until.map(|t| t.resolve(now)),
        })
    }
}

/// An event with everything the output shows.
struct Row {
    page: PageEvent,
    label: Option<String>,
}

/// Writes up to `limit` events matching `query`, newest first; returns how many.
pub async fn query(
    db: &Database,
    query: AuditEventQuery,
    limit: u64,
    format: QueryFormat,
    out: &mut impl Write,
) -> AppResult<u64> {
    let io = |e: std::io::Error| AppError::internal(anyhow::Error::new(e));
    let filter = event_filter(query)?;
    let mut conn = db.conn().await?;
    let mut after: Option<EventKey> = None;
    let mut written = 0u64;
    let mut table = Vec::new();
    if format == QueryFormat::Csv {
        writeln!(out, "{CSV_HEADER}").map_err(io)?;
    }
    while written < limit {
        let want = BATCH.min(limit - written);
        let page = audit::events_page(
            &mut conn,
            &filter,
            after,
            i64::try_from(want).unwrap_or(i64::MAX),
        )
        .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.event.key());
        let ids: Vec<_> = page.iter().map(|p| p.event.id).collect();
        let mut labels = audit::record_labels(&mut conn, &ids).await?;
        let got = page.len() as u64;
        for page in page {
            let row = Row {
                label: labels.remove(&page.event.id),
                page,
            };
            match format {
                QueryFormat::Table => table.push(row),
                QueryFormat::Csv => write_csv(out, &row).map_err(io)?,
                QueryFormat::Ndjson => write_json(out, &row).map_err(io)?,
            }
        }
        written += got;
        if got < want {
            break;
        }
    }
    if format == QueryFormat::Table {
        write_table(out, &table).map_err(io)?;
    }
    out.flush().map_err(io)?;
    Ok(written)
}

fn write_csv(out: &mut impl Write, row: &Row) -> std::io::Result<()> {
    let (p, e) = (&row.page, &row.page.event);
    let id = |id: Option<UserId>| id.map(|id| id.to_string());
    let line =
        |field: Option<&str>, before: Option<&str>, after: Option<&str>, redacted: String| {
            [
                e.id.to_string(),
                time(e.occurred_at),
                e.action.as_str().to_owned(),
                e.record_type.as_str().to_owned(),
                e.record_id.to_string(),
                csv_field(row.label.as_deref()),
                csv_field(field),
                csv_field(before),
                csv_field(after),
                redacted,
                id(e.actor_id).unwrap_or_default(),
                csv_field(p.actor_name.as_deref()),
                id(e.impersonator_id).unwrap_or_default(),
                csv_field(p.impersonator_name.as_deref()),
                e.impersonator_id.is_some().to_string(),
                csv_field(e.reason.as_deref()),
                csv_field(e.request_id.as_deref()),
            ]
            .join(",")
        };
    if p.changes.is_empty() {
        return writeln!(out, "{}", line(None, None, None, String::new()));
    }
    for c in &p.changes {
        writeln!(
            out,
            "{}",
            line(
                Some(&c.field),
                c.before_value.as_deref(),
                c.after_value.as_deref(),
                c.redacted.to_string()
            )
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonEvent<'a> {
    id: i64,
    occurred_at: String,
    action: &'a str,
    record_type: &'a str,
    record_id: i64,
    record_label: Option<&'a str>,
    actor_id: Option<i64>,
    actor_name: Option<&'a str>,
    impersonator_id: Option<i64>,
    impersonator_name: Option<&'a str>,
    via_impersonation: bool,
    reason: Option<&'a str>,
    request_id: Option<&'a str>,
    changes: Vec<ExportedChange<'a>>,
}

fn write_json(out: &mut impl Write, row: &Row) -> std::io::Result<()> {
    let (p, e) = (&row.page, &row.page.event);
    let line = JsonEvent {
        id: e.id.0,
        occurred_at: time(e.occurred_at),
        action: e.action.as_str(),
        record_type: e.record_type.as_str(),
        record_id: e.record_id,
        record_label: row.label.as_deref(),
        actor_id: e.actor_id.map(|id| id.0),
        actor_name: p.actor_name.as_deref(),
        impersonator_id: e.impersonator_id.map(|id| id.0),
        impersonator_name: p.impersonator_name.as_deref(),
        via_impersonation: e.impersonator_id.is_some(),
        reason: e.reason.as_deref(),
        request_id: e.request_id.as_deref(),
        changes: ExportedChange::of(&p.changes),
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")
}

/// A cell of the table: at most `max` characters, on one line.
fn cell(value: &str, max: usize) -> String {
    let flat: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// One line per change (an event without changes has one line): when, what, which record,
/// the field before → after, and who (with the impersonating admin).
fn write_table(out: &mut impl Write, rows: &[Row]) -> std::io::Result<()> {
    let header = [
        "OCCURRED AT (UTC)",
        "ACTION",
        "RECORD",
        "FIELD",
        "BEFORE → AFTER",
        "BY",
    ];
    let mut lines: Vec<[String; 6]> = Vec::new();
    for row in rows {
        let (p, e) = (&row.page, &row.page.event);
        let when = e.occurred_at.format("%Y-%m-%d %H:%M:%S").to_string();
        let record = match &row.label {
            Some(label) => format!("{} {} {}", e.record_type, e.record_id, cell(label, 32)),
            None => format!("{} {}", e.record_type, e.record_id),
        };
        let name = |id: Option<UserId>, name: Option<&str>| match (id, name) {
            (Some(_), Some(name)) => cell(name, 32),
            (Some(id), None) => format!("user {id}"),
            (None, _) => "system".to_owned(),
        };
        let mut by = name(e.actor_id, p.actor_name.as_deref());
        if e.impersonator_id.is_some() {
            by.push_str(&format!(
                " (impersonated by {})",
                name(e.impersonator_id, p.impersonator_name.as_deref())
            ));
        }
        if let Some(reason) = &e.reason {
            by.push_str(&format!(" · {}", cell(reason, 48)));
        }
        let value = |v: Option<&str>| v.map_or_else(|| "∅".to_owned(), |v| cell(v, 40));
        if p.changes.is_empty() {
            lines.push([
                when.clone(),
                e.action.to_string(),
                record.clone(),
                String::new(),
                String::new(),
                by.clone(),
            ]);
        }
        for c in &p.changes {
            let change = if c.redacted {
                "(redacted)".to_owned()
            } else {
                format!(
                    "{} → {}",
                    value(c.before_value.as_deref()),
                    value(c.after_value.as_deref())
                )
            };
            lines.push([
                when.clone(),
                e.action.to_string(),
                record.clone(),
                c.field.clone(),
                change,
                by.clone(),
            ]);
        }
    }
    let mut widths = header.map(|h| h.chars().count());
    for line in &lines {
        for (width, value) in widths.iter_mut().zip(line) {
            *width = (*width).max(value.chars().count());
        }
    }
    let print = |out: &mut dyn Write, values: [&str; 6]| -> std::io::Result<()> {
        let mut text = String::new();
        for (i, (value, width)) in values.iter().zip(widths).enumerate() {
            if i + 1 == values.len() {
                text.push_str(value);
            } else {
                let pad = width.saturating_sub(value.chars().count());
                text.push_str(value);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    print(out, header)?;
    for line in &lines {
        print(out, line.each_ref().map(String::as_str))?;
    }
    if lines.is_empty() {
        writeln!(out, "(no events match)")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_dates_and_times_parse() {
        assert_eq!(parse_time_arg("30d"), Ok(TimeArg::Ago(Duration::days(30))));
        assert_eq!(parse_time_arg("12h"), Ok(TimeArg::Ago(Duration::hours(12))));
        assert_eq!(parse_time_arg("2w"), Ok(TimeArg::Ago(Duration::weeks(2))));
        assert!(matches!(parse_time_arg("2026-11-01"), Ok(TimeArg::At(_))));
        assert!(matches!(
            parse_time_arg("2026-11-01T10:00:00Z"),
            Ok(TimeArg::At(_))
        ));
        for bad in ["", "d", "30x", "-3d", "yesterday", "99999999999999999999d"] {
            assert!(parse_time_arg(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn records_and_people_parse() {
        assert_eq!(
            parse_record("company:42"),
            Ok((AuditRecordType::Company, Some(42)))
        );
        assert_eq!(
            parse_record("COMPANY_MEMBERSHIP"),
            Ok((AuditRecordType::CompanyMembership, None))
        );
        assert!(parse_record("planet:1").is_err());
        assert!(parse_record("company:x").is_err());
        assert_eq!(parse_person("7"), Ok(PersonArg::Id(UserId(7))));
        assert_eq!(
            parse_person("ann@example.com"),
            Ok(PersonArg::Email("ann@example.com".into()))
        );
        assert!(parse_person("ann").is_err());
    }

    #[test]
    fn cells_stay_on_one_line_and_short() {
        assert_eq!(cell("a\nb", 10), "a b");
        assert_eq!(cell("abcdef", 4), "abc…");
    }
}
