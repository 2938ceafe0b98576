//! The advanced `filter` parameter of the trace, observation and score lists, and the
//! matched model's prices on observations. Rows are seeded through SQL from a table kept
//! in the test; every expected id set is computed from that table.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::seed::*;

/// These tests send more reads per second than the default rate limit admits.
async fn app() -> TestApp {
    spawn_app_with(&[("RATE_LIMIT_QPS", "0")]).await
}

fn ids(body: &Value) -> Vec<String> {
    let mut v: Vec<String> = body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("data array in {body}"))
        .iter()
        .map(|x| x["id"].as_str().expect("id").to_string())
        .collect();
    v.sort();
    v
}

/// Trace fixture: id, minute after 10:00, name, user, environment, tags, metadata, bookmarked.
struct T {
    id: &'static str,
    minute: u32,
    name: &'static str,
    user: Option<&'static str>,
    env: &'static str,
    tags: &'static [&'static str],
    meta: Value,
    bookmarked: bool,
}

fn traces() -> Vec<T> {
    vec![
        T {
            id: "t1",
            minute: 0,
            name: "chat-main",
            user: Some("alice"),
            env: "production",
            tags: &["a", "b"],
            meta: json!({"tier": "gold", "n": 5}),
            bookmarked: true,
        },
        T {
            id: "t2",
            minute: 10,
            name: "search",
            user: Some("bob"),
            env: "staging",
            tags: &["a"],
            meta: json!({"tier": "silver", "n": "12"}),
            bookmarked: false,
        },
        T {
            id: "t3",
            minute: 20,
            name: "chat-side",
            user: None,
            env: "production",
            tags: &["c"],
            meta: json!({"n": 1}),
            bookmarked: false,
        },
        T {
            id: "t4",
            minute: 30,
            name: "summarise",
            user: Some("alice"),
            env: "dev",
            tags: &[],
            meta: json!({"tier": "golden"}),
            bookmarked: true,
        },
        T {
            id: "t5",
            minute: 40,
            name: "chat",
            user: Some("carol"),
            env: "staging",
            tags: &["b", "c"],
            meta: json!({}),
            bookmarked: false,
        },
    ]
}

fn ts(minute: u32) -> String {
    format!("2024-05-01T10:{minute:02}:00.000Z")
}

async fn seed_traces(seed: &Seed) -> Vec<T> {
    let all = traces();
    for t in &all {
        seed.trace(
            t.id,
            &ts(t.minute),
            json!({"name": t.name, "user_id": t.user, "environment": t.env, "tags": t.tags,
                "metadata": t.meta, "bookmarked": t.bookmarked}),
        )
        .await;
    }
    all
}

fn meta_text(t: &T, key: &str) -> String {
    match &t.meta[key] {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn meta_number(t: &T, key: &str) -> Option<f64> {
    match &t.meta[key] {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

async fn list_ids(app: &TestApp, path: &str, filter: &Value, extra: &str) -> Vec<String> {
    let url = format!(
        "{path}?limit=100&filter={}{extra}",
        urlencode(&filter.to_string())
    );
    let (status, body) = app.get(&url).await;
    assert_eq!(status, 200, "{url}: {body}");
    ids(&body)
}

#[tokio::test]
async fn trace_filter_conditions_of_every_type_select_the_matching_traces() {
    let app = app().await;
    let seed = Seed::new(&app).await;
    let all = seed_traces(&seed).await;
    type Pred = Box<dyn Fn(&T) -> bool>;
    let cases: Vec<(Value, Pred)> = vec![
        (
            json!([{"type":"datetime","column":"timestamp","operator":">=","value":ts(20)}]),
            Box::new(|t: &T| t.minute >= 20),
        ),
        (
            json!([{"type":"datetime","column":"timestamp","operator":"<","value":ts(20)}]),
            Box::new(|t: &T| t.minute < 20),
        ),
        (
            json!([{"type":"datetime","column":"timestamp","operator":">","value":ts(20)},
                   {"type":"datetime","column":"timestamp","operator":"<=","value":ts(40)}]),
            Box::new(|t: &T| t.minute > 20 && t.minute <= 40),
        ),
        (
            json!([{"type":"string","column":"name","operator":"=","value":"chat"}]),
            Box::new(|t: &T| t.name == "chat"),
        ),
        (
            json!([{"type":"string","column":"name","operator":"contains","value":"chat"}]),
            Box::new(|t: &T| t.name.contains("chat")),
        ),
        (
            json!([{"type":"string","column":"name","operator":"does not contain","value":"chat"}]),
            Box::new(|t: &T| !t.name.contains("chat")),
        ),
        (
            json!([{"type":"string","column":"name","operator":"starts with","value":"chat-"}]),
            Box::new(|t: &T| t.name.starts_with("chat-")),
        ),
        (
            json!([{"type":"string","column":"name","operator":"ends with","value":"ch"}]),
            Box::new(|t: &T| t.name.ends_with("ch")),
        ),
        (
            json!([{"type":"stringOptions","column":"environment","operator":"any of",
                    "value":["production","dev"]}]),
            Box::new(|t: &T| ["production", "dev"].contains(&t.env)),
        ),
        (
            json!([{"type":"stringOptions","column":"environment","operator":"none of",
                    "value":["production"]}]),
            Box::new(|t: &T| t.env != "production"),
        ),
        (
            json!([{"type":"arrayOptions","column":"tags","operator":"any of","value":["b","c"]}]),
            Box::new(|t: &T| t.tags.iter().any(|x| *x == "b" || *x == "c")),
        ),
        (
            json!([{"type":"arrayOptions","column":"tags","operator":"all of","value":["b","c"]}]),
            Box::new(|t: &T| t.tags.contains(&"b") && t.tags.contains(&"c")),
        ),
        (
            json!([{"type":"arrayOptions","column":"tags","operator":"none of","value":["a"]}]),
            Box::new(|t: &T| !t.tags.contains(&"a")),
        ),
        (
            json!([{"type":"stringObject","column":"metadata","key":"tier","operator":"=",
                    "value":"gold"}]),
            Box::new(|t: &T| meta_text(t, "tier") == "gold"),
        ),
        (
            json!([{"type":"stringObject","column":"metadata","key":"tier",
                    "operator":"starts with","value":"gold"}]),
            Box::new(|t: &T| meta_text(t, "tier").starts_with("gold")),
        ),
        (
            json!([{"type":"stringObject","column":"metadata","key":"tier",
                    "operator":"does not contain","value":"l"}]),
            Box::new(|t: &T| !meta_text(t, "tier").contains('l')),
        ),
        (
            json!([{"type":"numberObject","column":"metadata","key":"n","operator":">",
                    "value":2}]),
            Box::new(|t: &T| meta_number(t, "n").is_some_and(|n| n > 2.0)),
        ),
        (
            json!([{"type":"numberObject","column":"metadata","key":"n","operator":"<=",
                    "value":5}]),
            Box::new(|t: &T| meta_number(t, "n").is_some_and(|n| n <= 5.0)),
        ),
        (
            json!([{"type":"boolean","column":"bookmarked","operator":"=","value":true}]),
            Box::new(|t: &T| t.bookmarked),
        ),
        (
            json!([{"type":"boolean","column":"bookmarked","operator":"<>","value":true}]),
            Box::new(|t: &T| !t.bookmarked),
        ),
        (
            json!([{"type":"null","column":"userId","operator":"is null","value":""}]),
            Box::new(|t: &T| t.user.is_none()),
        ),
        (
            json!([{"type":"null","column":"userId","operator":"is not null","value":""}]),
            Box::new(|t: &T| t.user.is_some()),
        ),
        (json!([]), Box::new(|_: &T| true)),
    ];
    for (filter, pred) in cases {
        let mut expected: Vec<String> = all
            .iter()
            .filter(|t| pred(t))
            .map(|t| t.id.to_string())
            .collect();
        expected.sort();
        let got = list_ids(&app, "/api/public/traces", &filter, "").await;
        assert_eq!(got, expected, "filter {filter}");
        // The count follows the filter too.
        let (_, body) = app
            .get(&format!(
                "/api/public/traces?limit=1&filter={}",
                urlencode(&filter.to_string())
            ))
            .await;
        assert_eq!(
            body["meta"]["totalItems"],
            expected.len(),
            "count for {filter}"
        );
    }
}

#[tokio::test]
async fn trace_filter_combines_with_simple_params_and_overrides_them_per_column() {
    let app = app().await;
    let seed = Seed::new(&app).await;
    let all = seed_traces(&seed).await;
    let by = |f: &dyn Fn(&T) -> bool| {
        let mut v: Vec<String> = all
            .iter()
            .filter(|t| f(t))
            .map(|t| t.id.to_string())
            .collect();
        v.sort();
        v
    };
    // Different columns: AND.
    let f = json!([{"type":"string","column":"name","operator":"contains","value":"chat"}]);
    assert_eq!(
        list_ids(&app, "/api/public/traces", &f, "&userId=alice").await,
        by(&|t: &T| t.name.contains("chat") && t.user == Some("alice"))
    );
    assert_eq!(
        list_ids(&app, "/api/public/traces", &f, "&environment=staging").await,
        by(&|t: &T| t.name.contains("chat") && t.env == "staging")
    );
    // Same column: the filter condition replaces `userId=`.
    let f = json!([{"type":"stringOptions","column":"userId","operator":"any of",
                    "value":["bob","carol"]}]);
    assert_eq!(
        list_ids(&app, "/api/public/traces", &f, "&userId=alice").await,
        by(&|t: &T| matches!(t.user, Some("bob" | "carol")))
    );
}

#[tokio::test]
async fn bad_filters_are_400_naming_filter_on_every_list() {
    let app = app().await;
    for path in [
        "/api/public/traces",
        "/api/public/observations",
        "/api/public/v2/observations",
        "/api/public/scores",
        "/api/public/v2/scores",
    ] {
        for (raw, why) in [
            ("not json", "invalid JSON"),
            (r#"{"type":"string"}"#, "not an array"),
            (
                r#"[{"type":"string","column":"name","operator":"like","value":"x"}]"#,
                "unknown operator",
            ),
            (
                r#"[{"type":"bogus","column":"name","operator":"=","value":"x"}]"#,
                "unknown type",
            ),
            (
                r#"[{"type":"string","column":"nope","operator":"=","value":"x"}]"#,
                "unknown column",
            ),
            (
                r#"[{"type":"number","column":"name","operator":"=","value":1}]"#,
                "type does not fit the column",
            ),
            (
                r#"[{"type":"datetime","column":"name","operator":">","value":"yesterday"}]"#,
                "bad date",
            ),
        ] {
            let (status, body) = app.get(&format!("{path}?filter={}", urlencode(raw))).await;
            assert_eq!(status, 400, "{path} {why}: {body}");
            assert!(
                body.to_string().contains("filter"),
                "{path} {why}: body names filter: {body}"
            );
            assert!(body["message"].is_string(), "{path} {why}: {body}");
        }
    }
    let (_, body) = app
        .get(&format!("/api/public/traces?filter={}", urlencode("{oops")))
        .await;
    assert_eq!(
        body,
        json!({"message": "Invalid JSON in filter parameter", "error": "InvalidRequestError"})
    );
    let (_, body) = app
        .get(&format!(
            "/api/public/traces?filter={}",
            urlencode(r#"[{"type":"string","column":"nope","operator":"=","value":"x"}]"#)
        ))
        .await;
    assert_eq!(body["message"], "Invalid request data");
    assert_eq!(body["error"][0]["path"], json!(["filter", 0, "column"]));
}

/// Observation fixture: id, trace, type, start second, latency (s), level, metadata,
/// input tokens.
struct O {
    id: &'static str,
    trace: &'static str,
    kind: &'static str,
    second: u32,
    latency: Option<u32>,
    level: &'static str,
    meta: Value,
    input_tokens: u32,
}

#[tokio::test]
async fn observation_filters_cover_own_numeric_and_trace_columns() {
    let app = app().await;
    let seed = Seed::new(&app).await;
    let ts_all = seed_traces(&seed).await;
    let obs = vec![
        O {
            id: "o1",
            trace: "t1",
            kind: "GENERATION",
            second: 1,
            latency: Some(3),
            level: "DEFAULT",
            meta: json!({"route": "/chat"}),
            input_tokens: 100,
        },
        O {
            id: "o2",
            trace: "t1",
            kind: "SPAN",
            second: 2,
            latency: None,
            level: "ERROR",
            meta: json!({}),
            input_tokens: 0,
        },
        O {
            id: "o3",
            trace: "t2",
            kind: "GENERATION",
            second: 3,
            latency: Some(1),
            level: "WARNING",
            meta: json!({"route": "/search"}),
            input_tokens: 40,
        },
        O {
            id: "o4",
            trace: "t4",
            kind: "EVENT",
            second: 4,
            latency: Some(10),
            level: "DEFAULT",
            meta: json!({"route": "/chat/x"}),
            input_tokens: 7,
        },
    ];
    for o in &obs {
        let start = format!("2024-05-01T11:00:{:02}.000Z", o.second);
        let end = o
            .latency
            .map(|l| format!("2024-05-01T11:00:{:02}.000Z", o.second + l));
        seed.observation(
            o.id,
            o.trace,
            o.kind,
            &start,
            json!({"end_time": end, "level": o.level, "metadata": o.meta,
                "usage_details": {"input": o.input_tokens, "input_cached": 1, "output": 2}}),
        )
        .await;
    }
    let trace_of = |o: &O| {
        ts_all
            .iter()
            .find(|t| t.id == o.trace)
            .expect("seeded trace")
    };
    type Pred<'a> = Box<dyn Fn(&O) -> bool + 'a>;
    let cases: Vec<(Value, Pred)> = vec![
        (
            json!([{"type":"number","column":"latency","operator":">=","value":3}]),
            Box::new(|o: &O| o.latency.is_some_and(|l| l >= 3)),
        ),
        (
            json!([{"type":"number","column":"latency","operator":"<","value":3}]),
            Box::new(|o: &O| o.latency.is_some_and(|l| l < 3)),
        ),
        (
            // Input tokens sum every usage key containing "input" (input + input_cached).
            json!([{"type":"number","column":"inputTokens","operator":">","value":10}]),
            Box::new(|o: &O| o.input_tokens + 1 > 10),
        ),
        (
            json!([{"type":"number","column":"inputTokens","operator":"=","value":8}]),
            Box::new(|o: &O| o.input_tokens + 1 == 8),
        ),
        (
            json!([{"type":"stringOptions","column":"level","operator":"any of",
                    "value":["ERROR","WARNING"]}]),
            Box::new(|o: &O| ["ERROR", "WARNING"].contains(&o.level)),
        ),
        (
            json!([{"type":"string","column":"type","operator":"=","value":"GENERATION"}]),
            Box::new(|o: &O| o.kind == "GENERATION"),
        ),
        (
            json!([{"type":"null","column":"endTime","operator":"is null","value":""}]),
            Box::new(|o: &O| o.latency.is_none()),
        ),
        (
            json!([{"type":"stringObject","column":"metadata","key":"route",
                    "operator":"starts with","value":"/chat"}]),
            Box::new(|o: &O| o.meta["route"].as_str().unwrap_or("").starts_with("/chat")),
        ),
        (
            json!([{"type":"string","column":"userId","operator":"=","value":"alice"}]),
            Box::new(|o: &O| trace_of(o).user == Some("alice")),
        ),
        (
            json!([{"type":"string","column":"traceName","operator":"contains","value":"chat"}]),
            Box::new(|o: &O| trace_of(o).name.contains("chat")),
        ),
        (
            json!([{"type":"arrayOptions","column":"traceTags","operator":"any of","value":["a"]}]),
            Box::new(|o: &O| trace_of(o).tags.contains(&"a")),
        ),
        (
            json!([{"type":"datetime","column":"startTime","operator":">","value":"2024-05-01T11:00:02.000Z"}]),
            Box::new(|o: &O| o.second > 2),
        ),
    ];
    for (filter, pred) in cases {
        let mut expected: Vec<String> = obs
            .iter()
            .filter(|o| pred(o))
            .map(|o| o.id.to_string())
            .collect();
        expected.sort();
        assert_eq!(
            list_ids(&app, "/api/public/observations", &filter, "").await,
            expected,
            "v1 {filter}"
        );
        assert_eq!(
            list_ids(&app, "/api/public/v2/observations", &filter, "").await,
            expected,
            "v2 {filter}"
        );
    }
    // AND with a simple parameter on another column.
    let f = json!([{"type":"number","column":"latency","operator":">","value":0}]);
    let mut expected: Vec<String> = obs
        .iter()
        .filter(|o| o.latency.is_some() && o.kind == "GENERATION")
        .map(|o| o.id.to_string())
        .collect();
    expected.sort();
    assert_eq!(
        list_ids(&app, "/api/public/observations", &f, "&type=GENERATION").await,
        expected
    );
}

#[tokio::test]
async fn score_filters_select_by_value_source_and_trace_columns() {
    /// (id, name, value, trace, source, comment)
    type Row<'a> = (
        &'a str,
        &'a str,
        f64,
        Option<&'a str>,
        &'a str,
        Option<&'a str>,
    );
    let app = app().await;
    let seed = Seed::new(&app).await;
    let ts_all = seed_traces(&seed).await;
    let scores: Vec<Row> = vec![
        ("s1", "quality", 0.9, Some("t1"), "API", Some("great")),
        ("s2", "quality", 0.2, Some("t2"), "EVAL", None),
        ("s3", "speed", 3.0, Some("t4"), "API", Some("slow-ish")),
        ("s4", "speed", 7.5, None, "ANNOTATION", None),
    ];
    for (i, (id, name, value, trace, source, comment)) in scores.iter().enumerate() {
        seed.score(
            id,
            name,
            "NUMERIC",
            &format!("2024-05-02T10:00:0{i}.000Z"),
            json!({"value": value, "trace_id": trace, "source": source, "comment": comment,
                "session_id": if trace.is_none() { Some("sess") } else { None }}),
        )
        .await;
    }
    let user_of = |trace: Option<&str>| {
        trace.and_then(|id| ts_all.iter().find(|t| t.id == id).and_then(|t| t.user))
    };
    type Pred<'a> = Box<dyn Fn(&Row) -> bool + 'a>;
    let cases: Vec<(Value, Pred)> = vec![
        (
            json!([{"type":"number","column":"value","operator":">","value":1}]),
            Box::new(|s: &Row| s.2 > 1.0),
        ),
        (
            json!([{"type":"number","column":"value","operator":"<=","value":0.9}]),
            Box::new(|s: &Row| s.2 <= 0.9),
        ),
        (
            json!([{"type":"stringOptions","column":"source","operator":"none of","value":["API"]}]),
            Box::new(|s: &Row| s.4 != "API"),
        ),
        (
            json!([{"type":"null","column":"comment","operator":"is not null","value":""}]),
            Box::new(|s: &Row| s.5.is_some()),
        ),
        (
            json!([{"type":"string","column":"userId","operator":"=","value":"alice"}]),
            Box::new(|s: &Row| user_of(s.3) == Some("alice")),
        ),
    ];
    for (filter, pred) in cases {
        let mut v2: Vec<String> = scores
            .iter()
            .filter(|s| pred(s))
            .map(|s| s.0.to_string())
            .collect();
        v2.sort();
        // v1 lists trace scores only, whatever the filter.
        let v1: Vec<String> = v2
            .iter()
            .filter(|id| scores.iter().any(|s| s.0 == id.as_str() && s.3.is_some()))
            .cloned()
            .collect();
        assert_eq!(
            list_ids(&app, "/api/public/v2/scores", &filter, "").await,
            v2,
            "v2 {filter}"
        );
        assert_eq!(
            list_ids(&app, "/api/public/scores", &filter, "").await,
            v1,
            "v1 {filter}"
        );
    }
    // A filter on traceId does not lift v1's trace-scores-only rule.
    let f = json!([{"type":"null","column":"traceId","operator":"is null","value":""}]);
    assert_eq!(
        list_ids(&app, "/api/public/scores", &f, "").await,
        Vec::<String>::new()
    );
    // AND with the simple `name=` parameter.
    let f = json!([{"type":"number","column":"value","operator":">","value":0.5}]);
    assert_eq!(
        list_ids(&app, "/api/public/v2/scores", &f, "&name=speed").await,
        vec!["s3".to_string(), "s4".to_string()]
    );
}

#[tokio::test]
async fn observations_report_the_matched_models_prices() {
    let app = app().await;
    let (status, model) = app
        .post(
            "/api/public/models",
            &json!({"modelName": "acme-llm", "matchPattern": "(?i)^acme-llm$", "unit": "TOKENS",
                "inputPrice": 0.000003, "outputPrice": 0.000015}),
        )
        .await;
    assert_eq!(status, 200, "{model}");
    let model_id = model["id"].as_str().expect("model id").to_string();
    let (status, res) = app
        .post(
            "/api/public/ingestion",
            &json!({"batch": [
                {"id": "e1", "type": "trace-create", "timestamp": "2024-05-01T10:00:00.000Z",
                 "body": {"id": "pt"}},
                {"id": "e2", "type": "generation-create", "timestamp": "2024-05-01T10:00:00.000Z",
                 "body": {"id": "priced", "traceId": "pt", "startTime": "2024-05-01T10:00:00.000Z",
                   "model": "acme-llm", "usageDetails": {"input": 1000, "output": 100}}},
                {"id": "e3", "type": "generation-create", "timestamp": "2024-05-01T10:00:01.000Z",
                 "body": {"id": "unpriced", "traceId": "pt", "startTime": "2024-05-01T10:00:01.000Z",
                   "model": "no-such-model-xyz"}}
            ]}),
        )
        .await;
    assert_eq!((status, res["errors"].clone()), (207, json!([])), "{res}");
    let close = |v: &Value, want: f64| v.as_f64().is_some_and(|x| (x - want).abs() <= want * 1e-9);

    let (status, obs) = app.get("/api/public/observations/priced").await;
    assert_eq!(status, 200, "{obs}");
    assert_eq!(obs["modelId"], model_id.as_str(), "{obs}");
    assert!(close(&obs["inputPrice"], 0.000003), "{obs}");
    assert!(close(&obs["outputPrice"], 0.000015), "{obs}");
    assert_eq!(obs["totalPrice"], Value::Null, "no total price was set");

    let (_, obs) = app.get("/api/public/observations/unpriced").await;
    assert_eq!(
        (&obs["modelId"], &obs["inputPrice"], &obs["outputPrice"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );

    // The same prices in the list, the trace's embedded observations and v2 (`model` group).
    let (_, list) = app.get("/api/public/observations?traceId=pt").await;
    let priced = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|o| o["id"] == "priced")
        .expect("priced listed")
        .clone();
    assert!(close(&priced["inputPrice"], 0.000003), "{priced}");
    let (_, trace) = app.get("/api/public/traces/pt").await;
    let embedded = trace["observations"]
        .as_array()
        .expect("observations")
        .iter()
        .find(|o| o["id"] == "priced")
        .expect("priced embedded")
        .clone();
    assert!(close(&embedded["outputPrice"], 0.000015), "{embedded}");
    let (_, v2) = app
        .get("/api/public/v2/observations?traceId=pt&fields=core,model")
        .await;
    let row = v2["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|o| o["id"] == "priced")
        .expect("priced in v2")
        .clone();
    let as_f64 = |v: &Value| v.as_str().and_then(|s| s.parse::<f64>().ok());
    assert!(
        as_f64(&row["inputPrice"]).is_some_and(|x| (x - 0.000003).abs() < 1e-15),
        "v2 prices are decimal strings: {row}"
    );
    let (_, v2) = app.get("/api/public/v2/observations?traceId=pt").await;
    assert!(
        v2["data"]
            .as_array()
            .expect("data")
            .iter()
            .all(|o| o["inputPrice"].is_null()),
        "without the model group prices are null: {v2}"
    );
}
