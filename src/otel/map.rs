//! OTLP spans → Langfuse ingestion events, as Langfuse's OtelIngestionProcessor builds them
//! (COMPAT-NOTES §5.3): per span one `<type>-create` observation event, plus a
//! `trace-create` for root spans and spans carrying trace attributes; every other trace id
//! in the export gets a shallow `trace-create` (`id`, `timestamp`, `environment`) so that
//! OTel spans always create their trace. The events then go through the same merge as
//! the ingestion API, which makes split and out-of-order exports converge.
//!
//! Envelope ids are derived from the span's bytes, so an exporter retry of the same export
//! produces the same events.

use chrono::{DateTime, TimeZone, Utc};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::attributes::{js_stringify, present, to_attrs, Attrs};
use super::conventions::{self as conv, MetadataDomain};
use super::io::{self, Domain};
use super::types::{observation_type, ObservationType, TypeInput};
use crate::domain::time;

/// Everything about one span's surroundings the mapping needs.
struct Context<'a> {
    resource: &'a Attrs,
    resource_trace_metadata: &'a Attrs,
    scope_name: &'a str,
    scope_version: &'a str,
    scope_attrs: &'a Attrs,
    langfuse_sdk: bool,
}

/// Converts an export into Langfuse ingestion envelopes (`{id, timestamp, type, body}`).
/// `now` stamps the observation events (Langfuse uses the processing time there).
pub fn export_to_events(request: &ExportTraceServiceRequest, now: DateTime<Utc>) -> Vec<Value> {
    let mut trace_events: Vec<Value> = Vec::new();
    let mut observation_events: Vec<Value> = Vec::new();
    // Trace ids in first-seen order, with the shallow trace their first span would create;
    // `seen` keeps the membership test constant-time however many trace ids an export has.
    let mut shallow: Vec<(String, Value)> = Vec::new();
    let mut seen: std::collections::HashSet<String> = Default::default();
    let mut full_traces: std::collections::HashSet<String> = Default::default();

    for rs in &request.resource_spans {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| to_attrs(&r.attributes))
            .unwrap_or_default();
        let resource_trace_metadata = conv::metadata(&resource, MetadataDomain::Trace);
        for ss in &rs.scope_spans {
            let (scope_name, scope_version, scope_attrs) = match &ss.scope {
                Some(s) => (s.name.as_str(), s.version.as_str(), to_attrs(&s.attributes)),
                None => ("", "", Attrs::new()),
            };
            let ctx = Context {
                resource: &resource,
                resource_trace_metadata: &resource_trace_metadata,
                scope_name,
                scope_version,
                scope_attrs: &scope_attrs,
                langfuse_sdk: scope_name.starts_with("langfuse-sdk"),
            };
            for span in &ss.spans {
                let mapped = map_span(span, &ctx, now);
                if let Some(trace) = mapped.trace {
                    full_traces.insert(mapped.trace_id.clone());
                    trace_events.push(trace);
                } else if seen.insert(mapped.trace_id.clone()) {
                    shallow.push((mapped.trace_id.clone(), mapped.shallow));
                }
                observation_events.push(mapped.observation);
            }
        }
    }

    let mut events: Vec<Value> = shallow
        .into_iter()
        .filter(|(id, _)| !full_traces.contains(id))
        .map(|(_, ev)| ev)
        .collect();
    events.extend(trace_events);
    events.extend(observation_events);
    events
}

/// Most array slots the flattened-attribute rebuild (`gen_ai.prompt.N.…`) may allocate for
/// one export. Each numeric path segment makes its array as long as the largest index seen,
/// so a few bytes of key (`gen_ai.prompt.0.kN.9999.x`) can ask for thousands of slots.
pub const MAX_FLATTENED_ELEMENTS: usize = 200_000;

/// An export whose mapping would exceed a budget; answered 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BudgetError(pub String);

/// Checks, before mapping, that rebuilding flattened message attributes stays within
/// [`MAX_FLATTENED_ELEMENTS`]. The bound is exact for the arrays the rebuild creates: one
/// array per distinct parent path of a numeric segment, as long as its largest index + 1.
pub fn check_budget(request: &ExportTraceServiceRequest) -> Result<(), BudgetError> {
    const PREFIXES: [&str; 4] = [
        "gen_ai.prompt",
        "gen_ai.completion",
        "llm.input_messages",
        "llm.output_messages",
    ];
    let mut total: usize = 0;
    for rs in &request.resource_spans {
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                let mut arrays: std::collections::HashMap<&str, usize> = Default::default();
                for kv in &span.attributes {
                    let key = kv.key.as_str();
                    if !PREFIXES.iter().any(|p| key.starts_with(p)) {
                        continue;
                    }
                    let mut end = 0;
                    for segment in key.split('.') {
                        let digits = segment.bytes().take_while(u8::is_ascii_digit).count();
                        if digits > 0 {
                            // Indices above the rebuild's own cap are skipped by it.
                            let index: usize = segment[..digits].parse().unwrap_or(usize::MAX);
                            if index <= io::MAX_FLATTENED_INDEX {
                                let parent = &key[..end.max(1) - 1];
                                let slots = arrays.entry(parent).or_default();
                                if index + 1 > *slots {
                                    total = total.saturating_add(index + 1 - *slots);
                                    *slots = index + 1;
                                }
                            }
                        }
                        end += segment.len() + 1;
                    }
                    if total > MAX_FLATTENED_ELEMENTS {
                        return Err(BudgetError(format!(
                            "Span {} has flattened attributes that would allocate more than \
                             {MAX_FLATTENED_ELEMENTS} array elements",
                            hex::encode(&span.span_id)
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

struct MappedSpan {
    trace_id: String,
    trace: Option<Value>,
    shallow: Value,
    observation: Value,
}

fn nanos_to_time(nanos: u64) -> Option<DateTime<Utc>> {
    if nanos == 0 {
        return None;
    }
    let ms = i64::try_from(nanos / 1_000_000).ok()?;
    Utc.timestamp_millis_opt(ms).single()
}

/// A stable envelope id from the event kind and the span's canonical bytes.
fn envelope_id(kind: &str, trace_id: &str, span_id: &str, span_bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [kind.as_bytes(), trace_id.as_bytes(), span_id.as_bytes()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.update(span_bytes);
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Uuid::from_bytes(bytes).to_string()
}

fn envelope(id: String, kind: &str, timestamp: DateTime<Utc>, body: Map<String, Value>) -> Value {
    json!({
        "id": id,
        "timestamp": time::format(&timestamp),
        "type": kind,
        "body": Value::Object(body),
    })
}

fn opt_string(v: Option<String>) -> Value {
    v.map(Value::String).unwrap_or(Value::Null)
}

fn map_span(span: &Span, ctx: &Context<'_>, now: DateTime<Utc>) -> MappedSpan {
    let attrs = to_attrs(&span.attributes);
    let trace_id = hex::encode(&span.trace_id);
    let span_id = hex::encode(&span.span_id);
    let parent_id = (!span.parent_span_id.is_empty()).then(|| hex::encode(&span.parent_span_id));
    let start = nanos_to_time(span.start_time_unix_nano);
    let end = nanos_to_time(span.end_time_unix_nano);
    let start = start.or(end).unwrap_or(now);
    let end = end.unwrap_or(start);
    let span_bytes = span.encode_to_vec();
    let environment = conv::environment(&attrs, ctx.resource);

    let as_root =
        present(attrs.get("langfuse.internal.as_root")).is_some_and(|v| js_stringify(v) == "true");
    let is_root = parent_id.is_none() || as_root;
    let has_updates = conv::has_trace_updates(&attrs);

    let version = present(attrs.get("langfuse.version"))
        .or_else(|| present(ctx.resource.get("service.version")))
        .map(js_stringify);
    let release = present(attrs.get("langfuse.release"))
        .or_else(|| present(ctx.resource.get("langfuse.release")))
        .map(js_stringify);
    let scope_meta = {
        let mut s = Map::new();
        s.insert("name".into(), json!(ctx.scope_name));
        if !ctx.scope_version.is_empty() {
            s.insert("version".into(), json!(ctx.scope_version));
        }
        s.insert("attributes".into(), Value::Object(ctx.scope_attrs.clone()));
        Value::Object(s)
    };

    let trace = (is_root || has_updates).then(|| {
        let mut body = Map::new();
        body.insert("id".into(), json!(trace_id));
        body.insert("timestamp".into(), json!(time::format(&start)));
        body.insert("environment".into(), json!(environment));
        let mut metadata = ctx.resource_trace_metadata.clone();
        metadata.extend(conv::metadata(&attrs, MetadataDomain::Trace));
        let (input, output, name) = if is_root {
            let extracted = io::extract(&attrs, &span.events, ctx.scope_name, Domain::Trace);
            metadata.extend(conv::metadata(&attrs, MetadataDomain::Observation));
            if !ctx.langfuse_sdk {
                metadata.insert("attributes".into(), Value::Object(extracted.filtered));
            }
            let name = present(attrs.get("langfuse.trace.name"))
                .map(js_stringify)
                .unwrap_or_else(|| conv::observation_name(&span.name, &attrs));
            (extracted.input, extracted.output, Some(name))
        } else {
            (
                attrs
                    .get("langfuse.trace.input")
                    .cloned()
                    .unwrap_or(Value::Null),
                attrs
                    .get("langfuse.trace.output")
                    .cloned()
                    .unwrap_or(Value::Null),
                present(attrs.get("langfuse.trace.name")).map(js_stringify),
            )
        };
        metadata.insert(
            "resourceAttributes".into(),
            Value::Object(ctx.resource.clone()),
        );
        metadata.insert("scope".into(), scope_meta.clone());
        if let Some(name) = name {
            body.insert("name".into(), json!(name));
        }
        body.insert("metadata".into(), Value::Object(metadata));
        body.insert("version".into(), opt_string(version.clone()));
        body.insert("release".into(), opt_string(release.clone()));
        if let Some(u) = conv::user_id(&attrs) {
            body.insert("userId".into(), json!(u));
        }
        if let Some(s) = conv::session_id(&attrs) {
            body.insert("sessionId".into(), json!(s));
        }
        if let Some(p) = conv::public(&attrs) {
            body.insert("public".into(), json!(p));
        }
        body.insert("tags".into(), json!(conv::tags(&attrs)));
        if !input.is_null() {
            body.insert("input".into(), input);
        }
        if !output.is_null() {
            body.insert("output".into(), output);
        }
        envelope(
            envelope_id("trace", &trace_id, &span_id, &span_bytes),
            "trace-create",
            start,
            body,
        )
    });

    let shallow = {
        let mut body = Map::new();
        body.insert("id".into(), json!(trace_id));
        body.insert("timestamp".into(), json!(time::format(&start)));
        body.insert("environment".into(), json!(environment));
        envelope(
            envelope_id("shallow-trace", &trace_id, &span_id, &span_bytes),
            "trace-create",
            start,
            body,
        )
    };

    let kind = observation_type(TypeInput {
        attrs: &attrs,
        resource: ctx.resource,
        scope_name: ctx.scope_name,
        scope_version: ctx.scope_version,
        span_name: &span.name,
    });
    let extracted = io::extract(&attrs, &span.events, ctx.scope_name, Domain::Observation);
    let mut metadata = ctx.resource_trace_metadata.clone();
    metadata.extend(conv::metadata(&attrs, MetadataDomain::Observation));
    if !ctx.langfuse_sdk {
        metadata.insert("attributes".into(), Value::Object(extracted.filtered));
    }
    metadata.insert(
        "resourceAttributes".into(),
        Value::Object(ctx.resource.clone()),
    );
    metadata.insert("scope".into(), scope_meta);

    let status_code = span.status.as_ref().map(|s| s.code).unwrap_or(0);
    let status_message = present(attrs.get("langfuse.observation.status_message"))
        .map(js_stringify)
        .or_else(|| {
            span.status
                .as_ref()
                .map(|s| s.message.clone())
                .filter(|m| !m.is_empty())
        });

    let mut body = Map::new();
    body.insert("id".into(), json!(span_id));
    body.insert("traceId".into(), json!(trace_id));
    body.insert("parentObservationId".into(), opt_string(parent_id));
    body.insert(
        "name".into(),
        json!(conv::observation_name(&span.name, &attrs)),
    );
    body.insert("startTime".into(), json!(time::format(&start)));
    if kind != ObservationType::Event {
        body.insert("endTime".into(), json!(time::format(&end)));
    }
    body.insert("environment".into(), json!(environment));
    body.insert("metadata".into(), Value::Object(metadata));
    body.insert(
        "level".into(),
        json!(conv::level(&attrs, status_code, ctx.scope_name, &span.name)),
    );
    body.insert("statusMessage".into(), opt_string(status_message));
    body.insert("version".into(), opt_string(version));
    if kind.is_generation_like() {
        body.insert(
            "completionStartTime".into(),
            opt_string(conv::completion_start_time(&attrs, start).map(|t| time::format(&t))),
        );
        body.insert(
            "modelParameters".into(),
            conv::model_parameters(&attrs, ctx.scope_name),
        );
        if let Some(model) = conv::model_name(&attrs, ctx.scope_name) {
            body.insert("model".into(), json!(model));
        }
        if let Some((name, version)) = conv::prompt(&attrs) {
            body.insert("promptName".into(), json!(name));
            body.insert("promptVersion".into(), json!(version));
        }
        body.insert(
            "usageDetails".into(),
            conv::usage_details(&attrs, ctx.scope_name),
        );
        body.insert(
            "costDetails".into(),
            conv::cost_details(&attrs, ctx.scope_name),
        );
    }
    if !extracted.input.is_null() {
        body.insert("input".into(), extracted.input);
    }
    if !extracted.output.is_null() {
        body.insert("output".into(), extracted.output);
    }
    let observation = envelope(
        envelope_id(kind.create_event(), &trace_id, &span_id, &span_bytes),
        kind.create_event(),
        now,
        body,
    );

    MappedSpan {
        trace_id,
        trace,
        shallow,
        observation,
    }
}
