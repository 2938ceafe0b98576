//! The ingestion write path's SQL: the event log (`ingest_events`) and the batch upserts
//! of traces, observations, scores and sessions. Every function runs inside the ingest
//! worker's transaction and writes a whole batch in one statement (`unnest` arrays), so
//! a batch costs a handful of round trips whatever its size. Callers deduplicate keys.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::PgConnection;

/// One event to append to the log.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// Project.
    pub project_id: &'a str,
    /// `trace`, `observation` or `score`.
    pub entity_kind: &'static str,
    /// Entity id.
    pub entity_id: &'a str,
    /// Envelope id.
    pub event_id: &'a str,
    /// Event type (`span-create`, …).
    pub event_type: &'static str,
    /// Envelope timestamp.
    pub event_ts: DateTime<Utc>,
    /// Normalised body.
    pub body: &'a Map<String, Value>,
}

/// One logged event, read back for folding.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredEvent {
    /// Project.
    pub project_id: String,
    /// Entity kind.
    pub entity_kind: String,
    /// Entity id.
    pub entity_id: String,
    /// Envelope id.
    pub event_id: String,
    /// Event type.
    pub event_type: String,
    /// Envelope timestamp.
    pub event_ts: DateTime<Utc>,
    /// Arrival order.
    pub seq: i64,
    /// Normalised body.
    pub body: Value,
}

/// A merged trace row.
#[derive(Debug, Clone, PartialEq)]
pub struct MergedTrace {
    /// Trace id.
    pub id: String,
    /// Immutable: the first event's `timestamp` (or envelope timestamp).
    pub timestamp: DateTime<Utc>,
    /// Name.
    pub name: Option<String>,
    /// User id.
    pub user_id: Option<String>,
    /// Session id.
    pub session_id: Option<String>,
    /// Release.
    pub release: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// Immutable environment.
    pub environment: String,
    /// None: no event said; keep what is stored (false for a new row).
    pub public: Option<bool>,
    /// Union of tags, sorted.
    pub tags: Vec<String>,
    /// Latest truthy input.
    pub input: Option<Value>,
    /// Latest truthy output.
    pub output: Option<Value>,
    /// Union of metadata.
    pub metadata: Value,
}

/// A merged observation, before usage and cost derivation.
#[derive(Debug, Clone, PartialEq)]
pub struct MergedObservation {
    /// Observation id.
    pub id: String,
    /// Immutable trace id (generated when no event names one).
    pub trace_id: String,
    /// Parent observation.
    pub parent_observation_id: Option<String>,
    /// SPAN, GENERATION, EVENT, AGENT, … (the last event's type).
    pub r#type: String,
    /// Name.
    pub name: Option<String>,
    /// Immutable start time.
    pub start_time: DateTime<Utc>,
    /// End time (never before start).
    pub end_time: Option<DateTime<Utc>>,
    /// Completion start.
    pub completion_start_time: Option<DateTime<Utc>>,
    /// Immutable environment.
    pub environment: String,
    /// Version.
    pub version: Option<String>,
    /// DEBUG, DEFAULT, WARNING, ERROR.
    pub level: String,
    /// Status message.
    pub status_message: Option<String>,
    /// Latest truthy input.
    pub input: Option<Value>,
    /// Latest truthy output.
    pub output: Option<Value>,
    /// Union of metadata.
    pub metadata: Value,
    /// Model name.
    pub model: Option<String>,
    /// Model parameters.
    pub model_parameters: Option<Value>,
    /// Merged legacy `usage` object.
    pub usage: Option<Value>,
    /// Merged `usageDetails`.
    pub usage_details: Option<Value>,
    /// Merged `costDetails`.
    pub cost_details: Option<Value>,
    /// Prompt name (set together with the version).
    pub prompt_name: Option<String>,
    /// Prompt version.
    pub prompt_version: Option<i32>,
}

/// A merged score row, values inflated as Langfuse's worker does (§4.6).
#[derive(Debug, Clone, PartialEq)]
pub struct MergedScore {
    /// Score id.
    pub id: String,
    /// Immutable: the first envelope timestamp.
    pub timestamp: DateTime<Utc>,
    /// Name.
    pub name: String,
    /// Numeric value.
    pub value: Option<f64>,
    /// String value (categorical, boolean text, text).
    pub string_value: Option<String>,
    /// Correction text.
    pub long_string_value: Option<String>,
    /// NUMERIC, CATEGORICAL, BOOLEAN, TEXT, CORRECTION.
    pub data_type: String,
    /// API, EVAL, ANNOTATION.
    pub source: String,
    /// Comment.
    pub comment: Option<String>,
    /// Metadata object.
    pub metadata: Value,
    /// Score config.
    pub config_id: Option<String>,
    /// Annotation queue.
    pub queue_id: Option<String>,
    /// Trace of the evaluator run.
    pub execution_trace_id: Option<String>,
    /// Immutable trace id.
    pub trace_id: Option<String>,
    /// Observation.
    pub observation_id: Option<String>,
    /// Session.
    pub session_id: Option<String>,
    /// Dataset run.
    pub dataset_run_id: Option<String>,
    /// Immutable environment.
    pub environment: String,
}

/// Usage, cost and prompt link of an observation, derived after the merge.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservationDerived {
    /// Usage as provided, normalised (object of numbers).
    pub provided_usage_details: Value,
    /// Usage after derivation.
    pub usage_details: Value,
    /// Cost as provided.
    pub provided_cost_details: Value,
    /// Cost after derivation.
    pub cost_details: Value,
    /// Total cost.
    pub total_cost: Option<f64>,
    /// Matched model definition.
    pub internal_model_id: Option<String>,
    /// Pricing tier id.
    pub usage_pricing_tier_id: Option<String>,
    /// Pricing tier name.
    pub usage_pricing_tier_name: Option<String>,
    /// Linked prompt id.
    pub prompt_id: Option<String>,
}

/// Appends events to the log; an envelope already logged for the same entity is left
/// as it is (re-delivery changes nothing).
#[tracing::instrument(skip_all, fields(events = events.len()))]
pub async fn insert_events(conn: &mut PgConnection, events: &[NewEvent<'_>]) -> sqlx::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut project = Vec::with_capacity(events.len());
    let mut kind = Vec::with_capacity(events.len());
    let mut entity = Vec::with_capacity(events.len());
    let mut event_id = Vec::with_capacity(events.len());
    let mut event_type = Vec::with_capacity(events.len());
    let mut ts = Vec::with_capacity(events.len());
    let mut body = Vec::with_capacity(events.len());
    for e in events {
        project.push(e.project_id);
        kind.push(e.entity_kind);
        entity.push(e.entity_id);
        event_id.push(e.event_id);
        event_type.push(e.event_type);
        ts.push(e.event_ts);
        body.push(sqlx::types::Json(e.body));
    }
    sqlx::query(
        "insert into ingest_events (project_id, entity_kind, entity_id, event_id, event_type, \
         event_ts, body) \
         select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
         $6::timestamptz[], $7::jsonb[]) \
         on conflict (project_id, entity_kind, entity_id, event_id) do nothing",
    )
    .bind(project)
    .bind(kind)
    .bind(entity)
    .bind(event_id)
    .bind(event_type)
    .bind(ts)
    .bind(body)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every logged event of the given entities `(project_id, entity_kind, entity_id)`.
#[tracing::instrument(skip_all, fields(entities = keys.len()))]
pub async fn list_entity_events(
    conn: &mut PgConnection,
    keys: &[(&str, &str, &str)],
) -> sqlx::Result<Vec<StoredEvent>> {
    let project: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let kind: Vec<&str> = keys.iter().map(|k| k.1).collect();
    let entity: Vec<&str> = keys.iter().map(|k| k.2).collect();
    sqlx::query_as(
        "select e.project_id, e.entity_kind, e.entity_id, e.event_id, e.event_type, e.event_ts, \
         e.seq, e.body \
         from unnest($1::text[], $2::text[], $3::text[]) as k(project_id, entity_kind, entity_id) \
         join ingest_events e on e.project_id = k.project_id and e.entity_kind = k.entity_kind \
         and e.entity_id = k.entity_id",
    )
    .bind(project)
    .bind(kind)
    .bind(entity)
    .fetch_all(conn)
    .await
}

/// Deletes the logged events of entities (for deletion paths: otherwise the next event
/// for a deleted id would bring its old fields back).
#[tracing::instrument(skip_all, fields(project_id = %project_id))]
pub async fn delete_entity_events(
    db: impl sqlx::PgExecutor<'_>,
    project_id: &str,
    entity_kind: &str,
    entity_ids: &[String],
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "delete from ingest_events where project_id = $1 and entity_kind = $2 \
         and entity_id = any($3)",
    )
    .bind(project_id)
    .bind(entity_kind)
    .bind(entity_ids)
    .execute(db)
    .await?
    .rows_affected())
}

/// The stored fold state of one trace or observation row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredState {
    /// Project.
    pub project_id: String,
    /// Entity id.
    pub id: String,
    /// Events applied (None: a row written before incremental folding).
    pub fold_seq: Option<i32>,
    /// Encoded `ingest::fold` state.
    pub fold_state: Option<Vec<u8>>,
}

/// The fold states of existing rows of `table` (`traces` or `observations`) among `keys`
/// `(project_id, id)`.
#[tracing::instrument(skip_all, fields(table, rows = keys.len()))]
pub async fn load_states(
    conn: &mut PgConnection,
    table: EntityTable,
    keys: &[(&str, &str)],
) -> sqlx::Result<Vec<StoredState>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let project: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let id: Vec<&str> = keys.iter().map(|k| k.1).collect();
    sqlx::query_as(&format!(
        "select t.project_id, t.id, t.fold_seq, t.fold_state \
         from unnest($1::text[], $2::text[]) as k(project_id, id) \
         join {} t on t.project_id = k.project_id and t.id = k.id",
        table.name()
    ))
    .bind(project)
    .bind(id)
    .fetch_all(conn)
    .await
}

/// Stored `input`/`output` of observations `(project_id, id)` (to tokenize values that
/// are not in the batch and whose token counts are not cached).
pub async fn load_observation_io(
    conn: &mut PgConnection,
    keys: &[(&str, &str)],
) -> sqlx::Result<HashMap<(String, String), (Option<Value>, Option<Value>)>> {
    let project: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let id: Vec<&str> = keys.iter().map(|k| k.1).collect();
    let rows: Vec<(String, String, Option<Value>, Option<Value>)> = sqlx::query_as(
        "select o.project_id, o.id, o.input, o.output \
         from unnest($1::text[], $2::text[]) as k(project_id, id) \
         join observations o on o.project_id = k.project_id and o.id = k.id",
    )
    .bind(project)
    .bind(id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(p, id, i, o)| ((p, id), (i, o)))
        .collect())
}

/// The two tables whose rows carry a fold state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityTable {
    /// `traces`.
    Traces,
    /// `observations`.
    Observations,
}

impl EntityTable {
    fn name(self) -> &'static str {
        match self {
            EntityTable::Traces => "traces",
            EntityTable::Observations => "observations",
        }
    }
}

/// How a folded row is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowVersion {
    /// No row existed when the state was read: insert (a row that appeared meanwhile is
    /// a conflict).
    New,
    /// The row had this `fold_seq` (None: written before incremental folding): update
    /// only if it still has it.
    Existing(Option<i32>),
}

impl RowVersion {
    /// The `fold_seq` an update requires (None: a new row, or one from before folding).
    fn expected(self) -> Option<i32> {
        match self {
            RowVersion::Existing(v) => v,
            RowVersion::New => None,
        }
    }
}

/// One folded row to write: the merged entity, the `input`/`output` that won in this
/// batch (None keeps the stored value), and the new fold state.
#[derive(Debug)]
pub struct FoldedRow<'a, T> {
    /// Project.
    pub project_id: &'a str,
    /// The merged entity (its own `input`/`output` are ignored).
    pub row: &'a T,
    /// New input, if one won.
    pub input: Option<&'a Value>,
    /// New output, if one won.
    pub output: Option<&'a Value>,
    /// Events applied after this write.
    pub fold_seq: i32,
    /// Encoded fold state.
    pub fold_state: Vec<u8>,
    /// What was read.
    pub version: RowVersion,
}

/// Rows written and rows expected: a shortfall means another writer changed (or
/// deleted) one of the rows since its state was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Rows the statements changed.
    pub written: u64,
    /// Rows they should have changed.
    pub expected: u64,
}

impl Written {
    /// Whether every row was written.
    pub fn complete(self) -> bool {
        self.written == self.expected
    }
}

const TRACE_COLUMNS: &str = "project_id, id, timestamp, name, user_id, session_id, release, \
     version, environment, public, tags, input, output, metadata, fold_seq, fold_state";

/// Writes folded traces: new rows inserted, existing rows updated where their
/// `fold_seq` is still the one read. `bookmarked` and `created_at` are never touched.
#[tracing::instrument(skip_all, fields(rows = rows.len()))]
pub async fn write_traces(
    conn: &mut PgConnection,
    rows: &[FoldedRow<'_, MergedTrace>],
) -> sqlx::Result<Written> {
    let mut written = 0;
    for new in [true, false] {
        let part: Vec<&FoldedRow<'_, MergedTrace>> = rows
            .iter()
            .filter(|r| (r.version == RowVersion::New) == new)
            .collect();
        if part.is_empty() {
            continue;
        }
        let col = |f: fn(&MergedTrace) -> Option<&str>| -> Vec<Option<&str>> {
            part.iter().map(|r| f(r.row)).collect()
        };
        let project: Vec<&str> = part.iter().map(|r| r.project_id).collect();
        let id: Vec<&str> = part.iter().map(|r| r.row.id.as_str()).collect();
        let ts: Vec<DateTime<Utc>> = part.iter().map(|r| r.row.timestamp).collect();
        let env: Vec<&str> = part.iter().map(|r| r.row.environment.as_str()).collect();
        let public: Vec<bool> = part.iter().map(|r| r.row.public.unwrap_or(false)).collect();
        let tags: Vec<Value> = part
            .iter()
            .map(|r| Value::from(r.row.tags.clone()))
            .collect();
        let input: Vec<Option<&Value>> = part.iter().map(|r| r.input).collect();
        let output: Vec<Option<&Value>> = part.iter().map(|r| r.output).collect();
        let metadata: Vec<&Value> = part.iter().map(|r| &r.row.metadata).collect();
        let seq: Vec<i32> = part.iter().map(|r| r.fold_seq).collect();
        let state: Vec<&[u8]> = part.iter().map(|r| r.fold_state.as_slice()).collect();
        let expected: Vec<Option<i32>> = part.iter().map(|r| r.version.expected()).collect();
        let source = "from unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], \
             $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bool[], \
             $11::jsonb[], $12::jsonb[], $13::jsonb[], $14::jsonb[], $15::int4[], $16::bytea[], \
             $17::int4[]) as u(project_id, id, ts, name, user_id, session_id, release, version, \
             environment, public, tags, input, output, metadata, fold_seq, fold_state, expected)";
        let sql = if new {
            format!(
                "insert into traces ({TRACE_COLUMNS}) \
                 select u.project_id, u.id, u.ts, u.name, u.user_id, u.session_id, u.release, \
                 u.version, u.environment, u.public, \
                 array(select jsonb_array_elements_text(u.tags)), u.input, u.output, u.metadata, \
                 u.fold_seq, u.fold_state {source} \
                 on conflict (project_id, id) do nothing"
            )
        } else {
            format!(
                "update traces t set timestamp = u.ts, name = u.name, user_id = u.user_id, \
                 session_id = u.session_id, release = u.release, version = u.version, \
                 environment = u.environment, public = u.public, \
                 tags = array(select jsonb_array_elements_text(u.tags)), \
                 input = coalesce(u.input, t.input), output = coalesce(u.output, t.output), \
                 metadata = u.metadata, fold_seq = u.fold_seq, fold_state = u.fold_state, \
                 updated_at = now() {source} \
                 where t.project_id = u.project_id and t.id = u.id \
                 and t.fold_seq is not distinct from u.expected"
            )
        };
        written += sqlx::query(&sql)
            .bind(project)
            .bind(id)
            .bind(ts)
            .bind(col(|t| t.name.as_deref()))
            .bind(col(|t| t.user_id.as_deref()))
            .bind(col(|t| t.session_id.as_deref()))
            .bind(col(|t| t.release.as_deref()))
            .bind(col(|t| t.version.as_deref()))
            .bind(env)
            .bind(public)
            .bind(tags)
            .bind(input)
            .bind(output)
            .bind(metadata)
            .bind(seq)
            .bind(state)
            .bind(expected)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(Written {
        written,
        expected: rows.len() as u64,
    })
}

/// Inserts sessions `(project_id, session_id, environment)` that do not exist yet
/// (existing sessions are never updated, as Langfuse).
#[tracing::instrument(skip_all, fields(rows = rows.len()))]
pub async fn insert_sessions(
    conn: &mut PgConnection,
    rows: &[(&str, &str, &str)],
) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let project: Vec<&str> = rows.iter().map(|r| r.0).collect();
    let id: Vec<&str> = rows.iter().map(|r| r.1).collect();
    let env: Vec<&str> = rows.iter().map(|r| r.2).collect();
    sqlx::query(
        "insert into sessions (project_id, id, environment) \
         select * from unnest($1::text[], $2::text[], $3::text[]) \
         on conflict (project_id, id) do nothing",
    )
    .bind(project)
    .bind(id)
    .bind(env)
    .execute(conn)
    .await?;
    Ok(())
}

const OBSERVATION_COLUMNS: &str = "project_id, id, trace_id, parent_observation_id, type, \
     name, start_time, end_time, completion_start_time, environment, version, level, \
     status_message, input, output, metadata, model, model_parameters, provided_usage_details, \
     usage_details, provided_cost_details, cost_details, total_cost, internal_model_id, \
     usage_pricing_tier_id, usage_pricing_tier_name, prompt_id, prompt_name, prompt_version, \
     fold_seq, fold_state";

/// Writes folded observations with their derived usage and cost, like [`write_traces`].
#[tracing::instrument(skip_all, fields(rows = rows.len()))]
pub async fn write_observations(
    conn: &mut PgConnection,
    rows: &[(FoldedRow<'_, MergedObservation>, &ObservationDerived)],
) -> sqlx::Result<Written> {
    let mut written = 0;
    for new in [true, false] {
        let part: Vec<&(FoldedRow<'_, MergedObservation>, &ObservationDerived)> = rows
            .iter()
            .filter(|r| (r.0.version == RowVersion::New) == new)
            .collect();
        if part.is_empty() {
            continue;
        }
        let s = |f: fn(&MergedObservation) -> Option<&str>| -> Vec<Option<&str>> {
            part.iter().map(|r| f(r.0.row)).collect()
        };
        let d = |f: fn(&ObservationDerived) -> Option<&str>| -> Vec<Option<&str>> {
            part.iter().map(|r| f(r.1)).collect()
        };
        let dj = |f: fn(&ObservationDerived) -> &Value| -> Vec<&Value> {
            part.iter().map(|r| f(r.1)).collect()
        };
        let project: Vec<&str> = part.iter().map(|r| r.0.project_id).collect();
        let id: Vec<&str> = part.iter().map(|r| r.0.row.id.as_str()).collect();
        let trace_id: Vec<&str> = part.iter().map(|r| r.0.row.trace_id.as_str()).collect();
        let kind: Vec<&str> = part.iter().map(|r| r.0.row.r#type.as_str()).collect();
        let start: Vec<DateTime<Utc>> = part.iter().map(|r| r.0.row.start_time).collect();
        let end: Vec<Option<DateTime<Utc>>> = part.iter().map(|r| r.0.row.end_time).collect();
        let cst: Vec<Option<DateTime<Utc>>> =
            part.iter().map(|r| r.0.row.completion_start_time).collect();
        let env: Vec<&str> = part.iter().map(|r| r.0.row.environment.as_str()).collect();
        let level: Vec<&str> = part.iter().map(|r| r.0.row.level.as_str()).collect();
        let input: Vec<Option<&Value>> = part.iter().map(|r| r.0.input).collect();
        let output: Vec<Option<&Value>> = part.iter().map(|r| r.0.output).collect();
        let metadata: Vec<&Value> = part.iter().map(|r| &r.0.row.metadata).collect();
        let params: Vec<Option<&Value>> = part
            .iter()
            .map(|r| r.0.row.model_parameters.as_ref())
            .collect();
        let total_cost: Vec<Option<f64>> = part.iter().map(|r| r.1.total_cost).collect();
        let prompt_version: Vec<Option<i32>> =
            part.iter().map(|r| r.0.row.prompt_version).collect();
        let seq: Vec<i32> = part.iter().map(|r| r.0.fold_seq).collect();
        let state: Vec<&[u8]> = part.iter().map(|r| r.0.fold_state.as_slice()).collect();
        let expected: Vec<Option<i32>> = part.iter().map(|r| r.0.version.expected()).collect();
        let source = "from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::text[], \
             $11::text[], $12::text[], $13::text[], $14::jsonb[], $15::jsonb[], $16::jsonb[], \
             $17::text[], $18::jsonb[], $19::jsonb[], $20::jsonb[], $21::jsonb[], $22::jsonb[], \
             $23::float8[], $24::text[], $25::text[], $26::text[], $27::text[], $28::text[], \
             $29::int4[], $30::int4[], $31::bytea[], $32::int4[]) as u(project_id, id, \
             trace_id, parent_observation_id, type, name, start_time, end_time, \
             completion_start_time, environment, version, level, status_message, input, \
             output, metadata, model, model_parameters, provided_usage_details, usage_details, \
             provided_cost_details, cost_details, total_cost, internal_model_id, \
             usage_pricing_tier_id, usage_pricing_tier_name, prompt_id, prompt_name, \
             prompt_version, fold_seq, fold_state, expected)";
        let sql = if new {
            format!(
                "insert into observations ({OBSERVATION_COLUMNS}) select {} {source} \
                 on conflict (project_id, id) do nothing",
                OBSERVATION_COLUMNS
                    .split(", ")
                    .map(|c| format!("u.{}", c.trim()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            "update observations o set trace_id = u.trace_id, \
             parent_observation_id = u.parent_observation_id, type = u.type, name = u.name, \
             start_time = u.start_time, end_time = u.end_time, \
             completion_start_time = u.completion_start_time, environment = u.environment, \
             version = u.version, level = u.level, status_message = u.status_message, \
             input = coalesce(u.input, o.input), output = coalesce(u.output, o.output), \
             metadata = u.metadata, model = u.model, model_parameters = u.model_parameters, \
             provided_usage_details = u.provided_usage_details, \
             usage_details = u.usage_details, provided_cost_details = u.provided_cost_details, \
             cost_details = u.cost_details, total_cost = u.total_cost, \
             internal_model_id = u.internal_model_id, \
             usage_pricing_tier_id = u.usage_pricing_tier_id, \
             usage_pricing_tier_name = u.usage_pricing_tier_name, prompt_id = u.prompt_id, \
             prompt_name = u.prompt_name, prompt_version = u.prompt_version, \
             fold_seq = u.fold_seq, fold_state = u.fold_state, updated_at = now() "
                .to_string()
                + source
                + " where o.project_id = u.project_id and o.id = u.id \
                   and o.fold_seq is not distinct from u.expected"
        };
        written += sqlx::query(&sql)
            .bind(project)
            .bind(id)
            .bind(trace_id)
            .bind(s(|o| o.parent_observation_id.as_deref()))
            .bind(kind)
            .bind(s(|o| o.name.as_deref()))
            .bind(start)
            .bind(end)
            .bind(cst)
            .bind(env)
            .bind(s(|o| o.version.as_deref()))
            .bind(level)
            .bind(s(|o| o.status_message.as_deref()))
            .bind(input)
            .bind(output)
            .bind(metadata)
            .bind(s(|o| o.model.as_deref()))
            .bind(params)
            .bind(dj(|d| &d.provided_usage_details))
            .bind(dj(|d| &d.usage_details))
            .bind(dj(|d| &d.provided_cost_details))
            .bind(dj(|d| &d.cost_details))
            .bind(total_cost)
            .bind(d(|d| d.internal_model_id.as_deref()))
            .bind(d(|d| d.usage_pricing_tier_id.as_deref()))
            .bind(d(|d| d.usage_pricing_tier_name.as_deref()))
            .bind(d(|d| d.prompt_id.as_deref()))
            .bind(s(|o| o.prompt_name.as_deref()))
            .bind(prompt_version)
            .bind(seq)
            .bind(state)
            .bind(expected)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(Written {
        written,
        expected: rows.len() as u64,
    })
}

/// Takes transaction-scoped advisory locks on `keys` (sorted, so concurrent writers take
/// them in one order). Scores are re-folded from the log, so two writers of one score
/// must not fold at the same time.
pub async fn lock_keys(conn: &mut PgConnection, keys: &[i64]) -> sqlx::Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut keys = keys.to_vec();
    keys.sort_unstable();
    keys.dedup();
    sqlx::query(
        "select count(pg_advisory_xact_lock(k)) from unnest($1::int8[]) with ordinality as u(k, i)",
    )
    .bind(keys)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes merged scores.
#[tracing::instrument(skip_all, fields(rows = rows.len()))]
pub async fn upsert_scores(
    conn: &mut PgConnection,
    rows: &[(&str, &MergedScore)],
) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let s = |f: fn(&MergedScore) -> Option<&str>| -> Vec<Option<&str>> {
        rows.iter().map(|r| f(r.1)).collect()
    };
    let r = |f: fn(&MergedScore) -> &str| -> Vec<&str> { rows.iter().map(|r| f(r.1)).collect() };
    let project: Vec<&str> = rows.iter().map(|r| r.0).collect();
    let ts: Vec<DateTime<Utc>> = rows.iter().map(|r| r.1.timestamp).collect();
    let value: Vec<Option<f64>> = rows.iter().map(|r| r.1.value).collect();
    let metadata: Vec<&Value> = rows.iter().map(|r| &r.1.metadata).collect();
    sqlx::query(
        "insert into scores (project_id, id, timestamp, name, value, string_value, \
         long_string_value, data_type, source, comment, metadata, config_id, queue_id, \
         execution_trace_id, trace_id, observation_id, session_id, dataset_run_id, environment) \
         select * from unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], \
         $5::float8[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::jsonb[], \
         $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], \
         $18::text[], $19::text[]) \
         on conflict (project_id, id) do update set timestamp = excluded.timestamp, \
         name = excluded.name, value = excluded.value, string_value = excluded.string_value, \
         long_string_value = excluded.long_string_value, data_type = excluded.data_type, \
         source = excluded.source, comment = excluded.comment, metadata = excluded.metadata, \
         config_id = excluded.config_id, queue_id = excluded.queue_id, \
         execution_trace_id = excluded.execution_trace_id, trace_id = excluded.trace_id, \
         observation_id = excluded.observation_id, session_id = excluded.session_id, \
         dataset_run_id = excluded.dataset_run_id, environment = excluded.environment, \
         updated_at = now()",
    )
    .bind(project)
    .bind(r(|s| s.id.as_str()))
    .bind(ts)
    .bind(r(|s| s.name.as_str()))
    .bind(value)
    .bind(s(|s| s.string_value.as_deref()))
    .bind(s(|s| s.long_string_value.as_deref()))
    .bind(r(|s| s.data_type.as_str()))
    .bind(r(|s| s.source.as_str()))
    .bind(s(|s| s.comment.as_deref()))
    .bind(metadata)
    .bind(s(|s| s.config_id.as_deref()))
    .bind(s(|s| s.queue_id.as_deref()))
    .bind(s(|s| s.execution_trace_id.as_deref()))
    .bind(s(|s| s.trace_id.as_deref()))
    .bind(s(|s| s.observation_id.as_deref()))
    .bind(s(|s| s.session_id.as_deref()))
    .bind(s(|s| s.dataset_run_id.as_deref()))
    .bind(r(|s| s.environment.as_str()))
    .execute(conn)
    .await?;
    Ok(())
}

/// Prompt ids for `(project_id, prompt name, version)` links; links to prompts that do
/// not exist are left out (the observation keeps name and version, as Langfuse does).
pub async fn find_prompt_ids(
    conn: &mut PgConnection,
    links: &[(&str, &str, i32)],
) -> sqlx::Result<HashMap<(String, String, i32), String>> {
    super::prompts::find_prompt_ids(conn, links).await
}
