// Compiled by `npm run typecheck` (tsc --noEmit): the README's examples must type-check
// against index.d.ts through the package's own "exports" (self-reference by name).

import {
  AbortError,
  AllVendorsFailedError,
  BudgetExceededError,
  Client,
  GatewayTimeoutError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  SidegateError,
  type AbortSignalLike,
  type ChatCompletionChunk,
  type Meta,
} from "sidegate";
import { FrameDecoder, Kind, encodeFrame } from "sidegate/frame";

declare const signal: AbortSignalLike;

export async function examples(): Promise<void> {
  const c = new Client({ socketPath: "/run/sidegate/sidegate.sock", timeoutMs: 30_000 });
  const r = await c.chat({ model: "fast", messages: [{ role: "user", content: "hi" }] });
  const content: string | null = r.choices[0].message.content;
  const meta: Meta = r.meta;
  const provider: string | undefined = meta.provider;
  void content;
  void provider;

  const s = c.stream({ model: "fast", messages: [{ role: "user", content: "hi" }] }, { signal, cache: "no-store" });
  for await (const chunk of s) {
    const ch: ChatCompletionChunk = chunk;
    const delta: string | null | undefined = ch.choices[0]?.delta.content;
    void delta;
  }
  const endMeta: Meta | undefined = s.meta;
  void endMeta;

  await c.chat({ model: "x", messages: [] }, { route: "fast", label: "job", timeoutMs: 5000, cache: "no-cache" });
  const greeted = await c.prompt("greet@2", { who: "Ada" }, { body: { messages: [{ role: "user", content: "and?" }] } });
  const greeting: string | null = greeted.choices[0].message.content;
  void greeting;
  for await (const chunk of c.prompt("greet", { who: "Bo" }, { stream: true, signal })) {
    const ch: ChatCompletionChunk = chunk;
    void ch;
  }
  const e = await c.embeddings({ model: "embed", input: ["a", "b"] });
  const vec: number[] | string = e.data[0].embedding;
  void vec;
  const models = await c.models();
  const ids: string[] = models.data.map((m) => m.id);
  void ids;
  await c.status();
  const fb = await c.feedback("sg-1", { score: 0.5, label: "good", comment: "fine" });
  const recorded: boolean = fb.recorded;
  void recorded;
  await c.chat({ model: "chat", messages: [] }, { episode: "conv-1" });

  try {
    await c.chat({ model: "fast", messages: [] });
  } catch (err) {
    if (err instanceof RateLimitError) {
      const after: number | undefined = err.retryAfter;
      void after;
    } else if (err instanceof AllVendorsFailedError) {
      const outcomes = err.attempts.map((a) => a.outcome);
      void outcomes;
    } else if (err instanceof AbortError) {
      // aborted
    } else if (err instanceof SidegateError) {
      const status: number | undefined = err.status;
      const code: string | null = err.code;
      void status;
      void code;
    }
  }
  await c.close();

  const byPath = new Client("/run/sidegate/sidegate.sock");
  const byPathWithOptions = new Client("/run/sidegate/sidegate.sock", { timeoutMs: 1000 });
  void byPath;
  void byPathWithOptions;
  try {
    await c.models();
  } catch (err) {
    if (err instanceof BudgetExceededError || err instanceof PermissionDeniedError || err instanceof NotFoundError) {
      const code: string | null = err.code;
      void code;
    } else if (err instanceof GatewayTimeoutError) {
      const tried = err.attempts.length;
      void tried;
    }
  }
  // @ts-expect-error socketPath is the first argument already
  void new Client("/a.sock", { socketPath: "/b.sock" });

  // @ts-expect-error cache accepts only "no-cache" | "no-store"
  await c.chat({ model: "fast", messages: [] }, { cache: "sometimes" });

  const frames = new FrameDecoder().push(encodeFrame(Kind.PING, 9n));
  const id: bigint = frames[0].id;
  void id;
}
