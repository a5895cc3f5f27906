//! What a resolver gets from the request: the app, the request's metadata and, resolved once
//! and only when a resolver asks, the viewer.

use std::sync::OnceLock;

use async_graphql::Context;
use async_graphql::dataloader::DataLoader;
use tokio::sync::OnceCell;

use super::loaders::RecordLoader;
use crate::app::{App, AppState};
use crate::domain::secrets::Redacted;
use crate::domain::viewer::{RequestMeta, Viewer};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::services::sessions;

pub struct RequestContext {
    pub app: App,
    pub meta: RequestMeta,
    token: Option<Redacted<String>>,
    viewer: OnceCell<Result<Viewer, ErrorCode>>,
    loader: OnceLock<DataLoader<RecordLoader>>,
}

impl RequestContext {
    pub fn new(app: App, meta: RequestMeta, token: Option<String>) -> Self {
        Self {
            app,
            meta,
            token: token.map(Redacted::new),
            viewer: OnceCell::new(),
            loader: OnceLock::new(),
        }
    }

    /// The signed-in viewer, or UNAUTHENTICATED. Resolved on first use, then shared by every
    /// resolver of the request.
    pub async fn viewer(&self) -> AppResult<&Viewer> {
        let resolved = self
            .viewer
            .get_or_init(|| async {
                let Some(token) = &self.token else {
                    return Err(ErrorCode::Unauthenticated);
                };
                sessions::authenticate(&self.app, token.expose())
                    .await
                    .map_err(|err| match err {
                        AppError::Unavailable => ErrorCode::Unavailable,
                        AppError::Internal(cause) => {
                            tracing::error!(error = ?cause, "authentication failed");
                            ErrorCode::Internal
                        }
                        _ => ErrorCode::Unauthenticated,
                    })
            })
            .await;
        match resolved {
            Ok(viewer) => Ok(viewer),
            Err(ErrorCode::Unavailable) => Err(AppError::Unavailable),
            Err(ErrorCode::Internal) => {
                Err(AppError::internal(anyhow::anyhow!("authentication failed")))
            }
            Err(_) => Err(AppError::Unauthenticated),
        }
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
        // The HTTP endpoint inserts a RequestContext into every request it executes.
        self.data_unchecked::<RequestContext>()
    }
}
