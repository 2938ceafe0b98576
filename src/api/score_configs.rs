//! Score configs: `GET/POST /api/public/score-configs`,
//! `GET/PATCH /api/public/score-configs/{configId}`.
//!
//! Rules (Langfuse): name 1..35 characters of letters, digits, `_ .()-` and spaces;
//! NUMERIC may bound the value (min < max); CATEGORICAL needs categories with unique labels
//! and values; BOOLEAN categories are fixed to True=1/False=0 and may not be sent; TEXT has
//! neither bounds nor categories.

use actix_web::{get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::api::params::PathParam;
use crate::api::params::QueryParams;
use crate::api::{ErrorBody, MetaResponse};
use crate::auth::ProjectAuth;
use crate::domain::time;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::score_configs::{self as store, ScoreConfigData, ScoreConfigRow};

/// Langfuse `ConfigCategory`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConfigCategory {
    /// Numeric value of the category.
    pub value: f64,
    /// Label.
    pub label: String,
}

/// Langfuse `ScoreConfig`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScoreConfig {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Created.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: DateTime<Utc>,
    /// Updated.
    #[serde(serialize_with = "time::serialize")]
    pub updated_at: DateTime<Utc>,
    /// Project.
    pub project_id: String,
    /// NUMERIC, CATEGORICAL, BOOLEAN, TEXT.
    pub data_type: String,
    /// Archived flag.
    pub is_archived: bool,
    /// Lower bound (omitted when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_value: Option<f64>,
    /// Upper bound (omitted when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_value: Option<f64>,
    /// Categories (omitted when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<ConfigCategory>>)]
    pub categories: Option<Value>,
    /// Description.
    pub description: Option<String>,
}

impl From<ScoreConfigRow> for ScoreConfig {
    fn from(r: ScoreConfigRow) -> Self {
        ScoreConfig {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
            updated_at: r.updated_at,
            project_id: r.project_id,
            data_type: r.data_type,
            is_archived: r.is_archived,
            min_value: r.min_value,
            max_value: r.max_value,
            categories: r.categories,
            description: r.description,
        }
    }
}

/// Langfuse `ScoreConfigs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreConfigs {
    /// Configs, newest first.
    pub data: Vec<ScoreConfig>,
    /// Pagination.
    pub meta: MetaResponse,
}

/// Body of `POST /api/public/score-configs` (Langfuse `CreateScoreConfigRequest`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateScoreConfigRequest {
    /// Name.
    pub name: Option<String>,
    /// NUMERIC, CATEGORICAL, BOOLEAN, TEXT.
    pub data_type: Option<String>,
    /// Categories (CATEGORICAL).
    pub categories: Option<Vec<ConfigCategory>>,
    /// Lower bound (NUMERIC).
    pub min_value: Option<f64>,
    /// Upper bound (NUMERIC).
    pub max_value: Option<f64>,
    /// Description.
    pub description: Option<String>,
}

/// Body of `PATCH /api/public/score-configs/{configId}` (Langfuse `UpdateScoreConfigRequest`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateScoreConfigRequest {
    /// Archived flag.
    pub is_archived: Option<bool>,
    /// Name.
    pub name: Option<String>,
    /// Categories.
    pub categories: Option<Vec<ConfigCategory>>,
    /// Lower bound.
    pub min_value: Option<f64>,
    /// Upper bound.
    pub max_value: Option<f64>,
    /// Description.
    pub description: Option<String>,
}

fn validate_name(name: &str) -> Result<(), ApiError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-. ()".contains(c));
    let len = name.chars().count();
    if !(1..=35).contains(&len) || !ok_chars {
        return Err(ApiError::invalid_field(
            "name",
            "Name must be 1 to 35 characters of letters, numbers, underscores, spaces, periods, parentheses and hyphens",
        ));
    }
    Ok(())
}

/// Checks a complete config and normalises the type-specific attributes.
fn validate(mut d: ScoreConfigData, categories_given: bool) -> Result<ScoreConfigData, ApiError> {
    validate_name(&d.name)?;
    match d.data_type.as_str() {
        "NUMERIC" => {
            if categories_given {
                return Err(ApiError::invalid_field(
                    "categories",
                    "Categories are only allowed for categorical score configs",
                ));
            }
            if let (Some(min), Some(max)) = (d.min_value, d.max_value) {
                if min >= max {
                    return Err(ApiError::invalid_field(
                        "maxValue",
                        "Maximum value must be greater than minimum value",
                    ));
                }
            }
            d.categories = None;
        }
        "CATEGORICAL" => {
            let cats: Vec<ConfigCategory> = d
                .categories
                .as_ref()
                .and_then(|c| serde_json::from_value(c.clone()).ok())
                .unwrap_or_default();
            if cats.is_empty() {
                return Err(ApiError::invalid_field(
                    "categories",
                    "Categorical score configs need at least one category",
                ));
            }
            for (i, c) in cats.iter().enumerate() {
                if cats[..i].iter().any(|o| o.label == c.label) {
                    return Err(ApiError::invalid_field(
                        "categories",
                        "Category labels must be unique",
                    ));
                }
                if cats[..i].iter().any(|o| o.value == c.value) {
                    return Err(ApiError::invalid_field(
                        "categories",
                        "Category values must be unique",
                    ));
                }
            }
            d.min_value = None;
            d.max_value = None;
        }
        "BOOLEAN" => {
            if categories_given {
                return Err(ApiError::invalid_field(
                    "categories",
                    "Categories are autogenerated for boolean configs and cannot be passed",
                ));
            }
            d.categories = Some(json!([{"label": "True", "value": 1}, {"label": "False", "value": 0}]));
            d.min_value = None;
            d.max_value = None;
        }
        "TEXT" => {
            if categories_given {
                return Err(ApiError::invalid_field(
                    "categories",
                    "Categories are only allowed for categorical score configs",
                ));
            }
            d.categories = None;
            d.min_value = None;
            d.max_value = None;
        }
        other => {
            return Err(ApiError::invalid_field(
                "dataType",
                format!(
                    "Invalid enum value. Expected 'NUMERIC' | 'CATEGORICAL' | 'BOOLEAN' | 'TEXT', received '{other}'"
                ),
            ))
        }
    }
    Ok(d)
}

/// Langfuse `scoreConfigs_get`: configs of the project, newest first.
#[utoipa::path(tag = "ScoreConfigs", security(("BasicAuth" = [])),
    params(("page" = Option<u32>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, body = ScoreConfigs), (status = 400, body = ErrorBody)))]
#[get("/api/public/score-configs")]
pub async fn list_score_configs(
    auth: ProjectAuth,
    q: QueryParams,
    state: web::Data<AppState>,
) -> Result<web::Json<ScoreConfigs>, ApiError> {
    let page = q.default_page()?;
    let (rows, total) = store::list(&state.pool, &auth.project_id, page).await?;
    Ok(web::Json(ScoreConfigs {
        data: rows.into_iter().map(ScoreConfig::from).collect(),
        meta: MetaResponse::new(page.page, page.limit, total),
    }))
}

fn config_not_found() -> ApiError {
    ApiError::NotFound("Score config not found within authorized project".into())
}

/// Langfuse `scoreConfigs_getById`.
#[utoipa::path(tag = "ScoreConfigs", security(("BasicAuth" = [])), params(("configId" = String, Path)),
    responses((status = 200, body = ScoreConfig), (status = 404, body = ErrorBody)))]
#[get("/api/public/score-configs/{configId}")]
pub async fn get_score_config(
    auth: ProjectAuth,
    id: PathParam,
    state: web::Data<AppState>,
) -> Result<web::Json<ScoreConfig>, ApiError> {
    let row = store::find(&state.pool, &auth.project_id, &id)
        .await?
        .ok_or_else(config_not_found)?;
    Ok(web::Json(row.into()))
}

/// Langfuse `scoreConfigs_create`: 200 with the new config.
#[utoipa::path(tag = "ScoreConfigs", security(("BasicAuth" = [])), request_body = CreateScoreConfigRequest,
    responses((status = 200, body = ScoreConfig), (status = 400, body = ErrorBody)))]
#[post("/api/public/score-configs")]
pub async fn create_score_config(
    auth: ProjectAuth,
    body: web::Json<CreateScoreConfigRequest>,
    state: web::Data<AppState>,
) -> Result<web::Json<ScoreConfig>, ApiError> {
    let body = body.into_inner();
    let name = body
        .name
        .ok_or_else(|| ApiError::invalid_field("name", "Required"))?;
    let data_type = body
        .data_type
        .ok_or_else(|| ApiError::invalid_field("dataType", "Required"))?;
    let categories_given = body.categories.is_some();
    let data = validate(
        ScoreConfigData {
            name,
            data_type,
            is_archived: false,
            min_value: body.min_value,
            max_value: body.max_value,
            categories: body
                .categories
                .map(|c| serde_json::to_value(c).expect("categories serialise")),
            description: body.description,
        },
        categories_given,
    )?;
    let row = store::insert(&state.pool, &auth.project_id, &data).await?;
    Ok(web::Json(row.into()))
}

/// Langfuse `scoreConfigs_update`: changes any of the writable attributes.
#[utoipa::path(tag = "ScoreConfigs", security(("BasicAuth" = [])), params(("configId" = String, Path)),
    request_body = UpdateScoreConfigRequest,
    responses((status = 200, body = ScoreConfig), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[patch("/api/public/score-configs/{configId}")]
pub async fn update_score_config(
    auth: ProjectAuth,
    id: PathParam,
    body: web::Json<UpdateScoreConfigRequest>,
    state: web::Data<AppState>,
) -> Result<web::Json<ScoreConfig>, ApiError> {
    let body = body.into_inner();
    if body.is_archived.is_none()
        && body.name.is_none()
        && body.categories.is_none()
        && body.min_value.is_none()
        && body.max_value.is_none()
        && body.description.is_none()
    {
        return Err(ApiError::InvalidRequest(
            "Request body cannot be empty: provide at least one field to update".into(),
        ));
    }
    let current = store::find(&state.pool, &auth.project_id, &id)
        .await?
        .ok_or_else(config_not_found)?;
    let mut data = ScoreConfigData::from(&current);
    let categories_given = body.categories.is_some();
    if let Some(v) = body.is_archived {
        data.is_archived = v;
    }
    if let Some(v) = body.name {
        data.name = v;
    }
    if let Some(c) = body.categories {
        data.categories = Some(serde_json::to_value(c).expect("categories serialise"));
    }
    if body.min_value.is_some() {
        data.min_value = body.min_value;
    }
    if body.max_value.is_some() {
        data.max_value = body.max_value;
    }
    if body.description.is_some() {
        data.description = body.description;
    }
    let data = validate(data, categories_given)?;
    let row = store::update(&state.pool, &auth.project_id, &id, &data)
        .await?
        .ok_or_else(config_not_found)?;
    Ok(web::Json(row.into()))
}
