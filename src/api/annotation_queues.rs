//! Annotation queues: `GET/POST /api/public/annotation-queues`, `GET …/{queueId}`,
//! items (`GET/POST …/{queueId}/items`, `GET/PATCH/DELETE …/items/{itemId}`) and
//! assignments (`POST/DELETE …/{queueId}/assignments`).
//!
//! Rules (Langfuse `web/src/pages/api/public/annotation-queues/**`): queue names are unique
//! per project (409), every score config id must be a config of the project (400) and at
//! least one is required; items default to PENDING and get `completedAt` when created or
//! patched as COMPLETED; bodies reject unknown keys. xtrace has no user accounts, so an
//! assignment is recorded for any `userId` (Langfuse checks the user is a project member).

use actix_web::{delete, get, patch, post, web, HttpRequest};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::params::{path_segment, QueryParams};
use crate::api::{ErrorBody, MetaResponse};
use crate::auth::ProjectAuth;
use crate::domain::time;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::annotation_queues::{self as store, InsertQueue, ItemRow, QueueRow};

/// Langfuse `AnnotationQueue`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnnotationQueue {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Score configs of the queue.
    pub score_config_ids: Vec<String>,
    /// Created.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    /// Updated.
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl From<QueueRow> for AnnotationQueue {
    fn from(r: QueueRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            description: r.description,
            score_config_ids: r.score_config_ids,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Langfuse `AnnotationQueueItem`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnnotationQueueItem {
    /// Id.
    pub id: String,
    /// Queue.
    pub queue_id: String,
    /// Trace, observation or session id.
    pub object_id: String,
    /// TRACE, OBSERVATION, SESSION.
    pub object_type: String,
    /// PENDING, COMPLETED.
    pub status: String,
    /// When completed.
    #[serde(serialize_with = "time::serialize_opt")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Created.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    /// Updated.
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl From<ItemRow> for AnnotationQueueItem {
    fn from(r: ItemRow) -> Self {
        Self {
            id: r.id,
            queue_id: r.queue_id,
            object_id: r.object_id,
            object_type: r.object_type,
            status: r.status,
            completed_at: r.completed_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Langfuse `PaginatedAnnotationQueues`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaginatedAnnotationQueues {
    /// Queues, newest first.
    pub data: Vec<AnnotationQueue>,
    /// Pagination.
    pub meta: MetaResponse,
}

/// Langfuse `PaginatedAnnotationQueueItems`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaginatedAnnotationQueueItems {
    /// Items, newest first.
    pub data: Vec<AnnotationQueueItem>,
    /// Pagination.
    pub meta: MetaResponse,
}

/// Langfuse `CreateAnnotationQueueRequest`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAnnotationQueueRequest {
    /// Name (unique in the project).
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// At least one score config id of the project.
    pub score_config_ids: Vec<String>,
}

/// Langfuse `CreateAnnotationQueueItemRequest`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAnnotationQueueItemRequest {
    /// Trace, observation or session id.
    pub object_id: String,
    /// TRACE, OBSERVATION, SESSION.
    pub object_type: String,
    /// PENDING (default) or COMPLETED.
    pub status: Option<String>,
}

/// Langfuse `UpdateAnnotationQueueItemRequest`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateAnnotationQueueItemRequest {
    /// PENDING or COMPLETED.
    pub status: Option<String>,
}

/// Langfuse `DeleteAnnotationQueueItemResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteAnnotationQueueItemResponse {
    /// Always true.
    pub success: bool,
    /// Confirmation.
    pub message: String,
}

/// Langfuse `AnnotationQueueAssignmentRequest`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnnotationQueueAssignmentRequest {
    /// User id.
    pub user_id: String,
}

/// Langfuse `CreateAnnotationQueueAssignmentResponse`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateAnnotationQueueAssignmentResponse {
    /// User id.
    pub user_id: String,
    /// Queue.
    pub queue_id: String,
    /// Project.
    pub project_id: String,
}

/// Langfuse `DeleteAnnotationQueueAssignmentResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteAnnotationQueueAssignmentResponse {
    /// Always true.
    pub success: bool,
}

const STATUSES: [&str; 2] = ["PENDING", "COMPLETED"];
const OBJECT_TYPES: [&str; 3] = ["TRACE", "OBSERVATION", "SESSION"];

/// zod's enum message for `value` not in `allowed`.
fn check_enum(field: &str, value: &str, allowed: &[&str]) -> Result<(), ApiError> {
    if allowed.contains(&value) {
        return Ok(());
    }
    let expected = allowed
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" | ");
    Err(ApiError::InvalidRequestData(vec![
        crate::error::ValidationIssue::new(
            "invalid_enum_value",
            field,
            format!("Invalid enum value. Expected {expected}, received '{value}'"),
        ),
    ]))
}

fn queue_not_found() -> ApiError {
    ApiError::NotFound("Annotation queue not found".into())
}

fn item_not_found() -> ApiError {
    ApiError::NotFound("Annotation queue item not found".into())
}

async fn queue_from_path(
    state: &AppState,
    project_id: &str,
    req: &HttpRequest,
) -> Result<QueueRow, ApiError> {
    let id = path_segment(req, "queueId")?;
    store::find_queue(&state.pool, project_id, &id)
        .await?
        .ok_or_else(queue_not_found)
}

/// Langfuse `annotationQueues_listQueues`: queues of the project, newest first.
#[utoipa::path(tag = "AnnotationQueues", security(("BasicAuth" = []), ("BearerAuth" = [])),
    params(("page" = Option<u32>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, body = PaginatedAnnotationQueues), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[get("/api/public/annotation-queues")]
pub async fn list_queues(
    auth: ProjectAuth,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<PaginatedAnnotationQueues>, ApiError> {
    let page = q.default_page()?;
    let (rows, total) = store::list_queues(&state.pool, &auth.project_id, page).await?;
    Ok(web::Json(PaginatedAnnotationQueues {
        data: rows.into_iter().map(Into::into).collect(),
        meta: MetaResponse::new(page.page, page.limit, total),
    }))
}

/// Langfuse `annotationQueues_createQueue`.
#[utoipa::path(tag = "AnnotationQueues", security(("BasicAuth" = []), ("BearerAuth" = [])),
    request_body = CreateAnnotationQueueRequest,
    responses((status = 200, body = AnnotationQueue), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/api/public/annotation-queues")]
pub async fn create_queue(
    auth: ProjectAuth,
    body: web::Json<CreateAnnotationQueueRequest>,
    state: web::Data<AppState>,
) -> Result<web::Json<AnnotationQueue>, ApiError> {
    let body = body.into_inner();
    if body.score_config_ids.is_empty() {
        return Err(ApiError::InvalidRequestData(vec![
            crate::error::ValidationIssue::new(
                "too_small",
                "scoreConfigIds",
                "Array must contain at least 1 element(s)",
            ),
        ]));
    }
    match store::insert_queue(
        &state.pool,
        &auth.project_id,
        &body.name,
        body.description.as_deref(),
        &body.score_config_ids,
    )
    .await?
    {
        InsertQueue::Ok(row) => Ok(web::Json(row.into())),
        InsertQueue::NameTaken => Err(ApiError::Conflict(
            "A queue with this name already exists.".into(),
        )),
        InsertQueue::UnknownScoreConfig => Err(ApiError::InvalidRequest(
            "At least one of the score config IDs cannot be found for the given project.".into(),
        )),
    }
}

/// Langfuse `annotationQueues_getQueue`.
#[utoipa::path(tag = "AnnotationQueues", security(("BasicAuth" = []), ("BearerAuth" = [])),
    params(("queueId" = String, Path)),
    responses((status = 200, body = AnnotationQueue), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/public/annotation-queues/{queueId}")]
pub async fn get_queue(
    auth: ProjectAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<AnnotationQueue>, ApiError> {
    Ok(web::Json(
        queue_from_path(&state, &auth.project_id, &req)
            .await?
            .into(),
    ))
}

/// Langfuse `annotationQueues_listQueueItems`: items of a queue, newest first.
#[utoipa::path(tag = "AnnotationQueues", security(("BasicAuth" = []), ("BearerAuth" = [])),
    params(("queueId" = String, Path), ("status" = Option<String>, Query, description = "PENDING or COMPLETED"),
        ("page" = Option<u32>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, body = PaginatedAnnotationQueueItems), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/public/annotation-queues/{queueId}/items")]
pub async fn list_queue_items(
    auth: ProjectAuth,
    req: HttpRequest,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<PaginatedAnnotationQueueItems>, ApiError> {
    let page = q.default_page()?;
    let status = q.get("status");
    if let Some(s) = status {
        check_enum("status", s, &STATUSES)?;
    }
    let queue = queue_from_path(&state, &auth.project_id, &req).await?;
    let (rows, total) =
        store::list_items(&state.pool, &auth.project_id, &queue.id, status, page).await?;
    Ok(web::Json(PaginatedAnnotationQueueItems {
        data: rows.into_iter().map(Into::into).collect(),
        meta: MetaResponse::new(page.page, page.limit, total),
    }))
}

/// Langfuse `annotationQueues_createQueueItem`.
#[utoipa::path(tag = "AnnotationQueues", security(("BasicAuth" = []), ("BearerAuth" = [])),
    params(("queueId" = String, Path)), request_body = CreateAnnotationQueueItemRequest,
    responses((status = 200, body = AnnotationQueueItem), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[post("/api/public/annotation-queues/{queueId}/items")]
pub async fn create_queue_item(
    auth: ProjectAuth,
    req: HttpRequest,
    body: web::Json<CreateAnnotationQueueItemRequest>,
    state: web::Data<AppState>,
) -> Result<web::Json<AnnotationQueueItem>, ApiError> {
    let body = body.into_inner();
    check_enum("objectType", &body.object_type, &OBJECT_TYPES)?;
    let status = body.status.as_deref().unwrap_or("PENDING");
    check_enum("status", status, &STATUSES)?;
    let queue = queue_from_path(&state, &auth.project_id, &req).await?;
    let row = store::insert_item(
        &state.pool,
        &auth.project_id,
        &queue.id,
        &body.object_id,
        &body.object_type,
        status,
    )
    .await?;
    Ok(web::Json(row.into()))
}

async fn item_from_path(
    state: &AppState,
    project_id: &str,
    req: &HttpRequest,
) -> Result<(QueueRow, String), ApiError> {
    let queue = queue_from_path(state, project_id, req).await?;
    let item_id = path_segment(req, "itemId")?;
    Ok((queue, item_id))
}

/// Langfuse `annotationQueues_getQueueItem`.
#[utoipa::path(tag = "AnnotationQueues", security(("BasicAuth" = []), ("BearerAuth" = [])),
    params(("queueId" = String, Path), ("itemId" = String, Path)),
    responses((status = 200, body = AnnotationQueueItem), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/public/annotation-queues/{queueId}/items/{itemId}")]
pub async fn get_queue_item(
    auth: ProjectAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<AnnotationQueueItem>, ApiError> {
    let (queue, item_id) = item_from_path(&state, &auth.project_id, &req).await?;
    store::find_item(&state.pool, &auth.project_id, &queue.id, &item_id)
        .await?
        .map(|r| web::Json(r.into()))
        .ok_or_else(item_not_found)
}

/// Langfuse `annotationQueues_updateQueueItem`.
#[utoipa::path(tag = "AnnotationQueues", security(("BasicAuth" = []), ("BearerAuth" = [])),
    params(("queueId" = String, Path), ("itemId" = String, Path)), request_body = UpdateAnnotationQueueItemRequest,
    responses((status = 200, body = AnnotationQueueItem), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[patch("/api/public/annotation-queues/{queueId}/items/{itemId}")]
pub async fn update_queue_item(
    auth: ProjectAuth,
    req: HttpRequest,
    body: web::Json<UpdateAnnotationQueueItemRequest>,
    state: web::Data<AppState>,
) -> Result<web::Json<AnnotationQueueItem>, ApiError> {
    if let Some(s) = &body.status {
        check_enum("status", s, &STATUSES)?;
    }
    let (queue, item_id) = item_from_path(&state, &auth.project_id, &req).await?;
    store::update_item(
        &state.pool,
        &auth.project_id,
        &queue.id,
        &item_id,
        body.status.as_deref(),
    )
    .await?
    .map(|r| web::Json(r.into()))
    .ok_or_else(item_not_found)
}

/// Langfuse `annotationQueues_deleteQueueItem`.
#[utoipa::path(tag = "AnnotationQueues", security(("BasicAuth" = []), ("BearerAuth" = [])),
    params(("queueId" = String, Path), ("itemId" = String, Path)),
    responses((status = 200, body = DeleteAnnotationQueueItemResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/api/public/annotation-queues/{queueId}/items/{itemId}")]
pub async fn delete_queue_item(
    auth: ProjectAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<DeleteAnnotationQueueItemResponse>, ApiError> {
    let (queue, item_id) = item_from_path(&state, &auth.project_id, &req).await?;
    if !store::delete_item(&state.pool, &auth.project_id, &queue.id, &item_id).await? {
        return Err(item_not_found());
    }
    Ok(web::Json(DeleteAnnotationQueueItemResponse {
        success: true,
        message: "Annotation queue item deleted successfully".into(),
    }))
}

/// Langfuse `annotationQueues_createQueueAssignment` (idempotent).
#[utoipa::path(tag = "AnnotationQueues", security(("BasicAuth" = []), ("BearerAuth" = [])),
    params(("queueId" = String, Path)), request_body = AnnotationQueueAssignmentRequest,
    responses((status = 200, body = CreateAnnotationQueueAssignmentResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[post("/api/public/annotation-queues/{queueId}/assignments")]
pub async fn create_queue_assignment(
    auth: ProjectAuth,
    req: HttpRequest,
    body: web::Json<AnnotationQueueAssignmentRequest>,
    state: web::Data<AppState>,
) -> Result<web::Json<CreateAnnotationQueueAssignmentResponse>, ApiError> {
    let queue = queue_from_path(&state, &auth.project_id, &req).await?;
    store::assign(&state.pool, &auth.project_id, &queue.id, &body.user_id).await?;
    Ok(web::Json(CreateAnnotationQueueAssignmentResponse {
        user_id: body.into_inner().user_id,
        queue_id: queue.id,
        project_id: auth.project_id,
    }))
}

/// Langfuse `annotationQueues_deleteQueueAssignment` (succeeds when absent too).
#[utoipa::path(tag = "AnnotationQueues", security(("BasicAuth" = []), ("BearerAuth" = [])),
    params(("queueId" = String, Path)), request_body = AnnotationQueueAssignmentRequest,
    responses((status = 200, body = DeleteAnnotationQueueAssignmentResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/api/public/annotation-queues/{queueId}/assignments")]
pub async fn delete_queue_assignment(
    auth: ProjectAuth,
    req: HttpRequest,
    body: web::Json<AnnotationQueueAssignmentRequest>,
    state: web::Data<AppState>,
) -> Result<web::Json<DeleteAnnotationQueueAssignmentResponse>, ApiError> {
    let queue = queue_from_path(&state, &auth.project_id, &req).await?;
    store::unassign(&state.pool, &auth.project_id, &queue.id, &body.user_id).await?;
    Ok(web::Json(DeleteAnnotationQueueAssignmentResponse {
        success: true,
    }))
}
