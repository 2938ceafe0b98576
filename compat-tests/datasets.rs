//! Datasets, dataset items, runs and run items over HTTP, in the order the SDK experiment
//! flows call them.

use serde_json::{json, Value};

use crate::helpers::*;

async fn ok(app: &TestApp, method: &str, path: &str, body: Option<&Value>) -> Value {
    let (s, res) = app.send(method, path, Some(&app.basic_auth()), body).await;
    assert_eq!(s, 200, "{method} {path}: {res}");
    res
}

#[tokio::test]
async fn datasets_upsert_by_name_and_list_with_exact_meta() {
    let app = spawn_app().await;
    let d = ok(
        &app,
        "POST",
        "/api/public/v2/datasets",
        Some(&json!({"name": "eval/set 1", "description": "d1", "metadata": {"k": 1}})),
    )
    .await;
    assert_eq!(d["name"], "eval/set 1");
    assert_eq!(d["description"], "d1");
    assert_eq!(d["metadata"], json!({"k": 1}));
    assert_eq!(d["projectId"], "default");
    for key in [
        "inputSchema",
        "expectedOutputSchema",
        "createdAt",
        "updatedAt",
        "id",
    ] {
        assert!(d.get(key).is_some(), "{key} missing: {d}");
    }
    let again = ok(
        &app,
        "POST",
        "/api/public/v2/datasets",
        Some(&json!({"name": "eval/set 1", "description": "d2"})),
    )
    .await;
    assert_eq!(again["id"], d["id"], "upsert by name");
    assert_eq!(again["description"], "d2");
    assert_eq!(again["metadata"], json!({"k": 1}));
    let got = ok(&app, "GET", "/api/public/v2/datasets/eval%2Fset%201", None).await;
    assert_eq!(got["id"], d["id"]);
    let (s, body) = app.get("/api/public/v2/datasets/missing").await;
    assert_eq!(s, 404);
    assert_eq!(
        body,
        json!({"message": "Dataset not found", "error": "LangfuseNotFoundError"})
    );
    for i in 0..4 {
        ok(
            &app,
            "POST",
            "/api/public/datasets",
            Some(&json!({"name": format!("v1-{i}")})),
        )
        .await;
    }
    let list = ok(&app, "GET", "/api/public/v2/datasets?limit=2&page=3", None).await;
    assert_eq!(
        list["meta"],
        json!({"page": 3, "limit": 2, "totalItems": 5, "totalPages": 3})
    );
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let (s, _) = app.get("/api/public/v2/datasets?page=0").await;
    assert_eq!(s, 400);
    let v1 = ok(&app, "GET", "/api/public/datasets?page=0&limit=50", None).await;
    assert_eq!(v1["meta"]["totalItems"], 5);
    assert!(v1["data"][0]["items"].is_array() && v1["data"][0]["runs"].is_array());
    let (s, _) = app
        .post(
            "/api/public/v2/datasets",
            &json!({"description": "no name"}),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn items_upsert_list_archive_delete() {
    let app = spawn_app().await;
    ok(
        &app,
        "POST",
        "/api/public/v2/datasets",
        Some(&json!({"name": "ds"})),
    )
    .await;
    ok(
        &app,
        "POST",
        "/api/public/v2/datasets",
        Some(&json!({"name": "other"})),
    )
    .await;
    let item = ok(
        &app,
        "POST",
        "/api/public/dataset-items",
        Some(
            &json!({"datasetName": "ds", "id": "item-1", "input": {"q": "2+2"},
                     "expectedOutput": "4", "sourceTraceId": "t0"}),
        ),
    )
    .await;
    assert_eq!(item["id"], "item-1");
    assert_eq!(item["status"], "ACTIVE");
    assert_eq!(item["datasetName"], "ds");
    assert_eq!(item["input"], json!({"q": "2+2"}));
    assert_eq!(item["expectedOutput"], "4");
    assert_eq!(item["metadata"], Value::Null);
    assert_eq!(item["mediaReferences"], json!([]));
    assert_eq!(item["sourceTraceId"], "t0");
    assert!(item.get("sourceObservationId").is_some());
    // Upsert by id keeps what is not sent.
    let updated = ok(
        &app,
        "POST",
        "/api/public/dataset-items",
        Some(&json!({"datasetName": "ds", "id": "item-1", "metadata": {"m": true}})),
    )
    .await;
    assert_eq!(updated["input"], json!({"q": "2+2"}));
    assert_eq!(updated["metadata"], json!({"m": true}));
    assert_eq!(updated["createdAt"], item["createdAt"]);
    // The id exists in another dataset.
    let (s, _) = app
        .post(
            "/api/public/dataset-items",
            &json!({"datasetName": "other", "id": "item-1"}),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .post("/api/public/dataset-items", &json!({"datasetName": "nope"}))
        .await;
    assert_eq!(s, 404);
    for i in 0..4 {
        ok(
            &app,
            "POST",
            "/api/public/dataset-items",
            Some(&json!({"datasetName": "ds", "input": i})),
        )
        .await;
    }
    ok(
        &app,
        "POST",
        "/api/public/dataset-items",
        Some(&json!({"datasetName": "ds", "id": "archived", "status": "ARCHIVED"})),
    )
    .await;
    // 5 active, 1 archived: paging as the SDKs do until totalPages <= page.
    let mut seen = Vec::new();
    let mut page = 1;
    loop {
        let res = ok(
            &app,
            "GET",
            &format!("/api/public/dataset-items?datasetName=ds&limit=2&page={page}"),
            None,
        )
        .await;
        assert_eq!(res["meta"]["totalItems"], 5);
        assert_eq!(res["meta"]["totalPages"], 3);
        for i in res["data"].as_array().unwrap() {
            seen.push(i["id"].as_str().unwrap().to_string());
        }
        if res["meta"]["totalPages"].as_u64().unwrap() <= page {
            break;
        }
        page += 1;
    }
    assert_eq!(seen.len(), 5);
    assert!(!seen.contains(&"archived".to_string()));
    let archived = ok(&app, "GET", "/api/public/dataset-items/archived", None).await;
    assert_eq!(archived["status"], "ARCHIVED");
    let by_trace = ok(
        &app,
        "GET",
        "/api/public/dataset-items?sourceTraceId=t0",
        None,
    )
    .await;
    assert_eq!(by_trace["meta"]["totalItems"], 1);
    let (s, _) = app
        .post(
            "/api/public/dataset-items",
            &json!({"datasetName": "ds", "status": "DELETED"}),
        )
        .await;
    assert_eq!(s, 400);
    let del = ok(&app, "DELETE", "/api/public/dataset-items/item-1", None).await;
    assert_eq!(del, json!({"message": "Dataset item successfully deleted"}));
    let (s, _) = app.get("/api/public/dataset-items/item-1").await;
    assert_eq!(s, 404);
    let v1 = ok(&app, "GET", "/api/public/datasets/ds", None).await;
    assert_eq!(
        v1["items"].as_array().unwrap().len(),
        5,
        "v1 get lists every status"
    );
}

#[tokio::test]
async fn run_items_before_the_trace_exists_and_run_reads() {
    let app = spawn_app().await;
    ok(
        &app,
        "POST",
        "/api/public/v2/datasets",
        Some(&json!({"name": "exp"})),
    )
    .await;
    for id in ["i1", "i2"] {
        ok(
            &app,
            "POST",
            "/api/public/dataset-items",
            Some(&json!({"datasetName": "exp", "id": id, "input": id})),
        )
        .await;
    }
    let trace = "0123456789abcdef0123456789abcdef";
    let first = ok(
        &app,
        "POST",
        "/api/public/dataset-run-items",
        Some(
            &json!({"runName": "run A", "runDescription": "first", "metadata": {"model": "m"},
                     "datasetItemId": "i1", "traceId": trace, "observationId": "0123456789abcdef"}),
        ),
    )
    .await;
    let run_id = first["datasetRunId"].as_str().unwrap().to_string();
    assert_eq!(first["datasetRunName"], "run A");
    assert_eq!(first["datasetItemId"], "i1");
    assert_eq!(first["traceId"], trace);
    assert_eq!(first["observationId"], "0123456789abcdef");
    let second = ok(
        &app,
        "POST",
        "/api/public/dataset-run-items",
        Some(
            &json!({"runName": "run A", "runDescription": "ignored", "datasetItemId": "i2",
                     "traceId": "t2"}),
        ),
    )
    .await;
    assert_eq!(second["datasetRunId"], run_id.as_str(), "same run reused");
    assert_eq!(second["observationId"], Value::Null);

    // Strict body, required fields, archived/unknown items.
    for body in [
        json!({"runName": "r", "datasetItemId": "i1", "traceId": "t", "extra": 1}),
        json!({"runName": "r", "datasetItemId": "i1"}),
        json!({"datasetItemId": "i1", "traceId": "t"}),
    ] {
        let (s, _) = app.post("/api/public/dataset-run-items", &body).await;
        assert_eq!(s, 400, "{body}");
    }
    let (s, _) = app
        .post(
            "/api/public/dataset-run-items",
            &json!({"runName": "r", "datasetItemId": "nope", "traceId": "t"}),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .post(
            "/api/public/dataset-run-items",
            &json!({"runName": "r", "datasetItemId": "i1", "observationId": "unknown-obs"}),
        )
        .await;
    assert_eq!(s, 404, "observation-only links need the observation");

    let runs = ok(&app, "GET", "/api/public/datasets/exp/runs", None).await;
    assert_eq!(
        runs["meta"],
        json!({"page": 1, "limit": 50, "totalItems": 1, "totalPages": 1})
    );
    let run = &runs["data"][0];
    assert_eq!(run["id"], run_id.as_str());
    assert_eq!(run["name"], "run A");
    assert_eq!(run["description"], "first");
    assert_eq!(run["metadata"], json!({"model": "m"}));
    assert_eq!(run["datasetName"], "exp");
    let full = ok(&app, "GET", "/api/public/datasets/exp/runs/run%20A", None).await;
    assert_eq!(full["datasetRunItems"].as_array().unwrap().len(), 2);
    assert_eq!(full["datasetId"], run["datasetId"]);
    let dataset_id = run["datasetId"].as_str().unwrap();
    let items = ok(
        &app,
        "GET",
        &format!("/api/public/dataset-run-items?datasetId={dataset_id}&runName=run%20A&limit=1"),
        None,
    )
    .await;
    assert_eq!(
        items["meta"],
        json!({"page": 1, "limit": 1, "totalItems": 2, "totalPages": 2})
    );
    // Run-level scores carry the run id and are accepted by the score write path.
    let (s, res) = app
        .post(
            "/api/public/scores",
            &json!({"name": "accuracy", "value": 0.5, "datasetRunId": run_id}),
        )
        .await;
    assert!(s == 200 || s == 201, "{s} {res}");

    let del = ok(
        &app,
        "DELETE",
        "/api/public/datasets/exp/runs/run%20A",
        None,
    )
    .await;
    assert_eq!(del, json!({"message": "Dataset run successfully deleted"}));
    let (s, _) = app.get("/api/public/datasets/exp/runs/run%20A").await;
    assert_eq!(s, 404);
    let runs = ok(&app, "GET", "/api/public/datasets/exp/runs", None).await;
    assert_eq!(runs["meta"]["totalItems"], 0);
}

#[tokio::test]
async fn datasets_are_isolated_per_project() {
    let app = spawn_app().await;
    ok(
        &app,
        "POST",
        "/api/public/v2/datasets",
        Some(&json!({"name": "shared"})),
    )
    .await;
    ok(
        &app,
        "POST",
        "/api/public/dataset-items",
        Some(&json!({"datasetName": "shared", "id": "x"})),
    )
    .await;
    let (_, pk, sk) = create_project_with_key(&app, "other").await;
    let other = basic(&pk, &sk);
    let (s, _) = app
        .send("GET", "/api/public/v2/datasets/shared", Some(&other), None)
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .send("GET", "/api/public/dataset-items/x", Some(&other), None)
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .send(
            "POST",
            "/api/public/dataset-run-items",
            Some(&other),
            Some(&json!({"runName": "r", "datasetItemId": "x", "traceId": "t"})),
        )
        .await;
    assert_eq!(s, 404);
    let (_, list) = app
        .send("GET", "/api/public/v2/datasets", Some(&other), None)
        .await;
    assert_eq!(list["meta"]["totalItems"], 0);
    let (s, body) = app.send("GET", "/api/public/v2/datasets", None, None).await;
    assert_eq!(s, 401);
    assert!(body["message"].is_string());
}

/// The Langfuse Python SDK 2.x percent-encodes names itself and its HTTP client encodes them
/// again: `Text with spaces` arrives as `Text%2520with%2520spaces`. Every name-in-path and
/// name-in-query route finds the dataset/run/prompt, and an exact name containing `%20`
/// still wins over the decoded reading.
#[tokio::test]
async fn names_encoded_twice_by_the_sdk_are_found() {
    let app = spawn_app().await;
    let name = "Text with spaces & more";
    let twice = "Text%2520with%2520spaces%2520%2526%2520more";
    let d = ok(
        &app,
        "POST",
        "/api/public/v2/datasets",
        Some(&json!({"name": name})),
    )
    .await;
    let item = ok(
        &app,
        "POST",
        "/api/public/dataset-items",
        Some(&json!({"datasetName": name, "input": {"q": 1}})),
    )
    .await;
    ok(
        &app,
        "POST",
        "/api/public/dataset-run-items",
        Some(&json!({"runName": "run one", "datasetItemId": item["id"], "traceId": "t-1"})),
    )
    .await;
    for path in [
        format!("/api/public/v2/datasets/{twice}"),
        format!("/api/public/datasets/{twice}"),
    ] {
        assert_eq!(ok(&app, "GET", &path, None).await["id"], d["id"], "{path}");
    }
    let items = ok(
        &app,
        "GET",
        &format!("/api/public/dataset-items?datasetName={twice}"),
        None,
    )
    .await;
    assert_eq!(items["data"][0]["id"], item["id"]);
    let runs = ok(
        &app,
        "GET",
        &format!("/api/public/datasets/{twice}/runs"),
        None,
    )
    .await;
    assert_eq!(runs["data"][0]["name"], "run one");
    let run = ok(
        &app,
        "GET",
        &format!("/api/public/datasets/{twice}/runs/run%2520one"),
        None,
    )
    .await;
    assert_eq!(run["datasetRunItems"][0]["datasetItemId"], item["id"]);
    let dataset_id = d["id"].as_str().unwrap();
    let run_items = ok(
        &app,
        "GET",
        &format!("/api/public/dataset-run-items?datasetId={dataset_id}&runName=run%2520one"),
        None,
    )
    .await;
    assert_eq!(run_items["meta"]["totalItems"], 1);

    // A dataset whose name really is `a%20b` is found by its exact name, not as `a b`.
    let literal = ok(
        &app,
        "POST",
        "/api/public/v2/datasets",
        Some(&json!({"name": "a%20b"})),
    )
    .await;
    ok(
        &app,
        "POST",
        "/api/public/v2/datasets",
        Some(&json!({"name": "a b"})),
    )
    .await;
    let got = ok(&app, "GET", "/api/public/v2/datasets/a%2520b", None).await;
    assert_eq!(got["id"], literal["id"]);
    let (s, body) = app.get("/api/public/v2/datasets/nope%2520here").await;
    assert_eq!(
        (s, body["message"].as_str()),
        (404, Some("Dataset not found"))
    );

    // Prompts: get, label update and delete by the twice-encoded name.
    let (s, body) = app
        .post(
            "/api/public/v2/prompts",
            &json!({"name": "my prompt", "prompt": "hi", "labels": ["production"]}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let got = ok(&app, "GET", "/api/public/v2/prompts/my%2520prompt", None).await;
    assert_eq!(got["name"], "my prompt");
    let patched = ok(
        &app,
        "PATCH",
        "/api/public/v2/prompts/my%2520prompt/versions/1",
        Some(&json!({"newLabels": ["staging"]})),
    )
    .await;
    assert!(patched["labels"]
        .as_array()
        .unwrap()
        .contains(&json!("staging")));
    let (s, _) = app
        .send(
            "DELETE",
            "/api/public/v2/prompts/my%2520prompt",
            Some(&app.basic_auth()),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app.get("/api/public/v2/prompts/my%20prompt").await;
    assert_eq!(s, 404);
}
