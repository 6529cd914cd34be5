"""The synchronous client: ``Client`` and its ``Stream``, over one connection shared by every
thread (the threaded transport in ``_sync_io.py``, the protocol state in ``_session.py``).

A dead connection (daemon restarted, socket reset) is replaced by the next call; the requests
that were in flight on it fail with :class:`~sidegate.errors.ConnectionLost`.
"""

from __future__ import annotations

import queue
import threading
import time
from types import TracebackType
from typing import Any, Dict, Literal, Mapping, Optional, Tuple, Type, Union, overload

from . import frame as fr
from ._calls import CallPlan, ClientSettings
from ._core import NO_SOCKET_MESSAGE, ChatCompletion, PathArg, Response
from ._session import Item, SendRetry, StreamState, finish_call, request_ids
from ._sync_io import Connection as _Connection
from ._sync_io import wait as _wait
from .errors import ConnectionLost, SidegateConnectionError, SidegateError

__all__ = ["Client", "Stream"]


class Stream:
    """The chunks of a streaming chat, as OpenAI ``chat.completion.chunk`` dicts.

    Iterate it once. ``meta`` is set when the stream ended normally. Closing it before the
    end (``close()``, leaving a ``with`` block, or dropping the last reference, e.g. after
    ``break``) sends CANCEL, which aborts the vendor call.
    """

    def __init__(self, owner: object, conn: _Connection, rid: int, q: "queue.SimpleQueue[Item]",
                 deadline: Optional[float], timeout: Optional[float]) -> None:
        self._owner = owner  # keeps the client (and so the connection) alive while iterating
        self._state = StreamState(conn.session, rid)
        self._q = q
        self._deadline = deadline
        self._timeout = timeout

    @property
    def request_id(self) -> int:
        return self._state.rid

    @property
    def meta(self) -> Optional[Dict[str, Any]]:
        """The END frame's meta (provider, model, cache, attempts, ...); ``None`` until then."""
        return self._state.meta

    def _next_frame(self) -> fr.Frame:
        st = self._state
        try:
            return _wait(st.session, st.rid, self._q, self._deadline, self._timeout)
        except BaseException:
            st.done = True  # _wait already cancelled the request
            raise

    def _prime(self) -> None:
        """Wait for the first frame so that an immediate error raises from ``chat()``."""
        self._state.prime(self._next_frame())

    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> Dict[str, Any]:
        st = self._state
        if st.done:
            raise StopIteration
        frame = st.take_first()
        if frame is None:
            frame = self._next_frame()
        chunk = st.step(frame)
        if chunk is None:
            raise StopIteration
        return chunk

    def close(self) -> None:
        """Stop the stream; if it had not ended, the daemon aborts the vendor call."""
        self._state.close()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class Client(ClientSettings):
    """A thread-safe client for the sidegate daemon.

    ``socket_path``: the daemon's socket; default ``$SIDEGATE_SOCKET``, else
    ``/run/sidegate/sidegate.sock`` (root) or ``$XDG_RUNTIME_DIR/sidegate/sidegate.sock``.
    ``timeout``: default per-call deadline in seconds (``None``: none on the client side).
    ``connect_retry``: how long a call keeps retrying to connect while the socket is missing or
    refuses connections (a daemon restarting), before raising
    :class:`~sidegate.errors.DaemonNotRunning`. A wrong type raises TypeError.

    The connection is opened on first use and reopened by itself after the daemon restarted.
    """

    def __init__(
        self,
        socket_path: Optional[PathArg] = None,
        *,
        timeout: Optional[float] = None,
        connect_retry: float = 2.0,
    ) -> None:
        super().__init__(socket_path, timeout=timeout, connect_retry=connect_retry)
        self._conn: Optional[_Connection] = None
        self._conn_lock = threading.Lock()
        self._ids = request_ids()
        self._id_lock = threading.Lock()

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
        plan = self._plan_body("chat", ChatCompletion, stream, cache, route, label, timeout, options, body)
        if stream:
            return self._stream(plan)
        return self._call(plan)  # type: ignore[return-value]  # plan.answer is ChatCompletion

    def prompt(
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
    ) -> Union[ChatCompletion, Stream]:
        """An OpenAI Chat Completions call rendered from the prompt file ``prompt_id``
        (``"greet"`` for its latest version, ``"greet@2"`` for one version) with
        ``variables``. Keyword arguments form the rest of the body: ``messages`` are appended
        after the prompt's, ``model`` overrides the prompt's target; ``cache``, ``route``,
        ``label``, ``timeout`` and ``options`` as for :meth:`chat`. With ``stream=True``
        returns a :class:`Stream` of chunk dicts. A bad reference or variable is a
        :class:`~sidegate.errors.InvalidRequestError` from the daemon (``param == "prompt"``)."""
        plan = self._plan_prompt(prompt_id, variables, stream, cache, route, label, timeout, options, body)
        if stream:
            return self._stream(plan)
        return self._call(plan)  # type: ignore[return-value]  # plan.answer is ChatCompletion

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
        plan = self._plan_body("embeddings", Response, False, cache, route, label, timeout, options, body)
        return self._call(plan)

    def feedback(
        self,
        request_id: str,
        *,
        score: Optional[float] = None,
        label: Optional[str] = None,
        comment: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Response:
        """Record an outcome for an answered request (``response.meta["request_id"]``): a
        ``score``, a ``label``, or both, and an optional ``comment``. A later one for the same
        request replaces it. Returns ``{"object": "feedback", "recorded": True, ...}``."""
        return self._call(self._plan_feedback(request_id, score, label, comment, timeout))

    def models(self, *, timeout: Optional[float] = None) -> Response:
        """The model list (as ``GET /v1/models``): ``{"object": "list", "data": [...]}``."""
        return self._call(self._plan_request("models", None, timeout))

    def status(self, *, timeout: Optional[float] = None) -> Response:
        """The daemon's status (what ``sidegate status`` prints)."""
        return self._call(self._plan_request("status", None, timeout))

    def request(
        self,
        op: str,
        body: Optional[Mapping[str, Any]] = None,
        *,
        timeout: Optional[float] = None,
        options: Optional[Mapping[str, Any]] = None,
    ) -> Response:
        """A raw REQUEST for an ``op`` this shim has no method for; returns the RESPONSE."""
        return self._call(self._plan_request(op, body, timeout, options))

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

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            conn = self._conn
            if conn is not None:
                conn.close()
        except Exception:
            pass

    # -- internals --------------------------------------------------------------------------

    def _connection(self, deadline: Optional[float]) -> _Connection:
        conn = self._conn
        if conn is not None and conn.alive and not self._closed:
            # The lock only makes one thread open a connection; it cannot keep the one read
            # here open (close() may run right after it is released), so the read needs none.
            return conn
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

    def _start(self, plan: CallPlan, deadline: Optional[float]) -> Tuple[_Connection, int, "queue.SimpleQueue[Item]"]:
        with self._id_lock:
            rid = next(self._ids)
        data = plan.request_frame(rid)
        tries = 0
        while True:
            tries += 1
            conn = self._connection(deadline)
            if len(data) - 4 > conn.session.max_frame:
                conn.session.check_size(data)  # raises
            q = conn.register(rid)
            if q is None:
                SendRetry.found_closed(tries, conn.session)
                continue
            try:
                conn.send(data)
                return conn, rid, q
            except OSError as exc:
                conn.session.forget(rid)
                conn.close(ConnectionLost(f"write to {conn.path} failed: {exc}", socket_path=conn.path))
                SendRetry.write_failed(tries, conn.session, exc)
            except BaseException:
                # Interrupted mid-write (Ctrl-C): part of a frame may be on the wire, so
                # nothing more can be written on this connection.
                conn.session.forget(rid)
                conn.close(ConnectionLost("a write was interrupted", socket_path=conn.path))
                raise

    def _call(self, plan: CallPlan) -> Response:
        deadline = None if plan.timeout is None else time.monotonic() + plan.timeout
        conn, rid, q = self._start(plan, deadline)
        frame = _wait(conn.session, rid, q, deadline, plan.timeout)
        return finish_call(conn.session, rid, frame, plan.answer)  # type: ignore[no-any-return]

    def _stream(self, plan: CallPlan) -> Stream:
        deadline = None if plan.timeout is None else time.monotonic() + plan.timeout
        conn, rid, q = self._start(plan, deadline)
        stream = Stream(self, conn, rid, q, deadline, plan.timeout)
        stream._prime()
        return stream
