#!/usr/bin/env python3
"""Round trip of a mock chat through the official openai SDK over sidegate's Unix socket
(HTTP), to compare with the shims' native protocol (clients/python/bench.py,
clients/node/bench.js).

    python bench/shims/openai_sdk.py /path/to/sidegate.sock [--calls 2000] [--model mock/echo]
"""

import argparse
import statistics
import time

import openai

try:  # openai >= 3 uses httpx2, older versions httpx
    import httpx2 as hx
except ImportError:
    import httpx as hx


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--model", default="mock/echo")
    a = ap.parse_args()
    client = openai.OpenAI(
        base_url="http://sidegate/v1",
        api_key="unused",
        max_retries=0,
        http_client=openai.DefaultHttpxClient(transport=hx.HTTPTransport(uds=a.socket)),
    )
    msgs = [{"role": "user", "content": "benchmark prompt of a few words"}]
    for _ in range(100):
        client.chat.completions.create(model=a.model, messages=msgs)
    lat = []
    cpu0 = time.process_time()
    for _ in range(a.calls):
        t = time.perf_counter()
        client.chat.completions.create(model=a.model, messages=msgs)
        lat.append(time.perf_counter() - t)
    cpu = (time.process_time() - cpu0) / a.calls
    lat.sort()
    q = statistics.quantiles(lat, n=100)
    print(f"{'openai SDK (HTTP/unix)':<28} calls {a.calls}  p50 {q[49] * 1e6:8.0f} µs  p99 {q[98] * 1e6:8.0f} µs  client CPU/call {cpu * 1e6:6.0f} µs")


if __name__ == "__main__":
    main()
