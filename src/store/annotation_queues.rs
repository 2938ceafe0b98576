//! Annotation queues, their items and user assignments (`/api/public/annotation-queues`).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::paging::Page;

const QUEUE_COLUMNS: &str = "id, name, description, score_config_ids, created_at, updated_at";
const ITEM_COLUMNS: &str =
    "id, queue_id, object_id, object_type, status, completed_at, created_at, updated_at";

/// One stored queue.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueueRow {
    /// Id.
    pub id: String,
    /// Name (unique in the project).
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Score configs annotators fill in.
    pub score_config_ids: Vec<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

/// One stored queue item.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemRow {
    /// Id.
    pub id: String,
    /// Queue.
    pub queue_id: String,
    /// Trace, observation or session id.
    pub object_id: String,
    /// TRACE, OBSERVATION, SESSION.
    pub object_type: String,
    /// PENDING, COMPLETED.
    pub status: String,
    /// When the item was (last) completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

/// Outcome of [`insert_queue`].
#[derive(Debug)]
pub enum InsertQueue {
    /// Created.
    Ok(QueueRow),
    /// A queue of that name exists in the project.
    NameTaken,
    /// Some score config ids are not configs of the project.
    UnknownScoreConfig,
}

/// One page of queues, newest first, with the total.
pub async fn list_queues(
    pool: &PgPool,
    project_id: &str,
    page: Page,
) -> sqlx::Result<(Vec<QueueRow>, u64)> {
    let sql = format!(
        "select {QUEUE_COLUMNS} from annotation_queues where project_id = $1 \
         order by created_at desc, id desc limit $2 offset $3"
    );
    let rows = sqlx::query_as::<_, QueueRow>(&sql)
        .bind(project_id)
        .bind(page.limit as i64)
        .bind(page.offset());
    let count = sqlx::query_scalar::<_, i64>(
        "select count(*) from annotation_queues where project_id = $1",
    )
    .bind(project_id);
    let (rows, count) = tokio::try_join!(rows.fetch_all(pool), count.fetch_one(pool))?;
    Ok((rows, count.max(0) as u64))
}

/// One queue.
pub async fn find_queue(
    pool: &PgPool,
    project_id: &str,
    id: &str,
) -> sqlx::Result<Option<QueueRow>> {
    sqlx::query_as(&format!(
        "select {QUEUE_COLUMNS} from annotation_queues where project_id = $1 and id = $2"
    ))
    .bind(project_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Creates a queue after checking its name is free and its score configs exist (one
/// transaction; the unique index settles concurrent creates of one name).
pub async fn insert_queue(
    pool: &PgPool,
    project_id: &str,
    name: &str,
    description: Option<&str>,
    score_config_ids: &[String],
) -> sqlx::Result<InsertQueue> {
    let mut tx = pool.begin().await?;
    let known: i64 = sqlx::query_scalar(
        "select count(distinct id) from score_configs where project_id = $1 and id = any($2)",
    )
    .bind(project_id)
    .bind(score_config_ids)
    .fetch_one(&mut *tx)
    .await?;
    let mut wanted = score_config_ids.to_vec();
    wanted.sort();
    wanted.dedup();
    if known as usize != wanted.len() {
        return Ok(InsertQueue::UnknownScoreConfig);
    }
    let row = sqlx::query_as::<_, QueueRow>(&format!(
        "insert into annotation_queues (project_id, id, name, description, score_config_ids) \
         values ($1, $2, $3, $4, $5) on conflict (project_id, name) do nothing \
         returning {QUEUE_COLUMNS}"
    ))
    .bind(project_id)
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(name)
    .bind(description)
    .bind(score_config_ids)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(match row {
        Some(r) => InsertQueue::Ok(r),
        None => InsertQueue::NameTaken,
    })
}

/// One page of a queue's items (optionally of one status), newest first, with the total.
pub async fn list_items(
    pool: &PgPool,
    project_id: &str,
    queue_id: &str,
    status: Option<&str>,
    page: Page,
) -> sqlx::Result<(Vec<ItemRow>, u64)> {
    let filter = "project_id = $1 and queue_id = $2 and ($3::text is null or status = $3)";
    let sql = format!(
        "select {ITEM_COLUMNS} from annotation_queue_items where {filter} \
         order by created_at desc, id desc limit $4 offset $5"
    );
    let rows = sqlx::query_as::<_, ItemRow>(&sql)
        .bind(project_id)
        .bind(queue_id)
        .bind(status)
        .bind(page.limit as i64)
        .bind(page.offset());
    let count_sql = format!("select count(*) from annotation_queue_items where {filter}");
    let count = sqlx::query_scalar::<_, i64>(&count_sql)
        .bind(project_id)
        .bind(queue_id)
        .bind(status);
    let (rows, count) = tokio::try_join!(rows.fetch_all(pool), count.fetch_one(pool))?;
    Ok((rows, count.max(0) as u64))
}

/// Adds an item to a queue; `completed_at` is set when it starts COMPLETED.
pub async fn insert_item(
    pool: &PgPool,
    project_id: &str,
    queue_id: &str,
    object_id: &str,
    object_type: &str,
    status: &str,
) -> sqlx::Result<ItemRow> {
    sqlx::query_as(&format!(
        "insert into annotation_queue_items \
         (project_id, id, queue_id, object_id, object_type, status, completed_at) \
         values ($1, $2, $3, $4, $5, $6, case when $6 = 'COMPLETED' then now() end) \
         returning {ITEM_COLUMNS}"
    ))
    .bind(project_id)
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(queue_id)
    .bind(object_id)
    .bind(object_type)
    .bind(status)
    .fetch_one(pool)
    .await
}

/// One item of a queue.
pub async fn find_item(
    pool: &PgPool,
    project_id: &str,
    queue_id: &str,
    id: &str,
) -> sqlx::Result<Option<ItemRow>> {
    sqlx::query_as(&format!(
        "select {ITEM_COLUMNS} from annotation_queue_items \
         where project_id = $1 and queue_id = $2 and id = $3"
    ))
    .bind(project_id)
    .bind(queue_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Sets an item's status (when given); completing stamps `completed_at` with now, as
/// Langfuse does on every PATCH to COMPLETED.
pub async fn update_item(
    pool: &PgPool,
    project_id: &str,
    queue_id: &str,
    id: &str,
    status: Option<&str>,
) -> sqlx::Result<Option<ItemRow>> {
    sqlx::query_as(&format!(
        "update annotation_queue_items set status = coalesce($4, status), \
         completed_at = case when $4 = 'COMPLETED' then now() else completed_at end, \
         updated_at = now() \
         where project_id = $1 and queue_id = $2 and id = $3 returning {ITEM_COLUMNS}"
    ))
    .bind(project_id)
    .bind(queue_id)
    .bind(id)
    .bind(status)
    .fetch_optional(pool)
    .await
}

/// Removes an item; false when it was not in the queue.
pub async fn delete_item(
    pool: &PgPool,
    project_id: &str,
    queue_id: &str,
    id: &str,
) -> sqlx::Result<bool> {
    let r = sqlx::query(
        "delete from annotation_queue_items where project_id = $1 and queue_id = $2 and id = $3",
    )
    .bind(project_id)
    .bind(queue_id)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Assigns a user to a queue (idempotent).
pub async fn assign(
    pool: &PgPool,
    project_id: &str,
    queue_id: &str,
    user_id: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into annotation_queue_assignments (project_id, queue_id, user_id) \
         values ($1, $2, $3) on conflict do nothing",
    )
    .bind(project_id)
    .bind(queue_id)
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Removes an assignment (absent is fine).
pub async fn unassign(
    pool: &PgPool,
    project_id: &str,
    queue_id: &str,
    user_id: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "delete from annotation_queue_assignments \
         where project_id = $1 and queue_id = $2 and user_id = $3",
    )
    .bind(project_id)
    .bind(queue_id)
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(())
}
