"""The native protocol's frame codec (docs/protocol.md §1-§3), with no I/O.

Every frame is ``len:u32 | kind:u32 | id:u64 | body_len:u64 | body`` in little endian, where
``len = 20 + body_len``. This module owns the byte layout only: the client modules own the
sockets, and JSON is left to the caller (bodies are bytes here).
"""

from __future__ import annotations

import json
import struct
from typing import Any, List, NamedTuple, Tuple, Union

__all__ = [
    "PREFACE",
    "HEADER",
    "HEADER_SIZE",
    "MIN_LEN",
    "DEFAULT_MAX_FRAME",
    "PROTOCOL_VERSION",
    "HELLO",
    "WELCOME",
    "REQUEST",
    "RESPONSE",
    "CHUNK",
    "END",
    "ERROR",
    "CANCEL",
    "PING",
    "PONG",
    "KIND_NAMES",
    "Frame",
    "FrameError",
    "Decoder",
    "encode",
    "encode_json",
    "dumps",
    "parse_header",
]

#: The 4 bytes a native client sends before its first frame: ``"\\0sgp"``.
PREFACE = b"\x00sgp"
#: ``len, kind, id, body_len``: the fixed 24-byte head of every frame.
HEADER = struct.Struct("<IIQQ")
HEADER_SIZE = HEADER.size
#: Smallest legal ``len`` (a frame with an empty body).
MIN_LEN = 20
#: The daemon's default ``max_frame`` (16 MiB), used until WELCOME says otherwise.
DEFAULT_MAX_FRAME = 16 * 1024 * 1024
PROTOCOL_VERSION = 1

HELLO = 0
WELCOME = 1
REQUEST = 2
RESPONSE = 3
CHUNK = 4
END = 5
ERROR = 6
CANCEL = 7
PING = 8
PONG = 9

KIND_NAMES = {
    HELLO: "HELLO",
    WELCOME: "WELCOME",
    REQUEST: "REQUEST",
    RESPONSE: "RESPONSE",
    CHUNK: "CHUNK",
    END: "END",
    ERROR: "ERROR",
    CANCEL: "CANCEL",
    PING: "PING",
    PONG: "PONG",
}

_U32_MAX = 0xFFFFFFFF
_U64_MAX = 0xFFFFFFFFFFFFFFFF


class FrameError(ValueError):
    """Bytes that are not a valid frame. ``code`` uses the protocol's error codes
    (``malformed_frame``, ``frame_too_large``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Frame(NamedTuple):
    kind: int
    id: int
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (``None`` for an empty body)."""
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self) -> str:
        name = KIND_NAMES.get(self.kind, str(self.kind))
        return f"Frame({name}, id={self.id}, body={self.body[:80]!r}{'...' if len(self.body) > 80 else ''})"


#: One encoder for every frame: ``json.dumps`` with options builds a new one per call, which
#: costs about as much again as the encoding of a small request.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj: Any) -> bytes:
    """JSON the way the shims send it: compact, UTF-8, non-ASCII kept as is."""
    return _ENCODER.encode(obj).encode("utf-8")


def encode(kind: int, id: int, body: Union[bytes, bytearray, memoryview] = b"") -> bytes:
    """One complete frame (length prefix included)."""
    body = bytes(body)
    if not 0 <= kind <= _U32_MAX:
        raise ValueError(f"frame kind {kind} does not fit a u32")
    if not 0 <= id <= _U64_MAX:
        raise ValueError(f"frame id {id} does not fit a u64")
    length = MIN_LEN + len(body)
    if length > _U32_MAX:
        raise ValueError(f"frame body of {len(body)} bytes does not fit a u32 length")
    return HEADER.pack(length, kind, id, len(body)) + body


def encode_json(kind: int, id: int, obj: Any) -> bytes:
    return encode(kind, id, dumps(obj))


def parse_header(header: bytes, max_frame: int = DEFAULT_MAX_FRAME) -> Tuple[int, int, int]:
    """Check a 24-byte header; return ``(kind, id, body_len)``.

    Raises :class:`FrameError` for ``len`` < 20, ``len`` > ``max_frame`` or
    ``body_len != len - 20`` (the same checks, in the same order, as the daemon).
    """
    length, kind, id, body_len = HEADER.unpack(header)
    if length < MIN_LEN:
        raise FrameError("malformed_frame", f"frame length {length} is below the minimum of {MIN_LEN}")
    if length > max_frame:
        raise FrameError(
            "frame_too_large", f"frame of {length} bytes is over the {max_frame}-byte limit"
        )
    if body_len != length - MIN_LEN:
        raise FrameError(
            "malformed_frame", f"frame length {length} does not match body length {body_len}"
        )
    return kind, id, body_len


#: ``Frame(...)`` runs a Python-level ``__new__``; the decoder builds the tuple directly (half
#: the cost, once per frame received).
_new_frame = tuple.__new__
_LEN = struct.Struct("<I")


class Decoder:
    """Incremental decoder: feed it bytes as they arrive, get complete frames back.

    The length check needs only the 4-byte ``len`` prefix, so an oversized frame is
    rejected before its body is buffered.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held that do not form a complete frame yet."""
        return len(self._buf)

    def feed(self, data: Union[bytes, bytearray, memoryview]) -> List[Frame]:
        self._buf += data
        frames: List[Frame] = []
        buf = self._buf
        pos = 0
        end = len(buf)
        while end - pos >= 4:
            (length,) = _LEN.unpack_from(buf, pos)
            if length < MIN_LEN:
                raise FrameError(
                    "malformed_frame", f"frame length {length} is below the minimum of {MIN_LEN}"
                )
            if length > self.max_frame:
                raise FrameError(
                    "frame_too_large",
                    f"frame of {length} bytes is over the {self.max_frame}-byte limit",
                )
            if end - pos < 4 + length:
                break
            # ``len`` is checked above; only ``body_len`` is left (parse_header's last check).
            _, kind, id, body_len = HEADER.unpack_from(buf, pos)
            if body_len != length - MIN_LEN:
                raise FrameError(
                    "malformed_frame", f"frame length {length} does not match body length {body_len}"
                )
            start = pos + HEADER_SIZE
            pos = start + body_len
            frames.append(_new_frame(Frame, (kind, id, bytes(buf[start:pos]))))
        if pos:
            del buf[:pos]
        return frames

    def decode_one(self, data: bytes) -> Frame:
        """Convenience for tests: the single frame in ``data`` (which must hold exactly one)."""
        frames = self.feed(data)
        if len(frames) != 1 or self._buf:
            raise FrameError("malformed_frame", f"expected exactly one frame, got {len(frames)}")
        return frames[0]
