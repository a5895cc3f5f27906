//! Per-request DataLoaders for nested lookups (a company's organization, a membership's user,
//! a version's author …): one batched query per type and tick instead of one per row. They load
//! through the services, which keep only what the viewer may see.

use std::collections::HashMap;
use std::hash::Hash;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};

use super::context::ContextExt;
use crate::app::App;
use crate::db::models;
use crate::domain::viewer::Viewer;
use crate::domain::{CompanyId, InboundNumberId, OrganizationId, TeamId, UserId};
use crate::error::AppError;
use crate::services;

/// Loads records by id for one viewer. Created on the first nested lookup of a request, after
/// the viewer is known; no cache across requests (and, with `DataLoader::new`, none within one:
/// a mutation never sees a stale row).
pub struct RecordLoader {
    app: App,
    viewer: Viewer,
}

impl RecordLoader {
    pub fn new(app: App, viewer: Viewer) -> DataLoader<Self> {
        // A batch runs on a task of its own, in the request's scope (its connection).
        DataLoader::new(Self { app, viewer }, |batch| {
            tokio::spawn(crate::db::in_current_request(batch))
        })
    }
}

macro_rules! visible_loader {
    ($($key:ty => $value:ty: $fetch:path;)*) => {$(
        impl Loader<$key> for RecordLoader {
            type Value = $value;
            type Error = async_graphql::Error;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, $value>, Self::Error> {
                let rows = $fetch(&self.app, &self.viewer, keys).await?;
                Ok(rows.into_iter().map(|row| (row.id, row)).collect())
            }
        }
    )*};
}

visible_loader! {
    OrganizationId => models::Organization: services::organizations::visible_by_ids;
    CompanyId => models::Company: services::companies::visible_by_ids;
    TeamId => models::Team: services::teams::visible_by_ids;
    InboundNumberId => models::InboundNumber: services::inbound_numbers::visible_by_ids;
    UserId => models::User: services::memberships::visible_users;
}

/// The record with `key` if the viewer may see it.
pub async fn load<K>(
    ctx: &Context<'_>,
    key: K,
) -> async_graphql::Result<Option<<RecordLoader as Loader<K>>::Value>>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    RecordLoader: Loader<K, Error = async_graphql::Error>,
{
    ctx.request().loader().await?.load_one(key).await
}

/// Like [`load`], for a relation that must be there: NOT_FOUND (named `what`) otherwise.
pub async fn load_required<K>(
    ctx: &Context<'_>,
    key: K,
    what: &'static str,
) -> async_graphql::Result<<RecordLoader as Loader<K>>::Value>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    RecordLoader: Loader<K, Error = async_graphql::Error>,
{
    load(ctx, key)
        .await?
        .ok_or_else(|| AppError::not_found(what).into())
}

/// Key: all company and team memberships of a user (the users list shows them per row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MembershipsOf(pub UserId);

#[derive(Debug, Clone, Default)]
pub struct UserMemberships {
    pub companies: Vec<models::CompanyMembership>,
    pub teams: Vec<models::TeamMembership>,
}

impl Loader<MembershipsOf> for RecordLoader {
    type Value = UserMemberships;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[MembershipsOf],
    ) -> Result<HashMap<MembershipsOf, UserMemberships>, Self::Error> {
        let user_ids: Vec<UserId> = keys.iter().map(|k| k.0).collect();
        let (companies, teams) =
            services::users::memberships_of(&self.app, &self.viewer, &user_ids).await?;
        let mut by_user: HashMap<MembershipsOf, UserMemberships> = keys
            .iter()
            .map(|key| (*key, UserMemberships::default()))
            .collect();
        for membership in companies {
            if let Some(entry) = by_user.get_mut(&MembershipsOf(membership.user_id)) {
                entry.companies.push(membership);
            }
        }
        for membership in teams {
            if let Some(entry) = by_user.get_mut(&MembershipsOf(membership.user_id)) {
                entry.teams.push(membership);
            }
        }
        Ok(by_user)
    }
}

/// Key: the address a user waits to confirm (`User.pendingEmail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PendingEmailOf(pub UserId);

impl Loader<PendingEmailOf> for RecordLoader {
    type Value = String;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[PendingEmailOf],
    ) -> Result<HashMap<PendingEmailOf, String>, Self::Error> {
        let user_ids: Vec<UserId> = keys.iter().map(|k| k.0).collect();
        let pending =
            services::email_change::pending_emails(&self.app, &self.viewer, &user_ids).await?;
        Ok(pending
            .into_iter()
            .map(|(user_id, email)| (PendingEmailOf(user_id), email))
            .collect())
    }
}
