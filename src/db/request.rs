//! One pool checkout per request.
//!
//! The HTTP endpoint runs each GraphQL request inside [`request_scope`]. The first
//! [`Database::conn`](super::Database::conn) of the request checks a connection out of the pool;
//! when the caller is done with it, the connection goes back to the request's slot instead of the
//! pool, and the request's next `conn()` (the context's authentication, the resolvers, the
//! DataLoaders, the audited write transaction) takes it from there without a checkout. The slot
//! gives the connection back to the pool when the request ends (or is dropped at its deadline).
//!
//! Nothing waits for the slot: a caller that asks while the request's connection is in use
//! elsewhere (sibling resolvers running at once) checks out one of its own, and whichever is
//! returned second goes back to the pool. So sharing never deadlocks and never serialises.
//!
//! A connection comes back to the slot only when it is outside any transaction; one left in a
//! transaction or with a broken transaction manager goes to the pool, whose recycle check
//! discards it. Work that holds no connection for long (password hashing) calls
//! [`release_request_connection`], so a request does not keep a pool connection idle meanwhile.

use std::future::Future;
use std::sync::{Arc, Mutex};

tokio::task_local! {
    static REQUEST_SLOT: Arc<RequestSlot>;
}

/// The idle connection of one request, if it has one.
#[derive(Default)]
pub struct RequestSlot {
    held: Mutex<Option<Held>>,
}

/// A pooled connection object of either backend (`deadpool::managed::Object<PgManager>` or
/// `<SqliteManager>`), told apart by [`Database::conn`](super::Database::conn).
pub(super) type Held = Box<dyn std::any::Any + Send>;

impl RequestSlot {
    pub(super) fn take(&self) -> Option<Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Keeps `conn` for the request's next use; when the slot already holds one, `conn` goes
    /// back to the pool.
    pub(super) fn put(&self, conn: Held) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.is_none() {
            *held = Some(conn);
        }
    }
}

/// Runs `work` as one request: its database connections share one pool checkout.
pub async fn request_scope<F: Future>(work: F) -> F::Output {
    REQUEST_SLOT
        .scope(Arc::new(RequestSlot::default()), work)
        .await
}

/// Runs `work` (a task the request spawns, such as a DataLoader batch) in the slot of the
/// request it is created in, or as it is outside one.
pub fn in_current_request<F>(work: F) -> impl Future<Output = F::Output> + Send + 'static
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    let slot = current();
    async move {
        match slot {
            Some(slot) => REQUEST_SLOT.scope(slot, work).await,
            None => work.await,
        }
    }
}

/// Gives the request's idle connection back to the pool (before work that needs none for a
/// while, such as hashing a password). A no-op outside a request.
pub fn release_request_connection() {
    if let Some(slot) = current() {
        drop(slot.take());
    }
}

pub(super) fn current() -> Option<Arc<RequestSlot>> {
    REQUEST_SLOT.try_with(Arc::clone).ok()
}
