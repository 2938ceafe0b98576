-- Sessions of the built-in web UI (src/ui). The cookie carries a random token; only its
-- SHA-256 is stored. A key-pair session is bound to its key's project; an admin session
-- (signed in with the admin token) may switch `project_id` among the organisation's projects.
create table if not exists ui_sessions (
    token_hash bytea primary key,
    is_admin boolean not null,
    project_id text not null,
    public_key text,
    csrf_token text not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null
);
create index if not exists ui_sessions_expires_at on ui_sessions (expires_at);
