"""The official google-genai SDK against sidegate's Gemini API, unchanged but for its base
URL: generate_content, generate_content_stream, embed_content, count_tokens and a function
call, against each vendor kind behind sidegate (Gemini, OpenAI-compatible, Anthropic fakes and
the fake's OpenAI Responses API, `api = "responses"`),
over TCP and over the Unix socket (an httpx client with a `uds` transport, passed as
`HttpOptions(httpx_client=...)`)."""

import subprocess

import pytest

genai = pytest.importorskip("google.genai")
from google.genai import types  # noqa: E402

from conftest import SIDEGATE_BIN, _free_port, _wait  # noqa: E402

try:  # the SDK takes an httpx2 client when httpx2 is installed, else an httpx one
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx

# generate-capable deployments per vendor kind, and the tool-calling ones
TEXT = ["flash", "gpt", "haiku", "gpt-r"]
TOOLS = ["gem-tools", "gpt-tools", "claude-tools", "gpt-r-tools"]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, fake_vendor):
    d = tmp_path_factory.mktemp("genai")
    sock, port = d / "sg.sock", _free_port()
    addr = fake_vendor
    (d / "sidegate.toml").write_text(
        f"""
[server]
socket = "{sock}"
state_dir = "{d / 'state'}"
http = "127.0.0.1:{port}"

[providers.gem]
kind = "gemini"
base_url = "{addr}"
api_key = "AIza-fake"

[providers.oai]
kind = "openai-compatible"
base_url = "{addr}/v1"
api_key = "sk-fake"

[providers.claude]
kind = "anthropic"
base_url = "{addr}"
api_key = "sk-ant-fake"

[models.flash]
provider = "gem"
model = "gemini-2.0-flash"

[models.gem-tools]
provider = "gem"
model = "tool-call"

[models.gem-embed]
provider = "gem"
model = "gemini-embedding-001"

[models.gpt]
provider = "oai"
model = "echo-model"

[models.oai-embed]
provider = "oai"
model = "text-embedding-3-small"

[models.haiku]
provider = "claude"
model = "claude-3-5-haiku-latest"

[models.claude-tools]
provider = "claude"
model = "tool-call"

[providers.oair]
kind = "openai"
base_url = "{addr}/v1"
api_key = "sk-fake"
api = "responses"

[models.gpt-r]
provider = "oair"
model = "gpt-5-mini"

[models.gpt-r-tools]
provider = "oair"
model = "tool-call"

[models.gpt-tools]
provider = "oai"
model = "tool-call"

[models.oair-embed]
provider = "oair"
model = "text-embedding-3-small"
"""
    )
    log = open(d / "daemon.log", "w")
    p = subprocess.Popen([SIDEGATE_BIN, "serve", "--config", str(d / "sidegate.toml")], stderr=log)

    def ready():
        assert p.poll() is None, (d / "daemon.log").read_text()
        import socket

        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(sock))
            return True
        except OSError:
            return False

    _wait(ready, "sidegate to listen")
    yield {"http": f"http://127.0.0.1:{port}", "socket": str(sock)}
    p.terminate()
    p.wait(timeout=30)
    log.close()


@pytest.fixture(params=["tcp", "unix"])
def client(request, gateway):
    if request.param == "tcp":
        opts = types.HttpOptions(base_url=gateway["http"])
    else:
        # The host is not dialled: every request goes down the socket.
        uds = httpx.Client(transport=httpx.HTTPTransport(uds=gateway["socket"]))
        opts = types.HttpOptions(base_url="http://sidegate", httpx_client=uds)
    return genai.Client(api_key="any-key", http_options=opts)


@pytest.mark.parametrize("model", TEXT)
def test_generate_content(client, model):
    r = client.models.generate_content(
        model=model,
        contents="hello from genai",
        config=types.GenerateContentConfig(system_instruction="Be terse.", temperature=0.2, max_output_tokens=64),
    )
    assert r.text == "hello from genai"
    assert r.candidates[0].finish_reason == types.FinishReason.STOP
    assert r.usage_metadata.total_token_count > 0


@pytest.mark.parametrize("model", TEXT)
def test_generate_content_stream(client, model):
    chunks = list(client.models.generate_content_stream(model=model, contents="streamed genai words"))
    assert "".join(c.text or "" for c in chunks) == "streamed genai words"
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.prompt_token_count > 0


WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="weather",
            description="Weather in a city",
            parameters=types.Schema(type="OBJECT", properties={"q": types.Schema(type="STRING")}, required=["q"]),
        )
    ]
)
NO_AFC = types.AutomaticFunctionCallingConfig(disable=True)


@pytest.mark.parametrize("model", TOOLS)
def test_a_function_call(client, model):
    config = types.GenerateContentConfig(tools=[WEATHER], automatic_function_calling=NO_AFC)
    r = client.models.generate_content(model=model, contents="Paris?", config=config)
    calls = r.function_calls
    assert calls and calls[0].name == "weather" and isinstance(calls[0].args, dict)
    streamed = [c for chunk in client.models.generate_content_stream(model=model, contents="Paris?", config=config)
                for c in (chunk.function_calls or [])]
    assert [c.name for c in streamed] == ["weather"]


@pytest.mark.parametrize("model", TEXT)
def test_a_function_result_round_trip(client, model):
    history = [
        types.Content(role="user", parts=[types.Part.from_text(text="Paris?")]),
        types.Content(role="model", parts=[types.Part.from_function_call(name="weather", args={"q": "Paris"})]),
        types.Content(role="user", parts=[types.Part.from_function_response(name="weather", response={"output": "sunny"})]),
    ]
    config = types.GenerateContentConfig(tools=[WEATHER], automatic_function_calling=NO_AFC)
    r = client.models.generate_content(model=model, contents=history, config=config)
    assert r.text  # each fake answers from the conversation it was given
    if model != "gpt":
        assert "sunny" in r.text


@pytest.mark.parametrize(
    "model",
    [
        pytest.param("gem-embed", id="gemini"),
        pytest.param("oai-embed", id="openai-chat"),
        # embeddings go to /v1/embeddings whatever `api` says (it is about chat)
        pytest.param("oair-embed", id="openai-responses"),
        pytest.param("haiku", id="anthropic", marks=pytest.mark.skip(reason="Anthropic has no embeddings API")),
    ],
)
def test_embed_content(client, model):
    r = client.models.embed_content(model=model, contents=["first text", "second"])
    assert len(r.embeddings) == 2
    assert all(len(e.values) >= 3 for e in r.embeddings)


@pytest.mark.parametrize("model,exact", [("flash", True), ("gpt", False), ("gpt-r", False)])
def test_count_tokens(client, model, exact):
    r = client.models.count_tokens(model=model, contents="four words right here")
    # a Gemini deployment counts (the fake: words); others get sidegate's estimate
    assert r.total_tokens == (4 if exact else 10)


def test_errors_are_typed(client):
    with pytest.raises(genai.errors.ClientError) as e:
        client.models.generate_content(model="no-such-model", contents="x")
    assert e.value.code == 404 and e.value.status == "NOT_FOUND"
