//! Experiments as Langfuse's experiments API sees them: an experiment is a dataset run,
//! an experiment item is one of its run items (the dataset item it ran, the trace it
//! produced). An item's time, level, environment and I/O are those of the run item's
//! observation, else of its trace's root observation, else of the trace.
//!
//! Both lists are cursor-paged on the item start time: items by `(start time, trace id,
//! id)` descending, experiments by their latest item start within the requested range.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::store::filter::{self, col, Condition, Kind, Table};

/// Run items with everything the experiment lists show, as a derived table `i`.
const ITEMS: &str =
    "(select ri.project_id, ri.id, ri.trace_id, ri.dataset_run_id as experiment_id, \
    r.name as experiment_name, r.description as experiment_description, \
    r.metadata as experiment_metadata, r.dataset_id, ri.dataset_item_id as experiment_item_id, \
    di.updated_at as experiment_item_version, di.expected_output, \
    di.metadata as experiment_item_metadata, \
    coalesce(o.start_time, t.timestamp, ri.created_at) as start_time, \
    coalesce(o.end_time, (select max(coalesce(x.end_time, x.start_time)) from observations x \
        where x.project_id = ri.project_id and x.trace_id = ri.trace_id)) as end_time, \
    coalesce(o.level, 'DEFAULT') as level, \
    coalesce(o.environment, t.environment, 'default') as environment, \
    coalesce(o.input, t.input) as input, coalesce(o.output, t.output) as output, \
    coalesce(o.metadata, t.metadata) as metadata \
    from dataset_run_items ri \
    join dataset_runs r on r.project_id = ri.project_id and r.id = ri.dataset_run_id \
    left join dataset_items di on di.project_id = ri.project_id and di.id = ri.dataset_item_id \
    left join traces t on t.project_id = ri.project_id and t.id = ri.trace_id \
    left join lateral (select x.start_time, x.end_time, x.level, x.environment, x.input, \
        x.output, x.metadata from observations x \
        where x.project_id = ri.project_id and x.trace_id = ri.trace_id \
        and (x.id = ri.observation_id \
             or (ri.observation_id is null and x.parent_observation_id is null)) \
        order by x.start_time limit 1) o on true) i";

/// Filterable columns of `GET /api/public/experiments` (dataset runs, alias `r`).
pub static EXPERIMENTS: Table = Table {
    name: "dataset_runs",
    alias: "r",
    trace_fk: "null",
    counted: false,
    columns: &[
        col("id", "r.id", Kind::Text),
        col("name", "r.name", Kind::Text),
        col("datasetId", "r.dataset_id", Kind::Text),
    ],
};

/// Filterable columns of `GET /api/public/experiment-items` (alias `i`).
pub static EXPERIMENT_ITEMS: Table = Table {
    name: "dataset_run_items",
    alias: "i",
    trace_fk: "i.trace_id",
    counted: false,
    columns: &[
        col("experimentId", "i.experiment_id", Kind::Text),
        col("experimentName", "i.experiment_name", Kind::Text),
        col("experimentItemId", "i.experiment_item_id", Kind::Text),
        col("datasetId", "i.dataset_id", Kind::Text),
    ],
};

/// One experiment (dataset run) with its items in the requested range.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExperimentRow {
    /// Run id.
    pub id: String,
    /// Run name.
    pub name: String,
    /// Run description.
    pub description: Option<String>,
    /// Run metadata.
    pub metadata: Option<Value>,
    /// Dataset.
    pub dataset_id: String,
    /// Earliest item start in range.
    pub start_time: DateTime<Utc>,
    /// Latest item end (or start) in range.
    pub end_time: DateTime<Utc>,
    /// Items in range.
    pub item_count: i64,
    /// Latest item start in range (the order and cursor key).
    pub last_time: DateTime<Utc>,
}

/// One experiment item (dataset run item).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExperimentItemRow {
    /// Run item id.
    pub id: String,
    /// Trace.
    pub trace_id: String,
    /// Run id.
    pub experiment_id: String,
    /// Run name.
    pub experiment_name: String,
    /// Run description.
    pub experiment_description: Option<String>,
    /// Run metadata.
    pub experiment_metadata: Option<Value>,
    /// Dataset.
    pub dataset_id: String,
    /// Dataset item.
    pub experiment_item_id: String,
    /// The dataset item's last change (its version).
    pub experiment_item_version: Option<DateTime<Utc>>,
    /// The dataset item's expected output.
    pub expected_output: Option<Value>,
    /// The dataset item's metadata.
    pub experiment_item_metadata: Option<Value>,
    /// Start.
    pub start_time: DateTime<Utc>,
    /// End.
    pub end_time: Option<DateTime<Utc>>,
    /// Level.
    pub level: String,
    /// Environment.
    pub environment: String,
    /// Input.
    pub input: Option<Value>,
    /// Output.
    pub output: Option<Value>,
    /// Metadata.
    pub metadata: Option<Value>,
}

/// The time window and cursor of a list.
#[derive(Debug, Clone)]
pub struct Window {
    /// Items starting at or after.
    pub from: DateTime<Utc>,
    /// Items starting before.
    pub to: Option<DateTime<Utc>>,
}

fn push_window(q: &mut QueryBuilder<'_, Postgres>, w: &Window) {
    q.push(" and i.start_time >= ").push_bind(w.from);
    if let Some(to) = w.to {
        q.push(" and i.start_time < ").push_bind(to);
    }
}

/// Up to `limit` experiments with items in the window, latest activity first, after the
/// cursor `(last_time, id)`, plus whether more follow.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_experiments(
    pool: &PgPool,
    project_id: &str,
    w: &Window,
    conditions: &[Condition],
    after: Option<(DateTime<Utc>, &str)>,
    limit: u64,
) -> Result<(Vec<ExperimentRow>, bool), sqlx::Error> {
    let mut q = QueryBuilder::new(
        "select r.id, r.name, r.description, r.metadata, r.dataset_id, a.start_time, \
         a.end_time, a.item_count, a.last_time from dataset_runs r join (select \
         i.experiment_id, min(i.start_time) as start_time, \
         max(coalesce(i.end_time, i.start_time)) as end_time, count(*) as item_count, \
         max(i.start_time) as last_time from ",
    );
    q.push(ITEMS)
        .push(" where i.project_id = ")
        .push_bind(project_id.to_string());
    push_window(&mut q, w);
    q.push(" group by i.experiment_id) a on a.experiment_id = r.id");
    filter::push_where(&mut q, &EXPERIMENTS, project_id, conditions);
    if let Some((t, id)) = after {
        q.push(" and (a.last_time, r.id) < (")
            .push_bind(t)
            .push(", ")
            .push_bind(id.to_string())
            .push(")");
    }
    q.push(" order by a.last_time desc, r.id desc limit ")
        .push_bind(limit as i64 + 1);
    let mut rows = q.build_query_as::<ExperimentRow>().fetch_all(pool).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// Up to `limit` experiment items in the window, newest first, after the cursor
/// `(start time, trace id, id)`, plus whether more follow.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_items(
    pool: &PgPool,
    project_id: &str,
    w: &Window,
    conditions: &[Condition],
    after: Option<(DateTime<Utc>, &str, &str)>,
    limit: u64,
) -> Result<(Vec<ExperimentItemRow>, bool), sqlx::Error> {
    let mut q = QueryBuilder::new("select i.* from ");
    q.push(ITEMS);
    filter::push_where(&mut q, &EXPERIMENT_ITEMS, project_id, conditions);
    push_window(&mut q, w);
    if let Some((t, trace, id)) = after {
        q.push(" and (i.start_time, i.trace_id, i.id) < (")
            .push_bind(t)
            .push(", ")
            .push_bind(trace.to_string())
            .push(", ")
            .push_bind(id.to_string())
            .push(")");
    }
    q.push(" order by i.start_time desc, i.trace_id desc, i.id desc limit ")
        .push_bind(limit as i64 + 1);
    let mut rows = q
        .build_query_as::<ExperimentItemRow>()
        .fetch_all(pool)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}
