//! `GET /api/public/experiments` and `GET /api/public/experiment-items`: dataset runs
//! and their run items in Langfuse's experiment shapes.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::seed::*;

async fn ok(app: &TestApp, path: &str, body: &Value) -> Value {
    let (s, b) = app.post(path, body).await;
    assert_eq!(s, 200, "{path}: {b}");
    b
}

/// Dataset `ds` with items i1, i2; run "run A" over both, run "run B" over i1. Traces
/// start at 10:00 (A/i1), 11:00 (A/i2), 12:00 (B/i1) on 2024-06-01.
async fn seed(app: &TestApp) -> (String, String, String) {
    let ds = ok(app, "/api/public/v2/datasets", &json!({"name": "ds"})).await;
    for (id, expected) in [("i1", "four"), ("i2", "six")] {
        ok(
            app,
            "/api/public/dataset-items",
            &json!({"datasetName": "ds", "id": id, "input": {"q": id},
                "expectedOutput": expected, "metadata": {"item": id}}),
        )
        .await;
    }
    let seed = Seed::new(app).await;
    for (trace, hour) in [("ta1", 10), ("ta2", 11), ("tb1", 12)] {
        let ts = format!("2024-06-01T{hour}:00:00.000Z");
        seed.trace(
            trace,
            &ts,
            json!({"input": {"t": trace}, "output": "trace out", "environment": "exp"}),
        )
        .await;
        seed.observation(
            &format!("{trace}-root"),
            trace,
            "SPAN",
            &ts,
            json!({"end_time": format!("2024-06-01T{hour}:00:05.000Z"), "level": "WARNING",
                "environment": "exp", "input": {"span": trace}, "output": "span out",
                "metadata": {"m": trace}}),
        )
        .await;
    }
    let a = ok(
        app,
        "/api/public/dataset-run-items",
        &json!({"runName": "run A", "runDescription": "first", "metadata": {"model": "m"},
            "datasetItemId": "i1", "traceId": "ta1"}),
    )
    .await;
    ok(
        app,
        "/api/public/dataset-run-items",
        &json!({"runName": "run A", "datasetItemId": "i2", "traceId": "ta2"}),
    )
    .await;
    let b = ok(
        app,
        "/api/public/dataset-run-items",
        &json!({"runName": "run B", "datasetItemId": "i1", "traceId": "tb1",
            "observationId": "tb1-root"}),
    )
    .await;
    let run_a = a["datasetRunId"].as_str().unwrap().to_string();
    let run_b = b["datasetRunId"].as_str().unwrap().to_string();
    seed.score(
        "sa",
        "avg",
        "NUMERIC",
        "2024-06-01T13:00:00.000Z",
        json!({"value": 0.75, "dataset_run_id": run_a}),
    )
    .await;
    seed.score(
        "st",
        "correct",
        "BOOLEAN",
        "2024-06-01T10:00:06.000Z",
        json!({"value": 0, "string_value": "False", "trace_id": "ta1"}),
    )
    .await;
    (ds["id"].as_str().unwrap().to_string(), run_a, run_b)
}

const FROM: &str = "fromStartTime=2024-06-01T00:00:00Z";

#[tokio::test]
async fn experiments_are_dataset_runs_with_items_in_range() {
    let app = spawn_app().await;
    let (ds, run_a, run_b) = seed(&app).await;
    let (s, body) = app.get(&format!("/api/public/experiments?{FROM}")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["meta"], json!({}));
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    // Latest activity first: run B (12:00), then run A (11:00).
    assert_eq!(
        data[0],
        json!({"id": run_b, "name": "run B", "description": null,
            "startTime": "2024-06-01T12:00:00.000Z", "endTime": "2024-06-01T12:00:05.000Z",
            "itemCount": 1, "datasetId": ds})
    );
    assert_eq!(data[1]["id"], run_a);
    assert_eq!(data[1]["description"], "first");
    assert_eq!(data[1]["startTime"], "2024-06-01T10:00:00.000Z");
    assert_eq!(data[1]["endTime"], "2024-06-01T11:00:05.000Z");
    assert_eq!(data[1]["itemCount"], 2);

    // The range bounds the items counted; fields add metadata and run scores.
    let (s, body) = app
        .get("/api/public/experiments?fromStartTime=2024-06-01T10:30:00Z&toStartTime=2024-06-01T11:30:00Z&fields=core,metadata,scores&name=run%20A")
        .await;
    assert_eq!(s, 200, "{body}");
    let a = &body["data"][0];
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(a["itemCount"], 1);
    assert_eq!(a["startTime"], "2024-06-01T11:00:00.000Z");
    assert_eq!(a["metadata"], json!({"model": "m"}));
    assert_eq!(a["scores"][0]["id"], "sa");
    assert_eq!(a["scores"][0]["value"], json!(0.75));
    assert_eq!(
        a["scores"][0]["subject"],
        json!({"kind": "experiment", "id": run_a})
    );

    // Filters and pages.
    let (_, body) = app
        .get(&format!("/api/public/experiments?{FROM}&id={run_a}"))
        .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    let filter = urlencode(
        &json!([{"type": "stringOptions", "column": "name", "operator": "none of", "value": ["run A"]}])
            .to_string(),
    );
    let (s, body) = app
        .get(&format!("/api/public/experiments?{FROM}&filter={filter}"))
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["data"][0]["id"], run_b);
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    let (_, p1) = app
        .get(&format!("/api/public/experiments?{FROM}&limit=1"))
        .await;
    let cursor = p1["meta"]["cursor"]
        .as_str()
        .expect("more pages")
        .to_string();
    let (_, p2) = app
        .get(&format!(
            "/api/public/experiments?{FROM}&limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(p1["data"][0]["id"], run_b);
    assert_eq!(p2["data"][0]["id"], run_a);
    assert!(p2["meta"].get("cursor").is_none());
}

#[tokio::test]
async fn experiment_items_carry_trace_dataset_and_io_fields() {
    let app = spawn_app().await;
    let (ds, run_a, run_b) = seed(&app).await;
    let (s, body) = app
        .get(&format!("/api/public/experiment-items?{FROM}"))
        .await;
    assert_eq!(s, 200, "{body}");
    let data = body["data"].as_array().unwrap();
    let traces: Vec<&str> = data
        .iter()
        .map(|i| i["traceId"].as_str().unwrap())
        .collect();
    assert_eq!(traces, ["tb1", "ta2", "ta1"]);
    let b = &data[0];
    assert_eq!(
        keys(b),
        [
            "endTime",
            "environment",
            "experimentDatasetId",
            "experimentId",
            "experimentItemId",
            "experimentItemVersion",
            "experimentName",
            "id",
            "level",
            "startTime",
            "traceId"
        ]
    );
    assert_eq!(b["experimentId"], run_b);
    assert_eq!(b["experimentName"], "run B");
    assert_eq!(b["experimentItemId"], "i1");
    assert_eq!(b["experimentDatasetId"], ds);
    assert_eq!(b["startTime"], "2024-06-01T12:00:00.000Z");
    assert_eq!(b["endTime"], "2024-06-01T12:00:05.000Z");
    assert_eq!(b["level"], "WARNING");
    assert_eq!(b["environment"], "exp");
    assert!(is_iso_ms_z(&b["experimentItemVersion"]));

    let (s, body) = app
        .get(&format!(
            "/api/public/experiment-items?{FROM}&experimentId={run_a}&fields=core,io,metadata,itemMetadata,experimentMetadata,scores"
        ))
        .await;
    assert_eq!(s, 200, "{body}");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    let a1 = &data[1];
    assert_eq!(a1["traceId"], "ta1");
    assert_eq!(a1["input"], json!({"span": "ta1"}));
    assert_eq!(a1["output"], "span out");
    assert_eq!(a1["expectedOutput"], "four");
    assert_eq!(a1["metadata"], json!({"m": "ta1"}));
    assert_eq!(a1["experimentItemMetadata"], json!({"item": "i1"}));
    assert_eq!(a1["experimentMetadata"], json!({"model": "m"}));
    assert_eq!(a1["experimentDescription"], "first");
    assert!(a1.get("experimentDatasetId").is_none());
    assert_eq!(a1["scores"].as_array().unwrap().len(), 1);
    assert_eq!(a1["scores"][0]["value"], json!(false));
    assert_eq!(data[0]["scores"], json!([]));

    // Pages by cursor, filters by item and name.
    let mut seen = Vec::new();
    let mut path = format!("/api/public/experiment-items?{FROM}&limit=2");
    loop {
        let (s, body) = app.get(&path).await;
        assert_eq!(s, 200, "{body}");
        seen.extend(
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["traceId"].as_str().unwrap().to_string()),
        );
        match body["meta"]["cursor"].as_str() {
            Some(c) => path = format!("/api/public/experiment-items?{FROM}&limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ["tb1", "ta2", "ta1"]);
    let (_, body) = app
        .get(&format!(
            "/api/public/experiment-items?{FROM}&experimentItemId=i2&experimentName=run%20A"
        ))
        .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["traceId"], "ta2");
}

#[tokio::test]
async fn experiment_lists_reject_bad_queries() {
    let app = spawn_app().await;
    for path in [
        "/api/public/experiments",
        "/api/public/experiment-items",
        &format!("/api/public/experiments?{FROM}&limit=101"),
        &format!("/api/public/experiments?{FROM}&scoreLimit=51"),
        &format!("/api/public/experiments?{FROM}&fields=io"),
        &format!("/api/public/experiment-items?{FROM}&fields=bogus"),
        &format!("/api/public/experiment-items?{FROM}&cursor=zzz"),
        &format!("/api/public/experiments?{FROM}&filter=not-json"),
        &format!(
            "/api/public/experiments?{FROM}&filter={}",
            urlencode(r#"[{"type":"string","column":"traceId","operator":"=","value":"x"}]"#)
        ),
        "/api/public/experiments?fromStartTime=soon",
    ] {
        let (s, body) = app.get(path).await;
        assert_eq!(s, 400, "{path}: {body}");
    }
}
