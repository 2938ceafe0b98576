//! The metrics query API (`GET /api/public/metrics`, `GET /api/public/v2/metrics`): Langfuse's
//! data model (views with dimensions and measures) mapped onto our tables, and the compiler
//! that turns one validated query into ONE parameterised SQL statement.
//!
//! Identifiers in the SQL come only from the static catalog below (field name → SQL
//! expression); every client value is a bind parameter. The statement has this shape:
//!
//! ```text
//! with g as (select <dims> as d0.., <bucket> as td, <aggs> as m0..
//!            from <base> [join traces t] [join observations o] [lateral aggregates]
//!            where project_id = $ and <time> between $from and $to and <segment> and <filters>
//!            group by <dims>, td)
//! select to_jsonb(d0).., td, to_jsonb(m0).. from (g [union all gap-filling buckets])
//! order by … limit …
//! ```
//!
//! Langfuse computes each measure per entity (trace, observation, score) in an inner query and
//! aggregates the per-entity values in an outer one. Our joins never multiply an entity (the
//! parent trace/observation is many-to-one; child observations and scores of a trace are folded
//! into one lateral aggregate row), so one level computes the same values. Like Langfuse's
//! INNER JOINs, a related table that is used restricts the entities to those that have a
//! related row inside the time range.

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Timelike, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

/// Which endpoint the query came through (Langfuse's data model versions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// `GET /api/public/metrics`.
    V1,
    /// `GET /api/public/v2/metrics` (no `traces` view; high-cardinality checks).
    V2,
}

/// A view of the query API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewName {
    /// `traces` (v1 only).
    Traces,
    /// `observations`.
    Observations,
    /// `scores-numeric` (NUMERIC and BOOLEAN scores).
    ScoresNumeric,
    /// `scores-categorical` (CATEGORICAL and TEXT scores).
    ScoresCategorical,
    /// `scores-boolean` (BOOLEAN scores).
    ScoresBoolean,
}

impl ViewName {
    /// Views of a version, with their wire names.
    pub fn all(version: ApiVersion) -> &'static [(&'static str, ViewName)] {
        const V1: &[(&str, ViewName)] = &[
            ("traces", ViewName::Traces),
            ("observations", ViewName::Observations),
            ("scores-numeric", ViewName::ScoresNumeric),
            ("scores-categorical", ViewName::ScoresCategorical),
            ("scores-boolean", ViewName::ScoresBoolean),
        ];
        match version {
            ApiVersion::V1 => V1,
            ApiVersion::V2 => &V1[1..],
        }
    }
}

/// An aggregation of a measure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregation {
    /// `sum`.
    Sum,
    /// `avg`.
    Avg,
    /// `count` (non-null values).
    Count,
    /// `max`.
    Max,
    /// `min`.
    Min,
    /// Percentile (linear interpolation), the fraction in `0..1`.
    Percentile(&'static str, f64),
    /// `histogram`: `[[lower, upper, height], …]` over `bins` equal-width bins.
    Histogram,
    /// `uniq` (distinct values).
    Uniq,
}

impl Aggregation {
    /// Wire names and values.
    pub const ALL: &'static [(&'static str, Aggregation)] = &[
        ("sum", Aggregation::Sum),
        ("avg", Aggregation::Avg),
        ("count", Aggregation::Count),
        ("max", Aggregation::Max),
        ("min", Aggregation::Min),
        ("p50", Aggregation::Percentile("p50", 0.5)),
        ("p75", Aggregation::Percentile("p75", 0.75)),
        ("p90", Aggregation::Percentile("p90", 0.9)),
        ("p95", Aggregation::Percentile("p95", 0.95)),
        ("p99", Aggregation::Percentile("p99", 0.99)),
        ("histogram", Aggregation::Histogram),
        ("uniq", Aggregation::Uniq),
    ];

    /// The wire name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, a)| *a == self)
            .map(|(n, _)| *n)
            .unwrap_or("count")
    }
}

/// Time bucket size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// Pick by range (Langfuse's `auto`).
    Auto,
    /// Minute.
    Minute,
    /// Hour.
    Hour,
    /// UTC day.
    Day,
    /// ISO week starting Monday.
    Week,
    /// Calendar month.
    Month,
}

impl Granularity {
    /// Wire names and values.
    pub const ALL: &'static [(&'static str, Granularity)] = &[
        ("auto", Granularity::Auto),
        ("minute", Granularity::Minute),
        ("hour", Granularity::Hour),
        ("day", Granularity::Day),
        ("week", Granularity::Week),
        ("month", Granularity::Month),
    ];

    /// `auto` resolved as Langfuse does (about 50 buckets): < 2 h minute, < 72 h hour,
    /// < 60 days day, < 1 year week, else month.
    pub fn resolve(self, from: DateTime<Utc>, to: DateTime<Utc>) -> Granularity {
        if self != Granularity::Auto {
            return self;
        }
        let hours = (to - from).num_milliseconds() as f64 / 3_600_000.0;
        if hours < 2.0 {
            Granularity::Minute
        } else if hours < 72.0 {
            Granularity::Hour
        } else if hours < 1440.0 {
            Granularity::Day
        } else if hours < 8760.0 {
            Granularity::Week
        } else {
            Granularity::Month
        }
    }

    fn pg_unit(self) -> &'static str {
        match self {
            Granularity::Minute | Granularity::Auto => "minute",
            Granularity::Hour => "hour",
            Granularity::Day => "day",
            Granularity::Week => "week",
            Granularity::Month => "month",
        }
    }

    /// The bucket start of `t` (UTC).
    pub fn truncate(self, t: NaiveDateTime) -> NaiveDateTime {
        let d = t.date();
        let day = d.and_hms_opt(0, 0, 0).unwrap_or(t);
        match self {
            Granularity::Minute | Granularity::Auto => {
                d.and_hms_opt(t.hour(), t.minute(), 0).unwrap_or(t)
            }
            Granularity::Hour => d.and_hms_opt(t.hour(), 0, 0).unwrap_or(t),
            Granularity::Day => day,
            Granularity::Week => day - Duration::days(d.weekday().num_days_from_monday() as i64),
            Granularity::Month => d
                .with_day(1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .unwrap_or(day),
        }
    }

    /// The next bucket start after bucket start `t`.
    pub fn next(self, t: NaiveDateTime) -> NaiveDateTime {
        match self {
            Granularity::Minute | Granularity::Auto => t + Duration::minutes(1),
            Granularity::Hour => t + Duration::hours(1),
            Granularity::Day => t + Duration::days(1),
            Granularity::Week => t + Duration::weeks(1),
            Granularity::Month => t
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(t + Duration::days(31)),
        }
    }
}

/// A filter operator (validated against the filter type by the API layer).
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    /// `datetime` with `>`, `<`, `>=`, `<=`.
    DateTime(&'static str, DateTime<Utc>),
    /// `string`/`stringObject` with `=`, `contains`, `does not contain`, `starts with`, `ends with`.
    Text(&'static str, String),
    /// `stringOptions`/`arrayOptions` with `any of`, `none of`, `all of`.
    Options(&'static str, Vec<String>),
    /// `number`/`numberObject` with `=`, `>`, `<`, `>=`, `<=`.
    Number(&'static str, f64),
    /// `boolean` with `=`, `<>`.
    Bool(&'static str, bool),
    /// `null` with `is null`, `is not null`.
    Null(&'static str),
}

/// One filter of the query.
#[derive(Debug, Clone)]
pub struct Filter {
    /// The column (a dimension, the view's time column, or `metadata`).
    pub column: String,
    /// The wire type name (`string`, `stringOptions`, …), for error messages.
    pub kind: String,
    /// `key` of `stringObject`/`numberObject`.
    pub key: Option<String>,
    /// Operator and value.
    pub value: FilterValue,
}

/// A parsed query (shape checked; names not yet checked against the view).
#[derive(Debug, Clone)]
pub struct MetricsQuery {
    /// Endpoint version.
    pub version: ApiVersion,
    /// The view.
    pub view: ViewName,
    /// Dimension field names.
    pub dimensions: Vec<String>,
    /// `(measure, aggregation)`.
    pub metrics: Vec<(String, Aggregation)>,
    /// Filters.
    pub filters: Vec<Filter>,
    /// Time bucket, if requested.
    pub granularity: Option<Granularity>,
    /// Range start (inclusive).
    pub from: DateTime<Utc>,
    /// Range end (inclusive).
    pub to: DateTime<Utc>,
    /// `(field, descending)`; `None` when not given.
    pub order_by: Option<Vec<(String, bool)>>,
    /// Histogram bins (default 10).
    pub bins: u32,
    /// Row limit, if any.
    pub row_limit: Option<u32>,
}

// ---------------------------------------------------------------------------------------------
// Catalog
// ---------------------------------------------------------------------------------------------

/// Related tables a field needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rel {
    /// Only the base table.
    None,
    /// The parent trace (`t`), inner-joined with its timestamp in range.
    Trace,
    /// The linked observation (`o`) of a score, inner-joined with its start in range.
    Observation,
    /// Lateral aggregate of a trace's observations (`ro`).
    TraceObservations,
    /// Lateral aggregate of scores (`rs`) of the trace or observation.
    Scores,
}

/// SQL type of a dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    TextArray,
    Number,
    Bool,
}

struct Dim {
    name: &'static str,
    sql: &'static str,
    kind: Kind,
    rel: Rel,
    high_cardinality: bool,
}

/// Measure value type (Langfuse's `type`): numeric ones allow every aggregation, string ones
/// only `count` and `uniq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MeasureType {
    Integer,
    Decimal,
    Str,
}

struct Measure {
    name: &'static str,
    /// Per-entity value.
    sql: &'static str,
    ty: MeasureType,
    rel: Rel,
    /// SQL for `count`/`uniq` when they mean "distinct values" (unique ids measures).
    distinct_sql: Option<&'static str>,
}

const fn d(name: &'static str, sql: &'static str, kind: Kind, rel: Rel) -> Dim {
    Dim {
        name,
        sql,
        kind,
        rel,
        high_cardinality: false,
    }
}

const fn hc(name: &'static str, sql: &'static str, kind: Kind, rel: Rel) -> Dim {
    Dim {
        name,
        sql,
        kind,
        rel,
        high_cardinality: true,
    }
}

const fn m(name: &'static str, sql: &'static str, ty: MeasureType, rel: Rel) -> Measure {
    Measure {
        name,
        sql,
        ty,
        rel,
        distinct_sql: None,
    }
}

use Kind::*;
use MeasureType::*;

const TRACE_DIMS: &[Dim] = &[
    d("id", "t.id", Text, Rel::None),
    d("name", "t.name", Text, Rel::None),
    d("tags", "t.tags", TextArray, Rel::None),
    d("userId", "t.user_id", Text, Rel::None),
    d("sessionId", "t.session_id", Text, Rel::None),
    d("release", "t.release", Text, Rel::None),
    d("version", "t.version", Text, Rel::None),
    d("environment", "t.environment", Text, Rel::None),
    d(
        "timestampMonth",
        "to_char(t.timestamp at time zone 'UTC', 'YYYY-MM')",
        Text,
        Rel::None,
    ),
];

const TRACE_MEASURES: &[Measure] = &[
    m("count", "1", Integer, Rel::None),
    m("observationsCount", "ro.n", Integer, Rel::TraceObservations),
    m("scoresCount", "rs.n", Integer, Rel::Scores),
    Measure {
        name: "uniqueUserIds",
        sql: "(t.user_id is not null)::int",
        ty: Integer,
        rel: Rel::None,
        distinct_sql: Some("t.user_id"),
    },
    Measure {
        name: "uniqueSessionIds",
        sql: "(t.session_id is not null)::int",
        ty: Integer,
        rel: Rel::None,
        distinct_sql: Some("t.session_id"),
    },
    m("latency", "ro.latency", Integer, Rel::TraceObservations),
    m(
        "totalTokens",
        "ro.total_tokens",
        Integer,
        Rel::TraceObservations,
    ),
    m(
        "totalCost",
        "ro.total_cost",
        Decimal,
        Rel::TraceObservations,
    ),
];

const OBS_DIMS_V1: &[Dim] = &[
    d("id", "o.id", Text, Rel::None),
    d("traceId", "o.trace_id", Text, Rel::None),
    d("traceName", "t.name", Text, Rel::Trace),
    d("environment", "o.environment", Text, Rel::None),
    d(
        "parentObservationId",
        "o.parent_observation_id",
        Text,
        Rel::None,
    ),
    d("type", "o.type", Text, Rel::None),
    d("name", "o.name", Text, Rel::None),
    d("level", "o.level", Text, Rel::None),
    d("version", "o.version", Text, Rel::None),
    d("tags", "t.tags", TextArray, Rel::Trace),
    d("providedModelName", "o.model", Text, Rel::None),
    d("promptName", "o.prompt_name", Text, Rel::None),
    d("promptVersion", "o.prompt_version", Number, Rel::None),
    d("userId", "t.user_id", Text, Rel::Trace),
    d("sessionId", "t.session_id", Text, Rel::Trace),
    d("traceRelease", "t.release", Text, Rel::Trace),
    d("traceVersion", "t.version", Text, Rel::Trace),
    d(
        "startTimeMonth",
        "to_char(o.start_time at time zone 'UTC', 'YYYY-MM')",
        Text,
        Rel::None,
    ),
];

const OBS_DIMS_V2: &[Dim] = &[
    hc("id", "o.id", Text, Rel::None),
    hc("traceId", "o.trace_id", Text, Rel::None),
    d("environment", "o.environment", Text, Rel::None),
    hc(
        "parentObservationId",
        "o.parent_observation_id",
        Text,
        Rel::None,
    ),
    d(
        "isRootObservation",
        "(o.parent_observation_id is null)",
        Bool,
        Rel::None,
    ),
    d("type", "o.type", Text, Rel::None),
    d("name", "o.name", Text, Rel::None),
    d("level", "o.level", Text, Rel::None),
    d("version", "o.version", Text, Rel::None),
    hc("userId", "t.user_id", Text, Rel::Trace),
    hc("sessionId", "t.session_id", Text, Rel::Trace),
    d("tags", "t.tags", TextArray, Rel::Trace),
    d("release", "t.release", Text, Rel::Trace),
    d("traceName", "t.name", Text, Rel::Trace),
    d("traceRelease", "t.release", Text, Rel::Trace),
    d("traceVersion", "o.version", Text, Rel::None),
    d("providedModelName", "o.model", Text, Rel::None),
    d("promptName", "o.prompt_name", Text, Rel::None),
    d("promptVersion", "o.prompt_version", Number, Rel::None),
    d(
        "startTimeMonth",
        "to_char(o.start_time at time zone 'UTC', 'YYYY-MM')",
        Text,
        Rel::None,
    ),
];

const MS_LATENCY: &str = "(extract(epoch from (o.end_time - o.start_time)) * 1000)";
const INPUT_TOKENS: &str = "(select coalesce(sum((u.value)::text::float8), 0) from jsonb_each(o.usage_details) u where jsonb_typeof(u.value) = 'number' and u.key ilike '%input%')";
const OUTPUT_TOKENS: &str = "(select coalesce(sum((u.value)::text::float8), 0) from jsonb_each(o.usage_details) u where jsonb_typeof(u.value) = 'number' and u.key ilike '%output%')";
const TOTAL_TOKENS: &str = "(case when jsonb_typeof(o.usage_details->'total') = 'number' then (o.usage_details->>'total')::float8 else 0 end)";

const OBS_MEASURES_V1: &[Measure] = &[
    m("count", "1", Integer, Rel::None),
    m("latency", MS_LATENCY, Integer, Rel::None),
    m(
        "streamingLatency",
        "(extract(epoch from (o.end_time - o.completion_start_time)) * 1000)",
        Integer,
        Rel::None,
    ),
    m("inputTokens", INPUT_TOKENS, Integer, Rel::None),
    m("outputTokens", OUTPUT_TOKENS, Integer, Rel::None),
    m("totalTokens", TOTAL_TOKENS, Integer, Rel::None),
    m(
        "outputTokensPerSecond",
        "((select coalesce(sum((u.value)::text::float8), 0) from jsonb_each(o.usage_details) u where jsonb_typeof(u.value) = 'number' and u.key ilike '%output%') / nullif(floor(extract(epoch from o.end_time)) - floor(extract(epoch from o.completion_start_time)), 0))",
        Decimal,
        Rel::None,
    ),
    m(
        "tokensPerSecond",
        "((case when jsonb_typeof(o.usage_details->'total') = 'number' then (o.usage_details->>'total')::float8 else 0 end) / nullif(floor(extract(epoch from o.end_time)) - floor(extract(epoch from o.start_time)), 0))",
        Decimal,
        Rel::None,
    ),
    m(
        "inputCost",
        "(select coalesce(sum((u.value)::text::float8), 0) from jsonb_each(o.cost_details) u where jsonb_typeof(u.value) = 'number' and u.key ilike '%input%')",
        Decimal,
        Rel::None,
    ),
    m(
        "outputCost",
        "(select coalesce(sum((u.value)::text::float8), 0) from jsonb_each(o.cost_details) u where jsonb_typeof(u.value) = 'number' and u.key ilike '%output%')",
        Decimal,
        Rel::None,
    ),
    m("totalCost", "o.total_cost", Decimal, Rel::None),
    m(
        "timeToFirstToken",
        "(extract(epoch from (o.completion_start_time - o.start_time)) * 1000)",
        Integer,
        Rel::None,
    ),
    m("countScores", "rs.n", Integer, Rel::Scores),
];

const OBS_MEASURES_V2_EXTRA: &[Measure] = &[
    m("traceId", "o.trace_id", Str, Rel::None),
    m("uniqueUserIds", "t.user_id", Str, Rel::Trace),
    m("uniqueSessionIds", "t.session_id", Str, Rel::Trace),
];

const SCORE_DIMS_V1: &[Dim] = &[
    d("traceName", "t.name", Text, Rel::Trace),
    d("tags", "t.tags", TextArray, Rel::Trace),
    d("userId", "t.user_id", Text, Rel::Trace),
    d("sessionId", "t.session_id", Text, Rel::Trace),
    d("traceRelease", "t.release", Text, Rel::Trace),
    d("traceVersion", "t.version", Text, Rel::Trace),
    d("observationName", "o.name", Text, Rel::Observation),
    d("observationModelName", "o.model", Text, Rel::Observation),
    d(
        "observationPromptName",
        "o.prompt_name",
        Text,
        Rel::Observation,
    ),
    d(
        "observationPromptVersion",
        "o.prompt_version",
        Number,
        Rel::Observation,
    ),
    d("id", "s.id", Text, Rel::None),
    d("environment", "s.environment", Text, Rel::None),
    d("name", "s.name", Text, Rel::None),
    d("source", "s.source", Text, Rel::None),
    d("dataType", "s.data_type", Text, Rel::None),
    d("traceId", "s.trace_id", Text, Rel::None),
    d("configId", "s.config_id", Text, Rel::None),
    d(
        "timestampMonth",
        "to_char(s.timestamp at time zone 'UTC', 'YYYY-MM')",
        Text,
        Rel::None,
    ),
    d(
        "timestampDay",
        "to_char(s.timestamp at time zone 'UTC', 'YYYY-MM-DD')",
        Text,
        Rel::None,
    ),
    d("observationId", "s.observation_id", Text, Rel::None),
];

const SCORE_DIMS_V2: &[Dim] = &[
    hc("sessionId", "s.session_id", Text, Rel::None),
    hc("datasetRunId", "s.dataset_run_id", Text, Rel::None),
    d("traceName", "t.name", Text, Rel::Trace),
    hc("userId", "t.user_id", Text, Rel::Trace),
    d("tags", "t.tags", TextArray, Rel::Trace),
    d("traceRelease", "t.release", Text, Rel::Trace),
    d("traceVersion", "t.version", Text, Rel::Trace),
    d("observationName", "o.name", Text, Rel::Observation),
    d("observationModelName", "o.model", Text, Rel::Observation),
    d(
        "observationPromptName",
        "o.prompt_name",
        Text,
        Rel::Observation,
    ),
    d(
        "observationPromptVersion",
        "o.prompt_version",
        Number,
        Rel::Observation,
    ),
    hc("id", "s.id", Text, Rel::None),
    d("environment", "s.environment", Text, Rel::None),
    d("name", "s.name", Text, Rel::None),
    d("source", "s.source", Text, Rel::None),
    d("dataType", "s.data_type", Text, Rel::None),
    hc("traceId", "s.trace_id", Text, Rel::None),
    d("configId", "s.config_id", Text, Rel::None),
    d(
        "timestampMonth",
        "to_char(s.timestamp at time zone 'UTC', 'YYYY-MM')",
        Text,
        Rel::None,
    ),
    d(
        "timestampDay",
        "to_char(s.timestamp at time zone 'UTC', 'YYYY-MM-DD')",
        Text,
        Rel::None,
    ),
    hc("observationId", "s.observation_id", Text, Rel::None),
];

const SCORE_VALUE_DIMS: &[Dim] = &[d("value", "s.value", Number, Rel::None)];
const SCORE_STRING_DIMS: &[Dim] = &[d("stringValue", "s.string_value", Text, Rel::None)];
const SCORE_BOOL_DIMS: &[Dim] = &[d("booleanValue", "(s.value <> 0)", Bool, Rel::None)];

const SCORE_MEASURES: &[Measure] = &[
    m("count", "1", Integer, Rel::None),
    m("value", "s.value", Decimal, Rel::None),
];

/// A resolved view: the catalog slices plus the base table facts.
struct View {
    dims: Vec<&'static Dim>,
    measures: Vec<&'static Measure>,
    /// `traces t`, `observations o` or `scores s`.
    base: &'static str,
    alias: &'static str,
    /// The time column's wire name (filterable) and SQL.
    time_name: &'static str,
    time_sql: &'static str,
    /// Constant segment filter (`data_type` in …).
    segment: Option<&'static str>,
}

fn view(version: ApiVersion, name: ViewName) -> View {
    let chain = |parts: &[&'static [Dim]]| -> Vec<&'static Dim> {
        parts.iter().flat_map(|p| p.iter()).collect()
    };
    let score_dims = match version {
        ApiVersion::V1 => SCORE_DIMS_V1,
        ApiVersion::V2 => SCORE_DIMS_V2,
    };
    let scores = |extra: &'static [Dim], measures: &'static [Measure], segment| View {
        dims: chain(&[score_dims, extra]),
        measures: if measures.len() == 1 {
            vec![&measures[0]]
        } else {
            measures.iter().collect()
        },
        base: "scores s",
        alias: "s",
        time_name: "timestamp",
        time_sql: "s.timestamp",
        segment: Some(segment),
    };
    match name {
        ViewName::Traces => View {
            dims: chain(&[TRACE_DIMS]),
            measures: TRACE_MEASURES.iter().collect(),
            base: "traces t",
            alias: "t",
            time_name: "timestamp",
            time_sql: "t.timestamp",
            segment: None,
        },
        ViewName::Observations => View {
            dims: chain(&[match version {
                ApiVersion::V1 => OBS_DIMS_V1,
                ApiVersion::V2 => OBS_DIMS_V2,
            }]),
            measures: match version {
                ApiVersion::V1 => OBS_MEASURES_V1.iter().collect(),
                ApiVersion::V2 => OBS_MEASURES_V1
                    .iter()
                    .chain(OBS_MEASURES_V2_EXTRA.iter())
                    .collect(),
            },
            base: "observations o",
            alias: "o",
            time_name: "start_time",
            time_sql: "o.start_time",
            segment: None,
        },
        ViewName::ScoresNumeric => scores(
            SCORE_VALUE_DIMS,
            SCORE_MEASURES,
            "s.data_type in ('NUMERIC', 'BOOLEAN')",
        ),
        ViewName::ScoresCategorical => scores(
            SCORE_STRING_DIMS,
            &SCORE_MEASURES[..1],
            "s.data_type in ('CATEGORICAL', 'TEXT')",
        ),
        ViewName::ScoresBoolean => {
            scores(SCORE_BOOL_DIMS, SCORE_MEASURES, "s.data_type = 'BOOLEAN'")
        }
    }
}

/// Dimension names and measures (name, whether a string measure, which takes only
/// `count` and `uniq`) of a view of the v2 query API; dashboard widgets are checked
/// against these.
pub fn catalog(name: ViewName) -> (Vec<&'static str>, Vec<(&'static str, bool)>) {
    let v = view(ApiVersion::V2, name);
    (
        v.dims.iter().map(|d| d.name).collect(),
        v.measures
            .iter()
            .map(|m| (m.name, m.ty == MeasureType::Str))
            .collect(),
    )
}

impl View {
    fn dim(&self, name: &str) -> Option<&'static Dim> {
        self.dims.iter().copied().find(|d| d.name == name)
    }

    fn dim_names(&self) -> String {
        self.dims
            .iter()
            .map(|d| d.name)
            .collect::<Vec<_>>()
            .join(",")
    }

    fn measure(&self, name: &str) -> Option<&'static Measure> {
        self.measures.iter().copied().find(|m| m.name == name)
    }
}

// ---------------------------------------------------------------------------------------------
// Compiler
// ---------------------------------------------------------------------------------------------

/// What a compiled query's rows look like.
#[derive(Debug, Clone)]
pub struct OutputShape {
    /// Output keys of the dimension columns `d0..`.
    pub dims: Vec<String>,
    /// Whether `time_dimension` is present.
    pub time: bool,
    /// Output keys of the metric columns `m0..`, and whether each is a histogram.
    pub metrics: Vec<(String, bool)>,
    /// Histogram bins.
    pub bins: u32,
}

/// A query ready to run.
pub struct Compiled {
    sql: QueryBuilder<'static, Postgres>,
    shape: OutputShape,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("sql", &self.sql.sql())
            .finish()
    }
}

impl Compiled {
    /// The SQL text (placeholders only; for tests and logs).
    pub fn sql_text(&self) -> &str {
        self.sql.sql()
    }
}

/// More gap-filling buckets than this and no gaps are filled (a minute series over years).
const MAX_FILL_BUCKETS: usize = 10_000;

fn metric_sql(measure: &Measure, agg: Aggregation) -> String {
    if let (Some(distinct), Aggregation::Count | Aggregation::Uniq) = (measure.distinct_sql, agg) {
        return format!("count(distinct {distinct})");
    }
    let e = measure.sql;
    match agg {
        Aggregation::Count => format!("count({e})"),
        Aggregation::Uniq => format!("count(distinct {e})"),
        Aggregation::Sum => format!("sum(({e})::float8)"),
        Aggregation::Avg => format!("avg(({e})::float8)"),
        Aggregation::Max => format!("max(({e})::float8)"),
        Aggregation::Min => format!("min(({e})::float8)"),
        Aggregation::Percentile(_, p) => {
            format!("percentile_cont({p}) within group (order by ({e})::float8)")
        }
        Aggregation::Histogram => {
            format!("coalesce(array_agg(({e})::float8) filter (where ({e}) is not null), '{{}}')")
        }
    }
}

/// The fill value of a gap bucket (ClickHouse's WITH FILL writes the type's default).
fn fill_value(agg: Aggregation) -> &'static str {
    match agg {
        Aggregation::Count | Aggregation::Uniq => "0::int8",
        Aggregation::Sum => "0::float8",
        Aggregation::Histogram => "'{}'::float8[]",
        _ => "null::float8",
    }
}

fn fill_dim(kind: Kind) -> &'static str {
    match kind {
        Text => "null::text",
        TextArray => "null::text[]",
        Number => "null::float8",
        Bool => "null::bool",
    }
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Validates `q` against the view's catalog and compiles it. `Err` carries the 400 message
/// (Langfuse's `InvalidRequestError` wording, naming the offending value).
pub fn compile(project_id: &str, q: &MetricsQuery) -> Result<Compiled, String> {
    let v = view(q.version, q.view);
    let mut rels: Vec<Rel> = Vec::new();
    let mut need = |r: Rel| {
        if r != Rel::None && !rels.contains(&r) {
            rels.push(r);
        }
    };

    let mut dims: Vec<&Dim> = Vec::new();
    for name in &q.dimensions {
        let dim = v
            .dim(name)
            .ok_or_else(|| format!("Invalid dimension {name}. Must be one of {}", v.dim_names()))?;
        need(dim.rel);
        dims.push(dim);
    }

    let mut metrics: Vec<(&Measure, Aggregation)> = Vec::new();
    for (name, agg) in &q.metrics {
        let measure = v.measure(name).ok_or_else(|| {
            format!(
                "Invalid metric {name}. Must be one of {}",
                v.measures
                    .iter()
                    .map(|m| m.name)
                    .collect::<Vec<_>>()
                    .join(",")
            )
        })?;
        if measure.ty == Str && !matches!(agg, Aggregation::Count | Aggregation::Uniq) {
            return Err(format!(
                "Aggregation \"{}\" is not valid for measure \"{name}\" (type: string). Valid aggregations: count, uniq",
                agg.name()
            ));
        }
        need(measure.rel);
        metrics.push((measure, *agg));
    }

    // v2: high-cardinality dimensions need a top-N query.
    if q.version == ApiVersion::V2 {
        let high: Vec<&str> = dims
            .iter()
            .filter(|d| d.high_cardinality)
            .map(|d| d.name)
            .collect();
        if !high.is_empty() {
            let list = high.join(", ");
            if q.granularity.is_some() {
                return Err(format!("High cardinality dimension(s) '{list}' cannot be used with timeDimension. Time series queries with high cardinality dimensions produce unbounded result sets."));
            }
            let desc: Vec<&String> = q
                .order_by
                .iter()
                .flatten()
                .filter(|(_, desc)| *desc)
                .map(|(f, _)| f)
                .collect();
            if q.row_limit.is_none() || desc.is_empty() {
                return Err(format!("High cardinality dimension(s) '{list}' require both 'config.row_limit' and 'orderBy' with direction 'desc' on a measure field."));
            }
            let bad: Vec<&str> = desc
                .iter()
                .filter(|f| {
                    !q.metrics
                        .iter()
                        .any(|(m, _)| f.as_str() == m.as_str() || f.ends_with(&format!("_{m}")))
                })
                .map(|f| f.as_str())
                .collect();
            if !bad.is_empty() {
                return Err(format!("High cardinality dimension(s) '{list}' require 'orderBy' with direction 'desc' on a measure field. '{}' {} not a measure in this query.", bad.join(", "), if bad.len() == 1 { "is" } else { "are" }));
            }
        }
    }

    // Filters: resolve columns first (they may need joins).
    enum Col {
        Dim(&'static Dim),
        Time,
        Metadata,
    }
    let mut filter_cols: Vec<Col> = Vec::new();
    for f in &q.filters {
        let col = if let Some(dim) = v.dim(&f.column) {
            Col::Dim(dim)
        } else if f.column == v.time_name {
            Col::Time
        } else if f.column == "metadata" {
            Col::Metadata
        } else if f.column.ends_with("Name") && v.dim("name").is_some() {
            // Langfuse's fallback: `traceName`/`scoreName` on a view without it → `name`.
            Col::Dim(v.dim("name").expect("checked"))
        } else {
            return Err(format!(
                "Invalid filter column {}. Must be one of {} or {}",
                f.column,
                v.dim_names(),
                v.time_name
            ));
        };
        let bad = |why: &str| Err(format!("Invalid filter for field '{}': {why}", f.column));
        match (&col, &f.value) {
            (Col::Metadata, FilterValue::Text(..) | FilterValue::Number(..))
                if f.key.is_some() => {}
            (Col::Metadata, _) => {
                return bad("Metadata filters require type 'stringObject' or 'numberObject' with a 'key' property.")
            }
            (Col::Time, FilterValue::DateTime(..)) => {}
            (Col::Time, _) => return bad("the time column requires type 'datetime'."),
            (Col::Dim(_), FilterValue::DateTime(..)) => {
                return bad("type 'datetime' applies only to the view's time column.")
            }
            (Col::Dim(d), FilterValue::Text(..)) if d.kind == TextArray => {
                return bad("Array fields require type 'arrayOptions', not 'string'. Use operators like 'any of', 'all of', or 'none of' with an array of values.")
            }
            (Col::Dim(_), FilterValue::Text(..)) if f.key.is_some() => {
                return bad("stringObject/numberObject filters apply only to 'metadata'.")
            }
            (Col::Dim(d), FilterValue::Number(..)) if d.kind != Number => {
                return bad("type 'number' needs a numeric field.")
            }
            (Col::Dim(d), FilterValue::Bool(..)) if d.kind != Bool => {
                return bad("type 'boolean' needs a boolean field.")
            }
            (Col::Dim(d), FilterValue::Options(op, _))
                if *op == "all of" && d.kind != TextArray =>
            {
                return bad("'all of' applies only to array fields.")
            }
            (Col::Dim(d), FilterValue::Options(..)) if d.kind == Bool => {
                return bad("options filters need a string field.")
            }
            _ => {}
        }
        if let Col::Dim(d) = col {
            need(d.rel);
        }
        filter_cols.push(col);
    }

    // Order by: dimension names, `time_dimension`, or `<agg>_<measure>` of a requested metric.
    let metric_key = |(m, a): &(&Measure, Aggregation)| format!("{}_{}", a.name(), m.name);
    let mut order: Vec<(String, bool)> = Vec::new();
    match &q.order_by {
        Some(items) if !items.is_empty() => {
            for (field, desc) in items {
                let col = if field == "time_dimension" && q.granularity.is_some() {
                    "td".to_string()
                } else if let Some(i) = dims.iter().position(|d| d.name == field) {
                    format!("d{i}")
                } else if let Some(i) = metrics
                    .iter()
                    .position(|mt| mt.1 != Aggregation::Histogram && metric_key(mt) == *field)
                {
                    format!("m{i}")
                } else {
                    return Err(format!(
                        "Invalid orderBy field: {field}. Must be one of the dimension or metric fields."
                    ));
                };
                order.push((col, *desc));
            }
        }
        _ => {
            if q.granularity.is_some() {
                order.push(("td".into(), false));
            } else if !metrics.is_empty() && metrics[0].1 != Aggregation::Histogram {
                order.push(("m0".into(), true));
            } else if !dims.is_empty() {
                order.push(("d0".into(), false));
            }
        }
    }
    // Deterministic ties: the remaining grouping columns ascending.
    for i in 0..dims.len() {
        let c = format!("d{i}");
        if !order.iter().any(|(o, _)| *o == c) {
            order.push((c, false));
        }
    }
    if q.granularity.is_some() && !order.iter().any(|(o, _)| o == "td") {
        order.push(("td".into(), false));
    }

    let granularity = q.granularity.map(|g| g.resolve(q.from, q.to));

    // ---- SQL ----
    let from = q.from;
    let to = q.to;
    let mut sb: QueryBuilder<'static, Postgres> = QueryBuilder::new("with g as (select ");
    let mut select_parts = 0;
    for (i, dim) in dims.iter().enumerate() {
        if select_parts > 0 {
            sb.push(", ");
        }
        sb.push(format!("{} as d{i}", dim.sql));
        select_parts += 1;
    }
    if let Some(g) = granularity {
        if select_parts > 0 {
            sb.push(", ");
        }
        sb.push(format!(
            "date_trunc('{}', {} at time zone 'UTC') as td",
            g.pg_unit(),
            v.time_sql
        ));
        select_parts += 1;
    }
    for (i, (measure, agg)) in metrics.iter().enumerate() {
        if select_parts > 0 {
            sb.push(", ");
        }
        sb.push(format!("{} as m{i}", metric_sql(measure, *agg)));
        select_parts += 1;
    }
    if metrics.is_empty() {
        if select_parts > 0 {
            sb.push(", ");
        }
        sb.push("count(*) as m0");
    }
    sb.push(format!(" from {}", v.base));

    for rel in &rels {
        match rel {
            Rel::Trace => {
                let on = if v.alias == "o" {
                    "o.trace_id"
                } else {
                    "s.trace_id"
                };
                sb.push(format!(
                    " join traces t on t.project_id = {a}.project_id and t.id = {on} and t.timestamp >= ",
                    a = v.alias
                ))
                .push_bind(from)
                .push(" and t.timestamp <= ")
                .push_bind(to);
            }
            Rel::Observation => {
                sb.push(
                    " join observations o on o.project_id = s.project_id and o.id = s.observation_id and o.start_time >= ",
                )
                .push_bind(from)
                .push(" and o.start_time <= ")
                .push_bind(to);
            }
            Rel::TraceObservations => {
                sb.push(
                    " join lateral (select count(*) as n, \
                     extract(epoch from (max(x.end_time) - min(x.start_time))) * 1000 as latency, \
                     coalesce(sum(case when jsonb_typeof(x.usage_details->'total') = 'number' \
                       then (x.usage_details->>'total')::float8 end), 0) as total_tokens, \
                     sum(x.total_cost) as total_cost \
                     from observations x where x.project_id = t.project_id and x.trace_id = t.id \
                     and x.start_time >= ",
                )
                .push_bind(from)
                .push(" and x.start_time <= ")
                .push_bind(to)
                .push(") ro on ro.n > 0");
            }
            Rel::Scores => {
                let link = if v.alias == "t" {
                    "x.trace_id = t.id"
                } else {
                    "x.observation_id = o.id"
                };
                sb.push(format!(
                    " join lateral (select count(*) as n from scores x where x.project_id = {a}.project_id and {link} and x.timestamp >= ",
                    a = v.alias
                ))
                .push_bind(from)
                .push(" and x.timestamp <= ")
                .push_bind(to)
                .push(") rs on rs.n > 0");
            }
            Rel::None => {}
        }
    }

    sb.push(format!(" where {}.project_id = ", v.alias))
        .push_bind(project_id.to_string())
        .push(format!(" and {} >= ", v.time_sql))
        .push_bind(from)
        .push(format!(" and {} <= ", v.time_sql))
        .push_bind(to);
    if let Some(seg) = v.segment {
        sb.push(format!(" and {seg}"));
    }

    for (f, col) in q.filters.iter().zip(&filter_cols) {
        let (expr, kind): (String, Kind) = match col {
            Col::Dim(d) => (d.sql.to_string(), d.kind),
            Col::Time => (v.time_sql.to_string(), Text),
            Col::Metadata => (format!("{}.metadata", v.alias), Text),
        };
        sb.push(" and ");
        match &f.value {
            FilterValue::DateTime(op, t) => {
                sb.push(format!("{expr} {op} ")).push_bind(*t);
            }
            FilterValue::Text(op, s) => {
                match (col, &f.key) {
                    (Col::Metadata, Some(key)) => {
                        sb.push(format!("coalesce({expr} ->> "))
                            .push_bind(key.clone())
                            .push(", '')");
                    }
                    _ => {
                        sb.push(format!("coalesce(({expr})::text, '')"));
                    }
                }
                match *op {
                    "=" => {
                        sb.push(" = ").push_bind(s.clone());
                    }
                    "contains" => {
                        sb.push(" ilike '%' || ")
                            .push_bind(escape_like(s))
                            .push(" || '%'");
                    }
                    "does not contain" => {
                        sb.push(" not ilike '%' || ")
                            .push_bind(escape_like(s))
                            .push(" || '%'");
                    }
                    "starts with" => {
                        sb.push(" ilike ").push_bind(escape_like(s)).push(" || '%'");
                    }
                    _ => {
                        sb.push(" ilike '%' || ").push_bind(escape_like(s));
                    }
                }
            }
            FilterValue::Number(op, n) => {
                if let (Col::Metadata, Some(key)) = (col, &f.key) {
                    sb.push(format!("(case when jsonb_typeof({expr} -> "))
                        .push_bind(key.clone())
                        .push(format!(") = 'number' then ({expr} ->> "))
                        .push_bind(key.clone())
                        .push(")::float8 end)");
                } else {
                    sb.push(format!("({expr})::float8"));
                }
                sb.push(format!(" {op} ")).push_bind(*n);
            }
            FilterValue::Bool(op, b) => {
                sb.push(format!("({expr}) {op} ")).push_bind(*b);
            }
            FilterValue::Null(op) => {
                if kind == TextArray {
                    let neg = if *op == "is null" { "" } else { "not " };
                    sb.push(format!("{neg}(cardinality({expr}) = 0)"));
                } else {
                    sb.push(format!("({expr}) {op}"));
                }
            }
            FilterValue::Options(op, values) => {
                let values = values.clone();
                match (kind, *op) {
                    (TextArray, "any of") => {
                        sb.push(format!("({expr}) && ")).push_bind(values);
                    }
                    (TextArray, "all of") => {
                        sb.push(format!("({expr}) @> ")).push_bind(values);
                    }
                    (TextArray, _) => {
                        sb.push(format!("not (({expr}) && "))
                            .push_bind(values)
                            .push(")");
                    }
                    (_, "any of") => {
                        sb.push(format!("({expr})::text = any("))
                            .push_bind(values)
                            .push(")");
                    }
                    (_, _) => {
                        sb.push(format!("coalesce(({expr})::text, '') <> all("))
                            .push_bind(values)
                            .push(")");
                    }
                }
            }
        }
    }

    let group: Vec<String> = (0..dims.len())
        .map(|i| format!("d{i}"))
        .chain(granularity.map(|_| "td".to_string()))
        .collect();
    if !group.is_empty() {
        sb.push(format!(" group by {}", group.join(", ")));
    }
    sb.push(")");

    // Gap filling: Langfuse's WITH FILL (time dimension without explicit orderBy).
    let explicit_order = q.order_by.as_ref().is_some_and(|o| !o.is_empty());
    let fill = match granularity {
        Some(g) if !explicit_order => {
            let start = g.truncate(from.naive_utc());
            let end = g.truncate(to.naive_utc());
            let mut buckets = Vec::new();
            let mut b = start;
            while b < end && buckets.len() <= MAX_FILL_BUCKETS {
                buckets.push(b);
                b = g.next(b);
            }
            (buckets.len() <= MAX_FILL_BUCKETS && !buckets.is_empty()).then_some(buckets)
        }
        _ => None,
    };

    sb.push(format!(" select {} from (select * from g", {
        let mut out: Vec<String> = Vec::new();
        for i in 0..dims.len() {
            out.push(format!("to_jsonb(d{i}) as d{i}"));
        }
        if granularity.is_some() {
            out.push("to_char(td, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') as td".to_string());
        }
        for i in 0..metrics.len().max(1) {
            out.push(format!("to_jsonb(m{i}) as m{i}"));
        }
        out.join(", ")
    }));
    if let Some(buckets) = fill {
        let mut parts: Vec<String> = dims.iter().map(|d| fill_dim(d.kind).to_string()).collect();
        parts.push("b".into());
        if metrics.is_empty() {
            parts.push("0::int8".into());
        }
        for (_, agg) in &metrics {
            parts.push(fill_value(*agg).into());
        }
        sb.push(format!(
            " union all select {} from unnest(",
            parts.join(", ")
        ))
        .push_bind(buckets)
        .push("::timestamp[]) b where not exists (select 1 from g where g.td = b)");
    }
    sb.push(") r");
    if !order.is_empty() {
        let items: Vec<String> = order
            .iter()
            .map(|(c, desc)| format!("{c} {} nulls last", if *desc { "desc" } else { "asc" }))
            .collect();
        sb.push(format!(" order by {}", items.join(", ")));
    }
    if let Some(n) = q.row_limit {
        sb.push(" limit ").push_bind(n as i64);
    }

    let shape = OutputShape {
        dims: dims.iter().map(|d| d.name.to_string()).collect(),
        time: granularity.is_some(),
        metrics: if metrics.is_empty() {
            vec![("count".to_string(), false)]
        } else {
            metrics
                .iter()
                .map(|mt| (metric_key(mt), mt.1 == Aggregation::Histogram))
                .collect()
        },
        bins: q.bins,
    };
    Ok(Compiled { sql: sb, shape })
}

/// Equal-width histogram `[[lower, upper, height], …]` of `values` in `bins` bins.
pub fn histogram(values: &[f64], bins: u32) -> Value {
    let vals: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if vals.is_empty() {
        return Value::Array(vec![]);
    }
    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if min == max {
        return serde_json::json!([[min, max, vals.len()]]);
    }
    let n = bins.max(1) as usize;
    let width = (max - min) / n as f64;
    let mut counts = vec![0u64; n];
    for v in &vals {
        let i = (((v - min) / width) as usize).min(n - 1);
        counts[i] += 1;
    }
    Value::Array(
        counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let lo = min + width * i as f64;
                let hi = if i == n - 1 {
                    max
                } else {
                    min + width * (i + 1) as f64
                };
                serde_json::json!([lo, hi, c])
            })
            .collect(),
    )
}

/// Runs a compiled query; rows as JSON objects keyed as Langfuse does.
#[tracing::instrument(skip_all)]
pub async fn run(
    pool: &PgPool,
    mut c: Compiled,
) -> Result<Vec<serde_json::Map<String, Value>>, sqlx::Error> {
    let rows = c.sql.build().fetch_all(pool).await?;
    let shape = &c.shape;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut obj = serde_json::Map::new();
        for (i, name) in shape.dims.iter().enumerate() {
            let v: Option<Value> = row.try_get(i)?;
            obj.insert(name.clone(), v.unwrap_or(Value::Null));
        }
        let mut idx = shape.dims.len();
        if shape.time {
            let v: Option<String> = row.try_get(idx)?;
            obj.insert(
                "time_dimension".into(),
                v.map(Value::String).unwrap_or(Value::Null),
            );
            idx += 1;
        }
        for (name, is_hist) in &shape.metrics {
            let v: Option<Value> = row.try_get(idx)?;
            idx += 1;
            let v = v.unwrap_or(Value::Null);
            let v = if *is_hist {
                let vals: Vec<f64> = v
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default();
                histogram(&vals, shape.bins)
            } else {
                v
            };
            obj.insert(name.clone(), v);
        }
        out.push(obj);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn auto_granularity_follows_the_range() {
        let from = at("2024-01-01T00:00:00Z");
        let g = |to: &str| Granularity::Auto.resolve(from, at(to));
        assert_eq!(g("2024-01-01T01:59:00Z"), Granularity::Minute);
        assert_eq!(g("2024-01-02T00:00:00Z"), Granularity::Hour);
        assert_eq!(g("2024-01-10T00:00:00Z"), Granularity::Day);
        assert_eq!(g("2024-06-01T00:00:00Z"), Granularity::Week);
        assert_eq!(g("2025-06-01T00:00:00Z"), Granularity::Month);
    }

    #[test]
    fn weeks_start_on_monday() {
        let t = Utc
            .with_ymd_and_hms(2024, 5, 2, 13, 0, 0)
            .unwrap()
            .naive_utc(); // Thursday
        assert_eq!(
            Granularity::Week.truncate(t).to_string(),
            "2024-04-29 00:00:00"
        );
    }

    #[test]
    fn histogram_bins_cover_the_range() {
        let h = histogram(&[0.0, 1.0, 2.0, 10.0], 2);
        assert_eq!(h, serde_json::json!([[0.0, 5.0, 3], [5.0, 10.0, 1]]));
    }

    #[test]
    fn client_values_never_reach_the_sql_text() {
        let q = MetricsQuery {
            version: ApiVersion::V1,
            view: ViewName::Traces,
            dimensions: vec!["name".into()],
            metrics: vec![("count".into(), Aggregation::Count)],
            filters: vec![Filter {
                column: "name".into(),
                kind: "string".into(),
                key: None,
                value: FilterValue::Text("=", "x'; drop table traces; --".into()),
            }],
            granularity: None,
            from: at("2024-01-01T00:00:00Z"),
            to: at("2024-01-02T00:00:00Z"),
            order_by: None,
            bins: 10,
            row_limit: Some(5),
        };
        let c = compile("p", &q).unwrap();
        assert!(!c.sql_text().contains("drop table"));
    }
}
