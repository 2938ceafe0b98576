// Langfuse JS SDK 5.x (`@langfuse/tracing` + `@langfuse/otel` + `@langfuse/client`) against
// xtrace: spans exported as OTLP/JSON through LangfuseSpanProcessor in an OpenTelemetry NodeSDK,
// scores through the client's ingestion queue, reads through the client's REST API, prompts,
// datasets and experiments. Tests whose endpoints xtrace lacks skip (404/405 probe).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { NodeSDK } from "@opentelemetry/sdk-node";
import { LangfuseSpanProcessor } from "@langfuse/otel";
import { propagateAttributes, startActiveObservation, startObservation } from "@langfuse/tracing";
import { LangfuseClient } from "@langfuse/client";
import { eventually, require, uid } from "./_xtrace.mjs";

const processor = new LangfuseSpanProcessor({ flushAt: 50, flushInterval: 0.5 });
const sdk = new NodeSDK({ spanProcessors: [processor] });
const client = new LangfuseClient();

before(() => sdk.start());
after(async () => {
  await client.shutdown();
  await sdk.shutdown();
});

test("getTraceUrl resolves the project through GET /api/public/projects", async () => {
  const url = await client.getTraceUrl("0123456789abcdef0123456789abcdef");
  assert.match(url, /\/project\/[^/]+\/traces\/0123456789abcdef0123456789abcdef/);
});

test("nested generation with usage, cost and propagated trace attributes", async (t) => {
  const userId = uid("user");
  const sessionId = uid("session");
  const traceName = uid("js5-trace");
  let traceId, rootId, genId;
  await propagateAttributes(
    { userId, sessionId, tags: ["compat", "js5"], metadata: { suite: "js5" }, traceName, version: "v-1" },
    () =>
      startActiveObservation("root", async (root) => {
        root.update({ input: { question: "2+2?" } });
        traceId = root.traceId;
        rootId = root.id;
        await startActiveObservation(
          "llm-call",
          async (gen) => {
            genId = gen.id;
            gen.update({
              model: "gpt-4o-mini",
              modelParameters: { temperature: 0.2, max_tokens: 64 },
              input: [{ role: "user", content: "2+2?" }],
              output: { role: "assistant", content: "4" },
              usageDetails: { input: 12, output: 3 },
              costDetails: { input: 0.0012, output: 0.0006 },
              metadata: { step: "answer" },
              completionStartTime: new Date(),
            });
          },
          { asType: "generation" },
        );
        root.update({ output: { answer: "4" } });
      }),
  );
  await processor.forceFlush();

  if (!(await require(t, "GET", "/api/public/traces?limit=1"))) return;
  const tr = await eventually(async () => {
    const res = await client.api.trace.get(traceId);
    assert.equal(res.observations.length, 2);
    return res;
  });
  assert.equal(tr.name, traceName);
  assert.equal(tr.userId, userId);
  assert.equal(tr.sessionId, sessionId);
  assert.deepEqual([...tr.tags].sort(), ["compat", "js5"]);
  assert.equal(tr.version, "v-1");
  assert.equal(tr.metadata.suite, "js5");
  assert.deepEqual(tr.input, { question: "2+2?" });
  assert.deepEqual(tr.output, { answer: "4" });

  const byId = Object.fromEntries(tr.observations.map((o) => [o.id, o]));
  const root = byId[rootId];
  const gen = byId[genId];
  assert.equal(root.type, "SPAN");
  assert.equal(root.parentObservationId, null);
  assert.equal(gen.type, "GENERATION");
  assert.equal(gen.parentObservationId, rootId);
  assert.equal(gen.model, "gpt-4o-mini");
  assert.equal(Number(gen.modelParameters.temperature), 0.2);
  assert.deepEqual(gen.input, [{ role: "user", content: "2+2?" }]);
  assert.deepEqual(gen.output, { role: "assistant", content: "4" });
  assert.equal(gen.metadata.step, "answer");
  assert.equal(gen.usageDetails.input, 12);
  assert.equal(gen.usageDetails.output, 3);
  assert.ok(Math.abs(gen.costDetails.input - 0.0012) < 1e-9);
  assert.ok(Math.abs(gen.costDetails.output - 0.0006) < 1e-9);
  assert.ok(gen.completionStartTime, "completionStartTime (sent JSON-quoted) is stored");
  assert.ok(Math.abs(tr.totalCost - 0.0018) < 1e-9);
});

test("startObservation (manual end) and v1/v2 observation reads", async (t) => {
  const span = startObservation("manual-root", { input: { x: 1 } });
  const tool = span.startObservation("lookup", { input: { k: "v" } }, { asType: "tool" });
  tool.update({ output: { found: true } }).end();
  const ev = span.startObservation("marker", { level: "WARNING", statusMessage: "careful" }, { asType: "event" });
  span.update({ output: { y: 2 } }).end();
  await processor.forceFlush();

  if (!(await require(t, "GET", "/api/public/v2/observations?limit=1"))) return;
  const page = await eventually(async () => {
    const res = await client.api.observations.getMany({ traceId: span.traceId, fields: "core,basic,io" });
    assert.equal(res.data.length, 3);
    return res;
  });
  const byName = Object.fromEntries(page.data.map((o) => [o.name, o]));
  assert.equal(byName.lookup.type, "TOOL");
  assert.equal(byName.marker.type, "EVENT");
  assert.equal(byName.marker.level, "WARNING");

  if (!(await require(t, "GET", "/api/public/observations?limit=1"))) return;
  const one = await eventually(() => client.api.legacy.observationsV1.get(tool.id));
  assert.equal(one.traceId, span.traceId);
  assert.deepEqual(one.output, { found: true });
  assert.ok(ev.id);
});

test("score.create on a trace and an observation", async (t) => {
  let traceId, genId;
  await startActiveObservation("scored-root", async (root) => {
    traceId = root.traceId;
    const gen = root.startObservation("scored-gen", { model: "m" }, { asType: "generation" });
    genId = gen.id;
    gen.end();
  });
  await processor.forceFlush();
  client.score.create({ traceId, name: "helpfulness", value: 0.9, comment: "good" });
  client.score.create({ traceId, observationId: genId, name: "ok", value: 1, dataType: "BOOLEAN" });
  client.score.create({ traceId, name: "label", value: "good", dataType: "CATEGORICAL" });
  await client.score.flush();

  if (!(await require(t, "GET", "/api/public/v2/scores?limit=1"))) return;
  const res = await eventually(async () => {
    const r = await client.api.scores.getMany({ traceId });
    assert.equal(r.data.length, 3);
    return r;
  });
  const scores = Object.fromEntries(res.data.map((s) => [s.name, s]));
  assert.equal(scores.helpfulness.value, 0.9);
  assert.equal(scores.helpfulness.comment, "good");
  assert.equal(scores.ok.observationId, genId);
  assert.equal(scores.ok.dataType, "BOOLEAN");
  assert.equal(scores.label.stringValue, "good");
});

test("prompts: create text and chat versions, get by label, compile", async (t) => {
  if (!(await require(t, "GET", "/api/public/v2/prompts"))) return;
  const name = uid("js5-prompt") + "/nested";
  const v1 = await client.prompt.create({ name, prompt: "Hello {{who}}!", labels: ["production"], config: { t: 1 } });
  assert.equal(v1.version, 1);
  const got = await client.prompt.get(name, { cacheTtlSeconds: 0 });
  assert.equal(got.compile({ who: "xtrace" }), "Hello xtrace!");
  assert.deepEqual(got.config, { t: 1 });
  const chatName = uid("js5-chat");
  const v2 = await client.prompt.create({
    name: chatName,
    type: "chat",
    prompt: [{ role: "system", content: "You are {{role}}" }],
    labels: ["staging"],
  });
  assert.equal(v2.version, 1);
  const staged = await client.prompt.get(chatName, { label: "staging", type: "chat", cacheTtlSeconds: 0 });
  assert.deepEqual(staged.compile({ role: "terse" }), [{ role: "system", content: "You are terse" }]);
  const missing = await client.prompt.get(uid("absent"), { fallback: "fb {{x}}", cacheTtlSeconds: 0, maxRetries: 0 });
  assert.equal(missing.isFallback, true);
});

test("datasets and an experiment with an evaluator", async (t) => {
  if (!(await require(t, "GET", "/api/public/v2/datasets"))) return;
  const name = uid("js5-dataset");
  await client.api.datasets.create({ name, description: "compat" });
  for (const [a, b] of [
    [1, 2],
    [3, 4],
  ]) {
    await client.api.datasetItems.create({ datasetName: name, input: { a, b }, expectedOutput: a + b });
  }
  const ds = await client.dataset.get(name);
  assert.equal(ds.items.length, 2);
  const result = await ds.runExperiment({
    name: "js5-exp",
    task: async (item) => item.input.a + item.input.b,
    evaluators: [async ({ output, expectedOutput }) => ({ name: "exact", value: output === expectedOutput ? 1 : 0 })],
  });
  await processor.forceFlush();
  await client.score.flush();
  assert.equal(result.itemResults.length, 2);
  for (const r of result.itemResults) assert.deepEqual(r.evaluations.map((e) => e.value), [1]);
  assert.ok(result.datasetRunId);
});
