-- Incremental folding (src/ingest/fold.rs): each trace and observation row carries the
-- fold state its events left (per-field registers with the sort key of the event that
-- set them, the envelope ids applied), so a new event is applied to the state instead of
-- re-reading and re-folding every logged event of the entity. `fold_seq` counts the
-- events applied; writers update a row only if it still has the `fold_seq` they read
-- (optimistic concurrency: two xtrace instances folding the same entity, or a delete
-- racing a batch, make one of them retry on fresh state instead of losing an update or
-- bringing a deleted row back).
--
-- Rows written before this migration have no state: the next event for them rebuilds it
-- from their logged events in ingest_events, which are then deleted. Traces and
-- observations no longer log events; scores still do (they are re-folded from the log,
-- which is small for them, so that score-config checks see every event).

alter table traces add column fold_seq integer, add column fold_state bytea;
alter table observations add column fold_seq integer, add column fold_state bytea;

-- Row counts in slots: every insert statement used to add to one row per project, so
-- concurrent writers of one project queued behind each other's row lock until commit.
-- Each backend now adds to the slot of its process id; readers sum the slots.
alter table project_row_counts add column slot integer not null default 0;
alter table project_row_counts drop constraint project_row_counts_pkey;
alter table project_row_counts add primary key (project_id, table_name, slot);

create or replace function project_row_counts_add() returns trigger language plpgsql as $$
begin
    insert into project_row_counts (project_id, table_name, slot, n)
    select project_id, tg_table_name, pg_backend_pid() % 16, count(*) from new_rows
    group by project_id order by project_id
    on conflict (project_id, table_name, slot) do update set n = project_row_counts.n + excluded.n;
    return null;
end $$;

create or replace function project_row_counts_sub() returns trigger language plpgsql as $$
begin
    insert into project_row_counts (project_id, table_name, slot, n)
    select project_id, tg_table_name, pg_backend_pid() % 16, -count(*) from old_rows
    group by project_id order by project_id
    on conflict (project_id, table_name, slot) do update set n = project_row_counts.n + excluded.n;
    return null;
end $$;
