"""The asyncio transport of :class:`sidegate.AsyncClient`: an ``asyncio.Protocol`` around the
sans-IO :class:`~sidegate._session.Session`.

``data_received`` feeds the session, which wakes the ``asyncio.Queue`` of the request each
frame is for. Frames are written whole with one ``transport.write`` each (so two never
interleave), and writers wait while the transport says its buffer is full.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Deque, Optional

from . import frame as fr
from ._core import hello_bytes
from ._session import TRANSIENT, Item, ReconnectBackoff, Session, Transport, frame_from, timeout_error
from .errors import SidegateError

__all__ = ["AsyncConnection", "wait"]

class AsyncConnection(Transport, asyncio.Protocol):
    """One socket (frames are decoded and routed straight from ``data_received``, in order, so
    a frame that arrived is never lost to a later write error) and the session of its
    protocol state."""

    def __init__(self, path: str, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: Optional[asyncio.Transport] = None
        super().__init__(Session(path, self.send_nowait))
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

    def register(self, rid: int) -> "Optional[asyncio.Queue[Item]]":
        q: "asyncio.Queue[Item]" = asyncio.Queue()
        return q if self.session.open(rid, q.put_nowait) else None

    def cancel_threadsafe(self, rid: int) -> None:
        """For ``__del__``, which may run anywhere: defer the cancel to the loop."""
        try:
            self.loop.call_soon_threadsafe(self.session.cancel, rid)
        except RuntimeError:
            pass  # the loop is closed, and the connection with it

    # -- writing ----------------------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        """Write one whole frame, then wait while the socket buffer is over its high-water mark."""
        if self.session.closed or self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("connection already closed")
        self.transport.write(data)
        if self.transport.is_closing() and not self.session.closed:
            # The write failed at once (the daemon is gone): nothing was delivered, so the
            # caller may send the request again on a new connection.
            raise ConnectionResetError("the daemon closed the connection")
        while self._paused and not self.session.closed:
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
        self.session.receive(data)
        if self.session.closed:
            self._closed_down()

    def eof_received(self) -> Optional[bool]:
        self._shutdown(self.session.lost())
        return False

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._shutdown(self.session.lost(exc))

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_writers()

    # -- the end ----------------------------------------------------------------------------

    def _wake_writers(self) -> None:
        while self._drain_waiters:
            waiter = self._drain_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _shutdown(self, reason: SidegateError) -> None:
        if self.session.shutdown(reason):
            self._closed_down()

    def _closed_down(self) -> None:
        """After the session ended: release writers, the loop guard and the socket."""
        self._wake_writers()
        if not self._closed_future.done():
            self._closed_future.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def close(self, reason: Optional[SidegateError] = None) -> None:
        """Close (on the connection's loop): calls in flight fail with ``reason``."""
        if self.forked:
            return
        self._shutdown(reason or self.closed_by_client())

    @classmethod
    async def open(cls, path: str, deadline: Optional[float], retry_for: float) -> "AsyncConnection":
        loop = asyncio.get_running_loop()
        backoff = ReconnectBackoff(path, time.monotonic(), retry_for, deadline)
        while True:
            try:
                connecting = loop.create_unix_connection(lambda: cls(path, loop), path)
                if deadline is None:
                    _, conn = await connecting
                else:
                    _, conn = await asyncio.wait_for(connecting, max(0.05, deadline - time.monotonic()))
                conn.send_nowait(hello_bytes())
            except TRANSIENT as exc:
                await asyncio.sleep(backoff.next_delay(time.monotonic(), exc))
                continue
            except asyncio.TimeoutError:
                raise backoff.timed_out() from None
            except OSError as exc:
                raise backoff.failed(exc) from None
            return conn


async def wait(session: Session, rid: int, q: "asyncio.Queue[Item]", deadline: Optional[float],
                timeout: Optional[float]) -> fr.Frame:
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
        session.cancel(rid)
        raise timeout_error(rid, timeout) from None
    except BaseException:
        session.cancel(rid)
        raise
    return frame_from(item)
