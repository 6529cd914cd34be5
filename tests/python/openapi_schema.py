"""Validates JSON instances against the component schemas of OpenAI's published OpenAPI
description (../shared/specs/openai-openapi.yaml beside the repository, OpenAPI 3.1, so JSON
Schema 2020-12 with `$ref`s into `#/components/schemas`).

The whole YAML document is one `referencing` resource, so every `$ref` resolves inside it. It
is parsed once per process (`spec()` caches it; parsing takes seconds). Two leftovers of
OpenAPI 3.0 are handled before validation: `nullable: true` (unknown to JSON Schema 2020-12,
which would otherwise reject the `null`s the spec means to allow) becomes
`anyOf: [<the schema>, {type: null}]`; `x-*` vendor keywords and `discriminator`/`example`
are annotations a 2020-12 validator ignores, and stay.

`check(name, instance)` raises `SchemaMismatch` listing every error; `undeclared(name,
instance)` lists the fields an instance carries that the schema does not declare (the spec
leaves `additionalProperties` open on the answers, so those are not errors, only worth
knowing). Adding a schema to the tests is one entry in `NAMES`."""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List
from urllib.parse import quote

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = Path(os.environ.get("SIDEGATE_OPENAPI_SPEC", str(ROOT.parent / "shared" / "specs" / "openai-openapi.yaml")))
SPEC_URI = "urn:openai:openapi"

# What each OpenAI-shaped answer is, by the component that describes it. New answer kinds
# (the Responses API) are one line each.
NAMES = {
    "chat": "CreateChatCompletionResponse",
    "chunk": "CreateChatCompletionStreamResponse",
    "embeddings": "CreateEmbeddingResponse",
    "models": "ListModelsResponse",
    "model": "Model",
    "error": "ErrorResponse",
    "create_response": "CreateResponse",
    "response": "Response",
    "response_event": "ResponseStreamEvent",
}


class SchemaMismatch(AssertionError):
    """An instance that does not validate; the message lists every error with its path."""


def _open_nullable(node: Any) -> Any:
    """Rewrites OpenAPI 3.0 `nullable: true` as a JSON Schema `anyOf` with `null`, everywhere
    (in place, bottom-up). A property *named* `nullable` has a schema object as its value,
    never `true`, so it is left alone."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            node[i] = _open_nullable(item)
        return node
    if not isinstance(node, dict):
        return node
    for key in list(node):
        node[key] = _open_nullable(node[key])
    if node.get("nullable") is True:
        inner = {k: v for k, v in node.items() if k != "nullable"}
        return {"anyOf": [inner, {"type": "null"}]}
    return node


class Spec:
    """The OpenAPI document as a schema registry, with one cached validator per component."""

    def __init__(self, document: Dict[str, Any]):
        self.document = _open_nullable(copy.deepcopy(document))
        self.components: Dict[str, Any] = self.document["components"]["schemas"]
        resource = Resource(contents=self.document, specification=DRAFT202012)
        self.registry = Registry().with_resource(SPEC_URI, resource)

    @functools.lru_cache(maxsize=None)
    def validator(self, name: str) -> Draft202012Validator:
        if name not in self.components:
            raise KeyError(f"no component schema `{name}` in {SPEC_PATH.name}")
        return Draft202012Validator({"$ref": f"{SPEC_URI}#/components/schemas/{name}"}, registry=self.registry)

    def errors(self, name: str, instance: Any) -> List[str]:
        found = sorted(self.validator(name).iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
        return [line for e in found for line in _describe(e)]

    def check(self, name: str, instance: Any) -> None:
        errs = self.errors(name, instance)
        if errs:
            raise SchemaMismatch(f"{name}: {len(errs)} error(s)\n  " + "\n  ".join(errs))

    def undeclared(self, name: str, instance: Any) -> List[str]:
        """Paths of object fields the component does not declare (following `$ref`, `allOf`,
        the first `anyOf`/`oneOf` branch the value validates against, and `items`)."""
        return sorted(set(self._undeclared(f"/components/schemas/{name}", instance, "")))

    def _node(self, pointer: str) -> Any:
        node: Any = self.document
        for part in pointer.split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def _fits(self, pointer: str, value: Any) -> bool:
        ref = SPEC_URI + "#" + quote(pointer, safe="/~")
        return Draft202012Validator({"$ref": ref}, registry=self.registry).is_valid(value)

    def _undeclared(self, pointer: str, value: Any, at: str) -> Iterator[str]:
        schema = self._node(pointer)
        if not isinstance(schema, dict):
            return
        if "$ref" in schema:
            yield from self._undeclared(schema["$ref"].removeprefix("#"), value, at)
        for i, _ in enumerate(schema.get("allOf", [])):
            yield from self._undeclared(f"{pointer}/allOf/{i}", value, at)
        for key in ("anyOf", "oneOf"):
            fitting = [f"{pointer}/{key}/{i}" for i, _ in enumerate(schema.get(key, []))]
            fitting = [b for b in fitting if self._fits(b, value)]
            if fitting:
                yield from self._undeclared(fitting[0], value, at)
        if isinstance(value, dict) and "properties" in schema:
            props = schema["properties"]
            for k, v in value.items():
                if k in props:
                    esc = k.replace("~", "~0").replace("/", "~1")
                    yield from self._undeclared(f"{pointer}/properties/{esc}", v, f"{at}/{k}")
                elif not isinstance(schema.get("additionalProperties"), dict):
                    yield f"{at}/{k}"
        if isinstance(value, list) and isinstance(schema.get("items"), dict):
            for i, v in enumerate(value):
                yield from self._undeclared(f"{pointer}/items", v, f"{at}/{i}")


def _describe(e: ValidationError) -> List[str]:
    """`path: message` lines. A value that matched no `anyOf`/`oneOf` branch (which
    jsonschema reports with the whole value) is described by the errors of its closest branch."""
    if not e.context:
        return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"]
    branches: Dict[Any, List[ValidationError]] = {}
    for sub in e.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)

    def distance(errs: List[ValidationError]):
        wrong_kind = any(x.validator == "type" and not x.relative_path for x in errs)
        wrong_tag = any(list(x.relative_path) == ["type"] for x in errs)  # the discriminator
        return (wrong_kind, wrong_tag, len(errs))

    closest = min(branches.values(), key=distance)
    return [line for sub in closest for line in _describe(sub)]


@functools.lru_cache(maxsize=1)
def spec() -> Spec:
    """The parsed spec, once per process. Raises FileNotFoundError when it is missing."""
    with open(SPEC_PATH, encoding="utf-8") as f:
        return Spec(yaml.safe_load(f))


# Ready-made checks, one per answer kind.
def check_chat_completion(body: Any) -> None:
    spec().check(NAMES["chat"], body)


def check_chat_chunk(chunk: Any) -> None:
    spec().check(NAMES["chunk"], chunk)


def check_embeddings(body: Any) -> None:
    spec().check(NAMES["embeddings"], body)


def check_model_list(body: Any) -> None:
    spec().check(NAMES["models"], body)


def check_error(body: Any) -> None:
    spec().check(NAMES["error"], body)


def check_response(body: Any) -> None:
    """A Responses API `response` object (POST /v1/responses, GET /v1/responses/{id})."""
    spec().check(NAMES["response"], body)


def check_response_event(event: Any) -> None:
    """One Responses API stream event (the JSON of an SSE `data:` line)."""
    spec().check(NAMES["response_event"], event)
