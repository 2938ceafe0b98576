//! The OpenAPI document: checked-in copy in sync with the code, served, and complete.

use crate::helpers::*;

#[test]
fn checked_in_openapi_matches_the_generated_document() {
    let generated = xtrace::openapi::document_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "openapi/openapi.json is stale: run `cargo run --example print_openapi > openapi/openapi.json`"
    );
}

#[tokio::test]
async fn the_served_document_is_the_generated_one_and_swagger_ui_is_up() {
    let app = spawn_app().await;
    let (status, served) = app
        .send("GET", "/api/public/openapi.json", None, None)
        .await;
    assert_eq!(status, 200);
    let generated: serde_json::Value =
        serde_json::from_str(&xtrace::openapi::document_json()).unwrap();
    assert_eq!(served, generated);
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    let res = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("swagger"));
}

#[tokio::test]
async fn every_documented_operation_is_served_and_declares_its_auth() {
    let app = spawn_app().await;
    let doc: serde_json::Value = serde_json::from_str(&xtrace::openapi::document_json()).unwrap();
    let public = [
        "/healthz",
        "/readyz",
        "/api/public/health",
        "/api/public/ready",
        // Signed URLs: the signature in the query string authenticates.
        "/api/public/media/{mediaId}/upload",
        "/api/public/media/{mediaId}/download",
    ];
    for (path, item) in doc["paths"].as_object().unwrap() {
        if path == "/metrics" {
            continue; // Prometheus text, not JSON; covered by tsmetrics::prometheus_*
        }
        for (method, op) in item.as_object().unwrap() {
            let concrete = path
                .split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let (status, body) = app
                .send(
                    &method.to_uppercase(),
                    &concrete,
                    Some("Bearer wrong-token"),
                    None,
                )
                .await;
            assert!(
                status != 404 || body["message"] != "Route not found",
                "{method} {path} is documented but not routed"
            );
            assert_ne!(status, 405, "{method} {path}");
            if !public.contains(&path.as_str()) {
                assert!(
                    op.get("security").is_some(),
                    "{method} {path} declares no security scheme"
                );
            }
        }
    }
}
