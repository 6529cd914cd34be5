// Typed errors of the sidegate shim, and the one table that maps a daemon ERROR frame to them.
//
// Every error the client rejects with is a SidegateError, so `catch (e) { if (e instanceof
// SidegateError) ... }` sees all of them; subclasses say what kind of failure it was.
// The daemon's ERROR body (docs/protocol.md §3, §7) is
//   {"status": 429, "error": {"message", "type", "code", "param"}, "retry_after": 1.5, "meta": {...}}

export class SidegateError extends Error {
  /**
   * @param {string} message
   * @param {{ status?: number, code?: string|null, type?: string|null, param?: string|null,
   *           retryAfter?: number, meta?: object, cause?: unknown }} [fields]
   */
  constructor(message, fields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = new.target.name;
    /** HTTP status the same failure gets on the HTTP front (undefined for local failures). */
    this.status = fields.status;
    /** Machine-readable code: the daemon's `error.code`, or a local one such as `timeout`. */
    this.code = fields.code ?? null;
    /** OpenAI error type, e.g. `invalid_request_error`. */
    this.type = fields.type ?? null;
    /** The request parameter at fault, when the daemon names one. */
    this.param = fields.param ?? null;
    /** Seconds to wait before retrying, when the daemon says so (429, 503). */
    this.retryAfter = fields.retryAfter;
    /** What happened on the daemon side (provider, model, attempts, ...), when known. */
    this.meta = fields.meta;
  }
}

/** The connection to the daemon failed or dropped; requests in flight on it are not resent. */
export class ConnectionError extends SidegateError {}

/** Nothing listens on the socket (missing file or connection refused). */
export class DaemonNotRunningError extends ConnectionError {
  constructor(socketPath, cause) {
    const why = cause && cause.code ? ` (${cause.code})` : "";
    super(
      `sidegate daemon is not running: cannot connect to ${socketPath}${why}. ` +
        "Start it with `sidegate serve`, or point the client at the right socket " +
        "(new Client({ socketPath }) or SIDEGATE_SOCKET).",
      { code: "daemon_not_running", cause },
    );
    this.socketPath = socketPath;
  }
}

/** A connection-level ERROR frame (id 0) or bytes that break the framing; the connection is closed. */
export class ProtocolError extends SidegateError {}

/** 400, 404, 413, 422: the request itself is wrong; retrying it unchanged will not help. */
export class InvalidRequestError extends SidegateError {}

/** 401, 403: the caller is not allowed (by sidegate's callers policy or by the vendor). */
export class AuthenticationError extends SidegateError {}

/** 429: over a rate limit, quota or budget; see `retryAfter`. */
export class RateLimitError extends SidegateError {}

/** 502, 503, 504: every candidate vendor failed; `attempts` lists what was tried. */
export class AllVendorsFailedError extends SidegateError {
  constructor(message, fields = {}) {
    super(message, fields);
    /** [{deployment, provider, outcome, status, message, latency_ms}], as sent by the daemon. */
    this.attempts = Array.isArray(fields.attempts) ? fields.attempts : [];
  }
}

/** The call's deadline passed (client-side `timeoutMs`, or the daemon's own timeout). */
export class SidegateTimeoutError extends SidegateError {
  constructor(message, fields = {}) {
    super(message, { ...fields, code: fields.code ?? "timeout" });
    this.name = "TimeoutError";
  }
}

/** The call was aborted through its AbortSignal; `cause` is the signal's reason. */
export class AbortError extends SidegateError {
  constructor(message = "the request was aborted", fields = {}) {
    super(message, { ...fields, code: fields.code ?? "aborted" });
    this.name = "AbortError";
  }
}

/** The one status -> class table. Anything not listed is a plain SidegateError. */
export const STATUS_CLASSES = Object.freeze({
  400: InvalidRequestError,
  401: AuthenticationError,
  403: AuthenticationError,
  404: InvalidRequestError,
  408: SidegateTimeoutError,
  413: InvalidRequestError,
  422: InvalidRequestError,
  429: RateLimitError,
  502: AllVendorsFailedError,
  503: AllVendorsFailedError,
  504: AllVendorsFailedError,
});

/** Error codes that mean "the deadline passed", whatever the status (the daemon uses 504). */
const TIMEOUT_CODES = new Set(["timeout", "deadline_exceeded", "request_timeout"]);

function optionalNumber(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/**
 * The error for a daemon ERROR frame body (already parsed JSON).
 * @param {any} frame
 * @param {{ connectionLevel?: boolean }} [options] true for id 0: a ProtocolError.
 */
export function errorFromFrame(frame, options = {}) {
  const body = frame && typeof frame === "object" ? frame : {};
  const error = body.error && typeof body.error === "object" ? body.error : {};
  const status = optionalNumber(body.status);
  const fields = {
    status,
    code: typeof error.code === "string" ? error.code : null,
    type: typeof error.type === "string" ? error.type : null,
    param: typeof error.param === "string" ? error.param : null,
    retryAfter: optionalNumber(body.retry_after),
    meta: body.meta && typeof body.meta === "object" ? body.meta : undefined,
    attempts: error.attempts ?? body.attempts,
  };
  const message =
    typeof error.message === "string" && error.message !== ""
      ? error.message
      : `sidegate error${status === undefined ? "" : ` ${status}`}`;
  let Class;
  if (options.connectionLevel) Class = ProtocolError;
  else if (fields.code !== null && TIMEOUT_CODES.has(fields.code)) Class = SidegateTimeoutError;
  else Class = STATUS_CLASSES[status] ?? SidegateError;
  return new Class(message, fields);
}
