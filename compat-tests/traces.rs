//! `GET/DELETE /api/public/traces[/{traceId}]` against rows seeded through SQL.

use serde_json::json;

use crate::helpers::*;
use crate::seed::*;

const TRACE_KEYS: &[&str] = &[
    "bookmarked",
    "createdAt",
    "environment",
    "externalId",
    "htmlPath",
    "id",
    "input",
    "latency",
    "metadata",
    "name",
    "observations",
    "output",
    "projectId",
    "public",
    "release",
    "scores",
    "sessionId",
    "tags",
    "timestamp",
    "totalCost",
    "updatedAt",
    "userId",
    "version",
];

async fn seed_three(seed: &Seed) {
    seed.trace(
        "t1",
        "2024-05-01T10:00:00.000Z",
        json!({"name": "chat", "user_id": "u1",
        "session_id": "s1", "release": "r1", "version": "v1", "tags": ["a", "b"],
        "environment": "production", "input": "{\"q\":1}", "output": "plain text",
        "metadata": {"k": "123", "s": "hi"}}),
    )
    .await;
    seed.trace(
        "t2",
        "2024-05-01T11:00:00.000Z",
        json!({"name": "search", "user_id": "u2",
        "tags": ["a"], "environment": "staging"}),
    )
    .await;
    seed.trace(
        "t3",
        "2024-05-01T12:00:00.000Z",
        json!({"name": "chat", "user_id": "u1",
        "session_id": "s2", "tags": ["b"]}),
    )
    .await;
    // t1: observations spanning 10:00:00.000 .. 10:00:02.500 with costs 0.25 + 0.5.
    seed.observation(
        "o1",
        "t1",
        "SPAN",
        "2024-05-01T10:00:00.000Z",
        json!({"end_time": "2024-05-01T10:00:02.000Z"}),
    )
    .await;
    seed.observation(
        "o2",
        "t1",
        "GENERATION",
        "2024-05-01T10:00:01.000Z",
        json!({"end_time": "2024-05-01T10:00:02.500Z", "parent_observation_id": "o1",
            "model": "gpt-4o", "usage_details": {"input": 10, "output": 5, "total": 15},
            "cost_details": {"input": 0.125, "output": 0.125, "total": 0.25}}),
    )
    .await;
    seed.observation(
        "o3",
        "t1",
        "GENERATION",
        "2024-05-01T10:00:01.500Z",
        json!({"cost_details": {"total": 0.5}}),
    )
    .await;
    seed.score(
        "sc1",
        "quality",
        "NUMERIC",
        "2024-05-01T10:01:00.000Z",
        json!({"value": 0.9, "trace_id": "t1"}),
    )
    .await;
}

#[tokio::test]
async fn list_traces_has_the_sdk_shape_aggregates_and_exact_meta() {
    let app = spawn_app().await;
    let seed = Seed::new(&app).await;
    seed_three(&seed).await;

    let (status, body) = app.get("/api/public/traces").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["meta"],
        json!({"page": 1, "limit": 50, "totalItems": 3, "totalPages": 1})
    );
    let data = body["data"].as_array().unwrap();
    let ids: Vec<&str> = data.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["t3", "t2", "t1"], "default order is timestamp desc");
    for t in data {
        assert_eq!(keys(t), TRACE_KEYS, "exact key set");
        assert!(
            is_iso_ms_z(&t["timestamp"]) && is_iso_ms_z(&t["createdAt"]),
            "{t}"
        );
    }
    let t1 = &data[2];
    assert_eq!(t1["htmlPath"], "/project/default/traces/t1");
    assert_eq!(t1["timestamp"], "2024-05-01T10:00:00.000Z");
    assert_eq!(t1["observations"], json!(["o1", "o2", "o3"]));
    assert_eq!(t1["scores"], json!(["sc1"]));
    assert_eq!(t1["latency"].as_f64().unwrap(), 2.5);
    assert!((t1["totalCost"].as_f64().unwrap() - 0.75).abs() < 1e-9);
    assert_eq!(
        t1["input"],
        json!({"q": 1}),
        "JSON-looking strings come back parsed"
    );
    assert_eq!(t1["output"], "plain text");
    assert_eq!(t1["metadata"], json!({"k": 123, "s": "hi"}));
    assert_eq!(t1["externalId"], json!(null));
    let t2 = &data[1];
    assert_eq!(t2["observations"], json!([]));
    assert_eq!(t2["latency"].as_f64().unwrap(), 0.0);
    assert_eq!(t2["totalCost"].as_f64().unwrap(), 0.0);
    assert_eq!(t2["sessionId"], json!(null), "null keys are present");
    assert_eq!(t2["input"], json!(null));
}

#[tokio::test]
async fn list_traces_meta_is_exact_on_page_boundaries() {
    let app = spawn_app().await;
    let seed = Seed::new(&app).await;
    let (_, empty) = app.get("/api/public/traces?limit=5").await;
    assert_eq!(
        empty["meta"],
        json!({"page": 1, "limit": 5, "totalItems": 0, "totalPages": 0})
    );
    assert_eq!(empty["data"], json!([]));

    seed.many_traces("a", 5).await;
    let (_, exact) = app.get("/api/public/traces?limit=5").await;
    assert_eq!(exact["meta"]["totalPages"], 1);
    assert_eq!(exact["data"].as_array().unwrap().len(), 5);

    seed.many_traces("b", 1).await;
    let (_, over) = app.get("/api/public/traces?limit=5").await;
    assert_eq!(
        over["meta"],
        json!({"page": 1, "limit": 5, "totalItems": 6, "totalPages": 2})
    );
    let (_, page2) = app.get("/api/public/traces?limit=5&page=2").await;
    assert_eq!(page2["data"].as_array().unwrap().len(), 1);
    assert_eq!(page2["meta"]["page"], 2);
    let (_, page3) = app.get("/api/public/traces?limit=5&page=3").await;
    assert_eq!(page3["data"], json!([]));
}

#[tokio::test]
async fn list_traces_applies_every_filter() {
    let app = spawn_app().await;
    let seed = Seed::new(&app).await;
    seed_three(&seed).await;
    let cases: &[(&str, &[&str])] = &[
        ("userId=u1", &["t3", "t1"]),
        ("name=search", &["t2"]),
        ("sessionId=s1", &["t1"]),
        ("fromTimestamp=2024-05-01T11:00:00Z", &["t3", "t2"]),
        ("toTimestamp=2024-05-01T11:00:00.000Z", &["t1"]),
        ("fromTimestamp=2024-05-01T12:30:00%2B02:00", &["t3", "t2"]),
        ("tags=a", &["t2", "t1"]),
        ("tags=a&tags=b", &["t1"]),
        ("tags=a,b", &["t1"]),
        ("version=v1", &["t1"]),
        ("release=r1", &["t1"]),
        ("environment=production", &["t1"]),
        ("environment=production&environment=staging", &["t2", "t1"]),
        ("environment=default", &["t3"]),
        ("userId=nobody", &[]),
        ("orderBy=timestamp.asc", &["t1", "t2", "t3"]),
        ("orderBy=name.asc", &["t1", "t3", "t2"]),
        ("orderBy=id.desc", &["t3", "t2", "t1"]),
        ("orderBy=sessionId.asc", &["t1", "t3", "t2"]),
    ];
    for (query, expected) in cases {
        let (status, body) = app.get(&format!("/api/public/traces?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        let ids: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        assert_eq!(&ids, expected, "{query}");
        assert_eq!(body["meta"]["totalItems"], expected.len(), "{query}");
    }
}

#[tokio::test]
async fn list_traces_rejects_bad_parameters_with_400() {
    let app = spawn_app().await;
    for query in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "page=0",
        "page=-1",
        "orderBy=nope.asc",
        "orderBy=timestamp.sideways",
        "fromTimestamp=2024-01-01T00:00:00",
        "toTimestamp=yesterday",
    ] {
        let (status, body) = app.get(&format!("/api/public/traces?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["message"].is_string(), "{query}: {body}");
        assert!(body.get("error").is_some(), "{query}: {body}");
    }
    let (_, body) = app.get("/api/public/traces?orderBy=nope.asc").await;
    assert_eq!(body["error"], "InvalidRequestError");
    assert!(body["message"].as_str().unwrap().contains("nope"), "{body}");
    let (_, body) = app.get("/api/public/traces?limit=101").await;
    assert_eq!(body["message"], "Invalid request data");
    assert_eq!(body["error"][0]["path"], json!(["limit"]));
}

#[tokio::test]
async fn list_traces_field_groups_keep_their_keys() {
    let app = spawn_app().await;
    let seed = Seed::new(&app).await;
    seed_three(&seed).await;
    let (status, body) = app
        .get("/api/public/traces?fields=core&userId=u1&sessionId=s1")
        .await;
    assert_eq!(status, 200);
    let t = &body["data"][0];
    assert_eq!(keys(t), TRACE_KEYS);
    assert_eq!(t["observations"], json!([]));
    assert_eq!(t["scores"], json!([]));
    assert_eq!(t["totalCost"].as_f64(), Some(-1.0));
    assert_eq!(t["latency"].as_f64(), Some(-1.0));
    assert_eq!(t["input"], json!(null));
    let (_, body) = app
        .get("/api/public/traces?fields=core,io,metrics&sessionId=s1")
        .await;
    let t = &body["data"][0];
    assert_eq!(t["input"], json!({"q": 1}));
    assert_eq!(t["latency"].as_f64(), Some(2.5));
    assert_eq!(t["observations"], json!([]));
}

#[tokio::test]
async fn get_trace_embeds_observations_and_scores() {
    let app = spawn_app().await;
    let seed = Seed::new(&app).await;
    seed_three(&seed).await;
    let (status, t) = app.get("/api/public/traces/t1").await;
    assert_eq!(status, 200, "{t}");
    assert_has_keys(
        &t,
        &[
            "id",
            "timestamp",
            "tags",
            "public",
            "environment",
            "htmlPath",
            "observations",
            "scores",
            "latency",
            "totalCost",
        ],
        "TraceWithFullDetails",
    );
    assert_eq!(t["htmlPath"], "/project/default/traces/t1");
    assert_eq!(t["latency"].as_f64(), Some(2.5));
    assert!((t["totalCost"].as_f64().unwrap() - 0.75).abs() < 1e-9);
    let obs = t["observations"].as_array().unwrap();
    assert_eq!(obs.len(), 3);
    let o2 = obs.iter().find(|o| o["id"] == "o2").unwrap();
    assert_eq!(o2["promptTokens"], 10);
    assert_eq!(o2["completionTokens"], 5);
    assert_eq!(o2["totalTokens"], 15);
    assert_eq!(
        o2["usage"],
        json!({"unit": "TOKENS", "input": 10, "output": 5, "total": 15})
    );
    assert_eq!(o2["latency"].as_f64(), Some(1.5));
    assert_eq!(o2["parentObservationId"], "o1");
    let scores = t["scores"].as_array().unwrap();
    assert_eq!(scores.len(), 1);
    assert_eq!(scores[0]["id"], "sc1");
    assert_eq!(scores[0]["value"].as_f64(), Some(0.9));
    assert_has_keys(
        &scores[0],
        &[
            "id",
            "traceId",
            "name",
            "source",
            "timestamp",
            "createdAt",
            "updatedAt",
            "metadata",
            "environment",
            "dataType",
        ],
        "ScoreV1",
    );
}

#[tokio::test]
async fn get_trace_answers_404_for_missing_and_foreign_traces() {
    let app = spawn_app().await;
    let seed = Seed::new(&app).await;
    seed_three(&seed).await;
    let (status, body) = app.get("/api/public/traces/missing").await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"message": "Trace missing not found within authorized project",
        "error": "LangfuseNotFoundError"})
    );

    let (other_pid, other_auth) = second_project(&app).await;
    seed.for_project(&other_pid)
        .trace(
            "foreign",
            "2024-05-01T10:00:00.000Z",
            json!({"user_id": "u1"}),
        )
        .await;
    let (status, _) = app.get("/api/public/traces/foreign").await;
    assert_eq!(status, 404, "another project's trace is invisible");
    let (status, body) = app
        .send("GET", "/api/public/traces", Some(&other_auth), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["meta"]["totalItems"], 1);
    assert_eq!(body["data"][0]["id"], "foreign");
    assert_eq!(
        body["data"][0]["htmlPath"],
        format!("/project/{other_pid}/traces/foreign")
    );
    let (_, body) = app.get("/api/public/traces?userId=u1").await;
    assert_eq!(
        body["meta"]["totalItems"], 2,
        "default project sees only its own"
    );
}

#[tokio::test]
async fn deleting_traces_removes_their_observations_and_scores() {
    let app = spawn_app().await;
    let seed = Seed::new(&app).await;
    seed_three(&seed).await;
    let (other_pid, other_auth) = second_project(&app).await;
    seed.for_project(&other_pid)
        .trace("t2", "2024-05-01T10:00:00.000Z", json!({}))
        .await;

    let (status, body) = app
        .send(
            "DELETE",
            "/api/public/traces/t1",
            Some(&app.basic_auth()),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"message": "Trace deleted successfully"}));
    assert_eq!(app.get("/api/public/traces/t1").await.0, 404);
    assert_eq!(app.get("/api/public/observations/o2").await.0, 404);
    let (_, obs) = app.get("/api/public/observations?traceId=t1").await;
    assert_eq!(obs["meta"]["totalItems"], 0);
    let (_, scores) = app.get("/api/public/v2/scores").await;
    assert_eq!(scores["meta"]["totalItems"], 0);

    let (status, body) = app
        .send(
            "DELETE",
            "/api/public/traces",
            Some(&app.basic_auth()),
            Some(&json!({"traceIds": ["t2", "t3"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"message": "Traces deleted successfully"}));
    let (_, list) = app.get("/api/public/traces").await;
    assert_eq!(list["meta"]["totalItems"], 0);
    let (_, other) = app
        .send("GET", "/api/public/traces/t2", Some(&other_auth), None)
        .await;
    assert_eq!(
        other["id"], "t2",
        "another project's trace with the same id survives"
    );

    for bad in [
        json!({"traceIds": []}),
        json!({"traceIds": ["x"], "extra": 1}),
        json!({}),
    ] {
        let (status, body) = app
            .send(
                "DELETE",
                "/api/public/traces",
                Some(&app.basic_auth()),
                Some(&bad),
            )
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn trace_reads_need_credentials() {
    let app = spawn_app().await;
    let (status, body) = app.send("GET", "/api/public/traces", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "No authorization header");
}

#[tokio::test]
async fn unfiltered_totals_follow_inserts_and_deletes_per_project() {
    let app = spawn_app().await;
    let seed = Seed::new(&app).await;
    let (pid, auth) = second_project(&app).await;
    seed.many_traces("x", 7).await;
    seed.for_project(&pid).many_traces("x", 3).await;
    seed.observation("o1", "x-1", "SPAN", "2024-01-01T00:00:00.000Z", json!({}))
        .await;
    seed.observation("o2", "x-2", "SPAN", "2024-01-01T00:00:00.000Z", json!({}))
        .await;
    let (_, body) = app.get("/api/public/traces?limit=3").await;
    assert_eq!(
        body["meta"],
        json!({"page": 1, "limit": 3, "totalItems": 7, "totalPages": 3})
    );
    let (_, body) = app
        .send("GET", "/api/public/traces", Some(&auth), None)
        .await;
    assert_eq!(body["meta"]["totalItems"], 3);
    let (_, body) = app.get("/api/public/observations").await;
    assert_eq!(body["meta"]["totalItems"], 2);
    // An upsert that hits an existing row (as ingestion's merges do) must not count twice.
    sqlx::query(
        "insert into traces (project_id, id, timestamp) values ('default', 'x-2', now()), \
         ('default', 'x-new', now()) on conflict (project_id, id) do update set name = 'merged'",
    )
    .execute(&seed.pool)
    .await
    .unwrap();
    let (_, body) = app.get("/api/public/traces?limit=3").await;
    assert_eq!(body["meta"]["totalItems"], 8, "one new row, one merged");
    sqlx::query("delete from traces where project_id = 'default' and id = 'x-new'")
        .execute(&seed.pool)
        .await
        .unwrap();

    let (status, _) = app
        .send(
            "DELETE",
            "/api/public/traces",
            Some(&app.basic_auth()),
            Some(&json!({"traceIds": ["x-1", "x-3", "nope"]})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, body) = app.get("/api/public/traces?limit=3").await;
    assert_eq!(
        body["meta"],
        json!({"page": 1, "limit": 3, "totalItems": 5, "totalPages": 2})
    );
    let (_, body) = app.get("/api/public/observations").await;
    assert_eq!(
        body["meta"]["totalItems"], 1,
        "the deleted trace's observation is gone"
    );
    let (_, body) = app
        .send("GET", "/api/public/traces", Some(&auth), None)
        .await;
    assert_eq!(body["meta"]["totalItems"], 3, "other project untouched");
}
