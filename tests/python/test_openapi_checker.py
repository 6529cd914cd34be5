"""The OpenAPI checker (openapi_schema.py) itself: it accepts a spec-shaped answer, rejects
wrong ones (so the conformance tests can fail), honours `nullable`, and lists the fields a
body has beyond the spec."""

import json

import pytest

import openapi_schema as oas

GOOD_CHAT = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "refusal": None},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


def test_checker_accepts_a_spec_shaped_chat_answer(spec):
    spec.check(oas.NAMES["chat"], GOOD_CHAT)


@pytest.mark.parametrize(
    "broken, expect",
    [
        (lambda b: b.pop("choices"), "'choices' is a required property"),
        (lambda b: b.update(created="yesterday"), "created: 'yesterday' is not of type 'integer'"),
        (lambda b: b["choices"][0].pop("logprobs"), "'logprobs' is a required property"),
        (lambda b: b["choices"][0]["message"].pop("refusal"), "'refusal' is a required property"),
        (lambda b: b["choices"][0].update(finish_reason="done"), "'done' is not one of"),
        (lambda b: b.update(object="chat.completion.chunk"), "'chat.completion.chunk' is not one of"),
        (lambda b: b["usage"].update(total_tokens="2"), "'2' is not of type 'integer'"),
    ],
)
def test_checker_rejects_a_wrong_chat_answer(spec, broken, expect):
    body = json.loads(json.dumps(GOOD_CHAT))
    broken(body)
    with pytest.raises(oas.SchemaMismatch) as e:
        spec.check(oas.NAMES["chat"], body)
    assert expect in str(e.value)


def test_nullable_means_null_is_allowed(spec):
    # CreateChatCompletionStreamResponse writes `finish_reason` as `nullable: true` (OpenAPI
    # 3.0 style); JSON Schema 2020-12 alone would reject the null every chunk but the last has.
    raw = spec.components["CreateChatCompletionStreamResponse"]["properties"]["choices"]["items"]
    assert {"type": "null"} in raw["properties"]["finish_reason"]["anyOf"]
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None, "logprobs": None}]}
    spec.check(oas.NAMES["chunk"], chunk)
    chunk["choices"][0]["finish_reason"] = "finished"
    assert spec.errors(oas.NAMES["chunk"], chunk)


def test_nullable_rewrite_keeps_the_rest_of_the_schema():
    doc = {"components": {"schemas": {
        "Thing": {"type": "object", "required": ["n"], "x-stainless-const": True,
                  "properties": {"n": {"type": "string", "enum": ["a"], "nullable": True},
                                 "nullable": {"type": "integer"}}}}}}
    s = oas.Spec(doc)
    assert s.errors("Thing", {"n": None}) == [] and s.errors("Thing", {"n": "a", "nullable": 3}) == []
    assert s.errors("Thing", {"n": "b"}) and s.errors("Thing", {"n": 1}) and s.errors("Thing", {})
    assert s.errors("Thing", {"n": "a", "nullable": "three"})


def test_unknown_component_is_an_error(spec):
    with pytest.raises(KeyError):
        spec.check("NoSuchComponent", {})


def test_undeclared_lists_fields_the_spec_does_not_name(spec):
    body = json.loads(json.dumps(GOOD_CHAT))
    body["sidegate"] = {}
    body["usage"]["prompt_tokens_details"] = {"cached_tokens": 0, "cache_creation_tokens": 1}
    assert spec.undeclared(oas.NAMES["chat"], body) == ["/sidegate", "/usage/prompt_tokens_details/cache_creation_tokens"]
    assert spec.undeclared(oas.NAMES["chat"], GOOD_CHAT) == []
