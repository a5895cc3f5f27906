//! Who may see and change what, per company. Denied by default: every service function checks
//! the viewer through these before reading or writing.
//!
//! - Admins see and manage everything (while impersonating, the viewer *is* the impersonated
//!   user, so these rules then apply to that user).
//! - Supervisors and customers see the companies they are members of, and what belongs to them.
//!   A record outside those answers NOT_FOUND, so its existence does not leak.
//! - Supervisors manage their own companies' people and content (see each service); customers
//!   are read-only: a change they may see but not make answers FORBIDDEN.

use crate::domain::viewer::Viewer;
use crate::domain::{CompanyId, Role};
use crate::error::{AppError, AppResult};

pub fn can_see_company(viewer: &Viewer, company_id: CompanyId) -> bool {
    viewer.is_admin() || viewer.is_member_of(company_id)
}

/// NOT_FOUND (named `what`) unless the viewer may see the company's records.
pub fn require_company_visible(
    viewer: &Viewer,
    company_id: CompanyId,
    what: &'static str,
) -> AppResult<()> {
    if can_see_company(viewer, company_id) {
        Ok(())
    } else {
        Err(AppError::not_found(what))
    }
}

/// A supervisor who is a member of the company.
pub fn is_supervisor_of(viewer: &Viewer, company_id: CompanyId) -> bool {
    viewer.role == Role::Supervisor && viewer.is_member_of(company_id)
}

/// For changes admins and the company's supervisors may make: NOT_FOUND when the viewer cannot
/// see the company, FORBIDDEN when they can but may not change it.
pub fn require_company_manager(
    viewer: &Viewer,
    company_id: CompanyId,
    what: &'static str,
) -> AppResult<()> {
    require_company_visible(viewer, company_id, what)?;
    if viewer.is_admin() || is_supervisor_of(viewer, company_id) {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "Only admins and the company's supervisors can do this.",
        ))
    }
}

/// For admin-only changes to a company's records: NOT_FOUND when invisible, then the admin rule
/// (FORBIDDEN, or FORBIDDEN_WHILE_IMPERSONATING).
pub fn require_admin_for_company(
    viewer: &Viewer,
    company_id: CompanyId,
    what: &'static str,
) -> AppResult<()> {
    require_company_visible(viewer, company_id, what)?;
    viewer.require_admin()
}
