"""sidegate: the Python client of the sidegate sidecar AI gateway.

>>> from sidegate import Client
>>> c = Client()                      # socket: $SIDEGATE_SOCKET, else the default path
>>> r = c.chat(model="fast", messages=[{"role": "user", "content": "hi"}])
>>> r["choices"][0]["message"]["content"], r.meta["provider"]

Standard library only. See the README for streaming, asyncio, options and errors.
"""

from __future__ import annotations

from ._core import VERSION as __version__
from ._core import ChatCompletion, Response, default_socket_path
from ._openai import async_openai_client, openai_client
from .aio import AsyncClient, AsyncStream
from .client import Client, Stream
from .errors import (
    STATUS_CLASSES,
    AllVendorsFailedError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ConflictError,
    ConnectionLost,
    DaemonNotRunning,
    GatewayTimeoutError,
    InternalServerError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    SidegateConnectionError,
    SidegateError,
    SidegateTimeout,
    SidegateTimeoutError,
    UnprocessableEntityError,
    error_class,
)

__all__ = [
    "__version__",
    "Client",
    "AsyncClient",
    "Stream",
    "AsyncStream",
    "Response",
    "ChatCompletion",
    "default_socket_path",
    "openai_client",
    "async_openai_client",
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
    "error_class",
]
