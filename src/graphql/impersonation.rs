//! Becoming a user for support, and stopping (rules in `services::impersonation`).

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::ContextExt;
use super::session::Viewer;
use super::types::{parse_id, utc};
use crate::services::impersonation::{self as service, Switched};

#[derive(InputObject)]
pub struct BecomeUserInput {
    pub user_id: ID,
    /// Why: a support ticket or a sentence (required, at most 500 characters). Shown in the
    /// banner and kept in the audit trail.
    pub reason: String,
}

/// A new session: send `token` as `Authorization: Bearer <token>` from now on; `viewer` is the
/// view it opens (draw the impersonation banner from it).
#[derive(SimpleObject)]
pub struct ImpersonationPayload {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub viewer: Viewer,
}

impl From<Switched> for ImpersonationPayload {
    fn from(switched: Switched) -> Self {
        ImpersonationPayload {
            token: switched.issued.token.into_inner(),
            expires_at: utc(switched.issued.expires_at),
            viewer: Viewer(switched.viewer),
        }
    }
}

#[derive(Default)]
pub struct ImpersonationMutation;

#[Object]
impl ImpersonationMutation {
    /// Admins: act as another user (not an admin) to see exactly what they see. Every change
    /// is recorded as the user's, marked with you; account security and admin-only operations
    /// answer FORBIDDEN_WHILE_IMPERSONATING. Ends at `expiresAt` at the latest.
    async fn become_user(
        &self,
        ctx: &Context<'_>,
        input: BecomeUserInput,
    ) -> Result<ImpersonationPayload> {
        let auth = ctx.request().auth().await?;
        let id = parse_id("userId", &input.user_id)?;
        Ok(service::become_user(ctx.app(), auth, id, &input.reason)
            .await?
            .into())
    }

    /// Ends the impersonation (its token stops working at once) and returns a fresh session of
    /// the admin, which replaces the admin session the impersonation started from.
    async fn stop_impersonating(&self, ctx: &Context<'_>) -> Result<ImpersonationPayload> {
        let auth = ctx.request().auth().await?;
        Ok(service::stop(ctx.app(), auth).await?.into())
    }
}
