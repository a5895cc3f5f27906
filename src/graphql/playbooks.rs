//! Playbooks: queries, mutations, and the `Playbook` and `PlaybookVersion` types.

use super::audit::AuditEvent;
use super::connection::Page;
use crate::domain::AuditRecordType;
use crate::domain::audit::RecordRef;
use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};

use super::companies::Company;
use super::context::ContextExt;
use super::loaders::{load, load_required};
use super::types::{User, parse_id, to_id, utc};
use crate::db::models;
use crate::services::playbooks;

/// A playbook with the content of its current version.
pub struct Playbook(pub models::CurrentPlaybook);

#[Object]
impl Playbook {
    async fn id(&self) -> ID {
        to_id(self.0.playbook.id)
    }

    async fn company(&self, ctx: &Context<'_>) -> Result<Company> {
        Ok(Company(
            load_required(ctx, self.0.playbook.company_id, "Company").await?,
        ))
    }

    async fn title(&self) -> &str {
        &self.0.current.title
    }

    async fn body(&self) -> &str {
        &self.0.current.body
    }

    /// Send it back as `expectedVersion` when saving.
    async fn current_version(&self) -> i32 {
        self.0.playbook.current_version
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        utc(self.0.playbook.updated_at)
    }

    /// Every saved version, newest first.
    async fn versions(&self, ctx: &Context<'_>) -> Result<Vec<PlaybookVersion>> {
        let viewer = ctx.request().viewer().await?;
        let rows = playbooks::versions(ctx.app(), viewer, &self.0).await?;
        Ok(rows.into_iter().map(PlaybookVersion).collect())
    }

    async fn version(&self, ctx: &Context<'_>, number: i32) -> Result<Option<PlaybookVersion>> {
        let viewer = ctx.request().viewer().await?;
        let row = playbooks::version(ctx.app(), viewer, &self.0, number).await?;
        Ok(row.map(PlaybookVersion))
    }

    /// Changes to this playbook (its current version number; the content lives in `versions`), newest first.
    #[graphql(complexity = "super::connection::page_cost(first, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<AuditEvent>> {
        let record = RecordRef::new(AuditRecordType::Playbook, self.0.playbook.id);
        super::audit::history(ctx, record, first, after).await
    }
}

/// One immutable save of a playbook.
pub struct PlaybookVersion(pub models::PlaybookVersion);

#[Object]
impl PlaybookVersion {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn version(&self) -> i32 {
        self.0.version
    }

    async fn title(&self) -> &str {
        &self.0.title
    }

    async fn body(&self) -> &str {
        &self.0.body
    }

    /// Who saved it (null when the viewer may not see that user).
    async fn author(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.author_id else {
            return Ok(None);
        };
        Ok(load(ctx, id).await?.map(User))
    }

    /// The admin behind the save when it was made while impersonating.
    async fn impersonator(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.impersonator_id else {
            return Ok(None);
        };
        Ok(load(ctx, id).await?.map(User))
    }

    /// The version this one restored, when it was a restore.
    async fn restored_from_version(&self) -> Option<i32> {
        self.0.restored_from_version
    }

    async fn created_at(&self) -> DateTime<Utc> {
        utc(self.0.created_at)
    }
}

#[derive(InputObject)]
pub struct CreatePlaybookInput {
    pub company_id: ID,
    pub title: String,
    pub body: String,
}

#[derive(InputObject)]
pub struct UpdatePlaybookInput {
    pub id: ID,
    pub title: Option<String>,
    pub body: Option<String>,
    /// The `currentVersion` you edited; CONFLICT when someone saved since.
    pub expected_version: Option<i32>,
}

#[derive(InputObject)]
pub struct RestorePlaybookVersionInput {
    pub playbook_id: ID,
    pub version: i32,
}

#[derive(Default)]
pub struct PlaybookQuery;

#[Object]
impl PlaybookQuery {
    /// NOT_FOUND when the viewer may not see it.
    async fn playbook(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Playbook>> {
        let viewer = ctx.request().viewer().await?;
        let id = parse_id("id", &id)?;
        Ok(Some(Playbook(playbooks::get(ctx.app(), viewer, id).await?)))
    }
}

#[derive(Default)]
pub struct PlaybookMutation;

#[Object]
impl PlaybookMutation {
    /// Admins and the company's supervisors.
    async fn create_playbook(
        &self,
        ctx: &Context<'_>,
        input: CreatePlaybookInput,
    ) -> Result<Playbook> {
        let auth = ctx.request().auth().await?;
        let company_id = parse_id("companyId", &input.company_id)?;
        let created =
            playbooks::create(ctx.app(), auth, company_id, &input.title, &input.body).await?;
        Ok(Playbook(created))
    }

    /// Saves a new version; identical content saves nothing.
    async fn update_playbook(
        &self,
        ctx: &Context<'_>,
        input: UpdatePlaybookInput,
    ) -> Result<Playbook> {
        let auth = ctx.request().auth().await?;
        let input = playbooks::UpdatePlaybook {
            id: parse_id("id", &input.id)?,
            title: input.title,
            body: input.body,
            expected_version: input.expected_version,
        };
        Ok(Playbook(playbooks::update(ctx.app(), auth, input).await?))
    }

    /// Copies an old version into a new current one.
    async fn restore_playbook_version(
        &self,
        ctx: &Context<'_>,
        input: RestorePlaybookVersionInput,
    ) -> Result<Playbook> {
        let auth = ctx.request().auth().await?;
        let id = parse_id("playbookId", &input.playbook_id)?;
        Ok(Playbook(
            playbooks::restore(ctx.app(), auth, id, input.version).await?,
        ))
    }
}
