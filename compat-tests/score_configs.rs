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
