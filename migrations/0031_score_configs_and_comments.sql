-- Score configs (`/api/public/score-configs`) and comments (`/api/public/comments`).
-- Ids are server-generated TEXT; primary keys are (project_id, id) like the tracing tables.

create table score_configs (
    project_id   text not null,
    id           text not null,
    name         text not null,
    data_type    text not null,
    is_archived  boolean not null default false,
    min_value    double precision,
    max_value    double precision,
    -- [{"label": text, "value": number}] for CATEGORICAL and BOOLEAN, null otherwise.
    categories   jsonb,
    description  text,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    primary key (project_id, id)
);
create index score_configs_project_created_idx on score_configs (project_id, created_at desc);

create table comments (
    project_id      text not null,
    id              text not null,
    -- TRACE, OBSERVATION, SESSION, PROMPT
    object_type     text not null,
    object_id       text not null,
    content         text not null,
    author_user_id  text,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    primary key (project_id, id)
);
create index comments_project_object_idx on comments (project_id, object_type, object_id, created_at desc);
create index comments_project_created_idx on comments (project_id, created_at desc);
