"""The shim against the real daemon (``sidegate serve``) with the fake OpenAI vendor behind it.

Nothing here asserts on durations: waits poll for a condition with a generous limit.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any, Dict, List

import pytest
from sgpy_support import Daemon, FakeVendor, wait_until

from sidegate import (
    AllVendorsFailedError,
    AsyncClient,
    AuthenticationError,
    ChatCompletion,
    Client,
    ConnectionLost,
    DaemonNotRunning,
    GatewayTimeoutError,
    InvalidRequestError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    SidegateError,
    SidegateTimeout,
)
from sidegate import frame as fr

pytestmark = pytest.mark.integration

UNICODE = "emoji 🚀🎉 👩‍👩‍👧 CJK 漢字かなカナ 한국어 combining e\u0301 a\u0308 \u0915\u094d\u0937 RTL שלום"


def _msg(text: str) -> List[Dict[str, str]]:
    return [{"role": "user", "content": text}]


def _join(chunks: List[Dict[str, Any]]) -> str:
    out = []
    for c in chunks:
        for choice in c.get("choices") or []:
            out.append((choice.get("delta") or {}).get("content") or "")
    return "".join(out)


def _aborted_after(vendor: FakeVendor, baseline: int) -> bool:
    """Poll the fake vendor until it counted one more aborted call than ``baseline``."""
    return bool(wait_until(lambda: vendor.stats()["aborted"] > baseline, timeout=30, interval=0.05))


@pytest.fixture
def client(daemon: Daemon) -> Any:
    with Client(daemon.socket) as c:
        yield c


# -- answers ----------------------------------------------------------------------------------


def test_chat_mock_route(client: Client) -> None:
    r = client.chat(model="fast", messages=_msg("hello there"))
    assert isinstance(r, ChatCompletion)
    assert r["object"] == "chat.completion"
    assert r.content == "hello there"
    assert r.meta["provider"] == "mock" and r.meta["model"] == "echo" and r.meta["route"] == "fast"
    assert r.meta["attempts"] == 1 and r.meta["cache"] in ("hit", "miss", "bypass")


def test_chat_fake_vendor(client: Client) -> None:
    r = client.chat(model="fake/any-model", messages=_msg("through the vendor"), temperature=0.1, max_tokens=50)
    assert r.content == "through the vendor"
    assert r.meta["provider"] == "fake"


def test_prompt_whole_and_streamed(client: Client) -> None:
    """The daemon renders the prompt file (tests/sgpy_support.py's greet@2) before routing:
    the mock deployment echoes its rendered user turn, or the caller's appended one."""
    r = client.prompt("greet", {"who": "Ada"})
    assert r.content == "Greet Ada." and r.meta["model"] == "echo"
    r = client.prompt("greet@2", {"who": "Ada", "punct": "!"}, messages=_msg("and then?"))
    assert r.content == "and then?"
    assert _join(list(client.prompt("greet", {"who": "Bo"}, stream=True))) == "Greet Bo."


def test_prompt_async(daemon: Daemon) -> None:
    async def main() -> None:
        async with AsyncClient(daemon.socket) as a:
            r = await a.prompt("greet", {"who": "Cy"})
            assert r.content == "Greet Cy."
            chunks = [c async for c in await a.prompt("greet", {"who": "Di"}, stream=True)]
            assert _join(chunks) == "Greet Di."

    asyncio.run(main())


def test_prompt_errors_name_the_prompt(client: Client) -> None:
    for prompt_id, variables, says in [
        ("nosuch", {}, "nosuch"),
        ("greet@9", {"who": "A"}, "greet@9"),
        ("greet", {}, "who"),
        ("greet", {"who": "A", "extra": 1}, "extra"),
        ("greet", {"who": 5}, "who"),
    ]:
        with pytest.raises(InvalidRequestError) as info:
            client.prompt(prompt_id, variables)
        assert info.value.status == 400 and info.value.param == "prompt", info.value
        assert says in str(info.value), info.value


def test_stream_mock_and_vendor(client: Client) -> None:
    for model, provider in (("fast", "mock"), ("fake/any", "fake")):
        s = client.chat(model=model, messages=_msg("one two three four"), stream=True)
        chunks = list(s)
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
        assert _join(chunks) == "one two three four"
        assert s.meta is not None and s.meta["provider"] == provider


def test_options(client: Client) -> None:
    r = client.chat(model="not-a-model", messages=_msg("routed"), route="fast", label="py-tests",
                    cache="no-store", timeout=30)
    assert r.content == "routed" and r.meta["route"] == "fast"
    r = client.chat(model="fast", messages=_msg("no cache lookup"), cache="no-cache")
    assert r.meta["cache"] != "hit"


def test_models_status_embeddings(client: Client) -> None:
    models = client.models()
    ids = {m["id"] for m in models["data"]}
    assert {"fast", "echo", "slow"} <= ids
    status = client.status()
    assert isinstance(status, dict) and status
    e = client.embeddings(model="echo", input=["a", "b"])
    assert e["object"] == "list" and len(e["data"]) == 2


def test_unicode(client: Client) -> None:
    assert client.chat(model="fast", messages=_msg(UNICODE)).content == UNICODE
    assert _join(list(client.chat(model="fast", messages=_msg(UNICODE), stream=True))) == UNICODE
    assert client.chat(model="fake/x", messages=_msg(UNICODE)).content == UNICODE


def test_one_megabyte_round_trip(client: Client) -> None:
    big = ("0123456789 abcdé漢🚀 " * 60000)[: 1024 * 1024]
    assert len(big.encode("utf-8")) > 1024 * 1024
    r = client.chat(model="fast", messages=_msg(big), cache="no-store")
    assert r.content == big


# -- concurrency ------------------------------------------------------------------------------


def test_fifty_threads_one_client(daemon: Daemon) -> None:
    c = Client(daemon.socket)
    results: Dict[int, Any] = {}

    def work(i: int) -> None:
        text = f"thread {i} asks {'🚀' * (i % 3)}"
        try:
            if i % 2:
                results[i] = _join(list(c.chat(model="fast", messages=_msg(text), stream=True))) == text
            else:
                results[i] = c.chat(model="fast", messages=_msg(text)).content == text
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == {i: True for i in range(50)}
    c.close()


def test_fifty_tasks_one_async_client(daemon: Daemon) -> None:
    async def one(a: AsyncClient, i: int) -> bool:
        text = f"task {i} asks {'漢' * (i % 4)}"
        if i % 2:
            s = await a.chat(model="fast", messages=_msg(text), stream=True)
            return _join([c async for c in s]) == text and s.meta is not None
        return (await a.chat(model="fast", messages=_msg(text))).content == text

    async def main() -> List[bool]:
        async with AsyncClient(daemon.socket) as a:
            return list(await asyncio.gather(*(one(a, i) for i in range(50))))

    assert asyncio.run(main()) == [True] * 50


# -- cancel and timeouts ----------------------------------------------------------------------


def test_cancel_mid_stream_reaches_vendor(client: Client, vendor: FakeVendor) -> None:
    base = vendor.stats()["aborted"]
    s = client.chat(model="slow", messages=_msg("x"), stream=True)
    got = [next(s) for _ in range(3)]
    assert len(got) == 3
    s.close()
    assert _aborted_after(vendor, base)
    assert client.chat(model="fast", messages=_msg("still fine")).content == "still fine"


def test_cancel_by_break_reaches_vendor(client: Client, vendor: FakeVendor) -> None:
    base = vendor.stats()["aborted"]
    for i, _ in enumerate(client.chat(model="t-slow-break", messages=_msg("x"), stream=True)):
        if i == 2:
            break
    gc.collect()
    assert _aborted_after(vendor, base)


def test_async_cancel_reaches_vendor(daemon: Daemon, vendor: FakeVendor) -> None:
    base = vendor.stats()["aborted"]

    async def main() -> None:
        async with AsyncClient(daemon.socket) as a:
            s = await a.chat(model="t-slow-async", messages=_msg("x"), stream=True)
            await s.__anext__()
            await s.aclose()
            assert (await a.chat(model="fast", messages=_msg("ok"))).content == "ok"

    asyncio.run(main())
    assert _aborted_after(vendor, base)


def test_client_timeout_cancels_vendor_call(client: Client, vendor: FakeVendor) -> None:
    """Client-side enforcement: the daemon is given a long deadline, the shim a short one."""
    base = vendor.stats()["aborted"]
    with pytest.raises(SidegateTimeout):
        client.chat(model="t-hang-client", messages=_msg("x"), timeout=0.5, options={"timeout_ms": 60000})
    assert _aborted_after(vendor, base)


def test_timeout_is_a_timeout_error(client: Client) -> None:
    """Whoever notices the deadline first (shim or daemon), the caller gets a SidegateTimeout."""
    with pytest.raises(SidegateTimeout) as info:
        client.chat(model="t-hang-either", messages=_msg("x"), timeout=1)
    assert isinstance(info.value, TimeoutError)


def test_daemon_deadline_error(client: Client) -> None:
    """The daemon's own deadline: 504 timeout, with attempts."""
    with pytest.raises(GatewayTimeoutError) as info:
        client.chat(model="t-hang-daemon", messages=_msg("x"), timeout=30, options={"timeout_ms": 500})
    e = info.value
    assert e.status == 504 and e.code == "timeout" and isinstance(e, SidegateTimeout)
    assert e.attempts and e.attempts[0]["outcome"] == "timeout"


def test_daemon_deadline_ends_a_started_stream(client: Client) -> None:
    s = client.chat(model="t-slow-deadline", messages=_msg("x"), stream=True, timeout=60,
                    options={"timeout_ms": 600})
    with pytest.raises(SidegateError):
        for _ in s:  # slow-stream runs 10 s: a deadline of 0.6 s must cut it
            pass


# -- errors -----------------------------------------------------------------------------------


def test_unknown_model(client: Client) -> None:
    with pytest.raises(InvalidRequestError) as info:
        client.chat(model="no-such-model", messages=_msg("x"))
    assert info.value.status == 404 and info.value.code == "model_not_found" and info.value.param == "model"


def test_vendor_400(client: Client) -> None:
    with pytest.raises(InvalidRequestError) as info:
        client.chat(model="fake/bad-400", messages=_msg("x"))
    assert info.value.status == 400


def test_vendor_429(client: Client) -> None:
    with pytest.raises(RateLimitError) as info:
        client.chat(model="t-429", messages=_msg("x"), timeout=30)
    assert info.value.status == 429 and info.value.retry_after is not None and info.value.retry_after > 0


def test_vendor_500(client: Client) -> None:
    with pytest.raises(AllVendorsFailedError) as info:
        client.chat(model="t-500", messages=_msg("x"), timeout=60)
    e = info.value
    assert e.status in (502, 503, 504)
    assert e.attempts and all(a["status"] == 500 for a in e.attempts)
    assert {"deployment", "provider", "outcome", "latency_ms"} <= set(e.attempts[0])


def test_vendor_401_is_an_upstream_failure(client: Client) -> None:
    """A vendor 401 fails over (DESIGN §7); with no other candidate the caller gets 502 with
    the 401 in ``attempts`` (AuthenticationError is for sidegate's own 401)."""
    with pytest.raises(AllVendorsFailedError) as info:
        client.chat(model="t-401", messages=_msg("x"), timeout=60)
    assert info.value.attempts and info.value.attempts[0]["status"] == 401


@pytest.mark.parametrize("model", ["t-malformed", "t-reset"])
def test_vendor_garbage(client: Client, model: str) -> None:
    with pytest.raises(AllVendorsFailedError):
        client.chat(model=model, messages=_msg("x"), timeout=60)


def test_stream_cut_by_vendor(client: Client) -> None:
    with pytest.raises(AllVendorsFailedError):
        for _ in client.chat(model="t-truncate", messages=_msg("a b c d e f g h"), stream=True, timeout=60):
            pass


def test_errors_async(daemon: Daemon) -> None:
    async def main() -> None:
        async with AsyncClient(daemon.socket) as a:
            with pytest.raises(RateLimitError):
                await a.chat(model="t-429-async", messages=_msg("x"), timeout=30)
            with pytest.raises(InvalidRequestError):
                await a.chat(model="no-such-model", messages=_msg("x"), stream=True)
            with pytest.raises(SidegateTimeout):
                await a.chat(model="t-hang-async", messages=_msg("x"), timeout=0.5)
            assert (await a.chat(model="fast", messages=_msg("after errors"))).content == "after errors"

    asyncio.run(main())



def test_permission_denied(make_daemon: Any) -> None:
    d = make_daemon('unknown_callers = "deny"')
    with pytest.raises(PermissionDeniedError) as info:
        Client(d.socket).chat(model="fast", messages=_msg("x"))
    assert info.value.status == 403


def test_protocol_error_then_reconnect(client: Client) -> None:
    """A frame the daemon rejects (unknown kind) gets a connection-level ERROR: requests on
    that connection fail with ProtocolError; the next call opens a new connection."""
    s = client.chat(model="t-slow-proto", messages=_msg("x"), stream=True)
    next(s)
    conn = client._connection(None)
    conn.send(fr.encode(77, 1))
    with pytest.raises(ProtocolError) as info:
        for _ in s:
            pass
    assert info.value.code == "unknown_frame_kind"
    assert client.chat(model="fast", messages=_msg("new connection")).content == "new connection"


def test_auth_error_class_exists() -> None:
    assert issubclass(AuthenticationError, SidegateError)


# -- daemon restarts --------------------------------------------------------------------------


def test_daemon_restart_sync(make_daemon: Any) -> None:
    d = make_daemon()
    c = Client(d.socket, connect_retry=10)
    assert c.chat(model="fast", messages=_msg("before")).content == "before"
    s = c.chat(model="t-slow-restart", messages=_msg("x"), stream=True)
    next(s)
    d.restart()  # SIGKILL, then a new daemon on the same socket
    with pytest.raises(ConnectionLost):  # in flight: fails, is not resent
        for _ in s:
            pass
    assert c.chat(model="fast", messages=_msg("after")).content == "after"
    d.kill()
    with pytest.raises(DaemonNotRunning) as info:
        Client(d.socket, connect_retry=0.2).chat(model="fast", messages=_msg("x"))
    assert d.socket in str(info.value) and "sidegate serve" in str(info.value)


def test_daemon_restart_without_noticing(make_daemon: Any) -> None:
    """Kill + restart between two calls; the second call just works."""
    d = make_daemon()
    c = Client(d.socket, connect_retry=10)
    assert c.status()
    d.restart()
    assert c.chat(model="fast", messages=_msg("transparent")).content == "transparent"


def test_daemon_restart_async(make_daemon: Any) -> None:
    d = make_daemon()

    async def main() -> None:
        a = AsyncClient(d.socket, connect_retry=10)
        assert (await a.chat(model="fast", messages=_msg("before"))).content == "before"
        await asyncio.get_running_loop().run_in_executor(None, d.restart)
        assert (await a.chat(model="fast", messages=_msg("after"))).content == "after"
        await a.close()

    asyncio.run(main())


def test_daemon_not_running(sock_dir: Any) -> None:
    path = str(sock_dir / "sidegate.sock")
    with pytest.raises(DaemonNotRunning) as info:
        Client(path, connect_retry=0.2).status()
    assert path in str(info.value) and "sidegate serve" in str(info.value)


# -- the openai SDK on the same socket --------------------------------------------------------


def test_openai_sdk_over_the_socket(daemon: Daemon) -> None:
    pytest.importorskip("openai")
    from sidegate import openai_client

    oc = openai_client(daemon.socket)
    r = oc.chat.completions.create(model="fast", messages=_msg("sdk says hi"))
    assert r.choices[0].message.content == "sdk says hi"
    chunks = oc.chat.completions.create(model="fast", messages=_msg("sdk streams"), stream=True)
    text = "".join((c.choices[0].delta.content or "") for c in chunks if c.choices)
    assert text == "sdk streams"


def test_async_openai_sdk_over_the_socket(daemon: Daemon) -> None:
    pytest.importorskip("openai")
    from sidegate import async_openai_client

    async def main() -> str:
        oc = async_openai_client(daemon.socket)
        try:
            s = await oc.chat.completions.create(model="fast", messages=_msg("async sdk"), stream=True)
            return "".join([(c.choices[0].delta.content or "") async for c in s if c.choices])
        finally:
            await oc.close()

    assert asyncio.run(main()) == "async sdk"


def test_feedback_for_an_answer(client: Client) -> None:
    r = client.chat(model="fast", messages=_msg("rate me"))
    stored = client.feedback(r.meta["request_id"], score=0.9, label="good")
    assert stored["recorded"] is True and stored["request_id"] == r.meta["request_id"]
    assert client.feedback(r.meta["request_id"], label="bad")["replaced"] is True
    with pytest.raises(InvalidRequestError):
        client.request("feedback", {"request_id": r.meta["request_id"], "score": "high"})
