// Typed errors of the sidegate shim, and the one table that maps a daemon ERROR frame to them.
// The table is shared with the Python shim: tests/vectors/errors.json lists its rows and the
// order they apply in, and both shims' tests check their code against it. Class names follow
// the official openai SDK (BadRequestError, NotFoundError, ...); each extends the broader class
// this shim used before (InvalidRequestError, AuthenticationError for 403), so existing
// `instanceof` checks keep matching what they matched.
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

/** 400, 404, 409, 413, 422: the request itself is wrong; retrying it unchanged will not help.
 * The parent of the status-named classes below; 413 (request too large) is one as is. */
export class InvalidRequestError extends SidegateError {}

/** 400: the body or an option is invalid (`param` names it when the daemon knows). */
export class BadRequestError extends InvalidRequestError {}

/** 404: unknown model or route (`code` `model_not_found`, ...). */
export class NotFoundError extends InvalidRequestError {}

/** 409: the request conflicts with the daemon's state. */
export class ConflictError extends InvalidRequestError {}

/** 422: well-formed, but the target cannot do it. */
export class UnprocessableEntityError extends InvalidRequestError {}

/** 401: the credentials were rejected. (A 403 is a PermissionDeniedError, which is one too.) */
export class AuthenticationError extends SidegateError {}

/** 403: this caller may not use that route or model (sidegate's `[callers]` policy). */
export class PermissionDeniedError extends AuthenticationError {}

/** 429: over a rate limit, quota or budget; see `retryAfter`. */
export class RateLimitError extends SidegateError {}

/** 429 `budget_exceeded`: the caller's spend budget for the period is used up. */
export class BudgetExceededError extends RateLimitError {}

/** 500 and any other 5xx without a class of its own. */
export class InternalServerError extends SidegateError {}

/** 502, 503: every candidate vendor failed; `attempts` lists what was tried. */
export class AllVendorsFailedError extends InternalServerError {
  constructor(message, fields = {}) {
    super(message, fields);
    /** [{deployment, provider, outcome, status, message, latency_ms}], as sent by the daemon. */
    this.attempts = Array.isArray(fields.attempts) ? fields.attempts : [];
  }
}

/** The call's deadline passed (client-side `timeoutMs`, or the daemon's own timeout). */
export class SidegateTimeoutError extends SidegateError {
  constructor(message, fields = {}) {
    // the daemon's own code (even none) is kept; a local timeout says "timeout"
    super(message, { ...fields, code: fields.code === undefined ? "timeout" : fields.code });
    this.name = "TimeoutError";
  }

  /** A GatewayTimeoutError is a timeout too (JavaScript classes have one parent). */
  static [Symbol.hasInstance](value) {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    return this === SidegateTimeoutError && value instanceof GatewayTimeoutError;
  }
}

/** 504, or a 5xx whose code is a timeout code: no vendor answered within the deadline. Both an
 * AllVendorsFailedError and (`instanceof`) a SidegateTimeoutError; `name` is "TimeoutError". */
export class GatewayTimeoutError extends AllVendorsFailedError {
  constructor(message, fields = {}) {
    super(message, fields);
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

/** HTTP status -> class, for request-level ERROR frames without a more specific row. */
export const STATUS_CLASSES = Object.freeze({
  400: BadRequestError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  408: SidegateTimeoutError,
  409: ConflictError,
  413: InvalidRequestError,
  422: UnprocessableEntityError,
  429: RateLimitError,
  500: InternalServerError,
  502: AllVendorsFailedError,
  503: AllVendorsFailedError,
  504: GatewayTimeoutError,
});

/** "status code" -> class: rows that win over the status alone. */
export const CODE_CLASSES = Object.freeze({
  "429 budget_exceeded": BudgetExceededError,
});

/** Error codes that mean "the deadline passed", whatever status carries them. */
export const TIMEOUT_CODES = Object.freeze(["timeout", "deadline_exceeded", "request_timeout"]);

/**
 * The class an ERROR frame with this status and code gets (errors.json "resolution").
 * @param {number|undefined} status
 * @param {string|null|undefined} code
 * @param {{ connectionLevel?: boolean }} [options]
 */
export function errorClass(status, code, options = {}) {
  if (options.connectionLevel) return ProtocolError;
  if (status === undefined || status === null) return SidegateError;
  if (typeof code === "string") {
    const byCode = CODE_CLASSES[`${status} ${code}`];
    if (byCode) return byCode;
    if (TIMEOUT_CODES.includes(code)) return status >= 500 ? GatewayTimeoutError : SidegateTimeoutError;
  }
  return STATUS_CLASSES[status] ?? (status >= 500 ? InternalServerError : SidegateError);
}

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
  const Class = errorClass(status, fields.code, options);
  return new Class(message, fields);
}
