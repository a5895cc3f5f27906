use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::audited::audited_table;
use super::{like_pattern, lower};
use crate::db::explain::{QueryPlan, explain};
use crate::db::schema::{company_memberships, team_memberships, users};
use crate::db::{DbConn, WriteTx, dispatch};
use crate::domain::audit::{AuditValue, Audited};
use crate::domain::{AuditRecordType, CompanyId, Role, TeamId, UserId, UserSortField, UserStatus};
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
    /// `Some(true)`: only users who never signed in; `Some(false)`: only those who did.
    pub never_signed_in: Option<bool>,
    /// Only users whose last sign-in is before this instant, or who never signed in.
    pub no_sign_in_since: Option<NaiveDateTime>,
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
        match q.never_signed_in {
            Some(true) => query = query.filter(users::last_sign_in_at.is_null()),
            Some(false) => query = query.filter(users::last_sign_in_at.is_not_null()),
            None => {}
        }
        if let Some(since) = q.no_sign_in_since {
            query = query.filter(
                users::last_sign_in_at
                    .is_null()
                    .or(users::last_sign_in_at.lt(since)),
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

/// The order of a users page: a field and a direction; `id` breaks ties in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserOrder {
    pub field: UserSortField,
    pub descending: bool,
}

impl Default for UserOrder {
    fn default() -> Self {
        UserOrder {
            field: UserSortField::Name,
            descending: false,
        }
    }
}

/// Where a page starts: the sort key of the previous page's last row, and its id. The key's
/// kind is the order's field (`UserOrder`); `UserKey::of` makes one from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserKey {
    /// `lower(name)`.
    Name(String, UserId),
    /// `lower(email)` (unique, so the id is not needed to break ties, but kept for the cursor).
    Email(String, UserId),
    /// `last_sign_in_at`, `None` for a user who never signed in.
    LastSignIn(Option<NaiveDateTime>, UserId),
    CreatedAt(NaiveDateTime, UserId),
}

impl UserKey {
    /// The key of `user` in the order of `field`.
    pub fn of(field: UserSortField, user: &User) -> UserKey {
        match field {
            UserSortField::Name => UserKey::Name(user.name.to_lowercase(), user.id),
            UserSortField::Email => UserKey::Email(user.email.to_lowercase(), user.id),
            UserSortField::LastSignIn => UserKey::LastSignIn(user.last_sign_in_at, user.id),
            UserSortField::CreatedAt => UserKey::CreatedAt(user.created_at, user.id),
        }
    }

    pub fn field(&self) -> UserSortField {
        match self {
            UserKey::Name(..) => UserSortField::Name,
            UserKey::Email(..) => UserSortField::Email,
            UserKey::LastSignIn(..) => UserSortField::LastSignIn,
            UserKey::CreatedAt(..) => UserSortField::CreatedAt,
        }
    }
}

/// Keyset condition "after `$key`" on `$col` with `users::id` as the tie-break, ascending or
/// descending. The redundant `$col >= $key` (or `<=`) is the index range the page starts
/// from, so a page deep in the list does not walk the index from its start.
macro_rules! after_key {
    ($query:ident, $col:expr, $key:expr, $id:expr, $desc:expr) => {{
        let (key, id) = (&$key, $id);
        $query = if $desc {
            $query.filter(
                $col.le(key.to_owned()).and(
                    $col.lt(key.to_owned())
                        .or($col.eq(key.to_owned()).and(users::id.lt(id))),
                ),
            )
        } else {
            $query.filter(
                $col.ge(key.to_owned()).and(
                    $col.gt(key.to_owned())
                        .or($col.eq(key.to_owned()).and(users::id.gt(id))),
                ),
            )
        };
    }};
}

/// `ORDER BY $col, id` in one direction.
macro_rules! order_by_key {
    ($query:ident, $col:expr, $desc:expr) => {{
        $query = if $desc {
            $query.order(($col.desc(), users::id.desc()))
        } else {
            $query.order(($col.asc(), users::id.asc()))
        };
    }};
}

/// Which part of the last-sign-in order a statement reads: the users who never signed in
/// (ordered by id; they count as the earliest) or those who did (by time, then id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignInPart {
    Never(Option<UserId>),
    Dated(Option<(NaiveDateTime, UserId)>),
}

/// The query of one page of users (see `page`); expands inside a `dispatch!` arm. For
/// `LAST_SIGN_IN`, `$part` says which part of the order it reads.
macro_rules! users_page {
    ($q:expr, $order:expr, $after:expr, $part:expr, $limit:expr) => {{
        let mut query = filtered_users!($q);
        let order: UserOrder = $order;
        let after: &Option<UserKey> = $after;
        let part: Option<SignInPart> = $part;
        let desc = order.descending;
        match (order.field, after) {
            (UserSortField::Name, after) => {
                if let Some(UserKey::Name(name, id)) = after {
                    after_key!(query, lower(users::name), name, *id, desc);
                }
                order_by_key!(query, lower(users::name), desc);
            }
            (UserSortField::Email, after) => {
                if let Some(UserKey::Email(email, _)) = after {
                    query = if desc {
                        query.filter(lower(users::email).lt(email.clone()))
                    } else {
                        query.filter(lower(users::email).gt(email.clone()))
                    };
                }
                // Unique (`users_email_lower_key`): no tie-break needed, and none lets the
                // unique index serve the order by itself.
                query = if desc {
                    query.order(lower(users::email).desc())
                } else {
                    query.order(lower(users::email).asc())
                };
            }
            (UserSortField::CreatedAt, after) => {
                if let Some(UserKey::CreatedAt(at, id)) = after {
                    after_key!(query, users::created_at, at, *id, desc);
                }
                order_by_key!(query, users::created_at, desc);
            }
            (UserSortField::LastSignIn, _) => match part {
                Some(SignInPart::Never(after_id)) => {
                    query = query.filter(users::last_sign_in_at.is_null());
                    if let Some(id) = after_id {
                        query = if desc {
                            query.filter(users::id.lt(id))
                        } else {
                            query.filter(users::id.gt(id))
                        };
                    }
                    query = if desc {
                        query.order((users::last_sign_in_at.desc(), users::id.desc()))
                    } else {
                        query.order((users::last_sign_in_at.asc(), users::id.asc()))
                    };
                }
                dated => {
                    query = query.filter(users::last_sign_in_at.is_not_null());
                    if let Some(SignInPart::Dated(Some((at, id)))) = dated {
                        after_key!(query, users::last_sign_in_at, at, id, desc);
                    }
                    order_by_key!(query, users::last_sign_in_at, desc);
                }
            },
        }
        query.limit($limit).select(User::as_select())
    }};
}

/// The statements of one page in the last-sign-in order: the part the cursor is in, then,
/// when the page is not full, the next part from its start. Ascending, never-signed-in users
/// come first; descending, last. Every other order is one statement.
fn sign_in_parts(order: UserOrder, after: &Option<UserKey>) -> Vec<SignInPart> {
    let cursor = match after {
        Some(UserKey::LastSignIn(at, id)) => Some((*at, *id)),
        _ => None,
    };
    match (order.descending, cursor) {
        (false, None) => vec![SignInPart::Never(None), SignInPart::Dated(None)],
        (false, Some((None, id))) => vec![SignInPart::Never(Some(id)), SignInPart::Dated(None)],
        (false, Some((Some(at), id))) => vec![SignInPart::Dated(Some((at, id)))],
        (true, None) => vec![SignInPart::Dated(None), SignInPart::Never(None)],
        (true, Some((Some(at), id))) => {
            vec![SignInPart::Dated(Some((at, id))), SignInPart::Never(None)]
        }
        (true, Some((None, id))) => vec![SignInPart::Never(Some(id))],
    }
}

/// One page of users in `order` (by default name, case-insensitively, then id), starting
/// after `after` (the key of the previous page's last row, of the same order). Each order is
/// served by an index: `users_lower_name_id_idx`, `users_email_lower_key`,
/// `users_created_at_id_idx`, `users_last_sign_in_at_id_idx`.
pub async fn page(
    conn: &mut DbConn,
    q: &UserQuery<'_>,
    order: UserOrder,
    after: Option<UserKey>,
    limit: i64,
) -> AppResult<Vec<User>> {
    if order.field != UserSortField::LastSignIn {
        let rows = dispatch!(conn, |c| users_page!(q, order, &after, None, limit)
            .load(c)
            .await)?;
        return Ok(rows);
    }
    let mut rows: Vec<User> = Vec::new();
    for part in sign_in_parts(order, &after) {
        let left = limit - rows.len() as i64;
        if left <= 0 {
            break;
        }
        let more: Vec<User> = dispatch!(conn, |c| users_page!(q, order, &after, Some(part), left)
            .load(c)
            .await)?;
        rows.extend(more);
    }
    Ok(rows)
}

/// The plans of `page`'s statements with these arguments (the same SQL and binds): one, or
/// for the last-sign-in order one per part it may read.
pub async fn explain_page(
    conn: &mut DbConn,
    q: &UserQuery<'_>,
    order: UserOrder,
    after: Option<UserKey>,
    limit: i64,
) -> AppResult<Vec<QueryPlan>> {
    if order.field != UserSortField::LastSignIn {
        return Ok(vec![explain!(conn, |c| users_page!(
            q, order, &after, None, limit
        ))]);
    }
    let mut plans = Vec::new();
    for part in sign_in_parts(order, &after) {
        plans.push(explain!(conn, |c| users_page!(
            q,
            order,
            &after,
            Some(part),
            limit
        )));
    }
    Ok(plans)
}

pub async fn count(conn: &mut DbConn, q: &UserQuery<'_>) -> AppResult<i64> {
    let total = dispatch!(conn, |c| filtered_users!(q).count().get_result(c).await)?;
    Ok(total)
}
