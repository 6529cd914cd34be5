"""The ready checks for the Responses API (`oas.check_response`, `oas.check_response_event`)
against hand-checked samples: the spec's own examples (x-oaiMeta / `example`), corrected where
the examples lag behind the schemas beside them. Each correction is named; they are also what
sidegate's Responses ingress must send to validate:

- `output_text` parts need `logprobs` (a list; `[]` when none were asked for);
- `user` is a string when present (the examples' `"user": null` fails; leave the key out);
- `usage` is an object when present (`response.created`'s `"usage": null` fails; leave it out);
- `ResponseTextDeltaEvent` / `ResponseTextDoneEvent` need `logprobs` too;
- the events' embedded responses also lack `parallel_tool_calls`, the output message's `status`
  and `usage.input_tokens_details` (`cached_tokens` and `cache_write_tokens`), all required.

Each sample is also broken once, to show the check can fail."""

import copy
import json

import pytest

import openapi_schema as oas


def example(spec, name):
    meta = spec.components[name].get("x-oaiMeta") or {}
    ex = meta.get("example", spec.components[name].get("example"))
    return copy.deepcopy(json.loads(ex) if isinstance(ex, str) else ex)


def corrected_response(resp):
    resp.pop("user", None)
    if resp.get("usage") is None:
        resp.pop("usage", None)
    for item in resp.get("output", []):
        for part in item.get("content", []):
            if part.get("type") == "output_text":
                part.setdefault("logprobs", [])
    return resp


def test_response_object_sample(spec):
    resp = corrected_response(example(spec, "Response"))
    assert resp["object"] == "response" and resp["output"][0]["content"][0]["type"] == "output_text"
    oas.check_response(resp)
    # the uncorrected example fails exactly on the named corrections
    errs = spec.errors(oas.NAMES["response"], example(spec, "Response"))
    assert any(e.startswith("user:") for e in errs) and any(e.startswith("output/0") for e in errs), errs
    for broken in (lambda r: r.pop("output"), lambda r: r.update(created_at="now"), lambda r: r.update(object="chat")):
        bad = copy.deepcopy(resp)
        broken(bad)
        with pytest.raises(oas.SchemaMismatch):
            oas.check_response(bad)


EVENTS = [
    "ResponseCreatedEvent",
    "ResponseInProgressEvent",
    "ResponseOutputItemAddedEvent",
    "ResponseContentPartAddedEvent",
    "ResponseTextDeltaEvent",
    "ResponseTextDoneEvent",
    "ResponseContentPartDoneEvent",
    "ResponseOutputItemDoneEvent",
    "ResponseFunctionCallArgumentsDoneEvent",
    "ResponseReasoningSummaryTextDeltaEvent",
    "ResponseCompletedEvent",
    "ResponseErrorEvent",
]


def corrected_event(ev):
    if "response" in ev:
        corrected_response(ev["response"])
        ev["response"].setdefault("parallel_tool_calls", True)
        for item in ev["response"].get("output", []):
            item.setdefault("status", "completed")
        if ev["response"].get("usage"):
            ev["response"]["usage"].setdefault("input_tokens_details", {"cached_tokens": 0, "cache_write_tokens": 0})
    if ev["type"] in ("response.output_text.delta", "response.output_text.done"):
        ev.setdefault("logprobs", [])
    part = ev.get("part")
    if isinstance(part, dict) and part.get("type") == "output_text":
        part.setdefault("logprobs", [])
    item = ev.get("item")
    if isinstance(item, dict):
        for p in item.get("content", []):
            if p.get("type") == "output_text":
                p.setdefault("logprobs", [])
    return ev


@pytest.mark.parametrize("name", EVENTS)
def test_stream_event_samples(spec, name):
    ev = corrected_event(example(spec, name))
    oas.check_response_event(ev)
    spec.check(name, ev)  # and the member schema itself, not just some branch of the union
    bad = copy.deepcopy(ev)
    bad["sequence_number"] = "first"
    with pytest.raises(oas.SchemaMismatch):
        oas.check_response_event(bad)


def test_unknown_event_type_is_rejected(spec):
    ev = corrected_event(example(spec, "ResponseTextDeltaEvent"))
    ev["type"] = "response.output_text.delta.v2"
    with pytest.raises(oas.SchemaMismatch):
        oas.check_response_event(ev)
