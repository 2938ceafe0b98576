//! `POST /api/public/otel/v1/traces` and `/v1/metrics`: OTLP exports as the SDKs send them
//! (protobuf like the Python SDK, OTLP/JSON like the JS SDK), the Langfuse error bodies,
//! and the rows they produce, read with SQL from the test database (the read API is
//! another slice). A 200 implies the rows are committed.

use std::io::Write;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

const TRACES: &str = "/api/public/otel/v1/traces";
const METRICS: &str = "/api/public/otel/v1/metrics";

const TRACE_ID: [u8; 16] = [
    0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36,
];
const TRACE_HEX: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const ROOT_ID: [u8; 8] = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];
const ROOT_HEX: &str = "00f067aa0ba902b7";
const GEN_ID: [u8; 8] = [0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8];
const GEN_HEX: &str = "53995c3f42cd8ad8";
/// 2024-05-01T12:00:00.250Z plus 999 ns (dropped: Langfuse keeps milliseconds).
const START_NS: u64 = 1_714_564_800_250_000_999;

async fn db(app: &TestApp) -> PgPool {
    PgPool::connect(&app.database_url)
        .await
        .expect("test database is reachable")
}

async fn row(pool: &PgPool, table: &str, id: &str) -> Option<Value> {
    sqlx::query_scalar::<_, Value>(&format!(
        "select to_jsonb(t) - 'created_at' - 'updated_at' from {table} t \
         where project_id = 'default' and id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .expect("query runs")
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .expect("count runs")
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}

fn span(id: [u8; 8], parent: Option<[u8; 8]>, name: &str, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: id.to_vec(),
        parent_span_id: parent.map(|p| p.to_vec()).unwrap_or_default(),
        name: name.into(),
        kind: 1,
        start_time_unix_nano: START_NS,
        end_time_unix_nano: START_NS + 1_500_000_000,
        attributes,
        ..Default::default()
    }
}

/// An export shaped like the Python SDK's: scope `langfuse-sdk`, Langfuse attributes.
fn python_sdk_export(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", "checkout"),
                    s("telemetry.sdk.language", "python"),
                    s("langfuse.release", "r-42"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "langfuse-sdk".into(),
                    version: "4.14.3".into(),
                    attributes: vec![s("public_key", "pk-lf-test")],
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn python_root() -> Span {
    span(
        ROOT_ID,
        None,
        "handle-request",
        vec![
            s("langfuse.observation.type", "span"),
            s("langfuse.trace.name", "checkout-flow"),
            s("user.id", "user-7"),
            s("session.id", "sess-1"),
            kv(
                "langfuse.trace.tags",
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(any_value::Value::StringValue("prod".into())),
                    }],
                }),
            ),
            s("langfuse.trace.metadata.tenant", "acme"),
            s("langfuse.observation.input", r#"{"cart":3}"#),
            s("langfuse.observation.output", r#""ok""#),
            s("langfuse.environment", "production"),
        ],
    )
}

fn python_generation() -> Span {
    span(
        GEN_ID,
        Some(ROOT_ID),
        "openai-call",
        vec![
            s("langfuse.observation.type", "generation"),
            s("langfuse.observation.model.name", "gpt-4o-mini"),
            s(
                "langfuse.observation.model.parameters",
                r#"{"temperature":0.3}"#,
            ),
            s(
                "langfuse.observation.usage_details",
                r#"{"input":11,"output":7}"#,
            ),
            s("langfuse.observation.cost_details", r#"{"total":0.002}"#),
            s(
                "langfuse.observation.input",
                r#"[{"role":"user","content":"hi"}]"#,
            ),
            s(
                "langfuse.observation.output",
                r#"{"role":"assistant","content":"hello"}"#,
            ),
            s(
                "langfuse.observation.completion_start_time",
                r#""2024-05-01T12:00:01.000Z""#,
            ),
            s("langfuse.observation.metadata.step", "1"),
            s("langfuse.environment", "production"),
        ],
    )
}

async fn post_bytes(
    app: &TestApp,
    path: &str,
    auth: Option<&str>,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).body(body);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request reaches the test server")
}

async fn post_protobuf(app: &TestApp, export: &ExportTraceServiceRequest) -> reqwest::Response {
    post_bytes(
        app,
        TRACES,
        Some(&app.basic_auth()),
        &[("Content-Type", "application/x-protobuf")],
        export.encode_to_vec(),
    )
    .await
}

async fn post_json(app: &TestApp, body: &Value) -> (u16, Value) {
    let res = post_bytes(
        app,
        TRACES,
        Some(&app.basic_auth()),
        &[("Content-Type", "application/json")],
        body.to_string().into_bytes(),
    )
    .await;
    let status = res.status().as_u16();
    (status, res.json().await.expect("JSON answer"))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[tokio::test]
async fn a_protobuf_export_like_the_python_sdk_creates_the_trace_and_its_observations() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    let res = post_protobuf(
        &app,
        &python_sdk_export(vec![python_root(), python_generation()]),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/x-protobuf"
    );
    let bytes = res.bytes().await.unwrap();
    ExportTraceServiceResponse::decode(bytes.as_ref()).expect("an ExportTraceServiceResponse");

    let trace = row(&pool, "traces", TRACE_HEX).await.expect("trace stored");
    assert_eq!(trace["name"], "checkout-flow");
    assert_eq!(trace["user_id"], "user-7");
    assert_eq!(trace["session_id"], "sess-1");
    assert_eq!(trace["tags"], json!(["prod"]));
    assert_eq!(trace["environment"], "production");
    assert_eq!(trace["release"], "r-42");
    assert_eq!(trace["metadata"]["tenant"], "acme");
    assert_eq!(
        trace["metadata"]["resourceAttributes"]["service.name"],
        "checkout"
    );
    assert_eq!(trace["metadata"]["scope"]["name"], "langfuse-sdk");
    assert_eq!(trace["input"], r#"{"cart":3}"#);
    assert_eq!(trace["output"], r#""ok""#);
    assert!(trace["timestamp"]
        .as_str()
        .unwrap()
        .starts_with("2024-05-01T12:00:00.25"));

    let root = row(&pool, "observations", ROOT_HEX)
        .await
        .expect("root span stored");
    assert_eq!(root["type"], "SPAN");
    assert_eq!(root["trace_id"], TRACE_HEX);
    assert_eq!(root["parent_observation_id"], Value::Null);
    assert_eq!(root["name"], "handle-request");

    let generation = row(&pool, "observations", GEN_HEX)
        .await
        .expect("generation stored");
    assert_eq!(generation["type"], "GENERATION");
    assert_eq!(generation["parent_observation_id"], ROOT_HEX);
    assert_eq!(generation["model"], "gpt-4o-mini");
    assert_eq!(
        generation["model_parameters"]["temperature"].as_f64(),
        Some(0.3)
    );
    assert_eq!(
        generation["provided_usage_details"]["input"].as_f64(),
        Some(11.0)
    );
    assert_eq!(
        generation["provided_usage_details"]["output"].as_f64(),
        Some(7.0)
    );
    assert_eq!(
        generation["provided_cost_details"]["total"].as_f64(),
        Some(0.002)
    );
    assert_eq!(generation["input"], r#"[{"role":"user","content":"hi"}]"#);
    assert_eq!(generation["metadata"]["step"], "1");
    assert_eq!(generation["environment"], "production");
    assert!(generation["start_time"]
        .as_str()
        .unwrap()
        .starts_with("2024-05-01T12:00:00.25"));
    assert!(generation["end_time"]
        .as_str()
        .unwrap()
        .starts_with("2024-05-01T12:00:01.75"));
    assert!(generation["completion_start_time"]
        .as_str()
        .unwrap()
        .starts_with("2024-05-01T12:00:01"));
}

/// OTLP/JSON as the JS SDK's exporter writes it: hex ids, nanoseconds as strings.
fn js_sdk_export(trace: &str, spans: Vec<Value>) -> Value {
    json!({
        "resourceSpans": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "web"}},
                {"key": "telemetry.sdk.language", "value": {"stringValue": "nodejs"}}
            ]},
            "scopeSpans": [{
                "scope": {"name": "langfuse-sdk", "version": "5.10.1"},
                "spans": spans.into_iter().map(|mut s| {
                    s["traceId"] = json!(trace);
                    s
                }).collect::<Vec<_>>()
            }]
        }]
    })
}

#[tokio::test]
async fn an_otlp_json_export_like_the_js_sdk_maps_gen_ai_attributes() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    let trace = "0123456789abcdef0123456789abcdef";
    let export = js_sdk_export(
        trace,
        vec![
            json!({
                "spanId": "1111111111111111", "name": "agent", "kind": 1,
                "startTimeUnixNano": "1714564800000000000", "endTimeUnixNano": "1714564802000000000",
                "attributes": [
                    {"key": "langfuse.observation.type", "value": {"stringValue": "agent"}},
                    {"key": "langfuse.release", "value": {"stringValue": "v5"}},
                    {"key": "langfuse.environment", "value": {"stringValue": "staging"}}
                ],
                "status": {"code": 0}
            }),
            json!({
                "spanId": "2222222222222222", "parentSpanId": "1111111111111111",
                "name": "chat gpt-4o", "kind": 3,
                "startTimeUnixNano": "1714564800500000000", "endTimeUnixNano": "1714564801500000000",
                "attributes": [
                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                    {"key": "gen_ai.request.temperature", "value": {"doubleValue": 0.1}},
                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "120"}},
                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 30}},
                    {"key": "gen_ai.usage.cache_read.input_tokens", "value": {"intValue": "100"}},
                    {"key": "gen_ai.input.messages", "value": {"stringValue": "[{\"role\":\"user\",\"content\":\"hi\"}]"}},
                    {"key": "gen_ai.output.messages", "value": {"stringValue": "[{\"role\":\"assistant\",\"content\":\"yo\"}]"}},
                    {"key": "langfuse.environment", "value": {"stringValue": "staging"}}
                ],
                "status": {"code": 2, "message": "upstream timeout"}
            }),
        ],
    );
    let (status, body) = post_json(&app, &export).await;
    assert_eq!((status, body), (200, json!({})));

    let t = row(&pool, "traces", trace).await.expect("trace stored");
    assert_eq!(t["name"], "agent");
    assert_eq!(t["release"], "v5");
    assert_eq!(t["environment"], "staging");
    let agent = row(&pool, "observations", "1111111111111111")
        .await
        .unwrap();
    assert_eq!(agent["type"], "AGENT");
    let g = row(&pool, "observations", "2222222222222222")
        .await
        .unwrap();
    assert_eq!(g["type"], "GENERATION");
    assert_eq!(g["parent_observation_id"], "1111111111111111");
    assert_eq!(g["model"], "gpt-4o");
    assert_eq!(g["model_parameters"]["temperature"].as_f64(), Some(0.1));
    // 120 input tokens of which 100 were cache reads: 20 uncached + 100 cached.
    assert_eq!(g["provided_usage_details"]["input"].as_f64(), Some(20.0));
    assert_eq!(
        g["provided_usage_details"]["input_cached_tokens"].as_f64(),
        Some(100.0)
    );
    assert_eq!(g["provided_usage_details"]["output"].as_f64(), Some(30.0));
    assert_eq!(g["input"], "[{\"role\":\"user\",\"content\":\"hi\"}]");
    assert_eq!(g["output"], "[{\"role\":\"assistant\",\"content\":\"yo\"}]");
    assert_eq!(g["level"], "ERROR");
    assert_eq!(g["status_message"], "upstream timeout");
    assert_eq!(g["start_time"], "2024-05-01T12:00:00.5+00:00");
}

#[tokio::test]
async fn a_third_party_exporter_keeps_unknown_attributes_in_metadata() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    let export = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "rag"}}]},
        "scopeSpans": [{
            "scope": {"name": "openinference.instrumentation.llama_index", "version": "1.0"},
            "spans": [{
                "traceId": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "spanId": "BBBBBBBBBBBBBBBB",
                "name": "retrieve", "startTimeUnixNano": "1714564800000000000",
                "endTimeUnixNano": "1714564800100000000",
                "attributes": [
                    {"key": "openinference.span.kind", "value": {"stringValue": "RETRIEVER"}},
                    {"key": "input.value", "value": {"stringValue": "what is otel"}},
                    {"key": "retrieval.top_k", "value": {"intValue": "3"}},
                    {"key": "custom.flag", "value": {"boolValue": true}}
                ]
            }]
        }]
    }]});
    let (status, _) = post_json(&app, &export).await;
    assert_eq!(status, 200);
    let o = row(&pool, "observations", "bbbbbbbbbbbbbbbb")
        .await
        .expect("lower-case span id");
    assert_eq!(o["type"], "RETRIEVER");
    assert_eq!(o["trace_id"], "a".repeat(32));
    assert_eq!(o["input"], "what is otel");
    assert_eq!(o["metadata"]["attributes"]["retrieval.top_k"], "3");
    assert_eq!(o["metadata"]["attributes"]["custom.flag"], "true");
    assert!(o["metadata"]["attributes"].get("input.value").is_none());
    assert_eq!(
        o["metadata"]["scope"]["name"],
        "openinference.instrumentation.llama_index"
    );
    assert_eq!(o["environment"], "default");
}

#[tokio::test]
async fn gzip_bodies_are_accepted_in_both_encodings() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    let res = post_bytes(
        &app,
        TRACES,
        Some(&app.basic_auth()),
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "gzip"),
        ],
        gzip(&python_sdk_export(vec![python_root()]).encode_to_vec()),
    )
    .await;
    assert_eq!(res.status(), 200);
    let json_export = js_sdk_export(
        "fedcba9876543210fedcba9876543210",
        vec![json!({"spanId": "3333333333333333", "name": "zipped",
            "startTimeUnixNano": "1714564800000000000", "endTimeUnixNano": "1714564800000000000"})],
    );
    let res = post_bytes(
        &app,
        TRACES,
        Some(&app.basic_auth()),
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
        gzip(json_export.to_string().as_bytes()),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(row(&pool, "observations", ROOT_HEX).await.is_some());
    assert_eq!(
        row(&pool, "observations", "3333333333333333")
            .await
            .unwrap()["name"],
        "zipped"
    );
}

#[tokio::test]
async fn unusable_bodies_get_langfuse_400s() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    let missing_span_id = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": TRACE_HEX, "name": "x"}]}]}]});
    let attributes_as_map = json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": TRACE_HEX, "spanId": ROOT_HEX, "attributes": {"a": "b"}}]}]}]});
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "wrong content type",
            vec![("Content-Type", "text/plain")],
            b"{}".to_vec(),
            "Invalid content type",
        ),
        (
            "no content type",
            vec![],
            b"{}".to_vec(),
            "Invalid content type",
        ),
        (
            "bad gzip",
            vec![
                ("Content-Type", "application/json"),
                ("Content-Encoding", "gzip"),
            ],
            b"definitely not gzip".to_vec(),
            "Failed to decompress request body",
        ),
        (
            "garbage protobuf",
            vec![("Content-Type", "application/x-protobuf")],
            vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0x01],
            "Failed to parse OTel Protobuf Trace",
        ),
        (
            "garbage JSON",
            vec![("Content-Type", "application/json")],
            b"{not json".to_vec(),
            "Failed to parse OTel JSON Trace",
        ),
    ];
    for (name, headers, body, expected) in cases {
        let res = post_bytes(&app, TRACES, Some(&app.basic_auth()), &headers, body).await;
        assert_eq!(res.status(), 400, "{name}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body, json!({"error": expected}), "{name}");
    }
    for (name, export) in [
        ("span without spanId", missing_span_id),
        ("attributes as a map", attributes_as_map),
    ] {
        let (status, body) = post_json(&app, &export).await;
        assert_eq!(status, 400, "{name}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .starts_with("Invalid OTLP trace export: "),
            "{name}: {body}"
        );
    }
    assert_eq!(count(&pool, "select count(*) from observations").await, 0);
}

#[tokio::test]
async fn an_empty_export_is_accepted() {
    let app = spawn_app().await;
    assert_eq!(post_json(&app, &json!({})).await, (200, json!({})));
    assert_eq!(
        post_json(&app, &json!({"resourceSpans": []})).await,
        (200, json!({}))
    );
    let res = post_protobuf(&app, &ExportTraceServiceRequest::default()).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn credentials_are_checked_as_langfuse_does() {
    let app = spawn_app().await;
    let body = python_sdk_export(vec![python_root()]).encode_to_vec();
    let ct = [("Content-Type", "application/x-protobuf")];
    let cases: Vec<(&str, Option<String>, u16, Value)> = vec![
        (
            "no header",
            None,
            401,
            json!({"message": "No authorization header"}),
        ),
        (
            "wrong secret",
            Some(basic(&app.public_key, "sk-wrong")),
            401,
            json!({"message": "Invalid credentials. Confirm that you've configured the correct host."}),
        ),
        (
            "public key as bearer",
            Some(format!("Bearer {}", app.public_key)),
            403,
            json!({"message": "Access denied - insufficient permissions for this endpoint"}),
        ),
    ];
    for (name, auth, status, expected) in cases {
        for path in [TRACES, METRICS] {
            let res = post_bytes(&app, path, auth.as_deref(), &ct, body.clone()).await;
            assert_eq!(res.status().as_u16(), status, "{name} on {path}");
            let got: Value = res.json().await.unwrap();
            assert_eq!(got, expected, "{name} on {path}");
        }
    }
    let pool = db(&app).await;
    assert_eq!(count(&pool, "select count(*) from traces").await, 0);
}

#[tokio::test]
async fn metrics_exports_are_accepted_and_dropped() {
    let app = spawn_app().await;
    let res = post_bytes(
        &app,
        METRICS,
        Some(&app.basic_auth()),
        &[("Content-Type", "application/json")],
        br#"{"resourceMetrics":[]}"#.to_vec(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({}));
    let res = post_bytes(
        &app,
        METRICS,
        Some(&app.basic_auth()),
        &[("Content-Type", "application/x-protobuf")],
        Vec::new(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "application/x-protobuf"
    );
}

#[tokio::test]
async fn spans_of_one_trace_in_separate_out_of_order_requests_merge() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    // The child arrives first: its trace exists at once, as a shallow trace.
    let res = post_protobuf(&app, &python_sdk_export(vec![python_generation()])).await;
    assert_eq!(res.status(), 200);
    let shallow = row(&pool, "traces", TRACE_HEX)
        .await
        .expect("OTel spans create their trace");
    assert_eq!(shallow["name"], Value::Null);
    assert_eq!(shallow["environment"], "production");
    // Then the root, in another request.
    let res = post_protobuf(&app, &python_sdk_export(vec![python_root()])).await;
    assert_eq!(res.status(), 200);
    let trace = row(&pool, "traces", TRACE_HEX).await.unwrap();
    assert_eq!(trace["name"], "checkout-flow");
    assert_eq!(trace["user_id"], "user-7");
    assert!(
        trace["timestamp"]
            .as_str()
            .unwrap()
            .starts_with("2024-05-01T12:00:00.25"),
        "{trace}"
    );
    assert_eq!(count(&pool, "select count(*) from traces").await, 1);
    assert_eq!(
        count(
            &pool,
            &format!("select count(*) from observations where trace_id = '{TRACE_HEX}'")
        )
        .await,
        2
    );
    // A later child span carrying trace attributes (propagate_attributes) updates the trace.
    let mut late = span(
        [0x99; 8],
        Some(ROOT_ID),
        "tool",
        vec![
            s("langfuse.trace.metadata.extra", "yes"),
            s("user.id", "user-7"),
        ],
    );
    late.start_time_unix_nano = START_NS + 1_000_000_000;
    late.end_time_unix_nano = START_NS + 1_100_000_000;
    assert_eq!(
        post_protobuf(&app, &python_sdk_export(vec![late]))
            .await
            .status(),
        200
    );
    let trace = row(&pool, "traces", TRACE_HEX).await.unwrap();
    assert_eq!(trace["metadata"]["extra"], "yes");
    assert_eq!(trace["metadata"]["tenant"], "acme", "earlier metadata kept");
    assert_eq!(
        trace["name"], "checkout-flow",
        "absent name does not erase it"
    );
}

#[tokio::test]
async fn otel_spans_and_ingestion_api_events_for_one_trace_merge() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    // The Python SDK sends spans via OTel and scores via the ingestion API.
    let score = json!({"batch": [{
        "id": "score-env-1", "type": "score-create", "timestamp": "2024-05-01T12:00:05.000Z",
        "body": {"id": "score-1", "traceId": TRACE_HEX, "observationId": GEN_HEX, "name": "quality", "value": 0.9}
    }]});
    let (status, body) = app.post("/api/public/ingestion", &score).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(
        post_protobuf(
            &app,
            &python_sdk_export(vec![python_root(), python_generation()])
        )
        .await
        .status(),
        200
    );
    let stored = row(&pool, "scores", "score-1").await.expect("score stored");
    assert_eq!(stored["trace_id"], TRACE_HEX);
    assert_eq!(stored["observation_id"], GEN_HEX);
    // An ingestion-API trace update after the spans merges into the same row.
    let update = json!({"batch": [{
        "id": "trace-env-1", "type": "trace-create", "timestamp": "2024-05-01T12:00:09.000Z",
        "body": {"id": TRACE_HEX, "tags": ["reviewed"], "metadata": {"reviewer": "bob"}}
    }]});
    let (status, _) = app.post("/api/public/ingestion", &update).await;
    assert_eq!(status, 207);
    let trace = row(&pool, "traces", TRACE_HEX).await.unwrap();
    assert_eq!(trace["tags"], json!(["prod", "reviewed"]));
    assert_eq!(trace["metadata"]["reviewer"], "bob");
    assert_eq!(trace["metadata"]["tenant"], "acme");
    assert_eq!(trace["name"], "checkout-flow");
}

#[tokio::test]
async fn a_retried_export_changes_nothing() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    let export = python_sdk_export(vec![python_root(), python_generation()]);
    assert_eq!(post_protobuf(&app, &export).await.status(), 200);
    let events = count(&pool, "select count(*) from ingest_events").await;
    let generation = row(&pool, "observations", GEN_HEX).await.unwrap();
    assert_eq!(post_protobuf(&app, &export).await.status(), 200);
    assert_eq!(
        count(&pool, "select count(*) from ingest_events").await,
        events
    );
    assert_eq!(
        row(&pool, "observations", GEN_HEX).await.unwrap(),
        generation
    );
    assert_eq!(count(&pool, "select count(*) from observations").await, 2);
}

#[tokio::test]
async fn an_export_over_the_body_limit_is_413() {
    let app = spawn_app_with(&[("XTRACE_MAX_BODY_BYTES", "1000")]).await;
    let big = python_sdk_export(vec![span(ROOT_ID, None, &"x".repeat(2000), vec![])]);
    let res = post_protobuf(&app, &big).await;
    assert_eq!(res.status(), 413);
    let small = python_sdk_export(vec![span(ROOT_ID, None, "small", vec![])]);
    assert_eq!(post_protobuf(&app, &small).await.status(), 200);
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after() {
    let app = spawn_app_with(&[
        ("XTRACE_INGEST_QUEUE", "1"),
        ("XTRACE_INGEST_WORKERS", "1"),
        ("XTRACE_INGEST_MAX_BATCH", "1"),
        ("XTRACE_INGEST_MAX_DELAY_MS", "0"),
    ])
    .await;
    let pool = db(&app).await;
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("lock table traces in access exclusive mode")
        .execute(&mut *lock)
        .await
        .unwrap();
    let send = |n: u8| {
        let client = app.client.clone();
        let url = app.url(TRACES);
        let auth = app.basic_auth();
        async move {
            let mut sp = span([n; 8], None, "s", vec![]);
            sp.trace_id = vec![n; 16];
            let body = python_sdk_export(vec![sp]).encode_to_vec();
            client
                .post(url)
                .header("Authorization", auth)
                .header("Content-Type", "application/x-protobuf")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let first = tokio::spawn(send(1));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let second = tokio::spawn(send(2));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let third = send(3).await;
    assert_eq!(third.status(), 503);
    assert!(third.headers().get("retry-after").is_some());
    lock.rollback().await.unwrap();
    assert_eq!(first.await.unwrap().status(), 200);
    assert_eq!(second.await.unwrap().status(), 200);
    assert_eq!(count(&pool, "select count(*) from traces").await, 2);
}
