-- Indexes for read-API filters that 0002 does not cover (read slice, 0030-0039).
-- Observations by name (v1/v2 `name=`) and by parent (`parentObservationId=`).
create index observations_project_name_start_idx on observations (project_id, name, start_time desc);
create index observations_project_parent_idx on observations (project_id, parent_observation_id)
    where parent_observation_id is not null;
-- Scores by name (lists, metrics) and by observation (v2 `observationId=`).
create index scores_project_name_timestamp_idx on scores (project_id, name, timestamp desc);
create index scores_project_observation_idx on scores (project_id, observation_id)
    where observation_id is not null;
