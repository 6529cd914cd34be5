// Types of `sidegate/frame`: the native protocol's frame codec (docs/protocol.md §1–§3).
// Buffer is typed structurally as Uint8Array so these types need no @types/node.

type Bytes = Uint8Array;

export declare const PREFACE: Bytes;
export declare const HEADER_BYTES: 24;
export declare const DEFAULT_MAX_FRAME: number;
export declare const PROTOCOL_VERSION: 1;

export declare const Kind: Readonly<{
  HELLO: 0;
  WELCOME: 1;
  REQUEST: 2;
  RESPONSE: 3;
  CHUNK: 4;
  END: 5;
  ERROR: 6;
  CANCEL: 7;
  PING: 8;
  PONG: 9;
}>;

export interface Frame {
  kind: number;
  /** u64 request id; 0 = the connection itself. */
  id: bigint;
  body: Bytes;
}

/** Framing broken: `code` is `malformed_frame` or `frame_too_large`. */
export declare class FrameError extends Error {
  constructor(code: string, message: string);
  code: string;
}

export declare function encodeHeader(kind: number, id: bigint, bodyLength: number): Bytes;
export declare function encodeFrame(kind: number, id: bigint, body?: Bytes | string | null): Bytes;

export declare class FrameDecoder {
  constructor(options?: { maxFrame?: number });
  /** Largest `len` accepted (the server's `max_frame`). */
  maxFrame: number;
  readonly bufferedBytes: number;
  /** Frames completed by this chunk; throws FrameError when framing breaks. */
  push(chunk: Bytes): Frame[];
}
