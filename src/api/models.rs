//! Langfuse `/api/public/models`: list, get, create and delete model definitions. Global
//! (Langfuse-managed) models are listed for every project and cannot be deleted; project
//! models override them when generations are priced (see `pricing`).

use std::collections::{BTreeMap, HashSet};

use actix_web::{delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::params::PathParam;
use crate::api::{ErrorBody, MessageResponse, MetaResponse};
use crate::auth::ProjectAuth;
use crate::domain::time;
use crate::error::{ApiError, ValidationIssue};
use crate::pricing::catalog::tier_from_row;
use crate::pricing::tiers::TierCondition;
use crate::startup::AppState;
use crate::store::models::{self as store, ModelRow, NewModel, NewTier, TierRow};

/// Units a model can price (Langfuse `ModelUsageUnit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ModelUsageUnit {
    /// Characters.
    Characters,
    /// Tokens.
    Tokens,
    /// Milliseconds.
    Milliseconds,
    /// Seconds.
    Seconds,
    /// Images.
    Images,
    /// Requests.
    Requests,
}

impl ModelUsageUnit {
    fn as_str(self) -> &'static str {
        match self {
            ModelUsageUnit::Characters => "CHARACTERS",
            ModelUsageUnit::Tokens => "TOKENS",
            ModelUsageUnit::Milliseconds => "MILLISECONDS",
            ModelUsageUnit::Seconds => "SECONDS",
            ModelUsageUnit::Images => "IMAGES",
            ModelUsageUnit::Requests => "REQUESTS",
        }
    }
}

/// Langfuse `ModelPrice`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelPrice {
    /// USD per unit.
    pub price: f64,
}

/// Langfuse `PricingTier`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PricingTier {
    /// Tier id.
    pub id: String,
    /// Tier name.
    pub name: String,
    /// The fallback tier.
    pub is_default: bool,
    /// Evaluation order (ascending).
    pub priority: i32,
    /// Conditions, all of which must hold.
    pub conditions: Vec<TierCondition>,
    /// USD per unit by usage key.
    pub prices: BTreeMap<String, f64>,
}

/// Langfuse `Model`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Model {
    /// Model id.
    pub id: String,
    /// Name of the definition.
    pub model_name: String,
    /// Regex matched against `generation.model`.
    pub match_pattern: String,
    /// Applies to generations newer than this date.
    #[serde(serialize_with = "time::serialize_opt")]
    pub start_date: Option<DateTime<Utc>>,
    /// Usage unit.
    pub unit: Option<String>,
    /// Deprecated: default-tier `input` price.
    pub input_price: Option<f64>,
    /// Deprecated: default-tier `output` price.
    pub output_price: Option<f64>,
    /// Deprecated: default-tier `total` price.
    pub total_price: Option<f64>,
    /// `openai` or `claude`.
    pub tokenizer_id: Option<String>,
    /// Tokenizer settings.
    pub tokenizer_config: Option<Value>,
    /// True for global models.
    pub is_langfuse_managed: bool,
    /// Creation time.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    /// Deprecated: default-tier prices by usage key.
    pub prices: BTreeMap<String, ModelPrice>,
    /// Pricing tiers by ascending priority.
    pub pricing_tiers: Vec<PricingTier>,
}

impl Model {
    fn from_rows(m: ModelRow, tiers: Vec<&TierRow>) -> Self {
        let pricing_tiers: Vec<PricingTier> = tiers
            .into_iter()
            .map(|r| {
                let t = tier_from_row(r);
                PricingTier {
                    id: t.id,
                    name: t.name,
                    is_default: t.is_default,
                    priority: t.priority,
                    conditions: t.conditions,
                    prices: t.prices,
                }
            })
            .collect();
        let default_prices = pricing_tiers
            .iter()
            .find(|t| t.is_default)
            .map(|t| t.prices.clone())
            .unwrap_or_default();
        Model {
            input_price: default_prices.get("input").copied().or(m.input_price),
            output_price: default_prices.get("output").copied().or(m.output_price),
            total_price: default_prices.get("total").copied().or(m.total_price),
            prices: default_prices
                .into_iter()
                .map(|(k, price)| (k, ModelPrice { price }))
                .collect(),
            is_langfuse_managed: m.project_id.is_none(),
            id: m.id,
            model_name: m.model_name,
            match_pattern: m.match_pattern,
            start_date: m.start_date,
            unit: m.unit,
            tokenizer_id: m.tokenizer_id,
            tokenizer_config: m.tokenizer_config,
            created_at: m.created_at,
            pricing_tiers,
        }
    }
}

/// Langfuse `PaginatedModels`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaginatedModels {
    /// Models of the page.
    pub data: Vec<Model>,
    /// Pagination.
    pub meta: MetaResponse,
}

/// Query of `GET /api/public/models`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListModelsQuery {
    /// Page number, starts at 1.
    pub page: Option<String>,
    /// Items per page (1–100, default 50).
    pub limit: Option<String>,
}

/// Langfuse `PricingTierInput`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PricingTierInput {
    /// Unique within the model.
    pub name: String,
    /// Exactly one tier is the default.
    #[serde(default)]
    pub is_default: bool,
    /// 0–999, unique within the model; the default tier has 0.
    pub priority: i64,
    /// Conditions (empty for the default tier).
    pub conditions: Vec<TierCondition>,
    /// USD per unit by usage key.
    pub prices: BTreeMap<String, f64>,
}

/// Langfuse `CreateModelRequest`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateModelRequest {
    /// Name of the definition.
    pub model_name: String,
    /// Postgres regex matched against `generation.model`, e.g. `(?i)^gpt-4o$`.
    pub match_pattern: String,
    /// Applies to generations newer than this date.
    pub start_date: Option<DateTime<Utc>>,
    /// Usage unit.
    pub unit: ModelUsageUnit,
    /// Deprecated flat input price.
    pub input_price: Option<f64>,
    /// Deprecated flat output price.
    pub output_price: Option<f64>,
    /// Deprecated flat total price (not with input/output).
    pub total_price: Option<f64>,
    /// Pricing tiers (not with flat prices).
    pub pricing_tiers: Option<Vec<PricingTierInput>>,
    /// `openai` or `claude`.
    pub tokenizer_id: Option<TokenizerId>,
    /// Tokenizer settings.
    #[schema(value_type = Option<Object>)]
    pub tokenizer_config: Option<Value>,
}

/// Tokenizers Langfuse knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenizerId {
    /// tiktoken.
    Openai,
    /// Anthropic.
    Claude,
}

impl TokenizerId {
    fn as_str(self) -> &'static str {
        match self {
            TokenizerId::Openai => "openai",
            TokenizerId::Claude => "claude",
        }
    }
}

fn parse_pagination(q: &ListModelsQuery) -> Result<(u64, u64), ApiError> {
    let parse =
        |field: &str, v: &Option<String>, default: u64, max: u64| -> Result<u64, ApiError> {
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
        };
    Ok((
        parse("page", &q.page, 1, u64::MAX >> 16)?,
        parse("limit", &q.limit, 50, 100)?,
    ))
}

/// Checks the body beyond its types, in Langfuse's order; zod-like issues on failure.
fn validate(body: &CreateModelRequest) -> Result<(), ApiError> {
    let mut issues = Vec::new();
    for (field, price) in [
        ("inputPrice", body.input_price),
        ("outputPrice", body.output_price),
        ("totalPrice", body.total_price),
    ] {
        if price.is_some_and(|p| p < 0.0 || !p.is_finite()) {
            issues.push(ValidationIssue::new(
                "too_small",
                field,
                "Number must be greater than or equal to 0",
            ));
        }
    }
    for (i, t) in body.pricing_tiers.iter().flatten().enumerate() {
        let at = |f: &str| format!("pricingTiers.{i}.{f}");
        let name = t.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            issues.push(ValidationIssue::new(
                "too_small",
                &at("name"),
                "Name must be 1 to 100 characters",
            ));
        }
        if !(0..=999).contains(&t.priority) {
            issues.push(ValidationIssue::new(
                "too_small",
                &at("priority"),
                "Priority must be between 0 and 999",
            ));
        }
        if t.prices.values().any(|p| *p < 0.0 || !p.is_finite()) {
            issues.push(ValidationIssue::new(
                "too_small",
                &at("prices"),
                "Price must be non-negative",
            ));
        }
        for (j, c) in t.conditions.iter().enumerate() {
            let at = format!("pricingTiers.{i}.conditions.{j}");
            match c {
                TierCondition::Usage {
                    usage_detail_pattern: p,
                    value,
                    ..
                } => {
                    if p.is_empty() || p.chars().count() > 200 || regex::Regex::new(p).is_err() {
                        issues.push(ValidationIssue::new(
                            "custom",
                            &format!("{at}.usageDetailPattern"),
                            "Invalid regex pattern: must be valid regex and not cause catastrophic backtracking",
                        ));
                    }
                    if *value < 0.0 || !value.is_finite() {
                        issues.push(ValidationIssue::new(
                            "too_small",
                            &format!("{at}.value"),
                            "Number must be greater than or equal to 0",
                        ));
                    }
                }
                TierCondition::Attribute { key, values, .. } => {
                    if key.is_empty() || key.chars().count() > 200 {
                        issues.push(ValidationIssue::new(
                            "too_small",
                            &format!("{at}.key"),
                            "Key cannot be empty",
                        ));
                    }
                    if values.is_empty() || values.iter().any(String::is_empty) {
                        issues.push(ValidationIssue::new(
                            "too_small",
                            &format!("{at}.values"),
                            "Value cannot be empty",
                        ));
                    }
                }
            }
        }
    }
    if !issues.is_empty() {
        return Err(ApiError::InvalidRequestData(issues));
    }

    let has_flat =
        body.input_price.is_some() || body.output_price.is_some() || body.total_price.is_some();
    let tiers = body.pricing_tiers.as_deref().unwrap_or_default();
    let refine = |path: &str, msg: &str| {
        ApiError::InvalidRequestData(vec![ValidationIssue::new("custom", path, msg)])
    };
    if has_flat && !tiers.is_empty() {
        return Err(refine(
            "",
            "Must provide either flat prices (inputPrice/outputPrice/totalPrice) OR pricingTiers, not both",
        ));
    }
    if !has_flat && tiers.is_empty() {
        return Err(refine(
            "",
            "Must provide either flat prices (inputPrice/outputPrice/totalPrice) OR pricingTiers",
        ));
    }
    if has_flat
        && (body.input_price.is_some() || body.output_price.is_some())
        && body.total_price.is_some()
    {
        return Err(refine(
            "totalPrice",
            "If input and/or output price is set, total price must be null",
        ));
    }
    if !tiers.is_empty() {
        if let Err(msg) = validate_tiers(tiers) {
            return Err(refine("pricingTiers", &msg));
        }
    }
    Ok(())
}

/// Langfuse's `validatePricingTiers` rules, first failure wins.
fn validate_tiers(tiers: &[PricingTierInput]) -> Result<(), String> {
    let defaults: Vec<&PricingTierInput> = tiers.iter().filter(|t| t.is_default).collect();
    match defaults.len() {
        0 => return Err("Exactly one pricing tier must have isDefault: true".into()),
        1 => {}
        n => {
            return Err(format!(
                "Only one pricing tier can have isDefault: true, found {n}"
            ))
        }
    }
    if defaults[0].priority != 0 {
        return Err("Default pricing tier must have priority: 0".into());
    }
    if !defaults[0].conditions.is_empty() {
        return Err("Default pricing tier must have empty conditions array".into());
    }
    if let Some(t) = tiers
        .iter()
        .find(|t| !t.is_default && t.conditions.is_empty())
    {
        return Err(format!(
            "Non-default pricing tier \"{}\" must have at least one condition",
            t.name.trim()
        ));
    }
    let priorities: HashSet<i64> = tiers.iter().map(|t| t.priority).collect();
    if priorities.len() != tiers.len() {
        return Err("Pricing tier priorities must be unique within a model".into());
    }
    let names: HashSet<&str> = tiers.iter().map(|t| t.name.trim()).collect();
    if names.len() != tiers.len() {
        return Err("Pricing tier names must be unique".into());
    }
    if let Some(t) = tiers.iter().find(|t| t.prices.is_empty()) {
        return Err(format!(
            "Pricing tier \"{}\" must have at least one price defined",
            t.name.trim()
        ));
    }
    let default_keys: Vec<&String> = defaults[0].prices.keys().collect();
    for t in tiers.iter().filter(|t| !t.is_default) {
        let keys: Vec<&String> = t.prices.keys().collect();
        if keys != default_keys {
            return Err(format!(
                "Pricing tier \"{}\" must have the same usage keys as the default tier. Expected: [{}], Got: [{}]",
                t.name.trim(),
                default_keys.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "),
                keys.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "),
            ));
        }
    }
    Ok(())
}

/// The tiers to store for a validated body: the given tiers, or one default "Standard"
/// tier holding the flat prices.
fn tiers_to_store(model_id: &str, body: &CreateModelRequest) -> Vec<NewTier> {
    match body.pricing_tiers.as_deref() {
        Some(tiers) if !tiers.is_empty() => tiers
            .iter()
            .map(|t| NewTier {
                id: uuid::Uuid::new_v4().to_string(),
                name: t.name.trim().to_string(),
                is_default: t.is_default,
                priority: t.priority as i32,
                conditions: serde_json::to_value(&t.conditions)
                    .unwrap_or_else(|_| Value::Array(vec![])),
                prices: serde_json::to_value(&t.prices)
                    .unwrap_or_else(|_| Value::Object(Default::default())),
            })
            .collect(),
        _ => {
            let prices: BTreeMap<&str, f64> = [
                ("input", body.input_price),
                ("output", body.output_price),
                ("total", body.total_price),
            ]
            .into_iter()
            .filter_map(|(k, p)| p.map(|p| (k, p)))
            .collect();
            vec![NewTier {
                id: format!("{model_id}_tier_default"),
                name: "Standard".into(),
                is_default: true,
                priority: 0,
                conditions: Value::Array(vec![]),
                prices: serde_json::to_value(prices)
                    .unwrap_or_else(|_| Value::Object(Default::default())),
            }]
        }
    }
}

async fn load_model(
    state: &AppState,
    project_id: &str,
    id: &str,
) -> Result<Option<Model>, ApiError> {
    let Some(row) = store::find_model(&state.pool, project_id, id).await? else {
        return Ok(None);
    };
    let tiers = store::list_tiers(&state.pool, std::slice::from_ref(&row.id)).await?;
    Ok(Some(Model::from_rows(row, tiers.iter().collect())))
}

/// Langfuse `models_list`: the project's models and the global ones, by model name.
#[utoipa::path(tag = "Models", security(("BasicAuth" = []), ("BearerAuth" = [])), params(ListModelsQuery),
    responses((status = 200, body = PaginatedModels), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[get("/api/public/models")]
pub async fn list_models(
    auth: ProjectAuth,
    query: web::Query<ListModelsQuery>,
    state: web::Data<AppState>,
) -> Result<web::Json<PaginatedModels>, ApiError> {
    let (page, limit) = parse_pagination(&query)?;
    let (rows, total) = store::list_models(&state.pool, &auth.project_id, page, limit).await?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let tiers = store::list_tiers(&state.pool, &ids).await?;
    let data = rows
        .into_iter()
        .map(|m| {
            let own = tiers.iter().filter(|t| t.model_id == m.id).collect();
            Model::from_rows(m, own)
        })
        .collect();
    Ok(web::Json(PaginatedModels {
        data,
        meta: MetaResponse::new(page, limit, total),
    }))
}

/// Langfuse `models_get`: one model visible to the project.
#[utoipa::path(tag = "Models", security(("BasicAuth" = []), ("BearerAuth" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Model), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[get("/api/public/models/{id}")]
pub async fn get_model(
    auth: ProjectAuth,
    path: PathParam,
    state: web::Data<AppState>,
) -> Result<web::Json<Model>, ApiError> {
    load_model(&state, &auth.project_id, &path)
        .await?
        .map(web::Json)
        .ok_or_else(|| ApiError::NotFound("No model with this id found.".into()))
}

/// Langfuse `models_create`: a project model with flat prices or pricing tiers.
#[utoipa::path(tag = "Models", security(("BasicAuth" = []), ("BearerAuth" = [])), request_body = CreateModelRequest,
    responses((status = 200, body = Model), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
#[post("/api/public/models")]
pub async fn create_model(
    auth: ProjectAuth,
    body: crate::api::params::CleanJson<CreateModelRequest>,
    state: web::Data<AppState>,
) -> Result<web::Json<Model>, ApiError> {
    validate(&body)?;
    if !store::is_valid_postgres_regex(&state.pool, &body.match_pattern).await? {
        return Err(ApiError::InvalidRequest(
            "matchPattern is not a valid regex pattern (Postgres)".into(),
        ));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let tiers = tiers_to_store(&id, &body);
    let mut tx = state.pool.begin().await?;
    let inserted = store::insert_model(
        &mut tx,
        &NewModel {
            id: &id,
            project_id: &auth.project_id,
            model_name: &body.model_name,
            match_pattern: &body.match_pattern,
            start_date: body.start_date,
            unit: body.unit.as_str(),
            tokenizer_id: body.tokenizer_id.map(TokenizerId::as_str),
            tokenizer_config: body.tokenizer_config.as_ref().filter(|v| !v.is_null()),
            input_price: body.input_price,
            output_price: body.output_price,
            total_price: body.total_price,
        },
        &tiers,
    )
    .await?;
    if !inserted {
        return Err(ApiError::InvalidRequest(format!(
            "Model name '{}' already exists in project",
            body.model_name
        )));
    }
    tx.commit().await?;
    state.pricing.invalidate();
    load_model(&state, &auth.project_id, &id)
        .await?
        .map(web::Json)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("created model {id} vanished")))
}

/// Langfuse `models_delete`: deletes a project model. Global models cannot be deleted
/// (override them with a project model of the same name instead).
#[utoipa::path(tag = "Models", security(("BasicAuth" = []), ("BearerAuth" = [])), params(("id" = String, Path)),
    responses((status = 200, body = MessageResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[delete("/api/public/models/{id}")]
pub async fn delete_model(
    auth: ProjectAuth,
    path: PathParam,
    state: web::Data<AppState>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    if !store::delete_model(&state.pool, &auth.project_id, &path).await? {
        return Err(ApiError::NotFound(
            "No model with this id found. Note: You cannot delete built-in models, override them with a model with the same name.".into(),
        ));
    }
    state.pricing.invalidate();
    Ok(web::Json(MessageResponse {
        message: "Model successfully deleted".into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> CreateModelRequest {
        serde_json::from_value(v).expect("well-typed body")
    }

    fn tier(name: &str, default: bool, priority: i64, conditions: Value, prices: Value) -> Value {
        json!({"name": name, "isDefault": default, "priority": priority, "conditions": conditions, "prices": prices})
    }

    #[test]
    fn flat_prices_or_tiers_but_not_both_nor_neither() {
        let base = json!({"modelName": "m", "matchPattern": "m", "unit": "TOKENS"});
        let mut neither = base.clone();
        assert!(validate(&body(neither.clone())).is_err());
        neither["inputPrice"] = json!(1.0);
        assert!(validate(&body(neither.clone())).is_ok());
        neither["pricingTiers"] =
            json!([tier("Standard", true, 0, json!([]), json!({"input": 1.0}))]);
        assert!(validate(&body(neither)).is_err(), "both");
        let mut total = base.clone();
        total["inputPrice"] = json!(1.0);
        total["totalPrice"] = json!(1.0);
        assert!(validate(&body(total)).is_err(), "total with input");
        let mut negative = base;
        negative["outputPrice"] = json!(-1.0);
        assert!(validate(&body(negative)).is_err(), "negative price");
    }

    #[test]
    fn tier_rules_are_enforced() {
        let usage_gt = json!([{"usageDetailPattern": "input", "operator": "gt", "value": 10}]);
        let cases = [
            (
                json!([tier("A", false, 1, usage_gt.clone(), json!({"input": 1}))]),
                "no default",
            ),
            (
                json!([
                    tier("A", true, 0, json!([]), json!({"input": 1})),
                    tier("B", true, 1, usage_gt.clone(), json!({"input": 1}))
                ]),
                "two defaults",
            ),
            (
                json!([tier("A", true, 1, json!([]), json!({"input": 1}))]),
                "default priority",
            ),
            (
                json!([tier("A", true, 0, usage_gt.clone(), json!({"input": 1}))]),
                "default conditions",
            ),
            (
                json!([
                    tier("A", true, 0, json!([]), json!({"input": 1})),
                    tier("B", false, 1, json!([]), json!({"input": 2}))
                ]),
                "non-default without conditions",
            ),
            (
                json!([
                    tier("A", true, 0, json!([]), json!({"input": 1})),
                    tier("A", false, 1, usage_gt.clone(), json!({"input": 2}))
                ]),
                "duplicate names",
            ),
            (
                json!([
                    tier("A", true, 0, json!([]), json!({"input": 1})),
                    tier("B", false, 1, usage_gt.clone(), json!({"output": 2}))
                ]),
                "different keys",
            ),
            (
                json!([tier("A", true, 0, json!([]), json!({}))]),
                "no prices",
            ),
            (
                json!([
                    tier("A", true, 0, json!([]), json!({"input": 1})),
                    tier(
                        "B",
                        false,
                        1,
                        json!([{"usageDetailPattern": "(", "operator": "gt", "value": 1}]),
                        json!({"input": 2})
                    )
                ]),
                "bad regex",
            ),
        ];
        for (tiers, why) in cases {
            let b = body(
                json!({"modelName": "m", "matchPattern": "m", "unit": "TOKENS", "pricingTiers": tiers}),
            );
            assert!(validate(&b).is_err(), "{why} must be refused");
        }
        let ok = body(
            json!({"modelName": "m", "matchPattern": "m", "unit": "TOKENS", "pricingTiers": [
                tier("Standard", true, 0, json!([]), json!({"input": 1, "output": 2})),
                tier("Large", false, 1, usage_gt, json!({"input": 2, "output": 4})),
            ]}),
        );
        assert!(validate(&ok).is_ok());
    }

    #[test]
    fn flat_prices_become_one_standard_tier() {
        let b = body(
            json!({"modelName": "m", "matchPattern": "m", "unit": "TOKENS", "inputPrice": 1.0, "outputPrice": 2.0}),
        );
        let tiers = tiers_to_store("abc", &b);
        assert_eq!(tiers.len(), 1);
        assert_eq!(tiers[0].id, "abc_tier_default");
        assert_eq!(tiers[0].prices, json!({"input": 1.0, "output": 2.0}));
    }
}
