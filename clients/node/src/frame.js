// Frame codec for sidegate's native protocol (docs/protocol.md §1–§3).
//
// This module owns bytes only: the preface, the 24-byte frame header and an incremental
// decoder that turns arbitrary `data` chunks into whole frames. It knows nothing of sockets,
// JSON or requests (see connection.js for that).
//
// Frame layout, little-endian:
//   u32 len (= 20 + body_len) | u32 kind | u64 id | u64 body_len | body
// ids are u64 on the wire and BigInt here, so every id the daemon accepts round-trips exactly.

/** The 4 bytes a native client sends before its first frame: "\0sgp". */
export const PREFACE = Buffer.from([0x00, 0x73, 0x67, 0x70]);

/** Bytes before the body: len (4) + kind (4) + id (8) + body_len (8). */
export const HEADER_BYTES = 24;

/** `len` counts everything after itself: kind + id + body_len + body. */
const LEN_OVERHEAD = 20;

/** The protocol's default frame limit (16 MiB); the server's own arrives in WELCOME. */
export const DEFAULT_MAX_FRAME = 16 * 1024 * 1024;

export const PROTOCOL_VERSION = 1;

/** Frame kinds (§3). */
export const Kind = Object.freeze({
  HELLO: 0,
  WELCOME: 1,
  REQUEST: 2,
  RESPONSE: 3,
  CHUNK: 4,
  END: 5,
  ERROR: 6,
  CANCEL: 7,
  PING: 8,
  PONG: 9,
});

const MAX_U64 = (1n << 64n) - 1n;
const EMPTY = Buffer.alloc(0);

/**
 * A byte stream that cannot be read as frames. `code` is the protocol's error code for the
 * same violation (`malformed_frame`, `frame_too_large`), so logs read the same on both sides.
 */
export class FrameError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "FrameError";
    this.code = code;
  }
}

function toBuffer(body) {
  if (body === undefined || body === null) return EMPTY;
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === "string") return Buffer.from(body, "utf8");
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError("frame body must be a Buffer, Uint8Array or string");
}

function checkKindAndId(kind, id) {
  if (!Number.isInteger(kind) || kind < 0 || kind > 0xffffffff) {
    throw new RangeError(`frame kind must be a u32, got ${kind}`);
  }
  if (typeof id !== "bigint") throw new TypeError("frame id must be a BigInt");
  if (id < 0n || id > MAX_U64) throw new RangeError(`frame id must be a u64, got ${id}`);
}

/**
 * The 24-byte header of a frame whose body is `bodyLength` bytes long. Writing the header and
 * the body as two writes avoids copying a large body into one buffer.
 */
export function encodeHeader(kind, id, bodyLength) {
  checkKindAndId(kind, id);
  if (bodyLength > 0xffffffff - LEN_OVERHEAD) {
    throw new FrameError("frame_too_large", `a body of ${bodyLength} bytes does not fit a frame`);
  }
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32LE(LEN_OVERHEAD + bodyLength, 0);
  header.writeUInt32LE(kind, 4);
  header.writeBigUInt64LE(id, 8);
  header.writeBigUInt64LE(BigInt(bodyLength), 16);
  return header;
}

/** One complete frame (length prefix included) as a single Buffer. */
export function encodeFrame(kind, id, body) {
  const bytes = toBuffer(body);
  return Buffer.concat([encodeHeader(kind, id, bytes.length), bytes]);
}

/**
 * Incremental frame decoder. Feed it every chunk the socket delivers, in order; `push`
 * returns the frames completed by that chunk (often none, sometimes many). A frame split over
 * any number of chunks, or many frames in one chunk, decode the same.
 *
 * A header that breaks the rules throws a FrameError; the decoder is then unusable (a byte
 * stream that lost framing cannot be resynchronised), and the caller drops the connection.
 */
export class FrameDecoder {
  /** @param {{ maxFrame?: number }} [options] */
  constructor(options = {}) {
    /** Largest `len` accepted; apply the server's `max_frame` here once WELCOME arrives. */
    this.maxFrame = options.maxFrame ?? DEFAULT_MAX_FRAME;
    this._chunks = [];
    this._size = 0;
    this._failed = null;
  }

  /** Bytes received but not yet part of a complete frame. */
  get bufferedBytes() {
    return this._size;
  }

  /**
   * @param {Buffer} chunk
   * @returns {{ kind: number, id: bigint, body: Buffer }[]}
   */
  push(chunk) {
    if (this._failed) throw this._failed;
    if (chunk.length > 0) {
      this._chunks.push(chunk);
      this._size += chunk.length;
    }
    const frames = [];
    try {
      for (;;) {
        const frame = this._next();
        if (frame === null) break;
        frames.push(frame);
      }
    } catch (err) {
      this._failed = err;
      this._chunks = [];
      this._size = 0;
      throw err;
    }
    return frames;
  }

  _next() {
    if (this._size < 4) return null;
    // Check `len` as soon as its 4 bytes are here: an oversized frame is refused before its
    // body is waited for (or buffered), exactly like the server does.
    const len = this._peek(4).readUInt32LE(0);
    if (len < LEN_OVERHEAD) {
      throw new FrameError("malformed_frame", `frame length ${len} is below the minimum of ${LEN_OVERHEAD}`);
    }
    if (len > this.maxFrame) {
      throw new FrameError("frame_too_large", `frame of ${len} bytes is over the ${this.maxFrame}-byte limit`);
    }
    if (this._size < HEADER_BYTES) return null;
    const header = this._peek(HEADER_BYTES);
    const bodyLen = header.readBigUInt64LE(16);
    if (bodyLen !== BigInt(len - LEN_OVERHEAD)) {
      throw new FrameError("malformed_frame", `body_len ${bodyLen} does not match frame length ${len} - 20`);
    }
    const total = 4 + len;
    if (this._size < total) return null;
    const kind = header.readUInt32LE(4);
    const id = header.readBigUInt64LE(8);
    const frame = this._take(total);
    return { kind, id, body: frame.subarray(HEADER_BYTES) };
  }

  /** The first `n` buffered bytes as one contiguous Buffer (merging leading chunks if needed). */
  _peek(n) {
    const first = this._chunks[0];
    if (first.length >= n) return first;
    let count = 0;
    let have = 0;
    while (have < n) have += this._chunks[count++].length;
    const merged = Buffer.concat(this._chunks.slice(0, count), have);
    this._chunks.splice(0, count, merged);
    return merged;
  }

  /** Remove and return the first `n` bytes; zero-copy when they lie in one chunk. */
  _take(n) {
    let out;
    const first = this._chunks[0];
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this._chunks.shift();
      else this._chunks[0] = first.subarray(n);
    } else {
      const parts = [];
      let need = n;
      while (need > 0) {
        const c = this._chunks[0];
        if (c.length <= need) {
          parts.push(c);
          this._chunks.shift();
          need -= c.length;
        } else {
          parts.push(c.subarray(0, need));
          this._chunks[0] = c.subarray(need);
          need = 0;
        }
      }
      out = Buffer.concat(parts, n);
    }
    this._size -= n;
    return out;
  }
}
