//! Signing in and out, and `viewer`.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::ContextExt;
use super::types::{User, parse_id, to_id, utc};
use crate::db::models::{sessions as session_rows, users};
use crate::domain::secrets::Redacted;
use crate::domain::{SessionId, UserId};
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

/// A signed-in device of a user: where it signed in from and when it was last used.
pub struct UserSession {
    row: session_rows::Session,
    current: bool,
}

#[Object]
impl UserSession {
    async fn id(&self) -> async_graphql::ID {
        to_id(self.row.id)
    }

    /// The browser or client it signed in with (its User-Agent), when it sent one.
    async fn device(&self) -> Option<&str> {
        self.row.user_agent.as_deref()
    }

    /// The network address it signed in from.
    async fn address(&self) -> Option<&str> {
        self.row.client_ip.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        utc(self.row.created_at)
    }

    /// Its last request (written at most once a minute).
    async fn last_seen_at(&self) -> DateTime<Utc> {
        utc(self.row.last_seen_at)
    }

    /// When it ends at the latest.
    async fn expires_at(&self) -> DateTime<Utc> {
        utc(self.row.expires_at)
    }

    /// Whether this is the session making the request.
    async fn current(&self) -> bool {
        self.current
    }

    /// Whether an admin is viewing the account through it.
    async fn is_impersonation(&self) -> bool {
        self.row.impersonator_id.is_some()
    }

    /// The admin impersonating through it (null when it is the user's own, or the viewer may
    /// not see that admin).
    async fn impersonator(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(admin_id) = self.row.impersonator_id else {
            return Ok(None);
        };
        Ok(super::loaders::load(ctx, admin_id).await?.map(User))
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

    /// The live sessions of a user, most recently used first (at most 200): admins anyone's,
    /// everyone their own (FORBIDDEN otherwise; FORBIDDEN_WHILE_IMPERSONATING while
    /// impersonating).
    async fn user_sessions(
        &self,
        ctx: &Context<'_>,
        user_id: async_graphql::ID,
    ) -> Result<Vec<UserSession>> {
        let user_id: UserId = parse_id("userId", &user_id)?;
        let auth = ctx.request().auth().await?;
        let current = auth.viewer.session_id;
        let rows = sessions::list_for_user(ctx.app(), auth, user_id).await?;
        Ok(rows
            .into_iter()
            .map(|row| UserSession {
                current: row.id == current,
                row,
            })
            .collect())
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

    /// Ends one session of a user (and an impersonation running from it): admins anyone's,
    /// everyone their own. True when it ended now, false when it had already ended. Audited as
    /// SESSION_SIGNED_OUT on the user.
    async fn sign_out_session(&self, ctx: &Context<'_>, id: async_graphql::ID) -> Result<bool> {
        let id: SessionId = parse_id("id", &id)?;
        let auth = ctx.request().auth().await?;
        Ok(sessions::sign_out_session(ctx.app(), auth, id).await?)
    }

    /// Ends every session of a user, the impersonations of them and those they run (on your own
    /// account, the session you ask from stays). Admins anyone's, everyone their own. Returns
    /// how many ended; audited as SIGNED_OUT_EVERYWHERE on the user.
    async fn sign_out_everywhere(
        &self,
        ctx: &Context<'_>,
        user_id: async_graphql::ID,
    ) -> Result<i32> {
        let user_id: UserId = parse_id("userId", &user_id)?;
        let auth = ctx.request().auth().await?;
        let ended = sessions::sign_out_everywhere(ctx.app(), auth, user_id).await?;
        Ok(i32::try_from(ended).unwrap_or(i32::MAX))
    }
}
