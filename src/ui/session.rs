//! Signing in and out of the web UI, and the session every page is scoped by.
//!
//! - Sign in with a project's public/secret key pair (checked exactly as Basic auth is:
//!   `sha256(salt || secret)` against the stored hash), or with the admin token
//!   (`API_BEARER_TOKEN`), which may then switch between the organisation's projects.
//! - The session lives server-side (`ui_sessions`, migration 0060; only the SHA-256 of
//!   the cookie token is stored) and expires after [`SESSION_HOURS`] hours. The cookie
//!   `xtrace_session` is HttpOnly, SameSite=Strict, Path=/, and Secure when the request
//!   came over https (directly or per `X-Forwarded-Proto`/`Forwarded`) or `PUBLIC_URL`
//!   is https.
//! - CSRF: the sign-in form carries a token that must equal the `xtrace_csrf` cookie
//!   (double submit, so a foreign site cannot sign a browser into its own project); the
//!   sign-out and project-switch forms carry the session's own token.
//! - A page of another project than the session's answers 404, as if it did not exist;
//!   an admin session follows a link into another project of its organisation by
//!   switching to it.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{Duration, Utc};
use maud::html;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{bare_page, html_response, path_encode, redirect, UiError, UiResult};
use crate::startup::AppState;
use crate::store;
use crate::store::ui::UiSessionRow;

/// Session lifetime.
pub const SESSION_HOURS: i64 = 12;
const SESSION_COOKIE: &str = "xtrace_session";
const CSRF_COOKIE: &str = "xtrace_csrf";

/// The signed-in session of a request.
#[derive(Debug, Clone)]
pub struct UiSession {
    /// SHA-256 of the cookie token.
    pub token_hash: Vec<u8>,
    /// The stored session.
    pub row: UiSessionRow,
    /// `(id, name)` of the projects an admin session may switch to (empty otherwise).
    pub projects: Vec<(String, String)>,
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn hash_token(t: &str) -> Vec<u8> {
    Sha256::digest(t.as_bytes()).to_vec()
}

fn secure(req: &HttpRequest, state: &AppState) -> bool {
    req.connection_info().scheme() == "https"
        || state
            .config
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
}

fn cookie<'a>(
    req: &HttpRequest,
    state: &AppState,
    name: &'a str,
    value: String,
    path: &'a str,
) -> Cookie<'a> {
    Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(req, state))
        .finish()
}

/// The path and query of the request, as a sign-in `next`.
fn here(req: &HttpRequest) -> String {
    match req.uri().path_and_query() {
        Some(pq) => pq.as_str().to_string(),
        None => req.path().to_string(),
    }
}

/// Only local absolute paths are followed after sign-in (no `//host`, no scheme).
fn safe_next(next: Option<&str>) -> Option<String> {
    let n = next?;
    (n.starts_with('/') && !n.starts_with("//") && !n.contains('\\')).then(|| n.to_string())
}

impl UiSession {
    /// The request's session, if signed in.
    pub async fn current(req: &HttpRequest, state: &AppState) -> Result<Option<Self>, UiError> {
        let Some(c) = req.cookie(SESSION_COOKIE) else {
            return Ok(None);
        };
        let token_hash = hash_token(c.value());
        let Some(row) = store::ui::find_session(&state.pool, &token_hash).await? else {
            return Ok(None);
        };
        let projects = if row.is_admin {
            store::projects::list_projects(&state.pool, &state.config.org_id)
                .await?
                .into_iter()
                .map(|p| (p.id, p.name))
                .collect()
        } else {
            Vec::new()
        };
        Ok(Some(UiSession {
            token_hash,
            row,
            projects,
        }))
    }

    /// The session, scoped to `project_id` from the path: signed out → sign-in (then back
    /// here); another project → 404, except that an admin session switches to a project
    /// of its organisation.
    pub async fn for_project(
        req: &HttpRequest,
        state: &AppState,
        project_id: &str,
    ) -> Result<Self, UiError> {
        let Some(mut s) = Self::current(req, state).await? else {
            return Err(UiError::SignIn(here(req)));
        };
        if s.row.project_id != project_id {
            if s.row.is_admin && s.projects.iter().any(|(id, _)| id == project_id) {
                store::ui::switch_project(&state.pool, &s.token_hash, project_id).await?;
                s.row.project_id = project_id.to_string();
            } else {
                return Err(UiError::NotFound);
            }
        }
        Ok(s)
    }
}

/// `GET /`: the project's traces when signed in, else sign-in.
pub async fn root(req: HttpRequest, state: web::Data<AppState>) -> UiResult {
    Ok(match UiSession::current(&req, &state).await? {
        Some(s) => redirect(&format!(
            "/project/{}/traces",
            path_encode(&s.row.project_id)
        )),
        None => redirect("/auth/sign-in"),
    })
}

fn sign_in_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    next: Option<&str>,
    error: Option<&str>,
) -> HttpResponse {
    let csrf = random_token();
    let body = html! {
        main.narrow.signin {
            h1 { "Sign in to xtrace" }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/auth/sign-in" {
                input type="hidden" name="csrf" value=(csrf);
                @if let Some(n) = next { input type="hidden" name="next" value=(n); }
                fieldset {
                    legend { "Project API keys" }
                    label for="public_key" { "Public key" }
                    input #public_key name="public_key" autocomplete="username" placeholder="pk-lf-…";
                    label for="secret_key" { "Secret key" }
                    input #secret_key type="password" name="secret_key" autocomplete="current-password" placeholder="sk-lf-…";
                }
                fieldset {
                    legend { "…or the admin token" }
                    label for="admin_token" { "Admin token (API_BEARER_TOKEN)" }
                    input #admin_token type="password" name="admin_token" autocomplete="off";
                }
                button #sign-in type="submit" { "Sign in" }
            }
        }
    };
    let mut resp = html_response(status, bare_page("Sign in", body));
    let _ = resp.add_cookie(&cookie(req, state, CSRF_COOKIE, csrf, "/auth"));
    resp
}

/// `GET /auth/sign-in[?next=/path]`.
pub async fn sign_in_form(req: HttpRequest, state: web::Data<AppState>) -> UiResult {
    let p = super::Params::from_req(&req);
    let next = safe_next(p.get("next"));
    if let (Some(s), Some(n)) = (UiSession::current(&req, &state).await?, &next) {
        let _ = s;
        return Ok(redirect(n));
    }
    Ok(sign_in_page(
        &req,
        &state,
        StatusCode::OK,
        next.as_deref(),
        None,
    ))
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    csrf: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    public_key: String,
    #[serde(default)]
    secret_key: String,
    #[serde(default)]
    admin_token: String,
}

/// `POST /auth/sign-in`.
pub async fn sign_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SignInForm>,
) -> UiResult {
    let f = form.into_inner();
    let next = safe_next(f.next.as_deref());
    let csrf_ok = req.cookie(CSRF_COOKIE).is_some_and(|c| {
        !f.csrf.is_empty() && bool::from(c.value().as_bytes().ct_eq(f.csrf.as_bytes()))
    });
    if !csrf_ok {
        return Ok(sign_in_page(
            &req,
            &state,
            StatusCode::FORBIDDEN,
            next.as_deref(),
            Some("The form expired; please sign in again."),
        ));
    }
    let admin = f.admin_token.trim();
    let row = if !admin.is_empty() {
        if !bool::from(admin.as_bytes().ct_eq(state.bearer_token.as_bytes())) {
            None
        } else {
            Some(UiSessionRow {
                is_admin: true,
                project_id: state.config.default_project_id.clone(),
                public_key: None,
                csrf_token: random_token(),
                expires_at: Utc::now() + Duration::hours(SESSION_HOURS),
            })
        }
    } else {
        let pk = f.public_key.trim();
        let sk = f.secret_key.trim();
        let creds = match pk.is_empty() || sk.is_empty() {
            true => None,
            false => store::projects::find_key_credentials(&state.pool, pk).await?,
        };
        let valid = match &creds {
            Some(c) => crate::auth::check_secret(&c.secret_salt, &c.secret_hash, sk).await,
            None => false,
        };
        match (valid, creds) {
            (true, Some(creds)) => Some(UiSessionRow {
                is_admin: false,
                project_id: creds.project_id,
                public_key: Some(pk.to_string()),
                csrf_token: random_token(),
                expires_at: Utc::now() + Duration::hours(SESSION_HOURS),
            }),
            _ => None,
        }
    };
    let Some(row) = row else {
        return Ok(sign_in_page(
            &req,
            &state,
            StatusCode::UNAUTHORIZED,
            next.as_deref(),
            Some("Invalid credentials."),
        ));
    };
    let token = random_token();
    store::ui::create_session(&state.pool, &hash_token(&token), &row).await?;
    let to = next.unwrap_or_else(|| format!("/project/{}/traces", path_encode(&row.project_id)));
    let mut resp = redirect(&to);
    let _ = resp.add_cookie(&cookie(&req, &state, SESSION_COOKIE, token, "/"));
    let mut gone = cookie(&req, &state, CSRF_COOKIE, String::new(), "/auth");
    gone.make_removal();
    let _ = resp.add_cookie(&gone);
    Ok(resp)
}

/// A form that only carries the CSRF token (and maybe a project).
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    project: Option<String>,
}

fn check_csrf(s: &UiSession, token: &str) -> Result<(), UiError> {
    if !token.is_empty() && bool::from(token.as_bytes().ct_eq(s.row.csrf_token.as_bytes())) {
        Ok(())
    } else {
        Err(UiError::BadRequest("Invalid or missing CSRF token.".into()))
    }
}

/// `POST /auth/sign-out`.
pub async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> UiResult {
    let Some(s) = UiSession::current(&req, &state).await? else {
        return Ok(redirect("/auth/sign-in"));
    };
    check_csrf(&s, &form.csrf)?;
    store::ui::delete_session(&state.pool, &s.token_hash).await?;
    let mut resp = redirect("/auth/sign-in");
    let mut gone = cookie(&req, &state, SESSION_COOKIE, String::new(), "/");
    gone.make_removal();
    let _ = resp.add_cookie(&gone);
    Ok(resp)
}

/// `POST /auth/project` (admin sessions).
pub async fn switch_project(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> UiResult {
    let Some(s) = UiSession::current(&req, &state).await? else {
        return Ok(redirect("/auth/sign-in"));
    };
    check_csrf(&s, &form.csrf)?;
    let target = form.project.clone().unwrap_or_default();
    if !s.row.is_admin || !s.projects.iter().any(|(id, _)| *id == target) {
        return Err(UiError::NotFound);
    }
    store::ui::switch_project(&state.pool, &s.token_hash, &target).await?;
    Ok(redirect(&format!(
        "/project/{}/traces",
        path_encode(&target)
    )))
}
