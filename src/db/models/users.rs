use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::schema::users;
use crate::db::{DbConn, WriteTx, dispatch};
use crate::domain::audit::{self, AuditValue, Audited};
use crate::domain::{AuditRecordType, Role, UserId, UserStatus};
use crate::error::{AppError, AppResult};

diesel::define_sql_function! {
    /// SQL `lower()`, the same on both backends; email uniqueness is on `lower(email)`.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

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
            ("discardedAt", AuditValue::opt(self.discarded_at)),
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

pub async fn find(conn: &mut DbConn, id: UserId) -> AppResult<Option<User>> {
    let user = dispatch!(conn, |c| {
        users::table
            .find(id)
            .select(User::as_select())
            .first(c)
            .await
            .optional()
    })?;
    Ok(user)
}

pub async fn get(conn: &mut DbConn, id: UserId) -> AppResult<User> {
    find(conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("User"))
}

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

pub async fn find_many(conn: &mut DbConn, ids: &[UserId]) -> AppResult<Vec<User>> {
    let rows = dispatch!(conn, |c| {
        users::table
            .filter(users::id.eq_any(ids))
            .select(User::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
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

/// Inserts a user and its CREATE audit event.
pub async fn create(tx: &mut WriteTx, new_user: NewUser) -> AppResult<User> {
    let user = dispatch!(tx.conn()?, |c| {
        diesel::insert_into(users::table)
            .values(&new_user)
            .returning(User::as_returning())
            .get_result(c)
            .await
    })?;
    tx.audit(audit::create_entry(&user)).await?;
    Ok(user)
}

/// Reads a user and holds it against concurrent writers until the transaction ends.
pub async fn lock(tx: &mut WriteTx, id: UserId) -> AppResult<User> {
    let user = match tx.conn()? {
        DbConn::Postgres(c) => {
            users::table
                .find(id)
                .select(User::as_select())
                .for_update()
                .first(&mut **c)
                .await
        }
        // SQLite write transactions start with BEGIN IMMEDIATE: the whole database is held.
        DbConn::Sqlite(c) => {
            users::table
                .find(id)
                .select(User::as_select())
                .first(&mut **c)
                .await
        }
    }
    .optional()?;
    user.ok_or_else(|| AppError::not_found("User"))
}

/// Applies `changes` and writes one UPDATE audit event with the fields that changed; when
/// nothing changed, returns the user as it was and writes no event. With `expected_version`,
/// refuses with CONFLICT when someone else changed the user since the client read it.
pub async fn update(
    tx: &mut WriteTx,
    id: UserId,
    changes: &UserChanges,
    expected_version: Option<i32>,
) -> AppResult<User> {
    update_with(tx, id, changes, expected_version, |entry| entry).await
}

/// Like [`update`], letting the caller shape the audit event (action, reason).
pub async fn update_with(
    tx: &mut WriteTx,
    id: UserId,
    changes: &UserChanges,
    expected_version: Option<i32>,
    shape: impl FnOnce(audit::AuditEntry) -> audit::AuditEntry + Send,
) -> AppResult<User> {
    let before = lock(tx, id).await?;
    if let Some(expected) = expected_version
        && expected != before.version
    {
        return Err(AppError::conflict(
            "This user was changed by someone else. Reload and try again.",
        ));
    }
    let now = tx.now();
    let after = dispatch!(tx.conn()?, |c| {
        diesel::update(users::table.find(id))
            .set(changes)
            .returning(User::as_returning())
            .get_result(c)
            .await
    })?;
    let Some(entry) = audit::update_entry(&before, &after) else {
        return Ok(after);
    };
    let after = dispatch!(tx.conn()?, |c| {
        diesel::update(users::table.find(id))
            .set((
                users::version.eq(before.version + 1),
                users::updated_at.eq(now),
            ))
            .returning(User::as_returning())
            .get_result(c)
            .await
    })?;
    tx.audit(shape(entry)).await?;
    Ok(after)
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
