-- Traces, observations, scores and sessions: the rows the ingestion paths (Langfuse
-- ingestion API, OTLP) write and the read API serves. Ids are client-chosen TEXT;
-- primary keys are (project_id, id) so projects never collide or leak.
--
-- Storage conventions (the contract between writers and readers):
-- * input / output: the JSON value as the client sent it (a string stays a JSON string;
--   the read API parses strings that look like JSON, as Langfuse does).
-- * metadata: always a JSON object (non-object metadata is wrapped as {"metadata": v}).
-- * usage_details: object of usage key -> number (input, output, total, input_cached_tokens, ...),
--   after Langfuse's derivations; cost_details likewise in USD. provided_* keep what the
--   client sent, before derivation.
-- * Timestamps are timestamptz, millisecond precision on the wire.

create table traces (
    project_id   text not null,
    id           text not null,
    timestamp    timestamptz not null,
    name         text,
    user_id      text,
    session_id   text,
    release      text,
    version      text,
    environment  text not null default 'default',
    public       boolean not null default false,
    bookmarked   boolean not null default false,
    tags         text[] not null default '{}',
    input        jsonb,
    output       jsonb,
    metadata     jsonb not null default '{}'::jsonb,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    primary key (project_id, id)
);
create index traces_project_timestamp_idx on traces (project_id, timestamp desc);
create index traces_project_session_idx on traces (project_id, session_id) where session_id is not null;
create index traces_project_user_idx on traces (project_id, user_id) where user_id is not null;
create index traces_project_name_idx on traces (project_id, name);
create index traces_tags_idx on traces using gin (tags);

create table observations (
    project_id               text not null,
    id                       text not null,
    trace_id                 text not null,
    parent_observation_id    text,
    type                     text not null,
    name                     text,
    start_time               timestamptz not null,
    end_time                 timestamptz,
    completion_start_time    timestamptz,
    environment              text not null default 'default',
    version                  text,
    level                    text not null default 'DEFAULT',
    status_message           text,
    input                    jsonb,
    output                   jsonb,
    metadata                 jsonb not null default '{}'::jsonb,
    model                    text,
    model_parameters         jsonb,
    provided_usage_details   jsonb not null default '{}'::jsonb,
    usage_details            jsonb not null default '{}'::jsonb,
    provided_cost_details    jsonb not null default '{}'::jsonb,
    cost_details             jsonb not null default '{}'::jsonb,
    total_cost               double precision,
    internal_model_id        text,
    usage_pricing_tier_id    text,
    usage_pricing_tier_name  text,
    prompt_id                text,
    prompt_name              text,
    prompt_version           integer,
    created_at               timestamptz not null default now(),
    updated_at               timestamptz not null default now(),
    primary key (project_id, id)
);
create index observations_project_trace_idx on observations (project_id, trace_id, start_time);
create index observations_project_start_idx on observations (project_id, start_time desc);
create index observations_project_type_start_idx on observations (project_id, type, start_time desc);

create table scores (
    project_id          text not null,
    id                  text not null,
    timestamp           timestamptz not null,
    name                text not null,
    value               double precision,
    string_value        text,
    long_string_value   text,
    data_type           text not null,
    source              text not null default 'API',
    comment             text,
    metadata            jsonb not null default '{}'::jsonb,
    config_id           text,
    queue_id            text,
    author_user_id      text,
    execution_trace_id  text,
    trace_id            text,
    observation_id      text,
    session_id          text,
    dataset_run_id      text,
    environment         text not null default 'default',
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    primary key (project_id, id)
);
create index scores_project_timestamp_idx on scores (project_id, timestamp desc);
create index scores_project_trace_idx on scores (project_id, trace_id) where trace_id is not null;
create index scores_project_session_idx on scores (project_id, session_id) where session_id is not null;
create index scores_project_run_idx on scores (project_id, dataset_run_id) where dataset_run_id is not null;

create table sessions (
    project_id   text not null,
    id           text not null,
    environment  text not null default 'default',
    created_at   timestamptz not null default now(),
    primary key (project_id, id)
);
create index sessions_project_created_idx on sessions (project_id, created_at desc);
