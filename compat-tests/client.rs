//! The Rust client crate (`crates/xtrace-client`) against the real server: the original
//! xtrace README's SDK example, every client method, and the batching exporter's flush,
//! shutdown, retries (through a local stub that answers 503 or stalls before passing
//! requests on to the real server) and drop counting.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::{DateTime, Utc};
use serde_json::json;
use xtrace_client::{
    ChatItem, ChatMessage, Client, CompiledPrompt, CreateDataset, CreateDatasetItem,
    CreateDatasetRunItem, CreatePrompt, ExporterConfig, IngestionEvent, MetricAgg, MetricPoint,
    MetricsDailyQuery, MetricsQuery, ObservationBody, ObservationListQuery, PromptSelector,
    ScoreBody, ScoreListQuery, SessionListQuery, TraceBody, TraceListQuery, Usage,
};

use crate::helpers::{spawn_app_with, TestApp};

const NO_RATE_LIMIT: (&str, &str) = ("RATE_LIMIT_QPS", "0");

async fn app() -> TestApp {
    spawn_app_with(&[NO_RATE_LIMIT]).await
}

fn keys_client(app: &TestApp) -> Client {
    Client::with_keys(&app.address, &app.public_key, &app.secret_key).expect("client builds")
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The "Rust SDK" example of the original xtrace README, as written there; only the
/// base URL and token literals are this test server's.
#[tokio::test]
async fn seed_readme_example_runs_as_written() {
    let app = app().await;
    let base_url = format!("{}/", app.address);
    let token = app.bearer_token.clone();

    let result: anyhow::Result<()> = async {
        use xtrace_client::{Client, TraceListQuery};

        let client = Client::new(&base_url, &token)?;
        client.healthz().await?;

        let traces = client.list_traces(&TraceListQuery::default()).await?;
        println!("{}", traces.data.len());

        let now = chrono::Utc::now();
        client
            .push_metrics(&[xtrace_client::MetricPoint {
                name: "gpu_utilization".to_string(),
                labels: std::collections::HashMap::from([
                    ("node_id".to_string(), "node-1".to_string()),
                    ("gpu_index".to_string(), "0".to_string()),
                ]),
                value: 85.0,
                timestamp: now,
            }])
            .await?;
        Ok(())
    }
    .await;
    result.expect("the seed example runs");

    // The point landed in the default project, where the admin token acts.
    let (status, body) = app
        .send(
            "GET",
            "/api/public/metrics/names",
            Some(&app.bearer_auth()),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], json!(["gpu_utilization"]));
}

#[tokio::test]
async fn both_auth_modes_work_and_bad_credentials_are_api_errors() {
    let app = app().await;
    let bearer = Client::new(&app.address, &app.bearer_token).unwrap();
    let keys = keys_client(&app);
    assert_eq!(bearer.healthz().await.unwrap().status, "OK");
    assert_eq!(keys.health().await.unwrap().status, "OK");
    assert_eq!(
        bearer
            .list_traces(&Default::default())
            .await
            .unwrap()
            .meta
            .page,
        1
    );
    assert_eq!(
        keys.list_traces(&Default::default())
            .await
            .unwrap()
            .meta
            .page,
        1
    );

    let wrong = Client::with_keys(&app.address, &app.public_key, "sk-lf-wrong").unwrap();
    let err = wrong.list_traces(&Default::default()).await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(err.to_string().contains("Invalid credentials"), "{err}");
    let err = Client::new(&app.address, "nope")
        .unwrap()
        .metric_names()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
}

#[tokio::test]
async fn traces_observations_sessions_and_scores_round_trip() {
    let app = app().await;
    let client = keys_client(&app);
    let trace_id = xtrace_client::new_id();
    let gen_id = xtrace_client::new_id();
    let start = t("2024-05-01T12:00:00Z");
    let events = vec![
        IngestionEvent::trace(TraceBody {
            id: Some(trace_id.clone()),
            timestamp: Some(start),
            name: Some("chat".into()),
            user_id: Some("alice".into()),
            session_id: Some("sess-1".into()),
            tags: Some(vec!["prod".into()]),
            input: Some(json!({"q": "hi"})),
            ..TraceBody::default()
        }),
        IngestionEvent::generation_create(ObservationBody {
            id: Some(gen_id.clone()),
            trace_id: Some(trace_id.clone()),
            name: Some("llm".into()),
            start_time: Some(start),
            end_time: Some(t("2024-05-01T12:00:02Z")),
            model: Some("gpt-4o-mini".into()),
            model_parameters: json!({"temperature": 0.5}).as_object().cloned(),
            usage: Some(Usage::tokens(1000, 500)),
            output: Some(json!("hello")),
            ..ObservationBody::default()
        }),
        // Refused: a score must name a trace, session or dataset run.
        IngestionEvent::score(ScoreBody {
            trace_id: None,
            ..ScoreBody::for_trace("x", "bad", 1.0)
        }),
    ];
    let answer = client.ingest(&events).await.unwrap();
    assert_eq!(answer.successes.len(), 2, "{answer:?}");
    assert_eq!(answer.errors.len(), 1);
    assert_eq!(answer.errors[0].id, events[2].id);
    assert_eq!(answer.errors[0].status, 400);

    // Traces: filters.
    let page = client
        .list_traces(&TraceListQuery {
            user_id: Some("alice".into()),
            tags: vec!["prod".into()],
            ..TraceListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.meta.total_items, 1);
    assert_eq!(page.data[0].id, trace_id);
    assert_eq!(page.data[0].observations, vec![gen_id.clone()]);
    assert_eq!(page.data[0].session_id.as_deref(), Some("sess-1"));
    let none = client
        .list_traces(&TraceListQuery {
            user_id: Some("bob".into()),
            ..TraceListQuery::default()
        })
        .await
        .unwrap();
    assert!(none.data.is_empty());
    let ranged = client
        .list_traces(&TraceListQuery {
            from_timestamp: Some(t("2024-05-01T12:00:01Z")),
            ..TraceListQuery::default()
        })
        .await
        .unwrap();
    assert!(ranged.data.is_empty(), "fromTimestamp is sent");

    let detail = client.get_trace(&trace_id).await.unwrap();
    assert_eq!(detail.name.as_deref(), Some("chat"));
    assert_eq!(detail.input, json!({"q": "hi"}));
    assert_eq!(detail.observations.len(), 1);
    assert_eq!(detail.observations[0].kind, "GENERATION");
    // gpt-4o-mini at Langfuse's list price: 0.15 USD / 1M input, 0.6 USD / 1M output.
    let cost = detail.total_cost.unwrap();
    assert!(
        (cost - (1000.0 * 0.15e-6 + 500.0 * 0.6e-6)).abs() < 1e-9,
        "{cost}"
    );
    // A Uuid works as an id too.
    let as_uuid: uuid::Uuid = trace_id.parse().unwrap();
    assert_eq!(client.get_trace(as_uuid).await.unwrap().id, trace_id);

    // Observations.
    let obs = client
        .list_observations(&ObservationListQuery {
            trace_id: Some(trace_id.clone()),
            kind: Some("GENERATION".into()),
            ..ObservationListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(obs.data.len(), 1);
    let o = client.get_observation(&gen_id).await.unwrap();
    assert_eq!(o.model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(o.usage.input, Some(1000));
    assert_eq!(o.usage.output, Some(500));
    assert_eq!(o.prompt_tokens, 1000);
    assert_eq!(o.model_parameters, json!({"temperature": 0.5}));
    assert_eq!(o.latency, Some(2.0));

    // Sessions.
    let sessions = client
        .list_sessions(&SessionListQuery::default())
        .await
        .unwrap();
    assert_eq!(sessions.data.len(), 1);
    assert_eq!(sessions.data[0].id, "sess-1");
    let s = client.get_session("sess-1").await.unwrap();
    assert_eq!(s.traces.len(), 1);
    assert_eq!(s.traces[0].id, trace_id);

    // Scores: create, list, get, delete.
    let mut score = ScoreBody::for_trace(trace_id.clone(), "quality", 0.75);
    score.comment = Some("fine".into());
    let id = client.create_score(&score).await.unwrap().id;
    assert_eq!(Some(&id), score.id.as_ref());
    let cat = ScoreBody::for_trace(trace_id.clone(), "grade", "good");
    client.create_score(&cat).await.unwrap();
    let scores = client
        .list_scores(&ScoreListQuery {
            trace_id: Some(trace_id.clone()),
            name: Some("quality".into()),
            ..ScoreListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(scores.data.len(), 1);
    assert_eq!(scores.data[0].value, Some(0.75));
    assert_eq!(scores.data[0].comment.as_deref(), Some("fine"));
    let grade = client.get_score(cat.id.as_deref().unwrap()).await.unwrap();
    assert_eq!(grade.data_type, "CATEGORICAL");
    assert_eq!(grade.string_value.as_deref(), Some("good"));
    client.delete_score(&id).await.unwrap();
    assert!(client.get_score(&id).await.unwrap_err().is_not_found());

    // Daily metrics count the trace's day.
    let daily = client
        .metrics_daily(&MetricsDailyQuery::default())
        .await
        .unwrap();
    assert_eq!(daily.data[0].date, "2024-05-01");
    assert_eq!(daily.data[0].count_traces, 1);

    // Deletes.
    let other = xtrace_client::new_id();
    client
        .ingest(&[IngestionEvent::trace(TraceBody {
            id: Some(other.clone()),
            ..TraceBody::default()
        })])
        .await
        .unwrap();
    client.delete_trace(&trace_id).await.unwrap();
    assert!(client
        .get_trace(&trace_id)
        .await
        .unwrap_err()
        .is_not_found());
    client.delete_traces(&[other.as_str()]).await.unwrap();
    assert!(client.get_trace(&other).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn prompts_are_fetched_by_label_and_version_cached_and_compiled() {
    let app = app().await;
    let client = keys_client(&app);
    let writer = keys_client(&app);
    let v1 = client
        .create_prompt(
            &CreatePrompt::text("team/greeting", "Hello {{name}}, welcome to {{ place }}!")
                .with_labels(["production"]),
        )
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    writer
        .create_prompt(&CreatePrompt::text("team/greeting", "Hi {{name}}").with_labels(["staging"]))
        .await
        .unwrap();

    let prod = client
        .get_prompt("team/greeting", PromptSelector::Production)
        .await
        .unwrap();
    assert_eq!(prod.version, 1);
    let vars = HashMap::from([("name", "Ann"), ("place", "Paris")]);
    assert_eq!(
        prod.compile(&vars),
        CompiledPrompt::Text("Hello Ann, welcome to Paris!".into())
    );
    let staging = client
        .get_prompt("team/greeting", PromptSelector::Label("staging".into()))
        .await
        .unwrap();
    assert_eq!(staging.version, 2);
    let by_version = client
        .get_prompt("team/greeting", PromptSelector::Version(2))
        .await
        .unwrap();
    assert_eq!(by_version.id, staging.id);

    // Another client moves `production` to a new version: this client's cache still
    // answers version 1 until it is invalidated; a cache-less client sees version 3 at once.
    writer
        .create_prompt(
            &CreatePrompt::text("team/greeting", "Yo {{name}}").with_labels(["production"]),
        )
        .await
        .unwrap();
    let cached = client
        .get_prompt("team/greeting", PromptSelector::Production)
        .await
        .unwrap();
    assert_eq!(cached.version, 1, "served from the cache");
    let uncached = Client::builder(&app.address)
        .keys(&app.public_key, &app.secret_key)
        .prompt_cache_ttl(Duration::ZERO)
        .build()
        .unwrap();
    assert_eq!(
        uncached
            .get_prompt("team/greeting", PromptSelector::Production)
            .await
            .unwrap()
            .version,
        3
    );
    client.invalidate_prompt_cache(Some("team/greeting"));
    let fresh = client
        .get_prompt("team/greeting", PromptSelector::Production)
        .await
        .unwrap();
    assert_eq!(fresh.version, 3);

    // Chat prompt with a placeholder.
    client
        .create_prompt(
            &CreatePrompt::chat(
                "support",
                vec![
                    ChatItem::message("system", "You help with {{product}}."),
                    ChatItem::placeholder("history"),
                    ChatItem::message("user", "{{question}}"),
                ],
            )
            .with_labels(["production"]),
        )
        .await
        .unwrap();
    let chat = client
        .get_prompt("support", PromptSelector::Production)
        .await
        .unwrap();
    assert_eq!(chat.kind, "chat");
    let vars = HashMap::from([("product", "xtrace"), ("question", "How?")]);
    let history = HashMap::from([("history", vec![ChatMessage::new("assistant", "Hi!")])]);
    assert_eq!(
        chat.compile_with_placeholders(&vars, &history),
        CompiledPrompt::Chat(vec![
            ChatMessage::new("system", "You help with xtrace."),
            ChatMessage::new("assistant", "Hi!"),
            ChatMessage::new("user", "How?"),
        ])
    );

    let list = client.list_prompts(None, None).await.unwrap();
    let names: Vec<_> = list.data.iter().map(|p| p.name.as_str()).collect();
    assert!(
        names.contains(&"team/greeting") && names.contains(&"support"),
        "{names:?}"
    );
    let missing = client
        .get_prompt("nope", PromptSelector::Production)
        .await
        .unwrap_err();
    assert!(missing.is_not_found());
}

#[tokio::test]
async fn datasets_items_and_run_items() {
    let app = app().await;
    let client = keys_client(&app);
    let ds = client
        .create_dataset(&CreateDataset {
            name: "qa".into(),
            description: Some("questions".into()),
            metadata: Some(json!({"owner": "me"})),
        })
        .await
        .unwrap();
    assert_eq!(ds.name, "qa");
    assert_eq!(client.get_dataset("qa").await.unwrap().id, ds.id);
    assert_eq!(
        client.list_datasets(None, None).await.unwrap().data.len(),
        1
    );

    let item = client
        .create_dataset_item(&CreateDatasetItem {
            dataset_name: "qa".into(),
            input: Some(json!({"q": "2+2"})),
            expected_output: Some(json!("4")),
            ..CreateDatasetItem::default()
        })
        .await
        .unwrap();
    assert_eq!(item.dataset_id, ds.id);
    assert_eq!(item.status, "ACTIVE");
    let got = client.get_dataset_item(&item.id).await.unwrap();
    assert_eq!(got.expected_output, json!("4"));
    let items = client
        .list_dataset_items(&xtrace_client::DatasetItemListQuery {
            dataset_name: Some("qa".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(items.meta.total_items, 1);

    let trace_id = xtrace_client::new_id();
    let run = client
        .create_dataset_run_item(&CreateDatasetRunItem {
            run_name: "run-1".into(),
            dataset_item_id: item.id.clone(),
            trace_id: Some(trace_id.clone()),
            ..CreateDatasetRunItem::default()
        })
        .await
        .unwrap();
    assert_eq!(run.dataset_run_name, "run-1");
    assert_eq!(run.trace_id, trace_id);

    client.delete_dataset_item(&item.id).await.unwrap();
    assert!(client
        .get_dataset_item(&item.id)
        .await
        .unwrap_err()
        .is_not_found());
}

#[tokio::test]
async fn metrics_are_pushed_queried_and_named() {
    let app = app().await;
    let client = keys_client(&app);
    let labels = |gpu: &str| {
        HashMap::from([
            ("node_id".to_string(), "node-1".to_string()),
            ("gpu_index".to_string(), gpu.to_string()),
        ])
    };
    let point = |gpu: &str, value: f64, ts: &str| MetricPoint {
        name: "gpu_utilization".into(),
        labels: labels(gpu),
        value,
        timestamp: t(ts),
    };
    let res = client
        .push_metrics(&[
            point("0", 10.0, "2024-05-01T12:00:10Z"),
            point("0", 20.0, "2024-05-01T12:00:40Z"),
            point("1", 90.0, "2024-05-01T12:00:20Z"),
            point("0", 50.0, "2024-05-01T12:01:10Z"),
        ])
        .await
        .unwrap();
    assert_eq!((res.accepted, res.rejected), (4, 0));
    let bad = client
        .push_metrics(&[point("0", f64::NAN, "2024-05-01T12:00:10Z")])
        .await;
    // NaN serializes as null, which the server refuses: every point invalid is a 400.
    assert_eq!(bad.unwrap_err().status(), Some(400));

    let mut q = MetricsQuery::new("gpu_utilization");
    q.from = Some(t("2024-05-01T12:00:00Z"));
    q.to = Some(t("2024-05-01T12:05:00Z"));
    q.labels = HashMap::from([("gpu_index".to_string(), "0".to_string())]);
    let out = client.query_metrics(&q).await.unwrap();
    assert_eq!(out.data.len(), 1);
    let values: Vec<f64> = out.data[0].values.iter().map(|v| v.value).collect();
    assert_eq!(values, vec![15.0, 50.0]);
    assert_eq!(out.data[0].values[0].timestamp, t("2024-05-01T12:00:00Z"));
    assert_eq!(out.meta.latest_ts, Some(t("2024-05-01T12:01:00Z")));

    q.labels.clear();
    q.agg = Some(MetricAgg::Max);
    q.step = Some("5m".into());
    q.group_by = Some("node_id".into());
    let grouped = client.query_metrics(&q).await.unwrap();
    assert_eq!(grouped.data.len(), 1);
    assert_eq!(
        grouped.data[0].labels.get("node_id"),
        Some(&Some("node-1".to_string()))
    );
    assert_eq!(grouped.data[0].values[0].value, 90.0);

    assert_eq!(
        client.metric_names().await.unwrap(),
        vec!["gpu_utilization"]
    );
    let named = client.metric_names_with_labels().await.unwrap();
    assert_eq!(named[0].label_keys, vec!["gpu_index", "node_id"]);
    let err = client
        .query_metrics(&MetricsQuery {
            step: Some("1w".into()),
            ..MetricsQuery::new("gpu_utilization")
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
}

#[tokio::test]
async fn exporter_batches_nests_and_reports_refused_events() {
    let app = app().await;
    let client = keys_client(&app);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_cb = seen.clone();
    let exporter = client.exporter(
        ExporterConfig {
            max_batch_events: 3,
            flush_interval: Duration::from_secs(3600),
            ..ExporterConfig::default()
        }
        .on_error(move |e| seen_cb.lock().unwrap().push(e.event_id.clone())),
    );

    let trace = exporter.trace_with(TraceBody {
        name: Some("rag".into()),
        user_id: Some("u1".into()),
        ..TraceBody::default()
    });
    let span = trace.span("retrieve");
    let child = span.generation("rerank", "gpt-4o-mini");
    child.end_with(json!("ranked"), Usage::tokens(100, 10));
    span.end_with_output(json!(["d1"]));
    let top = trace.generation("answer", "gpt-4o");
    top.first_token();
    top.end_with(json!({"content": "42"}), Usage::tokens(20, 5));
    let event_id = trace.event("cache-miss", Some(json!({"key": "k"})));
    trace.score("thumbs", true);
    trace.end(json!("forty-two"));
    let bad = IngestionEvent::score(ScoreBody {
        trace_id: None,
        ..ScoreBody::for_trace("x", "orphan", 1.0)
    });
    let bad_id = bad.id.clone();
    assert!(exporter.enqueue(bad));

    // 12 events, batches of 3: 4 requests are sent by size, without a flush.
    let mut waited = 0;
    while exporter.stats().sent + exporter.stats().failed < 12 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let stats = exporter.stats();
    assert_eq!(stats.enqueued, 12);
    assert_eq!(stats.sent, 11, "{stats:?}");
    assert_eq!(stats.failed, 1);
    assert_eq!(stats.batches, 4);
    assert_eq!(*seen.lock().unwrap(), vec![bad_id.clone()]);
    let errors = exporter.take_errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].event_id, bad_id);
    assert_eq!(errors[0].status, Some(400));
    assert!(exporter.take_errors().is_empty());

    let detail = client.get_trace(trace.id()).await.unwrap();
    assert_eq!(detail.name.as_deref(), Some("rag"));
    assert_eq!(detail.output, json!("forty-two"));
    assert_eq!(detail.observations.len(), 4);
    let by_id = |id: &str| {
        detail
            .observations
            .iter()
            .find(|o| o.id == id)
            .unwrap_or_else(|| panic!("observation {id}"))
    };
    let rerank = by_id(child.id());
    assert_eq!(rerank.parent_observation_id.as_deref(), Some(span.id()));
    assert_eq!(rerank.output, json!("ranked"));
    assert_eq!(rerank.usage.input, Some(100));
    assert!(rerank.end_time.is_some());
    let answer = by_id(top.id());
    assert_eq!(answer.parent_observation_id, None);
    assert!(answer.completion_start_time.is_some());
    assert_eq!(by_id(&event_id).kind, "EVENT");
    assert_eq!(by_id(span.id()).output, json!(["d1"]));
    assert_eq!(detail.scores.len(), 1);
    assert_eq!(detail.scores[0].value, Some(1.0));

    exporter.shutdown().await;
    assert!(!exporter.enqueue(IngestionEvent::trace(TraceBody::default())));
    assert_eq!(exporter.stats().dropped, 1);
}

#[tokio::test]
async fn exporter_flushes_by_interval_flush_and_shutdown() {
    let app = app().await;
    let client = keys_client(&app);
    let exporter = client.exporter(ExporterConfig {
        max_batch_events: 1000,
        flush_interval: Duration::from_millis(200),
        ..ExporterConfig::default()
    });
    let a = exporter.trace("by-interval");
    let mut waited = 0;
    while exporter.stats().sent < 1 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_eq!(exporter.stats().sent, 1, "sent by the interval");
    assert!(client.get_trace(a.id()).await.is_ok());

    let slow = client.exporter(ExporterConfig {
        max_batch_events: 1000,
        flush_interval: Duration::from_secs(3600),
        ..ExporterConfig::default()
    });
    let b = slow.trace("by-flush");
    slow.flush().await;
    assert_eq!(slow.stats().sent, 1);
    assert!(client.get_trace(b.id()).await.is_ok());
    let c = slow.trace("by-shutdown");
    slow.shutdown().await;
    assert_eq!(slow.stats().sent, 2);
    assert!(client.get_trace(c.id()).await.is_ok());
    exporter.shutdown().await;
}

/// A local stand-in for the server: answers the first `fail` ingestion requests with
/// 503 (or, with `stall`, holds them for that long first), then passes requests on to
/// the real server and returns its answer.
struct Stub {
    address: String,
    requests: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct StubState {
    upstream: String,
    fail: usize,
    stall: Option<Duration>,
    requests: Arc<AtomicUsize>,
    http: reqwest::Client,
}

async fn stub_handler(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<StubState>,
) -> HttpResponse {
    let n = state.requests.fetch_add(1, Ordering::SeqCst);
    if n < state.fail {
        if let Some(d) = state.stall {
            tokio::time::sleep(d).await;
        }
        return HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "0"))
            .json(json!({"message": "busy", "error": "ServiceUnavailable"}));
    }
    let mut fwd = state
        .http
        .post(format!("{}{}", state.upstream, req.path()))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(a) = req.headers().get("authorization") {
        fwd = fwd.header("authorization", a.to_str().unwrap());
    }
    let res = fwd.send().await.expect("upstream answers");
    let status = res.status().as_u16();
    let bytes = res.bytes().await.unwrap();
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("application/json")
        .body(bytes)
}

fn spawn_stub(upstream: &str, fail: usize, stall: Option<Duration>) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let state = StubState {
        upstream: upstream.to_string(),
        fail,
        stall,
        requests: requests.clone(),
        http: reqwest::Client::new(),
    };
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .default_service(web::to(stub_handler))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    Stub { address, requests }
}

#[tokio::test]
async fn exporter_retries_through_503s_and_loses_nothing() {
    let app = app().await;
    let stub = spawn_stub(&app.address, 4, None);
    let via_stub = Client::with_keys(&stub.address, &app.public_key, &app.secret_key).unwrap();
    let exporter = via_stub.exporter(ExporterConfig {
        max_batch_events: 10,
        flush_interval: Duration::from_secs(3600),
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        ..ExporterConfig::default()
    });
    let ids: Vec<String> = (0..25)
        .map(|i| exporter.trace(format!("t{i}")).id().to_string())
        .collect();
    exporter.shutdown().await;
    let stats = exporter.stats();
    assert_eq!(stats.sent, 25, "{stats:?}");
    assert_eq!(stats.failed, 0);
    assert_eq!(stats.retries, 4);
    // 4 refused attempts + 3 delivered batches (10, 10, 5).
    assert_eq!(stub.requests.load(Ordering::SeqCst), 7);
    let direct = keys_client(&app);
    let page = direct
        .list_traces(&TraceListQuery {
            limit: Some(100),
            ..TraceListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.meta.total_items, 25);
    for id in &ids {
        assert!(page.data.iter().any(|t| &t.id == id), "trace {id} stored");
    }
}

#[tokio::test]
async fn exporter_retries_timeouts_and_gives_up_after_max_retries() {
    let app = app().await;
    // The first request stalls past the client's timeout; the retry goes through.
    let stub = spawn_stub(&app.address, 1, Some(Duration::from_secs(2)));
    let client = Client::builder(&stub.address)
        .keys(&app.public_key, &app.secret_key)
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let exporter = client.exporter(ExporterConfig {
        initial_backoff: Duration::from_millis(20),
        ..ExporterConfig::default()
    });
    let tr = exporter.trace("after-timeout");
    exporter.flush().await;
    let stats = exporter.stats();
    assert_eq!(
        (stats.sent, stats.failed, stats.retries),
        (1, 0, 1),
        "{stats:?}"
    );
    assert!(keys_client(&app).get_trace(tr.id()).await.is_ok());
    exporter.shutdown().await;

    // A server that never recovers: the events are reported as failed, not lost silently.
    let down = spawn_stub(&app.address, usize::MAX, None);
    let client = Client::with_keys(&down.address, &app.public_key, &app.secret_key).unwrap();
    let exporter = client.exporter(ExporterConfig {
        max_retries: 2,
        initial_backoff: Duration::from_millis(10),
        ..ExporterConfig::default()
    });
    exporter.trace("never");
    exporter.trace("stored");
    exporter.shutdown().await;
    let stats = exporter.stats();
    assert_eq!(
        (stats.sent, stats.failed, stats.retries),
        (0, 2, 2),
        "{stats:?}"
    );
    let errors = exporter.take_errors();
    assert_eq!(errors.len(), 2);
    assert!(errors.iter().all(|e| e.status == Some(503)), "{errors:?}");
    assert_eq!(down.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn exporter_drops_when_the_buffer_is_full_without_blocking() {
    let app = app().await;
    // Every request stalls for a while, so the worker is busy with the first event.
    let stub = spawn_stub(&app.address, 1, Some(Duration::from_secs(1)));
    let client = Client::with_keys(&stub.address, &app.public_key, &app.secret_key).unwrap();
    let exporter = client.exporter(ExporterConfig {
        max_batch_events: 1,
        buffer_capacity: 5,
        initial_backoff: Duration::from_millis(10),
        ..ExporterConfig::default()
    });
    exporter.trace("first");
    // Let the worker take the first event and start its (stalled) request.
    let mut waited = 0;
    while stub.requests.load(Ordering::SeqCst) == 0 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    let started = std::time::Instant::now();
    let accepted = (0..8)
        .filter(|i| {
            exporter.enqueue(IngestionEvent::trace(TraceBody {
                id: Some(format!("buffered-{i}")),
                ..TraceBody::default()
            }))
        })
        .count();
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "enqueue never waits"
    );
    assert_eq!(accepted, 5);
    exporter.shutdown().await;
    let stats = exporter.stats();
    assert_eq!(stats.dropped, 3, "{stats:?}");
    assert_eq!(
        stats.sent, 6,
        "the buffered events and the first are delivered"
    );
    assert_eq!(stats.failed, 0);
}
