// index.d.ts and frame.d.ts type-check, and the README-style usage in test/types/usage.ts
// compiles against them through the package's "exports" (tsc --noEmit; dev dependency).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TSC = path.join(ROOT, "node_modules", ".bin", "tsc");

test("tsc --noEmit on the hand-written types", { skip: !existsSync(TSC) && "typescript not installed (npm ci)" }, () => {
  const r = spawnSync(TSC, ["-p", path.join(ROOT, "tsconfig.json")], { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});
