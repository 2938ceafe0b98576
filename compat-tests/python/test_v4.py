"""Langfuse Python SDK 4.x (OTel-based) against xtrace: tracing over OTLP/protobuf, scores
over /api/public/ingestion, reads through the SDK's own REST client, prompts, datasets,
experiments and media. Tests whose endpoints xtrace does not have yet skip (404 probe)."""

import base64
import os
import uuid

import pytest
from langfuse import Langfuse, LangfuseMedia, observe, propagate_attributes

from _xtrace import eventually, http, require

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def lf():
    client = Langfuse()
    yield client
    client.shutdown()


def uid(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_auth_check(lf):
    assert lf.auth_check() is True


def test_unknown_key_is_rejected_with_401(lf):
    # The SDK keeps one client per public key, so an unknown key (not a wrong secret for the
    # known key) is what gives a second, independent client.
    bad = Langfuse(public_key="pk-lf-unknown", secret_key="sk-lf-wrong", tracing_enabled=False)
    with pytest.raises(Exception) as err:
        bad.auth_check()
    assert getattr(err.value, "status_code", None) == 401


def test_nested_generation_is_stored_with_usage_cost_and_trace_attributes(lf):
    user, session, trace_name = uid("user"), uid("session"), uid("py4-trace")
    with propagate_attributes(
        user_id=user,
        session_id=session,
        tags=["compat", "py4"],
        metadata={"suite": "py4"},
        trace_name=trace_name,
        version="v-1",
    ):
        with lf.start_as_current_observation(name="root", input={"question": "2+2?"}) as root:
            with lf.start_as_current_observation(
                name="llm-call",
                as_type="generation",
                model="gpt-4o-mini",
                model_parameters={"temperature": 0.2, "max_tokens": 64},
                input=[{"role": "user", "content": "2+2?"}],
            ) as gen:
                gen.update(
                    output={"role": "assistant", "content": "4"},
                    usage_details={"input": 12, "output": 3},
                    cost_details={"input": 0.0012, "output": 0.0006},
                    metadata={"step": "answer"},
                )
            root.update(output={"answer": "4"})
            trace_id = lf.get_current_trace_id()
            root_id, gen_id = root.id, gen.id
    lf.flush()

    require("GET", "/api/public/traces?limit=1")

    def read():
        t = lf.api.trace.get(trace_id)
        assert len(t.observations) == 2, t.observations
        return t

    trace = eventually(read)
    assert trace.id == trace_id
    assert trace.name == trace_name
    assert trace.user_id == user
    assert trace.session_id == session
    assert set(trace.tags) == {"compat", "py4"}
    assert trace.version == "v-1"
    assert trace.metadata.get("suite") == "py4"
    # The root span's I/O becomes the trace's I/O.
    assert trace.input == {"question": "2+2?"}
    assert trace.output == {"answer": "4"}

    by_id = {o.id: o for o in trace.observations}
    root_obs, gen_obs = by_id[root_id], by_id[gen_id]
    assert root_obs.type == "SPAN" and root_obs.parent_observation_id is None
    assert gen_obs.type == "GENERATION"
    assert gen_obs.parent_observation_id == root_id
    assert gen_obs.name == "llm-call"
    assert gen_obs.model == "gpt-4o-mini"
    assert gen_obs.model_parameters.get("temperature") in (0.2, "0.2")
    assert gen_obs.input == [{"role": "user", "content": "2+2?"}]
    assert gen_obs.output == {"role": "assistant", "content": "4"}
    assert gen_obs.metadata.get("step") == "answer"
    assert gen_obs.usage_details["input"] == 12
    assert gen_obs.usage_details["output"] == 3
    assert gen_obs.usage_details.get("total", 15) == 15
    assert gen_obs.cost_details["input"] == pytest.approx(0.0012)
    assert gen_obs.cost_details["output"] == pytest.approx(0.0006)
    assert gen_obs.end_time is not None and gen_obs.end_time >= gen_obs.start_time
    assert trace.total_cost == pytest.approx(0.0018)


def test_observations_v2_and_v1_reads(lf):
    with lf.start_as_current_observation(name="v2-root") as root:
        with lf.start_as_current_observation(name="tool-call", as_type="tool", input={"x": 1}) as tool:
            tool.update(output={"y": 2})
        trace_id = lf.get_current_trace_id()
        tool_id = tool.id
    lf.flush()

    require("GET", "/api/public/v2/observations?limit=1")

    def read_v2():
        page = lf.api.observations.get_many(trace_id=trace_id, fields="core,basic,io")
        assert len(page.data) == 2
        return page

    page = eventually(read_v2)
    names = {o.name for o in page.data}
    assert names == {"v2-root", "tool-call"}

    require("GET", "/api/public/observations?limit=1")
    obs = eventually(lambda: lf.api.legacy.observations_v1.get(tool_id))
    assert obs.type == "TOOL"
    assert obs.trace_id == trace_id
    assert obs.output == {"y": 2}


@observe()
def decorated_helper(x):
    return {"doubled": x * 2}


@observe(name="decorated-root")
def decorated_root(x):
    return decorated_helper(x)


def test_observe_decorator_captures_io(lf):
    trace_id = lf.create_trace_id()
    # Another test creates a second client (unknown key): name ours, as the SDK asks then.
    decorated_root(21, langfuse_trace_id=trace_id, langfuse_public_key=os.environ["LANGFUSE_PUBLIC_KEY"])
    lf.flush()

    require("GET", "/api/public/traces?limit=1")
    trace = eventually(lambda: _with_observations(lf.api.trace.get(trace_id), 2))
    by_name = {o.name: o for o in trace.observations}
    assert set(by_name) == {"decorated-root", "decorated_helper"}
    assert by_name["decorated_helper"].output == {"doubled": 42}
    assert by_name["decorated_helper"].parent_observation_id == by_name["decorated-root"].id
    assert trace.name == "decorated-root"


def _with_observations(trace, n):
    assert len(trace.observations) == n, trace.observations
    return trace


def test_scores_on_trace_and_observation(lf):
    with lf.start_as_current_observation(name="scored-root") as root:
        with lf.start_as_current_observation(name="scored-gen", as_type="generation", model="m") as gen:
            pass
        trace_id = lf.get_current_trace_id()
        gen_id = gen.id
        root.score_trace(name="helpfulness", value=0.9, comment="good")
    lf.create_score(name="correct", value="yes", data_type="CATEGORICAL", trace_id=trace_id)
    lf.create_score(name="latency-ok", value=1, data_type="BOOLEAN", trace_id=trace_id, observation_id=gen_id)
    lf.flush()

    require("GET", "/api/public/v2/scores?limit=1")

    def read():
        res = lf.api.scores.get_many(trace_id=trace_id)
        assert len(res.data) == 3, res.data
        return res

    scores = {s.name: s for s in eventually(read).data}
    assert scores["helpfulness"].value == pytest.approx(0.9)
    assert scores["helpfulness"].comment == "good"
    assert scores["helpfulness"].data_type == "NUMERIC"
    assert scores["correct"].string_value == "yes"
    assert scores["correct"].data_type == "CATEGORICAL"
    assert scores["latency-ok"].observation_id == gen_id
    assert scores["latency-ok"].value == 1
    assert scores["latency-ok"].data_type == "BOOLEAN"
    for s in scores.values():
        assert s.trace_id == trace_id
        assert s.source == "API"


def test_session_read(lf):
    session = uid("sess")
    for i in range(2):
        with propagate_attributes(session_id=session):
            with lf.start_as_current_observation(name=f"turn-{i}"):
                pass
    lf.flush()
    require("GET", "/api/public/sessions?limit=1")

    def read():
        s = lf.api.sessions.get(session)
        assert len(s.traces) == 2
        return s

    s = eventually(read)
    assert s.id == session


def test_prompts_create_get_and_compile(lf):
    require("GET", "/api/public/v2/prompts")
    name = uid("prompt") + "/with-slash"
    created = lf.create_prompt(
        name=name,
        prompt="Hello {{who}}!",
        labels=["production"],
        tags=["compat"],
        config={"temperature": 0.1},
    )
    assert created.version == 1
    fetched = lf.get_prompt(name, cache_ttl_seconds=0)
    assert fetched.version == 1
    assert fetched.compile(who="xtrace") == "Hello xtrace!"
    assert fetched.config == {"temperature": 0.1}
    assert "production" in fetched.labels

    # A prompt's type is fixed by its first version (Langfuse answers 400 otherwise).
    with pytest.raises(Exception) as err:
        lf.create_prompt(name=name, type="chat", prompt=[{"role": "user", "content": "x"}])
    assert getattr(err.value, "status_code", None) == 400

    lf.create_prompt(name=name, prompt="Bye {{who}}!", labels=["staging"])
    staged = lf.get_prompt(name, label="staging", cache_ttl_seconds=0)
    assert staged.version == 2
    assert staged.compile(who="xtrace") == "Bye xtrace!"
    # The production label still points at version 1.
    assert lf.get_prompt(name, cache_ttl_seconds=0).version == 1


def test_chat_prompt(lf):
    require("GET", "/api/public/v2/prompts")
    name = uid("chat")
    chat = lf.create_prompt(
        name=name,
        type="chat",
        prompt=[{"role": "system", "content": "You are {{role}}"}],
        labels=["staging"],
    )
    assert chat.version == 1
    staged = lf.get_prompt(name, label="staging", type="chat", cache_ttl_seconds=0)
    assert staged.version == 1
    assert staged.compile(role="terse") == [{"role": "system", "content": "You are terse"}]


def test_missing_prompt_uses_fallback(lf):
    require("GET", "/api/public/v2/prompts")
    p = lf.get_prompt(uid("absent"), fallback="fallback {{x}}", max_retries=0, cache_ttl_seconds=0)
    assert p.is_fallback
    assert p.compile(x=1) == "fallback 1"


def test_datasets_and_experiment(lf):
    require("GET", "/api/public/v2/datasets")
    name = uid("dataset")
    ds = lf.create_dataset(name=name, description="compat", metadata={"k": "v"})
    assert ds.name == name
    for a, b in [(1, 2), (3, 4)]:
        lf.create_dataset_item(dataset_name=name, input={"a": a, "b": b}, expected_output=a + b)
    dataset = lf.get_dataset(name)
    assert len(dataset.items) == 2

    def task(*, item, **kwargs):
        inp = item.input if hasattr(item, "input") else item["input"]
        return inp["a"] + inp["b"]

    def exact(*, output, expected_output, **kwargs):
        from langfuse import Evaluation

        return Evaluation(name="exact", value=1.0 if output == expected_output else 0.0)

    result = dataset.run_experiment(name="compat-exp", task=task, evaluators=[exact])
    lf.flush()
    assert len(result.item_results) == 2
    for r in result.item_results:
        assert r.output == r.item.expected_output
        assert [e.value for e in r.evaluations] == [1.0]
    assert result.dataset_run_id

    require("GET", f"/api/public/datasets/{name}/runs")
    runs = eventually(lambda: _nonempty(lf.api.datasets.get_runs(name).data))
    assert any(r.id == result.dataset_run_id for r in runs)


def _nonempty(xs):
    assert xs
    return xs


def test_local_experiment_without_dataset(lf):
    data = [{"input": "a", "expected_output": "A"}, {"input": "b", "expected_output": "B"}]
    result = lf.run_experiment(
        name="local-exp",
        data=data,
        task=lambda *, item, **kw: item["input"].upper(),
        evaluators=[lambda *, output, expected_output, **kw: {"name": "eq", "value": float(output == expected_output)}],
    )
    lf.flush()
    assert [r.output for r in result.item_results] == ["A", "B"]
    trace_ids = [r.trace_id for r in result.item_results]
    require("GET", "/api/public/traces?limit=1")
    for tid in trace_ids:
        t = eventually(lambda: lf.api.trace.get(tid))
        assert t.id == tid


def test_media_in_input_is_uploaded_and_referenced(lf):
    require("POST", "/api/public/media", {})
    media = LangfuseMedia(content_bytes=PNG_1PX, content_type="image/png")
    with lf.start_as_current_observation(name="with-media", input={"image": media}) as span:
        trace_id = lf.get_current_trace_id()
        span_id = span.id
    lf.flush()

    require("GET", "/api/public/traces?limit=1")
    obs = eventually(lambda: _with_observations(lf.api.trace.get(trace_id), 1)).observations[0]
    assert obs.id == span_id
    ref = obs.input["image"]
    assert ref.startswith("@@@langfuseMedia:type=image/png|id=") and ref.endswith("@@@")
    media_id = ref.split("|id=")[1].split("|")[0]
    got = lf.api.media.get(media_id)
    assert got.content_type == "image/png"
    assert got.content_length == len(PNG_1PX)
    status, _ = http("GET", f"/api/public/media/{media_id}")
    assert status == 200
