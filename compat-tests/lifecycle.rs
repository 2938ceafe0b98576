//! Write → read → delete → write again, through the public API only.

use crate::helpers::*;
use serde_json::{json, Value};

fn event(id: &str, kind: &str, ts: &str, body: Value) -> Value {
    json!({"id": id, "type": kind, "timestamp": ts, "body": body})
}

async fn ingest(app: &TestApp, batch: Vec<Value>) {
    let (status, body) = app
        .post("/api/public/ingestion", &json!({ "batch": batch }))
        .await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["errors"], json!([]), "{body}");
}

#[tokio::test]
async fn a_deleted_trace_does_not_come_back_with_its_old_fields_when_its_id_is_reused() {
    let app = spawn_app().await;
    let ts = "2026-01-01T00:00:00.000Z";
    ingest(
        &app,
        vec![
            event(
                "e1",
                "trace-create",
                ts,
                json!({"id": "t1", "name": "first", "userId": "alice", "tags": ["a"]}),
            ),
            event(
                "e2",
                "span-create",
                ts,
                json!({"id": "s1", "traceId": "t1", "name": "work"}),
            ),
            event(
                "e3",
                "score-create",
                ts,
                json!({"id": "sc1", "traceId": "t1", "name": "q", "value": 1}),
            ),
        ],
    )
    .await;
    let (status, trace) = app.get("/api/public/traces/t1").await;
    assert_eq!(status, 200, "{trace}");
    assert_eq!(trace["userId"], "alice");
    assert_eq!(trace["observations"].as_array().unwrap().len(), 1);
    assert_eq!(trace["scores"].as_array().unwrap().len(), 1);

    let (status, _) = app
        .send(
            "DELETE",
            "/api/public/traces/t1",
            Some(&app.basic_auth()),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.get("/api/public/traces/t1").await.0, 404);
    assert_eq!(app.get("/api/public/observations/s1").await.0, 404);

    ingest(
        &app,
        vec![event(
            "e4",
            "trace-create",
            ts,
            json!({"id": "t1", "name": "second"}),
        )],
    )
    .await;
    let (status, trace) = app.get("/api/public/traces/t1").await;
    assert_eq!(status, 200);
    assert_eq!(trace["name"], "second");
    assert_eq!(trace["userId"], Value::Null, "old fields are gone: {trace}");
    assert_eq!(trace["tags"], json!([]));
    assert_eq!(trace["observations"], json!([]));
    assert_eq!(trace["scores"], json!([]));
}

#[tokio::test]
async fn ingested_rows_are_readable_through_the_read_api_with_langfuse_shapes() {
    let app = spawn_app().await;
    ingest(
        &app,
        vec![
            event("e1", "trace-create", "2026-02-01T10:00:00.000Z",
                json!({"id": "tr", "name": "chat", "sessionId": "sess", "input": "{\"q\": 1}", "metadata": {"k": "v"}})),
            event("e2", "generation-create", "2026-02-01T10:00:00.000Z",
                json!({"id": "g", "traceId": "tr", "name": "llm", "model": "gpt-4o",
                       "startTime": "2026-02-01T10:00:00.000Z", "endTime": "2026-02-01T10:00:02.500Z",
                       "usageDetails": {"input": 100, "output": 20}})),
        ],
    )
    .await;
    let (status, list) = app.get("/api/public/traces?sessionId=sess").await;
    assert_eq!(status, 200);
    assert_eq!(
        list["meta"],
        json!({"page": 1, "limit": 50, "totalItems": 1, "totalPages": 1})
    );
    let t = &list["data"][0];
    assert_eq!(
        t["input"],
        json!({"q": 1}),
        "JSON-looking strings come back parsed"
    );
    assert_eq!(t["latency"].as_f64().unwrap(), 2.5);
    assert!(
        t["totalCost"].as_f64().unwrap() > 0.0,
        "gpt-4o is priced: {t}"
    );
    let (status, obs) = app.get("/api/public/observations/g").await;
    assert_eq!(status, 200);
    assert_eq!(obs["promptTokens"], 100);
    assert_eq!(obs["completionTokens"], 20);
    assert_eq!(obs["startTime"], "2026-02-01T10:00:00.000Z");
    let (status, session) = app.get("/api/public/sessions/sess").await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["traces"][0]["id"], "tr");
}

#[tokio::test]
async fn reads_are_not_rate_limited_by_default() {
    // Self-hosted Langfuse never answers 429: SDK read-back loops issue many reads in a row.
    let app = spawn_app().await;
    for i in 0..120 {
        let (status, body) = app.get("/api/public/observations?limit=1").await;
        assert_eq!(status, 200, "read {i}: {body}");
    }
}

#[tokio::test]
async fn read_routes_are_rate_limited_per_credential_with_retry_after() {
    let app = spawn_app_with(&[("RATE_LIMIT_QPS", "1"), ("RATE_LIMIT_BURST", "2")]).await;
    let mut statuses = vec![];
    for _ in 0..4 {
        statuses.push(app.get("/api/public/traces").await.0);
    }
    assert_eq!(&statuses[..2], &[200, 200]);
    assert_eq!(statuses[3], 429, "{statuses:?}");
    let res = app
        .client
        .get(app.url("/api/public/traces"))
        .header("Authorization", app.basic_auth())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["message"], "Rate limit exceeded");
    assert_eq!(body["code"], "rate_limited");
    // Another credential has its own bucket; writes and health are never limited.
    let (_, pk, sk) = create_project_with_key(&app, "second project").await;
    let (status, _) = app
        .send("GET", "/api/public/traces", Some(&basic(&pk, &sk)), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.send("GET", "/api/public/health", None, None).await.0,
        200
    );
    let (status, _) = app
        .post("/api/public/ingestion", &json!({"batch": []}))
        .await;
    assert_eq!(status, 207);
}

#[tokio::test]
async fn ingestion_and_prompt_routes_send_the_error_key_on_401() {
    let app = spawn_app().await;
    let (status, body) = app
        .send(
            "POST",
            "/api/public/ingestion",
            None,
            Some(&json!({"batch": []})),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"message": "No authorization header", "error": "UnauthorizedError"})
    );
    let (status, body) = app.send("GET", "/api/public/traces", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(body, json!({"message": "No authorization header"}));
}
