//! LLM connections: `GET/PUT /api/public/llm-connections`, `DELETE …/{id}`.
//!
//! Rules (Langfuse `web/src/pages/api/public/llm-connections/*`): PUT upserts on `provider`
//! (201 when created, 200 when updated); `adapter` is one of Langfuse's adapters; the secret
//! key is never returned, only `displaySecretKey` (`...` and its last four characters);
//! extra header values are never returned, only their keys; `config` is required for
//! bedrock (`{"region"}`), optional for openai (`{"useResponsesApi"}`) and google-vertex-ai
//! (`{"location"}`) and refused for the other adapters. Secrets are stored AES-256-GCM
//! encrypted (see `domain::encryption`). xtrace never calls the provider.

use std::collections::BTreeMap;

use actix_web::{delete, get, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::params::{path_segment, QueryParams};
use crate::api::{ErrorBody, MessageResponse, MetaResponse};
use crate::auth::ProjectAuth;
use crate::domain::encryption::SecretBox;
use crate::domain::time;
use crate::error::{ApiError, ValidationIssue};
use crate::startup::AppState;
use crate::store::llm_connections::{self as store, ConnectionData, ConnectionRow};

/// Langfuse `LlmConnection` (secrets excluded).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LlmConnection {
    /// Id.
    pub id: String,
    /// Provider name (unique in the project).
    pub provider: String,
    /// Adapter.
    pub adapter: String,
    /// Masked secret key.
    pub display_secret_key: String,
    /// Custom base URL.
    #[serde(rename = "baseURL")]
    pub base_url: Option<String>,
    /// Custom model names.
    pub custom_models: Vec<String>,
    /// Whether default models are offered.
    pub with_default_models: bool,
    /// Names of extra headers (values are never returned).
    pub extra_header_keys: Vec<String>,
    /// Adapter-specific configuration.
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// Created.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    /// Updated.
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl From<ConnectionRow> for LlmConnection {
    fn from(r: ConnectionRow) -> Self {
        Self {
            id: r.id,
            provider: r.provider,
            adapter: r.adapter,
            display_secret_key: r.display_secret_key,
            base_url: r.base_url,
            custom_models: r.custom_models,
            with_default_models: r.with_default_models,
            extra_header_keys: r.extra_header_keys,
            config: r.config,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Langfuse `PaginatedLlmConnections`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaginatedLlmConnections {
    /// Connections.
    pub data: Vec<LlmConnection>,
    /// Pagination.
    pub meta: MetaResponse,
}

/// Langfuse `UpsertLlmConnectionRequest`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpsertLlmConnectionRequest {
    /// Provider name (upsert key).
    pub provider: String,
    /// anthropic, openai, azure, bedrock, google-vertex-ai, google-ai-studio.
    pub adapter: String,
    /// The provider's secret key (stored encrypted, never returned).
    pub secret_key: String,
    /// Custom base URL.
    #[serde(rename = "baseURL")]
    pub base_url: Option<String>,
    /// Custom model names.
    pub custom_models: Option<Vec<String>>,
    /// Whether default models are offered (default true).
    pub with_default_models: Option<bool>,
    /// Extra headers (values stored encrypted, never returned).
    pub extra_headers: Option<BTreeMap<String, String>>,
    /// Adapter-specific configuration.
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
}

const ADAPTERS: [&str; 6] = [
    "anthropic",
    "openai",
    "azure",
    "bedrock",
    "google-vertex-ai",
    "google-ai-studio",
];

/// Langfuse's masked form of a provider key.
fn display_secret_key(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("...{tail}")
}

fn validate_config(adapter: &str, config: &Option<Value>, issues: &mut Vec<ValidationIssue>) {
    let only_key = |key: &str, ok: fn(&Value) -> bool| match config {
        Some(Value::Object(m)) => m.len() == 1 && m.get(key).is_some_and(ok),
        _ => false,
    };
    let problem = match (adapter, config) {
        ("bedrock", _) if !only_key("region", |v| v.as_str().is_some_and(|s| !s.is_empty())) => {
            Some("Bedrock connections require config {\"region\": \"<aws-region>\"}")
        }
        ("openai", Some(_)) if !only_key("useResponsesApi", Value::is_boolean) => {
            Some("OpenAI config must be {\"useResponsesApi\": <boolean>}")
        }
        ("google-vertex-ai", Some(_))
            if !only_key("location", |v| v.as_str().is_some_and(|s| !s.is_empty())) =>
        {
            Some("Vertex AI config must be {\"location\": \"<gcp-location>\"}")
        }
        ("bedrock" | "openai" | "google-vertex-ai", _) | (_, None) => None,
        (_, Some(_)) => Some("config is not supported for this adapter"),
    };
    if let Some(m) = problem {
        issues.push(ValidationIssue::new("custom", "config", m));
    }
}

/// Langfuse `llmConnections_list`.
#[utoipa::path(tag = "LlmConnections", security(("BasicAuth" = []), ("BearerAuth" = [])),
    params(("page" = Option<u32>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, body = PaginatedLlmConnections), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[get("/api/public/llm-connections")]
pub async fn list_llm_connections(
    auth: ProjectAuth,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<PaginatedLlmConnections>, ApiError> {
    let page = q.default_page()?;
    let (rows, total) = store::list(&state.pool, &auth.project_id, page).await?;
    Ok(web::Json(PaginatedLlmConnections {
        data: rows.into_iter().map(Into::into).collect(),
        meta: MetaResponse::new(page.page, page.limit, total),
    }))
}

/// Langfuse `llmConnections_upsert`: 201 when created, 200 when the provider's connection
/// was replaced.
#[utoipa::path(tag = "LlmConnections", security(("BasicAuth" = []), ("BearerAuth" = [])),
    request_body = UpsertLlmConnectionRequest,
    responses((status = 200, body = LlmConnection), (status = 201, body = LlmConnection), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[put("/api/public/llm-connections")]
pub async fn upsert_llm_connection(
    auth: ProjectAuth,
    body: web::Json<UpsertLlmConnectionRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let mut issues = Vec::new();
    if b.provider.trim().is_empty() {
        issues.push(ValidationIssue::new(
            "too_small",
            "provider",
            "String must contain at least 1 character(s)",
        ));
    }
    if !ADAPTERS.contains(&b.adapter.as_str()) {
        issues.push(ValidationIssue::new(
            "invalid_enum_value",
            "adapter",
            format!(
                "Invalid enum value. Expected {}, received '{}'",
                ADAPTERS.map(|a| format!("'{a}'")).join(" | "),
                b.adapter
            ),
        ));
    }
    if b.secret_key.is_empty() {
        issues.push(ValidationIssue::new(
            "too_small",
            "secretKey",
            "String must contain at least 1 character(s)",
        ));
    }
    if let Some(u) = &b.base_url {
        if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() <= "https://".len() {
            issues.push(ValidationIssue::new(
                "invalid_string",
                "baseURL",
                "Invalid url",
            ));
        }
    }
    let custom_models = b.custom_models.unwrap_or_default();
    if custom_models.iter().any(|m| m.trim().is_empty()) {
        issues.push(ValidationIssue::new(
            "too_small",
            "customModels",
            "Model names must contain at least 1 character(s)",
        ));
    }
    validate_config(&b.adapter, &b.config, &mut issues);
    if !issues.is_empty() {
        return Err(ApiError::InvalidRequestData(issues));
    }
    let secrets = SecretBox::for_config(&state.config)?;
    let headers = b.extra_headers.unwrap_or_default();
    let data = ConnectionData {
        provider: b.provider,
        adapter: b.adapter,
        secret_key_sealed: secrets.seal(&b.secret_key),
        display_secret_key: display_secret_key(&b.secret_key),
        base_url: b.base_url,
        custom_models,
        with_default_models: b.with_default_models.unwrap_or(true),
        extra_headers_sealed: (!headers.is_empty()).then(|| {
            secrets.seal(&serde_json::to_string(&headers).expect("a string map serialises"))
        }),
        extra_header_keys: headers.keys().cloned().collect(),
        config: b.config.filter(|c| !c.is_null()),
    };
    let (row, created) = store::upsert(&state.pool, &auth.project_id, &data).await?;
    let mut res = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(res.json(LlmConnection::from(row)))
}

/// Langfuse `llmConnections_delete`.
#[utoipa::path(tag = "LlmConnections", security(("BasicAuth" = []), ("BearerAuth" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = MessageResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/api/public/llm-connections/{id}")]
pub async fn delete_llm_connection(
    auth: ProjectAuth,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let id = path_segment(&req, "id")?;
    if !store::delete(&state.pool, &auth.project_id, &id).await? {
        return Err(ApiError::NotFound("LLM connection not found".into()));
    }
    Ok(web::Json(MessageResponse {
        message: "LLM connection successfully deleted".into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_key_shows_only_the_last_four_characters() {
        assert_eq!(display_secret_key("sk-abcdef123456"), "...3456");
        assert_eq!(display_secret_key("ab"), "...ab");
    }
}
