//! Sessions, scores, dashboard, prompts, datasets and infrastructure-metric pages. Each
//! reads through the store functions the public API uses, scoped to the session's
//! project.

use std::collections::{BTreeMap, HashMap};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde_json::{Map, Value};

use super::charts::{bar_chart, line_chart, Series};
use super::render::{self, cost, count, duration, short_id, short_number};
use super::session::UiSession;
use super::traces::{parse_range, parse_time, score_value, scores_table, series_chart, PAGE_SIZE};
use super::{html_response, page, path_encode, url_encode, Params, Section, UiError, UiResult};
use crate::domain::paging::Page;
use crate::startup::AppState;
use crate::store;
use crate::store::metrics_query::{
    self as mq, Aggregation, ApiVersion, Granularity, MetricsQuery, ViewName,
};

fn page_no(p: &Params) -> u64 {
    p.get("page")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| (1..=100_000).contains(v))
        .unwrap_or(1)
}

fn pager(base: &str, p: &Params, page: u64, total: u64, limit: u64) -> Markup {
    let pages = total.div_ceil(limit).max(1);
    html! {
        nav.pager aria-label="Pages" {
            @if page > 1 { a rel="prev" href=(format!("{base}{}", p.with("page", Some(&(page - 1).to_string())))) { "← Previous" } }
            span { "Page " (page) " of " (pages) " · " (count(total as f64)) " total" }
            @if page < pages { a rel="next" href=(format!("{base}{}", p.with("page", Some(&(page + 1).to_string())))) { "Next →" } }
        }
    }
}

fn ok(s: &UiSession, section: Section, title: &str, body: Markup) -> UiResult {
    Ok(html_response(StatusCode::OK, page(s, section, title, body)))
}

// ------------------------------------------------------------------------------------
// Sessions
// ------------------------------------------------------------------------------------

/// `GET /project/{projectId}/sessions`.
pub async fn sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> UiResult {
    let s = UiSession::for_project(&req, &state, &path).await?;
    let pid = s.row.project_id.clone();
    let pe = path_encode(&pid);
    let p = Params::from_req(&req);
    let pg = page_no(&p);
    let (rows, total) = store::sessions::list_sessions(
        &state.pool,
        &pid,
        &Default::default(),
        Page {
            page: pg,
            limit: PAGE_SIZE,
        },
    )
    .await?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let sums: HashMap<String, store::ui::SessionSummary> =
        store::ui::session_summaries(&state.pool, &pid, &ids)
            .await?
            .into_iter()
            .map(|s| (s.session_id.clone(), s))
            .collect();
    let body = html! {
        h1 { "Sessions" }
        div.tablewrap { table.list #sessions {
            thead { tr { th { "Session" } th { "Created (UTC)" } th.num { "Traces" } th { "Users" } th.num { "Duration" } th { "Environment" } } }
            tbody { @for r in &rows {
                @let sum = sums.get(&r.id);
                tr {
                    td { a href=(format!("/project/{pe}/sessions/{}", path_encode(&r.id))) { (r.id) } }
                    td.nowrap { (render::time(r.created_at)) }
                    td.num { (sum.map(|s| s.traces).unwrap_or(0)) }
                    td { @if let Some(s) = sum { @for u in &s.users {
                        a href=(format!("/project/{pe}/traces?user={}", url_encode(u))) { (u) } " "
                    } } }
                    td.num { @if let Some((f, l)) = sum.and_then(|s| s.first.zip(s.last)) {
                        (duration((l - f).num_milliseconds() as f64 / 1000.0))
                    } }
                    td { (r.environment) }
                }
            } }
        } }
        @if rows.is_empty() { p.muted.empty { "No sessions yet." } }
        (pager(&format!("/project/{pe}/sessions"), &p, pg, total, PAGE_SIZE))
    };
    ok(&s, Section::Sessions, "Sessions", body)
}

/// `GET /project/{projectId}/sessions/{sessionId}`: the session as a conversation.
pub async fn session(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> UiResult {
    let (project_id, session_id) = path.into_inner();
    let s = UiSession::for_project(&req, &state, &project_id).await?;
    let pid = s.row.project_id.clone();
    let pe = path_encode(&pid);
    let (found, traces) = tokio::try_join!(
        store::sessions::find_session(&state.pool, &pid, &session_id),
        store::traces::list_for_session(&state.pool, &pid, &session_id),
    )?;
    if found.is_none() && traces.is_empty() {
        return Err(UiError::NotFound);
    }
    let ids: Vec<String> = traces.iter().map(|t| t.id.clone()).collect();
    let aggs = store::traces::aggregates(&state.pool, &pid, &ids).await?;
    let aggs: HashMap<String, store::traces::TraceAggregate> =
        aggs.into_iter().map(|a| (a.trace_id.clone(), a)).collect();
    let scores = store::scores::list_scores(
        &state.pool,
        &pid,
        &store::scores::ScoreFilter {
            session_ids: vec![session_id.clone()],
            ..Default::default()
        },
        Page {
            page: 1,
            limit: 100,
        },
    )
    .await?
    .0;
    let total_cost: f64 = aggs.values().map(|a| a.total_cost).sum();
    let body = html! {
        nav.crumbs { a href=(format!("/project/{pe}/sessions")) { "Sessions" } " / " span { (session_id) } }
        h1 #session-title { "Session " code { (session_id) } }
        p.summary { (traces.len()) " traces · " (cost(total_cost)) }
        ol.conversation #conversation {
            @for t in &traces {
                li.turn {
                    div.turnhead {
                        a href=(format!("/project/{pe}/traces/{}", path_encode(&t.id))) { (t.name.as_deref().unwrap_or("(unnamed)")) }
                        span.muted { " · " (render::time(t.timestamp)) }
                        @if let Some(a) = aggs.get(&t.id) { span.muted { " · " (duration(a.latency)) " · " (cost(a.total_cost)) } }
                        @if let Some(u) = &t.user_id { span.muted { " · user " (u) } }
                    }
                    div.twocol {
                        div { h3 { "Input" } (render::io(t.input.as_ref().unwrap_or(&Value::Null))) }
                        div { h3 { "Output" } (render::io(t.output.as_ref().unwrap_or(&Value::Null))) }
                    }
                }
            }
        }
        h2 { "Scores" }
        (scores_table(&scores))
    };
    ok(&s, Section::Sessions, "Session", body)
}

// ------------------------------------------------------------------------------------
// Scores
// ------------------------------------------------------------------------------------

/// `GET /project/{projectId}/scores` (filters `name`, `source`, `dataType`, `trace`,
/// `range`), with the score configs.
pub async fn scores(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> UiResult {
    let s = UiSession::for_project(&req, &state, &path).await?;
    let pid = s.row.project_id.clone();
    let pe = path_encode(&pid);
    let p = Params::from_req(&req);
    let pg = page_no(&p);
    let mut f = store::scores::ScoreFilter {
        name: p.get("name").map(str::to_string),
        source: p.get("source").map(str::to_string),
        data_type: p.get("dataType").map(str::to_string),
        trace_ids: p
            .get("trace")
            .map(|t| vec![t.to_string()])
            .unwrap_or_default(),
        ..Default::default()
    };
    if let Some(r) = p.get("range") {
        let d = parse_range(r).ok_or_else(|| UiError::BadRequest(format!("Unknown range {r}.")))?;
        f.from_timestamp = Some(Utc::now() - d);
    }
    let (rows, total) = store::scores::list_scores(
        &state.pool,
        &pid,
        &f,
        Page {
            page: pg,
            limit: PAGE_SIZE,
        },
    )
    .await?;
    let (configs, _) = store::score_configs::list(
        &state.pool,
        &pid,
        Page {
            page: 1,
            limit: 100,
        },
    )
    .await?;
    let v = |k: &str| p.get(k).unwrap_or("").to_string();
    let body = html! {
        h1 { "Scores" }
        form.filters method="get" role="search" {
            input name="name" value=(v("name")) placeholder="Name" aria-label="Name";
            select name="source" aria-label="Source" {
                option value="" { "Any source" }
                @for x in ["API", "EVAL", "ANNOTATION"] { option value=(x) selected[p.get("source") == Some(x)] { (x) } }
            }
            select name="dataType" aria-label="Data type" {
                option value="" { "Any type" }
                @for x in ["NUMERIC", "CATEGORICAL", "BOOLEAN", "TEXT"] { option value=(x) selected[p.get("dataType") == Some(x)] { (x) } }
            }
            input name="trace" value=(v("trace")) placeholder="Trace id" aria-label="Trace id";
            select name="range" aria-label="Time range" {
                option value="" { "All time" }
                @for r in ["24h", "7d", "30d"] { option value=(r) selected[p.get("range") == Some(r)] { "Last " (r) } }
            }
            button type="submit" { "Apply" }
            a href=(format!("/project/{pe}/scores")) { "Reset" }
        }
        div.tablewrap { table.list #scores {
            thead { tr { th { "Time (UTC)" } th { "Name" } th.num { "Value" } th { "Type" } th { "Source" } th { "Trace" } th { "Observation" } th { "Comment" } } }
            tbody { @for r in &rows { tr {
                td.nowrap { (render::time(r.timestamp)) }
                td { (r.name) }
                td.num { (score_value(r)) }
                td { (r.data_type) }
                td { (r.source) }
                td { @if let Some(t) = &r.trace_id { a href=(format!("/project/{pe}/traces/{}", path_encode(t))) { code { (short_id(t)) } } } }
                td { @if let (Some(t), Some(o)) = (&r.trace_id, &r.observation_id) {
                    a href=(format!("/project/{pe}/traces/{}?observation={}", path_encode(t), url_encode(o))) { code { (short_id(o)) } }
                } }
                td { (r.comment.as_deref().unwrap_or("")) }
            } } }
        } }
        @if rows.is_empty() { p.muted.empty { "No scores match." } }
        (pager(&format!("/project/{pe}/scores"), &p, pg, total, PAGE_SIZE))
        h2 { "Score configs" }
        @if configs.is_empty() { p.muted { "No score configs." } } @else {
            table.list #score-configs {
                thead { tr { th { "Name" } th { "Type" } th { "Range / categories" } th { "Archived" } th { "Description" } } }
                tbody { @for c in &configs { tr {
                    td { (c.name) } td { (c.data_type) }
                    td {
                        @if let Some(cats) = &c.categories { code { (cats.to_string()) } }
                        @else { (c.min_value.map(short_number).unwrap_or_else(|| "−∞".into())) " … " (c.max_value.map(short_number).unwrap_or_else(|| "∞".into())) }
                    }
                    td { @if c.is_archived { "yes" } }
                    td { (c.description.as_deref().unwrap_or("")) }
                } } }
            }
        }
    };
    ok(&s, Section::Scores, "Scores", body)
}

// ------------------------------------------------------------------------------------
// Dashboard
// ------------------------------------------------------------------------------------

fn range_picker(base: &str, current: &str, options: &[&str]) -> Markup {
    html! {
        nav.range aria-label="Time range" {
            @for r in options {
                a href=(format!("{base}?range={r}")) aria-current=[(*r == current).then_some("true")] { (r) }
            }
        }
    }
}

struct Q<'a> {
    view: ViewName,
    dims: &'a [&'a str],
    metrics: &'a [(&'a str, &'a str)],
    time: bool,
    order: Option<(&'a str, bool)>,
    limit: Option<u32>,
}

async fn run_query(
    state: &AppState,
    project_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    q: Q<'_>,
) -> Result<Vec<Map<String, Value>>, UiError> {
    let agg = |n: &str| {
        Aggregation::ALL
            .iter()
            .find(|(w, _)| *w == n)
            .map(|(_, a)| *a)
            .unwrap_or(Aggregation::Count)
    };
    let query = MetricsQuery {
        version: ApiVersion::V1,
        view: q.view,
        dimensions: q.dims.iter().map(|d| d.to_string()).collect(),
        metrics: q
            .metrics
            .iter()
            .map(|(m, a)| (m.to_string(), agg(a)))
            .collect(),
        filters: Vec::new(),
        granularity: q.time.then_some(Granularity::Auto),
        from,
        to,
        order_by: q.order.map(|(f, desc)| vec![(f.to_string(), desc)]),
        bins: 10,
        row_limit: q.limit,
    };
    let compiled = mq::compile(project_id, &query).map_err(UiError::BadRequest)?;
    Ok(mq::run(&state.pool, compiled).await?)
}

fn f64_of(v: Option<&Value>) -> f64 {
    match v {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn label_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "(none)".into(),
        Some(other) => other.to_string(),
    }
}

/// Rows with `time_dimension` (and maybe one dimension) as series on a shared axis.
fn time_series(
    rows: &[Map<String, Value>],
    dim: Option<&str>,
    metric: &str,
) -> (Vec<String>, Vec<Series>) {
    let mut times: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            r.get("time_dimension")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    times.sort();
    times.dedup();
    let idx: HashMap<&str, usize> = times
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let mut by: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for r in rows {
        let Some(t) = r.get("time_dimension").and_then(Value::as_str) else {
            continue;
        };
        let name = dim.map(|d| label_of(r.get(d))).unwrap_or_default();
        let vals = by
            .entry(name)
            .or_insert_with(|| vec![Some(0.0); times.len()]);
        vals[idx[t]] = Some(f64_of(r.get(metric)));
    }
    let labels = times
        .iter()
        .map(|t| {
            let t = t.replace('T', " ");
            let t = t.trim_end_matches('Z').trim_end_matches(".000");
            if t.ends_with("00:00:00") {
                t[5..10].to_string()
            } else if t.len() >= 16 {
                t[5..16].to_string()
            } else {
                t.to_string()
            }
        })
        .collect();
    (
        labels,
        by.into_iter()
            .map(|(name, values)| Series { name, values })
            .collect(),
    )
}

fn bars(rows: &[Map<String, Value>], dim: &str, metric: &str) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = rows
        .iter()
        .map(|r| (label_of(r.get(dim)), f64_of(r.get(metric))))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out.truncate(10);
    out
}

fn fmt_cost(v: f64) -> String {
    cost(v)
}

fn fmt_ms(v: f64) -> String {
    duration(v / 1000.0)
}

fn fmt_count(v: f64) -> String {
    short_number(v)
}

/// `GET /project/{projectId}/dashboard?range=24h|7d|30d|90d` (charts over the metrics
/// query engine, `store::metrics_query`).
pub async fn dashboard(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> UiResult {
    let s = UiSession::for_project(&req, &state, &path).await?;
    let pid = s.row.project_id.clone();
    let pe = path_encode(&pid);
    let p = Params::from_req(&req);
    let range = p.get("range").unwrap_or("7d").to_string();
    let d = parse_range(&range)
        .ok_or_else(|| UiError::BadRequest(format!("Unknown range {range}.")))?;
    let to = Utc::now();
    let from = to - d;
    let st = &state;
    let (traces_t, obs_t, by_model, latency, users, names) = tokio::try_join!(
        run_query(
            st,
            &pid,
            from,
            to,
            Q {
                view: ViewName::Traces,
                dims: &[],
                metrics: &[("count", "count")],
                time: true,
                order: None,
                limit: None
            }
        ),
        run_query(
            st,
            &pid,
            from,
            to,
            Q {
                view: ViewName::Observations,
                dims: &["level"],
                metrics: &[("count", "count")],
                time: true,
                order: None,
                limit: None
            }
        ),
        run_query(
            st,
            &pid,
            from,
            to,
            Q {
                view: ViewName::Observations,
                dims: &["providedModelName"],
                metrics: &[
                    ("totalCost", "sum"),
                    ("totalTokens", "sum"),
                    ("count", "count")
                ],
                time: false,
                order: Some(("sum_totalCost", true)),
                limit: Some(20)
            }
        ),
        run_query(
            st,
            &pid,
            from,
            to,
            Q {
                view: ViewName::Observations,
                dims: &["providedModelName"],
                metrics: &[("latency", "p50"), ("latency", "p95"), ("latency", "p99")],
                time: false,
                order: Some(("p95_latency", true)),
                limit: Some(10)
            }
        ),
        run_query(
            st,
            &pid,
            from,
            to,
            Q {
                view: ViewName::Traces,
                dims: &["userId"],
                metrics: &[("count", "count")],
                time: false,
                order: Some(("count_count", true)),
                limit: Some(11)
            }
        ),
        run_query(
            st,
            &pid,
            from,
            to,
            Q {
                view: ViewName::Traces,
                dims: &["name"],
                metrics: &[("latency", "p50"), ("latency", "p95"), ("latency", "p99")],
                time: false,
                order: Some(("p95_latency", true)),
                limit: Some(10)
            }
        ),
    )?;
    let (tl, ts) = time_series(&traces_t, None, "count_count");
    let (ol, os) = time_series(&obs_t, Some("level"), "count_count");
    // Error rate per bucket: ERROR observations / all observations.
    let err_rate: Vec<Option<f64>> = (0..ol.len())
        .map(|i| {
            let all: f64 = os.iter().filter_map(|s| s.values[i]).sum();
            let err: f64 = os
                .iter()
                .filter(|s| s.name == "ERROR")
                .filter_map(|s| s.values[i])
                .sum();
            Some(if all > 0.0 { 100.0 * err / all } else { 0.0 })
        })
        .collect();
    let total_obs: Vec<Option<f64>> = (0..ol.len())
        .map(|i| Some(os.iter().filter_map(|s| s.values[i]).sum()))
        .collect();
    let model_rows: Vec<&Map<String, Value>> = by_model
        .iter()
        .filter(|r| !r.get("providedModelName").is_some_and(Value::is_null))
        .collect();
    let model_rows: Vec<Map<String, Value>> = model_rows.into_iter().cloned().collect();
    let lat_rows: Vec<Map<String, Value>> = latency
        .into_iter()
        .filter(|r| !r.get("providedModelName").is_some_and(Value::is_null))
        .collect();
    let user_rows: Vec<Map<String, Value>> = users
        .into_iter()
        .filter(|r| !r.get("userId").is_some_and(Value::is_null))
        .take(10)
        .collect();
    let pct_table = |rows: &[Map<String, Value>], dim: &str, label: &str| {
        html! {
            table.list.compact {
                thead { tr { th { (label) } th.num { "p50" } th.num { "p95" } th.num { "p99" } } }
                tbody { @for r in rows { tr {
                    td { (label_of(r.get(dim))) }
                    td.num { (fmt_ms(f64_of(r.get("p50_latency")))) }
                    td.num { (fmt_ms(f64_of(r.get("p95_latency")))) }
                    td.num { (fmt_ms(f64_of(r.get("p99_latency")))) }
                } } }
            }
        }
    };
    let body = html! {
        h1 { "Dashboard" }
        (range_picker(&format!("/project/{pe}/dashboard"), &range, &["24h", "7d", "30d", "90d"]))
        div.charts #dashboard {
            (line_chart("Traces over time", &tl, &ts))
            (line_chart("Observations over time", &ol, &[Series { name: String::new(), values: total_obs }]))
            (line_chart("Error rate (% of observations at ERROR)", &ol, &[Series { name: String::new(), values: err_rate }]))
            (bar_chart("Cost by model (USD)", &bars(&model_rows, "providedModelName", "sum_totalCost"), fmt_cost))
            (bar_chart("Tokens by model", &bars(&model_rows, "providedModelName", "sum_totalTokens"), fmt_count))
            (bar_chart("p95 latency by model", &bars(&lat_rows, "providedModelName", "p95_latency"), fmt_ms))
            (bar_chart("Top users by traces", &bars(&user_rows, "userId", "count_count"), fmt_count))
            (bar_chart("p95 latency by trace name", &bars(&names, "name", "p95_latency"), fmt_ms))
        }
        div.twocol {
            div { h2 { "Latency by model" } (pct_table(&lat_rows, "providedModelName", "Model")) }
            div { h2 { "Latency by trace name" } (pct_table(&names, "name", "Trace name")) }
        }
    };
    ok(&s, Section::Dashboard, "Dashboard", body)
}

// ------------------------------------------------------------------------------------
// Prompts
// ------------------------------------------------------------------------------------

/// `GET /project/{projectId}/prompts`.
pub async fn prompts(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> UiResult {
    let s = UiSession::for_project(&req, &state, &path).await?;
    let pid = s.row.project_id.clone();
    let pe = path_encode(&pid);
    let p = Params::from_req(&req);
    let pg = page_no(&p);
    let (rows, total) =
        store::prompts::list_prompts(&state.pool, &pid, &Default::default(), pg, PAGE_SIZE).await?;
    let body = html! {
        h1 { "Prompts" }
        div.tablewrap { table.list #prompts {
            thead { tr { th { "Name" } th { "Type" } th { "Versions" } th { "Labels" } th { "Tags" } th { "Updated (UTC)" } } }
            tbody { @for r in &rows { tr {
                td { a href=(format!("/project/{pe}/prompts/{}", path_encode(&r.name))) { (r.name) } }
                td { (r.r#type) }
                td.num { (r.versions.len()) }
                td { @for l in &r.labels { span.tag { (l) } " " } }
                td { @for t in &r.tags { span.tag { (t) } " " } }
                td.nowrap { (render::time(r.last_updated_at)) }
            } } }
        } }
        @if rows.is_empty() { p.muted.empty { "No prompts yet." } }
        (pager(&format!("/project/{pe}/prompts"), &p, pg, total, PAGE_SIZE))
    };
    ok(&s, Section::Prompts, "Prompts", body)
}

/// `GET /project/{projectId}/prompts/{name}[?version=N]`.
pub async fn prompt(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> UiResult {
    let (project_id, name) = path.into_inner();
    let s = UiSession::for_project(&req, &state, &project_id).await?;
    let pid = s.row.project_id.clone();
    let pe = path_encode(&pid);
    let p = Params::from_req(&req);
    let (groups, _) = store::prompts::list_prompts(
        &state.pool,
        &pid,
        &store::prompts::ListFilter {
            name: Some(name.clone()),
            ..Default::default()
        },
        1,
        1,
    )
    .await?;
    let Some(group) = groups.into_iter().next() else {
        return Err(UiError::NotFound);
    };
    let version = match p.get("version") {
        Some(v) => v
            .parse::<i32>()
            .map_err(|_| UiError::BadRequest("version must be a number".into()))?,
        None => *group.versions.last().unwrap_or(&1),
    };
    let mut versions = Vec::new();
    for v in group.versions.iter().rev() {
        if let Some(r) = store::prompts::find_prompt(
            &state.pool,
            &pid,
            &name,
            &store::prompts::Selector::Version(*v),
        )
        .await?
        {
            versions.push(r);
        }
    }
    let Some(cur) = versions.iter().find(|r| r.version == version) else {
        return Err(UiError::NotFound);
    };
    let uses = store::ui::prompt_generations(&state.pool, &pid, &name, version, 20).await?;
    let base = format!("/project/{pe}/prompts/{}", path_encode(&name));
    let body = html! {
        nav.crumbs { a href=(format!("/project/{pe}/prompts")) { "Prompts" } " / " span { (name) } }
        h1 #prompt-title { (name) " " span.muted { "v" (cur.version) } }
        div.sidebyside {
            section.versions aria-label="Versions" {
                h2 { "Versions" }
                ol.plain { @for r in &versions { li {
                    a href=(format!("{base}?version={}", r.version)) aria-current=[(r.version == cur.version).then_some("true")] { "v" (r.version) }
                    " " @for l in &r.labels { span.tag { (l) } " " }
                    div.muted.small { (render::time(r.created_at)) @if let Some(m) = &r.commit_message { " · " (m) } }
                } } }
            }
            section aria-label="Prompt" {
                dl.facts {
                    div { dt { "Type" } dd { (cur.r#type) } }
                    div { dt { "Labels" } dd { @for l in &cur.labels { span.tag { (l) } " " } } }
                    div { dt { "Tags" } dd { @for t in &cur.tags { span.tag { (t) } " " } } }
                    div { dt { "Created by" } dd { (cur.created_by) } }
                }
                h2 { "Content" }
                div #prompt-content { (render::io(&cur.prompt)) }
                h3 { "Config" } (render::kv_table(&cur.config))
                h3 { "Generations using v" (cur.version) }
                @if uses.is_empty() { p.muted { "None yet." } } @else {
                    table.list.compact { tbody { @for (oid, tid, oname, at) in &uses { tr {
                        td { a href=(format!("/project/{pe}/traces/{}?observation={}", path_encode(tid), url_encode(oid))) { (oname.as_deref().unwrap_or("generation")) } }
                        td.nowrap { (render::time(*at)) }
                    } } } }
                }
            }
        }
    };
    ok(&s, Section::Prompts, &name, body)
}

// ------------------------------------------------------------------------------------
// Datasets
// ------------------------------------------------------------------------------------

/// `GET /project/{projectId}/datasets`.
pub async fn datasets(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> UiResult {
    let s = UiSession::for_project(&req, &state, &path).await?;
    let pid = s.row.project_id.clone();
    let pe = path_encode(&pid);
    let p = Params::from_req(&req);
    let pg = page_no(&p);
    let (rows, total) =
        store::datasets::list_datasets(&state.pool, &pid, PAGE_SIZE, (pg - 1) * PAGE_SIZE).await?;
    let body = html! {
        h1 { "Datasets" }
        div.tablewrap { table.list #datasets {
            thead { tr { th { "Name" } th { "Description" } th { "Created (UTC)" } } }
            tbody { @for r in &rows { tr {
                td { a href=(format!("/project/{pe}/datasets/{}", path_encode(&r.id))) { (r.name) } }
                td { (r.description.as_deref().unwrap_or("")) }
                td.nowrap { (render::time(r.created_at)) }
            } } }
        } }
        @if rows.is_empty() { p.muted.empty { "No datasets yet." } }
        (pager(&format!("/project/{pe}/datasets"), &p, pg, total, PAGE_SIZE))
    };
    ok(&s, Section::Datasets, "Datasets", body)
}

async fn find_dataset(
    state: &AppState,
    pid: &str,
    id: &str,
) -> Result<store::datasets::DatasetRow, UiError> {
    store::datasets::find_dataset_by_id(&state.pool, pid, id)
        .await?
        .ok_or(UiError::NotFound)
}

/// `GET /project/{projectId}/datasets/{datasetId}`: items and runs.
pub async fn dataset(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> UiResult {
    let (project_id, dataset_id) = path.into_inner();
    let s = UiSession::for_project(&req, &state, &project_id).await?;
    let pid = s.row.project_id.clone();
    let pe = path_encode(&pid);
    let d = find_dataset(&state, &pid, &dataset_id).await?;
    let (items, n_items) = store::datasets::list_items(
        &state.pool,
        &pid,
        &store::datasets::ItemFilter {
            dataset_id: Some(d.id.clone()),
            ..Default::default()
        },
        100,
        0,
    )
    .await?;
    let (runs, _) = store::datasets::list_runs(&state.pool, &pid, &d.id, 100, 0).await?;
    let base = format!("/project/{pe}/datasets/{}", path_encode(&d.id));
    let body = html! {
        nav.crumbs { a href=(format!("/project/{pe}/datasets")) { "Datasets" } " / " span { (d.name) } }
        h1 #dataset-title { (d.name) }
        @if let Some(desc) = &d.description { p { (desc) } }
        h2 { "Runs (" (runs.len()) ")" }
        @if runs.is_empty() { p.muted { "No runs yet." } } @else {
            form method="get" action=(format!("{base}/compare")) {
                table.list #runs {
                    thead { tr { th { "Compare" } th { "Run" } th { "Description" } th { "Created (UTC)" } } }
                    tbody { @for r in &runs { tr {
                        td { input type="checkbox" name="run" value=(r.name) aria-label=(format!("Compare {}", r.name)); }
                        td { a href=(format!("{base}/runs/{}", path_encode(&r.name))) { (r.name) } }
                        td { (r.description.as_deref().unwrap_or("")) }
                        td.nowrap { (render::time(r.created_at)) }
                    } } }
                }
                button #compare type="submit" { "Compare selected runs" }
            }
        }
        h2 { "Items (" (n_items) ")" }
        div.tablewrap { table.list #items {
            thead { tr { th { "Item" } th { "Input" } th { "Expected output" } th { "Source trace" } } }
            tbody { @for i in &items { tr {
                td { code { (short_id(&i.id)) } }
                td.io { (render::io(i.input.as_ref().unwrap_or(&Value::Null))) }
                td.io { (render::io(i.expected_output.as_ref().unwrap_or(&Value::Null))) }
                td { @if let Some(t) = &i.source_trace_id { a href=(format!("/project/{pe}/traces/{}", path_encode(t))) { code { (short_id(t)) } } } }
            } } }
        } }
    };
    ok(&s, Section::Datasets, &d.name, body)
}

struct RunCell {
    trace_id: String,
    output: Value,
    scores: Vec<store::scores::ScoreRow>,
    latency: f64,
    cost: f64,
}

/// Run items of one run keyed by dataset item, with their trace's output and scores.
async fn run_cells(
    state: &AppState,
    pid: &str,
    run_id: &str,
) -> Result<HashMap<String, RunCell>, UiError> {
    let (items, _) = store::datasets::list_run_items(&state.pool, pid, run_id, 500, 0).await?;
    let trace_ids: Vec<String> = items.iter().map(|i| i.trace_id.clone()).collect();
    let (aggs, scores) = tokio::try_join!(
        store::traces::aggregates(&state.pool, pid, &trace_ids),
        async {
            if trace_ids.is_empty() {
                return Ok((Vec::new(), 0));
            }
            store::scores::list_scores(
                &state.pool,
                pid,
                &store::scores::ScoreFilter {
                    trace_ids: trace_ids.clone(),
                    ..Default::default()
                },
                Page {
                    page: 1,
                    limit: 1000,
                },
            )
            .await
        },
    )?;
    let aggs: HashMap<String, store::traces::TraceAggregate> =
        aggs.into_iter().map(|a| (a.trace_id.clone(), a)).collect();
    let mut out = HashMap::new();
    for ri in items {
        let t = store::traces::find_trace(&state.pool, pid, &ri.trace_id, true).await?;
        let a = aggs.get(&ri.trace_id);
        out.insert(
            ri.dataset_item_id.clone(),
            RunCell {
                output: t.and_then(|t| t.output).unwrap_or(Value::Null),
                scores: scores
                    .0
                    .iter()
                    .filter(|s| s.trace_id.as_deref() == Some(ri.trace_id.as_str()))
                    .cloned()
                    .collect(),
                latency: a.map(|a| a.latency).unwrap_or(0.0),
                cost: a.map(|a| a.total_cost).unwrap_or(0.0),
                trace_id: ri.trace_id,
            },
        );
    }
    Ok(out)
}

fn cell(pe: &str, c: Option<&RunCell>) -> Markup {
    html! {
        @match c {
            None => span.muted { "—" },
            Some(c) => {
                div.io { (render::io(&c.output)) }
                div.small {
                    a href=(format!("/project/{pe}/traces/{}", path_encode(&c.trace_id))) { "trace " code { (short_id(&c.trace_id)) } }
                    " · " (duration(c.latency)) " · " (cost(c.cost))
                }
                div { @for s in &c.scores { span.score { (s.name) ": " (score_value(s)) } " " } }
            }
        }
    }
}

/// `GET /project/{projectId}/datasets/{datasetId}/runs/{runName}`.
pub async fn dataset_run(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> UiResult {
    let (project_id, dataset_id, run_name) = path.into_inner();
    compare_page(req, state, project_id, dataset_id, vec![run_name]).await
}

/// `GET /project/{projectId}/datasets/{datasetId}/compare?run=a&run=b`: runs side by side.
pub async fn dataset_compare(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> UiResult {
    let (project_id, dataset_id) = path.into_inner();
    let runs = Params::from_req(&req).all("run");
    if runs.is_empty() {
        return Err(UiError::BadRequest("Select at least one run.".into()));
    }
    compare_page(req, state, project_id, dataset_id, runs).await
}

async fn compare_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    project_id: String,
    dataset_id: String,
    run_names: Vec<String>,
) -> UiResult {
    let s = UiSession::for_project(&req, &state, &project_id).await?;
    let pid = s.row.project_id.clone();
    let pe = path_encode(&pid);
    let d = find_dataset(&state, &pid, &dataset_id).await?;
    let mut runs = Vec::new();
    for n in run_names.iter().take(6) {
        let r = store::datasets::find_run(&state.pool, &pid, &d.id, n)
            .await?
            .ok_or(UiError::NotFound)?;
        let cells = run_cells(&state, &pid, &r.id).await?;
        runs.push((r, cells));
    }
    let (items, _) = store::datasets::list_items(
        &state.pool,
        &pid,
        &store::datasets::ItemFilter {
            dataset_id: Some(d.id.clone()),
            ..Default::default()
        },
        200,
        0,
    )
    .await?;
    let base = format!("/project/{pe}/datasets/{}", path_encode(&d.id));
    let title = if runs.len() == 1 {
        format!("Run {}", runs[0].0.name)
    } else {
        "Compare runs".to_string()
    };
    let body = html! {
        nav.crumbs { a href=(format!("/project/{pe}/datasets")) { "Datasets" } " / " a href=(base) { (d.name) } " / " span { (title) } }
        h1 #run-title { (title) }
        div.tablewrap { table.list.compare #run-items {
            thead { tr {
                th { "Item input" } th { "Expected" }
                @for (r, _) in &runs { th { a href=(format!("{base}/runs/{}", path_encode(&r.name))) { (r.name) } } }
            } }
            tbody { @for i in &items { tr {
                td.io { (render::io(i.input.as_ref().unwrap_or(&Value::Null))) }
                td.io { (render::io(i.expected_output.as_ref().unwrap_or(&Value::Null))) }
                @for (_, cells) in &runs { td { (cell(&pe, cells.get(&i.id))) } }
            } } }
        } }
    };
    ok(&s, Section::Datasets, &title, body)
}

// ------------------------------------------------------------------------------------
// Infrastructure metrics
// ------------------------------------------------------------------------------------

/// `GET /project/{projectId}/metrics?name=&labels=k=v,k2=v2&group_by=&agg=&step=&range=`:
/// the time-series metrics (`/v1/metrics/batch` data) as charts.
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> UiResult {
    let s = UiSession::for_project(&req, &state, &path).await?;
    let pid = s.row.project_id.clone();
    let pe = path_encode(&pid);
    let p = Params::from_req(&req);
    let names = store::tsmetrics::list_names(&state.pool, &pid).await?;
    let range = p.get("range").unwrap_or("1h").to_string();
    let to = match p.get("to") {
        Some(v) => parse_time(v).ok_or_else(|| UiError::BadRequest(format!("Bad time {v}.")))?,
        None => Utc::now(),
    };
    let from = match p.get("from") {
        Some(v) => parse_time(v).ok_or_else(|| UiError::BadRequest(format!("Bad time {v}.")))?,
        None => {
            to - parse_range(&range)
                .ok_or_else(|| UiError::BadRequest(format!("Unknown range {range}.")))?
        }
    };
    if from >= to {
        return Err(UiError::BadRequest("from must be before to".into()));
    }
    let agg_name = p.get("agg").unwrap_or("avg");
    let agg = store::tsmetrics::Agg::parse(agg_name)
        .ok_or_else(|| UiError::BadRequest(format!("Unknown aggregation {agg_name}.")))?;
    let step = match p.get("step") {
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|s| *s >= 1)
            .ok_or_else(|| UiError::BadRequest("step must be a number of seconds".into()))?,
        None => ((to - from).num_seconds() / 120).max(1),
    };
    let mut labels = Map::new();
    if let Some(l) = p.get("labels") {
        for kv in l.split(',') {
            if let Some((k, v)) = kv.split_once('=') {
                labels.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
            }
        }
    }
    let group_by = p.get("group_by").map(str::to_string);
    // No metric chosen: chart the first few, so the page shows something at once.
    let chosen: Vec<String> = match p.get("name") {
        Some(n) => vec![n.to_string()],
        None => names.iter().take(4).map(|(n, _)| n.clone()).collect(),
    };
    let mut charts = Vec::new();
    let mut conn = state.pool.acquire().await?;
    for name in &chosen {
        let q = store::tsmetrics::SeriesQuery {
            name: name.clone(),
            from,
            to,
            labels: (!labels.is_empty()).then(|| labels.clone()),
            step_secs: step,
            agg,
            group_by: group_by.clone(),
            max_series: 12,
            max_points: 600,
        };
        let out = store::tsmetrics::query_series(&mut conn, &pid, &q).await?;
        let title = format!("{name} · {} per {}s", agg.as_str(), step);
        charts.push(html! {
            (series_chart(&title, &out.series, from, to, step))
            @if out.series_truncated { p.muted.small { "Showing " (out.series.len()) " of " (out.total_series) " series." } }
        });
    }
    let keys: Vec<String> = {
        let mut k: Vec<String> = names
            .iter()
            .filter(|(n, _)| chosen.contains(n))
            .flat_map(|(_, ks)| ks.iter().cloned())
            .collect();
        k.sort();
        k.dedup();
        k
    };
    let v = |k: &str| p.get(k).unwrap_or("").to_string();
    let body = html! {
        h1 { "Infrastructure metrics" }
        form.filters method="get" {
            select name="name" aria-label="Metric" {
                option value="" { "First metrics" }
                @for (n, _) in &names { option value=(n) selected[p.get("name") == Some(n.as_str())] { (n) } }
            }
            input name="labels" value=(v("labels")) placeholder="Labels: node_id=n1,gpu_index=0" aria-label="Label filter";
            select name="group_by" aria-label="Group by" {
                option value="" { "No grouping" }
                @for k in &keys { option value=(k) selected[p.get("group_by") == Some(k.as_str())] { "by " (k) } }
            }
            select name="agg" aria-label="Aggregation" {
                @for a in ["avg", "max", "min", "sum", "count", "last", "p50", "p90", "p95", "p99"] {
                    option value=(a) selected[agg_name == a] { (a) }
                }
            }
            input name="step" value=(v("step")) placeholder="Step (s)" aria-label="Step in seconds" size="6";
            select name="range" aria-label="Time range" {
                @for r in ["15m", "1h", "6h", "24h", "7d", "30d"] { option value=(r) selected[range == r] { "Last " (r) } }
            }
            button type="submit" { "Apply" }
        }
        @if names.is_empty() { p.muted.empty { "No metrics yet. Send them to /v1/metrics/batch or through OTLP." } }
        div.charts #metric-charts { @for c in charts { (c) } }
        @if !names.is_empty() {
            h2 { "Metrics" }
            table.list.compact { thead { tr { th { "Name" } th { "Label keys" } } } tbody {
                @for (n, ks) in &names { tr {
                    td { a href=(format!("/project/{pe}/metrics?name={}&range={range}", url_encode(n))) { (n) } }
                    td { @for k in ks { code { (k) } " " } }
                } }
            } }
        }
    };
    ok(&s, Section::Metrics, "Infrastructure metrics", body)
}

// ------------------------------------------------------------------------------------
// Media
// ------------------------------------------------------------------------------------

/// Media types shown inline (`<img>`); everything else (SVG included, which can carry
/// script) is sent as a download.
pub const INLINE_IMAGE_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/jpg",
    "image/gif",
    "image/webp",
];

/// `GET /ui/media/{mediaId}`: the bytes of an uploaded media object of the session's
/// project (what the `@@@langfuseMedia:…@@@` references in inputs and outputs point at).
pub async fn media(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> UiResult {
    let Some(s) = UiSession::current(&req, &state).await? else {
        return Err(UiError::SignIn(req.path().to_string()));
    };
    let m = store::media::find_media(&state.pool, &s.row.project_id, &path)
        .await?
        .filter(|m| m.uploaded_at.is_some() && !m.bucket_path.contains(".."))
        .ok_or(UiError::NotFound)?;
    let bytes = tokio::fs::read(state.config.media_dir.join(&m.bucket_path))
        .await
        .map_err(|_| UiError::NotFound)?;
    let inline = INLINE_IMAGE_TYPES.contains(&m.content_type.as_str());
    let mut resp = super::with_security_headers(actix_web::HttpResponse::Ok());
    resp.insert_header(("Content-Type", m.content_type.clone()))
        .insert_header(("Content-Security-Policy", "default-src 'none'; sandbox"));
    if !inline {
        resp.insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}\"", m.id),
        ));
    }
    Ok(resp.body(bytes))
}
