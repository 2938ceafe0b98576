//! `/api/public/score-configs` CRUD.

use serde_json::json;

use crate::helpers::*;
use crate::seed::*;

#[tokio::test]
async fn score_configs_are_created_read_listed_and_patched() {
    let app = spawn_app().await;
    let (status, num) = app
        .post(
            "/api/public/score-configs",
            &json!({"name": "accuracy (v1)", "dataType": "NUMERIC",
            "minValue": 0, "maxValue": 1, "description": "d"}),
        )
        .await;
    assert_eq!(status, 200, "{num}");
    assert_has_keys(
        &num,
        &[
            "id",
            "name",
            "createdAt",
            "updatedAt",
            "projectId",
            "dataType",
            "isArchived",
            "minValue",
            "maxValue",
            "description",
        ],
        "ScoreConfig",
    );
    assert_eq!(num["projectId"], "default");
    assert_eq!(num["isArchived"], false);
    assert_eq!(num["minValue"].as_f64(), Some(0.0));
    assert!(is_iso_ms_z(&num["createdAt"]));
    let (_, boolean) = app
        .post(
            "/api/public/score-configs",
            &json!({"name": "correct", "dataType": "BOOLEAN"}),
        )
        .await;
    assert_eq!(
        boolean["categories"],
        json!([{"label": "True", "value": 1}, {"label": "False", "value": 0}])
    );
    let (status, cat) = app
        .post(
            "/api/public/score-configs",
            &json!({"name": "tone", "dataType": "CATEGORICAL",
            "categories": [{"label": "good", "value": 1}, {"label": "bad", "value": 0}]}),
        )
        .await;
    assert_eq!(status, 200, "{cat}");
    assert_eq!(cat["categories"][0]["label"], "good");

    let id = num["id"].as_str().unwrap();
    let (status, got) = app.get(&format!("/api/public/score-configs/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["name"], "accuracy (v1)");

    let (_, list) = app.get("/api/public/score-configs?limit=2").await;
    assert_eq!(
        list["meta"],
        json!({"page": 1, "limit": 2, "totalItems": 3, "totalPages": 2})
    );
    assert_eq!(list["data"].as_array().unwrap().len(), 2);

    let (status, patched) = app
        .send(
            "PATCH",
            &format!("/api/public/score-configs/{id}"),
            Some(&app.basic_auth()),
            Some(&json!({"isArchived": true, "maxValue": 10})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["isArchived"], true);
    assert_eq!(patched["maxValue"].as_f64(), Some(10.0));
    assert_eq!(patched["name"], "accuracy (v1)");

    let (status, _) = app
        .send(
            "PATCH",
            &format!("/api/public/score-configs/{id}"),
            Some(&app.basic_auth()),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, 400, "empty patch");
    let (status, _) = app
        .send(
            "PATCH",
            &format!("/api/public/score-configs/{id}"),
            Some(&app.basic_auth()),
            Some(&json!({"minValue": 20})),
        )
        .await;
    assert_eq!(status, 400, "min must stay below max");

    let (status, body) = app.get("/api/public/score-configs/nope").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "LangfuseNotFoundError");
    let (_, auth) = second_project(&app).await;
    let (status, _) = app
        .send(
            "GET",
            &format!("/api/public/score-configs/{id}"),
            Some(&auth),
            None,
        )
        .await;
    assert_eq!(status, 404, "configs are per project");
    let (_, other) = app
        .send("GET", "/api/public/score-configs", Some(&auth), None)
        .await;
    assert_eq!(other["meta"]["totalItems"], 0);
}

#[tokio::test]
async fn invalid_score_configs_are_rejected() {
    let app = spawn_app().await;
    for (body, why) in [
        (json!({"dataType": "NUMERIC"}), "name missing"),
        (json!({"name": "x"}), "dataType missing"),
        (json!({"name": "", "dataType": "NUMERIC"}), "empty name"),
        (
            json!({"name": "a".repeat(36), "dataType": "NUMERIC"}),
            "name too long",
        ),
        (
            json!({"name": "bad/name", "dataType": "NUMERIC"}),
            "bad characters",
        ),
        (
            json!({"name": "x", "dataType": "FLOAT"}),
            "unknown data type",
        ),
        (
            json!({"name": "x", "dataType": "NUMERIC", "minValue": 2, "maxValue": 1}),
            "min > max",
        ),
        (
            json!({"name": "x", "dataType": "CATEGORICAL"}),
            "categories missing",
        ),
        (
            json!({"name": "x", "dataType": "CATEGORICAL", "categories": [{"label": "a", "value": 1}, {"label": "a", "value": 2}]}),
            "duplicate labels",
        ),
        (
            json!({"name": "x", "dataType": "CATEGORICAL", "categories": [{"label": "a", "value": 1}, {"label": "b", "value": 1}]}),
            "duplicate values",
        ),
        (
            json!({"name": "x", "dataType": "BOOLEAN", "categories": [{"label": "a", "value": 1}]}),
            "boolean categories",
        ),
        (
            json!({"name": "x", "dataType": "NUMERIC", "minValue": "low"}),
            "minValue not a number",
        ),
    ] {
        let (status, res) = app.post("/api/public/score-configs", &body).await;
        assert_eq!(status, 400, "{why}: {res}");
        assert!(res["message"].is_string(), "{why}: {res}");
    }
}

async fn new_config(app: &TestApp, auth: &str, body: serde_json::Value) -> serde_json::Value {
    let (status, c) = app
        .send("POST", "/api/public/score-configs", Some(auth), Some(&body))
        .await;
    assert_eq!(status, 200, "{c}");
    c
}

fn score_event(id: &str, body: serde_json::Value) -> serde_json::Value {
    json!({"id": format!("ev-{id}"), "type": "score-create",
           "timestamp": "2025-01-01T00:00:00.000Z", "body": body})
}

#[tokio::test]
async fn ingested_scores_are_checked_against_their_config() {
    let app = spawn_app().await;
    let auth = app.basic_auth();
    let accuracy = new_config(
        &app,
        &auth,
        json!({"name": "accuracy", "dataType": "NUMERIC", "minValue": 0, "maxValue": 1}),
    )
    .await;
    let categories = json!([{"label": "good", "value": 3}, {"label": "bad", "value": -1}]);
    let tone = new_config(
        &app,
        &auth,
        json!({"name": "tone", "dataType": "CATEGORICAL", "categories": categories}),
    )
    .await;
    let correct = new_config(
        &app,
        &auth,
        json!({"name": "correct", "dataType": "BOOLEAN"}),
    )
    .await;
    let old = new_config(&app, &auth, json!({"name": "old", "dataType": "NUMERIC"})).await;
    let (status, _) = app
        .send(
            "PATCH",
            &format!("/api/public/score-configs/{}", old["id"].as_str().unwrap()),
            Some(&auth),
            Some(&json!({"isArchived": true})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, other_auth) = second_project(&app).await;
    let foreign = new_config(
        &app,
        &other_auth,
        json!({"name": "foreign", "dataType": "NUMERIC"}),
    )
    .await;

    let cfg = |c: &serde_json::Value| c["id"].as_str().unwrap().to_string();
    // (score id, body, stored?)
    let cases = [
        (
            "num-ok",
            json!({"name": "typo", "value": 0.75, "configId": cfg(&accuracy)}),
            true,
        ),
        (
            "num-max",
            json!({"name": "x", "value": 1, "configId": cfg(&accuracy)}),
            true,
        ),
        (
            "num-high",
            json!({"name": "x", "value": 1.5, "configId": cfg(&accuracy)}),
            false,
        ),
        (
            "num-low",
            json!({"name": "x", "value": -0.5, "configId": cfg(&accuracy)}),
            false,
        ),
        (
            "cat-ok",
            json!({"name": "x", "value": "good", "configId": cfg(&tone)}),
            true,
        ),
        (
            "cat-unknown",
            json!({"name": "x", "value": "meh", "configId": cfg(&tone)}),
            false,
        ),
        (
            "cat-number",
            json!({"name": "x", "value": 3, "configId": cfg(&tone)}),
            false,
        ),
        (
            "bool-ok",
            json!({"name": "x", "value": 0, "configId": cfg(&correct)}),
            true,
        ),
        (
            "bool-two",
            json!({"name": "x", "value": 2, "configId": cfg(&correct)}),
            false,
        ),
        (
            "type-mismatch",
            json!({"name": "x", "value": 0.5, "dataType": "NUMERIC", "configId": cfg(&tone)}),
            false,
        ),
        (
            "archived",
            json!({"name": "x", "value": 0.5, "configId": cfg(&old)}),
            false,
        ),
        (
            "unknown",
            json!({"name": "x", "value": 0.5, "configId": "no-such-config"}),
            false,
        ),
        (
            "foreign",
            json!({"name": "x", "value": 0.5, "configId": cfg(&foreign)}),
            false,
        ),
        ("plain", json!({"name": "free", "value": 7}), true),
    ];
    let batch: Vec<_> = cases
        .iter()
        .map(|(id, body, _)| {
            let mut body = body.clone();
            body["id"] = json!(id);
            body["traceId"] = json!("t1");
            score_event(id, body)
        })
        .collect();
    let (status, res) = app
        .post("/api/public/ingestion", &json!({"batch": batch}))
        .await;
    assert_eq!(status, 207, "{res}");
    // Config checks run after acceptance, as in Langfuse's worker: every event is a success.
    assert_eq!(res["errors"], json!([]), "{res}");
    assert_eq!(res["successes"].as_array().unwrap().len(), cases.len());

    let (status, list) = app.get("/api/public/scores?limit=100").await;
    assert_eq!(status, 200, "{list}");
    let mut stored: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    stored.sort();
    let mut expected: Vec<&str> = cases.iter().filter(|c| c.2).map(|c| c.0).collect();
    expected.sort();
    assert_eq!(stored, expected);

    let get = |id: &str| {
        let app = &app;
        let id = id.to_string();
        async move {
            let (status, s) = app.get(&format!("/api/public/scores/{id}")).await;
            assert_eq!(status, 200, "{s}");
            s
        }
    };
    let s = get("num-ok").await;
    assert_eq!(
        s["name"], accuracy["name"],
        "the config's name replaces the sent one"
    );
    assert_eq!(s["value"].as_f64(), Some(0.75));
    assert_eq!(s["dataType"], "NUMERIC");
    assert_eq!(s["configId"], accuracy["id"]);
    let s = get("cat-ok").await;
    assert_eq!(s["name"], "tone");
    assert_eq!(s["dataType"], "CATEGORICAL");
    assert_eq!(s["stringValue"], "good");
    let good = categories
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["label"] == "good")
        .unwrap();
    assert_eq!(
        s["value"].as_f64(),
        good["value"].as_f64(),
        "the category's value"
    );
    let s = get("bool-ok").await;
    assert_eq!(s["name"], "correct");
    assert_eq!(
        s["dataType"], "BOOLEAN",
        "inferred from the config, not the number"
    );
    assert_eq!(s["stringValue"], "False");
    assert_eq!(s["value"].as_f64(), Some(0.0));
    let s = get("plain").await;
    assert_eq!(s["name"], "free", "scores without a config keep their name");
}

#[tokio::test]
async fn post_scores_with_a_config_mismatch_is_accepted_then_dropped() {
    let app = spawn_app().await;
    let auth = app.basic_auth();
    let accuracy = new_config(
        &app,
        &auth,
        json!({"name": "accuracy", "dataType": "NUMERIC", "minValue": 0, "maxValue": 1}),
    )
    .await;
    let config_id = accuracy["id"].as_str().unwrap();
    // Langfuse validates configs in its worker, after answering 200 with the id.
    let (status, res) = app
        .post(
            "/api/public/scores",
            &json!({"id": "too-high", "traceId": "t1", "name": "x", "value": 2,
                    "configId": config_id}),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["id"], "too-high");
    let (status, _) = app.get("/api/public/scores/too-high").await;
    assert_eq!(status, 404, "an out-of-range score is not stored");

    let (status, res) = app
        .post(
            "/api/public/scores",
            &json!({"id": "fine", "traceId": "t1", "name": "x", "value": 0.25,
                    "configId": config_id}),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    let (status, s) = app.get("/api/public/scores/fine").await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["name"], accuracy["name"]);
    assert_eq!(s["value"].as_f64(), Some(0.25));
}
