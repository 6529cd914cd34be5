"""The official `openai` Python SDK against sidegate, over loopback TCP and over the Unix
socket (httpx transport with `uds=`), exactly as the README shows it."""

import json
import urllib.request

import openai
import pytest

try:  # openai >= 3 ships its own fork of httpx as `httpx2`; 1.x/2.x use `httpx`
    import httpx2 as hx
except ImportError:  # pragma: no cover
    import httpx as hx


def tcp_client(daemon):
    return openai.OpenAI(base_url=daemon["http"] + "/v1", api_key="unused", max_retries=0)


def uds_client(daemon):
    return openai.OpenAI(
        base_url="http://sidegate/v1",
        api_key="unused",
        max_retries=0,
        http_client=openai.DefaultHttpxClient(transport=hx.HTTPTransport(uds=daemon["socket"])),
    )


@pytest.fixture(params=["tcp", "uds"])
def client(request, daemon):
    return tcp_client(daemon) if request.param == "tcp" else uds_client(daemon)


def test_chat(client):
    r = client.chat.completions.with_raw_response.create(
        model="fast", messages=[{"role": "user", "content": "hello from the sdk"}]
    )
    assert r.headers["x-sidegate-provider"] == "mock"
    assert r.headers["x-sidegate-model"] == "echo"
    assert r.headers["x-sidegate-attempts"] == "1"
    c = r.parse()
    assert c.choices[0].message.content == "hello from the sdk"
    assert c.choices[0].finish_reason == "stop"
    assert c.usage.total_tokens > 0


def test_stream(client):
    text = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(
            model="fast",
            messages=[{"role": "user", "content": "streamed 🚀 words"}],
            stream=True,
        )
        if chunk.choices
    )
    assert text == "streamed 🚀 words"


def test_stream_with_usage(client):
    chunks = list(
        client.chat.completions.create(
            model="fast",
            messages=[{"role": "user", "content": "count me"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 2


def test_vendor_stream_through_openai_compatible(client):
    text = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(
            model="fake/some-model", messages=[{"role": "user", "content": "via the fake vendor"}], stream=True
        )
        if c.choices
    )
    assert text == "via the fake vendor"


def test_errors(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert e.value.code == "model_not_found"
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="fake/fail-429", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="fast", messages=[])
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="fake/fail-500", messages=[{"role": "user", "content": "x"}])


def test_broken_stream_raises(client):
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(
            model="fake/stream-error", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            pass


def test_models_and_embeddings(client):
    ids = [m.id for m in client.models.list()]
    assert "fast" in ids and "echo" in ids
    e = client.embeddings.create(model="mock/embed", input=["a", "b"])
    assert len(e.data) == 2 and len(e.data[0].embedding) == 8


def test_async_client_over_uds(daemon):
    import asyncio

    async def main():
        c = openai.AsyncOpenAI(
            base_url="http://sidegate/v1",
            api_key="unused",
            http_client=openai.DefaultAsyncHttpxClient(transport=hx.AsyncHTTPTransport(uds=daemon["socket"])),
        )
        rs = await asyncio.gather(
            *[c.chat.completions.create(model="fast", messages=[{"role": "user", "content": f"n{i}"}]) for i in range(20)]
        )
        assert [r.choices[0].message.content for r in rs] == [f"n{i}" for i in range(20)]

    asyncio.run(main())


def test_plain_urllib_healthz(daemon):
    with urllib.request.urlopen(daemon["http"] + "/healthz") as r:
        assert json.load(r) == {"status": "ok"}
