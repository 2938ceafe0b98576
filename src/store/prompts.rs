//! Prompt versions: create (with label moves), fetch by version or label, list grouped by
//! name, label updates and deletes. Every label change runs in one transaction that holds
//! an advisory lock on (project, name), so a label never ends up on two versions.
//!
//! Composition: a version's `@@@langfusePrompt:…@@@` references are recorded in
//! `prompt_dependencies` when it is created (and refused if missing, not text, circular or
//! nested deeper than 5), replaced by the referenced text on fetch, and a delete that would
//! leave a reference dangling is refused.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde_json::{json, Map, Value};
use sqlx::{PgConnection, PgExecutor, PgPool};

use crate::domain::prompt_refs::{
    self, CompositionLimits, PromptRef, RefSelector, MAX_NESTING_DEPTH,
};

/// The label the newest version always carries.
pub const LATEST_LABEL: &str = "latest";

/// One stored prompt version.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PromptRow {
    /// Project.
    pub project_id: String,
    /// Version id.
    pub id: String,
    /// Prompt name (may contain `/` for folders).
    pub name: String,
    /// Version number, from 1.
    pub version: i32,
    /// `text` or `chat`.
    #[sqlx(rename = "type")]
    pub r#type: String,
    /// The prompt: a string (text) or an array of messages (chat).
    pub prompt: Value,
    /// Free JSON config.
    pub config: Value,
    /// Tags (shared by all versions of the name).
    pub tags: Vec<String>,
    /// Labels of this version.
    pub labels: Vec<String>,
    /// Commit message.
    pub commit_message: Option<String>,
    /// `API` for versions created through the public API.
    pub created_by: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change (labels moved, tags rewritten).
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "project_id, id, name, version, type, prompt, config, tags, labels, \
    commit_message, created_by, created_at, updated_at";

/// A version to create.
#[derive(Debug, Clone)]
pub struct NewPrompt {
    /// Name.
    pub name: String,
    /// `text` or `chat`.
    pub r#type: String,
    /// The prompt value.
    pub prompt: Value,
    /// Config (`{}` when absent).
    pub config: Value,
    /// `None` inherits the previous version's tags; `Some` rewrites all versions' tags.
    pub tags: Option<Vec<String>>,
    /// Requested labels (without `latest`, which is added).
    pub labels: Vec<String>,
    /// Commit message.
    pub commit_message: Option<String>,
}

/// Why a create was refused.
#[derive(Debug)]
pub enum CreateError {
    /// Existing versions have another type (carries it).
    TypeMismatch(String),
    /// A prompt reference is missing, not a text prompt, circular or too deep (message).
    Dependency(String),
    /// Database failure.
    Db(sqlx::Error),
}

impl From<CompositionError> for CreateError {
    fn from(e: CompositionError) -> Self {
        match e {
            CompositionError::Invalid(m) => CreateError::Dependency(m),
            CompositionError::Db(e) => CreateError::Db(e),
        }
    }
}

impl From<sqlx::Error> for CreateError {
    fn from(e: sqlx::Error) -> Self {
        CreateError::Db(e)
    }
}

async fn lock_name(conn: &mut PgConnection, project_id: &str, name: &str) -> sqlx::Result<()> {
    sqlx::query("select pg_advisory_xact_lock(hashtext($1), hashtext($2))")
        .bind(project_id)
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes `labels` from every version of `name` except `keep_version`.
async fn remove_labels_elsewhere(
    conn: &mut PgConnection,
    project_id: &str,
    name: &str,
    keep_version: i32,
    labels: &[String],
) -> sqlx::Result<()> {
    if labels.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "update prompts set labels = array(select l from unnest(labels) l where l <> all($4)), \
         updated_at = now() \
         where project_id = $1 and name = $2 and version <> $3 and labels && $4",
    )
    .bind(project_id)
    .bind(name)
    .bind(keep_version)
    .bind(labels)
    .execute(conn)
    .await?;
    Ok(())
}

/// Creates the next version of `p.name`: version = max + 1, label `latest` moved to it,
/// requested labels moved to it, tags inherited or rewritten on all versions.
pub async fn create_prompt(
    pool: &PgPool,
    project_id: &str,
    p: NewPrompt,
    limits: CompositionLimits,
) -> Result<PromptRow, CreateError> {
    let mut tx = pool.begin().await?;
    lock_name(&mut tx, project_id, &p.name).await?;
    let previous: Option<(i32, String, Vec<String>)> = sqlx::query_as(
        "select version, type, tags from prompts where project_id = $1 and name = $2 \
         order by version desc limit 1",
    )
    .bind(project_id)
    .bind(&p.name)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((_, ty, _)) = &previous {
        if *ty != p.r#type {
            return Err(CreateError::TypeMismatch(ty.clone()));
        }
    }
    let version = previous.as_ref().map_or(1, |(v, _, _)| v + 1);
    let id = uuid::Uuid::new_v4().to_string();
    let refs = prompt_refs::parse_refs(&p.prompt);
    let root = GraphNode {
        id: id.clone(),
        name: p.name.clone(),
        version,
        labels: p.labels.clone(),
        prompt: p.prompt.clone(),
    };
    // Refuses missing, non-text, circular and too deep references before anything is written.
    resolve_graph(&mut tx, project_id, &root, Some(refs.clone()), limits).await?;
    let tags = match (&p.tags, &previous) {
        (Some(t), _) => dedup(t.clone()),
        (None, Some((_, _, t))) => t.clone(),
        (None, None) => Vec::new(),
    };
    let mut labels = dedup(p.labels.clone());
    labels.retain(|l| l != LATEST_LABEL);
    labels.push(LATEST_LABEL.to_string());
    remove_labels_elsewhere(&mut tx, project_id, &p.name, version, &labels).await?;
    if p.tags.is_some() {
        sqlx::query(
            "update prompts set tags = $3, updated_at = now() \
             where project_id = $1 and name = $2 and tags <> $3",
        )
        .bind(project_id)
        .bind(&p.name)
        .bind(&tags)
        .execute(&mut *tx)
        .await?;
    }
    let row: PromptRow = sqlx::query_as(&format!(
        "insert into prompts (project_id, id, name, version, type, prompt, config, tags, labels, \
         commit_message) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning {COLUMNS}"
    ))
    .bind(project_id)
    .bind(&id)
    .bind(&p.name)
    .bind(version)
    .bind(&p.r#type)
    .bind(&p.prompt)
    .bind(&p.config)
    .bind(&tags)
    .bind(&labels)
    .bind(&p.commit_message)
    .fetch_one(&mut *tx)
    .await?;
    insert_dependencies(&mut tx, project_id, &id, &refs).await?;
    tx.commit().await?;
    Ok(row)
}

/// Records the references of version `parent_id`, in order.
async fn insert_dependencies(
    conn: &mut PgConnection,
    project_id: &str,
    parent_id: &str,
    refs: &[PromptRef],
) -> sqlx::Result<()> {
    if refs.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
    let versions: Vec<Option<i32>> = refs
        .iter()
        .map(|r| match r.selector {
            RefSelector::Version(v) => Some(v),
            RefSelector::Label(_) => None,
        })
        .collect();
    let labels: Vec<Option<&str>> = refs
        .iter()
        .map(|r| match &r.selector {
            RefSelector::Label(l) => Some(l.as_str()),
            RefSelector::Version(_) => None,
        })
        .collect();
    sqlx::query(
        "insert into prompt_dependencies (project_id, parent_id, position, child_name, \
         child_version, child_label) \
         select $1, $2, d.position, d.name, d.version, d.label \
         from unnest($3::text[], $4::int[], $5::text[]) with ordinality \
           as d(name, version, label, position)",
    )
    .bind(project_id)
    .bind(parent_id)
    .bind(&names)
    .bind(&versions)
    .bind(&labels)
    .execute(conn)
    .await?;
    Ok(())
}

/// The references recorded for version `parent_id`, in order.
async fn list_dependencies(
    conn: &mut PgConnection,
    project_id: &str,
    parent_id: &str,
) -> sqlx::Result<Vec<PromptRef>> {
    let rows: Vec<(String, Option<i32>, Option<String>)> = sqlx::query_as(
        "select child_name, child_version, child_label from prompt_dependencies \
         where project_id = $1 and parent_id = $2 order by position",
    )
    .bind(project_id)
    .bind(parent_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(name, version, label)| {
            let selector = match (version, label) {
                (Some(v), _) => RefSelector::Version(v),
                (None, Some(l)) => RefSelector::Label(l),
                (None, None) => return None,
            };
            Some(PromptRef { name, selector })
        })
        .collect())
}

/// Why a prompt's references could not be resolved.
#[derive(Debug)]
pub enum CompositionError {
    /// Missing or non-text reference, cycle, or nesting too deep (Langfuse's message).
    Invalid(String),
    /// Database failure.
    Db(sqlx::Error),
}

impl From<sqlx::Error> for CompositionError {
    fn from(e: sqlx::Error) -> Self {
        CompositionError::Db(e)
    }
}

/// What the graph walk needs of a version.
#[derive(Debug, Clone)]
struct GraphNode {
    id: String,
    name: String,
    version: i32,
    labels: Vec<String>,
    prompt: Value,
}

impl From<&PromptRow> for GraphNode {
    fn from(r: &PromptRow) -> Self {
        GraphNode {
            id: r.id.clone(),
            name: r.name.clone(),
            version: r.version,
            labels: r.labels.clone(),
            prompt: r.prompt.clone(),
        }
    }
}

/// State of one resolution: the root, the versions on the current path, and the
/// adjacency list `{parentId: [{id, name, version}]}` Langfuse returns as `resolutionGraph`.
struct Walk<'c> {
    conn: &'c mut PgConnection,
    project_id: &'c str,
    root_id: String,
    root_name: String,
    on_path: HashSet<String>,
    edges: Map<String, Value>,
    limits: CompositionLimits,
    /// References followed so far (each one a look-up).
    followed: usize,
}

impl Walk<'_> {
    /// The prompt value of `node` with its references replaced, recursively. `given` are
    /// the node's references when it is not stored yet (create); otherwise they are read.
    fn visit<'s>(
        &'s mut self,
        node: &'s GraphNode,
        given: Option<Vec<PromptRef>>,
        level: usize,
    ) -> BoxFuture<'s, Result<Value, CompositionError>> {
        Box::pin(async move {
            if level >= MAX_NESTING_DEPTH {
                return Err(CompositionError::Invalid(format!(
                    "Maximum nesting depth exceeded ({MAX_NESTING_DEPTH})"
                )));
            }
            // A version may not reference another version of the root's name either.
            if self.on_path.contains(&node.id)
                || (node.name == self.root_name && node.id != self.root_id)
            {
                return Err(CompositionError::Invalid(format!(
                    "Circular dependency detected involving prompt '{}' version {}",
                    node.name, node.version
                )));
            }
            let refs = match given {
                Some(r) => r,
                None => list_dependencies(self.conn, self.project_id, &node.id).await?,
            };
            if refs.is_empty() {
                return Ok(node.prompt.clone());
            }
            self.on_path.insert(node.id.clone());
            let mut text = node.prompt.to_string();
            for r in &refs {
                self.followed += 1;
                if self.followed > self.limits.max_references {
                    return Err(CompositionError::Invalid(format!(
                        "Prompt composition follows more than {} references",
                        self.limits.max_references
                    )));
                }
                let sel = match &r.selector {
                    RefSelector::Version(v) => Selector::Version(*v),
                    RefSelector::Label(l) => Selector::Label(l.clone()),
                };
                let child = find_prompt(&mut *self.conn, self.project_id, &r.name, &sel)
                    .await?
                    .ok_or_else(|| {
                        CompositionError::Invalid(format!(
                            "Prompt dependency not found: {}",
                            r.describe()
                        ))
                    })?;
                if child.r#type != "text" {
                    return Err(CompositionError::Invalid(format!(
                        "Prompt dependency is not a text prompt: {}",
                        r.describe()
                    )));
                }
                let child = GraphNode::from(&child);
                if let Value::Array(list) = self
                    .edges
                    .entry(node.id.clone())
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    list.push(
                        json!({"id": child.id, "name": child.name, "version": child.version}),
                    );
                }
                let resolved = self.visit(&child, None, level + 1).await?;
                let resolved = match resolved {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                text = prompt_refs::substitute(
                    &text,
                    &child.name,
                    child.version,
                    &child.labels,
                    &resolved,
                );
                if text.len() > self.limits.max_resolved_bytes {
                    return Err(CompositionError::Invalid(format!(
                        "Resolved prompt exceeds the limit of {} bytes",
                        self.limits.max_resolved_bytes
                    )));
                }
            }
            self.on_path.remove(&node.id);
            serde_json::from_str(&text)
                .map_err(|_| CompositionError::Invalid("Failed to resolve dependency graph".into()))
        })
    }
}

/// Resolves `root`'s references: the prompt value with every tag replaced, and the
/// dependency graph (`None` when the prompt references nothing).
async fn resolve_graph(
    conn: &mut PgConnection,
    project_id: &str,
    root: &GraphNode,
    given: Option<Vec<PromptRef>>,
    limits: CompositionLimits,
) -> Result<(Value, Option<Value>), CompositionError> {
    let mut walk = Walk {
        conn,
        project_id,
        root_id: root.id.clone(),
        root_name: root.name.clone(),
        on_path: HashSet::new(),
        edges: Map::new(),
        limits,
        followed: 0,
    };
    let prompt = walk.visit(root, given, 0).await?;
    let graph = (!walk.edges.is_empty()).then(|| {
        json!({
            "root": {"name": root.name, "version": root.version, "id": root.id},
            "dependencies": walk.edges,
        })
    });
    Ok((prompt, graph))
}

/// The version of `name` selected by `sel`, with its references resolved when `resolve`
/// (its `prompt` replaced), and the resolution graph (`None`: nothing referenced or not
/// resolved).
pub async fn find_resolved_prompt(
    pool: &PgPool,
    project_id: &str,
    name: &str,
    sel: &Selector,
    resolve: bool,
    limits: CompositionLimits,
) -> Result<Option<(PromptRow, Option<Value>)>, CompositionError> {
    let mut conn = pool.acquire().await?;
    let Some(mut row) = find_prompt(&mut *conn, project_id, name, sel).await? else {
        return Ok(None);
    };
    if !resolve {
        return Ok(Some((row, None)));
    }
    let (prompt, graph) =
        resolve_graph(&mut conn, project_id, &GraphNode::from(&row), None, limits).await?;
    row.prompt = prompt;
    Ok(Some((row, graph)))
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(v.len());
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Which version to fetch.
#[derive(Debug, Clone)]
pub enum Selector {
    /// A version number.
    Version(i32),
    /// The version carrying this label.
    Label(String),
}

/// The version of `name` selected by `sel`.
pub async fn find_prompt(
    db: impl PgExecutor<'_>,
    project_id: &str,
    name: &str,
    sel: &Selector,
) -> sqlx::Result<Option<PromptRow>> {
    match sel {
        Selector::Version(v) => {
            let sql = format!(
                "select {COLUMNS} from prompts where project_id = $1 and name = $2 \
                 and version = $3"
            );
            sqlx::query_as(&sql)
                .bind(project_id)
                .bind(name)
                .bind(*v)
                .fetch_optional(db)
                .await
        }
        Selector::Label(l) => {
            let sql = format!(
                "select {COLUMNS} from prompts where project_id = $1 and name = $2 \
                 and $3 = any(labels) order by version desc limit 1"
            );
            sqlx::query_as(&sql)
                .bind(project_id)
                .bind(name)
                .bind(l)
                .fetch_optional(db)
                .await
        }
    }
}

/// Filters of the prompt list (applied to versions before grouping by name).
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Exact name.
    pub name: Option<String>,
    /// Exact version.
    pub version: Option<i32>,
    /// Versions carrying this label.
    pub label: Option<String>,
    /// Versions carrying this tag.
    pub tag: Option<String>,
    /// `updated_at >= from`.
    pub from_updated_at: Option<DateTime<Utc>>,
    /// `updated_at < to`.
    pub to_updated_at: Option<DateTime<Utc>>,
}

/// One name of the list with its matching versions.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PromptGroup {
    /// Name.
    pub name: String,
    /// Type of the newest matching version.
    #[sqlx(rename = "type")]
    pub r#type: String,
    /// Matching versions, ascending.
    pub versions: Vec<i32>,
    /// Union of the matching versions' labels.
    pub labels: Vec<String>,
    /// Tags of the newest matching version.
    pub tags: Vec<String>,
    /// Latest `updated_at` among matching versions.
    pub last_updated_at: DateTime<Utc>,
    /// Config of the newest matching version.
    pub last_config: Value,
}

/// A page of names (sorted by name) and the total number of names.
pub async fn list_prompts(
    pool: &PgPool,
    project_id: &str,
    f: &ListFilter,
    page: u64,
    limit: u64,
) -> sqlx::Result<(Vec<PromptGroup>, u64)> {
    let filtered = "with v as (select * from prompts where project_id = $1 \
        and ($2::text is null or name = $2) and ($3::int is null or version = $3) \
        and ($4::text is null or $4 = any(labels)) and ($5::text is null or $5 = any(tags)) \
        and ($6::timestamptz is null or updated_at >= $6) \
        and ($7::timestamptz is null or updated_at < $7))";
    let groups: Vec<PromptGroup> = sqlx::query_as(&format!(
        "{filtered}, \
         newest as (select distinct on (name) name, type, tags, config from v \
                    order by name, version desc), \
         agg as (select name, array_agg(version order by version) as versions, \
                 max(updated_at) as last_updated_at from v group by name), \
         lab as (select v.name, array_agg(distinct x order by x) as labels \
                 from v, unnest(v.labels) x group by v.name) \
         select agg.name, newest.type, agg.versions, coalesce(lab.labels, '{{}}') as labels, \
           newest.tags, agg.last_updated_at, newest.config as last_config \
         from agg join newest on newest.name = agg.name left join lab on lab.name = agg.name \
         order by agg.name limit $8 offset $9"
    ))
    .bind(project_id)
    .bind(&f.name)
    .bind(f.version)
    .bind(&f.label)
    .bind(&f.tag)
    .bind(f.from_updated_at)
    .bind(f.to_updated_at)
    .bind(limit as i64)
    .bind(((page - 1) * limit) as i64)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(&format!("{filtered} select count(distinct name) from v"))
        .bind(project_id)
        .bind(&f.name)
        .bind(f.version)
        .bind(&f.label)
        .bind(&f.tag)
        .bind(f.from_updated_at)
        .bind(f.to_updated_at)
        .fetch_one(pool)
        .await?;
    Ok((groups, total as u64))
}

/// Adds `new_labels` to version `version` of `name` and removes them from the other
/// versions. `None` when the version does not exist.
pub async fn update_labels(
    pool: &PgPool,
    project_id: &str,
    name: &str,
    version: i32,
    new_labels: &[String],
) -> sqlx::Result<Option<PromptRow>> {
    let mut tx = pool.begin().await?;
    lock_name(&mut tx, project_id, name).await?;
    let Some(current) =
        find_prompt(&mut *tx, project_id, name, &Selector::Version(version)).await?
    else {
        return Ok(None);
    };
    let new_labels = dedup(new_labels.to_vec());
    let mut labels = new_labels.clone();
    labels.extend(current.labels.iter().cloned());
    let labels = dedup(labels);
    remove_labels_elsewhere(&mut tx, project_id, name, version, &new_labels).await?;
    let row: PromptRow = sqlx::query_as(&format!(
        "update prompts set labels = $4, updated_at = now() \
         where project_id = $1 and name = $2 and version = $3 returning {COLUMNS}"
    ))
    .bind(project_id)
    .bind(name)
    .bind(version)
    .bind(&labels)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(row))
}

/// Why a delete was refused.
#[derive(Debug)]
pub enum DeleteError {
    /// Other prompts reference versions or labels that would disappear (Langfuse's message).
    Referenced(String),
    /// Database failure.
    Db(sqlx::Error),
}

impl From<sqlx::Error> for DeleteError {
    fn from(e: sqlx::Error) -> Self {
        DeleteError::Db(e)
    }
}

/// Deletes versions of `name`: all, one version, or those carrying a label. Refused when
/// another prompt references a deleted version, or a label no remaining version carries.
/// When the version holding `latest` goes, the newest remaining version receives it.
/// Returns the number of deleted versions.
pub async fn delete_prompts(
    pool: &PgPool,
    project_id: &str,
    name: &str,
    sel: Option<&Selector>,
) -> Result<u64, DeleteError> {
    let mut tx = pool.begin().await?;
    lock_name(&mut tx, project_id, name).await?;
    let all: Vec<(String, i32, Vec<String>)> = sqlx::query_as(
        "select id, version, labels from prompts where project_id = $1 and name = $2",
    )
    .bind(project_id)
    .bind(name)
    .fetch_all(&mut *tx)
    .await?;
    let (doomed, remaining): (Vec<_>, Vec<_>) =
        all.into_iter().partition(|(_, version, labels)| match sel {
            None => true,
            Some(Selector::Version(v)) => version == v,
            Some(Selector::Label(l)) => labels.contains(l),
        });
    if doomed.is_empty() {
        return Ok(0);
    }
    let dependents: Vec<(String, i32, Option<i32>, Option<String>)> = sqlx::query_as(
        "select p.name, p.version, d.child_version, d.child_label \
         from prompt_dependencies d join prompts p \
           on p.project_id = d.project_id and p.id = d.parent_id \
         where d.project_id = $1 and d.child_name = $2 order by p.name, p.version, d.position",
    )
    .bind(project_id)
    .bind(name)
    .fetch_all(&mut *tx)
    .await?;
    let blocking: Vec<String> = dependents
        .into_iter()
        .filter_map(|(parent, parent_version, version, label)| {
            let what = match (version, label) {
                (Some(v), _) if doomed.iter().any(|d| d.1 == v) => format!("v{v}"),
                (None, Some(l)) if !remaining.iter().any(|r| r.2.contains(&l)) => l,
                _ => return None,
            };
            Some(format!(
                "{parent} v{parent_version} depends on {name} {what}"
            ))
        })
        .collect();
    if !blocking.is_empty() {
        return Err(DeleteError::Referenced(format!(
            "Other prompts are depending on prompt versions you are trying to delete:\n\n{}\n\nPlease delete the dependent prompts first.",
            blocking.join("\n")
        )));
    }
    let ids: Vec<&str> = doomed.iter().map(|d| d.0.as_str()).collect();
    let deleted = sqlx::query("delete from prompts where project_id = $1 and id = any($2)")
        .bind(project_id)
        .bind(&ids)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query(
        "update prompts set labels = array_append(labels, 'latest'), updated_at = now() \
         where project_id = $1 and name = $2 \
           and version = (select max(version) from prompts where project_id = $1 and name = $2) \
           and not exists (select 1 from prompts where project_id = $1 and name = $2 \
                           and 'latest' = any(labels))",
    )
    .bind(project_id)
    .bind(name)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(deleted)
}

/// Prompt ids of `(project, name, version)` triples that exist.
pub async fn find_prompt_ids(
    conn: &mut PgConnection,
    links: &[(&str, &str, i32)],
) -> sqlx::Result<HashMap<(String, String, i32), String>> {
    if links.is_empty() {
        return Ok(HashMap::new());
    }
    let projects: Vec<&str> = links.iter().map(|l| l.0).collect();
    let names: Vec<&str> = links.iter().map(|l| l.1).collect();
    let versions: Vec<i32> = links.iter().map(|l| l.2).collect();
    let rows: Vec<(String, String, i32, String)> = sqlx::query_as(
        "select p.project_id, p.name, p.version, p.id from prompts p \
         join unnest($1::text[], $2::text[], $3::int[]) as l(project_id, name, version) \
           on p.project_id = l.project_id and p.name = l.name and p.version = l.version",
    )
    .bind(&projects)
    .bind(&names)
    .bind(&versions)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(p, n, v, id)| ((p, n, v), id))
        .collect())
}
