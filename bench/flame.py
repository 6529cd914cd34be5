#!/usr/bin/env python3
"""Folds `perf script` call stacks of one process into a flame graph (SVG) and a text summary.

Usage: perf script -i perf.data -F pid,tid,comm,ip,sym | bench/flame.py --process sidegate --out DIR
Reads the samples on stdin; keeps those of the process whose main thread is named PROCESS
(its worker threads share its pid); writes DIR/folded.txt (one `frame;frame;... count` line a
stack), DIR/flame.svg, and prints the functions with the most samples on top of the stack
(self) and under them (total). Standard library only; no fetched code.
"""

import argparse
import collections
import html
import os
import re
import sys
import zlib

HEADER = re.compile(r"^\s*(?P<comm>.+?)\s+(?P<pid>\d+)/(?P<tid>\d+)\b")
FRAME = re.compile(r"^\s+[0-9a-f]+\s+(?P<sym>.+?)(?:\s+\((?P<dso>[^)]*)\))?$")


def samples(lines):
    """(pid, tid, comm, [frames leaf first], leaf's library) per sample."""
    head, frames, leaf = None, [], ""
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if head:
                yield (*head, frames, leaf)
            head, frames, leaf = None, [], ""
            continue
        if head is None:
            m = HEADER.match(line)
            if m:
                head = (int(m["pid"]), int(m["tid"]), m["comm"])
            continue
        m = FRAME.match(line)
        if m:
            if not frames:
                leaf = library(m["dso"] or "")
            frames.append(tidy(m["sym"], m["dso"] or ""))
    if head:
        yield (*head, frames, leaf)


def library(dso):
    """Where a leaf frame runs: the kernel, glibc (malloc, memcpy), the daemon, or another."""
    name = os.path.basename(dso)
    if "kernel" in name:
        return "kernel"
    if name.startswith("libc.so") or name.startswith("ld-linux"):
        return "glibc"
    if name == "inlined":  # perf's name for a frame inlined into the binary's code
        return "sidegate"
    return name or "[unknown]"


def tidy(sym, dso):
    """A readable frame name: offsets and generic hashes dropped, unknowns named by library."""
    sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
    sym = re.sub(r"::h[0-9a-f]{16}$", "", sym)
    if sym in ("[unknown]", ""):
        lib = os.path.basename(dso)
        return f"[{lib}]" if lib and lib != "[unknown]" else "[unknown]"
    return sym


def svg(folded, width=1600, row=16):
    """A flame graph: the root at the bottom, each frame as wide as its share of the samples."""
    root = {"n": 0, "kids": {}}
    for stack, count in folded.items():
        node = root
        node["n"] += count
        for f in stack:
            node = node["kids"].setdefault(f, {"n": 0, "kids": {}})
            node["n"] += count
    depth = max((len(s) for s in folded), default=0) + 1
    height = depth * row + 40
    total = root["n"] or 1
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" font-size="11">',
        f'<text x="10" y="20">sidegate under load: {total} samples (cpu-clock); hover a frame for its share</text>',
    ]

    def draw(node, name, x, level):
        w = node["n"] / total * (width - 20)
        if w < 0.5:
            return
        y = height - (level + 1) * row
        share = 100.0 * node["n"] / total
        hue = 20 + (zlib.crc32(name.encode()) % 40)
        label = html.escape(name)
        out.append(
            f'<g><title>{label} ({node["n"]} samples, {share:.2f}%)</title>'
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 1}" fill="hsl({hue},85%,60%)"/>'
        )
        if w > 40:
            chars = int(w / 7)
            text = label if len(name) <= chars else html.escape(name[: max(chars - 2, 0)]) + ".."
            out.append(f'<text x="{x + 3:.1f}" y="{y + row - 4}">{text}</text>')
        out.append("</g>")
        for kid_name, kid in sorted(node["kids"].items()):
            draw(kid, kid_name, x, level + 1)
            x += kid["n"] / total * (width - 20)

    draw(root, "all", 10.0, 0)
    out.append("</svg>")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--process", default="sidegate")
    ap.add_argument("--out", required=True)
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    all_samples = list(samples(sys.stdin))
    pids = {pid for pid, tid, comm, _, _ in all_samples if pid == tid and comm == a.process}
    mine = [(comm, frames) for pid, _, comm, frames, _ in all_samples if pid in pids]
    libs = collections.Counter(leaf for pid, _, _, _, leaf in all_samples if pid in pids)
    if not mine:
        sys.exit(f"no samples of a process named {a.process}")
    folded = collections.Counter()
    own, under = collections.Counter(), collections.Counter()
    for comm, frames in mine:
        stack = tuple(reversed(frames)) or ("[no stack]",)
        folded[(comm,) + stack] += 1
        own[frames[0] if frames else "[no stack]"] += 1
        for f in set(frames):
            under[f] += 1
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "folded.txt"), "w") as f:
        for stack, count in folded.most_common():
            f.write(";".join(stack) + f" {count}\n")
    with open(os.path.join(a.out, "flame.svg"), "w") as f:
        f.write(svg(folded))
    n = len(mine)
    print(f"{n} samples of {a.process} (pids {sorted(pids)}); flame graph: {a.out}/flame.svg")
    print("\n| % | where the sample landed |\n|---:|---|")
    for name, c in libs.most_common(6):
        print(f"| {100.0 * c / n:.1f} | {name} |")
    threads = collections.Counter(comm for comm, _ in mine)
    print("\n| % | thread |\n|---:|---|")
    for name, c in threads.most_common(8):
        print(f"| {100.0 * c / n:.1f} | `{name}` |")
    print(f"\n| self % | function (top of the stack) |\n|---:|---|")
    for name, c in own.most_common(a.top):
        print(f"| {100.0 * c / n:.1f} | `{name[:110]}` |")
    print(f"\n| total % | function (on the stack) |\n|---:|---|")
    for name, c in under.most_common(a.top):
        print(f"| {100.0 * c / n:.1f} | `{name[:110]}` |")


if __name__ == "__main__":
    main()
