// The /ui dashboard in a real browser: Debian's Chromium (/usr/bin/chromium, or
// $SIDEGATE_CHROMIUM) driven by playwright-core loads the page from a daemon serving
// fake-vendor traffic the test sends itself, and checks that the tables and charts show those
// numbers (requests per caller, route and model, cache hits, the failed reload's errors), that
// the page loads nothing from another origin, and saves a screenshot to
// target/browser/dashboard.png.
//
// Binaries: $SIDEGATE_BIN and $FAKE_VENDOR_BIN (default target/debug/...). Missing binaries or
// browser skip the test, unless SIDEGATE_REQUIRE_DAEMON=1 (CI), where it fails.

import { spawn } from "node:child_process";
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { FAKE_VENDOR_BIN, REPO, SIDEGATE_BIN, WAIT_MS, launchChromium, skipReason, until } from "./support.js";

const SHOT = path.join(REPO, "target/browser/dashboard.png");
const ALICE = "sk-alice-0123456789abcdef";
const BOB = "sk-bob-0123456789abcdef00";

const children = [];
process.on("exit", () => children.forEach((c) => c.kill("SIGKILL")));

function start(bin, args) {
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  child.output = "";
  child.stdout.on("data", (b) => (child.output += b));
  child.stderr.on("data", (b) => (child.output += b));
  children.push(child);
  return child;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

function config(dir, port, vendor, extra = "") {
  return `
[server]
socket = "${dir}/sg.sock"
state_dir = "${dir}/state"
http = "127.0.0.1:${port}"
unknown_callers = "deny"
${extra}
[providers.fake]
kind = "openai-compatible"
base_url = "http://${vendor}/v1"
api_key = "sk-fake-secret-key"

[models.fake-echo]
provider = "fake"
model = "echo-model"
price = { input = 1000.0, output = 2000.0 }

[models.fake-500]
provider = "fake"
model = "fail-500"

[routes.fast]
targets = ["fake-echo"]
cache = { ttl = "10m", tiers = ["memory"] }

[routes.failover]
targets = ["fake-500", "fake-echo"]

[callers.alice]
keys = ["${ALICE}"]

[callers.bob]
keys = ["${BOB}"]

# the test's own \`sidegate eval --in-process\` (a peer of this uid)
[callers.evaluator]
uid = ${process.getuid()}
`;
}

/** An eval of two variants over two items, one the fake vendor's echo passes and one it fails. */
function writeEval(dir) {
  writeFileSync(path.join(dir, "cases.jsonl"), [
    { messages: [{ role: "user", content: "hello there" }], expect: "hello" },
    { messages: [{ role: "user", content: "goodbye" }], expect: "<b>never</b>" },
  ].map((c) => JSON.stringify(c)).join("\n") + "\n");
  writeFileSync(path.join(dir, "eval.toml"), 'dataset = "cases.jsonl"\nvariants = ["fake-echo", "fast"]\n[[scorers]]\nkind = "contains"\n');
}

function runEval(dir) {
  const child = start(SIDEGATE_BIN, ["eval", "--in-process", "--config", path.join(dir, "sidegate.toml"), path.join(dir, "eval.toml")]);
  return new Promise((resolve, reject) => {
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`sidegate eval exited ${code}: ${child.output}`))));
  });
}

describe("the /ui dashboard in Chromium", { skip: skipReason(), timeout: 180000 }, () => {
  let dir, vendor, daemon, base, context;
  const chat = (key, model, stream = false) =>
    fetch(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model, stream, messages: [{ role: "user", content: "count me" }] }),
    }).then(async (r) => {
      await r.text();
      assert.equal(r.status, 200);
    });
  const data = () => fetch(`${base}/ui/data`, { headers: { authorization: `Bearer ${ALICE}` } }).then((r) => r.json());

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "sidegate-ui-"));
    vendor = start(FAKE_VENDOR_BIN, ["--port", "0"]);
    const addr = await until("the fake vendor", async () => /LISTENING (\S+)/.exec(vendor.output)?.[1]);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    writeFileSync(path.join(dir, "sidegate.toml"), config(dir, port, addr));
    daemon = start(SIDEGATE_BIN, ["serve", "--config", path.join(dir, "sidegate.toml")]);
    await until("the daemon's TCP listener", () => fetch(`${base}/healthz`).then((r) => r.ok));
    // the traffic the page must show: alice 4 x fast (1 miss, 3 cache hits), bob 2 x failover
    // (each a 500, then the fallback; one streamed)
    for (let i = 0; i < 4; i++) await chat(ALICE, "fast");
    await chat(BOB, "failover");
    await chat(BOB, "failover", true);
    // an eval run the page lists (in its own process: the daemon's counts above stay as sent)
    writeEval(dir);
    await runEval(dir);
    // a reload that fails: the page lists its errors
    writeFileSync(path.join(dir, "sidegate.toml"), config(dir, port, addr, "not_a_key = 1"));
    await until("the failed reload", async () => (await data()).status.config.last_reload?.result === "failed");
    context = await launchChromium({ width: 1280, height: 1800 });
  });

  after(async () => {
    await context?.close();
    for (const c of children) c.kill("SIGTERM");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("tables and charts show the requests the test sent", async () => {
    const page = await context.newPage();
    const foreign = [], errors = [];
    page.on("request", (r) => { if (!r.url().startsWith(base)) foreign.push(r.url()); });
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${base}/ui?key=${ALICE}`);
    await page.waitForSelector("body[data-rendered]", { timeout: WAIT_MS });

    const cell = (sel) => page.locator(sel).first().textContent();
    assert.equal(await cell('#callers tr[data-caller="alice"] td.requests'), "4");
    assert.equal(await cell('#callers tr[data-caller="bob"] td.requests'), "2");
    assert.equal(await cell('#callers tr[data-caller="bob"] td.errors'), "0");
    assert.notEqual(await cell('#callers tr[data-caller="alice"] td.cost'), "0", "the miss was priced");

    const total = (chart, series) => page.locator(`#${chart} li[data-series="${series}"]`).getAttribute("data-total");
    assert.equal(await total("chart-caller-requests", "alice"), "4");
    assert.equal(await total("chart-caller-requests", "bob"), "2");
    assert.equal(await total("chart-route-requests", "fast"), "4");
    assert.equal(await total("chart-route-requests", "failover"), "2");
    assert.equal(await total("chart-model-requests", "fake-echo"), "6");
    // cost: alice's one miss (3 hits cost nothing), bob's two answers; the same sums by route
    const cost = async (chart, series) => Number(await total(chart, series));
    assert.ok((await cost("chart-caller-cost", "alice")) > 0);
    assert.equal(await cost("chart-caller-cost", "bob"), await cost("chart-route-cost", "failover"));
    assert.equal(await cost("chart-caller-cost", "alice"), await cost("chart-route-cost", "fast"));
    assert.equal(await total("chart-cache", "hit"), "3");
    assert.equal(await total("chart-cache", "miss"), "1");
    // the drawn line carries the same total, and its last point is above the baseline
    const line = page.locator('#chart-caller-requests polyline[data-series="alice"]');
    assert.equal(await line.getAttribute("data-total"), "4");
    const pts = (await line.getAttribute("points")).split(" ").map((p) => p.split(",").map(Number));
    assert.equal(pts.length, 60);
    assert.ok(pts.some(([, y]) => y < pts[0][1]), "a point above the baseline");

    assert.equal(await cell("#tile-requests b"), "6");
    assert.equal(await cell("#tile-hour-requests b"), "6");
    assert.equal(await cell("#tile-cache-hit-ratio b"), "75.0%");
    const status = (await data()).status;
    assert.equal(await cell("#config-version"), status.config.version);
    assert.match(await cell("#config-last-reload"), /^failed/);
    assert.match(await cell("#reload-errors li"), /not_a_key/);
    for (const d of ["fake-echo", "fake-500"]) {
      assert.equal(await page.locator(`#deployments tr[data-deployment="${d}"]`).count(), 1, d);
    }
    assert.match(await cell('#deployments tr[data-deployment="fake-500"] td.error-rate'), /^100%$/);
    assert.equal(await cell('#deployments tr[data-deployment="fake-echo"] td.requests'), "6");
    const marks = page.locator('#deployments tr[data-deployment="fake-echo"] td.latency svg :is(polyline, circle)');
    assert.ok((await marks.count()) > 0, "a latency sparkline");

    assert.deepEqual(foreign, [], "the page loads nothing from another origin");
    assert.deepEqual(errors, [], "no script errors");
    mkdirSync(path.dirname(SHOT), { recursive: true });
    await page.screenshot({ path: SHOT, fullPage: true });
    assert.ok(readFileSync(SHOT).length > 10000, "a screenshot with something on it");
  });

  test("the evaluations panel lists the run and opens its report", async () => {
    const page = await context.newPage();
    const errors = [];
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${base}/ui?key=${ALICE}`);
    await page.waitForSelector("#evals tr[data-run]", { timeout: WAIT_MS });
    const cell = (sel) => page.locator(sel).first().textContent();
    assert.equal(await page.locator("#evals tbody tr").count(), 2, "one row per variant");
    for (const v of ["fake-echo", "fast"]) {
      assert.equal(await cell(`#evals tr[data-variant="${v}"] td.items`), "2", v);
      assert.equal(await cell(`#evals tr[data-variant="${v}"] td.score`), "0.500", v);
      assert.equal(await cell(`#evals tr[data-variant="${v}"] td.pass`), "50%", v);
    }
    assert.equal(await cell('#evals tr[data-variant="fake-echo"] td.status'), "done");
    await page.locator("#evals a").first().click();
    await page.waitForSelector("svg circle", { timeout: WAIT_MS });
    assert.equal(await page.locator("svg circle").count(), 2, "one point per variant in the score/cost chart");
    assert.ok((await page.textContent("body")).includes("<b>never</b>"), "dataset text shown as text");
    // the report's inline filter runs under the page's nonce policy
    await page.locator("#only-diff").check();
    assert.deepEqual(errors, [], "no script errors or policy violations");
    await page.screenshot({ path: path.join(path.dirname(SHOT), "dashboard-eval.png"), fullPage: true });
  });

  test("without a key the page is refused, as the API is", async () => {
    const page = await context.newPage();
    const r = await page.goto(`${base}/ui`);
    assert.equal(r.status(), 403);
    assert.match(await page.textContent("body"), /unknown callers are denied/);
  });
});
