//! Organisations, projects and API keys.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

/// A project row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProjectRow {
    /// Project id.
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// Organisation name (joined).
    pub org_name: String,
    /// Display name.
    pub name: String,
    /// Free-form metadata object.
    pub metadata: serde_json::Value,
    /// Retention in days (None or 0: keep forever).
    pub retention_days: Option<i32>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
}

/// An API key as listed (never the secret).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    /// Key id.
    pub id: String,
    /// Project the key belongs to.
    pub project_id: String,
    /// Public key.
    pub public_key: String,
    /// `sk-lf-...abcd` style hint.
    pub display_secret_key: String,
    /// Optional note.
    pub note: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry (never set by xtrace's API; enforced by authentication when set in the table).
    pub expires_at: Option<DateTime<Utc>>,
    /// Last successful authentication (approximate).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What authentication needs of a key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyCredentials {
    /// Key id.
    pub id: String,
    /// Project the key belongs to.
    pub project_id: String,
    /// Salt of the secret hash.
    pub secret_salt: Vec<u8>,
    /// sha256(salt || secret), or an argon2 PHC string for operator-chosen secrets.
    pub secret_hash: Vec<u8>,
    /// Expiry: the key stops authenticating from this instant.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new key to store.
#[derive(Debug, Clone)]
pub struct NewApiKey<'a> {
    /// Key id.
    pub id: &'a str,
    /// Project id.
    pub project_id: &'a str,
    /// Public key.
    pub public_key: &'a str,
    /// Salt.
    pub secret_salt: &'a [u8],
    /// sha256(salt || secret).
    pub secret_hash: &'a [u8],
    /// Display hint.
    pub display_secret_key: &'a str,
    /// Note.
    pub note: Option<&'a str>,
}

const PROJECT_COLUMNS: &str = "p.id, p.org_id, o.name as org_name, p.name, p.metadata, \
     p.retention_days, p.created_at, p.updated_at";

/// Inserts the organisation unless it exists (existing rows are not modified, as Langfuse).
#[tracing::instrument(skip_all, fields(org_id = %id))]
pub async fn upsert_organization(
    db: impl PgExecutor<'_>,
    id: &str,
    name: &str,
) -> sqlx::Result<()> {
    sqlx::query("insert into organizations (id, name) values ($1, $2) on conflict (id) do nothing")
        .bind(id)
        .bind(name)
        .execute(db)
        .await?;
    Ok(())
}

/// Inserts the project unless it exists; an existing (even deleted) row is revived, not renamed.
#[tracing::instrument(skip_all, fields(project_id = %id))]
pub async fn ensure_project(
    db: impl PgExecutor<'_>,
    org_id: &str,
    id: &str,
    name: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into projects (id, org_id, name) values ($1, $2, $3) \
         on conflict (id) do update set deleted_at = null where projects.deleted_at is not null",
    )
    .bind(id)
    .bind(org_id)
    .bind(name)
    .execute(db)
    .await?;
    Ok(())
}

/// Creates a project; None when the id is taken.
#[tracing::instrument(skip_all, fields(project_id = %id))]
pub async fn insert_project(
    db: &PgPool,
    org_id: &str,
    id: &str,
    name: &str,
    metadata: &serde_json::Value,
    retention_days: Option<i32>,
) -> sqlx::Result<ProjectRow> {
    sqlx::query(
        "insert into projects (id, org_id, name, metadata, retention_days) values ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(org_id)
    .bind(name)
    .bind(metadata)
    .bind(retention_days)
    .execute(db)
    .await?;
    Ok(find_project(db, id)
        .await?
        .expect("the project was inserted by the statement above"))
}

/// A live project by id.
#[tracing::instrument(skip_all, fields(project_id = %id))]
pub async fn find_project(db: impl PgExecutor<'_>, id: &str) -> sqlx::Result<Option<ProjectRow>> {
    sqlx::query_as(&format!(
        "select {PROJECT_COLUMNS} from projects p join organizations o on o.id = p.org_id \
         where p.id = $1 and p.deleted_at is null"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A live project of the organisation by name.
pub async fn find_project_by_name(
    db: impl PgExecutor<'_>,
    org_id: &str,
    name: &str,
) -> sqlx::Result<Option<ProjectRow>> {
    sqlx::query_as(&format!(
        "select {PROJECT_COLUMNS} from projects p join organizations o on o.id = p.org_id \
         where p.org_id = $1 and p.name = $2 and p.deleted_at is null"
    ))
    .bind(org_id)
    .bind(name)
    .fetch_optional(db)
    .await
}

/// Live projects of an organisation, oldest first.
#[tracing::instrument(skip_all, fields(org_id = %org_id))]
pub async fn list_projects(db: impl PgExecutor<'_>, org_id: &str) -> sqlx::Result<Vec<ProjectRow>> {
    sqlx::query_as(&format!(
        "select {PROJECT_COLUMNS} from projects p join organizations o on o.id = p.org_id \
         where p.org_id = $1 and p.deleted_at is null order by p.created_at, p.id"
    ))
    .bind(org_id)
    .fetch_all(db)
    .await
}

/// Updates name, and metadata/retention when given; None when the project does not exist.
#[tracing::instrument(skip_all, fields(project_id = %id))]
pub async fn update_project(
    db: &PgPool,
    org_id: &str,
    id: &str,
    name: &str,
    metadata: Option<&serde_json::Value>,
    retention_days: Option<i32>,
) -> sqlx::Result<Option<ProjectRow>> {
    let n = sqlx::query(
        "update projects set name = $3, metadata = coalesce($4, metadata), \
         retention_days = coalesce($5, retention_days), updated_at = now() \
         where id = $1 and org_id = $2 and deleted_at is null",
    )
    .bind(id)
    .bind(org_id)
    .bind(name)
    .bind(metadata)
    .bind(retention_days)
    .execute(db)
    .await?
    .rows_affected();
    if n == 0 {
        return Ok(None);
    }
    find_project(db, id).await
}

/// Soft-deletes a project and removes its keys; false when it does not exist.
#[tracing::instrument(skip_all, fields(project_id = %id))]
pub async fn delete_project(db: &PgPool, org_id: &str, id: &str) -> sqlx::Result<bool> {
    let mut tx = db.begin().await?;
    let n = sqlx::query(
        "update projects set deleted_at = now(), updated_at = now() \
         where id = $1 and org_id = $2 and deleted_at is null",
    )
    .bind(id)
    .bind(org_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query("delete from api_keys where project_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(n > 0)
}

/// Stores a key. Returns false when the public key exists already.
#[tracing::instrument(skip_all, fields(project_id = %key.project_id))]
pub async fn insert_api_key(db: impl PgExecutor<'_>, key: &NewApiKey<'_>) -> sqlx::Result<bool> {
    let n = sqlx::query(
        "insert into api_keys (id, project_id, public_key, secret_salt, secret_hash, \
         display_secret_key, note) values ($1, $2, $3, $4, $5, $6, $7) \
         on conflict (public_key) do nothing",
    )
    .bind(key.id)
    .bind(key.project_id)
    .bind(key.public_key)
    .bind(key.secret_salt)
    .bind(key.secret_hash)
    .bind(key.display_secret_key)
    .bind(key.note)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The project a public key belongs to, if any.
pub async fn find_key_project(
    db: impl PgExecutor<'_>,
    public_key: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("select project_id from api_keys where public_key = $1")
        .bind(public_key)
        .fetch_optional(db)
        .await
}

/// Deletes the key with this public key (used when provisioning moves it to another project).
pub async fn delete_api_key_by_public_key(
    db: impl PgExecutor<'_>,
    public_key: &str,
) -> sqlx::Result<()> {
    sqlx::query("delete from api_keys where public_key = $1")
        .bind(public_key)
        .execute(db)
        .await?;
    Ok(())
}

/// Credentials of a public key whose project is live.
pub async fn find_key_credentials(
    db: impl PgExecutor<'_>,
    public_key: &str,
) -> sqlx::Result<Option<KeyCredentials>> {
    sqlx::query_as(
        "select k.id, k.project_id, k.secret_salt, k.secret_hash, k.expires_at from api_keys k \
         join projects p on p.id = k.project_id \
         where k.public_key = $1 and p.deleted_at is null",
    )
    .bind(public_key)
    .fetch_optional(db)
    .await
}

/// Records a successful use of a key (best effort, coarse).
pub async fn touch_api_key(db: impl PgExecutor<'_>, id: &str) -> sqlx::Result<()> {
    sqlx::query(
        "update api_keys set last_used_at = now() where id = $1 \
         and (last_used_at is null or last_used_at < now() - interval '1 minute')",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Keys of a project, oldest first.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn list_api_keys(
    db: impl PgExecutor<'_>,
    project_id: &str,
) -> sqlx::Result<Vec<ApiKeyRow>> {
    sqlx::query_as(
        "select id, project_id, public_key, display_secret_key, note, created_at, expires_at, \
         last_used_at from api_keys where project_id = $1 order by created_at, id",
    )
    .bind(project_id)
    .fetch_all(db)
    .await
}

/// Deletes a key of a project; returns its public key when it existed.
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn delete_api_key(
    db: impl PgExecutor<'_>,
    project_id: &str,
    key_id: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "delete from api_keys where project_id = $1 and id = $2 returning public_key",
    )
    .bind(project_id)
    .bind(key_id)
    .fetch_optional(db)
    .await
}
