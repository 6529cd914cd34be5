"""Every OpenAI-shaped answer sidegate sends validates against OpenAI's published OpenAPI
description (../shared/specs/openai-openapi.yaml): chat completions whole and streamed (every
chunk), tool calls, embeddings, the model list and sidegate's own error bodies, from every
upstream kind (the OpenAI-style fake as `openai` and `openai-compatible`, the Anthropic and
Gemini fakes, the mock provider). Bodies are read raw over HTTP, not through an SDK, so
nothing is forgiven on the way; the same bodies over the native protocol are checked at the
end. test_openapi_checker.py shows the checker rejects what the spec rejects."""

import json
import os
import urllib.error
import urllib.request

import pytest

import openapi_schema as oas

KEY = "schema-test-caller-key-0123456789"
MAX_BODY = 65536


@pytest.fixture(scope="module")
def gw(sidegate_factory, fake_providers):
    return sidegate_factory(
        fake_providers("mock", "fake", "oai", "claude", "gem", "azure")
        + f"""
[models.echo]
provider = "mock"
model = "echo"

[models.down-fake]
provider = "fake"
model = "fail-500"

[models.down-oai]
provider = "oai"
model = "fail-500#b"

[models.busy-fake]
provider = "fake"
model = "fail-429"

[models.busy-claude]
provider = "claude"
model = "fail-429"

[models.cache-text]
provider = "fake"
model = "cached"

[models.cache-tools]
provider = "claude"
model = "tool-call"

[routes.cached-text]
targets = ["cache-text"]
cache = {{ ttl = "10m" }}

[routes.cached-tools]
targets = ["cache-tools"]
cache = {{ ttl = "10m" }}

[routes.all-down]
targets = ["down-fake", "down-oai"]

[routes.all-busy]
targets = ["busy-fake", "busy-claude"]

[callers.narrow]
keys = ["{KEY}"]
routes = ["echo"]
""",
        server=f"max_body_bytes = {MAX_BODY}",
    )


def http(gw, method, path, body=None, raw=None, headers=None):
    """One request; returns (status, headers, body bytes), errors included."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(gw["http"] + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def sse_events(gw, body, cache=None):
    """The JSON of every `data:` line of a streamed chat completion (before `[DONE]`); with
    `cache`, asserts the answer's `x-sidegate-cache`."""
    req = urllib.request.Request(gw["http"] + "/v1/chat/completions", data=json.dumps(body).encode(), method="POST")
    req.add_header("content-type", "application/json")
    events = []
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.headers.get("content-type", "").startswith("text/event-stream")
        if cache is not None:
            assert r.headers["x-sidegate-cache"] == cache
        for line in r:
            line = line.decode().rstrip("\r\n")
            if not line.startswith("data:"):
                continue
            data = line[len("data:"):].strip()
            if data == "[DONE]":
                break
            events.append(json.loads(data))
    return events


CHAT_MODELS = ["echo", "mock/echo", "fake/some-model", "oai/gpt-4o-mini", "azure/my-deployment", "claude/any-model",
               "gem/any-model"]
TOOL_MODELS = ["claude/tool-call", "gem/tool-call"]
TOOLS = [
    {"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}},
]


def chat_body(model, **kw):
    return {"model": model, "messages": [{"role": "user", "content": "schema check 🚀"}], **kw}


# -- chat completions ---------------------------------------------------------------------------

def check_chat(spec, body):
    spec.check(oas.NAMES["chat"], body)
    return spec.undeclared(oas.NAMES["chat"], body)


# Fields sidegate adds that the spec does not name: the Anthropic cache-write count
# (documented in src/api/response.rs as an extension SDKs keep as an extra attribute).
KNOWN_EXTRAS = {"/usage/prompt_tokens_details/cache_creation_tokens"}


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_answer(spec, gw, model):
    status, headers, raw = http(gw, "POST", "/v1/chat/completions", chat_body(model))
    assert status == 200, raw
    assert headers["content-type"].startswith("application/json")
    body = json.loads(raw)
    assert set(check_chat(spec, body)) <= KNOWN_EXTRAS
    assert body["choices"][0]["message"]["content"] == "schema check 🚀"


@pytest.mark.parametrize("model", ["claude/any-model", "gem/any-model"])  # the fakes that do `n`
def test_chat_answer_with_n_two(spec, gw, model):
    status, _, raw = http(gw, "POST", "/v1/chat/completions", chat_body(model, n=2))
    assert status == 200, raw
    body = json.loads(raw)
    check_chat(spec, body)
    assert [c["index"] for c in body["choices"]] == [0, 1]


@pytest.mark.parametrize("model", TOOL_MODELS)
def test_chat_answer_with_tool_calls(spec, gw, model):
    status, _, raw = http(gw, "POST", "/v1/chat/completions", chat_body(model, tools=TOOLS))
    assert status == 200, raw
    body = json.loads(raw)
    check_chat(spec, body)
    calls = body["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["weather", "now"]
    assert body["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("route", ["cached-text", "cached-tools"])
def test_cache_hits_whole_and_streamed(spec, gw, route):
    # a hit is rebuilt from the stored answer (src/cache/replay.rs), whole and as a stream;
    # a stream's chunks are folded into a whole answer before they are stored
    first = chat_body(route, tools=TOOLS) if route == "cached-tools" else chat_body(route)
    events = sse_events(gw, {**first, "stream": True}, cache="miss")
    status, headers, raw = http(gw, "POST", "/v1/chat/completions", first)
    assert status == 200 and headers["x-sidegate-cache"] == "hit", raw
    check_chat(spec, json.loads(raw))
    events += sse_events(gw, {**first, "stream": True, "stream_options": {"include_usage": True}}, cache="hit")
    for ev in events:
        spec.check(oas.NAMES["chunk"], ev)
    second = {**first, "messages": [{"role": "user", "content": "asked whole first"}]}
    for want in ("miss", "hit"):
        status, headers, raw = http(gw, "POST", "/v1/chat/completions", second)
        assert status == 200 and headers["x-sidegate-cache"] == want, raw
        check_chat(spec, json.loads(raw))
    for ev in sse_events(gw, {**second, "stream": True}, cache="hit"):
        spec.check(oas.NAMES["chunk"], ev)


# -- chat completion chunks ---------------------------------------------------------------------

@pytest.mark.parametrize("model", CHAT_MODELS)
@pytest.mark.parametrize("usage", [False, True])
def test_every_chunk(spec, gw, model, usage):
    extra = {"stream_options": {"include_usage": True}} if usage else {}
    events = sse_events(gw, chat_body(model, stream=True, **extra))
    assert len(events) >= 3
    for ev in events:
        spec.check(oas.NAMES["chunk"], ev)
        assert set(spec.undeclared(oas.NAMES["chunk"], ev)) <= KNOWN_EXTRAS, ev
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert text == "schema check 🚀"
    if usage:
        assert events[-1]["choices"] == [] and events[-1]["usage"]["total_tokens"] > 0


@pytest.mark.parametrize("model", TOOL_MODELS)
def test_every_tool_call_chunk(spec, gw, model):
    events = sse_events(gw, chat_body(model, tools=TOOLS, stream=True))
    for ev in events:
        spec.check(oas.NAMES["chunk"], ev)
    deltas = [t for e in events if e["choices"] for t in e["choices"][0]["delta"].get("tool_calls") or []]
    assert {t["function"]["name"] for t in deltas if t.get("function", {}).get("name")} == {"weather", "now"}
    assert [e["choices"][0]["finish_reason"] for e in events if e["choices"] and e["choices"][0]["finish_reason"]] == ["tool_calls"]


@pytest.mark.parametrize("model", ["fake/stream-error", "claude/stream-error"])
def test_stream_error_event_is_an_error_body(spec, gw, model):
    events = sse_events(gw, chat_body(model, stream=True))
    *chunks, last = events
    for ev in chunks:
        spec.check(oas.NAMES["chunk"], ev)
    spec.check(oas.NAMES["error"], last)


# -- embeddings -----------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["fake/text-embedding-3-small", "oai/text-embedding-3-small",
                                   "gem/gemini-embedding-001", "mock/embed"])
@pytest.mark.parametrize("encoding", [None, "float"])
def test_embeddings(spec, gw, model, encoding):
    body = {"model": model, "input": ["a", "bb", "ccc"]}
    if encoding:
        body["encoding_format"] = encoding
    status, _, raw = http(gw, "POST", "/v1/embeddings", body)
    assert status == 200, raw
    e = json.loads(raw)
    spec.check(oas.NAMES["embeddings"], e)
    assert spec.undeclared(oas.NAMES["embeddings"], e) == []
    assert [d["index"] for d in e["data"]] == [0, 1, 2]


# -- the model list -------------------------------------------------------------------------------

def test_model_list(spec, gw):
    status, _, raw = http(gw, "GET", "/v1/models")
    assert status == 200, raw
    body = json.loads(raw)
    spec.check(oas.NAMES["models"], body)
    # sidegate's documented `sidegate` object (route or model, targets) is the one addition;
    # the spec leaves `Model` open (no `additionalProperties: false`), so it is allowed
    assert {u.rsplit("/", 1)[1] for u in spec.undeclared(oas.NAMES["models"], body)} == {"sidegate"}
    assert spec.components["Model"].get("additionalProperties") is None
    ids = {m["id"] for m in body["data"]}
    assert {"echo", "all-down", "all-busy", "cached-text"} <= ids
    for m in body["data"]:
        status, _, raw = http(gw, "GET", f"/v1/models/{m['id']}")
        assert status == 200, raw
        spec.check(oas.NAMES["model"], json.loads(raw))


# -- sidegate's own error bodies ----------------------------------------------------------------

def chat_error(gw, body=None, raw=None, path="/v1/chat/completions", method="POST", headers=None):
    status, got, data = http(gw, method, path, body=body, raw=raw, headers=headers)
    assert got.get("content-type", "").startswith("application/json"), (status, dict(got), data)
    return status, json.loads(data)


ERROR_CASES = {
    "unknown model": (dict(body=chat_body("no-such-model")), 404, "model_not_found"),
    "unknown model in path": (dict(method="GET", path="/v1/models/no-such-model"), 404, None),
    "empty messages": (dict(body={"model": "echo", "messages": []}), 400, None),
    "missing model": (dict(body={"messages": [{"role": "user", "content": "x"}]}), 400, None),
    "not json": (dict(raw=b"{not json"), 400, None),
    "wrong type": (dict(body={"model": "echo", "messages": "hello"}), 400, None),
    "too large": (dict(raw=json.dumps(chat_body("echo", pad="x" * (MAX_BODY + 1))).encode()), 413, "request_too_large"),
    "no such endpoint": (dict(body={}, path="/v1/no-such-endpoint"), 404, None),
    "no such endpoint (GET)": (dict(method="GET", path="/v2/models"), 404, None),
    "wrong method": (dict(method="GET", path="/v1/chat/completions"), 405, None),
    # one target, retried: the documented answer to repeated 5xx is 502 with the vendor's code
    "vendor 500": (dict(body=chat_body("fake/fail-500")), 502, "server_error"),
    "vendor 429": (dict(body=chat_body("fake/fail-429")), 429, None),
    "every target 500": (dict(body=chat_body("all-down")), None, None),
    "every target 429": (dict(body=chat_body("all-busy")), 429, None),
    "anthropic 400": (dict(body=chat_body("claude/bad-400")), 400, None),
    "gemini blocked": (dict(body=chat_body("gem/blocked")), 400, "content_policy_violation"),
    "embeddings unsupported": (dict(body={"model": "claude/any", "input": "x"}, path="/v1/embeddings"), 400, None),
    "caller denied": (dict(body=chat_body("fake/m"), headers={"authorization": f"Bearer {KEY}"}), 403, "route_not_allowed"),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_error_body(spec, gw, case):
    kw, want_status, want_code = ERROR_CASES[case]
    status, body = chat_error(gw, **kw)
    if want_status is not None:
        assert status == want_status, body
    else:
        assert status >= 500, body
    spec.check(oas.NAMES["error"], body)
    if want_code is not None:
        assert body["error"]["code"] == want_code
    assert set(spec.undeclared(oas.NAMES["error"], body)) <= {"/error/attempts"}, body


def test_caller_key_still_reaches_allowed_route(spec, gw):
    status, _, raw = http(gw, "POST", "/v1/chat/completions", chat_body("echo"), headers={"authorization": f"Bearer {KEY}"})
    assert status == 200, raw
    check_chat(spec, json.loads(raw))


# -- the same bodies over the native protocol (the Python shim on the Unix socket) -------------

@pytest.mark.parametrize("model", CHAT_MODELS + TOOL_MODELS)
def test_native_protocol_bodies(spec, gw, model):
    try:
        import sidegate  # the shim, installed by tests/run-all.sh
    except ImportError:
        if os.environ.get("SIDEGATE_REQUIRE_DAEMON") == "1":
            raise
        pytest.skip("the sidegate Python shim is not installed (pip install ./clients/python)")
    extra = {"tools": TOOLS} if model in TOOL_MODELS else {}
    with sidegate.Client(socket_path=gw["socket"]) as c:
        r = c.chat(model=model, messages=[{"role": "user", "content": "native"}], **extra)
        spec.check(oas.NAMES["chat"], dict(r))
        chunks = list(c.chat(model=model, messages=[{"role": "user", "content": "native"}], stream=True,
                             stream_options={"include_usage": True}, **extra))
    assert chunks
    for ch in chunks:
        spec.check(oas.NAMES["chunk"], dict(ch))
