//! Experiments: `GET /api/public/experiments` and `GET /api/public/experiment-items`.
//!
//! An experiment is a dataset run and an experiment item one of its run items (as in
//! Langfuse, where experiments are the dataset runs the SDKs' `run_experiment` create;
//! `web/src/features/experiments/server/public/service.ts`). Rules: `fromStartTime` is
//! required; `limit` 1..100 (default 50), `scoreLimit` 1..50 (default 50); `fields`
//! selects groups (experiments: core, metadata, scores; items: core, dataset, io, metadata,
//! itemMetadata, experimentMetadata, scores; unknown groups are a 400); list filters are
//! comma-separated; `filter` takes conditions on id/name/datasetId (experiments) or
//! experimentId/experimentName/experimentItemId/datasetId (items). Only experiments with
//! items in the time range are listed, latest activity first; `itemCount`, `startTime` and
//! `endTime` cover the items in the range. Experiment scores are the run's scores; item
//! scores are those of the item's trace and its observations. An item's `id` is the run
//! item id, `experimentItemId` the dataset item id and `experimentItemVersion` the dataset
//! item's last change.

use actix_web::{get, web};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::api::params::QueryParams;
use crate::api::scores_v3::score_v3;
use crate::api::ErrorBody;
use crate::auth::ProjectAuth;
use crate::domain::{io, time};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::experiments::{self as store, Window, EXPERIMENTS, EXPERIMENT_ITEMS};
use crate::store::filter::Condition;
use crate::store::scores::{list_latest_per_key, ScoreKey, ScoreRow};

/// Langfuse `ExperimentsResponseMeta`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExperimentsResponseMeta {
    /// Cursor of the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Langfuse `ExperimentsResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExperimentsResponse {
    /// Experiments (`Experiment`), latest activity first.
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
    /// Pagination.
    pub meta: ExperimentsResponseMeta,
}

/// Langfuse `ExperimentItemsResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExperimentItemsResponse {
    /// Experiment items (`ExperimentItem`), newest first.
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
    /// Pagination.
    pub meta: ExperimentsResponseMeta,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cursor {
    v: u32,
    last_time: DateTime<Utc>,
    #[serde(default)]
    last_trace_id: String,
    last_id: String,
}

fn decode_cursor(q: &QueryParams) -> Result<Option<Cursor>, ApiError> {
    let Some(raw) = q.get("cursor") else {
        return Ok(None);
    };
    let bad = || ApiError::invalid_field("cursor", "Invalid cursor");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .map_err(|_| bad())?;
    let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if c.v != 1 {
        return Err(bad());
    }
    Ok(Some(c))
}

fn encode_cursor(c: &Cursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(c).expect("a cursor always serialises"))
}

/// The `fields` groups (or `default` when absent), each one of `allowed`.
fn field_groups(
    q: &QueryParams,
    allowed: &[&str],
    default: &[&str],
) -> Result<Vec<String>, ApiError> {
    let groups = q
        .fields()
        .unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect());
    if let Some(bad) = groups.iter().find(|g| !allowed.contains(&g.as_str())) {
        return Err(ApiError::invalid_field(
            "fields",
            format!(
                "Invalid field group: {bad}. Allowed: {}",
                allowed.join(", ")
            ),
        ));
    }
    Ok(groups)
}

fn window(q: &QueryParams) -> Result<Window, ApiError> {
    let from = q.datetime("fromStartTime")?.ok_or_else(|| {
        ApiError::InvalidRequestData(vec![crate::error::ValidationIssue::new(
            "invalid_type",
            "fromStartTime",
            "Required",
        )])
    })?;
    Ok(Window {
        from,
        to: q.datetime("toStartTime")?,
    })
}

/// The `filter` conditions plus the comma-separated list parameters on columns the
/// `filter` does not name.
fn conditions(
    q: &QueryParams,
    table: &'static crate::store::filter::Table,
    lists: &[(&str, &str)],
) -> Result<Vec<Condition>, ApiError> {
    let advanced = q.advanced_filter(table)?;
    let simple = lists
        .iter()
        .filter_map(|(param, column)| {
            let vs = q.list(param);
            (!vs.is_empty()).then(|| Condition::any_of(table, column, &vs))
        })
        .collect();
    Ok(crate::store::filter::merge(&advanced, simple))
}

fn scores_of(rows: &[ScoreRow], key: &str, by_run: bool) -> Vec<Value> {
    let groups = ["core".to_string(), "subject".to_string()];
    rows.iter()
        .filter(|s| {
            if by_run {
                s.dataset_run_id.as_deref() == Some(key)
            } else {
                s.trace_id.as_deref() == Some(key)
            }
        })
        .map(|s| score_v3(s, &groups))
        .collect()
}

/// Langfuse `experiments_list`: experiments (dataset runs) with items in the range.
#[utoipa::path(tag = "Experiments", security(("BasicAuth" = [])),
    params(("fields" = Option<String>, Query, description = "core, metadata, scores"),
        ("limit" = Option<u32>, Query), ("scoreLimit" = Option<u32>, Query),
        ("cursor" = Option<String>, Query), ("fromStartTime" = String, Query),
        ("toStartTime" = Option<String>, Query), ("id" = Option<String>, Query),
        ("name" = Option<String>, Query), ("datasetId" = Option<String>, Query),
        ("filter" = Option<String>, Query, description = "JSON array of conditions on id, name, datasetId")),
    responses((status = 200, body = ExperimentsResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[get("/api/public/experiments")]
pub async fn list_experiments(
    auth: ProjectAuth,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<ExperimentsResponse>, ApiError> {
    let groups = field_groups(&q, &["core", "metadata", "scores"], &["core"])?;
    let limit = q.int("limit", 1, 100)?.unwrap_or(50) as u64;
    let score_limit = q.int("scoreLimit", 1, 50)?.unwrap_or(50) as u64;
    let cursor = decode_cursor(&q)?;
    let w = window(&q)?;
    let conds = conditions(
        &q,
        &EXPERIMENTS,
        &[("id", "id"), ("name", "name"), ("datasetId", "datasetId")],
    )?;
    let (rows, more) = store::list_experiments(
        &state.pool,
        &auth.project_id,
        &w,
        &conds,
        cursor.as_ref().map(|c| (c.last_time, c.last_id.as_str())),
        limit,
    )
    .await?;
    let has = |g: &str| groups.iter().any(|x| x == g);
    let scores = if has("scores") {
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        list_latest_per_key(
            &state.pool,
            &auth.project_id,
            ScoreKey::DatasetRun,
            &ids,
            score_limit,
        )
        .await?
    } else {
        Vec::new()
    };
    let data = rows
        .iter()
        .map(|r| {
            let mut o = Map::new();
            o.insert("id".into(), json!(r.id));
            o.insert("name".into(), json!(r.name));
            o.insert("description".into(), json!(r.description));
            o.insert("startTime".into(), json!(time::format(&r.start_time)));
            o.insert("endTime".into(), json!(time::format(&r.end_time)));
            o.insert("itemCount".into(), json!(r.item_count));
            o.insert("datasetId".into(), json!(r.dataset_id));
            if has("metadata") {
                o.insert("metadata".into(), json!(r.metadata));
            }
            if has("scores") {
                o.insert("scores".into(), json!(scores_of(&scores, &r.id, true)));
            }
            Value::Object(o)
        })
        .collect();
    let next = match rows.last() {
        Some(last) if more => Some(encode_cursor(&Cursor {
            v: 1,
            last_time: last.last_time,
            last_trace_id: String::new(),
            last_id: last.id.clone(),
        })),
        _ => None,
    };
    Ok(web::Json(ExperimentsResponse {
        data,
        meta: ExperimentsResponseMeta { cursor: next },
    }))
}

/// Langfuse `experiments_listItems`: experiment items (dataset run items) in the range.
#[utoipa::path(tag = "Experiments", security(("BasicAuth" = [])),
    params(("fields" = Option<String>, Query, description = "core, dataset, io, metadata, itemMetadata, experimentMetadata, scores"),
        ("limit" = Option<u32>, Query), ("scoreLimit" = Option<u32>, Query),
        ("cursor" = Option<String>, Query), ("fromStartTime" = String, Query),
        ("toStartTime" = Option<String>, Query), ("experimentId" = Option<String>, Query),
        ("experimentName" = Option<String>, Query), ("experimentItemId" = Option<String>, Query),
        ("datasetId" = Option<String>, Query),
        ("filter" = Option<String>, Query, description = "JSON array of conditions on experimentId, experimentName, experimentItemId, datasetId")),
    responses((status = 200, body = ExperimentItemsResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[get("/api/public/experiment-items")]
pub async fn list_experiment_items(
    auth: ProjectAuth,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<ExperimentItemsResponse>, ApiError> {
    let groups = field_groups(
        &q,
        &[
            "core",
            "dataset",
            "io",
            "metadata",
            "itemMetadata",
            "experimentMetadata",
            "scores",
        ],
        &["core", "dataset"],
    )?;
    let limit = q.int("limit", 1, 100)?.unwrap_or(50) as u64;
    let score_limit = q.int("scoreLimit", 1, 50)?.unwrap_or(50) as u64;
    let cursor = decode_cursor(&q)?;
    let w = window(&q)?;
    let conds = conditions(
        &q,
        &EXPERIMENT_ITEMS,
        &[
            ("experimentId", "experimentId"),
            ("experimentName", "experimentName"),
            ("experimentItemId", "experimentItemId"),
            ("datasetId", "datasetId"),
        ],
    )?;
    let (rows, more) = store::list_items(
        &state.pool,
        &auth.project_id,
        &w,
        &conds,
        cursor
            .as_ref()
            .map(|c| (c.last_time, c.last_trace_id.as_str(), c.last_id.as_str())),
        limit,
    )
    .await?;
    let has = |g: &str| groups.iter().any(|x| x == g);
    let scores = if has("scores") {
        let mut ids: Vec<String> = rows.iter().map(|r| r.trace_id.clone()).collect();
        ids.sort();
        ids.dedup();
        list_latest_per_key(
            &state.pool,
            &auth.project_id,
            ScoreKey::Trace,
            &ids,
            score_limit,
        )
        .await?
    } else {
        Vec::new()
    };
    let data = rows
        .iter()
        .map(|r| {
            let mut o = Map::new();
            o.insert("id".into(), json!(r.id));
            o.insert("traceId".into(), json!(r.trace_id));
            o.insert("startTime".into(), json!(time::format(&r.start_time)));
            o.insert(
                "endTime".into(),
                json!(r.end_time.as_ref().map(time::format)),
            );
            o.insert("level".into(), json!(r.level));
            o.insert("environment".into(), json!(r.environment));
            o.insert("experimentId".into(), json!(r.experiment_id));
            o.insert("experimentName".into(), json!(r.experiment_name));
            o.insert("experimentItemId".into(), json!(r.experiment_item_id));
            if has("dataset") {
                o.insert("experimentDatasetId".into(), json!(r.dataset_id));
                o.insert(
                    "experimentItemVersion".into(),
                    json!(r.experiment_item_version.as_ref().map(time::format)),
                );
            }
            if has("io") {
                o.insert("input".into(), io::render(r.input.clone()));
                o.insert("output".into(), io::render(r.output.clone()));
                o.insert(
                    "expectedOutput".into(),
                    io::render(r.expected_output.clone()),
                );
            }
            if has("metadata") {
                o.insert("metadata".into(), io::render_metadata(r.metadata.clone()));
            }
            if has("itemMetadata") {
                o.insert(
                    "experimentItemMetadata".into(),
                    json!(r.experiment_item_metadata),
                );
            }
            if has("experimentMetadata") {
                o.insert("experimentMetadata".into(), json!(r.experiment_metadata));
                o.insert(
                    "experimentDescription".into(),
                    json!(r.experiment_description),
                );
            }
            if has("scores") {
                o.insert(
                    "scores".into(),
                    json!(scores_of(&scores, &r.trace_id, false)),
                );
            }
            Value::Object(o)
        })
        .collect();
    let next = match rows.last() {
        Some(last) if more => Some(encode_cursor(&Cursor {
            v: 1,
            last_time: last.start_time,
            last_trace_id: last.trace_id.clone(),
            last_id: last.id.clone(),
        })),
        _ => None,
    };
    Ok(web::Json(ExperimentItemsResponse {
        data,
        meta: ExperimentsResponseMeta { cursor: next },
    }))
}
