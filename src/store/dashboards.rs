//! Dashboards and dashboard widgets (migration 0073). A dashboard's placements are the
//! `widgets` array of its `definition`; placement edits rewrite that array in one
//! statement under a row lock.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use crate::domain::paging::Page;

/// One stored widget.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WidgetRow {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// View.
    pub view: String,
    /// Dimensions.
    pub dimensions: Value,
    /// Metrics.
    pub metrics: Value,
    /// Filters.
    pub filters: Value,
    /// Chart type.
    pub chart_type: String,
    /// Chart config.
    pub chart_config: Value,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

/// The writable fields of a widget.
#[derive(Debug, Clone)]
pub struct WidgetFields {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// View.
    pub view: String,
    /// Dimensions.
    pub dimensions: Value,
    /// Metrics.
    pub metrics: Value,
    /// Filters.
    pub filters: Value,
    /// Chart type.
    pub chart_type: String,
    /// Chart config.
    pub chart_config: Value,
}

const WIDGET_COLUMNS: &str = "id, name, description, view, dimensions, metrics, filters, \
    chart_type, chart_config, created_at, updated_at";

/// Inserts a widget.
pub async fn insert_widget(
    pool: &PgPool,
    project_id: &str,
    id: &str,
    w: &WidgetFields,
) -> sqlx::Result<WidgetRow> {
    sqlx::query_as::<_, WidgetRow>(&format!(
        "insert into dashboard_widgets (project_id, id, name, description, view, dimensions, \
         metrics, filters, chart_type, chart_config) values ($1, $2, $3, $4, $5, $6, $7, $8, \
         $9, $10) returning {WIDGET_COLUMNS}"
    ))
    .bind(project_id)
    .bind(id)
    .bind(&w.name)
    .bind(&w.description)
    .bind(&w.view)
    .bind(&w.dimensions)
    .bind(&w.metrics)
    .bind(&w.filters)
    .bind(&w.chart_type)
    .bind(&w.chart_config)
    .fetch_one(pool)
    .await
}

/// Replaces a widget's fields; None when it does not exist.
pub async fn update_widget(
    pool: &PgPool,
    project_id: &str,
    id: &str,
    w: &WidgetFields,
) -> sqlx::Result<Option<WidgetRow>> {
    sqlx::query_as::<_, WidgetRow>(&format!(
        "update dashboard_widgets set name = $3, description = $4, view = $5, dimensions = $6, \
         metrics = $7, filters = $8, chart_type = $9, chart_config = $10, updated_at = now() \
         where project_id = $1 and id = $2 returning {WIDGET_COLUMNS}"
    ))
    .bind(project_id)
    .bind(id)
    .bind(&w.name)
    .bind(&w.description)
    .bind(&w.view)
    .bind(&w.dimensions)
    .bind(&w.metrics)
    .bind(&w.filters)
    .bind(&w.chart_type)
    .bind(&w.chart_config)
    .fetch_optional(pool)
    .await
}

/// One widget of the project.
pub async fn find_widget(
    pool: &PgPool,
    project_id: &str,
    id: &str,
) -> sqlx::Result<Option<WidgetRow>> {
    sqlx::query_as::<_, WidgetRow>(&format!(
        "select {WIDGET_COLUMNS} from dashboard_widgets where project_id = $1 and id = $2"
    ))
    .bind(project_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// A page of widgets, most recently updated first, with the total.
pub async fn list_widgets(
    pool: &PgPool,
    project_id: &str,
    page: Page,
) -> sqlx::Result<(Vec<WidgetRow>, u64)> {
    let rows = sqlx::query_as::<_, WidgetRow>(&format!(
        "select {WIDGET_COLUMNS} from dashboard_widgets where project_id = $1 \
         order by updated_at desc, id desc limit $2 offset $3"
    ))
    .bind(project_id)
    .bind(page.limit as i64)
    .bind(page.offset())
    .fetch_all(pool)
    .await?;
    let total: i64 =
        sqlx::query_scalar("select count(*) from dashboard_widgets where project_id = $1")
            .bind(project_id)
            .fetch_one(pool)
            .await?;
    Ok((rows, total.max(0) as u64))
}

/// Outcome of deleting a widget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WidgetDelete {
    /// Deleted.
    Deleted,
    /// No such widget.
    NotFound,
    /// Still placed on a dashboard.
    Placed,
}

/// Deletes a widget unless a dashboard of the project still places it.
pub async fn delete_widget(
    pool: &PgPool,
    project_id: &str,
    id: &str,
) -> sqlx::Result<WidgetDelete> {
    let mut tx = pool.begin().await?;
    let exists: Option<String> = sqlx::query_scalar(
        "select id from dashboard_widgets where project_id = $1 and id = $2 for update",
    )
    .bind(project_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if exists.is_none() {
        return Ok(WidgetDelete::NotFound);
    }
    let placed: bool = sqlx::query_scalar(
        "select exists (select 1 from dashboards d, jsonb_array_elements(d.definition -> 'widgets') p \
         where d.project_id = $1 and p ->> 'type' = 'widget' and p ->> 'widgetId' = $2)",
    )
    .bind(project_id)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if placed {
        return Ok(WidgetDelete::Placed);
    }
    sqlx::query("delete from dashboard_widgets where project_id = $1 and id = $2")
        .bind(project_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(WidgetDelete::Deleted)
}

/// Which of `ids` are widgets of the project.
pub async fn existing_widget_ids(
    pool: &PgPool,
    project_id: &str,
    ids: &[String],
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("select id from dashboard_widgets where project_id = $1 and id = any($2)")
        .bind(project_id)
        .bind(ids)
        .fetch_all(pool)
        .await
}

/// One stored dashboard.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DashboardRow {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `{"widgets": [placement…]}`.
    pub definition: Value,
    /// Dashboard-level filters.
    pub filters: Value,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

const DASHBOARD_COLUMNS: &str =
    "id, name, description, definition, filters, created_at, updated_at";

/// Inserts a dashboard.
pub async fn insert_dashboard(
    pool: &PgPool,
    project_id: &str,
    id: &str,
    name: &str,
    description: &str,
    definition: &Value,
    filters: &Value,
) -> sqlx::Result<DashboardRow> {
    sqlx::query_as::<_, DashboardRow>(&format!(
        "insert into dashboards (project_id, id, name, description, definition, filters) \
         values ($1, $2, $3, $4, $5, $6) returning {DASHBOARD_COLUMNS}"
    ))
    .bind(project_id)
    .bind(id)
    .bind(name)
    .bind(description)
    .bind(definition)
    .bind(filters)
    .fetch_one(pool)
    .await
}

/// Replaces a dashboard's fields; None when it does not exist.
pub async fn update_dashboard(
    pool: &PgPool,
    project_id: &str,
    d: &DashboardRow,
) -> sqlx::Result<Option<DashboardRow>> {
    sqlx::query_as::<_, DashboardRow>(&format!(
        "update dashboards set name = $3, description = $4, definition = $5, filters = $6, \
         updated_at = now() where project_id = $1 and id = $2 returning {DASHBOARD_COLUMNS}"
    ))
    .bind(project_id)
    .bind(&d.id)
    .bind(&d.name)
    .bind(&d.description)
    .bind(&d.definition)
    .bind(&d.filters)
    .fetch_optional(pool)
    .await
}

/// One dashboard of the project.
pub async fn find_dashboard(
    pool: &PgPool,
    project_id: &str,
    id: &str,
) -> sqlx::Result<Option<DashboardRow>> {
    sqlx::query_as::<_, DashboardRow>(&format!(
        "select {DASHBOARD_COLUMNS} from dashboards where project_id = $1 and id = $2"
    ))
    .bind(project_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// A page of dashboards, most recently updated first, with the total.
pub async fn list_dashboards(
    pool: &PgPool,
    project_id: &str,
    page: Page,
) -> sqlx::Result<(Vec<DashboardRow>, u64)> {
    let rows = sqlx::query_as::<_, DashboardRow>(&format!(
        "select {DASHBOARD_COLUMNS} from dashboards where project_id = $1 \
         order by updated_at desc, id desc limit $2 offset $3"
    ))
    .bind(project_id)
    .bind(page.limit as i64)
    .bind(page.offset())
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar("select count(*) from dashboards where project_id = $1")
        .bind(project_id)
        .fetch_one(pool)
        .await?;
    Ok((rows, total.max(0) as u64))
}

/// Deletes a dashboard; false when it did not exist.
pub async fn delete_dashboard(pool: &PgPool, project_id: &str, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("delete from dashboards where project_id = $1 and id = $2")
        .bind(project_id)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Rewrites a dashboard's placements with `edit` (given the current placements, it
/// returns the new ones and a result), under a row lock so concurrent edits serialise.
/// None when the dashboard does not exist; an `Err` from `edit` leaves it unchanged.
pub async fn edit_placements<T, E>(
    pool: &PgPool,
    project_id: &str,
    dashboard_id: &str,
    edit: impl FnOnce(Vec<Value>) -> Result<(Vec<Value>, T), E>,
) -> sqlx::Result<Option<Result<T, E>>> {
    let mut tx = pool.begin().await?;
    let def: Option<Value> = sqlx::query_scalar(
        "select definition from dashboards where project_id = $1 and id = $2 for update",
    )
    .bind(project_id)
    .bind(dashboard_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(def) = def else {
        return Ok(None);
    };
    let current = def
        .get("widgets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match edit(current) {
        Err(e) => Ok(Some(Err(e))),
        Ok((placements, out)) => {
            sqlx::query(
                "update dashboards set definition = jsonb_set(definition, '{widgets}', $3), \
                 updated_at = now() where project_id = $1 and id = $2",
            )
            .bind(project_id)
            .bind(dashboard_id)
            .bind(Value::Array(placements))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some(Ok(out)))
        }
    }
}
