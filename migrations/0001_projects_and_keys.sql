-- Organisations, projects and their API keys. Every data table carries project_id.
create table organizations (
    id          text primary key,
    name        text not null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);

create table projects (
    id              text primary key,
    org_id          text not null references organizations (id),
    name            text not null,
    metadata        jsonb not null default '{}'::jsonb,
    retention_days  integer,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    deleted_at      timestamptz
);
create index projects_org_idx on projects (org_id) where deleted_at is null;

-- Secret keys are stored as sha256(salt || secret); the public key identifies the project.
create table api_keys (
    id                  text primary key,
    project_id          text not null references projects (id) on delete cascade,
    public_key          text not null unique,
    secret_salt         bytea not null,
    secret_hash         bytea not null,
    display_secret_key  text not null,
    note                text,
    created_at          timestamptz not null default now(),
    expires_at          timestamptz,
    last_used_at        timestamptz
);
create index api_keys_project_idx on api_keys (project_id);
