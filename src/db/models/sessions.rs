use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::models::User;
use crate::db::schema::{company_memberships, sessions, users};
use crate::db::{DbConn, dispatch};
use crate::domain::{CompanyId, SessionId, UserId};
use crate::error::AppResult;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = sessions)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Session {
    pub id: SessionId,
    pub token_hash: String,
    pub user_id: UserId,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub impersonator_id: Option<UserId>,
    pub parent_session_id: Option<SessionId>,
    pub impersonation_reason: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// When the end of this impersonation was recorded on the audit trail (its
    /// IMPERSONATION_STOPPED event); `None` while it lasts and on plain sessions.
    pub impersonation_ended_at: Option<NaiveDateTime>,
}

impl Session {
    /// Whether the session still admits requests at `now`, given the idle limit.
    pub fn is_live(&self, now: NaiveDateTime, idle: chrono::Duration) -> bool {
        self.revoked_at.is_none() && now < self.expires_at && now < self.last_seen_at + idle
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession {
    pub token_hash: String,
    pub user_id: UserId,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub impersonator_id: Option<UserId>,
    pub parent_session_id: Option<SessionId>,
    pub impersonation_reason: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

pub async fn insert(conn: &mut DbConn, new_session: &NewSession) -> AppResult<Session> {
    let session = dispatch!(conn, |c| {
        diesel::insert_into(sessions::table)
            .values(new_session)
            .returning(Session::as_returning())
            .get_result(c)
            .await
    })?;
    Ok(session)
}

pub async fn find_by_token_hash(conn: &mut DbConn, token_hash: &str) -> AppResult<Option<Session>> {
    let session = dispatch!(conn, |c| {
        sessions::table
            .filter(sessions::token_hash.eq(token_hash))
            .select(Session::as_select())
            .first(c)
            .await
            .optional()
    })?;
    Ok(session)
}

pub async fn find(conn: &mut DbConn, id: SessionId) -> AppResult<Option<Session>> {
    let session = dispatch!(conn, |c| {
        sessions::table
            .find(id)
            .select(Session::as_select())
            .first(c)
            .await
            .optional()
    })?;
    Ok(session)
}

/// Records activity for the idle limit.
pub async fn touch(conn: &mut DbConn, ids: &[SessionId], now: NaiveDateTime) -> AppResult<()> {
    dispatch!(conn, |c| {
        diesel::update(sessions::table.filter(sessions::id.eq_any(ids)))
            .filter(sessions::revoked_at.is_null())
            .set(sessions::last_seen_at.eq(now))
            .execute(c)
            .await
    })?;
    Ok(())
}

/// Revokes the live sessions matching `$filter` at `$now`; evaluates to the sessions revoked
/// (their ends, impersonations among them, are for the caller to record:
/// `services::impersonation::record_ends`).
macro_rules! revoke_live {
    ($conn:expr, $now:expr, $filter:expr) => {
        dispatch!($conn, |c| {
            diesel::update(sessions::table.filter($filter))
                .filter(sessions::revoked_at.is_null())
                .set(sessions::revoked_at.eq($now))
                .returning(Session::as_returning())
                .get_results(c)
                .await
        })
    };
}

/// Revokes a session and the impersonation sessions hanging off it; returns those revoked now.
pub async fn revoke(
    conn: &mut DbConn,
    id: SessionId,
    now: NaiveDateTime,
) -> AppResult<Vec<Session>> {
    let filter = sessions::id.eq(id).or(sessions::parent_session_id.eq(id));
    Ok(revoke_live!(conn, now, filter)?)
}

/// Revokes every session of a user, every impersonation of them and every impersonation they
/// run, except `keep` (the session making the request, when it stays signed in); returns those
/// revoked now.
pub async fn revoke_all_for_user(
    conn: &mut DbConn,
    user_id: UserId,
    keep: Option<SessionId>,
    now: NaiveDateTime,
) -> AppResult<Vec<Session>> {
    let keep = keep.unwrap_or(SessionId(0));
    let filter = sessions::user_id
        .eq(user_id)
        .or(sessions::impersonator_id.eq(user_id))
        .and(sessions::id.ne(keep))
        .and(
            sessions::parent_session_id
                .ne(keep)
                .or(sessions::parent_session_id.is_null()),
        );
    Ok(revoke_live!(conn, now, filter)?)
}

/// Ends the impersonations hanging off an admin session (one impersonation per admin session at
/// a time); returns those revoked now.
pub async fn revoke_children(
    conn: &mut DbConn,
    parent: SessionId,
    now: NaiveDateTime,
) -> AppResult<Vec<Session>> {
    let filter = sessions::parent_session_id.eq(parent);
    Ok(revoke_live!(conn, now, filter)?)
}

/// Ends every impersonation `admin_id` runs (their own sessions stay); returns those revoked now.
pub async fn revoke_impersonations_by(
    conn: &mut DbConn,
    admin_id: UserId,
    now: NaiveDateTime,
) -> AppResult<Vec<Session>> {
    let filter = sessions::impersonator_id.eq(admin_id);
    Ok(revoke_live!(conn, now, filter)?)
}

/// Ends every impersonation of `user_id` (their own sessions stay); returns those revoked now.
pub async fn revoke_impersonations_of(
    conn: &mut DbConn,
    user_id: UserId,
    now: NaiveDateTime,
) -> AppResult<Vec<Session>> {
    let filter = sessions::user_id
        .eq(user_id)
        .and(sessions::impersonator_id.is_not_null());
    Ok(revoke_live!(conn, now, filter)?)
}

/// The impersonations whose end is not recorded yet (live ones, and those that ended by time
/// with no request to record it), oldest first, at most `limit`.
pub async fn open_impersonations(conn: &mut DbConn, limit: i64) -> AppResult<Vec<Session>> {
    let rows = dispatch!(conn, |c| {
        sessions::table
            .filter(sessions::impersonator_id.is_not_null())
            .filter(sessions::impersonation_ended_at.is_null())
            .order(sessions::id.asc())
            .limit(limit)
            .select(Session::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
}

/// Claims the recording of an impersonation's end: sets `impersonation_ended_at` unless it is
/// set already. True for exactly one caller per impersonation, however many race (on
/// PostgreSQL the loser waits for the winner's row lock, then finds the column set).
pub async fn claim_impersonation_end(
    conn: &mut DbConn,
    id: SessionId,
    ended_at: NaiveDateTime,
) -> AppResult<bool> {
    let claimed = dispatch!(conn, |c| {
        diesel::update(sessions::table.find(id))
            .filter(sessions::impersonator_id.is_not_null())
            .filter(sessions::impersonation_ended_at.is_null())
            .set(sessions::impersonation_ended_at.eq(ended_at))
            .execute(c)
            .await
    })?;
    Ok(claimed == 1)
}

/// The live sessions of a user (their own and impersonations of them), most recently used
/// first, at most `limit`.
pub async fn live_of_user(
    conn: &mut DbConn,
    user_id: UserId,
    now: NaiveDateTime,
    idle: chrono::Duration,
    limit: i64,
) -> AppResult<Vec<Session>> {
    let idle_since = now - idle;
    let rows = dispatch!(conn, |c| {
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .filter(sessions::last_seen_at.gt(idle_since))
            .order((sessions::last_seen_at.desc(), sessions::id.desc()))
            .limit(limit)
            .select(Session::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
}

/// Whether `user_id` signed in from `client_ip` since `since` (a session of their own, not an
/// impersonation): the client is one the account knows.
pub async fn signed_in_from(
    conn: &mut DbConn,
    user_id: UserId,
    client_ip: &str,
    since: NaiveDateTime,
) -> AppResult<bool> {
    let found = dispatch!(conn, |c| {
        diesel::select(diesel::dsl::exists(
            sessions::table
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::client_ip.eq(client_ip))
                .filter(sessions::impersonator_id.is_null())
                .filter(sessions::created_at.ge(since)),
        ))
        .get_result::<bool>(c)
        .await
    })?;
    Ok(found)
}

/// The session with `token_hash`, its user and the user's company ids, in one statement (a row
/// per membership): authenticating a request costs this one read.
pub async fn find_with_user_by_token_hash(
    conn: &mut DbConn,
    token_hash: &str,
) -> AppResult<Option<(Session, User, Vec<CompanyId>)>> {
    let rows: Vec<(Session, User, Option<CompanyId>)> = dispatch!(conn, |c| {
        sessions::table
            .inner_join(users::table.on(users::id.eq(sessions::user_id)))
            .left_join(
                company_memberships::table.on(company_memberships::user_id.eq(sessions::user_id)),
            )
            .filter(sessions::token_hash.eq(token_hash))
            .select((
                Session::as_select(),
                User::as_select(),
                company_memberships::company_id.nullable(),
            ))
            .order(company_memberships::company_id.asc())
            .load(c)
            .await
    })?;
    let mut rows = rows.into_iter();
    let Some((session, user, first)) = rows.next() else {
        return Ok(None);
    };
    let company_ids = first
        .into_iter()
        .chain(rows.filter_map(|(_, _, company_id)| company_id))
        .collect();
    Ok(Some((session, user, company_ids)))
}

/// The session `id` with its user, in one statement.
pub async fn find_with_user(
    conn: &mut DbConn,
    id: SessionId,
) -> AppResult<Option<(Session, User)>> {
    let found = dispatch!(conn, |c| {
        sessions::table
            .inner_join(users::table.on(users::id.eq(sessions::user_id)))
            .filter(sessions::id.eq(id))
            .select((Session::as_select(), User::as_select()))
            .first(c)
            .await
            .optional()
    })?;
    Ok(found)
}
