//! Application start-up: bind, connect, migrate, provision, build the HTTP server.
//! `Application::build` does everything that can fail, in order, and returns the bound
//! port with the server future, so tests can run the real app on port 0.

use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use sqlx::PgPool;
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::api;
use crate::auth::{KeyCache, RateLimiter};
use crate::bootstrap::{self, GeneratedCredentials};
use crate::config::Config;
use crate::error::{self, ApiError};

/// Shared state of all workers, in one `web::Data`.
#[derive(Debug)]
pub struct AppState {
    /// Database pool.
    pub pool: PgPool,
    /// Configuration.
    pub config: Arc<Config>,
    /// The admin bearer token in force (configured or generated).
    pub bearer_token: String,
    /// Cached key lookups.
    pub keys: KeyCache,
    /// Per-credential read rate limiter.
    pub limiter: RateLimiter,
    /// Failed authentications per client address (429 past `XTRACE_AUTH_FAILURES_PER_MINUTE`).
    pub auth_failures: crate::auth::FailureLimiter,
    /// Permits for heavy analytic queries (`XTRACE_MAX_HEAVY_QUERIES`).
    pub heavy_queries: tokio::sync::Semaphore,
    /// The pool of writes (ingest worker, migrations, retention): no statement timeout and
    /// never taken by reads. `pool` is the read pool.
    pub write_pool: PgPool,
    /// Path templates of every route, to tell 405 from 404.
    pub route_templates: Vec<Vec<String>>,
    /// The ingest queue (every write path goes through it).
    pub ingest: crate::ingest::IngestHandle,
    /// Model catalogue and usage/cost derivation (shared with the ingest worker).
    pub pricing: crate::pricing::Pricing,
}

impl AppState {
    /// A permit to run a heavy analytic query (`XTRACE_MAX_HEAVY_QUERIES` at once). A request
    /// waits for one up to the statement timeout (30 s when it is disabled), then answers 503.
    pub async fn heavy_permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        let wait = match self.config.statement_timeout_ms {
            0 => std::time::Duration::from_secs(30),
            ms => std::time::Duration::from_millis(ms),
        };
        match tokio::time::timeout(wait, self.heavy_queries.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::Busy),
        }
    }
}

/// Every route the server serves; each registration also adds its path to the spec.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(api::health::healthz)
        .service(api::health::readyz)
        .service(api::health::health)
        .service(api::health::ready)
        .service(api::projects::get_projects)
        .service(api::projects::create_project)
        .service(api::projects::update_project)
        .service(api::projects::delete_project)
        .service(api::projects::list_api_keys)
        .service(api::projects::create_api_key)
        .service(api::projects::delete_api_key)
        .service(api::projects::list_organization_projects)
        .service(api::projects::list_organization_api_keys)
        .service(api::ingestion::ingestion_batch)
        .service(api::ingestion::seed_batch)
        .service(api::ingestion::create_trace_legacy)
        .service(api::ingestion::create_span_legacy)
        .service(api::ingestion::update_span_legacy)
        .service(api::ingestion::create_generation_legacy)
        .service(api::ingestion::update_generation_legacy)
        .service(api::ingestion::create_event_legacy)
        .service(api::scores_write::create_score)
        .service(api::models::list_models)
        .service(api::models::create_model)
        .service(api::models::get_model)
        .service(api::models::delete_model)
        .service(api::otel::export_traces)
        .service(api::otel::export_metrics)
        // Read API (traces, observations, sessions, scores).
        .service(api::traces::list_traces)
        .service(api::traces::get_trace)
        .service(api::traces::delete_trace)
        .service(api::traces::delete_traces)
        .service(api::observations::list_observations)
        .service(api::observations::get_observation)
        .service(api::observations::list_observations_v2)
        .service(api::sessions::list_sessions)
        .service(api::sessions::get_session)
        .service(api::scores::list_scores)
        .service(api::scores::get_score)
        .service(api::scores::delete_score)
        .service(api::scores::list_scores_v2)
        .service(api::scores::get_score_v2)
        .service(api::score_configs::list_score_configs)
        .service(api::score_configs::get_score_config)
        .service(api::score_configs::create_score_config)
        .service(api::score_configs::update_score_config)
        .service(api::metrics::get_daily_metrics)
        .service(api::comments::list_comments)
        .service(api::comments::get_comment)
        .service(api::comments::create_comment)
        // Prompts, datasets, experiments, media.
        .service(api::prompts::create_prompt)
        .service(api::prompts::list_prompts)
        .service(api::prompts::get_prompt)
        .service(api::prompts::delete_prompt)
        .service(api::prompts::update_prompt_version)
        .service(api::datasets::create_dataset)
        .service(api::datasets::list_datasets)
        .service(api::datasets::get_dataset)
        .service(api::datasets::create_dataset_v1)
        .service(api::datasets::list_datasets_v1)
        .service(api::datasets::get_dataset_v1)
        .service(api::dataset_items::create_dataset_item)
        .service(api::dataset_items::list_dataset_items)
        .service(api::dataset_items::get_dataset_item)
        .service(api::dataset_items::delete_dataset_item)
        .service(api::dataset_runs::create_dataset_run_item)
        .service(api::dataset_runs::list_dataset_run_items)
        .service(api::dataset_runs::list_dataset_runs)
        .service(api::dataset_runs::get_dataset_run)
        .service(api::dataset_runs::delete_dataset_run)
        .service(api::media::create_media)
        .service(api::media::get_media)
        .service(api::media::patch_media)
        .service(api::media::upload_media_content)
        .service(api::media::download_media_content)
        // Metrics query API (v1 and v2).
        .service(api::metrics_query::get_metrics)
        .service(api::metrics_query::get_metrics_v2)
        // Time-series metrics (GPU/node telemetry) and the Prometheus scrape endpoint.
        .service(api::tsmetrics::ingest_metrics_batch)
        .service(api::tsmetrics::list_metric_names)
        .service(api::tsmetrics::query_metrics)
        .service(crate::prom::prometheus_metrics)
        // Annotation queues.
        .service(api::annotation_queues::list_queues)
        .service(api::annotation_queues::create_queue)
        .service(api::annotation_queues::get_queue)
        .service(api::annotation_queues::list_queue_items)
        .service(api::annotation_queues::create_queue_item)
        .service(api::annotation_queues::get_queue_item)
        .service(api::annotation_queues::update_queue_item)
        .service(api::annotation_queues::delete_queue_item)
        .service(api::annotation_queues::create_queue_assignment)
        .service(api::annotation_queues::delete_queue_assignment)
        // LLM connections and feedback.
        .service(api::llm_connections::list_llm_connections)
        .service(api::llm_connections::upsert_llm_connection)
        .service(api::llm_connections::delete_llm_connection)
        .service(api::feedback::submit_feedback)
        // Experiments and v3 scores.
        .service(api::experiments::list_experiments)
        .service(api::experiments::list_experiment_items)
        .service(api::scores_v3::list_scores_v3)
        // Unstable dashboards, widgets and placements.
        .service(api::dashboards::list_widgets)
        .service(api::dashboards::create_widget)
        .service(api::dashboards::get_widget)
        .service(api::dashboards::update_widget)
        .service(api::dashboards::delete_widget)
        .service(api::dashboards::list_dashboards)
        .service(api::dashboards::create_dashboard)
        .service(api::dashboards::get_dashboard)
        .service(api::dashboards::update_dashboard)
        .service(api::dashboards::delete_dashboard)
        .service(api::dashboards::add_placement)
        .service(api::dashboards::update_placement)
        .service(api::dashboards::delete_placement)
        // Unstable evaluators and evaluation rules (stored; xtrace runs no evaluator).
        .service(api::evaluations::list_evaluators)
        .service(api::evaluations::create_evaluator)
        .service(api::evaluations::get_evaluator)
        .service(api::evaluations::delete_evaluator)
        .service(api::evaluations::list_rules)
        .service(api::evaluations::create_rule)
        .service(api::evaluations::get_rule)
        .service(api::evaluations::update_rule)
        .service(api::evaluations::delete_rule);
}

/// A built, not yet running, application.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    generated: GeneratedCredentials,
    ingest_task: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Binds `config.bind_addr`, connects to `database_url`, migrates, provisions
    /// projects and keys, and builds the server.
    pub async fn build(config: Config, database_url: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.bind_addr)
            .map_err(|e| anyhow::anyhow!("cannot bind BIND_ADDR={}: {e}", config.bind_addr))?;
        let port = listener.local_addr()?.port();
        // Reads (and the handlers' small writes) run on `pool`, under the statement timeout;
        // the ingest worker, migrations, provisioning and retention on `write_pool`, so
        // however many heavy reads run, writes keep their own connections.
        let pool = crate::db::connect_with_timeout(
            database_url,
            config.db_max_connections,
            config.statement_timeout_ms,
        )
        .await?;
        // One connection per ingest worker, plus room for pricing reloads and retention.
        let write_connections = config
            .db_write_connections
            .max(config.ingest_workers as u32 + 2);
        let write_pool = crate::db::connect(database_url, write_connections).await?;
        crate::db::migrate(&write_pool).await?;
        let generated = bootstrap::resolve_credentials(&config)?;
        bootstrap::provision(&write_pool, &config, &generated).await?;
        let pricing = crate::pricing::Pricing::new(write_pool.clone());
        pricing.seed_default_models().await?;
        let bearer_token = match (&config.api_bearer_token, &generated.bearer_token) {
            (Some(t), _) => t.expose().to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => unreachable!("resolve_credentials generates a token when none is set"),
        };
        let route_templates = crate::openapi::document()
            .paths
            .paths
            .keys()
            .map(|p| split_path(p))
            .collect();
        let (ingest, ingest_task) = crate::ingest::worker::spawn(
            write_pool.clone(),
            pricing.clone(),
            crate::ingest::worker::WorkerConfig {
                max_batch: config.ingest_max_batch,
                max_delay: config.ingest_max_delay,
                queue: config.ingest_queue,
                workers: config.ingest_workers,
                max_bytes_in_flight: config
                    .ingest_max_bytes_in_flight
                    .max(config.max_body_bytes.saturating_mul(2)),
            },
        );
        crate::store::tsmetrics::spawn_retention(
            write_pool.clone(),
            config.metrics_retention_days,
            config.metrics_retention_interval,
        );
        let state = web::Data::new(AppState {
            pool,
            ingest,
            pricing,
            limiter: RateLimiter::new(config.rate_limit_qps, config.rate_limit_burst),
            auth_failures: crate::auth::FailureLimiter::new(config.auth_failures_per_minute),
            heavy_queries: tokio::sync::Semaphore::new(config.max_heavy_queries),
            write_pool,
            config: Arc::new(config),
            bearer_token,
            keys: KeyCache::default(),
            route_templates,
        });
        let server = build_server(listener, state.clone())?;
        Ok(Self {
            port,
            server,
            state,
            generated,
            ingest_task,
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Shared state (pool, config) for callers that need it after start.
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Credentials generated for this run (empty when everything was configured).
    pub fn generated(&self) -> &GeneratedCredentials {
        &self.generated
    }

    /// Runs until the server stops (SIGINT/SIGTERM, or a stop through its handle).
    /// In-flight requests finish first (they wait for their ingest commit).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// The ingest queue, to flush it once the server has stopped (`main` does).
    pub fn ingest(&self) -> crate::ingest::IngestHandle {
        self.state.ingest.clone()
    }

    /// Whether the ingest worker is still running (it only stops when its queue closes
    /// or it panicked).
    pub fn ingest_worker_running(&self) -> bool {
        !self.ingest_task.is_finished()
    }

    /// The server handle, to stop it from elsewhere.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

fn build_server(listener: TcpListener, state: web::Data<AppState>) -> anyhow::Result<Server> {
    let limit = state.config.max_body_bytes;
    let spec = crate::openapi::document();
    let server = HttpServer::new(move || {
        let (app, _) = App::new()
            .into_utoipa_app()
            .openapi(crate::openapi::ApiDoc::openapi_base())
            .configure(routes)
            .split_for_parts();
        app.app_data(state.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(limit)
                    .error_handler(error::json_error_handler),
            )
            .app_data(web::PayloadConfig::new(limit))
            .app_data(web::QueryConfig::default().error_handler(error::query_error_handler))
            .app_data(web::PathConfig::default().error_handler(error::path_error_handler))
            .service(SwaggerUi::new("/docs/{_:.*}").url("/api/public/openapi.json", spec.clone()))
            // The built-in web UI (HTML pages outside /api/public; not in the OpenAPI spec).
            .configure(crate::ui::configure)
            .default_service(web::to(not_found))
            .wrap(cors(state.config.cors_origins.as_deref()))
            .wrap(actix_web::middleware::from_fn(crate::prom::record_requests))
            .wrap(TracingLogger::default())
    })
    .listen(listener)?
    .run();
    Ok(server)
}

/// CORS as Langfuse answers it (any origin, method and header) unless
/// `XTRACE_CORS_ORIGINS` lists the origins allowed.
fn cors(origins: Option<&[String]>) -> Cors {
    let cors = Cors::default()
        .allow_any_method()
        .allow_any_header()
        .max_age(86_400);
    match origins {
        None => cors.allow_any_origin(),
        Some(list) => list
            .iter()
            .fold(cors, |cors, origin| cors.allowed_origin(origin)),
    }
}

fn split_path(p: &str) -> Vec<String> {
    p.trim_matches('/').split('/').map(str::to_string).collect()
}

/// JSON 404 for unknown paths; 405 when the path exists under another method.
async fn not_found(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let segments = split_path(req.path());
    let known = state.route_templates.iter().any(|t| {
        t.len() == segments.len()
            && t.iter()
                .zip(&segments)
                .all(|(t, s)| (t.starts_with('{') && t.ends_with('}')) || t == s)
    });
    Err(if known {
        ApiError::MethodNotAllowed
    } else {
        ApiError::RouteNotFound
    })
}

impl crate::openapi::ApiDoc {
    /// The document without paths (paths are added by route registration).
    pub fn openapi_base() -> utoipa::openapi::OpenApi {
        <Self as utoipa::OpenApi>::openapi()
    }
}
