//! GraphQL object types: thin wrappers over the database rows, resolving fields and nested
//! lists through the services.

use super::audit::AuditEvent;
use super::connection::Page;
use crate::domain::AuditRecordType;
use crate::domain::audit::RecordRef;
use async_graphql::dataloader::Loader;
use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, NaiveDateTime, Utc};

use super::companies::Company;
use super::context::{ContextExt, UserDetails};
use super::loaders::{MembershipsOf, PendingEmailOf, RecordLoader, UserMemberships};
use super::memberships::CompanyMembership;
use super::teams::Team;
use crate::db::models;
use crate::domain::{Role, UserId, UserStatus};
use crate::error::{AppError, AppResult};

/// Timestamps leave the service as RFC 3339 UTC (`DateTime` scalar).
pub fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

/// Parses a GraphQL `ID` into a newtype id; a malformed id is BAD_USER_INPUT on `field`.
pub fn parse_id<T: std::str::FromStr>(field: &'static str, id: &ID) -> AppResult<T> {
    id.parse::<T>()
        .map_err(|_| AppError::bad_input(field, "This is not a valid id."))
}

pub fn to_id(id: impl ToString) -> ID {
    ID(id.to_string())
}

pub struct User(pub models::User);

/// An account's sign-in back-off: failed attempts counted, and until when no attempt from a
/// client the account does not know is admitted (null: the next attempt is admitted now).
#[derive(async_graphql::SimpleObject)]
pub struct SignInThrottle {
    pub failures: i32,
    pub locked_until: Option<DateTime<Utc>>,
}

#[Object]
impl User {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn email(&self) -> &str {
        &self.0.email
    }

    /// A new address waiting for its confirmation link to be used; only the user and admins see
    /// it.
    async fn pending_email(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        super::loaders::load(ctx, PendingEmailOf(self.0.id)).await
    }

    async fn role(&self) -> Role {
        self.0.role
    }

    async fn status(&self) -> UserStatus {
        self.0.status()
    }

    async fn last_sign_in_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_sign_in_at.map(utc)
    }

    async fn two_factor_enabled(&self) -> bool {
        self.0.two_factor_enabled()
    }

    /// Whether sign-ins of this account are backing off after failed attempts (admins only:
    /// null for everyone else, and when nothing is counted). `clearSignInThrottle` clears it.
    async fn sign_in_throttle(&self, ctx: &Context<'_>) -> Result<Option<SignInThrottle>> {
        let auth = ctx.request().auth().await?;
        let state =
            crate::services::credentials::sign_in_throttle(ctx.app(), &auth.viewer, &self.0)
                .await?;
        Ok(state.map(|s| SignInThrottle {
            failures: s.failures,
            locked_until: s.blocked_until.map(utc),
        }))
    }

    async fn discarded_at(&self) -> Option<DateTime<Utc>> {
        self.0.discarded_at.map(utc)
    }

    async fn invitation_sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.invitation_sent_at.map(utc)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        utc(self.0.created_at)
    }

    /// Increases with every audited change; send it back as `expectedVersion` to refuse a
    /// concurrent overwrite.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// The companies the user is a member of (those the viewer may see).
    async fn companies(&self, ctx: &Context<'_>) -> Result<Vec<Company>> {
        Ok(details(ctx, self.0.id)
            .await?
            .companies
            .iter()
            .cloned()
            .map(Company)
            .collect())
    }

    /// The teams the user is in (those the viewer may see).
    async fn teams(&self, ctx: &Context<'_>) -> Result<Vec<Team>> {
        let mut details = details(ctx, self.0.id).await?;
        if details.teams.is_none() {
            details = loaded_details(ctx, self.0.id).await?;
        }
        Ok(details.teams.iter().flatten().cloned().map(Team).collect())
    }

    /// The user's company memberships with their role (those the viewer may see).
    async fn memberships(&self, ctx: &Context<'_>) -> Result<Vec<CompanyMembership>> {
        Ok(details(ctx, self.0.id)
            .await?
            .memberships
            .iter()
            .cloned()
            .map(CompanyMembership)
            .collect())
    }

    /// Changes to this user, with their memberships and security events (sign-ins, password and 2FA changes), newest first.
    #[graphql(complexity = "super::connection::page_cost(first, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<AuditEvent>> {
        let record = RecordRef::new(AuditRecordType::User, self.0.id);
        super::audit::history(ctx, record, first, after).await
    }
}

/// A user's companies, teams and memberships: prefetched for list pages, else batched through
/// the request's loader.
async fn details(ctx: &Context<'_>, user_id: UserId) -> Result<std::sync::Arc<UserDetails>> {
    if let Some(details) = ctx.request().prefetched_details(user_id) {
        return Ok(details);
    }
    loaded_details(ctx, user_id).await
}

/// A user's companies, teams and memberships through the request's loader (teams included).
async fn loaded_details(ctx: &Context<'_>, user_id: UserId) -> Result<std::sync::Arc<UserDetails>> {
    let memberships: UserMemberships = ctx
        .request()
        .loader()
        .await?
        .load_one(MembershipsOf(user_id))
        .await?
        .unwrap_or_default();
    let company_ids: Vec<_> = memberships.companies.iter().map(|m| m.company_id).collect();
    let team_ids: Vec<_> = memberships.teams.iter().map(|m| m.team_id).collect();
    Ok(std::sync::Arc::new(UserDetails {
        companies: load_many(ctx, company_ids).await?,
        teams: Some(load_many(ctx, team_ids).await?),
        memberships: memberships.companies,
    }))
}

/// The visible records among `ids`, in the order of `ids`.
async fn load_many<K>(
    ctx: &Context<'_>,
    ids: Vec<K>,
) -> Result<Vec<<RecordLoader as Loader<K>>::Value>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    RecordLoader: Loader<K, Error = async_graphql::Error>,
{
    let mut found = ctx
        .request()
        .loader()
        .await?
        .load_many(ids.iter().cloned())
        .await?;
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}
