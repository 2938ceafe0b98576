-- Time-series metrics, second step: reads over a day of a whole fleet.
--
-- Storage contract additions (writer: ingest worker via store::tsmetrics; readers: same):
-- - metric_rollup_5m, metric_rollup_1h: per series and 5 minutes / hour, the same
--   count/sum/min/max/latest columns as metric_rollup_1m, maintained in the same transaction
--   from the newly inserted points. A query reads the coarsest level whose width divides its
--   step for the whole buckets of its range, finer levels towards the ragged edges and raw
--   points for the rest: a day of a 1h-step query reads about 24 + 22 + 8 rows per series
--   instead of 1,440.
-- - Both rollups name their bucket column `bucket`, so one reader serves every level.
-- - metric_points' primary key carries `value`, so percentiles (which need every raw value)
--   read a series' range as an index-only scan: the points of one series are contiguous in
--   the index, while in the heap they are interleaved with every other series written at
--   the same time.
-- - Autovacuum runs on these insert-heavy tables after 1% of new rows (not 20%), keeping the
--   visibility map (index-only scans) and planner statistics close to the writes.

alter table metric_rollup_1m rename column minute to bucket;
alter index metric_rollup_1m_minute_brin rename to metric_rollup_1m_bucket_brin;

-- The coarser levels have the 1-minute rollup's columns, primary key and BRIN index.
create table metric_rollup_5m (like metric_rollup_1m including all);
insert into metric_rollup_5m (series_id, bucket, cnt, sum, min, max, last_ts, last_value)
select series_id, date_bin('5 minutes', bucket, timestamptz '1970-01-01 00:00:00+00'),
       sum(cnt), sum(sum), min(min), max(max), max(last_ts),
       (array_agg(last_value order by last_ts desc))[1]
from metric_rollup_1m
group by 1, 2;

create table metric_rollup_1h (like metric_rollup_1m including all);
insert into metric_rollup_1h (series_id, bucket, cnt, sum, min, max, last_ts, last_value)
select series_id, date_bin('1 hour', bucket, timestamptz '1970-01-01 00:00:00+00'),
       sum(cnt), sum(sum), min(min), max(max), max(last_ts),
       (array_agg(last_value order by last_ts desc))[1]
from metric_rollup_1m
group by 1, 2;

alter table metric_points drop constraint metric_points_pkey;
alter table metric_points add constraint metric_points_pkey
    primary key (series_id, ts) include (value);

alter table metric_points set (
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.01
);
alter table metric_rollup_1m set (
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_vacuum_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.01
);
alter table metric_rollup_5m set (
    autovacuum_vacuum_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.02
);
alter table metric_rollup_1h set (
    autovacuum_vacuum_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.02
);
