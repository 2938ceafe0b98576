//! The write path shared by every door (Langfuse ingestion API, legacy routes, OTLP):
//! validated Langfuse ingestion events go through a bounded channel to a worker that
//! writes micro-batches in one transaction and acknowledges each request after commit.

use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::startup::AppState;

/// What the caller may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Everything (project key, admin token).
    Full,
    /// Only `score-create` and `sdk-log` (a public key alone); other events get a 401 entry.
    ScoresOnly,
}

/// One accepted event in a 207 answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IngestionSuccess {
    /// Envelope id.
    pub id: String,
    /// 201.
    pub status: u16,
}

/// One rejected event in a 207 answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IngestionError {
    /// Envelope id, or `unknown`.
    pub id: String,
    /// 400, 401, 404 or 500.
    pub status: u16,
    /// `Invalid request data`, `Authentication error`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Langfuse's 207 body.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct IngestionResponse {
    /// Events stored.
    pub successes: Vec<IngestionSuccess>,
    /// Events rejected, each with its reason.
    pub errors: Vec<IngestionError>,
}

/// Validates `events` (Langfuse envelopes `{id, timestamp, type, body, metadata?}`), queues
/// the valid ones as one unit and returns after they are committed. Whole-request failures
/// (queue full, database down) are errors; per-event problems are entries in the answer.
pub async fn submit(
    _state: &AppState,
    _project_id: &str,
    _events: Vec<Value>,
    _access: Access,
) -> Result<IngestionResponse, ApiError> {
    Err(ApiError::Internal(anyhow::anyhow!(
        "the ingestion pipeline is not built yet"
    )))
}
