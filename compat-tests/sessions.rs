//! `GET /api/public/sessions[/{sessionId}]`.

use serde_json::json;

use crate::helpers::*;
use crate::seed::*;

#[tokio::test]
async fn sessions_list_newest_first_with_filters_and_meta() {
    let app = spawn_app().await;
    let seed = Seed::new(&app).await;
    seed.session("s1", "2024-05-01T10:00:00.000Z", "default")
        .await;
    seed.session("s2", "2024-05-02T10:00:00.000Z", "prod").await;
    seed.session("s3", "2024-05-03T10:00:00.000Z", "default")
        .await;
    let (status, body) = app.get("/api/public/sessions").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["meta"],
        json!({"page": 1, "limit": 50, "totalItems": 3, "totalPages": 1})
    );
    assert_eq!(
        body["data"][0],
        json!({"id": "s3", "createdAt": "2024-05-03T10:00:00.000Z",
        "projectId": "default", "environment": "default"})
    );
    let cases: &[(&str, &[&str])] = &[
        ("fromTimestamp=2024-05-02T10:00:00Z", &["s3", "s2"]),
        ("toTimestamp=2024-05-02T10:00:00Z", &["s1"]),
        ("environment=prod", &["s2"]),
        ("limit=2&page=2", &["s1"]),
    ];
    for (q, expected) in cases {
        let (status, body) = app.get(&format!("/api/public/sessions?{q}")).await;
        assert_eq!(status, 200, "{q}");
        let ids: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert_eq!(&ids, expected, "{q}");
    }
    let (_, body) = app.get("/api/public/sessions?limit=2").await;
    assert_eq!(body["meta"]["totalPages"], 2);
    assert_eq!(app.get("/api/public/sessions?limit=0").await.0, 400);
    assert_eq!(app.get("/api/public/sessions?fromTimestamp=x").await.0, 400);
}

#[tokio::test]
async fn get_session_returns_its_traces_and_404_elsewhere() {
    let app = spawn_app().await;
    let seed = Seed::new(&app).await;
    seed.session("s1", "2024-05-01T10:00:00.000Z", "default")
        .await;
    seed.trace(
        "t2",
        "2024-05-01T10:05:00.000Z",
        json!({"session_id": "s1", "input": "\"quoted\""}),
    )
    .await;
    seed.trace(
        "t1",
        "2024-05-01T10:01:00.000Z",
        json!({"session_id": "s1"}),
    )
    .await;
    seed.trace(
        "t3",
        "2024-05-01T10:01:00.000Z",
        json!({"session_id": "other"}),
    )
    .await;
    let (status, body) = app.get("/api/public/sessions/s1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "s1");
    assert_eq!(body["projectId"], "default");
    assert_eq!(body["createdAt"], "2024-05-01T10:00:00.000Z");
    let traces = body["traces"].as_array().unwrap();
    let ids: Vec<&str> = traces.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["t1", "t2"]);
    assert_has_keys(
        &traces[0],
        &[
            "id",
            "timestamp",
            "tags",
            "public",
            "environment",
            "name",
            "userId",
            "sessionId",
            "release",
            "version",
        ],
        "Trace",
    );
    assert!(traces[0].get("htmlPath").is_none());
    assert_eq!(traces[1]["input"], "quoted");

    let (status, body) = app.get("/api/public/sessions/nope").await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"message": "Session not found within authorized project",
        "error": "LangfuseNotFoundError"})
    );
    let (pid, auth) = second_project(&app).await;
    let (status, _) = app
        .send("GET", "/api/public/sessions/s1", Some(&auth), None)
        .await;
    assert_eq!(status, 404, "project {pid} cannot see default's session");
}

#[tokio::test]
async fn ids_with_slash_plus_and_percent_round_trip_through_the_path() {
    let app = spawn_app().await;
    let seed = Seed::new(&app).await;
    let (session, trace) = ("user/42+x", "run/7%done+1");
    seed.session(session, "2024-05-01T10:00:00.000Z", "default")
        .await;
    seed.trace(
        trace,
        "2024-05-01T10:00:00.000Z",
        json!({"session_id": session}),
    )
    .await;
    // Encoded as every SDK does: `/` → %2F, `+` → %2B, `%` → %25.
    let enc = |s: &str| {
        s.replace('%', "%25")
            .replace('/', "%2F")
            .replace('+', "%2B")
    };
    let (status, body) = app
        .get(&format!("/api/public/sessions/{}", enc(session)))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], session);
    assert_eq!(body["traces"][0]["id"], trace);
    let (status, body) = app.get(&format!("/api/public/traces/{}", enc(trace))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], trace);
    assert_eq!(body["sessionId"], session);
    // The encoded spelling is a different id.
    let (status, _) = app
        .get(&format!("/api/public/traces/{}", enc(&enc(trace))))
        .await;
    assert_eq!(status, 404);
}
