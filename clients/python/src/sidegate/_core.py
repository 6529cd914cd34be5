"""What the sync and async clients share: socket discovery, REQUEST bodies, answer objects,
and turning answer frames into results. No I/O here."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Optional, Tuple, Type, Union

from . import frame as fr
from .errors import ProtocolError, SidegateError, error_from_body

__all__ = [
    "VERSION",
    "CLIENT_NAME",
    "Response",
    "ChatCompletion",
    "default_socket_path",
    "resolve_socket_path",
    "build_request",
    "hello_bytes",
]

VERSION = "0.1.0"
CLIENT_NAME = f"sidegate-py/{VERSION}"

PathArg = Union[str, "os.PathLike[str]"]

#: REQUEST options the shim knows (docs/protocol.md §4).
CACHE_MODES = ("no-cache", "no-store")


class Response(Dict[str, Any]):
    """A JSON object answer (OpenAI-shaped) plus ``meta``: what sidegate did to get it
    (``provider``, ``model``, ``cache``, ``attempts``, ``route``, ``latency_ms``, ...)."""

    meta: Dict[str, Any]

    def __init__(self, body: Mapping[str, Any], meta: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(body)
        self.meta = dict(meta) if meta else {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)}, meta={self.meta!r})"


class ChatCompletion(Response):
    """A ``chat.completion`` dict; ``r["choices"][0]["message"]["content"]`` is the answer."""

    @property
    def content(self) -> Optional[str]:
        """The first choice's message text (``None`` when it has none, e.g. only tool calls)."""
        try:
            value = self["choices"][0]["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            return None
        return value if isinstance(value, str) else None


def default_socket_path(
    env: Optional[Mapping[str, str]] = None, euid: Optional[int] = None
) -> Optional[str]:
    """Where the daemon listens when nobody says otherwise (DESIGN §2): ``$SIDEGATE_SOCKET``,
    else ``/run/sidegate/sidegate.sock`` for root and ``$XDG_RUNTIME_DIR/sidegate/sidegate.sock``
    for other users; ``None`` for a non-root user without ``XDG_RUNTIME_DIR`` (the daemon has
    no default there either)."""
    env = os.environ if env is None else env
    explicit = env.get("SIDEGATE_SOCKET")
    if explicit:
        return explicit
    uid = os.geteuid() if euid is None else euid
    if uid == 0:
        return "/run/sidegate/sidegate.sock"
    runtime = env.get("XDG_RUNTIME_DIR")
    if not runtime:
        return None
    return os.path.join(runtime, "sidegate", "sidegate.sock")


def resolve_socket_path(socket_path: Any) -> Optional[str]:
    """The explicit path (a ``str``, ``bytes`` or ``os.PathLike``; anything else is a
    TypeError), else the default; ``None`` when there is none (a non-root user with neither
    ``SIDEGATE_SOCKET`` nor ``XDG_RUNTIME_DIR``, as the daemon decides)."""
    if socket_path is None:
        return default_socket_path()
    if isinstance(socket_path, (str, bytes, os.PathLike)):
        path = os.fspath(socket_path)
        return os.fsdecode(path) if isinstance(path, bytes) else path
    raise TypeError(f"socket_path must be a str or os.PathLike, not {type(socket_path).__name__}")


NO_SOCKET_MESSAGE = (
    "no sidegate socket path: pass socket_path=, or set SIDEGATE_SOCKET "
    "(or XDG_RUNTIME_DIR, where `sidegate serve` puts sidegate/sidegate.sock)"
)


def hello_bytes() -> bytes:
    """The preface and the HELLO frame: the first bytes of every connection."""
    return fr.PREFACE + fr.encode_json(
        fr.HELLO, 0, {"protocol": fr.PROTOCOL_VERSION, "client": CLIENT_NAME}
    )


def _check_str(value: Any, name: str) -> None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")


def check_seconds(value: Any, name: str, *, allow_zero: bool = False) -> Optional[float]:
    """``None`` or a positive number of seconds (zero too with ``allow_zero``); a wrong type
    is a TypeError naming the argument, a value out of range a ValueError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if value < 0 or (value == 0 and not allow_zero) or value != value:
        raise ValueError(f"{name} must be {'zero or ' if allow_zero else ''}positive, not {value!r}")
    return float(value)


def check_mapping(value: Any, name: str) -> Optional[Mapping[str, Any]]:
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping (a dict), not {type(value).__name__}")
    return value


def build_options(
    *,
    cache: Optional[str] = None,
    route: Optional[str] = None,
    label: Optional[str] = None,
    timeout: Optional[float] = None,
    extra: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    options: Dict[str, Any] = {}
    if not (
        (cache is None or type(cache) is str)
        and (route is None or type(route) is str)
        and (label is None or type(label) is str)
    ):  # no calls on the hot path; the checks below name the wrong one (and allow str subclasses)
        _check_str(cache, "cache")
        _check_str(route, "route")
        _check_str(label, "label")
    if cache is not None:
        if cache not in CACHE_MODES:
            raise ValueError(f"cache must be one of {CACHE_MODES}, not {cache!r}")
        options["cache"] = cache
    if route is not None:
        options["route"] = route
    if label is not None:
        options["label"] = label
    if timeout is not None:  # already checked by check_seconds (ClientSettings._t)
        options["timeout_ms"] = max(1, round(timeout * 1000))
    if extra:
        check_mapping(extra, "options")
        options.update(extra)
    elif extra is not None:
        check_mapping(extra, "options")
    return options


def build_request(
    op: str, body: Optional[Mapping[str, Any]], options: Optional[Mapping[str, Any]]
) -> Dict[str, Any]:
    """A REQUEST body; ``body`` and ``options`` are left out when ``None``/empty. It is
    encoded at once, so a ``dict`` is used as is (another mapping is copied: the JSON encoder
    takes only dicts)."""
    request: Dict[str, Any] = {"op": op}
    if body is not None:
        request["body"] = body if isinstance(body, dict) else dict(body)
    if options:
        request["options"] = options if isinstance(options, dict) else dict(options)
    return request


def split_chat_kwargs(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The JSON body of a chat/embeddings call: the OpenAI keyword arguments, with the
    openai SDK's ``extra_body`` merged in. ``kwargs`` is the call's own ``**body`` dict, so
    it becomes the body itself (no copy)."""
    extra_body = kwargs.pop("extra_body", None)
    if extra_body:
        kwargs.update(extra_body)
    return kwargs


def parse_json_body(frame: fr.Frame) -> Any:
    try:
        return frame.json()
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(
            f"{fr.KIND_NAMES.get(frame.kind, frame.kind)} frame for request {frame.id} "
            f"is not valid JSON: {exc}"
        ) from None


def response_from_frame(frame: fr.Frame, cls: Type[Response] = Response) -> Response:
    """RESPONSE -> answer object; ERROR -> raises the mapped exception."""
    data = parse_json_body(frame)
    if frame.kind == fr.ERROR:
        raise error_from_body(data)
    if frame.kind != fr.RESPONSE:
        raise ProtocolError(
            f"expected RESPONSE for request {frame.id}, got {fr.KIND_NAMES.get(frame.kind, frame.kind)}"
        )
    if not isinstance(data, dict):
        raise ProtocolError(f"RESPONSE body for request {frame.id} is not a JSON object")
    body = data.get("body")
    meta = data.get("meta")
    if not isinstance(meta, dict):
        meta = {}
    if isinstance(body, dict):
        return cls(body, meta)
    # A non-object answer (not expected today): keep it reachable under "data".
    return cls({"data": body}, meta)


def stream_step(frame: fr.Frame) -> Tuple[Optional[Dict[str, Any]], Optional[Dict[str, Any]]]:
    """One stream frame -> ``(chunk, None)`` for CHUNK, ``(None, meta)`` for END.
    Raises for ERROR (the mapped exception) and for anything else (ProtocolError)."""
    data = parse_json_body(frame)
    if frame.kind == fr.CHUNK:
        if not isinstance(data, dict):
            raise ProtocolError(f"CHUNK body for request {frame.id} is not a JSON object")
        return data, None
    if frame.kind == fr.END:
        meta = data.get("meta") if isinstance(data, dict) else None
        return None, dict(meta) if isinstance(meta, dict) else {}
    if frame.kind == fr.ERROR:
        raise error_from_body(data)
    if frame.kind == fr.RESPONSE:
        # The daemon answered a stream request as a whole (e.g. a future cache shortcut):
        # not what the protocol says for stream=true.
        raise ProtocolError(f"RESPONSE frame for streaming request {frame.id}")
    raise ProtocolError(
        f"unexpected {fr.KIND_NAMES.get(frame.kind, frame.kind)} frame for request {frame.id}"
    )


def frame_too_large(size: int, max_frame: int) -> SidegateError:
    from .errors import InvalidRequestError

    return InvalidRequestError(
        f"request frame of {size} bytes is over the daemon's {max_frame}-byte limit "
        "(server.max_frame_bytes); it was not sent",
        status=413,
        code="frame_too_large",
        type="invalid_request_error",
    )
