-- Unstable evaluators and evaluation rules (`/api/public/unstable/evaluators`,
-- `/api/public/unstable/evaluation-rules`). xtrace records them and serves them with
-- Langfuse's shapes; it does not execute LLM-as-judge or code evaluators.

-- An evaluator family: its id stays stable across versions; names are unique per project.
create table evaluators (
    project_id  text not null,
    id          text not null,
    name        text not null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    primary key (project_id, id),
    unique (project_id, name)
);
create index evaluators_project_updated_idx on evaluators (project_id, updated_at desc, id desc);

-- Every version of an evaluator; the highest version is the one served and used.
create table evaluator_versions (
    project_id    text not null,
    evaluator_id  text not null,
    version       integer not null,
    -- llm_as_judge | code
    type          text not null,
    -- The type's fields: prompt, outputDefinition, modelConfig, mapping, variables
    -- (llm_as_judge) or sourceCode, sourceCodeLanguage, variables (code).
    definition    jsonb not null,
    created_at    timestamptz not null default now(),
    primary key (project_id, evaluator_id, version),
    foreign key (project_id, evaluator_id) references evaluators (project_id, id) on delete cascade
);

create table evaluation_rules (
    project_id  text not null,
    id          text not null,
    name        text not null,
    -- observation | experiment
    target      text not null,
    enabled     boolean not null,
    sampling    double precision not null default 1,
    filter      jsonb not null default '[]'::jsonb,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    primary key (project_id, id),
    unique (project_id, name)
);
create index evaluation_rules_project_updated_idx on evaluation_rules (project_id, updated_at desc, id desc);

-- The evaluators of a rule in assignment order; deleting the evaluator deletes these.
create table evaluation_rule_evaluators (
    project_id    text not null,
    rule_id       text not null,
    position      integer not null,
    evaluator_id  text not null,
    -- Rule-specific mapping override, null to inherit the evaluator's default.
    mapping       jsonb,
    primary key (project_id, rule_id, position),
    foreign key (project_id, rule_id) references evaluation_rules (project_id, id) on delete cascade,
    foreign key (project_id, evaluator_id) references evaluators (project_id, id) on delete cascade
);
create index evaluation_rule_evaluators_evaluator_idx on evaluation_rule_evaluators (project_id, evaluator_id);
