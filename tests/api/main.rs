//! Integration tests: one module per capability of the admin guide, each scenario run over the
//! real HTTP endpoint on SQLite and on PostgreSQL (see `common`).

mod common;

mod audit_events_query;
mod audit_history;
mod audit_privileges;
mod audit_seal;
mod audit_views;
mod audit_write_path;
mod authorization_matrix;
mod checklist_gaps;
mod configuration;
mod console_operations;
mod credential_races;
mod email_change;
mod graphql_over_http;
mod http_endpoint;
mod impersonation;
mod impersonation_ends;
mod list_indexes;
mod mail_outbox;
mod onboarding;
mod password_hashing;
mod password_rules;
mod reauthentication;
mod records_call_recordings;
mod records_inbound_numbers;
mod records_memberships;
mod records_organizations_and_companies;
mod records_playbooks;
mod request_bounds;
mod schema_agreement;
mod schema_sdl;
mod secrets_at_rest;
mod sessions;
mod sign_in_limits;
mod single_use_tokens;
mod stalls;
mod statement_budgets;
mod throttling;
mod two_factor;
mod user_sessions;
mod users_admin;
mod users_sorting;
