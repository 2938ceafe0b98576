//! Datasets, dataset items, dataset runs and run items.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgExecutor, PgPool};

/// A dataset row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DatasetRow {
    /// Project.
    pub project_id: String,
    /// Id.
    pub id: String,
    /// Name (unique per project).
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Metadata (any JSON).
    pub metadata: Option<Value>,
    /// JSON schema items' input must follow.
    pub input_schema: Option<Value>,
    /// JSON schema items' expected output must follow.
    pub expected_output_schema: Option<Value>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

const DATASET_COLUMNS: &str = "project_id, id, name, description, metadata, input_schema, \
    expected_output_schema, created_at, updated_at";

/// Fields of a dataset create/upsert.
#[derive(Debug, Clone, Default)]
pub struct NewDataset {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Metadata.
    pub metadata: Option<Value>,
    /// Input schema.
    pub input_schema: Option<Value>,
    /// Expected-output schema.
    pub expected_output_schema: Option<Value>,
}

/// Creates the dataset or updates the given fields of the existing one with that name.
pub async fn upsert_dataset(
    db: impl PgExecutor<'_>,
    project_id: &str,
    d: &NewDataset,
) -> sqlx::Result<DatasetRow> {
    sqlx::query_as(&format!(
        "insert into datasets (project_id, id, name, description, metadata, input_schema, \
         expected_output_schema) values ($1, $2, $3, $4, $5, $6, $7) \
         on conflict (project_id, name) do update set \
           description = coalesce(excluded.description, datasets.description), \
           metadata = coalesce(excluded.metadata, datasets.metadata), \
           input_schema = coalesce(excluded.input_schema, datasets.input_schema), \
           expected_output_schema = coalesce(excluded.expected_output_schema, \
                                             datasets.expected_output_schema), \
           updated_at = now() \
         returning {DATASET_COLUMNS}"
    ))
    .bind(project_id)
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&d.name)
    .bind(&d.description)
    .bind(&d.metadata)
    .bind(&d.input_schema)
    .bind(&d.expected_output_schema)
    .fetch_one(db)
    .await
}

/// The first dataset among `names` (in that order) that exists, in one query; the API
/// passes the name as sent and its once-more-decoded form (see `api::params::name_candidates`).
pub async fn find_dataset_by_names(
    db: impl PgExecutor<'_>,
    project_id: &str,
    names: &[String],
) -> sqlx::Result<Option<DatasetRow>> {
    sqlx::query_as(&format!(
        "select {DATASET_COLUMNS} from datasets where project_id = $1 and name = any($2) \
         order by array_position($2, name) limit 1"
    ))
    .bind(project_id)
    .bind(names)
    .fetch_optional(db)
    .await
}

/// The dataset named `name`.
pub async fn find_dataset_by_name(
    db: impl PgExecutor<'_>,
    project_id: &str,
    name: &str,
) -> sqlx::Result<Option<DatasetRow>> {
    sqlx::query_as(&format!(
        "select {DATASET_COLUMNS} from datasets where project_id = $1 and name = $2"
    ))
    .bind(project_id)
    .bind(name)
    .fetch_optional(db)
    .await
}

/// A page of datasets (newest first) and the total.
pub async fn list_datasets(
    pool: &PgPool,
    project_id: &str,
    limit: u64,
    offset: u64,
) -> sqlx::Result<(Vec<DatasetRow>, u64)> {
    let rows = sqlx::query_as(&format!(
        "select {DATASET_COLUMNS} from datasets where project_id = $1 \
         order by created_at desc, id asc limit $2 offset $3"
    ))
    .bind(project_id)
    .bind(limit as i64)
    .bind(offset as i64)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar("select count(*) from datasets where project_id = $1")
        .bind(project_id)
        .fetch_one(pool)
        .await?;
    Ok((rows, total as u64))
}

/// Ids of the dataset's items (any status, newest first) and names of its runs.
pub async fn dataset_item_ids_and_run_names(
    pool: &PgPool,
    project_id: &str,
    dataset_id: &str,
) -> sqlx::Result<(Vec<String>, Vec<String>)> {
    let items = sqlx::query_scalar(
        "select id from dataset_items where project_id = $1 and dataset_id = $2 \
         order by created_at desc, id",
    )
    .bind(project_id)
    .bind(dataset_id)
    .fetch_all(pool)
    .await?;
    let runs = sqlx::query_scalar(
        "select name from dataset_runs where project_id = $1 and dataset_id = $2 \
         order by created_at desc, id",
    )
    .bind(project_id)
    .bind(dataset_id)
    .fetch_all(pool)
    .await?;
    Ok((items, runs))
}

/// A dataset item with its dataset's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemRow {
    /// Id.
    pub id: String,
    /// `ACTIVE` or `ARCHIVED`.
    pub status: String,
    /// Input.
    pub input: Option<Value>,
    /// Expected output.
    pub expected_output: Option<Value>,
    /// Metadata.
    pub metadata: Option<Value>,
    /// Trace the item was created from.
    pub source_trace_id: Option<String>,
    /// Observation the item was created from.
    pub source_observation_id: Option<String>,
    /// Dataset id.
    pub dataset_id: String,
    /// Dataset name.
    pub dataset_name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

const ITEM_SELECT: &str = "select i.id, i.status, i.input, i.expected_output, i.metadata, \
    i.source_trace_id, i.source_observation_id, i.dataset_id, d.name as dataset_name, \
    i.created_at, i.updated_at from dataset_items i \
    join datasets d on d.project_id = i.project_id and d.id = i.dataset_id";

/// Fields of an item create/upsert (`None` keeps the stored value on update).
#[derive(Debug, Clone, Default)]
pub struct NewItem {
    /// Client-chosen id (generated when absent).
    pub id: Option<String>,
    /// Input.
    pub input: Option<Value>,
    /// Expected output.
    pub expected_output: Option<Value>,
    /// Metadata.
    pub metadata: Option<Value>,
    /// Source trace.
    pub source_trace_id: Option<String>,
    /// Source observation.
    pub source_observation_id: Option<String>,
    /// Status (`ACTIVE` when absent on create).
    pub status: Option<String>,
}

/// Outcome of an item upsert.
#[derive(Debug)]
pub enum UpsertItem {
    /// Created or updated.
    Ok(Box<ItemRow>),
    /// The id belongs to an item of another dataset.
    OtherDataset,
}

/// Creates the item, or updates it when `id` exists in the same dataset.
pub async fn upsert_item(
    pool: &PgPool,
    project_id: &str,
    dataset_id: &str,
    item: &NewItem,
) -> sqlx::Result<UpsertItem> {
    let id = item
        .id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut tx = pool.begin().await?;
    let existing: Option<String> = sqlx::query_scalar(
        "select dataset_id from dataset_items where project_id = $1 and id = $2 for update",
    )
    .bind(project_id)
    .bind(&id)
    .fetch_optional(&mut *tx)
    .await?;
    if existing.as_deref().is_some_and(|d| d != dataset_id) {
        return Ok(UpsertItem::OtherDataset);
    }
    sqlx::query(
        "insert into dataset_items (project_id, id, dataset_id, status, input, expected_output, \
         metadata, source_trace_id, source_observation_id) \
         values ($1, $2, $3, coalesce($4, 'ACTIVE'), $5, $6, $7, $8, $9) \
         on conflict (project_id, id) do update set \
           status = coalesce($4, dataset_items.status), \
           input = coalesce($5, dataset_items.input), \
           expected_output = coalesce($6, dataset_items.expected_output), \
           metadata = coalesce($7, dataset_items.metadata), \
           source_trace_id = coalesce($8, dataset_items.source_trace_id), \
           source_observation_id = coalesce($9, dataset_items.source_observation_id), \
           updated_at = now()",
    )
    .bind(project_id)
    .bind(&id)
    .bind(dataset_id)
    .bind(&item.status)
    .bind(&item.input)
    .bind(&item.expected_output)
    .bind(&item.metadata)
    .bind(&item.source_trace_id)
    .bind(&item.source_observation_id)
    .execute(&mut *tx)
    .await?;
    let row = find_item(&mut *tx, project_id, &id)
        .await?
        .expect("the item was just written in this transaction");
    tx.commit().await?;
    Ok(UpsertItem::Ok(Box::new(row)))
}

/// The item `id` (any status).
pub async fn find_item(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: &str,
) -> sqlx::Result<Option<ItemRow>> {
    sqlx::query_as(&format!(
        "{ITEM_SELECT} where i.project_id = $1 and i.id = $2"
    ))
    .bind(project_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Filters of the item list.
#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    /// Dataset.
    pub dataset_id: Option<String>,
    /// Source trace.
    pub source_trace_id: Option<String>,
    /// Source observation.
    pub source_observation_id: Option<String>,
    /// Only items created at or before this time.
    pub created_before: Option<DateTime<Utc>>,
}

/// A page of ACTIVE items (newest first) and the total.
pub async fn list_items(
    pool: &PgPool,
    project_id: &str,
    f: &ItemFilter,
    limit: u64,
    offset: u64,
) -> sqlx::Result<(Vec<ItemRow>, u64)> {
    let cond = "where i.project_id = $1 and i.status = 'ACTIVE' \
        and ($2::text is null or i.dataset_id = $2) \
        and ($3::text is null or i.source_trace_id = $3) \
        and ($4::text is null or i.source_observation_id = $4) \
        and ($5::timestamptz is null or i.created_at <= $5)";
    let rows = sqlx::query_as(&format!(
        "{ITEM_SELECT} {cond} order by i.created_at desc, i.id limit $6 offset $7"
    ))
    .bind(project_id)
    .bind(&f.dataset_id)
    .bind(&f.source_trace_id)
    .bind(&f.source_observation_id)
    .bind(f.created_before)
    .bind(limit as i64)
    .bind(offset as i64)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(&format!("select count(*) from dataset_items i {cond}"))
        .bind(project_id)
        .bind(&f.dataset_id)
        .bind(&f.source_trace_id)
        .bind(&f.source_observation_id)
        .bind(f.created_before)
        .fetch_one(pool)
        .await?;
    Ok((rows, total as u64))
}

/// All items of a dataset, any status, newest first (v1 dataset get).
pub async fn all_items(
    pool: &PgPool,
    project_id: &str,
    dataset_id: &str,
) -> sqlx::Result<Vec<ItemRow>> {
    sqlx::query_as(&format!(
        "{ITEM_SELECT} where i.project_id = $1 and i.dataset_id = $2 \
         order by i.created_at desc, i.id"
    ))
    .bind(project_id)
    .bind(dataset_id)
    .fetch_all(pool)
    .await
}

/// Deletes item `id`; false when it did not exist.
pub async fn delete_item(pool: &PgPool, project_id: &str, id: &str) -> sqlx::Result<bool> {
    let n = sqlx::query("delete from dataset_items where project_id = $1 and id = $2")
        .bind(project_id)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// A dataset run with its dataset's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    /// Id.
    pub id: String,
    /// Name (unique per dataset).
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Metadata.
    pub metadata: Option<Value>,
    /// Dataset id.
    pub dataset_id: String,
    /// Dataset name.
    pub dataset_name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

const RUN_SELECT: &str = "select r.id, r.name, r.description, r.metadata, r.dataset_id, \
    d.name as dataset_name, r.created_at, r.updated_at from dataset_runs r \
    join datasets d on d.project_id = r.project_id and d.id = r.dataset_id";

/// A run item.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunItemRow {
    /// Id.
    pub id: String,
    /// Run id.
    pub dataset_run_id: String,
    /// Run name.
    pub dataset_run_name: String,
    /// Item id.
    pub dataset_item_id: String,
    /// Trace.
    pub trace_id: String,
    /// Observation.
    pub observation_id: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

const RUN_ITEM_SELECT: &str = "select ri.id, ri.dataset_run_id, r.name as dataset_run_name, \
    ri.dataset_item_id, ri.trace_id, ri.observation_id, ri.created_at, ri.updated_at \
    from dataset_run_items ri \
    join dataset_runs r on r.project_id = ri.project_id and r.id = ri.dataset_run_id";

/// Fields of a run item create.
#[derive(Debug, Clone)]
pub struct NewRunItem {
    /// Run name (the run is created on first use).
    pub run_name: String,
    /// Run description (first call wins).
    pub run_description: Option<String>,
    /// Run metadata (first call wins).
    pub metadata: Option<Value>,
    /// Dataset of the item.
    pub dataset_id: String,
    /// Item.
    pub dataset_item_id: String,
    /// Trace (not required to exist yet).
    pub trace_id: String,
    /// Observation.
    pub observation_id: Option<String>,
    /// Creation time (now when absent).
    pub created_at: Option<DateTime<Utc>>,
}

/// Creates the run on first use and the run item.
pub async fn create_run_item(
    pool: &PgPool,
    project_id: &str,
    n: &NewRunItem,
) -> sqlx::Result<RunItemRow> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "insert into dataset_runs (project_id, id, dataset_id, name, description, metadata) \
         values ($1, $2, $3, $4, $5, $6) on conflict (project_id, dataset_id, name) do nothing",
    )
    .bind(project_id)
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&n.dataset_id)
    .bind(&n.run_name)
    .bind(&n.run_description)
    .bind(&n.metadata)
    .execute(&mut *tx)
    .await?;
    let run_id: String = sqlx::query_scalar(
        "select id from dataset_runs where project_id = $1 and dataset_id = $2 and name = $3",
    )
    .bind(project_id)
    .bind(&n.dataset_id)
    .bind(&n.run_name)
    .fetch_one(&mut *tx)
    .await?;
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "insert into dataset_run_items (project_id, id, dataset_run_id, dataset_item_id, \
         trace_id, observation_id, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, coalesce($7, now()), coalesce($7, now()))",
    )
    .bind(project_id)
    .bind(&id)
    .bind(&run_id)
    .bind(&n.dataset_item_id)
    .bind(&n.trace_id)
    .bind(&n.observation_id)
    .bind(n.created_at)
    .execute(&mut *tx)
    .await?;
    let row = sqlx::query_as(&format!(
        "{RUN_ITEM_SELECT} where ri.project_id = $1 and ri.id = $2"
    ))
    .bind(project_id)
    .bind(&id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// The trace of observation `id`, if the observation is stored.
pub async fn observation_trace_id(
    pool: &PgPool,
    project_id: &str,
    id: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("select trace_id from observations where project_id = $1 and id = $2")
        .bind(project_id)
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// A page of the dataset's runs (newest first) and the total.
pub async fn list_runs(
    pool: &PgPool,
    project_id: &str,
    dataset_id: &str,
    limit: u64,
    offset: u64,
) -> sqlx::Result<(Vec<RunRow>, u64)> {
    let rows = sqlx::query_as(&format!(
        "{RUN_SELECT} where r.project_id = $1 and r.dataset_id = $2 \
         order by r.created_at desc, r.id limit $3 offset $4"
    ))
    .bind(project_id)
    .bind(dataset_id)
    .bind(limit as i64)
    .bind(offset as i64)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(
        "select count(*) from dataset_runs where project_id = $1 and dataset_id = $2",
    )
    .bind(project_id)
    .bind(dataset_id)
    .fetch_one(pool)
    .await?;
    Ok((rows, total as u64))
}

/// The first run of the dataset among `names` (in that order) that exists.
pub async fn find_run_by_names(
    pool: &PgPool,
    project_id: &str,
    dataset_id: &str,
    names: &[String],
) -> sqlx::Result<Option<RunRow>> {
    sqlx::query_as(&format!(
        "{RUN_SELECT} where r.project_id = $1 and r.dataset_id = $2 and r.name = any($3) \
         order by array_position($3, r.name) limit 1"
    ))
    .bind(project_id)
    .bind(dataset_id)
    .bind(names)
    .fetch_optional(pool)
    .await
}

/// The run `name` of the dataset.
pub async fn find_run(
    pool: &PgPool,
    project_id: &str,
    dataset_id: &str,
    name: &str,
) -> sqlx::Result<Option<RunRow>> {
    sqlx::query_as(&format!(
        "{RUN_SELECT} where r.project_id = $1 and r.dataset_id = $2 and r.name = $3"
    ))
    .bind(project_id)
    .bind(dataset_id)
    .bind(name)
    .fetch_optional(pool)
    .await
}

/// Deletes a run and its items.
pub async fn delete_run(pool: &PgPool, project_id: &str, run_id: &str) -> sqlx::Result<()> {
    sqlx::query("delete from dataset_runs where project_id = $1 and id = $2")
        .bind(project_id)
        .bind(run_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// A page of run items of one run (newest first) and the total.
pub async fn list_run_items(
    pool: &PgPool,
    project_id: &str,
    run_id: &str,
    limit: u64,
    offset: u64,
) -> sqlx::Result<(Vec<RunItemRow>, u64)> {
    let rows = sqlx::query_as(&format!(
        "{RUN_ITEM_SELECT} where ri.project_id = $1 and ri.dataset_run_id = $2 \
         order by ri.created_at desc, ri.id limit $3 offset $4"
    ))
    .bind(project_id)
    .bind(run_id)
    .bind(limit as i64)
    .bind(offset as i64)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(
        "select count(*) from dataset_run_items where project_id = $1 and dataset_run_id = $2",
    )
    .bind(project_id)
    .bind(run_id)
    .fetch_one(pool)
    .await?;
    Ok((rows, total as u64))
}

/// The dataset with id `id`.
pub async fn find_dataset_by_id(
    pool: &PgPool,
    project_id: &str,
    id: &str,
) -> sqlx::Result<Option<DatasetRow>> {
    sqlx::query_as(&format!(
        "select {DATASET_COLUMNS} from datasets where project_id = $1 and id = $2"
    ))
    .bind(project_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}
