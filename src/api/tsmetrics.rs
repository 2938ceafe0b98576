//! Time-series metrics for GPU/node telemetry, in the seed xtrace's shapes ("Nebula
//! integration"): `POST /v1/metrics/batch` writes points through the ingest pipeline
//! (acknowledged after commit), `GET /api/public/metrics/names` lists metric names and
//! `GET /api/public/metrics/query` returns bucketed, aggregated series.
//!
//! Not Langfuse's metrics API (`GET /api/public/metrics`, `/api/public/metrics/daily`),
//! which lives in `api::metrics`. Storage and the query itself are in `store::tsmetrics`.

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::api::body::AdmittedJson;
use crate::api::ErrorBody;
use crate::auth::ProjectAuth;
use crate::domain::time;
use crate::error::{ApiError, ValidationIssue};
use crate::ingest::{MetricsWrite, WriteFailure};
use crate::startup::AppState;
use crate::store::tsmetrics::{self as store, Agg, MetricPoint, SeriesQuery};

/// Longest metric name, label key or label value (bytes).
const MAX_TEXT: usize = 256;
/// Labels per point at most.
const MAX_LABELS: usize = 64;
/// Largest step (31 days).
const MAX_STEP_SECS: i64 = 31 * 86_400;

/// Answer of `POST /v1/metrics/batch`: the seed's `message`, plus counts and the
/// rejected points (index into `metrics` and reason) when some were invalid.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricsBatchResponse {
    /// `Request Successful.`
    pub message: String,
    /// Points stored.
    pub accepted: usize,
    /// Points rejected (not stored).
    pub rejected: usize,
    /// One entry per rejected point.
    pub errors: Vec<PointError>,
}

/// A rejected point.
#[derive(Debug, Serialize, ToSchema)]
pub struct PointError {
    /// Index of the point in `metrics`.
    pub index: usize,
    /// The offending field (`name`, `labels`, `value`, `timestamp`).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Write time-series points (GPU utilisation, memory, queue depth...). Points go to the
/// caller's project (Basic auth) or `DEFAULT_PROJECT_ID` (admin bearer token). The answer
/// comes after the points are committed; invalid points are listed in `errors` without
/// failing the others (400 when none is valid); 503 with `Retry-After` when the queue is full.
#[utoipa::path(tag = "Metrics (time series)", security(("BasicAuth" = []), ("BearerAuth" = [])),
    request_body(content = Object, description = r#"{"metrics":[{"name","labels":{..},"value","timestamp"}]}"#),
    responses((status = 200, body = MetricsBatchResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[post("/v1/metrics/batch")]
pub async fn ingest_metrics_batch(
    auth: ProjectAuth,
    body: AdmittedJson,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (body_value, _held) = body.into_parts();
    let (points, errors) = parse_batch(body_value)?;
    if points.is_empty() && !errors.is_empty() {
        return Err(ApiError::InvalidRequestData(
            errors
                .iter()
                .map(|e| {
                    ValidationIssue::new(
                        "custom",
                        &format!("metrics.{}.{}", e.index, e.field),
                        e.message.clone(),
                    )
                })
                .collect(),
        ));
    }
    let accepted = points.len();
    if !points.is_empty() {
        let req = MetricsWrite {
            project_id: auth.project_id,
            points,
        };
        match state.ingest.write_metrics(req).await? {
            Ok(()) => {}
            Err(WriteFailure::Rejected | WriteFailure::Internal) => {
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "the database refused the metrics batch"
                )))
            }
            Err(WriteFailure::Unavailable) => return Err(ApiError::Unavailable),
        }
    }
    Ok(HttpResponse::Ok().json(MetricsBatchResponse {
        message: "Request Successful.".into(),
        accepted,
        rejected: errors.len(),
        errors,
    }))
}

/// Splits a batch body into valid points and per-point errors; a body that is not
/// `{"metrics": [...]}` is a 400.
fn parse_batch(body: Value) -> Result<(Vec<MetricPoint>, Vec<PointError>), ApiError> {
    let Value::Object(mut body) = body else {
        return Err(ApiError::invalid_field(
            "metrics",
            "expected an object {\"metrics\": [...]}",
        ));
    };
    let Some(Value::Array(items)) = body.remove("metrics") else {
        return Err(ApiError::invalid_field(
            "metrics",
            "required: an array of {name, labels, value, timestamp}",
        ));
    };
    let now = Utc::now();
    let mut points = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match parse_point(item, now) {
            Ok(p) => points.push(p),
            Err((field, message)) => errors.push(PointError {
                index,
                field,
                message,
            }),
        }
    }
    Ok((points, errors))
}

type FieldError = (&'static str, String);

fn parse_point(item: Value, now: DateTime<Utc>) -> Result<MetricPoint, FieldError> {
    let Value::Object(mut o) = item else {
        return Err(("name", "a point must be an object".into()));
    };
    let name = match o.remove("name") {
        Some(Value::String(s)) => valid_name(&s).map_err(|m| ("name", m))?,
        _ => return Err(("name", "required: a non-empty string".into())),
    };
    let labels = match o.remove("labels") {
        None | Some(Value::Null) => Map::new(),
        Some(v) => parse_labels(v).map_err(|m| ("labels", m))?,
    };
    let value = match o.remove("value") {
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .ok_or(("value", "must be a finite number".to_string()))?,
        _ => return Err(("value", "required: a number".into())),
    };
    let ts = match o.remove("timestamp") {
        None | Some(Value::Null) => now,
        Some(Value::String(s)) => parse_time(&s).map_err(|m| ("timestamp", m))?,
        Some(_) => return Err(("timestamp", "must be an ISO 8601 string".into())),
    };
    Ok(MetricPoint {
        name,
        labels,
        value,
        ts,
    })
}

fn valid_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() || s.len() > MAX_TEXT || s.chars().any(char::is_control) {
        return Err(format!(
            "must be 1 to {MAX_TEXT} bytes without control characters"
        ));
    }
    Ok(s.to_string())
}

/// A flat object of label values; numbers and booleans become strings (`"gpu_index": 0`
/// is common), nested values and nulls are refused.
fn parse_labels(v: Value) -> Result<Map<String, Value>, String> {
    let Value::Object(m) = v else {
        return Err("must be an object of string values".into());
    };
    if m.len() > MAX_LABELS {
        return Err(format!("at most {MAX_LABELS} labels"));
    }
    let mut out = Map::new();
    for (k, v) in m {
        if k.is_empty() || k.len() > MAX_TEXT {
            return Err(format!("label keys must be 1 to {MAX_TEXT} bytes"));
        }
        let s = match v {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(format!("label {k:?} must be a string")),
        };
        if s.len() > MAX_TEXT {
            return Err(format!("label {k:?} is longer than {MAX_TEXT} bytes"));
        }
        out.insert(k, Value::String(s));
    }
    Ok(out)
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("expected an ISO 8601 timestamp with time zone, got {s:?} ({e})"))
}

/// Query parameters of `GET /api/public/metrics/names`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct NamesParams {
    /// `true`: each entry is `{"name", "label_keys"}` instead of a bare name.
    pub include_labels: Option<String>,
}

/// Metric names of the project, sorted: `{"data": ["gpu_utilization", ...]}` as the seed
/// answers; with `include_labels=true`, `{"data": [{"name", "label_keys": [...]}]}`.
#[utoipa::path(tag = "Metrics (time series)", security(("BasicAuth" = []), ("BearerAuth" = [])),
    params(NamesParams),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
#[get("/api/public/metrics/names")]
pub async fn list_metric_names(
    auth: ProjectAuth,
    params: web::Query<NamesParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let with_labels = match params.include_labels.as_deref().map(str::trim) {
        None | Some("") | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "include_labels",
                "expected true or false",
            ))
        }
    };
    let names = store::list_names(&state.pool, &auth.project_id).await?;
    let data: Vec<Value> = names
        .into_iter()
        .map(|(name, keys)| {
            if with_labels {
                serde_json::json!({"name": name, "label_keys": keys})
            } else {
                Value::String(name)
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": data })))
}

/// Query parameters of `GET /api/public/metrics/query` (all strings, so every bad value
/// gets a 400 naming its parameter).
#[derive(Debug, Deserialize, IntoParams)]
pub struct QueryParams {
    /// Metric name (required).
    pub name: Option<String>,
    /// Start, ISO 8601 (default: `to` minus one hour).
    pub from: Option<String>,
    /// End, ISO 8601, inclusive (default: now).
    pub to: Option<String>,
    /// JSON object; series whose labels contain it.
    pub labels: Option<String>,
    /// Bucket width: `Ns`, `Nm`, `Nh`, `Nd` (1 s to 31 d; default `1m`).
    pub step: Option<String>,
    /// avg (default), max, min, sum, count, last, p50, p90, p95, p99.
    pub agg: Option<String>,
    /// Label key: one series per value of it.
    pub group_by: Option<String>,
}

/// One bucket.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricValue {
    /// Bucket start (buckets are aligned on the Unix epoch).
    #[serde(serialize_with = "time::serialize")]
    pub timestamp: DateTime<Utc>,
    /// Aggregated value.
    pub value: f64,
}

/// One series.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricSeries {
    /// The series' labels, or `{group_by: value}`.
    #[schema(value_type = Object)]
    pub labels: Value,
    /// Buckets in time order.
    pub values: Vec<MetricValue>,
}

/// The seed's `meta`, extended with the query echo and which limit was hit.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricsQueryMeta {
    /// Latest bucket returned (absent when no data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_ts: Option<String>,
    /// Series returned.
    pub series_count: usize,
    /// A limit was hit (`series_truncated` or `points_truncated`).
    pub truncated: bool,
    /// Series (or groups) that matched before the series limit.
    pub total_series: usize,
    /// More series matched than `max_series`; the first ones by labels are returned.
    pub series_truncated: bool,
    /// Some series had data after the first `max_points` buckets; the earliest are returned.
    pub points_truncated: bool,
    /// `XTRACE_METRICS_MAX_SERIES`.
    pub max_series: usize,
    /// `XTRACE_METRICS_MAX_POINTS`.
    pub max_points: usize,
    /// Metric name.
    pub name: String,
    /// Step as given (or the default `1m`).
    pub step: String,
    /// Step in seconds.
    pub step_seconds: i64,
    /// Aggregation.
    pub agg: String,
    /// Range start.
    #[serde(serialize_with = "time::serialize")]
    pub from: DateTime<Utc>,
    /// Range end (inclusive).
    #[serde(serialize_with = "time::serialize")]
    pub to: DateTime<Utc>,
    /// The group_by key, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_by: Option<String>,
}

/// `{"data": [series], "meta": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricsQueryResponse {
    /// Series ordered by labels.
    pub data: Vec<MetricSeries>,
    /// Bookkeeping and limits.
    pub meta: MetricsQueryMeta,
}

/// Bucketed, aggregated time series of one metric in the project: a series per label set
/// (or per `group_by` value), at most `XTRACE_METRICS_MAX_SERIES` series of at most
/// `XTRACE_METRICS_MAX_POINTS` buckets, limits reported in `meta`.
#[utoipa::path(tag = "Metrics (time series)", security(("BasicAuth" = []), ("BearerAuth" = [])),
    params(QueryParams),
    responses((status = 200, body = MetricsQueryResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
#[get("/api/public/metrics/query")]
pub async fn query_metrics(
    auth: ProjectAuth,
    params: web::Query<QueryParams>,
    state: web::Data<AppState>,
) -> Result<web::Json<MetricsQueryResponse>, ApiError> {
    let (q, step) = parse_query(params.into_inner(), &state, Utc::now())?;
    let _permit = state.heavy_permit().await?;
    let mut conn = state.pool.acquire().await?;
    let out = store::query_series(&mut conn, &auth.project_id, &q).await?;
    let latest = out
        .series
        .iter()
        .filter_map(|s| s.values.last().map(|v| v.0))
        .max();
    Ok(web::Json(MetricsQueryResponse {
        meta: MetricsQueryMeta {
            latest_ts: latest.as_ref().map(time::format),
            series_count: out.series.len(),
            truncated: out.series_truncated || out.points_truncated,
            total_series: out.total_series,
            series_truncated: out.series_truncated,
            points_truncated: out.points_truncated,
            max_series: q.max_series,
            max_points: q.max_points,
            name: q.name.clone(),
            step,
            step_seconds: q.step_secs,
            agg: q.agg.as_str().into(),
            from: q.from,
            to: q.to,
            group_by: q.group_by.clone(),
        },
        data: out
            .series
            .into_iter()
            .map(|s| MetricSeries {
                labels: s.labels,
                values: s
                    .values
                    .into_iter()
                    .map(|(timestamp, value)| MetricValue { timestamp, value })
                    .collect(),
            })
            .collect(),
    }))
}

fn parse_query(
    p: QueryParams,
    state: &AppState,
    now: DateTime<Utc>,
) -> Result<(SeriesQuery, String), ApiError> {
    let name = match p.name.as_deref() {
        None => return Err(ApiError::invalid_field("name", "required")),
        Some(s) => valid_name(s).map_err(|m| ApiError::invalid_field("name", m))?,
    };
    let opt = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let to = match opt(p.to) {
        Some(s) => parse_time(&s).map_err(|m| ApiError::invalid_field("to", m))?,
        None => now,
    };
    let from = match opt(p.from) {
        Some(s) => parse_time(&s).map_err(|m| ApiError::invalid_field("from", m))?,
        None => to - chrono::Duration::hours(1),
    };
    if from > to {
        return Err(ApiError::invalid_field("from", "must not be after to"));
    }
    let labels = match opt(p.labels) {
        None => None,
        Some(s) => {
            let v: Value = serde_json::from_str(&s).map_err(|e| {
                ApiError::invalid_field("labels", format!("must be a JSON object ({e})"))
            })?;
            Some(parse_labels(v).map_err(|m| ApiError::invalid_field("labels", m))?)
        }
    };
    let step = opt(p.step).unwrap_or_else(|| "1m".into());
    let step_secs = parse_step(&step).map_err(|m| ApiError::invalid_field("step", m))?;
    let agg = match opt(p.agg) {
        None => Agg::Avg,
        Some(s) => Agg::parse(&s).ok_or_else(|| {
            ApiError::invalid_field("agg", format!("must be one of: {}", Agg::NAMES))
        })?,
    };
    let group_by = match opt(p.group_by) {
        None => None,
        Some(k) if k.len() <= MAX_TEXT => Some(k),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "group_by",
                format!("must be a label key of at most {MAX_TEXT} bytes"),
            ))
        }
    };
    Ok((
        SeriesQuery {
            name,
            from,
            to,
            labels,
            step_secs,
            agg,
            group_by,
            max_series: state.config.metrics_max_series,
            max_points: state.config.metrics_max_points,
        },
        step,
    ))
}

/// `Ns`, `Nm`, `Nh`, `Nd` with N a positive integer, 1 s to 31 days.
fn parse_step(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let err =
        || format!("expected Ns, Nm, Nh or Nd (like 1m, 5m, 1h, 1d) from 1s to 31d, got {s:?}");
    // The unit is the last character; splitting by char keeps multibyte input total.
    let mut chars = s.chars();
    let unit = match chars.next_back() {
        Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3600,
        Some('d') => 86_400,
        _ => return Err(err()),
    };
    let num = chars.as_str();
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let n: i64 = num.parse().map_err(|_| err())?;
    match n.checked_mul(unit) {
        Some(secs) if (1..=MAX_STEP_SECS).contains(&secs) => Ok(secs),
        _ => Err(err()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_within_limits() {
        for (s, secs) in [
            ("1m", 60),
            ("5m", 300),
            ("1h", 3600),
            ("1d", 86_400),
            ("15s", 15),
            ("31d", 31 * 86_400),
        ] {
            assert_eq!(parse_step(s), Ok(secs), "{s}");
        }
        for s in [
            "",
            "m",
            "0m",
            "1w",
            "1.5m",
            "-1m",
            "32d",
            "99999999999999999999d",
            "1 m",
            "1é",
            "é",
            "1ém",
        ] {
            assert!(parse_step(s).is_err(), "{s:?} must be refused");
        }
    }

    #[test]
    fn labels_accept_scalars_and_refuse_nesting() {
        let m = parse_labels(serde_json::json!({"gpu": 0, "ok": true, "n": "x"})).unwrap();
        assert_eq!(m["gpu"], "0");
        assert_eq!(m["ok"], "true");
        assert!(parse_labels(serde_json::json!({"a": {"b": 1}})).is_err());
        assert!(parse_labels(serde_json::json!({"a": null})).is_err());
        assert!(parse_labels(serde_json::json!(["a"])).is_err());
    }
}
