"""The sans-IO session core (sidegate._session) on its own: bytes in, control frames out,
deliveries to consumers, cancel, shutdown, stream state, send retry and reconnect backoff.
No sockets, threads or event loops."""

from __future__ import annotations

import json
from typing import Any, List

import pytest
from sgpy_support import VECTORS

from sidegate import frame as fr
from sidegate._core import ChatCompletion
from sidegate._session import (
    ReconnectBackoff,
    SendRetry,
    Session,
    StreamState,
    finish_call,
    frame_from,
    request_ids,
)
from sidegate.errors import (
    ConnectionLost,
    DaemonNotRunning,
    NotFoundError,
    ProtocolError,
    RateLimitError,
    SidegateError,
)


class Recorder:
    """A session with every control frame it sends and every delivery per request recorded."""

    def __init__(self) -> None:
        self.sent: List[fr.Frame] = []
        self.session = Session("/tmp/x.sock", lambda data: self.sent.extend(fr.Decoder().feed(data)))
        self.got: dict = {}

    def open(self, rid: int) -> bool:
        self.got[rid] = []
        return self.session.open(rid, self.got[rid].append)


def _json_frame(kind: int, rid: int, body: Any) -> bytes:
    return fr.encode(kind, rid, json.dumps(body).encode())


def test_frames_go_to_their_request_whole_or_split() -> None:
    r = Recorder()
    assert r.open(1) and r.open(2)
    data = (VECTORS / "response_chat.bin").read_bytes()  # id 1
    chunk = _json_frame(fr.CHUNK, 2, {"choices": []})
    both = data + chunk
    for i in range(len(both)):  # every split point, one byte at a time around it
        r.got[1].clear(), r.got[2].clear()
        r.session.receive(both[:i])
        r.session.receive(both[i:])
        assert [f.kind for f in r.got[1]] == [fr.RESPONSE] and [f.kind for f in r.got[2]] == [fr.CHUNK]
    answer = finish_call(r.session, 1, r.got[1][0], ChatCompletion)
    assert answer.content == "hi"


def test_unknown_ids_and_forgotten_requests_are_dropped() -> None:
    r = Recorder()
    r.open(5)
    r.session.forget(5)
    r.session.receive(_json_frame(fr.RESPONSE, 5, {"body": {}}) + _json_frame(fr.RESPONSE, 9, {"body": {}}))
    assert r.got[5] == [] and not r.session.closed


def test_ping_gets_pong_and_welcome_sets_max_frame() -> None:
    r = Recorder()
    r.session.receive(fr.encode(fr.PING, 77, b"abc") + _json_frame(fr.WELCOME, 0, {"max_frame": 4096}))
    assert r.sent == [fr.Frame(fr.PONG, 77, b"abc")]
    assert r.session.max_frame == 4096 and r.session.welcome == {"max_frame": 4096}
    with pytest.raises(SidegateError) as info:
        r.session.check_size(b"x" * 5000)
    assert info.value.code == "frame_too_large"
    r.session.receive(fr.encode(fr.PONG, 0))  # nothing to do
    assert not r.session.closed


def test_connection_level_error_fails_everything_once() -> None:
    r = Recorder()
    r.open(1), r.open(2)
    r.session.receive((VECTORS / "error_connection.bin").read_bytes())
    assert r.session.closed and isinstance(r.session.error, ProtocolError)
    assert r.session.error.code == "frame_too_large"
    for rid in (1, 2):
        assert r.got[rid] == [r.session.error]
        with pytest.raises(ProtocolError):
            frame_from(r.got[rid][0])
    assert not r.open(3)  # no new requests on an ended session
    assert r.session.shutdown(ConnectionLost("again")) is False
    assert r.got[1] == [r.session.error]


def test_bad_bytes_end_the_session() -> None:
    r = Recorder()
    r.open(1)
    r.session.receive(b"\x01\x00\x00\x00" + b"\x00" * 20)  # len 1 < 20
    assert isinstance(r.got[1][0], ProtocolError) and r.got[1][0].code == "malformed_frame"


def test_cancel_sends_cancel_and_forgets() -> None:
    r = Recorder()
    r.open(3)
    r.session.cancel(3)
    assert r.sent == [fr.Frame(fr.CANCEL, 3, b"")]
    r.session.receive(_json_frame(fr.CHUNK, 3, {}))
    assert r.got[3] == []
    r.session.shutdown(r.session.lost())
    r.session.cancel(4)  # nothing is written on an ended session
    assert len(r.sent) == 1


def test_stream_state_chunks_end_and_early_close() -> None:
    r = Recorder()
    r.open(1)
    st = StreamState(r.session, 1)
    st.prime(fr.Frame(fr.CHUNK, 1, b'{"n": 1}'))
    first = st.take_first()
    assert first is not None and st.take_first() is None
    assert st.step(first) == {"n": 1}
    assert st.step(fr.Frame(fr.END, 1, b'{"meta": {"provider": "p"}}')) is None
    assert st.done and st.meta == {"provider": "p"}
    st.close()
    assert r.sent == []  # ended normally: no CANCEL
    r.open(2)
    early = StreamState(r.session, 2)
    early.close()
    early.close()
    assert r.sent == [fr.Frame(fr.CANCEL, 2, b"")]


def test_stream_state_errors() -> None:
    r = Recorder()
    r.open(1)
    st = StreamState(r.session, 1)
    err = {"status": 404, "error": {"message": "no", "code": "model_not_found"}}
    with pytest.raises(NotFoundError):
        st.prime(fr.Frame(fr.ERROR, 1, json.dumps(err).encode()))
    assert st.done and r.sent == []
    r.open(2)
    st2 = StreamState(r.session, 2)
    with pytest.raises(ProtocolError):  # a RESPONSE cannot answer a stream: cancel it
        st2.step(fr.Frame(fr.RESPONSE, 2, b"{}"))
    assert r.sent == [fr.Frame(fr.CANCEL, 2, b"")]
    r.open(3)
    st3 = StreamState(r.session, 3)
    with pytest.raises(RateLimitError):
        st3.step(fr.Frame(fr.ERROR, 3, b'{"status": 429, "error": {}}'))
    assert len(r.sent) == 1  # an ERROR ends the request: nothing to cancel


def test_finish_call_cancels_a_stream_answer() -> None:
    r = Recorder()
    r.open(4)
    with pytest.raises(ProtocolError):
        finish_call(r.session, 4, fr.Frame(fr.CHUNK, 4, b"{}"), ChatCompletion)
    assert r.sent == [fr.Frame(fr.CANCEL, 4, b"")]


def test_request_ids_count_up() -> None:
    ids = request_ids()
    assert [next(ids) for _ in range(3)] == [1, 2, 3]


def test_send_retry() -> None:
    s = Session("/p", lambda _: None)
    SendRetry.write_failed(1, s, OSError("x"))  # the first failed write is retried
    with pytest.raises(ConnectionLost):
        SendRetry.write_failed(2, s, OSError("x"))
    SendRetry.found_closed(1, s)
    SendRetry.found_closed(2, s)
    with pytest.raises(ConnectionLost):
        SendRetry.found_closed(3, s)


def test_backoff_doubles_then_gives_up_at_the_deadline() -> None:
    b = ReconnectBackoff("/p.sock", now=100.0, retry_for=1.0, deadline=None)
    now, delays = 100.0, []
    with pytest.raises(DaemonNotRunning) as info:
        while True:
            d = b.next_delay(now, FileNotFoundError(2, "No such file"))
            delays.append(d)
            now += d
    assert delays[:5] == [0.02, 0.04, 0.08, 0.16, 0.25] and max(delays) == 0.25
    assert sum(delays) <= 1.0 and "/p.sock" in str(info.value)
    short = ReconnectBackoff("/p.sock", now=0.0, retry_for=60.0, deadline=0.05)
    assert short.next_delay(0.0, ConnectionRefusedError()) == 0.02
    with pytest.raises(DaemonNotRunning):
        short.next_delay(0.04, ConnectionRefusedError())
    with pytest.raises(ConnectionLost):
        ReconnectBackoff("/p", 0.0, 0.0, None).next_delay(0.0, ConnectionResetError())
