// Every argument is used or refused: `new Client("/path.sock")` connects to that path, and an
// unknown option key, a wrong type or an extra argument throws a TypeError naming it.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "../src/index.js";
import { completionOf, startFakeDaemon } from "./helpers/fake-daemon.js";

const msg = (content) => ({ model: "m", messages: [{ role: "user", content }] });
const echo = (req, reply) => reply.response(completionOf(req.body?.messages?.at(-1)?.content ?? req.op));

/** assert.throws / rejects matcher: a TypeError whose message contains `part`. */
const typeError = (part) => (e) => {
  assert.ok(e instanceof TypeError, `${e && e.constructor && e.constructor.name}: ${e && e.message}`);
  assert.ok(e.message.includes(part), `"${e.message}" does not name ${part}`);
  return true;
};

test("new Client(path) connects to that path, not the default", async () => {
  const d = await startFakeDaemon({ onRequest: echo });
  const saved = process.env.SIDEGATE_SOCKET;
  process.env.SIDEGATE_SOCKET = "/nonexistent/default.sock"; // where a dropped argument would go
  try {
    const c = new Client(d.socketPath);
    assert.equal(c.socketPath, d.socketPath);
    assert.equal((await c.chat(msg("by path"))).choices[0].message.content, "by path");
    await c.close();
    const c2 = new Client(d.socketPath, { timeoutMs: 5000 });
    assert.equal(c2.socketPath, d.socketPath);
    assert.equal(c2.timeoutMs, 5000);
    assert.equal((await c2.chat(msg("path and options"))).choices[0].message.content, "path and options");
    await c2.close();
    assert.equal(d.hellos.length, 2);
  } finally {
    if (saved === undefined) delete process.env.SIDEGATE_SOCKET;
    else process.env.SIDEGATE_SOCKET = saved;
    await d.close();
  }
});

test("new Client(): wrong types, unknown keys and extra arguments throw", () => {
  assert.throws(() => new Client({ socket: "/x.sock" }), typeError('"socket"'));
  assert.throws(() => new Client({ socketPath: "/x.sock", timeout: 5 }), typeError('"timeout"'));
  assert.throws(() => new Client(42), typeError("42"));
  assert.throws(() => new Client(["/x.sock"]), typeError("array"));
  assert.throws(() => new Client(""), typeError("socketPath"));
  assert.throws(() => new Client({ socketPath: 7 }), typeError("socketPath"));
  assert.throws(() => new Client({ timeoutMs: "5s" }), typeError("timeoutMs"));
  assert.throws(() => new Client({ connectTimeoutMs: -1 }), typeError("connectTimeoutMs"));
  assert.throws(() => new Client({ clientName: 1 }), typeError("clientName"));
  assert.throws(() => new Client("/x.sock", { socketPath: "/y.sock" }), typeError("socketPath"));
  assert.throws(() => new Client("/x.sock", "/y.sock"), typeError("options"));
  assert.throws(() => new Client({ socketPath: "/x.sock" }, {}), typeError("only argument"));
  assert.throws(() => new Client("/x.sock", {}, {}), typeError("at most 2"));
  // still fine
  assert.equal(new Client().socketPath.length > 0, true);
  assert.equal(new Client(undefined).socketPath, new Client().socketPath);
  assert.equal(new Client({ socketPath: "/x.sock" }).socketPath, "/x.sock");
});

test("calls: wrong types, unknown option keys and extra arguments reject", async () => {
  const c = new Client("/nonexistent/never-used.sock");
  await assert.rejects(c.chat(msg("x"), { timeout: 5 }), typeError('"timeout"'));
  await assert.rejects(c.chat(msg("x"), { signal: "stop" }), typeError("signal"));
  await assert.rejects(c.chat(msg("x"), { route: 3 }), typeError("route"));
  await assert.rejects(c.chat(msg("x"), "fast"), typeError("options"));
  await assert.rejects(c.chat("hello"), typeError("body"));
  await assert.rejects(c.chat(null), typeError("body"));
  await assert.rejects(c.chat(msg("x"), {}, {}), typeError("at most 2"));
  await assert.rejects(c.embeddings([1, 2]), typeError("body"));
  await assert.rejects(c.embeddings({ model: "e", input: "x" }, { cache: "no-store", labels: "x" }), typeError('"labels"'));
  await assert.rejects(c.models({ model: "x" }), typeError('"model"'));
  await assert.rejects(c.models({}, {}), typeError("at most 1"));
  await assert.rejects(c.status({ timeoutMs: 0 }), typeError("timeoutMs"));
  await assert.rejects(c.status({}, {}), typeError("at most 1"));
  assert.throws(() => c.stream(msg("x"), { cach: "no-store" }), typeError('"cach"'));
  assert.throws(() => c.stream("x"), typeError("body"));
  assert.throws(() => c.stream(msg("x"), {}, 1), typeError("at most 2"));
  await assert.rejects(c.prompt(3), typeError("id must be a string"));
  await assert.rejects(c.prompt(" "), typeError("must not be empty"));
  await assert.rejects(c.prompt("greet", [1]), typeError("variables must be an object"));
  await assert.rejects(c.prompt("greet", {}, { streem: true }), typeError('"streem"'));
  await assert.rejects(c.prompt("greet", {}, { stream: "yes" }), typeError("options.stream"));
  await assert.rejects(c.prompt("greet", {}, { body: [] }), typeError("options.body"));
  await assert.rejects(c.prompt("greet", {}, { body: { prompt: "x" } }), typeError("first argument"));
  await assert.rejects(c.prompt("greet", {}, { body: { stream: true } }), typeError("options.stream"));
  await assert.rejects(c.prompt("greet", {}, { route: 1 }), typeError("route"));
  await assert.rejects(c.prompt("greet", {}, {}, {}), typeError("at most 3"));
  assert.throws(() => c.prompt("greet", 5, { stream: true }), typeError("variables"));
  assert.equal(c._connects, 0, "no misuse reached the socket");
  await c.close();
});

test("feedback(requestId, options): every argument checked, named when wrong", async () => {
  const c = new Client("/nonexistent/never-used.sock");
  for (const [args, part] of [
    [[], "requestId must be a non-empty string"],
    [[""], "requestId must be a non-empty string"],
    [[7, { score: 1 }], "requestId must be a non-empty string"],
    [["sg-1"], "needs options.score, options.label"],
    [["sg-1", { comment: "only" }], "needs options.score, options.label"],
    [["sg-1", { score: "high" }], "options.score must be a finite number"],
    [["sg-1", { score: NaN }], "options.score must be a finite number"],
    [["sg-1", { label: 3 }], "options.label must be a string"],
    [["sg-1", { label: "x", comment: {} }], "options.comment must be a string"],
    [["sg-1", { label: "x", stars: 5 }], 'unknown option "stars"'],
    [["sg-1", { label: "x" }, {}], "at most 2 arguments"],
    [["sg-1", "good"], "options must be an object"],
  ]) {
    await assert.rejects(c.feedback(...args), typeError(part), JSON.stringify(args));
  }
  await assert.rejects(c.chat(msg("x"), { episode: 5 }), typeError("options.episode must be a string"));
  await c.close();
});
