// Start the real daemon and the fake OpenAI vendor for integration tests, and stop them.
//
// Binaries: $SIDEGATE_BIN (default <repo>/target/debug/sidegate) and $FAKE_VENDOR_BIN
// (default <repo>/target/debug/fake-vendor). Tests that need a missing binary are skipped,
// unless SIDEGATE_REQUIRE_DAEMON=1 (CI), where they run and fail.

import { spawn } from "node:child_process";
import { before, test } from "node:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, "../../../..");
export const SIDEGATE_BIN = process.env.SIDEGATE_BIN || path.join(REPO, "target/debug/sidegate");
export const FAKE_VENDOR_BIN = process.env.FAKE_VENDOR_BIN || path.join(REPO, "target/debug/fake-vendor");
/** How long a process may take to become ready (the machine is slow). */
const START_TIMEOUT_MS = Number(process.env.SIDEGATE_START_TIMEOUT_MS || 20000);

const children = new Set();
// Never leave a daemon behind, even when the test process is interrupted.
const killAll = () => {
  for (const child of children) child.kill("SIGKILL");
};
process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    killAll();
    process.kill(process.pid, signal);
  });
}

/** A `skip` reason when a binary is missing (or false, to run the tests). */
export function skipUnless(...bins) {
  if (process.env.SIDEGATE_REQUIRE_DAEMON === "1") return false;
  const missing = bins.filter((b) => !existsSync(b));
  return missing.length ? `missing ${missing.join(", ")} (cargo build --bin sidegate --bin fake-vendor)` : false;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function track(child, name) {
  children.add(child);
  const out = { text: "" };
  const keep = (b) => {
    out.text += b.toString();
    if (out.text.length > 200000) out.text = out.text.slice(-100000);
  };
  child.stdout?.on("data", keep);
  child.stderr.on("data", keep);
  child.exited = new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  child.name = name;
  child.log = () => out.text;
  return child;
}

async function stopChild(child, signal = "SIGTERM") {
  if (child.exitCode !== null || child.signalCode !== null) return child.exited;
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
  const result = await child.exited;
  clearTimeout(timer);
  return result;
}

function canConnect(socketPath) {
  return new Promise((resolve) => {
    const s = net.createConnection({ path: socketPath });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Start `fake-vendor --port 0`; resolves once it printed `LISTENING 127.0.0.1:PORT`. */
export async function startFakeVendor() {
  const child = track(spawn(FAKE_VENDOR_BIN, ["--port", "0"], { stdio: ["ignore", "pipe", "pipe"] }), "fake-vendor");
  const addr = await new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`fake-vendor printed no LISTENING line:\n${child.log()}`)), START_TIMEOUT_MS);
    child.stdout.on("data", (b) => {
      buf += b.toString();
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(timer);
      const m = /^LISTENING (\S+:\d+)\s*$/.exec(buf.slice(0, nl));
      if (m) resolve(m[1]);
      else reject(new Error(`fake-vendor's first line is not "LISTENING host:port": ${JSON.stringify(buf.slice(0, nl))}`));
    });
    child.exited.then(({ code, signal }) => reject(new Error(`fake-vendor exited (${code ?? signal}):\n${child.log()}`)));
  });
  return {
    addr,
    baseUrl: `http://${addr}/v1`,
    child,
    /** GET /_fake/stats -> {calls, completed, aborted} */
    stats() {
      return new Promise((resolve, reject) => {
        http
          .get(`http://${addr}/_fake/stats`, (res) => {
            let text = "";
            res.on("data", (b) => (text += b));
            res.on("end", () => {
              try {
                resolve(JSON.parse(text));
              } catch (err) {
                reject(new Error(`/_fake/stats answered ${res.statusCode} ${JSON.stringify(text)}`));
              }
            });
          })
          .on("error", reject);
      });
    },
    stop: () => stopChild(child),
  };
}

/**
 * A daemon with its own temp dir, socket and state directory. `config(socketPath)` returns
 * the TOML text. `start()` may be called again after `stop()`/`kill()` (a restart).
 */
export function makeDaemon(config) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "sidegate-node-it-"));
  const socketPath = path.join(dir, "sidegate.sock");
  const configPath = path.join(dir, "sidegate.toml");
  const stateDir = path.join(dir, "state");
  mkdirSync(stateDir);
  writeFileSync(configPath, config(socketPath));
  let child = null;
  const logs = [];

  const daemon = {
    dir,
    socketPath,
    configPath,
    get child() {
      return child;
    },
    log: () => logs.map((f) => f()).join("\n--- restart ---\n"),
    async start() {
      child = track(
        spawn(SIDEGATE_BIN, ["serve", "--config", configPath], {
          stdio: ["ignore", "pipe", "pipe"],
          env: {
            ...process.env,
            STATE_DIRECTORY: stateDir,
            XDG_STATE_HOME: stateDir,
            RUST_LOG: process.env.RUST_LOG || "info",
          },
        }),
        "sidegate",
      );
      logs.push(child.log);
      const until = Date.now() + START_TIMEOUT_MS;
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`sidegate serve exited (${child.exitCode ?? child.signalCode}) before its socket was ready:\n${child.log()}`);
        }
        if (await canConnect(socketPath)) return daemon;
        if (Date.now() > until) {
          throw new Error(`sidegate's socket ${socketPath} was not ready after ${START_TIMEOUT_MS} ms:\n${child.log()}`);
        }
        await sleep(50);
      }
    },
    /** SIGTERM (graceful drain), wait for the exit. */
    stop: () => (child ? stopChild(child, "SIGTERM") : undefined),
    /** SIGKILL: a crash; the socket file stays behind. */
    kill: () => (child ? stopChild(child, "SIGKILL") : undefined),
    async cleanup() {
      if (child) await stopChild(child, "SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return daemon;
}

/** Poll `fn` until it returns a truthy value (no timed assertions: generous limit). */
export async function pollUntil(fn, { timeoutMs = 20000, intervalMs = 50, what = "condition" } = {}) {
  const until = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/**
 * Run `setup` once before a suite's tests, and return a `test` whose tests first wait for it.
 * A setup that fails (a daemon that does not start) then fails every test with its error,
 * instead of cancelling them (which node --test does not count as failures).
 */
export function withSetup(setup) {
  let ready;
  before(() => {
    ready = Promise.resolve().then(setup);
    ready.catch(() => {});
  });
  return (name, fn) =>
    test(name, async (t) => {
      await ready;
      return fn(t);
    });
}
