//! Langfuse ingestion envelopes and bodies: parsing and per-event validation
//! (COMPAT-NOTES §4.1–§4.4).
//!
//! An envelope `{id, timestamp, type, body, metadata?}` is checked and its body reduced to
//! the keys Langfuse's schema knows (unknown keys are dropped), with the environment
//! normalised and timestamps parsed (offset required) and rewritten as ISO strings with
//! milliseconds. Explicit `null`s are kept: the merge tells "absent" from "null".
//! What this module does not do: merging (see `merge`) and storage (see `store::ingest`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::error::ValidationIssue;

use super::Access;

/// The longest id Langfuse accepts (envelope and entity ids).
pub const MAX_ID_CHARS: usize = 800;

/// Which table an event's entity lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    /// `traces`.
    Trace,
    /// `observations` (all observation event types share one id namespace).
    Observation,
    /// `scores`.
    Score,
}

impl EntityKind {
    /// The name stored in `ingest_events.entity_kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Trace => "trace",
            EntityKind::Observation => "observation",
            EntityKind::Score => "score",
        }
    }

    /// The inverse of [`EntityKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "trace" => Some(EntityKind::Trace),
            "observation" => Some(EntityKind::Observation),
            "score" => Some(EntityKind::Score),
            _ => None,
        }
    }
}

/// The body schema an event type uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyShape {
    Trace,
    Event,
    Span,
    Generation,
    LegacyObservation,
    Score,
    SdkLog,
}

/// Every event type of Langfuse's ingestion API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `trace-create`.
    TraceCreate,
    /// `span-create`.
    SpanCreate,
    /// `span-update`.
    SpanUpdate,
    /// `generation-create`.
    GenerationCreate,
    /// `generation-update`.
    GenerationUpdate,
    /// `event-create`.
    EventCreate,
    /// `agent-create`.
    AgentCreate,
    /// `tool-create`.
    ToolCreate,
    /// `chain-create`.
    ChainCreate,
    /// `retriever-create`.
    RetrieverCreate,
    /// `evaluator-create`.
    EvaluatorCreate,
    /// `embedding-create`.
    EmbeddingCreate,
    /// `guardrail-create`.
    GuardrailCreate,
    /// `score-create`.
    ScoreCreate,
    /// `sdk-log`: accepted, logged, not stored.
    SdkLog,
    /// `observation-create` (legacy; the body names the observation type).
    ObservationCreate,
    /// `observation-update` (legacy).
    ObservationUpdate,
}

const ALL_TYPES: [EventType; 17] = [
    EventType::TraceCreate,
    EventType::SpanCreate,
    EventType::SpanUpdate,
    EventType::GenerationCreate,
    EventType::GenerationUpdate,
    EventType::EventCreate,
    EventType::AgentCreate,
    EventType::ToolCreate,
    EventType::ChainCreate,
    EventType::RetrieverCreate,
    EventType::EvaluatorCreate,
    EventType::EmbeddingCreate,
    EventType::GuardrailCreate,
    EventType::ScoreCreate,
    EventType::SdkLog,
    EventType::ObservationCreate,
    EventType::ObservationUpdate,
];

impl EventType {
    /// The wire name (`span-create`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::TraceCreate => "trace-create",
            EventType::SpanCreate => "span-create",
            EventType::SpanUpdate => "span-update",
            EventType::GenerationCreate => "generation-create",
            EventType::GenerationUpdate => "generation-update",
            EventType::EventCreate => "event-create",
            EventType::AgentCreate => "agent-create",
            EventType::ToolCreate => "tool-create",
            EventType::ChainCreate => "chain-create",
            EventType::RetrieverCreate => "retriever-create",
            EventType::EvaluatorCreate => "evaluator-create",
            EventType::EmbeddingCreate => "embedding-create",
            EventType::GuardrailCreate => "guardrail-create",
            EventType::ScoreCreate => "score-create",
            EventType::SdkLog => "sdk-log",
            EventType::ObservationCreate => "observation-create",
            EventType::ObservationUpdate => "observation-update",
        }
    }

    /// The event type with this wire name.
    pub fn parse(s: &str) -> Option<Self> {
        ALL_TYPES.into_iter().find(|t| t.as_str() == s)
    }

    /// Where the event's entity is stored (None: `sdk-log`).
    pub fn entity_kind(self) -> Option<EntityKind> {
        match self {
            EventType::TraceCreate => Some(EntityKind::Trace),
            EventType::ScoreCreate => Some(EntityKind::Score),
            EventType::SdkLog => None,
            _ => Some(EntityKind::Observation),
        }
    }

    /// The observation type this event writes; None for legacy observation events
    /// (the body's `type` decides) and for non-observation events.
    pub fn observation_type(self) -> Option<&'static str> {
        Some(match self {
            EventType::SpanCreate | EventType::SpanUpdate => "SPAN",
            EventType::GenerationCreate | EventType::GenerationUpdate => "GENERATION",
            EventType::EventCreate => "EVENT",
            EventType::AgentCreate => "AGENT",
            EventType::ToolCreate => "TOOL",
            EventType::ChainCreate => "CHAIN",
            EventType::RetrieverCreate => "RETRIEVER",
            EventType::EvaluatorCreate => "EVALUATOR",
            EventType::EmbeddingCreate => "EMBEDDING",
            EventType::GuardrailCreate => "GUARDRAIL",
            _ => return None,
        })
    }

    /// Whether the type is a create (sorted first among events with equal timestamps).
    pub fn is_create(self) -> bool {
        self.as_str().contains("create")
    }

    /// Whether a public key alone (`Bearer <publicKey>`) may send this event.
    fn allowed_for_scores_only(self) -> bool {
        matches!(self, EventType::ScoreCreate | EventType::SdkLog)
    }

    fn body_shape(self) -> BodyShape {
        match self {
            EventType::TraceCreate => BodyShape::Trace,
            EventType::ScoreCreate => BodyShape::Score,
            EventType::SdkLog => BodyShape::SdkLog,
            EventType::EventCreate => BodyShape::Event,
            EventType::SpanCreate | EventType::SpanUpdate => BodyShape::Span,
            EventType::ObservationCreate | EventType::ObservationUpdate => {
                BodyShape::LegacyObservation
            }
            _ => BodyShape::Generation,
        }
    }
}

/// A validated event to store: one entity's event, keyed for the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidEvent {
    /// Entity table.
    pub kind: EntityKind,
    /// Entity id (`body.id`).
    pub entity_id: String,
    /// Envelope id.
    pub event_id: String,
    /// Event type.
    pub event_type: EventType,
    /// Envelope timestamp (millisecond precision).
    pub timestamp: DateTime<Utc>,
    /// The normalised body.
    pub body: Map<String, Value>,
}

/// The outcome of validating one envelope.
#[derive(Debug, Clone, PartialEq)]
pub enum Validated {
    /// Store this event.
    Store(ValidEvent),
    /// Report success without storing (`sdk-log`, or a body without an id).
    Accept {
        /// Envelope id.
        event_id: String,
    },
}

/// Why one envelope was rejected (a per-event entry of the 207 answer).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Envelope id, or `unknown`.
    pub event_id: String,
    /// 400 or 401.
    pub status: u16,
    /// The validation issues (empty for 401).
    pub issues: Vec<ValidationIssue>,
}

impl PartialEq for ValidationIssue {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code && self.path == other.path && self.message == other.message
    }
}

impl Rejection {
    /// The zod-like error string Langfuse puts in the entry's `error`.
    pub fn error_text(&self) -> String {
        serde_json::to_string(&self.issues).expect("issues are plain data")
    }
}

/// Parses `t` as an ISO 8601 date-time with an offset (`Z`, `±hh:mm`, `±hhmm`, `±hh`),
/// truncated to milliseconds. A timestamp without an offset is refused, as Langfuse does.
pub fn parse_timestamp(t: &str) -> Option<DateTime<Utc>> {
    let t = t.trim();
    let parsed = DateTime::parse_from_rfc3339(t).ok().or_else(|| {
        // `+hhmm` and `+hh` offsets, which zod's `datetime({offset: true})` accepts too.
        let cut = t.rfind(['+', '-']).filter(|&i| i > 10)?;
        let (head, off) = t.split_at(cut);
        let digits = &off[1..];
        let fixed = match digits.len() {
            4 if digits.bytes().all(|b| b.is_ascii_digit()) => {
                format!("{head}{}{}:{}", &off[..1], &digits[..2], &digits[2..])
            }
            2 if digits.bytes().all(|b| b.is_ascii_digit()) => {
                format!("{head}{}{digits}:00", &off[..1])
            }
            _ => return None,
        };
        DateTime::parse_from_rfc3339(&fixed).ok()
    })?;
    DateTime::from_timestamp_millis(parsed.timestamp_millis())
}

/// `2024-05-01T12:00:00.000Z`.
pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Langfuse's environment normalisation: lower-case, strip leading `langfuse` prefixes,
/// at most 40 characters of `[a-z0-9-_]`; anything else (or nothing) is `default`.
pub fn normalize_environment(v: Option<&Value>) -> String {
    let Some(Value::String(s)) = v else {
        return "default".into();
    };
    let lower = s.trim().to_lowercase();
    let mut rest = lower.as_str();
    while let Some(r) = rest.strip_prefix("langfuse") {
        rest = r
            .strip_prefix('-')
            .or_else(|| r.strip_prefix('_'))
            .unwrap_or(r);
    }
    let truncated: String = rest.chars().take(40).collect();
    let valid = !truncated.is_empty()
        && truncated
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        truncated
    } else {
        "default".into()
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Checks an id (1..800 characters, no carriage return); the message names the problem.
fn id_problem(s: &str) -> Option<(&'static str, String)> {
    let n = s.chars().count();
    if n == 0 {
        Some((
            "too_small",
            "Too small: expected string to have >=1 characters".into(),
        ))
    } else if n > MAX_ID_CHARS {
        Some((
            "too_big",
            format!("Too big: expected string to have <={MAX_ID_CHARS} characters"),
        ))
    } else if s.contains('\r') {
        Some((
            "custom",
            "ID cannot contain carriage return characters".into(),
        ))
    } else {
        None
    }
}

/// Validates one body field by field, collecting issues and the normalised copy.
struct BodyCheck<'a> {
    src: &'a Map<String, Value>,
    out: Map<String, Value>,
    issues: Vec<ValidationIssue>,
}

impl<'a> BodyCheck<'a> {
    fn new(src: &'a Map<String, Value>) -> Self {
        Self {
            src,
            out: Map::new(),
            issues: Vec::new(),
        }
    }

    fn issue(&mut self, code: &'static str, key: &str, message: impl Into<String>) {
        self.issues
            .push(ValidationIssue::new(code, &format!("body.{key}"), message));
    }

    fn expected(&mut self, key: &str, what: &str, got: &Value) {
        let msg = format!(
            "Invalid input: expected {what}, received {}",
            type_name(got)
        );
        self.issue("invalid_type", key, msg);
    }

    /// A nullable optional string.
    fn string(&mut self, key: &str) {
        match self.src.get(key) {
            None => {}
            Some(v @ (Value::Null | Value::String(_))) => {
                self.out.insert(key.into(), v.clone());
            }
            Some(v) => self.expected(key, "string", v),
        }
    }

    /// A nullable optional string of at most `max` characters.
    fn string_max(&mut self, key: &str, max: usize) {
        if let Some(Value::String(s)) = self.src.get(key) {
            if s.chars().count() > max {
                self.issue(
                    "too_big",
                    key,
                    format!("Too big: expected string to have <={max} characters"),
                );
                return;
            }
        }
        self.string(key);
    }

    /// An id; `required` ids must be present and non-null.
    fn id(&mut self, key: &str, required: bool) {
        match self.src.get(key) {
            None | Some(Value::Null) if required => {
                let got = self.src.get(key).map(type_name).unwrap_or("undefined");
                let msg = format!("Invalid input: expected string, received {got}");
                self.issue("invalid_type", key, msg);
            }
            None => {}
            Some(Value::Null) => {
                self.out.insert(key.into(), Value::Null);
            }
            Some(Value::String(s)) => match id_problem(s) {
                Some((code, msg)) => self.issue(code, key, msg),
                None => {
                    self.out.insert(key.into(), Value::String(s.clone()));
                }
            },
            Some(v) => self.expected(key, "string", v),
        }
    }

    /// A nullable optional date-time with offset, normalised to ISO with ms and Z.
    fn datetime(&mut self, key: &str) {
        match self.src.get(key) {
            None => {}
            Some(Value::Null) => {
                self.out.insert(key.into(), Value::Null);
            }
            Some(Value::String(s)) => match parse_timestamp(s) {
                Some(t) => {
                    self.out
                        .insert(key.into(), Value::String(format_timestamp(&t)));
                }
                None => self.issue(
                    "invalid_format",
                    key,
                    "Invalid ISO datetime (an offset such as Z or +01:00 is required)",
                ),
            },
            Some(v) => self.expected(key, "string", v),
        }
    }

    /// Any JSON value (kept as sent, null included).
    fn any(&mut self, key: &str) {
        if let Some(v) = self.src.get(key) {
            self.out.insert(key.into(), v.clone());
        }
    }

    /// A nullable optional boolean.
    fn boolean(&mut self, key: &str) {
        match self.src.get(key) {
            None => {}
            Some(v @ (Value::Null | Value::Bool(_))) => {
                self.out.insert(key.into(), v.clone());
            }
            Some(v) => self.expected(key, "boolean", v),
        }
    }

    /// A nullable optional value from `allowed`.
    fn one_of(&mut self, key: &str, allowed: &[&str]) {
        match self.src.get(key) {
            None => {}
            Some(Value::Null) => {
                self.out.insert(key.into(), Value::Null);
            }
            Some(Value::String(s)) if allowed.contains(&s.as_str()) => {
                self.out.insert(key.into(), Value::String(s.clone()));
            }
            Some(_) => {
                let list = allowed
                    .iter()
                    .map(|a| format!("\"{a}\""))
                    .collect::<Vec<_>>()
                    .join("|");
                self.issue(
                    "invalid_value",
                    key,
                    format!("Invalid option: expected one of {list}"),
                );
            }
        }
    }

    /// The normalised environment (always present in the output).
    fn environment(&mut self) {
        let env = normalize_environment(self.src.get("environment"));
        self.out.insert("environment".into(), Value::String(env));
    }

    /// A nullable optional JSON object (usage, usageDetails, costDetails).
    fn object(&mut self, key: &str) {
        match self.src.get(key) {
            None => {}
            Some(v @ (Value::Null | Value::Object(_))) => {
                self.out.insert(key.into(), v.clone());
            }
            Some(v) => self.expected(key, "object", v),
        }
    }

    /// An array of strings (trace tags).
    fn string_array(&mut self, key: &str) {
        match self.src.get(key) {
            None => {}
            Some(Value::Null) => {
                self.out.insert(key.into(), Value::Null);
            }
            Some(Value::Array(items)) => {
                if let Some((i, v)) = items.iter().enumerate().find(|(_, v)| !v.is_string()) {
                    let msg = format!("Invalid input: expected string, received {}", type_name(v));
                    self.issue("invalid_type", &format!("{key}.{i}"), msg);
                } else {
                    self.out.insert(key.into(), Value::Array(items.clone()));
                }
            }
            Some(v) => self.expected(key, "array", v),
        }
    }

    /// The legacy `usage` object: integer counts, numeric costs, a known unit.
    fn usage(&mut self) {
        let Some(Value::Object(u)) = self.src.get("usage") else {
            return self.object("usage");
        };
        const INTS: [&str; 6] = [
            "input",
            "output",
            "total",
            "promptTokens",
            "completionTokens",
            "totalTokens",
        ];
        const NUMS: [&str; 3] = ["inputCost", "outputCost", "totalCost"];
        const UNITS: [&str; 6] = [
            "CHARACTERS",
            "TOKENS",
            "SECONDS",
            "MILLISECONDS",
            "IMAGES",
            "REQUESTS",
        ];
        let mut kept = Map::new();
        for (k, v) in u {
            let ok = if INTS.contains(&k.as_str()) {
                v.is_null() || v.as_f64().is_some_and(|n| n.fract() == 0.0)
            } else if NUMS.contains(&k.as_str()) {
                v.is_null() || v.is_number()
            } else if k == "unit" {
                v.is_null() || v.as_str().is_some_and(|s| UNITS.contains(&s))
            } else {
                continue; // unknown keys are stripped
            };
            if !ok {
                let what = if k == "unit" {
                    "a usage unit"
                } else if NUMS.contains(&k.as_str()) {
                    "number"
                } else {
                    "int"
                };
                let msg = format!("Invalid input: expected {what}, received {}", type_name(v));
                self.issue("invalid_type", &format!("usage.{k}"), msg);
            } else {
                kept.insert(k.clone(), v.clone());
            }
        }
        self.out.insert("usage".into(), Value::Object(kept));
    }

    /// `modelParameters`: map of string → string | number | boolean | string[] |
    /// map<string, string> | null.
    fn model_parameters(&mut self) {
        let Some(Value::Object(m)) = self.src.get("modelParameters") else {
            return self.object("modelParameters");
        };
        let bad = m.iter().find(|(_, v)| match v {
            Value::Null | Value::String(_) | Value::Number(_) | Value::Bool(_) => false,
            Value::Array(a) => !a.iter().all(Value::is_string),
            Value::Object(o) => !o.values().all(Value::is_string),
        });
        match bad {
            Some((k, _)) => self.issue(
                "invalid_union",
                &format!("modelParameters.{k}"),
                "Invalid input: expected string, number, boolean, string array or string map",
            ),
            None => {
                self.out
                    .insert("modelParameters".into(), Value::Object(m.clone()));
            }
        }
    }

    /// `promptName` + `promptVersion`, both set or both unset.
    fn prompt(&mut self) {
        self.string("promptName");
        match self.src.get("promptVersion") {
            None => {}
            Some(Value::Null) => {
                self.out.insert("promptVersion".into(), Value::Null);
            }
            Some(v) if v.as_i64().is_some() => {
                self.out.insert("promptVersion".into(), v.clone());
            }
            Some(v) => {
                let msg = format!("Invalid input: expected int, received {}", type_name(v));
                self.issue("invalid_type", "promptVersion", msg);
            }
        }
        let name_set = self
            .out
            .get("promptName")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        let version_set = self
            .out
            .get("promptVersion")
            .and_then(Value::as_i64)
            .is_some_and(|v| v != 0);
        if name_set != version_set {
            self.issues.push(ValidationIssue::new(
                "custom",
                "body",
                "promptName and promptVersion must be set together or not at all",
            ));
        }
    }

    fn observation_common(&mut self) {
        self.id("traceId", false);
        self.environment();
        self.string("name");
        self.datetime("startTime");
        self.any("metadata");
        self.any("input");
        self.any("output");
        self.one_of("level", &["DEBUG", "DEFAULT", "WARNING", "ERROR"]);
        self.string("statusMessage");
        self.string("parentObservationId");
        self.string("version");
    }

    fn generation_fields(&mut self) {
        self.datetime("endTime");
        self.datetime("completionStartTime");
        self.string("model");
        self.model_parameters();
        self.usage();
        self.object("usageDetails");
        self.object("costDetails");
    }
}

/// Score sources accepted by the ingestion API.
pub const SCORE_SOURCES_INGESTION: &[&str] = &["API", "EVAL", "ANNOTATION"];
/// Score sources accepted by `POST /api/public/scores`.
pub const SCORE_SOURCES_POST: &[&str] = &["API", "ANNOTATION"];

/// Validates a score body (ingestion `score-create` and `POST /api/public/scores`),
/// returning the normalised body or the issues (paths start with `body.`).
pub fn validate_score_body(
    body: &Map<String, Value>,
    sources: &[&str],
) -> Result<Map<String, Value>, Vec<ValidationIssue>> {
    let mut c = BodyCheck::new(body);
    c.id("id", false);
    match body.get("name") {
        Some(Value::String(s)) if !s.is_empty() => {
            c.out.insert("name".into(), Value::String(s.clone()));
        }
        Some(Value::String(_)) => c.issue(
            "too_small",
            "name",
            "Too small: expected string to have >=1 characters",
        ),
        other => {
            let got = other.map(type_name).unwrap_or("undefined");
            let msg = format!("Invalid input: expected string, received {got}");
            c.issue("invalid_type", "name", msg);
        }
    }
    for key in [
        "traceId",
        "sessionId",
        "datasetRunId",
        "observationId",
        "comment",
        "configId",
        "queueId",
        "executionTraceId",
    ] {
        c.string(key);
    }
    c.environment();
    c.any("metadata");
    match body.get("source") {
        None | Some(Value::Null) => {
            c.out.insert("source".into(), json!("API"));
        }
        Some(_) => c.one_of("source", sources),
    }
    c.one_of(
        "dataType",
        &["NUMERIC", "CATEGORICAL", "BOOLEAN", "TEXT", "CORRECTION"],
    );
    let data_type = c
        .out
        .get("dataType")
        .and_then(Value::as_str)
        .map(str::to_string);
    let data_type = data_type.as_deref();
    let value = body.get("value");
    let value_ok = match (data_type, value) {
        (_, None) => Err("Invalid input: expected number or string, received undefined".into()),
        (Some("NUMERIC"), Some(Value::Number(_))) => Ok(()),
        (Some("NUMERIC"), Some(v)) => Err(format!(
            "Invalid input: expected number, received {}",
            type_name(v)
        )),
        (Some("BOOLEAN"), Some(Value::Number(n))) => match n.as_f64() {
            Some(x) if x == 0.0 || x == 1.0 => Ok(()),
            _ => Err("Value must be a number equal to either 0 or 1 for data type BOOLEAN".into()),
        },
        (Some("BOOLEAN"), Some(v)) => Err(format!(
            "Invalid input: expected number, received {}",
            type_name(v)
        )),
        (Some("CATEGORICAL" | "CORRECTION"), Some(Value::String(_))) => Ok(()),
        (Some("TEXT"), Some(Value::String(s))) => match s.chars().count() {
            1..=500 => Ok(()),
            _ => Err("Text score values must be between 1 and 500 characters".into()),
        },
        (Some("CATEGORICAL" | "CORRECTION" | "TEXT"), Some(v)) => Err(format!(
            "Invalid input: expected string, received {}",
            type_name(v)
        )),
        (_, Some(Value::Number(_) | Value::String(_))) => Ok(()),
        (_, Some(v)) => Err(format!(
            "Invalid input: expected number or string, received {}",
            type_name(v)
        )),
    };
    match value_ok {
        Ok(()) => {
            c.out
                .insert("value".into(), value.cloned().unwrap_or(Value::Null));
        }
        Err(msg) => c.issue("invalid_type", "value", msg),
    }
    if data_type == Some("CORRECTION") && c.out.get("configId").is_some_and(|v| !v.is_null()) {
        c.issue(
            "custom",
            "configId",
            "configId cannot be set for CORRECTION scores",
        );
    }
    // Exactly one target; an observation needs its trace.
    let out = &c.out;
    let set = |k: &str| out.get(k).is_some_and(|v| !v.is_null());
    let targets = ["traceId", "sessionId", "datasetRunId"]
        .iter()
        .filter(|k| set(k))
        .count();
    let observation_without_trace = set("observationId") && !set("traceId");
    if targets != 1 {
        c.issues.push(ValidationIssue::new(
            "custom",
            "body",
            "Exactly one of traceId, sessionId or datasetRunId must be provided",
        ));
    }
    if observation_without_trace {
        c.issues.push(ValidationIssue::new(
            "custom",
            "body.observationId",
            "observationId requires traceId to be set",
        ));
    }
    if c.issues.is_empty() {
        Ok(c.out)
    } else {
        Err(c.issues)
    }
}

/// Validates a body of `shape`; returns the normalised body or the issues.
fn validate_body(
    shape: BodyShape,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, Vec<ValidationIssue>> {
    if shape == BodyShape::Score {
        return validate_score_body(body, SCORE_SOURCES_INGESTION);
    }
    let mut c = BodyCheck::new(body);
    match shape {
        BodyShape::Trace => {
            c.id("id", false);
            c.datetime("timestamp");
            c.string_max("name", 1000);
            c.string("externalId");
            c.any("input");
            c.any("output");
            c.string("sessionId");
            c.string("userId");
            c.environment();
            c.any("metadata");
            c.string("release");
            c.string("version");
            c.boolean("public");
            c.string_array("tags");
            c.out.remove("externalId"); // accepted, never stored
        }
        BodyShape::Event | BodyShape::Span | BodyShape::Generation => {
            c.id("id", true);
            c.observation_common();
            if shape != BodyShape::Event {
                c.datetime("endTime");
            }
            if shape == BodyShape::Generation {
                c.generation_fields();
                c.prompt();
            }
        }
        BodyShape::LegacyObservation => {
            c.id("id", false);
            match body.get("type") {
                Some(Value::String(t)) if ["GENERATION", "SPAN", "EVENT"].contains(&t.as_str()) => {
                    c.out.insert("type".into(), Value::String(t.clone()));
                }
                _ => c.issue(
                    "invalid_value",
                    "type",
                    "Invalid option: expected one of \"GENERATION\"|\"SPAN\"|\"EVENT\"",
                ),
            }
            c.observation_common();
            c.generation_fields();
        }
        BodyShape::SdkLog => {
            if !body.contains_key("log") {
                c.issue(
                    "invalid_type",
                    "log",
                    "Invalid input: expected JSON, received undefined",
                );
            }
        }
        BodyShape::Score => unreachable!("handled above"),
    }
    if c.issues.is_empty() {
        Ok(c.out)
    } else {
        Err(c.issues)
    }
}

/// Validates one envelope as Langfuse does (schema first, then the caller's access).
pub fn validate_event(raw: &Value, access: Access) -> Result<Validated, Rejection> {
    let reject = |event_id: String, issues: Vec<ValidationIssue>| Rejection {
        event_id,
        status: 400,
        issues,
    };
    let Some(env) = raw.as_object() else {
        return Err(reject(
            "unknown".into(),
            vec![ValidationIssue::new(
                "invalid_type",
                "",
                format!(
                    "Invalid input: expected object, received {}",
                    type_name(raw)
                ),
            )],
        ));
    };
    // The id reported in the answer: the envelope id when it is a string.
    let reported_id = env
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown")
        .to_string();
    let mut issues = Vec::new();
    let event_id = match env.get("id") {
        Some(Value::String(s)) => match id_problem(s) {
            Some((code, msg)) => {
                issues.push(ValidationIssue::new(code, "id", msg));
                None
            }
            None => Some(s.clone()),
        },
        other => {
            let got = other.map(type_name).unwrap_or("undefined");
            issues.push(ValidationIssue::new(
                "invalid_type",
                "id",
                format!("Invalid input: expected string, received {got}"),
            ));
            None
        }
    };
    let timestamp = match env.get("timestamp") {
        Some(Value::String(s)) => match parse_timestamp(s) {
            Some(t) => Some(t),
            None => {
                issues.push(ValidationIssue::new(
                    "invalid_format",
                    "timestamp",
                    "Invalid ISO datetime (an offset such as Z or +01:00 is required)",
                ));
                None
            }
        },
        other => {
            let got = other.map(type_name).unwrap_or("undefined");
            issues.push(ValidationIssue::new(
                "invalid_type",
                "timestamp",
                format!("Invalid input: expected string, received {got}"),
            ));
            None
        }
    };
    let event_type = match env.get("type").and_then(Value::as_str) {
        Some(t) => EventType::parse(t),
        None => None,
    };
    let Some(event_type) = event_type else {
        let allowed = ALL_TYPES
            .iter()
            .map(|t| format!("\"{}\"", t.as_str()))
            .collect::<Vec<_>>()
            .join("|");
        issues.push(ValidationIssue::new(
            "invalid_union",
            "type",
            format!("Invalid discriminator value: expected {allowed}"),
        ));
        return Err(reject(reported_id, issues));
    };
    let body = match env.get("body") {
        Some(Value::Object(b)) => Some(b),
        other => {
            let got = other.map(type_name).unwrap_or("undefined");
            issues.push(ValidationIssue::new(
                "invalid_type",
                "body",
                format!("Invalid input: expected object, received {got}"),
            ));
            None
        }
    };
    let normalized = body.map(|b| validate_body(event_type.body_shape(), b));
    if let Some(Err(body_issues)) = &normalized {
        issues.extend(body_issues.iter().cloned());
    }
    if !issues.is_empty() {
        return Err(reject(reported_id, issues));
    }
    let (Some(event_id), Some(timestamp), Some(Ok(body))) = (event_id, timestamp, normalized)
    else {
        unreachable!("no issues means every part parsed");
    };
    if access == Access::ScoresOnly && !event_type.allowed_for_scores_only() {
        return Err(Rejection {
            event_id,
            status: 401,
            issues: Vec::new(),
        });
    }
    let Some(kind) = event_type.entity_kind() else {
        // sdk-log: Langfuse logs it and reports success.
        tracing::info!(event_id = %event_id, "sdk-log event received");
        return Ok(Validated::Accept { event_id });
    };
    // A body without an id is reported as a success but never stored (§4.4).
    let Some(entity_id) = body.get("id").and_then(Value::as_str).map(str::to_string) else {
        return Ok(Validated::Accept { event_id });
    };
    Ok(Validated::Store(ValidEvent {
        kind,
        entity_id,
        event_id,
        event_type,
        timestamp,
        body,
    }))
}

/// Removes NUL characters from every string (keys included): PostgreSQL cannot store
/// them in `text` or `jsonb`, and dropping them is better than refusing the event.
pub fn strip_nul(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('\0') => s.retain(|c| c != '\0'),
        Value::Array(a) => a.iter_mut().for_each(strip_nul),
        Value::Object(m) => {
            if m.keys().any(|k| k.contains('\0')) {
                let old = std::mem::take(m);
                for (k, v) in old {
                    m.insert(k.replace('\0', ""), v);
                }
            }
            m.values_mut().for_each(strip_nul);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(t: &str, body: Value) -> Value {
        json!({"id": "e1", "timestamp": "2024-01-01T00:00:00Z", "type": t, "body": body})
    }

    #[test]
    fn environments_are_normalised_never_rejected() {
        let n = |s: &str| normalize_environment(Some(&json!(s)));
        assert_eq!(n("Production"), "production");
        assert_eq!(n("langfuse-prod"), "prod");
        assert_eq!(n("langfuse_langfuse-x"), "x");
        assert_eq!(n("langfuse"), "default");
        assert_eq!(n("has space"), "default");
        assert_eq!(n(&"a".repeat(50)), "a".repeat(40));
        assert_eq!(normalize_environment(None), "default");
        assert_eq!(normalize_environment(Some(&json!(3))), "default");
    }

    #[test]
    fn timestamps_need_an_offset_and_keep_milliseconds() {
        let t = parse_timestamp("2024-01-01T01:00:00.123456+01:00").unwrap();
        assert_eq!(format_timestamp(&t), "2024-01-01T00:00:00.123Z");
        assert_eq!(
            parse_timestamp("2024-01-01T01:00:00+0100"),
            parse_timestamp("2024-01-01T00:00:00Z")
        );
        assert_eq!(
            parse_timestamp("2024-01-01T01:00:00+01"),
            parse_timestamp("2024-01-01T00:00:00Z")
        );
        assert!(parse_timestamp("2024-01-01T00:00:00").is_none());
        assert!(parse_timestamp("2024-01-01").is_none());
        assert!(parse_timestamp("yesterday").is_none());
    }

    #[test]
    fn unknown_keys_are_dropped_and_nulls_kept() {
        let v = validate_event(
            &env(
                "span-create",
                json!({"id": "s", "name": null, "trace": {"x": 1}, "release": "r"}),
            ),
            Access::Full,
        )
        .unwrap();
        let Validated::Store(e) = v else { panic!() };
        assert_eq!(e.kind, EntityKind::Observation);
        assert!(!e.body.contains_key("trace") && !e.body.contains_key("release"));
        assert_eq!(e.body.get("name"), Some(&Value::Null));
        assert_eq!(e.body["environment"], "default");
    }

    #[test]
    fn bad_events_name_the_problem() {
        let cases = [
            (
                json!({"timestamp": "2024-01-01T00:00:00Z", "type": "trace-create", "body": {}}),
                "id",
            ),
            (
                json!({"id": "x", "timestamp": "2024-01-01T00:00:00", "type": "trace-create", "body": {}}),
                "timestamp",
            ),
            (
                json!({"id": "x", "timestamp": "2024-01-01T00:00:00Z", "type": "nope", "body": {}}),
                "type",
            ),
            (
                json!({"id": "x", "timestamp": "2024-01-01T00:00:00Z", "type": "span-create", "body": 1}),
                "body",
            ),
            (env("span-create", json!({})), "body.id"),
            (env("span-create", json!({"id": ""})), "body.id"),
            (env("span-create", json!({"id": "a\rb"})), "body.id"),
            (
                env("span-create", json!({"id": "x".repeat(801)})),
                "body.id",
            ),
            (
                env(
                    "span-create",
                    json!({"id": "s", "startTime": "2024-01-01 00:00"}),
                ),
                "body.startTime",
            ),
            (
                env("span-create", json!({"id": "s", "level": "LOUD"})),
                "body.level",
            ),
            (
                env("generation-create", json!({"id": "g", "promptName": "p"})),
                "body",
            ),
            (
                env("generation-create", json!({"id": "g", "promptVersion": 2})),
                "body",
            ),
            (
                env(
                    "generation-create",
                    json!({"id": "g", "usage": {"input": 1.5}}),
                ),
                "body.usage.input",
            ),
            (
                env(
                    "generation-create",
                    json!({"id": "g", "modelParameters": {"a": [1]}}),
                ),
                "body.modelParameters.a",
            ),
            (
                env("trace-create", json!({"id": "t", "tags": ["a", 1]})),
                "body.tags.1",
            ),
            (
                env("trace-create", json!({"id": "t", "name": "n".repeat(1001)})),
                "body.name",
            ),
            (
                env("trace-create", json!({"id": "t", "public": "yes"})),
                "body.public",
            ),
            (
                env(
                    "score-create",
                    json!({"id": "s", "traceId": "t", "value": 1}),
                ),
                "body.name",
            ),
            (
                env("score-create", json!({"name": "n", "value": 1})),
                "body",
            ),
            (
                env(
                    "score-create",
                    json!({"name": "n", "traceId": "t", "sessionId": "s", "value": 1}),
                ),
                "body",
            ),
            (
                env(
                    "score-create",
                    json!({"name": "n", "sessionId": "s", "observationId": "o", "value": 1}),
                ),
                "body.observationId",
            ),
            (
                env(
                    "score-create",
                    json!({"name": "n", "traceId": "t", "value": 2, "dataType": "BOOLEAN"}),
                ),
                "body.value",
            ),
            (
                env(
                    "score-create",
                    json!({"name": "n", "traceId": "t", "value": "x", "dataType": "NUMERIC"}),
                ),
                "body.value",
            ),
            (
                env(
                    "score-create",
                    json!({"name": "n", "traceId": "t", "value": 1, "dataType": "CATEGORICAL"}),
                ),
                "body.value",
            ),
            (
                env(
                    "score-create",
                    json!({"name": "n", "traceId": "t", "value": ""  , "dataType": "TEXT"}),
                ),
                "body.value",
            ),
            (
                env(
                    "score-create",
                    json!({"name": "n", "traceId": "t", "value": 1, "source": "USER"}),
                ),
                "body.source",
            ),
            (
                env("observation-create", json!({"id": "o", "type": "TOOL"})),
                "body.type",
            ),
            (env("sdk-log", json!({})), "body.log"),
        ];
        for (raw, path) in cases {
            let err = validate_event(&raw, Access::Full).expect_err(&raw.to_string());
            assert_eq!(err.status, 400);
            let paths: Vec<String> = err
                .issues
                .iter()
                .map(|i| {
                    i.path
                        .iter()
                        .map(|p| p.to_string().trim_matches('"').to_string())
                        .collect::<Vec<_>>()
                        .join(".")
                })
                .collect();
            assert!(paths.contains(&path.to_string()), "{raw}: {paths:?}");
        }
    }

    #[test]
    fn missing_body_ids_are_accepted_but_not_stored() {
        for t in ["trace-create", "score-create"] {
            let body = if t == "trace-create" {
                json!({"name": "x"})
            } else {
                json!({"name": "x", "traceId": "t", "value": 1})
            };
            assert_eq!(
                validate_event(&env(t, body), Access::Full).unwrap(),
                Validated::Accept {
                    event_id: "e1".into()
                }
            );
        }
        assert!(matches!(
            validate_event(&env("sdk-log", json!({"log": "hi"})), Access::ScoresOnly).unwrap(),
            Validated::Accept { .. }
        ));
    }

    #[test]
    fn public_key_alone_may_only_send_scores() {
        let e = validate_event(&env("trace-create", json!({"id": "t"})), Access::ScoresOnly)
            .unwrap_err();
        assert_eq!((e.status, e.event_id.as_str()), (401, "e1"));
        assert!(validate_event(
            &env(
                "score-create",
                json!({"id": "s", "name": "n", "traceId": "t", "value": 1})
            ),
            Access::ScoresOnly
        )
        .is_ok());
    }

    #[test]
    fn nul_characters_are_removed() {
        let mut v = json!({"a\u{0}": ["x\u{0}y", {"k": "\u{0}"}]});
        strip_nul(&mut v);
        assert_eq!(v, json!({"a": ["xy", {"k": ""}]}));
    }
}
