// The public Client: chat, stream, embeddings, models, status over one multiplexed native
// connection (docs/protocol.md), reconnecting by itself after the daemon restarts.
//
// Each call is a `Call`: it owns its request id, deadline timer and AbortSignal listener, and
// sends CANCEL when it ends early. What the daemon answers goes to a sink: a promise for
// unary calls, a `ChatStream` queue for streams. Bytes and sockets live in connection.js.

import { Connection } from "./connection.js";
import {
  callArguments,
  checkTimeout,
  clientOptions,
  feedbackArguments,
  promptArguments,
  promptWantsStream,
} from "./arguments.js";
import { resolveSocketPath } from "./discovery.js";
import {
  AbortError,
  ConnectionError,
  InvalidRequestError,
  ProtocolError,
  SidegateTimeoutError,
  errorFromFrame,
} from "./errors.js";
import { Kind } from "./frame.js";

const DEFAULT_CONNECT_TIMEOUT_MS = 2000;
/** setTimeout stores delays as a signed 32-bit int; longer deadlines are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Deadlines use the monotonic clock: a wall-clock step must not fire or stall them. */
const now = () => performance.now();

/** The error for a signal that fired: its own TimeoutError reason stays a timeout. */
function abortError(signal) {
  const reason = signal.reason;
  if (reason && typeof reason === "object" && reason.name === "TimeoutError") {
    return new SidegateTimeoutError("the request timed out (its AbortSignal timed out)", { cause: reason });
  }
  return new AbortError("the request was aborted", { cause: reason });
}

function parseJson(body, what) {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw new ProtocolError(`sidegate sent a ${what} that is not JSON: ${err.message}`, {
      code: "invalid_frame_body",
      cause: err,
    });
  }
}

/** Attach `meta` without making it part of the OpenAI-shaped object (JSON.stringify skips it). */
function withMeta(result, meta) {
  if (result !== null && typeof result === "object") {
    Object.defineProperty(result, "meta", { value: meta, enumerable: false, writable: true, configurable: true });
  }
  return result;
}

/** One request on the wire. `sink` gets { frame(kind, body), fail(err) }. */
class Call {
  constructor(client, op, body, opts, sink) {
    this.client = client;
    this.op = op;
    this.body = body;
    this.opts = opts;
    this.sink = sink;
    this.id = client._nextId++;
    const timeoutMs = opts.timeoutMs ?? client.timeoutMs;
    this.timeoutMs = timeoutMs;
    this.deadline = timeoutMs === undefined || timeoutMs === Infinity ? Infinity : now() + timeoutMs;
    this.conn = null;
    this.done = false;
    this.timer = null;
    this.onAbort = null;
  }

  /** Send the request; every failure on the way ends up in `sink.fail`, never unhandled. */
  start() {
    this._start().catch((err) => this.fail(err));
  }

  async _start() {
    const { signal } = this.opts;
    if (signal && signal.aborted) {
      this.fail(abortError(signal));
      return;
    }
    if (this.deadline !== Infinity) this._arm();
    if (signal) {
      this.onAbort = () => this.cancel(abortError(signal));
      signal.addEventListener("abort", this.onAbort, { once: true });
    }
    let conn;
    try {
      conn = await this.client._connection();
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.done) return;
    let text;
    try {
      text = this._encode();
    } catch (err) {
      this.fail(err); // e.g. a BigInt or a cycle in the body
      return;
    }
    const length = Buffer.byteLength(text, "utf8");
    if (length + 20 > conn.maxFrame) {
      this.fail(
        new InvalidRequestError(
          `the request is ${length + 20} bytes, over sidegate's ${conn.maxFrame}-byte frame limit`,
          { status: 413, code: "frame_too_large" },
        ),
      );
      return;
    }
    this.conn = conn;
    conn.register(this.id, this);
    conn.sendText(Kind.REQUEST, this.id, text, length);
  }

  _encode() {
    const o = this.opts;
    const options = {};
    if (o.cache !== undefined) options.cache = o.cache;
    if (o.route !== undefined) options.route = o.route;
    if (o.label !== undefined) options.label = o.label;
    if (o.prompt !== undefined) options.prompt = o.prompt;
    if (o.episode !== undefined) options.episode = o.episode;
    // The daemon gets what is left of the deadline, so it never works past the caller.
    if (this.deadline !== Infinity) options.timeout_ms = Math.max(1, Math.ceil(this.deadline - now()));
    const request = { op: this.op };
    if (this.body !== undefined) request.body = this.body;
    if (Object.keys(options).length > 0) request.options = options;
    return JSON.stringify(request);
  }

  _arm() {
    const left = this.deadline - now();
    this.timer = setTimeout(
      () => {
        if (now() < this.deadline) this._arm();
        else this.cancel(new SidegateTimeoutError(`the request timed out after ${this.timeoutMs} ms`));
      },
      Math.max(0, Math.min(left, MAX_TIMER_MS)),
    );
  }

  // --- from the connection ---

  onFrame(kind, body) {
    if (this.done) return;
    if (kind === Kind.ERROR) {
      let parsed;
      try {
        parsed = parseJson(body, "ERROR body");
      } catch (err) {
        this.cancel(err);
        return;
      }
      this.fail(errorFromFrame(parsed));
      return;
    }
    try {
      this.sink.frame(kind, body, this);
    } catch (err) {
      this.cancel(err);
    }
  }

  onClose(makeError) {
    if (!this.done) this.fail(makeError());
  }

  // --- endings ---

  /** End early from this side: tell the daemon (CANCEL), then fail with `err` (or just stop). */
  cancel(err) {
    if (this.done) return;
    if (this.conn) this.conn.send(Kind.CANCEL, this.id);
    if (err) this.fail(err);
    else this.finish();
  }

  fail(err) {
    if (this.done) return;
    this.finish();
    this.sink.fail(err);
  }

  finish() {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.onAbort) this.opts.signal.removeEventListener("abort", this.onAbort);
    if (this.conn) this.conn.unregister(this.id);
  }
}

/**
 * An async iterable of `chat.completion.chunk` objects. Breaking out of `for await`, calling
 * `cancel()`, aborting the signal or passing the deadline sends CANCEL. After the stream ends
 * normally, `meta` holds the daemon's meta (provider, model, cache, attempts, ...).
 */
export class ChatStream {
  constructor(client, body, opts) {
    this._client = client;
    this._body = body;
    this._opts = opts;
    this._call = null;
    this._queue = [];
    this._waiters = [];
    this._error = null;
    this._ended = false;
    /** Set when END arrives. */
    this.meta = undefined;
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  next() {
    if (this._call === null && !this._ended) {
      this._call = new Call(this._client, "chat", { ...this._body, stream: true }, this._opts, this);
      this._call.start();
    }
    if (this._queue.length > 0) return Promise.resolve({ value: this._queue.shift(), done: false });
    if (this._error) {
      const err = this._error;
      this._error = null;
      this._ended = true;
      return Promise.reject(err);
    }
    if (this._ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this._waiters.push({ resolve, reject }));
  }

  /** Called by `break` / `return` in `for await`: cancels the request if it is still running. */
  return(value) {
    this._stop();
    return Promise.resolve({ value, done: true });
  }

  throw(err) {
    this._stop();
    return Promise.reject(err);
  }

  /** Stop the stream now; the daemon gets CANCEL. Pending `next()` calls resolve as done. */
  cancel() {
    this._stop();
  }

  _stop() {
    if (this._call && !this._call.done) this._call.cancel(null);
    this._ended = true;
    this._queue.length = 0;
    this._error = null;
    this._drainWaiters();
  }

  _drainWaiters() {
    const waiters = this._waiters;
    this._waiters = [];
    for (const w of waiters) w.resolve({ value: undefined, done: true });
  }

  // --- sink for Call ---

  frame(kind, body, call) {
    if (kind === Kind.CHUNK) {
      const chunk = parseJson(body, "CHUNK");
      const waiter = this._waiters.shift();
      if (waiter) waiter.resolve({ value: chunk, done: false });
      else this._queue.push(chunk);
    } else if (kind === Kind.END) {
      const end = parseJson(body, "END body");
      this.meta = end && typeof end === "object" ? end.meta : undefined;
      call.finish();
      this._ended = true;
      this._drainWaiters();
    }
    // RESPONSE to a streaming request, or newer kinds: ignored.
  }

  fail(err) {
    // An abort or timeout drops what was queued: the caller asked to stop now. Other
    // failures come after the chunks that arrived before them.
    if (err instanceof AbortError || err instanceof SidegateTimeoutError) this._queue.length = 0;
    const waiter = this._waiters.shift();
    if (waiter) {
      this._ended = true;
      waiter.reject(err);
      this._drainWaiters();
    } else {
      this._error = err;
    }
  }
}

/** Sink of a unary call: resolves with the OpenAI-shaped body, `meta` attached. */
function unarySink(resolve, reject) {
  return {
    frame(kind, body, call) {
      if (kind !== Kind.RESPONSE) return;
      const parsed = parseJson(body, "RESPONSE body");
      call.finish();
      const answer = parsed && typeof parsed === "object" ? parsed : {};
      resolve(withMeta(answer.body, answer.meta));
    },
    fail: reject,
  };
}

export class Client {
  /**
   * `new Client()`, `new Client("/path/to.sock")`, `new Client({ socketPath, ... })` or
   * `new Client("/path/to.sock", { timeoutMs, ... })`. An unknown option or a wrong type
   * throws a TypeError naming it.
   * @param {string | { socketPath?: string, timeoutMs?: number, connectTimeoutMs?: number, clientName?: string }} [pathOrOptions]
   * @param {{ timeoutMs?: number, connectTimeoutMs?: number, clientName?: string }} [options]
   */
  constructor(...args) {
    const options = clientOptions(args);
    this.socketPath = resolveSocketPath({ socketPath: options.socketPath });
    /** Default deadline of every call, in ms (undefined: none). */
    this.timeoutMs = checkTimeout(options.timeoutMs, "timeoutMs");
    this._connectTimeoutMs = checkTimeout(options.connectTimeoutMs, "connectTimeoutMs") ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this._clientName = options.clientName;
    this._nextId = 1n;
    this._conn = null;
    this._connecting = null;
    this._closed = false;
    /** How many connections this client opened (1 plus one per reconnect). */
    this._connects = 0;
  }

  /** A non-streaming Chat Completions call: `chat(body, options?)`. */
  chat(...args) {
    return this._unary("chat", args);
  }

  /** A streaming Chat Completions call (`stream: true` is set for you): `stream(body, options?)`. */
  stream(...args) {
    const [body, opts] = callArguments("stream", args);
    return new ChatStream(this, body, opts);
  }

  /**
   * A Chat Completions call rendered by the daemon from the prompt file `id` (`"greet"`: its
   * latest version, `"greet@2"`: that version) with `variables`: `prompt(id, variables?,
   * options?)`. `options.body` is the rest of the chat body (`messages` are appended after
   * the prompt's); `options.stream: true` returns a ChatStream (as `stream()` does), else a
   * promise of the completion. Wrong arguments throw for a stream and reject otherwise, as
   * `stream()` and `chat()` do.
   */
  prompt(...args) {
    if (promptWantsStream(args)) {
      const [body, opts] = promptArguments(args);
      return new ChatStream(this, body, opts);
    }
    let body, opts;
    try {
      [body, opts] = promptArguments(args);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      new Call(this, "chat", body, opts, unarySink(resolve, reject)).start();
    });
  }

  /** `embeddings(body, options?)`. */
  embeddings(...args) {
    return this._unary("embeddings", args);
  }

  /**
   * Record an outcome for an answered request (`answer.meta.request_id`):
   * `feedback(requestId, { score?, label?, comment?, signal?, timeoutMs? })`, a score, a label
   * or both. A later one for the same request replaces it. Resolves with
   * `{ object: "feedback", request_id, recorded: true, replaced }`.
   */
  feedback(...args) {
    let body, opts;
    try {
      [body, opts] = feedbackArguments(args);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      new Call(this, "feedback", body, opts, unarySink(resolve, reject)).start();
    });
  }

  /** `models(options?)`. */
  models(...args) {
    return this._unary("models", args);
  }

  /** `status(options?)`. */
  status(...args) {
    return this._unary("status", args);
  }

  /** Close the connection; calls in flight fail with a ConnectionError. Later calls reject. */
  async close() {
    this._closed = true;
    const conn = this._conn;
    this._conn = null;
    if (conn) conn.destroy(closedError());
  }

  /** A call answered by one RESPONSE; wrong arguments reject (they never throw). */
  _unary(op, args) {
    let body, opts;
    try {
      [body, opts] = callArguments(op, args);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      new Call(this, op, body, opts, unarySink(resolve, reject)).start();
    });
  }

  /** The live connection, opening (or re-opening) it if needed; concurrent callers share one attempt. */
  async _connection() {
    if (this._closed) throw closedError();
    if (this._conn && this._conn.alive) return this._conn;
    if (!this._connecting) {
      this._connecting = Connection.open(this.socketPath, {
        connectTimeoutMs: this._connectTimeoutMs,
        clientName: this._clientName,
      })
        .then((conn) => {
          if (this._closed) {
            conn.destroy(closedError());
            throw closedError();
          }
          this._conn = conn;
          this._connects += 1;
          return conn;
        })
        .finally(() => {
          this._connecting = null;
        });
    }
    return this._connecting;
  }
}

function closedError() {
  return new ConnectionError("the sidegate client was closed", { code: "client_closed" });
}

if (typeof Symbol.asyncDispose === "symbol") {
  Client.prototype[Symbol.asyncDispose] = Client.prototype.close;
}
