"""/metrics read by a real Prometheus text parser (prometheus_client's OpenMetrics parser),
with counts that match the requests made."""

import json
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def _chat(base, model):
    req = urllib.request.Request(
        base + "/v1/chat/completions",
        data=json.dumps({"model": model, "messages": [{"role": "user", "content": "count me"}]}).encode(),
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def _samples(base):
    with urllib.request.urlopen(base + "/metrics") as r:
        assert r.headers["content-type"].startswith("application/openmetrics-text")
        text = r.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def _count(families, name, **labels):
    fam = families.get(name)
    if fam is None:
        return 0
    return sum(s.value for s in fam.samples if s.name.endswith("_total") and all(s.labels.get(k) == v for k, v in labels.items()))


def test_requests_and_tokens_match_what_was_sent(daemon):
    base = daemon["http"]
    before = _samples(base)
    ok_before = _count(before, "sidegate_requests", route="fast", status="200")
    tok_before = _count(before, "sidegate_tokens", route="fast", kind="completion")
    for _ in range(5):
        assert _chat(base, "fast") == 200
    assert _chat(base, "no-such-model") == 404
    after = _samples(base)
    assert _count(after, "sidegate_requests", route="fast", status="200") - ok_before == 5
    # the mock answers "count me": 2 completion tokens each
    assert _count(after, "sidegate_tokens", route="fast", kind="completion") - tok_before == 10
    assert _count(after, "sidegate_requests", status="404") >= 1
    hist = after["sidegate_request_duration_seconds"]
    assert any(s.name.endswith("_count") and s.labels.get("route") == "fast" for s in hist.samples)
    assert "sidegate_in_flight_requests" in after
