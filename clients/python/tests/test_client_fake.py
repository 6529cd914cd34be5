"""The sync Client against the in-process fake daemon (tests/fakedaemon.py): multiplexing,
streams, cancel, timeouts, reconnect and error mapping, with no Rust binary needed."""

from __future__ import annotations

import gc
import threading
from typing import Any, Dict, List

import pytest
from sgpy_support import wait_until

from sidegate import (
    AllVendorsFailedError,
    AuthenticationError,
    ChatCompletion,
    Client,
    ConnectionLost,
    InvalidRequestError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    SidegateError,
    SidegateTimeout,
)


def _msg(text: str) -> List[Dict[str, str]]:
    return [{"role": "user", "content": text}]


def _join(chunks: List[Dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)


def test_chat_and_options(fake: Any) -> None:
    with Client(fake.path) as c:
        r = c.chat(model="echo", messages=_msg("hello"), temperature=0.2, tools=[],
                   cache="no-cache", route="fast", label="job-7", timeout=30)
        assert isinstance(r, ChatCompletion) and isinstance(r, dict)
        assert r["choices"][0]["message"]["content"] == "hello" and r.content == "hello"
        assert r.meta["provider"] == "fake" and r.meta["attempts"] == 1
    req = fake.requests[-1]
    assert req["op"] == "chat"
    assert req["body"] == {"model": "echo", "messages": _msg("hello"), "temperature": 0.2, "tools": []}
    assert req["options"] == {"cache": "no-cache", "route": "fast", "label": "job-7", "timeout_ms": 30000}


def test_extra_body_and_no_options(fake: Any) -> None:
    with Client(fake.path) as c:
        c.chat(model="echo", messages=_msg("x"), extra_body={"top_k": 3})
    req = fake.requests[-1]
    assert req["body"]["top_k"] == 3 and "options" not in req


def test_prompt_goes_in_options(fake: Any) -> None:
    """``prompt()`` is a chat REQUEST whose ``options.prompt`` names the prompt file; the other
    keyword arguments stay the body, the sidegate options stay options."""
    with Client(fake.path) as c:
        c.prompt("greet@2", {"who": "Ada"}, route="fast", messages=_msg("and wave"))
        c.prompt("greet")
        chunks = list(c.prompt("greet", {"who": "Bo"}, stream=True, options={"label": "x"}, messages=_msg("hi there")))
    assert _join(chunks) == "hi there"  # the fake daemon streamed its echo
    first, second, third = fake.requests[-3:]
    assert first["op"] == "chat" and first["body"] == {"messages": _msg("and wave")}
    assert first["options"] == {"route": "fast", "prompt": {"id": "greet@2", "variables": {"who": "Ada"}}}
    assert second["options"] == {"prompt": {"id": "greet", "variables": {}}} and second.get("body") == {}
    assert third["body"] == {"messages": _msg("hi there"), "stream": True}
    assert third["options"] == {"label": "x", "prompt": {"id": "greet", "variables": {"who": "Bo"}}}


def test_bad_cache_option(fake: Any) -> None:
    with pytest.raises(ValueError):
        Client(fake.path).chat(model="echo", messages=_msg("x"), cache="sometimes")


def test_models_status_embeddings(fake: Any) -> None:
    c = Client(fake.path)
    assert c.models()["data"][0]["id"] == "echo"
    assert c.status()["ok"] is True
    e = c.embeddings(model="emb", input=["ab", "c"])
    assert [d["embedding"][0] for d in e["data"]] == [2.0, 1.0]
    assert {r["op"] for r in fake.requests} >= {"models", "status", "embeddings"}
    c.close()


def test_stream(fake: Any) -> None:
    c = Client(fake.path)
    s = c.chat(model="echo", messages=_msg("one two three"), stream=True)
    assert s.meta is None
    chunks = list(s)
    assert _join(chunks) == "one two three"
    assert s.meta is not None and s.meta["provider"] == "fake"
    assert fake.requests[-1]["body"]["stream"] is True
    assert list(s) == []  # exhausted


def test_stream_error_first_frame_raises_from_chat(fake: Any) -> None:
    with pytest.raises(RateLimitError):
        Client(fake.path).chat(model="error-429", messages=_msg("x"), stream=True)


def test_stream_error_mid_stream(fake: Any) -> None:
    s = Client(fake.path).chat(model="stream-error", messages=_msg("x"), stream=True)
    assert _join([next(s)]) == "partial "
    with pytest.raises(AllVendorsFailedError) as info:
        next(s)
    assert info.value.code == "upstream_error"


@pytest.mark.parametrize(
    "status,cls",
    [(400, InvalidRequestError), (404, InvalidRequestError), (401, AuthenticationError),
     (403, PermissionDeniedError), (429, RateLimitError), (502, AllVendorsFailedError),
     (503, AllVendorsFailedError), (500, SidegateError)],
)
def test_error_classes(fake: Any, status: int, cls: type) -> None:
    c = Client(fake.path)
    with pytest.raises(cls) as info:
        c.chat(model=f"error-{status}", messages=_msg("x"))
    e = info.value
    assert e.status == status and e.code == "scripted" and e.meta.get("provider") == "fake"
    if status == 429:
        assert e.retry_after == 1.5
    if status == 502:
        assert e.attempts and e.attempts[0]["status"] == 500
    # the connection is still fine afterwards
    assert c.chat(model="echo", messages=_msg("ok")).content == "ok"


def test_cancel_by_close(fake: Any) -> None:
    c = Client(fake.path)
    s = c.chat(model="slow", messages=_msg("x"), stream=True)
    next(s)
    next(s)
    s.close()
    assert wait_until(lambda: s.request_id in fake.cancelled)
    assert c.chat(model="echo", messages=_msg("after")).content == "after"


def test_cancel_by_context_manager(fake: Any) -> None:
    c = Client(fake.path)
    with c.chat(model="slow", messages=_msg("x"), stream=True) as s:
        next(s)
    assert wait_until(lambda: s.request_id in fake.cancelled)


def test_cancel_by_break(fake: Any) -> None:
    c = Client(fake.path)
    before = len(fake.cancelled)
    for i, _chunk in enumerate(c.chat(model="slow", messages=_msg("x"), stream=True)):
        if i == 2:
            break
    gc.collect()
    assert wait_until(lambda: len(fake.cancelled) > before)


def test_completed_stream_sends_no_cancel(fake: Any) -> None:
    c = Client(fake.path)
    s = c.chat(model="echo", messages=_msg("a b"), stream=True)
    list(s)
    s.close()
    del s
    gc.collect()
    c.status()
    assert fake.cancelled == set()


def test_timeout_cancels(fake: Any) -> None:
    c = Client(fake.path)
    with pytest.raises(SidegateTimeout) as info:
        c.chat(model="hang", messages=_msg("x"), timeout=0.3)
    assert isinstance(info.value, TimeoutError)
    assert fake.requests[-1]["options"]["timeout_ms"] == 300
    rid = fake.requests[-1]["id"]
    assert wait_until(lambda: rid in fake.cancelled)
    assert c.chat(model="echo", messages=_msg("still ok")).content == "still ok"


def test_stream_timeout(fake: Any) -> None:
    c = Client(fake.path, timeout=0.5)  # client default applies to the whole stream
    s = c.chat(model="slow", messages=_msg("x"), stream=True)
    with pytest.raises(SidegateTimeout):
        for _ in s:
            pass
    assert wait_until(lambda: s.request_id in fake.cancelled)


def test_pong(fake: Any) -> None:
    c = Client(fake.path)
    c.status()
    assert wait_until(lambda: any(p.id == 77 for p in fake.pongs))


def test_threads_share_one_connection(fake: Any) -> None:
    c = Client(fake.path)
    results: Dict[int, Any] = {}

    def work(i: int) -> None:
        try:
            if i % 2:
                s = c.chat(model="echo", messages=_msg(f"thread {i} says hi"), stream=True)
                results[i] = _join(list(s))
            else:
                results[i] = c.chat(model="echo", messages=_msg(f"thread {i} says hi")).content
        except BaseException as exc:  # reported below
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {i: f"thread {i} says hi" for i in range(50)}
    assert fake.connections == 1


def test_reconnect_after_restart(fake: Any) -> None:
    c = Client(fake.path)
    assert c.chat(model="echo", messages=_msg("before")).content == "before"
    fake.stop()
    fake.start()
    assert c.chat(model="echo", messages=_msg("after")).content == "after"
    assert fake.connections == 2


def test_reconnect_waits_for_a_restarting_daemon(fake: Any) -> None:
    c = Client(fake.path, connect_retry=30)
    c.status()
    fake.stop()
    import os

    os.unlink(fake.path)  # gone for a while, as during a restart
    timer = threading.Timer(0.3, fake.start)
    timer.start()
    try:
        assert c.chat(model="echo", messages=_msg("back")).content == "back"
    finally:
        timer.join()


def test_in_flight_fails_with_connection_lost(fake: Any) -> None:
    c = Client(fake.path)
    s = c.chat(model="slow", messages=_msg("x"), stream=True)
    next(s)
    fake.stop()
    with pytest.raises(ConnectionLost):
        for _ in s:
            pass
    fake.start()
    # not resent: the new daemon never saw the slow request again
    n_slow = sum(1 for r in fake.requests if r["body"].get("model") == "slow")
    assert c.chat(model="echo", messages=_msg("fresh")).content == "fresh"
    assert sum(1 for r in fake.requests if r["body"].get("model") == "slow") == n_slow == 1


def test_dropped_connection_mid_call(fake: Any) -> None:
    c = Client(fake.path)
    with pytest.raises(ConnectionLost):
        c.chat(model="drop", messages=_msg("x"))
    assert c.chat(model="echo", messages=_msg("again")).content == "again"


def test_protocol_error(fake: Any) -> None:
    # No PING: a PONG written after the fake closed could (rightly) turn the ProtocolError
    # into a ConnectionLost, depending on timing.
    fake.ping = False
    c = Client(fake.path)
    s = c.chat(model="slow", messages=_msg("x"), stream=True)
    next(s)
    with pytest.raises(ProtocolError) as info:
        c.chat(model="proto-error", messages=_msg("x"))
    assert info.value.code == "unexpected_frame"
    with pytest.raises(ProtocolError):
        for _ in s:
            pass
    assert c.chat(model="echo", messages=_msg("next")).content == "next"


def test_request_over_max_frame_is_not_sent(sock_dir: Any) -> None:
    from fakedaemon import FakeDaemon

    d = FakeDaemon(str(sock_dir / "small.sock"), max_frame=4096).start()
    try:
        c = Client(d.path)
        c.status()  # WELCOME (max_frame 4096) has arrived once a call completed
        with pytest.raises(InvalidRequestError) as info:
            c.chat(model="echo", messages=_msg("x" * 5000))
        assert info.value.code == "frame_too_large"
        assert c.chat(model="echo", messages=_msg("small")).content == "small"
    finally:
        d.stop()


def test_unicode_and_large(fake: Any) -> None:
    c = Client(fake.path)
    text = "emoji 🚀🎉👩‍👩‍👧 CJK 漢字かなカナ한국어 combining e\u0301 a\u0308 \u0915\u094d\u0937 null\u0000byte"
    assert c.chat(model="echo", messages=_msg(text)).content == text
    assert _join(list(c.chat(model="echo", messages=_msg(text), stream=True))) == text
    big = ("0123456789abcdé🚀 " * 60000)[: 1024 * 1024]
    assert len(big.encode("utf-8")) > 1024 * 1024
    assert c.chat(model="echo", messages=_msg(big)).content == big


def test_closed_client(fake: Any) -> None:
    c = Client(fake.path)
    c.status()
    c.close()
    c.close()
    with pytest.raises(SidegateError):
        c.status()


def test_close_fails_calls_in_flight(fake: Any) -> None:
    c = Client(fake.path)
    errors: List[BaseException] = []

    def hang() -> None:
        try:
            c.chat(model="hang", messages=_msg("x"))
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=hang)
    t.start()
    assert fake.wait_for(lambda: any(r["body"].get("model") == "hang" for r in fake.requests))
    c.close()
    t.join(30)
    assert len(errors) == 1 and isinstance(errors[0], ConnectionLost)


def test_feedback_sends_its_fields_and_checks_them(fake: Any) -> None:
    with Client(fake.path) as c:
        r = c.feedback("sg-00000000000000ab", score=0.5, label="good", comment="fine", timeout=5)
        assert r["recorded"] is True
        req = fake.requests[-1]
        assert req["op"] == "feedback"
        assert req["body"] == {"request_id": "sg-00000000000000ab", "score": 0.5, "label": "good", "comment": "fine"}
        assert req["options"] == {"timeout_ms": 5000}
        c.feedback("sg-1", label="bad")
        assert fake.requests[-1]["body"] == {"request_id": "sg-1", "label": "bad"}
        for kwargs, exc in [
            ({}, TypeError),  # neither score nor label
            ({"score": "high"}, TypeError),
            ({"score": True}, TypeError),
            ({"score": float("nan")}, ValueError),
            ({"label": 3}, TypeError),
            ({"label": "x", "comment": 5}, TypeError),
        ]:
            with pytest.raises(exc):
                c.feedback("sg-1", **kwargs)
        with pytest.raises(TypeError):
            c.feedback("", score=1)
        with pytest.raises(TypeError):
            c.feedback("sg-1", 0.5)  # type: ignore[misc]  # score is keyword-only
