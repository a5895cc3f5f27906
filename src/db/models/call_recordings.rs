use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::audited::audited_table;
use crate::db::schema::call_recordings;
use crate::db::{DbConn, dispatch};
use crate::domain::audit::{AuditValue, Audited};
use crate::domain::{AuditRecordType, CallRecordingId, CompanyId, InboundNumberId};
use crate::error::AppResult;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = call_recordings)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct CallRecording {
    pub id: CallRecordingId,
    pub company_id: CompanyId,
    pub inbound_number_id: Option<InboundNumberId>,
    pub caller_number: String,
    pub started_at: NaiveDateTime,
    pub duration_seconds: i32,
    pub storage_key: String,
    pub notes: String,
    pub disposition: Option<String>,
    pub flagged: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

impl Audited for CallRecording {
    const RECORD_TYPE: AuditRecordType = AuditRecordType::CallRecording;

    fn record_id(&self) -> i64 {
        self.id.0
    }

    fn audit_fields(&self) -> Vec<(&'static str, AuditValue)> {
        vec![
            ("company", AuditValue::text(self.company_id)),
            ("inboundNumber", AuditValue::opt(self.inbound_number_id)),
            ("callerNumber", AuditValue::text(&self.caller_number)),
            ("startedAt", AuditValue::time(self.started_at)),
            ("durationSeconds", AuditValue::text(self.duration_seconds)),
            ("storageKey", AuditValue::text(&self.storage_key)),
            ("notes", AuditValue::text(&self.notes)),
            ("disposition", AuditValue::opt(self.disposition.as_ref())),
            ("flagged", AuditValue::text(self.flagged)),
        ]
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = call_recordings)]
pub struct NewCallRecording {
    pub company_id: CompanyId,
    pub inbound_number_id: Option<InboundNumberId>,
    pub caller_number: String,
    pub started_at: NaiveDateTime,
    pub duration_seconds: i32,
    pub storage_key: String,
    pub notes: String,
    pub disposition: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What may change after the fact. `Some(None)` clears the disposition.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = call_recordings)]
pub struct CallRecordingChanges {
    pub notes: Option<String>,
    pub disposition: Option<Option<String>>,
    pub flagged: Option<bool>,
}

audited_table!(
    call_recordings,
    CallRecording,
    CallRecordingId,
    NewCallRecording,
    CallRecordingChanges,
    "Call recording",
    audited [company_id, inbound_number_id, caller_number, started_at, duration_seconds, storage_key, notes, disposition, flagged],
    not_audited {
        id: "the record id every event names",
        created_at: "creation is the CREATE event's own time",
        updated_at: "bookkeeping of the audited write path (the event's time)",
        version: "bumped by the audited write path itself on each audited change",
    }
);

/// A company's recordings, newest first by start time (then id), after the keyset cursor
/// `(started_at, id)` of the previous page's last row.
pub async fn company_page(
    conn: &mut DbConn,
    company_id: CompanyId,
    after: Option<(NaiveDateTime, CallRecordingId)>,
    limit: i64,
) -> AppResult<Vec<CallRecording>> {
    let rows = dispatch!(conn, |c| {
        let mut query = call_recordings::table
            .filter(call_recordings::company_id.eq(company_id))
            .order((
                call_recordings::started_at.desc(),
                call_recordings::id.desc(),
            ))
            .limit(limit)
            .select(CallRecording::as_select())
            .into_boxed();
        if let Some((started_at, id)) = after {
            query = query.filter(
                call_recordings::started_at
                    .lt(started_at)
                    .or(call_recordings::started_at
                        .eq(started_at)
                        .and(call_recordings::id.lt(id))),
            );
        }
        query.load(c).await
    })?;
    Ok(rows)
}

pub async fn company_count(conn: &mut DbConn, company_id: CompanyId) -> AppResult<i64> {
    let count = dispatch!(conn, |c| {
        call_recordings::table
            .filter(call_recordings::company_id.eq(company_id))
            .count()
            .get_result(c)
            .await
    })?;
    Ok(count)
}
