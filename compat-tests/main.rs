//! Integration suite: the real application against a real PostgreSQL, over HTTP.
//! One module per resource; helpers in `helpers.rs`.

mod helpers;

mod auth;
mod health;
mod ingestion;
mod models;
mod openapi;
mod otel;
mod pricing;
mod projects;
mod tsmetrics;
mod zero_config;
