//! Score reads (v1, v2) and deletion.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::seed::*;

async fn seed_scores(seed: &Seed) {
    seed.trace(
        "t1",
        "2024-05-01T10:00:00.000Z",
        json!({"user_id": "u1", "tags": ["a", "b"],
        "session_id": "sess", "environment": "prod"}),
    )
    .await;
    seed.trace(
        "t2",
        "2024-05-01T10:00:00.000Z",
        json!({"user_id": "u2", "tags": ["a"]}),
    )
    .await;
    seed.score(
        "n1",
        "accuracy",
        "NUMERIC",
        "2024-05-01T10:00:01.000Z",
        json!({"value": 0.5, "trace_id": "t1", "observation_id": "o1", "comment": "ok",
            "metadata": {"k": "[1,2]"}, "config_id": "c1", "environment": "prod"}),
    )
    .await;
    seed.score(
        "b1",
        "correct",
        "BOOLEAN",
        "2024-05-01T10:00:02.000Z",
        json!({"value": 1, "string_value": "True", "trace_id": "t2", "source": "EVAL"}),
    )
    .await;
    seed.score(
        "c1",
        "tone",
        "CATEGORICAL",
        "2024-05-01T10:00:03.000Z",
        json!({"value": 2, "string_value": "friendly", "trace_id": "t1", "source": "ANNOTATION",
            "queue_id": "q1", "author_user_id": "me"}),
    )
    .await;
    seed.score(
        "x1",
        "note",
        "TEXT",
        "2024-05-01T10:00:04.000Z",
        json!({"string_value": "free text", "trace_id": "t2"}),
    )
    .await;
    seed.score(
        "s1",
        "session-score",
        "NUMERIC",
        "2024-05-01T10:00:05.000Z",
        json!({"value": 3, "session_id": "sess"}),
    )
    .await;
    seed.score(
        "r1",
        "run-score",
        "NUMERIC",
        "2024-05-01T10:00:06.000Z",
        json!({"value": 4, "dataset_run_id": "run1"}),
    )
    .await;
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn v1_scores_list_trace_scores_with_trace_attributes() {
    let app = spawn_app().await;
    seed_scores(&Seed::new(&app).await).await;
    let (status, body) = app.get("/api/public/scores").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        ids(&body),
        ["x1", "c1", "b1", "n1"],
        "trace scores only, newest first"
    );
    assert_eq!(
        body["meta"],
        json!({"page": 1, "limit": 50, "totalItems": 4, "totalPages": 1})
    );
    let n1 = &body["data"][3];
    assert_has_keys(
        n1,
        &[
            "id",
            "traceId",
            "name",
            "source",
            "timestamp",
            "createdAt",
            "updatedAt",
            "authorUserId",
            "comment",
            "metadata",
            "configId",
            "queueId",
            "environment",
            "value",
            "dataType",
            "observationId",
        ],
        "ScoreV1",
    );
    assert!(n1.get("sessionId").is_none(), "v1 has no sessionId");
    assert_eq!(n1["value"].as_f64(), Some(0.5));
    assert_eq!(n1["metadata"], json!({"k": [1, 2]}));
    assert_eq!(
        n1["trace"],
        json!({"userId": "u1", "tags": ["a", "b"], "environment": "prod"})
    );
    assert!(is_iso_ms_z(&n1["timestamp"]));
    let x1 = &body["data"][0];
    assert!(x1.get("value").is_none(), "TEXT scores have no value: {x1}");
    assert_eq!(x1["stringValue"], "free text");
    let b1 = &body["data"][2];
    assert_eq!(b1["value"], 1);
    assert_eq!(b1["stringValue"], "True");

    let (status, one) = app.get("/api/public/scores/c1").await;
    assert_eq!(status, 200);
    assert_eq!(one["stringValue"], "friendly");
    assert_eq!(one["value"], 2);
    assert!(one.get("trace").is_none());
    let (status, body) = app.get("/api/public/scores/s1").await;
    assert_eq!(status, 404, "v1 serves trace scores only: {body}");
    assert_eq!(body["error"], "LangfuseNotFoundError");
}

#[tokio::test]
async fn score_lists_apply_every_filter() {
    let app = spawn_app().await;
    seed_scores(&Seed::new(&app).await).await;
    let cases: &[(&str, &[&str])] = &[
        ("userId=u1", &["c1", "n1"]),
        ("name=accuracy", &["n1"]),
        (
            "fromTimestamp=2024-05-01T10:00:03Z",
            &["r1", "s1", "x1", "c1"],
        ),
        ("toTimestamp=2024-05-01T10:00:03Z", &["b1", "n1"]),
        ("source=EVAL", &["b1"]),
        ("operator=>=&value=2", &["r1", "s1", "c1"]),
        ("operator=<&value=1", &["n1"]),
        ("operator=!=&value=1", &["r1", "s1", "c1", "n1"]),
        ("scoreIds=n1,b1", &["b1", "n1"]),
        ("configId=c1", &["n1"]),
        ("queueId=q1", &["c1"]),
        ("dataType=TEXT", &["x1"]),
        ("traceTags=b", &["c1", "n1"]),
        ("traceTags=a&traceTags=b", &["c1", "n1"]),
        ("environment=prod", &["n1"]),
        ("sessionId=sess", &["s1"]),
        ("traceId=t2", &["x1", "b1"]),
        ("observationId=o1", &["n1"]),
        ("datasetRunId=run1", &["r1"]),
        ("limit=2&page=3", &["b1", "n1"]),
    ];
    for (q, expected) in cases {
        let (status, body) = app
            .get(&format!(
                "/api/public/v2/scores?{}",
                q.replace(">=", "%3E%3D")
                    .replace("<", "%3C")
                    .replace("!=", "%21%3D")
            ))
            .await;
        assert_eq!(status, 200, "{q}: {body}");
        assert_eq!(&ids(&body), expected, "{q}");
    }
    for q in [
        "dataType=BAD",
        "source=HUMAN",
        "operator=~&value=1",
        "value=abc",
        "limit=0",
        "fields=bogus",
    ] {
        let (status, body) = app.get(&format!("/api/public/v2/scores?{q}")).await;
        assert_eq!(status, 400, "{q}: {body}");
    }
}

#[tokio::test]
async fn v2_scores_include_all_kinds_and_null_trace() {
    let app = spawn_app().await;
    seed_scores(&Seed::new(&app).await).await;
    let (status, body) = app.get("/api/public/v2/scores").await;
    assert_eq!(status, 200);
    assert_eq!(body["meta"]["totalItems"], 6);
    let s1 = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "s1")
        .unwrap();
    assert_eq!(s1["sessionId"], "sess");
    assert_eq!(s1["traceId"], json!(null));
    assert_eq!(s1["datasetRunId"], json!(null));
    assert_eq!(s1["trace"], json!(null));
    let n1 = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "n1")
        .unwrap();
    assert_eq!(n1["trace"]["sessionId"], "sess");
    let (_, body) = app.get("/api/public/v2/scores?fields=score").await;
    assert!(body["data"][0].get("trace").is_none());
    let (status, one) = app.get("/api/public/v2/scores/r1").await;
    assert_eq!(status, 200);
    assert_eq!(one["datasetRunId"], "run1");
    assert_eq!(app.get("/api/public/v2/scores/missing").await.0, 404);
}

#[tokio::test]
async fn deleting_a_score_is_202_and_scoped_to_the_project() {
    let app = spawn_app().await;
    let seed = Seed::new(&app).await;
    seed_scores(&seed).await;
    let (pid, auth) = second_project(&app).await;
    seed.for_project(&pid)
        .score(
            "theirs",
            "n",
            "NUMERIC",
            "2024-05-01T10:00:00.000Z",
            json!({"value": 1}),
        )
        .await;

    let (status, body) = app
        .send(
            "DELETE",
            "/api/public/scores/n1",
            Some(&app.basic_auth()),
            None,
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(
        body,
        json!({"message": "Score deletion queued successfully"})
    );
    assert_eq!(app.get("/api/public/v2/scores/n1").await.0, 404);
    let (status, _) = app
        .send(
            "DELETE",
            "/api/public/scores/theirs",
            Some(&app.basic_auth()),
            None,
        )
        .await;
    assert_eq!(status, 404, "another project's score cannot be deleted");
    let (status, _) = app
        .send("GET", "/api/public/v2/scores/theirs", Some(&auth), None)
        .await;
    assert_eq!(status, 200);
}
