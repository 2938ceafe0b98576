//! Evaluators (versioned families) and evaluation rules with their evaluator
//! assignments (migration 0072). Stored only: xtrace does not execute evaluators.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use crate::domain::paging::Page;

/// The latest version of an evaluator family.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EvaluatorRow {
    /// Family id (stable across versions).
    pub id: String,
    /// Name.
    pub name: String,
    /// Latest version number.
    pub version: i32,
    /// llm_as_judge | code.
    pub r#type: String,
    /// Type-specific fields.
    pub definition: Value,
    /// Rules that use the evaluator.
    pub rule_count: i64,
    /// Family created.
    pub created_at: DateTime<Utc>,
    /// Latest version created.
    pub updated_at: DateTime<Utc>,
}

const EVALUATOR_SELECT: &str = "select e.id, e.name, v.version, v.type, v.definition, \
    (select count(distinct a.rule_id) from evaluation_rule_evaluators a \
     where a.project_id = e.project_id and a.evaluator_id = e.id) as rule_count, \
    e.created_at, e.updated_at from evaluators e \
    join lateral (select version, type, definition from evaluator_versions x \
        where x.project_id = e.project_id and x.evaluator_id = e.id \
        order by version desc limit 1) v on true";

/// Creates version 1 of a new family, or the next version of the family `name`.
pub async fn create_evaluator_version(
    pool: &PgPool,
    project_id: &str,
    new_id: &str,
    name: &str,
    kind: &str,
    definition: &Value,
) -> sqlx::Result<EvaluatorRow> {
    let mut tx = pool.begin().await?;
    let id: String = sqlx::query_scalar(
        "insert into evaluators (project_id, id, name) values ($1, $2, $3) \
         on conflict (project_id, name) do update set updated_at = now() returning id",
    )
    .bind(project_id)
    .bind(new_id)
    .bind(name)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "insert into evaluator_versions (project_id, evaluator_id, version, type, definition) \
         select $1, $2, coalesce(max(version), 0) + 1, $3, $4 from evaluator_versions \
         where project_id = $1 and evaluator_id = $2",
    )
    .bind(project_id)
    .bind(&id)
    .bind(kind)
    .bind(definition)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let row = find_evaluator(pool, project_id, &id).await?;
    row.ok_or(sqlx::Error::RowNotFound)
}

/// The latest version of the family `id`.
pub async fn find_evaluator(
    pool: &PgPool,
    project_id: &str,
    id: &str,
) -> sqlx::Result<Option<EvaluatorRow>> {
    sqlx::query_as::<_, EvaluatorRow>(&format!(
        "{EVALUATOR_SELECT} where e.project_id = $1 and e.id = $2"
    ))
    .bind(project_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The latest version of the family called `name`.
pub async fn find_evaluator_by_name(
    pool: &PgPool,
    project_id: &str,
    name: &str,
) -> sqlx::Result<Option<EvaluatorRow>> {
    sqlx::query_as::<_, EvaluatorRow>(&format!(
        "{EVALUATOR_SELECT} where e.project_id = $1 and e.name = $2"
    ))
    .bind(project_id)
    .bind(name)
    .fetch_optional(pool)
    .await
}

/// The latest versions of the given families.
pub async fn evaluators_by_ids(
    pool: &PgPool,
    project_id: &str,
    ids: &[String],
) -> sqlx::Result<Vec<EvaluatorRow>> {
    sqlx::query_as::<_, EvaluatorRow>(&format!(
        "{EVALUATOR_SELECT} where e.project_id = $1 and e.id = any($2)"
    ))
    .bind(project_id)
    .bind(ids)
    .fetch_all(pool)
    .await
}

/// A page of evaluators (latest versions), most recently changed first, with the total.
pub async fn list_evaluators(
    pool: &PgPool,
    project_id: &str,
    page: Page,
) -> sqlx::Result<(Vec<EvaluatorRow>, u64)> {
    let rows = sqlx::query_as::<_, EvaluatorRow>(&format!(
        "{EVALUATOR_SELECT} where e.project_id = $1 order by e.updated_at desc, e.id desc \
         limit $2 offset $3"
    ))
    .bind(project_id)
    .bind(page.limit as i64)
    .bind(page.offset())
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar("select count(*) from evaluators where project_id = $1")
        .bind(project_id)
        .fetch_one(pool)
        .await?;
    Ok((rows, total.max(0) as u64))
}

/// Deletes a family with every version and every rule assignment to it.
pub async fn delete_evaluator(pool: &PgPool, project_id: &str, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("delete from evaluators where project_id = $1 and id = $2")
        .bind(project_id)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Whether the project has an LLM connection for `provider`.
pub async fn has_llm_connection(
    pool: &PgPool,
    project_id: &str,
    provider: &str,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select exists (select 1 from llm_connections where project_id = $1 and provider = $2)",
    )
    .bind(project_id)
    .bind(provider)
    .fetch_one(pool)
    .await
}

/// Which of `ids` are datasets of the project.
pub async fn existing_dataset_ids(
    pool: &PgPool,
    project_id: &str,
    ids: &[String],
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("select id from datasets where project_id = $1 and id = any($2)")
        .bind(project_id)
        .bind(ids)
        .fetch_all(pool)
        .await
}

/// One evaluator assignment of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Evaluator family.
    pub evaluator_id: String,
    /// Mapping override, None to inherit the evaluator's default.
    pub mapping: Option<Value>,
}

/// One stored rule with its assignments in order.
#[derive(Debug, Clone)]
pub struct RuleRow {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// observation | experiment.
    pub target: String,
    /// Desired state.
    pub enabled: bool,
    /// Sampling fraction.
    pub sampling: f64,
    /// Filter conditions.
    pub filter: Value,
    /// Assignments.
    pub assignments: Vec<Assignment>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct RuleBase {
    id: String,
    name: String,
    target: String,
    enabled: bool,
    sampling: f64,
    filter: Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct AssignmentRow {
    rule_id: String,
    evaluator_id: String,
    mapping: Option<Value>,
}

async fn with_assignments(
    pool: &PgPool,
    project_id: &str,
    bases: Vec<RuleBase>,
) -> sqlx::Result<Vec<RuleRow>> {
    let ids: Vec<String> = bases.iter().map(|b| b.id.clone()).collect();
    let rows = sqlx::query_as::<_, AssignmentRow>(
        "select rule_id, evaluator_id, mapping from evaluation_rule_evaluators \
         where project_id = $1 and rule_id = any($2) order by rule_id, position",
    )
    .bind(project_id)
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    Ok(bases
        .into_iter()
        .map(|b| RuleRow {
            assignments: rows
                .iter()
                .filter(|a| a.rule_id == b.id)
                .map(|a| Assignment {
                    evaluator_id: a.evaluator_id.clone(),
                    mapping: a.mapping.clone(),
                })
                .collect(),
            id: b.id,
            name: b.name,
            target: b.target,
            enabled: b.enabled,
            sampling: b.sampling,
            filter: b.filter,
            created_at: b.created_at,
            updated_at: b.updated_at,
        })
        .collect())
}

const RULE_COLUMNS: &str = "id, name, target, enabled, sampling, filter, created_at, updated_at";

/// One rule of the project.
pub async fn find_rule(pool: &PgPool, project_id: &str, id: &str) -> sqlx::Result<Option<RuleRow>> {
    let base = sqlx::query_as::<_, RuleBase>(&format!(
        "select {RULE_COLUMNS} from evaluation_rules where project_id = $1 and id = $2"
    ))
    .bind(project_id)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    match base {
        None => Ok(None),
        Some(b) => Ok(with_assignments(pool, project_id, vec![b]).await?.pop()),
    }
}

/// A page of rules, most recently updated first, with the total.
pub async fn list_rules(
    pool: &PgPool,
    project_id: &str,
    page: Page,
) -> sqlx::Result<(Vec<RuleRow>, u64)> {
    let bases = sqlx::query_as::<_, RuleBase>(&format!(
        "select {RULE_COLUMNS} from evaluation_rules where project_id = $1 \
         order by updated_at desc, id desc limit $2 offset $3"
    ))
    .bind(project_id)
    .bind(page.limit as i64)
    .bind(page.offset())
    .fetch_all(pool)
    .await?;
    let total: i64 =
        sqlx::query_scalar("select count(*) from evaluation_rules where project_id = $1")
            .bind(project_id)
            .fetch_one(pool)
            .await?;
    Ok((
        with_assignments(pool, project_id, bases).await?,
        total.max(0) as u64,
    ))
}

/// Outcome of writing a rule.
#[derive(Debug)]
pub enum RuleWrite {
    /// Written.
    Done(RuleRow),
    /// Another rule of the project has the name.
    NameTaken,
    /// Enabling it would exceed the active-rule limit.
    TooManyActive,
    /// The rule does not exist (updates).
    NotFound,
}

/// Inserts (`existing` false) or replaces a rule and its assignments. Refuses a taken
/// name and more than `max_active` enabled rules in the project.
pub async fn write_rule(
    pool: &PgPool,
    project_id: &str,
    rule: &RuleRow,
    existing: bool,
    max_active: i64,
) -> sqlx::Result<RuleWrite> {
    let mut tx = pool.begin().await?;
    // Serialise rule writes of a project so the name and active-count checks hold.
    sqlx::query("select pg_advisory_xact_lock(hashtext('evaluation_rules:' || $1))")
        .bind(project_id)
        .execute(&mut *tx)
        .await?;
    let taken: bool = sqlx::query_scalar(
        "select exists (select 1 from evaluation_rules where project_id = $1 and name = $2 \
         and id <> $3)",
    )
    .bind(project_id)
    .bind(&rule.name)
    .bind(&rule.id)
    .fetch_one(&mut *tx)
    .await?;
    if taken {
        return Ok(RuleWrite::NameTaken);
    }
    if rule.enabled {
        let active: i64 = sqlx::query_scalar(
            "select count(*) from evaluation_rules where project_id = $1 and enabled \
             and id <> $2",
        )
        .bind(project_id)
        .bind(&rule.id)
        .fetch_one(&mut *tx)
        .await?;
        if active >= max_active {
            return Ok(RuleWrite::TooManyActive);
        }
    }
    if existing {
        let done = sqlx::query(
            "update evaluation_rules set name = $3, target = $4, enabled = $5, sampling = $6, \
             filter = $7, updated_at = now() where project_id = $1 and id = $2",
        )
        .bind(project_id)
        .bind(&rule.id)
        .bind(&rule.name)
        .bind(&rule.target)
        .bind(rule.enabled)
        .bind(rule.sampling)
        .bind(&rule.filter)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(RuleWrite::NotFound);
        }
        sqlx::query(
            "delete from evaluation_rule_evaluators where project_id = $1 and rule_id = $2",
        )
        .bind(project_id)
        .bind(&rule.id)
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query(
            "insert into evaluation_rules (project_id, id, name, target, enabled, sampling, \
             filter) values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(project_id)
        .bind(&rule.id)
        .bind(&rule.name)
        .bind(&rule.target)
        .bind(rule.enabled)
        .bind(rule.sampling)
        .bind(&rule.filter)
        .execute(&mut *tx)
        .await?;
    }
    for (i, a) in rule.assignments.iter().enumerate() {
        sqlx::query(
            "insert into evaluation_rule_evaluators (project_id, rule_id, position, \
             evaluator_id, mapping) values ($1, $2, $3, $4, $5)",
        )
        .bind(project_id)
        .bind(&rule.id)
        .bind(i as i32)
        .bind(&a.evaluator_id)
        .bind(&a.mapping)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(match find_rule(pool, project_id, &rule.id).await? {
        Some(r) => RuleWrite::Done(r),
        None => RuleWrite::NotFound,
    })
}

/// Deletes a rule; false when it did not exist.
pub async fn delete_rule(pool: &PgPool, project_id: &str, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("delete from evaluation_rules where project_id = $1 and id = $2")
        .bind(project_id)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
