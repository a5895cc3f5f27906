//! Call recordings: queries, mutations, the `CallRecording` type and its newest-first pages.

use super::audit::AuditEvent;
use crate::domain::AuditRecordType;
use crate::domain::audit::RecordRef;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result};
use chrono::{DateTime, NaiveDateTime, Utc};

use super::companies::Company;
use super::connection::{Page, PageRequest, page};
use super::context::ContextExt;
use super::inbound_numbers::InboundNumber;
use super::loaders::{load, load_required};
use super::types::{parse_id, to_id, utc};
use crate::db::models;
use crate::domain::{CallRecordingId, CompanyId};
use crate::error::{AppError, AppResult};
use crate::services::call_recordings;

pub struct CallRecording(pub models::CallRecording);

#[Object]
impl CallRecording {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn company(&self, ctx: &Context<'_>) -> Result<Company> {
        Ok(Company(
            load_required(ctx, self.0.company_id, "Company").await?,
        ))
    }

    async fn inbound_number(&self, ctx: &Context<'_>) -> Result<Option<InboundNumber>> {
        let Some(id) = self.0.inbound_number_id else {
            return Ok(None);
        };
        Ok(load(ctx, id).await?.map(InboundNumber))
    }

    async fn caller_number(&self) -> &str {
        &self.0.caller_number
    }

    async fn started_at(&self) -> DateTime<Utc> {
        utc(self.0.started_at)
    }

    async fn duration_seconds(&self) -> i32 {
        self.0.duration_seconds
    }

    async fn storage_key(&self) -> &str {
        &self.0.storage_key
    }

    async fn notes(&self) -> &str {
        &self.0.notes
    }

    async fn disposition(&self) -> Option<&str> {
        self.0.disposition.as_deref()
    }

    async fn flagged(&self) -> bool {
        self.0.flagged
    }

    /// Increases with every audited change; send it back as `expectedVersion`.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// Changes to this recording, newest first.
    #[graphql(complexity = "super::connection::page_cost(first, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<AuditEvent>> {
        let record = RecordRef::new(AuditRecordType::CallRecording, self.0.id);
        super::audit::history(ctx, record, first, after).await
    }
}

/// The keyset of the newest-first order: start time (microseconds) and id.
fn cursor_key(recording: &models::CallRecording) -> String {
    format!(
        "{}|{}",
        recording.started_at.and_utc().timestamp_micros(),
        recording.id
    )
}

fn parse_cursor_key(key: &str) -> AppResult<(NaiveDateTime, CallRecordingId)> {
    let invalid = || AppError::bad_input("after", "The cursor is not valid.");
    let (micros, id) = key.split_once('|').ok_or_else(invalid)?;
    let micros = micros.parse::<i64>().map_err(|_| invalid())?;
    let started_at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
    let id = id.parse::<CallRecordingId>().map_err(|_| invalid())?;
    Ok((started_at.naive_utc(), id))
}

/// `Company.callRecordings`.
pub async fn recordings_page(
    ctx: &Context<'_>,
    company_id: CompanyId,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Page<CallRecording>> {
    let viewer = ctx.request().viewer().await?;
    let request = PageRequest::new(ctx, first, after)?;
    let after = request.after.as_deref().map(parse_cursor_key).transpose()?;
    let (rows, total) = call_recordings::company_page(
        ctx.app(),
        viewer,
        company_id,
        after,
        request.fetch_limit(),
        request.with_total,
    )
    .await?;
    Ok(page(&request, rows, total, cursor_key, CallRecording))
}

#[derive(InputObject)]
pub struct CreateCallRecordingInput {
    pub company_id: ID,
    /// Must belong to the same company.
    pub inbound_number_id: Option<ID>,
    pub caller_number: String,
    pub started_at: DateTime<Utc>,
    pub duration_seconds: i32,
    pub storage_key: String,
    pub notes: Option<String>,
    pub disposition: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateCallRecordingInput {
    pub id: ID,
    pub notes: Option<String>,
    /// null (or blank) clears it.
    pub disposition: MaybeUndefined<String>,
    pub flagged: Option<bool>,
    pub expected_version: Option<i32>,
}

#[derive(Default)]
pub struct CallRecordingQuery;

#[Object]
impl CallRecordingQuery {
    /// NOT_FOUND when the viewer may not see it.
    async fn call_recording(&self, ctx: &Context<'_>, id: ID) -> Result<Option<CallRecording>> {
        let viewer = ctx.request().viewer().await?;
        let id = parse_id("id", &id)?;
        Ok(Some(CallRecording(
            call_recordings::get(ctx.app(), viewer, id).await?,
        )))
    }
}

#[derive(Default)]
pub struct CallRecordingMutation;

#[Object]
impl CallRecordingMutation {
    /// Ingestion: admins only.
    async fn create_call_recording(
        &self,
        ctx: &Context<'_>,
        input: CreateCallRecordingInput,
    ) -> Result<CallRecording> {
        let auth = ctx.request().auth().await?;
        let input = call_recordings::CreateCallRecording {
            company_id: parse_id("companyId", &input.company_id)?,
            inbound_number_id: input
                .inbound_number_id
                .map(|id| parse_id("inboundNumberId", &id))
                .transpose()?,
            caller_number: input.caller_number,
            started_at: input.started_at,
            duration_seconds: input.duration_seconds,
            storage_key: input.storage_key,
            notes: input.notes,
            disposition: input.disposition,
        };
        Ok(CallRecording(
            call_recordings::create(ctx.app(), auth, input).await?,
        ))
    }

    /// Notes, disposition, flag: admins and the company's supervisors. CONFLICT when
    /// `expectedVersion` is stale.
    async fn update_call_recording(
        &self,
        ctx: &Context<'_>,
        input: UpdateCallRecordingInput,
    ) -> Result<CallRecording> {
        let auth = ctx.request().auth().await?;
        let input = call_recordings::UpdateCallRecording {
            id: parse_id("id", &input.id)?,
            notes: input.notes,
            disposition: input.disposition.into(),
            flagged: input.flagged,
            expected_version: input.expected_version,
        };
        Ok(CallRecording(
            call_recordings::update(ctx.app(), auth, input).await?,
        ))
    }
}
