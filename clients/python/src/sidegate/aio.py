"""The asyncio client: ``AsyncClient`` and its ``AsyncStream``, one connection per event loop
shared by every task on it (the transport in ``_async_io.py``, the protocol state in
``_session.py``).
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import Any, Dict, Literal, Mapping, Optional, Tuple, Type, Union, overload

from . import frame as fr
from ._async_io import AsyncConnection as _AsyncConnection
from ._async_io import wait as _wait
from ._calls import CallPlan, ClientSettings
from ._core import NO_SOCKET_MESSAGE, ChatCompletion, PathArg, Response
from ._session import Item, SendRetry, StreamState, finish_call, request_ids
from .errors import ConnectionLost, SidegateConnectionError, SidegateError

__all__ = ["AsyncClient", "AsyncStream"]


class AsyncStream:
    """Async iterator over the chunks of a streaming chat (``async for chunk in stream``).

    ``meta`` is set when the stream ended normally. ``aclose()``/``close()``, leaving an
    ``async with`` block, or dropping the last reference before the end sends CANCEL.
    """

    def __init__(self, owner: object, conn: _AsyncConnection, rid: int, q: "asyncio.Queue[Item]",
                 deadline: Optional[float], timeout: Optional[float]) -> None:
        self._owner = owner
        self._conn = conn
        self._state = StreamState(conn.session, rid)
        self._q = q
        self._deadline = deadline
        self._timeout = timeout

    @property
    def request_id(self) -> int:
        return self._state.rid

    @property
    def meta(self) -> Optional[Dict[str, Any]]:
        """The END frame's meta; ``None`` until the stream ended normally."""
        return self._state.meta

    async def _next_frame(self) -> fr.Frame:
        st = self._state
        try:
            return await _wait(st.session, st.rid, self._q, self._deadline, self._timeout)
        except BaseException:
            st.done = True  # _wait already cancelled the request
            raise

    async def _prime(self) -> None:
        self._state.prime(await self._next_frame())

    def __aiter__(self) -> "AsyncStream":
        return self

    async def __anext__(self) -> Dict[str, Any]:
        st = self._state
        if st.done:
            raise StopAsyncIteration
        frame = st.take_first()
        if frame is None:
            frame = await self._next_frame()
        chunk = st.step(frame)
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    def close(self) -> None:
        """Stop the stream now (sync; call on the client's loop)."""
        self._state.close()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> "AsyncStream":
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            st = self._state
            if not st.done:
                st.done = True
                self._conn.cancel_threadsafe(st.rid)
        except Exception:
            pass


class AsyncClient(ClientSettings):
    """The asyncio twin of :class:`sidegate.Client` (same arguments, same methods, awaited).

    Safe for many tasks of one event loop at once. Used from another loop (a second
    ``asyncio.run``), it opens a new connection there.
    """

    def __init__(
        self,
        socket_path: Optional[PathArg] = None,
        *,
        timeout: Optional[float] = None,
        connect_retry: float = 2.0,
    ) -> None:
        super().__init__(socket_path, timeout=timeout, connect_retry=connect_retry)
        self._conn: Optional[_AsyncConnection] = None
        self._conn_lock: Optional[asyncio.Lock] = None
        self._lock_loop: Optional[asyncio.AbstractEventLoop] = None
        self._ids = request_ids()

    # -- public API -------------------------------------------------------------------------

    @overload
    async def chat(
        self,
        *,
        stream: Literal[True],
        cache: Optional[str] = ...,
        route: Optional[str] = ...,
        label: Optional[str] = ...,
        timeout: Optional[float] = ...,
        options: Optional[Mapping[str, Any]] = ...,
        **body: Any,
    ) -> AsyncStream: ...

    @overload
    async def chat(
        self,
        *,
        stream: Literal[False] = ...,
        cache: Optional[str] = ...,
        route: Optional[str] = ...,
        label: Optional[str] = ...,
        timeout: Optional[float] = ...,
        options: Optional[Mapping[str, Any]] = ...,
        **body: Any,
    ) -> ChatCompletion: ...

    @overload
    async def chat(
        self,
        *,
        stream: bool,
        cache: Optional[str] = ...,
        route: Optional[str] = ...,
        label: Optional[str] = ...,
        timeout: Optional[float] = ...,
        options: Optional[Mapping[str, Any]] = ...,
        **body: Any,
    ) -> Union[ChatCompletion, AsyncStream]: ...

    async def chat(
        self,
        *,
        stream: bool = False,
        cache: Optional[str] = None,
        route: Optional[str] = None,
        label: Optional[str] = None,
        timeout: Optional[float] = None,
        options: Optional[Mapping[str, Any]] = None,
        **body: Any,
    ) -> Union[ChatCompletion, AsyncStream]:
        """See :meth:`sidegate.Client.chat`. With ``stream=True``:
        ``async for chunk in await client.chat(..., stream=True)``."""
        plan = self._plan_body("chat", ChatCompletion, stream, cache, route, label, timeout, options, body)
        if stream:
            return await self._stream(plan)
        return await self._call(plan)  # type: ignore[return-value]  # plan.answer is ChatCompletion

    async def prompt(
        self,
        prompt_id: str,
        variables: Optional[Mapping[str, Any]] = None,
        *,
        stream: bool = False,
        cache: Optional[str] = None,
        route: Optional[str] = None,
        label: Optional[str] = None,
        timeout: Optional[float] = None,
        options: Optional[Mapping[str, Any]] = None,
        **body: Any,
    ) -> Union[ChatCompletion, AsyncStream]:
        """See :meth:`sidegate.Client.prompt`. With ``stream=True``:
        ``async for chunk in await client.prompt("greet", {...}, stream=True)``."""
        plan = self._plan_prompt(prompt_id, variables, stream, cache, route, label, timeout, options, body)
        if stream:
            return await self._stream(plan)
        return await self._call(plan)  # type: ignore[return-value]  # plan.answer is ChatCompletion

    async def embeddings(
        self,
        *,
        cache: Optional[str] = None,
        route: Optional[str] = None,
        label: Optional[str] = None,
        timeout: Optional[float] = None,
        options: Optional[Mapping[str, Any]] = None,
        **body: Any,
    ) -> Response:
        plan = self._plan_body("embeddings", Response, False, cache, route, label, timeout, options, body)
        return await self._call(plan)

    async def feedback(
        self,
        request_id: str,
        *,
        score: Optional[float] = None,
        label: Optional[str] = None,
        comment: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Response:
        """See :meth:`sidegate.Client.feedback`."""
        return await self._call(self._plan_feedback(request_id, score, label, comment, timeout))

    async def models(self, *, timeout: Optional[float] = None) -> Response:
        return await self._call(self._plan_request("models", None, timeout))

    async def status(self, *, timeout: Optional[float] = None) -> Response:
        return await self._call(self._plan_request("status", None, timeout))

    async def request(
        self,
        op: str,
        body: Optional[Mapping[str, Any]] = None,
        *,
        timeout: Optional[float] = None,
        options: Optional[Mapping[str, Any]] = None,
    ) -> Response:
        return await self._call(self._plan_request(op, body, timeout, options))

    async def connect(self) -> None:
        await self._connection(None if self.timeout is None else time.monotonic() + self.timeout)

    async def close(self) -> None:
        """Close the connection; calls in flight fail with ConnectionLost. Idempotent."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            await asyncio.sleep(0)  # let the transport finish closing

    aclose = close

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        await self.close()

    def __del__(self) -> None:
        try:
            conn = self._conn
            if conn is not None and not conn.loop.is_closed():
                conn.loop.call_soon_threadsafe(conn.close)
        except Exception:
            pass

    # -- internals --------------------------------------------------------------------------

    async def _connection(self, deadline: Optional[float]) -> _AsyncConnection:
        loop = asyncio.get_running_loop()
        conn = self._conn
        if conn is not None and conn.loop is loop and conn.alive and not self._closed:
            # No await between this check and the caller's use: the lock (which costs more
            # than the rest of this method) is only needed to open a connection once.
            return conn
        if self._conn_lock is None or self._lock_loop is not loop:
            self._conn_lock = asyncio.Lock()
            self._lock_loop = loop
        async with self._conn_lock:
            if self._closed:
                raise SidegateError("this sidegate AsyncClient is closed")
            conn = self._conn
            if conn is not None and conn.alive and conn.loop is loop:
                return conn
            if conn is not None and conn.loop is not loop and not conn.loop.is_closed():
                try:
                    conn.loop.call_soon_threadsafe(conn.close)
                except RuntimeError:
                    pass
            self._conn = None
            if self.socket_path is None:
                raise SidegateConnectionError(NO_SOCKET_MESSAGE)
            conn = await _AsyncConnection.open(self.socket_path, deadline, self.connect_retry)
            self._conn = conn
            return conn

    async def _start(self, plan: CallPlan, deadline: Optional[float]) -> Tuple[_AsyncConnection, int, "asyncio.Queue[Item]"]:
        rid = next(self._ids)
        data = plan.request_frame(rid)
        tries = 0
        while True:
            tries += 1
            conn = await self._connection(deadline)
            if len(data) - 4 > conn.session.max_frame:
                conn.session.check_size(data)  # raises
            q = conn.register(rid)
            if q is None:
                SendRetry.found_closed(tries, conn.session)
                continue
            try:
                await conn.send(data)
                return conn, rid, q
            except (OSError, RuntimeError) as exc:
                conn.session.forget(rid)
                conn.close(ConnectionLost(f"write to {conn.path} failed: {exc}", socket_path=conn.path))
                SendRetry.write_failed(tries, conn.session, exc)
            except BaseException:
                conn.session.cancel(rid)  # the caller's task was cancelled mid-write
                raise

    async def _call(self, plan: CallPlan) -> Response:
        deadline = None if plan.timeout is None else time.monotonic() + plan.timeout
        conn, rid, q = await self._start(plan, deadline)
        frame = await _wait(conn.session, rid, q, deadline, plan.timeout)
        return finish_call(conn.session, rid, frame, plan.answer)  # type: ignore[no-any-return]

    async def _stream(self, plan: CallPlan) -> AsyncStream:
        deadline = None if plan.timeout is None else time.monotonic() + plan.timeout
        conn, rid, q = await self._start(plan, deadline)
        stream = AsyncStream(self, conn, rid, q, deadline, plan.timeout)
        await stream._prime()
        return stream
