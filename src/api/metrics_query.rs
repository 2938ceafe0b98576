//! The metrics query API: `GET /api/public/metrics?query=<JSON>` (v1) and
//! `GET /api/public/v2/metrics?query=<JSON>` (v2). This module checks the query object's
//! shape as Langfuse's zod schema does (400 "Invalid request data" with issues under
//! `query.*`); names (dimensions, measures, filter columns, orderBy) are checked by the
//! compiler in `store::metrics_query` (400 `InvalidRequestError` naming the value).

use actix_web::{get, web};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::api::params::{parse_datetime, QueryParams};
use crate::api::ErrorBody;
use crate::auth::ProjectAuth;
use crate::error::{ApiError, ValidationIssue};
use crate::startup::AppState;
use crate::store::metrics_query::{
    self as store, Aggregation, ApiVersion, Filter, FilterValue, Granularity, MetricsQuery,
    ViewName,
};

/// Langfuse `MetricsResponse` / `MetricsV2Response`: one object per result row.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricsResponse {
    /// Rows keyed by dimension field names, `time_dimension`, and `<aggregation>_<measure>`.
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Map<String, Value>>,
}

/// v2's row limit when the query gives none.
const V2_DEFAULT_ROW_LIMIT: u32 = 100;

/// Collects zod-like issues under `query.*`.
#[derive(Default)]
struct Issues(Vec<ValidationIssue>);

impl Issues {
    fn add(&mut self, code: &'static str, path: &str, message: impl Into<String>) {
        self.0.push(ValidationIssue::new(
            code,
            &format!("query.{path}"),
            message,
        ));
    }

    fn type_error(&mut self, path: &str, expected: &str, got: Option<&Value>) {
        let received = match got {
            None => "undefined",
            Some(Value::Null) => "null",
            Some(Value::Bool(_)) => "boolean",
            Some(Value::Number(_)) => "number",
            Some(Value::String(_)) => "string",
            Some(Value::Array(_)) => "array",
            Some(Value::Object(_)) => "object",
        };
        self.add(
            "invalid_type",
            path,
            format!("Invalid input: expected {expected}, received {received}"),
        );
    }
}

fn enum_value<T: Copy>(
    issues: &mut Issues,
    path: &str,
    what: &str,
    v: Option<&Value>,
    options: &[(&str, T)],
) -> Option<T> {
    let Some(s) = v.and_then(Value::as_str) else {
        issues.type_error(path, "string", v);
        return None;
    };
    match options.iter().find(|(n, _)| *n == s) {
        Some((_, t)) => Some(*t),
        None => {
            let names: Vec<String> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
            issues.add(
                "invalid_value",
                path,
                format!("Invalid {what} '{s}': expected one of {}", names.join("|")),
            );
            None
        }
    }
}

fn string_array(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_str().map(str::to_string))
        .collect()
}

fn parse_filter(issues: &mut Issues, i: usize, f: &Value) -> Option<Filter> {
    let p = |k: &str| format!("filters.{i}.{k}");
    let Some(obj) = f.as_object() else {
        issues.type_error(&format!("filters.{i}"), "object", Some(f));
        return None;
    };
    let Some(column) = obj.get("column").and_then(Value::as_str) else {
        issues.type_error(&p("column"), "string", obj.get("column"));
        return None;
    };
    let Some(kind) = obj.get("type").and_then(Value::as_str) else {
        issues.type_error(&p("type"), "string", obj.get("type"));
        return None;
    };
    let op_raw = obj.get("operator").and_then(Value::as_str);
    let value = obj.get("value");
    const STR_OPS: &[&str] = &[
        "=",
        "contains",
        "does not contain",
        "starts with",
        "ends with",
    ];
    const CMP_OPS: &[&str] = &["=", ">", "<", ">=", "<="];
    let pick = |issues: &mut Issues, ops: &[&'static str]| -> Option<&'static str> {
        match op_raw.and_then(|o| ops.iter().find(|x| **x == o)) {
            Some(o) => Some(*o),
            None => {
                issues.add(
                    "invalid_value",
                    &p("operator"),
                    format!(
                        "Invalid operator '{}' for filter type '{kind}': expected one of {}",
                        op_raw.unwrap_or(""),
                        ops.join(", ")
                    ),
                );
                None
            }
        }
    };
    let key = obj.get("key").and_then(Value::as_str).map(str::to_string);
    let fv = match kind {
        "datetime" => {
            let op = pick(issues, &[">", "<", ">=", "<="])?;
            let Some(t) = value.and_then(Value::as_str).and_then(parse_datetime) else {
                issues.add("invalid_type", &p("value"), "Invalid input: expected date");
                return None;
            };
            FilterValue::DateTime(op, t)
        }
        "string" | "stringObject" => {
            let op = pick(issues, STR_OPS)?;
            let Some(s) = value.and_then(Value::as_str) else {
                issues.type_error(&p("value"), "string", value);
                return None;
            };
            if kind == "stringObject" && key.is_none() {
                issues.type_error(&p("key"), "string", obj.get("key"));
                return None;
            }
            FilterValue::Text(op, s.to_string())
        }
        "number" | "numberObject" => {
            let op = pick(issues, CMP_OPS)?;
            let Some(n) = value.and_then(Value::as_f64) else {
                issues.type_error(&p("value"), "number", value);
                return None;
            };
            if kind == "numberObject" && key.is_none() {
                issues.type_error(&p("key"), "string", obj.get("key"));
                return None;
            }
            FilterValue::Number(op, n)
        }
        "stringOptions" | "arrayOptions" => {
            let ops: &[&'static str] = if kind == "arrayOptions" {
                &["any of", "none of", "all of"]
            } else {
                &["any of", "none of"]
            };
            let op = pick(issues, ops)?;
            let Some(vals) = value.and_then(string_array) else {
                issues.type_error(&p("value"), "array", value);
                return None;
            };
            FilterValue::Options(op, vals)
        }
        "boolean" => {
            let op = pick(issues, &["=", "<>"])?;
            let Some(b) = value.and_then(Value::as_bool) else {
                issues.type_error(&p("value"), "boolean", value);
                return None;
            };
            FilterValue::Bool(op, b)
        }
        "null" => FilterValue::Null(pick(issues, &["is null", "is not null"])?),
        other => {
            issues.add(
                "invalid_union",
                &p("type"),
                format!("Invalid filter type '{other}': expected one of datetime, string, number, stringOptions, arrayOptions, stringObject, numberObject, boolean, null"),
            );
            return None;
        }
    };
    Some(Filter {
        column: column.to_string(),
        kind: kind.to_string(),
        key,
        value: fv,
    })
}

/// Parses the `query` parameter into a `MetricsQuery` (shape only).
fn parse_query(version: ApiVersion, q: &QueryParams) -> Result<MetricsQuery, ApiError> {
    let Some(raw) = q.get("query") else {
        return Err(ApiError::InvalidRequestData(vec![ValidationIssue::new(
            "invalid_type",
            "query",
            "Invalid input: expected string, received undefined",
        )]));
    };
    let json: Value = serde_json::from_str(raw)
        .map_err(|_| ApiError::InvalidRequest("Invalid JSON in query parameter".into()))?;
    let mut issues = Issues::default();
    let Some(obj) = json.as_object() else {
        issues.type_error("", "object", Some(&json));
        return Err(ApiError::InvalidRequestData(issues.0));
    };

    let view = enum_value(
        &mut issues,
        "view",
        "view",
        obj.get("view"),
        ViewName::all(version),
    );

    let mut dimensions = Vec::new();
    match obj.get("dimensions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, d) in items.iter().enumerate() {
                match d.get("field").and_then(Value::as_str) {
                    Some(f) => dimensions.push(f.to_string()),
                    None => issues.type_error(
                        &format!("dimensions.{i}.field"),
                        "string",
                        d.get("field"),
                    ),
                }
            }
        }
        other => issues.type_error("dimensions", "array", other),
    }

    let mut metrics = Vec::new();
    match obj.get("metrics") {
        Some(Value::Array(items)) => {
            for (i, m) in items.iter().enumerate() {
                let measure = m.get("measure").and_then(Value::as_str);
                if measure.is_none() {
                    issues.type_error(&format!("metrics.{i}.measure"), "string", m.get("measure"));
                }
                let agg = enum_value(
                    &mut issues,
                    &format!("metrics.{i}.aggregation"),
                    "aggregation",
                    m.get("aggregation"),
                    Aggregation::ALL,
                );
                if let (Some(measure), Some(agg)) = (measure, agg) {
                    metrics.push((measure.to_string(), agg));
                }
            }
        }
        other => issues.type_error("metrics", "array", other),
    }

    let mut filters = Vec::new();
    match obj.get("filters") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, f) in items.iter().enumerate() {
                if let Some(f) = parse_filter(&mut issues, i, f) {
                    filters.push(f);
                }
            }
        }
        other => issues.type_error("filters", "array", other),
    }

    let granularity = match obj.get("timeDimension") {
        None | Some(Value::Null) => None,
        Some(Value::Object(td)) => enum_value(
            &mut issues,
            "timeDimension.granularity",
            "granularity",
            td.get("granularity"),
            Granularity::ALL,
        ),
        other => {
            issues.type_error("timeDimension", "object", other);
            None
        }
    };

    let mut stamp = |name: &str| -> Option<chrono::DateTime<chrono::Utc>> {
        let v = obj.get(name);
        match v.and_then(Value::as_str) {
            None => {
                issues.type_error(name, "string", v);
                None
            }
            Some(s) => {
                let t = parse_datetime(s);
                if t.is_none() {
                    issues.add("invalid_format", name, "Invalid ISO datetime");
                }
                t
            }
        }
    };
    let from = stamp("fromTimestamp");
    let to = stamp("toTimestamp");

    let order_by = match obj.get("orderBy") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for (i, o) in items.iter().enumerate() {
                let field = o.get("field").and_then(Value::as_str);
                if field.is_none() {
                    issues.type_error(&format!("orderBy.{i}.field"), "string", o.get("field"));
                }
                let dir = enum_value(
                    &mut issues,
                    &format!("orderBy.{i}.direction"),
                    "direction",
                    o.get("direction"),
                    &[("asc", false), ("desc", true)],
                );
                if let (Some(f), Some(d)) = (field, dir) {
                    out.push((f.to_string(), d));
                }
            }
            Some(out)
        }
        other => {
            issues.type_error("orderBy", "array", other);
            None
        }
    };

    let mut bins = 10;
    let mut row_limit = None;
    match obj.get("config") {
        None | Some(Value::Null) => {}
        Some(Value::Object(c)) => {
            let mut int = |name: &str, min: u64, max: u64| -> Option<u32> {
                let v = c.get(name)?;
                match v.as_u64().filter(|n| (min..=max).contains(n)) {
                    Some(n) => Some(n as u32),
                    None => {
                        issues.add(
                            "too_big",
                            &format!("config.{name}"),
                            format!("Invalid {name}: expected an integer between {min} and {max}"),
                        );
                        None
                    }
                }
            };
            if let Some(b) = int("bins", 1, 100) {
                bins = b;
            }
            row_limit = int("row_limit", 1, 1000);
        }
        other => issues.type_error("config", "object", other),
    }

    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            issues.add("custom", "", "fromTimestamp must be before toTimestamp");
        }
    }
    if !issues.0.is_empty() {
        return Err(ApiError::InvalidRequestData(issues.0));
    }
    let (Some(view), Some(from), Some(to)) = (view, from, to) else {
        return Err(ApiError::InvalidRequest("Invalid query".into()));
    };
    Ok(MetricsQuery {
        version,
        view,
        dimensions,
        metrics,
        filters,
        granularity,
        from,
        to,
        order_by,
        bins,
        row_limit,
    })
}

async fn run(
    version: ApiVersion,
    auth: ProjectAuth,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<MetricsResponse>, ApiError> {
    let query = parse_query(version, &q)?;
    let mut compiled =
        store::compile(&auth.project_id, &query).map_err(ApiError::InvalidRequest)?;
    if query.row_limit.is_none() {
        // Applied after validation, as Langfuse does (high-cardinality checks see the raw
        // query). v1 has no default in Langfuse; here it gets `XTRACE_METRICS_QUERY_MAX_ROWS`
        // so that an `id` dimension over all time cannot load every row.
        let limit = match version {
            ApiVersion::V2 => V2_DEFAULT_ROW_LIMIT,
            ApiVersion::V1 => state.config.metrics_query_max_rows,
        };
        let q2 = MetricsQuery {
            row_limit: Some(limit),
            ..query
        };
        compiled = store::compile(&auth.project_id, &q2).map_err(ApiError::InvalidRequest)?;
    }
    let _permit = state.heavy_permit().await?;
    let data = store::run(&state.pool, compiled).await?;
    Ok(web::Json(MetricsResponse { data }))
}

/// Langfuse `legacy_metricsV1_metrics`: aggregate traces, observations or scores by
/// dimensions and time buckets.
#[utoipa::path(tag = "Metrics", security(("BasicAuth" = [])),
    params(("query" = String, Query, description = "URL-encoded JSON query object: view, dimensions, metrics, filters, timeDimension, fromTimestamp, toTimestamp, orderBy, config")),
    responses((status = 200, body = MetricsResponse), (status = 400, body = ErrorBody)))]
#[get("/api/public/metrics")]
pub async fn get_metrics(
    auth: ProjectAuth,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<MetricsResponse>, ApiError> {
    run(ApiVersion::V1, auth, q, state).await
}

/// Langfuse `metrics_metrics` (v2): like v1 without the `traces` view; high-cardinality
/// dimensions need `config.row_limit` and a descending measure `orderBy`; rows default to 100.
#[utoipa::path(tag = "Metrics", security(("BasicAuth" = [])),
    params(("query" = String, Query, description = "URL-encoded JSON query object (views observations, scores-numeric, scores-categorical, scores-boolean)")),
    responses((status = 200, body = MetricsResponse), (status = 400, body = ErrorBody)))]
#[get("/api/public/v2/metrics")]
pub async fn get_metrics_v2(
    auth: ProjectAuth,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<MetricsResponse>, ApiError> {
    run(ApiVersion::V2, auth, q, state).await
}
