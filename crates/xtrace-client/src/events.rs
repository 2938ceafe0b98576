//! Typed Langfuse ingestion events, as `POST /api/public/ingestion` takes them:
//! `{"batch": [{"id", "timestamp", "type", "body"}]}`.
//!
//! Every event carries its own envelope id, so re-sending a batch (after a timeout, say)
//! stores nothing twice. A trace is updated by sending another `trace-create` with the
//! same body id; spans and generations have their own `*-update` events, which change
//! only the fields they carry.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A new random id (UUID v4), the form Langfuse SDKs use for traces and observations.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// One ingestion event: envelope id and time, type and body.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IngestionEvent {
    /// Envelope id (unique per event; the server ignores a repeated one).
    pub id: String,
    /// When the event was produced; orders updates of the same entity.
    pub timestamp: DateTime<Utc>,
    /// Type and body.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Event type (`type`) with its body (`body`).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", content = "body")]
pub enum EventKind {
    /// `trace-create`: creates or updates a trace.
    #[serde(rename = "trace-create")]
    TraceCreate(TraceBody),
    /// `span-create`.
    #[serde(rename = "span-create")]
    SpanCreate(ObservationBody),
    /// `span-update`.
    #[serde(rename = "span-update")]
    SpanUpdate(ObservationBody),
    /// `generation-create`.
    #[serde(rename = "generation-create")]
    GenerationCreate(ObservationBody),
    /// `generation-update`.
    #[serde(rename = "generation-update")]
    GenerationUpdate(ObservationBody),
    /// `event-create`: a point-in-time observation.
    #[serde(rename = "event-create")]
    EventCreate(ObservationBody),
    /// `score-create`.
    #[serde(rename = "score-create")]
    ScoreCreate(ScoreBody),
}

impl IngestionEvent {
    /// An event of `kind` with a fresh envelope id, stamped now.
    pub fn new(kind: EventKind) -> Self {
        Self {
            id: new_id(),
            timestamp: Utc::now(),
            kind,
        }
    }
    /// `trace-create` (also the way to update a trace).
    pub fn trace(body: TraceBody) -> Self {
        Self::new(EventKind::TraceCreate(body))
    }
    /// `span-create`.
    pub fn span_create(body: ObservationBody) -> Self {
        Self::new(EventKind::SpanCreate(body))
    }
    /// `span-update`.
    pub fn span_update(body: ObservationBody) -> Self {
        Self::new(EventKind::SpanUpdate(body))
    }
    /// `generation-create`.
    pub fn generation_create(body: ObservationBody) -> Self {
        Self::new(EventKind::GenerationCreate(body))
    }
    /// `generation-update`.
    pub fn generation_update(body: ObservationBody) -> Self {
        Self::new(EventKind::GenerationUpdate(body))
    }
    /// `event-create`.
    pub fn event(body: ObservationBody) -> Self {
        Self::new(EventKind::EventCreate(body))
    }
    /// `score-create`.
    pub fn score(body: ScoreBody) -> Self {
        Self::new(EventKind::ScoreCreate(body))
    }

    /// The id of the entity (trace, observation or score) the event is about.
    pub fn entity_id(&self) -> Option<&str> {
        match &self.kind {
            EventKind::TraceCreate(b) => b.id.as_deref(),
            EventKind::ScoreCreate(b) => b.id.as_deref(),
            EventKind::SpanCreate(b)
            | EventKind::SpanUpdate(b)
            | EventKind::GenerationCreate(b)
            | EventKind::GenerationUpdate(b)
            | EventKind::EventCreate(b) => b.id.as_deref(),
        }
    }
}

/// Body of `trace-create`. Absent fields leave the stored trace unchanged.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TraceBody {
    /// Trace id (required to store anything).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Trace start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<DateTime<Utc>>,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// End user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Session (created on first use).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// Output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Metadata (keys are merged across updates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Tags (unioned across updates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Public flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    /// Environment (`production`, `staging`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// Severity of an observation.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// Debug.
    Debug,
    /// Default.
    Default,
    /// Warning.
    Warning,
    /// Error.
    Error,
}

/// Legacy usage block of a generation (`usage`). Langfuse also accepts `usage_details`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Input units (prompt tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<u64>,
    /// Output units (completion tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<u64>,
    /// Total units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// `TOKENS`, `CHARACTERS`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Input cost in USD (when you know it; else the server derives it from the model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_cost: Option<f64>,
    /// Output cost in USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_cost: Option<f64>,
    /// Total cost in USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_cost: Option<f64>,
}

impl Usage {
    /// Token counts; `total` is their sum.
    pub fn tokens(input: u64, output: u64) -> Self {
        Self {
            input: Some(input),
            output: Some(output),
            total: Some(input + output),
            unit: Some("TOKENS".into()),
            ..Self::default()
        }
    }
}

/// Body of span, generation and event events. The generation-only fields
/// (`model`, `model_parameters`, `usage`, `usage_details`, `cost_details`,
/// `completion_start_time`, `prompt_*`) are ignored by the server on spans and events.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObservationBody {
    /// Observation id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Trace id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Parent observation (nesting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_observation_id: Option<String>,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    /// End.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<DateTime<Utc>>,
    /// Input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// Output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Metadata (keys merged across updates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Severity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    /// Status message (e.g. the error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// Version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Generation: first token time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_start_time: Option<DateTime<Utc>>,
    /// Generation: model name (matched against the model catalogue for cost).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Generation: model parameters (`temperature`, `max_tokens`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_parameters: Option<Map<String, Value>>,
    /// Generation: legacy usage block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Generation: usage per key (`input`, `output`, `cache_read_input_tokens`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_details: Option<HashMap<String, u64>>,
    /// Generation: cost per key in USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_details: Option<HashMap<String, f64>>,
    /// Generation: linked prompt name (with `prompt_version`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_name: Option<String>,
    /// Generation: linked prompt version (with `prompt_name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_version: Option<i64>,
}

/// Value of a score: a number (NUMERIC, BOOLEAN 0/1) or a string (CATEGORICAL).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ScoreValue {
    /// Numeric.
    Number(f64),
    /// Category label.
    Text(String),
}

impl From<f64> for ScoreValue {
    fn from(v: f64) -> Self {
        ScoreValue::Number(v)
    }
}
impl From<&str> for ScoreValue {
    fn from(v: &str) -> Self {
        ScoreValue::Text(v.to_string())
    }
}
impl From<String> for ScoreValue {
    fn from(v: String) -> Self {
        ScoreValue::Text(v)
    }
}
impl From<bool> for ScoreValue {
    fn from(v: bool) -> Self {
        ScoreValue::Number(if v { 1.0 } else { 0.0 })
    }
}

/// Data type of a score.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum ScoreDataType {
    /// A number.
    Numeric,
    /// A category label.
    Categorical,
    /// 0 or 1.
    Boolean,
}

/// Body of `score-create` and of `POST /api/public/scores`. Exactly one of `trace_id`,
/// `session_id`, `dataset_run_id` must be set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScoreBody {
    /// Score id (generated when absent on `POST /api/public/scores`; required in
    /// ingestion for the score to be stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Value.
    pub value: ScoreValue,
    /// Trace scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Observation scored (with `trace_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observation_id: Option<String>,
    /// Session scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Dataset run scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_run_id: Option<String>,
    /// Data type (inferred from the value when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_type: Option<ScoreDataType>,
    /// Comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Score config to validate against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_id: Option<String>,
    /// Metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl ScoreBody {
    /// A score of a trace, with a fresh id.
    pub fn for_trace(
        trace_id: impl Into<String>,
        name: impl Into<String>,
        value: impl Into<ScoreValue>,
    ) -> Self {
        Self {
            id: Some(new_id()),
            name: name.into(),
            value: value.into(),
            trace_id: Some(trace_id.into()),
            observation_id: None,
            session_id: None,
            dataset_run_id: None,
            data_type: None,
            comment: None,
            config_id: None,
            metadata: None,
            environment: None,
        }
    }
}

/// The 207 answer of `POST /api/public/ingestion`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct IngestionResponse {
    /// Events stored.
    pub successes: Vec<IngestionSuccess>,
    /// Events refused, each with its reason.
    pub errors: Vec<IngestionError>,
}

/// An accepted event.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct IngestionSuccess {
    /// Envelope id.
    pub id: String,
    /// Status (201).
    pub status: u16,
}

/// A refused event.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct IngestionError {
    /// Envelope id.
    pub id: String,
    /// Status (400 invalid, 500 storage failure, ...).
    pub status: u16,
    /// Message.
    pub message: Option<String>,
    /// Details (Langfuse sends a string; kept as sent).
    pub error: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_as_langfuse_envelopes() {
        let ev = IngestionEvent {
            id: "e1".into(),
            timestamp: "2024-05-01T12:00:00Z".parse().unwrap(),
            kind: EventKind::GenerationCreate(ObservationBody {
                id: Some("g1".into()),
                trace_id: Some("t1".into()),
                model: Some("gpt-4o".into()),
                usage: Some(Usage::tokens(3, 4)),
                level: Some(Level::Warning),
                ..ObservationBody::default()
            }),
        };
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "id": "e1",
                "timestamp": "2024-05-01T12:00:00Z",
                "type": "generation-create",
                "body": {
                    "id": "g1", "traceId": "t1", "model": "gpt-4o", "level": "WARNING",
                    "usage": {"input": 3, "output": 4, "total": 7, "unit": "TOKENS"}
                }
            })
        );
    }

    #[test]
    fn score_values_serialize_by_kind() {
        let s = ScoreBody::for_trace("t", "ok", true);
        assert_eq!(serde_json::to_value(&s).unwrap()["value"], 1.0);
        let s = ScoreBody::for_trace("t", "grade", "good");
        assert_eq!(serde_json::to_value(&s).unwrap()["value"], "good");
    }
}
