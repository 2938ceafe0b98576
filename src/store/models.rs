//! Model definitions and their pricing tiers (`models`, `pricing_tiers`), and the start-up
//! seed of the global (Langfuse-managed) models. Global rows have `project_id` NULL and are
//! visible to every project; project rows only to their project.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor, PgPool};

/// A model row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ModelRow {
    /// Model id.
    pub id: String,
    /// Owning project; None for global models.
    pub project_id: Option<String>,
    /// Name of the definition.
    pub model_name: String,
    /// Postgres regex matched against `generation.model`.
    pub match_pattern: String,
    /// Applies to generations after this date.
    pub start_date: Option<DateTime<Utc>>,
    /// Usage unit (`TOKENS`, …).
    pub unit: Option<String>,
    /// `openai` or `claude`.
    pub tokenizer_id: Option<String>,
    /// Tokenizer settings.
    pub tokenizer_config: Option<Value>,
    /// Legacy flat input price.
    pub input_price: Option<f64>,
    /// Legacy flat output price.
    pub output_price: Option<f64>,
    /// Legacy flat total price.
    pub total_price: Option<f64>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A pricing tier row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TierRow {
    /// Tier id.
    pub id: String,
    /// Model the tier belongs to.
    pub model_id: String,
    /// Tier name.
    pub name: String,
    /// Default (fallback) tier.
    pub is_default: bool,
    /// Evaluation order.
    pub priority: i32,
    /// JSON array of conditions.
    pub conditions: Value,
    /// JSON object usage key → USD per unit.
    pub prices: Value,
}

/// A model to insert.
#[derive(Debug, Clone)]
pub struct NewModel<'a> {
    /// Model id.
    pub id: &'a str,
    /// Owning project.
    pub project_id: &'a str,
    /// Name.
    pub model_name: &'a str,
    /// Match pattern.
    pub match_pattern: &'a str,
    /// Start date.
    pub start_date: Option<DateTime<Utc>>,
    /// Unit.
    pub unit: &'a str,
    /// Tokenizer id.
    pub tokenizer_id: Option<&'a str>,
    /// Tokenizer config.
    pub tokenizer_config: Option<&'a Value>,
    /// Legacy input price.
    pub input_price: Option<f64>,
    /// Legacy output price.
    pub output_price: Option<f64>,
    /// Legacy total price.
    pub total_price: Option<f64>,
}

/// A tier to insert.
#[derive(Debug, Clone)]
pub struct NewTier {
    /// Tier id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Default tier.
    pub is_default: bool,
    /// Priority.
    pub priority: i32,
    /// Conditions (JSON array).
    pub conditions: Value,
    /// Prices (JSON object).
    pub prices: Value,
}

const MODEL_COLUMNS: &str = "id, project_id, model_name, match_pattern, start_date, unit, \
     tokenizer_id, tokenizer_config, input_price, output_price, total_price, created_at";

const TIER_COLUMNS: &str = "id, model_id, name, is_default, priority, conditions, prices";

/// Every model (global and all projects), for the pricing catalog.
#[tracing::instrument(skip_all)]
pub async fn list_all_models(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<ModelRow>> {
    sqlx::query_as(&format!("select {MODEL_COLUMNS} from models"))
        .fetch_all(db)
        .await
}

/// Every pricing tier, for the pricing catalog.
#[tracing::instrument(skip_all)]
pub async fn list_all_tiers(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<TierRow>> {
    sqlx::query_as(&format!("select {TIER_COLUMNS} from pricing_tiers"))
        .fetch_all(db)
        .await
}

/// A page of the models visible to the project (its own and global ones), ordered as
/// Langfuse lists them, with the count of all visible models.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_models(
    db: &PgPool,
    project_id: &str,
    page: u64,
    limit: u64,
) -> sqlx::Result<(Vec<ModelRow>, u64)> {
    let rows = sqlx::query_as(&format!(
        "select {MODEL_COLUMNS} from models where project_id = $1 or project_id is null \
         order by model_name asc, unit asc nulls last, start_date desc nulls last, id \
         limit $2 offset $3"
    ))
    .bind(project_id)
    .bind(limit as i64)
    .bind(((page.saturating_sub(1)) * limit) as i64)
    .fetch_all(db)
    .await?;
    let total: i64 = sqlx::query_scalar(
        "select count(*) from models where project_id = $1 or project_id is null",
    )
    .bind(project_id)
    .fetch_one(db)
    .await?;
    Ok((rows, total as u64))
}

/// A model visible to the project (its own or global), by id.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn find_model(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: &str,
) -> sqlx::Result<Option<ModelRow>> {
    sqlx::query_as(&format!(
        "select {MODEL_COLUMNS} from models where id = $2 and (project_id = $1 or project_id is null)"
    ))
    .bind(project_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Tiers of the given models, by ascending priority.
#[tracing::instrument(skip_all)]
pub async fn list_tiers(
    db: impl PgExecutor<'_>,
    model_ids: &[String],
) -> sqlx::Result<Vec<TierRow>> {
    sqlx::query_as(&format!(
        "select {TIER_COLUMNS} from pricing_tiers where model_id = any($1) order by priority, id"
    ))
    .bind(model_ids)
    .fetch_all(db)
    .await
}

/// Whether Postgres accepts `pattern` as a regex (the `~` operator matching uses).
pub async fn is_valid_postgres_regex(db: impl PgExecutor<'_>, pattern: &str) -> sqlx::Result<bool> {
    match sqlx::query("select '' ~ $1")
        .bind(pattern)
        .execute(db)
        .await
    {
        Ok(_) => Ok(true),
        // 2201B invalid_regular_expression (and friends in class 22: data exceptions).
        Err(sqlx::Error::Database(e)) if e.code().is_some_and(|c| c.starts_with("22")) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Inserts a project model with its tiers. Returns false when the project already has a
/// model of that name. The caller owns the transaction.
#[tracing::instrument(skip_all, fields(project_id = %model.project_id))]
pub async fn insert_model(
    conn: &mut PgConnection,
    model: &NewModel<'_>,
    tiers: &[NewTier],
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "insert into models (id, project_id, model_name, match_pattern, start_date, unit, \
         tokenizer_id, tokenizer_config, input_price, output_price, total_price) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         on conflict (project_id, model_name) where project_id is not null do nothing",
    )
    .bind(model.id)
    .bind(model.project_id)
    .bind(model.model_name)
    .bind(model.match_pattern)
    .bind(model.start_date)
    .bind(model.unit)
    .bind(model.tokenizer_id)
    .bind(model.tokenizer_config)
    .bind(model.input_price)
    .bind(model.output_price)
    .bind(model.total_price)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    for t in tiers {
        sqlx::query(
            "insert into pricing_tiers (id, model_id, name, is_default, priority, conditions, prices) \
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&t.id)
        .bind(model.id)
        .bind(&t.name)
        .bind(t.is_default)
        .bind(t.priority)
        .bind(&t.conditions)
        .bind(&t.prices)
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}

/// Deletes a project model (never a global one); false when the project has no such model.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn delete_model(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: &str,
) -> sqlx::Result<bool> {
    let n = sqlx::query("delete from models where id = $2 and project_id = $1")
        .bind(project_id)
        .bind(id)
        .execute(db)
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// Replaces the global models with `models` (JSON array of `{id, modelName, matchPattern,
/// createdAt, tokenizerId, tokenizerConfig}`) and their tiers (`{id, modelId, name,
/// isDefault, priority, conditions, prices}`), unless the seed `digest` was applied already.
/// Idempotent and safe to run from several processes (advisory lock). Returns whether it
/// wrote anything.
#[tracing::instrument(skip_all)]
pub async fn seed_global_models(
    db: &PgPool,
    digest: &str,
    models: &Value,
    tiers: &Value,
) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    sqlx::query("select pg_advisory_xact_lock(hashtext('xtrace.model_seed'))")
        .execute(&mut *tx)
        .await?;
    let current: Option<String> = sqlx::query_scalar("select digest from model_seed_state")
        .fetch_optional(&mut *tx)
        .await?;
    if current.as_deref() == Some(digest) {
        tx.commit().await?;
        return Ok(false);
    }
    sqlx::query(
        "insert into models (id, project_id, model_name, match_pattern, unit, tokenizer_id, \
         tokenizer_config, created_at, updated_at) \
         select x.id, null, x.\"modelName\", x.\"matchPattern\", 'TOKENS', x.\"tokenizerId\", \
         x.\"tokenizerConfig\", x.\"createdAt\", now() \
         from jsonb_to_recordset($1) as x(id text, \"modelName\" text, \"matchPattern\" text, \
         \"tokenizerId\" text, \"tokenizerConfig\" jsonb, \"createdAt\" timestamptz) \
         on conflict (id) do update set model_name = excluded.model_name, \
         match_pattern = excluded.match_pattern, unit = excluded.unit, \
         tokenizer_id = excluded.tokenizer_id, tokenizer_config = excluded.tokenizer_config, \
         created_at = excluded.created_at, updated_at = now() \
         where models.project_id is null",
    )
    .bind(models)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "delete from models where project_id is null and id not in \
         (select x.id from jsonb_to_recordset($1) as x(id text))",
    )
    .bind(models)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "delete from pricing_tiers t using models m where m.id = t.model_id and m.project_id is null",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into pricing_tiers (id, model_id, name, is_default, priority, conditions, prices) \
         select x.id, x.\"modelId\", x.name, x.\"isDefault\", x.priority, x.conditions, x.prices \
         from jsonb_to_recordset($1) as x(id text, \"modelId\" text, name text, \"isDefault\" boolean, \
         priority integer, conditions jsonb, prices jsonb)",
    )
    .bind(tiers)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into model_seed_state (id, digest) values (true, $1) \
         on conflict (id) do update set digest = excluded.digest, applied_at = now()",
    )
    .bind(digest)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}
