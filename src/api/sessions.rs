//! Sessions: `GET /api/public/sessions` and `GET /api/public/sessions/{sessionId}` (with
//! the session's traces). Sessions are created by ingestion when a trace names one.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::params::PathParam;
use crate::api::params::QueryParams;
use crate::api::traces::Trace;
use crate::api::{ErrorBody, MetaResponse};
use crate::auth::ProjectAuth;
use crate::domain::time;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store;
use crate::store::sessions::{SessionFilter, SessionRow};

/// Langfuse `Session`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Id.
    pub id: String,
    /// Created.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    /// Project.
    pub project_id: String,
    /// Environment.
    pub environment: String,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        Session {
            id: r.id,
            created_at: r.created_at,
            project_id: r.project_id,
            environment: r.environment,
        }
    }
}

/// Langfuse `PaginatedSessions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaginatedSessions {
    /// Sessions, newest first.
    pub data: Vec<Session>,
    /// Pagination.
    pub meta: MetaResponse,
}

/// Langfuse `SessionWithTraces`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionWithTraces {
    /// The session.
    #[serde(flatten)]
    pub session: Session,
    /// Its traces, oldest first.
    pub traces: Vec<Trace>,
}

/// Langfuse `sessions_list`: sessions newest first.
#[utoipa::path(tag = "Sessions", security(("BasicAuth" = [])),
    params(("page" = Option<u32>, Query), ("limit" = Option<u32>, Query),
        ("fromTimestamp" = Option<String>, Query), ("toTimestamp" = Option<String>, Query),
        ("environment" = Option<Vec<String>>, Query)),
    responses((status = 200, body = PaginatedSessions), (status = 400, body = ErrorBody)))]
#[get("/api/public/sessions")]
pub async fn list_sessions(
    auth: ProjectAuth,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<PaginatedSessions>, ApiError> {
    let page = q.default_page()?;
    let filter = SessionFilter {
        from_timestamp: q.datetime("fromTimestamp")?,
        to_timestamp: q.datetime("toTimestamp")?,
        environments: q.list("environment"),
    };
    let (rows, total) =
        store::sessions::list_sessions(&state.pool, &auth.project_id, &filter, page).await?;
    Ok(web::Json(PaginatedSessions {
        data: rows.into_iter().map(Session::from).collect(),
        meta: MetaResponse::new(page.page, page.limit, total),
    }))
}

/// Langfuse `sessions_get`: one session with its traces.
#[utoipa::path(tag = "Sessions", security(("BasicAuth" = [])), params(("sessionId" = String, Path)),
    responses((status = 200, body = SessionWithTraces), (status = 404, body = ErrorBody)))]
#[get("/api/public/sessions/{sessionId}")]
pub async fn get_session(
    auth: ProjectAuth,
    session_id: PathParam,
    state: web::Data<AppState>,
) -> Result<web::Json<SessionWithTraces>, ApiError> {
    let pid = &auth.project_id;
    let (session, traces) = tokio::try_join!(
        store::sessions::find_session(&state.pool, pid, &session_id),
        store::traces::list_for_session(&state.pool, pid, &session_id),
    )?;
    let session = session
        .ok_or_else(|| ApiError::NotFound("Session not found within authorized project".into()))?;
    Ok(web::Json(SessionWithTraces {
        session: session.into(),
        traces: traces.into_iter().map(Trace::from).collect(),
    }))
}
