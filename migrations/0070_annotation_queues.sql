-- Annotation queues (`/api/public/annotation-queues`): queues, their items (a trace,
-- observation or session to annotate) and user assignments. Ids are server-generated TEXT.

create table annotation_queues (
    project_id        text not null,
    id                text not null,
    name              text not null,
    description       text,
    score_config_ids  text[] not null default '{}',
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    primary key (project_id, id)
);
create unique index annotation_queues_project_name_idx on annotation_queues (project_id, name);
create index annotation_queues_project_created_idx on annotation_queues (project_id, created_at desc, id desc);

create table annotation_queue_items (
    project_id    text not null,
    id            text not null,
    queue_id      text not null,
    -- TRACE, OBSERVATION, SESSION
    object_type   text not null,
    object_id     text not null,
    -- PENDING, COMPLETED
    status        text not null default 'PENDING',
    completed_at  timestamptz,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    primary key (project_id, id),
    foreign key (project_id, queue_id) references annotation_queues (project_id, id) on delete cascade
);
create index annotation_queue_items_queue_idx
    on annotation_queue_items (project_id, queue_id, created_at desc, id desc);

create table annotation_queue_assignments (
    project_id  text not null,
    queue_id    text not null,
    user_id     text not null,
    created_at  timestamptz not null default now(),
    primary key (project_id, queue_id, user_id),
    foreign key (project_id, queue_id) references annotation_queues (project_id, id) on delete cascade
);
