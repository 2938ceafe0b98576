//! Sessions, read side: the paged list and single reads. Session rows are created by the
//! ingest worker when a trace names a session.
//!
//! Index relied on (0002): `(project_id, created_at desc)`.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::domain::paging::Page;

/// One stored session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    /// Project.
    pub project_id: String,
    /// Id.
    pub id: String,
    /// Environment.
    pub environment: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Filters of `GET /api/public/sessions`.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// `created_at >=`.
    pub from_timestamp: Option<DateTime<Utc>>,
    /// `created_at <`.
    pub to_timestamp: Option<DateTime<Utc>>,
    /// Any of these environments.
    pub environments: Vec<String>,
}

fn push_filters<'a>(
    qb: &mut QueryBuilder<'a, Postgres>,
    project_id: &'a str,
    f: &'a SessionFilter,
) {
    qb.push(" where project_id = ").push_bind(project_id);
    if let Some(v) = &f.from_timestamp {
        qb.push(" and created_at >= ").push_bind(v);
    }
    if let Some(v) = &f.to_timestamp {
        qb.push(" and created_at < ").push_bind(v);
    }
    if !f.environments.is_empty() {
        qb.push(" and environment = any(")
            .push_bind(&f.environments)
            .push(")");
    }
}

/// One page of sessions, newest first, with the total count.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_sessions(
    pool: &PgPool,
    project_id: &str,
    filter: &SessionFilter,
    page: Page,
) -> Result<(Vec<SessionRow>, u64), sqlx::Error> {
    let mut rows_q =
        QueryBuilder::new("select project_id, id, environment, created_at from sessions");
    push_filters(&mut rows_q, project_id, filter);
    rows_q
        .push(" order by created_at desc, id desc limit ")
        .push_bind(page.limit as i64)
        .push(" offset ")
        .push_bind(page.offset());
    let mut count_q = QueryBuilder::new("select count(*) from sessions");
    push_filters(&mut count_q, project_id, filter);
    let (rows, count) = tokio::try_join!(
        rows_q.build_query_as::<SessionRow>().fetch_all(pool),
        count_q.build_query_scalar::<i64>().fetch_one(pool),
    )?;
    Ok((rows, count.max(0) as u64))
}

/// One session of the project.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn find_session(
    pool: &PgPool,
    project_id: &str,
    id: &str,
) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as::<_, SessionRow>(
        "select project_id, id, environment, created_at from sessions \
         where project_id = $1 and id = $2",
    )
    .bind(project_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}
