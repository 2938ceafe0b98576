//! Media records and their links to traces, observations and dataset items; the key that
//! signs upload/download URLs. The bytes themselves live on disk (see `api::media`).

use chrono::{DateTime, Utc};
use rand::RngCore;
use sqlx::{PgExecutor, PgPool};

/// A media record.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MediaRow {
    /// Project.
    pub project_id: String,
    /// Media id (derived from the hash).
    pub id: String,
    /// Standard base64 of the SHA-256 of the bytes.
    pub sha256_hash: String,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub content_length: i64,
    /// Path of the bytes relative to the media root.
    pub bucket_path: String,
    /// When the client reported the upload.
    pub uploaded_at: Option<DateTime<Utc>>,
    /// HTTP status of the upload the client reported.
    pub upload_http_status: Option<i32>,
    /// Upload error the client reported.
    pub upload_http_error: Option<String>,
}

const COLUMNS: &str = "project_id, id, sha256_hash, content_type, content_length, bucket_path, \
    uploaded_at, upload_http_status, upload_http_error";

/// The URL-signing key, created on first use and shared by every instance on the database.
pub async fn signing_key(pool: &PgPool) -> sqlx::Result<Vec<u8>> {
    let mut fresh = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut fresh);
    sqlx::query("insert into media_signing_key (key) values ($1) on conflict do nothing")
        .bind(&fresh)
        .execute(pool)
        .await?;
    sqlx::query_scalar("select key from media_signing_key")
        .fetch_one(pool)
        .await
}

/// The record with this id.
pub async fn find_media(
    db: impl PgExecutor<'_>,
    project_id: &str,
    id: &str,
) -> sqlx::Result<Option<MediaRow>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from media where project_id = $1 and id = $2"
    ))
    .bind(project_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Where a media object is referenced.
#[derive(Debug, Clone, Default)]
pub struct MediaLink {
    /// Trace.
    pub trace_id: Option<String>,
    /// Observation.
    pub observation_id: Option<String>,
    /// Dataset.
    pub dataset_id: Option<String>,
    /// Dataset item.
    pub dataset_item_id: Option<String>,
    /// `input`, `output`, `metadata` or `expectedOutput`.
    pub field: String,
}

/// Outcome of registering media.
#[derive(Debug)]
pub struct Registered {
    /// The record (existing or new).
    pub media: MediaRow,
    /// True when the same bytes were uploaded successfully before (no upload needed).
    pub already_uploaded: bool,
}

/// Registers media with this hash (reusing an existing record of the project with the
/// same hash) and records the link.
pub async fn register_media(
    pool: &PgPool,
    project_id: &str,
    new: &MediaRow,
    link: &MediaLink,
) -> sqlx::Result<Registered> {
    let mut tx = pool.begin().await?;
    let existing: Option<MediaRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from media where project_id = $1 and sha256_hash = $2 for update"
    ))
    .bind(project_id)
    .bind(&new.sha256_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let (media, already_uploaded) = match existing {
        Some(m)
            if matches!(m.upload_http_status, Some(200) | Some(201))
                && m.content_type == new.content_type =>
        {
            (m, true)
        }
        Some(m) => {
            let m: MediaRow = sqlx::query_as(&format!(
                "update media set content_type = $3, content_length = $4, bucket_path = $5, \
                 updated_at = now() where project_id = $1 and id = $2 returning {COLUMNS}"
            ))
            .bind(project_id)
            .bind(&m.id)
            .bind(&new.content_type)
            .bind(new.content_length)
            .bind(&new.bucket_path)
            .fetch_one(&mut *tx)
            .await?;
            (m, false)
        }
        None => {
            let m: MediaRow = sqlx::query_as(&format!(
                "insert into media (project_id, id, sha256_hash, content_type, content_length, \
                 bucket_path) values ($1, $2, $3, $4, $5, $6) returning {COLUMNS}"
            ))
            .bind(project_id)
            .bind(&new.id)
            .bind(&new.sha256_hash)
            .bind(&new.content_type)
            .bind(new.content_length)
            .bind(&new.bucket_path)
            .fetch_one(&mut *tx)
            .await?;
            (m, false)
        }
    };
    sqlx::query(
        "insert into media_links (project_id, media_id, trace_id, observation_id, dataset_id, \
         dataset_item_id, field) select $1, $2, $3, $4, $5, $6, $7 where not exists ( \
           select 1 from media_links where project_id = $1 and media_id = $2 \
           and trace_id is not distinct from $3 and observation_id is not distinct from $4 \
           and dataset_item_id is not distinct from $6 and field = $7)",
    )
    .bind(project_id)
    .bind(&media.id)
    .bind(&link.trace_id)
    .bind(&link.observation_id)
    .bind(&link.dataset_id)
    .bind(&link.dataset_item_id)
    .bind(&link.field)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Registered {
        media,
        already_uploaded,
    })
}

/// Records the upload result the client reports; false when the media is unknown.
pub async fn record_upload(
    pool: &PgPool,
    project_id: &str,
    id: &str,
    uploaded_at: DateTime<Utc>,
    status: i32,
    error: Option<&str>,
    time_ms: Option<i64>,
) -> sqlx::Result<bool> {
    let n = sqlx::query(
        "update media set uploaded_at = $3, upload_http_status = $4, upload_http_error = $5, \
         upload_time_ms = $6, updated_at = now() where project_id = $1 and id = $2",
    )
    .bind(project_id)
    .bind(id)
    .bind(uploaded_at)
    .bind(status)
    .bind(error)
    .bind(time_ms)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n > 0)
}
