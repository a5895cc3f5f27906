//! Use cases: each takes the app state, the viewer (or request metadata) and validated input,
//! applies the domain rules and goes through `db`. GraphQL resolvers call these and nothing
//! below them.

pub mod access;
pub mod accounts;
pub mod sessions;
pub mod throttle;
pub mod two_factor;
