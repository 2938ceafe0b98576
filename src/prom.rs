//! xtrace's own operational metrics in the Prometheus text exposition format (0.0.4),
//! served at `GET /metrics`: HTTP requests by matched route pattern and status, request
//! durations, ingest queue depth, batch sizes, commit latency, events and metric points
//! ingested, database pool usage.
//!
//! Hand-written rather than the `prometheus` crate: a dozen series, no labels beyond
//! route/method/status, and the text format is simple; this keeps a dependency (and its
//! protobuf feature set) out. The registry is process-global, so the ingest worker can
//! record without a handle threaded through it; several apps in one process (tests)
//! share it, which only ever adds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{get, web, HttpRequest, HttpResponse};

use crate::error::ApiError;
use crate::startup::AppState;

const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 50000.0,
];

#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, v: f64) {
        for (i, b) in self.bounds.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {c}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// (method, route, status) -> count.
    requests: BTreeMap<(String, String, u16), u64>,
    /// route -> duration histogram.
    durations: BTreeMap<String, Histogram>,
    /// kind -> requests per batch.
    batch_requests: BTreeMap<&'static str, Histogram>,
    /// kind -> items per batch.
    batch_items: BTreeMap<&'static str, Histogram>,
    /// kind -> commit latency.
    commit_seconds: BTreeMap<&'static str, Histogram>,
    /// kind -> items committed.
    ingested: BTreeMap<&'static str, u64>,
}

/// The process-wide registry.
#[derive(Debug, Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

/// The registry every component records into.
pub fn global() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain counters behind: still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one HTTP request by route pattern (never the raw path: ids would explode
    /// the series count).
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let mut g = self.lock();
        *g.requests
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        g.durations
            .entry(route.to_string())
            .or_insert_with(|| Histogram::new(SECONDS_BUCKETS))
            .observe(elapsed.as_secs_f64());
    }

    /// Records one committed ingest batch of `kind` (`events`, `metric_points`).
    pub fn observe_batch(&self, kind: &'static str, requests: usize, items: usize, took: Duration) {
        let mut g = self.lock();
        g.batch_requests
            .entry(kind)
            .or_insert_with(|| Histogram::new(SIZE_BUCKETS))
            .observe(requests as f64);
        g.batch_items
            .entry(kind)
            .or_insert_with(|| Histogram::new(SIZE_BUCKETS))
            .observe(items as f64);
        g.commit_seconds
            .entry(kind)
            .or_insert_with(|| Histogram::new(SECONDS_BUCKETS))
            .observe(took.as_secs_f64());
        *g.ingested.entry(kind).or_default() += items as u64;
    }

    /// The text exposition, with the gauges read from `state` at scrape time.
    pub fn render(&self, state: &AppState) -> String {
        let mut out = String::new();
        let g = self.lock();
        let help = |out: &mut String, name: &str, kind: &str, text: &str| {
            let _ = writeln!(out, "# HELP {name} {text}\n# TYPE {name} {kind}");
        };
        help(
            &mut out,
            "xtrace_http_requests_total",
            "counter",
            "HTTP requests by method, matched route pattern and status.",
        );
        for ((m, r, s), n) in &g.requests {
            let _ = writeln!(
                out,
                "xtrace_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{s}\"}} {n}",
                escape(m),
                escape(r)
            );
        }
        help(
            &mut out,
            "xtrace_http_request_duration_seconds",
            "histogram",
            "HTTP request duration by matched route pattern.",
        );
        for (r, h) in &g.durations {
            h.render(
                &mut out,
                "xtrace_http_request_duration_seconds",
                &format!("route=\"{}\"", escape(r)),
            );
        }
        let (depth, capacity) = state.ingest.queue_depth();
        help(
            &mut out,
            "xtrace_ingest_queue_depth",
            "gauge",
            "Write requests waiting in the ingest queue.",
        );
        let _ = writeln!(out, "xtrace_ingest_queue_depth {depth}");
        help(
            &mut out,
            "xtrace_ingest_queue_capacity",
            "gauge",
            "Capacity of the ingest queue (503 when full).",
        );
        let _ = writeln!(out, "xtrace_ingest_queue_capacity {capacity}");
        let (held, budget) = state.ingest.bytes_in_flight();
        help(
            &mut out,
            "xtrace_ingest_bytes_in_flight",
            "gauge",
            "Body bytes of write requests admitted and not yet answered.",
        );
        let _ = writeln!(out, "xtrace_ingest_bytes_in_flight {held}");
        help(
            &mut out,
            "xtrace_ingest_bytes_in_flight_limit",
            "gauge",
            "XTRACE_INGEST_MAX_BYTES_IN_FLIGHT (503 when full).",
        );
        let _ = writeln!(out, "xtrace_ingest_bytes_in_flight_limit {budget}");
        for (name, text, map) in [
            (
                "xtrace_ingest_batch_requests",
                "Write requests per committed batch.",
                &g.batch_requests,
            ),
            (
                "xtrace_ingest_batch_items",
                "Events or metric points per committed batch.",
                &g.batch_items,
            ),
            (
                "xtrace_ingest_commit_seconds",
                "Time to write and commit one batch (including retries and splits).",
                &g.commit_seconds,
            ),
        ] {
            help(&mut out, name, "histogram", text);
            for (kind, h) in map {
                h.render(&mut out, name, &format!("kind=\"{kind}\""));
            }
        }
        help(
            &mut out,
            "xtrace_ingested_total",
            "counter",
            "Items committed by the ingest worker (kind=events: Langfuse events; kind=metric_points: time-series points).",
        );
        for (kind, n) in &g.ingested {
            let _ = writeln!(out, "xtrace_ingested_total{{kind=\"{kind}\"}} {n}");
        }
        drop(g);
        let pool = &state.pool;
        help(
            &mut out,
            "xtrace_db_pool_connections",
            "gauge",
            "Database pool connections by state.",
        );
        let (size, idle) = (pool.size(), pool.num_idle() as u32);
        let _ = writeln!(
            out,
            "xtrace_db_pool_connections{{state=\"idle\"}} {idle}\nxtrace_db_pool_connections{{state=\"in_use\"}} {}",
            size.saturating_sub(idle)
        );
        help(
            &mut out,
            "xtrace_db_pool_max_connections",
            "gauge",
            "Configured pool size (DATABASE_MAX_CONNECTIONS).",
        );
        let _ = writeln!(
            out,
            "xtrace_db_pool_max_connections {}",
            state.config.db_max_connections
        );
        out
    }
}

/// Label value escaping of the text format.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware recording every request by its matched route pattern and status.
pub async fn record_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let method = method_label(req.method());
    let res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    global().observe_request(method, &route, res.status().as_u16(), started.elapsed());
    Ok(res)
}

/// The `method` label: the standard methods by name, any extension method as `OTHER`, so
/// clients cannot add series by inventing methods.
fn method_label(m: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// Prometheus scrape endpoint. Open by default (operational data only, no project data);
/// when `XTRACE_METRICS_TOKEN` is set, `Authorization: Bearer <token>` is required.
#[utoipa::path(tag = "Operations",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4",
        content_type = "text/plain", body = String),
        (status = 401, body = crate::api::ErrorBody)))]
#[get("/metrics")]
pub async fn prometheus_metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if let Some(token) = &state.config.metrics_token {
        let given = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        use subtle::ConstantTimeEq;
        if !bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
            return Err(ApiError::Unauthorized {
                reason: "Invalid metrics token".into(),
                with_error_key: false,
            });
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(global().render(&state)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_methods_share_one_label() {
        use actix_web::http::Method;
        assert_eq!(method_label(&Method::GET), "GET");
        for m in ["FOO1", "FOO2", "PROPFIND"] {
            assert_eq!(
                method_label(&Method::from_bytes(m.as_bytes()).unwrap()),
                "OTHER"
            );
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::new(&[1.0, 10.0]);
        for v in [0.5, 5.0, 50.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "k=\"a\"");
        assert!(out.contains("x_bucket{k=\"a\",le=\"1\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{k=\"a\",le=\"10\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{k=\"a\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_sum{k=\"a\"} 55.5\n"), "{out}");
        assert!(out.contains("x_count{k=\"a\"} 3\n"), "{out}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
