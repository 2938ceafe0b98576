use crate::helpers::*;

#[tokio::test]
async fn health_endpoints_need_no_auth_and_report_ok() {
    let app = spawn_app().await;
    for path in [
        "/healthz",
        "/readyz",
        "/api/public/health",
        "/api/public/ready",
    ] {
        let (status, body) = app.send("GET", path, None, None).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(body["status"], "OK", "{path}");
        assert!(body["version"].is_string(), "{path}: version present");
    }
}

#[tokio::test]
async fn health_reports_503_when_the_database_is_down_while_liveness_stays_up() {
    // A cluster of its own, so stopping it does not disturb other tests.
    let dir = test_tmp_dir().join(format!("pg-own-{}", uuid::Uuid::new_v4().simple()));
    let mut pg = tokio::task::spawn_blocking(move || xtrace::pg::ManagedPostgres::start(&dir))
        .await
        .unwrap()
        .expect("own cluster starts");
    xtrace::pg::ensure_database(&pg.url("postgres"), "xtrace")
        .await
        .unwrap();
    let app = spawn_app_on(&pg.url("xtrace"), &[]).await;
    assert_eq!(
        app.send("GET", "/api/public/health", None, None).await.0,
        200
    );

    let mut pg = tokio::task::spawn_blocking(move || {
        pg.stop();
        pg
    })
    .await
    .unwrap();

    let (status, body) = app.send("GET", "/api/public/health", None, None).await;
    assert_eq!(status, 503);
    assert_ne!(body["status"], "OK");
    assert!(body["version"].is_string());
    assert_eq!(app.send("GET", "/readyz", None, None).await.0, 503);
    assert_eq!(app.send("GET", "/healthz", None, None).await.0, 200);

    // A credential that was never seen needs the database: 503, as Langfuse answers.
    let (status, body) = app
        .send(
            "GET",
            "/api/public/projects",
            Some(&basic("pk-lf-unseen", "sk-lf-x")),
            None,
        )
        .await;
    assert_eq!(status, 503);
    assert_eq!(body["message"], "Service Unavailable");
    pg.stop();
}

#[tokio::test]
async fn unknown_routes_answer_json_404_and_wrong_verbs_405() {
    let app = spawn_app().await;
    let (status, body) = app
        .send("GET", "/api/public/does-not-exist", None, None)
        .await;
    assert_eq!(status, 404);
    assert!(body["message"].is_string());
    let (status, body) = app.send("DELETE", "/api/public/health", None, None).await;
    assert_eq!(status, 405);
    assert_eq!(body["message"], "Method not allowed");
}
