//! The signed-in user's own account: two-factor authentication and password.

use async_graphql::{Context, Object, Result, SimpleObject};

use super::context::ContextExt;
use crate::services::two_factor;

#[derive(SimpleObject)]
pub struct TwoFactorEnrollment {
    /// Base32, for typing into an authenticator app.
    pub secret: String,
    pub otpauth_uri: String,
}

/// Shown once; store them somewhere safe. Each works once in place of a code.
#[derive(SimpleObject)]
pub struct RecoveryCodes {
    pub codes: Vec<String>,
}

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Begins 2FA enrolment for the signed-in user.
    async fn start_two_factor_enrollment(&self, ctx: &Context<'_>) -> Result<TwoFactorEnrollment> {
        let viewer = ctx.request().viewer().await?;
        let enrollment = two_factor::start_enrollment(ctx.app(), ctx.meta(), viewer).await?;
        Ok(TwoFactorEnrollment {
            secret: enrollment.secret.into_inner(),
            otpauth_uri: enrollment.otpauth_uri.into_inner(),
        })
    }

    /// Turns 2FA on with a code from the authenticator app; returns the recovery codes once.
    async fn confirm_two_factor_enrollment(
        &self,
        ctx: &Context<'_>,
        #[graphql(secret)] code: String,
    ) -> Result<RecoveryCodes> {
        let viewer = ctx.request().viewer().await?;
        let codes = two_factor::confirm_enrollment(ctx.app(), ctx.meta(), viewer, &code).await?;
        Ok(RecoveryCodes {
            codes: codes.into_iter().map(|c| c.into_inner()).collect(),
        })
    }

    /// Replaces the recovery codes (the old ones stop working), confirmed with a current code.
    async fn regenerate_recovery_codes(
        &self,
        ctx: &Context<'_>,
        #[graphql(secret)] code: String,
    ) -> Result<RecoveryCodes> {
        let viewer = ctx.request().viewer().await?;
        let codes =
            two_factor::regenerate_recovery_codes(ctx.app(), ctx.meta(), viewer, &code).await?;
        Ok(RecoveryCodes {
            codes: codes.into_iter().map(|c| c.into_inner()).collect(),
        })
    }
}
