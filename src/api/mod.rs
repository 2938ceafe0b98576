//! HTTP handlers, one module per Langfuse resource. Handlers are thin: extract, call one
//! store or ingest function, map the result.

pub mod annotation_queues;
pub mod body;
pub mod comments;
pub mod dashboards;
pub mod dataset_items;
pub mod dataset_runs;
pub mod datasets;
pub mod evaluations;
pub mod experiments;
pub mod feedback;
pub mod health;
pub mod ingestion;
pub mod llm_connections;
pub mod media;
pub mod metrics;
pub mod metrics_query;
pub mod models;
pub mod observations;
pub mod otel;
pub mod params;
pub mod projects;
pub mod prompts;
pub mod score_configs;
pub mod scores;
pub mod scores_v3;
pub mod scores_write;
pub mod sessions;
pub mod traces;
pub mod tsmetrics;
pub mod unstable;

use serde::Serialize;
use utoipa::ToSchema;

/// Pagination `meta` of Langfuse list endpoints.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetaResponse {
    /// Current page (1-based).
    pub page: u64,
    /// Items per page.
    pub limit: u64,
    /// Items across all pages.
    pub total_items: u64,
    /// `ceil(totalItems / limit)`, 0 when empty.
    pub total_pages: u64,
}

impl MetaResponse {
    /// Meta for `total_items` items at `page`/`limit`.
    pub fn new(page: u64, limit: u64, total_items: u64) -> Self {
        Self {
            page,
            limit,
            total_items,
            total_pages: total_items.div_ceil(limit.max(1)),
        }
    }
}

/// Langfuse's error body (`message` plus, on most routes, `error`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub message: String,
    /// Error class name (`InvalidRequestError`, `LangfuseNotFoundError`, …) or zod issues.
    pub error: Option<serde_json::Value>,
}

/// `{"message": "..."}` bodies of successful deletes and similar.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageResponse {
    /// Confirmation text.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::MetaResponse;

    #[test]
    fn total_pages_is_exact() {
        assert_eq!(MetaResponse::new(1, 50, 0).total_pages, 0);
        assert_eq!(MetaResponse::new(1, 50, 50).total_pages, 1);
        assert_eq!(MetaResponse::new(1, 50, 51).total_pages, 2);
    }
}
