"""The asyncio client: one connection per event loop, shared by every task on it.

The connection is an ``asyncio.Protocol``: ``data_received`` decodes frames and puts each in
the ``asyncio.Queue`` of the request whose id it carries. Frames are written whole with one
``transport.write`` each (so two never interleave), and writers wait while the transport
says its buffer is full.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import time
from types import TracebackType
from typing import Any, Deque, Dict, Literal, Mapping, Optional, Tuple, Type, Union, overload

from . import frame as fr
from ._core import (
    ChatCompletion,
    PathArg,
    Response,
    build_options,
    build_request,
    frame_too_large,
    NO_SOCKET_MESSAGE,
    hello_bytes,
    parse_json_body,
    resolve_socket_path,
    response_from_frame,
    split_chat_kwargs,
    stream_step,
)
from .client import _NOT_LISTENING, _TRANSIENT, _fresh, _frame_from, _not_running
from .errors import (
    ConnectionLost,
    ProtocolError,
    SidegateConnectionError,
    SidegateError,
    SidegateTimeout,
    error_from_body,
)

__all__ = ["AsyncClient", "AsyncStream"]

_Item = Union[fr.Frame, SidegateError]


class _AsyncConnection(asyncio.Protocol):
    """One socket (an asyncio Protocol: frames are decoded and routed straight from
    ``data_received``, in order, so a frame that arrived is never lost to a later write error)
    and the table of requests in flight on it."""

    def __init__(self, path: str, loop: asyncio.AbstractEventLoop) -> None:
        self.path = path
        self.loop = loop
        self.pid = os.getpid()
        self.max_frame = fr.DEFAULT_MAX_FRAME
        self.welcome: Optional[Dict[str, Any]] = None
        self.error: Optional[SidegateError] = None
        self.transport: Optional[asyncio.Transport] = None
        self._decoder = fr.Decoder()
        self._pending: Dict[int, "asyncio.Queue[_Item]"] = {}
        self._closed = False
        self._paused = False
        self._drain_waiters: "Deque[asyncio.Future[None]]" = collections.deque()
        # A task that only waits: when the loop's owner cancels leftover tasks at shutdown
        # (asyncio.run does), it closes the socket, so a client nobody closed does not leak it.
        self._closed_future: "asyncio.Future[None]" = loop.create_future()
        self._guard = loop.create_task(self._close_with_loop())
        try:  # a loop closed without cancelling its tasks should not log about this one
            self._guard._log_destroy_pending = False  # type: ignore[attr-defined]
        except AttributeError:
            pass

    async def _close_with_loop(self) -> None:
        try:
            await self._closed_future
        finally:
            self.close()

    @property
    def alive(self) -> bool:
        return not self._closed and self.pid == os.getpid()

    # -- requests ---------------------------------------------------------------------------

    def register(self, rid: int) -> "Optional[asyncio.Queue[_Item]]":
        if self._closed:
            return None
        q: "asyncio.Queue[_Item]" = asyncio.Queue()
        self._pending[rid] = q
        return q

    def unregister(self, rid: int) -> None:
        self._pending.pop(rid, None)

    def cancel(self, rid: int) -> None:
        """Forget ``rid`` and send CANCEL. Call on the connection's loop; never raises."""
        self.unregister(rid)
        self.send_nowait(fr.encode(fr.CANCEL, rid))

    def cancel_threadsafe(self, rid: int) -> None:
        """For ``__del__``, which may run anywhere: defer the cancel to the loop."""
        try:
            self.loop.call_soon_threadsafe(self.cancel, rid)
        except RuntimeError:
            pass  # the loop is closed, and the connection with it

    # -- writing ----------------------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        """Write one whole frame, then wait while the socket buffer is over its high-water mark."""
        if self._closed or self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("connection already closed")
        self.transport.write(data)
        if self.transport.is_closing() and not self._closed:
            # The write failed at once (the daemon is gone): nothing was delivered, so the
            # caller may send the request again on a new connection.
            raise ConnectionResetError("the daemon closed the connection")
        while self._paused and not self._closed:
            waiter: "asyncio.Future[None]" = self.loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter
        # Closed while waiting: the request may have been delivered; its queue already holds
        # ConnectionLost, which the caller gets (never a silent resend).

    def send_nowait(self, data: bytes) -> None:
        if self.alive and self.transport is not None and not self.transport.is_closing():
            try:
                self.transport.write(data)
            except (OSError, RuntimeError):
                pass

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        try:
            for frame in self._decoder.feed(data):
                self._dispatch(frame)
        except fr.FrameError as exc:
            self._shutdown(ProtocolError(f"bad frame from sidegate on {self.path}: {exc}", code=exc.code))
        except ProtocolError as exc:
            self._shutdown(exc)
        except Exception as exc:  # a bug here must not leave callers waiting forever
            self._shutdown(ProtocolError(f"sidegate reader failed: {exc!r}"))

    def eof_received(self) -> Optional[bool]:
        self._shutdown(self._lost(None))
        return False

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._shutdown(self._lost(exc))

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_writers()

    # -- internals --------------------------------------------------------------------------

    def _lost(self, exc: Optional[Exception]) -> ConnectionLost:
        if exc is None:
            return ConnectionLost(
                f"sidegate closed the connection on {self.path} (daemon restarted or stopped?); "
                "requests in flight on it were not resent",
                socket_path=self.path,
            )
        return ConnectionLost(f"connection to sidegate on {self.path} failed: {exc}", socket_path=self.path)

    def _wake_writers(self) -> None:
        while self._drain_waiters:
            waiter = self._drain_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _dispatch(self, frame: fr.Frame) -> None:
        kind = frame.kind
        if kind == fr.PING:
            self.send_nowait(fr.encode(fr.PONG, frame.id, frame.body))
            return
        if frame.id == 0:
            if kind == fr.WELCOME:
                welcome = parse_json_body(frame)
                if isinstance(welcome, dict):
                    self.welcome = welcome
                    limit = welcome.get("max_frame")
                    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= fr.MIN_LEN:
                        self.max_frame = limit
                        self._decoder.max_frame = limit
            elif kind == fr.ERROR:
                raise error_from_body(parse_json_body(frame), connection_level=True)
            return
        q = self._pending.get(frame.id)
        if q is not None and kind in (fr.RESPONSE, fr.CHUNK, fr.END, fr.ERROR):
            q.put_nowait(frame)

    def _shutdown(self, reason: SidegateError) -> None:
        if self._closed:
            return
        self.error = reason
        self._closed = True
        waiting = list(self._pending.values())
        self._pending.clear()
        for q in waiting:
            q.put_nowait(reason)
        self._wake_writers()
        if not self._closed_future.done():
            self._closed_future.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def close(self, reason: Optional[SidegateError] = None) -> None:
        """Close (on the connection's loop): calls in flight fail with ``reason``."""
        if self.pid != os.getpid():
            return
        self._shutdown(reason or ConnectionLost("the client was closed", socket_path=self.path))

    @classmethod
    async def open(cls, path: str, deadline: Optional[float], retry_for: float) -> "_AsyncConnection":
        loop = asyncio.get_running_loop()
        give_up = time.monotonic() + max(0.0, retry_for)
        if deadline is not None:
            give_up = min(give_up, deadline)
        delay = 0.02
        while True:
            try:
                connecting = loop.create_unix_connection(lambda: cls(path, loop), path)
                if deadline is None:
                    _, conn = await connecting
                else:
                    _, conn = await asyncio.wait_for(connecting, max(0.05, deadline - time.monotonic()))
                conn.send_nowait(hello_bytes())
            except _TRANSIENT as exc:
                now = time.monotonic()
                if now + delay > give_up:
                    if isinstance(exc, _NOT_LISTENING):
                        raise _not_running(path, exc) from None
                    raise ConnectionLost(
                        f"sidegate on {path} dropped the connection during the handshake: {exc}",
                        socket_path=path,
                    ) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)
                continue
            except asyncio.TimeoutError:
                raise SidegateTimeout(
                    f"timed out connecting to sidegate on {path}", code="connect_timeout"
                ) from None
            except OSError as exc:
                raise SidegateConnectionError(
                    f"cannot connect to sidegate on {path}: {exc}", socket_path=path
                ) from None
            return conn


async def _wait(
    conn: _AsyncConnection,
    rid: int,
    q: "asyncio.Queue[_Item]",
    deadline: Optional[float],
    timeout: Optional[float],
) -> fr.Frame:
    """The next frame for ``rid``; cancels the request on the deadline or task cancellation."""
    try:
        if not q.empty():
            item = q.get_nowait()
        elif deadline is None:
            item = await q.get()
        else:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise asyncio.TimeoutError
            item = await asyncio.wait_for(q.get(), remaining)
    except asyncio.TimeoutError:
        conn.cancel(rid)
        raise SidegateTimeout(
            f"request {rid} timed out after {timeout:g}s and was cancelled", code="timeout"
        ) from None
    except BaseException:
        conn.cancel(rid)
        raise
    return _frame_from(item)


class AsyncStream:
    """Async iterator over the chunks of a streaming chat (``async for chunk in stream``).

    ``meta`` is set when the stream ended normally. ``aclose()``/``close()``, leaving an
    ``async with`` block, or dropping the last reference before the end sends CANCEL.
    """

    def __init__(
        self,
        owner: object,
        conn: _AsyncConnection,
        rid: int,
        q: "asyncio.Queue[_Item]",
        deadline: Optional[float],
        timeout: Optional[float],
    ) -> None:
        self._owner = owner
        self._conn = conn
        self._rid = rid
        self._q = q
        self._deadline = deadline
        self._timeout = timeout
        self._first: Optional[fr.Frame] = None
        self._done = False
        self.meta: Optional[Dict[str, Any]] = None

    @property
    def request_id(self) -> int:
        return self._rid

    async def _prime(self) -> None:
        try:
            frame = await _wait(self._conn, self._rid, self._q, self._deadline, self._timeout)
        except BaseException:
            self._done = True
            raise
        if frame.kind == fr.ERROR:
            self._done = True
            self._conn.unregister(self._rid)
            stream_step(frame)
        self._first = frame

    def __aiter__(self) -> "AsyncStream":
        return self

    async def __anext__(self) -> Dict[str, Any]:
        if self._done:
            raise StopAsyncIteration
        if self._first is not None:
            frame, self._first = self._first, None
        else:
            try:
                frame = await _wait(self._conn, self._rid, self._q, self._deadline, self._timeout)
            except BaseException:
                self._done = True
                raise
        try:
            chunk, meta = stream_step(frame)
        except BaseException:
            self._done = True
            if frame.kind in (fr.ERROR, fr.END):
                self._conn.unregister(self._rid)
            else:
                self._conn.cancel(self._rid)
            raise
        if chunk is not None:
            return chunk
        self.meta = meta
        self._done = True
        self._conn.unregister(self._rid)
        raise StopAsyncIteration

    def close(self) -> None:
        """Stop the stream now (sync; call on the client's loop)."""
        if not self._done:
            self._done = True
            self._conn.cancel(self._rid)

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> "AsyncStream":
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._done:
                self._done = True
                self._conn.cancel_threadsafe(self._rid)
        except Exception:
            pass


class AsyncClient:
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
        self.socket_path = resolve_socket_path(socket_path)
        self.timeout = timeout
        self.connect_retry = connect_retry
        self._conn: Optional[_AsyncConnection] = None
        self._conn_lock: Optional[asyncio.Lock] = None
        self._lock_loop: Optional[asyncio.AbstractEventLoop] = None
        self._ids = itertools.count(1)
        self._closed = False

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
        payload = split_chat_kwargs(body)
        if stream:
            payload["stream"] = True
        t = self._t(timeout)
        opts = build_options(cache=cache, route=route, label=label, timeout=t, extra=options)
        if stream:
            return await self._stream("chat", payload, opts, t)
        result = await self._call("chat", payload, opts, t, ChatCompletion)
        assert isinstance(result, ChatCompletion)
        return result

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
        t = self._t(timeout)
        opts = build_options(cache=cache, route=route, label=label, timeout=t, extra=options)
        return await self._call("embeddings", split_chat_kwargs(body), opts, t)

    async def models(self, *, timeout: Optional[float] = None) -> Response:
        t = self._t(timeout)
        return await self._call("models", None, build_options(timeout=t), t)

    async def status(self, *, timeout: Optional[float] = None) -> Response:
        t = self._t(timeout)
        return await self._call("status", None, build_options(timeout=t), t)

    async def request(
        self,
        op: str,
        body: Optional[Mapping[str, Any]] = None,
        *,
        timeout: Optional[float] = None,
        options: Optional[Mapping[str, Any]] = None,
    ) -> Response:
        t = self._t(timeout)
        return await self._call(op, body, build_options(timeout=t, extra=options), t)

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

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.close()

    def __del__(self) -> None:
        try:
            conn = self._conn
            if conn is not None and not conn.loop.is_closed():
                conn.loop.call_soon_threadsafe(conn.close)
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"AsyncClient(socket_path={self.socket_path!r})"

    # -- internals --------------------------------------------------------------------------

    def _t(self, timeout: Optional[float]) -> Optional[float]:
        return self.timeout if timeout is None else timeout

    async def _connection(self, deadline: Optional[float]) -> _AsyncConnection:
        loop = asyncio.get_running_loop()
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

    async def _start(
        self,
        op: str,
        body: Optional[Mapping[str, Any]],
        options: Mapping[str, Any],
        deadline: Optional[float],
    ) -> Tuple[_AsyncConnection, int, "asyncio.Queue[_Item]"]:
        rid = next(self._ids)
        data = fr.encode_json(fr.REQUEST, rid, build_request(op, body, options))
        tries = 0
        while True:
            tries += 1
            conn = await self._connection(deadline)
            if len(data) - 4 > conn.max_frame:
                raise frame_too_large(len(data) - 4, conn.max_frame)
            q = conn.register(rid)
            if q is not None:
                try:
                    await conn.send(data)
                    return conn, rid, q
                except (OSError, RuntimeError) as exc:
                    conn.unregister(rid)
                    conn.close(ConnectionLost(f"write to {conn.path} failed: {exc}", socket_path=conn.path))
                    if tries >= 2:
                        raise ConnectionLost(
                            f"cannot send to sidegate on {conn.path}: {exc}", socket_path=conn.path
                        ) from None
                except BaseException:
                    conn.cancel(rid)  # the caller's task was cancelled mid-write
                    raise
            elif tries >= 3:
                raise _fresh(conn.error or ConnectionLost("connection closed", socket_path=conn.path))

    async def _call(
        self,
        op: str,
        body: Optional[Mapping[str, Any]],
        options: Mapping[str, Any],
        timeout: Optional[float],
        cls: Type[Response] = Response,
    ) -> Response:
        deadline = None if timeout is None else time.monotonic() + timeout
        conn, rid, q = await self._start(op, body, options, deadline)
        frame = await _wait(conn, rid, q, deadline, timeout)
        if frame.kind in (fr.RESPONSE, fr.ERROR, fr.END):
            conn.unregister(rid)
        else:
            conn.cancel(rid)
        return response_from_frame(frame, cls)

    async def _stream(
        self,
        op: str,
        body: Optional[Mapping[str, Any]],
        options: Mapping[str, Any],
        timeout: Optional[float],
    ) -> AsyncStream:
        deadline = None if timeout is None else time.monotonic() + timeout
        conn, rid, q = await self._start(op, body, options, deadline)
        stream = AsyncStream(self, conn, rid, q, deadline, timeout)
        await stream._prime()
        return stream
