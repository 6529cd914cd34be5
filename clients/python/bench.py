#!/usr/bin/env python3
"""Round-trip latency and client CPU cost of a ``mock`` chat through the Python shim.

    python bench.py /path/to/sidegate.sock [--calls 2000] [--model mock/echo] [--async]

Needs a running daemon with a provider named ``mock`` (the built-in default config has one).
Calls are sequential on one connection, so the round trip is the shim + socket + daemon +
mock overhead with nothing queued. Client CPU is ``time.process_time()`` of this process
(all threads, including the shim's reader thread) divided by the number of calls.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from typing import Callable, Dict, List, Tuple

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))

import sidegate  # noqa: E402


def percentile(sorted_values: List[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def run_sync(args: argparse.Namespace, body: Dict[str, object]) -> Tuple[List[float], List[float], float, float]:
    c = sidegate.Client(args.socket)
    call: Callable[[], sidegate.ChatCompletion] = lambda: c.chat(**body)  # type: ignore[arg-type]  # noqa: E731
    for _ in range(args.warmup):
        call()
    rtts: List[float] = []
    daemon: List[float] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(args.calls):
        t0 = time.perf_counter()
        r = call()
        rtts.append((time.perf_counter() - t0) * 1000.0)
        lat = r.meta.get("latency_ms")
        if isinstance(lat, (int, float)):
            daemon.append(float(lat))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    c.close()
    return rtts, daemon, cpu, wall


def run_async(args: argparse.Namespace, body: Dict[str, object]) -> Tuple[List[float], List[float], float, float]:
    async def main() -> Tuple[List[float], List[float], float, float]:
        a = sidegate.AsyncClient(args.socket)
        for _ in range(args.warmup):
            await a.chat(**body)  # type: ignore[arg-type]
        rtts: List[float] = []
        daemon: List[float] = []
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(args.calls):
            t0 = time.perf_counter()
            r = await a.chat(**body)  # type: ignore[arg-type]
            rtts.append((time.perf_counter() - t0) * 1000.0)
            lat = r.meta.get("latency_ms")
            if isinstance(lat, (int, float)):
                daemon.append(float(lat))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        await a.close()
        return rtts, daemon, cpu, wall

    return asyncio.run(main())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("socket", help="the daemon's socket path")
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--model", default="mock/echo", help="a mock-backed model or route (default mock/echo)")
    p.add_argument("--message", default="ping")
    p.add_argument("--allow-cache", action="store_true", help="let the daemon's cache answer (default: no-store)")
    p.add_argument("--async", dest="use_async", action="store_true", help="use AsyncClient instead of Client")
    args = p.parse_args()

    body: Dict[str, object] = {"model": args.model, "messages": [{"role": "user", "content": args.message}]}
    if not args.allow_cache:
        body["cache"] = "no-store"
    try:
        rtts, daemon, cpu, wall = (run_async if args.use_async else run_sync)(args, body)
    except sidegate.SidegateError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1

    rtts.sort()
    daemon.sort()
    mode = "AsyncClient" if args.use_async else "Client"
    print(f"sidegate python shim: {args.calls} sequential calls, {mode}, model {args.model}, socket {args.socket}")
    print(f"{'':26}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}{'mean':>9}")
    rows = [("round trip (ms)", rtts)]
    if daemon:
        rows.append(("daemon latency_ms (meta)", daemon))
    for name, values in rows:
        cells = [percentile(values, q) for q in (50, 90, 99)] + [values[-1], statistics.fmean(values)]
        print(f"{name:26}" + "".join(f"{v:9.3f}" for v in cells))
    print(f"{'client CPU per call':26}{cpu / args.calls * 1e6:9.1f} µs (process_time, all threads)")
    print(f"{'throughput':26}{args.calls / wall:9.0f} calls/s (one caller)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
