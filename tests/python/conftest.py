"""Fixtures: the real sidegate daemon (built by cargo) with a real config file, and the fake
OpenAI vendor binary on loopback. Binaries come from SIDEGATE_BIN / FAKE_VENDOR_BIN or
target/debug."""

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

import openapi_schema

ROOT = Path(__file__).resolve().parents[2]
SIDEGATE_BIN = os.environ.get("SIDEGATE_BIN", str(ROOT / "target" / "debug" / "sidegate"))
FAKE_VENDOR_BIN = os.environ.get("FAKE_VENDOR_BIN", str(ROOT / "target" / "debug" / "fake-vendor"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(cond, what, limit=30.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def fake_vendor():
    p = subprocess.Popen([FAKE_VENDOR_BIN, "--port", "0"], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    assert line.startswith("LISTENING "), line
    yield "http://" + line.split()[1]
    p.kill()
    p.wait()


def vendor_providers(fake_vendor: str, *names: str) -> str:
    """`[providers.<name>]` tables for the fake vendor at `fake_vendor`, one for each of `names`:
    `mock` (the mock provider), `fake` (openai-compatible), `oai` (openai), `claude`
    (anthropic), `gem` (gemini) and `azure`, each with a fake key where its kind takes one."""
    addr = fake_vendor.removeprefix("http://")
    tables = {
        "mock": 'kind = "mock"',
        "fake": f'kind = "openai-compatible"\nbase_url = "{fake_vendor}/v1"',
        "oai": f'kind = "openai"\nbase_url = "{fake_vendor}/v1"\napi_key = "sk-fake"',
        "claude": f'kind = "anthropic"\nbase_url = "http://{addr}"\napi_key = "sk-ant-fake"',
        "gem": f'kind = "gemini"\nbase_url = "http://{addr}"\napi_key = "AIza-fake"',
        "azure": f'kind = "azure"\nbase_url = "http://{addr}"\napi_key = "azure-fake"',
    }
    return "".join(f"\n[providers.{n}]\n{tables[n]}\n" for n in names)


@pytest.fixture(scope="session")
def fake_providers(fake_vendor):
    """`fake_providers(*names)`: `vendor_providers` for the session's fake vendor."""
    return lambda *names: vendor_providers(fake_vendor, *names)


def start_sidegate(d: Path, providers: str, server: str = ""):
    """Starts the daemon in directory `d` with a config of a `[server]` section (socket, state
    dir, loopback HTTP port, plus `server` lines) and `providers` (the rest of the TOML).
    Returns the process, its log file and the addresses; stop it with `stop_sidegate`."""
    sock = d / "sg.sock"
    port = _free_port()
    cfg = d / "sidegate.toml"
    cfg.write_text(
        f"""
[server]
socket = "{sock}"
state_dir = "{d / 'state'}"
http = "127.0.0.1:{port}"
{server}
{providers}
"""
    )
    log = open(d / "daemon.log", "w")
    p = subprocess.Popen([SIDEGATE_BIN, "serve", "--config", str(cfg)], stderr=log)

    def ready():
        assert p.poll() is None, (d / "daemon.log").read_text()
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(sock))
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    _wait(ready, "sidegate to listen")
    return p, log, {"socket": str(sock), "http": f"http://127.0.0.1:{port}"}


def stop_sidegate(p, log):
    p.terminate()
    p.wait(timeout=30)
    log.close()


@pytest.fixture(scope="session")
def daemon(tmp_path_factory, fake_vendor):
    d = tmp_path_factory.mktemp("sidegate")
    p, log, addr = start_sidegate(
        d,
        vendor_providers(fake_vendor, "mock", "fake")
        + """
[models.echo]
provider = "mock"
model = "echo"

[routes.fast]
targets = ["echo"]
""",
    )
    yield {**addr, "vendor": fake_vendor}
    stop_sidegate(p, log)


@pytest.fixture(scope="session")
def sidegate_factory(tmp_path_factory):
    """Starts more daemons with their own providers: `start(providers_toml, server_lines="")`
    returns {"socket", "http"}; every daemon started is stopped at the end of the session."""
    running = []

    def start(providers: str, server: str = ""):
        p, log, addr = start_sidegate(tmp_path_factory.mktemp("sidegate"), providers, server)
        running.append((p, log))
        return addr

    yield start
    for p, log in running:
        stop_sidegate(p, log)


@pytest.fixture(scope="session")
def spec():
    """OpenAI's OpenAPI description as an `openapi_schema.Spec` (parsed once). Missing: a
    skip, or a failure when SIDEGATE_REQUIRE_DAEMON=1 (CI)."""
    if not openapi_schema.SPEC_PATH.exists():
        msg = f"OpenAPI spec missing at {openapi_schema.SPEC_PATH} (the shared/ checkout beside the repository)"
        if os.environ.get("SIDEGATE_REQUIRE_DAEMON") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return openapi_schema.spec()
