-- Time-series metrics (GPU/node telemetry next to LLM traces): `POST /v1/metrics/batch`
-- writes, `/api/public/metrics/query` and `/api/public/metrics/names` read.
--
-- Storage contract (writer: ingest worker via store::tsmetrics; readers: store::tsmetrics):
-- - metric_series: one row per (project, metric name, label set). `labels` is a flat JSON
--   object of string values, stored canonically (keys sorted, as jsonb does), so the unique
--   key identifies a series. Label filters (`labels @> {...}`) resolve to series ids first
--   through the GIN index; points never repeat the name or the labels.
-- - metric_points: the raw points, narrow (series id, time, value). The primary key
--   (series_id, ts) serves every range read of a series and makes re-delivery idempotent:
--   a point at an existing (series, timestamp) is ignored (the first value wins).
-- - metric_rollup_1m: per series and minute, count/sum/min/max and the latest point,
--   maintained in the same transaction as the raw points (only newly inserted points are
--   folded in). Queries whose step is a whole number of minutes read the rollup for the
--   full minutes of their range and raw points only at the ragged edges; percentiles
--   always read raw points.
-- Retention (XTRACE_METRICS_RETENTION_DAYS) deletes points and rollups older than the
-- horizon in a background job; series rows stay (they are small and keep ids stable).
-- No foreign keys from points to series: a per-row FK check would cost write throughput,
-- and only the worker writes points, always with ids it just read from metric_series.

create table metric_series (
    id          bigserial primary key,
    project_id  text not null,
    name        text not null,
    labels      jsonb not null default '{}'::jsonb,
    created_at  timestamptz not null default now(),
    unique (project_id, name, labels)
);
create index metric_series_labels_idx on metric_series using gin (labels jsonb_path_ops);

create table metric_points (
    series_id  bigint not null,
    ts         timestamptz not null,
    value      double precision not null,
    primary key (series_id, ts)
);
-- Retention deletes by time across all series.
create index metric_points_ts_brin on metric_points using brin (ts);

create table metric_rollup_1m (
    series_id   bigint not null,
    minute      timestamptz not null,
    cnt         bigint not null,
    sum         double precision not null,
    min         double precision not null,
    max         double precision not null,
    last_ts     timestamptz not null,
    last_value  double precision not null,
    primary key (series_id, minute)
);
create index metric_rollup_1m_minute_brin on metric_rollup_1m using brin (minute);
