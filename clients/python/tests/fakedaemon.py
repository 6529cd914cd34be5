"""A tiny stand-in for the sidegate daemon that speaks the native protocol (docs/protocol.md),
so the shim's own logic (multiplexing, cancel, timeouts, reconnect, error mapping) is tested
without the Rust binary. The integration tests run the same scenarios against the real one.

Behaviour by ``body.model`` of a chat request:
  anything else      answer with the last user message (streamed word by word)
  ``slow``           stream one chunk every 20 ms until cancelled (at most 30 s)
  ``hang``           never answer
  ``error-NNN``      ERROR with status NNN (429 carries retry_after 1.5; 502 carries attempts)
  ``stream-error``   one chunk, then ERROR 502
  ``drop``           close the connection without an answer
  ``proto-error``    connection-level ERROR (id 0), then close
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from typing import Any, Dict, List, Optional, Set

from sidegate import frame as fr


class FakeDaemon:
    def __init__(self, path: str, max_frame: int = fr.DEFAULT_MAX_FRAME, ping: bool = True) -> None:
        self.path = path
        self.max_frame = max_frame
        self.ping = ping
        self.requests: List[Dict[str, Any]] = []
        self.cancelled: Set[int] = set()
        self.pongs: List[fr.Frame] = []
        self.connections = 0
        self.lock = threading.Lock()
        self._listener: Optional[socket.socket] = None
        self._conns: List[socket.socket] = []
        self._stop = threading.Event()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> "FakeDaemon":
        if os.path.exists(self.path):
            os.unlink(self.path)
        self._stop = threading.Event()
        lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lst.bind(self.path)
        lst.listen(128)
        self._listener = lst
        threading.Thread(target=self._accept_loop, args=(lst, self._stop), daemon=True).start()
        return self

    def stop(self) -> None:
        """Like a killed daemon: every connection closes, the socket file is left behind."""
        self._stop.set()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self.lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if predicate():
                    return True
            time.sleep(0.01)
        with self.lock:
            return bool(predicate())

    # -- server side ------------------------------------------------------------------------

    def _accept_loop(self, lst: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                conn, _ = lst.accept()
            except OSError:
                return
            with self.lock:
                self._conns.append(conn)
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn, stop), daemon=True).start()

    def _serve(self, conn: socket.socket, stop: threading.Event) -> None:
        wlock = threading.Lock()
        live: Dict[int, threading.Event] = {}

        def send(kind: int, rid: int, body: Any = None) -> bool:
            data = fr.encode(kind, rid, b"" if body is None else fr.dumps(body))
            try:
                with wlock:
                    conn.sendall(data)
                return True
            except OSError:
                return False

        try:
            preface = b""
            while len(preface) < 4:
                got = conn.recv(4 - len(preface))
                if not got:
                    return
                preface += got
            if preface != fr.PREFACE:
                return
            dec = fr.Decoder(self.max_frame)
            hello = True
            while not stop.is_set():
                data = conn.recv(65536)
                if not data:
                    return
                for f in dec.feed(data):
                    if hello:
                        hello = False
                        if f.kind != fr.HELLO:
                            send(fr.ERROR, 0, _err(400, "handshake_required", "send HELLO first"))
                            return
                        send(fr.WELCOME, 0, {"protocol": 1, "server": "fake/0", "max_frame": self.max_frame})
                        if self.ping:
                            send(fr.PING, 77, None)
                        continue
                    if f.kind == fr.PONG:
                        with self.lock:
                            self.pongs.append(f)
                    elif f.kind == fr.CANCEL:
                        with self.lock:
                            self.cancelled.add(f.id)
                        ev = live.pop(f.id, None)
                        if ev is not None:
                            ev.set()
                    elif f.kind == fr.REQUEST:
                        req = json.loads(f.body)
                        with self.lock:
                            self.requests.append({"id": f.id, **req})
                        ev = threading.Event()
                        live[f.id] = ev
                        threading.Thread(
                            target=self._answer, args=(f.id, req, send, ev, conn), daemon=True
                        ).start()
        except (OSError, fr.FrameError):
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _answer(self, rid: int, req: Dict[str, Any], send: Any, cancelled: threading.Event, conn: socket.socket) -> None:
        op = req.get("op")
        body = req.get("body") or {}
        meta = {"route": body.get("model"), "provider": "fake", "model": "fake-model", "cache": "miss", "attempts": 1}
        if op == "models":
            send(fr.RESPONSE, rid, {"body": {"object": "list", "data": [{"id": "echo", "object": "model"}]}, "meta": {}})
            return
        if op == "status":
            send(fr.RESPONSE, rid, {"body": {"ok": True}, "meta": {}})
            return
        if op == "feedback":
            send(fr.RESPONSE, rid, {"body": {"object": "feedback", "request_id": body.get("request_id"), "recorded": True, "replaced": False}})
            return
        if op == "embeddings":
            inputs = body.get("input") or []
            data = [{"object": "embedding", "index": i, "embedding": [float(len(s))]} for i, s in enumerate(inputs)]
            send(fr.RESPONSE, rid, {"body": {"object": "list", "data": data}, "meta": meta})
            return
        if op != "chat":
            send(fr.ERROR, rid, _err(400, "unknown_op", f"unknown op {op}"))
            return
        model = str(body.get("model", ""))
        stream = bool(body.get("stream"))
        if model == "hang":
            cancelled.wait(60)
            return
        if model == "drop":
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if model == "proto-error":
            send(fr.ERROR, 0, _err(400, "unexpected_frame", "scripted protocol error"))
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if model.startswith("error-"):
            status = int(model[6:])
            payload = _err(status, "scripted", f"scripted {status}")
            if status == 429:
                payload["retry_after"] = 1.5
            if status == 502:
                payload["error"]["attempts"] = [
                    {"deployment": "a", "provider": "p", "outcome": "http_500", "status": 500, "message": "boom", "latency_ms": 3.0}
                ]
            payload["meta"] = meta
            send(fr.ERROR, rid, payload)
            return
        if model == "slow":
            end = time.monotonic() + 30
            n = 0
            while time.monotonic() < end and not cancelled.is_set():
                if not send(fr.CHUNK, rid, _chunk(f"w{n} ")):
                    return
                n += 1
                cancelled.wait(0.02)
            return
        if model == "stream-error":
            send(fr.CHUNK, rid, _chunk("partial "))
            send(fr.ERROR, rid, _err(502, "upstream_error", "stream broke"))
            return
        text = ""
        for m in body.get("messages") or []:
            if m.get("role") == "user":
                text = m.get("content", "")
        if stream:
            words = text.split(" ")
            for i, w in enumerate(words):
                piece = w if i == len(words) - 1 else w + " "
                if not send(fr.CHUNK, rid, _chunk(piece)):
                    return
            send(fr.END, rid, {"meta": meta})
        else:
            send(fr.RESPONSE, rid, {"body": _completion(text, model), "meta": meta})


def _err(status: int, code: str, message: str) -> Dict[str, Any]:
    return {"status": status, "error": {"message": message, "type": "invalid_request_error", "code": code, "param": None}}


def _chunk(text: str) -> Dict[str, Any]:
    return {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


def _completion(text: str, model: str) -> Dict[str, Any]:
    return {"id": "x", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
