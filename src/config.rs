//! Configuration: one typed struct, read from the environment once at start-up.
//!
//! Every variable is optional. Errors name the variable that could not be parsed, so a
//! misconfigured deployment fails at start with a line that says what to fix.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A secret string whose `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    /// The secret's value; call only where the value is really needed.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A project key pair supplied through the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// Public key (`pk-lf-…` by convention, any string accepted).
    pub public_key: String,
    /// Secret key (`sk-lf-…` by convention, any string accepted).
    pub secret_key: Secret,
}

/// Langfuse's headless initialisation (`LANGFUSE_INIT_*`): one project, optionally a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProject {
    /// `LANGFUSE_INIT_PROJECT_ID`.
    pub id: String,
    /// `LANGFUSE_INIT_PROJECT_NAME` (default "Provisioned Project").
    pub name: String,
    /// `LANGFUSE_INIT_PROJECT_PUBLIC_KEY` + `LANGFUSE_INIT_PROJECT_SECRET_KEY`.
    pub keys: Option<KeyPair>,
}

/// Everything xtrace reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`: use this PostgreSQL server; when absent xtrace runs its own cluster.
    pub database_url: Option<Secret>,
    /// `XTRACE_DATA_DIR` (default `./.xtrace`): the managed cluster and generated credentials.
    pub data_dir: PathBuf,
    /// `XTRACE_PG_BINDIR`: where `initdb`/`postgres` live; searched on PATH, via
    /// `pg_config --bindir` and in `/usr/lib/postgresql/*/bin` when unset.
    pub pg_bindir: Option<PathBuf>,
    /// `API_BEARER_TOKEN`: admin token acting on `DEFAULT_PROJECT_ID`; generated when absent.
    pub api_bearer_token: Option<Secret>,
    /// `BIND_ADDR` (default `127.0.0.1:8742`).
    pub bind_addr: SocketAddr,
    /// `DEFAULT_PROJECT_ID` (default `default`).
    pub default_project_id: String,
    /// `XTRACE_PUBLIC_KEY`/`XTRACE_SECRET_KEY` (or `LANGFUSE_PUBLIC_KEY`/`LANGFUSE_SECRET_KEY`):
    /// a key pair of the default project.
    pub project_keys: Option<KeyPair>,
    /// `LANGFUSE_INIT_PROJECT_*`.
    pub init_project: Option<InitProject>,
    /// `LANGFUSE_INIT_ORG_ID` (default `default`): the organisation every project belongs to.
    pub org_id: String,
    /// `LANGFUSE_INIT_ORG_NAME` (default "Default Organization").
    pub org_name: String,
    /// `RATE_LIMIT_QPS` (default 0 = no limit, as self-hosted Langfuse): sustained read requests
    /// per second per credential when set.
    pub rate_limit_qps: u32,
    /// `RATE_LIMIT_BURST` (default 40): bucket size of the read rate limit.
    pub rate_limit_burst: u32,
    /// `XTRACE_MAX_BODY_BYTES` (default 16 MiB): largest request body accepted.
    pub max_body_bytes: usize,
    /// `XTRACE_INGEST_MAX_BATCH` (default 200): requests per ingest transaction at most.
    pub ingest_max_batch: usize,
    /// `XTRACE_INGEST_MAX_DELAY_MS` (default 0): how long a batch waits for stragglers (requests
    /// that queue while a transaction runs form the next batch anyway).
    pub ingest_max_delay: Duration,
    /// `XTRACE_INGEST_QUEUE` (default 10000): queued ingest requests before answering 503.
    pub ingest_queue: usize,
    /// `XTRACE_INGEST_WORKERS` (default 4): ingest workers (entity shards), each with
    /// its own transaction in flight.
    pub ingest_workers: usize,
    /// `XTRACE_INGEST_MAX_BYTES_IN_FLIGHT` (default 32 MiB): request body bytes (as read
    /// and as decompressed) admitted on the write routes at once; more is a 503.
    pub ingest_max_bytes_in_flight: usize,
    /// `DATABASE_MAX_CONNECTIONS` (default 16).
    pub db_max_connections: u32,
    /// `LOG_FORMAT` (`json` for JSON lines; anything else is human-readable).
    pub log_json: bool,
    /// `XTRACE_MEDIA_DIR` (default `<data_dir>/media`): where uploaded media bytes are stored.
    pub media_dir: PathBuf,
    /// `XTRACE_PUBLIC_URL`: base URL clients reach xtrace at, used in media upload and
    /// download URLs; when unset they are built from the request's host.
    pub public_url: Option<String>,
    /// `XTRACE_METRICS_RETENTION_DAYS` (default 30, 0 keeps forever): time-series points
    /// and rollups older than this are deleted by a background job.
    pub metrics_retention_days: u32,
    /// `XTRACE_METRICS_RETENTION_INTERVAL_SECS` (default 3600): how often the retention job
    /// runs (it also runs once at start-up).
    pub metrics_retention_interval: Duration,
    /// `XTRACE_METRICS_MAX_SERIES` (default 50, as the seed): series per metrics query.
    pub metrics_max_series: usize,
    /// `XTRACE_METRICS_MAX_POINTS` (default 1000, as the seed): points per series per query.
    pub metrics_max_points: usize,
    /// `XTRACE_METRICS_TOKEN`: when set, `GET /metrics` (Prometheus) needs `Bearer <token>`.
    pub metrics_token: Option<Secret>,
    /// `XTRACE_ENCRYPTION_KEY` (Langfuse's `ENCRYPTION_KEY` also accepted): the server secret
    /// that encrypts stored LLM-connection keys. When unset, one is generated once into
    /// `<data_dir>/encryption.key`.
    pub encryption_key: Option<Secret>,
    // --- Security and limits (README "Security and limits") ---
    /// `DATABASE_WRITE_CONNECTIONS` (default 4): a separate pool for the ingest worker,
    /// migrations, provisioning and the retention job, so reads cannot starve writes.
    pub db_write_connections: u32,
    /// `XTRACE_STATEMENT_TIMEOUT_MS` (default 30000, 0 disables): PostgreSQL
    /// `statement_timeout` of the read pool; a query running longer answers 503.
    pub statement_timeout_ms: u64,
    /// `XTRACE_MAX_HEAVY_QUERIES` (default 4): analytic queries (metrics, daily metrics,
    /// time-series queries) running at once; more wait up to the statement timeout, then 503.
    pub max_heavy_queries: usize,
    /// `XTRACE_METRICS_QUERY_MAX_ROWS` (default 10000): row limit of a v1 metrics query that
    /// gives no `config.row_limit`.
    pub metrics_query_max_rows: u32,
    /// `XTRACE_PROMPT_MAX_REFERENCES` / `XTRACE_PROMPT_MAX_RESOLVED_BYTES` (defaults 500 and
    /// 4 MiB): budget of prompt composition on create and fetch.
    pub prompt_limits: crate::domain::prompt_refs::CompositionLimits,
    /// `XTRACE_AUTH_FAILURES_PER_MINUTE` (default 30, 0 disables): failed authentications
    /// admitted per client address per minute (with a burst as large) before 429.
    pub auth_failures_per_minute: u32,
    /// `XTRACE_CORS_ORIGINS`: comma-separated allowed origins; unset allows any origin (as
    /// Langfuse does).
    pub cors_origins: Option<Vec<String>>,
}

/// A configuration variable that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {var}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        Self::from_lookup(|k| vars.get(k).cloned())
    }

    /// Reads configuration through `get` (the environment, or a map in tests).
    /// Empty values count as unset, as a `.env` file with `VAR=` means "not configured".
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let err = |var: &'static str, reason: String| ConfigError { var, reason };

        let bind_addr = match get("BIND_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 8742)),
            Some(v) => v.parse().map_err(|e| {
                err(
                    "BIND_ADDR",
                    format!("expected host:port like 127.0.0.1:8742, got {v:?} ({e})"),
                )
            })?,
        };
        let number = |var: &'static str, default: u64, max: u64| -> Result<u64, ConfigError> {
            match get(var) {
                None => Ok(default),
                Some(v) => match v.parse::<u64>() {
                    Ok(n) if n <= max => Ok(n),
                    _ => Err(err(
                        var,
                        format!("expected an integer from 0 to {max}, got {v:?}"),
                    )),
                },
            }
        };
        let positive = |var: &'static str, default: u64, max: u64| -> Result<u64, ConfigError> {
            let n = number(var, default, max)?;
            if n == 0 {
                return Err(err(var, "must be at least 1".into()));
            }
            Ok(n)
        };

        let pair = |pk_var: &'static str,
                    sk_var: &'static str|
         -> Result<Option<KeyPair>, ConfigError> {
            match (get(pk_var), get(sk_var)) {
                (Some(public_key), Some(secret)) => Ok(Some(KeyPair {
                    public_key,
                    secret_key: Secret(secret),
                })),
                (None, None) => Ok(None),
                (Some(_), None) => Err(err(sk_var, format!("must be set together with {pk_var}"))),
                (None, Some(_)) => Err(err(pk_var, format!("must be set together with {sk_var}"))),
            }
        };
        let project_keys = match pair("XTRACE_PUBLIC_KEY", "XTRACE_SECRET_KEY")? {
            Some(p) => Some(p),
            None => pair("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY")?,
        };
        let init_keys = pair(
            "LANGFUSE_INIT_PROJECT_PUBLIC_KEY",
            "LANGFUSE_INIT_PROJECT_SECRET_KEY",
        )?;
        let init_project = match get("LANGFUSE_INIT_PROJECT_ID") {
            Some(id) => Some(InitProject {
                id,
                name: get("LANGFUSE_INIT_PROJECT_NAME")
                    .unwrap_or_else(|| "Provisioned Project".into()),
                keys: init_keys,
            }),
            None if init_keys.is_some() => {
                return Err(err(
                    "LANGFUSE_INIT_PROJECT_ID",
                    "must be set when LANGFUSE_INIT_PROJECT_PUBLIC_KEY/SECRET_KEY are set".into(),
                ))
            }
            None => None,
        };

        let default_project_id = get("DEFAULT_PROJECT_ID").unwrap_or_else(|| "default".into());
        if default_project_id.len() > 256 {
            return Err(err(
                "DEFAULT_PROJECT_ID",
                "must be at most 256 bytes".into(),
            ));
        }
        let database_url = get("DATABASE_URL").map(Secret);
        if let Some(url) = &database_url {
            if !(url.0.starts_with("postgres://") || url.0.starts_with("postgresql://")) {
                return Err(err(
                    "DATABASE_URL",
                    "expected a postgres:// or postgresql:// URL".into(),
                ));
            }
        }
        let log_json = match get("LOG_FORMAT").as_deref() {
            None | Some("pretty") | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                return Err(err(
                    "LOG_FORMAT",
                    format!("expected json or text, got {other:?}"),
                ))
            }
        };

        let data_dir = PathBuf::from(get("XTRACE_DATA_DIR").unwrap_or_else(|| "./.xtrace".into()));
        let public_url = match get("XTRACE_PUBLIC_URL") {
            None => None,
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                Some(u.trim_end_matches('/').to_string())
            }
            Some(u) => {
                return Err(err(
                    "XTRACE_PUBLIC_URL",
                    format!("expected an http:// or https:// URL, got {u:?}"),
                ))
            }
        };
        let cors_origins = match get("XTRACE_CORS_ORIGINS") {
            None => None,
            Some(list) => {
                let mut origins = Vec::new();
                for o in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                    if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
                        return Err(err(
                            "XTRACE_CORS_ORIGINS",
                            format!("expected comma-separated http(s):// origins, got {o:?}"),
                        ));
                    }
                    origins.push(o.trim_end_matches('/').to_string());
                }
                // `*` anywhere in the list means any origin, as when unset.
                (!origins.iter().any(|o| o == "*")).then_some(origins)
            }
        };
        Ok(Config {
            database_url,
            media_dir: get("XTRACE_MEDIA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("media")),
            public_url,
            data_dir,
            pg_bindir: get("XTRACE_PG_BINDIR").map(PathBuf::from),
            api_bearer_token: get("API_BEARER_TOKEN").map(Secret),
            bind_addr,
            default_project_id,
            project_keys,
            init_project,
            org_id: get("LANGFUSE_INIT_ORG_ID").unwrap_or_else(|| "default".into()),
            org_name: get("LANGFUSE_INIT_ORG_NAME")
                .unwrap_or_else(|| "Default Organization".into()),
            rate_limit_qps: number("RATE_LIMIT_QPS", 0, 1_000_000)? as u32,
            rate_limit_burst: number("RATE_LIMIT_BURST", 40, 1_000_000)? as u32,
            max_body_bytes: positive("XTRACE_MAX_BODY_BYTES", 16 * 1024 * 1024, 1 << 30)? as usize,
            ingest_max_batch: positive("XTRACE_INGEST_MAX_BATCH", 200, 10_000)? as usize,
            ingest_max_delay: Duration::from_millis(number(
                "XTRACE_INGEST_MAX_DELAY_MS",
                0,
                10_000,
            )?),
            ingest_queue: positive("XTRACE_INGEST_QUEUE", 10_000, 1_000_000)? as usize,
            ingest_workers: positive("XTRACE_INGEST_WORKERS", 4, 64)? as usize,
            ingest_max_bytes_in_flight: positive(
                "XTRACE_INGEST_MAX_BYTES_IN_FLIGHT",
                32 * 1024 * 1024,
                1 << 40,
            )? as usize,
            db_max_connections: positive("DATABASE_MAX_CONNECTIONS", 16, 1000)? as u32,
            log_json,
            metrics_retention_days: number("XTRACE_METRICS_RETENTION_DAYS", 30, 36_500)? as u32,
            metrics_retention_interval: Duration::from_secs(positive(
                "XTRACE_METRICS_RETENTION_INTERVAL_SECS",
                3600,
                7 * 86_400,
            )?),
            metrics_max_series: positive("XTRACE_METRICS_MAX_SERIES", 50, 10_000)? as usize,
            metrics_max_points: positive("XTRACE_METRICS_MAX_POINTS", 1000, 100_000)? as usize,
            metrics_token: get("XTRACE_METRICS_TOKEN").map(Secret),
            encryption_key: get("XTRACE_ENCRYPTION_KEY")
                .or_else(|| get("ENCRYPTION_KEY"))
                .map(Secret),
            db_write_connections: positive("DATABASE_WRITE_CONNECTIONS", 4, 1000)? as u32,
            statement_timeout_ms: number("XTRACE_STATEMENT_TIMEOUT_MS", 30_000, 86_400_000)?,
            max_heavy_queries: positive("XTRACE_MAX_HEAVY_QUERIES", 4, 10_000)? as usize,
            metrics_query_max_rows: positive("XTRACE_METRICS_QUERY_MAX_ROWS", 10_000, 1_000_000)?
                as u32,
            prompt_limits: crate::domain::prompt_refs::CompositionLimits {
                max_references: positive("XTRACE_PROMPT_MAX_REFERENCES", 500, 1_000_000)? as usize,
                max_resolved_bytes: positive(
                    "XTRACE_PROMPT_MAX_RESOLVED_BYTES",
                    4 * 1024 * 1024,
                    1 << 30,
                )? as usize,
            },
            auth_failures_per_minute: number("XTRACE_AUTH_FAILURES_PER_MINUTE", 30, 1_000_000)?
                as u32,
            cors_origins,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8742");
        assert_eq!(c.default_project_id, "default");
        assert_eq!((c.rate_limit_qps, c.rate_limit_burst), (0, 40));
        assert!(c.database_url.is_none() && c.api_bearer_token.is_none());
        assert!(c.max_body_bytes >= 4_500_000);
    }

    #[test]
    fn errors_name_the_variable() {
        for (pairs, var) in [
            (vec![("BIND_ADDR", "nonsense")], "BIND_ADDR"),
            (vec![("RATE_LIMIT_QPS", "-1")], "RATE_LIMIT_QPS"),
            (vec![("RATE_LIMIT_BURST", "many")], "RATE_LIMIT_BURST"),
            (vec![("XTRACE_PUBLIC_KEY", "pk")], "XTRACE_SECRET_KEY"),
            (vec![("LANGFUSE_SECRET_KEY", "sk")], "LANGFUSE_PUBLIC_KEY"),
            (vec![("DATABASE_URL", "mysql://x")], "DATABASE_URL"),
            (
                vec![
                    ("LANGFUSE_INIT_PROJECT_PUBLIC_KEY", "pk"),
                    ("LANGFUSE_INIT_PROJECT_SECRET_KEY", "sk"),
                ],
                "LANGFUSE_INIT_PROJECT_ID",
            ),
            (vec![("LOG_FORMAT", "xml")], "LOG_FORMAT"),
            (
                vec![("XTRACE_PUBLIC_URL", "example.com")],
                "XTRACE_PUBLIC_URL",
            ),
        ] {
            let e = cfg(&pairs).expect_err(var);
            assert_eq!(e.var, var, "{pairs:?}");
            assert!(e.to_string().contains(var));
        }
    }

    #[test]
    fn legacy_langfuse_key_names_are_accepted_and_xtrace_names_win() {
        let c = cfg(&[
            ("LANGFUSE_PUBLIC_KEY", "pk-l"),
            ("LANGFUSE_SECRET_KEY", "sk-l"),
        ])
        .unwrap();
        assert_eq!(c.project_keys.unwrap().public_key, "pk-l");
        let c = cfg(&[
            ("LANGFUSE_PUBLIC_KEY", "pk-l"),
            ("LANGFUSE_SECRET_KEY", "sk-l"),
            ("XTRACE_PUBLIC_KEY", "pk-x"),
            ("XTRACE_SECRET_KEY", "sk-x"),
        ])
        .unwrap();
        assert_eq!(c.project_keys.unwrap().public_key, "pk-x");
    }

    #[test]
    fn metrics_settings_have_seed_defaults_and_are_validated() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.metrics_retention_days, 30);
        assert_eq!((c.metrics_max_series, c.metrics_max_points), (50, 1000));
        assert!(c.metrics_token.is_none());
        let c = cfg(&[
            ("XTRACE_METRICS_RETENTION_DAYS", "0"),
            ("XTRACE_METRICS_MAX_SERIES", "7"),
            ("XTRACE_METRICS_MAX_POINTS", "9"),
            ("XTRACE_METRICS_TOKEN", "scrape-secret"),
        ])
        .unwrap();
        assert_eq!(c.metrics_retention_days, 0);
        assert_eq!((c.metrics_max_series, c.metrics_max_points), (7, 9));
        assert_eq!(c.metrics_token.as_ref().unwrap().expose(), "scrape-secret");
        assert!(!format!("{c:?}").contains("scrape-secret"));
        for (var, bad) in [
            ("XTRACE_METRICS_RETENTION_DAYS", "-1"),
            ("XTRACE_METRICS_MAX_SERIES", "0"),
            ("XTRACE_METRICS_MAX_POINTS", "lots"),
            ("XTRACE_METRICS_MAX_POINTS", "100001"),
        ] {
            assert_eq!(cfg(&[(var, bad)]).expect_err(var).var, var);
        }
    }

    #[test]
    fn security_limits_have_defaults_and_are_validated() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.db_write_connections, 4);
        assert_eq!(c.statement_timeout_ms, 30_000);
        assert_eq!(c.max_heavy_queries, 4);
        assert_eq!(c.metrics_query_max_rows, 10_000);
        assert_eq!(c.prompt_limits.max_references, 500);
        assert_eq!(c.prompt_limits.max_resolved_bytes, 4 << 20);
        assert_eq!(c.auth_failures_per_minute, 30);
        assert!(c.cors_origins.is_none());
        let c = cfg(&[
            (
                "XTRACE_CORS_ORIGINS",
                "https://a.example, http://b.example:3000/",
            ),
            ("XTRACE_STATEMENT_TIMEOUT_MS", "0"),
            ("XTRACE_AUTH_FAILURES_PER_MINUTE", "0"),
        ])
        .unwrap();
        assert_eq!(
            c.cors_origins.unwrap(),
            ["https://a.example", "http://b.example:3000"]
        );
        assert_eq!((c.statement_timeout_ms, c.auth_failures_per_minute), (0, 0));
        assert!(cfg(&[("XTRACE_CORS_ORIGINS", "https://a, *")])
            .unwrap()
            .cors_origins
            .is_none());
        for (var, bad) in [
            ("XTRACE_CORS_ORIGINS", "a.example"),
            ("DATABASE_WRITE_CONNECTIONS", "0"),
            ("XTRACE_MAX_HEAVY_QUERIES", "0"),
            ("XTRACE_PROMPT_MAX_REFERENCES", "x"),
            ("XTRACE_STATEMENT_TIMEOUT_MS", "-5"),
        ] {
            assert_eq!(cfg(&[(var, bad)]).expect_err(var).var, var);
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let c = cfg(&[("API_BEARER_TOKEN", "very-secret-token")]).unwrap();
        assert!(!format!("{c:?}").contains("very-secret-token"));
    }
}
