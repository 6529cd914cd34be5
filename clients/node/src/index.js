// sidegate: Node.js client of the sidegate daemon's native protocol.
//
//   import { Client } from "sidegate";
//   const c = new Client();
//   const r = await c.chat({ model: "fast", messages: [{ role: "user", content: "hi" }] });
//   r.choices[0].message.content; r.meta.provider;
//
// Module map: client.js (Client, ChatStream, per-call deadlines and cancel) -> connection.js
// (socket, handshake, reconnect, demultiplexing by id) -> frame.js (bytes); arguments.js (what
// the Client is given, checked); errors.js (typed errors and the status table shared with the
// Python shim); discovery.js (where the socket is).

export { Client, ChatStream } from "./client.js";
export {
  SidegateError,
  ConnectionError,
  DaemonNotRunningError,
  ProtocolError,
  InvalidRequestError,
  BadRequestError,
  NotFoundError,
  ConflictError,
  UnprocessableEntityError,
  AuthenticationError,
  PermissionDeniedError,
  RateLimitError,
  BudgetExceededError,
  InternalServerError,
  AllVendorsFailedError,
  GatewayTimeoutError,
  SidegateTimeoutError,
  AbortError,
  STATUS_CLASSES,
  CODE_CLASSES,
  TIMEOUT_CODES,
  errorClass,
  errorFromFrame,
} from "./errors.js";
export { resolveSocketPath } from "./discovery.js";
export { VERSION } from "./version.js";
