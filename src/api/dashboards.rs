//! Unstable dashboards API: widgets (`/api/public/unstable/dashboard-widgets[/{widgetId}]`),
//! dashboards (`/api/public/unstable/dashboards[/{dashboardId}]`) and placements
//! (`…/dashboards/{dashboardId}/placements[/{placementId}]`).
//!
//! Rules (Langfuse `web/src/features/public-api/types/unstable-dashboard-widgets.ts`,
//! `unstable-dashboards.ts`, `web/src/features/widgets/server/public-dashboard-widget-service.ts`):
//! widgets need a name, a view (observations, scores-numeric, scores-boolean,
//! scores-categorical), at least one metric, a chart type; dimensions and measures must
//! exist in the view (the v2 metrics API's catalog), aggregations are the metrics API's;
//! only pivot tables take several dimensions (at most 2) and at most 10 metrics;
//! `chartConfig.type` defaults to and must match `chartType`; PATCH needs at least one
//! field and a new `chartType` without `chartConfig` resets the config. A widget still
//! placed on a dashboard cannot be deleted (409). Placements are tiles of a 12-column grid
//! (`x`,`y` ≥ 0, `width`,`height` > 0, ids unique per dashboard, 409 on a taken id); a new
//! placement without a position is a 6x6 tile at x 0 below every tile. Widget placements
//! must name a widget of the project; preset placements name a preset id, which xtrace
//! stores as given (it has no Langfuse-managed presets). Errors use the unstable envelope.

use actix_web::{delete, get, patch, post, web, HttpRequest};
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::api::params::{path_segment, QueryParams};
use crate::api::unstable::{self as u, body_issue};
use crate::api::MetaResponse;
use crate::auth::ProjectAuth;
use crate::domain::time;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::dashboards::{
    self as store, DashboardRow, WidgetDelete, WidgetFields, WidgetRow,
};
use crate::store::metrics_query::{catalog, Aggregation, ViewName};

const VIEWS: [(&str, ViewName); 4] = [
    ("observations", ViewName::Observations),
    ("scores-numeric", ViewName::ScoresNumeric),
    ("scores-boolean", ViewName::ScoresBoolean),
    ("scores-categorical", ViewName::ScoresCategorical),
];
const CHART_TYPES: [&str; 9] = [
    "LINE_TIME_SERIES",
    "AREA_TIME_SERIES",
    "BAR_TIME_SERIES",
    "HORIZONTAL_BAR",
    "VERTICAL_BAR",
    "PIE",
    "NUMBER",
    "HISTOGRAM",
    "PIVOT_TABLE",
];
const MAX_PIVOT_DIMENSIONS: usize = 2;
const MAX_PIVOT_METRICS: usize = 10;

/// Langfuse `unstableErrorBody`: the unstable API's error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnstableError {
    /// Human-readable description.
    pub message: String,
    /// Machine-readable code (`invalid_body`, `resource_not_found`, `conflict`, …).
    pub code: String,
    /// Structured context (`issues`, `field`, `allowedValues`, …).
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

/// Langfuse `unstableDashboardWidgetList`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardWidgetList {
    /// Widgets (`unstableDashboardWidget`), most recently updated first.
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
    /// Pagination.
    pub meta: MetaResponse,
}

/// Langfuse `unstableDashboardList`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardList {
    /// Dashboards (`unstableDashboard`), most recently updated first.
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
    /// Pagination.
    pub meta: MetaResponse,
}

/// `{"message": …}` of the unstable deletes.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnstableDeleteResponse {
    /// Confirmation text.
    pub message: String,
}

fn widget_json(r: &WidgetRow) -> Value {
    json!({
        "id": r.id,
        "createdAt": time::format(&r.created_at),
        "updatedAt": time::format(&r.updated_at),
        "name": r.name,
        "description": r.description,
        "view": r.view,
        "dimensions": r.dimensions,
        "metrics": r.metrics,
        "filters": r.filters,
        "chartType": r.chart_type,
        "chartConfig": r.chart_config,
    })
}

fn dashboard_json(r: &DashboardRow) -> Value {
    let widgets = r
        .definition
        .get("widgets")
        .cloned()
        .unwrap_or_else(|| json!([]));
    json!({
        "id": r.id,
        "createdAt": time::format(&r.created_at),
        "updatedAt": time::format(&r.updated_at),
        "name": r.name,
        "description": r.description,
        "definition": {"widgets": widgets},
        "filters": r.filters,
    })
}

fn enum_issue(path: &str, allowed: &[&str], got: &Value) -> ApiError {
    let names: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
    body_issue(
        "invalid_enum_value",
        path,
        format!(
            "Invalid enum value. Expected {}, received {}",
            names.join(" | "),
            got
        ),
    )
}

fn string_at(o: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>, ApiError> {
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

fn non_empty(s: Option<String>, path: &str, message: &str) -> Result<Option<String>, ApiError> {
    match s {
        Some(s) if s.is_empty() => Err(body_issue("too_small", path, message)),
        other => Ok(other),
    }
}

fn one_of(v: Option<String>, path: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
    match v {
        Some(s) if !allowed.contains(&s.as_str()) => Err(enum_issue(path, allowed, &json!(s))),
        other => Ok(other),
    }
}

fn array_at<'a>(o: &'a Map<String, Value>, key: &str) -> Result<Option<&'a Vec<Value>>, ApiError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(other) => Err(body_issue(
            "invalid_type",
            key,
            format!("Expected array, received {}", u::type_name(other)),
        )),
    }
}

fn dimensions(a: &[Value]) -> Result<Value, ApiError> {
    let mut out = Vec::new();
    for (i, d) in a.iter().enumerate() {
        let path = format!("dimensions.{i}.field");
        let field = d.get("field").and_then(Value::as_str).unwrap_or("");
        if field.is_empty() {
            return Err(body_issue("invalid_type", &path, "Required"));
        }
        out.push(json!({ "field": field }));
    }
    Ok(Value::Array(out))
}

fn metrics(a: &[Value]) -> Result<Value, ApiError> {
    if a.is_empty() {
        return Err(body_issue(
            "too_small",
            "metrics",
            "Array must contain at least 1 element(s)",
        ));
    }
    let aggs: Vec<&str> = Aggregation::ALL.iter().map(|(n, _)| *n).collect();
    let mut out = Vec::new();
    for (i, m) in a.iter().enumerate() {
        let measure = m.get("measure").and_then(Value::as_str).unwrap_or("");
        if measure.is_empty() {
            return Err(body_issue(
                "invalid_type",
                &format!("metrics.{i}.measure"),
                "Required",
            ));
        }
        let agg = m.get("agg").cloned().unwrap_or(Value::Null);
        if !agg.as_str().is_some_and(|s| aggs.contains(&s)) {
            return Err(enum_issue(&format!("metrics.{i}.agg"), &aggs, &agg));
        }
        out.push(json!({"measure": measure, "agg": agg}));
    }
    Ok(Value::Array(out))
}

/// The stored chart config: `input` (optional) with `type` defaulted to `chart_type`.
fn chart_config(input: Option<&Value>, chart_type: &str) -> Result<Value, ApiError> {
    let mut cfg = match input {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(other) => {
            return Err(body_issue(
                "invalid_type",
                "chartConfig",
                format!("Expected object, received {}", u::type_name(other)),
            ))
        }
    };
    match cfg.get("type") {
        None | Some(Value::Null) => {}
        Some(t) if t.as_str() == Some(chart_type) => {}
        Some(t) => {
            return Err(u::invalid_request(
                format!("chartConfig.type ({t}) must match chartType ({chart_type})"),
                Some("chartConfig.type"),
                None,
            ))
        }
    }
    for (key, ok) in [
        ("row_limit", cfg.get("row_limit").map(|v| v.is_u64())),
        ("bins", cfg.get("bins").map(|v| v.is_u64())),
        (
            "show_value_labels",
            cfg.get("show_value_labels").map(Value::is_boolean),
        ),
    ] {
        if ok == Some(false) && !cfg.get(key).is_some_and(Value::is_null) {
            return Err(body_issue(
                "invalid_type",
                &format!("chartConfig.{key}"),
                "Invalid value",
            ));
        }
    }
    if let Some(sort) = cfg.get("defaultSort").filter(|v| !v.is_null()) {
        let column_ok = sort.get("column").and_then(Value::as_str).is_some();
        let order_ok = matches!(
            sort.get("order").and_then(Value::as_str),
            Some("ASC" | "DESC")
        );
        if !column_ok || !order_ok {
            return Err(body_issue(
                "invalid_type",
                "chartConfig.defaultSort",
                "Expected {column: string, order: 'ASC' | 'DESC'}",
            ));
        }
    }
    cfg.retain(|_, v| !v.is_null());
    cfg.insert("type".into(), json!(chart_type));
    Ok(Value::Object(cfg))
}

/// Checks a complete widget against the view catalog and the chart rules.
fn check_widget(w: &WidgetFields) -> Result<(), ApiError> {
    let Some((_, view)) = VIEWS.iter().find(|(n, _)| *n == w.view) else {
        return Err(u::invalid_request(
            format!("View \"{}\" cannot be used for new widgets", w.view),
            Some("view"),
            Some(VIEWS.iter().map(|(n, _)| n.to_string()).collect()),
        ));
    };
    let (dims, measures) = catalog(*view);
    let dim_list = w.dimensions.as_array().cloned().unwrap_or_default();
    for (i, d) in dim_list.iter().enumerate() {
        let f = d["field"].as_str().unwrap_or("");
        if !dims.contains(&f) {
            return Err(u::invalid_request(
                format!(
                    "Dimension \"{f}\" is not available for view \"{}\" in version \"v2\"",
                    w.view
                ),
                Some(&format!("dimensions[{i}].field")),
                Some(dims.iter().map(|s| s.to_string()).collect()),
            ));
        }
    }
    let metric_list = w.metrics.as_array().cloned().unwrap_or_default();
    for (i, m) in metric_list.iter().enumerate() {
        let f = m["measure"].as_str().unwrap_or("");
        let Some((_, is_string)) = measures.iter().find(|(n, _)| *n == f) else {
            return Err(u::invalid_request(
                format!(
                    "Measure \"{f}\" is not available for view \"{}\" in version \"v2\"",
                    w.view
                ),
                Some(&format!("metrics[{i}].measure")),
                Some(measures.iter().map(|(n, _)| n.to_string()).collect()),
            ));
        };
        let agg = m["agg"].as_str().unwrap_or("");
        if *is_string && !matches!(agg, "count" | "uniq") {
            return Err(u::invalid_request(
                format!("Aggregation \"{agg}\" is not valid for measure \"{f}\""),
                Some(&format!("metrics[{i}].agg")),
                Some(vec!["count".into(), "uniq".into()]),
            ));
        }
    }
    let pivot = w.chart_type == "PIVOT_TABLE";
    if !pivot && dim_list.len() > 1 {
        return Err(u::invalid_request(
            "Only pivot table widgets can have multiple dimensions",
            Some("dimensions"),
            None,
        ));
    }
    if pivot && dim_list.len() > MAX_PIVOT_DIMENSIONS {
        return Err(u::invalid_request(
            format!("Pivot table widgets can have at most {MAX_PIVOT_DIMENSIONS} dimensions"),
            Some("dimensions"),
            None,
        ));
    }
    if pivot && metric_list.len() > MAX_PIVOT_METRICS {
        return Err(u::invalid_request(
            format!("Pivot table widgets can have at most {MAX_PIVOT_METRICS} metrics"),
            Some("metrics"),
            None,
        ));
    }
    Ok(())
}

const VIEW_NAMES: [&str; 4] = [
    "observations",
    "scores-numeric",
    "scores-boolean",
    "scores-categorical",
];

/// The widget a create (`base` None) or patch (`base` the stored widget) body describes.
fn widget_from_body(
    o: &Map<String, Value>,
    base: Option<&WidgetRow>,
) -> Result<WidgetFields, ApiError> {
    let name = non_empty(
        string_at(o, "name", "name")?,
        "name",
        "Widget name is required",
    )?;
    let description = string_at(o, "description", "description")?;
    let view = one_of(string_at(o, "view", "view")?, "view", &VIEW_NAMES)?;
    let chart_type = one_of(
        string_at(o, "chartType", "chartType")?,
        "chartType",
        &CHART_TYPES,
    )?;
    let dims = array_at(o, "dimensions")?
        .map(|a| dimensions(a))
        .transpose()?;
    let mets = array_at(o, "metrics")?.map(|a| metrics(a)).transpose()?;
    let filters = match o.get("filters") {
        None | Some(Value::Null) => None,
        Some(v) => Some(Value::Array(u::filter_state(v, "filters")?)),
    };
    fn required<T>(v: Option<T>, field: &str) -> Result<T, ApiError> {
        v.ok_or_else(|| body_issue("invalid_type", field, "Required"))
    }
    let fields = match base {
        None => {
            let chart_type = required(chart_type, "chartType")?;
            WidgetFields {
                name: required(name, "name")?,
                description: description.unwrap_or_default(),
                view: required(view, "view")?,
                dimensions: required(dims, "dimensions")?,
                metrics: required(mets, "metrics")?,
                filters: required(filters, "filters")?,
                chart_config: chart_config(o.get("chartConfig"), &chart_type)?,
                chart_type,
            }
        }
        Some(b) => {
            let new_type = chart_type.clone().unwrap_or_else(|| b.chart_type.clone());
            let config = match o.get("chartConfig").filter(|v| !v.is_null()) {
                Some(c) => chart_config(Some(c), &new_type)?,
                None if chart_type.is_some() && new_type != b.chart_type => {
                    chart_config(None, &new_type)?
                }
                None => b.chart_config.clone(),
            };
            WidgetFields {
                name: name.unwrap_or_else(|| b.name.clone()),
                description: description.unwrap_or_else(|| b.description.clone()),
                view: view.unwrap_or_else(|| b.view.clone()),
                dimensions: dims.unwrap_or_else(|| b.dimensions.clone()),
                metrics: mets.unwrap_or_else(|| b.metrics.clone()),
                filters: filters.unwrap_or_else(|| b.filters.clone()),
                chart_type: new_type,
                chart_config: config,
            }
        }
    };
    check_widget(&fields)?;
    Ok(fields)
}

fn at_least_one(o: &Map<String, Value>, keys: &[&str]) -> Result<(), ApiError> {
    if keys.iter().any(|k| o.get(*k).is_some_and(|v| !v.is_null())) {
        Ok(())
    } else {
        Err(body_issue("custom", "", "At least one field is required"))
    }
}

fn widget_not_found(id: &str) -> ApiError {
    u::not_found(format!("Dashboard widget {id} not found"))
}

fn dashboard_not_found(id: &str) -> ApiError {
    u::not_found(format!("Dashboard {id} not found"))
}

fn segment(req: &HttpRequest, name: &str) -> Result<String, ApiError> {
    path_segment(req, name).map_err(ApiError::into_unstable)
}

fn query(q: Result<QueryParams, ApiError>) -> Result<QueryParams, ApiError> {
    q.map_err(ApiError::into_unstable)
}

/// Langfuse `unstable_dashboardWidgets_list`.
#[utoipa::path(tag = "UnstableDashboardWidgets", security(("BasicAuth" = [])),
    params(("page" = Option<u32>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, body = DashboardWidgetList), (status = 400, body = UnstableError), (status = 401, body = UnstableError)))]
#[get("/api/public/unstable/dashboard-widgets")]
pub async fn list_widgets(
    auth: Result<ProjectAuth, ApiError>,
    q: Result<QueryParams, ApiError>,
    state: web::Data<AppState>,
) -> Result<web::Json<DashboardWidgetList>, ApiError> {
    let project = u::project(auth)?;
    let page = u::page(&query(q)?)?;
    let (rows, total) = store::list_widgets(&state.pool, &project, page)
        .await
        .map_err(|e| ApiError::from(e).into_unstable())?;
    Ok(web::Json(DashboardWidgetList {
        data: rows.iter().map(widget_json).collect(),
        meta: MetaResponse::new(page.page, page.limit, total),
    }))
}

/// Langfuse `unstable_dashboardWidgets_create`.
#[utoipa::path(tag = "UnstableDashboardWidgets", security(("BasicAuth" = [])),
    request_body(content = Object, description = "unstableCreateDashboardWidgetRequest"),
    responses((status = 200, body = Object, description = "unstableDashboardWidget"), (status = 400, body = UnstableError), (status = 401, body = UnstableError)))]
#[post("/api/public/unstable/dashboard-widgets")]
pub async fn create_widget(
    auth: Result<ProjectAuth, ApiError>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<web::Json<Value>, ApiError> {
    let project = u::project(auth)?;
    let o = u::body_object(&body)?;
    let w = widget_from_body(&o, None)?;
    let row = store::insert_widget(&state.pool, &project, &u::new_id(), &w)
        .await
        .map_err(|e| ApiError::from(e).into_unstable())?;
    Ok(web::Json(widget_json(&row)))
}

/// Langfuse `unstable_dashboardWidgets_get`.
#[utoipa::path(tag = "UnstableDashboardWidgets", security(("BasicAuth" = [])),
    params(("widgetId" = String, Path)),
    responses((status = 200, body = Object, description = "unstableDashboardWidget"), (status = 404, body = UnstableError)))]
#[get("/api/public/unstable/dashboard-widgets/{widgetId}")]
pub async fn get_widget(
    auth: Result<ProjectAuth, ApiError>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<Value>, ApiError> {
    let project = u::project(auth)?;
    let id = segment(&req, "widgetId")?;
    let row = store::find_widget(&state.pool, &project, &id)
        .await
        .map_err(|e| ApiError::from(e).into_unstable())?
        .ok_or_else(|| widget_not_found(&id))?;
    Ok(web::Json(widget_json(&row)))
}

/// Langfuse `unstable_dashboardWidgets_update`.
#[utoipa::path(tag = "UnstableDashboardWidgets", security(("BasicAuth" = [])),
    params(("widgetId" = String, Path)),
    request_body(content = Object, description = "unstableUpdateDashboardWidgetRequest"),
    responses((status = 200, body = Object, description = "unstableDashboardWidget"), (status = 400, body = UnstableError), (status = 404, body = UnstableError)))]
#[patch("/api/public/unstable/dashboard-widgets/{widgetId}")]
pub async fn update_widget(
    auth: Result<ProjectAuth, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<web::Json<Value>, ApiError> {
    let project = u::project(auth)?;
    let id = segment(&req, "widgetId")?;
    let o = u::body_object(&body)?;
    at_least_one(
        &o,
        &[
            "name",
            "description",
            "view",
            "dimensions",
            "metrics",
            "filters",
            "chartType",
            "chartConfig",
        ],
    )?;
    let db = |e: sqlx::Error| ApiError::from(e).into_unstable();
    let base = store::find_widget(&state.pool, &project, &id)
        .await
        .map_err(db)?
        .ok_or_else(|| widget_not_found(&id))?;
    let w = widget_from_body(&o, Some(&base))?;
    let row = store::update_widget(&state.pool, &project, &id, &w)
        .await
        .map_err(db)?
        .ok_or_else(|| widget_not_found(&id))?;
    Ok(web::Json(widget_json(&row)))
}

/// Langfuse `unstable_dashboardWidgets_delete`: 409 while the widget is placed.
#[utoipa::path(tag = "UnstableDashboardWidgets", security(("BasicAuth" = [])),
    params(("widgetId" = String, Path)),
    responses((status = 200, body = UnstableDeleteResponse), (status = 404, body = UnstableError), (status = 409, body = UnstableError)))]
#[delete("/api/public/unstable/dashboard-widgets/{widgetId}")]
pub async fn delete_widget(
    auth: Result<ProjectAuth, ApiError>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<UnstableDeleteResponse>, ApiError> {
    let project = u::project(auth)?;
    let id = segment(&req, "widgetId")?;
    match store::delete_widget(&state.pool, &project, &id)
        .await
        .map_err(|e| ApiError::from(e).into_unstable())?
    {
        WidgetDelete::Deleted => Ok(web::Json(UnstableDeleteResponse {
            message: "Dashboard widget successfully deleted".into(),
        })),
        WidgetDelete::NotFound => Err(widget_not_found(&id)),
        WidgetDelete::Placed => Err(ApiError::unstable(
            409,
            "conflict",
            "Dashboard widget is still placed on a dashboard. Remove those placements first.",
        )),
    }
}

/// Position fields of a placement body: each a non-negative (`x`, `y`) or positive
/// (`width`, `height`) integer when present.
fn position(o: &Map<String, Value>, path: &str) -> Result<[Option<i64>; 4], ApiError> {
    let mut out = [None; 4];
    for (i, key) in ["x", "y", "width", "height"].iter().enumerate() {
        match o.get(*key) {
            None | Some(Value::Null) => {}
            Some(v) => {
                let min = if i < 2 { 0 } else { 1 };
                let n = v.as_i64().filter(|n| *n >= min).ok_or_else(|| {
                    body_issue(
                        if v.is_number() {
                            "too_small"
                        } else {
                            "invalid_type"
                        },
                        &format!("{path}{key}"),
                        format!("Expected an integer >= {min}"),
                    )
                })?;
                out[i] = Some(n);
            }
        }
    }
    Ok(out)
}

/// A placement of a stored or requested definition, in the public shape. `create` makes
/// `id` and the position optional (defaults applied by the caller).
fn placement(v: &Value, path: &str, create: bool) -> Result<Value, ApiError> {
    let Value::Object(o) = v else {
        return Err(body_issue("invalid_type", path, "Expected object"));
    };
    let p = if path.is_empty() {
        String::new()
    } else {
        format!("{path}.")
    };
    let ty = o.get("type").and_then(Value::as_str).unwrap_or("");
    let ref_key = match ty {
        "widget" => "widgetId",
        "preset" => "presetId",
        _ => {
            return Err(body_issue(
                "invalid_union_discriminator",
                &format!("{p}type"),
                "Invalid discriminator value. Expected 'widget' | 'preset'",
            ))
        }
    };
    let allowed = ["type", "id", ref_key, "x", "y", "width", "height"];
    if let Some(k) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(body_issue(
            "unrecognized_keys",
            path,
            format!("Unrecognized key(s) in object: '{k}'"),
        ));
    }
    let reference = o
        .get(ref_key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| body_issue("invalid_type", &format!("{p}{ref_key}"), "Required"))?;
    let id = match o.get("id") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        None | Some(Value::Null) if create => None,
        _ => return Err(body_issue("invalid_type", &format!("{p}id"), "Required")),
    };
    let pos = position(o, &p)?;
    if !create && pos.iter().any(Option::is_none) {
        let missing =
            ["x", "y", "width", "height"][pos.iter().position(Option::is_none).unwrap_or(0)];
        return Err(body_issue(
            "invalid_type",
            &format!("{p}{missing}"),
            "Required",
        ));
    }
    let mut out = json!({"type": ty, ref_key: reference});
    if let Some(id) = id {
        out["id"] = json!(id);
    }
    for (key, val) in ["x", "y", "width", "height"].iter().zip(pos) {
        if let Some(n) = val {
            out[*key] = json!(n);
        }
    }
    Ok(out)
}

/// A requested `definition`: placements with unique ids whose widgets exist.
async fn definition(state: &AppState, project: &str, v: &Value) -> Result<Value, ApiError> {
    let widgets = v
        .get("widgets")
        .ok_or_else(|| body_issue("invalid_type", "definition.widgets", "Required"))?;
    let Value::Array(items) = widgets else {
        return Err(body_issue(
            "invalid_type",
            "definition.widgets",
            "Expected array",
        ));
    };
    let placements = items
        .iter()
        .enumerate()
        .map(|(i, p)| placement(p, &format!("definition.widgets.{i}"), false))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ids: Vec<&str> = placements.iter().filter_map(|p| p["id"].as_str()).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(body_issue(
            "custom",
            "definition",
            "Placement ids must be unique",
        ));
    }
    check_widgets_exist(state, project, &placements).await?;
    Ok(json!({ "widgets": placements }))
}

async fn check_widgets_exist(
    state: &AppState,
    project: &str,
    placements: &[Value],
) -> Result<(), ApiError> {
    let wanted: Vec<String> = placements
        .iter()
        .filter_map(|p| {
            p.get("widgetId")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let found = store::existing_widget_ids(&state.pool, project, &wanted)
        .await
        .map_err(|e| ApiError::from(e).into_unstable())?;
    match wanted.iter().find(|w| !found.contains(w)) {
        Some(missing) => Err(widget_not_found(missing)),
        None => Ok(()),
    }
}

fn filters_of(o: &Map<String, Value>) -> Result<Option<Value>, ApiError> {
    match o.get("filters") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => Ok(Some(Value::Array(u::filter_state(v, "filters")?))),
    }
}

/// Langfuse `unstable_dashboards_list`.
#[utoipa::path(tag = "UnstableDashboards", security(("BasicAuth" = [])),
    params(("page" = Option<u32>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, body = DashboardList), (status = 400, body = UnstableError), (status = 401, body = UnstableError)))]
#[get("/api/public/unstable/dashboards")]
pub async fn list_dashboards(
    auth: Result<ProjectAuth, ApiError>,
    q: Result<QueryParams, ApiError>,
    state: web::Data<AppState>,
) -> Result<web::Json<DashboardList>, ApiError> {
    let project = u::project(auth)?;
    let page = u::page(&query(q)?)?;
    let (rows, total) = store::list_dashboards(&state.pool, &project, page)
        .await
        .map_err(|e| ApiError::from(e).into_unstable())?;
    Ok(web::Json(DashboardList {
        data: rows.iter().map(dashboard_json).collect(),
        meta: MetaResponse::new(page.page, page.limit, total),
    }))
}

/// Langfuse `unstable_dashboards_create`.
#[utoipa::path(tag = "UnstableDashboards", security(("BasicAuth" = [])),
    request_body(content = Object, description = "unstableCreateDashboardRequest"),
    responses((status = 200, body = Object, description = "unstableDashboard"), (status = 400, body = UnstableError), (status = 404, body = UnstableError)))]
#[post("/api/public/unstable/dashboards")]
pub async fn create_dashboard(
    auth: Result<ProjectAuth, ApiError>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<web::Json<Value>, ApiError> {
    let project = u::project(auth)?;
    let o = u::body_object(&body)?;
    let name = non_empty(
        string_at(&o, "name", "name")?,
        "name",
        "String must contain at least 1 character(s)",
    )?
    .ok_or_else(|| body_issue("invalid_type", "name", "Required"))?;
    let description = string_at(&o, "description", "description")?.unwrap_or_default();
    let def = match o.get("definition").filter(|v| !v.is_null()) {
        Some(v) => definition(&state, &project, v).await?,
        None => json!({"widgets": []}),
    };
    let filters = filters_of(&o)?.unwrap_or_else(|| json!([]));
    let row = store::insert_dashboard(
        &state.pool,
        &project,
        &u::new_id(),
        &name,
        &description,
        &def,
        &filters,
    )
    .await
    .map_err(|e| ApiError::from(e).into_unstable())?;
    Ok(web::Json(dashboard_json(&row)))
}

/// Langfuse `unstable_dashboards_get`.
#[utoipa::path(tag = "UnstableDashboards", security(("BasicAuth" = [])),
    params(("dashboardId" = String, Path)),
    responses((status = 200, body = Object, description = "unstableDashboard"), (status = 404, body = UnstableError)))]
#[get("/api/public/unstable/dashboards/{dashboardId}")]
pub async fn get_dashboard(
    auth: Result<ProjectAuth, ApiError>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<Value>, ApiError> {
    let project = u::project(auth)?;
    let id = segment(&req, "dashboardId")?;
    let row = store::find_dashboard(&state.pool, &project, &id)
        .await
        .map_err(|e| ApiError::from(e).into_unstable())?
        .ok_or_else(|| dashboard_not_found(&id))?;
    Ok(web::Json(dashboard_json(&row)))
}

/// Langfuse `unstable_dashboards_update`.
#[utoipa::path(tag = "UnstableDashboards", security(("BasicAuth" = [])),
    params(("dashboardId" = String, Path)),
    request_body(content = Object, description = "unstableUpdateDashboardRequest"),
    responses((status = 200, body = Object, description = "unstableDashboard"), (status = 400, body = UnstableError), (status = 404, body = UnstableError)))]
#[patch("/api/public/unstable/dashboards/{dashboardId}")]
pub async fn update_dashboard(
    auth: Result<ProjectAuth, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<web::Json<Value>, ApiError> {
    let project = u::project(auth)?;
    let id = segment(&req, "dashboardId")?;
    let o = u::body_object(&body)?;
    at_least_one(&o, &["name", "description", "definition", "filters"])?;
    let db = |e: sqlx::Error| ApiError::from(e).into_unstable();
    let mut row = store::find_dashboard(&state.pool, &project, &id)
        .await
        .map_err(db)?
        .ok_or_else(|| dashboard_not_found(&id))?;
    if let Some(name) = non_empty(
        string_at(&o, "name", "name")?,
        "name",
        "String must contain at least 1 character(s)",
    )? {
        row.name = name;
    }
    if let Some(d) = string_at(&o, "description", "description")? {
        row.description = d;
    }
    if let Some(v) = o.get("definition").filter(|v| !v.is_null()) {
        row.definition = definition(&state, &project, v).await?;
    }
    if let Some(f) = filters_of(&o)? {
        row.filters = f;
    }
    let row = store::update_dashboard(&state.pool, &project, &row)
        .await
        .map_err(db)?
        .ok_or_else(|| dashboard_not_found(&id))?;
    Ok(web::Json(dashboard_json(&row)))
}

/// Langfuse `unstable_dashboards_delete`.
#[utoipa::path(tag = "UnstableDashboards", security(("BasicAuth" = [])),
    params(("dashboardId" = String, Path)),
    responses((status = 200, body = UnstableDeleteResponse), (status = 404, body = UnstableError)))]
#[delete("/api/public/unstable/dashboards/{dashboardId}")]
pub async fn delete_dashboard(
    auth: Result<ProjectAuth, ApiError>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<UnstableDeleteResponse>, ApiError> {
    let project = u::project(auth)?;
    let id = segment(&req, "dashboardId")?;
    if !store::delete_dashboard(&state.pool, &project, &id)
        .await
        .map_err(|e| ApiError::from(e).into_unstable())?
    {
        return Err(dashboard_not_found(&id));
    }
    Ok(web::Json(UnstableDeleteResponse {
        message: "Dashboard successfully deleted".into(),
    }))
}

/// Langfuse `unstable_dashboards_addPlacement`.
#[utoipa::path(tag = "UnstableDashboards", security(("BasicAuth" = [])),
    params(("dashboardId" = String, Path)),
    request_body(content = Object, description = "unstableCreateDashboardPlacementRequest"),
    responses((status = 200, body = Object, description = "unstableDashboardPlacement"), (status = 400, body = UnstableError), (status = 404, body = UnstableError), (status = 409, body = UnstableError)))]
#[post("/api/public/unstable/dashboards/{dashboardId}/placements")]
pub async fn add_placement(
    auth: Result<ProjectAuth, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<web::Json<Value>, ApiError> {
    let project = u::project(auth)?;
    let id = segment(&req, "dashboardId")?;
    let raw = Value::Object(u::body_object(&body)?);
    let mut p = placement(&raw, "", true)?;
    check_widgets_exist(&state, &project, std::slice::from_ref(&p)).await?;
    if p.get("id").is_none() {
        p["id"] = json!(u::new_id());
    }
    let outcome = store::edit_placements(&state.pool, &project, &id, |mut current| {
        let pid = p["id"].as_str().unwrap_or_default();
        if current.iter().any(|c| c["id"].as_str() == Some(pid)) {
            return Err(ApiError::unstable(
                409,
                "conflict",
                format!("A placement with id {pid} already exists on this dashboard"),
            ));
        }
        let below = current
            .iter()
            .map(|c| {
                c["y"]
                    .as_i64()
                    .unwrap_or(0)
                    .saturating_add(c["height"].as_i64().unwrap_or(0))
            })
            .max()
            .unwrap_or(0);
        for (key, default) in [("x", 0), ("y", below), ("width", 6), ("height", 6)] {
            if p.get(key).is_none() {
                p[key] = json!(default);
            }
        }
        current.push(p.clone());
        Ok((current, p))
    })
    .await
    .map_err(|e| ApiError::from(e).into_unstable())?
    .ok_or_else(|| dashboard_not_found(&id))??;
    Ok(web::Json(outcome))
}

/// Langfuse `unstable_dashboards_updatePlacement`: move or resize.
#[utoipa::path(tag = "UnstableDashboards", security(("BasicAuth" = [])),
    params(("dashboardId" = String, Path), ("placementId" = String, Path)),
    request_body(content = Object, description = "unstableUpdateDashboardPlacementRequest"),
    responses((status = 200, body = Object, description = "unstableDashboardPlacement"), (status = 400, body = UnstableError), (status = 404, body = UnstableError)))]
#[patch("/api/public/unstable/dashboards/{dashboardId}/placements/{placementId}")]
pub async fn update_placement(
    auth: Result<ProjectAuth, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<web::Json<Value>, ApiError> {
    let project = u::project(auth)?;
    let id = segment(&req, "dashboardId")?;
    let pid = segment(&req, "placementId")?;
    let o = u::body_object(&body)?;
    at_least_one(&o, &["x", "y", "width", "height"])?;
    let pos = position(&o, "")?;
    let outcome = store::edit_placements(&state.pool, &project, &id, |mut current| {
        let Some(p) = current
            .iter_mut()
            .find(|c| c["id"].as_str() == Some(pid.as_str()))
        else {
            return Err(u::not_found(format!("Placement {pid} not found")));
        };
        for (key, val) in ["x", "y", "width", "height"].iter().zip(pos) {
            if let Some(n) = val {
                p[*key] = json!(n);
            }
        }
        let out = p.clone();
        Ok((current, out))
    })
    .await
    .map_err(|e| ApiError::from(e).into_unstable())?
    .ok_or_else(|| dashboard_not_found(&id))??;
    Ok(web::Json(outcome))
}

/// Langfuse `unstable_dashboards_deletePlacement`: the widget itself stays.
#[utoipa::path(tag = "UnstableDashboards", security(("BasicAuth" = [])),
    params(("dashboardId" = String, Path), ("placementId" = String, Path)),
    responses((status = 200, body = UnstableDeleteResponse), (status = 404, body = UnstableError)))]
#[delete("/api/public/unstable/dashboards/{dashboardId}/placements/{placementId}")]
pub async fn delete_placement(
    auth: Result<ProjectAuth, ApiError>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<web::Json<UnstableDeleteResponse>, ApiError> {
    let project = u::project(auth)?;
    let id = segment(&req, "dashboardId")?;
    let pid = segment(&req, "placementId")?;
    store::edit_placements(&state.pool, &project, &id, |mut current| {
        let before = current.len();
        current.retain(|c| c["id"].as_str() != Some(pid.as_str()));
        if current.len() == before {
            return Err(u::not_found(format!("Placement {pid} not found")));
        }
        Ok((current, ()))
    })
    .await
    .map_err(|e| ApiError::from(e).into_unstable())?
    .ok_or_else(|| dashboard_not_found(&id))??;
    Ok(web::Json(UnstableDeleteResponse {
        message: "Placement successfully deleted".into(),
    }))
}
