//! Integration suite: the real application against a real PostgreSQL, over HTTP.
//! One module per resource; helpers in `helpers.rs`, SQL seeding in `seed.rs`.

mod helpers;
mod seed;

mod annotation_queues;
mod auth;
mod bad_input;
mod client;
mod comments;
mod dashboards;
mod datasets;
mod evaluations;
mod experiments;
mod feedback;
mod filters;
mod health;
mod hostile;
mod ingestion;
mod lifecycle;
mod llm_connections;
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
mod scores_v3;
mod sessions;
mod traces;
mod tsmetrics;
mod ui;
mod write_path;
mod zero_config;
