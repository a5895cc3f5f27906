//! Domain types and rules: plain data and pure functions, no database and no GraphQL.

pub mod audit;
pub mod enums;
pub mod hash_pool;
pub mod ids;
pub mod password;
pub mod records;
pub mod secrets;
pub mod totp;
pub mod viewer;

pub use enums::{
    AuditAction, AuditRecordType, CompanyStatus, ImpersonationEndCause, OrganizationStatus, Role,
    SortDirection, UserSortField, UserStatus,
};
pub use ids::*;
