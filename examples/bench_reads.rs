//! Read-API latency bench: seeds N traces (default 1,000,000; `BENCH_TRACES` or the first
//! argument), two observations per trace, a score per ten traces and a session per hundred,
//! into a fresh database, then prints p50/p99 of the main list and get endpoints and of the
//! web UI's pages (trace list, trace view, sessions, scores).
//!
//! `cargo run --release --example bench_reads [N]` — uses `DATABASE_URL` (a server; a fresh
//! database is created in it) or starts its own cluster with `xtrace::pg::ManagedPostgres`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use xtrace::config::Config;
use xtrace::pg::ManagedPostgres;
use xtrace::startup::Application;

const SEED_SQL: &[&str] = &[
    "insert into traces (project_id, id, timestamp, name, user_id, session_id, environment, tags, \
       input, output, metadata) \
     select 'default', 'trace-' || i, timestamptz '2024-01-01' + i * interval '1 second', \
       'name-' || (i % 50), 'user-' || (i % 1000), 'session-' || (i / 100), \
       case when i % 10 = 0 then 'staging' else 'production' end, \
       array['tag-' || (i % 7), 'tag-' || (i % 11)], \
       to_jsonb('{\"question\": \"what is ' || i || '?\"}'::text), '\"answer\"'::jsonb, \
       jsonb_build_object('k', i::text) \
     from generate_series(1, $1) i",
    "insert into observations (project_id, id, trace_id, parent_observation_id, type, name, \
       start_time, end_time, model, usage_details, cost_details, total_cost) \
     select 'default', 'obs-' || i || '-' || j, 'trace-' || i, \
       case when j = 2 then 'obs-' || i || '-1' end, \
       case when j = 1 then 'SPAN' else 'GENERATION' end, 'step-' || j, \
       timestamptz '2024-01-01' + i * interval '1 second' + j * interval '10 millisecond', \
       timestamptz '2024-01-01' + i * interval '1 second' + j * interval '300 millisecond', \
       case when j = 2 then 'gpt-4o' end, \
       case when j = 2 then '{\"input\": 100, \"output\": 20, \"total\": 120}'::jsonb else '{}'::jsonb end, \
       case when j = 2 then '{\"input\": 0.001, \"output\": 0.002, \"total\": 0.003}'::jsonb else '{}'::jsonb end, \
       case when j = 2 then 0.003 end \
     from generate_series(1, $1) i, generate_series(1, 2) j",
    "insert into scores (project_id, id, timestamp, name, value, data_type, trace_id) \
     select 'default', 'score-' || i, timestamptz '2024-01-01' + i * interval '1 second', \
       'quality', (i % 10) / 10.0, 'NUMERIC', 'trace-' || i \
     from generate_series(10, $1, 10) i",
    "insert into sessions (project_id, id, created_at) \
     select 'default', 'session-' || s, timestamptz '2024-01-01' + s * interval '100 second' \
     from generate_series(0, $1 / 100) s",
];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: i64 = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("BENCH_TRACES").ok())
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let tmp = std::env::temp_dir().join(format!("xtrace-bench-{}", std::process::id()));
    let admin_url = match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(_) => {
            // PostgreSQL is told to stop when the thread that started it exits, so that
            // thread stays parked for the life of the bench.
            let dir = tmp.join("cluster");
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let pg = ManagedPostgres::start(&dir);
                let _ = tx.send(
                    pg.as_ref()
                        .map(|pg| pg.url("postgres"))
                        .map_err(|e| e.to_string()),
                );
                let _keep = pg;
                loop {
                    std::thread::park();
                }
            });
            rx.recv()?.map_err(anyhow::Error::msg)?
        }
    };
    let db = format!("bench_{}", uuid::Uuid::new_v4().simple());
    xtrace::pg::ensure_database(&admin_url, &db).await?;
    let db_url = match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => anyhow::bail!("DATABASE_URL has no database part"),
    };

    let env: HashMap<&str, String> = HashMap::from([
        ("BIND_ADDR", "127.0.0.1:0".to_string()),
        ("XTRACE_DATA_DIR", tmp.join("data").display().to_string()),
        ("API_BEARER_TOKEN", "bench-token".to_string()),
        ("XTRACE_PUBLIC_KEY", "pk-lf-bench".to_string()),
        ("XTRACE_SECRET_KEY", "sk-lf-bench".to_string()),
        ("RATE_LIMIT_QPS", "0".to_string()),
    ]);
    let config = Config::from_lookup(|k| env.get(k).cloned())?;
    let app = Application::build(config, &db_url).await?;
    let pool = app.state().pool.clone();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    let t0 = Instant::now();
    for sql in SEED_SQL {
        sqlx::query(sql).bind(n).execute(&pool).await?;
    }
    sqlx::query("vacuum analyze").execute(&pool).await?;
    println!(
        "seeded {n} traces, {} observations, {} scores in {:.1}s",
        2 * n,
        n / 10,
        t0.elapsed().as_secs_f64()
    );

    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("pk-lf-bench:sk-lf-bench")
    );
    let mid = n / 2;
    let endpoints = [
        "/api/public/traces".to_string(),
        "/api/public/traces?page=200&limit=50".to_string(),
        "/api/public/traces?userId=user-7".to_string(),
        "/api/public/traces?tags=tag-3&tags=tag-5".to_string(),
        "/api/public/traces?environment=staging&orderBy=timestamp.asc".to_string(),
        "/api/public/traces?fields=core,io".to_string(),
        format!("/api/public/traces/trace-{mid}"),
        "/api/public/observations".to_string(),
        format!("/api/public/observations?traceId=trace-{mid}"),
        "/api/public/observations?type=GENERATION&limit=100".to_string(),
        format!("/api/public/observations/obs-{mid}-2"),
        "/api/public/v2/observations?fields=core,basic,usage".to_string(),
        "/api/public/sessions".to_string(),
        format!("/api/public/sessions/session-{}", mid / 100),
        "/api/public/v2/scores".to_string(),
        "/api/public/scores?name=quality".to_string(),
        "/api/public/metrics/daily?fromTimestamp=2024-01-10T00:00:00Z&toTimestamp=2024-01-12T00:00:00Z".to_string(),
    ];
    // Web UI pages, through a UI session stored the way sign-in stores one.
    let ui_token = "bench-ui-session";
    xtrace::store::ui::create_session(
        &pool,
        &<sha2::Sha256 as sha2::Digest>::digest(ui_token.as_bytes()),
        &xtrace::store::ui::UiSessionRow {
            is_admin: true,
            project_id: "default".into(),
            public_key: None,
            csrf_token: "bench".into(),
            expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        },
    )
    .await?;
    let ui_pages = [
        "/project/default/traces".to_string(),
        "/project/default/traces?page=200".to_string(),
        "/project/default/traces?user=user-7".to_string(),
        "/project/default/traces?tags=tag-3".to_string(),
        "/project/default/traces?env=staging&sort=timestamp&dir=asc".to_string(),
        "/project/default/traces?name=name-3".to_string(),
        "/project/default/traces?level=ERROR".to_string(),
        format!("/project/default/traces?q=trace-{mid}"),
        format!("/project/default/traces/trace-{mid}"),
        "/project/default/sessions".to_string(),
        "/project/default/scores".to_string(),
    ];
    let client = reqwest::Client::new();
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    println!("{:<100} {:>9} {:>9}", "endpoint", "p50 ms", "p99 ms");
    let ui_cookie = format!("xtrace_session={ui_token}");
    let requests = endpoints
        .iter()
        .map(|p| (p, "Authorization", auth.as_str()))
        .chain(ui_pages.iter().map(|p| (p, "Cookie", ui_cookie.as_str())));
    for (path, header, value) in requests {
        let mut times = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t = Instant::now();
            let res = client
                .get(format!("{base}{path}"))
                .header(header, value)
                .send()
                .await?;
            let status = res.status();
            res.bytes().await?;
            times.push(t.elapsed());
            anyhow::ensure!(status.is_success(), "{path} answered {status}");
        }
        times.sort();
        println!(
            "{path:<100} {:>9.1} {:>9.1}",
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3
        );
    }
    let _ = std::fs::remove_dir_all(tmp.join("data"));
    Ok(())
}
