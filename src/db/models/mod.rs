//! Row structs, insert forms and update forms per table, with the queries that serve them.
//! Queries take a connection (or, for audited tables, a `WriteTx`) so they compose inside one
//! transaction.

mod audited;
pub mod call_recordings;
pub mod companies;
pub mod inbound_numbers;
pub mod memberships;
pub mod organizations;
pub mod outbox;
pub mod playbooks;
pub mod recovery_codes;
pub mod reset_requests;
pub mod sessions;
pub mod teams;
pub mod throttles;
pub mod tokens;
pub mod users;

pub use call_recordings::{CallRecording, CallRecordingChanges, NewCallRecording};
pub use companies::{Company, CompanyChanges, NewCompany};
pub use inbound_numbers::{InboundNumber, InboundNumberChanges, NewInboundNumber};
pub use memberships::{CompanyMembership, TeamMembership};
pub use organizations::{NewOrganization, Organization, OrganizationChanges};
pub use outbox::{NewOutboxMail, OutboxMail};
pub use playbooks::{CurrentPlaybook, Playbook, PlaybookVersion};
pub use sessions::{NewSession, Session};
pub use teams::{NewTeam, Team, TeamChanges};
pub use users::{NewUser, User, UserChanges};

use crate::domain::CompanyId;

/// Which companies' records a query may return: all (admins) or those of the viewer's companies.
#[derive(Debug, Clone, Copy)]
pub enum CompanyScope<'a> {
    All,
    Only(&'a [CompanyId]),
}

diesel::define_sql_function! {
    /// SQL `lower()`, the same on both backends.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// A case-insensitive `LIKE` pattern matching `text` anywhere, with the wildcards in it escaped
/// (used with `ESCAPE '\'`, which SQLite needs spelled out).
pub(crate) fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
