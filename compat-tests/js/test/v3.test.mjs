// Langfuse JS SDK 3.x (`langfuse`, ingestion-based) against xtrace: batched
// /api/public/ingestion events with updates, scores, reads through the SDK's fetch helpers,
// prompts and datasets. Tests whose endpoints xtrace lacks skip (404/405 probe).
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Langfuse } from "langfuse";
import { BASE_URL, PUBLIC_KEY, SECRET_KEY, eventually, require, uid } from "./_xtrace.mjs";

const lf = new Langfuse({ publicKey: PUBLIC_KEY, secretKey: SECRET_KEY, baseUrl: BASE_URL, flushAt: 50 });
const errors = [];
lf.on("error", (err) => errors.push(err));

after(async () => {
  await lf.shutdownAsync();
});

test("ingestion answers are accepted: flushAsync raises no SDK error", async () => {
  lf.trace({ name: "js3-ping" });
  await lf.flushAsync();
  assert.deepEqual(errors, []);
});

test("trace, span, generation, event with updates are stored and read back", async (t) => {
  const userId = uid("user");
  const sessionId = uid("session");
  const trace = lf.trace({
    name: "js3-trace",
    userId,
    sessionId,
    tags: ["compat", "js3"],
    metadata: { suite: "js3" },
    input: { question: "2+2?" },
  });
  const span = trace.span({ name: "retrieve", input: { q: "2+2" }, metadata: { a: 1 } });
  const gen = span.generation({
    name: "llm-call",
    model: "gpt-4o-mini",
    modelParameters: { temperature: 0, maxTokens: 64 },
    input: [{ role: "user", content: "2+2?" }],
  });
  await lf.flushAsync(); // the updates below travel in a later batch
  gen.end({ output: { role: "assistant", content: "4" }, usage: { input: 12, output: 3, unit: "TOKENS" } });
  span.update({ output: { docs: 1 }, metadata: { b: 2 } });
  span.end();
  trace.event({ name: "cache-hit", input: { key: "k" }, level: "DEBUG" });
  trace.update({ output: { answer: "4" }, tags: ["extra"] });
  await lf.flushAsync();
  assert.deepEqual(errors, []);

  if (!(await require(t, "GET", "/api/public/traces?limit=1"))) return;
  const { data: tr } = await eventually(async () => {
    const res = await lf.fetchTrace(trace.id);
    assert.equal(res.data.observations.length, 3);
    const byName = Object.fromEntries(res.data.observations.map((o) => [o.name, o]));
    assert.ok(byName["llm-call"].output);
    assert.ok(byName["retrieve"].endTime);
    assert.ok(res.data.output);
    return res;
  });
  assert.equal(tr.name, "js3-trace");
  assert.equal(tr.userId, userId);
  assert.equal(tr.sessionId, sessionId);
  assert.deepEqual([...tr.tags].sort(), ["compat", "extra", "js3"]);
  assert.deepEqual(tr.metadata, { suite: "js3" });
  assert.deepEqual(tr.input, { question: "2+2?" });
  assert.deepEqual(tr.output, { answer: "4" });

  const byName = Object.fromEntries(tr.observations.map((o) => [o.name, o]));
  const s = byName["retrieve"];
  const g = byName["llm-call"];
  const e = byName["cache-hit"];
  assert.equal(s.type, "SPAN");
  assert.equal(g.type, "GENERATION");
  assert.equal(e.type, "EVENT");
  assert.equal(g.parentObservationId, s.id);
  assert.equal(e.parentObservationId, null);
  assert.deepEqual(s.output, { docs: 1 });
  assert.deepEqual(s.metadata, { a: 1, b: 2 });
  assert.equal(g.model, "gpt-4o-mini");
  assert.deepEqual(g.output, { role: "assistant", content: "4" });
  assert.equal(g.usage.input, 12);
  assert.equal(g.usage.output, 3);
  assert.equal(g.usage.total, 15);
  assert.ok(new Date(g.endTime) >= new Date(g.startTime));
  assert.equal(e.level, "DEBUG");
});

test("scores on a trace and an observation", async (t) => {
  const trace = lf.trace({ name: "js3-scored" });
  const gen = trace.generation({ name: "g", model: "m", usageDetails: { input: 5, output: 1 } });
  trace.score({ name: "quality", value: 0.5, comment: "meh" });
  gen.score({ name: "ok", value: 1, dataType: "BOOLEAN" });
  lf.score({ traceId: trace.id, name: "label", value: "good", dataType: "CATEGORICAL" });
  await lf.flushAsync();
  assert.deepEqual(errors, []);

  if (!(await require(t, "GET", "/api/public/traces?limit=1"))) return;
  const { data: tr } = await eventually(async () => {
    const res = await lf.fetchTrace(trace.id);
    assert.equal(res.data.scores.length, 3);
    return res;
  });
  const scores = Object.fromEntries(tr.scores.map((s) => [s.name, s]));
  assert.equal(scores.quality.value, 0.5);
  assert.equal(scores.quality.comment, "meh");
  assert.equal(scores.ok.observationId, gen.id);
  assert.equal(scores.ok.dataType, "BOOLEAN");
  assert.equal(scores.label.stringValue, "good");

  if (!(await require(t, "GET", "/api/public/observations?limit=1"))) return;
  const obs = await eventually(() => lf.fetchObservation(gen.id));
  assert.equal(obs.data.traceId, trace.id);
  assert.equal(obs.data.usageDetails.input, 5);
  assert.equal(obs.data.usageDetails.output, 1);
});

test("fetchTraces filters and pages", async (t) => {
  const userId = uid("user");
  const ids = [0, 1, 2].map((i) => lf.trace({ name: `t${i}`, userId }).id);
  await lf.flushAsync();
  if (!(await require(t, "GET", "/api/public/traces?limit=1"))) return;
  const first = await eventually(async () => {
    const res = await lf.fetchTraces({ userId, limit: 2 });
    assert.equal(res.meta.totalItems, 3);
    return res;
  });
  assert.equal(first.data.length, 2);
  assert.equal(first.meta.totalPages, 2);
  const second = await lf.fetchTraces({ userId, limit: 2, page: 2 });
  assert.deepEqual(new Set([...first.data, ...second.data].map((x) => x.id)), new Set(ids));
});

test("prompts: create, get, compile", async (t) => {
  if (!(await require(t, "GET", "/api/public/v2/prompts"))) return;
  const name = uid("js3-prompt");
  await lf.createPrompt({ name, prompt: "Hi {{name}}", labels: ["production"], config: { m: "x" } });
  const p = await lf.getPrompt(name, undefined, { cacheTtlSeconds: 0 });
  assert.equal(p.version, 1);
  assert.equal(p.compile({ name: "Ada" }), "Hi Ada");
  assert.deepEqual(p.config, { m: "x" });
});

test("datasets: create, items, link a run item", async (t) => {
  if (!(await require(t, "GET", "/api/public/v2/datasets"))) return;
  const name = uid("js3-dataset");
  await lf.createDataset({ name, description: "compat" });
  await lf.createDatasetItem({ datasetName: name, input: { x: 1 }, expectedOutput: { y: 2 } });
  const ds = await lf.getDataset(name);
  assert.equal(ds.items.length, 1);
  const trace = lf.trace({ name: "js3-run" });
  await ds.items[0].link(trace, "run-1");
  await lf.flushAsync();
  const run = await lf.getDatasetRun({ datasetName: name, runName: "run-1" });
  assert.equal(run.name, "run-1");
  assert.equal(run.datasetRunItems.length, 1);
});
