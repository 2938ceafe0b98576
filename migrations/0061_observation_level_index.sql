-- Observations at WARNING or ERROR, newest first per project: the web UI's trace-list level
-- filter finds the traces that have them here (src/store/ui.rs `traces_with_levels`) instead
-- of looking at every trace's observations. Partial, so it stays as small as the errors are
-- rare and costs nothing on the other observations.
create index if not exists observations_project_level_start_idx
    on observations (project_id, level, start_time desc)
    where level in ('WARNING', 'ERROR');
