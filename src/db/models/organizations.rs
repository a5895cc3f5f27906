use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::CompanyScope;
use super::audited::audited_table;
use crate::db::schema::{companies, organizations};
use crate::db::{DbConn, dispatch};
use crate::domain::audit::{AuditValue, Audited};
use crate::domain::{AuditRecordType, OrganizationId, OrganizationStatus};
use crate::error::AppResult;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = organizations)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    pub billing_email: Option<String>,
    pub status: OrganizationStatus,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

impl Audited for Organization {
    const RECORD_TYPE: AuditRecordType = AuditRecordType::Organization;

    fn record_id(&self) -> i64 {
        self.id.0
    }

    fn audit_fields(&self) -> Vec<(&'static str, AuditValue)> {
        vec![
            ("name", AuditValue::text(&self.name)),
            ("billingEmail", AuditValue::opt(self.billing_email.as_ref())),
            ("status", AuditValue::text(self.status)),
        ]
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = organizations)]
pub struct NewOrganization {
    pub name: String,
    pub billing_email: Option<String>,
    pub status: OrganizationStatus,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// `None` leaves a column as it is; `Some(None)` sets a nullable column NULL.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = organizations)]
pub struct OrganizationChanges {
    pub name: Option<String>,
    pub billing_email: Option<Option<String>>,
    pub status: Option<OrganizationStatus>,
}

audited_table!(
    organizations,
    Organization,
    OrganizationId,
    NewOrganization,
    OrganizationChanges,
    "Organization",
    audited [name, billing_email, status],
    not_audited {
        id: "the record id every event names",
        created_at: "creation is the CREATE event's own time",
        updated_at: "bookkeeping of the audited write path (the event's time)",
        version: "bumped by the audited write path itself on each audited change",
    }
);

/// Restricts an organizations query to those with a company in `scope`.
macro_rules! scoped {
    ($query:expr, $scope:expr) => {{
        let mut query = $query;
        if let CompanyScope::Only(ids) = $scope {
            query = query.filter(
                organizations::id.eq_any(
                    companies::table
                        .filter(companies::id.eq_any(ids))
                        .select(companies::organization_id),
                ),
            );
        }
        query
    }};
}

/// Organizations in `scope` (those with a company in it), by id after the keyset cursor.
pub async fn page(
    conn: &mut DbConn,
    scope: CompanyScope<'_>,
    after: Option<OrganizationId>,
    limit: i64,
) -> AppResult<Vec<Organization>> {
    let after = after.unwrap_or(OrganizationId(0));
    let rows = dispatch!(conn, |c| {
        let query = organizations::table
            .filter(organizations::id.gt(after))
            .order(organizations::id.asc())
            .limit(limit)
            .select(Organization::as_select())
            .into_boxed();
        scoped!(query, scope).load(c).await
    })?;
    Ok(rows)
}

pub async fn count(conn: &mut DbConn, scope: CompanyScope<'_>) -> AppResult<i64> {
    let count = dispatch!(conn, |c| {
        let query = organizations::table.count().into_boxed();
        scoped!(query, scope).get_result(c).await
    })?;
    Ok(count)
}
