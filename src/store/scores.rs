//! Scores, read side: v1/v2 lists with Langfuse's filters, single reads, the scores a
//! trace embeds, and deletion. Writes (create) belong to the ingest worker.
//!
//! Indexes relied on: `(project_id, timestamp desc)` for lists, `(project_id, trace_id)`
//! for trace embedding, 0030 adds `(project_id, name, timestamp desc)`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use crate::domain::filter::{ArrayOp, CmpOp, NullOp};
use crate::domain::paging::Page;
use crate::store::filter::{self, Condition, Predicate, Scalar, Simple};

/// Columns of [`ScoreRow`], table alias `s`, plus the trace columns (`t`, left join).
const COLUMNS: &str = "s.project_id, s.id, s.timestamp, s.name, s.value, s.string_value, \
    s.long_string_value, s.data_type, s.source, s.comment, s.metadata, s.config_id, s.queue_id, \
    s.author_user_id, s.execution_trace_id, s.trace_id, s.observation_id, s.session_id, \
    s.dataset_run_id, s.environment, s.created_at, s.updated_at, \
    (t.id is not null) as trace_found, t.user_id as trace_user_id, t.tags as trace_tags, \
    t.environment as trace_environment, t.session_id as trace_session_id";

const FROM: &str =
    " from scores s left join traces t on t.project_id = s.project_id and t.id = s.trace_id";

/// One stored score with the attributes of its trace (when it has one).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScoreRow {
    /// Project.
    pub project_id: String,
    /// Id.
    pub id: String,
    /// Timestamp.
    pub timestamp: DateTime<Utc>,
    /// Name.
    pub name: String,
    /// Numeric value.
    pub value: Option<f64>,
    /// String value (categorical label, boolean text, short text).
    pub string_value: Option<String>,
    /// Long text value.
    pub long_string_value: Option<String>,
    /// NUMERIC, CATEGORICAL, BOOLEAN, TEXT, CORRECTION.
    pub data_type: String,
    /// API, EVAL, ANNOTATION.
    pub source: String,
    /// Comment.
    pub comment: Option<String>,
    /// Metadata object.
    pub metadata: Value,
    /// Score config.
    pub config_id: Option<String>,
    /// Annotation queue.
    pub queue_id: Option<String>,
    /// Author.
    pub author_user_id: Option<String>,
    /// Trace of the evaluator run that produced the score.
    pub execution_trace_id: Option<String>,
    /// Trace.
    pub trace_id: Option<String>,
    /// Observation.
    pub observation_id: Option<String>,
    /// Session.
    pub session_id: Option<String>,
    /// Dataset run.
    pub dataset_run_id: Option<String>,
    /// Environment.
    pub environment: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
    /// Whether the score's trace exists.
    pub trace_found: bool,
    /// The trace's user id.
    pub trace_user_id: Option<String>,
    /// The trace's tags.
    pub trace_tags: Option<Vec<String>>,
    /// The trace's environment.
    pub trace_environment: Option<String>,
    /// The trace's session id.
    pub trace_session_id: Option<String>,
}

/// Filters of the score lists.
#[derive(Debug, Clone, Default)]
pub struct ScoreFilter {
    /// Only scores attached to a trace (v1).
    pub trace_scores_only: bool,
    /// The trace's user id.
    pub user_id: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    /// `timestamp >=`.
    pub from_timestamp: Option<DateTime<Utc>>,
    /// `timestamp <`.
    pub to_timestamp: Option<DateTime<Utc>>,
    /// Source.
    pub source: Option<String>,
    /// Value comparison.
    pub value: Option<(CmpOp, f64)>,
    /// Any of these ids.
    pub score_ids: Vec<String>,
    /// Config id.
    pub config_id: Option<String>,
    /// Queue id.
    pub queue_id: Option<String>,
    /// Data type.
    pub data_type: Option<String>,
    /// The trace has all these tags.
    pub trace_tags: Vec<String>,
    /// Any of these environments.
    pub environments: Vec<String>,
    /// Any of these session ids (v2).
    pub session_ids: Vec<String>,
    /// Any of these trace ids (v2).
    pub trace_ids: Vec<String>,
    /// Any of these observation ids (v2).
    pub observation_ids: Vec<String>,
    /// Any of these dataset run ids (v2).
    pub dataset_run_ids: Vec<String>,
    /// Conditions of the `filter` parameter (resolved against [`filter::SCORES`]).
    pub advanced: Vec<Condition>,
}

impl ScoreFilter {
    /// Every condition: the `filter` parameter's, then the simple parameters it does not
    /// override, then the v1 restriction to trace scores (which nothing overrides).
    fn conditions(&self) -> Vec<Condition> {
        let t = &filter::SCORES;
        let mut all = Simple::new(t)
            .text_eq(&[
                ("userId", &self.user_id),
                ("name", &self.name),
                ("source", &self.source),
                ("configId", &self.config_id),
                ("queueId", &self.queue_id),
                ("dataType", &self.data_type),
            ])
            .range("timestamp", self.from_timestamp, self.to_timestamp)
            .when(
                "value",
                self.value
                    .map(|(op, v)| Predicate::Compare(op, Scalar::Number(v))),
            )
            .when(
                "traceTags",
                (!self.trace_tags.is_empty())
                    .then(|| Predicate::Array(ArrayOp::AllOf, self.trace_tags.clone())),
            )
            .any_of(&[
                ("id", &self.score_ids),
                ("environment", &self.environments),
                ("sessionId", &self.session_ids),
                ("traceId", &self.trace_ids),
                ("observationId", &self.observation_ids),
                ("datasetRunId", &self.dataset_run_ids),
            ])
            .merged_with(&self.advanced);
        if self.trace_scores_only {
            all.push(Condition::on(
                t,
                "traceId",
                Predicate::Null(NullOp::IsNotNull),
            ));
        }
        all
    }
}

/// One page of scores, newest first, with the total count.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_scores(
    pool: &PgPool,
    project_id: &str,
    f: &ScoreFilter,
    page: Page,
) -> Result<(Vec<ScoreRow>, u64), sqlx::Error> {
    // Trace filters are semi-joins, so the count never needs the trace join.
    filter::fetch_page(
        pool,
        &filter::SCORES,
        &format!("select {COLUMNS}{FROM}"),
        project_id,
        &f.conditions(),
        "s.timestamp desc, s.id desc",
        page,
    )
    .await
}

/// Up to `limit` scores after the cursor `(timestamp, id)` of the previous page, newest
/// first (`timestamp desc, id desc`), plus whether more rows follow. Used by the
/// cursor-paged v3 list with the same conditions as the page-based lists.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_scores_after(
    pool: &PgPool,
    project_id: &str,
    f: &ScoreFilter,
    after: Option<(DateTime<Utc>, &str)>,
    limit: u64,
) -> Result<(Vec<ScoreRow>, bool), sqlx::Error> {
    let mut q = sqlx::QueryBuilder::new(format!("select {COLUMNS}{FROM}"));
    filter::push_where(&mut q, &filter::SCORES, project_id, &f.conditions());
    if let Some((ts, id)) = after {
        q.push(" and (s.timestamp, s.id) < (")
            .push_bind(ts)
            .push(", ")
            .push_bind(id.to_string())
            .push(")");
    }
    q.push(" order by s.timestamp desc, s.id desc limit ")
        .push_bind(limit as i64 + 1);
    let mut rows = q.build_query_as::<ScoreRow>().fetch_all(pool).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// One score of the project.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn find_score(
    pool: &PgPool,
    project_id: &str,
    id: &str,
) -> Result<Option<ScoreRow>, sqlx::Error> {
    sqlx::query_as::<_, ScoreRow>(&format!(
        "select {COLUMNS}{FROM} where s.project_id = $1 and s.id = $2"
    ))
    .bind(project_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Every score of a trace, newest first.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_for_trace(
    pool: &PgPool,
    project_id: &str,
    trace_id: &str,
) -> Result<Vec<ScoreRow>, sqlx::Error> {
    sqlx::query_as::<_, ScoreRow>(&format!(
        "select {COLUMNS}{FROM} where s.project_id = $1 and s.trace_id = $2 \
         order by s.timestamp desc, s.id"
    ))
    .bind(project_id)
    .bind(trace_id)
    .fetch_all(pool)
    .await
}

/// What [`list_latest_per_key`] groups scores by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreKey {
    /// Scores of a trace (or its observations) that are not dataset-run scores.
    Trace,
    /// Scores of a dataset run (experiment-level scores).
    DatasetRun,
}

/// The newest `per_key` scores of each of `keys` (trace ids or dataset run ids), newest
/// first within a key.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_latest_per_key(
    pool: &PgPool,
    project_id: &str,
    key: ScoreKey,
    keys: &[String],
    per_key: u64,
) -> Result<Vec<ScoreRow>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let (col, extra) = match key {
        ScoreKey::Trace => ("s.trace_id", " and s.dataset_run_id is null"),
        ScoreKey::DatasetRun => ("s.dataset_run_id", ""),
    };
    sqlx::query_as::<_, ScoreRow>(&format!(
        "select * from (select {COLUMNS}, row_number() over (partition by {col} \
         order by s.timestamp desc, s.id desc) as rn{FROM} \
         where s.project_id = $1 and {col} = any($2){extra}) x where x.rn <= $3 \
         order by x.timestamp desc, x.id desc"
    ))
    .bind(project_id)
    .bind(keys)
    .bind(per_key as i64)
    .fetch_all(pool)
    .await
}

/// Deletes one score; false when it did not exist.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn delete_score(
    db: &sqlx::PgPool,
    project_id: &str,
    id: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let done = sqlx::query("delete from scores where project_id = $1 and id = $2")
        .bind(project_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    // Forget the score's events too, so a re-sent event starts from scratch.
    crate::store::ingest::delete_entity_events(&mut *tx, project_id, "score", &[id.to_string()])
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}
