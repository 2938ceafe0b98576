//! Score reads and deletion: `GET /api/public/scores` and `/api/public/scores/{scoreId}`
//! (v1, trace scores), `GET /api/public/v2/scores` and `/api/public/v2/scores/{scoreId}`,
//! `DELETE /api/public/scores/{scoreId}`. Score creation is the ingestion slice's.
//!
//! Shape: `value` is omitted for TEXT scores; `stringValue` is the label (CATEGORICAL),
//! `"True"`/`"False"` (BOOLEAN), the text (TEXT, CORRECTION), null for NUMERIC.

use actix_web::{delete, get, web, HttpResponse};
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::api::params::PathParam;
use crate::api::params::QueryParams;
use crate::api::{ErrorBody, MessageResponse, MetaResponse};
use crate::auth::ProjectAuth;
use crate::domain::filter::CmpOp;
use crate::domain::{io, time, usage};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::scores::{self as store, ScoreFilter, ScoreRow};

/// Which version of the score object to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreShape {
    /// v1: trace scores, no `sessionId`/`datasetRunId`.
    V1,
    /// v2: every score kind.
    V2,
}

/// Renders a score as Langfuse's API object (`ScoreV1` / `Score`).
pub fn score_object(r: &ScoreRow, shape: ScoreShape) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("id".into(), json!(r.id));
    o.insert("projectId".into(), json!(r.project_id));
    o.insert("environment".into(), json!(r.environment));
    o.insert("name".into(), json!(r.name));
    let string_value = r
        .string_value
        .clone()
        .or_else(|| r.long_string_value.clone());
    match r.data_type.as_str() {
        "TEXT" => {
            o.insert("stringValue".into(), json!(string_value));
        }
        "BOOLEAN" => {
            let v = r.value.unwrap_or(0.0);
            o.insert("value".into(), usage::number(v));
            let text =
                string_value.unwrap_or_else(|| if v != 0.0 { "True" } else { "False" }.to_string());
            o.insert("stringValue".into(), json!(text));
        }
        "NUMERIC" => {
            o.insert(
                "value".into(),
                r.value.map(usage::number).unwrap_or(Value::Null),
            );
            o.insert("stringValue".into(), Value::Null);
        }
        _ => {
            // CATEGORICAL (value defaults to 0 without a config) and CORRECTION.
            o.insert("value".into(), usage::number(r.value.unwrap_or(0.0)));
            o.insert("stringValue".into(), json!(string_value));
        }
    }
    o.insert("dataType".into(), json!(r.data_type));
    o.insert("source".into(), json!(r.source));
    o.insert("authorUserId".into(), json!(r.author_user_id));
    o.insert("comment".into(), json!(r.comment));
    o.insert(
        "metadata".into(),
        io::render_metadata(Some(r.metadata.clone())),
    );
    o.insert("configId".into(), json!(r.config_id));
    o.insert("queueId".into(), json!(r.queue_id));
    o.insert("executionTraceId".into(), json!(r.execution_trace_id));
    o.insert("createdAt".into(), json!(time::format(&r.created_at)));
    o.insert("updatedAt".into(), json!(time::format(&r.updated_at)));
    o.insert("timestamp".into(), json!(time::format(&r.timestamp)));
    o.insert("traceId".into(), json!(r.trace_id));
    o.insert("observationId".into(), json!(r.observation_id));
    if shape == ScoreShape::V2 {
        o.insert("sessionId".into(), json!(r.session_id));
        o.insert("datasetRunId".into(), json!(r.dataset_run_id));
    }
    o
}

/// A list item: the score plus the attributes of its trace.
fn list_item(r: &ScoreRow, shape: ScoreShape, with_trace: bool) -> Value {
    let mut o = score_object(r, shape);
    if with_trace {
        let trace = if r.trace_found {
            let mut t = json!({
                "userId": r.trace_user_id,
                "tags": r.trace_tags.clone().unwrap_or_default(),
                "environment": r.trace_environment,
            });
            if shape == ScoreShape::V2 {
                t["sessionId"] = json!(r.trace_session_id);
            }
            t
        } else if shape == ScoreShape::V1 {
            json!({"userId": null, "tags": [], "environment": null})
        } else {
            Value::Null
        };
        o.insert("trace".into(), trace);
    }
    Value::Object(o)
}

/// Langfuse `GetScoresResponse`: a page of scores.
#[derive(Debug, Serialize, ToSchema)]
pub struct GetScoresResponse {
    /// Scores, newest first.
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
    /// Pagination.
    pub meta: MetaResponse,
}

const DATA_TYPES: &[(&str, &str)] = &[
    ("NUMERIC", "NUMERIC"),
    ("BOOLEAN", "BOOLEAN"),
    ("CATEGORICAL", "CATEGORICAL"),
    ("TEXT", "TEXT"),
    ("CORRECTION", "CORRECTION"),
];

/// `operator` values of the score lists (with `value`).
const VALUE_OPERATORS: &[(&str, CmpOp)] = &[
    ("<", CmpOp::Lt),
    (">", CmpOp::Gt),
    ("<=", CmpOp::Le),
    (">=", CmpOp::Ge),
    ("!=", CmpOp::Ne),
    ("=", CmpOp::Eq),
];

const SOURCES: &[(&str, &str)] = &[
    ("API", "API"),
    ("EVAL", "EVAL"),
    ("ANNOTATION", "ANNOTATION"),
];

fn parse_filter(q: &QueryParams, shape: ScoreShape) -> Result<(ScoreFilter, bool), ApiError> {
    let operator = q.one_of("operator", VALUE_OPERATORS)?;
    let value = q.float("value")?;
    let with_trace = match q.fields() {
        None => true,
        Some(f) => {
            if let Some(bad) = f.iter().find(|g| *g != "score" && *g != "trace") {
                return Err(ApiError::invalid_field(
                    "fields",
                    format!("Invalid field group: {bad}. Allowed: score, trace"),
                ));
            }
            f.iter().any(|g| g == "trace")
        }
    };
    let v2 = shape == ScoreShape::V2;
    let filter = ScoreFilter {
        trace_scores_only: !v2,
        user_id: q.string("userId"),
        name: q.string("name"),
        from_timestamp: q.datetime("fromTimestamp")?,
        to_timestamp: q.datetime("toTimestamp")?,
        source: q.one_of("source", SOURCES)?.map(str::to_string),
        value: operator.zip(value),
        score_ids: q.list("scoreIds"),
        config_id: q.string("configId"),
        queue_id: q.string("queueId"),
        data_type: q.one_of("dataType", DATA_TYPES)?.map(str::to_string),
        trace_tags: q.list("traceTags"),
        environments: q.list("environment"),
        session_ids: if v2 { q.list("sessionId") } else { Vec::new() },
        trace_ids: if v2 { q.list("traceId") } else { Vec::new() },
        observation_ids: if v2 {
            q.list("observationId")
        } else {
            Vec::new()
        },
        dataset_run_ids: if v2 {
            q.list("datasetRunId")
        } else {
            Vec::new()
        },
        advanced: q.advanced_filter(&crate::store::filter::SCORES)?,
    };
    if v2 && !with_trace && (filter.user_id.is_some() || !filter.trace_tags.is_empty()) {
        return Err(ApiError::InvalidRequest(
            "Trace filters (userId, traceTags) require the 'trace' field group".into(),
        ));
    }
    Ok((filter, with_trace))
}

async fn list(
    auth: ProjectAuth,
    q: QueryParams,
    state: web::Data<AppState>,
    shape: ScoreShape,
) -> Result<web::Json<GetScoresResponse>, ApiError> {
    let page = q.default_page()?;
    let (filter, with_trace) = parse_filter(&q, shape)?;
    let (rows, total) = store::list_scores(&state.pool, &auth.project_id, &filter, page).await?;
    Ok(web::Json(GetScoresResponse {
        data: rows
            .iter()
            .map(|r| list_item(r, shape, with_trace))
            .collect(),
        meta: MetaResponse::new(page.page, page.limit, total),
    }))
}

/// Langfuse v1 `score_get`: trace scores, newest first, with filters.
#[utoipa::path(tag = "Score", security(("BasicAuth" = [])),
    params(("page" = Option<u32>, Query), ("limit" = Option<u32>, Query), ("userId" = Option<String>, Query),
        ("name" = Option<String>, Query), ("fromTimestamp" = Option<String>, Query), ("toTimestamp" = Option<String>, Query),
        ("source" = Option<String>, Query), ("operator" = Option<String>, Query), ("value" = Option<f64>, Query),
        ("scoreIds" = Option<String>, Query), ("configId" = Option<String>, Query), ("queueId" = Option<String>, Query),
        ("dataType" = Option<String>, Query), ("traceTags" = Option<Vec<String>>, Query),
        ("environment" = Option<Vec<String>>, Query), ("fields" = Option<String>, Query),
        ("filter" = Option<String>, Query, description = "JSON array of filter conditions {type, column, operator, value, key?}; a condition on a column replaces the simple parameter on that column")),
    responses((status = 200, body = GetScoresResponse), (status = 400, body = ErrorBody)))]
#[get("/api/public/scores")]
pub async fn list_scores(
    auth: ProjectAuth,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<GetScoresResponse>, ApiError> {
    list(auth, q, state, ScoreShape::V1).await
}

/// Langfuse `score_v_2_get`: scores of every kind, newest first, with filters.
#[utoipa::path(tag = "ScoreV2", security(("BasicAuth" = [])),
    params(("page" = Option<u32>, Query), ("limit" = Option<u32>, Query), ("userId" = Option<String>, Query),
        ("name" = Option<String>, Query), ("fromTimestamp" = Option<String>, Query), ("toTimestamp" = Option<String>, Query),
        ("source" = Option<String>, Query), ("operator" = Option<String>, Query), ("value" = Option<f64>, Query),
        ("scoreIds" = Option<String>, Query), ("configId" = Option<String>, Query), ("queueId" = Option<String>, Query),
        ("dataType" = Option<String>, Query), ("traceTags" = Option<Vec<String>>, Query),
        ("environment" = Option<Vec<String>>, Query), ("sessionId" = Option<String>, Query),
        ("traceId" = Option<String>, Query), ("observationId" = Option<String>, Query),
        ("datasetRunId" = Option<String>, Query), ("fields" = Option<String>, Query),
        ("filter" = Option<String>, Query, description = "JSON array of filter conditions {type, column, operator, value, key?}; a condition on a column replaces the simple parameter on that column")),
    responses((status = 200, body = GetScoresResponse), (status = 400, body = ErrorBody)))]
#[get("/api/public/v2/scores")]
pub async fn list_scores_v2(
    auth: ProjectAuth,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<GetScoresResponse>, ApiError> {
    list(auth, q, state, ScoreShape::V2).await
}

async fn get_one(
    auth: ProjectAuth,
    id: &str,
    state: web::Data<AppState>,
    shape: ScoreShape,
) -> Result<HttpResponse, ApiError> {
    let row = store::find_score(&state.pool, &auth.project_id, id)
        .await?
        .filter(|r| shape == ScoreShape::V2 || r.trace_id.is_some())
        .ok_or_else(|| ApiError::NotFound("Score not found".into()))?;
    Ok(HttpResponse::Ok().json(Value::Object(score_object(&row, shape))))
}

/// Langfuse v1 `score_getById`: one trace score.
#[utoipa::path(tag = "Score", security(("BasicAuth" = [])), params(("scoreId" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
#[get("/api/public/scores/{scoreId}")]
pub async fn get_score(
    auth: ProjectAuth,
    id: PathParam,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    get_one(auth, &id, state, ScoreShape::V1).await
}

/// Langfuse `score_v_2_get_by_id`: one score of any kind.
#[utoipa::path(tag = "ScoreV2", security(("BasicAuth" = [])), params(("scoreId" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
#[get("/api/public/v2/scores/{scoreId}")]
pub async fn get_score_v2(
    auth: ProjectAuth,
    id: PathParam,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    get_one(auth, &id, state, ScoreShape::V2).await
}

/// Langfuse `score_delete`: 202 once the score is gone.
#[utoipa::path(tag = "Score", security(("BasicAuth" = [])), params(("scoreId" = String, Path)),
    responses((status = 202, body = MessageResponse), (status = 404, body = ErrorBody)))]
#[delete("/api/public/scores/{scoreId}")]
pub async fn delete_score(
    auth: ProjectAuth,
    id: PathParam,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !store::delete_score(&state.pool, &auth.project_id, &id).await? {
        return Err(ApiError::NotFound("Score not found".into()));
    }
    Ok(HttpResponse::Accepted().json(MessageResponse {
        message: "Score deletion queued successfully".into(),
    }))
}
