//! Langfuse prompt management (`/api/public/v2/prompts`): versioned text and chat prompts
//! with labels (`latest` maintained automatically, every other label on one version at a
//! time), fetched by the SDKs at runtime by label (default `production`) or version.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::api::params::{name_candidates, path_segment};
use crate::api::{ErrorBody, MetaResponse};
use crate::auth::ProjectAuth;
use crate::domain::time;
use crate::error::{ApiError, ValidationIssue};
use crate::startup::AppState;
use crate::store::prompts::{self as store, PromptGroup, PromptRow, Selector, LATEST_LABEL};

/// Langfuse `Prompt` (text or chat), as returned by create, get and label updates.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Prompt {
    /// Version id.
    pub id: String,
    /// Creation time.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: DateTime<Utc>,
    /// Project.
    pub project_id: String,
    /// `API`.
    pub created_by: String,
    /// A string (text) or an array of messages and placeholders (chat).
    pub prompt: Value,
    /// Name.
    pub name: String,
    /// Version number.
    pub version: i32,
    /// `text` or `chat`.
    pub r#type: String,
    /// Deprecated: whether the version carries `production` (null on create).
    pub is_active: Option<bool>,
    /// Free JSON config.
    #[schema(value_type = Object)]
    pub config: Value,
    /// Tags.
    pub tags: Vec<String>,
    /// Labels.
    pub labels: Vec<String>,
    /// Commit message.
    pub commit_message: Option<String>,
    /// Dependency graph of the resolved prompt references, on fetch only:
    /// `{root: {name, version, id}, dependencies: {parentId: [{id, name, version}]}}`, null
    /// when the prompt references nothing or `resolve=false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub resolution_graph: Option<Value>,
}

impl Prompt {
    /// `graph` is `Some` on fetch (the resolution graph, possibly null), `None` elsewhere.
    fn from_row(r: PromptRow, graph: Option<Value>) -> Self {
        let fetched = graph.is_some();
        Prompt {
            is_active: fetched.then(|| r.labels.iter().any(|l| l == "production")),
            resolution_graph: graph,
            id: r.id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            project_id: r.project_id,
            created_by: r.created_by,
            prompt: r.prompt,
            name: r.name,
            version: r.version,
            r#type: r.r#type,
            config: r.config,
            tags: r.tags,
            labels: r.labels,
            commit_message: r.commit_message,
        }
    }
}

/// Langfuse `CreatePromptRequest` (text or chat).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatePromptRequest {
    /// Name; `/` creates folders.
    pub name: Option<Value>,
    /// A string (text) or an array of `{role, content}` / `{type:"placeholder", name}` (chat).
    pub prompt: Option<Value>,
    /// `text` (default) or `chat`.
    pub r#type: Option<Value>,
    /// Labels to put on the new version.
    #[schema(value_type = Option<Vec<String>>)]
    pub labels: Option<Value>,
    /// Config (default `{}`).
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// Tags; absent keeps the previous version's tags.
    #[schema(value_type = Option<Vec<String>>)]
    pub tags: Option<Value>,
    /// Commit message (≤500 characters).
    pub commit_message: Option<Value>,
}

/// Query of `GET /api/public/v2/prompts/{promptName}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetPromptQuery {
    /// Version number.
    pub version: Option<String>,
    /// Label (default `production`).
    pub label: Option<String>,
    /// Resolve `@@@langfusePrompt:…@@@` references (`true`, default) or return the stored
    /// prompt as written (`false`).
    pub resolve: Option<String>,
}

/// Query of `DELETE /api/public/v2/prompts/{promptName}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeletePromptQuery {
    /// Delete only this version.
    pub version: Option<String>,
    /// Delete only versions carrying this label.
    pub label: Option<String>,
}

/// Query of `GET /api/public/v2/prompts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListPromptsQuery {
    /// Exact name.
    pub name: Option<String>,
    /// Exact version.
    pub version: Option<String>,
    /// Label.
    pub label: Option<String>,
    /// Tag.
    pub tag: Option<String>,
    /// Page (from 1).
    pub page: Option<String>,
    /// Names per page (1–100, default 10).
    pub limit: Option<String>,
    /// Versions updated at or after this time.
    pub from_updated_at: Option<String>,
    /// Versions updated before this time.
    pub to_updated_at: Option<String>,
}

/// Langfuse `PromptMeta`: one name of the list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptMeta {
    /// Name.
    pub name: String,
    /// `text` or `chat`.
    pub r#type: String,
    /// Matching versions.
    pub versions: Vec<i32>,
    /// Labels across the matching versions.
    pub labels: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Latest change among the matching versions.
    #[serde(serialize_with = "time::serialize")]
    pub last_updated_at: DateTime<Utc>,
    /// Config of the newest matching version.
    #[schema(value_type = Object)]
    pub last_config: Value,
}

impl From<PromptGroup> for PromptMeta {
    fn from(g: PromptGroup) -> Self {
        PromptMeta {
            name: g.name,
            r#type: g.r#type,
            versions: g.versions,
            labels: g.labels,
            tags: g.tags,
            last_updated_at: g.last_updated_at,
            last_config: g.last_config,
        }
    }
}

/// Langfuse `PromptMetaListResponse` (`pagination` repeats `meta`, as Langfuse sends it).
#[derive(Debug, Serialize, ToSchema)]
pub struct PromptMetaListResponse {
    /// Names of the page.
    pub data: Vec<PromptMeta>,
    /// Pagination.
    pub meta: MetaResponse,
    /// Same as `meta` (kept for older clients).
    pub pagination: MetaResponse,
}

/// Body of `PATCH /api/public/v2/prompts/{name}/versions/{version}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePromptRequest {
    /// Labels to add to the version (and remove from the others).
    #[schema(value_type = Vec<String>)]
    pub new_labels: Option<Value>,
}

fn is_valid_label(l: &str) -> bool {
    (1..=36).contains(&l.len())
        && l.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b))
}

fn string_list(field: &str, v: &Value, issues: &mut Vec<ValidationIssue>) -> Vec<String> {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, x)| match x.as_str() {
                Some(s) => Some(s.to_string()),
                None => {
                    issues.push(ValidationIssue::new(
                        "invalid_type",
                        &format!("{field}.{i}"),
                        "Expected string",
                    ));
                    None
                }
            })
            .collect(),
        _ => {
            issues.push(ValidationIssue::new(
                "invalid_type",
                field,
                "Expected array",
            ));
            Vec::new()
        }
    }
}

fn check_labels(field: &str, labels: &[String], issues: &mut Vec<ValidationIssue>) {
    for (i, l) in labels.iter().enumerate() {
        if !is_valid_label(l) {
            issues.push(ValidationIssue::new(
                "invalid_string",
                &format!("{field}.{i}"),
                "Label must be 1-36 characters of lowercase letters, digits, '_', '-' or '.'",
            ));
        }
    }
}

/// Why `name` cannot be a prompt name (Langfuse's rules), if it cannot.
fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("Enter a name");
    }
    if name.contains('<') && name.contains('>') {
        return Some("Name cannot contain HTML tags");
    }
    if name.contains('|') {
        return Some("Prompt name cannot contain '|' character");
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return Some("Name cannot start or end with a slash or contain consecutive slashes");
    }
    if ["new", "metrics", "prompt-detail"].contains(&name) {
        return Some("Prompt name cannot be 'new', 'metrics' or 'prompt-detail'");
    }
    None
}

/// `{{variable}}` names used in `text`.
fn variables(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let v = after[..end].trim();
        if !v.is_empty() && v.chars().all(|c| c.is_alphanumeric() || c == '_') {
            out.push(v.to_string());
        }
        rest = &after[end + 2..];
    }
    out
}

fn is_placeholder_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Validates a create request into a store value, with zod-like issues.
fn validate_create(body: CreatePromptRequest) -> Result<store::NewPrompt, ApiError> {
    let mut issues = Vec::new();
    let name = match &body.name {
        Some(Value::String(s)) => {
            if let Some(p) = name_problem(s) {
                issues.push(ValidationIssue::new("custom", "name", p));
            }
            s.clone()
        }
        Some(_) => {
            issues.push(ValidationIssue::new(
                "invalid_type",
                "name",
                "Expected string",
            ));
            String::new()
        }
        None => {
            issues.push(ValidationIssue::new("invalid_type", "name", "Required"));
            String::new()
        }
    };
    let ty = match &body.r#type {
        None | Some(Value::Null) => "text",
        Some(Value::String(s)) if s == "text" => "text",
        Some(Value::String(s)) if s == "chat" => "chat",
        Some(_) => {
            issues.push(ValidationIssue::new(
                "invalid_union_discriminator",
                "type",
                "Invalid discriminator value. Expected 'chat' | 'text'",
            ));
            "text"
        }
    };
    let prompt = body.prompt.unwrap_or(Value::Null);
    let mut texts = Vec::new();
    let mut placeholders = Vec::new();
    match (ty, &prompt) {
        ("text", Value::String(s)) => texts.push(s.clone()),
        ("chat", Value::Array(msgs)) => {
            for (i, m) in msgs.iter().enumerate() {
                let at = format!("prompt.{i}");
                let is_placeholder = m.get("type").and_then(Value::as_str) == Some("placeholder");
                if is_placeholder {
                    match m.get("name").and_then(Value::as_str) {
                        Some(n) if is_placeholder_name(n) => placeholders.push(n.to_string()),
                        _ => issues.push(ValidationIssue::new(
                            "invalid_string",
                            &format!("{at}.name"),
                            "Placeholder name must start with a letter and contain only alphanumeric characters and underscores",
                        )),
                    }
                } else {
                    let role = m.get("role").and_then(Value::as_str);
                    let content = m.get("content").and_then(Value::as_str);
                    if role.is_none() {
                        issues.push(ValidationIssue::new(
                            "invalid_type",
                            &format!("{at}.role"),
                            "Expected string",
                        ));
                    }
                    match content {
                        Some(c) => texts.push(c.to_string()),
                        None => issues.push(ValidationIssue::new(
                            "invalid_type",
                            &format!("{at}.content"),
                            "Expected string",
                        )),
                    }
                }
            }
        }
        ("text", _) => issues.push(ValidationIssue::new(
            "invalid_type",
            "prompt",
            "Expected string",
        )),
        _ => issues.push(ValidationIssue::new(
            "invalid_type",
            "prompt",
            "Expected array",
        )),
    }
    let labels = match &body.labels {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => string_list("labels", v, &mut issues),
    };
    check_labels("labels", &labels, &mut issues);
    let tags = match &body.tags {
        None | Some(Value::Null) => None,
        Some(v) => Some(string_list("tags", v, &mut issues)),
    };
    let commit_message = match &body.commit_message {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 500 => Some(s.clone()),
        Some(Value::String(_)) => {
            issues.push(ValidationIssue::new(
                "too_big",
                "commitMessage",
                "String must contain at most 500 character(s)",
            ));
            None
        }
        Some(_) => {
            issues.push(ValidationIssue::new(
                "invalid_type",
                "commitMessage",
                "Expected string",
            ));
            None
        }
    };
    if !issues.is_empty() {
        return Err(ApiError::InvalidRequestData(issues));
    }
    let vars: Vec<String> = texts.iter().flat_map(|t| variables(t)).collect();
    if let Some(p) = placeholders.iter().find(|p| vars.contains(p)) {
        return Err(ApiError::InvalidRequest(format!(
            "Variable name '{p}' is used both as a variable and as a placeholder"
        )));
    }
    Ok(store::NewPrompt {
        name,
        r#type: ty.to_string(),
        prompt,
        config: match body.config {
            None => json!({}),
            Some(c) => c,
        },
        tags,
        labels,
        commit_message,
    })
}

/// Create a new version of a prompt (the first version creates the prompt).
#[utoipa::path(tag = "Prompts", security(("BasicAuth" = []), ("BearerAuth" = [])), request_body = CreatePromptRequest,
    responses((status = 201, body = Prompt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[post("/api/public/v2/prompts")]
pub async fn create_prompt(
    auth: ProjectAuth,
    body: crate::api::params::CleanJson<CreatePromptRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let new = validate_create(body.into_inner())?;
    let row = store::create_prompt(
        &state.pool,
        &auth.project_id,
        new,
        state.config.prompt_limits,
    )
        .await
        .map_err(|e| match e {
            store::CreateError::TypeMismatch(ty) => ApiError::InvalidRequest(format!(
                "Previous versions have different prompt type. Create a new prompt with a different name. Previous type: {ty}"
            )),
            store::CreateError::Dependency(m) => ApiError::InvalidRequest(m),
            store::CreateError::Db(e) => e.into(),
        })?;
    Ok(HttpResponse::Created().json(Prompt::from_row(row, None)))
}

fn parse_version(field: &str, v: &str) -> Result<i32, ApiError> {
    v.trim()
        .parse::<i32>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| ApiError::invalid_field(field, "Expected a positive integer"))
}

fn selector(
    version: &Option<String>,
    label: &Option<String>,
) -> Result<Option<Selector>, ApiError> {
    let version = version.as_deref().filter(|v| !v.is_empty());
    let label = label.as_deref().filter(|v| !v.is_empty());
    match (version, label) {
        (Some(_), Some(_)) => Err(ApiError::InvalidRequest(
            "Cannot specify both version and label".into(),
        )),
        (Some(v), None) => Ok(Some(Selector::Version(parse_version("version", v)?))),
        (None, Some(l)) => Ok(Some(Selector::Label(l.to_string()))),
        (None, None) => Ok(None),
    }
}

/// Get a prompt version by label (default `production`) or version.
///
/// References to other prompts are resolved unless `resolve=false`.
#[utoipa::path(tag = "Prompts", security(("BasicAuth" = []), ("BearerAuth" = [])),
    params(("promptName" = String, Path, description = "Name, percent-encoded (`%2F` for folders)"), GetPromptQuery),
    responses((status = 200, body = Prompt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/public/v2/prompts/{promptName}")]
pub async fn get_prompt(
    auth: ProjectAuth,
    req: HttpRequest,
    query: web::Query<GetPromptQuery>,
    state: web::Data<AppState>,
) -> Result<web::Json<Prompt>, ApiError> {
    let name = path_segment(&req, "promptName")?;
    let sel = selector(&query.version, &query.label)?
        .unwrap_or_else(|| Selector::Label("production".into()));
    let resolve = match query.resolve.as_deref().map(str::trim) {
        None | Some("") | Some("true") => true,
        Some("false") => false,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "resolve",
                "Invalid enum value. Expected 'true' | 'false'",
            ))
        }
    };
    let mut found = None;
    for candidate in name_candidates(&name) {
        found = store::find_resolved_prompt(
            &state.pool,
            &auth.project_id,
            &candidate,
            &sel,
            resolve,
            state.config.prompt_limits,
        )
        .await
        .map_err(|e| match e {
            // Only reachable when a stored graph broke after creation (e.g. a child gained
            // nested references beyond the depth limit); Langfuse answers 500 here.
            store::CompositionError::Invalid(m) => ApiError::InvalidRequest(m),
            store::CompositionError::Db(e) => ApiError::from(e),
        })?;
        if found.is_some() {
            break;
        }
    }
    let (row, graph) = found.ok_or_else(|| {
        ApiError::NotFound(match &sel {
            Selector::Label(l) => format!("Prompt not found: '{name}' with label '{l}'"),
            Selector::Version(v) => format!("Prompt not found: '{name}' with version {v}"),
        })
    })?;
    Ok(web::Json(Prompt::from_row(
        row,
        Some(graph.unwrap_or(Value::Null)),
    )))
}

fn parse_page(field: &str, v: &Option<String>, default: u64, max: u64) -> Result<u64, ApiError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some(s) => match s.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid_field(
                field,
                format!("{field} must be an integer between 1 and {max}"),
            )),
        },
    }
}

fn parse_time(field: &str, v: &Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| ApiError::invalid_field(field, "Invalid datetime")),
    }
}

/// List prompt names with their versions, labels and tags.
#[utoipa::path(tag = "Prompts", security(("BasicAuth" = []), ("BearerAuth" = [])), params(ListPromptsQuery),
    responses((status = 200, body = PromptMetaListResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[get("/api/public/v2/prompts")]
pub async fn list_prompts(
    auth: ProjectAuth,
    query: web::Query<ListPromptsQuery>,
    state: web::Data<AppState>,
) -> Result<web::Json<PromptMetaListResponse>, ApiError> {
    let page = parse_page("page", &query.page, 1, u64::MAX >> 16)?;
    let limit = parse_page("limit", &query.limit, 10, 100)?;
    let filter = store::ListFilter {
        name: query.name.clone().filter(|s| !s.is_empty()),
        version: match query.version.as_deref().filter(|s| !s.is_empty()) {
            Some(v) => Some(parse_version("version", v)?),
            None => None,
        },
        label: query.label.clone().filter(|s| !s.is_empty()),
        tag: query.tag.clone().filter(|s| !s.is_empty()),
        from_updated_at: parse_time("fromUpdatedAt", &query.from_updated_at)?,
        to_updated_at: parse_time("toUpdatedAt", &query.to_updated_at)?,
    };
    let (groups, total) =
        store::list_prompts(&state.pool, &auth.project_id, &filter, page, limit).await?;
    let meta = MetaResponse::new(page, limit, total);
    Ok(web::Json(PromptMetaListResponse {
        data: groups.into_iter().map(PromptMeta::from).collect(),
        pagination: meta.clone(),
        meta,
    }))
}

/// Add labels to a prompt version (they are removed from the name's other versions).
#[utoipa::path(tag = "Prompts", security(("BasicAuth" = []), ("BearerAuth" = [])),
    params(("name" = String, Path), ("version" = i32, Path)), request_body = UpdatePromptRequest,
    responses((status = 200, body = Prompt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[patch("/api/public/v2/prompts/{name}/versions/{version}")]
pub async fn update_prompt_version(
    auth: ProjectAuth,
    req: HttpRequest,
    body: crate::api::params::CleanJson<UpdatePromptRequest>,
    state: web::Data<AppState>,
) -> Result<web::Json<Prompt>, ApiError> {
    let name = path_segment(&req, "name")?;
    let version = parse_version("version", &path_segment(&req, "version")?)?;
    let mut issues = Vec::new();
    let labels = match &body.new_labels {
        Some(v) => string_list("newLabels", v, &mut issues),
        None => {
            issues.push(ValidationIssue::new(
                "invalid_type",
                "newLabels",
                "Required",
            ));
            Vec::new()
        }
    };
    if labels.iter().any(|l| l == LATEST_LABEL) {
        issues.push(ValidationIssue::new(
            "custom",
            "newLabels",
            "Label 'latest' is always assigned to the latest prompt version",
        ));
    }
    check_labels("newLabels", &labels, &mut issues);
    if !issues.is_empty() {
        return Err(ApiError::InvalidRequestData(issues));
    }
    let mut row = None;
    for candidate in name_candidates(&name) {
        row = store::update_labels(&state.pool, &auth.project_id, &candidate, version, &labels)
            .await?;
        if row.is_some() {
            break;
        }
    }
    let row = row.ok_or_else(|| ApiError::NotFound(format!("Prompt not found: {name}")))?;
    Ok(web::Json(Prompt::from_row(row, None)))
}

/// Delete a prompt: all versions, one version, or the versions carrying a label.
///
/// Refused (400) when another prompt references a version or label that would disappear.
#[utoipa::path(tag = "Prompts", security(("BasicAuth" = []), ("BearerAuth" = [])),
    params(("promptName" = String, Path), DeletePromptQuery),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/api/public/v2/prompts/{promptName}")]
pub async fn delete_prompt(
    auth: ProjectAuth,
    req: HttpRequest,
    query: web::Query<DeletePromptQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let name = path_segment(&req, "promptName")?;
    let sel = selector(&query.version, &query.label)?;
    let mut n = 0;
    for candidate in name_candidates(&name) {
        n = store::delete_prompts(&state.pool, &auth.project_id, &candidate, sel.as_ref())
            .await
            .map_err(|e| match e {
                store::DeleteError::Referenced(m) => ApiError::InvalidRequest(m),
                store::DeleteError::Db(e) => ApiError::from(e),
            })?;
        if n > 0 {
            break;
        }
    }
    if n == 0 {
        return Err(ApiError::NotFound(format!("Prompt not found: {name}")));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_found_with_spaces() {
        assert_eq!(
            variables("Hi {{ name }}, {{x_1}} {{}} {{a b}}"),
            ["name", "x_1"]
        );
    }

    #[test]
    fn labels_follow_langfuse_rules() {
        assert!(is_valid_label("production"));
        assert!(is_valid_label("v1.2-rc_3"));
        assert!(!is_valid_label("Prod"));
        assert!(!is_valid_label(""));
        assert!(!is_valid_label(&"a".repeat(37)));
    }
}
