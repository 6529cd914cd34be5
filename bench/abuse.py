#!/usr/bin/env python3
"""The front under abuse, measured (docs/benchmarks.md, docs/operations.md).

Starts a sidegate binary with the mock provider and its default front limits, under a soft
open-file limit of 1024 (the hard one left as it is: the daemon raises its soft limit at start),
then prints three tables:

1. idle flood: N connections that send nothing, then normal chat requests, each on a new
   connection, measured while the flood is held (before `first_byte_timeout` closes it);
2. slowloris: N connections trickling one header byte a second, then the same requests;
3. big bodies: 32 concurrent 16 MiB chat bodies; how many were served or refused (503), the
   daemon's peak RSS (VmHWM) and its RSS afterwards.

A benchmark, not a test: nothing here asserts. Python's asyncio is the client; on a 2-core
machine it shares the cores with the daemon, so the latencies are an upper bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import tempfile
import time

CONFIG = """[server]
socket = "{socket}"
state_dir = "{state}"
{extra}

[providers.mock]
kind = "mock"
"""


def chat_request(text: str) -> bytes:
    body = json.dumps({"model": "mock/x", "messages": [{"role": "user", "content": text}]}).encode()
    head = f"POST /v1/chat/completions HTTP/1.1\r\nhost: sidegate\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """Reads one HTTP/1.1 response with a content-length; returns its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    await reader.readexactly(length)
    return status


async def one_request(socket_path: str, payload: bytes, timeout: float) -> tuple[float, int]:
    start = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(socket_path), timeout)
        writer.write(payload)
        await writer.drain()
        status = await asyncio.wait_for(read_response(reader), timeout)
        writer.close()
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        status = 0
    return (time.perf_counter() - start) * 1000.0, status


async def normal_requests(socket_path: str, n: int) -> tuple[float, float, int]:
    """n sequential chat requests, each on a new connection: p50, p99 (ms), failures."""
    payload = chat_request("hello")
    times, failed = [], 0
    for _ in range(n):
        ms, status = await one_request(socket_path, payload, 8.0)
        times.append(ms)
        failed += status != 200
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))], failed


async def open_many(socket_path: str, n: int, first: bytes) -> list:
    conns = []

    async def one():
        try:
            r, w = await asyncio.open_unix_connection(socket_path)
            if first:
                w.write(first)
            conns.append((r, w))
        except OSError:
            pass

    for i in range(0, n, 500):
        await asyncio.gather(*(one() for _ in range(min(500, n - i))))
    return conns


def close_all(conns: list) -> None:
    for _, w in conns:
        w.close()


def daemon_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


async def flood_table(socket_path: str, pid: int, sizes: list[int], slow: bool, requests: int) -> None:
    kind = "slowloris" if slow else "idle"
    print(f"\n{kind} connections | connected | daemon fds | daemon RSS MB | p50 ms | p99 ms | failed of {requests}")
    print("---|---|---|---|---|---|---")
    for n in sizes:
        first = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n" if slow else b""
        conns = await open_many(socket_path, n, first)
        stop = asyncio.Event()
        trickle = asyncio.create_task(trickle_loop(conns, stop)) if slow else None
        await asyncio.sleep(0.5)
        fds, rss = daemon_fds(pid), status_kb(pid, "VmRSS") / 1024
        p50, p99, failed = await normal_requests(socket_path, requests)
        stop.set()
        if trickle:
            await trickle
        print(f"{n} | {len(conns)} | {fds} | {rss:.0f} | {p50:.2f} | {p99:.2f} | {failed}")
        close_all(conns)
        await asyncio.sleep(1.0)


async def trickle_loop(conns: list, stop: asyncio.Event) -> None:
    while not stop.is_set():
        for _, w in conns:
            if not w.is_closing():
                try:
                    w.write(b"x")
                except OSError:
                    pass
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except asyncio.TimeoutError:
            pass


async def big_bodies(socket_path: str, pid: int, count: int, size: int) -> None:
    text = "x" * (size - 200)
    payload = chat_request(text)
    rss_before = status_kb(pid, "VmRSS")
    results = await asyncio.gather(*(one_request(socket_path, payload, 120.0) for _ in range(count)))
    statuses = [s for _, s in results]
    await asyncio.sleep(1.0)
    print(f"\nbig bodies: {count} concurrent x {size >> 20} MiB")
    print("served (200) | refused (503) | other | RSS before MB | peak RSS MB | RSS after MB")
    print("---|---|---|---|---|---")
    ok, busy = statuses.count(200), statuses.count(503)
    print(
        f"{ok} | {busy} | {count - ok - busy} | {rss_before / 1024:.0f} | {status_kb(pid, 'VmHWM') / 1024:.0f} | "
        f"{status_kb(pid, 'VmRSS') / 1024:.0f}"
    )


async def with_daemon(args, hard: int, scenario) -> None:
    """Runs `scenario(socket_path, pid)` against a fresh daemon, then prints its log lines
    about limits."""
    with tempfile.TemporaryDirectory() as tmp:
        socket_path = os.path.join(tmp, "sg.sock")
        config = os.path.join(tmp, "sidegate.toml")
        with open(config, "w") as f:
            f.write(CONFIG.format(socket=socket_path, state=os.path.join(tmp, "state"), extra=args.extra))
        log_path = os.path.join(tmp, "daemon.log")
        cmd = ["prlimit", f"--nofile={args.soft_nofile}:{hard}", args.sidegate, "serve", "--config", config]
        env = {**os.environ, "RUST_LOG": "warn,sidegate=info"}
        with open(log_path, "w") as log:
            daemon = subprocess.Popen(cmd, stderr=log, stdout=subprocess.DEVNULL, env=env)
            try:
                for _ in range(200):
                    if os.path.exists(socket_path):
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.2)
                await scenario(socket_path, daemon.pid)
            finally:
                daemon.terminate()
                daemon.wait(timeout=60)
        with open(log_path) as f:
            lines = [l for l in f if "limit" in l or "accept failed" in l]
        for line in lines[:3]:
            print("  log: " + line.rstrip()[:200])


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sidegate", default="target/release/sidegate")
    ap.add_argument("--sizes", default="0,2000,4000,8000,16000")
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--soft-nofile", type=int, default=1024)
    ap.add_argument("--only", default="idle,slowloris,bodies", help="comma-separated scenarios")
    ap.add_argument("--extra", default="", help="extra [server] lines for the daemon's config")
    args = ap.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the client needs the descriptors
    sizes = [int(s) for s in args.sizes.split(",")]
    only = set(args.only.split(","))
    print(f"sidegate {args.sidegate}; each scenario on a fresh daemon started with a soft NOFILE of "
          f"{args.soft_nofile}, hard {hard}")
    if "idle" in only:
        await with_daemon(args, hard, lambda p, pid: flood_table(p, pid, sizes, False, args.requests))
    if "slowloris" in only:
        await with_daemon(args, hard, lambda p, pid: flood_table(p, pid, sizes, True, args.requests))
    if "bodies" in only:
        await with_daemon(args, hard, lambda p, pid: big_bodies(p, pid, 32, 16 << 20))


if __name__ == "__main__":
    asyncio.run(main())
