//! Langfuse media (`/api/public/media`): the SDKs register a file by its SHA-256, PUT the
//! bytes to the returned upload URL, then PATCH the upload result. xtrace has no object
//! store: the upload URL points at xtrace itself, signed with an HMAC over the object and
//! an expiry (no Authorization header, as the SDKs send none), and the bytes are stored
//! under the media directory. Download URLs are signed the same way.

use std::path::{Path, PathBuf};

use actix_web::http::header;
use actix_web::{get, patch, post, put, web, HttpRequest, HttpResponse};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;

use crate::api::params::path_segment;
use crate::api::{ErrorBody, MessageResponse};
use crate::auth::ProjectAuth;
use crate::domain::time;
use crate::error::{ApiError, ValidationIssue};
use crate::startup::AppState;
use crate::store::media::{self as store, MediaLink, MediaRow};

/// How long signed upload and download URLs stay valid.
const URL_TTL_SECS: i64 = 3600;
/// Largest media object accepted (Langfuse's default `LANGFUSE_S3_MEDIA_MAX_CONTENT_LENGTH`).
const MAX_CONTENT_LENGTH: i64 = 1_000_000_000;

/// MIME types Langfuse accepts (`MediaContentType`).
const CONTENT_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/jpg",
    "image/webp",
    "image/gif",
    "image/svg+xml",
    "image/tiff",
    "image/bmp",
    "image/avif",
    "image/heic",
    "audio/mpeg",
    "audio/mp3",
    "audio/wav",
    "audio/ogg",
    "audio/oga",
    "audio/aac",
    "audio/mp4",
    "audio/flac",
    "audio/opus",
    "audio/webm",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "video/mpeg",
    "video/quicktime",
    "video/x-msvideo",
    "video/x-matroska",
    "text/plain",
    "text/html",
    "text/css",
    "text/csv",
    "text/markdown",
    "text/x-python",
    "application/javascript",
    "text/x-typescript",
    "application/x-yaml",
    "application/pdf",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/zip",
    "application/json",
    "application/xml",
    "application/octet-stream",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/rtf",
    "application/x-ndjson",
    "application/vnd.apache.parquet",
    "application/gzip",
    "application/x-tar",
    "application/x-7z-compressed",
];

/// The media id the SDKs derive: URL-safe base64 of the SHA-256 digest, first 22 chars.
pub fn media_id_for_hash(sha256_base64: &str) -> String {
    sha256_base64
        .replace('+', "-")
        .replace('/', "_")
        .chars()
        .take(22)
        .collect()
}

/// Langfuse `GetMediaUploadUrlRequest`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetMediaUploadUrlRequest {
    /// Trace the media belongs to (trace context).
    pub trace_id: Option<String>,
    /// Observation (trace context).
    pub observation_id: Option<String>,
    /// Dataset (dataset context).
    pub dataset_id: Option<String>,
    /// Dataset item (dataset context).
    pub dataset_item_id: Option<String>,
    /// MIME type (one of Langfuse's `MediaContentType`).
    pub content_type: String,
    /// Size in bytes.
    pub content_length: i64,
    /// Standard base64 of the SHA-256 of the bytes (44 characters).
    pub sha256_hash: String,
    /// `input`, `output`, `metadata` (trace) or `input`, `expectedOutput`, `metadata` (dataset).
    pub field: String,
}

/// Langfuse `GetMediaUploadUrlResponse`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetMediaUploadUrlResponse {
    /// Signed PUT URL; null when the same bytes are already uploaded.
    pub upload_url: Option<String>,
    /// Media id.
    pub media_id: String,
}

/// Langfuse `PatchMediaBody`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatchMediaBody {
    /// When the upload finished.
    pub uploaded_at: DateTime<Utc>,
    /// HTTP status of the upload.
    pub upload_http_status: i64,
    /// Error text of a failed upload.
    pub upload_http_error: Option<String>,
    /// Upload duration.
    pub upload_time_ms: Option<i64>,
}

/// Langfuse `GetMediaResponse`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetMediaResponse {
    /// Media id.
    pub media_id: String,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub content_length: i64,
    /// When the upload finished.
    #[serde(serialize_with = "time::serialize_opt")]
    pub uploaded_at: Option<DateTime<Utc>>,
    /// Signed download URL.
    pub url: String,
    /// When `url` expires.
    #[serde(serialize_with = "time::serialize")]
    pub url_expiry: DateTime<Utc>,
}

/// Signature query of the upload and download URLs.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct SignedQuery {
    /// Project of the object.
    pub project_id: Option<String>,
    /// Expiry (Unix seconds).
    pub expires: Option<i64>,
    /// Hex HMAC-SHA256 over the request.
    pub signature: Option<String>,
}

fn hmac_hex(key: &[u8], message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn upload_message(m: &MediaRow, expires: i64) -> String {
    format!(
        "PUT\n{}\n{}\n{}\n{}\n{}\n{expires}",
        m.project_id, m.id, m.content_type, m.content_length, m.sha256_hash
    )
}

fn download_message(m: &MediaRow, expires: i64) -> String {
    format!(
        "GET\n{}\n{}\n{}\n{expires}",
        m.project_id, m.id, m.sha256_hash
    )
}

fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The base URL clients reach us at: `XTRACE_PUBLIC_URL`, else the request's scheme and host.
fn base_url(state: &AppState, req: &HttpRequest) -> String {
    if let Some(u) = &state.config.public_url {
        return u.clone();
    }
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

fn signed_url(base: &str, m: &MediaRow, action: &str, expires: i64, signature: &str) -> String {
    format!(
        "{base}/api/public/media/{}/{action}?projectId={}&expires={expires}&signature={signature}",
        encode_component(&m.id),
        encode_component(&m.project_id),
    )
}

/// Path of the object relative to the media root: `<hex project>/<media id>.<ext>`.
fn bucket_path(project_id: &str, media_id: &str, content_type: &str) -> String {
    let ext: String = content_type
        .rsplit('/')
        .next()
        .unwrap_or("bin")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("{}/{media_id}.{ext}", hex::encode(project_id))
}

fn object_path(root: &Path, bucket_path: &str) -> PathBuf {
    root.join(bucket_path)
}

fn validate_create(b: &GetMediaUploadUrlRequest) -> Result<MediaLink, ApiError> {
    let mut issues = Vec::new();
    if !CONTENT_TYPES.contains(&b.content_type.as_str()) {
        issues.push(ValidationIssue::new(
            "invalid_enum_value",
            "contentType",
            format!("Invalid enum value. Received '{}'", b.content_type),
        ));
    }
    if b.content_length <= 0 || b.content_length > MAX_CONTENT_LENGTH {
        issues.push(ValidationIssue::new(
            "too_big",
            "contentLength",
            format!("contentLength must be between 1 and {MAX_CONTENT_LENGTH}"),
        ));
    }
    let hash_ok = b.sha256_hash.len() == 44
        && base64::engine::general_purpose::STANDARD
            .decode(&b.sha256_hash)
            .is_ok_and(|d| d.len() == 32);
    if !hash_ok {
        issues.push(ValidationIssue::new(
            "invalid_string",
            "sha256Hash",
            "sha256Hash must be the base64 SHA-256 digest (44 characters)",
        ));
    }
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let trace = nonempty(&b.trace_id);
    let dataset = (nonempty(&b.dataset_id), nonempty(&b.dataset_item_id));
    let link = match (trace, dataset) {
        (Some(t), (None, None)) => {
            if !["input", "output", "metadata"].contains(&b.field.as_str()) {
                issues.push(ValidationIssue::new(
                    "custom",
                    "field",
                    "field must be input, output or metadata for trace media",
                ));
            }
            MediaLink {
                trace_id: Some(t),
                observation_id: nonempty(&b.observation_id),
                field: b.field.clone(),
                ..Default::default()
            }
        }
        (None, (Some(d), Some(i))) => {
            if !["input", "expectedOutput", "metadata"].contains(&b.field.as_str()) {
                issues.push(ValidationIssue::new(
                    "custom",
                    "field",
                    "field must be input, expectedOutput or metadata for dataset item media",
                ));
            }
            MediaLink {
                dataset_id: Some(d),
                dataset_item_id: Some(i),
                field: b.field.clone(),
                ..Default::default()
            }
        }
        _ => {
            issues.push(ValidationIssue::new(
                "custom",
                "traceId",
                "Provide either traceId (with optional observationId) or datasetId and datasetItemId",
            ));
            MediaLink::default()
        }
    };
    if issues.is_empty() {
        Ok(link)
    } else {
        Err(ApiError::InvalidRequestData(issues))
    }
}

/// Register media by its hash and get a signed upload URL (null when already uploaded).
#[utoipa::path(tag = "Media", security(("BasicAuth" = []), ("BearerAuth" = [])), request_body = GetMediaUploadUrlRequest,
    responses((status = 201, body = GetMediaUploadUrlResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[post("/api/public/media")]
pub async fn create_media(
    auth: ProjectAuth,
    req: HttpRequest,
    body: crate::api::params::CleanJson<GetMediaUploadUrlRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let link = validate_create(&body)?;
    let id = media_id_for_hash(&body.sha256_hash);
    let new = MediaRow {
        project_id: auth.project_id.clone(),
        bucket_path: bucket_path(&auth.project_id, &id, &body.content_type),
        id,
        sha256_hash: body.sha256_hash.clone(),
        content_type: body.content_type.clone(),
        content_length: body.content_length,
        uploaded_at: None,
        upload_http_status: None,
        upload_http_error: None,
    };
    let reg = store::register_media(&state.pool, &auth.project_id, &new, &link).await?;
    let upload_url = if reg.already_uploaded {
        None
    } else {
        let key = store::signing_key(&state.pool).await?;
        let expires = Utc::now().timestamp() + URL_TTL_SECS;
        let sig = hmac_hex(&key, &upload_message(&reg.media, expires));
        Some(signed_url(
            &base_url(&state, &req),
            &reg.media,
            "upload",
            expires,
            &sig,
        ))
    };
    Ok(HttpResponse::Created().json(GetMediaUploadUrlResponse {
        upload_url,
        media_id: reg.media.id,
    }))
}

/// Record the result of an upload.
#[utoipa::path(tag = "Media", security(("BasicAuth" = []), ("BearerAuth" = [])), params(("mediaId" = String, Path)), request_body = PatchMediaBody,
    responses((status = 200, body = MessageResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[patch("/api/public/media/{mediaId}")]
pub async fn patch_media(
    auth: ProjectAuth,
    req: HttpRequest,
    body: crate::api::params::CleanJson<PatchMediaBody>,
    state: web::Data<AppState>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let id = path_segment(&req, "mediaId")?;
    if body.upload_http_status <= 0 || body.upload_http_status > i32::MAX as i64 {
        return Err(ApiError::invalid_field(
            "uploadHttpStatus",
            "Number must be greater than 0",
        ));
    }
    let found = store::record_upload(
        &state.pool,
        &auth.project_id,
        &id,
        body.uploaded_at,
        body.upload_http_status as i32,
        body.upload_http_error.as_deref(),
        body.upload_time_ms,
    )
    .await?;
    if !found {
        return Err(ApiError::NotFound("Media asset not found".into()));
    }
    Ok(web::Json(MessageResponse {
        message: "OK".into(),
    }))
}

/// Media metadata and a signed download URL (404 until a successful upload is recorded).
#[utoipa::path(tag = "Media", security(("BasicAuth" = []), ("BearerAuth" = [])), params(("mediaId" = String, Path)),
    responses((status = 200, body = GetMediaResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/public/media/{mediaId}")]
pub async fn get_media(
    auth: ProjectAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<GetMediaResponse>, ApiError> {
    let id = path_segment(&req, "mediaId")?;
    let m = store::find_media(&state.pool, &auth.project_id, &id)
        .await?
        .filter(|m| matches!(m.upload_http_status, Some(200) | Some(201)))
        .ok_or_else(|| ApiError::NotFound("Media asset not found".into()))?;
    let key = store::signing_key(&state.pool).await?;
    let expiry = Utc::now() + Duration::seconds(URL_TTL_SECS);
    let sig = hmac_hex(&key, &download_message(&m, expiry.timestamp()));
    let url = signed_url(
        &base_url(&state, &req),
        &m,
        "download",
        expiry.timestamp(),
        &sig,
    );
    Ok(web::Json(GetMediaResponse {
        media_id: m.id,
        content_type: m.content_type,
        content_length: m.content_length,
        uploaded_at: m.uploaded_at,
        url,
        url_expiry: expiry,
    }))
}

/// The media record a signed URL names, after checking signature and expiry.
async fn verify_signed(
    state: &AppState,
    req: &HttpRequest,
    q: &SignedQuery,
    message: fn(&MediaRow, i64) -> String,
) -> Result<MediaRow, ApiError> {
    let denied = |m: &str| ApiError::Forbidden {
        message: m.to_string(),
        with_error_key: true,
    };
    let (Some(project_id), Some(expires), Some(signature)) =
        (&q.project_id, q.expires, &q.signature)
    else {
        return Err(denied("Missing signature"));
    };
    if expires < Utc::now().timestamp() {
        return Err(denied("Request has expired"));
    }
    let id = path_segment(req, "mediaId")?;
    let m = store::find_media(&state.pool, project_id, &id)
        .await?
        .ok_or_else(|| denied("The request signature does not match"))?;
    let key = store::signing_key(&state.pool).await?;
    let expected = hmac_hex(&key, &message(&m, expires));
    let ok: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), signature.as_bytes()).into();
    if !ok {
        return Err(denied("The request signature does not match"));
    }
    Ok(m)
}

/// Upload target of the signed URL from `POST /api/public/media` (no Authorization; the
/// signature authenticates). Checks content type, length and SHA-256 against the record.
#[utoipa::path(tag = "Media", params(("mediaId" = String, Path), SignedQuery),
    responses((status = 200), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[put("/api/public/media/{mediaId}/upload")]
pub async fn upload_media_content(
    req: HttpRequest,
    query: web::Query<SignedQuery>,
    mut payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let m = verify_signed(&state, &req, &query, upload_message).await?;
    let headers = req.headers();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != m.content_type {
        return Err(ApiError::Forbidden {
            message: format!(
                "Content-Type {content_type:?} does not match the signed {:?}",
                m.content_type
            ),
            with_error_key: true,
        });
    }
    if let Some(len) = headers.get(header::CONTENT_LENGTH) {
        if len.to_str().ok().and_then(|v| v.parse::<i64>().ok()) != Some(m.content_length) {
            return Err(ApiError::Forbidden {
                message: format!(
                    "Content-Length does not match the signed {}",
                    m.content_length
                ),
                with_error_key: true,
            });
        }
    }
    if let Some(sum) = headers.get("x-amz-checksum-sha256") {
        if sum.to_str().ok() != Some(m.sha256_hash.as_str()) {
            return Err(ApiError::InvalidRequest(
                "x-amz-checksum-sha256 does not match the registered SHA-256".into(),
            ));
        }
    }
    let final_path = object_path(&state.config.media_dir, &m.bucket_path);
    let dir = final_path
        .parent()
        .expect("object paths have a project directory");
    let io = |e: std::io::Error| ApiError::Internal(anyhow::anyhow!("media storage: {e}"));
    tokio::fs::create_dir_all(dir).await.map_err(io)?;
    let tmp = dir.join(format!(".upload-{}", uuid::Uuid::new_v4().simple()));
    let result = async {
        let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
        let mut hasher = Sha256::new();
        let mut written: i64 = 0;
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::InvalidRequest(format!("upload aborted: {e}")))?;
            written += chunk.len() as i64;
            if written > m.content_length {
                return Err(ApiError::InvalidRequest(
                    "Body is longer than the registered content length".into(),
                ));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io)?;
        }
        if written != m.content_length {
            return Err(ApiError::InvalidRequest(format!(
                "Body has {written} bytes, {} were registered",
                m.content_length
            )));
        }
        let digest = base64::engine::general_purpose::STANDARD.encode(hasher.finalize());
        if digest != m.sha256_hash {
            return Err(ApiError::InvalidRequest(
                "The SHA-256 of the body does not match the registered hash".into(),
            ));
        }
        file.sync_all().await.map_err(io)?;
        tokio::fs::rename(&tmp, &final_path).await.map_err(io)?;
        Ok::<(), ApiError>(())
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result?;
    Ok(HttpResponse::Ok().finish())
}

/// Download target of the signed URL from `GET /api/public/media/{mediaId}`.
#[utoipa::path(tag = "Media", params(("mediaId" = String, Path), SignedQuery),
    responses((status = 200, description = "The bytes"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/public/media/{mediaId}/download")]
pub async fn download_media_content(
    req: HttpRequest,
    query: web::Query<SignedQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let m = verify_signed(&state, &req, &query, download_message).await?;
    let path = object_path(&state.config.media_dir, &m.bucket_path);
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| ApiError::NotFound("Media asset not found".into()))?;
    let len = file
        .metadata()
        .await
        .map_err(|_| ApiError::NotFound("Media asset not found".into()))?
        .len();
    // Streamed in 64 KiB chunks: a download holds one chunk in memory, not the asset.
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        use tokio::io::AsyncReadExt;
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(web::Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, m.content_type))
        .no_chunking(len)
        .streaming(chunks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_id_is_url_safe_and_22_chars() {
        let digest = Sha256::digest(b"hello media");
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
        assert_eq!(media_id_for_hash(&b64), expected[..22]);
    }

    #[test]
    fn bucket_paths_cannot_escape_the_root() {
        let p = bucket_path("../../etc", "abc", "image/svg+xml");
        assert!(!p.contains(".."), "{p}");
        assert!(p.ends_with("/abc.svgxml"));
    }
}
