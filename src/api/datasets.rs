//! Langfuse datasets: `/api/public/v2/datasets` (create = upsert by name, list, get) and
//! the v1 routes older SDKs call (`/api/public/datasets`, with item ids and run names).

use actix_web::{get, post, web, HttpRequest};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::dataset_items::DatasetItem;
use crate::api::params::{name_candidates, path_segment};
use crate::api::{ErrorBody, MetaResponse};
use crate::auth::ProjectAuth;
use crate::domain::time;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::datasets::{self as store, DatasetRow};

/// Langfuse `Dataset`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// JSON schema of item inputs.
    #[schema(value_type = Option<Object>)]
    pub input_schema: Option<Value>,
    /// JSON schema of item expected outputs.
    #[schema(value_type = Option<Object>)]
    pub expected_output_schema: Option<Value>,
    /// Project.
    pub project_id: String,
    /// Creation time.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl From<DatasetRow> for Dataset {
    fn from(r: DatasetRow) -> Self {
        Dataset {
            id: r.id,
            name: r.name,
            description: r.description,
            metadata: r.metadata,
            input_schema: r.input_schema,
            expected_output_schema: r.expected_output_schema,
            project_id: r.project_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Langfuse `PaginatedDatasets`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaginatedDatasets {
    /// Datasets of the page.
    pub data: Vec<Dataset>,
    /// Pagination.
    pub meta: MetaResponse,
}

/// v1 list entry: a dataset with its item ids and run names.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetV1 {
    /// The dataset.
    #[serde(flatten)]
    pub dataset: Dataset,
    /// Item ids.
    pub items: Vec<String>,
    /// Run names.
    pub runs: Vec<String>,
}

/// v1 list response.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaginatedDatasetsV1 {
    /// Datasets of the page.
    pub data: Vec<DatasetV1>,
    /// Pagination.
    pub meta: MetaResponse,
}

/// v1 get response: a dataset with its items and run names.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetWithItems {
    /// The dataset.
    #[serde(flatten)]
    pub dataset: Dataset,
    /// Items (any status).
    pub items: Vec<DatasetItem>,
    /// Run names.
    pub runs: Vec<String>,
}

/// Langfuse `CreateDatasetRequest`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateDatasetRequest {
    /// Name (unique per project; an existing dataset is updated).
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// JSON schema of item inputs.
    #[schema(value_type = Option<Object>)]
    pub input_schema: Option<Value>,
    /// JSON schema of item expected outputs.
    #[schema(value_type = Option<Object>)]
    pub expected_output_schema: Option<Value>,
}

/// `page`/`limit` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page (from 1).
    pub page: Option<String>,
    /// Items per page (1–100, default 50).
    pub limit: Option<String>,
}

/// Parses `page` (≥ `min_page`) and `limit` (1–100, default 50); returns (page, limit, offset).
pub(crate) fn pagination(
    page: &Option<String>,
    limit: &Option<String>,
    min_page: u64,
) -> Result<(u64, u64, u64), ApiError> {
    let num = |field: &str, v: &Option<String>, default: u64, min: u64, max: u64| match v
        .as_deref()
        .map(str::trim)
    {
        None | Some("") => Ok(default),
        Some(s) => match s.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid_field(
                field,
                format!("{field} must be an integer between {min} and {max}"),
            )),
        },
    };
    let page = num("page", page, 1, min_page, u64::MAX >> 16)?;
    let limit = num("limit", limit, 50, 1, 100)?;
    Ok((page, limit, page.saturating_sub(1) * limit))
}

fn validate_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid_field(
            "name",
            "String must contain at least 1 character(s)",
        ));
    }
    Ok(())
}

/// The dataset named by path segment `seg`, or Langfuse's 404.
pub(crate) async fn dataset_from_path(
    state: &AppState,
    project_id: &str,
    req: &HttpRequest,
    seg: &str,
) -> Result<DatasetRow, ApiError> {
    let name = path_segment(req, seg)?;
    store::find_dataset_by_names(&state.pool, project_id, &name_candidates(&name))
        .await?
        .ok_or_else(|| ApiError::NotFound("Dataset not found".into()))
}

async fn upsert(
    state: &AppState,
    project_id: &str,
    body: CreateDatasetRequest,
) -> Result<Dataset, ApiError> {
    validate_name(&body.name)?;
    // JSON schemas are objects (Langfuse validates them as JSON Schema documents).
    for (field, v) in [
        ("inputSchema", &body.input_schema),
        ("expectedOutputSchema", &body.expected_output_schema),
    ] {
        if v.as_ref().is_some_and(|v| !v.is_object() && !v.is_null()) {
            return Err(ApiError::invalid_field(
                field,
                "Invalid input: expected a JSON Schema object",
            ));
        }
    }
    let row = store::upsert_dataset(
        &state.pool,
        project_id,
        &store::NewDataset {
            name: body.name,
            description: body.description,
            metadata: body.metadata,
            input_schema: body.input_schema,
            expected_output_schema: body.expected_output_schema,
        },
    )
    .await?;
    Ok(row.into())
}

/// Create a dataset, or update the one with the same name.
#[utoipa::path(tag = "Datasets", security(("BasicAuth" = []), ("BearerAuth" = [])), request_body = CreateDatasetRequest,
    responses((status = 200, body = Dataset), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[post("/api/public/v2/datasets")]
pub async fn create_dataset(
    auth: ProjectAuth,
    body: crate::api::params::CleanJson<CreateDatasetRequest>,
    state: web::Data<AppState>,
) -> Result<web::Json<Dataset>, ApiError> {
    Ok(web::Json(
        upsert(&state, &auth.project_id, body.into_inner()).await?,
    ))
}

/// List datasets, newest first.
#[utoipa::path(tag = "Datasets", security(("BasicAuth" = []), ("BearerAuth" = [])), params(PageQuery),
    responses((status = 200, body = PaginatedDatasets), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[get("/api/public/v2/datasets")]
pub async fn list_datasets(
    auth: ProjectAuth,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<web::Json<PaginatedDatasets>, ApiError> {
    let (page, limit, offset) = pagination(&query.page, &query.limit, 1)?;
    let (rows, total) = store::list_datasets(&state.pool, &auth.project_id, limit, offset).await?;
    Ok(web::Json(PaginatedDatasets {
        data: rows.into_iter().map(Dataset::from).collect(),
        meta: MetaResponse::new(page, limit, total),
    }))
}

/// Get a dataset by name.
#[utoipa::path(tag = "Datasets", security(("BasicAuth" = []), ("BearerAuth" = [])), params(("datasetName" = String, Path)),
    responses((status = 200, body = Dataset), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/public/v2/datasets/{datasetName}")]
pub async fn get_dataset(
    auth: ProjectAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<Dataset>, ApiError> {
    let row = dataset_from_path(&state, &auth.project_id, &req, "datasetName").await?;
    Ok(web::Json(row.into()))
}

/// v1: create a dataset (upsert by name).
#[utoipa::path(tag = "Datasets", security(("BasicAuth" = []), ("BearerAuth" = [])), request_body = CreateDatasetRequest,
    responses((status = 200, body = Dataset), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[post("/api/public/datasets")]
pub async fn create_dataset_v1(
    auth: ProjectAuth,
    body: crate::api::params::CleanJson<CreateDatasetRequest>,
    state: web::Data<AppState>,
) -> Result<web::Json<Dataset>, ApiError> {
    Ok(web::Json(
        upsert(&state, &auth.project_id, body.into_inner()).await?,
    ))
}

/// v1: list datasets with item ids and run names (`page` may be 0, read as 1).
#[utoipa::path(tag = "Datasets", security(("BasicAuth" = []), ("BearerAuth" = [])), params(PageQuery),
    responses((status = 200, body = PaginatedDatasetsV1), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[get("/api/public/datasets")]
pub async fn list_datasets_v1(
    auth: ProjectAuth,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<web::Json<PaginatedDatasetsV1>, ApiError> {
    let (page, limit, offset) = pagination(&query.page, &query.limit, 0)?;
    let (rows, total) = store::list_datasets(&state.pool, &auth.project_id, limit, offset).await?;
    let mut data = Vec::with_capacity(rows.len());
    for r in rows {
        let (items, runs) =
            store::dataset_item_ids_and_run_names(&state.pool, &auth.project_id, &r.id).await?;
        data.push(DatasetV1 {
            dataset: r.into(),
            items,
            runs,
        });
    }
    Ok(web::Json(PaginatedDatasetsV1 {
        data,
        meta: MetaResponse::new(page, limit, total),
    }))
}

/// v1: get a dataset with all its items and run names.
#[utoipa::path(tag = "Datasets", security(("BasicAuth" = []), ("BearerAuth" = [])), params(("datasetName" = String, Path)),
    responses((status = 200, body = DatasetWithItems), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/public/datasets/{datasetName}")]
pub async fn get_dataset_v1(
    auth: ProjectAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<DatasetWithItems>, ApiError> {
    let row = dataset_from_path(&state, &auth.project_id, &req, "datasetName").await?;
    let items = store::all_items(&state.pool, &auth.project_id, &row.id).await?;
    let (_, runs) =
        store::dataset_item_ids_and_run_names(&state.pool, &auth.project_id, &row.id).await?;
    Ok(web::Json(DatasetWithItems {
        dataset: row.into(),
        items: items.into_iter().map(DatasetItem::from).collect(),
        runs,
    }))
}
