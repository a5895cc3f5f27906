//! Signing in and out, and `viewer`.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::ContextExt;
use super::types::{User, utc};
use crate::db::models::users;
use crate::domain::secrets::Redacted;
use crate::services::sessions::{self, IssuedSession, SignInInput as SignIn};
use async_graphql::Result;

#[derive(InputObject)]
pub struct SignInInput {
    pub email: String,
    #[graphql(secret)]
    pub password: String,
    #[graphql(secret)]
    pub totp_code: Option<String>,
    #[graphql(secret)]
    pub recovery_code: Option<String>,
}

/// A new session: send `token` as `Authorization: Bearer <token>`.
#[derive(SimpleObject)]
pub struct SessionPayload {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

impl From<IssuedSession> for SessionPayload {
    fn from(issued: IssuedSession) -> Self {
        SessionPayload {
            token: issued.token.into_inner(),
            expires_at: utc(issued.expires_at),
            user: User(issued.user),
        }
    }
}

/// Whose eyes the request sees through.
pub struct Viewer(pub crate::domain::viewer::Viewer);

#[derive(SimpleObject)]
pub struct ImpersonationInfo {
    pub reason: String,
    pub started_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[Object]
impl Viewer {
    /// The user whose view this is (the impersonated user while impersonating).
    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        // Read with the session in this request's authentication.
        if let Ok(user) = ctx.request().viewer_user().await
            && user.id == self.0.user_id
        {
            return Ok(User(user.clone()));
        }
        let mut conn = ctx.app().db.conn().await?;
        Ok(User(users::get(&mut conn, self.0.user_id).await?))
    }

    /// The admin behind the request while impersonating, else null.
    async fn impersonator(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(admin_id) = self.0.impersonator_id() else {
            return Ok(None);
        };
        let mut conn = ctx.app().db.conn().await?;
        Ok(users::find(&mut conn, admin_id).await?.map(User))
    }

    async fn impersonation(&self) -> Option<ImpersonationInfo> {
        self.0.impersonation.as_ref().map(|i| ImpersonationInfo {
            reason: i.reason.clone(),
            started_at: utc(i.started_at),
            expires_at: utc(i.expires_at),
        })
    }

    /// When the current session ends at the latest.
    async fn session_expires_at(&self) -> DateTime<Utc> {
        utc(self.0.session_expires_at)
    }
}

#[derive(Default)]
pub struct SessionQuery;

#[Object]
impl SessionQuery {
    /// The signed-in viewer; UNAUTHENTICATED without a valid session.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer> {
        Ok(Viewer(ctx.request().viewer().await?.clone()))
    }
}

#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    async fn sign_in(&self, ctx: &Context<'_>, input: SignInInput) -> Result<SessionPayload> {
        let input = SignIn {
            email: input.email,
            password: Redacted::new(input.password),
            totp_code: input.totp_code.map(Redacted::new),
            recovery_code: input.recovery_code.map(Redacted::new),
        };
        Ok(sessions::sign_in(ctx.app(), ctx.meta(), input)
            .await?
            .into())
    }

    /// Ends the current session.
    async fn sign_out(&self, ctx: &Context<'_>) -> Result<bool> {
        let auth = ctx.request().auth().await?;
        sessions::sign_out(ctx.app(), auth).await?;
        Ok(true)
    }
}
