// One native-protocol connection to the daemon: connect (with short retries while the daemon
// restarts), handshake, write frames, and route incoming frames to the calls in flight by id.
//
// It owns the socket and the frame decoder; what a frame *means* for a call (a response, a
// chunk, an error) is left to the call objects in client.js, which register here by id.

import net from "node:net";
import {
  FrameDecoder,
  FrameError,
  HEADER_BYTES,
  Kind,
  PREFACE,
  PROTOCOL_VERSION,
  encodeFrame,
  encodeHeader,
} from "./frame.js";
import { ConnectionError, DaemonNotRunningError, ProtocolError, errorFromFrame } from "./errors.js";
import { VERSION } from "./version.js";

/** connect() errors that mean "nobody listens there right now": worth a retry, then DaemonNotRunning. */
const NOT_LISTENING = new Set(["ENOENT", "ECONNREFUSED"]);
/** connect() errors worth a retry but not "not running": a full listen backlog. */
const TRANSIENT = new Set(["EAGAIN", "ECONNRESET"]);

const FIRST_BACKOFF_MS = 20;
const MAX_BACKOFF_MS = 400;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function connectOnce(socketPath) {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path: socketPath });
    const onError = (err) => {
      socket.destroy();
      reject(err);
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      socket.off("error", onError);
      resolve(socket);
    });
  });
}

/**
 * Open a socket, retrying refused/missing sockets with a short backoff until `budgetMs` has
 * passed: a daemon being restarted (or socket-activated) is back within that window.
 */
async function connectWithRetry(socketPath, budgetMs) {
  const giveUpAt = performance.now() + budgetMs;
  let backoff = FIRST_BACKOFF_MS;
  for (;;) {
    try {
      return await connectOnce(socketPath);
    } catch (err) {
      const code = err && err.code;
      const retryable = NOT_LISTENING.has(code) || TRANSIENT.has(code);
      const left = giveUpAt - performance.now();
      if (!retryable || left <= 0) {
        if (NOT_LISTENING.has(code)) throw new DaemonNotRunningError(socketPath, err);
        let hint = "";
        if (code === "EACCES") hint = " (permission denied: is this user in the socket's group?)";
        throw new ConnectionError(`cannot connect to sidegate at ${socketPath}: ${err.message}${hint}`, {
          code: code ? String(code) : "connect_failed",
          cause: err,
        });
      }
      await sleep(Math.min(backoff, left));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }
}

export class Connection {
  /**
   * Connect, send the preface and HELLO. Requests may follow at once (protocol §6.1); WELCOME
   * is processed whenever it arrives.
   * @param {string} socketPath
   * @param {{ connectTimeoutMs: number, clientName?: string }} options
   */
  static async open(socketPath, options) {
    const socket = await connectWithRetry(socketPath, options.connectTimeoutMs);
    return new Connection(socket, socketPath, options.clientName ?? `sidegate-node/${VERSION}`);
  }

  constructor(socket, socketPath, clientName) {
    this.socket = socket;
    this.socketPath = socketPath;
    /** Calls in flight by id: { onFrame(kind, body), onClose(errFactory) }. */
    this.calls = new Map();
    this.decoder = new FrameDecoder();
    /** Parsed WELCOME body, once it arrived. */
    this.welcome = null;
    this.closed = false;
    this._closeError = null;

    socket.setNoDelay?.(true);
    socket.on("data", (chunk) => this._onData(chunk));
    socket.on("error", (err) => this._close(this._closeError ?? err));
    socket.on("end", () => this._close(null));
    socket.on("close", () => this._close(null));
    // Idle connections must not keep the process alive; calls in flight ref() it (see register).
    socket.unref();

    socket.write(PREFACE);
    const hello = JSON.stringify({ protocol: PROTOCOL_VERSION, client: clientName });
    socket.write(encodeFrame(Kind.HELLO, 0n, hello));
  }

  /** The largest frame this side may send: the server's `max_frame`, or the default until WELCOME. */
  get maxFrame() {
    return this.decoder.maxFrame;
  }

  get alive() {
    return !this.closed && !this.socket.destroyed && this.socket.writable;
  }

  register(id, call) {
    this.calls.set(id, call);
    if (this.calls.size === 1) this.socket.ref();
  }

  unregister(id) {
    if (this.calls.delete(id) && this.calls.size === 0 && !this.closed) this.socket.unref();
  }

  /** Write one frame whose body is a Buffer (or nothing). */
  send(kind, id, body) {
    if (!this.alive) return false;
    this.socket.write(encodeFrame(kind, id, body));
    return true;
  }

  /**
   * Write one frame whose body is `text` (UTF-8, `byteLength` bytes): header and body are
   * encoded into one buffer, so a request costs one write and no intermediate copy.
   */
  sendText(kind, id, text, byteLength) {
    if (!this.alive) return false;
    const frame = Buffer.allocUnsafe(HEADER_BYTES + byteLength);
    encodeHeader(kind, id, byteLength).copy(frame, 0);
    frame.write(text, HEADER_BYTES, byteLength, "utf8");
    this.socket.write(frame);
    return true;
  }

  /** Close the socket; calls in flight fail with `reason` (a SidegateError) or a connection error. */
  destroy(reason) {
    this._close(reason ?? null);
  }

  _onData(chunk) {
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      const reason =
        err instanceof FrameError
          ? new ProtocolError(`sidegate sent an unreadable frame: ${err.message}`, { code: err.code, cause: err })
          : err;
      this._close(reason);
      return;
    }
    for (const frame of frames) {
      if (this.closed) return;
      this._dispatch(frame);
    }
  }

  _dispatch({ kind, id, body }) {
    if (kind === Kind.PING) {
      this.send(Kind.PONG, id, body);
      return;
    }
    if (id === 0n) {
      this._connectionFrame(kind, body);
      return;
    }
    // Frames for ids no longer tracked (cancelled, timed out) are dropped (protocol §6.4).
    const call = this.calls.get(id);
    if (call) call.onFrame(kind, body);
  }

  _connectionFrame(kind, body) {
    if (kind === Kind.WELCOME) {
      try {
        this.welcome = JSON.parse(body.toString("utf8"));
      } catch {
        this.welcome = {};
      }
      const max = this.welcome && this.welcome.max_frame;
      if (Number.isInteger(max) && max >= 20) this.decoder.maxFrame = max;
    } else if (kind === Kind.ERROR) {
      let parsed = null;
      try {
        parsed = JSON.parse(body.toString("utf8"));
      } catch {
        // an unreadable connection error is still a connection error
      }
      this._close(errorFromFrame(parsed, { connectionLevel: true }));
    }
    // PONG and anything newer are ignored.
  }

  _close(reason) {
    if (this.closed) return;
    this.closed = true;
    this._closeError = reason;
    this.socket.destroy();
    const calls = [...this.calls.values()];
    this.calls.clear();
    for (const call of calls) call.onClose(() => this._errorForCall(reason));
  }

  /** A fresh error per call, so each rejection has its own identity. */
  _errorForCall(reason) {
    if (reason instanceof ProtocolError || reason instanceof ConnectionError) {
      return new reason.constructor(reason.message, { ...reason, cause: reason.cause });
    }
    const detail = reason && reason.message ? `: ${reason.message}` : "";
    return new ConnectionError(
      `the connection to sidegate at ${this.socketPath} closed while the request was in flight${detail}`,
      { code: (reason && reason.code) || "connection_lost", cause: reason ?? undefined },
    );
  }
}
