-- Prompt versions (Langfuse `Prompt`). One row per (project, name, version); a label lives
-- on at most one version of a name (enforced by the store in one transaction, not by a
-- constraint, because labels are an array). `prompt` is the JSON value as created: a string
-- for text prompts, an array of messages/placeholders for chat prompts.
create table prompts (
    project_id      text not null,
    id              text not null,
    name            text not null,
    version         integer not null,
    type            text not null,
    prompt          jsonb not null,
    config          jsonb not null default '{}'::jsonb,
    tags            text[] not null default '{}',
    labels          text[] not null default '{}',
    commit_message  text,
    created_by      text not null default 'API',
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    primary key (project_id, id),
    unique (project_id, name, version)
);
create index prompts_labels_idx on prompts using gin (labels);
create index prompts_project_updated_idx on prompts (project_id, updated_at);
