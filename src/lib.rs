//! portal-admin: the GraphQL service behind the admin side of the call-centre portal.
//!
//! Layers, each using only the ones below it:
//! - [`http`]: poem routes, per-request middleware, server lifecycle.
//! - [`graphql`]: the schema; thin resolvers that call `services`.
//! - [`services`]: use cases (sign-in, user admin, impersonation, audit queries).
//! - [`domain`]: types and rules with no I/O (ids, roles, the viewer, audit diffs, passwords).
//! - [`db`]: diesel over PostgreSQL and SQLite; the audited write path.
//!
//! [`mail`] renders the product's emails into the outbox and runs the worker that sends them.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod mail;
pub mod services;
