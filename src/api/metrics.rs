//! Metrics: the legacy daily metrics `GET /api/public/metrics/daily` (per UTC day: traces,
//! observations, cost, and usage per model).

use actix_web::{get, web};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::params::QueryParams;
use crate::api::{ErrorBody, MetaResponse};
use crate::auth::ProjectAuth;
use crate::domain::usage;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::metrics::{self as store, DailyFilter, DailyRow};

/// Langfuse `DailyMetricsDetails`: one day.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DailyMetricsDetails {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Traces on that day.
    pub count_traces: i64,
    /// Observations starting on that day.
    pub count_observations: i64,
    /// Total cost in USD.
    #[schema(value_type = f64)]
    pub total_cost: Value,
    /// Per model: `model, inputUsage, outputUsage, totalUsage, countObservations, countTraces, totalCost`.
    #[schema(value_type = Vec<Object>)]
    pub usage: Vec<Value>,
}

impl From<DailyRow> for DailyMetricsDetails {
    fn from(r: DailyRow) -> Self {
        let usage = match r.usage {
            Value::Array(items) => items
                .into_iter()
                .map(|mut u| {
                    if let Some(o) = u.as_object_mut() {
                        for (k, v) in o.iter_mut() {
                            if k != "model" {
                                *v = usage::number(v.as_f64().unwrap_or(0.0));
                            }
                        }
                    }
                    u
                })
                .collect(),
            _ => Vec::new(),
        };
        DailyMetricsDetails {
            date: r.day.format("%Y-%m-%d").to_string(),
            count_traces: r.count_traces,
            count_observations: r.count_observations,
            total_cost: usage::number(r.total_cost),
            usage,
        }
    }
}

/// Langfuse `DailyMetrics`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyMetrics {
    /// Days, newest first.
    pub data: Vec<DailyMetricsDetails>,
    /// Pagination over days with traces.
    pub meta: MetaResponse,
}

/// Langfuse `metrics_daily` (legacy): per-day traces, observations, cost and usage by model.
#[utoipa::path(tag = "Metrics", security(("BasicAuth" = [])),
    params(("page" = Option<u32>, Query), ("limit" = Option<u32>, Query), ("traceName" = Option<String>, Query),
        ("userId" = Option<String>, Query), ("tags" = Option<Vec<String>>, Query),
        ("environment" = Option<Vec<String>>, Query), ("fromTimestamp" = Option<String>, Query),
        ("toTimestamp" = Option<String>, Query)),
    responses((status = 200, body = DailyMetrics), (status = 400, body = ErrorBody)))]
#[get("/api/public/metrics/daily")]
pub async fn get_daily_metrics(
    auth: ProjectAuth,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<DailyMetrics>, ApiError> {
    let page = q.default_page()?;
    let filter = DailyFilter {
        trace_name: q.string("traceName"),
        user_id: q.string("userId"),
        tags: q.list("tags"),
        environments: q.list("environment"),
        from_timestamp: q.datetime("fromTimestamp")?,
        to_timestamp: q.datetime("toTimestamp")?,
    };
    let _permit = state.heavy_permit().await?;
    let (rows, total) = store::daily(&state.pool, &auth.project_id, &filter, page).await?;
    Ok(web::Json(DailyMetrics {
        data: rows.into_iter().map(DailyMetricsDetails::from).collect(),
        meta: MetaResponse::new(page.page, page.limit, total),
    }))
}
