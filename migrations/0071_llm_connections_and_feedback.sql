-- LLM connections (`/api/public/llm-connections`): one per provider name in a project. The
-- provider's secret key is stored only encrypted (AES-256-GCM, see domain::encryption), with
-- a masked form for display. Extra header values are secrets too and stored encrypted as one
-- JSON object; their keys are kept in clear for display.
create table llm_connections (
    project_id           text not null,
    id                   text not null,
    provider             text not null,
    adapter              text not null,
    secret_key_sealed    text not null,
    display_secret_key   text not null,
    base_url             text,
    custom_models        text[] not null default '{}',
    with_default_models  boolean not null default true,
    extra_headers_sealed text,
    extra_header_keys    text[] not null default '{}',
    config               jsonb,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    primary key (project_id, id)
);
create unique index llm_connections_project_provider_idx on llm_connections (project_id, provider);

-- Feedback submitted through `POST /api/public/feedback` (kept locally; never sent anywhere).
create table feedback (
    project_id     text not null,
    id             text not null,
    target_type    text not null,
    target         text not null,
    feedback       text not null,
    goal           text,
    reference_url  text,
    created_at     timestamptz not null default now(),
    primary key (project_id, id)
);
