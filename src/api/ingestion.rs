//! Write doors into the ingest pipeline (COMPAT-NOTES §4): Langfuse's batch ingestion
//! endpoint, its legacy single-entity routes (§4.8) and the seed xtrace's `/v1/l/batch`.
//! Each converts what it receives into Langfuse ingestion events and hands them to
//! `ingest`; the answer is sent after the events are committed.

use actix_web::http::StatusCode;
use actix_web::{patch, post, web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::api::body::AdmittedJson;
use crate::api::ErrorBody;
use crate::auth::{ProjectAuth, ScoreAuth};
use crate::error::{ApiError, ValidationIssue};
use crate::ingest::{self, Access, IngestionResponse, Validated};
use crate::startup::AppState;

/// Langfuse's batch ingestion body.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documentation only: the handler parses the body itself
pub struct IngestionRequest {
    /// Envelopes `{id, timestamp, type, body, metadata?}`.
    #[schema(value_type = Vec<Object>)]
    batch: Vec<Value>,
    /// Informational SDK metadata.
    metadata: Option<Value>,
}

/// `{"id": …}` answer of single-entity writes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdResponse {
    /// The entity id (generated when the request had none).
    pub id: String,
}

/// The seed xtrace's answer to `/v1/l/batch`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeedBatchResponse {
    /// `Request Successful.`
    pub message: String,
}

/// Langfuse's envelope-level 400: `{"message":"Invalid request data","errors":[…]}`.
fn envelope_error(errors: Vec<String>) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({"message": "Invalid request data", "errors": errors}))
}

/// Batch ingestion of traces, observations, scores and SDK logs (Langfuse
/// `ingestion_batch`). Always 207 with per-event `successes` and `errors`; sent after
/// the accepted events are committed.
#[utoipa::path(tag = "Ingestion", security(("BasicAuth" = []), ("BearerAuth" = [])),
    request_body = IngestionRequest,
    responses((status = 207, body = IngestionResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
#[post("/api/public/ingestion")]
pub async fn ingestion_batch(
    auth: ScoreAuth,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = crate::api::body::read_admitted(
        &req,
        payload.into_inner(),
        state.config.max_body_bytes,
        &state.ingest,
        crate::api::body::inflate_error,
    )
    .await?;
    let _held = body.admission;
    let body: Value = match crate::api::body::parse_json(body.bytes).await {
        Ok(v) => v,
        Err(e) => return Ok(envelope_error(vec![format!("Invalid JSON body: {e}")])),
    };
    let batch = match body {
        Value::Object(mut m) => match m.remove("batch") {
            Some(Value::Array(batch)) => batch,
            other => {
                let got = other.as_ref().map(json_type).unwrap_or("undefined");
                return Ok(envelope_error(vec![format!(
                    "batch: Invalid input: expected array, received {got}"
                )]));
            }
        },
        other => {
            return Ok(envelope_error(vec![format!(
                "Invalid input: expected object, received {}",
                json_type(&other)
            )]))
        }
    };
    let access = if auth.full_access() {
        Access::Full
    } else {
        Access::ScoresOnly
    };
    let answer = ingest::submit(&state.ingest, &auth.project_id, batch, access).await?;
    Ok(HttpResponse::build(StatusCode::MULTI_STATUS).json(answer))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Issues of a body validated as an ingestion event, with paths relative to the body.
fn body_issues(issues: Vec<ValidationIssue>, prefix: &str) -> Vec<ValidationIssue> {
    issues
        .into_iter()
        .map(|mut i| {
            if i.path.first().and_then(Value::as_str) == Some("body") {
                i.path.remove(0);
            }
            if !prefix.is_empty() {
                let mut p: Vec<Value> = prefix
                    .split('.')
                    .map(|s| match s.parse::<u64>() {
                        Ok(n) => json!(n),
                        Err(_) => json!(s),
                    })
                    .collect();
                p.append(&mut i.path);
                i.path = p;
            }
            i
        })
        .collect()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Builds an envelope of `event_type` around `body` and validates it.
fn validate_single(
    event_type: &str,
    body: Map<String, Value>,
    prefix: &str,
) -> Result<Option<ingest::ValidEvent>, Vec<ValidationIssue>> {
    let envelope = json!({
        "id": new_id(),
        "timestamp": crate::ingest::event::format_timestamp(&Utc::now()),
        "type": event_type,
        "body": Value::Object(body),
    });
    match ingest::event::validate_event(&envelope, Access::Full) {
        Ok(Validated::Store(e)) => Ok(Some(e)),
        Ok(Validated::Accept { .. }) => Ok(None),
        Err(r) => Err(body_issues(r.issues, prefix)),
    }
}

/// The body as an object with NULs removed, or a 400.
fn object_body(body: Value) -> Result<Map<String, Value>, ApiError> {
    let mut body = body;
    ingest::event::strip_nul(&mut body);
    match body {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::InvalidRequestData(vec![ValidationIssue::new(
            "invalid_type",
            "",
            format!(
                "Invalid input: expected object, received {}",
                json_type(&other)
            ),
        )])),
    }
}

/// Renames `from` to `to` (legacy PATCH ids, `prompt`/`completion`).
fn rename(body: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = body.remove(from) {
        body.insert(to.to_string(), v);
    }
}

/// Validates one legacy body as `event_type`, writes it, answers `{id}`.
async fn write_single(
    state: &AppState,
    project_id: &str,
    event_type: &str,
    mut body: Map<String, Value>,
    id_key: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    match id_key {
        // PATCH routes name the entity under their own key, which is required.
        Some(key) => {
            match body.get(key) {
                Some(Value::String(s)) if !s.is_empty() => {}
                other => {
                    let got = other.map(json_type).unwrap_or("undefined");
                    return Err(ApiError::InvalidRequestData(vec![ValidationIssue::new(
                        "invalid_type",
                        key,
                        format!("Invalid input: expected string, received {got}"),
                    )]));
                }
            }
            rename(&mut body, key, "id");
        }
        None => {
            let missing = match body.get("id") {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                _ => false,
            };
            if missing {
                body.insert("id".into(), Value::String(new_id()));
            }
        }
    }
    let event = validate_single(event_type, body, "").map_err(ApiError::InvalidRequestData)?;
    let event = event.expect("an id was ensured above, so the event is stored");
    let id = event.entity_id.clone();
    if !ingest::write(&state.ingest, project_id, vec![event]).await? {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "the database refused the {event_type} event"
        )));
    }
    Ok(HttpResponse::Ok().json(IdResponse { id }))
}

/// Create a trace (legacy `POST /api/public/traces`); a missing id is generated.
#[utoipa::path(tag = "Trace", security(("BasicAuth" = []), ("BearerAuth" = [])),
    request_body = Object,
    responses((status = 200, body = IdResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
#[post("/api/public/traces")]
pub async fn create_trace_legacy(
    auth: ProjectAuth,
    body: AdmittedJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (body_value, _held) = body.into_parts();
    let body = object_body(body_value)?;
    write_single(&state, &auth.project_id, "trace-create", body, None).await
}

/// Create a span (legacy `POST /api/public/spans`).
#[utoipa::path(tag = "Span", security(("BasicAuth" = []), ("BearerAuth" = [])),
    request_body = Object,
    responses((status = 200, body = IdResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
#[post("/api/public/spans")]
pub async fn create_span_legacy(
    auth: ProjectAuth,
    body: AdmittedJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (body_value, _held) = body.into_parts();
    let body = object_body(body_value)?;
    write_single(&state, &auth.project_id, "span-create", body, None).await
}

/// Update a span by `spanId` (legacy `PATCH /api/public/spans`).
#[utoipa::path(tag = "Span", security(("BasicAuth" = []), ("BearerAuth" = [])),
    request_body = Object,
    responses((status = 200, body = IdResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
#[patch("/api/public/spans")]
pub async fn update_span_legacy(
    auth: ProjectAuth,
    body: AdmittedJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (body_value, _held) = body.into_parts();
    let body = object_body(body_value)?;
    write_single(
        &state,
        &auth.project_id,
        "span-update",
        body,
        Some("spanId"),
    )
    .await
}

/// Create a generation (legacy `POST /api/public/generations`; `prompt` and
/// `completion` are its input and output).
#[utoipa::path(tag = "Generation", security(("BasicAuth" = []), ("BearerAuth" = [])),
    request_body = Object,
    responses((status = 200, body = IdResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
#[post("/api/public/generations")]
pub async fn create_generation_legacy(
    auth: ProjectAuth,
    body: AdmittedJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (body_value, _held) = body.into_parts();
    let mut body = object_body(body_value)?;
    rename(&mut body, "prompt", "input");
    rename(&mut body, "completion", "output");
    write_single(&state, &auth.project_id, "generation-create", body, None).await
}

/// Update a generation by `generationId` (legacy `PATCH /api/public/generations`).
#[utoipa::path(tag = "Generation", security(("BasicAuth" = []), ("BearerAuth" = [])),
    request_body = Object,
    responses((status = 200, body = IdResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
#[patch("/api/public/generations")]
pub async fn update_generation_legacy(
    auth: ProjectAuth,
    body: AdmittedJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (body_value, _held) = body.into_parts();
    let mut body = object_body(body_value)?;
    rename(&mut body, "prompt", "input");
    rename(&mut body, "completion", "output");
    write_single(
        &state,
        &auth.project_id,
        "generation-update",
        body,
        Some("generationId"),
    )
    .await
}

/// Create an event (legacy `POST /api/public/events`).
#[utoipa::path(tag = "Event", security(("BasicAuth" = []), ("BearerAuth" = [])),
    request_body = Object,
    responses((status = 200, body = IdResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
#[post("/api/public/events")]
pub async fn create_event_legacy(
    auth: ProjectAuth,
    body: AdmittedJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (body_value, _held) = body.into_parts();
    let body = object_body(body_value)?;
    write_single(&state, &auth.project_id, "event-create", body, None).await
}

/// Observation fields the seed's batch format shares with Langfuse bodies.
const SEED_OBSERVATION_KEYS: &[&str] = &[
    "id",
    "traceId",
    "name",
    "startTime",
    "endTime",
    "completionStartTime",
    "model",
    "modelParameters",
    "input",
    "output",
    "usage",
    "usageDetails",
    "costDetails",
    "level",
    "statusMessage",
    "parentObservationId",
    "version",
    "metadata",
    "environment",
    "promptName",
];

/// Converts the seed's `{trace?, observations[]}` into ingestion events: a
/// `trace-create`, one `<type>-create` per observation, and a minimal `trace-create` for
/// each trace an observation names that the request does not carry (the seed created
/// those rows too). Any invalid part fails the whole request.
fn seed_events(body: Map<String, Value>) -> Result<Vec<ingest::ValidEvent>, Vec<ValidationIssue>> {
    let mut events = Vec::new();
    let mut issues = Vec::new();
    let mut trace_id = None;
    match body.get("trace") {
        None | Some(Value::Null) => {}
        Some(Value::Object(t)) => {
            let mut t = t.clone();
            if t.get("sessionId").is_none() {
                rename(&mut t, "session_id", "sessionId");
            }
            trace_id = t.get("id").and_then(Value::as_str).map(str::to_string);
            if trace_id.is_none() {
                issues.push(ValidationIssue::new(
                    "invalid_type",
                    "trace.id",
                    "Invalid input: expected string, received undefined",
                ));
            }
            match validate_single("trace-create", t, "trace") {
                Ok(e) => events.extend(e),
                Err(i) => issues.extend(i),
            }
        }
        Some(v) => issues.push(ValidationIssue::new(
            "invalid_type",
            "trace",
            format!("Invalid input: expected object, received {}", json_type(v)),
        )),
    }
    let observations = match body.get("observations") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(v) => {
            issues.push(ValidationIssue::new(
                "invalid_type",
                "observations",
                format!("Invalid input: expected array, received {}", json_type(v)),
            ));
            Vec::new()
        }
    };
    let mut implied = Vec::new();
    for (i, o) in observations.into_iter().enumerate() {
        let prefix = format!("observations.{i}");
        let Value::Object(o) = o else {
            issues.push(ValidationIssue::new(
                "invalid_type",
                &prefix,
                "Invalid input: expected object",
            ));
            continue;
        };
        let kind = o
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("GENERATION")
            .to_ascii_lowercase();
        let event_type = format!("{kind}-create");
        if ingest::event::EventType::parse(&event_type)
            .and_then(|t| t.observation_type())
            .is_none()
        {
            issues.push(ValidationIssue::new(
                "invalid_value",
                &format!("{prefix}.type"),
                "Invalid option: expected an observation type such as GENERATION, SPAN or EVENT",
            ));
            continue;
        }
        let mut body: Map<String, Value> = SEED_OBSERVATION_KEYS
            .iter()
            .filter_map(|k| Some((k.to_string(), o.get(*k)?.clone())))
            .collect();
        // The seed accepted promptVersion as a string.
        if let Some(v) = o.get("promptVersion") {
            let v = match v {
                Value::String(s) => s.parse::<i64>().map(Value::from).unwrap_or(v.clone()),
                other => other.clone(),
            };
            body.insert("promptVersion".into(), v);
        }
        if let Some(t) = body.get("traceId").and_then(Value::as_str) {
            if Some(t) != trace_id.as_deref() {
                let start = body.get("startTime").cloned();
                let env = body.get("environment").cloned();
                implied.push((t.to_string(), start, env));
            }
        }
        match validate_single(&event_type, body, &prefix) {
            Ok(e) => events.extend(e),
            Err(i) => issues.extend(i),
        }
    }
    for (id, start, env) in implied {
        let mut t = Map::new();
        t.insert("id".into(), Value::String(id.clone()));
        if let Some(s) = start {
            t.insert("timestamp".into(), s);
        }
        if let Some(e) = env {
            t.insert("environment".into(), e);
        }
        // A fixed envelope id: repeated batches add no new events for the implied trace.
        if let Ok(Some(mut e)) = validate_single("trace-create", t, "") {
            e.event_id = format!("xtrace-implied-trace:{id}");
            events.push(e);
        }
    }
    if issues.is_empty() {
        Ok(events)
    } else {
        Err(issues)
    }
}

/// The seed xtrace's batch format (`{"trace": {...}?, "observations": [...]}`), kept for
/// its clients; stored through the same pipeline as Langfuse ingestion.
#[utoipa::path(tag = "Ingestion", security(("BasicAuth" = []), ("BearerAuth" = [])),
    request_body = Object,
    responses((status = 200, body = SeedBatchResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[post("/v1/l/batch")]
pub async fn seed_batch(
    auth: ProjectAuth,
    body: AdmittedJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (body_value, _held) = body.into_parts();
    let body = object_body(body_value)?;
    let events = seed_events(body).map_err(ApiError::InvalidRequestData)?;
    if !ingest::write(&state.ingest, &auth.project_id, events).await? {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "the database refused the batch"
        )));
    }
    Ok(HttpResponse::Ok().json(SeedBatchResponse {
        message: "Request Successful.".into(),
    }))
}
