"""The sans-IO session of one native-protocol connection, under both ``Client`` and ``AsyncClient``.

It owns what a connection *means*, with no sockets, threads or asyncio inside: the table of
requests in flight, turning received bytes into deliveries to each request's consumer (whole
answers, stream chunks, END, ERROR), the connection-level frames (WELCOME, PING -> PONG, ERROR
with id 0), cancel, shutdown (every request in flight gets the reason once), the state of a
whole-answer call and of a stream, the retry rule for a REQUEST that could not be written and
the reconnect backoff.

A transport gives it bytes (:meth:`Session.receive`), a ``send_control`` callable for the small
frames that must never wait behind a large write (CANCEL, PONG), and one consumer per request:
a callable that wakes whoever waits for that request (``queue.SimpleQueue.put``,
``asyncio.Queue.put_nowait``). A threaded transport passes a ``guard`` lock; the session holds
it only around opening a request and ending the session, never while calling out.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
from typing import Any, Callable, ContextManager, Dict, Optional, Type, Union

from . import frame as fr
from ._core import frame_too_large, parse_json_body, response_from_frame, stream_step
from .errors import (
    ConnectionLost,
    DaemonNotRunning,
    ProtocolError,
    SidegateConnectionError,
    SidegateError,
    SidegateTimeout,
    error_from_body,
)

__all__ = [
    "Item",
    "Consumer",
    "Session",
    "StreamState",
    "Transport",
    "SendRetry",
    "ReconnectBackoff",
    "request_ids",
    "finish_call",
    "fresh",
    "frame_from",
    "timeout_error",
    "NOT_LISTENING",
    "TRANSIENT",
]

#: What a request's consumer receives: one frame for it, or the error that ended the connection.
Item = Union[fr.Frame, SidegateError]
Consumer = Callable[[Item], None]

#: Frame kinds that belong to a request (anything else with a request id is ignored).
_ANSWER_KINDS = frozenset((fr.RESPONSE, fr.CHUNK, fr.END, fr.ERROR))
#: Frame kinds after which the daemon sends nothing more for that request.
_FINAL_KINDS = frozenset((fr.RESPONSE, fr.ERROR, fr.END))
#: ... on a stream; a RESPONSE there breaks the protocol, so the request is cancelled.
_STREAM_FINAL_KINDS = frozenset((fr.ERROR, fr.END))

#: Errors from connect() that mean "nobody is listening (yet)": retried with backoff.
NOT_LISTENING = (FileNotFoundError, ConnectionRefusedError)
#: Every connect/handshake error that is retried with backoff.
TRANSIENT = NOT_LISTENING + (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


def fresh(exc: SidegateError) -> SidegateError:
    """A copy of ``exc`` to raise in one caller (one instance must not be raised by many callers)."""
    dup = copy.copy(exc)
    dup.__traceback__ = None
    return dup


def frame_from(item: Item) -> fr.Frame:
    """The frame a consumer got, or raise (a copy of) the error that ended the connection."""
    if isinstance(item, SidegateError):
        raise fresh(item)
    return item


def timeout_error(rid: int, timeout: Optional[float]) -> SidegateTimeout:
    return SidegateTimeout(
        f"request {rid} timed out after {timeout or 0:g}s and was cancelled", code="timeout"
    )


class Session:
    """The protocol state of one connection (see the module docs)."""

    def __init__(
        self,
        path: str,
        send_control: Callable[[bytes], None],
        guard: Optional[ContextManager[Any]] = None,
    ) -> None:
        self.path = path
        self.max_frame = fr.DEFAULT_MAX_FRAME
        #: the WELCOME body once it arrived
        self.welcome: Optional[Dict[str, Any]] = None
        #: why the connection ended (``None`` while it is open)
        self.error: Optional[SidegateError] = None
        self.closed = False
        self._send_control = send_control
        # None for a single-threaded transport: the table is then used without a lock (the
        # hot path of every call; a Python-level no-op context manager would cost more).
        self._guard = guard
        self._decoder = fr.Decoder()
        self._pending: Dict[int, Consumer] = {}

    # -- requests ---------------------------------------------------------------------------

    def check_size(self, data: bytes) -> None:
        """Raise (without sending) when a whole frame is over the daemon's ``max_frame``."""
        if len(data) - 4 > self.max_frame:
            raise frame_too_large(len(data) - 4, self.max_frame)

    def open(self, rid: int, consumer: Consumer) -> bool:
        """Start routing frames for ``rid`` to ``consumer``; ``False`` if the session is over."""
        guard = self._guard
        if guard is None:
            if self.closed:
                return False
            self._pending[rid] = consumer
            return True
        with guard:
            if self.closed:
                return False
            self._pending[rid] = consumer
        return True

    def forget(self, rid: int) -> None:
        """Stop routing frames for ``rid`` (its answer is complete). No guard: one ``dict.pop``
        is atomic, and a race with :meth:`shutdown` either way leaves ``rid`` out of the table
        (the guard is there so that :meth:`open` never adds to a table shutdown has emptied)."""
        self._pending.pop(rid, None)

    def cancel(self, rid: int) -> None:
        """Forget ``rid`` and tell the daemon to abort it. Never blocks, never raises."""
        self.forget(rid)
        if not self.closed:
            self._send_control(fr.encode(fr.CANCEL, rid))

    # -- bytes in ---------------------------------------------------------------------------

    def receive(self, data: Union[bytes, bytearray, memoryview]) -> None:
        """Bytes read from the socket. A protocol violation (a bad frame, an ERROR with id 0)
        shuts the session down with a :class:`ProtocolError`; check :attr:`closed` after."""
        if self.closed:
            return
        try:
            for frame in self._decoder.feed(data):
                self._dispatch(frame)
        except fr.FrameError as exc:
            self.shutdown(ProtocolError(f"bad frame from sidegate on {self.path}: {exc}", code=exc.code))
        except ProtocolError as exc:
            self.shutdown(exc)
        except Exception as exc:  # a bug here must not leave callers waiting forever
            self.shutdown(ProtocolError(f"sidegate reader failed: {exc!r}"))

    def _dispatch(self, frame: fr.Frame) -> None:
        kind = frame.kind
        if kind == fr.PING:
            self._send_control(fr.encode(fr.PONG, frame.id, frame.body))
        elif frame.id != 0:
            if kind in _ANSWER_KINDS:
                consumer = self._pending.get(frame.id)
                if consumer is not None:
                    consumer(frame)
        elif kind == fr.WELCOME:
            self._on_welcome(frame)
        elif kind == fr.ERROR:
            raise error_from_body(parse_json_body(frame), connection_level=True)
        # PONG or an unknown connection-level frame: nothing to do

    def _on_welcome(self, frame: fr.Frame) -> None:
        welcome = parse_json_body(frame)
        if not isinstance(welcome, dict):
            return
        self.welcome = welcome
        limit = welcome.get("max_frame")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit >= fr.MIN_LEN:
            self.max_frame = limit
            self._decoder.max_frame = limit

    # -- the end ----------------------------------------------------------------------------

    def lost(self, exc: Optional[BaseException] = None) -> ConnectionLost:
        """The reason for a connection that ended under us: EOF (``exc`` is ``None``) or an
        OS error."""
        if exc is None:
            return ConnectionLost(
                f"sidegate closed the connection on {self.path} (daemon restarted or stopped?); "
                "requests in flight on it were not resent",
                socket_path=self.path,
            )
        return ConnectionLost(f"connection to sidegate on {self.path} failed: {exc}", socket_path=self.path)

    def shutdown(self, reason: SidegateError) -> bool:
        """End the session: every request in flight gets ``reason``, later :meth:`open` calls
        fail. ``True`` for the call that ended it, ``False`` if it had already ended."""
        with self._guard or contextlib.nullcontext():
            if self.closed:
                return False
            self.closed = True
            self.error = reason
            waiting = list(self._pending.values())
            self._pending.clear()
        for consumer in waiting:
            consumer(reason)
        return True


class Transport:
    """What both transports share: their :class:`Session` and the process that opened it (a
    forked child must neither use nor shut down its parent's socket)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.pid = os.getpid()

    @property
    def path(self) -> str:
        return self.session.path

    @property
    def forked(self) -> bool:
        """True in a child process forked after the connection was opened."""
        return self.pid != os.getpid()

    @property
    def alive(self) -> bool:
        return not self.session.closed and self.pid == os.getpid()

    def closed_by_client(self) -> ConnectionLost:
        return ConnectionLost("the client was closed", socket_path=self.session.path)


def finish_call(session: Session, rid: int, frame: fr.Frame, cls: Type[Any]) -> Any:
    """The first frame of a whole-answer call -> its answer (or the mapped exception)."""
    if frame.kind in _FINAL_KINDS:
        session.forget(rid)
    else:
        session.cancel(rid)  # a stream answer to a non-stream call: stop it
    return response_from_frame(frame, cls)


class StreamState:
    """Where one stream is. The transport waits for frames; this decides what each means and
    when the request is forgotten (it ended) or cancelled (it was left early)."""

    __slots__ = ("session", "rid", "done", "meta", "_first")

    def __init__(self, session: Session, rid: int) -> None:
        self.session = session
        self.rid = rid
        self.done = False
        #: the END frame's meta; ``None`` until then
        self.meta: Optional[Dict[str, Any]] = None
        self._first: Optional[fr.Frame] = None

    def prime(self, frame: fr.Frame) -> None:
        """The first frame: an ERROR raises now (so that ``chat()`` raises it), anything else
        is kept for the first iteration."""
        if frame.kind == fr.ERROR:
            self.done = True
            self.session.forget(self.rid)
            stream_step(frame)  # raises the mapped error
        self._first = frame

    def take_first(self) -> Optional[fr.Frame]:
        frame, self._first = self._first, None
        return frame

    def step(self, frame: fr.Frame) -> Optional[Dict[str, Any]]:
        """A frame -> its chunk, or ``None`` at END (``meta`` is then set). Raises the mapped
        error for ERROR and ProtocolError for a frame a stream cannot have."""
        try:
            chunk, meta = stream_step(frame)
        except BaseException:
            self.done = True
            if frame.kind in _STREAM_FINAL_KINDS:
                self.session.forget(self.rid)
            else:
                self.session.cancel(self.rid)
            raise
        if chunk is not None:
            return chunk
        self.meta = meta
        self.done = True
        self.session.forget(self.rid)
        return None

    def close(self) -> None:
        """Leave the stream; if it had not ended, the daemon aborts the vendor call."""
        if not self.done:
            self.done = True
            self.session.cancel(self.rid)


class SendRetry:
    """When a REQUEST is tried again (``tries`` counts the attempts so far, this one included).
    A write that failed delivered nothing (the daemon drops a frame cut short), so it is
    retried once on a new connection; a connection found closed before the request was
    registered is replaced up to twice. Static: the happy path allocates nothing."""

    @staticmethod
    def write_failed(tries: int, session: Session, exc: BaseException) -> None:
        """After a failed write (the caller has closed the connection): raise when no try is left."""
        if tries >= 2:
            raise ConnectionLost(
                f"cannot send to sidegate on {session.path}: {exc}", socket_path=session.path
            ) from None

    @staticmethod
    def found_closed(tries: int, session: Session) -> None:
        if tries >= 3:
            raise fresh(session.error or ConnectionLost("connection closed", socket_path=session.path))


class ReconnectBackoff:
    """How long to wait between connect attempts while nobody listens on the socket (a daemon
    restarting): 20 ms, doubling up to 250 ms, for ``retry_for`` seconds but never past the
    call's deadline. Clock readings come from the transport."""

    FIRST_DELAY = 0.02
    MAX_DELAY = 0.25

    def __init__(self, path: str, now: float, retry_for: float, deadline: Optional[float]) -> None:
        self.path = path
        self.give_up = now + max(0.0, retry_for)
        if deadline is not None:
            self.give_up = min(self.give_up, deadline)
        self.delay = self.FIRST_DELAY

    def next_delay(self, now: float, exc: OSError) -> float:
        """The pause before the next attempt after ``exc``; raises the error to give up with
        when the next attempt would come too late."""
        if now + self.delay > self.give_up:
            if isinstance(exc, NOT_LISTENING):
                raise self.not_running(exc) from None
            raise ConnectionLost(
                f"sidegate on {self.path} dropped the connection during the handshake: {exc}",
                socket_path=self.path,
            ) from None
        delay = self.delay
        self.delay = min(self.delay * 2, self.MAX_DELAY)
        return delay

    def not_running(self, exc: OSError) -> DaemonNotRunning:
        what = "does not exist" if isinstance(exc, FileNotFoundError) else "refuses connections"
        return DaemonNotRunning(
            f"sidegate daemon is not running: socket {self.path} {what} ({exc.strerror or exc}). "
            "Start it with `sidegate serve`, or pass socket_path= / set SIDEGATE_SOCKET "
            "to the socket it listens on.",
            socket_path=self.path,
        )

    def timed_out(self) -> SidegateTimeout:
        return SidegateTimeout(f"timed out connecting to sidegate on {self.path}", code="connect_timeout")

    def failed(self, exc: OSError) -> SidegateConnectionError:
        return SidegateConnectionError(f"cannot connect to sidegate on {self.path}: {exc}", socket_path=self.path)


def request_ids() -> "itertools.count[int]":
    """A client's request ids: 1, 2, 3, ... for its whole life, across reconnects, so an id is
    never reused while an old answer could still arrive. (``next()`` on it is one C call; a
    threaded client still takes its own lock around it.)"""
    return itertools.count(1)
