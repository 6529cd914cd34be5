"""``sidegate.openai_client()``: the official ``openai`` SDK pointed at the daemon's socket.

The daemon serves OpenAI-compatible HTTP on the same Unix socket as the native protocol, so
the SDK only needs an HTTP transport that dials the socket. ``openai`` is never a dependency
of this package: the import happens when the helper is called.
"""

from __future__ import annotations

import importlib
from typing import Any, Optional

from ._core import PathArg, resolve_socket_path

__all__ = ["openai_client", "async_openai_client"]

#: The SDK wants an absolute base URL; the host part is ignored on a Unix socket.
BASE_URL = "http://sidegate/v1"


def _httpx() -> Any:
    """The httpx flavour the installed openai is built on: ``httpx2`` for openai >= 3,
    ``httpx`` for openai 1.x/2.x."""
    try:
        import openai
    except ImportError as exc:
        raise ImportError(
            "sidegate.openai_client() needs the openai package: pip install openai"
        ) from exc
    major = int(str(getattr(openai, "__version__", "0")).split(".")[0] or 0)
    names = ("httpx2", "httpx") if major >= 3 else ("httpx", "httpx2")
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("openai is installed but neither httpx2 nor httpx could be imported")


def openai_client(socket_path: Optional[PathArg] = None, **kwargs: Any) -> Any:
    """An ``openai.OpenAI`` whose requests go to sidegate's socket (found as ``Client`` finds
    it). Extra keyword arguments go to ``openai.OpenAI`` (``max_retries``, ``timeout``, ...)."""
    hx = _httpx()
    import openai

    path = resolve_socket_path(socket_path)
    kwargs.setdefault("base_url", BASE_URL)
    kwargs.setdefault("api_key", "sidegate")  # the daemon holds the real vendor keys
    kwargs.setdefault(
        "http_client", openai.DefaultHttpxClient(transport=hx.HTTPTransport(uds=path))
    )
    return openai.OpenAI(**kwargs)


def async_openai_client(socket_path: Optional[PathArg] = None, **kwargs: Any) -> Any:
    """An ``openai.AsyncOpenAI`` over sidegate's socket; see :func:`openai_client`."""
    hx = _httpx()
    import openai

    path = resolve_socket_path(socket_path)
    kwargs.setdefault("base_url", BASE_URL)
    kwargs.setdefault("api_key", "sidegate")
    kwargs.setdefault(
        "http_client",
        openai.DefaultAsyncHttpxClient(transport=hx.AsyncHTTPTransport(uds=path)),
    )
    return openai.AsyncOpenAI(**kwargs)
