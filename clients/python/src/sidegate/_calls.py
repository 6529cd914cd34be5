"""The part of the public client API that does not depend on the transport: the constructor's
checked arguments and turning a method call (``chat``, ``embeddings``, ``models``, ...) into a
:class:`CallPlan`. ``Client`` and ``AsyncClient`` inherit it and only run the plans."""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping, NamedTuple, Optional, Type

from . import frame as fr
from ._core import (
    ChatCompletion,
    PathArg,
    Response,
    build_options,
    build_request,
    check_mapping,
    check_seconds,
    resolve_socket_path,
    split_chat_kwargs,
)

__all__ = ["CallPlan", "ClientSettings", "prompt_reference"]


def prompt_reference(prompt_id: Any, variables: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The native ``options.prompt`` of a ``prompt()`` call, checked: a non-empty ``str`` id
    and a mapping (or ``None``) of variables. Wrong types raise TypeError."""
    if not isinstance(prompt_id, str):
        raise TypeError(f"prompt id must be a str such as 'greet' or 'greet@2', not {type(prompt_id).__name__}")
    if not prompt_id.strip():
        raise ValueError("prompt id must not be empty")
    check_mapping(variables, "variables")
    return {"id": prompt_id, "variables": dict(variables) if variables is not None else {}}


class CallPlan(NamedTuple):
    """One REQUEST to make: what goes on the wire, the caller's deadline and the answer type."""

    op: str
    body: Optional[Mapping[str, Any]]
    options: Dict[str, Any]
    #: seconds, or ``None`` for no client-side deadline
    timeout: Optional[float]
    answer: Type[Response] = Response

    def request_frame(self, rid: int) -> bytes:
        """The REQUEST frame, encoded once per call (a resend reuses the bytes)."""
        return fr.encode_json(fr.REQUEST, rid, build_request(self.op, self.body, self.options))


#: ``CallPlan(...)`` runs a Python-level ``__new__``; building the tuple directly costs a
#: quarter of that on the per-call path (every field is given, so no defaults are needed).
_new_plan = tuple.__new__


class ClientSettings:
    """``socket_path``, ``timeout`` and ``connect_retry``, checked; see :class:`sidegate.Client`."""

    def __init__(
        self,
        socket_path: Optional[PathArg] = None,
        *,
        timeout: Optional[float] = None,
        connect_retry: float = 2.0,
    ) -> None:
        self.socket_path = resolve_socket_path(socket_path)
        self.timeout = check_seconds(timeout, "timeout")
        retry = check_seconds(connect_retry, "connect_retry", allow_zero=True)
        if retry is None:
            raise TypeError("connect_retry must be a number of seconds, not None")
        self.connect_retry = retry
        self._closed = False

    def _t(self, timeout: Optional[float]) -> Optional[float]:
        return self.timeout if timeout is None else check_seconds(timeout, "timeout")

    def _plan_body(
        self,
        op: str,
        answer: Type[Response],
        stream: bool,
        cache: Optional[str],
        route: Optional[str],
        label: Optional[str],
        timeout: Optional[float],
        options: Optional[Mapping[str, Any]],
        body: Dict[str, Any],
    ) -> CallPlan:
        """``chat`` and ``embeddings``: the OpenAI keyword arguments are the body."""
        if not isinstance(stream, bool):
            raise TypeError(f"stream must be a bool, not {type(stream).__name__}")
        payload = split_chat_kwargs(body)
        if stream:
            payload["stream"] = True
        t = self._t(timeout)
        opts = build_options(cache=cache, route=route, label=label, timeout=t, extra=options)
        return _new_plan(CallPlan, (op, payload, opts, t, answer))

    def _plan_prompt(
        self,
        prompt_id: Any,
        variables: Optional[Mapping[str, Any]],
        stream: bool,
        cache: Optional[str],
        route: Optional[str],
        label: Optional[str],
        timeout: Optional[float],
        options: Optional[Mapping[str, Any]],
        body: Dict[str, Any],
    ) -> CallPlan:
        """``prompt``: a chat call whose messages come from the prompt file ``prompt_id``
        (``name`` or ``name@version``), rendered by the daemon from ``variables``; the
        keyword arguments (``messages`` appended after the prompt's, ``model``, ...) are the body."""
        options = dict(check_mapping(options, "options") or {})
        if "prompt" in body or "prompt" in options:
            raise TypeError("prompt(): the prompt is named by its first argument, not also by a `prompt` keyword or option")
        options["prompt"] = prompt_reference(prompt_id, variables)
        return self._plan_body("chat", ChatCompletion, stream, cache, route, label, timeout, options, body)

    def _plan_request(
        self,
        op: str,
        body: Optional[Mapping[str, Any]] = None,
        timeout: Optional[float] = None,
        options: Optional[Mapping[str, Any]] = None,
    ) -> CallPlan:
        if not isinstance(op, str):
            raise TypeError(f"op must be a str, not {type(op).__name__}")
        check_mapping(body, "body")
        t = self._t(timeout)
        return _new_plan(CallPlan, (op, body, build_options(timeout=t, extra=options), t, Response))

    def _plan_feedback(
        self,
        request_id: str,
        score: Optional[float],
        label: Optional[str],
        comment: Optional[str],
        timeout: Optional[float],
    ) -> CallPlan:
        """``feedback``: an outcome for an answered request (its ``meta["request_id"]``)."""
        if not isinstance(request_id, str) or not request_id:
            raise TypeError(f"request_id must be a non-empty str, not {request_id!r}")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            raise TypeError(f"score must be a number, not {type(score).__name__}")
        if score is not None and not math.isfinite(score):
            raise ValueError(f"score must be a finite number, not {score!r}")
        for name, value in (("label", label), ("comment", comment)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a str, not {type(value).__name__}")
        if score is None and label is None:
            raise TypeError("feedback() needs a score, a label, or both")
        body: Dict[str, Any] = {"request_id": request_id}
        for name, value in (("score", score), ("label", label), ("comment", comment)):
            if value is not None:
                body[name] = value
        t = self._t(timeout)
        return _new_plan(CallPlan, ("feedback", body, build_options(timeout=t), t, Response))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(socket_path={self.socket_path!r})"
