//! Langfuse dataset runs (`/api/public/datasets/{datasetName}/runs[/{runName}]`) and run
//! items (`/api/public/dataset-run-items`). A run item links a dataset item to a trace or
//! observation; experiments create it while their spans are still open, so the trace is
//! not required to exist, and the run is created on first use.

use actix_web::{delete, get, post, web, HttpRequest};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::datasets::{dataset_from_path, pagination, PageQuery};
use crate::api::params::{name_candidates, path_segment};
use crate::api::{ErrorBody, MessageResponse, MetaResponse};
use crate::auth::ProjectAuth;
use crate::domain::time;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::datasets::{self as store, RunItemRow, RunRow};

/// Langfuse `DatasetRun`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetRun {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Dataset id.
    pub dataset_id: String,
    /// Dataset name.
    pub dataset_name: String,
    /// Creation time.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl From<RunRow> for DatasetRun {
    fn from(r: RunRow) -> Self {
        DatasetRun {
            id: r.id,
            name: r.name,
            description: r.description,
            metadata: r.metadata,
            dataset_id: r.dataset_id,
            dataset_name: r.dataset_name,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Langfuse `DatasetRunItem`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetRunItem {
    /// Id.
    pub id: String,
    /// Run id (the SDKs' experiment id).
    pub dataset_run_id: String,
    /// Run name.
    pub dataset_run_name: String,
    /// Item.
    pub dataset_item_id: String,
    /// Trace.
    pub trace_id: String,
    /// Observation.
    pub observation_id: Option<String>,
    /// Creation time.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl From<RunItemRow> for DatasetRunItem {
    fn from(r: RunItemRow) -> Self {
        DatasetRunItem {
            id: r.id,
            dataset_run_id: r.dataset_run_id,
            dataset_run_name: r.dataset_run_name,
            dataset_item_id: r.dataset_item_id,
            trace_id: r.trace_id,
            observation_id: r.observation_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Langfuse `DatasetRunWithItems`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetRunWithItems {
    /// The run.
    #[serde(flatten)]
    pub run: DatasetRun,
    /// Its items, newest first.
    pub dataset_run_items: Vec<DatasetRunItem>,
}

/// Langfuse `PaginatedDatasetRuns`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaginatedDatasetRuns {
    /// Runs of the page.
    pub data: Vec<DatasetRun>,
    /// Pagination.
    pub meta: MetaResponse,
}

/// Langfuse `PaginatedDatasetRunItems`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaginatedDatasetRunItems {
    /// Run items of the page.
    pub data: Vec<DatasetRunItem>,
    /// Pagination.
    pub meta: MetaResponse,
}

/// Langfuse `CreateDatasetRunItemRequest` (unknown keys are rejected, as Langfuse does).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateDatasetRunItemRequest {
    /// Run name; the run is created on first use.
    pub run_name: String,
    /// Run description (taken from the call that creates the run).
    pub run_description: Option<String>,
    /// Run metadata (taken from the call that creates the run).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Item.
    pub dataset_item_id: String,
    /// Trace (need not exist yet).
    pub trace_id: Option<String>,
    /// Observation (its trace is looked up when `traceId` is absent).
    pub observation_id: Option<String>,
    /// Dataset version the experiment ran on (accepted, not stored).
    pub dataset_version: Option<String>,
    /// Creation time.
    pub created_at: Option<DateTime<Utc>>,
}

/// Query of `GET /api/public/dataset-run-items`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListRunItemsQuery {
    /// Dataset id.
    pub dataset_id: Option<String>,
    /// Run name.
    pub run_name: Option<String>,
    /// Page (from 1).
    pub page: Option<String>,
    /// Items per page (1–100, default 50).
    pub limit: Option<String>,
}

/// Link a dataset item to a trace/observation in a run (creating the run on first use).
#[utoipa::path(tag = "DatasetRunItems", security(("BasicAuth" = []), ("BearerAuth" = [])), request_body = CreateDatasetRunItemRequest,
    responses((status = 200, body = DatasetRunItem), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[post("/api/public/dataset-run-items")]
pub async fn create_dataset_run_item(
    auth: ProjectAuth,
    body: crate::api::params::CleanJson<CreateDatasetRunItemRequest>,
    state: web::Data<AppState>,
) -> Result<web::Json<DatasetRunItem>, ApiError> {
    let body = body.into_inner();
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let (trace_id, observation_id) = (nonempty(body.trace_id), nonempty(body.observation_id));
    if trace_id.is_none() && observation_id.is_none() {
        return Err(ApiError::invalid_field(
            "traceId",
            "Either observationId or traceId must be provided",
        ));
    }
    if body.run_name.is_empty() {
        return Err(ApiError::invalid_field(
            "runName",
            "String must contain at least 1 character(s)",
        ));
    }
    let item = store::find_item(&state.pool, &auth.project_id, &body.dataset_item_id)
        .await?
        .filter(|i| i.status == "ACTIVE")
        .ok_or_else(|| ApiError::NotFound("Dataset item not found".into()))?;
    let trace_id = match (trace_id, &observation_id) {
        (Some(t), _) => t,
        (None, Some(o)) => store::observation_trace_id(&state.pool, &auth.project_id, o)
            .await?
            .ok_or_else(|| ApiError::NotFound("Observation not found".into()))?,
        (None, None) => unreachable!("checked above"),
    };
    let row = store::create_run_item(
        &state.pool,
        &auth.project_id,
        &store::NewRunItem {
            run_name: body.run_name,
            run_description: body.run_description,
            metadata: body.metadata,
            dataset_id: item.dataset_id,
            dataset_item_id: item.id,
            trace_id,
            observation_id,
            created_at: body.created_at,
        },
    )
    .await?;
    Ok(web::Json(row.into()))
}

/// List the run items of a run.
#[utoipa::path(tag = "DatasetRunItems", security(("BasicAuth" = []), ("BearerAuth" = [])), params(ListRunItemsQuery),
    responses((status = 200, body = PaginatedDatasetRunItems), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/public/dataset-run-items")]
pub async fn list_dataset_run_items(
    auth: ProjectAuth,
    query: web::Query<ListRunItemsQuery>,
    state: web::Data<AppState>,
) -> Result<web::Json<PaginatedDatasetRunItems>, ApiError> {
    let (page, limit, offset) = pagination(&query.page, &query.limit, 1)?;
    let (Some(dataset_id), Some(run_name)) = (&query.dataset_id, &query.run_name) else {
        return Err(ApiError::invalid_field(
            if query.dataset_id.is_none() {
                "datasetId"
            } else {
                "runName"
            },
            "Required",
        ));
    };
    let dataset = store::find_dataset_by_id(&state.pool, &auth.project_id, dataset_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Dataset not found".into()))?;
    let run = store::find_run_by_names(
        &state.pool,
        &auth.project_id,
        &dataset.id,
        &name_candidates(run_name),
    )
    .await?
    .ok_or_else(|| ApiError::NotFound("Dataset run not found".into()))?;
    let (rows, total) =
        store::list_run_items(&state.pool, &auth.project_id, &run.id, limit, offset).await?;
    Ok(web::Json(PaginatedDatasetRunItems {
        data: rows.into_iter().map(DatasetRunItem::from).collect(),
        meta: MetaResponse::new(page, limit, total),
    }))
}

/// List the runs of a dataset, newest first.
#[utoipa::path(tag = "Datasets", security(("BasicAuth" = []), ("BearerAuth" = [])), params(("datasetName" = String, Path), PageQuery),
    responses((status = 200, body = PaginatedDatasetRuns), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/public/datasets/{datasetName}/runs")]
pub async fn list_dataset_runs(
    auth: ProjectAuth,
    req: HttpRequest,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<web::Json<PaginatedDatasetRuns>, ApiError> {
    let (page, limit, offset) = pagination(&query.page, &query.limit, 1)?;
    let dataset = dataset_from_path(&state, &auth.project_id, &req, "datasetName").await?;
    let (rows, total) =
        store::list_runs(&state.pool, &auth.project_id, &dataset.id, limit, offset).await?;
    Ok(web::Json(PaginatedDatasetRuns {
        data: rows.into_iter().map(DatasetRun::from).collect(),
        meta: MetaResponse::new(page, limit, total),
    }))
}

async fn run_from_path(
    state: &AppState,
    project_id: &str,
    req: &HttpRequest,
) -> Result<RunRow, ApiError> {
    let dataset = dataset_from_path(state, project_id, req, "datasetName").await?;
    let run_name = path_segment(req, "runName")?;
    store::find_run_by_names(
        &state.pool,
        project_id,
        &dataset.id,
        &name_candidates(&run_name),
    )
    .await?
    .ok_or_else(|| ApiError::NotFound("Dataset run not found".into()))
}

/// Get a run with its items.
#[utoipa::path(tag = "Datasets", security(("BasicAuth" = []), ("BearerAuth" = [])), params(("datasetName" = String, Path), ("runName" = String, Path)),
    responses((status = 200, body = DatasetRunWithItems), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/public/datasets/{datasetName}/runs/{runName}")]
pub async fn get_dataset_run(
    auth: ProjectAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<DatasetRunWithItems>, ApiError> {
    let run = run_from_path(&state, &auth.project_id, &req).await?;
    let (items, _) =
        store::list_run_items(&state.pool, &auth.project_id, &run.id, i64::MAX as u64, 0).await?;
    Ok(web::Json(DatasetRunWithItems {
        run: run.into(),
        dataset_run_items: items.into_iter().map(DatasetRunItem::from).collect(),
    }))
}

/// Delete a run and its items.
#[utoipa::path(tag = "Datasets", security(("BasicAuth" = []), ("BearerAuth" = [])), params(("datasetName" = String, Path), ("runName" = String, Path)),
    responses((status = 200, body = MessageResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/api/public/datasets/{datasetName}/runs/{runName}")]
pub async fn delete_dataset_run(
    auth: ProjectAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let run = run_from_path(&state, &auth.project_id, &req).await?;
    store::delete_run(&state.pool, &auth.project_id, &run.id).await?;
    Ok(web::Json(MessageResponse {
        message: "Dataset run successfully deleted".into(),
    }))
}
