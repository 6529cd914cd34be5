"""Socket discovery (DESIGN §2) and the daemon-not-running error."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sidegate import AsyncClient, Client, DaemonNotRunning, SidegateConnectionError, default_socket_path


def test_env_wins() -> None:
    assert default_socket_path({"SIDEGATE_SOCKET": "/x/s.sock", "XDG_RUNTIME_DIR": "/r"}, euid=1000) == "/x/s.sock"
    assert default_socket_path({"SIDEGATE_SOCKET": "/x/s.sock"}, euid=0) == "/x/s.sock"


def test_root_default() -> None:
    assert default_socket_path({"XDG_RUNTIME_DIR": "/run/user/0"}, euid=0) == "/run/sidegate/sidegate.sock"


def test_user_default() -> None:
    assert default_socket_path({"XDG_RUNTIME_DIR": "/run/user/1000"}, euid=1000) == "/run/user/1000/sidegate/sidegate.sock"
    # Like the daemon: a non-root user without XDG_RUNTIME_DIR has no default socket.
    assert default_socket_path({}, euid=1234) is None
    assert default_socket_path({"SIDEGATE_SOCKET": ""}, euid=1234) is None


def test_no_default_path_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sidegate._core

    monkeypatch.setattr(sidegate._core.os, "geteuid", lambda: 1234)
    monkeypatch.delenv("SIDEGATE_SOCKET", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    c = Client()
    assert c.socket_path is None
    with pytest.raises(SidegateConnectionError) as info:
        c.models()
    assert "SIDEGATE_SOCKET" in str(info.value)

    async def main() -> None:
        await AsyncClient().status()

    with pytest.raises(SidegateConnectionError):
        asyncio.run(main())


def test_client_uses_argument_then_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SIDEGATE_SOCKET", "/env/sock")
    assert Client().socket_path == "/env/sock"
    assert AsyncClient().socket_path == "/env/sock"
    assert Client(tmp_path / "a.sock").socket_path == str(tmp_path / "a.sock")
    assert Client(socket_path="/arg/sock").socket_path == "/arg/sock"


def test_not_running_names_the_path(sock_dir: Path) -> None:
    path = str(sock_dir / "nobody.sock")
    c = Client(path, connect_retry=0.2)
    with pytest.raises(DaemonNotRunning) as info:
        c.chat(model="fast", messages=[{"role": "user", "content": "hi"}])
    msg = str(info.value)
    assert path in msg and "sidegate serve" in msg
    assert info.value.socket_path == path
    assert isinstance(info.value, ConnectionError)


def test_refused_names_the_path(sock_dir: Path) -> None:
    """A stale socket file (daemon crashed) refuses connections: same error."""
    import socket

    path = str(sock_dir / "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # the file stays, nothing listens
    with pytest.raises(DaemonNotRunning) as info:
        Client(path, connect_retry=0.1).models()
    assert path in str(info.value) and "sidegate serve" in str(info.value)


def test_not_running_async(sock_dir: Path) -> None:
    path = str(sock_dir / "nobody.sock")

    async def main() -> None:
        async with AsyncClient(path, connect_retry=0.1) as a:
            await a.status()

    with pytest.raises(DaemonNotRunning) as info:
        asyncio.run(main())
    assert path in str(info.value) and "sidegate serve" in str(info.value)


def test_not_running_respects_timeout(sock_dir: Path) -> None:
    """The connect retries stop at the call's deadline even if connect_retry is longer."""
    c = Client(str(sock_dir / "nobody.sock"), connect_retry=3600)
    with pytest.raises(DaemonNotRunning):
        c.status(timeout=0.2)
