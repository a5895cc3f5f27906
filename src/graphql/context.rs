//! What a resolver gets from the request: the app, the request's metadata and, resolved once
//! and only when a resolver asks, the viewer.

use std::sync::OnceLock;

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::DataLoader;
use tokio::sync::OnceCell;

use super::loaders::RecordLoader;
use crate::app::{App, AppState};
use crate::db::models::Company;
use crate::domain::secrets::Redacted;
use crate::domain::viewer::{Authentication, RequestMeta, Viewer};
use crate::domain::{CompanyId, UserId};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::services::sessions;

pub struct RequestContext {
    pub app: App,
    pub meta: RequestMeta,
    token: Option<Redacted<String>>,
    auth: OnceCell<Result<Authentication, ErrorCode>>,
    /// The viewer's user row as authentication read it (same statement, same request).
    viewer_user: OnceLock<crate::db::models::User>,
    loader: OnceLock<DataLoader<RecordLoader>>,
    /// Companies, teams and memberships of the users on a list page, fetched in one go by the
    /// list resolver so the nested fields cost no query per row.
    prefetched: std::sync::Mutex<HashMap<UserId, Arc<UserDetails>>>,
    /// The companies those details named (visible to the viewer), for `CompanyMembership.company`.
    prefetched_companies: std::sync::Mutex<HashMap<CompanyId, Company>>,
}

pub use crate::services::users::UserDetails;

impl RequestContext {
    pub fn new(app: App, meta: RequestMeta, token: Option<String>) -> Self {
        Self {
            app,
            meta,
            token: token.map(Redacted::new),
            auth: OnceCell::new(),
            viewer_user: OnceLock::new(),
            loader: OnceLock::new(),
            prefetched: std::sync::Mutex::new(HashMap::new()),
            prefetched_companies: std::sync::Mutex::new(HashMap::new()),
        }
    }

    pub fn remember_details(&self, details: HashMap<UserId, UserDetails>) {
        {
            let mut companies = self
                .prefetched_companies
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for company in details.values().flat_map(|d| d.companies.iter()) {
                companies.insert(company.id, company.clone());
            }
        }
        let mut prefetched = self.prefetched.lock().unwrap_or_else(|p| p.into_inner());
        prefetched.extend(details.into_iter().map(|(id, d)| (id, Arc::new(d))));
    }

    /// A company a list page already read for the viewer.
    pub fn prefetched_company(&self, id: CompanyId) -> Option<Company> {
        let companies = self
            .prefetched_companies
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        companies.get(&id).cloned()
    }

    pub fn prefetched_details(&self, user_id: UserId) -> Option<Arc<UserDetails>> {
        let prefetched = self.prefetched.lock().unwrap_or_else(|p| p.into_inner());
        prefetched.get(&user_id).cloned()
    }

    /// The signed-in request (viewer and metadata), or UNAUTHENTICATED. Resolved on first use,
    /// then shared by every resolver of the request.
    pub async fn auth(&self) -> AppResult<&Authentication> {
        let resolved = self
            .auth
            .get_or_init(|| async {
                let Some(token) = &self.token else {
                    return Err(ErrorCode::Unauthenticated);
                };
                match sessions::authenticate(&self.app, token.expose()).await {
                    Ok((viewer, user)) => {
                        let _ = self.viewer_user.set(user);
                        Ok(Authentication::new(viewer, self.meta.clone()))
                    }
                    Err(AppError::Unavailable) => Err(ErrorCode::Unavailable),
                    Err(AppError::Internal(cause)) => {
                        tracing::error!(error = ?cause, "authentication failed");
                        Err(ErrorCode::Internal)
                    }
                    Err(_) => Err(ErrorCode::Unauthenticated),
                }
            })
            .await;
        match resolved {
            Ok(auth) => Ok(auth),
            Err(ErrorCode::Unavailable) => Err(AppError::Unavailable),
            Err(ErrorCode::Internal) => {
                Err(AppError::internal(anyhow::anyhow!("authentication failed")))
            }
            Err(_) => Err(AppError::Unauthenticated),
        }
    }

    /// The signed-in viewer's user row, as read by authentication in this request.
    pub async fn viewer_user(&self) -> AppResult<&crate::db::models::User> {
        self.auth().await?;
        self.viewer_user
            .get()
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("viewer's user not read")))
    }

    /// The viewer, if a resolver has authenticated the request (for the request log).
    pub fn resolved_viewer(&self) -> Option<&Viewer> {
        match self.auth.get()? {
            Ok(auth) => Some(&auth.viewer),
            Err(_) => None,
        }
    }

    /// The signed-in viewer, or UNAUTHENTICATED (see [`RequestContext::auth`]).
    pub async fn viewer(&self) -> AppResult<&Viewer> {
        Ok(&self.auth().await?.viewer)
    }
}

impl RequestContext {
    /// The request's batching loader for nested records, bound to the viewer (so
    /// UNAUTHENTICATED without one).
    pub async fn loader(&self) -> AppResult<&DataLoader<RecordLoader>> {
        let viewer = self.viewer().await?;
        Ok(self
            .loader
            .get_or_init(|| RecordLoader::new(self.app.clone(), viewer.clone())))
    }
}

/// Shorthands for resolvers.
pub trait ContextExt {
    fn request(&self) -> &RequestContext;

    fn app(&self) -> &AppState {
        &self.request().app
    }

    fn meta(&self) -> &RequestMeta {
        &self.request().meta
    }
}

impl ContextExt for Context<'_> {
    fn request(&self) -> &RequestContext {
        // The HTTP endpoint inserts an `Arc<RequestContext>` into every request it executes (it
        // keeps a handle to log the viewer, even when the deadline drops the execution).
        self.data_unchecked::<Arc<RequestContext>>()
    }
}
