// The arguments of the public Client, checked before anything reaches the socket: every
// argument is used or refused. An unknown option key, a wrong type or an extra argument is a
// TypeError that names it (a misspelt option must never be silently ignored).

const CACHE_MODES = new Set(["no-cache", "no-store"]);

export function checkTimeout(value, what) {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || Number.isNaN(value) || value <= 0) {
    throw new TypeError(`${what} must be a positive number of milliseconds (or Infinity), got ${describe(value)}`);
  }
  return value;
}

const CLIENT_OPTION_KEYS = new Set(["socketPath", "timeoutMs", "connectTimeoutMs", "clientName"]);
const REQUEST_OPTION_KEYS = new Set(["signal", "timeoutMs", "cache", "route", "label", "episode"]);
const FEEDBACK_OPTION_KEYS = new Set(["score", "label", "comment", "signal", "timeoutMs"]);

/** What a value is, for an error message: `a number (3)`, `an array`, `null`. */
function describe(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `a string (${JSON.stringify(value)})`;
  if (typeof value === "object") return "an object";
  return `${typeof value === "undefined" ? "" : "a "}${typeof value} (${String(value)})`;
}

function isPlainObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Every key of `obj` must be one this shim knows: a misspelt option is never ignored. */
function checkKeys(obj, allowed, what) {
  for (const key of Object.keys(obj)) {
    if (!allowed.has(key)) {
      throw new TypeError(`${what}: unknown option ${JSON.stringify(key)} (known: ${[...allowed].join(", ")})`);
    }
  }
}

/** At most `max` arguments: an extra one would otherwise be dropped without a word. */
function checkArity(args, max, call) {
  if (args.length > max) {
    throw new TypeError(`${call} takes at most ${max} argument${max === 1 ? "" : "s"}, got ${args.length}`);
  }
}

/**
 * The Client's calls: whether one takes a body before its options, and (`refuse`) what its
 * body must not say. Every call's arguments are checked by `callArguments` from this table.
 */
const CALLS = Object.freeze({
  chat: { body: true, refuse: (body) => body.stream === true && "chat() does not stream: use client.stream(body) instead" },
  stream: { body: true },
  embeddings: { body: true },
  models: { body: false },
  status: { body: false },
});

/**
 * `[body, options]` of a Client call, checked: at most as many arguments as it takes, a plain
 * object body (for the calls that have one), known option keys of the right types. Throws a
 * TypeError naming what is wrong.
 * @param {keyof typeof CALLS} call
 * @param {ArrayLike<unknown>} args
 */
export function callArguments(call, args) {
  const { body: hasBody, refuse } = CALLS[call];
  if (!hasBody) {
    checkArity(args, 1, `${call}(options)`);
    return [undefined, checkOptions(args[0])];
  }
  checkArity(args, 2, `${call}(body, options)`);
  const body = args[0];
  if (!isPlainObject(body)) throw new TypeError(`${call}(body): body must be an object, got ${describe(body)}`);
  const refused = refuse && refuse(body);
  if (refused) throw new TypeError(refused);
  return [body, checkOptions(args[1])];
}

const PROMPT_OPTION_KEYS = new Set([...REQUEST_OPTION_KEYS, "stream", "body"]);

/**
 * `prompt(id, variables?, options?)`, checked: a non-empty prompt id (`"greet"`, `"greet@2"`),
 * a plain object of variables (or nothing), and the request options plus `stream` (a boolean)
 * and `body` (the rest of the chat body: `messages` appended after the prompt's, `model`, ...).
 * Returns `[body, options, stream]`; `options.prompt` carries the reference to the daemon.
 * @param {ArrayLike<unknown>} args
 */
export function promptArguments(args) {
  checkArity(args, 3, "prompt(id, variables, options)");
  const [id, variables, opts] = args;
  if (typeof id !== "string") {
    throw new TypeError(`prompt(id): id must be a string such as "greet" or "greet@2", got ${describe(id)}`);
  }
  if (id.trim() === "") throw new TypeError("prompt(id): id must not be empty");
  if (variables !== undefined && variables !== null && !isPlainObject(variables)) {
    throw new TypeError(`prompt(id, variables): variables must be an object, got ${describe(variables)}`);
  }
  if (opts !== undefined && opts !== null && !isPlainObject(opts)) {
    throw new TypeError(`prompt(id, variables, options): options must be an object, got ${describe(opts)}`);
  }
  const { stream = false, body = {}, ...rest } = opts ?? {};
  checkKeys(opts ?? {}, PROMPT_OPTION_KEYS, "prompt options");
  if (typeof stream !== "boolean") throw new TypeError(`options.stream must be a boolean, got ${describe(stream)}`);
  if (!isPlainObject(body)) throw new TypeError(`options.body must be an object, got ${describe(body)}`);
  if (body.prompt !== undefined) {
    throw new TypeError("prompt(): the prompt is named by its first argument, not also by body.prompt");
  }
  if (body.stream !== undefined) throw new TypeError("prompt(): set options.stream, not body.stream");
  const checked = checkOptions(rest);
  return [body, { ...checked, prompt: { id, variables: variables ?? {} } }, stream];
}

/** Whether a `prompt(...)` call asks for a stream (read before its arguments are checked). */
export function promptWantsStream(args) {
  const opts = args[2];
  return isPlainObject(opts) && opts.stream === true;
}

/**
 * `[body, options]` of `feedback(requestId, { score, label, comment, signal, timeoutMs })`,
 * checked: a non-empty request id, a finite number `score` and/or a string `label` (at least
 * one), a string `comment`. Throws a TypeError naming what is wrong.
 * @param {ArrayLike<unknown>} args
 */
export function feedbackArguments(args) {
  checkArity(args, 2, "feedback(requestId, options)");
  const requestId = args[0];
  const opts = args[1] === undefined ? {} : args[1];
  if (typeof requestId !== "string" || requestId === "") {
    throw new TypeError(`feedback(requestId): requestId must be a non-empty string, got ${describe(requestId)}`);
  }
  if (!isPlainObject(opts)) throw new TypeError(`feedback(requestId, options): options must be an object, got ${describe(opts)}`);
  checkKeys(opts, FEEDBACK_OPTION_KEYS, "feedback options");
  checkSignal(opts.signal);
  checkTimeout(opts.timeoutMs, "options.timeoutMs");
  if (opts.score !== undefined && (typeof opts.score !== "number" || !Number.isFinite(opts.score))) {
    throw new TypeError(`options.score must be a finite number, got ${describe(opts.score)}`);
  }
  for (const key of ["label", "comment"]) {
    if (opts[key] !== undefined && typeof opts[key] !== "string") {
      throw new TypeError(`options.${key} must be a string, got ${describe(opts[key])}`);
    }
  }
  if (opts.score === undefined && opts.label === undefined) {
    throw new TypeError("feedback() needs options.score, options.label, or both");
  }
  const body = { request_id: requestId };
  for (const key of ["score", "label", "comment"]) if (opts[key] !== undefined) body[key] = opts[key];
  return [body, { signal: opts.signal, timeoutMs: opts.timeoutMs }];
}

/** `new Client()`, `new Client("/path.sock")`, `new Client({ ... })` or `new Client("/path.sock", { ... })`. */
export function clientOptions(args) {
  checkArity(args, 2, "new Client()");
  const [first, second] = args;
  let options;
  if (typeof first === "string") {
    if (second !== undefined && !isPlainObject(second)) {
      throw new TypeError(`new Client(socketPath, options): options must be an object, got ${describe(second)}`);
    }
    if (second && second.socketPath !== undefined) {
      throw new TypeError("new Client(socketPath, options): socketPath given twice");
    }
    options = { ...second, socketPath: first };
  } else if (first === undefined || first === null) {
    if (second !== undefined) throw new TypeError("new Client(options): a second argument needs a socket path first");
    options = {};
  } else if (isPlainObject(first)) {
    if (second !== undefined) throw new TypeError("new Client(options): the options object must be the only argument");
    options = first;
  } else {
    throw new TypeError(`new Client(): expected a socket path string or an options object, got ${describe(first)}`);
  }
  checkKeys(options, CLIENT_OPTION_KEYS, "new Client()");
  if (options.socketPath !== undefined && (typeof options.socketPath !== "string" || options.socketPath === "")) {
    throw new TypeError(`socketPath must be a non-empty string, got ${describe(options.socketPath)}`);
  }
  if (options.clientName !== undefined && typeof options.clientName !== "string") {
    throw new TypeError(`clientName must be a string, got ${describe(options.clientName)}`);
  }
  return options;
}

function checkSignal(signal) {
  if (signal === undefined) return;
  if (
    signal === null ||
    typeof signal !== "object" ||
    typeof signal.aborted !== "boolean" ||
    typeof signal.addEventListener !== "function"
  ) {
    throw new TypeError(`options.signal must be an AbortSignal, got ${describe(signal)}`);
  }
}

function checkOptions(opts) {
  if (opts === undefined || opts === null) return {};
  if (!isPlainObject(opts)) throw new TypeError(`request options must be an object, got ${describe(opts)}`);
  checkKeys(opts, REQUEST_OPTION_KEYS, "request options");
  checkSignal(opts.signal);
  if (opts.cache !== undefined && !CACHE_MODES.has(opts.cache)) {
    throw new TypeError(`options.cache must be "no-cache" or "no-store", got ${JSON.stringify(opts.cache)}`);
  }
  for (const key of ["route", "label", "episode"]) {
    if (opts[key] !== undefined && typeof opts[key] !== "string") {
      throw new TypeError(`options.${key} must be a string`);
    }
  }
  checkTimeout(opts.timeoutMs, "options.timeoutMs");
  return opts;
}
