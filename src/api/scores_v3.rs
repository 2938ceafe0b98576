//! `GET /api/public/v3/scores`: cursor-paged scores with a polymorphic `value` and
//! optional field groups.
//!
//! Rules (Langfuse `web/src/pages/api/public/v3/scores/index.ts` and
//! `web/src/features/public-api/server/scores-api-v3.ts`): `value` is a number (NUMERIC),
//! a boolean (BOOLEAN) or a string (CATEGORICAL, TEXT, CORRECTION); core fields always,
//! `details` adds comment/configId/metadata, `subject` the scored entity (experiment when
//! the score has a dataset run, else observation, session, trace), `annotation` adds
//! authorUserId/queueId; unknown groups, `limit` > 100, `userId`/`traceTags`, a `value`
//! filter without one NUMERIC/BOOLEAN/CATEGORICAL `dataType`, `valueMin`/`valueMax`
//! without `dataType=NUMERIC`, `observationId` without `traceId` and combining entity
//! filters are 400s. Every list filter is comma-separated (OR within, AND across);
//! `source` and `dataType` are case-insensitive. Order: timestamp desc, id desc; the
//! cursor is base64url JSON of the last row's timestamp and id.

use actix_web::{get, web};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::api::params::QueryParams;
use crate::api::ErrorBody;
use crate::auth::ProjectAuth;
use crate::domain::filter::{CmpOp, OptionsOp};
use crate::domain::{io, time, usage};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::filter::{Condition, Predicate, Scalar, SCORES};
use crate::store::scores::{self as store, ScoreFilter, ScoreRow};

/// Langfuse `GetScoresV3Meta`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GetScoresV3Meta {
    /// The page size used.
    pub limit: u64,
    /// Cursor of the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Langfuse `GetScoresV3Response`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GetScoresV3Response {
    /// Scores (`ScoreV3`), newest first.
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
    /// Pagination.
    pub meta: GetScoresV3Meta,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cursor {
    last_timestamp: DateTime<Utc>,
    last_id: String,
}

const FIELD_GROUPS: [&str; 4] = ["core", "details", "subject", "annotation"];
const SOURCES: [&str; 3] = ["API", "EVAL", "ANNOTATION"];
const DATA_TYPES: [&str; 5] = ["NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT", "CORRECTION"];

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid_field(field, message)
}

/// The polymorphic `value` of a score by its data type.
pub fn polymorphic_value(r: &ScoreRow) -> Value {
    let text = || {
        r.string_value
            .clone()
            .or_else(|| r.long_string_value.clone())
            .unwrap_or_default()
    };
    match r.data_type.as_str() {
        "NUMERIC" => r.value.map(usage::number).unwrap_or(Value::Null),
        "BOOLEAN" => json!(r.value == Some(1.0)),
        "CORRECTION" => json!(r
            .long_string_value
            .clone()
            .or_else(|| r.string_value.clone())
            .unwrap_or_default()),
        _ => json!(text()),
    }
}

/// The entity a score is attached to (`ScoreSubjectV3`), or null when it has none.
pub fn subject(r: &ScoreRow) -> Value {
    if let Some(run) = &r.dataset_run_id {
        return json!({"kind": "experiment", "id": run});
    }
    if let Some(obs) = &r.observation_id {
        let mut o = json!({"kind": "observation", "id": obs});
        if let Some(t) = &r.trace_id {
            o["traceId"] = json!(t);
        }
        return o;
    }
    if let Some(s) = &r.session_id {
        return json!({"kind": "session", "id": s});
    }
    match &r.trace_id {
        Some(t) => json!({"kind": "trace", "id": t}),
        None => Value::Null,
    }
}

/// Renders a score as Langfuse's `ScoreV3` with the requested groups.
pub fn score_v3(r: &ScoreRow, groups: &[String]) -> Value {
    let has = |g: &str| groups.iter().any(|x| x == g);
    let mut o = Map::new();
    o.insert("id".into(), json!(r.id));
    o.insert("projectId".into(), json!(r.project_id));
    o.insert("name".into(), json!(r.name));
    o.insert("dataType".into(), json!(r.data_type));
    o.insert("value".into(), polymorphic_value(r));
    o.insert("source".into(), json!(r.source));
    o.insert("timestamp".into(), json!(time::format(&r.timestamp)));
    o.insert("environment".into(), json!(r.environment));
    o.insert("createdAt".into(), json!(time::format(&r.created_at)));
    o.insert("updatedAt".into(), json!(time::format(&r.updated_at)));
    if has("details") {
        o.insert("comment".into(), json!(r.comment));
        o.insert("configId".into(), json!(r.config_id));
        o.insert(
            "metadata".into(),
            io::render_metadata(Some(r.metadata.clone())),
        );
    }
    if has("subject") {
        o.insert("subject".into(), subject(r));
    }
    if has("annotation") {
        o.insert("authorUserId".into(), json!(r.author_user_id));
        o.insert("queueId".into(), json!(r.queue_id));
    }
    Value::Object(o)
}

/// Upper-cased list values, each one of `allowed`.
fn enum_list(q: &QueryParams, name: &str, allowed: &[&str]) -> Result<Vec<String>, ApiError> {
    q.list(name)
        .into_iter()
        .map(|v| {
            let up = v.to_ascii_uppercase();
            if allowed.contains(&up.as_str()) {
                Ok(up)
            } else {
                let opts: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
                Err(ApiError::InvalidRequestData(vec![
                    crate::error::ValidationIssue::new(
                        "invalid_enum_value",
                        name,
                        format!(
                            "Invalid enum value. Expected {}, received '{v}'",
                            opts.join(" | ")
                        ),
                    ),
                ]))
            }
        })
        .collect()
}

/// The field groups (`core` is always included).
fn parse_fields(q: &QueryParams) -> Result<Vec<String>, ApiError> {
    let groups = q.fields().unwrap_or_default();
    if let Some(bad_group) = groups.iter().find(|g| !FIELD_GROUPS.contains(&g.as_str())) {
        return Err(bad(
            "fields",
            format!("Invalid field group: {bad_group}. Allowed: details, subject, annotation"),
        ));
    }
    Ok(groups)
}

fn parse_cursor(q: &QueryParams) -> Result<Option<Cursor>, ApiError> {
    let Some(raw) = q.get("cursor") else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .map_err(|_| bad("cursor", "Invalid cursor"))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|_| bad("cursor", "Invalid cursor"))
}

fn encode_cursor(c: &Cursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(c).expect("a cursor always serialises"))
}

/// The v3 filters as conditions of the shared score filter.
fn parse_filter(q: &QueryParams) -> Result<ScoreFilter, ApiError> {
    if q.get("userId").is_some() {
        return Err(bad(
            "userId",
            "userId filter requires a trace JOIN and is not supported in v3 — use v2 or omit this filter",
        ));
    }
    if q.get("traceTags").is_some() {
        return Err(bad(
            "traceTags",
            "traceTags filter requires a trace JOIN and is not supported in v3 — use v2 or omit this filter",
        ));
    }
    let sources = enum_list(q, "source", &SOURCES)?;
    let data_types = enum_list(q, "dataType", &DATA_TYPES)?;
    let values = q.list("value");
    let value_min = q.float("valueMin")?;
    let value_max = q.float("valueMax")?;
    let trace_ids = q.list("traceId");
    let session_ids = q.list("sessionId");
    let observation_ids = q.list("observationId");
    let experiment_ids = q.list("experimentId");

    let mut conditions = Vec::new();
    let mut any_of = |name: &str, vs: Vec<String>| {
        if !vs.is_empty() {
            conditions.push(Condition::any_of(&SCORES, name, &vs));
        }
    };
    any_of("id", q.list("id"));
    any_of("name", q.list("name"));
    any_of("source", sources);
    any_of("dataType", data_types.clone());
    any_of("environment", q.list("environment"));
    any_of("configId", q.list("configId"));
    any_of("queueId", q.list("queueId"));
    any_of("authorUserId", q.list("authorUserId"));
    any_of("traceId", trace_ids.clone());
    any_of("sessionId", session_ids.clone());
    any_of("observationId", observation_ids.clone());
    any_of("datasetRunId", experiment_ids.clone());

    if !values.is_empty() {
        let dt =
            match data_types.as_slice() {
                [one] => one.as_str(),
                _ => return Err(bad(
                    "value",
                    "value filter requires a single dataType from: NUMERIC, BOOLEAN, CATEGORICAL",
                )),
            };
        let predicate = match dt {
            "NUMERIC" => {
                let nums = values
                    .iter()
                    .map(|v| v.parse::<f64>().ok().filter(|f| f.is_finite()))
                    .collect::<Option<Vec<f64>>>()
                    .ok_or_else(|| {
                        bad(
                            "value",
                            "value filter with dataType=NUMERIC requires each value to be a finite number",
                        )
                    })?;
                ("value", Predicate::NumberIn(nums))
            }
            "BOOLEAN" => {
                let nums = values
                    .iter()
                    .map(|v| match v.as_str() {
                        "true" => Ok(1.0),
                        "false" => Ok(0.0),
                        other => Err(bad(
                            "value",
                            format!("value filter with dataType=BOOLEAN requires each value to be \"true\" or \"false\" (got \"{other}\")"),
                        )),
                    })
                    .collect::<Result<Vec<f64>, ApiError>>()?;
                ("value", Predicate::NumberIn(nums))
            }
            "CATEGORICAL" => (
                "stringValue",
                Predicate::Options(OptionsOp::AnyOf, values.clone()),
            ),
            other => {
                return Err(bad(
                    "value",
                    format!("value filter requires dataType to be NUMERIC, BOOLEAN, or CATEGORICAL (got \"{other}\")"),
                ))
            }
        };
        conditions.push(Condition::on(&SCORES, predicate.0, predicate.1));
    }
    if value_min.is_some() || value_max.is_some() {
        if data_types.as_slice() != ["NUMERIC"] {
            return Err(bad(
                if value_min.is_some() {
                    "valueMin"
                } else {
                    "valueMax"
                },
                "valueMin and valueMax require dataType=NUMERIC as a single value",
            ));
        }
        for (op, v) in [(CmpOp::Ge, value_min), (CmpOp::Le, value_max)] {
            if let Some(v) = v {
                conditions.push(Condition::on(
                    &SCORES,
                    "value",
                    Predicate::Compare(op, Scalar::Number(v)),
                ));
            }
        }
    }
    if !observation_ids.is_empty() && trace_ids.is_empty() {
        return Err(bad(
            "observationId",
            "observationId requires traceId, because observation IDs are scoped to a trace",
        ));
    }
    let entity_kinds = [
        !trace_ids.is_empty(),
        !session_ids.is_empty(),
        !experiment_ids.is_empty(),
    ];
    if entity_kinds.iter().filter(|b| **b).count() > 1 {
        return Err(bad(
            "traceId",
            "At most one of traceId (with observationId), sessionId, experimentId may be specified",
        ));
    }
    Ok(ScoreFilter {
        from_timestamp: q.datetime("fromTimestamp")?,
        to_timestamp: q.datetime("toTimestamp")?,
        advanced: conditions,
        ..ScoreFilter::default()
    })
}

/// Langfuse `scoresV3_getManyV3`: cursor-paged scores with a polymorphic `value`.
#[utoipa::path(tag = "ScoresV3", security(("BasicAuth" = [])),
    params(("limit" = Option<u32>, Query, description = "1..100, default 50"),
        ("cursor" = Option<String>, Query, description = "base64url cursor of the previous page"),
        ("fields" = Option<String>, Query, description = "details, subject, annotation"),
        ("id" = Option<String>, Query), ("name" = Option<String>, Query),
        ("source" = Option<String>, Query), ("dataType" = Option<String>, Query),
        ("environment" = Option<String>, Query), ("configId" = Option<String>, Query),
        ("queueId" = Option<String>, Query), ("authorUserId" = Option<String>, Query),
        ("value" = Option<String>, Query), ("valueMin" = Option<f64>, Query),
        ("valueMax" = Option<f64>, Query), ("traceId" = Option<String>, Query),
        ("sessionId" = Option<String>, Query), ("observationId" = Option<String>, Query),
        ("experimentId" = Option<String>, Query), ("fromTimestamp" = Option<String>, Query),
        ("toTimestamp" = Option<String>, Query)),
    responses((status = 200, body = GetScoresV3Response), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[get("/api/public/v3/scores")]
pub async fn list_scores_v3(
    auth: ProjectAuth,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<GetScoresV3Response>, ApiError> {
    let limit = q.int("limit", 1, 100)?.unwrap_or(50) as u64;
    let groups = parse_fields(&q)?;
    let cursor = parse_cursor(&q)?;
    let filter = parse_filter(&q)?;
    let (rows, more) = store::list_scores_after(
        &state.pool,
        &auth.project_id,
        &filter,
        cursor
            .as_ref()
            .map(|c| (c.last_timestamp, c.last_id.as_str())),
        limit,
    )
    .await?;
    let next = match rows.last() {
        Some(last) if more => Some(encode_cursor(&Cursor {
            last_timestamp: last.timestamp,
            last_id: last.id.clone(),
        })),
        _ => None,
    };
    Ok(web::Json(GetScoresV3Response {
        data: rows.iter().map(|r| score_v3(r, &groups)).collect(),
        meta: GetScoresV3Meta {
            limit,
            cursor: next,
        },
    }))
}
