//! The audit trail in the API: `AuditEvent`, `history(first, after)` on every audited record,
//! the admins' `auditEvents(filter, first, after)` and `auditChainHead`. Rules in
//! `services::audit`.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::connection::{Page, PageRequest, page};
use super::context::ContextExt;
use super::types::{parse_id, to_id, utc};
use crate::db::audit::{AuditChange, EventKey};
use crate::domain::audit::RecordRef;
use crate::domain::{AuditAction, AuditEventId, AuditRecordType};
use crate::error::AppError;
use crate::services::audit::{self as service, AuditEventQuery, EventView, Person};

pub struct AuditEvent(pub EventView);

#[Object]
impl AuditEvent {
    async fn id(&self) -> ID {
        to_id(self.0.event.id)
    }

    async fn occurred_at(&self) -> DateTime<Utc> {
        utc(self.0.event.occurred_at)
    }

    async fn action(&self) -> AuditAction {
        self.0.event.action
    }

    async fn record_type(&self) -> AuditRecordType {
        self.0.event.record_type
    }

    async fn record_id(&self) -> ID {
        to_id(self.0.event.record_id)
    }

    /// The record's name (user, organization, company, team) when the viewer may see it; null
    /// otherwise and for other record types. Batched per page (DataLoader).
    async fn record_label(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        label_of(ctx, self.0.event.record_type, self.0.event.record_id).await
    }

    /// The user whose action it was (the impersonated user when via impersonation); null for
    /// the system and for anonymous requests.
    async fn actor(&self) -> Option<AuditUser> {
        self.0.actor.clone().map(AuditUser)
    }

    /// The admin behind it when `viaImpersonation`.
    async fn impersonator(&self) -> Option<AuditUser> {
        self.0.impersonator.clone().map(AuditUser)
    }

    async fn via_impersonation(&self) -> bool {
        self.0.event.impersonator_id.is_some()
    }

    async fn reason(&self) -> Option<&str> {
        self.0.event.reason.as_deref()
    }

    /// The `x-request-id` of the request that wrote it.
    async fn request_id(&self) -> Option<&str> {
        self.0.event.request_id.as_deref()
    }

    /// Each changed field, in the order written.
    async fn changes(&self) -> Vec<AuditFieldChange<'_>> {
        self.0.changes.iter().map(AuditFieldChange).collect()
    }
}

/// A person named in an event: id and name, whoever reads the trail.
pub struct AuditUser(Person);

#[Object]
impl AuditUser {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }
}

pub struct AuditFieldChange<'a>(&'a AuditChange);

#[Object(name = "AuditChange")]
impl AuditFieldChange<'_> {
    /// The GraphQL field name (`billingRateCents`); secrets by their input name (`password`).
    async fn field(&self) -> &str {
        &self.0.field
    }

    /// Null when the field was unset, or `redacted`.
    async fn before(&self) -> Option<&str> {
        self.0.before_value.as_deref()
    }

    async fn after(&self) -> Option<&str> {
        self.0.after_value.as_deref()
    }

    /// For an id-valued field (`user`, `company`, `companyId`, `teamId`, `userId`, `organizationId`): the name of
    /// the record `before` names, when the viewer may see it; null otherwise.
    async fn before_label(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        change_label(ctx, &self.0.field, self.0.before_value.as_deref()).await
    }

    /// Like `beforeLabel`, for `after`.
    async fn after_label(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        change_label(ctx, &self.0.field, self.0.after_value.as_deref()).await
    }

    /// A secret (password hash, TOTP secret, token): it changed, its values are never kept.
    async fn redacted(&self) -> bool {
        self.0.redacted
    }
}

#[derive(InputObject, Default)]
pub struct AuditEventFilter {
    pub record_type: Option<AuditRecordType>,
    /// With `recordType`: events about that record (its History also shows related events).
    pub record_id: Option<ID>,
    pub actor_id: Option<ID>,
    pub impersonator_id: Option<ID>,
    pub via_impersonation: Option<bool>,
    /// A field name (`billingRateCents`), or a prefix ending in `*` (`billing*`).
    pub field: Option<String>,
    pub action: Option<AuditAction>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
}

/// The chain head: record `hash` with `lastEventId` elsewhere; `portal-admin audit verify`
/// proves later that nothing up to that event was changed.
#[derive(SimpleObject)]
pub struct AuditChainHead {
    pub last_event_id: ID,
    /// SHA-256, hex.
    pub hash: String,
    pub sealed_at: DateTime<Utc>,
}

/// `history(first, after)` of a record the viewer has been given (so may see).
pub async fn history(
    ctx: &Context<'_>,
    record: RecordRef,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Page<AuditEvent>> {
    let viewer = ctx.request().viewer().await?;
    let request = PageRequest::new(ctx, first, after)?;
    let before = request.after_id()?.map(AuditEventId);
    let (rows, total) = service::history(
        ctx.app(),
        viewer,
        record,
        before,
        request.fetch_limit(),
        request.with_total,
    )
    .await?;
    Ok(page(
        &request,
        rows,
        total,
        |e| e.event.id.to_string(),
        AuditEvent,
    ))
}

fn optional_id<T: std::str::FromStr>(
    field: &'static str,
    id: Option<ID>,
) -> Result<Option<T>, AppError> {
    id.map(|id| parse_id(field, &id)).transpose()
}

/// `auditEvents` cursors: `<occurredAt in µs>|<id>`.
fn event_cursor(key: EventKey) -> String {
    format!(
        "{}|{}",
        key.occurred_at.and_utc().timestamp_micros(),
        key.id
    )
}

fn parse_event_cursor(raw: &str) -> Result<EventKey, AppError> {
    let invalid = || AppError::bad_input("after", "The cursor is not valid.");
    let (micros, id) = raw.split_once('|').ok_or_else(invalid)?;
    let micros: i64 = micros.parse().map_err(|_| invalid())?;
    let id: i64 = id.parse().map_err(|_| invalid())?;
    let occurred_at = DateTime::from_timestamp_micros(micros)
        .ok_or_else(invalid)?
        .naive_utc();
    Ok(EventKey {
        occurred_at,
        id: AuditEventId(id),
    })
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit log, newest first. Admins only (FORBIDDEN; FORBIDDEN_WHILE_IMPERSONATING while
    /// impersonating). Every filter is optional; they combine with AND.
    #[graphql(complexity = "super::connection::page_cost(first, child_complexity)")]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditEventFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<AuditEvent>> {
        let viewer = ctx.request().viewer().await?;
        // Before the input is read, so non-admins learn nothing from its validation; the
        // service checks again, as every service does.
        viewer.require_admin()?;
        let request = PageRequest::new(ctx, first, after)?;
        let after = request
            .after
            .as_deref()
            .map(parse_event_cursor)
            .transpose()?;
        let filter = filter.unwrap_or_default();
        let query = AuditEventQuery {
            record_type: filter.record_type,
            record_id: optional_id("recordId", filter.record_id)?,
            actor_id: optional_id("actorId", filter.actor_id)?,
            impersonator_id: optional_id("impersonatorId", filter.impersonator_id)?,
            via_impersonation: filter.via_impersonation,
            field: filter.field,
            action: filter.action,
            from: filter.from.map(|t| t.naive_utc()),
            to: filter.to.map(|t| t.naive_utc()),
        };
        let filter = service::event_filter(query)?;
        let (rows, total) = service::events(
            ctx.app(),
            viewer,
            &filter,
            after,
            request.fetch_limit(),
            request.with_total,
        )
        .await?;
        Ok(page(
            &request,
            rows,
            total,
            |e| event_cursor(e.event.key()),
            AuditEvent,
        ))
    }

    /// The newest seal of the audit chain; null before the first. Admins only.
    async fn audit_chain_head(&self, ctx: &Context<'_>) -> Result<Option<AuditChainHead>> {
        let viewer = ctx.request().viewer().await?;
        let head = service::chain_head(ctx.app(), viewer).await?;
        Ok(head.map(|seal| AuditChainHead {
            last_event_id: to_id(seal.last_event_id),
            hash: seal.hash,
            sealed_at: utc(seal.sealed_at),
        }))
    }
}

/// The name of record `id` of `record_type`, through the viewer's loaders (hidden: null).
async fn label_of(
    ctx: &Context<'_>,
    record_type: AuditRecordType,
    id: i64,
) -> Result<Option<String>> {
    use super::loaders::load;
    use crate::domain::{CompanyId, OrganizationId, TeamId, UserId};
    Ok(match record_type {
        AuditRecordType::User => load(ctx, UserId(id)).await?.map(|r| r.name),
        AuditRecordType::Organization => load(ctx, OrganizationId(id)).await?.map(|r| r.name),
        AuditRecordType::Company => load(ctx, CompanyId(id)).await?.map(|r| r.name),
        AuditRecordType::Team => load(ctx, TeamId(id)).await?.map(|r| r.name),
        _ => None,
    })
}

/// The record type an id-valued audited field names.
fn id_field_type(field: &str) -> Option<AuditRecordType> {
    match field {
        "user" | "userId" | "actorId" => Some(AuditRecordType::User),
        "organization" | "organizationId" => Some(AuditRecordType::Organization),
        "company" | "companyId" => Some(AuditRecordType::Company),
        "team" | "teamId" => Some(AuditRecordType::Team),
        _ => None,
    }
}

async fn change_label(
    ctx: &Context<'_>,
    field: &str,
    value: Option<&str>,
) -> Result<Option<String>> {
    let (Some(record_type), Some(id)) = (
        id_field_type(field),
        value.and_then(|v| v.parse::<i64>().ok()),
    ) else {
        return Ok(None);
    };
    label_of(ctx, record_type, id).await
}
