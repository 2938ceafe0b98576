//! Aggregations for the metrics endpoints: the legacy daily metrics
//! (`GET /api/public/metrics/daily`) and the query API (`GET /api/public/metrics`).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::domain::paging::Page;

/// Filters of the daily metrics (all on the trace, plus the observation environment).
#[derive(Debug, Clone, Default)]
pub struct DailyFilter {
    /// Trace name.
    pub trace_name: Option<String>,
    /// Trace user id.
    pub user_id: Option<String>,
    /// The trace has all these tags.
    pub tags: Vec<String>,
    /// Any of these environments.
    pub environments: Vec<String>,
    /// Trace `timestamp >=`.
    pub from_timestamp: Option<DateTime<Utc>>,
    /// Trace `timestamp <`.
    pub to_timestamp: Option<DateTime<Utc>>,
}

impl DailyFilter {
    fn is_empty(&self) -> bool {
        self.trace_name.is_none()
            && self.user_id.is_none()
            && self.tags.is_empty()
            && self.environments.is_empty()
            && self.from_timestamp.is_none()
            && self.to_timestamp.is_none()
    }
}

fn push_trace_filters<'a>(
    qb: &mut QueryBuilder<'a, Postgres>,
    project_id: &'a str,
    f: &'a DailyFilter,
) {
    qb.push(" where t.project_id = ").push_bind(project_id);
    if let Some(v) = &f.trace_name {
        qb.push(" and t.name = ").push_bind(v);
    }
    if let Some(v) = &f.user_id {
        qb.push(" and t.user_id = ").push_bind(v);
    }
    if !f.tags.is_empty() {
        qb.push(" and t.tags @> ").push_bind(&f.tags);
    }
    if !f.environments.is_empty() {
        qb.push(" and t.environment = any(")
            .push_bind(&f.environments)
            .push(")");
    }
    if let Some(v) = &f.from_timestamp {
        qb.push(" and t.timestamp >= ").push_bind(v);
    }
    if let Some(v) = &f.to_timestamp {
        qb.push(" and t.timestamp < ").push_bind(v);
    }
}

/// One day of the daily metrics.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DailyRow {
    /// UTC date.
    pub day: NaiveDate,
    /// Traces with a timestamp on that day.
    pub count_traces: i64,
    /// Observations starting on that day.
    pub count_observations: i64,
    /// Their total cost.
    pub total_cost: f64,
    /// Per model: `[{model, inputUsage, outputUsage, totalUsage, totalCost, countObservations, countTraces}]`.
    pub usage: Value,
}

/// Sum of a usage map's numeric values whose key contains `needle` (case-insensitive).
fn usage_sum_sql(needle: &str) -> String {
    format!(
        "(select coalesce(sum((u.value)::text::float8), 0) from jsonb_each(o.usage_details) u \
         where jsonb_typeof(u.value) = 'number' and u.key ilike '%{needle}%')"
    )
}

/// One page of days (newest first) and the number of days with traces (Langfuse's count).
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn daily(
    pool: &PgPool,
    project_id: &str,
    f: &DailyFilter,
    page: Page,
) -> Result<(Vec<DailyRow>, u64), sqlx::Error> {
    let mut q = QueryBuilder::new("with ft as (select t.id, t.timestamp from traces t");
    push_trace_filters(&mut q, project_id, f);
    q.push(
        "), mu as (select (o.start_time at time zone 'UTC')::date as day, o.model, \
        count(*) as count_observations, count(distinct o.trace_id) as count_traces, ",
    );
    q.push(format!(
        "coalesce(sum({}), 0) as input_usage, coalesce(sum({}), 0) as output_usage, ",
        usage_sum_sql("input"),
        usage_sum_sql("output")
    ));
    q.push(
        "coalesce(sum(case when jsonb_typeof(o.usage_details->'total') = 'number' \
         then (o.usage_details->>'total')::float8 end), 0) as total_usage, \
         coalesce(sum(o.total_cost), 0)::float8 as total_cost from observations o",
    );
    if !f.is_empty() {
        q.push(" join ft on ft.id = o.trace_id");
    }
    q.push(" where o.project_id = ").push_bind(project_id);
    if !f.environments.is_empty() {
        q.push(" and o.environment = any(")
            .push_bind(&f.environments)
            .push(")");
    }
    q.push(
        " group by 1, 2), \
         dmu as (select day, sum(count_observations)::int8 as count_observations, \
           sum(total_cost)::float8 as total_cost, \
           jsonb_agg(jsonb_build_object('model', model, 'inputUsage', input_usage, \
             'outputUsage', output_usage, 'totalUsage', total_usage, 'totalCost', total_cost, \
             'countObservations', count_observations, 'countTraces', count_traces) \
             order by model nulls first) as usage \
           from mu group by day), \
         tu as (select (timestamp at time zone 'UTC')::date as day, count(*)::int8 as count_traces \
           from ft group by 1) \
         select coalesce(dmu.day, tu.day) as day, coalesce(tu.count_traces, 0)::int8 as count_traces, \
           coalesce(dmu.count_observations, 0)::int8 as count_observations, \
           coalesce(dmu.total_cost, 0)::float8 as total_cost, coalesce(dmu.usage, '[]'::jsonb) as usage \
         from dmu full outer join tu on dmu.day = tu.day order by 1 desc limit ",
    );
    q.push_bind(page.limit as i64)
        .push(" offset ")
        .push_bind(page.offset());

    let mut count_q = QueryBuilder::new(
        "select count(distinct (t.timestamp at time zone 'UTC')::date) from traces t",
    );
    push_trace_filters(&mut count_q, project_id, f);
    let (rows, count) = tokio::try_join!(
        q.build_query_as::<DailyRow>().fetch_all(pool),
        count_q.build_query_scalar::<i64>().fetch_one(pool),
    )?;
    Ok((rows, count.max(0) as u64))
}
