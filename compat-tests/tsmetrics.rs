//! Time-series metrics: `POST /v1/metrics/batch`, `GET /api/public/metrics/names`,
//! `GET /api/public/metrics/query`, and the Prometheus endpoint `GET /metrics`.
//! Expected aggregates are computed here from the points the test sends.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::helpers::{basic, create_project_with_key, spawn_app_with, urlencode, TestApp};

const NO_RATE_LIMIT: (&str, &str) = ("RATE_LIMIT_QPS", "0");

fn base() -> DateTime<Utc> {
    "2024-05-01T12:00:00Z".parse().unwrap()
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn write(app: &TestApp, auth: &str, points: Value) -> (u16, Value) {
    app.send(
        "POST",
        "/v1/metrics/batch",
        Some(auth),
        Some(&json!({ "metrics": points })),
    )
    .await
}

async fn query(app: &TestApp, auth: &str, params: &[(&str, String)]) -> (u16, Value) {
    let qs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    app.send(
        "GET",
        &format!("/api/public/metrics/query?{}", qs.join("&")),
        Some(auth),
        None,
    )
    .await
}

/// percentile_cont: linear interpolation between the closest ranks.
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pos = p * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

fn aggregate(agg: &str, pts: &[(DateTime<Utc>, f64)]) -> f64 {
    let vals: Vec<f64> = pts.iter().map(|p| p.1).collect();
    match agg {
        "avg" => vals.iter().sum::<f64>() / vals.len() as f64,
        "max" => vals.iter().cloned().fold(f64::MIN, f64::max),
        "min" => vals.iter().cloned().fold(f64::MAX, f64::min),
        "sum" => vals.iter().sum(),
        "count" => vals.len() as f64,
        "last" => pts.iter().max_by_key(|p| p.0).unwrap().1,
        "p50" => percentile(&vals, 0.5),
        "p90" => percentile(&vals, 0.9),
        "p95" => percentile(&vals, 0.95),
        "p99" => percentile(&vals, 0.99),
        other => panic!("unknown agg {other}"),
    }
}

/// Expected buckets: epoch-aligned floor of each point in [from, to].
fn expected(
    pts: &[(DateTime<Utc>, f64)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: i64,
    agg: &str,
) -> Vec<(String, f64)> {
    let mut buckets: std::collections::BTreeMap<i64, Vec<(DateTime<Utc>, f64)>> =
        Default::default();
    for p in pts.iter().filter(|p| p.0 >= from && p.0 <= to) {
        let s = p.0.timestamp();
        buckets.entry(s - s.rem_euclid(step)).or_default().push(*p);
    }
    buckets
        .into_iter()
        .map(|(start, ps)| {
            (
                iso(DateTime::from_timestamp(start, 0).unwrap()),
                aggregate(agg, &ps),
            )
        })
        .collect()
}

fn values_of(series: &Value) -> Vec<(String, f64)> {
    series["values"]
        .as_array()
        .expect("values array")
        .iter()
        .map(|v| {
            (
                v["timestamp"].as_str().unwrap().to_string(),
                v["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn assert_close(got: &[(String, f64)], want: &[(String, f64)], ctx: &str) {
    assert_eq!(
        got.iter().map(|g| &g.0).collect::<Vec<_>>(),
        want.iter().map(|w| &w.0).collect::<Vec<_>>(),
        "bucket timestamps for {ctx}"
    );
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g.1 - w.1).abs() < 1e-9 * w.1.abs().max(1.0),
            "{ctx} at {}: got {}, want {}",
            g.0,
            g.1,
            w.1
        );
    }
}

/// 40 irregular points of one series over ~25 minutes.
fn sample_points() -> Vec<(DateTime<Utc>, f64)> {
    (0..40)
        .map(|i: i64| {
            (
                base() + Duration::seconds(i * 37 + (i % 3)),
                ((i * 7) % 11) as f64 + 0.25 * i as f64,
            )
        })
        .collect()
}

#[tokio::test]
async fn every_aggregation_and_step_matches_an_independent_computation() {
    let app = spawn_app_with(&[NO_RATE_LIMIT]).await;
    let auth = app.basic_auth();
    let pts = sample_points();
    // Two requests, so the 1-minute rollup folds points from separate batches.
    for chunk in pts.chunks(17) {
        let body: Vec<Value> = chunk
            .iter()
            .map(|(t, v)| json!({"name": "gpu_util", "labels": {"node": "n1", "gpu": "0"}, "value": v, "timestamp": iso(*t)}))
            .collect();
        let (status, res) = write(&app, &auth, json!(body)).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["message"], "Request Successful.");
        assert_eq!(res["accepted"], chunk.len());
    }
    // Ragged range edges (not minute-aligned) exercise the raw edges of the rollup path.
    let from = base() + Duration::seconds(70);
    let to = base() + Duration::seconds(1290);
    for step in ["30s", "1m", "2m", "5m", "7m", "1h"] {
        let step_secs = match step {
            "30s" => 30,
            "1m" => 60,
            "2m" => 120,
            "5m" => 300,
            "7m" => 420,
            _ => 3600,
        };
        for agg in [
            "avg", "max", "min", "sum", "count", "last", "p50", "p90", "p95", "p99",
        ] {
            let (status, res) = query(
                &app,
                &auth,
                &[
                    ("name", "gpu_util".into()),
                    ("from", iso(from)),
                    ("to", iso(to)),
                    ("step", step.into()),
                    ("agg", agg.into()),
                ],
            )
            .await;
            let ctx = format!("step={step} agg={agg}");
            assert_eq!(status, 200, "{ctx}: {res}");
            assert_eq!(res["meta"]["series_count"], 1, "{ctx}");
            assert_eq!(res["meta"]["truncated"], false, "{ctx}");
            assert_eq!(res["meta"]["agg"], agg, "{ctx}");
            assert_eq!(res["meta"]["step"], step, "{ctx}");
            assert_eq!(res["meta"]["step_seconds"], step_secs, "{ctx}");
            assert_eq!(res["data"][0]["labels"], json!({"node": "n1", "gpu": "0"}));
            let want = expected(&pts, from, to, step_secs, agg);
            assert_close(&values_of(&res["data"][0]), &want, &ctx);
            assert_eq!(
                res["meta"]["latest_ts"].as_str(),
                want.last().map(|w| w.0.as_str()),
                "{ctx}"
            );
        }
    }
}

#[tokio::test]
async fn hours_of_points_from_several_series_agree_at_every_level_and_group() {
    // Five series over ~5 hours, one point every 97 s, values varied per series; sent in
    // three requests in a shuffled order, so the 1-minute, 5-minute and hourly rollups
    // fold late points into existing buckets.
    let app = spawn_app_with(&[NO_RATE_LIMIT]).await;
    let auth = app.basic_auth();
    let series = [
        ("n1", "0"),
        ("n1", "1"),
        ("n2", "0"),
        ("n2", "1"),
        ("n2", "2"),
    ];
    let mut all: Vec<(usize, DateTime<Utc>, f64)> = Vec::new();
    for (k, _) in series.iter().enumerate() {
        for i in 0..190i64 {
            let t = base() + Duration::seconds(i * 97 + k as i64 * 11);
            let v = ((i * 13 + k as i64 * 29) % 101) as f64 / 4.0 - 3.0;
            all.push((k, t, v));
        }
    }
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by_key(|&i| (i * 7919) % all.len());
    for chunk in order.chunks(order.len() / 3 + 1) {
        let body: Vec<Value> = chunk
            .iter()
            .map(|&i| {
                let (k, t, v) = all[i];
                json!({"name": "gpu_temp", "labels": {"node": series[k].0, "gpu": series[k].1},
                       "value": v, "timestamp": iso(t)})
            })
            .collect();
        let (status, res) = write(&app, &auth, json!(body)).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["accepted"], chunk.len());
    }
    // Ragged edges: neither end is on a minute, 5 minutes or an hour.
    let from = base() + Duration::seconds(7 * 60 + 13);
    let to = base() + Duration::seconds(4 * 3600 + 51 * 60 + 7);
    for step in ["1m", "5m", "10m", "15m", "1h", "2h", "1d"] {
        let step_secs: i64 = match step {
            "1m" => 60,
            "5m" => 300,
            "10m" => 600,
            "15m" => 900,
            "1h" => 3600,
            "2h" => 7200,
            _ => 86_400,
        };
        for agg in [
            "avg", "max", "min", "sum", "count", "last", "p50", "p90", "p95", "p99",
        ] {
            let ctx = format!("step={step} agg={agg}");
            let (status, res) = query(
                &app,
                &auth,
                &[
                    ("name", "gpu_temp".into()),
                    ("from", iso(from)),
                    ("to", iso(to)),
                    ("step", step.into()),
                    ("agg", agg.into()),
                    ("group_by", "node".into()),
                    ("labels", r#"{"gpu":"0"}"#.into()),
                ],
            )
            .await;
            assert_eq!(status, 200, "{ctx}: {res}");
            assert_eq!(res["meta"]["series_count"], 2, "{ctx}");
            for (i, node) in ["n1", "n2"].iter().enumerate() {
                let s = &res["data"][i];
                assert_eq!(s["labels"], json!({"node": node}), "{ctx}");
                let pts: Vec<(DateTime<Utc>, f64)> = all
                    .iter()
                    .filter(|p| series[p.0] == (*node, "0"))
                    .map(|p| (p.1, p.2))
                    .collect();
                let want = expected(&pts, from, to, step_secs, agg);
                assert_close(&values_of(s), &want, &format!("{ctx} node={node}"));
            }
            // Ungrouped, all five series: one series each, in label order.
            let (status, res) = query(
                &app,
                &auth,
                &[
                    ("name", "gpu_temp".into()),
                    ("from", iso(from)),
                    ("to", iso(to)),
                    ("step", step.into()),
                    ("agg", agg.into()),
                ],
            )
            .await;
            assert_eq!(status, 200, "{ctx}: {res}");
            assert_eq!(res["meta"]["series_count"], 5, "{ctx}");
            for s in res["data"].as_array().unwrap() {
                let k = series
                    .iter()
                    .position(|(n, g)| s["labels"] == json!({"node": n, "gpu": g}))
                    .unwrap_or_else(|| panic!("{ctx}: unexpected labels {}", s["labels"]));
                let pts: Vec<(DateTime<Utc>, f64)> = all
                    .iter()
                    .filter(|p| p.0 == k)
                    .map(|p| (p.1, p.2))
                    .collect();
                let want = expected(&pts, from, to, step_secs, agg);
                assert_close(&values_of(s), &want, &format!("{ctx} series={k}"));
            }
        }
    }
}

#[tokio::test]
async fn series_far_apart_in_id_group_like_neighbours() {
    // Series ids 1,000,000 apart (created long after each other) take the join path that
    // maps series to groups; neighbours take the dense map. Both must agree with the data.
    let app = spawn_app_with(&[NO_RATE_LIMIT]).await;
    let auth = app.basic_auth();
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let mut sent: Vec<(&str, &str, DateTime<Utc>, f64)> = Vec::new();
    for (round, series) in [[("n1", "0"), ("n2", "0")], [("n1", "1"), ("n2", "1")]]
        .iter()
        .enumerate()
    {
        if round == 1 {
            sqlx::query("select setval('metric_series_id_seq', 1000000)")
                .execute(&pool)
                .await
                .unwrap();
        }
        let mut body = Vec::new();
        for (k, (node, gpu)) in series.iter().enumerate() {
            for i in 0..30i64 {
                let t = base() + Duration::seconds(i * 41 + k as i64 * 3 + round as i64);
                let v = ((i * 17 + k as i64 * 5 + round as i64 * 7) % 23) as f64;
                sent.push((node, gpu, t, v));
                body.push(json!({"name": "far", "labels": {"node": node, "gpu": gpu},
                                 "value": v, "timestamp": iso(t)}));
            }
        }
        let (status, res) = write(&app, &auth, json!(body)).await;
        assert_eq!(status, 200, "{res}");
    }
    let ids: Vec<i64> = sqlx::query_scalar("select id from metric_series order by id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(ids[ids.len() - 1] - ids[0] > 1_000_000, "{ids:?}");
    let (from, to) = (
        base() + Duration::seconds(50),
        base() + Duration::seconds(1100),
    );
    for step in ["1m", "5m"] {
        let step_secs = if step == "1m" { 60 } else { 300 };
        for agg in ["avg", "max", "min", "sum", "count", "last"] {
            let ctx = format!("step={step} agg={agg}");
            let (status, res) = query(
                &app,
                &auth,
                &[
                    ("name", "far".into()),
                    ("from", iso(from)),
                    ("to", iso(to)),
                    ("step", step.into()),
                    ("agg", agg.into()),
                    ("group_by", "node".into()),
                ],
            )
            .await;
            assert_eq!(status, 200, "{ctx}: {res}");
            assert_eq!(res["meta"]["series_count"], 2, "{ctx}");
            for (i, node) in ["n1", "n2"].iter().enumerate() {
                let pts: Vec<(DateTime<Utc>, f64)> = sent
                    .iter()
                    .filter(|p| p.0 == *node)
                    .map(|p| (p.2, p.3))
                    .collect();
                assert_eq!(res["data"][i]["labels"], json!({"node": node}), "{ctx}");
                let want = expected(&pts, from, to, step_secs, agg);
                assert_close(&values_of(&res["data"][i]), &want, &format!("{ctx} {node}"));
            }
        }
    }
}

#[tokio::test]
async fn the_retention_job_deletes_points_and_rollups_past_the_horizon() {
    let app = spawn_app_with(&[
        NO_RATE_LIMIT,
        ("XTRACE_METRICS_RETENTION_DAYS", "2"),
        ("XTRACE_METRICS_RETENTION_INTERVAL_SECS", "1"),
    ])
    .await;
    let auth = app.basic_auth();
    let now = Utc::now();
    // 10 old points (3-4 days ago) and 10 recent ones (the last hours).
    let old: Vec<DateTime<Utc>> = (0..10)
        .map(|i| now - Duration::days(3) - Duration::minutes(i * 37))
        .collect();
    let recent: Vec<DateTime<Utc>> = (0..10)
        .map(|i| now - Duration::hours(2) + Duration::minutes(i * 7))
        .collect();
    let body: Vec<Value> = old
        .iter()
        .chain(&recent)
        .map(|t| json!({"name": "disk", "labels": {"node": "n1"}, "value": 1.0, "timestamp": iso(*t)}))
        .collect();
    let (status, res) = write(&app, &auth, json!(body)).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["accepted"], 20);
    // Raw points (a step of 86,399 s is no whole number of minutes) and every rollup level
    // (11m: 1-minute rollup; 10m: also 5-minute; 1h and 1d: also hourly).
    let count = |step: &'static str| {
        let (app, auth) = (&app, auth.clone());
        async move {
            let (status, res) = query(
                app,
                &auth,
                &[
                    ("name", "disk".into()),
                    ("from", iso(now - Duration::days(4))),
                    ("to", iso(now)),
                    ("step", step.into()),
                    ("agg", "count".into()),
                ],
            )
            .await;
            assert_eq!(status, 200, "{res}");
            res["data"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| s["values"].as_array().unwrap().clone())
                .map(|v| v["value"].as_f64().unwrap())
                .sum::<f64>()
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let counts = [
            count("86399s").await,
            count("11m").await,
            count("10m").await,
            count("1h").await,
            count("1d").await,
        ];
        if counts.iter().all(|c| *c == 10.0) {
            break;
        }
        assert!(
            counts.iter().all(|c| *c == 10.0 || *c == 20.0),
            "the job deletes old points only: {counts:?}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "old points still there after 30 s: {counts:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    // The series is still listed (series rows are kept), its recent points intact.
    let (status, res) = app
        .send("GET", "/api/public/metrics/names", Some(&auth), None)
        .await;
    assert_eq!(status, 200, "{res}");
    assert!(res.to_string().contains("disk"), "{res}");
}

#[tokio::test]
async fn group_by_merges_series_per_label_value_and_labels_filter_by_containment() {
    let app = spawn_app_with(&[NO_RATE_LIMIT]).await;
    let auth = app.basic_auth();
    let t0 = base();
    let mut points = Vec::new();
    let mut by_node: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
    for (node, gpu, v) in [
        ("n1", "0", 10.0),
        ("n1", "1", 30.0),
        ("n2", "0", 50.0),
        ("n2", "1", 70.0),
        ("n2", "2", 100.0),
    ] {
        points.push(json!({"name": "mem", "labels": {"node": node, "gpu": gpu}, "value": v, "timestamp": iso(t0)}));
        by_node.entry(node).or_default().push(v);
    }
    // A series without the group_by key.
    points.push(json!({"name": "mem", "labels": {"gpu": "9"}, "value": 1.0, "timestamp": iso(t0)}));
    let (status, res) = write(&app, &auth, json!(points)).await;
    assert_eq!(status, 200, "{res}");
    let range = [
        ("name", "mem".to_string()),
        ("from", iso(t0 - Duration::minutes(1))),
        ("to", iso(t0 + Duration::minutes(1))),
    ];

    let mut params = range.to_vec();
    params.extend([("group_by", "node".to_string()), ("agg", "avg".into())]);
    let (status, res) = query(&app, &auth, &params).await;
    assert_eq!(status, 200, "{res}");
    let data = res["data"].as_array().unwrap();
    let mut got: Vec<(Value, f64)> = data
        .iter()
        .map(|s| {
            (
                s["labels"].clone(),
                s["values"][0]["value"].as_f64().unwrap(),
            )
        })
        .collect();
    got.sort_by_key(|g| g.0.to_string());
    let mut want: Vec<(Value, f64)> = by_node
        .iter()
        .map(|(n, v)| (json!({"node": n}), v.iter().sum::<f64>() / v.len() as f64))
        .collect();
    want.push((json!({"node": null}), 1.0));
    want.sort_by_key(|g| g.0.to_string());
    assert_eq!(got, want);
    assert_eq!(res["meta"]["series_count"], 3);
    assert_eq!(res["meta"]["group_by"], "node");

    // Containment: {"node":"n2"} matches the three n2 series, {"gpu":"0"} two nodes.
    for (filter, expected_series) in [
        (json!({"node": "n2"}), 3),
        (json!({"gpu": "0"}), 2),
        (json!({"node": "n1", "gpu": "1"}), 1),
        (json!({"gpu": 0}), 2), // numbers are compared as strings, as they are stored
        (json!({"node": "n3"}), 0),
        (json!({}), 6),
    ] {
        let mut params = range.to_vec();
        params.push(("labels", filter.to_string()));
        let (status, res) = query(&app, &auth, &params).await;
        assert_eq!(status, 200, "{filter}: {res}");
        assert_eq!(res["meta"]["series_count"], expected_series, "{filter}");
        for s in res["data"].as_array().unwrap() {
            for (k, v) in filter.as_object().unwrap() {
                let v = v.as_str().map(str::to_string).unwrap_or(v.to_string());
                assert_eq!(s["labels"][k], v.as_str(), "{filter} returned {s}");
            }
        }
    }
    // group_by with a filter: sum of the n2 GPUs.
    let mut params = range.to_vec();
    params.extend([
        ("group_by", "node".to_string()),
        ("agg", "sum".into()),
        ("labels", r#"{"node":"n2"}"#.into()),
    ]);
    let (_, res) = query(&app, &auth, &params).await;
    assert_eq!(res["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        res["data"][0]["values"][0]["value"].as_f64(),
        Some(by_node["n2"].iter().sum())
    );
}

#[tokio::test]
async fn series_and_point_limits_are_reported_never_silently_cut() {
    let app = spawn_app_with(&[
        NO_RATE_LIMIT,
        ("XTRACE_METRICS_MAX_SERIES", "2"),
        ("XTRACE_METRICS_MAX_POINTS", "3"),
    ])
    .await;
    let auth = app.basic_auth();
    let mut points = Vec::new();
    for gpu in ["0", "1", "2"] {
        for m in 0..5 {
            points.push(json!({"name": "util", "labels": {"gpu": gpu}, "value": m,
                "timestamp": iso(base() + Duration::minutes(m))}));
        }
    }
    assert_eq!(write(&app, &auth, json!(points)).await.0, 200);
    let params = |to_min: i64| {
        vec![
            ("name", "util".to_string()),
            ("from", iso(base())),
            (
                "to",
                iso(base() + Duration::minutes(to_min) + Duration::seconds(59)),
            ),
            ("step", "1m".into()),
            ("agg", "max".into()),
        ]
    };
    let (status, res) = query(&app, &auth, &params(4)).await;
    assert_eq!(status, 200, "{res}");
    let meta = &res["meta"];
    assert_eq!(meta["series_count"], 2, "{meta}");
    assert_eq!(meta["total_series"], 3, "{meta}");
    assert_eq!(meta["series_truncated"], true, "{meta}");
    assert_eq!(meta["points_truncated"], true, "{meta}");
    assert_eq!(meta["truncated"], true, "{meta}");
    assert_eq!(
        (meta["max_series"].as_u64(), meta["max_points"].as_u64()),
        (Some(2), Some(3))
    );
    // The first series by labels, the earliest buckets.
    assert_eq!(res["data"][0]["labels"], json!({"gpu": "0"}));
    assert_eq!(res["data"][1]["labels"], json!({"gpu": "1"}));
    for s in res["data"].as_array().unwrap() {
        let v: Vec<f64> = values_of(s).iter().map(|v| v.1).collect();
        assert_eq!(v, vec![0.0, 1.0, 2.0], "{s}");
    }
    // Exactly three buckets of one series: nothing truncated.
    let mut p = params(2);
    p.push(("labels", r#"{"gpu":"2"}"#.into()));
    let (_, res) = query(&app, &auth, &p).await;
    assert_eq!(res["meta"]["truncated"], false, "{res}");
    assert_eq!(res["meta"]["points_truncated"], false);
    assert_eq!(res["data"][0]["values"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn bad_query_parameters_get_a_400_naming_the_parameter() {
    let app = spawn_app_with(&[NO_RATE_LIMIT]).await;
    let auth = app.basic_auth();
    let ok = |extra: &[(&'static str, &str)]| {
        let mut p: Vec<(&str, String)> = vec![("name", "gpu".into())];
        for (k, v) in extra {
            p.retain(|x| x.0 != *k);
            p.push((k, v.to_string()));
        }
        p
    };
    for (params, field, why) in [
        (vec![("step", "1m".to_string())], "name", "name is required"),
        (ok(&[("name", "")]), "name", "empty name"),
        (ok(&[("step", "0m")]), "step", "zero step"),
        (ok(&[("step", "1w")]), "step", "unknown unit"),
        (ok(&[("step", "32d")]), "step", "step above 31 days"),
        (ok(&[("step", "abc")]), "step", "not a step"),
        (ok(&[("agg", "median")]), "agg", "unknown agg"),
        (ok(&[("labels", "{not json")]), "labels", "labels not JSON"),
        (ok(&[("labels", "[1,2]")]), "labels", "labels not an object"),
        (
            ok(&[("labels", r#"{"a":{"b":1}}"#)]),
            "labels",
            "nested label",
        ),
        (ok(&[("from", "yesterday")]), "from", "bad from"),
        (ok(&[("to", "2024-13-01")]), "to", "bad to"),
        (
            ok(&[
                ("from", "2024-05-02T00:00:00Z"),
                ("to", "2024-05-01T00:00:00Z"),
            ]),
            "from",
            "from after to",
        ),
    ] {
        let (status, res) = query(&app, &auth, &params).await;
        assert_eq!(status, 400, "{why}: {res}");
        assert_eq!(res["message"], "Invalid request data", "{why}: {res}");
        assert_eq!(res["error"][0]["path"][0], field, "{why}: {res}");
    }
    let (status, res) = app
        .get("/api/public/metrics/names?include_labels=maybe")
        .await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(res["error"][0]["path"][0], "include_labels");
    // Auth is required.
    let (status, _) = app
        .send("GET", "/api/public/metrics/query?name=gpu", None, None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .send(
            "POST",
            "/v1/metrics/batch",
            None,
            Some(&json!({"metrics": []})),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_bad_point_is_reported_without_failing_the_rest() {
    let app = spawn_app_with(&[NO_RATE_LIMIT]).await;
    let auth = app.basic_auth();
    for (body, why) in [
        (json!([1, 2]), "not an object"),
        (json!({}), "no metrics"),
        (json!({"metrics": "x"}), "metrics not an array"),
    ] {
        let (status, res) = app
            .send("POST", "/v1/metrics/batch", Some(&auth), Some(&body))
            .await;
        assert_eq!(status, 400, "{why}: {res}");
        assert_eq!(res["error"][0]["path"][0], "metrics", "{why}: {res}");
    }
    let t = iso(base());
    let (status, res) = write(
        &app,
        &auth,
        json!([
            {"name": "ok", "labels": {"gpu": 0}, "value": 1.5, "timestamp": t},
            {"name": "", "value": 1, "timestamp": t},
            {"name": "ok", "labels": {"gpu": "1"}, "value": "high", "timestamp": t},
            {"name": "ok", "labels": {"gpu": "2"}, "value": 2, "timestamp": "noon"},
            {"name": "ok", "labels": {"gpu": ["3"]}, "value": 2, "timestamp": t},
            {"name": "ok", "labels": {"gpu": "4"}, "value": 4, "timestamp": t},
        ]),
    )
    .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(
        (res["accepted"].as_u64(), res["rejected"].as_u64()),
        (Some(2), Some(4))
    );
    let errs: Vec<(u64, &str)> = res["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        errs,
        vec![(1, "name"), (2, "value"), (3, "timestamp"), (4, "labels")]
    );
    let (_, res) = query(
        &app,
        &auth,
        &[
            ("name", "ok".into()),
            ("from", t.clone()),
            ("to", t.clone()),
            ("agg", "sum".into()),
        ],
    )
    .await;
    let mut got: Vec<(Value, f64)> = res["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["labels"].clone(),
                s["values"][0]["value"].as_f64().unwrap(),
            )
        })
        .collect();
    got.sort_by_key(|g| g.0.to_string());
    assert_eq!(
        got,
        vec![(json!({"gpu": "0"}), 1.5), (json!({"gpu": "4"}), 4.0)],
        "numeric labels are stored as strings"
    );
    // Every point invalid: 400 with one issue per point.
    let (status, res) = write(&app, &auth, json!([{"name": "x"}, {"value": 1}])).await;
    assert_eq!(status, 400, "{res}");
    let paths: Vec<Value> = res["error"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].clone())
        .collect();
    assert_eq!(
        paths,
        vec![
            json!(["metrics", 0, "value"]),
            json!(["metrics", 1, "name"])
        ]
    );
}

#[tokio::test]
async fn redelivered_points_keep_their_first_value_and_are_not_counted_twice() {
    let app = spawn_app_with(&[NO_RATE_LIMIT]).await;
    let auth = app.basic_auth();
    let t = base() + Duration::seconds(5);
    let p = |v: f64| json!([{"name": "q", "labels": {"n": "1"}, "value": v, "timestamp": iso(t)}]);
    assert_eq!(write(&app, &auth, p(3.0)).await.0, 200);
    assert_eq!(write(&app, &auth, p(9.0)).await.0, 200);
    for (agg, step, want) in [
        ("count", "1m", 1.0),
        ("sum", "1m", 3.0),
        ("count", "10s", 1.0),
    ] {
        let (_, res) = query(
            &app,
            &auth,
            &[
                ("name", "q".into()),
                ("from", iso(base())),
                ("to", iso(base() + Duration::minutes(5))),
                ("agg", agg.into()),
                ("step", step.into()),
            ],
        )
        .await;
        assert_eq!(
            res["data"][0]["values"][0]["value"].as_f64(),
            Some(want),
            "{agg} {step}: {res}"
        );
    }
}

#[tokio::test]
async fn points_belong_to_the_callers_project_and_bearer_writes_to_the_default_project() {
    let app = spawn_app_with(&[NO_RATE_LIMIT]).await;
    let (_, pk, sk) = create_project_with_key(&app, "other").await;
    let other = basic(&pk, &sk);
    let now = Utc::now();
    let pt = |name: &str, v: f64| json!([{"name": name, "labels": {"node": "a"}, "value": v, "timestamp": iso(now - Duration::minutes(5))}]);
    assert_eq!(
        write(&app, &app.bearer_auth(), pt("from_bearer", 1.0))
            .await
            .0,
        200
    );
    assert_eq!(write(&app, &other, pt("from_other", 2.0)).await.0, 200);
    assert_eq!(write(&app, &other, pt("shared_name", 20.0)).await.0, 200);
    assert_eq!(
        write(&app, &app.basic_auth(), pt("shared_name", 10.0))
            .await
            .0,
        200
    );

    let (status, res) = app.get("/api/public/metrics/names").await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res, json!({"data": ["from_bearer", "shared_name"]}));
    let (_, res) = app
        .send(
            "GET",
            "/api/public/metrics/names?include_labels=true",
            Some(&other),
            None,
        )
        .await;
    assert_eq!(
        res,
        json!({"data": [{"name": "from_other", "label_keys": ["node"]},
                         {"name": "shared_name", "label_keys": ["node"]}]})
    );
    // Default range is the last hour: the points five minutes ago are found.
    for (auth, want) in [(app.basic_auth(), 10.0), (other.clone(), 20.0)] {
        let (status, res) = query(&app, &auth, &[("name", "shared_name".into())]).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["meta"]["series_count"], 1, "{res}");
        assert_eq!(res["data"][0]["values"][0]["value"].as_f64(), Some(want));
    }
    let (_, res) = query(&app, &other, &[("name", "from_bearer".into())]).await;
    assert_eq!(
        res["data"],
        json!([]),
        "other project sees nothing of the default one"
    );
    assert_eq!(res["meta"]["series_count"], 0);
    assert!(res["meta"].get("latest_ts").is_none());
    // Outside the default hour: nothing.
    let old = json!([{"name": "old", "value": 1, "timestamp": iso(now - Duration::hours(2))}]);
    assert_eq!(write(&app, &app.basic_auth(), old).await.0, 200);
    let (_, res) = query(&app, &app.basic_auth(), &[("name", "old".into())]).await;
    assert_eq!(res["meta"]["series_count"], 0, "{res}");
}

async fn scrape(app: &TestApp, auth: Option<&str>) -> (u16, String) {
    let mut req = app.client.get(app.url("/metrics"));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn prometheus_endpoint_exposes_requests_queue_batches_and_pool() {
    let app = spawn_app_with(&[NO_RATE_LIMIT]).await;
    let (status, before) = scrape(&app, None).await;
    assert_eq!(status, 200);
    let route = "xtrace_http_requests_total{method=\"GET\",route=\"/api/public/metrics/query\",status=\"400\"}";
    let before_400 = sample(&before, route).unwrap_or(0.0);
    let pts_before =
        sample(&before, "xtrace_ingested_total{kind=\"metric_points\"}").unwrap_or(0.0);
    let pts = json!([{"name": "a", "value": 1, "timestamp": iso(base())},
                     {"name": "a", "value": 2, "timestamp": iso(base() + Duration::seconds(1))}]);
    assert_eq!(write(&app, &app.basic_auth(), pts).await.0, 200);
    assert_eq!(
        query(&app, &app.basic_auth(), &[("step", "1m".into())])
            .await
            .0,
        400
    );
    let (_, text) = scrape(&app, None).await;
    // The registry is process-wide (tests run in parallel), so compare with >=.
    assert!(sample(&text, route).unwrap() >= before_400 + 1.0, "{text}");
    assert!(
        sample(&text, "xtrace_ingested_total{kind=\"metric_points\"}").unwrap() >= pts_before + 2.0,
        "{text}"
    );
    for needle in [
        "# TYPE xtrace_http_requests_total counter",
        "# TYPE xtrace_http_request_duration_seconds histogram",
        "xtrace_ingest_queue_depth ",
        "xtrace_ingest_queue_capacity 10000",
        "xtrace_ingest_batch_items_bucket{kind=\"metric_points\",le=\"+Inf\"}",
        "xtrace_ingest_commit_seconds_count{kind=\"metric_points\"}",
        "xtrace_db_pool_connections{state=\"idle\"}",
        "xtrace_db_pool_max_connections 5",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // Route labels are patterns, never raw paths: fetch a trace by a concrete id.
    let (status, _) = app
        .get("/api/public/projects/some-concrete-id/apiKeys")
        .await;
    assert!(status >= 400);
    let (_, text) = scrape(&app, None).await;
    assert!(!text.contains("some-concrete-id"), "{text}");
    assert!(
        text.contains("route=\"/api/public/projects/{projectId}/apiKeys\""),
        "{text}"
    );
}

#[tokio::test]
async fn prometheus_endpoint_requires_the_token_when_one_is_configured() {
    let app = spawn_app_with(&[("XTRACE_METRICS_TOKEN", "scrape-me")]).await;
    assert_eq!(scrape(&app, None).await.0, 401);
    assert_eq!(scrape(&app, Some("Bearer wrong")).await.0, 401);
    let (status, text) = scrape(&app, Some("Bearer scrape-me")).await;
    assert_eq!(status, 200);
    assert!(text.contains("xtrace_ingest_queue_depth"));
}
