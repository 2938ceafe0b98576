//! Helpers of the unstable API family (`/api/public/unstable/*`): every error there uses
//! Langfuse's unstable envelope `{"message", "code", "details"?}` (authentication failures
//! included), malformed bodies are `400 invalid_body` and malformed query parameters
//! `400 invalid_query`, both with zod-like `details.issues`.

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::api::params::QueryParams;
use crate::auth::ProjectAuth;
use crate::domain::paging::Page;
use crate::error::{ApiError, ValidationIssue};

/// The project of an authenticated request, or the auth failure in the unstable envelope.
pub fn project(auth: Result<ProjectAuth, ApiError>) -> Result<String, ApiError> {
    auth.map(|a| a.project_id).map_err(ApiError::into_unstable)
}

/// A 400 `invalid_body` with the given issues.
pub fn invalid_body(issues: Vec<ValidationIssue>) -> ApiError {
    ApiError::Unstable {
        status: 400,
        code: "invalid_body",
        message: "Invalid request body".into(),
        details: Some(json!({ "issues": issues })),
    }
}

/// A 400 `invalid_body` with one issue at `field` (dotted path).
pub fn body_issue(code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
    invalid_body(vec![ValidationIssue::new(code, field, message)])
}

/// A 400 `invalid_request` naming `field` (Langfuse's service-level validation).
pub fn invalid_request(
    message: impl Into<String>,
    field: Option<&str>,
    allowed: Option<Vec<String>>,
) -> ApiError {
    let mut details = serde_json::Map::new();
    if let Some(f) = field {
        details.insert("field".into(), json!(f));
    }
    if let Some(a) = allowed {
        details.insert("allowedValues".into(), json!(a));
    }
    ApiError::Unstable {
        status: 400,
        code: "invalid_request",
        message: message.into(),
        details: (!details.is_empty()).then_some(Value::Object(details)),
    }
}

/// A 404 `resource_not_found`.
pub fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::unstable(404, "resource_not_found", message)
}

/// The request body as a JSON object (anything else is `invalid_body`).
pub fn body_object(raw: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    let v: Value = serde_json::from_slice(raw)
        .map_err(|e| body_issue("invalid_json", "", format!("Invalid JSON body: {e}")))?;
    match v {
        Value::Object(m) => Ok(m),
        other => Err(body_issue(
            "invalid_type",
            "",
            format!("Expected object, received {}", type_name(&other)),
        )),
    }
}

/// The JSON type name zod uses in its messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Deserialises `value` (a body or part of one at `path`) into `T`, serde's complaint
/// becoming an `invalid_body` issue at the field it names.
pub fn typed<T: DeserializeOwned>(value: Value, path: &str) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| {
        let text = e.to_string();
        let field = text.split('`').nth(1).unwrap_or("");
        let full = match (path.is_empty(), field.is_empty()) {
            (true, _) => field.to_string(),
            (false, true) => path.to_string(),
            (false, false) => format!("{path}.{field}"),
        };
        body_issue("invalid_type", &full, text)
    })
}

/// `page` ≥ 1 (default 1) and `limit` 1..=100 (default 50); errors are `invalid_query`.
pub fn page(q: &QueryParams) -> Result<Page, ApiError> {
    q.default_page().map_err(|e| match e {
        ApiError::InvalidRequestData(issues) => ApiError::Unstable {
            status: 400,
            code: "invalid_query",
            message: "Invalid query parameters".into(),
            details: Some(json!({ "issues": issues })),
        },
        other => other.into_unstable(),
    })
}

/// A fresh server-side id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The filter types of Langfuse's `singleFilter` and their operators.
const FILTER_TYPES: &[(&str, &[&str])] = &[
    ("datetime", &["=", ">", "<", ">=", "<="]),
    (
        "string",
        &[
            "=",
            "contains",
            "does not contain",
            "starts with",
            "ends with",
        ],
    ),
    ("number", &["=", ">", "<", ">=", "<="]),
    ("stringOptions", &["any of", "none of"]),
    ("categoryOptions", &["any of", "none of"]),
    ("arrayOptions", &["any of", "none of", "all of"]),
    (
        "stringObject",
        &[
            "=",
            "contains",
            "does not contain",
            "starts with",
            "ends with",
        ],
    ),
    ("numberObject", &["=", ">", "<", ">=", "<="]),
    ("booleanObject", &["=", "<>"]),
    ("boolean", &["=", "<>"]),
    ("null", &["is null", "is not null"]),
];

/// Checks an array of Langfuse filter-state conditions (`{column, operator, type,
/// value, key?}`): known type, operator valid for it, value of the right shape, `key`
/// where the type needs one. Returns the array unchanged.
pub fn filter_state(v: &Value, path: &str) -> Result<Vec<Value>, ApiError> {
    let Value::Array(items) = v else {
        return Err(body_issue(
            "invalid_type",
            path,
            format!("Expected array, received {}", type_name(v)),
        ));
    };
    for (i, f) in items.iter().enumerate() {
        let at = |k: &str| format!("{path}.{i}.{k}");
        let Value::Object(o) = f else {
            return Err(body_issue(
                "invalid_type",
                &format!("{path}.{i}"),
                "Expected object",
            ));
        };
        let text = |k: &str| o.get(k).and_then(Value::as_str);
        let column = text("column").filter(|c| !c.is_empty());
        if column.is_none() {
            return Err(body_issue("invalid_type", &at("column"), "Required"));
        }
        let Some(ty) = text("type") else {
            return Err(body_issue("invalid_type", &at("type"), "Required"));
        };
        let Some((_, ops)) = FILTER_TYPES.iter().find(|(t, _)| *t == ty) else {
            let names: Vec<String> = FILTER_TYPES.iter().map(|(t, _)| format!("'{t}'")).collect();
            return Err(body_issue(
                "invalid_union_discriminator",
                &at("type"),
                format!(
                    "Invalid discriminator value. Expected {}",
                    names.join(" | ")
                ),
            ));
        };
        let op = text("operator").unwrap_or("");
        if !ops.contains(&op) {
            let names: Vec<String> = ops.iter().map(|o| format!("'{o}'")).collect();
            return Err(body_issue(
                "invalid_enum_value",
                &at("operator"),
                format!(
                    "Invalid enum value. Expected {}, received '{op}'",
                    names.join(" | ")
                ),
            ));
        }
        let value = o.get("value").unwrap_or(&Value::Null);
        let ok = match ty {
            "datetime" => value
                .as_str()
                .and_then(crate::api::params::parse_datetime)
                .is_some(),
            "string" | "stringObject" => value.is_string(),
            "number" | "numberObject" => value.is_number(),
            "boolean" | "booleanObject" => value.is_boolean(),
            "null" => value.is_null() || value.as_str() == Some(""),
            _ => value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string)),
        };
        if !ok {
            return Err(body_issue(
                "invalid_type",
                &at("value"),
                format!("Invalid value for filter type '{ty}'"),
            ));
        }
        let needs_key = matches!(
            ty,
            "stringObject" | "numberObject" | "booleanObject" | "categoryOptions"
        );
        if needs_key && !text("key").is_some_and(|k| !k.is_empty()) {
            return Err(body_issue(
                "invalid_type",
                &at("key"),
                format!("Filter type '{ty}' requires a key"),
            ));
        }
    }
    Ok(items.clone())
}
