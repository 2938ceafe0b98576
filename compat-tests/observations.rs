//! `GET /api/public/observations[/{id}]` (v1) and `GET /api/public/v2/observations`.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::seed::*;

const OBSERVATION_KEYS: &[&str] = &[
    "calculatedInputCost",
    "calculatedOutputCost",
    "calculatedTotalCost",
    "completionStartTime",
    "completionTokens",
    "costDetails",
    "createdAt",
    "endTime",
    "environment",
    "id",
    "input",
    "inputPrice",
    "latency",
    "level",
    "metadata",
    "model",
    "modelId",
    "modelParameters",
    "name",
    "output",
    "outputPrice",
    "parentObservationId",
    "projectId",
    "promptId",
    "promptName",
    "promptTokens",
    "promptVersion",
    "startTime",
    "statusMessage",
    "timeToFirstToken",
    "totalPrice",
    "totalTokens",
    "traceId",
    "type",
    "unit",
    "updatedAt",
    "usage",
    "usageDetails",
    "usagePricingTierId",
    "usagePricingTierName",
    "version",
];

async fn seed_obs(seed: &Seed) {
    seed.trace(
        "t1",
        "2024-05-01T10:00:00.000Z",
        json!({"user_id": "u1", "session_id": "s1",
        "name": "root-trace", "tags": ["x"]}),
    )
    .await;
    seed.trace("t2", "2024-05-01T11:00:00.000Z", json!({"user_id": "u2"}))
        .await;
    seed.observation(
        "g1",
        "t1",
        "GENERATION",
        "2024-05-01T10:00:01.000Z",
        json!({
        "name": "llm", "end_time": "2024-05-01T10:00:03.250Z",
        "completion_start_time": "2024-05-01T10:00:01.750Z", "model": "gpt-4o",
        "model_parameters": {"temperature": 0.2}, "parent_observation_id": "s1",
        "input": "[{\"role\":\"user\"}]", "output": "42", "metadata": {"m": "{\"x\":1}"},
        "usage_details": {"input": 100, "input_cached_tokens": 20, "output": 30, "total": 150},
        "cost_details": {"input": 0.001, "output": 0.002, "total": 0.003},
        "level": "WARNING", "status_message": "slow", "version": "v2", "environment": "prod",
        "prompt_name": "p", "prompt_version": 3}),
    )
    .await;
    seed.observation(
        "s1",
        "t1",
        "SPAN",
        "2024-05-01T10:00:00.000Z",
        json!({"name": "outer", "end_time": "2024-05-01T10:00:04.000Z"}),
    )
    .await;
    seed.observation(
        "e1",
        "t2",
        "EVENT",
        "2024-05-01T11:00:00.000Z",
        json!({"name": "evt"}),
    )
    .await;
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn get_observation_has_the_strict_key_set_and_projections() {
    let app = spawn_app().await;
    seed_obs(&Seed::new(&app).await).await;
    let (status, o) = app.get("/api/public/observations/g1").await;
    assert_eq!(status, 200, "{o}");
    assert_eq!(keys(&o), OBSERVATION_KEYS);
    assert_eq!(o["type"], "GENERATION");
    assert_eq!(o["promptTokens"], 120, "input + input_cached_tokens");
    assert_eq!(o["completionTokens"], 30);
    assert_eq!(o["totalTokens"], 150);
    assert_eq!(
        o["usage"],
        json!({"unit": "TOKENS", "input": 120, "output": 30, "total": 150})
    );
    assert_eq!(o["unit"], "TOKENS");
    assert!((o["calculatedInputCost"].as_f64().unwrap() - 0.001).abs() < 1e-12);
    assert!((o["calculatedTotalCost"].as_f64().unwrap() - 0.003).abs() < 1e-12);
    assert_eq!(o["latency"].as_f64(), Some(2.25));
    assert_eq!(o["timeToFirstToken"].as_f64(), Some(0.75));
    assert_eq!(o["input"], json!([{"role": "user"}]));
    assert_eq!(o["output"], json!(42));
    assert_eq!(o["metadata"], json!({"m": {"x": 1}}));
    assert_eq!(o["modelParameters"], json!({"temperature": 0.2}));
    assert_eq!(o["promptVersion"], 3);
    assert_eq!(o["startTime"], "2024-05-01T10:00:01.000Z");
    assert!(is_iso_ms_z(&o["completionStartTime"]));

    let (_, e) = app.get("/api/public/observations/e1").await;
    assert_eq!(keys(&e), OBSERVATION_KEYS);
    assert_eq!(e["promptTokens"], 0);
    assert_eq!(e["calculatedInputCost"], json!(null));
    assert_eq!(e["calculatedTotalCost"], 0);
    assert_eq!(e["latency"], json!(null));
    assert_eq!(e["endTime"], json!(null));
    assert_eq!(e["input"], json!(null));
    assert_eq!(e["usageDetails"], json!({}));

    let (status, body) = app.get("/api/public/observations/nope").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "LangfuseNotFoundError");
}

#[tokio::test]
async fn list_observations_filters_and_pages() {
    let app = spawn_app().await;
    let seed = Seed::new(&app).await;
    seed_obs(&seed).await;
    let (status, all) = app.get("/api/public/observations").await;
    assert_eq!(status, 200);
    assert_eq!(ids(&all), ["e1", "g1", "s1"], "newest start first");
    assert_eq!(
        all["meta"],
        json!({"page": 1, "limit": 50, "totalItems": 3, "totalPages": 1})
    );
    let cases: &[(&str, &[&str])] = &[
        ("name=llm", &["g1"]),
        ("userId=u1", &["g1", "s1"]),
        ("type=SPAN", &["s1"]),
        ("traceId=t2", &["e1"]),
        ("parentObservationId=s1", &["g1"]),
        ("level=WARNING", &["g1"]),
        ("environment=prod", &["g1"]),
        ("environment=prod,default", &["e1", "g1", "s1"]),
        ("fromStartTime=2024-05-01T10:00:01Z", &["e1", "g1"]),
        ("toStartTime=2024-05-01T10:00:01Z", &["s1"]),
        ("version=v2", &["g1"]),
        ("limit=1&page=2", &["g1"]),
    ];
    for (q, expected) in cases {
        let (status, body) = app.get(&format!("/api/public/observations?{q}")).await;
        assert_eq!(status, 200, "{q}: {body}");
        assert_eq!(&ids(&body), expected, "{q}");
    }
    let (_, paged) = app.get("/api/public/observations?limit=2").await;
    assert_eq!(paged["meta"]["totalPages"], 2);
    for q in [
        "type=NOPE",
        "level=LOUD",
        "limit=101",
        "fromStartTime=2024-01-01",
    ] {
        let (status, body) = app.get(&format!("/api/public/observations?{q}")).await;
        assert_eq!(status, 400, "{q}: {body}");
    }
    let (pid, auth) = second_project(&app).await;
    seed.for_project(&pid)
        .observation("x1", "tx", "SPAN", "2024-05-01T10:00:00.000Z", json!({}))
        .await;
    let (_, body) = app
        .send("GET", "/api/public/observations", Some(&auth), None)
        .await;
    assert_eq!(ids(&body), ["x1"]);
    assert_eq!(app.get("/api/public/observations/x1").await.0, 404);
}

#[tokio::test]
async fn v2_observations_page_by_cursor_with_field_groups() {
    let app = spawn_app().await;
    seed_obs(&Seed::new(&app).await).await;
    let (status, first) = app.get("/api/public/v2/observations?limit=2").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(ids(&first), ["e1", "g1"]);
    let o = &first["data"][1];
    for k in [
        "id",
        "traceId",
        "startTime",
        "endTime",
        "projectId",
        "parentObservationId",
        "type",
        "name",
        "level",
        "statusMessage",
        "version",
        "environment",
        "userId",
        "sessionId",
        "isRootObservation",
        "modelId",
        "inputPrice",
        "outputPrice",
        "totalPrice",
    ] {
        assert!(o.get(k).is_some(), "default groups include {k}: {o}");
    }
    assert!(o.get("input").is_none(), "io not requested");
    assert_eq!(o["userId"], "u1");
    assert_eq!(o["isRootObservation"], false);
    let cursor = first["meta"]["cursor"]
        .as_str()
        .expect("more rows: cursor")
        .to_string();
    let (_, second) = app
        .get(&format!(
            "/api/public/v2/observations?limit=2&cursor={}",
            urlencode(&cursor)
        ))
        .await;
    assert_eq!(ids(&second), ["s1"]);
    assert!(
        second["meta"].get("cursor").is_none(),
        "no cursor on the last page"
    );

    let (_, g) = app.get("/api/public/v2/observations?fields=io,usage,metrics,trace_context,model&traceId=t1&type=GENERATION").await;
    let o = &g["data"][0];
    assert_eq!(
        o["input"], "[{\"role\":\"user\"}]",
        "v2 io stays a raw string"
    );
    assert_eq!(o["output"], "42");
    assert_eq!(o["usageDetails"]["total"], 150);
    assert_eq!(o["latency"].as_f64(), Some(2.25));
    assert_eq!(o["traceName"], "root-trace");
    assert_eq!(o["tags"], json!(["x"]));
    assert_eq!(o["providedModelName"], "gpt-4o");
    assert!(o.get("name").is_none(), "basic not requested");

    for q in [
        "parseIoAsJson=true",
        "limit=1001",
        "cursor=%%%",
        "fields=bogus",
    ] {
        let (status, body) = app.get(&format!("/api/public/v2/observations?{q}")).await;
        assert_eq!(status, 400, "{q}: {body}");
    }
}
