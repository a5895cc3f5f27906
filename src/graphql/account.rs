//! The signed-in user's own account: two-factor authentication and password.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};

use super::context::ContextExt;
use super::session::SessionPayload;
use crate::services::{accounts, email_change, two_factor};

#[derive(InputObject)]
pub struct AcceptInvitationInput {
    #[graphql(secret)]
    pub token: String,
    #[graphql(secret)]
    pub password: String,
    /// Optional: the name as the user wants it shown.
    pub name: Option<String>,
}

#[derive(InputObject)]
pub struct ResetPasswordInput {
    #[graphql(secret)]
    pub token: String,
    #[graphql(secret)]
    pub password: String,
}

#[derive(InputObject)]
pub struct ChangePasswordInput {
    #[graphql(secret)]
    pub current_password: String,
    #[graphql(secret)]
    pub new_password: String,
}

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
    /// Sets the password from an invitation link and signs the new user in.
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        input: AcceptInvitationInput,
    ) -> Result<SessionPayload> {
        let issued = accounts::accept_invitation(
            ctx.app(),
            ctx.meta(),
            &input.token,
            &input.password,
            input.name.as_deref(),
        )
        .await?;
        Ok(issued.into())
    }

    /// Emails a reset link if the account exists; always answers true.
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        accounts::request_password_reset(ctx.app(), ctx.meta(), &email).await?;
        Ok(true)
    }

    /// Sets a new password from a reset link; every session of the account ends.
    async fn reset_password(&self, ctx: &Context<'_>, input: ResetPasswordInput) -> Result<bool> {
        accounts::reset_password(ctx.app(), ctx.meta(), &input.token, &input.password).await?;
        Ok(true)
    }

    /// Applies an email change from the link mailed to the new address
    /// (`PUBLIC_URL/confirm-email?token=…`); the old address is told. Works once.
    async fn confirm_email_change(
        &self,
        ctx: &Context<'_>,
        #[graphql(secret)] token: String,
    ) -> Result<bool> {
        email_change::confirm(ctx.app(), ctx.meta(), &token).await?;
        Ok(true)
    }

    /// Changes the signed-in user's password; their other sessions end.
    async fn change_password(&self, ctx: &Context<'_>, input: ChangePasswordInput) -> Result<bool> {
        let auth = ctx.request().auth().await?;
        accounts::change_password(
            ctx.app(),
            auth,
            &input.current_password,
            &input.new_password,
        )
        .await?;
        Ok(true)
    }

    /// Begins 2FA enrolment for the signed-in user, who enters their password again first.
    async fn start_two_factor_enrollment(
        &self,
        ctx: &Context<'_>,
        #[graphql(secret)] current_password: String,
    ) -> Result<TwoFactorEnrollment> {
        let auth = ctx.request().auth().await?;
        let enrollment = two_factor::start_enrollment(ctx.app(), auth, &current_password).await?;
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
        let auth = ctx.request().auth().await?;
        let codes = two_factor::confirm_enrollment(ctx.app(), auth, &code).await?;
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
        let auth = ctx.request().auth().await?;
        let codes = two_factor::regenerate_recovery_codes(ctx.app(), auth, &code).await?;
        Ok(RecoveryCodes {
            codes: codes.into_iter().map(|c| c.into_inner()).collect(),
        })
    }
}
