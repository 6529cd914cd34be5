"""The shared ERROR -> class table (tests/vectors/errors.json), row by row: the same file the
Node shim's tests check, so the two shims raise the same class for the same answer."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Type

import pytest
from sgpy_support import VECTORS

import sidegate
from sidegate import errors
from sidegate.errors import CODE_CLASSES, STATUS_CLASSES, TIMEOUT_CODES, SidegateError, error_class, error_from_body

TABLE: Dict[str, Any] = json.loads((VECTORS / "errors.json").read_text(encoding="utf-8"))


def _cls(name: str) -> Type[SidegateError]:
    cls = getattr(errors, name, None)
    assert isinstance(cls, type) and issubclass(cls, SidegateError), f"sidegate.errors has no class {name}"
    assert getattr(sidegate, name) is cls, f"{name} is not exported by the sidegate package"
    return cls


def _label(case: Dict[str, Any]) -> str:
    return " ".join(f"{k}={case[k]}" for k in ("status", "code", "connection_level") if k in case)


CASES: List[Dict[str, Any]] = TABLE["rows"] + TABLE["checks"]


@pytest.mark.parametrize("case", CASES, ids=_label)
def test_case(case: Dict[str, Any]) -> None:
    expected = _cls(case["class"])
    status: Optional[int] = case["status"]
    code: Optional[str] = case.get("code")
    level = bool(case.get("connection_level", False))
    assert error_class(status, code, connection_level=level) is expected
    body = {"status": status, "error": {"message": "m", "type": "t", "code": code, "param": None}}
    err = error_from_body(body, connection_level=level)
    assert type(err) is expected
    assert err.status == status and err.code == code and err.message == "m"


def test_code_tables_are_the_files() -> None:
    by_status = {r["status"]: _cls(r["class"]) for r in TABLE["rows"] if "code" not in r}
    by_code = {(r["status"], r["code"]): _cls(r["class"]) for r in TABLE["rows"] if "code" in r}
    assert dict(STATUS_CLASSES) == by_status
    assert dict(CODE_CLASSES) == by_code
    assert TIMEOUT_CODES == frozenset(TABLE["timeout_codes"])


@pytest.mark.parametrize("name", [k for k in TABLE["parents"] if k != "about"])
def test_parents(name: str) -> None:
    for parent in TABLE["parents"][name]:
        assert issubclass(_cls(name), _cls(parent)), f"{name} is not a {parent}"


def test_local_classes() -> None:
    for what, names in TABLE["local"].items():
        if what != "about" and "python" in names:
            _cls(names["python"])


def test_body_that_is_not_an_object() -> None:
    assert type(error_from_body([])) is errors.ProtocolError  # not an ERROR body at all
    assert type(error_from_body({})) is SidegateError
