//! The OpenAPI document, generated from the handlers themselves: every service registered
//! in [`crate::startup::routes`] contributes its path, so the spec lists exactly the routes
//! the server serves. `cargo run --example print_openapi > openapi/openapi.json`
//! regenerates the checked-in copy; a test fails when it drifts.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

/// Document-level information; paths come from the route table.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "xtrace",
        description = "Drop-in replacement for the Langfuse server's public API. \
            Authenticate with HTTP Basic `publicKey:secretKey` (project keys) or \
            `Bearer <API_BEARER_TOKEN>` (admin, acting on DEFAULT_PROJECT_ID). \
            `Bearer <publicKey>` is accepted where Langfuse allows score-only access.",
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "Health", description = "Liveness and readiness"),
        (name = "Projects", description = "Projects and API keys"),
        (name = "Organizations", description = "Organisation-scoped management"),
        (name = "Ingestion", description = "Batch ingestion of traces, observations and scores"),
        (name = "Trace", description = "Traces"),
        (name = "Span", description = "Legacy span writes"),
        (name = "Generation", description = "Legacy generation writes"),
        (name = "Event", description = "Legacy event writes"),
        (name = "Score", description = "Scores"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "BasicAuth",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        components.add_security_scheme(
            "BearerAuth",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The complete document: `ApiDoc` plus every path of the route table.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::startup::routes)
        .split_for_parts();
    doc
}

/// The document as the pretty JSON checked in at `openapi/openapi.json`.
pub fn document_json() -> String {
    let mut s = document()
        .to_pretty_json()
        .expect("the OpenAPI document is plain data and always serialises");
    s.push('\n');
    s
}
