//! The trace list (`/project/{projectId}/traces`) and the trace view
//! (`/project/{projectId}/traces/{traceId}`, the URL the Langfuse SDKs print).
//!
//! List filters live in the URL: `name`, `user`, `session`, `tags` (comma-separated, all
//! must match), `env`, `level` (`ERROR`: traces with an error observation; `WARNING`:
//! with a warning or an error — the 10,000 most recent such traces), `from`/`to`
//! (`YYYY-MM-DDTHH:MM`, UTC) or `range` (`1h`, `24h`, `7d`, `30d`), `q` (a trace id, else
//! a substring of the name), `sort` (`timestamp`, `name`, `userId`, `sessionId`),
//! `dir` (`asc`/`desc`) and `page`. The list is read with `store::traces::list_traces`,
//! the query the public API runs.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use maud::{html, Markup};
use serde_json::Value;

use super::charts::{line_chart, Series};
use super::render::{self, cost, count, duration, level_badge, short_id, type_icon};
use super::session::UiSession;
use super::{html_response, page, path_encode, url_encode, Params, Section, UiError, UiResult};
use crate::domain::filter::StringOp;
use crate::domain::paging::{Direction, Page};
use crate::startup::AppState;
use crate::store;
use crate::store::filter::{Condition, Predicate};
use crate::store::observations::ObservationRow;
use crate::store::traces::{TraceAggregate, TraceFilter, TraceRow};
use crate::store::ui::TraceSummary;

/// Rows per page.
pub const PAGE_SIZE: u64 = 50;

/// A filtered trace count stops here (an unfiltered one is exact and instant).
const COUNT_CAP: u64 = 10_000;

/// The level filter looks at this many traces with warnings/errors, most recent first.
const LEVEL_CAP: i64 = 10_000;

/// Parses `YYYY-MM-DDTHH:MM[:SS]` (a datetime-local input, read as UTC) or RFC 3339.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    None
}

/// `1h`, `24h`, `7d`, `30d`, `90d` as a duration.
pub fn parse_range(s: &str) -> Option<Duration> {
    Some(match s {
        "15m" => Duration::minutes(15),
        "1h" => Duration::hours(1),
        "6h" => Duration::hours(6),
        "24h" => Duration::hours(24),
        "7d" => Duration::days(7),
        "30d" => Duration::days(30),
        "90d" => Duration::days(90),
        _ => return None,
    })
}

struct ListState {
    filter: TraceFilter,
    page: u64,
    filtered: bool,
}

async fn list_state(state: &AppState, project_id: &str, p: &Params) -> Result<ListState, UiError> {
    let mut f = TraceFilter {
        name: p.get("name").map(str::to_string),
        user_id: p.get("user").map(str::to_string),
        session_id: p.get("session").map(str::to_string),
        tags: p
            .get("tags")
            .map(|t| {
                t.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        environments: p
            .get("env")
            .map(|e| vec![e.to_string()])
            .unwrap_or_default(),
        ..Default::default()
    };
    if let Some(r) = p.get("range") {
        let d = parse_range(r).ok_or_else(|| UiError::BadRequest(format!("Unknown range {r}.")))?;
        f.from_timestamp = Some(Utc::now() - d);
    }
    if let Some(v) = p.get("from") {
        f.from_timestamp =
            Some(parse_time(v).ok_or_else(|| UiError::BadRequest(format!("Bad time {v}.")))?);
    }
    if let Some(v) = p.get("to") {
        f.to_timestamp =
            Some(parse_time(v).ok_or_else(|| UiError::BadRequest(format!("Bad time {v}.")))?);
    }
    if let Some(level) = p.get("level") {
        let levels = match level {
            "ERROR" => vec!["ERROR".to_string()],
            "WARNING" => vec!["WARNING".to_string(), "ERROR".to_string()],
            _ => return Err(UiError::BadRequest(format!("Unknown level {level}."))),
        };
        // The traces with such observations come from the observations' level index; the
        // list then filters on their ids (no match: an empty list, which matches nothing).
        let ids =
            store::ui::traces_with_levels(&state.pool, project_id, &levels, LEVEL_CAP).await?;
        f.advanced
            .push(Condition::any_of(&store::filter::TRACES, "id", &ids));
    }
    if let Some(q) = p.get("q") {
        // A trace id finds that trace; anything else searches names.
        let by_id = store::traces::find_trace(&state.pool, project_id, q, false)
            .await?
            .is_some();
        let cond = if by_id {
            Condition::text_eq(&store::filter::TRACES, "id", q)
        } else {
            Condition::on(
                &store::filter::TRACES,
                "name",
                Predicate::Text(StringOp::Contains, q.to_string()),
            )
        };
        f.advanced.push(cond);
    }
    let sort_col = match p.get("sort").unwrap_or("timestamp") {
        "timestamp" => "t.timestamp",
        "name" => "t.name",
        "userId" => "t.user_id",
        "sessionId" => "t.session_id",
        other => return Err(UiError::BadRequest(format!("Cannot sort by {other}."))),
    };
    let dir = match p.get("dir").unwrap_or("desc") {
        "asc" => Direction::Asc,
        _ => Direction::Desc,
    };
    f.order = Some((sort_col, dir));
    let page = p
        .get("page")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| (1..=100_000).contains(v))
        .unwrap_or(1);
    let filtered = [
        "name", "user", "session", "tags", "env", "level", "range", "from", "to", "q",
    ]
    .iter()
    .any(|k| p.get(k).is_some());
    Ok(ListState {
        filter: f,
        page,
        filtered,
    })
}

struct RowData {
    trace: TraceRow,
    agg: TraceAggregate,
    summary: TraceSummary,
}

async fn row_data(
    state: &AppState,
    project_id: &str,
    rows: Vec<TraceRow>,
) -> Result<Vec<RowData>, UiError> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let (aggs, sums) = tokio::try_join!(
        store::traces::aggregates(&state.pool, project_id, &ids),
        store::ui::trace_summaries(&state.pool, project_id, &ids),
    )?;
    let mut aggs: HashMap<String, TraceAggregate> =
        aggs.into_iter().map(|a| (a.trace_id.clone(), a)).collect();
    let mut sums: HashMap<String, TraceSummary> =
        sums.into_iter().map(|s| (s.trace_id.clone(), s)).collect();
    Ok(rows
        .into_iter()
        .map(|t| RowData {
            agg: aggs.remove(&t.id).unwrap_or_default(),
            summary: sums.remove(&t.id).unwrap_or_default(),
            trace: t,
        })
        .collect())
}

fn trace_row(p: &str, r: &RowData, fresh: bool) -> Markup {
    let t = &r.trace;
    let href = format!("/project/{p}/traces/{}", path_encode(&t.id));
    html! {
        tr.fresh[fresh] data-ts=(t.timestamp.to_rfc3339()) {
            td.nowrap { (render::time(t.timestamp)) }
            td { a.tracelink href=(href) { (t.name.as_deref().unwrap_or("(unnamed)")) } }
            td { code title=(t.id) { (short_id(&t.id)) } }
            td { @if let Some(u) = &t.user_id { a href=(format!("/project/{p}/traces?user={}", url_encode(u))) { (u) } } }
            td { @if let Some(s) = &t.session_id { a href=(format!("/project/{p}/sessions/{}", path_encode(s))) { (short_id(s)) } } }
            td { @for tag in &t.tags { span.tag { (tag) } " " } }
            td { (t.environment) }
            td.num { (duration(r.agg.latency)) }
            td.num { (count(r.summary.total_tokens)) }
            td.num { (cost(r.agg.total_cost)) }
            td.num { (r.agg.observation_ids.len()) }
            td.scores { @for s in &r.summary.scores { span.score { (s) } " " } }
            td {
                @if r.summary.errors > 0 { span.badge.error title="Observations at ERROR" { (r.summary.errors) " error" @if r.summary.errors > 1 { "s" } } }
                @if r.summary.warnings > 0 { " " span.badge.warning title="Observations at WARNING" { (r.summary.warnings) " warn" } }
            }
        }
    }
}

/// `GET /project/{projectId}/traces`.
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> UiResult {
    let s = UiSession::for_project(&req, &state, &path).await?;
    let pid = s.row.project_id.clone();
    let p = Params::from_req(&req);
    let ls = list_state(&state, &pid, &p).await?;
    let (rows, total) = store::traces::list_traces_counting(
        &state.pool,
        &pid,
        &ls.filter,
        Page {
            page: ls.page,
            limit: PAGE_SIZE,
        },
        false,
        Some(COUNT_CAP),
    )
    .await?;
    // A filtered count stops at COUNT_CAP matches ("10,000+"); paging goes on while pages
    // are full.
    let capped = ls.filtered && total >= COUNT_CAP;
    let data = row_data(&state, &pid, rows).await?;
    let pe = path_encode(&pid);
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let has_next = if capped {
        data.len() as u64 == PAGE_SIZE
    } else {
        ls.page < pages
    };
    let sort = p.get("sort").unwrap_or("timestamp");
    let dir = p.get("dir").unwrap_or("desc");
    let live = ls.page == 1 && !ls.filtered && sort == "timestamp" && dir == "desc";
    let newest = data
        .first()
        .map(|d| d.trace.timestamp.to_rfc3339())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
    let sort_link = |col: &str, label: &str| {
        let next_dir = if sort == col && dir == "desc" {
            "asc"
        } else {
            "desc"
        };
        let q = Params(
            p.0.iter()
                .filter(|(k, _)| k != "sort" && k != "dir" && k != "page")
                .cloned()
                .chain([("sort".into(), col.into()), ("dir".into(), next_dir.into())])
                .collect(),
        );
        let mark = if sort == col {
            if dir == "asc" {
                " ▲"
            } else {
                " ▼"
            }
        } else {
            ""
        };
        html! { a href=(format!("/project/{pe}/traces{}", q.with("page", None))) { (label) (mark) } }
    };
    let v = |k: &str| p.get(k).unwrap_or("").to_string();
    let body = html! {
        h1 { "Traces" }
        form.filters method="get" action=(format!("/project/{pe}/traces")) role="search" {
            input type="search" name="q" value=(v("q")) placeholder="Search id or name" aria-label="Search id or name";
            input name="name" value=(v("name")) placeholder="Name" aria-label="Name";
            input name="user" value=(v("user")) placeholder="User id" aria-label="User id";
            input name="session" value=(v("session")) placeholder="Session id" aria-label="Session id";
            input name="tags" value=(v("tags")) placeholder="Tags (a,b)" aria-label="Tags";
            input name="env" value=(v("env")) placeholder="Environment" aria-label="Environment";
            select name="level" aria-label="Level" {
                option value="" { "Any level" }
                @for (val, label) in [("ERROR", "Has errors"), ("WARNING", "Warnings or errors")] {
                    option value=(val) selected[p.get("level") == Some(val)] { (label) }
                }
            }
            select name="range" aria-label="Time range" {
                option value="" { "All time" }
                @for r in ["1h", "24h", "7d", "30d"] {
                    option value=(r) selected[p.get("range") == Some(r)] { "Last " (r) }
                }
            }
            input type="datetime-local" name="from" value=(v("from")) aria-label="From (UTC)" title="From (UTC)";
            input type="datetime-local" name="to" value=(v("to")) aria-label="To (UTC)" title="To (UTC)";
            @if let Some(s) = p.get("sort") { input type="hidden" name="sort" value=(s); }
            @if let Some(d) = p.get("dir") { input type="hidden" name="dir" value=(d); }
            button type="submit" { "Apply" }
            a href=(format!("/project/{pe}/traces")) { "Reset" }
        }
        p.summary {
            span #trace-total { (count(total as f64)) @if capped { "+" } } " traces"
            @if live { span #live-status.muted data-live-url=(format!("/ui/live/project/{pe}/traces")) data-after=(newest) { " · live" } }
        }
        div.tablewrap {
            table.list #traces {
                thead { tr {
                    th { (sort_link("timestamp", "Time")) }
                    th { (sort_link("name", "Name")) }
                    th { "ID" }
                    th { (sort_link("userId", "User")) }
                    th { (sort_link("sessionId", "Session")) }
                    th { "Tags" } th { "Env" } th.num { "Latency" } th.num { "Tokens" } th.num { "Cost" }
                    th.num { "Obs" } th { "Scores" } th { "Level" }
                } }
                tbody {
                    @for r in &data { (trace_row(&pe, r, false)) }
                }
            }
            @if data.is_empty() { p.muted.empty #no-traces { "No traces match." } }
        }
        nav.pager aria-label="Pages" {
            @if ls.page > 1 { a rel="prev" href=(format!("/project/{pe}/traces{}", p.with("page", Some(&(ls.page - 1).to_string())))) { "← Newer" } }
            span { "Page " (ls.page) @if !capped { " of " (pages) } }
            @if has_next { a rel="next" href=(format!("/project/{pe}/traces{}", p.with("page", Some(&(ls.page + 1).to_string())))) { "Older →" } }
        }
    };
    Ok(html_response(
        StatusCode::OK,
        page(&s, Section::Traces, "Traces", body),
    ))
}

/// `GET /ui/live/project/{projectId}/traces?after=<RFC 3339>`: rows of the traces newer
/// than `after` (an HTML fragment the list's script prepends), with the newest
/// timestamp in `X-Newest`.
pub async fn live_rows(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> UiResult {
    let s = UiSession::for_project(&req, &state, &path).await?;
    let pid = s.row.project_id.clone();
    let p = Params::from_req(&req);
    let after = p
        .get("after")
        .and_then(parse_time)
        .ok_or_else(|| UiError::BadRequest("after must be an RFC 3339 time".into()))?;
    let ids = store::ui::trace_ids_after(&state.pool, &pid, after, PAGE_SIZE as i64).await?;
    let mut rows = Vec::new();
    for id in &ids {
        if let Some(t) = store::traces::find_trace(&state.pool, &pid, id, false).await? {
            rows.push(t);
        }
    }
    let newest = rows.first().map(|t| t.timestamp.to_rfc3339());
    let data = row_data(&state, &pid, rows).await?;
    let pe = path_encode(&pid);
    let frag = html! { @for r in &data { (trace_row(&pe, r, true)) } };
    let mut resp = super::with_security_headers(HttpResponse::Ok());
    resp.content_type("text/html; charset=utf-8");
    if let Some(n) = newest {
        resp.insert_header(("X-Newest", n));
    }
    Ok(resp.body(frag.into_string()))
}

/// Observations in tree order with their depth (children after their parent, by start
/// time; orphans whose parent is missing are roots).
fn tree(obs: &[ObservationRow]) -> Vec<(usize, &ObservationRow)> {
    let ids: std::collections::HashSet<&str> = obs.iter().map(|o| o.id.as_str()).collect();
    let mut children: HashMap<Option<&str>, Vec<&ObservationRow>> = HashMap::new();
    for o in obs {
        let parent = o
            .parent_observation_id
            .as_deref()
            .filter(|p| ids.contains(p) && *p != o.id);
        children.entry(parent).or_default().push(o);
    }
    let mut out = Vec::with_capacity(obs.len());
    let mut seen = std::collections::HashSet::new();
    fn walk<'a>(
        at: Option<&'a str>,
        depth: usize,
        children: &HashMap<Option<&'a str>, Vec<&'a ObservationRow>>,
        out: &mut Vec<(usize, &'a ObservationRow)>,
        seen: &mut std::collections::HashSet<&'a str>,
    ) {
        if let Some(list) = children.get(&at) {
            for o in list {
                if seen.insert(o.id.as_str()) {
                    out.push((depth, *o));
                    walk(Some(o.id.as_str()), depth + 1, children, out, seen);
                }
            }
        }
    }
    walk(None, 0, &children, &mut out, &mut seen);
    // Cycles (a → b → a) have no root: list what is left flat.
    for o in obs {
        if seen.insert(o.id.as_str()) {
            out.push((0, o));
        }
    }
    out
}

fn num(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

fn obs_tokens(o: &ObservationRow) -> f64 {
    num(&o.usage_details, "total").unwrap_or_else(|| {
        num(&o.usage_details, "input").unwrap_or(0.0)
            + num(&o.usage_details, "output").unwrap_or(0.0)
    })
}

/// The node/GPU an observation or trace ran on, from metadata (`node_id`, `gpu_index`;
/// `nodeId`/`gpuIndex` and `gpu` accepted too).
fn node_labels(metadata: &Value) -> Option<serde_json::Map<String, Value>> {
    let md = match metadata {
        Value::String(s) => serde_json::from_str(s).ok()?,
        v => v.clone(),
    };
    let node = md.get("node_id").or_else(|| md.get("nodeId"))?;
    let node = match node {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let mut m = serde_json::Map::new();
    m.insert("node_id".into(), Value::String(node));
    if let Some(g) = md
        .get("gpu_index")
        .or_else(|| md.get("gpuIndex"))
        .or_else(|| md.get("gpu"))
    {
        let g = match g {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        if !g.is_empty() {
            m.insert("gpu_index".into(), Value::String(g));
        }
    }
    Some(m)
}

/// Charts of the time-series metrics whose labels contain `labels`, over the window.
pub async fn infra_charts(
    state: &AppState,
    project_id: &str,
    labels: &serde_json::Map<String, Value>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Markup, UiError> {
    let names = store::tsmetrics::list_names(&state.pool, project_id).await?;
    let wanted: Vec<String> = names
        .into_iter()
        .filter(|(_, keys)| labels.keys().all(|k| keys.contains(k)))
        .map(|(n, _)| n)
        .take(6)
        .collect();
    let span = (to - from).num_seconds().max(1);
    let step = (span / 60).max(1);
    let mut charts = Vec::new();
    let mut conn = state.pool.acquire().await?;
    for name in wanted {
        let q = store::tsmetrics::SeriesQuery {
            name: name.clone(),
            from,
            to,
            labels: Some(labels.clone()),
            step_secs: step,
            agg: store::tsmetrics::Agg::Avg,
            group_by: None,
            max_series: 10,
            max_points: 500,
        };
        let out = store::tsmetrics::query_series(&mut conn, project_id, &q).await?;
        if out.series.is_empty() {
            continue;
        }
        charts.push(series_chart(&name, &out.series, from, to, step));
    }
    Ok(html! {
        @if charts.is_empty() { p.muted { "No metrics with these labels in the trace's time window." } }
        div.charts { @for c in charts { (c) } }
    })
}

/// A line chart of time-series results on a common bucket axis.
pub fn series_chart(
    title: &str,
    series: &[store::tsmetrics::SeriesResult],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: i64,
) -> Markup {
    let start = store::tsmetrics::bucket_start(from, step);
    let mut buckets = Vec::new();
    let mut t = start;
    while t <= to && buckets.len() < 600 {
        buckets.push(t);
        t += Duration::seconds(step);
    }
    let index: HashMap<i64, usize> = buckets
        .iter()
        .enumerate()
        .map(|(i, b)| (b.timestamp(), i))
        .collect();
    let labels: Vec<String> = buckets
        .iter()
        .map(|b| {
            if step >= 86_400 {
                b.format("%m-%d").to_string()
            } else if step >= 60 {
                b.format("%H:%M").to_string()
            } else {
                b.format("%H:%M:%S").to_string()
            }
        })
        .collect();
    let lines: Vec<Series> = series
        .iter()
        .map(|s| {
            let mut values = vec![None; buckets.len()];
            for (at, v) in &s.values {
                if let Some(i) = index.get(&at.timestamp()) {
                    values[*i] = Some(*v);
                }
            }
            let name = match &s.labels {
                Value::Object(m) if !m.is_empty() => m
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{k}={}",
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string())
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => String::new(),
            };
            Series { name, values }
        })
        .collect();
    line_chart(title, &labels, &lines)
}

/// `GET /project/{projectId}/traces/{traceId}[?observation=<id>]`.
pub async fn detail(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> UiResult {
    let (project_id, trace_id) = path.into_inner();
    let s = UiSession::for_project(&req, &state, &project_id).await?;
    let pid = s.row.project_id.clone();
    let p = Params::from_req(&req);
    let (trace, obs, scores) = tokio::try_join!(
        store::traces::find_trace(&state.pool, &pid, &trace_id, true),
        store::observations::list_for_trace(&state.pool, &pid, &trace_id),
        store::scores::list_for_trace(&state.pool, &pid, &trace_id),
    )?;
    let Some(trace) = trace else {
        return Err(UiError::NotFound);
    };
    let pe = path_encode(&pid);
    let base = format!("/project/{pe}/traces/{}", path_encode(&trace.id));
    let selected = p
        .get("observation")
        .and_then(|id| obs.iter().find(|o| o.id == id));
    // Time axis: the trace timestamp and every observation start/end.
    let mut t0 = trace.timestamp;
    let mut t1 = trace.timestamp;
    for o in &obs {
        t0 = t0.min(o.start_time);
        t1 = t1.max(o.end_time.unwrap_or(o.start_time)).max(o.start_time);
    }
    let span_ms = ((t1 - t0).num_milliseconds()).max(1) as f64;
    let total_cost: f64 = obs.iter().filter_map(|o| o.total_cost).sum();
    let total_tokens: f64 = obs.iter().map(obs_tokens).sum();
    let tree = tree(&obs);
    let bar = |o: &ObservationRow| {
        let x = (o.start_time - t0).num_milliseconds() as f64 / span_ms * 1000.0;
        let end = o.end_time.unwrap_or(o.start_time);
        let w = ((end - o.start_time).num_milliseconds() as f64 / span_ms * 1000.0).max(3.0);
        let ttft = o
            .completion_start_time
            .map(|c| (c - t0).num_milliseconds() as f64 / span_ms * 1000.0);
        let class = match o.level.as_str() {
            "ERROR" => "tl error",
            "WARNING" => "tl warning",
            _ if o.kind == "GENERATION" => "tl gen",
            _ => "tl",
        };
        html! {
            svg.timeline viewBox="0 0 1000 12" preserveAspectRatio="none" aria-hidden="true" {
                rect class=(class) x=(format!("{x:.1}")) y="2" width=(format!("{w:.1}")) height="8" rx="1" {}
                @if let Some(tx) = ttft { line.ttft x1=(format!("{tx:.1}")) x2=(format!("{tx:.1}")) y1="0" y2="12" {} }
            }
        }
    };
    // Node/GPU metrics: labels from the selected observation, else the trace, else the
    // first observation carrying them.
    let labels = selected
        .and_then(|o| node_labels(&o.metadata))
        .or_else(|| node_labels(&trace.metadata))
        .or_else(|| obs.iter().find_map(|o| node_labels(&o.metadata)));
    let infra = match &labels {
        Some(l) => {
            let pad = Duration::seconds(60);
            Some(infra_charts(&state, &pid, l, t0 - pad, t1 + pad).await?)
        }
        None => None,
    };
    let obs_scores: Vec<&store::scores::ScoreRow> = match selected {
        Some(o) => scores
            .iter()
            .filter(|sc| sc.observation_id.as_deref() == Some(o.id.as_str()))
            .collect(),
        None => Vec::new(),
    };
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" { a href=(format!("/project/{pe}/traces")) { "Traces" } " / " span { (short_id(&trace.id)) } }
        h1 #trace-title { (trace.name.as_deref().unwrap_or("(unnamed trace)")) }
        dl.facts {
            div { dt { "Trace id" } dd { code #trace-id { (trace.id) } } }
            div { dt { "Time (UTC)" } dd { (render::time(trace.timestamp)) } }
            @if let Some(u) = &trace.user_id { div { dt { "User" } dd { a href=(format!("/project/{pe}/traces?user={}", url_encode(u))) { (u) } } } }
            @if let Some(sid) = &trace.session_id { div { dt { "Session" } dd { a #session-link href=(format!("/project/{pe}/sessions/{}", path_encode(sid))) { (sid) } } } }
            div { dt { "Environment" } dd { (trace.environment) } }
            @if let Some(r) = &trace.release { div { dt { "Release" } dd { (r) } } }
            @if let Some(v) = &trace.version { div { dt { "Version" } dd { (v) } } }
            div { dt { "Latency" } dd { @if obs.is_empty() { "—" } @else { (duration(span_ms / 1000.0)) } } }
            div { dt { "Tokens" } dd { (count(total_tokens)) } }
            div { dt { "Cost" } dd { (cost(total_cost)) } }
            @if !trace.tags.is_empty() { div { dt { "Tags" } dd { @for t in &trace.tags { span.tag { (t) } " " } } } }
        }
        div.traceview {
            section.tree aria-label="Observations" {
                h2 { "Observations (" (obs.len()) ")" }
                ol.obs {
                    li.obsrow.sel[selected.is_none()] {
                        a.obslink href=(base) aria-current=[selected.is_none().then_some("true")] {
                            span.ticon.t-trace { "T" } " " (trace.name.as_deref().unwrap_or("trace"))
                        }
                        svg.timeline viewBox="0 0 1000 12" preserveAspectRatio="none" aria-hidden="true" {
                            rect.tl.trace x="0" y="2" width="1000" height="8" rx="1" {}
                        }
                    }
                    @for (depth, o) in &tree {
                        @let is_sel = selected.is_some_and(|s| s.id == o.id);
                        @let cls = format!("obsrow{}{}", if is_sel { " sel" } else { "" }, if o.level == "ERROR" { " err" } else { "" });
                        li class=(cls) data-depth=(depth) {
                            a.obslink href=(format!("{base}?observation={}", url_encode(&o.id)))
                              aria-current=[is_sel.then_some("true")] {
                                @for _ in 0..(*depth).min(12) { span.indent {} }
                                (type_icon(&o.kind)) " " (o.name.as_deref().unwrap_or(&o.kind)) " "
                                (level_badge(&o.level))
                                span.muted.small { " " (o.end_time.map(|e| duration((e - o.start_time).num_milliseconds() as f64 / 1000.0)).unwrap_or_default()) }
                            }
                            (bar(o))
                        }
                    }
                }
                p.muted.small { "Timeline: " (render::time_ms(t0)) " → " (render::time_ms(t1)) "; the tick marks time to first token." }
            }
            section.details aria-label="Details" #details {
                @match selected {
                    Some(o) => (observation_details(&pe, o, &obs_scores)),
                    None => {
                        h2 { "Trace" }
                        h3 { "Input" } div #trace-input { (render::io(trace.input.as_ref().unwrap_or(&Value::Null))) }
                        h3 { "Output" } div #trace-output { (render::io(trace.output.as_ref().unwrap_or(&Value::Null))) }
                        h3 { "Metadata" } (render::kv_table(&trace.metadata))
                        h3 { "Scores" } (scores_table(&scores))
                    }
                }
                @if let (Some(l), Some(charts)) = (&labels, infra) {
                    section #infra {
                        h3 { "Node / GPU metrics" }
                        p.muted.small { "Labels " @for (k, v) in l { code { (k) "=" (v.as_str().unwrap_or("")) } " " } "over the trace's time window ±60 s." }
                        (charts)
                    }
                }
            }
        }
    };
    let title = trace.name.clone().unwrap_or_else(|| "Trace".into());
    Ok(html_response(
        StatusCode::OK,
        page(&s, Section::Traces, &title, body),
    ))
}

fn observation_details(
    pe: &str,
    o: &ObservationRow,
    scores: &[&store::scores::ScoreRow],
) -> Markup {
    let latency = o
        .end_time
        .map(|e| (e - o.start_time).num_milliseconds() as f64 / 1000.0);
    let ttft = o
        .completion_start_time
        .map(|c| (c - o.start_time).num_milliseconds() as f64 / 1000.0);
    html! {
        h2 #obs-title { (type_icon(&o.kind)) " " (o.name.as_deref().unwrap_or(&o.kind)) " " (level_badge(&o.level)) }
        dl.facts {
            div { dt { "Type" } dd { (o.kind) } }
            div { dt { "Id" } dd { code { (o.id) } } }
            div { dt { "Start (UTC)" } dd { (render::time_ms(o.start_time)) } }
            @if let Some(l) = latency { div { dt { "Latency" } dd { (duration(l)) } } }
            @if let Some(t) = ttft { div { dt { "Time to first token" } dd { (duration(t)) } } }
            @if let Some(m) = &o.model { div { dt { "Model" } dd #obs-model { (m) } } }
            @if let Some(c) = o.total_cost { div { dt { "Cost" } dd { (cost(c)) } } }
            @if let Some(v) = &o.version { div { dt { "Version" } dd { (v) } } }
            @if let (Some(n), Some(v)) = (&o.prompt_name, o.prompt_version) {
                div { dt { "Prompt" } dd { a href=(format!("/project/{pe}/prompts/{}?version={v}", path_encode(n))) { (n) " v" (v) } } }
            }
        }
        @if let Some(m) = &o.status_message { p.status.error[o.level == "ERROR"] { strong { "Status: " } (m) } }
        @if o.model_parameters.as_ref().is_some_and(|v| !v.is_null()) {
            h3 { "Model parameters" } (render::kv_table(o.model_parameters.as_ref().unwrap_or(&Value::Null)))
        }
        @if o.usage_details.as_object().is_some_and(|m| !m.is_empty()) || o.cost_details.as_object().is_some_and(|m| !m.is_empty()) {
            div.twocol {
                div { h3 { "Usage" } (render::kv_table(&o.usage_details)) }
                div { h3 { "Cost (USD)" } (render::kv_table(&o.cost_details)) }
            }
        }
        h3 { "Input" } div #obs-input { (render::io(o.input.as_ref().unwrap_or(&Value::Null))) }
        h3 { "Output" } div #obs-output { (render::io(o.output.as_ref().unwrap_or(&Value::Null))) }
        h3 { "Metadata" } (render::kv_table(&o.metadata))
        @if !scores.is_empty() {
            h3 { "Scores" }
            (scores_table(&scores.iter().map(|s| (*s).clone()).collect::<Vec<_>>()))
        }
    }
}

/// A table of scores.
pub fn scores_table(scores: &[store::scores::ScoreRow]) -> Markup {
    html! {
        @if scores.is_empty() { p.muted { "No scores." } } @else {
            table.list.scores {
                thead { tr { th { "Name" } th { "Value" } th { "Type" } th { "Source" } th { "Comment" } } }
                tbody { @for s in scores { tr {
                    td { (s.name) }
                    td.num { (score_value(s)) }
                    td { (s.data_type) }
                    td { (s.source) }
                    td { (s.comment.as_deref().unwrap_or("")) }
                } } }
            }
        }
    }
}

/// A score's value as text.
pub fn score_value(s: &store::scores::ScoreRow) -> String {
    match (&s.string_value, s.value) {
        (Some(v), _) if s.data_type != "NUMERIC" => v.clone(),
        (_, Some(v)) => render::short_number(v),
        (Some(v), None) => v.clone(),
        (None, None) => s.long_string_value.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_gpu_label_convention() {
        let m = node_labels(&serde_json::json!({"node_id": "n1", "gpu_index": 3})).unwrap();
        assert_eq!(m["node_id"], "n1");
        assert_eq!(m["gpu_index"], "3");
        assert!(node_labels(&serde_json::json!({"gpu_index": 3})).is_none());
        let m = node_labels(&serde_json::json!({"nodeId": "n2"})).unwrap();
        assert!(!m.contains_key("gpu_index"));
    }

    #[test]
    fn parses_form_times() {
        assert!(parse_time("2024-05-01T10:30").is_some());
        assert!(parse_time("2024-05-01T10:30:00Z").is_some());
        assert!(parse_time("yesterday").is_none());
    }
}
