//! The store layer: the only place SQL lives. Plain async functions per table family;
//! every data function takes the project id as its first data argument.

pub mod annotation_queues;
pub mod comments;
pub mod dashboards;
pub mod datasets;
pub mod evaluations;
pub mod experiments;
pub mod feedback;
pub mod filter;
pub mod ingest;
pub mod llm_connections;
pub mod media;
pub mod metrics;
pub mod metrics_query;
pub mod models;
pub mod observations;
pub mod projects;
pub mod prompts;
pub mod score_configs;
pub mod scores;
pub mod sessions;
pub mod traces;
pub mod tsmetrics;
pub mod ui;
