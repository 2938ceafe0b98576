-- Media objects (Langfuse `Media`, `TraceMedia`, `ObservationMedia`). The id is derived
-- from the content hash exactly as the SDKs compute it, so (project_id, sha256_hash) and
-- (project_id, id) identify the same object. Bytes live outside the database (local disk
-- under the data dir); `bucket_path` is the key relative to the media root.
create table media (
    project_id          text not null,
    id                  text not null,
    sha256_hash         text not null,
    content_type        text not null,
    content_length      bigint not null,
    bucket_path         text not null,
    uploaded_at         timestamptz,
    upload_http_status  integer,
    upload_http_error   text,
    upload_time_ms      bigint,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    primary key (project_id, id),
    unique (project_id, sha256_hash)
);

-- Where a media object is referenced: a trace/observation field or a dataset item field.
create table media_links (
    project_id       text not null,
    media_id         text not null,
    trace_id         text,
    observation_id   text,
    dataset_id       text,
    dataset_item_id  text,
    field            text not null,
    created_at       timestamptz not null default now()
);
create index media_links_media_idx on media_links (project_id, media_id);

-- The key that signs upload/download URLs (one row, generated on first use).
create table media_signing_key (
    singleton  boolean primary key default true check (singleton),
    key        bytea not null
);
