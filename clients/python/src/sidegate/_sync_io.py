"""The threaded socket transport of :class:`sidegate.Client`: one Unix socket, its reader
thread and write lock, around the sans-IO :class:`~sidegate._session.Session`.

Writers send whole frames under a lock; the reader thread feeds what it reads to the session,
which wakes the ``queue.SimpleQueue`` of the request each frame is for. Frames that must never
wait behind a large write (CANCEL, PONG) go through an outbox that whoever holds the write lock
flushes, so they can be sent from ``__del__`` or the reader thread without blocking.
"""

from __future__ import annotations

import collections
import queue
import socket
import threading
import time
from typing import Deque, Optional

from . import frame as fr
from ._core import hello_bytes
from ._session import TRANSIENT, Item, ReconnectBackoff, Session, Transport, frame_from, timeout_error
from .errors import ProtocolError, SidegateError

__all__ = ["Connection", "wait"]

_RECV_SIZE = 65536

class Connection(Transport):
    """One socket, its reader thread and write lock, and the session of its protocol state."""

    def __init__(self, sock: socket.socket, path: str) -> None:
        self.sock = sock
        self._wlock = threading.Lock()
        self._outbox: Deque[bytes] = collections.deque()
        # Re-entrant: a GC pass triggered while this thread holds it may run a Stream's
        # __del__, which cancels its request.
        super().__init__(Session(path, self.send_control, guard=threading.RLock()))
        self._reader = threading.Thread(target=self._read_loop, name=f"sidegate-reader:{path}", daemon=True)

    def register(self, rid: int) -> "Optional[queue.SimpleQueue[Item]]":
        q: "queue.SimpleQueue[Item]" = queue.SimpleQueue()
        return q if self.session.open(rid, q.put) else None

    # -- writing ----------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Write one whole frame; raises OSError when the socket is broken."""
        with self._wlock:
            self.sock.sendall(data)
            self._drain_outbox_locked()
        self._flush_outbox()

    def send_control(self, data: bytes) -> None:
        """Queue a small frame and send it now unless another thread is writing (it will)."""
        if self.forked:
            return  # a forked child must not write on the parent's connection
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

    def start(self) -> None:
        self._reader.start()

    def _read_loop(self) -> None:
        session = self.session
        buf = bytearray(_RECV_SIZE)
        view = memoryview(buf)
        try:
            while not session.closed:
                n = self.sock.recv_into(buf)
                if not n:
                    session.shutdown(session.lost())
                    break
                session.receive(view[:n])
        except OSError as exc:
            session.shutdown(session.lost(exc))
        except Exception as exc:  # a bug here must not leave callers waiting forever
            session.shutdown(ProtocolError(f"sidegate reader failed: {exc!r}"))
        with self._wlock:
            self.sock.close()

    def close(self, reason: Optional[SidegateError] = None) -> None:
        """Close from any thread: fails what is in flight and wakes the reader."""
        if self.forked:
            return  # a forked child must not shut the parent's socket down
        self.session.shutdown(reason or self.closed_by_client())
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    @classmethod
    def open(cls, path: str, deadline: Optional[float], retry_for: float) -> "Connection":
        """Connect and say HELLO, retrying while nobody listens (see ReconnectBackoff)."""
        backoff = ReconnectBackoff(path, time.monotonic(), retry_for, deadline)
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                if deadline is not None:
                    sock.settimeout(max(0.05, deadline - time.monotonic()))
                sock.connect(path)
                sock.settimeout(None)
                sock.sendall(hello_bytes())
            except TRANSIENT as exc:
                sock.close()
                time.sleep(backoff.next_delay(time.monotonic(), exc))
                continue
            except socket.timeout:
                sock.close()
                raise backoff.timed_out() from None
            except OSError as exc:
                sock.close()
                raise backoff.failed(exc) from None
            conn = cls(sock, path)
            conn.start()
            return conn


def wait(session: Session, rid: int, q: "queue.SimpleQueue[Item]", deadline: Optional[float],
          timeout: Optional[float]) -> fr.Frame:
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
        session.cancel(rid)
        raise timeout_error(rid, timeout) from None
    except BaseException:
        session.cancel(rid)
        raise
    return frame_from(item)
