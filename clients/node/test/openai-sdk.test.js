// The official `openai` npm SDK pointed at sidegate's Unix socket over HTTP, exactly as the
// top-level README shows it (undici Agent with connect.socketPath): chat, stream, an error.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { Agent, fetch as undiciFetch } from "undici";
import { SIDEGATE_BIN, makeDaemon, skipUnless } from "./helpers/processes.js";

const TIMEOUT = { timeout: 120000 };

describe("official openai SDK over the socket", { skip: skipUnless(SIDEGATE_BIN), ...TIMEOUT }, () => {
  let daemon;
  let client;
  let dispatcher;
  before(async () => {
    daemon = makeDaemon(
      (socketPath) => `
[server]
socket = "${socketPath}"
state_dir = "${socketPath}.state"

[providers.mock]
kind = "mock"

[models.echo]
provider = "mock"
model = "echo"

[routes.default]
targets = ["echo"]
`,
    );
    await daemon.start();
    // the README's recipe, verbatim but for the socket path
    dispatcher = new Agent({ connect: { socketPath: daemon.socketPath } });
    client = new OpenAI({
      baseURL: "http://sidegate/v1",
      apiKey: "unused",
      maxRetries: 0,
      fetch: (url, init) => undiciFetch(url, { ...init, dispatcher }),
    });
  });
  after(async () => {
    await dispatcher?.close();
    await daemon?.cleanup();
  });

  test("chat", async () => {
    const r = await client.chat.completions.create({ model: "default", messages: [{ role: "user", content: "hi from node" }] });
    assert.equal(r.choices[0].message.content, "hi from node");
    assert.equal(r.choices[0].finish_reason, "stop");
  });

  test("stream", async () => {
    const stream = await client.chat.completions.create({
      model: "default",
      stream: true,
      messages: [{ role: "user", content: "streamed to node 🚀" }],
    });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    assert.equal(text, "streamed to node 🚀");
  });

  test("errors are the SDK's own classes", async () => {
    await assert.rejects(
      client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] }),
      (e) => e instanceof OpenAI.NotFoundError && e.code === "model_not_found",
    );
  });
});
