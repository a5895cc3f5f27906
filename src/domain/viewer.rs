//! Who is asking: the signed-in user (or the user an admin is impersonating) and the rules that
//! depend only on that. Checks that need records (shared companies) live in `services::access`.

use chrono::NaiveDateTime;

use super::audit::AuditActor;
use super::enums::Role;
use super::ids::{CompanyId, SessionId, UserId};
use crate::error::{AppError, AppResult};

/// The request's metadata, carried into audit rows.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub request_id: String,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The request's one password check (shared by every clone of the request's metadata).
    pub password_checks: PasswordCheckBudget,
}

/// At most one password check per request, however many fields (aliases) ask for one: the
/// first takes the budget, the others are refused before any hashing.
#[derive(Debug, Clone, Default)]
pub struct PasswordCheckBudget(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl PasswordCheckBudget {
    /// True for the first caller of this request, false for every later one.
    pub fn take(&self) -> bool {
        !self.0.swap(true, std::sync::atomic::Ordering::SeqCst)
    }
}

#[derive(Debug, Clone)]
pub struct Impersonation {
    pub admin_id: UserId,
    /// The admin's own session; the impersonation dies with it.
    pub admin_session_id: SessionId,
    pub reason: String,
    pub started_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// Whose eyes a request sees through. While impersonating, `user_id`, `role` and `company_ids`
/// are the impersonated user's: every permission check runs as that user.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user_id: UserId,
    pub role: Role,
    pub session_id: SessionId,
    pub session_expires_at: NaiveDateTime,
    /// Companies the user is a member of, read on this request (role changes apply at once).
    pub company_ids: Vec<CompanyId>,
    pub impersonation: Option<Impersonation>,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn is_impersonating(&self) -> bool {
        self.impersonation.is_some()
    }

    pub fn impersonator_id(&self) -> Option<UserId> {
        self.impersonation.as_ref().map(|i| i.admin_id)
    }

    /// For admin-only operations. While impersonating the answer is always
    /// FORBIDDEN_WHILE_IMPERSONATING, whatever the impersonated user's role.
    pub fn require_admin(&self) -> AppResult<()> {
        self.forbid_while_impersonating()?;
        if self.is_admin() {
            Ok(())
        } else {
            Err(AppError::forbidden("Only admins can do this."))
        }
    }

    /// For account-security operations (password, email, 2FA, sessions) that an admin must not
    /// perform as someone else.
    pub fn forbid_while_impersonating(&self) -> AppResult<()> {
        if self.is_impersonating() {
            Err(AppError::ForbiddenWhileImpersonating)
        } else {
            Ok(())
        }
    }

    pub fn is_member_of(&self, company_id: CompanyId) -> bool {
        self.company_ids.contains(&company_id)
    }
}

/// One signed-in request: whose eyes it sees through and where it came from. Services that act for
/// a viewer take this one value (as crates.io's handlers take one `Authentication`), and the
/// audit actor of a change is made from it here and nowhere else.
#[derive(Debug, Clone)]
pub struct Authentication {
    pub viewer: Viewer,
    pub meta: RequestMeta,
}

impl Authentication {
    pub fn new(viewer: Viewer, meta: RequestMeta) -> Self {
        Self { viewer, meta }
    }

    /// The actor of a change made in this request: the viewer, marked with the impersonating
    /// admin when there is one.
    pub fn audit_actor(&self) -> AuditActor {
        AuditActor {
            actor_id: Some(self.viewer.user_id),
            impersonator_id: self.viewer.impersonator_id(),
            request_id: Some(self.meta.request_id.clone()),
            client_ip: self.meta.client_ip.clone(),
        }
    }

    /// The person at the keyboard acting in their own name: the admin while impersonating (for
    /// starting, stopping and signing out of an impersonation, which are the admin's own acts,
    /// not the user's), else the user. Never marked as impersonated.
    pub fn own_actor(&self) -> AuditActor {
        AuditActor {
            actor_id: Some(self.viewer.impersonator_id().unwrap_or(self.viewer.user_id)),
            impersonator_id: None,
            request_id: Some(self.meta.request_id.clone()),
            client_ip: self.meta.client_ip.clone(),
        }
    }
}

/// The audit actor of a request made without a session (sign-in, accepting an invitation).
pub fn anonymous_actor(meta: &RequestMeta, user_id: Option<UserId>) -> AuditActor {
    AuditActor {
        actor_id: user_id,
        impersonator_id: None,
        request_id: Some(meta.request_id.clone()),
        client_ip: meta.client_ip.clone(),
    }
}
