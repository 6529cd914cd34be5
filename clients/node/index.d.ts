// Types of the `sidegate` package (hand-written; checked by `npm run typecheck`).
// Request and response shapes are OpenAI's Chat Completions / Embeddings / Models shapes;
// they are typed loosely here (known fields plus an index signature), so newer OpenAI fields
// pass through without a types release.

/** The parts of AbortSignal the client uses (DOM's and Node's AbortSignal both fit). */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

export interface ClientOptions {
  /** Socket path; default: $SIDEGATE_SOCKET, else $XDG_RUNTIME_DIR/sidegate/sidegate.sock (root: /run/sidegate/sidegate.sock). */
  socketPath?: string;
  /** Default deadline of every call in ms, sent to the daemon as `timeout_ms` and enforced here. */
  timeoutMs?: number;
  /** How long to keep retrying a refused/missing socket (daemon restarting) before DaemonNotRunningError; default 2000. */
  connectTimeoutMs?: number;
  /** Sent in HELLO; default `sidegate-node/<version>`. */
  clientName?: string;
}

export interface RequestOptions {
  /** Cancels the call (a CANCEL frame reaches the daemon, which drops the vendor call). */
  signal?: AbortSignalLike;
  /** This call's deadline in ms (overrides ClientOptions.timeoutMs). */
  timeoutMs?: number;
  /** `no-cache`: skip the lookup, still store. `no-store`: neither. */
  cache?: "no-cache" | "no-store";
  /** Route to use; overrides `body.model`. */
  route?: string;
  /** Application tag for logs and the usage ledger. */
  label?: string;
  /** What a route experiment's variant sticks to instead of the caller (a conversation or user id). */
  episode?: string;
}

/** `feedback(requestId, options)`: a score, a label, or both. */
export interface FeedbackOptions {
  score?: number;
  label?: string;
  comment?: string;
  signal?: AbortSignalLike;
  timeoutMs?: number;
}

export interface FeedbackResult {
  object: "feedback";
  request_id: string;
  recorded: boolean;
  /** An earlier feedback for the same request was replaced. */
  replaced: boolean;
}

/** What happened on the daemon side (protocol §5); fields may be added. */
export interface Meta {
  request_id?: string;
  route?: string;
  /** Provider account that answered. */
  provider?: string;
  /** Deployment (configured model) that answered. */
  model?: string;
  vendor_model?: string;
  cache?: "hit" | "miss" | "bypass";
  /** Vendor calls made. */
  attempts?: number;
  latency_ms?: number;
  [key: string]: unknown;
}

export type Role = "system" | "user" | "assistant" | "tool" | "developer";

export interface ChatMessage {
  role: Role | (string & {});
  content: string | null | Array<{ type: string; [key: string]: unknown }>;
  name?: string;
  tool_call_id?: string;
  tool_calls?: ToolCall[];
  [key: string]: unknown;
}

export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface ChatRequest {
  /** A route, a configured model, or `provider/vendor-model`. */
  model: string;
  messages: ChatMessage[];
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  top_p?: number;
  stop?: string | string[];
  tools?: unknown[];
  tool_choice?: unknown;
  response_format?: unknown;
  user?: string;
  [key: string]: unknown;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  [key: string]: unknown;
}

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: { role: "assistant"; content: string | null; tool_calls?: ToolCall[]; [key: string]: unknown };
    finish_reason: string | null;
    [key: string]: unknown;
  }>;
  usage?: Usage;
  [key: string]: unknown;
}

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: Array<{
    index: number;
    delta: { role?: "assistant"; content?: string | null; tool_calls?: unknown[]; [key: string]: unknown };
    finish_reason: string | null;
    [key: string]: unknown;
  }>;
  usage?: Usage | null;
  [key: string]: unknown;
}

export interface EmbeddingsRequest {
  model: string;
  input: string | string[] | number[] | number[][];
  encoding_format?: "float" | "base64";
  dimensions?: number;
  [key: string]: unknown;
}

export interface EmbeddingsResponse {
  object: "list";
  data: Array<{ object: "embedding"; index: number; embedding: number[] | string }>;
  model: string;
  usage?: { prompt_tokens: number; total_tokens: number };
  [key: string]: unknown;
}

export interface ModelList {
  object: "list";
  data: Array<{ id: string; object: "model"; created?: number; owned_by?: string; [key: string]: unknown }>;
  [key: string]: unknown;
}

/** A result with the daemon's meta attached (non-enumerable: JSON.stringify leaves it out). */
export type WithMeta<T> = T & { readonly meta: Meta };

export declare class ChatStream implements AsyncIterableIterator<ChatCompletionChunk> {
  /** Set once the stream ended normally (END frame). */
  readonly meta: Meta | undefined;
  [Symbol.asyncIterator](): this;
  next(): Promise<IteratorResult<ChatCompletionChunk, undefined>>;
  /** What `break` calls: sends CANCEL if the stream is still running. */
  return(value?: unknown): Promise<IteratorResult<ChatCompletionChunk, undefined>>;
  throw(err?: unknown): Promise<IteratorResult<ChatCompletionChunk, undefined>>;
  /** Stop now (CANCEL); pending next() calls resolve as done. */
  cancel(): void;
}

/** The third argument of `Client.prompt`: the request options, `stream` and the rest of the body. */
export interface PromptOptions<S extends boolean = boolean> extends RequestOptions {
  /** `true`: answer with a ChatStream (as `stream()` does). Default false. */
  stream?: S;
  /** The rest of the chat body: `messages` are appended after the prompt's; `model`, ... */
  body?: Partial<ChatRequest> & Record<string, unknown>;
}

export declare class Client {
  /** An unknown option key, a wrong type or an extra argument throws a TypeError naming it. */
  constructor(options?: ClientOptions);
  /** The daemon's socket path, and optionally the other options. */
  constructor(socketPath: string, options?: Omit<ClientOptions, "socketPath">);
  readonly socketPath: string;
  readonly timeoutMs: number | undefined;
  chat(body: ChatRequest & { stream?: false }, options?: RequestOptions): Promise<WithMeta<ChatCompletion>>;
  /** `stream: true` is added to the body. The request is sent when iteration starts. */
  stream(body: ChatRequest, options?: RequestOptions): ChatStream;
  /**
   * A chat rendered by the daemon from the prompt file `id` ("greet" = its latest version,
   * "greet@2" = that version) with `variables`.
   */
  prompt(id: string, variables: Record<string, unknown> | undefined, options: PromptOptions<true> & { stream: true }): ChatStream;
  prompt(id: string, variables?: Record<string, unknown>, options?: PromptOptions<false>): Promise<WithMeta<ChatCompletion>>;
  embeddings(body: EmbeddingsRequest, options?: RequestOptions): Promise<WithMeta<EmbeddingsResponse>>;
  /** Record an outcome for an answered request (`answer.meta.request_id`). */
  feedback(requestId: string, options: FeedbackOptions): Promise<WithMeta<FeedbackResult>>;
  models(options?: RequestOptions): Promise<WithMeta<ModelList>>;
  /** The daemon's status (what `sidegate status` prints). */
  status(options?: RequestOptions): Promise<WithMeta<Record<string, unknown>>>;
  /** Close the connection; calls in flight fail with ConnectionError, later calls reject. */
  close(): Promise<void>;
}

export interface ErrorFields {
  status?: number;
  code?: string | null;
  type?: string | null;
  param?: string | null;
  retryAfter?: number;
  meta?: Meta;
  cause?: unknown;
}

/** Every error the client rejects with (except TypeError for misuse). */
export declare class SidegateError extends Error {
  constructor(message: string, fields?: ErrorFields);
  /** HTTP status the same failure gets on the HTTP front; undefined for local failures. */
  status: number | undefined;
  code: string | null;
  type: string | null;
  param: string | null;
  /** Seconds to wait before retrying, when the daemon says so. */
  retryAfter: number | undefined;
  meta: Meta | undefined;
}
/** The connection failed or dropped; requests in flight on it were not resent. */
export declare class ConnectionError extends SidegateError {}
/** Nothing listens on the socket; the message names the path and suggests `sidegate serve`. */
export declare class DaemonNotRunningError extends ConnectionError {
  constructor(socketPath: string, cause?: unknown);
  socketPath: string;
}
/** A connection-level ERROR frame (id 0) or unreadable bytes; the connection was closed. */
export declare class ProtocolError extends SidegateError {}
/** The request is wrong (400, 404, 409, 413, 422); 413 is one as is, the others a subclass. */
export declare class InvalidRequestError extends SidegateError {}
/** 400. */
export declare class BadRequestError extends InvalidRequestError {}
/** 404: unknown model or route. */
export declare class NotFoundError extends InvalidRequestError {}
/** 409. */
export declare class ConflictError extends InvalidRequestError {}
/** 422. */
export declare class UnprocessableEntityError extends InvalidRequestError {}
/** 401. */
export declare class AuthenticationError extends SidegateError {}
/** 403: this caller may not use that route or model. */
export declare class PermissionDeniedError extends AuthenticationError {}
/** 429 (rate limit, quota). */
export declare class RateLimitError extends SidegateError {}
/** 429 `budget_exceeded`. */
export declare class BudgetExceededError extends RateLimitError {}
/** 500 and any other 5xx without a class of its own. */
export declare class InternalServerError extends SidegateError {}
export interface VendorAttempt {
  deployment?: string;
  provider?: string;
  outcome?: string;
  status?: number | null;
  message?: string;
  latency_ms?: number;
  [key: string]: unknown;
}
/** 502, 503 (and 504, as GatewayTimeoutError): every candidate failed. */
export declare class AllVendorsFailedError extends InternalServerError {
  constructor(message: string, fields?: ErrorFields & { attempts?: VendorAttempt[] });
  attempts: VendorAttempt[];
}
/** 504, or a 5xx with a timeout code: no vendor answered in time. Also `instanceof SidegateTimeoutError`; `name` is "TimeoutError". */
export declare class GatewayTimeoutError extends AllVendorsFailedError {}
/** The deadline passed (client `timeoutMs`, AbortSignal.timeout(), or the daemon's timeout). `name` is "TimeoutError". */
export declare class SidegateTimeoutError extends SidegateError {}
/** Aborted through the call's AbortSignal; `cause` is the signal's reason. `name` is "AbortError". */
export declare class AbortError extends SidegateError {
  constructor(message?: string, fields?: ErrorFields);
}

/** The status -> class table used for ERROR frames (tests/vectors/errors.json). */
export declare const STATUS_CLASSES: Readonly<Record<number, typeof SidegateError>>;
/** `"<status> <code>"` -> class: rows that win over the status alone. */
export declare const CODE_CLASSES: Readonly<Record<string, typeof SidegateError>>;
/** Error codes that mean "the deadline passed". */
export declare const TIMEOUT_CODES: readonly string[];
/** The class an ERROR frame with this status and code gets. */
export declare function errorClass(
  status: number | null | undefined,
  code?: string | null,
  options?: { connectionLevel?: boolean },
): typeof SidegateError;
/** The typed error for a parsed ERROR frame body. */
export declare function errorFromFrame(body: unknown, options?: { connectionLevel?: boolean }): SidegateError;
/** Where the daemon's socket is (DESIGN §2). */
export declare function resolveSocketPath(options?: {
  socketPath?: string;
  env?: Record<string, string | undefined>;
  uid?: number;
}): string;
export declare const VERSION: string;
