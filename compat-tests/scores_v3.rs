//! `GET /api/public/v3/scores`: polymorphic values, field groups, filters, cursor pages
//! and Langfuse's 400s.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::seed::*;

async fn seed_scores(seed: &Seed) {
    seed.trace("t1", "2024-05-01T10:00:00.000Z", json!({}))
        .await;
    seed.score(
        "n1",
        "accuracy",
        "NUMERIC",
        "2024-05-01T10:00:01.000Z",
        json!({"value": 0.5, "trace_id": "t1", "observation_id": "o1", "comment": "ok",
            "metadata": {"k": "v"}, "config_id": "c1", "environment": "prod"}),
    )
    .await;
    seed.score(
        "b1",
        "correct",
        "BOOLEAN",
        "2024-05-01T10:00:02.000Z",
        json!({"value": 1, "string_value": "True", "trace_id": "t1", "source": "EVAL"}),
    )
    .await;
    seed.score(
        "c1",
        "tone",
        "CATEGORICAL",
        "2024-05-01T10:00:03.000Z",
        json!({"value": 2, "string_value": "friendly", "session_id": "sess",
            "source": "ANNOTATION", "queue_id": "q1", "author_user_id": "me"}),
    )
    .await;
    seed.score(
        "x1",
        "note",
        "TEXT",
        "2024-05-01T10:00:04.000Z",
        json!({"string_value": "free text", "dataset_run_id": "run-1"}),
    )
    .await;
    seed.score(
        "n2",
        "accuracy",
        "NUMERIC",
        "2024-05-01T10:00:05.000Z",
        json!({"value": 3, "trace_id": "t1"}),
    )
    .await;
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn v3_scores_have_polymorphic_values_and_field_groups() {
    let app = spawn_app().await;
    seed_scores(&Seed::new(&app).await).await;
    let (s, body) = app.get("/api/public/v3/scores").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(ids(&body), ["n2", "x1", "c1", "b1", "n1"]);
    assert_eq!(body["meta"], json!({"limit": 50}));
    let by_id = |id: &str| {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id("n1")["value"], json!(0.5));
    assert_eq!(by_id("b1")["value"], json!(true));
    assert_eq!(by_id("c1")["value"], json!("friendly"));
    assert_eq!(by_id("x1")["value"], json!("free text"));
    assert_eq!(
        keys(&by_id("n1")),
        [
            "createdAt",
            "dataType",
            "environment",
            "id",
            "name",
            "projectId",
            "source",
            "timestamp",
            "updatedAt",
            "value"
        ]
    );

    let (s, body) = app
        .get("/api/public/v3/scores?fields=details,subject,annotation")
        .await;
    assert_eq!(s, 200, "{body}");
    let n1 = &body["data"][4];
    assert_eq!(n1["comment"], "ok");
    assert_eq!(n1["configId"], "c1");
    assert_eq!(n1["metadata"], json!({"k": "v"}));
    assert_eq!(
        n1["subject"],
        json!({"kind": "observation", "id": "o1", "traceId": "t1"})
    );
    assert_eq!(
        body["data"][2]["subject"],
        json!({"kind": "session", "id": "sess"})
    );
    assert_eq!(body["data"][2]["authorUserId"], "me");
    assert_eq!(body["data"][2]["queueId"], "q1");
    assert_eq!(
        body["data"][1]["subject"],
        json!({"kind": "experiment", "id": "run-1"})
    );
    assert_eq!(
        body["data"][0]["subject"],
        json!({"kind": "trace", "id": "t1"})
    );
}

#[tokio::test]
async fn v3_scores_filter_and_page_by_cursor() {
    let app = spawn_app().await;
    seed_scores(&Seed::new(&app).await).await;
    let cases: &[(&str, &[&str])] = &[
        ("name=accuracy,tone", &["n2", "c1", "n1"]),
        ("source=eval,annotation", &["c1", "b1"]),
        ("dataType=numeric&valueMin=1", &["n2"]),
        ("dataType=NUMERIC&value=0.5,7", &["n1"]),
        ("dataType=BOOLEAN&value=true", &["b1"]),
        ("dataType=CATEGORICAL&value=friendly", &["c1"]),
        ("traceId=t1&observationId=o1", &["n1"]),
        ("sessionId=sess", &["c1"]),
        ("experimentId=run-1", &["x1"]),
        ("environment=prod", &["n1"]),
        ("queueId=q1&authorUserId=me", &["c1"]),
        ("id=b1,x1", &["x1", "b1"]),
        (
            "fromTimestamp=2024-05-01T10:00:02Z&toTimestamp=2024-05-01T10:00:04Z",
            &["c1", "b1"],
        ),
    ];
    for (query, want) in cases {
        let (s, body) = app.get(&format!("/api/public/v3/scores?{query}")).await;
        assert_eq!(s, 200, "{query}: {body}");
        assert_eq!(ids(&body), *want, "{query}");
    }

    // Cursor pages cover every score exactly once, newest first.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let path = match &cursor {
            Some(c) => format!("/api/public/v3/scores?limit=2&cursor={c}"),
            None => "/api/public/v3/scores?limit=2".to_string(),
        };
        let (s, body) = app.get(&path).await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["meta"]["limit"], 2);
        seen.extend(ids(&body));
        match body["meta"]["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ["n2", "x1", "c1", "b1", "n1"]);
}

#[tokio::test]
async fn v3_scores_reject_what_langfuse_rejects() {
    let app = spawn_app().await;
    for query in [
        "limit=101",
        "limit=0",
        "fields=trace",
        "userId=u1",
        "traceTags=a",
        "value=1",
        "dataType=NUMERIC,BOOLEAN&value=1",
        "dataType=TEXT&value=x",
        "dataType=BOOLEAN&value=yes",
        "dataType=NUMERIC&value=abc",
        "valueMin=1",
        "dataType=BOOLEAN&valueMax=1",
        "observationId=o1",
        "traceId=t1&sessionId=s",
        "sessionId=s&experimentId=e",
        "source=HUMAN",
        "dataType=FLOAT",
        "cursor=not-a-cursor",
        "fromTimestamp=yesterday",
    ] {
        let (s, body) = app.get(&format!("/api/public/v3/scores?{query}")).await;
        assert_eq!(s, 400, "{query}: {body}");
        assert!(body["message"].is_string(), "{query}: {body}");
    }
    let (s, _) = app
        .send("GET", "/api/public/v3/scores", Some("Basic bm86cGU="), None)
        .await;
    assert_eq!(s, 401);
}
