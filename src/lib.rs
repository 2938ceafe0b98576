//! xtrace: a drop-in replacement for the Langfuse server's public API on PostgreSQL.
//!
//! A request flows `startup` (route table, middleware) → `auth` (extractor resolving the
//! caller's project) → `api::<resource>` (parse and validate) → `store::<resource>` (SQL).
//! Configuration is read once (`config`); with no `DATABASE_URL` the binary runs its own
//! PostgreSQL cluster (`pg`). Start-up provisioning of projects and keys lives in
//! `bootstrap`; the OpenAPI document is generated from the handlers (`openapi`).

pub mod api;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod ingest;
pub mod openapi;
pub mod otel;
pub mod pg;
pub mod pricing;
pub mod prom;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod ui;

#[cfg(test)]
mod proptests;
