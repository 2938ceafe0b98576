//! Authentication, as Langfuse answers it (COMPAT-NOTES §2).
//!
//! - `Basic base64(publicKey:secretKey)`: full access to the key's project.
//! - `Bearer <publicKey>`: score-only access (browser SDK); 403 on other routes.
//! - `Bearer $API_BEARER_TOKEN`: xtrace's admin identity, acting on `DEFAULT_PROJECT_ID`
//!   and allowed on the organisation-scoped management routes.
//!
//! Handlers take one of the extractors below in their signature, so a handler cannot
//! forget the project scope: [`ProjectAuth`], [`ScoreAuth`], [`AdminAuth`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::startup::AppState;
use crate::store;

const MSG_NO_HEADER: &str = "No authorization header";
const MSG_BAD_SCHEME: &str = "Invalid authorization header";
const MSG_BAD_CREDENTIALS: &str =
    "Invalid credentials. Confirm that you've configured the correct host.";
const MSG_BAD_BASIC: &str =
    "Invalid authorization header. Confirm that you've configured the correct host.";
const MSG_BAD_PUBLIC_KEY: &str =
    "Invalid public key. Confirm that you've configured the correct host.";
const MSG_SCORE_ONLY: &str = "Access denied - insufficient permissions for this endpoint";
const MSG_NEED_ORG_KEY: &str =
    "Invalid API key. Organization-scoped API key required for this operation.";

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A project key pair (Basic auth).
    ProjectKey {
        /// The key's project.
        project_id: String,
        /// The public key, used as the rate-limit identity.
        public_key: String,
    },
    /// The admin bearer token, acting on the default project.
    Admin {
        /// `DEFAULT_PROJECT_ID`.
        project_id: String,
    },
    /// A public key alone (Bearer): may only write scores.
    PublicKey {
        /// The key's project.
        project_id: String,
        /// The public key.
        public_key: String,
    },
}

impl Principal {
    /// The project this principal acts on.
    pub fn project_id(&self) -> &str {
        match self {
            Principal::ProjectKey { project_id, .. }
            | Principal::Admin { project_id }
            | Principal::PublicKey { project_id, .. } => project_id,
        }
    }

    /// Identity used for per-credential rate limiting.
    fn rate_key(&self) -> String {
        match self {
            Principal::ProjectKey { public_key, .. } | Principal::PublicKey { public_key, .. } => {
                format!("pk:{public_key}")
            }
            Principal::Admin { .. } => "admin".into(),
        }
    }
}

/// Why authentication failed.
#[derive(Debug)]
enum AuthFailure {
    /// 401 with this reason.
    Invalid(&'static str),
    /// The database could not be asked.
    Unavailable(sqlx::Error),
}

/// Route families whose 401 body carries `"error":"UnauthorizedError"`.
fn unauthorized_with_error_key(path: &str) -> bool {
    path == "/api/public/ingestion" || path.starts_with("/api/public/v2/prompts")
}

fn unauthorized(req: &HttpRequest, failure: AuthFailure) -> ApiError {
    match failure {
        AuthFailure::Invalid(reason) => ApiError::Unauthorized {
            reason: reason.into(),
            with_error_key: unauthorized_with_error_key(req.path()),
        },
        AuthFailure::Unavailable(e) => {
            tracing::warn!(error = %e, "database unavailable during authentication");
            ApiError::Unavailable
        }
    }
}

/// The 403 Langfuse sends when a public key alone is used where a secret key is needed.
fn score_only_forbidden(req: &HttpRequest) -> ApiError {
    let path = req.path();
    if path.starts_with("/api/public/v2/prompts") {
        ApiError::Forbidden {
            message: format!(
                "Access denied - need to use basic auth with secret key to {} prompts",
                req.method()
            ),
            with_error_key: true,
        }
    } else if path == "/api/public/projects" {
        ApiError::Forbidden {
            message: "Invalid API key. Are you using an organization key?".into(),
            with_error_key: false,
        }
    } else {
        ApiError::Forbidden {
            message: MSG_SCORE_ONLY.into(),
            with_error_key: false,
        }
    }
}

/// sha256(salt || secret).
pub fn hash_secret(salt: &[u8], secret: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(secret.as_bytes());
    h.finalize().to_vec()
}

/// `sk-lf-...abcd`: the first six and the last four characters.
pub fn display_secret_key(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 10 {
        return "...".to_string() + &chars.iter().rev().take(4).rev().collect::<String>();
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}...{tail}")
}

/// A fresh random salt.
pub fn new_salt() -> [u8; 16] {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    salt
}

/// A generated key set in Langfuse's format (`pk-lf-<uuid>`, `sk-lf-<uuid>`).
pub fn generate_key_pair() -> (String, String) {
    (
        format!("pk-lf-{}", uuid::Uuid::new_v4()),
        format!("sk-lf-{}", uuid::Uuid::new_v4()),
    )
}

/// Cached key lookups, so authentication does not cost a query per request.
/// Entries expire after a minute; deleting a key or project clears the cache.
#[derive(Debug, Default)]
pub struct KeyCache {
    entries: RwLock<HashMap<String, (Instant, Option<store::projects::KeyCredentials>)>>,
}

const KEY_CACHE_TTL: Duration = Duration::from_secs(60);

impl KeyCache {
    async fn lookup(
        &self,
        pool: &sqlx::PgPool,
        public_key: &str,
    ) -> Result<Option<store::projects::KeyCredentials>, sqlx::Error> {
        if let Some((at, creds)) = self
            .entries
            .read()
            .expect("key cache lock is never held across a panic")
            .get(public_key)
        {
            if at.elapsed() < KEY_CACHE_TTL {
                return Ok(creds.clone());
            }
        }
        let creds = store::projects::find_key_credentials(pool, public_key).await?;
        let mut map = self
            .entries
            .write()
            .expect("key cache lock is never held across a panic");
        if map.len() > 10_000 {
            map.clear();
        }
        // Misses are cached only briefly, so a key created elsewhere works soon.
        let at = if creds.is_some() {
            Instant::now()
        } else {
            Instant::now() - KEY_CACHE_TTL + Duration::from_secs(2)
        };
        map.insert(public_key.to_string(), (at, creds.clone()));
        Ok(creds)
    }

    /// Forgets every cached key (after a key or project was deleted or created).
    pub fn clear(&self) {
        self.entries
            .write()
            .expect("key cache lock is never held across a panic")
            .clear();
    }
}

/// Resolves the `Authorization` header to a principal.
async fn authenticate(state: &AppState, req: &HttpRequest) -> Result<Principal, AuthFailure> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or(AuthFailure::Invalid(MSG_NO_HEADER))?;
    let header = header
        .to_str()
        .map_err(|_| AuthFailure::Invalid(MSG_BAD_SCHEME))?
        .trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(AuthFailure::Invalid(MSG_BAD_BASIC))?;
        let mut parts = decoded.splitn(2, ':');
        let public_key = parts.next().unwrap_or("");
        let secret = parts.next().unwrap_or("");
        if public_key.is_empty() || secret.is_empty() {
            return Err(AuthFailure::Invalid(MSG_BAD_BASIC));
        }
        let creds = state
            .keys
            .lookup(&state.pool, public_key)
            .await
            .map_err(AuthFailure::Unavailable)?
            .ok_or(AuthFailure::Invalid(MSG_BAD_CREDENTIALS))?;
        let hash = hash_secret(&creds.secret_salt, secret);
        if !bool::from(hash.ct_eq(&creds.secret_hash)) {
            return Err(AuthFailure::Invalid(MSG_BAD_CREDENTIALS));
        }
        let pool = state.pool.clone();
        let key_id = creds.id.clone();
        tokio::spawn(async move {
            let _ = store::projects::touch_api_key(&pool, &key_id).await;
        });
        Ok(Principal::ProjectKey {
            project_id: creds.project_id,
            public_key: public_key.to_string(),
        })
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() {
            return Err(AuthFailure::Invalid(MSG_BAD_SCHEME));
        }
        if bool::from(rest.as_bytes().ct_eq(state.bearer_token.as_bytes())) {
            return Ok(Principal::Admin {
                project_id: state.config.default_project_id.clone(),
            });
        }
        let creds = state
            .keys
            .lookup(&state.pool, rest)
            .await
            .map_err(AuthFailure::Unavailable)?
            .ok_or(AuthFailure::Invalid(MSG_BAD_PUBLIC_KEY))?;
        Ok(Principal::PublicKey {
            project_id: creds.project_id,
            public_key: rest.to_string(),
        })
    } else {
        Err(AuthFailure::Invalid(MSG_BAD_SCHEME))
    }
}

fn app_state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .expect("AppState is registered on the App in startup::build_app")
}

type AuthFuture<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// Full access to one project: Basic project keys and the admin bearer token.
/// GET requests on analytic read routes are rate limited per credential.
#[derive(Debug, Clone)]
pub struct ProjectAuth {
    /// The authenticated project.
    pub project_id: String,
    /// The caller.
    pub principal: Principal,
}

impl FromRequest for ProjectAuth {
    type Error = ApiError;
    type Future = AuthFuture<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req);
            let principal = authenticate(&state, &req)
                .await
                .map_err(|f| unauthorized(&req, f))?;
            if let Principal::PublicKey { .. } = principal {
                return Err(score_only_forbidden(&req));
            }
            if req.method() == actix_web::http::Method::GET && is_rate_limited_route(req.path()) {
                state.limiter.check(&principal.rate_key())?;
            }
            Ok(ProjectAuth {
                project_id: principal.project_id().to_string(),
                principal,
            })
        })
    }
}

/// Access where Langfuse also admits a public key alone (`scores` access level):
/// ingestion (score and sdk-log events only) and `POST /api/public/scores`.
#[derive(Debug, Clone)]
pub struct ScoreAuth {
    /// The authenticated project.
    pub project_id: String,
    /// The caller; `Principal::PublicKey` may only write scores.
    pub principal: Principal,
}

impl ScoreAuth {
    /// Whether the caller may write anything (false: scores only).
    pub fn full_access(&self) -> bool {
        !matches!(self.principal, Principal::PublicKey { .. })
    }
}

impl FromRequest for ScoreAuth {
    type Error = ApiError;
    type Future = AuthFuture<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req);
            let principal = authenticate(&state, &req)
                .await
                .map_err(|f| unauthorized(&req, f))?;
            Ok(ScoreAuth {
                project_id: principal.project_id().to_string(),
                principal,
            })
        })
    }
}

/// The admin identity (bearer token), standing in for Langfuse's organisation-scoped keys.
#[derive(Debug, Clone)]
pub struct AdminAuth {
    /// The organisation the admin manages.
    pub org_id: String,
}

impl FromRequest for AdminAuth {
    type Error = ApiError;
    type Future = AuthFuture<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req);
            let principal = authenticate(&state, &req)
                .await
                .map_err(|f| unauthorized(&req, f))?;
            match principal {
                Principal::Admin { .. } => Ok(AdminAuth {
                    org_id: state.config.org_id.clone(),
                }),
                _ => Err(ApiError::Forbidden {
                    message: MSG_NEED_ORG_KEY.into(),
                    with_error_key: false,
                }),
            }
        })
    }
}

/// Analytic read routes that the per-credential limiter guards. Routes SDKs call in
/// loops or on their hot path (prompts, datasets, projects, media, health) are exempt,
/// because self-hosted Langfuse never answers 429 and SDKs do not expect it there.
fn is_rate_limited_route(path: &str) -> bool {
    const LIMITED: &[&str] = &[
        "/api/public/traces",
        "/api/public/observations",
        "/api/public/v2/observations",
        "/api/public/sessions",
        "/api/public/scores",
        "/api/public/v2/scores",
        "/api/public/metrics",
        "/api/public/v2/metrics",
        "/api/public/comments",
    ];
    LIMITED
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// Token-bucket rate limiter keyed by credential (`RATE_LIMIT_QPS`, `RATE_LIMIT_BURST`).
#[derive(Debug)]
pub struct RateLimiter {
    qps: u32,
    burst: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter admitting `qps` per second with bursts of `burst`; `qps == 0` disables it.
    pub fn new(qps: u32, burst: u32) -> Self {
        Self {
            qps,
            burst: burst.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`, or says how long to wait.
    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        if self.qps == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .expect("rate limiter lock is never held across a panic");
        let (tokens, last) = buckets
            .entry(key.to_string())
            .or_insert((self.burst as f64, now));
        let refill = now.duration_since(*last).as_secs_f64() * self.qps as f64;
        *tokens = (*tokens + refill).min(self.burst as f64);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - *tokens) / self.qps as f64;
            Err(ApiError::RateLimited {
                retry_after_secs: wait.ceil().max(1.0) as u64,
                limit: self.qps,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_secret_key_keeps_prefix_and_last_four() {
        assert_eq!(
            display_secret_key("sk-lf-12345678-aaaa-bbbb-cccc-1234567890ab"),
            "sk-lf-...90ab"
        );
        assert_eq!(display_secret_key("short"), "...hort");
    }

    #[test]
    fn rate_limiter_admits_the_burst_then_refuses_with_retry_after() {
        let l = RateLimiter::new(1, 3);
        for _ in 0..3 {
            l.check("a").expect("within burst");
        }
        match l.check("a") {
            Err(ApiError::RateLimited {
                retry_after_secs, ..
            }) => assert!(retry_after_secs >= 1),
            other => panic!("expected 429, got {other:?}"),
        }
        l.check("b").expect("buckets are per credential");
        RateLimiter::new(0, 0).check("a").expect("0 disables");
    }

    #[test]
    fn hashes_depend_on_salt_and_secret() {
        assert_ne!(hash_secret(b"a", "s"), hash_secret(b"b", "s"));
        assert_ne!(hash_secret(b"a", "s"), hash_secret(b"a", "t"));
    }
}
