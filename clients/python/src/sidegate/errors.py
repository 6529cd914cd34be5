"""Exceptions raised by the shim, and the one table that maps an ERROR frame to them.

The table is shared with the Node shim: tests/vectors/errors.json lists its rows and the order
they are applied in, and both shims' tests check their code against that file. Class names
follow the official openai SDK (``BadRequestError``, ``NotFoundError``, ...); the older, broader
classes (``InvalidRequestError``, ``SidegateError`` for a 500) are their parents, so existing
``except`` clauses keep catching what they caught.

Every exception is a :class:`SidegateError`. Request-level failures carry the daemon's
``status`` (the HTTP status the same failure gets on the HTTP front) and the OpenAI error
object's ``code``, ``type``, ``param`` and ``message``. Connection problems are also builtin
:class:`ConnectionError`\\ s, and timeouts builtin :class:`TimeoutError`\\ s, so generic
handlers catch them too.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Tuple, Type

__all__ = [
    "SidegateError",
    "InvalidRequestError",
    "BadRequestError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableEntityError",
    "AuthenticationError",
    "PermissionDeniedError",
    "RateLimitError",
    "BudgetExceededError",
    "InternalServerError",
    "AllVendorsFailedError",
    "SidegateTimeout",
    "SidegateTimeoutError",
    "GatewayTimeoutError",
    "SidegateConnectionError",
    "DaemonNotRunning",
    "ConnectionLost",
    "ProtocolError",
    "STATUS_CLASSES",
    "CODE_CLASSES",
    "TIMEOUT_CODES",
    "error_class",
    "error_from_body",
]


class SidegateError(Exception):
    """Base class of every error the shim raises."""

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        code: Optional[str] = None,
        type: Optional[str] = None,
        param: Optional[str] = None,
        retry_after: Optional[float] = None,
        meta: Optional[Dict[str, Any]] = None,
        attempts: Optional[List[Dict[str, Any]]] = None,
        body: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.type = type
        self.param = param
        self.retry_after = retry_after
        self.meta: Dict[str, Any] = dict(meta) if meta else {}
        #: the vendor calls the daemon made, when it says (``error.attempts``): dicts with
        #: ``deployment``, ``provider``, ``outcome``, ``status``, ``message``, ``latency_ms``
        self.attempts: List[Dict[str, Any]] = list(attempts) if attempts else []
        #: the whole ERROR frame body as the daemon sent it (``None`` for client-side errors)
        self.body = body

    def __str__(self) -> str:
        detail = []
        if self.status is not None:
            detail.append(f"status {self.status}")
        if self.code:
            detail.append(f"code {self.code}")
        if self.retry_after is not None:
            detail.append(f"retry after {self.retry_after:g}s")
        return f"{self.message} ({', '.join(detail)})" if detail else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r}, code={self.code!r})"


class InvalidRequestError(SidegateError):
    """The request itself is wrong (400, 404 unknown model/route, 409, 413, 422); retrying won't
    help. The parent of the status-named classes below; 413 (request too large) raises it as is."""


class BadRequestError(InvalidRequestError):
    """400: the body or an option is invalid (``param`` names it when the daemon knows)."""


class NotFoundError(InvalidRequestError):
    """404: unknown model or route (``code`` ``model_not_found``, ...)."""


class ConflictError(InvalidRequestError):
    """409: the request conflicts with the daemon's state."""


class UnprocessableEntityError(InvalidRequestError):
    """422: well-formed, but the target cannot do it."""


class AuthenticationError(SidegateError):
    """401: the vendor rejected the credentials sidegate used."""


class PermissionDeniedError(SidegateError):
    """403: this caller may not use that route/model (``[callers.*]`` policy), or the vendor said no."""


class RateLimitError(SidegateError):
    """429: a caller limit, a budget (``code == "budget_exceeded"``) or the vendor's rate limit.
    ``retry_after`` (seconds) is set when known."""


class BudgetExceededError(RateLimitError):
    """429 ``budget_exceeded``: the caller's spend budget for the period is used up."""


class InternalServerError(SidegateError):
    """500 and any other 5xx without a class of its own: the daemon or every vendor failed."""


class AllVendorsFailedError(InternalServerError):
    """502/503/504: every candidate deployment failed (or none could be tried: ``code``
    ``targets_unavailable`` while breakers cool down). ``attempts`` lists what was tried:
    dicts with ``deployment``, ``provider``, ``outcome``, ``status``, ``message``, ``latency_ms``."""


class SidegateTimeout(SidegateError, TimeoutError):
    """A deadline passed: the call's ``timeout`` on the client side (the request was then
    cancelled), or, as :class:`GatewayTimeoutError`, the daemon's."""


#: The name the Node shim (and tests/vectors/errors.json) uses for :class:`SidegateTimeout`.
SidegateTimeoutError = SidegateTimeout


class GatewayTimeoutError(AllVendorsFailedError, SidegateTimeout):
    """504, or a 5xx whose code is a timeout code: no vendor answered within the deadline
    (``timeout=``/``timeout_ms``, or the route's ``timeout``). Both an upstream failure and a
    timeout."""


class SidegateConnectionError(SidegateError, ConnectionError):
    """The socket could not be used."""

    def __init__(self, message: str, *, socket_path: Optional[str] = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.socket_path = socket_path


class DaemonNotRunning(SidegateConnectionError):
    """Nothing listens on the socket (it does not exist, or connections are refused)."""


class ConnectionLost(SidegateConnectionError):
    """The connection dropped while this request was in flight. The request is not resent:
    it may or may not have reached the vendor."""


class ProtocolError(SidegateConnectionError):
    """A connection-level ERROR (id 0) from the daemon, or bytes that break the protocol.
    The connection is closed; the next call opens a new one."""


#: HTTP status -> exception class, for request-level ERROR frames without a more specific
#: row (tests/vectors/errors.json has the same rows and the order they apply in).
STATUS_CLASSES: Mapping[int, Type[SidegateError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: SidegateTimeout,
    409: ConflictError,
    413: InvalidRequestError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    500: InternalServerError,
    502: AllVendorsFailedError,
    503: AllVendorsFailedError,
    504: GatewayTimeoutError,
}

#: (status, error code) -> class: rows that win over the status alone.
CODE_CLASSES: Mapping[Tuple[int, str], Type[SidegateError]] = {
    (429, "budget_exceeded"): BudgetExceededError,
}

#: Codes that mean "the deadline passed" whatever status carries them.
TIMEOUT_CODES: FrozenSet[str] = frozenset({"timeout", "deadline_exceeded", "request_timeout"})


def error_class(
    status: Optional[int], code: Optional[str] = None, *, connection_level: bool = False
) -> Type[SidegateError]:
    """The class an ERROR frame with this status and code raises (errors.json "resolution")."""
    if connection_level:
        return ProtocolError
    if status is None:
        return SidegateError
    if code is not None:
        by_code = CODE_CLASSES.get((status, code))
        if by_code is not None:
            return by_code
        if code in TIMEOUT_CODES:
            return GatewayTimeoutError if status >= 500 else SidegateTimeout
    by_status = STATUS_CLASSES.get(status)
    if by_status is not None:
        return by_status
    return InternalServerError if status >= 500 else SidegateError


def _opt_float(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _opt_str(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


def error_from_body(body: Any, *, connection_level: bool = False) -> SidegateError:
    """Build the exception for an ERROR frame's parsed body (docs/protocol.md §7)."""
    if not isinstance(body, dict):
        return ProtocolError(f"ERROR frame with a body that is not a JSON object: {body!r}")
    err = body.get("error")
    if not isinstance(err, dict):
        err = {}
    status = body.get("status")
    if isinstance(status, bool) or not isinstance(status, int):
        status = None
    message = _opt_str(err.get("message")) or f"sidegate error (status {status})"
    meta = body.get("meta") if isinstance(body.get("meta"), dict) else None
    kw: Dict[str, Any] = dict(
        status=status,
        code=_opt_str(err.get("code")),
        type=_opt_str(err.get("type")),
        param=_opt_str(err.get("param")),
        retry_after=_opt_float(body.get("retry_after")),
        meta=meta,
        body=body,
    )
    attempts = err.get("attempts")
    if not isinstance(attempts, list):
        attempts = body.get("attempts") if isinstance(body.get("attempts"), list) else None
    kw["attempts"] = [a for a in attempts or [] if isinstance(a, dict)]
    return error_class(status, kw["code"], connection_level=connection_level)(message, **kw)
