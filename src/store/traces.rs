//! Traces, read side: the filtered, ordered, paged list; single reads; per-trace
//! aggregates over observations (latency, cost, ids) and scores; deletion with cascade.
//! Writes (create/update) belong to the ingest worker.
//!
//! Indexes relied on (0002): `(project_id, timestamp desc)` for the default order and
//! time-range filters, partial `(project_id, user_id)` / `(project_id, session_id)`,
//! `(project_id, name)`, GIN `tags`. Aggregates are computed only for the traces of the
//! page, through `observations (project_id, trace_id, start_time)`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::domain::filter::ArrayOp;
use crate::domain::paging::{Direction, Page};
use crate::store::filter::{self, Condition, Predicate, Simple};

/// Columns of [`TraceRow`], table alias `t`.
const COLUMNS: &str = "t.project_id, t.id, t.timestamp, t.name, t.user_id, t.session_id, \
    t.release, t.version, t.environment, t.public, t.bookmarked, t.tags, t.input, t.output, \
    t.metadata, t.created_at, t.updated_at";

/// Columns without the I/O payloads (when the `io` field group is not requested).
const COLUMNS_NO_IO: &str = "t.project_id, t.id, t.timestamp, t.name, t.user_id, t.session_id, \
    t.release, t.version, t.environment, t.public, t.bookmarked, t.tags, null::jsonb as input, \
    null::jsonb as output, '{}'::jsonb as metadata, t.created_at, t.updated_at";

/// One stored trace.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TraceRow {
    /// Project.
    pub project_id: String,
    /// Id.
    pub id: String,
    /// Timestamp.
    pub timestamp: DateTime<Utc>,
    /// Name.
    pub name: Option<String>,
    /// User id.
    pub user_id: Option<String>,
    /// Session id.
    pub session_id: Option<String>,
    /// Release.
    pub release: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// Environment.
    pub environment: String,
    /// Public flag.
    pub public: bool,
    /// Bookmarked flag.
    pub bookmarked: bool,
    /// Tags.
    pub tags: Vec<String>,
    /// Input as sent.
    pub input: Option<Value>,
    /// Output as sent.
    pub output: Option<Value>,
    /// Metadata object.
    pub metadata: Value,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

/// Columns `orderBy` may name: API name → SQL column.
pub const ORDER_COLUMNS: &[(&str, &str)] = &[
    ("id", "t.id"),
    ("timestamp", "t.timestamp"),
    ("name", "t.name"),
    ("userId", "t.user_id"),
    ("release", "t.release"),
    ("version", "t.version"),
    ("public", "t.public"),
    ("bookmarked", "t.bookmarked"),
    ("sessionId", "t.session_id"),
];

/// Order columns that cannot be null.
const NOT_NULL_ORDER_COLUMNS: &[&str] = &["t.id", "t.timestamp", "t.public", "t.bookmarked"];

/// Filters and order of `GET /api/public/traces`.
#[derive(Debug, Clone, Default)]
pub struct TraceFilter {
    /// Exact user id.
    pub user_id: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    /// Exact session id.
    pub session_id: Option<String>,
    /// `timestamp >=`.
    pub from_timestamp: Option<DateTime<Utc>>,
    /// `timestamp <`.
    pub to_timestamp: Option<DateTime<Utc>>,
    /// The trace has all of these tags.
    pub tags: Vec<String>,
    /// Exact version.
    pub version: Option<String>,
    /// Exact release.
    pub release: Option<String>,
    /// Any of these environments.
    pub environments: Vec<String>,
    /// Conditions of the `filter` parameter (resolved against [`filter::TRACES`]).
    pub advanced: Vec<Condition>,
    /// Order column (one of [`ORDER_COLUMNS`]) and direction; default timestamp desc.
    pub order: Option<(&'static str, Direction)>,
}

impl TraceFilter {
    /// Every condition: the `filter` parameter's, then the simple parameters it does not
    /// override.
    fn conditions(&self) -> Vec<Condition> {
        Simple::new(&filter::TRACES)
            .text_eq(&[
                ("userId", &self.user_id),
                ("name", &self.name),
                ("sessionId", &self.session_id),
                ("version", &self.version),
                ("release", &self.release),
            ])
            .range("timestamp", self.from_timestamp, self.to_timestamp)
            .when(
                "tags",
                (!self.tags.is_empty())
                    .then(|| Predicate::Array(ArrayOp::AllOf, self.tags.clone())),
            )
            .any_of(&[("environment", &self.environments)])
            .merged_with(&self.advanced)
    }
}

/// One page of traces with the total count (count and page run concurrently).
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_traces(
    pool: &PgPool,
    project_id: &str,
    f: &TraceFilter,
    page: Page,
    with_io: bool,
) -> Result<(Vec<TraceRow>, u64), sqlx::Error> {
    list_traces_counting(pool, project_id, f, page, with_io, None).await
}

/// [`list_traces`] whose filtered count stops at `count_cap` when given (the web UI).
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_traces_counting(
    pool: &PgPool,
    project_id: &str,
    f: &TraceFilter,
    page: Page,
    with_io: bool,
    count_cap: Option<u64>,
) -> Result<(Vec<TraceRow>, u64), sqlx::Error> {
    let cols = if with_io { COLUMNS } else { COLUMNS_NO_IO };
    let (col, dir) = f.order.unwrap_or(("t.timestamp", Direction::Desc));
    // Column and direction come from closed lists, never from the request text. Nullable
    // columns sort nulls last (as ClickHouse does); NOT NULL columns keep Postgres' default
    // so `(project_id, timestamp desc)` serves the default order without a sort.
    let nulls = if NOT_NULL_ORDER_COLUMNS.contains(&col) {
        ""
    } else {
        " nulls last"
    };
    let order = format!("{col} {dir}{nulls}, t.id {dir}", dir = dir.sql());
    filter::fetch_page_counting(
        pool,
        &filter::TRACES,
        &format!("select {cols} from traces t"),
        project_id,
        &f.conditions(),
        &order,
        page,
        count_cap,
    )
    .await
}

/// Traces of a session, oldest first.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_for_session(
    pool: &PgPool,
    project_id: &str,
    session_id: &str,
) -> Result<Vec<TraceRow>, sqlx::Error> {
    sqlx::query_as::<_, TraceRow>(&format!(
        "select {COLUMNS} from traces t where t.project_id = $1 and t.session_id = $2 \
         order by t.timestamp, t.id"
    ))
    .bind(project_id)
    .bind(session_id)
    .fetch_all(pool)
    .await
}

/// One trace of the project.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn find_trace(
    pool: &PgPool,
    project_id: &str,
    id: &str,
    with_io: bool,
) -> Result<Option<TraceRow>, sqlx::Error> {
    let cols = if with_io { COLUMNS } else { COLUMNS_NO_IO };
    sqlx::query_as::<_, TraceRow>(&format!(
        "select {cols} from traces t where t.project_id = $1 and t.id = $2"
    ))
    .bind(project_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Per-trace aggregates over its observations and scores.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct TraceAggregate {
    /// Trace id.
    pub trace_id: String,
    /// Observation ids in start order.
    pub observation_ids: Vec<String>,
    /// Seconds from the earliest to the latest observation time (start or end).
    pub latency: f64,
    /// Sum of the observations' total cost (USD).
    pub total_cost: f64,
    /// Score ids.
    pub score_ids: Vec<String>,
}

/// Aggregates for the given traces (one query, index-driven per trace id).
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn aggregates(
    pool: &PgPool,
    project_id: &str,
    trace_ids: &[String],
) -> Result<Vec<TraceAggregate>, sqlx::Error> {
    if trace_ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as::<_, TraceAggregate>(
        "select ids.id as trace_id, \
           coalesce(o.observation_ids, '{}') as observation_ids, \
           coalesce(o.latency, 0)::float8 as latency, \
           coalesce(o.total_cost, 0)::float8 as total_cost, \
           coalesce(s.score_ids, '{}') as score_ids \
         from unnest($2::text[]) as ids(id) \
         left join lateral ( \
           select array_agg(o.id order by o.start_time, o.id) as observation_ids, \
             extract(epoch from max(greatest(o.start_time, coalesce(o.end_time, o.start_time))) \
               - min(least(o.start_time, coalesce(o.end_time, o.start_time))))::float8 as latency, \
             sum(o.total_cost)::float8 as total_cost \
           from observations o where o.project_id = $1 and o.trace_id = ids.id) o on true \
         left join lateral ( \
           select array_agg(s.id order by s.timestamp desc, s.id) as score_ids \
           from scores s where s.project_id = $1 and s.trace_id = ids.id) s on true",
    )
    .bind(project_id)
    .bind(trace_ids)
    .fetch_all(pool)
    .await
}

/// Deletes traces with their observations and scores; returns the traces deleted.
/// Runs on the caller's connection, so the caller decides the transaction.
#[tracing::instrument(skip_all, fields(project_id = %project_id, n = ids.len()))]
pub async fn delete_traces(
    conn: &mut PgConnection,
    project_id: &str,
    ids: &[String],
) -> Result<u64, sqlx::Error> {
    // The event log goes too: otherwise a later event for a deleted id would fold the
    // old events back into a resurrected row.
    let observations: Vec<String> = sqlx::query_scalar(
        "delete from observations where project_id = $1 and trace_id = any($2) returning id",
    )
    .bind(project_id)
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    let scores: Vec<String> = sqlx::query_scalar(
        "delete from scores where project_id = $1 and trace_id = any($2) returning id",
    )
    .bind(project_id)
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    let done = sqlx::query("delete from traces where project_id = $1 and id = any($2)")
        .bind(project_id)
        .bind(ids)
        .execute(&mut *conn)
        .await?;
    crate::store::ingest::delete_entity_events(&mut *conn, project_id, "trace", ids).await?;
    crate::store::ingest::delete_entity_events(
        &mut *conn,
        project_id,
        "observation",
        &observations,
    )
    .await?;
    crate::store::ingest::delete_entity_events(&mut *conn, project_id, "score", &scores).await?;
    Ok(done.rows_affected())
}
