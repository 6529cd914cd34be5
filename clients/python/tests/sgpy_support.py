"""Helpers shared by the tests: paths, polling, and the real daemon and fake vendor as
processes. (A uniquely named module rather than conftest.py, so that test files can import it
even when pytest also collects another directory with its own conftest.py.)

Binaries: ``$SIDEGATE_BIN`` (default ``<repo>/target/debug/sidegate``) and ``$FAKE_VENDOR_BIN``
(default ``<repo>/target/debug/fake-vendor``). When one is missing the integration tests are
skipped, unless ``SIDEGATE_REQUIRE_DAEMON=1`` (then they fail), which is what CI should set.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
VECTORS = REPO / "tests" / "vectors"

SIDEGATE_BIN = Path(os.environ.get("SIDEGATE_BIN") or REPO / "target" / "debug" / "sidegate")
FAKE_VENDOR_BIN = Path(os.environ.get("FAKE_VENDOR_BIN") or REPO / "target" / "debug" / "fake-vendor")
REQUIRE_DAEMON = os.environ.get("SIDEGATE_REQUIRE_DAEMON") == "1"

#: How long a process gets to come up. Generous: the machine is small and may be busy.
STARTUP_TIMEOUT = float(os.environ.get("SIDEGATE_TEST_STARTUP_TIMEOUT", "30"))


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; return its last value."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= end:
            return value
        time.sleep(interval)


def _need(binary: Path) -> None:
    if not binary.exists():
        message = f"{binary} is missing (cargo build --bin sidegate --bin fake-vendor)"
        if REQUIRE_DAEMON:
            pytest.fail(message)
        pytest.skip(message)


class FakeVendor:
    def __init__(self, workdir: Path) -> None:
        _need(FAKE_VENDOR_BIN)
        self.log = open(workdir / "fake-vendor.log", "wb")
        self.proc = subprocess.Popen(
            [str(FAKE_VENDOR_BIN), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
        )
        first: List[bytes] = []
        reader = threading.Thread(target=lambda: first.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(STARTUP_TIMEOUT)
        line = first[0].decode(errors="replace").strip() if first else ""
        if not line.startswith("LISTENING "):
            self.stop()
            raise RuntimeError(f"fake-vendor did not print LISTENING (got {line!r}); log: {workdir / 'fake-vendor.log'}")
        self.addr = line.split(" ", 1)[1]
        self.port = int(self.addr.rsplit(":", 1)[1])
        # Keep draining stdout so the vendor never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def stats(self) -> Dict[str, int]:
        with urllib.request.urlopen(f"http://{self.addr}/_fake/stats", timeout=10) as resp:
            data: Dict[str, int] = json.loads(resp.read())
            return data

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()


CONFIG = """\
[server]
socket = "{socket}"
state_dir = "{state_dir}"
{server_extra}

[prompts]
dir = "prompts"

[providers.mock]
kind = "mock"

[providers.fake]
kind = "openai-compatible"
base_url = "http://127.0.0.1:{port}/v1"

[models.echo]
provider = "mock"
model = "echo"

[models.slow]
provider = "fake"
model = "slow-stream"

[routes.fast]
targets = ["echo"]
{aliases}"""

#: Extra deployments of the fake vendor, one per test that makes calls fail or get cancelled:
#: the daemon keeps a circuit breaker (and 429 cool-downs) per deployment, so tests sharing
#: one would see each other's failures depending on timing.
FAKE_ALIASES = {
    "t-slow-break": "slow-stream",
    "t-slow-async": "slow-stream",
    "t-slow-proto": "slow-stream",
    "t-slow-deadline": "slow-stream",
    "t-slow-restart": "slow-stream",
    "t-hang-client": "hang",
    "t-hang-either": "hang",
    "t-hang-daemon": "hang",
    "t-hang-async": "hang",
    "t-429": "fail-429",
    "t-429-async": "fail-429",
    "t-500": "fail-500",
    "t-401": "fail-401",
    "t-malformed": "malformed",
    "t-reset": "reset",
    "t-truncate": "truncate",
}


#: The prompt file every test daemon serves (``prompts/greet.toml``, version 2): the mock
#: deployment echoes the last user message, so an answer shows what was rendered.
GREET_PROMPT = """\
name = "greet"
version = "2"
model = "echo"
[variables.who]
type = "string"
[variables.punct]
type = "string"
default = "."
[[messages]]
role = "system"
content = "You greet people tersely."
[[messages]]
role = "user"
content = "Greet {{ who }}{{ punct }}"
"""


def _aliases() -> str:
    return "".join(
        f'\n[models.{name}]\nprovider = "fake"\nmodel = "{vendor_model}"\n'
        for name, vendor_model in FAKE_ALIASES.items()
    )


class Daemon:
    """One ``sidegate serve`` process; ``restart()`` kills it and starts it on the same socket."""

    def __init__(self, workdir: Path, vendor_port: int, server_extra: str = "") -> None:
        _need(SIDEGATE_BIN)
        self.workdir = workdir
        self.socket = str(workdir / "sidegate.sock")
        self.config = workdir / "sidegate.toml"
        self.config.write_text(
            CONFIG.format(socket=self.socket, state_dir=os.path.join(os.path.dirname(self.socket), "state"), port=vendor_port, server_extra=server_extra, aliases=_aliases())
        )
        (workdir / "prompts").mkdir(exist_ok=True)
        (workdir / "prompts" / "greet.toml").write_text(GREET_PROMPT)
        self.log_path = workdir / "sidegate.log"
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.start()

    def start(self) -> None:
        env = dict(os.environ)
        env.pop("SIDEGATE_SOCKET", None)
        env["STATE_DIRECTORY"] = str(self.workdir / "state")
        env["XDG_STATE_HOME"] = str(self.workdir / "xdg-state")
        env.setdefault("RUST_LOG", "info")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(SIDEGATE_BIN), "serve", "--config", str(self.config)],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        log.close()
        ready = wait_until(self._ready, STARTUP_TIMEOUT, 0.05)
        code = self.proc.poll()
        if not ready or code is not None:
            self.kill()
            raise RuntimeError(
                f"sidegate did not accept connections on {self.socket} within {STARTUP_TIMEOUT}s "
                f"(exit code {code}); log tail:\n{self.log_tail()}"
            )

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            return True  # exited: reported by start()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    def kill(self) -> None:
        """SIGKILL, like a crash: the socket file stays behind."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


