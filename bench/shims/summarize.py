#!/usr/bin/env python3
"""Medians (and the best round) over the rounds of bench/shims/compare.sh: p50, p99 and client CPU per call (µs) of
each shim, before and after. Reads the log compare.sh writes (``### label mode`` headers
followed by the output of clients/python/bench.py or clients/node/bench.js)."""

from __future__ import annotations

import re
import statistics
import sys
from collections import defaultdict
from typing import Dict, List, Tuple


def parse(text: str) -> Dict[Tuple[str, str], Dict[str, List[float]]]:
    runs: Dict[Tuple[str, str], Dict[str, List[float]]] = defaultdict(lambda: defaultdict(list))
    key = None
    for line in text.splitlines():
        head = re.match(r"### (\S+) (\S+)", line)
        if head:
            key = (head.group(1), head.group(2))
            continue
        if key is None:
            continue
        py_rtt = re.match(r"round trip \(ms\)\s+([\d.]+)\s+[\d.]+\s+([\d.]+)", line)
        if py_rtt:  # Python prints milliseconds
            runs[key]["p50"].append(float(py_rtt.group(1)) * 1000)
            runs[key]["p99"].append(float(py_rtt.group(2)) * 1000)
        for name in ("p50", "p99"):
            node = re.match(rf"{name} latency\s+([\d.]+) µs", line)
            if node:
                runs[key][name].append(float(node.group(1)))
        cpu = re.match(r"(?:client CPU per call|client CPU/call)\s+([\d.]+) µs", line)
        if cpu:
            runs[key]["cpu"].append(float(cpu.group(1)))
    return runs


def main() -> int:
    runs = parse(open(sys.argv[1], encoding="utf-8").read())
    head = f"{'p50 µs':>9}{'p99 µs':>9}{'CPU/call µs':>13}"
    print(f"\n{'shim':8}{'':8}{head}   (median of rounds)  {head}   (best round)")
    for mode in ("sync", "async", "node"):
        for label in ("before", "after"):
            m = runs.get((label, mode))
            if not m:
                continue
            keys = ("p50", "p99", "cpu")
            med = [statistics.median(m[k]) if m[k] else float("nan") for k in keys]
            best = [min(m[k]) if m[k] else float("nan") for k in keys]
            print(f"{mode:8}{label:8}{med[0]:9.1f}{med[1]:9.1f}{med[2]:13.1f}"
                  f"{'':22}{best[0]:9.1f}{best[1]:9.1f}{best[2]:13.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
