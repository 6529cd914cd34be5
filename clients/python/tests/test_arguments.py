"""Every argument is used or refused: a path given positionally is the socket, and unknown
keyword arguments or wrong types raise TypeError naming the argument (as Python's own calls
do), before anything reaches the socket."""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any, Callable, Dict, List

import pytest

from sidegate import AsyncClient, Client


def _msg(text: str) -> List[Dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_path_argument_is_the_socket(fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIDEGATE_SOCKET", "/nonexistent/default.sock")  # where a dropped argument would go
    for arg in (fake.path, pathlib.Path(fake.path), fake.path.encode()):
        c = Client(arg)
        assert c.socket_path == fake.path
        assert c.chat(model="echo", messages=_msg("by path")).content == "by path"
        c.close()


@pytest.mark.parametrize("make", [Client, AsyncClient])
@pytest.mark.parametrize(
    "kwargs,named",
    [
        ({"socket": "/x.sock"}, "socket"),
        ({"timeout_ms": 5}, "timeout_ms"),
        ({"socket_path": 42}, "socket_path"),
        ({"socket_path": ["/x.sock"]}, "socket_path"),
        ({"timeout": "5"}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"connect_retry": None}, "connect_retry"),
        ({"connect_retry": "2"}, "connect_retry"),
    ],
)
def test_constructor_refuses(make: Callable[..., Any], kwargs: Dict[str, Any], named: str) -> None:
    with pytest.raises(TypeError, match=named):
        make(**kwargs)


def test_constructor_values_out_of_range() -> None:
    with pytest.raises(ValueError, match="timeout"):
        Client("/x.sock", timeout=0)
    with pytest.raises(ValueError, match="connect_retry"):
        Client("/x.sock", connect_retry=-1)
    with pytest.raises(TypeError):
        Client("/x.sock", 5)  # type: ignore[misc]  # timeout is keyword-only


def test_prompt_id_must_not_be_empty(fake: Any) -> None:
    with pytest.raises(ValueError, match="empty"):
        Client(fake.path).prompt("  ")
    assert fake.requests == [] and fake.connections == 0


CALLS: List[Any] = [
    ("chat", {"model": "m", "messages": [], "stream": "yes"}, "stream"),
    ("chat", {"model": "m", "messages": [], "route": 3}, "route"),
    ("chat", {"model": "m", "messages": [], "label": b"job"}, "label"),
    ("chat", {"model": "m", "messages": [], "cache": 1}, "cache"),
    ("chat", {"model": "m", "messages": [], "timeout": "30"}, "timeout"),
    ("chat", {"model": "m", "messages": [], "options": [("cache", "no-store")]}, "options"),
    ("prompt", {"prompt_id": 3}, "prompt id"),
    ("prompt", {"prompt_id": "greet", "variables": [("who", "A")]}, "variables"),
    ("prompt", {"prompt_id": "greet", "prompt": {"id": "other"}}, "named by its first argument"),
    ("prompt", {"prompt_id": "greet", "options": {"prompt": "other"}}, "named by its first argument"),
    ("prompt", {"prompt_id": "greet", "stream": 1}, "stream"),
    ("embeddings", {"model": "e", "input": "x", "route": 1}, "route"),
    ("models", {"route": "x"}, "route"),
    ("status", {"label": "x"}, "label"),
    ("status", {"timeout": "1"}, "timeout"),
]


@pytest.mark.parametrize("method,kwargs,named", CALLS)
def test_sync_calls_refuse(fake: Any, method: str, kwargs: Dict[str, Any], named: str) -> None:
    c = Client(fake.path)
    with pytest.raises(TypeError, match=named):
        getattr(c, method)(**kwargs)
    with pytest.raises(TypeError, match="op"):
        c.request(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="body"):
        c.request("models", [1])  # type: ignore[arg-type]
    assert fake.requests == [] and fake.connections == 0  # refused before connecting


@pytest.mark.parametrize("method,kwargs,named", CALLS)
def test_async_calls_refuse(fake: Any, method: str, kwargs: Dict[str, Any], named: str) -> None:
    async def main() -> None:
        async with AsyncClient(fake.path) as a:
            with pytest.raises(TypeError, match=named):
                await getattr(a, method)(**kwargs)
            with pytest.raises(TypeError, match="body"):
                await a.request("models", "x")  # type: ignore[arg-type]

    asyncio.run(main())
    assert fake.requests == [] and fake.connections == 0
