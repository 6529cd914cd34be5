// Integration: the client against the real daemon (`sidegate serve`) with built-in `mock`
// providers only. Skipped when the binary is missing, unless SIDEGATE_REQUIRE_DAEMON=1.

import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import {
  AbortError,
  Client,
  ConnectionError,
  DaemonNotRunningError,
  InvalidRequestError,
  ProtocolError,
  SidegateTimeoutError,
} from "../src/index.js";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Kind } from "../src/frame.js";
import { SIDEGATE_BIN, makeDaemon, pollUntil, skipUnless, withSetup } from "./helpers/processes.js";

const skip = skipUnless(SIDEGATE_BIN);
const TIMEOUT = { timeout: 120000 };

/** The prompt file the daemons serve: the mock echoes its rendered user turn. */
const GREET_PROMPT = `name = "greet"
version = "2"
model = "echo"
[variables.who]
type = "string"
[[messages]]
role = "system"
content = "You greet people tersely."
[[messages]]
role = "user"
content = "Greet {{ who }}."
`;

function mockConfig(socketPath) {
  const prompts = path.join(path.dirname(socketPath), "prompts");
  mkdirSync(prompts, { recursive: true });
  writeFileSync(path.join(prompts, "greet.toml"), GREET_PROMPT);
  return `
[server]
socket = "${socketPath}"
state_dir = "${socketPath}.state"

[prompts]
dir = "prompts"

[providers.mock]
kind = "mock"

[providers.slow]
kind = "mock"
latency = "30s"

[providers.drip]
kind = "mock"
token_interval = "50ms"
tokens = 400

[models.echo]
provider = "mock"
model = "echo"

[routes.fast]
targets = ["echo"]
`;
}

/** Route-level cache (DESIGN §3 `cache = { ttl }`) in its own daemon, so the rest runs without it. */
function cacheConfig(socketPath) {
  return `${mockConfig(socketPath)}
[routes.cached]
targets = ["echo"]
cache = { ttl = "10m" }
`;
}

const user = (model, content) => ({ model, messages: [{ role: "user", content }] });
const text = (r) => r.choices[0].message.content;
const unique = (s) => `${s} ${process.pid}-${Date.now()}-${Math.random()}`;

async function collect(stream) {
  let out = "";
  let n = 0;
  for await (const chunk of stream) {
    assert.equal(chunk.object, "chat.completion.chunk");
    out += chunk.choices[0]?.delta?.content ?? "";
    n += 1;
  }
  return { out, n };
}

describe("real daemon, mock providers", { skip, ...TIMEOUT }, () => {
  let daemon;
  let c;
  const test = withSetup(async () => {
    daemon = makeDaemon(mockConfig);
    await daemon.start();
    c = new Client({ socketPath: daemon.socketPath });
  });
  after(async () => {
    await c?.close();
    await daemon?.cleanup();
  });

  test("chat through a route: OpenAI shape and meta", async () => {
    const r = await c.chat(user("fast", "hello sidegate"));
    assert.equal(r.object, "chat.completion");
    assert.equal(r.choices[0].message.role, "assistant");
    assert.equal(text(r), "hello sidegate");
    assert.equal(r.meta.provider, "mock");
    assert.equal(r.meta.model, "echo");
    assert.equal(r.meta.attempts, 1);
    assert.ok(["hit", "miss", "bypass"].includes(r.meta.cache), `meta.cache = ${r.meta.cache}`);
    assert.ok(!Object.keys(r).includes("meta"));
  });

  test("prompt(): rendered by the daemon, whole and streamed; a bad one names the prompt", async () => {
    assert.equal(text(await c.prompt("greet", { who: "Ada" })), "Greet Ada.");
    const appended = { body: { messages: [{ role: "user", content: "and then?" }] } };
    assert.equal(text(await c.prompt("greet@2", { who: "Ada" }, appended)), "and then?");
    const { out } = await collect(c.prompt("greet", { who: "Bo" }, { stream: true }));
    assert.equal(out, "Greet Bo.");
    for (const [id, vars, says] of [
      ["nosuch", {}, "nosuch"],
      ["greet@9", { who: "A" }, "greet@9"],
      ["greet", {}, "who"],
      ["greet", { who: 5 }, "who"],
    ]) {
      await assert.rejects(c.prompt(id, vars), (e) => {
        assert.ok(e instanceof InvalidRequestError, `${e}`);
        assert.equal(e.status, 400);
        assert.equal(e.param, "prompt");
        assert.ok(e.message.includes(says), e.message);
        return true;
      });
    }
  });

  test("chat by model name and by provider/vendor-model", async () => {
    assert.equal(text(await c.chat(user("echo", "by model"))), "by model");
    const r = await c.chat(user("mock/anything", "by provider"));
    assert.equal(text(r), "by provider");
    assert.equal(r.meta.provider, "mock");
  });

  test("stream: chunks add up to the answer, meta after END", async () => {
    const s = c.stream(user("fast", "the quick brown fox jumps"));
    const { out, n } = await collect(s);
    assert.equal(out, "the quick brown fox jumps");
    assert.ok(n >= 1);
    assert.equal(s.meta.provider, "mock");
    assert.equal(s.meta.model, "echo");
  });

  test("50 concurrent calls on one Client get their own answers", async () => {
    const before = c._connects;
    const calls = Array.from({ length: 50 }, (_, i) =>
      i % 5 === 0
        ? collect(c.stream(user("fast", `streamer ${i} says hi`))).then((x) => x.out)
        : c.chat(user("fast", `caller ${i} says hi`)).then(text),
    );
    const answers = await Promise.all(calls);
    answers.forEach((a, i) => assert.equal(a, `${i % 5 === 0 ? "streamer" : "caller"} ${i} says hi`));
    assert.equal(c._connects, before, "no new connection");
  });

  test("unicode round trip: emoji, CJK, combining marks", async () => {
    const samples = [
      "🚀 emoji 👩‍👩‍👧‍👦 family 🇫🇷 flag",
      "中文字符 日本語のテキスト 한국어",
      "combining: e\u0301 a\u0308 n\u0303 \u0915\u094d\u0937",
      "mixed ☃ snow é 𝄞 clef \u200d zwj",
    ];
    for (const s of samples) {
      assert.equal(text(await c.chat(user("fast", s), { cache: "no-store" })), s);
      assert.equal((await collect(c.stream(user("fast", s), { cache: "no-store" }))).out, s);
    }
  });

  test("1 MB message round trip through mock echo", async () => {
    const unit = "sidegate 1MB ☃ 🚀 中文 e\u0301 ";
    const big = unit.repeat(Math.ceil((1024 * 1024) / Buffer.byteLength(unit)));
    assert.ok(Buffer.byteLength(big) >= 1024 * 1024);
    const r = await c.chat(user("fast", big), { cache: "no-store" });
    assert.equal(text(r).length, big.length);
    assert.equal(text(r), big);
  });

  test("options: route overrides the model; label is accepted", async () => {
    const r = await c.chat(user("no-such-model", "routed"), { route: "fast", label: "node-tests" });
    assert.equal(text(r), "routed");
    assert.equal(r.meta.route, "fast");
    const s = c.stream(user("no-such-model", "routed stream"), { route: "fast", label: "node-tests", cache: "no-store" });
    assert.equal((await collect(s)).out, "routed stream");
    assert.equal(s.meta.route, "fast");
  });

  test("embeddings through the mock provider", async () => {
    const e = await c.embeddings({ model: "mock/embed", input: ["a", "b"] });
    assert.equal(e.object, "list");
    assert.equal(e.data.length, 2);
    assert.ok(Array.isArray(e.data[0].embedding));
    assert.equal(e.meta.provider, "mock");
  });

  test("models() and status()", async () => {
    const m = await c.models();
    assert.equal(m.object, "list");
    assert.ok(Array.isArray(m.data) && m.data.length > 0);
    const ids = m.data.map((x) => x.id);
    assert.ok(ids.includes("fast") || ids.includes("echo"), `model ids: ${ids}`);
    const s = await c.status();
    assert.equal(typeof s, "object");
    assert.ok(s !== null);
  });

  test("feedback() for an answer is recorded; a second one replaces it; a bad one is a 400", async () => {
    const r = await c.chat(user("fast", unique("rate me")));
    const id = r.meta.request_id;
    const stored = await c.feedback(id, { score: 0.9, label: "good" });
    assert.deepEqual([stored.recorded, stored.request_id, stored.replaced], [true, id, false]);
    assert.equal((await c.feedback(id, { label: "bad", comment: "changed my mind" })).replaced, true);
    await assert.rejects(c.feedback("not a request id", { score: 1 }), (e) => e instanceof InvalidRequestError && e.status === 400);
  });

  test("unknown model: InvalidRequestError 404 model_not_found", async () => {
    await assert.rejects(c.chat(user("nope-not-configured", "x")), (e) => {
      assert.ok(e instanceof InvalidRequestError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, 404);
      assert.equal(e.code, "model_not_found");
      return true;
    });
  });

  test("invalid body: InvalidRequestError 400", async () => {
    await assert.rejects(c.chat({ model: "fast", messages: "not a list" }), (e) => {
      assert.ok(e instanceof InvalidRequestError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, 400);
      return true;
    });
    // the connection survives request-level errors
    assert.equal(text(await c.chat(user("fast", "still here"))), "still here");
  });

  test("timeoutMs: SidegateTimeoutError on a slow provider", async () => {
    await assert.rejects(c.chat(user("slow/x", "late"), { timeoutMs: 500 }), (e) => {
      assert.ok(e instanceof SidegateTimeoutError, `${e.constructor.name} ${e.status} ${e.code}: ${e.message}`);
      return true;
    });
    assert.equal(text(await c.chat(user("fast", "after timeout"))), "after timeout");
  });

  test("AbortSignal: unary and mid-stream", async () => {
    const ac = new AbortController();
    const p = c.chat(user("slow/x", "abort me"), { signal: ac.signal });
    setTimeout(() => ac.abort(), 200);
    await assert.rejects(p, AbortError);

    const ac2 = new AbortController();
    let got = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of c.stream(user("drip/x", "drip"), { signal: ac2.signal })) {
          if (++got === 3) ac2.abort();
        }
      })(),
      AbortError,
    );
    assert.equal(got, 3);
    // breaking out cancels as well, and the connection goes on
    for await (const _ of c.stream(user("drip/x", "drip"))) break;
    assert.equal(text(await c.chat(user("fast", "after abort"))), "after abort");
  });

  test("a connection-level ERROR (id 0) is a ProtocolError; the next call reconnects", async () => {
    await c.chat(user("fast", "warm"));
    const connects = c._connects;
    const pending = c.chat(user("slow/x", "in flight"));
    await pollUntil(() => c._conn && c._conn.calls.size > 0, { what: "call in flight" });
    // a second HELLO is `unexpected_frame` (protocol §7)
    c._conn.send(Kind.HELLO, 0n, Buffer.from('{"protocol":1,"client":"node-test"}'));
    await assert.rejects(pending, (e) => {
      assert.ok(e instanceof ProtocolError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.code, "unexpected_frame");
      return true;
    });
    assert.equal(text(await c.chat(user("fast", "reconnected"))), "reconnected");
    assert.equal(c._connects, connects + 1);
  });
});

describe("real daemon restarts", { skip, ...TIMEOUT }, () => {
  let daemon;
  const test = withSetup(async () => {
    daemon = makeDaemon(mockConfig);
    await daemon.start();
  });
  after(async () => {
    await daemon?.cleanup();
  });

  test("restart (SIGTERM) between calls: the next call reconnects by itself", async () => {
    const c = new Client({ socketPath: daemon.socketPath });
    assert.equal(text(await c.chat(user("fast", "before restart"))), "before restart");
    await daemon.stop();
    await daemon.start();
    assert.equal(text(await c.chat(user("fast", "after restart"))), "after restart");
    assert.equal((await collect(c.stream(user("fast", "stream after restart")))).out, "stream after restart");
    assert.equal(c._connects, 2);
    await c.close();
  });

  test("crash (SIGKILL) mid-call: the call fails with ConnectionError; after restart, calls work", async () => {
    const c = new Client({ socketPath: daemon.socketPath, connectTimeoutMs: 60000 });
    await c.chat(user("fast", "warm"));
    // the rejection is observed right away: it happens while the test awaits the kill
    const pending = assert.rejects(c.chat(user("slow/x", "in flight while crashing")), (e) => {
      assert.ok(e instanceof ConnectionError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.code, "connection_lost");
      return true;
    });
    await pollUntil(() => c._conn && c._conn.calls.size > 0, { what: "call in flight" });
    await daemon.kill();
    await pending;
    // a call made while the daemon is down waits (connect retries) until it is back
    const waiting = c.chat(user("fast", "made while down")).then(text, (e) => e);
    await daemon.start();
    assert.equal(await waiting, "made while down");
    await c.close();
  });

  test("daemon not running: DaemonNotRunningError names the socket", async () => {
    await daemon.stop();
    const c = new Client({ socketPath: daemon.socketPath, connectTimeoutMs: 300 });
    await assert.rejects(c.chat(user("fast", "anyone?")), (e) => {
      assert.ok(e instanceof DaemonNotRunningError, `${e.constructor.name}: ${e.message}`);
      assert.ok(e.message.includes(daemon.socketPath));
      assert.match(e.message, /sidegate serve/);
      return true;
    });
    await daemon.start();
    assert.equal(text(await c.chat(user("fast", "back"))), "back");
    await c.close();
  });
});

describe("real daemon, route cache", { skip, ...TIMEOUT }, () => {
  let daemon;
  let c;
  const test = withSetup(async () => {
    daemon = makeDaemon(cacheConfig);
    await daemon.start();
    c = new Client({ socketPath: daemon.socketPath });
  });
  after(async () => {
    await c?.close();
    await daemon?.cleanup();
  });

  test("cache: miss, then hit; no-cache and no-store skip the lookup", async () => {
    const prompt = unique("cache me");
    const first = await c.chat(user("no-such-model", prompt), { route: "cached" });
    assert.equal(text(first), prompt);
    assert.equal(first.meta.route, "cached");
    assert.equal(first.meta.cache, "miss");
    const second = await c.chat(user("no-such-model", prompt), { route: "cached" });
    assert.equal(second.meta.cache, "hit");
    assert.equal(text(second), prompt);
    const noCache = await c.chat(user("cached", prompt), { cache: "no-cache" });
    assert.notEqual(noCache.meta.cache, "hit", "no-cache skips the lookup");
    const noStore = await c.chat(user("cached", unique("never stored")), { cache: "no-store" });
    assert.notEqual(noStore.meta.cache, "hit");
  });
});
