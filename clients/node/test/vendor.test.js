// Integration: the client against the real daemon in front of the fake OpenAI vendor
// (`fake-vendor --port 0`), for vendor failures, cancel reaching the vendor, and the
// callers policy (403 / 429). Skipped when a binary is missing, unless SIDEGATE_REQUIRE_DAEMON=1.

import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import {
  AbortError,
  AllVendorsFailedError,
  AuthenticationError,
  Client,
  InvalidRequestError,
  RateLimitError,
  STATUS_CLASSES,
  SidegateError,
  SidegateTimeoutError,
} from "../src/index.js";
import { FAKE_VENDOR_BIN, SIDEGATE_BIN, makeDaemon, pollUntil, skipUnless, startFakeVendor, withSetup } from "./helpers/processes.js";

const TIMEOUT = { timeout: 180000 };
const user = (model, content) => ({ model, messages: [{ role: "user", content }] });
const text = (r) => r.choices[0].message.content;

/** The error a call rejects with (fails the test if it resolves). */
async function failure(promise) {
  try {
    const value = await promise;
    assert.fail(`expected an error, got ${JSON.stringify(value)?.slice(0, 300)}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    return err;
  }
}

const describeErr = (e) => `${e.constructor.name} status=${e.status} code=${e.code} type=${e.type}: ${e.message}`;

/** The class the shim's table gives for `e.status`, or the base class. */
function assertTableClass(e) {
  const Class = STATUS_CLASSES[e.status] ?? SidegateError;
  assert.ok(e instanceof Class, `status ${e.status} must be a ${Class.name}: ${describeErr(e)}`);
}

describe("real daemon, fake OpenAI vendor", { skip: skipUnless(SIDEGATE_BIN, FAKE_VENDOR_BIN), ...TIMEOUT }, () => {
  let vendor;
  let daemon;
  let c;
  const test = withSetup(async () => {
    vendor = await startFakeVendor();
    daemon = makeDaemon(
      (socketPath) => `
[server]
socket = "${socketPath}"
state_dir = "${socketPath}.state"

[providers.fake]
kind = "openai-compatible"
base_url = "${vendor.baseUrl}"

[models.fake-echo]
provider = "fake"
model = "fake-echo"

[routes.vendor]
targets = ["fake-echo"]
`,
    );
    await daemon.start();
    c = new Client({ socketPath: daemon.socketPath });
  });
  after(async () => {
    await c?.close();
    await daemon?.cleanup();
    await vendor?.stop();
  });

  test("chat and stream through the vendor", async () => {
    const r = await c.chat(user("vendor", "hello vendor"));
    assert.equal(text(r), "hello vendor");
    assert.equal(r.meta.provider, "fake");
    assert.equal(r.meta.model, "fake-echo");
    const s = c.stream(user("fake/any-model", "one two three 🚀 中文"));
    let out = "";
    for await (const ch of s) out += ch.choices[0]?.delta?.content ?? "";
    assert.equal(out, "one two three 🚀 中文");
    assert.equal(s.meta.provider, "fake");
  });

  test("AbortSignal mid-stream on fake/slow-stream: the vendor sees the client go away", async () => {
    const before = (await vendor.stats()).aborted;
    const ac = new AbortController();
    let got = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of c.stream(user("fake/slow-stream", "slowly"), { signal: ac.signal })) {
          if (++got === 3) ac.abort();
        }
      })(),
      AbortError,
    );
    assert.equal(got, 3);
    await pollUntil(async () => (await vendor.stats()).aborted >= before + 1, { what: "/_fake/stats aborted to grow" });
  });

  test("break out of a stream: the vendor call is dropped too", async () => {
    const before = (await vendor.stats()).aborted;
    for await (const _ of c.stream(user("fake/slow-stream", "break me"))) break;
    await pollUntil(async () => (await vendor.stats()).aborted >= before + 1, { what: "/_fake/stats aborted to grow" });
  });

  test("timeoutMs on fake/hang: SidegateTimeoutError, and the vendor call is dropped", async () => {
    const before = (await vendor.stats()).aborted;
    const e = await failure(c.chat(user("fake/hang", "hello?"), { timeoutMs: 1000 }));
    assert.ok(e instanceof SidegateTimeoutError, describeErr(e));
    await pollUntil(async () => (await vendor.stats()).aborted >= before + 1, { what: "/_fake/stats aborted to grow" });
  });

  test("bad-400: InvalidRequestError 400, returned to the caller", async () => {
    const e = await failure(c.chat(user("fake/bad-400", "x")));
    assert.ok(e instanceof InvalidRequestError, describeErr(e));
    assert.equal(e.status, 400);
    assert.ok(e.message.length > 0);
  });

  test("fail-500: AllVendorsFailedError with attempts", async () => {
    const e = await failure(c.chat(user("fake/fail-500", "x")));
    assert.ok(e instanceof AllVendorsFailedError, describeErr(e));
    assert.ok([502, 503, 504].includes(e.status), describeErr(e));
    assert.ok(Array.isArray(e.attempts));
    for (const a of e.attempts) assert.equal(typeof a, "object");
  });

  test("fail-429 and fail-401 map through the status table", async () => {
    // one candidate that is rate limited: its 429 (and retry-after: 1) reaches the caller
    const e429 = await failure(c.chat(user("fake/fail-429", "x")));
    assertTableClass(e429);
    assert.ok(e429 instanceof RateLimitError, describeErr(e429));
    assert.equal(e429.status, 429);
    assert.ok(typeof e429.retryAfter === "number" && e429.retryAfter > 0, `retryAfter = ${e429.retryAfter}`);
    // a vendor 401 is an account problem: sidegate fails over (DESIGN §7), so with no other
    // candidate the caller sees the upstream failure, naming the 401 in `attempts`
    const e401 = await failure(c.chat(user("fake/fail-401", "x")));
    assertTableClass(e401);
    assert.ok(e401 instanceof AuthenticationError || e401 instanceof AllVendorsFailedError, describeErr(e401));
    if (e401 instanceof AllVendorsFailedError) assert.ok(e401.attempts.some((a) => a.status === 401), describeErr(e401));
  });

  test("malformed, reset, truncate: vendor failures surface as typed errors", async () => {
    for (const model of ["fake/malformed", "fake/reset"]) {
      const e = await failure(c.chat(user(model, "x")));
      assert.ok(e instanceof AllVendorsFailedError, `${model}: ${describeErr(e)}`);
    }
    // a stream cut after some chunks ends with an error, never silently
    const e = await failure(
      (async () => {
        for await (const _ of c.stream(user("fake/truncate", "x"))) {
          // chunks before the cut are fine
        }
      })(),
    );
    assertTableClass(e);
    assert.ok(e instanceof SidegateError, describeErr(e));
    // and the connection is still good
    assert.equal(text(await c.chat(user("vendor", "still fine"))), "still fine");
  });
});

describe("real daemon, callers policy", { skip: skipUnless(SIDEGATE_BIN), ...TIMEOUT }, () => {
  const uid = typeof process.getuid === "function" ? process.getuid() : 0;
  const daemons = [];
  after(async () => {
    for (const d of daemons) await d.cleanup();
  });

  test("unknown callers denied: AuthenticationError 403", async () => {
    const d = makeDaemon(
      (socketPath) => `
[server]
socket = "${socketPath}"
state_dir = "${socketPath}.state"
unknown_callers = "deny"

[providers.mock]
kind = "mock"
`,
    );
    daemons.push(d);
    await d.start();
    const c = new Client({ socketPath: d.socketPath });
    const e = await failure(c.chat(user("mock/x", "let me in")));
    assert.ok(e instanceof AuthenticationError, describeErr(e));
    assert.equal(e.status, 403);
    await c.close();
  });

  test("over the caller's rpm: RateLimitError 429 with retryAfter", async () => {
    const d = makeDaemon(
      (socketPath) => `
[server]
socket = "${socketPath}"
state_dir = "${socketPath}.state"

[providers.mock]
kind = "mock"

[callers.me]
uid = ${uid}
rpm = 1
`,
    );
    daemons.push(d);
    await d.start();
    const c = new Client({ socketPath: d.socketPath });
    assert.equal(text(await c.chat(user("mock/x", "first"))), "first");
    const e = await failure(c.chat(user("mock/x", "second")));
    assert.ok(e instanceof RateLimitError, describeErr(e));
    assert.equal(e.status, 429);
    assert.equal(typeof e.retryAfter, "number", "retry_after is sent with a 429");
    assert.ok(e.retryAfter > 0);
    await c.close();
  });
});
