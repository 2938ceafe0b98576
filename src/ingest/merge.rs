//! Folding an entity's logged events into its row (COMPAT-NOTES §4.5).
//!
//! Events are applied in envelope-timestamp order, creates before other types on equal
//! timestamps, then in arrival order. Rules: a later present value replaces an earlier
//! one (explicit `null` replaces only where Langfuse maps it without a null guard);
//! immutable fields keep their first value (observations prefer their create event);
//! metadata keys are unioned (objects deep-merged); trace tags are unioned and sorted;
//! `input`/`output` come from the latest event with a truthy value; `public` absent keeps
//! the previous value (a deliberate deviation: Langfuse resets it to false).
//! Everything here is pure: no I/O, so it is unit-tested below.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::event::{parse_timestamp, EventType};
pub use crate::store::ingest::{MergedObservation, MergedScore, MergedTrace};

/// One event of the log, as the fold needs it.
#[derive(Debug, Clone)]
pub struct LoggedEvent {
    /// Event type.
    pub event_type: EventType,
    /// Envelope timestamp.
    pub timestamp: DateTime<Utc>,
    /// Arrival order.
    pub seq: i64,
    /// Normalised body.
    pub body: Map<String, Value>,
}

/// Sorts events into fold order.
pub fn sort_events(events: &mut [LoggedEvent]) {
    events.sort_by_key(|e| (e.timestamp, !e.event_type.is_create(), e.seq));
}

/// JavaScript truthiness (empty string, 0, false and null are "not provided").
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Metadata as an object: objects stay, null is absent, anything else is wrapped.
fn metadata_object(v: &Value) -> Option<Map<String, Value>> {
    match v {
        Value::Null => None,
        Value::Object(m) => Some(m.clone()),
        other => {
            let mut m = Map::new();
            m.insert("metadata".into(), other.clone());
            Some(m)
        }
    }
}

/// Deep merge: keys of `new` override `base`, objects merge recursively.
fn deep_merge(base: &mut Map<String, Value>, new: Map<String, Value>) {
    for (k, v) in new {
        match (base.get_mut(&k), v) {
            (Some(Value::Object(b)), Value::Object(n)) => deep_merge(b, n),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Shallow merge of usage/cost objects: later keys win, `{}` and null change nothing.
fn merge_map(slot: &mut Option<Value>, v: Option<&Value>) {
    let Some(Value::Object(new)) = v else { return };
    if new.is_empty() {
        return;
    }
    match slot {
        Some(Value::Object(old)) => {
            for (k, v) in new {
                old.insert(k.clone(), v.clone());
            }
        }
        _ => *slot = Some(Value::Object(new.clone())),
    }
}

/// Field access with Langfuse's absent/null distinction.
struct Body<'a>(&'a Map<String, Value>);

impl Body<'_> {
    /// Some(value) when present: null replaces (`Some(None)`).
    fn nullable_str(&self, k: &str) -> Option<Option<String>> {
        self.0.get(k).map(|v| v.as_str().map(str::to_string))
    }
    /// Present and non-null only.
    fn str(&self, k: &str) -> Option<String> {
        self.0.get(k).and_then(Value::as_str).map(str::to_string)
    }
    fn time(&self, k: &str) -> Option<DateTime<Utc>> {
        self.0
            .get(k)
            .and_then(Value::as_str)
            .and_then(parse_timestamp)
    }
    fn get(&self, k: &str) -> Option<&Value> {
        self.0.get(k)
    }
}

fn set_nullable(slot: &mut Option<String>, v: Option<Option<String>>) {
    if let Some(v) = v {
        *slot = v;
    }
}

fn set_present(slot: &mut Option<String>, v: Option<String>) {
    if v.is_some() {
        *slot = v;
    }
}

fn set_truthy(slot: &mut Option<Value>, v: Option<&Value>) {
    if let Some(v) = v.filter(|v| truthy(v)) {
        *slot = Some(v.clone());
    }
}

fn fold_metadata(acc: &mut Map<String, Value>, v: Option<&Value>) {
    if let Some(m) = v.and_then(metadata_object) {
        deep_merge(acc, m);
    }
}

/// Folds a trace's events (sorted with [`sort_events`]; at least one).
pub fn fold_trace(id: &str, events: &[LoggedEvent]) -> MergedTrace {
    let first = &events[0];
    let fb = Body(&first.body);
    let mut t = MergedTrace {
        id: id.to_string(),
        timestamp: fb.time("timestamp").unwrap_or(first.timestamp),
        name: None,
        user_id: None,
        session_id: None,
        release: None,
        version: None,
        environment: fb.str("environment").unwrap_or_else(|| "default".into()),
        public: None,
        tags: Vec::new(),
        input: None,
        output: None,
        metadata: Value::Null,
    };
    let mut tags = BTreeSet::new();
    let mut metadata = Map::new();
    for e in events {
        let b = Body(&e.body);
        set_nullable(&mut t.name, b.nullable_str("name"));
        set_nullable(&mut t.user_id, b.nullable_str("userId"));
        set_nullable(&mut t.session_id, b.nullable_str("sessionId"));
        set_nullable(&mut t.release, b.nullable_str("release"));
        set_nullable(&mut t.version, b.nullable_str("version"));
        if let Some(p) = b.get("public").and_then(Value::as_bool) {
            t.public = Some(p);
        }
        if let Some(Value::Array(ts)) = b.get("tags") {
            tags.extend(ts.iter().filter_map(Value::as_str).map(str::to_string));
        }
        set_truthy(&mut t.input, b.get("input"));
        set_truthy(&mut t.output, b.get("output"));
        fold_metadata(&mut metadata, b.get("metadata"));
    }
    t.tags = tags.into_iter().collect();
    t.metadata = Value::Object(metadata);
    t
}

/// Folds an observation's events (sorted; at least one). `fallback_trace_id` is used
/// when no event names a trace (Langfuse generates a random one).
pub fn fold_observation(
    id: &str,
    events: &[LoggedEvent],
    fallback_trace_id: impl FnOnce() -> String,
) -> MergedObservation {
    // Immutables come from the first create (or the first event when there is none).
    let anchor = events
        .iter()
        .find(|e| e.event_type.is_create())
        .unwrap_or(&events[0]);
    let ab = Body(&anchor.body);
    let trace_id = ab
        .str("traceId")
        .or_else(|| events.iter().find_map(|e| Body(&e.body).str("traceId")))
        .unwrap_or_else(fallback_trace_id);
    let mut o = MergedObservation {
        id: id.to_string(),
        trace_id,
        parent_observation_id: None,
        r#type: "SPAN".into(),
        name: None,
        start_time: ab.time("startTime").unwrap_or(anchor.timestamp),
        end_time: None,
        completion_start_time: None,
        environment: ab.str("environment").unwrap_or_else(|| "default".into()),
        version: None,
        level: "DEFAULT".into(),
        status_message: None,
        input: None,
        output: None,
        metadata: Value::Null,
        model: None,
        model_parameters: None,
        usage: None,
        usage_details: None,
        cost_details: None,
        prompt_name: None,
        prompt_version: None,
    };
    let mut metadata = Map::new();
    let mut level: Option<String> = None;
    for e in events {
        let b = Body(&e.body);
        o.r#type = match e.event_type.observation_type() {
            Some(t) => t.to_string(),
            None => b.str("type").unwrap_or_else(|| o.r#type.clone()),
        };
        set_nullable(&mut o.name, b.nullable_str("name"));
        set_nullable(&mut level, b.nullable_str("level"));
        set_nullable(&mut o.model, b.nullable_str("model"));
        set_present(&mut o.status_message, b.str("statusMessage"));
        set_present(&mut o.parent_observation_id, b.str("parentObservationId"));
        set_present(&mut o.version, b.str("version"));
        if let Some(t) = b.time("endTime") {
            o.end_time = Some(t);
        }
        if let Some(t) = b.time("completionStartTime") {
            o.completion_start_time = Some(t);
        }
        if let Some(p) = b.get("modelParameters").filter(|v| !v.is_null()) {
            o.model_parameters = Some(p.clone());
        }
        set_truthy(&mut o.input, b.get("input"));
        set_truthy(&mut o.output, b.get("output"));
        fold_metadata(&mut metadata, b.get("metadata"));
        merge_map(&mut o.usage, b.get("usage"));
        merge_map(&mut o.usage_details, b.get("usageDetails"));
        merge_map(&mut o.cost_details, b.get("costDetails"));
        let prompt_version = b.get("promptVersion").and_then(Value::as_i64);
        if let (Some(name), Some(v)) = (b.str("promptName"), prompt_version) {
            o.prompt_name = Some(name);
            o.prompt_version = i32::try_from(v).ok();
        }
    }
    o.level = level.unwrap_or_else(|| "DEFAULT".into());
    o.metadata = Value::Object(metadata);
    if let Some(end) = o.end_time {
        if end < o.start_time {
            o.end_time = Some(o.start_time);
        }
    }
    o
}

/// Folds a score's events (sorted; at least one) and inflates its value.
pub fn fold_score(id: &str, events: &[LoggedEvent]) -> MergedScore {
    let first = &events[0];
    let fb = Body(&first.body);
    let mut merged = Map::new();
    let mut metadata = Map::new();
    for e in events {
        for (k, v) in &e.body {
            if k == "metadata" {
                fold_metadata(&mut metadata, Some(v));
            } else if !v.is_null() {
                merged.insert(k.clone(), v.clone());
            }
        }
    }
    let b = Body(&merged);
    let data_type = b.str("dataType");
    let value = b.get("value").cloned().unwrap_or(Value::Null);
    let (data_type, value, string_value, long_string_value, name) =
        match (data_type.as_deref(), &value) {
            (Some("BOOLEAN"), v) => {
                let x = v.as_f64().unwrap_or(0.0);
                let text = if x == 1.0 { "True" } else { "False" };
                ("BOOLEAN", Some(x), Some(text.to_string()), None, None)
            }
            (Some("TEXT"), v) => (
                "TEXT",
                Some(0.0),
                v.as_str().map(str::to_string),
                None,
                None,
            ),
            (Some("CORRECTION"), v) => (
                "CORRECTION",
                Some(0.0),
                None,
                v.as_str().map(str::to_string),
                Some("output".to_string()),
            ),
            (Some("CATEGORICAL"), v) | (None, v @ Value::String(_)) => (
                "CATEGORICAL",
                Some(0.0),
                v.as_str().map(str::to_string),
                None,
                None,
            ),
            (_, v) => ("NUMERIC", v.as_f64(), None, None, None),
        };
    MergedScore {
        id: id.to_string(),
        timestamp: first.timestamp,
        name: name.or_else(|| b.str("name")).unwrap_or_default(),
        value,
        string_value,
        long_string_value,
        data_type: data_type.to_string(),
        source: b.str("source").unwrap_or_else(|| "API".into()),
        comment: b.str("comment"),
        metadata: Value::Object(metadata),
        config_id: b.str("configId"),
        queue_id: b.str("queueId"),
        execution_trace_id: b.str("executionTraceId"),
        trace_id: fb.str("traceId").or_else(|| b.str("traceId")),
        observation_id: b.str("observationId"),
        session_id: b.str("sessionId"),
        dataset_run_id: b.str("datasetRunId"),
        environment: fb.str("environment").unwrap_or_else(|| "default".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(t: EventType, ts: &str, seq: i64, body: Value) -> LoggedEvent {
        LoggedEvent {
            event_type: t,
            timestamp: parse_timestamp(ts).unwrap(),
            seq,
            body: body.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn creates_sort_first_on_equal_timestamps_then_arrival() {
        let mut v = vec![
            ev(EventType::SpanUpdate, "2024-01-01T00:00:00Z", 1, json!({})),
            ev(EventType::SpanCreate, "2024-01-01T00:00:00Z", 2, json!({})),
            ev(EventType::SpanUpdate, "2023-12-31T00:00:00Z", 3, json!({})),
        ];
        sort_events(&mut v);
        let seqs: Vec<i64> = v.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [3, 2, 1]);
    }

    #[test]
    fn trace_fold_follows_langfuse_rules() {
        let mut v = vec![
            ev(
                EventType::TraceCreate,
                "2024-01-01T00:00:01Z",
                2,
                json!({"name": "second", "tags": ["b", "a"], "input": "", "public": null,
                       "metadata": {"k": {"y": 2}, "z": 1}, "environment": "prod", "userId": null}),
            ),
            ev(
                EventType::TraceCreate,
                "2024-01-01T00:00:00Z",
                1,
                json!({"name": "first", "tags": ["c", "a"], "input": {"q": 1}, "public": true,
                       "metadata": {"k": {"x": 1}}, "environment": "dev", "userId": "u",
                       "timestamp": "2023-06-01T00:00:00.000Z"}),
            ),
        ];
        sort_events(&mut v);
        let t = fold_trace("t", &v);
        assert_eq!(t.name.as_deref(), Some("second"));
        assert_eq!(t.user_id, None, "explicit null replaces userId");
        assert_eq!(t.tags, ["a", "b", "c"]);
        assert_eq!(t.input, Some(json!({"q": 1})), "empty string is not truthy");
        assert_eq!(t.public, Some(true), "null/absent public keeps");
        assert_eq!(t.metadata, json!({"k": {"x": 1, "y": 2}, "z": 1}));
        assert_eq!(t.environment, "dev");
        assert_eq!(
            t.timestamp,
            parse_timestamp("2023-06-01T00:00:00Z").unwrap()
        );
    }

    #[test]
    fn observation_prefers_the_create_for_immutables_and_clamps_end() {
        let mut v = vec![
            ev(
                EventType::GenerationUpdate,
                "2024-01-01T00:00:00Z",
                1,
                json!({"startTime": "2024-01-01T00:00:00.000Z", "traceId": "t2", "output": "done",
                       "endTime": "2023-01-01T00:00:00.000Z", "environment": "late",
                       "usageDetails": {"output": 5}, "statusMessage": null}),
            ),
            ev(
                EventType::GenerationCreate,
                "2024-01-01T00:00:05Z",
                2,
                json!({"startTime": "2024-01-01T00:00:05.000Z", "traceId": "t1", "input": "q",
                       "output": 0, "environment": "early", "usageDetails": {"input": 3},
                       "statusMessage": "ok", "metadata": "plain", "promptName": "p", "promptVersion": 2}),
            ),
        ];
        sort_events(&mut v);
        let o = fold_observation("o", &v, || unreachable!("trace ids are given"));
        assert_eq!(o.trace_id, "t1");
        assert_eq!(o.environment, "early");
        assert_eq!(
            o.start_time,
            parse_timestamp("2024-01-01T00:00:05Z").unwrap()
        );
        assert_eq!(
            o.end_time,
            Some(o.start_time),
            "end before start is clamped"
        );
        assert_eq!(o.output, Some(json!("done")), "0 is not truthy");
        assert_eq!(o.usage_details, Some(json!({"input": 3, "output": 5})));
        assert_eq!(o.status_message.as_deref(), Some("ok"));
        assert_eq!(o.metadata, json!({"metadata": "plain"}));
        assert_eq!(o.r#type, "GENERATION");
        assert_eq!(
            (o.prompt_name.as_deref(), o.prompt_version),
            (Some("p"), Some(2))
        );
    }

    #[test]
    fn observation_without_trace_uses_the_fallback_and_last_type_wins() {
        let v = vec![
            ev(
                EventType::GenerationCreate,
                "2024-01-01T00:00:00Z",
                1,
                json!({}),
            ),
            ev(
                EventType::ObservationUpdate,
                "2024-01-01T00:00:01Z",
                2,
                json!({"type": "EVENT", "level": "ERROR"}),
            ),
        ];
        let o = fold_observation("o", &v, || "generated".into());
        assert_eq!(
            (o.trace_id.as_str(), o.r#type.as_str(), o.level.as_str()),
            ("generated", "EVENT", "ERROR")
        );
    }

    #[test]
    fn scores_inflate_like_langfuse() {
        let s = |body: Value| {
            fold_score(
                "s",
                &[ev(EventType::ScoreCreate, "2024-01-01T00:00:00Z", 1, body)],
            )
        };
        let b = s(json!({"name": "n", "value": 1, "dataType": "BOOLEAN"}));
        assert_eq!(
            (b.value, b.string_value.as_deref()),
            (Some(1.0), Some("True"))
        );
        let c = s(json!({"name": "n", "value": "good"}));
        assert_eq!(
            (c.data_type.as_str(), c.string_value.as_deref()),
            ("CATEGORICAL", Some("good"))
        );
        let n = s(json!({"name": "n", "value": 0.5}));
        assert_eq!((n.data_type.as_str(), n.value), ("NUMERIC", Some(0.5)));
        let k = s(json!({"name": "n", "value": "fixed", "dataType": "CORRECTION"}));
        assert_eq!(
            (k.name.as_str(), k.long_string_value.as_deref()),
            ("output", Some("fixed"))
        );
    }
}
