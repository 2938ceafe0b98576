//! Integration suite: the real application against a real PostgreSQL, over HTTP.
//! One module per resource; helpers in `helpers.rs`, SQL seeding in `seed.rs`.

mod helpers;
mod seed;

mod auth;
mod comments;
mod datasets;
mod filters;
mod health;
mod ingestion;
mod lifecycle;
mod media;
mod metrics_api;
mod metrics_query;
mod models;
mod observations;
mod openapi;
mod otel;
mod pricing;
mod projects;
mod prompts;
mod score_configs;
mod scores_read;
mod sessions;
mod traces;
mod tsmetrics;
mod ui;
mod zero_config;
