-- The ingestion event log: every accepted Langfuse ingestion event (trace, observation or
-- score event), keyed by its entity and its envelope id. The ingest worker recomputes an
-- entity's row in traces/observations/scores by folding all of the entity's logged events
-- in envelope-timestamp order (COMPAT-NOTES §4.5), so events may arrive in any order and
-- in any number of batches; a re-delivered envelope hits the primary key and changes
-- nothing, which makes SDK retries idempotent.
--
-- body: the validated, normalised event body (unknown keys removed, environment
-- normalised, timestamps as ISO strings with milliseconds and Z).
-- seq: arrival order, the last tie-breaker of the fold order.
-- Deleting an entity (trace/observation/score) must delete its events here too, or the
-- next event for the same id brings the old fields back.

create table ingest_events (
    project_id   text not null,
    entity_kind  text not null check (entity_kind in ('trace', 'observation', 'score')),
    entity_id    text not null,
    event_id     text not null,
    event_type   text not null,
    event_ts     timestamptz not null,
    body         jsonb not null,
    seq          bigserial not null,
    created_at   timestamptz not null default now(),
    primary key (project_id, entity_kind, entity_id, event_id)
);
