//! `ApiError`: the one error type of the HTTP layer, and its mapping to Langfuse-shaped
//! bodies. Langfuse answers `{"message": …, "error": …}` on most routes; a few route
//! families (auth failures outside ingestion and prompts, projects) answer `{"message"}`
//! alone, which the variants below reproduce.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};

/// Everything a handler can fail with. Variants say what the client should do.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `InvalidRequestError`: the request is wrong; the message names the field.
    #[error("{0}")]
    InvalidRequest(String),
    /// 400 with Langfuse's zod shape: `{"message":"Invalid request data","error":[issues]}`.
    #[error("invalid request data")]
    InvalidRequestData(Vec<ValidationIssue>),
    /// 401: missing or wrong credentials. `with_error_key` adds `"error":"UnauthorizedError"`
    /// on the route families where Langfuse sends it (ingestion, prompts).
    #[error("{reason}")]
    Unauthorized {
        /// Langfuse's reason text.
        reason: String,
        /// Whether the body carries `"error":"UnauthorizedError"`.
        with_error_key: bool,
    },
    /// 403 with Langfuse's message for the route (`{"message"}` or with `ForbiddenError`).
    #[error("{message}")]
    Forbidden {
        /// The message.
        message: String,
        /// Whether the body carries `"error":"ForbiddenError"`.
        with_error_key: bool,
    },
    /// 404 `LangfuseNotFoundError` with a message such as "Trace x not found within authorized project".
    #[error("{0}")]
    NotFound(String),
    /// 404 for paths that do not exist at all.
    #[error("route not found")]
    RouteNotFound,
    /// 405 `MethodNotAllowedError`.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409 `LangfuseConflictError`.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than the configured limit.
    #[error("request body too large (limit {limit} bytes)")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 429 with Langfuse Cloud's body and `Retry-After`.
    #[error("rate limit exceeded")]
    RateLimited {
        /// Seconds until a request will be admitted again.
        retry_after_secs: u64,
        /// The configured limit (requests per second).
        limit: u32,
    },
    /// 503 with `Retry-After`: too many heavy analytic queries are running.
    #[error("too many analytic queries running")]
    Busy,
    /// 503 with `Retry-After`: the ingest queue is full; retry later.
    #[error("ingestion queue is full")]
    Overloaded,
    /// 503: the database cannot be reached.
    #[error("database unavailable")]
    Unavailable,
    /// An error of the unstable API family (`/api/public/unstable/*`), whose envelope is
    /// `{"message", "code", "details"?}` (Langfuse
    /// `web/src/features/public-api/server/unstable-public-api-error-contract.ts`).
    #[error("{message}")]
    Unstable {
        /// HTTP status.
        status: u16,
        /// Machine-readable code (`invalid_body`, `resource_not_found`, …).
        code: &'static str,
        /// Human-readable message.
        message: String,
        /// Structured context (`issues`, `field`, `allowedValues`, …).
        details: Option<Value>,
    },
    /// 500: a database error that is not the client's fault.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// 500: anything else.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<crate::ingest::IngestError> for ApiError {
    fn from(e: crate::ingest::IngestError) -> Self {
        match e {
            crate::ingest::IngestError::Overloaded => ApiError::Overloaded,
            crate::ingest::IngestError::Unavailable => ApiError::Unavailable,
            crate::ingest::IngestError::Internal => {
                ApiError::Internal(anyhow::anyhow!("the ingest worker failed on this request"))
            }
        }
    }
}

/// One problem with a request field, shaped like a zod issue.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ValidationIssue {
    /// zod's issue code (`invalid_type`, `too_small`, `custom`, …).
    pub code: &'static str,
    /// Path to the offending field.
    pub path: Vec<Value>,
    /// Human-readable message naming the problem.
    pub message: String,
}

impl ValidationIssue {
    /// An issue at `field` (dotted paths become path segments).
    pub fn new(code: &'static str, field: &str, message: impl Into<String>) -> Self {
        let path = field
            .split('.')
            .filter(|s| !s.is_empty())
            .map(|s| match s.parse::<u64>() {
                Ok(n) => json!(n),
                Err(_) => json!(s),
            })
            .collect();
        Self {
            code,
            path,
            message: message.into(),
        }
    }
}

impl ApiError {
    /// A 400 naming one invalid field, in zod's shape.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        ApiError::InvalidRequestData(vec![ValidationIssue::new("custom", field, message)])
    }

    /// A 404 for `kind` `id`, worded as Langfuse does.
    pub fn not_found(kind: &str, id: &str) -> Self {
        ApiError::NotFound(format!("{kind} {id} not found within authorized project"))
    }

    /// An unstable-API error with `status`, `code` and `message`.
    pub fn unstable(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unstable {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// This error in the unstable API family's envelope (`{"message","code","details"?}`):
    /// validation issues become `details.issues`, every other class its code.
    pub fn into_unstable(self) -> Self {
        let (status, code) = match &self {
            ApiError::Unstable { .. } | ApiError::RateLimited { .. } => return self,
            ApiError::InvalidRequestData(issues) => {
                return ApiError::Unstable {
                    status: 400,
                    code: "invalid_request",
                    message: "Invalid request data".into(),
                    details: Some(json!({ "issues": issues })),
                }
            }
            ApiError::InvalidRequest(_) => (400, "invalid_request"),
            ApiError::Unauthorized { .. } => (401, "authentication_failed"),
            ApiError::Forbidden { .. } => (403, "access_denied"),
            ApiError::NotFound(_) | ApiError::RouteNotFound => (404, "resource_not_found"),
            ApiError::MethodNotAllowed => (405, "method_not_allowed"),
            ApiError::Conflict(_) => (409, "conflict"),
            ApiError::PayloadTooLarge { .. } => (413, "invalid_request"),
            ApiError::Overloaded | ApiError::Unavailable | ApiError::Busy => {
                (503, "internal_error")
            }
            ApiError::Database(e) if Self::is_db_unavailable(e) => (503, "internal_error"),
            ApiError::Database(e) if Self::is_statement_timeout(e) => (503, "internal_error"),
            ApiError::Database(e) if Self::is_bad_value(e) => (400, "invalid_request"),
            ApiError::Database(_) | ApiError::Internal(_) => {
                tracing::error!(error = ?self, "request failed");
                return ApiError::unstable(500, "internal_error", "Internal Server Error");
            }
        };
        let message = match &self {
            ApiError::Unauthorized { reason, .. } => reason.clone(),
            ApiError::Forbidden { message, .. } => message.clone(),
            other => other.to_string(),
        };
        ApiError::Unstable {
            status,
            code,
            message,
            details: None,
        }
    }

    /// Whether this is a database connectivity failure (pool timeout, refused, closed).
    fn is_db_unavailable(e: &sqlx::Error) -> bool {
        matches!(
            e,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
        )
    }

    /// The SQLSTATE of a database error, if it is one.
    fn sqlstate(e: &sqlx::Error) -> Option<String> {
        match e {
            sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
            _ => None,
        }
    }

    /// SQLSTATE 57014 (`query_canceled`): the statement ran past `statement_timeout`.
    fn is_statement_timeout(e: &sqlx::Error) -> bool {
        Self::sqlstate(e).as_deref() == Some("57014")
    }

    /// A value PostgreSQL refused: class 22 (data exception: NUL in text, invalid byte
    /// sequence, out-of-range number or date, unsupported `\u0000` in JSON) or 54000 (a
    /// value too large to index). These come from what the client sent, so they are 400s.
    fn is_bad_value(e: &sqlx::Error) -> bool {
        Self::sqlstate(e).is_some_and(|c| c.starts_with("22") || c == "54000")
    }

    fn body(&self) -> Value {
        match self {
            ApiError::InvalidRequest(m) => json!({"message": m, "error": "InvalidRequestError"}),
            ApiError::InvalidRequestData(issues) => {
                json!({"message": "Invalid request data", "error": issues})
            }
            ApiError::Unauthorized {
                reason,
                with_error_key: true,
            } => json!({"message": reason, "error": "UnauthorizedError"}),
            ApiError::Unauthorized { reason, .. } => json!({ "message": reason }),
            ApiError::Forbidden {
                message,
                with_error_key: true,
            } => json!({"message": message, "error": "ForbiddenError"}),
            ApiError::Forbidden { message, .. } => json!({ "message": message }),
            ApiError::NotFound(m) => json!({"message": m, "error": "LangfuseNotFoundError"}),
            ApiError::RouteNotFound => {
                json!({"message": "Route not found", "error": "LangfuseNotFoundError"})
            }
            ApiError::MethodNotAllowed => {
                json!({"message": "Method not allowed", "error": "MethodNotAllowedError"})
            }
            ApiError::Conflict(m) => json!({"message": m, "error": "LangfuseConflictError"}),
            ApiError::PayloadTooLarge { limit } => json!({
                "message": format!("Request body exceeds the limit of {limit} bytes"),
                "error": "PayloadTooLargeError"
            }),
            ApiError::RateLimited {
                retry_after_secs,
                limit,
            } => {
                let reset =
                    chrono::Utc::now() + chrono::Duration::seconds(*retry_after_secs as i64);
                json!({
                    "message": "Rate limit exceeded",
                    "code": "rate_limited",
                    "details": {
                        "retryAfterSeconds": retry_after_secs,
                        "limit": limit,
                        "remaining": 0,
                        "resetAt": reset.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    }
                })
            }
            ApiError::Overloaded => json!({
                "message": "Service Unavailable",
                "error": "Ingestion queue is full, retry later"
            }),
            ApiError::Unavailable => json!({"message": "Service Unavailable"}),
            ApiError::Unstable {
                code,
                message,
                details,
                ..
            } => {
                let mut body = json!({"message": message, "code": code});
                if let Some(d) = details {
                    body["details"] = d.clone();
                }
                body
            }
            ApiError::Busy => json!({
                "message": "Too many analytic queries are running (XTRACE_MAX_HEAVY_QUERIES); retry later",
                "error": "ServiceUnavailableError"
            }),
            ApiError::Database(e) if Self::is_db_unavailable(e) => {
                json!({"message": "Service Unavailable"})
            }
            ApiError::Database(e) if Self::is_statement_timeout(e) => json!({
                "message": "The query took longer than the configured statement timeout \
                            (XTRACE_STATEMENT_TIMEOUT_MS); narrow the time range or filters",
                "error": "QueryTimeoutError"
            }),
            ApiError::Database(e) if Self::is_bad_value(e) => {
                let detail = match e {
                    sqlx::Error::Database(db) => db.message().to_string(),
                    _ => String::new(),
                };
                json!({
                    "message": format!("Invalid request: a value cannot be stored or compared ({detail})"),
                    "error": "InvalidRequestError"
                })
            }
            ApiError::Database(_) | ApiError::Internal(_) => {
                json!({"message": "Internal Server Error", "error": "An unknown error occurred"})
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest(_) | ApiError::InvalidRequestData(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Overloaded | ApiError::Unavailable | ApiError::Busy => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Unstable { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST)
            }
            ApiError::Database(e) if Self::is_db_unavailable(e) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Database(e) if Self::is_statement_timeout(e) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Database(e) if Self::is_bad_value(e) => StatusCode::BAD_REQUEST,
            ApiError::Database(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = ?self, "request failed");
        } else if status.is_server_error() {
            tracing::warn!(error = %self, "request refused under load");
        }
        let mut res = HttpResponse::build(status);
        match self {
            ApiError::RateLimited {
                retry_after_secs,
                limit,
            } => {
                res.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()))
                    .insert_header(("X-RateLimit-Limit", limit.to_string()))
                    .insert_header(("X-RateLimit-Remaining", "0"));
            }
            ApiError::Overloaded | ApiError::Unavailable | ApiError::Busy => {
                res.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::Database(e) if Self::is_db_unavailable(e) => {
                res.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        res.json(self.body())
    }
}

/// Maps actix's JSON body errors to our 400/413 bodies.
pub fn json_error_handler(
    err: actix_web::error::JsonPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::Overflow { limit } | E::OverflowKnownLength { limit, .. } => {
            ApiError::PayloadTooLarge { limit }.into()
        }
        E::ContentType => {
            ApiError::InvalidRequest("Invalid content type: expected application/json".into())
                .into()
        }
        E::Deserialize(e) => ApiError::invalid_field(&json_error_path(&e), e.to_string()).into(),
        other => ApiError::InvalidRequest(format!("Invalid JSON body: {other}")).into(),
    }
}

/// Best-effort field name of a serde error ("missing field `name`" → `name`).
fn json_error_path(e: &serde_json::Error) -> String {
    let text = e.to_string();
    text.split('`').nth(1).unwrap_or("").to_string()
}

/// Maps query-string errors to a 400 naming the parameter.
pub fn query_error_handler(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    let text = err.to_string();
    let field = text.split('`').nth(1).unwrap_or("").to_string();
    ApiError::invalid_field(&field, text).into()
}

/// Maps path-segment errors to a 400.
pub fn path_error_handler(
    err: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::InvalidRequest(format!("Invalid path parameter: {err}")).into()
}

/// Maps raw-body errors (size, decoding) to 413/400.
pub fn payload_error(err: actix_web::error::PayloadError, limit: usize) -> ApiError {
    use actix_web::error::PayloadError as E;
    match err {
        E::Overflow => ApiError::PayloadTooLarge { limit },
        other => ApiError::InvalidRequest(format!("Cannot read request body: {other}")),
    }
}
