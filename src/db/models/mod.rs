//! Row structs, insert forms and update forms per table, with the queries that serve them.
//! Queries take a connection (or, for audited tables, a `WriteTx`) so they compose inside one
//! transaction.

pub mod memberships;
pub mod outbox;
pub mod recovery_codes;
pub mod sessions;
pub mod throttles;
pub mod tokens;
pub mod users;

pub use outbox::{NewOutboxMail, OutboxMail};
pub use sessions::{NewSession, Session};
pub use users::{NewUser, User, UserChanges};
