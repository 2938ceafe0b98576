//! Connection pool and the embedded migrator.

use std::time::Duration;

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Opens a pool on `url`. Connections are made lazily, so a server that is down at start
/// shows up as a clear error from `migrate` rather than a hang.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    connect_with_timeout(url, max_connections, 0).await
}

/// Opens a pool whose sessions run with PostgreSQL's `statement_timeout` set to
/// `statement_timeout_ms` (0: none). The setting travels in the start-up packet, so it
/// costs no extra round trip; a statement running longer fails with SQLSTATE 57014,
/// which `ApiError` answers 503.
pub async fn connect_with_timeout(
    url: &str,
    max_connections: u32,
    statement_timeout_ms: u64,
) -> anyhow::Result<PgPool> {
    let mut options = PgConnectOptions::from_str(url)?;
    if statement_timeout_ms > 0 {
        options = options.options([("statement_timeout", statement_timeout_ms.to_string())]);
    }
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options);
    Ok(pool)
}

/// Runs pending migrations.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))
}
