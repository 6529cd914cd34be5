"""ERROR frame -> exception class mapping (one table), and the error objects' fields."""

from __future__ import annotations

import json
from typing import Any, Dict, Type

import pytest
from sgpy_support import VECTORS

import sidegate
from sidegate import frame as fr
from sidegate._core import response_from_frame, stream_step
from sidegate.errors import (
    STATUS_CLASSES,
    AllVendorsFailedError,
    AuthenticationError,
    ConnectionLost,
    DaemonNotRunning,
    GatewayTimeoutError,
    InvalidRequestError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    SidegateConnectionError,
    SidegateError,
    SidegateTimeout,
    error_from_body,
)


def _body(status: int, code: str = "c", **extra: Any) -> Dict[str, Any]:
    return {"status": status, "error": {"message": f"m{status}", "type": "t", "code": code, "param": "p"}, **extra}


@pytest.mark.parametrize(
    "status,cls",
    [
        (400, InvalidRequestError),
        (404, InvalidRequestError),
        (413, InvalidRequestError),
        (422, InvalidRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (429, RateLimitError),
        (502, AllVendorsFailedError),
        (503, AllVendorsFailedError),
        (504, GatewayTimeoutError),
        (500, SidegateError),
        (418, SidegateError),
    ],
)
def test_status_table(status: int, cls: Type[SidegateError]) -> None:
    """The shim's table before it was shared with Node (tests/vectors/errors.json): every
    class it gave still catches that status. The exact classes are checked row by row
    against the shared file in test_error_vectors.py."""
    err = error_from_body(_body(status))
    assert isinstance(err, cls)
    assert err.status == status
    assert err.code == "c" and err.type == "t" and err.param == "p" and err.message == f"m{status}"
    assert issubclass(STATUS_CLASSES.get(status, SidegateError), cls)


def test_rate_limit_fields() -> None:
    err = error_from_body(_body(429, "rate_limited", retry_after=1.5, meta={"provider": "x"}))
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 1.5
    assert err.meta == {"provider": "x"}
    assert "retry after 1.5s" in str(err) and "status 429" in str(err)


def test_attempts_from_error_object() -> None:
    attempts = [{"deployment": "d", "provider": "p", "outcome": "http_500", "status": 500, "message": "x", "latency_ms": 1.0}]
    body = _body(502, "upstream_error")
    body["error"]["attempts"] = attempts
    err = error_from_body(body)
    assert isinstance(err, AllVendorsFailedError)
    assert err.attempts == attempts
    assert error_from_body(_body(503)).attempts == []  # type: ignore[attr-defined]


def test_error_vector() -> None:
    f = fr.Decoder().feed((VECTORS / "error_request.bin").read_bytes())[0]
    with pytest.raises(InvalidRequestError) as info:
        response_from_frame(f)
    e = info.value
    assert (e.status, e.code, e.type, e.param) == (404, "model_not_found", "invalid_request_error", "model")
    assert e.message == "unknown model `nope`"
    assert e.retry_after is None and e.meta == {}
    with pytest.raises(InvalidRequestError):
        stream_step(f)


def test_connection_error_vector() -> None:
    f = fr.Decoder().feed((VECTORS / "error_connection.bin").read_bytes())[0]
    err = error_from_body(f.json(), connection_level=True)
    assert isinstance(err, ProtocolError) and err.code == "frame_too_large" and err.status == 400


def test_gateway_timeout_is_both() -> None:
    """The daemon's deadline error (504 code timeout) is an upstream failure and a timeout."""
    body = {"status": 504, "error": {"message": "no answer after 499 ms", "type": "timeout_error", "code": "timeout",
            "param": None, "attempts": [{"deployment": "fake/hang", "outcome": "timeout"}]}}
    err = error_from_body(body)
    assert isinstance(err, AllVendorsFailedError) and isinstance(err, SidegateTimeout)
    assert isinstance(err, TimeoutError) and err.attempts[0]["outcome"] == "timeout"


def test_hierarchy() -> None:
    for cls in (InvalidRequestError, AuthenticationError, PermissionDeniedError, RateLimitError,
                AllVendorsFailedError, SidegateTimeout, DaemonNotRunning, ConnectionLost, ProtocolError):
        assert issubclass(cls, SidegateError)
    assert issubclass(SidegateTimeout, TimeoutError)
    assert issubclass(DaemonNotRunning, ConnectionError)
    assert issubclass(DaemonNotRunning, SidegateConnectionError)
    assert issubclass(ConnectionLost, ConnectionError)
    assert sidegate.SidegateError is SidegateError


def test_garbage_error_bodies() -> None:
    assert isinstance(error_from_body("nope"), ProtocolError)
    err = error_from_body({"status": "x", "error": 3, "retry_after": "soon"})
    assert type(err) is SidegateError and err.status is None and err.retry_after is None


def test_response_and_stream_frames() -> None:
    f = fr.Decoder().feed((VECTORS / "response_chat.bin").read_bytes())[0]
    r = response_from_frame(f, sidegate.ChatCompletion)
    assert isinstance(r, dict) and isinstance(r, sidegate.ChatCompletion)
    assert r["choices"][0]["message"]["content"] == "hi" and r.content == "hi"  # type: ignore[attr-defined]
    assert r.meta["provider"] == "mock" and r.meta["attempts"] == 1
    assert json.loads(json.dumps(r)) == dict(r)  # serialises like a plain dict
    chunk = fr.Decoder().feed((VECTORS / "chunk.bin").read_bytes())[0]
    c, m = stream_step(chunk)
    assert c is not None and c["choices"][0]["delta"]["content"] == "héllo " and m is None
    end = fr.Decoder().feed((VECTORS / "end.bin").read_bytes())[0]
    c, m = stream_step(end)
    assert c is None and m == {"route": "mock", "provider": "mock", "model": "mock", "cache": "bypass", "attempts": 1}
    with pytest.raises(ProtocolError):
        stream_step(fr.Frame(fr.CHUNK, 1, b"{not json"))
    with pytest.raises(ProtocolError):
        response_from_frame(chunk)
