//! Authentication, as Langfuse answers it (COMPAT-NOTES §2).
//!
//! - `Basic base64(publicKey:secretKey)`: full access to the key's project.
//! - `Bearer <publicKey>`: score-only access (browser SDK); 403 on other routes.
//! - `Bearer $API_BEARER_TOKEN`: xtrace's admin identity, acting on `DEFAULT_PROJECT_ID`
//!   and allowed on the organisation-scoped management routes.
//!
//! Handlers take one of the extractors below in their signature, so a handler cannot
//! forget the project scope: [`ProjectAuth`], [`ScoreAuth`], [`AdminAuth`].

use std::collections::{HashMap, VecDeque};
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
    /// 401 with this reason (malformed or missing header: not counted as a guess).
    Invalid(&'static str),
    /// 401 with this reason: credentials were presented and are wrong (counted).
    Credentials(&'static str),
    /// The client address is over its failure limit and nothing cached vouches for it.
    Blocked,
    /// The database could not be asked.
    Unavailable(sqlx::Error),
}

/// Route families whose 401 body carries `"error":"UnauthorizedError"`.
fn unauthorized_with_error_key(path: &str) -> bool {
    path == "/api/public/ingestion" || path.starts_with("/api/public/v2/prompts")
}

fn unauthorized(req: &HttpRequest, failure: AuthFailure) -> ApiError {
    match failure {
        AuthFailure::Invalid(reason) | AuthFailure::Credentials(reason) => ApiError::Unauthorized {
            reason: reason.into(),
            with_error_key: unauthorized_with_error_key(req.path()),
        },
        AuthFailure::Unavailable(e) => {
            tracing::warn!(error = %e, "database unavailable during authentication");
            ApiError::Unavailable
        }
        AuthFailure::Blocked => ApiError::RateLimited {
            retry_after_secs: 1,
            limit: 0,
        },
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
///
/// Known keys live in `hits` for a minute; unknown keys in `misses`, a bounded FIFO kept
/// apart, so a flood of random keys costs at most one query each and can never push a
/// real key out. Deleting or creating a key or project clears both.
#[derive(Debug, Default)]
pub struct KeyCache {
    hits: RwLock<HashMap<String, CachedKey>>,
    misses: Mutex<MissCache>,
    /// Key id → when its `last_used_at` may be written again (one write per minute per key).
    touched: Mutex<HashMap<String, Instant>>,
}

#[derive(Debug, Clone)]
struct CachedKey {
    expires: Instant,
    creds: store::projects::KeyCredentials,
    /// Digest of a secret that passed the slow (argon2) check, with a per-process pepper:
    /// later requests with the same secret compare this instead of running argon2 again.
    verified: Option<[u8; 32]>,
}

#[derive(Debug, Default)]
struct MissCache {
    entries: HashMap<String, Instant>,
    order: VecDeque<String>,
}

const KEY_CACHE_TTL: Duration = Duration::from_secs(60);
const MISS_CACHE_TTL: Duration = Duration::from_secs(5);
const MISS_CACHE_CAPACITY: usize = 10_000;
const HIT_CACHE_CAPACITY: usize = 100_000;
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// `now + d`, saturating instead of panicking on a clock at its far end.
fn later(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d).unwrap_or(now)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded maps hold plain cache data: still usable after a panic elsewhere.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MissCache {
    fn contains(&self, key: &str) -> bool {
        self.entries
            .get(key)
            .is_some_and(|until| Instant::now() < *until)
    }

    fn insert(&mut self, key: &str) {
        if self
            .entries
            .insert(key.to_string(), later(MISS_CACHE_TTL))
            .is_none()
        {
            self.order.push_back(key.to_string());
        }
        while self.order.len() > MISS_CACHE_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
    }
}

/// What a lookup found.
enum Lookup {
    Found(CachedKey),
    Unknown,
    /// Not answered from memory and the caller may not query (rate-limited address).
    NotCached,
}

impl KeyCache {
    async fn lookup(
        &self,
        pool: &sqlx::PgPool,
        public_key: &str,
        cache_only: bool,
    ) -> Result<Lookup, sqlx::Error> {
        if let Some(hit) = self
            .hits
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(public_key)
        {
            if Instant::now() < hit.expires {
                return Ok(Lookup::Found(hit.clone()));
            }
        }
        if lock(&self.misses).contains(public_key) {
            return Ok(Lookup::Unknown);
        }
        if cache_only {
            return Ok(Lookup::NotCached);
        }
        match store::projects::find_key_credentials(pool, public_key).await? {
            Some(creds) => {
                let mut hits = self.hits.write().unwrap_or_else(|e| e.into_inner());
                // Concurrent first lookups must not forget a secret another one verified.
                let verified = hits
                    .get(public_key)
                    .filter(|h| h.creds.secret_hash == creds.secret_hash)
                    .and_then(|h| h.verified);
                let entry = CachedKey {
                    expires: later(KEY_CACHE_TTL),
                    creds,
                    verified,
                };
                if hits.len() >= HIT_CACHE_CAPACITY {
                    let now = Instant::now();
                    hits.retain(|_, h| now < h.expires);
                    if hits.len() >= HIT_CACHE_CAPACITY {
                        hits.clear();
                    }
                }
                hits.insert(public_key.to_string(), entry.clone());
                Ok(Lookup::Found(entry))
            }
            None => {
                lock(&self.misses).insert(public_key);
                Ok(Lookup::Unknown)
            }
        }
    }

    /// Whether `digest` passed the slow check for `public_key` meanwhile (another request
    /// with the same secret may have verified it while this one waited for a slot).
    fn verified_now(&self, public_key: &str, digest: &[u8; 32]) -> bool {
        self.hits
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(public_key)
            .and_then(|h| h.verified)
            .is_some_and(|v| bool::from(v.ct_eq(digest)))
    }

    /// Remembers that `digest` passed the slow check for `public_key`.
    fn remember_verified(&self, public_key: &str, digest: [u8; 32]) {
        if let Some(hit) = self
            .hits
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(public_key)
        {
            hit.verified = Some(digest);
        }
    }

    /// Whether `last_used_at` of key `id` is due for a write (and, if so, marks it written).
    fn touch_due(&self, id: &str) -> bool {
        let mut touched = lock(&self.touched);
        let now = Instant::now();
        if touched.get(id).is_some_and(|next| now < *next) {
            return false;
        }
        if touched.len() >= HIT_CACHE_CAPACITY {
            touched.retain(|_, next| now < *next);
        }
        touched.insert(id.to_string(), later(TOUCH_INTERVAL));
        true
    }

    /// Forgets every cached key (after a key or project was deleted or created).
    pub fn clear(&self) {
        self.hits.write().unwrap_or_else(|e| e.into_inner()).clear();
        let mut misses = lock(&self.misses);
        misses.entries.clear();
        misses.order.clear();
    }
}

/// A random value of this process, mixed into the digests of verified secrets.
fn pepper() -> &'static [u8; 32] {
    static PEPPER: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    PEPPER.get_or_init(|| {
        let mut p = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut p);
        p
    })
}

fn verified_digest(secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(pepper());
    h.update(secret.as_bytes());
    h.finalize().into()
}

const ARGON2_PREFIX: &[u8] = b"$argon2";

/// An argon2id PHC string of `secret` (random salt inside), for secrets an operator chose
/// (`XTRACE_SECRET_KEY`, `LANGFUSE_INIT_PROJECT_SECRET_KEY`, …): those may be guessable,
/// unlike generated ones, so a leaked table must not give them away cheaply.
pub fn hash_secret_slow(secret: &str) -> anyhow::Result<Vec<u8>> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let hash = argon2::Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(hash.to_string().into_bytes())
}

/// Whether a stored hash is the slow kind.
pub fn is_slow_hash(stored: &[u8]) -> bool {
    stored.starts_with(ARGON2_PREFIX)
}

/// Checks `secret` against a stored hash of either kind (constant time for the fast one).
pub fn verify_secret(salt: &[u8], stored: &[u8], secret: &str) -> bool {
    if is_slow_hash(stored) {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let Ok(text) = std::str::from_utf8(stored) else {
            return false;
        };
        let Ok(parsed) = PasswordHash::new(text) else {
            return false;
        };
        argon2::Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok()
    } else {
        bool::from(hash_secret(salt, secret).ct_eq(stored))
    }
}

/// One argon2 check: salt, stored hash, secret, and where the answer goes.
type SlowCheck = (Vec<u8>, Vec<u8>, String, tokio::sync::oneshot::Sender<bool>);

/// The thread that runs every argon2 verification, one at a time. Each needs about
/// 19 MiB and tens of milliseconds of CPU: on one thread a burst of first requests (or of
/// guesses) queues instead of multiplying memory across the blocking pool's threads,
/// whose allocator arenas would each keep such a block.
fn slow_checker() -> &'static std::sync::mpsc::SyncSender<SlowCheck> {
    static TX: std::sync::OnceLock<std::sync::mpsc::SyncSender<SlowCheck>> =
        std::sync::OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<SlowCheck>(1024);
        std::thread::Builder::new()
            .name("xtrace-argon2".into())
            .spawn(move || {
                // Identical checks queued behind each other (a burst of first requests
                // with one key) are answered from the first one's result.
                let mut recent: HashMap<(Vec<u8>, [u8; 32]), bool> = HashMap::new();
                for (salt, stored, secret, reply) in rx {
                    let key = (stored, verified_digest(&secret));
                    let ok = match recent.get(&key) {
                        Some(ok) => *ok,
                        None => {
                            let ok = verify_secret(&salt, &key.0, &secret);
                            if recent.len() >= 256 {
                                recent.clear();
                            }
                            recent.insert(key, ok);
                            ok
                        }
                    };
                    let _ = reply.send(ok);
                }
            })
            .expect("the argon2 thread starts");
        tx
    })
}

/// Whether `secret` matches a stored key hash; slow (argon2) hashes are checked on one
/// dedicated thread, off the async threads.
pub async fn check_secret(salt: &[u8], stored: &[u8], secret: &str) -> bool {
    if !is_slow_hash(stored) {
        return verify_secret(salt, stored, secret);
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = (salt.to_vec(), stored.to_vec(), secret.to_string(), reply);
    if slow_checker().try_send(job).is_err() {
        return false; // a thousand checks queued: refuse rather than grow
    }
    answer.await.unwrap_or(false)
}

/// Resolves the `Authorization` header to a principal. With `cache_only` (the client
/// address is over its failure limit) nothing is asked of the database and no slow hash
/// runs: only credentials verified recently pass, so keys in use are never slowed.
async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
    cache_only: bool,
) -> Result<Principal, AuthFailure> {
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
        let cached = match state
            .keys
            .lookup(&state.pool, public_key, cache_only)
            .await
            .map_err(AuthFailure::Unavailable)?
        {
            Lookup::Found(c) => c,
            Lookup::Unknown => return Err(AuthFailure::Credentials(MSG_BAD_CREDENTIALS)),
            Lookup::NotCached => return Err(AuthFailure::Blocked),
        };
        check_not_expired(&cached.creds)?;
        let creds = &cached.creds;
        if is_slow_hash(&creds.secret_hash) {
            let digest = verified_digest(secret);
            let known = cached
                .verified
                .is_some_and(|v| bool::from(v.ct_eq(&digest)));
            if !known {
                if cache_only {
                    return Err(AuthFailure::Blocked);
                }
                let ok = match state.keys.verified_now(public_key, &digest) {
                    true => true,
                    false => check_secret(&creds.secret_salt, &creds.secret_hash, secret).await,
                };
                if !ok {
                    return Err(AuthFailure::Credentials(MSG_BAD_CREDENTIALS));
                }
                state.keys.remember_verified(public_key, digest);
            }
        } else if !verify_secret(&creds.secret_salt, &creds.secret_hash, secret) {
            return Err(AuthFailure::Credentials(MSG_BAD_CREDENTIALS));
        }
        if state.keys.touch_due(&creds.id) {
            let pool = state.pool.clone();
            let key_id = creds.id.clone();
            tokio::spawn(async move {
                let _ = store::projects::touch_api_key(&pool, &key_id).await;
            });
        }
        Ok(Principal::ProjectKey {
            project_id: creds.project_id.clone(),
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
        let cached = match state
            .keys
            .lookup(&state.pool, rest, cache_only)
            .await
            .map_err(AuthFailure::Unavailable)?
        {
            Lookup::Found(c) => c,
            Lookup::Unknown => return Err(AuthFailure::Credentials(MSG_BAD_PUBLIC_KEY)),
            Lookup::NotCached => return Err(AuthFailure::Blocked),
        };
        check_not_expired(&cached.creds)?;
        Ok(Principal::PublicKey {
            project_id: cached.creds.project_id,
            public_key: rest.to_string(),
        })
    } else {
        Err(AuthFailure::Invalid(MSG_BAD_SCHEME))
    }
}

fn check_not_expired(creds: &store::projects::KeyCredentials) -> Result<(), AuthFailure> {
    match creds.expires_at {
        Some(at) if at <= chrono::Utc::now() => Err(AuthFailure::Credentials(MSG_BAD_CREDENTIALS)),
        _ => Ok(()),
    }
}

/// [`authenticate`] behind the per-address failure limit: wrong credentials count against
/// the client's address, and past the limit the address is answered 429 unless its
/// credentials were verified recently.
async fn authenticate_limited(state: &AppState, req: &HttpRequest) -> Result<Principal, ApiError> {
    let addr = req.peer_addr().map(|a| a.ip());
    let blocked = addr.and_then(|ip| state.auth_failures.blocked_for(ip));
    match authenticate(state, req, blocked.is_some()).await {
        Ok(p) => Ok(p),
        Err(AuthFailure::Credentials(reason)) => {
            let wait = addr.and_then(|ip| state.auth_failures.record_failure(ip));
            match wait.or(blocked) {
                Some(retry_after_secs) => Err(state.auth_failures.error(retry_after_secs)),
                None => Err(unauthorized(req, AuthFailure::Invalid(reason))),
            }
        }
        Err(AuthFailure::Blocked) => Err(state.auth_failures.error(blocked.unwrap_or(1))),
        Err(other) => Err(unauthorized(req, other)),
    }
}

/// Failed authentications per client address: a token bucket of
/// `XTRACE_AUTH_FAILURES_PER_MINUTE` failures, refilled continuously over a minute.
#[derive(Debug)]
pub struct FailureLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<std::net::IpAddr, (f64, Instant)>>,
}

const FAILURE_TABLE_CAPACITY: usize = 100_000;

impl FailureLimiter {
    /// A limiter admitting `per_minute` failures per address per minute; 0 disables it.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refill(&self, tokens: f64, last: Instant, now: Instant) -> f64 {
        let rate = self.per_minute as f64 / 60.0;
        (tokens + now.saturating_duration_since(last).as_secs_f64() * rate)
            .min(self.per_minute as f64)
    }

    fn wait_secs(&self, tokens: f64) -> u64 {
        let rate = self.per_minute as f64 / 60.0;
        ((1.0 - tokens) / rate).ceil().max(1.0) as u64
    }

    /// Seconds to wait when `ip` has no failures left, else `None`.
    pub fn blocked_for(&self, ip: std::net::IpAddr) -> Option<u64> {
        if self.per_minute == 0 {
            return None;
        }
        let buckets = lock(&self.buckets);
        let (tokens, last) = buckets.get(&ip)?;
        let tokens = self.refill(*tokens, *last, Instant::now());
        (tokens < 1.0).then(|| self.wait_secs(tokens))
    }

    /// Counts one failure of `ip`; returns the wait when that exhausted its allowance.
    pub fn record_failure(&self, ip: std::net::IpAddr) -> Option<u64> {
        if self.per_minute == 0 {
            return None;
        }
        let now = Instant::now();
        let mut buckets = lock(&self.buckets);
        if buckets.len() >= FAILURE_TABLE_CAPACITY && !buckets.contains_key(&ip) {
            // Forget addresses whose allowance has fully come back.
            let full = self.per_minute as f64;
            buckets.retain(|_, (t, last)| self.refill(*t, *last, now) < full);
            if buckets.len() >= FAILURE_TABLE_CAPACITY {
                buckets.clear();
            }
        }
        let (tokens, last) = buckets.entry(ip).or_insert((self.per_minute as f64, now));
        *tokens = self.refill(*tokens, *last, now) - 1.0;
        *last = now;
        (*tokens < 1.0).then(|| self.wait_secs(*tokens))
    }

    fn error(&self, retry_after_secs: u64) -> ApiError {
        ApiError::RateLimited {
            retry_after_secs,
            limit: self.per_minute,
        }
    }
}

fn app_state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .expect("AppState is registered on the App in startup::build_server")
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
            let principal = authenticate_limited(&state, &req).await?;
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
            let principal = authenticate_limited(&state, &req).await?;
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
            let principal = authenticate_limited(&state, &req).await?;
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
