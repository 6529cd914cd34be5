// Error mapping, socket discovery and package facts: no sockets involved.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as sidegate from "../src/index.js";
import {
  AbortError,
  AllVendorsFailedError,
  AuthenticationError,
  ConnectionError,
  DaemonNotRunningError,
  InvalidRequestError,
  ProtocolError,
  RateLimitError,
  STATUS_CLASSES,
  SidegateError,
  SidegateTimeoutError,
  VERSION,
  errorFromFrame,
  resolveSocketPath,
} from "../src/index.js";

const err = (status, error = {}, extra = {}) => errorFromFrame({ status, error, ...extra });

// The shim's table before it was shared with Python (tests/vectors/errors.json): every class
// it gave still matches with instanceof. The exact classes, row by row, are in errors.test.js.
test("status -> class table (the older classes still match)", () => {
  const expected = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: InvalidRequestError,
    408: SidegateTimeoutError,
    413: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
    502: AllVendorsFailedError,
    503: AllVendorsFailedError,
    504: AllVendorsFailedError,
  };
  for (const [status, Class] of Object.entries(expected)) {
    const e = err(Number(status), { message: "m", type: "t", code: "c" });
    assert.ok(e instanceof Class, `${status} -> ${Class.name}, got ${e.constructor.name}`);
    assert.ok(e instanceof SidegateError);
    assert.ok(e instanceof Error);
    assert.equal(e.status, Number(status));
    assert.ok(STATUS_CLASSES[status] === Class || STATUS_CLASSES[status].prototype instanceof Class, String(status));
  }
  for (const status of [409, 500, 418, 599]) {
    const e = err(status, { message: "x" });
    assert.ok(e instanceof SidegateError, String(status));
    assert.equal(e.status, status);
  }
});

test("fields of an ERROR body (the error_request vector)", () => {
  const e = errorFromFrame({
    status: 404,
    error: { message: "unknown model `nope`", type: "invalid_request_error", code: "model_not_found", param: "model" },
  });
  assert.ok(e instanceof InvalidRequestError);
  assert.equal(e.name, "NotFoundError"); // the shared table's class for 404 (an InvalidRequestError)
  assert.equal(e.message, "unknown model `nope`");
  assert.equal(e.code, "model_not_found");
  assert.equal(e.type, "invalid_request_error");
  assert.equal(e.param, "model");
  assert.equal(e.retryAfter, undefined);
  assert.equal(e.meta, undefined);
});

test("retry_after and meta", () => {
  const meta = { provider: "p", model: "m", attempts: 2 };
  const e = err(429, { message: "slow down", type: "rate_limit_error", code: "rate_limited" }, { retry_after: 1.5, meta });
  assert.ok(e instanceof RateLimitError);
  assert.equal(e.retryAfter, 1.5);
  assert.deepEqual(e.meta, meta);
  const budget = err(429, { message: "over budget", code: "budget_exceeded" });
  assert.ok(budget instanceof RateLimitError);
  assert.equal(budget.code, "budget_exceeded");
});

test("AllVendorsFailedError carries attempts", () => {
  const attempts = [
    { deployment: "a", provider: "fake", outcome: "server_error", status: 500, message: "boom", latency_ms: 3.5 },
    { deployment: "b", provider: "fake", outcome: "timeout", status: null, message: "t", latency_ms: 10 },
  ];
  const e = err(502, { message: "all failed", code: "all_vendors_failed", attempts });
  assert.ok(e instanceof AllVendorsFailedError);
  assert.deepEqual(e.attempts, attempts);
  assert.deepEqual(err(503, { message: "x" }).attempts, []);
  // also accepted next to `error`, in case the daemon puts it there
  assert.deepEqual(err(504, { message: "x" }, { attempts }).attempts, attempts);
});

test("timeout codes map to SidegateTimeoutError whatever the status", () => {
  for (const code of ["timeout", "deadline_exceeded"]) {
    const e = err(504, { message: "deadline", code });
    assert.ok(e instanceof SidegateTimeoutError, code);
    assert.equal(e.code, code);
    assert.equal(e.name, "TimeoutError");
  }
  assert.equal(new SidegateTimeoutError("x").code, "timeout");
});

test("connection-level errors are ProtocolErrors", () => {
  const e = errorFromFrame(
    { status: 400, error: { message: "too big", type: "invalid_request_error", code: "frame_too_large", param: null } },
    { connectionLevel: true },
  );
  assert.ok(e instanceof ProtocolError);
  assert.equal(e.code, "frame_too_large");
  assert.equal(e.param, null);
});

test("garbage ERROR bodies still give an error", () => {
  for (const body of [null, {}, { status: "x" }, { error: "nope" }, []]) {
    const e = errorFromFrame(body);
    assert.ok(e instanceof SidegateError);
    assert.ok(e.message.length > 0);
  }
});

test("local error classes", () => {
  const d = new DaemonNotRunningError("/tmp/x.sock", Object.assign(new Error("x"), { code: "ENOENT" }));
  assert.ok(d instanceof ConnectionError);
  assert.ok(d instanceof SidegateError);
  assert.match(d.message, /\/tmp\/x\.sock/);
  assert.match(d.message, /sidegate serve/);
  assert.match(d.message, /ENOENT/);
  assert.equal(d.socketPath, "/tmp/x.sock");
  assert.equal(d.code, "daemon_not_running");
  const a = new AbortError(undefined, { cause: "why" });
  assert.equal(a.name, "AbortError");
  assert.equal(a.code, "aborted");
  assert.equal(a.cause, "why");
});

test("socket discovery follows DESIGN §2", () => {
  const env = { SIDEGATE_SOCKET: "/env/s.sock", XDG_RUNTIME_DIR: "/run/user/1000" };
  assert.equal(resolveSocketPath({ socketPath: "/opt/s.sock", env, uid: 1000 }), "/opt/s.sock");
  assert.equal(resolveSocketPath({ env, uid: 1000 }), "/env/s.sock");
  assert.equal(resolveSocketPath({ env, uid: 0 }), "/env/s.sock");
  assert.equal(
    resolveSocketPath({ env: { XDG_RUNTIME_DIR: "/run/user/1000" }, uid: 1000 }),
    "/run/user/1000/sidegate/sidegate.sock",
  );
  assert.equal(resolveSocketPath({ env: { XDG_RUNTIME_DIR: "/run/user/0" }, uid: 0 }), "/run/sidegate/sidegate.sock");
  assert.equal(resolveSocketPath({ env: {}, uid: 0 }), "/run/sidegate/sidegate.sock");
  // no XDG_RUNTIME_DIR (sudo, cron): systemd's per-user runtime directory
  assert.equal(resolveSocketPath({ env: {}, uid: 1234 }), "/run/user/1234/sidegate/sidegate.sock");
  assert.equal(resolveSocketPath({ env: { SIDEGATE_SOCKET: "" }, uid: 0 }), "/run/sidegate/sidegate.sock");
});

test("Client picks the socket the same way", () => {
  const saved = process.env.SIDEGATE_SOCKET;
  try {
    process.env.SIDEGATE_SOCKET = "/tmp/from-env.sock";
    assert.equal(new sidegate.Client().socketPath, "/tmp/from-env.sock");
    assert.equal(new sidegate.Client({ socketPath: "/tmp/opt.sock" }).socketPath, "/tmp/opt.sock");
  } finally {
    if (saved === undefined) delete process.env.SIDEGATE_SOCKET;
    else process.env.SIDEGATE_SOCKET = saved;
  }
});

test("bad options are TypeErrors", async () => {
  assert.throws(() => new sidegate.Client({ timeoutMs: -1 }), TypeError);
  assert.throws(() => new sidegate.Client({ timeoutMs: "5" }), TypeError);
  const c = new sidegate.Client({ socketPath: "/nonexistent/x.sock" });
  await assert.rejects(c.chat({ model: "m", messages: [] }, { cache: "yes" }), TypeError);
  await assert.rejects(c.chat({ model: "m", messages: [] }, { route: 5 }), TypeError);
  await assert.rejects(c.chat({ model: "m", messages: [], stream: true }), TypeError);
  assert.throws(() => c.stream({ model: "m", messages: [] }, { timeoutMs: 0 }), TypeError);
});

test("VERSION matches package.json", () => {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  assert.equal(VERSION, pkg.version);
  assert.equal(pkg.name, "sidegate");
  assert.equal(pkg.type, "module");
  assert.deepEqual(pkg.dependencies ?? {}, {});
});
