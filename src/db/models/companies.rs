use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::audited::audited_table;
use super::{CompanyScope, like_pattern, lower};
use crate::db::explain::{QueryPlan, explain};
use crate::db::schema::companies;
use crate::db::{DbConn, dispatch};
use crate::domain::audit::{AuditValue, Audited};
use crate::domain::{AuditRecordType, CompanyId, CompanyStatus, OrganizationId};
use crate::error::AppResult;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = companies)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Company {
    pub id: CompanyId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub billing_email: Option<String>,
    pub billing_rate_cents: i64,
    pub billing_plan: String,
    pub timezone: String,
    pub status: CompanyStatus,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

impl Audited for Company {
    const RECORD_TYPE: AuditRecordType = AuditRecordType::Company;

    fn record_id(&self) -> i64 {
        self.id.0
    }

    fn audit_fields(&self) -> Vec<(&'static str, AuditValue)> {
        vec![
            ("name", AuditValue::text(&self.name)),
            ("organization", AuditValue::text(self.organization_id)),
            ("billingEmail", AuditValue::opt(self.billing_email.as_ref())),
            (
                "billingRateCents",
                AuditValue::text(self.billing_rate_cents),
            ),
            ("billingPlan", AuditValue::text(&self.billing_plan)),
            ("timezone", AuditValue::text(&self.timezone)),
            ("status", AuditValue::text(self.status)),
        ]
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = companies)]
pub struct NewCompany {
    pub organization_id: OrganizationId,
    pub name: String,
    pub billing_email: Option<String>,
    pub billing_rate_cents: i64,
    pub billing_plan: String,
    pub timezone: String,
    pub status: CompanyStatus,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// `None` leaves a column as it is; `Some(None)` sets a nullable column NULL.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = companies)]
pub struct CompanyChanges {
    pub organization_id: Option<OrganizationId>,
    pub name: Option<String>,
    pub billing_email: Option<Option<String>>,
    pub billing_rate_cents: Option<i64>,
    pub billing_plan: Option<String>,
    pub timezone: Option<String>,
    pub status: Option<CompanyStatus>,
}

audited_table!(
    companies,
    Company,
    CompanyId,
    NewCompany,
    CompanyChanges,
    "Company",
    audited [organization_id, name, billing_email, billing_rate_cents, billing_plan, timezone, status],
    not_audited {
        id: "the record id every event names",
        created_at: "creation is the CREATE event's own time",
        updated_at: "bookkeeping of the audited write path (the event's time)",
        version: "bumped by the audited write path itself on each audited change",
    }
);

/// Which companies a list shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompanyFilter<'a> {
    pub organization_id: Option<OrganizationId>,
    /// Case-insensitive substring of the name.
    pub search: Option<&'a str>,
}

macro_rules! filtered {
    ($query:expr, $scope:expr, $filter:expr) => {{
        let mut query = $query;
        if let CompanyScope::Only(ids) = $scope {
            query = query.filter(companies::id.eq_any(ids));
        }
        if let Some(organization_id) = $filter.organization_id {
            query = query.filter(companies::organization_id.eq(organization_id));
        }
        if let Some(search) = $filter.search {
            query = query.filter(
                lower(companies::name)
                    .like(like_pattern(search))
                    .escape('\\'),
            );
        }
        query
    }};
}

/// The query of one page of companies (see `page`); expands inside a `dispatch!` arm.
macro_rules! companies_page {
    ($scope:expr, $filter:expr, $after:expr, $limit:expr) => {{
        let query = companies::table
            .filter(companies::id.gt($after.unwrap_or(CompanyId(0))))
            .order(companies::id.asc())
            .limit($limit)
            .select(Company::as_select())
            .into_boxed();
        filtered!(query, $scope, $filter)
    }};
}

/// Companies in `scope` matching `filter`, by id after the keyset cursor (the primary key, or
/// `companies_organization_id_idx` within an organization).
pub async fn page(
    conn: &mut DbConn,
    scope: CompanyScope<'_>,
    filter: CompanyFilter<'_>,
    after: Option<CompanyId>,
    limit: i64,
) -> AppResult<Vec<Company>> {
    let rows = dispatch!(conn, |c| companies_page!(scope, filter, after, limit)
        .load(c)
        .await)?;
    Ok(rows)
}

/// The plan of `page`'s query with these arguments (the same SQL and binds).
pub async fn explain_page(
    conn: &mut DbConn,
    scope: CompanyScope<'_>,
    filter: CompanyFilter<'_>,
    after: Option<CompanyId>,
    limit: i64,
) -> AppResult<QueryPlan> {
    Ok(explain!(conn, |c| companies_page!(
        scope, filter, after, limit
    )))
}

pub async fn count(
    conn: &mut DbConn,
    scope: CompanyScope<'_>,
    filter: CompanyFilter<'_>,
) -> AppResult<i64> {
    let count = dispatch!(conn, |c| {
        let query = companies::table.count().into_boxed();
        filtered!(query, scope, filter).get_result(c).await
    })?;
    Ok(count)
}
