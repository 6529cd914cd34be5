// The Client against a scripted fake daemon (test/helpers/fake-daemon.js): framing of
// requests, multiplexing, streams, cancel, deadlines, error mapping and reconnects.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  AbortError,
  AllVendorsFailedError,
  AuthenticationError,
  Client,
  ConnectionError,
  DaemonNotRunningError,
  InvalidRequestError,
  ProtocolError,
  RateLimitError,
  SidegateError,
  SidegateTimeoutError,
} from "../src/index.js";
import { Kind } from "../src/frame.js";
import { chunkOf, completionOf, startFakeDaemon, tempSocketPath, waitFor } from "./helpers/fake-daemon.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const msg = (content) => ({ model: "m", messages: [{ role: "user", content }] });
const lastUser = (req) => req.body.messages.at(-1).content;

/** Echo server: unary answers with the last user message; streams it word by word. */
function echo(req, reply) {
  if (req.op !== "chat") return reply.response({ op: req.op, body: req.body ?? null });
  const text = lastUser(req);
  if (!req.body.stream) return reply.response(completionOf(text), { provider: "fake", model: "echo", cache: "miss", attempts: 1 });
  for (const word of text.split(/(?<= )/)) reply.chunk(chunkOf(word));
  reply.end({ provider: "fake", model: "echo", cache: "bypass", attempts: 1 });
}

describe("client against a fake daemon", () => {
  let d;
  before(async () => {
    d = await startFakeDaemon({ onRequest: echo });
  });
  after(async () => {
    await d.close();
  });

  test("chat: request frame, answer and meta", async () => {
    d.setHandler(echo);
    const c = new Client({ socketPath: d.socketPath });
    const r = await c.chat(msg("hello there"));
    assert.equal(r.choices[0].message.content, "hello there");
    assert.equal(r.object, "chat.completion");
    assert.deepEqual(r.meta, { provider: "fake", model: "echo", cache: "miss", attempts: 1 });
    assert.ok(!Object.keys(r).includes("meta"), "meta is not enumerable");
    assert.ok(!JSON.stringify(r).includes('"meta"'));
    const sent = d.requests.at(-1);
    assert.deepEqual(sent.req, { op: "chat", body: msg("hello there") });
    assert.ok(sent.id > 0n);
    assert.match(d.hellos.at(-1).client, /^sidegate-node\/\d+\.\d+\.\d+/);
    assert.equal(d.hellos.at(-1).protocol, 1);
    await c.close();
  });

  test("options go into REQUEST.options, not the body", async () => {
    d.setHandler(echo);
    const c = new Client({ socketPath: d.socketPath });
    await c.chat(msg("x"), { cache: "no-store", route: "fast", label: "billing-job", timeoutMs: 30000 });
    const { req } = d.requests.at(-1);
    assert.deepEqual(req.body, msg("x"));
    assert.equal(req.options.cache, "no-store");
    assert.equal(req.options.route, "fast");
    assert.equal(req.options.label, "billing-job");
    assert.ok(Number.isInteger(req.options.timeout_ms));
    assert.ok(req.options.timeout_ms > 0 && req.options.timeout_ms <= 30000);
    // a client-wide default deadline is sent too
    const c2 = new Client({ socketPath: d.socketPath, timeoutMs: 5000 });
    await c2.chat(msg("y"));
    assert.ok(d.requests.at(-1).req.options.timeout_ms <= 5000);
    await c.close();
    await c2.close();
  });

  test("prompt() is a chat whose options.prompt names the prompt file", async () => {
    // the daemon renders the prompt; this fake answers without looking at the messages
    d.setHandler((req, reply) => {
      const text = req.body.messages?.at(-1)?.content ?? "rendered";
      if (!req.body.stream) return reply.response(completionOf(text));
      reply.chunk(chunkOf(text));
      reply.end({ provider: "fake", model: "echo", cache: "bypass", attempts: 1 });
    });
    const c = new Client({ socketPath: d.socketPath });
    const extra = [{ role: "user", content: "and wave" }];
    const r = await c.prompt("greet@2", { who: "Ada" }, { route: "fast", body: { messages: extra } });
    assert.equal(r.choices[0].message.content, "and wave");
    let { req } = d.requests.at(-1);
    assert.deepEqual(req.body, { messages: extra });
    assert.deepEqual(req.options.prompt, { id: "greet@2", variables: { who: "Ada" } });
    assert.equal(req.options.route, "fast");
    await c.prompt("greet");
    ({ req } = d.requests.at(-1));
    assert.deepEqual(req, { op: "chat", body: {}, options: { prompt: { id: "greet", variables: {} } } });
    const chunks = [];
    for await (const ch of c.prompt("greet", { who: "Bo" }, { stream: true, label: "x" })) chunks.push(ch);
    assert.equal(chunks.map((ch) => ch.choices[0].delta.content).join(""), "rendered");
    ({ req } = d.requests.at(-1));
    assert.deepEqual(req.body, { stream: true });
    assert.deepEqual(req.options, { label: "x", prompt: { id: "greet", variables: { who: "Bo" } } });
    await c.close();
  });

  test("models, status, embeddings use their ops", async () => {
    d.setHandler(echo);
    const c = new Client({ socketPath: d.socketPath });
    assert.deepEqual(await c.models(), { op: "models", body: null });
    assert.deepEqual(d.requests.at(-1).req, { op: "models" });
    assert.deepEqual(await c.status(), { op: "status", body: null });
    const e = await c.embeddings({ model: "embed", input: ["a", "b"] });
    assert.deepEqual(e, { op: "embeddings", body: { model: "embed", input: ["a", "b"] } });
    assert.equal(e.meta.provider, "fake");
    await c.close();
  });

  test("feedback sends its fields as the feedback op; episode goes in the options", async () => {
    d.setHandler(echo);
    const c = new Client({ socketPath: d.socketPath });
    const r = await c.feedback("sg-00000000000000ab", { score: 0.5, label: "good", comment: "fine", timeoutMs: 5000 });
    assert.deepEqual(r, { op: "feedback", body: { request_id: "sg-00000000000000ab", score: 0.5, label: "good", comment: "fine" } });
    assert.equal(d.requests.at(-1).req.op, "feedback");
    assert.ok(d.requests.at(-1).req.options.timeout_ms <= 5000);
    await c.feedback("sg-1", { label: "bad" });
    assert.deepEqual(d.requests.at(-1).req, { op: "feedback", body: { request_id: "sg-1", label: "bad" } });
    await c.chat(msg("hi"), { episode: "conv-9" });
    assert.deepEqual(d.requests.at(-1).req.options, { episode: "conv-9" });
    await c.close();
  });

  test("stream: chunks in order, stream:true added, meta after END", async () => {
    d.setHandler(echo);
    const c = new Client({ socketPath: d.socketPath });
    const body = msg("one two three four");
    const s = c.stream(body);
    assert.equal(s.meta, undefined);
    const parts = [];
    for await (const chunk of s) {
      assert.equal(chunk.object, "chat.completion.chunk");
      parts.push(chunk.choices[0].delta.content);
    }
    assert.deepEqual(parts, ["one ", "two ", "three ", "four"]);
    assert.deepEqual(s.meta, { provider: "fake", model: "echo", cache: "bypass", attempts: 1 });
    assert.equal(d.requests.at(-1).req.body.stream, true);
    assert.equal(body.stream, undefined, "the caller's body is not mutated");
    // iterating again after the end yields nothing
    for await (const _ of s) assert.fail("no more chunks");
    await c.close();
  });

  test("50 concurrent calls on one connection, answered out of order", async () => {
    const held = [];
    d.setHandler((req, reply) => {
      held.push([req, reply]);
      if (held.length === 50) {
        for (const [r, rep] of held.reverse()) rep.response(completionOf(lastUser(r)));
      }
    });
    const c = new Client({ socketPath: d.socketPath });
    const before = d.connections.length;
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => c.chat(msg(`caller ${i} 🚀`))));
    answers.forEach((r, i) => assert.equal(r.choices[0].message.content, `caller ${i} 🚀`));
    assert.equal(d.connections.length - before, 1, "one connection");
    assert.equal(c._connects, 1);
    const ids = d.requests.slice(-50).map((x) => x.id);
    assert.equal(new Set(ids.map(String)).size, 50, "unique ids");
    await c.close();
  });

  test("interleaved streams are demultiplexed", async () => {
    const held = [];
    d.setHandler((req, reply) => {
      held.push([req, reply]);
      if (held.length < 3) return;
      for (let i = 0; i < 5; i++) for (const [r, rep] of held) rep.chunk(chunkOf(`${lastUser(r)}-${i}`));
      for (const [, rep] of held) rep.end();
    });
    const c = new Client({ socketPath: d.socketPath });
    const collect = async (name) => {
      const out = [];
      for await (const ch of c.stream(msg(name))) out.push(ch.choices[0].delta.content);
      return out;
    };
    const [a, b, x] = await Promise.all([collect("a"), collect("b"), collect("x")]);
    assert.deepEqual(a, ["a-0", "a-1", "a-2", "a-3", "a-4"]);
    assert.deepEqual(b, ["b-0", "b-1", "b-2", "b-3", "b-4"]);
    assert.deepEqual(x, ["x-0", "x-1", "x-2", "x-3", "x-4"]);
    await c.close();
  });

  test("AbortSignal mid-stream sends CANCEL and throws AbortError", async () => {
    let streamId = null;
    d.setHandler((req, reply) => {
      streamId = reply.id;
      reply.chunk(chunkOf("first"));
      reply.chunk(chunkOf("second"));
      // then nothing: a slow vendor
    });
    const c = new Client({ socketPath: d.socketPath });
    const ac = new AbortController();
    const got = [];
    await assert.rejects(
      (async () => {
        for await (const ch of c.stream(msg("slow"), { signal: ac.signal })) {
          got.push(ch.choices[0].delta.content);
          if (got.length === 2) ac.abort();
        }
      })(),
      (e) => e instanceof AbortError && e.name === "AbortError",
    );
    assert.deepEqual(got, ["first", "second"]);
    await waitFor(() => d.cancels.includes(streamId), { what: "CANCEL frame" });
    // frames the daemon had in flight for that id are dropped without harm
    d.connections.at(-1).send(Kind.CHUNK, streamId, JSON.stringify(chunkOf("late")));
    d.connections.at(-1).send(Kind.END, streamId, JSON.stringify({ meta: {} }));
    d.setHandler(echo);
    assert.equal((await c.chat(msg("still fine"))).choices[0].message.content, "still fine");
    await c.close();
  });

  test("breaking out of for-await sends CANCEL", async () => {
    let streamId = null;
    d.setHandler((req, reply) => {
      streamId = reply.id;
      for (let i = 0; i < 3; i++) reply.chunk(chunkOf(`w${i}`));
    });
    const c = new Client({ socketPath: d.socketPath });
    const s = c.stream(msg("x"));
    for await (const ch of s) {
      assert.equal(ch.choices[0].delta.content, "w0");
      break;
    }
    await waitFor(() => d.cancels.includes(streamId), { what: "CANCEL frame" });
    assert.equal(s.meta, undefined);
    await c.close();
  });

  test("abort of a unary call sends CANCEL; an aborted signal sends nothing", async () => {
    let id = null;
    d.setHandler((req, reply) => {
      id = reply.id;
    });
    const c = new Client({ socketPath: d.socketPath });
    const ac = new AbortController();
    const p = c.chat(msg("never answered"), { signal: ac.signal });
    await waitFor(() => id !== null, { what: "request" });
    ac.abort(new Error("user gave up"));
    await assert.rejects(p, (e) => e instanceof AbortError && e.cause.message === "user gave up");
    await waitFor(() => d.cancels.includes(id), { what: "CANCEL" });

    const count = d.requests.length;
    const pre = new AbortController();
    pre.abort();
    await assert.rejects(c.chat(msg("x"), { signal: pre.signal }), AbortError);
    await assert.rejects(
      (async () => {
        for await (const _ of c.stream(msg("x"), { signal: pre.signal }));
      })(),
      AbortError,
    );
    assert.equal(d.requests.length, count, "nothing sent for a signal aborted up front");
    await c.close();
  });

  test("timeoutMs: SidegateTimeoutError, CANCEL, connection reusable", async () => {
    let id = null;
    d.setHandler((req, reply) => {
      id = reply.id;
    });
    const c = new Client({ socketPath: d.socketPath });
    await assert.rejects(c.chat(msg("hang"), { timeoutMs: 150 }), (e) => {
      assert.ok(e instanceof SidegateTimeoutError);
      assert.equal(e.name, "TimeoutError");
      assert.equal(e.code, "timeout");
      return true;
    });
    await waitFor(() => d.cancels.includes(id), { what: "CANCEL" });
    // streams too, with the client-wide default
    const c2 = new Client({ socketPath: d.socketPath, timeoutMs: 150 });
    await assert.rejects(
      (async () => {
        for await (const _ of c2.stream(msg("hang")));
      })(),
      SidegateTimeoutError,
    );
    // an AbortSignal.timeout() is a timeout as well
    await assert.rejects(c.chat(msg("hang"), { signal: AbortSignal.timeout(100) }), SidegateTimeoutError);
    d.setHandler(echo);
    assert.equal((await c.chat(msg("ok"))).choices[0].message.content, "ok");
    assert.equal(c._connects, 1);
    await c.close();
    await c2.close();
  });

  test("ERROR frames become typed errors", async () => {
    const table = {
      ratelimited: [429, { message: "slow down", type: "rate_limit_error", code: "rate_limited" }, { retry_after: 1.5 }, RateLimitError],
      denied: [403, { message: "caller `uid 1000` may not use route `fast`", type: "permission_error", code: "caller_denied" }, {}, AuthenticationError],
      late: [504, { message: "route `fast` ran out of time", type: "timeout_error", code: "timeout" }, {}, SidegateTimeoutError],
      nope: [404, { message: "unknown model `nope`", type: "invalid_request_error", code: "model_not_found", param: "model" }, {}, InvalidRequestError],
      down: [502, { message: "all vendors failed", type: "api_error", code: "all_vendors_failed", attempts: [{ deployment: "d", provider: "p", outcome: "server_error", status: 500, message: "boom", latency_ms: 1 }] }, { meta: { attempts: 1 } }, AllVendorsFailedError],
    };
    d.setHandler((req, reply) => {
      const [status, error, extra] = table[lastUser(req)];
      reply.error(status, error, extra);
    });
    const c = new Client({ socketPath: d.socketPath });
    for (const [name, [status, error, extra, Class]] of Object.entries(table)) {
      await assert.rejects(c.chat(msg(name)), (e) => {
        assert.ok(e instanceof Class, `${name}: ${e}`);
        assert.equal(e.status, status);
        assert.equal(e.code, error.code);
        assert.equal(e.message, error.message);
        if (extra.retry_after) assert.equal(e.retryAfter, extra.retry_after);
        if (extra.meta) assert.deepEqual(e.meta, extra.meta);
        if (error.attempts) assert.deepEqual(e.attempts, error.attempts);
        return true;
      });
    }
    await c.close();
  });

  test("a stream ERROR comes after the chunks sent before it", async () => {
    d.setHandler((req, reply) => {
      reply.chunk(chunkOf("a"));
      reply.chunk(chunkOf("b"));
      reply.error(502, { message: "vendor stream broke", type: "api_error", code: "stream_interrupted" });
    });
    const c = new Client({ socketPath: d.socketPath });
    const got = [];
    // let all frames arrive before iterating
    const s = c.stream(msg("x"));
    const first = await s.next();
    got.push(first.value.choices[0].delta.content);
    await waitFor(() => s._queue.length === 1 && s._error, { what: "buffered error" });
    await assert.rejects(
      (async () => {
        for await (const ch of s) got.push(ch.choices[0].delta.content);
      })(),
      (e) => e instanceof AllVendorsFailedError && e.code === "stream_interrupted",
    );
    assert.deepEqual(got, ["a", "b"]);
    await c.close();
  });

  test("PING from the daemon is answered with PONG", async () => {
    d.setHandler(echo);
    const c = new Client({ socketPath: d.socketPath });
    await c.chat(msg("x"));
    d.connections.at(-1).send(Kind.PING, 77n, "ping-body");
    await waitFor(() => d.pongs.some((p) => p.id === 77n && p.body === "ping-body"), { what: "PONG" });
    await c.close();
  });

  test("a request over the advertised max_frame is refused locally", async () => {
    const small = await startFakeDaemon({ onRequest: echo, maxFrame: 1000 });
    const c = new Client({ socketPath: small.socketPath });
    await c.chat(msg("x")); // WELCOME has arrived by now
    await waitFor(() => c._conn.welcome, { what: "WELCOME" });
    const count = small.requests.length;
    await assert.rejects(c.chat(msg("y".repeat(2000))), (e) => {
      assert.ok(e instanceof InvalidRequestError);
      assert.equal(e.status, 413);
      assert.equal(e.code, "frame_too_large");
      return true;
    });
    assert.equal(small.requests.length, count);
    // and an answer over it is a protocol error
    small.setHandler((req, reply) => reply.response(completionOf("z".repeat(2000))));
    await assert.rejects(c.chat(msg("big answer")), (e) => e instanceof ProtocolError && e.code === "frame_too_large");
    await c.close();
    await small.close();
  });

  test("ERROR id 0 fails the calls in flight with ProtocolError; the next call reconnects", async () => {
    d.setHandler((req, reply, info) => {
      if (lastUser(req) === "boom") {
        info.conn.send(Kind.ERROR, 0n, JSON.stringify({ status: 400, error: { message: "bad frame", type: "invalid_request_error", code: "unexpected_frame", param: null } }));
        info.conn.sock.end();
      }
    });
    const c = new Client({ socketPath: d.socketPath });
    const outcome = (p) => p.then((v) => ({ v }), (e) => e);
    const waiting = outcome(c.chat(msg("waiting")));
    await waitFor(() => d.requests.some((r) => r.req.body?.messages?.[0].content === "waiting"), { what: "first request" });
    const boom = outcome(c.chat(msg("boom")));
    for (const e of await Promise.all([waiting, boom])) {
      assert.ok(e instanceof ProtocolError, String(e));
      assert.equal(e.code, "unexpected_frame");
      assert.equal(e.message, "bad frame");
    }
    d.setHandler(echo);
    assert.equal((await c.chat(msg("again"))).choices[0].message.content, "again");
    assert.equal(c._connects, 2);
    await c.close();
  });

  test("a dropped connection fails calls in flight (not resent); the next call reconnects", async () => {
    d.setHandler(() => {});
    const c = new Client({ socketPath: d.socketPath });
    const names = ["drop-a", "drop-b", "drop-c"];
    // observe every rejection from the start: they all happen in one tick
    const outcome = (p) => p.then((v) => ({ v }), (e) => e);
    const inflight = [outcome(c.chat(msg(names[0]))), outcome(c.chat(msg(names[1])))];
    const s = c.stream(msg(names[2]));
    const sNext = outcome(s.next());
    await waitFor(() => d.requests.filter((r) => names.includes(r.req.body?.messages?.[0].content)).length === 3, {
      what: "3 requests",
    });
    const before = d.requests.length;
    d.dropConnections();
    for (const e of await Promise.all([...inflight, sNext])) {
      assert.ok(e instanceof ConnectionError, String(e));
      assert.equal(e.code, "connection_lost");
      assert.ok(e.message.includes(d.socketPath));
    }
    d.setHandler(echo);
    const r = await c.chat(msg("after"));
    assert.equal(r.choices[0].message.content, "after");
    assert.equal(d.requests.length, before + 1, "nothing was resent");
    assert.equal(c._connects, 2);
    await c.close();
  });

  test("close(): calls in flight fail, later calls reject", async () => {
    d.setHandler(() => {});
    const c = new Client({ socketPath: d.socketPath });
    const p = c.chat(msg("x"));
    await waitFor(() => c._conn && c._conn.calls.size === 1, { what: "in flight" });
    await c.close();
    await assert.rejects(p, (e) => e instanceof ConnectionError && e.code === "client_closed");
    await assert.rejects(c.chat(msg("y")), (e) => e instanceof SidegateError && e.code === "client_closed");
  });
});

test("daemon restart: the next call waits for the new socket and succeeds", async () => {
  const tmp = tempSocketPath();
  const first = await startFakeDaemon({ onRequest: echo, socketPath: tmp.socketPath });
  const c = new Client({ socketPath: tmp.socketPath, connectTimeoutMs: 20000 });
  assert.equal((await c.chat(msg("before"))).choices[0].message.content, "before");
  await first.stopListening(); // socket file gone: ENOENT, as while the daemon restarts
  await waitFor(() => !c._conn.alive, { what: "client saw the close" });
  const call = c.chat(msg("after"));
  await new Promise((r) => setTimeout(r, 100)); // the call is now retrying its connect
  const second = await startFakeDaemon({ onRequest: echo, socketPath: tmp.socketPath });
  assert.equal((await call).choices[0].message.content, "after");
  assert.equal(c._connects, 2);
  await c.close();
  await second.close();
  tmp.cleanup();
});

test("daemon not running: DaemonNotRunningError names the path", async () => {
  const tmp = tempSocketPath();
  try {
    const missing = new Client({ socketPath: tmp.socketPath, connectTimeoutMs: 200 });
    await assert.rejects(missing.chat(msg("x")), (e) => {
      assert.ok(e instanceof DaemonNotRunningError, String(e));
      assert.ok(e instanceof ConnectionError);
      assert.ok(e.message.includes(tmp.socketPath));
      assert.match(e.message, /sidegate serve/);
      assert.match(e.message, /ENOENT/);
      return true;
    });
    // a file that nobody listens on: ECONNREFUSED
    writeFileSync(tmp.socketPath, "");
    const refused = new Client({ socketPath: tmp.socketPath, connectTimeoutMs: 200 });
    await assert.rejects(
      (async () => {
        for await (const _ of refused.stream(msg("x")));
      })(),
      (e) => e instanceof DaemonNotRunningError && /ECONNREFUSED/.test(e.message),
    );
  } finally {
    tmp.cleanup();
  }
});

test("an idle client does not keep the process alive", async () => {
  const d = await startFakeDaemon({ onRequest: echo });
  const script = `
    import { Client } from ${JSON.stringify(path.join(HERE, "../src/index.js"))};
    const c = new Client({ socketPath: ${JSON.stringify(d.socketPath)} });
    const r = await c.chat({ model: "m", messages: [{ role: "user", content: "bye" }] });
    console.log(r.choices[0].message.content);
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (b) => (out += b));
  const killer = setTimeout(() => child.kill("SIGKILL"), 20000);
  const code = await new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal)));
  clearTimeout(killer);
  assert.equal(code, 0, "the child exited by itself");
  assert.equal(out.trim(), "bye");
  await d.close();
});
