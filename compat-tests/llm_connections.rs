//! LLM connections: upsert by provider, masked secrets, encrypted storage, validation, delete.

use serde_json::{json, Value};
use xtrace::domain::encryption::SecretBox;

use crate::helpers::*;

async fn put(app: &TestApp, body: &Value) -> (u16, Value) {
    app.send(
        "PUT",
        "/api/public/llm-connections",
        Some(&app.basic_auth()),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn connections_upsert_by_provider_and_never_return_secrets() {
    let secret = "server-secret-for-this-test";
    let app = spawn_app_with(&[("XTRACE_ENCRYPTION_KEY", secret)]).await;
    let (s, c) = put(
        &app,
        &json!({
            "provider": "openai", "adapter": "openai", "secretKey": "sk-proj-ABCDEFGH1234",
            "baseURL": "https://gateway.example.com/v1", "customModels": ["my-model"],
            "extraHeaders": {"X-Team": "team-secret-value"}, "config": {"useResponsesApi": true}
        }),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["displaySecretKey"], "...1234");
    assert_eq!(c["baseURL"], "https://gateway.example.com/v1");
    assert_eq!(c["customModels"], json!(["my-model"]));
    assert_eq!(c["withDefaultModels"], true);
    assert_eq!(c["extraHeaderKeys"], json!(["X-Team"]));
    assert_eq!(c["config"], json!({"useResponsesApi": true}));
    let text = c.to_string();
    assert!(
        !text.contains("ABCDEFGH") && !text.contains("team-secret-value"),
        "{text}"
    );

    // Stored encrypted: the column holds no plaintext and opens under the server secret.
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let (sealed, headers): (String, Option<String>) = sqlx::query_as(
        "select secret_key_sealed, extra_headers_sealed from llm_connections where id = $1",
    )
    .bind(c["id"].as_str().unwrap())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(!sealed.contains("ABCDEFGH"));
    let opener = SecretBox::from_secret(secret);
    assert_eq!(
        opener.open(&sealed).as_deref(),
        Some("sk-proj-ABCDEFGH1234")
    );
    let headers: Value = serde_json::from_str(&opener.open(&headers.unwrap()).unwrap()).unwrap();
    assert_eq!(headers, json!({"X-Team": "team-secret-value"}));
    assert_eq!(SecretBox::from_secret("another secret").open(&sealed), None);

    // Same provider: 200, same id, replaced attributes.
    let (s, again) = put(
        &app,
        &json!({"provider": "openai", "adapter": "openai", "secretKey": "sk-new-9999",
                "withDefaultModels": false}),
    )
    .await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["id"], c["id"]);
    assert_eq!(again["displaySecretKey"], "...9999");
    assert_eq!(again["withDefaultModels"], false);
    assert_eq!(again["baseURL"], Value::Null);
    assert_eq!(again["extraHeaderKeys"], json!([]));
    let (s, b) = put(
        &app,
        &json!({"provider": "bedrock-main", "adapter": "bedrock", "secretKey": "k",
                "config": {"region": "us-east-1"}}),
    )
    .await;
    assert_eq!(s, 201, "{b}");

    let (s, list) = app.get("/api/public/llm-connections?limit=1").await;
    assert_eq!(s, 200);
    assert_eq!(list["data"][0]["provider"], "openai");
    assert_eq!(
        list["meta"],
        json!({"page": 1, "limit": 1, "totalItems": 2, "totalPages": 2})
    );
    let mut keys: Vec<&String> = list["data"][0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "adapter",
            "baseURL",
            "config",
            "createdAt",
            "customModels",
            "displaySecretKey",
            "extraHeaderKeys",
            "id",
            "provider",
            "updatedAt",
            "withDefaultModels"
        ]
    );

    let path = format!("/api/public/llm-connections/{}", c["id"].as_str().unwrap());
    let (s, b) = app
        .send("DELETE", &path, Some(&app.basic_auth()), None)
        .await;
    assert_eq!(
        (s, b),
        (
            200,
            json!({"message": "LLM connection successfully deleted"})
        )
    );
    let (s, b) = app
        .send("DELETE", &path, Some(&app.basic_auth()), None)
        .await;
    assert_eq!(
        (s, b),
        (
            404,
            json!({"message": "LLM connection not found", "error": "LangfuseNotFoundError"})
        )
    );
}

#[tokio::test]
async fn invalid_connections_are_refused_with_400() {
    let app = spawn_app().await;
    for body in [
        json!({"provider": "p", "adapter": "cohere", "secretKey": "k"}),
        json!({"provider": "", "adapter": "openai", "secretKey": "k"}),
        json!({"provider": "p", "adapter": "openai", "secretKey": ""}),
        json!({"provider": "p", "adapter": "openai"}),
        json!({"provider": "p", "adapter": "openai", "secretKey": "k", "baseURL": "not a url"}),
        json!({"provider": "p", "adapter": "bedrock", "secretKey": "k"}),
        json!({"provider": "p", "adapter": "openai", "secretKey": "k", "config": {"region": "x"}}),
        json!({"provider": "p", "adapter": "anthropic", "secretKey": "k", "config": {"a": 1}}),
        json!({"provider": "p", "adapter": "openai", "secretKey": "k", "unknown": 1}),
    ] {
        let (s, b) = put(&app, &body).await;
        assert_eq!(s, 400, "{body} -> {b}");
        assert_eq!(b["message"], "Invalid request data", "{b}");
    }
    // Without a configured secret, one is generated into the data dir and used.
    let (s, b) = put(
        &app,
        &json!({"provider": "p", "adapter": "anthropic", "secretKey": "sk-ant-xyz0"}),
    )
    .await;
    assert_eq!((s, b["displaySecretKey"].clone()), (201, json!("...xyz0")));
}
