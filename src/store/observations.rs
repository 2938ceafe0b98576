//! Observations, read side: the v1 list (page-based) and single reads, the rows a trace
//! embeds, and the v2 cursor list. Writes belong to the ingest worker.
//!
//! Indexes relied on (0002): `(project_id, start_time desc)` for unfiltered lists,
//! `(project_id, type, start_time desc)` for `type=`, `(project_id, trace_id, start_time)`
//! for `traceId=` and for trace embedding; 0030 adds name and parent lookups.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::domain::paging::Page;

/// Columns of [`ObservationRow`], table alias `o`.
pub(crate) const COLUMNS: &str = "o.project_id, o.id, o.trace_id, o.parent_observation_id, o.type, \
    o.name, o.start_time, o.end_time, o.completion_start_time, o.environment, o.version, o.level, \
    o.status_message, o.input, o.output, o.metadata, o.model, o.model_parameters, o.usage_details, \
    o.cost_details, o.total_cost, o.internal_model_id, o.usage_pricing_tier_id, \
    o.usage_pricing_tier_name, o.prompt_id, o.prompt_name, o.prompt_version, o.created_at, o.updated_at";

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
}

impl ObservationFilter {
    /// True when no filter restricts the rows.
    fn is_unfiltered(&self) -> bool {
        self.name.is_none()
            && self.user_id.is_none()
            && self.session_id.is_none()
            && self.kind.is_none()
            && self.trace_id.is_none()
            && self.parent_observation_id.is_none()
            && self.is_root.is_none()
            && self.level.is_none()
            && self.environments.is_empty()
            && self.from_start_time.is_none()
            && self.to_start_time.is_none()
            && self.version.is_none()
    }
}

fn push_filters<'a>(
    qb: &mut QueryBuilder<'a, Postgres>,
    project_id: &'a str,
    f: &'a ObservationFilter,
) {
    qb.push(" where o.project_id = ").push_bind(project_id);
    if let Some(v) = &f.name {
        qb.push(" and o.name = ").push_bind(v);
    }
    if let Some(v) = &f.kind {
        qb.push(" and o.type = ").push_bind(v);
    }
    if let Some(v) = &f.trace_id {
        qb.push(" and o.trace_id = ").push_bind(v);
    }
    if let Some(v) = &f.parent_observation_id {
        qb.push(" and o.parent_observation_id = ").push_bind(v);
    }
    match f.is_root {
        Some(true) => {
            qb.push(" and o.parent_observation_id is null");
        }
        Some(false) => {
            qb.push(" and o.parent_observation_id is not null");
        }
        None => {}
    }
    if let Some(v) = &f.level {
        qb.push(" and o.level = ").push_bind(v);
    }
    if !f.environments.is_empty() {
        qb.push(" and o.environment = any(")
            .push_bind(&f.environments)
            .push(")");
    }
    if let Some(v) = &f.from_start_time {
        qb.push(" and o.start_time >= ").push_bind(v);
    }
    if let Some(v) = &f.to_start_time {
        qb.push(" and o.start_time < ").push_bind(v);
    }
    if let Some(v) = &f.version {
        qb.push(" and o.version = ").push_bind(v);
    }
    // Trace attributes: a semi-join on the trace's indexed columns.
    if let Some(v) = &f.user_id {
        qb.push(" and o.trace_id in (select t.id from traces t where t.project_id = ")
            .push_bind(project_id)
            .push(" and t.user_id = ")
            .push_bind(v)
            .push(")");
    }
    if let Some(v) = &f.session_id {
        qb.push(" and o.trace_id in (select t.id from traces t where t.project_id = ")
            .push_bind(project_id)
            .push(" and t.session_id = ")
            .push_bind(v)
            .push(")");
    }
}

/// One page of observations, newest start first, with the total count.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_observations(
    pool: &PgPool,
    project_id: &str,
    filter: &ObservationFilter,
    page: Page,
) -> Result<(Vec<ObservationRow>, u64), sqlx::Error> {
    let mut rows_q = QueryBuilder::new(format!("select {COLUMNS} from observations o"));
    push_filters(&mut rows_q, project_id, filter);
    rows_q
        .push(" order by o.start_time desc, o.id desc limit ")
        .push_bind(page.limit as i64)
        .push(" offset ")
        .push_bind(page.offset());
    let mut count_q = if filter.is_unfiltered() {
        // Kept exact by the triggers of migration 0032.
        let mut q = QueryBuilder::new(
            "select coalesce((select n from project_row_counts where table_name = 'observations' \
             and project_id = ",
        );
        q.push_bind(project_id).push("), 0)");
        q
    } else {
        let mut q = QueryBuilder::new("select count(*) from observations o");
        push_filters(&mut q, project_id, filter);
        q
    };
    let (rows, count) = tokio::try_join!(
        rows_q.build_query_as::<ObservationRow>().fetch_all(pool),
        count_q.build_query_scalar::<i64>().fetch_one(pool),
    )?;
    Ok((rows, count.max(0) as u64))
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
    filter: &ObservationFilter,
    cursor: Option<&Cursor>,
    limit: u64,
) -> Result<(Vec<ObservationRow>, bool), sqlx::Error> {
    let mut q = QueryBuilder::new(format!("select {COLUMNS} from observations o"));
    push_filters(&mut q, project_id, filter);
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
        "select {COLUMNS} from observations o where o.project_id = $1 and o.id = $2"
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
        "select {COLUMNS} from observations o where o.project_id = $1 and o.trace_id = $2 \
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
