//! Observations, read side: the v1 list (page-based) and single reads, the rows a trace
//! embeds, and the v2 cursor list. Writes belong to the ingest worker.
//!
//! Indexes relied on (0002): `(project_id, start_time desc)` for unfiltered lists,
//! `(project_id, type, start_time desc)` for `type=`, `(project_id, trace_id, start_time)`
//! for `traceId=` and for trace embedding; 0030 adds name and parent lookups. Every row
//! read carries its matched model's per-unit prices (one lateral join by primary key).
//! Filters (simple parameters and Langfuse's `filter`) are built by `store::filter`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, QueryBuilder};

use crate::domain::filter::CmpOp;
use crate::domain::paging::Page;
use crate::store::filter::{self, Condition, Predicate, Scalar, Simple};

/// Columns of [`ObservationRow`], table alias `o`, plus the matched model's prices (`mp`,
/// see [`FROM`]).
pub(crate) const COLUMNS: &str = "o.project_id, o.id, o.trace_id, o.parent_observation_id, o.type, \
    o.name, o.start_time, o.end_time, o.completion_start_time, o.environment, o.version, o.level, \
    o.status_message, o.input, o.output, o.metadata, o.model, o.model_parameters, o.usage_details, \
    o.cost_details, o.total_cost, o.internal_model_id, o.usage_pricing_tier_id, \
    o.usage_pricing_tier_name, o.prompt_id, o.prompt_name, o.prompt_version, o.created_at, o.updated_at, \
    mp.input_price, mp.output_price, mp.total_price";

/// `observations o` with the per-unit prices of its matched model: the default pricing
/// tier's `input`/`output`/`total` prices, else the model's legacy flat prices (as
/// `GET /api/public/models` reports them). One lateral join through `models` primary key
/// and `pricing_tiers_model_idx`; no row when no model matched.
const FROM: &str = " from observations o left join lateral ( \
    select coalesce(case when jsonb_typeof(pt.prices -> 'input') = 'number' \
               then (pt.prices ->> 'input')::float8 end, m.input_price) as input_price, \
           coalesce(case when jsonb_typeof(pt.prices -> 'output') = 'number' \
               then (pt.prices ->> 'output')::float8 end, m.output_price) as output_price, \
           coalesce(case when jsonb_typeof(pt.prices -> 'total') = 'number' \
               then (pt.prices ->> 'total')::float8 end, m.total_price) as total_price \
    from models m left join pricing_tiers pt on pt.model_id = m.id and pt.is_default \
    where m.id = o.internal_model_id \
    order by pt.priority limit 1) mp on true";

/// One stored observation.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ObservationRow {
    /// Project.
    pub project_id: String,
    /// Id.
    pub id: String,
    /// Trace.
    pub trace_id: String,
    /// Parent observation.
    pub parent_observation_id: Option<String>,
    /// GENERATION, SPAN, EVENT, …
    #[sqlx(rename = "type")]
    pub kind: String,
    /// Name.
    pub name: Option<String>,
    /// Start.
    pub start_time: DateTime<Utc>,
    /// End.
    pub end_time: Option<DateTime<Utc>>,
    /// First token.
    pub completion_start_time: Option<DateTime<Utc>>,
    /// Environment.
    pub environment: String,
    /// Version.
    pub version: Option<String>,
    /// DEBUG, DEFAULT, WARNING, ERROR.
    pub level: String,
    /// Status message.
    pub status_message: Option<String>,
    /// Input as sent.
    pub input: Option<Value>,
    /// Output as sent.
    pub output: Option<Value>,
    /// Metadata object.
    pub metadata: Value,
    /// Model name as sent.
    pub model: Option<String>,
    /// Model parameters.
    pub model_parameters: Option<Value>,
    /// Usage map.
    pub usage_details: Value,
    /// Cost map (USD).
    pub cost_details: Value,
    /// `cost_details.total`.
    pub total_cost: Option<f64>,
    /// Matched model definition.
    pub internal_model_id: Option<String>,
    /// Pricing tier id.
    pub usage_pricing_tier_id: Option<String>,
    /// Pricing tier name.
    pub usage_pricing_tier_name: Option<String>,
    /// Matched model's input price per unit (USD).
    pub input_price: Option<f64>,
    /// Matched model's output price per unit (USD).
    pub output_price: Option<f64>,
    /// Matched model's total price per unit (USD).
    pub total_price: Option<f64>,
    /// Linked prompt id.
    pub prompt_id: Option<String>,
    /// Linked prompt name.
    pub prompt_name: Option<String>,
    /// Linked prompt version.
    pub prompt_version: Option<i32>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

/// Filters of `GET /api/public/observations` (and the v2 list).
#[derive(Debug, Clone, Default)]
pub struct ObservationFilter {
    /// Exact name.
    pub name: Option<String>,
    /// The trace's user id.
    pub user_id: Option<String>,
    /// The trace's session id (v2).
    pub session_id: Option<String>,
    /// Observation type.
    pub kind: Option<String>,
    /// Trace id.
    pub trace_id: Option<String>,
    /// Parent observation id.
    pub parent_observation_id: Option<String>,
    /// Only root (true) or only child (false) observations (v2).
    pub is_root: Option<bool>,
    /// Level.
    pub level: Option<String>,
    /// Any of these environments.
    pub environments: Vec<String>,
    /// `start_time >=`.
    pub from_start_time: Option<DateTime<Utc>>,
    /// `start_time <`.
    pub to_start_time: Option<DateTime<Utc>>,
    /// Exact version.
    pub version: Option<String>,
    /// Conditions of the `filter` parameter (resolved against [`filter::OBSERVATIONS`]).
    pub advanced: Vec<Condition>,
}

impl ObservationFilter {
    /// Every condition: the `filter` parameter's, then the simple parameters it does not
    /// override.
    fn conditions(&self) -> Vec<Condition> {
        Simple::new(&filter::OBSERVATIONS)
            .text_eq(&[
                ("name", &self.name),
                ("type", &self.kind),
                ("traceId", &self.trace_id),
                ("parentObservationId", &self.parent_observation_id),
                ("level", &self.level),
                ("version", &self.version),
                // Trace attributes: a semi-join on the trace's indexed columns.
                ("userId", &self.user_id),
                ("sessionId", &self.session_id),
            ])
            .when(
                "isRootObservation",
                self.is_root
                    .map(|root| Predicate::Compare(CmpOp::Eq, Scalar::Bool(root))),
            )
            .any_of(&[("environment", &self.environments)])
            .range("startTime", self.from_start_time, self.to_start_time)
            .merged_with(&self.advanced)
    }
}

/// One page of observations, newest start first, with the total count.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_observations(
    pool: &PgPool,
    project_id: &str,
    f: &ObservationFilter,
    page: Page,
) -> Result<(Vec<ObservationRow>, u64), sqlx::Error> {
    filter::fetch_page(
        pool,
        &filter::OBSERVATIONS,
        &format!("select {COLUMNS}{FROM}"),
        project_id,
        &f.conditions(),
        "o.start_time desc, o.id desc",
        page,
    )
    .await
}

/// Position after the last row of a v2 page.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cursor {
    /// Start time of the last row.
    pub last_start_time_to: DateTime<Utc>,
    /// Trace id of the last row.
    pub last_trace_id: String,
    /// Id of the last row.
    pub last_id: String,
}

/// Up to `limit` observations after `cursor` (ordered by start time desc, trace id desc,
/// id desc), plus whether more rows follow.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_observations_after(
    pool: &PgPool,
    project_id: &str,
    f: &ObservationFilter,
    cursor: Option<&Cursor>,
    limit: u64,
) -> Result<(Vec<ObservationRow>, bool), sqlx::Error> {
    let mut q = QueryBuilder::new(format!("select {COLUMNS}{FROM}"));
    filter::push_where(&mut q, &filter::OBSERVATIONS, project_id, &f.conditions());
    if let Some(c) = cursor {
        q.push(" and (o.start_time, o.trace_id, o.id) < (")
            .push_bind(c.last_start_time_to)
            .push(", ")
            .push_bind(&c.last_trace_id)
            .push(", ")
            .push_bind(&c.last_id)
            .push(")");
    }
    q.push(" order by o.start_time desc, o.trace_id desc, o.id desc limit ")
        .push_bind(limit as i64 + 1);
    let mut rows = q.build_query_as::<ObservationRow>().fetch_all(pool).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// One observation of the project.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn find_observation(
    pool: &PgPool,
    project_id: &str,
    id: &str,
) -> Result<Option<ObservationRow>, sqlx::Error> {
    sqlx::query_as::<_, ObservationRow>(&format!(
        "select {COLUMNS}{FROM} where o.project_id = $1 and o.id = $2"
    ))
    .bind(project_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Every observation of a trace, in start order.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_for_trace(
    pool: &PgPool,
    project_id: &str,
    trace_id: &str,
) -> Result<Vec<ObservationRow>, sqlx::Error> {
    sqlx::query_as::<_, ObservationRow>(&format!(
        "select {COLUMNS}{FROM} where o.project_id = $1 and o.trace_id = $2 \
         order by o.start_time, o.id"
    ))
    .bind(project_id)
    .bind(trace_id)
    .fetch_all(pool)
    .await
}

/// Trace-level context the v2 list can include (`trace_context` and `basic` groups).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TraceContextRow {
    /// Trace id.
    pub id: String,
    /// Trace name.
    pub name: Option<String>,
    /// User id.
    pub user_id: Option<String>,
    /// Session id.
    pub session_id: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Release.
    pub release: Option<String>,
    /// Bookmarked flag.
    pub bookmarked: bool,
    /// Public flag.
    pub public: bool,
}

/// Context rows for the given trace ids.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn trace_context(
    pool: &PgPool,
    project_id: &str,
    trace_ids: &[String],
) -> Result<Vec<TraceContextRow>, sqlx::Error> {
    sqlx::query_as::<_, TraceContextRow>(
        "select id, name, user_id, session_id, tags, release, bookmarked, public \
         from traces where project_id = $1 and id = any($2)",
    )
    .bind(project_id)
    .bind(trace_ids)
    .fetch_all(pool)
    .await
}
