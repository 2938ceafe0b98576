//! Observations: `GET /api/public/observations` (v1, page-based),
//! `GET /api/public/observations/{observationId}` and `GET /api/public/v2/observations`
//! (cursor-based, field groups). The v1 object (`ObservationsView`) is also what
//! `GET /api/public/traces/{traceId}` embeds.

use actix_web::{get, web};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::api::params::PathParam;
use crate::api::params::QueryParams;
use crate::api::{ErrorBody, MetaResponse};
use crate::auth::ProjectAuth;
use crate::domain::{io, time, usage};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::observations::{self as store, Cursor, ObservationFilter, ObservationRow};

/// Observation types Langfuse accepts.
pub const OBSERVATION_TYPES: &[(&str, &str)] = &[
    ("GENERATION", "GENERATION"),
    ("SPAN", "SPAN"),
    ("EVENT", "EVENT"),
    ("AGENT", "AGENT"),
    ("TOOL", "TOOL"),
    ("CHAIN", "CHAIN"),
    ("RETRIEVER", "RETRIEVER"),
    ("EVALUATOR", "EVALUATOR"),
    ("EMBEDDING", "EMBEDDING"),
    ("GUARDRAIL", "GUARDRAIL"),
];

/// Observation levels.
pub const LEVELS: &[(&str, &str)] = &[
    ("DEBUG", "DEBUG"),
    ("DEFAULT", "DEFAULT"),
    ("WARNING", "WARNING"),
    ("ERROR", "ERROR"),
];

/// Legacy `usage` object (always unit TOKENS).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Usage {
    /// Sum of input usage keys (0 when none).
    #[schema(value_type = f64)]
    pub input: Value,
    /// Sum of output usage keys (0 when none).
    #[schema(value_type = f64)]
    pub output: Value,
    /// `usageDetails.total` or 0.
    #[schema(value_type = f64)]
    pub total: Value,
    /// Always `TOKENS`.
    pub unit: &'static str,
}

/// Langfuse `ObservationsView`: one observation with derived usage, cost and timings.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservationView {
    /// Id.
    pub id: String,
    /// Project.
    pub project_id: String,
    /// Trace.
    pub trace_id: String,
    /// Parent observation.
    pub parent_observation_id: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// GENERATION, SPAN, EVENT, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Environment.
    pub environment: String,
    /// Start.
    #[serde(serialize_with = "time::serialize")]
    pub start_time: DateTime<Utc>,
    /// End.
    #[serde(serialize_with = "time::serialize_opt")]
    pub end_time: Option<DateTime<Utc>>,
    /// Version.
    pub version: Option<String>,
    /// Created.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    /// Updated.
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: DateTime<Utc>,
    /// Input (strings holding JSON come back parsed).
    pub input: Value,
    /// Output.
    pub output: Value,
    /// Metadata.
    pub metadata: Value,
    /// Level.
    pub level: String,
    /// Status message.
    pub status_message: Option<String>,
    /// Model name as sent.
    pub model: Option<String>,
    /// Model parameters.
    pub model_parameters: Value,
    /// First token.
    #[serde(serialize_with = "time::serialize_opt")]
    pub completion_start_time: Option<DateTime<Utc>>,
    /// Prompt id.
    pub prompt_id: Option<String>,
    /// Prompt name.
    pub prompt_name: Option<String>,
    /// Prompt version.
    pub prompt_version: Option<i32>,
    /// Usage map.
    pub usage_details: Value,
    /// Cost map (USD).
    pub cost_details: Value,
    /// Legacy usage object.
    pub usage: Usage,
    /// Always `TOKENS`.
    pub unit: &'static str,
    /// Sum of input usage keys.
    #[schema(value_type = f64)]
    pub prompt_tokens: Value,
    /// Sum of output usage keys.
    #[schema(value_type = f64)]
    pub completion_tokens: Value,
    /// `usageDetails.total` or 0.
    #[schema(value_type = f64)]
    pub total_tokens: Value,
    /// Pricing tier name.
    pub usage_pricing_tier_name: Option<String>,
    /// Pricing tier id.
    pub usage_pricing_tier_id: Option<String>,
    /// Matched model definition.
    pub model_id: Option<String>,
    /// Matched model's input price per unit (default pricing tier), null without a model.
    pub input_price: Option<f64>,
    /// Output price per unit.
    pub output_price: Option<f64>,
    /// Total price per unit.
    pub total_price: Option<f64>,
    /// Sum of input cost keys, null when none.
    #[schema(value_type = Option<f64>)]
    pub calculated_input_cost: Value,
    /// Sum of output cost keys, null when none.
    #[schema(value_type = Option<f64>)]
    pub calculated_output_cost: Value,
    /// `costDetails.total` or 0.
    #[schema(value_type = f64)]
    pub calculated_total_cost: Value,
    /// End − start in seconds.
    pub latency: Option<f64>,
    /// First token − start in seconds.
    pub time_to_first_token: Option<f64>,
}

fn seconds(later: Option<DateTime<Utc>>, earlier: DateTime<Utc>) -> Option<f64> {
    later.map(|l| (l - earlier).num_milliseconds() as f64 / 1000.0)
}

fn opt_number(v: Option<f64>) -> Value {
    v.map(usage::number).unwrap_or(Value::Null)
}

impl ObservationView {
    /// The calculated total cost as a float (for trace totals).
    pub fn total_cost(&self) -> f64 {
        self.calculated_total_cost.as_f64().unwrap_or(0.0)
    }
}

impl From<ObservationRow> for ObservationView {
    fn from(r: ObservationRow) -> Self {
        let u = usage::reduce(&r.usage_details);
        let c = usage::reduce(&r.cost_details);
        let input_usage = usage::number(u.input.unwrap_or(0.0));
        let output_usage = usage::number(u.output.unwrap_or(0.0));
        let total_usage = usage::number(u.total);
        ObservationView {
            latency: seconds(r.end_time, r.start_time),
            time_to_first_token: seconds(r.completion_start_time, r.start_time),
            id: r.id,
            project_id: r.project_id,
            trace_id: r.trace_id,
            parent_observation_id: r.parent_observation_id,
            name: r.name,
            kind: r.kind,
            environment: r.environment,
            start_time: r.start_time,
            end_time: r.end_time,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            input: io::render(r.input),
            output: io::render(r.output),
            metadata: io::render_metadata(Some(r.metadata)),
            level: r.level,
            status_message: r.status_message,
            model: r.model,
            model_parameters: r.model_parameters.unwrap_or(Value::Null),
            completion_start_time: r.completion_start_time,
            prompt_id: r.prompt_id,
            prompt_name: r.prompt_name,
            prompt_version: r.prompt_version,
            usage_details: usage::normalise_map(r.usage_details),
            cost_details: usage::normalise_map(r.cost_details),
            usage: Usage {
                input: input_usage.clone(),
                output: output_usage.clone(),
                total: total_usage.clone(),
                unit: "TOKENS",
            },
            unit: "TOKENS",
            prompt_tokens: input_usage,
            completion_tokens: output_usage,
            total_tokens: total_usage,
            usage_pricing_tier_name: r.usage_pricing_tier_name,
            usage_pricing_tier_id: r.usage_pricing_tier_id,
            model_id: r.internal_model_id,
            input_price: r.input_price,
            output_price: r.output_price,
            total_price: r.total_price,
            calculated_input_cost: opt_number(c.input),
            calculated_output_cost: opt_number(c.output),
            calculated_total_cost: usage::number(c.total),
        }
    }
}

/// Langfuse `ObservationsViews`: a page of observations.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObservationsViews {
    /// The page.
    pub data: Vec<ObservationView>,
    /// Pagination.
    pub meta: MetaResponse,
}

fn parse_filter(q: &QueryParams, v2: bool) -> Result<ObservationFilter, ApiError> {
    Ok(ObservationFilter {
        name: q.string("name"),
        user_id: q.string("userId"),
        session_id: if v2 { q.string("sessionId") } else { None },
        kind: q.one_of("type", OBSERVATION_TYPES)?.map(str::to_string),
        trace_id: q.string("traceId"),
        parent_observation_id: q.string("parentObservationId"),
        is_root: if v2 {
            q.bool("isRootObservation")?
        } else {
            None
        },
        level: q.one_of("level", LEVELS)?.map(str::to_string),
        environments: q.list("environment"),
        from_start_time: q.datetime("fromStartTime")?,
        to_start_time: q.datetime("toStartTime")?,
        version: q.string("version"),
        advanced: q.advanced_filter(&crate::store::filter::OBSERVATIONS)?,
    })
}

/// Langfuse `observations_getMany` (v1): observations newest first, with filters.
#[utoipa::path(tag = "Observations", security(("BasicAuth" = [])),
    params(("page" = Option<u32>, Query), ("limit" = Option<u32>, Query), ("name" = Option<String>, Query),
        ("userId" = Option<String>, Query), ("type" = Option<String>, Query), ("traceId" = Option<String>, Query),
        ("level" = Option<String>, Query), ("parentObservationId" = Option<String>, Query),
        ("environment" = Option<Vec<String>>, Query), ("fromStartTime" = Option<String>, Query),
        ("toStartTime" = Option<String>, Query), ("version" = Option<String>, Query),
        ("filter" = Option<String>, Query, description = "JSON array of filter conditions {type, column, operator, value, key?}; a condition on a column replaces the simple parameter on that column")),
    responses((status = 200, body = ObservationsViews), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[get("/api/public/observations")]
pub async fn list_observations(
    auth: ProjectAuth,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<ObservationsViews>, ApiError> {
    let page = q.default_page()?;
    let filter = parse_filter(&q, false)?;
    let (rows, total) =
        store::list_observations(&state.pool, &auth.project_id, &filter, page).await?;
    Ok(web::Json(ObservationsViews {
        data: rows.into_iter().map(ObservationView::from).collect(),
        meta: MetaResponse::new(page.page, page.limit, total),
    }))
}

/// Langfuse `observations_get`: one observation.
#[utoipa::path(tag = "Observations", security(("BasicAuth" = [])), params(("observationId" = String, Path)),
    responses((status = 200, body = ObservationView), (status = 404, body = ErrorBody)))]
#[get("/api/public/observations/{observationId}")]
pub async fn get_observation(
    auth: ProjectAuth,
    id: PathParam,
    state: web::Data<AppState>,
) -> Result<web::Json<ObservationView>, ApiError> {
    let row = store::find_observation(&state.pool, &auth.project_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("Observation", &id))?;
    Ok(web::Json(row.into()))
}

/// Field groups of the v2 list.
const V2_GROUPS: &[&str] = &[
    "core",
    "basic",
    "time",
    "io",
    "metadata",
    "model",
    "usage",
    "prompt",
    "metrics",
    "trace_context",
];

/// `meta` of the v2 list: a cursor only when more rows exist.
#[derive(Debug, Serialize, ToSchema)]
pub struct CursorMeta {
    /// Opaque cursor for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Langfuse `ObservationsV2Response`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObservationsV2Response {
    /// Observations with the requested field groups.
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
    /// Cursor.
    pub meta: CursorMeta,
}

fn decode_cursor(raw: &str) -> Result<Cursor, ApiError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(raw))
        .map_err(|_| ApiError::invalid_field("cursor", "Invalid cursor"))?;
    serde_json::from_slice(&bytes).map_err(|_| ApiError::invalid_field("cursor", "Invalid cursor"))
}

fn encode_cursor(c: &Cursor) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(c).expect("a cursor always serialises"))
}

/// Renders one row with the selected groups (v2 shape: I/O as raw strings).
fn v2_object(
    r: ObservationRow,
    groups: &[&str],
    ctx: Option<&store::TraceContextRow>,
    expand_metadata: &[String],
) -> Value {
    let has = |g: &str| groups.contains(&g);
    let ts = |t: Option<DateTime<Utc>>| t.map(|t| json!(time::format(&t))).unwrap_or(Value::Null);
    let raw = |v: Option<Value>| match v {
        None => Value::Null,
        Some(Value::String(s)) => Value::String(s),
        Some(other) => Value::String(other.to_string()),
    };
    let mut o = Map::new();
    o.insert("id".into(), json!(r.id));
    o.insert("traceId".into(), json!(r.trace_id));
    o.insert("startTime".into(), ts(Some(r.start_time)));
    o.insert("endTime".into(), ts(r.end_time));
    o.insert("projectId".into(), json!(r.project_id));
    o.insert("parentObservationId".into(), json!(r.parent_observation_id));
    o.insert("type".into(), json!(r.kind));
    if has("basic") {
        o.insert("name".into(), json!(r.name));
        o.insert("level".into(), json!(r.level));
        o.insert("statusMessage".into(), json!(r.status_message));
        o.insert("version".into(), json!(r.version));
        o.insert("environment".into(), json!(r.environment));
        o.insert(
            "bookmarked".into(),
            json!(ctx.map(|c| c.bookmarked).unwrap_or(false)),
        );
        o.insert(
            "public".into(),
            json!(ctx.map(|c| c.public).unwrap_or(false)),
        );
        o.insert("userId".into(), json!(ctx.and_then(|c| c.user_id.clone())));
        o.insert(
            "sessionId".into(),
            json!(ctx.and_then(|c| c.session_id.clone())),
        );
        o.insert(
            "isRootObservation".into(),
            json!(o["parentObservationId"].is_null()),
        );
    }
    if has("time") {
        o.insert("completionStartTime".into(), ts(r.completion_start_time));
        o.insert("createdAt".into(), ts(Some(r.created_at)));
        o.insert("updatedAt".into(), ts(Some(r.updated_at)));
    }
    if has("io") {
        o.insert("input".into(), raw(r.input.clone()));
        o.insert("output".into(), raw(r.output.clone()));
    }
    if has("metadata") {
        // Values are strings in Langfuse's store; long values are only expanded on request.
        let meta = match &r.metadata {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| {
                        let s = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        let keep_full = expand_metadata.iter().any(|e| e == k);
                        let s = if !keep_full && s.chars().count() > 200 {
                            s.chars().take(200).collect::<String>()
                        } else {
                            s
                        };
                        (k.clone(), Value::String(s))
                    })
                    .collect(),
            ),
            _ => json!({}),
        };
        o.insert("metadata".into(), meta);
    }
    if has("model") {
        o.insert("providedModelName".into(), json!(r.model));
        o.insert("internalModelId".into(), json!(r.internal_model_id));
        o.insert(
            "modelParameters".into(),
            r.model_parameters.clone().unwrap_or(Value::Null),
        );
    }
    if has("usage") {
        let c = usage::reduce(&r.cost_details);
        o.insert(
            "usageDetails".into(),
            usage::normalise_map(r.usage_details.clone()),
        );
        o.insert(
            "costDetails".into(),
            usage::normalise_map(r.cost_details.clone()),
        );
        o.insert("totalCost".into(), usage::number(c.total));
        o.insert(
            "usagePricingTierName".into(),
            json!(r.usage_pricing_tier_name),
        );
    }
    if has("prompt") {
        o.insert("promptId".into(), json!(r.prompt_id));
        o.insert("promptName".into(), json!(r.prompt_name));
        o.insert("promptVersion".into(), json!(r.prompt_version));
    }
    if has("metrics") {
        o.insert("latency".into(), json!(seconds(r.end_time, r.start_time)));
        o.insert(
            "timeToFirstToken".into(),
            json!(seconds(r.completion_start_time, r.start_time)),
        );
    }
    if has("trace_context") {
        o.insert("traceName".into(), json!(ctx.and_then(|c| c.name.clone())));
        o.insert(
            "tags".into(),
            json!(ctx.map(|c| c.tags.clone()).unwrap_or_default()),
        );
        o.insert("release".into(), json!(ctx.and_then(|c| c.release.clone())));
    }
    o.insert(
        "modelId".into(),
        if has("model") {
            json!(r.internal_model_id)
        } else {
            Value::Null
        },
    );
    // Langfuse sends the prices as decimal strings here, and only with the model group.
    let price = |p: Option<f64>| match p {
        Some(p) if has("model") => Value::String(p.to_string()),
        _ => Value::Null,
    };
    o.insert("inputPrice".into(), price(r.input_price));
    o.insert("outputPrice".into(), price(r.output_price));
    o.insert("totalPrice".into(), price(r.total_price));
    Value::Object(o)
}

/// Langfuse `observations_getManyV2`: cursor-paged observations with field groups.
#[utoipa::path(path = "/api/public/v2/observations", tag = "ObservationsV2", security(("BasicAuth" = [])),
    params(("fields" = Option<String>, Query), ("expandMetadata" = Option<String>, Query),
        ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query),
        ("parseIoAsJson" = Option<bool>, Query), ("type" = Option<String>, Query), ("name" = Option<String>, Query),
        ("userId" = Option<String>, Query), ("sessionId" = Option<String>, Query), ("level" = Option<String>, Query),
        ("traceId" = Option<String>, Query), ("version" = Option<String>, Query),
        ("parentObservationId" = Option<String>, Query), ("isRootObservation" = Option<bool>, Query),
        ("environment" = Option<Vec<String>>, Query), ("fromStartTime" = Option<String>, Query),
        ("toStartTime" = Option<String>, Query),
        ("filter" = Option<String>, Query, description = "JSON array of filter conditions {type, column, operator, value, key?}; a condition on a column replaces the simple parameter on that column")),
    responses((status = 200, body = ObservationsV2Response), (status = 400, body = ErrorBody)))]
#[get("/api/public/v2/observations")]
pub async fn list_observations_v2(
    auth: ProjectAuth,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<ObservationsV2Response>, ApiError> {
    if q.bool("parseIoAsJson")? == Some(true) {
        return Err(ApiError::InvalidRequest(
            "parseIoAsJson is no longer supported; parse input/output on the client".into(),
        ));
    }
    let limit = q.int("limit", 1, 1000)?.unwrap_or(50) as u64;
    let mut groups: Vec<&str> = vec!["core"];
    match q.fields() {
        None => groups.push("basic"),
        Some(requested) => {
            for g in &requested {
                let known = V2_GROUPS
                    .iter()
                    .find(|k| **k == g.as_str())
                    .ok_or_else(|| {
                        ApiError::invalid_field("fields", format!("Unknown field group: {g}"))
                    })?;
                groups.push(known);
            }
        }
    }
    let expand = q.list("expandMetadata");
    let cursor = q.get("cursor").map(decode_cursor).transpose()?;
    let filter = parse_filter(&q, true)?;
    let (rows, more) = store::list_observations_after(
        &state.pool,
        &auth.project_id,
        &filter,
        cursor.as_ref(),
        limit,
    )
    .await?;
    let next = if more {
        rows.last().map(|r| {
            encode_cursor(&Cursor {
                last_start_time_to: r.start_time,
                last_trace_id: r.trace_id.clone(),
                last_id: r.id.clone(),
            })
        })
    } else {
        None
    };
    let needs_ctx = groups.contains(&"basic") || groups.contains(&"trace_context");
    let ctx = if needs_ctx {
        let mut ids: Vec<String> = rows.iter().map(|r| r.trace_id.clone()).collect();
        ids.sort();
        ids.dedup();
        store::trace_context(&state.pool, &auth.project_id, &ids).await?
    } else {
        Vec::new()
    };
    let data = rows
        .into_iter()
        .map(|r| {
            let c = ctx.iter().find(|c| c.id == r.trace_id);
            v2_object(r, &groups, c, &expand)
        })
        .collect();
    Ok(web::Json(ObservationsV2Response {
        data,
        meta: CursorMeta { cursor: next },
    }))
}
