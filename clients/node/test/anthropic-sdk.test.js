// The official `@anthropic-ai/sdk` pointed at sidegate's Unix socket over HTTP, as the
// top-level README shows it (undici Agent with connect.socketPath), with the Anthropic-shaped
// fake (passthrough) and the OpenAI-shaped fake (translated) behind it: create, stream, a
// tool round trip, count_tokens, typed errors.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { Agent, fetch as undiciFetch } from "undici";
import { FAKE_VENDOR_BIN, SIDEGATE_BIN, makeDaemon, skipUnless, startFakeVendor } from "./helpers/processes.js";

const TIMEOUT = { timeout: 120000 };
const WEATHER = {
  name: "weather",
  description: "Weather for a city",
  input_schema: { type: "object", properties: { q: { type: "string" } }, required: ["q"] },
};
// vendor kind -> [text route, tool route]
const VENDORS = { anthropic: ["v-claude", "t-claude"], openai: ["v-oai", "t-oai"] };

describe("official Anthropic SDK over the socket", { skip: skipUnless(SIDEGATE_BIN, FAKE_VENDOR_BIN), ...TIMEOUT }, () => {
  let vendor;
  let daemon;
  let client;
  let dispatcher;
  before(async () => {
    vendor = await startFakeVendor();
    daemon = makeDaemon(
      (socketPath) => `
[server]
socket = "${socketPath}"
state_dir = "${socketPath}.state"

[providers.claude]
kind = "anthropic"
base_url = "http://${vendor.addr}"
api_key = "sk-ant-fake"

[providers.oai]
kind = "openai-compatible"
base_url = "${vendor.baseUrl}"

[models.v-claude]
provider = "claude"
model = "claude-3-5-haiku-latest"

[models.t-claude]
provider = "claude"
model = "tool-call"

[models.v-oai]
provider = "oai"
model = "echo-model"

[models.t-oai]
provider = "oai"
model = "tool-call"
`,
    );
    await daemon.start();
    dispatcher = new Agent({ connect: { socketPath: daemon.socketPath } });
    client = new Anthropic({
      baseURL: "http://sidegate",
      apiKey: "unused",
      maxRetries: 0,
      fetch: (url, init) => undiciFetch(url, { ...init, dispatcher }),
    });
  });
  after(async () => {
    await dispatcher?.close();
    await daemon?.cleanup();
    await vendor?.stop();
  });

  for (const [kind, [model, toolModel]] of Object.entries(VENDORS)) {
    test(`create (${kind})`, async () => {
      const m = await client.messages.create({ model, max_tokens: 64, messages: [{ role: "user", content: "hi from node" }] });
      assert.equal(m.type, "message");
      assert.deepEqual(m.content, [{ type: "text", text: "hi from node" }]);
      assert.equal(m.stop_reason, "end_turn");
      assert.ok(m.usage.output_tokens > 0);
    });

    test(`stream (${kind})`, async () => {
      const stream = client.messages.stream({
        model,
        max_tokens: 64,
        messages: [{ role: "user", content: "streamed to node 🚀" }],
      });
      let text = "";
      stream.on("text", (t) => (text += t));
      const final = await stream.finalMessage();
      assert.equal(text, "streamed to node 🚀");
      assert.equal(final.stop_reason, "end_turn");
    });

    test(`a tool round trip (${kind})`, async () => {
      const messages = [{ role: "user", content: "Paris" }];
      const stream = client.messages.stream({ model: toolModel, max_tokens: 64, tools: [WEATHER], messages });
      const first = await stream.finalMessage();
      assert.equal(first.stop_reason, "tool_use");
      assert.deepEqual(
        first.content.map((b) => b.type),
        ["text", "tool_use"],
      );
      const call = first.content[1];
      assert.equal(call.name, "weather");
      assert.deepEqual(call.input, { q: "Paris" });
      messages.push({ role: "assistant", content: first.content });
      messages.push({ role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "21C" }] });
      const second = await client.messages.create({ model: toolModel, max_tokens: 64, tools: [WEATHER], messages });
      assert.equal(second.stop_reason, "end_turn");
      assert.equal(second.content[0].type, "text");
    });
  }

  test("count_tokens: Anthropic's own count, or sidegate's estimate", async () => {
    const messages = [{ role: "user", content: "four words right here" }];
    const vendorCount = await client.messages.countTokens({ model: "v-claude", messages });
    assert.equal(vendorCount.input_tokens, 1004);
    const estimate = await client.messages.countTokens({ model: "v-oai", messages });
    assert.ok(estimate.input_tokens > 0 && estimate.input_tokens < 1000, String(estimate.input_tokens));
  });

  test("errors are the SDK's own classes", async () => {
    await assert.rejects(
      client.messages.create({ model: "no-such-model", max_tokens: 5, messages: [{ role: "user", content: "x" }] }),
      (e) =>
        e instanceof Anthropic.NotFoundError && e.error?.error?.type === "not_found_error" && Boolean(e.requestID),
    );
    await assert.rejects(
      client.messages.create({ model: "v-claude", max_tokens: 5, messages: [{ role: "user", content: [{ type: "bogus" }] }] }),
      (e) => e instanceof Anthropic.BadRequestError && e.error?.error?.type === "invalid_request_error",
    );
  });
});
