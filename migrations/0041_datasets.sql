-- Datasets, their items, runs and run items (Langfuse `Dataset`, `DatasetItem`,
-- `DatasetRuns`, `DatasetRunItems`). Ids are client-chosen or generated TEXT; names are
-- unique per project (datasets) and per dataset (runs). Run items reference traces and
-- observations by id only: experiments create them before their spans are exported.
create table datasets (
    project_id              text not null,
    id                      text not null,
    name                    text not null,
    description             text,
    metadata                jsonb,
    input_schema            jsonb,
    expected_output_schema  jsonb,
    created_at              timestamptz not null default now(),
    updated_at              timestamptz not null default now(),
    primary key (project_id, id),
    unique (project_id, name)
);

create table dataset_items (
    project_id             text not null,
    id                     text not null,
    dataset_id             text not null,
    status                 text not null default 'ACTIVE',
    input                  jsonb,
    expected_output        jsonb,
    metadata               jsonb,
    source_trace_id        text,
    source_observation_id  text,
    created_at             timestamptz not null default now(),
    updated_at             timestamptz not null default now(),
    primary key (project_id, id),
    foreign key (project_id, dataset_id) references datasets (project_id, id) on delete cascade
);
create index dataset_items_dataset_idx on dataset_items (project_id, dataset_id, created_at desc);

create table dataset_runs (
    project_id   text not null,
    id           text not null,
    dataset_id   text not null,
    name         text not null,
    description  text,
    metadata     jsonb,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    primary key (project_id, id),
    unique (project_id, dataset_id, name),
    foreign key (project_id, dataset_id) references datasets (project_id, id) on delete cascade
);

create table dataset_run_items (
    project_id       text not null,
    id               text not null,
    dataset_run_id   text not null,
    dataset_item_id  text not null,
    trace_id         text not null,
    observation_id   text,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    primary key (project_id, id),
    foreign key (project_id, dataset_run_id) references dataset_runs (project_id, id) on delete cascade
);
create index dataset_run_items_run_idx on dataset_run_items (project_id, dataset_run_id, created_at desc);
