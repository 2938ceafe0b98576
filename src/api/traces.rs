//! Trace reads and deletion: `GET /api/public/traces` (filters, `orderBy`, `fields`),
//! `GET /api/public/traces/{traceId}` (observations and scores embedded),
//! `DELETE /api/public/traces/{traceId}` and `DELETE /api/public/traces` (bulk).
//! Trace creation is the ingestion slice's.

use actix_web::{delete, get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::observations::ObservationView;
use crate::api::params::PathParam;
use crate::api::params::QueryParams;
use crate::api::scores::{score_object, ScoreShape};
use crate::api::{ErrorBody, MessageResponse, MetaResponse};
use crate::auth::ProjectAuth;
use crate::domain::{io, time};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store;
use crate::store::traces::{TraceFilter, TraceRow, ORDER_COLUMNS};

/// Langfuse `Trace`: the trace's own attributes.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    /// Id.
    pub id: String,
    /// Project.
    pub project_id: String,
    /// Name.
    pub name: Option<String>,
    /// Timestamp.
    #[serde(serialize_with = "time::serialize")]
    pub timestamp: DateTime<Utc>,
    /// Environment.
    pub environment: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Bookmarked flag.
    pub bookmarked: bool,
    /// Public flag.
    pub public: bool,
    /// Release.
    pub release: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// User id.
    pub user_id: Option<String>,
    /// Session id.
    pub session_id: Option<String>,
    /// Input (strings holding JSON come back parsed).
    pub input: Value,
    /// Output.
    pub output: Value,
    /// Metadata.
    pub metadata: Value,
    /// Created.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    /// Updated.
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: DateTime<Utc>,
    /// Always null (Langfuse keeps the key).
    pub external_id: Option<String>,
}

impl From<TraceRow> for Trace {
    fn from(r: TraceRow) -> Self {
        Trace {
            id: r.id,
            project_id: r.project_id,
            name: r.name,
            timestamp: r.timestamp,
            environment: r.environment,
            tags: r.tags,
            bookmarked: r.bookmarked,
            public: r.public,
            release: r.release,
            version: r.version,
            user_id: r.user_id,
            session_id: r.session_id,
            input: io::render(r.input),
            output: io::render(r.output),
            metadata: io::render_metadata(Some(r.metadata)),
            created_at: r.created_at,
            updated_at: r.updated_at,
            external_id: None,
        }
    }
}

/// Langfuse `TraceWithDetails` (list item): observation and score ids.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TraceWithDetails {
    /// The trace.
    #[serde(flatten)]
    pub trace: Trace,
    /// `/project/<projectId>/traces/<traceId>`.
    pub html_path: String,
    /// Observation ids (empty when the group is excluded).
    pub observations: Vec<String>,
    /// Score ids (empty when the group is excluded).
    pub scores: Vec<String>,
    /// Sum of the observations' cost in USD (-1 when metrics are excluded).
    pub total_cost: f64,
    /// Seconds from the first to the last observation time (-1 when excluded).
    pub latency: f64,
}

/// Langfuse `TraceWithFullDetails`: observations and scores as full objects.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TraceWithFullDetails {
    /// The trace.
    #[serde(flatten)]
    pub trace: Trace,
    /// `/project/<projectId>/traces/<traceId>`.
    pub html_path: String,
    /// Observations in start order.
    pub observations: Vec<ObservationView>,
    /// v1 score objects.
    #[schema(value_type = Vec<Object>)]
    pub scores: Vec<Value>,
    /// Sum of `calculatedTotalCost` (-1 when metrics are excluded).
    pub total_cost: f64,
    /// Latest time − earliest start in seconds (-1 when excluded).
    pub latency: f64,
}

/// Langfuse `Traces`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Traces {
    /// The page.
    pub data: Vec<TraceWithDetails>,
    /// Pagination.
    pub meta: MetaResponse,
}

/// Field groups of `fields=` (core is always included).
#[derive(Debug, Clone, Copy)]
struct Groups {
    io: bool,
    scores: bool,
    observations: bool,
    metrics: bool,
}

fn groups(q: &QueryParams) -> Groups {
    match q.fields() {
        None => Groups {
            io: true,
            scores: true,
            observations: true,
            metrics: true,
        },
        // Unknown group names are ignored, as Langfuse does.
        Some(f) => {
            let has = |g: &str| f.iter().any(|x| x == g);
            Groups {
                io: has("io"),
                scores: has("scores"),
                observations: has("observations"),
                metrics: has("metrics"),
            }
        }
    }
}

fn html_path(project_id: &str, trace_id: &str) -> String {
    format!("/project/{project_id}/traces/{trace_id}")
}

/// Langfuse `trace_list`: traces with filters, ordering and field groups.
#[utoipa::path(tag = "Trace", security(("BasicAuth" = [])),
    params(("page" = Option<u32>, Query), ("limit" = Option<u32>, Query), ("userId" = Option<String>, Query),
        ("name" = Option<String>, Query), ("sessionId" = Option<String>, Query),
        ("fromTimestamp" = Option<String>, Query), ("toTimestamp" = Option<String>, Query),
        ("orderBy" = Option<String>, Query), ("tags" = Option<Vec<String>>, Query),
        ("version" = Option<String>, Query), ("release" = Option<String>, Query),
        ("environment" = Option<Vec<String>>, Query), ("fields" = Option<String>, Query),
        ("filter" = Option<String>, Query, description = "JSON array of filter conditions {type, column, operator, value, key?}; a condition on a column replaces the simple parameter on that column")),
    responses((status = 200, body = Traces), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[get("/api/public/traces")]
pub async fn list_traces(
    auth: ProjectAuth,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<Traces>, ApiError> {
    let page = q.default_page()?;
    let g = groups(&q);
    let filter = TraceFilter {
        user_id: q.string("userId"),
        name: q.string("name"),
        session_id: q.string("sessionId"),
        from_timestamp: q.datetime("fromTimestamp")?,
        to_timestamp: q.datetime("toTimestamp")?,
        tags: q.list("tags"),
        version: q.string("version"),
        release: q.string("release"),
        environments: q.list("environment"),
        advanced: q.advanced_filter(&store::filter::TRACES)?,
        order: q.order_by(ORDER_COLUMNS)?,
    };
    let pid = &auth.project_id;
    let (rows, total) = store::traces::list_traces(&state.pool, pid, &filter, page, g.io).await?;
    let aggregates = if g.observations || g.scores || g.metrics {
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        store::traces::aggregates(&state.pool, pid, &ids).await?
    } else {
        Vec::new()
    };
    let data = rows
        .into_iter()
        .map(|r| {
            let agg = aggregates
                .iter()
                .find(|a| a.trace_id == r.id)
                .cloned()
                .unwrap_or_default();
            TraceWithDetails {
                html_path: html_path(pid, &r.id),
                observations: if g.observations {
                    agg.observation_ids
                } else {
                    Vec::new()
                },
                scores: if g.scores { agg.score_ids } else { Vec::new() },
                total_cost: if g.metrics { agg.total_cost } else { -1.0 },
                latency: if g.metrics { agg.latency } else { -1.0 },
                trace: r.into(),
            }
        })
        .collect();
    Ok(web::Json(Traces {
        data,
        meta: MetaResponse::new(page.page, page.limit, total),
    }))
}

/// Langfuse `trace_get`: one trace with its observations and scores.
#[utoipa::path(tag = "Trace", security(("BasicAuth" = [])),
    params(("traceId" = String, Path), ("fields" = Option<String>, Query)),
    responses((status = 200, body = TraceWithFullDetails), (status = 404, body = ErrorBody)))]
#[get("/api/public/traces/{traceId}")]
pub async fn get_trace(
    auth: ProjectAuth,
    trace_id: PathParam,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<TraceWithFullDetails>, ApiError> {
    let g = groups(&q);
    let pid = &auth.project_id;
    let row = store::traces::find_trace(&state.pool, pid, &trace_id, g.io)
        .await?
        .ok_or_else(|| ApiError::not_found("Trace", &trace_id))?;
    let (observations, scores) = tokio::try_join!(
        async {
            if g.observations || g.metrics {
                store::observations::list_for_trace(&state.pool, pid, &trace_id).await
            } else {
                Ok(Vec::new())
            }
        },
        async {
            if g.scores {
                store::scores::list_for_trace(&state.pool, pid, &trace_id).await
            } else {
                Ok(Vec::new())
            }
        },
    )?;
    let latency = trace_latency(&observations);
    let observations: Vec<ObservationView> = observations
        .into_iter()
        .map(ObservationView::from)
        .collect();
    let total_cost = observations.iter().map(ObservationView::total_cost).sum();
    Ok(web::Json(TraceWithFullDetails {
        html_path: html_path(pid, &row.id),
        total_cost: if g.metrics { total_cost } else { -1.0 },
        latency: if g.metrics { latency } else { -1.0 },
        observations: if g.observations {
            observations
        } else {
            Vec::new()
        },
        scores: scores
            .iter()
            .map(|s| Value::Object(score_object(s, ScoreShape::V1)))
            .collect(),
        trace: row.into(),
    }))
}

/// Seconds from the earliest observation time to the latest (end, or start when no end).
fn trace_latency(obs: &[store::observations::ObservationRow]) -> f64 {
    let first = obs
        .iter()
        .map(|o| o.end_time.map_or(o.start_time, |e| e.min(o.start_time)))
        .min();
    let last = obs
        .iter()
        .map(|o| o.end_time.map_or(o.start_time, |e| e.max(o.start_time)))
        .max();
    match (first, last) {
        (Some(f), Some(l)) => (l - f).num_milliseconds() as f64 / 1000.0,
        _ => 0.0,
    }
}

/// Langfuse `trace_delete`: the trace with its observations and scores.
#[utoipa::path(tag = "Trace", security(("BasicAuth" = [])), params(("traceId" = String, Path)),
    responses((status = 200, body = MessageResponse), (status = 401, body = ErrorBody)))]
#[delete("/api/public/traces/{traceId}")]
pub async fn delete_trace(
    auth: ProjectAuth,
    trace_id: PathParam,
    state: web::Data<AppState>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let mut tx = state.pool.begin().await?;
    store::traces::delete_traces(&mut tx, &auth.project_id, &[trace_id.into_inner()]).await?;
    tx.commit().await?;
    Ok(web::Json(MessageResponse {
        message: "Trace deleted successfully".into(),
    }))
}

/// Body of the bulk delete (strict: unknown keys are refused, as Langfuse does).
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteTracesBody {
    /// 1 to 1000 trace ids.
    pub trace_ids: Vec<String>,
}

/// Langfuse `trace_deleteMultiple`: traces with their observations and scores.
#[utoipa::path(tag = "Trace", security(("BasicAuth" = [])), request_body = DeleteTracesBody,
    responses((status = 200, body = MessageResponse), (status = 400, body = ErrorBody)))]
#[delete("/api/public/traces")]
pub async fn delete_traces(
    auth: ProjectAuth,
    body: web::Json<DeleteTracesBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let ids = &body.trace_ids;
    if ids.is_empty() {
        return Err(ApiError::InvalidRequestData(vec![
            crate::error::ValidationIssue::new(
                "too_small",
                "traceIds",
                "Array must contain at least 1 element(s)",
            ),
        ]));
    }
    if ids.len() > 1000 {
        return Err(ApiError::InvalidRequestData(vec![
            crate::error::ValidationIssue::new(
                "too_big",
                "traceIds",
                "Array must contain at most 1000 element(s)",
            ),
        ]));
    }
    let mut tx = state.pool.begin().await?;
    store::traces::delete_traces(&mut tx, &auth.project_id, ids).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(MessageResponse {
        message: "Traces deleted successfully".into(),
    }))
}
