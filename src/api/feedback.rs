//! `POST /api/public/feedback`: stores the submission in the project's database (xtrace
//! forwards nothing). Rules (Langfuse `web/src/features/public-api/types/feedback.ts`):
//! `targetType` one of skill, mcp-tool, cli, docs, public-api, other; `target` 1..200 and
//! `feedback` 1..3000 characters after trimming; `goal` 1..1500 when given; `referenceUrl`
//! an http(s) URL of at most 2048 characters; unknown keys are refused; 201 with the id.

use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::ErrorBody;
use crate::auth::ProjectAuth;
use crate::error::{ApiError, ValidationIssue};
use crate::startup::AppState;
use crate::store::feedback::{self as store, NewFeedback};

/// Langfuse `SubmitFeedbackRequest`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubmitFeedbackRequest {
    /// skill, mcp-tool, cli, docs, public-api, other.
    pub target_type: String,
    /// The specific skill, tool, command, endpoint or page.
    pub target: String,
    /// The feedback text.
    pub feedback: String,
    /// Optional goal.
    pub goal: Option<String>,
    /// Optional http(s) reference URL (stored as text, never fetched).
    pub reference_url: Option<String>,
}

/// Langfuse `SubmitFeedbackResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmitFeedbackResponse {
    /// Correlation id.
    pub id: String,
}

const TARGET_TYPES: [&str; 6] = ["skill", "mcp-tool", "cli", "docs", "public-api", "other"];

fn length(field: &str, v: &str, max: usize, issues: &mut Vec<ValidationIssue>) {
    let n = v.chars().count();
    if n == 0 {
        issues.push(ValidationIssue::new(
            "too_small",
            field,
            "String must contain at least 1 character(s)",
        ));
    } else if n > max {
        issues.push(ValidationIssue::new(
            "too_big",
            field,
            format!("String must contain at most {max} character(s)"),
        ));
    }
}

/// Langfuse `feedback_submit`.
#[utoipa::path(tag = "Feedback", security(("BasicAuth" = []), ("BearerAuth" = [])),
    request_body = SubmitFeedbackRequest,
    responses((status = 201, body = SubmitFeedbackResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[post("/api/public/feedback")]
pub async fn submit_feedback(
    auth: ProjectAuth,
    body: web::Json<SubmitFeedbackRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let mut issues = Vec::new();
    if !TARGET_TYPES.contains(&b.target_type.as_str()) {
        issues.push(ValidationIssue::new(
            "invalid_enum_value",
            "targetType",
            format!(
                "Invalid enum value. Expected {}, received '{}'",
                TARGET_TYPES.map(|a| format!("'{a}'")).join(" | "),
                b.target_type
            ),
        ));
    }
    let target = b.target.trim().to_string();
    let feedback = b.feedback.trim().to_string();
    let goal = b.goal.map(|g| g.trim().to_string());
    length("target", &target, 200, &mut issues);
    length("feedback", &feedback, 3000, &mut issues);
    if let Some(g) = &goal {
        length("goal", g, 1500, &mut issues);
    }
    if let Some(u) = &b.reference_url {
        let scheme_ok = u.starts_with("http://") || u.starts_with("https://");
        let host = u.split_once("://").map_or("", |(_, r)| r);
        if !scheme_ok || host.is_empty() || host.contains(char::is_whitespace) {
            issues.push(ValidationIssue::new(
                "custom",
                "referenceUrl",
                "referenceUrl must use http or https",
            ));
        } else if u.len() > 2048 {
            issues.push(ValidationIssue::new(
                "too_big",
                "referenceUrl",
                "String must contain at most 2048 character(s)",
            ));
        }
    }
    if !issues.is_empty() {
        return Err(ApiError::InvalidRequestData(issues));
    }
    let id = store::insert(
        &state.pool,
        &auth.project_id,
        &NewFeedback {
            target_type: b.target_type,
            target,
            feedback,
            goal,
            reference_url: b.reference_url,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(SubmitFeedbackResponse { id }))
}
