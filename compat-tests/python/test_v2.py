"""Langfuse Python SDK 2.60.x (ingestion-based) against xtrace: batched /api/public/ingestion
events with updates in later batches, scores, reads through the SDK's fetch helpers, prompts
and datasets. Tests whose endpoints xtrace does not have yet skip (404 probe)."""

import os
import uuid

import pytest
from langfuse import Langfuse

from _xtrace import eventually, require


@pytest.fixture(scope="module")
def lf():
    client = Langfuse(flush_interval=0.2)
    yield client
    client.shutdown()


def uid(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_auth_check(lf):
    assert lf.auth_check() is True


def test_auth_check_with_wrong_secret_raises(lf):
    bad = Langfuse(public_key=os.environ["LANGFUSE_PUBLIC_KEY"], secret_key="sk-lf-wrong")
    with pytest.raises(Exception):
        bad.auth_check()
    bad.shutdown()


def test_trace_span_generation_event_with_updates(lf):
    user, session = uid("user"), uid("session")
    trace = lf.trace(
        name="py2-trace",
        user_id=user,
        session_id=session,
        tags=["compat", "py2"],
        metadata={"suite": "py2"},
        input={"question": "2+2?"},
    )
    span = trace.span(name="retrieve", input={"q": "2+2"}, metadata={"a": 1})
    gen = span.generation(
        name="llm-call",
        model="gpt-4o-mini",
        model_parameters={"temperature": 0, "max_tokens": 64},
        input=[{"role": "user", "content": "2+2?"}],
    )
    lf.flush()  # updates below arrive in a later batch than the creates
    gen.end(
        output={"role": "assistant", "content": "4"},
        usage={"input": 12, "output": 3, "unit": "TOKENS"},
    )
    span.update(output={"docs": 1}, metadata={"b": 2})
    span.end()
    trace.event(name="cache-hit", input={"key": "k"}, level="DEBUG")
    trace.update(output={"answer": "4"}, tags=["extra"])
    lf.flush()

    require("GET", "/api/public/traces?limit=1")

    def read():
        t = lf.fetch_trace(trace.id).data
        assert len(t.observations) == 3, t.observations
        obs = {o.name: o for o in t.observations}
        assert obs["llm-call"].output is not None
        assert obs["retrieve"].end_time is not None
        assert t.output is not None
        return t

    t = eventually(read)
    assert t.name == "py2-trace"
    assert t.user_id == user
    assert t.session_id == session
    assert set(t.tags) == {"compat", "py2", "extra"}  # tags are unioned across updates
    assert t.metadata == {"suite": "py2"}
    assert t.input == {"question": "2+2?"}
    assert t.output == {"answer": "4"}

    obs = {o.name: o for o in t.observations}
    s, g, e = obs["retrieve"], obs["llm-call"], obs["cache-hit"]
    assert s.type == "SPAN" and g.type == "GENERATION" and e.type == "EVENT"
    assert g.parent_observation_id == s.id
    assert s.parent_observation_id is None and e.parent_observation_id is None
    assert s.input == {"q": "2+2"} and s.output == {"docs": 1}
    assert s.metadata == {"a": 1, "b": 2}  # metadata merges across updates
    assert g.model == "gpt-4o-mini"
    assert g.input == [{"role": "user", "content": "2+2?"}]
    assert g.output == {"role": "assistant", "content": "4"}
    assert g.end_time is not None and g.end_time >= g.start_time
    assert g.usage.input == 12 and g.usage.output == 3 and g.usage.total == 15
    assert e.level == "DEBUG"


def test_generation_usage_and_cost_details(lf):
    gen = lf.generation(
        name="detailed",
        model="my-model",
        usage_details={"input": 100, "output": 20, "cache_read_input_tokens": 5},
        cost_details={"input": 0.01, "output": 0.02},
    )
    lf.flush()
    require("GET", "/api/public/observations?limit=1")
    o = eventually(lambda: lf.fetch_observation(gen.id).data)
    assert o.trace_id == gen.trace_id
    assert o.usage_details["input"] == 100
    assert o.usage_details["output"] == 20
    assert o.usage_details["cache_read_input_tokens"] == 5
    assert o.cost_details["input"] == pytest.approx(0.01)
    assert o.cost_details["output"] == pytest.approx(0.02)
    assert o.calculated_total_cost == pytest.approx(0.03)

    page = eventually(lambda: _nonempty(lf.fetch_observations(trace_id=gen.trace_id, type="GENERATION").data))
    assert [x.id for x in page] == [gen.id]


def test_scores_on_trace_and_observation(lf):
    trace = lf.trace(name="scored")
    gen = trace.generation(name="g", model="m")
    trace.score(name="quality", value=0.75, comment="ok")
    gen.score(name="ok", value=1, data_type="BOOLEAN")
    lf.score(trace_id=trace.id, name="label", value="good", data_type="CATEGORICAL")
    lf.flush()

    require("GET", "/api/public/traces?limit=1")

    def read():
        t = lf.fetch_trace(trace.id).data
        assert len(t.scores) == 3, t.scores
        return t

    scores = {s.name: s for s in eventually(read).scores}
    assert scores["quality"].value == pytest.approx(0.75)
    assert scores["quality"].comment == "ok"
    assert scores["ok"].observation_id == gen.id
    assert scores["ok"].data_type == "BOOLEAN"
    assert scores["label"].string_value == "good"


def test_fetch_traces_and_sessions_filters(lf):
    user, session = uid("user"), uid("session")
    ids = [lf.trace(name=f"t{i}", user_id=user, session_id=session).id for i in range(3)]
    lf.flush()
    require("GET", "/api/public/traces?limit=1")

    def read():
        res = lf.fetch_traces(user_id=user, limit=2)
        assert res.meta.total_items == 3
        return res

    res = eventually(read)
    assert len(res.data) == 2
    assert res.meta.total_pages == 2
    page2 = lf.fetch_traces(user_id=user, limit=2, page=2).data
    assert {t.id for t in res.data} | {t.id for t in page2} == set(ids)

    require("GET", "/api/public/sessions?limit=1")
    sessions = lf.fetch_sessions(limit=100).data
    assert session in {s.id for s in sessions}


def test_prompts(lf):
    require("GET", "/api/public/v2/prompts")
    name = uid("prompt")
    lf.create_prompt(name=name, prompt="Hi {{name}}", labels=["production"], config={"m": "x"})
    p = lf.get_prompt(name, cache_ttl_seconds=0)
    assert p.version == 1
    assert p.compile(name="Ada") == "Hi Ada"
    assert p.config == {"m": "x"}


def test_datasets_and_run_items(lf):
    require("GET", "/api/public/v2/datasets")
    name = uid("dataset")
    lf.create_dataset(name=name, description="compat")
    lf.create_dataset_item(dataset_name=name, input={"x": 1}, expected_output={"y": 2})
    ds = lf.get_dataset(name)
    assert len(ds.items) == 1
    item = ds.items[0]
    assert item.input == {"x": 1}
    with item.observe(run_name="run-1") as trace_id:
        lf.trace(id=trace_id, output={"y": 2})
    lf.flush()
    require("GET", f"/api/public/datasets/{name}/runs")
    run = eventually(lambda: lf.get_dataset_run(dataset_name=name, dataset_run_name="run-1"))
    assert run.name == "run-1"


def _nonempty(xs):
    assert xs
    return xs


def test_dataset_with_spaces_in_its_name(lf):
    # The 2.x SDK URL-encodes names itself before httpx encodes them again.
    require("GET", "/api/public/v2/datasets")
    name = f"Text with spaces {uuid.uuid4().hex[:6]}"
    lf.create_dataset(name=name, description="spaces")
    lf.create_dataset_item(dataset_name=name, input={"q": "a b"}, expected_output="ok")
    ds = lf.get_dataset(name)
    assert ds.name == name
    assert [i.input for i in ds.items] == [{"q": "a b"}]
    run_name = "run with spaces"
    with ds.items[0].observe(run_name=run_name) as trace_id:
        lf.trace(id=trace_id, output="ok")
    lf.flush()
    run = eventually(lambda: lf.get_dataset_run(dataset_name=name, dataset_run_name=run_name))
    assert run.name == run_name
    assert len(run.dataset_run_items) == 1
    runs = lf.get_dataset_runs(dataset_name=name)
    assert [r.name for r in runs.data] == [run_name]


def test_prompt_with_spaces_in_its_name(lf):
    name = f"prompt with spaces {uuid.uuid4().hex[:6]}"
    lf.create_prompt(name=name, prompt="Hi {{who}}", labels=["production"])
    prompt = lf.get_prompt(name, cache_ttl_seconds=0)
    assert prompt.name == name
    assert prompt.compile(who="there") == "Hi there"
