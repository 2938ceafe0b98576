//! Unstable evaluators (`/api/public/unstable/evaluators[/{evaluatorId}]`) and
//! evaluation rules (`/api/public/unstable/evaluation-rules[/{evaluationRuleId}]`).
//!
//! xtrace stores and serves them with Langfuse's shapes and validation but never runs
//! an evaluator: no LLM-as-judge or code job is executed, so rules produce no scores.
//!
//! Rules (Langfuse `web/src/features/public-api/types/unstable-public-evals-contract.ts`,
//! `unstable-evaluators.ts`, `unstable-evaluation-rules.ts`): creating an evaluator with a
//! known name adds the next version of that family (the id stays); `type` defaults to
//! `llm_as_judge`; LLM evaluators need a prompt, whose `{{variable}}` placeholders are its
//! variables, and an output definition (NUMERIC/BOOLEAN with reasoning and score
//! descriptions, NUMERIC bounds with min ≤ max, CATEGORICAL with ≥ 2 categories); code
//! evaluators need source code and PYTHON or TYPESCRIPT, and expose the fixed runtime
//! variables (the mapping sources) mapped automatically. An explicit `modelConfig` must
//! name a provider with an LLM connection in the project (else `422
//! evaluator_preflight_failed`). Rules need a unique name (409 `name_conflict`), a target
//! (observation, experiment), `enabled`, sampling in (0, 1] (default 1), filters on the
//! target's columns (`invalid_filter_value`), either `evaluator` (+`mapping`) or
//! `evaluators`, evaluator families referenced by name and type, and for LLM evaluators a
//! mapping that names each variable exactly once with a source valid for the target
//! (`invalid_variable_mapping`, `duplicate_variable_mapping`, `missing_variable_mapping`,
//! `invalid_json_path`). At most 500 rules may be enabled per project (409). A rule's
//! status is `active` when enabled, else `inactive`.

use actix_web::{delete, get, patch, post, web, HttpRequest};
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::api::dashboards::{UnstableDeleteResponse, UnstableError};
use crate::api::params::{path_segment, QueryParams};
use crate::api::unstable::{self as u, body_issue};
use crate::api::MetaResponse;
use crate::auth::ProjectAuth;
use crate::domain::time;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::evaluations::{self as store, Assignment, EvaluatorRow, RuleRow, RuleWrite};

const MAX_ACTIVE_RULES: i64 = 500;
const OBSERVATION_SOURCES: [&str; 4] = ["input", "output", "metadata", "tool_calls"];
const ALL_SOURCES: [&str; 6] = [
    "input",
    "output",
    "metadata",
    "tool_calls",
    "expected_output",
    "experiment_item_metadata",
];

/// Langfuse `unstableEvaluators`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluatorList {
    /// Evaluators (`unstableEvaluator`, latest versions).
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
    /// Pagination.
    pub meta: MetaResponse,
}

/// Langfuse `unstableEvaluationRules`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluationRuleList {
    /// Evaluation rules (`unstableEvaluationRule`).
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
    /// Pagination.
    pub meta: MetaResponse,
}

fn db(e: sqlx::Error) -> ApiError {
    ApiError::from(e).into_unstable()
}

fn unstable_with(status: u16, code: &'static str, message: String, details: Value) -> ApiError {
    ApiError::Unstable {
        status,
        code,
        message,
        details: Some(details),
    }
}

/// The `{{variable}}` placeholders of a prompt, in order of first appearance.
pub fn prompt_variables(prompt: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = prompt;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        if !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
            && !out.iter().any(|v| v == name)
        {
            out.push(name.to_string());
        }
        rest = &after[end + 2..];
    }
    out
}

/// The fixed runtime mapping of code evaluators: every source under its own name.
fn code_mapping() -> Value {
    Value::Array(
        ALL_SOURCES
            .iter()
            .map(|s| json!({"variable": s, "source": s, "jsonPath": null}))
            .collect(),
    )
}

fn evaluator_variables(e: &EvaluatorRow) -> Vec<String> {
    e.definition["variables"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn evaluator_json(e: &EvaluatorRow) -> Value {
    let d = &e.definition;
    let mut o = json!({
        "id": e.id,
        "name": e.name,
        "version": e.version,
        "type": e.r#type,
        "variables": d["variables"],
        "mapping": d.get("mapping").cloned().unwrap_or(Value::Null),
        "evaluationRuleCount": e.rule_count,
        "createdAt": time::format(&e.created_at),
        "updatedAt": time::format(&e.updated_at),
    });
    if e.r#type == "code" {
        o["sourceCode"] = d["sourceCode"].clone();
        o["sourceCodeLanguage"] = d["sourceCodeLanguage"].clone();
    } else {
        o["prompt"] = d["prompt"].clone();
        o["outputDefinition"] = d["outputDefinition"].clone();
        o["modelConfig"] = d.get("modelConfig").cloned().unwrap_or(Value::Null);
    }
    o
}

fn str_field(o: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>, ApiError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(body_issue(
            "invalid_type",
            path,
            format!("Expected string, received {}", u::type_name(other)),
        )),
    }
}

fn required_str(o: &Map<String, Value>, key: &str, path: &str) -> Result<String, ApiError> {
    let s = str_field(o, key, path)?.ok_or_else(|| body_issue("invalid_type", path, "Required"))?;
    if s.trim().is_empty() {
        return Err(body_issue(
            "too_small",
            path,
            "String must contain at least 1 character(s)",
        ));
    }
    Ok(s)
}

fn enum_field(
    o: &Map<String, Value>,
    key: &str,
    path: &str,
    allowed: &[&str],
) -> Result<Option<String>, ApiError> {
    match str_field(o, key, path)? {
        Some(s) if !allowed.contains(&s.as_str()) => {
            let names: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
            Err(body_issue(
                "invalid_enum_value",
                path,
                format!(
                    "Invalid enum value. Expected {}, received '{s}'",
                    names.join(" | ")
                ),
            ))
        }
        other => Ok(other),
    }
}

fn object_at<'a>(o: &'a Map<String, Value>, key: &str) -> Result<&'a Map<String, Value>, ApiError> {
    match o.get(key) {
        Some(Value::Object(m)) => Ok(m),
        None | Some(Value::Null) => Err(body_issue("invalid_type", key, "Required")),
        Some(other) => Err(body_issue(
            "invalid_type",
            key,
            format!("Expected object, received {}", u::type_name(other)),
        )),
    }
}

/// A checked `outputDefinition` in the public shape (no `version`).
fn output_definition(o: &Map<String, Value>) -> Result<Value, ApiError> {
    let def = object_at(o, "outputDefinition")?;
    let data_type = enum_field(
        def,
        "dataType",
        "outputDefinition.dataType",
        &["NUMERIC", "BOOLEAN", "CATEGORICAL"],
    )?
    .ok_or_else(|| body_issue("invalid_type", "outputDefinition.dataType", "Required"))?;
    let description = |m: &Map<String, Value>, path: &str| -> Result<String, ApiError> {
        let d = m
            .get("description")
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or("");
        if d.is_empty() {
            return Err(body_issue(
                "too_small",
                &format!("{path}.description"),
                "String must contain at least 1 character(s)",
            ));
        }
        Ok(d.to_string())
    };
    let sub = |key: &str| -> Result<&Map<String, Value>, ApiError> {
        def.get(key).and_then(Value::as_object).ok_or_else(|| {
            body_issue(
                "invalid_type",
                &format!("outputDefinition.{key}"),
                "Required",
            )
        })
    };
    let reasoning =
        json!({"description": description(sub("reasoning")?, "outputDefinition.reasoning")?});
    let score_in = sub("score")?;
    let mut score = json!({"description": description(score_in, "outputDefinition.score")?});
    match data_type.as_str() {
        "NUMERIC" => {
            let bound = |k: &str| -> Result<Option<f64>, ApiError> {
                match score_in.get(k) {
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => v.as_f64().map(Some).ok_or_else(|| {
                        body_issue(
                            "invalid_type",
                            &format!("outputDefinition.score.{k}"),
                            "Expected number",
                        )
                    }),
                }
            };
            let (min, max) = (bound("minValue")?, bound("maxValue")?);
            if let (Some(a), Some(b)) = (min, max) {
                if a > b {
                    return Err(body_issue(
                        "custom",
                        "outputDefinition.score.minValue",
                        "minValue must not exceed maxValue",
                    ));
                }
            }
            if let Some(a) = min {
                score["minValue"] = json!(a);
            }
            if let Some(b) = max {
                score["maxValue"] = json!(b);
            }
        }
        "CATEGORICAL" => {
            let cats: Vec<String> = score_in
                .get("categories")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.as_str().map(|s| s.trim().to_string()))
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            let given = score_in
                .get("categories")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if cats.len() < 2 || cats.len() != given {
                return Err(body_issue(
                    "too_small",
                    "outputDefinition.score.categories",
                    "Array must contain at least 2 non-empty string element(s)",
                ));
            }
            let multi = score_in
                .get("shouldAllowMultipleMatches")
                .and_then(Value::as_bool)
                .ok_or_else(|| {
                    body_issue(
                        "invalid_type",
                        "outputDefinition.score.shouldAllowMultipleMatches",
                        "Required",
                    )
                })?;
            score["categories"] = json!(cats);
            score["shouldAllowMultipleMatches"] = json!(multi);
        }
        _ => {}
    }
    Ok(json!({"dataType": data_type, "reasoning": reasoning, "score": score}))
}

/// Checks a mapping list against the allowed sources and (when given) the variables.
/// Returns it in the read shape (`jsonPath` null when absent).
fn mapping(
    v: &Value,
    path: &str,
    sources: &[&str],
    variables: Option<&[String]>,
) -> Result<Value, ApiError> {
    let Value::Array(items) = v else {
        return Err(body_issue("invalid_type", path, "Expected array"));
    };
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (i, m) in items.iter().enumerate() {
        let Value::Object(o) = m else {
            return Err(body_issue(
                "invalid_type",
                &format!("{path}.{i}"),
                "Expected object",
            ));
        };
        let variable = required_str(o, "variable", &format!("{path}.{i}.variable"))?;
        let source = enum_field(o, "source", &format!("{path}.{i}.source"), &ALL_SOURCES)?
            .ok_or_else(|| body_issue("invalid_type", &format!("{path}.{i}.source"), "Required"))?;
        let json_path = str_field(o, "jsonPath", &format!("{path}.{i}.jsonPath"))?;
        let field = format!("{path}[{i}]");
        if !sources.contains(&source.as_str()) {
            return Err(unstable_with(
                400,
                "invalid_variable_mapping",
                format!("Source \"{source}\" is not valid for this target"),
                json!({"field": format!("{field}.source"), "variable": variable,
                    "allowedValues": sources}),
            ));
        }
        if let Some(vars) = variables {
            if !vars.contains(&variable) {
                return Err(unstable_with(
                    400,
                    "invalid_variable_mapping",
                    format!("Variable \"{variable}\" is not a variable of the evaluator"),
                    json!({"field": format!("{field}.variable"), "variable": variable,
                        "allowedValues": vars}),
                ));
            }
        }
        if seen.contains(&variable) {
            return Err(unstable_with(
                400,
                "duplicate_variable_mapping",
                format!("Variable \"{variable}\" is mapped more than once"),
                json!({"field": format!("{field}.variable"), "variable": variable}),
            ));
        }
        if let Some(p) = &json_path {
            if !valid_json_path(p) {
                return Err(unstable_with(
                    400,
                    "invalid_json_path",
                    format!("Invalid JSONPath \"{p}\""),
                    json!({"field": format!("{field}.jsonPath"), "variable": variable, "value": p}),
                ));
            }
        }
        seen.push(variable.clone());
        out.push(json!({"variable": variable, "source": source, "jsonPath": json_path}));
    }
    Ok(Value::Array(out))
}

/// A JSONPath must start with `$` and have balanced brackets and quotes.
fn valid_json_path(p: &str) -> bool {
    if !p.starts_with('$') {
        return false;
    }
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    for c in p.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0 && quote.is_none() && !p.ends_with('.')
}

/// The preflight Langfuse runs before an evaluator can be used: an explicit model must
/// belong to a provider the project has an LLM connection for.
async fn preflight(
    state: &AppState,
    project: &str,
    e_name: &str,
    def: &Value,
) -> Result<(), ApiError> {
    let Some(cfg) = def.get("modelConfig").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let provider = cfg["provider"].as_str().unwrap_or_default();
    if store::has_llm_connection(&state.pool, project, provider)
        .await
        .map_err(db)?
    {
        return Ok(());
    }
    Err(unstable_with(
        422,
        "evaluator_preflight_failed",
        format!(
            "Evaluator \"{e_name}\" cannot run: the project has no LLM connection for provider \"{provider}\""
        ),
        json!({"evaluatorName": e_name, "provider": provider, "model": cfg["model"]}),
    ))
}

/// Langfuse `unstable_evaluators_create`: version 1 of a new name, else the next version.
#[utoipa::path(tag = "UnstableEvaluators", security(("BasicAuth" = [])),
    request_body(content = Object, description = "unstableCreateEvaluatorRequest"),
    responses((status = 200, body = Object, description = "unstableEvaluator"), (status = 400, body = UnstableError), (status = 401, body = UnstableError), (status = 422, body = UnstableError)))]
#[post("/api/public/unstable/evaluators")]
pub async fn create_evaluator(
    auth: Result<ProjectAuth, ApiError>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<web::Json<Value>, ApiError> {
    let project = u::project(auth)?;
    let o = u::body_object(&body)?;
    let name = required_str(&o, "name", "name")?;
    let kind = enum_field(&o, "type", "type", &["llm_as_judge", "code"])?
        .unwrap_or_else(|| "llm_as_judge".into());
    let definition = if kind == "code" {
        let source = required_str(&o, "sourceCode", "sourceCode")?;
        let lang = enum_field(
            &o,
            "sourceCodeLanguage",
            "sourceCodeLanguage",
            &["PYTHON", "TYPESCRIPT"],
        )?
        .ok_or_else(|| body_issue("invalid_type", "sourceCodeLanguage", "Required"))?;
        json!({"sourceCode": source, "sourceCodeLanguage": lang,
            "variables": ALL_SOURCES, "mapping": code_mapping()})
    } else {
        let prompt = required_str(&o, "prompt", "prompt")?;
        let output = output_definition(&o)?;
        let model = match o.get("modelConfig") {
            None | Some(Value::Null) => Value::Null,
            Some(Value::Object(m)) => {
                let provider = required_str(m, "provider", "modelConfig.provider")?;
                let model = required_str(m, "model", "modelConfig.model")?;
                json!({"provider": provider, "model": model})
            }
            Some(_) => return Err(body_issue("invalid_type", "modelConfig", "Expected object")),
        };
        let variables = prompt_variables(&prompt);
        let default_mapping = match o.get("mapping") {
            None | Some(Value::Null) => Value::Null,
            Some(v) => mapping(v, "mapping", &ALL_SOURCES, Some(&variables))?,
        };
        json!({"prompt": prompt, "outputDefinition": output, "modelConfig": model,
            "variables": variables, "mapping": default_mapping})
    };
    preflight(&state, &project, &name, &definition).await?;
    let row = store::create_evaluator_version(
        &state.pool,
        &project,
        &u::new_id(),
        &name,
        &kind,
        &definition,
    )
    .await
    .map_err(db)?;
    Ok(web::Json(evaluator_json(&row)))
}

/// Langfuse `unstable_evaluators_list`: latest version of each evaluator.
#[utoipa::path(tag = "UnstableEvaluators", security(("BasicAuth" = [])),
    params(("page" = Option<u32>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, body = EvaluatorList), (status = 400, body = UnstableError), (status = 401, body = UnstableError)))]
#[get("/api/public/unstable/evaluators")]
pub async fn list_evaluators(
    auth: Result<ProjectAuth, ApiError>,
    q: Result<QueryParams, ApiError>,
    state: web::Data<AppState>,
) -> Result<web::Json<EvaluatorList>, ApiError> {
    let project = u::project(auth)?;
    let page = u::page(&q.map_err(ApiError::into_unstable)?)?;
    let (rows, total) = store::list_evaluators(&state.pool, &project, page)
        .await
        .map_err(db)?;
    Ok(web::Json(EvaluatorList {
        data: rows.iter().map(evaluator_json).collect(),
        meta: MetaResponse::new(page.page, page.limit, total),
    }))
}

fn evaluator_not_found(id: &str) -> ApiError {
    u::not_found(format!("Evaluator {id} not found"))
}

/// Langfuse `unstable_evaluators_get`: the latest version.
#[utoipa::path(tag = "UnstableEvaluators", security(("BasicAuth" = [])),
    params(("evaluatorId" = String, Path)),
    responses((status = 200, body = Object, description = "unstableEvaluator"), (status = 404, body = UnstableError)))]
#[get("/api/public/unstable/evaluators/{evaluatorId}")]
pub async fn get_evaluator(
    auth: Result<ProjectAuth, ApiError>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<Value>, ApiError> {
    let project = u::project(auth)?;
    let id = path_segment(&req, "evaluatorId").map_err(ApiError::into_unstable)?;
    let row = store::find_evaluator(&state.pool, &project, &id)
        .await
        .map_err(db)?
        .ok_or_else(|| evaluator_not_found(&id))?;
    Ok(web::Json(evaluator_json(&row)))
}

/// Langfuse `unstable_evaluators_delete`: every version and every rule assignment.
#[utoipa::path(tag = "UnstableEvaluators", security(("BasicAuth" = [])),
    params(("evaluatorId" = String, Path)),
    responses((status = 200, body = UnstableDeleteResponse), (status = 404, body = UnstableError)))]
#[delete("/api/public/unstable/evaluators/{evaluatorId}")]
pub async fn delete_evaluator(
    auth: Result<ProjectAuth, ApiError>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<UnstableDeleteResponse>, ApiError> {
    let project = u::project(auth)?;
    let id = path_segment(&req, "evaluatorId").map_err(ApiError::into_unstable)?;
    if !store::delete_evaluator(&state.pool, &project, &id)
        .await
        .map_err(db)?
    {
        return Err(evaluator_not_found(&id));
    }
    Ok(web::Json(UnstableDeleteResponse {
        message: "Evaluator successfully deleted".into(),
    }))
}

// ---------------------------------------------------------------------------------------
// Evaluation rules
// ---------------------------------------------------------------------------------------

/// Filter columns of `target=observation`: (column, filter type, allowed values).
const OBSERVATION_COLUMNS: &[(&str, &str, &[&str])] = &[
    ("type", "stringOptions", &["GENERATION", "SPAN", "EVENT"]),
    ("name", "stringOptions", &[]),
    ("environment", "stringOptions", &[]),
    (
        "level",
        "stringOptions",
        &["DEBUG", "DEFAULT", "WARNING", "ERROR"],
    ),
    ("version", "string", &[]),
    ("traceName", "stringOptions", &[]),
    ("userId", "string", &[]),
    ("sessionId", "string", &[]),
    ("tags", "arrayOptions", &[]),
    ("metadata", "stringObject", &[]),
    ("isRootObservation", "boolean", &[]),
    ("parentObservationId", "null", &[]),
    ("calledToolNames", "arrayOptions", &[]),
    ("toolCalls", "number", &[]),
];

/// Checks `filter` for `target`: known columns with their filter type and values;
/// experiment `datasetId` values must be datasets of the project.
async fn rule_filter(
    state: &AppState,
    project: &str,
    target: &str,
    v: &Value,
) -> Result<Value, ApiError> {
    let items = u::filter_state(v, "filter")?;
    for (i, f) in items.iter().enumerate() {
        let column = f["column"].as_str().unwrap_or_default();
        let ty = f["type"].as_str().unwrap_or_default();
        let field = format!("filter[{i}]");
        let spec: Option<(&str, &[&str])> = if target == "experiment" {
            (column == "datasetId").then_some(("stringOptions", &[] as &[&str]))
        } else {
            OBSERVATION_COLUMNS
                .iter()
                .find(|(c, _, _)| *c == column)
                .map(|(_, t, vals)| (*t, *vals))
        };
        let Some((want_type, allowed)) = spec else {
            return Err(unstable_with(
                400,
                "invalid_filter_value",
                format!("Filter column \"{column}\" is not supported for target \"{target}\""),
                json!({"field": format!("{field}.column"), "column": column}),
            ));
        };
        if ty != want_type {
            return Err(unstable_with(
                400,
                "invalid_filter_value",
                format!("Filter column \"{column}\" expects filter type \"{want_type}\""),
                json!({"field": format!("{field}.type"), "column": column}),
            ));
        }
        let values: Vec<String> = f["value"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let invalid: Vec<String> = if !allowed.is_empty() {
            values
                .iter()
                .filter(|x| !allowed.contains(&x.as_str()))
                .cloned()
                .collect()
        } else if target == "experiment" {
            let found = store::existing_dataset_ids(&state.pool, project, &values)
                .await
                .map_err(db)?;
            values
                .iter()
                .filter(|x| !found.contains(x))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        if !invalid.is_empty() {
            let mut details = json!({"field": format!("{field}.value"), "column": column,
                "invalidValues": invalid});
            if !allowed.is_empty() {
                details["allowedValues"] = json!(allowed);
            }
            return Err(unstable_with(
                400,
                "invalid_filter_value",
                format!("Invalid values for filter column \"{column}\""),
                details,
            ));
        }
    }
    Ok(Value::Array(items))
}

/// An evaluator family reference `{name, type?}` resolved to its latest version.
async fn resolve_evaluator(
    state: &AppState,
    project: &str,
    r: &Value,
    path: &str,
    required_type: Option<&str>,
) -> Result<EvaluatorRow, ApiError> {
    let Value::Object(o) = r else {
        return Err(body_issue("invalid_type", path, "Expected object"));
    };
    let name = required_str(o, "name", &format!("{path}.name"))?;
    let kind = match required_type {
        Some(t) => Some(t.to_string()),
        None => enum_field(
            o,
            "type",
            &format!("{path}.type"),
            &["llm_as_judge", "code"],
        )?,
    }
    .unwrap_or_else(|| "llm_as_judge".into());
    let row = store::find_evaluator_by_name(&state.pool, project, &name)
        .await
        .map_err(db)?
        .filter(|e| e.r#type == kind)
        .ok_or_else(|| {
            unstable_with(
                404,
                "resource_not_found",
                format!("Evaluator \"{name}\" of type \"{kind}\" not found"),
                json!({"field": format!("{path}.name"), "evaluatorName": name}),
            )
        })?;
    Ok(row)
}

/// The mapping an assignment stores for `e`: code evaluators the fixed runtime mapping;
/// LLM evaluators the checked override (None inherits the default), which together with
/// the default must map every variable.
fn assignment_mapping(
    e: &EvaluatorRow,
    given: Option<&Value>,
    target: &str,
    path: &str,
) -> Result<Option<Value>, ApiError> {
    if e.r#type == "code" {
        if given.is_some_and(|v| !v.is_null()) {
            return Err(u::invalid_request(
                "Code evaluators use a fixed runtime mapping; omit mapping",
                Some(path),
                None,
            ));
        }
        return Ok(Some(code_mapping()));
    }
    let sources: &[&str] = if target == "experiment" {
        &ALL_SOURCES
    } else {
        &OBSERVATION_SOURCES
    };
    let vars = evaluator_variables(e);
    let checked = match given.filter(|v| !v.is_null()) {
        Some(v) => Some(mapping(v, path, sources, Some(&vars))?),
        None => None,
    };
    let effective = checked
        .clone()
        .or_else(|| {
            e.definition
                .get("mapping")
                .filter(|m| !m.is_null())
                .cloned()
        })
        .unwrap_or_else(|| json!([]));
    let mapped: Vec<&str> = effective
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["variable"].as_str()).collect())
        .unwrap_or_default();
    let missing: Vec<&String> = vars
        .iter()
        .filter(|v| !mapped.contains(&v.as_str()))
        .collect();
    if !missing.is_empty() {
        return Err(unstable_with(
            400,
            "missing_variable_mapping",
            format!(
                "Every evaluator variable must be mapped; missing: {}",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            json!({"field": path, "variables": missing}),
        ));
    }
    Ok(checked)
}

fn rule_json(r: &RuleRow, evaluators: &[EvaluatorRow]) -> Value {
    let find = |id: &str| evaluators.iter().find(|e| e.id == id);
    let assignments: Vec<Value> = r
        .assignments
        .iter()
        .filter_map(|a| {
            find(&a.evaluator_id).map(|e| {
                json!({"evaluator": {"id": e.id, "name": e.name, "type": e.r#type},
                    "mapping": a.mapping})
            })
        })
        .collect();
    let first = r.assignments.first().and_then(|a| {
        find(&a.evaluator_id).map(|e| {
            let effective = a
                .mapping
                .clone()
                .or_else(|| {
                    e.definition
                        .get("mapping")
                        .filter(|m| !m.is_null())
                        .cloned()
                })
                .unwrap_or_else(|| json!([]));
            (
                json!({"id": e.id, "name": e.name, "type": e.r#type}),
                effective,
            )
        })
    });
    let (evaluator, mapping) = match first {
        Some((e, m)) => (e, m),
        None => (Value::Null, json!([])),
    };
    json!({
        "id": r.id,
        "name": r.name,
        "evaluator": evaluator,
        "evaluators": assignments,
        "target": r.target,
        "enabled": r.enabled,
        "status": if r.enabled { "active" } else { "inactive" },
        "pausedReason": null,
        "pausedMessage": null,
        "sampling": r.sampling,
        "filter": r.filter,
        "mapping": mapping,
        "createdAt": time::format(&r.created_at),
        "updatedAt": time::format(&r.updated_at),
    })
}

async fn render_rules(
    state: &AppState,
    project: &str,
    rules: &[RuleRow],
) -> Result<Vec<Value>, ApiError> {
    let mut ids: Vec<String> = rules
        .iter()
        .flat_map(|r| r.assignments.iter().map(|a| a.evaluator_id.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    let evaluators = store::evaluators_by_ids(&state.pool, project, &ids)
        .await
        .map_err(db)?;
    Ok(rules.iter().map(|r| rule_json(r, &evaluators)).collect())
}

fn sampling(o: &Map<String, Value>) -> Result<Option<f64>, ApiError> {
    match o.get("sampling") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(s) if s > 0.0 && s <= 1.0 => Ok(Some(s)),
            Some(_) => Err(body_issue(
                "too_big",
                "sampling",
                "Sampling must be greater than 0 and less than or equal to 1",
            )),
            None => Err(body_issue("invalid_type", "sampling", "Expected number")),
        },
    }
}

fn enabled(o: &Map<String, Value>) -> Result<Option<bool>, ApiError> {
    match o.get("enabled") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(body_issue("invalid_type", "enabled", "Expected boolean")),
    }
}

/// The assignments of a body: `evaluators`, or the deprecated `evaluator` + `mapping`.
/// `current_type` restricts the deprecated reference on updates.
async fn assignments(
    state: &AppState,
    project: &str,
    o: &Map<String, Value>,
    target: &str,
    current_type: Option<&str>,
    fallback_mapping: Option<&Value>,
) -> Result<Option<(Vec<Assignment>, Vec<EvaluatorRow>)>, ApiError> {
    let has = |k: &str| o.get(k).is_some_and(|v| !v.is_null());
    if has("evaluators") && (has("evaluator") || has("mapping")) {
        return Err(body_issue(
            "custom",
            "evaluators",
            "Provide either evaluators or the deprecated evaluator/mapping fields, not both",
        ));
    }
    if has("evaluators") {
        let Some(list) = o["evaluators"].as_array() else {
            return Err(body_issue("invalid_type", "evaluators", "Expected array"));
        };
        if list.is_empty() {
            return Err(body_issue(
                "too_small",
                "evaluators",
                "Array must contain at least 1 element(s)",
            ));
        }
        let mut out = Vec::new();
        let mut rows = Vec::new();
        for (i, a) in list.iter().enumerate() {
            let reference = a.get("evaluator").unwrap_or(&Value::Null);
            let e = resolve_evaluator(
                state,
                project,
                reference,
                &format!("evaluators.{i}.evaluator"),
                None,
            )
            .await?;
            let m = assignment_mapping(
                &e,
                a.get("mapping"),
                target,
                &format!("evaluators[{i}].mapping"),
            )?;
            out.push(Assignment {
                evaluator_id: e.id.clone(),
                mapping: m,
            });
            rows.push(e);
        }
        return Ok(Some((out, rows)));
    }
    if has("evaluator") {
        let e =
            resolve_evaluator(state, project, &o["evaluator"], "evaluator", current_type).await?;
        let given = o
            .get("mapping")
            .filter(|v| !v.is_null())
            .or(fallback_mapping);
        if e.r#type != "code" && given.is_none() {
            return Err(body_issue("invalid_type", "mapping", "Required"));
        }
        let m = assignment_mapping(&e, given, target, "mapping")?;
        return Ok(Some((
            vec![Assignment {
                evaluator_id: e.id.clone(),
                mapping: m,
            }],
            vec![e],
        )));
    }
    Ok(None)
}

async fn check_runnable(
    state: &AppState,
    project: &str,
    evaluators: &[EvaluatorRow],
) -> Result<(), ApiError> {
    for e in evaluators {
        preflight(state, project, &e.name, &e.definition).await?;
    }
    Ok(())
}

async fn save_rule(
    state: &AppState,
    project: &str,
    rule: &RuleRow,
    existing: bool,
) -> Result<Value, ApiError> {
    match store::write_rule(&state.pool, project, rule, existing, MAX_ACTIVE_RULES)
        .await
        .map_err(db)?
    {
        RuleWrite::Done(r) => Ok(render_rules(state, project, &[r]).await?.remove(0)),
        RuleWrite::NameTaken => Err(ApiError::unstable(
            409,
            "name_conflict",
            format!(
                "An evaluation rule named \"{}\" already exists in this project",
                rule.name
            ),
        )),
        RuleWrite::TooManyActive => Err(unstable_with(
            409,
            "conflict",
            format!("At most {MAX_ACTIVE_RULES} evaluation rules can be active in a project"),
            json!({"limit": MAX_ACTIVE_RULES}),
        )),
        RuleWrite::NotFound => Err(rule_not_found(&rule.id)),
    }
}

fn rule_not_found(id: &str) -> ApiError {
    u::not_found(format!("Evaluation rule {id} not found"))
}

/// Langfuse `unstable_evaluationRules_create`.
#[utoipa::path(tag = "UnstableEvaluationRules", security(("BasicAuth" = [])),
    request_body(content = Object, description = "unstableCreateEvaluationRuleRequest"),
    responses((status = 200, body = Object, description = "unstableEvaluationRule"), (status = 400, body = UnstableError), (status = 404, body = UnstableError), (status = 409, body = UnstableError), (status = 422, body = UnstableError)))]
#[post("/api/public/unstable/evaluation-rules")]
pub async fn create_rule(
    auth: Result<ProjectAuth, ApiError>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<web::Json<Value>, ApiError> {
    let project = u::project(auth)?;
    let o = u::body_object(&body)?;
    let name = required_str(&o, "name", "name")?;
    let target = enum_field(&o, "target", "target", &["observation", "experiment"])?
        .ok_or_else(|| body_issue("invalid_type", "target", "Required"))?;
    let enabled = enabled(&o)?.ok_or_else(|| body_issue("invalid_type", "enabled", "Required"))?;
    let sampling = sampling(&o)?.unwrap_or(1.0);
    let filter = match o.get("filter") {
        None | Some(Value::Null) => json!([]),
        Some(v) => rule_filter(&state, &project, &target, v).await?,
    };
    let (assignments, evaluators) = assignments(&state, &project, &o, &target, None, None)
        .await?
        .ok_or_else(|| body_issue("invalid_type", "evaluator", "Required"))?;
    if enabled {
        check_runnable(&state, &project, &evaluators).await?;
    }
    let now = chrono::Utc::now();
    let rule = RuleRow {
        id: u::new_id(),
        name,
        target,
        enabled,
        sampling,
        filter,
        assignments,
        created_at: now,
        updated_at: now,
    };
    Ok(web::Json(save_rule(&state, &project, &rule, false).await?))
}

/// Langfuse `unstable_evaluationRules_list`.
#[utoipa::path(tag = "UnstableEvaluationRules", security(("BasicAuth" = [])),
    params(("page" = Option<u32>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, body = EvaluationRuleList), (status = 400, body = UnstableError), (status = 401, body = UnstableError)))]
#[get("/api/public/unstable/evaluation-rules")]
pub async fn list_rules(
    auth: Result<ProjectAuth, ApiError>,
    q: Result<QueryParams, ApiError>,
    state: web::Data<AppState>,
) -> Result<web::Json<EvaluationRuleList>, ApiError> {
    let project = u::project(auth)?;
    let page = u::page(&q.map_err(ApiError::into_unstable)?)?;
    let (rows, total) = store::list_rules(&state.pool, &project, page)
        .await
        .map_err(db)?;
    Ok(web::Json(EvaluationRuleList {
        data: render_rules(&state, &project, &rows).await?,
        meta: MetaResponse::new(page.page, page.limit, total),
    }))
}

/// Langfuse `unstable_evaluationRules_get`.
#[utoipa::path(tag = "UnstableEvaluationRules", security(("BasicAuth" = [])),
    params(("evaluationRuleId" = String, Path)),
    responses((status = 200, body = Object, description = "unstableReadableEvaluationRule"), (status = 404, body = UnstableError)))]
#[get("/api/public/unstable/evaluation-rules/{evaluationRuleId}")]
pub async fn get_rule(
    auth: Result<ProjectAuth, ApiError>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<Value>, ApiError> {
    let project = u::project(auth)?;
    let id = path_segment(&req, "evaluationRuleId").map_err(ApiError::into_unstable)?;
    let row = store::find_rule(&state.pool, &project, &id)
        .await
        .map_err(db)?
        .ok_or_else(|| rule_not_found(&id))?;
    Ok(web::Json(
        render_rules(&state, &project, &[row]).await?.remove(0),
    ))
}

/// Langfuse `unstable_evaluationRules_update`: the fields given, re-validated as a whole.
#[utoipa::path(tag = "UnstableEvaluationRules", security(("BasicAuth" = [])),
    params(("evaluationRuleId" = String, Path)),
    request_body(content = Object, description = "unstableUpdateEvaluationRuleRequest"),
    responses((status = 200, body = Object, description = "unstableEvaluationRule"), (status = 400, body = UnstableError), (status = 404, body = UnstableError), (status = 409, body = UnstableError), (status = 422, body = UnstableError)))]
#[patch("/api/public/unstable/evaluation-rules/{evaluationRuleId}")]
pub async fn update_rule(
    auth: Result<ProjectAuth, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<web::Json<Value>, ApiError> {
    let project = u::project(auth)?;
    let id = path_segment(&req, "evaluationRuleId").map_err(ApiError::into_unstable)?;
    let o = u::body_object(&body)?;
    let fields = [
        "name",
        "evaluators",
        "evaluator",
        "target",
        "enabled",
        "sampling",
        "filter",
        "mapping",
    ];
    if !fields
        .iter()
        .any(|k| o.get(*k).is_some_and(|v| !v.is_null()))
    {
        return Err(body_issue("custom", "", "At least one field is required"));
    }
    let mut rule = store::find_rule(&state.pool, &project, &id)
        .await
        .map_err(db)?
        .ok_or_else(|| rule_not_found(&id))?;
    let current = store::evaluators_by_ids(
        &state.pool,
        &project,
        &rule
            .assignments
            .iter()
            .map(|a| a.evaluator_id.clone())
            .collect::<Vec<_>>(),
    )
    .await
    .map_err(db)?;
    if let Some(name) = str_field(&o, "name", "name")? {
        if name.trim().is_empty() {
            return Err(body_issue(
                "too_small",
                "name",
                "String must contain at least 1 character(s)",
            ));
        }
        rule.name = name;
    }
    if let Some(t) = enum_field(&o, "target", "target", &["observation", "experiment"])? {
        rule.target = t;
    }
    if let Some(e) = enabled(&o)? {
        rule.enabled = e;
    }
    if let Some(s) = sampling(&o)? {
        rule.sampling = s;
    }
    let filter_given = o.get("filter").filter(|v| !v.is_null()).cloned();
    rule.filter = rule_filter(
        &state,
        &project,
        &rule.target,
        filter_given.as_ref().unwrap_or(&rule.filter),
    )
    .await?;
    let first = rule.assignments.first().cloned();
    let first_type = first.as_ref().and_then(|a| {
        current
            .iter()
            .find(|e| e.id == a.evaluator_id)
            .map(|e| e.r#type.clone())
    });
    let mut evaluators = current.clone();
    let has_mapping_only = o.get("mapping").is_some_and(|v| !v.is_null())
        && !o.get("evaluator").is_some_and(|v| !v.is_null());
    if let Some((list, rows)) = assignments(
        &state,
        &project,
        &o,
        &rule.target,
        first_type.as_deref(),
        None,
    )
    .await?
    {
        if o.get("evaluator").is_some_and(|v| !v.is_null()) {
            // The deprecated alias replaces the first assignment only.
            let mut all = rule.assignments.clone();
            match all.first_mut() {
                Some(f) => *f = list[0].clone(),
                None => all.push(list[0].clone()),
            }
            rule.assignments = all;
        } else {
            rule.assignments = list;
        }
        evaluators.extend(rows);
    } else if has_mapping_only {
        // A new mapping for the first assignment's evaluator.
        let Some(a) = first else {
            return Err(u::invalid_request(
                "The rule has no evaluator to map",
                Some("mapping"),
                None,
            ));
        };
        let e = current
            .iter()
            .find(|e| e.id == a.evaluator_id)
            .ok_or_else(|| evaluator_not_found(&a.evaluator_id))?;
        rule.assignments[0].mapping =
            assignment_mapping(e, o.get("mapping"), &rule.target, "mapping")?;
    } else {
        // Target changes must still fit the stored mappings.
        for (i, a) in rule.assignments.clone().iter().enumerate() {
            if let Some(e) = current.iter().find(|e| e.id == a.evaluator_id) {
                rule.assignments[i].mapping = assignment_mapping(
                    e,
                    if e.r#type == "code" {
                        None
                    } else {
                        a.mapping.as_ref()
                    },
                    &rule.target,
                    &format!("evaluators[{i}].mapping"),
                )?;
            }
        }
    }
    if rule.enabled {
        let used: Vec<EvaluatorRow> = evaluators
            .into_iter()
            .filter(|e| rule.assignments.iter().any(|a| a.evaluator_id == e.id))
            .collect();
        check_runnable(&state, &project, &used).await?;
    }
    Ok(web::Json(save_rule(&state, &project, &rule, true).await?))
}

/// Langfuse `unstable_evaluationRules_delete`: the rule only, not its evaluators.
#[utoipa::path(tag = "UnstableEvaluationRules", security(("BasicAuth" = [])),
    params(("evaluationRuleId" = String, Path)),
    responses((status = 200, body = UnstableDeleteResponse), (status = 404, body = UnstableError)))]
#[delete("/api/public/unstable/evaluation-rules/{evaluationRuleId}")]
pub async fn delete_rule(
    auth: Result<ProjectAuth, ApiError>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<UnstableDeleteResponse>, ApiError> {
    let project = u::project(auth)?;
    let id = path_segment(&req, "evaluationRuleId").map_err(ApiError::into_unstable)?;
    if !store::delete_rule(&state.pool, &project, &id)
        .await
        .map_err(db)?
    {
        return Err(rule_not_found(&id));
    }
    Ok(web::Json(UnstableDeleteResponse {
        message: "Evaluation rule successfully deleted".into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::{prompt_variables, valid_json_path};

    #[test]
    fn variables_are_the_distinct_placeholders_in_order() {
        assert_eq!(
            prompt_variables("Judge {{input}} vs {{ output }} and {{input}}; {{}} {{bad name}}"),
            ["input", "output"]
        );
    }

    #[test]
    fn json_paths_start_with_dollar_and_balance() {
        assert!(valid_json_path("$.a.b"));
        assert!(valid_json_path("$[*].name"));
        assert!(valid_json_path("$['x]']"));
        assert!(!valid_json_path("a.b"));
        assert!(!valid_json_path("$[0"));
        assert!(!valid_json_path("$."));
    }
}
