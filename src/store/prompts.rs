//! Prompt versions: create (with label moves), fetch by version or label, list grouped by
//! name, label updates and deletes. Every label change runs in one transaction that holds
//! an advisory lock on (project, name), so a label never ends up on two versions.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor, PgPool};

/// The label the newest version always carries.
pub const LATEST_LABEL: &str = "latest";

/// One stored prompt version.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PromptRow {
    /// Project.
    pub project_id: String,
    /// Version id.
    pub id: String,
    /// Prompt name (may contain `/` for folders).
    pub name: String,
    /// Version number, from 1.
    pub version: i32,
    /// `text` or `chat`.
    #[sqlx(rename = "type")]
    pub r#type: String,
    /// The prompt: a string (text) or an array of messages (chat).
    pub prompt: Value,
    /// Free JSON config.
    pub config: Value,
    /// Tags (shared by all versions of the name).
    pub tags: Vec<String>,
    /// Labels of this version.
    pub labels: Vec<String>,
    /// Commit message.
    pub commit_message: Option<String>,
    /// `API` for versions created through the public API.
    pub created_by: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change (labels moved, tags rewritten).
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "project_id, id, name, version, type, prompt, config, tags, labels, \
    commit_message, created_by, created_at, updated_at";

/// A version to create.
#[derive(Debug, Clone)]
pub struct NewPrompt {
    /// Name.
    pub name: String,
    /// `text` or `chat`.
    pub r#type: String,
    /// The prompt value.
    pub prompt: Value,
    /// Config (`{}` when absent).
    pub config: Value,
    /// `None` inherits the previous version's tags; `Some` rewrites all versions' tags.
    pub tags: Option<Vec<String>>,
    /// Requested labels (without `latest`, which is added).
    pub labels: Vec<String>,
    /// Commit message.
    pub commit_message: Option<String>,
}

/// Why a create was refused.
#[derive(Debug)]
pub enum CreateError {
    /// Existing versions have another type (carries it).
    TypeMismatch(String),
    /// Database failure.
    Db(sqlx::Error),
}

impl From<sqlx::Error> for CreateError {
    fn from(e: sqlx::Error) -> Self {
        CreateError::Db(e)
    }
}

async fn lock_name(conn: &mut PgConnection, project_id: &str, name: &str) -> sqlx::Result<()> {
    sqlx::query("select pg_advisory_xact_lock(hashtext($1), hashtext($2))")
        .bind(project_id)
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes `labels` from every version of `name` except `keep_version`.
async fn remove_labels_elsewhere(
    conn: &mut PgConnection,
    project_id: &str,
    name: &str,
    keep_version: i32,
    labels: &[String],
) -> sqlx::Result<()> {
    if labels.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "update prompts set labels = array(select l from unnest(labels) l where l <> all($4)), \
         updated_at = now() \
         where project_id = $1 and name = $2 and version <> $3 and labels && $4",
    )
    .bind(project_id)
    .bind(name)
    .bind(keep_version)
    .bind(labels)
    .execute(conn)
    .await?;
    Ok(())
}

/// Creates the next version of `p.name`: version = max + 1, label `latest` moved to it,
/// requested labels moved to it, tags inherited or rewritten on all versions.
pub async fn create_prompt(
    pool: &PgPool,
    project_id: &str,
    p: NewPrompt,
) -> Result<PromptRow, CreateError> {
    let mut tx = pool.begin().await?;
    lock_name(&mut tx, project_id, &p.name).await?;
    let previous: Option<(i32, String, Vec<String>)> = sqlx::query_as(
        "select version, type, tags from prompts where project_id = $1 and name = $2 \
         order by version desc limit 1",
    )
    .bind(project_id)
    .bind(&p.name)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((_, ty, _)) = &previous {
        if *ty != p.r#type {
            return Err(CreateError::TypeMismatch(ty.clone()));
        }
    }
    let version = previous.as_ref().map_or(1, |(v, _, _)| v + 1);
    let tags = match (&p.tags, &previous) {
        (Some(t), _) => dedup(t.clone()),
        (None, Some((_, _, t))) => t.clone(),
        (None, None) => Vec::new(),
    };
    let mut labels = dedup(p.labels.clone());
    labels.retain(|l| l != LATEST_LABEL);
    labels.push(LATEST_LABEL.to_string());
    remove_labels_elsewhere(&mut tx, project_id, &p.name, version, &labels).await?;
    if p.tags.is_some() {
        sqlx::query(
            "update prompts set tags = $3, updated_at = now() \
             where project_id = $1 and name = $2 and tags <> $3",
        )
        .bind(project_id)
        .bind(&p.name)
        .bind(&tags)
        .execute(&mut *tx)
        .await?;
    }
    let row: PromptRow = sqlx::query_as(&format!(
        "insert into prompts (project_id, id, name, version, type, prompt, config, tags, labels, \
         commit_message) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning {COLUMNS}"
    ))
    .bind(project_id)
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&p.name)
    .bind(version)
    .bind(&p.r#type)
    .bind(&p.prompt)
    .bind(&p.config)
    .bind(&tags)
    .bind(&labels)
    .bind(&p.commit_message)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row)
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(v.len());
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Which version to fetch.
#[derive(Debug, Clone)]
pub enum Selector {
    /// A version number.
    Version(i32),
    /// The version carrying this label.
    Label(String),
}

/// The version of `name` selected by `sel`.
pub async fn find_prompt(
    db: impl PgExecutor<'_>,
    project_id: &str,
    name: &str,
    sel: &Selector,
) -> sqlx::Result<Option<PromptRow>> {
    match sel {
        Selector::Version(v) => {
            let sql = format!(
                "select {COLUMNS} from prompts where project_id = $1 and name = $2 \
                 and version = $3"
            );
            sqlx::query_as(&sql)
                .bind(project_id)
                .bind(name)
                .bind(*v)
                .fetch_optional(db)
                .await
        }
        Selector::Label(l) => {
            let sql = format!(
                "select {COLUMNS} from prompts where project_id = $1 and name = $2 \
                 and $3 = any(labels) order by version desc limit 1"
            );
            sqlx::query_as(&sql)
                .bind(project_id)
                .bind(name)
                .bind(l)
                .fetch_optional(db)
                .await
        }
    }
}

/// Filters of the prompt list (applied to versions before grouping by name).
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Exact name.
    pub name: Option<String>,
    /// Exact version.
    pub version: Option<i32>,
    /// Versions carrying this label.
    pub label: Option<String>,
    /// Versions carrying this tag.
    pub tag: Option<String>,
    /// `updated_at >= from`.
    pub from_updated_at: Option<DateTime<Utc>>,
    /// `updated_at < to`.
    pub to_updated_at: Option<DateTime<Utc>>,
}

/// One name of the list with its matching versions.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PromptGroup {
    /// Name.
    pub name: String,
    /// Type of the newest matching version.
    #[sqlx(rename = "type")]
    pub r#type: String,
    /// Matching versions, ascending.
    pub versions: Vec<i32>,
    /// Union of the matching versions' labels.
    pub labels: Vec<String>,
    /// Tags of the newest matching version.
    pub tags: Vec<String>,
    /// Latest `updated_at` among matching versions.
    pub last_updated_at: DateTime<Utc>,
    /// Config of the newest matching version.
    pub last_config: Value,
}

/// A page of names (sorted by name) and the total number of names.
pub async fn list_prompts(
    pool: &PgPool,
    project_id: &str,
    f: &ListFilter,
    page: u64,
    limit: u64,
) -> sqlx::Result<(Vec<PromptGroup>, u64)> {
    let filtered = "with v as (select * from prompts where project_id = $1 \
        and ($2::text is null or name = $2) and ($3::int is null or version = $3) \
        and ($4::text is null or $4 = any(labels)) and ($5::text is null or $5 = any(tags)) \
        and ($6::timestamptz is null or updated_at >= $6) \
        and ($7::timestamptz is null or updated_at < $7))";
    let groups: Vec<PromptGroup> = sqlx::query_as(&format!(
        "{filtered}, \
         newest as (select distinct on (name) name, type, tags, config from v \
                    order by name, version desc), \
         agg as (select name, array_agg(version order by version) as versions, \
                 max(updated_at) as last_updated_at from v group by name), \
         lab as (select v.name, array_agg(distinct x order by x) as labels \
                 from v, unnest(v.labels) x group by v.name) \
         select agg.name, newest.type, agg.versions, coalesce(lab.labels, '{{}}') as labels, \
           newest.tags, agg.last_updated_at, newest.config as last_config \
         from agg join newest on newest.name = agg.name left join lab on lab.name = agg.name \
         order by agg.name limit $8 offset $9"
    ))
    .bind(project_id)
    .bind(&f.name)
    .bind(f.version)
    .bind(&f.label)
    .bind(&f.tag)
    .bind(f.from_updated_at)
    .bind(f.to_updated_at)
    .bind(limit as i64)
    .bind(((page - 1) * limit) as i64)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(&format!("{filtered} select count(distinct name) from v"))
        .bind(project_id)
        .bind(&f.name)
        .bind(f.version)
        .bind(&f.label)
        .bind(&f.tag)
        .bind(f.from_updated_at)
        .bind(f.to_updated_at)
        .fetch_one(pool)
        .await?;
    Ok((groups, total as u64))
}

/// Adds `new_labels` to version `version` of `name` and removes them from the other
/// versions. `None` when the version does not exist.
pub async fn update_labels(
    pool: &PgPool,
    project_id: &str,
    name: &str,
    version: i32,
    new_labels: &[String],
) -> sqlx::Result<Option<PromptRow>> {
    let mut tx = pool.begin().await?;
    lock_name(&mut tx, project_id, name).await?;
    let Some(current) =
        find_prompt(&mut *tx, project_id, name, &Selector::Version(version)).await?
    else {
        return Ok(None);
    };
    let new_labels = dedup(new_labels.to_vec());
    let mut labels = new_labels.clone();
    labels.extend(current.labels.iter().cloned());
    let labels = dedup(labels);
    remove_labels_elsewhere(&mut tx, project_id, name, version, &new_labels).await?;
    let row: PromptRow = sqlx::query_as(&format!(
        "update prompts set labels = $4, updated_at = now() \
         where project_id = $1 and name = $2 and version = $3 returning {COLUMNS}"
    ))
    .bind(project_id)
    .bind(name)
    .bind(version)
    .bind(&labels)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(row))
}

/// Deletes versions of `name`: all, one version, or those carrying a label. When the
/// version holding `latest` goes, the newest remaining version receives it. Returns the
/// number of deleted versions.
pub async fn delete_prompts(
    pool: &PgPool,
    project_id: &str,
    name: &str,
    sel: Option<&Selector>,
) -> sqlx::Result<u64> {
    let mut tx = pool.begin().await?;
    lock_name(&mut tx, project_id, name).await?;
    let deleted = match sel {
        None => sqlx::query("delete from prompts where project_id = $1 and name = $2")
            .bind(project_id)
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
        Some(Selector::Version(v)) => {
            sqlx::query("delete from prompts where project_id = $1 and name = $2 and version = $3")
                .bind(project_id)
                .bind(name)
                .bind(*v)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        }
        Some(Selector::Label(l)) => sqlx::query(
            "delete from prompts where project_id = $1 and name = $2 and $3 = any(labels)",
        )
        .bind(project_id)
        .bind(name)
        .bind(l)
        .execute(&mut *tx)
        .await?
        .rows_affected(),
    };
    sqlx::query(
        "update prompts set labels = array_append(labels, 'latest'), updated_at = now() \
         where project_id = $1 and name = $2 \
           and version = (select max(version) from prompts where project_id = $1 and name = $2) \
           and not exists (select 1 from prompts where project_id = $1 and name = $2 \
                           and 'latest' = any(labels))",
    )
    .bind(project_id)
    .bind(name)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(deleted)
}

/// Prompt ids of `(project, name, version)` triples that exist.
pub async fn find_prompt_ids(
    conn: &mut PgConnection,
    links: &[(&str, &str, i32)],
) -> sqlx::Result<HashMap<(String, String, i32), String>> {
    if links.is_empty() {
        return Ok(HashMap::new());
    }
    let projects: Vec<&str> = links.iter().map(|l| l.0).collect();
    let names: Vec<&str> = links.iter().map(|l| l.1).collect();
    let versions: Vec<i32> = links.iter().map(|l| l.2).collect();
    let rows: Vec<(String, String, i32, String)> = sqlx::query_as(
        "select p.project_id, p.name, p.version, p.id from prompts p \
         join unnest($1::text[], $2::text[], $3::int[]) as l(project_id, name, version) \
           on p.project_id = l.project_id and p.name = l.name and p.version = l.version",
    )
    .bind(&projects)
    .bind(&names)
    .bind(&versions)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(p, n, v, id)| ((p, n, v), id))
        .collect())
}
