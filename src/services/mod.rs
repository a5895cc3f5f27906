//! Use cases: each takes the app state, the viewer (or request metadata) and validated input,
//! applies the domain rules and goes through `db`. GraphQL resolvers call these and nothing
//! below them.

pub mod access;
pub mod accounts;
pub mod audit;
pub mod audit_export;
pub mod audit_query;
pub mod call_recordings;
pub mod companies;
pub mod credentials;
pub mod email_change;
pub mod impersonation;
pub mod inbound_numbers;
pub mod memberships;
pub mod organizations;
pub mod playbooks;
pub mod reauth;
pub mod sessions;
pub mod teams;
pub mod throttle;
pub mod two_factor;
pub mod users;
