//! Benchmark of the time-series metrics path: writes `--hours` of points for `--gpus`
//! GPUs at one point per GPU every `--interval` seconds (default: a day of 1,000 GPUs
//! every 10 s = 8.64M points) through `POST /v1/metrics/batch`, prints the write
//! throughput, then runs 24-hour queries (several aggregations, steps, group_by) and
//! prints p50/p99 latencies per query shape.
//!
//! ```text
//! cargo run --release --example bench_metrics -- [--gpus 1000] [--hours 24]
//!     [--interval 10] [--batch 2000] [--clients 4] [--runs 30]
//! ```
//! `--hours 0` only queries (over data a previous run left in `DATABASE_URL`).
//! Starts xtrace itself on a throw-away managed PostgreSQL (or on `DATABASE_URL` when set).
//! GPUs are labelled `{"node": "node-NNN", "gpu": "0".."7"}` (8 GPUs per node).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
struct Args {
    gpus: usize,
    hours: u64,
    interval: u64,
    batch: usize,
    clients: usize,
    runs: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        gpus: 1000,
        hours: 24,
        interval: 10,
        batch: 2000,
        clients: 4,
        runs: 30,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v: u64 = it
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{flag} needs a number"));
        match flag.as_str() {
            "--gpus" => a.gpus = v as usize,
            "--hours" => a.hours = v,
            "--interval" => a.interval = v,
            "--batch" => a.batch = v as usize,
            "--clients" => a.clients = v as usize,
            "--runs" => a.runs = v as usize,
            _ => panic!("unknown flag {flag}"),
        }
    }
    a
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn labels(gpu: usize) -> Value {
    json!({"node": format!("node-{:03}", gpu / 8), "gpu": (gpu % 8).to_string()})
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

async fn run(base: String, auth: String, args: Args, db_url: Option<String>) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let ticks = (args.hours * 3600 / args.interval) as usize;
    let total = ticks * args.gpus;
    let end = Utc::now();
    let start = end - chrono::Duration::seconds((ticks as u64 * args.interval) as i64);
    let labels: Arc<Vec<Value>> = Arc::new((0..args.gpus).map(labels).collect());
    println!(
        "writing {total} points: {} GPUs x {ticks} ticks ({} h every {} s), {} points/request, {} clients",
        args.gpus, args.hours, args.interval, args.batch, args.clients
    );
    // Points in time order (as collectors send them): point k = tick k / gpus, GPU k % gpus.
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, next, labels, args) =
            (client.clone(), next.clone(), labels.clone(), args.clone());
        let (url, auth) = (format!("{base}/v1/metrics/batch"), auth.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let first = next.fetch_add(args.batch, Ordering::Relaxed);
                if first >= total {
                    break;
                }
                let last = (first + args.batch).min(total);
                let metrics: Vec<Value> = (first..last)
                    .map(|k| {
                        let (tick, gpu) = (k / args.gpus, k % args.gpus);
                        let t =
                            start + chrono::Duration::seconds((tick as u64 * args.interval) as i64);
                        let v = ((tick * 7 + gpu * 13) % 100) as f64;
                        json!({"name": "gpu_utilization", "labels": labels[gpu],
                               "value": v, "timestamp": iso(t)})
                    })
                    .collect();
                let body = json!({ "metrics": metrics });
                loop {
                    let t = Instant::now();
                    let res = client
                        .post(&url)
                        .header("Authorization", &auth)
                        .json(&body)
                        .send()
                        .await?;
                    match res.status().as_u16() {
                        200 => {
                            lat.push(t.elapsed());
                            break;
                        }
                        503 => tokio::time::sleep(Duration::from_millis(50)).await,
                        s => anyhow::bail!("write failed with {s}: {}", res.text().await?),
                    }
                }
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    // `--hours 0` writes nothing: queries only, over data already in DATABASE_URL.
    if !lat.is_empty() {
        println!(
        "write: {total} points in {secs:.1} s = {:.0} points/s ({:.1}x real time for {} GPUs at {} s); request p50 {:.1} ms, p99 {:.1} ms",
        total as f64 / secs,
        (args.hours as f64 * 3600.0) / secs,
        args.gpus,
        args.interval,
        pct(&lat, 0.5),
        pct(&lat, 0.99)
    );
    }

    if let Some(url) = &db_url {
        // Autovacuum vacuums and analyzes these tables after 1% of new rows (migration
        // 0051); a bulk load of a day in minutes outruns it, so catch up once as a server
        // fed in real time would have.
        let pool = sqlx::PgPool::connect(url).await?;
        let t = Instant::now();
        sqlx::query(
            "vacuum analyze metric_series, metric_points, metric_rollup_1m, metric_rollup_5m,
                            metric_rollup_1h",
        )
        .execute(&pool)
        .await?;
        println!(
            "(tables vacuumed and analyzed in {:.1} s)",
            t.elapsed().as_secs_f64()
        );
    }
    let (from, to) = (iso(end - chrono::Duration::hours(24)), iso(end));
    let node = r#"{"node":"node-001"}"#;
    let gpu = r#"{"node":"node-001","gpu":"3"}"#;
    let shapes: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "1 GPU, 5m avg",
            vec![("labels", gpu), ("step", "5m"), ("agg", "avg")],
        ),
        (
            "1 GPU, 5m p99 (raw)",
            vec![("labels", gpu), ("step", "5m"), ("agg", "p99")],
        ),
        (
            "1 node by gpu, 5m max",
            vec![
                ("labels", node),
                ("step", "5m"),
                ("agg", "max"),
                ("group_by", "gpu"),
            ],
        ),
        (
            "1 node by gpu, 1h p95 (raw)",
            vec![
                ("labels", node),
                ("step", "1h"),
                ("agg", "p95"),
                ("group_by", "gpu"),
            ],
        ),
        (
            "all GPUs (first 50 series), 1h last",
            vec![("step", "1h"), ("agg", "last")],
        ),
        (
            "all GPUs by node (first 50 nodes), 1h avg",
            vec![("step", "1h"), ("agg", "avg"), ("group_by", "node")],
        ),
        (
            "all GPUs by node (first 50 nodes), 5m avg",
            vec![("step", "5m"), ("agg", "avg"), ("group_by", "node")],
        ),
        (
            "all GPUs by node (first 50 nodes), 1h p95 (raw)",
            vec![("step", "1h"), ("agg", "p95"), ("group_by", "node")],
        ),
        (
            "all GPUs in one group, 1d count",
            vec![("step", "1d"), ("agg", "count"), ("group_by", "cluster")],
        ),
    ];
    println!(
        "24-hour queries, {} runs each after a first (cold) run:",
        args.runs
    );
    for (title, params) in shapes {
        let mut url = reqwest::Url::parse(&format!("{base}/api/public/metrics/query"))?;
        url.query_pairs_mut()
            .append_pair("name", "gpu_utilization")
            .append_pair("from", &from)
            .append_pair("to", &to);
        for (k, v) in &params {
            url.query_pairs_mut().append_pair(k, v);
        }
        let mut lat = Vec::new();
        let mut meta = Value::Null;
        let mut first = None;
        // One cold run first (caches, plans), reported on its own; then `runs` timed runs.
        for run in 0..=args.runs {
            let t = Instant::now();
            let res = client
                .get(url.clone())
                .header("Authorization", &auth)
                .send()
                .await?;
            let status = res.status();
            let body: Value = res.json().await?;
            anyhow::ensure!(status.is_success(), "query {title} failed: {body}");
            if run == 0 {
                first = Some(t.elapsed());
            } else {
                lat.push(t.elapsed());
            }
            meta = body["meta"].clone();
        }
        lat.sort();
        println!(
            "  {title:<48} p50 {:>7.1} ms  p90 {:>7.1} ms  p99 {:>7.1} ms  first {:>7.1} ms  (series {}, truncated {})",
            pct(&lat, 0.5),
            pct(&lat, 0.9),
            pct(&lat, 0.99),
            first.unwrap_or_default().as_secs_f64() * 1e3,
            meta["series_count"],
            meta["truncated"]
        );
    }
    if let Some(url) = db_url.as_ref().filter(|_| total > 0) {
        // Retention: the oldest hour of points (and its rollups), as the job deletes it.
        let pool = sqlx::PgPool::connect(url).await?;
        let t = Instant::now();
        // The job floors its cutoff to the hour.
        let cutoff =
            xtrace::store::tsmetrics::bucket_start(start, 3600) + chrono::Duration::hours(1);
        let rows = xtrace::store::tsmetrics::delete_older_than(&pool, cutoff, 50_000).await?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "retention: deleted {rows} rows (points and rollups before {}) in {secs:.1} s = {:.0} rows/s",
            iso(cutoff),
            rows as f64 / secs
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = parse_args();
    let dir = std::env::temp_dir().join(format!("xtrace-bench-metrics-{}", std::process::id()));
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
        let (pk, sk) = ("pk-lf-bench", "sk-lf-bench");
        let dir_s = dir.display().to_string();
        let vars = [
            ("BIND_ADDR", "127.0.0.1:0"),
            ("XTRACE_DATA_DIR", dir_s.as_str()),
            ("API_BEARER_TOKEN", "bench-token"),
            ("XTRACE_PUBLIC_KEY", pk),
            ("XTRACE_SECRET_KEY", sk),
            ("RATE_LIMIT_QPS", "0"),
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
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{pk}:{sk}"))
        );
        let r = run(base, auth, args, Some(url.clone())).await;
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
