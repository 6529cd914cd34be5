// What the browser tests share: the binaries and browser they use, when they skip, a bounded
// wait, and a headless Chromium (Debian's, driven by playwright-core).

import { existsSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SIDEGATE_BIN = process.env.SIDEGATE_BIN || path.join(REPO, "target/debug/sidegate");
export const FAKE_VENDOR_BIN = process.env.FAKE_VENDOR_BIN || path.join(REPO, "target/debug/fake-vendor");
export const CHROMIUM = process.env.SIDEGATE_CHROMIUM || "/usr/bin/chromium";
export const WAIT_MS = 30000;

/** Why the suite skips (a binary or the browser missing), or false; never skips in CI. */
export function skipReason() {
  if (process.env.SIDEGATE_REQUIRE_DAEMON === "1") return false;
  const missing = [SIDEGATE_BIN, FAKE_VENDOR_BIN, CHROMIUM].filter((b) => !existsSync(b));
  return missing.length ? `missing ${missing.join(", ")}` : false;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `f` until it gives something truthy, for at most WAIT_MS. */
export async function until(what, f) {
  const end = Date.now() + WAIT_MS;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A headless Chromium with its own profile and no background traffic. */
export function launchChromium(viewport) {
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), "sidegate-chromium-"));
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
    viewport,
  });
}
