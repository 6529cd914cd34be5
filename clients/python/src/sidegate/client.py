"""The synchronous client: one Unix-socket connection shared by every thread.

Writers send whole frames under a lock; one reader thread per connection decodes frames and
hands each to the queue of the request whose id it carries. Frames that must never wait
behind a large write (CANCEL, PONG) go through an outbox that whoever holds the write lock
flushes, so they can be sent from ``__del__`` or the reader thread without blocking.

A dead connection (daemon restarted, socket reset) is replaced by the next call; the requests
that were in flight on it fail with :class:`~sidegate.errors.ConnectionLost`.
"""

from __future__ import annotations

import collections
import copy
import itertools
import os
import queue
import socket
import threading
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
    hello_bytes,
    parse_json_body,
    NO_SOCKET_MESSAGE,
    resolve_socket_path,
    response_from_frame,
    split_chat_kwargs,
    stream_step,
)
from .errors import (
    ConnectionLost,
    DaemonNotRunning,
    ProtocolError,
    SidegateConnectionError,
    SidegateError,
    SidegateTimeout,
    error_from_body,
)


__all__ = ["Client", "Stream"]

_RECV_SIZE = 65536
#: Errors from connect() that mean "nobody is listening (yet)": retried with backoff.
_NOT_LISTENING = (FileNotFoundError, ConnectionRefusedError)
_TRANSIENT = _NOT_LISTENING + (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


def _not_running(path: str, exc: OSError) -> DaemonNotRunning:
    what = "does not exist" if isinstance(exc, FileNotFoundError) else "refuses connections"
    return DaemonNotRunning(
        f"sidegate daemon is not running: socket {path} {what} ({exc.strerror or exc}). "
        "Start it with `sidegate serve`, or pass socket_path= / set SIDEGATE_SOCKET "
        "to the socket it listens on.",
        socket_path=path,
    )


def _fresh(exc: SidegateError) -> SidegateError:
    """A copy of ``exc`` to raise in one caller (one instance must not be raised by many threads)."""
    dup = copy.copy(exc)
    dup.__traceback__ = None
    return dup


def _frame_from(item: Union[fr.Frame, SidegateError]) -> fr.Frame:
    if isinstance(item, SidegateError):
        raise _fresh(item)
    return item


class _Connection:
    """One socket, its reader thread and the table of requests in flight on it."""

    def __init__(self, sock: socket.socket, path: str) -> None:
        self.sock = sock
        self.path = path
        self.pid = os.getpid()
        self.max_frame = fr.DEFAULT_MAX_FRAME
        #: the WELCOME body once it arrived
        self.welcome: Optional[Dict[str, Any]] = None
        self.error: Optional[SidegateError] = None
        self._wlock = threading.Lock()
        self._outbox: Deque[bytes] = collections.deque()
        # Re-entrant: a Stream's __del__ (which unregisters) can run inside a GC pass
        # triggered while this thread already holds it.
        self._plock = threading.RLock()
        self._pending: Dict[int, "queue.SimpleQueue[Union[fr.Frame, SidegateError]]"] = {}
        self._closed = False
        self._reader = threading.Thread(
            target=self._read_loop, name=f"sidegate-reader:{path}", daemon=True
        )

    def start(self) -> None:
        self._reader.start()

    @property
    def alive(self) -> bool:
        return not self._closed and self.pid == os.getpid()

    # -- requests ---------------------------------------------------------------------------

    def register(self, rid: int) -> "Optional[queue.SimpleQueue[Union[fr.Frame, SidegateError]]]":
        q: "queue.SimpleQueue[Union[fr.Frame, SidegateError]]" = queue.SimpleQueue()
        with self._plock:
            if self._closed:
                return None
            self._pending[rid] = q
        return q

    def unregister(self, rid: int) -> None:
        with self._plock:
            self._pending.pop(rid, None)

    def cancel(self, rid: int) -> None:
        """Forget ``rid`` and tell the daemon to abort it. Never blocks, never raises."""
        self.unregister(rid)
        if self.alive:
            self.send_control(fr.encode(fr.CANCEL, rid))

    # -- writing ----------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Write one whole frame; raises OSError when the socket is broken."""
        with self._wlock:
            self.sock.sendall(data)
            self._drain_outbox_locked()
        self._flush_outbox()

    def send_control(self, data: bytes) -> None:
        self._outbox.append(data)
        self._flush_outbox()

    def _flush_outbox(self) -> None:
        while self._outbox:
            if not self._wlock.acquire(blocking=False):
                return  # the holder flushes the outbox before it lets go
            try:
                self._drain_outbox_locked()
            finally:
                self._wlock.release()

    def _drain_outbox_locked(self) -> None:
        while self._outbox:
            try:
                data = self._outbox.popleft()
            except IndexError:
                return
            try:
                self.sock.sendall(data)
            except OSError:
                self._outbox.clear()  # the reader sees the broken socket and fails the requests
                return

    # -- reading ----------------------------------------------------------------------------

    def _read_loop(self) -> None:
        decoder = fr.Decoder(self.max_frame)
        buf = bytearray(_RECV_SIZE)
        view = memoryview(buf)
        reason: SidegateError
        try:
            while True:
                n = self.sock.recv_into(buf)
                data = view[:n]
                if not n:
                    reason = ConnectionLost(
                        f"sidegate closed the connection on {self.path} (daemon restarted or "
                        "stopped?); requests in flight on it were not resent",
                        socket_path=self.path,
                    )
                    break
                for frame in decoder.feed(data):
                    self._dispatch(frame, decoder)
        except fr.FrameError as exc:
            reason = ProtocolError(f"bad frame from sidegate on {self.path}: {exc}", code=exc.code)
        except ProtocolError as exc:
            reason = exc
        except OSError as exc:
            reason = ConnectionLost(
                f"connection to sidegate on {self.path} failed: {exc}", socket_path=self.path
            )
        except Exception as exc:  # a bug here must not leave callers waiting forever
            reason = ProtocolError(f"sidegate reader failed: {exc!r}")
        self._shutdown(reason)
        with self._wlock:
            self.sock.close()

    def _dispatch(self, frame: fr.Frame, decoder: fr.Decoder) -> None:
        kind = frame.kind
        if kind == fr.PING:
            self.send_control(fr.encode(fr.PONG, frame.id, frame.body))
            return
        if frame.id == 0:
            if kind == fr.WELCOME:
                welcome = parse_json_body(frame)
                if isinstance(welcome, dict):
                    self.welcome = welcome
                    limit = welcome.get("max_frame")
                    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= fr.MIN_LEN:
                        self.max_frame = limit
                        decoder.max_frame = limit
            elif kind == fr.ERROR:
                raise error_from_body(parse_json_body(frame), connection_level=True)
            return  # PONG or an unknown connection-level frame: nothing to do
        with self._plock:
            q = self._pending.get(frame.id)
        if q is not None and kind in (fr.RESPONSE, fr.CHUNK, fr.END, fr.ERROR):
            q.put(frame)

    def _shutdown(self, reason: SidegateError) -> None:
        with self._plock:
            if self.error is None:
                self.error = reason
            self._closed = True
            waiting = list(self._pending.values())
            self._pending.clear()
        for q in waiting:
            q.put(reason)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self, reason: Optional[SidegateError] = None) -> None:
        """Close from any thread: wakes the reader, which fails what is in flight."""
        if self.pid != os.getpid():
            return  # a forked child must not shut the parent's socket down
        self._shutdown(reason or ConnectionLost("the client was closed", socket_path=self.path))

    @classmethod
    def open(cls, path: str, deadline: Optional[float], retry_for: float) -> "_Connection":
        """Connect and say HELLO, retrying while nobody listens for up to ``retry_for``
        seconds (never past ``deadline``)."""
        give_up = time.monotonic() + max(0.0, retry_for)
        if deadline is not None:
            give_up = min(give_up, deadline)
        delay = 0.02
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                if deadline is not None:
                    sock.settimeout(max(0.05, deadline - time.monotonic()))
                sock.connect(path)
                sock.settimeout(None)
                sock.sendall(hello_bytes())
            except _TRANSIENT as exc:
                sock.close()
                now = time.monotonic()
                if now + delay > give_up:
                    if isinstance(exc, _NOT_LISTENING):
                        raise _not_running(path, exc) from None
                    raise ConnectionLost(
                        f"sidegate on {path} dropped the connection during the handshake: {exc}",
                        socket_path=path,
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.25)
                continue
            except socket.timeout:
                sock.close()
                raise SidegateTimeout(
                    f"timed out connecting to sidegate on {path}", code="connect_timeout"
                ) from None
            except OSError as exc:
                sock.close()
                raise SidegateConnectionError(
                    f"cannot connect to sidegate on {path}: {exc}", socket_path=path
                ) from None
            conn = cls(sock, path)
            conn.start()
            return conn


class Stream:
    """The chunks of a streaming chat, as OpenAI ``chat.completion.chunk`` dicts.

    Iterate it once. ``meta`` is set when the stream ended normally. Closing it before the
    end (``close()``, leaving a ``with`` block, or dropping the last reference, e.g. after
    ``break``) sends CANCEL, which aborts the vendor call.
    """

    def __init__(
        self,
        owner: object,
        conn: _Connection,
        rid: int,
        q: "queue.SimpleQueue[Union[fr.Frame, SidegateError]]",
        deadline: Optional[float],
        timeout: Optional[float],
    ) -> None:
        self._owner = owner  # keeps the client (and so the connection) alive while iterating
        self._conn = conn
        self._rid = rid
        self._q = q
        self._deadline = deadline
        self._timeout = timeout
        self._first: Optional[fr.Frame] = None
        self._done = False
        #: the END frame's meta (provider, model, cache, attempts, ...); ``None`` until then
        self.meta: Optional[Dict[str, Any]] = None

    @property
    def request_id(self) -> int:
        return self._rid

    def _prime(self) -> None:
        """Wait for the first frame so that an immediate error raises from ``chat()``."""
        try:
            frame = _wait(self._conn, self._rid, self._q, self._deadline, self._timeout)
        except BaseException:
            self._done = True
            raise
        if frame.kind == fr.ERROR:
            self._done = True
            self._conn.unregister(self._rid)
            stream_step(frame)  # raises the mapped error
        self._first = frame

    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> Dict[str, Any]:
        if self._done:
            raise StopIteration
        if self._first is not None:
            frame, self._first = self._first, None
        else:
            try:
                frame = _wait(self._conn, self._rid, self._q, self._deadline, self._timeout)
            except BaseException:
                self._done = True  # _wait already cancelled/unregistered where needed
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
        raise StopIteration

    def close(self) -> None:
        """Stop the stream; if it had not ended, the daemon aborts the vendor call."""
        if not self._done:
            self._done = True
            self._conn.cancel(self._rid)

    def __enter__(self) -> "Stream":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def _wait(
    conn: _Connection,
    rid: int,
    q: "queue.SimpleQueue[Union[fr.Frame, SidegateError]]",
    deadline: Optional[float],
    timeout: Optional[float],
) -> fr.Frame:
    """The next frame for ``rid``. On the deadline (or Ctrl-C) the request is cancelled."""
    try:
        if deadline is None:
            item = q.get()
        else:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise queue.Empty
            item = q.get(timeout=remaining)
    except queue.Empty:
        conn.cancel(rid)
        raise SidegateTimeout(
            f"request {rid} timed out after {timeout:g}s and was cancelled",
            code="timeout",
        ) from None
    except BaseException:
        conn.cancel(rid)
        raise
    return _frame_from(item)


class Client:
    """A thread-safe client for the sidegate daemon.

    ``socket_path``: the daemon's socket; default ``$SIDEGATE_SOCKET``, else
    ``/run/sidegate/sidegate.sock`` (root) or ``$XDG_RUNTIME_DIR/sidegate/sidegate.sock``.
    ``timeout``: default per-call deadline in seconds (``None``: none on the client side).
    ``connect_retry``: how long a call keeps retrying to connect while the socket is missing or
    refuses connections (a daemon restarting), before raising
    :class:`~sidegate.errors.DaemonNotRunning`.

    The connection is opened on first use and reopened by itself after the daemon restarted.
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
        self._conn: Optional[_Connection] = None
        self._conn_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._id_lock = threading.Lock()
        self._closed = False

    # -- public API -------------------------------------------------------------------------

    @overload
    def chat(
        self,
        *,
        stream: Literal[True],
        cache: Optional[str] = ...,
        route: Optional[str] = ...,
        label: Optional[str] = ...,
        timeout: Optional[float] = ...,
        options: Optional[Mapping[str, Any]] = ...,
        **body: Any,
    ) -> Stream: ...

    @overload
    def chat(
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
    def chat(
        self,
        *,
        stream: bool,
        cache: Optional[str] = ...,
        route: Optional[str] = ...,
        label: Optional[str] = ...,
        timeout: Optional[float] = ...,
        options: Optional[Mapping[str, Any]] = ...,
        **body: Any,
    ) -> Union[ChatCompletion, Stream]: ...

    def chat(
        self,
        *,
        stream: bool = False,
        cache: Optional[str] = None,
        route: Optional[str] = None,
        label: Optional[str] = None,
        timeout: Optional[float] = None,
        options: Optional[Mapping[str, Any]] = None,
        **body: Any,
    ) -> Union[ChatCompletion, Stream]:
        """An OpenAI Chat Completions call. Keyword arguments (``model``, ``messages``,
        ``tools``, ``temperature``, ...) form the JSON body; ``cache`` (``"no-cache"`` or
        ``"no-store"``), ``route``, ``label`` and ``timeout`` (seconds) are sidegate options.
        With ``stream=True`` returns a :class:`Stream` of chunk dicts."""
        payload = split_chat_kwargs(body)
        if stream:
            payload["stream"] = True
        opts = build_options(cache=cache, route=route, label=label, timeout=self._t(timeout), extra=options)
        if stream:
            return self._stream("chat", payload, opts, self._t(timeout))
        result = self._call("chat", payload, opts, self._t(timeout), ChatCompletion)
        assert isinstance(result, ChatCompletion)
        return result

    def embeddings(
        self,
        *,
        cache: Optional[str] = None,
        route: Optional[str] = None,
        label: Optional[str] = None,
        timeout: Optional[float] = None,
        options: Optional[Mapping[str, Any]] = None,
        **body: Any,
    ) -> Response:
        """An OpenAI embeddings call (``model``, ``input``, ...); returns the ``list`` dict."""
        opts = build_options(cache=cache, route=route, label=label, timeout=self._t(timeout), extra=options)
        return self._call("embeddings", split_chat_kwargs(body), opts, self._t(timeout))

    def models(self, *, timeout: Optional[float] = None) -> Response:
        """The model list (as ``GET /v1/models``): ``{"object": "list", "data": [...]}``."""
        return self._call("models", None, build_options(timeout=self._t(timeout)), self._t(timeout))

    def status(self, *, timeout: Optional[float] = None) -> Response:
        """The daemon's status (what ``sidegate status`` prints)."""
        return self._call("status", None, build_options(timeout=self._t(timeout)), self._t(timeout))

    def request(
        self,
        op: str,
        body: Optional[Mapping[str, Any]] = None,
        *,
        timeout: Optional[float] = None,
        options: Optional[Mapping[str, Any]] = None,
    ) -> Response:
        """A raw REQUEST for an ``op`` this shim has no method for; returns the RESPONSE."""
        opts = build_options(timeout=self._t(timeout), extra=options)
        return self._call(op, body, opts, self._t(timeout))

    def connect(self) -> None:
        """Open the connection now instead of on the first call (raises if the daemon is down)."""
        self._connection(None if self.timeout is None else time.monotonic() + self.timeout)

    def close(self) -> None:
        """Close the connection; calls in flight fail with ConnectionLost. Idempotent."""
        with self._conn_lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            conn = self._conn
            if conn is not None:
                conn.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"Client(socket_path={self.socket_path!r})"

    # -- internals --------------------------------------------------------------------------

    def _t(self, timeout: Optional[float]) -> Optional[float]:
        return self.timeout if timeout is None else timeout

    def _next_id(self) -> int:
        with self._id_lock:
            return next(self._ids)

    def _connection(self, deadline: Optional[float]) -> _Connection:
        with self._conn_lock:
            if self._closed:
                raise SidegateError("this sidegate Client is closed")
            conn = self._conn
            if conn is not None and conn.alive:
                return conn
            self._conn = None
            if self.socket_path is None:
                raise SidegateConnectionError(NO_SOCKET_MESSAGE)
            conn = _Connection.open(self.socket_path, deadline, self.connect_retry)
            self._conn = conn
            return conn

    def _start(
        self,
        op: str,
        body: Optional[Mapping[str, Any]],
        options: Mapping[str, Any],
        deadline: Optional[float],
    ) -> Tuple[_Connection, int, "queue.SimpleQueue[Union[fr.Frame, SidegateError]]"]:
        rid = self._next_id()
        data = fr.encode_json(fr.REQUEST, rid, build_request(op, body, options))
        tries = 0
        while True:
            tries += 1
            conn = self._connection(deadline)
            if len(data) - 4 > conn.max_frame:
                raise frame_too_large(len(data) - 4, conn.max_frame)
            q = conn.register(rid)
            if q is not None:
                try:
                    conn.send(data)
                    return conn, rid, q
                except OSError as exc:
                    # Not delivered (a frame cut short is dropped by the daemon): safe to
                    # send again on a fresh connection, once.
                    conn.unregister(rid)
                    conn.close(ConnectionLost(f"write to {conn.path} failed: {exc}", socket_path=conn.path))
                    if tries >= 2:
                        raise ConnectionLost(
                            f"cannot send to sidegate on {conn.path}: {exc}", socket_path=conn.path
                        ) from None
                except BaseException:
                    # Interrupted mid-write (Ctrl-C): part of a frame may be on the wire, so
                    # nothing more can be written on this connection.
                    conn.unregister(rid)
                    conn.close(ConnectionLost("a write was interrupted", socket_path=conn.path))
                    raise
            elif tries >= 3:
                raise _fresh(conn.error or ConnectionLost("connection closed", socket_path=conn.path))

    def _call(
        self,
        op: str,
        body: Optional[Mapping[str, Any]],
        options: Mapping[str, Any],
        timeout: Optional[float],
        cls: Type[Response] = Response,
    ) -> Response:
        deadline = None if timeout is None else time.monotonic() + timeout
        conn, rid, q = self._start(op, body, options, deadline)
        frame = _wait(conn, rid, q, deadline, timeout)
        if frame.kind in (fr.RESPONSE, fr.ERROR, fr.END):
            conn.unregister(rid)
        else:
            conn.cancel(rid)  # a stream answer to a non-stream call: stop it
        return response_from_frame(frame, cls)

    def _stream(
        self,
        op: str,
        body: Optional[Mapping[str, Any]],
        options: Mapping[str, Any],
        timeout: Optional[float],
    ) -> Stream:
        deadline = None if timeout is None else time.monotonic() + timeout
        conn, rid, q = self._start(op, body, options, deadline)
        stream = Stream(self, conn, rid, q, deadline, timeout)
        stream._prime()
        return stream
