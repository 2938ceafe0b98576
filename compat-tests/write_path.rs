//! The write path under concurrency and faults: two instances on one database, deletes
//! racing batches, database errors by SQLSTATE class, a PostgreSQL restart mid-load,
//! OTLP refusals, worker panics, SIGTERM with a full queue and overload.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{json, Value};
use sqlx::Row;

use crate::helpers::*;

fn ev(id: &str, kind: &str, ts: &str, body: Value) -> Value {
    json!({"id": id, "type": kind, "timestamp": ts, "body": body})
}

async fn pool(url: &str) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .expect("test pool")
}

async fn ingest_status(app: &TestApp, batch: Vec<Value>) -> (u16, Value) {
    app.post("/api/public/ingestion", &json!({ "batch": batch }))
        .await
}

/// Two apps on one database with the same credentials.
async fn two_apps(database_url: &str) -> (TestApp, TestApp) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (pk, sk, token) = (
        format!("pk-lf-{id}"),
        format!("sk-lf-{id}"),
        format!("tok-{id}"),
    );
    let vars = [
        ("XTRACE_PUBLIC_KEY", pk.as_str()),
        ("XTRACE_SECRET_KEY", sk.as_str()),
        ("API_BEARER_TOKEN", token.as_str()),
    ];
    let a = spawn_app_on(database_url, &vars).await;
    let b = spawn_app_on(database_url, &vars).await;
    (a, b)
}

const T_CREATE: &str = "2026-03-01T10:00:00.000Z";
const T_UPDATE: &str = "2026-03-01T10:00:05.000Z";

/// Create and update events of entity `i`: the update has the later timestamp, so the
/// fold result does not depend on which arrives first.
fn entity_events(i: usize) -> (Vec<Value>, Vec<Value>) {
    let t = format!("race-t{i}");
    let o = format!("race-o{i}");
    let creates = vec![
        ev(
            &format!("c-{t}"),
            "trace-create",
            T_CREATE,
            json!({"id": t, "name": "created", "tags": ["a"], "metadata": {"k": {"x": 1}}, "input": "q"}),
        ),
        ev(
            &format!("c-{o}"),
            "generation-create",
            T_CREATE,
            json!({"id": o, "traceId": t, "name": "gen", "model": "gpt-4o", "startTime": T_CREATE,
                  "input": [{"role": "user", "content": "hi"}], "metadata": {"m": 1}}),
        ),
    ];
    let updates = vec![
        ev(
            &format!("u-{t}"),
            "trace-create",
            T_UPDATE,
            json!({"id": t, "name": "updated", "tags": ["b"], "metadata": {"k": {"y": 2}}, "output": "a"}),
        ),
        ev(
            &format!("u-{o}"),
            "generation-update",
            T_UPDATE,
            json!({"id": o, "endTime": T_UPDATE, "output": "hello", "usageDetails": {"input": 10, "output": 5},
                  "metadata": {"n": 2}}),
        ),
    ];
    (creates, updates)
}

/// Every column of every trace and observation (timestamps of the write itself and the
/// fold state left out), keyed by id.
async fn rows(url: &str) -> BTreeMap<String, Value> {
    let pool = pool(url).await;
    let mut out = BTreeMap::new();
    for (table, q) in [
        ("t", "select id, to_jsonb(t) - 'created_at' - 'updated_at' - 'fold_state' - 'fold_seq' - 'project_id' as r from traces t"),
        ("o", "select id, to_jsonb(o) - 'created_at' - 'updated_at' - 'fold_state' - 'fold_seq' - 'project_id' as r from observations o"),
    ] {
        for r in sqlx::query(q).fetch_all(&pool).await.unwrap() {
            let id: String = r.get("id");
            out.insert(format!("{table}:{id}"), r.get::<Value, _>("r"));
        }
    }
    out
}

#[tokio::test]
async fn two_instances_folding_the_same_entities_agree_with_one_instance() {
    let n: usize = std::env::var("XTRACE_RACE_ENTITIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let shared = fresh_database().await;
    let (a, b) = two_apps(&shared).await;
    // Creates through A and updates of the same entities through B, at the same moment,
    // in batches of 10 entities.
    let (mut to_a, mut to_b) = (Vec::new(), Vec::new());
    for chunk in (0..n).collect::<Vec<_>>().chunks(10) {
        let (mut c, mut u) = (Vec::new(), Vec::new());
        for &i in chunk {
            let (ci, ui) = entity_events(i);
            c.extend(ci);
            u.extend(ui);
        }
        to_a.push(ingest_status(&a, c));
        to_b.push(ingest_status(&b, u));
    }
    let (ra, rb) = tokio::join!(join_all(to_a), join_all(to_b));
    for (status, body) in ra.into_iter().chain(rb) {
        assert_eq!(status, 207, "{body}");
        assert_eq!(body["errors"], json!([]), "{body}");
    }
    // The same events through one instance, one after the other.
    let single = spawn_app().await;
    for i in 0..n {
        let (c, u) = entity_events(i);
        let (status, _) = ingest_status(&single, c).await;
        assert_eq!(status, 207);
        let (status, _) = ingest_status(&single, u).await;
        assert_eq!(status, 207);
    }
    let (got, want) = (rows(&shared).await, rows(&single.database_url).await);
    assert_eq!(got.len(), 2 * n, "one trace and one observation per entity");
    for (id, row) in &want {
        assert_eq!(
            got.get(id),
            Some(row),
            "{id} differs from the single-instance fold"
        );
    }
    let t = &want["t:race-t0"];
    assert_eq!(t["name"], "updated");
    assert_eq!(t["tags"], json!(["a", "b"]));
    assert_eq!(t["metadata"], json!({"k": {"x": 1, "y": 2}}));
    assert_eq!(want["o:race-o0"]["output"], "hello");
}

#[tokio::test]
async fn a_delete_racing_batches_never_brings_old_fields_back() {
    let shared = fresh_database().await;
    let (a, b) = two_apps(&shared).await;
    for round in 0..20 {
        let t = format!("del-{round}");
        let (status, _) = ingest_status(
            &a,
            vec![ev(&format!("c-{t}"), "trace-create", T_CREATE,
                    json!({"id": t, "name": "old", "userId": "old-user", "tags": ["old"], "metadata": {"old": true}}))],
        )
        .await;
        assert_eq!(status, 207);
        let updates = (0..5).map(|k| {
            let (b, t) = (&b, t.clone());
            async move {
                ingest_status(
                    b,
                    vec![ev(
                        &format!("u{k}-{t}"),
                        "trace-create",
                        T_UPDATE,
                        json!({"id": t, "metadata": {"new": k}}),
                    )],
                )
                .await
            }
        });
        let delete = async {
            a.send(
                "DELETE",
                &format!("/api/public/traces/{t}"),
                Some(&a.basic_auth()),
                None,
            )
            .await
        };
        let (results, (del_status, _)) = tokio::join!(join_all(updates), delete);
        assert_eq!(del_status, 200);
        for (status, _) in results {
            assert_eq!(status, 207);
        }
        let (status, trace) = a.get(&format!("/api/public/traces/{t}")).await;
        if status == 200 {
            // Only events that came after the delete may have made this row.
            assert_ne!(trace["name"], "old", "round {round}: {trace}");
            assert_ne!(trace["userId"], "old-user", "round {round}: {trace}");
            assert!(
                trace["metadata"].get("old").is_none(),
                "round {round}: {trace}"
            );
        } else {
            assert_eq!(status, 404);
        }
    }
}

/// Installs a trigger on `table` that raises SQLSTATE `code` for rows named `name`, the
/// first `times` times (or always when `times` is 0).
async fn raise_on(url: &str, table: &str, name: &str, code: &str, times: i64) {
    let pool = pool(url).await;
    sqlx::query("create sequence if not exists fault_calls")
        .execute(&pool)
        .await
        .unwrap();
    let f = format!("fault_{table}_{}", code.to_lowercase());
    sqlx::query(&format!(
        "create or replace function {f}() returns trigger language plpgsql as $$ \
         begin if new.name = '{name}' and ({times} = 0 or nextval('fault_calls') <= {times}) then \
         raise exception 'injected fault' using errcode = '{code}'; end if; return new; end $$"
    ))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "create trigger {f} before insert or update on {table} for each row execute function {f}()"
    ))
    .execute(&pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn transient_database_errors_are_retried_and_data_errors_fail_alone() {
    let app = spawn_app().await;
    // A serialization failure twice, then success: retried, stored, no error entry.
    raise_on(&app.database_url, "traces", "flaky", "40001", 2).await;
    let (status, body) = ingest_status(
        &app,
        vec![ev(
            "f1",
            "trace-create",
            T_CREATE,
            json!({"id": "flaky-1", "name": "flaky"}),
        )],
    )
    .await;
    assert_eq!(status, 207);
    assert_eq!(body["errors"], json!([]), "{body}");
    let (status, _) = app.get("/api/public/traces/flaky-1").await;
    assert_eq!(status, 200);

    // A data error (22023) is permanent: that request gets 500 entries, a neighbour in
    // the same batch window commits.
    raise_on(&app.database_url, "traces", "poison", "22023", 0).await;
    let bad = ingest_status(
        &app,
        vec![ev(
            "p1",
            "trace-create",
            T_CREATE,
            json!({"id": "poison-1", "name": "poison"}),
        )],
    );
    let good = ingest_status(
        &app,
        vec![ev(
            "g1",
            "trace-create",
            T_CREATE,
            json!({"id": "good-1", "name": "good"}),
        )],
    );
    let ((s1, b1), (s2, b2)) = tokio::join!(bad, good);
    assert_eq!((s1, s2), (207, 207));
    assert_eq!(b1["errors"][0]["status"], 500, "{b1}");
    assert_eq!(b2["errors"], json!([]), "{b2}");

    // Unavailable (57P03 every time): retried with back-off, then 503 + Retry-After.
    raise_on(&app.database_url, "traces", "down", "57P03", 0).await;
    let started = Instant::now();
    let res = app
        .client
        .post(app.url("/api/public/ingestion"))
        .header("Authorization", app.basic_auth())
        .json(&json!({"batch": [ev("d1", "trace-create", T_CREATE, json!({"id": "down-1", "name": "down"}))]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().get("retry-after").is_some());
    assert!(
        started.elapsed() > Duration::from_secs(2),
        "retried before giving up"
    );
}

fn otlp_export(trace_hex: &str, span_hex: &str, name: &str) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap() as u64;
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: hex::decode(trace_hex).unwrap(),
                    span_id: hex::decode(span_hex).unwrap(),
                    name: name.into(),
                    start_time_unix_nano: now,
                    end_time_unix_nano: now + 1_000_000,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

async fn post_otlp(app: &TestApp, body: Vec<u8>) -> reqwest::Response {
    app.client
        .post(app.url("/api/public/otel/v1/traces"))
        .header("Authorization", app.basic_auth())
        .header("Content-Type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn otlp_never_answers_2xx_for_spans_that_were_not_committed() {
    let app = spawn_app().await;
    raise_on(
        &app.database_url,
        "observations",
        "refused-span",
        "22023",
        0,
    )
    .await;
    raise_on(
        &app.database_url,
        "observations",
        "unavailable-span",
        "57P03",
        0,
    )
    .await;
    let refused = post_otlp(
        &app,
        otlp_export(
            "0af7651916cd43dd8448eb211c80319c",
            "b7ad6b7169203331",
            "refused-span",
        ),
    )
    .await;
    assert_eq!(refused.status(), 500, "a refused write is a 5xx");
    let down = post_otlp(
        &app,
        otlp_export(
            "1af7651916cd43dd8448eb211c80319c",
            "c7ad6b7169203331",
            "unavailable-span",
        ),
    )
    .await;
    assert_eq!(down.status(), 503);
    assert!(down.headers().get("retry-after").is_some());
    let ok = post_otlp(
        &app,
        otlp_export(
            "2af7651916cd43dd8448eb211c80319c",
            "d7ad6b7169203331",
            "fine",
        ),
    )
    .await;
    assert_eq!(ok.status(), 200);
    let (status, _) = app.get("/api/public/observations/d7ad6b7169203331").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_worker_panic_fails_only_its_batch_and_a_dead_writer_is_not_ready() {
    let app = spawn_app_with(&[("XTRACE_INGEST_WORKERS", "1")]).await;
    let boom = format!("boom-{}", uuid::Uuid::new_v4().simple());
    xtrace::ingest::worker::fault::panic_on_entity(Some(&boom));
    let res = app
        .client
        .post(app.url("/api/public/ingestion"))
        .header("Authorization", app.basic_auth())
        .json(&json!({"batch": [ev("b1", "trace-create", T_CREATE, json!({"id": boom}))]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500, "the panicking batch fails");
    // The worker goes on: the next request commits and the server is ready.
    let (status, body) = ingest_status(
        &app,
        vec![ev(
            "ok1",
            "trace-create",
            T_CREATE,
            json!({"id": "after-panic"}),
        )],
    )
    .await;
    assert_eq!(status, 207);
    assert_eq!(body["errors"], json!([]));
    let (status, _) = app.get("/readyz").await;
    assert_eq!(status, 200);

    // A writer that dies: its request fails, readiness turns red, writes answer 503.
    let fatal = format!("fatal-{}", uuid::Uuid::new_v4().simple());
    xtrace::ingest::worker::fault::kill_worker_on_entity(Some(&fatal));
    let res = app
        .client
        .post(app.url("/api/public/ingestion"))
        .header("Authorization", app.basic_auth())
        .json(&json!({"batch": [ev("k1", "trace-create", T_CREATE, json!({"id": fatal}))]}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_server_error(), "{}", res.status());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    let (status, _) = ingest_status(
        &app,
        vec![ev(
            "k2",
            "trace-create",
            T_CREATE,
            json!({"id": "after-death"}),
        )],
    )
    .await;
    assert_eq!(status, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_mid_load_is_retried_and_nothing_acknowledged_is_lost() {
    let dir = test_tmp_dir().join(format!("restart-{}", uuid::Uuid::new_v4().simple()));
    let pg = Cluster::start(dir);
    xtrace::pg::ensure_database(&pg.admin_url, "xtrace")
        .await
        .unwrap();
    let url = pg.admin_url.replace("/postgres", "/xtrace");
    let app = spawn_app_on(&url, &[]).await;
    let stop = Instant::now() + Duration::from_secs(6);
    let clients = (0..4).map(|c| {
        let app = &app;
        async move {
            let (mut acked, mut statuses) = (Vec::new(), BTreeMap::new());
            let mut i = 0;
            while Instant::now() < stop {
                i += 1;
                let id = format!("rs-{c}-{i}");
                let res = app
                    .client
                    .post(app.url("/api/public/ingestion"))
                    .header("Authorization", app.basic_auth())
                    .json(&json!({"batch": [ev(&id, "trace-create", T_CREATE, json!({"id": id}))]}))
                    .send()
                    .await;
                let Ok(res) = res else { continue };
                let status = res.status().as_u16();
                let body: Value = res.json().await.unwrap_or(Value::Null);
                let entry_500 = body["errors"].as_array().is_some_and(|e| !e.is_empty());
                *statuses.entry((status, entry_500)).or_insert(0) += 1;
                if status == 207 && !entry_500 {
                    acked.push(id);
                }
                if status == 503 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            (acked, statuses)
        }
    });
    let restart = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        pg.restart().await;
    };
    let (results, ()) = tokio::join!(join_all(clients), restart);
    let pool = pool(&url).await;
    let mut acked_total = 0;
    for (acked, statuses) in &results {
        for ((status, with_errors), n) in statuses {
            assert!(
                (*status == 207 && !with_errors) || *status == 503,
                "only commits and 503s, got {n} × {status} (error entries: {with_errors})"
            );
        }
        for id in acked {
            let found: i64 = sqlx::query_scalar("select count(*) from traces where id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(found, 1, "acknowledged {id} is stored");
        }
        acked_total += acked.len();
    }
    let all: Vec<_> = results.iter().map(|r| &r.1).collect();
    println!(
        "restart mid-load: {acked_total} acked; (status, error entries) counts per client: {all:?}"
    );
    assert!(acked_total > 0);
    pool.close().await;
}

/// A cluster of this test's own, owned by a thread that lives as long as the test (the
/// cluster stops when the thread that started it ends) and restarts it on request.
struct Cluster {
    admin_url: String,
    restart: std::sync::mpsc::Sender<tokio::sync::oneshot::Sender<()>>,
}

impl Cluster {
    fn start(dir: std::path::PathBuf) -> Self {
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let (restart, requests) = std::sync::mpsc::channel::<tokio::sync::oneshot::Sender<()>>();
        std::thread::spawn(move || {
            let mut pg = xtrace::pg::ManagedPostgres::start(&dir).expect("dedicated cluster");
            url_tx.send(pg.url("postgres")).unwrap();
            // Until the test drops its sender.
            while let Ok(done) = requests.recv() {
                pg.restart().expect("cluster restarts");
                let _ = done.send(());
            }
        });
        Cluster {
            admin_url: url_rx.recv().expect("cluster started"),
            restart,
        }
    }

    async fn restart(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.restart.send(done).unwrap();
        wait.await.unwrap();
    }
}

/// The real binary on `database_url` with fixed credentials; returns it and its base URL.
fn spawn_binary(
    database_url: &str,
    vars: &[(&str, &str)],
) -> (std::process::Child, String, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    spawn_binary_on(port, database_url, vars)
}

/// [`spawn_binary`] on a given port (to restart a killed server where clients expect it).
fn spawn_binary_on(
    port: u16,
    database_url: &str,
    vars: &[(&str, &str)],
) -> (std::process::Child, String, String) {
    let dir = test_tmp_dir().join(format!("bin-{}", uuid::Uuid::new_v4().simple()));
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_xtrace"));
    for v in [
        "LANGFUSE_PUBLIC_KEY",
        "LANGFUSE_SECRET_KEY",
        "LANGFUSE_INIT_PROJECT_ID",
    ] {
        cmd.env_remove(v);
    }
    cmd.env("DATABASE_URL", database_url)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("XTRACE_DATA_DIR", &dir)
        .env("API_BEARER_TOKEN", "bin-token")
        .env("XTRACE_PUBLIC_KEY", "pk-lf-bin")
        .env("XTRACE_SECRET_KEY", "sk-lf-bin")
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("xtrace binary starts");
    let base = format!("http://127.0.0.1:{port}");
    // Ready once migrated and provisioned: the port listens before that.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        use std::io::{Read, Write};
        let ready = std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .and_then(|mut c| {
                c.write_all(b"GET /readyz HTTP/1.0\r\n\r\n").ok()?;
                let mut answer = String::new();
                c.read_to_string(&mut answer).ok()?;
                Some(answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"))
            })
            .unwrap_or(false);
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "binary did not become ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, base, basic("pk-lf-bin", "sk-lf-bin"))
}

fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_with_a_full_queue_commits_or_refuses_everything_queued() {
    let url = fresh_database().await;
    let (mut child, base, auth) = spawn_binary(
        &url,
        &[
            ("XTRACE_INGEST_WORKERS", "1"),
            ("XTRACE_INGEST_MAX_BATCH", "2"),
        ],
    );
    let pool = pool(&url).await;
    // Hold the worker on its first batch so requests pile up in the queue.
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("lock table traces in access exclusive mode")
        .execute(&mut *lock)
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let sends: Vec<_> = (0..40)
        .map(|i| {
            let (client, base, auth) = (client.clone(), base.clone(), auth.clone());
            tokio::spawn(async move {
                let id = format!("term-{i}");
                let res = client
                    .post(format!("{base}/api/public/ingestion"))
                    .header("Authorization", auth)
                    .json(&json!({"batch": [ev(&id, "trace-create", T_CREATE, json!({"id": id}))]}))
                    .send()
                    .await;
                let ok = match res {
                    Ok(r) if r.status().as_u16() == 207 => r
                        .json::<Value>()
                        .await
                        .is_ok_and(|b| b["errors"] == json!([])),
                    _ => false,
                };
                (id, ok)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    lock.rollback().await.unwrap();
    let mut acked = Vec::new();
    for s in sends {
        let (id, ok) = s.await.unwrap();
        if ok {
            acked.push(id);
        }
    }
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "clean exit: {status}");
    assert!(
        !acked.is_empty(),
        "queued requests were committed during shutdown"
    );
    for id in &acked {
        let n: i64 = sqlx::query_scalar("select count(*) from traces where id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 1, "acknowledged {id} is stored");
    }
}

/// Overload: many more clients than the byte budget admits. Memory stays bounded,
/// overflow is answered 503, everything acknowledged is stored, latency recovers.
/// `XTRACE_OVERLOAD_SECS` lengthens it (README: full-length figures).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overload_keeps_memory_bounded_and_loses_nothing_acknowledged() {
    let secs: u64 = std::env::var("XTRACE_OVERLOAD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let url = fresh_database().await;
    let (mut child, base, auth) = spawn_binary(
        &url,
        &[
            ("XTRACE_INGEST_MAX_BYTES_IN_FLIGHT", "8388608"),
            ("XTRACE_MAX_BODY_BYTES", "1048576"),
        ],
    );
    let pid = child.id();
    let filler = "x".repeat(6000);
    let client = reqwest::Client::new();
    let stop = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..64)
        .map(|c| {
            let (client, base, auth, filler) =
                (client.clone(), base.clone(), auth.clone(), filler.clone());
            tokio::spawn(async move {
                let (mut acked, mut refused, mut i) = (Vec::new(), 0, 0);
                while Instant::now() < stop {
                    i += 1;
                    let batch: Vec<Value> = (0..60)
                        .map(|k| {
                            let id = format!("ov-{c}-{i}-{k}");
                            ev(
                                &id,
                                "trace-create",
                                T_CREATE,
                                json!({"id": id, "input": filler}),
                            )
                        })
                        .collect();
                    match client
                        .post(format!("{base}/api/public/ingestion"))
                        .header("Authorization", &auth)
                        .json(&json!({ "batch": batch }))
                        .send()
                        .await
                    {
                        Ok(r) if r.status().as_u16() == 207 => {
                            let body: Value = r.json().await.unwrap_or(Value::Null);
                            if body["errors"] == json!([]) {
                                acked.push(format!("ov-{c}-{i}-"));
                            }
                        }
                        Ok(r) => {
                            assert_eq!(r.status().as_u16(), 503, "overflow is a 503");
                            assert!(r.headers().get("retry-after").is_some());
                            refused += 1;
                        }
                        Err(_) => refused += 1,
                    }
                }
                (acked, refused)
            })
        })
        .collect();
    let (mut acked, mut refused) = (Vec::new(), 0);
    for t in tasks {
        let (a, r) = t.await.unwrap();
        acked.extend(a);
        refused += r;
    }
    let peak = peak_rss_mb(pid);
    // Latency recovers: single requests right after the burst are quick.
    let mut worst = Duration::ZERO;
    for i in 0..5 {
        let id = format!("after-{i}");
        let t = Instant::now();
        let r = client
            .post(format!("{base}/api/public/ingestion"))
            .header("Authorization", &auth)
            .json(&json!({"batch": [ev(&id, "trace-create", T_CREATE, json!({"id": id}))]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 207);
        worst = worst.max(t.elapsed());
    }
    let pool = pool(&url).await;
    for prefix in &acked {
        let n: i64 = sqlx::query_scalar("select count(*) from traces where id like $1")
            .bind(format!("{prefix}%"))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 60, "acknowledged batch {prefix} is stored whole");
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    println!(
        "overload: {} batches acked, {refused} refused, server peak RSS {peak:.1} MB, \
         worst latency after the burst {:.0} ms",
        acked.len(),
        worst.as_secs_f64() * 1e3
    );
    assert!(!acked.is_empty());
    assert!(refused > 0, "the burst exceeded the budget");
    assert!(peak < 160.0, "peak RSS {peak:.1} MB over the 160 MB bound");
    assert!(
        worst < Duration::from_secs(2),
        "latency recovered: {worst:?}"
    );
}

/// SIGKILL under load, several times: every request the server acknowledged before it was
/// killed is stored (acks come after commit). `XTRACE_KILL_ROUNDS` lengthens it (README:
/// full-length figures).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_nothing_acknowledged() {
    let rounds: usize = std::env::var("XTRACE_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let url = fresh_database().await;
    let (child, base, auth) = spawn_binary(&url, &[]);
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|c| {
            let (client, base, auth, stop) =
                (client.clone(), base.clone(), auth.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut acked, mut sent) = (Vec::new(), 0usize);
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    sent += 1;
                    let batch: Vec<Value> = (0..20)
                        .map(|k| {
                            let id = format!("kill-{c}-{i}-{k}");
                            ev(
                                &id,
                                "trace-create",
                                T_CREATE,
                                json!({"id": id, "input": "x"}),
                            )
                        })
                        .collect();
                    let res = client
                        .post(format!("{base}/api/public/ingestion"))
                        .header("Authorization", &auth)
                        .json(&json!({ "batch": batch }))
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status().as_u16() == 207 => {
                            if r.json::<Value>()
                                .await
                                .is_ok_and(|b| b["errors"] == json!([]))
                            {
                                acked.push(format!("kill-{c}-{i}-"));
                            }
                        }
                        _ => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
                (acked, sent)
            })
        })
        .collect();
    let mut child = child;
    let started = Instant::now();
    let mut downtime = Duration::ZERO;
    for _ in 0..rounds {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let killed = Instant::now();
        let url = url.clone();
        let (next, _, _) = tokio::task::spawn_blocking(move || spawn_binary_on(port, &url, &[]))
            .await
            .unwrap();
        downtime += killed.elapsed();
        child = next;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut acked, mut sent) = (Vec::new(), 0);
    for t in tasks {
        let (a, s) = t.await.unwrap();
        acked.extend(a);
        sent += s;
    }
    let _ = child.kill();
    let _ = child.wait();
    let pool = pool(&url).await;
    for prefix in &acked {
        let n: i64 = sqlx::query_scalar("select count(*) from traces where id like $1")
            .bind(format!("{prefix}%"))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 20, "acknowledged batch {prefix} is stored whole");
    }
    println!(
        "sigkill: {rounds} kills under load in {:.1} s, {sent} batches sent, {} acknowledged, \
         all {} stored; restart to ready {:.0} ms on average",
        started.elapsed().as_secs_f64(),
        acked.len(),
        acked.len(),
        downtime.as_secs_f64() * 1e3 / rounds.max(1) as f64
    );
    assert!(acked.len() > rounds, "load kept flowing between kills");
}
