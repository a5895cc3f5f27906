use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::audited::audited_table;
use crate::db::schema::inbound_numbers;
use crate::db::{DbConn, dispatch};
use crate::domain::audit::{AuditValue, Audited};
use crate::domain::{AuditRecordType, CompanyId, InboundNumberId};
use crate::error::AppResult;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = inbound_numbers)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct InboundNumber {
    pub id: InboundNumberId,
    pub company_id: CompanyId,
    /// E.164; unique among active numbers (a deactivated number may be reused).
    pub number: String,
    pub label: String,
    pub active: bool,
    pub deactivated_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

impl Audited for InboundNumber {
    const RECORD_TYPE: AuditRecordType = AuditRecordType::InboundNumber;

    fn record_id(&self) -> i64 {
        self.id.0
    }

    fn audit_fields(&self) -> Vec<(&'static str, AuditValue)> {
        vec![
            ("number", AuditValue::text(&self.number)),
            ("label", AuditValue::text(&self.label)),
            ("active", AuditValue::text(self.active)),
            ("deactivatedAt", AuditValue::opt_time(self.deactivated_at)),
            ("company", AuditValue::text(self.company_id)),
        ]
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = inbound_numbers)]
pub struct NewInboundNumber {
    pub company_id: CompanyId,
    pub number: String,
    pub label: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// `None` leaves a column as it is; `Some(None)` sets a nullable column NULL.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = inbound_numbers)]
pub struct InboundNumberChanges {
    pub number: Option<String>,
    pub label: Option<String>,
    pub active: Option<bool>,
    pub deactivated_at: Option<Option<NaiveDateTime>>,
}

audited_table!(
    inbound_numbers,
    InboundNumber,
    InboundNumberId,
    NewInboundNumber,
    InboundNumberChanges,
    "Inbound number",
    audited [company_id, number, label, active, deactivated_at],
    not_audited {
        id: "the record id every event names",
        created_at: "creation is the CREATE event's own time",
        updated_at: "bookkeeping of the audited write path (the event's time)",
        version: "bumped by the audited write path itself on each audited change",
    }
);

/// A company's numbers, active first, then by number.
pub async fn of_company(
    conn: &mut DbConn,
    company_id: CompanyId,
    include_inactive: bool,
) -> AppResult<Vec<InboundNumber>> {
    let rows = dispatch!(conn, |c| {
        let mut query = inbound_numbers::table
            .filter(inbound_numbers::company_id.eq(company_id))
            .order((
                inbound_numbers::active.desc(),
                inbound_numbers::number.asc(),
                inbound_numbers::id.asc(),
            ))
            .select(InboundNumber::as_select())
            .into_boxed();
        if !include_inactive {
            query = query.filter(inbound_numbers::active.eq(true));
        }
        query.load(c).await
    })?;
    Ok(rows)
}
