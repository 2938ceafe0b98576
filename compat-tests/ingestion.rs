//! `POST /api/public/ingestion`, the legacy single-entity routes, `POST /api/public/scores`
//! and the seed's `/v1/l/batch`. Stored rows are read with SQL from the test database
//! (the read API is another slice); a 207 implies the rows are committed.

use std::io::Write;

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

async fn db(app: &TestApp) -> PgPool {
    PgPool::connect(&app.database_url)
        .await
        .expect("test database is reachable")
}

/// One row of `table` as JSON (without the volatile `created_at`/`updated_at`).
async fn row(pool: &PgPool, table: &str, project: &str, id: &str) -> Option<Value> {
    sqlx::query_scalar::<_, Value>(&format!(
        "select to_jsonb(t) - 'created_at' - 'updated_at' from {table} t \
         where project_id = $1 and id = $2"
    ))
    .bind(project)
    .bind(id)
    .fetch_optional(pool)
    .await
    .expect("query runs")
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .expect("count runs")
}

fn ev(id: &str, ty: &str, ts: &str, body: Value) -> Value {
    json!({"id": id, "type": ty, "timestamp": ts, "body": body})
}

async fn ingest(app: &TestApp, batch: Vec<Value>) -> (u16, Value) {
    app.post(
        "/api/public/ingestion",
        &json!({"batch": batch, "metadata": {"sdk_name": "test"}}),
    )
    .await
}

fn success_ids(body: &Value) -> Vec<String> {
    body["successes"]
        .as_array()
        .expect("successes array")
        .iter()
        .map(|s| {
            assert_eq!(s["status"], 201, "{s}");
            s["id"].as_str().unwrap().to_string()
        })
        .collect()
}

const T0: &str = "2024-05-01T12:00:00.000Z";
const T1: &str = "2024-05-01T12:00:01.000Z";
const T2: &str = "2024-05-01T12:00:02.000Z";
const T3: &str = "2024-05-01T12:00:03.000Z";

#[tokio::test]
async fn every_event_type_is_stored_with_its_observation_type() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    let creates = [
        ("span-create", "SPAN"),
        ("generation-create", "GENERATION"),
        ("event-create", "EVENT"),
        ("agent-create", "AGENT"),
        ("tool-create", "TOOL"),
        ("chain-create", "CHAIN"),
        ("retriever-create", "RETRIEVER"),
        ("evaluator-create", "EVALUATOR"),
        ("embedding-create", "EMBEDDING"),
        ("guardrail-create", "GUARDRAIL"),
    ];
    let mut batch = vec![ev(
        "e-trace",
        "trace-create",
        T0,
        json!({"id": "t1", "name": "trace"}),
    )];
    for (i, (ty, _)) in creates.iter().enumerate() {
        batch.push(ev(
            &format!("e{i}"),
            ty,
            T0,
            json!({"id": format!("o{i}"), "traceId": "t1"}),
        ));
    }
    batch.extend([
        ev(
            "u-span",
            "span-update",
            T1,
            json!({"id": "o0", "name": "span updated"}),
        ),
        ev(
            "u-gen",
            "generation-update",
            T1,
            json!({"id": "o1", "model": "gpt-4o"}),
        ),
        ev(
            "legacy-c",
            "observation-create",
            T0,
            json!({"id": "legacy", "type": "EVENT", "traceId": "t1"}),
        ),
        ev(
            "legacy-u",
            "observation-update",
            T1,
            json!({"id": "legacy", "type": "EVENT", "name": "l"}),
        ),
        ev(
            "score",
            "score-create",
            T0,
            json!({"id": "s1", "traceId": "t1", "name": "q", "value": 0.5}),
        ),
        ev("log", "sdk-log", T0, json!({"log": {"message": "hello"}})),
    ]);
    let ids: Vec<String> = batch
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let (status, body) = ingest(&app, batch).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["errors"], json!([]), "{body}");
    assert_eq!(
        success_ids(&body),
        ids,
        "every envelope is a success, in order"
    );

    let trace = row(&pool, "traces", "default", "t1")
        .await
        .expect("trace stored");
    assert_eq!(trace["name"], "trace");
    for (i, (_, kind)) in creates.iter().enumerate() {
        let o = row(&pool, "observations", "default", &format!("o{i}"))
            .await
            .expect(kind);
        assert_eq!(o["type"], *kind);
        assert_eq!(o["trace_id"], "t1");
    }
    let o0 = row(&pool, "observations", "default", "o0").await.unwrap();
    assert_eq!(o0["name"], "span updated");
    let o1 = row(&pool, "observations", "default", "o1").await.unwrap();
    assert_eq!(o1["model"], "gpt-4o");
    let legacy = row(&pool, "observations", "default", "legacy")
        .await
        .unwrap();
    assert_eq!(
        (legacy["type"].clone(), legacy["name"].clone()),
        (json!("EVENT"), json!("l"))
    );
    let score = row(&pool, "scores", "default", "s1")
        .await
        .expect("score stored");
    assert_eq!(
        (score["value"].as_f64(), score["data_type"].clone()),
        (Some(0.5), json!("NUMERIC"))
    );
    assert_eq!(score["source"], "API");
    assert_eq!(count(&pool, "select count(*) from observations").await, 11);
}

#[tokio::test]
async fn bad_events_get_400_entries_while_the_rest_of_the_batch_is_stored() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    let bad = [
        (
            json!({"type": "trace-create", "timestamp": T0, "body": {"id": "x"}}),
            "unknown",
            "missing envelope id",
        ),
        (
            ev(
                "naive-ts",
                "trace-create",
                "2024-05-01T12:00:00",
                json!({"id": "x"}),
            ),
            "naive-ts",
            "timestamp without offset",
        ),
        (
            ev("bad-type", "trace-update", T0, json!({"id": "x"})),
            "bad-type",
            "unknown type",
        ),
        (
            ev("no-obs-id", "span-create", T0, json!({"traceId": "t"})),
            "no-obs-id",
            "observation without id",
        ),
        (
            ev("long-id", "span-create", T0, json!({"id": "x".repeat(801)})),
            "long-id",
            "id over 800 characters",
        ),
        (
            ev(
                "prompt",
                "generation-create",
                T0,
                json!({"id": "g", "promptName": "p"}),
            ),
            "prompt",
            "promptName without promptVersion",
        ),
        (
            ev(
                "score-target",
                "score-create",
                T0,
                json!({"name": "n", "value": 1, "traceId": "t", "sessionId": "s"}),
            ),
            "score-target",
            "two score targets",
        ),
        (
            ev(
                "score-bool",
                "score-create",
                T0,
                json!({"name": "n", "value": 3, "traceId": "t", "dataType": "BOOLEAN"}),
            ),
            "score-bool",
            "boolean score of 3",
        ),
        (
            ev(
                "level",
                "span-create",
                T0,
                json!({"id": "s", "level": "FATAL"}),
            ),
            "level",
            "unknown level",
        ),
    ];
    let mut batch: Vec<Value> = bad.iter().map(|b| b.0.clone()).collect();
    batch.push(ev("good", "trace-create", T0, json!({"id": "good-trace"})));
    let (status, body) = ingest(&app, batch).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(success_ids(&body), ["good"]);
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), bad.len(), "{body}");
    for ((_, id, why), e) in bad.iter().zip(errors) {
        assert_eq!(e["id"], *id, "{why}: {e}");
        assert_eq!(e["status"], 400, "{why}: {e}");
        assert_eq!(e["message"], "Invalid request data", "{why}: {e}");
        assert!(
            e["error"].as_str().is_some_and(|s| !s.is_empty()),
            "{why}: {e}"
        );
    }
    assert!(row(&pool, "traces", "default", "good-trace")
        .await
        .is_some());
    assert_eq!(count(&pool, "select count(*) from traces").await, 1);
    assert_eq!(count(&pool, "select count(*) from observations").await, 0);
}

#[tokio::test]
async fn bodies_without_ids_succeed_but_store_nothing_and_observations_get_a_trace_id() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    let (status, body) = ingest(
        &app,
        vec![
            ev("a", "trace-create", T0, json!({"name": "no id"})),
            ev(
                "b",
                "score-create",
                T0,
                json!({"name": "n", "value": 1, "traceId": "t"}),
            ),
            ev("c", "span-create", T0, json!({"id": "orphan"})),
        ],
    )
    .await;
    assert_eq!(status, 207);
    assert_eq!(success_ids(&body), ["a", "b", "c"]);
    assert_eq!(
        count(&pool, "select count(*) from traces").await,
        0,
        "no implicit trace"
    );
    assert_eq!(count(&pool, "select count(*) from scores").await, 0);
    let o = row(&pool, "observations", "default", "orphan")
        .await
        .unwrap();
    let trace_id = o["trace_id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(trace_id).is_ok(), "{trace_id}");
    assert_eq!(
        o["start_time"], "2024-05-01T12:00:00+00:00",
        "start time from the envelope"
    );
}

#[tokio::test]
async fn envelope_problems_get_langfuse_400_bodies() {
    let app = spawn_app().await;
    for (body, why) in [
        (json!({"batch": "nope"}), "batch is a string"),
        (json!({"metadata": {}}), "batch missing"),
        (json!([1, 2]), "body is an array"),
    ] {
        let (status, res) = app.post("/api/public/ingestion", &body).await;
        assert_eq!(status, 400, "{why}: {res}");
        assert_eq!(res["message"], "Invalid request data", "{why}");
        assert!(
            res["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "{why}: {res}"
        );
    }
    let res = app
        .client
        .post(app.url("/api/public/ingestion"))
        .header("Authorization", app.basic_auth())
        .header("Content-Type", "application/json")
        .body("{\"batch\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res: Value = res.json().await.unwrap();
    assert_eq!(res["message"], "Invalid request data");
    assert!(res["errors"].is_array());

    let (status, res) = app
        .post("/api/public/ingestion", &json!({"batch": []}))
        .await;
    assert_eq!((status, res), (207, json!({"successes": [], "errors": []})));
}

#[tokio::test]
async fn missing_or_wrong_credentials_get_401_with_the_error_key() {
    let app = spawn_app().await;
    let body = json!({"batch": []});
    let (status, res) = app
        .send("POST", "/api/public/ingestion", None, Some(&body))
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        res,
        json!({"message": "No authorization header", "error": "UnauthorizedError"})
    );
    let wrong = basic(&app.public_key, "sk-wrong");
    let (status, res) = app
        .send("POST", "/api/public/ingestion", Some(&wrong), Some(&body))
        .await;
    assert_eq!(status, 401);
    assert_eq!(res["error"], "UnauthorizedError");
}

#[tokio::test]
async fn a_public_key_alone_may_only_send_scores_and_logs() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    let bearer = format!("Bearer {}", app.public_key);
    let body = json!({"batch": [
        ev("t", "trace-create", T0, json!({"id": "t"})),
        ev("s", "score-create", T0, json!({"id": "s", "name": "n", "value": 1, "traceId": "t"})),
        ev("l", "sdk-log", T0, json!({"log": "x"})),
        ev("g", "generation-create", T0, json!({"id": "g"})),
    ]});
    let (status, res) = app
        .send("POST", "/api/public/ingestion", Some(&bearer), Some(&body))
        .await;
    assert_eq!(status, 207, "{res}");
    assert_eq!(success_ids(&res), ["s", "l"]);
    let denied =
        json!({"status": 401, "message": "Authentication error", "error": "Access Scope Denied"});
    for (e, id) in res["errors"].as_array().unwrap().iter().zip(["t", "g"]) {
        let mut expected = denied.clone();
        expected["id"] = json!(id);
        assert_eq!(*e, expected);
    }
    assert!(row(&pool, "scores", "default", "s").await.is_some());
    assert_eq!(count(&pool, "select count(*) from traces").await, 0);
    assert_eq!(count(&pool, "select count(*) from observations").await, 0);
}

#[tokio::test]
async fn gzip_bodies_are_accepted() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    let body =
        json!({"batch": [ev("e", "trace-create", T0, json!({"id": "gz", "name": "zipped"}))]});
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(body.to_string().as_bytes()).unwrap();
    let res = app
        .client
        .post(app.url("/api/public/ingestion"))
        .header("Authorization", app.basic_auth())
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(enc.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 207);
    let res: Value = res.json().await.unwrap();
    assert_eq!(success_ids(&res), ["e"]);
    assert_eq!(
        row(&pool, "traces", "default", "gz").await.unwrap()["name"],
        "zipped"
    );
}

#[tokio::test]
async fn a_body_over_4_5_mb_is_accepted_and_one_over_the_limit_is_413() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    let big = "x".repeat(1_000_000);
    let batch: Vec<Value> = (0..5)
        .map(|i| {
            ev(
                &format!("e{i}"),
                "span-create",
                T0,
                json!({"id": format!("big{i}"), "input": big}),
            )
        })
        .collect();
    let body = json!({"batch": batch});
    assert!(body.to_string().len() > 4_500_000);
    let (status, res) = app.post("/api/public/ingestion", &body).await;
    assert_eq!(status, 207);
    assert_eq!(success_ids(&res).len(), 5);
    let stored = row(&pool, "observations", "default", "big4").await.unwrap();
    assert_eq!(stored["input"].as_str().unwrap().len(), 1_000_000);

    let small = spawn_app_with(&[("XTRACE_MAX_BODY_BYTES", "1000")]).await;
    let (status, res) = small.post("/api/public/ingestion", &body).await;
    assert_eq!(status, 413, "{res}");
}

#[tokio::test]
async fn events_fold_in_timestamp_order_across_batches_whatever_the_arrival_order() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    // Batch 1 carries the later update; batch 2 the create; batch 3 an update stamped
    // between them, sent last.
    let b1 = vec![ev(
        "u2",
        "generation-update",
        T3,
        json!({
        "id": "g", "traceId": "t-late", "startTime": T3, "name": "final", "output": "answer",
        "endTime": T3, "metadata": {"b": 2, "nested": {"y": 2}}, "environment": "other"}),
    )];
    let b2 = vec![ev(
        "c",
        "generation-create",
        T1,
        json!({
        "id": "g", "traceId": "t", "startTime": T1, "name": "first", "input": {"q": 1},
        "output": "draft", "model": "m1", "metadata": {"a": 1, "nested": {"x": 1}},
        "environment": "prod", "level": "WARNING"}),
    )];
    let b3 = vec![ev(
        "u1",
        "generation-update",
        T2,
        json!({
        "id": "g", "name": "middle", "input": "", "output": 0, "model": "m2",
        "metadata": {"a": 3}, "statusMessage": "mid"}),
    )];
    for b in [b1, b2, b3] {
        let (status, res) = ingest(&app, b).await;
        assert_eq!((status, res["errors"].clone()), (207, json!([])));
    }
    let g = row(&pool, "observations", "default", "g").await.unwrap();
    assert_eq!(
        g["name"], "final",
        "the latest timestamp wins, not the latest arrival"
    );
    assert_eq!(g["model"], "m2");
    assert_eq!(g["trace_id"], "t", "trace id is immutable: the create's");
    assert_eq!(
        g["start_time"], "2024-05-01T12:00:01+00:00",
        "start time: the create's"
    );
    assert_eq!(g["environment"], "prod");
    assert_eq!(
        g["input"],
        json!({"q": 1}),
        "empty string does not replace input"
    );
    assert_eq!(g["output"], "answer");
    assert_eq!(g["level"], "WARNING");
    assert_eq!(g["status_message"], "mid");
    assert_eq!(g["end_time"], "2024-05-01T12:00:03+00:00");
    assert_eq!(
        g["metadata"],
        json!({"a": 3, "b": 2, "nested": {"x": 1, "y": 2}})
    );
    assert_eq!(g["type"], "GENERATION");
}

#[tokio::test]
async fn traces_union_tags_and_metadata_keep_immutables_and_open_sessions() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    let (s, _) = ingest(
        &app,
        vec![ev(
            "t2",
            "trace-create",
            T2,
            json!({
        "id": "t", "tags": ["b", "a"], "metadata": {"k2": "v2"}, "public": true,
        "timestamp": T3, "environment": "staging", "name": "renamed", "sessionId": "sess"}),
        )],
    )
    .await;
    assert_eq!(s, 207);
    let (s, _) = ingest(
        &app,
        vec![ev(
            "t1",
            "trace-create",
            T1,
            json!({
        "id": "t", "tags": ["c", "a"], "metadata": {"k1": "v1", "k2": "old"},
        "timestamp": T0, "environment": "Production", "name": "original", "input": "hi",
        "userId": "u1"}),
        )],
    )
    .await;
    assert_eq!(s, 207);
    let (s, _) = ingest(
        &app,
        vec![ev(
            "t3",
            "trace-create",
            T3,
            json!({
        "id": "t", "tags": ["a"], "input": "", "output": {"done": true}}),
        )],
    )
    .await;
    assert_eq!(s, 207);
    let t = row(&pool, "traces", "default", "t").await.unwrap();
    assert_eq!(t["tags"], json!(["a", "b", "c"]));
    assert_eq!(t["metadata"], json!({"k1": "v1", "k2": "v2"}));
    assert_eq!(
        t["timestamp"], "2024-05-01T12:00:00+00:00",
        "first event's timestamp"
    );
    assert_eq!(t["environment"], "production", "first event's, normalised");
    assert_eq!(t["name"], "renamed");
    assert_eq!(t["user_id"], "u1");
    assert_eq!(t["input"], "hi");
    assert_eq!(t["output"], json!({"done": true}));
    assert_eq!(t["public"], true, "absent public keeps the earlier value");
    // The session row is written once, when a merged trace first carried the session,
    // and never updated (as Langfuse): it keeps that moment's environment.
    let session = row(&pool, "sessions", "default", "sess")
        .await
        .expect("session row");
    assert_eq!(session["environment"], "staging");
}

#[tokio::test]
async fn re_delivered_batches_change_nothing() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    let batch = vec![
        ev(
            "e1",
            "trace-create",
            T0,
            json!({"id": "t", "name": "n", "tags": ["x"]}),
        ),
        ev(
            "e2",
            "generation-create",
            T0,
            json!({"id": "g", "traceId": "t",
            "usageDetails": {"input": 10, "output": 5}, "costDetails": {"input": 0.1}}),
        ),
        ev(
            "e3",
            "generation-update",
            T1,
            json!({"id": "g", "output": "o"}),
        ),
        ev(
            "e4",
            "score-create",
            T1,
            json!({"id": "s", "traceId": "t", "name": "q", "value": 1}),
        ),
        ev("e5", "span-create", T0, json!({"id": "orphan"})),
    ];
    let (s, _) = ingest(&app, batch.clone()).await;
    assert_eq!(s, 207);
    let snapshot = |pool: PgPool| async move {
        let mut out = Vec::new();
        for (table, id) in [
            ("traces", "t"),
            ("observations", "g"),
            ("observations", "orphan"),
            ("scores", "s"),
        ] {
            out.push(row(&pool, table, "default", id).await.expect(table));
        }
        out
    };
    let before = snapshot(pool.clone()).await;
    let events_before = count(&pool, "select count(*) from ingest_events").await;
    let (s, res) = ingest(&app, batch).await;
    assert_eq!((s, res["errors"].clone()), (207, json!([])));
    assert_eq!(snapshot(pool.clone()).await, before);
    assert_eq!(
        count(&pool, "select count(*) from ingest_events").await,
        events_before
    );
    assert_eq!(count(&pool, "select count(*) from observations").await, 2);
    assert_eq!(count(&pool, "select count(*) from scores").await, 1);
    assert_eq!(
        before[1]["usage_details"]["input"], 10.0,
        "usage reaches the row"
    );
}

#[tokio::test]
async fn another_projects_key_cannot_touch_these_rows() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    let admin = app.bearer_auth();
    let (s, p) = app
        .send(
            "POST",
            "/api/public/projects",
            Some(&admin),
            Some(&json!({"name": "other", "retention": 0})),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let project_b = p["id"].as_str().unwrap().to_string();
    let (s, k) = app
        .send(
            "POST",
            &format!("/api/public/projects/{project_b}/apiKeys"),
            Some(&admin),
            Some(&json!({})),
        )
        .await;
    assert!(s == 200 || s == 201, "{k}");
    let b_auth = basic(
        k["publicKey"].as_str().unwrap(),
        k["secretKey"].as_str().unwrap(),
    );

    let (s, _) = ingest(
        &app,
        vec![
            ev(
                "a1",
                "trace-create",
                T0,
                json!({"id": "shared", "name": "A"}),
            ),
            ev(
                "a2",
                "span-create",
                T0,
                json!({"id": "obs", "traceId": "shared", "name": "A span"}),
            ),
        ],
    )
    .await;
    assert_eq!(s, 207);
    let body = json!({"batch": [
        ev("b1", "trace-create", T1, json!({"id": "shared", "name": "B", "tags": ["b"]})),
        ev("b2", "span-update", T1, json!({"id": "obs", "name": "B span"})),
    ]});
    let (s, res) = app
        .send("POST", "/api/public/ingestion", Some(&b_auth), Some(&body))
        .await;
    assert_eq!((s, res["errors"].clone()), (207, json!([])));

    let a = row(&pool, "traces", "default", "shared").await.unwrap();
    assert_eq!(
        (a["name"].clone(), a["tags"].clone()),
        (json!("A"), json!([]))
    );
    assert_eq!(
        row(&pool, "observations", "default", "obs").await.unwrap()["name"],
        "A span"
    );
    let b = row(&pool, "traces", &project_b, "shared")
        .await
        .expect("B has its own trace");
    assert_eq!(b["name"], "B");
    let b_obs = row(&pool, "observations", &project_b, "obs")
        .await
        .expect("B's own observation");
    assert_ne!(
        b_obs["trace_id"], "shared",
        "B's update never saw A's create"
    );
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after() {
    let app = spawn_app_with(&[
        ("XTRACE_INGEST_QUEUE", "1"),
        ("XTRACE_INGEST_WORKERS", "1"),
        ("XTRACE_INGEST_MAX_BATCH", "1"),
        ("XTRACE_INGEST_MAX_DELAY_MS", "0"),
    ])
    .await;
    let pool = db(&app).await;
    // Block the worker on its trace upsert, so the queue stays full.
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("lock table traces in access exclusive mode")
        .execute(&mut *lock)
        .await
        .unwrap();
    let send = |i: usize| {
        let client = app.client.clone();
        let url = app.url("/api/public/ingestion");
        let auth = app.basic_auth();
        async move {
            let body = json!({"batch": [ev(&format!("e{i}"), "trace-create", T0, json!({"id": format!("t{i}")}))]});
            client
                .post(url)
                .header("Authorization", auth)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let first = tokio::spawn(send(0));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // the worker holds it
    let second = tokio::spawn(send(1));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // it sits in the queue
    let third = send(2).await;
    assert_eq!(third.status(), 503);
    assert!(third.headers().get("retry-after").is_some());
    let body: Value = third.json().await.unwrap();
    assert_eq!(body["message"], "Service Unavailable");
    lock.rollback().await.unwrap();
    assert_eq!(first.await.unwrap().status(), 207);
    assert_eq!(second.await.unwrap().status(), 207);
    assert_eq!(count(&pool, "select count(*) from traces").await, 2);
}

#[tokio::test]
async fn a_request_the_database_refuses_fails_alone() {
    let app = spawn_app_with(&[("XTRACE_INGEST_MAX_DELAY_MS", "400")]).await;
    let pool = db(&app).await;
    sqlx::query(
        "alter table traces add constraint test_poison check (name is distinct from 'poison')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for i in 0..4 {
        let name = if i == 2 { "poison" } else { "fine" };
        let client = app.client.clone();
        let url = app.url("/api/public/ingestion");
        let auth = app.basic_auth();
        tasks.push(tokio::spawn(async move {
            let body = json!({"batch": [ev(&format!("e{i}"), "trace-create", T0, json!({"id": format!("t{i}"), "name": name}))]});
            let res = client.post(url).header("Authorization", auth).json(&body).send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 207, "{body}");
        if i == 2 {
            assert_eq!(body["successes"], json!([]));
            assert_eq!(
                body["errors"],
                json!([{"id": "e2", "status": 500, "error": "Internal Server Error"}])
            );
        } else {
            assert_eq!(success_ids(&body), [format!("e{i}")]);
        }
    }
    assert_eq!(count(&pool, "select count(*) from traces").await, 3);
    assert!(row(&pool, "traces", "default", "t2").await.is_none());
}

#[tokio::test]
async fn legacy_single_entity_routes_write_through_the_pipeline() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    let (s, t) = app
        .post("/api/public/traces", &json!({"name": "legacy"}))
        .await;
    assert_eq!(s, 200, "{t}");
    let trace_id = t["id"].as_str().unwrap().to_string();
    assert_eq!(
        row(&pool, "traces", "default", &trace_id).await.unwrap()["name"],
        "legacy"
    );

    let (s, sp) = app
        .post(
            "/api/public/spans",
            &json!({"traceId": trace_id, "name": "span", "startTime": T0}),
        )
        .await;
    assert_eq!(s, 200, "{sp}");
    let span_id = sp["id"].as_str().unwrap().to_string();
    let (s, _) = app
        .send(
            "PATCH",
            "/api/public/spans",
            Some(&app.basic_auth()),
            Some(&json!({"spanId": span_id, "endTime": T1})),
        )
        .await;
    assert_eq!(s, 200);
    let span = row(&pool, "observations", "default", &span_id)
        .await
        .unwrap();
    assert_eq!(
        (span["type"].clone(), span["end_time"].clone()),
        (json!("SPAN"), json!("2024-05-01T12:00:01+00:00"))
    );

    let (s, g) = app
        .post(
            "/api/public/generations",
            &json!({"id": "gen", "traceId": trace_id, "prompt": "p", "completion": "c"}),
        )
        .await;
    assert_eq!((s, g.clone()), (200, json!({"id": "gen"})));
    let (s, _) = app
        .send(
            "PATCH",
            "/api/public/generations",
            Some(&app.basic_auth()),
            Some(&json!({"generationId": "gen", "completion": "c2", "model": "m"})),
        )
        .await;
    assert_eq!(s, 200);
    let gen = row(&pool, "observations", "default", "gen").await.unwrap();
    assert_eq!(
        (
            gen["input"].clone(),
            gen["output"].clone(),
            gen["model"].clone()
        ),
        (json!("p"), json!("c2"), json!("m"))
    );

    let (s, e) = app
        .post(
            "/api/public/events",
            &json!({"traceId": trace_id, "name": "ev"}),
        )
        .await;
    assert_eq!(s, 200);
    let event = row(&pool, "observations", "default", e["id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(event["type"], "EVENT");

    let (s, err) = app
        .send(
            "PATCH",
            "/api/public/spans",
            Some(&app.basic_auth()),
            Some(&json!({"name": "no id"})),
        )
        .await;
    assert_eq!(s, 400, "{err}");
    assert_eq!(err["message"], "Invalid request data");
    let (s, _) = app
        .post(
            "/api/public/spans",
            &json!({"id": "s", "startTime": "yesterday"}),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = app
        .send(
            "POST",
            "/api/public/traces",
            Some(&format!("Bearer {}", app.public_key)),
            Some(&json!({})),
        )
        .await;
    assert_eq!(s, 403, "a public key alone cannot write traces");
}

#[tokio::test]
async fn post_scores_creates_a_score_and_validates_it() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    let (s, r) = app
        .post(
            "/api/public/scores",
            &json!({"traceId": "t", "name": "q", "value": 1, "dataType": "BOOLEAN"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let id = r["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    let score = row(&pool, "scores", "default", id).await.unwrap();
    assert_eq!(
        (score["value"].as_f64(), score["string_value"].clone()),
        (Some(1.0), json!("True"))
    );

    let (s, r) = app
        .send("POST", "/api/public/scores", Some(&format!("Bearer {}", app.public_key)),
            Some(&json!({"id": "", "sessionId": "sess", "name": "c", "value": "good", "comment": "ok"})))
        .await;
    assert_eq!(s, 200, "a public key alone may create scores: {r}");
    let score = row(&pool, "scores", "default", r["id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (score["data_type"].clone(), score["string_value"].clone()),
        (json!("CATEGORICAL"), json!("good"))
    );
    assert_eq!(score["session_id"], "sess");

    for (body, why) in [
        (json!({"traceId": "t", "value": 1}), "missing name"),
        (json!({"name": "n", "value": 1}), "no target"),
        (
            json!({"name": "n", "traceId": "t", "value": 1, "source": "EVAL"}),
            "EVAL source",
        ),
        (
            json!({"name": "n", "traceId": "t", "value": "x", "dataType": "NUMERIC"}),
            "string numeric",
        ),
        (
            json!({"name": "n", "observationId": "o", "sessionId": "s", "value": 1}),
            "observation without trace",
        ),
    ] {
        let (s, r) = app.post("/api/public/scores", &body).await;
        assert_eq!(s, 400, "{why}: {r}");
        assert_eq!(r["message"], "Invalid request data", "{why}");
        assert!(r["error"].is_array(), "{why}: {r}");
    }
    assert_eq!(count(&pool, "select count(*) from scores").await, 2);
}

#[tokio::test]
async fn the_seed_batch_format_is_stored_through_the_same_pipeline() {
    let app = spawn_app().await;
    let pool = db(&app).await;
    let body = json!({
        "trace": {"id": "00000000-0000-0000-0000-000000000000", "timestamp": "2026-01-01T00:00:00Z",
                  "name": "chat", "userId": "alice", "tags": ["prod"]},
        "observations": [
            {"id": "00000000-0000-0000-0000-000000000001", "traceId": "00000000-0000-0000-0000-000000000000",
             "type": "GENERATION", "name": "llm", "startTime": "2026-01-01T00:00:00Z",
             "endTime": "2026-01-01T00:00:01Z", "model": "gpt-4o-mini",
             "input": {"role": "user", "content": "hi"}, "output": {"role": "assistant", "content": "hello"},
             "promptName": "p", "promptVersion": "3"},
            {"id": "obs-2", "traceId": "other-trace", "type": "SPAN", "startTime": "2026-01-01T00:00:05Z"}
        ]
    });
    let (s, r) = app
        .send("POST", "/v1/l/batch", Some(&app.bearer_auth()), Some(&body))
        .await;
    assert_eq!((s, r), (200, json!({"message": "Request Successful."})));
    let t = row(
        &pool,
        "traces",
        "default",
        "00000000-0000-0000-0000-000000000000",
    )
    .await
    .unwrap();
    assert_eq!(
        (t["name"].clone(), t["user_id"].clone(), t["tags"].clone()),
        (json!("chat"), json!("alice"), json!(["prod"]))
    );
    let g = row(
        &pool,
        "observations",
        "default",
        "00000000-0000-0000-0000-000000000001",
    )
    .await
    .unwrap();
    assert_eq!(
        (
            g["type"].clone(),
            g["model"].clone(),
            g["prompt_version"].clone()
        ),
        (json!("GENERATION"), json!("gpt-4o-mini"), json!(3))
    );
    let implied = row(&pool, "traces", "default", "other-trace")
        .await
        .expect("the seed created traces for observations");
    assert_eq!(implied["timestamp"], "2026-01-01T00:00:05+00:00");

    let (s, r) = app
        .send(
            "POST",
            "/v1/l/batch",
            Some(&app.basic_auth()),
            Some(&json!({"observations": [{"id": "x", "type": "NOPE"}]})),
        )
        .await;
    assert_eq!(s, 400, "{r}");
    assert_eq!(r["error"][0]["path"], json!(["observations", 0, "type"]));
    let (s, _) = app.send("POST", "/v1/l/batch", None, Some(&body)).await;
    assert_eq!(s, 401);
}
