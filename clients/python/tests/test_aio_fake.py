"""The AsyncClient against the in-process fake daemon. Plain tests around asyncio.run, so no
pytest plugin is needed."""

from __future__ import annotations

import asyncio
import gc
import os
from typing import Any, Dict, List

import pytest
from sgpy_support import wait_until

from sidegate import (
    AllVendorsFailedError,
    AsyncClient,
    AsyncStream,
    ChatCompletion,
    ConnectionLost,
    InvalidRequestError,
    ProtocolError,
    RateLimitError,
    SidegateError,
    SidegateTimeout,
)


def _msg(text: str) -> List[Dict[str, str]]:
    return [{"role": "user", "content": text}]


def _join(chunks: List[Dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)


def test_chat_stream_and_ops(fake: Any) -> None:
    async def main() -> None:
        async with AsyncClient(fake.path) as a:
            r = await a.chat(model="echo", messages=_msg("hi there"), label="t", cache="no-store")
            assert isinstance(r, ChatCompletion) and r.content == "hi there" and r.meta["attempts"] == 1
            s = await a.chat(model="echo", messages=_msg("a b c"), stream=True)
            assert isinstance(s, AsyncStream)
            chunks = [c async for c in s]
            assert _join(chunks) == "a b c" and s.meta is not None and s.meta["provider"] == "fake"
            assert (await a.models())["data"][0]["id"] == "echo"
            assert (await a.status())["ok"] is True
            assert len((await a.embeddings(model="e", input=["x"]))["data"]) == 1

    asyncio.run(main())
    assert fake.requests[0]["options"] == {"cache": "no-store", "label": "t"}


def test_errors(fake: Any) -> None:
    async def main() -> None:
        a = AsyncClient(fake.path)
        with pytest.raises(RateLimitError) as info:
            await a.chat(model="error-429", messages=_msg("x"))
        assert info.value.retry_after == 1.5
        with pytest.raises(InvalidRequestError):
            await a.chat(model="error-404", messages=_msg("x"), stream=True)
        with pytest.raises(AllVendorsFailedError):
            s = await a.chat(model="stream-error", messages=_msg("x"), stream=True)
            async for _ in s:
                pass
        with pytest.raises(SidegateError):
            await a.chat(model="error-500", messages=_msg("x"))
        await a.close()

    asyncio.run(main())


def test_fifty_tasks_one_connection(fake: Any) -> None:
    async def one(a: AsyncClient, i: int) -> str:
        if i % 2:
            s = await a.chat(model="echo", messages=_msg(f"task {i} here"), stream=True)
            return _join([c async for c in s])
        r = await a.chat(model="echo", messages=_msg(f"task {i} here"))
        return r.content or ""

    async def main() -> List[str]:
        async with AsyncClient(fake.path) as a:
            return list(await asyncio.gather(*(one(a, i) for i in range(50))))

    assert asyncio.run(main()) == [f"task {i} here" for i in range(50)]
    assert fake.connections == 1


def test_cancel_by_aclose_and_break(fake: Any) -> None:
    ids: List[int] = []

    async def main() -> None:
        a = AsyncClient(fake.path)
        s = await a.chat(model="slow", messages=_msg("x"), stream=True)
        await s.__anext__()
        await s.aclose()
        ids.append(s.request_id)
        async with await a.chat(model="slow", messages=_msg("x"), stream=True) as s2:
            await s2.__anext__()
        ids.append(s2.request_id)
        n = 0
        async for _ in await a.chat(model="slow", messages=_msg("x"), stream=True):
            n += 1
            if n == 2:
                break
        gc.collect()
        await asyncio.sleep(0)  # run the deferred cancel
        assert await asyncio.get_running_loop().run_in_executor(
            None, lambda: fake.wait_for(lambda: len(fake.cancelled) >= 3)
        )
        r = await a.chat(model="echo", messages=_msg("fine"))
        assert r.content == "fine"
        await a.close()

    asyncio.run(main())
    assert set(ids) <= fake.cancelled and len(fake.cancelled) == 3


def test_timeout_and_task_cancel(fake: Any) -> None:
    async def main() -> None:
        a = AsyncClient(fake.path)
        with pytest.raises(SidegateTimeout):
            await a.chat(model="hang", messages=_msg("x"), timeout=0.3)
        task = asyncio.ensure_future(a.chat(model="hang", messages=_msg("y")))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await a.chat(model="echo", messages=_msg("ok"))).content == "ok"
        await a.close()

    asyncio.run(main())
    hang_ids = [r["id"] for r in fake.requests if r["body"].get("model") == "hang"]
    assert len(hang_ids) == 2
    assert wait_until(lambda: set(hang_ids) <= fake.cancelled)


def test_reconnect_and_in_flight(fake: Any) -> None:
    async def main() -> None:
        a = AsyncClient(fake.path, connect_retry=30)
        assert (await a.chat(model="echo", messages=_msg("one"))).content == "one"
        s = await a.chat(model="slow", messages=_msg("x"), stream=True)
        await s.__anext__()
        fake.stop()
        with pytest.raises(ConnectionLost):
            async for _ in s:
                pass
        os.unlink(fake.path)
        asyncio.get_running_loop().call_later(0.3, fake.start)
        assert (await a.chat(model="echo", messages=_msg("two"))).content == "two"
        await a.close()

    asyncio.run(main())
    assert fake.connections == 2
    assert sum(1 for r in fake.requests if r["body"].get("model") == "slow") == 1


def test_protocol_error(fake: Any) -> None:
    # No PING: a PONG written after the fake closed could (rightly) turn the ProtocolError
    # into a ConnectionLost, depending on timing.
    fake.ping = False
    async def main() -> None:
        a = AsyncClient(fake.path)
        with pytest.raises(ProtocolError):
            await a.chat(model="proto-error", messages=_msg("x"))
        assert (await a.chat(model="echo", messages=_msg("again"))).content == "again"
        await a.close()

    asyncio.run(main())


def test_two_event_loops(fake: Any) -> None:
    a = AsyncClient(fake.path)

    async def call(text: str) -> str:
        return (await a.chat(model="echo", messages=_msg(text))).content or ""

    assert asyncio.run(call("first loop")) == "first loop"
    assert asyncio.run(call("second loop")) == "second loop"


def test_unicode_and_large(fake: Any) -> None:
    text = "🚀 漢字 e\u0301 👩‍👩‍👧 \u0915\u094d\u0937"
    big = ("abcdefghé漢🚀 " * 70000)[: 1024 * 1024]

    async def main() -> None:
        async with AsyncClient(fake.path) as a:
            assert (await a.chat(model="echo", messages=_msg(text))).content == text
            s = await a.chat(model="echo", messages=_msg(text), stream=True)
            assert _join([c async for c in s]) == text
            assert (await a.chat(model="echo", messages=_msg(big))).content == big

    asyncio.run(main())


def test_feedback(fake: Any) -> None:
    async def main() -> None:
        async with AsyncClient(fake.path) as a:
            r = await a.feedback("sg-2", score=1, comment="spot on")
            assert r["recorded"] is True
            with pytest.raises(TypeError):
                await a.feedback("sg-2")

    asyncio.run(main())
    assert fake.requests[-1]["op"] == "feedback"
    assert fake.requests[-1]["body"] == {"request_id": "sg-2", "score": 1, "comment": "spot on"}
