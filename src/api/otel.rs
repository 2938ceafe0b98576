//! OTLP/HTTP receivers: `POST /api/public/otel/v1/traces` (what current Langfuse SDKs and
//! any OpenTelemetry exporter send) and the no-op `POST /api/public/otel/v1/metrics`.
//! Decoding and mapping live in `crate::otel`; the events go through `ingest::submit`, so
//! the 200 is sent after commit and a full queue answers 503 with `Retry-After`.

use actix_web::http::header::{self, ContentType};
use actix_web::http::StatusCode;
use actix_web::{post, web, HttpRequest, HttpResponse, ResponseError};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use serde_json::json;

use crate::api::body::read_admitted;
use crate::api::ErrorBody;
use crate::auth::ProjectAuth;
use crate::error::ApiError;
use crate::ingest::{self, Access};
use crate::otel::{self, decode, DecodeError, Encoding};
use crate::startup::AppState;

/// Header with which Langfuse lets clients pick a write path (integer ≤ 4).
const INGESTION_VERSION_HEADER: &str = "x-langfuse-ingestion-version";

const PROTOBUF: &str = "application/x-protobuf";

/// Failures of the OTLP routes: Langfuse's `400 {"error": …}` for bodies it cannot use,
/// everything else as elsewhere.
#[derive(Debug, thiserror::Error)]
pub enum OtelError {
    /// The body cannot be used (content type, gzip, decoding, structure).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The export would exceed a mapping budget (flattened attribute elements).
    #[error(transparent)]
    Budget(#[from] otel::BudgetError),
    /// Header `x-langfuse-ingestion-version` is not an integer ≤ 4.
    #[error("Invalid x-langfuse-ingestion-version header")]
    IngestionVersion,
    /// Any other failure (auth, size, overload, database).
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<crate::ingest::IngestError> for OtelError {
    fn from(e: crate::ingest::IngestError) -> Self {
        OtelError::Api(e.into())
    }
}

impl ResponseError for OtelError {
    fn status_code(&self) -> StatusCode {
        match self {
            OtelError::Decode(DecodeError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            OtelError::Decode(_) | OtelError::Budget(_) | OtelError::IngestionVersion => {
                StatusCode::BAD_REQUEST
            }
            OtelError::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            OtelError::Decode(DecodeError::TooLarge { limit }) => {
                ApiError::PayloadTooLarge { limit: *limit }.error_response()
            }
            OtelError::Api(e) => e.error_response(),
            other => HttpResponse::BadRequest().json(json!({ "error": other.to_string() })),
        }
    }
}

fn header_str(req: &HttpRequest, name: impl header::AsHeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn check_ingestion_version(req: &HttpRequest) -> Result<(), OtelError> {
    match req.headers().get(INGESTION_VERSION_HEADER) {
        None => Ok(()),
        Some(v) => match v.to_str().ok().and_then(|s| s.trim().parse::<i64>().ok()) {
            Some(n) if n <= 4 => Ok(()),
            _ => Err(OtelError::IngestionVersion),
        },
    }
}

/// The success answer in the request's encoding: an empty `ExportTraceServiceResponse`
/// for protobuf, `{}` for JSON.
fn success(encoding: Option<Encoding>) -> HttpResponse {
    match encoding {
        Some(Encoding::Protobuf) => HttpResponse::Ok()
            .content_type(PROTOBUF)
            .body(ExportTraceServiceResponse::default().encode_to_vec()),
        _ => HttpResponse::Ok()
            .content_type(ContentType::json())
            .body("{}"),
    }
}

/// Ingest an OTLP/HTTP trace export (Langfuse `POST /api/public/otel/v1/traces`).
/// Body: `ExportTraceServiceRequest` as `application/x-protobuf` or OTLP/JSON
/// (`application/json`), optionally `Content-Encoding: gzip`. Spans become Langfuse traces
/// and observations; the answer comes after they are committed.
#[utoipa::path(tag = "Opentelemetry", security(("BasicAuth" = []), ("BearerAuth" = [])),
    request_body(content = String, content_type = "application/x-protobuf",
        description = "OTLP ExportTraceServiceRequest (protobuf or OTLP/JSON)"),
    responses((status = 200, description = "`{}` (JSON) or an empty ExportTraceServiceResponse (protobuf)"),
        (status = 400, description = "`{\"error\": \"...\"}`"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[post("/api/public/otel/v1/traces")]
pub async fn export_traces(
    auth: ProjectAuth,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OtelError> {
    check_ingestion_version(&req)?;
    let encoding = Encoding::from_content_type(header_str(&req, header::CONTENT_TYPE))
        .ok_or(DecodeError::InvalidContentType)?;
    let body = read_admitted(
        &req,
        payload.into_inner(),
        state.config.max_body_bytes,
        &state.ingest,
        |_| OtelError::Decode(DecodeError::Decompress),
    )
    .await?;
    let _held = body.admission;
    // Decoding and mapping are CPU work: off the async threads.
    let bytes = body.bytes;
    let events = tokio::task::spawn_blocking(move || {
        let export = decode::decode(encoding, &bytes)?;
        otel::check_budget(&export)?;
        Ok::<_, OtelError>(otel::export_to_events(&export, chrono::Utc::now()))
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("OTLP decoding task failed: {e}")))??;
    if !events.is_empty() {
        let answer = ingest::submit(&state.ingest, &auth.project_id, events, Access::Full).await?;
        // Exporters drop what they were told was exported: a refused write is a 5xx.
        if answer.errors.iter().any(|e| e.status >= 500) {
            return Err(OtelError::Api(ApiError::Internal(anyhow::anyhow!(
                "the database refused the spans of this export"
            ))));
        }
        if !answer.errors.is_empty() {
            tracing::warn!(
                rejected = answer.errors.len(),
                accepted = answer.successes.len(),
                "some OTel-derived events were rejected"
            );
        }
    }
    Ok(success(Some(encoding)))
}

/// Accept an OTLP/HTTP metrics export and drop it (Langfuse
/// `POST /api/public/otel/v1/metrics`, a stub there too).
#[utoipa::path(tag = "Opentelemetry", security(("BasicAuth" = []), ("BearerAuth" = [])),
    request_body(content = String, content_type = "application/x-protobuf",
        description = "OTLP ExportMetricsServiceRequest (ignored)"),
    responses((status = 200, description = "`{}` (JSON) or an empty ExportMetricsServiceResponse (protobuf)"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[post("/api/public/otel/v1/metrics")]
pub async fn export_metrics(_auth: ProjectAuth, req: HttpRequest) -> HttpResponse {
    success(Encoding::from_content_type(header_str(
        &req,
        header::CONTENT_TYPE,
    )))
}
