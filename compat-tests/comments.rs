//! `/api/public/comments`.

use serde_json::json;

use crate::helpers::*;
use crate::seed::*;

#[tokio::test]
async fn comments_are_created_on_existing_objects_and_listed() {
    let app = spawn_app().await;
    let seed = Seed::new(&app).await;
    seed.trace("t1", "2024-05-01T10:00:00.000Z", json!({}))
        .await;
    seed.observation("o1", "t1", "SPAN", "2024-05-01T10:00:00.000Z", json!({}))
        .await;
    seed.session("s1", "2024-05-01T10:00:00.000Z", "default")
        .await;

    let mut ids = Vec::new();
    for (t, id) in [
        ("TRACE", "t1"),
        ("OBSERVATION", "o1"),
        ("SESSION", "s1"),
        ("TRACE", "t1"),
    ] {
        let (status, body) = app
            .post(
                "/api/public/comments",
                &json!({"projectId": "default", "objectType": t,
                "objectId": id, "content": format!("on {id}"), "authorUserId": "alice"}),
            )
            .await;
        assert_eq!(status, 200, "{t}: {body}");
        ids.push(body["id"].as_str().expect("id").to_string());
    }
    let (status, c) = app.get(&format!("/api/public/comments/{}", ids[1])).await;
    assert_eq!(status, 200);
    assert_eq!(
        keys(&c),
        [
            "authorUserId",
            "content",
            "createdAt",
            "id",
            "objectId",
            "objectType",
            "projectId",
            "updatedAt"
        ]
    );
    assert_eq!(c["objectType"], "OBSERVATION");
    assert_eq!(c["content"], "on o1");
    assert!(is_iso_ms_z(&c["createdAt"]));

    let (_, all) = app.get("/api/public/comments").await;
    assert_eq!(
        all["meta"],
        json!({"page": 1, "limit": 50, "totalItems": 4, "totalPages": 1})
    );
    let (_, on_trace) = app
        .get("/api/public/comments?objectType=TRACE&objectId=t1")
        .await;
    assert_eq!(on_trace["meta"]["totalItems"], 2);
    let (_, by_author) = app.get("/api/public/comments?authorUserId=bob").await;
    assert_eq!(by_author["meta"]["totalItems"], 0);
    let (_, paged) = app.get("/api/public/comments?limit=3&page=2").await;
    assert_eq!(paged["data"].as_array().unwrap().len(), 1);
    assert_eq!(paged["meta"]["totalPages"], 2);

    for (body, status, why) in [
        (
            json!({"projectId": "default", "objectType": "TRACE", "objectId": "missing", "content": "x"}),
            404,
            "unknown trace",
        ),
        (
            json!({"projectId": "default", "objectType": "DATASET", "objectId": "t1", "content": "x"}),
            400,
            "bad type",
        ),
        (
            json!({"projectId": "default", "objectType": "TRACE", "objectId": "t1", "content": ""}),
            400,
            "empty content",
        ),
        (
            json!({"projectId": "default", "objectType": "TRACE", "objectId": "t1", "content": "x".repeat(5001)}),
            400,
            "too long",
        ),
        (
            json!({"projectId": "default", "objectType": "TRACE", "objectId": "t1"}),
            400,
            "content missing",
        ),
    ] {
        let (got, res) = app.post("/api/public/comments", &body).await;
        assert_eq!(got, status, "{why}: {res}");
    }
    assert_eq!(app.get("/api/public/comments?objectType=NOPE").await.0, 400);
    assert_eq!(app.get("/api/public/comments/missing").await.0, 404);

    let (_, auth) = second_project(&app).await;
    let (status, _) = app
        .send(
            "GET",
            &format!("/api/public/comments/{}", ids[0]),
            Some(&auth),
            None,
        )
        .await;
    assert_eq!(status, 404, "comments are per project");
    let (status, _) = app
        .send(
            "POST",
            "/api/public/comments",
            Some(&auth),
            Some(&json!({"projectId": "x",
            "objectType": "TRACE", "objectId": "t1", "content": "x"})),
        )
        .await;
    assert_eq!(status, 404, "another project's trace cannot be commented");
}
