// The frame codec against the shared golden vectors (tests/vectors), byte for byte, and the
// incremental decoder against every way TCP/Unix sockets may split or merge chunks.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import {
  DEFAULT_MAX_FRAME,
  FrameDecoder,
  FrameError,
  HEADER_BYTES,
  Kind,
  PREFACE,
  encodeFrame,
  encodeHeader,
} from "../src/frame.js";

const VECTORS = path.resolve(
  process.env.SIDEGATE_VECTORS ?? path.join(path.dirname(fileURLToPath(import.meta.url)), "../../../tests/vectors"),
);
const index = JSON.parse(readFileSync(path.join(VECTORS, "vectors.json"), "utf8"));
const bin = (...parts) => readFileSync(path.join(VECTORS, ...parts));

test("vectors.json lists frames", () => {
  assert.ok(index.frames.length >= 10);
  const kinds = new Set(index.frames.map((v) => v.kind));
  for (const k of Object.values(Kind)) assert.ok(kinds.has(k), `a vector of kind ${k}`);
});

test("preface matches preface.bin", () => {
  assert.deepEqual(PREFACE, bin(index.preface));
});

for (const v of index.frames) {
  test(`encode ${v.name} byte for byte`, () => {
    const got = encodeFrame(v.kind, BigInt(v.id), Buffer.from(v.body, "utf8"));
    assert.equal(got.toString("hex"), bin(v.file).toString("hex"));
    // strings encode the same as buffers
    assert.deepEqual(encodeFrame(v.kind, BigInt(v.id), v.body), got);
  });

  test(`decode ${v.name}`, () => {
    const d = new FrameDecoder();
    const frames = d.push(bin(v.file));
    assert.equal(frames.length, 1);
    assert.equal(frames[0].kind, v.kind);
    assert.equal(frames[0].id, BigInt(v.id));
    assert.equal(typeof frames[0].id, "bigint");
    assert.equal(frames[0].body.toString("utf8"), v.body);
    assert.equal(d.bufferedBytes, 0);
    if (v.body !== "") JSON.parse(v.body); // every non-empty body is JSON
  });
}

test("every vector decodes one byte at a time", () => {
  for (const v of index.frames) {
    const bytes = bin(v.file);
    const d = new FrameDecoder();
    const frames = [];
    for (let i = 0; i < bytes.length; i++) frames.push(...d.push(bytes.subarray(i, i + 1)));
    assert.equal(frames.length, 1, v.name);
    assert.equal(frames[0].body.toString("utf8"), v.body, v.name);
    assert.equal(frames[0].id, BigInt(v.id), v.name);
  }
});

test("all vectors concatenated, split at every offset, decode in order", () => {
  const all = Buffer.concat(index.frames.map((v) => bin(v.file)));
  for (let cut = 0; cut <= all.length; cut++) {
    const d = new FrameDecoder();
    const frames = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
    assert.equal(frames.length, index.frames.length, `cut at ${cut}`);
    frames.forEach((f, i) => {
      const v = index.frames[i];
      assert.equal(f.kind, v.kind);
      assert.equal(f.id, BigInt(v.id));
      assert.equal(f.body.toString("utf8"), v.body);
    });
  }
});

test("random chunking of many frames, including a large body", () => {
  const big = Buffer.alloc(1024 * 1024 + 7, 0x61);
  const sent = [];
  for (let i = 1; i <= 50; i++) {
    const body = i === 25 ? big : Buffer.from(JSON.stringify({ i, text: "é☃🚀".repeat(i) }));
    sent.push({ kind: i % 10, id: BigInt(i) * 1000003n, body });
  }
  const stream = Buffer.concat(sent.map((f) => encodeFrame(f.kind, f.id, f.body)));
  let seed = 42;
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let round = 0; round < 5; round++) {
    const d = new FrameDecoder();
    const got = [];
    for (let at = 0; at < stream.length; ) {
      const n = 1 + rand(round === 0 ? 30 : 70000);
      got.push(...d.push(stream.subarray(at, at + n)));
      at += n;
    }
    assert.equal(got.length, sent.length);
    got.forEach((f, i) => {
      assert.equal(f.kind, sent[i].kind);
      assert.equal(f.id, sent[i].id);
      assert.ok(f.body.equals(sent[i].body), `body of frame ${i}`);
    });
    assert.equal(d.bufferedBytes, 0);
  }
});

test("a partial frame waits for the rest", () => {
  const bytes = bin("response_chat.bin");
  const d = new FrameDecoder();
  assert.deepEqual(d.push(bytes.subarray(0, 3)), []);
  assert.deepEqual(d.push(bytes.subarray(3, 23)), []);
  assert.deepEqual(d.push(bytes.subarray(23, bytes.length - 1)), []);
  assert.equal(d.bufferedBytes, bytes.length - 1);
  const frames = d.push(bytes.subarray(bytes.length - 1));
  assert.equal(frames.length, 1);
  assert.equal(frames[0].kind, Kind.RESPONSE);
  assert.deepEqual(d.push(Buffer.alloc(0)), []);
});

test("u64 ids: 0, 2^53+1 and 2^64-1 survive", () => {
  for (const id of [0n, 2n ** 53n + 1n, 2n ** 64n - 1n]) {
    const [f] = new FrameDecoder().push(encodeFrame(Kind.PING, id));
    assert.equal(f.id, id);
  }
  assert.throws(() => encodeFrame(Kind.PING, 2n ** 64n), RangeError);
  assert.throws(() => encodeFrame(Kind.PING, -1n), RangeError);
  assert.throws(() => encodeFrame(Kind.PING, 1), TypeError);
});

test("encodeHeader is the first 24 bytes of encodeFrame", () => {
  const body = Buffer.from('{"op":"models"}');
  const frame = encodeFrame(Kind.REQUEST, 3n, body);
  assert.deepEqual(encodeHeader(Kind.REQUEST, 3n, body.length), frame.subarray(0, HEADER_BYTES));
  assert.deepEqual(frame, bin("request_models.bin"));
});

// The bad vectors are client -> server, but the structural ones break framing the same way in
// either direction, and a client must refuse them with the same codes.
const bad = JSON.parse(readFileSync(path.join(VECTORS, "bad", "cases.json"), "utf8"));
const FRAMING_CODES = new Set(["frame_too_large", "malformed_frame"]);

for (const c of bad.cases.filter((c) => FRAMING_CODES.has(c.code))) {
  test(`bad vector ${c.name} -> FrameError ${c.code}`, () => {
    const bytes = bin("bad", c.file);
    const d = new FrameDecoder();
    assert.throws(
      () => d.push(bytes),
      (err) => err instanceof FrameError && err.code === c.code,
    );
    // once broken, always broken: the stream lost its framing
    assert.throws(() => d.push(Buffer.alloc(1)), FrameError);
  });
}

test("bad vectors that are well-formed frames decode (their error is the server's semantics)", () => {
  for (const c of bad.cases.filter((c) => !FRAMING_CODES.has(c.code))) {
    const frames = new FrameDecoder().push(bin("bad", c.file));
    assert.equal(frames.length, 1, c.name);
  }
});

test("an oversized frame is refused from its first 4 bytes", () => {
  const d = new FrameDecoder({ maxFrame: 100 });
  const header = Buffer.alloc(4);
  header.writeUInt32LE(101);
  assert.throws(() => d.push(header), (e) => e.code === "frame_too_large");
  const ok = new FrameDecoder({ maxFrame: 100 });
  assert.equal(ok.push(encodeFrame(Kind.CHUNK, 1n, Buffer.alloc(80))).length, 1);
  assert.throws(() => ok.push(encodeFrame(Kind.CHUNK, 1n, Buffer.alloc(81))), (e) => e.code === "frame_too_large");
  assert.equal(new FrameDecoder().maxFrame, DEFAULT_MAX_FRAME);
});
