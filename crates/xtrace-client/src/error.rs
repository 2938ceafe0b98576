//! The crate's single error type.

use serde_json::Value;

/// Everything a [`Client`](crate::Client) call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The base URL does not parse or cannot carry paths (e.g. `mailto:`).
    #[error("invalid base url: {0}")]
    InvalidBaseUrl(String),

    /// A token or key that cannot be sent in an HTTP header (control characters).
    #[error("invalid credentials: {0}")]
    InvalidCredentials(String),

    /// Transport failure: connection refused, timeout, TLS, or a body that is not the
    /// expected JSON.
    #[error("http error: {0}")]
    Http(#[from] reqwest::Error),

    /// The server answered with a non-success status. `message` is the `message` field
    /// of the Langfuse error body when there is one, else the raw body.
    #[error("server answered {status}: {message}")]
    Api {
        /// HTTP status code.
        status: u16,
        /// Human-readable reason.
        message: String,
        /// The parsed error body (`{"message", "error"}` on xtrace and Langfuse), or
        /// `Value::Null` when the body was empty or not JSON.
        body: Value,
    },

    /// A success response whose body does not have the expected shape.
    #[error("unexpected response body from {path}: {reason}")]
    Decode {
        /// The request path.
        path: String,
        /// What did not match.
        reason: String,
    },
}

impl Error {
    /// The HTTP status of an [`Error::Api`], or of a transport error that carries one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            Error::Http(e) => e.status().map(|s| s.as_u16()),
            _ => None,
        }
    }

    /// Whether the server answered 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether retrying the same request later may succeed: 408, 429, 5xx, timeouts and
    /// connection failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api { status, .. } => retryable_status(*status),
            Error::Http(e) => e.is_timeout() || e.is_connect() || e.is_request(),
            _ => false,
        }
    }
}

/// 408 Request Timeout, 429 Too Many Requests and every 5xx.
pub(crate) fn retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}
