-- Exact per-project row counts of traces and observations, kept by statement-level
-- triggers, so unfiltered list endpoints answer meta.totalItems without counting a
-- million rows. Filtered lists still count with their indexes.
-- Rows are upserted in project order so concurrent writers cannot deadlock on them.

create table project_row_counts (
    project_id  text not null,
    table_name  text not null,
    n           bigint not null default 0,
    primary key (project_id, table_name)
);

create function project_row_counts_add() returns trigger language plpgsql as $$
begin
    insert into project_row_counts (project_id, table_name, n)
    select project_id, tg_table_name, count(*) from new_rows group by project_id order by project_id
    on conflict (project_id, table_name) do update set n = project_row_counts.n + excluded.n;
    return null;
end $$;

create function project_row_counts_sub() returns trigger language plpgsql as $$
begin
    insert into project_row_counts (project_id, table_name, n)
    select project_id, tg_table_name, -count(*) from old_rows group by project_id order by project_id
    on conflict (project_id, table_name) do update set n = project_row_counts.n + excluded.n;
    return null;
end $$;

create trigger traces_count_insert after insert on traces
    referencing new table as new_rows for each statement execute function project_row_counts_add();
create trigger traces_count_delete after delete on traces
    referencing old table as old_rows for each statement execute function project_row_counts_sub();
create trigger observations_count_insert after insert on observations
    referencing new table as new_rows for each statement execute function project_row_counts_add();
create trigger observations_count_delete after delete on observations
    referencing old table as old_rows for each statement execute function project_row_counts_sub();

insert into project_row_counts (project_id, table_name, n)
select project_id, 'traces', count(*) from traces group by project_id;
insert into project_row_counts (project_id, table_name, n)
select project_id, 'observations', count(*) from observations group by project_id;
