//! Call recordings: ingested by admins (or the ingestion job acting as one), annotated after
//! the fact (notes, disposition, flag) by admins and the company's supervisors.

use chrono::{DateTime, SubsecRound, Utc};
use scoped_futures::ScopedFutureExt;

use super::access;
use crate::app::AppState;
use crate::db::models::call_recordings::{self, CallRecording, CallRecordingChanges};
use crate::db::models::{NewCallRecording, companies, inbound_numbers};
use crate::domain::records::{
    LABEL_MAX, NOTES_MAX, STORAGE_KEY_MAX, blank_as_none, capped_text, required_text,
};
use crate::domain::viewer::{Authentication, Viewer};
use crate::domain::{CallRecordingId, CompanyId, InboundNumberId};
use crate::error::{AppError, AppResult};

pub struct CreateCallRecording {
    pub company_id: CompanyId,
    pub inbound_number_id: Option<InboundNumberId>,
    pub caller_number: String,
    pub started_at: DateTime<Utc>,
    pub duration_seconds: i32,
    pub storage_key: String,
    pub notes: Option<String>,
    pub disposition: Option<String>,
}

pub struct UpdateCallRecording {
    pub id: CallRecordingId,
    pub notes: Option<String>,
    /// `Some(None)` (or blank) clears it.
    pub disposition: Option<Option<String>>,
    pub flagged: Option<bool>,
    pub expected_version: Option<i32>,
}

/// Caller ids arrive as the carrier sends them ("anonymous" included), so they are kept as
/// given, only bounded.
const CALLER_NUMBER_MAX: usize = 64;

fn disposition(value: Option<&str>) -> AppResult<Option<String>> {
    blank_as_none(value)
        .map(|d| capped_text("disposition", d, LABEL_MAX))
        .transpose()
}

pub async fn create(
    app: &AppState,
    auth: &Authentication,
    input: CreateCallRecording,
) -> AppResult<CallRecording> {
    let viewer = &auth.viewer;
    access::require_admin_for_company(viewer, input.company_id, "Company")?;
    if input.duration_seconds < 0 {
        return Err(AppError::bad_input(
            "durationSeconds",
            "The duration cannot be negative.",
        ));
    }
    let now = app.clock.now();
    let new_row = NewCallRecording {
        company_id: input.company_id,
        inbound_number_id: input.inbound_number_id,
        caller_number: required_text("callerNumber", &input.caller_number, CALLER_NUMBER_MAX)?,
        // Microseconds: what both databases store, so a cursor round-trips exactly.
        started_at: input.started_at.trunc_subsecs(6).naive_utc(),
        duration_seconds: input.duration_seconds,
        storage_key: required_text("storageKey", &input.storage_key, STORAGE_KEY_MAX)?,
        notes: capped_text(
            "notes",
            input.notes.as_deref().unwrap_or_default(),
            NOTES_MAX,
        )?,
        disposition: disposition(input.disposition.as_deref())?,
        created_at: now,
        updated_at: now,
    };
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                companies::get(tx.conn()?, new_row.company_id).await?;
                if let Some(number_id) = new_row.inbound_number_id {
                    let number = inbound_numbers::find(tx.conn()?, number_id).await?;
                    if number.is_none_or(|n| n.company_id != new_row.company_id) {
                        return Err(AppError::bad_input(
                            "inboundNumberId",
                            "The inbound number must belong to the same company.",
                        ));
                    }
                }
                call_recordings::create(tx, new_row).await
            }
            .scope_boxed()
        })
        .await
}

pub async fn update(
    app: &AppState,
    auth: &Authentication,
    input: UpdateCallRecording,
) -> AppResult<CallRecording> {
    let viewer = &auth.viewer;
    let existing = get(app, viewer, input.id).await?;
    access::require_company_manager(viewer, existing.company_id, "Call recording")?;
    let changes = CallRecordingChanges {
        notes: input
            .notes
            .map(|notes| capped_text("notes", &notes, NOTES_MAX))
            .transpose()?,
        disposition: input
            .disposition
            .map(|d| disposition(d.as_deref()))
            .transpose()?,
        flagged: input.flagged,
    };
    app.db
        .write(auth.audit_actor(), |tx| {
            async move {
                call_recordings::update(tx, input.id, &changes, input.expected_version).await
            }
            .scope_boxed()
        })
        .await
}

/// A recording the viewer may see, else NOT_FOUND.
pub async fn get(app: &AppState, viewer: &Viewer, id: CallRecordingId) -> AppResult<CallRecording> {
    let mut conn = app.db.conn().await?;
    access::visible(
        viewer,
        call_recordings::get(&mut conn, id).await?,
        "Call recording",
    )
}

/// A company's recordings, newest first: one page after the keyset cursor, and how many.
pub async fn company_page(
    app: &AppState,
    viewer: &Viewer,
    company_id: CompanyId,
    after: Option<(chrono::NaiveDateTime, CallRecordingId)>,
    limit: i64,
    with_total: bool,
) -> AppResult<(Vec<CallRecording>, i64)> {
    access::require_company_visible(viewer, company_id, "Company")?;
    let mut conn = app.db.conn().await?;
    let rows = call_recordings::company_page(&mut conn, company_id, after, limit).await?;
    let total = if with_total {
        call_recordings::company_count(&mut conn, company_id).await?
    } else {
        0
    };
    Ok((rows, total))
}
