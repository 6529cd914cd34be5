// A scripted stand-in for the daemon's native front, for unit tests of the client's own
// logic (multiplexing, cancel, timeouts, reconnect, error mapping) without the Rust binary.
// It speaks the protocol with the client's own frame codec; the golden vectors keep that
// codec honest, and the integration tests check the real daemon.

import net from "node:net";
import os from "node:os";
import path from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { FrameDecoder, Kind, PREFACE, encodeFrame } from "../../src/frame.js";

export function tempSocketPath(name = "fake.sock") {
  const dir = mkdtempSync(path.join(os.tmpdir(), "sidegate-node-"));
  return { dir, socketPath: path.join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * @param {object} [options]
 * @param {(req: object, reply: Reply, info: object) => void} [options.onRequest]
 * @param {number} [options.maxFrame] advertised in WELCOME
 * @param {string} [options.socketPath]
 */
export async function startFakeDaemon(options = {}) {
  const tmp = options.socketPath ? null : tempSocketPath();
  const socketPath = options.socketPath ?? tmp.socketPath;
  const state = {
    socketPath,
    connections: [],
    requests: [],
    cancels: [],
    hellos: [],
    pongs: [],
    received: [],
    onRequest: options.onRequest ?? ((req, reply) => reply.response({ echo: req })),
  };

  const server = net.createServer((sock) => {
    const conn = { sock, decoder: new FrameDecoder(), preface: null };
    state.connections.push(conn);
    const send = (kind, id, body) => {
      if (!sock.destroyed) sock.write(encodeFrame(kind, id, body === undefined ? "" : body));
    };
    conn.send = send;
    sock.on("error", () => {});
    sock.on("data", (chunk) => {
      if (conn.preface === null) {
        conn.preface = chunk.subarray(0, 4);
        if (!conn.preface.equals(PREFACE)) {
          sock.destroy();
          return;
        }
        chunk = chunk.subarray(4);
      }
      for (const f of conn.decoder.push(chunk)) {
        state.received.push(f);
        const text = f.body.toString("utf8");
        if (f.kind === Kind.HELLO) {
          state.hellos.push(JSON.parse(text));
          send(
            Kind.WELCOME,
            0n,
            JSON.stringify({ protocol: 1, server: "fake/0", max_frame: options.maxFrame ?? 16777216 }),
          );
        } else if (f.kind === Kind.REQUEST) {
          const req = JSON.parse(text);
          const info = { id: f.id, conn, req };
          state.requests.push(info);
          state.onRequest(req, makeReply(send, f.id), info);
        } else if (f.kind === Kind.CANCEL) {
          state.cancels.push(f.id);
        } else if (f.kind === Kind.PONG) {
          state.pongs.push({ id: f.id, body: text });
        }
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, resolve);
  });

  return {
    ...state,
    get state() {
      return state;
    },
    setHandler(fn) {
      state.onRequest = fn;
    },
    /** Drop every client connection (as a crashed daemon would). */
    dropConnections() {
      for (const c of state.connections) c.sock.destroy();
    },
    async close() {
      for (const c of state.connections) c.sock.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
      if (tmp) tmp.cleanup();
    },
    /** Stop listening (the socket file goes away) but keep `tmp`. */
    async stopListening() {
      for (const c of state.connections) c.sock.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** @typedef {ReturnType<typeof makeReply>} Reply */
function makeReply(send, id) {
  return {
    id,
    response(body, meta = { provider: "fake", model: "fake", cache: "miss", attempts: 1 }) {
      send(Kind.RESPONSE, id, JSON.stringify({ body, meta }));
    },
    chunk(obj) {
      send(Kind.CHUNK, id, JSON.stringify(obj));
    },
    end(meta = { provider: "fake", model: "fake", cache: "miss", attempts: 1 }) {
      send(Kind.END, id, JSON.stringify({ meta }));
    },
    error(status, error, extra = {}) {
      send(Kind.ERROR, id, JSON.stringify({ status, error, ...extra }));
    },
    raw(kind, rawId, body) {
      send(kind, rawId, body);
    },
  };
}

/** Poll `fn` until it returns a truthy value; generous limits, no timed assertions. */
export async function waitFor(fn, { timeoutMs = 10000, intervalMs = 10, what = "condition" } = {}) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function chunkOf(content, extra = {}) {
  return {
    id: "chatcmpl-x",
    object: "chat.completion.chunk",
    created: 1700000000,
    model: "fake",
    choices: [{ index: 0, delta: { content }, finish_reason: null }],
    ...extra,
  };
}

export function completionOf(content) {
  return {
    id: "chatcmpl-x",
    object: "chat.completion",
    created: 1700000000,
    model: "fake",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
  };
}
