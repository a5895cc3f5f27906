//! Playbooks and their versions. Every save is a new immutable `playbook_versions` row (the
//! database refuses to change or delete one) and bumps `playbooks.current_version`. The
//! versions are the playbook's history; the audit log gets one event per save (`version`
//! before → after) so it shows who saved when, without copying the content.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::schema::{playbook_versions, playbooks};
use crate::db::{DbConn, WriteTx, dispatch};
use crate::domain::audit::{self, AuditValue, Audited};
use crate::domain::{AuditRecordType, CompanyId, PlaybookId, PlaybookVersionId, UserId};
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = playbooks)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct Playbook {
    pub id: PlaybookId,
    pub company_id: CompanyId,
    pub current_version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Audited as its version number only: the content lives in the versions.
impl Audited for Playbook {
    const RECORD_TYPE: AuditRecordType = AuditRecordType::Playbook;

    fn record_id(&self) -> i64 {
        self.id.0
    }

    fn audit_fields(&self) -> Vec<(&'static str, AuditValue)> {
        vec![("currentVersion", AuditValue::text(self.current_version))]
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = playbook_versions)]
#[diesel(check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct PlaybookVersion {
    pub id: PlaybookVersionId,
    pub playbook_id: PlaybookId,
    pub version: i32,
    pub title: String,
    pub body: String,
    pub author_id: Option<UserId>,
    pub impersonator_id: Option<UserId>,
    pub restored_from_version: Option<i32>,
    pub created_at: NaiveDateTime,
}

/// A playbook with the content of its current version.
#[derive(Debug, Clone)]
pub struct CurrentPlaybook {
    pub playbook: Playbook,
    pub current: PlaybookVersion,
}

#[derive(Insertable)]
#[diesel(table_name = playbooks)]
struct NewPlaybook {
    company_id: CompanyId,
    current_version: i32,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = playbook_versions)]
struct NewPlaybookVersion<'a> {
    playbook_id: PlaybookId,
    version: i32,
    title: &'a str,
    body: &'a str,
    author_id: Option<UserId>,
    impersonator_id: Option<UserId>,
    restored_from_version: Option<i32>,
    created_at: NaiveDateTime,
}

/// The joins a playbook's current content: the version row whose number is current.
macro_rules! with_current {
    () => {
        playbooks::table.inner_join(
            playbook_versions::table.on(playbook_versions::playbook_id
                .eq(playbooks::id)
                .and(playbook_versions::version.eq(playbooks::current_version))),
        )
    };
}

fn current(rows: Vec<(Playbook, PlaybookVersion)>) -> Vec<CurrentPlaybook> {
    rows.into_iter()
        .map(|(playbook, current)| CurrentPlaybook { playbook, current })
        .collect()
}

pub async fn find_many(conn: &mut DbConn, ids: &[PlaybookId]) -> AppResult<Vec<CurrentPlaybook>> {
    let rows = dispatch!(conn, |c| {
        with_current!()
            .filter(playbooks::id.eq_any(ids))
            .select((Playbook::as_select(), PlaybookVersion::as_select()))
            .load(c)
            .await
    })?;
    Ok(current(rows))
}

pub async fn get(conn: &mut DbConn, id: PlaybookId) -> AppResult<CurrentPlaybook> {
    find_many(conn, &[id])
        .await?
        .pop()
        .ok_or_else(|| AppError::not_found("Playbook"))
}

/// A company's playbooks, by title.
pub async fn of_company(
    conn: &mut DbConn,
    company_id: CompanyId,
) -> AppResult<Vec<CurrentPlaybook>> {
    let rows = dispatch!(conn, |c| {
        with_current!()
            .filter(playbooks::company_id.eq(company_id))
            .order((playbook_versions::title.asc(), playbooks::id.asc()))
            .select((Playbook::as_select(), PlaybookVersion::as_select()))
            .load(c)
            .await
    })?;
    Ok(current(rows))
}

/// Every version of a playbook, newest first.
pub async fn versions(
    conn: &mut DbConn,
    playbook_id: PlaybookId,
) -> AppResult<Vec<PlaybookVersion>> {
    let rows = dispatch!(conn, |c| {
        playbook_versions::table
            .filter(playbook_versions::playbook_id.eq(playbook_id))
            .order(playbook_versions::version.desc())
            .select(PlaybookVersion::as_select())
            .load(c)
            .await
    })?;
    Ok(rows)
}

pub async fn version(
    conn: &mut DbConn,
    playbook_id: PlaybookId,
    number: i32,
) -> AppResult<Option<PlaybookVersion>> {
    let row = dispatch!(conn, |c| {
        playbook_versions::table
            .filter(playbook_versions::playbook_id.eq(playbook_id))
            .filter(playbook_versions::version.eq(number))
            .select(PlaybookVersion::as_select())
            .first(c)
            .await
            .optional()
    })?;
    Ok(row)
}

/// Reads a playbook and holds it against concurrent saves until the transaction ends (SQLite
/// write transactions hold the whole database).
pub async fn lock(tx: &mut WriteTx, id: PlaybookId) -> AppResult<Playbook> {
    let row = match tx.conn()? {
        DbConn::Postgres(c) => {
            playbooks::table
                .find(id)
                .select(Playbook::as_select())
                .for_update()
                .first(&mut **c)
                .await
        }
        DbConn::Sqlite(c) => {
            playbooks::table
                .find(id)
                .select(Playbook::as_select())
                .first(&mut **c)
                .await
        }
    }
    .optional()?;
    row.ok_or_else(|| AppError::not_found("Playbook"))
}

async fn insert_version(
    tx: &mut WriteTx,
    playbook_id: PlaybookId,
    version: i32,
    title: &str,
    body: &str,
    restored_from_version: Option<i32>,
) -> AppResult<PlaybookVersion> {
    let row = NewPlaybookVersion {
        playbook_id,
        version,
        title,
        body,
        author_id: tx.actor().actor_id,
        impersonator_id: tx.actor().impersonator_id,
        restored_from_version,
        created_at: tx.now(),
    };
    let inserted = dispatch!(tx.conn()?, |c| {
        diesel::insert_into(playbook_versions::table)
            .values(&row)
            .returning(PlaybookVersion::as_returning())
            .get_result(c)
            .await
    })?;
    Ok(inserted)
}

/// Creates a playbook with its version 1 (author from the transaction's actor) and a CREATE
/// event.
pub async fn create(
    tx: &mut WriteTx,
    company_id: CompanyId,
    title: &str,
    body: &str,
) -> AppResult<CurrentPlaybook> {
    let now = tx.now();
    let new_row = NewPlaybook {
        company_id,
        current_version: 1,
        created_at: now,
        updated_at: now,
    };
    let playbook = dispatch!(tx.conn()?, |c| {
        diesel::insert_into(playbooks::table)
            .values(&new_row)
            .returning(Playbook::as_returning())
            .get_result(c)
            .await
    })?;
    let current = insert_version(tx, playbook.id, 1, title, body, None).await?;
    tx.audit(audit::create_entry(&playbook)).await?;
    Ok(CurrentPlaybook { playbook, current })
}

/// Saves the next version of the locked playbook `before`: `title` and `body` where given,
/// the current version's otherwise (a restore names the version it copies in
/// `restored_from_version`), with one UPDATE event. Identical content is a no-op: no version,
/// no event. With `expected_version`, CONFLICT unless it is still the current version.
pub async fn save(
    tx: &mut WriteTx,
    before: &Playbook,
    title: Option<&str>,
    body: Option<&str>,
    restored_from_version: Option<i32>,
    expected_version: Option<i32>,
) -> AppResult<CurrentPlaybook> {
    if let Some(expected) = expected_version
        && expected != before.current_version
    {
        return Err(AppError::conflict(
            "This playbook was saved by someone else since you opened it. Reload and try again.",
        ));
    }
    let current = version(tx.conn()?, before.id, before.current_version)
        .await?
        .ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("playbook without its current version"))
        })?;
    let title = title.unwrap_or(&current.title);
    let body = body.unwrap_or(&current.body);
    if current.title == title && current.body == body {
        return Ok(CurrentPlaybook {
            playbook: before.clone(),
            current,
        });
    }
    let next = before.current_version + 1;
    let current = insert_version(tx, before.id, next, title, body, restored_from_version).await?;
    let now = tx.now();
    let id = before.id;
    let after = dispatch!(tx.conn()?, |c| {
        diesel::update(playbooks::table.find(id))
            .set((
                playbooks::current_version.eq(next),
                playbooks::updated_at.eq(now),
            ))
            .returning(Playbook::as_returning())
            .get_result(c)
            .await
    })?;
    if let Some(entry) = audit::update_entry(before, &after) {
        tx.audit(entry).await?;
    }
    Ok(CurrentPlaybook {
        playbook: after,
        current,
    })
}
