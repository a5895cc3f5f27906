//! Inbound numbers: the E.164 numbers that route calls to a company. Admins manage them;
//! company members see them. A number is active on one record at a time.

use scoped_futures::ScopedFutureExt;

use super::access;
use crate::app::AppState;
use crate::db::models::{
    InboundNumber, InboundNumberChanges, NewInboundNumber, companies, inbound_numbers,
};
use crate::domain::records::{LABEL_MAX, capped_text, e164};
use crate::domain::viewer::{Authentication, Viewer};
use crate::domain::{CompanyId, InboundNumberId};
use crate::error::AppResult;

pub struct UpdateInboundNumber {
    pub id: InboundNumberId,
    pub number: Option<String>,
    pub label: Option<String>,
    pub expected_version: Option<i32>,
}

pub async fn create(
    app: &AppState,
    auth: &Authentication,
    company_id: CompanyId,
    number: &str,
    label: Option<&str>,
) -> AppResult<InboundNumber> {
    let viewer = &auth.viewer;
    access::require_admin_for_company(viewer, company_id, "Company")?;
    let now = app.clock.now();
    let new_row = NewInboundNumber {
        company_id,
        number: e164("number", number)?,
        label: capped_text("label", label.unwrap_or_default(), LABEL_MAX)?,
        created_at: now,
        updated_at: now,
    };
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                companies::get(tx.conn()?, company_id).await?;
                inbound_numbers::create(tx, new_row).await
            }
            .scope_boxed()
        })
        .await
}

pub async fn update(
    app: &AppState,
    auth: &Authentication,
    input: UpdateInboundNumber,
) -> AppResult<InboundNumber> {
    let viewer = &auth.viewer;
    let existing = get(app, viewer, input.id).await?;
    access::require_admin_for_company(viewer, existing.company_id, "Inbound number")?;
    let changes = InboundNumberChanges {
        number: input.number.map(|n| e164("number", &n)).transpose()?,
        label: input
            .label
            .map(|l| capped_text("label", &l, LABEL_MAX))
            .transpose()?,
        ..Default::default()
    };
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                inbound_numbers::update(tx, input.id, &changes, input.expected_version).await
            }
            .scope_boxed()
        })
        .await
}

/// Takes the number out of service (it may then be added again, here or elsewhere).
/// Deactivating an inactive number changes nothing.
pub async fn deactivate(
    app: &AppState,
    auth: &Authentication,
    id: InboundNumberId,
) -> AppResult<InboundNumber> {
    let viewer = &auth.viewer;
    let existing = get(app, viewer, id).await?;
    access::require_admin_for_company(viewer, existing.company_id, "Inbound number")?;
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                let before = inbound_numbers::lock(tx, id).await?;
                if !before.active {
                    return Ok(before);
                }
                let changes = InboundNumberChanges {
                    active: Some(false),
                    deactivated_at: Some(Some(tx.now())),
                    ..Default::default()
                };
                inbound_numbers::apply(tx, &before, &changes, None).await
            }
            .scope_boxed()
        })
        .await
}

/// An inbound number the viewer may see, else NOT_FOUND.
pub async fn get(app: &AppState, viewer: &Viewer, id: InboundNumberId) -> AppResult<InboundNumber> {
    let mut conn = app.db.conn().await?;
    access::visible(
        viewer,
        inbound_numbers::get(&mut conn, id).await?,
        "Inbound number",
    )
}

/// Of `ids`, the numbers the viewer may see.
pub async fn visible_by_ids(
    app: &AppState,
    viewer: &Viewer,
    ids: &[InboundNumberId],
) -> AppResult<Vec<InboundNumber>> {
    let mut conn = app.db.conn().await?;
    Ok(access::only_visible(
        viewer,
        inbound_numbers::find_many(&mut conn, ids).await?,
    ))
}

pub async fn of_company(
    app: &AppState,
    viewer: &Viewer,
    company_id: CompanyId,
    include_inactive: bool,
) -> AppResult<Vec<InboundNumber>> {
    access::require_company_visible(viewer, company_id, "Company")?;
    let mut conn = app.db.conn().await?;
    inbound_numbers::of_company(&mut conn, company_id, include_inactive).await
}
