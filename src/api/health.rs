//! Health: `/healthz` (process up), `/readyz` (database reachable) and Langfuse's
//! `/api/public/health` and `/api/public/ready`. None of them needs credentials.

use std::time::Duration;

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::startup::AppState;

/// The version reported by the health endpoints.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Langfuse's health body.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// `OK`, or the reason the service is unhealthy.
    pub status: String,
    /// Server version.
    pub version: String,
}

async fn database_ok(state: &AppState) -> bool {
    let ping = sqlx::query_scalar::<_, i32>("select 1").fetch_one(&state.pool);
    matches!(
        tokio::time::timeout(Duration::from_secs(3), ping).await,
        Ok(Ok(1))
    )
}

async fn langfuse_health(state: &AppState) -> HttpResponse {
    if !state.ingest.healthy() {
        return HttpResponse::ServiceUnavailable().json(HealthResponse {
            status: "Ingest writer not running".into(),
            version: VERSION.into(),
        });
    }
    if database_ok(state).await {
        HttpResponse::Ok().json(HealthResponse {
            status: "OK".into(),
            version: VERSION.into(),
        })
    } else {
        HttpResponse::ServiceUnavailable().json(HealthResponse {
            status: "Database not available".into(),
            version: VERSION.into(),
        })
    }
}

/// Liveness: the process is up. Never touches the database.
#[utoipa::path(tag = "Health", responses((status = 200, description = "Process is up", body = HealthResponse)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthResponse {
        status: "OK".into(),
        version: VERSION.into(),
    })
}

/// Readiness: the database answers; 503 otherwise.
#[utoipa::path(tag = "Health", responses(
    (status = 200, description = "Database reachable", body = HealthResponse),
    (status = 503, description = "Database unreachable", body = HealthResponse)))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    langfuse_health(&state).await
}

/// Langfuse `health_health`: `{"status":"OK","version":…}`, 503 when the database is down.
#[utoipa::path(tag = "Health", responses(
    (status = 200, body = HealthResponse),
    (status = 503, body = HealthResponse)))]
#[get("/api/public/health")]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    langfuse_health(&state).await
}

/// Langfuse's readiness probe, same shape as health.
#[utoipa::path(tag = "Health", responses(
    (status = 200, body = HealthResponse),
    (status = 503, body = HealthResponse)))]
#[get("/api/public/ready")]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    langfuse_health(&state).await
}
