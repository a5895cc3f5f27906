use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::audited::audited_table;
use super::{like_pattern, lower};
use crate::db::explain::{QueryPlan, explain};
use crate::db::schema::{company_memberships, team_memberships, users};
use crate::db::{DbConn, WriteTx, dispatch};
use crate::domain::audit::{AuditValue, Audited};
use crate::domain::{AuditRecordType, CompanyId, Role, TeamId, UserId, UserStatus};
use crate::error::AppResult;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub password_hash: Option<String>,
    pub totp_secret_encrypted: Option<String>,
    pub totp_pending_secret_encrypted: Option<String>,
    pub two_factor_enabled_at: Option<NaiveDateTime>,
    pub totp_last_used_step: Option<i64>,
    pub failed_sign_in_count: i32,
    pub last_failed_sign_in_at: Option<NaiveDateTime>,
    pub last_sign_in_at: Option<NaiveDateTime>,
    pub invitation_sent_at: Option<NaiveDateTime>,
    pub activated_at: Option<NaiveDateTime>,
    pub discarded_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
    /// Bumped by every credential change; a sign-in's session is written only while the version
    /// its password was checked against is current.
    pub credentials_version: i32,
}

impl User {
    pub fn status(&self) -> UserStatus {
        if self.discarded_at.is_some() {
            UserStatus::Discarded
        } else if self.activated_at.is_some() {
            UserStatus::Active
        } else {
            UserStatus::Invited
        }
    }

    pub fn two_factor_enabled(&self) -> bool {
        self.two_factor_enabled_at.is_some()
    }
}

impl Audited for User {
    const RECORD_TYPE: AuditRecordType = AuditRecordType::User;

    fn record_id(&self) -> i64 {
        self.id.0
    }

    fn audit_fields(&self) -> Vec<(&'static str, AuditValue)> {
        vec![
            ("name", AuditValue::text(&self.name)),
            ("email", AuditValue::text(&self.email)),
            ("role", AuditValue::text(self.role)),
            ("status", AuditValue::text(self.status())),
            ("discardedAt", AuditValue::opt_time(self.discarded_at)),
            (
                "twoFactorEnabled",
                AuditValue::text(self.two_factor_enabled()),
            ),
            (
                "password",
                AuditValue::secret(self.password_hash.as_deref()),
            ),
            (
                "twoFactorSecret",
                AuditValue::secret(self.totp_secret_encrypted.as_deref()),
            ),
        ]
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser {
    pub name: String,
    pub email: String,
    pub role: Role,
    pub password_hash: Option<String>,
    pub invitation_sent_at: Option<NaiveDateTime>,
    pub activated_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// An update form: `None` leaves a column as it is; `Some(None)` sets a nullable column NULL.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Option<Role>,
    pub password_hash: Option<Option<String>>,
    pub totp_secret_encrypted: Option<Option<String>>,
    pub totp_pending_secret_encrypted: Option<Option<String>>,
    pub two_factor_enabled_at: Option<Option<NaiveDateTime>>,
    pub totp_last_used_step: Option<Option<i64>>,
    pub invitation_sent_at: Option<Option<NaiveDateTime>>,
    pub activated_at: Option<Option<NaiveDateTime>>,
    pub discarded_at: Option<Option<NaiveDateTime>>,
}

audited_table!(
    users,
    User,
    UserId,
    NewUser,
    UserChanges,
    "User",
    audited [
        name,
        email,
        role,
        password_hash,
        totp_secret_encrypted,
        two_factor_enabled_at,
        activated_at,
        discarded_at,
    ],
    not_audited {
        id: "the record id every event names",
        totp_pending_secret_encrypted: "an unconfirmed secret; confirming it audits twoFactorSecret and twoFactorEnabled",
        totp_last_used_step: "the TOTP replay guard, claimed atomically by claim_totp_step",
        failed_sign_in_count: "sign-in limiter bookkeeping; refusals are logged, not audited",
        last_failed_sign_in_at: "sign-in limiter bookkeeping; refusals are logged, not audited",
        last_sign_in_at: "the SIGN_IN event records each sign-in",
        invitation_sent_at: "mail bookkeeping; the invitation's own event records it",
        created_at: "creation is the CREATE event's own time",
        updated_at: "bookkeeping of the audited write path (the event's time)",
        version: "bumped by the audited write path itself on each audited change",
        credentials_version: "a counter bumped with each credential change, which is audited itself (password, twoFactorSecret, discardedAt)",
    }
);

pub async fn find_by_email(conn: &mut DbConn, email: &str) -> AppResult<Option<User>> {
    let email = email.trim().to_lowercase();
    let user = dispatch!(conn, |c| {
        users::table
            .filter(lower(users::email).eq(&email))
            .select(User::as_select())
            .first(c)
            .await
            .optional()
    })?;
    Ok(user)
}

pub async fn count_active_admins(conn: &mut DbConn) -> AppResult<i64> {
    let count = dispatch!(conn, |c| {
        users::table
            .filter(users::role.eq(Role::Admin))
            .filter(users::discarded_at.is_null())
            .count()
            .get_result(c)
            .await
    })?;
    Ok(count)
}

/// Sign-in bookkeeping: not audited as a field change (the SIGN_IN event records it).
pub async fn record_sign_in(tx: &mut WriteTx, id: UserId, at: NaiveDateTime) -> AppResult<()> {
    dispatch!(tx.conn()?, |c| {
        diesel::update(users::table.find(id))
            .set((
                users::last_sign_in_at.eq(at),
                users::failed_sign_in_count.eq(0),
            ))
            .execute(c)
            .await
    })?;
    Ok(())
}

/// Sign-in bookkeeping for a sign-in whose password was checked against credentials version
/// `checked`: false (nothing written) when a reset, change, 2FA removal or discard has moved the
/// version since. The UPDATE takes the user's row lock, so a credential change is either
/// committed before it (and this sees the new version) or after the caller's session is
/// committed (and revokes it).
pub async fn record_sign_in_if_current(
    tx: &mut WriteTx,
    id: UserId,
    at: NaiveDateTime,
    checked: i32,
) -> AppResult<bool> {
    let count = dispatch!(tx.conn()?, |c| {
        diesel::update(users::table.find(id))
            .filter(users::credentials_version.eq(checked))
            .filter(users::discarded_at.is_null())
            .set((
                users::last_sign_in_at.eq(at),
                users::failed_sign_in_count.eq(0),
            ))
            .execute(c)
            .await
    })?;
    Ok(count == 1)
}

/// Marks a credential change: sessions checked against the old credentials can no longer be
/// issued (see [`record_sign_in_if_current`]).
pub async fn bump_credentials_version(tx: &mut WriteTx, id: UserId) -> AppResult<()> {
    dispatch!(tx.conn()?, |c| {
        diesel::update(users::table.find(id))
            .set(users::credentials_version.eq(users::credentials_version + 1))
            .execute(c)
            .await
    })?;
    Ok(())
}

/// Replaces a hash made with old parameters by one of the same password with today's, only if
/// the stored hash is still `old` (not audited: the password is the same).
pub async fn upgrade_password_hash(
    tx: &mut WriteTx,
    id: UserId,
    old: &str,
    new: &str,
) -> AppResult<bool> {
    let count = dispatch!(tx.conn()?, |c| {
        diesel::update(users::table.find(id))
            .filter(users::password_hash.eq(old))
            .set(users::password_hash.eq(new))
            .execute(c)
            .await
    })?;
    Ok(count == 1)
}

/// Accepts TOTP time step `step` for the user only if it is newer than the last accepted one:
/// one atomic conditional update, so a code is accepted once even under concurrent submissions.
pub async fn claim_totp_step(conn: &mut DbConn, id: UserId, step: i64) -> AppResult<bool> {
    let count = dispatch!(conn, |c| {
        diesel::update(users::table.find(id))
            .filter(
                users::totp_last_used_step
                    .is_null()
                    .or(users::totp_last_used_step.lt(step)),
            )
            .set(users::totp_last_used_step.eq(step))
            .execute(c)
            .await
    })?;
    Ok(count == 1)
}

/// Which users a list query returns. `visible_to` limits it to a non-admin viewer's view: the
/// viewer and the users who share one of the viewer's companies.
#[derive(Debug, Clone, Default)]
pub struct UserQuery<'a> {
    pub visible_to: Option<(UserId, &'a [CompanyId])>,
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
    pub company_id: Option<CompanyId>,
    pub team_id: Option<TeamId>,
    pub search: Option<String>,
}

/// The boxed, filtered users query for `$q`; expands inside each `dispatch!` arm, so the same
/// filters compile for both backends.
macro_rules! filtered_users {
    ($q:expr) => {{
        let q: &UserQuery<'_> = $q;
        let mut query = users::table.into_boxed();
        if let Some((viewer_id, companies)) = q.visible_to {
            query = query.filter(
                users::id.eq(viewer_id).or(users::id.eq_any(
                    company_memberships::table
                        .filter(company_memberships::company_id.eq_any(companies))
                        .select(company_memberships::user_id),
                )),
            );
        }
        if let Some(role) = q.role {
            query = query.filter(users::role.eq(role));
        }
        match q.status {
            Some(UserStatus::Discarded) => query = query.filter(users::discarded_at.is_not_null()),
            Some(UserStatus::Active) => {
                query = query
                    .filter(users::discarded_at.is_null())
                    .filter(users::activated_at.is_not_null())
            }
            Some(UserStatus::Invited) => {
                query = query
                    .filter(users::discarded_at.is_null())
                    .filter(users::activated_at.is_null())
            }
            None => {}
        }
        if let Some(company_id) = q.company_id {
            query = query.filter(
                users::id.eq_any(
                    company_memberships::table
                        .filter(company_memberships::company_id.eq(company_id))
                        .select(company_memberships::user_id),
                ),
            );
        }
        if let Some(team_id) = q.team_id {
            query = query.filter(
                users::id.eq_any(
                    team_memberships::table
                        .filter(team_memberships::team_id.eq(team_id))
                        .select(team_memberships::user_id),
                ),
            );
        }
        if let Some(search) = q.search.as_deref().filter(|s| !s.trim().is_empty()) {
            let pattern = like_pattern(search);
            query = query.filter(
                lower(users::name)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(users::email).like(pattern).escape('\\')),
            );
        }
        query
    }};
}

/// The query of one page of users (see `page`); expands inside a `dispatch!` arm.
macro_rules! users_page {
    ($q:expr, $after:expr, $limit:expr) => {{
        let mut query = filtered_users!($q);
        if let Some((name, id)) = $after {
            // `lower(name) >= $name` is implied by the keyset condition after it; spelled out,
            // it is the index range (`users_lower_name_id_idx`) the page starts from, so a page
            // deep in the list does not walk the index from its start.
            query = query.filter(
                lower(users::name).ge(name.clone()).and(
                    lower(users::name)
                        .gt(name.clone())
                        .or(lower(users::name).eq(name.clone()).and(users::id.gt(*id))),
                ),
            );
        }
        query
            .order((lower(users::name).asc(), users::id.asc()))
            .limit($limit)
            .select(User::as_select())
    }};
}

/// One page of users ordered by name (case-insensitive), then id; `after` is the (lowercased
/// name, id) of the previous page's last row. Served by `users_lower_name_id_idx`.
pub async fn page(
    conn: &mut DbConn,
    q: &UserQuery<'_>,
    after: Option<(String, UserId)>,
    limit: i64,
) -> AppResult<Vec<User>> {
    let rows = dispatch!(conn, |c| users_page!(q, &after, limit).load(c).await)?;
    Ok(rows)
}

/// The plan of `page`'s query with these arguments (the same SQL and binds).
pub async fn explain_page(
    conn: &mut DbConn,
    q: &UserQuery<'_>,
    after: Option<(String, UserId)>,
    limit: i64,
) -> AppResult<QueryPlan> {
    Ok(explain!(conn, |c| users_page!(q, &after, limit)))
}

pub async fn count(conn: &mut DbConn, q: &UserQuery<'_>) -> AppResult<i64> {
    let total = dispatch!(conn, |c| filtered_users!(q).count().get_result(c).await)?;
    Ok(total)
}
