//! Comments: `GET/POST /api/public/comments`, `GET /api/public/comments/{commentId}` on
//! traces, observations, sessions and prompts.

use actix_web::{get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::params::PathParam;
use crate::api::params::QueryParams;
use crate::api::{ErrorBody, MetaResponse};
use crate::auth::ProjectAuth;
use crate::domain::time;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::comments::{self as store, CommentFilter, CommentRow};

const OBJECT_TYPES: &[(&str, &str)] = &[
    ("TRACE", "TRACE"),
    ("OBSERVATION", "OBSERVATION"),
    ("SESSION", "SESSION"),
    ("PROMPT", "PROMPT"),
];

/// Langfuse `Comment`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    /// Id.
    pub id: String,
    /// Project.
    pub project_id: String,
    /// Created.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    /// Updated.
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: DateTime<Utc>,
    /// TRACE, OBSERVATION, SESSION, PROMPT.
    pub object_type: String,
    /// Commented object.
    pub object_id: String,
    /// Text.
    pub content: String,
    /// Author.
    pub author_user_id: Option<String>,
}

impl From<CommentRow> for Comment {
    fn from(r: CommentRow) -> Self {
        Comment {
            id: r.id,
            project_id: r.project_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            object_type: r.object_type,
            object_id: r.object_id,
            content: r.content,
            author_user_id: r.author_user_id,
        }
    }
}

/// Langfuse `GetCommentsResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GetCommentsResponse {
    /// Comments, newest first.
    pub data: Vec<Comment>,
    /// Pagination.
    pub meta: MetaResponse,
}

/// Langfuse `CreateCommentRequest`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateCommentRequest {
    /// Project (the key's project is used; kept for SDK compatibility).
    pub project_id: Option<String>,
    /// TRACE, OBSERVATION, SESSION, PROMPT.
    pub object_type: Option<String>,
    /// Id of an existing object.
    pub object_id: Option<String>,
    /// 1 to 5000 characters.
    pub content: Option<String>,
    /// Author.
    pub author_user_id: Option<String>,
}

/// Langfuse `CreateCommentResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateCommentResponse {
    /// The new comment's id.
    pub id: String,
}

/// Langfuse `comments_get`: comments newest first, filtered by object or author.
#[utoipa::path(tag = "Comments", security(("BasicAuth" = [])),
    params(("page" = Option<u32>, Query), ("limit" = Option<u32>, Query), ("objectType" = Option<String>, Query),
        ("objectId" = Option<String>, Query), ("authorUserId" = Option<String>, Query)),
    responses((status = 200, body = GetCommentsResponse), (status = 400, body = ErrorBody)))]
#[get("/api/public/comments")]
pub async fn list_comments(
    auth: ProjectAuth,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<GetCommentsResponse>, ApiError> {
    let page = q.default_page()?;
    let filter = CommentFilter {
        object_type: q.one_of("objectType", OBJECT_TYPES)?.map(str::to_string),
        object_id: q.string("objectId"),
        author_user_id: q.string("authorUserId"),
    };
    if filter.object_id.is_some() && filter.object_type.is_none() {
        return Err(ApiError::InvalidRequest(
            "objectType is required when filtering by objectId".into(),
        ));
    }
    let (rows, total) = store::list_comments(&state.pool, &auth.project_id, &filter, page).await?;
    Ok(web::Json(GetCommentsResponse {
        data: rows.into_iter().map(Comment::from).collect(),
        meta: MetaResponse::new(page.page, page.limit, total),
    }))
}

/// Langfuse `comments_get_by_id`.
#[utoipa::path(tag = "Comments", security(("BasicAuth" = [])), params(("commentId" = String, Path)),
    responses((status = 200, body = Comment), (status = 404, body = ErrorBody)))]
#[get("/api/public/comments/{commentId}")]
pub async fn get_comment(
    auth: ProjectAuth,
    id: PathParam,
    state: web::Data<AppState>,
) -> Result<web::Json<Comment>, ApiError> {
    let row = store::find_comment(&state.pool, &auth.project_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Comment not found within authorized project".into()))?;
    Ok(web::Json(row.into()))
}

/// Langfuse `comments_create`: comments an existing trace, observation, session or prompt.
#[utoipa::path(tag = "Comments", security(("BasicAuth" = [])), request_body = CreateCommentRequest,
    responses((status = 200, body = CreateCommentResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[post("/api/public/comments")]
pub async fn create_comment(
    auth: ProjectAuth,
    body: crate::api::params::CleanJson<CreateCommentRequest>,
    state: web::Data<AppState>,
) -> Result<web::Json<CreateCommentResponse>, ApiError> {
    let body = body.into_inner();
    let object_type = body
        .object_type
        .ok_or_else(|| ApiError::invalid_field("objectType", "Required"))?;
    if !OBJECT_TYPES.iter().any(|(t, _)| *t == object_type) {
        return Err(ApiError::invalid_field(
            "objectType",
            format!("Invalid enum value. Expected 'TRACE' | 'OBSERVATION' | 'SESSION' | 'PROMPT', received '{object_type}'"),
        ));
    }
    let object_id = body
        .object_id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid_field("objectId", "Required"))?;
    let content = body
        .content
        .ok_or_else(|| ApiError::invalid_field("content", "Required"))?;
    let len = content.chars().count();
    if !(1..=5000).contains(&len) {
        return Err(ApiError::invalid_field(
            "content",
            "Comment content must be 1 to 5000 characters",
        ));
    }
    let pid = &auth.project_id;
    if store::object_exists(&state.pool, pid, &object_type, &object_id).await? == Some(false) {
        return Err(ApiError::NotFound(format!(
            "No {} with id {object_id} in project {pid}",
            object_type.to_lowercase()
        )));
    }
    let id = store::insert_comment(
        &state.pool,
        pid,
        &object_type,
        &object_id,
        &content,
        body.author_user_id.as_deref(),
    )
    .await?;
    Ok(web::Json(CreateCommentResponse { id }))
}
