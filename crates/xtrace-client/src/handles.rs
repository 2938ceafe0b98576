//! Ergonomic tracing on top of the [`Exporter`]: start a trace, nest spans and
//! generations, end them with output and usage. Every call only enqueues events; none
//! waits for the network.

use chrono::Utc;
use serde_json::Value;

use crate::events::{
    new_id, IngestionEvent, ObservationBody, ScoreBody, ScoreValue, TraceBody, Usage,
};
use crate::exporter::Exporter;

impl Exporter {
    /// Starts a trace named `name` (a `trace-create` event with a fresh id, stamped now).
    pub fn trace(&self, name: impl Into<String>) -> TraceHandle {
        self.trace_with(TraceBody {
            name: Some(name.into()),
            ..TraceBody::default()
        })
    }

    /// Starts a trace from a body; `id` and `timestamp` are filled when absent.
    pub fn trace_with(&self, mut body: TraceBody) -> TraceHandle {
        let id = body.id.get_or_insert_with(new_id).clone();
        body.timestamp.get_or_insert_with(Utc::now);
        self.enqueue(IngestionEvent::trace(body));
        TraceHandle {
            id,
            exporter: self.clone(),
        }
    }
}

/// A started trace.
#[derive(Debug, Clone)]
pub struct TraceHandle {
    id: String,
    exporter: Exporter,
}

impl TraceHandle {
    /// The trace id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Updates the trace with the fields set in `body` (its id is this trace's).
    pub fn update(&self, mut body: TraceBody) {
        body.id = Some(self.id.clone());
        self.exporter.enqueue(IngestionEvent::trace(body));
    }

    /// Sets the trace's output.
    pub fn end(&self, output: Value) {
        self.update(TraceBody {
            output: Some(output),
            ..TraceBody::default()
        });
    }

    /// Starts a top-level span.
    pub fn span(&self, name: impl Into<String>) -> SpanHandle {
        self.span_with(named(name))
    }

    /// Starts a top-level span from a body (`id`, `trace_id`, `start_time` filled in).
    pub fn span_with(&self, body: ObservationBody) -> SpanHandle {
        start_span(&self.exporter, &self.id, None, body)
    }

    /// Starts a top-level generation of `model`.
    pub fn generation(
        &self,
        name: impl Into<String>,
        model: impl Into<String>,
    ) -> GenerationHandle {
        let mut body = named(name);
        body.model = Some(model.into());
        self.generation_with(body)
    }

    /// Starts a top-level generation from a body.
    pub fn generation_with(&self, body: ObservationBody) -> GenerationHandle {
        start_generation(&self.exporter, &self.id, None, body)
    }

    /// Records a point-in-time event in the trace; returns its id.
    pub fn event(&self, name: impl Into<String>, input: Option<Value>) -> String {
        let mut body = named(name);
        body.input = input;
        record_event(&self.exporter, &self.id, None, body)
    }

    /// Scores the trace; returns the score id.
    pub fn score(&self, name: impl Into<String>, value: impl Into<ScoreValue>) -> String {
        let body = ScoreBody::for_trace(self.id.clone(), name, value);
        let id = body.id.clone().unwrap_or_default();
        self.exporter.enqueue(IngestionEvent::score(body));
        id
    }
}

/// A started span.
#[derive(Debug, Clone)]
pub struct SpanHandle {
    id: String,
    trace_id: String,
    exporter: Exporter,
}

impl SpanHandle {
    /// The observation id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The trace id.
    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    /// Starts a child span.
    pub fn span(&self, name: impl Into<String>) -> SpanHandle {
        start_span(&self.exporter, &self.trace_id, Some(&self.id), named(name))
    }

    /// Starts a child span from a body.
    pub fn span_with(&self, body: ObservationBody) -> SpanHandle {
        start_span(&self.exporter, &self.trace_id, Some(&self.id), body)
    }

    /// Starts a child generation of `model`.
    pub fn generation(
        &self,
        name: impl Into<String>,
        model: impl Into<String>,
    ) -> GenerationHandle {
        let mut body = named(name);
        body.model = Some(model.into());
        start_generation(&self.exporter, &self.trace_id, Some(&self.id), body)
    }

    /// Starts a child generation from a body.
    pub fn generation_with(&self, body: ObservationBody) -> GenerationHandle {
        start_generation(&self.exporter, &self.trace_id, Some(&self.id), body)
    }

    /// Records a child event; returns its id.
    pub fn event(&self, name: impl Into<String>, input: Option<Value>) -> String {
        let mut body = named(name);
        body.input = input;
        record_event(&self.exporter, &self.trace_id, Some(&self.id), body)
    }

    /// Sends a `span-update` with the fields set in `body`.
    pub fn update(&self, body: ObservationBody) {
        self.exporter
            .enqueue(IngestionEvent::span_update(self.own(body)));
    }

    /// Ends the span now.
    pub fn end(&self) {
        self.update(ObservationBody {
            end_time: Some(Utc::now()),
            ..ObservationBody::default()
        });
    }

    /// Ends the span now with an output.
    pub fn end_with_output(&self, output: Value) {
        self.update(ObservationBody {
            end_time: Some(Utc::now()),
            output: Some(output),
            ..ObservationBody::default()
        });
    }

    fn own(&self, mut body: ObservationBody) -> ObservationBody {
        body.id = Some(self.id.clone());
        body.trace_id = Some(self.trace_id.clone());
        body
    }
}

/// A started generation (an LLM call).
#[derive(Debug, Clone)]
pub struct GenerationHandle {
    id: String,
    trace_id: String,
    exporter: Exporter,
}

impl GenerationHandle {
    /// The observation id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The trace id.
    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    /// Sends a `generation-update` with the fields set in `body`.
    pub fn update(&self, mut body: ObservationBody) {
        body.id = Some(self.id.clone());
        body.trace_id = Some(self.trace_id.clone());
        self.exporter
            .enqueue(IngestionEvent::generation_update(body));
    }

    /// Records the time of the first token (streaming).
    pub fn first_token(&self) {
        self.update(ObservationBody {
            completion_start_time: Some(Utc::now()),
            ..ObservationBody::default()
        });
    }

    /// Ends the generation now.
    pub fn end(&self) {
        self.update(ObservationBody {
            end_time: Some(Utc::now()),
            ..ObservationBody::default()
        });
    }

    /// Ends the generation now with its output and usage (cost is derived by the server
    /// from the model unless `usage` carries costs).
    pub fn end_with(&self, output: Value, usage: Usage) {
        self.update(ObservationBody {
            end_time: Some(Utc::now()),
            output: Some(output),
            usage: Some(usage),
            ..ObservationBody::default()
        });
    }

    /// Scores this generation; returns the score id.
    pub fn score(&self, name: impl Into<String>, value: impl Into<ScoreValue>) -> String {
        let mut body = ScoreBody::for_trace(self.trace_id.clone(), name, value);
        body.observation_id = Some(self.id.clone());
        let id = body.id.clone().unwrap_or_default();
        self.exporter.enqueue(IngestionEvent::score(body));
        id
    }
}

fn named(name: impl Into<String>) -> ObservationBody {
    ObservationBody {
        name: Some(name.into()),
        ..ObservationBody::default()
    }
}

fn prepare(
    mut body: ObservationBody,
    trace_id: &str,
    parent: Option<&str>,
) -> (String, ObservationBody) {
    let id = body.id.get_or_insert_with(new_id).clone();
    body.trace_id = Some(trace_id.to_string());
    if body.parent_observation_id.is_none() {
        body.parent_observation_id = parent.map(str::to_string);
    }
    body.start_time.get_or_insert_with(Utc::now);
    (id, body)
}

fn start_span(
    ex: &Exporter,
    trace_id: &str,
    parent: Option<&str>,
    body: ObservationBody,
) -> SpanHandle {
    let (id, body) = prepare(body, trace_id, parent);
    ex.enqueue(IngestionEvent::span_create(body));
    SpanHandle {
        id,
        trace_id: trace_id.to_string(),
        exporter: ex.clone(),
    }
}

fn start_generation(
    ex: &Exporter,
    trace_id: &str,
    parent: Option<&str>,
    body: ObservationBody,
) -> GenerationHandle {
    let (id, body) = prepare(body, trace_id, parent);
    ex.enqueue(IngestionEvent::generation_create(body));
    GenerationHandle {
        id,
        trace_id: trace_id.to_string(),
        exporter: ex.clone(),
    }
}

fn record_event(
    ex: &Exporter,
    trace_id: &str,
    parent: Option<&str>,
    body: ObservationBody,
) -> String {
    let (id, body) = prepare(body, trace_id, parent);
    ex.enqueue(IngestionEvent::event(body));
    id
}
