-- Model definitions and pricing tiers (Langfuse `/api/public/models`, COMPAT-NOTES §4.7).
-- project_id NULL = global (Langfuse-managed) model, seeded at start-up from
-- src/pricing/default_models.json; project models override global ones when matching.
-- match_pattern is a Postgres-compatible regex tested with `~` against generation.model.
create table models (
    id                text primary key,
    project_id        text references projects (id) on delete cascade,
    model_name        text not null,
    match_pattern     text not null,
    start_date        timestamptz,
    unit              text,
    tokenizer_id      text,
    tokenizer_config  jsonb,
    -- Legacy flat prices (USD per unit), kept for the API's deprecated fields.
    input_price       double precision,
    output_price      double precision,
    total_price       double precision,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);
create index models_project_idx on models (project_id);
-- Langfuse refuses a second project model with the same name.
create unique index models_project_name_idx on models (project_id, model_name) where project_id is not null;

-- conditions: JSON array of {usageDetailPattern, operator, value, caseSensitive} or
-- {source, key, operator:"in", values}; prices: JSON object usage key -> USD per unit.
create table pricing_tiers (
    id          text primary key,
    model_id    text not null references models (id) on delete cascade,
    name        text not null,
    is_default  boolean not null default false,
    priority    integer not null,
    conditions  jsonb not null default '[]'::jsonb,
    prices      jsonb not null default '{}'::jsonb,
    unique (model_id, priority),
    unique (model_id, name)
);
create index pricing_tiers_model_idx on pricing_tiers (model_id);

-- Digest of the default model list last applied, so start-up skips an unchanged seed.
create table model_seed_state (
    id          boolean primary key default true check (id),
    digest      text not null,
    applied_at  timestamptz not null default now()
);
