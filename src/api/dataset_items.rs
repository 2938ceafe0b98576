//! Langfuse dataset items (`/api/public/dataset-items`): upsert by id, get, list (ACTIVE
//! items only, as Langfuse) and delete.

use actix_web::{delete, get, post, web, HttpRequest};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::datasets::pagination;
use crate::api::params::{name_candidates, path_segment};
use crate::api::{ErrorBody, MessageResponse, MetaResponse};
use crate::auth::ProjectAuth;
use crate::domain::time;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::datasets::{self as store, ItemRow};

/// Status of a dataset item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DatasetStatus {
    /// Used by experiments and listed.
    Active,
    /// Kept but not listed.
    Archived,
}

impl DatasetStatus {
    fn as_str(self) -> &'static str {
        match self {
            DatasetStatus::Active => "ACTIVE",
            DatasetStatus::Archived => "ARCHIVED",
        }
    }
}

/// Langfuse `DatasetItem`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetItem {
    /// Id.
    pub id: String,
    /// `ACTIVE` or `ARCHIVED`.
    pub status: String,
    /// Input.
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    /// Expected output.
    #[schema(value_type = Option<Object>)]
    pub expected_output: Option<Value>,
    /// Metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Trace the item came from.
    pub source_trace_id: Option<String>,
    /// Observation the item came from.
    pub source_observation_id: Option<String>,
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
    /// Media referenced by the item (always present; the SDKs require the key).
    #[schema(value_type = Vec<Object>)]
    pub media_references: Vec<Value>,
}

impl From<ItemRow> for DatasetItem {
    fn from(r: ItemRow) -> Self {
        DatasetItem {
            id: r.id,
            status: r.status,
            input: r.input,
            expected_output: r.expected_output,
            metadata: r.metadata,
            source_trace_id: r.source_trace_id,
            source_observation_id: r.source_observation_id,
            dataset_id: r.dataset_id,
            dataset_name: r.dataset_name,
            created_at: r.created_at,
            updated_at: r.updated_at,
            media_references: Vec::new(),
        }
    }
}

/// Langfuse `PaginatedDatasetItems`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaginatedDatasetItems {
    /// Items of the page.
    pub data: Vec<DatasetItem>,
    /// Pagination.
    pub meta: MetaResponse,
}

/// Langfuse `CreateDatasetItemRequest`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateDatasetItemRequest {
    /// Dataset the item belongs to.
    pub dataset_name: String,
    /// Input.
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    /// Expected output.
    #[schema(value_type = Option<Object>)]
    pub expected_output: Option<Value>,
    /// Metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Source trace.
    pub source_trace_id: Option<String>,
    /// Source observation.
    pub source_observation_id: Option<String>,
    /// Id (1–255 characters); an existing item with this id is updated.
    pub id: Option<String>,
    /// Status (default `ACTIVE`).
    pub status: Option<DatasetStatus>,
}

/// Query of `GET /api/public/dataset-items`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListItemsQuery {
    /// Dataset name.
    pub dataset_name: Option<String>,
    /// Source trace.
    pub source_trace_id: Option<String>,
    /// Source observation.
    pub source_observation_id: Option<String>,
    /// Point in time (ISO 8601): items created at or before it (requires `datasetName`).
    pub version: Option<String>,
    /// Page (from 1).
    pub page: Option<String>,
    /// Items per page (1–100, default 50).
    pub limit: Option<String>,
}

/// Create a dataset item, or update the item with the same id.
#[utoipa::path(tag = "DatasetItems", security(("BasicAuth" = []), ("BearerAuth" = [])), request_body = CreateDatasetItemRequest,
    responses((status = 200, body = DatasetItem), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[post("/api/public/dataset-items")]
pub async fn create_dataset_item(
    auth: ProjectAuth,
    body: crate::api::params::CleanJson<CreateDatasetItemRequest>,
    state: web::Data<AppState>,
) -> Result<web::Json<DatasetItem>, ApiError> {
    let body = body.into_inner();
    if let Some(id) = &body.id {
        if id.is_empty() || id.chars().count() > 255 {
            return Err(ApiError::invalid_field(
                "id",
                "id must be 1 to 255 characters",
            ));
        }
    }
    let dataset = store::find_dataset_by_name(&state.pool, &auth.project_id, &body.dataset_name)
        .await?
        .ok_or_else(|| ApiError::NotFound("Dataset not found".into()))?;
    let item = store::NewItem {
        id: body.id,
        input: body.input,
        expected_output: body.expected_output,
        metadata: body.metadata,
        source_trace_id: body.source_trace_id,
        source_observation_id: body.source_observation_id,
        status: body.status.map(|s| s.as_str().to_string()),
    };
    match store::upsert_item(&state.pool, &auth.project_id, &dataset.id, &item).await? {
        store::UpsertItem::Ok(row) => Ok(web::Json((*row).into())),
        store::UpsertItem::OtherDataset => Err(ApiError::NotFound(
            "The dataset item id already exists in another dataset".into(),
        )),
    }
}

/// Get a dataset item by id (any status).
#[utoipa::path(tag = "DatasetItems", security(("BasicAuth" = []), ("BearerAuth" = [])), params(("id" = String, Path)),
    responses((status = 200, body = DatasetItem), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/public/dataset-items/{id}")]
pub async fn get_dataset_item(
    auth: ProjectAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<DatasetItem>, ApiError> {
    let id = path_segment(&req, "id")?;
    store::find_item(&state.pool, &auth.project_id, &id)
        .await?
        .map(|r| web::Json(r.into()))
        .ok_or_else(|| ApiError::NotFound("Dataset item not found".into()))
}

/// List ACTIVE dataset items, newest first.
#[utoipa::path(tag = "DatasetItems", security(("BasicAuth" = []), ("BearerAuth" = [])), params(ListItemsQuery),
    responses((status = 200, body = PaginatedDatasetItems), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/public/dataset-items")]
pub async fn list_dataset_items(
    auth: ProjectAuth,
    query: web::Query<ListItemsQuery>,
    state: web::Data<AppState>,
) -> Result<web::Json<PaginatedDatasetItems>, ApiError> {
    let (page, limit, offset) = pagination(&query.page, &query.limit, 1)?;
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let dataset_name = nonempty(&query.dataset_name);
    let created_before = match nonempty(&query.version) {
        None => None,
        Some(_) if dataset_name.is_none() => {
            return Err(ApiError::InvalidRequest(
                "version requires datasetName".into(),
            ))
        }
        Some(v) => Some(
            DateTime::parse_from_rfc3339(&v)
                .map_err(|_| ApiError::invalid_field("version", "Invalid datetime"))?
                .with_timezone(&Utc),
        ),
    };
    let dataset_id = match &dataset_name {
        None => None,
        Some(name) => Some(
            store::find_dataset_by_names(&state.pool, &auth.project_id, &name_candidates(name))
                .await?
                .ok_or_else(|| ApiError::NotFound("Dataset not found".into()))?
                .id,
        ),
    };
    let filter = store::ItemFilter {
        dataset_id,
        source_trace_id: nonempty(&query.source_trace_id),
        source_observation_id: nonempty(&query.source_observation_id),
        created_before,
    };
    let (rows, total) =
        store::list_items(&state.pool, &auth.project_id, &filter, limit, offset).await?;
    Ok(web::Json(PaginatedDatasetItems {
        data: rows.into_iter().map(DatasetItem::from).collect(),
        meta: MetaResponse::new(page, limit, total),
    }))
}

/// Delete a dataset item.
#[utoipa::path(tag = "DatasetItems", security(("BasicAuth" = []), ("BearerAuth" = [])), params(("id" = String, Path)),
    responses((status = 200, body = MessageResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/api/public/dataset-items/{id}")]
pub async fn delete_dataset_item(
    auth: ProjectAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let id = path_segment(&req, "id")?;
    if !store::delete_item(&state.pool, &auth.project_id, &id).await? {
        return Err(ApiError::NotFound("Dataset item not found".into()));
    }
    Ok(web::Json(MessageResponse {
        message: "Dataset item successfully deleted".into(),
    }))
}
