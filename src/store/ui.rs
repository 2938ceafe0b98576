//! What only the built-in web UI (src/ui) reads or writes: its server-side sessions
//! (migration 0060) and the per-trace summary columns of the trace list (tokens, levels,
//! scores) that the public API does not return. Everything else the UI shows comes from
//! the same store functions the API uses.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// A signed-in UI session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UiSessionRow {
    /// Signed in with the admin token (may switch projects).
    pub is_admin: bool,
    /// The project the session acts on.
    pub project_id: String,
    /// The public key of a key-pair session.
    pub public_key: Option<String>,
    /// Token that every state-changing form must echo.
    pub csrf_token: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// Stores a new session under the SHA-256 of its cookie token.
pub async fn create_session(
    pool: &PgPool,
    token_hash: &[u8],
    row: &UiSessionRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into ui_sessions (token_hash, is_admin, project_id, public_key, csrf_token, \
         expires_at) values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token_hash)
    .bind(row.is_admin)
    .bind(&row.project_id)
    .bind(&row.public_key)
    .bind(&row.csrf_token)
    .bind(row.expires_at)
    .execute(pool)
    .await?;
    // Expired sessions go whenever someone signs in (the table stays small).
    sqlx::query("delete from ui_sessions where expires_at < now()")
        .execute(pool)
        .await?;
    Ok(())
}

/// The live session of a token: not expired, and for a key-pair session its key still
/// exists and still belongs to the session's project.
pub async fn find_session(pool: &PgPool, token_hash: &[u8]) -> sqlx::Result<Option<UiSessionRow>> {
    sqlx::query_as(
        "select s.is_admin, s.project_id, s.public_key, s.csrf_token, s.expires_at \
         from ui_sessions s where s.token_hash = $1 and s.expires_at > now() \
         and (s.is_admin or exists (select 1 from api_keys k where k.public_key = s.public_key \
              and k.project_id = s.project_id \
              and (k.expires_at is null or k.expires_at > now())))",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await
}

/// Points an admin session at another project.
pub async fn switch_project(
    pool: &PgPool,
    token_hash: &[u8],
    project_id: &str,
) -> sqlx::Result<()> {
    sqlx::query("update ui_sessions set project_id = $2 where token_hash = $1 and is_admin")
        .bind(token_hash)
        .bind(project_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Ends a session.
pub async fn delete_session(pool: &PgPool, token_hash: &[u8]) -> sqlx::Result<()> {
    sqlx::query("delete from ui_sessions where token_hash = $1")
        .bind(token_hash)
        .execute(pool)
        .await?;
    Ok(())
}

/// The traces that have an observation at one of `levels` (`WARNING`, `ERROR`), those with
/// the most recent such observation first, at most `limit` (partial index of migration 0061).
pub async fn traces_with_levels(
    pool: &PgPool,
    project_id: &str,
    levels: &[String],
    limit: i64,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "select trace_id from observations \
         where project_id = $1 and level = any($2) and level in ('WARNING', 'ERROR') \
         group by trace_id order by max(start_time) desc limit $3",
    )
    .bind(project_id)
    .bind(levels)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The list columns of one trace that the API's aggregates do not carry.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct TraceSummary {
    /// Trace id.
    pub trace_id: String,
    /// Sum of the observations' `usage_details.total` (or input + output when absent).
    pub total_tokens: f64,
    /// Observations at level ERROR.
    pub errors: i64,
    /// Observations at level WARNING.
    pub warnings: i64,
    /// `name: value` of the trace's scores, newest first (at most 5).
    pub scores: Vec<String>,
}

/// Summaries of the given traces (one index-driven lateral query per id, like
/// `store::traces::aggregates`).
pub async fn trace_summaries(
    pool: &PgPool,
    project_id: &str,
    trace_ids: &[String],
) -> sqlx::Result<Vec<TraceSummary>> {
    if trace_ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "select ids.id as trace_id, coalesce(o.tokens, 0)::float8 as total_tokens, \
           coalesce(o.errors, 0) as errors, coalesce(o.warnings, 0) as warnings, \
           coalesce(s.scores, '{}') as scores \
         from unnest($2::text[]) as ids(id) \
         left join lateral ( \
           select sum(coalesce( \
               case when jsonb_typeof(o.usage_details -> 'total') = 'number' \
                    then (o.usage_details ->> 'total')::float8 end, \
               case when jsonb_typeof(o.usage_details -> 'input') = 'number' \
                    then (o.usage_details ->> 'input')::float8 else 0 end \
               + case when jsonb_typeof(o.usage_details -> 'output') = 'number' \
                    then (o.usage_details ->> 'output')::float8 else 0 end)) as tokens, \
             count(*) filter (where o.level = 'ERROR') as errors, \
             count(*) filter (where o.level = 'WARNING') as warnings \
           from observations o where o.project_id = $1 and o.trace_id = ids.id) o on true \
         left join lateral ( \
           select array_agg(x.label) as scores from ( \
             select s.name || ': ' || coalesce(trim_scale(s.value::numeric)::text, s.string_value, '') \
               as label from scores s where s.project_id = $1 and s.trace_id = ids.id \
             order by s.timestamp desc, s.id limit 5) x) s on true",
    )
    .bind(project_id)
    .bind(trace_ids)
    .fetch_all(pool)
    .await
}

/// Traces of the project newer than `after` (for the live list), newest first, at most
/// `limit`.
pub async fn trace_ids_after(
    pool: &PgPool,
    project_id: &str,
    after: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "select id from traces where project_id = $1 and timestamp > $2 \
         order by timestamp desc, id desc limit $3",
    )
    .bind(project_id)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Generations that used a prompt version (newest first, at most `limit`): observation
/// id, trace id, name, start time.
pub async fn prompt_generations(
    pool: &PgPool,
    project_id: &str,
    prompt_name: &str,
    version: i32,
    limit: i64,
) -> sqlx::Result<Vec<(String, String, Option<String>, DateTime<Utc>)>> {
    sqlx::query_as(
        "select id, trace_id, name, start_time from observations \
         where project_id = $1 and prompt_name = $2 and prompt_version = $3 \
         order by start_time desc limit $4",
    )
    .bind(project_id)
    .bind(prompt_name)
    .bind(version)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The list columns of one session: its traces, their users and time span.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct SessionSummary {
    /// Session id.
    pub session_id: String,
    /// Traces in the session.
    pub traces: i64,
    /// Distinct user ids of those traces (at most 3).
    pub users: Vec<String>,
    /// First trace timestamp.
    pub first: Option<DateTime<Utc>>,
    /// Last trace timestamp.
    pub last: Option<DateTime<Utc>>,
}

/// Summaries of the given sessions (through the `(project_id, session_id)` trace index).
pub async fn session_summaries(
    pool: &PgPool,
    project_id: &str,
    session_ids: &[String],
) -> sqlx::Result<Vec<SessionSummary>> {
    if session_ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "select ids.id as session_id, coalesce(t.n, 0) as traces, \
           coalesce(t.users[1:3], '{}') as users, t.first, t.last \
         from unnest($2::text[]) as ids(id) \
         left join lateral ( \
           select count(*) as n, \
             array_agg(distinct t.user_id) filter (where t.user_id is not null) as users, \
             min(t.timestamp) as first, max(t.timestamp) as last \
           from traces t where t.project_id = $1 and t.session_id = ids.id) t on true",
    )
    .bind(project_id)
    .bind(session_ids)
    .fetch_all(pool)
    .await
}
