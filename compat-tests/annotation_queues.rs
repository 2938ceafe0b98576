//! Annotation queues, their items and assignments over HTTP, with Langfuse's shapes and
//! errors.

use serde_json::{json, Value};

use crate::helpers::*;

async fn score_config(app: &TestApp, name: &str) -> String {
    let (s, c) = app
        .post(
            "/api/public/score-configs",
            &json!({"name": name, "dataType": "NUMERIC"}),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    c["id"].as_str().unwrap().to_string()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn queues_are_created_listed_and_validated() {
    let app = spawn_app().await;
    let cfg = score_config(&app, "accuracy").await;
    let (s, q) = app
        .post(
            "/api/public/annotation-queues",
            &json!({"name": "review", "description": "d", "scoreConfigIds": [cfg]}),
        )
        .await;
    assert_eq!(s, 200, "{q}");
    assert_eq!(
        keys(&q),
        [
            "createdAt",
            "description",
            "id",
            "name",
            "scoreConfigIds",
            "updatedAt"
        ]
    );
    assert_eq!(q["scoreConfigIds"], json!([cfg]));
    assert_eq!(q["description"], "d");
    assert!(q["createdAt"].as_str().unwrap().ends_with('Z'));

    // Same name: 409; unknown config: 400; no config: 400; unknown key: 400.
    let (s, b) = app
        .post(
            "/api/public/annotation-queues",
            &json!({"name": "review", "scoreConfigIds": [cfg]}),
        )
        .await;
    assert_eq!(
        (s, b),
        (
            409,
            json!({"message": "A queue with this name already exists.", "error": "LangfuseConflictError"})
        )
    );
    let (s, b) = app
        .post(
            "/api/public/annotation-queues",
            &json!({"name": "other", "scoreConfigIds": [cfg, "nope"]}),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        b["message"],
        "At least one of the score config IDs cannot be found for the given project."
    );
    for body in [
        json!({"name": "x", "scoreConfigIds": []}),
        json!({"scoreConfigIds": [cfg]}),
        json!({"name": "x", "scoreConfigIds": [cfg], "extra": 1}),
    ] {
        let (s, b) = app.post("/api/public/annotation-queues", &body).await;
        assert_eq!(s, 400, "{body} -> {b}");
        assert_eq!(b["message"], "Invalid request data", "{b}");
    }

    let (s, q2) = app
        .post(
            "/api/public/annotation-queues",
            &json!({"name": "second", "scoreConfigIds": [cfg, cfg]}),
        )
        .await;
    assert_eq!(s, 200, "{q2}");
    assert_eq!(q2["description"], Value::Null);
    let (s, list) = app.get("/api/public/annotation-queues?limit=1").await;
    assert_eq!(s, 200);
    assert_eq!(list["data"][0]["id"], q2["id"], "newest first");
    assert_eq!(
        list["meta"],
        json!({"page": 1, "limit": 1, "totalItems": 2, "totalPages": 2})
    );
    let id = q["id"].as_str().unwrap();
    let (s, got) = app
        .get(&format!("/api/public/annotation-queues/{id}"))
        .await;
    assert_eq!((s, &got), (200, &q));
    let (s, b) = app.get("/api/public/annotation-queues/missing").await;
    assert_eq!(
        (s, b),
        (
            404,
            json!({"message": "Annotation queue not found", "error": "LangfuseNotFoundError"})
        )
    );
    // Another project does not see the queue.
    let (_, pk, sk) = create_project_with_key(&app, "other").await;
    let (s, _) = app
        .send(
            "GET",
            &format!("/api/public/annotation-queues/{id}"),
            Some(&basic(&pk, &sk)),
            None,
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn queue_items_lifecycle_and_assignments() {
    let app = spawn_app().await;
    let cfg = score_config(&app, "quality").await;
    let (_, q) = app
        .post(
            "/api/public/annotation-queues",
            &json!({"name": "q", "scoreConfigIds": [cfg]}),
        )
        .await;
    let base = format!(
        "/api/public/annotation-queues/{}",
        q["id"].as_str().unwrap()
    );
    let (s, item) = app
        .post(
            &format!("{base}/items"),
            &json!({"objectId": "trace-1", "objectType": "TRACE"}),
        )
        .await;
    assert_eq!(s, 200, "{item}");
    assert_eq!(
        keys(&item),
        [
            "completedAt",
            "createdAt",
            "id",
            "objectId",
            "objectType",
            "queueId",
            "status",
            "updatedAt"
        ]
    );
    assert_eq!(item["status"], "PENDING");
    assert_eq!(item["completedAt"], Value::Null);
    assert_eq!(item["queueId"], q["id"]);
    let (s, done) = app
        .post(
            &format!("{base}/items"),
            &json!({"objectId": "sess-1", "objectType": "SESSION", "status": "COMPLETED"}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(done["completedAt"].is_string());
    for body in [
        json!({"objectId": "x", "objectType": "DATASET"}),
        json!({"objectId": "x", "objectType": "TRACE", "status": "DONE"}),
        json!({"objectType": "TRACE"}),
    ] {
        let (s, b) = app.post(&format!("{base}/items"), &body).await;
        assert_eq!(s, 400, "{body} -> {b}");
    }
    let (s, _) = app
        .post(
            "/api/public/annotation-queues/nope/items",
            &json!({"objectId": "x", "objectType": "TRACE"}),
        )
        .await;
    assert_eq!(s, 404);

    let (s, list) = app.get(&format!("{base}/items?status=PENDING")).await;
    assert_eq!(s, 200);
    assert_eq!(list["meta"]["totalItems"], 1);
    assert_eq!(list["data"][0]["id"], item["id"]);
    let (s, all) = app.get(&format!("{base}/items")).await;
    assert_eq!((s, all["meta"]["totalItems"].clone()), (200, json!(2)));
    assert_eq!(all["data"][0]["id"], done["id"], "newest first");
    let (s, _) = app.get(&format!("{base}/items?status=nope")).await;
    assert_eq!(s, 400);

    let item_path = format!("{base}/items/{}", item["id"].as_str().unwrap());
    let (s, got) = app.get(&item_path).await;
    assert_eq!((s, &got), (200, &item));
    let (s, patched) = app
        .send(
            "PATCH",
            &item_path,
            Some(&app.basic_auth()),
            Some(&json!({"status": "COMPLETED"})),
        )
        .await;
    assert_eq!(s, 200, "{patched}");
    assert_eq!(patched["status"], "COMPLETED");
    assert!(patched["completedAt"].is_string());
    let (s, _) = app
        .send(
            "PATCH",
            &item_path,
            Some(&app.basic_auth()),
            Some(&json!({"status": "LATER"})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, b) = app
        .send("DELETE", &item_path, Some(&app.basic_auth()), None)
        .await;
    assert_eq!(
        (s, b),
        (
            200,
            json!({"success": true, "message": "Annotation queue item deleted successfully"})
        )
    );
    let (s, b) = app.get(&item_path).await;
    assert_eq!(
        (s, b["message"].clone()),
        (404, json!("Annotation queue item not found"))
    );

    let (s, a) = app
        .post(&format!("{base}/assignments"), &json!({"userId": "u-1"}))
        .await;
    assert_eq!(
        (s, a),
        (
            200,
            json!({"userId": "u-1", "queueId": q["id"], "projectId": "default"})
        )
    );
    let (s, _) = app
        .post(&format!("{base}/assignments"), &json!({"userId": "u-1"}))
        .await;
    assert_eq!(s, 200, "assigning twice is fine");
    for _ in 0..2 {
        let (s, b) = app
            .send(
                "DELETE",
                &format!("{base}/assignments"),
                Some(&app.basic_auth()),
                Some(&json!({"userId": "u-1"})),
            )
            .await;
        assert_eq!((s, b), (200, json!({"success": true})));
    }
    let (s, _) = app.post(&format!("{base}/assignments"), &json!({})).await;
    assert_eq!(s, 400);
}
