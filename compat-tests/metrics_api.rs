//! `GET /api/public/metrics/daily`.

use serde_json::json;

use crate::helpers::*;
use crate::seed::*;

#[tokio::test]
async fn daily_metrics_group_by_utc_day_and_model() {
    let app = spawn_app().await;
    let seed = Seed::new(&app).await;
    seed.trace(
        "t1",
        "2024-05-01T10:00:00.000Z",
        json!({"name": "chat", "user_id": "u1", "tags": ["a"]}),
    )
    .await;
    seed.trace("t2", "2024-05-01T23:30:00.000Z", json!({"name": "other"}))
        .await;
    seed.trace(
        "t3",
        "2024-05-03T01:00:00.000Z",
        json!({"name": "chat", "user_id": "u2"}),
    )
    .await;
    seed.observation(
        "o1",
        "t1",
        "GENERATION",
        "2024-05-01T10:00:01.000Z",
        json!({"model": "gpt-4o",
        "usage_details": {"input": 10, "input_cached": 2, "output": 5, "total": 17},
        "cost_details": {"total": 0.5}}),
    )
    .await;
    seed.observation(
        "o2",
        "t1",
        "GENERATION",
        "2024-05-01T10:00:02.000Z",
        json!({"model": "gpt-4o",
        "usage_details": {"input": 1, "output": 1, "total": 2}, "cost_details": {"total": 0.25}}),
    )
    .await;
    seed.observation("o3", "t2", "SPAN", "2024-05-01T23:30:00.000Z", json!({}))
        .await;
    seed.observation(
        "o4",
        "t3",
        "GENERATION",
        "2024-05-03T01:00:00.000Z",
        json!({"model": "claude",
        "usage_details": {"input": 3, "output": 4, "total": 7}, "cost_details": {"total": 1}}),
    )
    .await;

    let (status, body) = app.get("/api/public/metrics/daily").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["meta"],
        json!({"page": 1, "limit": 50, "totalItems": 2, "totalPages": 1})
    );
    let days = body["data"].as_array().unwrap();
    assert_eq!(days[0]["date"], "2024-05-03");
    assert_eq!(days[0]["countTraces"], 1);
    assert_eq!(
        days[0]["usage"],
        json!([{"model": "claude", "inputUsage": 3, "outputUsage": 4,
        "totalUsage": 7, "totalCost": 1, "countObservations": 1, "countTraces": 1}])
    );
    let d1 = &days[1];
    assert_eq!(d1["date"], "2024-05-01");
    assert_eq!(d1["countTraces"], 2);
    assert_eq!(d1["countObservations"], 3);
    assert_eq!(d1["totalCost"].as_f64(), Some(0.75));
    let gpt = d1["usage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["model"] == "gpt-4o")
        .unwrap();
    assert_eq!(gpt["inputUsage"], 13);
    assert_eq!(gpt["outputUsage"], 6);
    assert_eq!(gpt["totalUsage"], 19);
    assert_eq!(gpt["countObservations"], 2);
    assert_eq!(gpt["countTraces"], 1);
    let none = d1["usage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["model"].is_null())
        .unwrap();
    assert_eq!(none["countObservations"], 1);

    let (_, body) = app
        .get("/api/public/metrics/daily?traceName=chat&userId=u1")
        .await;
    assert_eq!(body["meta"]["totalItems"], 1);
    assert_eq!(body["data"][0]["countTraces"], 1);
    assert_eq!(body["data"][0]["countObservations"], 2);
    let (_, body) = app
        .get("/api/public/metrics/daily?fromTimestamp=2024-05-02T00:00:00Z")
        .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["date"], "2024-05-03");
    let (_, body) = app.get("/api/public/metrics/daily?tags=a").await;
    assert_eq!(body["data"][0]["countTraces"], 1);
    let (_, body) = app.get("/api/public/metrics/daily?limit=1&page=2").await;
    assert_eq!(body["data"][0]["date"], "2024-05-01");
    assert_eq!(body["meta"]["totalPages"], 2);
    assert_eq!(app.get("/api/public/metrics/daily?limit=0").await.0, 400);

    let (_, auth) = second_project(&app).await;
    let (_, other) = app
        .send("GET", "/api/public/metrics/daily", Some(&auth), None)
        .await;
    assert_eq!(other["data"], json!([]));
    assert_eq!(other["meta"]["totalPages"], 0);
}
