//! Load test of `POST /api/public/ingestion`: concurrent clients send batches of
//! Langfuse events (a trace, a generation create and its update per trace) for a while,
//! then events/s and request latency percentiles are printed.
//!
//! ```text
//! cargo run --release --example bench_ingest -- [<base_url> <public_key> <secret_key>]
//!     [--clients 16] [--batch 60] [--seconds 10]
//! ```
//! Without a server address it starts xtrace itself on a throw-away managed PostgreSQL
//! (or on `DATABASE_URL` when set).

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

struct Args {
    target: Option<(String, String, String)>,
    clients: usize,
    batch: usize,
    seconds: u64,
}

fn parse_args() -> Args {
    let mut positional = Vec::new();
    let mut args = Args {
        target: None,
        clients: 16,
        batch: 60,
        seconds: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match a.as_str() {
            "--clients" => args.clients = num("--clients") as usize,
            "--batch" => args.batch = num("--batch") as usize,
            "--seconds" => args.seconds = num("--seconds"),
            _ => positional.push(a),
        }
    }
    if positional.len() == 3 {
        args.target = Some((
            positional[0].trim_end_matches('/').to_string(),
            positional[1].clone(),
            positional[2].clone(),
        ));
    } else if !positional.is_empty() {
        eprintln!("usage: bench_ingest [<base_url> <public_key> <secret_key>] [--clients N] [--batch N] [--seconds N]");
        std::process::exit(2);
    }
    args
}

/// A batch of `n` events: per trace a trace-create, a generation-create and an update.
fn batch(n: usize, client: usize, seq: u64) -> Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut events = Vec::with_capacity(n);
    let mut i = 0;
    while events.len() < n {
        let trace = format!("bench-{client}-{seq}-{i}");
        let gen = format!("{trace}-gen");
        let id = |k: &str| format!("{trace}-{k}");
        events.push(
            json!({"id": id("e1"), "type": "trace-create", "timestamp": now,
            "body": {"id": trace, "name": "bench", "userId": "u", "tags": ["bench"],
                     "input": {"question": "How fast is it?"}}}),
        );
        events.push(
            json!({"id": id("e2"), "type": "generation-create", "timestamp": now,
            "body": {"id": gen, "traceId": trace, "name": "llm", "model": "gpt-4o-mini",
                     "startTime": now, "input": [{"role": "user", "content": "How fast is it?"}]}}),
        );
        events.push(
            json!({"id": id("e3"), "type": "generation-update", "timestamp": now,
            "body": {"id": gen, "endTime": now, "output": {"role": "assistant", "content": "fast"},
                     "usageDetails": {"input": 12, "output": 3}}}),
        );
        i += 1;
    }
    events.truncate(n);
    json!({"batch": events})
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn run(base: String, pk: String, sk: String, args: &Args) -> anyhow::Result<()> {
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{pk}:{sk}"))
    );
    let client = reqwest::Client::new();
    let url = format!("{base}/api/public/ingestion");
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let (client, url, auth, n) = (client.clone(), url.clone(), auth.clone(), args.batch);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut events, mut failures) = (0usize, 0usize);
            let mut seq = 0;
            while Instant::now() < deadline {
                seq += 1;
                let body = batch(n, c, seq);
                let t = Instant::now();
                let res = client
                    .post(&url)
                    .header("Authorization", &auth)
                    .json(&body)
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status().as_u16() == 207 => {
                        let v: Value = r.json().await.unwrap_or(Value::Null);
                        latencies.push(t.elapsed());
                        events += v["successes"].as_array().map_or(0, Vec::len);
                        failures += v["errors"].as_array().map_or(0, Vec::len);
                    }
                    Ok(r) => {
                        failures += n;
                        if r.status().as_u16() == 503 {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                    Err(_) => failures += n,
                }
            }
            (latencies, events, failures)
        }));
    }
    let (mut latencies, mut events, mut failures) = (Vec::new(), 0, 0);
    for t in tasks {
        let (l, e, f) = t.await?;
        latencies.extend(l);
        events += e;
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "{} clients x {} events/request for {:.1} s: {} requests, {} events stored, {} failed",
        args.clients,
        args.batch,
        elapsed,
        latencies.len(),
        events,
        failures
    );
    println!(
        "throughput: {:.0} events/s, {:.1} requests/s",
        events as f64 / elapsed,
        latencies.len() as f64 / elapsed
    );
    println!(
        "latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = parse_args();
    if let Some((base, pk, sk)) = args.target.clone() {
        let rt = tokio::runtime::Runtime::new()?;
        return rt.block_on(run(base, pk, sk, &args));
    }
    // Our own server: managed PostgreSQL in a temporary directory unless DATABASE_URL.
    let dir = std::env::temp_dir().join(format!("xtrace-bench-{}", std::process::id()));
    let mut managed = None;
    let url = match std::env::var("DATABASE_URL") {
        Ok(u) => u,
        Err(_) => {
            let pg = xtrace::pg::ManagedPostgres::start(&dir)?;
            let url = pg.url("xtrace");
            managed = Some(pg);
            url
        }
    };
    let rt = tokio::runtime::Runtime::new()?;
    let result = rt.block_on(async {
        if let Some(pg) = &managed {
            xtrace::pg::ensure_database(&pg.url("postgres"), "xtrace").await?;
        }
        let (pk, sk) = ("pk-lf-bench".to_string(), "sk-lf-bench".to_string());
        let vars = [
            ("BIND_ADDR", "127.0.0.1:0"),
            ("XTRACE_DATA_DIR", dir.to_str().unwrap_or(".")),
            ("API_BEARER_TOKEN", "bench-token"),
            ("XTRACE_PUBLIC_KEY", pk.as_str()),
            ("XTRACE_SECRET_KEY", sk.as_str()),
        ];
        let config = xtrace::config::Config::from_lookup(|k| {
            vars.iter()
                .find(|v| v.0 == k)
                .map(|v| v.1.to_string())
                .or_else(|| std::env::var(k).ok())
        })?;
        let app = xtrace::startup::Application::build(config, &url).await?;
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        let r = run(base, pk, sk, &args).await;
        handle.stop(true).await;
        r
    });
    drop(rt);
    if let Some(mut pg) = managed {
        pg.stop();
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}
