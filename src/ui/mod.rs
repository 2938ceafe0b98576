//! The built-in web UI: server-rendered HTML pages (maud templates, checked at compile
//! time) over the same store functions and project scoping as the public API, plus one
//! small JavaScript file and one stylesheet embedded in the binary.
//!
//! Routes (all outside `/api/public`):
//! - `/` → the signed-in project's trace list, or the sign-in page;
//! - `/auth/sign-in` (GET form, POST key pair or admin token), `/auth/sign-out` (POST),
//!   `/auth/project` (POST, admin sessions switch project);
//! - `/project/{projectId}/…`: traces, trace detail, sessions, scores, dashboard, prompts,
//!   datasets, infrastructure metrics (see `pages`, `traces`);
//! - `/ui/assets/{file}`: the embedded JS and CSS; `/ui/live/…`: the live trace list's
//!   polling fragment; `/ui/media/{mediaId}`: uploaded media of the session's project.
//!
//! Every page answers with a strict Content-Security-Policy (scripts and styles from the
//! server only, no inline script), `X-Frame-Options: DENY`, `frame-ancestors 'none'`,
//! `nosniff`, `no-referrer` and `Cache-Control: no-store`.

pub mod charts;
pub mod pages;
pub mod render;
pub mod session;
pub mod traces;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::startup::AppState;
use session::UiSession;

/// Registers the UI routes on the app (called from `startup::build_server`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(session::root))
        .route("/auth/sign-in", web::get().to(session::sign_in_form))
        .route("/auth/sign-in", web::post().to(session::sign_in))
        .route("/auth/sign-out", web::post().to(session::sign_out))
        .route("/auth/project", web::post().to(session::switch_project))
        .route("/ui/assets/{file}", web::get().to(asset))
        .route("/ui/media/{media_id}", web::get().to(pages::media))
        .route(
            "/ui/live/project/{project_id}/traces",
            web::get().to(traces::live_rows),
        )
        .route("/project/{project_id}", web::get().to(project_home))
        .route("/project/{project_id}/traces", web::get().to(traces::list))
        .route(
            "/project/{project_id}/traces/{trace_id}",
            web::get().to(traces::detail),
        )
        .route(
            "/project/{project_id}/sessions",
            web::get().to(pages::sessions),
        )
        .route(
            "/project/{project_id}/sessions/{session_id}",
            web::get().to(pages::session),
        )
        .route("/project/{project_id}/scores", web::get().to(pages::scores))
        .route(
            "/project/{project_id}/dashboard",
            web::get().to(pages::dashboard),
        )
        .route(
            "/project/{project_id}/prompts",
            web::get().to(pages::prompts),
        )
        .route(
            "/project/{project_id}/prompts/{name:.+}",
            web::get().to(pages::prompt),
        )
        .route(
            "/project/{project_id}/datasets",
            web::get().to(pages::datasets),
        )
        .route(
            "/project/{project_id}/datasets/{dataset_id}",
            web::get().to(pages::dataset),
        )
        .route(
            "/project/{project_id}/datasets/{dataset_id}/runs/{run_name}",
            web::get().to(pages::dataset_run),
        )
        .route(
            "/project/{project_id}/datasets/{dataset_id}/compare",
            web::get().to(pages::dataset_compare),
        )
        .route(
            "/project/{project_id}/metrics",
            web::get().to(pages::metrics),
        );
}

const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The Content-Security-Policy of every UI response.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

async fn asset(path: web::Path<String>) -> HttpResponse {
    let (body, ctype) = match path.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return with_security_headers(HttpResponse::NotFound()).body("not found"),
    };
    let mut resp = HttpResponse::Ok();
    resp.insert_header((header::CONTENT_TYPE, ctype))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header(("X-Content-Type-Options", "nosniff"));
    resp.body(body)
}

/// Adds the security headers every UI response carries.
pub fn with_security_headers(
    mut b: actix_web::HttpResponseBuilder,
) -> actix_web::HttpResponseBuilder {
    b.insert_header(("Content-Security-Policy", CSP))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    b
}

/// An HTML response with the security headers.
pub fn html_response(status: StatusCode, body: Markup) -> HttpResponse {
    with_security_headers(HttpResponse::build(status))
        .content_type("text/html; charset=utf-8")
        .body(body.into_string())
}

/// A 303 redirect (after a form post, or to sign-in).
pub fn redirect(to: &str) -> HttpResponse {
    with_security_headers(HttpResponse::SeeOther())
        .insert_header((header::LOCATION, to))
        .finish()
}

/// What a UI handler can fail with; rendered as an HTML page.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// Not signed in: go to sign-in, then back to this path.
    #[error("sign in required")]
    SignIn(String),
    /// Nothing here (also what a page of another project answers).
    #[error("not found")]
    NotFound,
    /// A bad parameter.
    #[error("{0}")]
    BadRequest(String),
    /// The database failed.
    #[error("database error")]
    Db(#[from] sqlx::Error),
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self {
            // The response is a 303 to sign-in (see `error_response`); the status reported
            // here only classifies the event for request logging (a client error, not a
            // server error).
            UiError::SignIn(_) => StatusCode::UNAUTHORIZED,
            UiError::NotFound => StatusCode::NOT_FOUND,
            UiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            UiError::Db(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, text) = match self {
            UiError::SignIn(next) => {
                return redirect(&format!("/auth/sign-in?next={}", url_encode(next)));
            }
            UiError::NotFound => (
                "Not found",
                "Nothing here, or it belongs to another project.".to_string(),
            ),
            UiError::BadRequest(m) => ("Bad request", m.clone()),
            UiError::Db(e) => {
                tracing::warn!(error = %e, "database error in the web UI");
                (
                    "Unavailable",
                    "The database could not be reached; try again.".into(),
                )
            }
        };
        html_response(
            self.status_code(),
            bare_page(
                title,
                html! { main.narrow { h1 { (title) } p { (text) } p { a href="/" { "Home" } } } },
            ),
        )
    }
}

/// Result of a UI handler.
pub type UiResult = Result<HttpResponse, UiError>;

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Percent-encodes a path segment.
pub fn path_encode(s: &str) -> String {
    url_encode(s)
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · xtrace" }
            link rel="icon" href="data:,";
            link rel="stylesheet" href="/ui/assets/app.css";
            script src="/ui/assets/app.js" defer {}
        }
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { (body) }
        }
    }
}

/// Navigation sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Traces.
    Traces,
    /// Sessions.
    Sessions,
    /// Scores.
    Scores,
    /// Dashboard.
    Dashboard,
    /// Prompts.
    Prompts,
    /// Datasets.
    Datasets,
    /// Infrastructure metrics.
    Metrics,
}

/// A signed-in page: header with navigation, project (switcher for admins), sign-out.
pub fn page(s: &UiSession, section: Section, title: &str, body: Markup) -> Markup {
    let projects = &s.projects;
    let p = path_encode(&s.row.project_id);
    let nav = [
        (Section::Traces, "traces", "Traces"),
        (Section::Sessions, "sessions", "Sessions"),
        (Section::Scores, "scores", "Scores"),
        (Section::Dashboard, "dashboard", "Dashboard"),
        (Section::Prompts, "prompts", "Prompts"),
        (Section::Datasets, "datasets", "Datasets"),
        (Section::Metrics, "metrics", "Infra metrics"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "xtrace" }
                    nav aria-label="Sections" {
                        @for (sec, slug, label) in nav {
                            a href=(format!("/project/{p}/{slug}"))
                              aria-current=[(sec == section).then_some("page")] { (label) }
                        }
                    }
                    div.who {
                        @if s.row.is_admin && !projects.is_empty() {
                            form.inline method="post" action="/auth/project" {
                                input type="hidden" name="csrf" value=(s.row.csrf_token);
                                label for="project-switch" { "Project" }
                                select #project-switch name="project" data-autosubmit="1" {
                                    @for (id, name) in projects {
                                        option value=(id) selected[*id == s.row.project_id] {
                                            (name) " (" (id) ")"
                                        }
                                    }
                                }
                                button type="submit" { "Switch" }
                            }
                        } @else {
                            span.project title="Project" { "Project " code #project-id { (s.row.project_id) } }
                        }
                        form.inline method="post" action="/auth/sign-out" {
                            input type="hidden" name="csrf" value=(s.row.csrf_token);
                            button #sign-out type="submit" { "Sign out" }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    }
}

/// Renders trusted, already escaped markup (SVG built by `charts`).
pub fn raw(s: String) -> PreEscaped<String> {
    PreEscaped(s)
}

/// `GET /project/{projectId}` → its trace list.
async fn project_home(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> UiResult {
    let s = UiSession::for_project(&req, &state, &path).await?;
    Ok(redirect(&format!(
        "/project/{}/traces",
        path_encode(&s.row.project_id)
    )))
}

/// Query parameters as pairs (repeated keys kept), with helpers.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parses the request's query string (undecodable input yields no parameters).
    pub fn from_req(req: &HttpRequest) -> Self {
        Params(
            web::Query::<Vec<(String, String)>>::from_query(req.query_string())
                .map(|q| q.into_inner())
                .unwrap_or_default(),
        )
    }

    /// The first non-empty value of `k`, trimmed.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, v)| n == k && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }

    /// Every non-empty value of `k`.
    pub fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, v)| n == k && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }

    /// The query string with `k` set to `v` (or removed when `v` is None).
    pub fn with(&self, k: &str, v: Option<&str>) -> String {
        let mut pairs: Vec<(String, String)> = self
            .0
            .iter()
            .filter(|(n, val)| n != k && !val.is_empty())
            .cloned()
            .collect();
        if let Some(v) = v {
            pairs.push((k.to_string(), v.to_string()));
        }
        if pairs.is_empty() {
            return String::new();
        }
        let q: Vec<String> = pairs
            .iter()
            .map(|(n, v)| format!("{}={}", url_encode(n), url_encode(v)))
            .collect();
        format!("?{}", q.join("&"))
    }
}
