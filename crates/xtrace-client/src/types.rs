//! Request parameters and response bodies of the read API, in the shapes of Langfuse's
//! public API (camelCase on the wire). Response structs default every field, so a body
//! that omits one (an older server, or a `fields=` selection) still decodes; fields this
//! crate does not model are kept in `extra`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Query-string builder: only the parameters that are set are sent.
#[derive(Debug, Default)]
pub(crate) struct Params(pub(crate) Vec<(&'static str, String)>);

impl Params {
    pub(crate) fn opt<T: ToString>(&mut self, key: &'static str, v: &Option<T>) -> &mut Self {
        if let Some(v) = v {
            self.0.push((key, v.to_string()));
        }
        self
    }
    pub(crate) fn time(&mut self, key: &'static str, v: &Option<DateTime<Utc>>) -> &mut Self {
        if let Some(v) = v {
            self.0.push((key, iso(v)));
        }
        self
    }
    pub(crate) fn many(&mut self, key: &'static str, v: &[String]) -> &mut Self {
        for s in v {
            self.0.push((key, s.clone()));
        }
        self
    }
}

/// `2024-05-01T12:00:00.000Z`, the form Langfuse writes and accepts.
pub(crate) fn iso(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Pagination block of Langfuse list endpoints.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct PageMeta {
    /// Current page (1-based).
    pub page: i64,
    /// Items per page.
    pub limit: i64,
    /// Items across all pages.
    pub total_items: i64,
    /// `ceil(total_items / limit)`.
    pub total_pages: i64,
}

/// One page of a list endpoint: `{"data": [...], "meta": {...}}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Page<T> {
    /// The items.
    pub data: Vec<T>,
    /// Pagination.
    #[serde(default)]
    pub meta: PageMeta,
}

/// The name the original xtrace SDK used for [`Page`].
pub type PagedData<T> = Page<T>;

/// `{"status", "version"}` of `/healthz` and `/api/public/health`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Health {
    /// `OK` when healthy.
    pub status: String,
    /// Server version.
    pub version: String,
}

/// `{"message": ...}` answers (deletes).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct MessageResponse {
    /// Confirmation text.
    pub message: String,
}

/// `{"id": ...}` answers (score creation).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct IdResponse {
    /// The entity id.
    pub id: String,
}

/// Parameters of `GET /api/public/traces`. Unset fields are not sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TraceListQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// Items per page (1..=100).
    pub limit: Option<i64>,
    /// Exact user id.
    pub user_id: Option<String>,
    /// Exact trace name.
    pub name: Option<String>,
    /// Exact session id.
    pub session_id: Option<String>,
    /// Traces at or after this time.
    pub from_timestamp: Option<DateTime<Utc>>,
    /// Traces before this time.
    pub to_timestamp: Option<DateTime<Utc>>,
    /// `<column>.<asc|desc>`, e.g. `timestamp.desc`.
    pub order_by: Option<String>,
    /// Traces carrying all of these tags.
    pub tags: Vec<String>,
    /// Exact version.
    pub version: Option<String>,
    /// Exact release.
    pub release: Option<String>,
    /// Traces in any of these environments.
    pub environment: Vec<String>,
    /// Field groups to return: `core,io,scores,observations,metrics`.
    pub fields: Option<String>,
}

impl TraceListQuery {
    pub(crate) fn params(&self) -> Params {
        let mut p = Params::default();
        p.opt("page", &self.page)
            .opt("limit", &self.limit)
            .opt("userId", &self.user_id)
            .opt("name", &self.name)
            .opt("sessionId", &self.session_id)
            .time("fromTimestamp", &self.from_timestamp)
            .time("toTimestamp", &self.to_timestamp)
            .opt("orderBy", &self.order_by)
            .many("tags", &self.tags)
            .opt("version", &self.version)
            .opt("release", &self.release)
            .many("environment", &self.environment)
            .opt("fields", &self.fields);
        p
    }
}

/// A trace as listed by `GET /api/public/traces`: observations and scores as ids.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TraceListItem {
    /// Trace id.
    pub id: String,
    /// Trace start.
    pub timestamp: DateTime<Utc>,
    /// Name.
    pub name: Option<String>,
    /// Input.
    pub input: Value,
    /// Output.
    pub output: Value,
    /// Session id.
    pub session_id: Option<String>,
    /// Release.
    pub release: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// User id.
    pub user_id: Option<String>,
    /// Metadata.
    pub metadata: Value,
    /// Tags.
    pub tags: Vec<String>,
    /// Public flag.
    pub public: bool,
    /// Bookmarked flag.
    pub bookmarked: bool,
    /// Environment.
    pub environment: String,
    /// Project id.
    pub project_id: String,
    /// Path of the trace in the UI.
    pub html_path: String,
    /// Seconds from the earliest start to the latest end (-1 when excluded).
    pub latency: Option<f64>,
    /// Total cost in USD (-1 when excluded).
    pub total_cost: Option<f64>,
    /// Observation ids.
    pub observations: Vec<String>,
    /// Score ids.
    pub scores: Vec<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A trace with its observations and scores, from `GET /api/public/traces/{id}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TraceDetail {
    /// Trace id.
    pub id: String,
    /// Trace start.
    pub timestamp: DateTime<Utc>,
    /// Name.
    pub name: Option<String>,
    /// Input.
    pub input: Value,
    /// Output.
    pub output: Value,
    /// Session id.
    pub session_id: Option<String>,
    /// Release.
    pub release: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// User id.
    pub user_id: Option<String>,
    /// Metadata.
    pub metadata: Value,
    /// Tags.
    pub tags: Vec<String>,
    /// Public flag.
    pub public: bool,
    /// Environment.
    pub environment: String,
    /// Project id.
    pub project_id: String,
    /// Path of the trace in the UI.
    pub html_path: String,
    /// Seconds from the earliest start to the latest end.
    pub latency: Option<f64>,
    /// Total cost in USD.
    pub total_cost: Option<f64>,
    /// Observations in start order.
    pub observations: Vec<Observation>,
    /// v1 score objects.
    pub scores: Vec<Score>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The name the original xtrace SDK used for [`TraceDetail`].
pub type TraceDetailDto = TraceDetail;

/// Token usage of an observation, as the read API reports it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ObservationUsage {
    /// Input units.
    pub input: Option<i64>,
    /// Output units.
    pub output: Option<i64>,
    /// Total units.
    pub total: Option<i64>,
    /// Unit (`TOKENS`).
    pub unit: Option<String>,
}

/// An observation (span, generation, event, ...) as the read API returns it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Observation {
    /// Observation id.
    pub id: String,
    /// Trace id.
    pub trace_id: String,
    /// `SPAN`, `GENERATION`, `EVENT`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Name.
    pub name: Option<String>,
    /// Parent observation.
    pub parent_observation_id: Option<String>,
    /// Start.
    pub start_time: DateTime<Utc>,
    /// End.
    pub end_time: Option<DateTime<Utc>>,
    /// First token.
    pub completion_start_time: Option<DateTime<Utc>>,
    /// Model name as sent.
    pub model: Option<String>,
    /// Model parameters.
    pub model_parameters: Value,
    /// Input.
    pub input: Value,
    /// Output.
    pub output: Value,
    /// Metadata.
    pub metadata: Value,
    /// `DEBUG`, `DEFAULT`, `WARNING`, `ERROR`.
    pub level: String,
    /// Status message.
    pub status_message: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// Environment.
    pub environment: String,
    /// Usage per key (`input`, `output`, `total`, ...).
    pub usage_details: HashMap<String, f64>,
    /// Cost per key in USD.
    pub cost_details: HashMap<String, f64>,
    /// Legacy usage block.
    pub usage: ObservationUsage,
    /// Sum of the input usage keys.
    pub prompt_tokens: i64,
    /// Sum of the output usage keys.
    pub completion_tokens: i64,
    /// Total tokens.
    pub total_tokens: i64,
    /// Input cost in USD.
    pub calculated_input_cost: Option<f64>,
    /// Output cost in USD.
    pub calculated_output_cost: Option<f64>,
    /// Total cost in USD.
    pub calculated_total_cost: Option<f64>,
    /// Seconds from start to end.
    pub latency: Option<f64>,
    /// Seconds from start to first token.
    pub time_to_first_token: Option<f64>,
    /// Linked prompt name.
    pub prompt_name: Option<String>,
    /// Linked prompt version.
    pub prompt_version: Option<i64>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Parameters of `GET /api/public/observations`.
#[derive(Debug, Clone, Default)]
pub struct ObservationListQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// Items per page.
    pub limit: Option<i64>,
    /// Exact name.
    pub name: Option<String>,
    /// Exact user id of the trace.
    pub user_id: Option<String>,
    /// `SPAN`, `GENERATION`, `EVENT`, ...
    pub kind: Option<String>,
    /// Trace id.
    pub trace_id: Option<String>,
    /// Parent observation id.
    pub parent_observation_id: Option<String>,
    /// Level.
    pub level: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// Environments (any of).
    pub environment: Vec<String>,
    /// Started at or after.
    pub from_start_time: Option<DateTime<Utc>>,
    /// Started before.
    pub to_start_time: Option<DateTime<Utc>>,
}

impl ObservationListQuery {
    pub(crate) fn params(&self) -> Params {
        let mut p = Params::default();
        p.opt("page", &self.page)
            .opt("limit", &self.limit)
            .opt("name", &self.name)
            .opt("userId", &self.user_id)
            .opt("type", &self.kind)
            .opt("traceId", &self.trace_id)
            .opt("parentObservationId", &self.parent_observation_id)
            .opt("level", &self.level)
            .opt("version", &self.version)
            .many("environment", &self.environment)
            .time("fromStartTime", &self.from_start_time)
            .time("toStartTime", &self.to_start_time);
        p
    }
}

/// A session.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Session {
    /// Session id.
    pub id: String,
    /// First seen.
    pub created_at: DateTime<Utc>,
    /// Project id.
    pub project_id: String,
    /// Environment.
    pub environment: String,
    /// Its traces (only from `get_session`), oldest first.
    pub traces: Vec<TraceListItem>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Parameters of `GET /api/public/sessions`.
#[derive(Debug, Clone, Default)]
pub struct SessionListQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// Items per page.
    pub limit: Option<i64>,
    /// Created at or after.
    pub from_timestamp: Option<DateTime<Utc>>,
    /// Created before.
    pub to_timestamp: Option<DateTime<Utc>>,
    /// Environments (any of).
    pub environment: Vec<String>,
}

impl SessionListQuery {
    pub(crate) fn params(&self) -> Params {
        let mut p = Params::default();
        p.opt("page", &self.page)
            .opt("limit", &self.limit)
            .time("fromTimestamp", &self.from_timestamp)
            .time("toTimestamp", &self.to_timestamp)
            .many("environment", &self.environment);
        p
    }
}

/// A score as the read API returns it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Score {
    /// Score id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Numeric value (categorical scores: the category's value, if any).
    pub value: Option<f64>,
    /// Text value of categorical and boolean scores.
    pub string_value: Option<String>,
    /// `NUMERIC`, `CATEGORICAL`, `BOOLEAN`.
    pub data_type: String,
    /// `API`, `ANNOTATION`, `EVAL`.
    pub source: String,
    /// Trace id.
    pub trace_id: Option<String>,
    /// Observation id.
    pub observation_id: Option<String>,
    /// Session id.
    pub session_id: Option<String>,
    /// Dataset run id.
    pub dataset_run_id: Option<String>,
    /// Comment.
    pub comment: Option<String>,
    /// Score config id.
    pub config_id: Option<String>,
    /// When the score was given.
    pub timestamp: DateTime<Utc>,
    /// Environment.
    pub environment: String,
    /// Metadata.
    pub metadata: Value,
    /// Fields not modelled here (e.g. `trace`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Parameters of `GET /api/public/v2/scores`.
#[derive(Debug, Clone, Default)]
pub struct ScoreListQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// Items per page.
    pub limit: Option<i64>,
    /// Exact name.
    pub name: Option<String>,
    /// User id of the trace.
    pub user_id: Option<String>,
    /// Trace id.
    pub trace_id: Option<String>,
    /// Session id.
    pub session_id: Option<String>,
    /// Observation id.
    pub observation_id: Option<String>,
    /// Dataset run id.
    pub dataset_run_id: Option<String>,
    /// `API`, `ANNOTATION`, `EVAL`.
    pub source: Option<String>,
    /// `NUMERIC`, `CATEGORICAL`, `BOOLEAN`.
    pub data_type: Option<String>,
    /// Score config id.
    pub config_id: Option<String>,
    /// At or after.
    pub from_timestamp: Option<DateTime<Utc>>,
    /// Before.
    pub to_timestamp: Option<DateTime<Utc>>,
    /// Environments (any of).
    pub environment: Vec<String>,
}

impl ScoreListQuery {
    pub(crate) fn params(&self) -> Params {
        let mut p = Params::default();
        p.opt("page", &self.page)
            .opt("limit", &self.limit)
            .opt("name", &self.name)
            .opt("userId", &self.user_id)
            .opt("traceId", &self.trace_id)
            .opt("sessionId", &self.session_id)
            .opt("observationId", &self.observation_id)
            .opt("datasetRunId", &self.dataset_run_id)
            .opt("source", &self.source)
            .opt("dataType", &self.data_type)
            .opt("configId", &self.config_id)
            .time("fromTimestamp", &self.from_timestamp)
            .time("toTimestamp", &self.to_timestamp)
            .many("environment", &self.environment);
        p
    }
}

/// A dataset.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Dataset {
    /// Id.
    pub id: String,
    /// Name (unique in the project).
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Metadata.
    pub metadata: Value,
    /// Project id.
    pub project_id: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST /api/public/v2/datasets` (an upsert by name).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateDataset {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// A dataset item.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DatasetItem {
    /// Id.
    pub id: String,
    /// `ACTIVE` or `ARCHIVED`.
    pub status: String,
    /// Input.
    pub input: Value,
    /// Expected output.
    pub expected_output: Value,
    /// Metadata.
    pub metadata: Value,
    /// Trace the item was made from.
    pub source_trace_id: Option<String>,
    /// Observation the item was made from.
    pub source_observation_id: Option<String>,
    /// Dataset id.
    pub dataset_id: String,
    /// Dataset name.
    pub dataset_name: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST /api/public/dataset-items` (an upsert by `id`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateDatasetItem {
    /// Dataset name.
    pub dataset_name: String,
    /// Item id (generated by the server when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// Expected output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_output: Option<Value>,
    /// Metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Source trace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_trace_id: Option<String>,
    /// Source observation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_observation_id: Option<String>,
    /// `ACTIVE` (default) or `ARCHIVED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// Parameters of `GET /api/public/dataset-items`.
#[derive(Debug, Clone, Default)]
pub struct DatasetItemListQuery {
    /// Dataset name.
    pub dataset_name: Option<String>,
    /// Source trace.
    pub source_trace_id: Option<String>,
    /// Source observation.
    pub source_observation_id: Option<String>,
    /// Page, from 1.
    pub page: Option<i64>,
    /// Items per page.
    pub limit: Option<i64>,
}

impl DatasetItemListQuery {
    pub(crate) fn params(&self) -> Params {
        let mut p = Params::default();
        p.opt("datasetName", &self.dataset_name)
            .opt("sourceTraceId", &self.source_trace_id)
            .opt("sourceObservationId", &self.source_observation_id)
            .opt("page", &self.page)
            .opt("limit", &self.limit);
        p
    }
}

/// Body of `POST /api/public/dataset-run-items`: links a trace (an experiment run over
/// one item) to a dataset run, creating the run on first use.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateDatasetRunItem {
    /// Run name.
    pub run_name: String,
    /// Item id.
    pub dataset_item_id: String,
    /// Trace of the run over the item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Observation of the run over the item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observation_id: Option<String>,
    /// Run description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_description: Option<String>,
    /// Run metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// A dataset run item.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DatasetRunItem {
    /// Id.
    pub id: String,
    /// Run id.
    pub dataset_run_id: String,
    /// Run name.
    pub dataset_run_name: String,
    /// Item id.
    pub dataset_item_id: String,
    /// Trace id.
    pub trace_id: String,
    /// Observation id.
    pub observation_id: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A time-series point for `POST /v1/metrics/batch` (GPU/node telemetry).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetricPoint {
    /// Metric name, e.g. `gpu_utilization`.
    pub name: String,
    /// Labels identifying the series, e.g. `node_id`, `gpu_index`.
    #[serde(default)]
    pub labels: HashMap<String, String>,
    /// Finite value.
    pub value: f64,
    /// Sample time.
    pub timestamp: DateTime<Utc>,
}

/// Answer of `POST /v1/metrics/batch`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct MetricsBatchResponse {
    /// `Request Successful.`
    pub message: String,
    /// Points stored.
    pub accepted: usize,
    /// Points refused.
    pub rejected: usize,
    /// One entry per refused point.
    pub errors: Vec<MetricPointError>,
}

/// A refused metric point.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct MetricPointError {
    /// Index in the request.
    pub index: usize,
    /// `name`, `labels`, `value` or `timestamp`.
    pub field: String,
    /// Why.
    pub message: String,
}

/// Aggregation of [`MetricsQuery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricAgg {
    /// Mean (the server's default).
    #[default]
    Avg,
    /// Maximum.
    Max,
    /// Minimum.
    Min,
    /// Sum.
    Sum,
    /// Number of points.
    Count,
    /// Value of the latest point.
    Last,
    /// Median.
    P50,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
}

impl MetricAgg {
    /// The wire name (`avg`, `p95`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricAgg::Avg => "avg",
            MetricAgg::Max => "max",
            MetricAgg::Min => "min",
            MetricAgg::Sum => "sum",
            MetricAgg::Count => "count",
            MetricAgg::Last => "last",
            MetricAgg::P50 => "p50",
            MetricAgg::P90 => "p90",
            MetricAgg::P95 => "p95",
            MetricAgg::P99 => "p99",
        }
    }
}

/// Parameters of `GET /api/public/metrics/query`.
#[derive(Debug, Clone, Default)]
pub struct MetricsQuery {
    /// Metric name (required).
    pub name: String,
    /// Start (inclusive; server default: `to` minus one hour).
    pub from: Option<DateTime<Utc>>,
    /// End (inclusive; server default: now).
    pub to: Option<DateTime<Utc>>,
    /// Only series whose labels contain these.
    pub labels: HashMap<String, String>,
    /// Bucket width: `30s`, `1m`, `5m`, `1h`, `1d` (server default `1m`).
    pub step: Option<String>,
    /// Aggregation per bucket.
    pub agg: Option<MetricAgg>,
    /// One series per value of this label.
    pub group_by: Option<String>,
}

impl MetricsQuery {
    /// A query of `name` with the server's defaults.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    pub(crate) fn params(&self) -> Params {
        let mut p = Params::default();
        p.0.push(("name", self.name.clone()));
        p.time("from", &self.from).time("to", &self.to);
        if !self.labels.is_empty() {
            let labels: BTreeMap<_, _> = self.labels.iter().collect();
            p.0.push((
                "labels",
                serde_json::to_string(&labels).unwrap_or_else(|_| "{}".into()),
            ));
        }
        p.opt("step", &self.step)
            .opt("agg", &self.agg.map(MetricAgg::as_str))
            .opt("group_by", &self.group_by);
        p
    }
}

/// Answer of `GET /api/public/metrics/query`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct MetricsQueryResponse {
    /// Series ordered by labels.
    pub data: Vec<MetricSeries>,
    /// Limits and the query echo.
    pub meta: MetricsQueryMeta,
}

/// One series of a metrics query.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct MetricSeries {
    /// The series' labels, or `{group_by: value}` (`None` for series without the key).
    pub labels: BTreeMap<String, Option<String>>,
    /// Buckets in time order.
    pub values: Vec<MetricValue>,
}

/// One bucket.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct MetricValue {
    /// Bucket start.
    pub timestamp: DateTime<Utc>,
    /// Aggregated value.
    pub value: f64,
}

/// `meta` of a metrics query.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct MetricsQueryMeta {
    /// Latest bucket returned.
    pub latest_ts: Option<DateTime<Utc>>,
    /// Series returned.
    pub series_count: usize,
    /// A limit was hit.
    pub truncated: bool,
    /// Series that matched before the series limit.
    pub total_series: usize,
    /// The series limit was hit.
    pub series_truncated: bool,
    /// The points limit was hit.
    pub points_truncated: bool,
    /// Fields not modelled here (`name`, `step`, `agg`, `from`, `to`, limits, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A metric name with its label keys (`metric_names_with_labels`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct MetricName {
    /// Metric name.
    pub name: String,
    /// Label keys seen on its series.
    pub label_keys: Vec<String>,
}

/// Parameters of `GET /api/public/metrics/daily`.
#[derive(Debug, Clone, Default)]
pub struct MetricsDailyQuery {
    /// Page, from 1.
    pub page: Option<i64>,
    /// Items per page.
    pub limit: Option<i64>,
    /// Trace name.
    pub trace_name: Option<String>,
    /// User id.
    pub user_id: Option<String>,
    /// Tags (all of).
    pub tags: Vec<String>,
    /// At or after.
    pub from_timestamp: Option<DateTime<Utc>>,
    /// Before.
    pub to_timestamp: Option<DateTime<Utc>>,
}

impl MetricsDailyQuery {
    pub(crate) fn params(&self) -> Params {
        let mut p = Params::default();
        p.opt("page", &self.page)
            .opt("limit", &self.limit)
            .opt("traceName", &self.trace_name)
            .opt("userId", &self.user_id)
            .many("tags", &self.tags)
            .time("fromTimestamp", &self.from_timestamp)
            .time("toTimestamp", &self.to_timestamp);
        p
    }
}

/// One UTC day of `GET /api/public/metrics/daily`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MetricsDailyItem {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Traces that day.
    pub count_traces: i64,
    /// Observations that day.
    pub count_observations: i64,
    /// Cost in USD.
    pub total_cost: f64,
    /// Per-model usage.
    pub usage: Vec<Value>,
}
