//! Time-series metrics (GPU/node telemetry): series, raw points, 1-minute rollups
//! (migration 0050 describes the storage contract), the bucketed query behind
//! `/api/public/metrics/query`, and retention. Validation of points and query parameters
//! lives in `api::tsmetrics`; this module trusts its inputs.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Map, Value};
use sqlx::{PgConnection, PgExecutor, QueryBuilder};

/// One validated point: a flat label object of string values, a finite value.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    /// Metric name.
    pub name: String,
    /// Labels (string values only).
    pub labels: Map<String, Value>,
    /// Value (finite).
    pub value: f64,
    /// When it was measured.
    pub ts: DateTime<Utc>,
}

/// The aggregation applied within each step bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// Arithmetic mean.
    Avg,
    /// Largest value.
    Max,
    /// Smallest value.
    Min,
    /// Sum of values.
    Sum,
    /// Number of points.
    Count,
    /// Value of the latest point.
    Last,
    /// Continuous percentile (`percentile_cont`) at the given fraction.
    Percentile(Pct),
}

/// Supported percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pct {
    /// Median.
    P50,
    /// 90th.
    P90,
    /// 95th.
    P95,
    /// 99th.
    P99,
}

impl Pct {
    fn fraction(self) -> f64 {
        match self {
            Pct::P50 => 0.5,
            Pct::P90 => 0.9,
            Pct::P95 => 0.95,
            Pct::P99 => 0.99,
        }
    }
}

/// PostgreSQL's `percentile_cont(fraction)` of `values` (reordered in place): the value
/// at rank `fraction * (n - 1)` of the sorted values, interpolated linearly between the
/// two closest ranks. Linear time (selection, not a sort). `None` for no values.
fn percentile_cont(values: &mut [f64], fraction: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let pos = fraction * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let (_, &mut below, above) = values.select_nth_unstable_by(lo, f64::total_cmp);
    let low = below;
    if pos == lo as f64 || above.is_empty() {
        return Some(low);
    }
    let high = above.iter().copied().fold(f64::INFINITY, f64::min);
    Some(low + (high - low) * (pos - lo as f64))
}

impl Agg {
    /// Every accepted name, for error messages.
    pub const NAMES: &'static str = "avg, max, min, sum, count, last, p50, p90, p95, p99";

    /// Parses a name (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "avg" => Agg::Avg,
            "max" => Agg::Max,
            "min" => Agg::Min,
            "sum" => Agg::Sum,
            "count" => Agg::Count,
            "last" => Agg::Last,
            "p50" => Agg::Percentile(Pct::P50),
            "p90" => Agg::Percentile(Pct::P90),
            "p95" => Agg::Percentile(Pct::P95),
            "p99" => Agg::Percentile(Pct::P99),
            _ => return None,
        })
    }

    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            Agg::Avg => "avg",
            Agg::Max => "max",
            Agg::Min => "min",
            Agg::Sum => "sum",
            Agg::Count => "count",
            Agg::Last => "last",
            Agg::Percentile(Pct::P50) => "p50",
            Agg::Percentile(Pct::P90) => "p90",
            Agg::Percentile(Pct::P95) => "p95",
            Agg::Percentile(Pct::P99) => "p99",
        }
    }
}

/// A validated query.
#[derive(Debug, Clone)]
pub struct SeriesQuery {
    /// Metric name.
    pub name: String,
    /// Inclusive start.
    pub from: DateTime<Utc>,
    /// Inclusive end.
    pub to: DateTime<Utc>,
    /// Containment filter on labels.
    pub labels: Option<Map<String, Value>>,
    /// Bucket width in seconds (buckets aligned on the Unix epoch, as the seed does).
    pub step_secs: i64,
    /// Aggregation.
    pub agg: Agg,
    /// Label key: one series per value.
    pub group_by: Option<String>,
    /// Series returned at most.
    pub max_series: usize,
    /// Points per series at most.
    pub max_points: usize,
}

/// One returned series.
#[derive(Debug, Clone)]
pub struct SeriesResult {
    /// The series' labels (`{group_by: value}` when grouped).
    pub labels: Value,
    /// `(bucket start, value)` in time order.
    pub values: Vec<(DateTime<Utc>, f64)>,
}

/// Query outcome with the limit bookkeeping.
#[derive(Debug, Clone, Default)]
pub struct QueryOutcome {
    /// The series, ordered by labels.
    pub series: Vec<SeriesResult>,
    /// Series (or groups) matching before the series limit.
    pub total_series: usize,
    /// More series matched than `max_series`.
    pub series_truncated: bool,
    /// Some series had data beyond the first `max_points` buckets.
    pub points_truncated: bool,
}

type SeriesKey<'a> = (&'a str, &'a str, String);

/// Writes the points of several requests in the caller's transaction: creates missing
/// series, inserts points (an existing (series, timestamp) keeps its first value) and
/// folds the new points into the 1-minute rollup. Returns the points newly stored.
#[tracing::instrument(skip_all, fields(points = tracing::field::Empty))]
pub async fn insert_points(
    conn: &mut PgConnection,
    batches: &[(&str, &[MetricPoint])],
) -> sqlx::Result<u64> {
    // Series keys in a stable order (fewer lock-order deadlocks between transactions).
    let mut keys: BTreeMap<SeriesKey<'_>, Option<i64>> = BTreeMap::new();
    for (project, points) in batches {
        for p in points.iter() {
            keys.entry((project, &p.name, labels_text(&p.labels)))
                .or_insert(None);
        }
    }
    if keys.is_empty() {
        return Ok(0);
    }
    let (projects, names, labels): (Vec<&str>, Vec<&str>, Vec<&str>) = {
        let mut a = (Vec::new(), Vec::new(), Vec::new());
        for (p, n, l) in keys.keys() {
            a.0.push(*p);
            a.1.push(*n);
            a.2.push(l.as_str());
        }
        a
    };
    sqlx::query(
        "insert into metric_series (project_id, name, labels)
         select p, n, l::jsonb from unnest($1::text[], $2::text[], $3::text[]) as t(p, n, l)
         on conflict (project_id, name, labels) do nothing",
    )
    .bind(&projects)
    .bind(&names)
    .bind(&labels)
    .execute(&mut *conn)
    .await?;
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "select s.id, s.project_id, s.name, t.l
         from unnest($1::text[], $2::text[], $3::text[]) as t(p, n, l)
         join metric_series s on s.project_id = t.p and s.name = t.n and s.labels = t.l::jsonb",
    )
    .bind(&projects)
    .bind(&names)
    .bind(&labels)
    .fetch_all(&mut *conn)
    .await?;
    let ids: HashMap<(String, String, String), i64> = rows
        .into_iter()
        .map(|(id, p, n, l)| ((p, n, l), id))
        .collect();

    // Deduplicate (series, ts) within the batch: the first occurrence wins, as the
    // `on conflict do nothing` does across batches.
    let mut seen = std::collections::HashSet::new();
    let (mut sid, mut ts, mut val) = (Vec::new(), Vec::new(), Vec::new());
    for (project, points) in batches {
        for p in points.iter() {
            let key = (project.to_string(), p.name.clone(), labels_text(&p.labels));
            let Some(&id) = ids.get(&key) else {
                return Err(sqlx::Error::Protocol(format!(
                    "series {} of project {project} was not created",
                    p.name
                )));
            };
            if seen.insert((id, p.ts)) {
                sid.push(id);
                ts.push(p.ts);
                val.push(p.value);
            }
        }
    }
    let inserted: Vec<(i64, DateTime<Utc>, f64)> = sqlx::query_as(
        "insert into metric_points (series_id, ts, value)
         select * from unnest($1::int8[], $2::timestamptz[], $3::float8[])
         on conflict (series_id, ts) do nothing
         returning series_id, ts, value",
    )
    .bind(&sid)
    .bind(&ts)
    .bind(&val)
    .fetch_all(&mut *conn)
    .await?;
    tracing::Span::current().record("points", inserted.len());
    upsert_rollups(conn, &inserted).await?;
    Ok(inserted.len() as u64)
}

/// A pre-aggregated level: a table of per-series, per-bucket count/sum/min/max/latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rollup {
    table: &'static str,
    secs: i64,
}

/// The rollup levels, finest first. Each width divides the next, so a query picks every
/// level whose width divides its step and reads the coarsest for the middle of its range.
const ROLLUPS: [Rollup; 3] = [
    Rollup {
        table: "metric_rollup_1m",
        secs: 60,
    },
    Rollup {
        table: "metric_rollup_5m",
        secs: 300,
    },
    Rollup {
        table: "metric_rollup_1h",
        secs: 3600,
    },
];

#[derive(Debug, Clone, Copy)]
struct Partial {
    cnt: i64,
    sum: f64,
    min: f64,
    max: f64,
    last_ts: DateTime<Utc>,
    last_value: f64,
}

impl Partial {
    fn of(ts: DateTime<Utc>, v: f64) -> Self {
        Partial {
            cnt: 1,
            sum: v,
            min: v,
            max: v,
            last_ts: ts,
            last_value: v,
        }
    }

    fn add(&mut self, ts: DateTime<Utc>, v: f64) {
        self.cnt += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if ts > self.last_ts {
            self.last_ts = ts;
            self.last_value = v;
        }
    }
}

/// Folds newly inserted points into every rollup level.
async fn upsert_rollups(
    conn: &mut PgConnection,
    inserted: &[(i64, DateTime<Utc>, f64)],
) -> sqlx::Result<()> {
    if inserted.is_empty() {
        return Ok(());
    }
    for level in ROLLUPS {
        let mut parts: BTreeMap<(i64, DateTime<Utc>), Partial> = BTreeMap::new();
        for &(id, ts, v) in inserted {
            parts
                .entry((id, bucket_start(ts, level.secs)))
                .and_modify(|p| p.add(ts, v))
                .or_insert_with(|| Partial::of(ts, v));
        }
        let n = parts.len();
        let (mut ids, mut buckets, mut cnt, mut sum) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut min, mut max, mut lts, mut lv) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for ((id, bucket), p) in &parts {
            ids.push(*id);
            buckets.push(*bucket);
            cnt.push(p.cnt);
            sum.push(p.sum);
            min.push(p.min);
            max.push(p.max);
            lts.push(p.last_ts);
            lv.push(p.last_value);
        }
        let t = level.table;
        sqlx::query(&format!(
            "insert into {t} (series_id, bucket, cnt, sum, min, max, last_ts, last_value)
             select * from unnest($1::int8[], $2::timestamptz[], $3::int8[], $4::float8[],
                                  $5::float8[], $6::float8[], $7::timestamptz[], $8::float8[])
             on conflict (series_id, bucket) do update set
                 cnt = {t}.cnt + excluded.cnt,
                 sum = {t}.sum + excluded.sum,
                 min = least({t}.min, excluded.min),
                 max = greatest({t}.max, excluded.max),
                 last_ts = greatest({t}.last_ts, excluded.last_ts),
                 last_value = case when excluded.last_ts > {t}.last_ts
                                   then excluded.last_value else {t}.last_value end"
        ))
        .bind(&ids)
        .bind(&buckets)
        .bind(&cnt)
        .bind(&sum)
        .bind(&min)
        .bind(&max)
        .bind(&lts)
        .bind(&lv)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Canonical text of a label object (keys sorted), the series identity.
fn labels_text(labels: &Map<String, Value>) -> String {
    // serde_json's Map is a BTreeMap without the preserve_order feature: keys are sorted.
    Value::Object(labels.clone()).to_string()
}

/// Metric names of a project, with the label keys seen on each.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_names(
    db: impl PgExecutor<'_>,
    project_id: &str,
) -> sqlx::Result<Vec<(String, Vec<String>)>> {
    sqlx::query_as(
        "select s.name,
                coalesce(array_agg(distinct k.key order by k.key)
                         filter (where k.key is not null), '{}')
         from metric_series s
         left join lateral jsonb_object_keys(s.labels) as k(key) on true
         where s.project_id = $1
         group by s.name
         order by s.name",
    )
    .bind(project_id)
    .fetch_all(db)
    .await
}

/// The bucketed, aggregated series of `q` in `project_id`, within the limits of `q`.
#[tracing::instrument(skip_all, fields(project_id = %project_id, name = %q.name))]
pub async fn query_series(
    conn: &mut PgConnection,
    project_id: &str,
    q: &SeriesQuery,
) -> sqlx::Result<QueryOutcome> {
    // 1. Resolve the label filter to series (GIN on labels).
    let series: Vec<(i64, Value)> = sqlx::query_as(
        "select id, labels from metric_series
         where project_id = $1 and name = $2 and ($3::jsonb is null or labels @> $3::jsonb)
         order by labels",
    )
    .bind(project_id)
    .bind(&q.name)
    .bind(q.labels.clone().map(Value::Object))
    .fetch_all(&mut *conn)
    .await?;

    // 2. Series -> output group (one per series, or one per group_by value), ordered by labels.
    let mut groups: BTreeMap<String, (Value, Vec<i64>)> = BTreeMap::new();
    for (id, labels) in series {
        let out = match &q.group_by {
            Some(key) => {
                let v = labels.get(key).cloned().unwrap_or(Value::Null);
                Value::Object(Map::from_iter([(key.clone(), v)]))
            }
            None => labels,
        };
        groups
            .entry(out.to_string())
            .or_insert_with(|| (out, Vec::new()))
            .1
            .push(id);
    }
    let mut outcome = QueryOutcome {
        total_series: groups.len(),
        series_truncated: groups.len() > q.max_series,
        ..Default::default()
    };
    let groups: Vec<(Value, Vec<i64>)> = groups.into_values().take(q.max_series).collect();
    if groups.is_empty() {
        return Ok(outcome);
    }
    let (mut ids, mut gidx) = (Vec::new(), Vec::new());
    for (g, (_, members)) in groups.iter().enumerate() {
        for id in members {
            ids.push(*id);
            gidx.push(g as i32);
        }
    }

    // 3. Only the first max_points buckets are computed; later data is reported.
    let step = Duration::seconds(q.step_secs);
    let first_bucket = bucket_start(q.from, q.step_secs);
    let cap_end = i32::try_from(q.max_points)
        .ok()
        .and_then(|n| step.checked_mul(n))
        .and_then(|d| first_bucket.checked_add_signed(d));
    // The range as half-open [from, end).
    let end = if let Some(cap_end) = cap_end.filter(|c| *c <= q.to) {
        outcome.points_truncated = sqlx::query_scalar(
            "select exists (select 1 from metric_points
                            where series_id = any($1) and ts >= $2 and ts <= $3)",
        )
        .bind(&ids)
        .bind(cap_end)
        .bind(q.to)
        .fetch_one(&mut *conn)
        .await?;
        cap_end
    } else {
        q.to + Duration::microseconds(1)
    };

    // 4. Aggregate, in one transaction for its settings: no JIT (compiling costs more
    // than these queries run) and room to hash a day of many series in memory.
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::query("set local jit = off").execute(&mut *tx).await?;
    sqlx::query("set local work_mem = '64MB'")
        .execute(&mut *tx)
        .await?;
    let rows = match q.agg {
        Agg::Percentile(p) => percentiles(&mut tx, &ids, &gidx, q, end, p).await?,
        _ => aggregates(&mut tx, &ids, &gidx, q, end).await?,
    };
    tx.commit().await?;

    let mut out: Vec<SeriesResult> = groups
        .into_iter()
        .map(|(labels, _)| SeriesResult {
            labels,
            values: Vec::new(),
        })
        .collect();
    for (g, bucket, value) in rows {
        if let Some(s) = out.get_mut(g as usize) {
            s.values.push((bucket, value));
        }
    }
    // Groups without any point in range are still listed (their series exist); drop
    // them so `data` only carries series with values, as the seed does.
    out.retain(|s| !s.values.is_empty());
    outcome.series = out;
    Ok(outcome)
}

/// Largest id span mapped to groups through a dense array (256 KiB of int4).
const DENSE_GROUP_MAP: i64 = 65_536;

/// Non-percentile aggregations over `[q.from, end)`: the coarsest rollup whose width
/// divides the step for the middle of the range, finer ones towards the ragged edges, raw
/// points at the very edges. `series_id = any(ids)` next to the join lets the planner drive
/// the primary-key index (series_id, time) instead of hash-joining whole tables to the
/// id list. Returns `(group, bucket, value)` rows in order.
async fn aggregates(
    conn: &mut PgConnection,
    ids: &[i64],
    gidx: &[i32],
    q: &SeriesQuery,
    end: DateTime<Utc>,
) -> sqlx::Result<Vec<(i32, DateTime<Utc>, f64)>> {
    let levels: Vec<Rollup> = ROLLUPS
        .into_iter()
        .filter(|l| q.step_secs % l.secs == 0)
        .collect();
    let pieces = plan_pieces(q.from, end, &levels);
    // Series -> group: when the ids are close together (the usual case: a metric's series
    // are created together), a dense array indexed by id offset, looked up per row; else a
    // join with the (id, group) list.
    let (min_id, max_id) = (
        ids.iter().copied().min().unwrap_or(0),
        ids.iter().copied().max().unwrap_or(0),
    );
    let dense: Option<Vec<i32>> = (max_id - min_id < DENSE_GROUP_MAP).then(|| {
        let mut map = vec![-1; (max_id - min_id + 1) as usize];
        for (id, g) in ids.iter().zip(gidx) {
            map[(id - min_id) as usize] = *g;
        }
        map
    });
    let mut b = QueryBuilder::new("with ");
    if dense.is_none() {
        b.push("sel as (select * from unnest(")
            .push_bind(ids)
            .push("::int8[], ")
            .push_bind(gidx)
            .push("::int4[]) as s(id, g)), ");
    }
    b.push("parts as (");
    for (i, (level, lo, hi)) in pieces.iter().enumerate() {
        if i > 0 {
            b.push(" union all ");
        }
        b.push("select ");
        match &dense {
            Some(map) => b
                .push("(")
                .push_bind(map.as_slice())
                .push("::int4[])[t.series_id - ")
                .push_bind(min_id - 1)
                .push("] as g, "),
            None => b.push("s.g, "),
        };
        b.push(match level {
            Some(_) => "t.bucket as ts, t.cnt, t.sum, t.min, t.max, t.last_ts, t.last_value",
            None => {
                "t.ts, 1::int8 as cnt, t.value as sum, t.value as min, t.value as max,
                 t.ts as last_ts, t.value as last_value"
            }
        });
        b.push(format!(
            " from {} t",
            level.map_or("metric_points", |l| l.table)
        ));
        if dense.is_none() {
            b.push(" join sel s on s.id = t.series_id");
        }
        let col = if level.is_some() { "t.bucket" } else { "t.ts" };
        b.push(" where t.series_id = any(")
            .push_bind(ids)
            .push(format!(") and {col} >= "))
            .push_bind(*lo)
            .push(format!(" and {col} < "))
            .push_bind(*hi);
    }
    b.push(") select g, date_bin(make_interval(secs => ")
        .push_bind(q.step_secs as f64)
        .push("), ts, timestamptz '1970-01-01 00:00:00+00') as bucket, ");
    b.push(match q.agg {
        Agg::Avg => "(sum(sum) / sum(cnt)::float8)::float8",
        Agg::Max => "max(max)::float8",
        Agg::Min => "min(min)::float8",
        Agg::Sum => "sum(sum)::float8",
        Agg::Count => "sum(cnt)::float8",
        Agg::Last | Agg::Percentile(_) => {
            "(array_agg(last_value order by last_ts desc))[1]::float8"
        }
    });
    b.push(" as value from parts group by 1, 2 order by 1, 2");
    // Not a prepared statement: a cached generic plan cannot see how many series the id
    // arrays hold, and the right plan for 1 series is wrong for 1,000.
    b.build_query_as()
        .persistent(false)
        .fetch_all(&mut *conn)
        .await
}

/// Percentiles over `[q.from, end)`: every raw value is needed. The database groups each
/// series' values per bucket (an index-only scan of the primary key, no join, no sort);
/// the groups are merged and the percentile selected here, in linear time.
async fn percentiles(
    conn: &mut PgConnection,
    ids: &[i64],
    gidx: &[i32],
    q: &SeriesQuery,
    end: DateTime<Utc>,
    pct: Pct,
) -> sqlx::Result<Vec<(i32, DateTime<Utc>, f64)>> {
    let rows: Vec<(i64, DateTime<Utc>, Vec<f64>)> = sqlx::query_as(
        "select series_id, date_bin(make_interval(secs => $2), ts,
                                    timestamptz '1970-01-01 00:00:00+00'),
                array_agg(value)
         from metric_points
         where series_id = any($1) and ts >= $3 and ts < $4
         group by 1, 2",
    )
    .bind(ids)
    .bind(q.step_secs as f64)
    .bind(q.from)
    .bind(end)
    .persistent(false)
    .fetch_all(&mut *conn)
    .await?;
    let group_of: HashMap<i64, i32> = ids.iter().copied().zip(gidx.iter().copied()).collect();
    let mut buckets: BTreeMap<(i32, DateTime<Utc>), Vec<f64>> = BTreeMap::new();
    for (id, bucket, values) in rows {
        let Some(&g) = group_of.get(&id) else {
            continue;
        };
        let all = buckets.entry((g, bucket)).or_default();
        if all.is_empty() {
            *all = values;
        } else {
            all.extend(values);
        }
    }
    Ok(buckets
        .into_iter()
        .filter_map(|((g, bucket), mut values)| {
            percentile_cont(&mut values, pct.fraction()).map(|v| (g, bucket, v))
        })
        .collect())
}

/// Splits the half-open range `[from, end)` into pieces read from the coarsest level
/// that covers them whole: `levels` finest first (each width dividing the next), `None`
/// for raw points. Pieces are in time order, non-empty and cover the range exactly.
fn plan_pieces(
    from: DateTime<Utc>,
    end: DateTime<Utc>,
    levels: &[Rollup],
) -> Vec<(Option<Rollup>, DateTime<Utc>, DateTime<Utc>)> {
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let (mut lo, mut hi, mut current) = (from, end, None);
    for level in levels {
        let (c, f) = (ceil_to(lo, level.secs), bucket_start(hi, level.secs));
        if c >= f {
            break;
        }
        left.push((current, lo, c));
        right.push((current, f, hi));
        (lo, hi, current) = (c, f, Some(*level));
    }
    let mut pieces = left;
    pieces.push((current, lo, hi));
    pieces.extend(right.into_iter().rev());
    pieces.retain(|p| p.1 < p.2);
    pieces
}

/// Start of the epoch-aligned bucket holding `t`.
pub fn bucket_start(t: DateTime<Utc>, step_secs: i64) -> DateTime<Utc> {
    let micros = t.timestamp_micros();
    let step = step_secs * 1_000_000;
    // Flooring can only leave chrono's range at its very start; keep `t` there.
    Utc.timestamp_micros(micros - micros.rem_euclid(step))
        .single()
        .unwrap_or(t)
}

/// Start of the first epoch-aligned bucket of width `secs` at or after `t`.
fn ceil_to(t: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    let floor = bucket_start(t, secs);
    if floor == t {
        t
    } else {
        floor + Duration::seconds(secs)
    }
}

/// Deletes points and rollups older than `cutoff` floored to the hour (the coarsest
/// rollup), so raw points and every rollup level end at the same boundary. At most `chunk`
/// rows per statement (a large backlog does not hold one long transaction). Returns rows
/// deleted.
#[tracing::instrument(skip_all)]
pub async fn delete_older_than(
    db: &sqlx::PgPool,
    cutoff: DateTime<Utc>,
    chunk: i64,
) -> sqlx::Result<u64> {
    let coarsest = ROLLUPS[ROLLUPS.len() - 1].secs;
    let cutoff = bucket_start(cutoff, coarsest);
    let mut total = 0;
    for sql in [
        "delete from metric_points where ctid = any(array(
             select ctid from metric_points where ts < $1 limit $2))",
        "delete from metric_rollup_1m where ctid = any(array(
             select ctid from metric_rollup_1m where bucket < $1 limit $2))",
        "delete from metric_rollup_5m where ctid = any(array(
             select ctid from metric_rollup_5m where bucket < $1 limit $2))",
        "delete from metric_rollup_1h where ctid = any(array(
             select ctid from metric_rollup_1h where bucket < $1 limit $2))",
    ] {
        loop {
            let n = sqlx::query(sql)
                .bind(cutoff)
                .bind(chunk)
                .execute(db)
                .await?
                .rows_affected();
            total += n;
            if n < chunk as u64 {
                break;
            }
        }
    }
    Ok(total)
}

/// Starts the retention job: every `every`, deletes points and rollups older than
/// `days` days. `days == 0` keeps everything (no task is started).
pub fn spawn_retention(
    pool: sqlx::PgPool,
    days: u32,
    every: std::time::Duration,
) -> Option<tokio::task::JoinHandle<()>> {
    if days == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let cutoff = Utc::now() - Duration::days(i64::from(days));
            match delete_older_than(&pool, cutoff, 50_000).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, %cutoff, "metrics retention deleted old points"),
                Err(e) => tracing::warn!(error = %e, "metrics retention failed; retrying later"),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn buckets_align_on_the_epoch() {
        assert_eq!(
            bucket_start(t("2024-05-01T12:07:31.5Z"), 300),
            t("2024-05-01T12:05:00Z")
        );
        assert_eq!(
            bucket_start(t("2024-05-01T12:07:31Z"), 86_400),
            t("2024-05-01T00:00:00Z")
        );
        assert_eq!(
            ceil_to(t("2024-05-01T12:07:00Z"), 60),
            t("2024-05-01T12:07:00Z")
        );
        assert_eq!(
            ceil_to(t("2024-05-01T12:07:00.001Z"), 60),
            t("2024-05-01T12:08:00Z")
        );
    }

    #[test]
    fn pieces_use_the_coarsest_level_that_covers_them_whole() {
        let (m, m5, h) = (ROLLUPS[0], ROLLUPS[1], ROLLUPS[2]);
        let pieces = plan_pieces(
            t("2024-05-01T10:48:30Z"),
            t("2024-05-01T13:07:10Z"),
            &ROLLUPS,
        );
        let want = vec![
            (None, t("2024-05-01T10:48:30Z"), t("2024-05-01T10:49:00Z")),
            (
                Some(m),
                t("2024-05-01T10:49:00Z"),
                t("2024-05-01T10:50:00Z"),
            ),
            (
                Some(m5),
                t("2024-05-01T10:50:00Z"),
                t("2024-05-01T11:00:00Z"),
            ),
            (
                Some(h),
                t("2024-05-01T11:00:00Z"),
                t("2024-05-01T13:00:00Z"),
            ),
            (
                Some(m5),
                t("2024-05-01T13:00:00Z"),
                t("2024-05-01T13:05:00Z"),
            ),
            (
                Some(m),
                t("2024-05-01T13:05:00Z"),
                t("2024-05-01T13:07:00Z"),
            ),
            (None, t("2024-05-01T13:07:00Z"), t("2024-05-01T13:07:10Z")),
        ];
        assert_eq!(pieces, want);
        // Less than a whole hour: 5 minutes in the middle; aligned edges leave no raw piece.
        assert_eq!(
            plan_pieces(
                t("2024-05-01T10:10:00Z"),
                t("2024-05-01T10:50:00Z"),
                &ROLLUPS
            ),
            vec![(
                Some(m5),
                t("2024-05-01T10:10:00Z"),
                t("2024-05-01T10:50:00Z")
            )]
        );
        // Only the levels given (a 2-minute step can use the 1-minute rollup only).
        assert_eq!(
            plan_pieces(
                t("2024-05-01T10:10:00Z"),
                t("2024-05-01T12:50:00Z"),
                &ROLLUPS[..1]
            ),
            vec![(
                Some(m),
                t("2024-05-01T10:10:00Z"),
                t("2024-05-01T12:50:00Z")
            )]
        );
        // No level (percentiles, or a step that no width divides): one raw piece.
        assert_eq!(
            plan_pieces(t("2024-05-01T10:10:00Z"), t("2024-05-01T10:50:00Z"), &[]),
            vec![(None, t("2024-05-01T10:10:00Z"), t("2024-05-01T10:50:00Z"))]
        );
        // Inside one minute: raw only.
        assert_eq!(
            plan_pieces(
                t("2024-05-01T10:10:01Z"),
                t("2024-05-01T10:10:50Z"),
                &ROLLUPS
            )
            .len(),
            1
        );
    }

    #[test]
    fn percentile_cont_interpolates_between_the_closest_ranks() {
        // Sorted: 1 2 3 4 10. p50 -> rank 2 -> 3; p90 -> rank 3.6 -> 4 + 0.6 * 6.
        let mut v = vec![10.0, 3.0, 1.0, 4.0, 2.0];
        assert_eq!(percentile_cont(&mut v, 0.5), Some(3.0));
        let p90 = percentile_cont(&mut v, 0.9).unwrap();
        assert!((p90 - 7.6).abs() < 1e-12, "{p90}");
        assert_eq!(percentile_cont(&mut [5.0], 0.99), Some(5.0));
        assert_eq!(percentile_cont(&mut [], 0.5), None);
        let mut two = [2.0, -2.0];
        assert_eq!(percentile_cont(&mut two, 0.5), Some(0.0));
    }

    #[test]
    fn every_agg_name_round_trips() {
        for name in Agg::NAMES.split(", ") {
            assert_eq!(Agg::parse(name).map(Agg::as_str), Some(name));
        }
        assert_eq!(Agg::parse("P99"), Some(Agg::Percentile(Pct::P99)));
        assert_eq!(Agg::parse("median"), None);
    }

    #[test]
    fn label_identity_ignores_key_order() {
        let a: Map<String, Value> = serde_json::from_str(r#"{"b":"1","a":"2"}"#).unwrap();
        let b: Map<String, Value> = serde_json::from_str(r#"{"a":"2","b":"1"}"#).unwrap();
        assert_eq!(labels_text(&a), labels_text(&b));
    }
}
