// The `sidegate eval --html` report in a real browser: Debian's Chromium (/usr/bin/chromium, or
// $SIDEGATE_CHROMIUM) driven by playwright-core opens the report of an eval the test runs
// itself (in-process, against the fake vendor: two variants over three items), and checks the
// charts (one point per variant in the score/cost scatter, one box per variant in the latency
// chart), the per-item table with the answers side by side (markup in an answer shows as
// text), that the page loads nothing, and saves a screenshot to target/browser/eval-report.png.
//
// Binaries: $SIDEGATE_BIN and $FAKE_VENDOR_BIN (default target/debug/...). Missing binaries or
// browser skip the test, unless SIDEGATE_REQUIRE_DAEMON=1 (CI), where it fails.

import { spawn, execFileSync } from "node:child_process";
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { FAKE_VENDOR_BIN, REPO, SIDEGATE_BIN, launchChromium, skipReason, until } from "./support.js";

const SHOT = path.join(REPO, "target/browser/eval-report.png");


const PROMPT = `name = "say"
version = "2"
[variables.text]
type = "string"
[[messages]]
role = "user"
content = "{{ text }}"
`;

// Echoed back: the first and third pass \`contains\`; the second carries markup.
const CASES = [
  { vars: { text: "Paris" }, expect: "Paris" },
  { vars: { text: "<b>bold</b> & <script>x()</script>" }, expect: "bold" },
  { vars: { text: "Lyon" }, expect: "Lyon" },
];

describe("the eval HTML report in Chromium", { skip: skipReason(), timeout: 180000 }, () => {
  let dir, vendor, context, report;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "sidegate-eval-"));
    vendor = spawn(FAKE_VENDOR_BIN, ["--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    vendor.stdout.on("data", (b) => (out += b));
    const addr = await until("the fake vendor", async () => /LISTENING (\S+)/.exec(out)?.[1]);
    mkdirSync(path.join(dir, "prompts"));
    writeFileSync(path.join(dir, "prompts", "say.toml"), PROMPT);
    writeFileSync(path.join(dir, "sidegate.toml"), `[server]
socket = "${dir}/sg.sock"
state_dir = "${dir}/state"
[prompts]
dir = "prompts"
[providers.fake]
kind = "openai-compatible"
base_url = "http://${addr}/v1"
api_key = "sk-fake-secret-key"
[models.echo]
provider = "fake"
model = "echo"
price = { input = 1.0, output = 2.0 }
[models.echo-dear]
provider = "fake"
model = "echo#dear"
price = { input = 10.0, output = 20.0 }
`);
    writeFileSync(path.join(dir, "cases.jsonl"), CASES.map((c) => JSON.stringify(c)).join("\n") + "\n");
    writeFileSync(path.join(dir, "eval.toml"), `dataset = "cases.jsonl"
prompt = "say"
variants = ["echo", "echo-dear"]
[[scorers]]
kind = "contains"
`);
    report = path.join(dir, "report.html");
    execFileSync(SIDEGATE_BIN, ["eval", "--config", path.join(dir, "sidegate.toml"), path.join(dir, "eval.toml"), "--html", report],
      { stdio: ["ignore", "ignore", "inherit"] });
    context = await launchChromium({ width: 1280, height: 1400 });
  });

  after(async () => {
    await context?.close();
    vendor?.kill("SIGTERM");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("charts, the per-item table and nothing fetched", async () => {
    const page = await context.newPage();
    const url = pathToFileURL(report).href;
    const foreign = [], errors = [];
    page.on("request", (r) => { if (r.url() !== url) foreign.push(r.url()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(url);
    // the scatter: one point per variant, the dearer one further right at the same score
    const points = page.locator("#score-cost circle.point");
    assert.equal(await points.count(), 2);
    const cx = async (v) => Number(await page.locator(`#score-cost circle.point[data-variant="${v}"]`).getAttribute("cx"));
    const cy = async (v) => Number(await page.locator(`#score-cost circle.point[data-variant="${v}"]`).getAttribute("cy"));
    assert.ok((await cx("echo-dear")) > (await cx("echo")), "ten times the price is further right");
    assert.equal(await cy("echo-dear"), await cy("echo"), "the same answers score the same");
    // the latency chart: one box per variant, each a rect
    assert.equal(await page.locator("#latency g.box").count(), 2);
    assert.equal(await page.locator("#latency g.box rect").count(), 2);
    // the table: an item per row, an answer per variant, the summary per variant
    assert.equal(await page.locator("#items tbody tr").count(), 3);
    assert.equal(await page.locator("#items thead th").count(), 3 + 2);
    assert.equal(await page.locator("#summary tbody tr").count(), 2);
    const markup = page.locator("#items tbody tr").nth(1).locator("td").nth(3);
    assert.match(await markup.innerText(), /<b>bold<\/b> & <script>x\(\)<\/script>/);
    assert.equal(await page.locator("#items b, #items script").count(), 0, "an answer's markup is text, never elements");
    assert.equal(await page.locator("#items td.pass").count(), 6, "every answer contains its expectation");
    // the filter: every item scored the same on both variants, so all rows hide
    await page.check("#only-diff");
    assert.equal(await page.locator("#items tbody tr:visible").count(), 0);
    await page.uncheck("#only-diff");
    assert.deepEqual(foreign, [], "the report loads nothing");
    assert.deepEqual(errors, []);
    mkdirSync(path.dirname(SHOT), { recursive: true });
    await page.screenshot({ path: SHOT, fullPage: true });
    assert.ok(readFileSync(SHOT).length > 10000, "a screenshot with something on it");
  });
});
