//! `POST /api/public/feedback`: validation and the 201 with an id.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn feedback_is_stored_and_validated() {
    let app = spawn_app().await;
    let (s, b) = app
        .post(
            "/api/public/feedback",
            &json!({"targetType": "public-api", "target": " /api/public/traces ",
                    "feedback": "Works", "goal": "export", "referenceUrl": "https://example.com/x"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let (target, project): (String, String) =
        sqlx::query_as("select target, project_id from feedback where id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (target.as_str(), project.as_str()),
        ("/api/public/traces", "default")
    );
    for body in [
        json!({"targetType": "blog", "target": "t", "feedback": "f"}),
        json!({"targetType": "docs", "target": "  ", "feedback": "f"}),
        json!({"targetType": "docs", "target": "t", "feedback": "x".repeat(3001)}),
        json!({"targetType": "docs", "target": "t", "feedback": "f", "goal": ""}),
        json!({"targetType": "docs", "target": "t", "feedback": "f", "referenceUrl": "ftp://x"}),
        json!({"targetType": "docs", "target": "t"}),
        json!({"targetType": "docs", "target": "t", "feedback": "f", "extra": true}),
    ] {
        let (s, b) = app.post("/api/public/feedback", &body).await;
        assert_eq!(s, 400, "{body} -> {b}");
        assert_eq!(b["message"], "Invalid request data");
    }
    let (s, _) = app
        .send(
            "POST",
            "/api/public/feedback",
            None,
            Some(&json!({"targetType": "docs", "target": "t", "feedback": "f"})),
        )
        .await;
    assert_eq!(s, 401);
}
