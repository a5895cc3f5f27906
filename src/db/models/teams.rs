use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::audited::audited_table;
use super::users::User;
use crate::db::schema::{team_memberships, teams, users};
use crate::db::{DbConn, dispatch};
use crate::domain::audit::{AuditValue, Audited};
use crate::domain::{AuditRecordType, CompanyId, TeamId};
use crate::error::AppResult;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = teams)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Team {
    pub id: TeamId,
    pub company_id: CompanyId,
    pub name: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

impl Audited for Team {
    const RECORD_TYPE: AuditRecordType = AuditRecordType::Team;

    fn record_id(&self) -> i64 {
        self.id.0
    }

    fn audit_fields(&self) -> Vec<(&'static str, AuditValue)> {
        vec![
            ("name", AuditValue::text(&self.name)),
            ("company", AuditValue::text(self.company_id)),
        ]
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = teams)]
pub struct NewTeam {
    pub company_id: CompanyId,
    pub name: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = teams)]
pub struct TeamChanges {
    pub name: Option<String>,
}

audited_table!(teams, Team, TeamId, NewTeam, TeamChanges, "Team",
    audited [company_id, name],
    not_audited {
        id: "the record id every event names",
        created_at: "creation is the CREATE event's own time",
        updated_at: "bookkeeping of the audited write path (the event's time)",
        version: "bumped by the audited write path itself on each audited change",
    }
);

/// A company's teams, by name.
pub async fn of_company(conn: &mut DbConn, company_id: CompanyId) -> AppResult<Vec<Team>> {
    let rows = dispatch!(conn, |c| {
        teams::table
            .filter(teams::company_id.eq(company_id))
            .order((teams::name.asc(), teams::id.asc()))
            .select(Team::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
}

/// A team's members, by name.
pub async fn members(conn: &mut DbConn, team_id: TeamId) -> AppResult<Vec<User>> {
    let rows = dispatch!(conn, |c| {
        team_memberships::table
            .inner_join(users::table)
            .filter(team_memberships::team_id.eq(team_id))
            .order((users::name.asc(), users::id.asc()))
            .select(User::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
}
