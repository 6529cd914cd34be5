"""Fixtures: a short socket directory, the in-process fake daemon (tests/fakedaemon.py), and,
for the integration tests, the real ``sidegate`` daemon with the ``fake-vendor`` binary behind
it (see sgpy_support.py for how they are found and started)."""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # fakedaemon, sgpy_support

from sgpy_support import Daemon, FakeVendor  # noqa: E402


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: AF_UNIX paths are limited to ~107 bytes.
    d = Path(tempfile.mkdtemp(prefix="sgpy-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def fake(sock_dir: Path) -> Iterator[Any]:
    from fakedaemon import FakeDaemon

    d = FakeDaemon(str(sock_dir / "fake.sock")).start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="session")
def vendor() -> Iterator[FakeVendor]:
    workdir = Path(tempfile.mkdtemp(prefix="sgpy-vendor-"))
    v = FakeVendor(workdir)
    try:
        yield v
    finally:
        v.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def daemon(vendor: FakeVendor) -> Iterator[Daemon]:
    """One daemon for the integration tests that do not disturb it."""
    workdir = Path(tempfile.mkdtemp(prefix="sgpy-d-"))
    d = Daemon(workdir, vendor.port)
    try:
        yield d
    finally:
        d.stop()
        if d.proc is not None and d.proc.returncode not in (0, -signal.SIGTERM, None):
            print(f"sidegate exited with {d.proc.returncode}; log tail:\n{d.log_tail()}")
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def make_daemon(vendor: FakeVendor) -> Iterator[Callable[..., Daemon]]:
    """Private daemons for tests that kill or reconfigure theirs."""
    started: List[Daemon] = []
    dirs: List[Path] = []

    def make(server_extra: str = "") -> Daemon:
        workdir = Path(tempfile.mkdtemp(prefix="sgpy-d-"))
        dirs.append(workdir)
        d = Daemon(workdir, vendor.port, server_extra)
        started.append(d)
        return d

    try:
        yield make
    finally:
        for d in started:
            d.stop()
        for w in dirs:
            shutil.rmtree(w, ignore_errors=True)
