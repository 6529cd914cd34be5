// The official `openai` npm SDK's Responses API pointed at sidegate, as the README shows it
// (undici Agent with connect.socketPath), with each vendor kind behind it: the OpenAI chat,
// Anthropic and Gemini fakes (translated) and the fake's OpenAI Responses API (`api =
// "responses"`: a passthrough, whose ids the fake mints as `resp_fake01_<n>`).
// responses.create, responses.stream, a function-call round trip, previous_response_id
// across vendors, retrieve/delete, a failure after the stream started (sidegate's
// `response.failed`; a passthrough's closing `error` event); and two callers, told apart by
// their keys over loopback TCP (on the socket the peer's uid is the caller, and one test
// process has one uid), where the second gets a 404 for the first's stored response.

import { describe, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import OpenAI from "openai";
import { Agent, fetch as undiciFetch } from "undici";
import {
  FAKE_VENDOR_BIN,
  SIDEGATE_BIN,
  makeDaemon,
  pollUntil,
  skipUnless,
  startFakeVendor,
  withSetup,
} from "./helpers/processes.js";

const TIMEOUT = { timeout: 120000 };
const ALICE = "sk-alice-0123456789abcdef";
const BOB = "sk-bob-0123456789abcdef0";
const VENDOR_ID = "resp_fake01_";
// vendor kind -> [provider, text model, tool model]
const KINDS = {
  "openai-chat": ["fake", "gpt", "gpt-tools"],
  anthropic: ["claude", "haiku", "claude-tools"],
  gemini: ["gem", "flash", "gem-tools"],
  "openai-responses": ["oai", "gpt-r", "gpt-r-tools"],
};
const TOOLS = [
  {
    type: "function",
    name: "get_weather",
    description: "Weather for a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    strict: false,
  },
];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function canConnectTcp(port) {
  return new Promise((resolve) => {
    const s = net.createConnection({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** The id a translated answer gets from sidegate, or a passthrough one from the vendor. */
function assertIdSource(kind, id) {
  assert.ok(id.startsWith("resp_"), id);
  assert.equal(id.startsWith(VENDOR_ID), kind === "openai-responses", `${kind}: ${id}`);
}

describe("official openai SDK, Responses API", { skip: skipUnless(SIDEGATE_BIN, FAKE_VENDOR_BIN), ...TIMEOUT }, () => {
  let vendor;
  let daemon;
  let dispatcher;
  let client;
  let port;
  const tcp = (apiKey) => new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey, maxRetries: 0 });

  const test = withSetup(async () => {
    vendor = await startFakeVendor();
    port = await freePort();
    daemon = makeDaemon(
      (socketPath) => `
[server]
socket = "${socketPath}"
state_dir = "${socketPath}.state"
http = "127.0.0.1:${port}"

[providers.fake]
kind = "openai-compatible"
base_url = "${vendor.baseUrl}"

[providers.claude]
kind = "anthropic"
base_url = "http://${vendor.addr}"
api_key = "sk-ant-fake"

[providers.gem]
kind = "gemini"
base_url = "http://${vendor.addr}"
api_key = "gem-fake"

[providers.oai]
kind = "openai"
base_url = "${vendor.baseUrl}"
api_key = "sk-fake"
api = "responses"

${Object.entries({
  gpt: ["fake", "echo-model"],
  "gpt-tools": ["fake", "tool-call"],
  haiku: ["claude", "claude-3-5-haiku-latest"],
  "claude-tools": ["claude", "tool-call"],
  flash: ["gem", "gemini-2.0-flash"],
  "gem-tools": ["gem", "tool-call"],
  "gpt-r": ["oai", "gpt-5-mini"],
  "gpt-r-tools": ["oai", "tool-call"],
})
  .map(([name, [provider, model]]) => `[models.${name}]\nprovider = "${provider}"\nmodel = "${model}"\n`)
  .join("\n")}
[callers.alice]
keys = ["${ALICE}"]

[callers.bob]
keys = ["${BOB}"]
`,
    );
    await daemon.start();
    await pollUntil(() => canConnectTcp(port), { what: "sidegate's TCP listener" });
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
    await vendor?.stop();
  });

  for (const [kind, [provider, model]] of Object.entries(KINDS)) {
    test(`responses.create (${kind})`, async () => {
      const { data: r, response } = await client.responses
        .create({ model, instructions: "Be terse.", input: "hello from node 👋" })
        .withResponse();
      assert.equal(response.headers.get("x-sidegate-provider"), provider);
      assert.equal(r.object, "response");
      assert.equal(r.status, "completed");
      assert.equal(r.output_text, "hello from node 👋");
      assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
      assertIdSource(kind, r.id);
    });

    test(`responses.stream (${kind})`, async () => {
      const stream = client.responses.stream({ model, input: "streamed to node" });
      const types = [];
      let text = "";
      for await (const event of stream) {
        types.push(event.type);
        if (event.type === "response.output_text.delta") text += event.delta;
      }
      const final = await stream.finalResponse();
      assert.equal(types[0], "response.created");
      assert.equal(types.at(-1), "response.completed");
      assert.equal(text, "streamed to node");
      assert.equal(final.output_text, "streamed to node");
      assert.ok(final.completed_at, "response.completed carries completed_at");
      assertIdSource(kind, final.id);
      const stored = await client.responses.retrieve(final.id);
      assert.equal(stored.output_text, "streamed to node", "a finished stream is stored");
    });
  }

  for (const kind of ["anthropic", "openai-responses"]) {
    test(`a function-call round trip (${kind})`, async () => {
      const model = KINDS[kind][2];
      const first = await client.responses.create({ model, input: "weather in Paris?", tools: TOOLS });
      const calls = first.output.filter((i) => i.type === "function_call");
      assert.equal(calls[0]?.name, "get_weather", JSON.stringify(first.output));
      const second = await client.responses.create({
        model,
        previous_response_id: first.id,
        tools: TOOLS,
        input: [{ type: "function_call_output", call_id: calls[0].call_id, output: "18C and sunny" }],
      });
      assert.equal(second.status, "completed");
      assert.ok(second.output_text.includes("18C and sunny"), second.output_text);
    });
  }

  test("previous_response_id across vendor kinds, retrieve and delete", async () => {
    const first = await client.responses.create({ model: "gpt-r", input: "my name is Ada" });
    assert.ok(first.id.startsWith(VENDOR_ID), first.id);
    const second = await client.responses.create({ model: "haiku", previous_response_id: first.id, input: "what is my name?" });
    // the Anthropic fake got the stored turn (the Responses upstream's) before the new input
    const last = await (await fetch(`http://${vendor.addr}/_fake/last`)).json();
    assert.equal(last.path, "/v1/messages");
    const messages = last.body.messages;
    assert.equal(messages.length, 3, JSON.stringify(messages));
    assert.match(JSON.stringify(messages[0]), /my name is Ada/);
    assert.equal(messages[1].role, "assistant");
    assert.match(JSON.stringify(messages[2]), /what is my name\?/);
    const third = await client.responses.create({ model: "flash", previous_response_id: second.id, input: "once more" });
    assert.equal(third.previous_response_id, second.id);
    assert.equal((await client.responses.retrieve(first.id)).output_text, "my name is Ada");
    await client.responses.delete(first.id);
    await assert.rejects(client.responses.retrieve(first.id), (e) => e instanceof OpenAI.NotFoundError);
  });

  test("a second caller gets 404 for the first caller's stored response", async () => {
    for (const model of ["gpt", "gpt-r"]) {
      const r = await tcp(ALICE).responses.create({ model, input: "alice's secret" });
      await assert.rejects(tcp(BOB).responses.retrieve(r.id), (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
      await assert.rejects(tcp(BOB).responses.delete(r.id), (e) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(
        tcp(BOB).responses.create({ model, previous_response_id: r.id, input: "x" }),
        (e) => e instanceof OpenAI.BadRequestError && e.param === "previous_response_id",
      );
      assert.equal((await tcp(ALICE).responses.retrieve(r.id)).id, r.id);
    }
  });

  test("a failure after the stream started ends it: response.failed from sidegate", async () => {
    const types = [];
    for await (const e of await client.responses.create({ model: "fake/stream-error", input: "a b c", stream: true })) {
      types.push(e.type);
    }
    assert.ok(types.includes("response.output_text.delta"), `${types}`);
    assert.equal(types.at(-1), "response.failed", `${types}`);
    // the Node helper's final response is the last snapshot it saw: the failed one
    const stream = client.responses.stream({ model: "fake/stream-error", input: "a b c" });
    for await (const _ of stream);
    const final = await stream.finalResponse();
    assert.equal(final.status, "failed");
    assert.equal(final.error.code, "server_error");
  });

  test("a passthrough stream that breaks ends with an error event; the helper rejects finalResponse()", async () => {
    const events = [];
    for await (const e of await client.responses.create({ model: "oai/stream-error", input: "a b c", stream: true })) {
      events.push(e);
    }
    assert.ok(events[0].response.id.startsWith(VENDOR_ID), "the vendor's events");
    assert.ok(events.some((e) => e.type === "response.output_text.delta"), "it had started");
    const last = events.at(-1);
    assert.equal(last.type, "error", JSON.stringify(last));
    assert.equal(last.code, "server_error");
    assert.equal(last.sequence_number, events.at(-2).sequence_number + 1, "numbered after the vendor's last");
    const stream = client.responses.stream({ model: "oai/stream-error", input: "a b c" });
    for await (const _ of stream);
    await assert.rejects(stream.finalResponse(), (e) => /server had an error/.test(e.message));
  });

  test("errors are the SDK's own classes", async () => {
    await assert.rejects(
      client.responses.create({ model: "no-such-model", input: "x" }),
      (e) => e instanceof OpenAI.NotFoundError && e.code === "model_not_found",
    );
    await assert.rejects(
      client.responses.create({ model: "gpt", input: "x", tools: [{ type: "web_search" }] }),
      (e) => e instanceof OpenAI.BadRequestError,
    );
  });
});
