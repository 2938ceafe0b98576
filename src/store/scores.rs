//! Scores, read side: v1/v2 lists with Langfuse's filters, single reads, the scores a
//! trace embeds, and deletion. Writes (create) belong to the ingest worker.
//!
//! Indexes relied on: `(project_id, timestamp desc)` for lists, `(project_id, trace_id)`
//! for trace embedding, 0030 adds `(project_id, name, timestamp desc)`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgExecutor, PgPool, Postgres, QueryBuilder};

use crate::domain::paging::Page;

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

/// Comparison of `operator`+`value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueOperator {
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `!=`
    Ne,
    /// `=`
    Eq,
}

impl ValueOperator {
    /// Every operator with its wire form.
    pub const ALL: [(&'static str, ValueOperator); 6] = [
        ("<", ValueOperator::Lt),
        (">", ValueOperator::Gt),
        ("<=", ValueOperator::Le),
        (">=", ValueOperator::Ge),
        ("!=", ValueOperator::Ne),
        ("=", ValueOperator::Eq),
    ];

    fn sql(self) -> &'static str {
        match self {
            ValueOperator::Lt => " < ",
            ValueOperator::Gt => " > ",
            ValueOperator::Le => " <= ",
            ValueOperator::Ge => " >= ",
            ValueOperator::Ne => " <> ",
            ValueOperator::Eq => " = ",
        }
    }
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
    pub value: Option<(ValueOperator, f64)>,
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
}

fn push_filters<'a>(qb: &mut QueryBuilder<'a, Postgres>, project_id: &'a str, f: &'a ScoreFilter) {
    qb.push(" where s.project_id = ").push_bind(project_id);
    if f.trace_scores_only {
        qb.push(" and s.trace_id is not null");
    }
    if let Some(v) = &f.user_id {
        qb.push(" and t.user_id = ").push_bind(v);
    }
    if let Some(v) = &f.name {
        qb.push(" and s.name = ").push_bind(v);
    }
    if let Some(v) = &f.from_timestamp {
        qb.push(" and s.timestamp >= ").push_bind(v);
    }
    if let Some(v) = &f.to_timestamp {
        qb.push(" and s.timestamp < ").push_bind(v);
    }
    if let Some(v) = &f.source {
        qb.push(" and s.source = ").push_bind(v);
    }
    if let Some((op, v)) = &f.value {
        qb.push(" and s.value").push(op.sql()).push_bind(*v);
    }
    if !f.score_ids.is_empty() {
        qb.push(" and s.id = any(")
            .push_bind(&f.score_ids)
            .push(")");
    }
    if let Some(v) = &f.config_id {
        qb.push(" and s.config_id = ").push_bind(v);
    }
    if let Some(v) = &f.queue_id {
        qb.push(" and s.queue_id = ").push_bind(v);
    }
    if let Some(v) = &f.data_type {
        qb.push(" and s.data_type = ").push_bind(v);
    }
    if !f.trace_tags.is_empty() {
        qb.push(" and t.tags @> ").push_bind(&f.trace_tags);
    }
    if !f.environments.is_empty() {
        qb.push(" and s.environment = any(")
            .push_bind(&f.environments)
            .push(")");
    }
    for (col, ids) in [
        ("s.session_id", &f.session_ids),
        ("s.trace_id", &f.trace_ids),
        ("s.observation_id", &f.observation_ids),
        ("s.dataset_run_id", &f.dataset_run_ids),
    ] {
        if !ids.is_empty() {
            qb.push(" and ")
                .push(col)
                .push(" = any(")
                .push_bind(ids)
                .push(")");
        }
    }
}

/// One page of scores, newest first, with the total count.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_scores(
    pool: &PgPool,
    project_id: &str,
    filter: &ScoreFilter,
    page: Page,
) -> Result<(Vec<ScoreRow>, u64), sqlx::Error> {
    let mut rows_q = QueryBuilder::new(format!("select {COLUMNS}{FROM}"));
    push_filters(&mut rows_q, project_id, filter);
    rows_q
        .push(" order by s.timestamp desc, s.id desc limit ")
        .push_bind(page.limit as i64)
        .push(" offset ")
        .push_bind(page.offset());
    // The trace join is only needed for trace filters; leave it out of the count otherwise.
    let needs_trace = filter.user_id.is_some() || !filter.trace_tags.is_empty();
    let mut count_q = QueryBuilder::new(if needs_trace {
        format!("select count(*){FROM}")
    } else {
        "select count(*) from scores s".to_string()
    });
    push_filters(&mut count_q, project_id, filter);
    let (rows, count) = tokio::try_join!(
        rows_q.build_query_as::<ScoreRow>().fetch_all(pool),
        count_q.build_query_scalar::<i64>().fetch_one(pool),
    )?;
    Ok((rows, count.max(0) as u64))
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

/// Deletes one score; false when it did not exist.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn delete_score(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("delete from scores where project_id = $1 and id = $2")
        .bind(project_id)
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() > 0)
}
