//! Whole-export mapping tests: OTLP exports as the SDKs send them → the ingestion events.

use chrono::{TimeZone, Utc};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde_json::{json, Value};

use super::export_to_events;

const TRACE: [u8; 16] = [0xAB; 16];
const ROOT: [u8; 8] = [0x01; 8];
const CHILD: [u8; 8] = [0x02; 8];
const START_NS: u64 = 1_700_000_000_123_456_789;

fn s(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn i(k: &str, v: i64) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    }
}

fn span(id: [u8; 8], parent: Option<[u8; 8]>, name: &str, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: TRACE.to_vec(),
        span_id: id.to_vec(),
        parent_span_id: parent.map(|p| p.to_vec()).unwrap_or_default(),
        name: name.into(),
        start_time_unix_nano: START_NS,
        end_time_unix_nano: START_NS + 2_000_000_000,
        attributes: attrs,
        ..Default::default()
    }
}

fn export(scope: &str, resource: Vec<KeyValue>, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: scope.into(),
                    version: "4.14.3".into(),
                    attributes: vec![s("public_key", "pk-lf-1")],
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
}

fn of_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == t).collect()
}

const TRACE_HEX: &str = "abababababababababababababababab";

#[test]
fn python_sdk_root_span_and_generation() {
    let root = span(
        ROOT,
        None,
        "my-agent",
        vec![
            s("langfuse.observation.type", "span"),
            s("langfuse.trace.name", "chat-request"),
            s("user.id", "user-1"),
            s("session.id", "session-1"),
            KeyValue {
                key: "langfuse.trace.tags".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::ArrayValue(
                        opentelemetry_proto::tonic::common::v1::ArrayValue {
                            values: vec![
                                AnyValue {
                                    value: Some(any_value::Value::StringValue("b".into())),
                                },
                                AnyValue {
                                    value: Some(any_value::Value::StringValue("a".into())),
                                },
                            ],
                        },
                    )),
                }),
                ..Default::default()
            },
            s("langfuse.trace.metadata.team", "core"),
            s("langfuse.observation.input", "{\"q\":\"hi\"}"),
            s("langfuse.observation.output", "\"hello\""),
            s("langfuse.environment", "production"),
        ],
    );
    let generation = span(
        CHILD,
        Some(ROOT),
        "llm-call",
        vec![
            s("langfuse.observation.type", "generation"),
            s("langfuse.observation.model.name", "gpt-4o"),
            s(
                "langfuse.observation.model.parameters",
                "{\"temperature\":0.5}",
            ),
            s(
                "langfuse.observation.usage_details",
                "{\"input\":10,\"output\":20}",
            ),
            s("langfuse.observation.cost_details", "{\"total\":0.01}"),
            s("langfuse.observation.prompt.name", "greeting"),
            i("langfuse.observation.prompt.version", 2),
            s(
                "langfuse.observation.completion_start_time",
                "\"2023-11-14T22:13:21.000Z\"",
            ),
            s("langfuse.observation.level", "WARNING"),
            s("langfuse.observation.status_message", "slow"),
            s("langfuse.observation.metadata.k", "v"),
            s("langfuse.environment", "production"),
        ],
    );
    let req = export(
        "langfuse-sdk",
        vec![
            s("service.name", "svc"),
            s("telemetry.sdk.language", "python"),
        ],
        vec![root, generation],
    );
    let events = export_to_events(&req, now());
    let traces = of_type(&events, "trace-create");
    assert_eq!(
        traces.len(),
        1,
        "one full trace, no shallow one: {events:#?}"
    );
    let t = &traces[0]["body"];
    assert_eq!(t["id"], TRACE_HEX);
    assert_eq!(t["name"], "chat-request");
    assert_eq!(t["userId"], "user-1");
    assert_eq!(t["sessionId"], "session-1");
    assert_eq!(t["tags"], json!(["b", "a"]));
    assert_eq!(t["environment"], "production");
    assert_eq!(t["timestamp"], "2023-11-14T22:13:20.123Z");
    assert_eq!(
        t["input"], "{\"q\":\"hi\"}",
        "root observation I/O becomes trace I/O"
    );
    assert_eq!(t["output"], "\"hello\"");
    assert_eq!(t["metadata"]["team"], "core");
    assert_eq!(t["metadata"]["resourceAttributes"]["service.name"], "svc");
    assert_eq!(t["metadata"]["scope"]["name"], "langfuse-sdk");
    assert_eq!(
        t["metadata"]["scope"]["attributes"]["public_key"],
        "pk-lf-1"
    );
    assert!(
        t["metadata"].get("attributes").is_none(),
        "langfuse-sdk spans keep no raw attributes"
    );
    assert_eq!(traces[0]["timestamp"], "2023-11-14T22:13:20.123Z");

    let spans = of_type(&events, "span-create");
    assert_eq!(spans.len(), 1);
    let root_obs = &spans[0]["body"];
    assert_eq!(root_obs["id"], "0101010101010101");
    assert_eq!(root_obs["traceId"], TRACE_HEX);
    assert_eq!(root_obs["parentObservationId"], Value::Null);
    assert_eq!(root_obs["name"], "my-agent");
    assert_eq!(root_obs["endTime"], "2023-11-14T22:13:22.123Z");
    assert!(root_obs.get("model").is_none() && root_obs.get("usageDetails").is_none());
    assert_eq!(spans[0]["timestamp"], "2030-01-01T00:00:00.000Z");

    let gens = of_type(&events, "generation-create");
    assert_eq!(gens.len(), 1);
    let g = &gens[0]["body"];
    assert_eq!(g["parentObservationId"], "0101010101010101");
    assert_eq!(g["model"], "gpt-4o");
    assert_eq!(g["modelParameters"], json!({"temperature": 0.5}));
    assert_eq!(g["usageDetails"], json!({"input": 10, "output": 20}));
    assert_eq!(g["costDetails"], json!({"total": 0.01}));
    assert_eq!(g["promptName"], "greeting");
    assert_eq!(g["promptVersion"], 2);
    assert_eq!(g["completionStartTime"], "2023-11-14T22:13:21.000Z");
    assert_eq!(g["level"], "WARNING");
    assert_eq!(g["statusMessage"], "slow");
    assert_eq!(g["metadata"]["k"], "v");
    assert_eq!(g["environment"], "production");
}

#[test]
fn child_of_unseen_trace_gets_a_shallow_trace() {
    let child = span(
        CHILD,
        Some(ROOT),
        "child",
        vec![s("deployment.environment", "staging")],
    );
    let events = export_to_events(&export("my-lib", vec![], vec![child]), now());
    let traces = of_type(&events, "trace-create");
    assert_eq!(traces.len(), 1);
    assert_eq!(
        traces[0]["body"],
        json!({"id": TRACE_HEX, "timestamp": "2023-11-14T22:13:20.123Z", "environment": "staging"})
    );
    assert_eq!(of_type(&events, "span-create").len(), 1);
}

#[test]
fn as_root_makes_a_full_trace_but_keeps_the_parent() {
    let child = span(
        CHILD,
        Some(ROOT),
        "entry",
        vec![s("langfuse.internal.as_root", "true")],
    );
    let events = export_to_events(&export("langfuse-sdk", vec![], vec![child]), now());
    let trace = of_type(&events, "trace-create")[0]["body"].clone();
    assert_eq!(trace["name"], "entry");
    let obs = &of_type(&events, "span-create")[0]["body"];
    assert_eq!(obs["parentObservationId"], "0101010101010101");
}

#[test]
fn trace_updates_from_a_child_span() {
    let child = span(
        CHILD,
        Some(ROOT),
        "child",
        vec![
            s("user.id", "u"),
            s("langfuse.trace.input", "ti"),
            s("langfuse.observation.input", "oi"),
        ],
    );
    let events = export_to_events(
        &export("other", vec![s("service.version", "1.2")], vec![child]),
        now(),
    );
    let traces = of_type(&events, "trace-create");
    assert_eq!(traces.len(), 1, "the update replaces the shallow trace");
    let t = &traces[0]["body"];
    assert_eq!(t["userId"], "u");
    assert_eq!(t["input"], "ti");
    assert!(
        t.get("name").is_none(),
        "no name without langfuse.trace.name"
    );
    assert!(t["metadata"].get("attributes").is_none());
    assert_eq!(t["version"], "1.2");
    assert_eq!(t["release"], Value::Null);
}

#[test]
fn third_party_span_keeps_attributes_and_maps_gen_ai() {
    let mut sp = span(
        ROOT,
        None,
        "chat gpt-4o",
        vec![
            s("gen_ai.operation.name", "chat"),
            s("gen_ai.request.model", "gpt-4o"),
            i("gen_ai.usage.input_tokens", 12),
            i("gen_ai.usage.output_tokens", 3),
            s(
                "gen_ai.input.messages",
                "[{\"role\":\"user\",\"content\":\"hi\"}]",
            ),
            s("custom.flag", "x"),
            i("custom.count", 5),
        ],
    );
    sp.status = Some(Status {
        code: 2,
        message: "rate limited".into(),
    });
    let events = export_to_events(
        &export("openlit", vec![s("service.name", "app")], vec![sp]),
        now(),
    );
    let g = &of_type(&events, "generation-create")[0]["body"];
    assert_eq!(g["model"], "gpt-4o");
    assert_eq!(g["usageDetails"], json!({"input": 12, "output": 3}));
    assert_eq!(g["input"], "[{\"role\":\"user\",\"content\":\"hi\"}]");
    assert_eq!(g["level"], "ERROR");
    assert_eq!(g["statusMessage"], "rate limited");
    assert_eq!(g["modelParameters"], json!({}));
    let attrs = &g["metadata"]["attributes"];
    assert_eq!(attrs["custom.flag"], "x");
    assert_eq!(attrs["custom.count"], "5");
    assert_eq!(attrs["gen_ai.request.model"], "gpt-4o");
    assert!(
        attrs.get("gen_ai.input.messages").is_none(),
        "I/O keys are not repeated"
    );
    let t = &of_type(&events, "trace-create")[0]["body"];
    assert_eq!(t["name"], "chat gpt-4o");
    assert_eq!(t["metadata"]["attributes"]["custom.flag"], "x");
    assert_eq!(t["input"], "[{\"role\":\"user\",\"content\":\"hi\"}]");
}

#[test]
fn event_type_has_no_end_time() {
    let ev = span(
        CHILD,
        Some(ROOT),
        "e",
        vec![s("langfuse.observation.type", "event")],
    );
    let events = export_to_events(&export("langfuse-sdk", vec![], vec![ev]), now());
    let e = &of_type(&events, "event-create")[0]["body"];
    assert!(e.get("endTime").is_none());
    assert_eq!(e["startTime"], "2023-11-14T22:13:20.123Z");
}

#[test]
fn missing_timestamps_fall_back() {
    let mut only_end = span(ROOT, None, "x", vec![]);
    only_end.start_time_unix_nano = 0;
    let mut none = span(CHILD, Some(ROOT), "y", vec![]);
    none.start_time_unix_nano = 0;
    none.end_time_unix_nano = 0;
    let events = export_to_events(&export("s", vec![], vec![only_end, none]), now());
    let obs = of_type(&events, "span-create");
    assert_eq!(obs[0]["body"]["startTime"], "2023-11-14T22:13:22.123Z");
    assert_eq!(obs[0]["body"]["endTime"], "2023-11-14T22:13:22.123Z");
    assert_eq!(obs[1]["body"]["startTime"], "2030-01-01T00:00:00.000Z");
}

#[test]
fn envelope_ids_are_stable_across_retries_and_differ_per_content() {
    let make = |name: &str| export("s", vec![], vec![span(ROOT, None, name, vec![])]);
    let ids = |req: &ExportTraceServiceRequest| -> Vec<Value> {
        export_to_events(req, now())
            .iter()
            .map(|e| e["id"].clone())
            .collect()
    };
    let first = ids(&make("a"));
    assert_eq!(first, ids(&make("a")));
    assert_eq!(first.len(), 2);
    assert_ne!(first[0], first[1]);
    let other = ids(&make("b"));
    assert!(first.iter().all(|id| !other.contains(id)));
}

#[test]
fn trace_ids_are_lowercase_hex_and_traces_are_per_id() {
    let mut other = span(ROOT, None, "other", vec![]);
    other.trace_id = vec![0x0F; 16];
    let mut child = span(CHILD, Some(ROOT), "c", vec![]);
    child.trace_id = vec![0xCD; 16];
    let events = export_to_events(&export("s", vec![], vec![other, child]), now());
    let mut ids: Vec<String> = of_type(&events, "trace-create")
        .iter()
        .map(|e| e["body"]["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["0f".repeat(16), "cd".repeat(16)]);
}
