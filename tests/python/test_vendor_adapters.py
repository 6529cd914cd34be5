"""The official `openai` SDK against sidegate's Anthropic and Gemini adapters (and Azure):
the same OpenAI-style code must mean the same thing whichever vendor answers. The vendors are
the fake-vendor binary's Anthropic- and Gemini-shaped fakes, which check requests as strictly
as the real APIs."""

import json

import openai
import pydantic
import pytest


@pytest.fixture(scope="module")
def gw(sidegate_factory, fake_providers):
    addr = sidegate_factory(
        fake_providers("claude", "gem", "azure", "mock")
        + """
[models.echo]
provider = "mock"
model = "echo"

[models.claude-down]
provider = "claude"
model = "fail-529"

[routes.resilient]
targets = ["claude-down", "echo"]
"""
    )
    return openai.OpenAI(base_url=f"{addr['http']}/v1", api_key="unused", max_retries=0)


VENDORS = ["claude", "gem"]
TOOLS = [
    {"type": "function", "function": {"name": "weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"], "additionalProperties": False}}},
    {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}},
]


@pytest.mark.parametrize("vendor", VENDORS)
def test_chat_and_usage(gw, vendor):
    r = gw.chat.completions.with_raw_response.create(
        model=f"{vendor}/any-model",
        messages=[{"role": "system", "content": "Be terse."}, {"role": "user", "content": "héllo wörld 🚀"}],
    )
    assert r.headers["x-sidegate-provider"] == vendor
    c = r.parse()
    assert c.choices[0].message.content == "héllo wörld 🚀"
    assert c.choices[0].finish_reason == "stop"
    assert c.usage.total_tokens == c.usage.prompt_tokens + c.usage.completion_tokens


@pytest.mark.parametrize("vendor", VENDORS)
def test_stream_with_usage(gw, vendor):
    chunks = list(gw.chat.completions.create(
        model=f"{vendor}/any-model", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "streamed through the sdk"}],
    ))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "streamed through the sdk"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("stream", [False, True])
def test_tool_round_trip(gw, vendor, stream):
    model = f"{vendor}/tool-call"
    messages = [{"role": "user", "content": "Paris?"}]
    if stream:
        calls = {}
        finish = None
        for c in gw.chat.completions.create(model=model, tools=TOOLS, messages=messages, stream=True):
            if not c.choices:
                continue
            finish = c.choices[0].finish_reason or finish
            for t in c.choices[0].delta.tool_calls or []:
                slot = calls.setdefault(t.index, {"id": None, "name": "", "arguments": ""})
                slot["id"] = t.id or slot["id"]
                slot["name"] += (t.function.name or "") if t.function else ""
                slot["arguments"] += (t.function.arguments or "") if t.function else ""
        tool_calls = [{"id": v["id"], "type": "function", "function": {"name": v["name"], "arguments": v["arguments"]}}
                      for _, v in sorted(calls.items())]
    else:
        r = gw.chat.completions.create(model=model, tools=TOOLS, messages=messages)
        finish = r.choices[0].finish_reason
        tool_calls = [t.model_dump() for t in r.choices[0].message.tool_calls]
    assert finish == "tool_calls"
    assert [t["function"]["name"] for t in tool_calls] == ["weather", "now"]
    assert json.loads(tool_calls[0]["function"]["arguments"]) == {"q": "Paris?"}
    assert json.loads(tool_calls[1]["function"]["arguments"]) == {}
    messages.append({"role": "assistant", "content": None, "tool_calls": tool_calls})
    messages.append({"role": "tool", "tool_call_id": tool_calls[0]["id"], "content": "21C"})
    messages.append({"role": "tool", "tool_call_id": tool_calls[1]["id"], "content": "noon"})
    r = gw.chat.completions.create(model=model, tools=TOOLS, messages=messages)
    assert r.choices[0].message.content.startswith("results: ")
    assert "21C" in r.choices[0].message.content and "noon" in r.choices[0].message.content


class Answer(pydantic.BaseModel):
    answer: str


@pytest.mark.parametrize("vendor", VENDORS)
def test_structured_output_with_parse(gw, vendor):
    r = gw.chat.completions.parse(
        model=f"{vendor}/any-model", messages=[{"role": "user", "content": "forty-two"}], response_format=Answer
    )
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.parsed == Answer(answer="forty-two")


def test_n_two_choices(gw):
    for vendor in VENDORS:
        r = gw.chat.completions.create(model=f"{vendor}/m", n=2, messages=[{"role": "user", "content": "twice"}])
        assert [c.index for c in r.choices] == [0, 1]
        assert all(c.message.content == "twice" for c in r.choices)


def test_errors_map_to_sdk_exceptions(gw):
    with pytest.raises(openai.RateLimitError):
        gw.chat.completions.create(model="claude/fail-429", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError):
        gw.chat.completions.create(model="gem/fail-429", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError) as e:
        gw.chat.completions.create(model="gem/blocked", messages=[{"role": "user", "content": "x"}])
    assert e.value.code == "content_policy_violation"
    with pytest.raises(openai.BadRequestError):
        gw.chat.completions.create(model="claude/m", temperature=1.8, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.APIError):
        for _ in gw.chat.completions.create(model="claude/stream-error", stream=True, messages=[{"role": "user", "content": "a b"}]):
            pass
    # overloaded Anthropic fails over to the next target
    r = gw.chat.completions.with_raw_response.create(model="resilient", messages=[{"role": "user", "content": "hi"}])
    assert r.headers["x-sidegate-provider"] == "mock"


def test_gemini_embeddings_default_base64(gw):
    # The SDK asks for base64 by default and decodes it: the adapter must encode float32 LE.
    e = gw.embeddings.create(model="gem/gemini-embedding-001", input=["a", "bb", "ccc"], dimensions=4)
    assert [d.index for d in e.data] == [0, 1, 2]
    assert len(e.data[0].embedding) == 4
    assert abs(e.data[1].embedding[0] - 0.02) < 1e-6
    with pytest.raises(openai.BadRequestError):
        gw.embeddings.create(model="claude/any", input="x")


def test_azure_deployment(gw):
    r = gw.chat.completions.create(model="azure/my-deployment", messages=[{"role": "user", "content": "via azure"}])
    assert r.choices[0].message.content == "via azure"
