//! `GET /api/public/metrics?query=…` and `GET /api/public/v2/metrics?query=…`: data seeded
//! through the ingestion API, expected values computed here from the seed.

use serde_json::{json, Value};

use crate::helpers::*;

/// A seeded observation: (id, trace, type, model, start, duration ms, total cost).
struct Obs {
    id: &'static str,
    trace: &'static str,
    kind: &'static str,
    model: Option<&'static str>,
    start: &'static str,
    ms: i64,
    cost: Option<f64>,
}

/// A seeded trace: (id, name, user, tags, timestamp).
type TraceSeed = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static [&'static str],
    &'static str,
);

const TRACES: &[TraceSeed] = &[
    (
        "t1",
        "chat",
        Some("u1"),
        &["a", "b"],
        "2024-05-01T10:00:00.000Z",
    ),
    ("t2", "chat", Some("u2"), &["b"], "2024-05-01T11:30:00.000Z"),
    ("t3", "search", Some("u1"), &[], "2024-05-02T09:00:00.000Z"),
    ("t4", "chat", None, &[], "2024-06-10T09:00:00.000Z"),
];

const OBS: &[Obs] = &[
    Obs {
        id: "g1",
        trace: "t1",
        kind: "GENERATION",
        model: Some("gpt-4o"),
        start: "2024-05-01T10:00:00.000Z",
        ms: 1200,
        cost: Some(0.3),
    },
    Obs {
        id: "g2",
        trace: "t1",
        kind: "GENERATION",
        model: Some("gpt-4o"),
        start: "2024-05-01T10:00:02.000Z",
        ms: 300,
        cost: Some(0.05),
    },
    Obs {
        id: "g3",
        trace: "t2",
        kind: "GENERATION",
        model: Some("claude"),
        start: "2024-05-01T11:30:00.000Z",
        ms: 2500,
        cost: Some(1.0),
    },
    Obs {
        id: "s1",
        trace: "t3",
        kind: "SPAN",
        model: None,
        start: "2024-05-02T09:00:00.000Z",
        ms: 700,
        cost: None,
    },
    Obs {
        id: "g4",
        trace: "t3",
        kind: "GENERATION",
        model: Some("claude"),
        start: "2024-05-02T09:00:01.000Z",
        ms: 4000,
        cost: Some(0.5),
    },
    Obs {
        id: "g5",
        trace: "t4",
        kind: "GENERATION",
        model: Some("claude"),
        start: "2024-06-10T09:00:00.000Z",
        ms: 100,
        cost: Some(9.0),
    },
];

/// Numeric scores: (id, trace, name, value); categorical: (id, trace, name, value).
const NUM_SCORES: &[(&str, &str, &str, f64)] = &[
    ("sc1", "t1", "quality", 0.8),
    ("sc2", "t1", "quality", 0.4),
    ("sc3", "t2", "quality", 1.0),
    ("sc4", "t2", "helpful", 0.0),
];
const CAT_SCORES: &[(&str, &str, &str, &str)] = &[
    ("cs1", "t1", "sentiment", "pos"),
    ("cs2", "t2", "sentiment", "neg"),
    ("cs3", "t3", "sentiment", "pos"),
];

const FROM: &str = "2024-05-01T00:00:00.000Z";
const TO: &str = "2024-05-03T00:00:00.000Z";

fn ts(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().into()
}

fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn in_range(s: &str) -> bool {
    ts(s) >= ts(FROM) && ts(s) <= ts(TO)
}

async fn seed_with(app: &TestApp, auth: &str) {
    let mut batch = Vec::new();
    let ev = |id: String, kind: &str, body: Value| json!({"id": id, "type": kind, "timestamp": "2024-05-01T12:00:00.000Z", "body": body});
    for (id, name, user, tags, t) in TRACES {
        batch.push(ev(
            format!("e-{id}"),
            "trace-create",
            json!({"id": id, "name": name, "userId": user, "tags": tags, "timestamp": t}),
        ));
    }
    for o in OBS {
        let end = iso(ts(o.start) + chrono::Duration::milliseconds(o.ms));
        let mut body = json!({"id": o.id, "traceId": o.trace, "name": format!("n-{}", o.id),
            "startTime": o.start, "endTime": end});
        if let Some(m) = o.model {
            body["model"] = json!(m);
            body["usageDetails"] = json!({"input": 10, "output": 5, "total": 15});
        }
        if let Some(c) = o.cost {
            body["costDetails"] = json!({"total": c});
        }
        let kind = if o.kind == "SPAN" {
            "span-create"
        } else {
            "generation-create"
        };
        batch.push(ev(format!("e-{}", o.id), kind, body));
    }
    for (id, trace, name, value) in NUM_SCORES {
        batch.push(ev(
            format!("e-{id}"),
            "score-create",
            json!({"id": id, "traceId": trace, "name": name, "value": value, "dataType": "NUMERIC"}),
        ));
    }
    for (id, trace, name, value) in CAT_SCORES {
        batch.push(ev(
            format!("e-{id}"),
            "score-create",
            json!({"id": id, "traceId": trace, "name": name, "value": value, "dataType": "CATEGORICAL"}),
        ));
    }
    let (status, body) = app
        .send(
            "POST",
            "/api/public/ingestion",
            Some(auth),
            Some(&json!({ "batch": batch })),
        )
        .await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["errors"], json!([]), "{body}");
}

async fn seeded() -> TestApp {
    let app = spawn_app().await;
    seed_with(&app, &app.basic_auth()).await;
    app
}

fn url(v2: bool, q: &Value) -> String {
    let base = if v2 {
        "/api/public/v2/metrics"
    } else {
        "/api/public/metrics"
    };
    format!("{base}?query={}", urlencode(&q.to_string()))
}

async fn query(app: &TestApp, q: Value) -> Vec<Value> {
    let (status, body) = app.get(&url(false, &q)).await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().expect("data array").clone()
}

fn base(view: &str) -> Value {
    json!({"view": view, "fromTimestamp": FROM, "toTimestamp": TO, "metrics": []})
}

/// Linear-interpolation percentile (ClickHouse `quantile` on small sets, Postgres
/// `percentile_cont`).
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pos = p * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-6)
}

#[tokio::test]
async fn trace_counts_by_name_and_costs_by_model() {
    let app = seeded().await;
    let mut q = base("traces");
    q["dimensions"] = json!([{"field": "name"}]);
    q["metrics"] = json!([{"measure": "count", "aggregation": "count"}]);
    let rows = query(&app, q).await;
    let expect = |name: &str| {
        TRACES
            .iter()
            .filter(|t| t.1 == name && in_range(t.4))
            .count()
    };
    assert_eq!(
        rows,
        vec![
            json!({"name": "chat", "count_count": expect("chat")}),
            json!({"name": "search", "count_count": expect("search")}),
        ],
        "default order: first metric descending"
    );

    // Observations: sum of totalCost per model (generations only).
    let mut q = base("observations");
    q["dimensions"] = json!([{"field": "providedModelName"}]);
    q["metrics"] = json!([{"measure": "totalCost", "aggregation": "sum"},
        {"measure": "count", "aggregation": "count"}]);
    q["filters"] =
        json!([{"column": "type", "operator": "=", "value": "GENERATION", "type": "string"}]);
    let rows = query(&app, q).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        let model = row["providedModelName"].as_str().unwrap();
        let sel: Vec<&Obs> = OBS
            .iter()
            .filter(|o| o.model == Some(model) && in_range(o.start))
            .collect();
        let sum: f64 = sel.iter().filter_map(|o| o.cost).sum();
        assert!(close(&row["sum_totalCost"], sum), "{row}");
        assert_eq!(row["count_count"], json!(sel.len()));
    }
    assert!(rows[0]["sum_totalCost"].as_f64() >= rows[1]["sum_totalCost"].as_f64());

    // Traces view: observation-derived measures per trace, summed per name.
    let mut q = base("traces");
    q["dimensions"] = json!([{"field": "name"}]);
    q["metrics"] = json!([{"measure": "totalCost", "aggregation": "sum"},
        {"measure": "observationsCount", "aggregation": "sum"},
        {"measure": "latency", "aggregation": "max"}]);
    q["orderBy"] = json!([{"field": "name", "direction": "asc"}]);
    let rows = query(&app, q).await;
    let chat: Vec<&Obs> = OBS
        .iter()
        .filter(|o| ["t1", "t2"].contains(&o.trace))
        .collect();
    assert_eq!(rows[0]["name"], "chat");
    assert!(close(
        &rows[0]["sum_totalCost"],
        chat.iter().filter_map(|o| o.cost).sum()
    ));
    assert!(close(&rows[0]["sum_observationsCount"], chat.len() as f64));
    // Trace latency = last end - first start; t1: g1 at 0 .. g2 ends at 2.3 s; t2: 2.5 s.
    assert!(close(&rows[0]["max_latency"], 2500.0), "{}", rows[0]);
}

#[tokio::test]
async fn latency_percentiles_match_the_seeded_durations() {
    let app = seeded().await;
    let mut q = base("observations");
    q["metrics"] = json!([{"measure": "latency", "aggregation": "p50"},
        {"measure": "latency", "aggregation": "p95"},
        {"measure": "latency", "aggregation": "avg"},
        {"measure": "latency", "aggregation": "histogram"}]);
    q["config"] = json!({"bins": 2});
    let rows = query(&app, q).await;
    let durations: Vec<f64> = OBS
        .iter()
        .filter(|o| in_range(o.start))
        .map(|o| o.ms as f64)
        .collect();
    assert_eq!(rows.len(), 1);
    assert!(
        close(&rows[0]["p50_latency"], percentile(&durations, 0.5)),
        "{}",
        rows[0]
    );
    assert!(
        close(&rows[0]["p95_latency"], percentile(&durations, 0.95)),
        "{}",
        rows[0]
    );
    let avg = durations.iter().sum::<f64>() / durations.len() as f64;
    assert!(close(&rows[0]["avg_latency"], avg));
    let hist = rows[0]["histogram_latency"].as_array().unwrap();
    assert_eq!(hist.len(), 2);
    let total: u64 = hist.iter().map(|b| b[2].as_u64().unwrap()).sum();
    assert_eq!(total as usize, durations.len());
}

#[tokio::test]
async fn time_dimension_buckets_by_day_and_hour_and_fills_gaps() {
    let app = seeded().await;
    let mut q = base("traces");
    q["toTimestamp"] = json!("2024-05-04T00:00:00.000Z"); // 72 h → auto = day
    q["metrics"] = json!([{"measure": "count", "aggregation": "count"}]);
    q["timeDimension"] = json!({"granularity": "auto"});
    let rows = query(&app, q).await;
    let per_day = |day: &str| TRACES.iter().filter(|t| t.4.starts_with(day)).count();
    assert_eq!(
        rows,
        vec![
            json!({"time_dimension": "2024-05-01T00:00:00.000Z", "count_count": per_day("2024-05-01")}),
            json!({"time_dimension": "2024-05-02T00:00:00.000Z", "count_count": per_day("2024-05-02")}),
            json!({"time_dimension": "2024-05-03T00:00:00.000Z", "count_count": 0}),
        ]
    );

    let mut q = base("observations");
    q["fromTimestamp"] = json!("2024-05-01T09:00:00.000Z");
    q["toTimestamp"] = json!("2024-05-01T13:00:00.000Z");
    q["metrics"] = json!([{"measure": "count", "aggregation": "count"}]);
    q["timeDimension"] = json!({"granularity": "hour"});
    let rows = query(&app, q).await;
    let hours: Vec<(String, usize)> = (9..13)
        .map(|h| {
            let prefix = format!("2024-05-01T{h:02}");
            let n = OBS.iter().filter(|o| o.start.starts_with(&prefix)).count();
            (format!("{prefix}:00:00.000Z"), n)
        })
        .collect();
    let got: Vec<(String, usize)> = rows
        .iter()
        .map(|r| {
            (
                r["time_dimension"].as_str().unwrap().to_string(),
                r["count_count"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    assert_eq!(got, hours);
}

#[tokio::test]
async fn filters_order_by_and_row_limit() {
    let app = seeded().await;
    let count_traces = |q: Value| {
        let app = &app;
        async move {
            let rows = query(app, q).await;
            rows[0]["count_count"].as_u64().unwrap() as usize
        }
    };
    let mut q = base("traces");
    q["metrics"] = json!([{"measure": "count", "aggregation": "count"}]);

    let mut eq = q.clone();
    eq["filters"] =
        json!([{"column": "name", "operator": "=", "value": "search", "type": "string"}]);
    assert_eq!(count_traces(eq).await, 1);

    let mut any = q.clone();
    any["filters"] = json!([{"column": "userId", "operator": "any of", "value": ["u1", "zz"], "type": "stringOptions"}]);
    let expect = TRACES
        .iter()
        .filter(|t| t.2 == Some("u1") && in_range(t.4))
        .count();
    assert_eq!(count_traces(any).await, expect);

    let mut tags = q.clone();
    tags["filters"] =
        json!([{"column": "tags", "operator": "any of", "value": ["b"], "type": "arrayOptions"}]);
    assert_eq!(count_traces(tags).await, 2);

    let mut dt = q.clone();
    dt["filters"] = json!([{"column": "timestamp", "operator": ">=", "value": "2024-05-01T11:00:00.000Z", "type": "datetime"}]);
    let expect = TRACES
        .iter()
        .filter(|t| in_range(t.4) && ts(t.4) >= ts("2024-05-01T11:00:00.000Z"))
        .count();
    assert_eq!(count_traces(dt).await, expect);

    // orderBy a dimension descending, then a row limit.
    let mut ob = base("observations");
    ob["dimensions"] = json!([{"field": "id"}]);
    ob["metrics"] = json!([{"measure": "latency", "aggregation": "sum"}]);
    ob["orderBy"] = json!([{"field": "sum_latency", "direction": "asc"}]);
    ob["config"] = json!({"row_limit": 2});
    let rows = query(&app, ob).await;
    let mut lat: Vec<(i64, &str)> = OBS
        .iter()
        .filter(|o| in_range(o.start))
        .map(|o| (o.ms, o.id))
        .collect();
    lat.sort();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![lat[0].1, lat[1].1]);
}

#[tokio::test]
async fn score_views_and_v2() {
    let app = seeded().await;
    let mut q = base("scores-numeric");
    q["dimensions"] = json!([{"field": "name"}]);
    q["metrics"] = json!([{"measure": "value", "aggregation": "avg"}]);
    q["orderBy"] = json!([{"field": "name", "direction": "asc"}]);
    let rows = query(&app, q.clone()).await;
    let avg = |n: &str| {
        let v: Vec<f64> = NUM_SCORES
            .iter()
            .filter(|s| s.2 == n)
            .map(|s| s.3)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["name"], "helpful");
    assert!(close(&rows[0]["avg_value"], avg("helpful")));
    assert!(close(&rows[1]["avg_value"], avg("quality")));

    let mut c = base("scores-categorical");
    c["dimensions"] = json!([{"field": "stringValue"}]);
    c["metrics"] = json!([{"measure": "count", "aggregation": "count"}]);
    let rows = query(&app, c).await;
    let n = |v: &str| CAT_SCORES.iter().filter(|s| s.3 == v).count();
    assert_eq!(
        rows,
        vec![
            json!({"stringValue": "pos", "count_count": n("pos")}),
            json!({"stringValue": "neg", "count_count": n("neg")}),
        ]
    );

    // v2: same score query works; traces view does not exist; high-cardinality needs top-N.
    let (status, body) = app.get(&url(true, &q)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    let mut t = base("traces");
    t["metrics"] = json!([{"measure": "count", "aggregation": "count"}]);
    let (status, body) = app.get(&url(true, &t)).await;
    assert_eq!(status, 400);
    assert!(body.to_string().contains("'traces'"), "{body}");
    let mut hc = base("observations");
    hc["dimensions"] = json!([{"field": "traceId"}]);
    hc["metrics"] = json!([{"measure": "count", "aggregation": "count"}]);
    let (status, body) = app.get(&url(true, &hc)).await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("traceId"),
        "{body}"
    );
    hc["config"] = json!({"row_limit": 10});
    hc["orderBy"] = json!([{"field": "count_count", "direction": "desc"}]);
    let (status, body) = app.get(&url(true, &hc)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0], json!({"traceId": "t1", "count_count": 2}));
    // v1 accepts it without conditions.
    hc.as_object_mut().unwrap().remove("config");
    hc.as_object_mut().unwrap().remove("orderBy");
    let (status, _) = app.get(&url(false, &hc)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bad_queries_are_400s_naming_the_problem() {
    let app = seeded().await;
    let ok = {
        let mut q = base("traces");
        q["metrics"] = json!([{"measure": "count", "aggregation": "count"}]);
        q
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut q = ok.clone();
                q["view"] = json!("sessions");
                q
            },
            "sessions",
        ),
        (
            {
                let mut q = ok.clone();
                q["dimensions"] = json!([{"field": "colour"}]);
                q
            },
            "colour",
        ),
        (
            {
                let mut q = ok.clone();
                q["metrics"] = json!([{"measure": "weight", "aggregation": "sum"}]);
                q
            },
            "weight",
        ),
        (
            {
                let mut q = ok.clone();
                q["metrics"] = json!([{"measure": "count", "aggregation": "median"}]);
                q
            },
            "median",
        ),
        (
            {
                let mut q = ok.clone();
                q["filters"] =
                    json!([{"column": "shoe", "operator": "=", "value": "x", "type": "string"}]);
                q
            },
            "shoe",
        ),
        (
            {
                let mut q = ok.clone();
                q["orderBy"] = json!([{"field": "sum_cost", "direction": "asc"}]);
                q
            },
            "sum_cost",
        ),
        (
            {
                let mut q = ok.clone();
                q["timeDimension"] = json!({"granularity": "decade"});
                q
            },
            "decade",
        ),
        (
            {
                let mut q = ok.clone();
                q["toTimestamp"] = json!(FROM);
                q
            },
            "fromTimestamp must be before toTimestamp",
        ),
        (
            {
                let mut q = ok.clone();
                q["fromTimestamp"] = json!("2024-05-01T00:00:00");
                q
            },
            "fromTimestamp",
        ),
        (
            {
                let mut q = ok.clone();
                q["config"] = json!({"row_limit": 5000});
                q
            },
            "row_limit",
        ),
    ];
    for (q, needle) in cases {
        let (status, body) = app.get(&url(false, &q)).await;
        assert_eq!(status, 400, "{q} → {body}");
        assert!(body["message"].is_string(), "{body}");
        assert!(body.to_string().contains(needle), "{needle} not in {body}");
    }
    let (status, body) = app.get("/api/public/metrics").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"][0]["path"], json!(["query"]));
    let (status, body) = app.get("/api/public/metrics?query=%7Bnot-json").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"message": "Invalid JSON in query parameter", "error": "InvalidRequestError"})
    );
    let (status, _) = app.send("GET", &url(false, &ok), None, None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn projects_only_see_their_own_data() {
    let app = seeded().await;
    let (_, pk, sk) = create_project_with_key(&app, "other").await;
    let other = basic(&pk, &sk);
    let mut q = base("traces");
    q["metrics"] = json!([{"measure": "count", "aggregation": "count"}]);
    let (status, body) = app.send("GET", &url(false, &q), Some(&other), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!([{"count_count": 0}]));
    let rows = query(&app, q).await;
    let expect = TRACES.iter().filter(|t| in_range(t.4)).count();
    assert_eq!(rows, vec![json!({"count_count": expect})]);
}
