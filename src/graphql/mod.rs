//! The GraphQL API: thin resolvers over `services`, merged per domain.

use async_graphql::{EmptySubscription, MergedObject, Schema};

use crate::config::Config;

mod account;
mod audit;
mod call_recordings;
mod companies;
pub mod connection;
pub mod context;
mod impersonation;
mod inbound_numbers;
pub mod loaders;
mod memberships;
mod organizations;
mod playbooks;
mod session;
mod teams;
pub mod types;
mod users;

pub use context::RequestContext;

#[derive(MergedObject, Default)]
pub struct Query(
    session::SessionQuery,
    users::UserQuery,
    organizations::OrganizationQuery,
    companies::CompanyQuery,
    teams::TeamQuery,
    inbound_numbers::InboundNumberQuery,
    call_recordings::CallRecordingQuery,
    playbooks::PlaybookQuery,
    audit::AuditQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    session::SessionMutation,
    impersonation::ImpersonationMutation,
    account::AccountMutation,
    users::UserMutation,
    organizations::OrganizationMutation,
    companies::CompanyMutation,
    teams::TeamMutation,
    memberships::MembershipMutation,
    inbound_numbers::InboundNumberMutation,
    call_recordings::CallRecordingMutation,
    playbooks::PlaybookMutation,
);

pub type ApiSchema = Schema<Query, Mutation, EmptySubscription>;

/// Query limits: generous for the console's deepest page, far below what a hostile query needs.
/// Complexity counts each field once per row its page may return (`connection::page_cost`): a
/// page of 100 audit events with every field and change (about 4,000 points) passes; a page of
/// pages (100 users each with 100 events, 30,000 points and up) is refused before a row is read.
pub const MAX_DEPTH: usize = 12;
pub const MAX_COMPLEXITY: usize = 10_000;
pub const MAX_DIRECTIVES: usize = 8;
pub const MAX_RECURSIVE_DEPTH: usize = 32;

pub fn build_schema(config: &Config) -> ApiSchema {
    schema_builder(config).finish()
}

/// The served schema before `finish`: its limits and production settings. Tests add
/// extensions here (a resolver that panics) without changing the SDL.
pub fn schema_builder(
    config: &Config,
) -> async_graphql::SchemaBuilder<Query, Mutation, EmptySubscription> {
    let mut builder = Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_directives(MAX_DIRECTIVES)
        .limit_recursive_depth(MAX_RECURSIVE_DEPTH);
    if config.is_production() {
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder
}

/// Mutations that check a credential or spend a single-use secret. A request may carry at most
/// one of them (aliases would otherwise multiply guesses per request past the throttle).
pub const SENSITIVE_MUTATIONS: &[&str] = &[
    "signIn",
    "acceptInvitation",
    "requestPasswordReset",
    "resetPassword",
    "changePassword",
    "confirmTwoFactorEnrollment",
    "regenerateRecoveryCodes",
];

/// The SDL the server serves (`portal-admin print-schema`, and the committed schema.graphql).
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .finish()
        .sdl()
}
