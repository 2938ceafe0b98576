-- Prompt composition (Langfuse `prompt_dependencies`): one row per distinct
-- `@@@langfusePrompt:name=…|version=…@@@` / `…|label=…@@@` tag of a prompt version, written
-- when the version is created. Reads resolve a prompt's tags from here; deleting a prompt
-- that others reference through these rows is refused. Rows go with their parent version.
create table prompt_dependencies (
    project_id     text not null,
    parent_id      text not null,
    -- Order of the tag in the parent (resolution follows it).
    position       integer not null,
    child_name     text not null,
    -- Exactly one of version / label is set.
    child_version  integer,
    child_label    text,
    created_at     timestamptz not null default now(),
    primary key (project_id, parent_id, position),
    foreign key (project_id, parent_id) references prompts (project_id, id) on delete cascade,
    check ((child_version is null) <> (child_label is null))
);
create index prompt_dependencies_child_idx on prompt_dependencies (project_id, child_name);

-- Versions created before this table: parse their tags the same way (two `|` parts, the
-- first `name=`, the value of a part is the text between its first and second `=`).
with tags as (
    select p.project_id, p.id as parent_id, m[1] as body,
           row_number() over (partition by p.project_id, p.id) as n
    from prompts p, regexp_matches(p.prompt::text, '@@@langfusePrompt:(.*?)@@@', 'g') as m
), firsts as (
    select distinct on (project_id, parent_id, body) project_id, parent_id, body, n
    from tags order by project_id, parent_id, body, n
), parts as (
    select project_id, parent_id, n,
           split_part(split_part(body, '|', 1), '=', 2) as name,
           split_part(split_part(body, '|', 2), '=', 1) as k2,
           split_part(split_part(body, '|', 2), '=', 2) as v2
    from firsts
    where body like 'name=%' and array_length(string_to_array(body, '|'), 1) = 2
)
insert into prompt_dependencies (project_id, parent_id, position, child_name, child_version,
                                 child_label)
select project_id, parent_id, row_number() over (partition by project_id, parent_id order by n),
       name,
       case when k2 = 'version' then v2::integer end,
       case when k2 = 'label' then v2 end
from parts
where name <> '' and v2 <> ''
  and ((k2 = 'version' and v2 ~ '^[1-9][0-9]{0,8}$') or k2 = 'label');
