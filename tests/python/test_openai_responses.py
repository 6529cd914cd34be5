"""The official `openai` SDK's Responses API against sidegate (`responses.create`,
`responses.stream`, a function-call round trip, `previous_response_id`, retrieve/delete),
served by the OpenAI chat, Anthropic and Gemini fakes, over the Unix socket and TCP. Every
Response object and stream event is checked against the published OpenAPI description's
`Response` and `ResponseStreamEvent` schemas."""

import json
import socket
import subprocess
import time
from pathlib import Path

import jsonschema
import openai
import pytest
import yaml

from conftest import SIDEGATE_BIN

try:  # openai >= 3 ships its own fork of httpx as `httpx2`
    import httpx2 as hx
except ImportError:  # pragma: no cover
    import httpx as hx

SPEC = Path(__file__).resolve().parents[3] / "shared" / "specs" / "openai-openapi.yaml"
ALICE, BOB = "sk-alice-0123456789abcdef", "sk-bob-0123456789abcdef0"
VENDORS = ["gpt", "haiku", "flash"]
TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, fake_vendor):
    d = tmp_path_factory.mktemp("sidegate-responses")
    sock, port = d / "sg.sock", _free_port()
    addr = fake_vendor.removeprefix("http://")
    (d / "sidegate.toml").write_text(f"""
[server]
socket = "{sock}"
state_dir = "{d / 'state'}"
http = "127.0.0.1:{port}"

[providers.fake]
kind = "openai-compatible"
base_url = "{fake_vendor}/v1"
[providers.claude]
kind = "anthropic"
base_url = "http://{addr}"
api_key = "sk-ant-fake"
[providers.gem]
kind = "gemini"
base_url = "http://{addr}"
api_key = "gem-fake"

[models.gpt]
provider = "fake"
model = "echo-model"
[models.haiku]
provider = "claude"
model = "claude-3-5-haiku-latest"
[models.flash]
provider = "gem"
model = "gemini-2.0-flash"
[models.claude-tools]
provider = "claude"
model = "tool-call"
[models.gem-tools]
provider = "gem"
model = "tool-call"
[models.overloaded]
provider = "claude"
model = "stream-overloaded"

[callers.alice]
keys = ["{ALICE}"]
[callers.bob]
keys = ["{BOB}"]
""")
    log = open(d / "daemon.log", "w")
    p = subprocess.Popen([SIDEGATE_BIN, "serve", "--config", str(d / "sidegate.toml")], stderr=log)
    deadline = time.monotonic() + 30
    while True:
        assert p.poll() is None, (d / "daemon.log").read_text()
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(sock))
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "sidegate never listened"
            time.sleep(0.05)
    yield {"socket": str(sock), "http": f"http://127.0.0.1:{port}"}
    p.terminate()
    p.wait(timeout=30)
    log.close()


def tcp(gw, key=ALICE):
    return openai.OpenAI(base_url=gw["http"] + "/v1", api_key=key, max_retries=0)


def uds(gw):
    transport = hx.HTTPTransport(uds=gw["socket"])
    return openai.OpenAI(base_url="http://sidegate/v1", api_key="unused", max_retries=0,
                         http_client=openai.DefaultHttpxClient(transport=transport))


@pytest.fixture(params=["tcp", "uds"])
def client(request, gateway):
    return tcp(gateway) if request.param == "tcp" else uds(gateway)


@pytest.fixture(scope="module")
def validate():
    spec = yaml.safe_load(SPEC.read_text())
    components = {"components": spec["components"]}

    def check(name, value):
        schema = {"$ref": f"#/components/schemas/{name}", **components}
        jsonschema.validate(value, schema, cls=jsonschema.Draft202012Validator)

    return check


@pytest.mark.parametrize("model", VENDORS)
def test_create(client, validate, model):
    raw = client.responses.with_raw_response.create(model=model, instructions="Be terse.", input="hello responses 👋")
    assert raw.headers["x-sidegate-provider"] in ("fake", "claude", "gem")
    r = raw.parse()
    assert r.status == "completed"
    assert r.output_text == "hello responses 👋"
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert r.usage.input_tokens_details.cached_tokens >= 0
    assert r.usage.output_tokens_details.reasoning_tokens >= 0
    validate("Response", json.loads(raw.text))


@pytest.mark.parametrize("model", VENDORS)
def test_stream(client, validate, model):
    seen = []
    with client.responses.stream(model=model, input="streamed words here") as stream:
        for event in stream:
            seen.append(event.type)
        final = stream.get_final_response()
    assert seen[0] == "response.created" and seen[-1] == "response.completed"
    assert "response.output_text.delta" in seen
    assert final.output_text == "streamed words here"


@pytest.mark.parametrize("model", VENDORS + ["claude-tools"])
def test_every_stream_event_matches_the_spec(gateway, validate, model):
    with hx.Client(transport=hx.HTTPTransport(uds=gateway["socket"])) as c:
        body = {"model": model, "input": "check these events", "stream": True}
        if model == "claude-tools":
            body["tools"] = TOOLS
        raw = c.post("http://sidegate/v1/responses", json=body).text
    frames = [f for f in raw.split("\n\n") if f.strip()]
    assert frames
    for f in frames:
        data = next(line[len("data: "):] for line in f.splitlines() if line.startswith("data: "))
        validate("ResponseStreamEvent", json.loads(data))


@pytest.mark.parametrize("model", ["claude-tools", "gem-tools"])
def test_function_call_round_trip(client, model):
    first = client.responses.create(model=model, input="weather in Paris?", tools=TOOLS)
    calls = [i for i in first.output if i.type == "function_call"]
    assert calls and calls[0].name == "get_weather", first
    second = client.responses.create(
        model=model, previous_response_id=first.id, tools=TOOLS,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "18C and sunny"}],
    )
    assert "18C and sunny" in second.output_text


def test_previous_response_id_across_vendors_retrieve_and_delete(client):
    first = client.responses.create(model="gpt", input="my name is Ada")
    second = client.responses.create(model="haiku", previous_response_id=first.id, input="what is my name?")
    third = client.responses.create(model="flash", previous_response_id=second.id, input="once more")
    assert third.previous_response_id == second.id
    assert client.responses.retrieve(first.id).output_text == "my name is Ada"
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)


def test_a_second_caller_cannot_fetch_the_first_callers_response(gateway):
    r = tcp(gateway, ALICE).responses.create(model="gpt", input="alice's secret")
    with pytest.raises(openai.NotFoundError):
        tcp(gateway, BOB).responses.retrieve(r.id)
    with pytest.raises(openai.BadRequestError):
        tcp(gateway, BOB).responses.create(model="gpt", previous_response_id=r.id, input="x")
    assert tcp(gateway, ALICE).responses.retrieve(r.id).id == r.id


def test_errors_before_and_after_the_stream(client):
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="no-such-model", input="x")
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="gpt", input="x", tools=[{"type": "web_search"}])
    # a vendor failure before the first token is an HTTP error (after failover)
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model="overloaded", input="x", stream=True)
    # after the stream started: response.failed ends it; the SDK's iterator yields it (no
    # exception) and the stream helper refuses to give a final response
    events = list(client.responses.create(model="fake/stream-error", input="a b c", stream=True))
    assert events[-1].type == "response.failed", [e.type for e in events]
    assert events[-1].response.status == "failed" and events[-1].response.error.code == "server_error"
    with client.responses.stream(model="fake/stream-error", input="a b c") as stream:
        assert [e.type for e in stream][-1] == "response.failed"
        with pytest.raises(RuntimeError):
            stream.get_final_response()
