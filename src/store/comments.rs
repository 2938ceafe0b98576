//! Comments on traces, observations, sessions and prompts (`/api/public/comments`).
//!
//! Index relied on (0031): `(project_id, object_type, object_id, created_at desc)`.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool, Postgres, QueryBuilder};

use crate::domain::paging::Page;

/// One stored comment.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommentRow {
    /// Project.
    pub project_id: String,
    /// Id.
    pub id: String,
    /// TRACE, OBSERVATION, SESSION, PROMPT.
    pub object_type: String,
    /// Id of the commented object.
    pub object_id: String,
    /// Text.
    pub content: String,
    /// Author.
    pub author_user_id: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "project_id, id, object_type, object_id, content, author_user_id, created_at, updated_at";

/// Filters of `GET /api/public/comments`.
#[derive(Debug, Clone, Default)]
pub struct CommentFilter {
    /// Object type.
    pub object_type: Option<String>,
    /// Object id.
    pub object_id: Option<String>,
    /// Author.
    pub author_user_id: Option<String>,
}

fn push_filters<'a>(
    qb: &mut QueryBuilder<'a, Postgres>,
    project_id: &'a str,
    f: &'a CommentFilter,
) {
    qb.push(" where project_id = ").push_bind(project_id);
    if let Some(v) = &f.object_type {
        qb.push(" and object_type = ").push_bind(v);
    }
    if let Some(v) = &f.object_id {
        qb.push(" and object_id = ").push_bind(v);
    }
    if let Some(v) = &f.author_user_id {
        qb.push(" and author_user_id = ").push_bind(v);
    }
}

/// One page of comments, newest first, with the total count.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_comments(
    pool: &PgPool,
    project_id: &str,
    filter: &CommentFilter,
    page: Page,
) -> Result<(Vec<CommentRow>, u64), sqlx::Error> {
    let mut rows_q = QueryBuilder::new(format!("select {COLUMNS} from comments"));
    push_filters(&mut rows_q, project_id, filter);
    rows_q
        .push(" order by created_at desc, id desc limit ")
        .push_bind(page.limit as i64)
        .push(" offset ")
        .push_bind(page.offset());
    let mut count_q = QueryBuilder::new("select count(*) from comments");
    push_filters(&mut count_q, project_id, filter);
    let (rows, count) = tokio::try_join!(
        rows_q.build_query_as::<CommentRow>().fetch_all(pool),
        count_q.build_query_scalar::<i64>().fetch_one(pool),
    )?;
    Ok((rows, count.max(0) as u64))
}

/// One comment of the project.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn find_comment(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: &str,
) -> Result<Option<CommentRow>, sqlx::Error> {
    sqlx::query_as::<_, CommentRow>(&format!(
        "select {COLUMNS} from comments where project_id = $1 and id = $2"
    ))
    .bind(project_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Whether the commented object exists in the project. Prompts live in another slice's
/// tables and are not checked here (None).
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn object_exists(
    db: impl PgExecutor<'_>,
    project_id: &str,
    object_type: &str,
    object_id: &str,
) -> Result<Option<bool>, sqlx::Error> {
    let table = match object_type {
        "TRACE" => "traces",
        "OBSERVATION" => "observations",
        "SESSION" => "sessions",
        _ => return Ok(None),
    };
    let exists: bool = sqlx::query_scalar(&format!(
        "select exists (select 1 from {table} where project_id = $1 and id = $2)"
    ))
    .bind(project_id)
    .bind(object_id)
    .fetch_one(db)
    .await?;
    Ok(Some(exists))
}

/// Inserts a comment with a fresh id; returns the id.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn insert_comment(
    db: impl PgExecutor<'_>,
    project_id: &str,
    object_type: &str,
    object_id: &str,
    content: &str,
    author_user_id: Option<&str>,
) -> Result<String, sqlx::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "insert into comments (project_id, id, object_type, object_id, content, author_user_id) \
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(project_id)
    .bind(&id)
    .bind(object_type)
    .bind(object_id)
    .bind(content)
    .bind(author_user_id)
    .execute(db)
    .await?;
    Ok(id)
}
