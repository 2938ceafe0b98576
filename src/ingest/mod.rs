//! The write path shared by every door (Langfuse ingestion API, legacy routes, scores,
//! the seed's `/v1/l/batch`, OTLP): validated Langfuse ingestion events go through a
//! bounded channel to a worker that writes micro-batches in one transaction and
//! acknowledges each request after commit.
//!
//! - `event`: envelope and body validation (per event, as Langfuse answers it).
//! - `merge`: the merge rules as an ordered fold over an entity's events (the reference;
//!   scores are folded with it from their log).
//! - `fold`: the same rules as per-field registers kept with each trace and observation
//!   row, so events apply incrementally in any arrival order.
//! - `score_config`: checking scores against their score config (Langfuse's
//!   `validateAndInflateScore`).
//! - `worker`: the sharded queues, group commit, fault classification, poison isolation.
//!
//! This module knows nothing of HTTP: callers hand it an [`IngestHandle`] and map
//! [`IngestError`] to their answers.

pub mod event;
pub mod fold;
pub mod merge;
pub mod score_config;
pub mod worker;

use serde::Serialize;
use serde_json::Value;

pub use event::{Rejection, ValidEvent, Validated};
pub use worker::{Admission, IngestHandle, MetricsWrite, WriteFailure, WriteRequest};

/// Why a whole request was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The queues or the byte budget are full: retry after a moment.
    #[error("the ingest queue is full")]
    Overloaded,
    /// The database is unreachable (or the workers stopped): retry later.
    #[error("the database is unavailable")]
    Unavailable,
    /// The worker failed on the batch holding this request; nothing was committed.
    #[error("the ingest worker failed on this request")]
    Internal,
}

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

impl IngestionSuccess {
    fn created(id: String) -> Self {
        Self { id, status: 201 }
    }
}

impl IngestionError {
    /// The entry Langfuse writes for a rejected event.
    fn from_rejection(r: &Rejection) -> Self {
        match r.status {
            401 => Self {
                id: r.event_id.clone(),
                status: 401,
                message: Some("Authentication error".into()),
                error: Some("Access Scope Denied".into()),
            },
            status => Self {
                id: r.event_id.clone(),
                status,
                message: Some("Invalid request data".into()),
                error: Some(r.error_text()),
            },
        }
    }

    fn internal(id: String) -> Self {
        Self {
            id,
            status: 500,
            message: None,
            error: Some("Internal Server Error".into()),
        }
    }
}

/// Validates `events` (Langfuse envelopes `{id, timestamp, type, body, metadata?}`), queues
/// the valid ones as one unit and returns after they are committed. Whole-request failures
/// (queue full, database down) are errors; per-event problems are entries in the answer.
pub async fn submit(
    ingest: &IngestHandle,
    project_id: &str,
    mut events: Vec<Value>,
    access: Access,
) -> Result<IngestionResponse, IngestError> {
    enum Outcome {
        Stored(String),
        Accepted(String),
        Rejected(Rejection),
    }
    let mut outcomes = Vec::with_capacity(events.len());
    let mut to_store = Vec::new();
    for raw in &mut events {
        event::strip_nul(raw);
        outcomes.push(match event::validate_event(raw, access) {
            Ok(Validated::Store(e)) => {
                let id = e.event_id.clone();
                to_store.push(e);
                Outcome::Stored(id)
            }
            Ok(Validated::Accept { event_id }) => Outcome::Accepted(event_id),
            Err(r) => Outcome::Rejected(r),
        });
    }
    drop(events); // the valid events own their bodies now
    let stored_ok = write(ingest, project_id, to_store).await?;
    let mut resp = IngestionResponse::default();
    for o in outcomes {
        match o {
            Outcome::Stored(id) if !stored_ok => resp.errors.push(IngestionError::internal(id)),
            Outcome::Stored(id) | Outcome::Accepted(id) => {
                resp.successes.push(IngestionSuccess::created(id))
            }
            Outcome::Rejected(r) => resp.errors.push(IngestionError::from_rejection(&r)),
        }
    }
    Ok(resp)
}

/// Queues already validated events as one request and waits for the commit.
/// `Ok(false)`: the database refused this request (its events were not stored).
pub async fn write(
    ingest: &IngestHandle,
    project_id: &str,
    events: Vec<ValidEvent>,
) -> Result<bool, IngestError> {
    if events.is_empty() {
        return Ok(true);
    }
    let req = WriteRequest {
        project_id: project_id.to_string(),
        events,
    };
    match ingest.write(req).await? {
        Ok(()) => Ok(true),
        Err(WriteFailure::Rejected) => Ok(false),
        Err(WriteFailure::Unavailable) => Err(IngestError::Unavailable),
        Err(WriteFailure::Internal) => Err(IngestError::Internal),
    }
}
