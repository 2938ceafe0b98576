//! Write-path benchmark: concurrent clients send realistic batches (10 traces, 30
//! observations, about 100 KB) through `POST /api/public/ingestion` and through OTLP
//! protobuf (`POST /api/public/otel/v1/traces`), and the same rows are written with
//! PostgreSQL `COPY` over 2 connections into a fresh database with the same schema: the
//! ceiling. Prints committed observations/s of each, the ratio to the ceiling, ack
//! latency percentiles and the server's peak RSS.
//!
//! ```text
//! cargo run --release --example bench_ingest -- [--clients 16] [--seconds 20]
//!     [--mode all|ingestion|otlp|copy]
//! ```
//! The server runs as a child process (this program re-executed with `--serve`) on a
//! throw-away managed PostgreSQL (or `DATABASE_URL`'s server when set; two databases are
//! created there), so its RSS is its own.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde_json::{json, Value};

const PK: &str = "pk-lf-bench";
const SK: &str = "sk-lf-bench";
const TRACES_PER_BATCH: usize = 10;
/// Placeholder of the per-request part of every id in a body template.
const TAG: &str = "@@TAG@@";

struct Args {
    clients: usize,
    seconds: u64,
    mode: String,
}

fn parse_args() -> Args {
    let mut args = Args {
        clients: 16,
        seconds: 20,
        mode: "all".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--clients" => args.clients = val().parse().expect("--clients N"),
            "--seconds" => args.seconds = val().parse().expect("--seconds N"),
            "--mode" => args.mode = val(),
            other => {
                eprintln!("unknown argument {other}; usage: bench_ingest [--clients N] [--seconds N] [--mode all|ingestion|otlp|copy]");
                std::process::exit(2);
            }
        }
    }
    args
}

/// Deterministic filler text of about `n` bytes (words, so it compresses like prose).
fn text(seed: usize, n: usize) -> String {
    const WORDS: &[&str] = &[
        "latency",
        "model",
        "token",
        "answer",
        "question",
        "context",
        "retrieval",
        "user",
        "system",
        "assistant",
        "vector",
        "search",
        "prompt",
        "stream",
        "chunk",
        "result",
        "policy",
        "invoice",
        "customer",
        "refund",
        "shipping",
        "order",
        "status",
        "delay",
    ];
    let mut s = String::with_capacity(n + 16);
    let mut x = seed as u64 * 2_654_435_761 + 1;
    while s.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(WORDS[(x % WORDS.len() as u64) as usize]);
        s.push(if x % 11 == 0 { '.' } else { ' ' });
    }
    s
}

/// One trace of a batch: what every encoder writes.
struct TraceData {
    trace_id: String,
    user: String,
    session: String,
    question: String,
    context: String,
    answer: String,
    input_tokens: u64,
    output_tokens: u64,
}

fn trace_data(tag: &str, i: usize) -> TraceData {
    TraceData {
        trace_id: format!("{tag}-t{i}"),
        user: format!("user-{}", i % 7),
        session: format!("{tag}-s{}", i / 5),
        question: text(i, 600),
        context: text(i + 1000, 3600),
        answer: text(i + 2000, 1400),
        input_tokens: 900 + i as u64,
        output_tokens: 300 + i as u64,
    }
}

fn ingestion_batch(tag: &str, now: &str, later: &str) -> Vec<u8> {
    let mut batch = Vec::new();
    for i in 0..TRACES_PER_BATCH {
        let t = trace_data(tag, i);
        let ev = |k: &str| format!("{}-{k}", t.trace_id);
        let (span, gen, retr) = (ev("span"), ev("gen"), ev("retr"));
        batch.push(
            json!({"id": ev("e1"), "type": "trace-create", "timestamp": now,
            "body": {"id": t.trace_id, "name": "rag-chat", "userId": t.user, "sessionId": t.session,
                     "tags": ["bench", "rag"], "release": "v1.2.3", "environment": "production",
                     "metadata": {"tenant": "acme", "region": "eu-west-1"},
                     "input": {"question": t.question}}}),
        );
        batch.push(
            json!({"id": ev("e2"), "type": "span-create", "timestamp": now,
            "body": {"id": span, "traceId": t.trace_id, "name": "handle-request", "startTime": now,
                     "input": {"question": t.question}, "metadata": {"step": "root"}}}),
        );
        batch.push(
            json!({"id": ev("e3"), "type": "retriever-create", "timestamp": now,
            "body": {"id": retr, "traceId": t.trace_id, "parentObservationId": span,
                     "name": "vector-search", "startTime": now, "endTime": later,
                     "input": {"query": t.question}, "output": {"documents": [t.context]}}}),
        );
        batch.push(json!({"id": ev("e4"), "type": "generation-create", "timestamp": now,
            "body": {"id": gen, "traceId": t.trace_id, "parentObservationId": span, "name": "llm",
                     "model": "gpt-4o-mini", "startTime": now,
                     "modelParameters": {"temperature": 0.2, "max_tokens": 512},
                     "input": [{"role": "system", "content": "Answer from the context."},
                               {"role": "user", "content": format!("{}\n\n{}", t.context, t.question)}]}}));
        batch.push(
            json!({"id": ev("e5"), "type": "generation-update", "timestamp": later,
            "body": {"id": gen, "endTime": later, "completionStartTime": now,
                     "output": {"role": "assistant", "content": t.answer},
                     "usageDetails": {"input": t.input_tokens, "output": t.output_tokens}}}),
        );
        batch.push(
            json!({"id": ev("e6"), "type": "span-update", "timestamp": later,
            "body": {"id": span, "endTime": later, "output": {"answer": t.answer}}}),
        );
        batch.push(
            json!({"id": ev("e7"), "type": "trace-create", "timestamp": later,
            "body": {"id": t.trace_id, "output": {"answer": t.answer}}}),
        );
    }
    serde_json::to_vec(&json!({"batch": batch})).expect("JSON")
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn otlp_batch(tag: &str, client: usize, seq: u64, start_ns: u64) -> Vec<u8> {
    let mut spans = Vec::new();
    for i in 0..TRACES_PER_BATCH {
        let t = trace_data(tag, i);
        let mut trace_id = [0u8; 16];
        trace_id[..8].copy_from_slice(&seq.to_be_bytes());
        trace_id[8..12].copy_from_slice(&(client as u32).to_be_bytes());
        trace_id[12..].copy_from_slice(&(i as u32).to_be_bytes());
        let sid = |k: u8| {
            let mut s = [0u8; 8];
            s[..2].copy_from_slice(&(i as u16).to_be_bytes());
            s[2] = k;
            s[3] = client as u8;
            s[4..].copy_from_slice(&(seq as u32).to_be_bytes());
            s.to_vec()
        };
        let end_ns = start_ns + 1_500_000_000;
        let span = |id: Vec<u8>, parent: Vec<u8>, name: &str, attrs: Vec<KeyValue>| Span {
            trace_id: trace_id.to_vec(),
            span_id: id,
            parent_span_id: parent,
            name: name.into(),
            start_time_unix_nano: start_ns,
            end_time_unix_nano: end_ns,
            attributes: attrs,
            ..Default::default()
        };
        let question = json!({"question": t.question}).to_string();
        let answer = json!({"answer": t.answer}).to_string();
        spans.push(span(
            sid(1),
            Vec::new(),
            "handle-request",
            vec![
                kv("langfuse.trace.name", "rag-chat"),
                kv("user.id", &t.user),
                kv("session.id", &t.session),
                kv("langfuse.release", "v1.2.3"),
                kv("langfuse.environment", "production"),
                kv("langfuse.observation.input", &question),
                kv("langfuse.observation.output", &answer),
                kv("langfuse.trace.input", &question),
                kv("langfuse.trace.output", &answer),
            ],
        ));
        spans.push(span(
            sid(2),
            sid(1),
            "vector-search",
            vec![
                kv("langfuse.observation.type", "retriever"),
                kv(
                    "langfuse.observation.input",
                    &json!({"query": t.question}).to_string(),
                ),
                kv(
                    "langfuse.observation.output",
                    &json!({"documents": [t.context]}).to_string(),
                ),
            ],
        ));
        spans.push(span(
            sid(3),
            sid(1),
            "llm",
            vec![
                kv("langfuse.observation.type", "generation"),
                kv("langfuse.observation.model.name", "gpt-4o-mini"),
                kv(
                    "langfuse.observation.model.parameters",
                    r#"{"temperature":0.2,"max_tokens":512}"#,
                ),
                kv(
                    "langfuse.observation.input",
                    &json!([{"role": "system", "content": "Answer from the context."},
                            {"role": "user", "content": format!("{}\n\n{}", t.context, t.question)}])
                    .to_string(),
                ),
                kv(
                    "langfuse.observation.output",
                    &json!({"role": "assistant", "content": t.answer}).to_string(),
                ),
                kv(
                    "langfuse.observation.usage_details",
                    &json!({"input": t.input_tokens, "output": t.output_tokens}).to_string(),
                ),
            ],
        ));
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "bench")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "langfuse-sdk".into(),
                    version: "3.0.0".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct LoadResult {
    requests: usize,
    failed: usize,
    elapsed: f64,
    latencies: Vec<Duration>,
    peak_rss_kib: u64,
    body_bytes: usize,
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn load(base: &str, otlp: bool, args: &Args, server_pid: u32) -> LoadResult {
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{PK}:{SK}"))
    );
    let client = reqwest::Client::new();
    let url = if otlp {
        format!("{base}/api/public/otel/v1/traces")
    } else {
        format!("{base}/api/public/ingestion")
    };
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mode = if otlp { "otlp" } else { "ing" };
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let (client, url, auth) = (client.clone(), url.clone(), auth.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut failed, mut bytes) = (Vec::new(), 0usize, 0usize);
            let mut seq = 0u64;
            let now = chrono::Utc::now();
            let fmt = |t: chrono::DateTime<chrono::Utc>| {
                t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            };
            let (t0, t1) = (fmt(now), fmt(now + chrono::Duration::milliseconds(1500)));
            let start_ns = now.timestamp_nanos_opt().unwrap_or(0) as u64;
            let template = String::from_utf8(ingestion_batch(TAG, &t0, &t1)).expect("UTF-8");
            while Instant::now() < deadline {
                seq += 1;
                let tag = format!("{mode}{c}x{seq}");
                let (body, ct) = if otlp {
                    (otlp_batch(&tag, c, seq, start_ns), "application/x-protobuf")
                } else {
                    // The body is serialised once per client; each request only swaps ids,
                    // so the load generator leaves the cores to the server.
                    (template.replace(TAG, &tag).into_bytes(), "application/json")
                };
                bytes += body.len();
                let t = Instant::now();
                let res = client
                    .post(&url)
                    .header("Authorization", &auth)
                    .header("Content-Type", ct)
                    .body(body)
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status().is_success() => {
                        let status = r.status().as_u16();
                        let text = r.bytes().await.unwrap_or_default();
                        let ok = status != 207
                            || serde_json::from_slice::<Value>(&text)
                                .ok()
                                .and_then(|v| v["errors"].as_array().map(Vec::is_empty))
                                .unwrap_or(false);
                        if ok {
                            latencies.push(t.elapsed());
                        } else {
                            failed += 1;
                        }
                    }
                    Ok(r) => {
                        failed += 1;
                        if r.status().as_u16() == 503 {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                    Err(_) => failed += 1,
                }
            }
            (latencies, failed, bytes)
        }));
    }
    let mut peak = 0;
    let sampler = {
        let stop = deadline + Duration::from_secs(1);
        async move {
            while Instant::now() < stop {
                peak = peak.max(rss_kib(server_pid, "VmRSS:"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        }
    };
    let sampled = tokio::spawn(sampler);
    let mut out = LoadResult {
        requests: 0,
        failed: 0,
        elapsed: 0.0,
        latencies: Vec::new(),
        peak_rss_kib: 0,
        body_bytes: 0,
    };
    for t in tasks {
        let (l, f, b) = t.await.expect("client task");
        out.requests += l.len();
        out.latencies.extend(l);
        out.failed += f;
        out.body_bytes += b;
    }
    out.elapsed = started.elapsed().as_secs_f64();
    out.peak_rss_kib = sampled.await.unwrap_or(0);
    out.latencies.sort();
    out
}

async fn count_observations(url: &str, like: &str) -> anyhow::Result<i64> {
    let pool = sqlx::PgPool::connect(url).await?;
    let n: i64 = sqlx::query_scalar("select count(*) from observations where id like $1")
        .bind(like)
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    Ok(n)
}

/// A checkpoint between phases, so one phase's writes are not flushed during the next.
async fn checkpoint(url: &str) -> anyhow::Result<()> {
    let pool = sqlx::PgPool::connect(url).await?;
    sqlx::query("checkpoint").execute(&pool).await?;
    pool.close().await;
    Ok(())
}

fn copy_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

/// The rows one batch stores, in COPY text format: (traces, observations).
fn copy_rows(tag: &str, now: &str, later: &str) -> (String, String) {
    let (mut traces, mut obs) = (String::new(), String::new());
    let j = |v: Value| copy_escape(&v.to_string());
    for i in 0..TRACES_PER_BATCH {
        let t = trace_data(tag, i);
        traces.push_str(&format!(
            "bench\t{}\t{now}\trag-chat\t{}\t{}\tv1.2.3\tproduction\t{{bench,rag}}\t{}\t{}\t{}\n",
            t.trace_id,
            t.user,
            t.session,
            j(json!({"question": t.question})),
            j(json!({"answer": t.answer})),
            j(json!({"tenant": "acme", "region": "eu-west-1"})),
        ));
        let row = |id: String,
                   parent: &str,
                   kind: &str,
                   name: &str,
                   input: Value,
                   output: Value,
                   model: &str,
                   usage: Value| {
            format!(
                "bench\t{id}\t{}\t{parent}\t{kind}\t{name}\t{now}\t{later}\tproduction\tDEFAULT\t{}\t{}\t{{}}\t{model}\t{}\t{}\t{}\n",
                t.trace_id,
                j(input),
                j(output),
                j(usage.clone()),
                j(usage),
                j(json!({})),
            )
        };
        let span = format!("{}-span", t.trace_id);
        obs.push_str(&row(
            span.clone(),
            "\\N",
            "SPAN",
            "handle-request",
            json!({"question": t.question}),
            json!({"answer": t.answer}),
            "\\N",
            json!({}),
        ));
        obs.push_str(&row(
            format!("{}-retr", t.trace_id),
            &span,
            "RETRIEVER",
            "vector-search",
            json!({"query": t.question}),
            json!({"documents": [t.context]}),
            "\\N",
            json!({}),
        ));
        obs.push_str(&row(
            format!("{}-gen", t.trace_id),
            &span,
            "GENERATION",
            "llm",
            json!([{"role": "system", "content": "Answer from the context."},
                   {"role": "user", "content": format!("{}\n\n{}", t.context, t.question)}]),
            json!({"role": "assistant", "content": t.answer}),
            "gpt-4o-mini",
            json!({"input": t.input_tokens, "output": t.output_tokens, "total": t.input_tokens + t.output_tokens}),
        ));
    }
    (traces, obs)
}

/// COPY of the same rows into `url` (same schema) over 2 connections for `seconds`.
async fn copy_ceiling(url: &str, seconds: u64) -> anyhow::Result<(f64, usize)> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let later = (chrono::Utc::now() + chrono::Duration::milliseconds(1500))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut tasks = Vec::new();
    for c in 0..2 {
        let (url, now, later) = (url.to_string(), now.clone(), later.clone());
        tasks.push(tokio::spawn(async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await?;
            let mut n = 0usize;
            let mut seq = 0;
            let (t_template, o_template) = copy_rows(TAG, &now, &later);
            while Instant::now() < deadline {
                // 16 batches per COPY pair (one transaction each, like a group commit).
                let (mut tr, mut ob) = (String::new(), String::new());
                for _ in 0..16 {
                    seq += 1;
                    let tag = format!("copy{c}x{seq}");
                    tr.push_str(&t_template.replace(TAG, &tag));
                    ob.push_str(&o_template.replace(TAG, &tag));
                    n += TRACES_PER_BATCH * 3;
                }
                let mut tx = conn.begin().await?;
                let mut cp = tx
                    .copy_in_raw(
                        "copy traces (project_id, id, timestamp, name, user_id, session_id, \
                         release, environment, tags, input, output, metadata) from stdin",
                    )
                    .await?;
                cp.send(tr.as_bytes()).await?;
                cp.finish().await?;
                let mut cp = tx
                    .copy_in_raw(
                        "copy observations (project_id, id, trace_id, parent_observation_id, \
                         type, name, start_time, end_time, environment, level, input, output, \
                         metadata, model, provided_usage_details, usage_details, cost_details) \
                         from stdin",
                    )
                    .await?;
                cp.send(ob.as_bytes()).await?;
                cp.finish().await?;
                tx.commit().await?;
            }
            anyhow::Ok(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok((total as f64 / started.elapsed().as_secs_f64(), total))
}

fn spawn_server(url: &str, dir: &std::path::Path) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("--serve")
        .arg(url)
        .arg(dir)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let port = loop {
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(p) = l.trim().strip_prefix("PORT ") {
                    break p.to_string();
                }
            }
            _ => anyhow::bail!("the server did not start"),
        }
    };
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Ok((child, format!("http://127.0.0.1:{port}")))
}

/// The child: xtrace on `url`, printing its port.
fn serve(url: &str, dir: &str) -> anyhow::Result<()> {
    let vars = [
        ("BIND_ADDR", "127.0.0.1:0"),
        ("XTRACE_DATA_DIR", dir),
        ("API_BEARER_TOKEN", "bench-token"),
        ("XTRACE_PUBLIC_KEY", PK),
        ("XTRACE_SECRET_KEY", SK),
        ("DEFAULT_PROJECT_ID", "bench"),
        ("RUST_LOG", "warn"),
    ];
    let config = xtrace::config::Config::from_lookup(|k| {
        std::env::var(k)
            .ok()
            .or_else(|| vars.iter().find(|v| v.0 == k).map(|v| v.1.to_string()))
    })?;
    xtrace::telemetry::init(false);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let app = xtrace::startup::Application::build(config, url).await?;
        println!("PORT {}", app.port());
        std::io::stdout().flush()?;
        app.run_until_stopped().await?;
        anyhow::Ok(())
    })
}

fn report(name: &str, r: &LoadResult, stored: i64, ceiling: Option<f64>) -> f64 {
    let rate = stored as f64 / r.elapsed;
    let ratio = ceiling.map_or(String::new(), |c| format!(" = {:.2} of COPY", rate / c));
    println!(
        "{name}: {stored} observations committed in {:.1} s = {rate:.0} obs/s{ratio}; \
         {} requests acked ({:.0} KB avg body), {} failed; ack p50 {:.1} ms, p99 {:.1} ms, \
         max {:.1} ms; server peak RSS {:.1} MB",
        r.elapsed,
        r.requests,
        r.body_bytes as f64 / (r.requests + r.failed).max(1) as f64 / 1024.0,
        r.failed,
        percentile(&r.latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&r.latencies, 0.99).as_secs_f64() * 1e3,
        r.latencies
            .last()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3,
        r.peak_rss_kib as f64 / 1024.0,
    );
    rate
}

fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--serve") {
        return serve(&argv[2], &argv[3]);
    }
    let args = parse_args();
    let dir = std::env::temp_dir().join(format!("xtrace-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut managed = None;
    let admin = match std::env::var("DATABASE_URL") {
        Ok(u) => u,
        Err(_) => {
            let pg = xtrace::pg::ManagedPostgres::start(&dir.join("pg"))?;
            let url = pg.url("postgres");
            managed = Some(pg);
            url
        }
    };
    let rt = tokio::runtime::Runtime::new()?;
    let result = rt.block_on(async {
        let base_url = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin.clone());
        let (app_url, copy_url) = (format!("{base_url}/bench_app"), format!("{base_url}/bench_copy"));
        xtrace::pg::ensure_database(&admin, "bench_app").await?;
        xtrace::pg::ensure_database(&admin, "bench_copy").await?;
        let pool = xtrace::db::connect(&copy_url, 2).await?;
        xtrace::db::migrate(&pool).await?;
        pool.close().await;

        println!(
            "bench_ingest: {} clients, {} s per phase, batches of {TRACES_PER_BATCH} traces / {} observations, {} cores",
            args.clients,
            args.seconds,
            TRACES_PER_BATCH * 3,
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        let mut ceiling = None;
        if args.mode == "all" || args.mode == "copy" {
            let (rate, n) = copy_ceiling(&copy_url, args.seconds).await?;
            println!("COPY ceiling (2 connections, same rows, same schema): {n} observations = {rate:.0} obs/s");
            ceiling = Some(rate);
            // The next phase must not pay for this one's dirty pages.
            checkpoint(&admin).await?;
        }
        let (mut child, base) = spawn_server(&app_url, &dir.join("app"))?;
        let pid = child.id();
        let run = async {
            for (name, otlp, like) in [
                ("POST /api/public/ingestion", false, "ing%"),
                ("OTLP protobuf", true, "%"),
            ] {
                if !(args.mode == "all" || (args.mode == "ingestion" && !otlp) || (args.mode == "otlp" && otlp)) {
                    continue;
                }
                let before = count_observations(&app_url, like).await?;
                let r = load(&base, otlp, &args, pid).await;
                let stored = count_observations(&app_url, like).await? - before;
                report(name, &r, stored, ceiling);
                checkpoint(&admin).await?;
            }
            println!("server peak RSS over the run (VmHWM): {:.1} MB", rss_kib(pid, "VmHWM:") as f64 / 1024.0);
            anyhow::Ok(())
        };
        let r = run.await;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = child.wait();
        r
    });
    drop(rt);
    if let Some(mut pg) = managed {
        pg.stop();
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}
