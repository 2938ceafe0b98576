//! Score configs: CRUD for `/api/public/score-configs`, and [`find`] for validating scores
//! against their config (the ingestion path can call it with a `configId`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgExecutor, PgPool};

use crate::domain::paging::Page;

const COLUMNS: &str = "project_id, id, name, data_type, is_archived, min_value, max_value, \
    categories, description, created_at, updated_at";

/// One stored score config.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScoreConfigRow {
    /// Project.
    pub project_id: String,
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// NUMERIC, CATEGORICAL, BOOLEAN, TEXT.
    pub data_type: String,
    /// Archived flag.
    pub is_archived: bool,
    /// Lower bound (NUMERIC).
    pub min_value: Option<f64>,
    /// Upper bound (NUMERIC).
    pub max_value: Option<f64>,
    /// `[{label, value}]` (CATEGORICAL, BOOLEAN).
    pub categories: Option<Value>,
    /// Description.
    pub description: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

/// The writable attributes of a config.
#[derive(Debug, Clone)]
pub struct ScoreConfigData {
    /// Name.
    pub name: String,
    /// Data type.
    pub data_type: String,
    /// Archived flag.
    pub is_archived: bool,
    /// Lower bound.
    pub min_value: Option<f64>,
    /// Upper bound.
    pub max_value: Option<f64>,
    /// Categories.
    pub categories: Option<Value>,
    /// Description.
    pub description: Option<String>,
}

impl From<&ScoreConfigRow> for ScoreConfigData {
    fn from(r: &ScoreConfigRow) -> Self {
        ScoreConfigData {
            name: r.name.clone(),
            data_type: r.data_type.clone(),
            is_archived: r.is_archived,
            min_value: r.min_value,
            max_value: r.max_value,
            categories: r.categories.clone(),
            description: r.description.clone(),
        }
    }
}

/// One config of the project (used by the API and for score validation).
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn find(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: &str,
) -> Result<Option<ScoreConfigRow>, sqlx::Error> {
    sqlx::query_as::<_, ScoreConfigRow>(&format!(
        "select {COLUMNS} from score_configs where project_id = $1 and id = $2"
    ))
    .bind(project_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// One page of configs, newest first, with the total count.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list(
    pool: &PgPool,
    project_id: &str,
    page: Page,
) -> Result<(Vec<ScoreConfigRow>, u64), sqlx::Error> {
    let sql = format!(
        "select {COLUMNS} from score_configs where project_id = $1 \
         order by created_at desc, id desc limit $2 offset $3"
    );
    let rows = sqlx::query_as::<_, ScoreConfigRow>(&sql)
        .bind(project_id)
        .bind(page.limit as i64)
        .bind(page.offset());
    let count =
        sqlx::query_scalar::<_, i64>("select count(*) from score_configs where project_id = $1")
            .bind(project_id);
    let (rows, count) = tokio::try_join!(rows.fetch_all(pool), count.fetch_one(pool))?;
    Ok((rows, count.max(0) as u64))
}

/// Inserts a config with a fresh id.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn insert(
    db: impl PgExecutor<'_>,
    project_id: &str,
    data: &ScoreConfigData,
) -> Result<ScoreConfigRow, sqlx::Error> {
    sqlx::query_as::<_, ScoreConfigRow>(&format!(
        "insert into score_configs (project_id, id, name, data_type, is_archived, min_value, \
         max_value, categories, description) values ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         returning {COLUMNS}"
    ))
    .bind(project_id)
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&data.name)
    .bind(&data.data_type)
    .bind(data.is_archived)
    .bind(data.min_value)
    .bind(data.max_value)
    .bind(&data.categories)
    .bind(&data.description)
    .fetch_one(db)
    .await
}

/// Replaces the writable attributes of a config; None when it does not exist.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn update(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: &str,
    data: &ScoreConfigData,
) -> Result<Option<ScoreConfigRow>, sqlx::Error> {
    sqlx::query_as::<_, ScoreConfigRow>(&format!(
        "update score_configs set name = $3, is_archived = $4, min_value = $5, max_value = $6, \
         categories = $7, description = $8, updated_at = now() \
         where project_id = $1 and id = $2 returning {COLUMNS}"
    ))
    .bind(project_id)
    .bind(id)
    .bind(&data.name)
    .bind(data.is_archived)
    .bind(data.min_value)
    .bind(data.max_value)
    .bind(&data.categories)
    .bind(&data.description)
    .fetch_optional(db)
    .await
}

/// The configs among `keys` (`(project_id, config_id)`) that exist, in one query (the
/// ingest worker validates a whole batch of scores with it).
#[tracing::instrument(skip_all, fields(keys = keys.len()))]
pub async fn find_many(
    db: impl PgExecutor<'_>,
    keys: &[(&str, &str)],
) -> Result<Vec<ScoreConfigRow>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let projects: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let ids: Vec<&str> = keys.iter().map(|k| k.1).collect();
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("c.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    sqlx::query_as::<_, ScoreConfigRow>(&format!(
        "select {columns} from score_configs c \
         join (select distinct project_id, id from unnest($1::text[], $2::text[]) \
               as k(project_id, id)) k on c.project_id = k.project_id and c.id = k.id"
    ))
    .bind(&projects)
    .bind(&ids)
    .fetch_all(db)
    .await
}
