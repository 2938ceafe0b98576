//! Projects and API keys: `GET /api/public/projects` for the SDKs' auth check, and
//! Langfuse's organisation-scoped management routes, which xtrace's admin bearer token
//! (standing in for an organisation key) may call.

use actix_web::{delete, get, post, put, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::params::PathParam;
use crate::api::ErrorBody;
use crate::auth::{self, AdminAuth, ProjectAuth};
use crate::domain::time;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::projects::{self as store, ApiKeyRow, ProjectRow};

/// The organisation a project belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct Organization {
    /// Organisation id.
    pub id: String,
    /// Organisation name.
    pub name: String,
}

/// Langfuse `Project`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// Project id.
    pub id: String,
    /// Project name.
    pub name: String,
    /// The organisation of the project.
    pub organization: Organization,
    /// Project metadata (`{}` by default).
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// Retention in days; omitted when none is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<i32>,
}

impl From<ProjectRow> for Project {
    fn from(r: ProjectRow) -> Self {
        Project {
            id: r.id,
            name: r.name,
            organization: Organization {
                id: r.org_id,
                name: r.org_name,
            },
            metadata: r.metadata,
            retention_days: r.retention_days.filter(|d| *d != 0),
        }
    }
}

/// Langfuse `Projects`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Projects {
    /// Exactly the caller's project.
    pub data: Vec<Project>,
}

/// Langfuse `OrganizationProject`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationProject {
    /// Project id.
    pub id: String,
    /// Project name.
    pub name: String,
    /// Project metadata.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// Creation time.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last update.
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// Langfuse `OrganizationProjectsResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationProjectsResponse {
    /// Live projects of the organisation.
    pub projects: Vec<OrganizationProject>,
}

/// Body of project create and update.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProjectBody {
    /// 3 to 60 characters.
    pub name: Option<serde_json::Value>,
    /// Optional metadata object (a JSON string holding an object is accepted too).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// Days to retain data: 0 or at least 3.
    pub retention: Option<serde_json::Value>,
}

/// Langfuse `ProjectDeletionResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectDeletionResponse {
    /// Always true.
    pub success: bool,
    /// Confirmation text.
    pub message: String,
}

/// Langfuse `ApiKeySummary`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeySummary {
    /// Key id.
    pub id: String,
    /// Creation time.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Expiry; xtrace keys do not expire.
    #[serde(serialize_with = "time::serialize_opt")]
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Last use (updated at most once a minute).
    #[serde(serialize_with = "time::serialize_opt")]
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Note.
    pub note: Option<String>,
    /// Public key.
    pub public_key: String,
    /// `sk-lf-...abcd`.
    pub display_secret_key: String,
}

impl From<ApiKeyRow> for ApiKeySummary {
    fn from(r: ApiKeyRow) -> Self {
        ApiKeySummary {
            id: r.id,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            note: r.note,
            public_key: r.public_key,
            display_secret_key: r.display_secret_key,
        }
    }
}

/// Langfuse `ApiKeyList`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyList {
    /// The project's keys, oldest first.
    pub api_keys: Vec<ApiKeySummary>,
}

/// Body of API key creation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateApiKeyBody {
    /// Optional note.
    pub note: Option<String>,
    /// Predefined public key (`pk-lf-…`), together with `secretKey`.
    pub public_key: Option<String>,
    /// Predefined secret key (`sk-lf-…`), together with `publicKey`.
    pub secret_key: Option<String>,
}

/// Langfuse `ApiKeyResponse`: the only time the secret is shown.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyResponse {
    /// Key id.
    pub id: String,
    /// Creation time.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Public key.
    pub public_key: String,
    /// Secret key.
    pub secret_key: String,
    /// `sk-lf-...abcd`.
    pub display_secret_key: String,
    /// Note.
    pub note: Option<String>,
}

/// Langfuse `ApiKeyDeletionResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyDeletionResponse {
    /// Always true.
    pub success: bool,
}

/// Langfuse `OrganizationApiKeysResponse`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationApiKeysResponse {
    /// Organisation-scoped keys. xtrace has none: its admin bearer token plays that role.
    pub api_keys: Vec<ApiKeySummary>,
}

fn parse_name(v: Option<&serde_json::Value>) -> Result<String, ApiError> {
    match v.and_then(|v| v.as_str()).map(str::trim) {
        Some(n) if (3..=60).contains(&n.chars().count()) => Ok(n.to_string()),
        _ => Err(ApiError::invalid_field(
            "name",
            "Invalid project name. Should be between 3 and 60 characters.",
        )),
    }
}

fn parse_metadata(v: Option<&serde_json::Value>) -> Result<Option<serde_json::Value>, ApiError> {
    let parsed = match v {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::String(s)) => serde_json::from_str(s).ok(),
        Some(other) => Some(other.clone()),
    };
    match parsed {
        Some(m @ serde_json::Value::Object(_)) => Ok(Some(m)),
        _ => Err(ApiError::invalid_field(
            "metadata",
            "Invalid metadata. Should be a valid JSON object.",
        )),
    }
}

fn parse_retention(v: Option<&serde_json::Value>) -> Result<Option<i32>, ApiError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if n == 0 || (3..=i32::MAX as i64).contains(&n) => Ok(Some(n as i32)),
            _ => Err(ApiError::invalid_field(
                "retention",
                "Invalid retention value. Must be 0 or at least 3 days.",
            )),
        },
    }
}

/// Langfuse `projects_get`: the project of the key (the SDKs' auth check).
#[utoipa::path(tag = "Projects", security(("BasicAuth" = []), ("BearerAuth" = [])),
    responses((status = 200, body = Projects), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[get("/api/public/projects")]
pub async fn get_projects(
    auth: ProjectAuth,
    state: web::Data<AppState>,
) -> Result<web::Json<Projects>, ApiError> {
    let project = store::find_project(&state.pool, &auth.project_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Project", &auth.project_id))?;
    Ok(web::Json(Projects {
        data: vec![project.into()],
    }))
}

/// Langfuse `projects_create` (admin bearer token): 201 with the project.
#[utoipa::path(tag = "Projects", security(("BearerAuth" = [])), request_body = ProjectBody,
    responses((status = 201, body = Project), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/api/public/projects")]
pub async fn create_project(
    auth: AdminAuth,
    body: crate::api::params::CleanJson<ProjectBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let name = parse_name(body.name.as_ref())?;
    let metadata = parse_metadata(body.metadata.as_ref())?.unwrap_or_else(|| serde_json::json!({}));
    let retention = parse_retention(body.retention.as_ref())?;
    if store::find_project_by_name(&state.pool, &auth.org_id, &name)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(
            "A project with this name already exists in your organization".into(),
        ));
    }
    let id = format!("proj-{}", uuid::Uuid::new_v4().simple());
    let row =
        store::insert_project(&state.pool, &auth.org_id, &id, &name, &metadata, retention).await?;
    Ok(HttpResponse::Created().json(Project::from(row)))
}

/// Langfuse `projects_update` (admin bearer token).
#[utoipa::path(tag = "Projects", security(("BearerAuth" = [])), request_body = ProjectBody,
    params(("projectId" = String, Path)),
    responses((status = 200, body = Project), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[put("/api/public/projects/{projectId}")]
pub async fn update_project(
    auth: AdminAuth,
    path: PathParam,
    body: crate::api::params::CleanJson<ProjectBody>,
    state: web::Data<AppState>,
) -> Result<web::Json<Project>, ApiError> {
    let id = path.into_inner();
    let name = parse_name(body.name.as_ref())?;
    let metadata = parse_metadata(body.metadata.as_ref())?;
    let retention = parse_retention(body.retention.as_ref())?;
    let row = store::update_project(
        &state.pool,
        &auth.org_id,
        &id,
        &name,
        metadata.as_ref(),
        retention,
    )
    .await?
    .ok_or_else(|| ApiError::NotFound("Project not found".into()))?;
    Ok(web::Json(row.into()))
}

/// Langfuse `projects_delete` (admin bearer token): 202; the project's keys stop working at once.
#[utoipa::path(tag = "Projects", security(("BearerAuth" = [])), params(("projectId" = String, Path)),
    responses((status = 202, body = ProjectDeletionResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/api/public/projects/{projectId}")]
pub async fn delete_project(
    auth: AdminAuth,
    path: PathParam,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    if id == state.config.default_project_id {
        return Err(ApiError::InvalidRequest(
            "The default project (DEFAULT_PROJECT_ID) cannot be deleted".into(),
        ));
    }
    if !store::delete_project(&state.pool, &auth.org_id, &id).await? {
        return Err(ApiError::NotFound("Project not found".into()));
    }
    state.keys.clear();
    Ok(HttpResponse::Accepted().json(ProjectDeletionResponse {
        success: true,
        message: "Project deletion has been initiated and is being processed asynchronously".into(),
    }))
}

async fn require_project(state: &AppState, org_id: &str, id: &str) -> Result<(), ApiError> {
    match store::find_project(&state.pool, id).await? {
        Some(p) if p.org_id == org_id => Ok(()),
        _ => Err(ApiError::NotFound("Project not found".into())),
    }
}

/// Langfuse `projects_getApiKeys` (admin bearer token).
#[utoipa::path(tag = "Projects", security(("BearerAuth" = [])), params(("projectId" = String, Path)),
    responses((status = 200, body = ApiKeyList), (status = 404, body = ErrorBody)))]
#[get("/api/public/projects/{projectId}/apiKeys")]
pub async fn list_api_keys(
    auth: AdminAuth,
    path: PathParam,
    state: web::Data<AppState>,
) -> Result<web::Json<ApiKeyList>, ApiError> {
    let id = path.into_inner();
    require_project(&state, &auth.org_id, &id).await?;
    let keys = store::list_api_keys(&state.pool, &id).await?;
    Ok(web::Json(ApiKeyList {
        api_keys: keys.into_iter().map(Into::into).collect(),
    }))
}

/// Langfuse `projects_createApiKey` (admin bearer token): 201 with the secret, shown once.
#[utoipa::path(tag = "Projects", security(("BearerAuth" = [])), params(("projectId" = String, Path)),
    request_body = CreateApiKeyBody,
    responses((status = 201, body = ApiKeyResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[post("/api/public/projects/{projectId}/apiKeys")]
pub async fn create_api_key(
    auth: AdminAuth,
    path: PathParam,
    body: Option<crate::api::params::CleanJson<CreateApiKeyBody>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let body = body.map(|b| b.into_inner()).unwrap_or_default();
    let (public_key, secret_key) = match (body.public_key, body.secret_key) {
        (None, None) => auth::generate_key_pair(),
        (Some(pk), Some(sk)) => {
            if !pk.starts_with("pk-lf-") {
                return Err(ApiError::invalid_field(
                    "publicKey",
                    "publicKey must start with 'pk-lf-'",
                ));
            }
            if !sk.starts_with("sk-lf-") {
                return Err(ApiError::invalid_field(
                    "secretKey",
                    "secretKey must start with 'sk-lf-'",
                ));
            }
            (pk, sk)
        }
        (pk, _) => {
            return Err(ApiError::invalid_field(
                if pk.is_some() { "secretKey" } else { "publicKey" },
                "Both publicKey and secretKey must be provided together when specifying predefined keys",
            ))
        }
    };
    require_project(&state, &auth.org_id, &id).await?;
    let salt = auth::new_salt();
    let hash = auth::hash_secret(&salt, &secret_key);
    let key_id = uuid::Uuid::new_v4().to_string();
    let display = auth::display_secret_key(&secret_key);
    let inserted = store::insert_api_key(
        &state.pool,
        &store::NewApiKey {
            id: &key_id,
            project_id: &id,
            public_key: &public_key,
            secret_salt: &salt,
            secret_hash: &hash,
            display_secret_key: &display,
            note: body.note.as_deref(),
        },
    )
    .await?;
    if !inserted {
        return Err(ApiError::Conflict(
            "API key with the provided publicKey or secretKey already exists".into(),
        ));
    }
    state.keys.clear();
    let created = store::list_api_keys(&state.pool, &id)
        .await?
        .into_iter()
        .find(|k| k.id == key_id)
        .map(|k| k.created_at)
        .unwrap_or_else(chrono::Utc::now);
    Ok(HttpResponse::Created().json(ApiKeyResponse {
        id: key_id,
        created_at: created,
        public_key,
        secret_key,
        display_secret_key: display,
        note: body.note,
    }))
}

/// Langfuse `projects_deleteApiKey` (admin bearer token): the key stops working at once.
#[utoipa::path(tag = "Projects", security(("BearerAuth" = [])),
    params(("projectId" = String, Path), ("apiKeyId" = String, Path)),
    responses((status = 200, body = ApiKeyDeletionResponse), (status = 404, body = ErrorBody)))]
#[delete("/api/public/projects/{projectId}/apiKeys/{apiKeyId}")]
pub async fn delete_api_key(
    auth: AdminAuth,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<web::Json<ApiKeyDeletionResponse>, ApiError> {
    let (project_id, key_id) = path.into_inner();
    require_project(&state, &auth.org_id, &project_id).await?;
    store::delete_api_key(&state.pool, &project_id, &key_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("API key not found".into()))?;
    state.keys.clear();
    Ok(web::Json(ApiKeyDeletionResponse { success: true }))
}

/// Langfuse `organizations_getOrganizationProjects` (admin bearer token).
#[utoipa::path(tag = "Organizations", security(("BearerAuth" = [])),
    responses((status = 200, body = OrganizationProjectsResponse), (status = 403, body = ErrorBody)))]
#[get("/api/public/organizations/projects")]
pub async fn list_organization_projects(
    auth: AdminAuth,
    state: web::Data<AppState>,
) -> Result<web::Json<OrganizationProjectsResponse>, ApiError> {
    let rows = store::list_projects(&state.pool, &auth.org_id).await?;
    Ok(web::Json(OrganizationProjectsResponse {
        projects: rows
            .into_iter()
            .map(|r| OrganizationProject {
                id: r.id,
                name: r.name,
                metadata: r.metadata,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
            .collect(),
    }))
}

/// Langfuse `organizations_getOrganizationApiKeys` (admin bearer token). xtrace has no
/// organisation-scoped keys (the admin bearer token plays that role), so the list is empty.
#[utoipa::path(tag = "Organizations", security(("BearerAuth" = [])),
    responses((status = 200, body = OrganizationApiKeysResponse), (status = 403, body = ErrorBody)))]
#[get("/api/public/organizations/apiKeys")]
pub async fn list_organization_api_keys(
    _auth: AdminAuth,
) -> web::Json<OrganizationApiKeysResponse> {
    web::Json(OrganizationApiKeysResponse { api_keys: vec![] })
}
