// The shared ERROR -> class table (tests/vectors/errors.json), row by row: the same file the
// Python shim's tests check, so the two shims raise the same class for the same answer.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as sidegate from "../src/index.js";
import { CODE_CLASSES, STATUS_CLASSES, SidegateError, TIMEOUT_CODES, errorClass, errorFromFrame } from "../src/index.js";

const TABLE = JSON.parse(readFileSync(new URL("../../../tests/vectors/errors.json", import.meta.url), "utf8"));

function cls(name) {
  const Class = sidegate[name];
  assert.equal(typeof Class, "function", `sidegate exports no class ${name}`);
  assert.ok(Class === SidegateError || Class.prototype instanceof SidegateError, `${name} is not a SidegateError`);
  return Class;
}

const label = (c) => ["status", "code", "connection_level"].filter((k) => k in c).map((k) => `${k}=${c[k]}`).join(" ");

for (const c of [...TABLE.rows, ...TABLE.checks]) {
  test(`errors.json: ${label(c)} -> ${c.class}`, () => {
    const Class = cls(c.class);
    const options = { connectionLevel: c.connection_level === true };
    assert.equal(errorClass(c.status, c.code ?? null, options), Class);
    const e = errorFromFrame({ status: c.status, error: { message: "m", type: "t", code: c.code ?? null } }, options);
    assert.equal(e.constructor, Class, `got ${e.constructor.name}`);
    assert.equal(e.status, c.status ?? undefined);
    assert.equal(e.code, c.code ?? null);
    assert.equal(e.message, "m");
  });
}

test("errors.json: the code tables are the file's rows", () => {
  const byStatus = {};
  const byCode = {};
  for (const r of TABLE.rows) {
    if (r.code === undefined) byStatus[r.status] = cls(r.class);
    else byCode[`${r.status} ${r.code}`] = cls(r.class);
  }
  assert.deepEqual({ ...STATUS_CLASSES }, byStatus);
  assert.deepEqual({ ...CODE_CLASSES }, byCode);
  assert.deepEqual([...TIMEOUT_CODES].sort(), [...TABLE.timeout_codes].sort());
});

test("errors.json: parents", () => {
  for (const [name, parents] of Object.entries(TABLE.parents)) {
    if (name === "about") continue;
    const e = new (cls(name))("x");
    for (const parent of parents) assert.ok(e instanceof cls(parent), `${name} is not a ${parent}`);
  }
});

test("errors.json: local classes", () => {
  for (const [what, names] of Object.entries(TABLE.local)) {
    if (what !== "about" && names.node) cls(names.node);
  }
});
