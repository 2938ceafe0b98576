//! Hostile input: what an attacker with a valid (or public) key could send. Every request
//! must end in the expected status class within a bounded time, and the server must keep
//! serving everyone else afterwards (health and an authenticated read still answer 200).
//! Decompression bombs are posted, in every accepted encoding, to every write route.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde_json::{json, Value};

use crate::helpers::*;

/// Upper bound for any single hostile request.
const BOUND: Duration = Duration::from_secs(20);

/// Status class expected of a request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Class {
    /// 4xx.
    Client,
    /// Anything but 5xx.
    NotServer,
}

fn check(class: Class, status: u16, what: &str) {
    let ok = match class {
        Class::Client => (400..500).contains(&status),
        Class::NotServer => status < 500,
    };
    assert!(ok, "{what}: expected {class:?}, got {status}");
}

/// Sends a raw request; returns status, body text, and asserts the time bound.
async fn raw(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method token");
    let mut req = app.client.request(method, app.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let started = Instant::now();
    let res = tokio::time::timeout(BOUND, req.send())
        .await
        .unwrap_or_else(|_| panic!("{path}: no answer within {BOUND:?}"))
        .expect("request reaches the server");
    let status = res.status().as_u16();
    let text = tokio::time::timeout(BOUND, res.text())
        .await
        .expect("body within bound")
        .unwrap_or_default();
    assert!(
        started.elapsed() < BOUND,
        "{path} took {:?}",
        started.elapsed()
    );
    (status, text)
}

async fn authed(
    app: &TestApp,
    method: &str,
    path: &str,
    content_type: &str,
    body: Option<Vec<u8>>,
) -> (u16, String) {
    let auth = app.basic_auth();
    raw(
        app,
        method,
        path,
        &[("Authorization", &auth), ("Content-Type", content_type)],
        body,
    )
    .await
}

/// The server still serves: health, and an authenticated read.
async fn assert_healthy(app: &TestApp) {
    let (status, _) = raw(app, "GET", "/api/public/health", &[], None).await;
    assert_eq!(status, 200, "health after hostile input");
    let (status, body) = authed(app, "GET", "/api/public/traces?limit=1", "text/plain", None).await;
    assert_eq!(
        status, 200,
        "authenticated read after hostile input: {body}"
    );
}

/// A 4xx body must be JSON with a message, as Langfuse answers.
fn assert_langfuse_error(status: u16, text: &str, what: &str) {
    if (400..500).contains(&status) && status != 431 {
        let v: Value = serde_json::from_str(text)
            .unwrap_or_else(|_| panic!("{what}: {status} body is not JSON: {text:.200}"));
        assert!(
            v.get("message").is_some() || v.get("error").is_some(),
            "{what}: {status} body names no message: {text:.200}"
        );
    }
}

const JSON_ROUTES: &[&str] = &[
    "/api/public/ingestion",
    "/api/public/scores",
    "/api/public/v2/prompts",
    "/api/public/v2/datasets",
    "/api/public/dataset-items",
    "/api/public/dataset-run-items",
    "/api/public/score-configs",
    "/api/public/comments",
    "/api/public/models",
    "/api/public/media",
    "/v1/metrics/batch",
];

#[tokio::test]
async fn deep_invalid_and_non_utf8_json_bodies_get_400s() {
    let app = spawn_app().await;
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let deep_obj = "{\"a\":".repeat(50_000) + "1" + &"}".repeat(50_000);
    // A number beyond f64 in a field a route ignores is still JSON (JavaScript reads it as
    // Infinity): it may be accepted; everything else here is not JSON at all.
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("deep array", deep.into_bytes()),
        ("deep object", deep_obj.into_bytes()),
        ("truncated", b"{\"batch\": [".to_vec()),
        ("garbage", b"\x00\x01\x02not json at all".to_vec()),
        ("invalid utf-8", b"{\"name\": \"\xff\xfe\xfd\"}".to_vec()),
        ("lone surrogate", br#"{"name": "\ud800"}"#.to_vec()),
        (
            "NaN literal",
            br#"{"name": NaN, "value": Infinity}"#.to_vec(),
        ),
        (
            "huge number",
            br#"{"name": "x", "value": 1e999999}"#.to_vec(),
        ),
        ("empty", Vec::new()),
    ];
    for route in JSON_ROUTES {
        for (what, body) in &bodies {
            let (status, text) =
                authed(&app, "POST", route, "application/json", Some(body.clone())).await;
            let class = if *what == "huge number" {
                Class::NotServer
            } else {
                Class::Client
            };
            check(class, status, &format!("{what} to {route}"));
            assert_langfuse_error(status, &text, &format!("{what} to {route}"));
        }
    }
    assert_healthy(&app).await;
}

#[tokio::test]
async fn nan_infinity_and_out_of_range_values_inside_events_are_refused_or_stored_never_500() {
    let app = spawn_app().await;
    let id = uuid::Uuid::new_v4().to_string();
    for (what, ts) in [
        ("year 99999", "99999-01-01T00:00:00Z"),
        ("before the epoch of js", "-271821-04-20T00:00:00Z"),
        ("max js date", "+275760-09-13T00:00:00.000Z"),
        ("nonsense", "yesterday"),
        ("huge epoch", "99999999999999999999"),
    ] {
        let batch = json!({"batch": [{
            "id": uuid::Uuid::new_v4().to_string(),
            "timestamp": ts,
            "type": "trace-create",
            "body": {"id": id, "timestamp": ts, "name": what}
        }, {
            "id": uuid::Uuid::new_v4().to_string(),
            "timestamp": "2024-01-01T00:00:00Z",
            "type": "score-create",
            "body": {"traceId": id, "name": "s", "value": 1e308, "timestamp": ts}
        }]});
        let (status, text) = authed(
            &app,
            "POST",
            "/api/public/ingestion",
            "application/json",
            Some(batch.to_string().into_bytes()),
        )
        .await;
        check(Class::NotServer, status, what);
        assert!(!text.contains("Internal Server Error"), "{what}: {text}");
    }
    for q in [
        "fromTimestamp=99999-01-01T00:00:00Z",
        "fromTimestamp=-271821-04-20T00:00:00Z",
        "toTimestamp=%2B275760-09-13T00:00:00.000Z",
        "fromTimestamp=1e309",
        "page=99999999999999999999",
        "limit=-1",
        "page=0&limit=0",
    ] {
        for route in [
            "/api/public/traces",
            "/api/public/observations",
            "/api/public/v2/scores",
        ] {
            let (status, text) =
                authed(&app, "GET", &format!("{route}?{q}"), "text/plain", None).await;
            check(Class::NotServer, status, &format!("{route}?{q}"));
            assert_langfuse_error(status, &text, q);
        }
    }
    assert_healthy(&app).await;
}

#[tokio::test]
async fn nul_bytes_in_query_params_path_ids_and_json_strings_never_answer_500() {
    let app = spawn_app().await;
    let routes = [
        "/api/public/traces?name=a%00b&userId=%00",
        "/api/public/observations?name=%00&type=GENERATION&traceId=x%00",
        "/api/public/v2/observations?traceId=%00",
        "/api/public/v2/scores?name=%00&userId=%00&configId=%00",
        "/api/public/scores?name=%00",
        "/api/public/sessions?environment=%00",
        "/api/public/v2/prompts?name=%00&label=%00&tag=%00",
        "/api/public/v2/prompts/a%00b",
        "/api/public/v2/prompts/a%00b?label=%00",
        "/api/public/dataset-items?datasetName=%00&sourceTraceId=%00",
        "/api/public/dataset-run-items?datasetId=%00&runName=%00",
        "/api/public/v2/datasets/%00",
        "/api/public/datasets/%00/runs/%00",
        "/api/public/traces/%00",
        "/api/public/observations/%00",
        "/api/public/sessions/%00",
        "/api/public/scores/%00",
        "/api/public/comments?objectId=%00&objectType=TRACE",
        "/api/public/comments/%00",
        "/api/public/score-configs/%00",
        "/api/public/models/%00",
        "/api/public/media/%00",
        "/api/public/metrics/daily?traceName=%00&tags=%00",
        "/api/public/metrics/names",
    ];
    for path in routes {
        let (status, text) = authed(&app, "GET", path, "text/plain", None).await;
        check(Class::NotServer, status, path);
        assert_langfuse_error(status, &text, path);
    }
    let nul = "a\u{0}b";
    let writes = [
        (
            "/api/public/v2/prompts",
            json!({"name": "p-nul", "type": "text", "prompt": nul, "labels": [], "config": {"k": nul}}),
        ),
        (
            "/api/public/v2/prompts",
            json!({"name": nul, "type": "text", "prompt": "x"}),
        ),
        (
            "/api/public/v2/datasets",
            json!({"name": "d-nul", "description": nul, "metadata": {"m": nul}}),
        ),
        ("/api/public/v2/datasets", json!({"name": nul})),
        (
            "/api/public/dataset-items",
            json!({"datasetName": "d-nul", "input": {"q": nul}, "expectedOutput": nul, "metadata": [nul]}),
        ),
        (
            "/api/public/dataset-items",
            json!({"datasetName": nul, "input": 1}),
        ),
        (
            "/api/public/dataset-run-items",
            json!({"runName": nul, "datasetItemId": nul, "traceId": nul}),
        ),
        (
            "/api/public/score-configs",
            json!({"name": nul, "dataType": "NUMERIC", "description": nul}),
        ),
        (
            "/api/public/comments",
            json!({"projectId": "default", "objectType": "TRACE", "objectId": nul, "content": nul}),
        ),
        (
            "/api/public/scores",
            json!({"traceId": nul, "name": nul, "value": 1, "comment": nul}),
        ),
        (
            "/api/public/models",
            json!({"modelName": nul, "matchPattern": "(?i)^x$", "unit": "TOKENS"}),
        ),
        (
            "/api/public/media",
            json!({"traceId": nul, "contentType": "image/png", "contentLength": 1, "sha256Hash": nul, "field": "input"}),
        ),
        (
            "/api/public/ingestion",
            json!({"batch": [{"id": nul, "timestamp": "2024-01-01T00:00:00Z", "type": "trace-create", "body": {"id": nul, "name": nul, "metadata": {nul: nul}}}]}),
        ),
        (
            "/v1/metrics/batch",
            json!({"metrics": [{"name": nul, "labels": {nul: nul}, "value": 1, "timestamp": "2024-01-01T00:00:00Z"}]}),
        ),
    ];
    for (route, body) in writes {
        let (status, text) = authed(
            &app,
            "POST",
            route,
            "application/json",
            Some(body.to_string().into_bytes()),
        )
        .await;
        check(Class::NotServer, status, &format!("NUL in {route}: {body}"));
        assert_langfuse_error(status, &text, route);
    }
    assert_healthy(&app).await;
}

#[tokio::test]
async fn sql_metacharacters_in_ids_and_filters_are_plain_data() {
    let app = spawn_app().await;
    let evil = [
        "' OR '1'='1",
        "x'; drop table traces; --",
        "\"; delete from api_keys; --",
        "%' union select * from api_keys --",
        "\\",
        "$1",
        "?",
    ];
    for e in evil {
        let enc = urlencode(e);
        for path in [
            format!("/api/public/traces/{enc}"),
            format!("/api/public/observations/{enc}"),
            format!("/api/public/v2/prompts/{enc}"),
            format!("/api/public/traces?name={enc}&userId={enc}&tags={enc}"),
            format!("/api/public/observations?name={enc}&traceId={enc}"),
            format!("/api/public/v2/scores?name={enc}"),
            format!(
                "/api/public/traces?filter={}",
                urlencode(
                    &json!([{"type": "string", "column": "name", "operator": "=", "value": e}])
                        .to_string()
                )
            ),
        ] {
            let (status, text) = authed(&app, "GET", &path, "text/plain", None).await;
            check(Class::NotServer, status, &path);
            assert_langfuse_error(status, &text, &path);
        }
    }
    // The keys table is intact: the same credentials still work.
    assert_healthy(&app).await;
}

#[tokio::test]
async fn huge_strings_and_batches_are_bounded() {
    let app = spawn_app_with(&[("XTRACE_MAX_BODY_BYTES", "4000000")]).await;
    // A path id far beyond any real id.
    let long = "a".repeat(20_000);
    for path in [
        format!("/api/public/traces/{long}"),
        format!("/api/public/v2/prompts/{long}"),
        format!("/api/public/traces?name={long}"),
    ] {
        let (status, _) = authed(&app, "GET", &path, "text/plain", None).await;
        check(Class::NotServer, status, "long id");
    }
    // Ids too large for an index, and a 1 MB name.
    let batch = json!({"batch": [
        {"id": uuid::Uuid::new_v4().to_string(), "timestamp": "2024-01-01T00:00:00Z",
         "type": "trace-create", "body": {"id": "t".repeat(10_000), "name": "x"}},
        {"id": uuid::Uuid::new_v4().to_string(), "timestamp": "2024-01-01T00:00:00Z",
         "type": "trace-create", "body": {"id": "big-name", "name": "n".repeat(1_000_000)}},
    ]});
    let (status, text) = authed(
        &app,
        "POST",
        "/api/public/ingestion",
        "application/json",
        Some(batch.to_string().into_bytes()),
    )
    .await;
    check(
        Class::NotServer,
        status,
        &format!("huge strings: {text:.300}"),
    );
    // A huge batch of small events.
    let events: Vec<Value> = (0..10_000)
        .map(|i| {
            json!({"id": format!("ev-{i}"), "timestamp": "2024-01-01T00:00:00Z",
                   "type": "event-create", "body": {"traceId": "huge-batch", "name": "e"}})
        })
        .collect();
    let (status, _) = authed(
        &app,
        "POST",
        "/api/public/ingestion",
        "application/json",
        Some(json!({ "batch": events }).to_string().into_bytes()),
    )
    .await;
    check(Class::NotServer, status, "10k events");
    // Over the body limit: 413.
    let (status, text) = authed(
        &app,
        "POST",
        "/api/public/ingestion",
        "application/json",
        Some(vec![b' '; 5_000_000]),
    )
    .await;
    assert_eq!(status, 413, "{text:.200}");
    assert_healthy(&app).await;
}

fn kv(key: String, v: &str) -> KeyValue {
    KeyValue {
        key,
        key_strindex: 0,
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
    }
}

fn export(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn span(trace: u128, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: trace.to_be_bytes().to_vec(),
        span_id: (trace as u64 | 1).to_be_bytes().to_vec(),
        name: "s".into(),
        start_time_unix_nano: 1_714_564_800_000_000_000,
        end_time_unix_nano: 1_714_564_801_000_000_000,
        attributes,
        ..Default::default()
    }
}

#[tokio::test]
async fn garbage_and_sparse_otlp_exports_are_refused_quickly() {
    let app = spawn_app().await;
    const OTLP: &str = "/api/public/otel/v1/traces";
    for (ct, body) in [
        (
            "application/x-protobuf",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x0f".to_vec(),
        ),
        ("application/x-protobuf", vec![0x0a; 4096]),
        ("application/json", b"{\"resourceSpans\": 7}".to_vec()),
        ("application/json", b"\xff\xfe".to_vec()),
        ("application/json", ("[".repeat(10_000)).into_bytes()),
    ] {
        let (status, text) = authed(&app, "POST", OTLP, ct, Some(body)).await;
        check(
            Class::Client,
            status,
            &format!("garbage OTLP {ct}: {text:.200}"),
        );
    }
    // The flattened-attribute bomb: each key asks for thousands of array slots.
    let attrs: Vec<KeyValue> = (0..2_000)
        .map(|i| kv(format!("gen_ai.prompt.0.k{i}.9999.x"), "y"))
        .collect();
    let started = Instant::now();
    let (status, text) = authed(
        &app,
        "POST",
        OTLP,
        "application/x-protobuf",
        Some(export(vec![span(7, attrs)]).encode_to_vec()),
    )
    .await;
    assert_eq!(status, 400, "flattened bomb: {text}");
    assert!(text.contains("array elements"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Many distinct trace ids (the shallow-trace bookkeeping stays linear).
    let spans: Vec<Span> = (0..20_000u128)
        .map(|i| {
            let mut s = span(i + 1, vec![]);
            s.parent_span_id = vec![9; 8];
            s
        })
        .collect();
    let (status, text) = authed(
        &app,
        "POST",
        OTLP,
        "application/x-protobuf",
        Some(export(spans).encode_to_vec()),
    )
    .await;
    check(
        Class::NotServer,
        status,
        &format!("20k traces: {text:.200}"),
    );
    assert_healthy(&app).await;
}

async fn create_prompt(app: &TestApp, name: &str, prompt: &str) -> (u16, String) {
    authed(
        app,
        "POST",
        "/api/public/v2/prompts",
        "application/json",
        Some(
            json!({"name": name, "type": "text", "prompt": prompt, "labels": ["production"]})
                .to_string()
                .into_bytes(),
        ),
    )
    .await
}

#[tokio::test]
async fn the_prompt_composition_bomb_is_refused_on_create() {
    let app = spawn_app().await;
    let (status, text) = create_prompt(&app, "p0", &"x".repeat(1000)).await;
    assert_eq!(status, 201, "{text}");
    // p1 = 100 copies of p0 (100 kB), fine; p2 = 100 copies of p1 (10 MB) is over budget.
    let refs = |n: &str| format!("@@@langfusePrompt:name={n}|version=1@@@ ").repeat(100);
    let (status, text) = create_prompt(&app, "p1", &refs("p0")).await;
    assert_eq!(status, 201, "{text}");
    let started = Instant::now();
    let (status, text) = create_prompt(&app, "p2", &refs("p1")).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("exceeds the limit"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let (status, _) = authed(&app, "GET", "/api/public/v2/prompts/p1", "text/plain", None).await;
    assert_eq!(status, 200);
    assert_healthy(&app).await;
}

#[tokio::test]
async fn prompt_references_beyond_the_budget_are_refused() {
    let app = spawn_app_with(&[("XTRACE_PROMPT_MAX_REFERENCES", "3")]).await;
    for n in ["a", "b", "c", "d"] {
        assert_eq!(create_prompt(&app, n, n).await.0, 201);
    }
    let three = "@@@langfusePrompt:name=a|version=1@@@ @@@langfusePrompt:name=b|version=1@@@ @@@langfusePrompt:name=c|version=1@@@";
    assert_eq!(create_prompt(&app, "ok", three).await.0, 201);
    let four = format!("{three} @@@langfusePrompt:name=d|version=1@@@");
    let (status, text) = create_prompt(&app, "too-many", &four).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("more than 3 references"), "{text}");
}

#[tokio::test]
async fn random_http_methods_get_404_or_405_and_add_no_metric_series() {
    let app = spawn_app().await;
    for m in ["FOO1", "FOO2", "PROPFIND", "BREW", "PATCH", "TRACE"] {
        for path in [
            "/api/public/traces",
            "/api/public/ingestion",
            "/nope",
            "/api/public/v2/prompts/x",
        ] {
            let (status, text) = authed(&app, m, path, "text/plain", None).await;
            check(Class::Client, status, &format!("{m} {path}"));
            assert_langfuse_error(status, &text, m);
        }
    }
    let (_, metrics) = raw(&app, "GET", "/metrics", &[], None).await;
    assert!(
        !metrics.contains("FOO1") && !metrics.contains("BREW"),
        "method labels bounded"
    );
    assert!(
        metrics.contains("method=\"OTHER\""),
        "extension methods counted as OTHER"
    );
    assert_healthy(&app).await;
}

#[tokio::test]
async fn sixty_four_kilobyte_headers_are_refused_without_harm() {
    let app = spawn_app().await;
    let big = "x".repeat(64 * 1024);
    let auth = format!("Basic {big}");
    for headers in [
        vec![("X-Big", big.as_str())],
        vec![("Authorization", auth.as_str())],
        vec![("Cookie", big.as_str())],
    ] {
        let mut req = app.client.get(app.url("/api/public/traces"));
        for (k, v) in &headers {
            req = req.header(*k, *v);
        }
        match tokio::time::timeout(BOUND, req.send()).await {
            Ok(Ok(res)) => check(Class::Client, res.status().as_u16(), "64 KB header"),
            // Closing the connection on an oversized head is also a refusal.
            Ok(Err(_)) => {}
            Err(_) => panic!("64 KB header: no answer within bound"),
        }
    }
    assert_healthy(&app).await;
}

#[tokio::test]
async fn a_multibyte_step_is_a_400_not_a_panic() {
    let app = spawn_app().await;
    for step in ["1%C3%A9", "%C3%A9", "%F0%9F%92%A5m"] {
        let (status, text) = authed(
            &app,
            "GET",
            &format!("/api/public/metrics/query?name=x&step={step}"),
            "text/plain",
            None,
        )
        .await;
        assert_eq!(status, 400, "step {step}: {text}");
    }
    assert_healthy(&app).await;
}

#[tokio::test]
async fn failed_authentication_is_rate_limited_per_address_and_valid_keys_are_not() {
    let app = spawn_app_with(&[("XTRACE_AUTH_FAILURES_PER_MINUTE", "10")]).await;
    // A valid key in use before the attack.
    assert_eq!(app.get("/api/public/traces").await.0, 200);
    let wrong = basic(&app.public_key, "wrong-secret");
    let mut statuses = Vec::new();
    for i in 0..25 {
        let random = basic(&format!("pk-lf-random-{i}"), "s");
        for a in [&wrong, &random] {
            statuses.push(app.send("GET", "/api/public/traces", Some(a), None).await.0);
        }
    }
    assert_eq!(statuses[0], 401);
    assert!(
        statuses.contains(&429),
        "429 after the threshold: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    // The valid key is not slowed from the same address.
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(app.get("/api/public/traces").await.0, 200);
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn expired_keys_stop_authenticating_and_operator_secrets_are_argon2_hashed() {
    let app = spawn_app().await;
    let pool = xtrace::db::connect(&app.database_url, 2).await.unwrap();
    let stored: Vec<u8> =
        sqlx::query_scalar("select secret_hash from api_keys where public_key = $1")
            .bind(&app.public_key)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        stored.starts_with(b"$argon2id$"),
        "configured secret uses argon2"
    );
    let (_, pk, sk) = create_project_with_key(&app, "expiring").await;
    let generated: Vec<u8> =
        sqlx::query_scalar("select secret_hash from api_keys where public_key = $1")
            .bind(&pk)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(generated.len(), 32, "generated secrets keep the fast hash");
    let auth = basic(&pk, &sk);
    assert_eq!(
        app.send("GET", "/api/public/traces", Some(&auth), None)
            .await
            .0,
        200
    );
    sqlx::query(
        "update api_keys set expires_at = now() - interval '1 second' where public_key = $1",
    )
    .bind(&pk)
    .execute(&pool)
    .await
    .unwrap();
    // Creating a key clears the key cache, so the expiry is seen at once.
    create_project_with_key(&app, "other").await;
    assert_eq!(
        app.send("GET", "/api/public/traces", Some(&auth), None)
            .await
            .0,
        401
    );
    assert_eq!(app.get("/api/public/traces").await.0, 200);
}

#[tokio::test]
async fn a_read_past_the_statement_timeout_answers_503_with_a_clear_message() {
    use actix_web::ResponseError;
    let url = fresh_database().await;
    let pool = xtrace::db::connect_with_timeout(&url, 1, 100)
        .await
        .unwrap();
    let e = sqlx::query("select pg_sleep(2)")
        .execute(&pool)
        .await
        .expect_err("statement timeout cancels the query");
    let e = xtrace::error::ApiError::from(e);
    assert_eq!(e.status_code().as_u16(), 503);
    let res = e.error_response();
    let body = actix_web::body::to_bytes(res.into_body()).await.unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"], "QueryTimeoutError");
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("XTRACE_STATEMENT_TIMEOUT_MS"));
    // The write pool has no timeout.
    let writes = xtrace::db::connect(&url, 1).await.unwrap();
    sqlx::query("select pg_sleep(0.3)")
        .execute(&writes)
        .await
        .unwrap();
}

#[tokio::test]
async fn cors_allows_any_origin_by_default_and_only_listed_ones_when_configured() {
    let preflight = |app: &TestApp, origin: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/public/scores"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type",
            )
            .send()
    };
    let open = spawn_app().await;
    let res = preflight(&open, "https://anything.example").await.unwrap();
    assert!(res.status().is_success());
    assert!(res.headers().get("access-control-allow-origin").is_some());

    let listed = spawn_app_with(&[("XTRACE_CORS_ORIGINS", "https://good.example")]).await;
    let res = preflight(&listed, "https://good.example").await.unwrap();
    assert!(res.status().is_success());
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://good.example"
    );
    let res = preflight(&listed, "https://evil.example").await.unwrap();
    assert!(
        res.headers().get("access-control-allow-origin").is_none(),
        "unlisted origin gets no CORS grant"
    );
    assert!(res.status().as_u16() < 500);
}

/// `n` zero bytes compressed with `coding` (the smallest bodies that inflate the most).
fn bomb(coding: &str, n: usize) -> Vec<u8> {
    use std::io::Write;
    let zeros = vec![0u8; n];
    match coding {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(&zeros).unwrap();
            e.finish().unwrap()
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(&zeros).unwrap();
            e.finish().unwrap()
        }
        "br" => {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 9, 22);
                w.write_all(&zeros).unwrap();
            }
            out
        }
        "zstd" => zstd::encode_all(&zeros[..], 19).unwrap(),
        other => panic!("unknown coding {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decompression_bombs_on_every_write_route_stop_at_the_body_limit() {
    // 1 MiB limit; each bomb inflates to 64 MiB from a few KB.
    let app = spawn_app_with(&[("XTRACE_MAX_BODY_BYTES", "1048576")]).await;
    let routes = [
        ("POST", "/api/public/ingestion", "application/json"),
        (
            "POST",
            "/api/public/otel/v1/traces",
            "application/x-protobuf",
        ),
        ("POST", "/api/public/otel/v1/traces", "application/json"),
        ("POST", "/api/public/scores", "application/json"),
        ("POST", "/api/public/traces", "application/json"),
        ("POST", "/api/public/spans", "application/json"),
        ("PATCH", "/api/public/generations", "application/json"),
        ("POST", "/v1/l/batch", "application/json"),
        ("POST", "/v1/metrics/batch", "application/json"),
    ];
    for coding in ["gzip", "deflate", "br", "zstd"] {
        let body = bomb(coding, 64 << 20);
        assert!(
            body.len() < 256 << 10,
            "{coding} bomb is small: {}",
            body.len()
        );
        for (method, path, ct) in routes {
            let auth = app.basic_auth();
            let started = Instant::now();
            let (status, text) = raw(
                &app,
                method,
                path,
                &[
                    ("Authorization", &auth),
                    ("Content-Type", ct),
                    ("Content-Encoding", coding),
                ],
                Some(body.clone()),
            )
            .await;
            assert_eq!(status, 413, "{method} {path} {coding}: {text}");
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{method} {path} {coding} took {:?}",
                started.elapsed()
            );
        }
        // Not a bomb but not the encoding it claims: a 400, never a 5xx.
        let (status, _) = authed(
            &app,
            "POST",
            "/api/public/ingestion",
            "application/json",
            None,
        )
        .await;
        check(Class::Client, status, "empty ingestion body");
    }
    let auth = app.basic_auth();
    let (status, _) = raw(
        &app,
        "POST",
        "/api/public/ingestion",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
        Some(b"definitely not gzip".to_vec()),
    )
    .await;
    assert_eq!(status, 400, "corrupt gzip");
    assert_healthy(&app).await;
}
