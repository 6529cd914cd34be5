"""The frame codec against the golden vectors in tests/vectors (byte for byte)."""

from __future__ import annotations

import json
import struct
from typing import Any, Dict, List

import pytest
from sgpy_support import VECTORS

from sidegate import frame as fr
from sidegate._core import build_options, build_request, hello_bytes

INDEX = json.loads((VECTORS / "vectors.json").read_text(encoding="utf-8"))
FRAMES: List[Dict[str, Any]] = INDEX["frames"]
BAD = json.loads((VECTORS / "bad" / "cases.json").read_text(encoding="utf-8"))


def _bin(name: str) -> bytes:
    return (VECTORS / name).read_bytes()


def test_vector_index_is_complete() -> None:
    names = {v["name"] for v in FRAMES}
    for expected in ("hello", "welcome", "request_chat", "response_chat", "chunk", "end", "error_request",
                     "error_connection", "cancel", "ping", "pong", "request_big_id"):
        assert expected in names
    kinds = {v["kind"] for v in FRAMES}
    assert kinds == set(range(10))


def test_preface() -> None:
    assert _bin(INDEX["preface"]) == fr.PREFACE == b"\x00sgp"


@pytest.mark.parametrize("vec", FRAMES, ids=[v["name"] for v in FRAMES])
def test_encode_matches_vector(vec: Dict[str, Any]) -> None:
    body = vec["body"].encode("utf-8")
    assert fr.encode(vec["kind"], int(vec["id"]), body) == _bin(vec["file"])


@pytest.mark.parametrize("vec", FRAMES, ids=[v["name"] for v in FRAMES])
def test_decode_matches_vector(vec: Dict[str, Any]) -> None:
    data = _bin(vec["file"])
    frames = fr.Decoder().feed(data)
    assert len(frames) == 1
    f = frames[0]
    assert f.kind == vec["kind"]
    assert f.id == int(vec["id"])
    assert f.body == vec["body"].encode("utf-8")
    # The header agrees with itself: len = 20 + body_len.
    length, kind, rid, body_len = struct.unpack("<IIQQ", data[:24])
    assert length == 20 + body_len == len(data) - 4
    assert fr.parse_header(data[:24]) == (vec["kind"], int(vec["id"]), body_len)
    if f.body:
        json.loads(f.body)  # every non-empty vector body is JSON


def test_decode_all_vectors_byte_by_byte() -> None:
    """Every vector fed as one stream, one byte at a time: same frames, in order."""
    stream = b"".join(_bin(v["file"]) for v in FRAMES)
    dec = fr.Decoder()
    got: List[fr.Frame] = []
    for i in range(len(stream)):
        got.extend(dec.feed(stream[i : i + 1]))
    assert dec.buffered == 0
    assert [(f.kind, f.id, f.body) for f in got] == [
        (v["kind"], int(v["id"]), v["body"].encode("utf-8")) for v in FRAMES
    ]


def test_decode_all_vectors_in_one_feed() -> None:
    stream = b"".join(_bin(v["file"]) for v in FRAMES)
    assert len(fr.Decoder().feed(stream)) == len(FRAMES)


def test_big_id_is_u64_max() -> None:
    vec = next(v for v in FRAMES if v["name"] == "request_big_id")
    assert int(vec["id"]) == 2**64 - 1
    assert fr.Decoder().feed(_bin(vec["file"]))[0].id == 2**64 - 1


def test_shim_hello_is_the_vector() -> None:
    """What the client sends first is exactly preface.bin + hello.bin."""
    assert hello_bytes() == _bin("preface.bin") + _bin("hello.bin")


@pytest.mark.parametrize(
    "name,op,body,options",
    [
        ("request_chat", "chat", {"model": "fast", "messages": [{"role": "user", "content": "hi"}]}, {}),
        (
            "request_chat_stream",
            "chat",
            {"model": "mock", "messages": [{"role": "user", "content": "héllo ☃ 🚀"}], "stream": True},
            build_options(cache="no-store", timeout=5),
        ),
        ("request_models", "models", None, {}),
    ],
)
def test_shim_requests_are_the_vectors(name: str, op: str, body: Any, options: Dict[str, Any]) -> None:
    vec = next(v for v in FRAMES if v["name"] == name)
    encoded = fr.encode_json(fr.REQUEST, int(vec["id"]), build_request(op, body, options))
    assert encoded == _bin(vec["file"])


def test_frame_json() -> None:
    f = fr.Decoder().feed(_bin("response_chat.bin"))[0]
    assert f.json()["body"]["choices"][0]["message"]["content"] == "hi"
    assert fr.Frame(fr.PING, 1, b"").json() is None


# -- malformed input --------------------------------------------------------------------------

FRAMING_CASES = [c for c in BAD["cases"] if c["code"] in ("frame_too_large", "malformed_frame")]


@pytest.mark.parametrize("case", FRAMING_CASES, ids=[c["name"] for c in FRAMING_CASES])
def test_decoder_rejects_bad_framing(case: Dict[str, Any]) -> None:
    with pytest.raises(fr.FrameError) as info:
        fr.Decoder().feed((VECTORS / "bad" / case["file"]).read_bytes())
    assert info.value.code == case["code"]


def test_decoder_rejects_oversized_before_body_arrives() -> None:
    dec = fr.Decoder(max_frame=1000)
    with pytest.raises(fr.FrameError) as info:
        dec.feed(struct.pack("<I", 1001))
    assert info.value.code == "frame_too_large"
    # exactly max_frame is allowed
    ok = fr.encode(fr.CHUNK, 1, b"x" * 980)
    assert fr.Decoder(max_frame=1000).feed(ok)[0].body == b"x" * 980


@pytest.mark.parametrize(
    "case", [c for c in BAD["cases"] if c not in FRAMING_CASES], ids=lambda c: c["name"]
)
def test_other_bad_cases_are_well_framed(case: Dict[str, Any]) -> None:
    """The remaining bad cases are protocol errors above the framing layer: the codec
    decodes them; it is the daemon that rejects them."""
    frames = fr.Decoder().feed((VECTORS / "bad" / case["file"]).read_bytes())
    assert len(frames) == 1


def test_encode_range_checks() -> None:
    with pytest.raises(ValueError):
        fr.encode(fr.REQUEST, 2**64, b"")
    with pytest.raises(ValueError):
        fr.encode(fr.REQUEST, -1, b"")
    assert len(fr.encode(fr.CANCEL, 1)) == 24


def test_dumps_is_compact_utf8() -> None:
    assert fr.dumps({"a": "é🚀", "b": [1, 2]}) == '{"a":"é🚀","b":[1,2]}'.encode("utf-8")
