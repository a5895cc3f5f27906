//! Who may see and change what, per company. Denied by default: every service function checks
//! the viewer through these before reading or writing.
//!
//! - Admins see and manage everything (while impersonating, the viewer *is* the impersonated
//!   user, so these rules then apply to that user).
//! - Supervisors and customers see the companies they are members of, and what belongs to them.
//!   A record outside those answers NOT_FOUND, so its existence does not leak.
//! - Supervisors manage their own companies' people and content (see each service); customers
//!   are read-only: a change they may see but not make answers FORBIDDEN.

use crate::db::models::{self, CompanyScope};
use crate::domain::viewer::Viewer;
use crate::domain::{CompanyId, Role, UserId};
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

/// For admin-only changes to a company's records: FORBIDDEN_WHILE_IMPERSONATING first (it says
/// nothing about the record), then NOT_FOUND when invisible, then FORBIDDEN for non-admins.
pub fn require_admin_for_company(
    viewer: &Viewer,
    company_id: CompanyId,
    what: &'static str,
) -> AppResult<()> {
    viewer.forbid_while_impersonating()?;
    require_company_visible(viewer, company_id, what)?;
    viewer.require_admin()
}

/// Which companies' records the viewer may list.
pub fn company_scope(viewer: &Viewer) -> CompanyScope<'_> {
    if viewer.is_admin() {
        CompanyScope::All
    } else {
        CompanyScope::Only(&viewer.company_ids)
    }
}

/// A record that belongs to one company and is visible with it.
pub trait CompanyScoped {
    fn company_id(&self) -> CompanyId;
}

macro_rules! company_scoped {
    ($($ty:ty => |$row:ident| $company:expr),* $(,)?) => {$(
        impl CompanyScoped for $ty {
            fn company_id(&self) -> CompanyId {
                let $row = self;
                $company
            }
        }
    )*};
}

company_scoped!(
    models::Company => |row| row.id,
    models::Team => |row| row.company_id,
    models::CompanyMembership => |row| row.company_id,
    models::InboundNumber => |row| row.company_id,
    models::CallRecording => |row| row.company_id,
    models::CurrentPlaybook => |row| row.playbook.company_id,
    models::Playbook => |row| row.company_id,
);

/// The record if the viewer may see it, else NOT_FOUND (named `what`).
pub fn visible<T: CompanyScoped>(viewer: &Viewer, record: T, what: &'static str) -> AppResult<T> {
    require_company_visible(viewer, record.company_id(), what)?;
    Ok(record)
}

/// The records the viewer may see, in the order given.
pub fn only_visible<T: CompanyScoped>(viewer: &Viewer, records: Vec<T>) -> Vec<T> {
    records
        .into_iter()
        .filter(|record| can_see_company(viewer, record.company_id()))
        .collect()
}

/// For changes to a company's memberships. Admins may make any. A supervisor of the company
/// only CUSTOMER memberships of CUSTOMER users (`roles`: the membership's role before and after
/// the change; `user_role`: the member's platform role), never a supervisor's or an admin's,
/// and never their own. NOT_FOUND when the company is invisible, FORBIDDEN otherwise.
pub fn require_membership_manager(
    viewer: &Viewer,
    company_id: CompanyId,
    (user_id, user_role): (UserId, Role),
    roles: &[Role],
) -> AppResult<()> {
    require_company_manager(viewer, company_id, "Company")?;
    if viewer.is_admin() {
        return Ok(());
    }
    if user_id == viewer.user_id {
        return Err(AppError::forbidden(
            "Supervisors cannot change their own membership.",
        ));
    }
    if user_role != Role::Customer || roles.iter().any(|role| *role != Role::Customer) {
        return Err(AppError::forbidden(
            "Supervisors manage customers' CUSTOMER memberships only.",
        ));
    }
    Ok(())
}
