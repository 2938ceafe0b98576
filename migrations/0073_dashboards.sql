-- Unstable dashboards and dashboard widgets (`/api/public/unstable/dashboards`,
-- `/api/public/unstable/dashboard-widgets`). A dashboard's placements live in its
-- `definition` ({"widgets": [placement, …]}), as in Langfuse.

create table dashboard_widgets (
    project_id    text not null,
    id            text not null,
    name          text not null,
    description   text not null default '',
    view          text not null,
    dimensions    jsonb not null default '[]'::jsonb,
    metrics       jsonb not null default '[]'::jsonb,
    filters       jsonb not null default '[]'::jsonb,
    chart_type    text not null,
    chart_config  jsonb not null,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    primary key (project_id, id)
);
create index dashboard_widgets_project_updated_idx on dashboard_widgets (project_id, updated_at desc, id desc);

create table dashboards (
    project_id   text not null,
    id           text not null,
    name         text not null,
    description  text not null default '',
    definition   jsonb not null default '{"widgets": []}'::jsonb,
    filters      jsonb not null default '[]'::jsonb,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    primary key (project_id, id)
);
create index dashboards_project_updated_idx on dashboards (project_id, updated_at desc, id desc);
