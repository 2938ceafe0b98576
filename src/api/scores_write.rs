//! `POST /api/public/scores` (Langfuse `score_create`): one score through the ingest
//! pipeline, answered with its id once committed. Reads of scores live elsewhere.

use actix_web::{post, web, HttpResponse};
use chrono::Utc;
use serde_json::Value;

use crate::api::body::AdmittedJson;
use crate::api::ingestion::IdResponse;
use crate::api::ErrorBody;
use crate::auth::ScoreAuth;
use crate::error::{ApiError, ValidationIssue};
use crate::ingest;
use crate::ingest::event::{self, EntityKind, EventType, ValidEvent};
use crate::startup::AppState;

/// Create a score (Langfuse `score_create`). Basic auth or `Bearer <publicKey>`; a
/// missing or empty id is generated; `source` is `API` (default) or `ANNOTATION`.
#[utoipa::path(tag = "Score", security(("BasicAuth" = []), ("BearerAuth" = [])),
    request_body = Object,
    responses((status = 200, body = IdResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[post("/api/public/scores")]
pub async fn create_score(
    auth: ScoreAuth,
    body: AdmittedJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (body_value, _held) = body.into_parts();
    let mut body = body_value;
    event::strip_nul(&mut body);
    let Value::Object(mut body) = body else {
        return Err(ApiError::InvalidRequestData(vec![ValidationIssue::new(
            "invalid_type",
            "",
            "Invalid input: expected object",
        )]));
    };
    let id = match body.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => uuid::Uuid::new_v4().to_string(),
    };
    body.insert("id".into(), Value::String(id.clone()));
    let body = event::validate_score_body(&body, event::SCORE_SOURCES_POST).map_err(|issues| {
        ApiError::InvalidRequestData(
            issues
                .into_iter()
                .map(|mut i| {
                    if i.path.first().and_then(Value::as_str) == Some("body") {
                        i.path.remove(0);
                    }
                    i
                })
                .collect(),
        )
    })?;
    let event = ValidEvent {
        kind: EntityKind::Score,
        entity_id: id.clone(),
        event_id: uuid::Uuid::new_v4().to_string(),
        event_type: EventType::ScoreCreate,
        timestamp: chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis())
            .expect("now is representable"),
        body,
    };
    if !ingest::write(&state.ingest, &auth.project_id, vec![event]).await? {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "the database refused the score"
        )));
    }
    Ok(HttpResponse::Ok().json(IdResponse { id }))
}
