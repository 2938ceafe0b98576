//! Authentication per scheme, Langfuse's failure bodies, CORS, project isolation.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn basic_auth_with_a_project_key_returns_that_project_with_sdk_required_keys() {
    let app = spawn_app().await;
    let (status, body) = app.get("/api/public/projects").await;
    assert_eq!(status, 200, "{body}");
    let data = body["data"].as_array().expect("data is an array");
    assert_eq!(data.len(), 1);
    let p = &data[0];
    assert_eq!(p["id"], "default");
    assert!(p["name"].is_string());
    // The Python SDK's auth_check fails without these keys.
    assert!(p["organization"]["id"].is_string() && p["organization"]["name"].is_string());
    assert_eq!(p["metadata"], json!({}));
    assert!(
        p.get("retentionDays").is_none(),
        "omitted when not configured"
    );
}

#[tokio::test]
async fn auth_failures_answer_401_with_langfuse_reasons() {
    let app = spawn_app().await;
    let garbage_basic = "Basic !!!not-base64!!!".to_string();
    let empty_secret = basic(&app.public_key, "");
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "No authorization header"),
        (Some("Token abc".into()), "Invalid authorization header"),
        (
            Some(basic(&app.public_key, "sk-lf-wrong")),
            "Invalid credentials. Confirm that you've configured the correct host.",
        ),
        (
            Some(basic("pk-lf-unknown", &app.secret_key)),
            "Invalid credentials. Confirm that you've configured the correct host.",
        ),
        (
            Some(garbage_basic),
            "Invalid authorization header. Confirm that you've configured the correct host.",
        ),
        (
            Some(empty_secret),
            "Invalid authorization header. Confirm that you've configured the correct host.",
        ),
        (
            Some("Bearer pk-lf-unknown".into()),
            "Invalid public key. Confirm that you've configured the correct host.",
        ),
    ];
    for (auth, reason) in cases {
        let (status, body) = app
            .send("GET", "/api/public/projects", auth.as_deref(), None)
            .await;
        assert_eq!(status, 401, "{auth:?}");
        assert_eq!(body, json!({ "message": reason }), "{auth:?}");
    }
}

#[tokio::test]
async fn a_public_key_alone_is_refused_with_403_outside_score_routes() {
    let app = spawn_app().await;
    let bearer_pk = format!("Bearer {}", app.public_key);
    let (status, body) = app
        .send("GET", "/api/public/projects", Some(&bearer_pk), None)
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({"message": "Invalid API key. Are you using an organization key?"})
    );
    let (status, body) = app
        .send(
            "GET",
            "/api/public/organizations/projects",
            Some(&bearer_pk),
            None,
        )
        .await;
    assert_eq!(status, 403);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("Organization-scoped"));
}

#[tokio::test]
async fn the_admin_bearer_token_acts_on_the_default_project_and_project_keys_cannot_administer() {
    let app = spawn_app().await;
    let (status, body) = app
        .send(
            "GET",
            "/api/public/projects",
            Some(&app.bearer_auth()),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"][0]["id"], "default");

    let (status, _) = app
        .send(
            "GET",
            "/api/public/organizations/projects",
            Some(&app.bearer_auth()),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .send(
            "GET",
            "/api/public/organizations/projects",
            Some(&app.basic_auth()),
            None,
        )
        .await;
    assert_eq!(status, 403, "{body}");

    let (status, _) = app
        .send(
            "GET",
            "/api/public/projects",
            Some("Bearer not-the-token"),
            None,
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn keys_of_one_project_never_see_another_project() {
    let app = spawn_app().await;
    let (pid, pk, sk) = create_project_with_key(&app, "other project").await;
    let (status, body) = app
        .send("GET", "/api/public/projects", Some(&basic(&pk, &sk)), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["id"], pid.as_str());
    assert_eq!(body["data"][0]["name"], "other project");
    // A's secret with B's public key does not authenticate.
    let (status, _) = app
        .send(
            "GET",
            "/api/public/projects",
            Some(&basic(&pk, &app.secret_key)),
            None,
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn langfuse_headless_init_variables_provision_a_project_and_key() {
    let app = spawn_app_with(&[
        ("LANGFUSE_INIT_ORG_ID", "acme"),
        ("LANGFUSE_INIT_ORG_NAME", "Acme Inc"),
        ("LANGFUSE_INIT_PROJECT_ID", "proj-init"),
        ("LANGFUSE_INIT_PROJECT_NAME", "Init Project"),
        ("LANGFUSE_INIT_PROJECT_PUBLIC_KEY", "pk-lf-init"),
        ("LANGFUSE_INIT_PROJECT_SECRET_KEY", "sk-lf-init"),
    ])
    .await;
    let (status, body) = app
        .send(
            "GET",
            "/api/public/projects",
            Some(&basic("pk-lf-init", "sk-lf-init")),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["id"], "proj-init");
    assert_eq!(body["data"][0]["name"], "Init Project");
    assert_eq!(
        body["data"][0]["organization"],
        json!({"id": "acme", "name": "Acme Inc"})
    );
}

#[tokio::test]
async fn restarting_with_a_changed_configured_secret_rotates_it() {
    let db = fresh_database().await;
    let first = spawn_app_on(
        &db,
        &[
            ("XTRACE_PUBLIC_KEY", "pk-lf-rot"),
            ("XTRACE_SECRET_KEY", "sk-lf-one"),
        ],
    )
    .await;
    assert_eq!(
        first
            .send(
                "GET",
                "/api/public/projects",
                Some(&basic("pk-lf-rot", "sk-lf-one")),
                None
            )
            .await
            .0,
        200
    );
    let second = spawn_app_on(
        &db,
        &[
            ("XTRACE_PUBLIC_KEY", "pk-lf-rot"),
            ("XTRACE_SECRET_KEY", "sk-lf-two"),
        ],
    )
    .await;
    let (ok, _) = second
        .send(
            "GET",
            "/api/public/projects",
            Some(&basic("pk-lf-rot", "sk-lf-two")),
            None,
        )
        .await;
    let (old, _) = second
        .send(
            "GET",
            "/api/public/projects",
            Some(&basic("pk-lf-rot", "sk-lf-one")),
            None,
        )
        .await;
    assert_eq!((ok, old), (200, 401));
}

#[tokio::test]
async fn cors_preflight_reflects_the_origin_without_credentials() {
    let app = spawn_app().await;
    let res = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/public/ingestion"))
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let h = res.headers();
    assert_eq!(
        h.get("access-control-allow-origin").unwrap(),
        "https://app.example.com"
    );
    assert!(h.get("access-control-allow-credentials").is_none());
    let allowed = h
        .get("access-control-allow-headers")
        .unwrap()
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");

    let res = app
        .client
        .get(app.url("/api/public/health"))
        .header("Origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers().get("access-control-allow-origin").unwrap(),
        "https://app.example.com"
    );
}
