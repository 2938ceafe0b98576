//! LLM connections (`/api/public/llm-connections`): upsert by provider name, list, delete.
//! Secrets arrive here already sealed (see `domain::encryption`); nothing here sees them.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use crate::domain::paging::Page;

const COLUMNS: &str = "id, provider, adapter, display_secret_key, base_url, custom_models, \
    with_default_models, extra_header_keys, config, created_at, updated_at";

/// One stored connection, without its sealed secrets.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectionRow {
    /// Id.
    pub id: String,
    /// Provider name (unique in the project).
    pub provider: String,
    /// Adapter.
    pub adapter: String,
    /// Masked secret key.
    pub display_secret_key: String,
    /// Custom base URL.
    pub base_url: Option<String>,
    /// Custom model names.
    pub custom_models: Vec<String>,
    /// Whether the adapter's default models are offered.
    pub with_default_models: bool,
    /// Names of the extra headers.
    pub extra_header_keys: Vec<String>,
    /// Adapter-specific configuration.
    pub config: Option<Value>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

/// Everything an upsert writes.
#[derive(Debug, Clone)]
pub struct ConnectionData {
    /// Provider name.
    pub provider: String,
    /// Adapter.
    pub adapter: String,
    /// Sealed secret key.
    pub secret_key_sealed: String,
    /// Masked secret key.
    pub display_secret_key: String,
    /// Base URL.
    pub base_url: Option<String>,
    /// Custom models.
    pub custom_models: Vec<String>,
    /// Default models flag.
    pub with_default_models: bool,
    /// Sealed JSON object of extra headers.
    pub extra_headers_sealed: Option<String>,
    /// Extra header names.
    pub extra_header_keys: Vec<String>,
    /// Adapter config.
    pub config: Option<Value>,
}

/// One page of connections (oldest first, as Langfuse lists them by creation), with the total.
pub async fn list(
    pool: &PgPool,
    project_id: &str,
    page: Page,
) -> sqlx::Result<(Vec<ConnectionRow>, u64)> {
    let sql = format!(
        "select {COLUMNS} from llm_connections where project_id = $1 \
         order by created_at, id limit $2 offset $3"
    );
    let rows = sqlx::query_as::<_, ConnectionRow>(&sql)
        .bind(project_id)
        .bind(page.limit as i64)
        .bind(page.offset());
    let count =
        sqlx::query_scalar::<_, i64>("select count(*) from llm_connections where project_id = $1")
            .bind(project_id);
    let (rows, count) = tokio::try_join!(rows.fetch_all(pool), count.fetch_one(pool))?;
    Ok((rows, count.max(0) as u64))
}

/// Creates the provider's connection or replaces its attributes; `true` when created.
pub async fn upsert(
    pool: &PgPool,
    project_id: &str,
    d: &ConnectionData,
) -> sqlx::Result<(ConnectionRow, bool)> {
    let sql = format!(
        "insert into llm_connections (project_id, id, provider, adapter, secret_key_sealed, \
         display_secret_key, base_url, custom_models, with_default_models, \
         extra_headers_sealed, extra_header_keys, config) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         on conflict (project_id, provider) do update set adapter = excluded.adapter, \
         secret_key_sealed = excluded.secret_key_sealed, \
         display_secret_key = excluded.display_secret_key, base_url = excluded.base_url, \
         custom_models = excluded.custom_models, \
         with_default_models = excluded.with_default_models, \
         extra_headers_sealed = excluded.extra_headers_sealed, \
         extra_header_keys = excluded.extra_header_keys, config = excluded.config, \
         updated_at = now() \
         returning {COLUMNS}, (xmax = 0) as created"
    );
    #[derive(sqlx::FromRow)]
    struct Out {
        #[sqlx(flatten)]
        row: ConnectionRow,
        created: bool,
    }
    let out = sqlx::query_as::<_, Out>(&sql)
        .bind(project_id)
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&d.provider)
        .bind(&d.adapter)
        .bind(&d.secret_key_sealed)
        .bind(&d.display_secret_key)
        .bind(&d.base_url)
        .bind(&d.custom_models)
        .bind(d.with_default_models)
        .bind(&d.extra_headers_sealed)
        .bind(&d.extra_header_keys)
        .bind(&d.config)
        .fetch_one(pool)
        .await?;
    Ok((out.row, out.created))
}

/// Deletes a connection; false when it does not exist in the project.
pub async fn delete(pool: &PgPool, project_id: &str, id: &str) -> sqlx::Result<bool> {
    let r = sqlx::query("delete from llm_connections where project_id = $1 and id = $2")
        .bind(project_id)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(r.rows_affected() > 0)
}
