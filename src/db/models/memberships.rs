//! Who belongs to which company (with a role there) and to which team.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::audited::audited_table;
use super::{companies, teams, users};
use crate::db::explain::{QueryPlan, explain};
use crate::db::schema::{company_memberships, team_memberships, teams as teams_table};
use crate::db::{DbConn, WriteTx, dispatch};
use crate::domain::audit::{self, AuditValue, Audited, RecordRef};
use crate::domain::{
    AuditRecordType, CompanyId, CompanyMembershipId, Role, TeamId, TeamMembershipId, UserId,
};
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = company_memberships)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct CompanyMembership {
    pub id: CompanyMembershipId,
    pub user_id: UserId,
    pub company_id: CompanyId,
    pub role: Role,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

impl Audited for CompanyMembership {
    const RECORD_TYPE: AuditRecordType = AuditRecordType::CompanyMembership;

    fn record_id(&self) -> i64 {
        self.id.0
    }

    fn audit_fields(&self) -> Vec<(&'static str, AuditValue)> {
        vec![
            ("user", AuditValue::text(self.user_id)),
            ("company", AuditValue::text(self.company_id)),
            ("role", AuditValue::text(self.role)),
        ]
    }

    /// Membership changes show on the company's and on the user's History.
    fn related_records(&self) -> Vec<RecordRef> {
        vec![
            RecordRef::new(AuditRecordType::Company, self.company_id),
            RecordRef::new(AuditRecordType::User, self.user_id),
        ]
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = company_memberships)]
pub struct NewCompanyMembership {
    pub user_id: UserId,
    pub company_id: CompanyId,
    pub role: Role,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = company_memberships)]
pub struct CompanyMembershipChanges {
    pub role: Option<Role>,
}

audited_table!(
    company_memberships,
    CompanyMembership,
    CompanyMembershipId,
    NewCompanyMembership,
    CompanyMembershipChanges,
    "Company membership",
    audited [user_id, company_id, role],
    not_audited {
        id: "the record id every event names",
        created_at: "creation is the CREATE event's own time",
        updated_at: "bookkeeping of the audited write path (the event's time)",
        version: "bumped by the audited write path itself on each audited change",
    }
);

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = team_memberships)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct TeamMembership {
    pub id: TeamMembershipId,
    pub user_id: UserId,
    pub team_id: TeamId,
    pub created_at: NaiveDateTime,
}

impl Audited for TeamMembership {
    const RECORD_TYPE: AuditRecordType = AuditRecordType::TeamMembership;

    fn record_id(&self) -> i64 {
        self.id.0
    }

    fn audit_fields(&self) -> Vec<(&'static str, AuditValue)> {
        vec![
            ("user", AuditValue::text(self.user_id)),
            ("team", AuditValue::text(self.team_id)),
        ]
    }

    /// Team membership changes show on the team's and on the user's History (and, added where
    /// the team is known, on the company's).
    fn related_records(&self) -> Vec<RecordRef> {
        vec![
            RecordRef::new(AuditRecordType::Team, self.team_id),
            RecordRef::new(AuditRecordType::User, self.user_id),
        ]
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = team_memberships)]
struct NewTeamMembership {
    user_id: UserId,
    team_id: TeamId,
    created_at: NaiveDateTime,
}

/// The companies a user is a member of.
pub async fn company_ids_of(conn: &mut DbConn, user_id: UserId) -> AppResult<Vec<CompanyId>> {
    let ids = dispatch!(conn, |c| {
        company_memberships::table
            .filter(company_memberships::user_id.eq(user_id))
            .select(company_memberships::company_id)
            .order(company_memberships::company_id.asc())
            .load(c)
            .await
    })?;
    Ok(ids)
}

/// Of `user_ids`, those who are members of at least one of `company_ids`.
pub async fn members_among(
    conn: &mut DbConn,
    user_ids: &[UserId],
    company_ids: &[CompanyId],
) -> AppResult<Vec<UserId>> {
    let ids = dispatch!(conn, |c| {
        company_memberships::table
            .filter(company_memberships::user_id.eq_any(user_ids))
            .filter(company_memberships::company_id.eq_any(company_ids))
            .select(company_memberships::user_id)
            .distinct()
            .load(c)
            .await
    })?;
    Ok(ids)
}

pub async fn find_company_membership(
    conn: &mut DbConn,
    user_id: UserId,
    company_id: CompanyId,
) -> AppResult<Option<CompanyMembership>> {
    let row = dispatch!(conn, |c| {
        company_memberships::table
            .filter(company_memberships::user_id.eq(user_id))
            .filter(company_memberships::company_id.eq(company_id))
            .select(CompanyMembership::as_select())
            .first(c)
            .await
            .optional()
    })?;
    Ok(row)
}

/// The query of one page of a company's memberships (see `company_page`).
macro_rules! company_members_page {
    ($company_id:expr, $after:expr, $limit:expr) => {
        company_memberships::table
            .filter(company_memberships::company_id.eq($company_id))
            .filter(company_memberships::id.gt($after.unwrap_or(CompanyMembershipId(0))))
            .order(company_memberships::id.asc())
            .limit($limit)
            .select(CompanyMembership::as_select())
    };
}

/// A company's memberships, by id after the keyset cursor (`company_memberships_company_id_idx`).
pub async fn company_page(
    conn: &mut DbConn,
    company_id: CompanyId,
    after: Option<CompanyMembershipId>,
    limit: i64,
) -> AppResult<Vec<CompanyMembership>> {
    let rows = dispatch!(conn, |c| company_members_page!(company_id, after, limit)
        .load(c)
        .await)?;
    Ok(rows)
}

/// The plan of `company_page`'s query with these arguments (the same SQL and binds).
pub async fn explain_company_page(
    conn: &mut DbConn,
    company_id: CompanyId,
    after: Option<CompanyMembershipId>,
    limit: i64,
) -> AppResult<QueryPlan> {
    Ok(explain!(conn, |c| company_members_page!(
        company_id, after, limit
    )))
}

pub async fn company_count(conn: &mut DbConn, company_id: CompanyId) -> AppResult<i64> {
    let count = dispatch!(conn, |c| {
        company_memberships::table
            .filter(company_memberships::company_id.eq(company_id))
            .count()
            .get_result(c)
            .await
    })?;
    Ok(count)
}

/// The membership role rules that hold whoever asks: SUPERVISOR or CUSTOMER (ADMIN is a
/// platform role), and never above the user's platform role.
pub async fn check_membership_role(
    conn: &mut DbConn,
    user_id: UserId,
    role: Role,
) -> AppResult<()> {
    if role == Role::Admin {
        return Err(AppError::bad_input(
            "role",
            "A membership role is SUPERVISOR or CUSTOMER; ADMIN is a platform role.",
        ));
    }
    let user = users::get(conn, user_id).await?;
    if !user.role.at_least(role) {
        return Err(AppError::bad_input(
            "role",
            format!(
                "The membership role cannot be above the user's platform role ({}).",
                user.role
            ),
        ));
    }
    Ok(())
}

/// Makes `user_id` a member of `company_id` with `role` (CREATE event on the membership, shown
/// on the company's and the user's History). NOT_FOUND for an unknown user or company,
/// BAD_USER_INPUT (`role`) for a role the rules refuse, CONFLICT when already a member.
pub async fn add_company_member(
    tx: &mut WriteTx,
    user_id: UserId,
    company_id: CompanyId,
    role: Role,
) -> AppResult<CompanyMembership> {
    check_membership_role(tx.conn()?, user_id, role).await?;
    companies::get(tx.conn()?, company_id).await?;
    let now = tx.now();
    create(
        tx,
        NewCompanyMembership {
            user_id,
            company_id,
            role,
            created_at: now,
            updated_at: now,
        },
    )
    .await
}

/// Changes the role of the locked membership `before` (see [`check_membership_role`]).
pub async fn change_company_role(
    tx: &mut WriteTx,
    before: &CompanyMembership,
    role: Role,
    expected_version: Option<i32>,
) -> AppResult<CompanyMembership> {
    check_membership_role(tx.conn()?, before.user_id, role).await?;
    let changes = CompanyMembershipChanges { role: Some(role) };
    apply(tx, before, &changes, expected_version).await
}

/// Deletes the locked membership and the user's memberships of that company's teams, each with
/// a DELETE event (the audit trail keeps what was removed).
pub async fn remove_company_member(
    tx: &mut WriteTx,
    membership: &CompanyMembership,
) -> AppResult<()> {
    let in_company_teams: Vec<TeamMembership> = dispatch!(tx.conn()?, |c| {
        team_memberships::table
            .inner_join(teams_table::table)
            .filter(teams_table::company_id.eq(membership.company_id))
            .filter(team_memberships::user_id.eq(membership.user_id))
            .order(team_memberships::id.asc())
            .select(TeamMembership::as_select())
            .load(c)
            .await
    })?;
    for team_membership in &in_company_teams {
        delete_team_membership(tx, team_membership, membership.company_id).await?;
    }
    let id = membership.id;
    dispatch!(tx.conn()?, |c| {
        diesel::delete(company_memberships::table.find(id))
            .execute(c)
            .await
    })?;
    tx.audit(audit::delete_entry(membership)).await?;
    Ok(())
}

pub async fn find_team_membership(
    conn: &mut DbConn,
    team_id: TeamId,
    user_id: UserId,
) -> AppResult<Option<TeamMembership>> {
    let row = dispatch!(conn, |c| {
        team_memberships::table
            .filter(team_memberships::team_id.eq(team_id))
            .filter(team_memberships::user_id.eq(user_id))
            .select(TeamMembership::as_select())
            .first(c)
            .await
            .optional()
    })?;
    Ok(row)
}

/// Adds `user_id` to `team_id` (CREATE event, shown on the team's, the user's and the company's
/// History). NOT_FOUND for an unknown team, BAD_USER_INPUT (`userId`) when the user is not a
/// member of the team's company, CONFLICT when already in the team.
pub async fn add_team_member(
    tx: &mut WriteTx,
    user_id: UserId,
    team_id: TeamId,
) -> AppResult<TeamMembership> {
    let team = teams::get(tx.conn()?, team_id).await?;
    let Some(membership) = find_company_membership(tx.conn()?, user_id, team.company_id).await?
    else {
        return Err(AppError::bad_input(
            "userId",
            "The user must be a member of the team's company first.",
        ));
    };
    // Held until commit, so a concurrent removal of the company membership (which removes the
    // user's team memberships) cannot leave this one behind.
    lock(tx, membership.id).await?;
    let new_row = NewTeamMembership {
        user_id,
        team_id,
        created_at: tx.now(),
    };
    let row = dispatch!(tx.conn()?, |c| {
        diesel::insert_into(team_memberships::table)
            .values(&new_row)
            .returning(TeamMembership::as_returning())
            .get_result(c)
            .await
    })?;
    tx.audit(audit::create_entry(&row).also_on([company_ref(team.company_id)]))
        .await?;
    Ok(row)
}

/// Removes `user_id` from `team` (DELETE event); NOT_FOUND when they are not in it.
pub async fn remove_team_member(
    tx: &mut WriteTx,
    team: &teams::Team,
    user_id: UserId,
) -> AppResult<TeamMembership> {
    let row = find_team_membership(tx.conn()?, team.id, user_id)
        .await?
        .ok_or_else(|| AppError::not_found("Team membership"))?;
    delete_team_membership(tx, &row, team.company_id).await?;
    Ok(row)
}

async fn delete_team_membership(
    tx: &mut WriteTx,
    row: &TeamMembership,
    company_id: CompanyId,
) -> AppResult<()> {
    let id = row.id;
    dispatch!(tx.conn()?, |c| {
        diesel::delete(team_memberships::table.find(id))
            .execute(c)
            .await
    })?;
    tx.audit(audit::delete_entry(row).also_on([company_ref(company_id)]))
        .await?;
    Ok(())
}

fn company_ref(company_id: CompanyId) -> RecordRef {
    RecordRef::new(AuditRecordType::Company, company_id)
}

/// The company memberships of each of `user_ids`, in one query (for the users list).
pub async fn company_memberships_of_users(
    conn: &mut DbConn,
    user_ids: &[UserId],
) -> AppResult<Vec<CompanyMembership>> {
    let rows = dispatch!(conn, |c| {
        company_memberships::table
            .filter(company_memberships::user_id.eq_any(user_ids))
            .order(company_memberships::id.asc())
            .select(CompanyMembership::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
}

/// The team memberships of each of `user_ids`, in one query.
pub async fn team_memberships_of_users(
    conn: &mut DbConn,
    user_ids: &[UserId],
) -> AppResult<Vec<TeamMembership>> {
    let rows = dispatch!(conn, |c| {
        team_memberships::table
            .filter(team_memberships::user_id.eq_any(user_ids))
            .order(team_memberships::id.asc())
            .select(TeamMembership::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
}
